/* dots_bridge.c — OCF Bridging: a device that reached RFNOP is checked for rt
 * oic.d.bridge; a Bridge's VOD list is read over the owner-PSK session, the VODs are
 * discovered (an unowned VOD answers nothing while its Bridge is unowned, clause
 * 5.3.2), recorded with a link to the Bridge, approved (the operator approved the
 * Bridge, docs/decisions.md D16) and onboarded like any device.
 *
 * The job state lives in the device record (dots_dev_t.bridge) and is committed
 * before each step's request, as in dots_onboard.c: the onboarding job commits
 * BRIDGE_CHECK in the same transaction as RFNOP, so a restart anywhere resumes here
 * (dots_bridge_tick picks up every record in a pending state; every step is a read or
 * an idempotent approval). A listed VOD that is not found before the deadline leaves
 * the Bridge's job FAILED with "VOD <uuid> not found"; the VODs that were found are
 * onboarded all the same. */
#include "dots_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_jobs.h"
#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_time.h"
#include "dots_devreq.h"
#include "obt/gateway.pb-c.h"

#define RETRY_MS 500 /* the gateway refused a discovery: try again before the deadline */

_Static_assert(DOTS_MAX_VODS == CMN_VODLIST_MAX, "a record holds every VOD a vodlist may list");

const char *const DOTS_BRIDGE_STATE_NAMES[BRIDGE_STATE_COUNT] = {
        "", "CHECK", "VODLIST", "DISCOVER", "DONE", "NOT_BRIDGE", "FAILED"};
const char *const DOTS_BRIDGE_EVENT_NAMES[BEV_COUNT] = {"OK", "NOT_BRIDGE", "MORE", "FAIL",
                                                        "RESUME"};

typedef struct {
    cmn_job_head_t head;  /* the device record's key; calls (cmn_jobs.h) */
    dots_bridge_t *b;     /* back pointer */
    uint64_t retry_at_ms; /* monotonic; 0 = nothing to retry */
    int from;             /* the state the current transition leaves (for its event) */
    char why[320];        /* reason of the pending BEV_FAIL */
} s_job_t;

struct dots_bridge {
    const dots_config_t *cfg;
    dots_store_t *store;
    const dots_identity_t *id;
    dots_engine_t *engine;
    cmn_gws_t *gws;        /* the gateways: a device's requests go to its own */
    cmn_jobs_t *jobs;      /* s_job_t */
    uint64_t next_walk_ms; /* the next look for records in a pending bridge state */
};

/* Records enter a pending bridge state at most this long before a job picks them up:
 * the walk of every record is not made at every pass of the loop. */
#define S_WALK_EVERY_MS 100

bool
dots_bridge_is_pending(int state)
{
    return state == BRIDGE_CHECK || state == BRIDGE_VODLIST || state == BRIDGE_DISCOVER;
}

/* ------------------------------------------------------------------ helpers */

static s_job_t *
s_add(dots_bridge_t *self, const char *uuid)
{
    s_job_t *job = cmn_jobs_add(self->jobs, uuid, sizeof *job);
    if (job) {
        job->b = self;
    }
    return job;
}

static dots_dev_t *
s_rec(const s_job_t *job)
{
    return dots_engine_record(job->b->engine, job->head.uuid);
}

static void s_raise(s_job_t *job, int event);

static void
s_fail(s_job_t *job, const char *why)
{
    (void) snprintf(job->why, sizeof job->why, "%s", why);
    s_raise(job, BEV_FAIL);
}

/* ------------------------------------------------------------------ requests */

static void s_on_coap(void *arg, cmn_err_t err, const uint8_t *data, size_t len);

