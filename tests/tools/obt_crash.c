/* obt_crash.c — the crash test: kill -9 of a daemon at a random point of an
 * onboarding run, then checks that no device holds an owner credential DOTS lacks and
 * that every device reaches RFNOP after the restart. A program (rounds are random,
 * minutes long), with a short mode that scripts/test.sh runs as a ctest. */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmn_time.h"
#include "obt_checks.h"
#include "obt_json.h"
#include "obt_support.h"

#define S_MAX_DEVICES 200
#define S_SETTLE_MS   30000 /* "within 30 s of the restart" (issue 9) */

static int s_settle_ms = S_SETTLE_MS; /* --short: 10 s */

static const char *const S_DAEMONS[] = {"dots", "gateway", "cms", "ams"};
#define S_N_DAEMONS (sizeof S_DAEMONS / sizeof S_DAEMONS[0])

/* DOTS durable (group commit with its sync), short step timeouts so that a job whose
 * peer died fails fast, and automatic retries after 3 s (the simulator's devices drop an
 * idle DOC after 2 s and reset); the same flags at every restart. */
static const char *const S_DOTS_ARGS[] = {
        "--durable", "--step-timeout-ms", "3000", "--recover-delay-ms", "3000", NULL};

typedef struct {
    int rounds;      /* rounds run */
    int violations;  /* rounds where a device held an owner credential DOTS lacked */
    int by_itself;   /* rounds where every device reached RFNOP with no operator command */
    int with_passes; /* rounds that needed operator passes (discover, approve, onboard) */
    int stuck;       /* rounds that left a device short of RFNOP or failing the check */
} s_tally_t;

/* The device's owner credential for DOTS (credtype 1, subject = DOTS) as hex, or "". */
static void
s_device_owner_psk(const char *obj, const char *dots_uuid, char out[33])
{
    out[0] = '\0';
    const char *p = strstr(obj, "\"creds\":[");
    while (p && (p = strstr(p, "\"credtype\":1,")) != NULL) {
        char subject[40] = "", hex[80] = "";
        const char *after = obt_json_str(p, "subjectuuid", subject, sizeof subject);
        if (after && strcmp(subject, dots_uuid) == 0 &&
            obt_json_str(after, "privatedata_hex", hex, sizeof hex) && strlen(hex) == 32) {
            memcpy(out, hex, 33);
            return;
        }
        p += 12;
    }
}

/* Every device that holds an owner credential for DOTS: DOTS's store must hold the same
 * key under the device's current uuid. Returns the violations; *ret_owned counts the
 * devices holding one. */
static int
s_check_owner_creds(const char *dir, const char *dots_uuid, int *ret_owned)
{
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", dir);
    char *objs[S_MAX_DEVICES + 8];
    size_t n = obt_devsim_dump(dir, objs, S_MAX_DEVICES + 8);
    int bad = 0, owned = 0;
    for (size_t i = 0; i < n; i++) {
        char dev_psk[33], dots_psk[33], uuid[40] = "";
        (void) obt_json_str(objs[i], "uuid", uuid, sizeof uuid);
        s_device_owner_psk(objs[i], dots_uuid, dev_psk);
        if (dev_psk[0]) {
            owned++;
            obt_dots_owner_psk_hex(store, uuid, dots_psk);
            if (strcmp(dev_psk, dots_psk) != 0) {
                bad++;
                printf("  VIOLATION: device %s holds an owner credential DOTS %s\n", uuid,
                       dots_psk[0] ? "stored with another key" : "does not hold");
            }
        }
        free(objs[i]);
    }
    *ret_owned = owned;
    return bad;
}

/* Devices whose dump says RFNOP. */
static int
s_count_rfnop(const char *dir)
{
    return (int) obt_devsim_count_rfnop(dir, S_MAX_DEVICES + 8, NULL);
}

/* Waits until every device is RFNOP or timeout_ms passed; returns the RFNOP count. */
static int
s_wait_rfnop(const char *dir, int n, int timeout_ms)
{
    uint64_t end = cmn_time_mono_ms() + (uint64_t) timeout_ms;
    int rfnop = s_count_rfnop(dir);
    while (rfnop < n && cmn_time_mono_ms() < end) {
        (void) poll(NULL, 0, 500); /* polling the simulator's files, with a deadline */
        rfnop = s_count_rfnop(dir);
    }
    return rfnop;
}

