/* cmn_svc_job.c — the hand-over and repair jobs of the device services (CMS, AMS):
 * persisted with the device record, one per device, resumed after a restart */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_svc.h"
#include "cmn_time.h"
#include "cmn_uuid.h"

static const char *
s_kind(const cmn_svc_job_t *job)
{
    return job->action ? "action" : job->is_repair ? "repair" : "handover";
}

static Obt__ServiceReply__BodyCase
s_body(const cmn_svc_job_t *job)
{
    return job->action      ? OBT__SERVICE_REPLY__BODY_SHOW
           : job->is_repair ? OBT__SERVICE_REPLY__BODY_REPAIR
                            : OBT__SERVICE_REPLY__BODY_HANDOVER;
}

/* Frees job's contents and takes it out of the table. */
static void
s_free(cmn_svc_job_t *job)
{
    const cmn_svc_hooks_t *hooks = cmn_svc_hooks(job->svc);
    if (job->work && hooks->drop) {
        hooks->drop(job);
    }
    free(job->work);
    free(job->action);
    OPENSSL_cleanse(job->psk, sizeof job->psk);
    if (job->handover) {
        obt__device_handover__free_unpacked(job->handover, NULL);
    }
    zframe_destroy(&job->peer);
    cmn_jobs_remove(cmn_svc_jobs(job->svc), job);
}

/* The record as it stands while the job runs (state "received" or "repairing"). */
static cmn_err_t
s_persist(cmn_svc_job_t *job, const uint8_t *psk)
{
    Obt__ServiceDevice dev = OBT__SERVICE_DEVICE__INIT;
    Obt__Store__ServiceJob rec = OBT__STORE__SERVICE_JOB__INIT;
    if (job->action) {
        /* The record's device stays as it is; only the job is added. */
        Obt__ServiceDevice *held = NULL;
        cmn_err_t err = cmn_svc_get(job->svc, job->head.uuid, &held);
        if (err != CMN_OK) {
            return err;
        }
        rec.kind = CMN_PB_STR(s_kind(job));
        rec.attempts = job->attempts;
        rec.started_ms = cmn_time_wall_ms();
        rec.action.data = job->action;
        rec.action.len = job->action_len;
        err = cmn_svc_put(job->svc, held, job->handover, psk, &rec);
        obt__service_device__free_unpacked(held, NULL);
        return err;
    }
    dev.device_uuid = job->head.uuid;
    dev.eps = job->handover->eps;
    dev.n_eps = job->handover->n_eps;
    dev.state = CMN_PB_STR(job->is_repair ? "repairing" : "received");
    dev.updated_ms = cmn_time_wall_ms();
    rec.kind = CMN_PB_STR(s_kind(job));
    rec.attempts = job->attempts;
    rec.started_ms = dev.updated_ms;
    return cmn_svc_put(job->svc, &dev, job->handover, psk, &rec);
}

static void
s_start(cmn_svc_job_t *job)
{
    cmn_log_info("SVC-JOB-START", "%s: dev=%s %s run %u%s", cmn_svc_name(job->svc), job->head.uuid,
                 s_kind(job), job->attempts, job->is_resumed ? " (resumed after a restart)" : "");
    cmn_svc_hooks(job->svc)->start(job);
}

/* A new job for uuid in the table, its work allocated; NULL if out of memory. */
static cmn_svc_job_t *
s_new(cmn_svc_t *svc, const char *uuid, bool is_repair)
{
    const cmn_svc_hooks_t *hooks = cmn_svc_hooks(svc);
    cmn_svc_job_t *job = cmn_jobs_add(cmn_svc_jobs(svc), uuid, sizeof *job);
    if (job == NULL) {
        return NULL;
    }
    job->svc = svc;
    job->is_repair = is_repair;
    job->work = calloc(1, hooks->work_size ? hooks->work_size : 1);
    if (job->work == NULL) {
        s_free(job);
        return NULL;
    }
    return job;
}

