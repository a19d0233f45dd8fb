/* pair_test.c — pairwise PSK links through obt-cms (docs/cms.md "Pairwise PSK"): after
 * `obtctl pair A B` device A opens a DTLS PSK session to device B with the pairwise key
 * (obt_coap as A) and, once `obtctl allow A B` placed an ACE, GETs B's /light; after
 * `obtctl unpair A B` the session fails. Bad input, a device refusing the cred write
 * (rolled back), and kill -9 of CMS inside a pairing (completed after the restart). OSCORE
 * pairs, and the redraw of an id that collides with a recipientid on the other device
 * (the ids CMS draws set by its test-only --test-oscore-ids). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "obt_checks.h"
#include "obt_json.h"

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

/* The two devices: uuid and coaps:// endpoint, by devsim index. */
static obt_dev_ep_t s_dev[2];

static void
s_start(const char *faults)
{
    s_dir = obt_tmpdir("pair");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 2, faults), 0);
}

static void
s_setup(void)
{
    s_start(NULL);
}

/* Device 1 refuses (4.00) every cred POST of a maintenance. */
static void
s_setup_refuse(void)
{
    s_start("1:error-maint:/oic/sec/cred");
}

/* Device 1 stops the simulator at the first cred POST outside the DOC: CMS's pairwise
 * write (the hand-over of a device without certificates posts no cred). */
static void
s_setup_stop(void)
{
    s_start("1:stop:1:POST:/oic/sec/cred");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static void
s_onboard(void)
{
    char why[300];
    int rc = obt_onboard_devices(&s_suite, &s_sim, s_dir, 2, 60, s_dev, why, sizeof why);
    cr_assert_eq(rc, 0, "%s", why);
}

static int
s_ctl(const char *const *args, char **out)
{
    char *o = NULL;
    int rc = obt_ctl(&s_suite, args, &o);
    if (out) {
        *out = o;
    } else {
        free(o);
    }
    return rc;
}

/* The pairwise keys on the devices now (from devsim's --dump): key_on[i] is device i's
 * entry for the other device, "" when it has none. */
static void
s_keys(char key_on[2][33])
{
    char *objs[3];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 3), 2);
    for (int i = 0; i < 2; i++) {
        char uuid[40];
        cr_assert(obt_json_str(objs[i], "deviceuuid", uuid, sizeof uuid));
        int me = strcmp(uuid, s_dev[0].uuid) == 0 ? 0 : 1;
        if (!obt_dump_cred_hex(objs[i], s_dev[1 - me].uuid, key_on[me])) {
            key_on[me][0] = '\0';
        }
        free(objs[i]);
    }
}

/* Device 0 (as A, with key) GETs device 1's /light: the code, -1 with no session.
 * Expecting an answer, a request that got none is tried again after a pause, up to four
 * more times: on this shared machine a DTLS handshake may miss obt_coap's 5 s. (A's uuid
 * with a zero byte made every try fail, once in ~10 runs: DOTS no longer gives such
 * uuids, docs/decisions.md D68.) */
static int
s_get_light(const char *key, bool is_expected)
{
    char out[256];
    int code = -1;
    for (int i = 0; i < (is_expected ? 5 : 1) && code < 0; i++) {
        if (i > 0) {
            (void) usleep(1000 * 1000);
        }
        code = obt_coap_as(s_dev[1].coaps, s_dev[0].uuid, key, "GET", "/light", NULL, 0, out,
                           sizeof out);
        if (code < 0 && is_expected) {
            (void) fprintf(stderr, "pair_test: try %d: no answer from B\n", i + 1);
        }
    }
    return code;
}

static int
s_a_gets_b_light(const char *key)
{
    return s_get_light(key, true);
}

/* The same, for a request that must get no session (one try). */
static int
s_a_gets_nothing(const char *key)
{
    return s_get_light(key, false);
}

