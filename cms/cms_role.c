/* cms_role.c — role certificates: a device's identity key, the role certificate issued
 * over it, and the cred entry that carries it to the device */
#include "cms_role.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "cmn_log.h"
#include "cmn_uuid.h"
#include "cms_ca.h"
#include "cms_service.h"

/* A role or an authority: 1..63 printable ASCII characters, no '@' (the separator of
 * role:NAME@AUTHORITY in ACE subjects, docs/ams.md). */
static bool
s_name_ok(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '@') {
            return false;
        }
    }
    return n >= 1 && n <= CMN_CERT_ROLE_MAX;
}

cmn_err_t
cms_role_check(cmn_svc_t *svc,
               const char *uuid,
               const char *role,
               const char *authority,
               char *error,
               size_t error_len)
{
    cmn_uuid_t u;
    if (uuid == NULL || cmn_uuid_from_str(uuid, &u) != CMN_OK) {
        (void) snprintf(error, error_len, "device_uuid: not a UUID");
        return CMN_EINVAL;
    }
    if (role == NULL || !s_name_ok(role)) {
        (void) snprintf(error, error_len,
                        "role: want 1..%d printable ASCII characters without '@' (got %zu)",
                        CMN_CERT_ROLE_MAX, role ? strlen(role) : 0);
        return CMN_EINVAL;
    }
    if (authority && authority[0] && !s_name_ok(authority)) {
        (void) snprintf(error, error_len,
                        "authority: want 1..%d printable ASCII characters without '@' (got %zu)",
                        CMN_CERT_ROLE_MAX, strlen(authority));
        return CMN_EINVAL;
    }
    Obt__ServiceDevice *dev = NULL;
    cmn_err_t err = cms_managed_get(svc, uuid, "given a role certificate", &dev, error, error_len);
    if (err != CMN_OK) {
        return err;
    }
    if (!(dev->sct & CMN_CREDTYPE_CERT)) {
        (void) snprintf(error, error_len,
                        "device %s has no certificate support (sct %u, no credtype 8): no role "
                        "certificate",
                        uuid, dev->sct);
        err = CMN_EINVAL;
    } else if (dev->cert_serial[0] == '\0') {
        (void) snprintf(
                error, error_len,
                "device %s holds no identity certificate from CMS (%s): a role "
                "certificate is issued over its key (a repair or cert renew provisions one)",
                uuid, dev->cert_note[0] ? dev->cert_note : "none recorded");
        err = CMN_EINVAL;
    }
    obt__service_device__free_unpacked(dev, NULL);
    return err;
}

int64_t
cms_role_find_credid(const cmn_creds_t *creds,
                     const char *role,
                     const char *authority,
                     char ret_serial[65])
{
    ret_serial[0] = '\0';
    for (size_t i = 0; i < creds->n_creds; i++) {
        const cmn_cred_t *c = &creds->creds[i];
        if (c->credtype != CMN_CREDTYPE_CERT ||
            strcmp(c->credusage, CMN_CRED_USAGE_ROLECERT) != 0) {
            continue;
        }
        STACK_OF(X509) *sk = cmn_cert_parse_pem(c->pub_data, c->pub_len);
        char r[64], a[64], why[160];
        X509 *leaf = sk ? sk_X509_value(sk, 0) : NULL;
        bool is_same = leaf && cmn_cert_role(leaf, r, a, why, sizeof why) == CMN_OK &&
                       strcmp(r, role) == 0 && strcmp(a, authority) == 0;
        if (is_same) {
            cms_ca_serial_hex(leaf, ret_serial);
        }
        sk_X509_pop_free(sk, X509_free);
        if (is_same) {
            return c->credid;
        }
    }
    return 0;
}

typedef struct {
    const char *serial;
    bool is_active;
} s_status_t;

static void
s_is_active(const Obt__Store__CmsCert *c, void *arg)
{
    s_status_t *st = arg;
    if (strcmp(c->serial, st->serial) == 0) {
        st->is_active = strcmp(c->status, "active") == 0;
    }
}

