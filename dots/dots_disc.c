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
