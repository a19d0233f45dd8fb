/* cmn_svc.h — the shared body of the device services obt-cms and obt-ams: config,
 * identity, LMDB records, the ROUTER, the link to the gateway, registration of the
 * service's own /oic/d, and the loop. Each daemon adds its dispatch and its work. */
#ifndef CMN_SVC_H
#define CMN_SVC_H

#include <stdbool.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_cfg.h"
#include "cmn_gws.h"
#include "cmn_instance.h"
#include "cmn_jobs.h"
#include "cmn_kv.h"
#include "cmn_lease.h"
#include "cmn_live.h"
#include "obt/common.pb-c.h"
#include "obt/gateway.pb-c.h"
#include "obt/store.pb-c.h"

typedef struct {
    char *endpoint;   /* ZeroMQ ROUTER endpoint */
    char *keys_dir;   /* CURVE keys */
    char *store_dir;  /* LMDB folder */
    char *kek_file;   /* key-encryption key of the secrets, "" = keys_dir/secret/<svc>.kek */
    char *gateway;    /* obt-gateway endpoint, or NAME=ENDPOINT,... (cmn_gws.h) */
    char *name;       /* /oic/d n */
    bool durable;     /* LMDB sync */
    int map_size_mib; /* LMDB map size */
    int timeout_ms;   /* deadline of one device request */
    int heartbeat_ms; /* between two health requests to each gateway */
    char *log_level;
    bool is_shared_store; /* --shared-store: several instances on store_dir (D96) */
    char *instance;       /* this instance's name in logs and health ("" at load: <svc>-<pid>) */
    char *endpoint_file;  /* where to write the endpoint bound ("" = nowhere) */
} cmn_svc_config_t;

/* Loads the config of service `name` ("cms", "ams") with its default endpoint and
 * /oic/d name. Result as cmn_cfg_load. */
cmn_cfg_result_t cmn_svc_config_load(cmn_svc_config_t *cfg,
                                     const char *name,
                                     const char *default_endpoint,
                                     const char *default_name,
                                     int argc,
                                     char **argv);
/* After cmn_log_init: logs the effective configuration (CFG lines, as the gateway and
 * DOTS do), then runs the start checks of cmn_instance_new (keys folder, store folder,
 * the store's lock). The held instance (release with cmn_instance_destroy at exit), or
 * NULL with the reason logged (SVC-START): exit 78. */
cmn_instance_t *cmn_svc_start_checks(const cmn_svc_config_t *cfg);
void cmn_svc_config_free(cmn_svc_config_t *cfg);
/* The same with the service's own options after the common ones: extra's offsets are
 * relative to cfg, which the service puts first in its own config struct (CMS: the
 * certificate authority). Free with cmn_svc_config_free_ext and the same table. */
cmn_cfg_result_t cmn_svc_config_load_ext(cmn_svc_config_t *cfg,
                                         const char *name,
                                         const char *default_endpoint,
                                         const char *default_name,
                                         const cmn_cfg_opt_t *extra,
                                         size_t n_extra,
                                         int argc,
                                         char **argv);
void cmn_svc_config_free_ext(cmn_svc_config_t *cfg, const cmn_cfg_opt_t *extra, size_t n_extra);

typedef struct cmn_svc cmn_svc_t;

typedef struct cmn_svc_job cmn_svc_job_t;
/* The steps of a hand-over or repair job (cmn_svc_job_*). */
typedef void(cmn_svc_job_fn)(cmn_svc_job_t *job);
/* A reply of the device to a job's request (a CoAP exchange that worked; gateway
 * errors and timeouts end the job in the core with "<step>: <reason>", except a
 * request its gateway left unanswered because it went away: then the job waits for
 * the gateway and runs again from its first step when it answers, D85). */
typedef void(cmn_svc_reply_fn)(cmn_svc_job_t *job, const Obt__Gw__CoapReply *reply);
/* A request of the service's own API (obt.<svc>.Request, no envelope body set; the
 * service checks its parties with cmn_dispatch_check and answers with cmn_svc_reply). */
