/* bench_onboard.c — onboards N simulated devices through the whole suite and prints
 * devices/s, per-device latency percentiles, CPU seconds and peak RSS per process.
 * A program that prints figures, not a test. Run it inside scripts/netns.sh. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmn_bus.h"
#include "cmn_time.h"
#include "obt/dots.pb-c.h"
#include "obt_checks.h"
#include "obt_json.h"

/* One row per OTM: what the simulator offers, what DOTS's policy allows, whether the
 * bench has to give each device's PIN, and whether DOTS needs the simulator's factory
 * CA as a manufacturer trust anchor. */
typedef struct {
    const char *name;        /* --otm */
    const char *sim_oxms;    /* ocf-devsim --oxms */
    const char *dots_policy; /* obt-dots --otm-policy */
    bool needs_pin;          /* the job waits in WAIT_PIN for the PIN the device shows */
    bool needs_trust;        /* obtctl mfg-trust add DIR/devices/factory-ca.pem first */
} s_otm_t;

static const s_otm_t s_otms[] = {
        {"jw", "0", "jw", false, false},
        {"rdp", "1", "rdp", true, false},
        {"mfg", "2", "mfg", false, true},
};

static int
s_cmp_d(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile of v (sorted here). */
static double
s_pct_sorted(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, s_cmp_d);
    size_t i = (size_t) (p / 100.0 * (double) (n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

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

/* One device in the job log: the state it entered last, and when. */
typedef struct {
    char uuid[40];
    char state[40];
    double ms;
} s_step_dev_t;

/* The device a job line belongs to. A device's uuid changes in SET_DEVICEUUID: the
 * first line under the new uuid leaves that state, so it continues the device whose
 * last line entered it. Returns NULL when the table is full. */
static s_step_dev_t *
s_step_dev(s_step_dev_t *devs, size_t *n, size_t cap, const char *uuid, const char *from)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(devs[i].uuid, uuid) == 0) {
            return &devs[i];
        }
    }
    for (size_t i = 0; strcmp(from, "SET_DEVICEUUID") == 0 && i < *n; i++) {
        if (strcmp(devs[i].state, from) == 0) {
            (void) snprintf(devs[i].uuid, sizeof devs[i].uuid, "%s", uuid);
            return &devs[i];
        }
    }
    if (*n == cap) {
        return NULL;
    }
    s_step_dev_t *d = &devs[(*n)++];
    (void) snprintf(d->uuid, sizeof d->uuid, "%s", uuid);
    d->state[0] = '\0';
    return d;
}

/* --steps: the time between two consecutive "DOTS-JOB dev=... FROM --EV--> TO" lines
 * of one device is the time it spent in FROM (its request to the gateway, device,
 * CMS or AMS and the reply; WAIT_PIN: until the PIN came). Prints the mean per step
 * over all devices. One device in flight, so that a step is timed alone; with RDP a
 * job gives its slot back in WAIT_PIN, so the next device's first steps overlap. */
static void
s_print_steps(const char *log_path, size_t devices)
{
    FILE *fp = fopen(log_path, "r");
    char line[512], from[40], uuid[40];
    char names[32][40];
    double total[32] = {0};
    size_t n_names = 0, n_devs = 0, cap = devices + 8;
    s_step_dev_t *devs = calloc(cap, sizeof *devs);
    while (fp && devs && fgets(line, sizeof line, fp)) {
        int hh, mm;
        double sec;
        const char *m = strstr(line, " DOTS-JOB dev=");
        if (m == NULL || sscanf(line + 11, "%d:%d:%lfZ", &hh, &mm, &sec) != 3) {
            continue;
        }
        const char *arrow = strstr(m, " --");
        const char *to = arrow ? strstr(arrow, "--> ") : NULL;
        const char *sp = strchr(m + 14, ' ');
        if (arrow == NULL || to == NULL || sp == NULL || sp > arrow) {
            continue;
        }
        double ms = ((hh * 60.0 + mm) * 60.0 + sec) * 1000.0;
        (void) snprintf(uuid, sizeof uuid, "%.*s", (int) (sp - m - 14), m + 14);
        (void) snprintf(from, sizeof from, "%.*s", (int) (arrow - sp - 1), sp + 1);
        s_step_dev_t *d = s_step_dev(devs, &n_devs, cap, uuid, from);
        if (d == NULL) {
            continue;
        }
        /* Before QUEUED --START--> a device waits for approval or a slot, not in flight. */
        bool is_in_flight = strcmp(from, "APPROVED") != 0 && strcmp(from, "QUEUED") != 0;
        if (is_in_flight && strcmp(from, d->state) == 0) {
            size_t k = 0;
            while (k < n_names && strcmp(names[k], from) != 0) {
                k++;
            }
            if (k == n_names && n_names < 32) {
                (void) snprintf(names[n_names++], sizeof names[0], "%s", from);
            }
            if (k < 32) {
                total[k] += ms - d->ms;
            }
        }
        (void) sscanf(to + 4, "%39s", d->state);
        d->ms = ms;
    }
    if (fp) {
        (void) fclose(fp);
    }
    free(devs);
    double sum = 0;
    printf("time per step, mean over %zu devices (ms), from DOTS's job log:\n", devices);
    for (size_t k = 0; k < n_names; k++) {
        printf("  %-20s %7.2f\n", names[k], devices ? total[k] / (double) devices : 0.0);
        sum += total[k];
    }
    printf("  %-20s %7.2f\n", "sum", devices ? sum / (double) devices : 0.0);
}

/* ------------------------------------------------------------------ Random PIN */

/* Where one device is in the PIN hand-over. */
typedef enum {
    S_PIN_NONE,  /* the device shows no PIN yet */
    S_PIN_SHOWN, /* the simulator logged a PIN: read pin.txt and send it */
    S_PIN_SENT,  /* SubmitPin sent, reply awaited */
    S_PIN_GIVEN, /* DOTS accepted the PIN (or refused it for good) */
} s_pin_state_t;

typedef struct {
    char uuid[40];       /* the device's RFOTM uuid (ocf-devsim --dump) */
    s_pin_state_t state; /* hand-over step */
    uint64_t corr;       /* corr_id of the SubmitPin in flight */
    uint64_t retry_ms;   /* S_PIN_SHOWN: not before (pin.txt missing, job not waiting) */
    uint64_t given_ms;   /* wall clock when DOTS accepted the PIN */
} s_pin_dev_t;

/* The operator who reads each device's display (its pin.txt) and types the PIN. It
 * runs as a process of its own, so the bench's polling of the job table (obtctl
 * runs) never delays a PIN: one CURVE link to DOTS, a SubmitPin per device as soon
 * as the simulator shows the PIN (its SIM-RDP-PIN log line). Requests are
 * pipelined; a device whose job has not reached WAIT_PIN yet (DOTS answers ESTATE)
 * is tried again 5 ms later. */
typedef struct {
    cmn_bus_client_t *dots; /* the operator's link to DOTS as "obtctl" */
    char devdir[600];       /* ocf-devsim --dir */
    char result[600];       /* where the operator writes when each PIN was accepted */
    FILE *sim_log;          /* the simulator's log, read as it grows */
    long sim_off;           /* offset of the first unread line */
    pid_t pid;              /* the operator process */
    s_pin_dev_t *devs;      /* by simulator index */
    size_t n_devs;
    size_t n_given, n_refused, n_retries;
} s_pins_t;