/* A request for a device whose job runs: the newest requester waits for the answer. */
static bool
s_join(cmn_svc_t *svc, zframe_t *peer, uint64_t corr_id, const char *uuid, bool is_repair)
{
    cmn_svc_job_t *job = cmn_jobs_find(cmn_svc_jobs(svc), uuid);
    if (job == NULL) {
        return false;
    }
    if (job->is_repair != is_repair) {
        cmn_svc_answer(svc, peer, corr_id, CMN_ESTATE,
                       job->is_repair ? "a repair of this device is in progress"
                                      : "a hand-over of this device is in progress",
                       0, NULL);
        return true;
    }
    if (job->peer) {
        cmn_svc_answer(svc, job->peer, job->corr_id, CMN_ESTATE,
                       "superseded by a newer request for this device", 0, NULL);
        zframe_destroy(&job->peer);
    }
    job->peer = zframe_dup(peer);
    job->corr_id = corr_id;
    cmn_log_info("SVC-JOB-JOIN", "%s: dev=%s a new %s request joins the running job",
                 cmn_svc_name(svc), uuid, s_kind(job));
    return true;
}

void
cmn_svc_job_handover(cmn_svc_t *svc, zframe_t *peer, uint64_t corr_id, const Obt__DeviceHandover *h)
{
    cmn_uuid_t u, dots, cms;
    const char *ep = NULL;
    for (size_t i = 0; i < h->n_eps && ep == NULL; i++) {
        if (strncmp(h->eps[i], "coaps://", 8) == 0 &&
            strlen(h->eps[i]) < sizeof(((cmn_svc_job_t *) NULL)->ep)) {
            ep = h->eps[i];
        }
    }
    if (cmn_uuid_from_str(h->device_uuid, &u) != CMN_OK || h->psk.len != 16 || ep == NULL ||
        cmn_uuid_from_str(h->dots_uuid, &dots) != CMN_OK ||
        cmn_uuid_from_str(h->cms_uuid, &cms) != CMN_OK) {
        cmn_svc_answer(svc, peer, corr_id, CMN_EINVAL,
                       "handover needs device, DOTS and CMS uuids, a coaps:// endpoint and a "
                       "16-byte PSK",
                       0, NULL);
        return;
    }
    if (s_join(svc, peer, corr_id, h->device_uuid, false)) {
        return;
    }
    cmn_svc_job_t *job = s_new(svc, h->device_uuid, false);
    size_t plen = obt__device_handover__get_packed_size(h);
    uint8_t *buf = malloc(plen ? plen : 1);
    if (job && buf) {
        (void) obt__device_handover__pack(h, buf);
        job->handover = obt__device_handover__unpack(NULL, plen, buf);
        OPENSSL_cleanse(buf, plen);
    }
    free(buf);
    if (job == NULL || job->handover == NULL) {
        if (job) {
            s_free(job);
        }
        cmn_svc_answer(svc, peer, corr_id, CMN_ENOMEM, NULL, 0, NULL);
        return;
    }
    OPENSSL_cleanse(job->handover->psk.data, job->handover->psk.len);
    memcpy(job->psk, h->psk.data, 16);
    (void) snprintf(job->ep, sizeof job->ep, "%s", ep);
    job->peer = zframe_dup(peer);
    job->corr_id = corr_id;
    job->attempts = 1;
    /* Persist before acting: the record, our key and the job, in one transaction. */
    cmn_err_t err = s_persist(job, job->psk);
    if (err != CMN_OK) {
        cmn_svc_answer(svc, peer, corr_id, err, "cannot record the device", 0, NULL);
        zframe_destroy(&job->peer);
        s_free(job);
        return;
    }
    s_start(job);
}

/* A job from the stored record of uuid (hand-over, key, endpoint); NULL with *ret_err. */
static cmn_svc_job_t *
s_from_record(cmn_svc_t *svc, const char *uuid, bool is_repair, cmn_err_t *ret_err)
{
    cmn_svc_job_t *job = s_new(svc, uuid, is_repair);
    if (job == NULL) {
        *ret_err = CMN_ENOMEM;
        return NULL;
    }
    *ret_err = cmn_svc_get_handover(svc, uuid, &job->handover, job->psk, job->ep, sizeof job->ep);
    if (*ret_err != CMN_OK) {
        s_free(job);
        return NULL;
    }
    return job;
}

void
cmn_svc_job_repair(cmn_svc_t *svc, zframe_t *peer, uint64_t corr_id, const char *uuid)
{
    if (s_join(svc, peer, corr_id, uuid, true)) {
        return;
    }
    cmn_err_t err = CMN_OK;
    cmn_svc_job_t *job = s_from_record(svc, uuid, true, &err);
    if (job == NULL) {
        cmn_svc_answer(svc, peer, corr_id, err, "no record, key or endpoint for this device", 0,
                       NULL);
        return;
    }
    job->peer = zframe_dup(peer);
    job->corr_id = corr_id;
    job->attempts = 1;
    if ((err = s_persist(job, NULL)) != CMN_OK) {
        cmn_svc_answer(svc, peer, corr_id, err, "cannot record the repair", 0, NULL);
        s_free(job);
        return;
    }
    s_start(job);
}

