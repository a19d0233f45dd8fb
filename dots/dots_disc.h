/* dots_disc.h — merging discovery results into DOTS's device records */
#ifndef DOTS_DISC_H
#define DOTS_DISC_H

#include <stddef.h>

#include "dots_store.h"

/* Updates d's endpoints with those of a new discovery: eps[0..n) first, in the order
 * the gateway gave (the operator's scope order), then the endpoints d had that are
 * not among them and whose scheme and host none of them has (a new port on the same
 * address replaces the old one: [IL] devices bind new ports when they restart);
 * duplicates dropped, at most DOTS_MAX_EPS kept. Nothing else of d changes: a
 * discovery never resets a device's state or ownership. */
void dots_disc_merge_eps(dots_dev_t *d, const char *const *eps, size_t n);

#endif
