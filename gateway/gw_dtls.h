/* gw_dtls.h — the gateway's DTLS session policies, behind one small interface.
 * Each client session gets its own policy; nothing here is process-wide. A 0xFF00
 * implementation for real Just Works devices and certificate sessions slot in here
 * (one more row in gw_dtls.c's table) without touching the callers (docs/dtls.md). */
#ifndef GW_DTLS_H
#define GW_DTLS_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

typedef enum {
    GW_DTLS_JW_ANON = 1, /* Just Works DOC: OCF's 0xFF00 (common/cmn_ff00_relay, D50) */
    GW_DTLS_PSK = 2,     /* ECDHE-PSK-AES128-CBC-SHA256 (0xC037) */
    GW_DTLS_RDP = 3,     /* Random PIN DOC: 0xC037, identity "oic.sec.doxm.rdp", key = PPSK */
    GW_DTLS_MFG = 4,     /* manufacturer-certificate DOC: ECDHE-ECDSA CCM suites, chain checked */
    GW_DTLS_CERT = 5     /* identity certificates both ways (CMS): ECDHE-ECDSA CCM suites */
} gw_dtls_kind_t;

/* gw_dtls_cipher() of an established 0xFF00 session (OpenSSL has no name for it). */
#define GW_DTLS_FF00_NAME "ECDH-ANON-AES128-CBC-SHA256"

typedef struct cmn_ff00_relay cmn_ff00_relay_t;

typedef struct {
    gw_dtls_kind_t kind;
    uint8_t identity[64]; /* PSK identity (raw bytes) */
    size_t identity_len;
    uint8_t key[32]; /* PSK (RDP: the PPSK) */
    size_t key_len;
    uint8_t peer_uuid[16];  /* RDP: the device UUID its PSK identity hint must carry;
                               MFG: the UUID the CN of its leaf must carry (unless
                               is_subject_lax) */
    bool is_subject_lax;    /* MFG: a leaf whose CN names another UUID is accepted (a
                               stock device's fixed certificate, D66) and a notice logged;
                               false (the builders' default): refused, "wrong subject" */
    const uint8_t *anchors; /* MFG: the trust anchors (PEM), borrowed: gw_dtls_open()
                               copies them; NULL in a stored copy of the policy */
    size_t anchors_len;     /* 0 = continue on the open DOC */
    const uint8_t *cert;    /* CERT: our chain (PEM, leaf first), borrowed as anchors */
    size_t cert_len;
    const uint8_t *cert_key; /* CERT: its private key (PEM), borrowed as anchors */
    size_t cert_key_len;
} gw_dtls_policy_t;

/* The policy of a Random PIN DOC (OCF-NOTES 6.4): key = PPSK from pin and the
 * device's RFOTM uuid, identity "oic.sec.doxm.rdp", hint checked against that uuid.
 * The caller wipes pin and the policy after use. CMN_EINVAL if pin is not 8 digits,
 * CMN_ECRYPTO. */
cmn_err_t gw_dtls_policy_rdp(const char *pin, const uint8_t device_uuid[16], gw_dtls_policy_t *ret);

/* The policy of a manufacturer-certificate DOC (OCF-NOTES 6.5, seed clause 7.4): the
 * device's chain must verify against anchors (PEM bundle, borrowed until
 * gw_dtls_open) with the OCF profile (cmn_cert_verify_mfg_chain) and its leaf's CN
 * must name device_uuid (set ret->is_subject_lax to accept another uuid there);
 * otherwise the handshake is aborted and gw_dtls_refusal() says why ("manufacturer
 * certificate refused: expired: ..."). */
void gw_dtls_policy_mfg(const uint8_t *anchors,
                        size_t anchors_len,
                        const uint8_t device_uuid[16],
                        gw_dtls_policy_t *ret);

/* Makes every DTLS client session of ctx offer exactly its policy's suites from its
 * first ClientHello on (docs/dtls.md): hooks libcoap's SSL_CTX once (a throw-away
 * session to a loopback socket of our own finds it). Call it once after
 * coap_new_context(); gw_dtls_open() refuses to open sessions on a context without
 * it. CMN_ECRYPTO, CMN_ENOMEM. */
cmn_err_t gw_dtls_attach(coap_context_t *ctx);
/* The policy of a certificate session (CMS's proof, docs/cms.md): we present chain
 * (PEM, leaf first) with key (PEM), and the device's chain must verify against anchors
 * with the OCF profile and name device_uuid in its CN, or the handshake is aborted
 * ("identity certificate refused: ..."). All three are borrowed until gw_dtls_open. */
void gw_dtls_policy_cert(const uint8_t *anchors,
                         size_t anchors_len,
                         const uint8_t *chain,
                         size_t chain_len,
                         const uint8_t *key,
                         size_t key_len,
                         const uint8_t device_uuid[16],
                         gw_dtls_policy_t *ret);

/* Opens a client session to server with policy and starts the handshake. The
 * session may carry per-session state (RDP): close it with gw_dtls_close(), which
 * releases our reference. Its first ClientHello offers exactly the policy's suites.
 * NULL on failure (*ret_err says why; CMN_ECRYPTO if ctx is not attached). */
coap_session_t *gw_dtls_open(coap_context_t *ctx,
                             const coap_address_t *server,
                             const gw_dtls_policy_t *policy,
                             cmn_err_t *ret_err);

/* Frees the session's per-session state, releases the reference and NULLs
 * *session_p. Accepts plain sessions and NULL. */
void gw_dtls_close(coap_session_t **session_p);

/* Why our side aborted the session's handshake ("device changed its UUID in the PIN
 * hint"), or NULL if it did not (the peer or the network ended it). */
const char *gw_dtls_refusal(coap_session_t *session);

/* The device's leaf as the chain check of a GW_DTLS_MFG or GW_DTLS_CERT session
 * accepted it: *ret_cn its subject CN as sent (peer-chosen text: escape it before
 * logging it) and *ret_sha256 the SHA-256 of its DER (64 lowercase hex digits), both
 * borrowed until the session is closed. CMN_ENOTFOUND for any other session and
 * before the chain was accepted. */
cmn_err_t gw_dtls_peer_cert(coap_session_t *session, const char **ret_cn, const char **ret_sha256);

/* The 0xFF00 relay of a GW_DTLS_JW_ANON session (its fds to poll, cmn_ff00_relay_process to
 * run, the engine for the owner PSK), NULL for every other session. Borrowed. */
cmn_ff00_relay_t *gw_dtls_ff00(coap_session_t *session);

/* The negotiated cipher's OpenSSL name ("" before the handshake). */
const char *gw_dtls_cipher(coap_session_t *session);

/* True if policy only continues an open session (a Random PIN policy without a PIN,
 * a manufacturer-certificate policy without anchors: the steps after the DOC
 * handshake); it cannot open one. */
int gw_dtls_policy_continues(const gw_dtls_policy_t *policy);

/* True if both policies would build the same session. A policy with trust anchors
 * equals none: it opens a new DOC. */
int gw_dtls_policy_eq(const gw_dtls_policy_t *a, const gw_dtls_policy_t *b);

#endif
