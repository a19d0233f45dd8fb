/* sim_coap.c — a simulated device's CoAP and DTLS endpoints (libcoap server) */
#include "sim_coap.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_cert.h"
#include "cmn_ff00_relay.h"
#include "cmn_log.h"
#include "cmn_psk.h"
#include "cmn_time.h"
#include "sim_csr.h"
#include "sim_mfg.h"
#include "sim_rdp.h"
#include "sim_store.h"
#include "sim_svr.h"

#define SIM_MAX_PEERS 16

typedef struct {
    coap_session_t *session; /* NULL = free slot */
    bool is_doc;             /* the DOC */
    bool has_peer;           /* PSK identity known */
    cmn_uuid_t peer;         /* the peer's UUID */
    sim_roles_t roles;       /* the roles it asserted (/oic/sec/roles), gone with the session */
} s_peer_t;

typedef struct {
    coap_context_t *ctx;           /* this device's libcoap context */
    sim_store_mode_t store_mode;   /* how state changes reach the device's file */
    s_peer_t peers[SIM_MAX_PEERS]; /* DTLS sessions */
    coap_session_t *to_drop;       /* fault drop-doc: close after this round (referenced) */
    /* Just Works over 0xFF00 (D53) */
    int ep;                  /* epoll of libcoap's fd and the relay's sockets, -1 = off */
    struct sockaddr_in back; /* libcoap's loopback endpoint the DOC's CoAP goes to */
    cmn_ff00_relay_t *jw;    /* the JW DOC's relay, NULL = none */
    bool is_jw_open;         /* its handshake completed (the DOC is open) */
} s_net_t;

/* Forgets every session's peer (their sessions went with the context). */
static void
s_clear_peers(s_net_t *net)
{
    for (int i = 0; i < SIM_MAX_PEERS; i++) {
        sim_roles_clear(&net->peers[i].roles);
    }
    memset(net->peers, 0, sizeof net->peers);
}

static uint8_t *s_cert_der; /* throwaway certificate (DER, OPENSSL_malloc'ed) */
static size_t s_cert_len;
static uint8_t *s_key_der; /* its private key (DER) */
static size_t s_key_len;
/* A context PSK key that no peer can know (random, never used): with one set, libcoap
 * takes a ClientHello that offers PSK suites down its PSK path, which does not decode
 * the throwaway pair again for every session (its PKI path does: d2i of key and
 * certificate per handshake). Each session's own callback (s_tls_setup) gives the
 * real key. */
static uint8_t s_unused_psk[32];

cmn_err_t
sim_coap_init(void)
{
    /* libcoap's PKI setup wants a certificate even though the anonymous suite never
     * sends one: a throwaway self-signed P-256 pair made at start. */
    cmn_err_t err = CMN_ECRYPTO;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (!key || !x) {
        goto out;
    }
    (void) X509_set_version(x, 2);
    (void) ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    (void) X509_gmtime_adj(X509_getm_notBefore(x), 0);
    (void) X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
    (void) X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    (void) X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) "devsim",
                                      -1, -1, 0);
    (void) X509_set_issuer_name(x, name);
    /* DER, not PEM: libcoap decodes the pair again for every DTLS session, and
     * d2i is far cheaper than OpenSSL 3's PEM decoder chain (docs/performance.md). */
    unsigned char *kd = NULL, *cd = NULL;
    int kn = 0, cn = 0;
    if (!X509_sign(x, key, EVP_sha256()) || (kn = i2d_PrivateKey(key, &kd)) <= 0 ||
        (cn = i2d_X509(x, &cd)) <= 0) {
        goto out;
    }
    if (RAND_bytes(s_unused_psk, sizeof s_unused_psk) != 1) {
        OPENSSL_clear_free(kd, (size_t) kn);
        OPENSSL_free(cd);
        goto out;
    }
    s_key_der = kd;
    s_key_len = (size_t) kn;
    s_cert_der = cd;
    s_cert_len = (size_t) cn;
    err = CMN_OK;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return err;
}

void
sim_coap_fini(void)
{
    OPENSSL_clear_free(s_key_der, s_key_len);
    OPENSSL_cleanse(s_unused_psk, sizeof s_unused_psk);
    OPENSSL_free(s_cert_der);
    s_key_der = s_cert_der = NULL;
    s_key_len = s_cert_len = 0;
}

static s_peer_t *
s_peer(sim_device_t *dev, const coap_session_t *session, bool create)
{
    s_net_t *net = dev->net;
    s_peer_t *free_slot = NULL;
    for (int i = 0; i < SIM_MAX_PEERS; i++) {
        if (net->peers[i].session == session) {
            return &net->peers[i];
        }
        if (!free_slot && net->peers[i].session == NULL) {
            free_slot = &net->peers[i];
        }
    }
    if (create && free_slot) {
        memset(free_slot, 0, sizeof *free_slot);
        free_slot->session = (coap_session_t *) (uintptr_t) session;
        return free_slot;
    }
    return NULL;
}