Test(pair,
     pair_opens_a_psk_session_from_a_to_b_and_unpair_closes_it,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    s_onboard();
    const char *a = s_dev[0].uuid, *b = s_dev[1].uuid;
    char *text = NULL;
    const char *pair[] = {"pair", a, b, NULL};
    cr_assert_eq(s_ctl(pair, &text), 0, "obtctl pair: %s", text ? text : "");
    cr_assert(strstr(text, "paired") != NULL, "%s", text);
    free(text);
    char keys[2][33];
    s_keys(keys);
    cr_assert_eq(strlen(keys[0]), 32, "A holds no pairwise key for B");
    cr_assert_str_eq(keys[0], keys[1], "A and B hold different keys");
    /* the key is sealed in CMS's store, never in the clear */
    uint8_t raw[16];
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        cr_assert_eq(sscanf(keys[0] + 2 * i, "%2x", &v), 1);
        raw[i] = (uint8_t) v;
    }
    char path[700];
    (void) snprintf(path, sizeof path, "%s/cms-store/data.mdb", s_dir);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static uint8_t buf[8 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    (void) fclose(f);
    cr_assert_gt(n, 0);
    bool is_clear = false;
    for (size_t i = 0; i + 16 <= n && !is_clear; i++) {
        is_clear = memcmp(buf + i, raw, 16) == 0;
    }
    cr_assert_not(is_clear, "the pairwise key is in CMS's store in the clear");

    /* the session works; B's ACL decides */
    cr_assert_eq(s_a_gets_b_light(keys[0]), 403, "A read /light before allow");
    const char *allow[] = {"allow", a, b, "--res", "/light", "--perm", "R", NULL};
    cr_assert_eq(s_ctl(allow, NULL), 0);
    cr_assert_eq(s_a_gets_b_light(keys[0]), 205, "A refused after pair + allow");
    const char *links[] = {"links", a, NULL};
    cr_assert_eq(s_ctl(links, &text), 0);
    cr_assert(strstr(text, b) != NULL && strstr(text, "paired") != NULL, "%s", text);
    free(text);
    /* pair again: a fresh key replaces the entries (no second one) */
    cr_assert_eq(s_ctl(pair, NULL), 0);
    char again[2][33];
    s_keys(again);
    cr_assert_str_eq(again[0], again[1]);
    cr_assert_str_neq(again[0], keys[0], "pair again kept the old key");
    cr_assert_eq(s_a_gets_nothing(keys[0]), -1, "the old key still opens a session");
    cr_assert_eq(s_a_gets_b_light(again[0]), 205);

    const char *unpair[] = {"unpair", b, a, NULL};
    cr_assert_eq(s_ctl(unpair, &text), 0, "obtctl unpair: %s", text ? text : "");
    free(text);
    s_keys(keys);
    cr_assert_str_eq(keys[0], "", "A keeps its entry for B after unpair");
    cr_assert_str_eq(keys[1], "", "B keeps its entry for A after unpair");
    cr_assert_eq(s_a_gets_nothing(again[0]), -1, "A still has a session to B after unpair");
    const char *all[] = {"--json", "links", NULL};
    cr_assert_eq(s_ctl(all, &text), 0);
    cr_assert_str_eq(text, "[]\n", "the link is still listed: %s", text);
    free(text);
    cr_assert_eq(s_ctl(unpair, NULL), 3, "unpair of no link is not found");

    /* bad input: exit codes of docs/cli.md */
    static const char *const unknown = "11111111-2222-4333-8444-555555555555";
    const char *self[] = {"pair", a, a, NULL};
    const char *bad[] = {"pair", "not-a-uuid", b, NULL};
    const char *none[] = {"pair", a, unknown, NULL};
    const char *one[] = {"pair", a, NULL};
    const char *bad_links[] = {"links", "x", NULL};
    cr_assert_eq(s_ctl(self, NULL), 2, "a device paired with itself");
    cr_assert_eq(s_ctl(bad, NULL), 2, "a malformed UUID");
    cr_assert_eq(s_ctl(none, &text), 3, "a device CMS does not manage: %s", text ? text : "");
    free(text);
    cr_assert_eq(s_ctl(one, NULL), 2);
    cr_assert_eq(s_ctl(bad_links, NULL), 2);
}

