/* policy_test.c — obt-ams's policy file (docs/ams.md, "Policy"): applied at hand-over
 * and enforced by the device; `obtctl acl apply` idempotent, `acl diff` changing
 * nothing; after the file changes, stale policy ACEs go while ACEs AMS did not place
 * from policy (another tool's, the operator's) stay; a bad file stops AMS with exit 78
 * and the line; kill -9 of AMS inside an apply leaves device and record agreeing. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "obt_checks.h"
#include "obt_json.h"

#define CLIENT_A    "a1a1a1a1-1111-4111-8111-a1a1a1a1a1a1"
#define CLIENT_KEY  "0102030405060708090a0b0c0d0e0f10"
#define FOREIGN_ACE 900

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;
static char s_policy[600];
static obt_ids_t s_ids;
/* Device B: its endpoints and the keys of the services for it (from the dump). */
static obt_dev_t s_b;

/* Policy 1: client A reads the light; plain CoAP reads it too. */
static const char s_v1[] = "version: 1\n"
                           "policy:\n"
                           "  - rt: oic.r.switch.binary\n"
                           "    aces:\n"
                           "      - subject: uuid:" CLIENT_A "\n"
                           "        res: /light\n"
                           "        perm: R\n"
                           "      - subject: conn:anon-clear\n"
                           "        res: [/light]\n"
                           "        perm: R\n"
                           "  - rt: oic.r.humidity\n" /* no device of this test has it */
                           "    aces:\n"
                           "      - {subject: conn:auth-crypt, res: wc:*, perm: R}\n";
/* Policy 2: A reads and writes the light; nothing over plain CoAP. */
static const char s_v2[] = "version: 1\n"
                           "policy:\n"
                           "  - rt: oic.r.switch.binary\n"
                           "    aces:\n"
                           "      - subject: uuid:" CLIENT_A "\n"
                           "        res: /light\n"
                           "        perm: RU\n";

static void
s_write_policy(const char *text)
{
    FILE *f = fopen(s_policy, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
}

static void
s_restart_ams(void)
{
    const char *const args[] = {"--policy", s_policy, "--log-level", "info", NULL};
    cr_assert_eq(obt_suite_restart(&s_suite, "ams", args), 0, "AMS did not start with the policy");
}

static void
s_setup_with(const char *const *sim_extra)
{
    s_dir = obt_tmpdir("policy");
    cr_assert_not_null(s_dir);
    (void) snprintf(s_policy, sizeof s_policy, "%s/policy.yaml", s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, 1, NULL, sim_extra), 0);
}

static void
s_setup(void)
{
    s_setup_with(NULL);
}

/* The device stops the simulator at AMS's first ACL request of a maintenance. */
static void
s_setup_stop(void)
{
    static const char *const extra[] = {"--faults", "0:stop-maint:/oic/sec/acl2", NULL};
    s_setup_with(extra);
}

/* The device stops the simulator at the hand-over's follow-up: the policy apply's GET
 * of the ACL (the hand-over's own are the 1st and the 2nd, its verify). */
static void
s_setup_stop_follow_up(void)
{
    static const char *const extra[] = {"--faults", "0:stop:3:GET:/oic/sec/acl2", NULL};
    s_setup_with(extra);
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static void s_learn(void);

static void
s_onboard(void)
{
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, 1, &out), 0, "%s", out ? out : "");
    free(out);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard, NULL), 0);
    s_learn();
}

/* The device's endpoints and the services' keys for it, once onboarded. */
static void
s_learn(void)
{
    cr_assert_eq(obt_ids(&s_suite, &s_ids), 0);
    char *objs[2];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 2), 1);
    char why[160];
    cr_assert_eq(obt_dev_learn(objs[0], &s_sim, 0, &s_ids, &s_b, why, sizeof why), 0, "%s", why);
    free(objs[0]);
}

