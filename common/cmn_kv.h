/* cmn_kv.h — LMDB environment and transaction helpers; the only user of lmdb.h
 * besides the services' *_store.c files */
#ifndef CMN_KV_H
#define CMN_KV_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"
#include "cmn_seal.h"

typedef struct cmn_kv cmn_kv_t;
typedef struct cmn_kv_txn cmn_kv_txn_t;

/* Transaction rules (from lmdb.h, said once here):
 * - one thread per env (our daemons are single-threaded); one write txn at a time;
 * - values returned by cmn_kv_get are COPIES owned by the caller, valid after the
 *   txn ends; nothing returned points into the map;
 * - every begin is matched by exactly one commit or abort; both NULL the handle.
 * - create the env only after any fork() (Criterion forks per test). */

/* Opens (creating if needed) the store in directory dir: the directory is made
 * 0700, the files 0600. Every opener holds a shared lock on dir/obt.lock (flock)
 * while the env is open; cmn_kv_lock_exclusive turns it into an exclusive one. dbs lists the named
 * databases, all created at open. map_size in bytes (0 = 1 GiB). durable=false uses MDB_NOSYNC
 * (tests, benches). Returns NULL on failure and logs the reason at debug level; *ret_err (if not
 * NULL) receives the cause. */
cmn_kv_t *cmn_kv_new(const char *dir,
                     const char *const *dbs,
                     size_t n_dbs,
                     size_t map_size,
                     bool durable,
                     cmn_err_t *ret_err);

void cmn_kv_destroy(cmn_kv_t **self_p);

/* In group mode (below) a write is a child of the group and a read sees the group. */
cmn_err_t cmn_kv_begin(cmn_kv_t *self, bool write, cmn_kv_txn_t **ret_txn);
/* A read-only transaction of its own, outside any group: what is committed. */
cmn_err_t cmn_kv_begin_own(cmn_kv_t *self, cmn_kv_txn_t **ret_txn);
cmn_err_t cmn_kv_commit(cmn_kv_txn_t **txn_p);
void cmn_kv_abort(cmn_kv_txn_t **txn_p);

/* ---- Group mode: one transaction and one sync for many writes (cmn_commit.h uses it).
 * Once enabled, every cmn_kv_begin of the store goes through the group:
 * - a write opens the group if none is open (one write transaction that stays open)
 *   and is a child of it (an LMDB nested transaction): its commit goes into the group
 *   without a sync, its abort undoes only what it wrote. A write begun while another
 *   is open nests in that one (it commits into it). on_write is called at each write
 *   begun (cmn_commit holds the bus there), except a quiet one (cmn_kv_begin_quiet);
 * - a read while the group is open is a view: it reads what the group holds at each
 *   call, including what was written since it began (its commit or abort just ends
 *   it); with no group open it is a plain read-only transaction;
 * - cmn_kv_group_commit commits the group (one sync when durable). So every module of
 *   a daemon can keep calling cmn_kv_begin: nothing deadlocks on LMDB's writer lock,
 *   and nothing is stored before the group is. One thread, as everything here. */
typedef void(cmn_kv_group_open_fn)(void *arg);
void cmn_kv_group_enable(cmn_kv_t *self, cmn_kv_group_open_fn *on_write, void *arg);
bool cmn_kv_group_is_open(const cmn_kv_t *self);
/* How long the open group has been open (0 when none is). */
uint64_t cmn_kv_group_age_ms(const cmn_kv_t *self);
/* A write like cmn_kv_begin(kv, true) that does not call on_write: a record nothing
 * sent depends on (cmn_commit_begin_lazy). Without group mode, a plain write. */
cmn_err_t cmn_kv_begin_quiet(cmn_kv_t *self, cmn_kv_txn_t **ret_txn);
/* CMN_OK when none is open; CMN_ESTATE (nothing done) while a write or a view is still
 * open inside it; else the commit's error (the group's writes are lost). *ret_writes
 * (if not NULL) receives how many writes the group held. */
cmn_err_t cmn_kv_group_commit(cmn_kv_t *self, uint64_t *ret_writes);
/* A check made inside the group's write transaction just before each commit (NULL:
 * none): txn is a view of the group (LMDB's writer lock is held, so what it reads
 * cannot change before the commit). When it returns other than CMN_OK the group is
 * aborted, nothing of it is stored, and cmn_kv_group_commit returns that error. One
 * guard per store; set it outside any transaction. The guard reads through txn and
 * neither commits nor aborts it. */
typedef cmn_err_t(cmn_kv_guard_fn)(cmn_kv_txn_t *txn, void *arg);
void cmn_kv_group_set_guard(cmn_kv_t *self, cmn_kv_guard_fn *guard, void *arg);