/* cmn_svc_answer, or a log line when nobody waits (a job the service started itself). */
static void
s_answer(cmn_svc_t *svc,
         zframe_t *peer,
         uint64_t corr_id,
         cmn_err_t err,
         const char *error,
         Obt__ServiceReply__BodyCase body,
         Obt__ServiceDevice *dev)
{
    if (peer) {
        cmn_svc_answer(svc, peer, corr_id, err, error, body, dev);
    } else if (err != CMN_OK) {
        cmn_log_warn("SVC-JOB-REFUSED", "%s: %s", cmn_svc_name(svc),
                     error ? error : cmn_strerror(err));
    }
}

/* A job that runs action (taken: the job owns it on success; the caller keeps it on
 * failure) on uuid, from its record; NULL with *ret_err, CMN_ESTATE while a job of the
 * device is in progress. */
static cmn_svc_job_t *
s_action_job(cmn_svc_t *svc, const char *uuid, uint8_t *action, size_t len, cmn_err_t *ret_err)
{
    if (cmn_jobs_find(cmn_svc_jobs(svc), uuid) != NULL) {
        *ret_err = CMN_ESTATE;
        return NULL;
    }
    cmn_svc_job_t *job = s_from_record(svc, uuid, false, ret_err);
    if (job) {
        job->action = action;
        job->action_len = len;
        job->attempts = 1;
    }
    return job;
}

void
cmn_svc_job_action(cmn_svc_t *svc,
                   zframe_t *peer,
                   uint64_t corr_id,
                   const char *uuid,
                   const uint8_t *action,
                   size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    cmn_err_t err = CMN_ENOMEM;
    cmn_svc_job_t *job = copy ? s_action_job(svc, uuid, copy, len, &err) : NULL;
    if (job == NULL) {
        free(copy);
        s_answer(svc, peer, corr_id, err,
                 err == CMN_ESTATE
                         ? "a job of this device is in progress: try again when it is done"
                 : err == CMN_ENOTFOUND ? "unknown device (not handed over to this service)"
                                        : NULL,
                 0, NULL);
        return;
    }
    memcpy(copy, action, len);
    job->peer = zframe_dup(peer);
    job->corr_id = corr_id;
    /* Persist before acting: a restart finds the action and runs it again. */
    if ((err = s_persist(job, NULL)) != CMN_OK) {
        s_answer(svc, peer, corr_id, err, "cannot record the job", 0, NULL);
        s_free(job);
        return;
    }
    s_start(job);
}

cmn_err_t
cmn_svc_job_save(cmn_svc_job_t *job, const Obt__ServiceDevice *dev)
{
    Obt__Store__ServiceJob rec = OBT__STORE__SERVICE_JOB__INIT;
    rec.kind = CMN_PB_STR(s_kind(job));
    rec.attempts = job->attempts;
    rec.started_ms = cmn_time_wall_ms();
    rec.action.data = job->action;
    rec.action.len = job->action_len;
    return cmn_svc_put(job->svc, dev, job->handover, NULL, &rec);
}

/* A job a record still holds, read at start. */
typedef struct {
    char uuid[37];
    bool is_repair;
    uint32_t attempts;
    uint8_t *action; /* kind "action": its request (malloc'd), else NULL */
    size_t action_len;
} s_held_t;

typedef struct {
    s_held_t *items;
    size_t n, cap;
} s_pending_t;

static void
s_collect_job(const char *uuid, const Obt__Store__ServiceJob *job, void *arg)
{
    s_pending_t *p = arg;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        s_held_t *items = realloc(p->items, cap * sizeof *items);
        if (items == NULL) {
            return;
        }
        p->items = items;
        p->cap = cap;
    }
    s_held_t *h = &p->items[p->n++];
    (void) snprintf(h->uuid, sizeof h->uuid, "%s", uuid);
    h->is_repair = job->kind && strcmp(job->kind, "repair") == 0;
    h->attempts = job->attempts;
    h->action = NULL;
    h->action_len = 0;
    if (job->kind && strcmp(job->kind, "action") == 0) {
        h->action = malloc(job->action.len ? job->action.len : 1);
        if (h->action) {
            memcpy(h->action, job->action.data, job->action.len);
            h->action_len = job->action.len;
        }
    }
}

