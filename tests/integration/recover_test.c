/* recover_test.c — DOTS recovers on its own (issue 9): kill -9 of DOTS while DOCs are
 * open, a restart, and every device reaches RFNOP with no operator command; the devices
 * that reset to a new uuid leave superseded records, hidden by `obtctl devices` and
 * dropped by `obtctl forget`, which refuses what is still ours (issue 11, 5c) */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_time.h"
#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 10

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

/* Retries 3 s after the restart: the simulated devices drop an idle DOC after 2 s. */
static const char *const S_DOTS_ARGS[] = {"--step-timeout-ms", "3000", "--recover-delay-ms", "3000",
                                          NULL};

static void
s_setup(void)
{
    s_dir = obt_tmpdir("recover");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, S_DOTS_ARGS), 0, "the suite did not start");
    static const char *const sim_args[] = {"--doc-idle-ms", "2000", NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, N_DEVICES, NULL, sim_args), 0);
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* Polls the simulator's files until every device is RFNOP or timeout_ms passed. */
static size_t
s_wait_rfnop(int timeout_ms)
{
    uint64_t end = cmn_time_mono_ms() + (uint64_t) timeout_ms;
    size_t rfnop = obt_devsim_count_rfnop(s_dir, N_DEVICES + 4, NULL);
    while (rfnop < N_DEVICES && cmn_time_mono_ms() < end) {
        (void) poll(NULL, 0, 500);
        rfnop = obt_devsim_count_rfnop(s_dir, N_DEVICES + 4, NULL);
    }
    return rfnop;
}

/* The uuid of the first record of `devices --json [--all]` that is superseded (or, with
 * want_rfnop, in RFNOP); "" if none. Returns how many records were listed. */
static size_t
s_find_record(bool all, bool want_rfnop, char uuid[40])
{
    static const char *const list[] = {"--json", "devices", NULL};
    static const char *const list_all[] = {"--json", "devices", "--all", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, all ? list_all : list, &out), 0);
    char *objs[64];
    size_t n = obt_json_objects(out ? out : "[]", objs, 64);
    uuid[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char by[40] = "", st[32] = "";
        (void) obt_json_str(objs[i], "superseded_by", by, sizeof by);
        (void) obt_json_str(objs[i], "state", st, sizeof st);
        bool is_match = want_rfnop ? strcmp(st, "RFNOP") == 0 : by[0] != '\0';
        if (is_match && uuid[0] == '\0') {
            (void) obt_json_str(objs[i], "uuid", uuid, 40);
        }
        free(objs[i]);
    }
    free(out);
    return n;
}

Test(recover,
     kill9_dots_with_docs_open_every_device_reaches_rfnop_by_itself,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard_nowait[] = {"onboard", "--all", "--no-wait", NULL};
    cr_assert_eq(obt_ctl(&s_suite, discover, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, approve, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, onboard_nowait, NULL), 0);
    /* Kill while DOCs are open: those devices drop them and reset to a new uuid. */
    cr_assert_eq(obt_proc_wait_log_count(&s_sim, "SIM-DOC-OPEN", 3, 60000), 0);
    obt_proc_kill9(&s_suite.dots);
    cr_assert_eq(obt_suite_restart(&s_suite, "dots", S_DOTS_ARGS), 0);

    /* No operator command from here on. */
    size_t rfnop = s_wait_rfnop(90000);
    if (rfnop != N_DEVICES) {
        static const char *const list[] = {"devices", "--all", NULL};
        char *out = NULL;
        (void) obt_ctl(&s_suite, list, &out);
        cr_log_error("%s", out ? out : "");
        free(out);
        obt_proc_dump(&s_suite.dots);
    }
    cr_assert_eq(rfnop, N_DEVICES, "only %zu of %d devices reached RFNOP by themselves", rfnop,
                 N_DEVICES);
    cr_assert_gt(obt_proc_log_count(&s_suite.dots, "DOTS-RECOVER "), 0, "nothing was recovered");
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char store[700], why[300];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    char *objs[N_DEVICES + 4];
    size_t n = obt_devsim_dump(s_dir, objs, N_DEVICES + 4);
    for (size_t i = 0; i < n; i++) {
        cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
        free(objs[i]);
    }

    /* Superseded records: listed only with --all, one per device that reset. */
    char old[40], rfnop_uuid[40], none[40];
    size_t listed = s_find_record(false, false, none);
    size_t listed_all = s_find_record(true, false, old);
    int superseded = obt_proc_log_count(&s_suite.dots, "DOTS-SUPERSEDED");
    cr_log_info("%d superseded record(s); %zu listed, %zu with --all", superseded, listed,
                listed_all);
    cr_assert_eq(none[0], '\0', "a superseded record is listed without --all");
    cr_assert_eq(listed, N_DEVICES, "devices lists %zu records for %d devices", listed, N_DEVICES);
    cr_assert_eq(listed_all, N_DEVICES + (size_t) superseded);

    /* forget: an RFNOP device is refused (reset first), an unknown uuid is exit 3. */
    (void) s_find_record(false, true, rfnop_uuid);
    cr_assert_neq(rfnop_uuid[0], '\0');
    const char *forget_rfnop[] = {"forget", rfnop_uuid, NULL};
    cr_assert_eq(obt_ctl(&s_suite, forget_rfnop, NULL), 1, "forget of an RFNOP device");
    static const char *const forget_unknown[] = {"forget", "00000000-1111-2222-3333-444444444444",
                                                 NULL};
    cr_assert_eq(obt_ctl(&s_suite, forget_unknown, NULL), 3);
    if (old[0] == '\0') {
        cr_log_warn("the kill left no superseded record: forget of one not exercised");
        return;
    }
    const char *forget_old[] = {"forget", old, NULL};
    cr_assert_eq(obt_ctl(&s_suite, forget_old, NULL), 0, "forget of superseded %s", old);
    char again[40];
    cr_assert_eq(s_find_record(true, false, again), listed_all - 1, "%s still listed", old);
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, N_DEVICES + 4, NULL), N_DEVICES);
}

