/* dots_onboard.c — the DOTS engine: job records and the onboarding state machine.
 *
 * Every transition first persists the job record (and any secret the next step
 * needs) in one LMDB transaction, then sends the step's request: a crash at any
 * point leaves a record that says what was attempted. On restart, jobs that had not
 * reached SDI are failed and their DOC closed (a device in RFOTM then resets itself
 * and can be discovered again); jobs at SDI, SET_OWNED or SET_RFPRO re-send their step
 * over the DOC the gateway still holds (RESTART_RESUME_DOC: the device may be owned
 * already, and would reset and be owned a second time if its DOC died); jobs after
 * SET_RFPRO hold an owner PSK and are resumed over an owner-PSK session (every later
 * step is idempotent).
 *
 * Restart choice: a job after SET_RFPRO
 * re-sends its recorded step (and the remaining ones) over SEC_PSK with
 * identity = the DOTS uuid bytes and key = the stored owner PSK, never over a new
 * DOC; CLOSE_DOC then only closes that session. The same EV_RESUME path lets the
 * operator retry a FAILED job that had reached SET_RFPRO. Step deadlines: every
 * request is sent through cmn_calls with the step timeout, and cmn_calls_expire() in
 * the service loop is the one sweep that fails overdue steps (EV_TIMEOUT); the
 * deadline is also recorded in the job for operators. */
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
#include "dots_maint.h"
#include "dots_onboard_int.h"
#include "dots_otm.h"
#include "obt/common.pb-c.h"
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

/* What each state means to a failure, a restart and a retry, said per state rather
 * than read from the order of the enum (a new step can go anywhere). */
typedef enum {
    RESTART_KEEP = 0, /* nothing in flight that a restart loses */
    RESTART_FAIL,     /* in flight over plain CoAP or the DOC, which a restart loses */
    RESTART_RESUME,   /* the owner PSK is stored: resume the step over it */
    /* The device may be owned already (SET_OWNED may have reached it: SDI and SET_OWNED
     * are written lazily), still in RFOTM where it takes no PSK session, and resets when
     * its DOC dies: resume the step over the DOC, which the gateway keeps for the DOTS
     * identity (a restarted DOTS, or another instance that took over, D91), so that the
     * device is not reset and owned a second time. A DOC that is gone fails the step as
     * any DOC step (retried by itself: s_retry_gw_failures). */
    RESTART_RESUME_DOC,
} s_on_restart_t;

typedef struct {
    bool has_doc;              /* a DOC may be open: a failure closes it */
    s_on_restart_t on_restart; /* what a DOTS restart does to a job here */
    bool is_retry_from_start;  /* a failure here left nothing lasting: retry from GET_DOXM */
    bool is_resumable;         /* a failure here (device owned): onboard re-enters the step */
    bool is_lazy;              /* its record is not needed by a restart: written lazily */
    bool is_gw_step;           /* the step is a request through the device's gateway */
} s_state_row_t;

static const s_state_row_t s_state_info[JOB_STATE_COUNT] = {
        [JOB_DISCOVERED] = {false, RESTART_KEEP, true, false, false, false},
        [JOB_APPROVED] = {false, RESTART_KEEP, true, false, false, false},
        [JOB_QUEUED] = {false, RESTART_KEEP, true, false, false, false},
        [JOB_GET_DOXM] = {false, RESTART_FAIL, true, false, true, true},
        [JOB_SET_OXMSEL] = {false, RESTART_FAIL, true, false, true, true},
        [JOB_WAIT_PIN] = {false, RESTART_KEEP, true, false, false, false},
        [JOB_DOC_OM] = {true, RESTART_FAIL, true, false, false, true},
        [JOB_SET_DEVOWNER] = {true, RESTART_FAIL, false, false, true, true},
        [JOB_SET_DEVICEUUID] = {true, RESTART_FAIL, false, false, false, true},
        [JOB_SET_DOXM_ROWNER] = {true, RESTART_FAIL, false, false, true, true},
        [JOB_SET_ACL_ROWNER] = {true, RESTART_FAIL, false, false, true, true},
        [JOB_SET_PSTAT_ROWNER] = {true, RESTART_FAIL, false, false, true, true},
        [JOB_DERIVE_PSK] = {true, RESTART_FAIL, false, false, true, true},
        [JOB_OWNER_CRED] = {true, RESTART_FAIL, false, false, false, true},
        [JOB_SERVICE_CREDS] = {true, RESTART_FAIL, false, false, false, true},
        [JOB_SDI] = {true, RESTART_RESUME_DOC, false, false, true, true},
        [JOB_SET_OWNED] = {true, RESTART_RESUME_DOC, false, false, false, true},
        [JOB_SET_RFPRO] = {true, RESTART_RESUME_DOC, false, true, false, true},
        [JOB_CLOSE_DOC] = {true, RESTART_RESUME, false, true, true, true},
        [JOB_HANDOVER_CMS] = {false, RESTART_RESUME, false, true, true, false},
        [JOB_HANDOVER_AMS] = {false, RESTART_RESUME, false, true, true, false},
        [JOB_RFNOP] = {false, RESTART_KEEP, false, false, false, false},
        [JOB_FAILED] = {false, RESTART_KEEP, false, false, false, false},
};

_Static_assert(JOB_STATE_COUNT == 23, "a new job state needs its row in s_state_info");

/* The row of state s; a value this build does not know (a record from a newer one)
 * reads as all false: kept at a restart, neither retried nor resumed. */
static const s_state_row_t *
s_info(int s)
{
    static const s_state_row_t unknown = {false, RESTART_KEEP, false, false, false, false};
    return s >= 0 && s < JOB_STATE_COUNT ? &s_state_info[s] : &unknown;
}

/* ------------------------------------------------------------------ helpers */

