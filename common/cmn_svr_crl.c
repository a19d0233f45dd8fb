/* cmn_svr_crl.c — /oic/sec/crl (OCF-NOTES 3.8): crlid, thisupdate and the CRL as
 * Base64 of its DER, with libcbor */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr_int.h"

cmn_err_t
cmn_crl_encode(const cmn_crl_t *crl, uint8_t **ret_buf, size_t *ret_len)
{
    if (crl->der_len == 0 || crl->der_len > CMN_CRL_MAX) {
        return CMN_EINVAL;
    }
    size_t cap = 4 * ((crl->der_len + 2) / 3) + 1;
    char *b64 = malloc(cap);
    if (b64 == NULL) {
        return CMN_ENOMEM;
    }
    (void) EVP_EncodeBlock((unsigned char *) b64, crl->der, (int) crl->der_len);
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    cmn_svr_put(&e, "crlid", cmn_svr_build_int(crl->crlid));
    cmn_svr_put(&e, "thisupdate", cbor_build_string(crl->thisupdate));
    cmn_svr_put(&e, "crldata", cbor_build_string(b64));
    free(b64);
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

/* Base64 text (no line breaks) into a malloc'd DER buffer; CMN_EPROTO if it is not
 * Base64 or decodes to nothing or more than CMN_CRL_MAX bytes. */
static cmn_err_t
s_unbase64(const char *text, size_t len, uint8_t **ret, size_t *ret_len)
{
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > CMN_CRL_MAX + 2) {
        return CMN_EPROTO;
    }
    uint8_t *out = malloc(len / 4 * 3);
    if (out == NULL) {
        return CMN_ENOMEM;
    }
    int n = EVP_DecodeBlock(out, (const unsigned char *) text, (int) len);
    if (n <= 0) {
        free(out);
        return CMN_EPROTO;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    size_t got = (size_t) n - (text[len - 1] == '=') - (text[len - 2] == '=');
    if (got == 0 || got > CMN_CRL_MAX) {
        free(out);
        return CMN_EPROTO;
    }
    *ret = out;
    *ret_len = got;
    return CMN_OK;
}

cmn_err_t
cmn_crl_decode(const uint8_t *buf, size_t len, cmn_crl_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_crl_t crl;
    memset(&crl, 0, sizeof crl);
    bool has_id = false, has_time = false;
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        if (cmn_svr_key_is(k, "crlid") && !has_id) {
            err = cmn_svr_int_range(p[i].value, 0, INT64_MAX, &crl.crlid);
            has_id = err == CMN_OK;
        } else if (cmn_svr_key_is(k, "thisupdate") && !has_time) {
            err = cmn_svr_text(p[i].value, crl.thisupdate, sizeof crl.thisupdate);
            has_time = err == CMN_OK;
        } else if (cmn_svr_key_is(k, "crldata") && crl.der == NULL) {
            size_t cap = 4 * ((CMN_CRL_MAX + 2) / 3) + 1;
            char *text = malloc(cap);
            err = text ? cmn_svr_text(p[i].value, text, cap) : CMN_ENOMEM;
            if (err == CMN_OK) {
                err = s_unbase64(text, strlen(text), &crl.der, &crl.der_len);
            }
            free(text);
        } else if (!cmn_svr_is_baseline(k)) {
            err = CMN_EPROTO;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK && (!has_id || !has_time || crl.der == NULL)) {
        err = CMN_EPROTO;
    }
    if (err != CMN_OK) {
        cmn_crl_free(&crl);
        return err;
    }
    *ret = crl;
    return CMN_OK;
}

void
cmn_crl_free(cmn_crl_t *crl)
{
    free(crl->der);
    memset(crl, 0, sizeof *crl);
}
