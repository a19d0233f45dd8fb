/* gw_coap_test.c — real DTLS between gw_coap and an in-process libcoap server:
 * a PSK session (Just Works over 0xFF00 is not OpenSSL's: gw_ff00_test), a PSK handshake failure,
 * and the manufacturer-certificate DOC (the owner PSK with the KBL of a 256-bit CCM suite; a leaf
 * naming another device) */
#include <coap3/coap.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_psk.h"
#include "gw_coap.h"
#include "gw_test_result.h"
#include "obt_certs.h"

#define CALLER    "11111111-2222-4333-8444-555555555555"
#define JW_LABEL  "oic.sec.doxm.jw"
#define MFG_LABEL "oic.sec.doxm.mfgcert"
#define DEVICE    "100f0e0d-0c0b-0a09-0807-060504030201" /* s_device as a string */
#define PEM_CAP   4096

static const uint8_t s_caller_raw[16] = {0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x43, 0x33,
                                         0x84, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
static const uint8_t s_psk[16] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
                                  0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0};
static const uint8_t s_owner[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t s_device[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

typedef struct {
    coap_context_t *ctx;
    uint16_t port;
    char cert[PEM_CAP], key[PEM_CAP];
    uint8_t psk[16]; /* owner PSK the server derived in its handler */
    size_t kbl;
    int requests;
    obt_cert_t mfg_root, mfg_leaf; /* set: the server is a device in a certificate OTM */
    const char *mfg_ciphers;       /* its suites */
} s_server_t;

static s_server_t s_srv;

static unsigned
s_psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk, unsigned max)
{
    (void) ssl;
    /* OpenSSL hands the identity as a C string: the 16 raw bytes contain no NUL. */
    if (identity == NULL || strlen(identity) != 16 || memcmp(identity, s_caller_raw, 16) != 0 ||
        max < sizeof s_psk) {
        return 0;
    }
    memcpy(psk, s_psk, sizeof s_psk);
    return sizeof s_psk;
}

static int
s_server_tls_setup(void *tls, coap_dtls_pki_t *setup)
{
    SSL *ssl = tls;
    (void) setup;
    if (s_srv.mfg_leaf.cert) {
        return SSL_use_certificate(ssl, s_srv.mfg_leaf.cert) == 1 &&
               SSL_use_PrivateKey(ssl, s_srv.mfg_leaf.key) == 1 &&
               SSL_add1_chain_cert(ssl, s_srv.mfg_root.cert) == 1 &&
               SSL_set_cipher_list(ssl, s_srv.mfg_ciphers) == 1;
    }
    SSL_set_security_level(ssl, 0);
    if (!SSL_set_cipher_list(ssl, "AECDH-AES128-SHA:ECDHE-PSK-AES128-CBC-SHA256:@SECLEVEL=0")) {
        return 0;
    }
    SSL_set_psk_server_callback(ssl, s_psk_server_cb);
    return 1;
}

static void
s_on_get(coap_resource_t *r,
         coap_session_t *session,
         const coap_pdu_t *req,
         const coap_string_t *query,
         coap_pdu_t *resp)
{
    (void) r;
    (void) req;
    (void) query;
    coap_tls_library_t lib;
    SSL *ssl = coap_session_get_tls(session, &lib);
    s_srv.requests++;
    if (ssl != NULL && strcmp(SSL_get_cipher_name(ssl), "AECDH-AES128-SHA") == 0) {
        (void) cmn_psk_derive_from_ssl(ssl, JW_LABEL, s_owner, s_device, s_srv.psk, &s_srv.kbl);
    } else if (ssl != NULL && strstr(SSL_get_cipher_name(ssl), "CCM") != NULL) {
        (void) cmn_psk_derive_from_ssl(ssl, MFG_LABEL, s_owner, s_device, s_srv.psk, &s_srv.kbl);
    }
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
    (void) coap_add_data(resp, 2, (const uint8_t *) "ok");
}

static void
s_make_cert(void)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    cr_assert_not_null(pkey);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *) "devsim", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    cr_assert(X509_sign(x, pkey, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    int n = BIO_read(b, s_srv.cert, PEM_CAP - 1);
    cr_assert_gt(n, 0);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL);
    n = BIO_read(b, s_srv.key, PEM_CAP - 1);
    cr_assert_gt(n, 0);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

static uint16_t
s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *) &a, &al), 0);
    (void) close(fd);
    return ntohs(a.sin_port);
}

