/* gateways_test.c — several gateways, one per device network (docs/scaling.md): two
 * obt-gateway processes on two veth pairs of scripts/netns.sh (gw-a on veth0, its
 * devices on veth1; gw-b on veth2, its devices on veth3), one DOTS, CMS and AMS given
 * both. Discovery asks both and each record names the gateway that found the device;
 * with gw-b stopped, gw-a's devices onboard and gw-b's wait with the reason; gw-b
 * started again, they finish by themselves. And a kill -9 of the first gateway, gw-a,
 * mid-onboarding: its jobs wait for it (not "timeout", not FAILED), gw-b's devices
 * onboard meanwhile and right after gw-a's restart without waiting for anything, and
 * gw-a's devices finish by themselves once it is back (D90). The same for CMS's own
 * job (a pairing) whose request gw-b holds when it is killed -9: the job waits for
 * gw-b, saying so, and finishes once gw-b is back (D85). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "obt_checks.h"
#include "obt_json.h"

#define N_PER_NET 5 /* devices on each network */
#define N_ALL     (2 * N_PER_NET)

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim_a, s_sim_b, s_gw_b;
static obt_proc_t s_ctl_bg;   /* an obtctl left running while its job waits */
static char s_gateways[1400]; /* --gateway of DOTS, CMS and AMS */
static char s_ep_b[700];      /* gw-b's endpoint */
static char s_net_a[600], s_net_b[600];

static const char *const s_gw_a_flags[] = {"--name",  "gw-a", "--iface", "veth0",
                                           "--scope", "link", NULL};

static void
s_setup(void)
{
    s_dir = obt_tmpdir("gateways");
    cr_assert_not_null(s_dir);
}

static void
s_teardown(void)
{
    (void) obt_proc_stop(&s_ctl_bg);
    (void) obt_proc_stop(&s_gw_b);
    (void) obt_proc_stop(&s_sim_b);
    obt_test_end(&s_suite, &s_sim_a, &s_dir);
}

/* Skips the test, with the reason, unless both veth pairs are up (scripts/netns.sh). */
static void
s_need_two_networks(void)
{
    bool has_a = obt_iface_has_addr6("veth0", "fe80::1");
    bool has_b = obt_iface_has_addr6("veth2", "fe80::3");
    const char *veth2 = getenv("OBT_VETH2");
    cr_assert(has_b || veth2 == NULL || strcmp(veth2, "up") != 0,
              "scripts/netns.sh made the second veth pair, but veth2 has no fe80::3");
    if (!has_a || !has_b) {
        cr_skip_test("two device networks needed (veth0 with fe80::1, veth2 with fe80::3): %s",
                     veth2 ? veth2 : "run under scripts/netns.sh, which creates them");
    }
}

/* Starts (or starts again) gw-b on veth2. */
static void
s_start_gw_b(void)
{
    const char *args[] = {"--keys-dir",
                          s_suite.keys,
                          "--log-level",
                          "info",
                          "--endpoint",
                          s_ep_b,
                          "--name",
                          "gw-b",
                          "--iface",
                          "veth2",
                          "--scope",
                          "link",
                          "--discover-window-ms",
                          "400",
                          NULL};
    int ready_before = obt_proc_log_count(&s_gw_b, " READY ");
    cr_assert_eq(obt_proc_start(&s_gw_b, s_dir, "gw-b", "obt-gateway", args), 0);
    cr_assert_eq(obt_proc_wait_log_count(&s_gw_b, " READY ", ready_before + 1, 15000), 0,
                 "gw-b did not start");
}

/* n devices of ocf-devsim in dir (a folder of its own), bound to addr on iface, with
 * faults (may be NULL); an idle DOC is dropped after 2 s. */
static void
s_start_devices_with(obt_proc_t *sim,
                     char *dir,
                     const char *name,
                     const char *addr,
                     const char *iface,
                     const char *faults)
{
    (void) snprintf(dir, 600, "%s/%s", s_dir, name);
    cr_assert_eq(mkdir(dir, 0700), 0);
    const char *const extra[] = {"--address", addr,           "--iface",       iface,  "--scope",
                                 "link",      "--mcast-bind", "--doc-idle-ms", "2000", NULL};
    cr_assert_eq(obt_devsim_start_with(sim, dir, N_PER_NET, faults, extra), 0,
                 "ocf-devsim on %s did not start", iface);
}

