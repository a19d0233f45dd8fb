/* cmn_coapmsg.c — CoAP-over-UDP datagram encoding (RFC 7252 section 3) */
#include "cmn_coapmsg.h"

#include <string.h>

cmn_err_t
cmn_coapmsg_add_opt(cmn_coap_msg_t *msg, uint16_t number, const void *value, size_t len)
{
    if (msg->n_opts >= CMN_COAP_MAX_OPTS || len > 1034) {
        return CMN_ENOSPC;
    }
    msg->opts[msg->n_opts++] = (cmn_coap_opt_t){number, value, len};
    return CMN_OK;
}

cmn_err_t
cmn_coapmsg_add_uri(cmn_coap_msg_t *msg, const char *path, const char *query)
{
    const char *p = path;
    while (p && *p) {
        while (*p == '/') {
            p++;
        }
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len > 0 && cmn_coapmsg_add_opt(msg, CMN_COAP_OPT_URI_PATH, p, len) != CMN_OK) {
            return CMN_ENOSPC;
        }
        p += len;
    }
    p = query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len > 0 && cmn_coapmsg_add_opt(msg, CMN_COAP_OPT_URI_QUERY, p, len) != CMN_OK) {
            return CMN_ENOSPC;
        }
        p += len + (end ? 1 : 0);
    }
    return CMN_OK;
}

static size_t
s_ext(size_t v, uint8_t *nibble, uint8_t ext[2])
{
    if (v < 13) {
        *nibble = (uint8_t) v;
        return 0;
    }
    if (v < 269) {
        *nibble = 13;
        ext[0] = (uint8_t) (v - 13);
        return 1;
    }
    *nibble = 14;
    ext[0] = (uint8_t) ((v - 269) >> 8);
    ext[1] = (uint8_t) (v - 269);
    return 2;
}

cmn_err_t
cmn_coapmsg_encode(const cmn_coap_msg_t *msg, uint8_t *out, size_t cap, size_t *ret_len)
{
    if (msg->token_len > 8 || cap < 4 + msg->token_len) {
        return CMN_ENOSPC;
    }
    /* Options must go out in ascending order (stable for repeated numbers). */
    size_t order[CMN_COAP_MAX_OPTS];
    for (size_t i = 0; i < msg->n_opts; i++) {
        size_t j = i;
        while (j > 0 && msg->opts[order[j - 1]].number > msg->opts[i].number) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    size_t n = 0;
    out[n++] = (uint8_t) (0x40 | (msg->type & 3) << 4 | msg->token_len);
    out[n++] = msg->code;
    out[n++] = (uint8_t) (msg->mid >> 8);
    out[n++] = (uint8_t) msg->mid;
    memcpy(out + n, msg->token, msg->token_len);
    n += msg->token_len;
    uint16_t prev = 0;
    for (size_t k = 0; k < msg->n_opts; k++) {
        const cmn_coap_opt_t *o = &msg->opts[order[k]];
        uint8_t dn, ln, dext[2], lext[2];
        size_t dl = s_ext((size_t) (o->number - prev), &dn, dext);
        size_t ll = s_ext(o->len, &ln, lext);
        if (n + 1 + dl + ll + o->len > cap) {
            return CMN_ENOSPC;
        }
        out[n++] = (uint8_t) (dn << 4 | ln);
        memcpy(out + n, dext, dl);
        n += dl;
        memcpy(out + n, lext, ll);
        n += ll;
        if (o->len) {
            memcpy(out + n, o->value, o->len);
        }
        n += o->len;
        prev = o->number;
    }
    if (msg->payload_len > 0) {
        if (n + 1 + msg->payload_len > cap) {
            return CMN_ENOSPC;
        }
        out[n++] = 0xFF;
        memcpy(out + n, msg->payload, msg->payload_len);
        n += msg->payload_len;
    }
    *ret_len = n;
    return CMN_OK;
}