static void
s_setup(void)
{
    memset(&s_srv, 0, sizeof s_srv);
    coap_startup();
    s_make_cert();
    s_srv.ctx = coap_new_context(NULL);
    cr_assert_not_null(s_srv.ctx);
    /* OCF version options are critical (odd): a server must know them or answer 4.02. */
    coap_register_option(s_srv.ctx, 2049);
    coap_register_option(s_srv.ctx, 2053);

    coap_dtls_pki_t pki;
    memset(&pki, 0, sizeof pki);
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 0;
    pki.additional_tls_setup_call_back = s_server_tls_setup;
    pki.pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
    pki.pki_key.key.pem_buf.public_cert = (const uint8_t *) s_srv.cert;
    pki.pki_key.key.pem_buf.public_cert_len = strlen(s_srv.cert);
    pki.pki_key.key.pem_buf.private_key = (const uint8_t *) s_srv.key;
    pki.pki_key.key.pem_buf.private_key_len = strlen(s_srv.key);
    cr_assert(coap_context_set_pki(s_srv.ctx, &pki));
    coap_dtls_spsk_t spsk;
    memset(&spsk, 0, sizeof spsk);
    spsk.version = COAP_DTLS_SPSK_SETUP_VERSION;
    spsk.psk_info.key.s = s_psk;
    spsk.psk_info.key.length = sizeof s_psk;
    cr_assert(coap_context_set_psk2(s_srv.ctx, &spsk));

    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s_srv.port = s_free_port();
    addr.addr.sin.sin_port = htons(s_srv.port);
    addr.size = sizeof addr.addr.sin;
    cr_assert_not_null(coap_new_endpoint(s_srv.ctx, &addr, COAP_PROTO_DTLS));
    coap_resource_t *r = coap_resource_init(coap_make_str_const("x"), 0);
    coap_register_handler(r, COAP_REQUEST_GET, s_on_get);
    coap_add_resource(s_srv.ctx, r);
}

static void
s_teardown(void)
{
    obt_cert_free(&s_srv.mfg_leaf);
    obt_cert_free(&s_srv.mfg_root);
    coap_free_context(s_srv.ctx);
    s_srv.ctx = NULL;
    coap_cleanup();
}

/* Runs both sides (one thread, like the daemons) until the exchange is done. */
static void
s_run(gw_coap_t *gw, const gw_test_result_t *res)
{
    for (int i = 0; i < 1000 && res->done == 0; i++) {
        struct pollfd pfd[2] = {{.fd = gw_coap_fd(gw), .events = POLLIN},
                                {.fd = coap_context_get_coap_fd(s_srv.ctx), .events = POLLIN}};
        (void) poll(pfd, 2, 10);
        (void) coap_io_process(s_srv.ctx, COAP_IO_NO_WAIT);
        (void) gw_coap_process(gw);
    }
    cr_assert_eq(res->done, 1, "the exchange did not complete exactly once");
}

static void
s_endpoint(char *out, size_t cap)
{
    (void) snprintf(out, cap, "coaps://127.0.0.1:%u", s_srv.port);
}

Test(gw_coap, psk_session_negotiates_ecdhe_psk, .init = s_setup, .fini = s_teardown, .timeout = 30)
{
    gw_coap_t *gw = gw_coap_new(60000);
    char ep[64];
    s_endpoint(ep, sizeof ep);
    gw_dtls_policy_t policy = {.kind = GW_DTLS_PSK, .identity_len = 16, .key_len = 16};
    memcpy(policy.identity, s_caller_raw, 16);
    memcpy(policy.key, s_psk, 16);
    gw_test_result_t res = {0};
    cr_assert_eq(gw_coap_request(gw, CALLER, ep, &policy, 1, "/x", NULL, NULL, 0, 5000,
                                 gw_test_done, &res),
                 CMN_OK);
    s_run(gw, &res);
    cr_assert_eq(res.err, CMN_OK);
    cr_expect_eq(res.code, 205, "code %d", res.code);
    cr_expect_str_eq(res.cipher, "ECDHE-PSK-AES128-CBC-SHA256");
    gw_coap_destroy(&gw);
}

Test(gw_coap, wrong_psk_fails_with_ecrypto, .init = s_setup, .fini = s_teardown, .timeout = 30)
{
    gw_coap_t *gw = gw_coap_new(60000);
    char ep[64];
    s_endpoint(ep, sizeof ep);
    gw_dtls_policy_t policy = {.kind = GW_DTLS_PSK, .identity_len = 16, .key_len = 16};
    memcpy(policy.identity, s_caller_raw, 16);
    memset(policy.key, 0x5a, 16);
    gw_test_result_t res = {0};
    cr_assert_eq(gw_coap_request(gw, CALLER, ep, &policy, 1, "/x", NULL, NULL, 0, 5000,
                                 gw_test_done, &res),
                 CMN_OK);
    s_run(gw, &res);
    cr_expect_eq(res.err, CMN_ECRYPTO, "got %d", res.err);
    cr_expect_eq(s_srv.requests, 0);
    gw_coap_destroy(&gw);
}

/* The server becomes a device whose manufacturer leaf names leaf_uuid, issued by a
 * root, offering only ciphers; gw opens a certificate-OTM DOC to it for s_device with
 * the root as the anchor (a CN of another uuid accepted if is_lax), and runs one GET
 * to the end. */