typedef void(cmn_svc_own_fn)(cmn_svc_t *svc,
                             zframe_t *peer,
                             const cmn_caller_t *caller,
                             const uint8_t *data,
                             size_t len,
                             void *arg);

/* What a device service adds to the core. The core answers health, show and list,
 * forgets devices, checks who may send what (docs/security.md), and runs the
 * hand-over and repair jobs (persisted, resumed after a restart, one per device); the
 * service gives their steps. */
typedef struct {
    size_t work_size;       /* bytes of the service's own state per job (job->work) */
    cmn_svc_job_fn *start;  /* the first step, of a new or a resumed job */
    cmn_svc_job_fn *drop;   /* frees what job->work holds (NULL: nothing) */
    cmn_svc_own_fn *own;    /* NULL: the service has no own requests yet */
    void *arg;              /* given to own */
    const char *const *dbs; /* the service's own named LMDB databases (NULL: none) */
    size_t n_dbs;           /* how many (at most 8) */
    /* Called once the store is open, before the service binds and says READY (NULL:
     * nothing); a failure other than CMN_OK makes cmn_svc_new fail. */
    cmn_err_t (*init)(cmn_svc_t *svc, void *arg);
    /* After a device was forgotten (reset or --forget): the service's cascade, e.g.
     * AMS removing the ACEs that name it on other devices. NULL: nothing. */
    void (*forgot)(cmn_svc_t *svc, const char *uuid);
    /* An action job (cmn_svc_job_action) ended: called by cmn_svc_job_finish once the
     * outcome is written and the job is gone from the table (so the hook may start
     * another job, on this device too). uuid, action and error are borrowed for the
     * call. *peer_p is who waits (NULL: nobody): the hook may take it (and set it NULL)
     * to answer later itself, e.g. when the action goes on as a job of another device
     * (CMS's pairwise links); one left is answered with err and error alone. NULL hook:
     * the answer is the record ("show"). */
    void (*ended)(cmn_svc_t *svc,
                  const char *uuid,
                  const uint8_t *action,
                  size_t action_len,
                  cmn_err_t err,
                  const char *error,
                  zframe_t **peer_p,
                  uint64_t corr_id);
    /* Which action jobs the ended hook answers itself (NULL: all of them); the others
     * are answered by the core with the record, as without the hook. */
    bool (*is_ended_by_hook)(const uint8_t *action, size_t action_len);
    /* After the jobs held by the records were resumed at start (NULL: nothing): work
     * of the service's own that was cut between two jobs goes on here. */
    void (*resumed)(cmn_svc_t *svc);
    /* At every pass of the loop (at least every 200 ms), after the jobs held at start
     * were resumed: the service's own timers (CMS: the CRL push queue). NULL: none. */
    void (*tick)(cmn_svc_t *svc, void *arg);
} cmn_svc_hooks_t;

/* Loads the KEK (made if absent) and checks it against the store, sealing the plain
 * secrets of earlier releases (cmn_kv_reseal); opens the store, creates the identity
 * at first start (UUID without zero bytes),
 * binds the ROUTER, connects to every gateway (--gateway, cmn_gws.h). rt is
 * "oic.d.cms" or "oic.d.ams". hooks is borrowed and must outlive the service. */
cmn_svc_t *cmn_svc_new(const cmn_svc_config_t *cfg,
                       const char *service,
                       const char *rt,
                       const cmn_svc_hooks_t *hooks);
void cmn_svc_destroy(cmn_svc_t **self_p);
/* Runs until SIGTERM/SIGINT (registration with each gateway retried meanwhile). Every
 * --heartbeat-ms it asks each gateway for its health; when a gateway's boot id changes
 * or it answers again after failures, the service registers its /oic/d there again. */
int cmn_svc_run(cmn_svc_t *self);

