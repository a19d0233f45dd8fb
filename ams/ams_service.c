/* ams_service.c — obt-ams: dispatch and the ACL work of a hand-over */
#include "ams_service.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ams_acl.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "obt/gateway.pb-c.h"

typedef enum {
    PH_GET_ACL = 0, /* read the ACL, plan */
    PH_DELETE,      /* DELETE acl2?aceid= for ACEs left empty */
    PH_REPLACE,     /* POST ACEs again without their SVR hrefs */
    PH_ADD,         /* POST the missing baseline ACEs */
    PH_VERIFY,      /* GET acl2: learn aceids, check clause 5.2 holds */
    PH_RFNOP,       /* POST pstat dos.s=3 */
    PH_DONE
} s_phase_t;

static const char *const s_phase_names[] = {"GET acl2",      "DELETE ace",  "POST ace",
                                            "POST baseline", "verify acl2", "RFNOP"};

typedef struct {
    cmn_svc_t *svc;
    zframe_t *peer;
    uint64_t corr_id;
    char uuid[37];
    char ep[80];
    uint8_t psk[16];
    Obt__DeviceHandover *handover; /* owned copy, psk wiped */
    s_phase_t phase;
    size_t idx; /* position within the phase */
    ams_acl_plan_t plan;
    uint32_t aceids[AMS_BASELINE_COUNT];
    size_t n_aceids;
    uint32_t removed[64];
    size_t n_removed;
    char cipher[64];
    bool is_repair; /* RepairDevice: the device is in SRESET and DOTS moves it on */
} s_job_t;

/* Devices with a hand-over in progress: a second one for the same device (a resumed
 * DOTS job racing the first) is refused rather than run twice. */
#define MAX_BUSY 4096
static char s_busy[MAX_BUSY][37];
static size_t s_n_busy;

static bool
s_busy_add(const char *uuid)
{
    for (size_t i = 0; i < s_n_busy; i++) {
        if (strcmp(s_busy[i], uuid) == 0) {
            return false;
        }
    }
    if (s_n_busy == MAX_BUSY) {
        return false;
    }
    (void) snprintf(s_busy[s_n_busy++], 37, "%s", uuid);
    return true;
}

static void
s_busy_remove(const char *uuid)
{
    for (size_t i = 0; i < s_n_busy; i++) {
        if (strcmp(s_busy[i], uuid) == 0) {
            s_n_busy--;
            if (i != s_n_busy) {
                memcpy(s_busy[i], s_busy[s_n_busy], sizeof s_busy[i]);
            }
            return;
        }
    }
}

static void
s_finish(s_job_t *job, cmn_err_t err, const char *error)
{
    Obt__ServiceDevice dev = OBT__SERVICE_DEVICE__INIT;
    dev.device_uuid = job->uuid;
    dev.eps = job->handover->eps;
    dev.n_eps = job->handover->n_eps;
    dev.state = CMN_PB_STR(err == CMN_OK ? "provisioned" : "failed");
    dev.error = CMN_PB_STR(err == CMN_OK ? "" : error);
    dev.cipher = job->cipher;
    dev.updated_ms = cmn_time_wall_ms();
    dev.aceids = job->aceids;
    dev.n_aceids = job->n_aceids;
    dev.removed_aceids = job->removed;
    dev.n_removed_aceids = job->n_removed;
    cmn_err_t serr = cmn_svc_put(job->svc, &dev, job->handover, NULL);
    if (serr != CMN_OK) {
        cmn_log_err("AMS-STORE", "dev=%s cannot record the outcome: %s", job->uuid,
                    cmn_strerror(serr));
    }
    if (err == CMN_OK) {
        cmn_log_notice("AMS-RFNOP", "dev=%s ACL cleaned (%zu removed), %zu baseline ACEs, RFNOP",
                       job->uuid, job->n_removed, job->n_aceids);
    } else {
        cmn_log_warn("AMS-FAILED", "dev=%s %s", job->uuid, error);
    }
    cmn_svc_answer(job->svc, job->peer, job->corr_id, err, error,
                   job->is_repair ? OBT__SERVICE_REPLY__BODY_REPAIR
                                  : OBT__SERVICE_REPLY__BODY_HANDOVER,
                   &dev);
    cmn_svc_close_session(job->svc, job->ep); /* this job is over: free the gateway */
    OPENSSL_cleanse(job->psk, sizeof job->psk);
    s_busy_remove(job->uuid);
    ams_acl_plan_free(&job->plan);
    zframe_destroy(&job->peer);
    obt__device_handover__free_unpacked(job->handover, NULL);
    free(job);
}

