/* cmn_svr_test.c — CBOR codec of the SVRs, /oic/res and /oic/d: round trips,
 * validation at the edges, and malformed input (ASan and UBSan watch the rest) */
#include <cbor.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_svr.h"
#include "obt_cbor.h"
#include "obt_checks.h"

#define U_DEV   "11111111-2222-4333-8444-555555555555"
#define U_OWNER "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define U_ROWN  "01234567-89ab-4cde-8f01-23456789abcd"
#define U_UPPER "ABCDEF01-2345-4678-9ABC-DEF012345678"

static cmn_uuid_t
s_uuid(const char *text)
{
    cmn_uuid_t u;
    cr_assert_eq(cmn_uuid_from_str(text, &u), CMN_OK, "%s", text);
    return u;
}

static void
s_assert_uuid(const cmn_uuid_t *got, const char *want)
{
    char buf[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(got, buf);
    cmn_uuid_t w = s_uuid(want);
    cr_assert(cmn_uuid_eq(got, &w), "uuid %s, want %s", buf, want);
}

/* ---------------------------------------------------------------- hand-built CBOR */

static cbor_item_t *
s_str(const char *s)
{
    cbor_item_t *item = cbor_build_string(s);
    cr_assert_not_null(item);
    return item;
}

/* A text string of exactly len bytes (NULs included). */
static cbor_item_t *
s_strn(const char *s, size_t len)
{
    cbor_item_t *item = cbor_build_stringn(s, len);
    cr_assert_not_null(item);
    return item;
}

static cbor_item_t *
s_uint(uint64_t v)
{
    cbor_item_t *item = cbor_build_uint64(v);
    cr_assert_not_null(item);
    return item;
}

static cbor_item_t *
s_neg(uint64_t minus_one_minus_v)
{
    cbor_item_t *item = cbor_build_negint64(minus_one_minus_v);
    cr_assert_not_null(item);
    return item;
}

static cbor_item_t *
s_bool(bool v)
{
    cbor_item_t *item = cbor_build_bool(v);
    cr_assert_not_null(item);
    return item;
}

static cbor_item_t *
s_bytes(const void *data, size_t len)
{
    cbor_item_t *item = cbor_build_bytestring(data, len);
    cr_assert_not_null(item);
    return item;
}

static cbor_item_t *
s_map(void)
{
    cbor_item_t *item = cbor_new_indefinite_map();
    cr_assert_not_null(item);
    return item;
}

static cbor_item_t *
s_arr(void)
{
    cbor_item_t *item = cbor_new_indefinite_array();
    cr_assert_not_null(item);
    return item;
}

/* Adds key → value to map, consuming value. */
static cbor_item_t *
s_kv(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    cbor_item_t *k = s_str(key);
    cr_assert(cbor_map_add(map, (struct cbor_pair){.key = k, .value = value}));
    cbor_decref(&k);
    cbor_decref(&value);
    return map;
}

/* Adds any key item → value (both consumed). */
static cbor_item_t *
s_kv_item(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value)
{
    cr_assert(obt_cbor_kv(map, key, value));
    return map;
}

/* Appends value to array, consuming value. */
static cbor_item_t *
s_push(cbor_item_t *array, cbor_item_t *value)
{
    cr_assert(obt_cbor_push(array, value));
    return array;
}

typedef obt_cbor_buf_t s_buf_t;

/* Serializes item and consumes it. */
static s_buf_t
s_ser(cbor_item_t *item)
{
    s_buf_t b = obt_cbor_ser(item);
    cr_assert_gt(b.len, 0);
    return b;
}

/* A one-property map {key: value}, serialized. */
static s_buf_t
s_one(const char *key, cbor_item_t *value)
{
    return s_ser(s_kv(s_map(), key, value));
}

/* ---------------------------------------------------------------- decoders as one type */

typedef obt_svr_decode_fn s_decode_fn;

static void
s_assert_eproto(s_decode_fn fn, s_buf_t b, const char *what)
{
    cmn_err_t err = fn(b.buf, b.len);
    cr_assert_eq(err, CMN_EPROTO, "%s: got %s", what, cmn_errname(err));
    free(b.buf);
}

static void
s_assert_ok(s_decode_fn fn, s_buf_t b, const char *what)
{
    cmn_err_t err = fn(b.buf, b.len);
    cr_assert_eq(err, CMN_OK, "%s: got %s", what, cmn_errname(err));
    free(b.buf);
}

/* ---------------------------------------------------------------- full samples */

static cmn_doxm_t
s_full_doxm(void)
{
    cmn_doxm_t d = {.present = 0x7f,
                    .oxms = {0, 2, 0xFF00, 0xFFFF},
                    .n_oxms = 4,
                    .oxmsel = 0xFF00,
                    .sct = 9,
                    .owned = true};
    d.deviceuuid = s_uuid(U_DEV);
    d.devowneruuid = s_uuid(U_OWNER);
    d.rowneruuid = s_uuid(U_ROWN);
    return d;
}

static cmn_pstat_t
s_full_pstat(void)
{
    cmn_pstat_t p = {.present = 0xff,
                     .dos_s = CMN_DOS_SRESET,
                     .dos_p = true,
                     .isop = true,
                     .cm = 511,
                     .tm = 34,
                     .om = 7,
                     .sm = 4};
    p.rowneruuid = s_uuid(U_ROWN);
    return p;
}

static const uint8_t s_psk[16] = {0x00, 0x01, 0x02, 0x03, 0xfc, 0xfd, 0xfe, 0xff,
                                  0x10, 0x00, 0x20, 0x00, 0x30, 0x00, 0x40, 0x00};
static const char s_pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/* Two creds: an owner PSK and a wildcard trust anchor with PEM public data. */
static void
s_full_creds(cmn_creds_t *cs)
{
    memset(cs, 0, sizeof *cs);
    cs->present = CMN_CREDS_HAS_CREDS | CMN_CREDS_HAS_ROWNERUUID;
    cs->rowneruuid = s_uuid(U_ROWN);
    cmn_cred_t psk = {.present = 0x3f & ~CMN_CRED_HAS_PUBLICDATA,
                      .credid = 1,
                      .credtype = CMN_CREDTYPE_PSK,
                      .priv_data = (uint8_t *) (uintptr_t) s_psk,
                      .priv_len = sizeof s_psk};
    psk.subjectuuid = s_uuid(U_OWNER);
    strcpy(psk.priv_encoding, CMN_ENC_RAW);
    cr_assert_eq(cmn_creds_add(cs, &psk), CMN_OK);
    cmn_cred_t ca = {.present = CMN_CRED_HAS_CREDID | CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                CMN_CRED_HAS_CREDUSAGE | CMN_CRED_HAS_PUBLICDATA,
                     .credid = INT32_MAX,
                     .credtype = CMN_CREDTYPE_CERT,
                     .subject_is_wildcard = true,
                     .pub_data = (uint8_t *) (uintptr_t) s_pem,
                     .pub_len = sizeof s_pem - 1};
    strcpy(ca.credusage, "oic.sec.cred.mfgtrustca");
    strcpy(ca.pub_encoding, CMN_ENC_PEM);
    cr_assert_eq(cmn_creds_add(cs, &ca), CMN_OK);
}

static void
s_full_acl(cmn_acl_t *acl)
{
    memset(acl, 0, sizeof *acl);
    acl->present = CMN_ACL_HAS_ACLIST2 | CMN_ACL_HAS_ROWNERUUID;
    acl->rowneruuid = s_uuid(U_ROWN);
    cmn_ace_t by_uuid = {.aceid = 1,
                         .subject_kind = CMN_ACE_SUBJECT_UUID,
                         .n_resources = 2,
                         .permission = CMN_PERM_R | CMN_PERM_U | CMN_PERM_D};
    by_uuid.subject_uuid = s_uuid(U_OWNER);
    strcpy(by_uuid.resources[0].href, "/oic/sec/sp");
    strcpy(by_uuid.resources[1].wc, "*");
    cr_assert_eq(cmn_acl_add(acl, &by_uuid), CMN_OK);
    cmn_ace_t by_role = {.aceid = INT32_MAX,
                         .subject_kind = CMN_ACE_SUBJECT_ROLE,
                         .n_resources = 1,
                         .permission = 31};
    strcpy(by_role.role, "oic.role.owner");
    strcpy(by_role.authority, "OCF");
    strcpy(by_role.resources[0].href, "/a/light");
    strcpy(by_role.resources[0].wc, "+");
    cr_assert_eq(cmn_acl_add(acl, &by_role), CMN_OK);
    cmn_ace_t anon = {.aceid = 0, /* absent: the device assigns it */
                      .subject_kind = CMN_ACE_SUBJECT_CONNTYPE,
                      .conntype = CMN_CONNTYPE_ANON_CLEAR,
                      .n_resources = 3,
                      .permission = CMN_PERM_R};
    strcpy(anon.resources[0].href, "/oic/d");
    strcpy(anon.resources[1].href, "/oic/p");
    strcpy(anon.resources[2].wc, "-");
    cr_assert_eq(cmn_acl_add(acl, &anon), CMN_OK);
    cmn_ace_t crypt = {.aceid = 7,
                       .subject_kind = CMN_ACE_SUBJECT_CONNTYPE,
                       .conntype = CMN_CONNTYPE_AUTH_CRYPT,
                       .n_resources = 0,
                       .permission = 0};
    cr_assert_eq(cmn_acl_add(acl, &crypt), CMN_OK);
}

static cmn_sdi_t
s_full_sdi(void)
{
    cmn_sdi_t s = {.present = 0x07, .priv = true};
    s.uuid = s_uuid(U_ROWN);
    strcpy(s.name, "OBT security domain");
    return s;
}

static void
s_full_res(cmn_res_t *res)
{
    memset(res, 0, sizeof *res);
    cmn_link_t a = {.n_rt = 2, .n_ifs = 2, .bm = 3, .n_eps = 2};
    strcpy(a.anchor, "ocf://" U_DEV);
    strcpy(a.href, "/oic/sec/doxm");
    strcpy(a.rt[0], "oic.r.doxm");
    strcpy(a.rt[1], "oic.r.other");
    strcpy(a.ifs[0], "oic.if.baseline");
    strcpy(a.ifs[1], "oic.if.rw");
    strcpy(a.eps[0], "coaps://127.0.0.1:40002");
    strcpy(a.eps[1], "coap://[::1]:40001");
    cr_assert_eq(cmn_res_add(res, &a), CMN_OK);
    cmn_link_t b = {.n_rt = 1, .n_ifs = 1, .bm = 0, .n_eps = 0};
    strcpy(b.anchor, "ocf://" U_OWNER);
    strcpy(b.href, "/oic/d");
    strcpy(b.rt[0], "oic.wk.d");
    strcpy(b.ifs[0], "oic.if.r");
    cr_assert_eq(cmn_res_add(res, &b), CMN_OK);
}

static cmn_d_t
s_full_d(void)
{
    cmn_d_t d = {.n_rt = 2};
    d.di = s_uuid(U_DEV);
    d.piid = s_uuid(U_OWNER);
    strcpy(d.n, "OBT DOTS");
    strcpy(d.icv, "ocf.2.2.5");
    strcpy(d.dmv, "ocf.res.1.3.0,ocf.sh.1.3.0");
    strcpy(d.rt[0], "oic.wk.d");
    strcpy(d.rt[1], "oic.d.dots");
    return d;
}

/* Valid encodings of every resource, for the malformed-input tests. */
typedef struct {
    const char *name;
    s_decode_fn decode;
    bool is_array; /* /oic/res is an array, the others maps */
    s_buf_t valid;
} s_codec_t;

static size_t
s_codecs(s_codec_t out[7])
{
    size_t n = 0;
    cmn_doxm_t doxm = s_full_doxm();
    out[n] = (s_codec_t){"doxm", obt_svr_dec_doxm, false, {0}};
    cr_assert_eq(cmn_doxm_encode(&doxm, &out[n].valid.buf, &out[n].valid.len), CMN_OK);
    n++;
    cmn_pstat_t pstat = s_full_pstat();
    out[n] = (s_codec_t){"pstat", obt_svr_dec_pstat, false, {0}};
    cr_assert_eq(cmn_pstat_encode(&pstat, &out[n].valid.buf, &out[n].valid.len), CMN_OK);
    n++;
    cmn_creds_t creds;
    s_full_creds(&creds);
    out[n] = (s_codec_t){"cred", obt_svr_dec_creds, false, {0}};
    cr_assert_eq(cmn_creds_encode(&creds, &out[n].valid.buf, &out[n].valid.len), CMN_OK);
    cmn_creds_free(&creds);
    n++;
    cmn_acl_t acl;
    s_full_acl(&acl);
    out[n] = (s_codec_t){"acl2", obt_svr_dec_acl, false, {0}};
    cr_assert_eq(cmn_acl_encode(&acl, &out[n].valid.buf, &out[n].valid.len), CMN_OK);
    cmn_acl_free(&acl);
    n++;
    cmn_sdi_t sdi = s_full_sdi();
    out[n] = (s_codec_t){"sdi", obt_svr_dec_sdi, false, {0}};
    cr_assert_eq(cmn_sdi_encode(&sdi, &out[n].valid.buf, &out[n].valid.len), CMN_OK);
    n++;
    cmn_res_t res;
    s_full_res(&res);
    out[n] = (s_codec_t){"res", obt_svr_dec_res, true, {0}};
    cr_assert_eq(cmn_res_encode(&res, &out[n].valid.buf, &out[n].valid.len), CMN_OK);
    cmn_res_free(&res);
    n++;
    cmn_d_t d = s_full_d();
    out[n] = (s_codec_t){"d", obt_svr_dec_d, false, {0}};
    cr_assert_eq(cmn_d_encode(&d, &out[n].valid.buf, &out[n].valid.len), CMN_OK);
    n++;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(out[i].decode(out[i].valid.buf, out[i].valid.len), CMN_OK, "%s sample",
                     out[i].name);
    }
    return n;
}