const char *cmn_svc_uuid(const cmn_svc_t *self);
/* The service's store and the KEK of its "secrets" (borrowed): for the service's own
 * databases (hooks->dbs). */
cmn_kv_t *cmn_svc_kv(const cmn_svc_t *self);
const cmn_seal_t *cmn_svc_seal(const cmn_svc_t *self);
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
/* ---- hand-over and repair jobs (cmn_svc_job.c) ----
 * One job per device. The core checks and persists a hand-over (record, key and job in
 * one transaction) before the service's start hook runs; the service makes its
 * requests with cmn_svc_job_coap (a late reply to an ended or restarted job is
 * dropped by a generation check) and ends with cmn_svc_job_finish, which writes the
 * outcome and clears the job in one transaction, answers whoever waits and closes the
 * session. A record that still holds a job when the service starts is resumed from
 * the first step (every step of CMS and AMS reads the device again, so running one
 * twice is harmless), at most CMN_SVC_JOB_MAX_RUNS times in all. A hand-over or repair
 * of a device whose job runs joins it: the newest requester gets the answer, the
 * older one an ESTATE "superseded". */
#define CMN_SVC_JOB_MAX_RUNS 3
struct cmn_svc_job {
    cmn_job_head_t head;           /* device uuid and call generation (cmn_jobs.h) */
    cmn_svc_t *svc;                /* the service */
    bool is_repair;                /* RepairDevice (SRESET) rather than a hand-over */
    bool is_resumed;               /* run again after a restart: nobody waits */
    Obt__DeviceHandover *handover; /* what DOTS sent (owned; psk wiped) */
    uint8_t psk[16];               /* our key for the device (wiped at the end) */
    char ep[80];                   /* its coaps:// endpoint */
    char step[32];                 /* the step under way, for logs and errors */
    char cipher[64];               /* of our session, from the last exchange */
    void *work;                    /* the service's state: hooks->work_size bytes, zeroed */
    zframe_t *peer;                /* who waits for the answer (owned; NULL: nobody) */
    uint64_t corr_id;              /* its request */
    uint32_t attempts;             /* runs so far */
    cmn_svc_reply_fn *on_reply;    /* the service's handler of the pending request */
    uint8_t *action;               /* kind "action": the service's own request (owned), else NULL */
    size_t action_len;
    /* Its gateway (D85): a request it left unanswered is judged by the heartbeats. */
    cmn_gw_t *gw;            /* the gateway of the pending request (borrowed), or NULL */
    uint64_t sent_boot_id;   /* gw's boot id when that request was sent */
    bool is_gw_suspect;      /* unanswered: waits for cmn_gw_verdict, holds no call */
    bool is_gw_waiting;      /* cut by its gateway: keeps its step, waits for gw */
    uint32_t suspect_ticket; /* cmn_gw_suspect's, while is_gw_suspect */
    cmn_err_t suspect_err;   /* the job's end if gw turns out alive */
    char suspect_why[300];   /* and its reason */
};

/* Sends one CoAP request of job over the service's own PSK session; step names it in
 * logs ("SVC-JOB-STEP", info level) and errors. fn gets the device's reply. If the
 * request cannot be sent, the job is finished with the error before this returns. */
void cmn_svc_job_coap(cmn_svc_job_t *job,
                      const char *step,
                      int method,
                      const char *path,
                      const char *query,
                      const uint8_t *payload,
                      size_t len,
                      cmn_svc_reply_fn *fn);
/* The same over a session of the given policy (sec, borrowed; the service's
 * certificate session: SEC_CERT) instead of the service's PSK session. */
void cmn_svc_job_coap_sec(cmn_svc_job_t *job,
                          const char *step,
                          const Obt__Gw__Security *sec,
                          int method,
                          const char *path,
                          const char *query,
                          const uint8_t *payload,
                          size_t len,
                          cmn_svc_reply_fn *fn);
