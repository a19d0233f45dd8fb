/* cmn_kv_test.c — LMDB store on a real directory */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_kv.h"
#include "obt/store.pb-c.h"

static char s_root[64];
static char s_dir[128];
static const char *const s_dbs[] = {"alpha", "beta"};

static void
s_setup(void)
{
    strcpy(s_root, "/tmp/cmn_kv_test.XXXXXX");
    cr_assert_not_null(mkdtemp(s_root));
    (void) snprintf(s_dir, sizeof s_dir, "%s/store", s_root);
}

static void
s_teardown(void)
{
    DIR *d = opendir(s_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] != '.') {
                char p[512];
                (void) snprintf(p, sizeof p, "%s/%s", s_dir, e->d_name);
                (void) unlink(p);
            }
        }
        (void) closedir(d);
    }
    (void) rmdir(s_dir);
    (void) rmdir(s_root);
}

static cmn_kv_t *
s_open(size_t map_size)
{
    cmn_err_t err = CMN_EIO;
    cmn_kv_t *kv = cmn_kv_new(s_dir, s_dbs, 2, map_size, false, &err);
    cr_assert_not_null(kv, "open: %s", cmn_errname(err));
    return kv;
}

TestSuite(cmn_kv, .init = s_setup, .fini = s_teardown);

Test(cmn_kv, put_get_roundtrip_and_not_found)
{
    cmn_kv_t *kv = s_open(0);
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, "alpha", "k1", 2, "value-1", 7), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    cr_assert_null(txn);

    void *val = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_kv_begin(kv, false, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_get(txn, "alpha", "k1", 2, &val, &len), CMN_OK);
    cr_assert_eq(cmn_kv_get(txn, "beta", "k1", 2, &val, &len), CMN_ENOTFOUND);
    cr_assert_eq(cmn_kv_get(txn, "alpha", "k2", 2, &val, &len), CMN_ENOTFOUND);
    cmn_kv_abort(&txn);
    cr_assert_null(txn);
    /* the copy outlives the transaction */
    cr_assert_eq(len, 7);
    cr_assert_eq(memcmp(val, "value-1", 7), 0);
    free(val);

    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_del(txn, "alpha", "k1", 2), CMN_OK);
    cr_assert_eq(cmn_kv_del(txn, "alpha", "k1", 2), CMN_ENOTFOUND);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    cmn_kv_destroy(&kv);
    cr_assert_null(kv);
}

typedef struct {
    int n;
    char keys[8][8];
} each_t;

static int
s_collect(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    each_t *e = arg;
    (void) val;
    cr_assert_eq(val_len, 1);
    memcpy(e->keys[e->n], key, key_len);
    e->keys[e->n][key_len] = '\0';
    e->n++;
    return e->n == 3 ? 1 : 0;
}

Test(cmn_kv, each_in_key_order_stops_early)
{
    cmn_kv_t *kv = s_open(0);
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    const char *keys[] = {"d", "b", "a", "c"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(cmn_kv_put(txn, "beta", keys[i], 1, "x", 1), CMN_OK);
    }
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    each_t e = {0};
    cr_assert_eq(cmn_kv_begin(kv, false, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_each(txn, "beta", s_collect, &e), CMN_OK);
    cmn_kv_abort(&txn);
    cr_assert_eq(e.n, 3);
    cr_assert_str_eq(e.keys[0], "a");
    cr_assert_str_eq(e.keys[1], "b");
    cr_assert_str_eq(e.keys[2], "c");
    cmn_kv_destroy(&kv);
}

Test(cmn_kv, protobuf_roundtrip_and_garbage)
{
    cmn_kv_t *kv = s_open(0);
    cmn_kv_txn_t *txn = NULL;
    Obt__Store__Identity id = OBT__STORE__IDENTITY__INIT;
    char uuid[] = "12345678-1234-5678-1234-567812345678";
    char name[] = "dots";
    id.version = 1;
    id.uuid = uuid;
    id.name = name;
    id.created_ms = 1234567890123ull;
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put_pb(txn, "alpha", "identity", &id.base), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, "alpha", "junk", 4, "\xff\xff\xff", 3), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);

    ProtobufCMessage *msg = NULL;
    cr_assert_eq(cmn_kv_begin(kv, false, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_get_pb(txn, "alpha", "identity", &obt__store__identity__descriptor, &msg),
                 CMN_OK);
    ProtobufCMessage *bad = NULL;
    cr_assert_eq(cmn_kv_get_pb(txn, "alpha", "junk", &obt__store__identity__descriptor, &bad),
                 CMN_EPROTO);
    cr_assert_eq(cmn_kv_get_pb(txn, "alpha", "none", &obt__store__identity__descriptor, &bad),
                 CMN_ENOTFOUND);
    cmn_kv_abort(&txn);
    Obt__Store__Identity *got = (Obt__Store__Identity *) msg;
    cr_assert_str_eq(got->uuid, id.uuid);
    cr_assert_str_eq(got->name, "dots");
    cr_assert_eq(got->created_ms, 1234567890123ull);
    protobuf_c_message_free_unpacked(msg, NULL);
    cmn_kv_destroy(&kv);
}

