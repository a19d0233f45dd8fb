/* bench_onboard.c — onboards N simulated devices through the whole suite and prints
 * devices/s, per-device latency percentiles, CPU seconds and peak RSS per process.
 * A program that prints figures, not a test. Run it inside scripts/netns.sh. */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_time.h"
#include "obt_checks.h"
#include "obt_json.h"

static double
s_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    (void) snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    (void) fclose(fp);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* Fields after the command: state(3) ... utime(14) stime(15). */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return -1;
    }
    return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

static long
s_hwm_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    (void) snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *fp = fopen(path, "r");
    while (fp && fgets(line, sizeof line, fp)) {
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) {
            break;
        }
    }
    if (fp) {
        (void) fclose(fp);
    }
    return kib;
}

/* --steps: with one device in flight, DOTS's job lines are sequential, so the time
 * between two consecutive "DOTS-JOB dev=... FROM --EV--> TO" lines is the time spent
 * in FROM (its request to the gateway, device, CMS or AMS and the reply). Prints the
 * mean per step over all devices. */
static void
s_print_steps(const char *log_path, size_t devices)
{
    FILE *fp = fopen(log_path, "r");
    char line[512], from[40], prev_to[40] = "";
    char names[32][40];
    double total[32] = {0};
    size_t n_names = 0;
    double prev_ms = -1;
    while (fp && fgets(line, sizeof line, fp)) {
        int hh, mm;
        double sec;
        const char *m = strstr(line, " DOTS-JOB dev=");
        if (m == NULL || sscanf(line + 11, "%d:%d:%lfZ", &hh, &mm, &sec) != 3) {
            continue;
        }
        const char *arrow = strstr(m, " --");
        const char *to = arrow ? strstr(arrow, "--> ") : NULL;
        if (arrow == NULL || to == NULL) {
            continue;
        }
        double ms = ((hh * 60.0 + mm) * 60.0 + sec) * 1000.0;
        const char *sp = strchr(m + 14, ' ');
        (void) snprintf(from, sizeof from, "%.*s", sp ? (int) (arrow - sp - 1) : 0,
                        sp ? sp + 1 : "");
        if (prev_ms >= 0 && strcmp(from, prev_to) == 0) {
            size_t k = 0;
            while (k < n_names && strcmp(names[k], from) != 0) {
                k++;
            }
            if (k == n_names && n_names < 32) {
                (void) snprintf(names[n_names++], sizeof names[0], "%s", from);
            }
            if (k < 32) {
                total[k] += ms - prev_ms;
            }
        }
        (void) sscanf(to + 4, "%39s", prev_to);
        prev_ms = ms;
    }
    if (fp) {
        (void) fclose(fp);
    }
    double sum = 0;
    printf("time per step, mean over %zu devices (ms), from DOTS's job log:\n", devices);
    for (size_t k = 0; k < n_names; k++) {
        printf("  %-20s %7.2f\n", names[k], devices ? total[k] / (double) devices : 0.0);
        sum += total[k];
    }
    printf("  %-20s %7.2f\n", "sum", devices ? sum / (double) devices : 0.0);
}