/* Our PSK server callback (libcoap installs none on the PKI path it takes). */
static unsigned int
s_psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk, unsigned int max_psk_len)
{
    coap_session_t *session = SSL_get_app_data(ssl);
    sim_device_t *dev = session ? coap_session_get_app_data(session) : NULL;
    if (dev == NULL || identity == NULL || strlen(identity) != 16 || max_psk_len < CMN_PSK_LEN) {
        return 0;
    }
    const cmn_cred_t *cred = sim_device_find_psk(dev, (const uint8_t *) identity);
    s_peer_t *p = s_peer(dev, session, true);
    if (cred == NULL || p == NULL) {
        cmn_log_info("SIM-PSK-UNKNOWN", "dev=%d unknown PSK identity", dev->idx);
        return 0;
    }
    memcpy(psk, cred->priv_data, CMN_PSK_LEN);
    memcpy(p->peer.b, identity, 16);
    p->has_peer = true;
    return CMN_PSK_LEN;
}

/* The Random PIN DOC's PSK callback: the PPSK, for identity "oic.sec.doxm.rdp" only. */
static unsigned int
s_rdp_server_cb(SSL *ssl, const char *identity, unsigned char *psk, unsigned int max_psk_len)
{
    coap_session_t *session = SSL_get_app_data(ssl);
    sim_device_t *dev = session ? coap_session_get_app_data(session) : NULL;
    if (dev == NULL || max_psk_len < CMN_PSK_LEN || sim_rdp_psk(dev, identity, psk) != CMN_OK) {
        if (dev) {
            cmn_log_info("SIM-RDP-IDENTITY", "dev=%d refusing PSK identity of the DOC", dev->idx);
        }
        return 0;
    }
    return CMN_PSK_LEN;
}

/* DOC session setup of one OTM (the device is in RFOTM with that oxmsel). */
typedef int(s_doc_setup_fn)(sim_device_t *dev, SSL *ssl);

/* Just Works: served by a relay over 0xFF00 (s_jw_take, D53) before this is reached;
 * the row only says that the simulator implements the OTM. */
static int
s_doc_jw(sim_device_t *dev, SSL *ssl)
{
    (void) dev;
    (void) ssl;
    return 0;
}

static int
s_doc_rdp(sim_device_t *dev, SSL *ssl)
{
    char hint[CMN_RDP_HINT_MAX + 1];
    if (!dev->has_pin) {
        cmn_log_info("SIM-DOC-REFUSED", "dev=%d Random PIN DOC without a PIN: select it again",
                     dev->idx);
        return 0;
    }
    sim_rdp_hint(dev, hint);
    SSL_set_psk_server_callback(ssl, s_rdp_server_cb);
    int ok = SSL_use_psk_identity_hint(ssl, hint) == 1 &&
             SSL_set_cipher_list(ssl, "ECDHE-PSK-AES128-CBC-SHA256") == 1;
    OPENSSL_cleanse(hint, sizeof hint);
    return ok;
}

/* The certificate OTM's suites in [IL]'s order (OCF-NOTES 6.1): 0xC0AE, 0xC0AC,
 * 0xC0AF, 0xC0AD. */
#define MFG_CIPHERS                                                                                \
    "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-CCM:ECDHE-ECDSA-AES256-CCM8:"                      \
    "ECDHE-ECDSA-AES256-CCM"

/* The manufacturer-certificate DOC: the device authenticates with its mfg chain
 * (credusage oic.sec.cred.mfgcert) and, like [IL] in RFOTM, asks for no client
 * certificate. The leaf names the device's current UUID (sim_mfg_cred_current), or,
 * with --mfg-cn-fixed, a uuid of its own drawn when it was made and kept through
 * resets, as a stock device's fixed certificate (the leaf of kind other-uuid). */
static int
s_doc_mfg(sim_device_t *dev, SSL *ssl)
{
    sim_mfg_cred_t cred;
    sim_mfg_kind_t kind = (sim_mfg_kind_t) dev->mfg_kind;
    if (dev->is_mfg_cn_fixed && kind == SIM_MFG_GOOD) {
        kind = SIM_MFG_OTHER_UUID;
    }
    cmn_err_t err = sim_mfg_cred_current(dev->mfg_ca, dev->dir, &dev->doxm.deviceuuid, kind, &cred);
    if (err != CMN_OK) {
        cmn_log_err("SIM-MFG-CRED", "dev=%d no manufacturer certificate: %s", dev->idx,
                    cmn_strerror(err));
        return 0;
    }
    SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    int ok = sim_mfg_cred_use(&cred, ssl) == CMN_OK && SSL_set_cipher_list(ssl, MFG_CIPHERS) == 1;
    sim_mfg_cred_free(&cred);
    return ok;
}

