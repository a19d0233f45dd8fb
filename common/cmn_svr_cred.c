/* cmn_svr_cred.c — CBOR encoding and decoding of /oic/sec/cred */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr_int.h"

#define S_MAX_CREDS 64 /* more credentials than this: the payload is refused */

/* ---------------------------------------------------------------- cred */

static void
s_cred_clear(cmn_cred_t *c)
{
    if (c->priv_data) {
        OPENSSL_cleanse(c->priv_data, c->priv_len);
        free(c->priv_data);
    }
    free(c->pub_data);
    memset(c, 0, sizeof *c);
}

cmn_err_t
cmn_creds_add(cmn_creds_t *creds, const cmn_cred_t *cred)
{
    cmn_cred_t copy = *cred;
    copy.pub_data = NULL;
    copy.priv_data = NULL;
    if (cred->pub_data) {
        copy.pub_data = malloc(cred->pub_len + 1);
        if (copy.pub_data == NULL) {
            return CMN_ENOMEM;
        }
        memcpy(copy.pub_data, cred->pub_data, cred->pub_len);
        copy.pub_data[cred->pub_len] = 0;
    }
    if (cred->priv_data) {
        copy.priv_data = malloc(cred->priv_len + 1);
        if (copy.priv_data == NULL) {
            s_cred_clear(&copy);
            return CMN_ENOMEM;
        }
        memcpy(copy.priv_data, cred->priv_data, cred->priv_len);
        copy.priv_data[cred->priv_len] = 0;
    }
    cmn_cred_t *arr = realloc(creds->creds, (creds->n_creds + 1) * sizeof *arr);
    if (arr == NULL) {
        s_cred_clear(&copy);
        return CMN_ENOMEM;
    }
    arr[creds->n_creds++] = copy;
    creds->creds = arr;
    return CMN_OK;
}

void
cmn_creds_remove(cmn_creds_t *creds, size_t idx)
{
    if (idx >= creds->n_creds) {
        return;
    }
    s_cred_clear(&creds->creds[idx]);
    creds->creds[idx] = creds->creds[creds->n_creds - 1];
    creds->n_creds--;
}

void
cmn_creds_free(cmn_creds_t *creds)
{
    for (size_t i = 0; i < creds->n_creds; i++) {
        s_cred_clear(&creds->creds[i]);
    }
    free(creds->creds);
    memset(creds, 0, sizeof *creds);
}

/* True if data can go out as a CBOR text string and read back: a PEM is printable
 * ASCII and line breaks. Anything else labelled PEM (a DER, a NUL, bytes that are not
 * UTF-8, which libcbor refuses to load in a text string) goes out as a byte string,
 * which the decoder takes for publicdata just the same. */
static bool
s_is_pem_text(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((data[i] < 0x20 || data[i] > 0x7e) && data[i] != '\n' && data[i] != '\r' &&
            data[i] != '\t') {
            return false;
        }
    }
    return true;
}

static cbor_item_t *
s_data_map(const uint8_t *data, size_t len, bool as_text, const char *encoding)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    if (as_text) {
        char *tmp = malloc(len + 1);
        if (tmp == NULL) {
            e.failed = true;
        } else {
            memcpy(tmp, data ? data : (const uint8_t *) "", len);
            tmp[len] = 0;
            cmn_svr_put(&e, "data", cbor_build_stringn(tmp, len));
            free(tmp);
        }
    } else {
        cmn_svr_put(&e, "data", cbor_build_bytestring(data ? data : (const uint8_t *) "", len));
    }
    cmn_svr_put(&e, "encoding", cbor_build_string(encoding[0] ? encoding : CMN_ENC_RAW));
    if (e.failed && e.map) {
        cbor_decref(&e.map);
    }
    return e.map;
}

