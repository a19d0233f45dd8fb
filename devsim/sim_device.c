/* sim_device.c — one virtual OCF device: SVRs, state machine, access rules */
#include "sim_device.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmn_log.h"
#include "cmn_psk.h"
#include "cmn_time.h"
#include "sim_acl.h"
#include "sim_csr.h"
#include "sim_rdp.h"
#include "sim_store.h"
#include "sim_svr.h"

static void
s_add_factory_ace(cmn_acl_t *acl,
                  int64_t id,
                  cmn_conntype_t conntype,
                  const char *const *hrefs,
                  size_t n,
                  int64_t perm)
{
    cmn_ace_t ace;
    memset(&ace, 0, sizeof ace);
    ace.aceid = id;
    ace.subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
    ace.conntype = conntype;
    for (size_t i = 0; i < n && i < CMN_ACE_MAX_RES; i++) {
        (void) snprintf(ace.resources[i].href, sizeof ace.resources[i].href, "%s", hrefs[i]);
    }
    ace.n_resources = n;
    ace.permission = perm;
    (void) cmn_acl_add(acl, &ace);
}

uint32_t
sim_device_sct(const sim_device_t *dev)
{
    uint32_t sct = CMN_CREDTYPE_PSK;
    sct |= dev->has_certs ? CMN_CREDTYPE_CERT : 0;
    sct |= dev->has_ssm ? CMN_CREDTYPE_SSM_CLIENT | CMN_CREDTYPE_SSM_SERVER : 0;
    return sct;
}

cmn_err_t
sim_device_factory_reset(sim_device_t *dev)
{
    cmn_uuid_t uuid;
    cmn_err_t err = cmn_uuid_generate(&uuid);
    if (err != CMN_OK) {
        return err;
    }
    sim_device_free(dev);
    sim_rdp_forget_pin(dev);
    memset(&dev->doxm, 0, sizeof dev->doxm);
    dev->doxm.present = 0x7f;
    memcpy(dev->doxm.oxms, dev->oxms, sizeof dev->oxms);
    dev->doxm.n_oxms = dev->n_oxms;
    dev->doxm.oxmsel = 4;
    dev->doxm.sct = sim_device_sct(dev);
    dev->doxm.deviceuuid = uuid;
    memset(&dev->pstat, 0, sizeof dev->pstat);
    dev->pstat.present = 0xff;
    dev->pstat.dos_s = CMN_DOS_RFOTM;
    dev->pstat.cm = 2;
    dev->pstat.sm = 7;
    dev->pstat.om = 2;
    dev->creds.present = CMN_CREDS_HAS_CREDS | CMN_CREDS_HAS_ROWNERUUID;
    dev->acl.present = CMN_ACL_HAS_ACLIST2 | CMN_ACL_HAS_ROWNERUUID;
    static const char *const anon[] = {"/oic/res", "/oic/d", "/oic/p", "/oic/sec/doxm"};
    static const char *const auth[] = {"/oic/sec/sdi", "/a/light"};
    s_add_factory_ace(&dev->acl, 1, CMN_CONNTYPE_ANON_CLEAR, anon, 4, CMN_PERM_R);
    s_add_factory_ace(&dev->acl, 2, CMN_CONNTYPE_AUTH_CRYPT, auth, 2, CMN_PERM_R | CMN_PERM_U);
    memset(&dev->sdi, 0, sizeof dev->sdi);
    dev->sdi.present = CMN_SDI_HAS_UUID | CMN_SDI_HAS_NAME | CMN_SDI_HAS_PRIV;
    dev->light = false;
    dev->doc_open = false;
    dev->reset_at_ms = 0;
    dev->is_stuck_owned = false; /* fault owned-rfotm: until a reset */
    return cmn_uuid_generate(&dev->piid);
}

void
sim_device_free(sim_device_t *dev)
{
    cmn_creds_free(&dev->creds);
    cmn_acl_free(&dev->acl);
    cmn_crl_free(&dev->crl);
    sim_cert_cache_free(dev);
}

