/* secrets_test.c — no secret in any log, none in clear in any store (issue 9): a Just
 * Works and a Random PIN onboarding with every daemon and devsim at --log-level debug,
 * then every PSK the devices and stores hold and the PIN looked for in every log (hex
 * both cases, base64) and in every data.mdb (raw bytes, hex, mdb_dump); KEK rotation
 * with `obtctl kek rotate` on the stopped daemons, after which show, repair and reset
 * still work and the old KEK is refused. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_kv.h"
#include "cmn_seal.h"
#include "dots_store.h"
#include "obt_checks.h"
#include "obt_json.h"

#define MAX_SECRETS 64
#define MAX_DEVICES 4

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

/* Every secret the test looks for: 16-byte keys and the PIN. */
typedef struct {
    uint8_t keys[MAX_SECRETS][16];
    size_t n_keys;
    char pin[16];
} s_secrets_t;

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static void
s_start(const char *tag, const char *level, const char *oxms, int n_devices)
{
    const char *all[] = {"--log-level", level, NULL};
    const char *sim[] = {"--oxms", oxms, "--log-level", level, NULL};
    s_dir = obt_tmpdir(tag);
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start_with(&s_suite, s_dir, all, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, n_devices, NULL, sim), 0,
                 "devsim did not start");
}

static void
s_expect(const char *const *args, int want_rc)
{
    char *out = NULL;
    int rc = obt_ctl(&s_suite, args, &out);
    if (rc != want_rc) {
        obt_suite_dump(&s_suite);
        obt_proc_dump(&s_sim);
    }
    cr_assert_eq(rc, want_rc, "obtctl %s %s: exit %d: %s", args[0], args[1] ? args[1] : "", rc,
                 out ? out : "");
    free(out);
}

/* The uuids DOTS knows, in its list's order. */
static size_t
s_uuids(char (*uuids)[40], size_t max)
{
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL, *objs[MAX_DEVICES];
    cr_assert_eq(obt_ctl(&s_suite, list, &out), 0);
    size_t n = obt_json_objects(out, objs, max < MAX_DEVICES ? max : MAX_DEVICES);
    free(out);
    for (size_t i = 0; i < n; i++) {
        cr_assert(obt_json_str(objs[i], "uuid", uuids[i], 40));
        free(objs[i]);
    }
    return n;
}

static void
s_add_key(s_secrets_t *s, const uint8_t key[16])
{
    for (size_t i = 0; i < s->n_keys; i++) {
        if (memcmp(s->keys[i], key, 16) == 0) {
            return;
        }
    }
    cr_assert_lt(s->n_keys, MAX_SECRETS);
    memcpy(s->keys[s->n_keys++], key, 16);
}

/* Every privatedata_hex of every device's creds (owner, CMS and AMS PSKs). */
static size_t
s_device_keys(s_secrets_t *s)
{
    char *objs[MAX_DEVICES], hex[80];
    size_t found = 0;
    size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVICES);
    for (size_t i = 0; i < n; i++) {
        const char *p = objs[i];
        while ((p = obt_json_str(p, "privatedata_hex", hex, sizeof hex)) != NULL) {
            uint8_t key[16];
            if (strlen(hex) != 32) {
                continue;
            }
            for (int b = 0; b < 16; b++) {
                unsigned v = 0;
                cr_assert_eq(sscanf(hex + 2 * b, "%2x", &v), 1);
                key[b] = (uint8_t) v;
            }
            s_add_key(s, key);
            found++;
        }
        free(objs[i]);
    }
    return found;
}

