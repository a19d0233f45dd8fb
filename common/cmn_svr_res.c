/* cmn_svr_res.c — CBOR encoding and decoding of /oic/res, /oic/d and oic.r.vodlist */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr_int.h"

#define S_MAX_LINKS 256 /* more links than this: the payload is refused */

/* ---------------------------------------------------------------- /oic/res */

cmn_err_t
cmn_res_add(cmn_res_t *res, const cmn_link_t *link)
{
    cmn_link_t *arr = realloc(res->links, (res->n_links + 1) * sizeof *arr);
    if (arr == NULL) {
        return CMN_ENOMEM;
    }
    arr[res->n_links++] = *link;
    res->links = arr;
    return CMN_OK;
}

void
cmn_res_free(cmn_res_t *res)
{
    free(res->links);
    memset(res, 0, sizeof *res);
}

cmn_err_t
cmn_res_encode(const cmn_res_t *res, uint8_t **ret_buf, size_t *ret_len)
{
    cbor_item_t *arr = cbor_new_indefinite_array();
    bool failed = arr == NULL;
    for (size_t i = 0; !failed && i < res->n_links; i++) {
        const cmn_link_t *l = &res->links[i];
        cmn_svr_enc_t e = {cmn_svr_new_map(), false};
        cmn_svr_put(&e, "anchor", cbor_build_string(l->anchor));
        cmn_svr_put(&e, "href", cbor_build_string(l->href));
        cmn_svr_put(&e, "rt", cmn_svr_string_array((char(*)[48]) l->rt, l->n_rt));
        cbor_item_t *ifs = cbor_new_indefinite_array();
        for (size_t j = 0; ifs && j < l->n_ifs; j++) {
            if (!cmn_svr_push(ifs, cbor_build_string(l->ifs[j]))) {
                cbor_decref(&ifs);
            }
        }
        cmn_svr_put(&e, "if", ifs);
        cmn_svr_enc_t pe = {cmn_svr_new_map(), false};
        cmn_svr_put(&pe, "bm", cmn_svr_build_int(l->bm));
        if (pe.failed && pe.map) {
            cbor_decref(&pe.map);
        }
        cmn_svr_put(&e, "p", pe.map);
        cbor_item_t *eps = cbor_new_indefinite_array();
        for (size_t j = 0; eps && j < l->n_eps; j++) {
            cmn_svr_enc_t ee = {cmn_svr_new_map(), false};
            cmn_svr_put(&ee, "ep", cbor_build_string(l->eps[j]));
            if (ee.failed || !cmn_svr_push(eps, ee.map)) {
                cbor_decref(&eps);
            }
        }
        cmn_svr_put(&e, "eps", eps);
        if (e.failed || !cmn_svr_push(arr, e.map)) {
            if (e.failed && e.map) {
                cbor_decref(&e.map);
            }
            failed = true;
        }
    }
    cmn_err_t err = CMN_ENOMEM;
    if (!failed) {
        unsigned char *buf = NULL;
        size_t cap = 0;
        size_t len = cbor_serialize_alloc(arr, &buf, &cap);
        if (len > 0) {
            *ret_buf = buf;
            *ret_len = len;
            err = CMN_OK;
        } else {
            free(buf);
        }
    }
    if (arr) {
        cbor_decref(&arr);
    }
    return err;
}

static cmn_err_t
s_strings(const cbor_item_t *v, char *out, size_t stride, size_t max, size_t *n)
{
    cbor_item_t *const *items = NULL;
    size_t n_items = 0;
    if (cmn_svr_array(v, SIZE_MAX, &items, &n_items) != CMN_OK) {
        return CMN_EPROTO;
    }
    *n = 0;
    for (size_t j = 0; j < n_items && j < max; j++) {
        /* extra types are ignored, not an error */
        if (cmn_svr_text(items[j], out + j * stride, stride) != CMN_OK) {
            return CMN_EPROTO;
        }
        (*n)++;
    }
    return CMN_OK;
}

