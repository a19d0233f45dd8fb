/* cms_ca.h — the domain's certificate authority in obt-cms (OCF-NOTES §6.6): a P-256
 * root made at first start (its key sealed in the store's "secrets"), or a sub-CA of
 * an upper CA given as files; issues the OCF identity certificates and records each
 * one (store.CmsCert, named DB "certs") before it leaves CMS. OpenSSL 3 only. */
#ifndef CMS_CA_H
#define CMS_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cmn_err.h"
#include "cmn_kv.h"
#include "cmn_seal.h"
#include "cmn_uuid.h"
#include "obt/store.pb-c.h"

typedef struct cms_ca cms_ca_t;

/* The named databases the CA uses in the CMS store (besides "secrets"). */
#define CMS_CA_DB_CA    "ca"    /* "cert": the CA certificate (DER) of a root CA */
#define CMS_CA_DB_CERTS "certs" /* store.CmsCert by serial (lowercase hex) */
/* The record of "secrets" that holds the sealed root key (PKCS#8 DER). */
#define CMS_CA_KEY_RECORD "ca-key"

/* Loads the root CA from the store, or makes it (P-256, self-signed, CA:TRUE critical,
 * KU keyCertSign + cRLSign critical, subject "O=OBT, CN=OBT Domain CA <cms_uuid>",
 * valid validity_days) and stores the certificate and the sealed key in one write.
 * *ret_created says whether it was made now. NULL with *ret_err (ENOMEM, ESTORE,
 * ECRYPTO, ENOSPC...). */
cms_ca_t *cms_ca_open_root(cmn_kv_t *kv,
                           const cmn_seal_t *seal,
                           const char *cms_uuid,
                           int validity_days,
                           bool *ret_created,
                           cmn_err_t *ret_err);

/* A sub-CA of an upper CA: chain_path holds our CA certificate first, then the upper
 * chain up to its self-signed root; key_path our CA's private key (PEM, unencrypted).
 * Checked at now: the files parse, the key matches, P-256, CA:TRUE, keyCertSign, not
 * expired nor not yet valid, and the chain verifies to its root with OpenSSL (which
 * applies every pathLenConstraint to our CA too). NULL with the reason in why. */
cms_ca_t *cms_ca_open_sub(
        const char *chain_path, const char *key_path, time_t now, char *why, size_t why_len);

void cms_ca_destroy(cms_ca_t **self_p);

/* The CA certificate (borrowed). */
X509 *cms_ca_cert(const cms_ca_t *self);
/* true for a sub-CA (cms_ca_open_sub). */
bool cms_ca_is_sub(const cms_ca_t *self);
/* The chain as PEM: the CA certificate, then the upper chain of a sub-CA. *ret_pem is
 * malloc'd, NUL-terminated (caller frees). *ret_count: certificates in it. */
cmn_err_t
cms_ca_chain_pem(const cms_ca_t *self, char **ret_pem, size_t *ret_len, size_t *ret_count);
/* The PEM of leaf followed by the chain (cms_ca_chain_pem): the publicdata of a
 * certificate cred entry. *ret_pem malloc'd, NUL-terminated (caller frees). */
cmn_err_t cms_ca_leaf_chain_pem(const cms_ca_t *self, X509 *leaf, char **ret_pem);
/* The upper chain's root: the trust anchor devices get (the CA itself for a root). */
X509 *cms_ca_anchor(const cms_ca_t *self);

/* A fresh serial: 128 bits from the DRBG, positive, not yet in "certs" (checked in
 * txn). ret_hex gets it in lowercase hex (at most 33 bytes with the NUL). */
cmn_err_t cms_ca_new_serial(cmn_kv_txn_t *txn, BIGNUM **ret_bn, char ret_hex[65]);

/* Kinds of certificates the CA issues. */
typedef enum {
    CMS_CERT_IDENTITY = 0, /* a device's OCF identity certificate */
    CMS_CERT_CMS_IDENTITY, /* CMS's own (its DTLS sessions to devices) */
    CMS_CERT_ROLE,         /* a device's role certificate (cms_ca_issue_role) */
    CMS_CERT_COUNT
} cms_cert_usage_t;

/* "identity", "cms-identity", "role". */
const char *cms_cert_usage_name(cms_cert_usage_t usage);

/* Issues an OCF identity certificate (OCF-NOTES §6.6: v3, KU digitalSignature +
 * keyAgreement critical, CA:FALSE, EKU serverAuth, clientAuth and
 * 1.3.6.1.4.1.44924.1.6, CN "uuid:<subject>", SHA-256, valid validity_days from now)
 * over pub (a P-256 key), and records it in "certs" with status "issued" in the same
 * write (persist before it leaves CMS). *ret_cert is owned by the caller (X509_free);
 * ret_serial gets the serial in hex. ECRYPTO if pub is not P-256 or signing fails. */
cmn_err_t cms_ca_issue(cms_ca_t *self,
                       cmn_kv_t *kv,
                       EVP_PKEY *pub,
                       const cmn_uuid_t *subject,
                       cms_cert_usage_t usage,
                       int validity_days,
                       X509 **ret_cert,
                       char ret_serial[65]);

