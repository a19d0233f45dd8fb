/* dots_maint.c — reset (offboarding) and repair (SRESET) of owned devices.
 *
 * A reset is one persisted job: the record is marked RESETTING (committed) before the
 * device is told (pstat dos.s=0 over the owner-PSK session), then FORGET_CMS and
 * FORGET_AMS (committed before each request), then every record of the device in
 * our store goes in one transaction. A crash anywhere leaves a record that says
 * what was attempted, and the first tick after a restart sends that step again:
 * every step is idempotent, and a device that has already reset (the POST fails,
 * its doxm over coap:// shows another deviceuuid or owned=false) counts as reset.
 * A device that refuses or does not answer leaves the job in RESET_PENDING with the
 * error; `reset --forget` then skips the device.
 *
 * A repair moves the device to SRESET, lets each service correct its resource
 * (clause 5.1 Table 1), and takes it back through RFPRO to RFNOP. */
#include "dots_maint.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_jobs.h"
#include "cmn_log.h"
#include "cmn_svc.h"
#include "cmn_svr.h"
#include "cmn_time.h"
#include "dots_devreq.h"
#include "obt/common.pb-c.h"
#include "obt/gateway.pb-c.h"

#define RETRY_MS       2000 /* CMS/AMS unreachable: try the step again */
#define VOD_RECHECK_MS 200  /* a Bridge in RESET_VODS looks at its VODs' jobs again */

const char *const DOTS_MAINT_STATE_NAMES[MAINT_STATE_COUNT] = {
        "NONE",          "RESETTING",    "RESET_PROBE",   "FORGET_CMS",  "FORGET_AMS", "FORGOTTEN",
        "RESET_PENDING", "SRESET",       "REPAIR_PSTAT",  "REPAIR_DOXM", "REPAIR_CMS", "REPAIR_AMS",
        "REPAIR_RFPRO",  "REPAIR_RFNOP", "REPAIR_FAILED", "RESET_VODS"};
const char *const DOTS_MAINT_EVENT_NAMES[MEV_COUNT] = {"RESET", "FORGET", "REPAIR",    "OK",
                                                       "FAIL",  "RESUME", "RESET_VODS"};

typedef struct {
    cmn_job_head_t head;    /* the device record's key; calls (cmn_jobs.h) */
    dots_maint_t *m;        /* back pointer */
    int state;              /* dev.maint while an event is dispatched */
    uint64_t retry_at_ms;   /* monotonic; 0 = nothing to retry */
    char why[300];          /* reason of the pending MEV_FAIL */
    char reset_why[300];    /* why the reset POST failed (kept across the probe) */
    dots_maint_done_fn *fn; /* the operator waiting, NULL if none */
    void *arg;
    bool is_over;        /* freed after the dispatch */
    bool is_unreachable; /* the last device request got no CoAP answer */
} s_job_t;

struct dots_maint {
    const dots_config_t *cfg;
    dots_store_t *store;
    const dots_identity_t *id;
    dots_engine_t *engine;
    cmn_gws_t *gws; /* the gateways: a device's requests go to its own */
    cmn_calls_t *cms, *ams;
    cmn_jobs_t *jobs; /* s_job_t */
};

/* ------------------------------------------------------------------ helpers */

static s_job_t *
s_find(const dots_maint_t *self, const char *uuid)
{
    return cmn_jobs_find(self->jobs, uuid);
}

static s_job_t *
s_add(dots_maint_t *self, const char *uuid)
{
    s_job_t *job = cmn_jobs_add(self->jobs, uuid, sizeof *job);
    if (job) {
        job->m = self;
    }
    return job;
}

/* Answers the waiting operator, once. */
static void
s_answer(s_job_t *job, cmn_err_t err, const char *error, const dots_dev_t *dev)
{
    if (job->fn) {
        dots_maint_done_fn *fn = job->fn;
        job->fn = NULL;
        fn(job->arg, err, error, dev);
    }
}

static void s_raise(s_job_t *job, int event);

static void
s_fail(s_job_t *job, const char *why)
{
    (void) snprintf(job->why, sizeof job->why, "%s", why);
    s_raise(job, MEV_FAIL);
}

/* ------------------------------------------------------------------ requests */

static void s_on_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len);

