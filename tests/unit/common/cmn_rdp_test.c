/* cmn_rdp_test.c — the Random PIN OTM's pure functions (OCF-NOTES 6.4): PIN, PPSK,
 * identity hint, OTM labels. Vectors computed independently with Python:
 *   hashlib.pbkdf2_hmac('sha256', b'12345678', uuid.bytes, 1000, 16)
 * and the owner-PSK formula of OCF-NOTES 6.3 with hmac/hashlib. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cmn_psk.h"
#include "cmn_uuid.h"

static void
s_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", b[i]);
    }
}

static void
s_ppsk_hex(const char *pin, const char *uuid, char hex[33])
{
    cmn_uuid_t u;
    uint8_t ppsk[CMN_PSK_LEN];
    cr_assert_eq(cmn_uuid_from_str(uuid, &u), CMN_OK);
    cr_assert_eq(cmn_psk_rdp_ppsk(pin, u.b, ppsk), CMN_OK);
    s_hex(ppsk, sizeof ppsk, hex);
}

Test(cmn_rdp, ppsk_matches_python_vectors)
{
    char hex[33];
    s_ppsk_hex("12345678", "12345678-1234-5678-1234-567812345678", hex);
    cr_assert_str_eq(hex, "7e0c394d65dde23a6d252f983372206f");
    s_ppsk_hex("09182736", "a1b2c3d4-e5f6-4789-9abc-def012345678", hex);
    cr_assert_str_eq(hex, "ccc03992ae3e00ba3517c375903f2d0d");
}

Test(cmn_rdp, ppsk_refuses_a_malformed_pin)
{
    uint8_t uuid[16] = {1}, out[CMN_PSK_LEN];
    static const char *const bad[] = {"", "1234567", "123456789", "1234567a", " 12345678"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(cmn_psk_rdp_ppsk(bad[i], uuid, out), CMN_EINVAL, "\"%s\"", bad[i]);
    }
    cr_expect_eq(cmn_psk_rdp_ppsk(NULL, uuid, out), CMN_EINVAL);
}

Test(cmn_rdp, rdp_owner_psk_uses_its_label)
{
    uint8_t master[48], cr[32], sr[32], psk[16];
    cmn_uuid_t owner, dev;
    char hex[33];
    for (int i = 0; i < 48; i++) {
        master[i] = (uint8_t) i;
    }
    memset(cr, 0x11, 32);
    memset(sr, 0x22, 32);
    cr_assert_eq(cmn_uuid_from_str("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", &owner), CMN_OK);
    cr_assert_eq(cmn_uuid_from_str("12345678-1234-5678-1234-567812345678", &dev), CMN_OK);
    cr_assert_eq(
            cmn_psk_derive_owner(master, cr, sr, 96, cmn_psk_otm_label(1), owner.b, dev.b, psk),
            CMN_OK);
    s_hex(psk, 16, hex);
    cr_assert_str_eq(hex, "7676b1676f5c44f01abdb950b945729d");
}

Test(cmn_rdp, otm_labels)
{
    cr_expect_str_eq(cmn_psk_otm_label(0), "oic.sec.doxm.jw");
    cr_expect_str_eq(cmn_psk_otm_label(1), "oic.sec.doxm.rdp");
    cr_expect_str_eq(cmn_psk_otm_label(2), "oic.sec.doxm.mfgcert");
    cr_expect_null(cmn_psk_otm_label(3));
    cr_expect_null(cmn_psk_otm_label(-1));
}

Test(cmn_rdp, pins_are_8_digits_and_use_every_digit)
{
    unsigned counts[10] = {0};
    for (int i = 0; i < 500; i++) {
        char pin[CMN_RDP_PIN_LEN + 1];
        cr_assert_eq(cmn_psk_rdp_pin(pin), CMN_OK);
        cr_assert(cmn_psk_rdp_pin_is_valid(pin), "\"%s\"", pin);
        for (int k = 0; k < CMN_RDP_PIN_LEN; k++) {
            counts[pin[k] - '0']++;
        }
    }
    /* 4000 digits, 400 expected each: a biased generator (e.g. byte % 10) stays
     * inside this band too, so this only catches gross errors; the rejection
     * sampling itself is read in cmn_psk.c. */
    for (int d = 0; d < 10; d++) {
        cr_expect(counts[d] > 300 && counts[d] < 500, "digit %d seen %u times", d, counts[d]);
    }
}

Test(cmn_rdp, hint_formats_roundtrip)
{
    uint8_t uuid[16], hint[CMN_RDP_HINT_MAX];
    for (int i = 0; i < 16; i++) {
        uuid[i] = (uint8_t) (0xa0 + i);
    }
    size_t n = cmn_psk_rdp_hint(uuid, false, hint);
    cr_assert_eq(n, 33);
    cr_assert(memcmp(hint, "oic.sec.doxm.rdp:", 17) == 0);
    cr_assert(memcmp(hint + 17, uuid, 16) == 0);
    cr_expect_eq(cmn_psk_rdp_hint_check(hint, n, uuid), CMN_OK);
    n = cmn_psk_rdp_hint(uuid, true, hint);
    cr_assert_eq(n, 16);
    cr_expect_eq(cmn_psk_rdp_hint_check(hint, n, uuid), CMN_OK);
}

Test(cmn_rdp, hint_with_another_uuid_or_malformed_is_refused)
{
    uint8_t uuid[16], other[16], hint[CMN_RDP_HINT_MAX + 4];
    memset(uuid, 0x42, 16);
    memcpy(other, uuid, 16);
    other[15] ^= 1;
    size_t n = cmn_psk_rdp_hint(other, false, hint);
    cr_expect_eq(cmn_psk_rdp_hint_check(hint, n, uuid), CMN_EPROTO);
    n = cmn_psk_rdp_hint(other, true, hint);
    cr_expect_eq(cmn_psk_rdp_hint_check(hint, n, uuid), CMN_EPROTO);
    n = cmn_psk_rdp_hint(uuid, false, hint);
    hint[n] = 0x42; /* one byte too many */
    cr_expect_eq(cmn_psk_rdp_hint_check(hint, n + 1, uuid), CMN_EPROTO);
    cr_expect_eq(cmn_psk_rdp_hint_check(hint, n - 1, uuid), CMN_EPROTO, "cut without a zero");
    cr_expect_eq(cmn_psk_rdp_hint_check((const uint8_t *) "oic.sec.doxm.jw:", 16, uuid),
                 CMN_EPROTO);
}

Test(cmn_rdp, hint_cut_at_a_zero_byte_of_the_uuid_matches)
{
    uint8_t uuid[16], hint[CMN_RDP_HINT_MAX];
    memset(uuid, 0x42, 16);
    uuid[5] = 0;
    /* What OpenSSL hands over: the C string up to the zero byte. */
    size_t n = cmn_psk_rdp_hint(uuid, false, hint);
    cr_expect_eq(cmn_psk_rdp_hint_check(hint, strnlen((const char *) hint, n), uuid), CMN_OK);
    n = cmn_psk_rdp_hint(uuid, true, hint);
    cr_expect_eq(cmn_psk_rdp_hint_check(hint, strnlen((const char *) hint, n), uuid), CMN_OK);
}