Test(pair,
     a_device_refusing_the_cred_fails_the_job_and_nothing_stays,
     .init = s_setup_refuse,
     .fini = s_teardown,
     .timeout = 300)
{
    s_onboard();
    char *text = NULL;
    const char *pair[] = {"pair", s_dev[0].uuid, s_dev[1].uuid, NULL};
    int rc = obt_ctl(&s_suite, pair, &text);
    free(text);
    cr_assert_eq(rc, 1, "a refused write is a failed job");
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "CMS-PAIR-FAILED", 10000), 0);
    cr_assert(obt_proc_log_count(&s_suite.cms, "answered 4.00") > 0, "no reason logged");
    const char *links[] = {"--json", "links", NULL};
    cr_assert_eq(s_ctl(links, &text), 0);
    cr_assert(strstr(text, "\"state\":\"failed\"") != NULL, "%s", text);
    cr_assert(strstr(text, "4.00") != NULL, "the record lacks the reason: %s", text);
    free(text);
    char keys[2][33];
    s_keys(keys);
    cr_assert_str_eq(keys[0], "", "device 0 keeps an entry of a failed pair");
    cr_assert_str_eq(keys[1], "", "device 1 keeps an entry of a failed pair");
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 2, NULL), 2, "a device was left out of RFNOP");
}

/* Kill -9 of CMS when device 1 stops the simulator at CMS's request; after the
 * restart, token (the link's end after the resumed job). */
static void
s_kill_cms_inside(const char *const *args, const char *token)
{
    char why[200];
    cr_assert_eq(obt_kill9_inside(&s_suite, &s_sim, "cms", args, token, 60000, why, sizeof why), 0,
                 "%s", why);
}

Test(pair,
     kill9_of_cms_inside_a_pairing_is_completed_after_the_restart,
     .init = s_setup_stop,
     .fini = s_teardown,
     .timeout = 300)
{
    s_onboard();
    const char *pair[] = {"pair", s_dev[0].uuid, s_dev[1].uuid, NULL};
    s_kill_cms_inside(pair, "CMS-PAIRED");
    char *text = NULL;
    const char *links[] = {"--json", "links", NULL};
    cr_assert_eq(s_ctl(links, &text), 0);
    cr_assert(strstr(text, "\"state\":\"paired\"") != NULL, "%s", text);
    free(text);
    char keys[2][33];
    s_keys(keys);
    cr_assert_eq(strlen(keys[0]), 32, "device 0 lacks its entry: CMS and devices disagree");
    cr_assert_str_eq(keys[0], keys[1], "the devices hold different keys");
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 2, NULL), 2, "a device was left out of RFNOP");
    const char *allow[] = {"allow",  s_dev[0].uuid, s_dev[1].uuid, "--res",
                           "/light", "--perm",      "R",           NULL};
    cr_assert_eq(s_ctl(allow, NULL), 0);
    cr_assert_eq(s_a_gets_b_light(keys[0]), 205);
}

/* Device 1 stops the simulator at the first cred DELETE outside the DOC: the unpair's. */
static void
s_setup_stop_delete(void)
{
    s_start("1:stop:1:DELETE:/oic/sec/cred");
}

Test(pair,
     kill9_of_cms_inside_an_unpairing_is_completed_after_the_restart,
     .init = s_setup_stop_delete,
     .fini = s_teardown,
     .timeout = 300)
{
    s_onboard();
    const char *pair[] = {"pair", s_dev[0].uuid, s_dev[1].uuid, NULL};
    cr_assert_eq(s_ctl(pair, NULL), 0);
    const char *unpair[] = {"unpair", s_dev[0].uuid, s_dev[1].uuid, NULL};
    s_kill_cms_inside(unpair, "CMS-UNPAIRED");
    char *text = NULL;
    const char *links[] = {"--json", "links", NULL};
    cr_assert_eq(s_ctl(links, &text), 0);
    cr_assert_str_eq(text, "[]\n", "the link stayed: %s", text);
    free(text);
    char keys[2][33];
    s_keys(keys);
    cr_assert_str_eq(keys[0], "", "device 0 keeps its entry: CMS and devices disagree");
    cr_assert_str_eq(keys[1], "", "device 1 keeps its entry: CMS and devices disagree");
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 2, NULL), 2, "a device was left out of RFNOP");
}

