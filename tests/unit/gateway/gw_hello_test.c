/* gw_hello_test.c — the first ClientHello of every gateway DTLS session offers
 * exactly its policy's suites, whatever sessions the context opened before (issue 11
 * item 1: an mbedTLS device chooses from that first, cookie-less ClientHello). Each
 * session is opened towards a plain UDP socket of the test, which captures the first
 * datagram and reads the cipher_suites of the ClientHello in it. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gw_dtls.h"

#define MAX_SUITES 64
#define SCSV_RENEG 0x00FF /* TLS_EMPTY_RENEGOTIATION_INFO_SCSV: a signal, not a suite */

typedef struct {
    const char *name;
    gw_dtls_kind_t kind;
    const uint16_t *suites; /* what the first ClientHello must offer, in order */
    size_t n_suites;
} s_policy_t;

static const uint16_t s_psk_suites[] = {0xC037};
static const uint16_t s_mfg_suites[] = {0xC0AE, 0xC0AC, 0xC0AF, 0xC0AD};
static const s_policy_t s_policies[] = {
        {"PSK", GW_DTLS_PSK, s_psk_suites, 1},
        {"RDP", GW_DTLS_RDP, s_psk_suites, 1},
        {"MFG", GW_DTLS_MFG, s_mfg_suites, 4},
};
#define N_POLICIES (sizeof s_policies / sizeof s_policies[0])

static uint32_t
s_be(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* The cipher suites of the ClientHello in a DTLS 1.2 datagram (RFC 6347 4.1 record,
 * 4.2.2 handshake header, RFC 5246 7.4.1.2 body; the first fragment must carry the
 * list). Returns how many, or -1 if the datagram is no such ClientHello. */
static int
s_offered(const uint8_t *d, size_t len, uint16_t *suites)
{
    if (len < 13 + 12 || d[0] != 22 || d[13] != 1) { /* handshake record, ClientHello */
        return -1;
    }
    size_t rec_len = s_be(d + 11, 2);
    if (13 + rec_len > len || s_be(d + 19, 3) != 0) { /* first fragment */
        return -1;
    }
    const uint8_t *p = d + 25, *end = d + 25 + s_be(d + 22, 3);
    if (end > d + 13 + rec_len) {
        return -1;
    }
    p += 2 + 32;                  /* client_version, random */
    for (int i = 0; i < 2; i++) { /* session_id, cookie */
        if (p >= end || p + 1 + *p > end) {
            return -1;
        }
        p += 1 + *p;
    }
    if (p + 2 > end) {
        return -1;
    }
    size_t n = s_be(p, 2);
    p += 2;
    if (n % 2 || p + n > end) {
        return -1;
    }
    int count = 0;
    for (size_t i = 0; i < n && count < MAX_SUITES; i += 2) {
        uint16_t s = (uint16_t) s_be(p + i, 2);
        if (s != SCSV_RENEG) {
            suites[count++] = s;
        }
    }
    return count;
}

static int s_fd = -1;
static coap_address_t s_addr;

static void
s_setup(void)
{
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    s_fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(s_fd, 0);
    coap_address_init(&s_addr);
    s_addr.addr.sin.sin_family = AF_INET;
    s_addr.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s_addr.size = sizeof s_addr.addr.sin;
    cr_assert_eq(bind(s_fd, &s_addr.addr.sa, s_addr.size), 0);
    cr_assert_eq(getsockname(s_fd, &s_addr.addr.sa, &s_addr.size), 0);
}

static void
s_teardown(void)
{
    if (s_fd >= 0) {
        close(s_fd);
    }
    coap_cleanup();
}

static void
s_make_policy(const s_policy_t *row, gw_dtls_policy_t *ret)
{
    static const uint8_t anchors[] = "-----BEGIN CERTIFICATE-----\n"; /* copied, not read */
    uint8_t uuid[16];
    memset(uuid, 0x5a, sizeof uuid);
    memset(ret, 0, sizeof *ret);
    switch (row->kind) {
    case GW_DTLS_RDP:
        cr_assert_eq(gw_dtls_policy_rdp("12345678", uuid, ret), CMN_OK);
        break;
    case GW_DTLS_MFG:
        gw_dtls_policy_mfg(anchors, sizeof anchors, uuid, ret);
        break;
    default:
        ret->kind = row->kind;
        memset(ret->identity, 0x41, 16);
        ret->identity_len = 16;
        memset(ret->key, 0x42, 16);
        ret->key_len = 16;
        break;
    }
}

/* Opens a session with the row's policy on ctx and checks the first datagram that
 * reaches the socket. `order` names the sessions before it, for the messages. */
static void
s_check_first_hello(coap_context_t *ctx, const s_policy_t *row, const char *order)
{
    gw_dtls_policy_t policy;
    s_make_policy(row, &policy);
    cmn_err_t err = CMN_OK;
    coap_session_t *session = gw_dtls_open(ctx, &s_addr, &policy, &err);
    cr_assert_not_null(session, "%s after [%s]: not opened (%s)", row->name, order,
                       cmn_strerror(err));
    struct pollfd pfd = {.fd = s_fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 2000), 1, "%s after [%s]: no ClientHello", row->name, order);
    uint8_t d[2048];
    ssize_t n = recv(s_fd, d, sizeof d, 0);
    cr_assert_gt(n, 0);
    uint16_t got[MAX_SUITES];
    int count = s_offered(d, (size_t) n, got);
    cr_assert_geq(count, 0, "%s after [%s]: the first datagram is no ClientHello", row->name,
                  order);
    char list[MAX_SUITES * 8] = "";
    for (int i = 0; i < count; i++) {
        (void) snprintf(list + strlen(list), sizeof list - strlen(list), " %04X", got[i]);
    }
    cr_expect_eq((size_t) count, row->n_suites, "%s after [%s]: offers%s", row->name, order, list);
    cr_expect(count == (int) row->n_suites && memcmp(got, row->suites, 2 * row->n_suites) == 0,
              "%s after [%s]: offers%s", row->name, order, list);
    gw_dtls_close(&session);
    /* Nothing else may follow before the next session (no second hello queued). */
    while (poll(&pfd, 1, 0) == 1 && recv(s_fd, d, sizeof d, 0) > 0) {
    }
}