static volatile sig_atomic_t s_pins_stopping;

static void
s_pins_on_term(int sig)
{
    (void) sig;
    s_pins_stopping = 1;
}

/* Reads the device map (index → RFOTM uuid). */
static int
s_pins_init(s_pins_t *self, const obt_suite_t *s, size_t count)
{
    memset(self, 0, sizeof *self);
    (void) snprintf(self->devdir, sizeof self->devdir, "%s/devices", s->dir);
    (void) snprintf(self->result, sizeof self->result, "%s/pins-given.txt", s->dir);
    self->devs = calloc(count, sizeof *self->devs);
    char **objs = calloc(count, sizeof *objs);
    if (self->devs == NULL || objs == NULL) {
        free(objs);
        return -1;
    }
    self->n_devs = count;
    size_t n = obt_devsim_dump(s->dir, objs, count);
    for (size_t i = 0; i < n; i++) {
        const char *p = strstr(objs[i], "\"index\":");
        int idx = -1;
        if (p && sscanf(p, "\"index\":%d", &idx) == 1 && idx >= 0 && (size_t) idx < count) {
            (void) obt_json_str(objs[i], "uuid", self->devs[idx].uuid, sizeof self->devs[0].uuid);
        }
        free(objs[i]);
    }
    free(objs);
    return n == count ? 0 : -1;
}

static void
s_pins_fini(s_pins_t *self)
{
    free(self->devs);
}

/* New SIM-RDP-PIN lines: those devices now show a PIN. */
static void
s_pins_read_log(s_pins_t *self, uint64_t now)
{
    char line[512];
    clearerr(self->sim_log);
    (void) fseek(self->sim_log, self->sim_off, SEEK_SET);
    while (fgets(line, sizeof line, self->sim_log)) {
        if (strchr(line, '\n') == NULL) {
            break; /* a line still being written: read it whole next time */
        }
        self->sim_off = ftell(self->sim_log);
        const char *m = strstr(line, " SIM-RDP-PIN dev=");
        int idx = -1;
        if (m && sscanf(m, " SIM-RDP-PIN dev=%d", &idx) == 1 && idx >= 0 &&
            (size_t) idx < self->n_devs && self->devs[idx].state == S_PIN_NONE) {
            self->devs[idx].state = S_PIN_SHOWN;
            self->devs[idx].retry_ms = now;
        }
    }
}

/* Reads device idx's display; false while pin.txt is not there yet. */
static bool
s_pins_read_display(const s_pins_t *self, size_t idx, char pin[16])
{
    char path[700];
    (void) snprintf(path, sizeof path, "%s/dev-%04zu/pin.txt", self->devdir, idx);
    FILE *fp = fopen(path, "r");
    bool ok = fp && fgets(pin, 16, fp) != NULL;
    if (fp) {
        (void) fclose(fp);
    }
    if (ok) {
        pin[strcspn(pin, "\n")] = '\0';
    }
    return ok;
}

static void
s_pins_send(s_pins_t *self, uint64_t now)
{
    for (size_t i = 0; i < self->n_devs; i++) {
        s_pin_dev_t *d = &self->devs[i];
        char pin[16];
        if (d->state != S_PIN_SHOWN || now < d->retry_ms) {
            continue;
        }
        if (!s_pins_read_display(self, i, pin)) {
            d->retry_ms = now + 5;
            continue;
        }
        Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
        Obt__Dots__SubmitPin p = OBT__DOTS__SUBMIT_PIN__INIT;
        p.uuid = d->uuid;
        p.pin = pin;
        req.corr_id = cmn_bus_next_corr_id();
        req.body_case = OBT__DOTS__REQUEST__BODY_PIN;
        req.pin = &p;
        if (cmn_bus_client_send_pb(self->dots, &req.base) == CMN_OK) {
            d->corr = req.corr_id;
            d->state = S_PIN_SENT;
        } else {
            d->retry_ms = now + 5;
        }
        OPENSSL_cleanse(pin, sizeof pin);
    }
}

static void
s_pins_recv(s_pins_t *self)
{
    uint8_t *data = NULL;
    size_t len = 0;
    while (cmn_bus_client_recv(self->dots, &data, &len) == CMN_OK) {
        uint64_t now = cmn_time_wall_ms();
        Obt__Dots__Reply *r = obt__dots__reply__unpack(NULL, len, data);
        free(data);
        for (size_t i = 0; r && i < self->n_devs; i++) {
            s_pin_dev_t *d = &self->devs[i];
            if (d->state != S_PIN_SENT || d->corr != r->corr_id) {
                continue;
            }
            if (r->status == OBT__STATUS__STATUS_OK) {
                d->state = S_PIN_GIVEN;
                d->given_ms = now;
                self->n_given++;
            } else if (r->status == OBT__STATUS__STATUS_ESTATE) {
                d->state = S_PIN_SHOWN; /* the job has not reached WAIT_PIN yet */
                d->retry_ms = now + 5;
                self->n_retries++;
            } else {
                d->state = S_PIN_GIVEN;
                if (self->n_refused++ < 10) {
                    printf("PIN refused for %s: %s\n", d->uuid, r->error);
                }
            }
            break;
        }
        if (r) {
            obt__dots__reply__free_unpacked(r, NULL);
        }
    }
}

/* One pass of the operator: new PINs shown, sent, answers read. */
static void
s_pins_pump(s_pins_t *self)
{
    uint64_t now = cmn_time_wall_ms();
    s_pins_read_log(self, now);
    s_pins_send(self, now);
    s_pins_recv(self);
}

/* The operator process: gives PINs until every device has had its PIN or SIGTERM
 * comes, then writes "idx given_ms" per accepted PIN and a last line with the
 * counts. Exit 0, or 1 if it could not start. */
static int
s_pins_operate(s_pins_t *self, const obt_suite_t *s, const obt_proc_t *sim)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_pins_on_term;
    (void) sigaction(SIGTERM, &sa, NULL);
    cmn_err_t err = CMN_OK;
    self->dots = cmn_bus_client_new(s->ep_dots, s->keys, "obtctl", "dots", &err);
    self->sim_log = fopen(sim->log, "r");
    if (self->dots == NULL || self->sim_log == NULL) {
        fprintf(stderr, "bench: the PIN operator cannot reach DOTS or read %s\n", sim->log);
        return 1;
    }
    while (!s_pins_stopping && self->n_given + self->n_refused < self->n_devs) {
        s_pins_pump(self);
        (void) poll(NULL, 0, 2);
    }
    cmn_bus_client_destroy(&self->dots);
    (void) fclose(self->sim_log);
    FILE *out = fopen(self->result, "w");
    for (size_t i = 0; out && i < self->n_devs; i++) {
        if (self->devs[i].given_ms) {
            fprintf(out, "%zu %llu\n", i, (unsigned long long) self->devs[i].given_ms);
        }
    }
    if (out) {
        fprintf(out, "counts %zu %zu %zu\n", self->n_given, self->n_refused, self->n_retries);
        (void) fclose(out);
    }
    return 0;
}

