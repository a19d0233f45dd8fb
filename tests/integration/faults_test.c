/* faults_test.c — bad input and faults: malformed CBOR and CoAP from devices, a device
 * that stops answering, a device that answers 4.00, an unknown protobuf message, a
 * client without the right CURVE key, a device that drops the DOC halfway. Each gets a
 * clear error, no daemon crashes, the healthy devices still reach RFNOP. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_bus.h"
#include "obt/dots.pb-c.h"
#include "obt_checks.h"
#include "obt_json.h"

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_setup(void)
{
    static const char *const dots_args[] = {"--step-timeout-ms", "1500", NULL};
    s_dir = obt_tmpdir("faults");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, dots_args), 0, "the suite did not start");
    /* 0: malformed CBOR on unicast doxm; 1: silent from the owner cred on; 2: 4.00 on
     * POST pstat; 3: junk datagrams next to its multicast replies; 4: healthy. */
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 5,
                                  "0:bad-cbor:/oic/sec/doxm,1:silent:/oic/sec/cred,"
                                  "2:error:/oic/sec/pstat,3:bad-coap"),
                 0);
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static void
s_expect_error(char **objs, size_t n, const char *first_uuid, const char *needle)
{
    for (size_t i = 0; i < n; i++) {
        char first[40], state[32], error[400];
        cr_assert(obt_json_str(objs[i], "first_uuid", first, sizeof first));
        if (strcmp(first, first_uuid) != 0) {
            continue;
        }
        cr_assert(obt_json_str(objs[i], "state", state, sizeof state));
        (void) obt_json_str(objs[i], "error", error, sizeof error);
        cr_assert_str_eq(state, "FAILED", "device %s should have failed", first_uuid);
        cr_assert(strstr(error, needle) != NULL, "error \"%s\" should mention \"%s\"", error,
                  needle);
        return;
    }
    cr_assert_fail("device %s not in DOTS", first_uuid);
}

Test(faults, device_faults_fail_their_job_only, .init = s_setup, .fini = s_teardown, .timeout = 180)
{
    /* The uuids of devices 0..4 from devsim's DEVICE lines. */
    char first[5][40];
    char *dump[8];
    size_t nd = obt_devsim_dump(s_dir, dump, 8);
    cr_assert_eq(nd, 5);
    for (size_t i = 0; i < nd; i++) {
        cr_assert(obt_json_str(dump[i], "uuid", first[i], sizeof first[i]));
        free(dump[i]);
    }
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, discover, &out), 0);
    cr_assert(strstr(out, "found 5 unowned") != NULL, "junk datagrams must not hide devices: %s",
              out);
    free(out);
    cr_assert_eq(obt_ctl(&s_suite, approve, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, onboard, NULL), 1, "onboard must report the failures");
    cr_assert_eq(obt_ctl(&s_suite, list, &out), 0);
    char *objs[16];
    size_t n = obt_json_objects(out, objs, 16);
    free(out);
    cr_assert_eq(n, 5);
    s_expect_error(objs, n, first[0], "invalid CBOR");
    s_expect_error(objs, n, first[1], "OWNER_CRED");
    s_expect_error(objs, n, first[2], "4.00");
    for (size_t i = 0; i < n; i++) {
        char f[40], state[32];
        (void) obt_json_str(objs[i], "first_uuid", f, sizeof f);
        (void) obt_json_str(objs[i], "state", state, sizeof state);
        if (strcmp(f, first[3]) == 0 || strcmp(f, first[4]) == 0) {
            cr_assert_str_eq(state, "RFNOP", "healthy device %s did not reach RFNOP", f);
        }
        free(objs[i]);
    }
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(obt_ctl(&s_suite, health, NULL), 0, "a daemon died");
    cr_assert(obt_proc_alive(&s_sim), "devsim died");
}

