/* dots_disc.c — merging discovery results into DOTS's device records */
#include "dots_disc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmn_ep.h"

static bool
s_has(char (*eps)[80], size_t n, const char *ep)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(eps[i], ep) == 0) {
            return true;
        }
    }
    return false;
}

/* True if an endpoint of eps[0..n) has the scheme and host of ep: ep's port is then
 * an old one (the device restarted and bound new ports, as [IL] does). */
static bool
s_superseded(const char *const *eps, size_t n, const char *ep)
{
    cmn_ep_t old;
    if (cmn_ep_parse(ep, &old) != CMN_OK) {
        return true; /* nothing to keep */
    }
    for (size_t i = 0; i < n; i++) {
        cmn_ep_t e;
        if (cmn_ep_parse(eps[i], &e) == CMN_OK && e.is_secure == old.is_secure &&
            strcmp(e.host, old.host) == 0) {
            return true;
        }
    }
    return false;
}

void
dots_disc_merge_eps(dots_dev_t *d, const char *const *eps, size_t n)
{
    char out[DOTS_MAX_EPS][80];
    memset(out, 0, sizeof out);
    size_t n_out = 0;
    for (size_t i = 0; i < n && n_out < DOTS_MAX_EPS; i++) {
        if (eps[i][0] && strlen(eps[i]) < sizeof out[0] && !s_has(out, n_out, eps[i])) {
            (void) snprintf(out[n_out++], sizeof out[0], "%s", eps[i]);
        }
    }
    for (size_t i = 0; i < d->n_eps && n_out < DOTS_MAX_EPS; i++) {
        if (!s_has(out, n_out, d->eps[i]) && !s_superseded(eps, n, d->eps[i])) {
            (void) snprintf(out[n_out++], sizeof out[0], "%s", d->eps[i]);
        }
    }
    memcpy(d->eps, out, sizeof out);
    d->n_eps = n_out;
}

void
dots_disc_set_conflict(dots_dev_t *d, const dots_disc_claim_t *claims, size_t n, size_t n_total)
{
    size_t n_claims = n_total > n ? n_total : n;
    d->n_claims = 0;
    memset(d->claims, 0, sizeof d->claims);
    for (size_t i = 0; i < n && d->n_claims < DOTS_MAX_CLAIMS; i++) {
        dots_claim_t *c = &d->claims[d->n_claims++];
        (void) snprintf(c->source, sizeof c->source, "%s", claims[i].source);
        for (size_t e = 0; e < claims[i].n_eps && c->n_eps < DOTS_CLAIM_EPS; e++) {
            if (strlen(claims[i].eps[e]) < sizeof c->eps[0]) {
                (void) snprintf(c->eps[c->n_eps++], sizeof c->eps[0], "%s", claims[i].eps[e]);
            }
        }
    }
    d->claimed_by = (uint32_t) n_claims;
    int len = snprintf(d->error, sizeof d->error, "uuid claimed by %zu endpoints (", n_claims);
    for (size_t i = 0; i < d->n_claims && len > 0 && (size_t) len < sizeof d->error; i++) {
        len += snprintf(d->error + len, sizeof d->error - (size_t) len, "%s%s", i ? ", " : "",
                        d->claims[i].source);
    }
    if (len > 0 && (size_t) len < sizeof d->error) {
        (void) snprintf(d->error + len, sizeof d->error - (size_t) len,
                        "%s): pick one with approve UUID --endpoint EP",
                        n_claims > d->n_claims ? ", ..." : "");
    }
}

bool
dots_disc_has_conflict(const dots_dev_t *d)
{
    return d->claimed_by > 1;
}

cmn_err_t
dots_disc_pick(dots_dev_t *d, const char *endpoint)
{
    if (!dots_disc_has_conflict(d)) {
        return CMN_ESTATE;
    }
    /* A claim's source names it; an endpoint only when no other claim lists it too
     * (an impostor may list the real device's endpoints as its own). */
    const dots_claim_t *c = NULL, *listing = NULL;
    size_t n_listing = 0;
    for (size_t i = 0; i < d->n_claims && c == NULL; i++) {
        if (strcmp(d->claims[i].source, endpoint) == 0) {
            c = &d->claims[i];
        } else if (s_has(d->claims[i].eps, d->claims[i].n_eps, endpoint)) {
            listing = &d->claims[i];
            n_listing++;
        }
    }
    if (c == NULL && n_listing == 1) {
        c = listing;
    }
    if (c != NULL) {
        memset(d->eps, 0, sizeof d->eps);
        d->n_eps = 0;
        for (size_t e = 0; e < c->n_eps && d->n_eps < DOTS_MAX_EPS; e++) {
            (void) snprintf(d->eps[d->n_eps++], sizeof d->eps[0], "%s", c->eps[e]);
        }
        size_t src_len = strlen(c->source);
        if (d->n_eps == 0 && src_len < sizeof d->eps[0]) {
            memcpy(d->eps[d->n_eps++], c->source, src_len + 1);
        }
        memset(d->claims, 0, sizeof d->claims);
        d->n_claims = 0;
        d->claimed_by = 0;
        d->error[0] = '\0';
        return CMN_OK;
    }
    return CMN_ENOTFOUND;
}
