/* spoof_test.c — issue 9: spoofing and floods at discovery. A responder of this test
 * (a child process with raw UDP sockets) claims a real device's uuid (a conflict the
 * operator resolves), floods a discovery with 5 000 fake devices (limits, the real
 * devices still found and onboarded), or answers a unicast GET with 64 KiB (reply too
 * large). */
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
#include "cmn_svr.h"
#include "obt_checks.h"
#include "obt_json.h"

#define S_FAKES      5000  /* fake devices of the flood */
#define S_FAKE_PORTS 5     /* source ports they answer from */
#define S_BIG        65000 /* bytes of the too-large datagram */

typedef enum { MODE_IMPOSTOR, MODE_FLOOD, MODE_BIG } s_mode_t;

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;
static obt_proc_t s_child; /* the responder, pid 0 when gone */
static int s_stop = -1;    /* write end of its stop pipe */

static void
s_setup(void)
{
    s_dir = obt_tmpdir("spoof");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
}

static void
s_teardown(void)
{
    if (s_stop >= 0) {
        (void) close(s_stop);
        s_stop = -1;
    }
    obt_proc_kill9(&s_child);
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* A UDP socket on 127.0.0.1, port (0 = any); its port in *ret_port. */
static int
s_udp(uint16_t port, uint16_t *ret_port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    int big = 8 * 1024 * 1024;
    (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof a), 0, "bind: %s", strerror(errno));
    cr_assert_eq(getsockname(fd, (struct sockaddr *) &a, &len), 0);
    *ret_port = ntohs(a.sin_port);
    return fd;
}

static int
s_group_socket(void)
{
    int fd = obt_ocf_group_socket();
    cr_assert_geq(fd, 0, "port 5683 in 224.0.1.187 on lo: %s", strerror(errno));
    return fd;
}

/* A doxm of an unowned Just Works device with uuid. */
static uint8_t *
s_doxm(const char *uuid, size_t *ret_len)
{
    cmn_doxm_t d;
    memset(&d, 0, sizeof d);
    d.present = CMN_DOXM_HAS_OXMS | CMN_DOXM_HAS_OWNED | CMN_DOXM_HAS_DEVICEUUID;
    d.oxms[d.n_oxms++] = 0;
    if (cmn_uuid_from_str(uuid, &d.deviceuuid) != CMN_OK) {
        return NULL;
    }
    uint8_t *buf = NULL;
    return cmn_doxm_encode(&d, &buf, ret_len) == CMN_OK ? buf : NULL;
}

/* /oic/res with the doxm link of uuid and these eps. */
static uint8_t *
s_res(const char *uuid, const char *const *eps, size_t n_eps, size_t *ret_len)
{
    cmn_link_t link;
    memset(&link, 0, sizeof link);
    (void) snprintf(link.anchor, sizeof link.anchor, "ocf://%s", uuid);
    (void) snprintf(link.href, sizeof link.href, "/oic/sec/doxm");
    (void) snprintf(link.rt[link.n_rt++], sizeof link.rt[0], "oic.r.doxm");
    (void) snprintf(link.ifs[link.n_ifs++], sizeof link.ifs[0], "oic.if.baseline");
    link.bm = 1;
    for (size_t i = 0; i < n_eps; i++) {
        (void) snprintf(link.eps[link.n_eps++], sizeof link.eps[0], "%s", eps[i]);
    }
    cmn_res_t res = {.links = &link, .n_links = 1};
    uint8_t *buf = NULL;
    return cmn_res_encode(&res, &buf, ret_len) == CMN_OK ? buf : NULL;
}

/* Sends a 2.05 answering the request req (NON: a NON; CON: the piggybacked ACK). */
static void
s_answer(int fd,
         const uint8_t *req,
         const struct sockaddr_in *to,
         uint16_t mid,
         const uint8_t *payload,
         size_t len)
{
    static const uint8_t cf[2] = {0x27, 0x10}; /* 10000 */
    bool is_con = ((req[0] >> 4) & 3) == 0;
    cmn_coap_msg_t msg = {.type = is_con ? 2 : 1, .code = 0x45};
    msg.mid = is_con ? (uint16_t) ((req[2] << 8) | req[3]) : mid;
    msg.token_len = req[0] & 0x0f;
    memcpy(msg.token, req + 4, msg.token_len);
    msg.payload = payload;
    msg.payload_len = len;
    size_t cap = len + 64, out_len = 0;
    uint8_t *out = malloc(cap);
    if (out && cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_CONTENT_FORMAT, cf, sizeof cf) == CMN_OK &&
        cmn_coapmsg_encode(&msg, out, cap, &out_len) == CMN_OK) {
        (void) sendto(fd, out, out_len, 0, (const struct sockaddr *) to, sizeof *to);
    }
    free(out);
}

