/* operator_test.c — what a new operator meets: the daemons' start checks (keys folder,
 * store folder made with its parents, one daemon per store, gateway interfaces), a
 * refused CURVE key logged by the daemon and explained by obtctl, and obtctl's exit
 * codes against real daemons (unknown UUID, unknown state, an RFNOP device onboarded
 * again, global options after the command) */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmn_bus.h"
#include "obt_checks.h"
#include "obt_support.h"

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("operator");
    cr_assert_not_null(s_dir);
    memset(&s_suite, 0, sizeof s_suite);
    memset(&s_sim, 0, sizeof s_sim);
}

static void
s_setup_suite(void)
{
    s_setup();
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
}

static void
s_teardown(void)
{
    (void) obt_proc_stop(&s_sim);
    obt_suite_stop(&s_suite);
    cr_expect_eq(obt_procs_reap_left(), 0, "a process of the test was left running");
    obt_test_end(&s_suite, NULL, &s_dir);
}

/* Starts exe with args (log DIR/name.log) and waits up to 10 s for it to exit; its
 * exit code (-1: still running after 10 s, then killed). */
static int
s_run_daemon(const char *name, const char *exe, const char *const *args)
{
    obt_proc_t p;
    cr_assert_eq(obt_proc_start(&p, s_dir, name, exe, args), 0);
    for (int i = 0; i < 500; i++) {
        int status = 0;
        if (waitpid(p.pid, &status, WNOHANG) == p.pid) {
            p.pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        (void) poll(NULL, 0, 20);
    }
    obt_proc_dump(&p);
    obt_proc_kill9(&p);
    return -1;
}

static void
s_expect_log(const char *name, const char *token)
{
    obt_proc_t p = {.pid = 0};
    (void) snprintf(p.log, sizeof p.log, "%s/%s.log", s_dir, name);
    cr_expect_gt(obt_proc_log_count(&p, token), 0, "%s.log has no \"%s\"", name, token);
    if (obt_proc_log_count(&p, token) == 0) {
        obt_proc_dump(&p);
    }
}

Test(operator, a_second_daemon_on_a_store_exits_78, .init = s_setup_suite, .fini = s_teardown)
{
    char store[700], pid[64], ep[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    (void) snprintf(ep, sizeof ep, "ipc://%s/dots2.sock", s_dir);
    const char *const args[] = {"--keys-dir", s_suite.keys, "--store-dir", store, "--endpoint",
                                ep,           "--gateway",  s_suite.ep_gw, NULL};
    cr_assert_eq(s_run_daemon("dots2", "obt-dots", args), 78);
    (void) snprintf(pid, sizeof pid, "in use by pid %d", (int) s_suite.dots.pid);
    s_expect_log("dots2", pid);
    /* CMS and AMS too (cmn_svc) */
    (void) snprintf(store, sizeof store, "%s/cms-store", s_dir);
    (void) snprintf(ep, sizeof ep, "ipc://%s/cms2.sock", s_dir);
    const char *const cms_args[] = {"--keys-dir", s_suite.keys, "--store-dir", store,
                                    "--endpoint", ep,           NULL};
    cr_assert_eq(s_run_daemon("cms2", "obt-cms", cms_args), 78);
    s_expect_log("cms2", "in use by pid");
    /* The first one still serves; once it is gone (even kill -9) the store is free. */
    static const char *const health[] = {"health", "dots", NULL};
    cr_assert_eq(obt_ctl(&s_suite, health, NULL), 0);
    obt_proc_kill9(&s_suite.dots);
    cr_assert_eq(obt_suite_restart(&s_suite, "dots", NULL), 0, "DOTS did not start again");
}

Test(operator, the_store_folder_is_made_with_its_parents, .init = s_setup, .fini = s_teardown)
{
    char keys[700], store[700], ep[700];
    (void) snprintf(keys, sizeof keys, "%s/keys", s_dir);
    cr_assert_eq(cmn_bus_keys_create(keys, false), CMN_OK);
    (void) snprintf(store, sizeof store, "%s/var/lib/obt/cms", s_dir);
    (void) snprintf(ep, sizeof ep, "ipc://%s/cms.sock", s_dir);
    const char *const args[] = {"--keys-dir", keys, "--store-dir", store, "--endpoint", ep, NULL};
    obt_proc_t p;
    cr_assert_eq(obt_proc_start(&p, s_dir, "cms", "obt-cms", args), 0);
    int ready = obt_proc_wait_log(&p, " READY ", 10000);
    if (ready != 0) {
        obt_proc_dump(&p);
    }
    cr_expect_eq(ready, 0, "obt-cms with a store under missing parents did not start");
    struct stat st;
    cr_expect_eq(stat(store, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0700, "store mode %o", st.st_mode & 0777);
    cr_expect_eq(obt_proc_stop(&p), 0);
}

Test(operator,
     bad_store_and_keys_folders_exit_78_with_the_reason,
     .init = s_setup,
     .fini = s_teardown)
{
    char keys[700], store[800], file[700], ep[700];
    (void) snprintf(keys, sizeof keys, "%s/keys", s_dir);
    cr_assert_eq(cmn_bus_keys_create(keys, false), CMN_OK);
    (void) snprintf(file, sizeof file, "%s/a-file", s_dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    (void) fclose(f);
    (void) snprintf(store, sizeof store, "%s/store", file);
    (void) snprintf(ep, sizeof ep, "ipc://%s/ams.sock", s_dir);
    const char *const under_file[] = {"--keys-dir", keys, "--store-dir", store,
                                      "--endpoint", ep,   NULL};
    cr_assert_eq(s_run_daemon("ams-notdir", "obt-ams", under_file), 78);
    s_expect_log("ams-notdir", "Not a directory");

    /* no keys folder: 78, and no store made */
    char nokeys[700];
    (void) snprintf(nokeys, sizeof nokeys, "%s/no-keys", s_dir);
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    const char *const no_keys[] = {"--keys-dir", nokeys, "--store-dir", store, NULL};
    cr_assert_eq(s_run_daemon("dots-nokeys", "obt-dots", no_keys), 78);
    s_expect_log("dots-nokeys", "No such file or directory");
    cr_expect_neq(access(store, F_OK), 0, "the store was made before the keys were checked");

    const char *const gw_no_keys[] = {"--keys-dir", nokeys, NULL};
    cr_assert_eq(s_run_daemon("gw-nokeys", "obt-gateway", gw_no_keys), 78);
    s_expect_log("gw-nokeys", "keys folder");
}

Test(operator, a_missing_gateway_interface_exits_78, .init = s_setup, .fini = s_teardown)
{
    char keys[700], ep[700];
    (void) snprintf(keys, sizeof keys, "%s/keys", s_dir);
    cr_assert_eq(cmn_bus_keys_create(keys, false), CMN_OK);
    (void) snprintf(ep, sizeof ep, "ipc://%s/gw.sock", s_dir);
    const char *const args[] = {"--keys-dir", keys,         "--endpoint", ep,
                                "--iface",    "lo,nosuch0", NULL};
    cr_assert_eq(s_run_daemon("gw-iface", "obt-gateway", args), 78);
    s_expect_log("gw-iface", "no interface \"nosuch0\"");
}

/* Runs obtctl with the suite's endpoints, keys_dir as given; stdout+stderr in *out. */
static int
s_ctl(const char *keys_dir, const char *args, char **ret_out)
{
    char cmd[4096];
    (void) snprintf(cmd, sizeof cmd,
                    "%s/obtctl --keys-dir %s --gateway %s --dots %s --cms %s --ams %s %s 2>&1",
                    OBT_BIN_DIR, keys_dir, s_suite.ep_gw, s_suite.ep_dots, s_suite.ep_cms,
                    s_suite.ep_ams, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, len = 0, n;
    char *out = calloc(1, cap);
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
    }
    int status = pclose(p);
    *ret_out = out;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
s_expect_ctl(const char *args, int code, const char *msg)
{
    char *out = NULL;
    int rc = s_ctl(s_suite.keys, args, &out);
    cr_expect_eq(rc, code, "obtctl %s: exit %d, want %d:\n%s", args, rc, code, out);
    cr_expect_not_null(strstr(out, msg), "obtctl %s: no \"%s\" in:\n%s", args, msg, out);
    free(out);
}

Test(operator, a_refused_key_is_logged_and_explained, .init = s_setup_suite, .fini = s_teardown)
{
    /* Another key set that knows DOTS's public key: the handshake reaches ZAP. */
    char other[700], cp[2048];
    (void) snprintf(other, sizeof other, "%s/other-keys", s_dir);
    cr_assert_eq(cmn_bus_keys_create(other, false), CMN_OK);
    (void) snprintf(cp, sizeof cp, "cp %s/public/dots.cert %s/public/dots.cert", s_suite.keys,
                    other);
    cr_assert_eq(system(cp), 0);
    char *out = NULL;
    int rc = s_ctl(other, "--timeout-ms 1500 devices", &out);
    cr_expect_eq(rc, 4, "exit %d:\n%s", rc, out);
    cr_expect_not_null(strstr(out, "not authorised or not running"), "%s", out);
    free(out);
    cr_expect_eq(obt_proc_wait_log(&s_suite.dots, "SEC-ZAP-DENIED", 3000), 0,
                 "DOTS did not log the refused key");
}

Test(operator, exit_codes_against_the_daemons, .init = s_setup_suite, .fini = s_teardown)
{
    static const char *const unknown = "0685b960-736f-46f7-bec0-9e6cbd61adc1";
    static const char *const cmds[] = {"show", "approve", "onboard", "reset", "repair"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[200];
        (void) snprintf(args, sizeof args, "%s %s", cmds[i], unknown);
        s_expect_ctl(args, 3, unknown); /* "... unknown device", "no device ..." */
    }
    s_expect_ctl("devices --state BOGUS", 2, "RFNOP");
    s_expect_ctl("devices --state rfnop", 0, "UUID");
    s_expect_ctl("devices --json", 0, "[");
    s_expect_ctl("health --timeout-ms 2000", 0, "dots");
}

Test(operator, onboarding_an_rfnop_device_again_is_ok, .init = s_setup_suite, .fini = s_teardown)
{
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 1, NULL), 0);
    static const char *const disc[] = {"discover", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, disc, NULL), 0);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, approve, NULL), 0);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard, NULL), 0);
    char *out = NULL;
    int rc = s_ctl(s_suite.keys, "devices --state RFNOP --json", &out);
    cr_assert_eq(rc, 0, "%s", out);
    char uuid[40] = "";
    const char *at = strstr(out, "\"uuid\":\"");
    cr_assert_not_null(at, "no RFNOP device:\n%s", out);
    (void) snprintf(uuid, sizeof uuid, "%.36s", at + 8);
    free(out);
    char args[200];
    (void) snprintf(args, sizeof args, "onboard %s", uuid);
    s_expect_ctl(args, 0, "already in RFNOP");
    /* and the table shows its preferred (secure) endpoint */
    s_expect_ctl("devices", 0, "coaps://");
    /* the counts per state agree with the table: one record, in RFNOP */
    s_expect_ctl("devices --count", 0, "total                1");
    s_expect_ctl("--json devices --count", 0, "{\"RFNOP\":1}");
    s_expect_ctl("--json devices --count --state FAILED", 0, "{}");
    s_expect_ctl("devices --count --state BOGUS", 2, "RFNOP");
}
