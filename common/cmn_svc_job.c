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

/* The record as it stands while the job runs (state "received" or "repairing"), with
 * the device's lease taken (or renewed) in the same write: CMN_EEXIST while another
 * instance's is live (*ret_holder, nothing written). */
static cmn_err_t
s_persist(cmn_svc_job_t *job, const uint8_t *psk, cmn_lease_t *ret_holder)
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
        err = cmn_svc_put_leased(job->svc, held, job->handover, psk, &rec, CMN_SVC_LEASE_TAKE,
                                 ret_holder);
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
    return cmn_svc_put_leased(job->svc, &dev, job->handover, psk, &rec, CMN_SVC_LEASE_TAKE,
                              ret_holder);
}

/* "the device's job runs in instance cms-b (its lease runs out in 4200 ms): ...". */
static void
s_held_why(const cmn_lease_t *holder, char *why, size_t why_len)
{
    uint64_t now = cmn_time_wall_ms();
    (void) snprintf(why, why_len,
                    "the device's job runs in instance %s (its lease runs out in %llu ms): try "
                    "again later",
                    holder->owner.instance,
                    (unsigned long long) (holder->until_ms > now ? holder->until_ms - now : 0));
}

/* s_persist for a job about to start: CMN_OK, or the status to answer with why
 * (CMN_ESTATE while another instance's lease of the device is live: *ret_holder's
 * instance is set then, else left ""; what: the reason of any other failure). */
static cmn_err_t
s_persist_new(cmn_svc_job_t *job,
              const uint8_t *psk,
              const char *what,
              cmn_lease_t *ret_holder,
              char *why,
              size_t why_len)
{
    ret_holder->owner.instance[0] = '\0';
    cmn_err_t err = s_persist(job, psk, ret_holder);
    if (err == CMN_EEXIST) {
        s_held_why(ret_holder, why, why_len);
        return CMN_ESTATE;
    }
    (void) snprintf(why, why_len, "%s", what);
    return err;
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

/* A hand-over that waits for another instance's lease of its device (shared store):
 * retried at each tick once that lease ran out, answered "try again" at give_up_ms. */
typedef struct s_wait {
    zframe_t *peer;         /* who waits (owned) */
    uint64_t corr_id;       /* its request */
    Obt__DeviceHandover *h; /* the hand-over (owned; its PSK wiped at the end) */
    uint64_t retry_ms;      /* wall clock: the holder's lease runs out */
    uint64_t give_up_ms;    /* wall clock */
    struct s_wait *next;
} s_wait_t;

struct cmn_svc_job_state {
    s_wait_t *waits;        /* hand-overs waiting for a lease, newest first */
    uint64_t next_renew_ms; /* mono clock of the next lease renewal */
};

static cmn_svc_job_state_t *
s_state(cmn_svc_t *svc)
{
    cmn_svc_job_state_t **st = cmn_svc_job_state(svc);
    if (*st == NULL) {
        *st = calloc(1, sizeof **st);
    }
    return *st;
}

/* A copy of h (packed and unpacked: one message to free); NULL if out of memory. */
static Obt__DeviceHandover *
s_copy_handover(const Obt__DeviceHandover *h)
{
    size_t plen = obt__device_handover__get_packed_size(h);
    uint8_t *buf = malloc(plen ? plen : 1);
    Obt__DeviceHandover *copy = NULL;
    if (buf) {
        (void) obt__device_handover__pack(h, buf);
        copy = obt__device_handover__unpack(NULL, plen, buf);
        OPENSSL_cleanse(buf, plen);
    }
    free(buf);
    return copy;
}

static void
s_wait_free(s_wait_t *w)
{
    if (w->h) {
        OPENSSL_cleanse(w->h->psk.data, w->h->psk.len);
        obt__device_handover__free_unpacked(w->h, NULL);
    }
    zframe_destroy(&w->peer);
    free(w);
}

/* Parks the hand-over h until holder's lease runs out; false if out of memory. */
static bool
s_wait(cmn_svc_t *svc,
       zframe_t *peer,
       uint64_t corr_id,
       const Obt__DeviceHandover *h,
       const cmn_lease_t *holder,
       uint64_t give_up_ms)
{
    cmn_svc_job_state_t *st = s_state(svc);
    s_wait_t *w = st ? calloc(1, sizeof *w) : NULL;
    if (w == NULL || (w->h = s_copy_handover(h)) == NULL) {
        free(w);
        return false;
    }
    w->peer = zframe_dup(peer);
    w->corr_id = corr_id;
    w->retry_ms = holder->until_ms;
    w->give_up_ms = give_up_ms;
    w->next = st->waits;
    st->waits = w;
    cmn_log_info("SVC-JOB-WAIT", "%s: dev=%s hand-over waits for instance %s's lease",
                 cmn_svc_name(svc), h->device_uuid, holder->owner.instance);
    return true;
}

/* A hand-over: a new job, or one that joins the device's running job, or (the device's
 * lease is another instance's) one that waits until give_up_ms (0: from now). */
static void
s_handover(cmn_svc_t *svc,
           zframe_t *peer,
           uint64_t corr_id,
           const Obt__DeviceHandover *h,
           uint64_t give_up_ms)
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
    if (job) {
        job->handover = s_copy_handover(h);
    }
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
    job->attempts = 1;
    /* Persist before acting: the record, our key, the job and its lease, in one
     * transaction. */
    cmn_lease_t holder;
    char why[200];
    cmn_err_t err =
            s_persist_new(job, job->psk, "cannot record the device", &holder, why, sizeof why);
    if (err == CMN_OK) {
        job->peer = zframe_dup(peer);
        job->corr_id = corr_id;
        s_start(job);
        return;
    }
    s_free(job);
    uint64_t now = cmn_time_wall_ms();
    give_up_ms = give_up_ms ? give_up_ms : now + 2 * CMN_LEASE_LIFE_MS;
    bool is_held = holder.owner.instance[0] != '\0';
    if (is_held && now < give_up_ms && s_wait(svc, peer, corr_id, h, &holder, give_up_ms)) {
        return;
    }
    cmn_svc_answer(svc, peer, corr_id, err, why, 0, NULL);
}

