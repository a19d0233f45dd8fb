/* cms_action.c — obt-cms's own jobs after the hand-over: the CRL push, reading and
 * removing a device's credentials. Every run starts by reading the device (cred, or
 * pstat), so a run resumed after a kill -9 finds what the killed run did: a
 * credential it removed is gone (nothing to delete again), a CRL it wrote is
 * replaced by the same or a later one, and a device it left in RFPRO is moved back to
 * RFNOP because its "maint" record says a CMS run moved it. */
#include "cms_action.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "cms_ca.h"
#include "cms_crl.h"

typedef enum {
    PH_PLAN = 0, /* GET cred (creds, cred rm) */
    PH_READ,     /* GET pstat */
    PH_RFPRO,    /* POST pstat dos.s=2 (from RFNOP) */
    PH_WRITE,    /* POST /oic/sec/crl, or DELETE /oic/sec/cred?credid= */
    PH_RFNOP,    /* POST pstat dos.s=3 (back, when a CMS run moved it) */
    PH_VERIFY,   /* GET cred: the result, recorded (cred rm) */
} s_phase_t;

typedef struct {
    s_phase_t phase;
    Obt__Store__CmsAction *act; /* the action (unpacked from job->action) */
    bool is_moved;              /* a CMS run moved the device out of RFNOP */
    bool has_delete;            /* cred rm: the credential is on the device */
    bool was_cert;              /* cred rm: it was the identity certificate */
    int refused_code;           /* the device refused the write: its code */
    uint64_t pushed;            /* crl push: the CRL number sent */
} s_work_t;

_Static_assert(sizeof(s_work_t) <= CMS_ACTION_WORK_SIZE, "CMS_ACTION_WORK_SIZE too small");

static void s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r);
static void s_after_rfpro(cmn_svc_job_t *job);
static void s_after_write(cmn_svc_job_t *job);
static void s_end(cmn_svc_job_t *job);

void
cms_action_run(cmn_svc_t *svc,
               zframe_t *peer,
               uint64_t corr_id,
               const char *uuid,
               const Obt__Store__CmsAction *act)
{
    uint8_t buf[64];
    size_t len = obt__store__cms_action__get_packed_size(act);
    if (len > sizeof buf) {
        return; /* every action is a few bytes */
    }
    (void) obt__store__cms_action__pack(act, buf);
    cmn_svc_job_action(svc, peer, corr_id, uuid, buf, len);
}

static cmn_err_t
s_maint(cmn_svc_t *svc, const char *uuid, bool is_set)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), true, &txn);
    if (err == CMN_OK) {
        err = is_set ? cmn_kv_put(txn, CMS_ACTION_DB_MAINT, uuid, 36, "rfnop", 5)
                     : cmn_kv_del(txn, CMS_ACTION_DB_MAINT, uuid, 36);
        err = err == CMN_ENOTFOUND ? CMN_OK : err;
    }
    if (err == CMN_OK) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

static bool
s_is_maint(cmn_svc_t *svc, const char *uuid)
{
    cmn_kv_txn_t *txn = NULL;
    void *val = NULL;
    size_t len = 0;
    bool is_set = false;
    if (cmn_kv_begin(cmn_svc_kv(svc), false, &txn) == CMN_OK) {
        is_set = cmn_kv_get(txn, CMS_ACTION_DB_MAINT, uuid, 36, &val, &len) == CMN_OK;
        cmn_kv_abort(&txn);
    }
    free(val);
    return is_set;
}

static void
s_get(cmn_svc_job_t *job, const char *step, const char *path)
{
    cmn_svc_job_coap(job, step, OBT__GW__METHOD__METHOD_GET, path, NULL, NULL, 0, s_on_reply);
}

static void
s_pstat(cmn_svc_job_t *job, const char *step, int64_t dos_s)
{
    cmn_pstat_t ps = {.present = CMN_PSTAT_HAS_DOS, .dos_s = dos_s};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_pstat_encode(&ps, &buf, &len) != CMN_OK) {
        cmn_svc_job_finish(job, CMN_ENOMEM, "cannot encode pstat", NULL);
        return;
    }
    cmn_svc_job_coap(job, step, OBT__GW__METHOD__METHOD_POST, "/oic/sec/pstat", NULL, buf, len,
                     s_on_reply);
    free(buf);
}

static void
s_write(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    w->phase = PH_WRITE;
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE) {
        char query[40];
        (void) snprintf(query, sizeof query, "credid=%lld",
                        (long long) w->act->cred_remove->credid);
        cmn_svc_job_coap(job, "DELETE cred", OBT__GW__METHOD__METHOD_DELETE, "/oic/sec/cred", query,
                         NULL, 0, s_on_reply);
        return;
    }
    uint8_t *body = NULL;
    size_t len = 0;
    cmn_err_t err = cms_crl_body(job->svc, &body, &len, &w->pushed);
    if (err != CMN_OK) {
        char why[96];
        (void) snprintf(why, sizeof why, "cannot make the CRL: %s", cmn_strerror(err));
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    cmn_svc_job_coap(job, "POST crl", OBT__GW__METHOD__METHOD_POST, "/oic/sec/crl", NULL, body, len,
                     s_on_reply);
    free(body);
}

