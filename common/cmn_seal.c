/* cmn_seal.c — secrets at rest: AES-256-GCM under a key-encryption key */
#include "cmn_seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_log.h"

struct cmn_seal {
    uint8_t kek[CMN_SEAL_KEK_LEN]; /* the key-encryption key (wiped on destroy) */
};

cmn_seal_t *
cmn_seal_new(const uint8_t kek[CMN_SEAL_KEK_LEN])
{
    cmn_seal_t *self = calloc(1, sizeof *self);
    if (self) {
        memcpy(self->kek, kek, CMN_SEAL_KEK_LEN);
    }
    return self;
}

void
cmn_seal_destroy(cmn_seal_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    OPENSSL_cleanse((*self_p)->kek, sizeof(*self_p)->kek);
    free(*self_p);
    *self_p = NULL;
}

/* Makes the KEK file: O_EXCL, so a file that appeared meanwhile is never replaced. */
static cmn_err_t
s_create(const char *path, uint8_t kek[CMN_SEAL_KEK_LEN])
{
    if (RAND_bytes(kek, CMN_SEAL_KEK_LEN) != 1) {
        return CMN_ECRYPTO;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return cmn_err_from_errno(errno);
    }
    cmn_err_t err = CMN_OK;
    if (write(fd, kek, CMN_SEAL_KEK_LEN) != CMN_SEAL_KEK_LEN || fsync(fd) != 0) {
        err = cmn_err_from_errno(errno ? errno : EIO);
    }
    if (close(fd) != 0 && err == CMN_OK) {
        err = cmn_err_from_errno(errno);
    }
    if (err != CMN_OK) {
        (void) unlink(path);
    }
    return err;
}

static cmn_err_t
s_read(const char *path, uint8_t kek[CMN_SEAL_KEK_LEN])
{
    uint8_t buf[CMN_SEAL_KEK_LEN + 1];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return cmn_err_from_errno(errno);
    }
    cmn_err_t err = CMN_OK;
    ssize_t n = 0;
    if (fstat(fd, &st) != 0) {
        err = cmn_err_from_errno(errno);
    } else if (!S_ISREG(st.st_mode)) {
        err = CMN_EINVAL;
    } else {
        size_t got = 0;
        while (got < sizeof buf && (n = read(fd, buf + got, sizeof buf - got)) > 0) {
            got += (size_t) n;
        }
        if (n < 0) {
            err = cmn_err_from_errno(errno);
        } else if (got != CMN_SEAL_KEK_LEN) {
            err = CMN_EINVAL; /* a KEK is 32 raw bytes, nothing more or less */
        } else {
            memcpy(kek, buf, CMN_SEAL_KEK_LEN);
        }
    }
    OPENSSL_cleanse(buf, sizeof buf);
    (void) close(fd);
    return err;
}

cmn_err_t
cmn_seal_load(const char *path, bool create, cmn_seal_t **ret_seal, bool *ret_created)
{
    uint8_t kek[CMN_SEAL_KEK_LEN];
    bool is_created = false;
    if (path == NULL || path[0] == '\0') {
        return CMN_EINVAL;
    }
    cmn_err_t err = s_read(path, kek);
    if (err == CMN_ENOTFOUND && create) {
        err = s_create(path, kek);
        is_created = err == CMN_OK;
    }
    if (err == CMN_OK) {
        *ret_seal = cmn_seal_new(kek);
        err = *ret_seal ? CMN_OK : CMN_ENOMEM;
    }
    OPENSSL_cleanse(kek, sizeof kek);
    if (err == CMN_OK && ret_created) {
        *ret_created = is_created;
    }
    return err;
}

void
cmn_seal_default_path(const char *keys_dir, const char *service, char *out, size_t len)
{
    (void) snprintf(out, len, "%s/secret/%s.kek", keys_dir, service);
}

cmn_err_t
cmn_seal_load_service(const char *kek_file,
                      const char *keys_dir,
                      const char *service,
                      cmn_seal_t **ret_seal,
                      char *ret_path,
                      size_t len,
                      bool *ret_created)
{
    if (kek_file && kek_file[0]) {
        (void) snprintf(ret_path, len, "%s", kek_file);
    } else {
        cmn_seal_default_path(keys_dir, service, ret_path, len);
    }
    return cmn_seal_load(ret_path, true, ret_seal, ret_created);
}

bool
cmn_seal_is_sealed(const void *rec, size_t len)
{
    const uint8_t *r = rec;
    return len >= CMN_SEAL_OVERHEAD && r[0] >= CMN_SEAL_V1 && r[0] <= 7;
}

