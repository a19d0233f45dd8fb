/* fuzz_cert.c — libFuzzer harness of the certificate checks (common/cmn_cert.h) on the
 * chain a device presents in the certificate OTM: the input is that chain, as a PEM
 * bundle (FUZZ_CERT_DER 0, cmn_cert_parse_pem) or as DER certificates one after the
 * other (FUZZ_CERT_DER 1, as they come out of the TLS Certificate message). Every
 * certificate is described and checked against the end-entity profile, and the chain
 * is verified against a fixed manufacturer root (tests/fuzz/cert-anchor.pem, the root
 * of the seeds, made with tests/support/obt_certs.h) at a fixed time inside the
 * seeds' validity, so that runs are reproducible and mutations get past the
 * signatures of the seeds. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_cert.h"
#include "fuzz_check.h"

#define S_MAX_DER_CERTS 4 /* a device sends root -> intermediate -> leaf at most */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *s_anchor; /* PEM of the root, read once */
static size_t s_anchor_len;
static time_t s_now; /* a day after the root's notBefore */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    FILE *fp = fopen(FUZZ_ANCHOR_FILE, "r");
    FUZZ_CHECK(fp != NULL, "cert: cannot open " FUZZ_ANCHOR_FILE);
    s_anchor = calloc(1, 16384);
    FUZZ_CHECK(s_anchor != NULL, "cert: out of memory");
    s_anchor_len = fread(s_anchor, 1, 16383, fp);
    (void) fclose(fp);
    STACK_OF(X509) *root = cmn_cert_parse_pem((const uint8_t *) s_anchor, s_anchor_len);
    FUZZ_CHECK(root != NULL, "cert: " FUZZ_ANCHOR_FILE " holds no certificate");
    struct tm tm;
    FUZZ_CHECK(ASN1_TIME_to_tm(X509_get0_notBefore(sk_X509_value(root, 0)), &tm) == 1,
               "cert: the anchor's notBefore does not read");
    s_now = timegm(&tm) + 24 * 3600;
    sk_X509_pop_free(root, X509_free);
    return 0;
}

/* DER certificates one after the other; NULL if the first does not parse. */
static STACK_OF(X509) * s_parse_der(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    const unsigned char *p = data;
    while (sk && sk_X509_num(sk) < S_MAX_DER_CERTS && (size_t) (p - data) < size) {
        X509 *x = d2i_X509(NULL, &p, (long) (size - (size_t) (p - data)));
        if (x == NULL || sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            break;
        }
    }
    if (sk && sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        sk = NULL;
    }
    return sk;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *chain =
            FUZZ_CERT_DER ? s_parse_der(data, size) : cmn_cert_parse_pem(data, size);
    if (chain == NULL) {
        return 0;
    }
    char why[256];
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        char fp[65], subject[256], not_after[64];
        if (cmn_cert_describe(x, fp, subject, sizeof subject, not_after, sizeof not_after) ==
            CMN_OK) {
            FUZZ_CHECK(strlen(fp) == 64 && memchr(subject, 0, sizeof subject) != NULL &&
                               memchr(not_after, 0, sizeof not_after) != NULL,
                       "cert: description not terminated");
        }
        why[0] = '\0';
        cmn_uuid_t uuid;
        if (cmn_cert_check_end_entity(x, &uuid, why, sizeof why) != CMN_OK) {
            FUZZ_CHECK(why[0] != '\0', "cert: end-entity refused without a reason");
        }
    }
    why[0] = '\0';
    cmn_uuid_t uuid;
    cmn_err_t err = cmn_cert_verify_mfg_chain(chain, (const uint8_t *) s_anchor, s_anchor_len,
                                              s_now, &uuid, why, sizeof why);
    FUZZ_CHECK(err == CMN_OK || err == CMN_ENOMEM || (err == CMN_ECRYPTO && why[0] != '\0'),
               "cert: chain refused without a reason");
    sk_X509_pop_free(chain, X509_free);
    return 0;
}
