/* cms_ca_test.c — the domain CA of obt-cms: the root made once and kept, the issued
 * identity certificates checked by the openssl command line (an independent checker)
 * field by field and recorded in the store, serials, the sub-CA checks (and obt-cms's
 * exit 78), and the CSR checks */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "cmn_kv.h"
#include "cmn_seal.h"
#include "cms_ca.h"
#include "cms_csr.h"
#include "obt_certs.h"
#include "obt_support.h"

#define S_UUID "12345678-1234-4abc-8def-0123456789ab"

static char *s_dir;
static cmn_kv_t *s_kv;
static cmn_seal_t *s_seal;

static void
s_setup(void)
{
    static const char *const dbs[] = {"secrets", CMS_CA_DB_CA, CMS_CA_DB_CERTS};
    uint8_t kek[CMN_SEAL_KEK_LEN];
    memset(kek, 0x5a, sizeof kek);
    s_dir = obt_tmpdir("cms-ca");
    cr_assert_not_null(s_dir);
    s_kv = cmn_kv_new(s_dir, dbs, 3, 0, false, NULL);
    s_seal = cmn_seal_new(kek);
    cr_assert(s_kv && s_seal);
}

static void
s_teardown(void)
{
    cmn_kv_destroy(&s_kv);
    cmn_seal_destroy(&s_seal);
    obt_rmrf(s_dir);
    free(s_dir);
}

static cms_ca_t *
s_root(bool *ret_created)
{
    cmn_err_t err = CMN_OK;
    cms_ca_t *ca = cms_ca_open_root(s_kv, s_seal, S_UUID, 30, ret_created, &err);
    cr_assert_not_null(ca, "cannot open the root: %s", cmn_strerror(err));
    return ca;
}

/* Writes cert as PEM to dir/name; returns the path (malloc'd). */
static char *
s_write(X509 *cert, const char *name)
{
    size_t len = strlen(s_dir) + strlen(name) + 2;
    char *path = malloc(len);
    cr_assert_not_null(path);
    (void) snprintf(path, len, "%s/%s", s_dir, name);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    cr_assert_eq(PEM_write_X509(fp, cert), 1);
    cr_assert_eq(fclose(fp), 0);
    return path;
}

/* Runs a shell command, returns its stdout (malloc'd) and exit status. */
static int
s_sh(const char *cmd, char **ret_out)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 65536, n = 0;
    char *out = calloc(1, cap);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
    }
    int st = pclose(p);
    *ret_out = out;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static EVP_PKEY *
s_key(const char *curve)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    cr_assert_not_null(k);
    return k;
}

TestSuite(cms_ca, .init = s_setup, .fini = s_teardown, .timeout = 60);

Test(cms_ca, root_is_made_at_first_open_with_the_ca_profile_and_kept_after)
{
    bool created = false;
    cms_ca_t *ca = s_root(&created);
    cr_assert(created);
    char fp1[65], fp2[65], subj[256], na[64];
    cr_assert_eq(cmn_cert_describe(cms_ca_cert(ca), fp1, subj, sizeof subj, na, sizeof na), CMN_OK);
    char *path = s_write(cms_ca_cert(ca), "ca.pem");
    cms_ca_destroy(&ca);

    ca = s_root(&created);
    cr_assert_not(created, "the stored root must be reused");
    cr_assert_eq(cmn_cert_describe(cms_ca_cert(ca), fp2, subj, sizeof subj, na, sizeof na), CMN_OK);
    cr_expect_str_eq(fp1, fp2);
    cr_expect_not(cms_ca_is_sub(ca));
    cms_ca_destroy(&ca);

    char cmd[1200], *out = NULL;
    (void) snprintf(cmd, sizeof cmd, "openssl x509 -in %s -noout -text 2>&1", path);
    cr_assert_eq(s_sh(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, "Version: 3 (0x2)"), "%s", out);
    cr_expect(strstr(out, "Signature Algorithm: ecdsa-with-SHA256"), "%s", out);
    cr_expect(strstr(out, "ASN1 OID: prime256v1"), "%s", out);
    cr_expect(strstr(out, "X509v3 Basic Constraints: critical\n                CA:TRUE"), "%s",
              out);
    cr_expect(
            strstr(out, "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign\n"),
            "%s", out);
    cr_expect(strstr(out, "CN = OBT Domain CA " S_UUID), "%s", out);
    free(out);
    /* self-signed: verifies against itself */
    (void) snprintf(cmd, sizeof cmd, "openssl verify -CAfile %s %s 2>&1", path, path);
    cr_expect_eq(s_sh(cmd, &out), 0, "%s", out);
    free(out);
    free(path);
}

