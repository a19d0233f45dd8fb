/* sim_device.c — one virtual OCF device: SVRs, state machine, access rules */
#include "sim_device.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmn_log.h"
#include "cmn_psk.h"
#include "cmn_time.h"

#define CODE_CONTENT      205
#define CODE_CHANGED      204
#define CODE_DELETED      202
#define CODE_BAD_REQUEST  400
#define CODE_UNAUTHORIZED 401
#define CODE_FORBIDDEN    403
#define CODE_NOT_FOUND    404
#define CODE_BAD_METHOD   405
#define CODE_INTERNAL     500

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

cmn_err_t
sim_device_factory_reset(sim_device_t *dev)
{
    cmn_uuid_t uuid;
    cmn_err_t err = cmn_uuid_generate(&uuid);
    if (err != CMN_OK) {
        return err;
    }
    sim_device_free(dev);
    memset(&dev->doxm, 0, sizeof dev->doxm);
    dev->doxm.present = 0x7f;
    memcpy(dev->doxm.oxms, dev->oxms, sizeof dev->oxms);
    dev->doxm.n_oxms = dev->n_oxms;
    dev->doxm.oxmsel = 4;
    dev->doxm.sct = 1;
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
    return cmn_uuid_generate(&dev->piid);
}

void
sim_device_free(sim_device_t *dev)
{
    cmn_creds_free(&dev->creds);
    cmn_acl_free(&dev->acl);
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
    if (dev->pstat.dos_s == CMN_DOS_RFOTM && dev->reset_at_ms == 0) {
        cmn_log_notice("SIM-DOC-DROP", "dev=%d DOC closed in RFOTM: resetting", dev->idx);
        dev->reset_at_ms = cmn_time_mono_ms();
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

static bool
s_query_value(const char *query, const char *key, char *out, size_t cap)
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
    if (!s_query_value(query, "owned", v, sizeof v)) {
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

/* ------------------------------------------------------------------ access */

static bool
s_is_dcr(const char *path)
{
    return cmn_svr_is_svr_href(path) || strcmp(path, "/oic/res") == 0 ||
           strcmp(path, "/oic/d") == 0 || strcmp(path, "/oic/p") == 0;
}

static const cmn_uuid_t *
s_rowner(const sim_device_t *dev, const char *path)
{
    if (strcmp(path, "/oic/sec/doxm") == 0) {
        return &dev->doxm.rowneruuid;
    }
    if (strcmp(path, "/oic/sec/pstat") == 0) {
        return &dev->pstat.rowneruuid;
    }
    if (strcmp(path, "/oic/sec/cred") == 0) {
        return &dev->creds.rowneruuid;
    }
    if (strcmp(path, "/oic/sec/acl2") == 0) {
        return &dev->acl.rowneruuid;
    }
    return NULL;
}

static bool
s_ace_covers(const cmn_ace_t *ace, const char *path)
{
    for (size_t r = 0; r < ace->n_resources; r++) {
        if (ace->resources[r].href[0] && strcmp(ace->resources[r].href, path) == 0) {
            return true;
        }
        /* Wildcards never match DCRs (OCF-NOTES 4.6). */
        if (ace->resources[r].wc[0] && !s_is_dcr(path)) {
            return true;
        }
    }
    return false;
}

static bool
s_perm_ok(int64_t perm, sim_method_t method)
{
    switch (method) {
    case SIM_GET:
        return (perm & (CMN_PERM_R | CMN_PERM_N)) != 0;
    case SIM_POST:
    case SIM_PUT:
        return (perm & (CMN_PERM_C | CMN_PERM_U)) != 0;
    case SIM_DELETE:
        return (perm & CMN_PERM_D) != 0;
    }
    return false;
}

/* OCF-NOTES 5.3. Returns 0 if allowed, else the CoAP code to answer. */
static int
s_access(const sim_device_t *dev, const sim_peer_t *peer, sim_method_t method, const char *path)
{
    int64_t s = dev->pstat.dos_s;
    bool is_svr = cmn_svr_is_svr_href(path);
    if (s == CMN_DOS_RFOTM && dev->doc_open && !peer->is_secure) {
        return CODE_UNAUTHORIZED;
    }
    if (peer->is_doc && s_is_dcr(path)) {
        return 0;
    }
    if (s == CMN_DOS_RFOTM) {
        if (method == SIM_GET && (strcmp(path, "/oic/res") == 0 || strcmp(path, "/oic/d") == 0 ||
                                  strcmp(path, "/oic/p") == 0)) {
            return 0;
        }
        if (!peer->is_secure && !dev->doc_open &&
            ((strcmp(path, "/oic/sec/doxm") == 0 && (method == SIM_GET || method == SIM_POST)) ||
             (strcmp(path, "/oic/sec/pstat") == 0 && method == SIM_GET))) {
            return 0;
        }
        return CODE_UNAUTHORIZED;
    }
    if (!is_svr && s_is_dcr(path) == false && s != CMN_DOS_RFNOP) {
        return CODE_FORBIDDEN; /* NCRs only in RFNOP */
    }
    if (is_svr && !peer->is_secure) {
        return CODE_UNAUTHORIZED;
    }
    const cmn_uuid_t *owner = s_rowner(dev, path);
    if (owner && peer->has_peer && !cmn_uuid_is_nil(owner) && cmn_uuid_eq(owner, &peer->peer)) {
        return 0;
    }
    int64_t perm = 0;
    for (size_t i = 0; i < dev->acl.n_aces; i++) {
        const cmn_ace_t *ace = &dev->acl.aces[i];
        bool match = false;
        if (ace->subject_kind == CMN_ACE_SUBJECT_UUID) {
            match = peer->has_peer && cmn_uuid_eq(&ace->subject_uuid, &peer->peer);
        } else if (ace->subject_kind == CMN_ACE_SUBJECT_CONNTYPE && !is_svr) {
            match = ace->conntype == CMN_CONNTYPE_ANON_CLEAR || peer->is_secure;
        }
        if (match && s_ace_covers(ace, path)) {
            perm |= ace->permission;
        }
    }
    return s_perm_ok(perm, method) ? 0 : (peer->is_secure ? CODE_FORBIDDEN : CODE_UNAUTHORIZED);
}

/* ------------------------------------------------------------------ resources */

static bool
s_rfpro_entry_ok(const sim_device_t *dev)
{
    const cmn_uuid_t *owners[4] = {&dev->pstat.rowneruuid, &dev->doxm.rowneruuid,
                                   &dev->acl.rowneruuid, &dev->creds.rowneruuid};
    for (int i = 0; i < 4; i++) {
        if (cmn_uuid_is_nil(owners[i]) || sim_device_find_psk(dev, owners[i]->b) == NULL) {
            return false;
        }
    }
    /* cm/tm are those of the state being entered (s_enter), so they are not checked
     * against the RFOTM values here. */
    return dev->doxm.owned && !cmn_uuid_is_nil(&dev->doxm.devowneruuid) &&
           !cmn_uuid_is_nil(&dev->doxm.deviceuuid) && (dev->pstat.tm & 0xC3) == 0;
}

static void
s_enter(sim_device_t *dev, int64_t s)
{
    dev->pstat.dos_s = s;
    dev->pstat.dos_p = false;
    dev->pstat.isop = s == CMN_DOS_RFNOP;
    dev->pstat.cm = s == CMN_DOS_SRESET ? 1 : s == CMN_DOS_RFOTM ? 2 : 0;
    dev->pstat.tm = 0;
    cmn_log_notice("SIM-STATE", "dev=%d state=%s", dev->idx, cmn_dos_name(s));
}

static int
s_post_doxm(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len)
{
    cmn_doxm_t in;
    if (cmn_doxm_decode(p, len, &in) != CMN_OK || in.n_unknown > 0) {
        return CODE_BAD_REQUEST;
    }
    if (in.present & (CMN_DOXM_HAS_OXMS | CMN_DOXM_HAS_SCT)) {
        return CODE_BAD_REQUEST; /* read-only */
    }
    bool in_rfotm = dev->pstat.dos_s == CMN_DOS_RFOTM;
    if (in.present & CMN_DOXM_HAS_OXMSEL) {
        bool offered = false;
        for (size_t i = 0; i < dev->doxm.n_oxms; i++) {
            offered |= dev->doxm.oxms[i] == in.oxmsel;
        }
        if (!in_rfotm || peer->is_secure || dev->doc_open || !offered) {
            return CODE_BAD_REQUEST;
        }
    }
    uint32_t doc_only = CMN_DOXM_HAS_OWNED | CMN_DOXM_HAS_DEVICEUUID | CMN_DOXM_HAS_DEVOWNERUUID |
                        CMN_DOXM_HAS_ROWNERUUID;
    if ((in.present & doc_only) && !(in_rfotm && peer->is_doc)) {
        return CODE_BAD_REQUEST;
    }
    if (in.present & CMN_DOXM_HAS_OXMSEL) {
        dev->doxm.oxmsel = in.oxmsel;
    }
    if (in.present & CMN_DOXM_HAS_DEVOWNERUUID) {
        dev->doxm.devowneruuid = in.devowneruuid;
    }
    if (in.present & CMN_DOXM_HAS_DEVICEUUID) {
        dev->doxm.deviceuuid = in.deviceuuid;
    }
    if (in.present & CMN_DOXM_HAS_ROWNERUUID) {
        dev->doxm.rowneruuid = in.rowneruuid;
    }
    if (in.present & CMN_DOXM_HAS_OWNED) {
        dev->doxm.owned = in.owned;
    }
    return CODE_CHANGED;
}

static int
s_post_pstat(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len)
{
    cmn_pstat_t in;
    (void) peer;
    if (cmn_pstat_decode(p, len, &in) != CMN_OK || in.n_unknown > 0) {
        return CODE_BAD_REQUEST;
    }
    if (in.present &
        (CMN_PSTAT_HAS_DOS_P | CMN_PSTAT_HAS_ISOP | CMN_PSTAT_HAS_CM | CMN_PSTAT_HAS_SM)) {
        return CODE_BAD_REQUEST;
    }
    if ((in.present & CMN_PSTAT_HAS_OM) &&
        (!(in.om == 1 || in.om == 2 || in.om == 4) || (in.om & dev->pstat.sm) != in.om)) {
        return CODE_BAD_REQUEST;
    }
    if ((in.present & CMN_PSTAT_HAS_ROWNERUUID) &&
        (dev->pstat.dos_s == CMN_DOS_RFPRO || dev->pstat.dos_s == CMN_DOS_RFNOP)) {
        return CODE_BAD_REQUEST;
    }
    if (in.present & CMN_PSTAT_HAS_DOS) {
        if (!sim_device_transition_allowed(dev->pstat.dos_s, in.dos_s)) {
            return CODE_BAD_REQUEST;
        }
    }
    cmn_pstat_t saved = dev->pstat;
    if (in.present & CMN_PSTAT_HAS_OM) {
        dev->pstat.om = in.om;
    }
    if (in.present & CMN_PSTAT_HAS_TM) {
        dev->pstat.tm = in.tm;
    }
    if (in.present & CMN_PSTAT_HAS_ROWNERUUID) {
        dev->pstat.rowneruuid = in.rowneruuid;
    }
    if (in.present & CMN_PSTAT_HAS_DOS) {
        int64_t to = in.dos_s;
        if (to == CMN_DOS_RESET) {
            dev->pstat.dos_s = CMN_DOS_RESET;
            dev->pstat.dos_p = true;
            dev->pstat.cm = 1;
            dev->pstat.tm = 2;
            dev->reset_at_ms = cmn_time_mono_ms() + (uint64_t) dev->reset_delay_ms;
            cmn_log_notice("SIM-RESET-REQ", "dev=%d reset requested", dev->idx);
        } else if (to != dev->pstat.dos_s) {
            if ((to == CMN_DOS_RFPRO || to == CMN_DOS_RFNOP || to == CMN_DOS_SRESET) &&
                !s_rfpro_entry_ok(dev)) {
                dev->pstat = saved;
                return CODE_BAD_REQUEST;
            }
            s_enter(dev, to);
        }
    }
    return CODE_CHANGED;
}

static bool
s_cred_is_owner(const sim_device_t *dev, const cmn_creds_t *in, const cmn_cred_t *c)
{
    if (c->credtype != CMN_CREDTYPE_PSK || c->subject_is_wildcard) {
        return false;
    }
    if (cmn_uuid_eq(&c->subjectuuid, &dev->doxm.devowneruuid)) {
        return true;
    }
    if ((in->present & CMN_CREDS_HAS_ROWNERUUID) && cmn_uuid_eq(&c->subjectuuid, &in->rowneruuid)) {
        return true;
    }
    return !cmn_uuid_is_nil(&dev->creds.rowneruuid) &&
           cmn_uuid_eq(&c->subjectuuid, &dev->creds.rowneruuid);
}

static const char *
s_otm_label(int64_t oxmsel)
{
    switch (oxmsel) {
    case 0:
        return "oic.sec.doxm.jw";
    case 1:
        return "oic.sec.doxm.rdp";
    case 2:
        return "oic.sec.doxm.mfgcert";
    default:
        return NULL;
    }
}

static int
s_post_cred(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len)
{
    cmn_creds_t in;
    int64_t s = dev->pstat.dos_s;
    if (cmn_creds_decode(p, len, &in) != CMN_OK) {
        return CODE_BAD_REQUEST;
    }
    int code = CODE_CHANGED;
    if (in.n_unknown > 0 ||
        ((in.present & CMN_CREDS_HAS_ROWNERUUID) && s != CMN_DOS_RFOTM && s != CMN_DOS_SRESET) ||
        ((in.present & CMN_CREDS_HAS_CREDS) && s == CMN_DOS_RFNOP)) {
        code = CODE_BAD_REQUEST;
        goto out;
    }
    /* Validate and derive first, so that a bad entry changes nothing. */
    for (size_t i = 0; i < in.n_creds; i++) {
        cmn_cred_t *c = &in.creds[i];
        if (!(c->present & CMN_CRED_HAS_CREDTYPE) || !(c->present & CMN_CRED_HAS_SUBJECT)) {
            code = CODE_BAD_REQUEST;
            goto out;
        }
        if (c->credtype != CMN_CREDTYPE_PSK) {
            continue;
        }
        if (c->priv_len == 0 && s == CMN_DOS_RFOTM && peer->is_doc && peer->ssl &&
            s_cred_is_owner(dev, &in, c)) {
            const char *label = s_otm_label(dev->doxm.oxmsel);
            uint8_t psk[CMN_PSK_LEN];
            size_t kbl = 0;
            if (label == NULL ||
                cmn_psk_derive_from_ssl(peer->ssl, label, c->subjectuuid.b, dev->doxm.deviceuuid.b,
                                        psk, &kbl) != CMN_OK) {
                code = CODE_INTERNAL;
                goto out;
            }
            free(c->priv_data);
            c->priv_data = malloc(CMN_PSK_LEN);
            if (c->priv_data == NULL) {
                OPENSSL_cleanse(psk, sizeof psk);
                code = CODE_INTERNAL;
                goto out;
            }
            memcpy(c->priv_data, psk, CMN_PSK_LEN);
            OPENSSL_cleanse(psk, sizeof psk);
            c->priv_len = CMN_PSK_LEN;
            c->priv_is_text = false;
            (void) snprintf(c->priv_encoding, sizeof c->priv_encoding, "%s", CMN_ENC_RAW);
            cmn_log_info("SIM-OWNER-PSK", "dev=%d derived the owner PSK (kbl=%zu)", dev->idx, kbl);
        } else if (c->priv_len != CMN_PSK_LEN) {
            code = CODE_BAD_REQUEST;
            goto out;
        }
    }
    for (size_t i = 0; i < in.n_creds; i++) {
        cmn_cred_t *c = &in.creds[i];
        c->present |= CMN_CRED_HAS_CREDID | CMN_CRED_HAS_PRIVATEDATA;
        int64_t id = c->credid;
        size_t slot = dev->creds.n_creds;
        for (size_t j = 0; id > 0 && j < dev->creds.n_creds; j++) {
            if (dev->creds.creds[j].credid == id) {
                slot = j;
            }
        }
        if (id <= 0) {
            id = 1;
            for (size_t j = 0; j < dev->creds.n_creds; j++) {
                if (dev->creds.creds[j].credid >= id) {
                    id = dev->creds.creds[j].credid + 1;
                }
            }
            c->credid = id;
        }
        if (slot < dev->creds.n_creds) {
            cmn_creds_remove(&dev->creds, slot); /* a POST with a known credid replaces it */
        }
        if (cmn_creds_add(&dev->creds, c) != CMN_OK) {
            code = CODE_INTERNAL;
            goto out;
        }
    }
    if (in.present & CMN_CREDS_HAS_ROWNERUUID) {
        dev->creds.rowneruuid = in.rowneruuid;
    }
out:
    cmn_creds_free(&in);
    return code;
}

static int
s_post_acl(sim_device_t *dev, const uint8_t *p, size_t len)
{
    cmn_acl_t in;
    int64_t s = dev->pstat.dos_s;
    if (cmn_acl_decode(p, len, &in) != CMN_OK) {
        return CODE_BAD_REQUEST;
    }
    int code = CODE_CHANGED;
    if (in.n_unknown > 0 ||
        ((in.present & CMN_ACL_HAS_ROWNERUUID) && (s == CMN_DOS_RFPRO || s == CMN_DOS_RFNOP)) ||
        ((in.present & CMN_ACL_HAS_ACLIST2) && s == CMN_DOS_RFNOP)) {
        code = CODE_BAD_REQUEST;
        goto out;
    }
    for (size_t i = 0; i < in.n_aces; i++) {
        cmn_ace_t ace = in.aces[i];
        if (ace.n_resources == 0) {
            code = CODE_BAD_REQUEST;
            goto out;
        }
        size_t slot = dev->acl.n_aces;
        for (size_t j = 0; ace.aceid > 0 && j < dev->acl.n_aces; j++) {
            if (dev->acl.aces[j].aceid == ace.aceid) {
                slot = j;
            }
        }
        if (ace.aceid <= 0) {
            ace.aceid = 1;
            for (size_t j = 0; j < dev->acl.n_aces; j++) {
                if (dev->acl.aces[j].aceid >= ace.aceid) {
                    ace.aceid = dev->acl.aces[j].aceid + 1;
                }
            }
        }
        if (slot < dev->acl.n_aces) {
            dev->acl.aces[slot] = ace;
        } else if (cmn_acl_add(&dev->acl, &ace) != CMN_OK) {
            code = CODE_INTERNAL;
            goto out;
        }
    }
    if (in.present & CMN_ACL_HAS_ROWNERUUID) {
        dev->acl.rowneruuid = in.rowneruuid;
    }
out:
    cmn_acl_free(&in);
    return code;
}

static int
s_delete_acl(sim_device_t *dev, const char *query)
{
    char v[24];
    if (dev->pstat.dos_s == CMN_DOS_RFNOP) {
        return CODE_FORBIDDEN;
    }
    if (query == NULL || !s_query_value(query, "aceid", v, sizeof v)) {
        dev->acl.n_aces = 0;
        return CODE_DELETED;
    }
    long id = strtol(v, NULL, 10);
    for (size_t j = 0; j < dev->acl.n_aces; j++) {
        if (dev->acl.aces[j].aceid == id) {
            dev->acl.aces[j] = dev->acl.aces[dev->acl.n_aces - 1];
            dev->acl.n_aces--;
            return CODE_DELETED;
        }
    }
    return CODE_NOT_FOUND;
}

static int
s_post_sdi(sim_device_t *dev, const uint8_t *p, size_t len)
{
    cmn_sdi_t in;
    int64_t s = dev->pstat.dos_s;
    if (cmn_sdi_decode(p, len, &in) != CMN_OK || in.n_unknown > 0) {
        return CODE_BAD_REQUEST;
    }
    if (((in.present & CMN_SDI_HAS_UUID) && s != CMN_DOS_RFOTM) ||
        ((in.present & (CMN_SDI_HAS_NAME | CMN_SDI_HAS_PRIV)) && s == CMN_DOS_RFNOP)) {
        return CODE_BAD_REQUEST;
    }
    if (in.present & CMN_SDI_HAS_UUID) {
        dev->sdi.uuid = in.uuid;
    }
    if (in.present & CMN_SDI_HAS_NAME) {
        (void) snprintf(dev->sdi.name, sizeof dev->sdi.name, "%s", in.name);
    }
    if (in.present & CMN_SDI_HAS_PRIV) {
        dev->sdi.priv = in.priv;
    }
    return CODE_CHANGED;
}

static void
s_eps(const sim_device_t *dev, cmn_link_t *l, bool with_plain)
{
    l->n_eps = 0;
    if (with_plain) {
        (void) snprintf(l->eps[l->n_eps++], sizeof l->eps[0], "coap://%s:%u", dev->address,
                        (unsigned) dev->udp_port);
    }
    (void) snprintf(l->eps[l->n_eps++], sizeof l->eps[0], "coaps://%s:%u", dev->address,
                    (unsigned) dev->dtls_port);
}

cmn_err_t
sim_device_res(const sim_device_t *dev, const char *query, uint8_t **ret, size_t *len)
{
    static const struct {
        const char *href;
        const char *rt;
        bool is_secure_only;
        bool is_svr;
    } links[] = {
            {"/oic/res", "oic.wk.res", false, false},
            {"/oic/d", "oic.wk.d", false, false},
            {"/oic/p", "oic.wk.p", false, false},
            {"/oic/sec/doxm", "oic.r.doxm", false, true},
            {"/oic/sec/pstat", "oic.r.pstat", false, true},
            {"/oic/sec/cred", "oic.r.cred", true, true},
            {"/oic/sec/acl2", "oic.r.acl2", true, true},
            {"/oic/sec/sdi", "oic.r.sdi", true, true},
            {"/a/light", "oic.r.switch.binary", true, false},
    };
    char rt[48] = "";
    if (query) {
        (void) s_query_value(query, "rt", rt, sizeof rt);
    }
    char uuid[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&dev->doxm.deviceuuid, uuid);
    bool plain_svr = dev->pstat.dos_s == CMN_DOS_RFOTM && !dev->doc_open;
    cmn_res_t res = {0};
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        if (rt[0] && strcmp(rt, links[i].rt) != 0) {
            continue;
        }
        cmn_link_t l;
        memset(&l, 0, sizeof l);
        (void) snprintf(l.anchor, sizeof l.anchor, "ocf://%s", uuid);
        (void) snprintf(l.href, sizeof l.href, "%s", links[i].href);
        (void) snprintf(l.rt[0], sizeof l.rt[0], "%s", links[i].rt);
        l.n_rt = 1;
        (void) snprintf(l.ifs[0], sizeof l.ifs[0], "oic.if.baseline");
        (void) snprintf(l.ifs[1], sizeof l.ifs[1], "%s",
                        links[i].is_svr ? "oic.if.rw" : "oic.if.r");
        l.n_ifs = 2;
        l.bm = 3;
        s_eps(dev, &l, !links[i].is_secure_only && (!links[i].is_svr || plain_svr));
        if (cmn_res_add(&res, &l) != CMN_OK) {
            cmn_res_free(&res);
            return CMN_ENOMEM;
        }
    }
    if (res.n_links == 0) {
        cmn_res_free(&res);
        return CMN_ENOTFOUND;
    }
    cmn_err_t err = cmn_res_encode(&res, ret, len);
    cmn_res_free(&res);
    return err;
}

static cmn_err_t
s_get_cred(const sim_device_t *dev, uint8_t **ret, size_t *len)
{
    /* GET never returns secrets: privatedata.data is sent empty. */
    cmn_creds_t out = {0};
    out.present = CMN_CREDS_HAS_CREDS | CMN_CREDS_HAS_ROWNERUUID;
    out.rowneruuid = dev->creds.rowneruuid;
    cmn_err_t err = CMN_OK;
    for (size_t i = 0; err == CMN_OK && i < dev->creds.n_creds; i++) {
        cmn_cred_t c = dev->creds.creds[i];
        c.priv_data = NULL;
        c.priv_len = 0;
        err = cmn_creds_add(&out, &c);
    }
    if (err == CMN_OK) {
        err = cmn_creds_encode(&out, ret, len);
    }
    cmn_creds_free(&out);
    return err;
}

static cmn_err_t
s_get_d(const sim_device_t *dev, uint8_t **ret, size_t *len)
{
    cmn_d_t d;
    memset(&d, 0, sizeof d);
    d.di = dev->doxm.deviceuuid;
    d.piid = dev->piid;
    (void) snprintf(d.n, sizeof d.n, "ocf-devsim light %d", dev->idx);
    (void) snprintf(d.icv, sizeof d.icv, "ocf.2.2.5");
    (void) snprintf(d.dmv, sizeof d.dmv, "ocf.res.1.0.0,ocf.sh.1.0.0");
    (void) snprintf(d.rt[0], sizeof d.rt[0], "oic.wk.d");
    (void) snprintf(d.rt[1], sizeof d.rt[1], "oic.d.light");
    d.n_rt = 2;
    return cmn_d_encode(&d, ret, len);
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
    if (dev->is_silenced) {
        return 0;
    }
    if (dev->fault == SIM_FAULT_SILENT && s_fault_applies(dev, path)) {
        cmn_log_notice("SIM-FAULT", "dev=%d goes silent at %s", dev->idx, path);
        dev->is_silenced = true;
        return 0;
    }
    if (dev->reset_at_ms != 0 && dev->pstat.dos_s == CMN_DOS_RESET) {
        return 503; /* resetting */
    }
    int deny = s_access(dev, peer, method, path);
    if (deny != 0) {
        return deny;
    }
    if (dev->fault == SIM_FAULT_ERROR && method == SIM_POST && s_fault_applies(dev, path)) {
        return CODE_BAD_REQUEST;
    }
    int code = CODE_NOT_FOUND;
    cmn_err_t err = CMN_OK;
    bool is_get = method == SIM_GET;
    if (strcmp(path, "/oic/sec/doxm") == 0) {
        code = is_get ? (err = cmn_doxm_encode(&dev->doxm, ret_body, ret_len), CODE_CONTENT)
               : method == SIM_POST ? s_post_doxm(dev, peer, payload, len)
                                    : CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/pstat") == 0) {
        code = is_get ? (err = cmn_pstat_encode(&dev->pstat, ret_body, ret_len), CODE_CONTENT)
               : method == SIM_POST ? s_post_pstat(dev, peer, payload, len)
                                    : CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/cred") == 0) {
        code = is_get               ? (err = s_get_cred(dev, ret_body, ret_len), CODE_CONTENT)
               : method == SIM_POST ? s_post_cred(dev, peer, payload, len)
                                    : CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/acl2") == 0) {
        code = is_get ? (err = cmn_acl_encode(&dev->acl, ret_body, ret_len), CODE_CONTENT)
               : method == SIM_POST   ? s_post_acl(dev, payload, len)
               : method == SIM_DELETE ? s_delete_acl(dev, query)
                                      : CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/sec/sdi") == 0) {
        code = is_get ? (err = cmn_sdi_encode(&dev->sdi, ret_body, ret_len), CODE_CONTENT)
               : method == SIM_POST ? s_post_sdi(dev, payload, len)
                                    : CODE_BAD_METHOD;
    } else if (strcmp(path, "/oic/res") == 0) {
        code = is_get ? (err = sim_device_res(dev, query, ret_body, ret_len), CODE_CONTENT)
                      : CODE_BAD_METHOD;
        if (err == CMN_ENOTFOUND) {
            err = CMN_OK;
            code = CODE_NOT_FOUND;
        }
    } else if (strcmp(path, "/oic/d") == 0 || strcmp(path, "/oic/p") == 0) {
        code = is_get ? (err = s_get_d(dev, ret_body, ret_len), CODE_CONTENT) : CODE_BAD_METHOD;
    } else if (strcmp(path, "/a/light") == 0) {
        code = CODE_BAD_METHOD;
        if (is_get) {
            static const uint8_t on[] = {0xa1, 0x65, 'v', 'a', 'l', 'u', 'e', 0xf5};
            static const uint8_t off[] = {0xa1, 0x65, 'v', 'a', 'l', 'u', 'e', 0xf4};
            *ret_body = malloc(sizeof on);
            if (*ret_body) {
                memcpy(*ret_body, dev->light ? on : off, sizeof on);
                *ret_len = sizeof on;
            }
            code = CODE_CONTENT;
        } else if (method == SIM_POST) {
            code = CODE_BAD_REQUEST;
            if (len == 8 && memcmp(payload, "\xa1\x65value", 7) == 0 &&
                (payload[7] == 0xf5 || payload[7] == 0xf4)) {
                dev->light = payload[7] == 0xf5;
                code = CODE_CHANGED;
            }
        }
    }
    if (err != CMN_OK) {
        free(*ret_body);
        *ret_body = NULL;
        *ret_len = 0;
        return CODE_INTERNAL;
    }
    if (dev->fault == SIM_FAULT_BAD_CBOR && s_fault_applies(dev, path) && code < 300) {
        static const uint8_t junk[] = {0xbf, 0x64, 'o', 'w', 'n', 0xff, 0x1c, 0x5b};
        free(*ret_body);
        *ret_body = malloc(sizeof junk);
        if (*ret_body) {
            memcpy(*ret_body, junk, sizeof junk);
            *ret_len = sizeof junk;
        }
        code = is_get ? CODE_CONTENT : CODE_CHANGED;
    }
    *ret_changed = !is_get && code >= 200 && code < 300;
    return code;
}