/* The cred entries under key ("creds" or "roles"), and rowneruuid when is_cred. */
static cmn_err_t
s_encode(
        const cmn_creds_t *creds, const char *key, bool is_cred, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    if (creds->present & CMN_CREDS_HAS_CREDS) {
        cbor_item_t *a = cbor_new_indefinite_array();
        for (size_t i = 0; a && i < creds->n_creds; i++) {
            const cmn_cred_t *c = &creds->creds[i];
            cmn_svr_enc_t ce = {cmn_svr_new_map(), false};
            if (c->present & CMN_CRED_HAS_CREDID) {
                cmn_svr_put(&ce, "credid", cmn_svr_build_int(c->credid));
            }
            if (c->present & CMN_CRED_HAS_CREDTYPE) {
                cmn_svr_put(&ce, "credtype", cmn_svr_build_int(c->credtype));
            }
            if (c->present & CMN_CRED_HAS_SUBJECT) {
                cmn_svr_put(&ce, "subjectuuid",
                            c->subject_is_wildcard ? cbor_build_string("*")
                                                   : cmn_svr_build_uuid(&c->subjectuuid));
            }
            if (c->present & CMN_CRED_HAS_CREDUSAGE) {
                cmn_svr_put(&ce, "credusage", cbor_build_string(c->credusage));
            }
            if (c->present & CMN_CRED_HAS_PUBLICDATA) {
                cmn_svr_put(&ce, "publicdata",
                            s_data_map(c->pub_data, c->pub_len,
                                       strcmp(c->pub_encoding, CMN_ENC_PEM) == 0 &&
                                               s_is_pem_text(c->pub_data, c->pub_len),
                                       c->pub_encoding));
            }
            if (c->present & CMN_CRED_HAS_PRIVATEDATA) {
                cmn_svr_put(&ce, "privatedata",
                            s_data_map(c->priv_data, c->priv_len, false, c->priv_encoding));
            }
            if (c->present & CMN_CRED_HAS_OSCORE) {
                cmn_svr_enc_t oe = {cmn_svr_new_map(), false};
                if (c->senderid[0]) {
                    cmn_svr_put(&oe, "senderid", cbor_build_string(c->senderid));
                }
                if (c->recipientid[0]) {
                    cmn_svr_put(&oe, "recipientid", cbor_build_string(c->recipientid));
                }
                if (c->present & CMN_CRED_HAS_OSCORE_DESC) {
                    cmn_svr_put(&oe, "desc", cbor_build_string(c->desc));
                }
                if (oe.failed && oe.map) {
                    cbor_decref(&oe.map);
                }
                cmn_svr_put(&ce, "oscore", oe.failed ? NULL : oe.map);
            }
            if (ce.failed) {
                e.failed = true;
                if (ce.map) {
                    cbor_decref(&ce.map);
                }
                break;
            }
            if (!cmn_svr_push(a, ce.map)) {
                e.failed = true;
                break;
            }
        }
        cmn_svr_put(&e, key, a);
    }
    if (is_cred && (creds->present & CMN_CREDS_HAS_ROWNERUUID)) {
        cmn_svr_put(&e, "rowneruuid", cmn_svr_build_uuid(&creds->rowneruuid));
    }
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_creds_encode(const cmn_creds_t *creds, uint8_t **ret_buf, size_t *ret_len)
{
    return s_encode(creds, "creds", true, ret_buf, ret_len);
}

cmn_err_t
cmn_roles_encode(const cmn_creds_t *roles, uint8_t **ret_buf, size_t *ret_len)
{
    return s_encode(roles, "roles", false, ret_buf, ret_len);
}

static cmn_err_t
s_decode_data(const cbor_item_t *v, uint8_t **data, size_t *len, bool *is_text, char *enc)
{
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_svr_map(v, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        if (cmn_svr_key_is(p[i].key, "data")) {
            if (*data) {
                err = CMN_EPROTO;
                break;
            }
            err = cmn_svr_data(p[i].value, data, len, is_text);
        } else if (cmn_svr_key_is(p[i].key, "encoding")) {
            err = cmn_svr_text(p[i].value, enc, 40);
        } else if (cmn_svr_key_is(p[i].key, "handle") || cmn_svr_key_is(p[i].key, "revstat")) {
            continue;
        } else {
            err = CMN_EPROTO;
        }
    }
    return err;
}

/* The oscore map: senderid, recipientid (hex text), desc (text; a longer one is
 * CMN_EPROTO); ssn (read-only) is only noted. */
static cmn_err_t
s_decode_oscore(const cbor_item_t *v, cmn_cred_t *c)
{
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_svr_map(v, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        if (cmn_svr_key_is(p[i].key, "senderid")) {
            err = cmn_svr_text(p[i].value, c->senderid, sizeof c->senderid);
        } else if (cmn_svr_key_is(p[i].key, "recipientid")) {
            err = cmn_svr_text(p[i].value, c->recipientid, sizeof c->recipientid);
        } else if (cmn_svr_key_is(p[i].key, "desc")) {
            err = cmn_svr_text(p[i].value, c->desc, sizeof c->desc);
            c->present |= CMN_CRED_HAS_OSCORE_DESC;
        } else if (cmn_svr_key_is(p[i].key, "ssn")) {
            c->present |= CMN_CRED_HAS_OSCORE_SSN;
        } else if (!cbor_isa_string(p[i].key)) {
            err = CMN_EPROTO;
        }
    }
    return err;
}

static cmn_err_t
s_decode_cred(const cbor_item_t *item, cmn_cred_t *c)
{
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_svr_map(item, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (cmn_svr_key_is(k, "credid")) {
            err = cmn_svr_int_range(v, 0, INT32_MAX, &c->credid);
            c->present |= CMN_CRED_HAS_CREDID;
        } else if (cmn_svr_key_is(k, "credtype")) {
            err = cmn_svr_int_range(v, 0, 511, &c->credtype);
            c->present |= CMN_CRED_HAS_CREDTYPE;
        } else if (cmn_svr_key_is(k, "subjectuuid")) {
            char buf[CMN_UUID_STR_LEN + 1];
            err = cmn_svr_uuid_text(v, buf, sizeof buf);
            if (err == CMN_OK && strcmp(buf, "*") == 0) {
                c->subject_is_wildcard = true;
            } else if (err == CMN_OK) {
                err = cmn_uuid_from_str(buf, &c->subjectuuid) == CMN_OK ? CMN_OK : CMN_EPROTO;
            }
            c->present |= CMN_CRED_HAS_SUBJECT;
        } else if (cmn_svr_key_is(k, "credusage")) {
            err = cmn_svr_text(v, c->credusage, sizeof c->credusage);
            c->present |= CMN_CRED_HAS_CREDUSAGE;
        } else if (cmn_svr_key_is(k, "publicdata")) {
            err = s_decode_data(v, &c->pub_data, &c->pub_len, NULL, c->pub_encoding);
            c->present |= CMN_CRED_HAS_PUBLICDATA;
        } else if (cmn_svr_key_is(k, "privatedata")) {
            err = s_decode_data(v, &c->priv_data, &c->priv_len, &c->priv_is_text, c->priv_encoding);
            c->present |= CMN_CRED_HAS_PRIVATEDATA;
        } else if (cmn_svr_key_is(k, "oscore")) {
            err = s_decode_oscore(v, c);
            c->present |= CMN_CRED_HAS_OSCORE;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        }
        /* other known-but-unused properties (roleid, crms, period, tag) are skipped */
    }
    return err;
}

static cmn_err_t
s_decode(const uint8_t *buf, size_t len, const char *key, bool is_cred, cmn_creds_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_creds_t cs;
    memset(&cs, 0, sizeof cs);
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (cmn_svr_key_is(k, key)) {
            cbor_item_t *const *items = NULL;
            size_t n_items = 0;
            if ((cs.present & CMN_CREDS_HAS_CREDS) ||
                cmn_svr_array(v, S_MAX_CREDS, &items, &n_items) != CMN_OK) {
                err = CMN_EPROTO;
                break;
            }
            cs.present |= CMN_CREDS_HAS_CREDS;
            for (size_t j = 0; err == CMN_OK && j < n_items; j++) {
                cmn_cred_t c;
                memset(&c, 0, sizeof c);
                err = s_decode_cred(items[j], &c);
                if (err == CMN_OK) {
                    err = cmn_creds_add(&cs, &c);
                }
                s_cred_clear(&c);
            }
        } else if (is_cred && cmn_svr_key_is(k, "rowneruuid")) {
            err = cmn_svr_uuid(v, &cs.rowneruuid);
            cs.present |= CMN_CREDS_HAS_ROWNERUUID;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!cmn_svr_is_baseline(k)) {
            cs.n_unknown++;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = cs;
    } else {
        cmn_creds_free(&cs);
    }
    return err;
}

cmn_err_t
cmn_creds_decode(const uint8_t *buf, size_t len, cmn_creds_t *ret)
{
    return s_decode(buf, len, "creds", true, ret);
}

cmn_err_t
cmn_roles_decode(const uint8_t *buf, size_t len, cmn_creds_t *ret)
{
    return s_decode(buf, len, "roles", false, ret);
}