/* Waits until DOTS has logged n devices reaching RFNOP; the logs on failure. */
static void
s_wait_rfnop(int n, const char *what)
{
    if (obt_proc_wait_log_count(&s_suite.dots, "DOTS-RFNOP", n, 90000) != 0) {
        obt_suite_dump(&s_suite);
        obt_proc_dump(&s_gw_b);
        cr_assert_fail("%s", what);
    }
}

/* `obtctl --json devices`: the objects (caller frees each); asserts there are N_ALL. */
static void
s_devices(char **objs)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_a, list, &out), 0);
    size_t n = obt_json_objects(out, objs, N_ALL + 1);
    free(out);
    cr_assert_eq(n, N_ALL, "%zu devices listed", n);
}

/* Starts the suite with gw-a (first listed) and gw-b, devices on both networks (with
 * the faults of each, may be NULL), and discovers all of them. */
static void
s_two_networks_with(const char *faults_a, const char *faults_b)
{
    s_need_two_networks();
    (void) snprintf(s_ep_b, sizeof s_ep_b, "ipc://%s/gw-b.sock", s_dir);
    (void) snprintf(s_gateways, sizeof s_gateways, "gw-a=ipc://%s/gw.sock,gw-b=%s", s_dir, s_ep_b);
    cr_assert_eq(obt_suite_start_gateways(&s_suite, s_dir, s_gateways, s_gw_a_flags), 0,
                 "the suite did not start");
    s_start_gw_b();
    s_start_devices_with(&s_sim_a, s_net_a, "net-a", "fe80::2%veth1", "veth1", faults_a);
    s_start_devices_with(&s_sim_b, s_net_b, "net-b", "fe80::4%veth3", "veth3", faults_b);
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_a, discover, &out), 0);
    cr_assert(strstr(out, "found 10 unowned") != NULL, "discover: %s", out);
    free(out);
}

static void
s_two_networks(const char *faults_a)
{
    s_two_networks_with(faults_a, NULL);
}

/* The uuids of the records of gateway gw (at most N_PER_NET), into uuids. */
static size_t
s_uuids_of(const char *gw, char uuids[][40])
{
    char *objs[N_ALL + 1];
    s_devices(objs);
    size_t n = 0;
    for (size_t i = 0; i < N_ALL; i++) {
        char g[32] = "";
        if (obt_json_str(objs[i], "gateway", g, sizeof g) && strcmp(g, gw) == 0 && n < N_PER_NET) {
            cr_assert(obt_json_str(objs[i], "uuid", uuids[n], 40));
            n++;
        }
        free(objs[i]);
    }
    return n;
}

/* `obtctl onboard --no-wait` of uuids[from..to). */
static void
s_onboard(char uuids[][40], size_t from, size_t to)
{
    const char *args[N_PER_NET + 4] = {"onboard", "--no-wait"};
    size_t k = 2;
    for (size_t i = from; i < to; i++) {
        args[k++] = uuids[i];
    }
    args[k] = NULL;
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_a, args, NULL), 0);
}

/* Every record of gw-a waits for it, in its step (not FAILED, no "timeout"). */
static void
s_expect_a_waiting(void)
{
    char *objs[N_ALL + 1];
    s_devices(objs);
    size_t waiting = 0;
    for (size_t i = 0; i < N_ALL; i++) {
        char gw[32] = "", state[32] = "", error[320] = "";
        (void) obt_json_str(objs[i], "gateway", gw, sizeof gw);
        (void) obt_json_str(objs[i], "state", state, sizeof state);
        (void) obt_json_str(objs[i], "error", error, sizeof error);
        if (strcmp(gw, "gw-a") == 0) {
            cr_log_info("gw-a's device while gw-a is away: %s", objs[i]);
            cr_expect(strcmp(state, "FAILED") != 0 && strcmp(state, "RFNOP") != 0,
                      "device of gw-a in %s: \"%s\"", state, error);
            cr_expect(strncmp(error, "waiting for gateway gw-a: not answering since ", 46) == 0,
                      "device of gw-a: \"%s\"", error);
            waiting += strncmp(error, "waiting for gateway gw-a: ", 26) == 0;
        }
        free(objs[i]);
    }
    cr_assert_eq(waiting, N_PER_NET);
}

