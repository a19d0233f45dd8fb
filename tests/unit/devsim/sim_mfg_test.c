/* sim_mfg_test.c — manufacturer credentials of simulated devices: issued by a given
 * factory CA, kept in the device folder, and judged by cmn_cert exactly as the kind
 * says (good, expired, bad key usage, no OCF EKU); the factory CA ocf-devsim makes,
 * a leaf of an untrusted CA, and a new leaf after a factory reset */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmn_cert.h"
#include "obt_certs.h"
#include "obt_support.h"
#include "sim_mfg.h"

static char *s_dir;
static obt_cert_t s_root, s_ca;
static char *s_anchor;
static sim_mfg_ca_t *s_factory;

static void
s_write_key(const char *path, const obt_cert_t *c)
{
    char *kp = obt_cert_key_pem(c);
    FILE *fp = fopen(path, "w");
    cr_assert(fp && kp);
    fputs(kp, fp);
    fclose(fp);
    free(kp);
}

static void
s_setup(void)
{
    s_dir = obt_tmpdir("simmfg");
    cr_assert_not_null(s_dir);
    obt_cert_opts_t r = obt_cert_root_opts("Acme Root");
    obt_cert_opts_t c = obt_cert_ca_opts("Acme Factory");
    cr_assert_eq(obt_cert_make(&s_root, &r, NULL), 0);
    cr_assert_eq(obt_cert_make(&s_ca, &c, &s_root), 0);
    s_anchor = obt_cert_pem(&s_root);
    char ca[600], key[600];
    (void) snprintf(ca, sizeof ca, "%s/factory.pem", s_dir);
    (void) snprintf(key, sizeof key, "%s/factory.key", s_dir);
    const obt_cert_t *chain[] = {&s_ca};
    cr_assert_eq(obt_cert_write_pem(ca, chain, 1), 0);
    s_write_key(key, &s_ca);
    cmn_err_t err;
    s_factory = sim_mfg_ca_load(ca, key, &err);
    cr_assert_not_null(s_factory, "%s", cmn_strerror(err));
}

static void
s_teardown(void)
{
    sim_mfg_ca_destroy(&s_factory);
    obt_cert_free(&s_ca);
    obt_cert_free(&s_root);
    free(s_anchor);
    obt_rmrf(s_dir);
    free(s_dir);
}

TestSuite(sim_mfg, .init = s_setup, .fini = s_teardown);

/* Issues a credential of kind in a fresh sub-folder and verifies it as DOTS would. */
static cmn_err_t
s_issue_and_verify(sim_mfg_kind_t kind, char *why, size_t why_len, char *dev_dir, size_t dcap)
{
    cmn_uuid_t uuid;
    cr_assert_eq(cmn_uuid_generate(&uuid), CMN_OK);
    (void) snprintf(dev_dir, dcap, "%s/dev-%s", s_dir, SIM_MFG_KIND_NAMES[kind]);
    cr_assert_eq(mkdir(dev_dir, 0700), 0);
    sim_mfg_cred_t cred;
    cr_assert_eq(sim_mfg_cred_get(s_factory, dev_dir, &uuid, kind, &cred), CMN_OK);
    STACK_OF(X509) *chain = sk_X509_new_null();
    (void) sk_X509_push(chain, cred.leaf);
    for (int i = 0; i < sk_X509_num(cred.chain); i++) {
        (void) sk_X509_push(chain, sk_X509_value(cred.chain, i));
    }
    cmn_uuid_t got;
    memset(&got, 0, sizeof got);
    why[0] = '\0';
    cmn_err_t err = cmn_cert_verify_mfg_chain(chain, (const uint8_t *) s_anchor, strlen(s_anchor),
                                              0, &got, why, why_len);
    if (err == CMN_OK) {
        cr_expect_eq(memcmp(got.b, uuid.b, 16), 0, "CN uuid is the device's");
    }
    sk_X509_free(chain);
    sim_mfg_cred_free(&cred);
    return err;
}

