/* cmn_svr_crl_test.c — the /oic/sec/crl codec (OCF-NOTES 3.8): a round trip, and peer
 * input it refuses (a missing property, crldata that is not Base64, a negative crlid,
 * an unknown key, an oversized CRL) */
#include <cbor.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr.h"
#include "obt_cbor.h"

/* {"crlid": id, "thisupdate": "...", "crldata": data} without the keys left NULL. */
static obt_cbor_buf_t
s_crl(cbor_item_t *id, cbor_item_t *time, cbor_item_t *data, const char *extra)
{
    cbor_item_t *map = cbor_new_definite_map(4);
    if (id) {
        cr_assert(obt_cbor_kv(map, cbor_build_string("crlid"), id));
    }
    if (time) {
        cr_assert(obt_cbor_kv(map, cbor_build_string("thisupdate"), time));
    }
    if (data) {
        cr_assert(obt_cbor_kv(map, cbor_build_string("crldata"), data));
    }
    if (extra) {
        cr_assert(obt_cbor_kv(map, cbor_build_string(extra), cbor_build_uint8(1)));
    }
    return obt_cbor_ser(map);
}

static cmn_err_t
s_decode(obt_cbor_buf_t b)
{
    cmn_crl_t crl;
    cmn_err_t err = cmn_crl_decode(b.buf, b.len, &crl);
    if (err == CMN_OK) {
        cmn_crl_free(&crl);
    }
    free(b.buf);
    return err;
}

Test(cmn_crl, round_trips_the_der_through_base64)
{
    uint8_t der[300];
    for (size_t i = 0; i < sizeof der; i++) {
        der[i] = (uint8_t) (i * 7 + 1);
    }
    for (size_t n = 1; n <= 4; n++) { /* each Base64 padding: none, one, two */
        cmn_crl_t in = {.crlid = 7, .der = der, .der_len = sizeof der - n};
        (void) strcpy(in.thisupdate, "2026-12-04T14:00:00Z");
        uint8_t *buf = NULL;
        size_t len = 0;
        cr_assert_eq(cmn_crl_encode(&in, &buf, &len), CMN_OK);
        cmn_crl_t out;
        cr_assert_eq(cmn_crl_decode(buf, len, &out), CMN_OK);
        cr_assert_eq(out.crlid, 7);
        cr_assert_str_eq(out.thisupdate, "2026-12-04T14:00:00Z");
        cr_assert_eq(out.der_len, in.der_len);
        cr_assert_eq(memcmp(out.der, der, in.der_len), 0);
        cmn_crl_free(&out);
        free(buf);
    }
}

Test(cmn_crl, refuses_what_is_not_a_crl_resource)
{
    cr_assert_eq(s_decode(s_crl(NULL, cbor_build_string("t"), cbor_build_string("AAAA"), NULL)),
                 CMN_EPROTO, "crlid missing");
    cr_assert_eq(s_decode(s_crl(cbor_build_uint8(1), NULL, cbor_build_string("AAAA"), NULL)),
                 CMN_EPROTO, "thisupdate missing");
    cr_assert_eq(s_decode(s_crl(cbor_build_uint8(1), cbor_build_string("t"), NULL, NULL)),
                 CMN_EPROTO, "crldata missing");
    cr_assert_eq(s_decode(s_crl(cbor_build_negint8(3), cbor_build_string("t"),
                                cbor_build_string("AAAA"), NULL)),
                 CMN_EPROTO, "negative crlid");
    cr_assert_eq(s_decode(s_crl(cbor_build_uint8(1), cbor_build_string("t"),
                                cbor_build_string("not base64!"), NULL)),
                 CMN_EPROTO, "not Base64");
    cr_assert_eq(s_decode(s_crl(cbor_build_uint8(1), cbor_build_string("t"),
                                cbor_build_bytestring((const uint8_t *) "AAAA", 4), NULL)),
                 CMN_EPROTO, "crldata as bytes");
    cr_assert_eq(s_decode(s_crl(cbor_build_uint8(1), cbor_build_string("t"),
                                cbor_build_string("AAAA"), "extra")),
                 CMN_EPROTO, "unknown key");
    cr_assert_eq(s_decode(s_crl(cbor_build_uint8(1), cbor_build_string("t"),
                                cbor_build_string("AAAA"), "rt")),
                 CMN_OK, "a baseline key is skipped");
    cmn_crl_t big = {.crlid = 1, .der_len = CMN_CRL_MAX + 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_crl_encode(&big, &buf, &len), CMN_EINVAL, "oversized CRL encoded");
}
