/* cms_ca.c — the domain's certificate authority of obt-cms (root or sub-CA) */
#include "cms_ca.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "cmn_time.h"

#define S_SERIAL_BYTES 16 /* 128 random bits, the top one cleared: >= 64 as asked */
#define S_DAY_S        86400L

struct cms_ca {
    X509 *cert;             /* our CA certificate */
    EVP_PKEY *key;          /* its private key */
    STACK_OF(X509) * upper; /* a sub-CA: the upper chain, its root last; NULL for a root */
};

static void s_why(char *why, size_t why_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
s_why(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
}

static bool
s_is_p256(EVP_PKEY *key)
{
    char group[64] = "";
    size_t len = 0;
    return key && EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
           EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &len) == 1 &&
           strcmp(group, SN_X9_62_prime256v1) == 0;
}

/* Adds one extension given in OpenSSL's config syntax ("critical,CA:TRUE"). */
static bool
s_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = ext && X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

cmn_err_t
cms_ca_new_serial(cmn_kv_txn_t *txn, BIGNUM **ret_bn, char ret_hex[65])
{
    for (int tries = 0; tries < 8; tries++) {
        uint8_t raw[S_SERIAL_BYTES];
        if (RAND_priv_bytes(raw, sizeof raw) != 1) {
            return CMN_ECRYPTO;
        }
        raw[0] &= 0x7f; /* positive (RFC 5280 4.1.2.2) */
        raw[0] |= 0x40; /* and no leading zero byte: always 16 bytes long */
        BIGNUM *bn = BN_bin2bn(raw, sizeof raw, NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        if (hex == NULL) {
            BN_free(bn);
            return CMN_ENOMEM;
        }
        for (char *p = hex; *p; p++) {
            *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        }
        void *val = NULL;
        size_t len = 0;
        cmn_err_t err = txn ? cmn_kv_get(txn, CMS_CA_DB_CERTS, hex, strlen(hex), &val, &len)
                            : CMN_ENOTFOUND;
        free(val);
        if (err == CMN_ENOTFOUND) {
            (void) snprintf(ret_hex, 65, "%s", hex);
            OPENSSL_free(hex);
            *ret_bn = bn;
            return CMN_OK;
        }
        OPENSSL_free(hex);
        BN_free(bn);
        if (err != CMN_OK) {
            return err;
        }
    }
    return CMN_EEXIST;
}

static bool
s_set_serial(X509 *cert, const BIGNUM *bn)
{
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    bool ok = ai && X509_set_serialNumber(cert, ai) == 1;
    ASN1_INTEGER_free(ai);
    return ok;
}

static bool
s_set_validity(X509 *cert, time_t from, int days)
{
    return X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &from) != NULL &&
           X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, &from) != NULL;
}

static EVP_PKEY *
s_new_p256(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", SN_X9_62_prime256v1);
}

/* The self-signed root of the domain (OCF-NOTES §6.6, "Root CAs"). */
static X509 *
s_make_root(EVP_PKEY *key, const char *cms_uuid, int days)
{
    char cn[96];
    BIGNUM *bn = NULL;
    char hex[65];
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    (void) snprintf(cn, sizeof cn, "OBT Domain CA %s", cms_uuid);
    bool ok = cert && name && cms_ca_new_serial(NULL, &bn, hex) == CMN_OK &&
              X509_set_version(cert, X509_VERSION_3) == 1 && s_set_serial(cert, bn) &&
              X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const uint8_t *) "OBT", -1, -1,
                                         0) == 1 &&
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *) cn, -1, -1,
                                         0) == 1 &&
              X509_set_subject_name(cert, name) == 1 && X509_set_issuer_name(cert, name) == 1 &&
              s_set_validity(cert, time(NULL), days) && X509_set_pubkey(cert, key) == 1 &&
              s_add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE") &&
              s_add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign") &&
              s_add_ext(cert, cert, NID_subject_key_identifier, "hash") &&
              X509_sign(cert, key, EVP_sha256()) > 0;
    BN_free(bn);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static cms_ca_t *
s_new(X509 *cert, EVP_PKEY *key, STACK_OF(X509) * upper)
{
    cms_ca_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        X509_free(cert);
        EVP_PKEY_free(key);
        sk_X509_pop_free(upper, X509_free);
        return NULL;
    }
    self->cert = cert;
    self->key = key;
    self->upper = upper;
    return self;
}

/* Reads a certificate (cert_rec of "ca") and its sealed key (key_rec of "secrets")
 * that match; ENOTFOUND when the certificate is absent, EPROTO when the pair is not
 * whole or does not match. */
