/* cmn_svr_cbor.c — the CBOR helpers of the SVR codec (cmn_svr_int.h): bounded reads
 * of decoded items, a streaming pre-scan that refuses ill-formed or oversized input
 * before libcbor allocates anything, and map building */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr_int.h"

/* ---------------------------------------------------------------- decoding helpers */

/* libcbor 0.8 asserts, also in release builds, when an accessor gets an item of
 * another type or width: cbor_is_bool and cbor_get_bool on a float, cbor_get_int on
 * anything but an integer, cbor_map_* on a non-map, ... A peer chooses every item
 * we decode, so each accessor below runs only after the cbor_isa_* predicate (which
 * never asserts) has said what the item is, and the decoders read items only
 * through these helpers. */

/* A definite string of the given kind (text or bytes): its bytes and length. The
 * handle of an indefinite string is libcbor's chunk list, not its bytes. */
static bool
s_definite_string(const cbor_item_t *item, bool text, const uint8_t **ret_ptr, size_t *ret_len)
{
    if (text ? !cbor_isa_string(item) || !cbor_string_is_definite(item)
             : !cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) {
        return false;
    }
    *ret_ptr = text ? cbor_string_handle(item) : cbor_bytestring_handle(item);
    *ret_len = text ? cbor_string_length(item) : cbor_bytestring_length(item);
    return true;
}

bool
cmn_svr_key_is(const cbor_item_t *key, const char *name)
{
    const uint8_t *s = NULL;
    size_t len = 0;
    return s_definite_string(key, true, &s, &len) && len == strlen(name) &&
           (len == 0 || memcmp(s, name, len) == 0);
}

bool
cmn_svr_is_baseline(const cbor_item_t *key)
{
    return cmn_svr_key_is(key, "rt") || cmn_svr_key_is(key, "if") || cmn_svr_key_is(key, "n") ||
           cmn_svr_key_is(key, "id");
}

cmn_err_t
cmn_svr_text(const cbor_item_t *item, char *out, size_t cap)
{
    const uint8_t *s = NULL;
    size_t len = 0;
    if (!s_definite_string(item, true, &s, &len) || len >= cap ||
        (len > 0 && memchr(s, 0, len) != NULL)) {
        return CMN_EPROTO;
    }
    if (len > 0) {
        memcpy(out, s, len);
    }
    out[len] = '\0';
    return CMN_OK;
}

static cmn_err_t
s_int(const cbor_item_t *item, int64_t *out)
{
    if (cbor_isa_uint(item)) {
        uint64_t v = cbor_get_int(item);
        if (v > INT64_MAX) {
            return CMN_EPROTO;
        }
        *out = (int64_t) v;
        return CMN_OK;
    }
    if (cbor_isa_negint(item)) {
        uint64_t v = cbor_get_int(item);
        if (v > INT64_MAX - 1) {
            return CMN_EPROTO;
        }
        *out = -1 - (int64_t) v;
        return CMN_OK;
    }
    return CMN_EPROTO;
}

cmn_err_t
cmn_svr_int_range(const cbor_item_t *item, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v;
    if (s_int(item, &v) != CMN_OK || v < lo || v > hi) {
        return CMN_EPROTO;
    }
    *out = v;
    return CMN_OK;
}

cmn_err_t
cmn_svr_bool(const cbor_item_t *item, bool *out)
{
    /* Not cbor_is_bool: it asserts on a half, single or double float. */
    if (!cbor_isa_float_ctrl(item) || !cbor_float_ctrl_is_ctrl(item)) {
        return CMN_EPROTO;
    }
    uint8_t v = cbor_ctrl_value(item);
    if (v != CBOR_CTRL_TRUE && v != CBOR_CTRL_FALSE) {
        return CMN_EPROTO; /* null, undefined, another simple value */
    }
    *out = v == CBOR_CTRL_TRUE;
    return CMN_OK;
}

cmn_err_t
cmn_svr_uuid_text(const cbor_item_t *item, char *out, size_t cap)
{
    const uint8_t *s = NULL;
    size_t len = 0;
    if (!s_definite_string(item, true, &s, &len)) {
        return CMN_EPROTO;
    }
    if (len > 0 && s[len - 1] == 0) {
        len--; /* the one trailing NUL of a C string sent with its terminator */
    }
    if (len >= cap || (len > 0 && memchr(s, 0, len) != NULL)) {
        return CMN_EPROTO;
    }
    if (len > 0) {
        memcpy(out, s, len);
    }
    out[len] = '\0';
    return CMN_OK;
}

