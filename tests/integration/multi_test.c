/* multi_test.c — several instances of obt-cms and of obt-ams on one store each
 * (docs/scaling.md, D96-D99): DOTS spreads its hand-overs over them; a kill -9 of one
 * CMS and one AMS instance mid-run loses no device and breaks none; a plain instance
 * is refused beside shared ones. And several instances of obt-dots on one store, active
 * and standby (D91), beside 3 CMS and 2 AMS instances: a kill -9 of one instance of each
 * service mid-run loses no device and transfers no ownership twice; an active paused
 * past its lease is fenced (exit 75) and writes nothing after; a plain DOTS is refused. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES       40  /* suite multi */
#define N_PAUSE_DEVICES 120 /* multi::an_instance_paused_past_its_leases_writes_nothing */
#define N_DOTS_DEVICES  200 /* suite multi_dots, the kill -9 run: one devsim (as the bench) */
#define N_PAUSED        20  /* suite multi_dots, the paused-active run */

static char *s_dir;
static obt_suite_t s_suite; /* gateway, DOTS (dots-1 in multi_dots), cms, ams */
static obt_proc_t s_sim, s_cms2, s_cms3, s_ams2, s_dots2, s_plain;
static char s_cms_eps[2000], s_ams_eps[2000];

/* One more instance of which ("cms", "ams", "dots") on the suite's store, --shared-store. */
static void
s_start_second(obt_proc_t *p, const char *which, const char *name)
{
    cr_assert_eq(obt_suite_start_instance(&s_suite, p, which, name), 0, "%s did not start", name);
}

/* The endpoints of the n instances of which in s_dir: cms.sock,cms-2.sock,... */
static void
s_eps(char *out, size_t cap, const char *which, int n)
{
    size_t used = 0;
    for (int i = 1; i <= n && used < cap; i++) {
        int w = i == 1 ? snprintf(out, cap, "ipc://%s/%s.sock", s_dir, which)
                       : snprintf(out + used, cap - used, ",ipc://%s/%s-%d.sock", s_dir, which, i);
        used += w > 0 ? (size_t) w : 0;
    }
}

/* The suite with n_cms CMS and 2 AMS instances on shared stores; with has_dots2 its
 * DOTS is dots-1 of two on a shared store (dots-2 a standby). */
static void
s_start_all(const char *tag, int n_cms, bool has_dots2)
{
    s_dir = obt_tmpdir(tag);
    cr_assert_not_null(s_dir);
    s_eps(s_cms_eps, sizeof s_cms_eps, "cms", n_cms);
    s_eps(s_ams_eps, sizeof s_ams_eps, "ams", 2);
    static const char *dots_args[] = {
            "--cms", s_cms_eps,        "--ams",      s_ams_eps, "--step-timeout-ms",
            "3000",  "--shared-store", "--instance", "dots-1",  NULL};
    dots_args[6] = has_dots2 ? "--shared-store" : NULL;
    cr_assert_eq(obt_suite_start_shared(&s_suite, s_dir, dots_args), 0, "the suite did not start");
    s_start_second(&s_cms2, "cms", "cms-2");
    if (n_cms > 2) {
        s_start_second(&s_cms3, "cms", "cms-3");
    }
    s_start_second(&s_ams2, "ams", "ams-2");
    if (has_dots2) {
        s_start_second(&s_dots2, "dots", "dots-2");
    }
}

static void
s_setup(void)
{
    s_start_all("multi", 2, false);
}

static void
s_setup_dots(void)
{
    s_start_all("multi_dots", 3, true);
}

