/* cmn_kv.c — LMDB environment and transaction helpers */
#include "cmn_kv.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cmn_log.h"
#include "cmn_time.h"

#define KV_MAX_DBS 16

struct cmn_kv {
    MDB_env *env;                  /* the environment */
    const char *names[KV_MAX_DBS]; /* borrowed names of the named DBs */
    MDB_dbi dbis[KV_MAX_DBS];      /* their handles */
    size_t n_dbs;                  /* how many */
    int lock_fd;                   /* dir/obt.lock, flock'd shared (or exclusive); -1 */
    /* group mode (cmn_kv_group_enable): */
    bool is_grouped;                /* every begin goes through the group */
    cmn_kv_group_open_fn *on_write; /* called at each write begun in it (not quiet) */
    void *on_write_arg;             /* its argument */
    uint64_t opened_ms;             /* when the open group opened (monotonic) */
    struct cmn_kv_txn *group;       /* the open group, NULL if none */
    struct cmn_kv_txn *top;         /* the innermost write txn open in it (group if none) */
    size_t n_inside;                /* children and views open in the group */
    uint64_t group_writes;          /* children begun in the open group */
    cmn_kv_guard_fn *guard;         /* checked in the group before its commit, or NULL */
    void *guard_arg;                /* its argument */
};

struct cmn_kv_txn {
    cmn_kv_t *kv;              /* owning environment */
    MDB_txn *txn;              /* the LMDB transaction (NULL for a view) */
    struct cmn_kv_txn *parent; /* a child's parent in the group, else NULL */
    bool is_view;              /* a read through the group: uses the group's innermost txn */
};

static cmn_err_t
s_map(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return CMN_OK;
    case MDB_NOTFOUND:
        return CMN_ENOTFOUND;
    case MDB_MAP_FULL:
        return CMN_ENOSPC;
    case MDB_KEYEXIST:
        return CMN_EEXIST;
    case ENOMEM:
        return CMN_ENOMEM;
    default:
        cmn_log_debug("KV-ERR", "lmdb rc=%d (%s)", rc, mdb_strerror(rc));
        /* LMDB passes errno values through (ENOSPC from a full disk): keep them */
        return rc > 0 ? cmn_err_from_errno(rc) : CMN_ESTORE;
    }
}

/* A daemon holds its store shared; obtctl kek rotate needs it alone (exclusive). */
static cmn_err_t
s_lock_shared(cmn_kv_t *self, const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/obt.lock", dir) >= (int) sizeof path) {
        return CMN_EINVAL;
    }
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        return cmn_err_from_errno(errno);
    }
    if (flock(self->lock_fd, LOCK_SH | LOCK_NB) != 0) {
        cmn_log_debug("KV-LOCK", "\"%s\" is held exclusively: %s", path, strerror(errno));
        return errno == EWOULDBLOCK ? CMN_ESTATE : cmn_err_from_errno(errno);
    }
    return CMN_OK;
}

cmn_kv_t *
cmn_kv_new(const char *dir,
           const char *const *dbs,
           size_t n_dbs,
           size_t map_size,
           bool durable,
           cmn_err_t *ret_err)
{
    cmn_err_t err = CMN_OK;
    cmn_kv_t *self = NULL;
    MDB_txn *txn = NULL;
    int rc;

    if (dir == NULL || n_dbs > KV_MAX_DBS) {
        err = CMN_EINVAL;
        goto out;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        err = cmn_err_from_errno(errno);
        goto out;
    }
    (void) chmod(dir, 0700);
    self = calloc(1, sizeof *self);
    if (self == NULL) {
        err = CMN_ENOMEM;
        goto out;
    }
    self->lock_fd = -1;
    err = s_lock_shared(self, dir);
    if (err != CMN_OK) {
        goto out_free;
    }
    rc = mdb_env_create(&self->env);
    if (rc != 0) {
        err = s_map(rc);
        goto out_free;
    }
    (void) mdb_env_set_maxdbs(self->env, KV_MAX_DBS);
    rc = mdb_env_set_mapsize(self->env, map_size ? map_size : (size_t) 1 << 30);
    if (rc == 0) {
        rc = mdb_env_open(self->env, dir, MDB_NOTLS | (durable ? 0u : MDB_NOSYNC), 0600);
    }
    if (rc != 0) {
        err = s_map(rc);
        goto out_free;
    }
    rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    if (rc != 0) {
        err = s_map(rc);
        goto out_free;
    }
    for (size_t i = 0; i < n_dbs; i++) {
        rc = mdb_dbi_open(txn, dbs[i], MDB_CREATE, &self->dbis[i]);
        if (rc != 0) {
            err = s_map(rc);
            mdb_txn_abort(txn);
            goto out_free;
        }
        self->names[i] = dbs[i];
    }
    self->n_dbs = n_dbs;
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        err = s_map(rc);
        goto out_free;
    }
    goto out;

