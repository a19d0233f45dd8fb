/* gw_dtls.c — the gateway's DTLS session policies */
#include "gw_dtls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_cert.h"
#include "cmn_ff00_relay.h"
#include "cmn_log.h"
#include "cmn_psk.h"

#define PSK_CIPHERS "ECDHE-PSK-AES128-CBC-SHA256"
/* The certificate OTM's suites (OCF-NOTES 6.1), [IL]'s order. */
#define MFG_CIPHERS                                                                                \
    "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-CCM:ECDHE-ECDSA-AES256-CCM8:"                      \
    "ECDHE-ECDSA-AES256-CCM"
#define MFG_REFUSED  "manufacturer certificate refused: "
#define CERT_REFUSED "identity certificate refused: "

/* State a session needs during its handshake (the session's app data). */
typedef struct {
    uint8_t peer_uuid[16];      /* RDP: expected in the hint */
    uint8_t identity[64];       /* copies the libcoap info below points at */
    uint8_t key[32];            /* the PPSK */
    coap_dtls_cpsk_info_t info; /* what the hint callback hands to libcoap */
    const char *refusal;        /* why we aborted the handshake, NULL = we did not */
    uint8_t *anchors;           /* MFG: copy of the trust anchors (PEM) */
    size_t anchors_len;
    bool is_judged;                /* MFG: the peer's chain was checked (verdict below) */
    bool is_trusted;               /* MFG: it passed */
    char reason[256];              /* MFG: what refusal points at */
    cmn_ff00_relay_t *jw;          /* JW over 0xFF00: the relay the plain session talks to */
    const char *refused_prefix;    /* MFG_REFUSED or CERT_REFUSED */
    bool is_subject_lax;           /* MFG: the leaf's CN may name another uuid (D66) */
    char cert_cn[CMN_CERT_CN_MAX]; /* MFG/CERT: the accepted leaf's CN ("" before) */
    char cert_sha256[65];          /* and the SHA-256 of its DER, hex */
} s_state_t;

static void
s_state_free(s_state_t *st)
{
    if (st) {
        cmn_ff00_relay_destroy(&st->jw);
        free(st->anchors); /* public certificates */
        OPENSSL_clear_free(st, sizeof *st);
    }
}

/* The suites of the client session being opened (gw_dtls_open), read by s_on_info.
 * libcoap 4.3.1 calls SSL_connect() inside coap_new_client_session_*(), before the
 * caller gets the session, and an mbedTLS device chooses its suite from that first,
 * cookie-less ClientHello. So the list is set from the SSL_CTX's info callback when
 * OpenSSL starts the handshake (SSL_CB_HANDSHAKE_START, before the ClientHello is
 * built). One thread per daemon (STYLE 6): one selection at a time. */
static struct {
    const char *ciphers; /* NULL between two opens */
    int seclevel;        /* -1 = OpenSSL's default */
    bool is_applied;     /* the hook set them on the new SSL */
    bool is_failed;      /* OpenSSL refused the list */
} s_next;

/* What gw_dtls_attach() hangs on libcoap's SSL_CTX (its ex_data, freed with it). */
typedef struct {
    void (*coap_info)(const SSL *ssl, int where, int ret); /* libcoap's own, chained */
} s_hook_t;

static int s_hook_idx = -1;

static void
s_hook_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void) parent;
    (void) ad;
    (void) idx;
    (void) argl;
    (void) argp;
    free(ptr);
}

static void
s_on_info(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_HANDSHAKE_START) && !SSL_is_server(ssl) && s_next.ciphers &&
        !s_next.is_applied) {
        /* OpenSSL hands the callback a const SSL; this is the one moment at which the
         * list of the ClientHello about to be built can still be set on it, and the
         * SSL is a mutable object of libcoap's (SSL_new). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-qual"
        SSL *w = (SSL *) ssl;
#pragma GCC diagnostic pop
        if (s_next.seclevel >= 0) {
            SSL_set_security_level(w, s_next.seclevel);
        }
        /* Our lists are constants OpenSSL knows; should one fail, gw_dtls_open() closes
         * the session at once. */
        s_next.is_failed = SSL_set_cipher_list(w, s_next.ciphers) != 1;
        s_next.is_applied = true;
    }
    const s_hook_t *hook = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), s_hook_idx);
    if (hook && hook->coap_info) {
        hook->coap_info(ssl, where, ret);
    }
}