static cmn_err_t
s_call(s_job_t *job, cmn_calls_t *to, ProtobufCMessage *req, uint64_t corr, uint32_t timeout)
{
    cmn_jobs_call_t *c = cmn_jobs_call(job->m->jobs, job);
    if (c == NULL) {
        return CMN_ENOMEM;
    }
    cmn_err_t err = cmn_calls_send(to, req, corr, timeout, s_on_reply, c);
    if (err != CMN_OK) {
        cmn_jobs_call_cancel(c);
    }
    return err;
}

/* Our session to the device may be stale (device restarted, DOTS crashed mid-way):
 * each job starts on a fresh one. Requests on one link are handled in order. */
static void
s_close_session(s_job_t *job, const dots_dev_t *dev, const char *ep)
{
    cmn_gw_t *gw = cmn_gws_find(job->m->gws, dev->gateway);
    if (gw) {
        (void) cmn_gw_close_session(gw->calls, ep, 5000);
    }
}

/* One CoAP request to the device: over the owner-PSK session, or plain coap:// for
 * the probe. payload is a CBOR body or NULL. */
static cmn_err_t
s_device_request(s_job_t *job,
                 const dots_dev_t *dev,
                 int method,
                 const char *path,
                 bool secure,
                 const uint8_t *payload,
                 size_t len)
{
    dots_maint_t *m = job->m;
    cmn_jobs_call_t *c = cmn_jobs_call(m->jobs, job);
    if (c == NULL) {
        return CMN_ENOMEM;
    }
    const dots_devreq_t r = {method, path, secure, payload, len};
    cmn_err_t err = dots_devreq_send(m->gws, m->store, m->id->uuid, dev, &r,
                                     (uint32_t) m->cfg->step_timeout_ms, s_on_reply, c, job->why,
                                     sizeof job->why);
    if (err != CMN_OK) {
        cmn_jobs_call_cancel(c);
    }
    return err;
}

static cmn_err_t
s_post_pstat(s_job_t *job, const dots_dev_t *dev, const cmn_pstat_t *p)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_pstat_encode(p, &buf, &len);
    if (err == CMN_OK) {
        err = s_device_request(job, dev, OBT__GW__METHOD__METHOD_POST, "/oic/sec/pstat", true, buf,
                               len);
    }
    free(buf);
    return err;
}

static cmn_err_t
s_post_dos(s_job_t *job, const dots_dev_t *dev, int64_t s)
{
    cmn_pstat_t p = {.present = CMN_PSTAT_HAS_DOS, .dos_s = s};
    return s_post_pstat(job, dev, &p);
}

/* ForgetDevice / RepairDevice to CMS or AMS (their Request types differ only there). */
static cmn_err_t
s_service_request(s_job_t *job, bool is_cms, bool is_forget)
{
    dots_maint_t *m = job->m;
    Obt__ForgetDevice f = OBT__FORGET_DEVICE__INIT;
    Obt__RepairDevice r = OBT__REPAIR_DEVICE__INIT;
    f.device_uuid = job->head.uuid;
    r.device_uuid = job->head.uuid;
    uint64_t corr = cmn_bus_next_corr_id();
    uint32_t timeout = (uint32_t) m->cfg->step_timeout_ms * 4;
    Obt__ServiceRequest req = OBT__SERVICE_REQUEST__INIT;
    req.corr_id = corr;
    if (is_forget) { /* the oneof members share storage: set one only */
        req.body_case = OBT__SERVICE_REQUEST__BODY_FORGET;
        req.forget = &f;
    } else {
        req.body_case = OBT__SERVICE_REQUEST__BODY_REPAIR;
        req.repair = &r;
    }
    return s_call(job, is_cms ? m->cms : m->ams, &req.base, corr, timeout);
}