static void s_on_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len);

static cmn_err_t
s_send(s_job_t *job,
       int method,
       const char *path,
       const char *query,
       const cmn_acl_t *acl,
       const cmn_pstat_t *ps)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cmn_err_t err = CMN_OK;
    if (acl) {
        err = cmn_acl_encode(acl, &buf, &len);
    } else if (ps) {
        err = cmn_pstat_encode(ps, &buf, &len);
    }
    if (err == CMN_OK) {
        err = cmn_svc_coap(job->svc, job->uuid, job->ep, job->psk, method, path, query, buf, len,
                           s_on_reply, job);
    }
    free(buf);
    return err;
}

/* Sends the next request of the job, moving through the phases. */
static void
s_next(s_job_t *job)
{
    cmn_err_t err = CMN_OK;
    char query[32];
    cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2};
    for (;;) {
        switch (job->phase) {
        case PH_GET_ACL:
        case PH_VERIFY:
            err = s_send(job, OBT__GW__METHOD__METHOD_GET, "/oic/sec/acl2", NULL, NULL, NULL);
            break;
        case PH_DELETE:
            if (job->idx >= job->plan.n_deletes) {
                job->phase = PH_REPLACE;
                job->idx = 0;
                continue;
            }
            (void) snprintf(query, sizeof query, "aceid=%lld",
                            (long long) job->plan.deletes[job->idx]);
            err = s_send(job, OBT__GW__METHOD__METHOD_DELETE, "/oic/sec/acl2", query, NULL, NULL);
            break;
        case PH_REPLACE:
            if (job->idx >= job->plan.n_replaces) {
                job->phase = PH_ADD;
                job->idx = 0;
                continue;
            }
            acl.aces = &job->plan.replaces[job->idx];
            acl.n_aces = 1;
            err = s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/acl2", NULL, &acl, NULL);
            break;
        case PH_ADD:
            if (job->plan.n_adds == 0) {
                job->phase = PH_VERIFY;
                continue;
            }
            acl.aces = job->plan.adds;
            acl.n_aces = job->plan.n_adds;
            err = s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/acl2", NULL, &acl, NULL);
            break;
        case PH_RFNOP: {
            cmn_pstat_t ps = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_RFNOP};
            err = s_send(job, OBT__GW__METHOD__METHOD_POST, "/oic/sec/pstat", NULL, NULL, &ps);
            break;
        }
        case PH_DONE:
            s_finish(job, CMN_OK, NULL);
            return;
        }
        break;
    }
    if (err != CMN_OK) {
        char why[128];
        (void) snprintf(why, sizeof why, "%s: cannot send: %s", s_phase_names[job->phase],
                        cmn_strerror(err));
        s_finish(job, err, why);
    }
}