/* Issues an OCF role certificate (OCF-NOTES §6.6): the identity profile above with the
 * role EKU 1.3.6.1.4.1.44924.1.7 instead of the identity one, and a subjectAltName
 * directoryName CN=<role> (plus OU=<authority> when authority is not ""), over pub
 * (the device's identity key), CN "uuid:<subject>". Recorded in "certs" with usage
 * "role", the role and authority, status "issued", in the same write. As cms_ca_issue. */
cmn_err_t cms_ca_issue_role(cms_ca_t *self,
                            cmn_kv_t *kv,
                            EVP_PKEY *pub,
                            const cmn_uuid_t *subject,
                            const char *role,
                            const char *authority,
                            int validity_days,
                            X509 **ret_cert,
                            char ret_serial[65]);

/* The serial of x as the "certs" database keys it (lowercase hex) in ret ("" if it
 * cannot be read). */
void cms_ca_serial_hex(const X509 *x, char ret[65]);

/* Sets the status of the certificate serial ("active", "abandoned", ...). ENOTFOUND if
 * it is not recorded. */
cmn_err_t cms_ca_set_status(cmn_kv_t *kv, const char *serial, const char *status);

/* Calls fn for each recorded certificate (unpacked, borrowed for the call) of
 * device_uuid ("" or NULL: all). */
typedef void(cms_ca_each_fn)(const Obt__Store__CmsCert *cert, void *arg);
cmn_err_t cms_ca_each_cert(cmn_kv_t *kv, const char *device_uuid, cms_ca_each_fn *fn, void *arg);

/* CMS's own identity certificate (CN uuid:<cms_uuid>, the identity profile) for its
 * certificate sessions to devices: loaded from the store ("ca" db "cms-cert", key
 * sealed in "secrets" as "cms-key"), or issued by this CA and stored (key and
 * certificate in one write) when there is none, it is not this CA's, or it expires
 * within a day. *ret_chain: the leaf then the CA chain (PEM); *ret_key: its key
 * (PKCS#8 PEM, malloc'd; a secret: OPENSSL_cleanse(p, strlen(p)) before free). */
cmn_err_t cms_ca_own_identity(cms_ca_t *self,
                              cmn_kv_t *kv,
                              const cmn_seal_t *seal,
                              const char *cms_uuid,
                              int validity_days,
                              char **ret_chain,
                              char **ret_key);

/* The CRL reason code of name ("" = unspecified, "keyCompromise", "affiliationChanged",
 * "superseded", "cessationOfOperation"); -1 for an unknown name. */
int cms_ca_reason_code(const char *name);

/* Revokes target: a serial (hex), or a device uuid (every identity certificate of it
 * that is issued or active), with reason (cms_ca_reason_code), in one write.
 * *ret_count: certificates revoked now. ENOTFOUND if target names no certificate (or
 * none of the device's is still in use). */
cmn_err_t cms_ca_revoke(cmn_kv_t *kv, const char *target, int reason, size_t *ret_count);

/* What a caller adds to the revocation's write (cms_ca_revoke_with): CMS queues the
 * CRL push in the same transaction. A failure aborts the whole write. */
typedef cmn_err_t(cms_ca_in_txn_fn)(cmn_kv_txn_t *txn, void *arg);
/* cms_ca_revoke, with in_txn (may be NULL) called inside its write before the commit
 * (only when something is revoked). */
cmn_err_t cms_ca_revoke_with(cmn_kv_t *kv,
                             const char *target,
                             int reason,
                             cms_ca_in_txn_fn *in_txn,
                             void *arg,
                             size_t *ret_count);

/* The reset cascade's revocation (docs/decisions.md D80): every certificate of device
 * uuid still issued or active, its identity certificates and its role certificates,
 * revoked with reason in one write, in_txn (may be NULL) inside it. *ret_identity and
 * *ret_role: how many of each were revoked now. ENOTFOUND if none is in use. */
cmn_err_t cms_ca_revoke_device(cmn_kv_t *kv,
                               const char *uuid,
                               int reason,
                               cms_ca_in_txn_fn *in_txn,
                               void *arg,
                               size_t *ret_identity,
                               size_t *ret_role);

/* A new CRL number in txn ("ca" db, "crl-number"): max(the last + 1, the time in
 * seconds), so numbers only grow, even across a clock set back. */
cmn_err_t cms_ca_crl_bump(cmn_kv_txn_t *txn, uint64_t *ret_number);
/* The current CRL number (0 before the first revocation or refresh). */
cmn_err_t cms_ca_crl_number(cmn_kv_t *kv, uint64_t *ret_number);
/* The same inside txn (a write that acts on it: instances sharing the store). */
uint64_t cms_ca_crl_number_in(cmn_kv_txn_t *txn);

/* A v2 CRL signed by the CA: thisUpdate now, nextUpdate now + next_update_s, the
 * current CRL number (cms_ca_crl_number; the time before any), every revoked
 * certificate with its date and reason. *ret_crl is owned by the caller
 * (X509_CRL_free). */
cmn_err_t cms_ca_crl(cms_ca_t *self, cmn_kv_t *kv, long next_update_s, X509_CRL **ret_crl);

/* PEM of one certificate (malloc'd, NUL-terminated; caller frees). */
cmn_err_t cms_ca_pem(X509 *cert, char **ret_pem, size_t *ret_len);

#endif