Test(cms_ca, the_root_key_is_sealed_in_the_store)
{
    bool created = false;
    cms_ca_t *ca = s_root(&created);
    cms_ca_destroy(&ca);
    cmn_kv_txn_t *txn = NULL;
    void *val = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_kv_begin(s_kv, false, &txn), CMN_OK);
    cr_assert_eq(
            cmn_kv_get(txn, "secrets", CMS_CA_KEY_RECORD, strlen(CMS_CA_KEY_RECORD), &val, &len),
            CMN_OK);
    cmn_kv_abort(&txn);
    cr_expect(cmn_seal_is_sealed(val, len), "the CA key must be stored sealed");
    const uint8_t *p = val;
    EVP_PKEY *k = d2i_AutoPrivateKey(NULL, &p, (long) len);
    cr_expect_null(k, "the stored bytes must not parse as a key");
    EVP_PKEY_free(k);
    free(val);
    /* another KEK cannot open it: the CA does not load */
    uint8_t other[CMN_SEAL_KEK_LEN];
    memset(other, 0x11, sizeof other);
    cmn_seal_t *wrong = cmn_seal_new(other);
    cmn_err_t err = CMN_OK;
    ca = cms_ca_open_root(s_kv, wrong, S_UUID, 30, &created, &err);
    cr_expect_null(ca);
    cr_expect_eq(err, CMN_ECRYPTO, "%s", cmn_strerror(err));
    cms_ca_destroy(&ca);
    cmn_seal_destroy(&wrong);
}

/* The certificate record of serial, or NULL. */
typedef struct {
    const char *serial;
    char status[32];
    char usage[32];
    char uuid[40];
    size_t n;
} s_find_t;

static void
s_find(const Obt__Store__CmsCert *c, void *arg)
{
    s_find_t *f = arg;
    f->n++;
    if (f->serial && strcmp(c->serial, f->serial) == 0) {
        (void) snprintf(f->status, sizeof f->status, "%s", c->status);
        (void) snprintf(f->usage, sizeof f->usage, "%s", c->usage);
        (void) snprintf(f->uuid, sizeof f->uuid, "%s", c->subject_uuid);
    }
}