/* Every sequence of three sessions over the policies (27, each on a fresh context,
 * so every policy is also checked as the context's first session). */
Test(gw_hello,
     first_client_hello_offers_the_policy_in_any_order,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    for (size_t a = 0; a < N_POLICIES; a++) {
        for (size_t b = 0; b < N_POLICIES; b++) {
            for (size_t c = 0; c < N_POLICIES; c++) {
                coap_context_t *ctx = coap_new_context(NULL);
                cr_assert_not_null(ctx);
                cr_assert_eq(gw_dtls_attach(ctx), CMN_OK);
                const size_t seq[3] = {a, b, c};
                char order[64] = "";
                for (size_t i = 0; i < 3; i++) {
                    s_check_first_hello(ctx, &s_policies[seq[i]], order);
                    (void) snprintf(order + strlen(order), sizeof order - strlen(order), "%s%s",
                                    i ? " " : "", s_policies[seq[i]].name);
                }
                coap_free_context(ctx);
            }
        }
    }
}

/* The check above can fail: libcoap's own first ClientHello (no hook) offers other
 * suites, "PSK:!NULL" for a PSK session after another PSK session. */
Test(gw_hello, without_attach_no_session_is_opened, .init = s_setup, .fini = s_teardown)
{
    coap_context_t *ctx = coap_new_context(NULL);
    cr_assert_not_null(ctx);
    gw_dtls_policy_t policy;
    s_make_policy(&s_policies[0], &policy);
    cmn_err_t err = CMN_OK;
    coap_session_t *session = gw_dtls_open(ctx, &s_addr, &policy, &err);
    cr_expect_null(session, "a session whose first ClientHello was not restricted");
    cr_expect_eq(err, CMN_ECRYPTO);
    uint8_t d[2048];
    struct pollfd pfd = {.fd = s_fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 2000), 1);
    ssize_t n = recv(s_fd, d, sizeof d, 0);
    uint16_t got[MAX_SUITES];
    int count = s_offered(d, (size_t) n, got);
    cr_expect_gt(count, 1, "libcoap's unrestricted hello offers more than 0xC037");
    gw_dtls_close(&session);
    coap_free_context(ctx);
}