void
cmn_svc_job_resume_all(cmn_svc_t *svc)
{
    s_pending_t p = {0};
    cmn_err_t err = cmn_svc_each_job(svc, s_collect_job, &p);
    if (err != CMN_OK) {
        cmn_log_err("SVC-JOB-RESUME", "%s: cannot read the jobs in progress: %s", cmn_svc_name(svc),
                    cmn_strerror(err));
    }
    for (size_t i = 0; i < p.n; i++) {
        const s_held_t *h = &p.items[i];
        cmn_svc_job_t *job = s_from_record(svc, h->uuid, h->is_repair, &err);
        if (job && h->action) {
            job->action = h->action; /* the job owns it now */
            job->action_len = h->action_len;
            p.items[i].action = NULL;
        }
        if (job == NULL) {
            cmn_log_err("SVC-JOB-RESUME", "%s: dev=%s cannot resume its %s: %s", cmn_svc_name(svc),
                        h->uuid, h->is_repair ? "repair" : "handover", cmn_strerror(err));
            continue;
        }
        job->is_resumed = true;
        job->attempts = h->attempts + 1;
        if (job->attempts > CMN_SVC_JOB_MAX_RUNS) {
            char why[96];
            (void) snprintf(why, sizeof why, "%s given up after %u interrupted runs", s_kind(job),
                            h->attempts);
            cmn_svc_job_finish(job, CMN_ESTATE, why, NULL);
            continue;
        }
        cmn_log_notice("SVC-JOB-RESUME", "%s: dev=%s %s interrupted by a restart: run %u",
                       cmn_svc_name(svc), job->head.uuid, s_kind(job), job->attempts);
        if ((err = s_persist(job, NULL)) != CMN_OK) {
            cmn_log_err("SVC-JOB-RESUME", "%s: dev=%s cannot record the resume: %s",
                        cmn_svc_name(svc), job->head.uuid, cmn_strerror(err));
            s_free(job);
            continue;
        }
        s_start(job);
    }
    for (size_t i = 0; i < p.n; i++) {
        free(p.items[i].action);
    }
    free(p.items);
}

/* ---- a gateway that leaves a job's request unanswered (D85, as DOTS's D90) ---- */

/* Writes why (the job's wait; "" when it goes on) as the record's error, the job still
 * held: the record says what the job waits for, in the same write as the job. */
static cmn_err_t
s_save_wait(cmn_svc_job_t *job, const char *why)
{
    Obt__ServiceDevice *held = NULL;
    cmn_err_t err = cmn_svc_get(job->svc, job->head.uuid, &held);
    if (err != CMN_OK) {
        return err;
    }
    char *error = held->error;
    held->error = (char *) (uintptr_t) why; /* borrowed for the write */
    err = cmn_svc_job_save(job, held);
    held->error = error;
    obt__service_device__free_unpacked(held, NULL);
    return err;
}

/* The job's gateway answers again: the job runs again from its first step, as after a
 * restart of the service (every step reads the device again), over a new session. */
static void
s_gw_resume(cmn_svc_job_t *job)
{
    job->is_gw_waiting = false;
    cmn_err_t err = s_save_wait(job, "");
    if (err != CMN_OK) {
        cmn_log_err("SVC-STORE", "%s: dev=%s cannot record the end of its wait: %s",
                    cmn_svc_name(job->svc), job->head.uuid, cmn_strerror(err));
    }
    cmn_log_notice("SVC-GW-RESUME", "%s: dev=%s its gateway answers: %s runs again from the start",
                   cmn_svc_name(job->svc), job->head.uuid, s_kind(job));
    cmn_svc_close_session(job->svc, job->ep); /* a session kept from before is not reused */
    const cmn_svc_hooks_t *hooks = cmn_svc_hooks(job->svc);
    if (hooks->drop) {
        hooks->drop(job);
    }
    memset(job->work, 0, hooks->work_size ? hooks->work_size : 1); /* as a new run */
    s_start(job);
}

/* The job's gateway went away under its request: the job keeps its step (not failed),
 * holds no call, and its record says for which gateway it waits, until it answers. */