/* version | db | 0 | key: what binds a sealed value to its place. */
static int
s_aad(EVP_CIPHER_CTX *ctx,
      bool is_enc,
      uint8_t version,
      const char *db,
      const void *key,
      size_t key_len)
{
    const uint8_t zero = 0;
    const struct {
        const void *p;
        size_t n;
    } parts[] = {{&version, 1}, {db, strlen(db)}, {&zero, 1}, {key, key_len}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        int outl = 0;
        if (parts[i].n > INT_MAX) {
            return 0;
        }
        int ok = is_enc ? EVP_EncryptUpdate(ctx, NULL, &outl, parts[i].p, (int) parts[i].n)
                        : EVP_DecryptUpdate(ctx, NULL, &outl, parts[i].p, (int) parts[i].n);
        if (ok != 1) {
            return 0;
        }
    }
    return 1;
}

cmn_err_t
cmn_seal_seal(const cmn_seal_t *self,
              const char *db,
              const void *key,
              size_t key_len,
              const void *plain,
              size_t len,
              uint8_t **ret_rec,
              size_t *ret_len)
{
    if (self == NULL || db == NULL || (key == NULL && key_len) || (plain == NULL && len) ||
        len > INT_MAX - CMN_SEAL_OVERHEAD) {
        return CMN_EINVAL;
    }
    size_t n = len + CMN_SEAL_OVERHEAD;
    uint8_t *rec = malloc(n);
    if (rec == NULL) {
        return CMN_ENOMEM;
    }
    uint8_t *nonce = rec + 1, *ct = rec + 1 + CMN_SEAL_NONCE, *tag = ct + len;
    cmn_err_t err = CMN_ECRYPTO;
    int outl = 0, fin = 0;
    rec[0] = CMN_SEAL_V1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || RAND_bytes(nonce, CMN_SEAL_NONCE) != 1 ||
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CMN_SEAL_NONCE, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, self->kek, nonce) != 1 ||
        s_aad(ctx, true, CMN_SEAL_V1, db, key, key_len) != 1 ||
        (len && EVP_EncryptUpdate(ctx, ct, &outl, plain, (int) len) != 1) ||
        EVP_EncryptFinal_ex(ctx, ct + outl, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CMN_SEAL_TAG, tag) != 1) {
        goto out;
    }
    err = CMN_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (err != CMN_OK) {
        OPENSSL_cleanse(rec, n);
        free(rec);
        return err;
    }
    *ret_rec = rec;
    *ret_len = n;
    return CMN_OK;
}

cmn_err_t
cmn_seal_open(const cmn_seal_t *self,
              const char *db,
              const void *key,
              size_t key_len,
              const void *rec,
              size_t rec_len,
              uint8_t **ret_plain,
              size_t *ret_len)
{
    const uint8_t *r = rec;
    if (self == NULL || db == NULL || (key == NULL && key_len) || rec == NULL) {
        return CMN_EINVAL;
    }
    if (!cmn_seal_is_sealed(rec, rec_len) || r[0] != CMN_SEAL_V1 || rec_len > INT_MAX) {
        return CMN_EPROTO;
    }
    size_t len = rec_len - CMN_SEAL_OVERHEAD;
    const uint8_t *nonce = r + 1, *ct = r + 1 + CMN_SEAL_NONCE;
    uint8_t tag[CMN_SEAL_TAG]; /* EVP wants a mutable buffer */
    memcpy(tag, ct + len, sizeof tag);
    uint8_t *plain = malloc(len ? len : 1);
    if (plain == NULL) {
        return CMN_ENOMEM;
    }
    cmn_err_t err = CMN_ECRYPTO;
    int outl = 0, fin = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CMN_SEAL_NONCE, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, self->kek, nonce) != 1 ||
        s_aad(ctx, false, r[0], db, key, key_len) != 1 ||
        (len && EVP_DecryptUpdate(ctx, plain, &outl, ct, (int) len) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CMN_SEAL_TAG, tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, plain + outl, &fin) != 1) {
        cmn_log_debug("SEAL-OPEN", "a sealed record of \"%s\" does not authenticate", db);
        goto out;
    }
    err = CMN_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (err != CMN_OK) {
        OPENSSL_cleanse(plain, len ? len : 1);
        free(plain);
        return err;
    }
    *ret_plain = plain;
    *ret_len = len;
    return CMN_OK;
}
