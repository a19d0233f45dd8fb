/* cmn_ff00.h — DTLS 1.2 (RFC 6347) for exactly one cipher suite, the OCF Just Works
 * suite TLS_ECDH_ANON_WITH_AES_128_CBC_SHA256, code point 0xFF00 (OCF-NOTES 6.1),
 * which no stock TLS library ships. Client and server, sans-IO: the caller moves
 * datagrams and time, the engine never touches a socket or a clock.
 *
 *   in:  cmn_ff00_input(datagram, now)  · cmn_ff00_tick(now) when the deadline passes
 *        cmn_ff00_write(application data)
 *   out: cmn_ff00_output() until it returns 0 (datagrams to send to the peer)
 *        cmn_ff00_read() until CMN_ENOTFOUND (application data received)
 *
 * What it does: HelloVerifyRequest cookie exchange, handshake fragmentation and
 * reassembly, flight retransmission with a doubling timer, ServerKeyExchange with
 * ECDHE P-256 parameters and no signature, AES-128-CBC + HMAC-SHA256 records
 * (explicit IV, MAC-then-encrypt, padding checked in constant time), the TLS 1.2
 * PRF with SHA-256, Finished verification, alerts and close_notify, a 64-record
 * replay window per epoch. What it refuses: every other suite, compression,
 * renegotiation, session resumption, extended master secret and encrypt-then-MAC
 * (not negotiated: the owner PSK of OCF-NOTES 6.3 is derived from the plain master
 * secret). The crypto is OpenSSL's libcrypto (EVP ECDH, AES-CBC, HMAC, TLS1-PRF).
 * docs/dtls.md describes the engine, decisions D50-D54 why it exists. */
#ifndef CMN_FF00_H
#define CMN_FF00_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

#define CMN_FF00_SUITE      0xFF00u
#define CMN_FF00_KBL        96u   /* OCF key-block length of the suite: 2 x (32 + 16 + 0) */
#define CMN_FF00_MTU        1400u /* largest datagram the engine emits */
#define CMN_FF00_MAX_PLAIN  4096u /* largest application record it writes or accepts */
#define CMN_FF00_MASTER_LEN 48u
#define CMN_FF00_RANDOM_LEN 32u

typedef struct cmn_ff00 cmn_ff00_t;

typedef enum {
    CMN_FF00_HANDSHAKE = 0, /* handshake running (or not started) */
    CMN_FF00_ESTABLISHED,   /* application data flows */
    CMN_FF00_CLOSED,        /* close_notify sent or received */
    CMN_FF00_FAILED,        /* handshake or session failed: cmn_ff00_error() says why */
    CMN_FF00_STATE_COUNT
} cmn_ff00_state_t;

typedef struct {
    bool is_server;
    /* Server: the key of its HelloVerifyRequest cookies (HMAC-SHA256, copied; NULL =
     * a random key per engine) and the peer's address as bytes (copied; the cookie is
     * the HMAC of it, at most 64 bytes are used). */
    const uint8_t *cookie_key;
    size_t cookie_key_len;
    const uint8_t *peer;
    size_t peer_len;
    uint32_t rto_ms;          /* first retransmission timeout (0 = 1000, RFC 6347 4.2.4.1) */
    uint32_t max_retransmits; /* a flight is sent at most 1 + this many times (0 = 4) */
} cmn_ff00_cfg_t;

/* A new engine (owned; cmn_ff00_destroy). NULL if out of memory or the DRBG fails. */
cmn_ff00_t *cmn_ff00_new(const cmn_ff00_cfg_t *cfg);

/* Wipes the keys, frees, NULLs *self_p. Accepts NULL. */
void cmn_ff00_destroy(cmn_ff00_t **self_p);

/* Client: queues the first ClientHello and starts the timer. CMN_ESTATE on a server
 * or a started client. */
cmn_err_t cmn_ff00_start(cmn_ff00_t *self, uint64_t now_ms);

/* Takes one datagram from the peer (borrowed). Records that fail their MAC, padding,
 * replay or framing checks are dropped silently (RFC 6347 4.1.2.7); a handshake the
 * engine cannot continue fails with a fatal alert queued for the peer. Returns CMN_OK,
 * CMN_ECRYPTO or CMN_EPROTO when this datagram failed the session, CMN_ESTATE after it
 * ended (failed or closed). */
cmn_err_t cmn_ff00_input(cmn_ff00_t *self, const uint8_t *dgram, size_t len, uint64_t now_ms);

/* Pops the next datagram to send into buf (cap >= CMN_FF00_MTU); returns its length,
 * 0 when there is none. */
size_t cmn_ff00_output(cmn_ff00_t *self, uint8_t *buf, size_t cap);