static void
s_gw_cut(cmn_svc_job_t *job)
{
    char why[200];
    if (cmn_gws_ready(cmn_svc_gws(job->svc), job->gw, why, sizeof why)) {
        cmn_log_notice("SVC-GW-CUT", "%s: dev=%s %s cut by a restart of its gateway",
                       cmn_svc_name(job->svc), job->head.uuid, job->step);
        s_gw_resume(job); /* it restarted and answers already */
        return;
    }
    job->is_gw_waiting = true;
    /* Persist before acting: a restart of the service resumes it as any held job. */
    cmn_err_t err = s_save_wait(job, why);
    if (err != CMN_OK) {
        cmn_log_err("SVC-STORE", "%s: dev=%s cannot record its wait: %s", cmn_svc_name(job->svc),
                    job->head.uuid, cmn_strerror(err));
    }
    cmn_log_notice("SVC-GW-CUT", "%s: dev=%s %s cut at \"%s\": %s", cmn_svc_name(job->svc),
                   job->head.uuid, s_kind(job), job->step, why);
}

/* A suspect job's verdict, once the heartbeats give it (else it stays suspect). */
static void
s_judge(cmn_svc_job_t *job)
{
    cmn_gw_verdict_t v = cmn_gw_verdict(job->gw, job->suspect_ticket, job->sent_boot_id);
    if (v == CMN_GW_PENDING) {
        return;
    }
    job->is_gw_suspect = false;
    if (v == CMN_GW_AWAY) {
        s_gw_cut(job);
        return;
    }
    cmn_svc_job_finish(job, job->suspect_err, job->suspect_why, NULL);
}

/* The job's request failed, maybe because its gateway went away: it holds until a
 * heartbeat sent after now says (at most two heartbeat periods), then fails with err
 * and why, or waits for the gateway. */
static void
s_suspect_gw(cmn_svc_job_t *job, cmn_err_t err, const char *why)
{
    if (job->gw == NULL) {
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    job->suspect_err = err;
    (void) snprintf(job->suspect_why, sizeof job->suspect_why, "%s", why);
    job->suspect_ticket = cmn_gw_suspect(job->gw);
    job->is_gw_suspect = true;
    s_judge(job);
}

void
cmn_svc_job_gw_beat(cmn_svc_t *svc, cmn_gw_t *gw)
{
    /* A verdict may end a job, and its end start others: walk a copy of the uuids
     * (none in the common case: no pass beyond the count). */
    cmn_jobs_t *jobs = cmn_svc_jobs(svc);
    size_t n = jobs ? cmn_jobs_count(jobs) : 0;
    size_t n_held = 0;
    for (size_t i = 0; i < n; i++) {
        const cmn_svc_job_t *job = cmn_jobs_at(jobs, i);
        n_held += job->gw == gw && (job->is_gw_suspect || job->is_gw_waiting);
    }
    char(*uuids)[37] = n_held ? malloc(n_held * sizeof *uuids) : NULL;
    size_t k = 0;
    for (size_t i = 0; uuids && i < n; i++) {
        const cmn_svc_job_t *job = cmn_jobs_at(jobs, i);
        if (job->gw == gw && (job->is_gw_suspect || job->is_gw_waiting)) {
            (void) snprintf(uuids[k++], sizeof uuids[0], "%s", job->head.uuid);
        }
    }
    bool is_up = cmn_live_is_up(&gw->live);
    for (size_t i = 0; i < k; i++) {
        cmn_svc_job_t *job = cmn_jobs_find(jobs, uuids[i]);
        if (job == NULL || job->gw != gw) {
            continue;
        }
        if (job->is_gw_suspect) {
            s_judge(job);
        } else if (job->is_gw_waiting && is_up) {
            s_gw_resume(job);
        }
    }
    free(uuids);
}

size_t
cmn_svc_job_count_busy(cmn_svc_t *svc)
{
    cmn_jobs_t *jobs = cmn_svc_jobs(svc);
    size_t n = jobs ? cmn_jobs_count(jobs) : 0;
    size_t busy = 0;
    for (size_t i = 0; i < n; i++) {
        const cmn_svc_job_t *job = cmn_jobs_at(jobs, i);
        busy += !job->is_gw_waiting;
    }
    return busy;
}

static void
s_on_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    cmn_svc_job_t *job = cmn_jobs_returned(arg);
    if (job == NULL) {
        return; /* the job ended or moved on: a late reply */
    }
    char why[300];
    if (err != CMN_OK) {
        /* No answer at all from the gateway: was it away? */
        (void) snprintf(why, sizeof why, "%s: %s", job->step, cmn_strerror(err));
        s_suspect_gw(job, err, why);
        return;
    }
    Obt__Gw__Reply *r = obt__gw__reply__unpack(NULL, len, data);
    if (r && r->status != OBT__STATUS__STATUS_OK && job->gw &&
        cmn_gw_verdict(job->gw, job->gw->beats_done + 1, job->sent_boot_id) == CMN_GW_AWAY) {
        s_gw_cut(job); /* a new instance answered: its restart cut the request */
    } else if (r == NULL || r->status != OBT__STATUS__STATUS_OK ||
               r->body_case != OBT__GW__REPLY__BODY_COAP) {
        (void) snprintf(why, sizeof why, "%s: %s", job->step,
                        r && r->error[0] ? r->error : "unreadable reply from the gateway");
        cmn_svc_job_finish(job, r ? cmn_err_from_status(r->status) : CMN_EPROTO, why, NULL);
    } else {
        (void) snprintf(job->cipher, sizeof job->cipher, "%s", r->coap->cipher);
        job->on_reply(job, r->coap);
    }
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
}