static cmn_err_t
s_on_acl(s_job_t *job, const uint8_t *p, size_t len, char *why, size_t why_len)
{
    cmn_acl_t acl;
    cmn_uuid_t dots, cms, ams;
    if (cmn_acl_decode(p, len, &acl) != CMN_OK) {
        (void) snprintf(why, why_len, "%s: invalid CBOR from device", s_phase_names[job->phase]);
        return CMN_EPROTO;
    }
    (void) cmn_uuid_from_str(job->handover->dots_uuid, &dots);
    (void) cmn_uuid_from_str(job->handover->cms_uuid, &cms);
    (void) cmn_uuid_from_str(cmn_svc_uuid(job->svc), &ams);
    cmn_err_t err = CMN_OK;
    if (!cmn_uuid_eq(&acl.rowneruuid, &ams)) {
        (void) snprintf(why, why_len, "acl2 rowneruuid is not this AMS");
        err = CMN_ESTATE;
    } else if (job->phase == PH_GET_ACL) {
        err = ams_acl_plan(&acl, &dots, &cms, &ams, &job->plan);
        for (size_t i = 0; err == CMN_OK && i < job->plan.n_deletes && job->n_removed < 64; i++) {
            job->removed[job->n_removed++] = (uint32_t) job->plan.deletes[i];
        }
        for (size_t i = 0; err == CMN_OK && i < job->plan.n_replaces && job->n_removed < 64; i++) {
            job->removed[job->n_removed++] = (uint32_t) job->plan.replaces[i].aceid;
        }
    } else {
        cmn_ace_t base[AMS_BASELINE_COUNT];
        ams_acl_baseline(&dots, &cms, &ams, base);
        job->n_aceids = 0;
        for (size_t i = 0; i < acl.n_aces; i++) {
            if (ams_acl_violates(&acl.aces[i])) {
                (void) snprintf(why, why_len, "ACE %lld still exposes an SVR",
                                (long long) acl.aces[i].aceid);
                err = CMN_ESTATE;
            }
            for (size_t b = 0; b < AMS_BASELINE_COUNT; b++) {
                if (ams_acl_ace_eq(&acl.aces[i], &base[b]) && job->n_aceids < AMS_BASELINE_COUNT) {
                    job->aceids[job->n_aceids++] = (uint32_t) acl.aces[i].aceid;
                }
            }
        }
    }
    cmn_acl_free(&acl);
    return err;
}

static void
s_on_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_job_t *job = arg;
    char why[256];
    const char *step = s_phase_names[job->phase];
    if (err != CMN_OK) {
        (void) snprintf(why, sizeof why, "%s: %s", step, cmn_strerror(err));
        s_finish(job, err, why);
        return;
    }
    Obt__Gw__Reply *r = obt__gw__reply__unpack(NULL, len, data);
    if (r == NULL || r->status != OBT__STATUS__STATUS_OK ||
        r->body_case != OBT__GW__REPLY__BODY_COAP) {
        (void) snprintf(why, sizeof why, "%s: %s", step,
                        r && r->error[0] ? r->error : "gateway error");
        s_finish(job, r ? cmn_err_from_status(r->status) : CMN_EPROTO, why);
        goto out;
    }
    (void) snprintf(job->cipher, sizeof job->cipher, "%s", r->coap->cipher);
    uint32_t want = job->phase == PH_GET_ACL || job->phase == PH_VERIFY ? 205
                    : job->phase == PH_DELETE                           ? 202
                                                                        : 204;
    if (r->coap->code != want) {
        (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", step, r->coap->code / 100,
                        r->coap->code % 100);
        s_finish(job, CMN_EDEVICE, why);
        goto out;
    }
    if ((job->phase == PH_GET_ACL || job->phase == PH_VERIFY) &&
        (err = s_on_acl(job, r->coap->payload.data, r->coap->payload.len, why, sizeof why)) !=
                CMN_OK) {
        s_finish(job, err, why);
        goto out;
    }
    if (job->phase == PH_DELETE || job->phase == PH_REPLACE) {
        job->idx++;
    } else {
        job->phase++;
        job->idx = 0;
    }
    if (job->phase == PH_RFNOP && job->is_repair) {
        job->phase = PH_DONE; /* SRESET -> RFNOP is not a transition: DOTS goes via RFPRO */
    }
    s_next(job);
out:
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
}

