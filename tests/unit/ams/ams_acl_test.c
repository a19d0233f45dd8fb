/* ams_acl_test.c — the ACL-cleaning plan AMS computes before RFNOP (clause 5.2) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ams_acl.h"

static cmn_uuid_t s_dots = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
static cmn_uuid_t s_cms = {{2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
static cmn_uuid_t s_ams = {{3, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};

static cmn_ace_t
s_ace(int64_t aceid, cmn_ace_subject_kind_t kind, cmn_conntype_t ct, const char *csv, int64_t perm)
{
    cmn_ace_t a;
    memset(&a, 0, sizeof a);
    a.aceid = aceid;
    a.subject_kind = kind;
    a.conntype = ct;
    a.subject_uuid = s_dots;
    a.permission = perm;
    char buf[256];
    (void) snprintf(buf, sizeof buf, "%s", csv);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        cmn_ace_res_t *r = &a.resources[a.n_resources++];
        if (strcmp(tok, "*") == 0 || strcmp(tok, "+") == 0 || strcmp(tok, "-") == 0) {
            (void) snprintf(r->wc, sizeof r->wc, "%s", tok);
        } else {
            (void) snprintf(r->href, sizeof r->href, "%s", tok);
        }
    }
    return a;
}

Test(ams_acl, factory_acl_deletes_and_replaces_and_adds_baseline)
{
    cmn_ace_t aces[] = {
            s_ace(1, CMN_ACE_SUBJECT_CONNTYPE, CMN_CONNTYPE_ANON_CLEAR,
                  "/oic/res,/oic/d,/oic/p,/oic/sec/doxm", CMN_PERM_R),
            s_ace(2, CMN_ACE_SUBJECT_CONNTYPE, CMN_CONNTYPE_AUTH_CRYPT, "/oic/sec/sdi,/a/light",
                  CMN_PERM_R | CMN_PERM_U),
            s_ace(3, CMN_ACE_SUBJECT_CONNTYPE, CMN_CONNTYPE_AUTH_CRYPT,
                  "/oic/sec/cred,/oic/sec/acl2", CMN_PERM_R),
            s_ace(4, CMN_ACE_SUBJECT_UUID, CMN_CONNTYPE_ANON_CLEAR, "/oic/sec/cred", CMN_PERM_R),
            s_ace(5, CMN_ACE_SUBJECT_CONNTYPE, CMN_CONNTYPE_ANON_CLEAR, "*", CMN_PERM_R),
    };
    cmn_acl_t acl = {.aces = aces, .n_aces = 5};
    ams_acl_plan_t plan;
    cr_assert_eq(ams_acl_plan(&acl, &s_dots, &s_cms, &s_ams, &plan), CMN_OK);

    cr_assert_eq(plan.n_deletes, 1);
    cr_assert_eq(plan.deletes[0], 3);
    cr_assert_eq(plan.n_replaces, 2);
    cr_assert_eq(plan.replaces[0].aceid, 1);
    cr_assert_eq(plan.replaces[0].n_resources, 3);
    cr_assert_str_eq(plan.replaces[0].resources[0].href, "/oic/res");
    cr_assert_str_eq(plan.replaces[0].resources[2].href, "/oic/p");
    cr_assert_eq(plan.replaces[1].aceid, 2);
    cr_assert_eq(plan.replaces[1].n_resources, 1);
    cr_assert_str_eq(plan.replaces[1].resources[0].href, "/a/light");
    cr_assert_eq(plan.replaces[1].conntype, CMN_CONNTYPE_AUTH_CRYPT);
    /* ACE 1 without /oic/sec/doxm is the baseline anon-clear ACE already: not added
     * again (a device would hold it twice) */
    cr_assert_eq(plan.n_adds, AMS_BASELINE_COUNT - 1);
    for (size_t i = 0; i < plan.n_adds; i++) {
        cr_assert_neq(plan.adds[i].subject_kind, CMN_ACE_SUBJECT_CONNTYPE);
    }
    ams_acl_plan_free(&plan);
}

Test(ams_acl, clean_acl_with_baseline_needs_nothing)
{
    cmn_ace_t base[AMS_BASELINE_COUNT];
    ams_acl_baseline(&s_dots, &s_cms, &s_ams, base);
    cmn_ace_t aces[AMS_BASELINE_COUNT + 1];
    for (size_t i = 0; i < AMS_BASELINE_COUNT; i++) {
        aces[i] = base[i];
        aces[i].aceid = (int64_t) i + 10;
    }
    aces[AMS_BASELINE_COUNT] =
            s_ace(20, CMN_ACE_SUBJECT_CONNTYPE, CMN_CONNTYPE_AUTH_CRYPT, "/a/light", CMN_PERM_R);
    cmn_acl_t acl = {.aces = aces, .n_aces = AMS_BASELINE_COUNT + 1};
    ams_acl_plan_t plan;
    cr_assert_eq(ams_acl_plan(&acl, &s_dots, &s_cms, &s_ams, &plan), CMN_OK);
    cr_assert_eq(plan.n_deletes, 0);
    cr_assert_eq(plan.n_replaces, 0);
    cr_assert_eq(plan.n_adds, 0);
    ams_acl_plan_free(&plan);
}

