/* mbedtls_test.c — the gateway's DTLS sessions against an independent stack that
 * chooses its suite from the FIRST ClientHello, as the mbedTLS of deployed OCF
 * devices does (issue 11 item 1): tests/peers/obt_mbedtls_peer, real processes on
 * Debian's mbedTLS 2.28: an owned device (PSK only) and a device in RFOTM waiting for a
 * certificate DOC (its manufacturer chain, made here, only). A certificate DOC after
 * PSK sessions of the same gateway context must succeed; before the fix its first
 * ClientHello carried libcoap's "PSK:!NULL", no suite of the RFOTM device, and mbedTLS
 * answered handshake_failure before any HelloVerifyRequest. */
#include <coap3/coap.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_coap.h"
#include "obt_certs.h"
#include "obt_support.h"

#define DEVICE   "6a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3"
#define PSK_HEX  "00112233445566778899aabbccddeeff"
#define PSK_NAME "TLS-ECDHE-PSK-WITH-AES-128-CBC-SHA256"
#define MFG_NAME "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8"

typedef struct {
    int done;
    cmn_err_t err;
    int code;
    char error[256];
    char cipher[64];
    char payload[128]; /* the peer answers with the suite it chose */
} s_result_t;

typedef struct {
    obt_proc_t proc;
    unsigned port;
} s_peer_t;

static char *s_dir;
static s_peer_t s_owned; /* PSK only */
static s_peer_t s_rfotm; /* manufacturer chain only */
static char *s_anchors;  /* the manufacturer root, PEM */

static void
s_done(void *arg,
       cmn_err_t err,
       const char *error,
       int code,
       const uint8_t *payload,
       size_t len,
       const gw_coap_peer_t *peer)
{
    s_result_t *res = arg;
    res->done++;
    res->err = err;
    res->code = code;
    (void) snprintf(res->error, sizeof res->error, "%s", error ? error : "");
    (void) snprintf(res->cipher, sizeof res->cipher, "%s", peer ? peer->cipher : "");
    (void) snprintf(res->payload, sizeof res->payload, "%.*s", (int) len,
                    payload ? (const char *) payload : "");
}

static int
s_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return -1;
    }
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t) n ? 0 : -1;
    close(fd);
    return rc;
}

/* Starts a peer and reads the port of its READY line. */
static void
s_peer_start(s_peer_t *peer, const char *name, const char *const *argv)
{
    cr_assert_eq(obt_proc_start(&peer->proc, s_dir, name, "obt_mbedtls_peer", argv), 0);
    if (obt_proc_wait_log(&peer->proc, "READY port=", 10000) != 0) {
        obt_proc_dump(&peer->proc);
        cr_assert_fail("obt_mbedtls_peer did not start");
    }
    FILE *f = fopen(peer->proc.log, "r");
    cr_assert_not_null(f);
    char line[256];
    unsigned port = 0;
    while (port == 0 && fgets(line, sizeof line, f)) {
        (void) sscanf(line, "READY port=%u", &port);
    }
    fclose(f);
    cr_assert_gt(port, 0);
    peer->port = port;
}

static void
s_setup(void)
{
    s_dir = obt_tmpdir("mbedtls");
    cr_assert_not_null(s_dir);
    obt_cert_t root, ca, leaf;
    obt_cert_opts_t o = obt_cert_root_opts("Peer Test Manufacturer Root");
    cr_assert_eq(obt_cert_make(&root, &o, NULL), 0);
    o = obt_cert_ca_opts("Peer Test Manufacturer CA");
    cr_assert_eq(obt_cert_make(&ca, &o, &root), 0);
    o = obt_cert_leaf_opts(DEVICE);
    cr_assert_eq(obt_cert_make(&leaf, &o, &ca), 0);
    char chain[512], key[512];
    (void) snprintf(chain, sizeof chain, "%s/chain.pem", s_dir);
    (void) snprintf(key, sizeof key, "%s/key.pem", s_dir);
    const obt_cert_t *const certs[] = {&leaf, &ca};
    cr_assert_eq(obt_cert_write_pem(chain, certs, 2), 0);
    char *key_pem = obt_cert_key_pem(&leaf);
    cr_assert_eq(s_write_file(key, key_pem), 0);
    free(key_pem);
    s_anchors = obt_cert_pem(&root);
    obt_cert_free(&leaf);
    obt_cert_free(&ca);
    obt_cert_free(&root);
    const char *owned[] = {"--psk", PSK_HEX, NULL};
    s_peer_start(&s_owned, "owned", owned);
    const char *rfotm[] = {"--chain", chain, "--key", key, NULL};
    s_peer_start(&s_rfotm, "rfotm", rfotm);
    coap_startup();
    coap_set_log_level(LOG_EMERG);
}

