/* dots_onboard.c — the DOTS engine: job records and the onboarding state machine.
 *
 * Every transition first persists the job record (and any secret the next step
 * needs) in one LMDB transaction, then sends the step's request: a crash at any
 * point leaves a record that says what was attempted. On restart, jobs that had not
 * reached SET_RFPRO are failed and their DOC closed (a device in RFOTM then resets
 * itself and can be discovered again); jobs at SET_RFPRO or later hold an owner
 * PSK and are resumed over an owner-PSK session (every later step is idempotent).
 *
 * Restart choice: the DTLS DOC does not survive a DOTS restart, so a job at SET_RFPRO
 * or later re-sends its recorded step (and the remaining ones) over SEC_PSK with
 * identity = the DOTS uuid bytes and key = the stored owner PSK, never over a new
 * DOC; CLOSE_DOC then only closes that session. The same EV_RESUME path lets the
 * operator retry a FAILED job that had reached SET_RFPRO. Step deadlines: every
 * request is sent through cmn_calls with the step timeout, and cmn_calls_expire() in
 * the service loop is the one sweep that fails overdue steps (EV_TIMEOUT); the
 * deadline is also recorded in the job for operators. */
#include "dots_onboard.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_fsm.h"
#include "cmn_log.h"
#include "cmn_psk.h"
#include "cmn_svr.h"
#include "cmn_time.h"
#include "dots_bridge.h"
#include "dots_disc.h"
#include "dots_otm.h"
#include "obt/ams.pb-c.h"
#include "obt/cms.pb-c.h"
#include "obt/gateway.pb-c.h"

const char *const DOTS_JOB_STATE_NAMES[JOB_STATE_COUNT] = {
        "DISCOVERED",     "APPROVED",         "QUEUED",
        "GET_DOXM",       "SET_OXMSEL",       "DOC_OM",
        "SET_DEVOWNER",   "SET_DEVICEUUID",   "SET_DOXM_ROWNER",
        "SET_ACL_ROWNER", "SET_PSTAT_ROWNER", "DERIVE_PSK",
        "OWNER_CRED",     "SERVICE_CREDS",    "SDI",
        "SET_OWNED",      "SET_RFPRO",        "CLOSE_DOC",
        "HANDOVER_CMS",   "HANDOVER_AMS",     "RFNOP",
        "FAILED",         "WAIT_PIN"};
const char *const DOTS_JOB_EVENT_NAMES[EV_COUNT] = {"APPROVE",  "ONBOARD", "START",        "OK",
                                                    "ERROR",    "TIMEOUT", "DEVICE_ERROR", "RESUME",
                                                    "NEED_PIN", "PIN"};

typedef struct dots_job {
    dots_dev_t dev;                /* the record */
    dots_secret_t secret;          /* its secrets (loaded when needed) */
    dots_engine_t *eng;            /* back pointer */
    uint64_t gen;                  /* bumps on every send: stale replies are ignored */
    bool is_running;               /* counted in in_flight */
    bool use_psk;                  /* secure steps over the owner-PSK session (resume) */
    bool needs_resume;             /* resume once CMS and AMS are known */
    char old_uuid[37];             /* set for the re-keying store after SET_DEVICEUUID */
    char why[256];                 /* reason of the pending EV_ERROR */
    char pin[CMN_RDP_PIN_LEN + 1]; /* Random PIN, from SubmitPin until the DOC request is sent */
    bool has_pin;                  /* pin given, EV_PIN not raised yet */
} dots_job_t;

struct dots_engine {
    const dots_config_t *cfg;
    dots_store_t *store;
    dots_identity_t id;
    cmn_calls_t *gw, *cms, *ams;
    dots_otm_policy_t otm_policy; /* --otm-policy */
    dots_job_t **jobs;
    size_t n_jobs, cap;
    size_t in_flight;
    bool is_registered; /* our /oic/d is served by the gateway */
    char d_endpoint[80];
    char cms_uuid[37], ams_uuid[37];
    bool cms_ok, ams_ok; /* their /oic/d rt and di were checked */
    int checks_pending;
    uint64_t next_check_ms;
    size_t n_calls;    /* calls in flight: their contexts point here */
    bool is_destroyed; /* freed by the last call's callback (cmn_calls_destroy runs them) */
};

typedef struct {
    dots_engine_t *eng; /* outlives the job: a callback may run after the jobs are freed */
    dots_job_t *job;
    uint64_t gen;
} s_call_ctx_t;

/* ------------------------------------------------------------------ helpers */

static const char *
s_ep(const dots_dev_t *d, bool secure)
{
    return dots_dev_ep(d, secure);
}

static cmn_err_t
s_store(dots_job_t *job, bool with_secret)
{
    job->dev.updated_ms = cmn_time_wall_ms();
    cmn_err_t err = dots_store_put(job->eng->store, &job->dev, with_secret ? &job->secret : NULL,
                                   job->old_uuid[0] ? job->old_uuid : NULL);
    job->old_uuid[0] = '\0';
    if (err != CMN_OK) {
        cmn_log_err("DOTS-STORE", "dev=%s cannot persist: %s", job->dev.uuid, cmn_strerror(err));
    }
    return err;
}

static void s_raise(dots_job_t *job, int event);

/* Fails the job with event (EV_ERROR, EV_TIMEOUT or EV_DEVICE_ERROR): all three lead
 * to FAILED with the same actions; the event names the cause in the transition log. */
static void
s_fail_on(dots_job_t *job, int event, const char *why)
{
    (void) snprintf(job->why, sizeof job->why, "%.255s", why);
    s_raise(job, event);
}

static void
s_fail(dots_job_t *job, const char *why)
{
    s_fail_on(job, EV_ERROR, why);
}

/* ------------------------------------------------------------------ requests */

/* Sends msg through to and counts the call. The service destroys the engine before
 * its cmn_calls, whose destroy runs every pending callback (with CMN_EIO): the engine
 * stays allocated until the last of them has run (the dots_maint pattern). */
static cmn_err_t
s_call(dots_engine_t *self,
       cmn_calls_t *to,
       const ProtobufCMessage *msg,
       uint64_t corr_id,
       uint32_t timeout_ms,
       cmn_call_fn *fn,
       void *arg)
{
    cmn_err_t err = cmn_calls_send(to, msg, corr_id, timeout_ms, fn, arg);
    if (err == CMN_OK) {
        self->n_calls++;
    }
    return err;
}

/* First thing in every callback of s_call: false if the engine has been destroyed
 * (frees it with its last call); the callback then frees only its own context and
 * touches nothing else: the jobs are gone, and a stop must leave every job as it was
 * stored, to resume after the restart. */
static bool
s_call_returned(dots_engine_t *self)
{
    self->n_calls--;
    if (!self->is_destroyed) {
        return true;
    }
    if (self->n_calls == 0) {
        free(self);
    }
    return false;
}

static s_call_ctx_t *
s_ctx(dots_job_t *job)
{
    s_call_ctx_t *c = malloc(sizeof *c);
    if (c) {
        c->eng = job->eng;
        c->job = job;
        c->gen = ++job->gen;
    }
    return c;
}

static void s_on_gw_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len);
static void s_on_svc_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len);

static cmn_err_t
s_send_gw(dots_job_t *job, Obt__Gw__Request *req)
{
    s_call_ctx_t *c = s_ctx(job);
    if (c == NULL) {
        return CMN_ENOMEM;
    }
    req->corr_id = cmn_bus_next_corr_id();
    uint32_t timeout = (uint32_t) job->eng->cfg->step_timeout_ms;
    job->dev.deadline_ms = cmn_time_wall_ms() + timeout;
    cmn_err_t err = s_call(job->eng, job->eng->gw, &req->base, req->corr_id, timeout + 500,
                           s_on_gw_reply, c);
    if (err != CMN_OK) {
        free(c);
    }
    return err;
}

/* The manufacturer trust anchors (oic.sec.cred.mfgtrustca) as one PEM bundle. */
typedef struct {
    uint8_t *pem; /* malloc'd bundle */
    size_t len;
    bool is_broken; /* out of memory */
} s_anchors_t;