/* One request with obt_coap as id (NULL: plain coap://); the code as class*100+detail. */
static int
s_req(const char *id,
      const char *key,
      const char *method,
      const char *path,
      const uint8_t *payload,
      size_t len)
{
    char out[4096];
    int code = obt_coap_as(id ? s_b.coaps : s_b.coap, id, key, method, path, payload, len, out,
                           sizeof out);
    cr_assert_geq(code, 0, "obt_coap %s %s: no answer", method, path);
    return code;
}

static void
s_set_dos(int s)
{
    cr_assert_eq(obt_set_dos(s_b.coaps, s_ids.dots, s_b.dots_key, s), 0, "pstat dos.s=%d", s);
}

/* An ACE another tool placed (not AMS): auth-crypt reads /temp, aceid FOREIGN_ACE. */
static void
s_place_foreign(void)
{
    cmn_ace_t ace;
    memset(&ace, 0, sizeof ace);
    ace.aceid = FOREIGN_ACE;
    ace.subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
    ace.conntype = CMN_CONNTYPE_AUTH_CRYPT;
    (void) snprintf(ace.resources[0].href, sizeof ace.resources[0].href, "/temp");
    ace.n_resources = 1;
    ace.permission = CMN_PERM_R;
    cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2, .aces = &ace, .n_aces = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_acl_encode(&acl, &buf, &len), CMN_OK);
    s_set_dos(CMN_DOS_RFPRO);
    cr_assert_eq(s_req(s_ids.ams, s_b.ams_key, "POST", "/oic/sec/acl2", buf, len), 204);
    s_set_dos(CMN_DOS_RFNOP);
    free(buf);
}

static int
s_as_a(const char *method, const char *path)
{
    static const uint8_t on[] = {0xa1, 0x65, 'v', 'a', 'l', 'u', 'e', 0xf5};
    bool is_post = strcmp(method, "POST") == 0;
    return s_req(CLIENT_A, CLIENT_KEY, method, path, is_post ? on : NULL, is_post ? sizeof on : 0);
}

static int
s_plain_get(const char *path)
{
    return s_req(NULL, NULL, "GET", path, NULL, 0);
}

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

static size_t
s_count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++) {
        n++;
    }
    return n;
}

/* The device's ACL as `obtctl --json acl` prints it (read from the device now). */
static char *
s_acl_json(void)
{
    const char *json[] = {"--json", "acl", s_b.uuid, NULL};
    char *text = NULL;
    cr_assert_eq(s_ctl(json, &text), 0, "obtctl acl: %s", text ? text : "");
    return text;
}