static void
s_teardown(void)
{
    obt_proc_stop(&s_owned.proc);
    obt_proc_stop(&s_rfotm.proc);
    coap_cleanup();
    free(s_anchors);
    s_anchors = NULL;
    if (s_dir) {
        obt_rmrf(s_dir);
        free(s_dir);
        s_dir = NULL;
    }
}

/* One GET /oic/d to peer with policy as caller; runs the gateway's loop until it is
 * done. */
static void
s_get(gw_coap_t *gw,
      const s_peer_t *peer,
      const char *caller,
      const gw_dtls_policy_t *policy,
      s_result_t *res)
{
    char ep[64];
    (void) snprintf(ep, sizeof ep, "coaps://127.0.0.1:%u", peer->port);
    memset(res, 0, sizeof *res);
    cr_assert_eq(
            gw_coap_request(gw, caller, ep, policy, 1, "/oic/d", NULL, NULL, 0, 10000, s_done, res),
            CMN_OK);
    for (int i = 0; i < 2000 && res->done == 0; i++) {
        struct pollfd pfd = {.fd = gw_coap_fd(gw), .events = POLLIN};
        (void) poll(&pfd, 1, 10);
        (void) gw_coap_process(gw);
    }
    cr_assert_eq(res->done, 1, "the exchange did not complete exactly once");
}

static void
s_psk_policy(uint8_t who, gw_dtls_policy_t *ret)
{
    memset(ret, 0, sizeof *ret);
    ret->kind = GW_DTLS_PSK;
    memset(ret->identity, who, 16); /* a service UUID, 16 raw bytes */
    ret->identity_len = 16;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        (void) sscanf(PSK_HEX + 2 * i, "%2x", &v);
        ret->key[i] = (uint8_t) v;
    }
    ret->key_len = 16;
}

/* A certificate DOC (GET /oic/d) to the RFOTM device, its chain checked against
 * anchors (PEM). */
static void
s_doc(gw_coap_t *gw, const char *anchors, s_result_t *res)
{
    cmn_uuid_t dev;
    cr_assert_eq(cmn_uuid_from_str(DEVICE, &dev), CMN_OK);
    gw_dtls_policy_t mfg;
    gw_dtls_policy_mfg((const uint8_t *) anchors, strlen(anchors), dev.b, &mfg);
    s_get(gw, &s_rfotm, "dots", &mfg, res);
}

static void
s_expect_ok(const s_result_t *res, const char *what, const char *cipher, const char *suite)
{
    if (res->err != CMN_OK) {
        obt_proc_dump(&s_owned.proc);
        obt_proc_dump(&s_rfotm.proc);
    }
    cr_assert_eq(res->err, CMN_OK, "%s: %s", what, res->error);
    cr_expect_eq(res->code, 205, "%s: code %d", what, res->code);
    cr_expect_str_eq(res->cipher, cipher, "%s: gateway negotiated %s", what, res->cipher);
    cr_expect_str_eq(res->payload, suite, "%s: the peer chose %s", what, res->payload);
}