out_free:
    cmn_kv_destroy(&self);
out:
    if (ret_err) {
        *ret_err = err;
    }
    return self;
}

void
cmn_kv_destroy(cmn_kv_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_kv_t *self = *self_p;
    if (self->group) {
        if (self->n_inside > 0) { /* a bug of the handle's owner: say so, store what was written */
            cmn_log_warn("KV-GROUP-OPEN", "%zu transaction(s) still open in the group at close",
                         self->n_inside);
            self->n_inside = 0;
        }
        cmn_err_t err = cmn_kv_group_commit(self, NULL);
        if (err != CMN_OK) {
            cmn_log_warn("KV-GROUP-LOST", "the last group of writes was not stored: %s",
                         cmn_strerror(err));
        }
    }
    if (self->env) {
        mdb_env_close(self->env);
    }
    if (self->lock_fd >= 0) {
        (void) close(self->lock_fd); /* releases the flock */
    }
    free(self);
    *self_p = NULL;
}

static cmn_err_t
s_begin_plain(cmn_kv_t *self, bool write, cmn_kv_txn_t **ret_txn)
{
    cmn_kv_txn_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return CMN_ENOMEM;
    }
    int rc = mdb_txn_begin(self->env, NULL, write ? 0u : MDB_RDONLY, &t->txn);
    if (rc != 0) {
        free(t);
        return s_map(rc);
    }
    t->kv = self;
    *ret_txn = t;
    return CMN_OK;
}

/* A write inside the group: a child of its innermost txn (LMDB nested txn). */
static cmn_err_t
s_begin_child(cmn_kv_t *self, bool is_quiet, cmn_kv_txn_t **ret_txn)
{
    if (self->group == NULL) {
        cmn_err_t err = s_begin_plain(self, true, &self->group);
        if (err != CMN_OK) {
            return err;
        }
        self->top = self->group;
        self->group_writes = 0;
        self->opened_ms = cmn_time_mono_ms();
    }
    if (!is_quiet && self->on_write) {
        self->on_write(self->on_write_arg);
    }
    cmn_kv_txn_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return CMN_ENOMEM;
    }
    int rc = mdb_txn_begin(self->env, self->top->txn, 0, &t->txn);
    if (rc != 0) {
        free(t);
        return s_map(rc);
    }
    t->kv = self;
    t->parent = self->top;
    self->top = t;
    self->n_inside++;
    self->group_writes++;
    *ret_txn = t;
    return CMN_OK;
}

cmn_err_t
cmn_kv_begin(cmn_kv_t *self, bool write, cmn_kv_txn_t **ret_txn)
{
    if (!self->is_grouped) {
        return s_begin_plain(self, write, ret_txn);
    }
    if (write) {
        return s_begin_child(self, false, ret_txn);
    }
    if (self->group == NULL) {
        return s_begin_plain(self, false, ret_txn);
    }
    cmn_kv_txn_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return CMN_ENOMEM;
    }
    t->kv = self;
    t->is_view = true;
    self->n_inside++;
    *ret_txn = t;
    return CMN_OK;
}

cmn_err_t
cmn_kv_begin_quiet(cmn_kv_t *self, cmn_kv_txn_t **ret_txn)
{
    return self->is_grouped ? s_begin_child(self, true, ret_txn)
                            : s_begin_plain(self, true, ret_txn);
}

