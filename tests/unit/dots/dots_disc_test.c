/* dots_disc_test.c — merging discovery results into a device record */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "dots_disc.h"

Test(dots_disc, new_endpoints_first_then_the_known_ones_without_duplicates)
{
    dots_dev_t d;
    memset(&d, 0, sizeof d);
    d.state = 17; /* e.g. RFNOP: a discovery never changes it */
    d.owned = true;
    const char *const first[] = {"coap://127.0.0.1:1", "coaps://127.0.0.1:2"};
    dots_disc_merge_eps(&d, first, 2);
    cr_assert_eq(d.n_eps, 2);
    const char *const second[] = {"coaps://[fe80::1%veth0]:2", "coaps://127.0.0.1:2", ""};
    dots_disc_merge_eps(&d, second, 3);
    cr_assert_eq(d.n_eps, 3);
    cr_expect_str_eq(d.eps[0], "coaps://[fe80::1%veth0]:2");
    cr_expect_str_eq(d.eps[1], "coaps://127.0.0.1:2");
    cr_expect_str_eq(d.eps[2], "coap://127.0.0.1:1");
    cr_expect_eq(d.state, 17);
    cr_expect(d.owned);
}

Test(dots_disc, keeps_at_most_the_limit)
{
    dots_dev_t d;
    memset(&d, 0, sizeof d);
    char buf[DOTS_MAX_EPS + 3][40];
    const char *eps[DOTS_MAX_EPS + 3];
    for (int i = 0; i < DOTS_MAX_EPS + 3; i++) {
        (void) snprintf(buf[i], sizeof buf[i], "coaps://10.0.0.%d:5", i);
        eps[i] = buf[i];
    }
    dots_disc_merge_eps(&d, eps, DOTS_MAX_EPS + 3);
    cr_assert_eq(d.n_eps, DOTS_MAX_EPS);
    dots_disc_merge_eps(&d, &eps[DOTS_MAX_EPS + 2], 1);
    cr_assert_eq(d.n_eps, DOTS_MAX_EPS);
    cr_expect_str_eq(d.eps[0], buf[DOTS_MAX_EPS + 2], "the newest discovery's endpoint first");
}

Test(dots_disc, a_new_port_on_the_same_address_replaces_the_old_one)
{
    dots_dev_t d;
    memset(&d, 0, sizeof d);
    const char *const before[] = {"coap://[fe80::2%veth0]:40000", "coaps://[fe80::2%veth0]:40001",
                                  "coap://10.0.0.2:40000", "coaps://10.0.0.2:40001"};
    dots_disc_merge_eps(&d, before, 4);
    /* The device restarted (new ports) and answered on IPv4 only this time. */
    const char *const after[] = {"coap://10.0.0.2:41000", "coaps://10.0.0.2:41001"};
    dots_disc_merge_eps(&d, after, 2);
    cr_assert_eq(d.n_eps, 4);
    cr_expect_str_eq(d.eps[0], "coap://10.0.0.2:41000");
    cr_expect_str_eq(d.eps[1], "coaps://10.0.0.2:41001");
    cr_expect_str_eq(d.eps[2], "coap://[fe80::2%veth0]:40000", "other addresses are kept");
    cr_expect_str_eq(d.eps[3], "coaps://[fe80::2%veth0]:40001");
}

Test(dots_disc, a_conflict_keeps_each_claim_until_one_is_picked)
{
    dots_dev_t d;
    memset(&d, 0, sizeof d);
    const char *const old[] = {"coap://127.0.0.1:9"};
    dots_disc_merge_eps(&d, old, 1);
    const char *const real[] = {"coap://127.0.0.1:1", "coaps://127.0.0.1:2"};
    const char *const fake[] = {"coap://127.0.0.1:7", "coap://127.0.0.1:1"};
    dots_disc_claim_t claims[] = {{"coap://127.0.0.1:1", real, 2}, {"coap://127.0.0.1:7", fake, 2}};
    dots_disc_set_conflict(&d, claims, 2, 3);
    cr_assert(dots_disc_has_conflict(&d));
    cr_expect_eq(d.claimed_by, 3);
    cr_expect(strstr(d.error, "uuid claimed by 3 endpoints (coap://127.0.0.1:1, "
                              "coap://127.0.0.1:7, ...)") != NULL,
              "%s", d.error);
    cr_assert_eq(d.n_eps, 1, "the endpoints are not touched");
    cr_expect_eq(dots_disc_pick(&d, "coap://127.0.0.1:5"), CMN_ENOTFOUND);
    d.claims[1].n_eps = 3; /* both list coaps://127.0.0.1:2 now: it names neither */
    (void) snprintf(d.claims[1].eps[2], sizeof d.claims[1].eps[2], "coaps://127.0.0.1:2");
    cr_expect_eq(dots_disc_pick(&d, "coaps://127.0.0.1:2"), CMN_ENOTFOUND);
    d.claims[1].n_eps = 2;
    cr_expect(dots_disc_has_conflict(&d));
    cr_assert_eq(dots_disc_pick(&d, "coaps://127.0.0.1:2"), CMN_OK);
    cr_expect(!dots_disc_has_conflict(&d));
    cr_expect_eq(d.n_claims, 0);
    cr_expect_str_eq(d.error, "");
    cr_assert_eq(d.n_eps, 2);
    cr_expect_str_eq(d.eps[0], "coap://127.0.0.1:1");
    cr_expect_str_eq(d.eps[1], "coaps://127.0.0.1:2");
    cr_expect_eq(dots_disc_pick(&d, "coap://127.0.0.1:1"), CMN_ESTATE);
}

Test(dots_disc, a_picked_claim_without_eps_keeps_its_source)
{
    dots_dev_t d;
    memset(&d, 0, sizeof d);
    dots_disc_claim_t claims[] = {{"coap://127.0.0.1:1", NULL, 0}, {"coap://127.0.0.1:7", NULL, 0}};
    dots_disc_set_conflict(&d, claims, 2, 2);
    cr_assert_eq(dots_disc_pick(&d, "coap://127.0.0.1:7"), CMN_OK);
    cr_assert_eq(d.n_eps, 1);
    cr_expect_str_eq(d.eps[0], "coap://127.0.0.1:7");
}
