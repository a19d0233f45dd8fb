/* bridge_test.c — OCF Bridging (seed 003 clause 5.3.2): a Bridge and its VODs are
 * onboarded from one `obtctl onboard --all`; VODs stay hidden while their Bridge is
 * unowned; a listed VOD that never answers, or a malformed VOD list, is a clear error
 * on the Bridge (docs/bridges.md) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obt_checks.h"
#include "obt_json.h"

#define MAX_DEVS 8

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_start(int count, int vods, const char *faults, const char *const *extra_dots)
{
    s_dir = obt_tmpdir("bridge");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, extra_dots), 0, "the suite did not start");
    char n[16];
    (void) snprintf(n, sizeof n, "%d", vods);
    const char *extra[] = {"--bridge-vods", n, NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, count, faults, extra), 0,
                 "devsim did not start");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl_or_dump(&s_suite, &s_sim, args, out);
}

/* The devices' first UUIDs, by devsim index, from the dump. */
static size_t
s_first_uuids(char uuids[][40], size_t max)
{
    char *objs[MAX_DEVS];
    size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVS);
    cr_assert_leq(n, max);
    for (size_t i = 0; i < n; i++) {
        cr_assert(obt_json_str(objs[i], "uuid", uuids[i], sizeof uuids[i]));
        free(objs[i]);
    }
    return n;
}

/* The coap:// endpoint of devsim device idx, from its DEVICE line. */
static void
s_coap_ep(int idx, char *out, size_t cap)
{
    FILE *f = fopen(s_sim.log, "r");
    cr_assert_not_null(f);
    char line[1024], tag[32];
    (void) snprintf(tag, sizeof tag, " DEVICE idx=%d ", idx);
    out[0] = '\0';
    while (fgets(line, sizeof line, f) && out[0] == '\0') {
        const char *p = strstr(line, tag);
        p = p ? strstr(p, " coap=") : NULL;
        if (p) {
            p += strlen(" coap=");
            size_t len = strcspn(p, " \n");
            cr_assert_lt(len, cap);
            memcpy(out, p, len);
            out[len] = '\0';
        }
    }
    (void) fclose(f);
    cr_assert(out[0], "no coap= for DEVICE idx=%d", idx);
}

/* DOTS's record whose first uuid is first (JSON object, caller frees), or NULL. */
static char *
s_record(const char *first)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(list, &out), 0);
    char *objs[MAX_DEVS * 2];
    size_t n = obt_json_objects(out, objs, MAX_DEVS * 2);
    free(out);
    char *found = NULL;
    for (size_t i = 0; i < n; i++) {
        char f[40];
        if (found == NULL && obt_json_str(objs[i], "first_uuid", f, sizeof f) &&
            strcmp(f, first) == 0) {
            found = objs[i];
        } else {
            free(objs[i]);
        }
    }
    return found;
}

static size_t
s_count_records(void)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(list, &out), 0);
    char *objs[MAX_DEVS * 2];
    size_t n = obt_json_objects(out, objs, MAX_DEVS * 2);
    free(out);
    for (size_t i = 0; i < n; i++) {
        free(objs[i]);
    }
    return n;
}

/* The services' and the domain's uuids (the domain from an owned device), and the DOTS
 * store folder: what obt_check_onboarded compares the devices with. */
static void
s_ids(const char *owned_uuid, obt_ids_t *ids, char *store, size_t cap)
{
    cr_assert_eq(obt_ids(&s_suite, ids), 0);
    const char *show[] = {"--json", "show", owned_uuid, NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(show, &out), 0);
    cr_assert(obt_json_str(out, "sd_uuid", ids->sd, sizeof ids->sd));
    free(out);
    (void) snprintf(store, cap, "%s/dots-store", s_dir);
}

static void
s_discover_and_approve(const char *expect)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(discover, &out), 0, "discover failed: %s", out);
    cr_assert(strstr(out, expect) != NULL,
              "before onboarding only the Bridge and ordinary "
              "devices are discoverable (%s): %s",
              expect, out);
    free(out);
    cr_assert_eq(s_ctl(approve, NULL), 0);
}

