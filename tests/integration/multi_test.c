/* multi_test.c — several instances of obt-cms and of obt-ams on one store each
 * (docs/scaling.md, D96-D99): DOTS spreads its hand-overs over them; a kill -9 of one
 * CMS and one AMS instance mid-run loses no device and breaks none; a plain instance
 * is refused beside shared ones. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 40

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim, s_cms2, s_ams2, s_plain;
static char s_cms_eps[1300], s_ams_eps[1300];

/* A second instance of which ("cms", "ams") on the suite's store, --shared-store. */
static void
s_start_second(obt_proc_t *p, const char *which, const char *name)
{
    cr_assert_eq(obt_suite_start_instance(&s_suite, p, which, name), 0, "%s did not start", name);
}

static void
s_setup(void)
{
    s_dir = obt_tmpdir("multi");
    cr_assert_not_null(s_dir);
    (void) snprintf(s_cms_eps, sizeof s_cms_eps, "ipc://%s/cms.sock,ipc://%s/cms-2.sock", s_dir,
                    s_dir);
    (void) snprintf(s_ams_eps, sizeof s_ams_eps, "ipc://%s/ams.sock,ipc://%s/ams-2.sock", s_dir,
                    s_dir);
    static const char *const dots_args[] = {
            "--cms", s_cms_eps, "--ams", s_ams_eps, "--step-timeout-ms", "3000", NULL};
    cr_assert_eq(obt_suite_start_shared(&s_suite, s_dir, dots_args), 0, "the suite did not start");
    s_start_second(&s_cms2, "cms", "cms-2");
    s_start_second(&s_ams2, "ams", "ams-2");
}

static void
s_teardown(void)
{
    (void) obt_proc_stop(&s_plain);
    (void) obt_proc_stop(&s_ams2);
    (void) obt_proc_stop(&s_cms2);
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static void
s_dump_all(void)
{
    obt_suite_dump(&s_suite);
    obt_proc_dump(&s_cms2);
    obt_proc_dump(&s_ams2);
    obt_proc_dump(&s_sim);
}

/* Hand-overs an instance finished, from its log. */
static int
s_done(const obt_proc_t *p)
{
    return obt_proc_log_count(p, " handover done");
}

/* Waits (up to timeout_s) until every device passes obt_check_onboarded (RFNOP, owned
 * by this domain, exactly the expected credentials and ACEs); the last failure in why. */
static bool
s_all_onboarded(int timeout_s, char *why, size_t why_len)
{
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    for (int round = 0; round < timeout_s * 2; round++) {
        char *objs[N_DEVICES + 4];
        size_t n = obt_devsim_dump(s_dir, objs, N_DEVICES + 4);
        size_t ok = 0;
        for (size_t i = 0; i < n; i++) {
            ok += obt_check_onboarded(objs[i], &ids, store, why, why_len);
            free(objs[i]);
        }
        if (n == N_DEVICES && ok == N_DEVICES) {
            return true;
        }
        (void) poll(NULL, 0, 500); /* the devices' state, polled with a deadline */
    }
    return false;
}

/* The devices, discovered, approved and being onboarded (nobody waits for it). */
static void
s_start_onboarding(void)
{
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_DEVICES, NULL), 0);
    char *out = NULL;
    if (obt_discover_approve(&s_suite, N_DEVICES, &out) != 0) {
        s_dump_all();
        cr_assert_fail("discover: %s", out ? out : "");
    }
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard, NULL), 0);
}

TestSuite(multi, .init = s_setup, .fini = s_teardown, .timeout = 500);

