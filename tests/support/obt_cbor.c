/* obt_cbor.c — what the CBOR codec tests share */
#include "obt_cbor.h"

#include <stdlib.h>

obt_cbor_buf_t
obt_cbor_ser(cbor_item_t *item)
{
    obt_cbor_buf_t b = {NULL, 0};
    size_t cap = 0;
    b.len = cbor_serialize_alloc(item, &b.buf, &cap);
    cbor_decref(&item);
    return b;
}

bool
obt_cbor_kv(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value)
{
    bool ok = cbor_map_add(map, (struct cbor_pair){.key = key, .value = value});
    cbor_decref(&key);
    cbor_decref(&value);
    return ok;
}

bool
obt_cbor_push(cbor_item_t *array, cbor_item_t *value)
{
    bool ok = cbor_array_push(array, value);
    cbor_decref(&value);
    return ok;
}

cmn_err_t
obt_svr_dec_doxm(const uint8_t *buf, size_t len)
{
    cmn_doxm_t d;
    return cmn_doxm_decode(buf, len, &d);
}

cmn_err_t
obt_svr_dec_pstat(const uint8_t *buf, size_t len)
{
    cmn_pstat_t p;
    return cmn_pstat_decode(buf, len, &p);
}

cmn_err_t
obt_svr_dec_sdi(const uint8_t *buf, size_t len)
{
    cmn_sdi_t s;
    return cmn_sdi_decode(buf, len, &s);
}

cmn_err_t
obt_svr_dec_creds(const uint8_t *buf, size_t len)
{
    cmn_creds_t c;
    cmn_err_t err = cmn_creds_decode(buf, len, &c);
    if (err == CMN_OK) {
        cmn_creds_free(&c);
    }
    return err;
}

cmn_err_t
obt_svr_dec_acl(const uint8_t *buf, size_t len)
{
    cmn_acl_t a;
    cmn_err_t err = cmn_acl_decode(buf, len, &a);
    if (err == CMN_OK) {
        cmn_acl_free(&a);
    }
    return err;
}

cmn_err_t
obt_svr_dec_res(const uint8_t *buf, size_t len)
{
    cmn_res_t r;
    cmn_err_t err = cmn_res_decode(buf, len, &r);
    if (err == CMN_OK) {
        cmn_res_free(&r);
    }
    return err;
}

cmn_err_t
obt_svr_dec_d(const uint8_t *buf, size_t len)
{
    cmn_d_t d;
    return cmn_d_decode(buf, len, &d);
}

cmn_err_t
obt_svr_dec_vodlist(const uint8_t *buf, size_t len)
{
    cmn_vodlist_t *v = malloc(sizeof *v); /* large: not on the stack */
    if (v == NULL) {
        return CMN_ENOMEM;
    }
    cmn_err_t err = cmn_vodlist_decode(buf, len, v);
    free(v);
    return err;
}