Test(faults,
     unknown_protobuf_gets_eproto_and_wrong_curve_key_gets_nothing,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    cmn_err_t err;
    cmn_bus_client_t *c = cmn_bus_client_new(s_suite.ep_dots, s_suite.keys, "obtctl", "dots", &err);
    cr_assert_not_null(c);
    /* A Request with an unknown body field (99) and corr_id 4242. */
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    req.corr_id = 4242;
    uint8_t *data = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_bus_client_call(c, &req.base, 4242, 5000, &data, &len), CMN_OK);
    Obt__Dots__Reply *r = obt__dots__reply__unpack(NULL, len, data);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, OBT__STATUS__STATUS_EPROTO);
    cr_assert(strstr(r->error, "unknown") != NULL, "error: %s", r->error);
    obt__dots__reply__free_unpacked(r, NULL);
    free(data);
    /* Bytes that are no protobuf at all. */
    zframe_t *junk = zframe_new("\x08\xc2\x21\xff\xff\xff", 6);
    cr_assert_eq(zframe_send(&junk, cmn_bus_client_sock(c), 0), 0);
    zpoller_t *poller = zpoller_new(cmn_bus_client_sock(c), NULL);
    cr_assert_not_null(zpoller_wait(poller, 5000), "no reply to a malformed message");
    zpoller_destroy(&poller);
    cr_assert_eq(cmn_bus_client_recv(c, &data, &len), CMN_OK);
    r = obt__dots__reply__unpack(NULL, len, data);
    cr_assert_not_null(r);
    cr_assert_eq(r->status, OBT__STATUS__STATUS_EPROTO);
    obt__dots__reply__free_unpacked(r, NULL);
    free(data);
    cmn_bus_client_destroy(&c);

    /* A client with keys of its own: zauth refuses it, nothing comes back. */
    char other[700];
    (void) snprintf(other, sizeof other, "%s/other-keys", s_dir);
    cr_assert_eq(cmn_bus_keys_create(other, false), CMN_OK);
    c = cmn_bus_client_new(s_suite.ep_dots, other, "obtctl", "dots", &err);
    cr_assert_not_null(c);
    Obt__Health h = OBT__HEALTH__INIT;
    req.body_case = OBT__DOTS__REQUEST__BODY_HEALTH;
    req.health = &h;
    req.corr_id = 7;
    cr_assert_eq(cmn_bus_client_call(c, &req.base, 7, 1500, &data, &len), CMN_ETIMEDOUT);
    cmn_bus_client_destroy(&c);
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(obt_ctl(&s_suite, health, NULL), 0, "a daemon died");
}

/* The device's current uuid, state and owned flag from one --dump object. */
static void
s_dev_state(const char *obj, char uuid[40], char state[16], bool *owned)
{
    const char *pstat = strstr(obj, "\"pstat\":");
    cr_assert(obt_json_str(obj, "uuid", uuid, 40));
    cr_assert(pstat && obt_json_str(pstat, "state", state, 16));
    *owned = strstr(obj, "\"owned\":true") != NULL;
}

static void
s_drop_setup(void)
{
    static const char *const dots_args[] = {"--step-timeout-ms", "3000", NULL};
    s_dir = obt_tmpdir("drop-doc");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, dots_args), 0, "the suite did not start");
    /* 0: closes the DOC when DOTS POSTs sdi (step 10: after the owner credential);
     * 1: healthy. */
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 2, "0:drop-doc:/oic/sec/sdi"), 0);
}

