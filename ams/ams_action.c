/* ams_action.c — AMS's own requests as persisted jobs (clause 5.5, 13.5 of ISO/IEC
 * 30118-2): read acl2; add, change or remove one ACE; remove what was allowed to a
 * subject. A job reads acl2, moves the device to RFPRO (ACEs are not writable in
 * RFNOP), writes, moves it back to RFNOP, reads acl2 again and records what AMS placed
 * (device, aceid, ACE, origin) with the device's record. Every run starts from the
 * read, so a job resumed after a kill -9 finds what the killed run did: an ACE it had
 * added is recognised (same subject, resources, permission, validity) and adopted,
 * an ACE it had removed is gone, and the device goes back to RFNOP either way. */
#include "ams_action.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ams_acl.h"
#include "ams_policy.h"
#include "cmn_dispatch.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "cmn_uuid.h"
#include "obt/ams.pb-c.h"

typedef enum {
    PH_READ = 0, /* GET acl2, plan */
    PH_RFPRO,    /* POST pstat dos.s=2 */
    PH_WRITE,    /* POST the ACE, or DELETE ?aceid= each */
    PH_RFNOP,    /* POST pstat dos.s=3 */
    PH_VERIFY,   /* GET acl2: the result, recorded */
    PH_D,        /* apply/diff: GET /oic/d (its rt), then */
    PH_RES,      /* GET /oic/res (the rt of its resources), then PH_READ */
} s_phase_t;

static const char *const s_phase_names[] = {"GET acl2",    "RFPRO",      "write acl2",  "RFNOP",
                                            "verify acl2", "GET /oic/d", "GET /oic/res"};

#define S_MAX_RTS AMS_MAX_TYPES

#define S_MAX_DELETES 32

typedef struct {
    s_phase_t phase;
    Obt__Ams__Request *req; /* the action (unpacked from job->action) */
    cmn_ace_t ace;          /* add/set: the ACE to place (aceid filled by the plan) */
    bool has_write;         /* add/set: POST ace; else the deletes */
    bool is_present;        /* add: an equal ACE was already there (a resumed run) */
    int64_t deletes[S_MAX_DELETES];
    size_t n_deletes;
    size_t idx;       /* position in deletes */
    int refused_code; /* the device refused the write: its code (finish after RFNOP) */
    /* apply/diff (policy) */
    char rts[S_MAX_RTS][48]; /* the device's types: rt of /oic/d and /oic/res */
    size_t n_rts;
    cmn_ace_t *adds;    /* policy ACEs to POST, aceids assigned (AMS_POLICY_MAX_ACES, malloc'd) */
    size_t n_adds;      /* how many */
    bool is_adds_sent;  /* the POST of adds is done; the deletes follow */
    cmn_ace_t *removes; /* the policy ACEs the deletes remove (S_MAX_DELETES, malloc'd) */
} s_work_t;

/* The policy file (owned; NULL: none). */
static ams_policy_t *s_policy;

void
ams_action_set_policy(ams_policy_t **policy_p)
{
    ams_policy_destroy(&s_policy);
    if (policy_p) {
        s_policy = *policy_p;
        *policy_p = NULL;
    }
}

bool
ams_action_has_policy(void)
{
    return s_policy != NULL;
}

_Static_assert(sizeof(s_work_t) <= AMS_ACTION_WORK_SIZE, "AMS_ACTION_WORK_SIZE too small");

static void s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r);

static const char *
s_device_uuid(const Obt__Ams__Request *req)
{
    switch (req->body_case) {
    case OBT__AMS__REQUEST__BODY_ACL_READ:
        return req->acl_read->device_uuid;
    case OBT__AMS__REQUEST__BODY_ACL_ADD:
        return req->acl_add->device_uuid;
    case OBT__AMS__REQUEST__BODY_ACL_REMOVE:
        return req->acl_remove->device_uuid;
    case OBT__AMS__REQUEST__BODY_ACL_SET:
        return req->acl_set->device_uuid;
    case OBT__AMS__REQUEST__BODY_ACL_DENY:
        return req->acl_deny->device_uuid;
    case OBT__AMS__REQUEST__BODY_ACL_APPLY:
        return req->acl_apply->device_uuid;
    default:
        return NULL;
    }
}

/* The one ACE of an acl2 CBOR {"aclist2":[ACE]}; CMN_EINVAL if not exactly one. */
static cmn_err_t
s_one_ace(const ProtobufCBinaryData *b, cmn_ace_t *ret)
{
    cmn_acl_t acl;
    if (cmn_acl_decode(b->data, b->len, &acl) != CMN_OK) {
        return CMN_EINVAL;
    }
    cmn_err_t err = acl.n_aces == 1 && acl.aces[0].n_resources > 0 ? CMN_OK : CMN_EINVAL;
    if (err == CMN_OK) {
        *ret = acl.aces[0];
    }
    cmn_acl_free(&acl);
    return err;
}

