/* cms_api.c — obt-cms's own requests: one dispatch table with its parties column */
#include "cms_api.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "cmn_dispatch.h"
#include "cmn_log.h"
#include "cmn_uuid.h"
#include "cms_action.h"
#include "cms_crl.h"
#include "cms_group.h"
#include "cms_pair.h"
#include "cms_rec.h"
#include "cms_role.h"
#include "cms_service.h"
#include "obt/cms.pb-c.h"

/* A handler fills reply's body with what lives on its stack and sends it (s_send);
 * on an error it sends nothing and returns the error (and its text in error). */
typedef cmn_err_t(s_row_fn)(cmn_svc_t *svc,
                            cms_t *cms,
                            zframe_t *peer,
                            const Obt__Cms__Request *req,
                            Obt__Cms__Reply *reply,
                            char *error,
                            size_t error_len);

static cmn_err_t
s_send(cmn_svc_t *svc, zframe_t *peer, Obt__Cms__Reply *reply)
{
    cms_rec_reply(svc, peer, reply, CMN_OK, NULL);
    return CMN_OK;
}

/* "YYYY-MM-DD HH:MM:SS UTC" */
static void
s_time(const ASN1_TIME *t, char *out, size_t len)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
        (void) snprintf(out, len, "?");
    }
}

static cmn_err_t
s_on_ca_show(cmn_svc_t *svc,
             cms_t *cms,
             zframe_t *peer,
             const Obt__Cms__Request *req,
             Obt__Cms__Reply *reply,
             char *error,
             size_t error_len)
{
    (void) req;
    (void) error;
    (void) error_len;
    char subject[256], issuer[256], fp[65], nb[40], na[40], not_after[64];
    char serial[80];
    Obt__Cms__CaInfo info;
    X509 *cert = cms_ca_cert(cms_ca(cms));
    obt__cms__ca_info__init(&info);
    if (cmn_cert_describe(cert, fp, subject, sizeof subject, not_after, sizeof not_after) !=
        CMN_OK) {
        return CMN_ENOMEM;
    }
    cmn_cert_name_oneline(X509_get_issuer_name(cert), issuer, sizeof issuer);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    (void) snprintf(serial, sizeof serial, "%s", hex ? hex : "?");
    for (char *p = serial; *p; p++) {
        *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    }
    OPENSSL_free(hex);
    BN_free(bn);
    s_time(X509_get0_notBefore(cert), nb, sizeof nb);
    s_time(X509_get0_notAfter(cert), na, sizeof na);
    char *pem = NULL;
    size_t len = 0, count = 0;
    if (cms_ca_chain_pem(cms_ca(cms), &pem, &len, &count) == CMN_OK) {
        free(pem);
    }
    info.subject = subject;
    info.issuer = issuer;
    info.serial = serial;
    info.not_before = nb;
    info.not_after = na;
    info.fingerprint = fp;
    info.is_sub_ca = cms_ca_is_sub(cms_ca(cms));
    info.chain_length = (uint32_t) count;
    reply->body_case = OBT__CMS__REPLY__BODY_CA;
    reply->ca = &info;
    return s_send(svc, peer, reply);
}

static cmn_err_t
s_on_ca_export(cmn_svc_t *svc,
               cms_t *cms,
               zframe_t *peer,
               const Obt__Cms__Request *req,
               Obt__Cms__Reply *reply,
               char *error,
               size_t error_len)
{
    (void) req;
    (void) error;
    (void) error_len;
    Obt__Cms__CaChain chain;
    char *pem = NULL;
    size_t len = 0, count = 0;
    obt__cms__ca_chain__init(&chain);
    cmn_err_t err = cms_ca_chain_pem(cms_ca(cms), &pem, &len, &count);
    if (err != CMN_OK) {
        return err;
    }
    chain.pem = pem;
    reply->body_case = OBT__CMS__REPLY__BODY_CHAIN;
    reply->chain = &chain;
    err = s_send(svc, peer, reply);
    free(pem);
    return err;
}

typedef struct {
    Obt__Cms__CertInfo **items;
    size_t n;
    bool is_short; /* out of memory */
} s_certs_t;

static char *
s_dup(const char *s)
{
    return strdup(s ? s : "");
}

static void
s_collect_cert(const Obt__Store__CmsCert *c, void *arg)
{
    s_certs_t *l = arg;
    Obt__Cms__CertInfo **grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    Obt__Cms__CertInfo *ci = calloc(1, sizeof *ci);
    if (grown == NULL || ci == NULL) {
        free(ci);
        if (grown) {
            l->items = grown;
        }
        l->is_short = true;
        return;
    }
    l->items = grown;
    obt__cms__cert_info__init(ci);
    ci->serial = s_dup(c->serial);
    ci->subject_uuid = s_dup(c->subject_uuid);
    ci->usage = s_dup(c->usage);
    ci->status = s_dup(c->status);
    ci->fingerprint = s_dup(c->fingerprint);
    ci->not_before_ms = c->not_before_ms;
    ci->not_after_ms = c->not_after_ms;
    l->items[l->n++] = ci;
}