static void
s_codecs_free(s_codec_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].valid.buf);
    }
}

/* ---------------------------------------------------------------- doxm */

static void
s_doxm_roundtrip_keeps_every_field(void)
{
    cmn_doxm_t in = s_full_doxm();
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_doxm_encode(&in, &buf, &len), CMN_OK);
    cmn_doxm_t out;
    memset(&out, 0xA5, sizeof out);
    cr_assert_eq(cmn_doxm_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.present, 0x7f);
    cr_assert_eq(out.n_unknown, 0);
    cr_assert_eq(out.n_oxms, 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(out.oxms[i], in.oxms[i], "oxms[%zu]", i);
    }
    cr_assert_eq(out.oxmsel, 0xFF00);
    cr_assert_eq(out.sct, 9);
    cr_assert_eq(out.owned, true);
    s_assert_uuid(&out.deviceuuid, U_DEV);
    s_assert_uuid(&out.devowneruuid, U_OWNER);
    s_assert_uuid(&out.rowneruuid, U_ROWN);
}

static void
s_doxm_encodes_only_present_properties(void)
{
    cmn_doxm_t in = s_full_doxm();
    in.present = CMN_DOXM_HAS_OWNED | CMN_DOXM_HAS_OXMSEL;
    in.owned = false;
    in.oxmsel = 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_doxm_encode(&in, &buf, &len), CMN_OK);
    struct cbor_load_result lr;
    cbor_item_t *item = cbor_load(buf, len, &lr);
    cr_assert_not_null(item);
    cr_assert(cbor_isa_map(item));
    cr_assert_eq(cbor_map_size(item), 2);
    cbor_decref(&item);

    cmn_doxm_t out;
    cr_assert_eq(cmn_doxm_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.present, CMN_DOXM_HAS_OWNED | CMN_DOXM_HAS_OXMSEL);
    cr_assert_eq(out.owned, false);
    cr_assert_eq(out.oxmsel, 0);
    cr_assert_eq(out.n_oxms, 0);
    cr_assert(cmn_uuid_is_nil(&out.deviceuuid));

    /* nothing present: an empty map */
    in.present = 0;
    cr_assert_eq(cmn_doxm_encode(&in, &buf, &len), CMN_OK);
    cr_assert_eq(cmn_doxm_decode(buf, len, &out), CMN_OK);
    cr_assert_eq(out.present, 0);
    free(buf);
}

Test(cmn_svr, doxm_roundtrip_keeps_every_field_and_only_present_ones)
{
    s_doxm_roundtrip_keeps_every_field();
    s_doxm_encodes_only_present_properties();
}

static void
s_doxm_counts_unknown_and_ignores_baseline(void)
{
    cbor_item_t *m = s_map();
    s_kv(m, "rt", s_push(s_arr(), s_str("oic.r.doxm")));
    s_kv(m, "if", s_push(s_arr(), s_str("oic.if.baseline")));
    s_kv(m, "n", s_str("name"));
    s_kv(m, "id", s_str("x"));
    s_kv(m, "owned", s_bool(true));
    s_kv(m, "foo", s_uint(1));
    s_kv(m, "bar", s_map());
    s_buf_t b = s_ser(m);
    cmn_doxm_t out;
    cr_assert_eq(cmn_doxm_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    cr_assert_eq(out.present, CMN_DOXM_HAS_OWNED);
    cr_assert_eq(out.owned, true);
    cr_assert_eq(out.n_unknown, 2);
}

static void
s_doxm_validates_ranges_and_types(void)
{
    s_assert_ok(obt_svr_dec_doxm, s_one("oxmsel", s_uint(0xFFFF)), "oxmsel 0xFFFF");
    s_assert_eproto(obt_svr_dec_doxm, s_one("oxmsel", s_uint(0x10000)), "oxmsel 0x10000");
    s_assert_eproto(obt_svr_dec_doxm, s_one("oxmsel", s_neg(0)), "oxmsel -1");
    s_assert_eproto(obt_svr_dec_doxm, s_one("oxmsel", s_str("0")), "oxmsel text");
    s_assert_ok(obt_svr_dec_doxm, s_one("sct", s_uint(511)), "sct 511");
    s_assert_eproto(obt_svr_dec_doxm, s_one("sct", s_uint(512)), "sct 512");
    s_assert_eproto(obt_svr_dec_doxm, s_one("sct", s_bool(true)), "sct bool");
    s_assert_eproto(obt_svr_dec_doxm, s_one("owned", s_uint(1)), "owned int");
    s_assert_eproto(obt_svr_dec_doxm, s_one("owned", s_str("true")), "owned text");
    s_assert_eproto(obt_svr_dec_doxm, s_one("oxms", s_uint(0)), "oxms int");
    s_assert_eproto(obt_svr_dec_doxm, s_one("oxms", s_push(s_arr(), s_str("0"))), "oxms [text]");
    s_assert_eproto(obt_svr_dec_doxm, s_one("oxms", s_push(s_arr(), s_uint(0x10000))),
                    "oxms [big]");
    s_assert_ok(obt_svr_dec_doxm, s_one("oxms", s_arr()), "oxms []");

    cbor_item_t *eight = s_arr(), *nine = s_arr();
    for (int i = 0; i < 9; i++) {
        if (i < 8) {
            s_push(eight, s_uint((uint64_t) i));
        }
        s_push(nine, s_uint((uint64_t) i));
    }
    s_buf_t b8 = s_one("oxms", eight);
    cmn_doxm_t out;
    cr_assert_eq(cmn_doxm_decode(b8.buf, b8.len, &out), CMN_OK);
    cr_assert_eq(out.n_oxms, 8);
    cr_assert_eq(out.oxms[7], 7);
    free(b8.buf);
    s_assert_eproto(obt_svr_dec_doxm, s_one("oxms", nine), "9 oxms");

    /* a key that is not a text string */
    s_assert_eproto(obt_svr_dec_doxm, s_ser(s_kv_item(s_map(), s_uint(1), s_bool(true))),
                    "int key");
}

Test(cmn_svr, doxm_validates_ranges_types_and_counts_unknown)
{
    s_doxm_validates_ranges_and_types();
    s_doxm_counts_unknown_and_ignores_baseline();
}

/* UUID text is checked both ways for every UUID property of every resource. */
typedef struct {
    const char *text;
    bool ok;
} s_uuid_case_t;

static const s_uuid_case_t s_uuid_cases[] = {
        {U_DEV, true},
        {U_UPPER, true},
        {"00000000-0000-0000-0000-000000000000", true},
        {"", false},
        {"11111111-2222-4333-8444-55555555555", false},   /* 35 chars */
        {"11111111-2222-4333-8444-5555555555555", false}, /* 37 chars */
        {"11111111-2222-4333-8444-55555555555g", false},  /* not hex */
        {"111111112-222-4333-8444-555555555555", false},  /* hyphen moved */
        {"11111111_2222_4333_8444_555555555555", false},
        {"*", false}, /* only cred subjects take a wildcard */
};

static void
s_check_uuid_prop(s_decode_fn fn, const char *key)
{
    for (size_t i = 0; i < sizeof s_uuid_cases / sizeof s_uuid_cases[0]; i++) {
        const s_uuid_case_t *c = &s_uuid_cases[i];
        s_buf_t b = s_one(key, s_str(c->text));
        cmn_err_t err = fn(b.buf, b.len);
        cr_assert_eq(err, c->ok ? CMN_OK : CMN_EPROTO, "%s=\"%s\": %s", key, c->text,
                     cmn_errname(err));
        free(b.buf);
    }
    s_assert_eproto(fn, s_one(key, s_bytes(s_psk, 16)), "uuid as 16 raw bytes");
    s_assert_eproto(fn, s_one(key, s_uint(1)), "uuid as int");
    /* A deployed OBT sends the 36 characters and their C terminator (37 bytes). */
    s_assert_ok(fn, s_one(key, s_strn(U_DEV, 37)), "uuid with one trailing NUL");
    s_assert_eproto(fn, s_one(key, s_strn(U_DEV "\0", 38)), "uuid with two trailing NULs");
    s_assert_eproto(fn,
                    s_one(key, s_strn("11111111-2222-4333-8444-55555555555\0"
                                      "5",
                                      37)),
                    "NUL inside the uuid");
    s_assert_eproto(fn, s_one(key, s_strn("\0", 1)), "a lone NUL");
}

Test(cmn_svr, uuid_properties_are_validated_everywhere)
{
    s_check_uuid_prop(obt_svr_dec_doxm, "deviceuuid");
    s_check_uuid_prop(obt_svr_dec_doxm, "devowneruuid");
    s_check_uuid_prop(obt_svr_dec_doxm, "rowneruuid");
    s_check_uuid_prop(obt_svr_dec_pstat, "rowneruuid");
    s_check_uuid_prop(obt_svr_dec_creds, "rowneruuid");
    s_check_uuid_prop(obt_svr_dec_acl, "rowneruuid");
    s_check_uuid_prop(obt_svr_dec_sdi, "uuid");
    s_check_uuid_prop(obt_svr_dec_d, "di");
    s_check_uuid_prop(obt_svr_dec_d, "piid");

    /* either case parses to the same bytes */
    s_buf_t b = s_one("deviceuuid", s_str(U_UPPER));
    cmn_doxm_t out;
    cr_assert_eq(cmn_doxm_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    char lower[] = U_UPPER;
    for (char *p = lower; *p; p++) {
        *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    }
    s_assert_uuid(&out.deviceuuid, lower);

    /* the 37-byte form decodes to the same UUID */
    b = s_one("deviceuuid", s_strn(U_DEV, 37));
    cr_assert_eq(cmn_doxm_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    s_assert_uuid(&out.deviceuuid, U_DEV);
}

/* ---------------------------------------------------------------- pstat */

static void
s_pstat_roundtrip_keeps_every_field(void)
{
    cmn_pstat_t in = s_full_pstat();
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_pstat_encode(&in, &buf, &len), CMN_OK);
    cmn_pstat_t out;
    memset(&out, 0xA5, sizeof out);
    cr_assert_eq(cmn_pstat_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.present, 0xff);
    cr_assert_eq(out.n_unknown, 0);
    cr_assert_eq(out.dos_s, CMN_DOS_SRESET);
    cr_assert_eq(out.dos_p, true);
    cr_assert_eq(out.isop, true);
    cr_assert_eq(out.cm, 511);
    cr_assert_eq(out.tm, 34);
    cr_assert_eq(out.om, 7);
    cr_assert_eq(out.sm, 4);
    s_assert_uuid(&out.rowneruuid, U_ROWN);
}

/* A POST {dos:{s:2}} must not carry the read-only dos.p. */
static void
s_pstat_dos_without_dos_p_writes_only_s(void)
{
    cmn_pstat_t in = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_RFPRO, .dos_p = true};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_pstat_encode(&in, &buf, &len), CMN_OK);
    /* {"dos": {"s": 2}} and nothing else */
    struct cbor_load_result lr;
    cbor_item_t *root = cbor_load(buf, len, &lr);
    cr_assert_not_null(root);
    cr_assert_eq(cbor_map_size(root), 1);
    const struct cbor_pair *top = cbor_map_handle(root);
    cr_assert_eq(cbor_string_length(top->key), 3);
    cr_assert_eq(memcmp(cbor_string_handle(top->key), "dos", 3), 0);
    cr_assert(cbor_isa_map(top->value));
    cr_assert_eq(cbor_map_size(top->value), 1, "dos.p written without CMN_PSTAT_HAS_DOS_P");
    const struct cbor_pair *dos = cbor_map_handle(top->value);
    cr_assert_eq(cbor_string_length(dos->key), 1);
    cr_assert_eq(cbor_string_handle(dos->key)[0], 's');
    cr_assert_eq(cbor_get_int(dos->value), CMN_DOS_RFPRO);
    cbor_decref(&root);
    cmn_pstat_t out;
    cr_assert_eq(cmn_pstat_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.present, CMN_PSTAT_HAS_DOS);
    cr_assert_eq(out.dos_s, CMN_DOS_RFPRO);
    cr_assert_eq(out.dos_p, false);
}