/* Fake uuid number i (distinct, never a devsim's: they are random). */
static void
s_fake_uuid(int i, char out[37])
{
    (void) snprintf(out, 37, "0badf00d-0000-4000-8000-%012d", i);
}

typedef struct {
    s_mode_t mode;
    int listen;             /* the group socket, or the unicast one (BIG) */
    int srcs[S_FAKE_PORTS]; /* sockets the answers leave from */
    char uuid[37];          /* IMPOSTOR: the uuid claimed; BIG: its own */
    char eps[2][80];        /* what its /oic/res lists */
    size_t n_eps;
} s_responder_t;

/* One request to the responder: answers as its mode says. */
static void
s_on_request(const s_responder_t *r, const uint8_t *buf, size_t n, const struct sockaddr_in *from)
{
    static uint16_t mid = 1;
    bool is_get = n >= 4 && (buf[0] >> 6) == 1 && buf[1] == 0x01 && (buf[0] & 0x0f) <= 8;
    bool is_doxm = is_get && obt_mem_contains(buf, n, "sec") && obt_mem_contains(buf, n, "doxm");
    bool is_res = is_get && !obt_mem_contains(buf, n, "sec") && obt_mem_contains(buf, n, "res");
    size_t len = 0;
    if (r->mode == MODE_FLOOD && is_doxm) {
        for (int i = 0; i < S_FAKES; i++) {
            char uuid[37];
            s_fake_uuid(i, uuid);
            uint8_t *p = s_doxm(uuid, &len);
            if (p) {
                s_answer(r->srcs[i % S_FAKE_PORTS], buf, from, mid++, p, len);
            }
            free(p);
        }
    } else if (r->mode == MODE_BIG && is_doxm && ((buf[0] >> 4) & 3) == 0) {
        uint8_t *p = calloc(1, S_BIG);
        if (p) {
            p[0] = 0xa0; /* an empty map, then padding: the size is the point */
            /* header 4 + token 8 + content-format 3 + payload marker 1 */
            s_answer(r->srcs[0], buf, from, mid++, p, S_BIG - 16);
        }
        free(p);
    } else if (r->mode != MODE_FLOOD && is_doxm) {
        uint8_t *p = s_doxm(r->uuid, &len);
        if (p) {
            s_answer(r->srcs[0], buf, from, mid++, p, len);
        }
        free(p);
    } else if (r->mode != MODE_FLOOD && is_res) {
        const char *eps[2] = {r->eps[0], r->eps[1]};
        uint8_t *p = s_res(r->uuid, eps, r->n_eps, &len);
        if (p) {
            s_answer(r->srcs[0], buf, from, mid++, p, len);
        }
        free(p);
    }
}

/* The responder's process: answers until its stop pipe closes (or 120 s pass). */
static void
s_responder_run(const s_responder_t *r, int stop)
{
    time_t end = time(NULL) + 120;
    while (time(NULL) < end) {
        struct pollfd pfd[2] = {{.fd = r->listen, .events = POLLIN},
                                {.fd = stop, .events = POLLIN}};
        if (poll(pfd, 2, 500) < 0 || pfd[1].revents != 0) {
            break;
        }
        if (!(pfd[0].revents & POLLIN)) {
            continue;
        }
        uint8_t buf[1500];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(r->listen, buf, sizeof buf, 0, (struct sockaddr *) &from, &fl);
        if (n > 0 && from.sin_family == AF_INET) {
            s_on_request(r, buf, (size_t) n, &from);
        }
    }
    _exit(0);
}

/* Starts the responder; its sockets are made here so that their ports are known. */
static void
s_responder_start(s_responder_t *r)
{
    int stop[2];
    cr_assert_eq(pipe(stop), 0);
    s_child.pid = fork();
    cr_assert_geq(s_child.pid, 0);
    if (s_child.pid == 0) {
        (void) close(stop[1]);
        s_responder_run(r, stop[0]);
    }
    (void) close(stop[0]);
    s_stop = stop[1];
}

