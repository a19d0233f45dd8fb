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

/* ---- group mode */

static int s_writes; /* on_write calls */

static void
s_on_write(void *arg)
{
    (void) arg;
    s_writes++;
}

static void
s_put_one(cmn_kv_t *kv, const char *db, const char *key)
{
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, db, key, strlen(key), "v", 1), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
}

/* Whether key is in db: as the group sees it (is_own false) or as committed. */
static bool
s_has(cmn_kv_t *kv, const char *db, const char *key, bool is_own)
{
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(is_own ? cmn_kv_begin_own(kv, &txn) : cmn_kv_begin(kv, false, &txn), CMN_OK);
    void *val = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_kv_get(txn, db, key, strlen(key), &val, &len);
    cmn_kv_abort(&txn);
    free(val);
    return err == CMN_OK;
}

Test(cmn_kv, group_mode_holds_every_write_until_the_group_commit)
{
    cmn_kv_t *kv = s_open(0);
    s_writes = 0;
    cmn_kv_group_enable(kv, s_on_write, NULL);
    cr_assert_not(cmn_kv_group_is_open(kv));
    cr_assert_eq(cmn_kv_group_age_ms(kv), 0);
    s_put_one(kv, "alpha", "a");
    s_put_one(kv, "beta", "b");
    cr_assert_eq(s_writes, 2, "on_write at each write (got %d)", s_writes);
    cmn_kv_txn_t *quiet = NULL;
    cr_assert_eq(cmn_kv_begin_quiet(kv, &quiet), CMN_OK);
    cr_assert_eq(cmn_kv_put(quiet, "alpha", "q", 1, "v", 1), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&quiet), CMN_OK);
    cr_assert_eq(s_writes, 2, "a quiet write does not call on_write");
    cr_assert(s_has(kv, "alpha", "a", false), "a read sees the group");
    cr_assert_not(s_has(kv, "alpha", "a", true), "nothing committed yet");
    /* an aborted write is undone alone */
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, "alpha", "undone", 6, "x", 1), CMN_OK);
    cr_assert_eq(cmn_kv_group_commit(kv, NULL), CMN_ESTATE, "not while a write is open");
    cmn_kv_abort(&txn);
    uint64_t writes = 0;
    cr_assert_eq(cmn_kv_group_commit(kv, &writes), CMN_OK);
    cr_assert_eq(writes, 4);
    cr_assert_not(cmn_kv_group_is_open(kv));
    cr_assert(s_has(kv, "alpha", "a", true) && s_has(kv, "beta", "b", true));
    cr_assert_not(s_has(kv, "alpha", "undone", true));
    cr_assert_eq(cmn_kv_group_commit(kv, NULL), CMN_OK, "none open: nothing to do");
    cmn_kv_destroy(&kv);
}

/* What modules do without knowing of the group: a write while another is open (it
 * would deadlock on LMDB's writer lock without the group), a write from inside a walk
 * of a read, a view kept across the writes. */
typedef struct {
    cmn_kv_t *kv;
    int seen;
} s_walk_t;

static int
s_walk_writes(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    (void) val;
    (void) val_len;
    s_walk_t *w = arg;
    char k[32];
    (void) snprintf(k, sizeof k, "copy-%.*s", (int) key_len, (const char *) key);
    s_put_one(w->kv, "beta", k);
    w->seen++;
    return 0;
}

Test(cmn_kv, group_mode_nests_writes_and_walks_that_write)
{
    cmn_kv_t *kv = s_open(0);
    cmn_kv_group_enable(kv, NULL, NULL);
    for (int i = 0; i < 20; i++) {
        char k[16];
        (void) snprintf(k, sizeof k, "k%02d", i);
        s_put_one(kv, "alpha", k);
    }
    cmn_kv_txn_t *outer = NULL;
    cr_assert_eq(cmn_kv_begin(kv, true, &outer), CMN_OK);
    cr_assert_eq(cmn_kv_put(outer, "alpha", "outer", 5, "o", 1), CMN_OK);
    s_put_one(kv, "alpha", "inner"); /* nests in outer */
    cr_assert(s_has(kv, "alpha", "inner", false));
    cmn_kv_abort(&outer); /* undoes both */
    cr_assert_not(s_has(kv, "alpha", "inner", false) || s_has(kv, "alpha", "outer", false));
    cmn_kv_txn_t *view = NULL;
    cr_assert_eq(cmn_kv_begin(kv, false, &view), CMN_OK);
    s_walk_t w = {kv, 0};
    cr_assert_eq(cmn_kv_each(view, "alpha", s_walk_writes, &w), CMN_OK);
    cr_assert_eq(w.seen, 20, "the walk went on over its own writes (saw %d)", w.seen);
    cr_assert_eq(cmn_kv_put(view, "alpha", "x", 1, "y", 1), CMN_EINVAL, "a view reads");
    cr_assert_eq(cmn_kv_group_commit(kv, NULL), CMN_ESTATE, "not while a view is open");
    cmn_kv_abort(&view);
    cr_assert_eq(cmn_kv_group_commit(kv, NULL), CMN_OK);
    cr_assert(s_has(kv, "beta", "copy-k00", true) && s_has(kv, "beta", "copy-k19", true));
    cmn_kv_destroy(&kv);
}