static cmn_err_t
s_store(dots_job_t *job, bool with_secret)
{
    job->dev.updated_ms = cmn_time_wall_ms();
    int from = job->stored_state;
    int to = job->dev.state;
    const char *from_name = from >= 0 ? DOTS_JOB_STATE_NAMES[from] : "";
    /* a step whose record a restart does not need (docs/internals.md): lazily, so its
     * request leaves without waiting for a sync */
    bool is_lazy = s_info(to)->is_lazy && !with_secret && job->old_uuid[0] == '\0';
    cmn_err_t err =
            is_lazy ? dots_events_put_lazy(job->eng->events, job->eng->store, &job->dev, "onboard",
                                           from_name, DOTS_JOB_STATE_NAMES[to], "")
                    : dots_events_put(job->eng->events, job->eng->store, &job->dev,
                                      with_secret ? &job->secret : NULL,
                                      job->old_uuid[0] ? job->old_uuid : NULL, "onboard", from_name,
                                      DOTS_JOB_STATE_NAMES[to],
                                      to == JOB_FAILED ? job->dev.error : "");
    job->old_uuid[0] = '\0';
    if (err == CMN_OK) {
        job->stored_state = to;
    } else {
        cmn_log_err("DOTS-STORE", "dev=%s cannot persist in \"%s\": %s", job->dev.uuid,
                    job->eng->cfg->store_dir, cmn_strerror(err));
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
cmn_err_t
dots_call(dots_engine_t *self,
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

/* First thing in every callback of dots_call: false if the engine has been destroyed
 * (frees it with its last call); the callback then frees only its own context and
 * touches nothing else: the jobs are gone, and a stop must leave every job as it was
 * stored, to resume after the restart. */
bool
dots_call_returned(dots_engine_t *self)
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

dots_call_ctx_t *
dots_call_ctx(dots_job_t *job)
{
    dots_call_ctx_t *c = malloc(sizeof *c);
    if (c) {
        c->eng = job->eng;
        c->job = job;
        c->gen = ++job->gen;
    }
    return c;
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
    job->is_doc_resumed = false;
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
        /* CR2935: from the DRBG; with no zero byte (D68): the device will be a PSK
         * client under this uuid (pairwise credentials), and OpenSSL peers read a PSK
         * identity as a C string */
        cmn_err_t err = cmn_uuid_generate_identity(&u);
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
        job->is_secret_dirty = true;
    }
    return CMN_OK;
}

static cmn_err_t
a_store(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    cmn_err_t err = s_store(job, job->is_secret_dirty);
    if (err == CMN_OK) {
        job->is_secret_dirty = false;
    }
    return err;
}

static cmn_err_t
a_send(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    cmn_err_t err = dots_step_send(job);
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
    job->is_secret_dirty = false;
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
    job->dev.recover_attempts = 0;
    job->dev.recover_at_ms = 0;
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
    if (job->dev.recover_attempts > 0) {
        /* an automatic retry failed: again later, while attempts are left (a device
         * that answered under a new uuid is looked for at once) */
        (void) dots_recover_arm(job, job->dev.superseded_by[0] ? 0 : dots_recover_backoff(job));
    }
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
    if (s_info(job->dev.step)->has_doc) {
        dots_step_close_doc(job);
    }
    s_stop_running(job);
    return CMN_OK;
}

static cmn_err_t
a_psk_mode(void *ctx, int *ret_event)
{
    (void) ret_event;
    dots_job_t *job = ctx;
    job->is_doc_resumed = job->is_doc_resume;
    if (job->is_doc_resume) { /* a restart's resume in the DOC (RESTART_RESUME_DOC) */
        job->is_doc_resume = false;
        job->use_psk = false;
        job->dev.attempts++;
        s_start_running(job);
        return CMN_OK;
    }
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
    if (job->dev.state == JOB_QUEUED && from != JOB_QUEUED) {
        dots_engine_requeue(job->eng);
    }
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

void
dots_job_raise(dots_job_t *job, int event)
{
    s_raise(job, event);
}

cmn_err_t
dots_job_store(dots_job_t *job, bool with_secret)
{
    return s_store(job, with_secret);
}

bool
dots_job_can_resume(const dots_job_t *job)
{
    return job->dev.state == JOB_FAILED && job->dev.owned && s_info(job->dev.step)->is_resumable;
}

void
dots_job_resume(dots_job_t *job)
{
    job->dev.state = job->dev.step; /* re-enter the step that failed */
    dots_job_set_resume(job);
}

/* ------------------------------------------------------------------ a gateway away */

static bool s_job_gw_ready(const dots_job_t *job, char *why, size_t why_len);
static void s_mark_job_waiting(dots_job_t *job, const char *why);

/* The gateway of job's device, NULL if it is not in --gateway. */
static cmn_gw_t *
s_job_gw_obj(const dots_job_t *job)
{
    return cmn_gws_find(job->eng->gws, job->dev.gateway);
}

/* The job's gateway is back after cutting its step (D90): a job that holds the owner
 * PSK resumes its step over it; one whose device had no DOC yet starts again from
 * GET_DOXM; one whose DOC died with the gateway fails, and is retried by itself once
 * the device can answer (the device drops its half-done DOC and resets: probed with a
 * short backoff, dots_recover_backoff). */
static void
s_gw_uncut(dots_job_t *job)
{
    job->is_gw_cut = false;
    const s_state_row_t *row = s_info(job->dev.state);
    const char *state = DOTS_JOB_STATE_NAMES[job->dev.state];
    if (job->dev.owned && row->is_resumable) {
        cmn_log_notice("DOTS-GW-UNCUT", "dev=%s its gateway is back: %s resumes over the owner PSK",
                       job->dev.uuid, state);
        dots_job_set_resume(job);
        return;
    }
    if (!row->has_doc && row->is_retry_from_start) {
        cmn_log_notice("DOTS-GW-UNCUT", "dev=%s its gateway is back: queued again (was at %s)",
                       job->dev.uuid, state);
        job->dev.state = JOB_QUEUED; /* nothing lasting was done: GET_DOXM again */
        dots_engine_requeue(job->eng);
        (void) s_store(job, false);
        return;
    }
    char label[48];
    cmn_gws_label(job->eng->gws, s_job_gw_obj(job), label, sizeof label);
    (void) snprintf(job->why, sizeof job->why, "its DOC died with %s (retried by itself)", label);
    s_raise(job, EV_ERROR);
    if (dots_recover_arm(job, dots_recover_backoff(job))) {
        (void) s_store(job, false);
    }
}

/* The job's gateway went away under its step: the job neither fails nor holds its
 * slot; it keeps its state and waits, saying for which gateway, until it answers. */
static void
s_gw_cut(dots_job_t *job)
{
    job->is_gw_cut = true;
    job->gen++; /* a late answer of the cut step counts no more */
    job->dev.deadline_ms = 0;
    s_stop_running(job);
    char why[200];
    if (s_job_gw_ready(job, why, sizeof why)) {
        cmn_log_notice("DOTS-GW-CUT", "dev=%s %s cut by a restart of its gateway", job->dev.uuid,
                       DOTS_JOB_STATE_NAMES[job->dev.state]);
        s_gw_uncut(job); /* it restarted and answers already */
        return;
    }
    cmn_log_notice("DOTS-GW-CUT", "dev=%s %s cut: its gateway does not answer", job->dev.uuid,
                   DOTS_JOB_STATE_NAMES[job->dev.state]);
    s_mark_job_waiting(job, why);
}

/* A suspect job's verdict, once the heartbeats give it: its gateway was alive (the
 * step fails as before), or away (the step is cut). */
static void
s_judge(dots_job_t *job)
{
    cmn_gw_t *gw = s_job_gw_obj(job);
    cmn_gw_verdict_t v =
            gw ? cmn_gw_verdict(gw, job->suspect_ticket, job->sent_boot_id) : CMN_GW_ALIVE;
    if (v == CMN_GW_PENDING) {
        job->eng->has_gw_suspects = true;
        return;
    }
    job->is_gw_suspect = false;
    if (v == CMN_GW_AWAY) {
        s_gw_cut(job);
        return;
    }
    if (job->is_suspect_own_call) {
        job->is_gw_failure = true;
        job->eng->has_gw_failures = true;
    }
    s_fail_on(job, job->suspect_event, job->suspect_why);
}

/* The job's step failed, maybe because its gateway went away: the job holds until a
 * heartbeat sent after now says (at most two heartbeat periods), or at once if they
 * already say so; it then fails with event and why, or waits for the gateway. */
static void
s_suspect_gw(dots_job_t *job, int event, const char *why, bool is_own_call)
{
    job->suspect_event = event;
    job->is_suspect_own_call = is_own_call;
    (void) snprintf(job->suspect_why, sizeof job->suspect_why, "%.255s", why);
    cmn_gw_t *gw = s_job_gw_obj(job);
    job->is_gw_suspect = true;
    job->suspect_ticket = gw ? cmn_gw_suspect(gw) : 0;
    job->gen++;
    s_judge(job);
}

/* No answer at all from the job's gateway: was the gateway away? */
static void
s_on_gw_silence(dots_job_t *job, cmn_err_t err)
{
    if (err == CMN_ETIMEDOUT) {
        s_suspect_gw(job, EV_TIMEOUT, "timeout: no reply from the gateway", true);
    } else {
        s_suspect_gw(job, EV_ERROR, "gateway unreachable", true);
    }
}

void
dots_engine_gw_restarted(dots_engine_t *self, cmn_gw_t *gw)
{
    /* A request sent while no instance ran waits in the link and the new one answers
     * it (in milliseconds, long before its first heartbeat); a step still unanswered
     * and sent before the new instance started went to the one that died. */
    uint64_t now = cmn_time_mono_ms();
    uint64_t born = now > gw->live.uptime_ms ? now - gw->live.uptime_ms : 0;
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        bool is_cut = job->is_running && s_info(job->dev.state)->is_gw_step &&
                      !job->is_gw_suspect && s_job_gw_obj(job) == gw && job->sent_mono_ms < born;
        if (is_cut) {
            s_gw_cut(job);
        }
    }
}

static void
s_judge_suspects(dots_engine_t *self)
{
    if (!self->has_gw_suspects) {
        return; /* the common case: no pass over every job at every tick */
    }
    self->has_gw_suspects = false;
    for (size_t i = 0; i < self->n_jobs; i++) {
        if (self->jobs[i]->is_gw_suspect) {
            s_judge(self->jobs[i]);
        }
    }
}

/* ------------------------------------------------------------------ replies */

static dots_job_t *s_add_job(dots_engine_t *self, const dots_dev_t *dev, bool is_stored);

/* An automatic retry's GET_DOXM met the device under a new uuid, unowned (it reset):
 * its record is made here, at the endpoints and through the gateway DOTS knows, from
 * the doxm it just read, rather than by a rediscovery; dots_recover_tick then hands the
 * onboarding over to it (the superseded record names it). */
static void
s_adopt_successor(dots_job_t *job, const uint8_t *p, size_t len)
{
    dots_engine_t *self = job->eng;
    const char *uuid = job->dev.superseded_by;
    cmn_doxm_t doxm;
    if (uuid[0] == '\0' || job->dev.recover_attempts == 0 || !job->dev.approved ||
        dots_engine_job(self, uuid) != NULL || cmn_doxm_decode(p, len, &doxm) != CMN_OK) {
        return;
    }
    if (!self->is_part_of_store && !dots_partition_has(&self->partition, uuid)) {
        /* across groups (--partition, separate stores) the new uuid's part decides: that
         * group's DOTS records it when it discovers it; this record stays superseded */
        cmn_log_notice("DOTS-SUPERSEDED",
                       "dev=%s answers as %s now (it reset), a device of part %d/%u: left to "
                       "the DOTS group that serves that part",
                       job->dev.uuid, uuid, dots_partition_of(uuid, self->partition.g),
                       self->partition.g);
        return;
    }
    dots_dev_t d;
    memset(&d, 0, sizeof d);
    (void) snprintf(d.uuid, sizeof d.uuid, "%s", uuid);
    (void) snprintf(d.first_uuid, sizeof d.first_uuid, "%s", uuid);
    /* on one store (--parts) the successor stays in its predecessor's part */
    (void) snprintf(d.part_uuid, sizeof d.part_uuid, "%s", dots_dev_part_uuid(&job->dev));
    (void) snprintf(d.gateway, sizeof d.gateway, "%s", job->dev.gateway);
    memcpy(d.eps, job->dev.eps, sizeof d.eps);
    d.n_eps = job->dev.n_eps;
    for (size_t o = 0; o < doxm.n_oxms && o < DOTS_MAX_OXMS; o++) {
        d.oxms[d.n_oxms++] = doxm.oxms[o];
    }
    d.sct = doxm.sct;
    d.state = JOB_DISCOVERED;
    d.oxmsel = -1;
    d.discovered_ms = cmn_time_wall_ms();
    dots_job_t *next = s_add_job(self, &d, false);
    if (next == NULL) {
        return; /* a rediscovery finds it (dots_recover_tick) */
    }
    if (s_store(next, false) != CMN_OK) {
        dots_engine_remove(self, uuid); /* the view never claims what is not stored */
        return;
    }
    cmn_log_notice("DOTS-SUPERSEDED",
                   "dev=%s answers at its endpoint as %s now (it reset): record superseded, the "
                   "new one made without a rediscovery",
                   job->dev.uuid, uuid);
}

void
dots_job_on_gw_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    dots_call_ctx_t *c = arg;
    dots_job_t *job = c->job;
    uint64_t gen = c->gen;
    bool is_alive = dots_call_returned(c->eng);
    free(c);
    if (!is_alive || gen != job->gen) {
        return;
    }
    bool was_doc_resumed = job->is_doc_resumed; /* the step answered was such a resume */
    job->is_doc_resumed = false;
    if (err != CMN_OK) {
        s_on_gw_silence(job, err);
        return;
    }
    Obt__Gw__Reply *reply = obt__gw__reply__unpack(NULL, len, data);
    if (reply == NULL) {
        s_fail(job, "unreadable reply from the gateway");
        return;
    }
    int state = job->dev.state;
    if (reply->status != OBT__STATUS__STATUS_OK && s_info(state)->has_doc &&
        !s_info(state)->is_retry_from_start) {
        /* The DOC is gone (a restarted gateway knows no session, the device stopped
         * answering in it): the device resets; go on by itself as after a gateway
         * that did not answer at all (s_retry_gw_failures). */
        job->is_gw_failure = true;
        job->eng->has_gw_failures = true;
        cmn_gw_t *gw = s_job_gw_obj(job);
        if (gw && cmn_gw_verdict(gw, gw->beats_done + 1, job->sent_boot_id) == CMN_GW_AWAY) {
            job->is_gw_failure = false; /* a new instance answered: its restart cut the step */
            s_gw_cut(job);
            goto out;
        }
    }
    if (reply->status == OBT__STATUS__STATUS_ETIMEDOUT) {
        s_fail_on(job, EV_TIMEOUT, "timeout");
        goto out;
    }
    if (reply->status != OBT__STATUS__STATUS_OK) {
        char why[256];
        s_fail(job, dots_step_doc_error(job, reply, why, sizeof why));
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
        job->is_secret_dirty = true;
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
    if (state == JOB_SET_RFPRO && was_doc_resumed && (cr->code == 401 || cr->code == 403)) {
        /* The SET_RFPRO of the DOTS that was cut reached the device: it is in RFPRO, where
         * the DOC reaches nothing. The owner credential is on it (OWNER_CRED came
         * before): the step again over the owner PSK (entering RFPRO again is no
         * change). */
        cmn_log_notice("DOTS-RESUME",
                       "dev=%s refuses SET_RFPRO in the DOC (%u.%02u): it left RFOTM already; "
                       "again over the owner PSK",
                       job->dev.uuid, cr->code / 100, cr->code % 100);
        s_raise(job, EV_RESUME);
        goto out;
    }
    uint32_t want = state == JOB_GET_DOXM ? 205 : 204;
    if (state == JOB_SDI && cr->code == 404) {
        cmn_log_info("DOTS-NO-SDI", "dev=%s has no /oic/sec/sdi", job->dev.uuid);
    } else if (cr->code != want) {
        char why[64];
        (void) snprintf(why, sizeof why, "device answered %u.%02u", cr->code / 100, cr->code % 100);
        s_fail_on(job, EV_DEVICE_ERROR, why);
        goto out;
    }
    if (state == JOB_GET_DOXM &&
        dots_step_check_doxm(job, cr->payload.data, cr->payload.len) != CMN_OK) {
        s_adopt_successor(job, cr->payload.data, cr->payload.len);
        s_raise(job, EV_DEVICE_ERROR);
        goto out;
    }
    if (state == JOB_DOC_OM && cr->cipher) {
        (void) snprintf(job->dev.cipher, sizeof job->dev.cipher, "%s", cr->cipher);
    }
    if (state == JOB_DOC_OM &&
        dots_dev_set_mfg_cert(&job->dev, cr->peer_cert_cn, cr->peer_cert_sha256) != CMN_OK) {
        s_fail(job, "gateway described the manufacturer certificate wrongly (CN of up to 64 "
                    "printable bytes and a 64-digit hex SHA-256 expected)");
        goto out;
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
        dots_index_rekeyed(job->eng, job, job->old_uuid);
    }
    if (state == JOB_OWNER_CRED) {
        job->dev.owned = true;
    }
    s_raise(job, EV_OK);
out:
    obt__gw__reply__free_unpacked(reply, NULL);
}

#define S_SVC_RESENDS 3 /* hand-overs sent again after silence, with several instances */

void
dots_job_on_svc_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    dots_call_ctx_t *c = arg;
    dots_job_t *job = c->job;
    uint64_t gen = c->gen;
    bool is_alive = dots_call_returned(c->eng);
    free(c);
    if (!is_alive || gen != job->gen) {
        return;
    }
    bool is_cms = job->dev.state == JOB_HANDOVER_CMS;
    const char *who = is_cms ? "CMS" : "AMS";
    if (err != CMN_OK && dots_peer_is_multi(job->eng, is_cms) && job->svc_resends < S_SVC_RESENDS) {
        /* the instance that had it died or hangs: another one takes the device's job
         * over once its lease runs out (D98) */
        job->svc_resends++;
        job->gen++;
        dots_job_set_resume(job);
        cmn_log_notice("DOTS-HANDOVER-RESEND",
                       "dev=%s no answer from the %s instance (%s): "
                       "hand-over sent again (%d of %d)",
                       job->dev.uuid, who, cmn_strerror(err), job->svc_resends, S_SVC_RESENDS);
        return;
    }
    if (err != CMN_OK) {
        char why[64];
        (void) snprintf(why, sizeof why, "%s %s",
                        err == CMN_ETIMEDOUT ? "timeout: no reply from" : "cannot reach", who);
        /* CMS's or AMS's own job waits, without answering, while the device's gateway
         * is away (D85): its heartbeat decides, as for a reply of their silence */
        s_suspect_gw(job, err == CMN_ETIMEDOUT ? EV_TIMEOUT : EV_ERROR, why, false);
        return;
    }
    /* cms.Reply and ams.Reply share their first fields (corr_id, status, error). */
    Obt__ServiceReply *reply = obt__service_reply__unpack(NULL, len, data);
    if (reply == NULL) {
        s_fail(job, "unreadable reply from the service");
        return;
    }
    if (reply->status != OBT__STATUS__STATUS_OK) {
        char why[300];
        (void) snprintf(why, sizeof why, "%s: %s", who, reply->error);
        /* CMS's or AMS's own request to the device found no answer: its gateway may
         * have gone (then the hand-over is sent again once it is back) */
        bool is_silence = reply->status == OBT__STATUS__STATUS_ETIMEDOUT ||
                          reply->status == OBT__STATUS__STATUS_EIO;
        if (is_silence) {
            s_suspect_gw(job, EV_ERROR, why, false);
        } else {
            s_fail(job, why);
            /* The service's handshake with the owned device failed (a device still
             * dropping the DOC's session refuses the next peer for a moment): the
             * hand-over is re-entered by itself after a backoff while automatic
             * attempts are left (dots_recover_tick), as the operator's onboard would.
             * A refusal of the device's own (a 4.xx) stays the operator's to retry. */
            bool is_handshake = reply->status == OBT__STATUS__STATUS_ECRYPTO;
            if (is_handshake && dots_job_can_resume(job) && job->dev.recover_at_ms == 0 &&
                dots_recover_arm(job, dots_recover_backoff(job))) {
                cmn_log_notice("DOTS-HANDOVER-RETRY",
                               "dev=%s %s's handshake with the device failed: the hand-over "
                               "is retried by itself (%u of %d automatic attempts used)",
                               job->dev.uuid, who, job->dev.recover_attempts,
                               job->eng->cfg->recover_attempts);
                (void) s_store(job, false);
            }
        }
    } else {
        if (job->dev.state == JOB_HANDOVER_CMS) {
            job->dev.cms_done = true;
        } else {
            job->dev.ams_done = true;
        }
        s_raise(job, EV_OK);
    }
    obt__service_reply__free_unpacked(reply, NULL);
}

/* ------------------------------------------------------------------ engine */

/* dev is_stored: loaded from the store (else a new record, not committed yet). */
static dots_job_t *
s_add_job(dots_engine_t *self, const dots_dev_t *dev, bool is_stored)
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
    job->stored_state = is_stored ? dev->state : -1;
    self->jobs[self->n_jobs++] = job;
    dots_index_add(self, job);
    dots_engine_requeue(self);
    if (job->dev.recover_at_ms != 0 && job->dev.recover_at_ms < self->recover_scan_ms) {
        self->recover_scan_ms = job->dev.recover_at_ms; /* a retry loaded from the store */
    }
    return job;
}