static void
s_mfg_doc(gw_coap_t *gw,
          const char *ep,
          const char *leaf_uuid,
          const char *ciphers,
          bool is_lax,
          gw_test_result_t *res)
{
    obt_cert_opts_t root = obt_cert_root_opts("gw_coap test factory");
    cr_assert_eq(obt_cert_make(&s_srv.mfg_root, &root, NULL), 0);
    obt_cert_opts_t leaf = obt_cert_leaf_opts(leaf_uuid);
    cr_assert_eq(obt_cert_make(&s_srv.mfg_leaf, &leaf, &s_srv.mfg_root), 0);
    s_srv.mfg_ciphers = ciphers;
    char *anchor = obt_cert_pem(&s_srv.mfg_root);
    cr_assert_not_null(anchor);
    gw_dtls_policy_t policy;
    gw_dtls_policy_mfg((const uint8_t *) anchor, strlen(anchor), s_device, &policy);
    policy.is_subject_lax = is_lax;
    cr_assert_eq(gw_coap_request(gw, CALLER, ep, &policy, 1, "/x", NULL, NULL, 0, 5000,
                                 gw_test_done, res),
                 CMN_OK);
    free(anchor); /* gw_dtls_open copied it */
    s_run(gw, res);
}

Test(gw_coap,
     mfg_doc_with_aes256_ccm_derives_with_kbl_72,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 30)
{
    gw_coap_t *gw = gw_coap_new(60000);
    char ep[64];
    s_endpoint(ep, sizeof ep);
    gw_test_result_t res = {0};
    s_mfg_doc(gw, ep, DEVICE, "ECDHE-ECDSA-AES256-CCM", false, &res);
    cr_assert_eq(res.err, CMN_OK, "%s", res.error);
    cr_expect_eq(res.code, 205, "code %d", res.code);
    cr_expect_str_eq(res.cipher, "ECDHE-ECDSA-AES256-CCM");
    cr_expect_str_eq(res.cert_cn, "uuid:" DEVICE);

    /* A later step without anchors continues on the DOC. */
    gw_dtls_policy_t cont = {.kind = GW_DTLS_MFG};
    gw_test_result_t again = {0};
    cr_assert_eq(gw_coap_request(gw, CALLER, ep, &cont, 1, "/x", NULL, NULL, 0, 5000, gw_test_done,
                                 &again),
                 CMN_OK);
    s_run(gw, &again);
    cr_expect_eq(again.code, 205);
    cr_expect_eq(gw_coap_sessions(gw), 1);

    uint8_t psk[16];
    size_t kbl = 0;
    char cipher[64] = "";
    cr_assert_eq(gw_coap_derive_owner_psk(gw, CALLER, ep, MFG_LABEL, s_owner, s_device, psk, &kbl,
                                          cipher, sizeof cipher),
                 CMN_OK);
    cr_expect_eq(kbl, 72, "KBL of AES_256_CCM is 2*(0+32+4)");
    cr_assert_eq(s_srv.kbl, 72, "server did not derive");
    cr_expect_arr_eq(psk, s_srv.psk, sizeof psk, "owner PSK differs between the two ends");
    gw_coap_destroy(&gw);
}

#define OTHER_UUID "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee" /* not s_device */

/* A new gw (the caller destroys it) and a certificate-OTM DOC with it to a device whose
 * leaf names OTHER_UUID instead of s_device, accepted there if is_lax. */
static gw_coap_t *
s_other_uuid_doc(bool is_lax, gw_test_result_t *res)
{
    gw_coap_t *gw = gw_coap_new(60000);
    char ep[64];
    s_endpoint(ep, sizeof ep);
    s_mfg_doc(gw, ep, OTHER_UUID, "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-CCM", is_lax, res);
    return gw;
}

Test(gw_coap,
     mfg_leaf_of_another_device_is_refused,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 30)
{
    gw_test_result_t res = {0};
    gw_coap_t *gw = s_other_uuid_doc(false, &res);
    cr_expect_eq(res.err, CMN_EPROTO, "got %d", res.err);
    cr_expect(strstr(res.error, "manufacturer certificate refused: wrong subject") != NULL, "%s",
              res.error);
    cr_expect_eq(s_srv.requests, 0, "a request reached the refused device");
    gw_coap_destroy(&gw);
}

Test(gw_coap,
     mfg_leaf_of_another_uuid_is_accepted_when_lax_and_described,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 30)
{
    gw_test_result_t res = {0};
    gw_coap_t *gw = s_other_uuid_doc(true, &res);
    cr_assert_eq(res.err, CMN_OK, "%s", res.error);
    cr_expect_eq(res.code, 205, "code %d", res.code);
    cr_expect_str_eq(res.cert_cn, "uuid:" OTHER_UUID);
    char want[65];
    cr_assert_eq(obt_cert_sha256_hex(s_srv.mfg_leaf.cert, want), 0);
    cr_expect_str_eq(res.cert_sha256, want, "not the SHA-256 of the leaf's DER");
    gw_coap_destroy(&gw);
}
