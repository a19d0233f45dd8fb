/* sim_acl_test.c — the access decision of a simulated device against the cases of
 * OCF-NOTES 4.5-4.7 and 5.3 (clause 12 of ISO/IEC 30118-2): one table of requests, each
 * with the ACL, the peer, the state and the answer expected. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim_acl.h"

/* ---------------------------------------------------------------- resources */

enum { R_LIGHT, R_TEMP, R_HIDDEN, R_ACL2, R_DOXM, R_RES, R_COUNT };

static const sim_res_info_t s_res[R_COUNT] = {
        [R_LIGHT] = {"/light",
                     "oic.r.switch.binary",
                     {"oic.if.a", "oic.if.baseline", NULL},
                     false,
                     false,
                     true,
                     true},
        [R_TEMP] = {"/temp",
                    "oic.r.temperature",
                    {"oic.if.s", "oic.if.baseline", NULL},
                    false,
                    false,
                    true,
                    false},
        [R_HIDDEN] = {"/hidden", "x.hidden", {"oic.if.a", NULL, NULL}, false, false, false, false},
        [R_ACL2] = {"/oic/sec/acl2",
                    "oic.r.acl2",
                    {"oic.if.rw", "oic.if.baseline", NULL},
                    true,
                    true,
                    true,
                    false},
        [R_DOXM] = {"/oic/sec/doxm",
                    "oic.r.doxm",
                    {"oic.if.rw", "oic.if.baseline", NULL},
                    true,
                    true,
                    true,
                    true},
        [R_RES] = {"/oic/res",
                   "oic.wk.res",
                   {"oic.if.ll", "oic.if.baseline", NULL},
                   true,
                   false,
                   true,
                   true},
};

/* ---------------------------------------------------------------- peers */

#define UUID_A "aaaaaaaa-0000-4000-8000-000000000001"
#define UUID_B "bbbbbbbb-0000-4000-8000-000000000002"
#define UUID_C "cccccccc-0000-4000-8000-000000000003"

enum { P_ANON, P_A, P_B, P_ROLE, P_ROLE_OTHER_AUTH, P_OWNER_ROLE, P_DOC, P_COUNT };

static const sim_role_t s_role_light = {"oic.role.light", "acme"};
static const sim_role_t s_role_light_other = {"oic.role.light", "evil"};
static const sim_role_t s_role_owner = {"oic.role.owner", ""};

static sim_peer_t
s_peer(int which)
{
    sim_peer_t p;
    memset(&p, 0, sizeof p);
    if (which == P_ANON) {
        return p;
    }
    p.is_secure = true;
    p.has_peer = which != P_DOC;
    const char *u = which == P_A ? UUID_A : which == P_B ? UUID_B : UUID_C;
    cr_assert_eq(cmn_uuid_from_str(u, &p.peer), CMN_OK);
    if (which == P_ROLE) {
        p.roles = &s_role_light;
        p.n_roles = 1;
    } else if (which == P_ROLE_OTHER_AUTH) {
        p.roles = &s_role_light_other;
        p.n_roles = 1;
    } else if (which == P_OWNER_ROLE) {
        p.roles = &s_role_owner;
        p.n_roles = 1;
    } else if (which == P_DOC) {
        p.is_doc = true;
    }
    return p;
}

/* ---------------------------------------------------------------- ACEs
 * One ACE in a compact form: subject "uuid:X" | "role:R[@A]" | "conn:anon-clear|auth-crypt";
 * resource "/href" | "wc:*" | "rt:T", optional "|if:I"; permission "CRUDN" letters;
 * validity a period or NULL. */
typedef struct {
    const char *subject;
    const char *res;
    const char *perm;
    const char *validity;
} s_ace_spec_t;

static int64_t
s_perm(const char *p)
{
    int64_t v = 0;
    v |= strchr(p, 'C') ? CMN_PERM_C : 0;
    v |= strchr(p, 'R') ? CMN_PERM_R : 0;
    v |= strchr(p, 'U') ? CMN_PERM_U : 0;
    v |= strchr(p, 'D') ? CMN_PERM_D : 0;
    v |= strchr(p, 'N') ? CMN_PERM_N : 0;
    return v;
}

