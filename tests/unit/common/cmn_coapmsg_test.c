/* cmn_coapmsg_test.c — CoAP datagram encoding checked byte by byte (RFC 7252 section 3) */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_coapmsg.h"

#define S_MAX_DEC_OPTS 32

/* A datagram decoded by hand, independently of the encoder. */
typedef struct {
    int version, type, tkl, code, mid;
    uint8_t token[8];
    struct {
        unsigned number;
        const uint8_t *value;
        size_t len;
    } opts[S_MAX_DEC_OPTS];
    size_t n_opts;
    const uint8_t *payload;
    size_t payload_len;
} s_dec_t;

/* Reads an extended delta or length (nibble 13: +1 byte, 14: +2 bytes). */
static unsigned
s_ext(unsigned nibble, const uint8_t *buf, size_t len, size_t *pos)
{
    cr_assert_neq(nibble, 15, "reserved nibble 15 at %zu", *pos);
    if (nibble == 13) {
        cr_assert_lt(*pos, len, "truncated 1-byte extension");
        return 13u + buf[(*pos)++];
    }
    if (nibble == 14) {
        cr_assert_leq(*pos + 2, len, "truncated 2-byte extension");
        unsigned v = (unsigned) buf[*pos] << 8 | buf[*pos + 1];
        *pos += 2;
        return 269u + v;
    }
    return nibble;
}

static void
s_decode(const uint8_t *buf, size_t len, s_dec_t *d)
{
    memset(d, 0, sizeof *d);
    cr_assert_geq(len, 4);
    d->version = buf[0] >> 6;
    d->type = buf[0] >> 4 & 3;
    d->tkl = buf[0] & 0xf;
    d->code = buf[1];
    d->mid = buf[2] << 8 | buf[3];
    cr_assert_leq(d->tkl, 8);
    cr_assert_geq(len, 4u + (size_t) d->tkl);
    memcpy(d->token, buf + 4, (size_t) d->tkl);
    size_t pos = 4 + (size_t) d->tkl;
    unsigned number = 0;
    while (pos < len) {
        if (buf[pos] == 0xFF) {
            pos++;
            cr_assert_lt(pos, len, "payload marker without payload");
            d->payload = buf + pos;
            d->payload_len = len - pos;
            return;
        }
        unsigned dn = buf[pos] >> 4, ln = buf[pos] & 0xf;
        pos++;
        unsigned delta = s_ext(dn, buf, len, &pos);
        unsigned olen = s_ext(ln, buf, len, &pos);
        cr_assert_leq(pos + olen, len, "option value runs past the end");
        cr_assert_lt(d->n_opts, S_MAX_DEC_OPTS);
        number += delta;
        d->opts[d->n_opts].number = number;
        d->opts[d->n_opts].value = buf + pos;
        d->opts[d->n_opts].len = olen;
        d->n_opts++;
        pos += olen;
    }
}

static void
s_assert_opt(const s_dec_t *d, size_t i, unsigned number, const void *value, size_t len)
{
    cr_assert_lt(i, d->n_opts);
    cr_assert_eq(d->opts[i].number, number, "option %zu: number %u, want %u", i, d->opts[i].number,
                 number);
    cr_assert_eq(d->opts[i].len, len, "option %zu: len %zu, want %zu", i, d->opts[i].len, len);
    if (len > 0) {
        cr_assert_eq(memcmp(d->opts[i].value, value, len), 0, "option %zu: value differs", i);
    }
}

Test(cmn_coapmsg, get_with_path_and_query_exact_bytes)
{
    cmn_coap_msg_t m = {.type = 1, .code = 0x01, .mid = 0x1234, .token_len = 4};
    memcpy(m.token, "\xde\xad\xbe\xef", 4);
    cr_assert_eq(cmn_coapmsg_add_uri(&m, "/oic/sec/doxm", "owned=FALSE"), CMN_OK);
    cr_assert_eq(m.n_opts, 4);

    static const uint8_t want[] = {
            0x54, 0x01, 0x12, 0x34,                                        /* ver 1, NON, tkl 4 */
            0xde, 0xad, 0xbe, 0xef,                                        /* token */
            0xB3, 'o',  'i',  'c',                                         /* Uri-Path, delta 11 */
            0x03, 's',  'e',  'c',                                         /* Uri-Path, delta 0 */
            0x04, 'd',  'o',  'x',  'm',                                   /* Uri-Path, delta 0 */
            0x4B, 'o',  'w',  'n',  'e', 'd', '=', 'F', 'A', 'L', 'S', 'E' /* Uri-Query, 4 */
    };
    uint8_t out[64];
    size_t len = 0;
    cr_assert_eq(cmn_coapmsg_encode(&m, out, sizeof out, &len), CMN_OK);
    cr_assert_eq(len, sizeof want);
    cr_assert_eq(memcmp(out, want, len), 0);
}