/* The PSKs the stores hold for uuid: DOTS's three, CMS's and AMS's own. */
static void
s_store_keys(s_secrets_t *s, const char *uuid)
{
    char dir[700], kek[700];
    (void) snprintf(dir, sizeof dir, "%s/dots-store", s_dir);
    cmn_seal_t *seal = obt_dots_kek(dir);
    cr_assert_not_null(seal);
    cmn_err_t err;
    dots_store_t *st = dots_store_new(dir, false, 0, seal, &err);
    cr_assert_not_null(st);
    dots_secret_t sec;
    cr_assert_eq(dots_store_get_secret(st, uuid, &sec), CMN_OK);
    cr_assert(sec.has_owner && sec.has_cms && sec.has_ams);
    s_add_key(s, sec.owner_psk);
    s_add_key(s, sec.cms_psk);
    s_add_key(s, sec.ams_psk);
    dots_store_destroy(&st);
    cmn_seal_destroy(&seal);
    static const char *const svcs[] = {"cms", "ams"};
    static const char *const dbs[] = {"identity", "devices", "secrets"};
    for (size_t i = 0; i < 2; i++) {
        (void) snprintf(dir, sizeof dir, "%s/%s-store", s_dir, svcs[i]);
        cmn_seal_default_path(s_suite.keys, svcs[i], kek, sizeof kek);
        cr_assert_eq(cmn_seal_load(kek, false, &seal, NULL), CMN_OK, "%s", kek);
        cmn_kv_t *kv = cmn_kv_new(dir, dbs, 3, 0, false, &err);
        cr_assert_not_null(kv);
        cmn_kv_txn_t *txn = NULL;
        void *val = NULL;
        size_t len = 0;
        cr_assert_eq(cmn_kv_begin(kv, false, &txn), CMN_OK);
        cr_assert_eq(cmn_kv_get_sealed(txn, seal, "secrets", uuid, strlen(uuid), &val, &len),
                     CMN_OK, "%s has no PSK for %s", svcs[i], uuid);
        cmn_kv_abort(&txn);
        cr_assert_eq(len, 16);
        s_add_key(s, val);
        cmn_kv_free_secret(val, len);
        cmn_kv_destroy(&kv);
        cmn_seal_destroy(&seal);
    }
}

/* The ways a key can be written in a log: hex (both cases), base64 (the first 21
 * characters, padding or not), base64url. */
#define N_FORMS 4
static void
s_forms(const uint8_t key[16], char forms[N_FORMS][40])
{
    for (int b = 0; b < 16; b++) {
        (void) snprintf(forms[0] + 2 * b, 3, "%02x", key[b]);
        (void) snprintf(forms[1] + 2 * b, 3, "%02X", key[b]);
    }
    unsigned char b64[32];
    (void) EVP_EncodeBlock(b64, key, 16);
    (void) snprintf(forms[2], 40, "%.21s", (const char *) b64);
    (void) snprintf(forms[3], 40, "%.21s", (const char *) b64);
    for (char *c = forms[3]; *c; c++) {
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    }
}

static char *
s_slurp(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    (void) fclose(f);
    buf[n] = '\0';
    *ret_len = n;
    return buf;
}

/* Where needle is in buf, or NULL. */
static const char *
s_find(const char *buf, size_t len, const void *needle, size_t n)
{
    for (size_t i = 0; n && i + n <= len; i++) {
        if (buf[i] == *(const char *) needle && memcmp(buf + i, needle, n) == 0) {
            return buf + i;
        }
    }
    return NULL;
}

static bool
s_has(const char *buf, size_t len, const void *needle, size_t n)
{
    return s_find(buf, len, needle, n) != NULL;
}

/* The start of the line before at (for a failure message; not the secret itself). */
static const char *
s_line_before(const char *buf, const char *at, char *out, size_t len)
{
    const char *start = at;
    while (start > buf && start[-1] != '\n' && at - start < 200) {
        start--;
    }
    (void) snprintf(out, len, "%.*s", (int) (at - start), start);
    return out;
}

/* Fails if any form of any secret is in the file at path; raw also looks for the
 * keys' bytes. */
static void
s_assert_clean(const char *path, const s_secrets_t *s, bool raw)
{
    size_t len = 0;
    char *buf = s_slurp(path, &len);
    for (size_t i = 0; i < s->n_keys; i++) {
        char forms[N_FORMS][40];
        s_forms(s->keys[i], forms);
        for (size_t f = 0; f < N_FORMS; f++) {
            const char *at = s_find(buf, len, forms[f], strlen(forms[f]));
            char line[256];
            cr_assert_null(at, "%s holds key %zu (form %zu) after \"%s\"", path, i, f,
                           at ? s_line_before(buf, at, line, sizeof line) : "");
        }
        cr_assert_not(raw && s_has(buf, len, s->keys[i], 16), "%s holds key %zu in clear", path, i);
    }
    if (s->pin[0]) {
        cr_assert_not(s_has(buf, len, s->pin, strlen(s->pin)), "%s holds the PIN", path);
    }
    free(buf);
}

/* Every *.log file of the test's folder; returns how many. */
static size_t
s_assert_logs_clean(const s_secrets_t *s)
{
    DIR *d = opendir(s_dir);
    cr_assert_not_null(d);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0) {
            char path[1200];
            (void) snprintf(path, sizeof path, "%s/%s", s_dir, e->d_name);
            s_assert_clean(path, s, false);
            n++;
        }
    }
    (void) closedir(d);
    return n;
}