cmn_err_t
cmn_svr_uuid(const cbor_item_t *item, cmn_uuid_t *out)
{
    char buf[CMN_UUID_STR_LEN + 1];
    if (cmn_svr_uuid_text(item, buf, sizeof buf) != CMN_OK) {
        return CMN_EPROTO;
    }
    return cmn_uuid_from_str(buf, out) == CMN_OK ? CMN_OK : CMN_EPROTO;
}

/* Byte string or text string, copied into a malloc'd buffer. */
cmn_err_t
cmn_svr_data(const cbor_item_t *item, uint8_t **out, size_t *out_len, bool *is_text)
{
    bool text = cbor_isa_string(item);
    const uint8_t *s = NULL;
    size_t len = 0;
    if (!s_definite_string(item, text, &s, &len) || len > CMN_CRED_MAX_DATA) {
        return CMN_EPROTO;
    }
    uint8_t *buf = malloc(len + 1);
    if (buf == NULL) {
        return CMN_ENOMEM;
    }
    if (len > 0) {
        memcpy(buf, s, len);
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    if (is_text) {
        *is_text = text;
    }
    return CMN_OK;
}

cmn_err_t
cmn_svr_map(const cbor_item_t *item, const struct cbor_pair **ret_pairs, size_t *ret_n)
{
    if (!cbor_isa_map(item)) {
        return CMN_EPROTO;
    }
    /* Definite or not, a decoded map holds its pairs in one array. */
    *ret_pairs = cbor_map_handle(item);
    *ret_n = cbor_map_size(item);
    return CMN_OK;
}

cmn_err_t
cmn_svr_array(const cbor_item_t *item, size_t max, cbor_item_t *const **ret_items, size_t *ret_n)
{
    if (!cbor_isa_array(item) || cbor_array_size(item) > max) {
        return CMN_EPROTO;
    }
    *ret_items = cbor_array_handle(item);
    *ret_n = cbor_array_size(item);
    return CMN_OK;
}

#define S_MAX_DEPTH   64
#define S_UNTIL_BREAK UINT64_MAX

/* What an open container is. */
typedef enum {
    S_OPEN_ARRAY,
    S_OPEN_MAP,
    S_OPEN_BYTES, /* indefinite byte string: definite byte chunks until break */
    S_OPEN_TEXT,  /* indefinite text string: definite text chunks until break */
} s_open_t;

/* State of the well-formedness scan, fed by libcbor's streaming decoder one head at
 * a time. */
typedef struct {
    uint64_t left[S_MAX_DEPTH]; /* items each open container still expects */
    s_open_t kind[S_MAX_DEPTH]; /* what each open container is */
    size_t depth;               /* open containers */
    uint64_t need;              /* bytes the container just opened needs at least */
    bool has_tag;               /* a tag waits for its item */
    bool is_bad;                /* not well-formed, or nested too deep */
    bool is_done;               /* the top-level item is complete */
} s_scan_t;

static bool
s_scan_in_string(const s_scan_t *self)
{
    return self->depth > 0 && (self->kind[self->depth - 1] == S_OPEN_BYTES ||
                               self->kind[self->depth - 1] == S_OPEN_TEXT);
}

/* One item is complete: count it in its container and close the full ones. */
static void
s_scan_complete(s_scan_t *self)
{
    self->has_tag = false;
    while (self->depth > 0 && self->left[self->depth - 1] != S_UNTIL_BREAK &&
           --self->left[self->depth - 1] == 0) {
        self->depth--;
    }
    self->is_done = self->depth == 0;
}

static void
s_scan_item(s_scan_t *self)
{
    if (s_scan_in_string(self)) {
        self->is_bad = true; /* only chunks go inside an indefinite string */
        return;
    }
    s_scan_complete(self);
}

static void
s_scan_open(s_scan_t *self, s_open_t kind, uint64_t items)
{
    if (s_scan_in_string(self) || self->depth == S_MAX_DEPTH) {
        self->is_bad = true;
        return;
    }
    self->has_tag = false;
    self->kind[self->depth] = kind;
    self->left[self->depth++] = items;
}

/* A definite array or map: every item takes at least one byte, so n items need n
 * bytes (2n for n pairs); checked by the caller against what is left. */
static void
s_scan_open_definite(s_scan_t *self, s_open_t kind, size_t n)
{
    if (n == 0) {
        s_scan_item(self);
        return;
    }
    if (kind == S_OPEN_MAP && (uint64_t) n > UINT64_MAX / 2) {
        self->is_bad = true;
        return;
    }
    uint64_t items = kind == S_OPEN_MAP ? (uint64_t) n * 2 : (uint64_t) n;
    self->need = items;
    s_scan_open(self, kind, items);
}

/* A definite string: a whole item, or one chunk of an indefinite string. */
static void
s_scan_string(s_scan_t *self, s_open_t kind)
{
    if (!s_scan_in_string(self)) {
        s_scan_complete(self);
    } else if (self->kind[self->depth - 1] != kind) {
        self->is_bad = true; /* chunks have the type of their string */
    }
}

/* Scalars of every width: one complete item each, the value does not matter. */
#define S_ON_SCALAR(name, type)                                                                    \
    static void name(void *ctx, type v)                                                            \
    {                                                                                              \
        (void) v;                                                                                  \
        s_scan_item(ctx);                                                                          \
    }

S_ON_SCALAR(s_on_u8, uint8_t)
S_ON_SCALAR(s_on_u16, uint16_t)
S_ON_SCALAR(s_on_u32, uint32_t)
S_ON_SCALAR(s_on_u64, uint64_t)
S_ON_SCALAR(s_on_float, float)
S_ON_SCALAR(s_on_double, double)
S_ON_SCALAR(s_on_bool, bool)

static void
s_on_simple(void *ctx)
{
    s_scan_item(ctx);
}

static void
s_on_bytes(void *ctx, cbor_data data, size_t len)
{
    (void) data;
    (void) len;
    s_scan_string(ctx, S_OPEN_BYTES);
}

static void
s_on_text(void *ctx, cbor_data data, size_t len)
{
    (void) data;
    (void) len;
    s_scan_string(ctx, S_OPEN_TEXT);
}

static void
s_on_bytes_start(void *ctx)
{
    s_scan_open(ctx, S_OPEN_BYTES, S_UNTIL_BREAK);
}

static void
s_on_text_start(void *ctx)
{
    s_scan_open(ctx, S_OPEN_TEXT, S_UNTIL_BREAK);
}

static void
s_on_array_start(void *ctx, size_t n)
{
    s_scan_open_definite(ctx, S_OPEN_ARRAY, n);
}

static void
s_on_indef_array_start(void *ctx)
{
    s_scan_open(ctx, S_OPEN_ARRAY, S_UNTIL_BREAK);
}

static void
s_on_map_start(void *ctx, size_t n)
{
    s_scan_open_definite(ctx, S_OPEN_MAP, n);
}

static void
s_on_indef_map_start(void *ctx)
{
    s_scan_open(ctx, S_OPEN_MAP, S_UNTIL_BREAK);
}

static void
s_on_tag(void *ctx, uint64_t tag)
{
    (void) tag;
    s_scan_t *self = ctx;
    if (s_scan_in_string(self)) {
        self->is_bad = true;
        return;
    }
    self->has_tag = true; /* a tag applies to the item that follows */
}

static void
s_on_break(void *ctx)
{
    s_scan_t *self = ctx;
    if (self->depth == 0 || self->left[self->depth - 1] != S_UNTIL_BREAK || self->has_tag) {
        self->is_bad = true;
        return;
    }
    self->depth--;
    s_scan_complete(self); /* the indefinite container is one item of its parent */
}

/* Every member is set: cbor_stream_decode calls them unchecked. string and
 * byte_string get definite strings (whole, or chunks of an indefinite one);
 * string_start and byte_string_start open indefinite ones (the comments in libcbor
 * 0.8's callbacks.h have the two the other way round; the types are right). */
static const struct cbor_callbacks S_SCAN_CALLBACKS = {
        .uint8 = s_on_u8,
        .uint16 = s_on_u16,
        .uint32 = s_on_u32,
        .uint64 = s_on_u64,
        .negint8 = s_on_u8,
        .negint16 = s_on_u16,
        .negint32 = s_on_u32,
        .negint64 = s_on_u64,
        .byte_string = s_on_bytes,
        .byte_string_start = s_on_bytes_start,
        .string = s_on_text,
        .string_start = s_on_text_start,
        .array_start = s_on_array_start,
        .indef_array_start = s_on_indef_array_start,
        .map_start = s_on_map_start,
        .indef_map_start = s_on_indef_map_start,
        .tag = s_on_tag,
        .float2 = s_on_float,
        .float4 = s_on_float,
        .float8 = s_on_double,
        .undefined = s_on_simple,
        .null = s_on_simple,
        .boolean = s_on_bool,
        .indef_break = s_on_break,
};

/* True if buf is exactly one well-formed CBOR item, nested at most S_MAX_DEPTH deep,
 * in which every definite array and map has the items it declares.
 * libcbor 0.8 allocates (and clears) the slots of a definite array or map for its
 * declared size before reading any item, so a few bytes from a peer claiming 2^32
 * items would make cbor_load allocate gigabytes. libcbor's streaming decoder reads
 * one head at a time without allocating; the callbacks above keep the nesting, and
 * a declared size larger than the bytes left is refused at once. Checked first, what
 * cbor_load allocates is bounded by len. */
static bool
s_well_formed(const uint8_t *buf, size_t len)
{
    s_scan_t scan = {.depth = 0};
    size_t pos = 0;
    while (!scan.is_done) {
        if (pos == len) {
            return false; /* truncated */
        }
        scan.need = 0;
        struct cbor_decoder_result r =
                cbor_stream_decode(buf + pos, len - pos, &S_SCAN_CALLBACKS, &scan);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || scan.is_bad) {
            return false; /* reserved or malformed head, string past the end */
        }
        pos += r.read;
        if (scan.need > len - pos) {
            return false;
        }
    }
    return pos == len; /* nothing after the one top-level item */
}

