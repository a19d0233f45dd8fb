/* cms_action.c — obt-cms's own jobs after the hand-over: the CRL push, reading and
 * removing a device's credentials, a new identity or role certificate. Every run starts by reading
 * the device (cred, or pstat), so a run resumed after a kill -9 finds what the killed run did: a
 * credential it removed is gone (nothing to delete again), a CRL it wrote is
 * replaced by the same or a later one, and a device it left in RFPRO is moved back to
 * RFNOP because its "maint" record says a CMS run moved it. */
#include "cms_action.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmn_cert.h"
#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "cms_ca.h"
#include "cms_crl.h"
#include "cms_role.h"
#include "cms_service.h"

typedef enum {
    PH_PLAN = 0, /* GET cred (creds, cred rm, cert renew) */
    PH_CSR,      /* GET csr (cert renew): the key of the new certificate */
    PH_READ,     /* GET pstat */
    PH_RFPRO,    /* POST pstat dos.s=2 (from RFNOP) */
    PH_WRITE,    /* POST /oic/sec/crl or /oic/sec/cred, or DELETE /oic/sec/cred?credid= */
    PH_RFNOP,    /* POST pstat dos.s=3 (back, when a CMS run moved it) */
    PH_VERIFY,   /* GET cred: the result, recorded (cred rm, cert role) */
    PH_PROVE,    /* renew: GET cred over a certificate session (the proof, D83) */
} s_phase_t;

typedef struct {
    s_phase_t phase;
    Obt__Store__CmsAction *act; /* the action (unpacked from job->action) */
    bool is_moved;              /* a CMS run moved the device out of RFNOP */
    bool has_delete;            /* cred rm: the credential is on the device */
    bool was_cert;              /* cred rm: it was the identity certificate */
    int refused_code;           /* the device refused the write: its code */
    uint64_t pushed;            /* crl push: the CRL number sent */
    int64_t ta_credid;          /* renew: the device's trust anchor entry (replaced) */
    int64_t cert_credid;        /* renew: its identity certificate entry (replaced) */
    uint8_t *body; /* renew, role: the cred POST (malloc'd; wiped: it may hold a key) */
    size_t body_len;
    char serial[65];  /* renew, role: the new certificate */
    char key_from[8]; /* renew: "csr" or "cms" ("" = a killed run's, found in place) */
    bool is_in_place; /* renew: the device holds the new certificate already (D83) */
    char old[65];     /* role: the certificate of the entry the new one replaces ("" = none) */
} s_work_t;

_Static_assert(sizeof(s_work_t) <= CMS_ACTION_WORK_SIZE, "CMS_ACTION_WORK_SIZE too small");

static void s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r);
static void s_after_rfpro(cmn_svc_job_t *job);
static void s_after_write(cmn_svc_job_t *job);
static void s_end(cmn_svc_job_t *job);
static void s_get(cmn_svc_job_t *job, const char *step, const char *path);

/* The serial (lowercase hex) of the leaf of entry credid of creds, "" if none. */
static void
s_entry_serial(const cmn_creds_t *creds, int64_t credid, char ret[65])
{
    ret[0] = '\0';
    for (size_t i = 0; i < creds->n_creds; i++) {
        const cmn_cred_t *c = &creds->creds[i];
        STACK_OF(X509) *sk =
                c->credid == credid ? cmn_cert_parse_pem(c->pub_data, c->pub_len) : NULL;
        if (sk && sk_X509_num(sk) > 0) {
            cms_ca_serial_hex(sk_X509_value(sk, 0), ret);
        }
        sk_X509_pop_free(sk, X509_free);
    }
}

/* Whether serial is one of device uuid's identity certificates CMS issued and that is
 * not on its record yet: a renewal's, issued or active (its run was cut short). */
typedef struct {
    const char *serial;
    bool is_new;
} s_new_t;

static void
s_find_new(const Obt__Store__CmsCert *c, void *arg)
{
    s_new_t *n = arg;
    if (strcmp(c->serial, n->serial) == 0 && strcmp(c->usage, "identity") == 0 &&
        (strcmp(c->status, "issued") == 0 || strcmp(c->status, "active") == 0)) {
        n->is_new = true;
    }
}

/* renew resumed after a kill -9 (D83): the device's identity certificate entry holds a
 * certificate of this renewal (issued before the killed run's POST, not yet the
 * record's cert_serial). Then it is recorded active and the job goes on from there. */