Test(gateways,
     two_networks_one_dots_a_stopped_gateway_holds_only_its_devices,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 240)
{
    /* One discovery asks both gateways: every device once, named by its own gateway. */
    s_two_networks(NULL);
    char *out = NULL;
    char *objs[N_ALL + 1];
    char uuid_b[40] = "";
    s_devices(objs);
    size_t on_a = 0, on_b = 0;
    for (size_t i = 0; i < N_ALL; i++) {
        char gw[32];
        cr_assert(obt_json_str(objs[i], "gateway", gw, sizeof gw));
        bool is_a = strcmp(gw, "gw-a") == 0;
        bool is_b = strcmp(gw, "gw-b") == 0;
        cr_expect(is_a || is_b, "a record names no gateway: %s", objs[i]);
        cr_log_info("device: %s", objs[i]);
        /* Each gateway reaches its devices through its own link. */
        cr_expect(strstr(objs[i], is_a ? "%veth0]" : "%veth2]") != NULL, "%s", objs[i]);
        on_a += is_a;
        on_b += is_b;
        if (is_b && uuid_b[0] == '\0') {
            cr_assert(obt_json_str(objs[i], "uuid", uuid_b, sizeof uuid_b));
        }
        free(objs[i]);
    }
    if (on_a != N_PER_NET || on_b != N_PER_NET) {
        obt_suite_dump(&s_suite);
        obt_proc_dump(&s_gw_b);
    }
    cr_assert_eq(on_a, N_PER_NET);
    cr_assert_eq(on_b, N_PER_NET);

    /* gw-b stops (SIGTERM); then every device is approved and onboarded. */
    int rc = obt_proc_stop(&s_gw_b);
    if (rc != 0) {
        obt_proc_dump(&s_gw_b);
    }
    cr_assert_eq(rc, 0, "gw-b did not stop cleanly (%d)", rc);
    cr_assert_eq(obt_proc_wait_log(&s_suite.dots, "gateway gw-b unreachable", 15000), 0,
                 "DOTS did not notice that gw-b stopped");
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_a, approve, NULL), 0);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_a, onboard, NULL), 0);

    /* gw-a's devices finish; gw-b's wait, saying for which gateway. */
    s_wait_rfnop(N_PER_NET, "gw-a's devices did not reach RFNOP while gw-b was away");
    cr_assert_eq(obt_devsim_count_rfnop(s_net_a, N_PER_NET, NULL), N_PER_NET);
    cr_assert_eq(obt_devsim_count_rfnop(s_net_b, N_PER_NET, NULL), 0);
    s_devices(objs);
    size_t waiting = 0;
    for (size_t i = 0; i < N_ALL; i++) {
        char gw[32], state[32], error[320];
        cr_assert(obt_json_str(objs[i], "gateway", gw, sizeof gw));
        cr_assert(obt_json_str(objs[i], "state", state, sizeof state));
        cr_assert(obt_json_str(objs[i], "error", error, sizeof error));
        if (strcmp(gw, "gw-a") == 0) {
            cr_expect_str_eq(state, "RFNOP");
        } else {
            cr_expect_str_eq(state, "QUEUED");
            cr_expect(strncmp(error, "waiting for gateway gw-b: not answering since ", 46) == 0,
                      "device of gw-b: \"%s\"", error);
            waiting += strncmp(error, "waiting for gateway gw-b", 24) == 0;
        }
        free(objs[i]);
    }
    cr_assert_eq(waiting, N_PER_NET);
    static const char *const health[] = {"health", NULL};
    (void) obt_ctl(&s_suite, health, &out); /* exit 4: gw-b, at the suite's ep, is up */
    cr_assert(out && strstr(out, "gateway gw-b") && strstr(out, "DOWN"), "health: %s", out);
    free(out);

    /* gw-b comes back: no operator command, its devices finish too. */
    s_start_gw_b();
    s_wait_rfnop(N_ALL, "gw-b's devices did not finish after it came back");
    cr_assert_eq(obt_devsim_count_rfnop(s_net_b, N_PER_NET, NULL), N_PER_NET);

    /* CMS and AMS got the gateway with the hand-over and keep it. */
    char *shown = obt_show(&s_suite, uuid_b);
    cr_assert_not_null(shown);
    const char *cms = strstr(shown, "\"cms\":{");
    const char *ams = strstr(shown, "\"ams\":{");
    cr_assert(cms && ams, "show: %s", shown);
    cr_expect(strstr(cms, "\"gateway\":\"gw-b\"") != NULL, "CMS's view: %s", shown);
    cr_expect(strstr(ams, "\"gateway\":\"gw-b\"") != NULL, "AMS's view: %s", shown);
    free(shown);
}