static void
s_teardown(void)
{
    (void) obt_proc_stop(&s_plain);
    (void) obt_proc_stop(&s_dots2);
    (void) obt_proc_stop(&s_ams2);
    (void) obt_proc_stop(&s_cms3);
    (void) obt_proc_stop(&s_cms2);
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static void
s_dump_all(void)
{
    obt_suite_dump(&s_suite);
    obt_proc_dump(&s_dots2);
    obt_proc_dump(&s_cms2);
    obt_proc_dump(&s_cms3);
    obt_proc_dump(&s_ams2);
    obt_proc_dump(&s_sim);
}

/* Hand-overs an instance finished, from its log. */
static int
s_done(const obt_proc_t *p)
{
    return obt_proc_log_count(p, " handover done");
}

/* Waits (up to timeout_s) until each of the n devices passes obt_check_onboarded (RFNOP,
 * owned by this domain, exactly the expected credentials and ACEs); the last failure in
 * why. */
static bool
s_all_onboarded(int n, int timeout_s, char *why, size_t why_len)
{
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    char **objs = calloc((size_t) n + 4, sizeof *objs);
    cr_assert_not_null(objs);
    bool is_done = false;
    for (int round = 0; round < timeout_s * 2 && !is_done; round++) {
        size_t got = obt_devsim_dump(s_dir, objs, (size_t) n + 4);
        size_t ok = 0;
        for (size_t i = 0; i < got; i++) {
            ok += obt_check_onboarded(objs[i], &ids, store, why, why_len);
            free(objs[i]);
        }
        is_done = got == (size_t) n && ok == (size_t) n;
        if (!is_done) {
            (void) poll(NULL, 0, 500); /* the devices' state, polled with a deadline */
        }
    }
    free(objs);
    return is_done;
}

/* The n devices, discovered, approved and being onboarded (nobody waits for it). */
static void
s_start_onboarding(int n)
{
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, n, NULL), 0);
    char *out = NULL;
    if (obt_discover_approve(&s_suite, n, &out) != 0) {
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
    if (!s_all_onboarded(N_DEVICES, 60, why, sizeof why)) {
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
    s_start_onboarding(N_DEVICES);
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
    if (!s_all_onboarded(N_DEVICES, 240, why, sizeof why)) {
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
    /* three times the suite's batch: cms-2 keeps jobs running while the test looks for a
     * pause between two of its passes (40 were done before it found one, in CI) */
    s_start_onboarding(N_PAUSE_DEVICES);
    if (obt_proc_wait_log_count(&s_cms2, " handover done", 2, 120000) != 0) {
        s_dump_all();
        cr_assert_fail("the second CMS finished no hand-over");
    }
    /* paused while it runs jobs (stopped, then looked at: else on again and a bit
     * later), past their leases' life: the first CMS takes them over */
    bool is_paused = false;
    for (int i = 0; i < 1000 && !is_paused; i++) {
        cr_assert_eq(kill(s_cms2.pid, SIGSTOP), 0);
        int before = obt_proc_log_count(&s_suite.cms, "SVC-");
        is_paused = s_cms2_running() > 0 && s_is_between_passes(s_cms2.pid);
        /* and the other instance goes on (a poll inside a pass looks the same from
         * /proc, but then cms-2 holds LMDB's writer lock and cms-1 waits for it): with
         * its own jobs, or at the latest once cms-2's leases (6 s) run out and it takes
         * them over; blocked on the lock it logs nothing */
        for (int t = 0; is_paused && t < 160 && obt_proc_log_count(&s_suite.cms, "SVC-") == before;
             t++) {
            (void) poll(NULL, 0, 50);
        }
        is_paused = is_paused && obt_proc_log_count(&s_suite.cms, "SVC-") > before;
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
    if (!s_all_onboarded(N_PAUSE_DEVICES, 240, why, sizeof why)) {
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

/* A plain (not --shared-store) which ("cms", "dots") on the suite's store exits 78
 * naming the shared instances, shared among them. */
static void
s_assert_plain_refused(const char *which, obt_proc_t *shared)
{
    char store[700], ep[700], want[64], exe[16], name[32];
    (void) snprintf(store, sizeof store, "%s/%s-store", s_dir, which);
    (void) snprintf(ep, sizeof ep, "ipc://%s/%s-plain.sock", s_dir, which);
    (void) snprintf(exe, sizeof exe, "obt-%s", which);
    (void) snprintf(name, sizeof name, "%s-plain", which);
    const char *args[] = {"--keys-dir", s_suite.keys, "--store-dir", store, "--no-durable",
                          "--endpoint", ep,           NULL};
    cr_assert_eq(obt_proc_start(&s_plain, s_dir, name, exe, args), 0);
    int rc = obt_proc_wait_exit(&s_plain, 10000);
    (void) snprintf(want, sizeof want, "pid %ld (%s)", (long) shared->pid, shared->name);
    if (obt_proc_log_count(&s_plain, "in use by shared instances: pid ") != 1 ||
        obt_proc_log_count(&s_plain, want) != 1) {
        obt_proc_dump(&s_plain);
        cr_assert_fail("no refusal naming the shared instances");
    }
    cr_assert_eq(rc, 78, "a configuration error, not %d", rc);
    cr_assert(obt_proc_alive(shared), "the shared instances run on");
}

Test(multi, a_plain_instance_is_refused_beside_shared_ones)
{
    s_assert_plain_refused("cms", &s_cms2);
}

/* Devices a DOTS instance brought to RFNOP, from its log. */
static int
s_rfnop(const obt_proc_t *p)
{
    return obt_proc_log_count(p, "DOTS-RFNOP");
}

static uint64_t
s_now_ms(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* Every device went through exactly one ownership transfer (devsim's count over its
 * life: a device that reset and was owned again counts two). */
static void
s_assert_one_transfer_each(int n)
{
    char **objs = calloc((size_t) n + 4, sizeof *objs);
    cr_assert_not_null(objs);
    size_t got = obt_devsim_dump(s_dir, objs, (size_t) n + 4);
    int bad = 0;
    for (size_t i = 0; i < got; i++) {
        int t = obt_devsim_transfers(objs[i]);
        if (t != 1 && bad++ < 10) {
            cr_log_error("device %zu: %d ownership transfers: %.160s", i, t, objs[i]);
        }
        free(objs[i]);
    }
    free(objs);
    cr_assert_eq(got, (size_t) n);
    cr_assert_eq(bad, 0, "%d of %d devices did not go through exactly one ownership transfer", bad,
                 n);
}

TestSuite(multi_dots, .init = s_setup_dots, .fini = s_teardown, .timeout = 900);

Test(multi_dots, kill9_of_one_instance_of_each_service_mid_run_loses_nothing)
{
    cr_assert_eq(obt_proc_log_count(&s_dots2, "DOTS-STANDBY standby: instance dots-1 (boot "), 1,
                 "dots-2 waits as a standby");
    cr_assert_eq(obt_proc_log_count(&s_dots2, " READY "), 0, "a standby binds nothing");
    uint64_t t0 = s_now_ms();
    s_start_onboarding(N_DOTS_DEVICES);
    /* mid-run: dots-1 brought some devices to RFNOP, cms-2 and ams-2 finished some
     * hand-overs, others are in flight */
    if (obt_proc_wait_log_count(&s_suite.dots, "DOTS-RFNOP", 20, 300000) != 0 ||
        obt_proc_wait_log_count(&s_cms2, " handover done", 3, 120000) != 0 ||
        obt_proc_wait_log_count(&s_ams2, " handover done", 3, 120000) != 0) {
        s_dump_all();
        cr_assert_fail("no device reached RFNOP through cms-2 and ams-2");
    }
    obt_proc_kill9(&s_suite.dots);
    uint64_t killed = s_now_ms();
    obt_proc_kill9(&s_cms2);
    obt_proc_kill9(&s_ams2);
    size_t rfnop_at_kill = obt_devsim_count_rfnop(s_dir, N_DOTS_DEVICES + 4, NULL);
    int dots1 = s_rfnop(&s_suite.dots);
    cr_log_info("killed dots-1, cms-2 and ams-2 at %.1f s with %zu of %d devices RFNOP",
                (double) (killed - t0) / 1000.0, rfnop_at_kill, N_DOTS_DEVICES);
    cr_assert_lt(rfnop_at_kill, N_DOTS_DEVICES, "the kill came after the run");
    if (obt_proc_wait_log(&s_dots2, "DOTS-ACTIVE instance dots-2 is active (took over from dots-1",
                          20000) != 0) {
        s_dump_all();
        cr_assert_fail("dots-2 did not take over");
    }
    cr_log_info("dots-2 active %.1f s after the kill -9 of dots-1",
                (double) (s_now_ms() - killed) / 1000.0);
    char why[512] = "";
    if (!s_all_onboarded(N_DOTS_DEVICES, 180, why, sizeof why)) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    int dots2 = s_rfnop(&s_dots2);
    cr_log_info("all %d devices onboarded and checked after %.1f s; RFNOP by dots-1 %d, by "
                "dots-2 %d; hand-overs cms %d + %d + %d, ams %d + %d",
                N_DOTS_DEVICES, (double) (s_now_ms() - t0) / 1000.0, dots1, dots2,
                s_done(&s_suite.cms), s_done(&s_cms2), s_done(&s_cms3), s_done(&s_suite.ams),
                s_done(&s_ams2));
    cr_assert_gt(dots1, 0, "dots-1 did none before the kill");
    cr_assert_gt(dots2, 0, "dots-2 did none after the take-over");
    cr_assert_gt(s_done(&s_suite.cms), 0, "cms did none");
    cr_assert_gt(s_done(&s_cms2), 0, "cms-2 did none");
    cr_assert_gt(s_done(&s_cms3), 0, "cms-3 did none");
    cr_assert_gt(s_done(&s_suite.ams), 0, "ams did none");
    cr_assert_gt(s_done(&s_ams2), 0, "ams-2 did none");
    cr_assert_eq(obt_proc_log_count(&s_dots2, "DOTS-FENCED"), 0);
    s_assert_one_transfer_each(N_DOTS_DEVICES);
}

/* The last line of p's log, in out. */
static void
s_last_line(const obt_proc_t *p, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(p->log, "r");
    cr_assert_not_null(f);
    char line[2048];
    while (fgets(line, sizeof line, f) != NULL) {
        (void) snprintf(out, cap, "%s", line);
    }
    (void) fclose(f);
}

/* Pauses DOTS instance p between two loop passes (holding no LMDB writer lock). */
static void
s_pause_between_passes(const obt_proc_t *p)
{
    bool is_paused = false;
    for (int i = 0; i < 1000 && !is_paused; i++) {
        cr_assert_eq(kill(p->pid, SIGSTOP), 0);
        is_paused = s_is_between_passes(p->pid);
        if (!is_paused) {
            cr_assert_eq(kill(p->pid, SIGCONT), 0);
            (void) poll(NULL, 0, 5);
        }
    }
    cr_assert(is_paused, "%s was never between two passes", p->log);
}

Test(multi_dots, an_active_paused_past_its_lease_is_fenced_and_writes_nothing)
{
    /* dots-1 paused between two passes (no LMDB writer lock held) past its lease: dots-2
     * takes over, binds the same endpoint and onboards the devices */
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_PAUSED, NULL), 0);
    s_pause_between_passes(&s_suite.dots);
    int took = obt_proc_wait_log(&s_dots2, "DOTS-ACTIVE instance dots-2 is active", 20000);
    char *out = NULL;
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    int worked = took != 0                                             ? -1
                 : obt_discover_approve(&s_suite, N_PAUSED, &out) != 0 ? -2
                 : obt_ctl(&s_suite, onboard, NULL) != 0
                         ? -3
                         : obt_proc_wait_log_count(&s_dots2, "DOTS-RFNOP", N_PAUSED, 120000);
    free(out);
    cr_assert_eq(kill(s_suite.dots.pid, SIGCONT), 0);
    if (worked != 0) {
        s_dump_all();
        cr_assert_fail("dots-2 did not take over and onboard while dots-1 was paused (%d)", worked);
    }
    int rc = obt_proc_wait_exit(&s_suite.dots, 15000);
    char last[2048];
    s_last_line(&s_suite.dots, last, sizeof last);
    if (rc != 75 || strstr(last, " DOTS-FENCED another instance (dots-2, boot ") == NULL) {
        s_dump_all();
        cr_assert_fail("dots-1 back: exit %d, last line: %s", rc, last);
    }
    char why[512] = "";
    if (!s_all_onboarded(N_PAUSED, 120, why, sizeof why)) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    cr_assert_eq(s_rfnop(&s_suite.dots), 0, "the paused dots-1 onboarded nothing");
    s_assert_one_transfer_each(N_PAUSED);
}

Test(multi_dots, a_plain_dots_is_refused_beside_shared_ones)
{
    s_assert_plain_refused("dots", &s_dots2);
    cr_assert(obt_proc_alive(&s_suite.dots), "the active runs on");
}

/* ---------------------------------------------------------------- --parts */

#define N_PARTS_DEVICES 200
/* The active DOTS instances bind the first free of these (each its own; events at
 * port + 10): obtctl reaches each at the one its READY line names. */
#define S_PARTS_EPS "tcp://127.0.0.1:7461,tcp://127.0.0.1:7462,tcp://127.0.0.1:7463"

static obt_proc_t s_dots3;

/* Three DOTS instances with --parts 2 on one store: dots-1 and dots-2 active (a part
 * each), dots-3 a standby; 3 CMS, 2 AMS as multi_dots. */
static void
s_setup_parts(void)
{
    s_dir = obt_tmpdir("multi_parts");
    cr_assert_not_null(s_dir);
    s_eps(s_cms_eps, sizeof s_cms_eps, "cms", 3);
    s_eps(s_ams_eps, sizeof s_ams_eps, "ams", 2);
    static const char *dots_args[] = {
            "--cms",     s_cms_eps,        "--ams",   s_ams_eps, "--step-timeout-ms",
            "3000",      "--shared-store", "--parts", "2",       "--endpoint",
            S_PARTS_EPS, "--instance",     "dots-1",  NULL};
    cr_assert_eq(obt_suite_start_shared(&s_suite, s_dir, dots_args), 0, "the suite did not start");
    s_start_second(&s_cms2, "cms", "cms-2");
    s_start_second(&s_cms3, "cms", "cms-3");
    s_start_second(&s_ams2, "ams", "ams-2");
    s_start_second(&s_dots2, "dots", "dots-2");
    s_start_second(&s_dots3, "dots", "dots-3");
}

static void
s_teardown_parts(void)
{
    (void) obt_proc_stop(&s_dots3);
    s_teardown();
}

/* The suite as obtctl sees it given every DOTS instance's endpoint (it asks them all). */
static obt_suite_t
s_all_instances(void)
{
    obt_suite_t all = s_suite;
    (void) snprintf(all.ep_dots, sizeof all.ep_dots, "%s", S_PARTS_EPS);
    return all;
}

/* The suite as obtctl sees it through DOTS instance p: its endpoint from its READY
 * line (the last one). */
static obt_suite_t
s_through(const obt_proc_t *p)
{
    obt_suite_t view = s_suite;
    FILE *f = fopen(p->log, "r");
    cr_assert_not_null(f);
    char line[2048], ep[600] = "";
    while (fgets(line, sizeof line, f) != NULL) {
        const char *r = strstr(line, " READY endpoint=");
        if (r) {
            r += strlen(" READY endpoint=");
            (void) snprintf(ep, sizeof ep, "%.*s", (int) strcspn(r, " \n"), r);
        }
    }
    (void) fclose(f);
    cr_assert(ep[0], "%s has no READY line", p->log);
    (void) snprintf(view.ep_dots, sizeof view.ep_dots, "%s", ep);
    return view;
}

/* Runs obtctl args through DOTS instance p (which must succeed); its output, malloc'd. */
static char *
s_ctl_through(const obt_proc_t *p, const char *const *args)
{
    obt_suite_t view = s_through(p);
    char *out = NULL;
    int rc = obt_ctl(&view, args, &out);
    if (rc != 0) {
        s_dump_all();
        cr_assert_fail("obtctl %s through %s: exit %d: %s", args[0], p->log, rc, out ? out : "");
    }
    return out;
}

/* Discovers and approves through instance p; the number of devices it recorded. */
static int
s_approve_part(const obt_proc_t *p)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const count[] = {"devices", "--count", NULL};
    free(s_ctl_through(p, discover));
    free(s_ctl_through(p, approve));
    char *out = s_ctl_through(p, count);
    int n = 0;
    const char *t = strstr(out, "total");
    cr_assert(t && sscanf(t, "total %d", &n) == 1, "%s", out);
    free(out);
    return n;
}

static void
s_onboard_part(const obt_proc_t *p)
{
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    free(s_ctl_through(p, onboard));
}

/* N_PARTS_DEVICES devices, each part discovered and approved through its instance
 * (*n1, *n2 recorded), dots-1's part being onboarded: kill -9 of dots-1 once it brought
 * some of them to RFNOP while others are in flight. Its RFNOP count. */
static int
s_kill_dots1_mid_part(int *n1, int *n2)
{
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N_PARTS_DEVICES, NULL), 0);
    *n1 = s_approve_part(&s_suite.dots);
    *n2 = s_approve_part(&s_dots2);
    cr_log_info("dots-1 recorded %d devices, dots-2 %d", *n1, *n2);
    s_onboard_part(&s_suite.dots);
    if (obt_proc_wait_log_count(&s_suite.dots, "DOTS-RFNOP", 10, 120000) != 0) {
        s_dump_all();
        cr_assert_fail("dots-1 onboarded nothing");
    }
    obt_proc_kill9(&s_suite.dots);
    return s_rfnop(&s_suite.dots);
}

TestSuite(multi_parts, .init = s_setup_parts, .fini = s_teardown_parts, .timeout = 900);

Test(multi_parts, two_active_instances_share_the_devices_and_a_standby_takes_a_killed_part)
{
    cr_assert_eq(
            obt_proc_log_count(&s_suite.dots, "DOTS-ACTIVE instance dots-1 is active for part 0/2"),
            1);
    cr_assert_eq(obt_proc_log_count(&s_dots2, "DOTS-ACTIVE instance dots-2 is active for part 1/2"),
                 1);
    cr_assert_eq(obt_proc_log_count(&s_dots3, "DOTS-STANDBY standby: each of the 2 parts"), 1,
                 "dots-3 waits as a standby");
    int n1 = 0, n2 = 0;
    int dots1 = s_kill_dots1_mid_part(&n1, &n2);
    size_t rfnop_at_kill = obt_devsim_count_rfnop(s_dir, N_PARTS_DEVICES + 4, NULL);
    cr_log_info("killed dots-1 with %zu of %d devices RFNOP", rfnop_at_kill, N_PARTS_DEVICES);
    cr_assert_lt(rfnop_at_kill, (size_t) n1, "the kill came after dots-1's part was done");
    s_onboard_part(&s_dots2); /* while dots-3 takes part 0 over */
    if (obt_proc_wait_log(&s_dots3, "DOTS-ACTIVE instance dots-3 is active for part 0/2", 20000) !=
        0) {
        s_dump_all();
        obt_proc_dump(&s_dots3);
        cr_assert_fail("dots-3 did not take part 0 over");
    }
    /* the domain's identities (obt_ids) through a live instance: any, they are one */
    obt_suite_t live = s_through(&s_dots2);
    (void) snprintf(s_suite.ep_dots, sizeof s_suite.ep_dots, "%s", live.ep_dots);
    char why[512] = "";
    if (!s_all_onboarded(N_PARTS_DEVICES, 180, why, sizeof why)) {
        s_dump_all();
        obt_proc_dump(&s_dots3);
        cr_assert_fail("%s", why);
    }
    int dots2 = s_rfnop(&s_dots2), dots3 = s_rfnop(&s_dots3);
    cr_log_info("RFNOP by dots-1 %d (killed), dots-2 %d, dots-3 %d (took part 0)", dots1, dots2,
                dots3);
    cr_assert_gt(dots1, 0);
    cr_assert_gt(dots2, 0, "dots-2 did none: the work was not spread");
    cr_assert_gt(dots3, 0, "dots-3 did none of the killed instance's part");
    cr_assert_eq(n1 + n2, N_PARTS_DEVICES, "each device recorded by exactly one instance");
    cr_assert_eq(dots2, n2, "dots-2 onboarded the devices of its part, no other");
    cr_assert_eq(obt_proc_log_count(&s_dots2, "DOTS-FENCED"), 0);
    /* obtctl given every endpoint sees the whole domain again: dots-2 and dots-3 */
    obt_suite_t all = s_all_instances();
    static const char *const rfnop[] = {"devices", "--count", "--state", "RFNOP", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&all, rfnop, &out), 0);
    int n_rfnop = 0;
    const char *t = out ? strstr(out, "RFNOP") : NULL;
    cr_assert(t && sscanf(t, "RFNOP %d", &n_rfnop) == 1 && n_rfnop == N_PARTS_DEVICES,
              "RFNOP through every instance: %s", out ? out : "");
    free(out);
    s_assert_one_transfer_each(N_PARTS_DEVICES);
}

