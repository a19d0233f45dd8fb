/* gw_disc.h — one discovery round: multicast (and unicast) GET /oic/sec/doxm, then
 * /oic/res?rt=oic.r.doxm for the endpoints, replies merged by device UUID */
#ifndef GW_DISC_H
#define GW_DISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

#define GW_DISC_MAX_EPS     4
#define GW_DISC_MAX_TARGETS 16

typedef struct {
    char uuid[37];                 /* doxm.deviceuuid */
    char eps[GW_DISC_MAX_EPS][80]; /* from /oic/res */
    size_t n_eps;
    uint8_t *doxm; /* CBOR as answered (owned) */
    size_t doxm_len;
    char source[64]; /* address the doxm reply came from */
} gw_disc_device_t;

typedef struct {
    const char *iface;          /* multicast interface */
    bool ipv4;                  /* 224.0.1.187 */
    bool ipv6;                  /* ff02::158 */
    int window_ms;              /* reply window of each phase */
    const char *query;          /* doxm query, e.g. "owned=FALSE" */
    const char *const *unicast; /* coap:// endpoints to ask directly */
    size_t n_unicast;
} gw_disc_opts_t;

typedef struct gw_disc gw_disc_t;

/* Opens the sockets and sends the doxm request. NULL with *ret_err on failure. */
gw_disc_t *gw_disc_start(const gw_disc_opts_t *opts, cmn_err_t *ret_err);
void gw_disc_destroy(gw_disc_t **self_p);

/* Sockets to poll (up to 2; -1 if unused). */
int gw_disc_fd(const gw_disc_t *self, int which);
/* Reads every waiting datagram. */
void gw_disc_on_readable(gw_disc_t *self, int which);
/* Advances phases by time. Returns ms until the next step, or -1 once finished. */
int gw_disc_tick(gw_disc_t *self);

/* Results, valid until destroy. */
const gw_disc_device_t *gw_disc_devices(const gw_disc_t *self, size_t *ret_n);
/* Datagrams received, and how many of them were malformed or unexpected. */
void gw_disc_counts(const gw_disc_t *self, size_t *ret_replies, size_t *ret_bad);

/* Parses one reply datagram (exposed for tests): the payload of a 2.05 whose token
 * equals token. CMN_EPROTO for anything else. */
cmn_err_t gw_disc_parse_reply(const uint8_t *dgram,
                              size_t len,
                              const uint8_t token[8],
                              const uint8_t **ret_payload,
                              size_t *ret_len);

#endif