Test(cmn_kv, file_modes)
{
    cmn_kv_t *kv = s_open(0);
    struct stat st;
    cr_assert_eq(stat(s_dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    DIR *d = opendir(s_dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char p[512];
        (void) snprintf(p, sizeof p, "%s/%s", s_dir, e->d_name);
        cr_assert_eq(stat(p, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0600, "%s has mode %o", p, st.st_mode & 0777);
        files++;
    }
    (void) closedir(d);
    cr_assert_geq(files, 1);
    cmn_kv_destroy(&kv);
}

Test(cmn_kv, persists_across_reopen)
{
    cmn_kv_t *kv = s_open(0);
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, "beta", "key", 3, "kept", 4), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, "beta", "gone", 4, "x", 1), CMN_OK);
    cmn_kv_abort(&txn);
    cmn_kv_destroy(&kv);

    kv = s_open(0);
    void *val = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_kv_begin(kv, false, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_get(txn, "beta", "key", 3, &val, &len), CMN_OK);
    cr_assert_eq(cmn_kv_get(txn, "beta", "gone", 4, &(void *){NULL}, &(size_t){0}), CMN_ENOTFOUND);
    cmn_kv_abort(&txn);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(val, "kept", 4), 0);
    cmn_kv_free_secret(val, len);
    cmn_kv_destroy(&kv);
}

Test(cmn_kv, map_full_is_enospc)
{
    cmn_kv_t *kv = s_open(64 * 1024);
    static uint8_t blob[4096];
    cmn_err_t err = CMN_OK;
    for (int i = 0; i < 1000 && err == CMN_OK; i++) {
        cmn_kv_txn_t *txn = NULL;
        cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
        char key[16];
        int n = snprintf(key, sizeof key, "k%04d", i);
        err = cmn_kv_put(txn, "alpha", key, (size_t) n, blob, sizeof blob);
        if (err == CMN_OK) {
            err = cmn_kv_commit(&txn);
        } else {
            cmn_kv_abort(&txn);
        }
    }
    cr_assert_eq(err, CMN_ENOSPC, "got %s", cmn_errname(err));
    cmn_kv_destroy(&kv);
}

Test(cmn_kv, unknown_db_is_rejected)
{
    cmn_kv_t *kv = s_open(0);
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_neq(cmn_kv_put(txn, "nope", "k", 1, "v", 1), CMN_OK);
    cmn_kv_abort(&txn);
    cmn_kv_destroy(&kv);
}

/* A full disk (not a full map) says so: "No space left on device", not "store
 * failure". Needs root for a small tmpfs (the tests run as root in their namespace). */
Test(cmn_kv, a_full_disk_says_no_space_left_on_device)
{
    if (geteuid() != 0) {
        cr_skip_test("needs root to mount a small tmpfs");
    }
    cr_assert_eq(mkdir(s_dir, 0700), 0);
    if (mount("tmpfs", s_dir, "tmpfs", 0, "size=256k") != 0) {
        cr_skip_test("cannot mount a tmpfs here");
    }
    cmn_kv_t *kv = s_open(64 << 20); /* a map far larger than the disk */
    static uint8_t blob[16384];
    cmn_err_t err = CMN_OK;
    for (int i = 0; i < 1000 && err == CMN_OK; i++) {
        cmn_kv_txn_t *txn = NULL;
        err = cmn_kv_begin(kv, true, &txn);
        char key[16];
        int n = snprintf(key, sizeof key, "k%04d", i);
        if (err == CMN_OK) {
            err = cmn_kv_put(txn, "alpha", key, (size_t) n, blob, sizeof blob);
        }
        if (err == CMN_OK) {
            err = cmn_kv_commit(&txn);
        } else {
            cmn_kv_abort(&txn);
        }
    }
    cmn_kv_destroy(&kv);
    (void) umount(s_dir);
    cr_assert_str_eq(cmn_strerror(err), "No space left on device", "got %s (%s)", cmn_errname(err),
                     cmn_strerror(err));
}