Test(cmn_svr, pstat_validates_ranges_and_types)
{
    for (int64_t s = 0; s < CMN_DOS_COUNT; s++) {
        s_assert_ok(obt_svr_dec_pstat, s_one("dos", s_kv(s_map(), "s", s_uint((uint64_t) s))),
                    "dos.s");
    }
    s_assert_eproto(obt_svr_dec_pstat, s_one("dos", s_kv(s_map(), "s", s_uint(5))), "dos.s 5");
    s_assert_eproto(obt_svr_dec_pstat, s_one("dos", s_kv(s_map(), "s", s_neg(0))), "dos.s -1");
    s_assert_eproto(obt_svr_dec_pstat, s_one("dos", s_kv(s_map(), "p", s_uint(0))), "dos.p int");
    s_assert_eproto(obt_svr_dec_pstat, s_one("dos", s_uint(1)), "dos int");
    s_assert_eproto(obt_svr_dec_pstat, s_one("isop", s_uint(0)), "isop int");
    s_assert_ok(obt_svr_dec_pstat, s_one("cm", s_uint(511)), "cm 511");
    s_assert_eproto(obt_svr_dec_pstat, s_one("cm", s_uint(512)), "cm 512");
    s_assert_ok(obt_svr_dec_pstat, s_one("tm", s_uint(0)), "tm 0");
    s_assert_eproto(obt_svr_dec_pstat, s_one("tm", s_neg(0)), "tm -1");
    s_assert_ok(obt_svr_dec_pstat, s_one("om", s_uint(7)), "om 7");
    s_assert_eproto(obt_svr_dec_pstat, s_one("om", s_uint(8)), "om 8");
    s_assert_ok(obt_svr_dec_pstat, s_one("sm", s_uint(7)), "sm 7");
    s_assert_eproto(obt_svr_dec_pstat, s_one("sm", s_uint(8)), "sm 8");
    s_assert_eproto(obt_svr_dec_pstat, s_one("sm", s_str("4")), "sm text");
    s_assert_eproto(obt_svr_dec_pstat, s_ser(s_kv_item(s_map(), s_bool(true), s_uint(1))),
                    "bool key");

    /* unknown inside dos and at the top level are counted; baseline is not */
    cbor_item_t *m = s_map();
    s_kv(m, "dos", s_kv(s_kv(s_map(), "s", s_uint(1)), "x", s_uint(0)));
    s_kv(m, "rt", s_push(s_arr(), s_str("oic.r.pstat")));
    s_kv(m, "zz", s_uint(0));
    s_buf_t b = s_ser(m);
    cmn_pstat_t out;
    cr_assert_eq(cmn_pstat_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    cr_assert_eq(out.n_unknown, 2);
    cr_assert_eq(out.present, CMN_PSTAT_HAS_DOS);
    cr_assert_eq(out.dos_s, CMN_DOS_RFOTM);
}

static void
s_dos_names(void)
{
    cr_assert_str_eq(cmn_dos_name(CMN_DOS_RESET), "RESET");
    cr_assert_str_eq(cmn_dos_name(CMN_DOS_RFOTM), "RFOTM");
    cr_assert_str_eq(cmn_dos_name(CMN_DOS_RFPRO), "RFPRO");
    cr_assert_str_eq(cmn_dos_name(CMN_DOS_RFNOP), "RFNOP");
    cr_assert_str_eq(cmn_dos_name(CMN_DOS_SRESET), "SRESET");
    cr_assert_str_eq(cmn_dos_name(CMN_DOS_COUNT), "?");
    cr_assert_str_eq(cmn_dos_name(-1), "?");
    cr_assert_str_eq(cmn_dos_name(INT64_MIN), "?");
}

Test(cmn_svr, pstat_roundtrip_dos_p_only_when_asked_and_names)
{
    s_pstat_roundtrip_keeps_every_field();
    s_pstat_dos_without_dos_p_writes_only_s();
    s_dos_names();
}

/* ---------------------------------------------------------------- cred */

static void
s_creds_roundtrip_keeps_every_field(void)
{
    cmn_creds_t in;
    s_full_creds(&in);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_creds_encode(&in, &buf, &len), CMN_OK);
    cmn_creds_t out;
    cr_assert_eq(cmn_creds_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.present, CMN_CREDS_HAS_CREDS | CMN_CREDS_HAS_ROWNERUUID);
    cr_assert_eq(out.n_unknown, 0);
    s_assert_uuid(&out.rowneruuid, U_ROWN);
    cr_assert_eq(out.n_creds, 2);

    const cmn_cred_t *p = &out.creds[0];
    cr_assert_eq(p->present, in.creds[0].present);
    cr_assert_eq(p->credid, 1);
    cr_assert_eq(p->credtype, CMN_CREDTYPE_PSK);
    cr_assert_not(p->subject_is_wildcard);
    s_assert_uuid(&p->subjectuuid, U_OWNER);
    cr_assert_str_eq(p->credusage, "");
    cr_assert_null(p->pub_data);
    cr_assert_eq(p->priv_len, sizeof s_psk);
    cr_assert_eq(memcmp(p->priv_data, s_psk, sizeof s_psk), 0);
    cr_assert_not(p->priv_is_text);
    cr_assert_str_eq(p->priv_encoding, CMN_ENC_RAW);

    const cmn_cred_t *c = &out.creds[1];
    cr_assert_eq(c->present, in.creds[1].present);
    cr_assert_eq(c->credid, INT32_MAX);
    cr_assert_eq(c->credtype, CMN_CREDTYPE_CERT);
    cr_assert(c->subject_is_wildcard);
    cr_assert_str_eq(c->credusage, "oic.sec.cred.mfgtrustca");
    cr_assert_eq(c->pub_len, strlen(s_pem));
    cr_assert_eq(memcmp(c->pub_data, s_pem, c->pub_len), 0);
    cr_assert_str_eq(c->pub_encoding, CMN_ENC_PEM);
    cr_assert_null(c->priv_data);
    cmn_creds_free(&in);
    cmn_creds_free(&out);
}

