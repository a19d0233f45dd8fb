/* cmn_ff00_rec.c — the record protection and the PRF of the 0xFF00 engine
 * (cmn_ff00.h): AES-128-CBC with an explicit IV over content || HMAC-SHA256 ||
 * padding (RFC 5246 6.2.3.2, RFC 6347 4.1.2.1), all of it OpenSSL's libcrypto. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "cmn_ff00.h"

#define HDR_LEN 13u
#define IV_LEN  16u
#define MAC_LEN 32u
#define BLK     16u

/* The algorithms, fetched once per process (an OpenSSL 3 fetch per record costs more
 * than the record: docs/performance.md); never freed, like OpenSSL's own tables. */
static EVP_MAC *s_hmac;
static EVP_CIPHER *s_aes;
static EVP_KDF *s_prf;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_fetch(void)
{
    s_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    s_aes = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
    s_prf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
}

static bool
s_algs(void)
{
    return pthread_once(&s_once, s_fetch) == 0 && s_hmac && s_aes && s_prf;
}

/* HMAC-SHA256(mac_key, seq_num || type || version || length || content), where
 * seq_num is the record's epoch and sequence number (RFC 6347 4.1.2.1). */
static cmn_err_t
s_mac(const cmn_ff00_dir_t *keys,
      const uint8_t hdr[HDR_LEN],
      const uint8_t *content,
      size_t len,
      uint8_t out[MAC_LEN])
{
    uint8_t pre[HDR_LEN];
    memcpy(pre, hdr + 3, 8); /* epoch + sequence number */
    pre[8] = hdr[0];         /* type */
    pre[9] = hdr[1];         /* version */
    pre[10] = hdr[2];
    pre[11] = (uint8_t) (len >> 8);
    pre[12] = (uint8_t) len;
    cmn_err_t err = CMN_ECRYPTO;
    char md[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, md, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC_CTX *ctx = s_algs() ? EVP_MAC_CTX_new(s_hmac) : NULL;
    size_t n = 0;
    if (ctx && EVP_MAC_init(ctx, keys->mac_key, MAC_LEN, params) == 1 &&
        EVP_MAC_update(ctx, pre, sizeof pre) == 1 && EVP_MAC_update(ctx, content, len) == 1 &&
        EVP_MAC_final(ctx, out, &n, MAC_LEN) == 1 && n == MAC_LEN) {
        err = CMN_OK;
    }
    EVP_MAC_CTX_free(ctx);
    return err;
}

static cmn_err_t
s_cbc(const uint8_t key[16],
      const uint8_t iv[IV_LEN],
      int enc,
      const uint8_t *in,
      size_t len,
      uint8_t *out)
{
    cmn_err_t err = CMN_ECRYPTO;
    EVP_CIPHER_CTX *ctx = s_algs() ? EVP_CIPHER_CTX_new() : NULL;
    int n1 = 0, n2 = 0;
    if (ctx && EVP_CipherInit_ex2(ctx, s_aes, key, iv, enc, NULL) == 1 &&
        EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
        EVP_CipherUpdate(ctx, out, &n1, in, (int) len) == 1 &&
        EVP_CipherFinal_ex(ctx, out + n1, &n2) == 1 && (size_t) (n1 + n2) == len) {
        err = CMN_OK;
    }
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

cmn_err_t
cmn_ff00_seal(const cmn_ff00_dir_t *keys,
              uint8_t type,
              uint16_t epoch,
              uint64_t seq,
              const uint8_t *iv,
              const uint8_t *content,
              size_t len,
              uint8_t *out,
              size_t cap,
              size_t *ret_len)
{
    if (len > CMN_FF00_MAX_PLAIN) {
        return CMN_EINVAL;
    }
    size_t pad = BLK - (len + MAC_LEN + 1) % BLK; /* bytes of padding besides its length */
    if (pad == BLK) {
        pad = 0;
    }
    size_t body = len + MAC_LEN + pad + 1;
    size_t total = HDR_LEN + IV_LEN + body;
    if (cap < total) {
        return CMN_ENOSPC;
    }
    uint8_t *hdr = out;
    hdr[0] = type;
    hdr[1] = 254;
    hdr[2] = 253;
    hdr[3] = (uint8_t) (epoch >> 8);
    hdr[4] = (uint8_t) epoch;
    for (int i = 0; i < 6; i++) {
        hdr[5 + i] = (uint8_t) (seq >> (8 * (5 - i)));
    }
    hdr[11] = (uint8_t) ((total - HDR_LEN) >> 8);
    hdr[12] = (uint8_t) (total - HDR_LEN);
    uint8_t *ivp = out + HDR_LEN;
    if (iv) {
        memcpy(ivp, iv, IV_LEN);
    } else if (RAND_bytes(ivp, IV_LEN) != 1) {
        return CMN_ECRYPTO;
    }
    /* The plaintext is built in place after the IV, then encrypted in place. */
    uint8_t *p = ivp + IV_LEN;
    memmove(p, content, len);
    cmn_err_t err = s_mac(keys, hdr, p, len, p + len);
    if (err != CMN_OK) {
        return err;
    }
    memset(p + len + MAC_LEN, (int) pad, pad + 1);
    err = s_cbc(keys->enc_key, ivp, 1, p, body, p);
    if (err == CMN_OK) {
        *ret_len = total;
    }
    return err;
}

/* 0xff if a < b else 0, without a branch on the values (both far below 2^63). */
static uint8_t
s_lt(size_t a, size_t b)
{
    return (uint8_t) (0u - (uint8_t) (((a - b) >> (sizeof(size_t) * 8 - 1)) & 1u));
}

cmn_err_t
cmn_ff00_open(const cmn_ff00_dir_t *keys,
              const uint8_t *record,
              size_t len,
              uint8_t *out,
              size_t cap,
              size_t *ret_len)
{
    if (len < HDR_LEN) {
        return CMN_EPROTO;
    }
    size_t frag = ((size_t) record[11] << 8) | record[12];
    if (frag != len - HDR_LEN || frag < IV_LEN + 3 * BLK || (frag - IV_LEN) % BLK != 0) {
        return CMN_EPROTO; /* 3 blocks: at least the MAC and a padding-length byte */
    }
    size_t n = frag - IV_LEN;
    if (n > CMN_FF00_MAX_PLAIN + MAC_LEN + 256) {
        return CMN_EPROTO;
    }
    uint8_t *p = OPENSSL_malloc(n);
    if (p == NULL) {
        return CMN_ENOMEM;
    }
    cmn_err_t err = s_cbc(keys->enc_key, record + HDR_LEN, 0, record + HDR_LEN + IV_LEN, n, p);
    if (err != CMN_OK) {
        OPENSSL_clear_free(p, n);
        return err;
    }
    /* Padding: pad + 1 bytes all equal to pad, with room for the MAC in front. Every
     * candidate byte is looked at whatever pad is; a bad padding reads as no padding
     * (RFC 5246 6.2.3.2), so the MAC is computed either way and one error covers
     * both. */
    size_t pad = p[n - 1];
    uint8_t good = (uint8_t) ~s_lt(n, pad + 1 + MAC_LEN); /* 0xff if it fits */
    size_t scan = n - 1 < 256 ? n - 1 : 256;
    for (size_t i = 1; i <= scan; i++) {
        uint8_t in_pad = (uint8_t) ~s_lt(pad, i); /* i <= pad */
        good &= (uint8_t) ~(in_pad & (uint8_t) (0u - (uint8_t) (p[n - 1 - i] != pad)));
    }
    pad &= (size_t) good; /* bad padding: treated as none */
    size_t clen = n - MAC_LEN - pad - 1;
    uint8_t mac[MAC_LEN];
    err = s_mac(keys, record, p, clen, mac);
    if (err == CMN_OK) {
        int bad_mac = CRYPTO_memcmp(mac, p + clen, MAC_LEN) != 0;
        if (bad_mac | (good != 0xff)) {
            err = CMN_ECRYPTO;
        } else if (clen > cap) {
            err = CMN_ENOSPC;
        } else {
            memcpy(out, p, clen);
            *ret_len = clen;
        }
    }
    OPENSSL_cleanse(mac, sizeof mac);
    OPENSSL_clear_free(p, n);
    return err;
}

cmn_err_t
cmn_ff00_prf(const uint8_t *secret,
             size_t secret_len,
             const char *label,
             const uint8_t *seed,
             size_t seed_len,
             uint8_t *out,
             size_t out_len)
{
    /* TLS1-PRF takes the label as the start of the seed. */
    size_t label_len = strlen(label);
    uint8_t buf[128], key[128];
    char md[] = "SHA256";
    if (label_len + seed_len > sizeof buf || secret_len > sizeof key) {
        return CMN_EINVAL;
    }
    memcpy(buf, label, label_len);
    memcpy(buf + label_len, seed, seed_len);
    memcpy(key, secret, secret_len);
    cmn_err_t err = CMN_ECRYPTO;
    EVP_KDF_CTX *ctx = s_algs() ? EVP_KDF_CTX_new(s_prf) : NULL;
    OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, key, secret_len),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, buf, label_len + seed_len),
            OSSL_PARAM_construct_end(),
    };
    if (ctx && EVP_KDF_derive(ctx, out, out_len, params) == 1) {
        err = CMN_OK;
    }
    EVP_KDF_CTX_free(ctx);
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(key, sizeof key);
    return err;
}