/* GET path from the device: over the owner-PSK session, or plain coap://. */
static cmn_err_t
s_get(s_job_t *job, const dots_dev_t *dev, const char *path, bool secure)
{
    dots_bridge_t *b = job->b;
    cmn_jobs_call_t *ctx = cmn_jobs_call(b->jobs, job);
    if (ctx == NULL) {
        return CMN_ENOMEM;
    }
    const dots_devreq_t r = {OBT__GW__METHOD__METHOD_GET, path, secure, NULL, 0};
    char why[200];
    cmn_err_t err =
            dots_devreq_send(b->gws, b->store, b->id->uuid, dev, &r,
                             (uint32_t) b->cfg->step_timeout_ms, s_on_coap, ctx, why, sizeof why);
    if (err != CMN_OK) {
        (void) snprintf(job->why, sizeof job->why, "%s: %s", path, why);
        cmn_jobs_call_cancel(ctx);
    }
    return err;
}

static void
s_on_discovered(void *arg, cmn_err_t err, const char *error, const dots_discover_result_t *res);

/* One discovery with the gateway's defaults (scopes, interfaces, rounds, window). */
static cmn_err_t
s_discover(s_job_t *job)
{
    dots_discover_opts_t opts;
    memset(&opts, 0, sizeof opts);
    cmn_jobs_call_t *ctx = cmn_jobs_call(job->b->jobs, job);
    if (ctx == NULL) {
        return CMN_ENOMEM;
    }
    const dots_dev_t *rec = s_rec(job);
    if (rec) {
        dots_engine_expect_vods(job->b->engine, rec); /* --parts: they follow the Bridge */
    }
    cmn_err_t err = dots_engine_discover(job->b->engine, &opts, s_on_discovered, ctx);
    if (err != CMN_OK) {
        cmn_jobs_call_cancel(ctx);
    }
    return err;
}

/* ------------------------------------------------------------------ FSM actions */

static cmn_err_t
a_store(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *rec = s_rec(job);
    if (rec == NULL) {
        return CMN_ENOTFOUND;
    }
    rec->updated_ms = cmn_time_wall_ms();
    cmn_err_t err = dots_events_put(dots_engine_events(job->b->engine), job->b->store, rec, NULL,
                                    NULL, "bridge", DOTS_BRIDGE_STATE_NAMES[job->from],
                                    DOTS_BRIDGE_STATE_NAMES[rec->bridge], rec->bridge_error);
    if (err != CMN_OK) {
        cmn_log_err("DOTS-STORE", "dev=%s cannot persist: %s", rec->uuid, cmn_strerror(err));
    }
    return err;
}

static cmn_err_t
a_send(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    const dots_dev_t *rec = s_rec(job);
    cmn_err_t err = CMN_ENOTFOUND;
    if (rec == NULL) {
        return err;
    }
    switch (rec->bridge) {
    case BRIDGE_CHECK:
        err = s_get(job, rec, "/oic/d", false);
        break;
    case BRIDGE_VODLIST:
        err = s_get(job, rec, CMN_VODLIST_HREF, true);
        break;
    case BRIDGE_DISCOVER:
        err = s_discover(job);
        break;
    default:
        err = CMN_ESTATE;
    }
    if (err != CMN_OK && job->why[0] == '\0') {
        (void) snprintf(job->why, sizeof job->why, "%s: cannot send: %s",
                        DOTS_BRIDGE_STATE_NAMES[rec->bridge], cmn_strerror(err));
    }
    return err;
}

static cmn_err_t
a_deadline(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *rec = s_rec(job);
    if (rec == NULL) {
        return CMN_ENOTFOUND;
    }
    if (rec->bridge_deadline_ms == 0) { /* the first list read of this job, not a later round */
        rec->bridge_deadline_ms = cmn_time_wall_ms() + (uint64_t) job->b->cfg->vod_discover_ms;
    }
    return CMN_OK;
}

static cmn_err_t
a_done(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *rec = s_rec(job);
    if (rec == NULL) {
        return CMN_ENOTFOUND;
    }
    rec->bridge_error[0] = '\0';
    cmn_log_notice("DOTS-BRIDGE", "dev=%s Bridge: all %zu VOD(s) found and queued", rec->uuid,
                   rec->n_vods);
    return CMN_OK;
}

