/* sim_csr.c — certificate support of a simulated device and its /oic/sec/csr */
#include "sim_csr.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_cert.h"
#include "cmn_log.h"
#include "sim_svr.h"

static void
s_set(sim_device_t *d, bool has_certs, bool has_csr)
{
    d->has_certs = has_certs;
    d->has_csr = has_certs && has_csr;
    d->is_csr_bad_cn = false;
    d->doxm.sct = sim_device_sct(d);
}

cmn_err_t
sim_csr_setup(const char *spec, sim_device_t *devs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s_set(&devs[i], strcmp(spec, "all") == 0, true);
    }
    if (spec[0] == '\0' || strcmp(spec, "all") == 0) {
        return CMN_OK;
    }
    char *copy = strdup(spec);
    char *save = NULL;
    cmn_err_t err = copy ? CMN_OK : CMN_ENOMEM;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && err == CMN_OK;
         item = strtok_r(NULL, ",", &save)) {
        char *end = NULL;
        errno = 0;
        long idx = strtol(item, &end, 10);
        bool nocsr = end && strcmp(end, ":nocsr") == 0;
        bool badcn = end && strcmp(end, ":badcn") == 0;
        if (errno || end == item || (*end != '\0' && !nocsr && !badcn) || idx < 0 ||
            (size_t) idx >= n) {
            (void) fprintf(stderr,
                           "error: --certs: bad entry \"%s\" (all, or IDX, IDX:nocsr or "
                           "IDX:badcn with IDX below --count)\n",
                           item);
            err = CMN_EINVAL;
            break;
        }
        s_set(&devs[idx], true, !nocsr);
        devs[idx].is_csr_bad_cn = badcn;
    }
    free(copy);
    return err;
}

/* The device's key: read, or made and written 0600 at the first request. */
static EVP_PKEY *
s_key(const sim_device_t *dev)
{
    char path[600];
    (void) snprintf(path, sizeof path, "%s/csr-key.pem", dev->dir);
    FILE *fp = fopen(path, "rb");
    if (fp) {
        EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        (void) fclose(fp);
        return key;
    }
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    int fd = key ? open(path, O_WRONLY | O_CREAT | O_EXCL, 0600) : -1;
    fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = fp && PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL) == 1;
    if (fp) {
        ok = fclose(fp) == 0 && ok;
    } else if (fd >= 0) {
        (void) close(fd);
    }
    if (!ok) {
        cmn_log_err("SIM-CSR-KEY", "dev=%d cannot write its key \"%s\"", dev->idx, path);
        EVP_PKEY_free(key);
        return NULL;
    }
    cmn_log_info("SIM-CSR-KEY", "dev=%d made its P-256 key", dev->idx);
    return key;
}

int
sim_svr_get_csr(const sim_device_t *dev, uint8_t **ret, size_t *len)
{
    if (!dev->has_csr) {
        return SIM_CODE_NOT_FOUND;
    }
    EVP_PKEY *key = s_key(dev);
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    BIO *b = BIO_new(BIO_s_mem());
    char cn[48], u[37];
    cmn_uuid_to_str(dev->is_csr_bad_cn ? &dev->piid : &dev->doxm.deviceuuid, u);
    (void) snprintf(cn, sizeof cn, "uuid:%s", u);
    int code = SIM_CODE_INTERNAL;
    if (key && req && name && b &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *) cn, -1, -1, 0) ==
                1 &&
        X509_REQ_set_subject_name(req, name) == 1 && X509_REQ_set_pubkey(req, key) == 1 &&
        X509_REQ_sign(req, key, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(b, req) == 1) {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        cmn_csr_t csr = {(uint8_t *) data, (size_t) n, CMN_ENC_PEM};
        if (cmn_csr_encode(&csr, ret, len) == CMN_OK) {
            code = SIM_CODE_CONTENT;
        }
    }
    BIO_free(b);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return code;
}

/* The private key of the identity certificate: the one CMS sent, else our own. */
static EVP_PKEY *
s_cert_key(const sim_device_t *dev, const cmn_cred_t *c)
{
    if (c->priv_len > 0) {
        const uint8_t *p = c->priv_data;
        return d2i_AutoPrivateKey(NULL, &p, (long) c->priv_len);
    }
    return s_key(dev);
}

/* Adds the trust anchors (oic.sec.cred.trustca, PEM) of creds to store; their count. */
static size_t
s_add_anchors(X509_STORE *store, const cmn_creds_t *creds)
{
    size_t n = 0;
    for (size_t i = 0; creds && i < creds->n_creds; i++) {
        const cmn_cred_t *c = &creds->creds[i];
        if (c->credtype != CMN_CREDTYPE_CERT || strcmp(c->credusage, "oic.sec.cred.trustca") != 0) {
            continue;
        }
        STACK_OF(X509) *sk = cmn_cert_parse_pem(c->pub_data, c->pub_len);
        for (int k = 0; sk && k < sk_X509_num(sk); k++) {
            n += X509_STORE_add_cert(store, sk_X509_value(sk, k)) == 1;
        }
        sk_X509_pop_free(sk, X509_free);
    }
    return n;
}