Test(cmn_coapmsg, decodes_header_token_options_and_payload)
{
    cmn_coap_msg_t m = {.type = 0, .code = (2 << 5) | 5, .mid = 0xBEEF, .token_len = 8};
    memcpy(m.token, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    cr_assert_eq(cmn_coapmsg_add_uri(&m, "/oic/res", "rt=oic.r.doxm&if=oic.if.ll"), CMN_OK);
    uint16_t cf = 10000;
    uint8_t cf_be[2] = {(uint8_t) (cf >> 8), (uint8_t) cf};
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_CONTENT_FORMAT, cf_be, 2), CMN_OK);
    static const uint8_t payload[] = {0xA1, 0x61, 'x', 0x01};
    m.payload = payload;
    m.payload_len = sizeof payload;

    uint8_t out[128];
    size_t len = 0;
    cr_assert_eq(cmn_coapmsg_encode(&m, out, sizeof out, &len), CMN_OK);
    s_dec_t d;
    s_decode(out, len, &d);
    cr_assert_eq(d.version, 1);
    cr_assert_eq(d.type, 0);
    cr_assert_eq(d.tkl, 8);
    cr_assert_eq(d.code, 0x45);
    cr_assert_eq(d.mid, 0xBEEF);
    cr_assert_eq(memcmp(d.token, m.token, 8), 0);
    cr_assert_eq(d.n_opts, 5);
    s_assert_opt(&d, 0, CMN_COAP_OPT_URI_PATH, "oic", 3);
    s_assert_opt(&d, 1, CMN_COAP_OPT_URI_PATH, "res", 3);
    s_assert_opt(&d, 2, CMN_COAP_OPT_CONTENT_FORMAT, cf_be, 2);
    s_assert_opt(&d, 3, CMN_COAP_OPT_URI_QUERY, "rt=oic.r.doxm", 13);
    s_assert_opt(&d, 4, CMN_COAP_OPT_URI_QUERY, "if=oic.if.ll", 12);
    cr_assert_eq(d.payload_len, sizeof payload);
    cr_assert_eq(memcmp(d.payload, payload, sizeof payload), 0);
}

Test(cmn_coapmsg, no_token_no_options_no_payload_is_the_bare_header)
{
    cmn_coap_msg_t m = {.type = 3, .code = 0, .mid = 0xA55A};
    uint8_t out[16];
    size_t len = 0;
    cr_assert_eq(cmn_coapmsg_encode(&m, out, sizeof out, &len), CMN_OK);
    cr_assert_eq(len, 4, "no payload marker without a payload");
    cr_assert_eq(out[0], 0x70, "ver 1, RST, tkl 0");
    cr_assert_eq(out[1], 0x00);
    cr_assert_eq(out[2], 0xA5);
    cr_assert_eq(out[3], 0x5A);
}

Test(cmn_coapmsg, options_sorted_and_repeats_keep_their_order)
{
    cmn_coap_msg_t m = {.type = 1, .code = 1};
    uint8_t accept_be[2] = {0x27, 0x10};
    uint8_t ver_be[2] = {0x08, 0x00};
    /* added out of order on purpose */
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_OCF_ACCEPT_VER, ver_be, 2), CMN_OK);
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_ACCEPT, accept_be, 2), CMN_OK);
    cr_assert_eq(cmn_coapmsg_add_uri(&m, "/a/b/c", "q=1"), CMN_OK);
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_URI_PATH, "d", 1), CMN_OK);

    uint8_t out[128];
    size_t len = 0;
    cr_assert_eq(cmn_coapmsg_encode(&m, out, sizeof out, &len), CMN_OK);
    s_dec_t d;
    s_decode(out, len, &d);
    cr_assert_eq(d.n_opts, 7);
    s_assert_opt(&d, 0, CMN_COAP_OPT_URI_PATH, "a", 1);
    s_assert_opt(&d, 1, CMN_COAP_OPT_URI_PATH, "b", 1);
    s_assert_opt(&d, 2, CMN_COAP_OPT_URI_PATH, "c", 1);
    s_assert_opt(&d, 3, CMN_COAP_OPT_URI_PATH, "d", 1);
    s_assert_opt(&d, 4, CMN_COAP_OPT_URI_QUERY, "q=1", 3);
    s_assert_opt(&d, 5, CMN_COAP_OPT_ACCEPT, accept_be, 2);
    s_assert_opt(&d, 6, CMN_COAP_OPT_OCF_ACCEPT_VER, ver_be, 2);
}