/* Encrypts len bytes of application data into one record (queued for output).
 * CMN_ESTATE before the handshake completed or after the end, CMN_EINVAL if len >
 * CMN_FF00_MAX_PLAIN, CMN_ENOSPC if the output queue is full. */
cmn_err_t cmn_ff00_write(cmn_ff00_t *self, const uint8_t *data, size_t len);

/* Pops the next application record received into buf. CMN_ENOTFOUND if there is
 * none, CMN_ENOSPC if cap is too small (the record stays queued). */
cmn_err_t cmn_ff00_read(cmn_ff00_t *self, uint8_t *buf, size_t cap, size_t *ret_len);

/* When cmn_ff00_tick() must run next (ms, the caller's clock), 0 = no timer. */
uint64_t cmn_ff00_deadline(const cmn_ff00_t *self);

/* Retransmits the last flight if the deadline passed; fails the session with
 * CMN_ETIMEDOUT after max_retransmits. CMN_OK otherwise. */
cmn_err_t cmn_ff00_tick(cmn_ff00_t *self, uint64_t now_ms);

/* Queues close_notify (once established) and ends the session. */
void cmn_ff00_close(cmn_ff00_t *self);

cmn_ff00_state_t cmn_ff00_state(const cmn_ff00_t *self);

/* Why the session failed ("peer sent fatal alert 40", "Finished does not verify",
 * "handshake timed out"), "" otherwise. Borrowed, valid while self is. */
const char *cmn_ff00_error(const cmn_ff00_t *self);

/* The session's master secret and randoms, for the owner-PSK derivation
 * (cmn_psk_derive_owner with CMN_FF00_KBL). CMN_ESTATE before it is established. The
 * caller wipes master after use. */
cmn_err_t cmn_ff00_export(const cmn_ff00_t *self,
                          uint8_t ret_master[CMN_FF00_MASTER_LEN],
                          uint8_t ret_client_random[CMN_FF00_RANDOM_LEN],
                          uint8_t ret_server_random[CMN_FF00_RANDOM_LEN]);

/* Server, before a handshake: queues a HelloVerifyRequest with message_seq (the
 * message_seq of the client's next ClientHello) without having seen the ClientHello.
 * For a server that takes over a peer whose ClientHello another stack consumed
 * (ocf-devsim behind libcoap): the client answers with a ClientHello carrying this
 * engine's cookie. CMN_ESTATE on a client or a started server. */
cmn_err_t cmn_ff00_hello_verify(cmn_ff00_t *self, uint16_t msg_seq);

/* True if dgram starts with a plaintext ClientHello record (epoch 0): a server uses
 * it to tell a new handshake from a peer's next record. */
bool cmn_ff00_is_client_hello(const uint8_t *dgram, size_t len);

/* Record protection, exposed for the known-answer tests and the fuzz harness.
 * One direction's keys of the suite. */
typedef struct {
    uint8_t mac_key[32];
    uint8_t enc_key[16];
} cmn_ff00_dir_t;

/* Seals content into a whole record (13-byte header, explicit IV, AES-128-CBC of
 * content || HMAC-SHA256 || padding) written to out. iv: 16 bytes, NULL = random.
 * CMN_ENOSPC if cap is too small, CMN_EINVAL if len > CMN_FF00_MAX_PLAIN. */
cmn_err_t cmn_ff00_seal(const cmn_ff00_dir_t *keys,
                        uint8_t type,
                        uint16_t epoch,
                        uint64_t seq,
                        const uint8_t *iv,
                        const uint8_t *content,
                        size_t len,
                        uint8_t *out,
                        size_t cap,
                        size_t *ret_len);

/* Opens a whole record (header + fragment) sealed with keys: checks framing, padding
 * and MAC (the padding check and the MAC comparison run in constant time), writes the
 * content to out. CMN_ECRYPTO on a bad MAC or padding (one error for both),
 * CMN_EPROTO on bad framing, CMN_ENOSPC if cap is too small. */
cmn_err_t cmn_ff00_open(const cmn_ff00_dir_t *keys,
                        const uint8_t *record,
                        size_t len,
                        uint8_t *out,
                        size_t cap,
                        size_t *ret_len);

/* The TLS 1.2 PRF with SHA-256 (RFC 5246 5): out = P_SHA256(secret, label || seed),
 * computed by OpenSSL's TLS1-PRF KDF. */
cmn_err_t cmn_ff00_prf(const uint8_t *secret,
                       size_t secret_len,
                       const char *label,
                       const uint8_t *seed,
                       size_t seed_len,
                       uint8_t *out,
                       size_t out_len);

#endif
