/* ams_service.c — obt-ams: the steps of its jobs in the service core. A hand-over
 * reads the ACL, removes SVR hrefs from anon-clear/auth-crypt ACEs (clause 5.2), adds
 * the baseline ACEs, checks the result and moves the device to RFNOP; a repair
 * (SRESET, Table 1) does the same without the move. Every step reads the device again
 * first, so a job resumed after a restart from its first step is harmless. */
#include "ams_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ams_acl.h"
#include "ams_action.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "cmn_uuid.h"

typedef enum {
    PH_GET_D = 0, /* GET /oic/d: its icv (Table 2) */
    PH_GET_RES,   /* GET /oic/res: its SVRs (Table 2) */
    PH_GET_ACL,   /* read the ACL, plan */
    PH_DELETE,    /* DELETE acl2?aceid= for ACEs left empty */
    PH_REPLACE,   /* POST ACEs again without their SVR hrefs */
    PH_ADD,       /* POST the missing baseline ACEs */
    PH_VERIFY,    /* GET acl2: learn aceids, check clause 5.2 holds */
    PH_RFNOP,     /* POST pstat dos.s=3 */
    PH_DONE
} s_phase_t;

static const char *const s_phase_names[] = {"GET /oic/d",  "GET /oic/res", "GET acl2",
                                            "DELETE ace",  "POST ace",     "POST baseline",
                                            "verify acl2", "RFNOP"};

/* AMS's part of a job (job->work). */
typedef struct {
    s_phase_t phase;
    size_t idx; /* position within the phase */
    ams_acl_plan_t plan;
    uint32_t aceids[AMS_BASELINE_COUNT];
    size_t n_aceids;
    uint32_t removed[64];
    size_t n_removed;
    char icv[32];                  /* the device's /oic/d icv */
    bool has_table2;               /* a legacy device: the Table 2 ACE is due */
    cmn_ace_t table2;              /* that ACE */
    int64_t table2_id;             /* its aceid once verified, 0 = none */
    char types[AMS_MAX_TYPES][48]; /* the device's types: rt of /oic/d and /oic/res */
    size_t n_types;
} s_work_t;

static void s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r);

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
s_finish_ok(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    Obt__ServiceDevice dev = OBT__SERVICE_DEVICE__INIT;
    dev.state = CMN_PB_STR("provisioned");
    dev.aceids = w->aceids;
    dev.n_aceids = w->n_aceids;
    dev.removed_aceids = w->removed;
    dev.n_removed_aceids = w->n_removed;
    char *types[AMS_MAX_TYPES];
    for (size_t i = 0; i < w->n_types; i++) {
        types[i] = w->types[i];
    }
    dev.ams_types = types; /* what a policy apply matches (ams_action.c) */
    dev.n_ams_types = w->n_types;
    /* The Table 2 ACE is recorded as placed by AMS, with why. */
    Obt__AmsPlacedAce placed = OBT__AMS_PLACED_ACE__INIT;
    Obt__AmsPlacedAce *list[1] = {&placed};
    uint8_t *buf = NULL;
    char origin[64];
    cmn_acl_t one = {.present = CMN_ACL_HAS_ACLIST2, .aces = &w->table2, .n_aces = 1};
    if (w->table2_id > 0 && cmn_acl_encode(&one, &buf, &placed.ace.len) == CMN_OK) {
        (void) snprintf(origin, sizeof origin, "table2 (icv %s)", w->icv);
        placed.ace.data = buf;
        placed.aceid = (uint32_t) w->table2_id;
        placed.origin = origin;
        placed.placed_ms = cmn_time_wall_ms();
        dev.ams_placed = list;
        dev.n_ams_placed = 1;
    }
    /* With a policy, its apply is the hand-over's follow-up, recorded in the same write. */
    uint8_t *next = NULL;
    size_t next_len = 0;
    if (!job->is_repair && ams_action_has_policy()) {
        cmn_log_info("AMS-POLICY-HANDOVER", "dev=%s applying the policy after the hand-over",
                     job->head.uuid);
        if ((next = ams_action_apply_request(job->head.uuid, &next_len)) == NULL) {
            cmn_log_err("AMS-POLICY-HANDOVER", "dev=%s cannot start the apply: out of memory",
                        job->head.uuid);
        }
    }
    cmn_svc_job_finish_then(job, CMN_OK, NULL, &dev, next, next_len); /* frees job */
    free(next);
    free(buf);
}