void
cmn_svc_job_coap_sec(cmn_svc_job_t *job,
                     const char *step,
                     const Obt__Gw__Security *sec,
                     int method,
                     const char *path,
                     const char *query,
                     const uint8_t *payload,
                     size_t len,
                     cmn_svc_reply_fn *fn)
{
    (void) snprintf(job->step, sizeof job->step, "%s", step);
    cmn_log_info("SVC-JOB-STEP", "%s: dev=%s step=\"%s\"", cmn_svc_name(job->svc), job->head.uuid,
                 step);
    job->on_reply = fn;
    job->gw = NULL;
    if (cmn_svc_gw_of(job->svc, job->head.uuid, &job->gw) == CMN_OK) {
        job->sent_boot_id = job->gw->live.boot_id;
    }
    cmn_jobs_call_t *call = cmn_jobs_call(cmn_svc_jobs(job->svc), job);
    cmn_err_t err = CMN_ENOMEM;
    if (call && sec) {
        err = cmn_svc_coap_sec(job->svc, job->head.uuid, job->ep, sec, method, path, query, payload,
                               len, s_on_reply, call);
    } else if (call) {
        err = cmn_svc_coap(job->svc, job->head.uuid, job->ep, job->psk, method, path, query,
                           payload, len, s_on_reply, call);
    }
    if (err != CMN_OK) {
        char why[128];
        if (call) {
            cmn_jobs_call_cancel(call);
        }
        (void) snprintf(why, sizeof why, "%s: cannot send: %s", step, cmn_strerror(err));
        cmn_svc_job_finish(job, err, why, NULL);
    }
}

void
cmn_svc_job_coap(cmn_svc_job_t *job,
                 const char *step,
                 int method,
                 const char *path,
                 const char *query,
                 const uint8_t *payload,
                 size_t len,
                 cmn_svc_reply_fn *fn)
{
    cmn_svc_job_coap_sec(job, step, NULL, method, path, query, payload, len, fn);
}

/* Starts the follow-up action the record of uuid already holds (cmn_svc_job_finish_then). */
static void
s_start_next(cmn_svc_t *svc, const char *uuid, uint8_t **next_p, size_t next_len)
{
    cmn_err_t err = CMN_OK;
    cmn_svc_job_t *job = s_action_job(svc, uuid, *next_p, next_len, &err);
    if (job == NULL) {
        cmn_log_err("SVC-JOB-NEXT",
                    "%s: dev=%s cannot start the follow-up job: %s (a restart "
                    "resumes it)",
                    cmn_svc_name(svc), uuid, cmn_strerror(err));
        return;
    }
    *next_p = NULL; /* the job owns it now */
    s_start(job);
}

void
cmn_svc_job_finish(cmn_svc_job_t *job, cmn_err_t err, const char *error, Obt__ServiceDevice *dev)
{
    cmn_svc_job_finish_then(job, err, error, dev, NULL, 0);
}