static cmn_err_t
a_fail(void *ctx, int *ret_event)
{
    (void) ret_event;
    s_job_t *job = ctx;
    dots_dev_t *rec = s_rec(job);
    if (rec == NULL) {
        return CMN_ENOTFOUND;
    }
    (void) snprintf(rec->bridge_error, sizeof rec->bridge_error, "%s",
                    job->why[0] ? job->why : "failed");
    cmn_log_warn("DOTS-BRIDGE-FAILED", "dev=%s %s", rec->uuid, rec->bridge_error);
    job->head.gen++; /* late replies are ignored */
    return CMN_OK;
}

static const cmn_fsm_row_t s_rows[] = {
        {BRIDGE_CHECK, BEV_OK, BRIDGE_VODLIST, {a_store, a_send, NULL, NULL}},
        {BRIDGE_CHECK, BEV_NOT_BRIDGE, BRIDGE_NOT_BRIDGE, {a_store, NULL, NULL, NULL}},
        {BRIDGE_VODLIST, BEV_OK, BRIDGE_DISCOVER, {a_deadline, a_store, a_send, NULL}},
        /* Another round reads the list again: a VOD that reset meanwhile has a new uuid. */
        {BRIDGE_DISCOVER, BEV_MORE, BRIDGE_VODLIST, {a_store, a_send, NULL, NULL}},
        {BRIDGE_DISCOVER, BEV_OK, BRIDGE_DONE, {a_done, a_store, NULL, NULL}},
        {CMN_FSM_ANY, BEV_RESUME, CMN_FSM_SAME, {a_send, NULL, NULL, NULL}},
        {CMN_FSM_ANY, BEV_FAIL, BRIDGE_FAILED, {a_fail, a_store, NULL, NULL}},
};

const cmn_fsm_t DOTS_BRIDGE_FSM = {s_rows, sizeof s_rows / sizeof s_rows[0],
                                   DOTS_BRIDGE_STATE_NAMES, DOTS_BRIDGE_EVENT_NAMES, "dots-bridge"};

static void
s_raise(s_job_t *job, int event)
{
    dots_bridge_t *b = job->b;
    dots_dev_t *rec = s_rec(job);
    if (rec == NULL) {
        cmn_jobs_remove(b->jobs, job); /* the device was reset or forgotten */
        return;
    }
    int from = rec->bridge;
    job->from = from;
    cmn_err_t err = cmn_fsm_dispatch(&DOTS_BRIDGE_FSM, &rec->bridge, event, job, job->head.uuid);
    if (err == CMN_OK || rec->bridge != from) {
        cmn_log_info("DOTS-BRIDGE-JOB", "dev=%s %s --%s--> %s", job->head.uuid,
                     DOTS_BRIDGE_STATE_NAMES[from], DOTS_BRIDGE_EVENT_NAMES[event],
                     DOTS_BRIDGE_STATE_NAMES[rec->bridge]);
    }
    if (err != CMN_OK && event != BEV_FAIL && rec->bridge != BRIDGE_FAILED) {
        if (job->why[0] == '\0') {
            (void) snprintf(job->why, sizeof job->why, "%s", cmn_strerror(err));
        }
        s_raise(job, BEV_FAIL);
        return;
    }
    job->why[0] = '\0';
    if (!dots_bridge_is_pending(rec->bridge)) {
        cmn_jobs_remove(b->jobs, job);
    }
}

/* ------------------------------------------------------------------ replies */