static cmn_err_t
s_send_step(s_job_t *job, const dots_dev_t *dev)
{
    cmn_uuid_t me;
    (void) cmn_uuid_from_str(job->m->id->uuid, &me);
    switch (job->state) {
    case MAINT_RESETTING:
        return s_post_dos(job, dev, CMN_DOS_RESET);
    case MAINT_RESET_PROBE:
        return s_device_request(job, dev, OBT__GW__METHOD__METHOD_GET, "/oic/sec/doxm", false, NULL,
                                0);
    case MAINT_FORGET_CMS:
    case MAINT_FORGET_AMS:
        return s_service_request(job, job->state == MAINT_FORGET_CMS, true);
    case MAINT_SRESET:
        return s_post_dos(job, dev, CMN_DOS_SRESET);
    case MAINT_REPAIR_PSTAT: {
        cmn_pstat_t p = {.present = CMN_PSTAT_HAS_ROWNERUUID, .rowneruuid = me};
        return s_post_pstat(job, dev, &p);
    }
    case MAINT_REPAIR_DOXM: {
        cmn_doxm_t d = {.present = CMN_DOXM_HAS_ROWNERUUID, .rowneruuid = me};
        uint8_t *buf = NULL;
        size_t len = 0;
        cmn_err_t err = cmn_doxm_encode(&d, &buf, &len);
        if (err == CMN_OK) {
            err = s_device_request(job, dev, OBT__GW__METHOD__METHOD_POST, "/oic/sec/doxm", true,
                                   buf, len);
        }
        free(buf);
        return err;
    }
    case MAINT_REPAIR_CMS:
    case MAINT_REPAIR_AMS:
        return s_service_request(job, job->state == MAINT_REPAIR_CMS, false);
    case MAINT_REPAIR_RFPRO:
        return s_post_dos(job, dev, CMN_DOS_RFPRO);
    case MAINT_REPAIR_RFNOP:
        return s_post_dos(job, dev, CMN_DOS_RFNOP);
    default:
        return CMN_ESTATE;
    }
}

/* ------------------------------------------------------------------ FSM actions */

static dots_dev_t *
s_dev(s_job_t *job)
{
    return dots_engine_record(job->m->engine, job->head.uuid);
}

static cmn_err_t
a_store(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *dev = s_dev(job);
    if (dev == NULL) {
        return CMN_ENOTFOUND;
    }
    int from = dev->maint;
    dev->maint = job->state;
    dev->maint_updated_ms = cmn_time_wall_ms();
    cmn_err_t err = dots_events_put(dots_engine_events(job->m->engine), job->m->store, dev, NULL,
                                    NULL, "maint", DOTS_MAINT_STATE_NAMES[from],
                                    DOTS_MAINT_STATE_NAMES[dev->maint], dev->maint_error);
    if (err != CMN_OK) {
        cmn_log_err("DOTS-STORE", "dev=%s cannot persist the %s step: %s", job->head.uuid,
                    DOTS_MAINT_STATE_NAMES[job->state], cmn_strerror(err));
        (void) snprintf(job->why, sizeof job->why, "cannot persist: %s", cmn_strerror(err));
    }
    return err;
}

/* Entering a job: a fresh owner session, and no error from an earlier attempt. */
static cmn_err_t
a_begin(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *dev = s_dev(job);
    const char *ep = dev ? dots_dev_ep(dev, true) : NULL;
    if (dev) {
        dev->maint_error[0] = '\0';
    }
    if (ep) {
        s_close_session(job, dev, ep);
    }
    return CMN_OK;
}

static size_t s_reset_vods(s_job_t *job, const dots_dev_t *bridge);

static cmn_err_t
a_send(void *ctx, int *ret_event)
{
    s_job_t *job = ctx;
    dots_dev_t *dev = s_dev(job);
    job->retry_at_ms = 0;
    if (dev && job->state == MAINT_RESET_VODS) {
        /* No request of its own: the Bridge goes on once no VOD job is running. */
        if (s_reset_vods(job, dev) == 0) {
            cmn_log_notice("DOTS-RESET-VODS-DONE", "dev=%s its VODs are done: resetting the Bridge",
                           job->head.uuid);
            *ret_event = MEV_OK;
        } else {
            job->retry_at_ms = cmn_time_mono_ms() + VOD_RECHECK_MS;
        }
        return CMN_OK;
    }
    cmn_err_t err = dev ? s_send_step(job, dev) : CMN_ENOTFOUND;
    if (err != CMN_OK && job->why[0] == '\0') {
        (void) snprintf(job->why, sizeof job->why, "cannot send: %s", cmn_strerror(err));
    }
    return err;
}

/* The reset POST failed: keep why, then look at the device over coap://. */
static cmn_err_t
a_keep_reset_why(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    (void) snprintf(job->reset_why, sizeof job->reset_why, "%s", job->why);
    job->why[0] = '\0';
    return CMN_OK;
}

