/* cmn_uuid.h — OCF UUIDs: 16 bytes, 36-char text, generated from the DRBG */
#ifndef CMN_UUID_H
#define CMN_UUID_H

#include <stdbool.h>
#include <stdint.h>

#include "cmn_err.h"

#define CMN_UUID_STR_LEN 36 /* without the NUL */

typedef struct {
    uint8_t b[16];
} cmn_uuid_t;

/* Fills ret with a random version-4 UUID from OpenSSL's DRBG (SP 800-90A).
 * Returns CMN_ECRYPTO if the DRBG fails. */
cmn_err_t cmn_uuid_generate(cmn_uuid_t *ret);

/* Like cmn_uuid_generate, but the 16 bytes contain no zero byte. Used for the
 * services' own UUIDs, which travel as PSK identities through OpenSSL's
 * NUL-terminated identity API (docs/dtls.md). */
cmn_err_t cmn_uuid_generate_identity(cmn_uuid_t *ret);

/* Writes the lowercase 8-4-4-4-12 form into out (at least 37 bytes). */
void cmn_uuid_to_str(const cmn_uuid_t *uuid, char out[CMN_UUID_STR_LEN + 1]);

/* Parses the 36-char form (either case). Returns CMN_EINVAL on anything else. */
cmn_err_t cmn_uuid_from_str(const char *str, cmn_uuid_t *ret);

bool cmn_uuid_is_nil(const cmn_uuid_t *uuid);
bool cmn_uuid_eq(const cmn_uuid_t *a, const cmn_uuid_t *b);

#endif