Test(cmn_coapmsg, extended_delta_and_length_encodings)
{
    /* delta 17 (13 + 1 byte), delta 2032 (14 + 2 bytes), length 20 (13 + 1 byte),
     * length 300 (14 + 2 bytes), and an empty value */
    uint8_t big[300];
    for (size_t i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t) i;
    }
    uint8_t ver_be[2] = {0x08, 0x00};
    cmn_coap_msg_t m = {.type = 1, .code = 1};
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_ACCEPT, "\x27\x10", 2), CMN_OK);
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_OCF_ACCEPT_VER, ver_be, 2), CMN_OK);
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_OCF_CONTENT_VER, big, 20), CMN_OK);
    cr_assert_eq(cmn_coapmsg_add_opt(&m, 3000, big, sizeof big), CMN_OK);
    cr_assert_eq(cmn_coapmsg_add_opt(&m, 3000, NULL, 0), CMN_OK);

    uint8_t out[512];
    size_t len = 0;
    cr_assert_eq(cmn_coapmsg_encode(&m, out, sizeof out, &len), CMN_OK);
    /* the raw option headers */
    cr_assert_eq(out[4], 0xD2, "Accept: delta nibble 13, length 2");
    cr_assert_eq(out[5], 17 - 13);
    cr_assert_eq(out[8], 0xE2, "OCF-Accept-Version: delta nibble 14, length 2");
    cr_assert_eq(out[9], (2049 - 17 - 269) >> 8);
    cr_assert_eq(out[10], (uint8_t) (2049 - 17 - 269));
    cr_assert_eq(out[13], 0x4D, "delta 4, length nibble 13");
    cr_assert_eq(out[14], 20 - 13);

    s_dec_t d;
    s_decode(out, len, &d);
    cr_assert_eq(d.n_opts, 5);
    s_assert_opt(&d, 0, CMN_COAP_OPT_ACCEPT, "\x27\x10", 2);
    s_assert_opt(&d, 1, CMN_COAP_OPT_OCF_ACCEPT_VER, ver_be, 2);
    s_assert_opt(&d, 2, CMN_COAP_OPT_OCF_CONTENT_VER, big, 20);
    s_assert_opt(&d, 3, 3000, big, sizeof big);
    s_assert_opt(&d, 4, 3000, NULL, 0);
    size_t hdr3 = 4 + 2 + 2 + 1 + 2 + 2 + 1 + 1 + 20;
    cr_assert_eq(out[hdr3], 0xEE, "delta 947 and length 300 both 2-byte extended");
    cr_assert_eq(out[hdr3 + 1] << 8 | out[hdr3 + 2], 3000 - 2053 - 269);
    cr_assert_eq(out[hdr3 + 3] << 8 | out[hdr3 + 4], 300 - 269);
    cr_assert_eq(out[len - 1], 0x00, "empty option: delta 0, length 0");
}

Test(cmn_coapmsg, extension_boundaries)
{
    /* 12 | 13 and 268 | 269 are where the encodings change */
    static const size_t lens[] = {12, 13, 268, 269, 1034};
    static uint8_t value[1034];
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        cmn_coap_msg_t m = {.type = 1, .code = 1};
        cr_assert_eq(cmn_coapmsg_add_opt(&m, (uint16_t) lens[i], value, lens[i]), CMN_OK);
        uint8_t out[1100];
        size_t len = 0;
        cr_assert_eq(cmn_coapmsg_encode(&m, out, sizeof out, &len), CMN_OK);
        s_dec_t d;
        s_decode(out, len, &d);
        cr_assert_eq(d.n_opts, 1);
        cr_assert_eq(d.opts[0].number, lens[i], "delta %zu", lens[i]);
        cr_assert_eq(d.opts[0].len, lens[i], "length %zu", lens[i]);
        size_t ext = lens[i] < 13 ? 0 : lens[i] < 269 ? 1 : 2;
        cr_assert_eq(len, 4 + 1 + 2 * ext + lens[i]);
    }
}

