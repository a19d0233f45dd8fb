/* acl_test.c — devices enforce their ACL: a client device A (a PSK credential on device
 * B, as the CMS's pairwise credential gives) is refused B's /light until an ACE names
 * it, allowed while it does, refused again once it is gone; anon-clear ACEs open a
 * resource to plain CoAP but never a secure-only one; the wildcards + and - choose by
 * endpoint. The suite onboards the devices; the client is obt_coap speaking DTLS PSK
 * straight to the device; ACEs are written over AMS's own session (docs/ams.md). */
/* GCC 12 at -O2 reports Criterion's cr_assert message temporaries as dangling pointers
 * in the test below (a false positive: the text is read before it goes). */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "obt_checks.h"
#include "obt_json.h"

#define CLIENT_A   "a1a1a1a1-1111-4111-8111-a1a1a1a1a1a1"
#define CLIENT_KEY "0102030405060708090a0b0c0d0e0f10"
#define TEST_ACEID 900

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

/* Device B: its endpoints and the keys of the services for it (from the dump). */
static obt_dev_t s_b;
static obt_ids_t s_ids;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("acl");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    static const char *const extra[] = {"--icv", "ocf.2.4.0", NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, 1, NULL, extra), 0);
}

/* The device stops the simulator at AMS's first ACL request of a maintenance. */
static void
s_setup_stop(void)
{
    s_dir = obt_tmpdir("acl");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    static const char *const extra[] = {"--icv", "ocf.2.4.0", "--faults",
                                        "0:stop-maint:/oic/sec/acl2", NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, 1, NULL, extra), 0);
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* Onboards the device through the suite and learns what the test needs of it. */
static void
s_onboard(void)
{
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, 1, &out), 0, "%s", out ? out : "");
    free(out);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard, NULL), 0);
    cr_assert_eq(obt_ids(&s_suite, &s_ids), 0);
    char *objs[2];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 2), 1);
    char store[700], why[300];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    cr_assert(obt_check_onboarded(objs[0], &s_ids, store, why, sizeof why), "%s", why);
    /* devsim keeps its ports: the DEVICE line of its start has them */
    cr_assert_eq(obt_dev_learn(objs[0], &s_sim, 0, &s_ids, &s_b, why, sizeof why), 0, "%s", why);
    free(objs[0]);
}

/* One request with obt_coap as id (NULL: plain coap://); returns the printed
 * "CODE HEX" in out and the code as class*100+detail. */
static int
s_req(const char *id,
      const char *key,
      const char *method,
      const char *path,
      const uint8_t *payload,
      size_t len,
      char *out,
      size_t cap)
{
    int code =
            obt_coap_as(id ? s_b.coaps : s_b.coap, id, key, method, path, payload, len, out, cap);
    cr_assert_geq(code, 0, "obt_coap %s %s: no answer (%s)", method, path, out);
    return code;
}

static int
s_as_a(const char *method, const char *path)
{
    char out[256];
    return s_req(CLIENT_A, CLIENT_KEY, method, path, NULL, 0, out, sizeof out);
}

static int
s_plain(const char *method, const char *path, char *out, size_t cap)
{
    return s_req(NULL, NULL, method, path, NULL, 0, out, cap);
}

static void
s_set_dos(int s)
{
    cr_assert_eq(obt_set_dos(s_b.coaps, s_ids.dots, s_b.dots_key, s), 0, "pstat dos.s=%d", s);
}

/* Places ace (aceid TEST_ACEID, replacing an earlier one) over AMS's session. */
static void
s_place(cmn_ace_t ace)
{
    ace.aceid = TEST_ACEID;
    cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2, .aces = &ace, .n_aces = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    char out[256];
    cr_assert_eq(cmn_acl_encode(&acl, &buf, &len), CMN_OK);
    s_set_dos(CMN_DOS_RFPRO);
    cr_assert_eq(s_req(s_ids.ams, s_b.ams_key, "POST", "/oic/sec/acl2", buf, len, out, sizeof out),
                 204, "acl2: %s", out);
    s_set_dos(CMN_DOS_RFNOP);
    free(buf);
}

static void
s_remove(void)
{
    char out[256], path[64];
    (void) snprintf(path, sizeof path, "/oic/sec/acl2?aceid=%d", TEST_ACEID);
    s_set_dos(CMN_DOS_RFPRO);
    cr_assert_eq(s_req(s_ids.ams, s_b.ams_key, "DELETE", path, NULL, 0, out, sizeof out), 202,
                 "DELETE acl2: %s", out);
    s_set_dos(CMN_DOS_RFNOP);
}