Test(bridge,
     a_bridge_and_its_three_vods_are_onboarded_from_one_onboard_all,
     .fini = s_teardown,
     .timeout = 240)
{
    s_start(2, 3, NULL, NULL); /* 0: Bridge, 1: ordinary, 2-4: VODs */
    char first[MAX_DEVS][40];
    cr_assert_eq(s_first_uuids(first, MAX_DEVS), 5);

    /* A hidden VOD does not answer unicast discovery either. */
    char ep[128];
    s_coap_ep(2, ep, sizeof ep);
    const char *unicast[] = {"discover", "--window-ms", "300", "--endpoint", ep, NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(unicast, &out), 0);
    cr_assert(strstr(out, "found 0 unowned") != NULL, "a VOD answered at %s: %s", ep, out);
    free(out);

    s_discover_and_approve("found 2 unowned");
    cr_assert_eq(s_count_records(), 2, "VODs are not discoverable while the Bridge is unowned");

    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "120", NULL};
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    cr_assert(strstr(out, "5 device(s) in RFNOP") != NULL, "%s", out);
    free(out);

    /* DOTS: all five RFNOP; the Bridge lists its VODs, each VOD names its Bridge. */
    char *bridge = s_record(first[0]);
    cr_assert_not_null(bridge);
    char bridge_uuid[40], state[32];
    cr_assert(obt_json_str(bridge, "uuid", bridge_uuid, sizeof bridge_uuid));
    cr_assert(obt_json_str(bridge, "bridge_state", state, sizeof state));
    cr_assert_str_eq(state, "DONE", "%s", bridge);
    for (int i = 2; i < 5; i++) {
        char quoted[48];
        (void) snprintf(quoted, sizeof quoted, "\"%s\"", first[i]);
        cr_assert(strstr(strstr(bridge, "\"vods\":["), quoted) != NULL, "VOD %s not listed: %s",
                  first[i], bridge);
    }
    free(bridge);
    for (int i = 1; i < 5; i++) {
        char *r = s_record(first[i]);
        cr_assert_not_null(r, "no record of device %d (%s)", i, first[i]);
        cr_assert(obt_json_str(r, "state", state, sizeof state));
        cr_assert_str_eq(state, "RFNOP", "device %d: %s", i, r);
        char link[40] = "";
        (void) obt_json_str(r, "bridge", link, sizeof link);
        if (i == 1) {
            cr_assert_str_eq(link, "", "an ordinary device is nobody's VOD: %s", r);
            cr_assert(obt_json_str(r, "bridge_state", state, sizeof state));
            cr_assert_str_eq(state, "NOT_BRIDGE");
        } else {
            cr_assert_str_eq(link, bridge_uuid, "VOD %d not linked to its Bridge: %s", i, r);
        }
        free(r);
    }

    /* The devices themselves: every one passes the shared checks; the VODs' dumps
     * name the Bridge by its new uuid. */
    obt_ids_t ids;
    char store[700];
    s_ids(bridge_uuid, &ids, store, sizeof store);
    char *objs[MAX_DEVS];
    size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVS);
    cr_assert_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        char why[300], link[40] = "";
        cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "device %zu: %s", i,
                  why);
        (void) obt_json_str(objs[i], "bridge", link, sizeof link);
        cr_assert_str_eq(link, i >= 2 ? bridge_uuid : "", "device %zu: %s", i, objs[i]);
        free(objs[i]);
    }
}