/* The operator's pass: discover, approve, onboard (waits for the jobs). */
static void
s_operator_pass(const obt_suite_t *s)
{
    static const char *const discover[] = {"discover", "--window-ms", "800", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    static const char *const list[] = {"--json", "devices", NULL};
    (void) obt_ctl(s, discover, NULL);
    (void) obt_ctl(s, approve, NULL);
    (void) obt_ctl(s, onboard, NULL);
    /* A job failed before its device had a DOC (the device kept its uuid) is retried
     * by naming it (docs/internals.md): `onboard UUID...` for every FAILED job. */
    char *out = NULL;
    char *objs[S_MAX_DEVICES + 8];
    size_t n =
            obt_ctl(s, list, &out) == 0 && out ? obt_json_objects(out, objs, S_MAX_DEVICES + 8) : 0;
    free(out);
    static char uuids[S_MAX_DEVICES + 8][40];
    const char *args[S_MAX_DEVICES + 16] = {"onboard", "--wait-s", "60"};
    size_t k = 3;
    for (size_t i = 0; i < n; i++) {
        char st[32] = "";
        if (obt_json_str(objs[i], "state", st, sizeof st) && strcmp(st, "FAILED") == 0 &&
            obt_json_str(objs[i], "uuid", uuids[i], sizeof uuids[i]) && k < 60) {
            args[k++] = uuids[i];
        }
        free(objs[i]);
    }
    args[k] = NULL;
    if (k > 3) {
        (void) obt_ctl(s, args, NULL);
    }
}

/* The full check of every device (obt_check_onboarded). Returns the failures. */
static int
s_check_all(const obt_suite_t *s, const char *dir)
{
    obt_ids_t ids;
    if (obt_ids(s, &ids) != 0) {
        printf("  CHECK: the suite does not answer health\n");
        return 1;
    }
    char store[700], why[300];
    (void) snprintf(store, sizeof store, "%s/dots-store", dir);
    char *objs[S_MAX_DEVICES + 8];
    size_t n = obt_devsim_dump(dir, objs, S_MAX_DEVICES + 8);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!obt_check_onboarded(objs[i], &ids, store, why, sizeof why)) {
            if (bad++ < 3) {
                printf("  CHECK: %s\n", why);
            }
        }
        free(objs[i]);
    }
    return bad;
}

/* One round: returns false if it could not run at all. */
static bool
s_round(int round, const char *daemon, int n, bool keep, s_tally_t *t)
{
    char *dir = obt_tmpdir("obt-crash");
    obt_suite_t s;
    obt_proc_t sim;
    memset(&sim, 0, sizeof sim);
    char count[16];
    (void) snprintf(count, sizeof count, "%d", n);
    static const char *const sim_args[] = {"--doc-idle-ms", "2000", NULL};
    if (dir == NULL || obt_suite_start(&s, dir, S_DOTS_ARGS) != 0) {
        printf("round %d: the suite did not start\n", round);
        free(dir);
        return false;
    }
    bool is_ok = false;
    bool is_worth_keeping = false; /* this round needed an operator pass, or worse */
    char *out = NULL;
    obt_ids_t ids;
    if (obt_devsim_start_with(&sim, dir, n, NULL, sim_args) != 0 || obt_ids(&s, &ids) != 0 ||
        obt_discover_approve(&s, n, &out) != 0) {
        printf("round %d: no start: %s\n", round, out ? out : "simulator or health failed");
        goto out;
    }
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    if (obt_ctl(&s, onboard, NULL) != 0) {
        printf("round %d: onboard --all refused\n", round);
        goto out;
    }
    /* A random point of the run: after k of the ~20 transitions per device. */
    int k = 1 + rand() % (n * 18);
    (void) obt_proc_wait_log_count(&s.dots, "DOTS-JOB ", k, 60000);
    obt_proc_t *p = strcmp(daemon, "dots") == 0      ? &s.dots
                    : strcmp(daemon, "gateway") == 0 ? &s.gw
                    : strcmp(daemon, "cms") == 0     ? &s.cms
                                                     : &s.ams;
    obt_proc_kill9(p);
    int rfnop_at_kill = s_count_rfnop(dir);
    int owned = 0;
    int bad = s_check_owner_creds(dir, ids.dots, &owned);
    uint64_t t0 = cmn_time_mono_ms();
    bool is_restarted =
            obt_suite_restart(&s, daemon, strcmp(daemon, "dots") == 0 ? S_DOTS_ARGS : NULL) == 0;
    int by_itself = is_restarted ? s_wait_rfnop(dir, n, s_settle_ms) : 0;
    double settle_s = (double) (cmn_time_mono_ms() - t0) / 1000.0;
    int passes = 0, rfnop = by_itself;
    for (; is_restarted && rfnop < n && passes < 3; passes++) {
        s_operator_pass(&s);
        rfnop = s_wait_rfnop(dir, n, 5000);
    }
    int owned_end = 0;
    bad += s_check_owner_creds(dir, ids.dots, &owned_end);
    int check_bad = is_restarted ? s_check_all(&s, dir) : n;
    printf("round %d: kill -9 %s after %d transitions (%d/%d RFNOP, %d owned): owner creds %s; "
           "RFNOP by itself %d/%d (%.1f s); after %d operator pass(es) %d/%d; check %s\n",
           round, daemon, k, rfnop_at_kill, n, owned, bad ? "VIOLATED" : "ok", by_itself, n,
           settle_s, passes, rfnop, n, check_bad ? "FAILED" : "ok");
    (void) fflush(stdout);
    t->rounds++;
    t->violations += bad > 0;
    t->by_itself += by_itself == n;
    t->with_passes += by_itself < n && rfnop == n;
    t->stuck += rfnop < n || check_bad > 0;
    is_worth_keeping = bad > 0 || by_itself < n || check_bad > 0;
    is_ok = true;
out:
    free(out);
    if (!is_ok || (keep && is_worth_keeping)) {
        printf("  logs kept in %s\n", dir);
        obt_suite_stop(&s);
        if (sim.pid) {
            (void) obt_proc_stop(&sim);
        }
        free(dir);
        return is_ok;
    }
    obt_test_end(&s, &sim, &dir);
    return is_ok;
}

