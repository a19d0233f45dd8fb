/* sim_csr.h — certificate support of a simulated device: which devices have it
 * (--certs), /oic/sec/csr over a P-256 key made once per device (OCF-NOTES 3.6) */
#ifndef SIM_CSR_H
#define SIM_CSR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_device.h"

/* Applies --certs to devs: "" none, "all" every device, or a comma list of IDX (with
 * /oic/sec/csr), IDX:nocsr (certificates without /oic/sec/csr: the CMS makes the
 * key pair) and IDX:badcn (a test's bad input: the CSR's CN names another uuid). A device with it
 * has sct 1|8 (doxm), the others sct 1. CMN_EINVAL for a bad spec (printed). */
cmn_err_t sim_csr_setup(const char *spec, sim_device_t *devs, size_t n);

/* GET /oic/sec/csr: 4.04 unless the device has certificates and a CSR resource; else
 * 2.05 with {"csr": PEM, "encoding": "oic.sec.encoding.pem"}, CN "uuid:<deviceuuid>",
 * signed with the device's key (dir/csr-key.pem, 0600, made at the first request). */
int sim_svr_get_csr(const sim_device_t *dev, uint8_t **ret, size_t *len);

/* A POSTed credtype-8 oic.sec.cred.cert entry (c) must be usable (OCF-NOTES 3.3): its
 * publicdata chain (PEM, leaf first) verifies against a trust anchor of the same POST
 * (in) or already stored on dev, its leaf has the OCF end-entity profile, and its key
 * is the device's own (csr-key.pem) or the privatedata given with it. An
 * oic.sec.cred.rolecert entry: the same chain and profile checks, and a role in the
 * leaf (cmn_cert_role). false with a
 * reason logged otherwise: the POST is refused (4.00) and changes nothing. */
bool sim_cert_check_posted(const sim_device_t *dev, const cmn_creds_t *in, const cmn_cred_t *c);

/* An asserted role certificate (/oic/sec/roles): the chain (PEM, leaf first) verifies
 * against the device's trust anchors (oic.sec.cred.trustca) and, when it holds one,
 * its CRL (a revoked certificate is refused); the leaf has the OCF end-entity profile
 * and a role (cmn_cert_role); its public key is the one of peer_cert, the certificate
 * the peer authenticated its DTLS session with (an X509 *; NULL: a session without a
 * certificate, refused). The role into *ret (no OU: the issuer's CN is the authority,
 * OCF-NOTES 6.6). false with the reason in why otherwise. */
bool sim_role_verify(const sim_device_t *dev,
                     const uint8_t *pem,
                     size_t len,
                     const void *peer_cert,
                     sim_role_t *ret,
                     char *why,
                     size_t why_len);

/* The device's identity certificate on a post-transfer DTLS server session (docs/cms.md):
 * when dev holds a credtype-8 oic.sec.cred.cert (its chain) with its key (privatedata
 * from CMS, or its own csr-key.pem) and at least one oic.sec.cred.trustca, puts the
 * chain and key on ssl and the anchors as its verify store, and returns true: the
 * caller asks for the peer's certificate and offers the ECDHE-ECDSA CCM suites.
 * false (nothing changed) otherwise. ssl is an SSL *. */
bool sim_cert_setup(sim_device_t *dev, void *ssl);

/* The chain, key and anchors are decoded once and kept on dev (dev->tls_cache) until
 * the credentials or the CRL they came from change. Frees them (sim_device_free). */
void sim_cert_cache_free(sim_device_t *dev);

/* Adds the device's CRL (if it holds one) to an X509_STORE *; true if it did: the
 * caller then asks OpenSSL to check the peer's certificate against it. */
bool sim_crl_add_to_store(const sim_device_t *dev, void *x509_store);

#endif
