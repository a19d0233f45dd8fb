/* cmn_svr.c — CBOR encoding and decoding of doxm, pstat and sdi (the other SVRs,
 * /oic/res and /oic/d: cmn_svr_cred.c, cmn_svr_acl.c, cmn_svr_res.c) */
#include "cmn_svr.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr_int.h"

/* ---------------------------------------------------------------- doxm */

cmn_err_t
cmn_doxm_encode(const cmn_doxm_t *d, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    if (d->present & CMN_DOXM_HAS_OXMS) {
        cbor_item_t *a = cbor_new_indefinite_array();
        for (size_t i = 0; a && i < d->n_oxms && i < CMN_DOXM_MAX_OXMS; i++) {
            if (!cmn_svr_push(a, cmn_svr_build_int(d->oxms[i]))) {
                cbor_decref(&a);
            }
        }
        cmn_svr_put(&e, "oxms", a);
    }
    if (d->present & CMN_DOXM_HAS_OXMSEL) {
        cmn_svr_put(&e, "oxmsel", cmn_svr_build_int(d->oxmsel));
    }
    if (d->present & CMN_DOXM_HAS_SCT) {
        cmn_svr_put(&e, "sct", cbor_build_uint64(d->sct));
    }
    if (d->present & CMN_DOXM_HAS_OWNED) {
        cmn_svr_put(&e, "owned", cbor_build_bool(d->owned));
    }
    if (d->present & CMN_DOXM_HAS_DEVICEUUID) {
        cmn_svr_put(&e, "deviceuuid", cmn_svr_build_uuid(&d->deviceuuid));
    }
    if (d->present & CMN_DOXM_HAS_DEVOWNERUUID) {
        cmn_svr_put(&e, "devowneruuid", cmn_svr_build_uuid(&d->devowneruuid));
    }
    if (d->present & CMN_DOXM_HAS_ROWNERUUID) {
        cmn_svr_put(&e, "rowneruuid", cmn_svr_build_uuid(&d->rowneruuid));
    }
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_doxm_decode(const uint8_t *buf, size_t len, cmn_doxm_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_doxm_t d;
    memset(&d, 0, sizeof d);
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (cmn_svr_key_is(k, "oxms")) {
            cbor_item_t *const *oxms = NULL;
            size_t n_oxms = 0;
            err = cmn_svr_array(v, CMN_DOXM_MAX_OXMS, &oxms, &n_oxms);
            for (size_t j = 0; err == CMN_OK && j < n_oxms; j++) {
                err = cmn_svr_int_range(oxms[j], 0, 0xFFFF, &d.oxms[j]);
            }
            d.n_oxms = n_oxms;
            d.present |= CMN_DOXM_HAS_OXMS;
        } else if (cmn_svr_key_is(k, "oxmsel")) {
            err = cmn_svr_int_range(v, 0, 0xFFFF, &d.oxmsel);
            d.present |= CMN_DOXM_HAS_OXMSEL;
        } else if (cmn_svr_key_is(k, "sct")) {
            int64_t sct = 0;
            err = cmn_svr_int_range(v, 0, 511, &sct);
            d.sct = (uint32_t) sct;
            d.present |= CMN_DOXM_HAS_SCT;
        } else if (cmn_svr_key_is(k, "owned")) {
            err = cmn_svr_bool(v, &d.owned);
            d.present |= CMN_DOXM_HAS_OWNED;
        } else if (cmn_svr_key_is(k, "deviceuuid")) {
            err = cmn_svr_uuid(v, &d.deviceuuid);
            d.present |= CMN_DOXM_HAS_DEVICEUUID;
        } else if (cmn_svr_key_is(k, "devowneruuid")) {
            err = cmn_svr_uuid(v, &d.devowneruuid);
            d.present |= CMN_DOXM_HAS_DEVOWNERUUID;
        } else if (cmn_svr_key_is(k, "rowneruuid")) {
            err = cmn_svr_uuid(v, &d.rowneruuid);
            d.present |= CMN_DOXM_HAS_ROWNERUUID;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!cmn_svr_is_baseline(k)) {
            d.n_unknown++;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = d;
    }
    return err;
}

/* ---------------------------------------------------------------- pstat */

const char *
cmn_dos_name(int64_t s)
{
    static const char *const names[CMN_DOS_COUNT] = {"RESET", "RFOTM", "RFPRO", "RFNOP", "SRESET"};
    return s >= 0 && s < CMN_DOS_COUNT ? names[s] : "?";
}

cmn_err_t
cmn_pstat_encode(const cmn_pstat_t *ps, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    if (ps->present & CMN_PSTAT_HAS_DOS) {
        cmn_svr_enc_t dos = {cmn_svr_new_map(), false};
        cmn_svr_put(&dos, "s", cmn_svr_build_int(ps->dos_s));
        if (ps->present & CMN_PSTAT_HAS_DOS_P) {
            cmn_svr_put(&dos, "p", cbor_build_bool(ps->dos_p));
        }
        if (dos.failed && dos.map) {
            cbor_decref(&dos.map);
        }
        cmn_svr_put(&e, "dos", dos.map);
    }
    if (ps->present & CMN_PSTAT_HAS_ISOP) {
        cmn_svr_put(&e, "isop", cbor_build_bool(ps->isop));
    }
    if (ps->present & CMN_PSTAT_HAS_CM) {
        cmn_svr_put(&e, "cm", cmn_svr_build_int(ps->cm));
    }
    if (ps->present & CMN_PSTAT_HAS_TM) {
        cmn_svr_put(&e, "tm", cmn_svr_build_int(ps->tm));
    }
    if (ps->present & CMN_PSTAT_HAS_OM) {
        cmn_svr_put(&e, "om", cmn_svr_build_int(ps->om));
    }
    if (ps->present & CMN_PSTAT_HAS_SM) {
        cmn_svr_put(&e, "sm", cmn_svr_build_int(ps->sm));
    }
    if (ps->present & CMN_PSTAT_HAS_ROWNERUUID) {
        cmn_svr_put(&e, "rowneruuid", cmn_svr_build_uuid(&ps->rowneruuid));
    }
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_pstat_decode(const uint8_t *buf, size_t len, cmn_pstat_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_pstat_t ps;
    memset(&ps, 0, sizeof ps);
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (cmn_svr_key_is(k, "dos")) {
            const struct cbor_pair *dp = NULL;
            size_t n_dos = 0;
            err = cmn_svr_map(v, &dp, &n_dos);
            for (size_t j = 0; err == CMN_OK && j < n_dos; j++) {
                if (cmn_svr_key_is(dp[j].key, "s")) {
                    err = cmn_svr_int_range(dp[j].value, 0, CMN_DOS_COUNT - 1, &ps.dos_s);
                    ps.present |= CMN_PSTAT_HAS_DOS;
                } else if (cmn_svr_key_is(dp[j].key, "p")) {
                    err = cmn_svr_bool(dp[j].value, &ps.dos_p);
                    ps.present |= CMN_PSTAT_HAS_DOS_P;
                } else {
                    ps.n_unknown++;
                }
            }
        } else if (cmn_svr_key_is(k, "isop")) {
            err = cmn_svr_bool(v, &ps.isop);
            ps.present |= CMN_PSTAT_HAS_ISOP;
        } else if (cmn_svr_key_is(k, "cm")) {
            err = cmn_svr_int_range(v, 0, 511, &ps.cm);
            ps.present |= CMN_PSTAT_HAS_CM;
        } else if (cmn_svr_key_is(k, "tm")) {
            err = cmn_svr_int_range(v, 0, 511, &ps.tm);
            ps.present |= CMN_PSTAT_HAS_TM;
        } else if (cmn_svr_key_is(k, "om")) {
            err = cmn_svr_int_range(v, 0, 7, &ps.om);
            ps.present |= CMN_PSTAT_HAS_OM;
        } else if (cmn_svr_key_is(k, "sm")) {
            err = cmn_svr_int_range(v, 0, 7, &ps.sm);
            ps.present |= CMN_PSTAT_HAS_SM;
        } else if (cmn_svr_key_is(k, "rowneruuid")) {
            err = cmn_svr_uuid(v, &ps.rowneruuid);
            ps.present |= CMN_PSTAT_HAS_ROWNERUUID;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!cmn_svr_is_baseline(k)) {
            ps.n_unknown++;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = ps;
    }
    return err;
}

/* ---------------------------------------------------------------- sdi */

cmn_err_t
cmn_sdi_encode(const cmn_sdi_t *sdi, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    if (sdi->present & CMN_SDI_HAS_UUID) {
        cmn_svr_put(&e, "uuid", cmn_svr_build_uuid(&sdi->uuid));
    }
    if (sdi->present & CMN_SDI_HAS_NAME) {
        cmn_svr_put(&e, "name", cbor_build_string(sdi->name));
    }
    if (sdi->present & CMN_SDI_HAS_PRIV) {
        cmn_svr_put(&e, "priv", cbor_build_bool(sdi->priv));
    }
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_sdi_decode(const uint8_t *buf, size_t len, cmn_sdi_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_sdi_t sdi;
    memset(&sdi, 0, sizeof sdi);
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        if (cmn_svr_key_is(k, "uuid")) {
            err = cmn_svr_uuid(p[i].value, &sdi.uuid);
            sdi.present |= CMN_SDI_HAS_UUID;
        } else if (cmn_svr_key_is(k, "name")) {
            err = cmn_svr_text(p[i].value, sdi.name, sizeof sdi.name);
            sdi.present |= CMN_SDI_HAS_NAME;
        } else if (cmn_svr_key_is(k, "priv")) {
            err = cmn_svr_bool(p[i].value, &sdi.priv);
            sdi.present |= CMN_SDI_HAS_PRIV;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!cmn_svr_is_baseline(k)) {
            sdi.n_unknown++;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = sdi;
    }
    return err;
}
