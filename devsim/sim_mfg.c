/* sim_mfg.c — the simulated devices' manufacturer certificates */
#include "sim_mfg.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmn_cert.h"

const char *const SIM_MFG_KIND_NAMES[SIM_MFG_KIND_COUNT] = {
        "good", "expired", "bad-ku", "no-ocf-eku", "untrusted", "ca-leaf", "other-uuid", "bad-sig"};

cmn_err_t
sim_mfg_kind_parse(const char *name, sim_mfg_kind_t *ret)
{
    for (int k = 0; name && k < SIM_MFG_KIND_COUNT; k++) {
        if (strcmp(name, SIM_MFG_KIND_NAMES[k]) == 0) {
            *ret = (sim_mfg_kind_t) k;
            return CMN_OK;
        }
    }
    return CMN_EINVAL;
}

struct sim_mfg_ca {
    X509 *cert;             /* the issuer */
    STACK_OF(X509) * chain; /* issuer first, then the rest of the given bundle */
    EVP_PKEY *key;          /* the issuer's key */
};

static EVP_PKEY *
s_read_key(const char *path)
{
    FILE *fp = fopen(path, "r");
    EVP_PKEY *key = fp ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : NULL;
    if (fp) {
        (void) fclose(fp);
    }
    return key;
}

static STACK_OF(X509) * s_read_certs(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return NULL;
    }
    uint8_t *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, fp) : 0;
    (void) fclose(fp);
    STACK_OF(X509) *sk = n > 0 ? cmn_cert_parse_pem(buf, n) : NULL;
    free(buf);
    return sk;
}

sim_mfg_ca_t *
sim_mfg_ca_load(const char *ca_pem, const char *key_pem, cmn_err_t *ret_err)
{
    sim_mfg_ca_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        *ret_err = CMN_ENOMEM;
        return NULL;
    }
    self->chain = s_read_certs(ca_pem);
    self->key = s_read_key(key_pem);
    if (self->chain == NULL || self->key == NULL ||
        X509_check_private_key(sk_X509_value(self->chain, 0), self->key) != 1) {
        sim_mfg_ca_destroy(&self);
        *ret_err = CMN_EINVAL;
        return NULL;
    }
    self->cert = sk_X509_value(self->chain, 0);
    *ret_err = CMN_OK;
    return self;
}

void
sim_mfg_ca_destroy(sim_mfg_ca_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    sim_mfg_ca_t *self = *self_p;
    sk_X509_pop_free(self->chain, X509_free);
    EVP_PKEY_free(self->key);
    free(self);
    *self_p = NULL;
}

static int
s_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* Fills x (a new certificate for key) up to its signature: random positive serial,
 * version 3, validity [now+from, now+to], subject CN=cn, issuer = issuer's subject
 * (x's own for a self-signed one, issuer NULL). Returns 1 on success. */
static int
s_fill(X509 *x, EVP_PKEY *key, const char *cn, X509 *issuer, long from, long to)
{
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) {
        return 0;
    }
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    X509_NAME *subject = X509_get_subject_name(x);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
             X509_set_version(x, X509_VERSION_3) == 1 &&
             X509_gmtime_adj(X509_getm_notBefore(x), from) &&
             X509_gmtime_adj(X509_getm_notAfter(x), to) && X509_set_pubkey(x, key) == 1 &&
             X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1,
                                        -1, 0) == 1 &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject) == 1;
    BN_free(bn);
    return ok;
}

/* Returns a copy of *x whose signature's last byte has its low bit flipped, and frees
 * the original: in DER the signature BIT STRING ends the certificate, the ECDSA value
 * stays well-formed (its last INTEGER changes), the copy parses, and its issuer's key no
 * longer verifies it. */
static int
s_spoil_signature(X509 **x)
{
    unsigned char *der = NULL;
    int len = i2d_X509(*x, &der);
    X509 *spoilt = NULL;
    if (len > 0) {
        der[len - 1] ^= 0x01;
        const unsigned char *p = der;
        spoilt = d2i_X509(NULL, &p, len);
    }
    OPENSSL_free(der);
    if (spoilt == NULL) {
        return 0;
    }
    X509_free(*x);
    *x = spoilt;
    return 1;
}