/* Whether this DOTS takes the device whose part follows uuid: its group's part
 * (--partition), or one of the parts this instance serves (--parts). */
static bool
s_serves(const dots_engine_t *self, const char *uuid)
{
    if (!self->is_part_of_store) {
        return dots_partition_has(&self->partition, uuid);
    }
    int k = dots_partition_of(uuid, self->partition.g);
    return k >= 0 && ((self->part_mask >> k) & 1u);
}

static int
s_load_one(const dots_dev_t *dev, void *arg)
{
    dots_engine_t *self = arg;
    const char *part_uuid = dots_dev_part_uuid(dev);
    if (self->is_part_of_store && !s_serves(self, part_uuid)) {
        return 0; /* another active instance's part (--parts) */
    }
    if (self->loading_part >= 0 &&
        (dots_partition_of(part_uuid, self->partition.g) != self->loading_part ||
         dots_index_find(self, dev->uuid) != NULL)) {
        return 0; /* adding a part: its records alone, once */
    }
    (void) s_add_job(self, dev, true);
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

/* The jobs from jobs[from] on, just loaded: those interrupted before SET_RFPRO are
 * failed (retried by themselves), later ones resumed. why: what interrupted them. */
static void
s_restart_jobs(dots_engine_t *self, size_t from, const char *why)
{
    const dots_config_t *cfg = self->cfg;
    for (size_t i = from; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        int s = job->dev.state;
        s_on_restart_t what = s_info(s)->on_restart;
        if (what == RESTART_FAIL) {
            /* Retried by itself: at once if no DOC was open (the device kept its
             * uuid), else once the device had time to reset (dots_recover.c). */
            uint32_t delay = s_info(s)->has_doc ? (uint32_t) cfg->recover_delay_ms : 0;
            bool is_armed = dots_recover_arm(job, delay);
            (void) snprintf(job->why, sizeof job->why, "%s%s", why,
                            is_armed ? " (retried by itself)" : "");
            s_raise(job, EV_ERROR);
        } else if (what == RESTART_RESUME || what == RESTART_RESUME_DOC) {
            job->is_doc_resume = what == RESTART_RESUME_DOC;
            dots_job_set_resume(job);
        }
    }
}

dots_engine_t *
dots_engine_new(const dots_config_t *cfg,
                dots_store_t *store,
                const dots_identity_t *id,
                dots_events_t *events,
                cmn_gws_t *gws,
                cmn_calls_t *cms,
                cmn_calls_t *ams,
                int part)
{
    dots_engine_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->cfg = cfg;
    self->store = store;
    self->events = events;
    self->id = *id;
    self->gws = gws;
    self->cms = cms;
    self->ams = ams;
    char why[160];
    if (dots_otm_policy_parse(cfg->otm_policy, &self->otm_policy, why, sizeof why) != CMN_OK) {
        cmn_log_err("DOTS-CONFIG", "--otm-policy: %s", why);
        free(self);
        return NULL;
    }
    if (dots_partition_parse(cfg->partition, &self->partition, why, sizeof why) != 0) {
        cmn_log_err("DOTS-CONFIG", "--partition: %s", why);
        free(self);
        return NULL;
    }
    if (part >= 0 && cfg->parts > 1) { /* --parts: the part this instance holds the lease of */
        self->partition.k = (unsigned) part;
        self->partition.g = (unsigned) cfg->parts;
        self->is_part_of_store = true;
        self->part_mask = (uint64_t) 1 << part;
    }
    self->loading_part = -1;
    self->by_uuid = zhashx_new(); /* NULL: lookups walk the list */
    if (dots_store_each(store, s_load_one, self) != CMN_OK) {
        dots_index_destroy(self);
        free(self->jobs);
        free(self);
        return NULL;
    }
    if (self->n_jobs > 1) {
        qsort(self->jobs, self->n_jobs, sizeof *self->jobs, s_cmp_jobs);
        dots_index_rebuild(self);
    }
    dots_peers_init(self);
    s_restart_jobs(self, 0, "interrupted by a restart of DOTS");
    return self;
}

void
dots_engine_destroy(dots_engine_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    dots_engine_t *self = *self_p;
    dots_recover_detach(self);
    for (size_t i = 0; i < self->n_jobs; i++) {
        OPENSSL_cleanse(&self->jobs[i]->secret, sizeof self->jobs[i]->secret);
        free(self->jobs[i]);
    }
    free(self->jobs);
    self->jobs = NULL;
    self->n_jobs = 0;
    dots_index_destroy(self);
    zhashx_destroy(&self->vod_parts);
    if (self->n_calls > 0) {
        self->is_destroyed = true; /* the calls' callbacks still hold it */
    } else {
        free(self);
    }
    *self_p = NULL;
}

void
dots_engine_resend_handovers(dots_engine_t *self, bool is_cms)
{
    int state = is_cms ? JOB_HANDOVER_CMS : JOB_HANDOVER_AMS;
    for (size_t i = 0; i < self->n_jobs; i++) {
        if (self->jobs[i]->dev.state == state) {
            dots_job_set_resume(self->jobs[i]);
        }
    }
}

/* True if the job's gateway answers (why: the reason otherwise). */
static bool
s_job_gw_ready(const dots_job_t *job, char *why, size_t why_len)
{
    cmn_gws_t *gws = job->eng->gws;
    cmn_gw_t *gw = cmn_gws_find(gws, job->dev.gateway);
    if (gw == NULL) {
        (void) snprintf(why, why_len, "waiting for gateway %s: not in --gateway", job->dev.gateway);
        return false;
    }
    return cmn_gws_ready(gws, gw, why, why_len);
}

/* The gateway answers (again): the jobs that failed by its fault (it answered as the
 * same instance, or with an error in a DOC step) go on by themselves, at most twice
 * each: queued again from GET_DOXM if nothing lasting was done, else retried by
 * dots_recover_tick after a short backoff (resumed over the owner PSK if DOTS owns the
 * device; a device whose DOC died resets itself and is found under its new uuid). */
static void
s_retry_gw_failures(dots_engine_t *self)
{
    if (!self->has_gw_failures) {
        return; /* the common case: no pass over every job at every tick */
    }
    self->has_gw_failures = false;
    size_t resumed = 0, queued = 0;
    char why[200];
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        int step = job->dev.step;
        if (job->dev.state != JOB_FAILED || !job->is_gw_failure || job->gw_retries >= 2) {
            continue;
        }
        if (!s_job_gw_ready(job, why, sizeof why)) {
            self->has_gw_failures = true; /* its own gateway is still away: later */
            continue;
        }
        job->is_gw_failure = false;
        job->gw_retries++;
        if (job->dev.owned && s_info(step)->is_resumable) {
            /* re-entered over the owner PSK by dots_recover_tick, after a backoff: a
             * device whose DOC died refuses the session until it drops the DOC (and
             * if it was still in RFOTM, it resets: looked for at its endpoint) */
            if (dots_recover_arm(job, dots_recover_backoff(job))) {
                (void) s_store(job, false);
                resumed++;
            }
        } else if (!job->dev.owned && job->dev.approved && s_info(step)->is_retry_from_start) {
            s_raise(job, EV_ONBOARD);
            queued++;
        } else if (s_info(step)->has_doc && dots_recover_arm(job, dots_recover_backoff(job))) {
            (void) s_store(job, false); /* its DOC died: the device resets, then a retry */
        }
    }
    if (resumed + queued > 0) {
        cmn_log_notice("DOTS-GW-RETRY",
                       "the gateway answers: %zu job(s) it failed by not answering resume "
                       "over their owner PSK (after a short wait), %zu are queued again",
                       resumed, queued);
    }
}

