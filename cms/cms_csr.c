/* cms_csr.c — the checks of a device's certificate signing request */
#include "cms_csr.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static cmn_err_t s_fail(char *why, size_t why_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static cmn_err_t
s_fail(char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        (void) vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    ERR_clear_error();
    return CMN_ECRYPTO;
}

static X509_REQ *
s_parse(const uint8_t *csr, size_t len, bool is_pem)
{
    if (!is_pem) {
        const uint8_t *p = csr;
        X509_REQ *req = d2i_X509_REQ(NULL, &p, (long) len);
        if (req && p != csr + len) { /* trailing bytes */
            X509_REQ_free(req);
            return NULL;
        }
        return req;
    }
    BIO *b = BIO_new_mem_buf(csr, (int) len);
    X509_REQ *req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return req;
}

/* The subject is one CN "uuid:<expect>" and nothing else. */
static cmn_err_t
s_check_subject(X509_REQ *req, const cmn_uuid_t *expect, char *why, size_t why_len)
{
    const X509_NAME *name = X509_REQ_get_subject_name(req);
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) {
        return s_fail(why, why_len, "the CSR's subject must have exactly one CN");
    }
    const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    uint8_t *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, cn);
    char want[48];
    char ustr[37];
    cmn_uuid_to_str(expect, ustr);
    (void) snprintf(want, sizeof want, "uuid:%s", ustr);
    bool ok = n == (int) strlen(want) && strncasecmp((const char *) utf8, "uuid:", 5) == 0 &&
              strncasecmp((const char *) utf8 + 5, ustr, 36) == 0;
    char got[64];
    (void) snprintf(got, sizeof got, "%.*s", n > 0 ? (n < 60 ? n : 60) : 0,
                    utf8 ? (const char *) utf8 : "");
    OPENSSL_free(utf8);
    if (!ok) {
        for (char *p = got; *p; p++) {
            *p = (*p < 0x20 || *p > 0x7e) ? '?' : *p; /* peer text in a reason */
        }
        return s_fail(why, why_len, "the CSR's CN is \"%s\", not \"%s\"", got, want);
    }
    return CMN_OK;
}

cmn_err_t
cms_csr_check(const uint8_t *csr,
              size_t len,
              bool is_pem,
              const cmn_uuid_t *expect,
              EVP_PKEY **ret_key,
              char *why,
              size_t why_len)
{
    if (csr == NULL || len == 0 || len > CMS_CSR_MAX) {
        (void) snprintf(why, why_len, "the CSR is empty or larger than %d bytes", CMS_CSR_MAX);
        return CMN_EINVAL;
    }
    X509_REQ *req = s_parse(csr, len, is_pem);
    if (req == NULL) {
        return s_fail(why, why_len, "the CSR does not parse (%s)", is_pem ? "PEM" : "DER");
    }
    cmn_err_t err = CMN_ECRYPTO;
    EVP_PKEY *key = X509_REQ_get_pubkey(req);
    char group[64] = "";
    size_t glen = 0;
    int md_nid = 0, pk_nid = 0;
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &glen) != 1 ||
        strcmp(group, SN_X9_62_prime256v1) != 0) {
        err = s_fail(why, why_len, "the CSR's key is not an EC P-256 key");
    } else if (X509_REQ_verify(req, key) != 1) {
        err = s_fail(why, why_len, "the CSR's signature does not verify");
    } else if (OBJ_find_sigid_algs(X509_REQ_get_signature_nid(req), &md_nid, &pk_nid) != 1 ||
               md_nid != NID_sha256) {
        err = s_fail(why, why_len, "the CSR is not signed with ECDSA SHA-256");
    } else {
        err = s_check_subject(req, expect, why, why_len);
    }
    X509_REQ_free(req);
    if (err != CMN_OK) {
        EVP_PKEY_free(key);
        return err;
    }
    *ret_key = key;
    return CMN_OK;
}