static cmn_err_t
s_get_pair(cmn_kv_txn_t *txn,
           const cmn_seal_t *seal,
           const char *cert_rec,
           const char *key_rec,
           X509 **ret_cert,
           EVP_PKEY **ret_key)
{
    void *der = NULL, *kder = NULL;
    size_t len = 0, klen = 0;
    cmn_err_t err = cmn_kv_get(txn, CMS_CA_DB_CA, cert_rec, strlen(cert_rec), &der, &len);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_get_sealed(txn, seal, "secrets", key_rec, strlen(key_rec), &kder, &klen);
    if (err != CMN_OK) {
        free(der);
        return err == CMN_ENOTFOUND ? CMN_EPROTO : err; /* a certificate without its key */
    }
    const uint8_t *p = der;
    const uint8_t *kp = kder;
    X509 *cert = d2i_X509(NULL, &p, (long) len);
    EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &kp, (long) klen);
    free(der);
    cmn_kv_free_secret(kder, klen);
    if (cert == NULL || key == NULL || X509_check_private_key(cert, key) != 1) {
        X509_free(cert);
        EVP_PKEY_free(key);
        return CMN_EPROTO;
    }
    *ret_cert = cert;
    *ret_key = key;
    return CMN_OK;
}

/* Writes a certificate and its key (sealed) in txn, as s_get_pair reads them. */
static cmn_err_t
s_put_pair(cmn_kv_txn_t *txn,
           const cmn_seal_t *seal,
           const char *cert_rec,
           const char *key_rec,
           X509 *cert,
           EVP_PKEY *key)
{
    uint8_t *der = NULL, *kder = NULL;
    int len = i2d_X509(cert, &der);
    int klen = i2d_PrivateKey(key, &kder);
    cmn_err_t err = CMN_ENOMEM;
    if (len > 0 && klen > 0) {
        err = cmn_kv_put(txn, CMS_CA_DB_CA, cert_rec, strlen(cert_rec), der, (size_t) len);
        if (err == CMN_OK) {
            err = cmn_kv_put_sealed(txn, seal, "secrets", key_rec, strlen(key_rec), kder,
                                    (size_t) klen);
        }
    }
    OPENSSL_free(der);
    if (kder) {
        OPENSSL_clear_free(kder, (size_t) klen);
    }
    return err;
}

#define S_ROOT_CERT "cert"

cms_ca_t *
cms_ca_open_root(cmn_kv_t *kv,
                 const cmn_seal_t *seal,
                 const char *cms_uuid,
                 int validity_days,
                 bool *ret_created,
                 cmn_err_t *ret_err)
{
    cmn_kv_txn_t *txn = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    cmn_err_t err = cmn_kv_begin(kv, true, &txn);
    if (err != CMN_OK) {
        goto fail;
    }
    err = s_get_pair(txn, seal, S_ROOT_CERT, CMS_CA_KEY_RECORD, &cert, &key);
    if (err == CMN_OK) {
        cmn_kv_abort(&txn);
        *ret_created = false;
        return s_new(cert, key, NULL);
    }
    if (err != CMN_ENOTFOUND) {
        goto fail_abort;
    }
    err = CMN_ECRYPTO;
    if ((key = s_new_p256()) == NULL ||
        (cert = s_make_root(key, cms_uuid, validity_days)) == NULL) {
        goto fail_abort;
    }
    if ((err = s_put_pair(txn, seal, S_ROOT_CERT, CMS_CA_KEY_RECORD, cert, key)) != CMN_OK ||
        (err = cmn_kv_commit(&txn)) != CMN_OK) {
        goto fail_abort;
    }
    *ret_created = true;
    return s_new(cert, key, NULL);
fail_abort:
    cmn_kv_abort(&txn);
fail:
    X509_free(cert);
    EVP_PKEY_free(key);
    *ret_err = err;
    return NULL;
}

static EVP_PKEY *
s_read_key(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    (void) fclose(fp);
    return key;
}

static STACK_OF(X509) * s_read_chain(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x = NULL;
    while (sk && (x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            break;
        }
    }
    ERR_clear_error(); /* the end of the file reads as an error */
    (void) fclose(fp);
    if (sk && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return NULL;
    }
    return sk;
}