/* Ends job: writes dev (the service's view: state, aceids...; NULL for a failure) with
 * uuid, endpoints, error, cipher and time filled in here, clears the job record,
 * answers the requester, closes the session and frees job. err != CMN_OK: state
 * "failed" with error. */
void
cmn_svc_job_finish(cmn_svc_job_t *job, cmn_err_t err, const char *error, Obt__ServiceDevice *dev);
/* As cmn_svc_job_finish, and when err is CMN_OK the same write records next (an action
 * request, as cmn_svc_job_action takes) as the device's job in progress, which starts
 * at once (nobody waits for it): the follow-up cannot be lost between two writes, a
 * restart resumes it like any other action (e.g. AMS's policy apply after a hand-over). */
void cmn_svc_job_finish_then(cmn_svc_job_t *job,
                             cmn_err_t err,
                             const char *error,
                             Obt__ServiceDevice *dev,
                             const uint8_t *next,
                             size_t next_len);
/* The dispatcher's entries (cmn_svc_api.c). */
void cmn_svc_job_handover(cmn_svc_t *svc,
                          zframe_t *peer,
                          uint64_t corr_id,
                          const Obt__DeviceHandover *h);
void cmn_svc_job_repair(cmn_svc_t *svc, zframe_t *peer, uint64_t corr_id, const char *uuid);
/* A job of the service's own (kind "action", e.g. an AMS ACE change) on a device with
 * a record: action (the packed request, copied) is persisted with the record's job
 * before hooks->start runs (it finds job->action set), and a restart resumes it from
 * the first step like a hand-over. The record's device (state, the service's fields)
 * is kept; the job's end writes what the service gives cmn_svc_job_finish (a failure
 * without a device keeps the record as it was) and answers peer with a ServiceReply
 * "show" (peer NULL: nobody waits, errors are logged). A device whose job runs: ESTATE;
 * no record: ENOTFOUND. */
void cmn_svc_job_action(cmn_svc_t *svc,
                        zframe_t *peer,
                        uint64_t corr_id,
                        const char *uuid,
                        const uint8_t *action,
                        size_t len);
/* Writes dev (the record's device, as the job sees it now) with the job still held,
 * in one transaction: a service's intent before it acts (e.g. AMS records the ACEs
 * it is about to place, so a run resumed after a kill knows them as its own). */
cmn_err_t cmn_svc_job_save(cmn_svc_job_t *job, const Obt__ServiceDevice *dev);
/* At start: resumes every job a record still holds (with --shared-store: those whose
 * lease is not another instance's live one). */
void cmn_svc_job_resume_all(cmn_svc_t *svc);
/* After each heartbeat outcome of gw (cmn_gw_beat_done): judges the jobs whose request
 * gw left unanswered (fail as the request failed if gw is alive, wait for gw if it is
 * away or restarted) and resumes the jobs waiting for gw once it answers (D85). */
void cmn_svc_job_gw_beat(cmn_svc_t *svc, cmn_gw_t *gw);
/* The jobs that hold a slot: all but those waiting for their gateway (D85), which
 * hold no call until it answers. */
size_t cmn_svc_job_count_busy(cmn_svc_t *svc);
/* At every loop pass: renews this instance's leases every --heartbeat-ms (a job whose
 * lease another instance took meanwhile ends here, unwritten: "lost"); with
 * --shared-store takes over the jobs whose holder's lease expired (an instance that
 * died or hangs) and retries the hand-overs that wait for another instance's lease. */
void cmn_svc_job_tick(cmn_svc_t *svc);
/* The job module's own state (cmn_svc_job.c; owned by the service, freed by
 * cmn_svc_job_drop_all). */
typedef struct cmn_svc_job_state cmn_svc_job_state_t;
cmn_svc_job_state_t **cmn_svc_job_state(cmn_svc_t *self);
/* The job table (owned by the service; cmn_svc_job.c uses it). */
cmn_jobs_t *cmn_svc_jobs(const cmn_svc_t *self);
/* Frees every job in the table without answering (at shutdown). */
void cmn_svc_job_drop_all(cmn_svc_t *svc);

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

