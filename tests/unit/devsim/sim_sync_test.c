/* sim_sync_test.c — devsim state in batches: what each store mode writes, and the flush a
 * --dump asks a running simulator for (SIGUSR1 handshake) */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmn_time.h"
#include "sim_store.h"
#include "sim_sync.h"

static char s_dir[] = "/tmp/sim_sync_XXXXXX";
static sim_device_t s_devs[2];

static void
s_setup(void)
{
    cr_assert_not_null(mkdtemp(s_dir));
    for (size_t i = 0; i < 2; i++) {
        memset(&s_devs[i], 0, sizeof s_devs[i]);
        s_devs[i].idx = (int) i;
        s_devs[i].n_oxms = 1;
        (void) snprintf(s_devs[i].dir, sizeof s_devs[i].dir, "%s/dev-%04zu", s_dir, i);
        cr_assert_eq(mkdir(s_devs[i].dir, 0700), 0);
        cr_assert_eq(sim_device_factory_reset(&s_devs[i]), CMN_OK);
    }
}

/* Removes path and, for a folder, everything below it. */
static void
s_rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            char sub[700];
            (void) snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            s_rm_tree(sub);
        }
    }
    if (d) {
        (void) closedir(d);
    }
    (void) remove(path);
}

static void
s_teardown(void)
{
    for (size_t i = 0; i < 2; i++) {
        sim_device_free(&s_devs[i]);
    }
    s_rm_tree(s_dir);
}

static bool
s_has_state(const sim_device_t *dev)
{
    char path[600];
    (void) snprintf(path, sizeof path, "%s/state.cbor", dev->dir);
    struct stat st;
    return stat(path, &st) == 0 && (st.st_mode & 0777) == 0600;
}

TestSuite(sim_sync, .init = s_setup, .fini = s_teardown, .timeout = 30);

Test(sim_sync, a_batched_change_is_written_by_the_next_flush_only)
{
    cr_assert_eq(sim_store_changed(&s_devs[0], SIM_STORE_BATCH), CMN_OK);
    cr_assert(s_devs[0].is_dirty);
    cr_assert_not(s_has_state(&s_devs[0]), "a batched change was written at once");
    cr_assert_eq(sim_store_flush(s_devs, 2), 0);
    cr_assert(s_has_state(&s_devs[0]));
    cr_assert_not(s_devs[0].is_dirty);
    cr_assert_not(s_has_state(&s_devs[1]), "a clean device was written");
}

Test(sim_sync, write_and_fsync_modes_write_at_once)
{
    cr_assert_eq(sim_store_changed(&s_devs[0], SIM_STORE_WRITE), CMN_OK);
    cr_assert_eq(sim_store_changed(&s_devs[1], SIM_STORE_FSYNC), CMN_OK);
    cr_assert(s_has_state(&s_devs[0]) && s_has_state(&s_devs[1]));
    cr_assert_not(s_devs[0].is_dirty || s_devs[1].is_dirty);
}

Test(sim_sync, a_batch_is_due_every_flush_ms)
{
    sim_sync_t *sync = sim_sync_new(s_dir, 0, 200);
    cr_assert_not_null(sync);
    uint64_t now = cmn_time_mono_ms();
    int timeout = sim_sync_timeout(sync, now);
    cr_assert(timeout > 0 && timeout <= 200, "timeout %d", timeout);
    cr_assert_eq(sim_store_changed(&s_devs[1], SIM_STORE_BATCH), CMN_OK);
    sim_sync_tick(sync, s_devs, 2, now);
    cr_assert_not(s_has_state(&s_devs[1]), "written before the batch was due");
    sim_sync_tick(sync, s_devs, 2, now + 200);
    cr_assert(s_has_state(&s_devs[1]));
    sim_sync_destroy(&sync);
    cr_assert_null(sync);
    sim_sync_t *none = sim_sync_new(s_dir, 0, 0);
    cr_assert_eq(sim_sync_timeout(none, now), -1, "flush-ms 0 has no batches");
    sim_sync_destroy(&none);
}

/* A child standing in for a running simulator: named ocf-devsim, SIGUSR1 read through
 * a signalfd, device 0 dirty; it answers one flush request, then exits. */
static void
s_child_simulator(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    (void) sigprocmask(SIG_BLOCK, &mask, NULL);
    int fd = signalfd(-1, &mask, 0);
    (void) prctl(PR_SET_NAME, "ocf-devsim", 0, 0, 0);
    sim_sync_t *sync = sim_sync_new(s_dir, 0, 60000);
    (void) sim_store_changed(&s_devs[0], SIM_STORE_BATCH);
    struct signalfd_siginfo si;
    if (fd < 0 || sync == NULL || read(fd, &si, sizeof si) != (ssize_t) sizeof si) {
        _exit(1);
    }
    sim_sync_on_request(sync, s_devs, 2);
    (void) pause(); /* the parent checks the files, then kills it */
    _exit(0);
}

Test(sim_sync, a_dump_makes_a_running_simulator_write_its_dirty_devices)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        s_child_simulator();
    }
    char pid_path[600];
    (void) snprintf(pid_path, sizeof pid_path, "%s/.devsim-0.pid", s_dir);
    struct stat st;
    for (int i = 0; i < 200 && stat(pid_path, &st) != 0; i++) {
        (void) usleep(10 * 1000); /* the child writes its pid file */
    }
    cr_assert_eq(stat(pid_path, &st), 0, "no pid file");
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_not(s_has_state(&s_devs[0]), "written before the request (flush-ms 60000)");
    cr_assert_eq(sim_sync_request(s_dir, 3000), CMN_OK);
    cr_assert(s_has_state(&s_devs[0]), "the dump's request did not flush the dirty device");
    (void) kill(pid, SIGKILL);
    int status = 0;
    (void) waitpid(pid, &status, 0);
    /* a stale pid file (kill -9) is skipped, not waited for */
    cr_assert_eq(sim_sync_request(s_dir, 3000), CMN_OK);
}