cmn_err_t
cmn_kv_begin_own(cmn_kv_t *self, cmn_kv_txn_t **ret_txn)
{
    return s_begin_plain(self, false, ret_txn);
}

/* The LMDB txn a handle works in: a view follows the group's innermost txn (the group
 * stays open while a view is: cmn_kv_group_commit refuses until it ends). */
static MDB_txn *
s_mdb(cmn_kv_txn_t *t)
{
    return t->is_view ? t->kv->top->txn : t->txn;
}

/* Ends a view or a child of the group: the bookkeeping both share. */
static void
s_end_inside(cmn_kv_txn_t *t)
{
    cmn_kv_t *kv = t->kv;
    assert(kv->n_inside > 0);
    kv->n_inside--;
    if (t->parent) {
        assert(kv->top == t); /* children end innermost first */
        kv->top = t->parent;
    }
}

cmn_err_t
cmn_kv_commit(cmn_kv_txn_t **txn_p)
{
    cmn_kv_txn_t *t = *txn_p;
    if (t->is_view) {
        cmn_kv_abort(txn_p); /* a view wrote nothing of its own */
        return CMN_OK;
    }
    if (t->parent) {
        s_end_inside(t);
    }
    int rc = mdb_txn_commit(t->txn);
    const char *path = NULL;
    struct statvfs vfs;
    /* A short write to a full disk reaches LMDB as EIO (no errno): say what it is. */
    if (rc == EIO && mdb_env_get_path(t->kv->env, &path) == 0 && path && statvfs(path, &vfs) == 0 &&
        vfs.f_bavail == 0) {
        rc = ENOSPC;
    }
    free(t);
    *txn_p = NULL;
    return s_map(rc);
}

void
cmn_kv_abort(cmn_kv_txn_t **txn_p)
{
    if (txn_p == NULL || *txn_p == NULL) {
        return;
    }
    cmn_kv_txn_t *t = *txn_p;
    if (t->is_view || t->parent) {
        s_end_inside(t);
    }
    if (t->txn) {
        mdb_txn_abort(t->txn);
    }
    free(t);
    *txn_p = NULL;
}

/* ---- group mode */

void
cmn_kv_group_enable(cmn_kv_t *self, cmn_kv_group_open_fn *on_write, void *arg)
{
    self->is_grouped = true;
    self->on_write = on_write;
    self->on_write_arg = arg;
}

bool
cmn_kv_group_is_open(const cmn_kv_t *self)
{
    return self->group != NULL;
}

uint64_t
cmn_kv_group_age_ms(const cmn_kv_t *self)
{
    return self->group ? cmn_time_mono_ms() - self->opened_ms : 0;
}

cmn_err_t
cmn_kv_group_commit(cmn_kv_t *self, uint64_t *ret_writes)
{
    if (ret_writes) {
        *ret_writes = self->group_writes;
    }
    if (self->group == NULL) {
        return CMN_OK;
    }
    if (self->n_inside > 0) {
        return CMN_ESTATE; /* a write or a read is still open in it: at the pass's end */
    }
    if (self->guard) {
        cmn_kv_txn_t view = {self, NULL, NULL, true}; /* reads the group, as a view does */
        cmn_err_t err = self->guard(&view, self->guard_arg);
        if (err != CMN_OK) {
            self->top = NULL;
            self->group_writes = 0;
            cmn_kv_abort(&self->group);
            return err;
        }
    }
    self->top = NULL;
    self->group_writes = 0;
    return cmn_kv_commit(&self->group);
}

void
cmn_kv_group_set_guard(cmn_kv_t *self, cmn_kv_guard_fn *guard, void *arg)
{
    assert(self->group == NULL);
    self->guard = guard;
    self->guard_arg = arg;
}

static int
s_dbi(cmn_kv_txn_t *txn, const char *db, MDB_dbi *ret)
{
    for (size_t i = 0; i < txn->kv->n_dbs; i++) {
        if (strcmp(txn->kv->names[i], db) == 0) {
            *ret = txn->kv->dbis[i];
            return 0;
        }
    }
    return -1;
}