Test(gateways,
     first_gateway_killed_mid_onboarding_its_jobs_wait_then_finish_by_themselves,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 240)
{
    /* gw-a's device 0 stops the simulator of net-a at its SET_OXMSEL (the first POST
     * on doxm): the kill comes while gw-a's jobs are in their first steps. */
    s_two_networks("0:stop:1:POST:/oic/sec/doxm");
    static const char *const approve[] = {"approve", "--all", NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_a, approve, NULL), 0);
    char uuids_a[N_PER_NET][40], uuids_b[N_PER_NET][40];
    cr_assert_eq(s_uuids_of("gw-a", uuids_a), N_PER_NET);
    cr_assert_eq(s_uuids_of("gw-b", uuids_b), N_PER_NET);

    s_onboard(uuids_a, 0, N_PER_NET);
    cr_assert_eq(obt_proc_wait_log(&s_sim_a, "stops (SIGSTOP)", 30000), 0,
                 "net-a's simulator did not stop at SET_OXMSEL");
    obt_proc_kill9(&s_suite.gw);
    cr_assert_eq(kill(s_sim_a.pid, SIGCONT), 0);

    /* Each of gw-a's jobs is cut: it waits for gw-a, saying so. */
    if (obt_proc_wait_log_count(&s_suite.dots, "waiting for gateway gw-a: not answering", N_PER_NET,
                                60000) != 0) {
        obt_suite_dump(&s_suite);
        cr_assert_fail("gw-a's jobs do not wait for it");
    }
    s_expect_a_waiting();

    /* gw-b's devices onboard while gw-a is away. */
    s_onboard(uuids_b, 0, 2);
    s_wait_rfnop(2, "gw-b's devices did not onboard while gw-a was away");
    s_expect_a_waiting();

    /* gw-a restarts; gw-b's other devices start at once and wait for nothing (the
     * first gateway's restart holds only its own jobs), gw-a's finish by themselves. */
    int restarts = obt_proc_log_count(&s_suite.dots, "gateway gw-a restarted");
    cr_assert_eq(obt_suite_restart(&s_suite, "gateway", NULL), 0, "gw-a did not restart");
    cr_assert_eq(
            obt_proc_wait_log_count(&s_suite.dots, "gateway gw-a restarted", restarts + 1, 15000),
            0, "DOTS did not notice gw-a's restart");
    s_onboard(uuids_b, 2, N_PER_NET);
    s_wait_rfnop(N_ALL, "not every device finished after gw-a came back");
    cr_assert_eq(obt_devsim_count_rfnop(s_net_a, N_PER_NET, NULL), N_PER_NET);
    cr_assert_eq(obt_devsim_count_rfnop(s_net_b, N_PER_NET, NULL), N_PER_NET);
    cr_expect_eq(obt_proc_log_count(&s_suite.dots, "waiting for CMS"), 0);
    cr_expect_eq(obt_proc_log_count(&s_suite.dots, "waiting for AMS"), 0);
    cr_expect_eq(obt_proc_log_count(&s_suite.dots, "waiting for gateway gw-b"), 0);
    cr_expect_eq(obt_proc_log_count(&s_suite.dots, "timeout: no reply from the gateway"), 0);
}

