/* sim_mfg.h — the simulated devices' manufacturer certificates (credusage
 * oic.sec.cred.mfgcert) for the certificate OTM: a "factory" CA given to ocf-devsim
 * issues each device a P-256 leaf with CN "uuid:<its uuid>", kept in the device's
 * folder (mfgcert.pem: leaf then the CA chain; mfgkey.pem: its key, 0600).
 *
 * Faulty leaves on purpose (tests of DOTS's refusals) are variants of the issue. */
#ifndef SIM_MFG_H
#define SIM_MFG_H

#include <openssl/ssl.h>

#include "cmn_err.h"
#include "cmn_uuid.h"

typedef enum {
    SIM_MFG_GOOD = 0,   /* the OCF profile (OCF-NOTES 6.6) */
    SIM_MFG_EXPIRED,    /* validity ended an hour ago */
    SIM_MFG_BAD_KU,     /* keyUsage digitalSignature only */
    SIM_MFG_NO_OCF_EKU, /* serverAuth+clientAuth without the OCF identity EKU */
    SIM_MFG_UNTRUSTED,  /* the OCF profile, issued by a CA that DOTS does not trust (the
                           caller passes that CA: the leaf itself is a good one) */
    SIM_MFG_CA_LEAF,    /* the leaf says CA:TRUE (a malformed chain: no end entity) */
    SIM_MFG_OTHER_UUID, /* CN "uuid:" of another device (a chain that is not this device's) */
    SIM_MFG_BAD_SIG,    /* the leaf's signature altered after signing (a forged or damaged
                           certificate: it parses, but its issuer's key does not verify it) */
    SIM_MFG_KIND_COUNT
} sim_mfg_kind_t;

extern const char *const SIM_MFG_KIND_NAMES[SIM_MFG_KIND_COUNT]; /* "good", "expired", ... */

typedef struct sim_mfg_ca sim_mfg_ca_t;

/* Parses a kind name ("good", "expired", "bad-ku", "no-ocf-eku", "untrusted",
 * "ca-leaf", "other-uuid", "bad-sig");
 * CMN_EINVAL if unknown. */
cmn_err_t sim_mfg_kind_parse(const char *name, sim_mfg_kind_t *ret);

/* Opens the factory CA kept in dir/<name>.pem and dir/<name>-key.pem (0600), making
 * a self-signed P-256 root first if either is missing: CN "<cn>", CA=TRUE,
 * keyCertSign+cRLSign (OCF-NOTES 6.5), valid 20 years. dir/<name>.pem is what an
 * operator gives DOTS (obtctl mfg-trust add). NULL with *ret_err on failure. */
sim_mfg_ca_t *
sim_mfg_ca_open(const char *dir, const char *name, const char *cn, cmn_err_t *ret_err);

/* Loads the issuing CA: ca_pem holds its certificate first, then any further
 * certificates of the chain to send (not the root); key_pem its private key.
 * NULL with *ret_err on failure. */
sim_mfg_ca_t *sim_mfg_ca_load(const char *ca_pem, const char *key_pem, cmn_err_t *ret_err);
void sim_mfg_ca_destroy(sim_mfg_ca_t **self_p);

/* The device's credential, loaded or issued. */
typedef struct {
    X509 *leaf;             /* owned */
    STACK_OF(X509) * chain; /* owned: the CA chain sent after the leaf */
    EVP_PKEY *key;          /* owned */
} sim_mfg_cred_t;

/* Loads dir/mfgcert.pem and dir/mfgkey.pem if both exist; otherwise issues a leaf
 * for uuid of the given kind with ca, writes both files (key 0600, via rename) and
 * returns it. CMN_ENOTFOUND if nothing exists and ca is NULL. */
cmn_err_t sim_mfg_cred_get(const sim_mfg_ca_t *ca,
                           const char *dir,
                           const cmn_uuid_t *uuid,
                           sim_mfg_kind_t kind,
                           sim_mfg_cred_t *ret);
void sim_mfg_cred_free(sim_mfg_cred_t *cred);

/* The credential a device in RFOTM presents: as sim_mfg_cred_get, but a kept leaf
 * whose CN is not "uuid:<uuid>" (issued before a factory reset gave the device a new
 * UUID) is replaced by a new one of kind from ca. */
cmn_err_t sim_mfg_cred_current(const sim_mfg_ca_t *ca,
                               const char *dir,
                               const cmn_uuid_t *uuid,
                               sim_mfg_kind_t kind,
                               sim_mfg_cred_t *ret);

/* Presents cred on ssl (certificate, chain, key). CMN_ECRYPTO on failure. */
cmn_err_t sim_mfg_cred_use(const sim_mfg_cred_t *cred, SSL *ssl);

#endif