typedef struct {
    cmn_dispatch_row_t head;
} s_row_t;

static const s_row_t s_rows[] = {
        {{OBT__AMS__REQUEST__BODY_ACL_READ, "acl_read", CMN_PARTY_OPERATOR}},
        {{OBT__AMS__REQUEST__BODY_ACL_ADD, "acl_add", CMN_PARTY_OPERATOR}},
        {{OBT__AMS__REQUEST__BODY_ACL_REMOVE, "acl_remove", CMN_PARTY_OPERATOR}},
        {{OBT__AMS__REQUEST__BODY_ACL_SET, "acl_set", CMN_PARTY_OPERATOR}},
        {{OBT__AMS__REQUEST__BODY_ACL_DENY, "acl_deny", CMN_PARTY_OPERATOR}},
        {{OBT__AMS__REQUEST__BODY_ACL_APPLY, "acl_apply", CMN_PARTY_OPERATOR}},
};

void
ams_action_own(cmn_svc_t *svc,
               zframe_t *peer,
               const cmn_caller_t *caller,
               const uint8_t *data,
               size_t len,
               void *arg)
{
    (void) arg;
    char error[300] = "";
    Obt__Ams__Request *req = obt__ams__request__unpack(NULL, len, data);
    if (req == NULL) {
        cmn_svc_answer(svc, peer, cmn_bus_peek_corr_id(data, len), CMN_EPROTO,
                       "request does not unpack as obt.ams.Request", 0, NULL);
        return;
    }
    const cmn_dispatch_row_t *row = NULL;
    cmn_err_t err =
            cmn_dispatch_check("obt-ams", s_rows, sizeof s_rows / sizeof s_rows[0],
                               sizeof s_rows[0], req->body_case, caller, error, sizeof error, &row);
    const char *uuid = err == CMN_OK ? s_device_uuid(req) : NULL;
    cmn_uuid_t u;
    cmn_ace_t ace;
    if (err == CMN_OK && (uuid == NULL || cmn_uuid_from_str(uuid, &u) != CMN_OK)) {
        err = CMN_EINVAL;
        (void) snprintf(error, sizeof error, "device_uuid: not a UUID");
    } else if (err == CMN_OK && ((req->body_case == OBT__AMS__REQUEST__BODY_ACL_ADD &&
                                  s_one_ace(&req->acl_add->ace, &ace) != CMN_OK) ||
                                 (req->body_case == OBT__AMS__REQUEST__BODY_ACL_SET &&
                                  s_one_ace(&req->acl_set->ace, &ace) != CMN_OK))) {
        err = CMN_EINVAL;
        (void) snprintf(error, sizeof error, "ace: not an acl2 CBOR with exactly one ACE");
    } else if (err == CMN_OK && req->body_case == OBT__AMS__REQUEST__BODY_ACL_DENY &&
               cmn_uuid_from_str(req->acl_deny->subject_uuid, &u) != CMN_OK) {
        err = CMN_EINVAL;
        (void) snprintf(error, sizeof error, "subject_uuid: not a UUID");
    } else if (err == CMN_OK &&
               ((req->body_case == OBT__AMS__REQUEST__BODY_ACL_REMOVE &&
                 req->acl_remove->aceid == 0) ||
                (req->body_case == OBT__AMS__REQUEST__BODY_ACL_SET && req->acl_set->aceid == 0))) {
        err = CMN_EINVAL;
        (void) snprintf(error, sizeof error, "aceid: must be 1 or more");
    } else if (err == CMN_OK && req->body_case == OBT__AMS__REQUEST__BODY_ACL_APPLY &&
               s_policy == NULL) {
        err = CMN_ESTATE;
        (void) snprintf(error, sizeof error, "no policy: obt-ams was started without --policy");
    }
    if (err != CMN_OK) {
        cmn_log_info("AMS-ACTION-REFUSED", "from \"%s\": %s", caller->name, error);
        cmn_svc_answer(svc, peer, req->corr_id, err, error, 0, NULL);
    } else {
        cmn_svc_job_action(svc, peer, req->corr_id, uuid, data, len);
    }
    obt__ams__request__free_unpacked(req, NULL);
}

void
ams_action_send(cmn_svc_job_t *job,
                const char *step,
                int method,
                const char *path,
                const char *query,
                const cmn_acl_t *acl,
                const cmn_pstat_t *ps,
                cmn_svc_reply_fn *fn)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cmn_err_t err = acl  ? cmn_acl_encode(acl, &buf, &len)
                    : ps ? cmn_pstat_encode(ps, &buf, &len)
                         : CMN_OK;
    if (err != CMN_OK) {
        char why[96];
        (void) snprintf(why, sizeof why, "%s: cannot encode: %s", step, cmn_strerror(err));
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    cmn_svc_job_coap(job, step, method, path, query, buf, len, fn);
    free(buf);
}