/* The jobs that would start now, were the peers ready. */
static bool
s_would_start(const dots_job_t *job)
{
    return job->dev.state == JOB_QUEUED || job->needs_resume || job->has_pin || job->is_gw_cut;
}

/* A job that would start waits for a peer: it says so in its record (the operator's
 * `obtctl devices`) and once in the log; the text follows the reason. */
static void
s_mark_job_waiting(dots_job_t *job, const char *why)
{
    job->eng->has_waiting = true;
    if (job->is_waiting && strcmp(job->dev.error, why) == 0) {
        return;
    }
    if (!job->is_waiting) {
        cmn_log_notice("DOTS-WAIT", "dev=%s %s", job->dev.uuid, why);
    }
    job->is_waiting = true;
    if (strcmp(job->dev.error, why) == 0) {
        return; /* a restart found it so: nothing new to store */
    }
    job->dev.step = job->dev.state;
    (void) snprintf(job->dev.error, sizeof job->dev.error, "%s", why);
    (void) s_store(job, false);
}

/* CMS or AMS is missing: every job that would start waits. */
static void
s_mark_waiting(dots_engine_t *self, const char *why)
{
    for (size_t i = 0; i < self->n_jobs; i++) {
        if (s_would_start(self->jobs[i])) {
            s_mark_job_waiting(self->jobs[i], why);
        }
    }
}

