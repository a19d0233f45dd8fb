/* gw_disc.h — one discovery: rounds of multicast (and unicast) GET /oic/sec/doxm on
 * the selected scopes and interfaces, then /oic/res?rt=oic.r.doxm for the endpoints;
 * every reply merged by device UUID */
#ifndef GW_DISC_H
#define GW_DISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

#define GW_DISC_MAX_EPS     8  /* endpoints kept per device */
#define GW_DISC_MAX_TARGETS 16 /* unicast endpoints per discovery */
#define GW_DISC_MAX_IFACES  8  /* interfaces per discovery */
#define GW_DISC_MAX_ROUNDS  20
/* Sockets per discovery: IPv4 and IPv6 per interface, plus one per family for
 * unicast targets. */
#define GW_DISC_MAX_SOCKS (2 * GW_DISC_MAX_IFACES + 2)

/* Multicast scopes (OCF-NOTES 1): all on UDP 5683. */
typedef enum {
    GW_SCOPE_IPV4 = 0, /* 224.0.1.187 */
    GW_SCOPE_LINK,     /* ff02::158 */
    GW_SCOPE_REALM,    /* ff03::158 */
    GW_SCOPE_SITE,     /* ff05::158 */
    GW_SCOPE_COUNT
} gw_scope_t;

typedef struct {
    char uuid[37];                 /* doxm.deviceuuid */
    char eps[GW_DISC_MAX_EPS][80]; /* from /oic/res, in the operator's scope order */
    size_t n_eps;
    uint8_t *doxm; /* CBOR as first answered (owned) */
    size_t doxm_len;
    char source[80];      /* address the first doxm reply came from (%iface if link-local) */
    uint32_t doxm_socks;  /* bit i: a doxm reply arrived on socket i */
    uint32_t res_socks;   /* bit i: a /oic/res reply arrived on socket i */
    unsigned first_round; /* round (1-based) of its first doxm reply */
    char source_ep[96];   /* coap://ADDR:PORT of that reply (%iface if link-local) */
    size_t n_claims;      /* sources claiming this uuid as separate devices (> 1: conflict) */
} gw_disc_device_t;

/* Default limits of one discovery (docs/discovery.md "Limits"). */
#define GW_DISC_DEF_MAX_REPLIES    16384 /* datagrams from sources not yet known */
#define GW_DISC_DEF_MAX_PER_SOURCE 4     /* deviceuuids per source ADDR:PORT */
#define GW_DISC_DEF_MAX_KIB        8192  /* memory of the results */

/* Replies a discovery left out, per limit. */
typedef struct {
    size_t replies;    /* over max_replies */
    size_t per_source; /* a new uuid from a source that had max_per_source already */
    size_t memory;     /* the results would have passed max_kib */
} gw_disc_drops_t;

typedef struct {
    const char *const *ifaces; /* multicast interfaces */
    size_t n_ifaces;
    const gw_scope_t *scopes; /* multicast scopes; their order ranks the endpoints */
    size_t n_scopes;
    int window_ms;              /* reply window of each round and phase */
    int rounds;                 /* doxm rounds (>= 1) */
    const char *query;          /* doxm query, e.g. "owned=FALSE" */
    const char *const *unicast; /* coap:// endpoints to ask directly */
    size_t n_unicast;
    size_t max_replies;    /* 0 = GW_DISC_DEF_MAX_REPLIES */
    size_t max_per_source; /* 0 = GW_DISC_DEF_MAX_PER_SOURCE */
    size_t max_kib;        /* 0 = GW_DISC_DEF_MAX_KIB */
} gw_disc_opts_t;

typedef struct gw_disc gw_disc_t;

/* Opens the sockets and sends the first doxm round. NULL with *ret_err on failure:
 * CMN_EINVAL when no target could be set up (unknown interfaces, bad endpoints). */
gw_disc_t *gw_disc_start(const gw_disc_opts_t *opts, cmn_err_t *ret_err);
void gw_disc_destroy(gw_disc_t **self_p);

/* Sockets to poll: gw_disc_fd(self, i) for i < gw_disc_n_fds(self) (-1 if unused). */
int gw_disc_n_fds(const gw_disc_t *self);
int gw_disc_fd(const gw_disc_t *self, int which);
/* Reads every waiting datagram of socket which. */
void gw_disc_on_readable(gw_disc_t *self, int which);
/* Advances rounds and phases by time. Returns ms until the next step, or -1 once
 * finished. */
int gw_disc_tick(gw_disc_t *self);

/* Results once gw_disc_tick returned -1: one entry per device, valid until destroy.
 * Claims of one uuid from sources that are not one device (the conflict rule of
 * docs/discovery.md: each source's /oic/res must list the other's address and port)
 * stay separate entries, adjacent, each with n_claims = their number; entries are
 * otherwise in order of first reply. */
const gw_disc_device_t *gw_disc_devices(const gw_disc_t *self, size_t *ret_n);
/* Datagrams received, and how many of them were malformed or unexpected. */
void gw_disc_counts(const gw_disc_t *self, size_t *ret_replies, size_t *ret_bad);
/* Replies left out by each limit, and the limits in force. */
void gw_disc_drops(const gw_disc_t *self, gw_disc_drops_t *ret_drops, gw_disc_opts_t *ret_limits);

/* Parses one reply datagram (exposed for tests): the payload of a 2.05 whose token
 * equals token. CMN_EPROTO for anything else. */
cmn_err_t gw_disc_parse_reply(const uint8_t *dgram,
                              size_t len,
                              const uint8_t token[8],
                              const uint8_t **ret_payload,
                              size_t *ret_len);

/* Parses a comma list of scope names ("link,realm,site,ipv4"; "ipv6" = link) into
 * ret (GW_SCOPE_COUNT entries), without duplicates, in the given order. CMN_EINVAL
 * on an unknown or empty name; an empty list gives *ret_n = 0. */
cmn_err_t gw_disc_parse_scopes(const char *list, gw_scope_t *ret, size_t *ret_n);
/* Checks a comma list of interface names (--iface): each must exist on this host
 * (if_nametoindex), at most GW_DISC_MAX_IFACES, none empty. CMN_ENOTFOUND (or
 * CMN_EINVAL) with the reason in why otherwise; an empty list is fine. */
cmn_err_t gw_disc_check_ifaces(const char *list, char *why, size_t why_len);
/* The name of a scope ("ipv4", "link", "realm", "site"). */
const char *gw_disc_scope_name(gw_scope_t scope);

/* Merge rule (exposed for tests): adds the endpoints eps[0..n) to d. A link-local
 * IPv6 endpoint gets zone iface (the interface its reply came in on; any zone it
 * carried is the device's and means nothing here). Duplicates are dropped; the list
 * stays ordered by the rank of each endpoint's scope in order[0..n_order) (IPv4,
 * link-local, else realm/site, whichever the operator listed first; unlisted last),
 * keeping arrival order within a rank. Unparseable endpoints are skipped. When full,
 * a better-ranked endpoint replaces the last one. */
void gw_disc_merge_eps(gw_disc_device_t *d,
                       const char *const *eps,
                       size_t n,
                       const char *iface,
                       const gw_scope_t *order,
                       size_t n_order);

#endif