static void
s_usage(void)
{
    (void) fprintf(stderr,
                   "usage: obt_crash [--daemon dots|gateway|cms|ams|all] [--rounds R] "
                   "[--devices N] [--seed S] [--short] [--keep]\n"
                   "  kill -9 of the daemon at a random point of an onboarding of N simulated\n"
                   "  devices, R rounds per daemon; exit 0 only if no device ever held an owner\n"
                   "  credential DOTS lacked and every device ended RFNOP and checked.\n"
                   "  --short: DOTS only, 3 rounds of 10 devices, 10 s to recover by itself (the\n"
                   "  ctest; the full run gives 30 s). --keep: keep the folder of a round\n"
                   "  that failed or needed an operator pass. Run it inside scripts/netns.sh.\n");
}

int
main(int argc, char **argv)
{
    const char *which = "dots";
    int rounds = 20, devices = 50;
    bool keep = false;
    unsigned seed = (unsigned) time(NULL);
    for (int i = 1; i < argc; i++) {
        bool has_val = i + 1 < argc;
        if (strcmp(argv[i], "--daemon") == 0 && has_val) {
            which = argv[++i];
        } else if (strcmp(argv[i], "--rounds") == 0 && has_val) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--devices") == 0 && has_val) {
            devices = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && has_val) {
            seed = (unsigned) strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--short") == 0) {
            which = "dots";
            rounds = 3;
            devices = 10;
            s_settle_ms = 10000;
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = true;
        } else {
            s_usage();
            return 2;
        }
    }
    if (rounds < 1 || devices < 1 || devices > S_MAX_DEVICES) {
        (void) fprintf(stderr, "obt_crash: --rounds >= 1, --devices 1..%d\n", S_MAX_DEVICES);
        return 2;
    }
    srand(seed);
    printf("obt_crash: seed %u, %d round(s) of %d devices per daemon\n", seed, rounds, devices);
    s_tally_t tally[S_N_DAEMONS];
    memset(tally, 0, sizeof tally);
    int failed = 0;
    for (size_t d = 0; d < S_N_DAEMONS; d++) {
        if (strcmp(which, "all") != 0 && strcmp(which, S_DAEMONS[d]) != 0) {
            continue;
        }
        for (int r = 1; r <= rounds; r++) {
            if (!s_round(r, S_DAEMONS[d], devices, keep, &tally[d])) {
                failed++;
            }
        }
    }
    printf("daemon   rounds  owner-cred violations  RFNOP by itself  after operator passes  "
           "stuck\n");
    for (size_t d = 0; d < S_N_DAEMONS; d++) {
        const s_tally_t *t = &tally[d];
        if (t->rounds == 0) {
            continue;
        }
        printf("%-8s %6d  %21d  %15d  %21d  %5d\n", S_DAEMONS[d], t->rounds, t->violations,
               t->by_itself, t->with_passes, t->stuck);
        failed += t->violations + t->stuck;
    }
    return failed ? 1 : 0;
}
