/* ctl_fanout.h — obtctl toward several DOTS instances that split the devices into
 * parts (obt-dots --parts, D100): `--dots EP,EP,...` (a list or a port range) */
#ifndef CTL_FANOUT_H
#define CTL_FANOUT_H

#include "ctl_main.h"

/* Sends req (its corr_id set) to every instance of o->ep[CTL_DOTS] that accepts the
 * connection within the deadline and merges their replies into *ret (free with
 * obt__dots__reply__free_unpacked), as one DOTS serving every part would answer:
 * device lists and discovery counts added up, approve/onboard of named devices sent to
 * the instance that has each, show/pin/reset/repair from the instance that has the
 * device, trust anchors changed on every instance. *ret may carry an error status
 * (ctl_dots prints it). Returns an exit code: CTL_EXIT_OK with *ret set, or the code of
 * a failure it printed (no instance reachable: CTL_EXIT_TIMEOUT). */
int ctl_fanout_dots(const ctl_opts_t *o,
                    Obt__Dots__Request *req,
                    int timeout_ms,
                    Obt__Dots__Reply **ret);

/* Sends req to every instance of o->ep[CTL_DOTS] that accepts the connection within the
 * deadline and hands back each one's reply in ret[0 .. *ret_n) (at most cap, in the
 * order of the list; free each with obt__dots__reply__free_unpacked): `obtctl health`
 * shows every instance. Returns an exit code as ctl_fanout_dots. */
int ctl_fanout_each(const ctl_opts_t *o,
                    Obt__Dots__Request *req,
                    int timeout_ms,
                    Obt__Dots__Reply **ret,
                    size_t cap,
                    size_t *ret_n);

/* The events endpoints of o->ep[CTL_DOTS] when it names several instances: each one's
 * (port + 10, or path + ".events"), comma-separated, into out. CMN_OK, CMN_EINVAL. */
cmn_err_t ctl_fanout_events_ep(const ctl_opts_t *o, char *out, size_t cap);

#endif
