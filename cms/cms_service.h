/* cms_service.h — obt-cms: Credential Management Service. Records the devices DOTS
 * hands over, proves its own PSK session to each, and runs the domain's certificate
 * authority (cms_ca.h): `obtctl ca show|export`, `obtctl certs` (docs/cms.md). */
#ifndef CMS_SERVICE_H
#define CMS_SERVICE_H

#include <openssl/evp.h>

#include "cmn_svc.h"
#include "cmn_svr.h"
#include "cms_ca.h"

/* The options of obt-cms: the common ones first, then the CA's. */
typedef struct {
    cmn_svc_config_t svc;   /* first: the common options (cmn_svc_config_load_ext) */
    int ca_validity_days;   /* of the root CA made at first start */
    int cert_validity_days; /* of the certificates it issues */
    char *ca_cert;          /* sub-CA: our CA certificate then the upper chain ("" = root) */
    char *ca_key;           /* sub-CA: our CA's private key */
    int crl_refresh_s;      /* the CRL's nextUpdate: this long after its thisUpdate */
    char *test_oscore_ids;  /* TESTS ONLY: the first pairwise OSCORE ids ("" = the DRBG) */
} cms_config_t;

/* As cmn_svc_config_load, with the CA's options. --ca-cert and --ca-key go together. */
cmn_cfg_result_t cms_config_load(cms_config_t *cfg, int argc, char **argv);
void cms_config_free(cms_config_t *cfg);

typedef struct cms cms_t;

/* The CMS state given to the service core. With --ca-cert/--ca-key the sub-CA is
 * loaded and checked here (cms_ca_open_sub): NULL with the reason in why (a bad
 * configuration: exit 78). The root CA is opened or made from the store when the
 * core calls the init hook. cfg is borrowed. */
cms_t *cms_new(const cms_config_t *cfg, char *why, size_t why_len);
void cms_destroy(cms_t **self_p);

/* The work of CMS in the service core: its databases, CA, hand-over and repair steps
 * and its own requests (cmn_svc.h). Borrowed from self. */
const cmn_svc_hooks_t *cms_hooks(cms_t *self);

/* The CA (borrowed; NULL before the core's init). */
cms_ca_t *cms_ca(const cms_t *self);
/* --cert-validity-days. */
int cms_cert_validity_days(const cms_t *self);
/* --crl-refresh (seconds). */
int cms_crl_refresh_s(const cms_t *self);
/* The credids of CMS's trust anchor (subject *, oic.sec.cred.trustca) and of the
 * identity certificate (oic.sec.cred.cert) among creds: the first of each, stored
 * where the caller's value is still 0. */
void cms_find_cert_creds(const cmn_creds_t *creds, int64_t *ta_credid, int64_t *cert_credid);
/* The key pair of a new identity certificate from the device's answer r to GET
 * /oic/sec/csr: 2.05, the CSR's key (cms_csr_check: signature, P-256, SHA-256, CN
 * uuid:<uuid>); 4.04, a P-256 pair CMS makes (6.1 step 2), its private key DER in
 * *ret_priv (a secret: OPENSSL_clear_free), else *ret_priv NULL. The reason in why. */
cmn_err_t cms_identity_key(const char *uuid,
                           const Obt__Gw__CoapReply *r,
                           EVP_PKEY **ret_key,
                           uint8_t **ret_priv,
                           size_t *ret_priv_len,
                           char *why,
                           size_t why_len);
/* One credtype-8 entry in *c: credid (0 = the device assigns one), subject (NULL =
 * "*", a trust anchor), credusage usage, publicdata pem (PEM text, borrowed). */
void cms_cert_cred(
        cmn_cred_t *c, int64_t credid, const cmn_uuid_t *subject, const char *usage, char *pem);
/* Issues device uuid's identity certificate over key (earlier "issued" ones become
 * "abandoned"; the new one is recorded "issued" before it leaves CMS) and builds the
 * cred POST: the trust anchor (replacing ta_credid, 0 = new) and the certificate with
 * its chain (replacing cert_credid), priv as its privatedata when CMS made the key.
 * *ret_body is malloc'd (wipe it first when priv was given). */
cmn_err_t cms_identity_body(cmn_svc_t *svc,
                            const char *uuid,
                            EVP_PKEY *key,
                            const uint8_t *priv,
                            size_t priv_len,
                            int64_t ta_credid,
                            int64_t cert_credid,
                            char ret_serial[65],
                            uint8_t **ret_body,
                            size_t *ret_len);
/* The record of a device CMS manages (handed over, the hand-over proved: state
 * "verified") into *ret_dev (caller frees with obt__service_device__free_unpacked).
 * Else the error with its text: ENOTFOUND (unknown to CMS), EINVAL (not managed: "only
 * devices in RFNOP handed over to CMS can be <what>"), or the store's. */
cmn_err_t cms_managed_get(cmn_svc_t *svc,
                          const char *uuid,
                          const char *what,
                          Obt__ServiceDevice **ret_dev,
                          char *error,
                          size_t error_len);
/* The proof (6.1) of job's device: a certificate DTLS session to it through the
 * gateway with CMS's own identity certificate (policy SEC_CERT, both sides checking
 * the other's chain against the domain's anchor), and a GET /oic/sec/cred over it; fn
 * gets the answer (job->cipher: the session's cipher). Used at the hand-over and by
 * a renewal (D83). */
void cms_prove(cmn_svc_job_t *job, cmn_svc_reply_fn *fn);

/* TESTS ONLY (--test-oscore-ids, D84): the next unused id of that list (14 lowercase
 * hex digits, 01...) into out and true; false when the list is empty or used up (the
 * DRBG draws then). Lets a test know the ids a pair will draw, so it can place them
 * on a device beforehand and force the collision path. */
bool cms_test_oscore_id(cms_t *self, char out[15]);

/* The CRL push queue's timers (cms_crl.h; borrowed). */
struct cms_crl *cms_crl_state(const cms_t *self);

#endif
