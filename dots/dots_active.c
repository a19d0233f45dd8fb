/* dots_active.c — the active lease of DOTS instances sharing a store */
#include "dots_active.h"

#include <assert.h>
#include <czmq.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmn_live.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "dots_partition.h"

struct dots_active {
    dots_store_t *store;     /* borrowed */
    cmn_lease_owner_t owner; /* this instance: --instance and a boot id of this process */
    cmn_lease_t last;        /* the last other holder seen (owner.instance "" = none) */
    uint64_t renewed_ms;     /* monotonic time of the last renewal */
    int parts;               /* --parts G (1: one active lease for every device) */
    int part;                /* the part this instance serves once active (-1: none) */
    uint64_t held;           /* --parts: every part whose lease is ours (bit K) */
    uint64_t active_ms;      /* monotonic time it became active */
    uint64_t free_since_ms[DOTS_PARTS_MAX]; /* when a part not ours was first seen with
                                               no live holder (0: held by someone) */
    dots_active_parts_fns_t fns;            /* an adopted part's records in and out */
    bool is_standby_marked;                 /* a standby: its mark was stored once */
};

dots_active_t *
dots_active_new(dots_store_t *store, const char *name, int parts)
{
    assert(store && name);
    dots_active_t *self = calloc(1, sizeof *self);
    if (self) {
        self->store = store;
        self->parts = parts > 1 ? (parts < DOTS_PARTS_MAX ? parts : DOTS_PARTS_MAX) : 1;
        self->part = -1;
        (void) snprintf(self->owner.instance, sizeof self->owner.instance, "%s", name);
        self->owner.boot_id = cmn_live_new_boot_id();
    }
    return self;
}

void
dots_active_destroy(dots_active_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    free(*self_p);
    *self_p = NULL;
}

/* Another instance holds the lease now: nothing more may leave this process. A normal
 * stop would commit the last group, run the pending calls' callbacks, let ZeroMQ
 * deliver what it queued to the gateways and unlink the ipc:// endpoint, which is the
 * new active instance's now. So: one log line (one write(2)), then _exit. */
static void
s_fenced(const cmn_lease_t *holder, void *arg)
{
    (void) arg;
    cmn_log_err("DOTS-FENCED", "another instance (%s, boot %llu) took over: stopping",
                holder->owner.instance[0] ? holder->owner.instance : "none",
                (unsigned long long) holder->owner.boot_id);
    _exit(DOTS_ACTIVE_EXIT_FENCED);
}

/* Sleeps ms, in steps that SIGTERM/SIGINT end at once. */
static void
s_nap(uint64_t ms)
{
    uint64_t until = cmn_time_mono_ms() + ms;
    while (!zsys_interrupted && cmn_time_mono_ms() < until) {
        (void) poll(NULL, 0, 100); /* a signal ends it early (EINTR) */
    }
}

/* One try at the active lease (of part: -1 = the one of every device): CMN_OK (ours),
 * CMN_EEXIST (*holder has it), or the store's error. */
static cmn_err_t
s_try(dots_active_t *self, int part, cmn_lease_t *holder)
{
    dots_store_set_part(self->store, part);
    cmn_err_t err = dots_store_active_take(self->store, &self->owner, holder);
    cmn_err_t ferr = dots_store_flush(self->store); /* ends the write: LMDB's lock */
    return err != CMN_OK ? err : ferr;
}