Test(cms_ca, identity_certificate_verifies_with_openssl_has_each_profile_field_and_is_recorded)
{
    bool created = false;
    cms_ca_t *ca = s_root(&created);
    cmn_uuid_t u;
    cr_assert_eq(cmn_uuid_from_str(S_UUID, &u), CMN_OK);
    EVP_PKEY *k = s_key("P-256");
    X509 *leaf = NULL;
    char serial[65];
    cr_assert_eq(cms_ca_issue(ca, s_kv, k, &u, CMS_CERT_IDENTITY, 7, &leaf, serial), CMN_OK);
    char *ca_path = s_write(cms_ca_cert(ca), "ca.pem");
    char *leaf_path = s_write(leaf, "leaf.pem");

    char cmd[1400], *out = NULL;
    (void) snprintf(cmd, sizeof cmd,
                    "openssl verify -x509_strict -purpose sslclient -CAfile %s %s 2>&1", ca_path,
                    leaf_path);
    cr_expect_eq(s_sh(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, ": OK"), "%s", out);
    free(out);
    (void) snprintf(cmd, sizeof cmd, "openssl x509 -in %s -noout -text -nameopt RFC2253 2>&1",
                    leaf_path);
    cr_assert_eq(s_sh(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, "Version: 3 (0x2)"), "%s", out);
    cr_expect(strstr(out, "Signature Algorithm: ecdsa-with-SHA256"), "%s", out);
    cr_expect(strstr(out, "Subject: CN=uuid:" S_UUID "\n"), "%s", out);
    cr_expect(strstr(out, "ASN1 OID: prime256v1"), "%s", out);
    cr_expect(strstr(out, "X509v3 Basic Constraints: critical\n                CA:FALSE\n"), "%s",
              out);
    cr_expect(strstr(out, "X509v3 Key Usage: critical\n                Digital Signature, Key "
                          "Agreement\n"),
              "%s", out);
    cr_expect(strstr(out, "X509v3 Extended Key Usage: \n                TLS Web Server "
                          "Authentication, TLS Web Client Authentication, 1.3.6.1.4.1.44924.1.6\n"),
              "%s", out);
    cr_expect(strstr(out, "X509v3 Authority Key Identifier"), "%s", out);
    free(out);
    /* the serial openssl reads is the one recorded */
    (void) snprintf(cmd, sizeof cmd, "openssl x509 -in %s -noout -serial 2>&1", leaf_path);
    cr_assert_eq(s_sh(cmd, &out), 0, "%s", out);
    char want[80];
    (void) snprintf(want, sizeof want, "serial=%s\n", serial);
    for (char *p = want + 7; *p; p++) {
        *p = (char) (*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    }
    cr_expect_str_eq(out, want);
    free(out);
    /* the enddate is 7 days from now */
    cr_expect_eq(X509_cmp_time(X509_get0_notAfter(leaf), NULL), 1);
    int days = 0, secs = 0;
    cr_assert_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf)),
                 1);
    cr_expect_eq(days, 7);
    /* our own profile check agrees */
    cmn_uuid_t got;
    char why[200] = "";
    cr_expect_eq(cmn_cert_check_end_entity(leaf, &got, why, sizeof why), CMN_OK, "%s", why);
    cr_expect(cmn_uuid_eq(&got, &u));

    s_find_t f = {.serial = serial};
    cr_assert_eq(cms_ca_each_cert(s_kv, S_UUID, s_find, &f), CMN_OK);
    cr_expect_eq(f.n, 1u);
    cr_expect_str_eq(f.status, "issued");
    cr_expect_str_eq(f.usage, "identity");
    cr_expect_str_eq(f.uuid, S_UUID);
    cr_expect_eq(cms_ca_set_status(s_kv, serial, "active"), CMN_OK);
    f = (s_find_t){.serial = serial};
    (void) cms_ca_each_cert(s_kv, NULL, s_find, &f);
    cr_expect_str_eq(f.status, "active");
    cr_expect_eq(cms_ca_set_status(s_kv, "00", "active"), CMN_ENOTFOUND);

    X509_free(leaf);
    EVP_PKEY_free(k);
    free(ca_path);
    free(leaf_path);
    cms_ca_destroy(&ca);
}

Test(cms_ca, role_certificate_has_the_role_eku_and_its_role_in_the_san_and_is_recorded)
{
    bool created = false;
    cms_ca_t *ca = s_root(&created);
    cmn_uuid_t u;
    cr_assert_eq(cmn_uuid_from_str(S_UUID, &u), CMN_OK);
    EVP_PKEY *k = s_key("P-256");
    X509 *leaf = NULL, *plain = NULL;
    char serial[65], serial2[65];
    cr_assert_eq(cms_ca_issue_role(ca, s_kv, k, &u, "light-admin", "facility", 7, &leaf, serial),
                 CMN_OK);
    cr_assert_eq(cms_ca_issue_role(ca, s_kv, k, &u, "reader", "", 7, &plain, serial2), CMN_OK);
    char *ca_path = s_write(cms_ca_cert(ca), "ca.pem");
    char *leaf_path = s_write(leaf, "role.pem");
    char cmd[1400], *out = NULL;
    (void) snprintf(cmd, sizeof cmd, "openssl verify -x509_strict -CAfile %s %s 2>&1", ca_path,
                    leaf_path);
    cr_expect_eq(s_sh(cmd, &out), 0, "%s", out);
    free(out);
    (void) snprintf(cmd, sizeof cmd, "openssl x509 -in %s -noout -text 2>&1", leaf_path);
    cr_assert_eq(s_sh(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication, "
                          "1.3.6.1.4.1.44924.1.7\n"),
              "%s", out);
    cr_expect(strstr(out, "DirName:/CN=light-admin/OU=facility"), "%s", out);
    cr_expect(strstr(out, "Subject: CN = uuid:" S_UUID), "%s", out);
    free(out);
    char role[64], authority[64], why[200] = "";
    cr_expect_eq(cmn_cert_check_end_entity(leaf, NULL, why, sizeof why), CMN_OK, "%s", why);
    cr_assert_eq(cmn_cert_role(leaf, role, authority, why, sizeof why), CMN_OK, "%s", why);
    cr_expect_str_eq(role, "light-admin");
    cr_expect_str_eq(authority, "facility");
    cr_assert_eq(cmn_cert_role(plain, role, authority, why, sizeof why), CMN_OK, "%s", why);
    cr_expect_str_eq(role, "reader");
    cr_expect_str_eq(authority, "");
    s_find_t f = {.serial = serial};
    cr_assert_eq(cms_ca_each_cert(s_kv, S_UUID, s_find, &f), CMN_OK);
    cr_expect_str_eq(f.usage, "role");
    cr_expect_str_eq(f.status, "issued");
    /* an identity certificate is no role certificate */
    X509 *id = NULL;
    cr_assert_eq(cms_ca_issue(ca, s_kv, k, &u, CMS_CERT_IDENTITY, 7, &id, serial2), CMN_OK);
    cr_expect_eq(cmn_cert_role(id, role, authority, why, sizeof why), CMN_ENOTFOUND);
    cr_expect(strstr(why, "no role EKU"), "%s", why);
    X509_free(id);
    X509_free(plain);
    X509_free(leaf);
    EVP_PKEY_free(k);
    free(ca_path);
    free(leaf_path);
    cms_ca_destroy(&ca);
}