Test(faults,
     device_that_drops_the_doc_halfway_fails_cleanly_and_onboards_again,
     .init = s_drop_setup,
     .fini = s_teardown,
     .timeout = 180)
{
    char *dump[4];
    cr_assert_eq(obt_devsim_dump(s_dir, dump, 4), 2);
    char first[40], state[16];
    bool owned = false;
    s_dev_state(dump[0], first, state, &owned);
    free(dump[0]);
    free(dump[1]);

    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    cr_assert_eq(obt_ctl(&s_suite, discover, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, approve, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, onboard, NULL), 1, "onboard must report the failure");

    /* The job failed at the step the device dropped, with the reason. */
    const char *show[] = {"--json", "show", first, NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, show, &out), 0);
    cr_assert(strstr(out, "\"state\":\"FAILED\"") != NULL, "show: %s", out);
    cr_assert(strstr(out, "SDI") != NULL, "the failed step must be named: %s", out);
    cr_assert(strstr(out, "closed") != NULL, "the closed DOC must be the reason: %s", out);
    free(out);

    /* The device reset itself (DOC dropped in RFOTM): unowned, in RFOTM, under a new
     * uuid; CMS and AMS never heard of it. */
    char now[40] = "";
    for (int i = 0; i < 50; i++) {
        size_t n = obt_devsim_dump(s_dir, dump, 4);
        cr_assert_eq(n, 2);
        s_dev_state(dump[0], now, state, &owned);
        free(dump[0]);
        free(dump[1]);
        if (strcmp(state, "RFOTM") == 0 && !owned) {
            break;
        }
        (void) usleep(100 * 1000); /* polling the device's own state file */
    }
    cr_assert_str_eq(state, "RFOTM");
    cr_assert(!owned, "the device must not stay owned");
    char cms[700], ams[700];
    (void) snprintf(cms, sizeof cms, "%s/cms-store", s_dir);
    (void) snprintf(ams, sizeof ams, "%s/ams-store", s_dir);
    cr_assert(!obt_svc_store_has(cms, first) && !obt_svc_store_has(cms, now),
              "CMS has a record of the failed device");
    cr_assert(!obt_svc_store_has(ams, first) && !obt_svc_store_has(ams, now),
              "AMS has a record of the failed device");

    /* The operator onboards it again: found again, RFNOP, every check of the slice. */
    cr_assert_eq(obt_ctl(&s_suite, discover, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, approve, NULL), 0);
    const char *again[] = {"onboard", now, "--wait-s", "60", NULL};
    cr_assert_eq(obt_ctl(&s_suite, again, NULL), 0, "the reset device must onboard now");
    /* The failed job's record is the operator's to drop. */
    const char *forget[] = {"reset", first, "--forget", NULL};
    cr_assert_eq(obt_ctl(&s_suite, forget, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, show, NULL), 3, "the failed record must be gone");
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char dots[700], why[300];
    (void) snprintf(dots, sizeof dots, "%s/dots-store", s_dir);
    cr_assert_eq(obt_devsim_dump(s_dir, dump, 4), 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert(obt_check_onboarded(dump[i], &ids, dots, why, sizeof why), "device %zu: %s", i,
                  why);
        free(dump[i]);
    }
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(obt_ctl(&s_suite, health, NULL), 0, "a daemon died");
}

/* A full disk under DOTS's store while it records a discovery: `obtctl discover` fails
 * with the reason and the path, and DOTS lists only what it stored (the same list after
 * a restart). The store is on a small tmpfs (the tests run as root). */