Test(policy,
     applied_at_handover_enforced_idempotent_diffed_and_reconciled,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    s_write_policy(s_v1);
    s_restart_ams();
    cr_assert_eq(obt_proc_wait_log(&s_suite.ams, "AMS-POLICY ", 1000), 0, "no AMS-POLICY line");
    s_onboard();
    /* the hand-over's apply job places both ACEs of the light's entry, none of humidity */
    const char *acl[] = {"acl", s_b.uuid, NULL};
    const char *const want[] = {"uuid:" CLIENT_A, "conn:anon-clear", "/light  # policy", NULL};
    char *text = NULL;
    cr_assert_eq(obt_ctl_wait_output(&s_suite, acl, want, 30000, &text), 0,
                 "the policy was not applied at hand-over:\n%s", text ? text : "");
    cr_assert_eq(s_count(text, "# policy"), 2, "%s", text);
    cr_assert(strstr(text, "wc:*") == NULL, "an entry of another type was applied:\n%s", text);
    free(text);
    /* the device enforces them */
    cr_assert_eq(obt_give_psk_cred(&s_ids, &s_b, CLIENT_A, CLIENT_KEY), 0,
                 "no credential for client A");
    cr_assert_eq(s_as_a("GET", "/light"), 205, "A refused the light the policy gives");
    cr_assert_eq(s_as_a("POST", "/light"), 403, "R let A write");
    cr_assert_eq(s_as_a("GET", "/temp"), 403, "the policy opened /temp");
    cr_assert_eq(s_plain_get("/light"), 205, "anon-clear of the policy refused");

    /* ACEs not placed from policy: another tool's, and the operator's through AMS */
    s_place_foreign();
    const char *add[] = {"acl",   "add",   s_b.uuid, "--subject", "role:oic.role.x",
                         "--res", "/temp", "--perm", "R",         NULL};
    cr_assert_eq(s_ctl(add, NULL), 0, "obtctl acl add");

    /* diff and apply with the same policy: nothing to change, the device unchanged */
    char *before = s_acl_json();
    const char *diff[] = {"acl", "diff", s_b.uuid, NULL};
    cr_assert_eq(s_ctl(diff, &text), 0);
    cr_assert(strstr(text, "diff: 1 device(s), 0 ACE(s) to add, 0 to remove, 0 failed") != NULL,
              "%s", text);
    free(text);
    const char *apply[] = {"acl", "apply", s_b.uuid, NULL};
    cr_assert_eq(s_ctl(apply, &text), 0);
    cr_assert(strstr(text, "apply: 1 device(s), 0 ACE(s) added, 0 removed, 0 failed") != NULL,
              "a second apply changed something:\n%s", text);
    free(text);
    char *after = s_acl_json();
    cr_assert_str_eq(after, before, "an idempotent apply changed the device's ACL");
    free(after);

    /* the policy changes: diff shows it and changes nothing */
    s_write_policy(s_v2);
    s_restart_ams();
    cr_assert_eq(s_ctl(diff, &text), 0);
    cr_assert(strstr(text, "diff: 1 device(s), 1 ACE(s) to add, 2 to remove, 0 failed") != NULL,
              "%s", text);
    cr_assert_eq(s_count(text, " + "), 1, "%s", text);
    cr_assert_eq(s_count(text, " - "), 2, "%s", text);
    cr_assert(strstr(text, "uuid:" CLIENT_A) && strstr(text, "-RU--") &&
                      strstr(text, "conn:anon-clear"),
              "%s", text);
    free(text);
    /* the same as JSON: one object, a change per ACE */
    const char *diff_json[] = {"--json", "acl", "diff", s_b.uuid, NULL};
    cr_assert_eq(s_ctl(diff_json, &text), 0);
    cr_assert(strstr(text, "{\"op\":\"diff\",\"changes\":[") == text, "%s", text);
    cr_assert(strstr(text, "\"devices\":1,\"to_add\":1,\"to_remove\":2,\"failed\":0,"
                           "\"unanswered\":0}") != NULL,
              "%s", text);
    cr_assert_eq(s_count(text, "\"change\":\"add\""), 1, "%s", text);
    cr_assert_eq(s_count(text, "\"change\":\"remove\""), 2, "%s", text);
    char *objs[4];
    cr_assert_eq(obt_json_objects(strchr(text, '[') + 1, objs, 4), 3, "%s", text);
    for (int i = 0; i < 3; i++) {
        char dev[40];
        cr_assert(obt_json_str(objs[i], "device", dev, sizeof dev) && strcmp(dev, s_b.uuid) == 0,
                  "%s", objs[i]);
        free(objs[i]);
    }
    free(text);
    after = s_acl_json();
    cr_assert_str_eq(after, before, "diff changed the device's ACL");
    free(after);
    free(before);
    cr_assert_eq(s_plain_get("/light"), 205, "diff removed the anon-clear ACE");

    /* apply: the stale policy ACEs go, the new one comes, the others stay */
    cr_assert_eq(s_ctl(apply, &text), 0);
    cr_assert(strstr(text, "apply: 1 device(s), 1 ACE(s) added, 2 removed, 0 failed") != NULL, "%s",
              text);
    free(text);
    cr_assert_eq(s_as_a("POST", "/light"), 204, "RU of policy 2 refused the write");
    cr_assert_eq(s_plain_get("/light"), 401, "the stale anon-clear ACE stayed");
    cr_assert_eq(s_as_a("GET", "/temp"), 205, "the foreign auth-crypt ACE went");
    char *now = s_acl_json();
    char aceid[32];
    (void) snprintf(aceid, sizeof aceid, "{\"aceid\":%d,", FOREIGN_ACE);
    cr_assert(strstr(now, aceid) != NULL, "the ACE AMS did not place was removed:\n%s", now);
    cr_assert(strstr(now, "\"why\":\"operator\"") != NULL, "the operator's ACE went:\n%s", now);
    cr_assert_eq(s_count(now, "\"why\":\"policy\""), 1, "%s", now);
    free(now);
    /* and once more: nothing */
    const char *all[] = {"acl", "apply", "--all", NULL};
    cr_assert_eq(s_ctl(all, &text), 0);
    cr_assert(strstr(text, "apply: 1 device(s), 0 ACE(s) added, 0 removed, 0 failed") != NULL, "%s",
              text);
    free(text);
}