static void
s_on_handover(
        cmn_svc_t *svc, zframe_t *peer, uint64_t corr_id, const Obt__DeviceHandover *h, void *arg)
{
    (void) arg;
    cmn_uuid_t u, dots, cms;
    const char *ep = NULL;
    for (size_t i = 0; i < h->n_eps; i++) {
        if (strncmp(h->eps[i], "coaps://", 8) == 0) {
            ep = h->eps[i];
            break;
        }
    }
    if (cmn_uuid_from_str(h->device_uuid, &u) != CMN_OK || h->psk.len != 16 || ep == NULL ||
        cmn_uuid_from_str(h->dots_uuid, &dots) != CMN_OK ||
        cmn_uuid_from_str(h->cms_uuid, &cms) != CMN_OK) {
        cmn_svc_answer(svc, peer, corr_id, CMN_EINVAL,
                       "handover needs device, DOTS and CMS uuids, a coaps:// endpoint and a PSK",
                       0, NULL);
        return;
    }
    if (!s_busy_add(h->device_uuid)) {
        cmn_svc_answer(svc, peer, corr_id, CMN_ESTATE,
                       "a hand-over of this device is already in progress", 0, NULL);
        return;
    }
    s_job_t *job = calloc(1, sizeof *job);
    size_t plen = obt__device_handover__get_packed_size(h);
    uint8_t *buf = malloc(plen ? plen : 1);
    if (job == NULL || buf == NULL) {
        free(job);
        free(buf);
        s_busy_remove(h->device_uuid);
        cmn_svc_answer(svc, peer, corr_id, CMN_ENOMEM, NULL, 0, NULL);
        return;
    }
    (void) obt__device_handover__pack(h, buf);
    job->handover = obt__device_handover__unpack(NULL, plen, buf);
    OPENSSL_cleanse(buf, plen);
    free(buf);
    job->svc = svc;
    job->peer = zframe_dup(peer);
    job->corr_id = corr_id;
    (void) snprintf(job->uuid, sizeof job->uuid, "%s", h->device_uuid);
    (void) snprintf(job->ep, sizeof job->ep, "%s", ep);
    memcpy(job->psk, h->psk.data, 16);
    if (job->handover == NULL) {
        s_busy_remove(job->uuid);
        zframe_destroy(&job->peer);
        free(job);
        cmn_svc_answer(svc, peer, corr_id, CMN_ENOMEM, NULL, 0, NULL);
        return;
    }
    OPENSSL_cleanse(job->handover->psk.data, job->handover->psk.len);
    /* Persist before acting: the record and our key first. */
    Obt__ServiceDevice dev = OBT__SERVICE_DEVICE__INIT;
    dev.device_uuid = job->uuid;
    dev.eps = h->eps;
    dev.n_eps = h->n_eps;
    dev.state = CMN_PB_STR("received");
    dev.updated_ms = cmn_time_wall_ms();
    cmn_err_t err = cmn_svc_put(svc, &dev, job->handover, job->psk);
    if (err != CMN_OK) {
        s_finish(job, err, "cannot record the device");
        return;
    }
    s_next(job);
}

/* SRESET (Table 1: AMS corrects /oic/sec/acl2 as needed): the ACL work of a
 * hand-over, run again from our records, without the move to RFNOP. */
static void
s_on_repair(cmn_svc_t *svc, zframe_t *peer, uint64_t corr_id, const char *uuid, void *arg)
{
    (void) arg;
    s_job_t *job = calloc(1, sizeof *job);
    if (job == NULL) {
        cmn_svc_answer(svc, peer, corr_id, CMN_ENOMEM, NULL, 0, NULL);
        return;
    }
    cmn_err_t err =
            cmn_svc_get_handover(svc, uuid, &job->handover, job->psk, job->ep, sizeof job->ep);
    if (err != CMN_OK || !s_busy_add(uuid)) {
        cmn_svc_answer(svc, peer, corr_id, err != CMN_OK ? err : CMN_ESTATE,
                       err != CMN_OK
                               ? "no record, key or endpoint for this device"
                               : "a hand-over or repair of this device is already in progress",
                       0, NULL);
        if (job->handover) {
            obt__device_handover__free_unpacked(job->handover, NULL);
        }
        OPENSSL_cleanse(job->psk, sizeof job->psk);
        free(job);
        return;
    }
    job->svc = svc;
    job->peer = zframe_dup(peer);
    job->corr_id = corr_id;
    job->is_repair = true;
    (void) snprintf(job->uuid, sizeof job->uuid, "%s", uuid);
    s_next(job);
}

static const cmn_svc_hooks_t s_hooks = {s_on_handover, s_on_repair, NULL, NULL};

const cmn_svc_hooks_t *
ams_service_hooks(void)
{
    return &s_hooks;
}
