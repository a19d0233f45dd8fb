/* cmn_svr_acl.c — CBOR encoding and decoding of /oic/sec/acl2 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr_int.h"

#define S_MAX_ACES 256 /* more ACEs than this: the payload is refused */

/* ---------------------------------------------------------------- acl2 */

cmn_err_t
cmn_acl_add(cmn_acl_t *acl, const cmn_ace_t *ace)
{
    cmn_ace_t *arr = realloc(acl->aces, (acl->n_aces + 1) * sizeof *arr);
    if (arr == NULL) {
        return CMN_ENOMEM;
    }
    arr[acl->n_aces++] = *ace;
    acl->aces = arr;
    return CMN_OK;
}

void
cmn_acl_free(cmn_acl_t *acl)
{
    free(acl->aces);
    memset(acl, 0, sizeof *acl);
}

bool
cmn_svr_is_svr_href(const char *href)
{
    return href != NULL && strncmp(href, "/oic/sec/", 9) == 0;
}

/* A CBOR array of the n strings of strs (NULL when out of memory). */
static cbor_item_t *
s_strings(const char (*strs)[48], size_t n)
{
    cbor_item_t *a = cbor_new_definite_array(n);
    for (size_t i = 0; a && i < n; i++) {
        if (!cmn_svr_push(a, cbor_build_string(strs[i]))) {
            cbor_decref(&a);
        }
    }
    return a;
}

/* The validity array of ace: [{period}...]. */
static cbor_item_t *
s_validity(const cmn_ace_t *ace)
{
    cbor_item_t *a = cbor_new_definite_array(ace->n_validity);
    for (size_t i = 0; a && i < ace->n_validity; i++) {
        cmn_svr_enc_t ve = {cmn_svr_new_map(), false};
        cmn_svr_put(&ve, "period", cbor_build_string(ace->validity[i]));
        if (ve.failed || !cmn_svr_push(a, ve.map)) {
            if (ve.failed && ve.map) {
                cbor_decref(&ve.map);
            }
            cbor_decref(&a);
        }
    }
    return a;
}