static cmn_err_t
a_delete(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *dev = s_dev(job);
    const char *ep = dev ? dots_dev_ep(dev, true) : NULL;
    if (ep) {
        s_close_session(job, dev, ep);
    }
    cmn_err_t err = dots_store_del(job->m->store, job->head.uuid);
    if (err != CMN_OK) {
        (void) snprintf(job->why, sizeof job->why, "cannot delete the records: %s",
                        cmn_strerror(err));
        return err;
    }
    if (dev) {
        dots_events_publish_last(dots_engine_events(job->m->engine), dev, "maint",
                                 DOTS_MAINT_STATE_NAMES[dev->maint],
                                 DOTS_MAINT_STATE_NAMES[MAINT_FORGOTTEN]);
    }
    dots_engine_remove(job->m->engine, job->head.uuid);
    cmn_log_notice("DOTS-FORGOTTEN", "dev=%s every record removed (DOTS, CMS, AMS)",
                   job->head.uuid);
    s_answer(job, CMN_OK, NULL, NULL);
    job->is_over = true;
    return CMN_OK;
}

/* RESET_PENDING / REPAIR_FAILED: the error goes to the record and the operator. */
static cmn_err_t
a_record_error(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *dev = s_dev(job);
    char error[sizeof dev->maint_error];
    if (job->state == MAINT_RESET_PENDING) {
        (void) snprintf(error, sizeof error,
                        "reset failed, %s (%.110s; %.110s); records kept (reset --forget drops "
                        "them)",
                        job->is_unreachable ? "device unreachable" : "device refused",
                        job->reset_why[0] ? job->reset_why : "-", job->why);
    } else {
        (void) snprintf(error, sizeof error, "repair failed: %s", job->why);
    }
    if (dev) {
        (void) snprintf(dev->maint_error, sizeof dev->maint_error, "%s", error);
    }
    cmn_log_warn("DOTS-MAINT-FAILED", "dev=%s %s", job->head.uuid, error);
    job->is_over = true;
    return CMN_OK;
}

static cmn_err_t
a_answer_error(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    const dots_dev_t *dev = s_dev(job);
    s_answer(job, job->is_unreachable ? CMN_ETIMEDOUT : CMN_EDEVICE,
             dev ? dev->maint_error : job->why, NULL);
    return CMN_OK;
}

static cmn_err_t
a_repaired(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *dev = s_dev(job);
    cmn_log_notice("DOTS-REPAIRED", "dev=%s SRESET corrections done, back in RFNOP",
                   job->head.uuid);
    if (dev) {
        dev->maint_error[0] = '\0'; /* a_store commits MAINT_NONE (and publishes it) */
    }
    job->is_over = true;
    return CMN_OK;
}

static cmn_err_t
a_answer_ok(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    s_answer(job, CMN_OK, NULL, s_dev(job));
    return CMN_OK;
}

/* CMS or AMS could not be reached: the step stays recorded and is sent again. */
static cmn_err_t
a_retry_later(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *dev = s_dev(job);
    char error[320];
    (void) snprintf(error, sizeof error, "%s: %.250s (retrying)",
                    DOTS_MAINT_STATE_NAMES[job->state], job->why);
    if (dev) {
        (void) snprintf(dev->maint_error, sizeof dev->maint_error, "%s", error);
    }
    job->retry_at_ms = cmn_time_mono_ms() + RETRY_MS;
    cmn_log_warn("DOTS-MAINT-RETRY", "dev=%s %s", job->head.uuid, error);
    s_answer(job, CMN_EIO, error, NULL);
    return CMN_OK;
}