Test(cms_ca, serials_are_unique_positive_and_at_least_64_random_bits)
{
    bool created = false;
    cms_ca_t *ca = s_root(&created);
    cmn_uuid_t u;
    cr_assert_eq(cmn_uuid_from_str(S_UUID, &u), CMN_OK);
    EVP_PKEY *k = s_key("P-256");
    enum { N = 40 };
    char serials[N][65];
    for (int i = 0; i < N; i++) {
        X509 *leaf = NULL;
        cr_assert_eq(cms_ca_issue(ca, s_kv, k, &u, CMS_CERT_IDENTITY, 1, &leaf, serials[i]),
                     CMN_OK);
        const ASN1_INTEGER *ai = X509_get0_serialNumber(leaf);
        BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
        cr_expect_geq(BN_num_bits(bn), 64, "serial %s", serials[i]);
        cr_expect_not(BN_is_negative(bn));
        BN_free(bn);
        for (int j = 0; j < i; j++) {
            cr_expect_str_neq(serials[i], serials[j]);
        }
        X509_free(leaf);
    }
    s_find_t f = {0};
    (void) cms_ca_each_cert(s_kv, S_UUID, s_find, &f);
    cr_expect_eq(f.n, (size_t) N, "every issued certificate is recorded");
    EVP_PKEY_free(k);
    cms_ca_destroy(&ca);
}

Test(cms_ca, a_key_that_is_not_p256_is_refused_and_nothing_recorded)
{
    bool created = false;
    cms_ca_t *ca = s_root(&created);
    cmn_uuid_t u;
    cr_assert_eq(cmn_uuid_from_str(S_UUID, &u), CMN_OK);
    EVP_PKEY *k = s_key("P-384");
    X509 *leaf = NULL;
    char serial[65];
    cr_expect_eq(cms_ca_issue(ca, s_kv, k, &u, CMS_CERT_IDENTITY, 1, &leaf, serial), CMN_ECRYPTO);
    cr_expect_null(leaf);
    s_find_t f = {0};
    (void) cms_ca_each_cert(s_kv, NULL, s_find, &f);
    cr_expect_eq(f.n, 0u);
    EVP_PKEY_free(k);
    cms_ca_destroy(&ca);
}

/* ---- sub-CA ---- */

typedef struct {
    obt_cert_t root, mid, sub;
    char chain[600], key[600], root_pem[600];
} s_upper_t;

static void
s_write_key(const char *path, const obt_cert_t *c)
{
    char *pem = obt_cert_key_pem(c);
    FILE *fp = fopen(path, "w");
    cr_assert(pem && fp);
    cr_assert_eq(fputs(pem, fp) >= 0, 1);
    cr_assert_eq(fclose(fp), 0);
    free(pem);
}