/* cbor_load of exactly one well-formed item; the caller checks its type. */
cmn_err_t
cmn_svr_load(const uint8_t *buf, size_t len, cbor_item_t **ret)
{
    struct cbor_load_result res;
    if (buf == NULL || len == 0 || !s_well_formed(buf, len)) {
        return CMN_EPROTO;
    }
    cbor_item_t *item = cbor_load(buf, len, &res);
    if (item == NULL) {
        return res.error.code == CBOR_ERR_MEMERROR ? CMN_ENOMEM : CMN_EPROTO;
    }
    if (res.read != len) {
        cbor_decref(&item);
        return CMN_EPROTO;
    }
    *ret = item;
    return CMN_OK;
}

cmn_err_t
cmn_svr_load_map(const uint8_t *buf, size_t len, cbor_item_t **ret)
{
    cbor_item_t *item = NULL;
    cmn_err_t err = cmn_svr_load(buf, len, &item);
    if (err != CMN_OK) {
        return err;
    }
    if (!cbor_isa_map(item)) {
        cbor_decref(&item);
        return CMN_EPROTO;
    }
    *ret = item;
    return CMN_OK;
}

/* ---------------------------------------------------------------- encoding helpers */

void
cmn_svr_put(cmn_svr_enc_t *e, const char *key, cbor_item_t *value)
{
    if (value == NULL) {
        e->failed = true;
        return;
    }
    cbor_item_t *k = cbor_build_string(key);
    if (k == NULL || e->failed ||
        !cbor_map_add(e->map, (struct cbor_pair){.key = k, .value = value})) {
        e->failed = true;
    }
    if (k) {
        cbor_decref(&k);
    }
    cbor_decref(&value);
}