typedef void(cmn_svc_job_each_fn)(const char *uuid, const Obt__Store__ServiceJob *job, void *arg);

/* Records: store.ServiceRecord keyed by device uuid, the PSK sealed in "secrets"
 * (cmn_seal.h), in one transaction. psk may be NULL (record only); job is the job in progress
 * (NULL: none). */
cmn_err_t cmn_svc_put(cmn_svc_t *self,
                      const Obt__ServiceDevice *dev,
                      const Obt__DeviceHandover *handover,
                      const uint8_t *psk,
                      const Obt__Store__ServiceJob *job);
/* What a write of a job does with the device's lease (cmn_lease.h), in the same
 * transaction as the record. */
typedef enum {
    CMN_SVC_LEASE_NONE, /* nothing */
    CMN_SVC_LEASE_TAKE, /* take or renew it: CMN_EEXIST while another instance's is live */
    CMN_SVC_LEASE_KEEP, /* write only if it is ours (else CMN_EEXIST / CMN_ENOTFOUND), renew */
    CMN_SVC_LEASE_END,  /* write only if it is ours, then remove it */
} cmn_svc_lease_op_t;   /* without --shared-store KEEP and END do not check: all are ours */
/* cmn_svc_put with the lease rule op; nothing is written when the rule fails, and
 * *ret_holder (if not NULL) receives the lease that stopped it. */
cmn_err_t cmn_svc_put_leased(cmn_svc_t *self,
                             const Obt__ServiceDevice *dev,
                             const Obt__DeviceHandover *handover,
                             const uint8_t *psk,
                             const Obt__Store__ServiceJob *job,
                             cmn_svc_lease_op_t op,
                             cmn_lease_t *ret_holder);
/* This instance as a lease holder: --instance and our boot id. */
const cmn_lease_owner_t *cmn_svc_owner(const cmn_svc_t *self);
/* The record's job of uuid, if it holds one: fn is called with it (CMN_OK), else
 * CMN_ENOTFOUND. */
cmn_err_t cmn_svc_get_job(cmn_svc_t *self, const char *uuid, cmn_svc_job_each_fn *fn, void *arg);
/* *ret_dev is unpacked (caller frees with obt__service_device__free_unpacked). */
cmn_err_t cmn_svc_get(cmn_svc_t *self, const char *uuid, Obt__ServiceDevice **ret_dev);
/* CMN_ENOTFOUND if none; CMN_ECRYPTO if it does not open (CMN_SEAL_WRONG_KEK). */
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
/* Calls fn for each record that holds a job in progress (inside a read transaction:
 * fn must not write the store). */
cmn_err_t cmn_svc_each_job(cmn_svc_t *self, cmn_svc_job_each_fn *fn, void *arg);

/* The gateway of a device: the one its record names (the hand-over's), the first
 * listed for "" or with one gateway only (borrowed). CMN_ENOTFOUND for a gateway not
 * in --gateway. */
cmn_err_t cmn_svc_gw_of(cmn_svc_t *self, const char *device_uuid, cmn_gw_t **ret_gw);
/* The service's gateways (borrowed). */
cmn_gws_t *cmn_svc_gws(const cmn_svc_t *self);

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

/* The same with the policy sec (borrowed) instead of the PSK session; psk unused. */
cmn_err_t cmn_svc_coap_sec(cmn_svc_t *self,
                           const char *device_uuid,
                           const char *endpoint,
                           const Obt__Gw__Security *sec,
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

/* Asks the gateway, over gw, to close our own session to endpoint (the gateway knows
 * whose from the connection's key); nobody waits
 * for the answer (a failure is logged at info). For every service, DOTS included.
 * CMN_EINVAL without an endpoint (nothing sent); else what cmn_calls_send says. */
cmn_err_t cmn_gw_close_session(cmn_calls_t *gw, const char *endpoint, uint32_t timeout_ms);

#endif
