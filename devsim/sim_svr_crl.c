/* sim_svr_crl.c — /oic/sec/crl (OCF-NOTES 3.8) of a device with certificates: the CRL
 * its credential manager pushes, kept only when its signature verifies with one of the
 * device's CA certificates, and given to the checks of its certificate sessions */
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_cert.h"
#include "cmn_log.h"
#include "sim_csr.h"
#include "sim_svr.h"

int
sim_svr_get_crl(const sim_device_t *dev, uint8_t **ret, size_t *len)
{
    if (dev->crl.der_len == 0) {
        return SIM_CODE_NOT_FOUND; /* no CRL was pushed yet */
    }
    return cmn_crl_encode(&dev->crl, ret, len) == CMN_OK ? SIM_CODE_CONTENT : SIM_CODE_INTERNAL;
}

/* Adds to sk the CA certificates of the device: its trust anchors and the CA
 * certificates above its identity certificate (a sub-CA's chain, checked on POST). */
static void
s_ca_certs(const sim_device_t *dev, STACK_OF(X509) * sk)
{
    for (size_t i = 0; i < dev->creds.n_creds; i++) {
        const cmn_cred_t *c = &dev->creds.creds[i];
        bool is_anchor = strcmp(c->credusage, "oic.sec.cred.trustca") == 0;
        if (c->credtype != CMN_CREDTYPE_CERT || c->pub_len == 0 ||
            (!is_anchor && strcmp(c->credusage, "oic.sec.cred.cert") != 0)) {
            continue;
        }
        STACK_OF(X509) *chain = cmn_cert_parse_pem(c->pub_data, c->pub_len);
        for (int k = is_anchor ? 0 : 1; chain && k < sk_X509_num(chain); k++) {
            X509 *x = sk_X509_value(chain, k);
            if (X509_check_ca(x) > 0 && X509_up_ref(x) == 1 && sk_X509_push(sk, x) <= 0) {
                X509_free(x);
            }
        }
        sk_X509_pop_free(chain, X509_free);
    }
}

/* The CRL number of crl, 0 if it has none. */
static uint64_t
s_number(const X509_CRL *crl)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    uint64_t v = 0;
    if (n && ASN1_INTEGER_get_uint64(&v, n) != 1) {
        v = 0;
    }
    ASN1_INTEGER_free(n);
    return v;
}

/* NULL if crl is signed by a CA certificate of the device with the CRL's issuer as
 * subject, else why not. */
static const char *
s_check_signer(const sim_device_t *dev, X509_CRL *crl)
{
    STACK_OF(X509) *cas = sk_X509_new_null();
    const char *why = "its issuer is none of the device's trust anchors";
    s_ca_certs(dev, cas);
    for (int i = 0; cas && i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        if (X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) != 0) {
            continue;
        }
        if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1) {
            why = NULL;
            break;
        }
        why = "its signature does not verify with the issuer's key";
    }
    sk_X509_pop_free(cas, X509_free);
    ERR_clear_error();
    return why;
}

int
sim_svr_post_crl(sim_device_t *dev, const uint8_t *p, size_t len)
{
    cmn_crl_t in;
    const char *why = NULL;
    int64_t s = dev->pstat.dos_s;
    if (s != CMN_DOS_RFPRO && s != CMN_DOS_SRESET) {
        cmn_log_notice("SIM-CRL-REFUSED", "dev=%d CRL refused: not writable in dos.s %lld",
                       dev->idx, (long long) s);
        return SIM_CODE_BAD_REQUEST;
    }
    if (cmn_crl_decode(p, len, &in) != CMN_OK) {
        cmn_log_notice("SIM-CRL-REFUSED",
                       "dev=%d CRL refused: not an oic.r.crl payload "
                       "(crlid, thisupdate, Base64 crldata)",
                       dev->idx);
        return SIM_CODE_BAD_REQUEST;
    }
    const uint8_t *q = in.der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long) in.der_len);
    const ASN1_TIME *next = crl ? X509_CRL_get0_nextUpdate(crl) : NULL;
    if (crl == NULL || q != in.der + in.der_len) {
        why = "crldata is not one DER CRL";
    } else if ((why = s_check_signer(dev, crl)) != NULL) {
        /* said */
    } else if (next && X509_cmp_time(next, NULL) <= 0) {
        why = "its nextUpdate has passed";
    } else if (dev->crl.der_len > 0) {
        const uint8_t *h = dev->crl.der;
        X509_CRL *held = d2i_X509_CRL(NULL, &h, (long) dev->crl.der_len);
        if (held && s_number(crl) < s_number(held)) {
            why = "its CRL number is lower than the one the device holds";
        }
        X509_CRL_free(held);
    }
    ERR_clear_error();
    if (why) {
        cmn_log_notice("SIM-CRL-REFUSED", "dev=%d CRL refused: %s", dev->idx, why);
        X509_CRL_free(crl);
        cmn_crl_free(&in);
        return SIM_CODE_BAD_REQUEST;
    }
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    cmn_log_notice("SIM-CRL", "dev=%d CRL %llu stored (%d revoked)", dev->idx,
                   (unsigned long long) s_number(crl), revs ? sk_X509_REVOKED_num(revs) : 0);
    X509_CRL_free(crl);
    cmn_crl_free(&dev->crl);
    dev->crl = in; /* the device's now */
    return SIM_CODE_CHANGED;
}

bool
sim_crl_add_to_store(const sim_device_t *dev, void *x509_store)
{
    if (dev->crl.der_len == 0) {
        return false;
    }
    const uint8_t *q = dev->crl.der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long) dev->crl.der_len);
    bool ok = crl && X509_STORE_add_crl(x509_store, crl) == 1;
    X509_CRL_free(crl);
    ERR_clear_error();
    return ok;
}
