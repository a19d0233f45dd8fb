/* sim_sync.c — the devices' state files kept current: batches and the --dump flush */
#include "sim_sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_log.h"
#include "cmn_time.h"
#include "sim_store.h"

#define PID_PREFIX ".devsim-"
#define PID_FMT    "%s/.devsim-%d.pid"
#define ACK_FMT    "%s/.devsim-%d.flushed"
#define PATH_LEN   600
#define POLL_MS    5
#define SIM_COMM   "ocf-devsim\n"
#define COUNTER_SZ 32

struct sim_sync {
    char pid_path[PATH_LEN]; /* dir/.devsim-FIRST.pid */
    char ack_path[PATH_LEN]; /* dir/.devsim-FIRST.flushed */
    int flush_ms;            /* batch period, 0 = none */
    uint64_t next_ms;        /* monotonic time of the next batch */
    unsigned long acks;      /* flushes done for --dump */
};

/* Writes text to path through a temporary file and a rename (0600). */
static cmn_err_t
s_write_file(const char *path, const char *text)
{
    char tmp[PATH_LEN + 8];
    (void) snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return cmn_err_from_errno(errno);
    }
    size_t len = strlen(text);
    cmn_err_t err = write(fd, text, len) == (ssize_t) len ? CMN_OK : cmn_err_from_errno(errno);
    (void) close(fd);
    if (err == CMN_OK && rename(tmp, path) != 0) {
        err = cmn_err_from_errno(errno);
    }
    return err;
}

/* A small decimal file (pid, counter); -1 when missing or malformed. */
static long
s_read_number(const char *path)
{
    char buf[COUNTER_SZ] = "";
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) {
        (void) fclose(fp);
    }
    buf[n] = '\0';
    char *end = NULL;
    long v = strtol(buf, &end, 10);
    return n > 0 && end != buf && v >= 0 ? v : -1;
}

sim_sync_t *
sim_sync_new(const char *dir, int first_index, int flush_ms)
{
    sim_sync_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->flush_ms = flush_ms;
    self->next_ms = cmn_time_mono_ms() + (uint64_t) flush_ms;
    int a = snprintf(self->pid_path, sizeof self->pid_path, PID_FMT, dir, first_index);
    int b = snprintf(self->ack_path, sizeof self->ack_path, ACK_FMT, dir, first_index);
    char pid[COUNTER_SZ];
    (void) snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
    if (a < 0 || (size_t) a >= sizeof self->pid_path || b < 0 ||
        (size_t) b >= sizeof self->ack_path || s_write_file(self->pid_path, pid) != CMN_OK) {
        free(self);
        return NULL;
    }
    (void) unlink(self->ack_path); /* a previous run's counter */
    return self;
}

void
sim_sync_destroy(sim_sync_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    sim_sync_t *self = *self_p;
    (void) unlink(self->pid_path);
    (void) unlink(self->ack_path);
    free(self);
    *self_p = NULL;
}

int
sim_sync_timeout(const sim_sync_t *self, uint64_t now)
{
    if (self == NULL || self->flush_ms == 0) {
        return -1;
    }
    return now >= self->next_ms ? 0 : (int) (self->next_ms - now);
}

void
sim_sync_tick(sim_sync_t *self, sim_device_t *devs, size_t n, uint64_t now)
{
    if (self == NULL || self->flush_ms == 0 || now < self->next_ms) {
        return;
    }
    (void) sim_store_flush(devs, n);
    self->next_ms = now + (uint64_t) self->flush_ms;
}

void
sim_sync_on_request(sim_sync_t *self, sim_device_t *devs, size_t n)
{
    (void) sim_store_flush(devs, n);
    char text[COUNTER_SZ];
    (void) snprintf(text, sizeof text, "%lu\n", ++self->acks);
    cmn_err_t err = s_write_file(self->ack_path, text);
    if (err != CMN_OK) {
        cmn_log_err("SIM-SYNC", "cannot acknowledge a flush: %s", cmn_strerror(err));
    }
}

/* True if pid is a running ocf-devsim (a stale pid file may name another process). */
static bool
s_is_devsim(long pid)
{
    char path[64], comm[32] = "";
    (void) snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    FILE *fp = fopen(path, "r");
    size_t n = fp ? fread(comm, 1, sizeof comm - 1, fp) : 0;
    if (fp) {
        (void) fclose(fp);
    }
    comm[n] = '\0';
    return strcmp(comm, SIM_COMM) == 0;
}

/* Asks the simulator of one pid file to flush and waits for its acknowledgement. */
static cmn_err_t
s_request_one(const char *dir, int first, uint64_t deadline)
{
    char pid_path[PATH_LEN], ack_path[PATH_LEN];
    (void) snprintf(pid_path, sizeof pid_path, PID_FMT, dir, first);
    (void) snprintf(ack_path, sizeof ack_path, ACK_FMT, dir, first);
    long pid = s_read_number(pid_path);
    if (pid <= 0 || pid == (long) getpid() || !s_is_devsim(pid)) {
        return CMN_OK; /* gone (kill -9): nothing to flush */
    }
    long before = s_read_number(ack_path);
    if (kill((pid_t) pid, SIGUSR1) != 0) {
        return CMN_OK;
    }
    while (s_read_number(ack_path) <= before) {
        if (kill((pid_t) pid, 0) != 0) {
            return CMN_OK;
        }
        if (cmn_time_mono_ms() >= deadline) {
            return CMN_ETIMEDOUT;
        }
        (void) poll(NULL, 0, POLL_MS);
    }
    return CMN_OK;
}

cmn_err_t
sim_sync_request(const char *dir, int timeout_ms)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return CMN_OK; /* nothing there: the dump says so */
    }
    uint64_t deadline = cmn_time_mono_ms() + (uint64_t) timeout_ms;
    cmn_err_t err = CMN_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *num = e->d_name + strlen(PID_PREFIX);
        char *end = NULL;
        long first = strncmp(e->d_name, PID_PREFIX, strlen(PID_PREFIX)) == 0 ? strtol(num, &end, 10)
                                                                             : -1;
        if (first < 0 || first > INT_MAX || end == num || strcmp(end, ".pid") != 0) {
            continue;
        }
        cmn_err_t one = s_request_one(dir, (int) first, deadline);
        err = err == CMN_OK ? one : err;
    }
    (void) closedir(d);
    return err;
}