void
cmn_svc_job_handover(cmn_svc_t *svc, zframe_t *peer, uint64_t corr_id, const Obt__DeviceHandover *h)
{
    s_handover(svc, peer, corr_id, h, 0);
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
    cmn_lease_t holder;
    char why[200];
    if ((err = s_persist_new(job, NULL, "cannot record the repair", &holder, why, sizeof why)) !=
        CMN_OK) {
        cmn_svc_answer(svc, peer, corr_id, err, why, 0, NULL);
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
    cmn_lease_t holder;
    char why[200];
    if ((err = s_persist_new(job, NULL, "cannot record the job", &holder, why, sizeof why)) !=
        CMN_OK) {
        s_answer(svc, peer, corr_id, err, why, 0, NULL);
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
    return cmn_svc_put_leased(job->svc, dev, job->handover, NULL, &rec, CMN_SVC_LEASE_KEEP, NULL);
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

/* Resumes the job a record holds (h; its action is taken), after a restart or from an
 * instance whose lease expired (how, for the log). A lease another instance holds
 * live leaves it to that one. */
static void
s_resume_one(cmn_svc_t *svc, s_held_t *h, const char *how)
{
    if (cmn_jobs_find(cmn_svc_jobs(svc), h->uuid) != NULL) {
        return; /* ours, running */
    }
    cmn_err_t err = CMN_OK;
    cmn_svc_job_t *job = s_from_record(svc, h->uuid, h->is_repair, &err);
    if (job && h->action) {
        job->action = h->action; /* the job owns it now */
        job->action_len = h->action_len;
        h->action = NULL;
    }
    if (job == NULL) {
        cmn_log_err("SVC-JOB-RESUME", "%s: dev=%s cannot resume its %s: %s", cmn_svc_name(svc),
                    h->uuid, h->is_repair ? "repair" : "handover", cmn_strerror(err));
        return;
    }
    job->is_resumed = true;
    job->attempts = h->attempts + 1;
    /* the lease first: a job given up is ended by its holder too */
    cmn_lease_t holder;
    if ((err = s_persist(job, NULL, &holder)) != CMN_OK) {
        if (err == CMN_EEXIST) {
            cmn_log_info("SVC-JOB-RESUME", "%s: dev=%s its %s runs in instance %s",
                         cmn_svc_name(svc), job->head.uuid, s_kind(job), holder.owner.instance);
        } else {
            cmn_log_err("SVC-JOB-RESUME", "%s: dev=%s cannot record the resume: %s",
                        cmn_svc_name(svc), job->head.uuid, cmn_strerror(err));
        }
        s_free(job);
        return;
    }
    if (job->attempts > CMN_SVC_JOB_MAX_RUNS) {
        char why[96];
        (void) snprintf(why, sizeof why, "%s given up after %u interrupted runs", s_kind(job),
                        h->attempts);
        cmn_svc_job_finish(job, CMN_ESTATE, why, NULL);
        return;
    }
    cmn_log_notice("SVC-JOB-RESUME", "%s: dev=%s %s %s: run %u", cmn_svc_name(svc), job->head.uuid,
                   s_kind(job), how, job->attempts);
    s_start(job);
}

static void
s_free_pending(s_pending_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].action);
    }
    free(p->items);
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
        s_resume_one(svc, &p.items[i], "interrupted by a restart");
    }
    s_free_pending(&p);
}

