/* sim_svr_cred.c — /oic/sec/cred: credentials and the device side of the owner PSK (OCF-NOTES 6.3)
 */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_ff00.h"
#include "cmn_log.h"
#include "cmn_psk.h"
#include "sim_csr.h"
#include "sim_svr.h"

/* The owner PSK from the DOC (OCF-NOTES 6.3): OpenSSL's session, or the 0xFF00
 * engine's (KBL 96). */
static cmn_err_t
s_derive(const sim_peer_t *peer,
         const char *label,
         const uint8_t owner[16],
         const uint8_t device[16],
         uint8_t out[CMN_PSK_LEN],
         size_t *ret_kbl)
{
    if (peer->ssl) {
        return cmn_psk_derive_from_ssl(peer->ssl, label, owner, device, out, ret_kbl);
    }
    uint8_t master[CMN_FF00_MASTER_LEN], cr[CMN_FF00_RANDOM_LEN], sr[CMN_FF00_RANDOM_LEN];
    cmn_err_t err = cmn_ff00_export(peer->ff00, master, cr, sr);
    if (err == CMN_OK) {
        err = cmn_psk_derive_owner(master, cr, sr, CMN_FF00_KBL, label, owner, device, out);
        *ret_kbl = CMN_FF00_KBL;
    }
    OPENSSL_cleanse(master, sizeof master);
    return err;
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

/* An OSCORE id: lowercase hex of 1..7 bytes. */
static bool
s_oscore_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n % 2 != 0 || n > 14) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* An OSCORE entry (OCF-NOTES 9, seed 6.3/6.4), always with a 32-byte master secret and
 * without the read-only ssn: credtype 64 (pairwise) has senderid and recipientid and no
 * desc; 128 (SSM client) a senderid and no recipientid; 256 (SSM server) a recipientid,
 * no senderid and a uuid subject. 128 and 256 only on a device whose sct has them. */
static bool
s_oscore_ok(const sim_device_t *dev, const cmn_cred_t *c)
{
    if (!(c->present & CMN_CRED_HAS_OSCORE) || (c->present & CMN_CRED_HAS_OSCORE_SSN) ||
        c->priv_len != 32) {
        return false;
    }
    switch (c->credtype) {
    case CMN_CREDTYPE_OSCORE:
        return s_oscore_id_ok(c->senderid) && s_oscore_id_ok(c->recipientid) &&
               !c->subject_is_wildcard && !(c->present & CMN_CRED_HAS_OSCORE_DESC);
    case CMN_CREDTYPE_SSM_CLIENT:
        return (dev->doxm.sct & CMN_CREDTYPE_SSM_CLIENT) && s_oscore_id_ok(c->senderid) &&
               c->recipientid[0] == '\0';
    case CMN_CREDTYPE_SSM_SERVER:
        return (dev->doxm.sct & CMN_CREDTYPE_SSM_SERVER) && s_oscore_id_ok(c->recipientid) &&
               c->senderid[0] == '\0' && !c->subject_is_wildcard;
    default:
        return false;
    }
}

static bool
s_is_oscore_type(int64_t credtype)
{
    return credtype == CMN_CREDTYPE_OSCORE || credtype == CMN_CREDTYPE_SSM_CLIENT ||
           credtype == CMN_CREDTYPE_SSM_SERVER;
}

