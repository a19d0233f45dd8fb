/* cmn_uuid.c — OCF UUIDs from the DRBG */
#include "cmn_uuid.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

cmn_err_t
cmn_uuid_generate(cmn_uuid_t *ret)
{
    cmn_uuid_t u;
    if (RAND_bytes(u.b, (int) sizeof u.b) != 1) {
        return CMN_ECRYPTO;
    }
    u.b[6] = (uint8_t) ((u.b[6] & 0x0f) | 0x40);
    u.b[8] = (uint8_t) ((u.b[8] & 0x3f) | 0x80);
    *ret = u;
    return CMN_OK;
}

cmn_err_t
cmn_uuid_generate_identity(cmn_uuid_t *ret)
{
    /* OpenSSL passes PSK identities to callbacks as NUL-terminated strings, so a
     * zero byte would truncate the identity: resample until there is none. */
    for (int tries = 0; tries < 1000; tries++) {
        cmn_uuid_t u;
        cmn_err_t err = cmn_uuid_generate(&u);
        if (err != CMN_OK) {
            return err;
        }
        if (memchr(u.b, 0, sizeof u.b) == NULL) {
            *ret = u;
            return CMN_OK;
        }
    }
    return CMN_ECRYPTO;
}

void
cmn_uuid_to_str(const cmn_uuid_t *uuid, char out[CMN_UUID_STR_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[uuid->b[i] >> 4];
        out[o++] = hex[uuid->b[i] & 0xf];
    }
    out[o] = '\0';
}

static int
s_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char) tolower((unsigned char) c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

cmn_err_t
cmn_uuid_from_str(const char *str, cmn_uuid_t *ret)
{
    if (str == NULL || strlen(str) != CMN_UUID_STR_LEN) {
        return CMN_EINVAL;
    }
    cmn_uuid_t u;
    size_t b = 0;
    for (size_t i = 0; i < CMN_UUID_STR_LEN;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (str[i] != '-') {
                return CMN_EINVAL;
            }
            i++;
            continue;
        }
        int hi = s_hexval(str[i]);
        int lo = s_hexval(str[i + 1]);
        if (hi < 0 || lo < 0) {
            return CMN_EINVAL;
        }
        u.b[b++] = (uint8_t) (hi << 4 | lo);
        i += 2;
    }
    *ret = u;
    return CMN_OK;
}

bool
cmn_uuid_is_nil(const cmn_uuid_t *uuid)
{
    static const cmn_uuid_t nil;
    return memcmp(uuid->b, nil.b, sizeof nil.b) == 0;
}

bool
cmn_uuid_eq(const cmn_uuid_t *a, const cmn_uuid_t *b)
{
    return memcmp(a->b, b->b, sizeof a->b) == 0;
}
