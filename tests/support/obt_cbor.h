/* obt_cbor.h — what the CBOR codec tests share: serializing hand-built items, and
 * every SVR decoder as one function type */
#ifndef OBT_CBOR_H
#define OBT_CBOR_H

#include <cbor.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_svr.h"

typedef struct {
    uint8_t *buf; /* malloc'd; the caller frees it */
    size_t len;   /* 0 when serializing failed */
} obt_cbor_buf_t;

/* Serializes item and drops the caller's reference to it. */
obt_cbor_buf_t obt_cbor_ser(cbor_item_t *item);
/* Adds key: value to map, dropping the caller's references to both; false if the
 * map refused the pair. */
bool obt_cbor_kv(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value);
/* Appends value to array, dropping the caller's reference; false if refused. */
bool obt_cbor_push(cbor_item_t *array, cbor_item_t *value);

/* A decoder that keeps nothing: decodes, frees what it decoded, returns the result. */
typedef cmn_err_t (*obt_svr_decode_fn)(const uint8_t *buf, size_t len);

cmn_err_t obt_svr_dec_doxm(const uint8_t *buf, size_t len);
cmn_err_t obt_svr_dec_pstat(const uint8_t *buf, size_t len);
cmn_err_t obt_svr_dec_sdi(const uint8_t *buf, size_t len);
cmn_err_t obt_svr_dec_creds(const uint8_t *buf, size_t len);
cmn_err_t obt_svr_dec_acl(const uint8_t *buf, size_t len);
cmn_err_t obt_svr_dec_res(const uint8_t *buf, size_t len);
cmn_err_t obt_svr_dec_d(const uint8_t *buf, size_t len);
cmn_err_t obt_svr_dec_vodlist(const uint8_t *buf, size_t len);

#endif