/* Reset cascade: a reset device's links go, with their entries on the other device. */
Test(pair,
     a_reset_device_loses_its_links_and_the_peer_its_entry,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    s_onboard();
    const char *pair[] = {"pair", s_dev[0].uuid, s_dev[1].uuid, NULL};
    cr_assert_eq(s_ctl(pair, NULL), 0);
    char keys[2][33];
    s_keys(keys);
    cr_assert_eq(strlen(keys[1]), 32, "device 1 holds no entry for device 0");
    char *text = NULL;
    const char *reset[] = {"reset", s_dev[0].uuid, NULL};
    cr_assert_eq(s_ctl(reset, &text), 0, "reset: %s", text ? text : "");
    free(text);
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "CMS-UNPAIRED", 30000), 0,
                 "CMS did not unpair the reset device");
    const char *links[] = {"--json", "links", NULL};
    cr_assert_eq(s_ctl(links, &text), 0);
    cr_assert_str_eq(text, "[]\n", "the reset device's link stayed: %s", text);
    free(text);
    char *objs[3];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 3), 2);
    for (int i = 0; i < 2; i++) {
        char hex[33];
        cr_assert_not(obt_dump_cred_hex(objs[i], s_dev[0].uuid, hex),
                      "a device keeps an entry for the reset device");
        free(objs[i]);
    }
}

/* Device me's credtype-64 entry for subject (from the dump): its senderid, recipientid
 * and master secret (hex). False if it has none. */
static bool
s_oscore_entry(const char *subject, int me, char sid[17], char rid[17], char secret[65])
{
    char *objs[3];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 3), 2);
    bool is_found = false;
    for (int i = 0; i < 2; i++) {
        char uuid[40], needle[80];
        cr_assert(obt_json_str(objs[i], "deviceuuid", uuid, sizeof uuid));
        (void) snprintf(needle, sizeof needle, "\"credtype\":64,\"subjectuuid\":\"%s\"", subject);
        const char *e = strcmp(uuid, s_dev[me].uuid) == 0 ? strstr(objs[i], needle) : NULL;
        if (e) {
            is_found = obt_json_str(e, "privatedata_hex", secret, 65) &&
                       obt_json_str(e, "senderid", sid, 17) &&
                       obt_json_str(e, "recipientid", rid, 17);
        }
        free(objs[i]);
    }
    return is_found;
}

static void
s_check_id(const char *id)
{
    cr_assert_eq(strlen(id), 14, "OSCORE id \"%s\" is not 7 bytes", id);
    cr_assert(strncmp(id, "01", 2) == 0, "OSCORE id \"%s\" does not start with 0x01", id);
    cr_assert_eq(strspn(id, "0123456789abcdef"), 14, "OSCORE id \"%s\" is not lowercase hex", id);
}

/* Both devices onboarded, then `obtctl pair A B --oscore`, which must succeed: its
 * output (malloc'd). */
static char *
s_onboard_pair_oscore(void)
{
    s_onboard();
    char *text = NULL;
    const char *pair[] = {"pair", s_dev[0].uuid, s_dev[1].uuid, "--oscore", NULL};
    cr_assert_eq(s_ctl(pair, &text), 0, "obtctl pair --oscore: %s", text ? text : "");
    return text;
}