static void
s_creds_pem_as_text_raw_as_bytes_and_default_encoding(void)
{
    cmn_creds_t in;
    s_full_creds(&in);
    in.creds[0].priv_encoding[0] = '\0'; /* default: raw */
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_creds_encode(&in, &buf, &len), CMN_OK);
    struct cbor_load_result lr;
    cbor_item_t *root = cbor_load(buf, len, &lr);
    cr_assert_not_null(root);
    cmn_creds_t out;
    cr_assert_eq(cmn_creds_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_str_eq(out.creds[0].priv_encoding, CMN_ENC_RAW);

    /* find creds[i].privatedata.data / publicdata.data and check their major types */
    const cbor_item_t *creds = NULL;
    for (size_t i = 0; i < cbor_map_size(root); i++) {
        const struct cbor_pair *kv = &cbor_map_handle(root)[i];
        if (cbor_string_length(kv->key) == 5 &&
            memcmp(cbor_string_handle(kv->key), "creds", 5) == 0) {
            creds = kv->value;
        }
    }
    cr_assert_not_null(creds);
    cr_assert_eq(cbor_array_size(creds), 2);
    int found = 0;
    for (size_t i = 0; i < 2; i++) {
        const cbor_item_t *cred = cbor_array_handle(creds)[i];
        for (size_t j = 0; j < cbor_map_size(cred); j++) {
            const struct cbor_pair *kv = &cbor_map_handle(cred)[j];
            bool is_priv = cbor_string_length(kv->key) == 11 &&
                           memcmp(cbor_string_handle(kv->key), "privatedata", 11) == 0;
            bool is_pub = cbor_string_length(kv->key) == 10 &&
                          memcmp(cbor_string_handle(kv->key), "publicdata", 10) == 0;
            if (!is_priv && !is_pub) {
                continue;
            }
            const cbor_item_t *data = NULL;
            for (size_t k = 0; k < cbor_map_size(kv->value); k++) {
                const struct cbor_pair *d = &cbor_map_handle(kv->value)[k];
                if (cbor_string_length(d->key) == 4 &&
                    memcmp(cbor_string_handle(d->key), "data", 4) == 0) {
                    data = d->value;
                }
            }
            cr_assert_not_null(data);
            if (is_priv) {
                cr_assert(cbor_isa_bytestring(data), "raw privatedata must be a byte string");
            } else {
                cr_assert(cbor_isa_string(data), "PEM publicdata must be a text string");
            }
            found++;
        }
    }
    cr_assert_eq(found, 2);
    cbor_decref(&root);
    cmn_creds_free(&in);
    cmn_creds_free(&out);
}

Test(cmn_svr, creds_roundtrip_keeps_every_field_and_data_types)
{
    s_creds_roundtrip_keeps_every_field();
    s_creds_pem_as_text_raw_as_bytes_and_default_encoding();
}

/* Issue 9: binary publicdata labelled PEM (a DER, bytes that are not UTF-8) was
 * written as a CBOR text string, which libcbor then refused to load. It goes out as
 * a byte string and reads back with its bytes and its encoding. */
Test(cmn_svr, creds_binary_publicdata_labelled_pem_roundtrips)
{
    static const uint8_t der[] = {0x30, 0x82, 0x01, 0x0a, 0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28};
    cmn_creds_t in;
    memset(&in, 0, sizeof in);
    in.present = CMN_CREDS_HAS_CREDS;
    cmn_cred_t c = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_PUBLICDATA,
                    .credtype = CMN_CREDTYPE_CERT,
                    .pub_data = (uint8_t *) (uintptr_t) der,
                    .pub_len = sizeof der};
    strcpy(c.pub_encoding, CMN_ENC_PEM);
    cr_assert_eq(cmn_creds_add(&in, &c), CMN_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_creds_encode(&in, &buf, &len), CMN_OK);
    cmn_creds_t out;
    cr_assert_eq(cmn_creds_decode(buf, len, &out), CMN_OK, "own encoding must decode");
    free(buf);
    cr_assert_eq(out.n_creds, 1);
    cr_assert_eq(out.creds[0].pub_len, sizeof der);
    cr_assert_eq(memcmp(out.creds[0].pub_data, der, sizeof der), 0);
    cr_assert_str_eq(out.creds[0].pub_encoding, CMN_ENC_PEM);
    cmn_creds_free(&in);
    cmn_creds_free(&out);
}

/* /oic/sec/roles: the same entries under "roles"; a cred payload is no roles payload
 * (its "creds" is an unknown property there) and the reverse. */
Test(cmn_svr, roles_roundtrip_under_their_own_key)
{
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    cmn_cred_t c = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_CREDUSAGE |
                               CMN_CRED_HAS_PUBLICDATA | CMN_CRED_HAS_CREDID,
                    .credid = 3,
                    .credtype = CMN_CREDTYPE_CERT,
                    .credusage = CMN_CRED_USAGE_ROLECERT,
                    .pub_data = (uint8_t *) (uintptr_t) pem,
                    .pub_len = sizeof pem - 1,
                    .pub_encoding = CMN_ENC_PEM};
    cmn_creds_t in = {.present = CMN_CREDS_HAS_CREDS, .creds = &c, .n_creds = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_roles_encode(&in, &buf, &len), CMN_OK);
    cr_assert(obt_mem_contains(buf, len, "roles"));
    cmn_creds_t out;
    cr_assert_eq(cmn_roles_decode(buf, len, &out), CMN_OK);
    cr_assert_eq(out.n_creds, 1);
    cr_expect_eq(out.creds[0].credid, 3);
    cr_expect_str_eq(out.creds[0].credusage, CMN_CRED_USAGE_ROLECERT);
    cr_expect_eq(out.creds[0].pub_len, sizeof pem - 1);
    cmn_creds_free(&out);
    cr_assert_eq(cmn_creds_decode(buf, len, &out), CMN_OK);
    cr_expect_eq(out.n_creds, 0);
    cr_expect_eq(out.n_unknown, 1);
    cmn_creds_free(&out);
    free(buf);
}

Test(cmn_svr, creds_oscore_map_roundtrips)
{
    uint8_t secret[32] = {1, 2, 3};
    cmn_creds_t in;
    memset(&in, 0, sizeof in);
    in.present = CMN_CREDS_HAS_CREDS;
    cmn_cred_t c = {.present =
                            CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_PRIVATEDATA | CMN_CRED_HAS_OSCORE,
                    .credtype = CMN_CREDTYPE_OSCORE,
                    .priv_data = secret,
                    .priv_len = sizeof secret,
                    .senderid = "01a2b3c4d5e6f7",
                    .recipientid = "0100000000002a"};
    cr_assert_eq(cmn_creds_add(&in, &c), CMN_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_creds_encode(&in, &buf, &len), CMN_OK);
    cmn_creds_t out;
    cr_assert_eq(cmn_creds_decode(buf, len, &out), CMN_OK, "own encoding must decode");
    cr_assert_eq(out.n_creds, 1);
    cr_assert(out.creds[0].present & CMN_CRED_HAS_OSCORE);
    cr_assert_str_eq(out.creds[0].senderid, "01a2b3c4d5e6f7");
    cr_assert_str_eq(out.creds[0].recipientid, "0100000000002a");
    cr_assert_eq(out.creds[0].priv_len, 32);
    cmn_creds_free(&out);
    free(buf);
    cmn_creds_free(&in);
}

static void
s_creds_empty_and_text_privatedata(void)
{
    /* the owner credential: privatedata with an empty byte string */
    cbor_item_t *cred = s_map();
    s_kv(cred, "credtype", s_uint(1));
    s_kv(cred, "subjectuuid", s_str(U_OWNER));
    s_kv(cred, "privatedata",
         s_kv(s_kv(s_map(), "data", s_bytes("", 0)), "encoding", s_str(CMN_ENC_RAW)));
    cbor_item_t *text_cred = s_map();
    s_kv(text_cred, "credtype", s_uint(1));
    s_kv(text_cred, "subjectuuid", s_str("*"));
    s_kv(text_cred, "privatedata",
         s_kv(s_kv(s_kv(s_map(), "data", s_str("secret")), "encoding", s_str(CMN_ENC_RAW)),
              "handle", s_uint(0)));
    s_buf_t b = s_one("creds", s_push(s_push(s_arr(), cred), text_cred));
    cmn_creds_t out;
    cr_assert_eq(cmn_creds_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    cr_assert_eq(out.n_creds, 2);
    cr_assert(out.creds[0].present & CMN_CRED_HAS_PRIVATEDATA);
    cr_assert_eq(out.creds[0].priv_len, 0);
    cr_assert_not(out.creds[0].priv_is_text);
    cr_assert(out.creds[1].priv_is_text);
    cr_assert(out.creds[1].subject_is_wildcard);
    cr_assert_eq(out.creds[1].priv_len, 6);
    cr_assert_eq(memcmp(out.creds[1].priv_data, "secret", 6), 0);

    /* re-encoded, the empty one stays empty and the text one becomes bytes */
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_creds_encode(&out, &buf, &len), CMN_OK);
    cmn_creds_t again;
    cr_assert_eq(cmn_creds_decode(buf, len, &again), CMN_OK);
    free(buf);
    cr_assert_eq(again.creds[0].priv_len, 0);
    cr_assert(again.creds[0].present & CMN_CRED_HAS_PRIVATEDATA);
    cr_assert_eq(again.creds[1].priv_len, 6);
    cr_assert_eq(memcmp(again.creds[1].priv_data, "secret", 6), 0);
    cr_assert_not(again.creds[1].priv_is_text);
    cmn_creds_free(&out);
    cmn_creds_free(&again);
}

static s_buf_t
s_one_cred(const char *key, cbor_item_t *value)
{
    return s_one("creds", s_push(s_arr(), s_kv(s_map(), key, value)));
}

static cbor_item_t *
s_data_item(cbor_item_t *data)
{
    return s_kv(s_kv(s_map(), "data", data), "encoding", s_str(CMN_ENC_RAW));
}