Test(bridge,
     a_listed_vod_that_never_answers_is_an_error_on_the_bridge,
     .fini = s_teardown,
     .timeout = 240)
{
    static const char *const dots[] = {"--vod-discover-ms", "3000", NULL};
    s_start(1, 2, "2:absent", dots); /* 0: Bridge, 1: a VOD, 2: an absent VOD */
    char first[MAX_DEVS][40];
    cr_assert_eq(s_first_uuids(first, MAX_DEVS), 3);
    s_discover_and_approve("found 1 unowned");

    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "120", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, onboard, &out), 1, "a missing VOD fails the run: %s", out);
    cr_assert(strstr(out, "2 device(s) in RFNOP, 0 failed") != NULL, "%s", out);
    free(out);

    char *bridge = s_record(first[0]);
    cr_assert_not_null(bridge);
    char state[32], error[320], expect[80];
    cr_assert(obt_json_str(bridge, "state", state, sizeof state));
    cr_assert_str_eq(state, "RFNOP", "the Bridge itself is onboarded: %s", bridge);
    cr_assert(obt_json_str(bridge, "bridge_state", state, sizeof state));
    cr_assert_str_eq(state, "FAILED", "%s", bridge);
    cr_assert(obt_json_str(bridge, "bridge_error", error, sizeof error));
    (void) snprintf(expect, sizeof expect, "VOD %s not found", first[2]);
    cr_assert_str_eq(error, expect);
    free(bridge);
    char *vod = s_record(first[1]);
    cr_assert_not_null(vod, "the VOD that answers is onboarded all the same");
    cr_assert(obt_json_str(vod, "state", state, sizeof state));
    cr_assert_str_eq(state, "RFNOP");
    free(vod);
    cr_assert_null(s_record(first[2]), "an absent VOD gets no record");
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(s_ctl(health, NULL), 0, "every daemon is still up");
}

Test(bridge, a_malformed_vod_list_is_an_error_on_the_bridge, .fini = s_teardown, .timeout = 240)
{
    s_start(1, 2, "0:bad-cbor:/bridge/vodlist", NULL);
    char first[MAX_DEVS][40];
    cr_assert_eq(s_first_uuids(first, MAX_DEVS), 3);
    s_discover_and_approve("found 1 unowned");
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "120", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, onboard, &out), 1, "%s", out);
    free(out);
    char *bridge = s_record(first[0]);
    cr_assert_not_null(bridge);
    char state[32], error[320];
    cr_assert(obt_json_str(bridge, "state", state, sizeof state));
    cr_assert_str_eq(state, "RFNOP");
    cr_assert(obt_json_str(bridge, "bridge_state", state, sizeof state));
    cr_assert_str_eq(state, "FAILED");
    cr_assert(obt_json_str(bridge, "bridge_error", error, sizeof error));
    cr_assert(strncmp(error, "vodlist: malformed", 18) == 0, "%s", error);
    free(bridge);
    cr_assert_eq(s_count_records(), 1, "no VOD is looked for from a malformed list");
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(s_ctl(health, NULL), 0, "every daemon is still up");
}

Test(bridge,
     a_dots_killed_while_looking_for_vods_resumes_after_a_restart,
     .fini = s_teardown,
     .timeout = 240)
{
    static const char *const dots[] = {"--vod-discover-ms", "6000", NULL};
    s_start(1, 2, "2:absent", dots); /* 0: Bridge, 1: a VOD, 2: an absent VOD */
    char first[MAX_DEVS][40];
    cr_assert_eq(s_first_uuids(first, MAX_DEVS), 3);
    s_discover_and_approve("found 1 unowned");
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    cr_assert_eq(s_ctl(onboard, NULL), 0);

    /* The Bridge's job is recorded at DISCOVER before the first discovery is sent. */
    cr_assert_eq(obt_proc_wait_log(&s_suite.dots, "--OK--> DISCOVER", 60000), 0,
                 "the Bridge's VODs were never looked for");
    obt_proc_kill9(&s_suite.dots);
    cr_assert_eq(obt_suite_restart(&s_suite, "dots", dots), 0);
    cr_assert_eq(obt_proc_wait_log(&s_suite.dots, "bridge job at DISCOVER", 30000), 0,
                 "the job did not resume where it stopped");
    cr_assert_eq(obt_proc_wait_log(&s_suite.dots, " DOTS-BRIDGE-FAILED ", 60000), 0,
                 "the job never ended");

    /* Naming the Bridge runs its VOD work again and waits for its VODs too. */
    char *bridge = s_record(first[0]);
    cr_assert_not_null(bridge);
    char bridge_uuid[40], error[320], expect[80];
    cr_assert(obt_json_str(bridge, "uuid", bridge_uuid, sizeof bridge_uuid));
    free(bridge);
    const char *again[] = {"onboard", bridge_uuid, "--wait-s", "120", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, again, &out), 1, "%s", out);
    free(out);
    bridge = s_record(first[0]);
    cr_assert(obt_json_str(bridge, "bridge_error", error, sizeof error));
    (void) snprintf(expect, sizeof expect, "VOD %s not found", first[2]);
    cr_assert_str_eq(error, expect);
    free(bridge);

    /* The VOD that answers is onboarded and linked (it may have reset to a new uuid if
     * the kill interrupted its own onboarding: the Bridge's list is read again). */
    char *objs[MAX_DEVS];
    size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVS);
    cr_assert_eq(n, 3);
    obt_ids_t ids;
    char store[700], why[300], link[40] = "";
    s_ids(bridge_uuid, &ids, store, sizeof store);
    cr_assert(obt_check_onboarded(objs[1], &ids, store, why, sizeof why), "%s", why);
    cr_assert(obt_json_str(objs[1], "bridge", link, sizeof link));
    cr_assert_str_eq(link, bridge_uuid);
    for (size_t i = 0; i < n; i++) {
        free(objs[i]);
    }
}

