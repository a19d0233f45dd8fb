/* cmn_gws_test.c — the --gateway value: one bare endpoint or NAME=ENDPOINT lists, and
 * the reasons a bad one is refused with */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_gws.h"

static cmn_err_t
s_check(const char *spec, char *why, size_t len)
{
    why[0] = '\0';
    return cmn_gws_check(spec, why, len);
}

Test(cmn_gws, a_bare_endpoint_and_named_lists_are_accepted)
{
    char why[300];
    cr_assert_eq(s_check("tcp://127.0.0.1:7400", why, sizeof why), CMN_OK, "%s", why);
    cr_assert_eq(s_check("ipc:///tmp/x=y/gw.sock", why, sizeof why), CMN_OK, "%s", why);
    cr_assert_eq(s_check("gw-a=tcp://10.0.0.1:7400,gw_b.2=ipc:///run/gw-b.sock", why, sizeof why),
                 CMN_OK, "%s", why);
}

Test(cmn_gws, bad_values_are_refused_with_the_reason)
{
    char why[300];
    cr_assert_eq(s_check("", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "no gateway") != NULL, "%s", why);
    cr_assert_eq(s_check("a=tcp://h:1,a=tcp://h:2", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "\"a\" is listed twice") != NULL, "%s", why);
    cr_assert_eq(s_check("gw a=tcp://h:1", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "only letters, digits") != NULL, "%s", why);
    cr_assert_eq(s_check("=tcp://h:1", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "1 to 31 characters") != NULL, "%s", why);
    cr_assert_eq(s_check("gw-a=nowhere", why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "is not an endpoint") != NULL, "%s", why);
    cr_assert_eq(s_check("gw-a=tcp://h:1,", why, sizeof why), CMN_OK, "a trailing comma: %s", why);
}

Test(cmn_gws, names)
{
    cr_assert(cmn_gw_name_is_valid("gw"));
    cr_assert(cmn_gw_name_is_valid("site-1.gw_b"));
    cr_assert_not(cmn_gw_name_is_valid(""));
    cr_assert_not(cmn_gw_name_is_valid("a/b"));
    cr_assert_not(cmn_gw_name_is_valid("0123456789012345678901234567890123"));
}