const cmn_cred_t *
sim_device_find_psk(const sim_device_t *dev, const uint8_t uuid[16])
{
    for (size_t i = 0; i < dev->creds.n_creds; i++) {
        const cmn_cred_t *c = &dev->creds.creds[i];
        if (c->credtype == CMN_CREDTYPE_PSK && !c->subject_is_wildcard &&
            memcmp(c->subjectuuid.b, uuid, 16) == 0 && c->priv_len == CMN_PSK_LEN) {
            return c;
        }
    }
    return NULL;
}

void
sim_device_doc_closed(sim_device_t *dev)
{
    dev->doc_open = false;
    if (dev->is_stuck_owned) {
        cmn_log_notice("SIM-DOC-DROP", "dev=%d DOC closed in RFOTM: no reset (owned-rfotm)",
                       dev->idx);
        return;
    }
    if (dev->pstat.dos_s == CMN_DOS_RFOTM && dev->reset_at_ms == 0) {
        cmn_log_notice("SIM-DOC-DROP", "dev=%d DOC closed in RFOTM: resetting", dev->idx);
        dev->reset_at_ms = cmn_time_mono_ms();
    }
}

bool
sim_device_doc_expire(sim_device_t *dev, uint64_t now)
{
    if (!dev->doc_open || dev->doc_idle_ms <= 0 ||
        now < dev->doc_last_ms + (uint64_t) dev->doc_idle_ms) {
        return false;
    }
    cmn_log_notice("SIM-DOC-IDLE", "dev=%d DOC idle for %d ms: dropped", dev->idx,
                   dev->doc_idle_ms);
    sim_device_doc_closed(dev);
    return true;
}

bool
sim_device_boot_check(sim_device_t *dev)
{
    bool is_pristine =
            !dev->doxm.owned && cmn_uuid_is_nil(&dev->doxm.devowneruuid) && dev->creds.n_creds == 0;
    if (dev->pstat.dos_s != CMN_DOS_RFOTM || is_pristine) {
        return false;
    }
    cmn_log_notice("SIM-BOOT-RESET",
                   "dev=%d stored in RFOTM with an ownership transfer cut short (owned=%d, "
                   "%zu credential(s)): resetting",
                   dev->idx, dev->doxm.owned, dev->creds.n_creds);
    return sim_device_factory_reset(dev) == CMN_OK;
}

void
sim_device_doc_failed(sim_device_t *dev)
{
    if (dev->pstat.dos_s == CMN_DOS_RFOTM && !dev->doc_open) {
        cmn_log_notice("SIM-DOC-FAILED",
                       "dev=%d DOC handshake failed: %s, still RFOTM, ready for a new attempt",
                       dev->idx, dev->has_pin ? "PIN discarded" : "no PIN");
        sim_rdp_forget_pin(dev);
    }
}

bool
sim_device_transition_allowed(int64_t from, int64_t to)
{
    static const bool allowed[CMN_DOS_COUNT][CMN_DOS_COUNT] = {
            /* to:   RESET  RFOTM  RFPRO  RFNOP  SRESET */
            [CMN_DOS_RESET] = {true, true, false, false, false},
            [CMN_DOS_RFOTM] = {true, true, true, true, false},
            [CMN_DOS_RFPRO] = {true, false, true, true, true},
            [CMN_DOS_RFNOP] = {true, false, true, true, true},
            [CMN_DOS_SRESET] = {true, false, true, false, true},
    };
    if (from < 0 || from >= CMN_DOS_COUNT || to < 0 || to >= CMN_DOS_COUNT) {
        return false;
    }
    return allowed[from][to];
}

/* ------------------------------------------------------------------ queries */