Test(multi, hand_overs_are_spread_over_the_instances)
{
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_DEVICES, NULL), 0);
    obt_dev_ep_t devs[N_DEVICES];
    char why[512] = "";
    if (obt_onboard_devices(&s_suite, &s_sim, s_dir, N_DEVICES, 300, devs, why, sizeof why) != 0) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    if (!s_all_onboarded(60, why, sizeof why)) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    int cms1 = s_done(&s_suite.cms), cms2 = s_done(&s_cms2);
    int ams1 = s_done(&s_suite.ams), ams2 = s_done(&s_ams2);
    cr_log_info("hand-overs: cms %d + %d, ams %d + %d", cms1, cms2, ams1, ams2);
    cr_assert_gt(cms1, 0, "the first CMS did none");
    cr_assert_gt(cms2, 0, "the second CMS did none");
    cr_assert_gt(ams1, 0, "the first AMS did none");
    cr_assert_gt(ams2, 0, "the second AMS did none");
    cr_assert_eq(cms1 + cms2, N_DEVICES, "each device's CMS hand-over once");
    cr_assert_eq(ams1 + ams2, N_DEVICES, "each device's AMS hand-over once");
    /* each instance answers health under its own name */
    cr_assert_eq(obt_proc_log_count(&s_cms2, "instance=cms-2 shared-store"), 1);
    char ep2[700], *out = NULL;
    (void) snprintf(ep2, sizeof ep2, "ipc://%s/cms-2.sock", s_dir);
    const char *const health[] = {"--cms", ep2, "health", "cms", NULL};
    cr_assert_eq(obt_ctl(&s_suite, health, &out), 0);
    cr_assert(out && strstr(out, " instance=cms-2") != NULL, "%s", out ? out : "");
    free(out);
}

Test(multi, kill9_of_one_cms_and_one_ams_instance_mid_run_loses_nothing)
{
    s_start_onboarding();
    /* mid-run: the second CMS has finished a few hand-overs, others are in flight */
    if (obt_proc_wait_log_count(&s_cms2, " handover done", 3, 120000) != 0) {
        s_dump_all();
        cr_assert_fail("the second CMS finished no hand-over");
    }
    obt_proc_kill9(&s_cms2);
    obt_proc_kill9(&s_ams2);
    size_t rfnop_at_kill = obt_devsim_count_rfnop(s_dir, N_DEVICES + 4, NULL);
    cr_log_info("killed cms-2 and ams-2 with %zu of %d devices RFNOP", rfnop_at_kill, N_DEVICES);
    cr_assert_lt(rfnop_at_kill, N_DEVICES, "the kill came after the run");
    char why[512] = "";
    if (!s_all_onboarded(240, why, sizeof why)) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    int cms = s_done(&s_suite.cms) + s_done(&s_cms2);
    int ams = s_done(&s_suite.ams) + s_done(&s_ams2);
    cr_log_info("hand-overs done: cms %d, ams %d; take-overs: cms %d, ams %d; DOTS resent %d", cms,
                ams, obt_proc_log_count(&s_suite.cms, "taken over from an instance"),
                obt_proc_log_count(&s_suite.ams, "taken over from an instance"),
                obt_proc_log_count(&s_suite.dots, "DOTS-HANDOVER-RESEND"));
    cr_assert_geq(cms, N_DEVICES);
    cr_assert_geq(ams, N_DEVICES);
    int cut = obt_proc_log_count(&s_suite.dots, "DOTS-HANDOVER-RESEND") +
              obt_proc_log_count(&s_suite.cms, "taken over from an instance") +
              obt_proc_log_count(&s_suite.ams, "taken over from an instance");
    cr_assert_gt(cut, 0, "the kill cut no hand-over: nothing was taken over or sent again");
    cr_assert_eq(obt_proc_log_count(&s_suite.cms, "SVC-JOB-LOST"), 0);
    cr_assert_eq(obt_proc_log_count(&s_suite.ams, "SVC-JOB-LOST"), 0);
}

/* Jobs cms-2 has started and not ended, from its log. */
static int
s_cms2_running(void)
{
    return obt_proc_log_count(&s_cms2, "SVC-JOB-START") -
           obt_proc_log_count(&s_cms2, "SVC-JOB-DONE") -
           obt_proc_log_count(&s_cms2, "SVC-JOB-FAILED") -
           obt_proc_log_count(&s_cms2, "SVC-JOB-LOST");
}

