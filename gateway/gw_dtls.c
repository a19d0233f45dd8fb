/* gw_dtls.c — the gateway's DTLS session policies */
#include "gw_dtls.h"

#include <openssl/ssl.h>
#include <string.h>

#define JW_CIPHERS  "AECDH-AES128-SHA:@SECLEVEL=0"
#define PSK_CIPHERS "ECDHE-PSK-AES128-CBC-SHA256"

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

coap_session_t *
gw_dtls_open(coap_context_t *ctx,
             const coap_address_t *server,
             const gw_dtls_policy_t *policy,
             cmn_err_t *ret_err)
{
    coap_session_t *session = NULL;
    cmn_err_t err = CMN_OK;
    if (policy->kind == GW_DTLS_JW_ANON) {
        coap_dtls_pki_t pki;
        memset(&pki, 0, sizeof pki);
        pki.version = COAP_DTLS_PKI_SETUP_VERSION;
        pki.verify_peer_cert = 0; /* anonymous: there is no certificate */
        session = coap_new_client_session_pki(ctx, NULL, server, COAP_PROTO_DTLS, &pki);
        err = session ? s_restrict(session, JW_CIPHERS, 0) : CMN_ECRYPTO;
    } else if (policy->kind == GW_DTLS_PSK) {
        coap_dtls_cpsk_t cpsk;
        memset(&cpsk, 0, sizeof cpsk);
        cpsk.version = COAP_DTLS_CPSK_SETUP_VERSION;
        cpsk.psk_info.identity.s = policy->identity;
        cpsk.psk_info.identity.length = policy->identity_len;
        cpsk.psk_info.key.s = policy->key;
        cpsk.psk_info.key.length = policy->key_len;
        session = coap_new_client_session_psk2(ctx, NULL, server, COAP_PROTO_DTLS, &cpsk);
        err = session ? s_restrict(session, PSK_CIPHERS, -1) : CMN_ECRYPTO;
    } else {
        err = CMN_EINVAL;
    }
    if (err != CMN_OK && session) {
        coap_session_release(session);
        session = NULL;
    }
    if (ret_err) {
        *ret_err = err;
    }
    return session;
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
gw_dtls_policy_eq(const gw_dtls_policy_t *a, const gw_dtls_policy_t *b)
{
    return a->kind == b->kind && a->identity_len == b->identity_len && a->key_len == b->key_len &&
           memcmp(a->identity, b->identity, a->identity_len) == 0 &&
           CRYPTO_memcmp(a->key, b->key, a->key_len) == 0;
}