static cmn_ace_t
s_ace(const s_ace_spec_t *spec, int64_t id)
{
    cmn_ace_t ace;
    memset(&ace, 0, sizeof ace);
    ace.aceid = id;
    if (strncmp(spec->subject, "uuid:", 5) == 0) {
        ace.subject_kind = CMN_ACE_SUBJECT_UUID;
        cr_assert_eq(cmn_uuid_from_str(spec->subject + 5, &ace.subject_uuid), CMN_OK);
    } else if (strncmp(spec->subject, "role:", 5) == 0) {
        ace.subject_kind = CMN_ACE_SUBJECT_ROLE;
        const char *at = strchr(spec->subject, '@');
        size_t n = at ? (size_t) (at - spec->subject - 5) : strlen(spec->subject + 5);
        (void) snprintf(ace.role, sizeof ace.role, "%.*s", (int) n, spec->subject + 5);
        (void) snprintf(ace.authority, sizeof ace.authority, "%s", at ? at + 1 : "");
    } else {
        ace.subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
        ace.conntype = strcmp(spec->subject, "conn:anon-clear") == 0 ? CMN_CONNTYPE_ANON_CLEAR
                                                                     : CMN_CONNTYPE_AUTH_CRYPT;
    }
    cmn_ace_res_t *r = &ace.resources[0];
    ace.n_resources = 1;
    char res[64];
    (void) snprintf(res, sizeof res, "%s", spec->res);
    char *bar = strchr(res, '|');
    if (bar) {
        *bar = '\0';
        (void) snprintf(r->ifs[0], sizeof r->ifs[0], "%s", bar + 4); /* "|if:" */
        r->n_ifs = 1;
    }
    if (strncmp(res, "wc:", 3) == 0) {
        r->wc[0] = res[3]; /* one character: * + - */
        r->wc[1] = '\0';
    } else if (strncmp(res, "rt:", 3) == 0) {
        (void) snprintf(r->rt[0], sizeof r->rt[0], "%.*s", (int) sizeof r->rt[0] - 1, res + 3);
        r->n_rt = 1;
    } else {
        (void) snprintf(r->href, sizeof r->href, "%s", res);
    }
    ace.permission = s_perm(spec->perm);
    if (spec->validity) {
        (void) snprintf(ace.validity[0], sizeof ace.validity[0], "%s", spec->validity);
        ace.n_validity = 1;
    }
    return ace;
}

/* 2026-06-01T00:00:00Z, the clock of every case. */
#define NOW_S ((time_t) 1780272000)

static const s_ace_spec_t s_none[] = {{NULL, NULL, NULL, NULL}};
static const s_ace_spec_t s_a_light_r[] = {{"uuid:" UUID_A, "/light", "R", NULL}, {NULL}};
static const s_ace_spec_t s_a_all[] = {{"uuid:" UUID_A, "wc:*", "CRUDN", NULL}, {NULL}};
static const s_ace_spec_t s_a_plus[] = {{"uuid:" UUID_A, "wc:+", "R", NULL}, {NULL}};
static const s_ace_spec_t s_a_minus[] = {{"uuid:" UUID_A, "wc:-", "R", NULL}, {NULL}};
static const s_ace_spec_t s_anon_light[] = {{"conn:anon-clear", "/light", "R", NULL}, {NULL}};
static const s_ace_spec_t s_anon_all[] = {{"conn:anon-clear", "wc:*", "R", NULL}, {NULL}};
static const s_ace_spec_t s_auth_light[] = {{"conn:auth-crypt", "/light", "RU", NULL}, {NULL}};
static const s_ace_spec_t s_anon_acl2[] = {{"conn:anon-clear", "/oic/sec/acl2", "CRUDN", NULL},
                                           {"conn:auth-crypt", "/oic/sec/acl2", "CRUDN", NULL},
                                           {NULL}};