/* Opens a throw-away DTLS session (no credentials) to a UDP socket of our own on
 * loopback: libcoap keeps its SSL_CTX private, and a session's SSL is the only way
 * to it. Its ClientHello lands on that socket and is dropped with it. */
static SSL_CTX *
s_libcoap_ssl_ctx(coap_context_t *ctx)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        return NULL;
    }
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.size = sizeof addr.addr.sin;
    SSL_CTX *sctx = NULL;
    if (bind(fd, &addr.addr.sa, addr.size) != 0 ||
        getsockname(fd, &addr.addr.sa, &addr.size) != 0) {
        goto out_close;
    }
    coap_session_t *probe = coap_new_client_session(ctx, NULL, &addr, COAP_PROTO_DTLS);
    coap_tls_library_t lib;
    SSL *ssl = probe ? coap_session_get_tls(probe, &lib) : NULL;
    if (ssl && lib == COAP_TLS_LIBRARY_OPENSSL) {
        sctx = SSL_get_SSL_CTX(ssl);
    }
    if (probe) {
        coap_session_release(probe);
    }
out_close:
    (void) close(fd);
    return sctx;
}

cmn_err_t
gw_dtls_attach(coap_context_t *ctx)
{
    if (s_hook_idx < 0) {
        s_hook_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, s_hook_free);
        if (s_hook_idx < 0) {
            return CMN_ECRYPTO;
        }
    }
    SSL_CTX *sctx = s_libcoap_ssl_ctx(ctx);
    if (sctx == NULL) {
        return CMN_ECRYPTO;
    }
    if (SSL_CTX_get_ex_data(sctx, s_hook_idx) != NULL) {
        return CMN_OK; /* attached before */
    }
    s_hook_t *hook = calloc(1, sizeof *hook);
    if (hook == NULL) {
        return CMN_ENOMEM;
    }
    hook->coap_info = SSL_CTX_get_info_callback(sctx);
    if (SSL_CTX_set_ex_data(sctx, s_hook_idx, hook) != 1) {
        free(hook);
        return CMN_ECRYPTO;
    }
    SSL_CTX_set_info_callback(sctx, s_on_info);
    return CMN_OK;
}

/* Just Works over 0xFF00 (D50): libcoap runs plain CoAP to a relay on loopback, the
 * relay runs the DTLS engine (common/cmn_ff00) to the device. */
static coap_session_t *
s_open_jw_ff00(coap_context_t *ctx, const coap_address_t *server, const gw_dtls_policy_t *policy)
{
    (void) policy;
    s_state_t *st = calloc(1, sizeof *st);
    if (st == NULL || (st->jw = cmn_ff00_relay_new(false, &server->addr.sa, server->size, NULL, 0,
                                                   NULL)) == NULL) {
        s_state_free(st);
        return NULL;
    }
    coap_address_t local;
    coap_address_init(&local);
    const struct sockaddr *sa = cmn_ff00_relay_local(st->jw, &local.size);
    memcpy(&local.addr, sa, local.size);
    coap_session_t *session = coap_new_client_session(ctx, NULL, &local, COAP_PROTO_UDP);
    const coap_address_t *mine = session ? coap_session_get_addr_local(session) : NULL;
    if (mine == NULL || cmn_ff00_relay_connect(st->jw, &mine->addr.sa, mine->size) != CMN_OK) {
        if (session) {
            coap_session_release(session);
        }
        s_state_free(st);
        return NULL;
    }
    coap_session_set_app_data(session, st);
    return session;
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
        s_state_free(st);
        return NULL;
    }
    /* The handshake goes on in coap_io_process(): the hint callback finds st here. */
    coap_session_set_app_data(session, st);
    return session;
}