static cmn_err_t
s_decode_link(const cbor_item_t *m, cmn_link_t *l)
{
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_svr_map(m, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (cmn_svr_key_is(k, "anchor")) {
            err = cmn_svr_text(v, l->anchor, sizeof l->anchor);
        } else if (cmn_svr_key_is(k, "href")) {
            err = cmn_svr_text(v, l->href, sizeof l->href);
        } else if (cmn_svr_key_is(k, "rt")) {
            err = s_strings(v, &l->rt[0][0], sizeof l->rt[0], CMN_LINK_MAX_RT, &l->n_rt);
        } else if (cmn_svr_key_is(k, "if")) {
            err = s_strings(v, &l->ifs[0][0], sizeof l->ifs[0], CMN_LINK_MAX_RT, &l->n_ifs);
        } else if (cmn_svr_key_is(k, "p")) {
            const struct cbor_pair *pp = NULL;
            size_t n_p = 0;
            err = cmn_svr_map(v, &pp, &n_p);
            for (size_t j = 0; err == CMN_OK && j < n_p; j++) {
                if (cmn_svr_key_is(pp[j].key, "bm")) {
                    err = cmn_svr_int_range(pp[j].value, 0, 255, &l->bm);
                }
            }
        } else if (cmn_svr_key_is(k, "eps")) {
            cbor_item_t *const *items = NULL;
            size_t n_items = 0;
            err = cmn_svr_array(v, SIZE_MAX, &items, &n_items);
            for (size_t j = 0; err == CMN_OK && j < n_items; j++) {
                const struct cbor_pair *ep = NULL;
                size_t n_ep = 0;
                err = cmn_svr_map(items[j], &ep, &n_ep);
                for (size_t q = 0; err == CMN_OK && q < n_ep; q++) {
                    if (cmn_svr_key_is(ep[q].key, "ep") && l->n_eps < CMN_LINK_MAX_EPS) {
                        err = cmn_svr_text(ep[q].value, l->eps[l->n_eps], sizeof l->eps[0]);
                        l->n_eps += err == CMN_OK;
                    }
                }
            }
        }
    }
    return err;
}

cmn_err_t
cmn_res_decode(const uint8_t *buf, size_t len, cmn_res_t *ret)
{
    cbor_item_t *arr = NULL;
    cmn_err_t err = cmn_svr_load(buf, len, &arr);
    if (err != CMN_OK) {
        return err;
    }
    cbor_item_t *const *links = NULL;
    size_t n_links = 0;
    if (cmn_svr_array(arr, S_MAX_LINKS, &links, &n_links) != CMN_OK) {
        cbor_decref(&arr);
        return CMN_EPROTO;
    }
    cmn_res_t res;
    memset(&res, 0, sizeof res);
    for (size_t i = 0; err == CMN_OK && i < n_links; i++) {
        cmn_link_t l;
        memset(&l, 0, sizeof l);
        err = s_decode_link(links[i], &l);
        if (err == CMN_OK) {
            err = cmn_res_add(&res, &l);
        }
    }
    cbor_decref(&arr);
    if (err == CMN_OK) {
        *ret = res;
    } else {
        cmn_res_free(&res);
    }
    return err;
}

/* ---------------------------------------------------------------- /oic/d */

cmn_err_t
cmn_d_encode(const cmn_d_t *d, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    if (d->n_rt > 0) {
        cbor_item_t *rt = cbor_new_indefinite_array();
        for (size_t i = 0; rt && i < d->n_rt; i++) {
            if (!cmn_svr_push(rt, cbor_build_string(d->rt[i]))) {
                cbor_decref(&rt);
            }
        }
        cmn_svr_put(&e, "rt", rt);
    }
    cmn_svr_put(&e, "di", cmn_svr_build_uuid(&d->di));
    cmn_svr_put(&e, "piid", cmn_svr_build_uuid(&d->piid));
    cmn_svr_put(&e, "n", cbor_build_string(d->n));
    cmn_svr_put(&e, "icv", cbor_build_string(d->icv));
    cmn_svr_put(&e, "dmv", cbor_build_string(d->dmv));
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_d_decode(const uint8_t *buf, size_t len, cmn_d_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_d_t d;
    memset(&d, 0, sizeof d);
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (cmn_svr_key_is(k, "di")) {
            err = cmn_svr_uuid(v, &d.di);
        } else if (cmn_svr_key_is(k, "piid")) {
            err = cmn_svr_uuid(v, &d.piid);
        } else if (cmn_svr_key_is(k, "n")) {
            err = cmn_svr_text(v, d.n, sizeof d.n);
        } else if (cmn_svr_key_is(k, "icv")) {
            err = cmn_svr_text(v, d.icv, sizeof d.icv);
        } else if (cmn_svr_key_is(k, "dmv")) {
            err = cmn_svr_text(v, d.dmv, sizeof d.dmv);
        } else if (cmn_svr_key_is(k, "rt")) {
            err = s_strings(v, &d.rt[0][0], sizeof d.rt[0], CMN_D_MAX_RT, &d.n_rt);
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = d;
    }
    return err;
}

/* ---------------------------------------------------------------- oic.r.vodlist */

cmn_err_t
cmn_vodlist_encode(const cmn_vodlist_t *v, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_svr_enc_t e = {cmn_svr_new_map(), false};
    cbor_item_t *rt = cbor_new_indefinite_array();
    if (rt && !cmn_svr_push(rt, cbor_build_string("oic.r.vodlist"))) {
        cbor_decref(&rt);
    }
    cmn_svr_put(&e, "rt", rt);
    cbor_item_t *vods = cbor_new_indefinite_array();
    for (size_t i = 0; vods && i < v->n_vods; i++) {
        cmn_svr_enc_t item = {cmn_svr_new_map(), false};
        if (item.map == NULL) {
            cbor_decref(&vods);
            break;
        }
        cmn_svr_put(&item, "n", cbor_build_string(v->vods[i].n));
        cmn_svr_put(&item, "di", cmn_svr_build_uuid(&v->vods[i].di));
        cmn_svr_put(&item, "econame", cbor_build_string(v->vods[i].econame));
        if (item.failed || !cbor_array_push(vods, item.map)) {
            cbor_decref(&vods);
        }
        cbor_decref(&item.map);
    }
    cmn_svr_put(&e, "vods", vods);
    return cmn_svr_finish(&e, ret_buf, ret_len);
}

static cmn_err_t
s_decode_vod(const cbor_item_t *m, cmn_vod_t *vod)
{
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    cmn_err_t err = cmn_svr_map(m, &p, &n);
    bool has_di = false;
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *k = p[i].key;
        if (cmn_svr_key_is(k, "di")) {
            err = cmn_svr_uuid(p[i].value, &vod->di);
            has_di = true;
        } else if (cmn_svr_key_is(k, "n")) {
            err = cmn_svr_text(p[i].value, vod->n, sizeof vod->n);
        } else if (cmn_svr_key_is(k, "econame")) {
            err = cmn_svr_text(p[i].value, vod->econame, sizeof vod->econame);
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        }
    }
    return err == CMN_OK && has_di && !cmn_uuid_is_nil(&vod->di) ? CMN_OK : CMN_EPROTO;
}

