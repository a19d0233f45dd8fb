/* obt_certs.c — test helper: X.509 chains made with OpenSSL */
#include "obt_certs.h"

#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const long S_HOUR = 3600, S_YEAR = 365L * 24 * 3600;

obt_cert_opts_t
obt_cert_root_opts(const char *cn)
{
    return (obt_cert_opts_t){.cn = cn,
                             .bc = "critical,CA:TRUE",
                             .ku = "critical,keyCertSign,cRLSign",
                             .not_before_s = -S_HOUR,
                             .not_after_s = S_YEAR};
}

obt_cert_opts_t
obt_cert_ca_opts(const char *cn)
{
    return (obt_cert_opts_t){.cn = cn,
                             .bc = "critical,CA:TRUE,pathlen:0",
                             .ku = "critical,keyCertSign,cRLSign",
                             .not_before_s = -S_HOUR,
                             .not_after_s = S_YEAR};
}

obt_cert_opts_t
obt_cert_leaf_opts(const char *uuid)
{
    static char cn[64];
    (void) snprintf(cn, sizeof cn, "uuid:%s", uuid);
    return (obt_cert_opts_t){.cn = cn,
                             .bc = "critical,CA:FALSE",
                             .ku = "critical,digitalSignature,keyAgreement",
                             .eku = "serverAuth,clientAuth,1.3.6.1.4.1.44924.1.6",
                             .not_before_s = -S_HOUR,
                             .not_after_s = S_YEAR};
}

static int
s_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    if (value == NULL) {
        return 0;
    }
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    int rc = ext && X509_add_ext(x, ext, -1) == 1 ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

int
obt_cert_make(obt_cert_t *ret, const obt_cert_opts_t *o, const obt_cert_t *issuer)
{
    memset(ret, 0, sizeof *ret);
    ret->key = EVP_EC_gen(o->curve ? o->curve : "P-256");
    ret->cert = X509_new();
    if (ret->key == NULL || ret->cert == NULL) {
        obt_cert_free(ret);
        return -1;
    }
    X509 *x = ret->cert;
    unsigned char serial[16];
    (void) RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    ok = ok && X509_set_version(x, X509_VERSION_3) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), o->not_before_s) != NULL &&
         X509_gmtime_adj(X509_getm_notAfter(x), o->not_after_s) != NULL &&
         X509_set_pubkey(x, ret->key) == 1 &&
         X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                    (const unsigned char *) o->cn, -1, -1, 0) == 1 &&
         X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer->cert : x)) == 1;
    X509 *icert = issuer ? issuer->cert : x;
    ok = ok && s_ext(x, icert, NID_basic_constraints, o->bc) == 0 &&
         s_ext(x, icert, NID_key_usage, o->ku) == 0 &&
         s_ext(x, icert, NID_ext_key_usage, o->eku) == 0 &&
         s_ext(x, icert, NID_subject_key_identifier, "hash") == 0 &&
         (issuer == NULL || s_ext(x, icert, NID_authority_key_identifier, "keyid") == 0);
    const EVP_MD *md = EVP_get_digestbyname(o->md ? o->md : "SHA256");
    ok = ok && md && X509_sign(x, issuer ? issuer->key : ret->key, md) > 0;
    if (!ok) {
        obt_cert_free(ret);
        return -1;
    }
    return 0;
}

void
obt_cert_free(obt_cert_t *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->cert);
    c->key = NULL;
    c->cert = NULL;
}

static char *
s_bio_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = n > 0 ? strndup(data, (size_t) n) : NULL;
    BIO_free(b);
    return out;
}

int
obt_cert_sha256_hex(X509 *cert, char ret_hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        return -1;
    }
    for (unsigned int i = 0; i < n; i++) {
        (void) snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
    }
    return 0;
}

char *
obt_cert_pem(const obt_cert_t *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_X509(b, c->cert) != 1) {
        BIO_free(b);
        return NULL;
    }
    return s_bio_string(b);
}

char *
obt_cert_key_pem(const obt_cert_t *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(b);
        return NULL;
    }
    return s_bio_string(b);
}

int
obt_cert_write_pem(const char *path, const obt_cert_t *const *certs, int n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    int rc = fp ? 0 : -1;
    for (int i = 0; fp && i < n; i++) {
        if (PEM_write_X509(fp, certs[i]->cert) != 1) {
            rc = -1;
        }
    }
    if (fp) {
        rc = fclose(fp) == 0 ? rc : -1;
    } else if (fd >= 0) {
        (void) close(fd);
    }
    return rc;
}

int
obt_write_hex(const char *path, const char *hex)
{
    FILE *fp = fopen(path, "w");
    int rc = fp ? 0 : -1;
    for (size_t i = 0; rc == 0 && hex[i] && hex[i + 1]; i += 2) {
        unsigned v = 0;
        rc = sscanf(hex + i, "%2x", &v) == 1 && fputc((int) v, fp) != EOF ? 0 : -1;
    }
    if (fp && fclose(fp) != 0) {
        rc = -1;
    }
    return rc;
}

int
obt_sh(const char *cmd, char **ret_out)
{
    FILE *p = popen(cmd, "r");
    size_t cap = 1 << 18, n = 0, got;
    char *out = calloc(1, cap);
    if (p == NULL || out == NULL) {
        if (p) {
            (void) pclose(p);
        }
        free(out);
        return -1;
    }
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
    }
    int st = pclose(p);
    *ret_out = out;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
