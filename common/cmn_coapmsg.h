/* cmn_coapmsg.h — encoding of CoAP-over-UDP datagrams for our raw multicast sockets.
 * libcoap 4.3.1 parses datagrams (coap_pdu_parse) but exports no encoder for PDUs
 * sent outside its sessions, so the (small) RFC 7252 header/option encoding is here. */
#ifndef CMN_COAPMSG_H
#define CMN_COAPMSG_H

#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

#define CMN_COAP_MAX_OPTS 12

#define CMN_COAP_OPT_URI_PATH        11
#define CMN_COAP_OPT_CONTENT_FORMAT  12
#define CMN_COAP_OPT_URI_QUERY       15
#define CMN_COAP_OPT_ACCEPT          17
#define CMN_COAP_OPT_OCF_ACCEPT_VER  2049
#define CMN_COAP_OPT_OCF_CONTENT_VER 2053

typedef struct {
    uint16_t number;
    const uint8_t *value; /* borrowed */
    size_t len;
} cmn_coap_opt_t;

typedef struct {
    uint8_t type; /* 0 CON, 1 NON, 2 ACK, 3 RST */
    uint8_t code; /* class << 5 | detail */
    uint16_t mid;
    uint8_t token[8];
    size_t token_len;
    cmn_coap_opt_t opts[CMN_COAP_MAX_OPTS]; /* any order; encoded sorted */
    size_t n_opts;
    const uint8_t *payload; /* borrowed */
    size_t payload_len;
} cmn_coap_msg_t;

/* Adds an option; CMN_ENOSPC when full. */
cmn_err_t cmn_coapmsg_add_opt(cmn_coap_msg_t *msg, uint16_t number, const void *value, size_t len);

/* Adds one Uri-Path option per segment of path ("/oic/sec/doxm") and one Uri-Query
 * per '&'-separated part of query (may be NULL). The strings must outlive msg. */
cmn_err_t cmn_coapmsg_add_uri(cmn_coap_msg_t *msg, const char *path, const char *query);

/* Encodes msg into out; *ret_len receives the size. CMN_ENOSPC if out is too small. */
cmn_err_t cmn_coapmsg_encode(const cmn_coap_msg_t *msg, uint8_t *out, size_t cap, size_t *ret_len);

#endif