static void
s_creds_validates_entries(void)
{
    s_assert_ok(obt_svr_dec_creds, s_one_cred("credid", s_uint(INT32_MAX)), "credid max");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("credid", s_uint((uint64_t) INT32_MAX + 1)),
                    "credid over");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("credid", s_neg(0)), "credid -1");
    s_assert_ok(obt_svr_dec_creds, s_one_cred("credtype", s_uint(511)), "credtype 511");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("credtype", s_uint(512)), "credtype 512");
    s_assert_ok(obt_svr_dec_creds, s_one_cred("subjectuuid", s_str("*")), "wildcard");
    s_assert_ok(obt_svr_dec_creds, s_one_cred("subjectuuid", s_strn(U_OWNER, 37)),
                "subjectuuid with its trailing NUL");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("subjectuuid", s_strn(U_OWNER "\0", 38)),
                    "subjectuuid with two NULs");
    s_assert_ok(obt_svr_dec_creds, s_one_cred("subjectuuid", s_str(U_UPPER)), "upper uuid");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("subjectuuid", s_str("**")), "**");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("subjectuuid", s_str("")), "empty subject");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("subjectuuid", s_str(U_DEV "0")), "37 chars");
    s_assert_ok(obt_svr_dec_creds,
                s_one_cred("credusage", s_str("123456789012345678901234567890123456789")),
                "credusage 39");
    s_assert_eproto(obt_svr_dec_creds,
                    s_one_cred("credusage", s_str("1234567890123456789012345678901234567890")),
                    "credusage 40");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("privatedata", s_bytes("x", 1)),
                    "data not a map");
    s_assert_eproto(obt_svr_dec_creds, s_one_cred("privatedata", s_data_item(s_uint(1))),
                    "data int");
    s_assert_eproto(
            obt_svr_dec_creds,
            s_one_cred("privatedata", s_kv(s_data_item(s_bytes("x", 1)), "bogus", s_uint(0))),
            "unknown key in privatedata");
    s_assert_eproto(
            obt_svr_dec_creds,
            s_one_cred("privatedata", s_kv(s_data_item(s_bytes("x", 1)), "data", s_bytes("y", 1))),
            "data twice");
    s_assert_eproto(obt_svr_dec_creds,
                    s_one_cred("publicdata", s_kv(s_map(), "encoding", s_uint(1))), "encoding int");
    s_assert_ok(obt_svr_dec_creds,
                s_one_cred("publicdata", s_kv(s_map(), "revstat", s_bool(false))),
                "revstat skipped");

    static uint8_t big[CMN_CRED_MAX_DATA + 1];
    s_assert_ok(obt_svr_dec_creds,
                s_one_cred("privatedata", s_data_item(s_bytes(big, CMN_CRED_MAX_DATA))),
                "max data");
    s_assert_eproto(obt_svr_dec_creds,
                    s_one_cred("privatedata", s_data_item(s_bytes(big, CMN_CRED_MAX_DATA + 1))),
                    "data too big");
    /* an entry that is not a map, a creds that is not an array, a creds given twice */
    s_assert_eproto(obt_svr_dec_creds, s_one("creds", s_push(s_arr(), s_uint(1))), "entry int");
    s_assert_eproto(obt_svr_dec_creds, s_one("creds", s_map()), "creds map");
    cbor_item_t *twice = s_map();
    s_kv(twice, "creds", s_arr());
    s_kv(twice, "creds", s_arr());
    s_assert_eproto(obt_svr_dec_creds, s_ser(twice), "creds twice");
    s_assert_eproto(obt_svr_dec_creds,
                    s_one("creds", s_push(s_arr(), s_kv_item(s_map(), s_uint(1), s_uint(1)))),
                    "int key in entry");

    cbor_item_t *a64 = s_arr(), *a65 = s_arr();
    for (int i = 0; i < 65; i++) {
        if (i < 64) {
            s_push(a64, s_kv(s_map(), "credid", s_uint((uint64_t) i)));
        }
        s_push(a65, s_kv(s_map(), "credid", s_uint((uint64_t) i)));
    }
    s_assert_ok(obt_svr_dec_creds, s_one("creds", a64), "64 creds");
    s_assert_eproto(obt_svr_dec_creds, s_one("creds", a65), "65 creds");
}

static void
s_creds_error_after_allocations_leaks_nothing(void)
{
    /* two good entries with data, then a bad one: the copies must be freed (ASan) */
    cbor_item_t *arr = s_arr();
    for (int i = 0; i < 2; i++) {
        cbor_item_t *c = s_map();
        s_kv(c, "publicdata", s_data_item(s_bytes(s_psk, 16)));
        s_kv(c, "privatedata", s_data_item(s_bytes(s_psk, 16)));
        s_push(arr, c);
    }
    cbor_item_t *bad = s_map();
    s_kv(bad, "privatedata", s_data_item(s_bytes(s_psk, 16)));
    s_kv(bad, "credtype", s_str("psk"));
    s_push(arr, bad);
    cmn_creds_t out;
    memset(&out, 0x5A, sizeof out);
    cmn_creds_t before = out;
    s_buf_t b = s_one("creds", arr);
    cr_assert_eq(cmn_creds_decode(b.buf, b.len, &out), CMN_EPROTO);
    free(b.buf);
    cr_assert_eq(memcmp(&out, &before, sizeof out), 0, "ret written on failure");
}

Test(cmn_svr, creds_validates_entries_and_frees_partial_results)
{
    s_creds_validates_entries();
    s_creds_error_after_allocations_leaks_nothing();
}

static void
s_creds_add_copies_and_remove_moves_the_last(void)
{
    cmn_creds_t cs = {0};
    uint8_t key[3][16];
    for (int i = 0; i < 3; i++) {
        memset(key[i], 'a' + i, 16);
        cmn_cred_t c = {.present = CMN_CRED_HAS_CREDID | CMN_CRED_HAS_PRIVATEDATA,
                        .credid = 10 + i,
                        .priv_data = key[i],
                        .priv_len = 16};
        cr_assert_eq(cmn_creds_add(&cs, &c), CMN_OK);
    }
    /* deep copy: the caller's buffer is not referenced */
    memset(key[0], 0, 16);
    cr_assert_neq(cs.creds[0].priv_data, key[0]);
    cr_assert_eq(cs.creds[0].priv_data[0], 'a');
    cr_assert_eq(cs.n_creds, 3);

    cmn_creds_remove(&cs, 3); /* out of range: nothing */
    cr_assert_eq(cs.n_creds, 3);
    cmn_creds_remove(&cs, 0);
    cr_assert_eq(cs.n_creds, 2);
    cr_assert_eq(cs.creds[0].credid, 12, "the last entry moves into the hole");
    cr_assert_eq(cs.creds[0].priv_data[0], 'c');
    cr_assert_eq(cs.creds[1].credid, 11);
    cmn_creds_remove(&cs, 1); /* the last one */
    cr_assert_eq(cs.n_creds, 1);
    cr_assert_eq(cs.creds[0].credid, 12);
    cr_assert_eq(cs.creds[0].priv_data[15], 'c');
    cmn_creds_remove(&cs, 0);
    cr_assert_eq(cs.n_creds, 0);
    cmn_creds_remove(&cs, 0);
    cr_assert_eq(cs.n_creds, 0);

    /* usable after removals, and free leaves it zeroed */
    cmn_cred_t c = {.present = CMN_CRED_HAS_CREDID, .credid = 99};
    cr_assert_eq(cmn_creds_add(&cs, &c), CMN_OK);
    cr_assert_eq(cs.n_creds, 1);
    cr_assert_eq(cs.creds[0].credid, 99);
    cr_assert_null(cs.creds[0].priv_data);
    cmn_creds_free(&cs);
    cr_assert_null(cs.creds);
    cr_assert_eq(cs.n_creds, 0);
    cr_assert_eq(cs.present, 0);
}

Test(cmn_svr, creds_empty_text_data_and_add_remove)
{
    s_creds_empty_and_text_privatedata();
    s_creds_add_copies_and_remove_moves_the_last();
}

/* ---------------------------------------------------------------- acl2 */

static void
s_acl_roundtrip_keeps_every_field(void)
{
    cmn_acl_t in;
    s_full_acl(&in);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_acl_encode(&in, &buf, &len), CMN_OK);
    cmn_acl_t out;
    cr_assert_eq(cmn_acl_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.present, CMN_ACL_HAS_ACLIST2 | CMN_ACL_HAS_ROWNERUUID);
    cr_assert_eq(out.n_unknown, 0);
    s_assert_uuid(&out.rowneruuid, U_ROWN);
    cr_assert_eq(out.n_aces, in.n_aces);
    for (size_t i = 0; i < in.n_aces; i++) {
        const cmn_ace_t *a = &in.aces[i], *b = &out.aces[i];
        cr_assert_eq(b->aceid, a->aceid, "ace %zu", i);
        cr_assert_eq(b->subject_kind, a->subject_kind, "ace %zu", i);
        cr_assert_eq(b->permission, a->permission, "ace %zu", i);
        cr_assert_eq(b->n_resources, a->n_resources, "ace %zu", i);
        for (size_t r = 0; r < a->n_resources; r++) {
            cr_assert_str_eq(b->resources[r].href, a->resources[r].href, "ace %zu res %zu", i, r);
            cr_assert_str_eq(b->resources[r].wc, a->resources[r].wc, "ace %zu res %zu", i, r);
        }
    }
    s_assert_uuid(&out.aces[0].subject_uuid, U_OWNER);
    cr_assert_str_eq(out.aces[1].role, "oic.role.owner");
    cr_assert_str_eq(out.aces[1].authority, "OCF");
    cr_assert_eq(out.aces[2].conntype, CMN_CONNTYPE_ANON_CLEAR);
    cr_assert_eq(out.aces[3].conntype, CMN_CONNTYPE_AUTH_CRYPT);
    cmn_acl_free(&in);
    cmn_acl_free(&out);
    cr_assert_null(out.aces);
    cr_assert_eq(out.n_aces, 0);
}

static s_buf_t
s_one_ace(cbor_item_t *ace)
{
    return s_one("aclist2", s_push(s_arr(), ace));
}

static cbor_item_t *
s_uuid_subject(void)
{
    return s_kv(s_map(), "uuid", s_str(U_OWNER));
}

static cbor_item_t *
s_ace_with(const char *key, cbor_item_t *value)
{
    cbor_item_t *ace = s_map();
    if (strcmp(key, "subject") != 0) {
        s_kv(ace, "subject", s_uuid_subject());
    }
    return s_kv(ace, key, value);
}

static cbor_item_t *
s_res_list(cbor_item_t *res)
{
    return s_push(s_arr(), res);
}

static void
s_acl_validates_subjects(void)
{
    s_assert_ok(obt_svr_dec_acl, s_one_ace(s_ace_with("subject", s_uuid_subject())),
                "uuid subject");
    s_assert_ok(obt_svr_dec_acl,
                s_one_ace(s_ace_with("subject", s_kv(s_map(), "conntype", s_str("auth-crypt")))),
                "conntype");
    s_assert_ok(obt_svr_dec_acl,
                s_one_ace(s_ace_with("subject", s_kv(s_map(), "role", s_str("r")))), "role");
    s_assert_eproto(obt_svr_dec_acl,
                    s_one_ace(s_ace_with("subject", s_kv(s_map(), "conntype", s_str("anon")))),
                    "bad conntype");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_ace_with("subject", s_map())), "empty subject");
    s_assert_eproto(obt_svr_dec_acl,
                    s_one_ace(s_ace_with("subject", s_kv(s_uuid_subject(), "role", s_str("r")))),
                    "two subjects");
    s_assert_eproto(obt_svr_dec_acl,
                    s_one_ace(s_ace_with("subject", s_kv(s_map(), "authority", s_str("a")))),
                    "authority alone");
    s_assert_eproto(obt_svr_dec_acl,
                    s_one_ace(s_ace_with("subject", s_kv(s_map(), "who", s_str("a")))),
                    "unknown subject key");
    s_assert_eproto(obt_svr_dec_acl,
                    s_one_ace(s_ace_with("subject", s_kv(s_map(), "uuid", s_str("*")))),
                    "wildcard uuid subject");
    s_assert_ok(obt_svr_dec_acl,
                s_one_ace(s_ace_with("subject", s_kv(s_map(), "uuid", s_strn(U_OWNER, 37)))),
                "uuid subject with its trailing NUL (37 bytes)");
    s_assert_eproto(
            obt_svr_dec_acl,
            s_one_ace(s_ace_with("subject", s_kv(s_map(), "uuid", s_strn(U_OWNER "\0", 38)))),
            "uuid subject with two NULs");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_ace_with("subject", s_str(U_OWNER))),
                    "subject text");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_kv(s_map(), "permission", s_uint(2))),
                    "no subject");
}

