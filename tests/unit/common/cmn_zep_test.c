/* cmn_zep_test.c — endpoint lists with port ranges: what they expand to, what is
 * refused (binding and connecting with them: cmn_bus_test). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cmn_zep.h"

Test(cmn_zep, expands_lists_and_ranges)
{
    cmn_zep_t z;
    char why[200] = "";
    cr_assert_eq(cmn_zep_expand("tcp://127.0.0.1:7402", &z, why, sizeof why), CMN_OK, "%s", why);
    cr_assert_eq(z.n, 1);
    cr_assert_str_eq(z.ep[0], "tcp://127.0.0.1:7402");
    cr_assert_eq(
            cmn_zep_expand("tcp://127.0.0.1:7402,tcp://127.0.0.1:7420-7422", &z, why, sizeof why),
            CMN_OK, "%s", why);
    cr_assert_eq(z.n, 4);
    cr_assert_str_eq(z.ep[1], "tcp://127.0.0.1:7420");
    cr_assert_str_eq(z.ep[3], "tcp://127.0.0.1:7422");
    cr_assert_eq(cmn_zep_expand("tcp://[::1]:9000-9001", &z, why, sizeof why), CMN_OK);
    cr_assert_str_eq(z.ep[1], "tcp://[::1]:9001");
    /* a dash elsewhere is not a range */
    cr_assert_eq(cmn_zep_expand("tcp://cms-1:7402,ipc:///tmp/a-b.sock", &z, why, sizeof why),
                 CMN_OK);
    cr_assert_eq(z.n, 2);
    cr_assert_str_eq(z.ep[0], "tcp://cms-1:7402");
    cr_assert_str_eq(z.ep[1], "ipc:///tmp/a-b.sock");
    cr_assert_eq(cmn_zep_count("tcp://127.0.0.1:7000-7063"), 64);
}

Test(cmn_zep, refuses_with_the_reason)
{
    static const struct {
        const char *spec, *why;
    } bad[] = {
            {"", "no endpoint"},
            {"tcp://127.0.0.1:7402,", "an empty endpoint"},
            {",tcp://127.0.0.1:7402", "an empty endpoint"},
            {"tcp://127.0.0.1:7405-7402", "a port range is FIRST-LAST"},
            {"tcp://127.0.0.1:0-3", "a port range is FIRST-LAST"},
            {"tcp://127.0.0.1:65535-65536", "a port range is FIRST-LAST"},
            {"tcp://127.0.0.1:1x-3", "a port range is FIRST-LAST"},
            {"tcp://127.0.0.1:7000-7064", "more than 64 endpoints"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cmn_zep_t z;
        char why[200] = "";
        cr_assert_eq(cmn_zep_expand(bad[i].spec, &z, why, sizeof why), CMN_EINVAL, "%s accepted",
                     bad[i].spec);
        cr_assert(strstr(why, bad[i].why) != NULL, "%s: \"%s\"", bad[i].spec, why);
        cr_assert_eq(cmn_zep_count(bad[i].spec), 0);
    }
    char longer[400];
    (void) snprintf(longer, sizeof longer, "ipc:///%0300d", 0);
    cmn_zep_t z;
    char why[200] = "";
    cr_assert_eq(cmn_zep_expand(longer, &z, why, sizeof why), CMN_EINVAL);
    cr_assert(strstr(why, "longer than") != NULL, "%s", why);
}
