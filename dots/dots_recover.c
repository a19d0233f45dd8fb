/* dots_recover.c — jobs cut short before SET_RFPRO go on without the operator, and a
 * device that reset to a new uuid supersedes its old record (docs/internals.md
 * "Recovery without the operator").
 *
 * Why a delay: a device whose DOC died (DOTS or the gateway killed) resets itself once
 * the DOC is closed or idle, and answers under a new uuid only after that. A retry
 * before would meet the old DOC (4.01) or a device in the middle of its reset: so the
 * retries probe with a backoff (1 s, then twice as long each time, at most
 * --recover-delay-ms; D90), the first after a DOTS restart waits --recover-delay-ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_time.h"
#include "dots_disc.h"
#include "dots_onboard_int.h"

/* Endpoints one rediscovery asks at most (one unicast doxm GET each): the gateway asks
 * no more than 16 per discovery (GW_DISC_MAX_TARGETS), and drops the others unsaid */
#define S_REDISCOVER_MAX_EPS 16
/* A retry that is due but held (its job runs, a rediscovery is in flight) is looked at
 * again this much later. */
#define S_RECOVER_RECHECK_MS 50
/* The first automatic retry's wait when the job's gateway cut it, and the first step of
 * the backoff: a device answers again within about a second unless its DOC is open. */
#define S_PROBE_FIRST_MS 1000

struct dots_rediscover {
    dots_engine_t *eng; /* NULL once the engine is destroyed */
    size_t n_eps;
};

bool
dots_recover_arm(dots_job_t *job, uint32_t delay_ms)
{
    const dots_config_t *cfg = job->eng->cfg;
    if (!job->dev.approved || job->dev.recover_attempts >= (uint32_t) cfg->recover_attempts) {
        job->dev.recover_at_ms = 0;
        return false;
    }
    job->dev.recover_at_ms = cmn_time_wall_ms() + delay_ms;
    if (job->dev.recover_at_ms < job->eng->recover_scan_ms) {
        job->eng->recover_scan_ms = job->dev.recover_at_ms; /* the tick's next walk */
    }
    return true;
}

uint32_t
dots_recover_backoff(const dots_job_t *job)
{
    uint32_t max = (uint32_t) job->eng->cfg->recover_delay_ms;
    uint32_t n = job->dev.recover_attempts < 10 ? job->dev.recover_attempts : 10;
    uint32_t delay = S_PROBE_FIRST_MS << n;
    return delay < max ? delay : max;
}

