/* cms_service.c — obt-cms: its options, its CA at start, and the steps of its jobs in
 * the service core. A hand-over (and a repair: SRESET, Table 1) proves our own PSK
 * session to the device and checks that its /oic/sec/cred names this CMS as resource
 * owner. */
#include "cms_service.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "cms_action.h"
#include "cms_api.h"
#include "cms_crl.h"
#include "cms_csr.h"
#include "cms_group.h"
#include "cms_pair.h"

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
        OPT("crl-refresh",
            CMN_CFG_INT,
            crl_refresh_s,
            "7776000",
            1,
            315360000,
            "seconds from a CRL's thisUpdate to its nextUpdate (default 90 days)"),
        OPT("test-oscore-ids",
            CMN_CFG_STR,
            test_oscore_ids,
            "",
            0,
            0,
            "TESTS ONLY: the first OSCORE ids pairs draw, in order (ID,ID,...; 14 hex digits "
            "01...) instead of the DRBG's; never set it in production"),
};
#define S_N_CA_OPTS (sizeof s_ca_opts / sizeof s_ca_opts[0])

/* --test-oscore-ids: "" or ID,ID,... with each ID 01 then 12 lowercase hex digits. */
static bool
s_test_ids_ok(const char *list)
{
    for (const char *p = list; *p; p += 15) {
        size_t n = strcspn(p, ",");
        if (n != 14 || strncmp(p, "01", 2) != 0 || strspn(p, "0123456789abcdef") < 14) {
            return false;
        }
        if (p[n] == '\0') {
            break;
        }
        if (p[n + 1] == '\0') {
            return false; /* a trailing comma */
        }
    }
    return true;
}

