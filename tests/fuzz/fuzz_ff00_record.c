/* fuzz_ff00_record.c — libFuzzer harness of the 0xFF00 record protection
 * (common/cmn_ff00.h): the input is opened as a record under fixed keys (it must
 * never crash, and what opens must be no longer than the record), and sealed as
 * content; the sealed record must open to the same content, and must not open once
 * any one byte of it is changed.
 *
 * Input: [flip position:2] record-or-content... */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cmn_ff00.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[CMN_FF00_MAX_PLAIN + 200], rec[CMN_FF00_MAX_PLAIN + 200];
    cmn_ff00_dir_t keys;
    for (size_t i = 0; i < sizeof keys.mac_key; i++) {
        keys.mac_key[i] = (uint8_t) i;
    }
    memset(keys.enc_key, 0x42, sizeof keys.enc_key);
    if (size < 2) {
        return 0;
    }
    size_t flip = ((size_t) data[0] << 8) | data[1];
    data += 2;
    size -= 2;
    size_t n = 0;
    if (cmn_ff00_open(&keys, data, size, out, sizeof out, &n) == CMN_OK) {
        FUZZ_CHECK(n + 13 + 16 + 32 < size, "opened content longer than the record allows");
    }
    if (size > CMN_FF00_MAX_PLAIN) {
        return 0;
    }
    size_t len = 0;
    FUZZ_CHECK(cmn_ff00_seal(&keys, 23, 1, flip, NULL, data, size, rec, sizeof rec, &len) == CMN_OK,
               "seal failed");
    FUZZ_CHECK(cmn_ff00_open(&keys, rec, len, out, sizeof out, &n) == CMN_OK && n == size &&
                       (size == 0 || memcmp(out, data, size) == 0),
               "sealed record does not open to its content");
    size_t at = flip % len;
    rec[at] ^= 0x01;
    FUZZ_CHECK(cmn_ff00_open(&keys, rec, len, out, sizeof out, &n) != CMN_OK,
               "a changed record still opens");
    return 0;
}