cmn_err_t
cmn_acl_encode(const cmn_acl_t *acl, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    if (acl->present & CMN_ACL_HAS_ACLIST2) {
        cbor_item_t *a = cbor_new_indefinite_array();
        for (size_t i = 0; a && i < acl->n_aces; i++) {
            const cmn_ace_t *ace = &acl->aces[i];
            cmn_svr_enc_t ae = {cmn_svr_new_map(), false};
            if (ace->aceid > 0) {
                cmn_svr_put(&ae, "aceid", cmn_svr_build_int(ace->aceid));
            }
            cmn_svr_enc_t se = {cmn_svr_new_map(), false};
            if (ace->subject_kind == CMN_ACE_SUBJECT_UUID) {
                cmn_svr_put(&se, "uuid", cmn_svr_build_uuid(&ace->subject_uuid));
            } else if (ace->subject_kind == CMN_ACE_SUBJECT_ROLE) {
                cmn_svr_put(&se, "role", cbor_build_string(ace->role));
                if (ace->authority[0]) {
                    cmn_svr_put(&se, "authority", cbor_build_string(ace->authority));
                }
            } else {
                cmn_svr_put(&se, "conntype",
                            cbor_build_string(ace->conntype == CMN_CONNTYPE_ANON_CLEAR
                                                      ? "anon-clear"
                                                      : "auth-crypt"));
            }
            if (se.failed && se.map) {
                cbor_decref(&se.map);
            }
            cmn_svr_put(&ae, "subject", se.map);
            cbor_item_t *res = cbor_new_indefinite_array();
            for (size_t r = 0; res && r < ace->n_resources; r++) {
                cmn_svr_enc_t re = {cmn_svr_new_map(), false};
                if (ace->resources[r].href[0]) {
                    cmn_svr_put(&re, "href", cbor_build_string(ace->resources[r].href));
                }
                if (ace->resources[r].wc[0]) {
                    cmn_svr_put(&re, "wc", cbor_build_string(ace->resources[r].wc));
                }
                if (ace->resources[r].n_rt > 0) {
                    cmn_svr_put(&re, "rt", s_strings(ace->resources[r].rt, ace->resources[r].n_rt));
                }
                if (ace->resources[r].n_ifs > 0) {
                    cmn_svr_put(&re, "if",
                                s_strings(ace->resources[r].ifs, ace->resources[r].n_ifs));
                }
                if (re.failed || !cmn_svr_push(res, re.map)) {
                    cbor_decref(&res);
                }
            }
            cmn_svr_put(&ae, "resources", res);
            cmn_svr_put(&ae, "permission", cmn_svr_build_int(ace->permission));
            if (ace->n_validity > 0) {
                cmn_svr_put(&ae, "validity", s_validity(ace));
            }
            if (ae.failed) {
                if (ae.map) {
                    cbor_decref(&ae.map);
                }
                e.failed = true;
                break;
            }
            if (!cmn_svr_push(a, ae.map)) {
                e.failed = true;
                break;
            }
        }
        cmn_svr_put(&e, "aclist2", a);
    }
    if (acl->present & CMN_ACL_HAS_ROWNERUUID) {
        cmn_svr_put(&e, "rowneruuid", cmn_svr_build_uuid(&acl->rowneruuid));
    }
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

static cmn_err_t
s_decode_subject(const cbor_item_t *v, cmn_ace_t *ace)
{
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_svr_map(v, &p, &n);
    int kinds = 0;
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        if (cmn_svr_key_is(p[i].key, "uuid")) {
            ace->subject_kind = CMN_ACE_SUBJECT_UUID;
            err = cmn_svr_uuid(p[i].value, &ace->subject_uuid);
            kinds++;
        } else if (cmn_svr_key_is(p[i].key, "role")) {
            ace->subject_kind = CMN_ACE_SUBJECT_ROLE;
            err = cmn_svr_text(p[i].value, ace->role, sizeof ace->role);
            kinds++;
        } else if (cmn_svr_key_is(p[i].key, "authority")) {
            err = cmn_svr_text(p[i].value, ace->authority, sizeof ace->authority);
        } else if (cmn_svr_key_is(p[i].key, "conntype")) {
            char buf[16];
            ace->subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
            err = cmn_svr_text(p[i].value, buf, sizeof buf);
            if (err == CMN_OK && strcmp(buf, "anon-clear") == 0) {
                ace->conntype = CMN_CONNTYPE_ANON_CLEAR;
            } else if (err == CMN_OK && strcmp(buf, "auth-crypt") == 0) {
                ace->conntype = CMN_CONNTYPE_AUTH_CRYPT;
            } else {
                err = CMN_EPROTO;
            }
            kinds++;
        } else {
            err = CMN_EPROTO;
        }
    }
    return err == CMN_OK && kinds == 1 ? CMN_OK : CMN_EPROTO;
}

/* An array of at most CMN_ACE_RES_MAX_TYPES strings. */
static cmn_err_t
s_decode_strings(const cbor_item_t *v, char (*out)[48], size_t *ret_n)
{
    cbor_item_t *const *items = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_svr_array(v, CMN_ACE_RES_MAX_TYPES, &items, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        err = cmn_svr_text(items[i], out[i], 48);
        if (err == CMN_OK && out[i][0] == '\0') {
            err = CMN_EPROTO;
        }
    }
    if (err == CMN_OK) {
        *ret_n = n;
    }
    return err;
}

/* validity: [{period: TEXT, recurrence: [TEXT...]}...]; recurrences are counted. */
static cmn_err_t
s_decode_validity(const cbor_item_t *v, cmn_ace_t *ace)
{
    cbor_item_t *const *items = NULL;
    size_t n_items = 0;
    cmn_err_t err = cmn_svr_array(v, CMN_ACE_MAX_VALIDITY, &items, &n_items);
    for (size_t i = 0; err == CMN_OK && i < n_items; i++) {
        const struct cbor_pair *p = NULL;
        size_t n = 0;
        bool has_period = false;
        err = cmn_svr_map(items[i], &p, &n);
        for (size_t k = 0; err == CMN_OK && k < n; k++) {
            if (cmn_svr_key_is(p[k].key, "period")) {
                err = cmn_svr_text(p[k].value, ace->validity[i], sizeof ace->validity[i]);
                has_period = true;
            } else if (cmn_svr_key_is(p[k].key, "recurrence") && cbor_isa_array(p[k].value)) {
                ace->n_recurrence += cbor_array_size(p[k].value);
            } else {
                err = CMN_EPROTO;
            }
        }
        if (err == CMN_OK && !has_period) {
            err = CMN_EPROTO;
        }
    }
    if (err == CMN_OK) {
        ace->n_validity = n_items;
    }
    return err;
}

