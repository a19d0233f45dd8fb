/* dots_otm_test.c — the OTM table, the operator's OTM policy and the choice of the
 * OTM (clause 5.3.1 step 3, clause 5.3.3) */
#include <criterion/criterion.h>
#include <string.h>

#include "dots_otm.h"
#include "obt/gateway.pb-c.h"

static dots_otm_policy_t
s_policy(const char *text)
{
    dots_otm_policy_t p;
    char why[160];
    cr_assert_eq(dots_otm_policy_parse(text, &p, why, sizeof why), CMN_OK, "%s: %s", text, why);
    return p;
}

Test(dots_otm, table_rows_match_the_ocf_ids_and_labels)
{
    const dots_otm_t *jw = dots_otm_by_oxm(0), *rdp = dots_otm_by_oxm(1), *mfg = dots_otm_by_oxm(2);
    cr_assert_not_null(jw);
    cr_assert_not_null(rdp);
    cr_assert_not_null(mfg);
    cr_expect_str_eq(jw->label, "oic.sec.doxm.jw");
    cr_expect_str_eq(rdp->label, "oic.sec.doxm.rdp");
    cr_expect_str_eq(mfg->label, "oic.sec.doxm.mfgcert");
    cr_expect_eq(jw->sec_kind, OBT__GW__SECURITY_KIND__SEC_JW_ANON);
    cr_expect_eq(rdp->sec_kind, OBT__GW__SECURITY_KIND__SEC_RDP);
    cr_expect_eq(mfg->sec_kind, OBT__GW__SECURITY_KIND__SEC_MFG);
    cr_expect_not(jw->needs_pin);
    cr_expect(rdp->needs_pin);
    cr_expect_not(mfg->needs_pin);
    cr_expect(mfg->needs_trust);
    cr_expect_not(jw->needs_trust || rdp->needs_trust);
    cr_expect_eq(dots_otm_by_name("RDP"), rdp);
    cr_expect_eq(dots_otm_by_name("mfg"), mfg);
    cr_expect_null(dots_otm_by_oxm(3));
    cr_expect_null(dots_otm_by_name("pin"));
}

Test(dots_otm, policy_parses_in_order)
{
    dots_otm_policy_t p = s_policy("rdp,jw");
    cr_assert_eq(p.n, 2);
    cr_expect_eq(p.otms[0]->oxm, 1);
    cr_expect_eq(p.otms[1]->oxm, 0);
    p = s_policy(" jw ");
    cr_assert_eq(p.n, 1);
    p = s_policy("mfg,rdp,jw"); /* the default */
    cr_assert_eq(p.n, 3);
    cr_expect_eq(p.otms[0]->oxm, 2);
    char text[DOTS_OTM_POLICY_LEN];
    p = s_policy("rdp, jw");
    dots_otm_policy_str(&p, text, sizeof text);
    cr_expect_str_eq(text, "rdp,jw");
}

Test(dots_otm, bad_policies_are_refused_with_the_word)
{
    static const char *const bad[] = {"", ",", "rdp,pin", "jw,jw", "mfg,mfg", "cert"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dots_otm_policy_t p;
        char why[160] = "";
        cr_expect_eq(dots_otm_policy_parse(bad[i], &p, why, sizeof why), CMN_EINVAL, "\"%s\"",
                     bad[i]);
        cr_expect(why[0], "no reason for \"%s\"", bad[i]);
    }
    dots_otm_policy_t p;
    char why[160];
    (void) dots_otm_policy_parse("rdp,pin", &p, why, sizeof why);
    cr_expect(strstr(why, "\"pin\"") != NULL, "%s", why);
}

Test(dots_otm, choice_is_the_first_of_the_policy_the_device_offers)
{
    static const int64_t both[] = {0, 1}, jw_only[] = {0}, rdp_only[] = {1};
    char why[160];
    dots_otm_policy_t prefer_rdp = s_policy("rdp,jw"), prefer_jw = s_policy("jw,rdp");
    cr_expect_eq(dots_otm_choose(&prefer_rdp, both, 2, why, sizeof why)->oxm, 1);
    cr_expect_eq(dots_otm_choose(&prefer_jw, both, 2, why, sizeof why)->oxm, 0);
    cr_expect_eq(dots_otm_choose(&prefer_rdp, jw_only, 1, why, sizeof why)->oxm, 0);
    cr_expect_eq(dots_otm_choose(&prefer_jw, rdp_only, 1, why, sizeof why)->oxm, 1);
    static const int64_t all3[] = {0, 1, 2};
    dots_otm_policy_t dflt = s_policy("mfg,rdp,jw");
    cr_expect_eq(dots_otm_choose(&dflt, all3, 3, why, sizeof why)->oxm, 2);
    cr_expect_eq(dots_otm_choose(&dflt, both, 2, why, sizeof why)->oxm, 1);
}

Test(dots_otm, no_common_method_gives_the_reason)
{
    static const int64_t jw_only[] = {0}, unknown[] = {2, 3};
    char why[160];
    dots_otm_policy_t mfg = s_policy("mfg");
    cr_expect_null(dots_otm_choose(&mfg, jw_only, 1, why, sizeof why));
    cr_expect_str_eq(why, "device offers oxms [0]; policy allows [mfg]");
    dots_otm_policy_t strict = s_policy("rdp");
    cr_expect_null(dots_otm_choose(&strict, jw_only, 1, why, sizeof why));
    cr_expect_str_eq(why, "device offers oxms [0]; policy allows [rdp]");
    dots_otm_policy_t any = s_policy("jw,rdp");
    cr_expect_null(dots_otm_choose(&any, unknown, 2, why, sizeof why));
    cr_expect_str_eq(why, "device offers oxms [2,3]; policy allows [jw,rdp]");
    cr_expect_null(dots_otm_choose(&any, NULL, 0, why, sizeof why));
    cr_expect_str_eq(why, "device offers oxms []; policy allows [jw,rdp]");
}

Test(dots_otm, a_request_narrows_the_policy_but_never_widens_it)
{
    char why[160];
    dots_otm_policy_t cfg = s_policy("rdp"), all = s_policy("rdp,jw");
    dots_otm_policy_t jw = s_policy("jw"), rdp = s_policy("rdp"), swapped = s_policy("jw,rdp");
    cr_expect_eq(dots_otm_policy_within(&rdp, &cfg, why, sizeof why), CMN_OK);
    cr_expect_eq(dots_otm_policy_within(&swapped, &all, why, sizeof why), CMN_OK);
    cr_expect_eq(dots_otm_policy_within(&jw, &cfg, why, sizeof why), CMN_EINVAL);
    cr_expect_str_eq(why, "OTM jw is not allowed by DOTS's policy [rdp]");
}
