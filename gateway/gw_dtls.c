/* gw_dtls.c — the gateway's DTLS session policies */
#include "gw_dtls.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_psk.h"

#define JW_CIPHERS  "AECDH-AES128-SHA:@SECLEVEL=0"
#define PSK_CIPHERS "ECDHE-PSK-AES128-CBC-SHA256"

/* State a session needs during its handshake (the session's app data). */
typedef struct {
    uint8_t peer_uuid[16];      /* RDP: expected in the hint */
    uint8_t identity[64];       /* copies the libcoap info below points at */
    uint8_t key[32];            /* the PPSK */
    coap_dtls_cpsk_info_t info; /* what the hint callback hands to libcoap */
    const char *refusal;        /* why we aborted the handshake, NULL = we did not */
} s_state_t;

/* libcoap 4.3.1 fixes a client's cipher list and offers no per-session hook, but the
 * server answers the first ClientHello with a HelloVerifyRequest, and the second
 * ClientHello (the one that counts, RFC 6347 4.2.1) is built from the SSL's list at
 * that time. So the list is set on the session's SSL right after it is created. */
static cmn_err_t
s_restrict(coap_session_t *session, const char *ciphers, int seclevel)
{
    coap_tls_library_t lib;
    SSL *ssl = coap_session_get_tls(session, &lib);
    if (ssl == NULL || lib != COAP_TLS_LIBRARY_OPENSSL) {
        return CMN_ECRYPTO;
    }
    if (seclevel >= 0) {
        SSL_set_security_level(ssl, seclevel);
    }
    return SSL_set_cipher_list(ssl, ciphers) == 1 ? CMN_OK : CMN_ECRYPTO;
}

static coap_session_t *
s_open_anon(coap_context_t *ctx, const coap_address_t *server, const gw_dtls_policy_t *policy)
{
    (void) policy;
    coap_dtls_pki_t pki;
    memset(&pki, 0, sizeof pki);
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 0; /* anonymous: there is no certificate */
    return coap_new_client_session_pki(ctx, NULL, server, COAP_PROTO_DTLS, &pki);
}

static void
s_cpsk_init(coap_dtls_cpsk_t *cpsk, const uint8_t *identity, size_t id_len, const uint8_t *key)
{
    memset(cpsk, 0, sizeof *cpsk);
    cpsk->version = COAP_DTLS_CPSK_SETUP_VERSION;
    cpsk->psk_info.identity.s = identity;
    cpsk->psk_info.identity.length = id_len;
    cpsk->psk_info.key.s = key;
    cpsk->psk_info.key.length = CMN_PSK_LEN;
}

static coap_session_t *
s_open_psk(coap_context_t *ctx, const coap_address_t *server, const gw_dtls_policy_t *policy)
{
    coap_dtls_cpsk_t cpsk;
    s_cpsk_init(&cpsk, policy->identity, policy->identity_len, policy->key);
    cpsk.psk_info.key.length = policy->key_len;
    coap_session_t *session =
            coap_new_client_session_psk2(ctx, NULL, server, COAP_PROTO_DTLS, &cpsk);
    OPENSSL_cleanse(&cpsk, sizeof cpsk);
    return session;
}

/* The Random PIN client learns the device from the ServerKeyExchange's hint
 * (clause 7.3 of the seed): both formats are accepted, but the UUID must be the one
 * of the device being onboarded, else the handshake is aborted. */
static const coap_dtls_cpsk_info_t *
s_rdp_hint(coap_str_const_t *hint, coap_session_t *session, void *arg)
{
    (void) arg;
    s_state_t *st = coap_session_get_app_data(session);
    if (st == NULL) {
        return NULL;
    }
    if (hint == NULL || cmn_psk_rdp_hint_check(hint->s, hint->length, st->peer_uuid) != CMN_OK) {
        st->refusal = "device changed its UUID in the PIN hint";
        cmn_log_debug("GW-RDP-HINT", "PSK identity hint (%zu bytes) names another device",
                      hint ? hint->length : 0);
        return NULL;
    }
    return &st->info;
}

