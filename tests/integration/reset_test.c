/* reset_test.c — reset and offboarding: a reset device is forgotten by DOTS, CMS and
 * AMS and comes back under a new UUID; an unreachable one is kept (RESET_PENDING)
 * until --forget; kill -9 of DOTS during resets never leaves a device owned by us but
 * unknown; repair (SRESET) restores a damaged ACL */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "obt_checks.h"
#include "obt_json.h"

#define MAX_DEVICES 8

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static void
s_start(const char *tag, int n_devices, const char *faults)
{
    static const char *const dots_args[] = {"--step-timeout-ms", "1500", NULL};
    s_dir = obt_tmpdir(tag);
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, dots_args), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, n_devices, faults), 0, "devsim did not start");
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl(&s_suite, args, out);
}

/* Discovers, approves and onboards every unowned device; returns how many were found. */
static int
s_onboard_all(void)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    char *out = NULL;
    int found = -1;
    cr_assert_eq(s_ctl(discover, &out), 0, "discover failed: %s", out);
    const char *p = strstr(out, "found ");
    if (p) {
        found = atoi(p + 6);
    }
    free(out);
    cr_assert_eq(s_ctl(approve, NULL), 0);
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    free(out);
    return found;
}

/* The devices' current UUIDs and owned flags, by devsim index. */
typedef struct {
    char uuid[40];
    bool is_owned;
    char state[16];
} s_dev_t;

static size_t
s_dump(s_dev_t *devs)
{
    char *objs[MAX_DEVICES];
    size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVICES);
    for (size_t i = 0; i < n; i++) {
        const char *pstat = strstr(objs[i], "\"pstat\":");
        cr_assert(obt_json_str(objs[i], "uuid", devs[i].uuid, sizeof devs[i].uuid));
        devs[i].is_owned = strstr(objs[i], "\"owned\":true") != NULL;
        cr_assert(pstat && obt_json_str(pstat, "state", devs[i].state, sizeof devs[i].state));
        free(objs[i]);
    }
    return n;
}

static void
s_store_dir(const char *which, char *out, size_t len)
{
    (void) snprintf(out, len, "%s/%s-store", s_dir, which);
}

/* 0: in no store, 3: in all three, else partial (a bit per store). */
static int
s_known(const char *uuid)
{
    char d[700], c[700], a[700];
    s_store_dir("dots", d, sizeof d);
    s_store_dir("cms", c, sizeof c);
    s_store_dir("ams", a, sizeof a);
    int bits = obt_dots_store_has(d, uuid) | obt_svc_store_has(c, uuid) << 1 |
               obt_svc_store_has(a, uuid) << 2;
    return bits == 0 ? 0 : bits == 7 ? 3 : bits;
}

/* Waits until devsim reports device idx with another uuid than old (it resets
 * reset-delay-ms after answering). */
static void
s_wait_device_reset(size_t idx, const char *old, s_dev_t *devs)
{
    for (int i = 0; i < 100; i++) {
        s_dump(devs);
        if (strcmp(devs[idx].uuid, old) != 0) {
            return;
        }
        (void) usleep(100 * 1000); /* polling the device's own state file */
    }
    cr_assert_fail("device %zu did not reset", idx);
}

/* `obtctl reset uuid` of device idx: exit 0, DOTS no longer knows it, and the device
 * is in its factory state (RFOTM, unowned) under a new uuid, in after. */
static void
s_reset_forgotten(size_t idx, const char *uuid, s_dev_t *after)
{
    const char *reset[] = {"reset", uuid, NULL};
    char *out = NULL;
    int rc = s_ctl(reset, &out);
    if (rc != 0) {
        obt_suite_dump(&s_suite);
        obt_proc_dump(&s_sim);
    }
    cr_assert_eq(rc, 0, "reset failed: exit %d: %s", rc, out ? out : "");
    cr_assert(strstr(out, "every record removed") != NULL, "reset: %s", out);
    free(out);
    const char *show[] = {"show", uuid, NULL};
    cr_assert_eq(s_ctl(show, NULL), 3, "DOTS still shows the reset device");
    s_wait_device_reset(idx, uuid, after);
    cr_assert_not(after[idx].is_owned);
    cr_assert_str_eq(after[idx].state, "RFOTM");
}

