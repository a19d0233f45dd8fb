/* cmn_svr.c — CBOR encoding and decoding of the OCF SVRs, /oic/res and /oic/d */
#include "cmn_svr.h"

#include <cbor.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- decoding helpers */

static bool
s_key_is(const cbor_item_t *key, const char *name)
{
    if (!cbor_isa_string(key) || !cbor_string_is_definite(key)) {
        return false;
    }
    size_t len = cbor_string_length(key);
    return len == strlen(name) && memcmp(cbor_string_handle(key), name, len) == 0;
}

static bool
s_is_baseline(const cbor_item_t *key)
{
    return s_key_is(key, "rt") || s_key_is(key, "if") || s_key_is(key, "n") || s_key_is(key, "id");
}

static cmn_err_t
s_text(const cbor_item_t *item, char *out, size_t cap)
{
    if (!cbor_isa_string(item) || !cbor_string_is_definite(item)) {
        return CMN_EPROTO;
    }
    size_t len = cbor_string_length(item);
    if (len >= cap || memchr(cbor_string_handle(item), 0, len) != NULL) {
        return CMN_EPROTO;
    }
    memcpy(out, cbor_string_handle(item), len);
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

static cmn_err_t
s_int_range(const cbor_item_t *item, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v;
    if (s_int(item, &v) != CMN_OK || v < lo || v > hi) {
        return CMN_EPROTO;
    }
    *out = v;
    return CMN_OK;
}

static cmn_err_t
s_bool(const cbor_item_t *item, bool *out)
{
    if (!cbor_is_bool(item)) {
        return CMN_EPROTO;
    }
    *out = cbor_get_bool(item);
    return CMN_OK;
}

static cmn_err_t
s_uuid(const cbor_item_t *item, cmn_uuid_t *out)
{
    char buf[CMN_UUID_STR_LEN + 1];
    if (s_text(item, buf, sizeof buf) != CMN_OK) {
        return CMN_EPROTO;
    }
    return cmn_uuid_from_str(buf, out) == CMN_OK ? CMN_OK : CMN_EPROTO;
}

/* Byte string or text string, copied into a malloc'd buffer. */
static cmn_err_t
s_data(const cbor_item_t *item, uint8_t **out, size_t *out_len, bool *is_text)
{
    bool text = cbor_isa_string(item);
    if (!(text || cbor_isa_bytestring(item))) {
        return CMN_EPROTO;
    }
    if (text ? !cbor_string_is_definite(item) : !cbor_bytestring_is_definite(item)) {
        return CMN_EPROTO;
    }
    size_t len = text ? cbor_string_length(item) : cbor_bytestring_length(item);
    if (len > CMN_CRED_MAX_DATA) {
        return CMN_EPROTO;
    }
    uint8_t *buf = malloc(len + 1);
    if (buf == NULL) {
        return CMN_ENOMEM;
    }
    memcpy(buf, text ? cbor_string_handle(item) : cbor_bytestring_handle(item), len);
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    if (is_text) {
        *is_text = text;
    }
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
static cmn_err_t
s_load(const uint8_t *buf, size_t len, cbor_item_t **ret)
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

static cmn_err_t
s_load_map(const uint8_t *buf, size_t len, cbor_item_t **ret)
{
    cbor_item_t *item = NULL;
    cmn_err_t err = s_load(buf, len, &item);
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

typedef struct {
    cbor_item_t *map; /* map being built */
    bool failed;      /* an allocation failed */
} s_enc_t;

static void
s_put(s_enc_t *e, const char *key, cbor_item_t *value)
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

static cbor_item_t *
s_build_int(int64_t v)
{
    return v >= 0 ? cbor_build_uint64((uint64_t) v) : cbor_build_negint64((uint64_t) (-1 - v));
}

static cbor_item_t *
s_build_uuid(const cmn_uuid_t *u)
{
    char buf[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(u, buf);
    return cbor_build_string(buf);
}

static cbor_item_t *
s_new_map(void)
{
    return cbor_new_indefinite_map();
}

static bool
s_push(cbor_item_t *array, cbor_item_t *value)
{
    if (value == NULL) {
        return false;
    }
    bool ok = cbor_array_push(array, value);
    cbor_decref(&value);
    return ok;
}

static cmn_err_t
s_finish(s_enc_t *e, uint8_t **ret_buf, size_t *ret_len)
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

static cbor_item_t *
s_string_array(char (*strs)[48], size_t n)
{
    cbor_item_t *a = cbor_new_indefinite_array();
    for (size_t i = 0; a && i < n; i++) {
        if (!s_push(a, cbor_build_string(strs[i]))) {
            cbor_decref(&a);
        }
    }
    return a;
}

/* ---------------------------------------------------------------- doxm */

cmn_err_t
cmn_doxm_encode(const cmn_doxm_t *d, uint8_t **ret_buf, size_t *ret_len)
{
    s_enc_t e = {s_new_map(), false};
    if (d->present & CMN_DOXM_HAS_OXMS) {
        cbor_item_t *a = cbor_new_indefinite_array();
        for (size_t i = 0; a && i < d->n_oxms && i < CMN_DOXM_MAX_OXMS; i++) {
            if (!s_push(a, s_build_int(d->oxms[i]))) {
                cbor_decref(&a);
            }
        }
        s_put(&e, "oxms", a);
    }
    if (d->present & CMN_DOXM_HAS_OXMSEL) {
        s_put(&e, "oxmsel", s_build_int(d->oxmsel));
    }
    if (d->present & CMN_DOXM_HAS_SCT) {
        s_put(&e, "sct", cbor_build_uint64(d->sct));
    }
    if (d->present & CMN_DOXM_HAS_OWNED) {
        s_put(&e, "owned", cbor_build_bool(d->owned));
    }
    if (d->present & CMN_DOXM_HAS_DEVICEUUID) {
        s_put(&e, "deviceuuid", s_build_uuid(&d->deviceuuid));
    }
    if (d->present & CMN_DOXM_HAS_DEVOWNERUUID) {
        s_put(&e, "devowneruuid", s_build_uuid(&d->devowneruuid));
    }
    if (d->present & CMN_DOXM_HAS_ROWNERUUID) {
        s_put(&e, "rowneruuid", s_build_uuid(&d->rowneruuid));
    }
    return s_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_doxm_decode(const uint8_t *buf, size_t len, cmn_doxm_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = s_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_doxm_t d;
    memset(&d, 0, sizeof d);
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(map); i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (s_key_is(k, "oxms")) {
            if (!cbor_isa_array(v) || cbor_array_size(v) > CMN_DOXM_MAX_OXMS) {
                err = CMN_EPROTO;
                break;
            }
            for (size_t j = 0; err == CMN_OK && j < cbor_array_size(v); j++) {
                err = s_int_range(cbor_array_handle(v)[j], 0, 0xFFFF, &d.oxms[j]);
            }
            d.n_oxms = cbor_array_size(v);
            d.present |= CMN_DOXM_HAS_OXMS;
        } else if (s_key_is(k, "oxmsel")) {
            err = s_int_range(v, 0, 0xFFFF, &d.oxmsel);
            d.present |= CMN_DOXM_HAS_OXMSEL;
        } else if (s_key_is(k, "sct")) {
            int64_t sct = 0;
            err = s_int_range(v, 0, 511, &sct);
            d.sct = (uint32_t) sct;
            d.present |= CMN_DOXM_HAS_SCT;
        } else if (s_key_is(k, "owned")) {
            err = s_bool(v, &d.owned);
            d.present |= CMN_DOXM_HAS_OWNED;
        } else if (s_key_is(k, "deviceuuid")) {
            err = s_uuid(v, &d.deviceuuid);
            d.present |= CMN_DOXM_HAS_DEVICEUUID;
        } else if (s_key_is(k, "devowneruuid")) {
            err = s_uuid(v, &d.devowneruuid);
            d.present |= CMN_DOXM_HAS_DEVOWNERUUID;
        } else if (s_key_is(k, "rowneruuid")) {
            err = s_uuid(v, &d.rowneruuid);
            d.present |= CMN_DOXM_HAS_ROWNERUUID;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!s_is_baseline(k)) {
            d.n_unknown++;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = d;
    }
    return err;
}

/* ---------------------------------------------------------------- pstat */

const char *
cmn_dos_name(int64_t s)
{
    static const char *const names[CMN_DOS_COUNT] = {"RESET", "RFOTM", "RFPRO", "RFNOP", "SRESET"};
    return s >= 0 && s < CMN_DOS_COUNT ? names[s] : "?";
}

cmn_err_t
cmn_pstat_encode(const cmn_pstat_t *ps, uint8_t **ret_buf, size_t *ret_len)
{
    s_enc_t e = {s_new_map(), false};
    if (ps->present & CMN_PSTAT_HAS_DOS) {
        s_enc_t dos = {s_new_map(), false};
        s_put(&dos, "s", s_build_int(ps->dos_s));
        if (ps->present & CMN_PSTAT_HAS_DOS_P) {
            s_put(&dos, "p", cbor_build_bool(ps->dos_p));
        }
        if (dos.failed && dos.map) {
            cbor_decref(&dos.map);
        }
        s_put(&e, "dos", dos.map);
    }
    if (ps->present & CMN_PSTAT_HAS_ISOP) {
        s_put(&e, "isop", cbor_build_bool(ps->isop));
    }
    if (ps->present & CMN_PSTAT_HAS_CM) {
        s_put(&e, "cm", s_build_int(ps->cm));
    }
    if (ps->present & CMN_PSTAT_HAS_TM) {
        s_put(&e, "tm", s_build_int(ps->tm));
    }
    if (ps->present & CMN_PSTAT_HAS_OM) {
        s_put(&e, "om", s_build_int(ps->om));
    }
    if (ps->present & CMN_PSTAT_HAS_SM) {
        s_put(&e, "sm", s_build_int(ps->sm));
    }
    if (ps->present & CMN_PSTAT_HAS_ROWNERUUID) {
        s_put(&e, "rowneruuid", s_build_uuid(&ps->rowneruuid));
    }
    return s_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_pstat_decode(const uint8_t *buf, size_t len, cmn_pstat_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = s_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_pstat_t ps;
    memset(&ps, 0, sizeof ps);
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(map); i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (s_key_is(k, "dos")) {
            if (!cbor_isa_map(v)) {
                err = CMN_EPROTO;
                break;
            }
            struct cbor_pair *dp = cbor_map_handle(v);
            for (size_t j = 0; err == CMN_OK && j < cbor_map_size(v); j++) {
                if (s_key_is(dp[j].key, "s")) {
                    err = s_int_range(dp[j].value, 0, CMN_DOS_COUNT - 1, &ps.dos_s);
                    ps.present |= CMN_PSTAT_HAS_DOS;
                } else if (s_key_is(dp[j].key, "p")) {
                    err = s_bool(dp[j].value, &ps.dos_p);
                    ps.present |= CMN_PSTAT_HAS_DOS_P;
                } else {
                    ps.n_unknown++;
                }
            }
        } else if (s_key_is(k, "isop")) {
            err = s_bool(v, &ps.isop);
            ps.present |= CMN_PSTAT_HAS_ISOP;
        } else if (s_key_is(k, "cm")) {
            err = s_int_range(v, 0, 511, &ps.cm);
            ps.present |= CMN_PSTAT_HAS_CM;
        } else if (s_key_is(k, "tm")) {
            err = s_int_range(v, 0, 511, &ps.tm);
            ps.present |= CMN_PSTAT_HAS_TM;
        } else if (s_key_is(k, "om")) {
            err = s_int_range(v, 0, 7, &ps.om);
            ps.present |= CMN_PSTAT_HAS_OM;
        } else if (s_key_is(k, "sm")) {
            err = s_int_range(v, 0, 7, &ps.sm);
            ps.present |= CMN_PSTAT_HAS_SM;
        } else if (s_key_is(k, "rowneruuid")) {
            err = s_uuid(v, &ps.rowneruuid);
            ps.present |= CMN_PSTAT_HAS_ROWNERUUID;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!s_is_baseline(k)) {
            ps.n_unknown++;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = ps;
    }
    return err;
}

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

static cbor_item_t *
s_data_map(const uint8_t *data, size_t len, bool as_text, const char *encoding)
{
    s_enc_t e = {s_new_map(), false};
    if (as_text) {
        char *tmp = malloc(len + 1);
        if (tmp == NULL) {
            e.failed = true;
        } else {
            memcpy(tmp, data ? data : (const uint8_t *) "", len);
            tmp[len] = 0;
            s_put(&e, "data", cbor_build_stringn(tmp, len));
            free(tmp);
        }
    } else {
        s_put(&e, "data", cbor_build_bytestring(data ? data : (const uint8_t *) "", len));
    }
    s_put(&e, "encoding", cbor_build_string(encoding[0] ? encoding : CMN_ENC_RAW));
    if (e.failed && e.map) {
        cbor_decref(&e.map);
    }
    return e.map;
}

cmn_err_t
cmn_creds_encode(const cmn_creds_t *creds, uint8_t **ret_buf, size_t *ret_len)
{
    s_enc_t e = {s_new_map(), false};
    if (creds->present & CMN_CREDS_HAS_CREDS) {
        cbor_item_t *a = cbor_new_indefinite_array();
        for (size_t i = 0; a && i < creds->n_creds; i++) {
            const cmn_cred_t *c = &creds->creds[i];
            s_enc_t ce = {s_new_map(), false};
            if (c->present & CMN_CRED_HAS_CREDID) {
                s_put(&ce, "credid", s_build_int(c->credid));
            }
            if (c->present & CMN_CRED_HAS_CREDTYPE) {
                s_put(&ce, "credtype", s_build_int(c->credtype));
            }
            if (c->present & CMN_CRED_HAS_SUBJECT) {
                s_put(&ce, "subjectuuid",
                      c->subject_is_wildcard ? cbor_build_string("*")
                                             : s_build_uuid(&c->subjectuuid));
            }
            if (c->present & CMN_CRED_HAS_CREDUSAGE) {
                s_put(&ce, "credusage", cbor_build_string(c->credusage));
            }
            if (c->present & CMN_CRED_HAS_PUBLICDATA) {
                s_put(&ce, "publicdata",
                      s_data_map(c->pub_data, c->pub_len, strcmp(c->pub_encoding, CMN_ENC_PEM) == 0,
                                 c->pub_encoding));
            }
            if (c->present & CMN_CRED_HAS_PRIVATEDATA) {
                s_put(&ce, "privatedata",
                      s_data_map(c->priv_data, c->priv_len, false, c->priv_encoding));
            }
            if (ce.failed) {
                e.failed = true;
                if (ce.map) {
                    cbor_decref(&ce.map);
                }
                break;
            }
            if (!s_push(a, ce.map)) {
                e.failed = true;
                break;
            }
        }
        s_put(&e, "creds", a);
    }
    if (creds->present & CMN_CREDS_HAS_ROWNERUUID) {
        s_put(&e, "rowneruuid", s_build_uuid(&creds->rowneruuid));
    }
    return s_finish(&e, ret_buf, ret_len);
}

static cmn_err_t
s_decode_data(const cbor_item_t *v, uint8_t **data, size_t *len, bool *is_text, char *enc)
{
    if (!cbor_isa_map(v)) {
        return CMN_EPROTO;
    }
    cmn_err_t err = CMN_OK;
    struct cbor_pair *p = cbor_map_handle(v);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(v); i++) {
        if (s_key_is(p[i].key, "data")) {
            if (*data) {
                err = CMN_EPROTO;
                break;
            }
            err = s_data(p[i].value, data, len, is_text);
        } else if (s_key_is(p[i].key, "encoding")) {
            err = s_text(p[i].value, enc, 40);
        } else if (s_key_is(p[i].key, "handle") || s_key_is(p[i].key, "revstat")) {
            continue;
        } else {
            err = CMN_EPROTO;
        }
    }
    return err;
}

static cmn_err_t
s_decode_cred(const cbor_item_t *item, cmn_cred_t *c)
{
    if (!cbor_isa_map(item)) {
        return CMN_EPROTO;
    }
    cmn_err_t err = CMN_OK;
    struct cbor_pair *p = cbor_map_handle(item);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(item); i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (s_key_is(k, "credid")) {
            err = s_int_range(v, 0, INT32_MAX, &c->credid);
            c->present |= CMN_CRED_HAS_CREDID;
        } else if (s_key_is(k, "credtype")) {
            err = s_int_range(v, 0, 511, &c->credtype);
            c->present |= CMN_CRED_HAS_CREDTYPE;
        } else if (s_key_is(k, "subjectuuid")) {
            char buf[CMN_UUID_STR_LEN + 1];
            err = s_text(v, buf, sizeof buf);
            if (err == CMN_OK && strcmp(buf, "*") == 0) {
                c->subject_is_wildcard = true;
            } else if (err == CMN_OK) {
                err = cmn_uuid_from_str(buf, &c->subjectuuid) == CMN_OK ? CMN_OK : CMN_EPROTO;
            }
            c->present |= CMN_CRED_HAS_SUBJECT;
        } else if (s_key_is(k, "credusage")) {
            err = s_text(v, c->credusage, sizeof c->credusage);
            c->present |= CMN_CRED_HAS_CREDUSAGE;
        } else if (s_key_is(k, "publicdata")) {
            err = s_decode_data(v, &c->pub_data, &c->pub_len, NULL, c->pub_encoding);
            c->present |= CMN_CRED_HAS_PUBLICDATA;
        } else if (s_key_is(k, "privatedata")) {
            err = s_decode_data(v, &c->priv_data, &c->priv_len, &c->priv_is_text, c->priv_encoding);
            c->present |= CMN_CRED_HAS_PRIVATEDATA;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        }
        /* other known-but-unused properties (roleid, crms, period, tag) are skipped */
    }
    return err;
}

cmn_err_t
cmn_creds_decode(const uint8_t *buf, size_t len, cmn_creds_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = s_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_creds_t cs;
    memset(&cs, 0, sizeof cs);
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(map); i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (s_key_is(k, "creds")) {
            if (!cbor_isa_array(v) || cbor_array_size(v) > 64 ||
                (cs.present & CMN_CREDS_HAS_CREDS)) {
                err = CMN_EPROTO;
                break;
            }
            cs.present |= CMN_CREDS_HAS_CREDS;
            for (size_t j = 0; err == CMN_OK && j < cbor_array_size(v); j++) {
                cmn_cred_t c;
                memset(&c, 0, sizeof c);
                err = s_decode_cred(cbor_array_handle(v)[j], &c);
                if (err == CMN_OK) {
                    err = cmn_creds_add(&cs, &c);
                }
                s_cred_clear(&c);
            }
        } else if (s_key_is(k, "rowneruuid")) {
            err = s_uuid(v, &cs.rowneruuid);
            cs.present |= CMN_CREDS_HAS_ROWNERUUID;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!s_is_baseline(k)) {
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

cmn_err_t
cmn_acl_encode(const cmn_acl_t *acl, uint8_t **ret_buf, size_t *ret_len)
{
    s_enc_t e = {s_new_map(), false};
    if (acl->present & CMN_ACL_HAS_ACLIST2) {
        cbor_item_t *a = cbor_new_indefinite_array();
        for (size_t i = 0; a && i < acl->n_aces; i++) {
            const cmn_ace_t *ace = &acl->aces[i];
            s_enc_t ae = {s_new_map(), false};
            if (ace->aceid > 0) {
                s_put(&ae, "aceid", s_build_int(ace->aceid));
            }
            s_enc_t se = {s_new_map(), false};
            if (ace->subject_kind == CMN_ACE_SUBJECT_UUID) {
                s_put(&se, "uuid", s_build_uuid(&ace->subject_uuid));
            } else if (ace->subject_kind == CMN_ACE_SUBJECT_ROLE) {
                s_put(&se, "role", cbor_build_string(ace->role));
                if (ace->authority[0]) {
                    s_put(&se, "authority", cbor_build_string(ace->authority));
                }
            } else {
                s_put(&se, "conntype",
                      cbor_build_string(ace->conntype == CMN_CONNTYPE_ANON_CLEAR ? "anon-clear"
                                                                                 : "auth-crypt"));
            }
            if (se.failed && se.map) {
                cbor_decref(&se.map);
            }
            s_put(&ae, "subject", se.map);
            cbor_item_t *res = cbor_new_indefinite_array();
            for (size_t r = 0; res && r < ace->n_resources; r++) {
                s_enc_t re = {s_new_map(), false};
                if (ace->resources[r].href[0]) {
                    s_put(&re, "href", cbor_build_string(ace->resources[r].href));
                }
                if (ace->resources[r].wc[0]) {
                    s_put(&re, "wc", cbor_build_string(ace->resources[r].wc));
                }
                if (re.failed || !s_push(res, re.map)) {
                    cbor_decref(&res);
                }
            }
            s_put(&ae, "resources", res);
            s_put(&ae, "permission", s_build_int(ace->permission));
            if (ae.failed) {
                if (ae.map) {
                    cbor_decref(&ae.map);
                }
                e.failed = true;
                break;
            }
            if (!s_push(a, ae.map)) {
                e.failed = true;
                break;
            }
        }
        s_put(&e, "aclist2", a);
    }
    if (acl->present & CMN_ACL_HAS_ROWNERUUID) {
        s_put(&e, "rowneruuid", s_build_uuid(&acl->rowneruuid));
    }
    return s_finish(&e, ret_buf, ret_len);
}

static cmn_err_t
s_decode_subject(const cbor_item_t *v, cmn_ace_t *ace)
{
    if (!cbor_isa_map(v) || cbor_map_size(v) == 0) {
        return CMN_EPROTO;
    }
    cmn_err_t err = CMN_OK;
    int kinds = 0;
    struct cbor_pair *p = cbor_map_handle(v);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(v); i++) {
        if (s_key_is(p[i].key, "uuid")) {
            ace->subject_kind = CMN_ACE_SUBJECT_UUID;
            err = s_uuid(p[i].value, &ace->subject_uuid);
            kinds++;
        } else if (s_key_is(p[i].key, "role")) {
            ace->subject_kind = CMN_ACE_SUBJECT_ROLE;
            err = s_text(p[i].value, ace->role, sizeof ace->role);
            kinds++;
        } else if (s_key_is(p[i].key, "authority")) {
            err = s_text(p[i].value, ace->authority, sizeof ace->authority);
        } else if (s_key_is(p[i].key, "conntype")) {
            char buf[16];
            ace->subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
            err = s_text(p[i].value, buf, sizeof buf);
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

static cmn_err_t
s_decode_resources(const cbor_item_t *v, cmn_ace_t *ace)
{
    if (!cbor_isa_array(v) || cbor_array_size(v) > CMN_ACE_MAX_RES) {
        return CMN_EPROTO;
    }
    cmn_err_t err = CMN_OK;
    for (size_t r = 0; err == CMN_OK && r < cbor_array_size(v); r++) {
        const cbor_item_t *m = cbor_array_handle(v)[r];
        cmn_ace_res_t *res = &ace->resources[r];
        if (!cbor_isa_map(m)) {
            return CMN_EPROTO;
        }
        struct cbor_pair *p = cbor_map_handle(m);
        for (size_t i = 0; err == CMN_OK && i < cbor_map_size(m); i++) {
            if (s_key_is(p[i].key, "href")) {
                err = s_text(p[i].value, res->href, sizeof res->href);
            } else if (s_key_is(p[i].key, "wc")) {
                err = s_text(p[i].value, res->wc, sizeof res->wc);
                if (err == CMN_OK && strcmp(res->wc, "*") != 0 && strcmp(res->wc, "+") != 0 &&
                    strcmp(res->wc, "-") != 0) {
                    err = CMN_EPROTO;
                }
            } else if (s_key_is(p[i].key, "if") || s_key_is(p[i].key, "rt")) {
                if (!cbor_isa_array(p[i].value)) {
                    err = CMN_EPROTO;
                }
            } else {
                err = CMN_EPROTO;
            }
        }
        if (err == CMN_OK && res->href[0] == '\0' && res->wc[0] == '\0') {
            err = CMN_EPROTO;
        }
        ace->n_resources = r + 1;
    }
    return err;
}

static cmn_err_t
s_decode_ace(const cbor_item_t *item, cmn_ace_t *ace)
{
    if (!cbor_isa_map(item)) {
        return CMN_EPROTO;
    }
    cmn_err_t err = CMN_OK;
    bool has_subject = false;
    struct cbor_pair *p = cbor_map_handle(item);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(item); i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (s_key_is(k, "aceid")) {
            err = s_int_range(v, 1, INT32_MAX, &ace->aceid);
        } else if (s_key_is(k, "subject")) {
            err = s_decode_subject(v, ace);
            has_subject = true;
        } else if (s_key_is(k, "resources")) {
            err = s_decode_resources(v, ace);
        } else if (s_key_is(k, "permission")) {
            err = s_int_range(v, 0, 31, &ace->permission);
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
    cmn_err_t err = s_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_acl_t acl;
    memset(&acl, 0, sizeof acl);
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(map); i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (s_key_is(k, "aclist2")) {
            if (!cbor_isa_array(v) || cbor_array_size(v) > 256 ||
                (acl.present & CMN_ACL_HAS_ACLIST2)) {
                err = CMN_EPROTO;
                break;
            }
            acl.present |= CMN_ACL_HAS_ACLIST2;
            for (size_t j = 0; err == CMN_OK && j < cbor_array_size(v); j++) {
                cmn_ace_t ace;
                memset(&ace, 0, sizeof ace);
                err = s_decode_ace(cbor_array_handle(v)[j], &ace);
                if (err == CMN_OK) {
                    err = cmn_acl_add(&acl, &ace);
                }
            }
        } else if (s_key_is(k, "rowneruuid")) {
            err = s_uuid(v, &acl.rowneruuid);
            acl.present |= CMN_ACL_HAS_ROWNERUUID;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!s_is_baseline(k)) {
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

/* ---------------------------------------------------------------- sdi */

cmn_err_t
cmn_sdi_encode(const cmn_sdi_t *sdi, uint8_t **ret_buf, size_t *ret_len)
{
    s_enc_t e = {s_new_map(), false};
    if (sdi->present & CMN_SDI_HAS_UUID) {
        s_put(&e, "uuid", s_build_uuid(&sdi->uuid));
    }
    if (sdi->present & CMN_SDI_HAS_NAME) {
        s_put(&e, "name", cbor_build_string(sdi->name));
    }
    if (sdi->present & CMN_SDI_HAS_PRIV) {
        s_put(&e, "priv", cbor_build_bool(sdi->priv));
    }
    return s_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_sdi_decode(const uint8_t *buf, size_t len, cmn_sdi_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = s_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_sdi_t sdi;
    memset(&sdi, 0, sizeof sdi);
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(map); i++) {
        const cbor_item_t *k = p[i].key;
        if (s_key_is(k, "uuid")) {
            err = s_uuid(p[i].value, &sdi.uuid);
            sdi.present |= CMN_SDI_HAS_UUID;
        } else if (s_key_is(k, "name")) {
            err = s_text(p[i].value, sdi.name, sizeof sdi.name);
            sdi.present |= CMN_SDI_HAS_NAME;
        } else if (s_key_is(k, "priv")) {
            err = s_bool(p[i].value, &sdi.priv);
            sdi.present |= CMN_SDI_HAS_PRIV;
        } else if (!cbor_isa_string(k)) {
            err = CMN_EPROTO;
        } else if (!s_is_baseline(k)) {
            sdi.n_unknown++;
        }
    }
    cbor_decref(&map);
    if (err == CMN_OK) {
        *ret = sdi;
    }
    return err;
}

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
        s_enc_t e = {s_new_map(), false};
        s_put(&e, "anchor", cbor_build_string(l->anchor));
        s_put(&e, "href", cbor_build_string(l->href));
        s_put(&e, "rt", s_string_array((char(*)[48]) l->rt, l->n_rt));
        cbor_item_t *ifs = cbor_new_indefinite_array();
        for (size_t j = 0; ifs && j < l->n_ifs; j++) {
            if (!s_push(ifs, cbor_build_string(l->ifs[j]))) {
                cbor_decref(&ifs);
            }
        }
        s_put(&e, "if", ifs);
        s_enc_t pe = {s_new_map(), false};
        s_put(&pe, "bm", s_build_int(l->bm));
        if (pe.failed && pe.map) {
            cbor_decref(&pe.map);
        }
        s_put(&e, "p", pe.map);
        cbor_item_t *eps = cbor_new_indefinite_array();
        for (size_t j = 0; eps && j < l->n_eps; j++) {
            s_enc_t ee = {s_new_map(), false};
            s_put(&ee, "ep", cbor_build_string(l->eps[j]));
            if (ee.failed || !s_push(eps, ee.map)) {
                cbor_decref(&eps);
            }
        }
        s_put(&e, "eps", eps);
        if (e.failed || !s_push(arr, e.map)) {
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
    if (!cbor_isa_array(v)) {
        return CMN_EPROTO;
    }
    *n = 0;
    for (size_t j = 0; j < cbor_array_size(v); j++) {
        if (j >= max) {
            continue; /* extra types are ignored, not an error */
        }
        if (s_text(cbor_array_handle(v)[j], out + j * stride, stride) != CMN_OK) {
            return CMN_EPROTO;
        }
        (*n)++;
    }
    return CMN_OK;
}

static cmn_err_t
s_decode_link(const cbor_item_t *m, cmn_link_t *l)
{
    if (!cbor_isa_map(m)) {
        return CMN_EPROTO;
    }
    cmn_err_t err = CMN_OK;
    struct cbor_pair *p = cbor_map_handle(m);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(m); i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (s_key_is(k, "anchor")) {
            err = s_text(v, l->anchor, sizeof l->anchor);
        } else if (s_key_is(k, "href")) {
            err = s_text(v, l->href, sizeof l->href);
        } else if (s_key_is(k, "rt")) {
            err = s_strings(v, &l->rt[0][0], sizeof l->rt[0], CMN_LINK_MAX_RT, &l->n_rt);
        } else if (s_key_is(k, "if")) {
            err = s_strings(v, &l->ifs[0][0], sizeof l->ifs[0], CMN_LINK_MAX_RT, &l->n_ifs);
        } else if (s_key_is(k, "p")) {
            if (!cbor_isa_map(v)) {
                err = CMN_EPROTO;
                break;
            }
            struct cbor_pair *pp = cbor_map_handle(v);
            for (size_t j = 0; err == CMN_OK && j < cbor_map_size(v); j++) {
                if (s_key_is(pp[j].key, "bm")) {
                    err = s_int_range(pp[j].value, 0, 255, &l->bm);
                }
            }
        } else if (s_key_is(k, "eps")) {
            if (!cbor_isa_array(v)) {
                err = CMN_EPROTO;
                break;
            }
            for (size_t j = 0; err == CMN_OK && j < cbor_array_size(v); j++) {
                const cbor_item_t *em = cbor_array_handle(v)[j];
                if (!cbor_isa_map(em)) {
                    err = CMN_EPROTO;
                    break;
                }
                struct cbor_pair *ep = cbor_map_handle(em);
                for (size_t q = 0; err == CMN_OK && q < cbor_map_size(em); q++) {
                    if (s_key_is(ep[q].key, "ep") && l->n_eps < CMN_LINK_MAX_EPS) {
                        err = s_text(ep[q].value, l->eps[l->n_eps], sizeof l->eps[0]);
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
    cmn_err_t err = s_load(buf, len, &arr);
    if (err != CMN_OK) {
        return err;
    }
    if (!cbor_isa_array(arr) || cbor_array_size(arr) > 256) {
        cbor_decref(&arr);
        return CMN_EPROTO;
    }
    cmn_res_t res;
    memset(&res, 0, sizeof res);
    for (size_t i = 0; err == CMN_OK && i < cbor_array_size(arr); i++) {
        cmn_link_t l;
        memset(&l, 0, sizeof l);
        err = s_decode_link(cbor_array_handle(arr)[i], &l);
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
    s_enc_t e = {s_new_map(), false};
    if (d->n_rt > 0) {
        cbor_item_t *rt = cbor_new_indefinite_array();
        for (size_t i = 0; rt && i < d->n_rt; i++) {
            if (!s_push(rt, cbor_build_string(d->rt[i]))) {
                cbor_decref(&rt);
            }
        }
        s_put(&e, "rt", rt);
    }
    s_put(&e, "di", s_build_uuid(&d->di));
    s_put(&e, "piid", s_build_uuid(&d->piid));
    s_put(&e, "n", cbor_build_string(d->n));
    s_put(&e, "icv", cbor_build_string(d->icv));
    s_put(&e, "dmv", cbor_build_string(d->dmv));
    return s_finish(&e, ret_buf, ret_len);
}

cmn_err_t
cmn_d_decode(const uint8_t *buf, size_t len, cmn_d_t *ret)
{
    cbor_item_t *map = NULL;
    cmn_err_t err = s_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_d_t d;
    memset(&d, 0, sizeof d);
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(map); i++) {
        const cbor_item_t *k = p[i].key;
        const cbor_item_t *v = p[i].value;
        if (s_key_is(k, "di")) {
            err = s_uuid(v, &d.di);
        } else if (s_key_is(k, "piid")) {
            err = s_uuid(v, &d.piid);
        } else if (s_key_is(k, "n")) {
            err = s_text(v, d.n, sizeof d.n);
        } else if (s_key_is(k, "icv")) {
            err = s_text(v, d.icv, sizeof d.icv);
        } else if (s_key_is(k, "dmv")) {
            err = s_text(v, d.dmv, sizeof d.dmv);
        } else if (s_key_is(k, "rt")) {
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
    s_enc_t e = {s_new_map(), false};
    cbor_item_t *rt = cbor_new_indefinite_array();
    if (rt && !s_push(rt, cbor_build_string("oic.r.vodlist"))) {
        cbor_decref(&rt);
    }
    s_put(&e, "rt", rt);
    cbor_item_t *vods = cbor_new_indefinite_array();
    for (size_t i = 0; vods && i < v->n_vods; i++) {
        s_enc_t item = {s_new_map(), false};
        if (item.map == NULL) {
            cbor_decref(&vods);
            break;
        }
        s_put(&item, "n", cbor_build_string(v->vods[i].n));
        s_put(&item, "di", s_build_uuid(&v->vods[i].di));
        s_put(&item, "econame", cbor_build_string(v->vods[i].econame));
        if (item.failed || !cbor_array_push(vods, item.map)) {
            cbor_decref(&vods);
        }
        cbor_decref(&item.map);
    }
    s_put(&e, "vods", vods);
    return s_finish(&e, ret_buf, ret_len);
}

static cmn_err_t
s_decode_vod(const cbor_item_t *m, cmn_vod_t *vod)
{
    if (!cbor_isa_map(m)) {
        return CMN_EPROTO;
    }
    bool has_di = false;
    cmn_err_t err = CMN_OK;
    struct cbor_pair *p = cbor_map_handle(m);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(m); i++) {
        const cbor_item_t *k = p[i].key;
        if (s_key_is(k, "di")) {
            err = s_uuid(p[i].value, &vod->di);
            has_di = true;
        } else if (s_key_is(k, "n")) {
            err = s_text(p[i].value, vod->n, sizeof vod->n);
        } else if (s_key_is(k, "econame")) {
            err = s_text(p[i].value, vod->econame, sizeof vod->econame);
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
    cmn_err_t err = s_load_map(buf, len, &map);
    if (err != CMN_OK) {
        return err;
    }
    cmn_vodlist_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        cbor_decref(&map);
        return CMN_ENOMEM;
    }
    bool has_vods = false;
    struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; err == CMN_OK && i < cbor_map_size(map); i++) {
        const cbor_item_t *val = p[i].value;
        if (!s_key_is(p[i].key, "vods")) {
            continue;
        }
        has_vods = true;
        if (!cbor_isa_array(val) || cbor_array_size(val) > CMN_VODLIST_MAX) {
            err = CMN_EPROTO;
            break;
        }
        v->n_vods = 0;
        for (size_t j = 0; err == CMN_OK && j < cbor_array_size(val); j++) {
            cmn_vod_t vod;
            memset(&vod, 0, sizeof vod);
            err = s_decode_vod(cbor_array_handle(val)[j], &vod);
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