static int
s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_pct(const double *v, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    size_t i = (size_t) (p / 100.0 * (double) (n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

int
main(int argc, char **argv)
{
    int count = 100, in_flight = 64;
    const char *durable = "--durable";
    bool steps = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--in-flight") == 0 && i + 1 < argc) {
            in_flight = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--no-durable") == 0) {
            durable = "--no-durable"; /* LMDB without fsync: shows what the syncs cost */
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = true; /* per-step times: needs one device in flight */
            in_flight = 1;
        } else {
            count = -1;
            break;
        }
    }
    if (count <= 0 || in_flight <= 0) {
        fprintf(stderr,
                "usage: bench_onboard [--count N] [--in-flight M] [--no-durable] [--steps]\n");
        return 2;
    }
    char inflight[16];
    (void) snprintf(inflight, sizeof inflight, "%d", in_flight);
    const char *dots_args[] = {
            durable,       "--max-in-flight",         inflight, "--step-timeout-ms", "20000",
            "--log-level", steps ? "info" : "notice", NULL};
    char *dir = obt_tmpdir("bench");
    obt_suite_t s;
    obt_proc_t sim;
    if (dir == NULL || obt_suite_start(&s, dir, dots_args) != 0 ||
        obt_devsim_start(&sim, dir, count, NULL) != 0) {
        fprintf(stderr, "bench: cannot start the suite (run inside scripts/netns.sh)\n");
        return 1;
    }
    static const char *const discover[] = {"discover", "--window-ms", "2000", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    static const char *const list[] = {"--timeout-ms", "30000", "--json", "devices", NULL};
    char *out = NULL;
    uint64_t d0 = cmn_time_wall_ms();
    (void) obt_ctl(&s, discover, &out);
    free(out);
    uint64_t d1 = cmn_time_wall_ms();
    char **objs = calloc((size_t) count + 8, sizeof *objs);
    size_t n = 0, done = 0, failed = 0;
    out = NULL;
    if (obt_ctl(&s, list, &out) == 0 && out) {
        n = obt_json_objects(out, objs, (size_t) count + 8);
    }
    free(out);
    printf("discovery: %zu of %d devices in %.2f s (one obtctl discover, window 2 s)\n", n, count,
           (double) (d1 - d0) / 1000.0);
    struct {
        const char *name;
        obt_proc_t *p;
    } procs[] = {{"obt-gateway", &s.gw},
                 {"obt-dots", &s.dots},
                 {"obt-cms", &s.cms},
                 {"obt-ams", &s.ams},
                 {"ocf-devsim", &sim}};
    size_t n_procs = sizeof procs / sizeof procs[0];
    double cpu0[5];
    (void) obt_ctl(&s, approve, NULL);
    for (size_t i = 0; i < n_procs; i++) {
        cpu0[i] = s_cpu_s(procs[i].p->pid); /* start-up and discovery excluded below */
    }
    uint64_t t0 = cmn_time_wall_ms();
    (void) obt_ctl(&s, onboard, NULL);
    /* Poll the job table until every discovered device has ended (RFNOP or FAILED),
     * or nothing has changed for 60 s. */
    size_t expected = n, ended = 0;
    uint64_t progress_ms = cmn_time_wall_ms();
    while (expected > 0) {
        out = NULL;
        if (obt_ctl(&s, list, &out) == 0 && out) {
            for (size_t i = 0; i < n; i++) {
                free(objs[i]);
            }
            n = obt_json_objects(out, objs, (size_t) count + 8);
            done = failed = 0;
            for (size_t i = 0; i < n; i++) {
                done += strstr(objs[i], "\"state\":\"RFNOP\"") != NULL;
                failed += strstr(objs[i], "\"state\":\"FAILED\"") != NULL;
            }
        }
        free(out);
        if (done + failed != ended) {
            ended = done + failed;
            progress_ms = cmn_time_wall_ms();
        }
        if (ended >= expected || cmn_time_wall_ms() - progress_ms > 60000) {
            break;
        }
        (void) poll(NULL, 0, 250);
    }
    double *lat = calloc(n + 1, sizeof *lat);
    size_t nl = 0;
    uint64_t last = t0, first_start = UINT64_MAX;
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p1 = strstr(objs[i], "\"started_ms\":");
        const char *p2 = strstr(objs[i], "\"finished_ms\":");
        unsigned long long a = 0, b = 0;
        if (p1 && p2 && sscanf(p1, "\"started_ms\":%llu", &a) == 1 &&
            sscanf(p2, "\"finished_ms\":%llu", &b) == 1 && b >= a && b > 0) {
            lat[nl++] = (double) (b - a);
            last = b > last ? b : last;
            first_start = a < first_start ? a : first_start;
        }
        char err[400];
        if (strstr(objs[i], "\"state\":\"FAILED\"") &&
            obt_json_str(objs[i], "error", err, sizeof err) && shown++ < 10) {
            printf("failed: %s\n", err);
        }
        free(objs[i]);
    }
    qsort(lat, nl, sizeof *lat, s_cmp);
    double secs = (double) (last - t0) / 1000.0;
    printf("devices: %d requested, %zu RFNOP, %zu failed, in-flight bound %d, DOTS %s\n", count,
           done, failed, in_flight, durable + 2);
    printf("throughput: %.1f devices/s (%.2f s from the onboard command to the last RFNOP)\n",
           secs > 0 ? (double) done / secs : 0.0, secs);
    printf("latency per device RFOTM->RFNOP (ms): p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n",
           s_pct(lat, nl, 50), s_pct(lat, nl, 95), s_pct(lat, nl, 99), s_pct(lat, nl, 100));
    printf("per process: CPU seconds while onboarding (CPU ms per RFNOP device), peak RSS\n");
    for (size_t i = 0; i < n_procs; i++) {
        double cpu = s_cpu_s(procs[i].p->pid) - cpu0[i];
        printf("%-12s cpu %6.2f s (%5.2f ms/device)   peak RSS %7.1f MiB\n", procs[i].name, cpu,
               done ? cpu * 1000.0 / (double) done : 0.0,
               (double) s_hwm_kib(procs[i].p->pid) / 1024.0);
    }
    if (steps) {
        s_print_steps(s.dots.log, done);
    }
    free(lat);
    free(objs);
    (void) obt_proc_stop(&sim);
    obt_suite_stop(&s);
    obt_rmrf(dir);
    free(dir);
    return done == (size_t) count ? 0 : 1; /* every requested device RFNOP */
}