Test(reset,
     one_of_three_is_forgotten_everywhere_and_onboards_again,
     .fini = s_teardown,
     .timeout = 240)
{
    s_start("reset", 3, NULL);
    cr_assert_eq(s_onboard_all(), 3);
    s_dev_t before[MAX_DEVICES], after[MAX_DEVICES];
    cr_assert_eq(s_dump(before), 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert(before[i].is_owned);
        cr_assert_eq(s_known(before[i].uuid), 3, "device %zu not in every store", i);
    }

    s_reset_forgotten(0, before[0].uuid, after);

    /* The other two untouched. */
    for (size_t i = 1; i < 3; i++) {
        cr_assert_str_eq(after[i].uuid, before[i].uuid);
        cr_assert(after[i].is_owned);
        cr_assert_str_eq(after[i].state, "RFNOP");
    }

    /* Discoverable again, and onboarded again under its new identity. */
    cr_assert_eq(s_onboard_all(), 1, "the reset device must be the only unowned one");
    cr_assert_eq(s_dump(after), 3);
    cr_assert(after[0].is_owned);
    cr_assert_str_eq(after[0].state, "RFNOP");

    /* Every store, read with the daemons stopped. */
    obt_suite_stop(&s_suite);
    cr_assert_eq(s_known(before[0].uuid), 0, "a record of the reset device is left");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(s_known(after[i].uuid), 3, "device %zu not in every store", i);
    }
}

Test(reset, unreachable_device_is_kept_until_forget, .fini = s_teardown, .timeout = 240)
{
    s_start("reset-offline", 2, NULL);
    cr_assert_eq(s_onboard_all(), 2);
    s_dev_t devs[MAX_DEVICES];
    cr_assert_eq(s_dump(devs), 2);
    cr_assert_eq(obt_proc_stop(&s_sim), 0);

    const char *reset[] = {"reset", devs[0].uuid, NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(reset, NULL), 4, "an unreachable device is a timeout (exit 4)");
    const char *show[] = {"--json", "show", devs[0].uuid, NULL};
    cr_assert_eq(s_ctl(show, &out), 0, "the record must stay");
    cr_assert(strstr(out, "\"state\":\"RESET_PENDING\"") != NULL, "show: %s", out);
    cr_assert(strstr(out, "unreachable") != NULL || strstr(out, "timeout") != NULL, "show: %s",
              out);
    free(out);
    cr_assert_eq(s_known(devs[0].uuid), 3, "records must be kept while the reset is pending");
    static const char *const list[] = {"devices", "--state", "RESET_PENDING", NULL};
    cr_assert_eq(s_ctl(list, &out), 0);
    cr_assert(strstr(out, devs[0].uuid) != NULL, "devices --state RESET_PENDING: %s", out);
    free(out);

    const char *forget[] = {"reset", devs[0].uuid, "--forget", NULL};
    cr_assert_eq(s_ctl(forget, NULL), 0);
    cr_assert_eq(s_ctl(show, NULL), 3);
    cr_assert_eq(s_known(devs[0].uuid), 0, "--forget must drop every record");
    cr_assert_eq(s_known(devs[1].uuid), 3, "the other device is untouched");
}

Test(reset, unknown_or_unowned_device_is_a_clear_error, .fini = s_teardown, .timeout = 120)
{
    s_start("reset-errors", 1, NULL);
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    cr_assert_eq(s_ctl(discover, NULL), 0);
    s_dev_t devs[MAX_DEVICES];
    cr_assert_eq(s_dump(devs), 1);
    static const char *const unknown[] = {"reset", "01234567-89ab-cdef-0123-456789abcdef", NULL};
    cr_assert_eq(s_ctl(unknown, NULL), 3);
    const char *rfotm[] = {"reset", devs[0].uuid, NULL};
    cr_assert_eq(s_ctl(rfotm, NULL), 1, "a device in RFOTM is not ours to reset");
    const char *repair[] = {"repair", devs[0].uuid, NULL};
    cr_assert_eq(s_ctl(repair, NULL), 1);
    static const char *const usage[] = {"reset", NULL};
    cr_assert_eq(s_ctl(usage, NULL), 2);
}