/* The chain verifies to its own root at now, pathLenConstraint included. */
static bool
s_verify_chain(STACK_OF(X509) * chain, time_t now, char *why, size_t why_len)
{
    int n = sk_X509_num(chain);
    X509 *root = sk_X509_value(chain, n - 1);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *mid = sk_X509_new_null();
    bool ok = false;
    for (int i = 1; mid && i < n - 1; i++) {
        (void) sk_X509_push(mid, sk_X509_value(chain, i));
    }
    if (store && ctx && mid && X509_STORE_add_cert(store, root) == 1 &&
        X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), mid) == 1) {
        X509_STORE_CTX_set_time(ctx, 0, now);
        /* our CA is a CA certificate: check it as one would be checked below a leaf */
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
        ok = X509_verify_cert(ctx) == 1;
        if (!ok) {
            s_why(why, why_len, "the chain does not verify to its root: %s",
                  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        }
    } else {
        s_why(why, why_len, "out of memory");
    }
    sk_X509_free(mid);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

cms_ca_t *
cms_ca_open_sub(const char *chain_path, const char *key_path, time_t now, char *why, size_t why_len)
{
    STACK_OF(X509) *chain = s_read_chain(chain_path);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    if (chain == NULL) {
        s_why(why, why_len, "--ca-cert %s: cannot read a PEM certificate from it", chain_path);
        goto fail;
    }
    if ((key = s_read_key(key_path)) == NULL) {
        s_why(why, why_len, "--ca-key %s: cannot read an unencrypted PEM private key from it",
              key_path);
        goto fail;
    }
    cert = sk_X509_value(chain, 0);
    X509 *root = sk_X509_value(chain, sk_X509_num(chain) - 1);
    uint32_t kusage = X509_get_key_usage(cert);
    if (X509_check_private_key(cert, key) != 1) {
        s_why(why, why_len, "--ca-key does not match the first certificate of --ca-cert");
    } else if (!s_is_p256(key)) {
        s_why(why, why_len, "the CA key is not an EC P-256 key");
    } else if (X509_check_ca(cert) != 1 || !(X509_get_extension_flags(cert) & EXFLAG_CA)) {
        s_why(why, why_len, "the CA certificate is not a CA (basicConstraints CA:TRUE)");
    } else if (kusage != UINT32_MAX && !(kusage & KU_KEY_CERT_SIGN)) {
        s_why(why, why_len, "the CA certificate's keyUsage lacks keyCertSign");
    } else if (X509_cmp_time(X509_get0_notAfter(cert), &now) <= 0) {
        s_why(why, why_len, "the CA certificate has expired");
    } else if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0) {
        s_why(why, why_len, "the CA certificate is not valid yet");
    } else if (sk_X509_num(chain) < 2 || X509_check_issued(root, root) != X509_V_OK) {
        s_why(why, why_len,
              "--ca-cert must hold the upper chain up to its self-signed root after our CA");
    } else if (s_verify_chain(chain, now, why, why_len)) {
        X509 *ours = sk_X509_shift(chain);
        return s_new(ours, key, chain);
    }
fail:
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return NULL;
}

void
cms_ca_destroy(cms_ca_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cms_ca_t *self = *self_p;
    X509_free(self->cert);
    EVP_PKEY_free(self->key);
    sk_X509_pop_free(self->upper, X509_free);
    free(self);
    *self_p = NULL;
}

X509 *
cms_ca_cert(const cms_ca_t *self)
{
    return self->cert;
}

bool
cms_ca_is_sub(const cms_ca_t *self)
{
    return self->upper != NULL;
}

X509 *
cms_ca_anchor(const cms_ca_t *self)
{
    return self->upper ? sk_X509_value(self->upper, sk_X509_num(self->upper) - 1) : self->cert;
}

/* What a memory BIO holds, as a NUL-terminated string (malloc'd; a secret is wiped
 * with OPENSSL_cleanse before free); frees b. NULL on failure. */
static char *
s_bio_text(BIO *b, bool is_ok, size_t *ret_len)
{
    char *data = NULL, *out = NULL;
    long n = b && is_ok ? BIO_get_mem_data(b, &data) : -1;
    if (n >= 0 && (out = calloc(1, (size_t) n + 1)) != NULL) {
        memcpy(out, data, (size_t) n);
        *ret_len = (size_t) n;
    }
    BIO_free(b);
    return out;
}

cmn_err_t
cms_ca_pem(X509 *cert, char **ret_pem, size_t *ret_len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = s_bio_text(b, b && PEM_write_bio_X509(b, cert) == 1, ret_len);
    if (out) {
        *ret_pem = out;
    }
    return out ? CMN_OK : CMN_ENOMEM;
}

cmn_err_t
cms_ca_chain_pem(const cms_ca_t *self, char **ret_pem, size_t *ret_len, size_t *ret_count)
{
    BIO *b = BIO_new(BIO_s_mem());
    bool ok = b && PEM_write_bio_X509(b, self->cert) == 1;
    size_t count = 1;
    for (int i = 0; ok && self->upper && i < sk_X509_num(self->upper); i++, count++) {
        ok = PEM_write_bio_X509(b, sk_X509_value(self->upper, i)) == 1;
    }
    char *out = s_bio_text(b, ok, ret_len);
    if (out) {
        *ret_pem = out;
        *ret_count = count;
    }
    return out ? CMN_OK : CMN_ENOMEM;
}