/* /oic/d: is it a Bridge (and still the device we own)? */
static int
s_check_d(s_job_t *job, dots_dev_t *rec, const uint8_t *p, size_t len)
{
    cmn_d_t d;
    if (cmn_d_decode(p, len, &d) != CMN_OK) {
        (void) snprintf(job->why, sizeof job->why, "/oic/d: invalid CBOR from the device");
        return BEV_FAIL;
    }
    char di[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&d.di, di);
    if (strcmp(di, rec->uuid) != 0) {
        (void) snprintf(job->why, sizeof job->why, "/oic/d: device at the endpoint is now %s", di);
        return BEV_FAIL;
    }
    rec->is_bridge = false;
    for (size_t i = 0; i < d.n_rt; i++) {
        rec->is_bridge |= strcmp(d.rt[i], "oic.d.bridge") == 0;
    }
    if (rec->is_bridge) {
        cmn_log_notice("DOTS-BRIDGE", "dev=%s is an OCF Bridge: reading its VOD list", rec->uuid);
    }
    return rec->is_bridge ? BEV_OK : BEV_NOT_BRIDGE;
}

/* The vodlist (peer input: bounded and validated by cmn_vodlist_decode). */
static int
s_take_vodlist(s_job_t *job, dots_dev_t *rec, const uint8_t *p, size_t len)
{
    cmn_vodlist_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        (void) snprintf(job->why, sizeof job->why, "vodlist: out of memory");
        return BEV_FAIL;
    }
    int event = BEV_OK;
    if (cmn_vodlist_decode(p, len, v) != CMN_OK) {
        (void) snprintf(job->why, sizeof job->why,
                        "vodlist: malformed (invalid CBOR, an entry without di, a duplicate, "
                        "or more than %d VODs)",
                        CMN_VODLIST_MAX);
        event = BEV_FAIL;
        goto out;
    }
    rec->n_vods = 0;
    for (size_t i = 0; i < v->n_vods; i++) {
        char di[CMN_UUID_STR_LEN + 1];
        cmn_uuid_to_str(&v->vods[i].di, di);
        if (strcmp(di, rec->uuid) == 0 || strcmp(di, rec->first_uuid) == 0) {
            (void) snprintf(job->why, sizeof job->why, "vodlist: the Bridge lists itself as a VOD");
            event = BEV_FAIL;
            goto out;
        }
        (void) snprintf(rec->vods[rec->n_vods++], sizeof rec->vods[0], "%s", di);
    }
    cmn_log_notice("DOTS-BRIDGE", "dev=%s lists %zu VOD(s)", rec->uuid, rec->n_vods);
out:
    free(v);
    return event;
}

static void
s_on_coap(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_job_t *job = cmn_jobs_returned(arg);
    dots_dev_t *rec = job ? s_rec(job) : NULL;
    if (rec == NULL) {
        return;
    }
    const char *what = rec->bridge == BRIDGE_CHECK ? "/oic/d" : "vodlist";
    char why[300];
    if (err != CMN_OK) {
        (void) snprintf(why, sizeof why, "%s: %s", what,
                        err == CMN_ETIMEDOUT ? "timeout: no reply from the gateway"
                                             : "gateway unreachable");
        s_fail(job, why);
        return;
    }
    Obt__Gw__Reply *reply = obt__gw__reply__unpack(NULL, len, data);
    int event = BEV_FAIL;
    if (reply == NULL) {
        (void) snprintf(job->why, sizeof job->why, "%s: unreadable reply from the gateway", what);
    } else if (reply->status == OBT__STATUS__STATUS_ETIMEDOUT) {
        (void) snprintf(job->why, sizeof job->why, "%s: timeout", what);
    } else if (reply->status != OBT__STATUS__STATUS_OK ||
               reply->body_case != OBT__GW__REPLY__BODY_COAP) {
        (void) snprintf(job->why, sizeof job->why, "%s: %s", what,
                        reply->error && reply->error[0] ? reply->error : "gateway error");
    } else if (reply->coap->code != 205) {
        (void) snprintf(job->why, sizeof job->why, "%s: device answered %u.%02u", what,
                        reply->coap->code / 100, reply->coap->code % 100);
    } else if (rec->bridge == BRIDGE_CHECK) {
        event = s_check_d(job, rec, reply->coap->payload.data, reply->coap->payload.len);
    } else {
        event = s_take_vodlist(job, rec, reply->coap->payload.data, reply->coap->payload.len);
    }
    if (reply) {
        obt__gw__reply__free_unpacked(reply, NULL);
    }
    s_raise(job, event);
}

