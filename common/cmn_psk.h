/* cmn_psk.h — OCF key derivations: TLS 1.2 P_SHA256 PRF, owner PSK (OCF-NOTES 6.3),
 * and the Random PIN OTM's PIN, PPSK and PSK identity hint (OCF-NOTES 6.4) */
#ifndef CMN_PSK_H
#define CMN_PSK_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

#define CMN_PSK_LEN 16

/* TLS 1.2 P_SHA256(secret, seed) truncated to out_len. */
cmn_err_t cmn_psk_prf_sha256(const uint8_t *secret,
                             size_t secret_len,
                             const uint8_t *seed,
                             size_t seed_len,
                             uint8_t *out,
                             size_t out_len);

/* OwnerPSK = P_SHA256(key_block, label || owner || device)[0..16), with
 * key_block = P_SHA256(master, "key expansion" || server_random || client_random)
 * truncated to kbl. label is the OTM URN ("oic.sec.doxm.jw"), without NUL. */
cmn_err_t cmn_psk_derive_owner(const uint8_t master[48],
                               const uint8_t client_random[32],
                               const uint8_t server_random[32],
                               size_t kbl,
                               const char *label,
                               const uint8_t owner_uuid[16],
                               const uint8_t device_uuid[16],
                               uint8_t out[CMN_PSK_LEN]);

/* Key-block length OCF uses for a negotiated cipher (OCF-NOTES 6.3 table):
 * CBC-SHA256 96, CBC-SHA (the JW deviation) 2*(20+16+0)=72, CCM 40, 256-CCM 72,
 * GCM-SHA256 120. 0 if the cipher is unknown. */
size_t cmn_psk_kbl_for_cipher(const SSL_CIPHER *cipher);

/* Derives the owner PSK from an established (D)TLS session (either side):
 * master secret, randoms and KBL come from ssl. */
cmn_err_t cmn_psk_derive_from_ssl(SSL *ssl,
                                  const char *label,
                                  const uint8_t owner_uuid[16],
                                  const uint8_t device_uuid[16],
                                  uint8_t out[CMN_PSK_LEN],
                                  size_t *ret_kbl);

/* The OTM URN of an oxm value, the owner-PSK label (OCF-NOTES 4.1): 0 "oic.sec.doxm.jw",
 * 1 "oic.sec.doxm.rdp", 2 "oic.sec.doxm.mfgcert". NULL for any other value. */
const char *cmn_psk_otm_label(int64_t oxm);

#define CMN_RDP_PIN_LEN     8                   /* decimal digits */
#define CMN_RDP_IDENTITY    "oic.sec.doxm.rdp"  /* the DOTS's psk_identity */
#define CMN_RDP_HINT_PREFIX "oic.sec.doxm.rdp:" /* the device's hint, then its UUID */
#define CMN_RDP_HINT_MAX    (sizeof CMN_RDP_HINT_PREFIX - 1 + 16)

/* A fresh PIN: CMN_RDP_PIN_LEN uniform decimal digits from the DRBG (RAND_bytes,
 * rejection sampling), NUL-terminated. CMN_ECRYPTO if the DRBG fails. */
cmn_err_t cmn_psk_rdp_pin(char ret_pin[CMN_RDP_PIN_LEN + 1]);

/* True if pin is exactly CMN_RDP_PIN_LEN ASCII digits. */
bool cmn_psk_rdp_pin_is_valid(const char *pin);

/* PPSK = PBKDF2-HMAC-SHA256(password = pin, salt = the 16 raw bytes of the device's
 * RFOTM uuid, 1000 iterations, 16 bytes) (OCF-NOTES 6.4). CMN_EINVAL if the PIN is
 * not valid, CMN_ECRYPTO. */
cmn_err_t
cmn_psk_rdp_ppsk(const char *pin, const uint8_t device_uuid[16], uint8_t out[CMN_PSK_LEN]);

/* The device's psk_identity_hint: CMN_RDP_HINT_PREFIX + uuid (33 bytes), or with
 * is_legacy the uuid alone (16 bytes, devices of older releases). Returns the length
 * written to out. */
size_t cmn_psk_rdp_hint(const uint8_t uuid[16], bool is_legacy, uint8_t out[CMN_RDP_HINT_MAX]);

/* Checks a received hint (either format) against the device uuid expected.
 * OpenSSL keeps hints as C strings, so a hint is cut at its first zero byte: a
 * shorter UUID part matches when the expected uuid has a zero byte right there.
 * CMN_OK if it matches, CMN_EPROTO if it names another UUID or is malformed. */
cmn_err_t cmn_psk_rdp_hint_check(const uint8_t *hint, size_t len, const uint8_t uuid[16]);

#endif