static bool
s_is_in_place(cmn_svc_job_t *job, const char *serial)
{
    Obt__ServiceDevice *dev = NULL;
    if (serial[0] == '\0' || cmn_svc_get(job->svc, job->head.uuid, &dev) != CMN_OK) {
        return false;
    }
    s_new_t n = {serial, false};
    bool is_old = strcmp(dev->cert_serial, serial) == 0;
    obt__service_device__free_unpacked(dev, NULL);
    if (is_old ||
        cms_ca_each_cert(cmn_svc_kv(job->svc), job->head.uuid, s_find_new, &n) != CMN_OK ||
        !n.is_new) {
        return false;
    }
    (void) cms_ca_set_status(cmn_svc_kv(job->svc), serial, "active");
    cmn_log_notice("CMS-CERT-RENEW-RESUME",
                   "dev=%s holds serial=%s of the renewal cut short: active, not issued again",
                   job->head.uuid, serial);
    return true;
}

/* renew: the entries to replace; the new certificate's key comes from GET csr, unless
 * a run cut short put it in place already. */
static void
s_plan_renew(cmn_svc_job_t *job, const cmn_creds_t *creds)
{
    s_work_t *w = job->work;
    cms_find_cert_creds(creds, &w->ta_credid, &w->cert_credid);
    if (w->cert_credid == 0) {
        cmn_svc_job_finish(job, CMN_ENOTFOUND,
                           "the device holds no identity certificate to renew (a repair "
                           "provisions one)",
                           NULL);
        return;
    }
    char serial[65];
    s_entry_serial(creds, w->cert_credid, serial);
    if (s_is_in_place(job, serial)) {
        w->is_in_place = true;
        (void) snprintf(w->serial, sizeof w->serial, "%s", serial);
        w->phase = PH_READ; /* back to RFNOP if the killed run left it in RFPRO */
        s_get(job, "GET pstat", "/oic/sec/pstat");
        return;
    }
    w->phase = PH_CSR;
    s_get(job, "GET csr", "/oic/sec/csr");
}

/* role: the certificate issued over the device's identity key and recorded, its cred
 * POST built (replacing an entry of the same role), before the device leaves RFNOP. */
