/* dots_disc.h — merging discovery results into DOTS's device records */
#ifndef DOTS_DISC_H
#define DOTS_DISC_H

#include <stdbool.h>
#include <stddef.h>

#include "cmn_err.h"
#include "dots_store.h"

/* Updates d's endpoints with those of a new discovery: eps[0..n) first, in the order
 * the gateway gave (the operator's scope order), then the endpoints d had that are
 * not among them and whose scheme and host none of them has (a new port on the same
 * address replaces the old one: [IL] devices bind new ports when they restart);
 * duplicates dropped, at most DOTS_MAX_EPS kept. Nothing else of d changes: a
 * discovery never resets a device's state or ownership. */
void dots_disc_merge_eps(dots_dev_t *d, const char *const *eps, size_t n);

/* One source's claim as the gateway reported it (borrowed strings). */
typedef struct {
    const char *source;     /* coap://ADDR:PORT */
    const char *const *eps; /* that source's own eps */
    size_t n_eps;
} dots_disc_claim_t;

/* Records a conflict on d: the uuid was claimed by n_total sources, of which claims[0..n)
 * are reported (the first DOTS_MAX_CLAIMS are kept). d's error says so and names them;
 * its endpoints and state do not change, and it stays so until dots_disc_pick. */
void
dots_disc_set_conflict(dots_dev_t *d, const dots_disc_claim_t *claims, size_t n, size_t n_total);

/* True while d holds a conflict the operator did not resolve. */
bool dots_disc_has_conflict(const dots_dev_t *d);

/* Resolves d's conflict for the claim whose source is endpoint, else for the one claim
 * that lists endpoint among its eps (listed by two: none, an impostor may list the
 * real device's endpoints):
 * d's endpoints become that claim's (its eps, else its source), the claims and the
 * error are cleared. CMN_ESTATE if d holds no conflict, CMN_ENOTFOUND if no claim
 * has that endpoint (d unchanged). */
cmn_err_t dots_disc_pick(dots_dev_t *d, const char *endpoint);

#endif