int
sim_svr_post_cred(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len)
{
    cmn_creds_t in;
    int64_t s = dev->pstat.dos_s;
    if (cmn_creds_decode(p, len, &in) != CMN_OK) {
        return SIM_CODE_BAD_REQUEST;
    }
    int code = SIM_CODE_CHANGED;
    if (in.n_unknown > 0 ||
        ((in.present & CMN_CREDS_HAS_ROWNERUUID) && s != CMN_DOS_RFOTM && s != CMN_DOS_SRESET) ||
        ((in.present & CMN_CREDS_HAS_CREDS) && s == CMN_DOS_RFNOP)) {
        code = SIM_CODE_BAD_REQUEST;
        goto out;
    }
    /* Validate and derive first, so that a bad entry changes nothing. */
    for (size_t i = 0; i < in.n_creds; i++) {
        cmn_cred_t *c = &in.creds[i];
        if (!(c->present & CMN_CRED_HAS_CREDTYPE) || !(c->present & CMN_CRED_HAS_SUBJECT)) {
            code = SIM_CODE_BAD_REQUEST;
            goto out;
        }
        if (c->credtype == CMN_CREDTYPE_CERT && !sim_cert_check_posted(dev, &in, c)) {
            code = SIM_CODE_BAD_REQUEST; /* a certificate it could not use */
            goto out;
        }
        if (s_is_oscore_type(c->credtype) && !s_oscore_ok(dev, c)) {
            cmn_log_notice("SIM-OSCORE-REFUSED", "dev=%d credtype %lld: malformed OSCORE entry",
                           dev->idx, (long long) c->credtype);
            code = SIM_CODE_BAD_REQUEST; /* OCF-NOTES 9: ids and a 32-byte secret */
            goto out;
        }
        if (c->credtype != CMN_CREDTYPE_PSK) {
            continue;
        }
        if (c->priv_len == 0 && s == CMN_DOS_RFOTM && peer->is_doc && (peer->ssl || peer->ff00) &&
            s_cred_is_owner(dev, &in, c)) {
            const char *label = cmn_psk_otm_label(dev->doxm.oxmsel);
            uint8_t psk[CMN_PSK_LEN];
            size_t kbl = 0;
            if (label == NULL || s_derive(peer, label, c->subjectuuid.b, dev->doxm.deviceuuid.b,
                                          psk, &kbl) != CMN_OK) {
                code = SIM_CODE_INTERNAL;
                goto out;
            }
            free(c->priv_data);
            c->priv_data = malloc(CMN_PSK_LEN);
            if (c->priv_data == NULL) {
                OPENSSL_cleanse(psk, sizeof psk);
                code = SIM_CODE_INTERNAL;
                goto out;
            }
            memcpy(c->priv_data, psk, CMN_PSK_LEN);
            OPENSSL_cleanse(psk, sizeof psk);
            c->priv_len = CMN_PSK_LEN;
            c->priv_is_text = false;
            (void) snprintf(c->priv_encoding, sizeof c->priv_encoding, "%s", CMN_ENC_RAW);
            cmn_log_info("SIM-OWNER-PSK", "dev=%d derived the owner PSK (kbl=%zu)", dev->idx, kbl);
        } else if (c->priv_len != CMN_PSK_LEN) {
            code = SIM_CODE_BAD_REQUEST;
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
            code = SIM_CODE_INTERNAL;
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

/* The owner credential: the PSK whose subject is the device's owner (doxm
 * devowneruuid). */
static bool
s_is_owner_cred(const sim_device_t *dev, const cmn_cred_t *c)
{
    return c->credtype == CMN_CREDTYPE_PSK && !c->subject_is_wildcard &&
           !cmn_uuid_is_nil(&dev->doxm.devowneruuid) &&
           cmn_uuid_eq(&c->subjectuuid, &dev->doxm.devowneruuid);
}

int
sim_svr_delete_cred(sim_device_t *dev, const char *query)
{
    if (dev->pstat.dos_s == CMN_DOS_RFNOP) {
        return SIM_CODE_FORBIDDEN; /* OCF-NOTES 3.4: no cred change in RFNOP */
    }
    char v[24];
    if (query == NULL || !sim_svr_query_value(query, "credid", v, sizeof v)) {
        if (query != NULL && query[0] != '\0') {
            return SIM_CODE_BAD_REQUEST; /* a filter we do not implement ([IL]: credid only) */
        }
        /* No query: every credential but the owner's (the session asking runs on it). */
        for (size_t j = dev->creds.n_creds; j-- > 0;) {
            if (!s_is_owner_cred(dev, &dev->creds.creds[j])) {
                cmn_creds_remove(&dev->creds, j);
            }
        }
        return SIM_CODE_DELETED;
    }
    char *end = NULL;
    long long id = strtoll(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || end == NULL || *end != '\0' || id <= 0 || id > INT32_MAX) {
        return SIM_CODE_BAD_REQUEST;
    }
    for (size_t j = 0; j < dev->creds.n_creds; j++) {
        if (dev->creds.creds[j].credid == id) {
            cmn_creds_remove(&dev->creds, j);
            return SIM_CODE_DELETED;
        }
    }
    return SIM_CODE_NOT_FOUND;
}

cmn_err_t
sim_svr_get_cred(const sim_device_t *dev, uint8_t **ret, size_t *len)
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