cmn_err_t
cms_ca_leaf_chain_pem(const cms_ca_t *self, X509 *leaf, char **ret_pem)
{
    char *leaf_pem = NULL, *chain = NULL, *full = NULL;
    size_t llen = 0, clen = 0, count = 0;
    cmn_err_t err = CMN_ENOMEM;
    if (cms_ca_pem(leaf, &leaf_pem, &llen) == CMN_OK &&
        cms_ca_chain_pem(self, &chain, &clen, &count) == CMN_OK &&
        (full = malloc(llen + clen + 1)) != NULL) {
        memcpy(full, leaf_pem, llen);
        memcpy(full + llen, chain, clen + 1);
        *ret_pem = full;
        err = CMN_OK;
    }
    free(leaf_pem);
    free(chain);
    return err;
}

const char *
cms_cert_usage_name(cms_cert_usage_t usage)
{
    static const char *const names[CMS_CERT_COUNT] = {"identity", "cms-identity", "role"};
    return usage < CMS_CERT_COUNT ? names[usage] : "?";
}

/* The role of a role certificate: subjectAltName directoryName CN=role[, OU=authority]. */
static bool
s_add_role(X509 *cert, const char *role, const char *authority)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *g = GENERAL_NAME_new();
    X509_NAME *dn = X509_NAME_new();
    bool ok = gens && g && dn &&
              X509_NAME_add_entry_by_txt(dn, "CN", MBSTRING_UTF8, (const uint8_t *) role, -1, -1,
                                         0) == 1 &&
              (authority[0] == '\0' ||
               X509_NAME_add_entry_by_txt(dn, "OU", MBSTRING_UTF8, (const uint8_t *) authority, -1,
                                          -1, 0) == 1);
    if (ok) {
        GENERAL_NAME_set0_value(g, GEN_DIRNAME, dn);
        dn = NULL;
        ok = sk_GENERAL_NAME_push(gens, g) > 0;
        g = ok ? NULL : g;
    }
    ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
    X509_NAME_free(dn);
    GENERAL_NAME_free(g);
    GENERAL_NAMES_free(gens);
    return ok;
}

/* The OCF identity end-entity certificate (OCF-NOTES §6.6), or with role (not NULL) the
 * role certificate: the role EKU and the role in its subjectAltName. */
static X509 *
s_make_identity(const cms_ca_t *self,
                EVP_PKEY *pub,
                const cmn_uuid_t *subject,
                const BIGNUM *serial,
                time_t from,
                int days,
                const char *role,
                const char *authority)
{
    char cn[48];
    char ustr[37];
    cmn_uuid_to_str(subject, ustr);
    (void) snprintf(cn, sizeof cn, "uuid:%s", ustr);
    X509 *cert = X509_new();
    X509_NAME *name = X509_NAME_new();
    bool ok =
            cert && name && X509_set_version(cert, X509_VERSION_3) == 1 &&
            s_set_serial(cert, serial) &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *) cn, -1, -1, 0) ==
                    1 &&
            X509_set_subject_name(cert, name) == 1 &&
            X509_set_issuer_name(cert, X509_get_subject_name(self->cert)) == 1 &&
            s_set_validity(cert, from, days) && X509_set_pubkey(cert, pub) == 1 &&
            s_add_ext(cert, self->cert, NID_basic_constraints, "critical,CA:FALSE") &&
            s_add_ext(cert, self->cert, NID_key_usage, "critical,digitalSignature,keyAgreement") &&
            s_add_ext(cert, self->cert, NID_ext_key_usage,
                      role ? "serverAuth,clientAuth," CMN_CERT_EKU_OCF_ROLE
                           : "serverAuth,clientAuth," CMN_CERT_EKU_OCF_IDENTITY) &&
            (role == NULL || s_add_role(cert, role, authority)) &&
            s_add_ext(cert, self->cert, NID_subject_key_identifier, "hash") &&
            s_add_ext(cert, self->cert, NID_authority_key_identifier, "keyid:always") &&
            X509_sign(cert, self->key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static uint64_t
s_asn1_ms(const ASN1_TIME *t)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return (uint64_t) timegm(&tm) * 1000u;
}