/* The DOC setup of each OTM the simulator implements, indexed by oxm. */
static s_doc_setup_fn *const s_doc_setups[] = {
        [0] = s_doc_jw,
        [1] = s_doc_rdp,
        [2] = s_doc_mfg,
};

static s_doc_setup_fn *
s_doc_setup(int64_t oxmsel)
{
    size_t n = sizeof s_doc_setups / sizeof s_doc_setups[0];
    return oxmsel >= 0 && (uint64_t) oxmsel < n ? s_doc_setups[oxmsel] : NULL;
}

/* Ends the JW DOC over 0xFF00: close_notify if it is open, the relay goes, and the
 * device learns that its DOC closed (or that the attempt failed). */
static void
s_jw_end(sim_device_t *dev)
{
    s_net_t *net = dev->net;
    if (net->jw == NULL) {
        return;
    }
    bool was_open = net->is_jw_open && dev->doc_open;
    cmn_ff00_relay_destroy(&net->jw);
    net->is_jw_open = false;
    if (was_open) {
        sim_device_doc_closed(dev);
    } else {
        sim_device_doc_failed(dev);
    }
}

/* A Just Works DOC over 0xFF00 (D53): libcoap's OpenSSL took the peer's first two
 * ClientHellos (cookie exchange) and cannot go on; a relay bound to the same coaps
 * address and connected to the peer takes its datagrams from now on, answers with a
 * HelloVerifyRequest of its own, and relays the DOC's CoAP into libcoap's loopback
 * endpoint (s_handler sees it there as the DOC). */
