/* gw_test_result.h — what the gateway's unit tests keep of one gw_coap exchange, and
 * the gw_coap_done_fn that records it (header-only: one copy per test program) */
#ifndef GW_TEST_RESULT_H
#define GW_TEST_RESULT_H

#include <stdio.h>

#include "gw_coap.h"

typedef struct {
    int done; /* calls of the callback */
    cmn_err_t err;
    int code;
    char cipher[64];
    char cert_cn[80]; /* the device's accepted leaf (MFG, CERT) */
    char cert_sha256[65];
    char error[256];
    char payload[64]; /* the reply's payload as text, cut */
} gw_test_result_t;

static inline void
gw_test_done(void *arg,
             cmn_err_t err,
             const char *error,
             int code,
             const uint8_t *payload,
             size_t len,
             const gw_coap_peer_t *peer)
{
    gw_test_result_t *res = arg;
    (void) snprintf(res->error, sizeof res->error, "%s", error ? error : "");
    (void) snprintf(res->payload, sizeof res->payload, "%.*s", (int) len,
                    payload ? (const char *) payload : "");
    res->done++;
    res->err = err;
    res->code = code;
    (void) snprintf(res->cipher, sizeof res->cipher, "%s", peer ? peer->cipher : "");
    (void) snprintf(res->cert_cn, sizeof res->cert_cn, "%s", peer ? peer->cert_cn : "");
    (void) snprintf(res->cert_sha256, sizeof res->cert_sha256, "%s", peer ? peer->cert_sha256 : "");
}

#endif