static void
s_send(cmn_svc_job_t *job,
       int method,
       const char *path,
       const char *query,
       const cmn_acl_t *acl,
       const cmn_pstat_t *ps)
{
    s_work_t *w = job->work;
    ams_action_send(job, s_phase_names[w->phase], method, path, query, acl, ps, s_on_reply);
}

static void
s_next(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    char query[32];
    switch (w->phase) {
    case PH_READ:
    case PH_VERIFY:
        s_send(job, OBT__GW__METHOD__METHOD_GET, "/oic/sec/acl2", NULL, NULL, NULL);
        return;
    case PH_D:
        s_send(job, OBT__GW__METHOD__METHOD_GET, "/oic/d", NULL, NULL, NULL);
        return;
    case PH_RES:
        s_send(job, OBT__GW__METHOD__METHOD_GET, "/oic/res", NULL, NULL, NULL);
        return;
    case PH_RFPRO:
    case PH_RFNOP: {
        cmn_pstat_t ps = {.present = CMN_PSTAT_HAS_DOS,
                          .dos_s = w->phase == PH_RFPRO ? CMN_DOS_RFPRO : CMN_DOS_RFNOP};
        s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/pstat", NULL, NULL, &ps);
        return;
    }
    case PH_WRITE:
        if (w->n_adds > 0 && !w->is_adds_sent) {
            cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2, .aces = w->adds, .n_aces = w->n_adds};
            s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/acl2", NULL, &acl, NULL);
            return;
        }
        if (w->has_write) {
            cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2, .aces = &w->ace, .n_aces = 1};
            s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/acl2", NULL, &acl, NULL);
            return;
        }
        (void) snprintf(query, sizeof query, "aceid=%lld", (long long) w->deletes[w->idx]);
        s_send(job, OBT__GW__METHOD__METHOD_DELETE, "/oic/sec/acl2", query, NULL, NULL);
        return;
    }
}

static const cmn_ace_t *
s_find(const cmn_acl_t *acl, int64_t aceid)
{
    for (size_t i = 0; i < acl->n_aces; i++) {
        if (acl->aces[i].aceid == aceid) {
            return &acl->aces[i];
        }
    }
    return NULL;
}

static bool
s_is_policy(const Obt__AmsPlacedAce *e)
{
    return e->origin && strcmp(e->origin, "policy") == 0;
}

/* Whether entry e of the record is AMS's policy ACE as the device holds it: origin
 * policy, and the device's ACE of that aceid is the recorded one. */
static const cmn_ace_t *
s_own_policy_ace(const Obt__AmsPlacedAce *e, const cmn_acl_t *acl)
{
    cmn_ace_t placed;
    const cmn_ace_t *on = s_find(acl, e->aceid);
    if (!s_is_policy(e) || on == NULL || s_one_ace(&e->ace, &placed) != CMN_OK ||
        !ams_acl_ace_eq(on, &placed)) {
        return NULL;
    }
    return on;
}

/* apply/diff: what the policy wants for the device's types against its acl2. Policy
 * ACEs AMS placed that the policy no longer wants (or holds twice) are removed; a
 * wanted ACE no equal ACE on the device stands for is added with the next free
 * aceid. Every other ACE (operator's, allow, baseline, foreign) is left alone. */
