/* cms_service.c — obt-cms: its options, its CA at start, and the steps of its jobs in
 * the service core. A hand-over (and a repair: SRESET, Table 1) proves our own PSK
 * session to the device and checks that its /oic/sec/cred names this CMS as resource
 * owner. */
#include "cms_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "cms_api.h"

#define OPT(n, t, f, d, lo, hi, h)                                                                 \
    {                                                                                              \
        n, t, offsetof(cms_config_t, f), d, 0, lo, hi, h                                           \
    }

static const cmn_cfg_opt_t s_ca_opts[] = {
        OPT("ca-validity-days",
            CMN_CFG_INT,
            ca_validity_days,
            "3650",
            1,
            36500,
            "validity of the domain's root CA made at first start (days)"),
        OPT("cert-validity-days",
            CMN_CFG_INT,
            cert_validity_days,
            "365",
            1,
            36500,
            "validity of the certificates CMS issues (days)"),
        OPT("ca-cert",
            CMN_CFG_STR,
            ca_cert,
            "",
            1,
            0,
            "sub-CA: PEM file of our CA certificate then the upper chain to its root"),
        OPT("ca-key", CMN_CFG_STR, ca_key, "", 1, 0, "sub-CA: PEM file of our CA's private key"),
};
#define S_N_CA_OPTS (sizeof s_ca_opts / sizeof s_ca_opts[0])

cmn_cfg_result_t
cms_config_load(cms_config_t *cfg, int argc, char **argv)
{
    cmn_cfg_result_t r = cmn_svc_config_load_ext(&cfg->svc, "cms", "tcp://127.0.0.1:7402",
                                                 "OBT CMS", s_ca_opts, S_N_CA_OPTS, argc, argv);
    if (r == CMN_CFG_OK && (cfg->ca_cert[0] == '\0') != (cfg->ca_key[0] == '\0')) {
        (void) fprintf(stderr, "error: --ca-cert and --ca-key go together (a sub-CA)\n");
        r = CMN_CFG_ERROR;
    }
    return r;
}

void
cms_config_free(cms_config_t *cfg)
{
    cmn_svc_config_free_ext(&cfg->svc, s_ca_opts, S_N_CA_OPTS);
}

struct cms {
    const cms_config_t *cfg;
    cms_ca_t *ca;          /* the domain CA (root from the store, or the sub-CA) */
    cmn_svc_hooks_t hooks; /* given to the core */
};

cms_ca_t *
cms_ca(const cms_t *self)
{
    return self->ca;
}

static void
s_log_ca(const cms_t *self, const char *how)
{
    char fp[65], subject[256], not_after[64];
    if (cmn_cert_describe(cms_ca_cert(self->ca), fp, subject, sizeof subject, not_after,
                          sizeof not_after) == CMN_OK) {
        cmn_log_notice("CMS-CA", "%s %s \"%s\" sha256=%s not after %s", how,
                       cms_ca_is_sub(self->ca) ? "sub-CA" : "root CA", subject, fp, not_after);
    }
}

/* The core's init hook: the root CA from the store, made at first start. */
static cmn_err_t
s_init(cmn_svc_t *svc, void *arg)
{
    cms_t *self = arg;
    if (self->ca) {
        s_log_ca(self, "using the");
        return CMN_OK; /* a sub-CA, loaded by cms_new */
    }
    bool is_new = false;
    cmn_err_t err = CMN_OK;
    self->ca = cms_ca_open_root(cmn_svc_kv(svc), cmn_svc_seal(svc), cmn_svc_uuid(svc),
                                self->cfg->ca_validity_days, &is_new, &err);
    if (self->ca == NULL) {
        cmn_log_err("CMS-CA", "cannot open or make the domain CA in \"%s\": %s",
                    self->cfg->svc.store_dir, cmn_strerror(err));
        return err;
    }
    s_log_ca(self, is_new ? "made the" : "using the");
    return CMN_OK;
}

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

static const char *const s_dbs[] = {CMS_CA_DB_CA, CMS_CA_DB_CERTS};

cms_t *
cms_new(const cms_config_t *cfg, char *why, size_t why_len)
{
    cms_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        (void) snprintf(why, why_len, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    if (cfg->ca_cert[0]) {
        self->ca = cms_ca_open_sub(cfg->ca_cert, cfg->ca_key, time(NULL), why, why_len);
        if (self->ca == NULL) {
            free(self);
            return NULL;
        }
    }
    self->hooks.start = s_start;
    self->hooks.own = cms_api_on_request;
    self->hooks.arg = self;
    self->hooks.dbs = s_dbs;
    self->hooks.n_dbs = sizeof s_dbs / sizeof s_dbs[0];
    self->hooks.init = s_init;
    return self;
}

void
cms_destroy(cms_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cms_ca_destroy(&(*self_p)->ca);
    free(*self_p);
    *self_p = NULL;
}

const cmn_svc_hooks_t *
cms_hooks(cms_t *self)
{
    return &self->hooks;
}