static void
s_free_certs(s_certs_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        Obt__Cms__CertInfo *ci = l->items[i];
        free(ci->serial);
        free(ci->subject_uuid);
        free(ci->usage);
        free(ci->status);
        free(ci->fingerprint);
        free(ci);
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

static cmn_err_t
s_on_cert_list(cmn_svc_t *svc,
               cms_t *cms,
               zframe_t *peer,
               const Obt__Cms__Request *req,
               Obt__Cms__Reply *reply,
               char *error,
               size_t error_len)
{
    (void) cms;
    s_certs_t l = {NULL, 0, false};
    Obt__Cms__CertInfoList list;
    obt__cms__cert_info_list__init(&list);
    cmn_err_t err =
            cms_ca_each_cert(cmn_svc_kv(svc), req->cert_list->device_uuid, s_collect_cert, &l);
    if (err == CMN_OK && l.is_short) {
        err = CMN_ENOMEM;
    }
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot read the certificate records: %s",
                        cmn_strerror(err));
        s_free_certs(&l);
        return err;
    }
    list.certs = l.items;
    list.n_certs = l.n;
    reply->body_case = OBT__CMS__REPLY__BODY_CERTS;
    reply->certs = &list;
    err = s_send(svc, peer, reply);
    s_free_certs(&l);
    return err;
}

/* The CRL now, in reply (with count, the certificates a revocation just revoked). */
static cmn_err_t
s_send_crl(cmn_svc_t *svc,
           cms_t *cms,
           zframe_t *peer,
           Obt__Cms__Reply *reply,
           size_t count,
           char *error,
           size_t error_len)
{
    X509_CRL *crl = NULL;
    cmn_err_t err = cms_ca_crl(cms_ca(cms), cmn_svc_kv(svc), cms_crl_refresh_s(cms), &crl);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot make the CRL: %s", cmn_strerror(err));
        return err;
    }
    Obt__Cms__CrlInfo info;
    obt__cms__crl_info__init(&info);
    char tu[40], nu[40];
    s_time(X509_CRL_get0_lastUpdate(crl), tu, sizeof tu);
    s_time(X509_CRL_get0_nextUpdate(crl), nu, sizeof nu);
    STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
    int n = revs ? sk_X509_REVOKED_num(revs) : 0;
    char **serials = calloc((size_t) n + 1, sizeof *serials);
    char **pending = NULL;
    size_t n_pending = 0;
    uint64_t number = 0;
    if (cms_crl_pending(svc, &pending, &n_pending) != CMN_OK ||
        cms_ca_crl_number(cmn_svc_kv(svc), &number) != CMN_OK) {
        err = CMN_ESTORE;
    }
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long plen = b && PEM_write_bio_X509_CRL(b, crl) == 1 ? BIO_get_mem_data(b, &pem) : -1;
    char *text = plen >= 0 ? calloc(1, (size_t) plen + 1) : NULL;
    err = err != CMN_OK ? err : serials && text ? CMN_OK : CMN_ENOMEM;
    for (int i = 0; err == CMN_OK && i < n; i++) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(
                X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revs, i)), NULL);
        serials[i] = bn ? BN_bn2hex(bn) : NULL;
        BN_free(bn);
        err = serials[i] ? CMN_OK : CMN_ENOMEM;
        for (char *p = serials[i]; p && *p; p++) {
            *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        }
    }
    if (err == CMN_OK) {
        memcpy(text, pem, (size_t) plen);
        info.pem = text;
        info.this_update = tu;
        info.next_update = nu;
        info.revoked = serials;
        info.n_revoked = (size_t) n;
        info.count = (uint32_t) count;
        info.number = number;
        info.pending = pending;
        info.n_pending = n_pending;
        reply->body_case = OBT__CMS__REPLY__BODY_CRL;
        reply->crl = &info;
        err = s_send(svc, peer, reply);
    }
    for (int i = 0; serials && i < n; i++) {
        OPENSSL_free(serials[i]);
    }
    free(serials);
    cms_crl_pending_free(pending, n_pending);
    free(text);
    BIO_free(b);
    X509_CRL_free(crl);
    return err;
}

static cmn_err_t
s_on_crl_show(cmn_svc_t *svc,
              cms_t *cms,
              zframe_t *peer,
              const Obt__Cms__Request *req,
              Obt__Cms__Reply *reply,
              char *error,
              size_t error_len)
{
    (void) req;
    return s_send_crl(svc, cms, peer, reply, 0, error, error_len);
}