/* Starts obt-ams with args and waits up to 10 s for its exit code (-1: still running). */
static int
s_run_ams(const char *name, const char *const *args)
{
    obt_proc_t p;
    cr_assert_eq(obt_proc_start(&p, s_dir, name, "obt-ams", args), 0);
    for (int i = 0; i < 500; i++) {
        int status = 0;
        if (waitpid(p.pid, &status, WNOHANG) == p.pid) {
            p.pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        (void) poll(NULL, 0, 20);
    }
    obt_proc_kill9(&p);
    return -1;
}

Test(policy, a_bad_policy_file_stops_ams_with_78_and_the_line, .init = s_setup, .fini = s_teardown)
{
    s_write_policy("version: 1\n"
                   "policy:\n"
                   "  - rt: oic.r.switch.binary\n"
                   "    aces:\n"
                   "      - subject: conn:anon-clear\n"
                   "        res: /light\n"
                   "        perm: RW\n");
    char store[600];
    (void) snprintf(store, sizeof store, "%s/ams-bad-store", s_dir);
    const char *args[] = {"--keys-dir",           s_suite.keys, "--store-dir", store, "--endpoint",
                          "ipc:///nonexistent/x", "--policy",   s_policy,      NULL};
    cr_assert_eq(s_run_ams("ams-bad", args), 78);
    obt_proc_t p = {.pid = 0};
    (void) snprintf(p.log, sizeof p.log, "%s/ams-bad.log", s_dir);
    char want[700];
    (void) snprintf(want, sizeof want, "%s:7: perm \"RW\"", s_policy);
    cr_assert_gt(obt_proc_log_count(&p, want), 0, "the error does not name line 7");
    cr_assert_eq(obt_proc_log_count(&p, " READY"), 0, "AMS said READY");
    /* a missing file too */
    const char *missing[] = {"--keys-dir", s_suite.keys, "--store-dir",
                             store,        "--policy",   "/nonexistent/policy.yaml",
                             NULL};
    cr_assert_eq(s_run_ams("ams-missing", missing), 78);
}

Test(policy,
     a_kill_9_of_ams_inside_an_apply_leaves_device_and_record_agreeing,
     .init = s_setup_stop,
     .fini = s_teardown,
     .timeout = 300)
{
    s_onboard(); /* without a policy: the apply below is the first */
    cr_assert_eq(obt_give_psk_cred(&s_ids, &s_b, CLIENT_A, CLIENT_KEY), 0,
                 "no credential for client A");
    s_write_policy(s_v1);
    s_restart_ams();
    int done_before = obt_proc_log_count(&s_suite.ams, "SVC-JOB-DONE");
    /* the apply runs in the background; the device moves to RFPRO, then the simulator
     * stops itself at AMS's POST of the ACEs, so AMS is killed with it unanswered */
    obt_proc_t ctl;
    const char *argv[] = {"--keys-dir", s_suite.keys, "--ams",  s_suite.ep_ams,
                          "acl",        "apply",      s_b.uuid, NULL};
    cr_assert_eq(obt_proc_start(&ctl, s_dir, "ctl-apply", "obtctl", argv), 0);
    cr_assert_eq(obt_proc_wait_log(&s_sim, "stops (SIGSTOP)", 30000), 0,
                 "the apply never reached the ACL write in RFPRO");
    cr_assert_eq(obt_proc_log_count(&s_suite.ams, "SVC-JOB-DONE"), done_before,
                 "the apply ended first");
    obt_proc_kill9(&s_suite.ams);
    cr_assert_eq(kill(s_sim.pid, SIGCONT), 0);
    (void) obt_proc_stop(&ctl);
    s_restart_ams();
    cr_assert_eq(obt_proc_wait_log(&s_suite.ams, "SVC-JOB-RESUME", 30000), 0,
                 "the job was not resumed");
    cr_assert_eq(obt_proc_wait_log(&s_suite.ams, "AMS-ACL", 30000), 0,
                 "the resumed job did not end");
    /* back in RFNOP, the policy's ACEs once each, recorded as placed from policy */
    cr_assert_eq(s_as_a("GET", "/light"), 205, "A refused after the resumed apply");
    cr_assert_eq(s_plain_get("/light"), 205, "anon-clear missing after the resumed apply");
    char *text = s_acl_json();
    cr_assert_eq(s_count(text, "uuid:" CLIENT_A), 1, "%s", text);
    cr_assert_eq(s_count(text, "\"why\":\"policy\""), 2, "the record and the device differ:\n%s",
                 text);
    free(text);
    const char *apply[] = {"acl", "apply", s_b.uuid, NULL};
    cr_assert_eq(s_ctl(apply, &text), 0);
    cr_assert(strstr(text, "apply: 1 device(s), 0 ACE(s) added, 0 removed, 0 failed") != NULL,
              "after the resume an apply still changes something:\n%s", text);
    free(text);
}

Test(policy,
     a_kill_9_of_ams_right_after_the_handover_loses_no_policy_apply,
     .init = s_setup_stop_follow_up,
     .fini = s_teardown,
     .timeout = 300)
{
    s_write_policy(s_v1);
    s_restart_ams();
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, 1, &out), 0, "%s", out ? out : "");
    free(out);
    /* the hand-over ends; its follow-up apply stops the simulator: AMS is killed before
     * the gateway's request to the stopped device can time out */
    obt_proc_t ctl;
    const char *argv[] = {"--keys-dir", s_suite.keys, "--dots", s_suite.ep_dots, "onboard", "--all",
                          "--wait-s",   "60",         NULL};
    cr_assert_eq(obt_proc_start(&ctl, s_dir, "ctl-onboard", "obtctl", argv), 0);
    cr_assert_eq(obt_proc_wait_log(&s_sim, "stops (SIGSTOP)", 60000), 0,
                 "the policy apply did not follow the hand-over");
    cr_assert_eq(obt_proc_log_count(&s_suite.ams, "AMS-ACL"), 0, "the apply ended first");
    obt_proc_kill9(&s_suite.ams);
    cr_assert_eq(kill(s_sim.pid, SIGCONT), 0);
    (void) obt_proc_stop(&ctl);
    s_restart_ams();
    cr_assert_eq(obt_proc_wait_log(&s_suite.ams, "SVC-JOB-RESUME", 30000), 0,
                 "the apply held by the hand-over's record was not resumed");
    s_learn();
    const char *acl[] = {"acl", s_b.uuid, NULL};
    const char *const want[] = {"uuid:" CLIENT_A, "conn:anon-clear", "/light  # policy", NULL};
    char *text = NULL;
    cr_assert_eq(obt_ctl_wait_output(&s_suite, acl, want, 30000, &text), 0,
                 "the policy was not applied after the restart:\n%s", text ? text : "");
    cr_assert_eq(s_count(text, "# policy"), 2, "%s", text);
    free(text);
    cr_assert_eq(obt_give_psk_cred(&s_ids, &s_b, CLIENT_A, CLIENT_KEY), 0,
                 "no credential for client A");
    cr_assert_eq(s_as_a("GET", "/light"), 205, "A refused the light the policy gives");
}