/* Issues a leaf of the given kind for uuid. */
static cmn_err_t
s_issue(const sim_mfg_ca_t *ca, const cmn_uuid_t *uuid, sim_mfg_kind_t kind, sim_mfg_cred_t *ret)
{
    char cn[64], u[CMN_UUID_STR_LEN + 1];
    cmn_uuid_t other;
    if (kind == SIM_MFG_OTHER_UUID && cmn_uuid_generate(&other) != CMN_OK) {
        return CMN_ECRYPTO;
    }
    cmn_uuid_to_str(kind == SIM_MFG_OTHER_UUID ? &other : uuid, u);
    (void) snprintf(cn, sizeof cn, "uuid:%s", u);
    const char *ku = kind == SIM_MFG_BAD_KU ? "critical,digitalSignature"
                                            : "critical,digitalSignature,keyAgreement";
    const char *eku = kind == SIM_MFG_NO_OCF_EKU
                              ? "serverAuth,clientAuth"
                              : "serverAuth,clientAuth," CMN_CERT_EKU_OCF_IDENTITY;
    long from = kind == SIM_MFG_EXPIRED ? -7200 : -3600;
    long to = kind == SIM_MFG_EXPIRED ? -3600 : 10L * 365 * 24 * 3600;
    ret->key = EVP_EC_gen("P-256");
    ret->leaf = X509_new();
    X509 *x = ret->leaf;
    int ok = ret->key && x && s_fill(x, ret->key, cn, ca->cert, from, to) &&
             s_ext(x, ca->cert, NID_basic_constraints,
                   kind == SIM_MFG_CA_LEAF ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
             s_ext(x, ca->cert, NID_key_usage, ku) && s_ext(x, ca->cert, NID_ext_key_usage, eku) &&
             s_ext(x, ca->cert, NID_authority_key_identifier, "keyid") &&
             X509_sign(x, ca->key, EVP_sha256()) > 0 &&
             (kind != SIM_MFG_BAD_SIG || s_spoil_signature(&ret->leaf));
    ret->chain = ok ? sk_X509_new_null() : NULL;
    for (int i = 0; ret->chain && i < sk_X509_num(ca->chain); i++) {
        X509 *c = sk_X509_value(ca->chain, i);
        if (X509_up_ref(c) != 1 || sk_X509_push(ret->chain, c) <= 0) {
            ok = 0;
        }
    }
    if (!ok || ret->chain == NULL) {
        sim_mfg_cred_free(ret);
        return CMN_ECRYPTO;
    }
    return CMN_OK;
}

/* Writes path atomically (tmp + rename) with mode. */
static cmn_err_t
s_write(const char *path,
        int mode,
        int (*emit)(FILE *, const sim_mfg_cred_t *),
        const sim_mfg_cred_t *c)
{
    char tmp[600];
    (void) snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fp == NULL) {
        if (fd >= 0) {
            (void) close(fd);
        }
        return cmn_err_from_errno(errno);
    }
    int ok = emit(fp, c);
    ok = fclose(fp) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        (void) unlink(tmp);
        return CMN_EIO;
    }
    return CMN_OK;
}

static int
s_emit_certs(FILE *fp, const sim_mfg_cred_t *c)
{
    int ok = PEM_write_X509(fp, c->leaf) == 1;
    for (int i = 0; ok && i < sk_X509_num(c->chain); i++) {
        ok = PEM_write_X509(fp, sk_X509_value(c->chain, i)) == 1;
    }
    return ok;
}

static int
s_emit_key(FILE *fp, const sim_mfg_cred_t *c)
{
    return PEM_write_PrivateKey(fp, c->key, NULL, NULL, 0, NULL, NULL) == 1;
}

cmn_err_t
sim_mfg_cred_get(const sim_mfg_ca_t *ca,
                 const char *dir,
                 const cmn_uuid_t *uuid,
                 sim_mfg_kind_t kind,
                 sim_mfg_cred_t *ret)
{
    char cpath[560], kpath[560];
    (void) snprintf(cpath, sizeof cpath, "%s/mfgcert.pem", dir);
    (void) snprintf(kpath, sizeof kpath, "%s/mfgkey.pem", dir);
    memset(ret, 0, sizeof *ret);
    STACK_OF(X509) *certs = s_read_certs(cpath);
    EVP_PKEY *key = certs ? s_read_key(kpath) : NULL;
    if (certs && key && X509_check_private_key(sk_X509_value(certs, 0), key) == 1) {
        ret->leaf = sk_X509_shift(certs);
        ret->chain = certs;
        ret->key = key;
        return CMN_OK;
    }
    sk_X509_pop_free(certs, X509_free);
    EVP_PKEY_free(key);
    if (ca == NULL) {
        return CMN_ENOTFOUND;
    }
    cmn_err_t err = s_issue(ca, uuid, kind, ret);
    if (err == CMN_OK) {
        err = s_write(kpath, 0600, s_emit_key, ret);
    }
    if (err == CMN_OK) {
        err = s_write(cpath, 0644, s_emit_certs, ret);
    }
    if (err != CMN_OK) {
        sim_mfg_cred_free(ret);
    }
    return err;
}