static void
s_acl_validates_ace_properties(void)
{
    s_assert_ok(obt_svr_dec_acl, s_one_ace(s_ace_with("permission", s_uint(31))), "perm 31");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_ace_with("permission", s_uint(32))), "perm 32");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_ace_with("permission", s_neg(0))), "perm -1");
    s_assert_ok(obt_svr_dec_acl, s_one_ace(s_ace_with("aceid", s_uint(1))), "aceid 1");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_ace_with("aceid", s_uint(0))), "aceid 0");
    s_assert_eproto(obt_svr_dec_acl,
                    s_one_ace(s_ace_with("aceid", s_uint((uint64_t) INT32_MAX + 1))), "aceid over");
    s_assert_eproto(obt_svr_dec_acl,
                    s_one_ace(s_kv_item(s_ace_with("permission", s_uint(2)), s_uint(0), s_uint(0))),
                    "int key in ace");
    s_assert_eproto(obt_svr_dec_acl, s_one("aclist2", s_push(s_arr(), s_arr())), "ace array");
    s_assert_eproto(obt_svr_dec_acl, s_one("aclist2", s_map()), "aclist2 map");
    cbor_item_t *twice = s_map();
    s_kv(twice, "aclist2", s_arr());
    s_kv(twice, "aclist2", s_arr());
    s_assert_eproto(obt_svr_dec_acl, s_ser(twice), "aclist2 twice");

    /* resources */
    const char *good_wc[] = {"*", "+", "-"};
    for (size_t i = 0; i < 3; i++) {
        s_assert_ok(obt_svr_dec_acl,
                    s_one_ace(s_ace_with("resources",
                                         s_res_list(s_kv(s_map(), "wc", s_str(good_wc[i]))))),
                    good_wc[i]);
    }
    s_assert_eproto(obt_svr_dec_acl,
                    s_one_ace(s_ace_with("resources", s_res_list(s_kv(s_map(), "wc", s_str("x"))))),
                    "wc x");
    s_assert_eproto(
            obt_svr_dec_acl,
            s_one_ace(s_ace_with("resources", s_res_list(s_kv(s_map(), "wc", s_str("**"))))),
            "wc **");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_ace_with("resources", s_res_list(s_map()))),
                    "neither href nor wc");
    s_assert_eproto(
            obt_svr_dec_acl,
            s_one_ace(s_ace_with("resources", s_res_list(s_kv(s_map(), "hrf", s_str("/x"))))),
            "unknown resource key");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_ace_with("resources", s_res_list(s_str("/x")))),
                    "resource text");
    s_assert_ok(obt_svr_dec_acl,
                s_one_ace(s_ace_with("resources",
                                     s_res_list(s_kv(s_kv(s_map(), "href", s_str("/x")), "if",
                                                     s_push(s_arr(), s_str("oic.if.a")))))),
                "href with if");
    s_assert_eproto(
            obt_svr_dec_acl,
            s_one_ace(s_ace_with("resources", s_res_list(s_kv(s_kv(s_map(), "href", s_str("/x")),
                                                              "rt", s_str("oic.r.x"))))),
            "rt not an array");
    char href63[64], href64[65];
    memset(href63, 'h', 63);
    href63[63] = '\0';
    memset(href64, 'h', 64);
    href64[64] = '\0';
    s_assert_ok(
            obt_svr_dec_acl,
            s_one_ace(s_ace_with("resources", s_res_list(s_kv(s_map(), "href", s_str(href63))))),
            "href 63");
    s_assert_eproto(
            obt_svr_dec_acl,
            s_one_ace(s_ace_with("resources", s_res_list(s_kv(s_map(), "href", s_str(href64))))),
            "href 64");

    cbor_item_t *r16 = s_arr(), *r17 = s_arr();
    for (int i = 0; i < 17; i++) {
        if (i < 16) {
            s_push(r16, s_kv(s_map(), "href", s_str("/a")));
        }
        s_push(r17, s_kv(s_map(), "href", s_str("/a")));
    }
    s_assert_ok(obt_svr_dec_acl, s_one_ace(s_ace_with("resources", r16)), "16 resources");
    s_assert_eproto(obt_svr_dec_acl, s_one_ace(s_ace_with("resources", r17)), "17 resources");
}

static void
s_acl_counts_and_limits_aces(void)
{
    cbor_item_t *a256 = s_arr(), *a257 = s_arr();
    for (int i = 0; i < 257; i++) {
        if (i < 256) {
            s_push(a256, s_ace_with("permission", s_uint(2)));
        }
        s_push(a257, s_ace_with("permission", s_uint(2)));
    }
    s_buf_t b = s_one("aclist2", a256);
    cmn_acl_t out;
    cr_assert_eq(cmn_acl_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    cr_assert_eq(out.n_aces, 256);
    cr_assert_eq(out.aces[255].permission, 2);
    cmn_acl_free(&out);
    s_assert_eproto(obt_svr_dec_acl, s_one("aclist2", a257), "257 aces");

    /* good aces then a bad one: the partial list is freed (ASan) and ret untouched */
    cbor_item_t *arr = s_arr();
    s_push(arr, s_ace_with("permission", s_uint(2)));
    s_push(arr, s_ace_with("permission", s_uint(2)));
    s_push(arr, s_ace_with("permission", s_uint(64)));
    cbor_item_t *m = s_kv(s_map(), "aclist2", arr);
    s_kv(m, "rt", s_push(s_arr(), s_str("oic.r.acl2")));
    b = s_ser(m);
    memset(&out, 0x5A, sizeof out);
    cmn_acl_t before = out;
    cr_assert_eq(cmn_acl_decode(b.buf, b.len, &out), CMN_EPROTO);
    free(b.buf);
    cr_assert_eq(memcmp(&out, &before, sizeof out), 0);

    m = s_kv(s_kv(s_map(), "if", s_arr()), "extra", s_uint(1));
    b = s_ser(m);
    cr_assert_eq(cmn_acl_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    cr_assert_eq(out.n_unknown, 1);
    cr_assert_eq(out.present, 0);
    cmn_acl_free(&out);
}

Test(cmn_svr, acl_validates_subjects_aces_and_limits)
{
    s_acl_validates_subjects();
    s_acl_validates_ace_properties();
    s_acl_counts_and_limits_aces();
}

static void
s_svr_href(void)
{
    cr_assert(cmn_svr_is_svr_href("/oic/sec/doxm"));
    cr_assert(cmn_svr_is_svr_href("/oic/sec/acl2"));
    cr_assert_not(cmn_svr_is_svr_href("/oic/sec"));
    cr_assert_not(cmn_svr_is_svr_href("/oic/res"));
    cr_assert_not(cmn_svr_is_svr_href("/a/light"));
    cr_assert_not(cmn_svr_is_svr_href("oic/sec/doxm"));
    cr_assert_not(cmn_svr_is_svr_href(""));
    cr_assert_not(cmn_svr_is_svr_href(NULL));
}

Test(cmn_svr, acl_roundtrip_keeps_every_field_and_svr_href)
{
    s_acl_roundtrip_keeps_every_field();
    s_svr_href();
}

/* ---------------------------------------------------------------- sdi */

Test(cmn_svr, sdi_roundtrip_and_validation)
{
    cmn_sdi_t in = s_full_sdi();
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_sdi_encode(&in, &buf, &len), CMN_OK);
    cmn_sdi_t out;
    memset(&out, 0xA5, sizeof out);
    cr_assert_eq(cmn_sdi_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.present, 0x07);
    cr_assert_eq(out.n_unknown, 0);
    s_assert_uuid(&out.uuid, U_ROWN);
    cr_assert_str_eq(out.name, "OBT security domain");
    cr_assert_eq(out.priv, true);

    /* the edge of the name buffer, an empty name, an embedded NUL */
    char name127[128], name128[129];
    memset(name127, 'n', 127);
    name127[127] = '\0';
    memset(name128, 'n', 128);
    name128[128] = '\0';
    s_buf_t b = s_one("name", s_str(name127));
    cr_assert_eq(cmn_sdi_decode(b.buf, b.len, &out), CMN_OK);
    cr_assert_str_eq(out.name, name127);
    free(b.buf);
    s_assert_eproto(obt_svr_dec_sdi, s_one("name", s_str(name128)), "name 128");
    b = s_one("name", s_str(""));
    cr_assert_eq(cmn_sdi_decode(b.buf, b.len, &out), CMN_OK);
    cr_assert_str_eq(out.name, "");
    cr_assert_eq(out.present, CMN_SDI_HAS_NAME);
    free(b.buf);
    cbor_item_t *nul = cbor_build_stringn("ab\0cd", 5);
    cr_assert_not_null(nul);
    s_assert_eproto(obt_svr_dec_sdi, s_one("name", nul), "embedded NUL");
    s_assert_eproto(obt_svr_dec_sdi, s_one("name", s_bytes("ab", 2)), "name bytes");
    s_assert_eproto(obt_svr_dec_sdi, s_one("priv", s_uint(0)), "priv int");
    s_assert_eproto(obt_svr_dec_sdi, s_ser(s_kv_item(s_map(), s_neg(3), s_bool(false))), "neg key");

    cbor_item_t *m = s_kv(s_kv(s_map(), "priv", s_bool(false)), "n", s_str("x"));
    s_kv(m, "other", s_bool(true));
    b = s_ser(m);
    cr_assert_eq(cmn_sdi_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    cr_assert_eq(out.present, CMN_SDI_HAS_PRIV);
    cr_assert_eq(out.priv, false);
    cr_assert_eq(out.n_unknown, 1);
}

/* ---------------------------------------------------------------- /oic/res */

static void
s_res_roundtrip_keeps_every_field(void)
{
    cmn_res_t in;
    s_full_res(&in);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_res_encode(&in, &buf, &len), CMN_OK);
    cr_assert_eq(buf[0] >> 5, 4, "oic.if.ll is a CBOR array");
    cmn_res_t out;
    cr_assert_eq(cmn_res_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.n_links, 2);
    for (size_t i = 0; i < 2; i++) {
        const cmn_link_t *a = &in.links[i], *b = &out.links[i];
        cr_assert_str_eq(b->anchor, a->anchor);
        cr_assert_str_eq(b->href, a->href);
        cr_assert_eq(b->n_rt, a->n_rt);
        for (size_t j = 0; j < a->n_rt; j++) {
            cr_assert_str_eq(b->rt[j], a->rt[j]);
        }
        cr_assert_eq(b->n_ifs, a->n_ifs);
        for (size_t j = 0; j < a->n_ifs; j++) {
            cr_assert_str_eq(b->ifs[j], a->ifs[j]);
        }
        cr_assert_eq(b->bm, a->bm);
        cr_assert_eq(b->n_eps, a->n_eps);
        for (size_t j = 0; j < a->n_eps; j++) {
            cr_assert_str_eq(b->eps[j], a->eps[j]);
        }
    }
    cmn_res_free(&in);
    cmn_res_free(&out);
    cr_assert_null(out.links);
    cr_assert_eq(out.n_links, 0);

    /* no links: an empty array */
    cmn_res_t empty = {0};
    cr_assert_eq(cmn_res_encode(&empty, &buf, &len), CMN_OK);
    memset(&out, 0x5A, sizeof out);
    cr_assert_eq(cmn_res_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.n_links, 0);
    cmn_res_free(&out);
}

static s_buf_t
s_one_link(const char *key, cbor_item_t *value)
{
    return s_ser(s_push(s_arr(), s_kv(s_map(), key, value)));
}

static void
s_res_validation_and_limits(void)
{
    s_assert_eproto(obt_svr_dec_res, s_ser(s_map()), "a map");
    s_assert_eproto(obt_svr_dec_res, s_ser(s_push(s_arr(), s_str("/oic/d"))), "link text");
    s_assert_eproto(obt_svr_dec_res, s_one_link("href", s_uint(1)), "href int");
    s_assert_eproto(obt_svr_dec_res, s_one_link("anchor", s_str("ocf://" U_DEV "-and-more-text")),
                    "anchor too long");
    s_assert_eproto(obt_svr_dec_res, s_one_link("rt", s_str("oic.wk.d")), "rt text");
    s_assert_eproto(obt_svr_dec_res, s_one_link("rt", s_push(s_arr(), s_uint(1))), "rt [int]");
    s_assert_eproto(obt_svr_dec_res, s_one_link("if", s_map()), "if map");
    s_assert_ok(obt_svr_dec_res, s_one_link("p", s_kv(s_map(), "bm", s_uint(255))), "bm 255");
    s_assert_eproto(obt_svr_dec_res, s_one_link("p", s_kv(s_map(), "bm", s_uint(256))), "bm 256");
    s_assert_eproto(obt_svr_dec_res, s_one_link("p", s_uint(3)), "p int");
    s_assert_eproto(obt_svr_dec_res, s_one_link("eps", s_str("coap://x")), "eps text");
    s_assert_eproto(obt_svr_dec_res, s_one_link("eps", s_push(s_arr(), s_str("coap://x"))),
                    "eps [text]");
    s_assert_eproto(obt_svr_dec_res,
                    s_one_link("eps", s_push(s_arr(), s_kv(s_map(), "ep", s_uint(1)))), "ep int");

    /* more rt and eps than the struct holds: the extra ones are dropped */
    cbor_item_t *rts = s_arr(), *eps = s_arr();
    for (int i = 0; i < CMN_LINK_MAX_RT + 2; i++) {
        char rt[16];
        (void) snprintf(rt, sizeof rt, "rt.%d", i);
        s_push(rts, s_str(rt));
    }
    for (int i = 0; i < CMN_LINK_MAX_EPS + 2; i++) {
        char ep[32];
        (void) snprintf(ep, sizeof ep, "coap://127.0.0.1:%d", 1000 + i);
        s_push(eps, s_kv(s_map(), "ep", s_str(ep)));
    }
    s_buf_t b = s_ser(s_push(s_arr(), s_kv(s_kv(s_map(), "rt", rts), "eps", eps)));
    cmn_res_t out;
    cr_assert_eq(cmn_res_decode(b.buf, b.len, &out), CMN_OK);
    free(b.buf);
    cr_assert_eq(out.links[0].n_rt, CMN_LINK_MAX_RT);
    cr_assert_str_eq(out.links[0].rt[CMN_LINK_MAX_RT - 1], "rt.3");
    cr_assert_eq(out.links[0].n_eps, CMN_LINK_MAX_EPS);
    char last[32];
    (void) snprintf(last, sizeof last, "coap://127.0.0.1:%d", 1000 + CMN_LINK_MAX_EPS - 1);
    cr_assert_str_eq(out.links[0].eps[CMN_LINK_MAX_EPS - 1], last);
    cmn_res_free(&out);

    cbor_item_t *l256 = s_arr(), *l257 = s_arr();
    for (int i = 0; i < 257; i++) {
        if (i < 256) {
            s_push(l256, s_kv(s_map(), "href", s_str("/x")));
        }
        s_push(l257, s_kv(s_map(), "href", s_str("/x")));
    }
    s_assert_ok(obt_svr_dec_res, s_ser(l256), "256 links");
    s_assert_eproto(obt_svr_dec_res, s_ser(l257), "257 links");
}

Test(cmn_svr, res_roundtrip_and_validation)
{
    s_res_roundtrip_keeps_every_field();
    s_res_validation_and_limits();
}

/* ---------------------------------------------------------------- /oic/d */

Test(cmn_svr, d_roundtrip_and_validation)
{
    cmn_d_t in = s_full_d();
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_d_encode(&in, &buf, &len), CMN_OK);
    cmn_d_t out;
    memset(&out, 0xA5, sizeof out);
    cr_assert_eq(cmn_d_decode(buf, len, &out), CMN_OK);
    free(buf);
    s_assert_uuid(&out.di, U_DEV);
    s_assert_uuid(&out.piid, U_OWNER);
    cr_assert_str_eq(out.n, "OBT DOTS");
    cr_assert_str_eq(out.icv, "ocf.2.2.5");
    cr_assert_str_eq(out.dmv, "ocf.res.1.3.0,ocf.sh.1.3.0");
    cr_assert_eq(out.n_rt, 2);
    cr_assert_str_eq(out.rt[0], "oic.wk.d");
    cr_assert_str_eq(out.rt[1], "oic.d.dots");

    /* no rt: the property is left out */
    in.n_rt = 0;
    in.icv[0] = '\0';
    cr_assert_eq(cmn_d_encode(&in, &buf, &len), CMN_OK);
    cr_assert_eq(cmn_d_decode(buf, len, &out), CMN_OK);
    free(buf);
    cr_assert_eq(out.n_rt, 0);
    cr_assert_str_eq(out.icv, "");

    char n63[64], n64[65];
    memset(n63, 'n', 63);
    n63[63] = '\0';
    memset(n64, 'n', 64);
    n64[64] = '\0';
    s_assert_ok(obt_svr_dec_d, s_one("n", s_str(n63)), "n 63");
    s_assert_eproto(obt_svr_dec_d, s_one("n", s_str(n64)), "n 64");
    s_assert_eproto(obt_svr_dec_d, s_one("icv", s_uint(2)), "icv int");
    s_assert_eproto(obt_svr_dec_d, s_one("dmv", s_bool(true)), "dmv bool");
    s_assert_eproto(obt_svr_dec_d, s_one("rt", s_str("oic.wk.d")), "rt text");
    s_assert_eproto(obt_svr_dec_d, s_one("rt", s_push(s_arr(), s_bytes("x", 1))), "rt [bytes]");
    s_assert_ok(obt_svr_dec_d, s_one("whatever", s_uint(1)), "unknown property");
}