static void
s_jw_take(sim_device_t *dev, coap_session_t *session)
{
    s_net_t *net = dev->net;
    if (net->jw != NULL && net->is_jw_open) {
        cmn_log_info("SIM-DOC-REFUSED", "dev=%d refusing a second Just Works DOC", dev->idx);
        return;
    }
    if (net->jw != NULL) { /* a handshake its peer gave up (an OBT that died): a new one */
        cmn_log_info("SIM-JW-FF00", "dev=%d an unfinished Just Works handshake is replaced",
                     dev->idx);
        s_jw_end(dev);
    }
    if (net->ep < 0) {
        return;
    }
    const coap_address_t *remote = coap_session_get_addr_remote(session);
    const coap_address_t *local = coap_session_get_addr_local(session);
    cmn_err_t err = CMN_OK;
    net->jw = cmn_ff00_relay_new(true, &remote->addr.sa, remote->size, &local->addr.sa, local->size,
                                 &err);
    if (net->jw == NULL ||
        (err = cmn_ff00_relay_connect(net->jw, (const struct sockaddr *) &net->back,
                                      sizeof net->back)) != CMN_OK ||
        (err = cmn_ff00_hello_verify(cmn_ff00_relay_engine(net->jw), 1)) != CMN_OK) {
        cmn_log_err("SIM-JW-FF00", "dev=%d cannot take the Just Works DOC: %s", dev->idx,
                    cmn_strerror(err));
        cmn_ff00_relay_destroy(&net->jw);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.fd = cmn_ff00_relay_fd_peer(net->jw);
    (void) epoll_ctl(net->ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
    ev.data.fd = cmn_ff00_relay_fd_local(net->jw);
    (void) epoll_ctl(net->ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
    (void) cmn_ff00_relay_process(net->jw, cmn_time_mono_ms());
    cmn_log_info("SIM-JW-FF00", "dev=%d Just Works DOC over 0xFF00 started", dev->idx);
}

/* Runs the relay; the DOC opens when its handshake completes, ends when it fails or
 * closes. */
static void
s_jw_process(sim_device_t *dev)
{
    s_net_t *net = dev->net;
    if (net->jw == NULL) {
        return;
    }
    uint64_t now = cmn_time_mono_ms();
    (void) cmn_ff00_relay_process(net->jw, now);
    const cmn_ff00_t *e = cmn_ff00_relay_engine(net->jw);
    cmn_ff00_state_t st = cmn_ff00_state(e);
    if (st == CMN_FF00_ESTABLISHED && !net->is_jw_open) {
        net->is_jw_open = true;
        dev->doc_open = true;
        dev->doc_last_ms = now;
        cmn_log_info("SIM-DOC-OPEN", "dev=%d DOC open (0xFF00)", dev->idx);
    } else if (st == CMN_FF00_FAILED || st == CMN_FF00_CLOSED) {
        cmn_log_info("SIM-JW-FF00", "dev=%d Just Works DOC ended: %s", dev->idx,
                     st == CMN_FF00_CLOSED ? "close_notify" : cmn_ff00_error(e));
        s_jw_end(dev);
    }
}

/* True if session is the JW DOC's CoAP, relayed to the loopback endpoint. */
static bool
s_is_jw_session(const s_net_t *net, const coap_session_t *session)
{
    if (net->jw == NULL || coap_session_get_proto(session) != COAP_PROTO_UDP) {
        return false;
    }
    socklen_t len = 0;
    const struct sockaddr_in *relay =
            (const struct sockaddr_in *) cmn_ff00_relay_local(net->jw, &len);
    const coap_address_t *remote = coap_session_get_addr_remote(session);
    const coap_address_t *local = coap_session_get_addr_local(session);
    return remote->addr.sa.sa_family == AF_INET && local->addr.sa.sa_family == AF_INET &&
           remote->addr.sin.sin_port == relay->sin_port &&
           remote->addr.sin.sin_addr.s_addr == relay->sin_addr.s_addr &&
           local->addr.sin.sin_port == net->back.sin_port;
}

/* The client certificate of a certificate session (docs/cms.md): OpenSSL checked the
 * chain against the device's trust anchors; the leaf must have the OCF profile, and
 * its CN uuid becomes the peer's identity (OCF-NOTES 5.3 rule 7). */
static int
s_cert_verify(int preverify_ok, X509_STORE_CTX *ctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    coap_session_t *session = ssl ? SSL_get_app_data(ssl) : NULL;
    sim_device_t *dev = session ? coap_session_get_app_data(session) : NULL;
    if (dev == NULL) {
        return 0;
    }
    if (!preverify_ok) {
        cmn_log_info("SIM-CERT-REFUSED", "dev=%d peer certificate: %s", dev->idx,
                     X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        return 0;
    }
    if (X509_STORE_CTX_get_error_depth(ctx) != 0) {
        return 1;
    }
    cmn_uuid_t u;
    char why[200] = "";
    if (cmn_cert_check_end_entity(X509_STORE_CTX_get_current_cert(ctx), &u, why, sizeof why) !=
        CMN_OK) {
        cmn_log_info("SIM-CERT-REFUSED", "dev=%d peer certificate: %s", dev->idx, why);
        return 0;
    }
    s_peer_t *p = s_peer(dev, session, true);
    if (p == NULL) {
        return 0;
    }
    p->peer = u;
    p->has_peer = true;
    cmn_log_info("SIM-CERT-PEER", "dev=%d certificate session with its identity certificate",
                 dev->idx);
    return 1;
}

/* Chooses the session's cipher policy from the device's state (docs/internals.md). */
static int
s_tls_setup(void *tls, coap_dtls_pki_t *setup)
{
    SSL *ssl = tls;
    sim_device_t *dev = setup->cn_call_back_arg;
    coap_session_t *session = SSL_get_app_data(ssl);
    if (dev == NULL || session == NULL) {
        return 0;
    }
    coap_session_set_app_data(session, dev);
    /* libcoap's own PSK callback (the unused context key) never answers: each path
     * below that allows a PSK suite sets its own */
    SSL_set_psk_server_callback(ssl, NULL);
    /* A device stuck owned in RFOTM (fault owned-rfotm, tests) is a stack that picks
     * its suites by doxm.owned, PSK sessions of its credentials (its owner's), and
     * takes its one DTLS peer in RFOTM as the DOC (IoTivity-Lite). */
    bool is_stuck_owned = dev->is_stuck_owned && dev->doxm.owned;
    if (dev->pstat.dos_s == CMN_DOS_RFOTM && is_stuck_owned) {
        s_peer_t *p = dev->doc_open ? NULL : s_peer(dev, session, true);
        if (p == NULL) {
            cmn_log_info("SIM-DOC-REFUSED", "dev=%d refusing DTLS (a DOC is open)", dev->idx);
            return 0;
        }
        p->is_doc = true;
        SSL_set_psk_server_callback(ssl, s_psk_server_cb);
        return SSL_set_cipher_list(ssl, "ECDHE-PSK-AES128-CBC-SHA256") == 1;
    }
    if (dev->pstat.dos_s == CMN_DOS_RFOTM) {
        /* Only one DTLS peer, the DOC, and only once an OTM was selected. */
        s_doc_setup_fn *doc_setup = s_doc_setup(dev->doxm.oxmsel);
        if (dev->doc_open || doc_setup == NULL || dev->reset_at_ms != 0) {
            cmn_log_info("SIM-DOC-REFUSED", "dev=%d refusing DTLS (oxmsel=%lld doc=%d)", dev->idx,
                         (long long) dev->doxm.oxmsel, dev->doc_open);
            return 0;
        }
        if (dev->doxm.oxmsel == 0) {
            s_jw_take(dev, session);
            return 0; /* libcoap forgets the session; the relay has the peer */
        }
        s_peer_t *p = s_peer(dev, session, true);
        if (p == NULL) {
            return 0;
        }
        p->is_doc = true;
        return doc_setup(dev, ssl);
    }
    if (dev->fault == SIM_FAULT_REFUSE_DTLS && dev->refuse_left > 0) {
        dev->refuse_left--;
        cmn_log_notice("SIM-DTLS-REFUSED", "dev=%d refusing DTLS (fault refuse-dtls: %d more)",
                       dev->idx, dev->refuse_left);
        return 0;
    }
    SSL_set_psk_server_callback(ssl, s_psk_server_cb);
    if (sim_cert_setup(dev, ssl)) {
        /* identity certificates too: the peer's is asked for (and checked) only when an
         * ECDHE-ECDSA suite is chosen */
        SSL_set_verify(ssl, SSL_VERIFY_PEER, s_cert_verify);
        return SSL_set_cipher_list(ssl, "ECDHE-PSK-AES128-CBC-SHA256:" MFG_CIPHERS) == 1;
    }
    return SSL_set_cipher_list(ssl, "ECDHE-PSK-AES128-CBC-SHA256") == 1;
}

static int
s_event(coap_session_t *session, const coap_event_t event)
{
    sim_device_t *dev = coap_session_get_app_data(session);
    if (dev == NULL || dev->net == NULL) {
        return 0;
    }
    s_peer_t *p = s_peer(dev, session, false);
    if (event == COAP_EVENT_DTLS_CONNECTED && p && p->is_doc) {
        dev->doc_open = true;
        dev->doc_last_ms = cmn_time_mono_ms();
        cmn_log_info("SIM-DOC-OPEN", "dev=%d DOC open", dev->idx);
    } else if (event == COAP_EVENT_DTLS_CLOSED || event == COAP_EVENT_DTLS_ERROR ||
               event == COAP_EVENT_SESSION_CLOSED || event == COAP_EVENT_SERVER_SESSION_DEL) {
        if (p) {
            bool was_doc = p->is_doc && dev->doc_open;
            bool was_doc_attempt = p->is_doc && !dev->doc_open;
            sim_roles_clear(&p->roles);
            memset(p, 0, sizeof *p);
            if (was_doc) {
                sim_device_doc_closed(dev);
            } else if (was_doc_attempt) {
                sim_device_doc_failed(dev);
            }
        }
        coap_session_set_app_data(session, NULL);
    }
    return 0;
}

static void
s_free_body(coap_session_t *session, void *body)
{
    (void) session;
    free(body);
}

/* A new CRL: the roles it revokes leave every session that asserted them at once. */
static void
s_drop_revoked_roles(const sim_device_t *dev, s_net_t *net)
{
    for (int i = 0; i < SIM_MAX_PEERS; i++) {
        if (net->peers[i].session) {
            (void) sim_roles_drop_revoked(dev, &net->peers[i].roles);
        }
    }
}

static void
s_handler(coap_resource_t *resource,
          coap_session_t *session,
          const coap_pdu_t *request,
          const coap_string_t *query,
          coap_pdu_t *response)
{
    sim_device_t *dev = coap_resource_get_userdata(resource);
    s_net_t *net = dev->net;
    coap_str_const_t *uri = coap_resource_get_uri_path(resource);
    char path[80], q[256] = "";
    (void) snprintf(path, sizeof path, "/%.*s", (int) uri->length, (const char *) uri->s);
    if (query && query->length < sizeof q) {
        memcpy(q, query->s, query->length);
        q[query->length] = '\0';
    }
    sim_peer_t peer = {0};
    peer.is_secure = coap_session_get_proto(session) == COAP_PROTO_DTLS;
    if (s_is_jw_session(net, session)) {
        peer.is_secure = true;
        peer.is_doc = net->is_jw_open && dev->doc_open;
        peer.ff00 = peer.is_doc ? cmn_ff00_relay_engine(net->jw) : NULL;
        if (peer.is_doc) {
            dev->doc_last_ms = cmn_time_mono_ms();
        }
    } else if (peer.is_secure) {
        s_peer_t *p = s_peer(dev, session, false);
        coap_tls_library_t lib;
        peer.ssl = coap_session_get_tls(session, &lib);
        if (p) {
            peer.is_doc = p->is_doc && dev->doc_open;
            if (peer.is_doc) {
                dev->doc_last_ms = cmn_time_mono_ms();
            }
            peer.has_peer = p->has_peer;
            peer.peer = p->peer;
            peer.roles = p->roles.roles;
            peer.n_roles = p->roles.n;
            peer.asserted = &p->roles;
        }
    }
    size_t len = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data(request, &len, &data)) {
        len = 0;
        data = NULL;
    }
    sim_method_t method;
    switch (coap_pdu_get_code(request)) {
    case COAP_REQUEST_CODE_GET:
        method = SIM_GET;
        break;
    case COAP_REQUEST_CODE_POST:
        method = SIM_POST;
        break;
    case COAP_REQUEST_CODE_PUT:
        method = SIM_PUT;
        break;
    default:
        method = SIM_DELETE;
        break;
    }
    uint8_t *body = NULL;
    size_t body_len = 0;
    bool changed = false;
    int code =
            sim_device_handle(dev, &peer, method, path, q, data, len, &body, &body_len, &changed);
    if (changed) {
        cmn_err_t err = sim_store_changed(dev, net->store_mode);
        if (err != CMN_OK) {
            cmn_log_err("SIM-STORE", "dev=%d cannot save state: %s", dev->idx, cmn_strerror(err));
        }
    }
    if (changed && method == SIM_POST && strcmp(path, "/oic/sec/crl") == 0) {
        s_drop_revoked_roles(dev, net);
    }
    if (code == SIM_CODE_DROP_DOC && net->to_drop == NULL) {
        /* Closed once libcoap is done with this request (sim_coap_process). */
        net->to_drop = coap_session_reference(session);
    }
    if (code <= 0) {
        free(body);
        return; /* silent */
    }
    coap_pdu_set_code(response, (coap_pdu_code_t) COAP_RESPONSE_CODE(code));
    if (body) {
        static const uint8_t ver[2] = {0x08, 0x00};
        (void) coap_add_option(response, 2053, sizeof ver, ver);
        /* Large SVRs (an ACL with many ACEs) go out block-wise (RFC 7959). */
        if (!coap_add_data_large_response(resource, session, request, response, query,
                                          CMN_CF_OCF_CBOR, -1, 0, body_len, body, s_free_body,
                                          body)) {
            coap_pdu_set_code(response, COAP_RESPONSE_CODE(500));
        }
    }
}

cmn_err_t
sim_coap_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len)
{
    char host[64];
    (void) snprintf(host, sizeof host, "%s", addr);
    char *zone = strchr(host, '%');
    if (zone) {
        *zone++ = '\0';
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *sa4 = (struct sockaddr_in *) &ss;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *) &ss;
    if (zone == NULL && inet_pton(AF_INET, host, &sa4->sin_addr) == 1) {
        sa4->sin_family = AF_INET;
        sa4->sin_port = htons(port);
        *ret_len = sizeof *sa4;
    } else if (inet_pton(AF_INET6, host, &sa6->sin6_addr) == 1) {
        sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons(port);
        sa6->sin6_scope_id = zone ? if_nametoindex(zone) : 0;
        if (zone && sa6->sin6_scope_id == 0) {
            return CMN_EINVAL;
        }
        *ret_len = sizeof *sa6;
    } else {
        return CMN_EINVAL;
    }
    *ret = ss;
    return CMN_OK;
}

/* True if port is free for UDP on addr. */
static bool
s_port_free(const char *addr, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (sim_coap_sockaddr(addr, port, &ss, &sl) != CMN_OK) {
        return false;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    int one = 1;
    if (ss.ss_family == AF_INET6) {
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *) &ss, sl) == 0;
    if (fd >= 0) {
        (void) close(fd);
    }
    return ok;
}

/* A port free on every address of dev (the OS picks it on the first), other than
 * avoid: the device's other port, picked the same way but not bound yet (its probe
 * socket is closed, so the OS may offer that port again: coap and coaps on one port,
 * and a device that answered neither). */
static uint16_t
s_free_port(const sim_device_t *dev, uint16_t avoid)
{
    char addrs[SIM_MAX_ADDRS][64];
    size_t n = sim_device_addrs(dev, addrs, SIM_MAX_ADDRS);
    for (int attempt = 0; n > 0 && attempt < 20; attempt++) {
        struct sockaddr_storage ss;
        socklen_t sl = 0;
        if (sim_coap_sockaddr(addrs[0], 0, &ss, &sl) != CMN_OK) {
            return 0;
        }
        int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
        uint16_t port = 0;
        if (fd >= 0 && bind(fd, (struct sockaddr *) &ss, sl) == 0 &&
            getsockname(fd, (struct sockaddr *) &ss, &sl) == 0) {
            port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                                 : ((struct sockaddr_in6 *) &ss)->sin6_port);
        }
        if (fd >= 0) {
            (void) close(fd);
        }
        bool ok = port != 0 && port != avoid;
        for (size_t i = 1; ok && i < n; i++) {
            ok = s_port_free(addrs[i], port);
        }
        if (ok) {
            return port;
        }
    }
    return 0;
}

static const char *const s_paths[] = {
        "oic/sec/doxm", "oic/sec/pstat",  "oic/sec/cred", "oic/sec/acl2", "oic/sec/sdi",
        "oic/res",      "oic/d",          "oic/p",        "a/light",      "light",
        "temp",         "bridge/vodlist",                   /* 4.04 unless a Bridge */
        "oic/sec/csr",  "oic/sec/crl",    "oic/sec/roles"}; /* 4.04 without --certs */

/* libcoap's loopback endpoint for the JW DOC's CoAP, and an
 * epoll of libcoap's fd and the relay's sockets (sim_coap_fd) (D53). */
static cmn_err_t
s_jw_open_back(s_net_t *net, coap_context_t *ctx)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool is_ok = fd >= 0 && bind(fd, (struct sockaddr *) &a, al) == 0 &&
                 getsockname(fd, (struct sockaddr *) &a, &al) == 0;
    if (fd >= 0) {
        (void) close(fd);
    }
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin = a;
    addr.size = sizeof a;
    if (!is_ok || coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP) == NULL) {
        return CMN_EIO;
    }
    net->back = a;
    if (net->ep >= 0) {
        (void) close(net->ep);
    }
    net->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = coap_context_get_coap_fd(ctx)};
    if (net->ep < 0 || epoll_ctl(net->ep, EPOLL_CTL_ADD, ev.data.fd, &ev) != 0) {
        return CMN_EIO;
    }
    return CMN_OK;
}

