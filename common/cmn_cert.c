/* cmn_cert.c — the OCF certificate profile on top of OpenSSL's chain verification */
#include "cmn_cert.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define S_EKU_SERVER_AUTH "1.3.6.1.5.5.7.3.1"
#define S_EKU_CLIENT_AUTH "1.3.6.1.5.5.7.3.2"
#define S_EKU_ANY         "2.5.29.37.0"
#define S_MAX_TIERS       3 /* root -> intermediate -> leaf */

static cmn_err_t s_fail(char *why, size_t why_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static cmn_err_t
s_fail(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return CMN_ECRYPTO;
}

void
cmn_cert_name_oneline(const X509_NAME *name, char *out, size_t cap)
{
    out[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (b && X509_NAME_print_ex(b, name, 0, XN_FLAG_ONELINE) >= 0) {
        int n = BIO_read(b, out, (int) cap - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

/* The subject's one-line name, for reasons ("CN=uuid:..., O=..."). */
static void
s_subject(X509 *cert, char *out, size_t cap)
{
    cmn_cert_name_oneline(X509_get_subject_name(cert), out, cap);
}

STACK_OF(X509) * cmn_cert_parse_pem(const uint8_t *pem, size_t len)
{
    if (pem == NULL || len == 0 || len > INT32_MAX) {
        return NULL;
    }
    BIO *b = BIO_new_mem_buf(pem, (int) len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x = NULL;
    while (b && sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            break;
        }
    }
    BIO_free(b);
    if (sk && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

cmn_err_t
cmn_cert_sha256_hex(X509 *cert, char ret_hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32) {
        return CMN_ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        (void) snprintf(ret_hex + 2 * i, 3, "%02x", md[i]);
    }
    return CMN_OK;
}

cmn_err_t
cmn_cert_common_name(X509 *cert, char *ret_cn, size_t cap)
{
    X509_NAME *name = X509_get_subject_name(cert);
    int idx = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    unsigned char *utf8 = NULL;
    int n = idx < 0 ? -1
                    : ASN1_STRING_to_UTF8(&utf8,
                                          X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    cmn_err_t err = n < 0                                                            ? CMN_ENOTFOUND
                    : strlen((const char *) utf8) != (size_t) n || (size_t) n >= cap ? CMN_EINVAL
                                                                                     : CMN_OK;
    if (err == CMN_OK) {
        memcpy(ret_cn, utf8, (size_t) n + 1);
    }
    OPENSSL_free(utf8);
    return err;
}

cmn_err_t
cmn_cert_describe(X509 *cert,
                  char ret_fingerprint[65],
                  char *ret_subject,
                  size_t subject_len,
                  char *ret_not_after,
                  size_t not_after_len)
{
    if (cmn_cert_sha256_hex(cert, ret_fingerprint) != CMN_OK) {
        return CMN_ENOMEM;
    }
    s_subject(cert, ret_subject, subject_len);
    ret_not_after[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (b && ASN1_TIME_print(b, X509_get0_notAfter(cert)) == 1) {
        int r = BIO_read(b, ret_not_after, (int) not_after_len - 1);
        ret_not_after[r > 0 ? r : 0] = '\0';
    }
    BIO_free(b);
    return CMN_OK;
}

static bool
s_is_p256(X509 *cert)
{
    EVP_PKEY *pk = X509_get0_pubkey(cert);
    char group[32] = "";
    size_t glen = 0;
    return pk && EVP_PKEY_is_a(pk, "EC") &&
           EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &glen) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

static cmn_err_t
s_check_eku(X509 *cert, char *why, size_t why_len)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
    if (eku == NULL) {
        return s_fail(why, why_len, "missing OCF EKU: the certificate has no extendedKeyUsage");
    }
    bool server = false, client = false, any = false;
    int ocf = 0;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        char oid[80];
        if (OBJ_obj2txt(oid, sizeof oid, sk_ASN1_OBJECT_value(eku, i), 1) <= 0) {
            continue;
        }
        server = server || strcmp(oid, S_EKU_SERVER_AUTH) == 0;
        client = client || strcmp(oid, S_EKU_CLIENT_AUTH) == 0;
        any = any || strcmp(oid, S_EKU_ANY) == 0;
        ocf += strcmp(oid, CMN_CERT_EKU_OCF_IDENTITY) == 0 ||
               strcmp(oid, CMN_CERT_EKU_OCF_ROLE) == 0;
    }
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    if (any) {
        return s_fail(why, why_len, "wrong EKU: anyExtendedKeyUsage is not allowed");
    }
    if (ocf != 1) {
        return s_fail(why, why_len,
                      "missing OCF EKU: need exactly one of " CMN_CERT_EKU_OCF_IDENTITY
                      " (identity) and " CMN_CERT_EKU_OCF_ROLE " (role)");
    }
    if (!server || !client) {
        return s_fail(why, why_len, "wrong EKU: serverAuth and clientAuth are both required");
    }
    return CMN_OK;
}

static cmn_err_t
s_cn_uuid(X509 *cert, cmn_uuid_t *ret_uuid, char *why, size_t why_len)
{
    char cn[CMN_CERT_CN_MAX];
    cmn_uuid_t uuid;
    bool ok = cmn_cert_common_name(cert, cn, sizeof cn) == CMN_OK &&
              strncasecmp(cn, "uuid:", 5) == 0 && cmn_uuid_from_str(cn + 5, &uuid) == CMN_OK;
    if (!ok) {
        return s_fail(why, why_len, "wrong subject: the CN must be \"uuid:<device uuid>\"");
    }
    if (ret_uuid) {
        *ret_uuid = uuid;
    }
    return CMN_OK;
}

cmn_err_t
cmn_cert_check_end_entity(X509 *cert, cmn_uuid_t *ret_uuid, char *why, size_t why_len)
{
    if (cert == NULL) {
        return s_fail(why, why_len, "no certificate");
    }
    if (X509_get_version(cert) != X509_VERSION_3) {
        return s_fail(why, why_len, "wrong version: X.509 v3 required");
    }
    if (!s_is_p256(cert)) {
        return s_fail(why, why_len, "wrong key: an EC P-256 key is required");
    }
    if (X509_get_signature_nid(cert) != NID_ecdsa_with_SHA256) {
        return s_fail(why, why_len, "wrong signature: ecdsa-with-SHA256 required");
    }
    uint32_t ku = X509_get_key_usage(cert); /* UINT32_MAX: no keyUsage extension */
    if (ku != (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT)) {
        return s_fail(why, why_len,
                      "wrong key usage: exactly digitalSignature and keyAgreement required");
    }
    /* basicConstraints itself (X509_check_ca also weighs keyUsage). */
    if ((X509_get_extension_flags(cert) & EXFLAG_CA) != 0) {
        return s_fail(why, why_len, "wrong basic constraints: an end-entity must not be a CA");
    }
    cmn_err_t err = s_check_eku(cert, why, why_len);
    return err == CMN_OK ? s_cn_uuid(cert, ret_uuid, why, why_len) : err;
}

/* True if the certificate's EKU lists oid. */
static bool
s_has_eku(X509 *cert, const char *oid)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
    bool found = false;
    for (int i = 0; eku && !found && i < sk_ASN1_OBJECT_num(eku); i++) {
        char txt[80];
        found = OBJ_obj2txt(txt, sizeof txt, sk_ASN1_OBJECT_value(eku, i), 1) > 0 &&
                strcmp(txt, oid) == 0;
    }
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    return found;
}

/* The text of the only entry nid of name into out (64 bytes): 1 copied, 0 none,
 * -1 several, empty, too long or not text. */
static int
s_name_entry(const X509_NAME *name, int nid, char out[64])
{
    int idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0) {
        return 0;
    }
    if (X509_NAME_get_index_by_NID(name, nid, idx) >= 0) {
        return -1;
    }
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    bool ok = n > 0 && n <= CMN_CERT_ROLE_MAX && strlen((const char *) utf8) == (size_t) n;
    if (ok) {
        memcpy(out, utf8, (size_t) n + 1);
    }
    OPENSSL_free(utf8);
    return ok ? 1 : -1;
}

cmn_err_t
cmn_cert_role(X509 *cert, char ret_role[64], char ret_authority[64], char *why, size_t why_len)
{
    if (cert == NULL || !s_has_eku(cert, CMN_CERT_EKU_OCF_ROLE)) {
        (void) s_fail(why, why_len, "not a role certificate: no role EKU " CMN_CERT_EKU_OCF_ROLE);
        return CMN_ENOTFOUND;
    }
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    char role[64] = "", authority[64] = "";
    int has_role = 0, has_authority = 0;
    for (int i = 0; gens && has_role == 0 && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DIRNAME) {
            has_role = s_name_entry(g->d.directoryName, NID_commonName, role);
            has_authority = s_name_entry(g->d.directoryName, NID_organizationalUnitName, authority);
        }
    }
    GENERAL_NAMES_free(gens);
    if (has_role == 0) {
        (void) s_fail(why, why_len,
                      "not a role certificate: no subjectAltName directoryName with CN=<role>");
        return CMN_ENOTFOUND;
    }
    if (has_role < 0 || has_authority < 0) {
        (void) s_fail(why, why_len,
                      "bad role: CN (role) and OU (authority) must each be one "
                      "text of 1..63 bytes");
        return CMN_EINVAL;
    }
    memcpy(ret_role, role, sizeof role);
    memcpy(ret_authority, authority, sizeof authority);
    return CMN_OK;
}

static X509_STORE *
s_store(const uint8_t *anchors_pem, size_t anchors_len)
{
    STACK_OF(X509) *anchors = cmn_cert_parse_pem(anchors_pem, anchors_len);
    X509_STORE *store = anchors ? X509_STORE_new() : NULL;
    for (int i = 0; store && i < sk_X509_num(anchors); i++) {
        if (X509_STORE_add_cert(store, sk_X509_value(anchors, i)) != 1) {
            X509_STORE_free(store);
            store = NULL;
        }
    }
    sk_X509_pop_free(anchors, X509_free);
    return store;
}

static cmn_err_t
s_verify_error(X509_STORE_CTX *ctx, char *why, size_t why_len)
{
    int e = X509_STORE_CTX_get_error(ctx);
    X509 *at = X509_STORE_CTX_get_current_cert(ctx);
    char subject[256] = "?";
    if (at) {
        s_subject(at, subject, sizeof subject);
    }
    switch (e) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return s_fail(why, why_len, "expired: %s", subject);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return s_fail(why, why_len, "not yet valid: %s", subject);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return s_fail(why, why_len, "untrusted issuer: no manufacturer trust anchor issued %s",
                      subject);
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return s_fail(why, why_len, "bad signature: %s is not signed by its issuer's key", subject);
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
        return s_fail(why, why_len, "wrong key usage: %s cannot issue certificates", subject);
    default:
        return s_fail(why, why_len, "chain does not verify at %s: %s", subject,
                      X509_verify_cert_error_string(e));
    }
}

/* The OTM rules on the verified path (leaf first, root last). */
static cmn_err_t
s_check_path(STACK_OF(X509) * path, char *why, size_t why_len)
{
    int n = sk_X509_num(path);
    if (n < 2 || n > S_MAX_TIERS) {
        return s_fail(why, why_len,
                      "wrong chain length: %d tiers (root, at most one "
                      "intermediate, leaf)",
                      n);
    }
    X509 *root = sk_X509_value(path, n - 1);
    uint32_t need = KU_KEY_CERT_SIGN | KU_CRL_SIGN;
    if (X509_check_issued(root, root) != X509_V_OK || (X509_get_key_usage(root) & need) != need) {
        return s_fail(why, why_len,
                      "wrong key usage: the root must be self-issued with keyCertSign and cRLSign");
    }
    for (int i = 1; i < n; i++) {
        X509 *ca = sk_X509_value(path, i);
        char subject[256];
        s_subject(ca, subject, sizeof subject);
        if (X509_check_ca(ca) == 0) {
            return s_fail(why, why_len, "wrong basic constraints: %s is not a CA", subject);
        }
        if (i < n - 1 && X509_get_pathlen(ca) != 0) {
            return s_fail(why, why_len,
                          "wrong basic constraints: intermediate %s needs "
                          "pathLenConstraint 0",
                          subject);
        }
    }
    return CMN_OK;
}

cmn_err_t
cmn_cert_verify_mfg_chain(STACK_OF(X509) * chain,
                          const uint8_t *anchors_pem,
                          size_t anchors_len,
                          time_t now,
                          cmn_uuid_t *ret_uuid,
                          char *why,
                          size_t why_len)
{
    if (chain == NULL || sk_X509_num(chain) < 1) {
        return s_fail(why, why_len, "the device presented no certificate");
    }
    X509_STORE *store = s_store(anchors_pem, anchors_len);
    if (store == NULL) {
        return s_fail(why, why_len,
                      "untrusted issuer: no manufacturer trust anchor configured "
                      "(obtctl mfg-trust add FILE.pem)");
    }
    X509 *leaf = sk_X509_value(chain, 0);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    for (int i = 1; untrusted && i < sk_X509_num(chain); i++) {
        (void) sk_X509_push(untrusted, sk_X509_value(chain, i)); /* borrowed */
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    cmn_err_t err = CMN_ENOMEM;
    if (untrusted && ctx && X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1) {
        if (now != 0) {
            X509_STORE_CTX_set_time(ctx, 0, now);
        }
        if (X509_verify_cert(ctx) == 1) {
            STACK_OF(X509) *path = X509_STORE_CTX_get1_chain(ctx);
            err = path ? s_check_path(path, why, why_len) : CMN_ENOMEM;
            sk_X509_pop_free(path, X509_free);
            if (err == CMN_OK) {
                err = cmn_cert_check_end_entity(leaf, ret_uuid, why, why_len);
            }
        } else {
            err = s_verify_error(ctx, why, why_len);
        }
    }
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return err;
}