static const s_ace_spec_t s_role_acme[] = {{"role:oic.role.light@acme", "/light", "RU", NULL},
                                           {NULL}};
static const s_ace_spec_t s_role_any[] = {{"role:oic.role.light", "/light", "R", NULL}, {NULL}};
static const s_ace_spec_t s_a_rt_temp[] = {{"uuid:" UUID_A, "rt:oic.r.temperature", "R", NULL},
                                           {NULL}};
static const s_ace_spec_t s_a_if_base[] = {{"uuid:" UUID_A, "/light|if:oic.if.baseline", "R", NULL},
                                           {NULL}};
static const s_ace_spec_t s_a_if_any[] = {{"uuid:" UUID_A, "/light|if:*", "R", NULL}, {NULL}};
static const s_ace_spec_t s_a_past[] = {
        {"uuid:" UUID_A, "/light", "R", "20250101T000000Z/20260101T000000Z"}, {NULL}};
static const s_ace_spec_t s_a_now[] = {
        {"uuid:" UUID_A, "/light", "R", "20260501T000000Z/20260701T000000Z"}, {NULL}};
static const s_ace_spec_t s_a_now_dur[] = {{"uuid:" UUID_A, "/light", "R", "20260531T000000Z/P2D"},
                                           {NULL}};
static const s_ace_spec_t s_a_acl2_r[] = {{"uuid:" UUID_A, "/oic/sec/acl2", "R", NULL}, {NULL}};
static const s_ace_spec_t s_a_n[] = {{"uuid:" UUID_A, "/light", "N", NULL}, {NULL}};
static const s_ace_spec_t s_a_d[] = {{"uuid:" UUID_A, "/light", "D", NULL}, {NULL}};
static const s_ace_spec_t s_a_c[] = {{"uuid:" UUID_A, "/light", "C", NULL}, {NULL}};
static const s_ace_spec_t s_union[] = {
        {"uuid:" UUID_A, "/light", "R", NULL}, {"conn:auth-crypt", "/light", "U", NULL}, {NULL}};
static const s_ace_spec_t s_table2[] = {{"role:oic.role.owner", "/oic/sec/acl2", "RU", NULL},
                                        {NULL}};

typedef struct {
    const char *name;
    const s_ace_spec_t *aces;
    int64_t dos_s;
    bool doc_open;
    int peer;
    sim_method_t method;
    int res;
    const char *iface;
    bool knows_owner_role;
    bool a_owns_acl2; /* acl2 rowneruuid = A */
    int expect;       /* 0 allowed, else 401/403 */
} s_case_t;

#define NOP CMN_DOS_RFNOP