#define ROW(from, on, to, ...)                                                                     \
    {                                                                                              \
        from, on, to,                                                                              \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
#define NEXT(from, to) ROW(from, MEV_OK, to, a_store, a_send, NULL)
/* A reset that cannot go on: RESET_PENDING, error recorded and answered. */
#define GIVE_UP(from)                                                                              \
    ROW(from, MEV_FAIL, MAINT_RESET_PENDING, a_record_error, a_store, a_answer_error, NULL)

static const cmn_fsm_row_t s_rows[] = {
        ROW(MAINT_NONE, MEV_RESET, MAINT_RESETTING, a_begin, a_store, a_send, NULL),
        ROW(MAINT_RESET_PENDING, MEV_RESET, MAINT_RESETTING, a_begin, a_store, a_send, NULL),
        ROW(MAINT_REPAIR_FAILED, MEV_RESET, MAINT_RESETTING, a_begin, a_store, a_send, NULL),
        ROW(MAINT_NONE, MEV_RESET_VODS, MAINT_RESET_VODS, a_begin, a_store, a_send, NULL),
        ROW(MAINT_RESET_PENDING, MEV_RESET_VODS, MAINT_RESET_VODS, a_begin, a_store, a_send, NULL),
        ROW(MAINT_REPAIR_FAILED, MEV_RESET_VODS, MAINT_RESET_VODS, a_begin, a_store, a_send, NULL),
        NEXT(MAINT_RESET_VODS, MAINT_RESETTING),
        GIVE_UP(MAINT_RESET_VODS),
        ROW(MAINT_NONE, MEV_FORGET, MAINT_FORGET_CMS, a_begin, a_store, a_send, NULL),
        ROW(MAINT_RESET_PENDING, MEV_FORGET, MAINT_FORGET_CMS, a_begin, a_store, a_send, NULL),
        ROW(MAINT_REPAIR_FAILED, MEV_FORGET, MAINT_FORGET_CMS, a_begin, a_store, a_send, NULL),
        NEXT(MAINT_RESETTING, MAINT_FORGET_CMS),
        ROW(MAINT_RESETTING, MEV_FAIL, MAINT_RESET_PROBE, a_keep_reset_why, a_store, a_send, NULL),
        NEXT(MAINT_RESET_PROBE, MAINT_FORGET_CMS),
        GIVE_UP(MAINT_RESET_PROBE),
        NEXT(MAINT_FORGET_CMS, MAINT_FORGET_AMS),
        ROW(MAINT_FORGET_CMS, MEV_FAIL, CMN_FSM_SAME, a_retry_later, a_store, NULL),
        ROW(MAINT_FORGET_AMS, MEV_OK, MAINT_FORGOTTEN, a_delete, NULL),
        ROW(MAINT_FORGET_AMS, MEV_FAIL, CMN_FSM_SAME, a_retry_later, a_store, NULL),
        ROW(MAINT_FORGOTTEN, MEV_FAIL, MAINT_FORGET_AMS, a_retry_later, NULL),
        ROW(MAINT_NONE, MEV_REPAIR, MAINT_SRESET, a_begin, a_store, a_send, NULL),
        ROW(MAINT_REPAIR_FAILED, MEV_REPAIR, MAINT_SRESET, a_begin, a_store, a_send, NULL),
        NEXT(MAINT_SRESET, MAINT_REPAIR_PSTAT),
        NEXT(MAINT_REPAIR_PSTAT, MAINT_REPAIR_DOXM),
        NEXT(MAINT_REPAIR_DOXM, MAINT_REPAIR_CMS),
        NEXT(MAINT_REPAIR_CMS, MAINT_REPAIR_AMS),
        NEXT(MAINT_REPAIR_AMS, MAINT_REPAIR_RFPRO),
        NEXT(MAINT_REPAIR_RFPRO, MAINT_REPAIR_RFNOP),
        ROW(MAINT_REPAIR_RFNOP, MEV_OK, MAINT_NONE, a_repaired, a_store, a_answer_ok, NULL),
        ROW(CMN_FSM_ANY,
            MEV_FAIL,
            MAINT_REPAIR_FAILED,
            a_record_error,
            a_store,
            a_answer_error,
            NULL),
        ROW(CMN_FSM_ANY, MEV_RESUME, CMN_FSM_SAME, a_send, NULL),
};

const cmn_fsm_t DOTS_MAINT_FSM = {s_rows, sizeof s_rows / sizeof s_rows[0], DOTS_MAINT_STATE_NAMES,
                                  DOTS_MAINT_EVENT_NAMES, "dots-maint"};

static void
s_raise(s_job_t *job, int event)
{
    dots_maint_t *m = job->m;
    dots_dev_t *dev = s_dev(job);
    char id[37];
    (void) snprintf(id, sizeof id, "%s", job->head.uuid);
    int from = dev ? dev->maint : job->state;
    job->state = from;
    cmn_err_t err = cmn_fsm_dispatch(&DOTS_MAINT_FSM, &job->state, event, job, id);
    cmn_log_info("DOTS-MAINT", "dev=%s %s --%s--> %s%s", id, DOTS_MAINT_STATE_NAMES[from],
                 DOTS_MAINT_EVENT_NAMES[event], DOTS_MAINT_STATE_NAMES[job->state],
                 err == CMN_OK ? "" : " (action failed)");
    if (err != CMN_OK && event != MEV_FAIL && !job->is_over) {
        if (job->why[0] == '\0') {
            (void) snprintf(job->why, sizeof job->why, "%s", cmn_strerror(err));
        }
        s_raise(job, MEV_FAIL);
        return;
    }
    job->why[0] = '\0';
    if (job->is_over) {
        cmn_jobs_remove(m->jobs, job);
    }
}

/* ------------------------------------------------------------------ replies */

/* Did the device reset already? Its doxm over coap:// names another deviceuuid, or
 * it is no longer owned. */
static bool
s_probe_says_reset(s_job_t *job, const Obt__Gw__CoapReply *cr)
{
    cmn_doxm_t d;
    char uuid[CMN_UUID_STR_LEN + 1];
    if (cr->code == 503) {
        return true; /* answering "resetting" (pstat dos.s=0 pending) */
    }
    if (cr->code != 205 || cmn_doxm_decode(cr->payload.data, cr->payload.len, &d) != CMN_OK) {
        (void) snprintf(job->why, sizeof job->why, "probe: device answered %u.%02u", cr->code / 100,
                        cr->code % 100);
        return false;
    }
    cmn_uuid_to_str(&d.deviceuuid, uuid);
    if (strcmp(uuid, job->head.uuid) != 0 || !d.owned) {
        cmn_log_notice("DOTS-RESET-SEEN", "dev=%s has reset already (now %s, owned=%d)",
                       job->head.uuid, uuid, d.owned);
        return true;
    }
    (void) snprintf(job->why, sizeof job->why, "probe: device still owned as %s", uuid);
    return false;
}

static void
s_on_gw_reply(s_job_t *job, const uint8_t *data, size_t len)
{
    Obt__Gw__Reply *r = obt__gw__reply__unpack(NULL, len, data);
    const char *step = DOTS_MAINT_STATE_NAMES[job->state];
    char why[300];
    job->is_unreachable = r == NULL || r->status != OBT__STATUS__STATUS_OK ||
                          r->body_case != OBT__GW__REPLY__BODY_COAP;
    if (job->is_unreachable) {
        bool is_timeout = r && r->status == OBT__STATUS__STATUS_ETIMEDOUT;
        (void) snprintf(why, sizeof why, "%s: %s", step,
                        is_timeout         ? "timeout (device unreachable)"
                        : r && r->error[0] ? r->error
                                           : "gateway error");
        s_fail(job, why);
    } else if (job->state == MAINT_RESET_PROBE) {
        if (s_probe_says_reset(job, r->coap)) {
            s_raise(job, MEV_OK);
        } else {
            s_raise(job, MEV_FAIL);
        }
    } else if (r->coap->code != 204) {
        (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", step, r->coap->code / 100,
                        r->coap->code % 100);
        s_fail(job, why);
    } else {
        s_raise(job, MEV_OK);
    }
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
}

static void
s_on_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_job_t *job = cmn_jobs_returned(arg);
    if (job == NULL) {
        return; /* the job ended or moved on, or DOTS is stopping */
    }
    const char *step = DOTS_MAINT_STATE_NAMES[job->state];
    char why[300];
    if (err != CMN_OK) {
        job->is_unreachable = true;
        (void) snprintf(why, sizeof why, "%s: %s", step,
                        err == CMN_ETIMEDOUT ? "timeout (no reply)" : cmn_strerror(err));
        s_fail(job, why);
        return;
    }
    bool is_service = job->state == MAINT_FORGET_CMS || job->state == MAINT_FORGET_AMS ||
                      job->state == MAINT_REPAIR_CMS || job->state == MAINT_REPAIR_AMS;
    if (!is_service) {
        s_on_gw_reply(job, data, len);
        return;
    }
    /* cms.Reply and ams.Reply share their first fields (corr_id, status, error). */
    Obt__ServiceReply *r = obt__service_reply__unpack(NULL, len, data);
    if (r == NULL || r->status != OBT__STATUS__STATUS_OK) {
        (void) snprintf(why, sizeof why, "%s: %s", step, r ? r->error : "unreadable reply");
        s_fail(job, why);
    } else {
        s_raise(job, MEV_OK);
    }
    if (r) {
        obt__service_reply__free_unpacked(r, NULL);
    }
}

