/* gw_dtls.h — the gateway's DTLS session policies, behind one small interface.
 * Each client session gets its own policy; nothing here is process-wide. A 0xFF00
 * implementation for real Just Works devices, RDP and certificate sessions slot in
 * here without touching the callers (docs/dtls.md). */
#ifndef GW_DTLS_H
#define GW_DTLS_H

#include <coap3/coap.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

typedef enum {
    GW_DTLS_JW_ANON = 1, /* anonymous ECDH (0xC018 stand-in for 0xFF00) */
    GW_DTLS_PSK = 2      /* ECDHE-PSK-AES128-CBC-SHA256 (0xC037) */
} gw_dtls_kind_t;

typedef struct {
    gw_dtls_kind_t kind;
    uint8_t identity[64]; /* PSK identity (raw bytes) */
    size_t identity_len;
    uint8_t key[32]; /* PSK */
    size_t key_len;
} gw_dtls_policy_t;

/* Opens a client session to server with policy and starts the handshake.
 * NULL on failure (*ret_err says why). */
coap_session_t *gw_dtls_open(coap_context_t *ctx,
                             const coap_address_t *server,
                             const gw_dtls_policy_t *policy,
                             cmn_err_t *ret_err);

/* The negotiated cipher's OpenSSL name ("" before the handshake). */
const char *gw_dtls_cipher(coap_session_t *session);

/* True if both policies would build the same session. */
int gw_dtls_policy_eq(const gw_dtls_policy_t *a, const gw_dtls_policy_t *b);

#endif