/* With no standby left, the surviving active instance adopts the killed one's part
 * (D101): it loads that part's records, finishes them, and records its devices from
 * then on. */
Test(multi_parts, an_active_instance_adopts_a_killed_part_when_no_standby_is_left)
{
    cr_assert_eq(obt_proc_stop(&s_dots3), 0, "dots-3 (the standby) stops cleanly");
    int n1 = 0, n2 = 0;
    int dots1 = s_kill_dots1_mid_part(&n1, &n2);
    cr_assert_eq(n1 + n2, N_PARTS_DEVICES, "parts %d + %d", n1, n2);
    cr_assert_lt(dots1, n1, "the kill came after dots-1's part was done");
    s_onboard_part(&s_dots2);
    /* obtctl health through the instances' endpoints: part 0 has nobody for now */
    obt_suite_t all = s_all_instances();
    static const char *const health[] = {"health", "dots", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&all, health, &out), 0, "%s", out ? out : "");
    cr_assert(strstr(out, "instance=dots-2 parts=1/2") && !strstr(out, "instance=dots-1") &&
                      strstr(out, "part 0/2: served by no instance"),
              "health after the kill: %s", out);
    free(out);
    /* the lease runs out (6 s), then the grace left to a standby (5 s) */
    if (obt_proc_wait_log(&s_dots2, "DOTS-ADOPT instance dots-2 serves part 0/2 too", 40000) != 0) {
        s_dump_all();
        cr_assert_fail("dots-2 did not adopt part 0");
    }
    cr_assert_eq(obt_proc_wait_log(&s_dots2, "DOTS-ADOPT part 0/2: ", 10000), 0,
                 "the part's records are not loaded");
    cr_assert_eq(obt_proc_log_count(&s_dots2, "DOTS-ADOPT part 0/2: "), 1,
                 "the part's records are loaded once");
    out = NULL;
    cr_assert_eq(obt_ctl(&all, health, &out), 0, "%s", out ? out : "");
    cr_assert(strstr(out, "instance=dots-2 parts=0,1/2") && !strstr(out, "served by no instance"),
              "health after the adoption: %s", out);
    free(out);
    obt_suite_t live = s_through(&s_dots2);
    (void) snprintf(s_suite.ep_dots, sizeof s_suite.ep_dots, "%s", live.ep_dots);
    char why[512] = "";
    if (!s_all_onboarded(N_PARTS_DEVICES, 180, why, sizeof why)) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    int dots2 = s_rfnop(&s_dots2);
    cr_log_info("RFNOP by dots-1 %d (killed), dots-2 %d (its part: %d)", dots1, dots2, n2);
    cr_assert_gt(dots2, n2, "dots-2 onboarded none of the adopted part");
    cr_assert_eq(obt_proc_log_count(&s_dots2, "DOTS-FENCED"), 0);
    /* through dots-2 alone: every device, both parts */
    static const char *const rfnop[] = {"devices", "--count", "--state", "RFNOP", NULL};
    out = s_ctl_through(&s_dots2, rfnop);
    int n_rfnop = 0;
    const char *t = strstr(out, "RFNOP");
    cr_assert(t && sscanf(t, "RFNOP %d", &n_rfnop) == 1 && n_rfnop == N_PARTS_DEVICES,
              "RFNOP through dots-2: %s", out);
    free(out);
    s_assert_one_transfer_each(N_PARTS_DEVICES);
    /* dots-2 holds both parts' leases now and either fences it: paused past them, it
     * stops as soon as it is back, since a new instance took one */
    s_pause_between_passes(&s_dots2);
    s_start_second(&s_dots3, "dots", "dots-3");
    int took = obt_proc_wait_log(&s_dots3, "DOTS-ACTIVE instance dots-3 is active for part 0/2",
                                 20000);
    cr_assert_eq(kill(s_dots2.pid, SIGCONT), 0);
    if (took != 0) {
        s_dump_all();
        obt_proc_dump(&s_dots3);
        cr_assert_fail("dots-3 did not take part 0 while dots-2 was paused");
    }
    int rc = obt_proc_wait_exit(&s_dots2, 15000);
    char last[2048];
    s_last_line(&s_dots2, last, sizeof last);
    cr_assert(rc == 75 && strstr(last, " DOTS-FENCED another instance (dots-3, boot "),
              "dots-2 back: exit %d, last line: %s", rc, last);
}