/* Does a share an endpoint with b? */
static bool
s_share_ep(const dots_dev_t *a, const dots_dev_t *b)
{
    for (size_t i = 0; i < a->n_eps; i++) {
        for (size_t j = 0; j < b->n_eps; j++) {
            if (strcmp(a->eps[i], b->eps[j]) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* May old give way to a device answering at its endpoint under another uuid? Only a
 * FAILED record (a device resets after a failed or cut DOC) with no reset or repair:
 * an RFNOP record stays (an address taken over by another device proves nothing about
 * it), and a record never started has nothing to give way. FAILED records are few,
 * so a discovery of thousands of devices stays linear in practice. */
static bool
s_can_be_superseded(const dots_job_t *old)
{
    return old->dev.state == JOB_FAILED && !old->is_running && old->dev.maint == 0;
}

/* job (DISCOVERED) is old's device under its new uuid: if old was being recovered,
 * the operator's approval, the OTM choice and the count of automatic retries go with
 * the device, and its onboarding goes on. */
static bool
s_take_over(dots_engine_t *self, dots_job_t *old, dots_job_t *job)
{
    bool is_recovering = old->dev.approved && old->dev.recover_attempts > 0 &&
                         old->dev.recover_attempts <= (uint32_t) self->cfg->recover_attempts;
    if (!is_recovering || job->dev.state != JOB_DISCOVERED || job->is_running ||
        dots_disc_has_conflict(&job->dev)) {
        return false;
    }
    cmn_log_notice("DOTS-RECOVER-NEW", "dev=%s onboarding of %s goes on under its new uuid",
                   job->dev.uuid, old->dev.uuid);
    (void) snprintf(job->dev.part_uuid, sizeof job->dev.part_uuid, "%s",
                    dots_dev_part_uuid(&old->dev)); /* its part is its predecessor's */
    job->dev.recover_attempts = old->dev.recover_attempts;
    (void) snprintf(job->dev.otm_policy, sizeof job->dev.otm_policy, "%s", old->dev.otm_policy);
    dots_job_raise(job, EV_APPROVE);
    if (job->dev.state == JOB_APPROVED) {
        dots_job_raise(job, EV_ONBOARD);
    }
    return true;
}

/* A record a device that reset may descend from. */
static bool
s_is_lineage_candidate(const dots_job_t *old)
{
    return s_can_be_superseded(old) && old->dev.approved && old->dev.recover_attempts > 0;
}

size_t
dots_recover_candidates(const dots_engine_t *self, dots_job_t ***ret)
{
    *ret = NULL;
    size_t n = 0;
    for (size_t i = 0; i < self->n_jobs; i++) {
        n += s_is_lineage_candidate(self->jobs[i]);
    }
    if (n == 0 || (*ret = calloc(n, sizeof **ret)) == NULL) {
        return 0;
    }
    n = 0;
    for (size_t i = 0; i < self->n_jobs; i++) {
        if (s_is_lineage_candidate(self->jobs[i])) {
            (*ret)[n++] = self->jobs[i];
        }
    }
    return n;
}

const char *
dots_recover_lineage(dots_job_t *const *cands, size_t n_cands, const char *const *eps, size_t n_eps)
{
    if (n_cands == 0) {
        return NULL;
    }
    dots_dev_t probe;
    memset(&probe, 0, sizeof probe);
    for (size_t i = 0; i < n_eps && probe.n_eps < DOTS_MAX_EPS; i++) {
        (void) snprintf(probe.eps[probe.n_eps++], sizeof probe.eps[0], "%s", eps[i]);
    }
    for (size_t i = 0; i < n_cands; i++) {
        if (s_share_ep(&cands[i]->dev, &probe)) {
            return dots_dev_part_uuid(&cands[i]->dev);
        }
    }
    return NULL;
}

bool
dots_recover_on_new(dots_engine_t *self, dots_job_t *job)
{
    if (dots_disc_has_conflict(&job->dev)) {
        return false; /* whose endpoint it is, the operator decides first */
    }
    bool is_taken_over = false;
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *old = self->jobs[i];
        if (old == job || !s_can_be_superseded(old)) {
            continue;
        }
        bool is_named = strcmp(old->dev.superseded_by, job->dev.uuid) == 0;
        if (!is_named && (old->dev.superseded_by[0] || !s_share_ep(&old->dev, &job->dev))) {
            continue;
        }
        (void) snprintf(old->dev.superseded_by, sizeof old->dev.superseded_by, "%s", job->dev.uuid);
        cmn_log_notice("DOTS-SUPERSEDED",
                       "dev=%s answers at its endpoint as %s now (it reset): record superseded",
                       old->dev.uuid, job->dev.uuid);
        is_taken_over = is_taken_over || s_take_over(self, old, job);
        old->dev.recover_at_ms = 0;
        (void) dots_job_store(old, false);
    }
    return is_taken_over;
}

static void
s_on_rediscovered(void *arg, cmn_err_t err, const char *error, const dots_discover_result_t *res)
{
    struct dots_rediscover *rd = arg;
    if (rd->eng) {
        rd->eng->rediscover = NULL;
        if (err != CMN_OK) {
            cmn_log_warn("DOTS-RECOVER-DISC", "rediscovery of %zu endpoint(s) failed: %s",
                         rd->n_eps, error ? error : cmn_strerror(err));
        } else {
            cmn_log_notice("DOTS-RECOVER-DISC", "rediscovery of %zu endpoint(s): %u found, %u new",
                           rd->n_eps, res->found, res->added);
        }
    }
    free(rd);
}

/* Asks the gateway for the devices at eps now (unicast), once at a time. */
static void
s_rediscover(dots_engine_t *self, char **eps, size_t n)
{
    struct dots_rediscover *rd = calloc(1, sizeof *rd);
    if (rd == NULL) {
        return;
    }
    rd->eng = self;
    rd->n_eps = n;
    dots_discover_opts_t opts = {
            .window_ms = 1000, .rounds = 1, .endpoints = eps, .n_endpoints = n};
    if (dots_engine_discover(self, &opts, s_on_rediscovered, rd) != CMN_OK) {
        free(rd);
        return;
    }
    self->rediscover = rd;
}

/* A record DISCOVERED at one of job's endpoints (its device reset under a new uuid,
 * found by an earlier rediscovery while job was busy), or NULL. */
static dots_job_t *
s_successor(dots_engine_t *self, const dots_job_t *job)
{
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *other = self->jobs[i];
        if (other != job && other->dev.state == JOB_DISCOVERED && !other->is_running &&
            s_share_ep(&other->dev, &job->dev)) {
            return other;
        }
    }
    return NULL;
}

/* An owned job that failed in a step it can re-enter over the owner PSK: it does, and
 * its endpoint is asked at once in case the device reset (its DOC died in RFOTM: the
 * owner credential went with it, and the device answers under a new uuid). Left for
 * the next tick while a rediscovery is in flight. */
static void
s_recover_resume(dots_engine_t *self, dots_job_t *job, char (*ep_buf)[80], size_t *n_eps)
{
    dots_job_t *next = s_successor(self, job);
    if (next != NULL) {
        job->dev.recover_attempts++;            /* this retry: next goes on with the onboarding */
        (void) dots_recover_on_new(self, next); /* supersedes job */
        return;
    }
    if (self->rediscover != NULL || *n_eps == S_REDISCOVER_MAX_EPS) {
        return;
    }
    job->dev.recover_attempts++;
    job->dev.recover_at_ms = 0;
    cmn_log_notice("DOTS-RECOVER",
                   "dev=%s automatic retry %u of %d: resuming over the owner PSK, and looking "
                   "for the device at its endpoint in case it reset",
                   job->dev.uuid, job->dev.recover_attempts, self->cfg->recover_attempts);
    const char *ep = dots_dev_ep(&job->dev, false);
    if (ep != NULL && strncmp(ep, "coap://", 7) == 0) {
        (void) snprintf(ep_buf[*n_eps], sizeof ep_buf[0], "%s", ep);
        (*n_eps)++;
    }
    dots_job_resume(job);
}

/* One job's automatic retry, if it is due. */
static void
s_recover_one(dots_engine_t *self, dots_job_t *job, uint64_t now, char (*ep_buf)[80], size_t *n_eps)
{
    if (job->dev.state != JOB_FAILED || job->dev.recover_at_ms == 0 ||
        now < job->dev.recover_at_ms || job->is_running || job->dev.maint != 0) {
        return;
    }
    if (dots_job_can_resume(job)) {
        s_recover_resume(self, job, ep_buf, n_eps);
        return;
    }
    const char *new_uuid = job->dev.superseded_by;
    dots_job_t *known = new_uuid[0] ? dots_engine_job(self, new_uuid) : NULL;
    if (known != NULL) {
        (void) s_take_over(self, job, known); /* its new record carries the onboarding */
        job->dev.recover_at_ms = 0;
        (void) dots_job_store(job, false);
        return;
    }
    const char *ep = dots_dev_ep(&job->dev, false);
    if (new_uuid[0] && (self->rediscover != NULL || ep == NULL || strncmp(ep, "coap://", 7) != 0 ||
                        *n_eps == S_REDISCOVER_MAX_EPS)) {
        return; /* the next tick */
    }
    job->dev.recover_attempts++;
    job->dev.recover_at_ms = 0;
    cmn_log_notice("DOTS-RECOVER", "dev=%s automatic retry %u of %d: %s", job->dev.uuid,
                   job->dev.recover_attempts, self->cfg->recover_attempts,
                   new_uuid[0] ? "looking for the device at its endpoint"
                               : "onboarding from the start");
    if (new_uuid[0]) {
        (void) snprintf(ep_buf[*n_eps], sizeof ep_buf[0], "%s", ep);
        (*n_eps)++;
        (void) dots_recover_arm(job, (uint32_t) self->cfg->recover_delay_ms);
        (void) dots_job_store(job, false);
        return;
    }
    dots_job_raise(job, EV_ONBOARD);
}

/* Walks the jobs only when one is due (recover_scan_ms, lowered by dots_recover_arm):
 * not every job at every pass of the loop. */
void
dots_recover_tick(dots_engine_t *self)
{
    uint64_t now = cmn_time_wall_ms();
    if (now < self->recover_scan_ms) {
        return;
    }
    char ep_buf[S_REDISCOVER_MAX_EPS][80];
    char *eps[S_REDISCOVER_MAX_EPS];
    size_t n_eps = 0, n_jobs = self->n_jobs;
    uint64_t next = UINT64_MAX;
    self->recover_scan_ms = UINT64_MAX; /* what dots_recover_arm sets during the walk */
    for (size_t i = 0; i < self->n_jobs; i++) {
        s_recover_one(self, self->jobs[i], now, ep_buf, &n_eps);
        uint64_t at = i < self->n_jobs ? self->jobs[i]->dev.recover_at_ms : 0;
        if (at != 0) { /* pending, or due but held (running, a discovery in flight) */
            at = at > now ? at : now + S_RECOVER_RECHECK_MS;
            next = at < next ? at : next;
        }
    }
    /* a job armed during the walk lowered recover_scan_ms; a list that changed may
     * have hidden one: walk again soon */
    next = self->n_jobs != n_jobs ? now : next;
    self->recover_scan_ms = next < self->recover_scan_ms ? next : self->recover_scan_ms;
    for (size_t i = 0; i < n_eps; i++) {
        eps[i] = ep_buf[i];
    }
    if (n_eps > 0) {
        s_rediscover(self, eps, n_eps);
    }
}

void
dots_recover_detach(dots_engine_t *self)
{
    if (self->rediscover) {
        self->rediscover->eng = NULL;
        self->rediscover = NULL;
    }
}