static void
s_plan_role(cmn_svc_job_t *job, const cmn_creds_t *creds)
{
    s_work_t *w = job->work;
    const Obt__Store__CmsCertRole *r = w->act->cert_role;
    char why[300] = "";
    int64_t credid = cms_role_find_credid(creds, r->role, r->authority, w->old);
    cmn_err_t err = cms_role_body(job->svc, job->head.uuid, r->role, r->authority, credid,
                                  w->serial, &w->body, &w->body_len, why, sizeof why);
    if (err != CMN_OK) {
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    cmn_log_notice("CMS-CERT-ROLE", "dev=%s role certificate serial=%s issued (credid %lld)",
                   job->head.uuid, w->serial, (long long) credid);
    w->phase = PH_READ;
    s_get(job, "GET pstat", "/oic/sec/pstat");
}

/* renew: the key (the device's CSR, or a pair CMS makes), then the certificate issued
 * and recorded, and its cred POST built, before the device leaves RFNOP. */
static void
s_on_csr(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    EVP_PKEY *key = NULL;
    uint8_t *priv = NULL;
    size_t priv_len = 0;
    char why[400] = "";
    cmn_err_t err = cms_identity_key(job->head.uuid, r, &key, &priv, &priv_len, why, sizeof why);
    if (err == CMN_OK) {
        (void) snprintf(w->key_from, sizeof w->key_from, "%s", priv ? "cms" : "csr");
        err = cms_identity_body(job->svc, job->head.uuid, key, priv, priv_len, w->ta_credid,
                                w->cert_credid, w->serial, &w->body, &w->body_len);
        if (err != CMN_OK) {
            (void) snprintf(why, sizeof why, "cannot issue the certificate: %s", cmn_strerror(err));
        }
    }
    OPENSSL_clear_free(priv, priv_len);
    EVP_PKEY_free(key);
    if (err != CMN_OK) {
        char msg[460];
        (void) snprintf(msg, sizeof msg, "GET csr: %s", why);
        cmn_svc_job_finish(job, err, msg, NULL);
        return;
    }
    w->phase = PH_READ;
    s_get(job, "GET pstat", "/oic/sec/pstat");
}

/* The device's identity certificates still active but the new one. */
typedef struct {
    const char *except;
    char serials[8][65];
    size_t n;
} s_old_t;

static void
s_collect_old(const Obt__Store__CmsCert *c, void *arg)
{
    s_old_t *o = arg;
    if (o->n < 8 && strcmp(c->status, "active") == 0 && strcmp(c->usage, "identity") == 0 &&
        strcmp(c->serial, o->except) != 0) {
        (void) snprintf(o->serials[o->n++], sizeof o->serials[0], "%s", c->serial);
    }
}

/* renew, the new certificate on the device: the earlier ones are revoked (superseded)
 * and the CRL queued for every device in the same writes. */
static cmn_err_t
s_revoke_old(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    cmn_kv_t *kv = cmn_svc_kv(job->svc);
    s_old_t o = {w->serial, {{0}}, 0};
    cmn_err_t err = cms_ca_each_cert(kv, job->head.uuid, s_collect_old, &o);
    for (size_t i = 0; err == CMN_OK && i < o.n; i++) {
        cms_crl_targets_t *t = cms_crl_targets_new(job->svc);
        size_t count = 0;
        err = t ? cms_ca_revoke_with(kv, o.serials[i], cms_ca_reason_code("superseded"),
                                     cms_crl_queue_in_txn, t, &count)
                : CMN_ESTORE;
        err = err == CMN_ENOTFOUND ? CMN_OK : err;
        cms_crl_targets_destroy(&t);
        if (err == CMN_OK) {
            cmn_log_notice("CMS-CERT-REVOKED",
                           "dev=%s serial=%s superseded by %s; CRL queued for every device",
                           job->head.uuid, o.serials[i], w->serial);
        }
    }
    if (o.n > 0) {
        cms_crl_kick(cms_crl_state(cmn_svc_hooks(job->svc)->arg));
    }
    return err;
}

void
cms_action_run(cmn_svc_t *svc,
               zframe_t *peer,
               uint64_t corr_id,
               const char *uuid,
               const Obt__Store__CmsAction *act)
{
    uint8_t buf[256];
    size_t len = obt__store__cms_action__get_packed_size(act);
    if (len > sizeof buf) {
        return; /* every action is a few bytes (a role: at most 2 x 63) */
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
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_RENEW ||
        w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_ROLE) {
        bool is_role = w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_ROLE;
        cmn_svc_job_coap(job, is_role ? "POST cred (role)" : "POST cred (renewed)",
                         OBT__GW__METHOD__METHOD_POST, "/oic/sec/cred", NULL, w->body, w->body_len,
                         s_on_reply);
        return;
    }
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
    char note[200];
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_RENEW) {
        (void) snprintf(note, sizeof note,
                        "renewed (obtctl cert renew); key pair %s; proved by a certificate "
                        "session (%s)",
                        w->key_from[0] == '\0'            ? "as sent before a restart"
                        : strcmp(w->key_from, "csr") == 0 ? "of the device (CSR)"
                                                          : "made by CMS",
                        job->cipher);
        dev.cert_serial = w->serial;
        dev.cert_note = note;
    }
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_ROLE) {
        dev.cms_role_serial = w->serial;
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
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_RENEW) {
        s_plan_renew(job, &creds);
        cmn_creds_free(&creds);
        return;
    }
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_ROLE && w->phase == PH_PLAN) {
        s_plan_role(job, &creds);
        cmn_creds_free(&creds);
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
    if (ps.dos_s == CMN_DOS_RFNOP && w->is_in_place) {
        s_end(job); /* nothing to write */
    } else if (ps.dos_s == CMN_DOS_RFNOP) {
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
    if ((w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE && !w->has_delete) ||
        w->is_in_place) {
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
        const char *what = w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRL_PUSH ? "the CRL"
                           : w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_ROLE
                                   ? "the role certificate"
                                   : "the removal";
        (void) snprintf(why, sizeof why, "the device refused %s: %d.%02d", what,
                        w->refused_code / 100, w->refused_code % 100);
        cmn_log_warn("CMS-ACTION-REFUSED", "dev=%s %s", job->head.uuid, why);
        if (w->is_moved && w->phase == PH_RFNOP &&
            w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRL_PUSH) {
            (void) s_maint(job->svc, job->head.uuid, false); /* back in RFNOP */
        }
        cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
        return;
    }
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE ||
        w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_ROLE) {
        w->phase = PH_VERIFY;
        s_get(job, "verify cred", "/oic/sec/cred");
        return;
    }
    if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_RENEW) {
        cmn_err_t rerr = s_revoke_old(job);
        if (rerr != CMN_OK) {
            cmn_svc_job_finish(job, rerr, "cannot revoke the replaced certificate", NULL);
            return;
        }
        w->phase = PH_PROVE;
        cms_prove(job, s_on_reply);
        return;
    }
    cmn_err_t err = cms_crl_delivered(job->svc, job->head.uuid, w->pushed, w->is_moved);
    if (err != CMN_OK) {
        cmn_svc_job_finish(job, err, "cannot record the CRL push", NULL);
        return;
    }
    s_record(job, NULL);
}