/* The devices DOTS instance p has recorded (`devices --count` through it). */
static int
s_count_through(const obt_proc_t *p)
{
    static const char *const count[] = {"devices", "--count", NULL};
    char *out = s_ctl_through(p, count);
    int n = -1;
    const char *t = strstr(out, "total");
    cr_assert(t && sscanf(t, "total %d", &n) == 1, "%s", out);
    free(out);
    return n;
}

/* A Bridge's VODs follow it (D101): whatever their own part, the instance that onboards
 * the Bridge records and onboards them (a VOD's part alone would leave about half of
 * them to the other instance, which never looks for them). */
Test(multi_parts, a_bridges_vods_are_onboarded_by_the_bridges_instance_whatever_their_part)
{
    enum { N_VODS = 10 };
    char n_vods[8];
    (void) snprintf(n_vods, sizeof n_vods, "%d", N_VODS);
    const char *extra[] = {"--bridge-vods", n_vods, NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, 1, NULL, extra), 0);
    obt_suite_t all = s_all_instances();
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "120", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&all, discover, &out), 0, "%s", out ? out : "");
    cr_assert(strstr(out, "found 1 unowned") != NULL, "the Bridge alone answers: %s", out);
    free(out);
    cr_assert_eq(obt_ctl(&all, approve, NULL), 0);
    out = NULL;
    cr_assert_eq(obt_ctl(&all, onboard, &out), 0, "%s", out ? out : "");
    free(out);
    (void) snprintf(s_suite.ep_dots, sizeof s_suite.ep_dots, "%s", S_PARTS_EPS);
    char why[512] = "";
    if (!s_all_onboarded(1 + N_VODS, 120, why, sizeof why)) {
        s_dump_all();
        obt_proc_dump(&s_dots3);
        cr_assert_fail("%s", why);
    }
    int n1 = s_count_through(&s_suite.dots), n2 = s_count_through(&s_dots2);
    cr_log_info("records: dots-1 %d, dots-2 %d", n1, n2);
    cr_assert((n1 == 1 + N_VODS && n2 == 0) || (n1 == 0 && n2 == 1 + N_VODS),
              "the Bridge and its VODs are not all with one instance: %d + %d", n1, n2);
    const obt_proc_t *mine = n1 > 0 ? &s_suite.dots : &s_dots2;
    cr_assert_eq(s_rfnop(mine), 1 + N_VODS, "the Bridge's instance onboarded them all");
    cr_assert_eq(obt_proc_log_count(mine, "DOTS-VOD "), N_VODS, "each VOD linked to its Bridge");
}