/* Every store file, raw, and what mdb_dump -a prints of it. */
static void
s_assert_stores_clean(const s_secrets_t *s)
{
    static const char *const svcs[] = {"dots", "cms", "ams"};
    for (size_t i = 0; i < 3; i++) {
        char path[1200], cmd[1400], out[1200];
        (void) snprintf(path, sizeof path, "%s/%s-store/data.mdb", s_dir, svcs[i]);
        s_assert_clean(path, s, true);
        (void) snprintf(out, sizeof out, "%s/%s-store.dump", s_dir, svcs[i]);
        (void) snprintf(cmd, sizeof cmd, "mdb_dump -a '%s/%s-store' > '%s'", s_dir, svcs[i], out);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
        s_assert_clean(out, s, false);
        (void) unlink(out);
    }
}

static void
s_pin_path(int idx, char *out, size_t len)
{
    (void) snprintf(out, len, "%s/devices/dev-%04d/pin.txt", s_dir, idx);
}

Test(secrets, no_psk_or_pin_in_any_debug_log, .init = NULL, .fini = s_teardown, .timeout = 180)
{
    s_start("secrets-log", "debug", "0,1", 2);
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, 2, &out), 0, "discovery: %s", out);
    char uuids[MAX_DEVICES][40];
    cr_assert_eq(s_uuids(uuids, MAX_DEVICES), 2);
    const char *jw[] = {"onboard", uuids[0], "--otm", "jw", NULL};
    s_expect(jw, 0);
    const char *rdp[] = {"onboard", uuids[1], "--otm", "rdp", "--no-wait", NULL};
    s_expect(rdp, 0);
    if (obt_proc_wait_log(&s_suite.dots, "DOTS-WAIT-PIN", 20000) != 0) {
        obt_suite_dump(&s_suite);
        cr_assert_fail("DOTS did not reach WAIT_PIN");
    }
    /* The PIN is on the device's "display" only: read it before it is used. */
    s_secrets_t sec = {0};
    char pin_file[700];
    s_pin_path(0, pin_file, sizeof pin_file);
    if (access(pin_file, F_OK) != 0) {
        s_pin_path(1, pin_file, sizeof pin_file);
    }
    FILE *f = fopen(pin_file, "r");
    cr_assert_not_null(f, "no device shows a PIN");
    cr_assert_not_null(fgets(sec.pin, sizeof sec.pin, f));
    (void) fclose(f);
    sec.pin[strcspn(sec.pin, "\n")] = '\0';
    cr_assert_eq(strlen(sec.pin), 8, "pin.txt: \"%s\"", sec.pin);
    const char *pin[] = {"pin", uuids[1], "--pin-file", pin_file, NULL};
    s_expect(pin, 0);

    /* Now uuids[] are stale (SET_DEVICEUUID); the devices' own view gives the keys. */
    cr_assert_geq(s_device_keys(&sec), 6, "owner, CMS and AMS PSK on each device");
    char now[MAX_DEVICES][40];
    cr_assert_eq(s_uuids(now, MAX_DEVICES), 2);
    for (size_t i = 0; i < 2; i++) {
        char *shown = obt_show(&s_suite, now[i]);
        cr_assert(shown && strstr(shown, "\"state\":\"RFNOP\""), "%s", shown ? shown : "");
        free(shown);
        s_store_keys(&sec, now[i]);
    }
    cr_assert_eq(sec.n_keys, 6, "the stores hold the keys the devices hold");

    /* The dumps were on: libcoap's PDU lines are in the gateway's log, cut. */
    cr_assert_gt(obt_proc_log_count(&s_suite.gw, " COAP "), 0, "no libcoap debug line");
    cr_assert_gt(obt_proc_log_count(&s_suite.gw, "Uri-Path:cred"), 0, "no cred POST dumped");
    cr_assert_eq(s_assert_logs_clean(&sec), 5, "gateway, dots, cms, ams and devsim logs");
}

/* Stops DOTS, CMS and AMS (the gateway and the devices stay). */
static void
s_stop_services(void)
{
    (void) obt_proc_stop(&s_suite.dots);
    (void) obt_proc_stop(&s_suite.cms);
    (void) obt_proc_stop(&s_suite.ams);
}