/* ------------------------------------------------------------------ engine */

dots_maint_t *
dots_maint_new(const dots_config_t *cfg,
               dots_store_t *store,
               const dots_identity_t *id,
               dots_engine_t *engine,
               cmn_gws_t *gws,
               cmn_calls_t *cms,
               cmn_calls_t *ams)
{
    dots_maint_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->cfg = cfg;
    self->store = store;
    self->id = id;
    self->engine = engine;
    self->gws = gws;
    self->cms = cms;
    self->ams = ams;
    self->jobs = cmn_jobs_new();
    if (self->jobs == NULL) {
        free(self);
        return NULL;
    }
    const dots_dev_t *d;
    for (size_t i = 0; (d = dots_engine_device(engine, i)) != NULL; i++) {
        bool is_open = d->maint != MAINT_NONE && d->maint != MAINT_RESET_PENDING &&
                       d->maint != MAINT_REPAIR_FAILED && d->maint < MAINT_STATE_COUNT;
        s_job_t *job = is_open ? s_add(self, d->uuid) : NULL;
        if (job) {
            job->retry_at_ms = 1; /* resumed by the first tick */
            cmn_log_notice("DOTS-MAINT-RESUME", "dev=%s resuming at %s", d->uuid,
                           DOTS_MAINT_STATE_NAMES[d->maint]);
        }
    }
    return self;
}