static cmn_err_t
s_plan_policy(cmn_svc_job_t *job,
              const cmn_acl_t *acl,
              const Obt__ServiceDevice *rec,
              char *why,
              size_t why_len)
{
    s_work_t *w = job->work;
    bool is_claimed[AMS_POLICY_MAX_ACES] = {false};
    const char *rts[S_MAX_RTS];
    if (s_policy == NULL) {
        /* a job persisted by a run with --policy, resumed by one without */
        (void) snprintf(why, why_len, "no policy: obt-ams was started without --policy");
        return CMN_ESTATE;
    }
    cmn_ace_t *wanted = calloc(AMS_POLICY_MAX_ACES, sizeof *wanted);
    w->adds = w->adds ? w->adds : calloc(AMS_POLICY_MAX_ACES, sizeof *w->adds);
    w->removes = w->removes ? w->removes : calloc(S_MAX_DELETES, sizeof *w->removes);
    if (wanted == NULL || w->adds == NULL || w->removes == NULL) {
        free(wanted);
        (void) snprintf(why, why_len, "out of memory");
        return CMN_ENOMEM;
    }
    for (size_t i = 0; i < w->n_rts; i++) {
        rts[i] = w->rts[i];
    }
    size_t n_wanted = ams_policy_match(s_policy, rts, w->n_rts, wanted, AMS_POLICY_MAX_ACES);
    w->n_adds = 0;
    for (size_t i = 0; i < rec->n_ams_placed; i++) {
        const cmn_ace_t *on = s_own_policy_ace(rec->ams_placed[i], acl);
        bool is_wanted = false;
        for (size_t k = 0; on && k < n_wanted && !is_wanted; k++) {
            is_wanted = !is_claimed[k] && ams_acl_ace_eq(on, &wanted[k]);
            is_claimed[k] = is_claimed[k] || is_wanted;
        }
        if (on && !is_wanted && w->n_deletes < S_MAX_DELETES) {
            w->removes[w->n_deletes] = *on;
            w->deletes[w->n_deletes++] = on->aceid;
        }
    }
    int64_t next = 1;
    for (size_t i = 0; i < acl->n_aces; i++) {
        next = acl->aces[i].aceid >= next ? acl->aces[i].aceid + 1 : next;
    }
    for (size_t k = 0; k < n_wanted; k++) {
        bool is_present = is_claimed[k];
        for (size_t i = 0; i < acl->n_aces && !is_present; i++) {
            is_present = ams_acl_ace_eq(&acl->aces[i], &wanted[k]);
        }
        if (!is_present) {
            w->adds[w->n_adds] = wanted[k];
            w->adds[w->n_adds++].aceid = next++;
        }
    }
    free(wanted);
    cmn_log_info("AMS-POLICY-PLAN", "dev=%s types=%zu wanted=%zu add=%zu remove=%zu%s",
                 job->head.uuid, w->n_rts, n_wanted, w->n_adds, w->n_deletes,
                 w->req->acl_apply->dry_run ? " (diff)" : "");
    return CMN_OK;
}

/* The plan from the device's acl2 (PH_READ). CMN_OK to go on; *ret_done when nothing
 * is to be written. */
static cmn_err_t
s_plan(cmn_svc_job_t *job,
       const cmn_acl_t *acl,
       const Obt__ServiceDevice *rec,
       char *why,
       size_t why_len,
       bool *ret_done)
{
    s_work_t *w = job->work;
    const Obt__Ams__Request *req = w->req;
    *ret_done = false;
    w->has_write = false;
    w->is_present = false;
    w->n_deletes = 0;
    switch (req->body_case) {
    case OBT__AMS__REQUEST__BODY_ACL_READ:
        *ret_done = true;
        return CMN_OK;
    case OBT__AMS__REQUEST__BODY_ACL_ADD: {
        (void) s_one_ace(&req->acl_add->ace, &w->ace);
        int64_t next = 1;
        for (size_t i = 0; i < acl->n_aces; i++) {
            if (ams_acl_ace_eq(&acl->aces[i], &w->ace)) {
                w->ace.aceid = acl->aces[i].aceid; /* already there: adopt it */
                w->is_present = true;
            }
            next = acl->aces[i].aceid >= next ? acl->aces[i].aceid + 1 : next;
        }
        if (!w->is_present) {
            w->ace.aceid = next;
            w->has_write = true;
        }
        return CMN_OK;
    }
    case OBT__AMS__REQUEST__BODY_ACL_SET:
        (void) s_one_ace(&req->acl_set->ace, &w->ace);
        w->ace.aceid = req->acl_set->aceid;
        if (s_find(acl, w->ace.aceid) == NULL) {
            (void) snprintf(why, why_len, "the device has no ACE %u", req->acl_set->aceid);
            return CMN_ENOTFOUND;
        }
        w->has_write = true;
        return CMN_OK;
    case OBT__AMS__REQUEST__BODY_ACL_REMOVE: {
        bool is_placed = false;
        for (size_t i = 0; i < rec->n_ams_placed; i++) {
            is_placed = is_placed || rec->ams_placed[i]->aceid == req->acl_remove->aceid;
        }
        if (s_find(acl, req->acl_remove->aceid) != NULL) {
            w->deletes[w->n_deletes++] = req->acl_remove->aceid;
        } else if (!is_placed) {
            (void) snprintf(why, why_len, "the device has no ACE %u", req->acl_remove->aceid);
            return CMN_ENOTFOUND;
        }
        return CMN_OK; /* (gone already: a resumed run; the record follows) */
    }
    case OBT__AMS__REQUEST__BODY_ACL_APPLY: {
        cmn_err_t err = s_plan_policy(job, acl, rec, why, why_len);
        /* a resumed run passes through RFPRO and RFNOP even with nothing to write: the
         * killed run may have left the device in RFPRO */
        *ret_done = err == CMN_OK && (req->acl_apply->dry_run ||
                                      (w->n_adds == 0 && w->n_deletes == 0 && !job->is_resumed));
        return err;
    }
    case OBT__AMS__REQUEST__BODY_ACL_DENY: {
        cmn_uuid_t subject;
        (void) cmn_uuid_from_str(req->acl_deny->subject_uuid, &subject);
        for (size_t i = 0; i < rec->n_ams_placed && w->n_deletes < S_MAX_DELETES; i++) {
            cmn_ace_t placed;
            const cmn_ace_t *on = s_find(acl, rec->ams_placed[i]->aceid);
            if (s_one_ace(&rec->ams_placed[i]->ace, &placed) == CMN_OK &&
                placed.subject_kind == CMN_ACE_SUBJECT_UUID &&
                cmn_uuid_eq(&placed.subject_uuid, &subject) && on != NULL) {
                w->deletes[w->n_deletes++] = rec->ams_placed[i]->aceid;
            }
        }
        return CMN_OK;
    }
    default:
        (void) snprintf(why, why_len, "unknown action");
        return CMN_EPROTO;
    }
}

