/* cmn_ep.h — CoAP endpoint URIs ("coap://[::1]:5683", "coaps://127.0.0.1:40001") */
#ifndef CMN_EP_H
#define CMN_EP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

typedef struct {
    bool is_secure; /* coaps:// */
    char host[64];  /* address literal, without brackets; may carry %zone */
    uint16_t port;  /* default 5683 / 5684 when absent */
} cmn_ep_t;

/* Parses a coap:// or coaps:// endpoint with an IPv4 or bracketed IPv6 literal.
 * CMN_EINVAL for anything else (names are not resolved). */
cmn_err_t cmn_ep_parse(const char *uri, cmn_ep_t *ret);

/* Formats ep as a URI into out (>= 80 bytes). */
void cmn_ep_format(const cmn_ep_t *ep, char *out, size_t out_len);

#endif
