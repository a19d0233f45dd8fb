/* cmn_psk.h — OCF key derivations: TLS 1.2 P_SHA256 PRF, owner PSK (OCF-NOTES 6.3) */
#ifndef CMN_PSK_H
#define CMN_PSK_H

#include <openssl/ssl.h>
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

#endif
