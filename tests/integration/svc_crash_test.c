/* svc_crash_test.c — kill -9 of CMS and of AMS inside each step of their jobs, 20
 * devices in flight: the restarted service resumes the jobs its records still hold,
 * every device ends RFNOP (after at most an operator retry for those whose DOTS job
 * timed out meanwhile), and the service's record agrees with the device. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 20

typedef struct {
    char svc[8];    /* "cms" or "ams" */
    char step[24];  /* the step in whose request the service is killed */
    char fault[48]; /* devsim's stop at that request of device 2 (docs/internals.md) */
} s_case_t;

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_setup(void)
{
    static const char *const dots_args[] = {"--step-timeout-ms", "1500", NULL};
    s_dir = obt_tmpdir("svc-crash");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, dots_args), 0, "the suite did not start");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* Every device RFNOP and checked, and CMS's and AMS's records say so. Returns how
 * many devices are RFNOP. */
static size_t
s_count_rfnop(void)
{
    size_t n = 0;
    size_t rfnop = obt_devsim_count_rfnop(s_dir, N_DEVICES + 4, &n);
    cr_assert_eq(n, N_DEVICES);
    return rfnop;
}

/* Waits (up to 90 s) until DOTS has no job in progress; returns how many FAILED. */
static size_t
s_wait_settled(void)
{
    static const char *const list[] = {"--json", "devices", NULL};
    for (int round = 0; round < 360; round++) {
        char *out = NULL;
        char *objs[N_DEVICES + 4];
        (void) obt_ctl(&s_suite, list, &out);
        size_t n = out ? obt_json_objects(out, objs, N_DEVICES + 4) : 0;
        free(out);
        size_t settled = 0, failed = 0;
        for (size_t i = 0; i < n; i++) {
            char st[32] = "";
            (void) obt_json_str(objs[i], "state", st, sizeof st);
            settled += strcmp(st, "RFNOP") == 0 || strcmp(st, "FAILED") == 0;
            failed += strcmp(st, "FAILED") == 0;
            free(objs[i]);
        }
        if (n == N_DEVICES && settled == N_DEVICES) {
            return failed;
        }
        (void) poll(NULL, 0, 250); /* polling DOTS's answer, with a deadline */
    }
    cr_assert_fail("DOTS's jobs did not settle in 90 s");
    return 0;
}

static void
s_check_all(void)
{
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char store[700], why[300];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    char *objs[N_DEVICES + 4];
    size_t n = obt_devsim_dump(s_dir, objs, N_DEVICES + 4);
    for (size_t i = 0; i < n; i++) {
        char uuid[40];
        cr_assert(obt_json_str(objs[i], "uuid", uuid, sizeof uuid));
        cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
        char *show = obt_show(&s_suite, uuid);
        cr_assert_not_null(show);
        const char *cms = strstr(show, "\"cms\":");
        const char *ams = strstr(show, "\"ams\":");
        char st[32];
        cr_assert(cms && obt_json_str(cms, "state", st, sizeof st), "%s", show);
        cr_assert_str_eq(st, "verified", "CMS's record of %s disagrees: %s", uuid, show);
        cr_assert(ams && obt_json_str(ams, "state", st, sizeof st), "%s", show);
        cr_assert_str_eq(st, "provisioned", "AMS's record of %s disagrees: %s", uuid, show);
        free(show);
        free(objs[i]);
    }
}

ParameterizedTestParameters(svc_crash, kill9_in_each_step)
{
    static s_case_t cases[] = {
            {"cms", "GET cred", "2:stop:1:GET:/oic/sec/cred"},
            {"ams", "GET acl2", "2:stop:1:GET:/oic/sec/acl2"},
            {"ams", "POST ace", "2:stop:1:POST:/oic/sec/acl2"},      /* the first of 2 */
            {"ams", "POST baseline", "2:stop:3:POST:/oic/sec/acl2"}, /* after 2 POST ace */
            {"ams", "verify acl2", "2:stop:2:GET:/oic/sec/acl2"},
            {"ams", "RFNOP", "2:stop:1:POST:/oic/sec/pstat"},
    };
    return cr_make_param_array(s_case_t, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(s_case_t *c,
                  svc_crash,
                  kill9_in_each_step,
                  .init = s_setup,
                  .fini = s_teardown,
                  .timeout = 240)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard_nowait[] = {"onboard", "--all", "--no-wait", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "90", NULL};
    obt_proc_t *p = strcmp(c->svc, "cms") == 0 ? &s_suite.cms : &s_suite.ams;
    char token[64];
    (void) snprintf(token, sizeof token, "step=\"%s\"", c->step);
    const char *const sim_args[] = {"--faults", c->fault, NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, N_DEVICES, NULL, sim_args), 0);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, discover, NULL), 0);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, approve, NULL), 0);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard_nowait, NULL), 0);
    /* Kill inside that step: device 2 stops the simulator (SIGSTOP) at the step's
     * request, so the request is out and its reply cannot come before the kill. */
    cr_assert_eq(obt_proc_wait_log(&s_sim, "stops (SIGSTOP)", 90000), 0,
                 "%s never sent device 2 its %s request", c->svc, c->step);
    cr_assert_eq(obt_proc_wait_log(p, token, 5000), 0, "%s never ran %s", c->svc, c->step);
    obt_proc_kill9(p);
    cr_assert_eq(kill(s_sim.pid, SIGCONT), 0);
    int started = obt_proc_log_count(p, "SVC-JOB-START");
    int done = obt_proc_log_count(p, "SVC-JOB-DONE");
    cr_log_info("killed %s in \"%s\": %d jobs started, %d done", c->svc, c->step, started, done);
    cr_assert_gt(started, done, "no job was in progress when %s was killed", c->svc);
    cr_assert_eq(obt_suite_restart(&s_suite, c->svc, NULL), 0);
    /* The records that held a job are resumed, not forgotten. */
    cr_assert_eq(obt_proc_wait_log(p, "SVC-JOB-RESUME", 20000), 0, "no job resumed");

    /* DOTS sees the service come back and sends the waiting hand-overs again, which
     * join the resumed jobs; a job whose call timed out first is FAILED with a reason
     * and the operator's retry finishes it: no device stays stuck. */
    size_t failed = s_wait_settled();
    cr_log_info("%zu job(s) failed before the service came back", failed);
    for (int round = 0; round < 3 && s_count_rfnop() < N_DEVICES; round++) {
        (void) obt_ctl(&s_suite, onboard, NULL);
    }
    if (s_count_rfnop() != N_DEVICES) {
        static const char *const list[] = {"devices", NULL};
        char *out = NULL;
        (void) obt_ctl(&s_suite, list, &out);
        cr_log_error("%s", out ? out : "(no list)");
        free(out);
        obt_suite_dump(&s_suite);
    }
    cr_assert_eq(s_count_rfnop(), N_DEVICES, "devices left short of RFNOP");
    s_check_all();
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(obt_ctl(&s_suite, health, NULL), 0);
}