/* ---------------------------------------------------------------- malformed input, all codecs */

static void
s_empty_input_is_eproto(void)
{
    s_codec_t c[7];
    size_t n = s_codecs(c);
    static const uint8_t byte = 0xA0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(c[i].decode(NULL, 0), CMN_EPROTO, "%s NULL", c[i].name);
        cr_assert_eq(c[i].decode(&byte, 0), CMN_EPROTO, "%s len 0", c[i].name);
    }
    s_codecs_free(c, n);
}

static void
s_every_truncation_is_eproto(void)
{
    s_codec_t c[7];
    size_t n = s_codecs(c);
    for (size_t i = 0; i < n; i++) {
        for (size_t cut = 1; cut < c[i].valid.len; cut++) {
            /* an exact-size copy, so ASan sees any read past the end */
            uint8_t *part = malloc(cut);
            cr_assert_not_null(part);
            memcpy(part, c[i].valid.buf, cut);
            cmn_err_t err = c[i].decode(part, cut);
            free(part);
            cr_assert_eq(err, CMN_EPROTO, "%s cut at %zu/%zu: %s", c[i].name, cut, c[i].valid.len,
                         cmn_errname(err));
        }
    }
    s_codecs_free(c, n);
}

static void
s_trailing_bytes_are_eproto(void)
{
    s_codec_t c[7];
    size_t n = s_codecs(c);
    for (size_t i = 0; i < n; i++) {
        size_t len = c[i].valid.len + 1;
        uint8_t *more = malloc(len);
        cr_assert_not_null(more);
        memcpy(more, c[i].valid.buf, c[i].valid.len);
        more[len - 1] = 0x00;
        cr_assert_eq(c[i].decode(more, len), CMN_EPROTO, "%s", c[i].name);
        free(more);
    }
    s_codecs_free(c, n);
}

static void
s_wrong_major_type_is_eproto(void)
{
    static const struct {
        const char *what;
        uint8_t bytes[4];
        size_t len;
    } items[] = {
            {"uint", {0x05}, 1},
            {"negint", {0x20}, 1},
            {"bytes", {0x42, 0xA0, 0xA0}, 3},
            {"text", {0x61, 'a'}, 2},
            {"tag", {0xC1, 0x00}, 2},
            {"true", {0xF5}, 1},
            {"null", {0xF6}, 1},
            {"half float", {0xF9, 0x3C, 0x00}, 3},
            {"break", {0xFF}, 1},
    };
    static const uint8_t empty_map[] = {0xA0};
    static const uint8_t empty_array[] = {0x80};
    s_codec_t c[7];
    size_t n = s_codecs(c);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof items / sizeof items[0]; k++) {
            cr_assert_eq(c[i].decode(items[k].bytes, items[k].len), CMN_EPROTO, "%s as %s",
                         c[i].name, items[k].what);
        }
        /* the container the codec does not expect, and the one it does */
        const uint8_t *wrong = c[i].is_array ? empty_map : empty_array;
        const uint8_t *right = c[i].is_array ? empty_array : empty_map;
        cr_assert_eq(c[i].decode(wrong, 1), CMN_EPROTO, "%s wrong container", c[i].name);
        cr_assert_eq(c[i].decode(right, 1), CMN_OK, "%s empty container", c[i].name);
    }
    s_codecs_free(c, n);
}

Test(cmn_svr, malformed_shapes_are_eproto)
{
    s_empty_input_is_eproto();
    s_every_truncation_is_eproto();
    s_trailing_bytes_are_eproto();
    s_wrong_major_type_is_eproto();
}

static uint32_t
s_rand(uint32_t *state)
{
    /* xorshift32: deterministic, so a failure can be replayed */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static void
s_random_bytes_never_crash(void)
{
    s_codec_t c[7];
    size_t n = s_codecs(c);
    uint32_t seed = 0x12345678;
    size_t rejected = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        for (int round = 0; round < 400; round++) {
            size_t len = 1 + s_rand(&seed) % 96;
            uint8_t *buf = malloc(len);
            cr_assert_not_null(buf);
            for (size_t j = 0; j < len; j++) {
                buf[j] = (uint8_t) s_rand(&seed);
            }
            cmn_err_t err = c[i].decode(buf, len);
            free(buf);
            cr_assert(err == CMN_OK || err == CMN_EPROTO || err == CMN_ENOMEM, "%s round %d: %s",
                      c[i].name, round, cmn_errname(err));
            rejected += err != CMN_OK;
            total++;
        }
    }
    cr_assert_gt(rejected, total * 9 / 10, "random bytes mostly accepted (%zu/%zu)", rejected,
                 total);
    s_codecs_free(c, n);
}