static cmn_err_t
s_decode_resources(const cbor_item_t *v, cmn_ace_t *ace)
{
    cbor_item_t *const *items = NULL;
    size_t n_items = 0;
    cmn_err_t err = cmn_svr_array(v, CMN_ACE_MAX_RES, &items, &n_items);
    for (size_t r = 0; err == CMN_OK && r < n_items; r++) {
        cmn_ace_res_t *res = &ace->resources[r];
        const struct cbor_pair *p = NULL;
        size_t n = 0;
        if (cmn_svr_map(items[r], &p, &n) != CMN_OK) {
            return CMN_EPROTO;
        }
        for (size_t i = 0; err == CMN_OK && i < n; i++) {
            if (cmn_svr_key_is(p[i].key, "href")) {
                err = cmn_svr_text(p[i].value, res->href, sizeof res->href);
            } else if (cmn_svr_key_is(p[i].key, "wc")) {
                err = cmn_svr_text(p[i].value, res->wc, sizeof res->wc);
                if (err == CMN_OK && strcmp(res->wc, "*") != 0 && strcmp(res->wc, "+") != 0 &&
                    strcmp(res->wc, "-") != 0) {
                    err = CMN_EPROTO;
                }
            } else if (cmn_svr_key_is(p[i].key, "rt")) {
                err = s_decode_strings(p[i].value, res->rt, &res->n_rt);
            } else if (cmn_svr_key_is(p[i].key, "if")) {
                err = s_decode_strings(p[i].value, res->ifs, &res->n_ifs);
            } else {
                err = CMN_EPROTO;
            }
        }
        if (err == CMN_OK && res->href[0] == '\0' && res->wc[0] == '\0' && res->n_rt == 0) {
            err = CMN_EPROTO;
        }
        ace->n_resources = r + 1;
    }
    return err;
}

static cmn_err_t
s_decode_ace(const cbor_item_t *item, cmn_ace_t *ace)
{
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_svr_map(item, &p, &n);
    bool has_subject = false;
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (cmn_svr_key_is(k, "aceid")) {
            err = cmn_svr_int_range(v, 1, INT32_MAX, &ace->aceid);
        } else if (cmn_svr_key_is(k, "subject")) {
            err = s_decode_subject(v, ace);
            has_subject = true;
        } else if (cmn_svr_key_is(k, "resources")) {
            err = s_decode_resources(v, ace);
        } else if (cmn_svr_key_is(k, "permission")) {
            err = cmn_svr_int_range(v, 0, 31, &ace->permission);
        } else if (cmn_svr_key_is(k, "validity")) {
            err = s_decode_validity(v, ace);
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        }
    }
    return err == CMN_OK && has_subject ? CMN_OK : CMN_EPROTO;
}

cmn_err_t
cmn_acl_decode(const uint8_t *buf, size_t len, cmn_acl_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_acl_t acl;
    memset(&acl, 0, sizeof acl);
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (cmn_svr_key_is(k, "aclist2")) {
            cbor_item_t *const *aces = NULL;
            size_t n_aces = 0;
            if ((acl.present & CMN_ACL_HAS_ACLIST2) ||
                cmn_svr_array(v, S_MAX_ACES, &aces, &n_aces) != CMN_OK) {
                err = CMN_EPROTO;
                break;
            }
            acl.present |= CMN_ACL_HAS_ACLIST2;
            for (size_t j = 0; err == CMN_OK && j < n_aces; j++) {
                cmn_ace_t ace;
                memset(&ace, 0, sizeof ace);
                err = s_decode_ace(aces[j], &ace);
                if (err == CMN_OK) {
                    err = cmn_acl_add(&acl, &ace);
                }
            }
        } else if (cmn_svr_key_is(k, "rowneruuid")) {
            err = cmn_svr_uuid(v, &acl.rowneruuid);
            acl.present |= CMN_ACL_HAS_ROWNERUUID;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!cmn_svr_is_baseline(k)) {
            acl.n_unknown++;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = acl;
    } else {
        cmn_acl_free(&acl);
    }
    return err;
}