Test(mbedtls,
     mfg_after_psk_sessions_against_an_mbedtls_device,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    gw_coap_t *gw = gw_coap_new(60000);
    cr_assert_not_null(gw);
    s_result_t res;
    gw_dtls_policy_t psk;
    s_psk_policy(0x41, &psk);
    s_get(gw, &s_owned, "cms", &psk, &res);
    s_expect_ok(&res, "PSK session 1", "ECDHE-PSK-AES128-CBC-SHA256", PSK_NAME);
    s_psk_policy(0x42, &psk);
    s_get(gw, &s_owned, "ams", &psk, &res);
    s_expect_ok(&res, "PSK session 2", "ECDHE-PSK-AES128-CBC-SHA256", PSK_NAME);

    s_doc(gw, s_anchors, &res);
    s_expect_ok(&res, "MFG after two PSK sessions", "ECDHE-ECDSA-AES128-CCM8", MFG_NAME);

    /* And PSK again after the certificate session. */
    s_psk_policy(0x43, &psk);
    s_get(gw, &s_owned, "cms2", &psk, &res);
    s_expect_ok(&res, "PSK after MFG", "ECDHE-PSK-AES128-CBC-SHA256", PSK_NAME);
    gw_coap_destroy(&gw);

    /* Each first ClientHello was answered with a HelloVerifyRequest, never an alert. */
    cr_expect_eq(obt_proc_log_count(&s_owned.proc, "HANDSHAKE-FAILED"), 0, "a hello refused");
    cr_expect_eq(obt_proc_log_count(&s_rfotm.proc, "HANDSHAKE-FAILED"), 0, "a hello refused");
    cr_expect_eq(obt_proc_log_count(&s_owned.proc, "HELLO-VERIFY"), 3);
    cr_expect_eq(obt_proc_log_count(&s_owned.proc, "HANDSHAKE-OK"), 3);
    cr_expect_eq(obt_proc_log_count(&s_rfotm.proc, "HELLO-VERIFY"), 1);
    cr_expect_eq(obt_proc_log_count(&s_rfotm.proc, "HANDSHAKE-OK"), 1);
}

/* A certificate DOC to a device whose chain the anchors do not cover is refused by the
 * gateway (its own check, its alert ends the peer's handshake), after the device
 * accepted the first ClientHello's suites (HelloVerifyRequest). */
Test(mbedtls,
     mfg_with_foreign_anchors_is_refused_by_the_gateway,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    obt_cert_t other;
    obt_cert_opts_t o = obt_cert_root_opts("Some Other Root");
    cr_assert_eq(obt_cert_make(&other, &o, NULL), 0);
    char *pem = obt_cert_pem(&other);
    obt_cert_free(&other);
    gw_coap_t *gw = gw_coap_new(60000);
    cr_assert_not_null(gw);
    gw_dtls_policy_t psk;
    s_psk_policy(0x41, &psk);
    s_result_t res;
    s_get(gw, &s_owned, "cms", &psk, &res);
    s_expect_ok(&res, "PSK session", "ECDHE-PSK-AES128-CBC-SHA256", PSK_NAME);
    s_doc(gw, pem, &res);
    cr_expect_neq(res.err, CMN_OK, "a chain outside the anchors was accepted");
    cr_expect(strstr(res.error, "manufacturer certificate refused") != NULL, "error: %s",
              res.error);
    free(pem);
    gw_coap_destroy(&gw);
    cr_expect_eq(obt_proc_log_count(&s_rfotm.proc, "HELLO-VERIFY"), 1, "suite refused");
    /* The peer's handshake ended on the gateway's alert (MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE),
     * not on a suite it could not choose; the peer logs it a moment after the alert. */
    cr_expect_eq(obt_proc_wait_log(&s_rfotm.proc, "HANDSHAKE-FAILED", 10000), 0,
                 "the peer never logged the end of its handshake");
    cr_expect_eq(obt_proc_log_count(&s_rfotm.proc, "HANDSHAKE-FAILED"), 1);
    cr_expect_eq(obt_proc_log_count(&s_rfotm.proc, "HANDSHAKE-FAILED -0x7780"), 1);
}
