/* cmn_svc.h — the shared body of the device services obt-cms and obt-ams: config,
 * identity, LMDB records, the ROUTER, the link to the gateway, registration of the
 * service's own /oic/d, and the loop. Each daemon adds its dispatch and its work. */
#ifndef CMN_SVC_H
#define CMN_SVC_H

#include <stdbool.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_cfg.h"
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

/* What a device service adds to the core. The core answers health, show and list,
 * forgets devices, and checks who may send what (docs/security.md); the service does
 * the work of a hand-over and of a repair, each answered with cmn_svc_answer once,
 * now or later (peer is borrowed: zframe_dup it to answer later). own receives a
 * request with no envelope body (the service's own obt.<svc>.Request; the service
 * checks its parties with cmn_bus_allow); NULL: such requests are refused. */
typedef void(cmn_svc_handover_fn)(cmn_svc_t *svc,
                                  zframe_t *peer,
                                  uint64_t corr_id,
                                  const Obt__DeviceHandover *handover,
                                  void *arg);
typedef void(cmn_svc_repair_fn)(
        cmn_svc_t *svc, zframe_t *peer, uint64_t corr_id, const char *device_uuid, void *arg);
typedef void(cmn_svc_own_fn)(cmn_svc_t *svc,
                             zframe_t *peer,
                             const cmn_caller_t *caller,
                             const uint8_t *data,
                             size_t len,
                             void *arg);
typedef struct {
    cmn_svc_handover_fn *handover;
    cmn_svc_repair_fn *repair;
    cmn_svc_own_fn *own;
    void *arg; /* given to each */
} cmn_svc_hooks_t;

/* Opens the store, creates the identity at first start (UUID without zero bytes),
 * binds the ROUTER, connects to the gateway. rt is "oic.d.cms" or "oic.d.ams". hooks
 * is borrowed and must outlive the service. */
cmn_svc_t *cmn_svc_new(const cmn_svc_config_t *cfg,
                       const char *service,
                       const char *rt,
                       const cmn_svc_hooks_t *hooks);
void cmn_svc_destroy(cmn_svc_t **self_p);
/* Runs until SIGTERM/SIGINT (registration with the gateway retried meanwhile). */
int cmn_svc_run(cmn_svc_t *self);

const char *cmn_svc_uuid(const cmn_svc_t *self);
const cmn_svc_config_t *cmn_svc_config(const cmn_svc_t *self);
/* Fills h (strings borrowed from the service). */
void cmn_svc_health(cmn_svc_t *self, Obt__HealthReply *h);
/* Sends a packed reply to peer. */
cmn_err_t cmn_svc_reply(cmn_svc_t *self, zframe_t *peer, const ProtobufCMessage *reply);
/* Answers an envelope request (obt.ServiceReply): err != CMN_OK sends its status and
 * error (or cmn_strerror(err)); else body with dev (handover, show, repair; borrowed)
 * or an empty forget. */
void cmn_svc_answer(cmn_svc_t *self,
                    zframe_t *peer,
                    uint64_t corr_id,
                    cmn_err_t err,
                    const char *error,
                    Obt__ServiceReply__BodyCase body,
                    Obt__ServiceDevice *dev);
/* One request from the ROUTER: the envelope's table (with its parties column), or the
 * service's own hook. The run loop calls it; tests may too. */
void cmn_svc_dispatch(cmn_svc_t *self,
                      zframe_t *peer,
                      const cmn_caller_t *caller,
                      const uint8_t *data,
                      size_t len);
/* 1 if the envelope has a row for this obt.ServiceRequest body case. */
int cmn_svc_has_handler(int body_case);
/* "cms" / "ams". */
const char *cmn_svc_name(const cmn_svc_t *self);
/* The hooks given to cmn_svc_new (borrowed). */
const cmn_svc_hooks_t *cmn_svc_hooks(const cmn_svc_t *self);

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

/* Asks the gateway, over gw, to close our own session to endpoint (the gateway knows
 * whose from the connection's key); nobody waits
 * for the answer (a failure is logged at info). For every service, DOTS included.
 * CMN_EINVAL without an endpoint (nothing sent); else what cmn_calls_send says. */
cmn_err_t cmn_gw_close_session(cmn_calls_t *gw, const char *endpoint, uint32_t timeout_ms);

#endif