static void
s_mutated_valid_input_never_crashes(void)
{
    s_codec_t c[7];
    size_t n = s_codecs(c);
    uint32_t seed = 0xC0FFEE;
    for (size_t i = 0; i < n; i++) {
        for (int round = 0; round < 1500; round++) {
            size_t len = c[i].valid.len;
            uint8_t *buf = malloc(len);
            cr_assert_not_null(buf);
            memcpy(buf, c[i].valid.buf, len);
            int flips = 1 + (int) (s_rand(&seed) % 3);
            for (int f = 0; f < flips; f++) {
                buf[s_rand(&seed) % len] = (uint8_t) s_rand(&seed);
            }
            cmn_err_t err = c[i].decode(buf, len);
            free(buf);
            cr_assert(err == CMN_OK || err == CMN_EPROTO || err == CMN_ENOMEM, "%s round %d: %s",
                      c[i].name, round, cmn_errname(err));
        }
    }
    s_codecs_free(c, n);
}

Test(cmn_svr, garbage_never_crashes)
{
    s_random_bytes_never_crash();
    s_mutated_valid_input_never_crashes();
}

/* libcbor 0.8 allocates (and clears) a definite array or map for its declared size
 * before reading the items: these few bytes used to make it allocate gigabytes. */
Test(cmn_svr, huge_declared_sizes_and_deep_nesting_are_eproto)
{
    static const struct {
        const char *what;
        uint8_t bytes[16];
        size_t len;
    } huge[] = {
            {"array of 2^64-1", {0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}, 10},
            {"array of 2^28", {0x9A, 0x10, 0x00, 0x00, 0x00, 0x00}, 6},
            {"map of 2^32-1", {0xBA, 0xFF, 0xFF, 0xFF, 0xFF, 0x61, 'a', 0x00}, 8},
            {"map of 2^27 in a map", {0xA1, 0x61, 'x', 0xBA, 0x08, 0x00, 0x00, 0x00, 0x00}, 9},
            {"array of 3 with 2 items", {0xA1, 0x61, 'x', 0x83, 0x00, 0x00}, 6},
            {"map of 2 with 3 items", {0xA2, 0x61, 'a', 0x00, 0x61, 'b'}, 6},
            {"byte string of 2^32", {0xA1, 0x61, 'x', 0x5A, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}, 9},
            {"reserved additional info", {0xA1, 0x61, 'x', 0x1C}, 4},
            {"break outside indefinite", {0xA1, 0x61, 'x', 0xFF}, 4},
            {"nested indefinite string", {0xA1, 0x61, 'x', 0x7F, 0x7F, 0xFF, 0xFF}, 7},
            {"int inside indefinite string", {0xA1, 0x61, 'x', 0x7F, 0x00, 0xFF}, 6},
            {"tag without item", {0xA1, 0x61, 'x', 0xC0}, 4},
    };
    s_codec_t c[7];
    size_t n = s_codecs(c);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
            uint64_t t0 = (uint64_t) clock();
            cmn_err_t err = c[i].decode(huge[k].bytes, huge[k].len);
            cr_assert_eq(err, CMN_EPROTO, "%s: %s gives %s", c[i].name, huge[k].what,
                         cmn_errname(err));
            cr_assert_lt((uint64_t) clock() - t0, (uint64_t) CLOCKS_PER_SEC / 10, "%s: %s slow",
                         c[i].name, huge[k].what);
        }
    }

    /* {"x": [[[[...]]]]}: far deeper than any SVR */
    enum { DEPTH = 5000 };
    size_t len = 3 + DEPTH + 1;
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    buf[0] = 0xA1;
    buf[1] = 0x61;
    buf[2] = 'x';
    memset(buf + 3, 0x81, DEPTH);
    buf[len - 1] = 0x00;
    for (size_t i = 0; i < n; i++) {
        cmn_err_t err = c[i].decode(buf, len);
        cr_assert_eq(err, CMN_EPROTO, "%s: %d levels give %s", c[i].name, DEPTH, cmn_errname(err));
    }
    free(buf);

    /* what is well-formed still decodes: indefinite strings, tags, nested containers */
    static const uint8_t fine[] = {0xBF, 0x61, 'n', 0x7F, 0x61, 'a', 0x62, 'b',  'c',  0xFF, /* n */
                                   0x65, 'o',  't', 'h',  'e',  'r', 0xC1, 0x82, 0x80, 0xA1, 0x00,
                                   0x9F, 0xFF, 0xFF};
    cmn_sdi_t sdi;
    cr_assert_eq(cmn_sdi_decode(fine, sizeof fine, &sdi), CMN_OK);
    cr_assert_eq(sdi.n_unknown, 1);
    s_codecs_free(c, n);
}

Test(cmn_svr, failed_decode_leaves_ret_untouched)
{
    s_buf_t b = s_one("owned", s_uint(3));
    cmn_doxm_t doxm, doxm0;
    memset(&doxm, 0x5A, sizeof doxm);
    doxm0 = doxm;
    cr_assert_eq(cmn_doxm_decode(b.buf, b.len, &doxm), CMN_EPROTO);
    cr_assert_eq(memcmp(&doxm, &doxm0, sizeof doxm), 0);
    free(b.buf);

    b = s_one("om", s_uint(9));
    cmn_pstat_t ps, ps0;
    memset(&ps, 0x5A, sizeof ps);
    ps0 = ps;
    cr_assert_eq(cmn_pstat_decode(b.buf, b.len, &ps), CMN_EPROTO);
    cr_assert_eq(memcmp(&ps, &ps0, sizeof ps), 0);
    free(b.buf);

    b = s_one("uuid", s_str("nope"));
    cmn_sdi_t sdi, sdi0;
    memset(&sdi, 0x5A, sizeof sdi);
    sdi0 = sdi;
    cr_assert_eq(cmn_sdi_decode(b.buf, b.len, &sdi), CMN_EPROTO);
    cr_assert_eq(memcmp(&sdi, &sdi0, sizeof sdi), 0);
    free(b.buf);

    b = s_one("di", s_str("nope"));
    cmn_d_t d, d0;
    memset(&d, 0x5A, sizeof d);
    d0 = d;
    cr_assert_eq(cmn_d_decode(b.buf, b.len, &d), CMN_EPROTO);
    cr_assert_eq(memcmp(&d, &d0, sizeof d), 0);
    free(b.buf);

    b = s_ser(s_push(s_push(s_arr(), s_kv(s_map(), "href", s_str("/ok"))), s_uint(1)));
    cmn_res_t res, res0;
    memset(&res, 0x5A, sizeof res);
    res0 = res;
    cr_assert_eq(cmn_res_decode(b.buf, b.len, &res), CMN_EPROTO);
    cr_assert_eq(memcmp(&res, &res0, sizeof res), 0);
    free(b.buf);
}

/* ---------------------------------------------------------------- oic.r.vodlist */

Test(cmn_svr, vodlist_roundtrip)
{
    cmn_vodlist_t v;
    memset(&v, 0, sizeof v);
    v.n_vods = 2;
    (void) strcpy(v.vods[0].n, "lamp");
    v.vods[0].di = s_uuid(U_DEV);
    (void) strcpy(v.vods[0].econame, "BLE");
    (void) strcpy(v.vods[1].n, "lock");
    v.vods[1].di = s_uuid(U_OWNER);
    (void) strcpy(v.vods[1].econame, "Z-Wave");
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_vodlist_encode(&v, &buf, &len), CMN_OK);
    cmn_vodlist_t back;
    cr_assert_eq(cmn_vodlist_decode(buf, len, &back), CMN_OK);
    free(buf);
    cr_assert_eq(back.n_vods, 2);
    s_assert_uuid(&back.vods[1].di, U_OWNER);
    cr_assert_str_eq(back.vods[0].n, "lamp");
    cr_assert_str_eq(back.vods[1].econame, "Z-Wave");
}

/* Decodes {"vods": vods} (vods consumed). */
static cmn_err_t
s_vodlist_of(cbor_item_t *vods)
{
    s_buf_t b = s_ser(s_kv(s_map(), "vods", vods));
    cmn_vodlist_t v;
    cmn_err_t err = cmn_vodlist_decode(b.buf, b.len, &v);
    free(b.buf);
    return err;
}

static cbor_item_t *
s_vod_item(const char *di, const char *n)
{
    cbor_item_t *m = s_map();
    if (di) {
        (void) s_kv(m, "di", s_str(di));
    }
    return s_kv(m, "n", s_str(n));
}

static cbor_item_t *
s_vods(size_t n, const char *const *dis)
{
    cbor_item_t *a = s_arr();
    for (size_t i = 0; i < n; i++) {
        (void) s_push(a, s_vod_item(dis[i], "x"));
    }
    return a;
}

Test(cmn_svr, vodlist_peer_input_is_bounded_and_checked)
{
    static const char *const one[] = {U_DEV};
    cr_assert_eq(s_vodlist_of(s_vods(1, one)), CMN_OK);
    static const char *const dup[] = {U_DEV, U_DEV};
    cr_assert_eq(s_vodlist_of(s_vods(2, dup)), CMN_EPROTO, "the same VOD twice");
    static const char *const nil[] = {"00000000-0000-0000-0000-000000000000"};
    cr_assert_eq(s_vodlist_of(s_vods(1, nil)), CMN_EPROTO, "nil di");
    static const char *const bad[] = {"not-a-uuid"};
    cr_assert_eq(s_vodlist_of(s_vods(1, bad)), CMN_EPROTO);
    static const char *const none[] = {NULL};
    cr_assert_eq(s_vodlist_of(s_vods(1, none)), CMN_EPROTO, "an entry without di");
    cr_assert_eq(s_vodlist_of(s_str("vods")), CMN_EPROTO, "vods is not an array");

    /* CMN_VODLIST_MAX + 1 distinct entries. */
    cbor_item_t *many = s_arr();
    for (int i = 0; i <= CMN_VODLIST_MAX; i++) {
        char di[40];
        (void) snprintf(di, sizeof di, "11111111-2222-4333-8444-%012d", i);
        (void) s_push(many, s_vod_item(di, "x"));
    }
    cr_assert_eq(s_vodlist_of(many), CMN_EPROTO, "more than CMN_VODLIST_MAX");

    char long_name[80];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    cbor_item_t *a = s_push(s_arr(), s_vod_item(U_DEV, long_name));
    cr_assert_eq(s_vodlist_of(a), CMN_EPROTO, "a name longer than the field");

    static const uint8_t junk[] = {0xbf, 0x64, 'v', 'o', 'd', 's', 0x9f, 0xa1};
    cmn_vodlist_t v;
    cr_assert_eq(cmn_vodlist_decode(junk, sizeof junk, &v), CMN_EPROTO);
    static const uint8_t no_vods[] = {0xa0}; /* {} */
    cr_assert_eq(cmn_vodlist_decode(no_vods, sizeof no_vods, &v), CMN_EPROTO);
}
