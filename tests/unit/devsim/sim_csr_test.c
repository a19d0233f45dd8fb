/* sim_csr_test.c — certificate support of a simulated device: --certs, the CSR it
 * serves (checked by CMS's own CSR checks), and the checks of a POSTed identity
 * certificate (chain to a trust anchor, OCF profile, the device's own key) */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr.h"
#include "obt_certs.h"
#include "obt_support.h"
#include "sim_csr.h"

static char *s_dir;
static sim_device_t s_dev;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("simcsr");
    cr_assert_not_null(s_dir);
    memset(&s_dev, 0, sizeof s_dev);
    (void) snprintf(s_dev.dir, sizeof s_dev.dir, "%s", s_dir);
    cr_assert_eq(cmn_uuid_generate(&s_dev.doxm.deviceuuid), CMN_OK);
}

static void
s_teardown(void)
{
    cmn_creds_free(&s_dev.creds);
    obt_rmrf(s_dir);
    free(s_dir);
}

TestSuite(sim_csr, .init = s_setup, .fini = s_teardown, .timeout = 30);

Test(sim_csr, certs_spec_sets_sct_and_csr_per_device)
{
    sim_device_t devs[3];
    memset(devs, 0, sizeof devs);
    cr_assert_eq(sim_csr_setup("0,2:nocsr", devs, 3), CMN_OK);
    cr_expect_eq(devs[0].doxm.sct, 9u);
    cr_expect(devs[0].has_csr);
    cr_expect_eq(devs[1].doxm.sct, 1u);
    cr_expect_not(devs[1].has_certs);
    cr_expect_eq(devs[2].doxm.sct, 9u);
    cr_expect_not(devs[2].has_csr);
    cr_expect_eq(sim_csr_setup("3", devs, 3), CMN_EINVAL, "index beyond --count");
    cr_expect_eq(sim_csr_setup("0:what", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_csr_setup("all", devs, 3), CMN_OK);
    cr_expect(devs[1].has_certs && devs[1].has_csr);
}

/* The CSR the device serves, decoded. */
static X509_REQ *
s_get_csr(void)
{
    uint8_t *body = NULL;
    size_t len = 0;
    cr_assert_eq(sim_svr_get_csr(&s_dev, &body, &len), 205);
    cmn_csr_t csr;
    cr_assert_eq(cmn_csr_decode(body, len, &csr), CMN_OK);
    free(body);
    cr_expect_str_eq(csr.encoding, CMN_ENC_PEM);
    BIO *b = BIO_new_mem_buf(csr.data, (int) csr.len);
    X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
    BIO_free(b);
    cmn_csr_free(&csr);
    cr_assert_not_null(req);
    return req;
}

Test(sim_csr, the_csr_names_the_device_and_its_key_is_made_once)
{
    s_dev.has_certs = s_dev.has_csr = true;
    X509_REQ *a = s_get_csr();
    X509_REQ *b = s_get_csr();
    char cn[80], want[80], u[37];
    cmn_uuid_to_str(&s_dev.doxm.deviceuuid, u);
    (void) snprintf(want, sizeof want, "uuid:%s", u);
    cr_assert_gt(
            X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(a), NID_commonName, cn, sizeof cn),
            0);
    cr_expect_str_eq(cn, want);
    EVP_PKEY *ka = X509_REQ_get0_pubkey(a);
    cr_expect_eq(X509_REQ_verify(a, ka), 1);
    cr_expect_eq(EVP_PKEY_eq(ka, X509_REQ_get0_pubkey(b)), 1, "one key per device");
    X509_REQ_free(a);
    X509_REQ_free(b);
    s_dev.has_csr = false;
    uint8_t *body = NULL;
    size_t len = 0;
    cr_expect_eq(sim_svr_get_csr(&s_dev, &body, &len), 404);
    free(body);
}