Test(cmn_coapmsg, add_uri_skips_empty_segments_and_parts)
{
    cmn_coap_msg_t m = {0};
    cr_assert_eq(cmn_coapmsg_add_uri(&m, "//oic//d/", "&a=1&&b=2&"), CMN_OK);
    cr_assert_eq(m.n_opts, 4);
    cr_assert_eq(m.opts[0].number, CMN_COAP_OPT_URI_PATH);
    cr_assert_eq(m.opts[0].len, 3);
    cr_assert_eq(memcmp(m.opts[0].value, "oic", 3), 0);
    cr_assert_eq(m.opts[1].len, 1);
    cr_assert_eq(memcmp(m.opts[1].value, "d", 1), 0);
    cr_assert_eq(m.opts[2].number, CMN_COAP_OPT_URI_QUERY);
    cr_assert_eq(m.opts[2].len, 3);
    cr_assert_eq(memcmp(m.opts[2].value, "a=1", 3), 0);
    cr_assert_eq(m.opts[3].len, 3);
    cr_assert_eq(memcmp(m.opts[3].value, "b=2", 3), 0);

    cmn_coap_msg_t root = {0};
    cr_assert_eq(cmn_coapmsg_add_uri(&root, "/", NULL), CMN_OK);
    cr_assert_eq(root.n_opts, 0);
}

Test(cmn_coapmsg, too_many_options_is_enospc)
{
    cmn_coap_msg_t m = {0};
    for (int i = 0; i < CMN_COAP_MAX_OPTS; i++) {
        cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_URI_PATH, "x", 1), CMN_OK);
    }
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_URI_PATH, "x", 1), CMN_ENOSPC);
    cr_assert_eq(m.n_opts, CMN_COAP_MAX_OPTS);

    cmn_coap_msg_t u = {0};
    cr_assert_eq(cmn_coapmsg_add_uri(&u, "/1/2/3/4/5/6/7/8/9/10/11/12/13", NULL), CMN_ENOSPC);
    cr_assert_eq(u.n_opts, CMN_COAP_MAX_OPTS);
    cmn_coap_msg_t q = {0};
    cr_assert_eq(cmn_coapmsg_add_uri(&q, "/1/2/3/4/5/6/7/8/9/10/11", "a&b"), CMN_ENOSPC);
}

Test(cmn_coapmsg, too_long_option_value_is_enospc)
{
    static uint8_t value[1035];
    cmn_coap_msg_t m = {0};
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_URI_QUERY, value, 1035), CMN_ENOSPC);
    cr_assert_eq(m.n_opts, 0);
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_URI_QUERY, value, 1034), CMN_OK);
}

Test(cmn_coapmsg, token_longer_than_8_is_enospc)
{
    cmn_coap_msg_t m = {.type = 1, .code = 1, .token_len = 9};
    uint8_t out[64];
    size_t len = 12345;
    cr_assert_eq(cmn_coapmsg_encode(&m, out, sizeof out, &len), CMN_ENOSPC);
    cr_assert_eq(len, 12345, "ret_len written on failure");
}

/* Every output size below the exact one fails cleanly (heap buffers of that exact
 * size, so ASan sees any write past the end); the exact size succeeds. */
Test(cmn_coapmsg, short_output_buffer_is_enospc_without_overflow)
{
    static const uint8_t payload[] = "hello";
    cmn_coap_msg_t m = {.type = 0, .code = 2, .mid = 7, .token_len = 3};
    memcpy(m.token, "abc", 3);
    cr_assert_eq(cmn_coapmsg_add_uri(&m, "/oic/sec/cred", "x=1"), CMN_OK);
    static uint8_t big[300];
    cr_assert_eq(cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_OCF_CONTENT_VER, big, sizeof big), CMN_OK);
    m.payload = payload;
    m.payload_len = 5;

    uint8_t ref[512];
    size_t need = 0;
    cr_assert_eq(cmn_coapmsg_encode(&m, ref, sizeof ref, &need), CMN_OK);
    cr_assert_gt(need, 300);
    for (size_t cap = 0; cap < need; cap++) {
        uint8_t *out = malloc(cap ? cap : 1);
        cr_assert_not_null(out);
        size_t len = 0;
        cr_assert_eq(cmn_coapmsg_encode(&m, out, cap, &len), CMN_ENOSPC, "cap %zu", cap);
        cr_assert_eq(len, 0);
        free(out);
    }
    uint8_t *out = malloc(need);
    cr_assert_not_null(out);
    size_t len = 0;
    cr_assert_eq(cmn_coapmsg_encode(&m, out, need, &len), CMN_OK);
    cr_assert_eq(len, need);
    cr_assert_eq(memcmp(out, ref, need), 0);
    free(out);
}
