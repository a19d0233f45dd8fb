/* cms_csr.h — the checks of a device's certificate signing request (/oic/sec/csr,
 * OCF-NOTES §3.6 and §6.6) before CMS issues its identity certificate. Peer input:
 * every failure is a reason for the operator, never a crash (fuzz_cms_csr). */
#ifndef CMS_CSR_H
#define CMS_CSR_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"
#include "cmn_uuid.h"

#define CMS_CSR_MAX 4096 /* a P-256 CSR is well under 1 KiB */

/* Checks the CSR in csr (len bytes; PEM when is_pem, else DER): it parses, its
 * signature verifies with its own key, the key is EC P-256, the signature hash is
 * SHA-256, and the subject is exactly one CN "uuid:<expect>" (the prefix in any case).
 * On success *ret_key holds the public key (caller frees with EVP_PKEY_free). Else
 * CMN_ECRYPTO (or CMN_EINVAL for an empty or oversized input) with the reason in why;
 * *ret_key untouched. */
cmn_err_t cms_csr_check(const uint8_t *csr,
                        size_t len,
                        bool is_pem,
                        const cmn_uuid_t *expect,
                        EVP_PKEY **ret_key,
                        char *why,
                        size_t why_len);

#endif