/* An upper root and our sub-CA signed by it (sub_opts), written as files. */
static void
s_upper(s_upper_t *u, const obt_cert_opts_t *sub_opts, const obt_cert_opts_t *root_opts)
{
    obt_cert_opts_t ro = root_opts ? *root_opts : obt_cert_root_opts("Upper Root");
    cr_assert_eq(obt_cert_make(&u->root, &ro, NULL), 0);
    cr_assert_eq(obt_cert_make(&u->sub, sub_opts, &u->root), 0);
    (void) snprintf(u->chain, sizeof u->chain, "%s/chain.pem", s_dir);
    (void) snprintf(u->key, sizeof u->key, "%s/key.pem", s_dir);
    (void) snprintf(u->root_pem, sizeof u->root_pem, "%s/root.pem", s_dir);
    const obt_cert_t *chain[] = {&u->sub, &u->root};
    cr_assert_eq(obt_cert_write_pem(u->chain, chain, 2), 0);
    const obt_cert_t *root[] = {&u->root};
    cr_assert_eq(obt_cert_write_pem(u->root_pem, root, 1), 0);
    s_write_key(u->key, &u->sub);
}

static void
s_upper_free(s_upper_t *u)
{
    obt_cert_free(&u->root);
    obt_cert_free(&u->mid);
    obt_cert_free(&u->sub);
}

Test(cms_ca, sub_ca_issues_certificates_that_verify_up_to_the_upper_root)
{
    s_upper_t up = {0};
    obt_cert_opts_t so = obt_cert_ca_opts("OBT Sub CA");
    s_upper(&up, &so, NULL);
    char why[300] = "";
    cms_ca_t *ca = cms_ca_open_sub(up.chain, up.key, time(NULL), why, sizeof why);
    cr_assert_not_null(ca, "%s", why);
    cr_expect(cms_ca_is_sub(ca));
    cr_expect_eq(X509_cmp(cms_ca_anchor(ca), up.root.cert), 0, "the anchor is the upper root");
    char *pem = NULL;
    size_t len = 0, count = 0;
    cr_assert_eq(cms_ca_chain_pem(ca, &pem, &len, &count), CMN_OK);
    cr_expect_eq(count, 2u);
    free(pem);

    cmn_uuid_t u;
    cr_assert_eq(cmn_uuid_from_str(S_UUID, &u), CMN_OK);
    EVP_PKEY *k = s_key("P-256");
    X509 *leaf = NULL;
    char serial[65];
    cr_assert_eq(cms_ca_issue(ca, s_kv, k, &u, CMS_CERT_IDENTITY, 3, &leaf, serial), CMN_OK);
    char *leaf_path = s_write(leaf, "leaf.pem");
    char *sub_path = s_write(up.sub.cert, "sub.pem");
    char cmd[2000], *out = NULL;
    (void) snprintf(cmd, sizeof cmd, "openssl verify -x509_strict -CAfile %s -untrusted %s %s 2>&1",
                    up.root_pem, sub_path, leaf_path);
    cr_expect_eq(s_sh(cmd, &out), 0, "%s", out);
    free(out);
    /* and not without the sub-CA in between */
    (void) snprintf(cmd, sizeof cmd, "openssl verify -CAfile %s %s 2>&1", up.root_pem, leaf_path);
    cr_expect_neq(s_sh(cmd, &out), 0, "%s", out);
    free(out);
    free(leaf_path);
    free(sub_path);
    X509_free(leaf);
    EVP_PKEY_free(k);
    cms_ca_destroy(&ca);
    s_upper_free(&up);
}

/* Opens the sub-CA of up and expects a refusal naming reason. */
static void
s_expect_refused(const s_upper_t *up, const char *key, const char *reason)
{
    char why[300] = "";
    cms_ca_t *ca = cms_ca_open_sub(up->chain, key ? key : up->key, time(NULL), why, sizeof why);
    cr_expect_null(ca, "accepted, expected \"%s\"", reason);
    cr_expect(strstr(why, reason), "reason \"%s\", expected \"%s\"", why, reason);
    cms_ca_destroy(&ca);
}

Test(cms_ca, sub_ca_whose_key_does_not_match_is_refused)
{
    s_upper_t up = {0};
    obt_cert_opts_t so = obt_cert_ca_opts("OBT Sub CA");
    s_upper(&up, &so, NULL);
    char other[600];
    (void) snprintf(other, sizeof other, "%s/other.pem", s_dir);
    s_write_key(other, &up.root);
    s_expect_refused(&up, other, "does not match");
    s_upper_free(&up);
}