cmn_err_t
cmn_kv_get(cmn_kv_txn_t *txn,
           const char *db,
           const void *key,
           size_t key_len,
           void **ret_val,
           size_t *ret_len)
{
    MDB_dbi dbi;
    if (s_dbi(txn, db, &dbi) != 0 || key_len == 0) {
        return CMN_EINVAL;
    }
    MDB_txn *mt = s_mdb(txn);
    MDB_val k = {key_len, (void *) (uintptr_t) key};
    MDB_val v;
    int rc = mdb_get(mt, dbi, &k, &v);
    if (rc != 0) {
        return s_map(rc);
    }
    void *copy = malloc(v.mv_size ? v.mv_size : 1);
    if (copy == NULL) {
        return CMN_ENOMEM;
    }
    memcpy(copy, v.mv_data, v.mv_size);
    *ret_val = copy;
    *ret_len = v.mv_size;
    return CMN_OK;
}

cmn_err_t
cmn_kv_put(cmn_kv_txn_t *txn,
           const char *db,
           const void *key,
           size_t key_len,
           const void *val,
           size_t val_len)
{
    MDB_dbi dbi;
    if (s_dbi(txn, db, &dbi) != 0 || key_len == 0 || txn->is_view) {
        return CMN_EINVAL; /* a view reads */
    }
    MDB_val k = {key_len, (void *) (uintptr_t) key};
    MDB_val v = {val_len, (void *) (uintptr_t) val};
    return s_map(mdb_put(s_mdb(txn), dbi, &k, &v, 0));
}

cmn_err_t
cmn_kv_del(cmn_kv_txn_t *txn, const char *db, const void *key, size_t key_len)
{
    MDB_dbi dbi;
    if (s_dbi(txn, db, &dbi) != 0 || key_len == 0 || txn->is_view) {
        return CMN_EINVAL; /* a view reads */
    }
    MDB_val k = {key_len, (void *) (uintptr_t) key};
    return s_map(mdb_del(s_mdb(txn), dbi, &k, NULL));
}

cmn_err_t
cmn_kv_each(cmn_kv_txn_t *txn, const char *db, cmn_kv_each_fn *fn, void *arg)
{
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    if (s_dbi(txn, db, &dbi) != 0) {
        return CMN_EINVAL;
    }
    MDB_txn *mt = s_mdb(txn);
    int rc = mdb_cursor_open(mt, dbi, &cur);
    if (rc != 0) {
        return s_map(rc);
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, arg) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? CMN_OK : s_map(rc);
}

/* Packs msg and writes it, sealed when seal is given; the packed bytes are wiped. */
static cmn_err_t
s_put_pb(cmn_kv_txn_t *txn,
         const cmn_seal_t *seal,
         const char *db,
         const char *key,
         const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return CMN_ENOMEM;
    }
    (void) protobuf_c_message_pack(msg, buf);
    cmn_err_t err = seal ? cmn_kv_put_sealed(txn, seal, db, key, strlen(key), buf, len)
                         : cmn_kv_put(txn, db, key, strlen(key), buf, len);
    cmn_kv_free_secret(buf, len);
    return err;
}

/* Reads (and opens, when seal is given) a record and unpacks it. */
static cmn_err_t
s_get_pb(cmn_kv_txn_t *txn,
         const cmn_seal_t *seal,
         const char *db,
         const char *key,
         const ProtobufCMessageDescriptor *desc,
         ProtobufCMessage **ret_msg)
{
    void *val = NULL;
    size_t len = 0;
    cmn_err_t err = seal ? cmn_kv_get_sealed(txn, seal, db, key, strlen(key), &val, &len)
                         : cmn_kv_get(txn, db, key, strlen(key), &val, &len);
    if (err != CMN_OK) {
        return err;
    }
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, len, val);
    cmn_kv_free_secret(val, len);
    if (msg == NULL) {
        return CMN_EPROTO;
    }
    *ret_msg = msg;
    return CMN_OK;
}