/* Starts devsim again on the same devices with faults (its log is appended to). */
static void
s_restart_devsim(int n_devices, const char *faults)
{
    cr_assert_eq(obt_proc_stop(&s_sim), 0);
    int ready = obt_proc_log_count(&s_sim, " READY ");
    (void) obt_devsim_start(&s_sim, s_dir, n_devices, faults);
    cr_assert_eq(obt_proc_wait_log_count(&s_sim, " READY ", ready + 1, 20000), 0,
                 "devsim did not start again");
}

/* `obtctl args` in a child whose stderr goes to <dir>/name.log: its exit status, and
 * the log's first line in err. */
static int
s_ctl_stderr(const char *name, const char *const *args, char *err, size_t err_len)
{
    char path[700];
    (void) snprintf(path, sizeof path, "%s/%s.log", s_dir, name);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        _exit(freopen(path, "w", stderr) ? obt_ctl(&s_suite, args, NULL) : 127);
    }
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child); /* obtctl's own --wait-s bounds it */
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(err, (int) err_len, f) == NULL) {
        err[0] = '\0'; /* nothing said */
    }
    if (f) {
        (void) fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* docs/internals.md "Recovery": a device that stays owned in RFOTM (a stack that does
 * not reset when its ownership transfer is cut short) is reset by `obtctl reset` over
 * the owner PSK DOTS holds; without that PSK, reset refuses with the reason. devsim's
 * test-only fault owned-rfotm makes such devices from onboarded ones. */
Test(reset,
     a_device_stuck_owned_in_rfotm_is_reset_over_the_owner_psk_dots_holds,
     .fini = s_teardown,
     .timeout = 240)
{
    s_start("reset-stuck", 2, NULL);
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(discover, &out), 0);
    cr_assert(strstr(out, "found 2 unowned") != NULL, "discover: %s", out);
    free(out);
    s_dev_t before[MAX_DEVICES], mid[MAX_DEVICES], after[MAX_DEVICES];
    cr_assert_eq(s_dump(before), 2);
    /* Device 0 is onboarded; device 1 stays DISCOVERED (DOTS holds no key of it). */
    const char *approve0[] = {"approve", before[0].uuid, NULL};
    cr_assert_eq(s_ctl(approve0, NULL), 0);
    const char *onboard0[] = {"onboard", before[0].uuid, "--wait-s", "60", NULL};
    cr_assert_eq(s_ctl(onboard0, NULL), 0);
    cr_assert_eq(s_dump(before), 2); /* device 0's uuid is the one DOTS gave it */
    cr_assert(before[0].is_owned && !before[1].is_owned);

    /* Both in RFOTM with owned=true, and neither resets by itself: device 0 keeps its
     * credentials (DOTS's owner PSK), device 1 has an owner DOTS does not know. */
    s_restart_devsim(2, "0:owned-rfotm,1:owned-rfotm");
    cr_assert_eq(s_dump(mid), 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_str_eq(mid[i].uuid, before[i].uuid);
        cr_assert(mid[i].is_owned, "device %zu is not owned", i);
        cr_assert_str_eq(mid[i].state, "RFOTM");
    }

    /* Device 0: the owner PSK DOTS holds resets it; every record goes. */
    s_reset_forgotten(0, before[0].uuid, after);

    /* Device 1: DOTS holds no owner PSK for it: refused, with the reason; untouched. */
    const char *reset1[] = {"reset", before[1].uuid, NULL};
    char err[400];
    int rc = s_ctl_stderr("reset-1", reset1, err, sizeof err);
    cr_log_info("reset without the owner PSK: exit %d: %s", rc, err);
    cr_expect_eq(rc, 1, "reset without the owner PSK: exit %d", rc);
    cr_expect(strstr(err, "holds no owner credential") != NULL, "reset without the owner PSK: %s",
              err);
    cr_assert_eq(s_dump(after), 2);
    cr_assert_str_eq(after[1].uuid, before[1].uuid);
    cr_assert(after[1].is_owned);
    const char *show1[] = {"--json", "show", before[1].uuid, NULL};
    cr_assert_eq(s_ctl(show1, &out), 0, "the record of device 1 must stay");
    cr_expect(strstr(out, "\"state\":\"DISCOVERED\"") != NULL, "show: %s", out);
    free(out);

    /* Device 0 onboards again under its new uuid: back to RFNOP. */
    cr_assert_eq(s_ctl(discover, NULL), 0);
    const char *approve[] = {"approve", after[0].uuid, NULL};
    cr_assert_eq(s_ctl(approve, NULL), 0);
    const char *onboard[] = {"onboard", after[0].uuid, "--wait-s", "60", NULL};
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard: %s", out);
    free(out);
    cr_assert_eq(s_dump(after), 2);
    cr_assert(after[0].is_owned);
    cr_assert_str_eq(after[0].state, "RFNOP");

    /* Every store, read with the daemons stopped. */
    obt_suite_stop(&s_suite);
    cr_assert_eq(s_known(before[0].uuid), 0, "a record of the reset device is left");
    cr_assert_eq(s_known(after[0].uuid), 3, "the onboarded device is not in every store");
}