/* The first uuid of the first device DOTS instance p lists. */
static void
s_first_device_of(const obt_proc_t *p, char *out, size_t cap)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *json = s_ctl_through(p, list);
    cr_assert(obt_json_str(json, "first_uuid", out, cap), "%s lists no device: %s", p->log, json);
    free(json);
}

/* obtctl given every instance's endpoint (`--dots EP,EP,EP`) sees one DOTS: the merged
 * discovery and device counts, named devices routed to the instance that has each,
 * `onboard --all` waiting on every instance's events. */
Test(multi_parts, obtctl_with_the_instances_endpoints_sees_one_dots)
{
    enum { N = 40 };
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N, NULL), 0);
    obt_suite_t all = s_all_instances();
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const count[] = {"devices", "--count", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&all, discover, &out), 0, "%s", out ? out : "");
    cr_log_info("discover through all: %s", out);
    cr_assert(strstr(out, "found 40 unowned") != NULL, "merged discovery: %s", out);
    free(out);
    out = NULL;
    cr_assert_eq(obt_ctl(&all, count, &out), 0);
    int total = 0;
    const char *t = strstr(out, "total");
    cr_assert(t && sscanf(t, "total %d", &total) == 1 && total == N, "merged count: %s", out);
    free(out);
    /* each instance recorded its part only, and both parts have devices */
    char *c1 = s_ctl_through(&s_suite.dots, count), *c2 = s_ctl_through(&s_dots2, count);
    int n1 = 0, n2 = 0;
    cr_assert(sscanf(strstr(c1, "total"), "total %d", &n1) == 1);
    cr_assert(sscanf(strstr(c2, "total"), "total %d", &n2) == 1);
    free(c1);
    free(c2);
    cr_assert(n1 > 0 && n2 > 0 && n1 + n2 == N, "parts %d + %d", n1, n2);
    /* health: each instance, and the part it serves */
    static const char *const health[] = {"health", "dots", NULL};
    out = NULL;
    cr_assert_eq(obt_ctl(&all, health, &out), 0, "%s", out ? out : "");
    cr_assert(strstr(out, "instance=dots-1 parts=0/2") &&
                      strstr(out, "instance=dots-2 parts=1/2") &&
                      !strstr(out, "served by no instance"),
              "health through every instance: %s", out);
    free(out);
    /* named devices of both parts, in one command */
    char u1[40], u2[40];
    s_first_device_of(&s_suite.dots, u1, sizeof u1);
    s_first_device_of(&s_dots2, u2, sizeof u2);
    const char *approve2[] = {"approve", u1, u2, NULL};
    const char *onboard2[] = {"onboard", u1, u2, "--wait-s", "60", NULL};
    cr_assert_eq(obt_ctl(&all, approve2, NULL), 0);
    out = NULL;
    cr_assert_eq(obt_ctl(&all, onboard2, &out), 0, "%s", out ? out : "");
    cr_assert(strstr(out, "2 device(s) in RFNOP, 0 failed"), "%s", out);
    free(out);
    const char *show1[] = {"show", u1, NULL}, *show2[] = {"show", u2, NULL};
    cr_assert_eq(obt_ctl(&all, show1, NULL), 0);
    cr_assert_eq(obt_ctl(&all, show2, NULL), 0);
    static const char *const unknown[] = {"onboard", "00000000-0000-4000-8000-000000000000", NULL};
    cr_assert_eq(obt_ctl(&all, unknown, NULL), 3, "a uuid no instance has");
    /* the rest, through every instance at once, waiting on all their events */
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "120", NULL};
    cr_assert_eq(obt_ctl(&all, approve, NULL), 0);
    out = NULL;
    cr_assert_eq(obt_ctl(&all, onboard, &out), 0, "%s", out ? out : "");
    cr_assert(strstr(out, "40 device(s) in RFNOP, 0 failed"), "%s", out);
    free(out);
    (void) snprintf(s_suite.ep_dots, sizeof s_suite.ep_dots, "%s", S_PARTS_EPS);
    char why[512] = "";
    if (!s_all_onboarded(N, 60, why, sizeof why)) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    cr_assert_gt(s_rfnop(&s_suite.dots), 0);
    cr_assert_gt(s_rfnop(&s_dots2), 0);
    cr_assert_eq(s_rfnop(&s_suite.dots) + s_rfnop(&s_dots2), N, "each device onboarded once");
}