static cmn_ace_t
s_ace(const char *subject_uuid, cmn_conntype_t conn, const char *href, const char *wc, int perm)
{
    cmn_ace_t ace;
    memset(&ace, 0, sizeof ace);
    if (subject_uuid) {
        ace.subject_kind = CMN_ACE_SUBJECT_UUID;
        cr_assert_eq(cmn_uuid_from_str(subject_uuid, &ace.subject_uuid), CMN_OK);
    } else {
        ace.subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
        ace.conntype = conn;
    }
    (void) snprintf(ace.resources[0].href, sizeof ace.resources[0].href, "%s", href ? href : "");
    (void) snprintf(ace.resources[0].wc, sizeof ace.resources[0].wc, "%s", wc ? wc : "");
    ace.n_resources = 1;
    ace.permission = perm;
    return ace;
}

Test(acl,
     a_client_device_is_refused_allowed_and_refused_again,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 180)
{
    s_onboard();
    static char out[10000];
    /* /oic/res lists the application resources; /oic/d says --icv */
    cr_assert_eq(s_plain("GET", "/oic/res", out, sizeof out), 205);
    cr_assert(strstr(out, "2f6c69676874") != NULL, "/light not in /oic/res: %s", out);
    cr_assert(strstr(out, "6f69632e722e74656d7065726174757265") != NULL,
              "oic.r.temperature not in /oic/res");
    cr_assert_eq(s_plain("GET", "/oic/d", out, sizeof out), 205);
    cr_assert(strstr(out, "6f63662e322e342e30") != NULL, "/oic/d icv is not ocf.2.4.0: %s", out);

    cr_assert_eq(obt_give_psk_cred(&s_ids, &s_b, CLIENT_A, CLIENT_KEY), 0,
                 "no credential for client A");
    /* default deny */
    cr_assert_eq(s_as_a("GET", "/light"), 403, "A read /light without an ACE");
    cr_assert_eq(s_plain("GET", "/light", out, sizeof out), 401);
    /* allow: an ACE whose subject is A, R only */
    s_place(s_ace(CLIENT_A, 0, "/light", NULL, CMN_PERM_R));
    cr_assert_eq(s_req(CLIENT_A, CLIENT_KEY, "GET", "/light", NULL, 0, out, sizeof out), 205,
                 "A refused with its ACE: %s", out);
    cr_assert(strstr(out, "a16576616c7565f4") != NULL, "not the light's value: %s", out);
    static const uint8_t on[] = {0xa1, 0x65, 'v', 'a', 'l', 'u', 'e', 0xf5};
    cr_assert_eq(s_req(CLIENT_A, CLIENT_KEY, "POST", "/light", on, sizeof on, out, sizeof out), 403,
                 "R let A write");
    cr_assert_eq(s_as_a("GET", "/temp"), 403, "the ACE on /light opened /temp");
    cr_assert_eq(s_plain("GET", "/light", out, sizeof out), 401, "A's ACE opened plain CoAP");
    /* RU: the write goes through and is seen */
    s_place(s_ace(CLIENT_A, 0, "/light", NULL, CMN_PERM_R | CMN_PERM_U));
    cr_assert_eq(s_req(CLIENT_A, CLIENT_KEY, "POST", "/light", on, sizeof on, out, sizeof out), 204,
                 "RU refused the write: %s", out);
    cr_assert_eq(s_req(CLIENT_A, CLIENT_KEY, "GET", "/light", NULL, 0, out, sizeof out), 205);
    cr_assert(strstr(out, "a16576616c7565f5") != NULL, "the write was not applied: %s", out);
    /* deny: the ACE removed, A is refused again */
    s_remove();
    cr_assert_eq(s_as_a("GET", "/light"), 403, "A still reads /light after the ACE went");
}