/* Each device is either fully known (all three stores) or fully forgotten, and every
 * device that is owned (by us: there is no other owner here) is fully known. */
static void
s_check_invariant(char (*old)[40], size_t n_old)
{
    s_dev_t devs[MAX_DEVICES];
    size_t n = 0;
    /* A device that acknowledged its reset does it reset-delay-ms later (pstat RESET):
     * let it finish before judging. */
    for (int tries = 0; tries < 50; tries++) {
        n = s_dump(devs);
        bool is_pending = false;
        for (size_t i = 0; i < n; i++) {
            is_pending |= strcmp(devs[i].state, "RESET") == 0;
        }
        if (!is_pending) {
            break;
        }
        (void) usleep(100 * 1000);
    }
    for (size_t i = 0; i < n; i++) {
        int k = s_known(devs[i].uuid);
        if (devs[i].is_owned) {
            cr_assert_eq(k, 3, "device %zu (%s) is owned but known to stores %d", i, devs[i].uuid,
                         k);
        }
    }
    for (size_t i = 0; i < n_old; i++) {
        int k = s_known(old[i]);
        cr_assert(k == 0 || k == 3, "device %s half forgotten (stores %d)", old[i], k);
    }
}

Test(reset,
     kill9_of_dots_during_resets_keeps_every_device_known_or_forgotten,
     .fini = s_teardown,
     .timeout = 400)
{
    enum { N = 6 };
    s_start("reset-crash", N, NULL);
    cr_assert_eq(s_onboard_all(), N);
    s_dev_t devs[MAX_DEVICES];
    cr_assert_eq(s_dump(devs), N);
    char old[N][40];
    for (size_t i = 0; i < N; i++) {
        cr_assert_lt(snprintf(old[i], sizeof old[i], "%s", devs[i].uuid), (int) sizeof old[i]);
    }
    srand((unsigned) time(NULL));
    /* Five of the six: reset each while DOTS is killed at a random moment. */
    for (size_t i = 0; i < N - 1; i++) {
        obt_proc_t ctl;
        const char *args[] = {"--keys-dir", s_suite.keys, "--dots", s_suite.ep_dots,
                              "reset",      old[i],       NULL};
        char name[16];
        (void) snprintf(name, sizeof name, "reset-%zu", i);
        cr_assert_eq(obt_proc_start(&ctl, s_dir, name, "obtctl", args), 0);
        /* Kill points: inside each committed step, held there by stopping the peer
         * it waits for (gateway: the device is told while DOTS is down; CMS; AMS),
         * or at a random moment after the request. */
        static const char *const steps[] = {"NONE --RESET--> RESETTING",
                                            "RESETTING --OK--> FORGET_CMS",
                                            "FORGET_CMS --OK--> FORGET_AMS", NULL, NULL};
        obt_proc_t *held[] = {&s_suite.gw, &s_suite.cms, &s_suite.ams, NULL, NULL};
        int delay_ms = rand() % 150;
        if (held[i]) {
            char token[200];
            cr_assert_eq(kill(held[i]->pid, SIGSTOP), 0);
            (void) snprintf(token, sizeof token, "dev=%s %s", old[i], steps[i]);
            cr_assert_eq(obt_proc_wait_log(&s_suite.dots, token, 20000), 0, "no \"%s\"", token);
        } else {
            (void) usleep((useconds_t) delay_ms * 1000);
        }
        obt_proc_kill9(&s_suite.dots);
        if (held[i]) {
            cr_assert_eq(kill(held[i]->pid, SIGCONT), 0);
        }
        (void) obt_proc_stop(&ctl);
        if (held[i]) {
            cr_log_info("device %zu: DOTS killed in %s", i, steps[i]);
        } else {
            cr_log_info("device %zu: DOTS killed %d ms after the request", i, delay_ms);
        }
        cr_assert_eq(obt_suite_restart(&s_suite, "dots", NULL), 0);
        /* Whatever the kill interrupted resumes; asking again waits for it (or starts
         * it if the kill came first). 3 = already forgotten. */
        const char *again[] = {"reset", old[i], NULL};
        int rc = s_ctl(again, NULL);
        cr_assert(rc == 0 || rc == 3, "reset of %s after the restart: exit %d", old[i], rc);
        s_check_invariant(old, N);
    }
    /* The log is appended across restarts: the kills did interrupt jobs. */
    int resumed = obt_proc_log_count(&s_suite.dots, "DOTS-MAINT-RESUME");
    cr_log_info("%d reset jobs resumed after a kill", resumed);
    cr_assert_geq(resumed, 3, "the kills did not land inside the reset jobs");
    obt_suite_stop(&s_suite);
    s_check_invariant(old, N);
    for (size_t i = 0; i < N - 1; i++) {
        cr_assert_eq(s_known(old[i]), 0, "device %zu not forgotten", i);
    }
    cr_assert_eq(s_known(old[N - 1]), 3, "the device never reset must stay known");
}