/* The parts DOTS instance p serves, from `obtctl health dots` through every
 * instance's endpoint ("" if p did not answer). */
static void
s_parts_of(const char *instance, char *out, size_t cap)
{
    obt_suite_t all = s_all_instances();
    static const char *const health[] = {"health", "dots", NULL};
    char *text = NULL;
    cr_assert_eq(obt_ctl(&all, health, &text), 0, "%s", text ? text : "");
    char needle[64];
    (void) snprintf(needle, sizeof needle, "instance=%s parts=", instance);
    const char *at = strstr(text, needle);
    out[0] = '\0';
    if (at) {
        at += strlen(needle);
        (void) snprintf(out, cap, "%.*s", (int) strcspn(at, " \n"), at);
    }
    free(text);
}

/* An adopted part goes back to a standby once it is quiet (D103): the instance that
 * adopted it forgets its records and releases its lease, the standby takes it and
 * serves its records; the work is spread again. */
Test(multi_parts, an_adopted_part_goes_back_to_a_standby_once_quiet)
{
    enum { N = 40 };
    cr_assert_eq(obt_proc_stop(&s_dots3), 0, "dots-3 (the standby) stops cleanly");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, N, NULL), 0);
    int n1 = s_approve_part(&s_suite.dots);
    int n2 = s_approve_part(&s_dots2);
    s_onboard_part(&s_suite.dots);
    s_onboard_part(&s_dots2);
    obt_suite_t all = s_all_instances();
    (void) snprintf(s_suite.ep_dots, sizeof s_suite.ep_dots, "%s", S_PARTS_EPS);
    char why[512] = "";
    if (!s_all_onboarded(N, 120, why, sizeof why)) {
        s_dump_all();
        cr_assert_fail("%s", why);
    }
    obt_proc_kill9(&s_suite.dots);
    if (obt_proc_wait_log(&s_dots2, "DOTS-ADOPT part 0/2: ", 40000) != 0) {
        s_dump_all();
        cr_assert_fail("dots-2 did not adopt part 0");
    }
    char parts[32];
    s_parts_of("dots-2", parts, sizeof parts);
    cr_assert_str_eq(parts, "0,1/2", "dots-2 after the adoption");
    cr_assert_eq(s_count_through(&s_dots2), N, "dots-2 serves every record");
    /* a new instance waits as a standby: dots-2 gives part 0 back */
    s_start_second(&s_dots3, "dots", "dots-3");
    if (obt_proc_wait_log(&s_dots2,
                          "DOTS-HANDBACK instance dots-2 gives part 0/2 back: instance "
                          "dots-3 waits as a standby",
                          20000) != 0 ||
        obt_proc_wait_log(&s_dots3, "DOTS-ACTIVE instance dots-3 is active for part 0/2", 10000) !=
                0) {
        s_dump_all();
        obt_proc_dump(&s_dots3);
        cr_assert_fail("part 0 did not go back to dots-3");
    }
    cr_assert_eq(obt_proc_log_count(&s_dots2, "DOTS-FENCED"), 0);
    cr_assert_eq(obt_proc_log_count(&s_dots3, "DOTS-FENCED"), 0);
    s_parts_of("dots-2", parts, sizeof parts);
    cr_assert_str_eq(parts, "1/2", "dots-2 after the hand-back");
    s_parts_of("dots-3", parts, sizeof parts);
    cr_assert_str_eq(parts, "0/2", "dots-3 after the hand-back");
    int c2 = s_count_through(&s_dots2), c3 = s_count_through(&s_dots3);
    cr_assert(c2 == n2 && c3 == n1, "records: dots-2 %d (its part %d), dots-3 %d (part 0: %d)", c2,
              n2, c3, n1);
    /* and dots-3 serves them: a repair of one of part 0's devices through it */
    static const char *const list[] = {"--json", "devices", NULL};
    char *json = s_ctl_through(&s_dots3, list);
    char u[40];
    cr_assert(obt_json_str(json, "uuid", u, sizeof u), "dots-3 lists no device: %s", json);
    free(json);
    const char *repair[] = {"repair", u, "--wait-s", "30", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&all, repair, &out), 0, "repair of %s through the list: %s", u,
                 out ? out : "");
    free(out);
    cr_assert_gt(obt_proc_log_count(&s_dots3, u), 0, "dots-3 did the repair of %s", u);
}