cmn_err_t
dots_active_wait(dots_active_t *self)
{
    bool is_standby = false;
    for (;;) {
        if (zsys_interrupted) {
            return CMN_ESTATE;
        }
        cmn_lease_t holder = {0};
        cmn_err_t err = CMN_EEXIST;
        /* the first free part (one part per instance), or the one lease */
        int end = self->parts > 1 ? self->parts : 0; /* parts 1: k = -1 alone */
        for (int k = self->parts > 1 ? 0 : -1; k < end && err == CMN_EEXIST; k++) {
            err = s_try(self, k, &holder);
            self->part = err == CMN_OK ? k : -1;
        }
        if (err == CMN_OK) {
            break;
        }
        if (err != CMN_EEXIST) {
            return err;
        }
        if (self->parts > 1) {
            /* an instance serving an adopted part gives it back to us (D103) */
            cmn_err_t merr = dots_store_standby_mark(self->store, &self->owner, true);
            self->is_standby_marked = self->is_standby_marked || merr == CMN_OK;
        }
        if (self->parts > 1 && !is_standby) {
            cmn_log_notice("DOTS-STANDBY",
                           "standby: each of the %d parts has an active instance (the last "
                           "seen: %s); taking over a part when its lease runs out",
                           self->parts, holder.owner.instance);
        } else if (self->parts == 1 &&
                   (!is_standby || holder.owner.boot_id != self->last.owner.boot_id)) {
            cmn_log_notice("DOTS-STANDBY",
                           "standby: instance %s (boot %llu) is active; taking over when its "
                           "lease runs out",
                           holder.owner.instance, (unsigned long long) holder.owner.boot_id);
        }
        is_standby = true;
        self->last = holder;
        s_nap(DOTS_ACTIVE_TRY_MS);
    }
    if (self->is_standby_marked) { /* no longer waiting: the mark is not ours to leave */
        (void) dots_store_standby_mark(self->store, &self->owner, false);
    }
    self->renewed_ms = self->active_ms = cmn_time_mono_ms();
    dots_store_fence(self->store, &self->owner, s_fenced, self);
    if (self->part >= 0) {
        self->held = (uint64_t) 1 << self->part;
        dots_store_fence_part(self->store, self->part);
        cmn_log_notice("DOTS-ACTIVE",
                       "instance %s is active for part %d/%d (its lease was free or had run out)",
                       self->owner.instance, self->part, self->parts);
    } else if (self->last.owner.instance[0]) {
        cmn_log_notice("DOTS-ACTIVE", "instance %s is active (took over from %s, boot %llu)",
                       self->owner.instance, self->last.owner.instance,
                       (unsigned long long) self->last.owner.boot_id);
    } else {
        cmn_log_notice("DOTS-ACTIVE", "instance %s is active (no other instance held the lease)",
                       self->owner.instance);
    }
    return CMN_OK;
}

int
dots_active_part(const dots_active_t *self)
{
    return self ? self->part : -1;
}

uint64_t
dots_active_parts(const dots_active_t *self)
{
    return self ? self->held : 0;
}

void
dots_active_on_parts(dots_active_t *self, const dots_active_parts_fns_t *fns)
{
    if (self) {
        self->fns = *fns;
    }
}

/* Renews the lease of part (-1: the one lease): true once renewed; exits as fenced when
 * another instance took it. */
static bool
s_renew(dots_active_t *self, int part)
{
    cmn_lease_t holder = {0};
    dots_store_set_part(self->store, part);
    cmn_err_t err = dots_store_active_take(self->store, &self->owner, &holder);
    if (err == CMN_EEXIST) {
        s_fenced(&holder, self);
    }
    if (err != CMN_OK) {
        cmn_log_warn("DOTS-ACTIVE", "cannot renew the active lease: %s (again at the next pass)",
                     cmn_strerror(err));
        return false;
    }
    return true;
}

/* Takes part k, whose lease nobody has held for DOTS_ACTIVE_ADOPT_MS, and has its
 * records loaded. */
static void
s_adopt(dots_active_t *self, int k, const cmn_lease_t *last)
{
    cmn_lease_t holder = {0};
    cmn_err_t err = s_try(self, k, &holder);
    self->free_since_ms[k] = 0;
    if (err != CMN_OK) {
        if (err != CMN_EEXIST) { /* CMN_EEXIST: a standby took it first, as it should */
            cmn_log_warn("DOTS-ADOPT", "cannot take part %d/%d: %s (again later)", k, self->parts,
                         cmn_strerror(err));
        }
        return;
    }
    self->held |= (uint64_t) 1 << k;
    dots_store_fence_part(self->store, k);
    cmn_log_notice("DOTS-ADOPT",
                   "instance %s serves part %d/%d too: nobody held it for %d s (%s%s), and no "
                   "standby took it",
                   self->owner.instance, k, self->parts, DOTS_ACTIVE_ADOPT_MS / 1000,
                   last->owner.instance[0] ? "last held by " : "released or never taken",
                   last->owner.instance);
    err = self->fns.adopt ? self->fns.adopt(k, self->fns.arg) : CMN_OK;
    if (err != CMN_OK) {
        /* serving a part without its records would leave them to nobody: stop, and the
         * lease runs out for another instance */
        cmn_log_err("DOTS-ADOPT", "cannot load the records of part %d/%d: %s: stopping", k,
                    self->parts, cmn_strerror(err));
        _exit(DOTS_ACTIVE_EXIT_FENCED);
    }
}

