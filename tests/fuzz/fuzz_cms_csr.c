/* fuzz_cms_csr.c — libFuzzer harness of what obt-cms does with a device's answer to
 * GET /oic/sec/csr: the CBOR payload (cmn_csr_decode), then the CSR checks
 * (cms_csr_check: parse, P-256, signature, SHA-256, CN) against a fixed device uuid,
 * the one of the seeds (tests/fuzz/corpus/cms_csr), so mutations reach every check.
 * Properties: a refusal always has a reason, an acceptance always a P-256 key. */
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cmn_svr.h"
#include "cms_csr.h"
#include "fuzz_check.h"

#define S_UUID "5a0f2d14-7c3b-4e59-9a61-0b8d2e3f4c5d" /* CN of the seeds */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cmn_csr_t csr;
    if (cmn_csr_decode(data, size, &csr) != CMN_OK) {
        return 0;
    }
    FUZZ_CHECK(csr.len > 0 && csr.len <= CMN_CSR_MAX && csr.data != NULL,
               "cms_csr: decoded a CSR out of bounds");
    cmn_uuid_t expect;
    FUZZ_CHECK(cmn_uuid_from_str(S_UUID, &expect) == CMN_OK, "cms_csr: bad fixed uuid");
    EVP_PKEY *key = NULL;
    char why[300] = "";
    cmn_err_t err = cms_csr_check(csr.data, csr.len, strcmp(csr.encoding, CMN_ENC_PEM) == 0,
                                  &expect, &key, why, sizeof why);
    if (err == CMN_OK) {
        FUZZ_CHECK(key != NULL && EVP_PKEY_get_bits(key) == 256,
                   "cms_csr: accepted a non-P-256 key");
    } else {
        FUZZ_CHECK(key == NULL && why[0] != '\0' && memchr(why, 0, sizeof why) != NULL,
                   "cms_csr: refused without a reason");
    }
    EVP_PKEY_free(key);
    cmn_csr_free(&csr);
    return 0;
}