Test(acl,
     conntype_aces_and_wildcards_choose_by_connection_and_endpoint,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 180)
{
    s_onboard();
    cr_assert_eq(obt_give_psk_cred(&s_ids, &s_b, CLIENT_A, CLIENT_KEY), 0,
                 "no credential for client A");
    char out[512];
    /* anon-clear on /light: plain CoAP reads it */
    s_place(s_ace(NULL, CMN_CONNTYPE_ANON_CLEAR, "/light", NULL, CMN_PERM_R));
    cr_assert_eq(s_plain("GET", "/light", out, sizeof out), 205, "anon-clear: %s", out);
    /* anon-clear wc *: a secure-only resource stays closed to plain CoAP */
    s_place(s_ace(NULL, CMN_CONNTYPE_ANON_CLEAR, NULL, "*", CMN_PERM_R));
    cr_assert_eq(s_plain("GET", "/temp", out, sizeof out), 401, "plain read of /temp: %s", out);
    cr_assert_eq(s_as_a("GET", "/temp"), 205, "anon-clear * refused a secured read");
    /* auth-crypt: secured peers only */
    s_place(s_ace(NULL, CMN_CONNTYPE_AUTH_CRYPT, "/light", NULL, CMN_PERM_R));
    cr_assert_eq(s_plain("GET", "/light", out, sizeof out), 401);
    cr_assert_eq(s_as_a("GET", "/light"), 205);
    /* wc -: NCRs with an unsecured endpoint (/light), not secure-only ones (/temp) */
    s_place(s_ace(CLIENT_A, 0, NULL, "-", CMN_PERM_R));
    cr_assert_eq(s_as_a("GET", "/light"), 205, "wc - did not open /light");
    cr_assert_eq(s_as_a("GET", "/temp"), 403, "wc - opened the secure-only /temp");
    /* wc +: every discoverable NCR */
    s_place(s_ace(CLIENT_A, 0, NULL, "+", CMN_PERM_R));
    cr_assert_eq(s_as_a("GET", "/temp"), 205, "wc + did not open /temp");
    /* wildcards never reach an SVR */
    s_place(s_ace(CLIENT_A, 0, NULL, "*", CMN_PERM_R));
    cr_assert_eq(s_as_a("GET", "/oic/sec/acl2"), 403, "wc * opened acl2");
    cr_assert_eq(s_as_a("GET", "/light"), 205);
}

/* obtctl with the suite's keys; returns the exit code, the output in out (freed here
 * when out is NULL). */
static int
s_ctl(const char *const *args, char **out)
{
    char *o = NULL;
    int rc = obt_ctl(&s_suite, args, &o);
    if (out) {
        *out = o;
    } else {
        free(o);
    }
    return rc;
}

Test(acl,
     obtctl_allow_and_deny_open_and_close_the_light,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 240)
{
    s_onboard();
    cr_assert_eq(obt_give_psk_cred(&s_ids, &s_b, CLIENT_A, CLIENT_KEY), 0,
                 "no credential for client A");
    char out[512];
    char *text = NULL;
    cr_assert_eq(s_as_a("GET", "/light"), 403, "A read /light before allow");
    const char *allow[] = {"allow", CLIENT_A, s_b.uuid, "--res", "/light", "--perm", "RU", NULL};
    cr_assert_eq(s_ctl(allow, &text), 0, "obtctl allow: %s", text ? text : "");
    free(text);
    cr_assert_eq(s_as_a("GET", "/light"), 205, "A refused after obtctl allow");
    /* obtctl acl: read from the device, the ACE marked as AMS's with its origin */
    const char *list[] = {"acl", s_b.uuid, NULL};
    cr_assert_eq(s_ctl(list, &text), 0);
    cr_assert(strstr(text, "uuid:" CLIENT_A) != NULL, "the ACE is not listed:\n%s", text);
    cr_assert(strstr(text, "-RU--") != NULL && strstr(text, "# allow") != NULL,
              "not shown as placed by allow:\n%s", text);
    cr_assert(strstr(text, "# baseline") != NULL, "the baseline ACEs are not explained:\n%s", text);
    free(text);
    /* a second allow changes nothing on the device (idempotent) */
    cr_assert_eq(s_ctl(allow, NULL), 0);
    const char *json[] = {"--json", "acl", s_b.uuid, NULL};
    cr_assert_eq(s_ctl(json, &text), 0);
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, "uuid:" CLIENT_A)) != NULL; p++) {
        n++;
    }
    cr_assert_eq(n, 1, "allow twice placed %zu ACEs:\n%s", n, text);
    free(text);
    const char *deny[] = {"deny", CLIENT_A, s_b.uuid, NULL};
    cr_assert_eq(s_ctl(deny, &text), 0, "obtctl deny: %s", text ? text : "");
    cr_assert(strstr(text, "uuid:" CLIENT_A) == NULL, "deny left the ACE:\n%s", text);
    free(text);
    cr_assert_eq(s_as_a("GET", "/light"), 403, "A still reads /light after obtctl deny");

    /* acl add / set / rm on a conntype ACE, seen by plain CoAP */
    const char *add[] = {"acl",   "add",    s_b.uuid, "--subject", "conn:anon-clear",
                         "--res", "/light", "--perm", "R",         NULL};
    cr_assert_eq(s_ctl(add, &text), 0);
    cr_assert_eq(s_plain("GET", "/light", out, sizeof out), 205, "acl add anon-clear: %s", out);
    /* its aceid, from the table line "ACEID conn:anon-clear -R--- AMS /light # operator"
     * (the baseline's anon-clear ACE has another line) */
    const char *line = strstr(text, "/light  # operator");
    cr_assert_not_null(line, "%s", text);
    while (line > text && line[-1] != '\n') {
        line--;
    }
    cr_assert(strncmp(strchr(line, 'c'), "conn:anon-clear", 15) == 0, "%s", line);
    char aceid[16];
    (void) snprintf(aceid, sizeof aceid, "%.*s", (int) strcspn(line, " "), line);
    free(text);
    const char *set[] = {"acl",   "set",   s_b.uuid, aceid, "--subject", "conn:anon-clear",
                         "--res", "/temp", "--perm", "R",   NULL};
    cr_assert_eq(s_ctl(set, NULL), 0, "acl set");
    cr_assert_eq(s_plain("GET", "/light", out, sizeof out), 401, "acl set kept /light open");
    const char *rm[] = {"acl", "rm", s_b.uuid, aceid, NULL};
    cr_assert_eq(s_ctl(rm, &text), 0, "acl rm");
    cr_assert(strstr(text, "/temp") == NULL, "acl rm left the ACE:\n%s", text);
    free(text);
    cr_assert_eq(s_ctl(rm, NULL), 3, "removing an ACE twice is not found");
}