static coap_session_t *
s_open_rdp(coap_context_t *ctx, const coap_address_t *server, const gw_dtls_policy_t *policy)
{
    s_state_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        return NULL;
    }
    memcpy(st->peer_uuid, policy->peer_uuid, sizeof st->peer_uuid);
    memcpy(st->identity, policy->identity, policy->identity_len);
    memcpy(st->key, policy->key, CMN_PSK_LEN);
    st->info.identity.s = st->identity;
    st->info.identity.length = policy->identity_len;
    st->info.key.s = st->key;
    st->info.key.length = CMN_PSK_LEN;
    coap_dtls_cpsk_t cpsk;
    s_cpsk_init(&cpsk, st->identity, policy->identity_len, st->key);
    cpsk.validate_ih_call_back = s_rdp_hint;
    coap_session_t *session =
            coap_new_client_session_psk2(ctx, NULL, server, COAP_PROTO_DTLS, &cpsk);
    OPENSSL_cleanse(&cpsk, sizeof cpsk);
    if (session == NULL) {
        OPENSSL_clear_free(st, sizeof *st);
        return NULL;
    }
    /* The handshake goes on in coap_io_process(): the hint callback finds st here. */
    coap_session_set_app_data(session, st);
    return session;
}

typedef coap_session_t *(s_open_fn) (coap_context_t *ctx,
                                     const coap_address_t *server,
                                     const gw_dtls_policy_t *policy);

/* One row per policy kind: how the session is made and which suites it offers. */
static const struct {
    gw_dtls_kind_t kind;
    s_open_fn *open;
    const char *ciphers;
    int seclevel; /* -1 = OpenSSL's default */
} s_kinds[] = {
        {GW_DTLS_JW_ANON, s_open_anon, JW_CIPHERS, 0},
        {GW_DTLS_PSK, s_open_psk, PSK_CIPHERS, -1},
        {GW_DTLS_RDP, s_open_rdp, PSK_CIPHERS, -1},
};

cmn_err_t
gw_dtls_policy_rdp(const char *pin, const uint8_t device_uuid[16], gw_dtls_policy_t *ret)
{
    gw_dtls_policy_t p;
    memset(&p, 0, sizeof p);
    p.kind = GW_DTLS_RDP;
    cmn_err_t err = cmn_psk_rdp_ppsk(pin, device_uuid, p.key);
    if (err == CMN_OK) {
        p.key_len = CMN_PSK_LEN;
        p.identity_len = sizeof CMN_RDP_IDENTITY - 1;
        memcpy(p.identity, CMN_RDP_IDENTITY, p.identity_len);
        memcpy(p.peer_uuid, device_uuid, sizeof p.peer_uuid);
        *ret = p;
    }
    OPENSSL_cleanse(&p, sizeof p);
    return err;
}

coap_session_t *
gw_dtls_open(coap_context_t *ctx,
             const coap_address_t *server,
             const gw_dtls_policy_t *policy,
             cmn_err_t *ret_err)
{
    coap_session_t *session = NULL;
    cmn_err_t err = CMN_EINVAL;
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds[0]; i++) {
        if (s_kinds[i].kind == policy->kind) {
            session = s_kinds[i].open(ctx, server, policy);
            err = session ? s_restrict(session, s_kinds[i].ciphers, s_kinds[i].seclevel)
                          : CMN_ECRYPTO;
            break;
        }
    }
    if (err != CMN_OK) {
        gw_dtls_close(&session);
    }
    if (ret_err) {
        *ret_err = err;
    }
    return session;
}

void
gw_dtls_close(coap_session_t **session_p)
{
    if (session_p == NULL || *session_p == NULL) {
        return;
    }
    s_state_t *st = coap_session_get_app_data(*session_p);
    if (st) {
        coap_session_set_app_data(*session_p, NULL);
        OPENSSL_clear_free(st, sizeof *st);
    }
    coap_session_release(*session_p);
    *session_p = NULL;
}

const char *
gw_dtls_refusal(coap_session_t *session)
{
    const s_state_t *st = session ? coap_session_get_app_data(session) : NULL;
    return st ? st->refusal : NULL;
}

const char *
gw_dtls_cipher(coap_session_t *session)
{
    coap_tls_library_t lib;
    SSL *ssl = session ? coap_session_get_tls(session, &lib) : NULL;
    const char *name = ssl ? SSL_get_cipher_name(ssl) : NULL;
    return name && strcmp(name, "(NONE)") != 0 ? name : "";
}

int
gw_dtls_policy_continues(const gw_dtls_policy_t *policy)
{
    return policy->kind == GW_DTLS_RDP && policy->key_len == 0;
}

int
gw_dtls_policy_eq(const gw_dtls_policy_t *a, const gw_dtls_policy_t *b)
{
    return a->kind == b->kind && a->identity_len == b->identity_len && a->key_len == b->key_len &&
           memcmp(a->identity, b->identity, a->identity_len) == 0 &&
           memcmp(a->peer_uuid, b->peer_uuid, sizeof a->peer_uuid) == 0 &&
           CRYPTO_memcmp(a->key, b->key, a->key_len) == 0;
}
