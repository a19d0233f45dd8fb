/* cmn_seal_test.c — secrets at rest: sealing, the KEK file, re-sealing a real LMDB */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmn_kv.h"
#include "cmn_seal.h"
#include "obt_support.h"

static char *s_dir;
static cmn_seal_t *s_a, *s_b;

static const uint8_t PSK[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
#define UUID_1 "11111111-2222-3333-4444-555555555555"
#define UUID_2 "66666666-7777-8888-9999-000000000000"

static void
s_setup(void)
{
    uint8_t kek[CMN_SEAL_KEK_LEN];
    s_dir = obt_tmpdir("cmn_seal_test");
    cr_assert_not_null(s_dir);
    memset(kek, 0xa1, sizeof kek);
    s_a = cmn_seal_new(kek);
    memset(kek, 0xb2, sizeof kek);
    s_b = cmn_seal_new(kek);
    cr_assert(s_a && s_b);
}

static void
s_teardown(void)
{
    cmn_seal_destroy(&s_a);
    cmn_seal_destroy(&s_b);
    obt_rmrf(s_dir);
    free(s_dir);
    s_dir = NULL;
}

static void
s_seal_psk(const cmn_seal_t *seal, const char *uuid, uint8_t **rec, size_t *len)
{
    cr_assert_eq(cmn_seal_seal(seal, "secrets", uuid, strlen(uuid), PSK, 16, rec, len), CMN_OK);
}

static cmn_err_t
s_open(const cmn_seal_t *seal, const char *db, const char *uuid, const uint8_t *rec, size_t len)
{
    uint8_t *plain = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_seal_open(seal, db, uuid, strlen(uuid), rec, len, &plain, &n);
    if (err == CMN_OK) {
        cr_assert_eq(n, 16);
        cr_assert_eq(memcmp(plain, PSK, 16), 0);
        free(plain);
    }
    return err;
}

Test(cmn_seal, roundtrip_with_a_fresh_nonce_each_time, .init = s_setup, .fini = s_teardown)
{
    uint8_t *r1 = NULL, *r2 = NULL;
    size_t n1 = 0, n2 = 0;
    s_seal_psk(s_a, UUID_1, &r1, &n1);
    s_seal_psk(s_a, UUID_1, &r2, &n2);
    cr_assert_eq(n1, 16 + CMN_SEAL_OVERHEAD);
    cr_assert_eq(r1[0], CMN_SEAL_V1);
    cr_assert(cmn_seal_is_sealed(r1, n1));
    cr_assert_neq(memcmp(r1 + 1, r2 + 1, CMN_SEAL_NONCE), 0, "a nonce was reused");
    cr_assert_neq(memcmp(r1, r2, n1), 0);
    cr_assert_eq(s_open(s_a, "secrets", UUID_1, r1, n1), CMN_OK);
    cr_assert_eq(s_open(s_a, "secrets", UUID_1, r2, n2), CMN_OK);
    free(r1);
    free(r2);
}

Test(cmn_seal, another_kek_is_refused, .init = s_setup, .fini = s_teardown)
{
    uint8_t *r = NULL;
    size_t n = 0;
    s_seal_psk(s_a, UUID_1, &r, &n);
    cr_assert_eq(s_open(s_b, "secrets", UUID_1, r, n), CMN_ECRYPTO);
    free(r);
}

Test(cmn_seal, every_changed_byte_is_refused, .init = s_setup, .fini = s_teardown)
{
    uint8_t *r = NULL;
    size_t n = 0;
    s_seal_psk(s_a, UUID_1, &r, &n);
    for (size_t i = 0; i < n; i++) {
        r[i] ^= 0x01;
        cmn_err_t err = s_open(s_a, "secrets", UUID_1, r, n);
        /* byte 0 is the version: another version is unknown, not a bad tag */
        cr_assert_eq(err, i == 0 ? CMN_EPROTO : CMN_ECRYPTO, "byte %zu", i);
        r[i] ^= 0x01;
    }
    cr_assert_eq(s_open(s_a, "secrets", UUID_1, r, n - 1), CMN_ECRYPTO, "cut tag");
    cr_assert_eq(s_open(s_a, "secrets", UUID_1, r, CMN_SEAL_OVERHEAD - 1), CMN_EPROTO);
    free(r);
}

Test(cmn_seal,
     a_value_moved_to_another_record_or_db_is_refused,
     .init = s_setup,
     .fini = s_teardown)
{
    uint8_t *r1 = NULL, *r2 = NULL;
    size_t n1 = 0, n2 = 0;
    s_seal_psk(s_a, UUID_1, &r1, &n1);
    s_seal_psk(s_a, UUID_2, &r2, &n2);
    /* The two records' values swapped: each is bound to its own key. */
    cr_assert_eq(s_open(s_a, "secrets", UUID_2, r1, n1), CMN_ECRYPTO);
    cr_assert_eq(s_open(s_a, "secrets", UUID_1, r2, n2), CMN_ECRYPTO);
    cr_assert_eq(s_open(s_a, "devices", UUID_1, r1, n1), CMN_ECRYPTO);
    free(r1);
    free(r2);
}

Test(cmn_seal, plain_records_of_earlier_releases_are_not_sealed_ones)
{
    uint8_t raw16[16];
    memset(raw16, 0x01, sizeof raw16); /* even with a version-like first byte */
    cr_assert_not(cmn_seal_is_sealed(raw16, sizeof raw16));
    const uint8_t pb[] = {0x08, 0x01, 0x12, 0x10, 1,  2,  3,  4,    5,    6,  7,  8, 9,
                          10,   11,   12,   13,   14, 15, 16, 0x1a, 0x10, 1,  2,  3, 4,
                          5,    6,    7,    8,    9,  10, 11, 12,   13,   14, 15, 16};
    cr_assert_not(cmn_seal_is_sealed(pb, sizeof pb)); /* store.DotsSecret, version 1 */
}

Test(cmn_seal, kek_file_made_0600_then_read_back, .init = s_setup, .fini = s_teardown)
{
    char path[128];
    (void) snprintf(path, sizeof path, "%s/x.kek", s_dir);
    cmn_seal_t *made = NULL, *read = NULL;
    bool is_created = false;
    cr_assert_eq(cmn_seal_load(path, false, &made, NULL), CMN_ENOTFOUND);
    cr_assert_eq(cmn_seal_load(path, true, &made, &is_created), CMN_OK);
    cr_assert(is_created);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(st.st_size, CMN_SEAL_KEK_LEN);
    cr_assert_eq(cmn_seal_load(path, true, &read, &is_created), CMN_OK);
    cr_assert_not(is_created);
    uint8_t *r = NULL;
    size_t n = 0;
    s_seal_psk(made, UUID_1, &r, &n);
    cr_assert_eq(s_open(read, "secrets", UUID_1, r, n), CMN_OK, "the file is the key");
    free(r);
    cmn_seal_destroy(&made);
    cmn_seal_destroy(&read);
}

Test(cmn_seal, a_kek_file_of_another_size_is_refused, .init = s_setup, .fini = s_teardown)
{
    char path[128];
    (void) snprintf(path, sizeof path, "%s/short.kek", s_dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    (void) fputs("0123456789abcdef0123456789abcdef\n", f); /* 33 bytes: hex is not the key */
    (void) fclose(f);
    cmn_seal_t *seal = NULL;
    cr_assert_eq(cmn_seal_load(path, true, &seal, NULL), CMN_EINVAL);
    cr_assert_null(seal);
    cr_assert_eq(cmn_seal_load(s_dir, true, &seal, NULL), CMN_EINVAL, "a folder");
}

static cmn_kv_t *
s_store(void)
{
    static const char *const dbs[] = {"identity", "devices", "secrets"};
    cmn_err_t err;
    cmn_kv_t *kv = cmn_kv_new(s_dir, dbs, 3, 0, false, &err);
    cr_assert_not_null(kv, "%s", cmn_strerror(err));
    return kv;
}

static cmn_err_t
s_get_psk(cmn_kv_t *kv, const cmn_seal_t *seal, const char *uuid)
{
    cmn_kv_txn_t *txn = NULL;
    void *val = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_kv_begin(kv, false, &txn), CMN_OK);
    cmn_err_t err = cmn_kv_get_sealed(txn, seal, "secrets", uuid, strlen(uuid), &val, &len);
    cmn_kv_abort(&txn);
    if (err == CMN_OK) {
        cr_assert_eq(len, 16);
        cr_assert_eq(memcmp(val, PSK, 16), 0);
        cmn_kv_free_secret(val, len);
    }
    return err;
}

Test(cmn_seal,
     store_start_migrates_plain_records_and_rotation_reseals_all,
     .init = s_setup,
     .fini = s_teardown)
{
    cmn_kv_t *kv = s_store();
    cmn_kv_txn_t *txn = NULL;
    size_t count = 99;
    /* Before sealing: CMS/AMS wrote the 16 raw bytes. */
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, "secrets", UUID_1, strlen(UUID_1), PSK, 16), CMN_OK);
    cr_assert_eq(cmn_kv_put_sealed(txn, s_a, "secrets", UUID_2, strlen(UUID_2), PSK, 16), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    cr_assert_eq(s_get_psk(kv, s_a, UUID_1), CMN_EPROTO, "plain is not read as sealed");

    cr_assert_eq(cmn_kv_reseal(kv, "secrets", NULL, s_a, &count), CMN_OK);
    cr_assert_eq(count, 1, "only the plain record is written");
    cr_assert_eq(s_get_psk(kv, s_a, UUID_1), CMN_OK);
    cr_assert_eq(s_get_psk(kv, s_a, UUID_2), CMN_OK);
    /* The check record now names KEK a: a start with b fails, nothing changes. */
    cr_assert_eq(cmn_kv_reseal(kv, "secrets", NULL, s_b, &count), CMN_ECRYPTO);
    /* Rotation with a wrong --old fails as a whole. */
    cr_assert_eq(cmn_kv_reseal(kv, "secrets", s_b, s_a, &count), CMN_ECRYPTO);
    cr_assert_eq(s_get_psk(kv, s_a, UUID_1), CMN_OK);
    /* a -> b: every record, one transaction. */
    cr_assert_eq(cmn_kv_reseal(kv, "secrets", s_a, s_b, &count), CMN_OK);
    cr_assert_eq(count, 2);
    cr_assert_eq(s_get_psk(kv, s_a, UUID_1), CMN_ECRYPTO);
    cr_assert_eq(s_get_psk(kv, s_b, UUID_1), CMN_OK);
    cr_assert_eq(s_get_psk(kv, s_b, UUID_2), CMN_OK);
    cr_assert_eq(cmn_kv_reseal(kv, "secrets", NULL, s_b, &count), CMN_OK);
    cr_assert_eq(count, 0);
    cmn_kv_destroy(&kv);
}

Test(cmn_seal, rotation_needs_the_store_alone, .init = s_setup, .fini = s_teardown)
{
    cmn_kv_t *daemon = s_store();
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* Another process (obtctl kek rotate) cannot take the store from a daemon. */
        cmn_kv_t *tool = s_store();
        int rc = cmn_kv_lock_exclusive(tool) == CMN_ESTATE ? 0 : 1;
        cmn_kv_destroy(&tool);
        _exit(rc);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cmn_kv_destroy(&daemon);
    cmn_kv_t *tool = s_store();
    cr_assert_eq(cmn_kv_lock_exclusive(tool), CMN_OK, "alone, it may");
    cmn_kv_destroy(&tool);
}