static cmn_err_t
s_open_ctx(sim_device_t *dev)
{
    s_net_t *net = dev->net;
    coap_context_t *ctx = coap_new_context(NULL);
    if (ctx == NULL) {
        return CMN_ENOMEM;
    }
    coap_context_set_session_timeout(ctx, 120);
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    (void) coap_register_option(ctx, 2049);
    (void) coap_register_option(ctx, 2053);
    coap_register_event_handler(ctx, s_event);
    coap_dtls_pki_t pki;
    memset(&pki, 0, sizeof pki);
    pki.version = COAP_DTLS_PKI_SETUP_VERSION;
    pki.verify_peer_cert = 0;
    pki.additional_tls_setup_call_back = s_tls_setup;
    pki.cn_call_back_arg = dev; /* our per-context argument: no CN callback is used */
    pki.pki_key.key_type = COAP_PKI_KEY_ASN1;
    pki.pki_key.key.asn1.public_cert = s_cert_der;
    pki.pki_key.key.asn1.public_cert_len = s_cert_len;
    pki.pki_key.key.asn1.private_key = s_key_der;
    pki.pki_key.key.asn1.private_key_len = s_key_len;
    pki.pki_key.key.asn1.private_key_type = COAP_ASN1_PKEY_EC;
    coap_dtls_spsk_t spsk;
    memset(&spsk, 0, sizeof spsk);
    spsk.version = COAP_DTLS_SPSK_SETUP_VERSION;
    spsk.psk_info.hint.s = dev->doxm.deviceuuid.b;
    spsk.psk_info.hint.length = 16;
    spsk.psk_info.key.s = s_unused_psk;
    spsk.psk_info.key.length = sizeof s_unused_psk;
    if (!coap_context_set_pki(ctx, &pki) || !coap_context_set_psk2(ctx, &spsk)) {
        coap_free_context(ctx);
        return CMN_ECRYPTO;
    }
    char addrs[SIM_MAX_ADDRS][64];
    size_t n_addrs = sim_device_addrs(dev, addrs, SIM_MAX_ADDRS);
    for (size_t i = 0; i < n_addrs; i++) {
        coap_address_t addr;
        coap_address_init(&addr);
        struct sockaddr_storage ss;
        socklen_t sl = 0;
        coap_endpoint_t *udp = NULL, *dtls = NULL;
        if (sim_coap_sockaddr(addrs[i], dev->udp_port, &ss, &sl) == CMN_OK) {
            memcpy(&addr.addr, &ss, sl);
            addr.size = sl;
            udp = coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP);
            if (ss.ss_family == AF_INET) {
                addr.addr.sin.sin_port = htons(dev->dtls_port);
            } else {
                addr.addr.sin6.sin6_port = htons(dev->dtls_port);
            }
            dtls = coap_new_endpoint(ctx, &addr, COAP_PROTO_DTLS);
        }
        if (udp == NULL || dtls == NULL) {
            cmn_log_err("SIM-BIND", "dev=%d cannot bind \"%s\" ports %u/%u", dev->idx, addrs[i],
                        (unsigned) dev->udp_port, (unsigned) dev->dtls_port);
            coap_free_context(ctx);
            return CMN_EIO;
        }
    }
    for (size_t i = 0; i < sizeof s_paths / sizeof s_paths[0]; i++) {
        coap_resource_t *r = coap_resource_init(coap_make_str_const(s_paths[i]), 0);
        if (r == NULL) {
            coap_free_context(ctx);
            return CMN_ENOMEM;
        }
        coap_resource_set_userdata(r, dev);
        coap_register_handler(r, COAP_REQUEST_GET, s_handler);
        coap_register_handler(r, COAP_REQUEST_POST, s_handler);
        coap_register_handler(r, COAP_REQUEST_PUT, s_handler);
        coap_register_handler(r, COAP_REQUEST_DELETE, s_handler);
        coap_add_resource(ctx, r);
    }
    if (s_jw_open_back(net, ctx) != CMN_OK) {
        cmn_log_err("SIM-BIND", "dev=%d cannot open the Just Works 0xFF00 endpoint", dev->idx);
        coap_free_context(ctx);
        return CMN_EIO;
    }
    s_clear_peers(net);
    net->ctx = ctx;
    return CMN_OK;
}

