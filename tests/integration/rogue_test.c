/* rogue_test.c — a rogue responder on the OCF multicast group answers every doxm
 * discovery with {"owned": half-float 1.0} (issue 9: that payload aborted the gateway
 * in libcbor). The gateway stays up, counts the reply as ignored, and the real
 * devices are found. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmn_coapmsg.h"
#include "obt_checks.h"

#define S_DEVICES 3

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;
static obt_proc_t s_rogue; /* the rogue responder (a child of this test), pid 0 when gone */

static void
s_setup(void)
{
    s_dir = obt_tmpdir("rogue");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, S_DEVICES, NULL), 0);
}

static void
s_teardown(void)
{
    obt_proc_kill9(&s_rogue);
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* True for a GET /oic/sec/doxm (the /oic/res?rt=oic.r.doxm request has no "sec"). */
static bool
s_is_doxm_get(const uint8_t *buf, size_t n)
{
    return n >= 4 && (buf[0] >> 6) == 1 && buf[1] == 0x01 && obt_mem_contains(buf, n, "sec") &&
           obt_mem_contains(buf, n, "doxm");
}

/* The rogue: answers each multicast GET /oic/sec/doxm with a 2.05 whose payload is
 * {"owned": half-float 1.0}, until stop becomes readable or closed (or 60 s pass);
 * exits with the number of replies sent. */
static void
s_rogue_run(int fd, int stop)
{
    static const uint8_t payload[] = {0xa1, 0x65, 0x6f, 0x77, 0x6e, 0x65, 0x64, 0xf9, 0x3c, 0x00};
    static const uint8_t cf[2] = {0x27, 0x10}; /* 10000 */
    int sent = 0;
    time_t end = time(NULL) + 60;
    while (time(NULL) < end) {
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = stop, .events = POLLIN}};
        if (poll(pfd, 2, 500) < 0 || pfd[1].revents != 0) {
            break;
        }
        if (!(pfd[0].revents & POLLIN)) {
            continue;
        }
        uint8_t buf[1500];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &fl);
        if (n < 0 || !s_is_doxm_get(buf, (size_t) n)) {
            continue;
        }
        cmn_coap_msg_t msg = {.type = 1, .code = 0x45, .mid = (uint16_t) (sent + 1)};
        msg.token_len = buf[0] & 0x0f;
        if (msg.token_len > 8 || (size_t) n < 4 + msg.token_len) {
            continue;
        }
        memcpy(msg.token, buf + 4, msg.token_len);
        msg.payload = payload;
        msg.payload_len = sizeof payload;
        uint8_t out[256];
        size_t len = 0;
        if (cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_CONTENT_FORMAT, cf, sizeof cf) == CMN_OK &&
            cmn_coapmsg_encode(&msg, out, sizeof out, &len) == CMN_OK &&
            sendto(fd, out, len, 0, (struct sockaddr *) &from, fl) == (ssize_t) len) {
            sent++;
        }
    }
    _exit(sent > 255 ? 255 : sent);
}

/* The value of "ignored=" on the last GW-DISC-DONE line of the gateway's log, or -1. */
static long
s_last_ignored(void)
{
    FILE *fp = fopen(s_suite.gw.log, "r");
    cr_assert_not_null(fp);
    char line[2048];
    long ignored = -1;
    while (fgets(line, sizeof line, fp)) {
        const char *p = strstr(line, " GW-DISC-DONE ");
        const char *q = p ? strstr(p, "ignored=") : NULL;
        if (q) {
            ignored = strtol(q + 8, NULL, 10);
        }
    }
    (void) fclose(fp);
    return ignored;
}

Test(rogue,
     half_float_doxm_replies_are_ignored_and_the_gateway_stays_up,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    int fd = obt_ocf_group_socket();
    cr_assert_geq(fd, 0, "port 5683 in 224.0.1.187 on lo: %s", strerror(errno));
    int stop[2];
    cr_assert_eq(pipe(stop), 0);
    s_rogue.pid = fork();
    cr_assert_geq(s_rogue.pid, 0);
    if (s_rogue.pid == 0) {
        (void) close(stop[1]);
        s_rogue_run(fd, stop[0]);
    }
    (void) close(stop[0]);
    (void) close(fd);

    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    char *out = NULL;
    int rc = obt_ctl_or_dump(&s_suite, &s_sim, discover, &out);
    cr_assert_eq(rc, 0, "discover failed (%d): %s", rc, out ? out : "");
    char want[64];
    (void) snprintf(want, sizeof want, "found %d unowned", S_DEVICES);
    cr_assert(strstr(out, want) != NULL, "the real devices must be found: %s", out);
    free(out);

    (void) close(stop[1]); /* the rogue stops and tells how many replies it sent */
    int status = 0;
    cr_assert_eq(waitpid(s_rogue.pid, &status, 0), s_rogue.pid);
    s_rogue.pid = 0;
    cr_assert(WIFEXITED(status));
    int sent = WEXITSTATUS(status);
    cr_assert_geq(sent, 1, "the rogue never saw the multicast doxm request");

    cr_assert(obt_proc_alive(&s_suite.gw), "the gateway died");
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, health, NULL), 0, "a daemon died");
    long ignored = s_last_ignored();
    cr_assert_geq(ignored, sent, "the gateway must count the %d rogue replies as ignored (%ld)",
                  sent, ignored);
    cr_assert(obt_proc_alive(&s_sim), "devsim died");
}