/* Judges the device's chain once, the first time OpenSSL asks (whatever the depth),
 * and gives the same verdict on every later call: OpenSSL's own verdict (our store is
 * empty: it always fails) is replaced by the OTM's (cmn_cert_verify_mfg_chain). */
static void
s_mfg_judge(s_state_t *st, X509_STORE_CTX *ctx)
{
    st->is_judged = true;
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted(ctx); /* the peer's, leaf first */
    char why[200] = "";
    cmn_uuid_t cn;
    cmn_err_t err =
            cmn_cert_verify_mfg_chain(chain, st->anchors, st->anchors_len, 0, &cn, why, sizeof why);
    X509 *leaf = err == CMN_OK ? sk_X509_value(chain, 0) : NULL;
    if (leaf && (cmn_cert_common_name(leaf, st->cert_cn, sizeof st->cert_cn) != CMN_OK ||
                 cmn_cert_sha256_hex(leaf, st->cert_sha256) != CMN_OK)) {
        err = CMN_ENOMEM; /* the profile check read the same CN */
    }
    bool is_other = err == CMN_OK && memcmp(cn.b, st->peer_uuid, sizeof cn.b) != 0;
    char got[CMN_UUID_STR_LEN + 1], want[CMN_UUID_STR_LEN + 1];
    if (is_other) {
        cmn_uuid_to_str(&cn, got);
        memcpy(cn.b, st->peer_uuid, sizeof cn.b);
        cmn_uuid_to_str(&cn, want);
    }
    if (is_other && !st->is_subject_lax) {
        (void) snprintf(why, sizeof why, "wrong subject: CN uuid:%s, the device is %s", got, want);
        err = CMN_ECRYPTO;
    } else if (is_other) {
        char esc[4 * CMN_CERT_CN_MAX];
        cmn_log_notice("GW-MFG-SUBJECT",
                       "dev=%s manufacturer certificate CN \"%s\" names another uuid (%s): "
                       "accepted (--mfg-subject accept) sha256=%s",
                       want, cmn_log_escape(esc, sizeof esc, st->cert_cn), got, st->cert_sha256);
    }
    if (err != CMN_OK) {
        st->cert_cn[0] = '\0';
        st->cert_sha256[0] = '\0';
        (void) snprintf(st->reason, sizeof st->reason, "%s%s",
                        st->refused_prefix ? st->refused_prefix : MFG_REFUSED,
                        why[0] ? why : cmn_strerror(err));
        st->refusal = st->reason;
        cmn_log_debug("GW-MFG-REFUSED", "%s", st->reason);
        return;
    }
    st->is_trusted = true;
}

static int
s_mfg_verify(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void) preverify_ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    coap_session_t *session = ssl ? SSL_get_app_data(ssl) : NULL;
    s_state_t *st = session ? coap_session_get_app_data(session) : NULL;
    if (st == NULL) {
        return 0;
    }
    if (!st->is_judged) {
        s_mfg_judge(st, ctx);
    }
    if (st->is_trusted) {
        X509_STORE_CTX_set_error(ctx, X509_V_OK);
    }
    return st->is_trusted ? 1 : 0;
}

