/* cms_service.c — obt-cms: dispatch and the hand-over check */
#include "cms_service.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_time.h"
#include "obt/gateway.pb-c.h"

typedef struct {
    cmn_svc_t *svc;
    zframe_t *peer; /* who asked (owned) */
    uint64_t corr_id;
    char uuid[37];                 /* device */
    char ep[80];                   /* its coaps:// endpoint */
    uint8_t psk[16];               /* our key for it */
    Obt__DeviceHandover *handover; /* the request (owned copy, psk wiped) */
    bool is_repair;                /* RepairDevice (SRESET) rather than a hand-over */
} s_job_t;

static void
s_finish(s_job_t *job, cmn_err_t err, const char *error, const char *cipher)
{
    Obt__ServiceDevice dev = OBT__SERVICE_DEVICE__INIT;
    dev.device_uuid = job->uuid;
    dev.eps = job->handover->eps;
    dev.n_eps = job->handover->n_eps;
    dev.state = CMN_PB_STR(err == CMN_OK ? "verified" : "failed");
    dev.error = CMN_PB_STR(err == CMN_OK ? "" : error);
    dev.cipher = CMN_PB_STR(cipher ? cipher : "");
    dev.updated_ms = cmn_time_wall_ms();
    cmn_err_t serr = cmn_svc_put(job->svc, &dev, job->handover, NULL);
    if (serr != CMN_OK) {
        cmn_log_err("CMS-STORE", "dev=%s cannot record the outcome: %s", job->uuid,
                    cmn_strerror(serr));
    }
    if (err == CMN_OK) {
        cmn_log_notice("CMS-VERIFIED", "dev=%s own PSK session works (%s)", job->uuid, dev.cipher);
    } else {
        cmn_log_warn("CMS-FAILED", "dev=%s %s", job->uuid, error);
    }
    cmn_svc_answer(job->svc, job->peer, job->corr_id, err, error,
                   job->is_repair ? OBT__SERVICE_REPLY__BODY_REPAIR
                                  : OBT__SERVICE_REPLY__BODY_HANDOVER,
                   &dev);
    cmn_svc_close_session(job->svc, job->ep); /* this job is over: free the gateway */
    OPENSSL_cleanse(job->psk, sizeof job->psk);
    zframe_destroy(&job->peer);
    obt__device_handover__free_unpacked(job->handover, NULL);
    free(job);
}

static void
s_on_cred(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_job_t *job = arg;
    char why[200];
    if (err != CMN_OK) {
        (void) snprintf(why, sizeof why, "GET cred: %s", cmn_strerror(err));
        s_finish(job, err, why, NULL);
        return;
    }
    Obt__Gw__Reply *r = obt__gw__reply__unpack(NULL, len, data);
    if (r == NULL || r->status != OBT__STATUS__STATUS_OK ||
        r->body_case != OBT__GW__REPLY__BODY_COAP) {
        (void) snprintf(why, sizeof why, "GET cred: %s",
                        r && r->error[0] ? r->error : "gateway error");
        s_finish(job, r ? cmn_err_from_status(r->status) : CMN_EPROTO, why, NULL);
        goto out;
    }
    cmn_creds_t creds;
    cmn_uuid_t me;
    (void) cmn_uuid_from_str(cmn_svc_uuid(job->svc), &me);
    if (r->coap->code != 205) {
        (void) snprintf(why, sizeof why, "GET cred: device answered %u.%02u", r->coap->code / 100,
                        r->coap->code % 100);
        s_finish(job, CMN_EDEVICE, why, r->coap->cipher);
    } else if (cmn_creds_decode(r->coap->payload.data, r->coap->payload.len, &creds) != CMN_OK) {
        s_finish(job, CMN_EPROTO, "GET cred: invalid CBOR from device", r->coap->cipher);
    } else {
        bool is_owner = cmn_uuid_eq(&creds.rowneruuid, &me);
        cmn_creds_free(&creds);
        if (is_owner) {
            s_finish(job, CMN_OK, NULL, r->coap->cipher);
        } else {
            s_finish(job, CMN_ESTATE, "cred rowneruuid is not this CMS", r->coap->cipher);
        }
    }
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
    cmn_uuid_t u;
    const char *ep = NULL;
    for (size_t i = 0; i < h->n_eps; i++) {
        if (strncmp(h->eps[i], "coaps://", 8) == 0) {
            ep = h->eps[i];
            break;
        }
    }
    if (cmn_uuid_from_str(h->device_uuid, &u) != CMN_OK || h->psk.len != 16 || ep == NULL) {
        cmn_svc_answer(svc, peer, corr_id, CMN_EINVAL,
                       "handover needs a device uuid, a coaps:// endpoint and a 16-byte PSK", 0,
                       NULL);
        return;
    }
    s_job_t *job = calloc(1, sizeof *job);
    size_t plen = obt__device_handover__get_packed_size(h);
    uint8_t *buf = malloc(plen ? plen : 1);
    if (job == NULL || buf == NULL) {
        free(job);
        free(buf);
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
    if (job->handover) {
        OPENSSL_cleanse(job->handover->psk.data, job->handover->psk.len);
    }
    /* Persist before acting: the record and our key first. */
    Obt__ServiceDevice dev = OBT__SERVICE_DEVICE__INIT;
    dev.device_uuid = job->uuid;
    dev.eps = h->eps;
    dev.n_eps = h->n_eps;
    dev.state = CMN_PB_STR("received");
    dev.updated_ms = cmn_time_wall_ms();
    cmn_err_t err = job->handover ? cmn_svc_put(svc, &dev, job->handover, job->psk) : CMN_ENOMEM;
    if (err == CMN_OK) {
        err = cmn_svc_coap(svc, job->uuid, job->ep, job->psk, OBT__GW__METHOD__METHOD_GET,
                           "/oic/sec/cred", NULL, NULL, 0, s_on_cred, job);
    }
    if (err != CMN_OK) {
        s_finish(job, err, "cannot record or contact the device", NULL);
    }
}

/* SRESET (Table 1: CMS corrects /oic/sec/cred as needed): the check of a hand-over,
 * run again from our records over our own session. The cred rowneruuid can only be
 * written by its owner, so a wrong one is reported rather than corrected. */
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
    if (err != CMN_OK) {
        cmn_svc_answer(svc, peer, corr_id, err, "no record, key or endpoint for this device", 0,
                       NULL);
        free(job);
        return;
    }
    job->svc = svc;
    job->peer = zframe_dup(peer);
    job->corr_id = corr_id;
    job->is_repair = true;
    (void) snprintf(job->uuid, sizeof job->uuid, "%s", uuid);
    err = cmn_svc_coap(svc, job->uuid, job->ep, job->psk, OBT__GW__METHOD__METHOD_GET,
                       "/oic/sec/cred", NULL, NULL, 0, s_on_cred, job);
    if (err != CMN_OK) {
        s_finish(job, err, "cannot contact the device", NULL);
    }
}

static const cmn_svc_hooks_t s_hooks = {s_on_handover, s_on_repair, NULL, NULL};

const cmn_svc_hooks_t *
cms_service_hooks(void)
{
    return &s_hooks;
}