void
dots_maint_destroy(dots_maint_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    dots_maint_t *self = *self_p;
    for (size_t i = 0; i < cmn_jobs_count(self->jobs); i++) {
        s_answer(cmn_jobs_at(self->jobs, i), CMN_EIO,
                 "DOTS is stopping: the job resumes when it restarts", NULL);
    }
    cmn_jobs_destroy(&self->jobs); /* kept until its calls have returned */
    free(self);
    *self_p = NULL;
}

void
dots_maint_tick(dots_maint_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    for (size_t i = 0; i < cmn_jobs_count(self->jobs); i++) {
        s_job_t *job = cmn_jobs_at(self->jobs, i);
        if (job->retry_at_ms != 0 && now >= job->retry_at_ms) {
            job->retry_at_ms = 0;
            s_raise(job, MEV_RESUME);
            return; /* the list may have changed */
        }
    }
}

/* The uuids of the records linked to Bridge bridge_uuid (at most max into vods, which
 * may be NULL); returns how many there are. */
static size_t
s_vods_of(const dots_maint_t *self, const char *bridge_uuid, char (*vods)[37], size_t max)
{
    const dots_dev_t *d;
    size_t n = 0;
    for (size_t i = 0; (d = dots_engine_device(self->engine, i)) != NULL; i++) {
        if (strcmp(d->bridge_uuid, bridge_uuid) == 0) {
            if (vods && n < max) {
                (void) snprintf(vods[n], sizeof vods[n], "%s", d->uuid);
            }
            n++;
        }
    }
    return vods && n > max ? max : n;
}

static cmn_err_t
s_start(dots_maint_t *self,
        const char *uuid,
        int event,
        dots_maint_done_fn *fn,
        void *arg,
        char *error,
        size_t error_len)
{
    dots_dev_t *dev = dots_engine_record(self->engine, uuid);
    if (dev == NULL) {
        (void) snprintf(error, error_len, "no device %.36s", uuid);
        return CMN_ENOTFOUND;
    }
    s_job_t *job = s_find(self, dev->uuid);
    if (job && job->fn) {
        (void) snprintf(error, error_len, "%s of %s already in progress",
                        DOTS_MAINT_STATE_NAMES[dev->maint], dev->uuid);
        return CMN_ESTATE;
    }
    if (job) { /* resumed after a restart, or retrying: this operator waits for it */
        job->fn = fn;
        job->arg = arg;
        return CMN_OK;
    }
    if (dots_engine_is_busy(self->engine, dev->uuid)) {
        (void) snprintf(error, error_len, "device %s is being onboarded (%s): try again later",
                        dev->uuid, DOTS_JOB_STATE_NAMES[dev->state]);
        return CMN_ESTATE;
    }
    if (event != MEV_FORGET && !dev->owned) {
        /* Without the owner credential there is no session to reset it over: a device
         * still unowned resets itself when its DOC closes; one that another owner holds
         * (onboarding: "device is already owned") is that owner's, or a factory reset's */
        (void) snprintf(error, error_len,
                        "device %s is not owned by this DOTS (state %s): DOTS holds no owner "
                        "credential for it, nothing to %s (a device owned by another owner "
                        "needs that owner or a factory reset); reset --forget drops its record",
                        dev->uuid, DOTS_JOB_STATE_NAMES[dev->state],
                        event == MEV_RESET ? "reset" : "repair");
        return CMN_ESTATE;
    }
    if (event == MEV_REPAIR && dev->state != JOB_RFNOP) {
        (void) snprintf(error, error_len, "device %s is not in RFNOP (state %s): onboard it first",
                        dev->uuid, DOTS_JOB_STATE_NAMES[dev->state]);
        return CMN_ESTATE;
    }
    job = s_add(self, dev->uuid);
    if (job == NULL) {
        return CMN_ENOMEM;
    }
    job->fn = fn;
    job->arg = arg;
    if (event == MEV_RESET && s_vods_of(self, dev->uuid, NULL, 0) > 0) {
        event = MEV_RESET_VODS;
    }
    s_raise(job, event);
    return CMN_OK;
}

