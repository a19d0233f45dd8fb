/* cmn_commit.h — group commit: what one loop pass writes goes into one LMDB
 * transaction with one sync, and nothing the process sends meanwhile leaves before it */
#ifndef CMN_COMMIT_H
#define CMN_COMMIT_H

#include <stdint.h>

#include "cmn_err.h"
#include "cmn_kv.h"

/* The rule (persist before act, docs/internals.md "Group commit"):
 * - the first write of a pass opens the group: one write transaction of the store,
 *   and the bus is held (cmn_bus_hold): from then on every message the process sends
 *   is queued;
 * - each write is a child transaction of the group (cmn_commit_begin): a write that
 *   fails (a full map) is undone alone, the others stay;
 * - cmn_commit_flush, once per pass (cmn_loop_set_flush) or where a caller needs the
 *   outcome now, commits the group (one fdatasync when the store is durable), then
 *   sends the queued messages; if the commit fails they are dropped (wiped): no
 *   device or service is told anything that is not stored.
 * Reads during a pass go through the group (cmn_kv_begin, a view) so that they see what
 * the pass wrote. One group per store, on the daemon's thread. */

typedef struct cmn_commit cmn_commit_t;

/* A group for kv (borrowed: it must outlive the group): puts kv in group mode, so
 * every cmn_kv_begin of kv, from any module, goes into the group. NULL if out of
 * memory. */
cmn_commit_t *cmn_commit_new(cmn_kv_t *kv);
/* Commits what is open (its error at debug level) and drops the held messages (their
 * sockets may be closed already: flush before closing them to send them), then frees.
 * Accepts NULL. */
void cmn_commit_destroy(cmn_commit_t **self_p);

/* A write transaction inside the group, opening the group if needed: the same as
 * cmn_kv_begin(kv, true) once the group exists (cmn_kv.h "Group mode"). Finish it with
 * cmn_kv_commit (into the group: no sync) or cmn_kv_abort. */
cmn_err_t cmn_commit_begin(cmn_commit_t *self, cmn_kv_txn_t **ret_txn);

/* A write of a record that nothing sent depends on (a step whose record a restart
 * does not need, docs/internals.md): it goes into the group like any other, but does
 * not hold the bus, so what is sent after it leaves at once; it is stored with the
 * next group commit (the next write that holds, or cmn_commit_flush_pass once the
 * group is lazy_max_ms old). A kill -9 may lose it: that is the point. */
cmn_err_t cmn_commit_begin_lazy(cmn_commit_t *self, cmn_kv_txn_t **ret_txn);

/* Reads need nothing of this module: cmn_kv_begin(kv, false) is a view of the open
 * group (it sees what the pass wrote), or a read-only transaction when none is open. */

/* Commits the group, then releases the bus. CMN_OK when nothing was open, or when a
 * transaction is still open inside it (called from within a write: the pass's flush
 * commits it); else the commit's error (the group's writes are lost, the held
 * messages dropped). */
cmn_err_t cmn_commit_flush(cmn_commit_t *self);

/* The loop's flush (once per pass): cmn_commit_flush when messages are held, or when
 * the open group holds only lazy records and is lazy_max_ms old; else it leaves a
 * young lazy group open for a later pass. */
cmn_err_t cmn_commit_flush_pass(cmn_commit_t *self, uint64_t lazy_max_ms);

/* Fencing (several instances on one store, one of them allowed to write): guard runs
 * inside the group's write transaction before each commit (cmn_kv_group_set_guard);
 * when it refuses, the group is aborted (nothing of it is stored), the held messages
 * are dropped, and on_refused (if not NULL) is called with the guard's error before
 * cmn_commit_flush returns it: a fenced daemon stops there. Set it outside any write. */
typedef void(cmn_commit_refused_fn)(cmn_err_t err, void *arg);
void cmn_commit_set_guard(cmn_commit_t *self,
                          cmn_kv_guard_fn *guard,
                          cmn_commit_refused_fn *on_refused,
                          void *arg);

/* Counters since new. */
typedef struct {
    uint64_t groups;    /* groups committed (= syncs of a durable store) */
    uint64_t writes;    /* child transactions begun in them (writes of the store) */
    uint64_t failed;    /* groups whose commit failed */
    uint64_t held;      /* messages held, then sent or dropped */
    uint64_t commit_us; /* time spent committing groups (the sync is most of it) */
    uint64_t max_us;    /* the longest group commit */
} cmn_commit_stats_t;
void cmn_commit_stats(const cmn_commit_t *self, cmn_commit_stats_t *ret);

#endif