static coap_session_t *
s_open_mfg(coap_context_t *ctx, const coap_address_t *server, const gw_dtls_policy_t *policy)
{
    s_state_t *st = calloc(1, sizeof *st);
    if (st == NULL || policy->anchors_len == 0 ||
        (st->anchors = malloc(policy->anchors_len)) == NULL) {
        s_state_free(st);
        return NULL;
    }
    memcpy(st->anchors, policy->anchors, policy->anchors_len);
    st->anchors_len = policy->anchors_len;
    memcpy(st->peer_uuid, policy->peer_uuid, sizeof st->peer_uuid);
    st->is_subject_lax = policy->kind == GW_DTLS_MFG && policy->is_subject_lax;
    coap_dtls_pki_t pki;
    memset(&pki, 0, sizeof pki);
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 0; /* s_mfg_verify judges the chain (libcoap's check is replaced) */
    coap_session_t *session = coap_new_client_session_pki(ctx, NULL, server, COAP_PROTO_DTLS, &pki);
    coap_tls_library_t lib;
    SSL *ssl = session ? coap_session_get_tls(session, &lib) : NULL;
    if (ssl == NULL || lib != COAP_TLS_LIBRARY_OPENSSL) {
        if (session) {
            coap_session_release(session);
        }
        s_state_free(st);
        return NULL;
    }
    coap_session_set_app_data(session, st);
    /* Set before the server's Certificate can arrive (after the HelloVerifyRequest). */
    SSL_set_verify(ssl, SSL_VERIFY_PEER, s_mfg_verify);
    return session;
}

/* Our certificate chain and key on the session's SSL (sent when the device asks). */
static bool
s_use_cert(SSL *ssl, const gw_dtls_policy_t *policy)
{
    STACK_OF(X509) *chain = cmn_cert_parse_pem(policy->cert, policy->cert_len);
    BIO *b = policy->cert_key_len <= INT32_MAX
                     ? BIO_new_mem_buf(policy->cert_key, (int) policy->cert_key_len)
                     : NULL;
    EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    bool ok = chain && key && SSL_use_certificate(ssl, sk_X509_value(chain, 0)) == 1 &&
              SSL_use_PrivateKey(ssl, key) == 1 && SSL_check_private_key(ssl) == 1;
    for (int i = 1; ok && i < sk_X509_num(chain); i++) {
        ok = SSL_add1_chain_cert(ssl, sk_X509_value(chain, i)) == 1;
    }
    EVP_PKEY_free(key);
    BIO_free(b);
    sk_X509_pop_free(chain, X509_free);
    return ok;
}

/* An identity-certificate session: the manufacturer session's check of the device's
 * chain (against the domain's anchor), and our own chain presented. */
static coap_session_t *
s_open_cert(coap_context_t *ctx, const coap_address_t *server, const gw_dtls_policy_t *policy)
{
    coap_session_t *session = s_open_mfg(ctx, server, policy);
    coap_tls_library_t lib;
    SSL *ssl = session ? coap_session_get_tls(session, &lib) : NULL;
    s_state_t *st = session ? coap_session_get_app_data(session) : NULL;
    if (ssl == NULL || st == NULL || !s_use_cert(ssl, policy)) {
        gw_dtls_close(&session);
        return NULL;
    }
    st->refused_prefix = CERT_REFUSED;
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
        {GW_DTLS_JW_ANON, s_open_jw_ff00, NULL, -1}, /* not OpenSSL: no cipher list */
        {GW_DTLS_PSK, s_open_psk, PSK_CIPHERS, -1},  {GW_DTLS_RDP, s_open_rdp, PSK_CIPHERS, -1},
        {GW_DTLS_MFG, s_open_mfg, MFG_CIPHERS, -1},  {GW_DTLS_CERT, s_open_cert, MFG_CIPHERS, -1},
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

void
gw_dtls_policy_mfg(const uint8_t *anchors,
                   size_t anchors_len,
                   const uint8_t device_uuid[16],
                   gw_dtls_policy_t *ret)
{
    memset(ret, 0, sizeof *ret);
    ret->kind = GW_DTLS_MFG;
    ret->anchors = anchors;
    ret->anchors_len = anchors_len;
    memcpy(ret->peer_uuid, device_uuid, sizeof ret->peer_uuid);
}

void
gw_dtls_policy_cert(const uint8_t *anchors,
                    size_t anchors_len,
                    const uint8_t *chain,
                    size_t chain_len,
                    const uint8_t *key,
                    size_t key_len,
                    const uint8_t device_uuid[16],
                    gw_dtls_policy_t *ret)
{
    gw_dtls_policy_mfg(anchors, anchors_len, device_uuid, ret);
    ret->kind = GW_DTLS_CERT;
    ret->cert = chain;
    ret->cert_len = chain_len;
    ret->cert_key = key;
    ret->cert_key_len = key_len;
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
            s_next.ciphers = s_kinds[i].ciphers;
            s_next.seclevel = s_kinds[i].seclevel;
            s_next.is_applied = false;
            s_next.is_failed = false;
            session = s_kinds[i].open(ctx, server, policy);
            err = CMN_ECRYPTO;
            if (session && s_kinds[i].ciphers == NULL) {
                err = CMN_OK; /* a row that does not run on libcoap + OpenSSL */
            } else if (session && !s_next.is_applied) {
                cmn_log_debug("GW-DTLS-HOOK", "the session's suites were not set before its "
                                              "first ClientHello (gw_dtls_attach missing)");
            } else if (session && !s_next.is_failed) {
                err = CMN_OK;
            }
            s_next.ciphers = NULL;
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
        s_state_free(st);
    }
    coap_session_release(*session_p);
    *session_p = NULL;
}

