/* gw_ff00_test.c — Just Works over 0xFF00 through gw_coap: the gateway's relay
 * (common/cmn_ff00_relay) and libcoap against a device made of a UDP socket and the server side of
 * the engine (common/cmn_ff00) in this process. Real sockets, real handshake; the
 * "device" answers every CoAP request with 2.05 "ok". */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_ff00.h"
#include "cmn_psk.h"
#include "cmn_time.h"
#include "gw_coap.h"
#include "gw_test_result.h"

#define CALLER   "11111111-2222-4333-8444-555555555555"
#define JW_LABEL "oic.sec.doxm.jw"

static const uint8_t s_owner[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t s_device[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

typedef enum { DEV_FF00, DEV_ALERT, DEV_SILENT } s_mode_t;

typedef struct {
    int fd;
    uint16_t port;
    s_mode_t mode;
    cmn_ff00_t *engine;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    int requests;
} s_dev_t;

static s_dev_t s_dev;

static void
s_setup_mode(s_mode_t mode)
{
    memset(&s_dev, 0, sizeof s_dev);
    s_dev.mode = mode;
    s_dev.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(s_dev.fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert_eq(bind(s_dev.fd, (struct sockaddr *) &a, al), 0);
    cr_assert_eq(getsockname(s_dev.fd, (struct sockaddr *) &a, &al), 0);
    s_dev.port = ntohs(a.sin_port);
    cmn_ff00_cfg_t cfg = {.is_server = true, .peer = (const uint8_t *) "gw", .peer_len = 2};
    s_dev.engine = cmn_ff00_new(&cfg);
    cr_assert_not_null(s_dev.engine);
}

static void
s_teardown(void)
{
    cmn_ff00_destroy(&s_dev.engine);
    if (s_dev.fd >= 0) {
        (void) close(s_dev.fd);
    }
}

/* A 2.05 ACK with the request's MID and token, payload "ok". */
static size_t
s_reply(const uint8_t *req, size_t n, uint8_t *out)
{
    size_t tkl = req[0] & 0x0f;
    if (n < 4 + tkl) {
        return 0;
    }
    out[0] = (uint8_t) (0x60 | tkl); /* version 1, ACK */
    out[1] = 0x45;                   /* 2.05 */
    out[2] = req[2];
    out[3] = req[3];
    memcpy(out + 4, req + 4, tkl);
    out[4 + tkl] = 0xff;
    memcpy(out + 5 + tkl, "ok", 2);
    return 7 + tkl;
}

static void
s_dev_process(void)
{
    uint8_t d[CMN_FF00_MAX_PLAIN + 200];
    ssize_t n;
    uint64_t now = cmn_time_mono_ms();
    s_dev.peer_len = sizeof s_dev.peer;
    while ((n = recvfrom(s_dev.fd, d, sizeof d, 0, (struct sockaddr *) &s_dev.peer,
                         &s_dev.peer_len)) > 0) {
        if (s_dev.mode == DEV_SILENT) {
            continue;
        }
        if (s_dev.mode == DEV_ALERT) { /* a device that knows no 0xFF00: handshake_failure */
            static const uint8_t alert[] = {21, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40};
            (void) sendto(s_dev.fd, alert, sizeof alert, 0, (struct sockaddr *) &s_dev.peer,
                          s_dev.peer_len);
            continue;
        }
        (void) cmn_ff00_input(s_dev.engine, d, (size_t) n, now);
        size_t len = 0;
        uint8_t reply[64];
        while (cmn_ff00_read(s_dev.engine, d, sizeof d, &len) == CMN_OK) {
            s_dev.requests++;
            size_t rn = s_reply(d, len, reply);
            if (rn) {
                cr_assert_eq(cmn_ff00_write(s_dev.engine, reply, rn), CMN_OK);
            }
        }
    }
    (void) cmn_ff00_tick(s_dev.engine, now);
    size_t k;
    while ((k = cmn_ff00_output(s_dev.engine, d, sizeof d)) > 0) {
        (void) sendto(s_dev.fd, d, k, 0, (struct sockaddr *) &s_dev.peer, s_dev.peer_len);
    }
}

/* Both sides in one thread, like the daemons: the gateway wakes on its two fds. */
static void
s_run(gw_coap_t *gw, const gw_test_result_t *res)
{
    for (int i = 0; i < 1000 && res->done == 0; i++) {
        struct pollfd pfd[3] = {{.fd = gw_coap_fd(gw), .events = POLLIN},
                                {.fd = gw_coap_relay_fd(gw), .events = POLLIN},
                                {.fd = s_dev.fd, .events = POLLIN}};
        (void) poll(pfd, 3, 10);
        s_dev_process();
        (void) gw_coap_process(gw);
    }
    cr_assert_eq(res->done, 1, "the exchange did not complete exactly once");
}

static void
s_request(gw_coap_t *gw, uint32_t timeout_ms, gw_test_result_t *res)
{
    char ep[64];
    (void) snprintf(ep, sizeof ep, "coaps://127.0.0.1:%u", s_dev.port);
    gw_dtls_policy_t policy = {.kind = GW_DTLS_JW_ANON};
    cr_assert_eq(gw_coap_request(gw, CALLER, ep, &policy, 1, "/oic/sec/doxm", NULL, NULL, 0,
                                 timeout_ms, gw_test_done, res),
                 CMN_OK);
    s_run(gw, res);
}

static void
s_setup(void)
{
    s_setup_mode(DEV_FF00);
}

Test(gw_ff00, jw_exchange_and_owner_psk, .init = s_setup, .fini = s_teardown, .timeout = 30)
{
    gw_coap_t *gw = gw_coap_new(60000);
    cr_assert_not_null(gw);
    gw_test_result_t res = {0};
    s_request(gw, 5000, &res);
    cr_assert_eq(res.err, CMN_OK, "%s", res.error);
    cr_expect_eq(res.code, 205, "code %d", res.code);
    cr_expect_str_eq(res.payload, "ok");
    cr_expect_str_eq(res.cipher, GW_DTLS_FF00_NAME);
    cr_expect_eq(cmn_ff00_state(s_dev.engine), CMN_FF00_ESTABLISHED);
    /* a second exchange on the same session: no second handshake */
    gw_test_result_t again = {0};
    s_request(gw, 5000, &again);
    cr_assert_eq(again.err, CMN_OK, "%s", again.error);
    cr_expect_eq(s_dev.requests, 2);

    char ep[64], cipher[64] = "";
    (void) snprintf(ep, sizeof ep, "coaps://127.0.0.1:%u", s_dev.port);
    uint8_t psk[16], want[16], master[48], cr[32], sr[32];
    size_t kbl = 0;
    cr_assert_eq(gw_coap_derive_owner_psk(gw, CALLER, ep, JW_LABEL, s_owner, s_device, psk, &kbl,
                                          cipher, sizeof cipher),
                 CMN_OK);
    cr_expect_eq(kbl, 96, "KBL of the 0xFF00 suite is 2*(32+16+0)");
    cr_expect_str_eq(cipher, GW_DTLS_FF00_NAME);
    cr_assert_eq(cmn_ff00_export(s_dev.engine, master, cr, sr), CMN_OK);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 96, JW_LABEL, s_owner, s_device, want),
                 CMN_OK);
    cr_expect_arr_eq(psk, want, 16, "owner PSK differs between the two ends");
    /* closing sends close_notify */
    cr_expect_eq(gw_coap_close(gw, CALLER, ep), CMN_OK);
    for (int i = 0; i < 20 && cmn_ff00_state(s_dev.engine) != CMN_FF00_CLOSED; i++) {
        (void) poll(NULL, 0, 5);
        s_dev_process();
    }
    cr_expect_eq(cmn_ff00_state(s_dev.engine), CMN_FF00_CLOSED);
    gw_coap_destroy(&gw);
}

Test(gw_ff00, device_refusing_the_suite_fails_with_its_alert, .fini = s_teardown, .timeout = 30)
{
    s_setup_mode(DEV_ALERT);
    gw_coap_t *gw = gw_coap_new(60000);
    gw_test_result_t res = {0};
    s_request(gw, 5000, &res);
    cr_expect_eq(res.err, CMN_ECRYPTO, "%s", cmn_strerror(res.err));
    cr_expect(strstr(res.error, "peer sent fatal alert 40") != NULL, "error: %s", res.error);
    gw_coap_destroy(&gw);
}

Test(gw_ff00, silent_device_times_out, .fini = s_teardown, .timeout = 30)
{
    s_setup_mode(DEV_SILENT);
    gw_coap_t *gw = gw_coap_new(60000);
    gw_test_result_t res = {0};
    uint64_t t0 = cmn_time_mono_ms();
    s_request(gw, 1500, &res);
    cr_expect_eq(res.err, CMN_ETIMEDOUT, "%s: %s", cmn_strerror(res.err), res.error);
    cr_expect_geq(cmn_time_mono_ms() - t0, 1400);
    gw_coap_destroy(&gw);
}