Test(faults, discovery_into_a_full_disk_fails_with_the_reason_and_claims_nothing, .timeout = 180)
{
    char *dir = obt_tmpdir("full-disk");
    cr_assert_not_null(dir);
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", dir);
    cr_assert_eq(mkdir(store, 0700), 0);
    if (mount("tmpfs", store, "tmpfs", 0, "size=96k") != 0) {
        obt_rmrf(dir);
        free(dir);
        cr_skip_test("cannot mount a tmpfs here");
    }
    obt_suite_t suite;
    obt_proc_t sim;
    memset(&sim, 0, sizeof sim);
    int started = obt_suite_start(&suite, dir, NULL);
    if (started == 0) {
        started = obt_devsim_start(&sim, dir, 300, NULL);
    }
    static const char *const discover[] = {"discover", "--window-ms", "1000", NULL};
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL, *before = NULL, *after = NULL;
    int rc = started == 0 ? obt_ctl(&suite, discover, &out) : -1;
    int rc_list = started == 0 ? obt_ctl(&suite, list, &before) : -1;
    bool logged = obt_proc_log_count(&suite.dots, "No space left on device") > 0 &&
                  obt_proc_log_count(&suite.dots, store) > 0;
    int restarted = -1;
    if (started == 0) {
        (void) obt_proc_stop(&suite.dots);
        restarted = obt_suite_restart(&suite, "dots", NULL);
    }
    int rc_after = restarted == 0 ? obt_ctl(&suite, list, &after) : -1;
    size_t n_before = 0, n_after = 0;
    char *objs[400];
    n_before = before ? obt_json_objects(before, objs, 400) : 0;
    for (size_t i = 0; i < n_before; i++) {
        free(objs[i]);
    }
    n_after = after ? obt_json_objects(after, objs, 400) : 0;
    for (size_t i = 0; i < n_after; i++) {
        free(objs[i]);
    }
    if (rc == 0 || !logged) {
        obt_suite_dump(&suite);
    }
    cr_log_info("discover exited %d; %zu devices listed before DOTS's restart, %zu after", rc,
                n_before, n_after);
    (void) obt_proc_stop(&sim);
    obt_suite_stop(&suite);
    (void) umount(store);
    obt_rmrf(dir);
    free(dir);
    free(out);
    free(before);
    free(after);
    cr_assert_eq(started, 0, "the suite did not start on a 96 KiB disk");
    cr_assert_neq(rc, 0, "discover into a full disk exited 0");
    cr_assert(logged, "DOTS did not log \"No space left on device\" with the store's path");
    cr_assert_eq(rc_list, 0);
    cr_assert_eq(rc_after, 0);
    cr_assert_lt(n_before, 300u, "DOTS claims every device although its disk is full");
    cr_assert_eq(n_before, n_after, "%zu devices listed before the restart, %zu after", n_before,
                 n_after);
}

/* The number after "key": in obj (0 if absent). */
static unsigned long long
s_json_num(const char *obj, const char *key)
{
    char pat[64];
    (void) snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(obj, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* The device's state in DOTS's `--json devices` (first uuid first_uuid) into state and
 * its error into error, its retry_at_ms and recover_attempts into nums[0], nums[1] (nums
 * may be NULL); false if it is not listed. */
static bool
s_dots_state_n(obt_suite_t *suite,
               const char *first_uuid,
               char *state,
               char *error,
               size_t cap,
               unsigned long long *nums)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    if (obt_ctl(suite, list, &out) != 0) {
        free(out);
        return false;
    }
    char *objs[8];
    size_t n = obt_json_objects(out, objs, 8);
    free(out);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        char f[40];
        if (!found && obt_json_str(objs[i], "first_uuid", f, sizeof f) &&
            strcmp(f, first_uuid) == 0) {
            found = obt_json_str(objs[i], "state", state, cap) != NULL;
            error[0] = '\0';
            (void) obt_json_str(objs[i], "error", error, cap);
            if (nums) {
                nums[0] = s_json_num(objs[i], "retry_at_ms");
                nums[1] = s_json_num(objs[i], "recover_attempts");
            }
        }
        free(objs[i]);
    }
    return found;
}

static bool
s_dots_state(obt_suite_t *suite, const char *first_uuid, char *state, char *error, size_t cap)
{
    return s_dots_state_n(suite, first_uuid, state, error, cap, NULL);
}

/* Polls DOTS until the device is in want and stays there; false after timeout_s. */
static bool
s_wait_state(obt_suite_t *suite,
             const char *first_uuid,
             const char *want,
             int timeout_s,
             char *state,
             char *error,
             size_t cap)
{
    for (int i = 0; i < timeout_s * 4; i++) {
        if (s_dots_state(suite, first_uuid, state, error, cap) && strcmp(state, want) == 0) {
            return true;
        }
        (void) usleep(250 * 1000);
    }
    return false;
}