static cmn_err_t
s_on_cert_revoke(cmn_svc_t *svc,
                 cms_t *cms,
                 zframe_t *peer,
                 const Obt__Cms__Request *req,
                 Obt__Cms__Reply *reply,
                 char *error,
                 size_t error_len)
{
    const Obt__Cms__CertRevoke *r = req->cert_revoke;
    int reason = cms_ca_reason_code(r->reason);
    if (reason < 0 || r->target[0] == '\0' || strlen(r->target) > 64) {
        (void) snprintf(error, error_len,
                        "revoke needs a device uuid or a serial, and a reason among "
                        "unspecified, keyCompromise, affiliationChanged, superseded, "
                        "cessationOfOperation");
        return CMN_EINVAL;
    }
    size_t count = 0;
    /* the devices that get the new CRL are queued in the revocation's own write */
    cms_crl_targets_t *targets = cms_crl_targets_new(svc);
    if (targets == NULL) {
        (void) snprintf(error, error_len, "cannot read the device records");
        return CMN_ESTORE;
    }
    cmn_err_t err = cms_ca_revoke_with(cmn_svc_kv(svc), r->target, reason, cms_crl_queue_in_txn,
                                       targets, &count);
    size_t n_targets = cms_crl_targets_count(targets);
    cms_crl_targets_destroy(&targets);
    if (err == CMN_ENOTFOUND) {
        (void) snprintf(error, error_len,
                        "no certificate in use with this serial or for this device");
        return err;
    }
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot record the revocation: %s", cmn_strerror(err));
        return err;
    }
    cmn_log_notice("CMS-CERT-REVOKED",
                   "%zu certificate(s) of \"%s\" revoked (reason %d); CRL queued for %zu device(s)",
                   count, r->target, reason, n_targets);
    cms_crl_kick(cms_crl_state(cms));
    return s_send_crl(svc, cms, peer, reply, count, error, error_len);
}

/* creds, cred rm, cert renew and cert role: a job of the device (cms_action.h), answered when it
 * ends with an obt.ServiceReply "show" (the device's record, its cred as read); refusals before the
 * job starts are answered here the same way. */
static cmn_err_t
s_on_cred_job(cmn_svc_t *svc,
              cms_t *cms,
              zframe_t *peer,
              const Obt__Cms__Request *req,
              Obt__Cms__Reply *reply,
              char *error,
              size_t error_len)
{
    (void) cms;
    (void) reply;
    Obt__Store__CmsAction act = OBT__STORE__CMS_ACTION__INIT;
    Obt__Store__CmsCredRead rd = OBT__STORE__CMS_CRED_READ__INIT;
    Obt__Store__CmsCredRemove rm = OBT__STORE__CMS_CRED_REMOVE__INIT;
    Obt__Store__CmsCertRenew rn = OBT__STORE__CMS_CERT_RENEW__INIT;
    Obt__Store__CmsCertRole ro = OBT__STORE__CMS_CERT_ROLE__INIT;
    const char *uuid = NULL;
    if (req->body_case == OBT__CMS__REQUEST__BODY_CRED_LIST) {
        uuid = req->cred_list->device_uuid;
        act.body_case = OBT__STORE__CMS_ACTION__BODY_CRED_READ;
        act.cred_read = &rd;
    } else if (req->body_case == OBT__CMS__REQUEST__BODY_CERT_RENEW) {
        uuid = req->cert_renew->device_uuid;
        act.body_case = OBT__STORE__CMS_ACTION__BODY_CERT_RENEW;
        act.cert_renew = &rn;
    } else if (req->body_case == OBT__CMS__REQUEST__BODY_CERT_ROLE) {
        uuid = req->cert_role->device_uuid;
        ro.role = req->cert_role->role;
        ro.authority = req->cert_role->authority;
        act.body_case = OBT__STORE__CMS_ACTION__BODY_CERT_ROLE;
        act.cert_role = &ro;
    } else {
        uuid = req->cred_remove->device_uuid;
        rm.credid = req->cred_remove->credid;
        act.body_case = OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE;
        act.cred_remove = &rm;
    }
    cmn_uuid_t u;
    if (cmn_uuid_from_str(uuid, &u) != CMN_OK) {
        (void) snprintf(error, error_len, "device_uuid: not a UUID");
    } else if (act.body_case == OBT__STORE__CMS_ACTION__BODY_CRED_REMOVE && rm.credid < 1) {
        (void) snprintf(error, error_len, "credid: must be 1 or more");
    }
    cmn_err_t err = error[0] ? CMN_EINVAL : CMN_OK;
    if (err == CMN_OK && act.body_case == OBT__STORE__CMS_ACTION__BODY_CERT_ROLE) {
        err = cms_role_check(svc, uuid, ro.role, ro.authority, error, error_len);
    }
    if (err != CMN_OK) {
        cmn_svc_answer(svc, peer, req->corr_id, err, error, 0, NULL);
        return CMN_OK; /* answered */
    }
    cms_action_run(svc, peer, req->corr_id, uuid, &act);
    return CMN_OK;
}

