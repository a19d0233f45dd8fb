/* cmn_svc.h — the shared body of the device services obt-cms and obt-ams: config,
 * identity, LMDB records, the ROUTER, the link to the gateway, registration of the
 * service's own /oic/d, and the loop. Each daemon adds its dispatch and its work. */
#ifndef CMN_SVC_H
#define CMN_SVC_H

#include <stdbool.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_cfg.h"
#include "cmn_live.h"
#include "obt/common.pb-c.h"

typedef struct {
    char *endpoint;   /* ZeroMQ ROUTER endpoint */
    char *keys_dir;   /* CURVE keys */
    char *store_dir;  /* LMDB folder */
    char *gateway;    /* obt-gateway endpoint */
    char *name;       /* /oic/d n */
    bool durable;     /* LMDB sync */
    int map_size_mib; /* LMDB map size */
    int timeout_ms;   /* deadline of one device request */
    int heartbeat_ms; /* between two health requests to the gateway */
    char *log_level;
} cmn_svc_config_t;

/* Loads the config of service `name` ("cms", "ams") with its default endpoint and
 * /oic/d name. Result as cmn_cfg_load. */
cmn_cfg_result_t cmn_svc_config_load(cmn_svc_config_t *cfg,
                                     const char *name,
                                     const char *default_endpoint,
                                     const char *default_name,
                                     int argc,
                                     char **argv);
void cmn_svc_config_free(cmn_svc_config_t *cfg);

typedef struct cmn_svc cmn_svc_t;

/* Handles one request (packed bytes) from peer. The daemon unpacks its own Request
 * type and answers with cmn_svc_reply (now or later). */
typedef void(cmn_svc_dispatch_fn)(
        cmn_svc_t *svc, zframe_t *peer, const uint8_t *data, size_t len, void *arg);

/* Opens the store, creates the identity at first start (UUID without zero bytes),
 * binds the ROUTER, connects to the gateway. rt is "oic.d.cms" or "oic.d.ams". */
cmn_svc_t *cmn_svc_new(const cmn_svc_config_t *cfg,
                       const char *service,
                       const char *rt,
                       cmn_svc_dispatch_fn *dispatch,
                       void *arg);
void cmn_svc_destroy(cmn_svc_t **self_p);
/* Runs until SIGTERM/SIGINT (registration with the gateway retried meanwhile). Every
 * --heartbeat-ms it asks the gateway for its health; when the gateway's boot id changes
 * or it answers again after failures, the service registers its /oic/d again. */
int cmn_svc_run(cmn_svc_t *self);

const char *cmn_svc_uuid(const cmn_svc_t *self);
const cmn_svc_config_t *cmn_svc_config(const cmn_svc_t *self);
/* Fills h (strings borrowed from the service). */
void cmn_svc_health(cmn_svc_t *self, Obt__HealthReply *h);
/* Sends a packed reply to peer. */
cmn_err_t cmn_svc_reply(cmn_svc_t *self, zframe_t *peer, const ProtobufCMessage *reply);

/* Records: store.ServiceRecord keyed by device uuid, the PSK in "secrets". psk may be
 * NULL (record only). */
cmn_err_t cmn_svc_put(cmn_svc_t *self,
                      const Obt__ServiceDevice *dev,
                      const Obt__DeviceHandover *handover,
                      const uint8_t *psk);
/* *ret_dev is unpacked (caller frees with obt__service_device__free_unpacked). */
cmn_err_t cmn_svc_get(cmn_svc_t *self, const char *uuid, Obt__ServiceDevice **ret_dev);
cmn_err_t cmn_svc_get_psk(cmn_svc_t *self, const char *uuid, uint8_t ret_psk[16]);
/* What a service needs to act on a device again: the hand-over DOTS sent (psk field
 * empty; *ret_handover unpacked, caller frees it with
 * obt__device_handover__free_unpacked), our PSK, and the device's coaps:// endpoint
 * (ep_len bytes). All outputs are written only on success. CMN_ENOTFOUND if the
 * device, its key or a coaps:// endpoint is unknown. */
cmn_err_t cmn_svc_get_handover(cmn_svc_t *self,
                               const char *uuid,
                               Obt__DeviceHandover **ret_handover,
                               uint8_t ret_psk[16],
                               char *ret_ep,
                               size_t ep_len);
/* ForgetDevice: asks the gateway to close our sessions to the device, then removes
 * the record and the PSK of uuid in one transaction. CMN_OK also when nothing was
 * stored (idempotent). */
cmn_err_t cmn_svc_forget(cmn_svc_t *self, const char *uuid);
/* Calls fn for each record (unpacked, borrowed for the call). */
typedef void(cmn_svc_each_fn)(const Obt__ServiceDevice *dev, void *arg);
cmn_err_t cmn_svc_each(cmn_svc_t *self, cmn_svc_each_fn *fn, void *arg);

/* One CoAP request to a device over this service's own PSK session (identity = its
 * UUID bytes). fn receives the packed obt.gw.Reply. */
cmn_err_t cmn_svc_coap(cmn_svc_t *self,
                       const char *device_uuid,
                       const char *endpoint,
                       const uint8_t psk[16],
                       int method,
                       const char *path,
                       const char *query,
                       const uint8_t *payload,
                       size_t len,
                       cmn_call_fn *fn,
                       void *arg);

/* Asks the gateway to close this service's session to endpoint (fire and forget:
 * the gateway's idle timeout is the backstop). Call it when a job is over. */
void cmn_svc_close_session(cmn_svc_t *self, const char *endpoint);

/* Asks the gateway, over gw, to serve /oic/d for a service (rt "oic.wk.d" and rt,
 * di = uuid, n = name); fn gets the reply, to read with cmn_gw_registered. For every
 * service, DOTS included. What cmn_calls_send says. */
cmn_err_t cmn_gw_register_service(cmn_calls_t *gw,
                                  const char *uuid,
                                  const char *name,
                                  const char *rt,
                                  uint32_t timeout_ms,
                                  cmn_call_fn *fn,
                                  void *arg);
/* The reply of cmn_gw_register_service: true, with the endpoint where the gateway
 * serves the /oic/d in ep, if it succeeded. */
bool cmn_gw_registered(cmn_err_t err, const uint8_t *data, size_t len, char *ep, size_t ep_len);

/* Asks the gateway, over gw, for its health (a heartbeat); fn gets the reply, to give to
 * cmn_gw_health_feed. What cmn_calls_send says. */
cmn_err_t cmn_gw_health(cmn_calls_t *gw, uint32_t timeout_ms, cmn_call_fn *fn, void *arg);
/* The reply of cmn_gw_health (err and data as the cmn_call_fn got them) given to live:
 * what changed (cmn_live_on_beat). */
cmn_live_change_t
cmn_gw_health_feed(cmn_live_t *live, cmn_err_t err, const uint8_t *data, size_t len);

/* Asks the gateway, over gw, to close caller_uuid's session to endpoint; nobody waits
 * for the answer (a failure is logged at info). For every service, DOTS included.
 * CMN_EINVAL without an endpoint (nothing sent); else what cmn_calls_send says. */
cmn_err_t cmn_gw_close_session(cmn_calls_t *gw,
                               const char *caller_uuid,
                               const char *endpoint,
                               uint32_t timeout_ms);

#endif