typedef enum { S_VOD_TAKEN, S_VOD_MISSING, S_VOD_REFUSED } s_vod_outcome_t;

/* A listed VOD DOTS knows: link it to its Bridge, approve it and queue it (with the
 * Bridge's OTM policy). A device DOTS knew before the Bridge was being onboarded cannot
 * be one of its VODs (they are hidden until the Bridge is owned), nor can another
 * Bridge's VOD: those are refused (reason in why), never approved on the Bridge's word. */
static s_vod_outcome_t
s_take_vod(s_job_t *job, const char *vod_uuid, char *why, size_t why_len)
{
    dots_bridge_t *b = job->b;
    dots_dev_t *v = dots_engine_record(b->engine, vod_uuid);
    const dots_dev_t *rec = s_rec(job);
    if (v == NULL && rec != NULL && dots_store_has(b->store, vod_uuid)) {
        /* --parts: another instance's discovery recorded it first */
        (void) snprintf(why, why_len,
                        "VOD %.36s was recorded by another DOTS instance (obt-dots --parts): "
                        "onboard it there",
                        vod_uuid);
        return S_VOD_REFUSED;
    }
    if (v == NULL || rec == NULL) {
        return S_VOD_MISSING;
    }
    bool is_linked = strcmp(v->bridge_uuid, rec->uuid) == 0;
    if (!is_linked && v->bridge_uuid[0] && dots_engine_find(b->engine, v->bridge_uuid)) {
        (void) snprintf(why, why_len, "VOD %.36s is already a VOD of Bridge %.36s", vod_uuid,
                        v->bridge_uuid);
        return S_VOD_REFUSED;
    }
    if (!is_linked && !v->approved && v->discovered_ms < rec->started_ms) {
        (void) snprintf(why, why_len,
                        "VOD %.36s was discoverable before its Bridge was owned: not approved "
                        "automatically",
                        vod_uuid);
        return S_VOD_REFUSED;
    }
    if (!is_linked) {
        (void) snprintf(v->bridge_uuid, sizeof v->bridge_uuid, "%s", rec->uuid);
        cmn_log_notice("DOTS-VOD", "dev=%s is a VOD of Bridge %s: approved with it", v->uuid,
                       rec->uuid);
        if (dots_store_put(b->store, v, NULL, NULL) != CMN_OK) {
            cmn_log_err("DOTS-STORE", "dev=%s cannot persist the link to its Bridge", v->uuid);
        }
    }
    char uuid[37];
    char otm[sizeof rec->otm_policy];
    (void) snprintf(uuid, sizeof uuid, "%s", v->uuid);
    (void) snprintf(otm, sizeof otm, "%s", rec->otm_policy);
    char *uuids[1] = {uuid};
    char **skipped = NULL;
    size_t count = 0, n_skipped = 0;
    if (v->state == JOB_DISCOVERED || (v->state == JOB_FAILED && !v->approved)) {
        (void) dots_engine_approve(b->engine, uuids, 1, false, &count, &skipped, &n_skipped);
    }
    if (v->state == JOB_APPROVED) {
        char error[200] = "";
        if (dots_engine_onboard(b->engine, uuids, 1, false, otm, error, sizeof error, &count,
                                &skipped, &n_skipped) != CMN_OK) {
            cmn_log_warn("DOTS-VOD", "dev=%s not queued: %s", uuid, error);
        }
    }
    for (size_t i = 0; i < n_skipped; i++) {
        cmn_log_info("DOTS-VOD", "dev=%s %s", uuid, skipped[i]);
        free(skipped[i]);
    }
    free(skipped);
    return S_VOD_TAKEN;
}