/* Whether placed entry e stays in the record after this job (VERIFY). */
static bool
s_keeps(const s_work_t *w, const Obt__AmsPlacedAce *e, const cmn_acl_t *acl)
{
    if (s_find(acl, e->aceid) == NULL) {
        return false; /* not on the device any more: the record follows the device */
    }
    if (s_is_policy(e) && s_own_policy_ace(e, acl) == NULL) {
        return false; /* an intent of a run killed before it wrote (s_save_intent) */
    }
    if ((w->req->body_case == OBT__AMS__REQUEST__BODY_ACL_ADD ||
         w->req->body_case == OBT__AMS__REQUEST__BODY_ACL_SET) &&
        e->aceid == (uint32_t) w->ace.aceid) {
        return false; /* replaced by this job's entry */
    }
    return true;
}

/* Entries of origin "policy" for aces (n at most AMS_POLICY_MAX_ACES): ents and their
 * CBOR in bufs (the caller frees each), ptrs pointing at them. false if one does not
 * encode. */
static bool
s_policy_entries(cmn_ace_t *aces,
                 size_t n,
                 Obt__AmsPlacedAce *ents,
                 Obt__AmsPlacedAce **ptrs,
                 uint8_t **bufs)
{
    bool is_ok = true;
    for (size_t i = 0; i < n; i++) {
        Obt__AmsPlacedAce init = OBT__AMS_PLACED_ACE__INIT;
        cmn_acl_t one = {.present = CMN_ACL_HAS_ACLIST2, .aces = &aces[i], .n_aces = 1};
        ents[i] = init;
        bufs[i] = NULL;
        is_ok = is_ok && cmn_acl_encode(&one, &bufs[i], &ents[i].ace.len) == CMN_OK;
        ents[i].ace.data = bufs[i];
        ents[i].aceid = (uint32_t) aces[i].aceid;
        ents[i].origin = CMN_PB_STR("policy");
        ents[i].placed_ms = cmn_time_wall_ms();
        ptrs[i] = &ents[i];
    }
    return is_ok;
}

static void
s_free_bufs(uint8_t **bufs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(bufs[i]);
    }
}

/* apply: before any write, the record gets the ACEs about to be added as placed from
 * policy (the intent), with the job still held; a run resumed after a kill finds on
 * the device those it wrote as its own, and the verify drops those it did not. */
static cmn_err_t
s_save_intent(cmn_svc_job_t *job, const Obt__ServiceDevice *held)
{
    s_work_t *w = job->work;
    Obt__AmsPlacedAce ents[AMS_POLICY_MAX_ACES];
    uint8_t *bufs[AMS_POLICY_MAX_ACES];
    Obt__AmsPlacedAce **list =
            calloc(held->n_ams_placed + w->n_adds + 1, sizeof(Obt__AmsPlacedAce *));
    if (list == NULL) {
        return CMN_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < held->n_ams_placed; i++) {
        bool is_taken = false; /* an aceid the adds take: a stale intent of a killed run */
        for (size_t k = 0; k < w->n_adds && !is_taken; k++) {
            is_taken = held->ams_placed[i]->aceid == (uint32_t) w->adds[k].aceid;
        }
        if (!is_taken) {
            list[n++] = held->ams_placed[i];
        }
    }
    cmn_err_t err = CMN_ENOMEM;
    if (s_policy_entries(w->adds, w->n_adds, ents, list + n, bufs)) {
        Obt__ServiceDevice dev = *held; /* shallow */
        dev.ams_placed = list;
        dev.n_ams_placed = n + w->n_adds;
        err = cmn_svc_job_save(job, &dev);
    }
    s_free_bufs(bufs, w->n_adds);
    free(list);
    return err;
}

/* Records the outcome: the placed list checked against the device's acl2 (CBOR p) and
 * this job's ACE, then ends the job. */
