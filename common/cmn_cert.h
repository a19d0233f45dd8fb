/* cmn_cert.h — the OCF certificate profile (OCF-NOTES §6.5-6.6) on top of OpenSSL's
 * chain verification: manufacturer chains presented in the certificate OTM, and
 * end-entity certificates in general.
 *
 * Every check returns CMN_OK or CMN_ECRYPTO with a one-line reason for the operator
 * in why ("untrusted issuer: ...", "expired", "wrong key usage", "missing OCF EKU",
 * ...). Nothing here logs; nothing here keeps a pointer to its arguments. */
#ifndef CMN_CERT_H
#define CMN_CERT_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cmn_err.h"
#include "cmn_uuid.h"

/* Extended key usage OIDs of the OCF profile. */
#define CMN_CERT_EKU_OCF_IDENTITY "1.3.6.1.4.1.44924.1.6"
#define CMN_CERT_EKU_OCF_ROLE     "1.3.6.1.4.1.44924.1.7"

/* A subject CN's bytes with the NUL (X.520 ub-common-name is 64 characters; the OCF CN
 * "uuid:<uuid>" is 41). */
#define CMN_CERT_CN_MAX 65

/* Parses a PEM bundle (one or more CERTIFICATE blocks) into a new stack; NULL if
 * it holds no certificate or does not parse. Caller frees with
 * sk_X509_pop_free(sk, X509_free). */
STACK_OF(X509) * cmn_cert_parse_pem(const uint8_t *pem, size_t len);

/* name on one line for operators ("O = OBT, CN = ..."), into out (cap bytes, NUL
 * terminated; "" if it cannot be printed). */
void cmn_cert_name_oneline(const X509_NAME *name, char *out, size_t cap);

/* The SHA-256 fingerprint of cert's DER: 64 lowercase hex digits and a NUL, as
 * `obtctl ca show` prints them. CMN_OK or CMN_ENOMEM. */
cmn_err_t cmn_cert_sha256_hex(X509 *cert, char ret_hex[65]);

/* The first subject CN of cert as UTF-8 text into ret_cn (cap bytes, NUL terminated),
 * as the certificate says it, unchecked: escape it before it reaches a log line.
 * CMN_ENOTFOUND if it has none, CMN_EINVAL if it holds a NUL or does not fit. */
cmn_err_t cmn_cert_common_name(X509 *cert, char *ret_cn, size_t cap);

/* Describes cert for operators: SHA-256 fingerprint of the DER (64 lowercase hex
 * digits), one-line subject, notAfter. CMN_OK or CMN_ENOMEM. */
cmn_err_t cmn_cert_describe(X509 *cert,
                            char ret_fingerprint[65],
                            char *ret_subject,
                            size_t subject_len,
                            char *ret_not_after,
                            size_t not_after_len);

/* Checks one end-entity certificate against the OCF profile: X.509 v3, EC P-256
 * key, ecdsa-with-SHA256 signature, keyUsage exactly digitalSignature+keyAgreement,
 * CA=FALSE, EKU with serverAuth, clientAuth and exactly one of the OCF identity and
 * role OIDs (never anyExtendedKeyUsage), subject CN "uuid:<uuid>" (prefix in any
 * case). On success writes the UUID of the CN to *ret_uuid (if not NULL). */
cmn_err_t cmn_cert_check_end_entity(X509 *cert, cmn_uuid_t *ret_uuid, char *why, size_t why_len);

/* The role of a role certificate (OCF-NOTES 6.6): its EKU has the OCF role OID and
 * its subjectAltName a directoryName with CN=<role> (and OU=<authority>, optional).
 * Writes the role (ret_role, at most 63 bytes + NUL) and the authority ("" when the
 * name has no OU) to the 64-byte outputs. CMN_ENOTFOUND (with the reason in why) if
 * the certificate is no role certificate, CMN_EINVAL if the role or authority is
 * empty or longer than 63 bytes. */
#define CMN_CERT_ROLE_MAX 63
cmn_err_t
cmn_cert_role(X509 *cert, char ret_role[64], char ret_authority[64], char *why, size_t why_len);

/* Verifies a manufacturer chain as the certificate OTM must (clause 7.4):
 * chain[0] is the device's leaf, the rest the intermediates it sent, anchors the
 * PEM bundle of DOTS's oic.sec.cred.mfgtrustca certificates. Builds and verifies
 * the path with OpenSSL at time now (0 = the current time), then applies the OTM
 * chain rules: root self-issued with keyCertSign+cRLSign, every CA cert CA=TRUE,
 * intermediates with pathLenConstraint 0 (root -> intermediate -> leaf at most),
 * and the end-entity profile above. On success writes the device UUID of the leaf
 * CN to *ret_uuid (if not NULL). */
cmn_err_t cmn_cert_verify_mfg_chain(STACK_OF(X509) * chain,
                                    const uint8_t *anchors_pem,
                                    size_t anchors_len,
                                    time_t now,
                                    cmn_uuid_t *ret_uuid,
                                    char *why,
                                    size_t why_len);

#endif