void
cms_role_replaced(cmn_svc_t *svc, const char *uuid, const char *old, const char *new_serial)
{
    s_status_t st = {old, false};
    cmn_kv_t *kv = cmn_svc_kv(svc);
    if (cms_ca_each_cert(kv, uuid, s_is_active, &st) == CMN_OK && st.is_active &&
        cms_ca_set_status(kv, old, "replaced") == CMN_OK) {
        cmn_log_info("CMS-CERT-STATUS", "dev=%s serial=%s active -> replaced by %s", uuid, old,
                     new_serial);
    }
}

/* What the device's certificate records give: the identity certificate serial (its
 * key), and the role certificates still "issued" (a run cut short). */
typedef struct {
    const char *serial; /* the identity certificate */
    X509 *cert;         /* found: its certificate */
    bool is_active;
    char issued[8][65]; /* role certificates "issued" */
    size_t n_issued;
} s_key_t;

static void
s_collect(const Obt__Store__CmsCert *c, void *arg)
{
    s_key_t *k = arg;
    if (strcmp(c->serial, k->serial) == 0 && k->cert == NULL) {
        const uint8_t *p = c->der.data;
        k->cert = d2i_X509(NULL, &p, (long) c->der.len);
        k->is_active = strcmp(c->status, "active") == 0;
    } else if (strcmp(c->usage, "role") == 0 && strcmp(c->status, "issued") == 0 &&
               k->n_issued < 8) {
        (void) snprintf(k->issued[k->n_issued++], 65, "%s", c->serial);
    }
}

cmn_err_t
cms_role_body(cmn_svc_t *svc,
              const char *uuid,
              const char *role,
              const char *authority,
              int64_t credid,
              char ret_serial[65],
              uint8_t **ret_body,
              size_t *ret_len,
              char *why,
              size_t why_len)
{
    cms_t *cms = cmn_svc_hooks(svc)->arg;
    cmn_kv_t *kv = cmn_svc_kv(svc);
    Obt__ServiceDevice *dev = NULL;
    cmn_err_t err = cmn_svc_get(svc, uuid, &dev);
    if (err != CMN_OK) {
        (void) snprintf(why, why_len, "cannot read the device's record: %s", cmn_strerror(err));
        return err;
    }
    s_key_t k = {dev->cert_serial, NULL, false, {{0}}, 0};
    err = dev->cert_serial[0] ? cms_ca_each_cert(kv, uuid, s_collect, &k) : CMN_ENOTFOUND;
    obt__service_device__free_unpacked(dev, NULL);
    if (err == CMN_OK && (k.cert == NULL || !k.is_active)) {
        err = CMN_ENOTFOUND;
    }
    if (err != CMN_OK) {
        X509_free(k.cert);
        (void) snprintf(why, why_len,
                        "the device's identity certificate is not on record as active: no key "
                        "for a role certificate");
        return err;
    }
    for (size_t i = 0; i < k.n_issued; i++) {
        (void) cms_ca_set_status(kv, k.issued[i], "abandoned");
        cmn_log_info("CMS-CERT-STATUS", "dev=%s serial=%s issued -> abandoned", uuid, k.issued[i]);
    }
    cmn_uuid_t u;
    (void) cmn_uuid_from_str(uuid, &u);
    X509 *leaf = NULL;
    char *full = NULL;
    char serial[65] = "";
    err = cms_ca_issue_role(cms_ca(cms), kv, X509_get0_pubkey(k.cert), &u, role, authority,
                            cms_cert_validity_days(cms), &leaf, serial);
    X509_free(k.cert);
    if (err != CMN_OK) {
        (void) snprintf(why, why_len, "cannot issue the role certificate: %s", cmn_strerror(err));
        return err;
    }
    err = cms_ca_leaf_chain_pem(cms_ca(cms), leaf, &full);
    X509_free(leaf);
    if (err == CMN_OK) {
        cmn_cred_t cred;
        cms_cert_cred(&cred, credid, &u, CMN_CRED_USAGE_ROLECERT, full);
        cmn_creds_t out = {0};
        out.present = CMN_CREDS_HAS_CREDS;
        out.creds = &cred;
        out.n_creds = 1;
        err = cmn_creds_encode(&out, ret_body, ret_len);
    }
    free(full);
    if (err != CMN_OK) {
        (void) cms_ca_set_status(kv, serial, "abandoned");
        (void) snprintf(why, why_len, "cannot build the cred request: %s", cmn_strerror(err));
        return err;
    }
    (void) snprintf(ret_serial, 65, "%s", serial);
    return CMN_OK;
}
