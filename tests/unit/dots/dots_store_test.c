/* dots_store_test.c — DOTS LMDB schema against a real LMDB in a temporary folder */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_kv.h"
#include "dots_onboard.h"
#include "dots_store.h"
#include "obt/store.pb-c.h"

static char s_dir[64];
static dots_store_t *s_store;
static cmn_seal_t *s_seal;

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void
s_open(void)
{
    cmn_err_t err = CMN_OK;
    s_store = dots_store_new(s_dir, false, 16u << 20, s_seal, &err);
    cr_assert_not_null(s_store, "dots_store_new: %s", cmn_strerror(err));
    cr_assert_eq(dots_store_check_kek(s_store, NULL), CMN_OK);
}

static void
s_setup(void)
{
    (void) snprintf(s_dir, sizeof s_dir, "/tmp/dots_store_test.XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    uint8_t kek[CMN_SEAL_KEK_LEN];
    memset(kek, 0x11, sizeof kek);
    s_seal = cmn_seal_new(kek);
    cr_assert_not_null(s_seal);
    s_open();
}

static void
s_teardown(void)
{
    dots_store_destroy(&s_store);
    cmn_seal_destroy(&s_seal);
    (void) nftw(s_dir, s_rm, 8, FTW_DEPTH | FTW_PHYS);
}

static void
s_make_dev(dots_dev_t *d, const char *uuid)
{
    memset(d, 0, sizeof *d);
    (void) snprintf(d->uuid, sizeof d->uuid, "%s", uuid);
    (void) snprintf(d->first_uuid, sizeof d->first_uuid, "%s", uuid);
    d->state = JOB_DISCOVERED;
    (void) snprintf(d->eps[0], sizeof d->eps[0], "coap://127.0.0.1:40001");
    (void) snprintf(d->eps[1], sizeof d->eps[1], "coaps://127.0.0.1:40002");
    d->n_eps = 2;
    d->oxms[0] = 0;
    d->oxms[1] = 1;
    d->n_oxms = 2;
    d->sct = 9;
    d->discovered_ms = 1234;
}

static int
s_count(const dots_dev_t *dev, void *arg)
{
    (void) dev;
    (*(size_t *) arg)++;
    return 0;
}

#define UUID_A "11111111-2222-3333-4444-555555555555"
#define UUID_B "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

Test(dots_store, put_then_get_roundtrips, .init = s_setup, .fini = s_teardown)
{
    dots_dev_t d, got;
    s_make_dev(&d, UUID_A);
    d.approved = true;
    d.state = JOB_SET_OXMSEL;
    d.attempts = 3;
    d.deadline_ms = 99999;
    (void) snprintf(d.error, sizeof d.error, "GET_DOXM: timeout");
    cr_assert_eq(dots_store_put(s_store, &d, NULL, NULL), CMN_OK);
    cr_assert_eq(dots_store_get(s_store, UUID_A, &got), CMN_OK);
    cr_assert_str_eq(got.uuid, UUID_A);
    cr_assert_str_eq(got.first_uuid, UUID_A);
    cr_assert_eq(got.state, JOB_SET_OXMSEL);
    cr_assert(got.approved);
    cr_assert_eq(got.attempts, 3);
    cr_assert_eq(got.deadline_ms, 99999);
    cr_assert_eq(got.n_eps, 2);
    cr_assert_str_eq(got.eps[1], "coaps://127.0.0.1:40002");
    cr_assert_eq(got.n_oxms, 2);
    cr_assert_eq(got.oxms[1], 1);
    cr_assert_eq(got.sct, 9);
    cr_assert_str_eq(got.error, "GET_DOXM: timeout");
    cr_assert_eq(dots_store_get(s_store, UUID_B, &got), CMN_ENOTFOUND);
}

Test(dots_store, the_bridge_job_and_the_vod_links_roundtrip, .init = s_setup, .fini = s_teardown)
{
    dots_dev_t d, got;
    s_make_dev(&d, UUID_A);
    d.bridge = 3;
    d.is_bridge = true;
    d.n_vods = DOTS_MAX_VODS;
    for (size_t i = 0; i < DOTS_MAX_VODS; i++) {
        (void) snprintf(d.vods[i], sizeof d.vods[i], "11111111-2222-3333-4444-%012zu", i);
    }
    (void) snprintf(d.bridge_uuid, sizeof d.bridge_uuid, "%s", UUID_B);
    (void) snprintf(d.bridge_error, sizeof d.bridge_error, "VOD %s not found", UUID_B);
    d.bridge_deadline_ms = 4242;
    cr_assert_eq(dots_store_put(s_store, &d, NULL, NULL), CMN_OK);
    cr_assert_eq(dots_store_get(s_store, UUID_A, &got), CMN_OK);
    cr_assert_eq(got.bridge, 3);
    cr_assert(got.is_bridge);
    cr_assert_eq(got.n_vods, DOTS_MAX_VODS);
    cr_assert_str_eq(got.vods[DOTS_MAX_VODS - 1], d.vods[DOTS_MAX_VODS - 1]);
    cr_assert_str_eq(got.bridge_uuid, UUID_B);
    cr_assert_str_eq(got.bridge_error, d.bridge_error);
    cr_assert_eq(got.bridge_deadline_ms, 4242);
}

Test(dots_store, the_recovery_and_superseded_fields_roundtrip, .init = s_setup, .fini = s_teardown)
{
    dots_dev_t d, got;
    s_make_dev(&d, UUID_A);
    d.state = JOB_FAILED;
    d.recover_attempts = 2;
    d.recover_at_ms = 1700000000123ULL;
    (void) snprintf(d.superseded_by, sizeof d.superseded_by, "%s", UUID_B);
    cr_assert_eq(dots_store_put(s_store, &d, NULL, NULL), CMN_OK);
    cr_assert_eq(dots_store_get(s_store, UUID_A, &got), CMN_OK);
    cr_assert_eq(got.recover_attempts, 2);
    cr_assert_eq(got.recover_at_ms, 1700000000123ULL);
    cr_assert_str_eq(got.superseded_by, UUID_B);
    /* a record of an earlier release has none of them */
    s_make_dev(&d, UUID_B);
    cr_assert_eq(dots_store_put(s_store, &d, NULL, NULL), CMN_OK);
    cr_assert_eq(dots_store_get(s_store, UUID_B, &got), CMN_OK);
    cr_assert_eq(got.recover_attempts, 0);
    cr_assert_eq(got.recover_at_ms, 0);
    cr_assert_str_eq(got.superseded_by, "");
}

#define MFG_SHA256 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

Test(dots_store, the_mfg_certificate_is_checked_and_roundtrips, .init = s_setup, .fini = s_teardown)
{
    dots_dev_t d, got;
    s_make_dev(&d, UUID_A);
    cr_assert_eq(dots_dev_set_mfg_cert(&d, "uuid:" UUID_B, MFG_SHA256), CMN_OK);
    cr_assert_eq(dots_store_put(s_store, &d, NULL, NULL), CMN_OK);
    cr_assert_eq(dots_store_get(s_store, UUID_A, &got), CMN_OK);
    cr_assert_str_eq(got.mfg_cert_cn, "uuid:" UUID_B);
    cr_assert_str_eq(got.mfg_cert_sha256, MFG_SHA256);
    /* malformed descriptions leave the record as it was */
    static const char *const bad[][2] = {
            {"uuid:" UUID_B, ""}, /* one without the other */
            {"", MFG_SHA256},
            {"uuid:" UUID_B, "0123"}, /* not 64 digits */
            {"uuid:" UUID_B, MFG_SHA256 "00"},
            {"uuid:" UUID_B, "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"},
            {"uuid:\n" UUID_B, MFG_SHA256},      /* a control character */
            {"uuid:\xc3\xa9", MFG_SHA256},       /* not ASCII */
            {"uuid:" UUID_B UUID_B, MFG_SHA256}, /* 5 + 72 bytes: too long */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(dots_dev_set_mfg_cert(&got, bad[i][0], bad[i][1]), CMN_EPROTO, "case %zu", i);
        cr_expect_str_eq(got.mfg_cert_sha256, MFG_SHA256, "case %zu changed the record", i);
    }
    /* a DOC by another OTM clears them */
    cr_assert_eq(dots_dev_set_mfg_cert(&got, NULL, ""), CMN_OK);
    cr_assert_str_eq(got.mfg_cert_cn, "");
    cr_assert_str_eq(got.mfg_cert_sha256, "");
}

Test(dots_store, rekey_moves_record_and_aliases_old_uuid, .init = s_setup, .fini = s_teardown)
{
    dots_dev_t d, got;
    dots_secret_t sec = {0}, sgot;
    s_make_dev(&d, UUID_A);
    sec.has_owner = true;
    memset(sec.owner_psk, 0x5a, sizeof sec.owner_psk);
    cr_assert_eq(dots_store_put(s_store, &d, &sec, NULL), CMN_OK);

    (void) snprintf(d.uuid, sizeof d.uuid, "%s", UUID_B);
    d.state = JOB_SET_DOXM_ROWNER;
    cr_assert_eq(dots_store_put(s_store, &d, NULL, UUID_A), CMN_OK);

    /* Both the new and the old uuid find the one record, keyed by the new uuid. */
    cr_assert_eq(dots_store_get(s_store, UUID_B, &got), CMN_OK);
    cr_assert_str_eq(got.uuid, UUID_B);
    cr_assert_str_eq(got.first_uuid, UUID_A);
    cr_assert_eq(got.state, JOB_SET_DOXM_ROWNER);
    memset(&got, 0, sizeof got);
    cr_assert_eq(dots_store_get(s_store, UUID_A, &got), CMN_OK);
    cr_assert_str_eq(got.uuid, UUID_B);

    /* The secret moved with the record. */
    cr_assert_eq(dots_store_get_secret(s_store, UUID_B, &sgot), CMN_OK);
    cr_assert(sgot.has_owner);
    cr_assert_eq(memcmp(sgot.owner_psk, sec.owner_psk, 16), 0);

    /* Exactly one device record remains. */
    size_t n = 0;
    cr_assert_eq(dots_store_each(s_store, s_count, &n), CMN_OK);
    cr_assert_eq(n, 1);
}

Test(dots_store, secrets_roundtrip_and_survive_reopen, .init = s_setup, .fini = s_teardown)
{
    dots_dev_t d;
    dots_secret_t sec = {0}, got;
    s_make_dev(&d, UUID_A);
    cr_assert_eq(dots_store_get_secret(s_store, UUID_A, &got), CMN_ENOTFOUND);
    sec.has_owner = true;
    sec.has_cms = true;
    sec.has_ams = false;
    for (int i = 0; i < 16; i++) {
        sec.owner_psk[i] = (uint8_t) i;
        sec.cms_psk[i] = (uint8_t) (0xf0 | i);
    }
    cr_assert_eq(dots_store_put(s_store, &d, &sec, NULL), CMN_OK);
    dots_store_destroy(&s_store);
    s_open();
    cr_assert_eq(dots_store_get_secret(s_store, UUID_A, &got), CMN_OK);
    cr_assert(got.has_owner);
    cr_assert(got.has_cms);
    cr_assert_not(got.has_ams);
    cr_assert_eq(memcmp(got.owner_psk, sec.owner_psk, 16), 0);
    cr_assert_eq(memcmp(got.cms_psk, sec.cms_psk, 16), 0);
}

Test(dots_store, identity_created_once_and_reused, .init = s_setup, .fini = s_teardown)
{
    dots_identity_t a, b;
    cr_assert_eq(dots_store_identity(s_store, "OBT DOTS", &a), CMN_OK);
    cr_assert_eq(strlen(a.uuid), 36);
    cr_assert_eq(strlen(a.sd_uuid), 36);
    cr_assert_str_neq(a.uuid, a.sd_uuid);
    cr_assert_str_eq(a.name, "OBT DOTS");
    /* The DOTS uuid is used as a PSK identity: no zero bytes, so no "00" byte pair. */
    for (size_t i = 0; i + 1 < sizeof a.uuid && a.uuid[i] != '\0'; i++) {
        if (a.uuid[i] == '-') {
            continue;
        }
        size_t j = i + 1;
        if (a.uuid[j] == '-') {
            j++;
        }
        cr_assert_not(a.uuid[i] == '0' && a.uuid[j] == '0', "zero byte in %s", a.uuid);
        i = j;
    }
    dots_store_destroy(&s_store);
    s_open();
    cr_assert_eq(dots_store_identity(s_store, "another name", &b), CMN_OK);
    cr_assert_str_eq(b.uuid, a.uuid);
    cr_assert_str_eq(b.sd_uuid, a.sd_uuid);
    cr_assert_str_eq(b.name, "OBT DOTS");
}

typedef struct {
    size_t n;
    char ids[4][DOTS_TRUST_ID_LEN + 1];
    char first_pem[64];
} s_trust_seen_t;

static int
s_trust_seen(const char *id, const uint8_t *pem, size_t len, void *arg)
{
    s_trust_seen_t *t = arg;
    if (t->n < 4) {
        (void) snprintf(t->ids[t->n], sizeof t->ids[0], "%s", id);
    }
    if (t->n == 0) {
        (void) snprintf(t->first_pem, sizeof t->first_pem, "%.*s", (int) len, (const char *) pem);
    }
    t->n++;
    return 0;
}

Test(dots_store, trust_anchors_are_kept_replaced_and_removed, .init = s_setup, .fini = s_teardown)
{
    char a[DOTS_TRUST_ID_LEN + 1], b[DOTS_TRUST_ID_LEN + 1];
    memset(a, 'a', DOTS_TRUST_ID_LEN);
    memset(b, 'b', DOTS_TRUST_ID_LEN);
    a[DOTS_TRUST_ID_LEN] = b[DOTS_TRUST_ID_LEN] = '\0';
    cr_assert_eq(dots_store_trust_put(s_store, b, (const uint8_t *) "PEM-B", 5), CMN_OK);
    cr_assert_eq(dots_store_trust_put(s_store, a, (const uint8_t *) "PEM-A0", 6), CMN_OK);
    cr_assert_eq(dots_store_trust_put(s_store, a, (const uint8_t *) "PEM-A", 5), CMN_OK);

    /* Survives closing and reopening the environment. */
    dots_store_destroy(&s_store);
    s_open();
    s_trust_seen_t t = {0};
    cr_assert_eq(dots_store_trust_each(s_store, s_trust_seen, &t), CMN_OK);
    cr_assert_eq(t.n, 2, "a put with the same id replaces");
    cr_expect_str_eq(t.ids[0], a, "key order");
    cr_expect_str_eq(t.first_pem, "PEM-A");

    cr_assert_eq(dots_store_trust_del(s_store, a), CMN_OK);
    cr_expect_eq(dots_store_trust_del(s_store, a), CMN_ENOTFOUND);
    memset(&t, 0, sizeof t);
    cr_assert_eq(dots_store_trust_each(s_store, s_trust_seen, &t), CMN_OK);
    cr_assert_eq(t.n, 1);
    cr_expect_str_eq(t.ids[0], b);
}

Test(dots_store, del_removes_record_secret_and_aliases, .init = s_setup, .fini = s_teardown)
{
    dots_dev_t d, got;
    dots_secret_t sec = {0}, sgot;
    s_make_dev(&d, UUID_A);
    sec.has_owner = true;
    memset(sec.owner_psk, 0x5a, sizeof sec.owner_psk);
    cr_assert_eq(dots_store_put(s_store, &d, &sec, NULL), CMN_OK);
    (void) snprintf(d.uuid, sizeof d.uuid, "%s", UUID_B);
    d.maint = 3;
    (void) snprintf(d.maint_error, sizeof d.maint_error, "pending");
    cr_assert_eq(dots_store_put(s_store, &d, NULL, UUID_A), CMN_OK);
    cr_assert_eq(dots_store_get(s_store, UUID_B, &got), CMN_OK);
    cr_assert_eq(got.maint, 3, "the reset/repair job state is persisted");
    cr_assert_str_eq(got.maint_error, "pending");

    /* By its old uuid (an alias): everything goes, and again is not an error. */
    cr_assert_eq(dots_store_del(s_store, UUID_A), CMN_OK);
    cr_assert_eq(dots_store_get(s_store, UUID_A, &got), CMN_ENOTFOUND);
    cr_assert_eq(dots_store_get(s_store, UUID_B, &got), CMN_ENOTFOUND);
    cr_assert_eq(dots_store_get_secret(s_store, UUID_B, &sgot), CMN_ENOTFOUND);
    size_t n = 0;
    cr_assert_eq(dots_store_each(s_store, s_count, &n), CMN_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(dots_store_del(s_store, UUID_B), CMN_OK);
}

/* The raw store file holds no byte pattern of a key. */
static bool
s_file_has(const char *path, const uint8_t *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static uint8_t buf[1 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    (void) fclose(f);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(buf + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

Test(dots_store, secrets_are_sealed_in_the_file, .init = s_setup, .fini = s_teardown)
{
    dots_dev_t d;
    dots_secret_t sec = {0};
    s_make_dev(&d, UUID_A);
    sec.has_owner = sec.has_cms = sec.has_ams = true;
    memcpy(sec.owner_psk, "owner-psk-16byte", 16);
    memcpy(sec.cms_psk, "cms-psk-16-bytes", 16);
    memcpy(sec.ams_psk, "ams-psk-16-bytes", 16);
    cr_assert_eq(dots_store_put(s_store, &d, &sec, NULL), CMN_OK);
    dots_store_destroy(&s_store);
    char path[128];
    (void) snprintf(path, sizeof path, "%s/data.mdb", s_dir);
    cr_assert_not(s_file_has(path, sec.owner_psk, 16));
    cr_assert_not(s_file_has(path, sec.cms_psk, 16));
    cr_assert_not(s_file_has(path, sec.ams_psk, 16));
    s_open();
}

Test(dots_store,
     another_kek_is_refused_at_start_and_per_record,
     .init = s_setup,
     .fini = s_teardown)
{
    dots_dev_t d;
    dots_secret_t sec = {0}, got;
    s_make_dev(&d, UUID_A);
    sec.has_owner = true;
    cr_assert_eq(dots_store_put(s_store, &d, &sec, NULL), CMN_OK);
    dots_store_destroy(&s_store);
    uint8_t other[CMN_SEAL_KEK_LEN];
    memset(other, 0x22, sizeof other);
    cmn_seal_t *mine = s_seal;
    s_seal = cmn_seal_new(other);
    cmn_err_t err;
    s_store = dots_store_new(s_dir, false, 16u << 20, s_seal, &err);
    cr_assert_not_null(s_store);
    cr_assert_eq(dots_store_check_kek(s_store, NULL), CMN_ECRYPTO);
    cr_assert_eq(dots_store_get_secret(s_store, UUID_A, &got), CMN_ECRYPTO);
    cmn_seal_destroy(&s_seal);
    s_seal = mine;
    dots_store_destroy(&s_store);
    s_open();
    cr_assert_eq(dots_store_get_secret(s_store, UUID_A, &got), CMN_OK);
}

Test(dots_store,
     plain_secrets_of_earlier_releases_are_sealed_at_start,
     .init = s_setup,
     .fini = s_teardown)
{
    dots_store_destroy(&s_store);
    /* A store as the release before sealing wrote it: a plain DotsSecret. */
    static const char *const dbs[] = {"identity", "devices", "aliases", "secrets", "mfgtrust"};
    cmn_err_t err;
    cmn_kv_t *kv = cmn_kv_new(s_dir, dbs, 5, 16u << 20, false, &err);
    cr_assert_not_null(kv);
    cmn_kv_txn_t *txn = NULL;
    uint8_t key[16];
    memcpy(key, "plain-owner-psk!", 16);
    Obt__Store__DotsSecret rec = OBT__STORE__DOTS_SECRET__INIT;
    rec.version = 1;
    rec.owner_psk = (ProtobufCBinaryData){16, key};
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put_pb(txn, "secrets", UUID_A, &rec.base), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    cmn_kv_destroy(&kv);

    err = CMN_OK;
    s_store = dots_store_new(s_dir, false, 16u << 20, s_seal, &err);
    cr_assert_not_null(s_store);
    size_t migrated = 0;
    cr_assert_eq(dots_store_check_kek(s_store, &migrated), CMN_OK);
    cr_assert_eq(migrated, 1);
    dots_secret_t got;
    cr_assert_eq(dots_store_get_secret(s_store, UUID_A, &got), CMN_OK);
    cr_assert(got.has_owner);
    cr_assert_eq(memcmp(got.owner_psk, key, 16), 0);
    /* Once sealed, a second start has nothing to migrate. */
    cr_assert_eq(dots_store_check_kek(s_store, &migrated), CMN_OK);
    cr_assert_eq(migrated, 0);
}