/* True if the stopped process pid was waiting in its loop's poll, i.e. between two
 * passes: its pass's write transaction (the group) is committed, so it holds no LMDB
 * writer lock. Stopped inside a pass it would hold that lock, and every instance on the
 * store would wait for it (docs/scaling.md "Limits"). From /proc/PID/syscall: the
 * number of the syscall the main thread is in, -1 in user code. */
static bool
s_is_between_passes(pid_t pid)
{
    char path[64], buf[128] = "";
    (void) snprintf(path, sizeof path, "/proc/%ld/syscall", (long) pid);
    for (int i = 0; i < 50; i++) { /* the stop takes effect asynchronously */
        FILE *f = fopen(path, "r");
        bool is_read = f && fgets(buf, sizeof buf, f) != NULL;
        if (f) {
            (void) fclose(f);
        }
        if (is_read && strncmp(buf, "running", 7) != 0) {
            break;
        }
        (void) poll(NULL, 0, 1);
    }
    long nr = strtol(buf, NULL, 10);
    return nr == 7 || nr == 271 || nr == 232 || nr == 281; /* poll, ppoll, epoll_wait(s) */
}

Test(multi, an_instance_paused_past_its_leases_writes_nothing)
{
    s_start_onboarding();
    if (obt_proc_wait_log_count(&s_cms2, " handover done", 2, 120000) != 0) {
        s_dump_all();
        cr_assert_fail("the second CMS finished no hand-over");
    }
    /* paused while it runs jobs (stopped, then looked at: else on again and a bit
     * later), past their leases' life: the first CMS takes them over */
    bool is_paused = false;
    for (int i = 0; i < 1000 && !is_paused; i++) {
        cr_assert_eq(kill(s_cms2.pid, SIGSTOP), 0);
        is_paused = s_cms2_running() > 0 && s_is_between_passes(s_cms2.pid);
        if (!is_paused) {
            cr_assert_eq(kill(s_cms2.pid, SIGCONT), 0);
            (void) poll(NULL, 0, 20); /* let it start the next hand-overs */
        }
    }
    cr_assert(is_paused, "cms-2 ran no job to be paused in");
    int taken = obt_proc_wait_log(&s_suite.cms, "taken over from an instance", 20000);
    cr_assert_eq(kill(s_cms2.pid, SIGCONT), 0);
    if (taken != 0) {
        s_dump_all();
        cr_assert_fail("no job of the paused cms-2 was taken over");
    }
    char why[512] = "";
    if (!s_all_onboarded(240, why, sizeof why)) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    /* back, cms-2 learns at its next step or renewal that they are not its own: it
     * writes nothing of them and sends them nothing more */
    if (obt_proc_wait_log(&s_cms2, "SVC-JOB-LOST", 10000) != 0) {
        s_dump_all();
        cr_assert_fail("cms-2 did not give up the jobs taken from it");
    }
    cr_assert_eq(obt_proc_log_count(&s_suite.cms, "SVC-JOB-LOST"), 0);
}

Test(multi, a_plain_instance_is_refused_beside_shared_ones)
{
    char store[700], ep[700], want[64];
    (void) snprintf(store, sizeof store, "%s/cms-store", s_dir);
    (void) snprintf(ep, sizeof ep, "ipc://%s/cms-plain.sock", s_dir);
    const char *args[] = {"--keys-dir", s_suite.keys, "--store-dir", store, "--no-durable",
                          "--endpoint", ep,           NULL};
    cr_assert_eq(obt_proc_start(&s_plain, s_dir, "cms-plain", "obt-cms", args), 0);
    int rc = obt_proc_wait_exit(&s_plain, 10000);
    (void) snprintf(want, sizeof want, "pid %ld (cms-2)", (long) s_cms2.pid);
    if (obt_proc_log_count(&s_plain, "in use by shared instances: pid ") != 1 ||
        obt_proc_log_count(&s_plain, want) != 1) {
        obt_proc_dump(&s_plain);
        cr_assert_fail("no refusal naming the shared instances");
    }
    cr_assert_eq(rc, 78, "a configuration error, not %d", rc);
    cr_assert(obt_proc_alive(&s_cms2), "the shared instances run on");
}
