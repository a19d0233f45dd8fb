/* cmn_gws.h — the gateways a service talks to, one per device network (docs/scaling.md):
 * parsed from --gateway, each with its own bus link, pending calls and heartbeat. A
 * device's record names its gateway; every request toward the device goes there. */
#ifndef CMN_GWS_H
#define CMN_GWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_err.h"
#include "cmn_live.h"
#include "obt/common.pb-c.h"

#define CMN_GW_NAME_MAX     32   /* a gateway's name, NUL included */
#define CMN_GW_DEFAULT_NAME "gw" /* a bare --gateway ENDPOINT; obt-gateway's default --name */
#define CMN_GWS_MAX         16   /* gateways one service talks to */

/* One gateway. The service may use the registration fields for its own /oic/d. */
typedef struct {
    char name[CMN_GW_NAME_MAX]; /* "gw-a" */
    char *endpoint;             /* "tcp://10.0.0.1:7400" (owned) */
    cmn_bus_client_t *client;   /* the DEALER */
    cmn_calls_t *calls;         /* calls over it */
    cmn_live_t live;            /* its heartbeats */
    bool is_registered;         /* our /oic/d is served there */
    bool is_registering;        /* a registration waits for its answer */
    uint64_t next_register_ms;  /* monotonic: the next registration try */
    char d_endpoint[80];        /* where it serves our /oic/d */
    uint32_t beats_sent;        /* heartbeats sent to it (cmn_gw_beat_sent) */
    uint32_t beats_done;        /* of them, those whose outcome is known (cmn_gw_beat_done) */
    bool is_refused;            /* DOTS: the gateway serves another security domain (D88) */
} cmn_gw_t;

/* What the heartbeats say of a gateway that left a call unanswered (cmn_gw_verdict). */
typedef enum {
    CMN_GW_PENDING = 0, /* no heartbeat sent after the call has come back yet */
    CMN_GW_ALIVE,       /* it answers, same boot: the call's failure is the call's */
    CMN_GW_AWAY,        /* it does not answer, or it restarted since the call was sent */
    CMN_GW_VERDICT_COUNT
} cmn_gw_verdict_t;

typedef struct cmn_gws cmn_gws_t;

/* True if a RegisterService reply (err, data, len) refuses us because the gateway serves
 * another security domain (D88); the gateway's reason in why. */
bool cmn_gw_refused(cmn_err_t err, const uint8_t *data, size_t len, char *why, size_t why_len);

/* True if name is a gateway name: 1..31 of [A-Za-z0-9._-]. */
bool cmn_gw_name_is_valid(const char *name);
/* Checks a --gateway value: "ENDPOINT" (the gateway CMN_GW_DEFAULT_NAME) or
 * "NAME=ENDPOINT,NAME=ENDPOINT,..." (names [A-Za-z0-9._-], 1..31 characters, each
 * once; at most CMN_GWS_MAX). CMN_EINVAL with the reason in error otherwise. */
cmn_err_t cmn_gws_check(const char *spec, char *error, size_t error_len);

/* Connects to every gateway of spec (checked as cmn_gws_check) as CURVE client
 * client_name (keys from keys_dir); heartbeats every heartbeat_ms. Gateway NAME must
 * prove key gateway-NAME if keys_dir/public/gateway-NAME.cert exists, else "gateway". NULL on
 * failure: error says why. */
cmn_gws_t *cmn_gws_new(const char *spec,
                       const char *keys_dir,
                       const char *client_name,
                       uint32_t heartbeat_ms,
                       char *error,
                       size_t error_len);
/* Fails every pending call (callbacks run with CMN_EIO), closes the links, frees. */
void cmn_gws_destroy(cmn_gws_t **self_p);
/* How many gateways (at least 1). */
size_t cmn_gws_count(const cmn_gws_t *self);
/* The i-th gateway in --gateway order (borrowed); i < cmn_gws_count. */
cmn_gw_t *cmn_gws_at(cmn_gws_t *self, size_t i);
/* The gateway named name; "" or NULL = the first listed. NULL if none has that name. */
cmn_gw_t *cmn_gws_find(cmn_gws_t *self, const char *name);
/* The name a record stores for gw: "" when there is one gateway only (records stay as
 * a single-gateway setup wrote them), else gw->name. */
const char *cmn_gws_record_name(const cmn_gws_t *self, const cmn_gw_t *gw);
/* Writes "gateway gw-b" to buf, or "gateway" when there is one only (the logs and
 * reasons of a single-gateway setup stay as they were). */
void cmn_gws_label(const cmn_gws_t *self, const cmn_gw_t *gw, char *buf, size_t len);
/* Writes why gw holds jobs back ("waiting for gateway gw-b: not answering since
 * 10:01:02 UTC", "... no answer yet") and returns false; true if it answers. */
bool cmn_gws_ready(const cmn_gws_t *self, const cmn_gw_t *gw, char *why, size_t why_len);
/* The caller sent a heartbeat to gw / fed its outcome to gw->live (one at a time). */
void cmn_gw_beat_sent(cmn_gw_t *gw);
void cmn_gw_beat_done(cmn_gw_t *gw);
/* A call to gw got no answer (or an answer that may come from a new instance): the
 * next heartbeat is made due at once. Returns the ticket to give cmn_gw_verdict. */
uint32_t cmn_gw_suspect(cmn_gw_t *gw);
/* Whether gw was away for a call sent while its boot id was boot_id (0: unknown) and
 * suspected with ticket: AWAY as soon as the heartbeats say it does not answer or has
 * another boot id, ALIVE once a heartbeat sent after the suspicion was answered by the
 * same instance, PENDING until then (at most two heartbeat periods). */
cmn_gw_verdict_t cmn_gw_verdict(const cmn_gw_t *gw, uint32_t ticket, uint64_t boot_id);
/* Fills states[0..count) for a HealthReply (strings borrowed from self and buf, which
 * holds count * 64 bytes) and sets h->gateways to ptrs. */
void cmn_gws_health(cmn_gws_t *self,
                    Obt__HealthReply *h,
                    Obt__GatewayState *states,
                    Obt__GatewayState **ptrs,
                    char (*buf)[64]);

#endif