cmn_err_t
cmn_kv_put_pb(cmn_kv_txn_t *txn, const char *db, const char *key, const ProtobufCMessage *msg)
{
    return s_put_pb(txn, NULL, db, key, msg);
}

cmn_err_t
cmn_kv_get_pb(cmn_kv_txn_t *txn,
              const char *db,
              const char *key,
              const ProtobufCMessageDescriptor *desc,
              ProtobufCMessage **ret_msg)
{
    return s_get_pb(txn, NULL, db, key, desc, ret_msg);
}

void
cmn_kv_free_secret(void *val, size_t len)
{
    if (val) {
        OPENSSL_cleanse(val, len);
        free(val);
    }
}

cmn_err_t
cmn_kv_lock_exclusive(cmn_kv_t *self)
{
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        return errno == EWOULDBLOCK ? CMN_ESTATE : cmn_err_from_errno(errno);
    }
    return CMN_OK;
}

/* ------------------------------------------------------------ secrets at rest */

cmn_err_t
cmn_kv_put_sealed(cmn_kv_txn_t *txn,
                  const cmn_seal_t *seal,
                  const char *db,
                  const void *key,
                  size_t key_len,
                  const void *val,
                  size_t val_len)
{
    uint8_t *rec = NULL;
    size_t rec_len = 0;
    cmn_err_t err = cmn_seal_seal(seal, db, key, key_len, val, val_len, &rec, &rec_len);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_put(txn, db, key, key_len, rec, rec_len);
    free(rec);
    return err;
}

cmn_err_t
cmn_kv_get_sealed(cmn_kv_txn_t *txn,
                  const cmn_seal_t *seal,
                  const char *db,
                  const void *key,
                  size_t key_len,
                  void **ret_val,
                  size_t *ret_len)
{
    void *rec = NULL;
    size_t rec_len = 0;
    uint8_t *plain = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_kv_get(txn, db, key, key_len, &rec, &rec_len);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_seal_open(seal, db, key, key_len, rec, rec_len, &plain, &len);
    cmn_kv_free_secret(rec, rec_len); /* a plain record of an earlier release is a secret */
    if (err != CMN_OK) {
        return err;
    }
    *ret_val = plain;
    *ret_len = len;
    return CMN_OK;
}

cmn_err_t
cmn_kv_put_pb_sealed(cmn_kv_txn_t *txn,
                     const cmn_seal_t *seal,
                     const char *db,
                     const char *key,
                     const ProtobufCMessage *msg)
{
    return seal ? s_put_pb(txn, seal, db, key, msg) : CMN_EINVAL;
}

cmn_err_t
cmn_kv_get_pb_sealed(cmn_kv_txn_t *txn,
                     const cmn_seal_t *seal,
                     const char *db,
                     const char *key,
                     const ProtobufCMessageDescriptor *desc,
                     ProtobufCMessage **ret_msg)
{
    return seal ? s_get_pb(txn, seal, db, key, desc, ret_msg) : CMN_EINVAL;
}

static const char s_check_plain[] = "obt key-encryption key check";

/* Every record of one database, copied: LMDB cursors must not outlive a write in the
 * same walk. Values are wiped when freed (plain records of earlier releases). */
typedef struct {
    struct s_rec {
        void *key, *val;
        size_t key_len, val_len;
    } * recs;
    size_t n, cap;
    bool is_oom;
} s_recs_t;

static int
s_collect(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    s_recs_t *r = arg;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct s_rec *grown = realloc(r->recs, cap * sizeof *grown);
        if (grown == NULL) {
            r->is_oom = true;
            return 1;
        }
        r->recs = grown;
        r->cap = cap;
    }
    struct s_rec *e = &r->recs[r->n];
    e->key = malloc(key_len ? key_len : 1);
    e->val = malloc(val_len ? val_len : 1);
    if (e->key == NULL || e->val == NULL) {
        free(e->key);
        free(e->val);
        r->is_oom = true;
        return 1;
    }
    memcpy(e->key, key, key_len);
    memcpy(e->val, val, val_len);
    e->key_len = key_len;
    e->val_len = val_len;
    r->n++;
    return 0;
}

