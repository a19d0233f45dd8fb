/* cmn_seal.h — secrets at rest: AES-256-GCM under a key-encryption key (KEK) kept
 * apart from the store */
#ifndef CMN_SEAL_H
#define CMN_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

/* A sealed record (docs/security.md, "Secrets at rest"):
 *
 *   version (1 byte, CMN_SEAL_V1) | nonce (12 bytes, fresh per write) |
 *   ciphertext (as long as the secret) | GCM tag (16 bytes)
 *
 * The associated data is the version byte, the database name, a zero byte and the
 * record's key (a device uuid): a sealed value moved to another record or database
 * does not open. Version bytes 1..7 can never start a protobuf message (field 0), and
 * the plain records written before sealing are protobuf (DOTS) or 16 raw bytes
 * (CMS/AMS), shorter than the smallest sealed record: the formats never overlap. */
#define CMN_SEAL_V1       1
#define CMN_SEAL_KEK_LEN  32
#define CMN_SEAL_NONCE    12
#define CMN_SEAL_TAG      16
#define CMN_SEAL_OVERHEAD (1 + CMN_SEAL_NONCE + CMN_SEAL_TAG)

/* What a service says when a secret does not open: the one message for logs, job
 * errors and obtctl. */
#define CMN_SEAL_WRONG_KEK "secret cannot be decrypted: wrong key-encryption key?"

typedef struct cmn_seal cmn_seal_t;

/* A sealer over a copy of the 32-byte kek (the caller wipes its own). NULL on ENOMEM. */
cmn_seal_t *cmn_seal_new(const uint8_t kek[CMN_SEAL_KEK_LEN]);
/* Wipes the key and frees. Accepts NULL. */
void cmn_seal_destroy(cmn_seal_t **self_p);

/* Reads the KEK file at path: exactly 32 raw bytes in a regular file. If the file is
 * absent and create is true, makes it first (0600, O_EXCL: 32 bytes from RAND_bytes,
 * fsync'd); *ret_created (if not NULL) says so. Errors: CMN_ENOTFOUND (absent and !create),
 * cmn_err_from_errno (cannot read or create), CMN_EINVAL (not 32 bytes, not a regular
 * file), CMN_ECRYPTO (no randomness), CMN_ENOMEM. Nothing is written on failure. */
cmn_err_t cmn_seal_load(const char *path, bool create, cmn_seal_t **ret_seal, bool *ret_created);

/* The default KEK file of a service: "<keys_dir>/secret/<service>.kek". */
void cmn_seal_default_path(const char *keys_dir, const char *service, char *out, size_t len);

/* A daemon's KEK: kek_file, or when it is NULL or "" the default path of service, made
 * if absent (cmn_seal_load). ret_path (len bytes) receives the path used, for logs;
 * *ret_created whether the file was made now. Errors as cmn_seal_load. */
cmn_err_t cmn_seal_load_service(const char *kek_file,
                                const char *keys_dir,
                                const char *service,
                                cmn_seal_t **ret_seal,
                                char *ret_path,
                                size_t len,
                                bool *ret_created);

/* True if rec has the shape of a sealed record (a known or future version byte and at
 * least CMN_SEAL_OVERHEAD bytes); false for the plain records of earlier releases. */
bool cmn_seal_is_sealed(const void *rec, size_t len);

/* Seals the secret plain (len bytes) for record key (key_len bytes) of database db.
 * *ret_rec is malloc'd (len + CMN_SEAL_OVERHEAD bytes, caller frees); it holds no
 * secret. CMN_ECRYPTO if OpenSSL fails, CMN_ENOMEM. */
cmn_err_t cmn_seal_seal(const cmn_seal_t *self,
                        const char *db,
                        const void *key,
                        size_t key_len,
                        const void *plain,
                        size_t len,
                        uint8_t **ret_rec,
                        size_t *ret_len);

/* Opens a sealed record of (db, key). *ret_plain is malloc'd (caller wipes and frees
 * it: cmn_kv_free_secret). CMN_ECRYPTO when it does not authenticate (another KEK, a
 * changed byte, another record's value): CMN_SEAL_WRONG_KEK; CMN_EPROTO for an
 * unknown version or a record that is not sealed; CMN_ENOMEM. */
cmn_err_t cmn_seal_open(const cmn_seal_t *self,
                        const char *db,
                        const void *key,
                        size_t key_len,
                        const void *rec,
                        size_t rec_len,
                        uint8_t **ret_plain,
                        size_t *ret_len);

#endif