/* CMS and AMS are ready: a job that would start waits only for its own gateway (the
 * others go on, their reason cleared); the jobs of a gateway that answers again lose
 * their reason and go on. */
static void
s_update_waiting(dots_engine_t *self)
{
    bool is_every_gw_up = true;
    for (size_t g = 0; g < cmn_gws_count(self->gws); g++) {
        const cmn_gw_t *gw = cmn_gws_at(self->gws, g);
        is_every_gw_up &= cmn_live_is_up(&gw->live) && !gw->is_refused;
    }
    if (is_every_gw_up && !self->has_waiting) {
        return; /* the common case: no pass over every job at every tick */
    }
    size_t n = 0;
    char why[200];
    bool was_waiting = self->has_waiting;
    self->has_waiting = false;
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        bool is_ready = s_job_gw_ready(job, why, sizeof why);
        if (!is_ready && s_would_start(job)) {
            s_mark_job_waiting(job, why);
        } else if (job->is_waiting) {
            job->is_waiting = false;
            job->dev.error[0] = '\0';
            (void) s_store(job, false);
            n++;
            if (job->is_gw_cut) {
                s_gw_uncut(job);
            }
        }
    }
    if (was_waiting && n > 0) {
        cmn_log_notice("DOTS-PEERS-READY", "gateway, CMS and AMS ready: %zu waiting job(s) go on",
                       n);
    }
}

/* Clause 5.3.1 step 11: CMS's and AMS's rt are checked before any onboarding, and
 * every job needs the gateway. A short gap (a start, a re-check) is not reported: only
 * one that lasts a heartbeat period. */
static bool
s_peers_ready(dots_engine_t *self)
{
    char why[200];
    uint64_t now = cmn_time_mono_ms();
    if (dots_peers_ready(self, why, sizeof why)) {
        self->not_ready_since_ms = 0;
        s_update_waiting(self);
        return true;
    }
    if (self->not_ready_since_ms == 0) {
        self->not_ready_since_ms = now;
    }
    if (now - self->not_ready_since_ms >= (uint64_t) self->cfg->heartbeat_ms) {
        s_mark_waiting(self, why);
    }
    return false;
}

void
dots_engine_requeue(dots_engine_t *self)
{
    self->queued_from = 0;
    self->queued_gen++;
}

void
dots_engine_attention(dots_engine_t *self)
{
    self->has_attention = true;
}

void
dots_job_set_resume(dots_job_t *job)
{
    job->needs_resume = true;
    dots_engine_attention(job->eng); /* the next tick looks at it */
}

/* The jobs resumed (their gateway back, a restart) or given a PIN move on. Walks the
 * jobs only after dots_engine_attention, until none is left waiting for a slot. */
static void
s_attend(dots_engine_t *self)
{
    if (!self->has_attention) {
        return;
    }
    self->has_attention = false;
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        if (job->is_waiting) {
            self->has_attention |= job->needs_resume || job->has_pin;
            continue; /* its gateway is away */
        }
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
        self->has_attention |= job->has_pin;
    }
}

/* Queued jobs start while in-flight slots are free, in list order. The walk begins
 * where the last one found nothing queued before it (dots_engine_requeue resets it). */
static void
s_start_queued(dots_engine_t *self)
{
    uint64_t gen = self->queued_gen;
    bool is_prefix = true; /* jobs[queued_from .. i) hold no QUEUED job */
    for (size_t i = self->queued_from;
         i < self->n_jobs && self->in_flight < (size_t) self->cfg->max_in_flight; i++) {
        dots_job_t *job = self->jobs[i];
        if (job->dev.state == JOB_QUEUED && !job->is_waiting) {
            s_raise(job, EV_START);
        }
        if (self->queued_gen != gen) {
            return; /* a job was queued again meanwhile: the next walk starts at 0 */
        }
        is_prefix &= job->dev.state != JOB_QUEUED;
        if (is_prefix) {
            self->queued_from = i + 1;
        }
    }
}

