/* cmn_svr_int.h — what the SVR codec files share (not public): reading values out of
 * decoded CBOR (libcbor) with bounds, the well-formedness pre-scan, and building maps.
 *   cmn_svr_cbor.c  these helpers
 *   cmn_svr.c       doxm, pstat, sdi
 *   cmn_svr_cred.c  /oic/sec/cred
 *   cmn_svr_acl.c   /oic/sec/acl2
 *   cmn_svr_res.c   /oic/res, /oic/d, oic.r.vodlist */
#ifndef CMN_SVR_INT_H
#define CMN_SVR_INT_H

#include <cbor.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_svr.h"

/* A map being encoded: every cmn_svr_put after a failed allocation is a no-op, and
 * cmn_svr_finish reports the failure once. */
typedef struct {
    cbor_item_t *map; /* map being built */
    bool failed;      /* an allocation failed */
} cmn_svr_enc_t;

/* ---- reading decoded items: CMN_EPROTO for a wrong type or a value out of bounds ----
 * libcbor 0.8 asserts (aborts, in every build) when one of its accessors gets an item
 * of another type, width or definiteness. The decoders read peer items only through
 * these helpers, which check first; they never assert, whatever the item. */

/* True if key is the definite text string name. */
bool cmn_svr_key_is(const cbor_item_t *key, const char *name);
/* True for the baseline properties (rt, if, n, id) that every resource may carry. */
bool cmn_svr_is_baseline(const cbor_item_t *key);
/* A definite text string without NUL that fits in cap (with its terminator);
 * indefinite (chunked) strings are refused. */
cmn_err_t cmn_svr_text(const cbor_item_t *item, char *out, size_t cap);
/* An integer in [lo, hi]. */
cmn_err_t cmn_svr_int_range(const cbor_item_t *item, int64_t lo, int64_t hi, int64_t *out);
/* The simple value true or false (not null, undefined or a float). */
cmn_err_t cmn_svr_bool(const cbor_item_t *item, bool *out);
/* A UUID-valued text string: as cmn_svr_text, but one trailing NUL is dropped (a
 * widely deployed OBT encodes UUIDs as 37 bytes, the 36 characters and a NUL); a NUL
 * anywhere else, or two, is still refused. */
cmn_err_t cmn_svr_uuid_text(const cbor_item_t *item, char *out, size_t cap);
/* A text string holding a UUID in its 36-character form (one trailing NUL accepted). */
cmn_err_t cmn_svr_uuid(const cbor_item_t *item, cmn_uuid_t *out);
/* Byte string or text string, copied into a malloc'd buffer. */
cmn_err_t cmn_svr_data(const cbor_item_t *item, uint8_t **out, size_t *out_len, bool *is_text);
/* A map, definite or indefinite: its pairs (borrowed from item) and their count. */
cmn_err_t cmn_svr_map(const cbor_item_t *item, const struct cbor_pair **ret_pairs, size_t *ret_n);
/* An array, definite or indefinite, of at most max items: its items (borrowed from
 * item) and their count. */
cmn_err_t
cmn_svr_array(const cbor_item_t *item, size_t max, cbor_item_t *const **ret_items, size_t *ret_n);
/* Like cmn_svr_load, and the item must be a map. */
cmn_err_t cmn_svr_load_map(const uint8_t *buf, size_t len, cbor_item_t **ret);
/* cbor_load of exactly one well-formed item; the caller checks its type. */
cmn_err_t cmn_svr_load(const uint8_t *buf, size_t len, cbor_item_t **ret);

/* ---- building maps ---- */

/* Adds key: value to the map and drops the caller's reference to value (NULL marks
 * the encoding failed). */
void cmn_svr_put(cmn_svr_enc_t *e, const char *key, cbor_item_t *value);
/* An int64 as a CBOR unsigned or negative integer. */
cbor_item_t *cmn_svr_build_int(int64_t v);
/* A UUID as its 36-character text string. */
cbor_item_t *cmn_svr_build_uuid(const cmn_uuid_t *u);
/* An empty indefinite-length map. */
cbor_item_t *cmn_svr_new_map(void);
/* Appends value to array and drops the caller's reference; false if value is NULL or
 * the push failed. */
bool cmn_svr_push(cbor_item_t *array, cbor_item_t *value);
/* Serializes e->map into a malloc'd buffer and frees the map; CMN_ENOMEM if any step
 * of the encoding failed. */
cmn_err_t cmn_svr_finish(cmn_svr_enc_t *e, uint8_t **ret_buf, size_t *ret_len);
/* An array of the first n strings of strs; NULL on failure. */
cbor_item_t *cmn_svr_string_array(char (*strs)[48], size_t n);

#endif
