/* sim_config_test.c — ocf-devsim refuses what it cannot run, before it makes any device:
 * exit 78 (EX_CONFIG) with the reason on stderr */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "obt_support.h"

static char *s_dir;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("sim-config");
    cr_assert_not_null(s_dir);
}

static void
s_teardown(void)
{
    obt_rmrf(s_dir);
    free(s_dir);
    s_dir = NULL;
}

TestSuite(sim_config, .init = s_setup, .fini = s_teardown, .timeout = 60);

/* Runs ocf-devsim --dir s_dir/devices with args (one string); its exit code, its
 * stderr and stdout in out (cap bytes). */
static int
s_devsim(const char *args, char *out, size_t cap)
{
    char cmd[1200];
    (void) snprintf(cmd, sizeof cmd, "%s/ocf-devsim --dir %s/devices %s 2>&1", obt_bin_dir(), s_dir,
                    args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    cr_log_info("%s -> %s", cmd, out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
s_assert_no_device_made(void)
{
    char path[700];
    (void) snprintf(path, sizeof path, "%s/devices/dev-0000", s_dir);
    cr_assert_neq(access(path, F_OK), 0, "a device was made before the refusal");
}

Test(sim_config, first_index_with_bridge_vods_exits_78)
{
    char out[2048];
    cr_assert_eq(s_devsim("--count 2 --first-index 4 --bridge-vods 2", out, sizeof out), 78);
    cr_assert_not_null(strstr(out, "--bridge-vods needs --first-index 0"), "%s", out);
    s_assert_no_device_made();
}

Test(sim_config, out_of_range_values_exit_78)
{
    char out[2048];
    cr_assert_eq(s_devsim("--flush-ms -1", out, sizeof out), 78);
    cr_assert_not_null(strstr(out, "--flush-ms"), "%s", out);
    cr_assert_eq(s_devsim("--first-index 99999 --count 2", out, sizeof out), 78);
    cr_assert_not_null(strstr(out, "indexes beyond"), "%s", out);
    s_assert_no_device_made();
}

Test(sim_config, more_devices_than_descriptors_exit_78_with_the_numbers)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit up = {rl.rlim_cur, rl.rlim_max + 1};
    if (rl.rlim_max != RLIM_INFINITY && setrlimit(RLIMIT_NOFILE, &up) == 0) {
        cr_skip_test("this process may raise its hard descriptor limit (CAP_SYS_RESOURCE): "
                     "ocf-devsim would too, and start");
    }
    /* this test's process (Criterion forks one per test) and its children: 512 at most */
    struct rlimit low = {512, 512};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    char out[2048];
    cr_assert_eq(s_devsim("--count 1000", out, sizeof out), 78);
    cr_assert_not_null(strstr(out, "1000 devices need about 6256 descriptors; this process may "
                                   "open 512 (ulimit -n)"),
                       "%s", out);
    s_assert_no_device_made();
}