void
dots_engine_tick(dots_engine_t *self)
{
    dots_peers_heartbeat(self);
    s_judge_suspects(self);
    dots_peers_check(self);
    if (!s_peers_ready(self)) {
        return;
    }
    s_retry_gw_failures(self);
    dots_recover_tick(self);
    s_attend(self);
    s_start_queued(self);
}

/* ------------------------------------------------------------------ operator API */

/* A discovery asks every gateway at once; the replies merge once all have come. */
typedef struct {
    dots_engine_t *eng;
    dots_discover_fn *fn;
    void *arg;
    size_t n_pending;                     /* gateways that have not answered yet */
    bool is_stopping;                     /* the engine went meanwhile */
    Obt__Gw__Reply *replies[CMN_GWS_MAX]; /* each gateway's, NULL if it failed */
    char errors[CMN_GWS_MAX][200];        /* why it failed ("" = it was not asked) */
} s_disc_ctx_t;

typedef struct {
    s_disc_ctx_t *dc;
    size_t i; /* the gateway's index */
} s_disc_part_t;

static dots_job_t *
s_find(const dots_engine_t *self, const char *uuid)
{
    return dots_index_find(self, uuid);
}

dots_job_t *
dots_engine_job(const dots_engine_t *self, const char *uuid)
{
    return s_find(self, uuid);
}

/* Several sources claimed the job's uuid: kept apart on the record, logged. */
static void
s_set_conflict(dots_job_t *job, const Obt__Gw__DiscoveredDevice *g)
{
    dots_disc_claim_t claims[DOTS_MAX_CLAIMS];
    size_t n = 0;
    for (size_t c = 0; c < g->n_claims && n < DOTS_MAX_CLAIMS; c++) {
        claims[n].source = g->claims[c]->source;
        claims[n].eps = (const char *const *) g->claims[c]->eps;
        claims[n++].n_eps = g->claims[c]->n_eps;
    }
    dots_disc_set_conflict(&job->dev, claims, n, g->n_claims);
    cmn_log_warn("DOTS-DISC-CONFLICT", "dev=%s %s", job->dev.uuid, job->dev.error);
}

/* What one discovery's merge counts over all gateways' replies. */
typedef struct {
    dots_discover_result_t res;
    unsigned over_new;   /* new devices past --discover-max-new */
    unsigned not_stored; /* devices whose record could not be written */
    cmn_err_t store_err;
    char (*added)[37];  /* uuids of the records this discovery made */
    dots_job_t **cands; /* --parts: dots_recover_candidates, gathered at the first need */
    size_t n_cands;
    bool has_cands;
} s_merge_t;

/* Merges one gateway's reply into the records: a device already reached through
 * another gateway keeps its first path (docs/discovery.md "Conflicts"). */
static void
s_merge_reply(dots_engine_t *self, cmn_gw_t *gw, const Obt__Gw__DiscoverReply *r, s_merge_t *m)
{
    const char *gw_name = cmn_gws_record_name(self->gws, gw);
    for (size_t i = 0; i < r->n_devices; i++) {
        const Obt__Gw__DiscoveredDevice *g = r->devices[i];
        cmn_doxm_t doxm;
        if (cmn_doxm_decode(g->doxm.data, g->doxm.len, &doxm) != CMN_OK || doxm.owned) {
            continue;
        }
        dots_job_t *job = s_find(self, g->uuid);
        cmn_gw_t *known_gw = job ? cmn_gws_find(self->gws, job->dev.gateway) : NULL;
        if (job && known_gw && known_gw != gw) {
            cmn_log_info("DOTS-DISC-PATH", "dev=%s also answers through gateway %s: kept on %s",
                         g->uuid, gw->name, known_gw->name);
            continue;
        }
        /* on one store (--parts) a device that reset stays with the instance that was
         * onboarding it (its recovering record shares an endpoint) */
        if (job == NULL && self->is_part_of_store && !m->has_cands) {
            m->n_cands = dots_recover_candidates(self, &m->cands); /* once: a walk of all */
            m->has_cands = true;
        }
        const char *lineage = job == NULL && self->is_part_of_store
                                      ? dots_recover_lineage(m->cands, m->n_cands,
                                                             (const char *const *) g->eps, g->n_eps)
                                      : NULL;
        if (job == NULL && lineage == NULL && self->vod_parts) {
            lineage = zhashx_lookup(self->vod_parts, g->uuid); /* a VOD follows its Bridge */
            lineage = lineage && s_serves(self, lineage) ? lineage : NULL; /* still ours */
        }
        if (job == NULL && lineage == NULL && !s_serves(self, g->uuid)) {
            m->res.other_partition++; /* another group's (docs/scaling.md) */
            continue;
        }
        if (job == NULL && self->is_part_of_store && dots_store_has(self->store, g->uuid)) {
            m->res.other_partition++; /* recorded by another instance on the store */
            continue;
        }
        m->res.found++;
        bool is_new = job == NULL;
        if (job == NULL) {
            if (m->res.added >= (unsigned) self->cfg->discover_max_new) {
                m->over_new++;
                continue;
            }
            dots_dev_t d;
            memset(&d, 0, sizeof d);
            (void) snprintf(d.uuid, sizeof d.uuid, "%s", g->uuid);
            (void) snprintf(d.first_uuid, sizeof d.first_uuid, "%s", g->uuid);
            (void) snprintf(d.part_uuid, sizeof d.part_uuid, "%s", lineage ? lineage : "");
            (void) snprintf(d.gateway, sizeof d.gateway, "%s", gw_name);
            d.state = JOB_DISCOVERED;
            d.oxmsel = -1;
            d.discovered_ms = cmn_time_wall_ms();
            job = s_add_job(self, &d, false);
            if (job == NULL) {
                continue;
            }
            m->res.added++;
        } else if (job->is_running) {
            continue;
        }
        if (known_gw == NULL) { /* a record of a gateway no longer listed: this one now */
            (void) snprintf(job->dev.gateway, sizeof job->dev.gateway, "%s", gw_name);
        }
        if (g->n_claims > 1) {
            s_set_conflict(job, g);
            m->res.conflicts++;
        } else if (!dots_disc_has_conflict(&job->dev)) {
            /* a conflict stays until the operator picks a claim */
            dots_disc_merge_eps(&job->dev, (const char *const *) g->eps, g->n_eps);
        }
        job->dev.n_oxms = 0;
        for (size_t o = 0; o < doxm.n_oxms && o < DOTS_MAX_OXMS; o++) {
            job->dev.oxms[job->dev.n_oxms++] = doxm.oxms[o];
        }
        job->dev.sct = doxm.sct;
        cmn_err_t serr = s_store(job, false);
        if (serr != CMN_OK) {
            /* the view never claims what is not stored: a record this discovery made
             * goes again (a known one keeps its job; only its new endpoints are lost) */
            m->store_err = serr;
            m->not_stored++;
            if (is_new) {
                dots_engine_remove(self, g->uuid);
                m->res.added--;
            }
            continue;
        }
        bool is_taken_over = false;
        if (is_new) {
            (void) snprintf(m->added[m->res.added - 1], sizeof m->added[0], "%s", g->uuid);
            is_taken_over = dots_recover_on_new(self, job);
        }
        if (!is_taken_over && self->cfg->auto_approve && job->dev.state == JOB_DISCOVERED &&
            !dots_disc_has_conflict(&job->dev)) {
            s_raise(job, EV_APPROVE);
        }
    }
}

#define S_DISC_MAX_LIMITS 8 /* lines of limits one discovery reports */

