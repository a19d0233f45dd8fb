/* cms_service.c — obt-cms: the steps of its jobs in the service core. A hand-over
 * (and a repair: SRESET, Table 1) proves our own PSK session to the device and checks
 * that its /oic/sec/cred names this CMS as resource owner. */
#include "cms_service.h"

#include <stdio.h>

#include "cmn_svr.h"
#include "cmn_uuid.h"

static void
s_on_cred(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    Obt__ServiceDevice dev = OBT__SERVICE_DEVICE__INIT;
    cmn_creds_t creds;
    cmn_uuid_t me;
    char why[96];
    (void) cmn_uuid_from_str(cmn_svc_uuid(job->svc), &me);
    if (r->code != 205) {
        (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step, r->code / 100,
                        r->code % 100);
        cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
        return;
    }
    if (cmn_creds_decode(r->payload.data, r->payload.len, &creds) != CMN_OK) {
        (void) snprintf(why, sizeof why, "%s: invalid CBOR from device", job->step);
        cmn_svc_job_finish(job, CMN_EPROTO, why, NULL);
        return;
    }
    /* The cred rowneruuid can only be written by its owner (DOTS), so a wrong one is
     * reported rather than corrected. */
    bool is_owner = cmn_uuid_eq(&creds.rowneruuid, &me);
    cmn_creds_free(&creds);
    if (!is_owner) {
        cmn_svc_job_finish(job, CMN_ESTATE, "cred rowneruuid is not this CMS", NULL);
        return;
    }
    dev.state = CMN_PB_STR("verified");
    cmn_svc_job_finish(job, CMN_OK, NULL, &dev);
}

static void
s_start(cmn_svc_job_t *job)
{
    cmn_svc_job_coap(job, "GET cred", OBT__GW__METHOD__METHOD_GET, "/oic/sec/cred", NULL, NULL, 0,
                     s_on_cred);
}

static const cmn_svc_hooks_t s_hooks = {0, s_start, NULL, NULL, NULL, NULL};

const cmn_svc_hooks_t *
cms_service_hooks(void)
{
    return &s_hooks;
}