/* ---- leases: renewal, take-over, waiting hand-overs */

/* Ends job, whose lease is holder's now (another instance took it over while this one
 * hung): nothing is written or sent, the session (the new holder's too: the instances
 * share the service's key) stays open, and the requester gets no answer: DOTS sends
 * its hand-over again when the call times out, to an instance that runs it (D97). */
static void
s_lost(cmn_svc_job_t *job, const char *holder)
{
    cmn_log_warn("SVC-JOB-LOST",
                 "%s: dev=%s %s at \"%s\": its lease is %s now (this instance hung past it): "
                 "left to it, nothing written",
                 cmn_svc_name(job->svc), job->head.uuid, s_kind(job), job->step, holder);
    s_free(job);
}

/* Renews the lease of every job we run; a job whose lease another instance took (we
 * hung past its life) or that is gone ends here, its outcome unwritten. */
static void
s_renew(cmn_svc_t *svc)
{
    cmn_jobs_t *jobs = cmn_svc_jobs(svc);
    size_t n = cmn_jobs_count(jobs);
    if (n == 0) {
        return;
    }
    bool is_shared = cmn_svc_config(svc)->is_shared_store; /* else every lease is ours */
    char(*lost)[37] = calloc(n, sizeof *lost);
    size_t n_lost = 0;
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = lost ? cmn_kv_begin(cmn_svc_kv(svc), true, &txn) : CMN_ENOMEM;
    uint64_t now = cmn_time_wall_ms();
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const char *uuid = ((cmn_svc_job_t *) cmn_jobs_at(jobs, i))->head.uuid;
        cmn_err_t lerr = is_shared ? cmn_lease_check(txn, uuid, cmn_svc_owner(svc), NULL) : CMN_OK;
        if (lerr == CMN_OK) {
            lerr = cmn_lease_take(txn, uuid, cmn_svc_owner(svc), now, CMN_LEASE_LIFE_MS, NULL);
        }
        if (lerr == CMN_EEXIST || lerr == CMN_ENOTFOUND) {
            (void) snprintf(lost[n_lost++], 37, "%s", uuid);
        } else {
            err = lerr;
        }
    }
    err = err == CMN_OK ? cmn_kv_commit(&txn) : err;
    if (txn) {
        cmn_kv_abort(&txn);
    }
    if (err != CMN_OK) {
        cmn_log_err("SVC-LEASE", "%s: cannot renew the job leases: %s", cmn_svc_name(svc),
                    cmn_strerror(err));
    }
    for (size_t i = 0; err == CMN_OK && i < n_lost; i++) {
        cmn_svc_job_t *job = cmn_jobs_find(jobs, lost[i]);
        if (job) {
            s_lost(job, "another instance's");
        }
    }
    free(lost);
}

static int
s_collect_expired(const char *uuid, const cmn_lease_t *lease, void *arg)
{
    (void) lease;
    s_pending_t *p = arg;
    s_held_t h = {.attempts = 0};
    (void) snprintf(h.uuid, sizeof h.uuid, "%s", uuid);
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        s_held_t *items = realloc(p->items, cap * sizeof *items);
        if (items == NULL) {
            return 1;
        }
        p->items = items;
        p->cap = cap;
    }
    p->items[p->n++] = h;
    return 0;
}