/* Field key of the DEVICE line of device idx in devsim's log. */
static void
s_sim_field(int idx, const char *key, char *out, size_t cap)
{
    cr_assert_eq(obt_devsim_field(&s_sim, idx, key, out, cap), 0, "no %s in DEVICE idx=%d", key,
                 idx);
}

/* Every device devsim runs is onboarded as the issue requires. */
static void
s_check_sim_onboarded(size_t expected)
{
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    char *objs[16];
    size_t n = obt_devsim_dump(s_dir, objs, 16);
    cr_assert_eq(n, expected);
    for (size_t i = 0; i < n; i++) {
        char why[300];
        bool ok = obt_check_onboarded(objs[i], &ids, store, why, sizeof why);
        free(objs[i]);
        cr_assert(ok, "%s", why);
    }
}

Test(spoof,
     a_uuid_claimed_by_two_sources_is_a_conflict_until_the_operator_picks_one,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 180)
{
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 1, NULL), 0);
    char uuid[37], real_ep[80];
    s_sim_field(0, " uuid=", uuid, sizeof uuid);
    s_sim_field(0, " coap=", real_ep, sizeof real_ep);

    /* The impostor claims the real device's uuid and lists the real endpoint as its
     * own too: one side's listing is not enough to be one device. */
    s_responder_t r = {.mode = MODE_IMPOSTOR, .listen = s_group_socket()};
    uint16_t port = 0;
    r.srcs[0] = s_udp(0, &port);
    (void) snprintf(r.uuid, sizeof r.uuid, "%s", uuid);
    char fake_ep[64];
    (void) snprintf(fake_ep, sizeof fake_ep, "coap://127.0.0.1:%u", (unsigned) port);
    (void) snprintf(r.eps[0], sizeof r.eps[0], "%s", fake_ep);
    (void) snprintf(r.eps[1], sizeof r.eps[1], "%s", real_ep);
    r.n_eps = 2;
    s_responder_start(&r);
    (void) close(r.listen);
    (void) close(r.srcs[0]);

    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, discover, &out), 0, "%s", out);
    cr_assert(strstr(out, "found 1 unowned") != NULL, "%s", out);
    cr_assert(strstr(out, "1 uuid(s) claimed by several endpoints") != NULL, "%s", out);
    free(out);
    cr_assert_geq(obt_proc_log_count(&s_suite.gw, " GW-DISC-CONFLICT "), 1);
    cr_assert_geq(obt_proc_log_count(&s_suite.dots, " DOTS-DISC-CONFLICT "), 1);

    char *rec = obt_show(&s_suite, uuid);
    cr_assert_not_null(rec);
    cr_assert(strstr(rec, "\"state\":\"DISCOVERED\"") != NULL, "%s", rec);
    cr_assert(strstr(rec, "uuid claimed by 2 endpoints") != NULL, "%s", rec);
    cr_assert(strstr(rec, fake_ep) != NULL, "the record names both sources: %s", rec);
    free(rec);

    /* Not approvable, named or with --all; nothing onboards. */
    const char *approve[] = {"approve", uuid, NULL};
    cr_assert_neq(obt_ctl(&s_suite, approve, &out), 0, "%s", out);
    cr_assert(strstr(out, "uuid claimed by 2 endpoints") != NULL, "%s", out);
    free(out);
    static const char *const approve_all[] = {"approve", "--all", NULL};
    cr_assert_eq(obt_ctl(&s_suite, approve_all, &out), 0, "%s", out);
    cr_assert(strstr(out, "approved 0 device") != NULL, "%s", out);
    free(out);
    const char *wrong[] = {"approve", uuid, "--endpoint", "coap://127.0.0.1:1", NULL};
    cr_assert_neq(obt_ctl(&s_suite, wrong, &out), 0, "an endpoint of no claim: %s", out);
    free(out);

    /* The operator picks the real device: only its endpoints are kept. */
    const char *pick[] = {"approve", uuid, "--endpoint", real_ep, NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, pick, &out), 0, "%s", out);
    cr_assert(strstr(out, "approved 1 device") != NULL, "%s", out);
    free(out);
    rec = obt_show(&s_suite, uuid);
    cr_assert_not_null(rec);
    cr_assert(strstr(rec, fake_ep) == NULL, "the impostor's endpoint is gone: %s", rec);
    cr_assert(strstr(rec, real_ep) != NULL, "%s", rec);
    free(rec);

    const char *onboard[] = {"onboard", uuid, "--wait-s", "60", NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard, &out), 0, "%s", out);
    free(out);
    s_check_sim_onboarded(1);
}

