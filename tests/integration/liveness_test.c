/* liveness_test.c — heartbeats: a restarted gateway (SIGTERM or kill -9, with or
 * without a restart of DOTS) is told everything again and new devices reach RFNOP
 * without restarting CMS or AMS; a job that waits for a stopped AMS says so and goes on
 * by itself when AMS is back */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 4

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

/* Heartbeats every 500 ms: the test notices changes within a few seconds. */
static const char *const s_fast[] = {"--heartbeat-ms", "500", NULL};

static void
s_setup(void)
{
    s_dir = obt_tmpdir("liveness");
    cr_assert_not_null(s_dir);
    /* OBT_HEARTBEAT_MS reaches CMS and AMS too (defaults < env < argv). */
    cr_assert_eq(setenv("OBT_HEARTBEAT_MS", "500", 1), 0);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, s_fast), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_DEVICES, NULL), 0, "devsim did not start");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl_or_dump(&s_suite, &s_sim, args, out);
}

/* Every device DOTS knows, as JSON objects (caller frees each); their number. */
static size_t
s_devices(char **objs)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(list, &out), 0);
    size_t n = obt_json_objects(out, objs, N_DEVICES + 1);
    free(out);
    cr_assert_eq(n, N_DEVICES);
    return n;
}

static size_t
s_count_state(const char *state)
{
    char *objs[N_DEVICES + 1];
    size_t n = s_devices(objs), count = 0;
    for (size_t i = 0; i < n; i++) {
        char st[32];
        cr_assert(obt_json_str(objs[i], "state", st, sizeof st));
        count += strcmp(st, state) == 0;
        free(objs[i]);
    }
    return count;
}

/* Discovers and approves every device, onboards the first two. */
static void
s_onboard_two(void)
{
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, N_DEVICES, &out), 0, "discovery: %s", out);
    char *objs[N_DEVICES + 1];
    char uuids[2][40];
    size_t n = s_devices(objs);
    for (size_t i = 0; i < n; i++) {
        if (i < 2) {
            cr_assert(obt_json_str(objs[i], "uuid", uuids[i], sizeof uuids[i]));
        }
        free(objs[i]);
    }
    const char *onboard[] = {"onboard", uuids[0], uuids[1], "--wait-s", "60", NULL};
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    free(out);
    cr_assert_eq(s_count_state("RFNOP"), 2);
}

/* The gateway restarts (kill -9 or SIGTERM), DOTS too if restart_dots; CMS and AMS are
 * never restarted. Then the other devices are discovered again and onboarded. */
static void
s_gateway_restarts(bool kill9, bool restart_dots)
{
    s_onboard_two();
    if (kill9) {
        obt_proc_kill9(&s_suite.gw);
    } else {
        cr_assert_eq(obt_proc_stop(&s_suite.gw), 0, "the gateway did not stop cleanly");
    }
    cr_assert_eq(obt_suite_restart(&s_suite, "gateway", NULL), 0, "the gateway did not restart");
    /* CMS and AMS notice the new boot id and register their /oic/d again. */
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "gateway restarted (boot id", 15000), 0);
    cr_assert_eq(obt_proc_wait_log(&s_suite.ams, "gateway restarted (boot id", 15000), 0);
    cr_assert_eq(obt_proc_wait_log_count(&s_suite.cms, "SVC-REGISTERED", 2, 15000), 0,
                 "CMS did not register again");
    cr_assert_eq(obt_proc_wait_log_count(&s_suite.ams, "SVC-REGISTERED", 2, 15000), 0,
                 "AMS did not register again");
    if (restart_dots) {
        cr_assert_eq(obt_proc_stop(&s_suite.dots), 0, "DOTS did not stop cleanly");
        cr_assert_eq(obt_suite_restart(&s_suite, "dots", s_fast), 0, "DOTS did not restart");
    } else {
        cr_assert_eq(obt_proc_wait_log(&s_suite.dots, "gateway restarted (boot id", 15000), 0);
        cr_assert_eq(obt_proc_wait_log_count(&s_suite.dots, "DOTS-REGISTERED", 2, 15000), 0,
                     "DOTS did not register again");
    }
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, N_DEVICES - 2, &out), 0,
                 "discovery after the restart: %s", out);
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard after the restart failed: %s", out);
    free(out);
    cr_assert_eq(s_count_state("RFNOP"), N_DEVICES);
    cr_assert_eq(obt_proc_log_count(&s_suite.cms, " READY "), 1, "CMS was restarted");
    cr_assert_eq(obt_proc_log_count(&s_suite.ams, " READY "), 1, "AMS was restarted");
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(s_ctl(health, NULL), 0);
}

Test(liveness,
     sigterm_gateway_then_dots_restart_new_devices_reach_rfnop,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 240)
{
    s_gateway_restarts(false, true);
}

Test(liveness,
     kill9_gateway_dots_keeps_running_new_devices_reach_rfnop,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 240)
{
    s_gateway_restarts(true, false);
}

Test(liveness,
     a_job_waits_for_a_stopped_ams_and_goes_on_when_it_returns,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 240)
{
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, N_DEVICES, &out), 0, "discovery: %s", out);
    cr_assert_eq(obt_proc_stop(&s_suite.ams), 0, "AMS did not stop cleanly");
    cr_assert_eq(obt_proc_wait_log(&s_suite.dots, "AMS unreachable", 15000), 0,
                 "DOTS did not notice that AMS stopped");
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    cr_assert_eq(s_ctl(onboard, NULL), 0);

    /* Every job says what it waits for, in the record the operator sees. */
    static const char *const list[] = {"--json", "devices", NULL};
    static const char *const waiting[] = {"\"error\":\"waiting for AMS: not answering since ",
                                          NULL};
    int rc = obt_ctl_wait_output(&s_suite, list, waiting, 15000, &out);
    cr_assert_eq(rc, 0, "no job says it waits for AMS: %s", out);
    char *objs[N_DEVICES + 1];
    size_t n = obt_json_objects(out, objs, N_DEVICES + 1);
    free(out);
    cr_assert_eq(n, N_DEVICES);
    for (size_t i = 0; i < n; i++) {
        char state[32], error[320];
        cr_assert(obt_json_str(objs[i], "state", state, sizeof state));
        cr_assert(obt_json_str(objs[i], "error", error, sizeof error));
        cr_assert_str_eq(state, "QUEUED");
        cr_assert(strncmp(error, "waiting for AMS: not answering since ", 37) == 0,
                  "device %zu: \"%s\"", i, error);
        free(objs[i]);
    }
    cr_assert_eq(obt_proc_wait_log_count(&s_suite.dots, "DOTS-WAIT ", N_DEVICES, 5000), 0);
    cr_assert_eq(obt_proc_log_count(&s_suite.dots, "DOTS-WAIT "), N_DEVICES,
                 "a job's wait is logged once");

    /* AMS comes back: no operator command, every device reaches RFNOP. */
    cr_assert_eq(obt_suite_restart(&s_suite, "ams", NULL), 0, "AMS did not restart");
    cr_assert_eq(obt_proc_wait_log_count(&s_suite.dots, "DOTS-RFNOP", N_DEVICES, 60000), 0,
                 "the waiting jobs did not go on");
    cr_assert_eq(s_count_state("RFNOP"), N_DEVICES);
    cr_assert_eq(obt_proc_log_count(&s_suite.dots, "DOTS-PEERS-READY"), 1);
}