void
sim_mfg_cred_free(sim_mfg_cred_t *cred)
{
    X509_free(cred->leaf);
    sk_X509_pop_free(cred->chain, X509_free);
    EVP_PKEY_free(cred->key);
    memset(cred, 0, sizeof *cred);
}

cmn_err_t
sim_mfg_cred_use(const sim_mfg_cred_t *cred, SSL *ssl)
{
    if (cred->leaf == NULL || cred->key == NULL || SSL_use_certificate(ssl, cred->leaf) != 1 ||
        SSL_use_PrivateKey(ssl, cred->key) != 1) {
        return CMN_ECRYPTO;
    }
    for (int i = 0; i < sk_X509_num(cred->chain); i++) {
        if (SSL_add1_chain_cert(ssl, sk_X509_value(cred->chain, i)) != 1) {
            return CMN_ECRYPTO;
        }
    }
    return CMN_OK;
}

/* Makes a self-signed root CA (OCF-NOTES 6.5 OTM chain rules) in c->leaf/c->key. */
static cmn_err_t
s_make_root(const char *cn, sim_mfg_cred_t *c)
{
    c->key = EVP_EC_gen("P-256");
    c->leaf = X509_new();
    X509 *x = c->leaf;
    int ok = c->key && x && s_fill(x, c->key, cn, NULL, -3600, 20L * 365 * 24 * 3600) &&
             s_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
             s_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             s_ext(x, x, NID_subject_key_identifier, "hash") &&
             X509_sign(x, c->key, EVP_sha256()) > 0;
    return ok ? CMN_OK : CMN_ECRYPTO;
}

sim_mfg_ca_t *
sim_mfg_ca_open(const char *dir, const char *name, const char *cn, cmn_err_t *ret_err)
{
    char cpath[560], kpath[560];
    (void) snprintf(cpath, sizeof cpath, "%s/%s.pem", dir, name);
    (void) snprintf(kpath, sizeof kpath, "%s/%s-key.pem", dir, name);
    if (access(cpath, R_OK) != 0 || access(kpath, R_OK) != 0) {
        sim_mfg_cred_t root;
        memset(&root, 0, sizeof root);
        cmn_err_t err = s_make_root(cn, &root);
        if (err == CMN_OK) {
            err = s_write(kpath, 0600, s_emit_key, &root);
        }
        if (err == CMN_OK) {
            err = s_write(cpath, 0644, s_emit_certs, &root);
        }
        sim_mfg_cred_free(&root);
        if (err != CMN_OK) {
            *ret_err = err;
            return NULL;
        }
    }
    return sim_mfg_ca_load(cpath, kpath, ret_err);
}

/* True if the CN of leaf is "uuid:<uuid>". */
static bool
s_is_for(X509 *leaf, const cmn_uuid_t *uuid)
{
    char cn[80], want[64], u[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(uuid, u);
    (void) snprintf(want, sizeof want, "uuid:%s", u);
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof cn);
    return n > 0 && strcasecmp(cn, want) == 0;
}

cmn_err_t
sim_mfg_cred_current(const sim_mfg_ca_t *ca,
                     const char *dir,
                     const cmn_uuid_t *uuid,
                     sim_mfg_kind_t kind,
                     sim_mfg_cred_t *ret)
{
    cmn_err_t err = sim_mfg_cred_get(ca, dir, uuid, kind, ret);
    if (err != CMN_OK || s_is_for(ret->leaf, uuid) || ca == NULL || kind == SIM_MFG_OTHER_UUID) {
        return err;
    }
    sim_mfg_cred_free(ret);
    char path[560];
    (void) snprintf(path, sizeof path, "%s/mfgcert.pem", dir);
    (void) unlink(path);
    (void) snprintf(path, sizeof path, "%s/mfgkey.pem", dir);
    (void) unlink(path);
    return sim_mfg_cred_get(ca, dir, uuid, kind, ret);
}
