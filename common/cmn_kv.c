/* cmn_kv.c — LMDB environment and transaction helpers */
#include "cmn_kv.h"

#include <errno.h>
#include <lmdb.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "cmn_log.h"

#define KV_MAX_DBS 16

struct cmn_kv {
    MDB_env *env;                  /* the environment */
    const char *names[KV_MAX_DBS]; /* borrowed names of the named DBs */
    MDB_dbi dbis[KV_MAX_DBS];      /* their handles */
    size_t n_dbs;                  /* how many */
};

struct cmn_kv_txn {
    cmn_kv_t *kv; /* owning environment */
    MDB_txn *txn; /* the LMDB transaction */
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
    if (self->env) {
        mdb_env_close(self->env);
    }
    free(self);
    *self_p = NULL;
}

cmn_err_t
cmn_kv_begin(cmn_kv_t *self, bool write, cmn_kv_txn_t **ret_txn)
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

cmn_err_t
cmn_kv_commit(cmn_kv_txn_t **txn_p)
{
    cmn_kv_txn_t *t = *txn_p;
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
    mdb_txn_abort((*txn_p)->txn);
    free(*txn_p);
    *txn_p = NULL;
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
    MDB_val k = {key_len, (void *) (uintptr_t) key};
    MDB_val v;
    int rc = mdb_get(txn->txn, dbi, &k, &v);
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
    if (s_dbi(txn, db, &dbi) != 0 || key_len == 0) {
        return CMN_EINVAL;
    }
    MDB_val k = {key_len, (void *) (uintptr_t) key};
    MDB_val v = {val_len, (void *) (uintptr_t) val};
    return s_map(mdb_put(txn->txn, dbi, &k, &v, 0));
}

cmn_err_t
cmn_kv_del(cmn_kv_txn_t *txn, const char *db, const void *key, size_t key_len)
{
    MDB_dbi dbi;
    if (s_dbi(txn, db, &dbi) != 0 || key_len == 0) {
        return CMN_EINVAL;
    }
    MDB_val k = {key_len, (void *) (uintptr_t) key};
    return s_map(mdb_del(txn->txn, dbi, &k, NULL));
}

cmn_err_t
cmn_kv_each(cmn_kv_txn_t *txn, const char *db, cmn_kv_each_fn *fn, void *arg)
{
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    if (s_dbi(txn, db, &dbi) != 0) {
        return CMN_EINVAL;
    }
    int rc = mdb_cursor_open(txn->txn, dbi, &cur);
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

cmn_err_t
cmn_kv_put_pb(cmn_kv_txn_t *txn, const char *db, const char *key, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return CMN_ENOMEM;
    }
    (void) protobuf_c_message_pack(msg, buf);
    cmn_err_t err = cmn_kv_put(txn, db, key, strlen(key), buf, len);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return err;
}

cmn_err_t
cmn_kv_get_pb(cmn_kv_txn_t *txn,
              const char *db,
              const char *key,
              const ProtobufCMessageDescriptor *desc,
              ProtobufCMessage **ret_msg)
{
    void *val = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_kv_get(txn, db, key, strlen(key), &val, &len);
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

void
cmn_kv_free_secret(void *val, size_t len)
{
    if (val) {
        OPENSSL_cleanse(val, len);
        free(val);
    }
}
