/* dots_steps.c — what each onboarding step says to the device (clause 5.3.1 steps
 * 3-12 over the gateway, then the hand-over to CMS and AMS), and the checks of the
 * device's doxm that choose the OTM (clause 5.3.1 step 3, 5.3.3). The state machine
 * that orders the steps, persists the job before each and handles the replies is in
 * dots_onboard.c. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_svc.h"
#include "cmn_svr.h"
#include "cmn_time.h"
#include "dots_onboard_int.h"
#include "obt/common.pb-c.h"

/* ------------------------------------------------------------------ requests */

static cmn_err_t
s_send_gw(dots_job_t *job, Obt__Gw__Request *req)
{
    cmn_calls_t *gw = dots_job_gw(job, job->why, sizeof job->why);
    if (gw == NULL) {
        return CMN_ENOTFOUND;
    }
    /* an answer from another instance of the gateway means this one went away */
    job->sent_boot_id = cmn_gws_find(job->eng->gws, job->dev.gateway)->live.boot_id;
    job->sent_mono_ms = cmn_time_mono_ms();
    dots_call_ctx_t *c = dots_call_ctx(job);
    if (c == NULL) {
        return CMN_ENOMEM;
    }
    req->corr_id = cmn_bus_next_corr_id();
    uint32_t timeout = (uint32_t) job->eng->cfg->step_timeout_ms;
    job->dev.deadline_ms = cmn_time_wall_ms() + timeout;
    cmn_err_t err = dots_call(job->eng, gw, &req->base, req->corr_id, timeout + 500,
                              dots_job_on_gw_reply, c);
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
    const char *ep = dots_dev_ep(&job->dev, secure);
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

void
dots_step_close_doc(dots_job_t *job)
{
    const char *ep = dots_dev_ep(&job->dev, true);
    char why[80];
    cmn_calls_t *gw = dots_job_gw(job, why, sizeof why);
    /* Nobody waits for this one: the job has already failed. */
    if (ep && gw && cmn_gw_close_session(gw, ep, 5000) != CMN_OK) {
        cmn_log_warn("DOTS-CLOSE", "dev=%s cannot ask the gateway to close the DOC", job->dev.uuid);
    }
}

/* ------------------------------------------------------------------ step payloads */

cmn_err_t
dots_step_send(dots_job_t *job)
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
        d.endpoint = CMN_PB_STR(dots_dev_ep(&job->dev, true));
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
        cs.endpoint = CMN_PB_STR(dots_dev_ep(&job->dev, true));
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
        h.gateway = job->dev.gateway; /* CMS and AMS reach the device through it too */
        const cmn_gw_t *gw = cmn_gws_find(eng->gws, job->dev.gateway);
        job->sent_boot_id = gw ? gw->live.boot_id : 0; /* its restart cuts the hand-over */
        job->sent_mono_ms = cmn_time_mono_ms();
        dots_call_ctx_t *c = dots_call_ctx(job);
        if (c == NULL) {
            return CMN_ENOMEM;
        }
        uint64_t corr = cmn_bus_next_corr_id();
        uint32_t timeout = (uint32_t) eng->cfg->step_timeout_ms * 4;
        Obt__ServiceRequest req = OBT__SERVICE_REQUEST__INIT;
        req.corr_id = corr;
        req.body_case = OBT__SERVICE_REQUEST__BODY_HANDOVER;
        req.handover = &h;
        err = dots_call(eng, is_cms ? eng->cms : eng->ams, &req.base, corr, timeout,
                        dots_job_on_svc_reply, c);
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

/* ------------------------------------------------------------------ answers */

cmn_err_t
dots_step_check_doxm(dots_job_t *job, const uint8_t *p, size_t len)
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
        if ((d.present & CMN_DOXM_HAS_DEVICEUUID) && !cmn_uuid_is_nil(&d.deviceuuid) && !d.owned) {
            /* the device reset: this record is superseded (dots_recover.c) */
            (void) snprintf(job->dev.superseded_by, sizeof job->dev.superseded_by, "%s", uuid);
        }
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
const char *
dots_step_doc_error(const dots_job_t *job, const Obt__Gw__Reply *reply, char *why, size_t why_len)
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