Test(acl,
     malformed_fields_are_usage_errors_naming_the_field,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 60)
{
    static const char *const dev = "11111111-2222-4333-8444-555555555555";
    static const struct {
        const char *args[12];
        const char *field;
    } cases[] = {
            {{"acl", "add", dev, "--subject", "uid:x", "--res", "/light", "--perm", "R"},
             "--subject"},
            {{"acl", "add", dev, "--subject", "uuid:nope", "--res", "/light", "--perm", "R"},
             "--subject"},
            {{"acl", "add", dev, "--subject", "conn:anon", "--res", "/light", "--perm", "R"},
             "--subject"},
            {{"acl", "add", dev, "--subject", "conn:auth-crypt", "--res", "light", "--perm", "R"},
             "--res"},
            {{"acl", "add", dev, "--subject", "conn:auth-crypt", "--res", "wc:?", "--perm", "R"},
             "--res"},
            {{"acl", "add", dev, "--subject", "conn:auth-crypt", "--res", "/light", "--perm", "RX"},
             "--perm"},
            {{"acl", "add", dev, "--subject", "conn:auth-crypt", "--res", "/light", "--perm",
              "R-U--"},
             "--perm"},
            {{"acl", "add", dev, "--subject", "conn:auth-crypt", "--perm", "R"}, "--res"},
            {{"allow", "not-a-uuid", dev, "--res", "/light", "--perm", "R"}, "A"},
            {{"acl", "rm", dev, "zero"}, "ACEID"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *o = NULL;
        const char *argv[24] = {"--keys-dir", s_suite.keys, "--ams", s_suite.ep_ams};
        size_t k = 4;
        for (size_t j = 0; cases[i].args[j]; j++) {
            argv[k++] = cases[i].args[j];
        }
        argv[k] = NULL;
        /* stderr goes to the test's log: the exit code and the field in the message */
        int rc = obt_run("obtctl", argv, &o);
        free(o);
        cr_expect_eq(rc, 2, "case %zu (%s): exit %d, want 2 (usage)", i, cases[i].field, rc);
    }
}

Test(acl,
     a_kill_9_of_ams_inside_an_allow_leaves_device_and_record_agreeing,
     .init = s_setup_stop,
     .fini = s_teardown,
     .timeout = 240)
{
    s_onboard();
    cr_assert_eq(obt_give_psk_cred(&s_ids, &s_b, CLIENT_A, CLIENT_KEY), 0,
                 "no credential for client A");
    static const char *const info[] = {"--log-level", "info", NULL};
    cr_assert_eq(obt_suite_restart(&s_suite, "ams", info), 0);
    int done_before = obt_proc_log_count(&s_suite.ams, "SVC-JOB-DONE");
    /* the allow runs in the background; the device moves to RFPRO, then the simulator
     * stops itself (SIGSTOP, fault stop-maint) at AMS's ACL request, so AMS is killed
     * with that request out and unanswered, the device left in RFPRO */
    obt_proc_t ctl;
    const char *argv[] = {"--keys-dir", s_suite.keys, "--ams",  s_suite.ep_ams, "allow", CLIENT_A,
                          s_b.uuid,     "--res",      "/light", "--perm",       "R",     NULL};
    cr_assert_eq(obt_proc_start(&ctl, s_dir, "ctl-allow", "obtctl", argv), 0);
    cr_assert_eq(obt_proc_wait_log(&s_sim, "stops (SIGSTOP)", 30000), 0,
                 "the allow never reached the ACL step in RFPRO");
    cr_assert_eq(obt_proc_log_count(&s_suite.ams, "SVC-JOB-DONE"), done_before,
                 "the allow ended first");
    obt_proc_kill9(&s_suite.ams);
    cr_assert_eq(kill(s_sim.pid, SIGCONT), 0);
    (void) obt_proc_stop(&ctl);
    cr_assert_eq(obt_suite_restart(&s_suite, "ams", info), 0);
    /* 30 s: a loaded machine (ASan build) takes seconds to restart AMS */
    cr_assert_eq(obt_proc_wait_log(&s_suite.ams, "SVC-JOB-RESUME", 30000), 0,
                 "the job was not resumed");
    cr_assert_eq(obt_proc_wait_log(&s_suite.ams, "AMS-ACL", 20000), 0,
                 "the resumed job did not end");
    /* the device is back in RFNOP, A reads, and AMS's record holds the ACE once */
    cr_assert_eq(s_as_a("GET", "/light"), 205, "A refused after the resumed allow");
    char *text = NULL;
    const char *json[] = {"--json", "acl", s_b.uuid, NULL};
    cr_assert_eq(s_ctl(json, &text), 0);
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, "uuid:" CLIENT_A)) != NULL; p++) {
        n++;
    }
    cr_assert_eq(n, 1, "%zu ACEs for A after the resume:\n%s", n, text);
    cr_assert(strstr(text, "\"why\":\"allow\"") != NULL, "the record lost the ACE:\n%s", text);
    free(text);
}