Test(repair, damaged_acl_is_restored_and_device_back_in_rfnop, .fini = s_teardown, .timeout = 240)
{
    s_start("repair", 2, NULL);
    cr_assert_eq(s_onboard_all(), 2);
    cr_assert_eq(obt_proc_stop(&s_sim), 0);
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 2, "0:damage-acl"), 0);
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char store[700], why[300], uuid[40];
    s_store_dir("dots", store, sizeof store);
    char *objs[MAX_DEVICES];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, MAX_DEVICES), 2);
    cr_assert_not(obt_check_onboarded(objs[0], &ids, store, why, sizeof why),
                  "the damage must show");
    cr_assert(obt_json_str(objs[0], "uuid", uuid, sizeof uuid));
    free(objs[0]);
    free(objs[1]);

    const char *repair[] = {"repair", uuid, NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(repair, &out), 0, "repair failed: %s", out);
    cr_assert(strstr(out, "RFNOP") != NULL, "%s", out);
    free(out);
    cr_assert_eq(obt_devsim_dump(s_dir, objs, MAX_DEVICES), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
        const char *acl = strstr(objs[i], "\"acl2\":");
        cr_assert(acl && strstr(acl, "/oic/sec/sp") && strstr(acl, "/oic/sec/csr"),
                  "baseline ACEs missing: %s", acl);
        free(objs[i]);
    }
    const char *show[] = {"--json", "show", uuid, NULL};
    cr_assert_eq(s_ctl(show, &out), 0);
    cr_assert(strstr(out, "\"state\":\"RFNOP\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"state\":\"provisioned\"") != NULL, "AMS view: %s", out);
    free(out);
}