static int
s_anchors_add(const char *id, const uint8_t *pem, size_t len, void *arg)
{
    (void) id;
    s_anchors_t *a = arg;
    uint8_t *grown = realloc(a->pem, a->len + len + 1);
    if (grown == NULL) {
        a->is_broken = true;
        return 1;
    }
    a->pem = grown;
    memcpy(a->pem + a->len, pem, len);
    a->len += len;
    a->pem[a->len++] = '\n'; /* PEM blocks stay apart even without a final newline */
    return 0;
}

static int
s_anchor_seen(const char *id, const uint8_t *pem, size_t len, void *arg)
{
    (void) id;
    (void) pem;
    (void) len;
    *(bool *) arg = true;
    return 1; /* one is enough */
}

/* Loads every trust anchor of the store into ret (caller frees ret->pem).
 * CMN_ENOTFOUND (with the operator's remedy in job->why) if there is none. */
static cmn_err_t
s_anchors(dots_job_t *job, s_anchors_t *ret)
{
    s_anchors_t a = {NULL, 0, false};
    cmn_err_t err = dots_store_trust_each(job->eng->store, s_anchors_add, &a);
    if (err == CMN_OK && a.is_broken) {
        err = CMN_ENOMEM;
    }
    if (err == CMN_OK && a.len == 0) {
        (void) snprintf(job->why, sizeof job->why,
                        "no manufacturer trust anchor: obtctl mfg-trust add FILE.pem");
        err = CMN_ENOTFOUND;
    }
    if (err != CMN_OK) {
        free(a.pem);
        return err;
    }
    *ret = a;
    return CMN_OK;
}

static cmn_err_t
s_coap(dots_job_t *job,
       int method,
       const char *path,
       bool secure,
       const uint8_t *payload,
       size_t len)
{
    dots_engine_t *eng = job->eng;
    const char *ep = s_ep(&job->dev, secure);
    if (ep == NULL) {
        (void) snprintf(job->why, sizeof job->why, "device has no %s endpoint",
                        secure ? "coaps://" : "coap://");
        return CMN_ENOTFOUND;
    }
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CoapRequest c = OBT__GW__COAP_REQUEST__INIT;
    Obt__Gw__Security sec = OBT__GW__SECURITY__INIT;
    cmn_uuid_t me;
    (void) cmn_uuid_from_str(eng->id.uuid, &me);
    c.caller_uuid = eng->id.uuid;
    c.device_uuid = job->dev.uuid;
    c.endpoint = CMN_PB_STR(ep);
    c.method = (Obt__Gw__Method) method;
    c.path = CMN_PB_STR(path);
    c.payload.data = (uint8_t *) (uintptr_t) payload;
    c.payload.len = len;
    c.timeout_ms = (uint32_t) eng->cfg->step_timeout_ms;
    s_anchors_t anchors = {NULL, 0, false};
    if (secure) {
        if (job->use_psk) {
            sec.kind = OBT__GW__SECURITY_KIND__SEC_PSK;
            sec.psk_identity.data = me.b;
            sec.psk_identity.len = 16;
            sec.psk_key.data = job->secret.owner_psk;
            sec.psk_key.len = 16;
        } else {
            /* The DOC of the selected OTM. A Random PIN DOC is opened with the PIN
             * (DOC_OM); later steps send no PIN and continue on the open DOC. */
            const dots_otm_t *otm = dots_otm_by_oxm(job->dev.oxmsel);
            if (otm == NULL) {
                (void) snprintf(job->why, sizeof job->why, "no OTM selected");
                return CMN_ESTATE;
            }
            sec.kind = (Obt__Gw__SecurityKind) otm->sec_kind;
            sec.pin = job->pin;
            /* A manufacturer-certificate DOC is opened with every anchor DOTS trusts
             * (DOC_OM); later steps send none and continue on the open DOC. */
            if (otm->needs_trust && job->dev.state == JOB_DOC_OM) {
                cmn_err_t err = s_anchors(job, &anchors);
                if (err != CMN_OK) {
                    return err;
                }
                sec.trust_anchors_pem.data = anchors.pem;
                sec.trust_anchors_pem.len = anchors.len;
            }
        }
        c.security = &sec;
    }
    req.body_case = OBT__GW__REQUEST__BODY_COAP;
    req.coap = &c;
    cmn_err_t err = s_send_gw(job, &req);
    OPENSSL_cleanse(job->pin, sizeof job->pin); /* it went to the gateway once */
    free(anchors.pem);
    return err;
}

static void
s_ignore(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    (void) arg;
    (void) err;
    (void) data;
    (void) len;
}

static void
s_close_doc(dots_job_t *job)
{
    const char *ep = s_ep(&job->dev, true);
    if (ep == NULL) {
        return;
    }
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CloseSession cs = OBT__GW__CLOSE_SESSION__INIT;
    cs.caller_uuid = job->eng->id.uuid;
    cs.endpoint = CMN_PB_STR(ep);
    req.body_case = OBT__GW__REQUEST__BODY_CLOSE_SESSION;
    req.close_session = &cs;
    req.corr_id = cmn_bus_next_corr_id();
    /* Nobody waits for this one: the job has already failed. */
    if (cmn_calls_send(job->eng->gw, &req.base, req.corr_id, 5000, s_ignore, NULL) != CMN_OK) {
        cmn_log_warn("DOTS-CLOSE", "dev=%s cannot ask the gateway to close the DOC", job->dev.uuid);
    }
}

/* ------------------------------------------------------------------ step payloads */

