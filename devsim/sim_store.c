/* sim_store.c — a simulated device's folder */
#include "sim_store.h"

#include <cbor.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_log.h"

typedef cmn_err_t(s_enc_fn)(const void *, uint8_t **, size_t *);

static bool
s_add_bytes(cbor_item_t *map, const char *key, const uint8_t *buf, size_t len)
{
    cbor_item_t *k = cbor_build_string(key);
    cbor_item_t *v = cbor_build_bytestring(buf, len);
    bool ok = k && v && cbor_map_add(map, (struct cbor_pair){.key = k, .value = v});
    if (k) {
        cbor_decref(&k);
    }
    if (v) {
        cbor_decref(&v);
    }
    return ok;
}

static bool
s_add_enc(cbor_item_t *map, const char *key, s_enc_fn *fn, const void *res)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (fn(res, &buf, &len) != CMN_OK) {
        return false;
    }
    bool ok = s_add_bytes(map, key, buf, len);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return ok;
}

cmn_err_t
sim_store_save(sim_device_t *dev, bool fsync_file)
{
    cbor_item_t *map = cbor_new_indefinite_map();
    uint16_t ports[2] = {dev->udp_port, dev->dtls_port};
    int32_t bridge_idx = dev->bridge_idx;
    bool ok = map && s_add_enc(map, "doxm", (s_enc_fn *) cmn_doxm_encode, &dev->doxm) &&
              s_add_enc(map, "pstat", (s_enc_fn *) cmn_pstat_encode, &dev->pstat) &&
              s_add_enc(map, "cred", (s_enc_fn *) cmn_creds_encode, &dev->creds) &&
              s_add_enc(map, "acl2", (s_enc_fn *) cmn_acl_encode, &dev->acl) &&
              s_add_enc(map, "sdi", (s_enc_fn *) cmn_sdi_encode, &dev->sdi) &&
              s_add_bytes(map, "piid", dev->piid.b, 16) &&
              s_add_bytes(map, "ports", (const uint8_t *) ports, sizeof ports) &&
              s_add_bytes(map, "light", (const uint8_t *) (dev->light ? "1" : "0"), 1) &&
              s_add_bytes(map, "is_bridge", (const uint8_t *) (dev->is_bridge ? "1" : "0"), 1) &&
              s_add_bytes(map, "bridge_idx", (const uint8_t *) &bridge_idx, sizeof bridge_idx) &&
              s_add_bytes(map, "transfers", (const uint8_t *) &dev->n_transfers,
                          sizeof dev->n_transfers) &&
              (dev->crl.der_len == 0 ||
               s_add_enc(map, "crl", (s_enc_fn *) cmn_crl_encode, &dev->crl));
    unsigned char *buf = NULL;
    size_t cap = 0;
    size_t len = ok ? cbor_serialize_alloc(map, &buf, &cap) : 0;
    if (map) {
        cbor_decref(&map);
    }
    if (len == 0) {
        free(buf);
        return CMN_ENOMEM;
    }
    char path[600], tmp[620];
    (void) snprintf(path, sizeof path, "%s/state.cbor", dev->dir);
    (void) snprintf(tmp, sizeof tmp, "%s/.state.cbor.tmp", dev->dir);
    cmn_err_t err = CMN_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = cmn_err_from_errno(errno);
    } else {
        if (write(fd, buf, len) != (ssize_t) len || (fsync_file && fsync(fd) != 0)) {
            err = cmn_err_from_errno(errno);
        }
        (void) close(fd);
        if (err == CMN_OK && rename(tmp, path) != 0) {
            err = cmn_err_from_errno(errno);
        }
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (err == CMN_OK) {
        dev->is_dirty = false;
    }
    return err;
}

cmn_err_t
sim_store_changed(sim_device_t *dev, sim_store_mode_t mode)
{
    if (mode == SIM_STORE_BATCH) {
        dev->is_dirty = true;
        return CMN_OK;
    }
    return sim_store_save(dev, mode == SIM_STORE_FSYNC);
}

size_t
sim_store_flush(sim_device_t *devs, size_t n)
{
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!devs[i].is_dirty) {
            continue;
        }
        cmn_err_t err = sim_store_save(&devs[i], false);
        if (err != CMN_OK) {
            cmn_log_err("SIM-STORE", "dev=%d cannot save state: %s", devs[i].idx,
                        cmn_strerror(err));
            failed++;
        }
    }
    return failed;
}

static const cbor_item_t *
s_get(const cbor_item_t *map, const char *key)
{
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        if (cbor_isa_string(p[i].key) && cbor_string_is_definite(p[i].key) &&
            cbor_string_length(p[i].key) == strlen(key) &&
            memcmp(cbor_string_handle(p[i].key), key, strlen(key)) == 0 &&
            cbor_isa_bytestring(p[i].value) && cbor_bytestring_is_definite(p[i].value)) {
            return p[i].value;
        }
    }
    return NULL;
}