/* Every gateway has answered (or failed): the replies merge, in --gateway order. */
static void
s_on_all_discovered(s_disc_ctx_t *dc)
{
    dots_engine_t *self = dc->eng;
    size_t n_gws = cmn_gws_count(self->gws);
    size_t n_ok = 0, n_devices = 0, first_failed = n_gws;
    for (size_t g = 0; g < n_gws; g++) {
        if (dc->replies[g]) {
            n_ok++;
            n_devices += dc->replies[g]->discover->n_devices;
        } else if (first_failed == n_gws) {
            first_failed = g;
        }
    }
    if (n_ok == 0) {
        dc->fn(dc->arg, CMN_EIO, dc->errors[first_failed], NULL);
        return;
    }
    s_merge_t m;
    memset(&m, 0, sizeof m);
    /* The discovery's records are one group of their own (what the pass wrote before
     * goes first), committed before the answer: its outcome is the discovery's. */
    (void) dots_store_flush(self->store);
    m.added = calloc(n_devices + 1, sizeof *m.added);
    if (m.added == NULL) {
        dc->fn(dc->arg, CMN_ENOMEM, NULL, NULL);
        return;
    }
    for (size_t g = 0; g < n_gws; g++) {
        if (dc->replies[g]) {
            s_merge_reply(self, cmn_gws_at(self->gws, g), dc->replies[g]->discover, &m);
        }
    }
    free(m.cands);
    cmn_err_t ferr = dots_store_flush(self->store);
    if (ferr != CMN_OK) { /* none of them is stored: none stays listed */
        m.store_err = ferr;
        m.not_stored = m.res.found;
        for (unsigned a = 0; a < m.res.added; a++) {
            dots_engine_remove(self, m.added[a]);
        }
        m.res.added = 0;
    }
    free(m.added);
    char line[200];
    const char *limits[S_DISC_MAX_LIMITS];
    size_t n_limits = 0;
    unsigned dropped = 0;
    for (size_t g = 0; g < n_gws; g++) {
        const Obt__Gw__DiscoverReply *r = dc->replies[g] ? dc->replies[g]->discover : NULL;
        if (r == NULL && dc->errors[g][0] && n_limits < S_DISC_MAX_LIMITS - 1) {
            limits[n_limits++] = dc->errors[g]; /* one gateway failed: the others' results */
        }
        for (size_t l = 0; r && l < r->n_limits && n_limits < S_DISC_MAX_LIMITS - 1; l++) {
            limits[n_limits++] = r->limits[l];
        }
        dropped += r ? r->dropped : 0;
    }
    if (m.over_new > 0) {
        (void) snprintf(line, sizeof line,
                        "%u devices dropped: limit %d new records per discovery "
                        "(obt-dots --discover-max-new)",
                        m.over_new, self->cfg->discover_max_new);
        limits[n_limits++] = line;
        cmn_log_warn("DOTS-DISC-LIMIT", "%s", line);
    }
    m.res.dropped = dropped + m.over_new;
    m.res.limits = limits;
    m.res.n_limits = n_limits;
    cmn_log_notice("DOTS-DISCOVERED",
                   "found=%u new=%u conflicts=%u dropped=%u other_partition=%u gateways=%zu/%zu",
                   m.res.found, m.res.added, m.res.conflicts, m.res.dropped, m.res.other_partition,
                   n_ok, n_gws);
    if (m.not_stored > 0) {
        char why[300];
        (void) snprintf(why, sizeof why,
                        "%u of %u devices found could not be recorded in \"%s\": %s (%u "
                        "recorded)",
                        m.not_stored, m.res.found, self->cfg->store_dir, cmn_strerror(m.store_err),
                        m.res.added);
        cmn_log_err("DOTS-DISC-STORE", "%s", why);
        dc->fn(dc->arg, m.store_err, why, NULL);
        return;
    }
    dc->fn(dc->arg, CMN_OK, NULL, &m.res);
}

