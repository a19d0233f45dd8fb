/* cmn_psk.c — TLS 1.2 PRF and the OCF owner-PSK derivation */
#include "cmn_psk.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define PRF_MAX_SEED 160

cmn_err_t
cmn_psk_prf_sha256(const uint8_t *secret,
                   size_t secret_len,
                   const uint8_t *seed,
                   size_t seed_len,
                   uint8_t *out,
                   size_t out_len)
{
    uint8_t a[32];
    uint8_t buf[32 + PRF_MAX_SEED];
    uint8_t block[32];
    unsigned int len = 0;
    cmn_err_t err = CMN_OK;

    if (seed_len > PRF_MAX_SEED) {
        return CMN_EINVAL;
    }
    /* A(1) = HMAC(secret, seed) */
    if (HMAC(EVP_sha256(), secret, (int) secret_len, seed, seed_len, a, &len) == NULL) {
        return CMN_ECRYPTO;
    }
    size_t done = 0;
    while (done < out_len) {
        memcpy(buf, a, 32);
        memcpy(buf + 32, seed, seed_len);
        if (HMAC(EVP_sha256(), secret, (int) secret_len, buf, 32 + seed_len, block, &len) == NULL) {
            err = CMN_ECRYPTO;
            break;
        }
        size_t n = out_len - done < 32 ? out_len - done : 32;
        memcpy(out + done, block, n);
        done += n;
        if (HMAC(EVP_sha256(), secret, (int) secret_len, a, 32, a, &len) == NULL) {
            err = CMN_ECRYPTO;
            break;
        }
    }
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(block, sizeof block);
    return err;
}

cmn_err_t
cmn_psk_derive_owner(const uint8_t master[48],
                     const uint8_t client_random[32],
                     const uint8_t server_random[32],
                     size_t kbl,
                     const char *label,
                     const uint8_t owner_uuid[16],
                     const uint8_t device_uuid[16],
                     uint8_t out[CMN_PSK_LEN])
{
    static const char expansion[] = "key expansion";
    uint8_t seed[PRF_MAX_SEED];
    uint8_t key_block[128];
    size_t label_len = strlen(label);
    cmn_err_t err;

    if (kbl == 0 || kbl > sizeof key_block || label_len + 32 > sizeof seed) {
        return CMN_EINVAL;
    }
    size_t n = 0;
    memcpy(seed, expansion, sizeof expansion - 1);
    n += sizeof expansion - 1;
    memcpy(seed + n, server_random, 32);
    n += 32;
    memcpy(seed + n, client_random, 32);
    n += 32;
    err = cmn_psk_prf_sha256(master, 48, seed, n, key_block, kbl);
    if (err != CMN_OK) {
        goto out;
    }
    n = 0;
    memcpy(seed, label, label_len);
    n += label_len;
    memcpy(seed + n, owner_uuid, 16);
    n += 16;
    memcpy(seed + n, device_uuid, 16);
    n += 16;
    err = cmn_psk_prf_sha256(key_block, kbl, seed, n, out, CMN_PSK_LEN);
out:
    OPENSSL_cleanse(key_block, sizeof key_block);
    OPENSSL_cleanse(seed, sizeof seed);
    return err;
}

size_t
cmn_psk_kbl_for_cipher(const SSL_CIPHER *cipher)
{
    if (cipher == NULL) {
        return 0;
    }
    const char *name = SSL_CIPHER_get_name(cipher);
    if (strstr(name, "GCM") != NULL) {
        return 2 * (32 + 16 + 12); /* the OCF table, see OCF-NOTES 6.3 */
    }
    if (strstr(name, "CCM") != NULL) {
        return strstr(name, "AES256") != NULL ? 2 * (0 + 32 + 4) : 2 * (0 + 16 + 4);
    }
    if (strstr(name, "CBC-SHA256") != NULL || strstr(name, "AES128-SHA256") != NULL) {
        return 2 * (32 + 16 + 0);
    }
    size_t len = strlen(name);
    if (strcmp(name, "AECDH-AES128-SHA") == 0 || strstr(name, "AES128-SHA") != NULL ||
        (strstr(name, "AES128") != NULL && len > 8 && strcmp(name + len - 8, "-CBC-SHA") == 0)) {
        return 2 * (20 + 16 + 0); /* 0xC018, our JW deviation (docs/decisions.md D1) */
    }
    return 0;
}

cmn_err_t
cmn_psk_derive_from_ssl(SSL *ssl,
                        const char *label,
                        const uint8_t owner_uuid[16],
                        const uint8_t device_uuid[16],
                        uint8_t out[CMN_PSK_LEN],
                        size_t *ret_kbl)
{
    uint8_t master[48];
    uint8_t crand[32];
    uint8_t srand[32];
    SSL_SESSION *sess = SSL_get_session(ssl);
    if (sess == NULL) {
        return CMN_ESTATE;
    }
    size_t kbl = cmn_psk_kbl_for_cipher(SSL_get_current_cipher(ssl));
    if (kbl == 0) {
        return CMN_ECRYPTO;
    }
    if (SSL_SESSION_get_master_key(sess, master, sizeof master) != sizeof master ||
        SSL_get_client_random(ssl, crand, sizeof crand) != sizeof crand ||
        SSL_get_server_random(ssl, srand, sizeof srand) != sizeof srand) {
        OPENSSL_cleanse(master, sizeof master);
        return CMN_ECRYPTO;
    }
    cmn_err_t err =
            cmn_psk_derive_owner(master, crand, srand, kbl, label, owner_uuid, device_uuid, out);
    OPENSSL_cleanse(master, sizeof master);
    if (err == CMN_OK && ret_kbl) {
        *ret_kbl = kbl;
    }
    return err;
}
