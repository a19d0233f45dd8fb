/* obt_certs.h — test helper: X.509 chains made with OpenSSL (manufacturer roots,
 * intermediates and device leaves), good ones and ones broken on purpose. */
#ifndef OBT_CERTS_H
#define OBT_CERTS_H

#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct {
    EVP_PKEY *key; /* owned */
    X509 *cert;    /* owned */
} obt_cert_t;

typedef struct {
    const char *cn;    /* subject CN */
    const char *curve; /* "P-256" (default when NULL), "P-384", ... */
    const char *bc;    /* basicConstraints conf, e.g. "critical,CA:TRUE,pathlen:0"; NULL = none */
    const char *ku;  /* keyUsage conf, e.g. "critical,digitalSignature,keyAgreement"; NULL = none */
    const char *eku; /* extendedKeyUsage conf, e.g. "serverAuth,clientAuth,1.3.6.1.4.1.44924.1.6" */
    long not_before_s; /* validity, seconds from now */
    long not_after_s;
    const char *md; /* signature digest, "SHA256" when NULL */
} obt_cert_opts_t;

/* Defaults: a manufacturer root (CA, keyCertSign+cRLSign), an intermediate
 * (CA pathlen 0) and a device leaf ("uuid:<uuid>", OCF end-entity profile), each
 * valid from an hour ago for a year. */
obt_cert_opts_t obt_cert_root_opts(const char *cn);
obt_cert_opts_t obt_cert_ca_opts(const char *cn);
/* (obt_cert_leaf_opts keeps the CN in a static buffer: make the leaf before the
 * next call.) */
obt_cert_opts_t obt_cert_leaf_opts(const char *uuid);

/* Makes a key pair and a certificate signed by issuer (NULL = self-signed).
 * Returns 0 on success; free with obt_cert_free. */
int obt_cert_make(obt_cert_t *ret, const obt_cert_opts_t *o, const obt_cert_t *issuer);
void obt_cert_free(obt_cert_t *c);

/* PEM of the certificate / of the private key (PKCS#8); caller frees. */
char *obt_cert_pem(const obt_cert_t *c);
char *obt_cert_key_pem(const obt_cert_t *c);

/* The SHA-256 of cert's DER as 64 lowercase hex digits, computed with OpenSSL here
 * (the tests' own check of a fingerprint the services report). 0 on success. */
int obt_cert_sha256_hex(X509 *cert, char ret_hex[65]);

/* Writes the PEM of n certificates, in order, to path (0600). 0 on success. */
int obt_cert_write_pem(const char *path, const obt_cert_t *const *certs, int n);

/* Writes the bytes of a hex string (a dump's publicdata_hex, crldata_hex) to path.
 * 0 on success, -1 if the file cannot be written or hex is not hex. */
int obt_write_hex(const char *path, const char *hex);

/* Runs a shell command (the openssl command line checks); *ret_out gets its stdout
 * (malloc'd, NUL-terminated, at most 256 KiB). Its exit status, -1 if it did not run. */
int obt_sh(const char *cmd, char **ret_out);

#endif