Test(faults,
     a_handshake_refused_at_the_hand_over_is_retried_by_itself_within_the_budget,
     .timeout = 180)
{
    /* 2 automatic attempts: 1 s, then 2 s of backoff (dots_recover_backoff) */
    static const char *const dots_args[] = {"--recover-attempts", "2", NULL};
    char *dir = obt_tmpdir("refuse-dtls");
    cr_assert_not_null(dir);
    obt_suite_t suite;
    obt_proc_t sim;
    memset(&sim, 0, sizeof sim);
    cr_assert_eq(obt_suite_start(&suite, dir, dots_args), 0, "the suite did not start");
    /* 0: refuses its first handshake out of RFOTM (CMS's hand-over); 1: refuses every
     * one, more than the automatic attempts */
    cr_assert_eq(obt_devsim_start(&sim, dir, 2, "0:refuse-dtls:1,1:refuse-dtls:100"), 0);
    char first[2][40];
    char *dump[4];
    cr_assert_eq(obt_devsim_dump(dir, dump, 4), 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert(obt_json_str(dump[i], "uuid", first[i], sizeof first[i]));
        free(dump[i]);
    }
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&suite, 2, &out), 0, "%s", out ? out : "");
    free(out);
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    (void) obt_ctl(&suite, onboard, NULL); /* ends at the first failures: judged below */
    char state[400], error[400];
    /* A FAILED record that DOTS retries by itself says when (retry_at_ms, shown by
     * obtctl): device 1 between its attempts. */
    unsigned long long nums[2];
    cr_assert(s_dots_state_n(&suite, first[1], state, error, sizeof state, nums));
    if (strcmp(state, "FAILED") == 0 && nums[1] < 2) {
        cr_assert_neq(nums[0], 0, "device 1 FAILED after %llu attempts: no retry_at_ms", nums[1]);
    }
    /* device 0: failed once at the hand-over, retried by itself, onboarded */
    cr_assert(s_wait_state(&suite, first[0], "RFNOP", 60, state, error, sizeof state),
              "device 0 is %s (%s), not RFNOP", state, error);
    cr_assert_geq(obt_proc_log_count(&sim, "SIM-DTLS-REFUSED dev=0"), 1,
                  "device 0 refused no handshake: the path was not taken");
    cr_assert_geq(obt_proc_log_count(&suite.dots, "DOTS-HANDOVER-RETRY"), 1);
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&suite, &ids), 0);
    char *objs[2];
    cr_assert_eq(obt_devsim_dump(dir, objs, 2), 2);
    char store[700], why[300];
    (void) snprintf(store, sizeof store, "%s/dots-store", dir);
    for (size_t i = 0; i < 2; i++) {
        char u[40];
        cr_assert(obt_json_str(objs[i], "uuid", u, sizeof u));
        if (strcmp(u, first[0]) == 0) {
            cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
            cr_assert_eq(obt_devsim_transfers(objs[i]), 1, "one ownership transfer");
        }
        free(objs[i]);
    }
    /* device 1: the attempts run out; it stays FAILED at the hand-over, with the reason,
     * and the operator's onboard is what retries it then */
    bool failed = false;
    for (int i = 0; i < 60 && !failed; i++) {
        failed = s_dots_state(&suite, first[1], state, error, sizeof state) &&
                 strcmp(state, "FAILED") == 0 &&
                 obt_proc_log_count(&suite.dots, "automatic retry 2 of 2") >= 1 &&
                 obt_proc_log_count(&sim, "SIM-DTLS-REFUSED dev=1") >= 3;
        if (!failed) {
            (void) usleep(500 * 1000);
        }
    }
    (void) usleep(3500 * 1000); /* longer than the last backoff: no third attempt */
    cr_assert(s_dots_state_n(&suite, first[1], state, error, sizeof state, nums));
    cr_assert(failed, "device 1: %s (%s)", state, error);
    cr_assert_str_eq(state, "FAILED");
    cr_assert_eq(nums[0], 0, "attempts exhausted: no retry pending (retry_at_ms %llu)", nums[0]);
    cr_assert(strstr(error, "HANDOVER_CMS") && strstr(error, "DTLS handshake"),
              "the error names the step and the cause: %s", error);
    cr_assert_eq(obt_proc_log_count(&suite.dots, "automatic retry 3 of"), 0,
                 "no more attempts than --recover-attempts");
    cr_assert_eq(obt_proc_log_count(&sim, "SIM-DTLS-REFUSED dev=1"), 3,
                 "the first hand-over and 2 automatic attempts, no more");
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(obt_ctl(&suite, health, NULL), 0, "a daemon died");
    obt_test_end(&suite, &sim, &dir);
}