/* Ends the job with the record as it is, the device's creds (CBOR p, private data
 * removed here) when given; cred rm of the identity certificate: its record becomes
 * "removed" and the device's record has no certificate any more. */
static void
s_record(cmn_svc_job_t *job, const cmn_creds_t *creds)
{
    s_work_t *w = job->work;
    Obt__ServiceDevice *held = NULL;
    cmn_err_t err = cmn_svc_get(job->svc, job->head.uuid, &held);
    if (err != CMN_OK) {
        cmn_svc_job_finish(job, err, "cannot read the device's record", NULL);
        return;
    }
    Obt__ServiceDevice dev = *held; /* shallow: fields set here never reach held's own */
    uint8_t *buf = NULL;
    size_t len = 0;
    if (creds) {
        cmn_creds_t bare = *creds;
        cmn_cred_t *copy = calloc(creds->n_creds + 1, sizeof *copy);
        for (size_t i = 0; copy && i < creds->n_creds; i++) {
            copy[i] = creds->creds[i]; /* shallow: only the private data is left out */
            copy[i].priv_data = NULL;
            copy[i].priv_len = 0;
        }
        bare.creds = copy;
        if (copy == NULL || cmn_creds_encode(&bare, &buf, &len) != CMN_OK) {
            free(copy);
            obt__service_device__free_unpacked(held, NULL);
            cmn_svc_job_finish(job, CMN_ENOMEM, "cannot record the device's credentials", NULL);
            return;
        }
        free(copy);
        dev.cms_device_cred.data = buf;
        dev.cms_device_cred.len = len;
    }
    if (w->was_cert && held->cert_serial[0]) {
        (void) cms_ca_set_status(cmn_svc_kv(job->svc), held->cert_serial, "removed");
        cmn_log_notice("CMS-CERT-STATUS", "dev=%s serial=%s removed from the device",
                       job->head.uuid, held->cert_serial);
        dev.cert_serial = CMN_PB_STR("");
        dev.cert_note = CMN_PB_STR("identity certificate removed (obtctl cred rm)");
    }
    cmn_svc_job_finish(job, CMN_OK, NULL, &dev);
    free(buf);
    obt__service_device__free_unpacked(held, NULL);
}

/* The key of one of the domain's services (its sessions to the device): never removed. */
static const char *
s_service_of(const cmn_svc_job_t *job, const cmn_cred_t *c)
{
    const Obt__DeviceHandover *h = job->handover;
    const char *const uuids[] = {h->dots_uuid, h->cms_uuid, h->ams_uuid};
    const char *const names[] = {"obt-dots (the owner)", "obt-cms", "obt-ams"};
    char s[CMN_UUID_STR_LEN + 1];
    if (c->subject_is_wildcard) {
        return NULL;
    }
    cmn_uuid_to_str(&c->subjectuuid, s);
    for (size_t i = 0; i < 3; i++) {
        if (c->credtype == CMN_CREDTYPE_PSK && uuids[i] && strcasecmp(uuids[i], s) == 0) {
            return names[i];
        }
    }
    return NULL;
}

/* PH_PLAN and PH_VERIFY: the device's cred. */
static void
s_on_cred(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    cmn_creds_t creds;
    char why[200];
    if (cmn_creds_decode(r->payload.data, r->payload.len, &creds) != CMN_OK) {
        cmn_svc_job_finish(job, CMN_EPROTO, "GET cred: invalid CBOR from the device", NULL);
        return;
    }
    int64_t credid = w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE
                             ? w->act->cred_remove->credid
                             : 0;
    const cmn_cred_t *found = NULL;
    for (size_t i = 0; credid && i < creds.n_creds; i++) {
        found = creds.creds[i].credid == credid ? &creds.creds[i] : found;
    }
    if (credid == 0 || w->phase == PH_VERIFY) {
        if (found) {
            (void) snprintf(why, sizeof why, "credential %lld is still on the device",
                            (long long) credid);
            cmn_svc_job_finish(job, CMN_ESTATE, why, NULL);
        } else {
            s_record(job, &creds);
        }
        cmn_creds_free(&creds);
        return;
    }
    const char *service = found ? s_service_of(job, found) : NULL;
    cmn_err_t err = CMN_OK;
    if (service) {
        err = CMN_EINVAL;
        (void) snprintf(why, sizeof why,
                        "credential %lld is the key of %s's sessions to the device: not removed",
                        (long long) credid, service);
    } else if (found == NULL && !s_is_maint(job->svc, job->head.uuid)) {
        err = CMN_ENOTFOUND;
        (void) snprintf(why, sizeof why, "the device has no credential %lld", (long long) credid);
    }
    w->has_delete = found != NULL; /* gone already: a resumed run, back to RFNOP only */
    w->was_cert = found && found->credtype == CMN_CREDTYPE_CERT &&
                  strcmp(found->credusage, "oic.sec.cred.cert") == 0;
    cmn_creds_free(&creds);
    if (err != CMN_OK) {
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    w->phase = PH_READ;
    s_get(job, "GET pstat", "/oic/sec/pstat");
}

static void
s_on_pstat(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    cmn_pstat_t ps;
    char why[96];
    if (cmn_pstat_decode(r->payload.data, r->payload.len, &ps) != CMN_OK ||
        !(ps.present & CMN_PSTAT_HAS_DOS)) {
        cmn_svc_job_finish(job, CMN_EPROTO, "GET pstat: invalid CBOR from the device", NULL);
        return;
    }
    w->is_moved = s_is_maint(job->svc, job->head.uuid);
    if (ps.dos_s == CMN_DOS_RFNOP) {
        cmn_err_t err = s_maint(job->svc, job->head.uuid, true); /* before it leaves RFNOP */
        if (err != CMN_OK) {
            cmn_svc_job_finish(job, err, "cannot record the maintenance", NULL);
            return;
        }
        w->is_moved = true;
        w->phase = PH_RFPRO;
        s_pstat(job, "RFPRO", CMN_DOS_RFPRO);
    } else if (ps.dos_s == CMN_DOS_RFPRO) {
        /* being provisioned (by us before a restart, or by another service) */
        s_after_rfpro(job);
    } else {
        (void) snprintf(why, sizeof why, "the device is in dos.s %lld: nothing written",
                        (long long) ps.dos_s);
        cmn_svc_job_finish(job, CMN_ESTATE, why, NULL);
    }
}

/* In RFPRO: the write, unless a resumed cred rm finds its credential gone already. */
static void
s_after_rfpro(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE && !w->has_delete) {
        s_after_write(job);
        return;
    }
    s_write(job);
}