Test(ams_acl, baseline_has_the_five_documented_aces)
{
    cmn_ace_t base[AMS_BASELINE_COUNT];
    ams_acl_baseline(&s_dots, &s_cms, &s_ams, base);
    cr_assert_str_eq(base[0].resources[0].href, "/oic/sec/sp");
    cr_assert_eq(base[0].permission, CMN_PERM_R | CMN_PERM_U | CMN_PERM_D);
    cr_assert(cmn_uuid_eq(&base[0].subject_uuid, &s_dots));
    cr_assert_str_eq(base[1].resources[0].href, "/oic/sec/csr");
    cr_assert(cmn_uuid_eq(&base[1].subject_uuid, &s_cms));
    cr_assert_eq(base[2].subject_kind, CMN_ACE_SUBJECT_CONNTYPE);
    cr_assert_eq(base[2].conntype, CMN_CONNTYPE_ANON_CLEAR);
    cr_assert_eq(base[2].n_resources, 3);
    cr_assert_str_eq(base[3].resources[0].href, "/oic/sec/pstat");
    cr_assert(cmn_uuid_eq(&base[3].subject_uuid, &s_ams));
    cr_assert_eq(base[3].permission, CMN_PERM_R | CMN_PERM_U);
    cr_assert_str_eq(base[4].resources[0].href, "/oic/sec/pstat");
    cr_assert(cmn_uuid_eq(&base[4].subject_uuid, &s_cms));
    cr_assert_eq(base[4].permission, CMN_PERM_R | CMN_PERM_U);
}

Test(ams_acl, aces_with_the_same_resources_in_another_order_are_equal)
{
    cmn_ace_t a = s_ace(1, CMN_ACE_SUBJECT_CONNTYPE, CMN_CONNTYPE_ANON_CLEAR,
                        "/oic/res,/oic/d,/oic/p", CMN_PERM_R);
    cmn_ace_t b = s_ace(2, CMN_ACE_SUBJECT_CONNTYPE, CMN_CONNTYPE_ANON_CLEAR,
                        "/oic/d,/oic/p,/oic/res", CMN_PERM_R);
    cmn_ace_t c = s_ace(3, CMN_ACE_SUBJECT_CONNTYPE, CMN_CONNTYPE_ANON_CLEAR,
                        "/oic/d,/oic/p,/a/light", CMN_PERM_R);
    cr_assert(ams_acl_ace_eq(&a, &b));
    cr_assert_not(ams_acl_ace_eq(&a, &c));
}

/* Table 2: role oic.role.owner RU over every SVR for ocf.2.4.0 and older, compared as
 * numbers; nothing for a newer device or an icv that does not parse. */
Test(ams_acl, table2_ace_by_icv_over_the_svrs_of_oic_res)
{
    static const char *const hrefs[] = {"/oic/res",      "/oic/d",        "/oic/sec/doxm",
                                        "/oic/sec/acl2", "/light",        "/oic/sec/cred",
                                        "/temp",         "/oic/sec/pstat"};
    cmn_res_t res = {0};
    for (size_t i = 0; i < sizeof hrefs / sizeof hrefs[0]; i++) {
        cmn_link_t l;
        memset(&l, 0, sizeof l);
        (void) snprintf(l.href, sizeof l.href, "%s", hrefs[i]);
        cr_assert_eq(cmn_res_add(&res, &l), CMN_OK);
    }
    static const struct {
        const char *icv;
        bool due;
    } cases[] = {{"ocf.2.4.0", true},  {"ocf.2.3.9", true},  {"ocf.1.3.1", true},
                 {"ocf.2.4", true},    {"ocf.2.5.0", false}, {"ocf.2.10.0", false},
                 {"ocf.3.0.0", false}, {"garbage", false},   {"", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cmn_ace_t ace;
        memset(&ace, 0, sizeof ace);
        bool got = ams_acl_table2(cases[i].icv, &res, &ace);
        cr_expect_eq(got, cases[i].due, "icv \"%s\": Table 2 ACE %s", cases[i].icv,
                     got ? "given" : "not given");
        if (!got) {
            continue;
        }
        cr_assert_eq(ace.subject_kind, CMN_ACE_SUBJECT_ROLE);
        cr_assert_str_eq(ace.role, "oic.role.owner");
        cr_assert_eq(ace.permission, CMN_PERM_R | CMN_PERM_U);
        cr_assert_eq(ace.n_resources, 4, "not exactly the 4 SVRs");
        for (size_t r = 0; r < ace.n_resources; r++) {
            cr_assert(cmn_svr_is_svr_href(ace.resources[r].href), "%s is no SVR",
                      ace.resources[r].href);
        }
    }
    cmn_res_free(&res);
}