/* Sends the next request of the job, moving through the phases. */
static void
s_next(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    char query[32];
    cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2};
    for (;;) {
        switch (w->phase) {
        case PH_GET_D:
            s_send(job, OBT__GW__METHOD__METHOD_GET, "/oic/d", NULL, NULL, NULL);
            return;
        case PH_GET_RES:
            s_send(job, OBT__GW__METHOD__METHOD_GET, "/oic/res", NULL, NULL, NULL);
            return;
        case PH_GET_ACL:
        case PH_VERIFY:
            s_send(job, OBT__GW__METHOD__METHOD_GET, "/oic/sec/acl2", NULL, NULL, NULL);
            return;
        case PH_DELETE:
            if (w->idx >= w->plan.n_deletes) {
                w->phase = PH_REPLACE;
                w->idx = 0;
                continue;
            }
            (void) snprintf(query, sizeof query, "aceid=%lld", (long long) w->plan.deletes[w->idx]);
            s_send(job, OBT__GW__METHOD__METHOD_DELETE, "/oic/sec/acl2", query, NULL, NULL);
            return;
        case PH_REPLACE:
            if (w->idx >= w->plan.n_replaces) {
                w->phase = PH_ADD;
                w->idx = 0;
                continue;
            }
            acl.aces = &w->plan.replaces[w->idx];
            acl.n_aces = 1;
            s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/acl2", NULL, &acl, NULL);
            return;
        case PH_ADD:
            if (w->plan.n_adds == 0) {
                w->phase = PH_VERIFY;
                continue;
            }
            acl.aces = w->plan.adds;
            acl.n_aces = w->plan.n_adds;
            s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/acl2", NULL, &acl, NULL);
            return;
        case PH_RFNOP: {
            cmn_pstat_t ps = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_RFNOP};
            s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/pstat", NULL, NULL, &ps);
            return;
        }
        case PH_DONE:
            s_finish_ok(job);
            return;
        }
    }
}

static cmn_err_t
s_on_acl(cmn_svc_job_t *job, const uint8_t *p, size_t len, char *why, size_t why_len)
{
    s_work_t *w = job->work;
    cmn_acl_t acl;
    cmn_uuid_t dots, cms, ams;
    if (cmn_acl_decode(p, len, &acl) != CMN_OK) {
        (void) snprintf(why, why_len, "%s: invalid CBOR from device", s_phase_names[w->phase]);
        return CMN_EPROTO;
    }
    (void) cmn_uuid_from_str(job->handover->dots_uuid, &dots);
    (void) cmn_uuid_from_str(job->handover->cms_uuid, &cms);
    (void) cmn_uuid_from_str(cmn_svc_uuid(job->svc), &ams);
    cmn_err_t err = CMN_OK;
    if (!cmn_uuid_eq(&acl.rowneruuid, &ams)) {
        (void) snprintf(why, why_len, "acl2 rowneruuid is not this AMS");
        err = CMN_ESTATE;
    } else if (w->phase == PH_GET_ACL) {
        ams_acl_plan_free(&w->plan); /* a plan of an earlier read, if any */
        err = ams_acl_plan(&acl, &dots, &cms, &ams, &w->plan);
        if (err == CMN_OK && w->has_table2) {
            err = ams_acl_plan_add(&w->plan, &acl, &w->table2);
        }
        for (size_t i = 0; err == CMN_OK && i < w->plan.n_deletes && w->n_removed < 64; i++) {
            w->removed[w->n_removed++] = (uint32_t) w->plan.deletes[i];
        }
        for (size_t i = 0; err == CMN_OK && i < w->plan.n_replaces && w->n_removed < 64; i++) {
            w->removed[w->n_removed++] = (uint32_t) w->plan.replaces[i].aceid;
        }
    } else {
        cmn_ace_t base[AMS_BASELINE_COUNT];
        ams_acl_baseline(&dots, &cms, &ams, base);
        w->n_aceids = 0;
        w->table2_id = 0;
        for (size_t i = 0; i < acl.n_aces; i++) {
            if (w->has_table2 && ams_acl_ace_eq(&acl.aces[i], &w->table2)) {
                w->table2_id = acl.aces[i].aceid;
            }
            if (ams_acl_violates(&acl.aces[i])) {
                (void) snprintf(why, why_len, "ACE %lld still exposes an SVR",
                                (long long) acl.aces[i].aceid);
                err = CMN_ESTATE;
            }
            for (size_t b = 0; b < AMS_BASELINE_COUNT; b++) {
                if (ams_acl_ace_eq(&acl.aces[i], &base[b]) && w->n_aceids < AMS_BASELINE_COUNT) {
                    w->aceids[w->n_aceids++] = (uint32_t) acl.aces[i].aceid;
                }
            }
        }
    }
    cmn_acl_free(&acl);
    return err;
}