static cmn_err_t
s_send_step(dots_job_t *job)
{
    dots_engine_t *eng = job->eng;
    cmn_uuid_t me, other;
    uint8_t *buf = NULL;
    size_t len = 0;
    cmn_err_t err = CMN_OK;
    (void) cmn_uuid_from_str(eng->id.uuid, &me);
    switch (job->dev.state) {
    case JOB_GET_DOXM:
        return s_coap(job, OBT__GW__METHOD__METHOD_GET, "/oic/sec/doxm", false, NULL, 0);
    case JOB_SET_OXMSEL: {
        cmn_doxm_t d = {.present = CMN_DOXM_HAS_OXMSEL, .oxmsel = job->dev.oxmsel};
        err = cmn_doxm_encode(&d, &buf, &len);
        if (err == CMN_OK) {
            err = s_coap(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/doxm", false, buf, len);
        }
        break;
    }
    case JOB_DOC_OM: {
        cmn_pstat_t p = {.present = CMN_PSTAT_HAS_OM, .om = 4};
        err = cmn_pstat_encode(&p, &buf, &len);
        if (err == CMN_OK) {
            err = s_coap(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/pstat", true, buf, len);
        }
        break;
    }
    case JOB_SET_DEVOWNER:
    case JOB_SET_DEVICEUUID:
    case JOB_SET_DOXM_ROWNER:
    case JOB_SET_OWNED: {
        cmn_doxm_t d = {0};
        if (job->dev.state == JOB_SET_DEVOWNER) {
            d.present = CMN_DOXM_HAS_DEVOWNERUUID;
            d.devowneruuid = me;
        } else if (job->dev.state == JOB_SET_DEVICEUUID) {
            d.present = CMN_DOXM_HAS_DEVICEUUID;
            (void) cmn_uuid_from_str(job->dev.new_uuid, &d.deviceuuid);
        } else if (job->dev.state == JOB_SET_DOXM_ROWNER) {
            d.present = CMN_DOXM_HAS_ROWNERUUID;
            d.rowneruuid = me;
        } else {
            d.present = CMN_DOXM_HAS_OWNED;
            d.owned = true;
        }
        err = cmn_doxm_encode(&d, &buf, &len);
        if (err == CMN_OK) {
            err = s_coap(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/doxm", true, buf, len);
        }
        break;
    }
    case JOB_SET_ACL_ROWNER: {
        cmn_acl_t a = {.present = CMN_ACL_HAS_ROWNERUUID};
        (void) cmn_uuid_from_str(eng->ams_uuid, &a.rowneruuid);
        err = cmn_acl_encode(&a, &buf, &len);
        if (err == CMN_OK) {
            err = s_coap(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/acl2", true, buf, len);
        }
        break;
    }
    case JOB_SET_PSTAT_ROWNER:
    case JOB_SET_RFPRO: {
        cmn_pstat_t p = {0};
        if (job->dev.state == JOB_SET_PSTAT_ROWNER) {
            p.present = CMN_PSTAT_HAS_ROWNERUUID;
            p.rowneruuid = me;
        } else {
            p.present = CMN_PSTAT_HAS_DOS;
            p.dos_s = CMN_DOS_RFPRO;
        }
        err = cmn_pstat_encode(&p, &buf, &len);
        if (err == CMN_OK) {
            err = s_coap(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/pstat", true, buf, len);
        }
        break;
    }
    case JOB_DERIVE_PSK: {
        Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
        Obt__Gw__DeriveOwnerPsk d = OBT__GW__DERIVE_OWNER_PSK__INIT;
        d.caller_uuid = eng->id.uuid;
        d.endpoint = CMN_PB_STR(s_ep(&job->dev, true));
        d.owner_uuid = eng->id.uuid;
        d.device_uuid = job->dev.uuid;
        const dots_otm_t *otm = dots_otm_by_oxm(job->dev.oxmsel);
        d.oxm_label = CMN_PB_STR(otm ? otm->label : "");
        req.body_case = OBT__GW__REQUEST__BODY_DERIVE_OWNER_PSK;
        req.derive_owner_psk = &d;
        return d.endpoint ? s_send_gw(job, &req) : CMN_ENOTFOUND;
    }
    case JOB_OWNER_CRED:
    case JOB_SERVICE_CREDS: {
        cmn_creds_t cs = {.present = CMN_CREDS_HAS_CREDS | CMN_CREDS_HAS_ROWNERUUID};
        cmn_cred_t c = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                   CMN_CRED_HAS_PRIVATEDATA,
                        .credtype = CMN_CREDTYPE_PSK};
        (void) snprintf(c.priv_encoding, sizeof c.priv_encoding, "%s", CMN_ENC_RAW);
        if (job->dev.state == JOB_OWNER_CRED) {
            c.subjectuuid = me; /* empty privatedata: the device derives it (5.3.1 10b) */
            cs.rowneruuid = me;
            err = cmn_creds_add(&cs, &c);
        } else {
            (void) cmn_uuid_from_str(eng->cms_uuid, &other);
            cs.rowneruuid = other;
            c.subjectuuid = other;
            c.priv_data = job->secret.cms_psk;
            c.priv_len = 16;
            err = cmn_creds_add(&cs, &c);
            (void) cmn_uuid_from_str(eng->ams_uuid, &c.subjectuuid);
            c.priv_data = job->secret.ams_psk;
            if (err == CMN_OK) {
                err = cmn_creds_add(&cs, &c);
            }
        }
        if (err == CMN_OK) {
            err = cmn_creds_encode(&cs, &buf, &len);
        }
        cmn_creds_free(&cs);
        if (err == CMN_OK) {
            err = s_coap(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/cred", true, buf, len);
        }
        break;
    }
    case JOB_SDI: {
        cmn_sdi_t s = {.present = CMN_SDI_HAS_UUID | CMN_SDI_HAS_NAME | CMN_SDI_HAS_PRIV,
                       .priv = eng->cfg->sd_priv};
        (void) cmn_uuid_from_str(eng->id.sd_uuid, &s.uuid);
        (void) snprintf(s.name, sizeof s.name, "%s", eng->cfg->sd_name);
        err = cmn_sdi_encode(&s, &buf, &len);
        if (err == CMN_OK) {
            err = s_coap(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/sdi", true, buf, len);
        }
        break;
    }
    case JOB_CLOSE_DOC: {
        Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
        Obt__Gw__CloseSession cs = OBT__GW__CLOSE_SESSION__INIT;
        cs.caller_uuid = eng->id.uuid;
        cs.endpoint = CMN_PB_STR(s_ep(&job->dev, true));
        req.body_case = OBT__GW__REQUEST__BODY_CLOSE_SESSION;
        req.close_session = &cs;
        return cs.endpoint ? s_send_gw(job, &req) : CMN_ENOTFOUND;
    }
    case JOB_HANDOVER_CMS:
    case JOB_HANDOVER_AMS: {
        bool is_cms = job->dev.state == JOB_HANDOVER_CMS;
        Obt__DeviceHandover h = OBT__DEVICE_HANDOVER__INIT;
        char *eps[DOTS_MAX_EPS];
        for (size_t i = 0; i < job->dev.n_eps; i++) {
            eps[i] = job->dev.eps[i];
        }
        h.device_uuid = job->dev.uuid;
        h.eps = eps;
        h.n_eps = job->dev.n_eps;
        h.psk.data = is_cms ? job->secret.cms_psk : job->secret.ams_psk;
        h.psk.len = 16;
        h.sct = job->dev.sct;
        h.dots_uuid = eng->id.uuid;
        h.cms_uuid = eng->cms_uuid;
        h.ams_uuid = eng->ams_uuid;
        s_call_ctx_t *c = s_ctx(job);
        if (c == NULL) {
            return CMN_ENOMEM;
        }
        uint64_t corr = cmn_bus_next_corr_id();
        uint32_t timeout = (uint32_t) eng->cfg->step_timeout_ms * 4;
        if (is_cms) {
            Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
            req.corr_id = corr;
            req.body_case = OBT__CMS__REQUEST__BODY_HANDOVER;
            req.handover = &h;
            err = s_call(eng, eng->cms, &req.base, corr, timeout, s_on_svc_reply, c);
        } else {
            Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
            req.corr_id = corr;
            req.body_case = OBT__AMS__REQUEST__BODY_HANDOVER;
            req.handover = &h;
            err = s_call(eng, eng->ams, &req.base, corr, timeout, s_on_svc_reply, c);
        }
        if (err != CMN_OK) {
            free(c);
        }
        return err;
    }
    default:
        return CMN_ESTATE;
    }
    if (buf) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    return err;
}

/* ------------------------------------------------------------------ FSM actions */

static cmn_err_t
a_approve(void *ctx, int *ret_event)
{
    (void) ret_event;
    ((dots_job_t *) ctx)->dev.approved = true;
    return CMN_OK;
}

static void
s_start_running(dots_job_t *job)
{
    if (!job->is_running) {
        job->is_running = true;
        job->eng->in_flight++;
    }
}

static cmn_err_t
a_begin(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    job->dev.started_ms = cmn_time_wall_ms();
    job->dev.finished_ms = 0;
    job->dev.attempts++;
    job->dev.error[0] = '\0';
    job->dev.oxmsel = -1;
    job->use_psk = false;
    s_start_running(job);
    return CMN_OK;
}

/* Data the entered step needs, generated before it is persisted and sent. */
static cmn_err_t
a_prepare(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    if (job->dev.state == JOB_SET_DEVICEUUID && job->dev.new_uuid[0] == '\0') {
        cmn_uuid_t u;
        cmn_err_t err = cmn_uuid_generate(&u); /* CR2935: from the DRBG */
        if (err != CMN_OK) {
            return err;
        }
        cmn_uuid_to_str(&u, job->dev.new_uuid);
    }
    if (job->dev.state == JOB_SERVICE_CREDS && !job->secret.has_cms) {
        if (RAND_bytes(job->secret.cms_psk, 16) != 1 || RAND_bytes(job->secret.ams_psk, 16) != 1) {
            return CMN_ECRYPTO;
        }
        job->secret.has_cms = job->secret.has_ams = true;
    }
    return CMN_OK;
}

static cmn_err_t
a_store(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    return s_store(job, job->secret.has_owner || job->secret.has_cms);
}

static cmn_err_t
a_send(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    cmn_err_t err = s_send_step(job);
    if (err != CMN_OK && job->why[0] == '\0') {
        (void) snprintf(job->why, sizeof job->why, "cannot send: %s", cmn_strerror(err));
    }
    return err;
}

static void
s_stop_running(dots_job_t *job)
{
    if (job->is_running) {
        job->is_running = false;
        job->eng->in_flight--;
    }
    OPENSSL_cleanse(&job->secret, sizeof job->secret);
}

static cmn_err_t
a_finish(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    job->dev.finished_ms = cmn_time_wall_ms();
    job->dev.error[0] = '\0';
    /* Committed with RFNOP: is it an OCF Bridge? (dots_bridge.c) */
    job->dev.bridge = BRIDGE_CHECK;
    job->dev.bridge_error[0] = '\0';
    job->dev.bridge_deadline_ms = 0;
    cmn_log_notice("DOTS-RFNOP", "dev=%s onboarded in %llu ms (first uuid %s)", job->dev.uuid,
                   (unsigned long long) (job->dev.finished_ms - job->dev.started_ms),
                   job->dev.first_uuid);
    s_stop_running(job);
    return CMN_OK;
}

static cmn_err_t
a_fail(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    (void) snprintf(job->dev.error, sizeof job->dev.error, "%s: %s",
                    DOTS_JOB_STATE_NAMES[job->dev.step], job->why[0] ? job->why : "failed");
    cmn_log_warn("DOTS-FAILED", "dev=%s %s", job->dev.uuid, job->dev.error);
    job->gen++; /* late replies of the failed step are ignored */
    OPENSSL_cleanse(job->pin, sizeof job->pin);
    return CMN_OK;
}

static cmn_err_t
a_close_doc(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    /* A device left in RFOTM resets itself once its DOC closes. */
    if (job->dev.step >= JOB_DOC_OM && job->dev.step < JOB_HANDOVER_CMS) {
        s_close_doc(job);
    }
    s_stop_running(job);
    return CMN_OK;
}

static cmn_err_t
a_psk_mode(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    if (dots_store_get_secret(job->eng->store, job->dev.uuid, &job->secret) != CMN_OK ||
        !job->secret.has_owner) {
        (void) snprintf(job->why, sizeof job->why, "no owner credential stored");
        return CMN_ENOTFOUND;
    }
    job->use_psk = true;
    job->dev.attempts++;
    s_start_running(job);
    return CMN_OK;
}

/* Waiting for a human: the job gives its slot back until the PIN comes. */
static cmn_err_t
a_wait_pin(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    job->dev.deadline_ms = 0;
    cmn_log_notice("DOTS-WAIT-PIN", "dev=%s waits for the Random PIN the device shows",
                   job->dev.uuid);
    s_stop_running(job);
    return CMN_OK;
}

static cmn_err_t
a_take_slot(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_start_running(ctx);
    return CMN_OK;
}

#define STEP(from, to)                                                                             \
    {                                                                                              \
        from, EV_OK, to,                                                                           \
        {                                                                                          \
            a_prepare, a_store, a_send, NULL                                                       \
        }                                                                                          \
    }

static const cmn_fsm_row_t s_rows[] = {
        {JOB_DISCOVERED, EV_APPROVE, JOB_APPROVED, {a_approve, a_store, NULL, NULL}},
        {JOB_FAILED, EV_APPROVE, JOB_APPROVED, {a_approve, a_store, NULL, NULL}},
        {JOB_APPROVED, EV_ONBOARD, JOB_QUEUED, {a_store, NULL, NULL, NULL}},
        {JOB_FAILED, EV_ONBOARD, JOB_QUEUED, {a_store, NULL, NULL, NULL}}, /* retry */
        {JOB_QUEUED, EV_START, JOB_GET_DOXM, {a_begin, a_store, a_send, NULL}},
        STEP(JOB_GET_DOXM, JOB_SET_OXMSEL),
        STEP(JOB_SET_OXMSEL, JOB_DOC_OM),
        {JOB_SET_OXMSEL, EV_NEED_PIN, JOB_WAIT_PIN, {a_wait_pin, a_store, NULL, NULL}},
        {JOB_WAIT_PIN, EV_PIN, JOB_DOC_OM, {a_take_slot, a_store, a_send, NULL}},
        STEP(JOB_DOC_OM, JOB_SET_DEVOWNER),
        STEP(JOB_SET_DEVOWNER, JOB_SET_DEVICEUUID),
        STEP(JOB_SET_DEVICEUUID, JOB_SET_DOXM_ROWNER),
        STEP(JOB_SET_DOXM_ROWNER, JOB_SET_ACL_ROWNER),
        STEP(JOB_SET_ACL_ROWNER, JOB_SET_PSTAT_ROWNER),
        STEP(JOB_SET_PSTAT_ROWNER, JOB_DERIVE_PSK),
        STEP(JOB_DERIVE_PSK, JOB_OWNER_CRED),
        STEP(JOB_OWNER_CRED, JOB_SERVICE_CREDS),
        STEP(JOB_SERVICE_CREDS, JOB_SDI),
        STEP(JOB_SDI, JOB_SET_OWNED),
        STEP(JOB_SET_OWNED, JOB_SET_RFPRO),
        STEP(JOB_SET_RFPRO, JOB_CLOSE_DOC),
        STEP(JOB_CLOSE_DOC, JOB_HANDOVER_CMS),
        STEP(JOB_HANDOVER_CMS, JOB_HANDOVER_AMS),
        {JOB_HANDOVER_AMS, EV_OK, JOB_RFNOP, {a_finish, a_store, NULL, NULL}},
        {CMN_FSM_ANY, EV_RESUME, CMN_FSM_SAME, {a_psk_mode, a_store, a_send, NULL}},
        {CMN_FSM_ANY, EV_ERROR, JOB_FAILED, {a_fail, a_store, a_close_doc, NULL}},
        {CMN_FSM_ANY, EV_TIMEOUT, JOB_FAILED, {a_fail, a_store, a_close_doc, NULL}},
        {CMN_FSM_ANY, EV_DEVICE_ERROR, JOB_FAILED, {a_fail, a_store, a_close_doc, NULL}},
};

const cmn_fsm_t DOTS_JOB_FSM = {s_rows, sizeof s_rows / sizeof s_rows[0], DOTS_JOB_STATE_NAMES,
                                DOTS_JOB_EVENT_NAMES, "dots-job"};

static void
s_raise(dots_job_t *job, int event)
{
    char id[37];
    bool is_failure = event == EV_ERROR || event == EV_TIMEOUT || event == EV_DEVICE_ERROR;
    if (is_failure) {
        job->dev.step = job->dev.state;
    }
    (void) snprintf(id, sizeof id, "%s", job->dev.uuid);
    int from = job->dev.state;
    /* Actions read job->dev.state: the FSM moves it before they run. */
    cmn_err_t err = cmn_fsm_dispatch(&DOTS_JOB_FSM, &job->dev.state, event, job, id);
    if (err == CMN_OK || job->dev.state != from) {
        cmn_log_info("DOTS-JOB", "dev=%s %s --%s--> %s", id, DOTS_JOB_STATE_NAMES[from],
                     DOTS_JOB_EVENT_NAMES[event], DOTS_JOB_STATE_NAMES[job->dev.state]);
    }
    if (err != CMN_OK && !is_failure && job->dev.state != JOB_FAILED) {
        if (job->why[0] == '\0') {
            (void) snprintf(job->why, sizeof job->why, "%s", cmn_strerror(err));
        }
        s_raise(job, EV_ERROR);
    }
    job->why[0] = '\0';
}

/* ------------------------------------------------------------------ replies */

static cmn_err_t
s_check_doxm(dots_job_t *job, const uint8_t *p, size_t len)
{
    cmn_doxm_t d;
    if (cmn_doxm_decode(p, len, &d) != CMN_OK) {
        (void) snprintf(job->why, sizeof job->why, "invalid CBOR from device (doxm)");
        return CMN_EPROTO;
    }
    char uuid[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&d.deviceuuid, uuid);
    if (!(d.present & CMN_DOXM_HAS_DEVICEUUID) || strcmp(uuid, job->dev.uuid) != 0) {
        (void) snprintf(job->why, sizeof job->why,
                        "device at the endpoint is now %s (reset?): rediscover", uuid);
        return CMN_ESTATE;
    }
    if (d.owned) {
        (void) snprintf(job->why, sizeof job->why, "device is already owned");
        return CMN_ESTATE;
    }
    /* Clause 5.3.1 step 3 and 5.3.3: the best method both sides accept. */
    dots_otm_policy_t policy = job->eng->otm_policy;
    char why[160];
    if (job->dev.otm_policy[0] &&
        dots_otm_policy_parse(job->dev.otm_policy, &policy, why, sizeof why) != CMN_OK) {
        (void) snprintf(job->why, sizeof job->why, "%s", why);
        return CMN_EINVAL;
    }
    /* Without a manufacturer trust anchor the certificate method cannot succeed: it is
     * passed over for the next method the policy allows (D15). Checked before oxmsel is
     * POSTed, so a device with no usable method is left untouched. */
    bool has_anchor = false;
    cmn_err_t err = dots_store_trust_each(job->eng->store, s_anchor_seen, &has_anchor);
    if (err != CMN_OK) {
        (void) snprintf(job->why, sizeof job->why, "cannot read the trust anchors: %s",
                        cmn_strerror(err));
        return err;
    }
    dots_otm_policy_t usable = {.n = 0};
    for (size_t i = 0; i < policy.n; i++) {
        if (has_anchor || !policy.otms[i]->needs_trust) {
            usable.otms[usable.n++] = policy.otms[i];
        }
    }
    const dots_otm_t *otm = dots_otm_choose(&usable, d.oxms, d.n_oxms, why, sizeof why);
    const dots_otm_t *best = dots_otm_choose(&policy, d.oxms, d.n_oxms, why, sizeof why);
    if (otm == NULL && best != NULL) {
        (void) snprintf(job->why, sizeof job->why,
                        "no manufacturer trust anchor: obtctl mfg-trust add FILE.pem");
        return CMN_ENOTFOUND;
    }
    if (otm == NULL) {
        (void) snprintf(job->why, sizeof job->why, "no acceptable OTM: %s", why);
        return CMN_ESTATE;
    }
    if (otm != best) {
        cmn_log_notice("DOTS-OTM-NO-ANCHOR",
                       "dev=%s offers %s, but DOTS has no manufacturer "
                       "trust anchor: %s is used instead",
                       job->dev.uuid, best->name, otm->name);
    }
    job->dev.oxmsel = (int32_t) otm->oxm;
    cmn_log_info("DOTS-OTM", "dev=%s OTM %s (oxm %lld) selected", job->dev.uuid, otm->name,
                 (long long) otm->oxm);
    job->dev.n_oxms = 0;
    for (size_t i = 0; i < d.n_oxms && i < DOTS_MAX_OXMS; i++) {
        job->dev.oxms[job->dev.n_oxms++] = d.oxms[i];
    }
    job->dev.sct = d.sct;
    return CMN_OK;
}

/* The reason of a failed gateway request. A Random PIN DOC whose handshake fails
 * (ECRYPTO) was refused by the device: the PIN was wrong. */
static const char *
s_doc_error(const dots_job_t *job, const Obt__Gw__Reply *reply, char *why, size_t why_len)
{
    const char *error = reply->error && reply->error[0] ? reply->error : "gateway error";
    const dots_otm_t *otm = dots_otm_by_oxm(job->dev.oxmsel);
    if (job->dev.state != JOB_DOC_OM || job->use_psk || otm == NULL || !otm->needs_pin) {
        return error;
    }
    if (reply->status == OBT__STATUS__STATUS_ECRYPTO) {
        (void) snprintf(why, why_len,
                        "wrong PIN: device %s refused the Random PIN handshake (%s); it shows "
                        "a new PIN on the next attempt",
                        job->dev.uuid, error);
    } else {
        (void) snprintf(why, why_len, "%s (device %s)", error, job->dev.uuid);
    }
    return why;
}

static void
s_on_gw_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_call_ctx_t *c = arg;
    dots_job_t *job = c->job;
    uint64_t gen = c->gen;
    bool is_alive = s_call_returned(c->eng);
    free(c);
    if (!is_alive || gen != job->gen) {
        return;
    }
    if (err != CMN_OK) {
        if (err == CMN_ETIMEDOUT) {
            s_fail_on(job, EV_TIMEOUT, "timeout: no reply from the gateway");
        } else {
            s_fail(job, "gateway unreachable");
        }
        return;
    }
    Obt__Gw__Reply *reply = obt__gw__reply__unpack(NULL, len, data);
    if (reply == NULL) {
        s_fail(job, "unreadable reply from the gateway");
        return;
    }
    int state = job->dev.state;
    if (reply->status == OBT__STATUS__STATUS_ETIMEDOUT) {
        s_fail_on(job, EV_TIMEOUT, "timeout");
        goto out;
    }
    if (reply->status != OBT__STATUS__STATUS_OK) {
        char why[256];
        s_fail(job, s_doc_error(job, reply, why, sizeof why));
        goto out;
    }
    if (state == JOB_DERIVE_PSK) {
        if (reply->body_case != OBT__GW__REPLY__BODY_OWNER_PSK || reply->owner_psk->psk.len != 16) {
            s_fail(job, "gateway returned no owner PSK");
            goto out;
        }
        memcpy(job->secret.owner_psk, reply->owner_psk->psk.data, 16);
        OPENSSL_cleanse(reply->owner_psk->psk.data, 16);
        job->secret.has_owner = true;
        s_raise(job, EV_OK); /* a_store of the next step commits the PSK first */
        goto out;
    }
    if (state == JOB_CLOSE_DOC) {
        s_raise(job, EV_OK);
        goto out;
    }
    if (reply->body_case != OBT__GW__REPLY__BODY_COAP) {
        s_fail(job, "unexpected reply from the gateway");
        goto out;
    }
    const Obt__Gw__CoapReply *cr = reply->coap;
    uint32_t want = state == JOB_GET_DOXM ? 205 : 204;
    if (state == JOB_SDI && cr->code == 404) {
        cmn_log_info("DOTS-NO-SDI", "dev=%s has no /oic/sec/sdi", job->dev.uuid);
    } else if (cr->code != want) {
        char why[64];
        (void) snprintf(why, sizeof why, "device answered %u.%02u", cr->code / 100, cr->code % 100);
        s_fail_on(job, EV_DEVICE_ERROR, why);
        goto out;
    }
    if (state == JOB_GET_DOXM && s_check_doxm(job, cr->payload.data, cr->payload.len) != CMN_OK) {
        s_raise(job, EV_DEVICE_ERROR);
        goto out;
    }
    if (state == JOB_DOC_OM && cr->cipher) {
        (void) snprintf(job->dev.cipher, sizeof job->dev.cipher, "%s", cr->cipher);
    }
    if (state == JOB_SET_OXMSEL) {
        const dots_otm_t *otm = dots_otm_by_oxm(job->dev.oxmsel);
        if (otm && otm->needs_pin) {
            s_raise(job, EV_NEED_PIN);
            goto out;
        }
    }
    if (state == JOB_SET_DEVICEUUID) {
        /* The device now answers to the new UUID: re-key the record (old -> alias). */
        (void) snprintf(job->old_uuid, sizeof job->old_uuid, "%s", job->dev.uuid);
        (void) snprintf(job->dev.uuid, sizeof job->dev.uuid, "%s", job->dev.new_uuid);
    }
    if (state == JOB_OWNER_CRED) {
        job->dev.owned = true;
    }
    s_raise(job, EV_OK);
out:
    obt__gw__reply__free_unpacked(reply, NULL);
}

static void
s_on_svc_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_call_ctx_t *c = arg;
    dots_job_t *job = c->job;
    uint64_t gen = c->gen;
    bool is_alive = s_call_returned(c->eng);
    free(c);
    if (!is_alive || gen != job->gen) {
        return;
    }
    const char *who = job->dev.state == JOB_HANDOVER_CMS ? "CMS" : "AMS";
    if (err != CMN_OK) {
        char why[64];
        (void) snprintf(why, sizeof why, "%s %s",
                        err == CMN_ETIMEDOUT ? "timeout: no reply from" : "cannot reach", who);
        s_fail_on(job, err == CMN_ETIMEDOUT ? EV_TIMEOUT : EV_ERROR, why);
        return;
    }
    /* cms.Reply and ams.Reply share their first fields (corr_id, status, error). */
    Obt__Cms__Reply *reply = obt__cms__reply__unpack(NULL, len, data);
    if (reply == NULL) {
        s_fail(job, "unreadable reply from the service");
        return;
    }
    if (reply->status != OBT__STATUS__STATUS_OK) {
        char why[300];
        (void) snprintf(why, sizeof why, "%s: %s", who, reply->error);
        s_fail(job, why);
    } else {
        if (job->dev.state == JOB_HANDOVER_CMS) {
            job->dev.cms_done = true;
        } else {
            job->dev.ams_done = true;
        }
        s_raise(job, EV_OK);
    }
    obt__cms__reply__free_unpacked(reply, NULL);
}

/* ------------------------------------------------------------------ engine */

static dots_job_t *
s_add_job(dots_engine_t *self, const dots_dev_t *dev)
{
    if (self->n_jobs == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        dots_job_t **jobs = realloc(self->jobs, cap * sizeof *jobs);
        if (jobs == NULL) {
            return NULL;
        }
        self->jobs = jobs;
        self->cap = cap;
    }
    dots_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        return NULL;
    }
    job->dev = *dev;
    job->eng = self;
    self->jobs[self->n_jobs++] = job;
    return job;
}

static int
s_load_one(const dots_dev_t *dev, void *arg)
{
    (void) s_add_job(arg, dev);
    return 0;
}

static int
s_cmp_jobs(const void *a, const void *b)
{
    const dots_job_t *x = *(dots_job_t *const *) a;
    const dots_job_t *y = *(dots_job_t *const *) b;
    return x->dev.discovered_ms < y->dev.discovered_ms
                   ? -1
                   : x->dev.discovered_ms > y->dev.discovered_ms;
}

dots_engine_t *
dots_engine_new(const dots_config_t *cfg,
                dots_store_t *store,
                const dots_identity_t *id,
                cmn_calls_t *gw,
                cmn_calls_t *cms,
                cmn_calls_t *ams)
{
    dots_engine_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->cfg = cfg;
    self->store = store;
    self->id = *id;
    self->gw = gw;
    self->cms = cms;
    self->ams = ams;
    char why[160];
    if (dots_otm_policy_parse(cfg->otm_policy, &self->otm_policy, why, sizeof why) != CMN_OK) {
        cmn_log_err("DOTS-CONFIG", "--otm-policy: %s", why);
        free(self);
        return NULL;
    }
    if (dots_store_each(store, s_load_one, self) != CMN_OK) {
        free(self->jobs);
        free(self);
        return NULL;
    }
    if (self->n_jobs > 1) {
        qsort(self->jobs, self->n_jobs, sizeof *self->jobs, s_cmp_jobs);
    }
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        int s = job->dev.state;
        if (s >= JOB_GET_DOXM && s < JOB_SET_RFPRO) {
            (void) snprintf(job->why, sizeof job->why, "interrupted by a restart of DOTS");
            s_raise(job, EV_ERROR);
        } else if (s >= JOB_SET_RFPRO && s < JOB_RFNOP) {
            job->needs_resume = true;
        }
    }
    return self;
}

void
dots_engine_destroy(dots_engine_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    dots_engine_t *self = *self_p;
    for (size_t i = 0; i < self->n_jobs; i++) {
        OPENSSL_cleanse(&self->jobs[i]->secret, sizeof self->jobs[i]->secret);
        free(self->jobs[i]);
    }
    free(self->jobs);
    self->jobs = NULL;
    self->n_jobs = 0;
    if (self->n_calls > 0) {
        self->is_destroyed = true; /* the calls' callbacks still hold it */
    } else {
        free(self);
    }
    *self_p = NULL;
}

/* ------------------------------------------------------------------ peers */

typedef struct {
    dots_engine_t *eng;
    bool is_cms;
    int stage; /* 0 = health, 1 = /oic/d */
} s_peer_ctx_t;

static void s_on_peer(void *arg, cmn_err_t err, const uint8_t *data, size_t len);

static void
s_check_d(dots_engine_t *self, s_peer_ctx_t *pc, const char *d_endpoint)
{
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CoapRequest c = OBT__GW__COAP_REQUEST__INIT;
    c.caller_uuid = self->id.uuid;
    c.device_uuid = pc->is_cms ? self->cms_uuid : self->ams_uuid;
    c.endpoint = CMN_PB_STR(d_endpoint);
    c.method = OBT__GW__METHOD__METHOD_GET;
    c.path = CMN_PB_STR("/oic/d");
    c.timeout_ms = 3000;
    req.body_case = OBT__GW__REQUEST__BODY_COAP;
    req.coap = &c;
    req.corr_id = cmn_bus_next_corr_id();
    pc->stage = 1;
    if (s_call(self, self->gw, &req.base, req.corr_id, 4000, s_on_peer, pc) != CMN_OK) {
        free(pc);
        self->checks_pending--;
    }
}

static void
s_on_peer(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_peer_ctx_t *pc = arg;
    dots_engine_t *self = pc->eng;
    if (!s_call_returned(self)) {
        free(pc);
        return;
    }
    const char *name = pc->is_cms ? "CMS" : "AMS";
    char *uuid = pc->is_cms ? self->cms_uuid : self->ams_uuid;
    if (err != CMN_OK) {
        cmn_log_info("DOTS-PEER", "%s not reachable yet (%s)", name, cmn_strerror(err));
        goto done;
    }
    if (pc->stage == 0) {
        Obt__Cms__Reply *r = obt__cms__reply__unpack(NULL, len, data);
        if (r && r->status == OBT__STATUS__STATUS_OK &&
            r->body_case == OBT__CMS__REPLY__BODY_HEALTH && r->health->uuid[0] &&
            r->health->d_endpoint[0]) {
            (void) snprintf(uuid, 37, "%s", r->health->uuid);
            char ep[80];
            (void) snprintf(ep, sizeof ep, "%s", r->health->d_endpoint);
            obt__cms__reply__free_unpacked(r, NULL);
            s_check_d(self, pc, ep);
            return;
        }
        if (r) {
            obt__cms__reply__free_unpacked(r, NULL);
        }
        goto done;
    }
    Obt__Gw__Reply *r = obt__gw__reply__unpack(NULL, len, data);
    cmn_d_t d;
    if (r && r->status == OBT__STATUS__STATUS_OK && r->body_case == OBT__GW__REPLY__BODY_COAP &&
        r->coap->code == 205 &&
        cmn_d_decode(r->coap->payload.data, r->coap->payload.len, &d) == CMN_OK) {
        char di[CMN_UUID_STR_LEN + 1];
        cmn_uuid_to_str(&d.di, di);
        bool has_rt = false;
        for (size_t i = 0; i < d.n_rt; i++) {
            has_rt |= strcmp(d.rt[i], pc->is_cms ? "oic.d.cms" : "oic.d.ams") == 0;
        }
        if (has_rt && strcmp(di, uuid) == 0) {
            if (pc->is_cms) {
                self->cms_ok = true;
            } else {
                self->ams_ok = true;
            }
            cmn_log_notice("DOTS-PEER", "%s %s verified: its /oic/d has rt %s", name, uuid,
                           pc->is_cms ? "oic.d.cms" : "oic.d.ams");
        } else {
            cmn_log_err("DOTS-PEER", "%s %s failed the /oic/d check (rt or di mismatch)", name,
                        uuid);
        }
    }
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
done:
    free(pc);
    self->checks_pending--;
}

static void
s_on_registered(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    dots_engine_t *self = arg;
    if (!s_call_returned(self)) {
        return;
    }
    self->checks_pending--;
    if (err != CMN_OK) {
        return;
    }
    Obt__Gw__Reply *r = obt__gw__reply__unpack(NULL, len, data);
    if (r && r->status == OBT__STATUS__STATUS_OK &&
        r->body_case == OBT__GW__REPLY__BODY_REGISTERED) {
        (void) snprintf(self->d_endpoint, sizeof self->d_endpoint, "%s", r->registered->endpoint);
        self->is_registered = true;
        cmn_log_notice("DOTS-REGISTERED", "our /oic/d is served at %s", self->d_endpoint);
    }
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
}

static void
s_check_peers(dots_engine_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    if (self->checks_pending > 0 || now < self->next_check_ms) {
        return;
    }
    self->next_check_ms = now + 1000;
    if (!self->is_registered) {
        Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
        Obt__Gw__RegisterService reg = OBT__GW__REGISTER_SERVICE__INIT;
        char *rt[] = {CMN_PB_STR("oic.wk.d"), CMN_PB_STR("oic.d.dots")};
        reg.uuid = self->id.uuid;
        reg.name = self->cfg->name;
        reg.rt = rt;
        reg.n_rt = 2;
        req.body_case = OBT__GW__REQUEST__BODY_REGISTER_SERVICE;
        req.register_service = &reg;
        req.corr_id = cmn_bus_next_corr_id();
        if (s_call(self, self->gw, &req.base, req.corr_id, 2000, s_on_registered, self) == CMN_OK) {
            self->checks_pending++;
        }
    }
    for (int i = 0; i < 2; i++) {
        bool is_cms = i == 0;
        if (is_cms ? self->cms_ok : self->ams_ok) {
            continue;
        }
        s_peer_ctx_t *pc = calloc(1, sizeof *pc);
        if (pc == NULL) {
            return;
        }
        pc->eng = self;
        pc->is_cms = is_cms;
        Obt__Health h = OBT__HEALTH__INIT;
        uint64_t corr = cmn_bus_next_corr_id();
        cmn_err_t err;
        if (is_cms) {
            Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
            req.corr_id = corr;
            req.body_case = OBT__CMS__REQUEST__BODY_HEALTH;
            req.health = &h;
            err = s_call(self, self->cms, &req.base, corr, 2000, s_on_peer, pc);
        } else {
            Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
            req.corr_id = corr;
            req.body_case = OBT__AMS__REQUEST__BODY_HEALTH;
            req.health = &h;
            err = s_call(self, self->ams, &req.base, corr, 2000, s_on_peer, pc);
        }
        if (err == CMN_OK) {
            self->checks_pending++;
        } else {
            free(pc);
        }
    }
}

void
dots_engine_tick(dots_engine_t *self)
{
    s_check_peers(self);
    if (!self->cms_ok || !self->ams_ok) {
        return; /* clause 5.3.1 step 11: their rt must be checked before any onboarding */
    }
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        if (job->needs_resume) {
            job->needs_resume = false;
            cmn_log_notice("DOTS-RESUME", "dev=%s resuming at %s", job->dev.uuid,
                           DOTS_JOB_STATE_NAMES[job->dev.state]);
            s_raise(job, EV_RESUME);
        }
        /* A job resumed by its PIN takes an in-flight slot like any other; until one
         * is free the PIN stays in memory (before the queued jobs: it started first). */
        if (job->has_pin && self->in_flight < (size_t) self->cfg->max_in_flight) {
            job->has_pin = false;
            s_raise(job, EV_PIN);
            OPENSSL_cleanse(job->pin, sizeof job->pin); /* sent, or the job failed */
        }
    }
    for (size_t i = 0; i < self->n_jobs && self->in_flight < (size_t) self->cfg->max_in_flight;
         i++) {
        if (self->jobs[i]->dev.state == JOB_QUEUED) {
            s_raise(self->jobs[i], EV_START);
        }
    }
}

/* ------------------------------------------------------------------ operator API */

typedef struct {
    dots_engine_t *eng;
    dots_discover_fn *fn;
    void *arg;
} s_disc_ctx_t;

static dots_job_t *
s_find(const dots_engine_t *self, const char *uuid)
{
    for (size_t i = 0; uuid && i < self->n_jobs; i++) {
        const dots_dev_t *d = &self->jobs[i]->dev;
        if (strcmp(d->uuid, uuid) == 0 || strcmp(d->first_uuid, uuid) == 0) {
            return self->jobs[i];
        }
    }
    return NULL;
}

static void
s_on_discovered(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_disc_ctx_t *dc = arg;
    dots_engine_t *self = dc->eng;
    if (!s_call_returned(self)) {
        dc->fn(dc->arg, CMN_EIO, "DOTS is stopping", 0, 0); /* the service answers the caller */
        free(dc);
        return;
    }
    unsigned found = 0, added = 0;
    Obt__Gw__Reply *r = err == CMN_OK ? obt__gw__reply__unpack(NULL, len, data) : NULL;
    if (r == NULL || r->status != OBT__STATUS__STATUS_OK ||
        r->body_case != OBT__GW__REPLY__BODY_DISCOVER) {
        dc->fn(dc->arg, err != CMN_OK ? err : CMN_EIO,
               r && r->error[0] ? r->error : "gateway did not answer the discovery", 0, 0);
        goto out;
    }
    for (size_t i = 0; i < r->discover->n_devices; i++) {
        const Obt__Gw__DiscoveredDevice *g = r->discover->devices[i];
        cmn_doxm_t doxm;
        if (cmn_doxm_decode(g->doxm.data, g->doxm.len, &doxm) != CMN_OK || doxm.owned) {
            continue;
        }
        found++;
        dots_job_t *job = s_find(self, g->uuid);
        if (job == NULL) {
            dots_dev_t d;
            memset(&d, 0, sizeof d);
            (void) snprintf(d.uuid, sizeof d.uuid, "%s", g->uuid);
            (void) snprintf(d.first_uuid, sizeof d.first_uuid, "%s", g->uuid);
            d.state = JOB_DISCOVERED;
            d.oxmsel = -1;
            d.discovered_ms = cmn_time_wall_ms();
            job = s_add_job(self, &d);
            if (job == NULL) {
                continue;
            }
            added++;
        } else if (job->is_running) {
            continue;
        }
        dots_disc_merge_eps(&job->dev, (const char *const *) g->eps, g->n_eps);
        job->dev.n_oxms = 0;
        for (size_t o = 0; o < doxm.n_oxms && o < DOTS_MAX_OXMS; o++) {
            job->dev.oxms[job->dev.n_oxms++] = doxm.oxms[o];
        }
        job->dev.sct = doxm.sct;
        (void) s_store(job, false);
        if (self->cfg->auto_approve && job->dev.state == JOB_DISCOVERED) {
            s_raise(job, EV_APPROVE);
        }
    }
    cmn_log_notice("DOTS-DISCOVERED", "found=%u new=%u", found, added);
    dc->fn(dc->arg, CMN_OK, NULL, found, added);
out:
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
    free(dc);
}

cmn_err_t
dots_engine_discover(dots_engine_t *self,
                     const dots_discover_opts_t *opts,
                     dots_discover_fn *fn,
                     void *arg)
{
    s_disc_ctx_t *dc = calloc(1, sizeof *dc);
    if (dc == NULL) {
        return CMN_ENOMEM;
    }
    dc->eng = self;
    dc->fn = fn;
    dc->arg = arg;
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__Discover d = OBT__GW__DISCOVER__INIT;
    d.window_ms = opts->window_ms ? opts->window_ms : (unsigned) self->cfg->discover_window_ms;
    d.endpoints = opts->endpoints;
    d.n_endpoints = opts->n_endpoints;
    d.interfaces = opts->interfaces;
    d.n_interfaces = opts->n_interfaces;
    d.scopes = opts->scopes;
    d.n_scopes = opts->n_scopes;
    d.rounds = opts->rounds;
    d.query = CMN_PB_STR("owned=FALSE");
    req.body_case = OBT__GW__REQUEST__BODY_DISCOVER;
    req.discover = &d;
    req.corr_id = cmn_bus_next_corr_id();
    /* Rounds, /oic/res, unicast /oic/res: one window each (at most 20 rounds). */
    unsigned rounds = opts->rounds ? (opts->rounds < 20 ? opts->rounds : 20) : 20;
    cmn_err_t err = s_call(self, self->gw, &req.base, req.corr_id,
                           d.window_ms * (rounds + 2) + 5000, s_on_discovered, dc);
    if (err != CMN_OK) {
        free(dc);
    }
    return err;
}

static void
s_skip(char ***skipped, size_t *n, const char *uuid, const char *why)
{
    char **grown = realloc(*skipped, (*n + 1) * sizeof *grown);
    if (grown == NULL) {
        return;
    }
    *skipped = grown;
    size_t len = strlen(uuid) + strlen(why) + 3;
    grown[*n] = malloc(len);
    if (grown[*n]) {
        (void) snprintf(grown[*n], len, "%s: %s", uuid, why);
        (*n)++;
    }
}

static cmn_err_t
s_select(dots_engine_t *self,
         char **uuids,
         size_t n,
         bool all,
         bool approve,
         const char *otm,
         size_t *ret_count,
         char ***ret_skipped,
         size_t *ret_n_skipped)
{
    size_t count = 0;
    *ret_skipped = NULL;
    *ret_n_skipped = 0;
    size_t total = all ? self->n_jobs : n;
    for (size_t i = 0; i < total; i++) {
        dots_job_t *job = all ? self->jobs[i] : s_find(self, uuids[i]);
        if (job == NULL) {
            s_skip(ret_skipped, ret_n_skipped, uuids[i], "unknown device");
            continue;
        }
        int s = job->dev.state;
        if (job->dev.maint != 0) { /* dots_maint.c owns it until its job ends */
            if (!all) {
                s_skip(ret_skipped, ret_n_skipped, job->dev.uuid, "reset or repair in progress");
            }
            continue;
        }
        if (approve) {
            if (s == JOB_DISCOVERED || (s == JOB_FAILED && !job->dev.approved)) {
                s_raise(job, EV_APPROVE);
                count++;
            } else if (!all) {
                s_skip(ret_skipped, ret_n_skipped, job->dev.uuid,
                       job->dev.approved ? "already approved" : "not awaiting approval");
            }
            continue;
        }
        bool is_retry = s == JOB_FAILED && job->dev.approved && !job->dev.owned && !all &&
                        job->dev.step <= JOB_DOC_OM;
        if (s == JOB_APPROVED || is_retry) {
            (void) snprintf(job->dev.otm_policy, sizeof job->dev.otm_policy, "%s", otm ? otm : "");
            s_raise(job, EV_ONBOARD);
            count++;
        } else if (s == JOB_RFNOP &&
                   (job->dev.bridge == BRIDGE_FAILED || (job->dev.bridge == BRIDGE_NONE && !all))) {
            /* The Bridge's VOD work failed (a VOD not found, ...), or a device onboarded
             * before DOTS knew Bridges is named: look (again). */
            job->dev.bridge = BRIDGE_CHECK;
            job->dev.bridge_deadline_ms = 0;
            job->dev.bridge_error[0] = '\0';
            (void) s_store(job, false);
            count++;
        } else if (s == JOB_FAILED && job->dev.owned && job->dev.step >= JOB_SET_RFPRO) {
            job->dev.state = job->dev.step; /* re-enter the step that failed */
            s_raise(job, EV_RESUME);
            count++;
        } else if (s == JOB_FAILED && job->dev.approved) {
            s_skip(ret_skipped, ret_n_skipped, job->dev.uuid,
                   "failed before ownership: discover it again (it resets to a new UUID)");
        } else if (s == JOB_DISCOVERED) {
            s_skip(ret_skipped, ret_n_skipped, job->dev.uuid, "not approved");
        } else if (!all) {
            s_skip(ret_skipped, ret_n_skipped, job->dev.uuid,
                   s == JOB_RFNOP ? "already onboarded" : "onboarding in progress");
        }
    }
    *ret_count = count;
    return CMN_OK;
}

cmn_err_t
dots_engine_approve(dots_engine_t *self,
                    char **uuids,
                    size_t n,
                    bool all,
                    size_t *ret_count,
                    char ***ret_skipped,
                    size_t *ret_n_skipped)
{
    return s_select(self, uuids, n, all, true, NULL, ret_count, ret_skipped, ret_n_skipped);
}

cmn_err_t
dots_engine_onboard(dots_engine_t *self,
                    char **uuids,
                    size_t n,
                    bool all,
                    const char *otm,
                    char *error,
                    size_t error_len,
                    size_t *ret_count,
                    char ***ret_skipped,
                    size_t *ret_n_skipped)
{
    dots_otm_policy_t policy;
    if (otm && otm[0] &&
        (dots_otm_policy_parse(otm, &policy, error, error_len) != CMN_OK ||
         dots_otm_policy_within(&policy, &self->otm_policy, error, error_len) != CMN_OK)) {
        return CMN_EINVAL;
    }
    cmn_err_t err =
            s_select(self, uuids, n, all, false, otm, ret_count, ret_skipped, ret_n_skipped);
    dots_engine_tick(self);
    return err;
}

cmn_err_t
dots_engine_pin(
        dots_engine_t *self, const char *uuid, const char *pin, char *error, size_t error_len)
{
    dots_job_t *job = s_find(self, uuid);
    if (job == NULL) {
        (void) snprintf(error, error_len, "no device %s", uuid ? uuid : "");
        return CMN_ENOTFOUND;
    }
    if (job->dev.state != JOB_WAIT_PIN) {
        (void) snprintf(error, error_len, "device %s is not waiting for a PIN (state %s)",
                        job->dev.uuid, DOTS_JOB_STATE_NAMES[job->dev.state]);
        return CMN_ESTATE;
    }
    if (!cmn_psk_rdp_pin_is_valid(pin)) {
        (void) snprintf(error, error_len, "a Random PIN is %d decimal digits", CMN_RDP_PIN_LEN);
        return CMN_EINVAL;
    }
    (void) snprintf(job->pin, sizeof job->pin, "%s", pin);
    job->has_pin = true;
    dots_engine_tick(self); /* continues at once unless CMS and AMS are not verified yet */
    return CMN_OK;
}

const dots_dev_t *
dots_engine_device(const dots_engine_t *self, size_t idx)
{
    return idx < self->n_jobs ? &self->jobs[idx]->dev : NULL;
}

const dots_dev_t *
dots_engine_find(const dots_engine_t *self, const char *uuid)
{
    dots_job_t *job = s_find(self, uuid);
    return job ? &job->dev : NULL;
}

size_t
dots_engine_in_flight(const dots_engine_t *self)
{
    return self->in_flight;
}

const char *
dots_engine_d_endpoint(const dots_engine_t *self)
{
    return self->d_endpoint;
}

dots_dev_t *
dots_engine_record(dots_engine_t *self, const char *uuid)
{
    dots_job_t *job = s_find(self, uuid);
    return job ? &job->dev : NULL;
}

bool
dots_engine_is_busy(const dots_engine_t *self, const char *uuid)
{
    dots_job_t *job = s_find(self, uuid);
    return job && job->is_running;
}

void
dots_engine_remove(dots_engine_t *self, const char *uuid)
{
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        if (strcmp(job->dev.uuid, uuid) == 0) {
            OPENSSL_cleanse(&job->secret, sizeof job->secret);
            free(job);
            /* Keep discovery order: the list is small next to a device round trip. */
            memmove(&self->jobs[i], &self->jobs[i + 1],
                    (self->n_jobs - i - 1) * sizeof *self->jobs);
            self->n_jobs--;
            return;
        }
    }
}