static const s_case_t s_cases[] = {
        /* default deny */
        {"no ACE: secured peer refused", s_none, NOP, false, P_A, SIM_GET, R_LIGHT, NULL, 0, 0,
         403},
        {"no ACE: unsecured peer refused", s_none, NOP, false, P_ANON, SIM_GET, R_LIGHT, NULL, 0, 0,
         401},
        /* subject uuid */
        {"uuid ACE: its peer reads", s_a_light_r, NOP, false, P_A, SIM_GET, R_LIGHT, NULL, 0, 0, 0},
        {"uuid ACE: another peer refused", s_a_light_r, NOP, false, P_B, SIM_GET, R_LIGHT, NULL, 0,
         0, 403},
        {"uuid ACE R: POST refused", s_a_light_r, NOP, false, P_A, SIM_POST, R_LIGHT, NULL, 0, 0,
         403},
        {"uuid ACE on /light: /temp refused", s_a_light_r, NOP, false, P_A, SIM_GET, R_TEMP, NULL,
         0, 0, 403},
        {"NCR outside RFNOP refused", s_a_light_r, CMN_DOS_RFPRO, false, P_A, SIM_GET, R_LIGHT,
         NULL, 0, 0, 403},
        /* wildcards */
        {"wc * reaches a secure NCR", s_a_all, NOP, false, P_A, SIM_GET, R_TEMP, NULL, 0, 0, 0},
        {"wc * reaches a non-discoverable NCR", s_a_all, NOP, false, P_A, SIM_GET, R_HIDDEN, NULL,
         0, 0, 0},
        {"wc * never an SVR", s_a_all, NOP, false, P_A, SIM_GET, R_ACL2, NULL, 0, 0, 403},
        {"wc * never /oic/res", s_a_all, CMN_DOS_RFNOP, false, P_A, SIM_GET, R_RES, NULL, 0, 0,
         403},
        {"wc + reaches a discoverable NCR", s_a_plus, NOP, false, P_A, SIM_GET, R_TEMP, NULL, 0, 0,
         0},
        {"wc + not a non-discoverable NCR", s_a_plus, NOP, false, P_A, SIM_GET, R_HIDDEN, NULL, 0,
         0, 403},
        {"wc - reaches an NCR with a coap:// endpoint", s_a_minus, NOP, false, P_A, SIM_GET,
         R_LIGHT, NULL, 0, 0, 0},
        {"wc - not a secure-only NCR", s_a_minus, NOP, false, P_A, SIM_GET, R_TEMP, NULL, 0, 0,
         403},
        /* conntype */
        {"anon-clear: unsecured read", s_anon_light, NOP, false, P_ANON, SIM_GET, R_LIGHT, NULL, 0,
         0, 0},
        {"anon-clear: secured read too", s_anon_light, NOP, false, P_B, SIM_GET, R_LIGHT, NULL, 0,
         0, 0},
        {"anon-clear wc *: secure-only NCR not unsecured", s_anon_all, NOP, false, P_ANON, SIM_GET,
         R_TEMP, NULL, 0, 0, 401},
        {"auth-crypt: unsecured refused", s_auth_light, NOP, false, P_ANON, SIM_GET, R_LIGHT, NULL,
         0, 0, 401},
        {"auth-crypt: any secured peer writes", s_auth_light, NOP, false, P_B, SIM_POST, R_LIGHT,
         NULL, 0, 0, 0},
        {"conntype ACEs never an SVR (secured)", s_anon_acl2, NOP, false, P_B, SIM_GET, R_ACL2,
         NULL, 0, 0, 403},
        {"SVR never unsecured", s_anon_acl2, NOP, false, P_ANON, SIM_GET, R_DOXM, NULL, 0, 0, 401},
        /* roles */
        {"role@authority: the role reads", s_role_acme, NOP, false, P_ROLE, SIM_GET, R_LIGHT, NULL,
         0, 0, 0},
        {"role@authority: other authority refused", s_role_acme, NOP, false, P_ROLE_OTHER_AUTH,
         SIM_GET, R_LIGHT, NULL, 0, 0, 403},
        {"role@authority: no role refused", s_role_acme, NOP, false, P_A, SIM_GET, R_LIGHT, NULL, 0,
         0, 403},
        {"role without authority: any authority", s_role_any, NOP, false, P_ROLE_OTHER_AUTH,
         SIM_GET, R_LIGHT, NULL, 0, 0, 0},
        /* rt and if */
        {"rt: a resource of that type", s_a_rt_temp, NOP, false, P_A, SIM_GET, R_TEMP, NULL, 0, 0,
         0},
        {"rt: a resource of another type refused", s_a_rt_temp, NOP, false, P_A, SIM_GET, R_LIGHT,
         NULL, 0, 0, 403},
        {"if: the default interface is not baseline", s_a_if_base, NOP, false, P_A, SIM_GET,
         R_LIGHT, NULL, 0, 0, 403},
        {"if: ?if=oic.if.baseline allowed", s_a_if_base, NOP, false, P_A, SIM_GET, R_LIGHT,
         "oic.if.baseline", 0, 0, 0},
        {"if: * any interface", s_a_if_any, NOP, false, P_A, SIM_GET, R_LIGHT, "oic.if.a", 0, 0, 0},
        /* validity */
        {"validity: a period over", s_a_past, NOP, false, P_A, SIM_GET, R_LIGHT, NULL, 0, 0, 403},
        {"validity: within START/END", s_a_now, NOP, false, P_A, SIM_GET, R_LIGHT, NULL, 0, 0, 0},
        {"validity: within START/DURATION", s_a_now_dur, NOP, false, P_A, SIM_GET, R_LIGHT, NULL, 0,
         0, 0},
        /* CRUDN (OCF-NOTES 4.5) */
        {"uuid ACE on an SVR: read", s_a_acl2_r, NOP, false, P_A, SIM_GET, R_ACL2, NULL, 0, 0, 0},
        {"uuid ACE R on an SVR: write refused", s_a_acl2_r, NOP, false, P_A, SIM_POST, R_ACL2, NULL,
         0, 0, 403},
        {"N alone allows GET", s_a_n, NOP, false, P_A, SIM_GET, R_LIGHT, NULL, 0, 0, 0},
        {"N alone: POST refused", s_a_n, NOP, false, P_A, SIM_POST, R_LIGHT, NULL, 0, 0, 403},
        {"D allows DELETE", s_a_d, NOP, false, P_A, SIM_DELETE, R_LIGHT, NULL, 0, 0, 0},
        {"D alone: GET refused", s_a_d, NOP, false, P_A, SIM_GET, R_LIGHT, NULL, 0, 0, 403},
        {"C allows POST", s_a_c, NOP, false, P_A, SIM_POST, R_LIGHT, NULL, 0, 0, 0},
        {"permissions are the union of the matching ACEs", s_union, NOP, false, P_A, SIM_POST,
         R_LIGHT, NULL, 0, 0, 0},
        /* implicit owner, owner role (Table 2) */
        {"acl2 rowner writes acl2 without an ACE", s_none, NOP, false, P_A, SIM_POST, R_ACL2, NULL,
         0, 1, 0},
        {"not the rowner: refused", s_none, NOP, false, P_B, SIM_POST, R_ACL2, NULL, 0, 1, 403},
        {"owner role, newer device: full access", s_none, NOP, false, P_OWNER_ROLE, SIM_POST,
         R_ACL2, NULL, 1, 0, 0},
        {"owner role, legacy device without ACE: refused", s_none, NOP, false, P_OWNER_ROLE,
         SIM_GET, R_ACL2, NULL, 0, 0, 403},
        {"owner role, legacy device with the Table 2 ACE: RU", s_table2, NOP, false, P_OWNER_ROLE,
         SIM_POST, R_ACL2, NULL, 0, 0, 0},
        {"Table 2 ACE gives no D", s_table2, NOP, false, P_OWNER_ROLE, SIM_DELETE, R_ACL2, NULL, 0,
         0, 403},
        /* RFOTM (OCF-NOTES 5.3 rules 1, 3, 4, 5) */
        {"RFOTM: /oic/res to anyone", s_none, CMN_DOS_RFOTM, false, P_ANON, SIM_GET, R_RES, NULL, 0,
         0, 0},
        {"RFOTM: doxm POST unsecured before a DOC", s_none, CMN_DOS_RFOTM, false, P_ANON, SIM_POST,
         R_DOXM, NULL, 0, 0, 0},
        {"RFOTM: acl2 unsecured refused", s_none, CMN_DOS_RFOTM, false, P_ANON, SIM_GET, R_ACL2,
         NULL, 0, 0, 401},
        {"RFOTM with a DOC: nothing unsecured", s_none, CMN_DOS_RFOTM, true, P_ANON, SIM_GET, R_RES,
         NULL, 0, 0, 401},
        {"RFOTM: the DOC writes acl2", s_none, CMN_DOS_RFOTM, true, P_DOC, SIM_POST, R_ACL2, NULL,
         0, 0, 0},
        {"RFOTM: no NCR even with an ACE", s_a_all, CMN_DOS_RFOTM, false, P_A, SIM_GET, R_LIGHT,
         NULL, 0, 0, 401},
};