static void
s_record(cmn_svc_job_t *job, uint8_t *p, size_t len, const cmn_acl_t *acl)
{
    s_work_t *w = job->work;
    Obt__ServiceDevice *held = NULL;
    cmn_err_t err = cmn_svc_get(job->svc, job->head.uuid, &held);
    if (err != CMN_OK) {
        cmn_svc_job_finish(job, err, "cannot read the device's record", NULL);
        return;
    }
    Obt__ServiceDevice dev = *held; /* shallow: fields set here never reach held's own */
    Obt__AmsPlacedAce **list = calloc(held->n_ams_placed + 1, sizeof(Obt__AmsPlacedAce *));
    Obt__AmsPlacedAce mine = OBT__AMS_PLACED_ACE__INIT;
    uint8_t *buf = NULL;
    size_t n = 0;
    bool is_read = w->req->body_case == OBT__AMS__REQUEST__BODY_ACL_READ;
    for (size_t i = 0; list && i < held->n_ams_placed; i++) {
        if (is_read || s_keeps(w, held->ams_placed[i], acl)) {
            list[n++] = held->ams_placed[i];
        }
    }
    const cmn_ace_t *placed = NULL;
    if (!is_read && (w->req->body_case == OBT__AMS__REQUEST__BODY_ACL_ADD ||
                     w->req->body_case == OBT__AMS__REQUEST__BODY_ACL_SET)) {
        placed = s_find(acl, w->ace.aceid);
        if (placed == NULL || !ams_acl_ace_eq(placed, &w->ace)) {
            char why[96];
            (void) snprintf(why, sizeof why, "ACE %lld is not on the device as written",
                            (long long) w->ace.aceid);
            free(list);
            obt__service_device__free_unpacked(held, NULL);
            cmn_svc_job_finish(job, CMN_ESTATE, why, NULL);
            return;
        }
        cmn_acl_t one = {.present = CMN_ACL_HAS_ACLIST2, .aces = &w->ace, .n_aces = 1};
        if (cmn_acl_encode(&one, &buf, &mine.ace.len) == CMN_OK && list) {
            mine.ace.data = buf;
            mine.aceid = (uint32_t) w->ace.aceid;
            mine.origin = w->req->body_case == OBT__AMS__REQUEST__BODY_ACL_ADD &&
                                          w->req->acl_add->origin[0]
                                  ? w->req->acl_add->origin
                                  : CMN_PB_STR("operator");
            mine.placed_ms = cmn_time_wall_ms();
            list[n++] = &mine;
        }
    }
    if (list == NULL) {
        free(buf);
        obt__service_device__free_unpacked(held, NULL);
        cmn_svc_job_finish(job, CMN_ENOMEM, NULL, NULL);
        return;
    }
    dev.ams_placed = list;
    dev.n_ams_placed = n;
    dev.ams_device_acl.data = p;
    dev.ams_device_acl.len = len;
    /* apply/diff: what was (would be) added and removed */
    Obt__AmsPlacedAce add_ents[AMS_POLICY_MAX_ACES], rm_ents[S_MAX_DELETES];
    Obt__AmsPlacedAce *add_ptrs[AMS_POLICY_MAX_ACES], *rm_ptrs[S_MAX_DELETES];
    uint8_t *add_bufs[AMS_POLICY_MAX_ACES], *rm_bufs[S_MAX_DELETES];
    size_t n_add = 0, n_rm = 0;
    if (w->req->body_case == OBT__AMS__REQUEST__BODY_ACL_APPLY) {
        n_add = w->n_adds;
        n_rm = w->n_deletes;
        for (size_t k = 0; w->phase == PH_VERIFY && k < w->n_adds; k++) {
            const cmn_ace_t *on = s_find(acl, w->adds[k].aceid);
            if (on == NULL || !ams_acl_ace_eq(on, &w->adds[k])) {
                s_free_bufs(&buf, 1);
                free(list);
                obt__service_device__free_unpacked(held, NULL);
                cmn_svc_job_finish(job, CMN_ESTATE, "a policy ACE is not on the device as written",
                                   NULL);
                return;
            }
        }
        bool is_ok = s_policy_entries(w->adds, n_add, add_ents, add_ptrs, add_bufs);
        is_ok = s_policy_entries(w->removes, n_rm, rm_ents, rm_ptrs, rm_bufs) && is_ok;
        dev.ams_plan_add = add_ptrs;
        dev.n_ams_plan_add = is_ok ? n_add : 0;
        dev.ams_plan_remove = rm_ptrs;
        dev.n_ams_plan_remove = is_ok ? n_rm : 0;
    }
    cmn_log_notice("AMS-ACL", "dev=%s %s: %zu ACE(s) on the device, %zu placed by AMS",
                   job->head.uuid, is_read ? "read" : "changed", acl->n_aces, n);
    cmn_svc_job_finish(job, CMN_OK, NULL, &dev);
    s_free_bufs(add_bufs, n_add);
    s_free_bufs(rm_bufs, n_rm);
    free(buf);
    free(list);
    obt__service_device__free_unpacked(held, NULL);
}