/* A device's identity as its sessions use it, decoded once and kept until the
 * credentials it came from change (a reset, a new certificate, anchor or CRL): the
 * digest of those inputs tells. Lives in dev->tls_cache. */
typedef struct {
    uint8_t digest[SHA256_DIGEST_LENGTH]; /* of the creds and CRL it was decoded from */
    STACK_OF(X509) * chain;               /* the identity certificate's chain, leaf first */
    EVP_PKEY *key;                        /* its private key */
    X509_STORE *store;                    /* the trust anchors (and CRL), shared by sessions */
    bool has_crl;                         /* the store holds the device's CRL */
} s_ident_t;

static void
s_ident_destroy(s_ident_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    s_ident_t *self = *self_p;
    sk_X509_pop_free(self->chain, X509_free);
    EVP_PKEY_free(self->key);
    X509_STORE_free(self->store);
    free(self);
    *self_p = NULL;
}

void
sim_cert_cache_free(sim_device_t *dev)
{
    s_ident_t *id = dev->tls_cache;
    s_ident_destroy(&id);
    dev->tls_cache = NULL;
}

static void
s_digest_field(EVP_MD_CTX *md, const void *data, size_t len)
{
    uint64_t n = len; /* length-prefixed: fields cannot run into each other */
    (void) EVP_DigestUpdate(md, &n, sizeof n);
    (void) EVP_DigestUpdate(md, data, len);
}

/* The digest of what the identity is decoded from, and the identity certificate's
 * cred (the first oic.sec.cred.cert). false when there is none. */
static bool
s_ident_digest(const sim_device_t *dev, const cmn_cred_t **ret_cert, uint8_t digest[32])
{
    const cmn_cred_t *cert = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < dev->creds.n_creds; i++) {
        const cmn_cred_t *c = &dev->creds.creds[i];
        if (c->credtype != CMN_CREDTYPE_CERT || c->pub_len == 0) {
            continue;
        }
        bool is_cert = strcmp(c->credusage, "oic.sec.cred.cert") == 0 && cert == NULL;
        if (is_cert || strcmp(c->credusage, "oic.sec.cred.trustca") == 0) {
            cert = is_cert ? c : cert;
            s_digest_field(md, c->credusage, strlen(c->credusage));
            s_digest_field(md, c->pub_data, c->pub_len);
            s_digest_field(md, c->priv_data, is_cert ? c->priv_len : 0);
        }
    }
    if (ok) {
        s_digest_field(md, dev->crl.der, dev->crl.der_len);
    }
    ok = ok && cert && EVP_DigestFinal_ex(md, digest, NULL) == 1;
    EVP_MD_CTX_free(md);
    if (ok) {
        *ret_cert = cert;
    }
    return ok;
}

/* Decodes the identity from the creds (the costly part: PEM chains, the key). NULL
 * when it is unusable (no anchor, no key, a key that is not the leaf's). */
static s_ident_t *
s_ident_new(const sim_device_t *dev, const cmn_cred_t *cert, const uint8_t digest[32])
{
    s_ident_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    memcpy(self->digest, digest, sizeof self->digest);
    self->store = X509_STORE_new();
    self->chain = cmn_cert_parse_pem(cert->pub_data, cert->pub_len);
    self->key = self->chain ? s_cert_key(dev, cert) : NULL;
    bool ok = self->store && self->key && sk_X509_num(self->chain) > 0 &&
              X509_check_private_key(sk_X509_value(self->chain, 0), self->key) == 1 &&
              s_add_anchors(self->store, &dev->creds) > 0;
    if (!ok) {
        s_ident_destroy(&self);
        return NULL;
    }
    self->has_crl = sim_crl_add_to_store(dev, self->store);
    return self;
}

/* dev's identity, decoded again only when its inputs changed; NULL if it has none. */
static const s_ident_t *
s_ident(sim_device_t *dev)
{
    const cmn_cred_t *cert = NULL;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    if (!s_ident_digest(dev, &cert, digest)) {
        return NULL;
    }
    s_ident_t *id = dev->tls_cache;
    if (id != NULL && memcmp(id->digest, digest, sizeof digest) == 0) {
        return id;
    }
    sim_cert_cache_free(dev);
    id = s_ident_new(dev, cert, digest);
    dev->tls_cache = id;
    return id;
}