/* Starts the operator. Before any ZeroMQ context exists in this process (CLASS
 * rule: contexts only after fork). */
static int
s_pins_start(s_pins_t *self, const obt_suite_t *s, const obt_proc_t *sim)
{
    (void) fflush(NULL);
    self->pid = fork();
    if (self->pid == 0) {
        /* not the bench's handler (it stops the whole suite): a plain stop */
        (void) signal(SIGTERM, SIG_DFL);
        (void) signal(SIGINT, SIG_DFL);
        (void) signal(SIGHUP, SIG_DFL);
        _exit(s_pins_operate(self, s, sim));
    }
    return self->pid > 0 ? 0 : -1;
}

/* Stops the operator and reads when each PIN was accepted. */
static void
s_pins_stop(s_pins_t *self)
{
    int status = 0;
    if (self->pid > 0) {
        (void) kill(self->pid, SIGTERM);
        (void) waitpid(self->pid, &status, 0);
        self->pid = 0;
    }
    FILE *in = fopen(self->result, "r");
    char line[128];
    while (in && fgets(line, sizeof line, in)) {
        size_t idx;
        unsigned long long ms;
        if (sscanf(line, "counts %zu %zu %zu", &self->n_given, &self->n_refused,
                   &self->n_retries) == 3) {
            continue;
        }
        if (sscanf(line, "%zu %llu", &idx, &ms) == 2 && idx < self->n_devs) {
            self->devs[idx].given_ms = ms;
        }
    }
    if (in) {
        (void) fclose(in);
    }
}

/* The count of state in `obtctl --json devices --count` ({"RFNOP":12,...}), 0 if absent. */
static size_t
s_json_count(const char *json, const char *state)
{
    char key[48];
    (void) snprintf(key, sizeof key, "\"%s\":", state);
    const char *p = strstr(json, key);
    unsigned long v = 0;
    return p && sscanf(p + strlen(key), "%lu", &v) == 1 ? (size_t) v : 0;
}

/* The wall-clock ms of a log line ("2026-11-23T08:17:32.123Z ..."), 0 if none. */
static uint64_t
s_log_ms(const char *line)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(line, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7) {
        return 0;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (uint64_t) timegm(&tm) * 1000u + (uint64_t) ms;
}

/* Time each device spent in WAIT_PIN: from DOTS's DOTS-WAIT-PIN line to the
 * moment DOTS accepted its PIN. ret_wait (by simulator index) is 0 where unknown. */