/* The Bridge's VODs: starts a reset job for each owned VOD that has none and has not
 * failed one (RESET_PENDING); returns how many VOD jobs are running. Called on every
 * check, so a VOD whose job was not started before a crash is started after it. */
static size_t
s_reset_vods(s_job_t *job, const dots_dev_t *bridge)
{
    dots_maint_t *self = job->m;
    char vods[DOTS_MAX_VODS][37];
    size_t n = s_vods_of(self, bridge->uuid, vods, DOTS_MAX_VODS), running = 0;
    for (size_t i = 0; i < n; i++) {
        const dots_dev_t *vod = dots_engine_record(self->engine, vods[i]);
        if (vod == NULL) {
            continue; /* gone */
        }
        if (s_find(self, vods[i]) != NULL) {
            running++; /* its job runs */
            continue;
        }
        if (vod->maint == MAINT_RESET_PENDING || !vod->owned) {
            continue; /* failed (its record says why), or never owned */
        }
        char error[300];
        if (s_start(self, vods[i], MEV_RESET, NULL, NULL, error, sizeof error) != CMN_OK) {
            cmn_log_warn("DOTS-RESET-VODS", "dev=%s VOD %s not reset: %s", bridge->uuid, vods[i],
                         error);
            continue;
        }
        running += s_find(self, vods[i]) != NULL; /* unless it ended at once */
    }
    return running;
}

cmn_err_t
dots_maint_reset(dots_maint_t *self,
                 const char *uuid,
                 bool forget,
                 dots_maint_done_fn *fn,
                 void *arg,
                 char *error,
                 size_t error_len)
{
    return s_start(self, uuid, forget ? MEV_FORGET : MEV_RESET, fn, arg, error, error_len);
}

cmn_err_t
dots_maint_forget(dots_maint_t *self,
                  const char *uuid,
                  dots_maint_done_fn *fn,
                  void *arg,
                  char *error,
                  size_t error_len)
{
    const dots_dev_t *dev = dots_engine_record(self->engine, uuid);
    if (dev == NULL) {
        (void) snprintf(error, error_len, "no device %.36s", uuid);
        return CMN_ENOTFOUND;
    }
    int s = dev->state;
    const char *why = NULL;
    if (dev->maint != MAINT_NONE) {
        why = dev->maint == MAINT_RESET_PENDING
                      ? "its reset failed and it is still owned: obtctl reset UUID again (reset "
                        "--forget drops the records of a device that stays owned)"
                      : "a reset or repair is in progress";
    } else if (s == JOB_RFNOP) {
        why = "it is in RFNOP, owned by this domain: obtctl reset UUID first";
    } else if (dots_engine_is_busy(self->engine, dev->uuid) ||
               !(s == JOB_DISCOVERED || s == JOB_APPROVED || s == JOB_FAILED)) {
        why = "its onboarding is in progress: wait for its outcome";
    } else if (dev->owned && dev->superseded_by[0] == '\0') {
        why = "DOTS holds its owner credential and it may still be owned: obtctl reset UUID "
              "first (reset --forget drops the records of a device that stays owned)";
    }
    if (why != NULL) {
        (void) snprintf(error, error_len, "device %s (%s) not forgotten: %s", dev->uuid,
                        DOTS_JOB_STATE_NAMES[s], why);
        return CMN_ESTATE;
    }
    return s_start(self, uuid, MEV_FORGET, fn, arg, error, error_len);
}

cmn_err_t
dots_maint_repair(dots_maint_t *self,
                  const char *uuid,
                  dots_maint_done_fn *fn,
                  void *arg,
                  char *error,
                  size_t error_len)
{
    return s_start(self, uuid, MEV_REPAIR, fn, arg, error, error_len);
}
