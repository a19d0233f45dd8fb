/* ams_policy_test.c — the policy file: the example in docs/ parses, every error names
 * its line and reason, and matching picks the entries of a device's types */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ams_policy.h"

#ifndef OBT_SOURCE_DIR
#define OBT_SOURCE_DIR "."
#endif

static ams_policy_t *
s_parse(const char *text, char *why, size_t cap)
{
    return ams_policy_parse(text, strlen(text), "p.yaml", why, cap);
}

Test(ams_policy, the_documented_example_parses)
{
    char why[400] = "";
    ams_policy_t *p =
            ams_policy_load(OBT_SOURCE_DIR "/docs/examples/ams-policy.yaml", why, sizeof why);
    cr_assert_not_null(p, "%s", why);
    cr_assert_eq(ams_policy_rules(p), 2);
    cr_assert_eq(ams_policy_aces(p), 3);
    cmn_ace_t out[AMS_POLICY_MAX_ACES];
    const char *light[] = {"oic.wk.d", "oic.r.switch.binary"};
    cr_assert_eq(ams_policy_match(p, light, 2, out, AMS_POLICY_MAX_ACES), 2);
    cr_assert_eq(out[0].subject_kind, CMN_ACE_SUBJECT_CONNTYPE);
    cr_assert_eq(out[0].conntype, CMN_CONNTYPE_AUTH_CRYPT);
    cr_assert_str_eq(out[0].resources[0].href, "/light");
    cr_assert_str_eq(out[0].resources[0].ifs[0], "oic.if.a");
    cr_assert_eq(out[0].permission, CMN_PERM_R);
    cr_assert_eq(out[1].subject_kind, CMN_ACE_SUBJECT_ROLE);
    cr_assert_str_eq(out[1].role, "light-admin");
    cr_assert_str_eq(out[1].resources[0].rt[0], "oic.r.switch.binary");
    cr_assert_eq(out[1].permission, CMN_PERM_R | CMN_PERM_U);
    const char *both[] = {"oic.r.temperature", "oic.r.switch.binary"};
    cr_assert_eq(ams_policy_match(p, both, 2, out, AMS_POLICY_MAX_ACES), 3);
    cr_assert_eq(out[2].n_validity, 1);
    cr_assert_str_eq(out[2].validity[0], "20260101T000000Z/20280101T000000Z");
    const char *none[] = {"oic.r.humidity"};
    cr_assert_eq(ams_policy_match(p, none, 1, out, AMS_POLICY_MAX_ACES), 0);
    ams_policy_destroy(&p);
    cr_assert_null(p);
}

Test(ams_policy, entries_for_the_same_device_merge_and_equal_aces_count_once)
{
    char why[400] = "";
    ams_policy_t *p = s_parse("version: 1\n"
                              "policy:\n"
                              "  - rt: a\n"
                              "    aces:\n"
                              "      - {subject: conn:auth-crypt, res: /x, perm: R}\n"
                              "  - rt: b\n"
                              "    aces:\n"
                              "      - {subject: conn:auth-crypt, res: [/x], perm: -R---}\n"
                              "      - {subject: role:r@auth, res: [wc:*], perm: CRUDN}\n"
                              "  - rt: c\n"
                              "    aces: []\n",
                              why, sizeof why);
    cr_assert_not_null(p, "%s", why);
    cmn_ace_t out[AMS_POLICY_MAX_ACES];
    const char *ab[] = {"a", "b"};
    cr_assert_eq(ams_policy_match(p, ab, 2, out, AMS_POLICY_MAX_ACES), 2);
    cr_assert_str_eq(out[1].authority, "auth");
    cr_assert_str_eq(out[1].resources[0].wc, "*");
    cr_assert_eq(out[1].permission, 31);
    const char *c[] = {"c"};
    cr_assert_eq(ams_policy_match(p, c, 1, out, AMS_POLICY_MAX_ACES), 0);
    ams_policy_destroy(&p);
}

/* Each bad file: the line the error names and a word of the reason. */
Test(ams_policy, every_error_names_the_line_and_the_reason)
{
    static const struct {
        const char *text;
        const char *want; /* "p.yaml:LINE: ...reason" prefix and word */
        const char *word;
    } cases[] = {
            {"version: 1\npolicy:\n  - rt: a\n    aces:\n      - {subject: uid:x, res: /x, "
             "perm: R}\n",
             "p.yaml:5:", "subject \"uid:x\""},
            {"version: 1\npolicy:\n  - rt: a\n    aces:\n      - subject: conn:anon-clear\n"
             "        res: [/x, light]\n        perm: R\n",
             "p.yaml:6:", "res \"light\""},
            {"version: 1\npolicy:\n  - rt: a\n    aces:\n      - subject: conn:anon-clear\n"
             "        res: /x\n        perm: RX\n",
             "p.yaml:7:", "perm \"RX\""},
            {"version: 1\npolicy:\n  - rt: a\n    aces:\n      - subject: conn:anon-clear\n"
             "        perm: R\n",
             "p.yaml:5:", "needs res"},
            {"version: 1\npolicy:\n  - rt: a\n    aces:\n      - subject: conn:anon-clear\n"
             "        res: /x\n        perm: R\n        colour: red\n",
             "p.yaml:8:", "unknown ACE key \"colour\""},
            {"version: 1\npolicy:\n  - rt: a\n    aces:\n      - subject: conn:anon-clear\n"
             "        res: /oic/sec/cred\n        perm: R\n",
             "p.yaml:5:", "clause 5.2"},
            {"version: 1\npolicy:\n  - rt: a\n    aces:\n      - subject: conn:auth-crypt\n"
             "        res: /x\n        perm: R\n        validity: 2026\n",
             "p.yaml:8:", "validity \"2026\""},
            {"version: 1\npolicy:\n  - rt: a\n    aces:\n      - subject: conn:auth-crypt\n"
             "        res: /x\n        if: \"\"\n        perm: R\n",
             "p.yaml:7:", "if \"\""},
            {"version: 1\npolicy:\n  - aces: []\n", "p.yaml:3:", "rt:"},
            {"version: 1\npolicy:\n  - rt: a\n", "p.yaml:3:", "aces:"},
            {"version: 2\npolicy: []\n", "p.yaml:1:", "version: 1"},
            {"policy: []\n", "p.yaml:1:", "version: 1"},
            {"version: 1\npolicy: []\nextra: 1\n", "p.yaml:3:", "unknown key \"extra\""},
            {"version: 1\npolicy:\n  - rt: a\n    aces: [\n", "p.yaml:5:", ""},
            {"version: 1\npolicy:\n  - rt: a\n  rt: b\n", "p.yaml:", ""},
            {"", "p.yaml:1:", "mapping"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[400] = "";
        ams_policy_t *p = s_parse(cases[i].text, why, sizeof why);
        cr_expect_null(p, "case %zu parsed", i);
        ams_policy_destroy(&p);
        cr_expect(strncmp(why, cases[i].want, strlen(cases[i].want)) == 0,
                  "case %zu: \"%s\", want it to start with %s", i, why, cases[i].want);
        cr_expect(strstr(why, cases[i].word) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, why,
                  cases[i].word);
    }
}

Test(ams_policy, a_missing_file_is_an_error_naming_it)
{
    char why[400] = "";
    ams_policy_t *p = ams_policy_load("/nonexistent/policy.yaml", why, sizeof why);
    cr_assert_null(p);
    cr_assert(strstr(why, "/nonexistent/policy.yaml") != NULL, "%s", why);
}