static void
s_pins_waits(const s_pins_t *self, const char *dots_log, double *ret_wait)
{
    FILE *fp = fopen(dots_log, "r");
    char line[512], uuid[40];
    while (fp && fgets(line, sizeof line, fp)) {
        const char *m = strstr(line, " DOTS-WAIT-PIN dev=");
        if (m == NULL || sscanf(m, " DOTS-WAIT-PIN dev=%39s", uuid) != 1) {
            continue;
        }
        uint64_t at = s_log_ms(line);
        for (size_t i = 0; at && i < self->n_devs; i++) {
            const s_pin_dev_t *d = &self->devs[i];
            if (d->given_ms >= at && strcmp(d->uuid, uuid) == 0) {
                ret_wait[i] = (double) (d->given_ms - at);
                break;
            }
        }
    }
    if (fp) {
        (void) fclose(fp);
    }
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

/* Percentiles of the n values (sorted in place) as "p50 ... max" on one line. */
static void
s_print_pct(const char *what, double *v, size_t n)
{
    qsort(v, n, sizeof *v, s_cmp_d);
    printf("%s (ms): p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n", what, s_pct(v, n, 50),
           s_pct(v, n, 95), s_pct(v, n, 99), s_pct(v, n, 100));
}

static const s_otm_t *
s_otm_find(const char *name)
{
    for (size_t i = 0; i < sizeof s_otms / sizeof s_otms[0]; i++) {
        if (strcmp(s_otms[i].name, name) == 0) {
            return &s_otms[i];
        }
    }
    return NULL;
}

/* Every process the bench starts, so that every exit path stops them (atexit) and a
 * signal does too (s_on_signal): a failed or interrupted run leaves nothing behind. */
#define SIM_PROCS_MAX 64   /* --procs */
#define SIM_PER_PROC  2000 /* devices per simulator process by default (descriptors) */

static obt_suite_t s_suite;
static obt_proc_t s_sims[SIM_PROCS_MAX]; /* the simulator processes, pid 0 = not running */
static size_t s_n_sims;                  /* how many were started (or tried) */
static s_pins_t *s_pins_run;             /* the PIN operator, while it runs */

static void
s_sims_stop(void)
{
    for (size_t i = 0; i < s_n_sims; i++) {
        (void) obt_proc_stop(&s_sims[i]); /* SIGTERM: each writes its dirty devices */
    }
}

/* --dots-parts: the DOTS instances bind the first free of these (events at port + 10) */
#define S_DOTS_EPS "tcp://127.0.0.1:7491,tcp://127.0.0.1:7492,tcp://127.0.0.1:7493"
#define EXTRA_MAX                                                                                  \
    6 /* --instances 3: cms-2, cms-3, ams-2, ams-3; --dots-parts 3: dots-2, dots-3                 \
       */
static obt_proc_t s_extra[EXTRA_MAX]; /* CMS, AMS and DOTS instances beyond the suite's */
static char s_extra_name[EXTRA_MAX][16];
static size_t s_n_extra;

static void
s_stop_all(void)
{
    if (s_pins_run) {
        s_pins_stop(s_pins_run);
        s_pins_run = NULL;
    }
    s_sims_stop();
    for (size_t i = 0; i < s_n_extra; i++) {
        (void) obt_proc_stop(&s_extra[i]);
    }
    obt_suite_stop(&s_suite);
}

/* --instances K: K - 1 more instances of CMS and of AMS on the suite's stores
 * (--shared-store, durable), at ipc://DIR/<svc>-<k>.sock; --dots-parts G: G - 1 more
 * DOTS instances, each active for a part (S_DOTS_EPS). 0 when all are READY. */
static int
s_extra_start(int instances, int dots_parts)
{
    static const char *const svcs[] = {"cms", "ams", "dots"};
    for (size_t v = 0; v < 3; v++) {
        int n = v == 2 ? dots_parts : instances;
        for (int k = 2; k <= n && s_n_extra < EXTRA_MAX; k++) {
            char *name = s_extra_name[s_n_extra];
            (void) snprintf(name, sizeof s_extra_name[0], "%s-%d", svcs[v], k);
            if (obt_suite_start_instance(&s_suite, &s_extra[s_n_extra++], svcs[v], name) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

static void
s_on_signal(int sig)
{
    /* async-signal-safe: kill(2) and _exit(2) only */
    const pid_t pids[] = {s_suite.dots.pid, s_suite.ams.pid, s_suite.cms.pid, s_suite.gw.pid,
                          s_pins_run ? s_pins_run->pid : 0};
    for (size_t i = 0; i < sizeof pids / sizeof pids[0]; i++) {
        if (pids[i] > 0) {
            (void) kill(pids[i], SIGKILL);
        }
    }
    for (size_t i = 0; i < s_n_sims; i++) {
        if (s_sims[i].pid > 0) {
            (void) kill(s_sims[i].pid, SIGKILL);
        }
    }
    for (size_t i = 0; i < s_n_extra; i++) {
        if (s_extra[i].pid > 0) {
            (void) kill(s_extra[i].pid, SIGKILL);
        }
    }
    _exit(128 + sig);
}

/* CPU seconds and peak RSS (KiB) of every simulator process together. */
static void
s_sims_usage(double *ret_cpu_s, long *ret_hwm_kib)
{
    double cpu = 0;
    long hwm = 0;
    for (size_t i = 0; i < s_n_sims; i++) {
        if (s_sims[i].pid > 0) {
            cpu += s_cpu_s(s_sims[i].pid);
            hwm += s_hwm_kib(s_sims[i].pid);
        }
    }
    *ret_cpu_s = cpu;
    *ret_hwm_kib = hwm;
}

static double
s_sims_cpu_s(void)
{
    double cpu = 0;
    long hwm = 0;
    s_sims_usage(&cpu, &hwm);
    return cpu;
}

/* Starts procs ocf-devsim processes on dir/devices, each with a disjoint range of
 * device indexes (--first-index; each picks its own free ports), one after the other
 * (the first makes the shared factory CA). Logs dir/devsim.log, dir/devsim-1.log, ...
 * 0 when all are READY; the ones started stay in s_sims for s_stop_all. */
static int
s_sims_start(const char *dir, int count, int procs, const char *const *extra)
{
    char devdir[600];
    (void) snprintf(devdir, sizeof devdir, "%s/devices", dir);
    int per = (count + procs - 1) / procs;
    for (int k = 0; k < procs; k++) {
        int first = k * per;
        int n = count - first < per ? count - first : per;
        if (n <= 0) {
            break;
        }
        char name[32], first_s[16], n_s[16];
        (void) snprintf(name, sizeof name, k == 0 ? "devsim" : "devsim-%d", k);
        (void) snprintf(first_s, sizeof first_s, "%d", first);
        (void) snprintf(n_s, sizeof n_s, "%d", n);
        const char *args[24] = {"--dir",         devdir,  "--count",     n_s,
                                "--first-index", first_s, "--log-level", "info"};
        size_t a = 8;
        for (size_t i = 0; extra && extra[i] && a < sizeof args / sizeof args[0] - 1; i++) {
            args[a++] = extra[i];
        }
        args[a] = NULL;
        s_n_sims = (size_t) k + 1;
        /* a device's start costs milliseconds: 2000 of them take a while */
        if (obt_proc_start(&s_sims[k], dir, name, "ocf-devsim", args) != 0 ||
            obt_proc_wait_log(&s_sims[k], " READY ", 20000 + n * 30) != 0) {
            obt_proc_dump(&s_sims[k]);
            return -1;
        }
    }
    return 0;
}

#define PORTS_FIRST 10000 /* the widened ephemeral port range: 10000..65535 */
#define PORTS_LAST  65535
#define PORTS_PATH  "/proc/sys/net/ipv4/ip_local_port_range"

/* Each simulated device binds three UDP ports the kernel picks (coap, coaps, the Just
 * Works relay's loopback endpoint): Linux's default range (32768-60999) runs out near
 * 9400 devices. Inside scripts/netns.sh the namespace is the bench's own, and its
 * daemons have bound their ports by the time the simulators start: the range is
 * widened there (and only there). */
static void
s_widen_ports(int count)
{
    const char *in_netns = getenv("OBT_IN_NETNS");
    FILE *fp = fopen(PORTS_PATH, "r");
    int lo = 0, hi = 0;
    bool is_read = fp && fscanf(fp, "%d %d", &lo, &hi) == 2;
    if (fp) {
        (void) fclose(fp);
    }
    if (!is_read || hi - lo + 1 >= count * 3 + 1000) {
        return;
    }
    if (in_netns == NULL || strcmp(in_netns, "1") != 0) {
        printf("ports: %d devices need about %d ephemeral ports; %s allows %d (run inside "
               "scripts/netns.sh to widen it)\n",
               count, count * 3, PORTS_PATH, hi - lo + 1);
        return;
    }
    fp = fopen(PORTS_PATH, "w");
    bool is_set = fp && fprintf(fp, "%d %d\n", PORTS_FIRST, PORTS_LAST) > 0;
    is_set = fp && fclose(fp) == 0 && is_set;
    printf("ports: ephemeral range %d-%d %s for %d devices (3 ports each)\n", PORTS_FIRST,
           PORTS_LAST, is_set ? "set in this network namespace" : "could NOT be set", count);
}

/* The gateway's discovery limits (docs/discovery.md "Limits") sized for count devices
 * when the defaults are too small (a claim takes about 2 KiB: the default 8192 KiB held
 * 4096 of 10 000): through its environment, as obt_suite_start takes no gateway flags. */
static void
s_discovery_limits(int count)
{
    char kib[16], replies[16];
    (void) snprintf(kib, sizeof kib, "%d", count * 3 > 8192 ? count * 3 : 8192);
    (void) snprintf(replies, sizeof replies, "%d", count * 2 > 16384 ? count * 2 : 16384);
    (void) setenv("OBT_GATEWAY_DISCOVER_MAX_KIB", kib, 0);
    (void) setenv("OBT_GATEWAY_DISCOVER_MAX_REPLIES", replies, 0);
}

/* The soft descriptor limit raised to the hard one: the simulators inherit it. */
static void
s_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The disk's fdatasync latency where the stores are, measured before the run (a busy
 * disk shows here): 20 writes of 4 KiB, each synced. */
static void
s_fsync_latency(const char *dir, double *ret_p50_ms, double *ret_max_ms)
{
    char path[700];
    double v[20];
    size_t n = 0;
    static char page[4096];
    (void) snprintf(path, sizeof path, "%s/fsync-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    for (size_t i = 0; fd >= 0 && i < sizeof v / sizeof v[0]; i++) {
        page[0] = (char) i;
        uint64_t t0 = cmn_time_mono_us();
        if (pwrite(fd, page, sizeof page, 0) != (ssize_t) sizeof page || fdatasync(fd) != 0) {
            break;
        }
        v[n++] = (double) (cmn_time_mono_us() - t0) / 1000.0;
    }
    if (fd >= 0) {
        (void) close(fd);
        (void) unlink(path);
    }
    *ret_p50_ms = n ? s_pct_sorted(v, n, 50) : -1;
    *ret_max_ms = n ? s_pct_sorted(v, n, 100) : -1;
}

/* A daemon's group-commit counters, from the line it logs when it stops (DOTS:
 * DOTS-COMMITS, CMS and AMS: SVC-COMMITS, the same fields). */
static void
s_print_commits_of(const char *name, const char *log, const char *tag, size_t done)
{
    FILE *fp = fopen(log, "r");
    char line[512], needle[40];
    unsigned long long commits = 0, writes = 0, held = 0, failed = 0;
    double ms = 0, max_ms = 0;
    bool is_found = false;
    (void) snprintf(needle, sizeof needle, " %s ", tag);
    while (fp && fgets(line, sizeof line, fp)) {
        const char *m = strstr(line, needle);
        /* the time's key is commit_ms (DOTS) or ms (CMS, AMS) */
        if (m && sscanf(m + strlen(needle),
                        "commits=%llu writes=%llu held=%llu failed=%llu %*[a-z_]=%lf max_ms=%lf",
                        &commits, &writes, &held, &failed, &ms, &max_ms) == 6) {
            is_found = true; /* the last one: a restarted daemon logs one per run */
        }
    }
    if (fp) {
        (void) fclose(fp);
    }
    if (!is_found) {
        printf("%s commits: not reported (a build without group commit: one commit, and one "
               "sync, per record written)\n",
               name);
        return;
    }
    double per = done ? (double) done : 1.0;
    printf("%s commits: %llu (%.2f per device, each one sync), %llu records written (%.1f per "
           "device), %llu failed; %.0f ms in commits (mean %.2f ms, max %.1f ms)\n",
           name, commits, (double) commits / per, writes, (double) writes / per, failed, ms,
           commits ? ms / (double) commits : 0.0, max_ms);
}

static void
s_print_commits(size_t done)
{
    s_print_commits_of("DOTS", s_suite.dots.log, "DOTS-COMMITS", done);
    s_print_commits_of("CMS", s_suite.cms.log, "SVC-COMMITS", done);
    s_print_commits_of("AMS", s_suite.ams.log, "SVC-COMMITS", done);
    for (size_t i = 0; i < s_n_extra; i++) {
        bool is_dots = strncmp(s_extra_name[i], "dots", 4) == 0;
        s_print_commits_of(s_extra_name[i], s_extra[i].log,
                           is_dots ? "DOTS-COMMITS" : "SVC-COMMITS", done);
    }
}

/* A policy of 5 ACEs for every device of the simulator (all have /light,
 * oic.r.switch.binary), for --acl-apply. */
static const char s_bench_policy[] =
        "version: 1\n"
        "policy:\n"
        "  - rt: oic.r.switch.binary\n"
        "    aces:\n"
        "      - {subject: uuid:a1a1a1a1-1111-4111-8111-a1a1a1a1a1a1, res: /light, perm: R}\n"
        "      - {subject: conn:auth-crypt, res: /light, if: oic.if.a, perm: R}\n"
        "      - {subject: role:oic.role.light-admin, res: rt:oic.r.switch.binary, perm: RU}\n"
        "      - {subject: conn:anon-clear, res: /light, perm: R}\n"
        "      - subject: uuid:c0c0c0c0-1111-4222-8333-444455556666\n"
        "        res: [/temp, /light]\n"
        "        perm: R\n"
        "        validity: 20260101T000000Z/20300101T000000Z\n";

/* One `obtctl acl apply --all` timed, with the CPU it took AMS, the gateway and the
 * simulator. */
static void
s_bench_apply_once(const char *what, size_t done, const char *inflight)
{
    const char *args[] = {"--timeout-ms", "60000",       "acl",    "apply",
                          "--all",        "--in-flight", inflight, NULL};
    double cpu0[3] = {s_cpu_s(s_suite.ams.pid), s_cpu_s(s_suite.gw.pid), s_sims_cpu_s()};
    char *out = NULL;
    uint64_t t0 = cmn_time_mono_ms();
    int rc = obt_ctl(&s_suite, args, &out);
    double secs = (double) (cmn_time_mono_ms() - t0) / 1000.0;
    const char *sum = out ? strstr(out, "apply: ") : NULL;
    size_t n = 0, added = 0, removed = 0, failed = 0;
    if (sum == NULL ||
        sscanf(sum, "apply: %zu device(s), %zu ACE(s) added, %zu removed, %zu failed", &n, &added,
               &removed, &failed) != 4) {
        printf("acl apply --all (%s): obtctl exit %d, no summary\n", what, rc);
        free(out);
        return;
    }
    free(out);
    double per = n ? (double) n : 1.0;
    printf("acl apply --all (%s): %zu of %zu devices, %zu ACEs added, %zu removed, %zu failed, "
           "in-flight %s: %.2f s, %.1f devices/s\n",
           what, n, done, added, removed, failed, inflight, secs, secs > 0 ? per / secs : 0.0);
    printf("  CPU ms/device: obt-ams %.2f, obt-gateway %.2f, ocf-devsim %.2f\n",
           (s_cpu_s(s_suite.ams.pid) - cpu0[0]) * 1000.0 / per,
           (s_cpu_s(s_suite.gw.pid) - cpu0[1]) * 1000.0 / per,
           (s_sims_cpu_s() - cpu0[2]) * 1000.0 / per);
}

/* --acl-apply: after the onboarding, AMS restarted with a policy of 5 ACEs per device,
 * then `obtctl acl apply --all` twice: the first places them, the second finds
 * nothing to change. */
static void
s_bench_apply(const char *dir, size_t done, const char *inflight)
{
    char path[700];
    (void) snprintf(path, sizeof path, "%s/bench-policy.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(s_bench_policy, f) < 0 || fclose(f) != 0) {
        printf("acl apply: cannot write %s\n", path);
        return;
    }
    const char *const ams_args[] = {"--policy", path, NULL};
    if (obt_suite_restart(&s_suite, "ams", ams_args) != 0) {
        printf("acl apply: obt-ams did not start with %s\n", path);
        return;
    }
    s_bench_apply_once("first: places 5 ACEs a device", done, inflight);
    s_bench_apply_once("second: nothing to change", done, inflight);
}

/* --pairs P: after the onboarding, `obtctl pair` of devices 2k and 2k+1 for k < P, by
 * `clients` operators at once (each one pair after the other; a pair is a CMS job on
 * both devices, docs/cms.md), then pairs/s and CMS's CPU per pair. 0 if every pair was
 * made. */
static int
s_bench_pairs(const char *dir, int count, int pairs, int clients)
{
    char **objs = calloc((size_t) count + 1, sizeof *objs);
    size_t n = objs ? obt_devsim_dump(dir, objs, (size_t) count) : 0;
    char(*uuids)[40] = calloc(n + 1, sizeof *uuids);
    for (size_t i = 0; i < n; i++) {
        if (uuids && !obt_json_str(objs[i], "deviceuuid", uuids[i], sizeof uuids[i])) {
            uuids[i][0] = '\0';
        }
        free(objs[i]);
    }
    free(objs);
    if (uuids == NULL || n < 2 * (size_t) pairs) {
        fprintf(stderr, "bench: --pairs %d needs %d devices (%zu dumped)\n", pairs, 2 * pairs, n);
        free(uuids);
        return 1;
    }
    double cpu0 = s_cpu_s(s_suite.cms.pid);
    uint64_t t0 = cmn_time_wall_ms();
    int made = 0;
    pid_t *kids = calloc((size_t) clients, sizeof *kids);
    for (int c = 0; kids && c < clients; c++) {
        kids[c] = fork();
        if (kids[c] == 0) {
            int mine = 0; /* pairs c, c + clients, ... (at most 255: the exit status) */
            for (int k = c; k < pairs; k += clients) {
                const char *args[] = {"pair", uuids[2 * k], uuids[2 * k + 1], NULL};
                mine += obt_ctl(&s_suite, args, NULL) == 0;
            }
            _exit(mine > 255 ? 255 : mine);
        }
    }
    for (int c = 0; kids && c < clients; c++) {
        int status = 0;
        if (kids[c] > 0 && waitpid(kids[c], &status, 0) == kids[c] && WIFEXITED(status)) {
            made += WEXITSTATUS(status);
        }
    }
    free(kids);
    double secs = (double) (cmn_time_wall_ms() - t0) / 1000.0;
    double cpu = s_cpu_s(s_suite.cms.pid) - cpu0;
    printf("pairs: %d of %d made in %.2f s: %.1f pairs/s (%d operator(s) at once, each one "
           "`obtctl pair` after the other; obt-cms cpu %.2f s, %.2f ms/pair)\n",
           made, pairs, secs, secs > 0 ? (double) made / secs : 0.0, clients, cpu,
           made ? cpu * 1000.0 / made : 0.0);
    free(uuids);
    return made == pairs ? 0 : 1;
}

/* --crl: revokes uuid's certificate and times the push of the new CRL to every
 * device (until `obtctl crl show` has nothing pending), with each process's CPU. */
/* A process whose CPU the bench reports. */
typedef struct {
    const char *name;
    obt_proc_t *p; /* NULL = the simulator processes together */
} s_proc_t;

static double
s_proc_cpu_s(const s_proc_t *proc)
{
    return proc->p ? s_cpu_s(proc->p->pid) : s_sims_cpu_s();
}

static long
s_proc_hwm_kib(const s_proc_t *proc)
{
    double cpu = 0;
    long hwm = 0;
    if (proc->p) {
        return s_hwm_kib(proc->p->pid);
    }
    s_sims_usage(&cpu, &hwm);
    return hwm;
}

static void
s_crl_push(const char *uuid, size_t devices, obt_proc_t *cms, const s_proc_t *procs, size_t n_procs)
{
    static const char *const show[] = {"--timeout-ms", "30000", "--json", "crl", "show", NULL};
    const char *revoke[] = {"cert", "revoke", uuid, NULL};
    double cpu0[8];
    for (size_t i = 0; i < n_procs && i < 8; i++) {
        cpu0[i] = s_proc_cpu_s(&procs[i]);
    }
    int pushed0 = obt_proc_log_count(cms, "CMS-CRL-PUSHED");
    uint64_t t0 = cmn_time_wall_ms(), last_progress = t0;
    int last = pushed0;
    char *out = NULL;
    if (obt_ctl(&s_suite, revoke, &out) != 0) {
        printf("crl push: the revocation failed: %s\n", out ? out : "");
        free(out);
        return;
    }
    free(out);
    bool is_done = false;
    while (!is_done && cmn_time_wall_ms() - last_progress < 60000) {
        (void) poll(NULL, 0, 100);
        out = NULL;
        is_done = obt_ctl(&s_suite, show, &out) == 0 && out && strstr(out, "\"pending\":[]");
        free(out);
        int now_pushed = obt_proc_log_count(cms, "CMS-CRL-PUSHED");
        if (now_pushed != last) {
            last = now_pushed;
            last_progress = cmn_time_wall_ms();
        }
    }
    double secs = (double) (cmn_time_wall_ms() - t0) / 1000.0;
    int pushed = obt_proc_log_count(cms, "CMS-CRL-PUSHED") - pushed0;
    printf("crl push: %d of %zu devices hold the new CRL in %.2f s (%.1f devices/s)%s\n", pushed,
           devices, secs, secs > 0 ? pushed / secs : 0.0, is_done ? "" : ", NOT all: gave up");
    for (size_t i = 0; i < n_procs && i < 8; i++) {
        double cpu = s_proc_cpu_s(&procs[i]) - cpu0[i];
        printf("crl push: %-12s cpu %6.2f s (%5.2f ms/device)\n", procs[i].name, cpu,
               pushed ? cpu * 1000.0 / pushed : 0.0);
    }
}

int
main(int argc, char **argv)
{
    (void) setvbuf(stdout, NULL, _IOLBF, 0); /* each figure as soon as it is known */
    int count = 100, in_flight = 64;
    const char *durable = "--durable";
    const s_otm_t *otm = &s_otms[0];
    bool steps = false;
    int pairs = 0;                /* --pairs: pairwise PSKs after the onboarding */
    int pair_clients = 1;         /* --pair-clients: operators pairing at once */
    const char *work_dir = NULL;  /* --dir: the run's folder (default: a fresh one) */
    const char *sim_extra = NULL; /* --sim-extra: one more ocf-devsim flag */
    const char *certs = NULL;     /* ocf-devsim --certs: identity certificates at hand-over */
    bool crl = false;             /* then a revocation: the CRL pushed to every device */
    bool acl_apply = false;       /* --acl-apply: time obtctl acl apply --all afterwards */
    const char *apply_inflight = "64";
    int n_procs_sim = 0; /* --procs: simulator processes (0 = one per SIM_PER_PROC devices) */
    int instances = 1;   /* --instances: of CMS and of AMS, on shared stores */
    int dots_parts = 0;  /* --dots-parts: DOTS instances with --parts, a part each */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--in-flight") == 0 && i + 1 < argc) {
            in_flight = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--otm") == 0 && i + 1 < argc) {
            otm = s_otm_find(argv[++i]);
        } else if (strcmp(argv[i], "--no-durable") == 0) {
            durable = "--no-durable"; /* LMDB without fsync: shows what the syncs cost */
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            work_dir = argv[++i];
        } else if (strcmp(argv[i], "--sim-extra") == 0 && i + 1 < argc) {
            sim_extra = argv[++i];
        } else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
            pairs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--pair-clients") == 0 && i + 1 < argc) {
            pair_clients = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--certs") == 0) {
            certs = "all"; /* every device supports credtype 8 and has /oic/sec/csr */
        } else if (strcmp(argv[i], "--crl") == 0) {
            certs = "all";
            crl = true;
        } else if (strcmp(argv[i], "--acl-apply") == 0) {
            acl_apply = true;
        } else if (strcmp(argv[i], "--apply-in-flight") == 0 && i + 1 < argc) {
            apply_inflight = argv[++i];
        } else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc) {
            n_procs_sim = atoi(argv[++i]);
            n_procs_sim = n_procs_sim > 0 ? n_procs_sim : -1;
        } else if (strcmp(argv[i], "--instances") == 0 && i + 1 < argc) {
            instances = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--dots-parts") == 0 && i + 1 < argc) {
            dots_parts = atoi(argv[++i]);
            dots_parts = dots_parts > 0 ? dots_parts : -1;
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = true; /* per-step times: needs one device in flight */
            in_flight = 1;
        } else {
            count = -1;
            break;
        }
    }
    if (n_procs_sim == 0 && count > 0) {
        n_procs_sim = (count + SIM_PER_PROC - 1) / SIM_PER_PROC;
    }
    if (count <= 0 || in_flight <= 0 || otm == NULL || pair_clients <= 0 || pair_clients > 64 ||
        n_procs_sim <= 0 || n_procs_sim > SIM_PROCS_MAX || n_procs_sim > count || instances < 1 ||
        instances > 3 || dots_parts < 0 || dots_parts > 3) {
        fprintf(stderr,
                "usage: bench_onboard [--count N] [--in-flight M] [--otm jw|rdp|mfg] "
                "[--no-durable] [--steps] [--certs] [--crl] [--pairs P [--pair-clients K]] "
                "[--dir DIR] "
                "[--sim-extra FLAG]\n"
                "                     [--acl-apply [--apply-in-flight M]] "
                "[--procs N (1..%d, at most --count; default one per %d devices)] "
                "[--instances K (1..3 of CMS and of AMS)] [--dots-parts G (1..3)]\n",
                SIM_PROCS_MAX, SIM_PER_PROC);
        return 2;
    }
    /* as many as the ranges need (5 devices in 4 processes: 2, 2, 1) */
    n_procs_sim = (count + (count + n_procs_sim - 1) / n_procs_sim - 1) /
                  ((count + n_procs_sim - 1) / n_procs_sim);
    if (otm->needs_pin && n_procs_sim > 1) {
        fprintf(stderr,
                "bench: --otm rdp reads the PINs from one simulator's log: --procs 1 "
                "(at most about %d devices)\n",
                SIM_PER_PROC);
        return 2;
    }
    char inflight[16];
    (void) snprintf(inflight, sizeof inflight, "%d", in_flight);
    char max_new[16]; /* DOTS adds at most 2048 new records per discovery by default */
    (void) snprintf(max_new, sizeof max_new, "%d", count > 2048 ? count : 2048);
    const char *dots_args[24] = {durable,
                                 "--max-in-flight",
                                 inflight,
                                 "--step-timeout-ms",
                                 "20000",
                                 "--otm-policy",
                                 otm->dots_policy,
                                 "--log-level",
                                 steps ? "info" : "notice",
                                 "--discover-max-new",
                                 max_new,
                                 NULL};
    size_t n_dots_args = 11;
    const char *sim_args[24] = {"--oxms", otm->sim_oxms};
    size_t n_sim_args = 2;
    if (certs != NULL) {
        sim_args[n_sim_args++] = "--certs";
        sim_args[n_sim_args++] = certs;
    }
    sim_args[n_sim_args++] = sim_extra;
    sim_args[n_sim_args] = NULL;
    char *dir = work_dir ? strdup(work_dir) : obt_tmpdir("bench");
    if (dir == NULL || (work_dir && mkdir(dir, 0700) != 0 && errno != EEXIST)) {
        fprintf(stderr, "bench: cannot make the folder %s\n", work_dir ? work_dir : "in /tmp");
        free(dir);
        return 1;
    }
    (void) atexit(s_stop_all);                   /* every exit path below stops what was started */
    char cms_eps[2200] = "", ams_eps[2200] = ""; /* the suite's instance, then cms-2 ... */
    for (int k = 1; k <= instances && instances > 1; k++) {
        char suffix[8] = "";
        if (k > 1) {
            (void) snprintf(suffix, sizeof suffix, "-%d", k);
        }
        size_t at = strlen(cms_eps);
        (void) snprintf(cms_eps + at, sizeof cms_eps - at, "%sipc://%s/cms%s.sock",
                        k > 1 ? "," : "", dir, suffix);
        at = strlen(ams_eps);
        (void) snprintf(ams_eps + at, sizeof ams_eps - at, "%sipc://%s/ams%s.sock",
                        k > 1 ? "," : "", dir, suffix);
    }
    if (instances > 1) { /* DOTS connects to instances that start after it */
        dots_args[n_dots_args++] = "--cms";
        dots_args[n_dots_args++] = cms_eps;
        dots_args[n_dots_args++] = "--ams";
        dots_args[n_dots_args++] = ams_eps;
    }
    char parts_s[8];
    (void) snprintf(parts_s, sizeof parts_s, "%d", dots_parts);
    if (dots_parts > 0) { /* every instance on one store, each active for a part (D100) */
        const char *more[] = {"--shared-store", "--parts",    parts_s, "--endpoint",
                              S_DOTS_EPS,       "--instance", "dots-1"};
        for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
            dots_args[n_dots_args++] = more[i];
        }
    }
    dots_args[n_dots_args] = NULL;
    s_raise_nofile();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    (void) sigaction(SIGINT, &sa, NULL);
    (void) sigaction(SIGTERM, &sa, NULL);
    (void) sigaction(SIGHUP, &sa, NULL);
    double fsync_p50 = 0, fsync_max = 0;
    s_fsync_latency(dir, &fsync_p50, &fsync_max);
    printf("disk: fdatasync of 4 KiB in %s: p50 %.2f ms, max %.2f ms (20 probes before the run)\n",
           dir, fsync_p50, fsync_max);
    s_discovery_limits(count);
    /* CMS and AMS as durable as DOTS */
    bool is_shared = instances > 1 || dots_parts > 0;
    int started = is_shared ? obt_suite_start_shared_durable(&s_suite, dir, dots_args)
                  : strcmp(durable, "--durable") == 0
                          ? obt_suite_start_durable(&s_suite, dir, dots_args)
                          : obt_suite_start(&s_suite, dir, dots_args);
    if (started == 0 && is_shared) {
        started = s_extra_start(instances, dots_parts);
        printf("instances: %d of CMS and %d of AMS on shared stores\n", instances, instances);
    }
    if (started == 0 && dots_parts > 0) {
        (void) snprintf(s_suite.ep_dots, sizeof s_suite.ep_dots, "%s", S_DOTS_EPS);
        printf("DOTS: %d instance(s) on one store with --parts %d, a part each; obtctl asks "
               "them all\n",
               dots_parts, dots_parts);
    }
    if (started == 0) {
        s_widen_ports(count); /* the daemons' ports are bound: only the devices' follow */
        started = s_sims_start(dir, count, n_procs_sim, sim_args);
    }
    if (started != 0) {
        fprintf(stderr,
                "bench: cannot start the suite and the simulator (run inside "
                "scripts/netns.sh); logs in %s\n",
                dir);
        free(dir);
        return 1;
    }
    printf("simulators: %d ocf-devsim process(es), up to %d devices each\n", n_procs_sim,
           (count + n_procs_sim - 1) / n_procs_sim);
    static const char *const discover[] = {"discover", "--window-ms", "2000", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    static const char *const list[] = {"--timeout-ms", "30000", "--json", "devices", NULL};
    char *out = NULL;
    uint64_t d0 = cmn_time_wall_ms();
    (void) obt_ctl(&s_suite, discover, &out);
    free(out);
    uint64_t d1 = cmn_time_wall_ms();
    char **objs = calloc((size_t) count + 8, sizeof *objs);
    size_t n = 0, done = 0, failed = 0;
    out = NULL;
    if (obt_ctl(&s_suite, list, &out) == 0 && out) {
        n = obt_json_objects(out, objs, (size_t) count + 8);
    }
    free(out);
    printf("discovery: %zu of %d devices in %.2f s (one obtctl discover, window 2 s)\n", n, count,
           (double) (d1 - d0) / 1000.0);
    if (otm->needs_trust) {
        char ca[700];
        (void) snprintf(ca, sizeof ca, "%s/devices/factory-ca.pem", dir);
        const char *add[] = {"mfg-trust", "add", ca, NULL};
        if (obt_ctl(&s_suite, add, NULL) != 0) {
            fprintf(stderr, "bench: cannot add the factory CA %s as a trust anchor\n", ca);
            free(dir);
            return 1;
        }
    }
    static s_pins_t pins; /* static: s_stop_all may stop it after main returns */
    if (otm->needs_pin && (s_pins_init(&pins, &s_suite, (size_t) count) != 0 ||
                           s_pins_start(&pins, &s_suite, &s_sims[0]) != 0)) {
        fprintf(stderr, "bench: cannot read the devices or start the PIN operator\n");
        free(dir);
        return 1;
    }
    s_pins_run = otm->needs_pin ? &pins : NULL;
    s_proc_t procs[5 + EXTRA_MAX] = {{"obt-gateway", &s_suite.gw},
                                     {"obt-dots", &s_suite.dots},
                                     {"obt-cms", &s_suite.cms},
                                     {"obt-ams", &s_suite.ams},
                                     {"ocf-devsim", NULL}}; /* every simulator process, summed */
    size_t n_procs = 5;
    for (size_t i = 0; i < s_n_extra; i++) {
        procs[n_procs].name = s_extra_name[i];
        procs[n_procs++].p = &s_extra[i];
    }
    double cpu0[5 + EXTRA_MAX];
    (void) obt_ctl(&s_suite, approve, NULL);
    for (size_t i = 0; i < n_procs; i++) {
        cpu0[i] = s_proc_cpu_s(&procs[i]); /* start-up and discovery excluded below */
    }
    uint64_t t0 = cmn_time_wall_ms();
    (void) obt_ctl(&s_suite, onboard, NULL);
    /* Poll the counts per state every 250 ms until every discovered device has ended
     * (RFNOP or FAILED), or nothing has changed for 60 s; then read the job table once.
     * Polling the whole table cost DOTS, obtctl and the bench time that grew with N at
     * every poll. With RDP the operator process gives the PINs meanwhile. */
    static const char *const counts[] = {"--timeout-ms", "30000",   "--json",
                                         "devices",      "--count", NULL};
    size_t expected = n, ended = 0;
    uint64_t progress_ms = cmn_time_wall_ms();
    while (expected > 0) {
        out = NULL;
        if (obt_ctl(&s_suite, counts, &out) == 0 && out) {
            done = s_json_count(out, "RFNOP");
            failed = s_json_count(out, "FAILED");
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
    double cpu1[5 + EXTRA_MAX];
    for (size_t i = 0; i < n_procs; i++) {
        cpu1[i] = s_proc_cpu_s(&procs[i]); /* the final read of the table excluded */
    }
    out = NULL;
    if (obt_ctl(&s_suite, list, &out) == 0 && out) {
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
    double *wait_by_idx = calloc((size_t) count, sizeof *wait_by_idx);
    if (otm->needs_pin) {
        s_pins_stop(&pins);
        s_pins_run = NULL;
        s_pins_waits(&pins, s_suite.dots.log, wait_by_idx);
    }
    double *lat = calloc(n + 1, sizeof *lat), *waits = calloc(n + 1, sizeof *waits);
    double *busy = calloc(n + 1, sizeof *busy);
    size_t nl = 0, nw = 0;
    uint64_t last = t0;
    size_t shown = 0;
    char revoke_uuid[40] = "";
    for (size_t i = 0; i < n; i++) {
        if (revoke_uuid[0] == '\0' && strstr(objs[i], "\"state\":\"RFNOP\"")) {
            (void) obt_json_str(objs[i], "uuid", revoke_uuid, sizeof revoke_uuid);
        }
        const char *p1 = strstr(objs[i], "\"started_ms\":");
        const char *p2 = strstr(objs[i], "\"finished_ms\":");
        unsigned long long a = 0, b = 0;
        if (p1 && p2 && sscanf(p1, "\"started_ms\":%llu", &a) == 1 &&
            sscanf(p2, "\"finished_ms\":%llu", &b) == 1 && b >= a && b > 0) {
            lat[nl++] = (double) (b - a); /* with RDP this includes the wait for the PIN */
            last = b > last ? b : last;
            char first[40];
            size_t k = pins.n_devs; /* 0 without RDP */
            if (obt_json_str(objs[i], "first_uuid", first, sizeof first)) {
                k = 0;
                while (k < pins.n_devs && strcmp(pins.devs[k].uuid, first) != 0) {
                    k++;
                }
            }
            if (k < pins.n_devs && wait_by_idx[k] > 0) {
                waits[nw] = wait_by_idx[k];
                busy[nw++] = (double) (b - a) - wait_by_idx[k];
            }
        }
        char err[400];
        if (strstr(objs[i], "\"state\":\"FAILED\"") &&
            obt_json_str(objs[i], "error", err, sizeof err) && shown++ < 10) {
            printf("failed: %s\n", err);
        }
        free(objs[i]);
    }
    double secs = (double) (last - t0) / 1000.0;
    printf("devices: %d requested, %zu RFNOP, %zu failed, OTM %s, in-flight bound %d, DOTS %s\n",
           count, done, failed, otm->name, in_flight, durable + 2);
    printf("throughput: %.1f devices/s (%.2f s from the onboard command to the last RFNOP)\n",
           secs > 0 ? (double) done / secs : 0.0, secs);
    s_print_pct("latency per device RFOTM->RFNOP", lat, nl);
    if (otm->needs_pin) {
        printf("PINs: %zu accepted by DOTS, %zu refused, %zu SubmitPin retries (job not yet in "
               "WAIT_PIN)\n",
               pins.n_given, pins.n_refused, pins.n_retries);
        s_print_pct("  of which in WAIT_PIN (DOTS-WAIT-PIN to PIN accepted)", waits, nw);
        s_print_pct("  the rest (latency minus WAIT_PIN)", busy, nw);
    }
    printf("per process: CPU seconds while onboarding (CPU ms per RFNOP device), peak RSS\n");
    for (size_t i = 0; i < n_procs; i++) {
        double cpu = cpu1[i] - cpu0[i];
        printf("%-12s cpu %6.2f s (%5.2f ms/device)   peak RSS %7.1f MiB\n", procs[i].name, cpu,
               done ? cpu * 1000.0 / (double) done : 0.0,
               (double) s_proc_hwm_kib(&procs[i]) / 1024.0);
    }
    if (steps) {
        s_print_steps(s_suite.dots.log, done);
    }
    if (crl && revoke_uuid[0]) {
        s_crl_push(revoke_uuid, done, procs[2].p, procs, n_procs);
    }
    if (acl_apply) {
        s_bench_apply(dir, done, apply_inflight);
    }
    int pairs_rc = pairs > 0 ? s_bench_pairs(dir, count, pairs, pair_clients) : 0;
    for (size_t i = 0; i < s_n_extra; i++) {
        (void) obt_proc_stop(&s_extra[i]);
    }
    obt_suite_stop(&s_suite); /* the daemons log their commit counters as they stop */
    s_print_commits(done);
    if (otm->needs_pin) {
        s_pins_fini(&pins);
    }
    free(busy);
    free(waits);
    free(lat);
    free(wait_by_idx);
    free(objs);
    s_sims_stop();
    obt_suite_stop(&s_suite);
    obt_rmrf(dir);
    free(dir);
    return done == (size_t) count && pairs_rc == 0 ? 0 : 1; /* every device RFNOP, pair made */
}