cmn_err_t
sim_coap_start(sim_device_t *dev, sim_store_mode_t store_mode)
{
    s_net_t *net = calloc(1, sizeof *net);
    if (net == NULL) {
        return CMN_ENOMEM;
    }
    net->store_mode = store_mode;
    net->ep = -1;
    dev->net = net;
    if (dev->udp_port == 0) {
        dev->udp_port = s_free_port(dev, dev->dtls_port);
    }
    if (dev->dtls_port == 0) {
        dev->dtls_port = s_free_port(dev, dev->udp_port);
    }
    cmn_err_t err = dev->udp_port && dev->dtls_port ? s_open_ctx(dev) : CMN_EIO;
    if (err != CMN_OK) {
        if (net->ep >= 0) {
            (void) close(net->ep);
        }
        free(net);
        dev->net = NULL;
    }
    return err;
}

void
sim_coap_stop(sim_device_t *dev)
{
    s_net_t *net = dev->net;
    if (net == NULL) {
        return;
    }
    if (net->to_drop) {
        coap_session_release(net->to_drop);
        net->to_drop = NULL;
    }
    cmn_ff00_relay_destroy(&net->jw);
    if (net->ctx) {
        coap_free_context(net->ctx);
    }
    s_clear_peers(net);
    if (net->ep >= 0) {
        (void) close(net->ep);
    }
    free(net);
    dev->net = NULL;
}

