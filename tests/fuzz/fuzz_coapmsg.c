/* fuzz_coapmsg.c — libFuzzer harness of the CoAP datagram encoder (common/cmn_coapmsg.h):
 * a message built from the input (header, token, options in any order, Uri-Path and
 * Uri-Query from strings, payload, output capacity) is encoded; what comes out must fit
 * the capacity and parse with libcoap (the gateway's and the devices' parser) into the
 * same message, and a 2.05 with an 8-byte token must give its payload back through
 * gw_disc_parse_reply.
 *
 * Input: [type|toklen][code][mid:2][token][n_opts] n_opts x ([number:2][len:2][value])
 *        [has_uri] (path NUL query NUL) [cap] payload... */
#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_coapmsg.h"
#include "fuzz_check.h"
#include "gw_disc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t left;
} s_in_t;

static bool
s_take(s_in_t *in, size_t n, const uint8_t **ret)
{
    if (in->left < n) {
        return false;
    }
    *ret = in->p;
    in->p += n;
    in->left -= n;
    return true;
}

static unsigned
s_byte(s_in_t *in)
{
    const uint8_t *b = NULL;
    return s_take(in, 1, &b) ? b[0] : 0;
}

/* A NUL-terminated string of the input, or NULL (no terminator left). */
static const char *
s_string(s_in_t *in)
{
    const uint8_t *nul = in->left ? memchr(in->p, 0, in->left) : NULL;
    const uint8_t *s = NULL;
    if (nul == NULL || !s_take(in, (size_t) (nul - in->p) + 1, &s)) {
        return NULL;
    }
    return (const char *) s;
}

/* The options of msg in the order they must go out: by number, stable. */
static void
s_sorted(const cmn_coap_msg_t *msg, const cmn_coap_opt_t **ret)
{
    for (size_t i = 0; i < msg->n_opts; i++) {
        size_t j = i;
        while (j > 0 && ret[j - 1]->number > msg->opts[i].number) {
            ret[j] = ret[j - 1];
            j--;
        }
        ret[j] = &msg->opts[i];
    }
}

/* True if libcoap checks the length of an option of msg against its registered
 * format (RFC 7252 5.10; Uri-Query 1-255 for libcoap, Content-Format 0-2, ...) and may
 * refuse a datagram we encoded right. Numbers from 2048 on (the OCF version options)
 * are free-form for libcoap, as are Uri-Path and Uri-Query of 1 to 255 bytes. */
static bool
s_has_checked_option(const cmn_coap_msg_t *msg)
{
    for (size_t i = 0; i < msg->n_opts; i++) {
        uint16_t n = msg->opts[i].number;
        bool is_uri = n == CMN_COAP_OPT_URI_PATH || n == CMN_COAP_OPT_URI_QUERY;
        if (n < 2048 && !(is_uri && msg->opts[i].len >= 1 && msg->opts[i].len <= 255)) {
            return true;
        }
    }
    return false;
}

/* The encoding parses with libcoap into msg again; false if libcoap refused it for a
 * reason above. */