/* CMN_ENOTFOUND when absent. *ret_val is malloc'd (caller frees; use
 * cmn_kv_free_secret for secrets). db must be one of the names given to new. */
cmn_err_t cmn_kv_get(cmn_kv_txn_t *txn,
                     const char *db,
                     const void *key,
                     size_t key_len,
                     void **ret_val,
                     size_t *ret_len);
cmn_err_t cmn_kv_put(cmn_kv_txn_t *txn,
                     const char *db,
                     const void *key,
                     size_t key_len,
                     const void *val,
                     size_t val_len);
/* CMN_ENOTFOUND when absent. */
cmn_err_t cmn_kv_del(cmn_kv_txn_t *txn, const char *db, const void *key, size_t key_len);

/* Calls fn for every entry in key order; fn returns non-zero to stop early. The
 * pointers passed to fn are valid only during the call. */
typedef int(cmn_kv_each_fn)(
        const void *key, size_t key_len, const void *val, size_t val_len, void *arg);
cmn_err_t cmn_kv_each(cmn_kv_txn_t *txn, const char *db, cmn_kv_each_fn *fn, void *arg);

/* Protobuf records under string keys. get: unpacks into *ret_msg (caller calls
 * protobuf_c_message_free_unpacked); CMN_EPROTO if the bytes do not unpack. */
cmn_err_t
cmn_kv_put_pb(cmn_kv_txn_t *txn, const char *db, const char *key, const ProtobufCMessage *msg);
cmn_err_t cmn_kv_get_pb(cmn_kv_txn_t *txn,
                        const char *db,
                        const char *key,
                        const ProtobufCMessageDescriptor *desc,
                        ProtobufCMessage **ret_msg);

/* Wipes (OPENSSL_cleanse) then frees a value holding a secret. */
void cmn_kv_free_secret(void *val, size_t len);

/* Turns this process's shared lock on the store into an exclusive one, for an offline
 * tool (obtctl kek rotate) that must not run beside a daemon. CMN_ESTATE when another
 * process (a running daemon) has the store open. */
cmn_err_t cmn_kv_lock_exclusive(cmn_kv_t *self);

/* ---- Secrets at rest (cmn_seal.h): the value is sealed with seal, bound to (db, key).
 * put seals and writes; get reads and opens: *ret_val is malloc'd (free it with
 * cmn_kv_free_secret). get returns CMN_ENOTFOUND when absent, CMN_ECRYPTO when the
 * value does not open (CMN_SEAL_WRONG_KEK), CMN_EPROTO when it is not sealed. */
cmn_err_t cmn_kv_put_sealed(cmn_kv_txn_t *txn,
                            const cmn_seal_t *seal,
                            const char *db,
                            const void *key,
                            size_t key_len,
                            const void *val,
                            size_t val_len);
cmn_err_t cmn_kv_get_sealed(cmn_kv_txn_t *txn,
                            const cmn_seal_t *seal,
                            const char *db,
                            const void *key,
                            size_t key_len,
                            void **ret_val,
                            size_t *ret_len);
/* The same for protobuf records under string keys (the packed bytes are wiped). */
cmn_err_t cmn_kv_put_pb_sealed(cmn_kv_txn_t *txn,
                               const cmn_seal_t *seal,
                               const char *db,
                               const char *key,
                               const ProtobufCMessage *msg);
cmn_err_t cmn_kv_get_pb_sealed(cmn_kv_txn_t *txn,
                               const cmn_seal_t *seal,
                               const char *db,
                               const char *key,
                               const ProtobufCMessageDescriptor *desc,
                               ProtobufCMessage **ret_msg);

/* The record of db that proves which KEK seals it: a sealed constant. */
#define CMN_KV_KEK_CHECK "kek-check"

/* Re-seals every record of db in ONE write transaction, so a failure changes nothing.
 * - old_seal NULL (a service's start): the check record must open with seal (if there
 *   is none, the first sealed record must); plain records of earlier releases are
 *   sealed with seal (migration); sealed ones are left as they are.
 * - old_seal given (KEK rotation): the check record and every sealed record are
 *   opened with old_seal and sealed again with seal; plain records are sealed too.
 * The check record is written with seal if missing (or re-sealed). *ret_count (if not
 * NULL) receives how many device records were written. CMN_ECRYPTO when a record does
 * not open (the KEK given is not the store's: CMN_SEAL_WRONG_KEK). */
cmn_err_t cmn_kv_reseal(cmn_kv_t *self,
                        const char *db,
                        const cmn_seal_t *old_seal,
                        const cmn_seal_t *seal,
                        size_t *ret_count);

#endif