static void
s_recs_free(s_recs_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->recs[i].key);
        cmn_kv_free_secret(r->recs[i].val, r->recs[i].val_len);
    }
    free(r->recs);
}

/* Opens a sealed record with seal, only to prove the key (the plain copy is wiped). */
static cmn_err_t
s_proves(const cmn_seal_t *seal, const char *db, const struct s_rec *e)
{
    uint8_t *plain = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_seal_open(seal, db, e->key, e->key_len, e->val, e->val_len, &plain, &len);
    if (err == CMN_OK) {
        cmn_kv_free_secret(plain, len);
    }
    return err;
}

/* One record of cmn_kv_reseal: returns whether it was written in *ret_written. */
static cmn_err_t
s_reseal_one(cmn_kv_txn_t *txn,
             const char *db,
             const struct s_rec *e,
             const cmn_seal_t *old_seal,
             const cmn_seal_t *seal,
             bool *is_verified,
             bool *ret_written)
{
    uint8_t *plain = NULL;
    size_t len = 0;
    cmn_err_t err;
    *ret_written = false;
    if (!cmn_seal_is_sealed(e->val, e->val_len)) {
        err = cmn_kv_put_sealed(txn, seal, db, e->key, e->key_len, e->val, e->val_len);
        *ret_written = err == CMN_OK;
        return err;
    }
    if (old_seal == NULL) {
        if (*is_verified) {
            return CMN_OK;
        }
        err = s_proves(seal, db, e);
        *is_verified = err == CMN_OK;
        return err;
    }
    err = cmn_seal_open(old_seal, db, e->key, e->key_len, e->val, e->val_len, &plain, &len);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_put_sealed(txn, seal, db, e->key, e->key_len, plain, len);
    cmn_kv_free_secret(plain, len);
    *ret_written = err == CMN_OK;
    return err;
}

cmn_err_t
cmn_kv_reseal(cmn_kv_t *self,
              const char *db,
              const cmn_seal_t *old_seal,
              const cmn_seal_t *seal,
              size_t *ret_count)
{
    cmn_kv_txn_t *txn = NULL;
    s_recs_t recs = {0};
    size_t count = 0;
    bool has_check = false, is_verified = false;
    const size_t check_len = strlen(CMN_KV_KEK_CHECK);
    cmn_err_t err = cmn_kv_begin(self, true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_each(txn, db, s_collect, &recs);
    if (err == CMN_OK && recs.is_oom) {
        err = CMN_ENOMEM;
    }
    /* The check record first: it names the KEK of the whole store. */
    for (size_t i = 0; err == CMN_OK && i < recs.n; i++) {
        const struct s_rec *e = &recs.recs[i];
        if (e->key_len == check_len && memcmp(e->key, CMN_KV_KEK_CHECK, check_len) == 0) {
            has_check = true;
            err = cmn_seal_is_sealed(e->val, e->val_len)
                          ? s_proves(old_seal ? old_seal : seal, db, e)
                          : CMN_EPROTO;
            is_verified = err == CMN_OK;
        }
    }
    for (size_t i = 0; err == CMN_OK && i < recs.n; i++) {
        const struct s_rec *e = &recs.recs[i];
        bool is_written = false;
        if (e->key_len == check_len && memcmp(e->key, CMN_KV_KEK_CHECK, check_len) == 0) {
            continue;
        }
        err = s_reseal_one(txn, db, e, old_seal, seal, &is_verified, &is_written);
        count += is_written ? 1 : 0;
    }
    if (err == CMN_OK && (old_seal || !has_check)) {
        err = cmn_kv_put_sealed(txn, seal, db, CMN_KV_KEK_CHECK, check_len, s_check_plain,
                                sizeof s_check_plain - 1);
    }
    s_recs_free(&recs);
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    err = cmn_kv_commit(&txn);
    if (err == CMN_OK && ret_count) {
        *ret_count = count;
    }
    return err;
}