/* /oic/d (its icv) and /oic/res (its SVRs): the Table 2 ACE, for a legacy device. */
static cmn_err_t
s_on_dcr(cmn_svc_job_t *job, const uint8_t *p, size_t len, char *why, size_t why_len)
{
    s_work_t *w = job->work;
    if (w->phase == PH_GET_D) {
        cmn_d_t d;
        if (cmn_d_decode(p, len, &d) != CMN_OK) {
            (void) snprintf(why, why_len, "GET /oic/d: invalid CBOR from device");
            return CMN_EPROTO;
        }
        (void) snprintf(w->icv, sizeof w->icv, "%s", d.icv);
        w->n_types = 0;
        for (size_t i = 0; i < d.n_rt; i++) {
            ams_action_add_type(w->types, &w->n_types, d.rt[i]);
        }
        return CMN_OK;
    }
    cmn_res_t res;
    if (cmn_res_decode(p, len, &res) != CMN_OK) {
        (void) snprintf(why, why_len, "GET /oic/res: invalid CBOR from device");
        return CMN_EPROTO;
    }
    for (size_t l = 0; l < res.n_links; l++) {
        for (size_t i = 0; i < res.links[l].n_rt; i++) {
            ams_action_add_type(w->types, &w->n_types, res.links[l].rt[i]);
        }
    }
    w->has_table2 = ams_acl_table2(w->icv, &res, &w->table2);
    cmn_log_info("AMS-TABLE2", "dev=%s icv=\"%s\": %s", job->head.uuid, w->icv,
                 w->has_table2 ? "role oic.role.owner ACE over its SVRs (Table 2)"
                               : "no Table 2 ACE");
    cmn_res_free(&res);
    return CMN_OK;
}

static void
s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    char why[256];
    bool is_get = w->phase == PH_GET_D || w->phase == PH_GET_RES || w->phase == PH_GET_ACL ||
                  w->phase == PH_VERIFY;
    uint32_t want = is_get ? 205 : w->phase == PH_DELETE ? 202 : 204;
    if (r->code != want) {
        (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step, r->code / 100,
                        r->code % 100);
        cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
        return;
    }
    cmn_err_t err = CMN_OK;
    if ((w->phase == PH_GET_D || w->phase == PH_GET_RES) &&
        (err = s_on_dcr(job, r->payload.data, r->payload.len, why, sizeof why)) != CMN_OK) {
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    if ((w->phase == PH_GET_ACL || w->phase == PH_VERIFY) &&
        (err = s_on_acl(job, r->payload.data, r->payload.len, why, sizeof why)) != CMN_OK) {
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    if (w->phase == PH_DELETE || w->phase == PH_REPLACE) {
        w->idx++;
    } else {
        w->phase++;
        w->idx = 0;
    }
    if (w->phase == PH_RFNOP && job->is_repair) {
        w->phase = PH_DONE; /* SRESET -> RFNOP is not a transition: DOTS goes via RFPRO */
    }
    s_next(job);
}

static void
s_start(cmn_svc_job_t *job)
{
    if (job->action) {
        ams_action_start(job); /* an operator's ACL action (ams_action.c) */
        return;
    }
    s_next(job);
}

static void
s_drop(cmn_svc_job_t *job)
{
    if (job->action) {
        ams_action_drop(job);
        return;
    }
    s_work_t *w = job->work;
    ams_acl_plan_free(&w->plan);
}

/* job->work holds a hand-over's or an action's state. */
#define S_WORK_SIZE                                                                                \
    (sizeof(s_work_t) > AMS_ACTION_WORK_SIZE ? sizeof(s_work_t) : AMS_ACTION_WORK_SIZE)

static const cmn_svc_hooks_t s_hooks = {.work_size = S_WORK_SIZE,
                                        .start = s_start,
                                        .drop = s_drop,
                                        .own = ams_action_own,
                                        .forgot = ams_action_forgot};

const cmn_svc_hooks_t *
ams_service_hooks(void)
{
    return &s_hooks;
}
