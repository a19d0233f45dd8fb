/* cmn_dispatch.h — the rows of the daemons' dispatch tables: which request, its name,
 * who may send it; one lookup and one parties check for every dispatcher */
#ifndef CMN_DISPATCH_H
#define CMN_DISPATCH_H

#include <stddef.h>

#include "cmn_bus.h"
#include "cmn_err.h"

/* The head of a dispatch row. Each daemon's row struct has it as its FIRST member,
 * followed by its handler, so that a pointer to the head is a pointer to the row
 * (C11 6.7.2.1):
 *     typedef struct { cmn_dispatch_row_t head; s_handler_fn *fn; } s_row_t;
 *     static const s_row_t s_rows[] = {{{OBT__GW__REQUEST__BODY_HEALTH, "health",
 *                                       CMN_PARTY_ANY}, s_on_health}, ...};
 */
typedef struct {
    int body;         /* the Request's oneof case */
    const char *name; /* in errors and logs ("derive_owner_psk") */
    unsigned parties; /* who may send it (cmn_party_t bits) */
} cmn_dispatch_row_t;

/* The row of body among the n rows of row_size bytes each at rows (an array of a
 * row struct whose first member is a cmn_dispatch_row_t); NULL if none. */
const cmn_dispatch_row_t *cmn_dispatch_find(const void *rows, size_t n, size_t row_size, int body);

/* The dispatcher's check: finds the row of body (as cmn_dispatch_find) and lets
 * caller through if its party is in the row (cmn_bus_allow; daemon, "obt-gateway",
 * is for the text). CMN_OK with *ret_row; CMN_EPROTO for an unknown or missing body
 * and CMN_EPERM for a party not allowed, with the reason in error. */
cmn_err_t cmn_dispatch_check(const char *daemon,
                             const void *rows,
                             size_t n,
                             size_t row_size,
                             int body,
                             const cmn_caller_t *caller,
                             char *error,
                             size_t error_len,
                             const cmn_dispatch_row_t **ret_row);

#endif
