/* cmn_lease.h — who runs a device's job when several instances of CMS or AMS share
 * one store: a lease per device in the store (docs/scaling.md, D97) */
#ifndef CMN_LEASE_H
#define CMN_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "cmn_err.h"
#include "cmn_kv.h"

/* The named database of the leases (one JobLease per device uuid). */
#define CMN_LEASE_DB "leases"
/* A lease's life: three heartbeats of 2 s. */
#define CMN_LEASE_LIFE_MS 6000

/* A holder: the instance's name and its boot id (a restarted instance is another). */
typedef struct {
    char instance[32];
    uint64_t boot_id;
} cmn_lease_owner_t;

/* A lease as stored. */
typedef struct {
    cmn_lease_owner_t owner;
    uint64_t until_ms; /* wall clock */
} cmn_lease_t;

/* The rules, each inside the caller's write transaction txn (LMDB serialises the
 * writers of every process, so read-compare-write is atomic across instances):
 *
 * Takes (or renews) the lease of uuid for owner until now_ms + life_ms: CMN_OK when
 * there was none, it had expired, or it was owner's already; CMN_EEXIST when another
 * owner's is live (*ret_holder, if not NULL, receives it; nothing written). */
cmn_err_t cmn_lease_take(cmn_kv_txn_t *txn,
                         const char *uuid,
                         const cmn_lease_owner_t *owner,
                         uint64_t now_ms,
                         uint32_t life_ms,
                         cmn_lease_t *ret_holder);
/* The write guard: CMN_OK when the lease of uuid is owner's (expired or not: nobody
 * took it since); CMN_ENOTFOUND when there is none (it was released or never taken);
 * CMN_EEXIST when another owner holds it (*ret_holder as above). */
cmn_err_t cmn_lease_check(cmn_kv_txn_t *txn,
                          const char *uuid,
                          const cmn_lease_owner_t *owner,
                          cmn_lease_t *ret_holder);
/* Removes owner's lease of uuid: CMN_OK (also when there was none); CMN_EEXIST when
 * another owner holds it (nothing removed). */
cmn_err_t cmn_lease_release(cmn_kv_txn_t *txn, const char *uuid, const cmn_lease_owner_t *owner);

/* Calls fn for every lease whose until_ms is not after now_ms (a job whose instance
 * died or hung, or one of ours that was never started: the caller skips the jobs it
 * runs); fn returns non-zero to stop. */
typedef int(cmn_lease_each_fn)(const char *uuid, const cmn_lease_t *lease, void *arg);
cmn_err_t
cmn_lease_each_expired(cmn_kv_txn_t *txn, uint64_t now_ms, cmn_lease_each_fn *fn, void *arg);
/* Removes every lease (an instance that holds the store alone, at start: whoever held
 * them is gone). */
cmn_err_t cmn_lease_clear(cmn_kv_txn_t *txn);

#endif
