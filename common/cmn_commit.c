/* cmn_commit.c — group commit of one loop pass's writes */
#include "cmn_commit.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cmn_bus.h"
#include "cmn_log.h"
#include "cmn_time.h"

struct cmn_commit {
    cmn_kv_t *kv;                      /* the store (borrowed), in group mode */
    cmn_commit_stats_t stats;          /* counters */
    cmn_kv_guard_fn *guard;            /* checks each group before its commit, or NULL */
    cmn_commit_refused_fn *on_refused; /* told when it refused one */
    void *guard_arg;                   /* the argument of both */
    bool is_refused;                   /* the guard refused the group being committed */
};

static void
s_on_write(void *arg)
{
    (void) arg;
    cmn_bus_hold(); /* from this write on, nothing leaves before the sync */
}

cmn_commit_t *
cmn_commit_new(cmn_kv_t *kv)
{
    assert(kv);
    cmn_commit_t *self = calloc(1, sizeof *self);
    if (self) {
        self->kv = kv;
        cmn_kv_group_enable(kv, s_on_write, self);
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
    if (cmn_kv_group_is_open(self->kv)) {
        /* stored, but not sent: the sockets of the held messages may be gone already */
        cmn_err_t err = cmn_kv_group_commit(self->kv, NULL);
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
    return cmn_kv_begin(self->kv, true, ret_txn);
}

cmn_err_t
cmn_commit_begin_lazy(cmn_commit_t *self, cmn_kv_txn_t **ret_txn)
{
    assert(self);
    return cmn_kv_begin_quiet(self->kv, ret_txn);
}

cmn_err_t
cmn_commit_flush(cmn_commit_t *self)
{
    assert(self);
    if (!cmn_kv_group_is_open(self->kv)) {
        return CMN_OK;
    }
    uint64_t t0 = cmn_time_mono_us();
    uint64_t writes = 0;
    cmn_err_t err = cmn_kv_group_commit(self->kv, &writes);
    if (err == CMN_ESTATE) {
        return CMN_OK; /* a txn is open inside it (a flush from within a write): later */
    }
    uint64_t us = cmn_time_mono_us() - t0;
    size_t sent = cmn_bus_release(err == CMN_OK);
    if (err == CMN_OK) {
        self->stats.groups++;
        self->stats.writes += writes;
        self->stats.held += sent;
        self->stats.commit_us += us;
        if (us > self->stats.max_us) {
            self->stats.max_us = us;
        }
    } else {
        self->stats.failed++;
        cmn_log_debug("COMMIT-FAIL", "group of %llu writes: %s", (unsigned long long) writes,
                      cmn_strerror(err));
        if (self->is_refused && self->on_refused) {
            self->is_refused = false;
            self->on_refused(err, self->guard_arg);
        }
    }
    return err;
}

/* The store's guard: the caller's, remembering a refusal (told after the abort). */
static cmn_err_t
s_guard(cmn_kv_txn_t *txn, void *arg)
{
    cmn_commit_t *self = arg;
    cmn_err_t err = self->guard(txn, self->guard_arg);
    self->is_refused = err != CMN_OK;
    return err;
}

void
cmn_commit_set_guard(cmn_commit_t *self,
                     cmn_kv_guard_fn *guard,
                     cmn_commit_refused_fn *on_refused,
                     void *arg)
{
    assert(self);
    self->guard = guard;
    self->on_refused = on_refused;
    self->guard_arg = arg;
    cmn_kv_group_set_guard(self->kv, guard ? s_guard : NULL, self);
}

cmn_err_t
cmn_commit_flush_pass(cmn_commit_t *self, uint64_t lazy_max_ms)
{
    assert(self);
    if (!cmn_bus_is_held() && cmn_kv_group_age_ms(self->kv) < lazy_max_ms) {
        return CMN_OK; /* lazy records only, and young: nothing waits for them */
    }
    return cmn_commit_flush(self);
}

void
cmn_commit_stats(const cmn_commit_t *self, cmn_commit_stats_t *ret)
{
    assert(self && ret);
    *ret = self->stats;
}