/* cms_ca_issue and cms_ca_issue_role: role NULL for an identity certificate. */
static cmn_err_t
s_issue(cms_ca_t *self,
        cmn_kv_t *kv,
        EVP_PKEY *pub,
        const cmn_uuid_t *subject,
        cms_cert_usage_t usage,
        const char *role,
        const char *authority,
        int validity_days,
        X509 **ret_cert,
        char ret_serial[65])
{
    cmn_kv_txn_t *txn = NULL;
    BIGNUM *bn = NULL;
    X509 *cert = NULL;
    uint8_t *der = NULL;
    char hex[65], ustr[37], fp[65];
    if (!s_is_p256(pub)) {
        return CMN_ECRYPTO;
    }
    cmn_err_t err = cmn_kv_begin(kv, true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    if ((err = cms_ca_new_serial(txn, &bn, hex)) != CMN_OK) {
        goto out_abort;
    }
    err = CMN_ECRYPTO;
    cert = s_make_identity(self, pub, subject, bn, time(NULL), validity_days, role, authority);
    int len = cert ? i2d_X509(cert, &der) : -1;
    uint8_t md[32];
    unsigned mdlen = 0;
    if (len <= 0 || X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
        goto out_abort;
    }
    for (unsigned i = 0; i < 32; i++) {
        (void) snprintf(fp + 2 * i, 3, "%02x", md[i]);
    }
    Obt__Store__CmsCert rec = OBT__STORE__CMS_CERT__INIT;
    cmn_uuid_to_str(subject, ustr);
    rec.version = 1;
    rec.serial = hex;
    rec.subject_uuid = ustr;
    rec.usage = (char *) (uintptr_t) cms_cert_usage_name(usage);
    rec.not_before_ms = s_asn1_ms(X509_get0_notBefore(cert));
    rec.not_after_ms = s_asn1_ms(X509_get0_notAfter(cert));
    rec.status = (char *) (uintptr_t) "issued";
    rec.der.data = der;
    rec.der.len = (size_t) len;
    rec.issued_ms = cmn_time_wall_ms();
    rec.fingerprint = fp;
    rec.role = (char *) (uintptr_t) (role ? role : "");
    rec.authority = (char *) (uintptr_t) (authority ? authority : "");
    if ((err = cmn_kv_put_pb(txn, CMS_CA_DB_CERTS, hex, &rec.base)) != CMN_OK ||
        (err = cmn_kv_commit(&txn)) != CMN_OK) {
        goto out_abort;
    }
    (void) snprintf(ret_serial, 65, "%s", hex);
    *ret_cert = cert;
    cert = NULL;
out_abort:
    cmn_kv_abort(&txn);
    OPENSSL_free(der);
    X509_free(cert);
    BN_free(bn);
    return err;
}

cmn_err_t
cms_ca_issue(cms_ca_t *self,
             cmn_kv_t *kv,
             EVP_PKEY *pub,
             const cmn_uuid_t *subject,
             cms_cert_usage_t usage,
             int validity_days,
             X509 **ret_cert,
             char ret_serial[65])
{
    return s_issue(self, kv, pub, subject, usage, NULL, NULL, validity_days, ret_cert, ret_serial);
}

cmn_err_t
cms_ca_issue_role(cms_ca_t *self,
                  cmn_kv_t *kv,
                  EVP_PKEY *pub,
                  const cmn_uuid_t *subject,
                  const char *role,
                  const char *authority,
                  int validity_days,
                  X509 **ret_cert,
                  char ret_serial[65])
{
    return s_issue(self, kv, pub, subject, CMS_CERT_ROLE, role, authority, validity_days, ret_cert,
                   ret_serial);
}

void
cms_ca_serial_hex(const X509 *x, char ret[65])
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    (void) snprintf(ret, 65, "%s", hex ? hex : "");
    for (char *p = ret; *p; p++) {
        *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    }
    OPENSSL_free(hex);
    BN_free(bn);
}