/* The fingerprint CMS recorded for serial (hex, "" if none). */
typedef struct {
    const char *serial;
    char fp[65];
} s_fp_t;

static void
s_find_fp(const Obt__Store__CmsCert *c, void *arg)
{
    s_fp_t *f = arg;
    if (strcmp(c->serial, f->serial) == 0) {
        (void) snprintf(f->fp, sizeof f->fp, "%s", c->fingerprint);
    }
}

/* renew, the proof (D83): the certificate session worked, and what the device presents
 * and holds is the new certificate. Only then does the renewal count as done. */
static void
s_on_proof(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    cmn_creds_t creds;
    char held[65] = "", why[300];
    int64_t ta = 0, cert = 0;
    if (cmn_creds_decode(r->payload.data, r->payload.len, &creds) != CMN_OK) {
        cmn_svc_job_finish(job, CMN_EPROTO, "certificate session: invalid CBOR from the device",
                           NULL);
        return;
    }
    cms_find_cert_creds(&creds, &ta, &cert);
    s_entry_serial(&creds, cert, held);
    cmn_creds_free(&creds);
    s_fp_t f = {w->serial, ""};
    (void) cms_ca_each_cert(cmn_svc_kv(job->svc), job->head.uuid, s_find_fp, &f);
    bool is_other_peer = r->peer_cert_sha256[0] && strcmp(r->peer_cert_sha256, f.fp) != 0;
    if (strcmp(held, w->serial) != 0 || is_other_peer) {
        if (is_other_peer) {
            (void) snprintf(why, sizeof why,
                            "certificate session: the device presented a certificate other than "
                            "the renewed %s",
                            w->serial);
        } else {
            (void) snprintf(why, sizeof why,
                            "certificate session: the device holds serial %s, not the renewed %s",
                            held[0] ? held : "(none)", w->serial);
        }
        cmn_svc_job_finish(job, CMN_ESTATE, why, NULL);
        return;
    }
    cmn_log_notice("CMS-CERT-PROVED",
                   "dev=%s renewed certificate serial=%s: certificate session %s", job->head.uuid,
                   w->serial, job->cipher);
    s_record(job, NULL);
}

static void
s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    char why[160];
    if (w->phase == PH_CSR) {
        s_on_csr(job, r); /* 4.04 is an answer too: no /oic/sec/csr */
        return;
    }
    unsigned want = w->phase == PH_PLAN || w->phase == PH_READ || w->phase == PH_VERIFY ||
                                    w->phase == PH_PROVE
                            ? 205
                            : 204;
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
    case PH_CSR:
        return; /* answered above */
    case PH_PROVE:
        s_on_proof(job, r);
        return;
    case PH_WRITE: {
        bool is_delete = w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE;
        bool ok = is_delete ? r->code == 202 || r->code == 404 : r->code == 204 || r->code == 201;
        w->refused_code = ok ? 0 : (int) r->code; /* back to RFNOP first, refused or not */
        if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_RENEW ||
            w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CERT_ROLE) {
            /* the device holds it now (or never will) */
            (void) cms_ca_set_status(cmn_svc_kv(job->svc), w->serial, ok ? "active" : "abandoned");
            if (ok && w->old[0] && strcmp(w->old, w->serial) != 0) {
                cms_role_replaced(job->svc, job->head.uuid, w->old, w->serial);
            }
        }
        s_after_write(job);
        return;
    }
    case PH_RFNOP:
        if (w->act->body_case == OBT__STORE__CMS_ACTION__BODY_CRL_PUSH) {
            s_end(job); /* its maint record goes with the queue's (one write) */
            return;
        }
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
    case OBT__STORE__CMS_ACTION__BODY_CERT_RENEW:
    case OBT__STORE__CMS_ACTION__BODY_CERT_ROLE:
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
    if (w->body) {
        OPENSSL_cleanse(w->body, w->body_len); /* it may hold a private key */
        free(w->body);
        w->body = NULL;
        w->body_len = 0;
    }
}