void
cmn_svc_job_finish_then(cmn_svc_job_t *job,
                        cmn_err_t err,
                        const char *error,
                        Obt__ServiceDevice *dev,
                        const uint8_t *next,
                        size_t next_len)
{
    Obt__ServiceDevice failed = OBT__SERVICE_DEVICE__INIT;
    Obt__ServiceDevice *held = NULL;
    if (job->action && dev == NULL && cmn_svc_get(job->svc, job->head.uuid, &held) == CMN_OK) {
        failed = *held; /* a failed action leaves the record as it was (a shallow copy: the
                         * fields set below must not reach held's own) */
        dev = &failed;
    }
    if (dev == NULL || (err != CMN_OK && job->action == NULL)) {
        dev = dev ? dev : &failed;
        dev->state = CMN_PB_STR("failed");
    }
    dev->device_uuid = job->head.uuid;
    dev->eps = job->handover->eps;
    dev->n_eps = job->handover->n_eps;
    dev->error = CMN_PB_STR(err == CMN_OK ? "" : (error ? error : cmn_strerror(err)));
    dev->cipher = job->cipher;
    dev->updated_ms = cmn_time_wall_ms();
    /* the outcome and the end of the job in one write, with the follow-up if any */
    Obt__Store__ServiceJob then = OBT__STORE__SERVICE_JOB__INIT;
    uint8_t *next_copy = NULL;
    if (next && err == CMN_OK && (next_copy = malloc(next_len ? next_len : 1)) != NULL) {
        memcpy(next_copy, next, next_len);
        then.kind = CMN_PB_STR("action");
        then.started_ms = cmn_time_wall_ms();
        then.action.data = next_copy;
        then.action.len = next_len;
    } else if (next && err == CMN_OK) {
        cmn_log_err("SVC-JOB-NEXT", "%s: dev=%s no follow-up job: out of memory",
                    cmn_svc_name(job->svc), job->head.uuid);
    }
    cmn_err_t serr = cmn_svc_put(job->svc, dev, job->handover, NULL, next_copy ? &then : NULL);
    if (serr != CMN_OK) {
        cmn_log_err("SVC-STORE", "%s: dev=%s cannot record the outcome in \"%s\": %s",
                    cmn_svc_name(job->svc), job->head.uuid, cmn_svc_config(job->svc)->store_dir,
                    cmn_strerror(serr));
    }
    if (err == CMN_OK) {
        cmn_log_notice("SVC-JOB-DONE", "%s: dev=%s %s done: %s (%s)", cmn_svc_name(job->svc),
                       job->head.uuid, s_kind(job), dev->state, job->cipher);
    } else {
        cmn_log_warn("SVC-JOB-FAILED", "%s: dev=%s %s failed: %s", cmn_svc_name(job->svc),
                     job->head.uuid, s_kind(job), dev->error);
    }
    const cmn_svc_hooks_t *hooks = cmn_svc_hooks(job->svc);
    bool is_handed = job->action != NULL && hooks->ended != NULL &&
                     (hooks->is_ended_by_hook == NULL ||
                      hooks->is_ended_by_hook(job->action, job->action_len));
    if (job->peer && !is_handed) {
        cmn_svc_answer(job->svc, job->peer, job->corr_id, err, dev->error, s_body(job), dev);
    }
    cmn_svc_close_session(job->svc, job->ep); /* this job is over: free the gateway */
    /* what the ended hook gets, kept past the job */
    cmn_svc_t *svc = job->svc;
    char uuid[sizeof job->head.uuid], why[400];
    (void) snprintf(uuid, sizeof uuid, "%s", job->head.uuid);
    (void) snprintf(why, sizeof why, "%s", dev->error);
    uint8_t *action = NULL;
    size_t action_len = 0;
    zframe_t *peer = NULL;
    uint64_t corr_id = job->corr_id;
    if (is_handed) {
        action = job->action;
        action_len = job->action_len;
        job->action = NULL;
        peer = job->peer;
        job->peer = NULL;
    }
    s_free(job);
    if (held) {
        obt__service_device__free_unpacked(held, NULL);
    }
    if (is_handed) {
        hooks->ended(svc, uuid, action, action_len, err, why, &peer, corr_id);
        if (peer) {
            cmn_svc_answer(svc, peer, corr_id, err, why, 0, NULL);
            zframe_destroy(&peer);
        }
        free(action);
    }
    if (next_copy && serr == CMN_OK) {
        s_start_next(svc, uuid, &next_copy, next_len);
    }
    free(next_copy);
}

void
cmn_svc_job_drop_all(cmn_svc_t *svc)
{
    cmn_jobs_t *jobs = cmn_svc_jobs(svc);
    while (jobs && cmn_jobs_count(jobs) > 0) {
        s_free(cmn_jobs_at(jobs, 0));
    }
}