static void
s_setup_new(void)
{
    s_dir = obt_tmpdir("acl");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    static const char *const extra[] = {"--icv", "ocf.2.5.0", NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, 1, NULL, extra), 0);
}

Test(acl,
     a_device_newer_than_2_4_0_gets_no_table2_ace,
     .init = s_setup_new,
     .fini = s_teardown,
     .timeout = 120)
{
    s_onboard();
    char *text = NULL;
    const char *list[] = {"acl", s_b.uuid, NULL};
    cr_assert_eq(s_ctl(list, &text), 0);
    cr_assert(strstr(text, "# baseline") != NULL, "%s", text);
    cr_assert(strstr(text, "oic.role.owner") == NULL, "Table 2 ACE on an ocf.2.5.0 device:\n%s",
              text);
    free(text);
}

static void
s_setup_two(void)
{
    s_dir = obt_tmpdir("acl");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 2, NULL), 0);
}

/* Reset cascade: once device X is reset (and forgotten), the ACE AMS placed for it on
 * device Y goes too. */
Test(acl,
     a_reset_device_loses_the_aces_naming_it_on_the_others,
     .init = s_setup_two,
     .fini = s_teardown,
     .timeout = 240)
{
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    char *text = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, 2, &text), 0, "%s", text ? text : "");
    free(text);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard, NULL), 0);
    char *objs[3];
    char x[40], y[40];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 3), 2);
    cr_assert(obt_json_str(objs[0], "deviceuuid", x, sizeof x));
    cr_assert(obt_json_str(objs[1], "deviceuuid", y, sizeof y));
    free(objs[0]);
    free(objs[1]);
    const char *allow[] = {"allow", x, y, "--res", "/light", "--perm", "R", NULL};
    cr_assert_eq(s_ctl(allow, NULL), 0);
    const char *list[] = {"acl", y, NULL};
    char needle[48];
    (void) snprintf(needle, sizeof needle, "uuid:%s", x);
    cr_assert_eq(s_ctl(list, &text), 0);
    cr_assert(strstr(text, needle) != NULL, "allow placed nothing:\n%s", text);
    free(text);
    const char *reset[] = {"reset", x, NULL};
    cr_assert_eq(s_ctl(reset, &text), 0, "reset: %s", text ? text : "");
    free(text);
    cr_assert_eq(obt_proc_wait_log(&s_suite.ams, "AMS-CASCADE", 20000), 0,
                 "AMS started no cascade");
    bool is_gone = false;
    for (int i = 0; i < 80 && !is_gone; i++) {
        cr_assert_eq(s_ctl(list, &text), 0);
        is_gone = strstr(text, needle) == NULL;
        free(text);
        if (!is_gone) {
            struct timespec ts = {0, 250 * 1000 * 1000};
            (void) nanosleep(&ts, NULL);
        }
    }
    cr_assert(is_gone, "the ACE naming the reset device stayed on the other one");
}
