/* cmn_uuid_test.c — UUID generation, text round trip, validation */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_uuid.h"

Test(cmn_uuid, generate_sets_version_and_variant)
{
    for (int i = 0; i < 64; i++) {
        cmn_uuid_t u;
        cr_assert_eq(cmn_uuid_generate(&u), CMN_OK);
        cr_assert_eq(u.b[6] >> 4, 4);
        cr_assert_eq(u.b[8] & 0xc0, 0x80);
        cr_assert_not(cmn_uuid_is_nil(&u));
    }
}

Test(cmn_uuid, generate_differs)
{
    cmn_uuid_t a, b;
    cr_assert_eq(cmn_uuid_generate(&a), CMN_OK);
    cr_assert_eq(cmn_uuid_generate(&b), CMN_OK);
    cr_assert_not(cmn_uuid_eq(&a, &b));
}

Test(cmn_uuid, identity_has_no_zero_byte)
{
    for (int i = 0; i < 2000; i++) {
        cmn_uuid_t u;
        cr_assert_eq(cmn_uuid_generate_identity(&u), CMN_OK);
        cr_assert_null(memchr(u.b, 0, sizeof u.b));
        cr_assert_eq(u.b[6] >> 4, 4);
        cr_assert_eq(u.b[8] & 0xc0, 0x80);
    }
}

Test(cmn_uuid, string_roundtrip)
{
    cmn_uuid_t u, v;
    char s[CMN_UUID_STR_LEN + 1];
    cr_assert_eq(cmn_uuid_from_str("12345678-9ABC-def0-1234-56789abcdef0", &u), CMN_OK);
    cmn_uuid_to_str(&u, s);
    cr_assert_str_eq(s, "12345678-9abc-def0-1234-56789abcdef0");
    cr_assert_eq(u.b[0], 0x12);
    cr_assert_eq(u.b[15], 0xf0);
    cr_assert_eq(cmn_uuid_from_str(s, &v), CMN_OK);
    cr_assert(cmn_uuid_eq(&u, &v));
}

Test(cmn_uuid, rejects_malformed)
{
    cmn_uuid_t u;
    const char *bad[] = {"",
                         "12345678-9abc-def0-1234-56789abcdef",
                         "12345678-9abc-def0-1234-56789abcdef00",
                         "12345678x9abc-def0-1234-56789abcdef0",
                         "1234567g-9abc-def0-1234-56789abcdef0",
                         "123456789abcdef0123456789abcdef0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(cmn_uuid_from_str(bad[i], &u), CMN_EINVAL, "%s", bad[i]);
    }
}

Test(cmn_uuid, nil)
{
    cmn_uuid_t u;
    memset(&u, 0, sizeof u);
    cr_assert(cmn_uuid_is_nil(&u));
    u.b[15] = 1;
    cr_assert_not(cmn_uuid_is_nil(&u));
}