/* A cred entry of credtype 8 with usage and the PEM of certs. */
static void
s_cert_cred(cmn_cred_t *c, const char *usage, const obt_cert_t *const *certs, int n)
{
    memset(c, 0, sizeof *c);
    c->credtype = CMN_CREDTYPE_CERT;
    (void) snprintf(c->credusage, sizeof c->credusage, "%s", usage);
    size_t cap = 16384, len = 0;
    char *pem = calloc(1, cap);
    for (int i = 0; i < n; i++) {
        char *one = obt_cert_pem(certs[i]);
        len += (size_t) snprintf(pem + len, cap - len, "%s", one);
        free(one);
    }
    c->pub_data = (uint8_t *) pem;
    c->pub_len = len;
}

/* The private key of c as DER (privatedata, as CMS sends a key it made). */
static void
s_priv(cmn_cred_t *c, const obt_cert_t *k)
{
    uint8_t *der = NULL;
    int n = i2d_PrivateKey(k->key, &der);
    cr_assert_gt(n, 0);
    c->priv_data = malloc((size_t) n);
    memcpy(c->priv_data, der, (size_t) n);
    c->priv_len = (size_t) n;
    OPENSSL_free(der);
}

Test(sim_csr, a_posted_certificate_must_chain_to_an_anchor_and_carry_a_key_of_the_device)
{
    obt_cert_t root, other, leaf, stray;
    obt_cert_opts_t ro = obt_cert_root_opts("Domain CA");
    obt_cert_opts_t oo = obt_cert_root_opts("Other CA");
    char u[37];
    cmn_uuid_to_str(&s_dev.doxm.deviceuuid, u);
    obt_cert_opts_t lo = obt_cert_leaf_opts(u);
    cr_assert_eq(obt_cert_make(&root, &ro, NULL), 0);
    cr_assert_eq(obt_cert_make(&other, &oo, NULL), 0);
    cr_assert_eq(obt_cert_make(&leaf, &lo, &root), 0);
    lo = obt_cert_leaf_opts(u);
    cr_assert_eq(obt_cert_make(&stray, &lo, &other), 0);

    cmn_creds_t in = {0};
    cmn_cred_t anchor, cert;
    const obt_cert_t *r[] = {&root};
    const obt_cert_t *l[] = {&leaf, &root};
    const obt_cert_t *st[] = {&stray};
    s_cert_cred(&anchor, "oic.sec.cred.trustca", r, 1);
    cr_assert_eq(cmn_creds_add(&in, &anchor), CMN_OK);
    s_cert_cred(&cert, "oic.sec.cred.cert", l, 2);
    s_priv(&cert, &leaf);
    cr_expect(sim_cert_check_posted(&s_dev, &in, &cert), "a good chain with its key");
    /* the key sent is not the certificate's */
    free(cert.priv_data);
    s_priv(&cert, &stray);
    cr_expect_not(sim_cert_check_posted(&s_dev, &in, &cert), "a key that is not the leaf's");
    /* no key sent and the device's own key is another */
    free(cert.priv_data);
    cert.priv_data = NULL;
    cert.priv_len = 0;
    cr_expect_not(sim_cert_check_posted(&s_dev, &in, &cert), "not the device's key");
    /* a chain of another CA */
    cmn_cred_t bad;
    s_cert_cred(&bad, "oic.sec.cred.cert", st, 1);
    s_priv(&bad, &stray);
    cr_expect_not(sim_cert_check_posted(&s_dev, &in, &bad), "no anchor for it");
    /* no anchor at all */
    cmn_creds_t none = {0};
    free(cert.priv_data);
    s_priv(&cert, &leaf);
    cr_expect_not(sim_cert_check_posted(&s_dev, &none, &cert), "without any trust anchor");
    free(anchor.pub_data);
    free(cert.pub_data);
    free(cert.priv_data);
    free(bad.pub_data);
    free(bad.priv_data);
    cmn_creds_free(&in);
    obt_cert_free(&root);
    obt_cert_free(&other);
    obt_cert_free(&leaf);
    obt_cert_free(&stray);
}