cmn_err_t
cms_ca_set_status(cmn_kv_t *kv, const char *serial, const char *status)
{
    cmn_kv_txn_t *txn = NULL;
    Obt__Store__CmsCert *rec = NULL;
    cmn_err_t err = cmn_kv_begin(kv, true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_get_pb(txn, CMS_CA_DB_CERTS, serial, &obt__store__cms_cert__descriptor,
                        (ProtobufCMessage **) &rec);
    if (err == CMN_OK) {
        char *old = rec->status;
        rec->status = (char *) (uintptr_t) status;
        err = cmn_kv_put_pb(txn, CMS_CA_DB_CERTS, serial, &rec->base);
        rec->status = old;
        obt__store__cms_cert__free_unpacked(rec, NULL);
    }
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

typedef struct {
    const char *uuid;
    cms_ca_each_fn *fn;
    void *arg;
} s_each_t;

static int
s_each(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    (void) key;
    (void) key_len;
    s_each_t *e = arg;
    Obt__Store__CmsCert *rec = obt__store__cms_cert__unpack(NULL, val_len, val);
    if (rec && (e->uuid == NULL || e->uuid[0] == '\0' || strcmp(e->uuid, rec->subject_uuid) == 0)) {
        e->fn(rec, e->arg);
    }
    if (rec) {
        obt__store__cms_cert__free_unpacked(rec, NULL);
    }
    return 0;
}

cmn_err_t
cms_ca_each_cert(cmn_kv_t *kv, const char *device_uuid, cms_ca_each_fn *fn, void *arg)
{
    cmn_kv_txn_t *txn = NULL;
    s_each_t e = {device_uuid, fn, arg};
    cmn_err_t err = cmn_kv_begin(kv, false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_each(txn, CMS_CA_DB_CERTS, s_each, &e);
    cmn_kv_abort(&txn);
    return err;
}

#define S_OWN_CERT "cms-cert"
#define S_OWN_KEY  "cms-key"

/* The stored identity of CMS, if it is still good under this CA. */
static bool
s_load_own(
        cms_ca_t *self, cmn_kv_t *kv, const cmn_seal_t *seal, X509 **ret_cert, EVP_PKEY **ret_key)
{
    cmn_kv_txn_t *txn = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    if (cmn_kv_begin(kv, false, &txn) != CMN_OK) {
        return false;
    }
    bool ok = s_get_pair(txn, seal, S_OWN_CERT, S_OWN_KEY, &cert, &key) == CMN_OK;
    cmn_kv_abort(&txn);
    time_t soon = time(NULL) + S_DAY_S;
    if (ok && (X509_verify(cert, X509_get0_pubkey(self->cert)) != 1 ||
               X509_cmp_time(X509_get0_notAfter(cert), &soon) <= 0)) {
        ok = false; /* another CA's (a sub-CA now), or about to expire: a new one */
    }
    if (!ok) {
        X509_free(cert);
        EVP_PKEY_free(key);
        return false;
    }
    *ret_cert = cert;
    *ret_key = key;
    return true;
}

static cmn_err_t
s_store_own(cmn_kv_t *kv, const cmn_seal_t *seal, X509 *cert, EVP_PKEY *key)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(kv, true, &txn);
    if (err == CMN_OK) {
        err = s_put_pair(txn, seal, S_OWN_CERT, S_OWN_KEY, cert, key);
    }
    if (err == CMN_OK) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

static char *
s_key_pem(EVP_PKEY *key)
{
    BIO *b = BIO_new(BIO_s_secmem());
    size_t len = 0;
    return s_bio_text(b, b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1,
                      &len);
}

cmn_err_t
cms_ca_own_identity(cms_ca_t *self,
                    cmn_kv_t *kv,
                    const cmn_seal_t *seal,
                    const char *cms_uuid,
                    int validity_days,
                    char **ret_chain,
                    char **ret_key)
{
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    char serial[65];
    cmn_err_t err = CMN_OK;
    if (!s_load_own(self, kv, seal, &cert, &key)) {
        cmn_uuid_t u;
        if (cmn_uuid_from_str(cms_uuid, &u) != CMN_OK) {
            return CMN_EINVAL;
        }
        key = s_new_p256();
        err = key ? cms_ca_issue(self, kv, key, &u, CMS_CERT_CMS_IDENTITY, validity_days, &cert,
                                 serial)
                  : CMN_ECRYPTO;
        if (err == CMN_OK) {
            err = s_store_own(kv, seal, cert, key);
        }
        if (err == CMN_OK) {
            err = cms_ca_set_status(kv, serial, "active");
        }
    }
    char *leaf = NULL, *chain = NULL;
    size_t llen = 0, clen = 0, count = 0;
    char *out = NULL, *kpem = NULL;
    if (err == CMN_OK && (err = cms_ca_pem(cert, &leaf, &llen)) == CMN_OK &&
        (err = cms_ca_chain_pem(self, &chain, &clen, &count)) == CMN_OK) {
        out = malloc(llen + clen + 1);
        kpem = s_key_pem(key);
        if (out && kpem) {
            memcpy(out, leaf, llen);
            memcpy(out + llen, chain, clen + 1);
            *ret_chain = out;
            *ret_key = kpem;
            out = NULL;
            kpem = NULL;
        } else {
            err = CMN_ENOMEM;
        }
    }
    free(out);
    if (kpem) {
        OPENSSL_cleanse(kpem, strlen(kpem));
        free(kpem);
    }
    free(leaf);
    free(chain);
    X509_free(cert);
    EVP_PKEY_free(key);
    return err;
}

int
cms_ca_reason_code(const char *name)
{
    static const struct {
        const char *name;
        int code;
    } reasons[] = {
            {"", CRL_REASON_UNSPECIFIED},
            {"unspecified", CRL_REASON_UNSPECIFIED},
            {"keyCompromise", CRL_REASON_KEY_COMPROMISE},
            {"affiliationChanged", CRL_REASON_AFFILIATION_CHANGED},
            {"superseded", CRL_REASON_SUPERSEDED},
            {"cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION},
    };
    for (size_t i = 0; name && i < sizeof reasons / sizeof reasons[0]; i++) {
        if (strcmp(name, reasons[i].name) == 0) {
            return reasons[i].code;
        }
    }
    return -1;
}

typedef struct {
    const char *target;
    bool with_roles;      /* a device target: its role certificates too */
    char serials[64][65]; /* to revoke */
    size_t n;
    size_t n_role; /* of them, role certificates */
} s_revoke_t;

/* Whether c is one of device target's certificates the revocation takes: an identity
 * certificate still in use, or (with_roles) a role certificate still in use. */
static bool
s_is_device_match(const s_revoke_t *r, const Obt__Store__CmsCert *c)
{
    bool in_use = strcmp(c->status, "issued") == 0 || strcmp(c->status, "active") == 0;
    bool is_usage =
            strcmp(c->usage, "identity") == 0 || (r->with_roles && strcmp(c->usage, "role") == 0);
    return in_use && is_usage && strcmp(c->subject_uuid, r->target) == 0;
}

static void
s_collect_revoke(const Obt__Store__CmsCert *c, void *arg)
{
    s_revoke_t *r = arg;
    bool is_match = strcmp(c->serial, r->target) == 0 || s_is_device_match(r, c);
    if (is_match && strcmp(c->status, "revoked") != 0 && r->n < 64) {
        (void) snprintf(r->serials[r->n++], 65, "%s", c->serial);
        r->n_role += strcmp(c->usage, "role") == 0;
    }
}

cmn_err_t
cms_ca_revoke(cmn_kv_t *kv, const char *target, int reason, size_t *ret_count)
{
    return cms_ca_revoke_with(kv, target, reason, NULL, NULL, ret_count);
}

#define S_CRL_NUMBER "crl-number"

/* The stored CRL number, 0 if none yet. */
static uint64_t
s_crl_number(cmn_kv_txn_t *txn)
{
    void *val = NULL;
    size_t len = 0;
    uint64_t n = 0;
    if (cmn_kv_get(txn, CMS_CA_DB_CA, S_CRL_NUMBER, strlen(S_CRL_NUMBER), &val, &len) == CMN_OK) {
        for (size_t i = 0; len == 8 && i < 8; i++) {
            n = n << 8 | ((const uint8_t *) val)[i];
        }
        free(val);
    }
    return n;
}

cmn_err_t
cms_ca_crl_bump(cmn_kv_txn_t *txn, uint64_t *ret_number)
{
    uint64_t now = (uint64_t) time(NULL);
    uint64_t old = s_crl_number(txn);
    uint64_t n = old + 1 > now ? old + 1 : now;
    uint8_t be[8];
    for (size_t i = 0; i < 8; i++) {
        be[i] = (uint8_t) (n >> (56 - 8 * i));
    }
    cmn_err_t err = cmn_kv_put(txn, CMS_CA_DB_CA, S_CRL_NUMBER, strlen(S_CRL_NUMBER), be, 8);
    if (err == CMN_OK) {
        *ret_number = n;
    }
    return err;
}

uint64_t
cms_ca_crl_number_in(cmn_kv_txn_t *txn)
{
    return s_crl_number(txn);
}

cmn_err_t
cms_ca_crl_number(cmn_kv_t *kv, uint64_t *ret_number)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(kv, false, &txn);
    if (err == CMN_OK) {
        *ret_number = s_crl_number(txn);
        cmn_kv_abort(&txn);
    }
    return err;
}

/* Collects what r (target lowered) takes, then revokes it all in one write, in_txn
 * inside it. */
static cmn_err_t
s_revoke(cmn_kv_t *kv,
         s_revoke_t *r,
         const char *target,
         int reason,
         cms_ca_in_txn_fn *in_txn,
         void *arg)
{
    char lower[65];
    (void) snprintf(lower, sizeof lower, "%s", target);
    for (char *p = lower; *p; p++) {
        *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    }
    r->target = lower;
    cmn_err_t err = cms_ca_each_cert(kv, NULL, s_collect_revoke, r);
    cmn_kv_txn_t *txn = NULL;
    if (err == CMN_OK && r->n == 0) {
        err = CMN_ENOTFOUND;
    }
    if (err == CMN_OK) {
        err = cmn_kv_begin(kv, true, &txn);
    }
    for (size_t i = 0; err == CMN_OK && i < r->n; i++) {
        Obt__Store__CmsCert *rec = NULL;
        err = cmn_kv_get_pb(txn, CMS_CA_DB_CERTS, r->serials[i], &obt__store__cms_cert__descriptor,
                            (ProtobufCMessage **) &rec);
        if (err == CMN_OK) {
            char *old = rec->status;
            rec->status = (char *) (uintptr_t) "revoked";
            rec->revoked_ms = cmn_time_wall_ms();
            rec->revoke_reason = reason;
            err = cmn_kv_put_pb(txn, CMS_CA_DB_CERTS, r->serials[i], &rec->base);
            rec->status = old;
            obt__store__cms_cert__free_unpacked(rec, NULL);
        }
    }
    if (err == CMN_OK && txn && in_txn) {
        err = in_txn(txn, arg);
    }
    if (err == CMN_OK && txn) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

/* s_revoke on a fresh s_revoke_t (large: on the heap). */
static cmn_err_t
s_revoke_new(cmn_kv_t *kv,
             const char *target,
             bool with_roles,
             int reason,
             cms_ca_in_txn_fn *in_txn,
             void *arg,
             size_t *ret_count,
             size_t *ret_role)
{
    s_revoke_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return CMN_ENOMEM;
    }
    r->with_roles = with_roles;
    cmn_err_t err = s_revoke(kv, r, target, reason, in_txn, arg);
    if (err == CMN_OK) {
        *ret_count = r->n;
        *ret_role = r->n_role;
    }
    free(r);
    return err;
}

cmn_err_t
cms_ca_revoke_with(cmn_kv_t *kv,
                   const char *target,
                   int reason,
                   cms_ca_in_txn_fn *in_txn,
                   void *arg,
                   size_t *ret_count)
{
    size_t n_role = 0;
    return s_revoke_new(kv, target, false, reason, in_txn, arg, ret_count, &n_role);
}

cmn_err_t
cms_ca_revoke_device(cmn_kv_t *kv,
                     const char *uuid,
                     int reason,
                     cms_ca_in_txn_fn *in_txn,
                     void *arg,
                     size_t *ret_identity,
                     size_t *ret_role)
{
    size_t n = 0;
    cmn_err_t err = s_revoke_new(kv, uuid, true, reason, in_txn, arg, &n, ret_role);
    if (err == CMN_OK) {
        *ret_identity = n - *ret_role;
    }
    return err;
}

typedef struct {
    X509_CRL *crl;
    bool failed;
} s_crl_t;

static void
s_add_revoked(const Obt__Store__CmsCert *c, void *arg)
{
    s_crl_t *x = arg;
    if (strcmp(c->status, "revoked") != 0) {
        return;
    }
    BIGNUM *bn = NULL;
    X509_REVOKED *rev = X509_REVOKED_new();
    ASN1_INTEGER *serial = BN_hex2bn(&bn, c->serial) > 0 ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t) (c->revoked_ms / 1000u));
    ASN1_ENUMERATED *code = ASN1_ENUMERATED_new();
    bool ok = rev && serial && when && code && X509_REVOKED_set_serialNumber(rev, serial) == 1 &&
              X509_REVOKED_set_revocationDate(rev, when) == 1 &&
              ASN1_ENUMERATED_set(code, c->revoke_reason) == 1 &&
              X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, code, 0, 0) == 1 &&
              X509_CRL_add0_revoked(x->crl, rev) == 1;
    if (ok) {
        rev = NULL; /* the CRL's */
    }
    x->failed |= !ok;
    X509_REVOKED_free(rev);
    ASN1_ENUMERATED_free(code);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
}