/* Line number (1-based) of the first line of the DOTS log holding both a and b, 0 if
 * none. */
static int
s_dots_line(const char *a, const char *b)
{
    FILE *f = fopen(s_suite.dots.log, "r");
    cr_assert_not_null(f);
    char line[1024];
    int no = 0, found = 0;
    while (found == 0 && fgets(line, sizeof line, f)) {
        no++;
        if (strstr(line, a) && strstr(line, b)) {
            found = no;
        }
    }
    (void) fclose(f);
    return found;
}

/* Waits until every dumped device is unowned; returns the dumps (caller frees). */
static size_t
s_wait_all_unowned(char **objs, size_t want)
{
    for (int waited = 0;; waited += 100) {
        size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVS), owned = 0;
        for (size_t i = 0; i < n; i++) {
            owned += strstr(objs[i], "\"owned\":true") != NULL;
        }
        if (n == want && owned == 0) {
            return n;
        }
        for (size_t i = 0; i < n; i++) {
            free(objs[i]);
        }
        cr_assert_lt(waited, 10000, "%zu of %zu devices still owned after the reset", owned, n);
        (void) usleep(100 * 1000);
    }
}

/* A Bridge (devsim index 0) with vods VODs, discovered and onboarded with one
 * `onboard --all`; now[i] is device i's current uuid. */
static void
s_onboard_bridge(int vods, char now[][40])
{
    s_start(1, vods, NULL, NULL);
    char first[MAX_DEVS][40], want[48];
    cr_assert_eq(s_first_uuids(first, MAX_DEVS), (size_t) vods + 1);
    s_discover_and_approve("found 1 unowned");
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "120", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    (void) snprintf(want, sizeof want, "%d device(s) in RFNOP", vods + 1);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    free(out);
    for (int i = 0; i <= vods; i++) {
        char *r = s_record(first[i]);
        cr_assert_not_null(r);
        cr_assert(obt_json_str(r, "uuid", now[i], sizeof now[i]));
        free(r);
    }
}

