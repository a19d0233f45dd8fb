/* sim_mfg.c — the simulated devices' manufacturer certificates */
#include "sim_mfg.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_cert.h"

const char *const SIM_MFG_KIND_NAMES[SIM_MFG_KIND_COUNT] = {"good", "expired", "bad-ku",
                                                            "no-ocf-eku"};

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

/* Issues a leaf of the given kind for uuid. */
static cmn_err_t
s_issue(const sim_mfg_ca_t *ca, const cmn_uuid_t *uuid, sim_mfg_kind_t kind, sim_mfg_cred_t *ret)
{
    char cn[64], u[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(uuid, u);
    (void) snprintf(cn, sizeof cn, "uuid:%s", u);
    const char *ku = kind == SIM_MFG_BAD_KU ? "critical,digitalSignature"
                                            : "critical,digitalSignature,keyAgreement";
    const char *eku = kind == SIM_MFG_NO_OCF_EKU
                              ? "serverAuth,clientAuth"
                              : "serverAuth,clientAuth," CMN_CERT_EKU_OCF_IDENTITY;
    long from = kind == SIM_MFG_EXPIRED ? -7200 : -3600;
    long to = kind == SIM_MFG_EXPIRED ? -3600 : 10L * 365 * 24 * 3600;
    unsigned char serial[16];
    ret->key = EVP_EC_gen("P-256");
    ret->leaf = X509_new();
    BIGNUM *bn = NULL;
    int ok = ret->key && ret->leaf && RAND_bytes(serial, sizeof serial) == 1;
    if (ok) {
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof serial, NULL);
    }
    X509 *x = ret->leaf;
    ok = ok && bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
         X509_set_version(x, X509_VERSION_3) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), from) &&
         X509_gmtime_adj(X509_getm_notAfter(x), to) && X509_set_pubkey(x, ret->key) == 1 &&
         X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                    (const unsigned char *) cn, -1, -1, 0) == 1 &&
         X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) == 1 &&
         s_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") &&
         s_ext(x, ca->cert, NID_key_usage, ku) && s_ext(x, ca->cert, NID_ext_key_usage, eku) &&
         s_ext(x, ca->cert, NID_authority_key_identifier, "keyid") &&
         X509_sign(x, ca->key, EVP_sha256()) > 0;
    BN_free(bn);
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