/* The jobs whose holder's lease ran out (it died or hangs, or a follow-up of ours that
 * could not start): taken over from their records (s_resume_one skips those we run). */
static void
s_take_over(cmn_svc_t *svc)
{
    s_pending_t expired = {0};
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), false, &txn);
    if (err == CMN_OK) {
        err = cmn_lease_each_expired(txn, cmn_time_wall_ms(), s_collect_expired, &expired);
        cmn_kv_abort(&txn);
    }
    for (size_t i = 0; err == CMN_OK && i < expired.n; i++) {
        s_pending_t p = {0};
        if (cmn_svc_get_job(svc, expired.items[i].uuid, s_collect_job, &p) == CMN_OK && p.n == 1) {
            s_resume_one(svc, &p.items[0], "taken over from an instance whose lease ran out");
        }
        s_free_pending(&p);
    }
    s_free_pending(&expired);
}

/* The hand-overs waiting for a lease: again once it ran out, answered at give-up. */
static void
s_retry_waits(cmn_svc_t *svc, cmn_svc_job_state_t *st)
{
    uint64_t now = cmn_time_wall_ms();
    s_wait_t **pp = &st->waits;
    s_wait_t *due = NULL;
    while (*pp) {
        s_wait_t *w = *pp;
        if (now < w->retry_ms && now < w->give_up_ms) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->next = due;
        due = w;
    }
    while (due) {
        s_wait_t *w = due;
        due = w->next;
        s_handover(svc, w->peer, w->corr_id, w->h, w->give_up_ms);
        s_wait_free(w);
    }
}

void
cmn_svc_job_tick(cmn_svc_t *svc)
{
    cmn_svc_job_state_t *st = s_state(svc);
    if (st == NULL) {
        return;
    }
    const cmn_svc_config_t *cfg = cmn_svc_config(svc);
    uint64_t now = cmn_time_mono_ms();
    if (now >= st->next_renew_ms) {
        st->next_renew_ms = now + (uint64_t) cfg->heartbeat_ms;
        s_renew(svc);
        if (cfg->is_shared_store) {
            s_take_over(svc);
        }
    }
    if (st->waits) {
        s_retry_waits(svc, st);
    }
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

/* Is the device's lease no longer ours (taken over, or removed by a forget)? Never
 * alone on the store; a read error says no: the next write checks again. */
static bool
s_is_lost(cmn_svc_job_t *job)
{
    cmn_kv_txn_t *txn = NULL;
    if (!cmn_svc_config(job->svc)->is_shared_store ||
        cmn_kv_begin(cmn_svc_kv(job->svc), false, &txn) != CMN_OK) {
        return false;
    }
    cmn_err_t err = cmn_lease_check(txn, job->head.uuid, cmn_svc_owner(job->svc), NULL);
    cmn_kv_abort(&txn);
    return err == CMN_EEXIST || err == CMN_ENOTFOUND;
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
    if (s_is_lost(job)) {
        s_lost(job, "another instance's"); /* it alone talks to the device now */
        return;
    }
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
    /* written only while the device's lease is ours; kept for the follow-up, else ended */
    cmn_lease_t holder = {.owner.instance = ""};
    cmn_err_t serr =
            cmn_svc_put_leased(job->svc, dev, job->handover, NULL, next_copy ? &then : NULL,
                               next_copy ? CMN_SVC_LEASE_KEEP : CMN_SVC_LEASE_END, &holder);
    if (serr == CMN_EEXIST || serr == CMN_ENOTFOUND) {
        s_lost(job, serr == CMN_EEXIST ? holder.owner.instance : "nobody's");
        free(next_copy);
        if (held) {
            obt__service_device__free_unpacked(held, NULL);
        }
        return;
    }
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
    cmn_svc_job_state_t **st = cmn_svc_job_state(svc);
    while (*st && (*st)->waits) {
        s_wait_t *w = (*st)->waits;
        (*st)->waits = w->next;
        s_wait_free(w); /* unanswered: DOTS sends the hand-over again */
    }
    free(*st);
    *st = NULL;
}
