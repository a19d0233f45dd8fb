/* dots_active.h — several DOTS instances on one store: one active, the others
 * standbys that take over when its lease runs out (docs/scaling.md, D91) */
#ifndef DOTS_ACTIVE_H
#define DOTS_ACTIVE_H

#include "cmn_err.h"
#include "dots_store.h"

/* Exit code of an instance fenced off its store: another took over (EX_TEMPFAIL). */
#define DOTS_ACTIVE_EXIT_FENCED 75
/* Between two renewals of the active lease (its life is CMN_LEASE_LIFE_MS). */
#define DOTS_ACTIVE_RENEW_MS 2000
/* Between two tries of a standby. */
#define DOTS_ACTIVE_TRY_MS 1000

typedef struct dots_active dots_active_t;

/* This instance (name: --instance, borrowed for its life; a new boot id) on store
 * (borrowed: it must outlive the object). NULL if out of memory. */
dots_active_t *dots_active_new(dots_store_t *store, const char *name, int parts);
void dots_active_destroy(dots_active_t **self_p);

/* Takes the active lease, waiting as a standby while another instance holds a live
 * one: logs DOTS-STANDBY once, tries again every DOTS_ACTIVE_TRY_MS. Once the lease is
 * ours (logged DOTS-ACTIVE) the store is fenced with it (dots_store_fence): a group
 * commit after another instance took the lease stores nothing, and the process exits
 * at once with DOTS_ACTIVE_EXIT_FENCED (DOTS-FENCED). CMN_OK once active; CMN_ESTATE
 * when SIGTERM/SIGINT came first (zsys_interrupted); else the store's error. */
cmn_err_t dots_active_wait(dots_active_t *self);
/* With parts > 1 (--parts G) the instance takes the lease of the first part K that has
 * no live holder (DOTS_STORE_PART_KEY), becomes active for that part alone and is fenced
 * with that lease; dots_active_part then says K. -1: no part (parts 1, or not active). */
int dots_active_part(const dots_active_t *self);
/* Every part this instance serves (bit K): its first, and those it adopted. 0: none. */
uint64_t dots_active_parts(const dots_active_t *self);

/* An active instance with --parts also takes a part whose lease nobody has held for
 * DOTS_ACTIVE_ADOPT_MS (its instance died or stopped and no standby is left: a standby
 * would have taken it, trying every DOTS_ACTIVE_TRY_MS), though not in its first
 * DOTS_ACTIVE_ADOPT_START_MS (instances started together each take their own part
 * first). Logged DOTS-ADOPT; the lease is committed and fenced like the first, then
 * on_adopt(part, arg) loads the part's records (dots_engine_add_part). When on_adopt
 * fails the process stops (exit DOTS_ACTIVE_EXIT_FENCED): the lease runs out for
 * another instance. D101. */
#define DOTS_ACTIVE_ADOPT_MS       5000
#define DOTS_ACTIVE_ADOPT_START_MS 15000
/* And the other way (D103): while a standby waits (it marks so in the store,
 * DOTS_STORE_STANDBY_KEY), an instance serving an adopted part gives it back once
 * is_quiet(part) says nothing of that part is under way: drop(part) forgets its records
 * (dots_engine_drop_part) and its lease is released, so that the standby takes it within
 * a second (DOTS-HANDBACK). One part per renewal. */
typedef struct {
    cmn_err_t (*adopt)(int part, void *arg);
    bool (*is_quiet)(int part, void *arg);
    void (*drop)(int part, void *arg);
    void *arg;
} dots_active_parts_fns_t;
void dots_active_on_parts(dots_active_t *self, const dots_active_parts_fns_t *fns);

/* At each loop pass of the active instance: renews the lease (each of its parts')
 * every DOTS_ACTIVE_RENEW_MS (in the pass's group); when another instance took one,
 * the process exits as fenced. Then, with --parts, adopts the parts nobody serves (see
 * above). NULL: nothing (a DOTS alone on its store). */
void dots_active_tick(dots_active_t *self);

/* At a clean stop, once nothing more is written: gives the lease (each of its parts')
 * up, if still ours, so that a standby takes over at once. NULL: nothing. */
void dots_active_release(dots_active_t *self);

#endif
