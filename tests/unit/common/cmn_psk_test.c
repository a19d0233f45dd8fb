/* cmn_psk_test.c — owner-PSK derivation against the vectors of OCF-NOTES 6.3 */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_psk.h"
#include "cmn_uuid.h"

static void
s_inputs(uint8_t master[48], uint8_t cr[32], uint8_t sr[32], cmn_uuid_t *owner, cmn_uuid_t *dev)
{
    for (int i = 0; i < 48; i++) {
        master[i] = (uint8_t) i;
    }
    memset(cr, 0x11, 32);
    memset(sr, 0x22, 32);
    cr_assert_eq(cmn_uuid_from_str("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", owner), CMN_OK);
    cr_assert_eq(cmn_uuid_from_str("12345678-1234-5678-1234-567812345678", dev), CMN_OK);
}

static void
s_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", b[i]);
    }
}

Test(cmn_psk, key_block_matches_vector)
{
    uint8_t master[48], cr[32], sr[32], seed[13 + 64], kb[96];
    cmn_uuid_t owner, dev;
    char hex[200];
    s_inputs(master, cr, sr, &owner, &dev);
    memcpy(seed, "key expansion", 13);
    memcpy(seed + 13, sr, 32);
    memcpy(seed + 45, cr, 32);
    cr_assert_eq(cmn_psk_prf_sha256(master, 48, seed, sizeof seed, kb, sizeof kb), CMN_OK);
    s_hex(kb, 16, hex);
    cr_assert_str_eq(hex, "777fce36a1935fafd1d581bf7cae5b31");
}

Test(cmn_psk, jw_owner_psk_matches_vector)
{
    uint8_t master[48], cr[32], sr[32], psk[16];
    cmn_uuid_t owner, dev;
    char hex[40];
    s_inputs(master, cr, sr, &owner, &dev);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 96, "oic.sec.doxm.jw", owner.b, dev.b, psk),
                 CMN_OK);
    s_hex(psk, 16, hex);
    cr_assert_str_eq(hex, "820d396269631559fec73d65ed7b0ecd");
}

Test(cmn_psk, mfgcert_kbl40_matches_vector)
{
    uint8_t master[48], cr[32], sr[32], psk[16];
    cmn_uuid_t owner, dev;
    char hex[40];
    s_inputs(master, cr, sr, &owner, &dev);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 40, "oic.sec.doxm.mfgcert", owner.b, dev.b,
                                      psk),
                 CMN_OK);
    s_hex(psk, 16, hex);
    cr_assert_str_eq(hex, "bc123eb635dc6b142197eb6af4c0cf36");
}

Test(cmn_psk, owner_order_matters)
{
    uint8_t master[48], cr[32], sr[32], a[16], b[16];
    cmn_uuid_t owner, dev;
    s_inputs(master, cr, sr, &owner, &dev);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 96, "oic.sec.doxm.jw", owner.b, dev.b, a),
                 CMN_OK);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 96, "oic.sec.doxm.jw", dev.b, owner.b, b),
                 CMN_OK);
    cr_assert_neq(memcmp(a, b, 16), 0);
}

Test(cmn_psk, rejects_bad_kbl)
{
    uint8_t master[48] = {0}, cr[32] = {0}, sr[32] = {0}, psk[16];
    cmn_uuid_t u = {{0}};
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 0, "x", u.b, u.b, psk), CMN_EINVAL);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 4096, "x", u.b, u.b, psk), CMN_EINVAL);
}