const char *
gw_dtls_refusal(coap_session_t *session)
{
    const s_state_t *st = session ? coap_session_get_app_data(session) : NULL;
    if (st && st->jw) {
        return cmn_ff00_state(cmn_ff00_relay_engine(st->jw)) == CMN_FF00_FAILED
                       ? cmn_ff00_error(cmn_ff00_relay_engine(st->jw))
                       : NULL;
    }
    return st ? st->refusal : NULL;
}

cmn_err_t
gw_dtls_peer_cert(coap_session_t *session, const char **ret_cn, const char **ret_sha256)
{
    const s_state_t *st = session ? coap_session_get_app_data(session) : NULL;
    if (st == NULL || !st->is_trusted || st->cert_sha256[0] == '\0') {
        return CMN_ENOTFOUND;
    }
    *ret_cn = st->cert_cn;
    *ret_sha256 = st->cert_sha256;
    return CMN_OK;
}

cmn_ff00_relay_t *
gw_dtls_ff00(coap_session_t *session)
{
    const s_state_t *st = session ? coap_session_get_app_data(session) : NULL;
    return st ? st->jw : NULL;
}

const char *
gw_dtls_cipher(coap_session_t *session)
{
    cmn_ff00_relay_t *jw = gw_dtls_ff00(session);
    if (jw) {
        return cmn_ff00_state(cmn_ff00_relay_engine(jw)) == CMN_FF00_ESTABLISHED ? GW_DTLS_FF00_NAME
                                                                                 : "";
    }
    coap_tls_library_t lib;
    SSL *ssl = session ? coap_session_get_tls(session, &lib) : NULL;
    const char *name = ssl ? SSL_get_cipher_name(ssl) : NULL;
    return name && strcmp(name, "(NONE)") != 0 ? name : "";
}

int
gw_dtls_policy_continues(const gw_dtls_policy_t *policy)
{
    return (policy->kind == GW_DTLS_RDP && policy->key_len == 0) ||
           (policy->kind == GW_DTLS_MFG && policy->anchors_len == 0);
}

int
gw_dtls_policy_eq(const gw_dtls_policy_t *a, const gw_dtls_policy_t *b)
{
    if (a->anchors_len != 0 || b->anchors_len != 0) {
        return 0; /* opening a manufacturer-certificate DOC: always a new session */
    }
    return a->kind == b->kind && a->identity_len == b->identity_len && a->key_len == b->key_len &&
           memcmp(a->identity, b->identity, a->identity_len) == 0 &&
           memcmp(a->peer_uuid, b->peer_uuid, sizeof a->peer_uuid) == 0 &&
           CRYPTO_memcmp(a->key, b->key, a->key_len) == 0;
}