Test(cms_ca, sub_ca_that_is_not_a_ca_is_refused)
{
    s_upper_t up = {0};
    obt_cert_opts_t so = obt_cert_leaf_opts(S_UUID);
    s_upper(&up, &so, NULL);
    s_expect_refused(&up, NULL, "is not a CA");
    s_upper_free(&up);
}

Test(cms_ca, sub_ca_expired_is_refused)
{
    s_upper_t up = {0};
    obt_cert_opts_t so = obt_cert_ca_opts("OBT Sub CA");
    so.not_before_s = -7200;
    so.not_after_s = -3600;
    s_upper(&up, &so, NULL);
    s_expect_refused(&up, NULL, "expired");
    s_upper_free(&up);
}

Test(cms_ca, sub_ca_with_a_p384_key_is_refused)
{
    s_upper_t up = {0};
    obt_cert_opts_t so = obt_cert_ca_opts("OBT Sub CA");
    so.curve = "P-384";
    s_upper(&up, &so, NULL);
    s_expect_refused(&up, NULL, "P-256");
    s_upper_free(&up);
}

Test(cms_ca, sub_ca_below_a_path_length_that_forbids_it_is_refused)
{
    /* root (pathlen 0) -> intermediate -> our CA: the root allows no CA below the
     * intermediate */
    s_upper_t up = {0};
    obt_cert_opts_t ro = obt_cert_root_opts("Upper Root");
    ro.bc = "critical,CA:TRUE,pathlen:0";
    cr_assert_eq(obt_cert_make(&up.root, &ro, NULL), 0);
    obt_cert_opts_t mo = obt_cert_root_opts("Upper Intermediate");
    cr_assert_eq(obt_cert_make(&up.mid, &mo, &up.root), 0);
    obt_cert_opts_t so = obt_cert_ca_opts("OBT Sub CA");
    cr_assert_eq(obt_cert_make(&up.sub, &so, &up.mid), 0);
    (void) snprintf(up.chain, sizeof up.chain, "%s/chain.pem", s_dir);
    (void) snprintf(up.key, sizeof up.key, "%s/key.pem", s_dir);
    const obt_cert_t *chain[] = {&up.sub, &up.mid, &up.root};
    cr_assert_eq(obt_cert_write_pem(up.chain, chain, 3), 0);
    s_write_key(up.key, &up.sub);
    s_expect_refused(&up, NULL, "path length");
    s_upper_free(&up);
}

Test(cms_ca, sub_ca_without_its_upper_root_is_refused)
{
    s_upper_t up = {0};
    obt_cert_opts_t so = obt_cert_ca_opts("OBT Sub CA");
    s_upper(&up, &so, NULL);
    const obt_cert_t *chain[] = {&up.sub};
    cr_assert_eq(obt_cert_write_pem(up.chain, chain, 1), 0);
    s_expect_refused(&up, NULL, "upper chain");
    s_upper_free(&up);
}

Test(cms_ca, obt_cms_exits_78_on_a_bad_sub_ca)
{
    s_upper_t up = {0};
    obt_cert_opts_t so = obt_cert_leaf_opts(S_UUID);
    s_upper(&up, &so, NULL);
    char store[600], keys[600];
    (void) snprintf(store, sizeof store, "%s/store", s_dir);
    (void) snprintf(keys, sizeof keys, "%s/keys", s_dir);
    const char *args[] = {"--keys-dir", keys,       "--store-dir", store, "--ca-cert",
                          up.chain,     "--ca-key", up.key,        NULL};
    char *out = NULL;
    cr_expect_eq(obt_run("obt-cms", args, &out), 78);
    free(out);
    const char *half[] = {"--keys-dir", keys, "--store-dir", store, "--ca-cert", up.chain, NULL};
    cr_expect_eq(obt_run("obt-cms", half, &out), 78, "--ca-cert without --ca-key");
    free(out);
    s_upper_free(&up);
}

/* ---- CSR ---- */