/* The parties column (docs/security.md): the operator reads the CA and the records. */
typedef struct {
    cmn_dispatch_row_t head; /* first: the body, its name, its parties */
    s_row_fn *fn;
} s_row_t;

static const s_row_t s_rows[] = {
        {{OBT__CMS__REQUEST__BODY_CA_SHOW, "ca_show", CMN_PARTY_OPERATOR}, s_on_ca_show},
        {{OBT__CMS__REQUEST__BODY_CA_EXPORT, "ca_export", CMN_PARTY_OPERATOR}, s_on_ca_export},
        {{OBT__CMS__REQUEST__BODY_CERT_LIST, "cert_list", CMN_PARTY_OPERATOR}, s_on_cert_list},
        {{OBT__CMS__REQUEST__BODY_CERT_REVOKE, "cert_revoke", CMN_PARTY_OPERATOR},
         s_on_cert_revoke},
        {{OBT__CMS__REQUEST__BODY_CRL_SHOW, "crl_show", CMN_PARTY_OPERATOR}, s_on_crl_show},
        {{OBT__CMS__REQUEST__BODY_PAIR, "pair", CMN_PARTY_OPERATOR}, cms_pair_on_pair},
        {{OBT__CMS__REQUEST__BODY_UNPAIR, "unpair", CMN_PARTY_OPERATOR}, cms_pair_on_unpair},
        {{OBT__CMS__REQUEST__BODY_LINK_LIST, "link_list", CMN_PARTY_OPERATOR}, cms_pair_on_links},
        {{OBT__CMS__REQUEST__BODY_GROUP_CREATE, "group_create", CMN_PARTY_OPERATOR},
         cms_group_on_create},
        {{OBT__CMS__REQUEST__BODY_GROUP_CHANGE, "group_change", CMN_PARTY_OPERATOR},
         cms_group_on_change},
        {{OBT__CMS__REQUEST__BODY_GROUP_LIST, "group_list", CMN_PARTY_OPERATOR}, cms_group_on_list},
        {{OBT__CMS__REQUEST__BODY_CRED_LIST, "cred_list", CMN_PARTY_OPERATOR}, s_on_cred_job},
        {{OBT__CMS__REQUEST__BODY_CRED_REMOVE, "cred_remove", CMN_PARTY_OPERATOR}, s_on_cred_job},
        {{OBT__CMS__REQUEST__BODY_CERT_RENEW, "cert_renew", CMN_PARTY_OPERATOR}, s_on_cred_job},
        {{OBT__CMS__REQUEST__BODY_CERT_ROLE, "cert_role", CMN_PARTY_OPERATOR}, s_on_cred_job},
};
#define S_N_ROWS (sizeof s_rows / sizeof s_rows[0])

int
cms_api_has_handler(int body_case)
{
    return cmn_dispatch_find(s_rows, S_N_ROWS, sizeof s_rows[0], body_case) != NULL;
}

void
cms_api_on_request(cmn_svc_t *svc,
                   zframe_t *peer,
                   const cmn_caller_t *caller,
                   const uint8_t *data,
                   size_t len,
                   void *arg)
{
    cms_t *cms = arg;
    char error[300] = "";
    Obt__Cms__Reply reply = OBT__CMS__REPLY__INIT;
    Obt__Cms__Request *req = obt__cms__request__unpack(NULL, len, data);
    cmn_err_t err = CMN_EPROTO;
    if (req == NULL) {
        cmn_log_warn("CMS-BADREQ", "unreadable request (%zu bytes) from \"%s\"", len, caller->name);
        (void) snprintf(error, sizeof error, "request does not unpack as obt.cms.Request");
        reply.corr_id = cmn_bus_peek_corr_id(data, len);
    } else {
        const cmn_dispatch_row_t *row = NULL;
        reply.corr_id = req->corr_id;
        err = cmn_dispatch_check("obt-cms", s_rows, S_N_ROWS, sizeof s_rows[0], req->body_case,
                                 caller, error, sizeof error, &row);
        if (err == CMN_OK) {
            err = ((const s_row_t *) row)->fn(svc, cms, peer, req, &reply, error, sizeof error);
        }
    }
    if (err != CMN_OK) { /* the handlers answer their successes themselves */
        reply.body_case = OBT__CMS__REPLY__BODY__NOT_SET;
        cms_rec_reply(svc, peer, &reply, err, error);
    }
    if (req) {
        obt__cms__request__free_unpacked(req, NULL);
    }
}