static void
s_on_acl(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    cmn_acl_t acl;
    char why[200] = "";
    if (cmn_acl_decode(r->payload.data, r->payload.len, &acl) != CMN_OK) {
        cmn_svc_job_finish(job, CMN_EPROTO, "acl2: invalid CBOR from the device", NULL);
        return;
    }
    if (w->phase == PH_VERIFY) {
        s_record(job, r->payload.data, r->payload.len, &acl);
        cmn_acl_free(&acl);
        return;
    }
    Obt__ServiceDevice *held = NULL;
    cmn_err_t err = cmn_svc_get(job->svc, job->head.uuid, &held);
    bool is_done = false;
    if (err == CMN_OK) {
        err = s_plan(job, &acl, held, why, sizeof why, &is_done);
        if (err == CMN_OK && !is_done && w->n_adds > 0 &&
            (err = s_save_intent(job, held)) != CMN_OK) {
            (void) snprintf(why, sizeof why, "cannot record the policy ACEs before writing: %s",
                            cmn_strerror(err));
        }
        obt__service_device__free_unpacked(held, NULL);
    }
    if (err != CMN_OK) {
        cmn_acl_free(&acl);
        cmn_svc_job_finish(job, err, why[0] ? why : NULL, NULL);
        return;
    }
    if (is_done) {
        s_record(job, r->payload.data, r->payload.len, &acl);
        cmn_acl_free(&acl);
        return;
    }
    cmn_acl_free(&acl);
    /* Nothing to write (a resumed run did it) still passes through RFPRO and RFNOP:
     * the killed run may have left the device in RFPRO. */
    w->phase = PH_RFPRO;
    s_next(job);
}

void
ams_action_add_type(char types[][48], size_t *n_types, const char *rt)
{
    for (size_t i = 0; i < *n_types; i++) {
        if (strcmp(types[i], rt) == 0) {
            return;
        }
    }
    if (*n_types < AMS_MAX_TYPES && rt[0] != '\0') {
        (void) snprintf(types[(*n_types)++], 48, "%s", rt);
    }
}

/* The device's types: the rt of /oic/d (PH_D) and of every link of /oic/res. */
static cmn_err_t
s_on_types(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    if (w->phase == PH_D) {
        cmn_d_t d;
        if (cmn_d_decode(r->payload.data, r->payload.len, &d) != CMN_OK) {
            return CMN_EPROTO;
        }
        for (size_t i = 0; i < d.n_rt; i++) {
            ams_action_add_type(w->rts, &w->n_rts, d.rt[i]);
        }
        return CMN_OK;
    }
    cmn_res_t res;
    if (cmn_res_decode(r->payload.data, r->payload.len, &res) != CMN_OK) {
        return CMN_EPROTO;
    }
    for (size_t l = 0; l < res.n_links; l++) {
        for (size_t i = 0; i < res.links[l].n_rt; i++) {
            ams_action_add_type(w->rts, &w->n_rts, res.links[l].rt[i]);
        }
    }
    cmn_res_free(&res);
    return CMN_OK;
}

static void
s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    char why[200];
    switch (w->phase) {
    case PH_D:
    case PH_RES:
        if (r->code != 205) {
            (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step,
                            r->code / 100, r->code % 100);
            cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
            return;
        }
        if (s_on_types(job, r) != CMN_OK) {
            (void) snprintf(why, sizeof why, "%s: invalid CBOR from the device", job->step);
            cmn_svc_job_finish(job, CMN_EPROTO, why, NULL);
            return;
        }
        w->phase = w->phase == PH_D ? PH_RES : PH_READ;
        s_next(job);
        return;
    case PH_READ:
    case PH_VERIFY:
        if (r->code != 205) {
            (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step,
                            r->code / 100, r->code % 100);
            cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
            return;
        }
        s_on_acl(job, r);
        return;
    case PH_RFPRO:
    case PH_RFNOP:
        if (r->code != 204) {
            (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step,
                            r->code / 100, r->code % 100);
            cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
            return;
        }
        if (w->phase == PH_RFNOP && w->refused_code != 0) {
            (void) snprintf(why, sizeof why, "the device refused the ACE: %d.%02d",
                            w->refused_code / 100, w->refused_code % 100);
            cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
            return;
        }
        w->phase = w->phase == PH_RFPRO && (w->has_write || w->n_deletes > 0 || w->n_adds > 0)
                           ? PH_WRITE
                   : w->phase == PH_RFPRO ? PH_RFNOP
                                          : PH_VERIFY;
        s_next(job);
        return;
    case PH_WRITE:
        if (w->n_adds > 0 && !w->is_adds_sent) {
            w->is_adds_sent = true;
            if (r->code != 204) {
                w->refused_code = (int) r->code; /* back to RFNOP first, then fail */
                w->phase = PH_RFNOP;
            } else if (w->n_deletes == 0) {
                w->phase = PH_RFNOP;
            }
            s_next(job);
            return;
        }
        if (w->has_write ? r->code != 204 : (r->code != 202 && r->code != 404)) {
            w->refused_code = (int) r->code; /* back to RFNOP first, then fail */
            w->phase = PH_RFNOP;
        } else if (!w->has_write && ++w->idx < w->n_deletes) {
            /* the next DELETE */
        } else {
            w->phase = PH_RFNOP;
        }
        s_next(job);
        return;
    }
}