/* A CSR over key with subject CN=cn (PEM or DER, malloc'd). */
static uint8_t *
s_csr(EVP_PKEY *key, const char *cn, const EVP_MD *md, bool pem, size_t *ret_len)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    cr_assert(req && name);
    cr_assert_eq(
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *) cn, -1, -1, 0),
            1);
    cr_assert_eq(X509_REQ_set_subject_name(req, name), 1);
    cr_assert_eq(X509_REQ_set_pubkey(req, key), 1);
    cr_assert(X509_REQ_sign(req, key, md) > 0);
    uint8_t *out = NULL;
    if (pem) {
        BIO *b = BIO_new(BIO_s_mem());
        cr_assert_eq(PEM_write_bio_X509_REQ(b, req), 1);
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        out = malloc((size_t) n);
        memcpy(out, data, (size_t) n);
        *ret_len = (size_t) n;
        BIO_free(b);
    } else {
        int n = i2d_X509_REQ(req, &out);
        cr_assert_gt(n, 0);
        *ret_len = (size_t) n;
    }
    X509_NAME_free(name);
    X509_REQ_free(req);
    return out;
}

static void
s_expect_csr(const uint8_t *csr, size_t len, bool pem, cmn_err_t want, const char *reason)
{
    cmn_uuid_t u;
    cr_assert_eq(cmn_uuid_from_str(S_UUID, &u), CMN_OK);
    EVP_PKEY *got = NULL;
    char why[300] = "";
    cmn_err_t err = cms_csr_check(csr, len, pem, &u, &got, why, sizeof why);
    cr_expect_eq(err, want, "got %s (%s)", cmn_strerror(err), why);
    if (reason) {
        cr_expect(strstr(why, reason), "reason \"%s\", expected \"%s\"", why, reason);
    }
    cr_expect_eq(got != NULL, want == CMN_OK);
    EVP_PKEY_free(got);
}

Test(cms_csr, a_good_csr_passes_in_pem_and_der)
{
    EVP_PKEY *k = s_key("P-256");
    size_t len = 0;
    uint8_t *pem = s_csr(k, "uuid:" S_UUID, EVP_sha256(), true, &len);
    s_expect_csr(pem, len, true, CMN_OK, NULL);
    free(pem);
    uint8_t *der = s_csr(k, "UUID:" S_UUID, EVP_sha256(), false, &len);
    s_expect_csr(der, len, false, CMN_OK, NULL);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}

Test(cms_csr, wrong_cn_is_refused_with_the_cn_in_the_reason)
{
    EVP_PKEY *k = s_key("P-256");
    size_t len = 0;
    uint8_t *pem = s_csr(k, "uuid:00000000-1111-4222-8333-444444444444", EVP_sha256(), true, &len);
    s_expect_csr(pem, len, true, CMN_ECRYPTO,
                 "CN is \"uuid:00000000-1111-4222-8333-444444444444\"");
    free(pem);
    pem = s_csr(k, S_UUID, EVP_sha256(), true, &len);
    s_expect_csr(pem, len, true, CMN_ECRYPTO, "not \"uuid:" S_UUID "\"");
    free(pem);
    EVP_PKEY_free(k);
}

Test(cms_csr, a_key_that_is_not_p256_is_refused)
{
    EVP_PKEY *k = s_key("P-384");
    size_t len = 0;
    uint8_t *pem = s_csr(k, "uuid:" S_UUID, EVP_sha256(), true, &len);
    s_expect_csr(pem, len, true, CMN_ECRYPTO, "not an EC P-256 key");
    free(pem);
    EVP_PKEY_free(k);
}

Test(cms_csr, a_bad_signature_is_refused)
{
    EVP_PKEY *k = s_key("P-256");
    size_t len = 0;
    uint8_t *der = s_csr(k, "uuid:" S_UUID, EVP_sha256(), false, &len);
    /* the last bytes are the signature's: flip one in the middle of s */
    der[len - 8] ^= 0x01;
    s_expect_csr(der, len, false, CMN_ECRYPTO, "signature does not verify");
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}

Test(cms_csr, a_hash_other_than_sha256_is_refused)
{
    EVP_PKEY *k = s_key("P-256");
    size_t len = 0;
    uint8_t *pem = s_csr(k, "uuid:" S_UUID, EVP_sha384(), true, &len);
    s_expect_csr(pem, len, true, CMN_ECRYPTO, "SHA-256");
    free(pem);
    EVP_PKEY_free(k);
}

Test(cms_csr, garbage_and_empty_input_are_refused)
{
    static const uint8_t junk[] = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n";
    s_expect_csr(junk, sizeof junk - 1, true, CMN_ECRYPTO, "does not parse");
    s_expect_csr(junk, sizeof junk - 1, false, CMN_ECRYPTO, "does not parse");
    s_expect_csr(junk, 0, true, CMN_EINVAL, "empty");
}