bool
sim_svr_query_value(const char *query, const char *key, char *out, size_t cap)
{
    const char *p = query;
    size_t klen = strlen(key);
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len > klen && p[klen] == '=' && strncasecmp(p, key, klen) == 0) {
            size_t vlen = len - klen - 1;
            if (vlen >= cap) {
                return false;
            }
            memcpy(out, p + klen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

bool
sim_device_mcast_doxm_matches(const sim_device_t *dev, const char *query)
{
    char v[16];
    if (query == NULL || *query == '\0') {
        return dev->pstat.dos_s == CMN_DOS_RFOTM && !dev->doc_open;
    }
    if (!sim_svr_query_value(query, "owned", v, sizeof v)) {
        return false;
    }
    if (strcasecmp(v, "false") == 0) {
        return dev->pstat.dos_s == CMN_DOS_RFOTM && !dev->doc_open && !dev->doxm.owned;
    }
    if (strcasecmp(v, "true") == 0) {
        return dev->doxm.owned;
    }
    return false;
}

bool
sim_device_is_hidden(const sim_device_t *dev)
{
    return dev->bridge != NULL && !dev->doxm.owned && !dev->bridge->doxm.owned;
}

/* ------------------------------------------------------------------ access */

static const cmn_uuid_t *
s_rowner(const sim_device_t *dev, const char *path)
{
    if (strcmp(path, "/oic/sec/doxm") == 0) {
        return &dev->doxm.rowneruuid;
    }
    if (strcmp(path, "/oic/sec/pstat") == 0) {
        return &dev->pstat.rowneruuid;
    }
    if (strcmp(path, "/oic/sec/cred") == 0 || strcmp(path, "/oic/sec/csr") == 0 ||
        strcmp(path, "/oic/sec/crl") == 0) {
        /* the CMS reads the CSR of the device it provisions and pushes its CRL */
        return &dev->creds.rowneruuid;
    }
    if (strcmp(path, "/oic/sec/acl2") == 0) {
        return &dev->acl.rowneruuid;
    }
    if (dev->is_bridge && strcmp(path, CMN_VODLIST_HREF) == 0) {
        return &dev->doxm.devowneruuid; /* the Bridge's owner reads its VODs (bridges.md) */
    }
    return NULL;
}

/* True if dev's release grants an asserted oic.role.owner everything (newer than
 * ocf.2.4.0; older ones need the ACE of Table 2). */
static bool
s_knows_owner_role(const sim_device_t *dev)
{
    int cmp = 0;
    return cmn_icv_compare(dev->icv[0] ? dev->icv : SIM_DEFAULT_ICV, "ocf.2.4.0", &cmp) == CMN_OK &&
           cmp > 0;
}

/* OCF-NOTES 5.3 and clause 12 (sim_acl.c). Returns 0 if allowed, else the CoAP code. */
static int
s_access(const sim_device_t *dev,
         const sim_peer_t *peer,
         sim_method_t method,
         const sim_res_info_t *res,
         const char *query)
{
    char iface[48] = "";
    if (query) {
        (void) sim_svr_query_value(query, "if", iface, sizeof iface);
    }
    sim_acl_ctx_t ctx = {
            .dos_s = dev->pstat.dos_s,
            .doc_open = dev->doc_open,
            .rowner = s_rowner(dev, res->href),
            .acl = &dev->acl,
            .knows_owner_role = s_knows_owner_role(dev),
            .now = time(NULL),
    };
    return sim_acl_check(&ctx, peer, method, res, iface);
}

/* /light (oic.r.switch.binary) and /temp (oic.r.temperature, a sensor: read only). */
static int
s_app(sim_device_t *dev,
      sim_method_t method,
      const char *path,
      const uint8_t *payload,
      size_t len,
      uint8_t **ret_body,
      size_t *ret_len)
{
    if (strcmp(path, "/temp") == 0) {
        /* {"temperature": 21.5, "units": "C"} */
        static const uint8_t temp[] = {0xa2, 0x6b, 't', 'e', 'm', 'p',  'e',  'r',
                                       'a',  't',  'u', 'r', 'e', 0xf9, 0x4d, 0x60,
                                       0x65, 'u',  'n', 'i', 't', 's',  0x61, 'C'};
        if (method != SIM_GET) {
            return SIM_CODE_BAD_METHOD;
        }
        *ret_body = malloc(sizeof temp);
        if (*ret_body == NULL) {
            return SIM_CODE_INTERNAL;
        }
        memcpy(*ret_body, temp, sizeof temp);
        *ret_len = sizeof temp;
        return SIM_CODE_CONTENT;
    }
    if (method == SIM_GET) {
        static const uint8_t on[] = {0xa1, 0x65, 'v', 'a', 'l', 'u', 'e', 0xf5};
        static const uint8_t off[] = {0xa1, 0x65, 'v', 'a', 'l', 'u', 'e', 0xf4};
        *ret_body = malloc(sizeof on);
        if (*ret_body == NULL) {
            return SIM_CODE_INTERNAL;
        }
        memcpy(*ret_body, dev->light ? on : off, sizeof on);
        *ret_len = sizeof on;
        return SIM_CODE_CONTENT;
    }
    if (method != SIM_POST) {
        return SIM_CODE_BAD_METHOD;
    }
    if (len == 8 && memcmp(payload, "\xa1\x65value", 7) == 0 &&
        (payload[7] == 0xf5 || payload[7] == 0xf4)) {
        dev->light = payload[7] == 0xf5;
        return SIM_CODE_CHANGED;
    }
    return SIM_CODE_BAD_REQUEST;
}

static bool
s_fault_applies(const sim_device_t *dev, const char *path)
{
    return dev->fault_path[0] == '\0' || strcmp(dev->fault_path, path) == 0;
}

int
sim_device_handle(sim_device_t *dev,
                  const sim_peer_t *peer,
                  sim_method_t method,
                  const char *path,
                  const char *query,
                  const uint8_t *payload,
                  size_t len,
                  uint8_t **ret_body,
                  size_t *ret_len,
                  bool *ret_changed)
{
    *ret_body = NULL;
    *ret_len = 0;
    *ret_changed = false;
    if (dev->is_silenced || sim_device_is_hidden(dev)) {
        return 0;
    }
    if (dev->fault == SIM_FAULT_SILENT && s_fault_applies(dev, path)) {
        cmn_log_notice("SIM-FAULT", "dev=%d goes silent at %s", dev->idx, path);
        dev->is_silenced = true;
        return 0;
    }
    /* stop-maint / stop (docs/internals.md): the whole simulator stops before it handles
     * the request (kill -CONT resumes it), so a test kills a service while that request
     * is out and unanswered, without racing */
    bool is_stop_here = s_fault_applies(dev, path) &&
                        ((dev->fault == SIM_FAULT_STOP_MAINT && dev->in_maint) ||
                         (dev->fault == SIM_FAULT_STOP_NTH && peer->is_doc == dev->stop_in_doc &&
                          method == dev->stop_method && ++dev->stop_seen == dev->stop_nth));
    if (is_stop_here) {
        dev->fault = SIM_FAULT_NONE;
        /* the files as they are now, for a test that reads them while it is stopped;
         * written BEFORE the line a test waits for: its SIGCONT may follow the line at
         * once, and one that came before the raise would be lost (stopped for good) */
        (void) sim_store_flush(dev->all, dev->n_all);
        cmn_log_notice("SIM-FAULT", "dev=%d stops (SIGSTOP) at %s", dev->idx, path);
        (void) raise(SIGSTOP);
    }
    if (dev->fault == SIM_FAULT_DROP_DOC && peer->is_doc && s_fault_applies(dev, path)) {
        cmn_log_notice("SIM-FAULT", "dev=%d drops the DOC at %s", dev->idx, path);
        dev->fault = SIM_FAULT_NONE; /* once: the next owner finds a healthy device */
        return SIM_CODE_DROP_DOC;
    }
    if (dev->reset_at_ms != 0 && dev->pstat.dos_s == CMN_DOS_RESET) {
        return 503; /* resetting */
    }
    /* A resource the device does not serve is checked as a hidden, secure-only NCR
     * first: who may not reach it does not learn that it is absent. */
    sim_res_info_t res = {.href = path};
    bool is_served = sim_device_res_info(dev, path, &res);
    if (!is_served && strncmp(path, "/oic/sec/", 9) == 0) {
        /* an SVR this device lacks (/oic/sec/csr without --certs): checked as an SVR, so
         * its resource owner (the CMS) learns 4.04, others 4.01/4.03 */
        res.is_svr = true;
        res.is_dcr = true;
    }
    int deny = s_access(dev, peer, method, &res, query);
    if (deny != 0) {
        return deny;
    }
    if (!is_served) {
        return SIM_CODE_NOT_FOUND;
    }
    if ((dev->fault == SIM_FAULT_ERROR || (dev->fault == SIM_FAULT_ERROR_MAINT && dev->in_maint)) &&
        method == SIM_POST && s_fault_applies(dev, path)) {
        return SIM_CODE_BAD_REQUEST;
    }
    int code = SIM_CODE_NOT_FOUND;
    cmn_err_t err = CMN_OK;
    bool is_get = method == SIM_GET;
    if (strcmp(path, "/oic/sec/doxm") == 0) {
        code = is_get ? (err = cmn_doxm_encode(&dev->doxm, ret_body, ret_len), SIM_CODE_CONTENT)
               : method == SIM_POST ? sim_svr_post_doxm(dev, peer, payload, len)
                                    : SIM_CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/pstat") == 0) {
        code = is_get ? (err = cmn_pstat_encode(&dev->pstat, ret_body, ret_len), SIM_CODE_CONTENT)
               : method == SIM_POST ? sim_svr_post_pstat(dev, peer, payload, len)
                                    : SIM_CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/cred") == 0) {
        code = is_get ? (err = sim_svr_get_cred(dev, ret_body, ret_len), SIM_CODE_CONTENT)
               : method == SIM_POST   ? sim_svr_post_cred(dev, peer, payload, len)
               : method == SIM_DELETE ? sim_svr_delete_cred(dev, query)
                                      : SIM_CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/csr") == 0) {
        code = is_get ? sim_svr_get_csr(dev, ret_body, ret_len) : SIM_CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/crl") == 0) {
        code = is_get               ? sim_svr_get_crl(dev, ret_body, ret_len)
               : method == SIM_POST ? sim_svr_post_crl(dev, payload, len)
                                    : SIM_CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/roles") == 0) {
        code = sim_svr_roles(dev, peer, method, query, payload, len, ret_body, ret_len);
    } else if (strcmp(path, "/oic/sec/acl2") == 0) {
        code = is_get ? (err = cmn_acl_encode(&dev->acl, ret_body, ret_len), SIM_CODE_CONTENT)
               : method == SIM_POST   ? sim_svr_post_acl2(dev, payload, len)
               : method == SIM_DELETE ? sim_svr_delete_acl2(dev, query)
                                      : SIM_CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/sdi") == 0) {
        code = is_get ? (err = cmn_sdi_encode(&dev->sdi, ret_body, ret_len), SIM_CODE_CONTENT)
               : method == SIM_POST ? sim_svr_post_sdi(dev, payload, len)
                                    : SIM_CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/res") == 0) {
        code = is_get ? (err = sim_device_res(dev, query, ret_body, ret_len), SIM_CODE_CONTENT)
                      : SIM_CODE_BAD_METHOD;
        if (err == CMN_ENOTFOUND) {
            err = CMN_OK;
            code = SIM_CODE_NOT_FOUND;
        }
    } else if (strcmp(path, "/oic/d") == 0 || strcmp(path, "/oic/p") == 0) {
        code = is_get ? (err = sim_svr_get_d(dev, ret_body, ret_len), SIM_CODE_CONTENT)
                      : SIM_CODE_BAD_METHOD;
    } else if (dev->is_bridge && strcmp(path, CMN_VODLIST_HREF) == 0) {
        code = is_get ? (err = sim_svr_get_vodlist(dev, ret_body, ret_len), SIM_CODE_CONTENT)
                      : SIM_CODE_BAD_METHOD;
    } else if (strcmp(path, "/a/light") == 0 || strcmp(path, "/light") == 0 ||
               strcmp(path, "/temp") == 0) {
        code = s_app(dev, method, path, payload, len, ret_body, ret_len);
    }
    if (err != CMN_OK) {
        free(*ret_body);
        *ret_body = NULL;
        *ret_len = 0;
        return SIM_CODE_INTERNAL;
    }
    if (dev->fault == SIM_FAULT_BAD_CBOR && s_fault_applies(dev, path) && code < 300) {
        static const uint8_t junk[] = {0xbf, 0x64, 'o', 'w', 'n', 0xff, 0x1c, 0x5b};
        free(*ret_body);
        *ret_body = malloc(sizeof junk);
        if (*ret_body) {
            memcpy(*ret_body, junk, sizeof junk);
            *ret_len = sizeof junk;
        }
        code = is_get ? SIM_CODE_CONTENT : SIM_CODE_CHANGED;
    }
    /* the roles are the session's, not the device's state */
    *ret_changed = !is_get && code >= 200 && code < 300 && strcmp(path, "/oic/sec/roles") != 0;
    return code;
}
