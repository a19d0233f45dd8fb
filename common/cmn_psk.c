/* cmn_psk.c — TLS 1.2 PRF and the OCF owner-PSK derivation */
#include "cmn_psk.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
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

static const struct {
    int64_t oxm;       /* doxm oxms / oxmsel value */
    const char *label; /* its URN */
} s_otm_labels[] = {
        {0, "oic.sec.doxm.jw"},
        {1, "oic.sec.doxm.rdp"},
        {2, "oic.sec.doxm.mfgcert"},
};

const char *
cmn_psk_otm_label(int64_t oxm)
{
    for (size_t i = 0; i < sizeof s_otm_labels / sizeof s_otm_labels[0]; i++) {
        if (s_otm_labels[i].oxm == oxm) {
            return s_otm_labels[i].label;
        }
    }
    return NULL;
}

cmn_err_t
cmn_psk_rdp_pin(char ret_pin[CMN_RDP_PIN_LEN + 1])
{
    uint8_t pool[32];
    size_t n = 0;
    char pin[CMN_RDP_PIN_LEN + 1];
    while (n < CMN_RDP_PIN_LEN) {
        if (RAND_bytes(pool, sizeof pool) != 1) {
            OPENSSL_cleanse(pin, sizeof pin);
            return CMN_ECRYPTO;
        }
        /* 250 = 25 * 10: bytes at or above it would favour the digits 0-5. */
        for (size_t i = 0; i < sizeof pool && n < CMN_RDP_PIN_LEN; i++) {
            if (pool[i] < 250) {
                pin[n++] = (char) ('0' + pool[i] % 10);
            }
        }
    }
    pin[n] = '\0';
    memcpy(ret_pin, pin, sizeof pin);
    OPENSSL_cleanse(pin, sizeof pin);
    OPENSSL_cleanse(pool, sizeof pool);
    return CMN_OK;
}

bool
cmn_psk_rdp_pin_is_valid(const char *pin)
{
    size_t n = 0;
    while (pin && pin[n] >= '0' && pin[n] <= '9') {
        n++;
    }
    return pin && n == CMN_RDP_PIN_LEN && pin[n] == '\0';
}

cmn_err_t
cmn_psk_rdp_ppsk(const char *pin, const uint8_t device_uuid[16], uint8_t out[CMN_PSK_LEN])
{
    if (!cmn_psk_rdp_pin_is_valid(pin)) {
        return CMN_EINVAL;
    }
    return PKCS5_PBKDF2_HMAC(pin, CMN_RDP_PIN_LEN, device_uuid, 16, 1000, EVP_sha256(), CMN_PSK_LEN,
                             out) == 1
                   ? CMN_OK
                   : CMN_ECRYPTO;
}

size_t
cmn_psk_rdp_hint(const uint8_t uuid[16], bool is_legacy, uint8_t out[CMN_RDP_HINT_MAX])
{
    size_t n = is_legacy ? 0 : sizeof CMN_RDP_HINT_PREFIX - 1;
    memcpy(out, CMN_RDP_HINT_PREFIX, n);
    memcpy(out + n, uuid, 16);
    return n + 16;
}

cmn_err_t
cmn_psk_rdp_hint_check(const uint8_t *hint, size_t len, const uint8_t uuid[16])
{
    size_t prefix = sizeof CMN_RDP_HINT_PREFIX - 1;
    if (len >= prefix && memcmp(hint, CMN_RDP_HINT_PREFIX, prefix) == 0) {
        hint += prefix;
        len -= prefix;
    }
    if (len > 16 || memcmp(hint, uuid, len) != 0) {
        return CMN_EPROTO;
    }
    return len == 16 || uuid[len] == 0 ? CMN_OK : CMN_EPROTO;
}