cmn_err_t
sim_store_load(sim_device_t *dev)
{
    char path[600];
    (void) snprintf(path, sizeof path, "%s/state.cbor", dev->dir);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        return errno == ENOENT ? CMN_ENOTFOUND : cmn_err_from_errno(errno);
    }
    uint8_t *buf = malloc(1 << 20);
    size_t len = buf ? fread(buf, 1, 1 << 20, fp) : 0;
    (void) fclose(fp);
    if (buf == NULL) {
        return CMN_ENOMEM;
    }
    struct cbor_load_result res;
    cbor_item_t *map = cbor_load(buf, len, &res);
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (map == NULL) {
        return CMN_EPROTO;
    }
    cmn_err_t err = CMN_EPROTO;
    const cbor_item_t *doxm, *pstat, *cred, *acl, *sdi, *piid, *ports, *light;
    if (!cbor_isa_map(map) || !(doxm = s_get(map, "doxm")) || !(pstat = s_get(map, "pstat")) ||
        !(cred = s_get(map, "cred")) || !(acl = s_get(map, "acl2")) || !(sdi = s_get(map, "sdi")) ||
        !(piid = s_get(map, "piid")) || !(ports = s_get(map, "ports")) ||
        !(light = s_get(map, "light")) || cbor_bytestring_length(piid) != 16 ||
        cbor_bytestring_length(ports) != 4) {
        goto out;
    }
    sim_device_free(dev);
    if (cmn_doxm_decode(cbor_bytestring_handle(doxm), cbor_bytestring_length(doxm), &dev->doxm) !=
                CMN_OK ||
        cmn_pstat_decode(cbor_bytestring_handle(pstat), cbor_bytestring_length(pstat),
                         &dev->pstat) != CMN_OK ||
        cmn_creds_decode(cbor_bytestring_handle(cred), cbor_bytestring_length(cred), &dev->creds) !=
                CMN_OK ||
        cmn_acl_decode(cbor_bytestring_handle(acl), cbor_bytestring_length(acl), &dev->acl) !=
                CMN_OK ||
        cmn_sdi_decode(cbor_bytestring_handle(sdi), cbor_bytestring_length(sdi), &dev->sdi) !=
                CMN_OK) {
        goto out;
    }
    /* Everything is always encoded, whether it was set or not. */
    dev->doxm.present = 0x7f;
    dev->pstat.present = 0xff & ~CMN_PSTAT_HAS_DOS_P;
    dev->pstat.present |= CMN_PSTAT_HAS_DOS_P;
    dev->creds.present = CMN_CREDS_HAS_CREDS | CMN_CREDS_HAS_ROWNERUUID;
    dev->acl.present = CMN_ACL_HAS_ACLIST2 | CMN_ACL_HAS_ROWNERUUID;
    dev->sdi.present = CMN_SDI_HAS_UUID | CMN_SDI_HAS_NAME | CMN_SDI_HAS_PRIV;
    memcpy(dev->piid.b, cbor_bytestring_handle(piid), 16);
    uint16_t p[2];
    memcpy(p, cbor_bytestring_handle(ports), sizeof p);
    dev->udp_port = p[0];
    dev->dtls_port = p[1];
    dev->light = cbor_bytestring_length(light) == 1 && cbor_bytestring_handle(light)[0] == '1';
    /* The Bridge/VOD relation (absent in folders of older releases: the flags decide). */
    const cbor_item_t *is_bridge = s_get(map, "is_bridge");
    const cbor_item_t *bridge_idx = s_get(map, "bridge_idx");
    if (is_bridge && bridge_idx && cbor_bytestring_length(is_bridge) == 1 &&
        cbor_bytestring_length(bridge_idx) == sizeof(int32_t)) {
        int32_t b;
        memcpy(&b, cbor_bytestring_handle(bridge_idx), sizeof b);
        dev->is_bridge = cbor_bytestring_handle(is_bridge)[0] == '1';
        dev->bridge_idx = b >= 0 ? b : -1;
    }
    /* the ownership transfers so far (absent in folders of older releases: 0) */
    const cbor_item_t *transfers = s_get(map, "transfers");
    dev->n_transfers = 0;
    if (transfers && cbor_bytestring_length(transfers) == sizeof dev->n_transfers) {
        memcpy(&dev->n_transfers, cbor_bytestring_handle(transfers), sizeof dev->n_transfers);
    }
    /* the CRL (absent before the first push, and in folders of older releases) */
    const cbor_item_t *crl = s_get(map, "crl");
    if (crl && cmn_crl_decode(cbor_bytestring_handle(crl), cbor_bytestring_length(crl),
                              &dev->crl) != CMN_OK) {
        goto out;
    }
    err = CMN_OK;
out:
    cbor_decref(&map);
    return err;
}