cbor_item_t *
cmn_svr_build_int(int64_t v)
{
    return v >= 0 ? cbor_build_uint64((uint64_t) v) : cbor_build_negint64((uint64_t) (-1 - v));
}

cbor_item_t *
cmn_svr_build_uuid(const cmn_uuid_t *u)
{
    char buf[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(u, buf);
    return cbor_build_string(buf);
}

cbor_item_t *
cmn_svr_new_map(void)
{
    return cbor_new_indefinite_map();
}

bool
cmn_svr_push(cbor_item_t *array, cbor_item_t *value)
{
    if (value == NULL) {
        return false;
    }
    bool ok = cbor_array_push(array, value);
    cbor_decref(&value);
    return ok;
}

cmn_err_t
cmn_svr_finish(cmn_svr_enc_t *e, uint8_t **ret_buf, size_t *ret_len)
{
    cmn_err_t err = CMN_ENOMEM;
    if (!e->failed && e->map) {
        unsigned char *buf = NULL;
        size_t cap = 0;
        size_t len = cbor_serialize_alloc(e->map, &buf, &cap);
        if (len > 0) {
            *ret_buf = buf;
            *ret_len = len;
            err = CMN_OK;
        } else {
            free(buf);
        }
    }
    if (e->map) {
        cbor_decref(&e->map);
    }
    return err;
}

cbor_item_t *
cmn_svr_string_array(char (*strs)[48], size_t n)
{
    cbor_item_t *a = cbor_new_indefinite_array();
    for (size_t i = 0; a && i < n; i++) {
        if (!cmn_svr_push(a, cbor_build_string(strs[i]))) {
            cbor_decref(&a);
        }
    }
    return a;
}