Test(spoof,
     five_real_devices_among_5000_fakes_are_found_and_onboarded,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    enum { N_REAL = 5 };
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_REAL, NULL), 0);
    s_responder_t r = {.mode = MODE_FLOOD, .listen = s_group_socket()};
    for (int i = 0; i < S_FAKE_PORTS; i++) {
        uint16_t port = 0;
        r.srcs[i] = s_udp(0, &port);
    }
    s_responder_start(&r);
    (void) close(r.listen);
    for (int i = 0; i < S_FAKE_PORTS; i++) {
        (void) close(r.srcs[i]);
    }

    static const char *const discover[] = {"discover", "--window-ms", "1000", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, discover, &out), 0, "%s", out);
    /* 4 fakes per source port get in (--discover-max-per-source 4); the rest is
     * dropped and said so. */
    const char *line = strstr(out, " replies dropped: limit 4 devices per source address");
    cr_assert_not_null(line, "the drop must be reported: %s", out);
    const char *start = line;
    while (start > out && start[-1] != '\n') {
        start--;
    }
    long dropped = strtol(start, NULL, 10);
    cr_assert_eq(dropped, S_FAKES - 4 * S_FAKE_PORTS, "%s", out);
    char want[64];
    (void) snprintf(want, sizeof want, "found %d unowned", N_REAL + 4 * S_FAKE_PORTS);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    free(out);
    cr_assert_geq(obt_proc_log_count(&s_suite.gw, " GW-DISC-LIMIT "), 1);

    const char *approve[N_REAL + 2] = {"approve"};
    const char *onboard[N_REAL + 4] = {"onboard"};
    char uuids[N_REAL][40];
    for (int i = 0; i < N_REAL; i++) {
        s_sim_field(i, " uuid=", uuids[i], sizeof uuids[i]);
        approve[1 + i] = uuids[i];
        onboard[1 + i] = uuids[i];
    }
    onboard[1 + N_REAL] = "--wait-s";
    onboard[2 + N_REAL] = "90";
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, approve, &out), 0, "%s", out);
    free(out);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard, &out), 0, "%s", out);
    free(out);
    s_check_sim_onboarded(N_REAL);
    cr_assert(obt_proc_alive(&s_suite.gw), "the gateway died");
}

Test(spoof,
     a_64_kib_unicast_reply_fails_as_too_large,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    s_responder_t r = {.mode = MODE_BIG};
    uint16_t port = 0;
    r.listen = s_udp(0, &port);
    r.srcs[0] = r.listen;
    s_fake_uuid(7, r.uuid);
    (void) snprintf(r.eps[0], sizeof r.eps[0], "coap://127.0.0.1:%u", (unsigned) port);
    (void) snprintf(r.eps[1], sizeof r.eps[1], "coaps://127.0.0.1:%u", (unsigned) port);
    r.n_eps = 2;
    s_responder_start(&r);
    (void) close(r.listen);

    const char *discover[] = {"discover", "--window-ms", "300", "--endpoint", r.eps[0], NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl_or_dump(&s_suite, NULL, discover, &out), 0, "%s", out);
    cr_assert(strstr(out, "found 1 unowned") != NULL, "%s", out);
    free(out);
    const char *approve[] = {"approve", r.uuid, NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, NULL, approve, &out), 0, "%s", out);
    free(out);
    const char *onboard[] = {"onboard", r.uuid, "--wait-s", "30", NULL};
    cr_assert_neq(obt_ctl(&s_suite, onboard, &out), 0, "it cannot onboard: %s", out);
    free(out);
    char *rec = obt_show(&s_suite, r.uuid);
    cr_assert_not_null(rec);
    char want[64];
    (void) snprintf(want, sizeof want, "reply too large (%d bytes)", S_BIG);
    cr_assert(strstr(rec, "\"state\":\"FAILED\"") != NULL, "%s", rec);
    cr_assert(strstr(rec, want) != NULL, "%s", rec);
    cr_assert(strstr(rec, "timeout") == NULL, "%s", rec);
    free(rec);
    cr_assert_geq(obt_proc_log_count(&s_suite.gw, " GW-COAP-TOO-LARGE "), 1);
}