/* --parts: the parts that nobody serves (their instance died or stopped, and no standby
 * is left) are taken by this active instance as well, once DOTS_ACTIVE_ADOPT_MS has
 * passed: time for a standby (which tries every DOTS_ACTIVE_TRY_MS) to take them first. */
static void
s_adopt_orphans(dots_active_t *self, uint64_t now)
{
    for (int k = 0; k < self->parts; k++) {
        if ((self->held >> k) & 1u) {
            continue;
        }
        cmn_lease_t last = {0};
        cmn_err_t err = dots_store_active_peek(self->store, k, &last);
        if (err != CMN_OK) {
            self->free_since_ms[k] = 0; /* held live (or unreadable: not taken on a guess) */
        } else if (self->free_since_ms[k] == 0) {
            self->free_since_ms[k] = now;
        } else if (now - self->free_since_ms[k] >= DOTS_ACTIVE_ADOPT_MS &&
                   now - self->active_ms >= DOTS_ACTIVE_ADOPT_START_MS) {
            s_adopt(self, k, &last);
        }
    }
}

/* --parts: an adopted part goes back to a standby that waits, once it is quiet (D103). */
static void
s_hand_back(dots_active_t *self)
{
    uint64_t adopted = self->held & ~((uint64_t) 1 << self->part);
    cmn_lease_t who = {0};
    if (adopted == 0 || self->fns.is_quiet == NULL || self->fns.drop == NULL ||
        dots_store_standby_waiting(self->store, &who) != CMN_EEXIST) {
        return;
    }
    for (int k = 0; k < self->parts; k++) {
        if (!((adopted >> k) & 1u) || !self->fns.is_quiet(k, self->fns.arg)) {
            continue;
        }
        cmn_err_t err = dots_store_part_release(self->store, k, &self->owner);
        if (err != CMN_OK) {
            cmn_log_warn("DOTS-HANDBACK", "cannot give part %d/%d back: %s (again later)", k,
                         self->parts, cmn_strerror(err));
            return;
        }
        self->held &= ~((uint64_t) 1 << k);
        self->free_since_ms[k] = 0;
        self->fns.drop(k, self->fns.arg);
        cmn_log_notice("DOTS-HANDBACK",
                       "instance %s gives part %d/%d back: instance %s waits as a standby",
                       self->owner.instance, k, self->parts, who.owner.instance);
        return;
    }
}

void
dots_active_tick(dots_active_t *self)
{
    if (self == NULL || cmn_time_mono_ms() - self->renewed_ms < DOTS_ACTIVE_RENEW_MS) {
        return;
    }
    bool is_renewed = true;
    if (self->part < 0) {
        is_renewed = s_renew(self, -1);
    }
    for (int k = 0; k < self->parts && self->part >= 0; k++) {
        if ((self->held >> k) & 1u) {
            is_renewed = s_renew(self, k) && is_renewed;
        }
    }
    if (!is_renewed) {
        return;
    }
    uint64_t now = cmn_time_mono_ms();
    self->renewed_ms = now;
    if (self->part >= 0) {
        s_hand_back(self);
        s_adopt_orphans(self, now);
    }
}

/* Gives up the lease of part (-1: the one lease), if still ours. */
static void
s_release(dots_active_t *self, int part)
{
    dots_store_set_part(self->store, part);
    cmn_err_t err = dots_store_active_release(self->store, &self->owner);
    if (err != CMN_OK) {
        cmn_log_warn("DOTS-ACTIVE", "cannot give the active lease up: %s (it runs out in %d s)",
                     cmn_strerror(err), CMN_LEASE_LIFE_MS / 1000);
    }
}

void
dots_active_release(dots_active_t *self)
{
    if (self == NULL || self->renewed_ms == 0) {
        return; /* a standby: the lease was never ours */
    }
    if (self->part < 0) {
        s_release(self, -1);
    }
    for (int k = 0; k < self->parts && self->part >= 0; k++) {
        if ((self->held >> k) & 1u) {
            s_release(self, k);
        }
    }
}