cmn_cfg_result_t
cms_config_load(cms_config_t *cfg, int argc, char **argv)
{
    cmn_cfg_result_t r = cmn_svc_config_load_ext(&cfg->svc, "cms", "tcp://127.0.0.1:7402",
                                                 "OBT CMS", s_ca_opts, S_N_CA_OPTS, argc, argv);
    if (r == CMN_CFG_OK && (cfg->ca_cert[0] == '\0') != (cfg->ca_key[0] == '\0')) {
        (void) fprintf(stderr, "error: --ca-cert and --ca-key go together (a sub-CA)\n");
        r = CMN_CFG_ERROR;
    }
    if (r == CMN_CFG_OK && !s_test_ids_ok(cfg->test_oscore_ids)) {
        (void) fprintf(stderr, "error: --test-oscore-ids: want ID,ID,... each 14 lowercase hex "
                               "digits starting 01 (a pairwise OSCORE id, 6.3)\n");
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
    char *own_chain;       /* CMS's identity certificate then the CA chain (PEM) */
    char *own_key;         /* its private key (PEM; a secret, wiped at the end) */
    cms_crl_t *crl;        /* the CRL push queue's timers */
    size_t test_ids_used;  /* --test-oscore-ids given out so far */
    cmn_svc_hooks_t hooks; /* given to the core */
};

cms_ca_t *
cms_ca(const cms_t *self)
{
    return self->ca;
}

int
cms_cert_validity_days(const cms_t *self)
{
    return self->cfg->cert_validity_days;
}

int
cms_crl_refresh_s(const cms_t *self)
{
    return self->cfg->crl_refresh_s;
}

bool
cms_test_oscore_id(cms_t *self, char out[15])
{
    const char *p = self->cfg->test_oscore_ids;
    for (size_t i = 0; *p && i < self->test_ids_used; i++) {
        p += strcspn(p, ",");
        p += *p == ',';
    }
    if (*p == '\0') {
        return false;
    }
    (void) snprintf(out, 15, "%.14s", p);
    self->test_ids_used++;
    cmn_log_warn("CMS-TEST-HOOK", "OSCORE id %s from --test-oscore-ids (tests only)", out);
    return true;
}

cms_crl_t *
cms_crl_state(const cms_t *self)
{
    return self->crl;
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

/* CMS's own identity certificate, for its certificate sessions to devices. */
static cmn_err_t
s_own_identity(cmn_svc_t *svc, cms_t *self)
{
    cmn_err_t err =
            cms_ca_own_identity(self->ca, cmn_svc_kv(svc), cmn_svc_seal(svc), cmn_svc_uuid(svc),
                                self->cfg->cert_validity_days, &self->own_chain, &self->own_key);
    if (err != CMN_OK) {
        cmn_log_err("CMS-CA", "cannot load or issue CMS's own identity certificate: %s",
                    cmn_strerror(err));
    }
    return err;
}

/* The core's init hook: the root CA from the store, made at first start. */
static cmn_err_t
s_init(cmn_svc_t *svc, void *arg)
{
    cms_t *self = arg;
    if (self->ca) {
        s_log_ca(self, "using the");
        return s_own_identity(svc, self); /* a sub-CA, loaded by cms_new */
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
    return s_own_identity(svc, self);
}

/* The state of one hand-over or repair (job->work). */
typedef struct {
    uint32_t sct;         /* the device's doxm sct */
    int64_t ta_credid;    /* its trust anchor from us already (replaced), 0 = none */
    int64_t cert_credid;  /* its identity certificate already (replaced), 0 = none */
    char serial[65];      /* the certificate issued in this run */
    const char *key_from; /* "csr" or "cms" */
} s_work_t;

/* Ends job with "<step>: <what>[: <detail>]". */
static void
s_fail(cmn_svc_job_t *job, cmn_err_t err, const char *what, const char *detail)
{
    char why[400];
    (void) snprintf(why, sizeof why, "%s: %s%s%s", job->step, what, detail ? ": " : "",
                    detail ? detail : "");
    cmn_svc_job_finish(job, err, why, NULL);
}

static bool
s_code_ok(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r, unsigned want, unsigned want2)
{
    if (r->code == want || r->code == want2) {
        return true;
    }
    char why[96];
    (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step, r->code / 100,
                    r->code % 100);
    cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
    return false;
}

static void
s_done(cmn_svc_job_t *job, const char *note)
{
    s_work_t *w = job->work;
    Obt__ServiceDevice dev = OBT__SERVICE_DEVICE__INIT;
    dev.state = CMN_PB_STR("verified");
    dev.sct = w->sct;
    dev.cert_serial = w->serial;
    dev.cert_note = CMN_PB_STR(note);
    if (w->serial[0] && cms_crl_queue_device(job->svc, job->head.uuid) != CMN_OK) {
        cmn_log_warn("CMS-CRL-QUEUE", "dev=%s cannot queue the current CRL for it", job->head.uuid);
    }
    cmn_svc_job_finish(job, CMN_OK, NULL, &dev);
}

static cms_t *
s_cms(const cmn_svc_job_t *job)
{
    return cmn_svc_hooks(job->svc)->arg;
}

/* The identity certificates of one device in a given status, but one. */
typedef struct {
    const char *status; /* to find */
    const char *except; /* serial left alone */
    char serials[8][65];
    size_t n;
} s_others_t;

static void
s_collect_others(const Obt__Store__CmsCert *c, void *arg)
{
    s_others_t *o = arg;
    if (o->n < 8 && strcmp(c->status, o->status) == 0 && strcmp(c->usage, "identity") == 0 &&
        strcmp(c->serial, o->except) != 0) {
        (void) snprintf(o->serials[o->n++], 65, "%s", c->serial);
    }
}

/* Sets the identity certificates of device uuid in status from (but except) to status
 * to: an earlier run's certificate that never reached the device becomes "abandoned",
 * the one a new certificate replaced on the device "replaced". */
static void
s_move_others(
        cmn_svc_t *svc, const char *uuid, const char *except, const char *from, const char *to)
{
    s_others_t o = {from, except, {{0}}, 0};
    (void) cms_ca_each_cert(cmn_svc_kv(svc), uuid, s_collect_others, &o);
    for (size_t i = 0; i < o.n; i++) {
        (void) cms_ca_set_status(cmn_svc_kv(svc), o.serials[i], to);
        cmn_log_info("CMS-CERT-STATUS", "dev=%s serial=%s %s -> %s", uuid, o.serials[i], from, to);
    }
}

static void
s_on_proof(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    if (!s_code_ok(job, r, 205, 205)) {
        return;
    }
    char note[200];
    (void) snprintf(note, sizeof note, "key pair %s; proved by a certificate session (%s)",
                    strcmp(w->key_from, "csr") == 0 ? "of the device (CSR)"
                                                    : "made by CMS (no /oic/sec/csr)",
                    job->cipher);
    cmn_log_notice("CMS-CERT-PROVED", "dev=%s certificate session %s", job->head.uuid, job->cipher);
    s_done(job, note);
}

/* The proof (6.1): a DTLS session with CMS's own identity certificate, both sides
 * checking the other's chain against the domain's anchor; a GET of the device's cred
 * over it (CMS, its cred's owner, is the CN of our certificate). */
void
cms_prove(cmn_svc_job_t *job, cmn_svc_reply_fn *fn)
{
    cms_t *cms = s_cms(job);
    char *anchor = NULL;
    size_t alen = 0;
    if (cms_ca_pem(cms_ca_anchor(cms_ca(cms)), &anchor, &alen) != CMN_OK) {
        s_fail(job, CMN_ENOMEM, "cannot build the certificate session", NULL);
        return;
    }
    Obt__Gw__Security sec = OBT__GW__SECURITY__INIT;
    sec.kind = OBT__GW__SECURITY_KIND__SEC_CERT;
    sec.trust_anchors_pem.data = (uint8_t *) anchor;
    sec.trust_anchors_pem.len = alen;
    sec.cert_pem.data = (uint8_t *) cms->own_chain;
    sec.cert_pem.len = strlen(cms->own_chain);
    sec.key_pem.data = (uint8_t *) cms->own_key; /* the bus wipes what it sent */
    sec.key_pem.len = strlen(cms->own_key);
    cmn_svc_job_coap_sec(job, "certificate session", &sec, OBT__GW__METHOD__METHOD_GET,
                         "/oic/sec/cred", NULL, NULL, 0, fn);
    free(anchor);
}

static void
s_on_post_cred(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    cmn_kv_t *kv = cmn_svc_kv(job->svc);
    if (r->code != 204 && r->code != 201) {
        (void) cms_ca_set_status(kv, w->serial, "abandoned");
        w->serial[0] = '\0';
        (void) s_code_ok(job, r, 204, 201);
        return;
    }
    cmn_err_t err = cms_ca_set_status(kv, w->serial, "active");
    if (err == CMN_OK) {
        s_move_others(job->svc, job->head.uuid, w->serial, "active",
                      "replaced"); /* the POST replaced it */
    }
    if (err != CMN_OK) {
        s_fail(job, err, "cannot record the certificate as active", cmn_strerror(err));
        return;
    }
    cmn_log_notice("CMS-CERT", "dev=%s identity certificate serial=%s (key from %s)",
                   job->head.uuid, w->serial, w->key_from);
    cms_prove(job, s_on_proof);
}

void
cms_cert_cred(
        cmn_cred_t *c, int64_t credid, const cmn_uuid_t *subject, const char *usage, char *pem)
{
    memset(c, 0, sizeof *c);
    c->present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT | CMN_CRED_HAS_CREDUSAGE |
                 CMN_CRED_HAS_PUBLICDATA | (credid > 0 ? CMN_CRED_HAS_CREDID : 0);
    c->credid = credid;
    c->credtype = CMN_CREDTYPE_CERT;
    c->subject_is_wildcard = subject == NULL;
    if (subject) {
        c->subjectuuid = *subject;
    }
    (void) snprintf(c->credusage, sizeof c->credusage, "%s", usage);
    c->pub_data = (uint8_t *) pem;
    c->pub_len = strlen(pem);
    (void) snprintf(c->pub_encoding, sizeof c->pub_encoding, "%s", CMN_ENC_PEM);
}

cmn_err_t
cms_identity_body(cmn_svc_t *svc,
                  const char *uuid,
                  EVP_PKEY *key,
                  const uint8_t *priv,
                  size_t priv_len,
                  int64_t ta_credid,
                  int64_t cert_credid,
                  char ret_serial[65],
                  uint8_t **ret_body,
                  size_t *ret_len)
{
    cms_t *cms = cmn_svc_hooks(svc)->arg;
    cms_ca_t *ca = cms_ca(cms);
    cmn_uuid_t u;
    X509 *leaf = NULL;
    char *anchor = NULL, *full = NULL;
    size_t alen = 0;
    char serial[65] = "";
    (void) cmn_uuid_from_str(uuid, &u);
    s_move_others(svc, uuid, "", "issued", "abandoned");
    cmn_err_t err = cms_ca_issue(ca, cmn_svc_kv(svc), key, &u, CMS_CERT_IDENTITY,
                                 cms_cert_validity_days(cms), &leaf, serial);
    if (err != CMN_OK) {
        return err;
    }
    err = CMN_ENOMEM;
    /* publicdata of the certificate: the leaf, then our CA (and its upper chain) */
    if (cms_ca_pem(cms_ca_anchor(ca), &anchor, &alen) != CMN_OK ||
        cms_ca_leaf_chain_pem(ca, leaf, &full) != CMN_OK) {
        goto out;
    }
    cmn_cred_t creds[2];
    cms_cert_cred(&creds[0], ta_credid, NULL, "oic.sec.cred.trustca", anchor);
    cms_cert_cred(&creds[1], cert_credid, &u, "oic.sec.cred.cert", full);
    if (priv) {
        creds[1].present |= CMN_CRED_HAS_PRIVATEDATA;
        creds[1].priv_data = (uint8_t *) (uintptr_t) priv;
        creds[1].priv_len = priv_len;
        (void) snprintf(creds[1].priv_encoding, sizeof creds[1].priv_encoding, "%s", CMN_ENC_RAW);
    }
    cmn_creds_t out = {0};
    out.present = CMN_CREDS_HAS_CREDS;
    out.creds = creds;
    out.n_creds = 2;
    err = cmn_creds_encode(&out, ret_body, ret_len);
out:
    free(anchor);
    free(full);
    X509_free(leaf);
    if (err != CMN_OK) {
        (void) cms_ca_set_status(cmn_svc_kv(svc), serial, "abandoned");
        return err;
    }
    (void) snprintf(ret_serial, 65, "%s", serial);
    return CMN_OK;
}

/* Issues the identity certificate over key (recorded before it leaves CMS) and POSTs
 * the trust anchor and the certificate (with its chain) in one cred request; priv
 * is the private key DER when CMS made the pair (sent as privatedata), else NULL. */
static void
s_issue_and_post(cmn_svc_job_t *job, EVP_PKEY *key, const uint8_t *priv, size_t priv_len)
{
    s_work_t *w = job->work;
    uint8_t *body = NULL;
    size_t blen = 0;
    cmn_err_t err = cms_identity_body(job->svc, job->head.uuid, key, priv, priv_len, w->ta_credid,
                                      w->cert_credid, w->serial, &body, &blen);
    if (err != CMN_OK) {
        s_fail(job, err, "cannot issue the identity certificate", cmn_strerror(err));
        return;
    }
    cmn_svc_job_coap(job, "POST cred (certificates)", OBT__GW__METHOD__METHOD_POST, "/oic/sec/cred",
                     NULL, body, blen, s_on_post_cred);
    if (priv) {
        OPENSSL_cleanse(body, blen); /* it held the private key */
    }
    free(body);
}

cmn_err_t
cms_identity_key(const char *uuid,
                 const Obt__Gw__CoapReply *r,
                 EVP_PKEY **ret_key,
                 uint8_t **ret_priv,
                 size_t *ret_priv_len,
                 char *why,
                 size_t why_len)
{
    *ret_priv = NULL;
    *ret_priv_len = 0;
    if (r->code == 404) { /* no /oic/sec/csr (6.1 step 2): CMS makes the pair and sends it */
        EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        uint8_t *der = NULL;
        int len = key ? i2d_PrivateKey(key, &der) : -1;
        if (len <= 0) {
            EVP_PKEY_free(key);
            (void) snprintf(why, why_len, "cannot make a P-256 key pair");
            return CMN_ECRYPTO;
        }
        *ret_key = key;
        *ret_priv = der;
        *ret_priv_len = (size_t) len;
        return CMN_OK;
    }
    if (r->code != 205) {
        (void) snprintf(why, why_len, "device answered %u.%02u", r->code / 100, r->code % 100);
        return CMN_EDEVICE;
    }
    cmn_csr_t csr;
    if (cmn_csr_decode(r->payload.data, r->payload.len, &csr) != CMN_OK) {
        (void) snprintf(why, why_len, "invalid CBOR or CSR encoding from the device");
        return CMN_EPROTO;
    }
    cmn_uuid_t u;
    char reason[300] = "";
    (void) cmn_uuid_from_str(uuid, &u);
    cmn_err_t err = cms_csr_check(csr.data, csr.len, strcmp(csr.encoding, CMN_ENC_PEM) == 0, &u,
                                  ret_key, reason, sizeof reason);
    cmn_csr_free(&csr);
    if (err != CMN_OK) {
        cmn_log_warn("CMS-CSR-REFUSED", "dev=%s %s", uuid, reason);
        (void) snprintf(why, why_len, "CSR refused, nothing written: %s", reason);
    }
    return err;
}

static void
s_on_csr(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    EVP_PKEY *key = NULL;
    uint8_t *priv = NULL;
    size_t priv_len = 0;
    char why[400] = "";
    cmn_err_t err = cms_identity_key(job->head.uuid, r, &key, &priv, &priv_len, why, sizeof why);
    if (err != CMN_OK) {
        s_fail(job, err, why, NULL);
        return;
    }
    w->key_from = priv ? "cms" : "csr";
    s_issue_and_post(job, key, priv, priv_len);
    OPENSSL_clear_free(priv, priv_len);
    EVP_PKEY_free(key);
}

cmn_err_t
cms_managed_get(cmn_svc_t *svc,
                const char *uuid,
                const char *what,
                Obt__ServiceDevice **ret_dev,
                char *error,
                size_t error_len)
{
    Obt__ServiceDevice *dev = NULL;
    cmn_err_t err = cmn_svc_get(svc, uuid, &dev);
    if (err == CMN_ENOTFOUND) {
        (void) snprintf(error, error_len,
                        "device %s is unknown to CMS (never onboarded and handed over)", uuid);
        return err;
    }
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot read the record of %s: %s", uuid,
                        cmn_strerror(err));
        return err;
    }
    if (strcmp(dev->state, "verified") != 0) {
        (void) snprintf(error, error_len,
                        "device %s is not managed (CMS record \"%s\"): only devices in "
                        "RFNOP handed over to CMS can be %s",
                        uuid, dev->state, what);
        obt__service_device__free_unpacked(dev, NULL);
        return CMN_EINVAL;
    }
    *ret_dev = dev;
    return CMN_OK;
}

void
cms_find_cert_creds(const cmn_creds_t *creds, int64_t *ta_credid, int64_t *cert_credid)
{
    for (size_t i = 0; i < creds->n_creds; i++) {
        const cmn_cred_t *c = &creds->creds[i];
        if (c->credtype != CMN_CREDTYPE_CERT) {
            continue;
        }
        if (strcmp(c->credusage, "oic.sec.cred.trustca") == 0 && c->subject_is_wildcard &&
            *ta_credid == 0) {
            *ta_credid = c->credid;
        } else if (strcmp(c->credusage, "oic.sec.cred.cert") == 0 && *cert_credid == 0) {
            *cert_credid = c->credid;
        }
    }
}

/* Our entries already on the device (a run cut short, a repair): replaced, not added. */
static void
s_find_ours(cmn_svc_job_t *job, const cmn_creds_t *creds)
{
    s_work_t *w = job->work;
    cms_find_cert_creds(creds, &w->ta_credid, &w->cert_credid);
}

static void
s_on_cred(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    cmn_creds_t creds;
    cmn_uuid_t me;
    (void) cmn_uuid_from_str(cmn_svc_uuid(job->svc), &me);
    if (!s_code_ok(job, r, 205, 205)) {
        return;
    }
    if (cmn_creds_decode(r->payload.data, r->payload.len, &creds) != CMN_OK) {
        s_fail(job, CMN_EPROTO, "invalid CBOR from device", NULL);
        return;
    }
    /* The cred rowneruuid can only be written by its owner (DOTS), so a wrong one is
     * reported rather than corrected. */
    bool is_owner = cmn_uuid_eq(&creds.rowneruuid, &me);
    s_find_ours(job, &creds);
    cmn_creds_free(&creds);
    if (!is_owner) {
        cmn_svc_job_finish(job, CMN_ESTATE, "cred rowneruuid is not this CMS", NULL);
        return;
    }
    if (!(w->sct & CMN_CREDTYPE_CERT)) {
        char note[96];
        (void) snprintf(note, sizeof note,
                        "sct %u: no certificate support (credtype 8), no certificate", w->sct);
        s_done(job, note);
        return;
    }
    cmn_svc_job_coap(job, "GET csr", OBT__GW__METHOD__METHOD_GET, "/oic/sec/csr", NULL, NULL, 0,
                     s_on_csr);
}

/* The device's sct is the one DOTS read from its doxm over the DOC and sent in the
 * hand-over: after the transfer doxm belongs to DOTS alone (its rowneruuid; OCF-NOTES
 * 5.3 rule 7), and a CMS GET of it is refused (docs/decisions.md D35). */
static void
s_start(cmn_svc_job_t *job)
{
    if (job->action) {
        if (cms_pair_is_pair_action(job->action, job->action_len)) {
            cms_pair_job_start(job); /* a pairwise link's job (cms_pair.c) */
        } else {
            cms_action_start(job); /* CMS's own jobs: CRL push, creds, cred rm, renew */
        }
        return;
    }
    s_work_t *w = job->work;
    w->sct = job->handover->sct;
    cmn_svc_job_coap(job, "GET cred", OBT__GW__METHOD__METHOD_GET, "/oic/sec/cred", NULL, NULL, 0,
                     s_on_cred);
}

static void
s_drop(cmn_svc_job_t *job)
{
    if (job->action) {
        if (cms_pair_is_pair_action(job->action, job->action_len)) {
            cms_pair_job_drop(job);
        } else {
            cms_action_drop(job);
        }
    }
}

static const char *const s_dbs[] = {CMS_CA_DB_CA,    CMS_CA_DB_CERTS,     CMS_PAIR_DB_LINKS,
                                    CMS_CRL_DB_PUSH, CMS_ACTION_DB_MAINT, CMS_GROUP_DB};

/* The CRL queue's tick, then the groups waiting for a device that was busy. */
static void
s_tick(cmn_svc_t *svc, void *arg)
{
    cms_crl_tick(svc, arg);
    cms_group_tick(svc);
}

/* A restart: links and groups left between two jobs go on. */
static void
s_resumed(cmn_svc_t *svc)
{
    cms_pair_resumed(svc);
    cms_group_resumed(svc);
}

/* The reset cascade (docs/decisions.md D77, D80), when DOTS made CMS forget uuid: its
 * identity and role certificates are revoked (cessationOfOperation) with the CRL
 * queued for every other device in the same write, its links are unpaired and it
 * leaves its groups. Each part is persisted before anything is sent; nobody waits. */
static void
s_forgot(cmn_svc_t *svc, const char *uuid)
{
    cms_t *self = cmn_svc_hooks(svc)->arg;
    cms_crl_targets_t *targets = cms_crl_targets_new(svc);
    size_t n_identity = 0;
    size_t n_role = 0;
    cmn_err_t err =
            targets ? cms_ca_revoke_device(cmn_svc_kv(svc), uuid,
                                           cms_ca_reason_code("cessationOfOperation"),
                                           cms_crl_queue_in_txn, targets, &n_identity, &n_role)
                    : CMN_ESTORE;
    if (err == CMN_OK) {
        cmn_log_notice("CMS-CASCADE",
                       "dev=%s forgotten: %zu identity and %zu role certificate(s) revoked; CRL "
                       "queued for %zu device(s)",
                       uuid, n_identity, n_role, cms_crl_targets_count(targets));
        cms_crl_kick(self->crl);
    } else if (err != CMN_ENOTFOUND) {
        cmn_log_err("CMS-CASCADE", "dev=%s forgotten: cannot revoke its certificates: %s", uuid,
                    cmn_strerror(err));
    }
    cms_crl_targets_destroy(&targets);
    cms_pair_forgot(svc, uuid);
    cms_group_forgot(svc, uuid);
}

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
    self->crl = cms_crl_new();
    if (self->crl == NULL) {
        (void) snprintf(why, why_len, "out of memory");
        cms_destroy(&self);
        return NULL;
    }
    /* job->work holds a hand-over's, a link job's or an action job's state */
    size_t work = sizeof(s_work_t) > cms_pair_work_size() ? sizeof(s_work_t) : cms_pair_work_size();
    self->hooks.work_size = work > CMS_ACTION_WORK_SIZE ? work : CMS_ACTION_WORK_SIZE;
    self->hooks.start = s_start;
    self->hooks.drop = s_drop;
    self->hooks.ended = cms_pair_ended;
    self->hooks.is_ended_by_hook = cms_pair_is_pair_action; /* CRL, creds: the record */
    self->hooks.resumed = s_resumed;
    self->hooks.forgot = s_forgot;
    self->hooks.tick = s_tick;
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
    cms_t *self = *self_p;
    cms_ca_destroy(&self->ca);
    cms_crl_destroy(&self->crl);
    free(self->own_chain);
    if (self->own_key) {
        OPENSSL_cleanse(self->own_key, strlen(self->own_key));
    }
    free(self->own_key);
    free(self);
    *self_p = NULL;
}

const cmn_svc_hooks_t *
cms_hooks(cms_t *self)
{
    return &self->hooks;
}