cmn_err_t
cms_ca_crl(cms_ca_t *self, cmn_kv_t *kv, long next_update_s, X509_CRL **ret_crl)
{
    time_t now = time(NULL);
    uint64_t stored = 0;
    if (cms_ca_crl_number(kv, &stored) != CMN_OK) {
        return CMN_ESTORE;
    }
    s_crl_t x = {X509_CRL_new(), false};
    ASN1_TIME *last = ASN1_TIME_set(NULL, now);
    ASN1_TIME *next = ASN1_TIME_adj(NULL, now, 0, next_update_s);
    ASN1_INTEGER *number = ASN1_INTEGER_new();
    bool ok = x.crl && last && next && number && X509_CRL_set_version(x.crl, X509_CRL_VERSION_2) &&
              X509_CRL_set_issuer_name(x.crl, X509_get_subject_name(self->cert)) == 1 &&
              X509_CRL_set1_lastUpdate(x.crl, last) == 1 &&
              X509_CRL_set1_nextUpdate(x.crl, next) == 1 &&
              ASN1_INTEGER_set_uint64(number, stored ? stored : (uint64_t) now) == 1 &&
              X509_CRL_add1_ext_i2d(x.crl, NID_crl_number, number, 0, 0) == 1;
    cmn_err_t err = ok ? cms_ca_each_cert(kv, NULL, s_add_revoked, &x) : CMN_ENOMEM;
    if (err == CMN_OK && (x.failed || X509_CRL_sort(x.crl) != 1 ||
                          X509_CRL_sign(x.crl, self->key, EVP_sha256()) <= 0)) {
        err = CMN_ECRYPTO;
    }
    ASN1_INTEGER_free(number);
    ASN1_TIME_free(next);
    ASN1_TIME_free(last);
    if (err != CMN_OK) {
        X509_CRL_free(x.crl);
        return err;
    }
    *ret_crl = x.crl;
    return CMN_OK;
}