void
ams_action_start(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    ams_action_drop(job);
    memset(w, 0, sizeof *w);
    w->req = obt__ams__request__unpack(NULL, job->action_len, job->action);
    if (w->req == NULL || s_device_uuid(w->req) == NULL) {
        cmn_svc_job_finish(job, CMN_EPROTO, "the stored action does not unpack", NULL);
        return;
    }
    w->phase = PH_READ;
    if (w->req->body_case == OBT__AMS__REQUEST__BODY_ACL_APPLY) {
        /* the types the hand-over read; a record of an earlier release has none: read */
        Obt__ServiceDevice *held = NULL;
        if (cmn_svc_get(job->svc, job->head.uuid, &held) == CMN_OK) {
            for (size_t i = 0; i < held->n_ams_types; i++) {
                ams_action_add_type(w->rts, &w->n_rts, held->ams_types[i]);
            }
            obt__service_device__free_unpacked(held, NULL);
        }
        w->phase = w->n_rts > 0 ? PH_READ : PH_D;
    }
    s_next(job);
}

void
ams_action_drop(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    if (w->req) {
        obt__ams__request__free_unpacked(w->req, NULL);
        w->req = NULL;
    }
    free(w->adds);
    w->adds = NULL;
    free(w->removes);
    w->removes = NULL;
}

uint8_t *
ams_action_apply_request(const char *uuid, size_t *ret_len)
{
    Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
    Obt__Ams__AclApply apply = OBT__AMS__ACL_APPLY__INIT;
    apply.device_uuid = CMN_PB_STR(uuid);
    req.body_case = OBT__AMS__REQUEST__BODY_ACL_APPLY;
    req.acl_apply = &apply;
    *ret_len = obt__ams__request__get_packed_size(&req);
    uint8_t *buf = malloc(*ret_len ? *ret_len : 1);
    if (buf) {
        (void) obt__ams__request__pack(&req, buf);
    }
    return buf;
}

/* ---------------------------------------------------------------- reset cascade */

typedef struct {
    cmn_uuid_t gone;   /* the forgotten device */
    char (*uuids)[37]; /* devices holding an ACE AMS placed for it (malloc'd) */
    size_t n, cap;
} s_cascade_t;

static void
s_collect(const Obt__ServiceDevice *dev, void *arg)
{
    s_cascade_t *c = arg;
    for (size_t i = 0; i < dev->n_ams_placed; i++) {
        cmn_ace_t ace;
        if (s_one_ace(&dev->ams_placed[i]->ace, &ace) != CMN_OK ||
            ace.subject_kind != CMN_ACE_SUBJECT_UUID || !cmn_uuid_eq(&ace.subject_uuid, &c->gone)) {
            continue;
        }
        if (c->n == c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 8;
            char(*grown)[37] = realloc(c->uuids, cap * sizeof *grown);
            if (grown == NULL) {
                return;
            }
            c->uuids = grown;
            c->cap = cap;
        }
        (void) snprintf(c->uuids[c->n++], sizeof c->uuids[0], "%s", dev->device_uuid);
        return;
    }
}

void
ams_action_forgot(cmn_svc_t *svc, const char *uuid)
{
    s_cascade_t c = {0};
    if (cmn_uuid_from_str(uuid, &c.gone) != CMN_OK) {
        return;
    }
    cmn_err_t err = cmn_svc_each(svc, s_collect, &c);
    if (err != CMN_OK) {
        cmn_log_err("AMS-CASCADE", "dev=%s cannot read the records: %s", uuid, cmn_strerror(err));
    }
    for (size_t i = 0; i < c.n; i++) {
        Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
        Obt__Ams__AclDeny deny = OBT__AMS__ACL_DENY__INIT;
        deny.device_uuid = c.uuids[i];
        deny.subject_uuid = CMN_PB_STR(uuid);
        req.body_case = OBT__AMS__REQUEST__BODY_ACL_DENY;
        req.acl_deny = &deny;
        size_t len = obt__ams__request__get_packed_size(&req);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf == NULL) {
            break;
        }
        (void) obt__ams__request__pack(&req, buf);
        cmn_log_notice("AMS-CASCADE", "dev=%s forgotten: removing its ACEs on %s", uuid,
                       c.uuids[i]);
        cmn_svc_job_action(svc, NULL, 0, c.uuids[i], buf, len);
        free(buf);
    }
    free(c.uuids);
}