static const char *
s_method_name(sim_method_t m)
{
    return m == SIM_GET ? "GET" : m == SIM_POST ? "POST" : m == SIM_PUT ? "PUT" : "DELETE";
}

Test(sim_acl, every_case_of_the_table_gets_its_answer)
{
    size_t n_cases = sizeof s_cases / sizeof s_cases[0];
    for (size_t i = 0; i < n_cases; i++) {
        const s_case_t *c = &s_cases[i];
        cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2};
        for (size_t k = 0; c->aces[k].subject != NULL; k++) {
            cmn_ace_t ace = s_ace(&c->aces[k], (int64_t) k + 1);
            cr_assert_eq(cmn_acl_add(&acl, &ace), CMN_OK);
        }
        cmn_uuid_t a;
        cr_assert_eq(cmn_uuid_from_str(UUID_A, &a), CMN_OK);
        sim_acl_ctx_t ctx = {.dos_s = c->dos_s,
                             .doc_open = c->doc_open,
                             .rowner = c->a_owns_acl2 && c->res == R_ACL2 ? &a : NULL,
                             .acl = &acl,
                             .knows_owner_role = c->knows_owner_role,
                             .now = NOW_S};
        sim_peer_t peer = s_peer(c->peer);
        int got = sim_acl_check(&ctx, &peer, c->method, &s_res[c->res], c->iface);
        cr_expect_eq(got, c->expect, "case \"%s\": %s %s answered %d, want %d", c->name,
                     s_method_name(c->method), s_res[c->res].href, got, c->expect);
        cmn_acl_free(&acl);
    }
}