static bool
s_check_parse(const cmn_coap_msg_t *msg, const uint8_t *dgram, size_t len)
{
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, len);
    FUZZ_CHECK(pdu != NULL, "coapmsg: out of memory");
    if (!coap_pdu_parse(COAP_PROTO_UDP, dgram, len, pdu)) {
        /* libcoap refuses an Empty message (code 0.00) with a token, an option or a
         * payload (RFC 7252 4.1), and options of a registered number with a length
         * out of their range; anything else must parse. */
        FUZZ_CHECK((msg->code == 0 && (msg->token_len || msg->n_opts || msg->payload_len)) ||
                           s_has_checked_option(msg),
                   "coapmsg: libcoap does not parse our encoding");
        coap_delete_pdu(pdu);
        return false;
    }
    coap_bin_const_t tok = coap_pdu_get_token(pdu);
    FUZZ_CHECK(coap_pdu_get_type(pdu) == (coap_pdu_type_t) (msg->type & 3) &&
                       coap_pdu_get_code(pdu) == msg->code && coap_pdu_get_mid(pdu) == msg->mid &&
                       tok.length == msg->token_len &&
                       (tok.length == 0 || memcmp(tok.s, msg->token, tok.length) == 0),
               "coapmsg: header or token changed");
    const cmn_coap_opt_t *want[CMN_COAP_MAX_OPTS];
    s_sorted(msg, want);
    coap_opt_iterator_t it;
    coap_opt_t *opt = NULL;
    size_t k = 0;
    /* libcoap has no iterator over a PDU without options (the payload starts at once). */
    bool has_opts = coap_option_iterator_init(pdu, &it, COAP_OPT_ALL) != NULL;
    while (has_opts && (opt = coap_option_next(&it)) != NULL) {
        FUZZ_CHECK(k < msg->n_opts && it.number == want[k]->number &&
                           coap_opt_length(opt) == want[k]->len &&
                           (want[k]->len == 0 ||
                            memcmp(coap_opt_value(opt), want[k]->value, want[k]->len) == 0),
                   "coapmsg: option changed");
        k++;
    }
    FUZZ_CHECK(k == msg->n_opts, "coapmsg: option lost");
    size_t plen = 0;
    const uint8_t *p = NULL;
    int has_data = coap_get_data(pdu, &plen, &p);
    FUZZ_CHECK(msg->payload_len == 0
                       ? !has_data || plen == 0
                       : has_data && plen == msg->payload_len && memcmp(p, msg->payload, plen) == 0,
               "coapmsg: payload changed");
    coap_delete_pdu(pdu);
    return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_in_t in = {data, size};
    cmn_coap_msg_t msg;
    memset(&msg, 0, sizeof msg);
    unsigned first = s_byte(&in);
    msg.type = (uint8_t) (first & 3);
    msg.token_len = (first >> 2) % 9;
    msg.code = (uint8_t) s_byte(&in);
    unsigned mid_hi = s_byte(&in);
    msg.mid = (uint16_t) (mid_hi << 8 | s_byte(&in));
    const uint8_t *tok = NULL;
    if (!s_take(&in, msg.token_len, &tok)) {
        return 0;
    }
    memcpy(msg.token, tok, msg.token_len);
    unsigned n_opts = s_byte(&in) % (CMN_COAP_MAX_OPTS + 2);
    for (unsigned i = 0; i < n_opts; i++) {
        const uint8_t *h = NULL;
        const uint8_t *v = NULL;
        if (!s_take(&in, 4, &h)) {
            return 0;
        }
        uint16_t number = (uint16_t) (h[0] << 8 | h[1]);
        size_t len = (size_t) (h[2] << 8 | h[3]) % 1100;
        if (!s_take(&in, len, &v)) {
            return 0;
        }
        cmn_err_t err = cmn_coapmsg_add_opt(&msg, number, v, len);
        FUZZ_CHECK(err == CMN_OK || (err == CMN_ENOSPC && (i >= CMN_COAP_MAX_OPTS || len > 1034)),
                   "coapmsg: option refused");
    }
    if (s_byte(&in) & 1) {
        const char *path = s_string(&in);
        const char *query = s_string(&in);
        if (path == NULL) {
            return 0;
        }
        (void) cmn_coapmsg_add_uri(&msg, path, query);
    }
    size_t cap = 8 + s_byte(&in) * 16;
    msg.payload = in.p;
    msg.payload_len = in.left;

    uint8_t *out = malloc(cap);
    size_t len = 0;
    FUZZ_CHECK(out != NULL, "coapmsg: out of memory");
    if (cmn_coapmsg_encode(&msg, out, cap, &len) == CMN_OK) {
        FUZZ_CHECK(len <= cap, "coapmsg: encoding larger than the buffer");
        bool parsed = s_check_parse(&msg, out, len);
        const uint8_t *p = NULL;
        size_t plen = 0;
        if (parsed && msg.code == COAP_RESPONSE_CODE(205) && msg.token_len == 8 &&
            msg.payload_len > 0) {
            FUZZ_CHECK(gw_disc_parse_reply(out, len, msg.token, &p, &plen) == CMN_OK &&
                               plen == msg.payload_len && memcmp(p, msg.payload, plen) == 0,
                       "coapmsg: discovery parser does not find the payload");
        }
    }
    free(out);
    return 0;
}