Test(sim_mfg, each_kind_is_judged_as_named)
{
    static const struct {
        sim_mfg_kind_t kind;
        const char *reason; /* NULL: accepted */
    } cases[] = {{SIM_MFG_GOOD, NULL},
                 {SIM_MFG_EXPIRED, "expired"},
                 {SIM_MFG_BAD_KU, "wrong key usage"},
                 {SIM_MFG_NO_OCF_EKU, "missing OCF EKU"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[200], dir[700];
        cmn_err_t err = s_issue_and_verify(cases[i].kind, why, sizeof why, dir, sizeof dir);
        if (cases[i].reason == NULL) {
            cr_expect_eq(err, CMN_OK, "%s: %s", SIM_MFG_KIND_NAMES[cases[i].kind], why);
        } else {
            cr_expect_eq(err, CMN_ECRYPTO, "%s accepted", SIM_MFG_KIND_NAMES[cases[i].kind]);
            cr_expect_eq(strncmp(why, cases[i].reason, strlen(cases[i].reason)), 0, "%s: %s",
                         SIM_MFG_KIND_NAMES[cases[i].kind], why);
        }
    }
}

Test(sim_mfg, credential_is_kept_in_the_device_folder)
{
    char why[200], dir[700], key[760];
    cr_assert_eq(s_issue_and_verify(SIM_MFG_GOOD, why, sizeof why, dir, sizeof dir), CMN_OK);
    (void) snprintf(key, sizeof key, "%s/mfgkey.pem", dir);
    struct stat st;
    cr_assert_eq(stat(key, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600, "the private key must be owner-only");

    /* Loaded again (even without a CA) it is the same certificate. */
    cmn_uuid_t other;
    cr_assert_eq(cmn_uuid_generate(&other), CMN_OK);
    sim_mfg_cred_t a, b;
    cr_assert_eq(sim_mfg_cred_get(NULL, dir, &other, SIM_MFG_GOOD, &a), CMN_OK);
    cr_assert_eq(sim_mfg_cred_get(s_factory, dir, &other, SIM_MFG_GOOD, &b), CMN_OK);
    cr_expect_eq(X509_cmp(a.leaf, b.leaf), 0);
    cr_expect_eq(sk_X509_num(a.chain), 1, "the factory CA travels with the leaf");
    sim_mfg_cred_free(&a);
    sim_mfg_cred_free(&b);

    /* Nothing in a folder and no CA: not found. */
    cr_expect_eq(sim_mfg_cred_get(NULL, s_dir, &other, SIM_MFG_GOOD, &a), CMN_ENOTFOUND);
}

Test(sim_mfg, a_ca_whose_key_does_not_match_is_refused)
{
    char ca[600], key[600];
    (void) snprintf(ca, sizeof ca, "%s/factory.pem", s_dir);
    (void) snprintf(key, sizeof key, "%s/wrong.key", s_dir);
    s_write_key(key, &s_root);
    cmn_err_t err = CMN_OK;
    cr_expect_null(sim_mfg_ca_load(ca, key, &err));
    cr_expect_eq(err, CMN_EINVAL);
}

/* The chain of cred as a verifier sees it (leaf first); caller frees the stack only. */
static STACK_OF(X509) * s_chain_of(const sim_mfg_cred_t *cred)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    (void) sk_X509_push(chain, cred->leaf);
    for (int i = 0; i < sk_X509_num(cred->chain); i++) {
        (void) sk_X509_push(chain, sk_X509_value(cred->chain, i));
    }
    return chain;
}

Test(sim_mfg, factory_ca_is_made_once_and_an_untrusted_one_is_refused)
{
    cmn_err_t err = CMN_OK;
    sim_mfg_ca_t *factory = sim_mfg_ca_open(s_dir, "factory-ca", "Test factory", &err);
    cr_assert_not_null(factory, "%s", cmn_strerror(err));
    sim_mfg_ca_destroy(&factory);
    char path[700], *pem = NULL;
    (void) snprintf(path, sizeof path, "%s/factory-ca-key.pem", s_dir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600, "the CA key must be owner-only");
    (void) snprintf(path, sizeof path, "%s/factory-ca.pem", s_dir);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp);
    size_t cap = 8192, n = 0;
    pem = calloc(1, cap);
    n = fread(pem, 1, cap - 1, fp);
    fclose(fp);
    cr_assert_gt(n, 0);

    /* Opened again: the same CA (the file is not replaced). */
    factory = sim_mfg_ca_open(s_dir, "factory-ca", "Test factory", &err);
    sim_mfg_ca_t *rogue = sim_mfg_ca_open(s_dir, "untrusted-ca", "Test rogue", &err);
    cr_assert(factory && rogue);
    cmn_uuid_t uuid;
    cr_assert_eq(cmn_uuid_generate(&uuid), CMN_OK);
    char good_dir[700], bad_dir[700], why[200];
    (void) snprintf(good_dir, sizeof good_dir, "%s/good", s_dir);
    (void) snprintf(bad_dir, sizeof bad_dir, "%s/untrusted", s_dir);
    cr_assert_eq(mkdir(good_dir, 0700), 0);
    cr_assert_eq(mkdir(bad_dir, 0700), 0);
    sim_mfg_cred_t good, bad;
    cr_assert_eq(sim_mfg_cred_current(factory, good_dir, &uuid, SIM_MFG_GOOD, &good), CMN_OK);
    cr_assert_eq(sim_mfg_cred_current(rogue, bad_dir, &uuid, SIM_MFG_UNTRUSTED, &bad), CMN_OK);
    STACK_OF(X509) *chain = s_chain_of(&good);
    cr_expect_eq(cmn_cert_verify_mfg_chain(chain, (uint8_t *) pem, n, 0, NULL, why, sizeof why),
                 CMN_OK, "%s", why);
    sk_X509_free(chain);
    chain = s_chain_of(&bad);
    cr_expect_eq(cmn_cert_verify_mfg_chain(chain, (uint8_t *) pem, n, 0, NULL, why, sizeof why),
                 CMN_ECRYPTO);
    cr_expect(strncmp(why, "untrusted issuer", 16) == 0, "%s", why);
    sk_X509_free(chain);
    sim_mfg_cred_free(&bad);

    /* After a factory reset (new UUID) the device gets a leaf that names it. */
    cmn_uuid_t fresh;
    cr_assert_eq(cmn_uuid_generate(&fresh), CMN_OK);
    sim_mfg_cred_t again;
    cr_assert_eq(sim_mfg_cred_current(factory, good_dir, &fresh, SIM_MFG_GOOD, &again), CMN_OK);
    cr_expect_neq(X509_cmp(good.leaf, again.leaf), 0, "the old leaf was kept");
    cmn_uuid_t cn;
    chain = s_chain_of(&again);
    cr_expect_eq(cmn_cert_verify_mfg_chain(chain, (uint8_t *) pem, n, 0, &cn, why, sizeof why),
                 CMN_OK, "%s", why);
    cr_expect_eq(memcmp(cn.b, fresh.b, 16), 0);
    sk_X509_free(chain);
    sim_mfg_cred_free(&again);
    sim_mfg_cred_free(&good);
    sim_mfg_ca_destroy(&factory);
    sim_mfg_ca_destroy(&rogue);
    free(pem);
}