Test(bridge,
     reset_of_a_bridge_resets_its_vods_first_and_all_onboard_again,
     .fini = s_teardown,
     .timeout = 240)
{
    char now[MAX_DEVS][40];
    s_onboard_bridge(3, now); /* 0: Bridge, 1-3: VODs */
    char *out = NULL;

    const char *reset[] = {"reset", now[0], NULL};
    cr_assert_eq(s_ctl(reset, &out), 0, "reset of the Bridge failed: %s", out);
    free(out);

    /* Every record of the four is gone from DOTS, CMS and AMS. */
    cr_assert_eq(s_count_records(), 0, "records left after the Bridge's reset");
    char dots[700], cms[700], ams[700];
    (void) snprintf(dots, sizeof dots, "%s/dots-store", s_dir);
    (void) snprintf(cms, sizeof cms, "%s/cms-store", s_dir);
    (void) snprintf(ams, sizeof ams, "%s/ams-store", s_dir);
    for (int i = 0; i < 4; i++) {
        cr_assert_not(obt_dots_store_has(dots, now[i]), "DOTS still has device %d", i);
        cr_assert_not(obt_svc_store_has(cms, now[i]), "CMS still has device %d", i);
        cr_assert_not(obt_svc_store_has(ams, now[i]), "AMS still has device %d", i);
    }
    /* The VODs were reset before the Bridge was told. */
    int bridge_go = s_dots_line("DOTS-RESET-VODS-DONE", now[0]);
    cr_assert_gt(bridge_go, 0, "no DOTS-RESET-VODS-DONE for the Bridge");
    for (int i = 1; i < 4; i++) {
        int gone = s_dots_line("DOTS-FORGOTTEN", now[i]);
        cr_assert(gone > 0 && gone < bridge_go, "VOD %d forgotten at line %d, Bridge reset at %d",
                  i, gone, bridge_go);
    }
    cr_assert_gt(s_dots_line("DOTS-FORGOTTEN", now[0]), bridge_go);

    /* The devices: all four unowned under new uuids. */
    char *objs[MAX_DEVS];
    cr_assert_eq(s_wait_all_unowned(objs, 4), 4);
    for (size_t i = 0; i < 4; i++) {
        char uuid[40];
        cr_assert(obt_json_str(objs[i], "uuid", uuid, sizeof uuid));
        cr_assert_str_neq(uuid, now[i], "device %zu kept its owned uuid", i);
        free(objs[i]);
    }

    /* And they onboard again: the Bridge first, then its VODs. */
    s_discover_and_approve("found 1 unowned");
    static const char *const again[] = {"onboard", "--all", "--wait-s", "120", NULL};
    cr_assert_eq(s_ctl(again, &out), 0, "onboard again failed: %s", out);
    cr_assert(strstr(out, "4 device(s) in RFNOP") != NULL, "%s", out);
    free(out);
}

Test(bridge,
     a_vod_that_dots_forgot_is_reset_by_its_bridge_platform,
     .fini = s_teardown,
     .timeout = 240)
{
    char now[MAX_DEVS][40];
    s_onboard_bridge(2, now); /* 0: Bridge, 1-2: VODs */
    char *out = NULL;
    /* DOTS drops VOD 1 without asking it: the device stays owned. */
    const char *forget[] = {"reset", now[1], "--forget", NULL};
    cr_assert_eq(s_ctl(forget, NULL), 0);
    char *objs[MAX_DEVS];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, MAX_DEVS), 3);
    cr_assert(strstr(objs[1], "\"owned\":true") != NULL, "VOD 1 was touched: %s", objs[1]);
    for (size_t i = 0; i < 3; i++) {
        free(objs[i]);
    }

    /* Resetting the Bridge: DOTS resets the VOD it knows, then the Bridge; the
     * platform resets the VOD that DOTS forgot along with its Bridge. */
    const char *reset[] = {"reset", now[0], NULL};
    cr_assert_eq(s_ctl(reset, &out), 0, "reset of the Bridge failed: %s", out);
    free(out);
    cr_assert_eq(s_count_records(), 0);
    cr_assert_eq(s_wait_all_unowned(objs, 3), 3);
    for (size_t i = 0; i < 3; i++) {
        free(objs[i]);
    }
    cr_assert_eq(obt_proc_log_count(&s_sim, "SIM-RESET-VOD dev=1 "), 1,
                 "VOD 1 was not reset with its Bridge");
    cr_assert_eq(obt_proc_log_count(&s_sim, "SIM-RESET-VOD dev=2 "), 0,
                 "VOD 2 was reset by DOTS first: nothing left for the platform");
}