cmn_err_t
cmn_vodlist_decode(const uint8_t *buf, size_t len, cmn_vodlist_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = cmn_svr_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_vodlist_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        cbor_decref(&map);
        return CMN_ENOMEM;
    }
    bool has_vods = false;
    const struct cbor_pair *p = NULL;
    size_t n = 0;
    err = cmn_svr_map(map, &p, &n);
    for (size_t i = 0; err == CMN_OK && i < n; i++) {
        const cbor_item_t *val = p[i].value;
        if (!cmn_svr_key_is(p[i].key, "vods")) {
            continue;
        }
        has_vods = true;
        cbor_item_t *const *items = NULL;
        size_t n_items = 0;
        if (cmn_svr_array(val, CMN_VODLIST_MAX, &items, &n_items) != CMN_OK) {
            err = CMN_EPROTO;
            break;
        }
        v->n_vods = 0;
        for (size_t j = 0; err == CMN_OK && j < n_items; j++) {
            cmn_vod_t vod;
            memset(&vod, 0, sizeof vod);
            err = s_decode_vod(items[j], &vod);
            for (size_t q = 0; err == CMN_OK && q < v->n_vods; q++) {
                if (cmn_uuid_eq(&v->vods[q].di, &vod.di)) {
                    err = CMN_EPROTO; /* the same VOD twice */
                }
            }
            if (err == CMN_OK) {
                v->vods[v->n_vods++] = vod;
            }
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK && !has_vods) {
        err = CMN_EPROTO;
    }
    if (err == CMN_OK) {
        *ret = *v;
    }
    free(v);
    return err;
}

/* The numbers of an OCF version into parts (at most 4); CMN_EINVAL if malformed. */
static cmn_err_t
s_icv_parts(const char *v, unsigned long parts[4])
{
    if (strncmp(v, "ocf.", 4) == 0) {
        v += 4;
    }
    memset(parts, 0, 4 * sizeof parts[0]);
    for (int i = 0; i < 4; i++) {
        if (*v < '0' || *v > '9') {
            return CMN_EINVAL;
        }
        char *end = NULL;
        parts[i] = strtoul(v, &end, 10);
        if (*end == '\0') {
            return CMN_OK;
        }
        if (*end != '.' || parts[i] > 100000) {
            return CMN_EINVAL;
        }
        v = end + 1;
    }
    return CMN_EINVAL;
}

cmn_err_t
cmn_icv_compare(const char *a, const char *b, int *ret_cmp)
{
    unsigned long pa[4], pb[4];
    if (a == NULL || b == NULL || s_icv_parts(a, pa) != CMN_OK || s_icv_parts(b, pb) != CMN_OK) {
        return CMN_EINVAL;
    }
    int cmp = 0;
    for (int i = 0; i < 4 && cmp == 0; i++) {
        cmp = pa[i] < pb[i] ? -1 : pa[i] > pb[i] ? 1 : 0;
    }
    *ret_cmp = cmp;
    return CMN_OK;
}