/* After the write (or nothing to write): back to RFNOP if a CMS run moved it. */
static void
s_after_write(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    if (w->is_moved) {
        w->phase = PH_RFNOP;
        s_pstat(job, "RFNOP", CMN_DOS_RFNOP);
        return;
    }
    s_end(job);
}

/* The write's outcome, the device in the state it was found in. */
static void
s_end(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    char why[160];
    if (w->refused_code != 0) {
        (void) snprintf(why, sizeof why, "the device refused %s: %d.%02d",
                        w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRL_PUSH ? "the CRL"
                                                                                   : "the removal",
                        w->refused_code / 100, w->refused_code % 100);
        cmn_log_warn("CMS-ACTION-REFUSED", "dev=%s %s", job->head.uuid, why);
        cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
        return;
    }
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE) {
        w->phase = PH_VERIFY;
        s_get(job, "verify cred", "/oic/sec/cred");
        return;
    }
    cmn_err_t err = cms_crl_delivered(job->svc, job->head.uuid, w->pushed);
    if (err != CMN_OK) {
        cmn_svc_job_finish(job, err, "cannot record the CRL push", NULL);
        return;
    }
    s_record(job, NULL);
}

static void
s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    char why[160];
    unsigned want = w->phase == PH_PLAN || w->phase == PH_READ || w->phase == PH_VERIFY ? 205 : 204;
    if (w->phase != PH_WRITE && r->code != want) {
        (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step, r->code / 100,
                        r->code % 100);
        cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
        return;
    }
    switch (w->phase) {
    case PH_PLAN:
    case PH_VERIFY:
        s_on_cred(job, r);
        return;
    case PH_READ:
        s_on_pstat(job, r);
        return;
    case PH_RFPRO:
        s_after_rfpro(job);
        return;
    case PH_WRITE: {
        bool is_delete = w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE;
        bool ok = is_delete ? r->code == 202 || r->code == 404 : r->code == 204 || r->code == 201;
        w->refused_code = ok ? 0 : (int) r->code; /* back to RFNOP first, refused or not */
        s_after_write(job);
        return;
    }
    case PH_RFNOP:
        if (s_maint(job->svc, job->head.uuid, false) != CMN_OK) {
            cmn_log_warn("CMS-ACTION-MAINT", "dev=%s cannot clear its maintenance record",
                         job->head.uuid);
        }
        s_end(job);
        return;
    }
}

void
cms_action_start(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    cms_action_drop(job);
    memset(w, 0, sizeof *w);
    w->act = obt__store__cms_action__unpack(NULL, job->action_len, job->action);
    if (w->act == NULL || (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE &&
                           w->act->cred_remove->credid < 1)) {
        cmn_svc_job_finish(job, CMN_EPROTO, "the stored action does not unpack", NULL);
        return;
    }
    switch (w->act->body_case) {
    case OBT__STORE__CMS_ACTION__BODY_CRL_PUSH:
        w->phase = PH_READ;
        s_get(job, "GET pstat", "/oic/sec/pstat");
        return;
    case OBT__STORE__CMS_ACTION__BODY_CRED_READ:
    case OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE:
        w->phase = PH_PLAN;
        s_get(job, "GET cred", "/oic/sec/cred");
        return;
    default:
        cmn_svc_job_finish(job, CMN_EPROTO, "unknown stored action", NULL);
        return;
    }
}

void
cms_action_drop(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    if (w->act) {
        obt__store__cms_action__free_unpacked(w->act, NULL);
        w->act = NULL;
    }
}