/* `obtctl args` in the background (its answer is not awaited: s_teardown stops it). */
static void
s_ctl_background(const char *const *args)
{
    const char *argv[16] = {"--keys-dir", s_suite.keys,    "--gateway", s_suite.ep_gw,
                            "--dots",     s_suite.ep_dots, "--cms",     s_suite.ep_cms,
                            "--ams",      s_suite.ep_ams};
    size_t n = 10;
    for (size_t i = 0; args[i] && n < 15; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    cr_assert_eq(obt_proc_start(&s_ctl_bg, s_dir, "obtctl-bg", "obtctl", argv), 0);
}

/* CMS's view of uuid (`obtctl --json show`): state and error. */
static void
s_cms_view(const char *uuid, char state[32], char error[320])
{
    char *shown = obt_show(&s_suite, uuid);
    cr_assert_not_null(shown);
    const char *cms = strstr(shown, "\"cms\":{");
    cr_assert_not_null(cms, "show: %s", shown);
    state[0] = error[0] = '\0';
    (void) obt_json_str(cms, "state", state, 32);
    (void) obt_json_str(cms, "error", error, 320);
    cr_log_info("CMS's view while gw-b is away: %s", cms);
    free(shown);
}

Test(gateways,
     gateway_killed_inside_a_cms_job_the_job_waits_then_finishes_by_itself,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 240)
{
    /* net-b's device 1 stops its simulator at the first cred POST outside a DOC: CMS's
     * request of the pairing, which gw-b holds when it is killed -9 (D85). */
    s_two_networks_with(NULL, "1:stop:1:POST:/oic/sec/cred");
    char uuids_b[N_PER_NET][40];
    cr_assert_eq(s_uuids_of("gw-b", uuids_b), N_PER_NET);
    static const char *const approve[] = {"approve", "--all", NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_b, approve, NULL), 0);
    const char *onboard[N_PER_NET + 4] = {"onboard", "--wait-s", "90"};
    for (size_t i = 0; i < N_PER_NET; i++) {
        onboard[3 + i] = uuids_b[i];
    }
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_b, onboard, NULL), 0);
    char *objs[N_PER_NET + 1];
    char dev[2][40];
    cr_assert_eq(obt_devsim_dump(s_net_b, objs, N_PER_NET + 1), N_PER_NET);
    for (size_t i = 0; i < N_PER_NET; i++) {
        if (i < 2) { /* the dump lists the devices in index order */
            cr_assert(obt_json_str(objs[i], "deviceuuid", dev[i], sizeof dev[i]));
        }
        free(objs[i]);
    }

    const char *pair[] = {"pair", dev[0], dev[1], NULL};
    s_ctl_background(pair);
    if (obt_proc_wait_log(&s_sim_b, "stops (SIGSTOP)", 60000) != 0) {
        obt_suite_dump(&s_suite);
        cr_assert_fail("CMS never sent device 1 its pairing request");
    }
    obt_proc_kill9(&s_gw_b);
    cr_assert_eq(kill(s_sim_b.pid, SIGCONT), 0);

    /* The job keeps its step and waits for gw-b, saying so: not failed, no timeout. */
    if (obt_proc_wait_log(&s_suite.cms, "waiting for gateway gw-b: not answering since ", 60000) !=
        0) {
        obt_suite_dump(&s_suite);
        cr_assert_fail("CMS's job does not wait for gw-b");
    }
    char state[32], error[320];
    s_cms_view(dev[1], state, error);
    cr_expect_str_neq(state, "failed", "CMS's record of device 1: \"%s\"", error);
    cr_expect(strncmp(error, "waiting for gateway gw-b: not answering since ", 46) == 0,
              "CMS's record of device 1: \"%s\"", error);
    cr_expect_eq(obt_proc_log_count(&s_suite.cms, "SVC-JOB-FAILED"), 0);
    static const char *const links[] = {"--json", "links", NULL};
    char *text = NULL;
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_b, links, &text), 0);
    cr_expect(strstr(text, "\"state\":\"pairing\"") != NULL, "links: %s", text);
    free(text);

    /* gw-b restarts: no operator command, the pairing finishes. */
    s_start_gw_b();
    if (obt_proc_wait_log(&s_suite.cms, "CMS-PAIRED", 60000) != 0) {
        obt_suite_dump(&s_suite);
        obt_proc_dump(&s_gw_b);
        cr_assert_fail("the pairing did not finish after gw-b came back");
    }
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim_b, links, &text), 0);
    cr_expect(strstr(text, "\"state\":\"paired\"") != NULL, "links: %s", text);
    free(text);
    s_cms_view(dev[1], state, error);
    cr_expect_str_eq(error, "", "CMS's record of device 1 after gw-b came back");
    cr_expect_eq(obt_proc_log_count(&s_suite.cms, "SVC-JOB-FAILED"), 0);
    cr_assert_eq(obt_devsim_dump(s_net_b, objs, N_PER_NET + 1), N_PER_NET);
    char key[2][33] = {"", ""};
    for (size_t i = 0; i < N_PER_NET; i++) {
        if (i < 2) {
            (void) obt_dump_cred_hex(objs[i], dev[1 - i], key[i]);
        }
        free(objs[i]);
    }
    cr_expect_eq(strlen(key[0]), 32, "device 0 holds no pairwise key");
    cr_expect_str_eq(key[0], key[1], "the devices hold different keys");
}