Test(pair,
     pair_oscore_puts_mirrored_credtype_64_contexts_and_unpair_removes_them,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    const char *a = s_dev[0].uuid, *b = s_dev[1].uuid;
    char *text = s_onboard_pair_oscore();
    cr_assert(strstr(text, "oscore") != NULL && strstr(text, "paired") != NULL, "%s", text);
    free(text);
    char sid_a[17], rid_a[17], sec_a[65], sid_b[17], rid_b[17], sec_b[65];
    cr_assert(s_oscore_entry(b, 0, sid_a, rid_a, sec_a), "A holds no credtype-64 entry for B");
    cr_assert(s_oscore_entry(a, 1, sid_b, rid_b, sec_b), "B holds no credtype-64 entry for A");
    s_check_id(sid_a);
    s_check_id(sid_b);
    cr_assert_str_eq(sid_a, rid_b, "A's senderid is not B's recipientid");
    cr_assert_str_eq(sid_b, rid_a, "B's senderid is not A's recipientid");
    cr_assert_str_neq(sid_a, sid_b);
    cr_assert_eq(strlen(sec_a), 64, "the master secret is not 256 bits");
    cr_assert_str_eq(sec_a, sec_b, "A and B hold different master secrets");
    const char *links[] = {"--json", "links", NULL};
    cr_assert_eq(s_ctl(links, &text), 0);
    cr_assert(strstr(text, "\"kind\":\"oscore\"") != NULL, "%s", text);
    free(text);
    const char *psk[] = {"pair", a, b, NULL};
    cr_assert_eq(s_ctl(psk, NULL), 2, "a PSK pair over an OSCORE link");
    const char *unpair[] = {"unpair", a, b, NULL};
    cr_assert_eq(s_ctl(unpair, NULL), 0);
    cr_assert_not(s_oscore_entry(b, 0, sid_a, rid_a, sec_a), "A keeps its OSCORE entry");
    cr_assert_not(s_oscore_entry(a, 1, sid_b, rid_b, sec_b), "B keeps its OSCORE entry");
}

/* The ids CMS draws for pairs in this test (--test-oscore-ids through the environment,
 * OBT_CMS_TEST_OSCORE_IDS; tests only, D84), and both devices seeded with the first as
 * a recipientid: whichever device is the link's "b" receives it and must not. */
#define S_ID1 "01aaaaaaaaaaaa"
#define S_ID2 "01bbbbbbbbbbbb"
#define S_ID3 "01cccccccccccc"

static void
s_setup_collide(void)
{
    cr_assert_eq(setenv("OBT_CMS_TEST_OSCORE_IDS", S_ID1 "," S_ID2 "," S_ID3, 1), 0);
    s_start("0:seed-recipientid:" S_ID1 ",1:seed-recipientid:" S_ID1);
}

/* pair --oscore when the id drawn for A is already a recipientid on B (6.3: each id
 * distinct from every recipientid on the device that receives it): CMS draws again for
 * A (CMS-OSCORE-ID), records it and writes A's entry again; neither device receives the
 * colliding id, both keep their own entry. */
Test(pair,
     pair_oscore_redraws_an_id_that_is_a_recipientid_on_the_other_device,
     .init = s_setup_collide,
     .fini = s_teardown,
     .timeout = 300)
{
    const char *a = s_dev[0].uuid, *b = s_dev[1].uuid;
    char *text = s_onboard_pair_oscore();
    free(text);
    cr_assert_geq(obt_proc_log_count(&s_suite.cms, "already has recipientid " S_ID1 ":"), 1,
                  "CMS did not redraw the colliding id");
    const char *links[] = {"--json", "links", NULL};
    cr_assert_eq(s_ctl(links, &text), 0);
    cr_assert(strstr(text, S_ID3) && strstr(text, S_ID2), "the link's ids: %s", text);
    cr_assert_null(strstr(text, S_ID1), "the link keeps the colliding id: %s", text);
    free(text);
    char sid_a[17], rid_a[17], sec_a[65], sid_b[17], rid_b[17], sec_b[65];
    cr_assert(s_oscore_entry(b, 0, sid_a, rid_a, sec_a), "A holds no credtype-64 entry for B");
    cr_assert(s_oscore_entry(a, 1, sid_b, rid_b, sec_b), "B holds no credtype-64 entry for A");
    cr_assert_str_eq(sid_a, rid_b, "A's senderid is not B's recipientid");
    cr_assert_str_eq(sid_b, rid_a, "B's senderid is not A's recipientid");
    cr_assert_str_neq(rid_a, S_ID1, "A received a recipientid it already had");
    cr_assert_str_neq(rid_b, S_ID1, "B received a recipientid it already had");
    cr_assert(strcmp(sid_a, S_ID3) == 0 || strcmp(sid_b, S_ID3) == 0, "no redrawn id: %s %s", sid_a,
              sid_b);
    cr_assert_str_eq(sec_a, sec_b, "A and B hold different master secrets");
    char *objs[3];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 3), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert(strstr(objs[i], "\"recipientid\":\"" S_ID1 "\""),
                  "a device lost its own entry: %s", objs[i]);
        free(objs[i]);
    }
}