static void
s_setup_drop(void)
{
    /* no automatic retry: the operator's discovery alone marks the record superseded */
    static const char *const dots_args[] = {"--step-timeout-ms", "3000", "--recover-attempts", "0",
                                            NULL};
    s_dir = obt_tmpdir("recover-drop");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, dots_args), 0, "the suite did not start");
    /* the device closes its DOC at the sdi POST: after DOTS stored the owner PSK */
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 1, "0:drop-doc:/oic/sec/sdi"), 0);
}

/* The device's current uuid once it is back in RFOTM, unowned, under another uuid than
 * old ("" after 10 s). */
static void
s_wait_reset(const char *old, char now[40])
{
    uint64_t end = cmn_time_mono_ms() + 10000;
    now[0] = '\0';
    while (cmn_time_mono_ms() < end) {
        char *dump[2];
        cr_assert_eq(obt_devsim_dump(s_dir, dump, 2), 1);
        char uuid[40] = "";
        (void) obt_json_str(dump[0], "uuid", uuid, sizeof uuid);
        bool is_reset = strcmp(uuid, old) != 0 && strstr(dump[0], "\"owned\":false") != NULL;
        free(dump[0]);
        if (is_reset) {
            (void) snprintf(now, 40, "%s", uuid);
            return;
        }
        (void) poll(NULL, 0, 100); /* polling the device's own state file */
    }
}

Test(recover,
     forget_refuses_an_owned_record_until_the_device_is_seen_under_a_new_uuid,
     .init = s_setup_drop,
     .fini = s_teardown,
     .timeout = 180)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    cr_assert_eq(obt_ctl(&s_suite, discover, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, approve, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, onboard, NULL), 1, "the dropped DOC must fail the job");
    char first[40], none[40];
    cr_assert_eq(s_find_record(false, false, none), 1);
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, list, &out), 0);
    cr_assert(obt_json_str(out, "uuid", first, sizeof first));
    cr_assert_not_null(strstr(out, "\"owned\":true"), "DOTS stored no owner PSK: %s", out);
    free(out);

    /* DOTS holds its owner PSK and nothing says the device let it go: refused. */
    const char *forget_first[] = {"forget", first, NULL};
    cr_assert_eq(obt_ctl(&s_suite, forget_first, NULL), 1, "forget of an owned record");

    /* The device reset; the operator's discovery finds it under its new uuid. */
    char now[40];
    s_wait_reset(first, now);
    cr_assert_neq(now[0], '\0', "the device did not reset");
    cr_assert_eq(obt_ctl(&s_suite, discover, NULL), 0);
    char old[40];
    cr_assert_eq(s_find_record(false, false, none), 1, "the superseded record is listed");
    cr_assert_eq(s_find_record(true, false, old), 2);
    cr_assert_str_eq(old, first);
    const char *show_now[] = {"--json", "show", now, NULL};
    cr_assert_eq(obt_ctl(&s_suite, show_now, &out), 0);
    cr_assert_not_null(strstr(out, "\"state\":\"DISCOVERED\""),
                       "an operator's discovery approved nothing: %s", out);
    free(out);
    const char *onboard_old[] = {"onboard", first, "--wait-s", "5", NULL};
    cr_assert_neq(obt_ctl(&s_suite, onboard_old, NULL), 0, "a superseded record is not queued");

    /* Superseded: forget drops the record and its secrets. */
    cr_assert_eq(obt_ctl(&s_suite, forget_first, NULL), 0);
    cr_assert_eq(s_find_record(true, false, old), 1);
    char store[700], hex[33];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    obt_dots_owner_psk_hex(store, first, hex);
    cr_assert_str_empty(hex, "the forgotten record's owner PSK is still stored");
}