static int
s_rotate(const char *svc, const char *old_kek, const char *new_kek)
{
    char store[700];
    (void) snprintf(store, sizeof store, "%s/%s-store", s_dir, svc);
    const char *args[] = {"kek",   "rotate", "--store-dir", store, "--old",
                          old_kek, "--new",  new_kek,       NULL};
    return obt_ctl(&s_suite, args, NULL);
}

Test(secrets,
     stores_hold_no_key_and_rotation_keeps_the_suite_working,
     .init = NULL,
     .fini = s_teardown,
     .timeout = 240)
{
    s_start("secrets-store", "info", "0", 2);
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, 2, &out), 0, "discovery: %s", out);
    static const char *const all[] = {"onboard", "--all", "--wait-s", "60", NULL};
    s_expect(all, 0);
    s_secrets_t sec = {0};
    cr_assert_geq(s_device_keys(&sec), 6);
    s_assert_stores_clean(&sec);

    /* The daemons hold their stores: no rotation beside them. */
    char old_kek[3][700], new_kek[3][720];
    static const char *const svcs[] = {"dots", "cms", "ams"};
    for (size_t i = 0; i < 3; i++) {
        cmn_seal_default_path(s_suite.keys, svcs[i], old_kek[i], sizeof old_kek[i]);
        int n = snprintf(new_kek[i], sizeof new_kek[i], "%s.new", old_kek[i]);
        cr_assert(n > 0 && (size_t) n < sizeof new_kek[i]);
    }
    cr_assert_neq(s_rotate("dots", old_kek[0], new_kek[0]), 0, "rotated beside DOTS");
    s_stop_services();
    /* A wrong --old changes nothing. */
    cr_assert_eq(s_rotate("dots", old_kek[1], new_kek[0]), 1, "cms's KEK opened DOTS's store");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(s_rotate(svcs[i], old_kek[i], new_kek[i]), 0, "%s", svcs[i]);
    }
    s_assert_stores_clean(&sec);

    /* The old KEK is refused, clearly, at start (the logs are appended to: the first
     * run's READY is in them, so what counts is this run's line and exit). */
    (void) obt_suite_restart(&s_suite, "cms", NULL);
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "wrong key-encryption key?", 15000), 0);
    cr_assert_neq(obt_proc_stop(&s_suite.cms), 0, "CMS ran with the old KEK");
    cr_assert_eq(obt_proc_log_count(&s_suite.cms, " READY "), 1);
    /* CMS with --kek-file; DOTS and AMS with the new file put in the default place. */
    const char *cms_kek[] = {"--kek-file", new_kek[1], NULL};
    for (size_t i = 0; i < 3; i += 2) {
        cr_assert_eq(rename(new_kek[i], old_kek[i]), 0);
    }
    cr_assert_eq(obt_suite_restart(&s_suite, "cms", cms_kek), 0);
    cr_assert_eq(obt_suite_restart(&s_suite, "ams", NULL), 0);
    cr_assert_eq(obt_suite_restart(&s_suite, "dots", NULL), 0);
    obt_proc_t *procs[] = {&s_suite.cms, &s_suite.ams, &s_suite.dots};
    for (size_t i = 0; i < 3; i++) {
        if (obt_proc_wait_log_count(procs[i], " READY ", 2, 15000) != 0) {
            obt_proc_dump(procs[i]);
            cr_assert_fail("%s did not start with the new KEK", procs[i]->name);
        }
    }

    /* Everything reads its keys: show, the devices' checks, a repair (CMS and AMS on
     * their PSK sessions), a reset (DOTS on the owner PSK). */
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char uuids[MAX_DEVICES][40], *objs[MAX_DEVICES], why[300], store[700];
    cr_assert_eq(s_uuids(uuids, MAX_DEVICES), 2);
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVICES);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        char *shown = obt_show(&s_suite, uuids[i]);
        cr_assert_not_null(shown);
        cr_assert(obt_json_str(shown, "sd_uuid", ids.sd, sizeof ids.sd));
        free(shown);
        cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
        free(objs[i]);
    }
    const char *repair[] = {"repair", uuids[0], NULL};
    s_expect(repair, 0);
    const char *reset[] = {"reset", uuids[1], NULL};
    s_expect(reset, 0);
    cr_assert_not(obt_dots_store_has(store, uuids[1]), "DOTS still knows the reset device");
    s_assert_stores_clean(&sec);
}