Test(sim_acl, periods_parse_in_utc_with_an_end_or_a_duration)
{
    time_t s = 0, e = 0;
    cr_assert_eq(sim_acl_period("20260101T000000Z/20260102T000000Z", &s, &e), CMN_OK);
    cr_assert_eq(e - s, 86400);
    cr_assert_eq(sim_acl_period("20260101T000000Z/PT1H30M", &s, &e), CMN_OK);
    cr_assert_eq(e - s, 5400);
    cr_assert_eq(s, (time_t) 1767225600);
    static const char *const bad[] = {
            "",
            "20260101T000000Z",
            "garbage/also",
            "20260101T000000/20260102T000000",
            "20260102T000000Z/20260101T000000Z", /* ends before it starts */
            "20260101T000000Z/-PT1H"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(sim_acl_period(bad[i], &s, &e), CMN_EINVAL, "\"%s\" accepted", bad[i]);
    }
}

Test(sim_acl, a_post_refuses_recurrences_bad_periods_and_empty_resources)
{
    s_ace_spec_t ok = {"uuid:" UUID_A, "/light", "R", "20260101T000000Z/P1D"};
    cmn_ace_t ace = s_ace(&ok, 1);
    cr_assert_eq(sim_acl_ace_acceptable(&ace), CMN_OK);
    ace.n_recurrence = 1;
    cr_assert_eq(sim_acl_ace_acceptable(&ace), CMN_EINVAL, "a recurrence was accepted");
    ace = s_ace(&ok, 1);
    (void) snprintf(ace.validity[0], sizeof ace.validity[0], "tomorrow");
    cr_assert_eq(sim_acl_ace_acceptable(&ace), CMN_EINVAL, "a bad period was accepted");
    ace = s_ace(&ok, 1);
    ace.n_resources = 0;
    cr_assert_eq(sim_acl_ace_acceptable(&ace), CMN_EINVAL, "an ACE without resources");
    ace = s_ace(&ok, 1);
    ace.resources[0].href[0] = '\0';
    (void) snprintf(ace.resources[0].ifs[0], sizeof ace.resources[0].ifs[0], "oic.if.a");
    ace.resources[0].n_ifs = 1;
    cr_assert_eq(sim_acl_ace_acceptable(&ace), CMN_EINVAL, "a resource naming only an if");
}
