/* sim_svr_cred.c — /oic/sec/cred: credentials and the device side of the owner PSK (OCF-NOTES 6.3)
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_psk.h"
#include "sim_csr.h"
#include "sim_svr.h"

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
        if (c->credtype != CMN_CREDTYPE_PSK) {
            continue;
        }
        if (c->priv_len == 0 && s == CMN_DOS_RFOTM && peer->is_doc && peer->ssl &&
            s_cred_is_owner(dev, &in, c)) {
            const char *label = cmn_psk_otm_label(dev->doxm.oxmsel);
            uint8_t psk[CMN_PSK_LEN];
            size_t kbl = 0;
            if (label == NULL ||
                cmn_psk_derive_from_ssl(peer->ssl, label, c->subjectuuid.b, dev->doxm.deviceuuid.b,
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