static void
s_on_discovered(void *arg, cmn_err_t err, const char *error, const dots_discover_result_t *res)
{
    (void) res;
    s_job_t *job = cmn_jobs_returned(arg);
    dots_dev_t *rec = job ? s_rec(job) : NULL;
    if (rec == NULL) {
        return;
    }
    bool is_late = cmn_time_wall_ms() >= rec->bridge_deadline_ms;
    if (err != CMN_OK) {
        if (!is_late) {
            job->retry_at_ms = cmn_time_mono_ms() + RETRY_MS;
            return;
        }
        char why[300];
        (void) snprintf(why, sizeof why, "discovery of the VODs: %s",
                        error ? error : cmn_strerror(err));
        s_fail(job, why);
        return;
    }
    size_t missing = 0, refused = 0;
    char first_missing[37] = "", refusal[300] = "";
    char vods[DOTS_MAX_VODS][37];
    size_t n_vods = rec->n_vods;
    memcpy(vods, rec->vods, sizeof vods);
    for (size_t i = 0; i < n_vods; i++) {
        char why[300];
        s_vod_outcome_t o = s_take_vod(job, vods[i], why, sizeof why);
        if (o == S_VOD_MISSING && missing++ == 0) {
            (void) snprintf(first_missing, sizeof first_missing, "%.36s", vods[i]);
        } else if (o == S_VOD_REFUSED && refused++ == 0) {
            (void) snprintf(refusal, sizeof refusal, "%s", why);
        }
    }
    if (missing == 0 && refused == 0) {
        s_raise(job, BEV_OK);
    } else if (missing > 0 && !is_late) {
        s_raise(job, BEV_MORE);
    } else {
        char why[320];
        if (missing > 0) {
            (void) snprintf(why, sizeof why, "VOD %s not found", first_missing);
        } else {
            (void) snprintf(why, sizeof why, "%s", refusal);
        }
        size_t more = missing + refused - 1;
        size_t w = strlen(why);
        if (more > 0 && w < sizeof why) {
            (void) snprintf(why + w, sizeof why - w, " (and %zu more)", more);
        }
        s_fail(job, why);
    }
}

/* ------------------------------------------------------------------ lifecycle */

dots_bridge_t *
dots_bridge_new(const dots_config_t *cfg,
                dots_store_t *store,
                const dots_identity_t *id,
                dots_engine_t *engine,
                cmn_gws_t *gws)
{
    dots_bridge_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->cfg = cfg;
    self->store = store;
    self->id = id;
    self->engine = engine;
    self->gws = gws;
    self->jobs = cmn_jobs_new();
    if (self->jobs == NULL) {
        free(self);
        return NULL;
    }
    return self;
}

void
dots_bridge_destroy(dots_bridge_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    dots_bridge_t *self = *self_p;
    cmn_jobs_destroy(&self->jobs); /* kept until its calls have returned */
    free(self);
    *self_p = NULL;
}

void
dots_bridge_tick(dots_bridge_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    for (size_t i = 0; i < cmn_jobs_count(self->jobs); i++) {
        s_job_t *job = cmn_jobs_at(self->jobs, i);
        if (job->retry_at_ms != 0 && now >= job->retry_at_ms) {
            job->retry_at_ms = 0;
            s_raise(job, BEV_MORE);
            return; /* the list may have changed */
        }
    }
    if (now < self->next_walk_ms) {
        return;
    }
    self->next_walk_ms = now + S_WALK_EVERY_MS;
    const dots_dev_t *d;
    for (size_t i = 0; (d = dots_engine_device(self->engine, i)) != NULL; i++) {
        if (!dots_bridge_is_pending(d->bridge) || d->maint != 0 ||
            cmn_jobs_find(self->jobs, d->uuid)) {
            continue;
        }
        s_job_t *job = s_add(self, d->uuid);
        if (job == NULL) {
            return;
        }
        cmn_log_info("DOTS-BRIDGE-JOB", "dev=%s bridge job at %s", d->uuid,
                     DOTS_BRIDGE_STATE_NAMES[d->bridge]);
        s_raise(job, BEV_RESUME); /* sends only: the device list stays as it is */
    }
}
