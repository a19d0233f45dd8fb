/* cmn_svr_csr.c — /oic/sec/csr (OCF-NOTES 3.6): the CSR and its encoding, with libcbor */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr_int.h"

cmn_err_t
cmn_csr_encode(const cmn_csr_t *csr, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    bool is_pem = strcmp(csr->encoding, CMN_ENC_PEM) == 0;
    cbor_item_t *data = NULL;
    if (is_pem) {
        data = cbor_build_stringn((const char *) csr->data, csr->len);
    } else {
        data = cbor_build_bytestring(csr->data, csr->len);
    }
    cmn_svr_put(&e, "csr", data);
    cmn_svr_put(&e, "encoding", cbor_build_string(csr->encoding));
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_csr_decode(const uint8_t *buf, size_t len, cmn_csr_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_csr_t csr;
    memset(&csr, 0, sizeof csr);
    bool has_csr = false, has_enc = false, is_text = false;
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        if (cmn_svr_key_is(k, "csr") && !has_csr) {
            err = cmn_svr_data(p[i].value, &csr.data, &csr.len, &is_text);
            has_csr = err == CMN_OK;
        } else if (cmn_svr_key_is(k, "encoding") && !has_enc) {
            err = cmn_svr_text(p[i].value, csr.encoding, sizeof csr.encoding);
            has_enc = err == CMN_OK;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK &&
        (!has_csr || !has_enc || csr.len == 0 || csr.len > CMN_CSR_MAX ||
         (strcmp(csr.encoding, CMN_ENC_PEM) != 0 && strcmp(csr.encoding, CMN_ENC_DER) != 0))) {
        err = CMN_EPROTO;
    }
    if (err != CMN_OK) {
        cmn_csr_free(&csr);
        return err;
    }
    *ret = csr;
    return CMN_OK;
}

void
cmn_csr_free(cmn_csr_t *csr)
{
    free(csr->data);
    memset(csr, 0, sizeof *csr);
}
