/* bench_test.c — bench_onboard stops every process it started on every exit path: a
 * simulator that does not start, the second of two simulator processes that does not
 * start, and a SIGTERM in the middle of a run */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "obt_support.h"

static char *s_dir;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("bench-test");
    cr_assert_not_null(s_dir);
}

static void
s_teardown(void)
{
    obt_rmrf(s_dir);
    free(s_dir);
    s_dir = NULL;
}

TestSuite(bench, .init = s_setup, .fini = s_teardown, .timeout = 120);

/* Processes (not zombies: those have an empty cmdline) whose command line names dir. */
static int
s_procs_naming(const char *dir)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') {
            continue;
        }
        char path[300], buf[8192];
        (void) snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *fp = fopen(path, "r");
        if (fp == NULL) {
            continue;
        }
        size_t len = fread(buf, 1, sizeof buf - 1, fp);
        (void) fclose(fp);
        for (size_t i = 0; i < len; i++) {
            buf[i] = buf[i] ? buf[i] : ' ';
        }
        buf[len] = '\0';
        if (strstr(buf, dir)) {
            cr_log_info("left behind: pid %s: %s", e->d_name, buf);
            n++;
        }
    }
    (void) closedir(d);
    return n;
}

/* Waits up to 5 s for the processes naming dir to be gone; returns how many are left. */
static int
s_wait_gone(const char *dir)
{
    int left = s_procs_naming(dir);
    for (int i = 0; i < 50 && left > 0; i++) {
        (void) usleep(100 * 1000); /* reparented children are reaped by init */
        left = s_procs_naming(dir);
    }
    return left;
}

/* Runs bench_onboard to its end; its output goes to the test's log, and to *ret_out
 * (the caller frees it) unless ret_out is NULL. Its exit code. */
static int
s_run_bench(const char *const *args, char **ret_out)
{
    char *out = NULL;
    int rc = obt_run("bench_onboard", args, &out);
    cr_log_info("%s", out ? out : "");
    if (ret_out) {
        *ret_out = out;
    } else {
        free(out);
    }
    return rc;
}

Test(bench, a_simulator_that_does_not_start_leaves_no_daemon_running)
{
    char run[600];
    (void) snprintf(run, sizeof run, "%s/run", s_dir);
    const char *args[] = {"--count", "3", "--dir", run, "--sim-extra", "--no-such-flag", NULL};
    int rc = s_run_bench(args, NULL);
    cr_assert_eq(rc, 1, "the bench must fail when the simulator does not start (rc %d)", rc);
    /* the daemons did start: their logs are there */
    char log[700];
    (void) snprintf(log, sizeof log, "%s/dots.log", run);
    cr_assert_eq(access(log, F_OK), 0, "DOTS never started: the test proves nothing");
    cr_assert_eq(s_wait_gone(run), 0, "processes of the failed run are still running");
}

/* True if the file at path has a line containing token. */
static bool
s_file_has(const char *path, const char *token)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    bool is_found = false;
    while (fp && !is_found && fgets(line, sizeof line, fp)) {
        is_found = strstr(line, token) != NULL;
    }
    if (fp) {
        (void) fclose(fp);
    }
    return is_found;
}

Test(bench, a_second_simulator_that_does_not_start_leaves_no_process_running)
{
    /* --procs 2 with 4 devices: the first process holds devices 0-1 and starts; the
     * second (2-3) cannot write the state of device 2, whose folder is a file */
    char run[600], devices[700], blocker[800];
    (void) snprintf(run, sizeof run, "%s/run", s_dir);
    (void) snprintf(devices, sizeof devices, "%s/devices", run);
    (void) snprintf(blocker, sizeof blocker, "%s/dev-0002", devices);
    cr_assert_eq(mkdir(run, 0700), 0);
    cr_assert_eq(mkdir(devices, 0700), 0);
    int fd = open(blocker, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    (void) close(fd);
    const char *args[] = {"--count", "4", "--procs", "2", "--dir", run, NULL};
    int rc = s_run_bench(args, NULL);
    cr_assert_eq(rc, 1, "the bench must fail when a simulator does not start (rc %d)", rc);
    /* the first simulator did start: the test covers a process started before the failure */
    char log[700];
    (void) snprintf(log, sizeof log, "%s/devsim.log", run);
    cr_assert(s_file_has(log, " READY "), "the first simulator never started: the test proves "
                                          "nothing");
    cr_assert_eq(s_wait_gone(run), 0, "processes of the failed run are still running");
}

Test(bench, three_simulator_processes_hold_the_devices_of_one_run)
{
    char run[600];
    (void) snprintf(run, sizeof run, "%s/run", s_dir);
    const char *args[] = {"--count", "6", "--procs", "3", "--dir", run, NULL};
    char *out = NULL;
    int rc = s_run_bench(args, &out);
    cr_assert_eq(rc, 0, "the run failed (rc %d)", rc);
    cr_assert_not_null(strstr(out, "simulators: 3 ocf-devsim process(es), up to 2 devices each"),
                       "%s", out);
    cr_assert_not_null(strstr(out, "6 requested, 6 RFNOP, 0 failed"), "%s", out);
    free(out);
    cr_assert_eq(s_wait_gone(run), 0, "processes of the run are still running");
}

Test(bench, a_sigterm_in_the_middle_of_a_run_stops_every_process)
{
    char run[600];
    (void) snprintf(run, sizeof run, "%s/run", s_dir);
    const char *args[] = {"--count", "20", "--dir", run, NULL};
    obt_proc_t bench;
    cr_assert_eq(obt_proc_start(&bench, s_dir, "bench", "bench_onboard", args), 0);
    /* the suite and the simulator run once discovery is done */
    int rc = obt_proc_wait_log(&bench, "discovery: ", 60000);
    if (rc != 0) {
        obt_proc_dump(&bench);
    }
    cr_assert_eq(rc, 0, "the bench never reached its run");
    cr_assert_gt(s_procs_naming(run), 0, "nothing runs: the test proves nothing");
    cr_assert_eq(kill(bench.pid, SIGTERM), 0);
    int status = 0;
    cr_assert_eq(waitpid(bench.pid, &status, 0), bench.pid);
    bench.pid = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM,
              "status %d (exited %d, code %d, signal %d)", status, WIFEXITED(status),
              WEXITSTATUS(status), WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(s_wait_gone(run), 0, "processes of the stopped run are still running");
}
