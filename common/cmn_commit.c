/* cmn_commit.c — group commit of one loop pass's writes */
#include "cmn_commit.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cmn_bus.h"
#include "cmn_log.h"
#include "cmn_time.h"

struct cmn_commit {
    cmn_kv_t *kv;             /* the store (borrowed) */
    cmn_kv_txn_t *group;      /* the open group, NULL if none */
    uint64_t group_writes;    /* child transactions begun in it */
    cmn_commit_stats_t stats; /* counters */
};

cmn_commit_t *
cmn_commit_new(cmn_kv_t *kv)
{
    assert(kv);
    cmn_commit_t *self = calloc(1, sizeof *self);
    if (self) {
        self->kv = kv;
    }
    return self;
}

void
cmn_commit_destroy(cmn_commit_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_commit_t *self = *self_p;
    if (self->group) {
        /* stored, but not sent: the sockets of the held messages may be gone already */
        cmn_err_t err = cmn_kv_commit(&self->group);
        if (err != CMN_OK) {
            cmn_log_debug("COMMIT-LOST", "last group: %s", cmn_strerror(err));
        }
        (void) cmn_bus_release(false);
    }
    free(self);
    *self_p = NULL;
}

cmn_err_t
cmn_commit_begin(cmn_commit_t *self, cmn_kv_txn_t **ret_txn)
{
    assert(self);
    if (self->group == NULL) {
        cmn_err_t err = cmn_kv_begin(self->kv, true, &self->group);
        if (err != CMN_OK) {
            return err;
        }
        cmn_bus_hold(); /* from the first write on, nothing leaves before the sync */
    }
    cmn_err_t err = cmn_kv_begin_child(self->group, ret_txn);
    if (err == CMN_OK) {
        self->group_writes++;
    }
    return err;
}

cmn_kv_txn_t *
cmn_commit_group(cmn_commit_t *self)
{
    assert(self);
    return self->group;
}

cmn_err_t
cmn_commit_read_begin(cmn_commit_t *self, cmn_kv_txn_t **ret_txn)
{
    assert(self);
    if (self->group) {
        *ret_txn = self->group;
        return CMN_OK;
    }
    return cmn_kv_begin(self->kv, false, ret_txn);
}

void
cmn_commit_read_end(cmn_commit_t *self, cmn_kv_txn_t **txn_p)
{
    assert(self);
    if (*txn_p == self->group) {
        *txn_p = NULL; /* the group's: cmn_commit_flush commits it */
        return;
    }
    cmn_kv_abort(txn_p);
}

cmn_err_t
cmn_commit_flush(cmn_commit_t *self)
{
    assert(self);
    if (self->group == NULL) {
        return CMN_OK;
    }
    uint64_t t0 = cmn_time_mono_us();
    cmn_err_t err = cmn_kv_commit(&self->group);
    uint64_t us = cmn_time_mono_us() - t0;
    size_t sent = cmn_bus_release(err == CMN_OK);
    if (err == CMN_OK) {
        self->stats.groups++;
        self->stats.writes += self->group_writes;
        self->stats.held += sent;
        self->stats.commit_us += us;
        if (us > self->stats.max_us) {
            self->stats.max_us = us;
        }
    } else {
        self->stats.failed++;
        cmn_log_debug("COMMIT-FAIL", "group of %llu writes: %s",
                      (unsigned long long) self->group_writes, cmn_strerror(err));
    }
    self->group_writes = 0;
    return err;
}

void
cmn_commit_stats(const cmn_commit_t *self, cmn_commit_stats_t *ret)
{
    assert(self && ret);
    *ret = self->stats;
}