bool
sim_cert_setup(sim_device_t *dev, void *tls)
{
    SSL *ssl = tls;
    const s_ident_t *id = s_ident(dev);
    bool ok = id && SSL_use_certificate(ssl, sk_X509_value(id->chain, 0)) == 1 &&
              SSL_use_PrivateKey(ssl, id->key) == 1;
    for (int i = 1; ok && i < sk_X509_num(id->chain); i++) {
        ok = SSL_add1_chain_cert(ssl, sk_X509_value(id->chain, i)) == 1;
    }
    if (ok) {
        /* the peer's certificate is checked against the CRL the CMS pushed (a revoked one
         * is refused); libcoap's context asks for a CRL of every certificate, which a
         * device without one cannot satisfy, so that check is ours to set */
        (void) X509_VERIFY_PARAM_clear_flags(SSL_get0_param(ssl),
                                             X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
        if (id->has_crl) {
            (void) X509_VERIFY_PARAM_set_flags(SSL_get0_param(ssl), X509_V_FLAG_CRL_CHECK);
        }
        ok = SSL_set1_verify_cert_store(ssl, id->store) == 1;
    }
    return ok;
}

/* Verifies chain (leaf first) against the trust anchors of in (may be NULL) and dev,
 * and dev's CRL when is_crl and it holds one, then the leaf's OCF end-entity profile.
 * NULL, or the reason (reason is its buffer, reason_len bytes). */
static const char *
s_verify_chain(const sim_device_t *dev,
               const cmn_creds_t *in,
               STACK_OF(X509) * chain,
               bool is_crl,
               char *reason,
               size_t reason_len)
{
    const char *why = NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *mid = chain ? sk_X509_dup(chain) : NULL;
    X509 *leaf = chain ? sk_X509_value(chain, 0) : NULL;
    if (store == NULL || ctx == NULL || leaf == NULL || mid == NULL) {
        why = "no PEM certificate in publicdata";
    } else if (s_add_anchors(store, in) + s_add_anchors(store, &dev->creds) == 0) {
        why = "no trust anchor for it";
    } else {
        if (is_crl && sim_crl_add_to_store(dev, store)) {
            (void) X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
        }
        if (X509_STORE_CTX_init(ctx, store, leaf, mid) != 1 || X509_verify_cert(ctx) != 1) {
            why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
        } else if (cmn_cert_check_end_entity(leaf, NULL, reason, reason_len) != CMN_OK) {
            why = reason;
        }
    }
    ERR_clear_error();
    sk_X509_free(mid);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return why;
}

bool
sim_cert_check_posted(const sim_device_t *dev, const cmn_creds_t *in, const cmn_cred_t *c)
{
    bool is_role = strcmp(c->credusage, CMN_CRED_USAGE_ROLECERT) == 0;
    if (c->credtype != CMN_CREDTYPE_CERT ||
        (strcmp(c->credusage, "oic.sec.cred.cert") != 0 && !is_role)) {
        return true;
    }
    char reason[200] = "";
    char role[64], authority[64];
    STACK_OF(X509) *chain = cmn_cert_parse_pem(c->pub_data, c->pub_len);
    X509 *leaf = chain ? sk_X509_value(chain, 0) : NULL;
    EVP_PKEY *key = NULL;
    const char *why = s_verify_chain(dev, in, chain, false, reason, sizeof reason);
    if (why == NULL && is_role &&
        cmn_cert_role(leaf, role, authority, reason, sizeof reason) != CMN_OK) {
        why = reason;
    } else if (why == NULL && !is_role &&
               ((key = s_cert_key(dev, c)) == NULL || X509_check_private_key(leaf, key) != 1)) {
        why = "its key is neither the device's nor the one sent with it";
    }
    ERR_clear_error();
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    if (why) {
        cmn_log_notice("SIM-CERT-REFUSED", "dev=%d %s certificate refused: %s", dev->idx,
                       is_role ? "role" : "identity", why);
    }
    return why == NULL;
}

bool
sim_role_verify(const sim_device_t *dev,
                const uint8_t *pem,
                size_t len,
                const void *peer_cert,
                sim_role_t *ret,
                char *why,
                size_t why_len)
{
    char reason[200] = "";
    sim_role_t r;
    STACK_OF(X509) *chain = cmn_cert_parse_pem(pem, len);
    X509 *leaf = chain ? sk_X509_value(chain, 0) : NULL;
    const char *bad = s_verify_chain(dev, NULL, chain, true, reason, sizeof reason);
    if (bad == NULL && cmn_cert_role(leaf, r.role, r.authority, reason, sizeof reason) != CMN_OK) {
        bad = reason;
    } else if (bad == NULL && peer_cert == NULL) {
        bad = "the session has no peer certificate: a role certificate is asserted over a "
              "certificate session";
    } else if (bad == NULL && EVP_PKEY_eq(X509_get0_pubkey(leaf),
                                          X509_get0_pubkey((const X509 *) peer_cert)) != 1) {
        bad = "its public key is not the key of the peer's certificate";
    }
    if (bad == NULL && r.authority[0] == '\0') {
        /* no OU: the issuer is the authority (OCF-NOTES 6.6) */
        X509_NAME *issuer = X509_get_issuer_name(leaf);
        if (X509_NAME_get_text_by_NID(issuer, NID_commonName, r.authority, sizeof r.authority) <
            0) {
            r.authority[0] = '\0';
        }
    }
    ERR_clear_error();
    sk_X509_pop_free(chain, X509_free);
    if (bad) {
        (void) snprintf(why, why_len, "%s", bad);
        return false;
    }
    *ret = r;
    return true;
}