cmn_err_t
sim_coap_restart(sim_device_t *dev)
{
    s_net_t *net = dev->net;
    if (net == NULL) {
        return CMN_ESTATE;
    }
    cmn_ff00_relay_destroy(&net->jw); /* a reset: no DOC callbacks */
    net->is_jw_open = false;
    if (net->ctx) {
        /* Sessions are freed with the context; our table must not outlive them. */
        coap_free_context(net->ctx);
        net->ctx = NULL;
    }
    return s_open_ctx(dev);
}

int
sim_coap_fd(const sim_device_t *dev)
{
    const s_net_t *net = dev->net;
    if (net && net->ep >= 0) {
        return net->ep;
    }
    return net && net->ctx ? coap_context_get_coap_fd(net->ctx) : -1;
}

void
sim_coap_process(sim_device_t *dev)
{
    s_net_t *net = dev->net;
    if (net) {
        s_jw_process(dev);
    }
    if (net && net->ctx) {
        (void) coap_io_process(net->ctx, COAP_IO_NO_WAIT);
    }
    if (net) {
        s_jw_process(dev); /* libcoap's answers go out now */
    }
    if (net && net->to_drop && s_is_jw_session(net, net->to_drop)) {
        coap_session_release(net->to_drop); /* the DOC is the relay: close_notify */
        net->to_drop = NULL;
        s_jw_end(dev);
    }
    if (net && net->to_drop) {
        /* Sends a DTLS close_notify and forgets the session; s_event sees it close. */
        coap_session_t *session = net->to_drop;
        net->to_drop = NULL;
        coap_session_disconnected(session, COAP_NACK_NOT_DELIVERABLE);
        coap_session_release(session);
    }
}