static void
s_on_discovered(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_disc_part_t *part = arg;
    s_disc_ctx_t *dc = part->dc;
    size_t g = part->i;
    free(part);
    if (!dots_call_returned(dc->eng)) {
        dc->is_stopping = true; /* the engine may be gone: touch nothing of it */
    } else {
        const char *name = cmn_gws_at(dc->eng->gws, g)->name;
        Obt__Gw__Reply *r = err == CMN_OK ? obt__gw__reply__unpack(NULL, len, data) : NULL;
        if (r && r->status == OBT__STATUS__STATUS_OK &&
            r->body_case == OBT__GW__REPLY__BODY_DISCOVER) {
            dc->replies[g] = r;
        } else {
            (void) snprintf(dc->errors[g], sizeof dc->errors[g], "gateway %s: %s", name,
                            r && r->error[0] ? r->error
                            : err != CMN_OK  ? cmn_strerror(err)
                                             : "did not answer the discovery");
            cmn_log_warn("DOTS-DISC-GW", "%s", dc->errors[g]);
            if (r) {
                obt__gw__reply__free_unpacked(r, NULL);
            }
        }
    }
    if (--dc->n_pending > 0) {
        return;
    }
    if (dc->is_stopping) {
        dc->fn(dc->arg, CMN_EIO, "DOTS is stopping", NULL); /* the service answers the caller */
    } else {
        s_on_all_discovered(dc);
    }
    for (size_t i = 0; i < CMN_GWS_MAX; i++) {
        if (dc->replies[i]) {
            obt__gw__reply__free_unpacked(dc->replies[i], NULL);
        }
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
    /* Rounds, /oic/res, unicast /oic/res: one window each (at most 20 rounds). */
    unsigned rounds = opts->rounds ? (opts->rounds < 20 ? opts->rounds : 20) : 20;
    cmn_err_t err = CMN_OK;
    /* Every gateway at once; replies are merged once the last has come (or failed). */
    for (size_t g = 0; g < cmn_gws_count(self->gws); g++) {
        s_disc_part_t *part = calloc(1, sizeof *part);
        if (part == NULL) {
            err = CMN_ENOMEM;
            break;
        }
        part->dc = dc;
        part->i = g;
        req.corr_id = cmn_bus_next_corr_id();
        dc->n_pending++;
        cmn_err_t serr = dots_call(self, cmn_gws_at(self->gws, g)->calls, &req.base, req.corr_id,
                                   d.window_ms * (rounds + 2) + 5000, s_on_discovered, part);
        if (serr != CMN_OK) {
            dc->n_pending--;
            free(part);
            err = serr;
            (void) snprintf(dc->errors[g], sizeof dc->errors[g], "gateway %s: cannot ask: %s",
                            cmn_gws_at(self->gws, g)->name, cmn_strerror(serr));
        }
    }
    if (dc->n_pending == 0) {
        free(dc);
        return err != CMN_OK ? err : CMN_EIO;
    }
    return CMN_OK;
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
        if (dots_disc_has_conflict(&job->dev) &&
            (s == JOB_DISCOVERED || s == JOB_APPROVED || (s == JOB_FAILED && !job->dev.owned))) {
            /* named or not: the operator must see it (docs/discovery.md "Conflicts") */
            s_skip(ret_skipped, ret_n_skipped, job->dev.uuid, job->dev.error);
            continue;
        }
        if (approve) {
            if (s == JOB_FAILED && job->dev.superseded_by[0]) {
                if (!all) {
                    s_skip(ret_skipped, ret_n_skipped, job->dev.uuid,
                           "superseded: the device answers under another uuid");
                }
            } else if (s == JOB_DISCOVERED || (s == JOB_FAILED && !job->dev.approved)) {
                s_raise(job, EV_APPROVE);
                count++;
            } else if (!all) {
                s_skip(ret_skipped, ret_n_skipped, job->dev.uuid,
                       job->dev.approved ? "already approved" : "not awaiting approval");
            }
            continue;
        }
        bool is_superseded = s == JOB_FAILED && job->dev.superseded_by[0];
        /* Failed with nothing lasting done: GET_DOXM checks again that the device
         * answers under the same uuid (else the record is marked superseded). */
        bool is_retry = s == JOB_FAILED && job->dev.approved && !job->dev.owned && !is_superseded &&
                        s_info(job->dev.step)->is_retry_from_start;
        if (is_superseded) {
            if (!all) {
                char why[160];
                (void) snprintf(why, sizeof why,
                                "superseded: the device reset and answers as %s (onboard that; "
                                "obtctl forget drops this record)",
                                job->dev.superseded_by);
                s_skip(ret_skipped, ret_n_skipped, job->dev.uuid, why);
            }
        } else if (s == JOB_APPROVED || is_retry) {
            job->dev.recover_attempts = 0; /* the operator's attempt: a fresh budget */
            job->dev.recover_at_ms = 0;
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
        } else if (s == JOB_FAILED && job->dev.owned && s_info(job->dev.step)->is_resumable) {
            job->dev.state = job->dev.step; /* re-enter the step that failed */
            s_raise(job, EV_RESUME);
            count++;
        } else if (s == JOB_FAILED && job->dev.approved) {
            s_skip(ret_skipped, ret_n_skipped, job->dev.uuid,
                   job->dev.recover_at_ms
                           ? "failed before ownership: DOTS retries it by itself once the "
                             "device has reset (or: discover it again, it resets to a new UUID)"
                           : "failed before ownership: discover it again (it resets to a new "
                             "UUID)");
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
dots_engine_approve_endpoint(
        dots_engine_t *self, const char *uuid, const char *endpoint, char *error, size_t error_len)
{
    dots_job_t *job = s_find(self, uuid);
    if (job == NULL) {
        (void) snprintf(error, error_len, "%s: unknown device", uuid);
        return CMN_ENOTFOUND;
    }
    int s = job->dev.state;
    if (!dots_disc_has_conflict(&job->dev) || job->dev.maint != 0 || job->is_running ||
        !(s == JOB_DISCOVERED || s == JOB_APPROVED || (s == JOB_FAILED && !job->dev.owned))) {
        (void) snprintf(error, error_len,
                        "%s: not claimed by several endpoints (--endpoint picks a claim of a "
                        "conflict; docs/discovery.md)",
                        uuid);
        return CMN_ESTATE;
    }
    if (dots_disc_pick(&job->dev, endpoint) != CMN_OK) {
        (void) snprintf(error, error_len, "%s: no claim has endpoint %s (see obtctl show %s)", uuid,
                        endpoint, uuid);
        return CMN_ENOTFOUND;
    }
    cmn_log_notice("DOTS-DISC-PICKED", "dev=%s operator kept the claim of %s", job->dev.uuid,
                   endpoint);
    if (s == JOB_APPROVED) {
        (void) s_store(job, false);
        return CMN_OK;
    }
    s_raise(job, EV_APPROVE);
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
    dots_engine_attention(self);
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

bool
dots_engine_other_part(const dots_engine_t *self, const char *uuid, char *why, size_t why_len)
{
    if (self->partition.g <= 1 || s_serves(self, uuid)) {
        return false;
    }
    char mine[200];
    if (self->is_part_of_store) {
        dots_parts_format(self->part_mask, self->partition.g, mine, sizeof mine);
    } else {
        (void) snprintf(mine, sizeof mine, "%u/%u", self->partition.k, self->partition.g);
    }
    (void) snprintf(why, why_len,
                    "it is of part %d/%u, another DOTS %s's (this one serves %s: obt-dots %s)",
                    dots_partition_of(uuid, self->partition.g), self->partition.g,
                    self->is_part_of_store ? "instance" : "group", mine,
                    self->is_part_of_store ? "--parts" : "--partition");
    return true;
}

/* The part (--parts) of a job's device. */
static int
s_part_of(const dots_engine_t *self, const dots_job_t *job)
{
    return dots_partition_of(dots_dev_part_uuid(&job->dev), self->partition.g);
}

bool
dots_engine_part_is_quiet(const dots_engine_t *self, int part)
{
    if (!self->is_part_of_store || self->n_calls > 0 || self->rediscover != NULL) {
        return false; /* a reply may still come for one of its jobs */
    }
    for (size_t i = 0; i < self->n_jobs; i++) {
        const dots_job_t *job = self->jobs[i];
        int s = job->dev.state;
        bool is_idle =
                !job->is_running && !job->needs_resume && !job->has_pin && !job->is_waiting &&
                job->dev.recover_at_ms == 0 &&
                (job->dev.maint == MAINT_NONE || job->dev.maint == MAINT_RESET_PENDING ||
                 job->dev.maint == MAINT_REPAIR_FAILED) &&
                !dots_bridge_is_pending(job->dev.bridge) &&
                (s == JOB_DISCOVERED || s == JOB_APPROVED || s == JOB_RFNOP || s == JOB_FAILED);
        if (!is_idle && s_part_of(self, job) == part) {
            return false;
        }
    }
    return true;
}

void
dots_engine_drop_part(dots_engine_t *self, int part)
{
    if (!self->is_part_of_store || part < 0 || part >= 64) {
        return;
    }
    self->part_mask &= ~((uint64_t) 1 << part);
    size_t kept = 0, n0 = self->n_jobs;
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_job_t *job = self->jobs[i];
        if (s_part_of(self, job) == part) {
            OPENSSL_cleanse(&job->secret, sizeof job->secret);
            free(job);
        } else {
            self->jobs[kept++] = job;
        }
    }
    self->n_jobs = kept;
    dots_index_rebuild(self);
    dots_engine_requeue(self);
    cmn_log_notice("DOTS-HANDBACK", "part %d/%u: %zu device record(s) left to its next instance",
                   part, self->partition.g, n0 - kept);
}

void
dots_engine_expect_vods(dots_engine_t *self, const dots_dev_t *bridge)
{
    if (!self->is_part_of_store || bridge->n_vods == 0) {
        return;
    }
    if (self->vod_parts == NULL) {
        self->vod_parts = zhashx_new();
        if (self->vod_parts == NULL) {
            return; /* the VODs of another part are then left to its instance */
        }
        zhashx_set_destructor(self->vod_parts, (zhashx_destructor_fn *) zstr_free);
        zhashx_set_duplicator(self->vod_parts, (zhashx_duplicator_fn *) strdup);
    }
    char part_uuid[sizeof bridge->part_uuid];
    (void) snprintf(part_uuid, sizeof part_uuid, "%s", dots_dev_part_uuid(bridge));
    for (size_t i = 0; i < bridge->n_vods && i < DOTS_MAX_VODS; i++) {
        (void) zhashx_insert(self->vod_parts, bridge->vods[i], part_uuid); /* copied */
    }
}

cmn_err_t
dots_engine_add_part(dots_engine_t *self, int part)
{
    if (!self->is_part_of_store || part < 0 || (unsigned) part >= self->partition.g ||
        ((self->part_mask >> part) & 1u)) {
        return CMN_EINVAL;
    }
    self->part_mask |= (uint64_t) 1 << part;
    size_t from = self->n_jobs;
    self->loading_part = part;
    cmn_err_t err = dots_store_each(self->store, s_load_one, self);
    self->loading_part = -1;
    if (self->n_jobs - from > 1) {
        qsort(self->jobs + from, self->n_jobs - from, sizeof *self->jobs, s_cmp_jobs);
        dots_index_rebuild(self);
    }
    cmn_log_notice("DOTS-ADOPT", "part %d/%u: %zu device record(s) loaded", part, self->partition.g,
                   self->n_jobs - from);
    s_restart_jobs(self, from, "interrupted: the instance serving its part stopped");
    return err;
}

size_t
dots_engine_in_flight(const dots_engine_t *self)
{
    return self->in_flight;
}

const char *
dots_engine_d_endpoint(const dots_engine_t *self)
{
    return cmn_gws_at(self->gws, 0)->d_endpoint;
}

cmn_gws_t *
dots_engine_gws(const dots_engine_t *self)
{
    return self->gws;
}

cmn_calls_t *
dots_job_gw(const dots_job_t *job, char *why, size_t why_len)
{
    cmn_gw_t *gw = cmn_gws_find(job->eng->gws, job->dev.gateway);
    if (gw == NULL) {
        (void) snprintf(why, why_len, "its gateway \"%s\" is not in --gateway", job->dev.gateway);
        return NULL;
    }
    return gw->calls;
}

dots_events_t *
dots_engine_events(const dots_engine_t *self)
{
    return self->events;
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
            dots_index_rebuild(self);
            dots_engine_requeue(self);
            return;
        }
    }
}
