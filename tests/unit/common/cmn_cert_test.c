/* cmn_cert_test.c — manufacturer chains and the OCF end-entity profile, on chains
 * made with OpenSSL (tests/support/obt_certs.h): each rule refused with its reason */
#include <criterion/criterion.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "obt_certs.h"

#define DEV "8f0e5d2a-6b1c-4a3e-9d7f-1a2b3c4d5e6f"

static obt_cert_t s_root, s_ca, s_leaf;
static char *s_anchor;

static void
s_setup(void)
{
    obt_cert_opts_t r = obt_cert_root_opts("Acme Devices Root");
    obt_cert_opts_t c = obt_cert_ca_opts("Acme Devices Factory CA");
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    cr_assert_eq(obt_cert_make(&s_root, &r, NULL), 0);
    cr_assert_eq(obt_cert_make(&s_ca, &c, &s_root), 0);
    cr_assert_eq(obt_cert_make(&s_leaf, &l, &s_ca), 0);
    s_anchor = obt_cert_pem(&s_root);
    cr_assert_not_null(s_anchor);
}

static void
s_teardown(void)
{
    obt_cert_free(&s_leaf);
    obt_cert_free(&s_ca);
    obt_cert_free(&s_root);
    free(s_anchor);
}

TestSuite(cmn_cert, .init = s_setup, .fini = s_teardown);

/* Verifies leaf (+ optional intermediate) against anchors; returns the reason. */
static cmn_err_t
s_verify(X509 *leaf, X509 *ca, const char *anchors, time_t now, cmn_uuid_t *uuid, char *why)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    (void) sk_X509_push(chain, leaf);
    if (ca) {
        (void) sk_X509_push(chain, ca);
    }
    why[0] = '\0';
    cmn_err_t err = cmn_cert_verify_mfg_chain(chain, (const uint8_t *) anchors,
                                              anchors ? strlen(anchors) : 0, now, uuid, why, 200);
    sk_X509_free(chain);
    return err;
}

/* A leaf made with opts under the factory CA must be refused with a reason that
 * starts with prefix. */
static void
s_expect_leaf_refused(const obt_cert_opts_t *opts, const char *prefix)
{
    obt_cert_t bad;
    cr_assert_eq(obt_cert_make(&bad, opts, &s_ca), 0);
    char why[200];
    cr_expect_eq(s_verify(bad.cert, s_ca.cert, s_anchor, 0, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, prefix, strlen(prefix)), 0, "reason \"%s\", expected \"%s...\"", why,
                 prefix);
    obt_cert_free(&bad);
}

Test(cmn_cert, three_tier_chain_verifies_and_gives_the_cn_uuid)
{
    char why[200];
    cmn_uuid_t uuid, want;
    cr_assert_eq(s_verify(s_leaf.cert, s_ca.cert, s_anchor, 0, &uuid, why), CMN_OK, "%s", why);
    cr_assert_eq(cmn_uuid_from_str(DEV, &want), CMN_OK);
    cr_assert_eq(memcmp(uuid.b, want.b, 16), 0);
}

Test(cmn_cert, leaf_issued_by_the_root_directly_verifies)
{
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    obt_cert_t leaf;
    cr_assert_eq(obt_cert_make(&leaf, &l, &s_root), 0);
    char why[200];
    cr_expect_eq(s_verify(leaf.cert, NULL, s_anchor, 0, NULL, why), CMN_OK, "%s", why);
    obt_cert_free(&leaf);
}

Test(cmn_cert, other_root_or_no_anchor_is_an_untrusted_issuer)
{
    obt_cert_opts_t r = obt_cert_root_opts("Someone Else Root");
    obt_cert_t other;
    cr_assert_eq(obt_cert_make(&other, &r, NULL), 0);
    char *pem = obt_cert_pem(&other);
    char why[200];
    cr_expect_eq(s_verify(s_leaf.cert, s_ca.cert, pem, 0, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "untrusted issuer", 16), 0, "%s", why);
    cr_expect_eq(s_verify(s_leaf.cert, s_ca.cert, NULL, 0, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "untrusted issuer", 16), 0, "%s", why);
    /* Without the intermediate the path cannot be built either. */
    cr_expect_eq(s_verify(s_leaf.cert, NULL, s_anchor, 0, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "untrusted issuer", 16), 0, "%s", why);
    free(pem);
    obt_cert_free(&other);
}

Test(cmn_cert, leaf_whose_signature_was_altered_is_refused)
{
    /* The signature BIT STRING ends the DER: flip a bit of its last byte. */
    unsigned char *der = NULL;
    int len = i2d_X509(s_leaf.cert, &der);
    cr_assert_gt(len, 0);
    der[len - 1] ^= 0x01;
    const unsigned char *p = der;
    X509 *forged = d2i_X509(NULL, &p, len);
    OPENSSL_free(der);
    cr_assert_not_null(forged, "the altered certificate still parses");
    char why[200];
    cr_expect_eq(s_verify(forged, s_ca.cert, s_anchor, 0, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "bad signature", 13), 0, "%s", why);
    X509_free(forged);
}

Test(cmn_cert, expired_leaf_and_check_time_after_validity_are_refused)
{
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    l.not_before_s = -7200;
    l.not_after_s = -3600;
    s_expect_leaf_refused(&l, "expired");
    char why[200];
    time_t later = time(NULL) + 2L * 365 * 24 * 3600;
    cr_expect_eq(s_verify(s_leaf.cert, s_ca.cert, s_anchor, later, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "expired", 7), 0, "%s", why);
}

Test(cmn_cert, leaf_key_usage_must_be_exactly_signature_and_agreement)
{
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    l.ku = "critical,digitalSignature";
    s_expect_leaf_refused(&l, "wrong key usage");
    l = obt_cert_leaf_opts(DEV);
    l.ku = "critical,digitalSignature,keyAgreement,keyEncipherment";
    s_expect_leaf_refused(&l, "wrong key usage");
    l = obt_cert_leaf_opts(DEV);
    l.ku = NULL;
    s_expect_leaf_refused(&l, "wrong key usage");
}

Test(cmn_cert, leaf_needs_the_ocf_eku)
{
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    l.eku = "serverAuth,clientAuth";
    s_expect_leaf_refused(&l, "missing OCF EKU");
    l = obt_cert_leaf_opts(DEV);
    l.eku = NULL;
    s_expect_leaf_refused(&l, "missing OCF EKU");
    l = obt_cert_leaf_opts(DEV);
    l.eku = "serverAuth,1.3.6.1.4.1.44924.1.6";
    s_expect_leaf_refused(&l, "wrong EKU");
    l = obt_cert_leaf_opts(DEV);
    l.eku = "serverAuth,clientAuth,1.3.6.1.4.1.44924.1.6,anyExtendedKeyUsage";
    s_expect_leaf_refused(&l, "wrong EKU");
}

Test(cmn_cert, leaf_key_signature_and_subject_follow_the_profile)
{
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    l.curve = "P-384";
    s_expect_leaf_refused(&l, "wrong key");
    l = obt_cert_leaf_opts(DEV);
    l.cn = "Acme lamp 42";
    s_expect_leaf_refused(&l, "wrong subject");
    l = obt_cert_leaf_opts(DEV);
    l.cn = "uuid:not-a-uuid";
    s_expect_leaf_refused(&l, "wrong subject");
    l = obt_cert_leaf_opts(DEV);
    l.bc = "critical,CA:TRUE";
    l.ku = "critical,digitalSignature,keyAgreement";
    s_expect_leaf_refused(&l, "wrong basic constraints");
}

Test(cmn_cert, cn_prefix_is_case_insensitive)
{
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    l.cn = "UUID:" DEV;
    obt_cert_t leaf;
    cr_assert_eq(obt_cert_make(&leaf, &l, &s_ca), 0);
    char why[200];
    cr_expect_eq(s_verify(leaf.cert, s_ca.cert, s_anchor, 0, NULL, why), CMN_OK, "%s", why);
    obt_cert_free(&leaf);
}

Test(cmn_cert, leaf_signed_with_sha384_is_refused)
{
    obt_cert_t leaf;
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    cr_assert_eq(obt_cert_make(&leaf, &l, &s_ca), 0);
    /* Re-sign the same leaf with SHA-384. */
    cr_assert_gt(X509_sign(leaf.cert, s_ca.key, EVP_sha384()), 0);
    char why[200];
    cr_expect_eq(s_verify(leaf.cert, s_ca.cert, s_anchor, 0, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "wrong signature", 15), 0, "%s", why);
    obt_cert_free(&leaf);
}

Test(cmn_cert, intermediate_needs_pathlen_zero_and_chain_at_most_three_tiers)
{
    obt_cert_opts_t c = obt_cert_ca_opts("Loose CA");
    c.bc = "critical,CA:TRUE";
    obt_cert_t loose, leaf;
    cr_assert_eq(obt_cert_make(&loose, &c, &s_root), 0);
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    cr_assert_eq(obt_cert_make(&leaf, &l, &loose), 0);
    char why[200];
    cr_expect_eq(s_verify(leaf.cert, loose.cert, s_anchor, 0, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "wrong basic constraints", 23), 0, "%s", why);

    /* root -> loose -> factory CA (pathlen 0) -> leaf: four tiers. */
    obt_cert_t deep_ca, deep_leaf;
    obt_cert_opts_t d = obt_cert_ca_opts("Deep CA");
    cr_assert_eq(obt_cert_make(&deep_ca, &d, &loose), 0);
    l = obt_cert_leaf_opts(DEV);
    cr_assert_eq(obt_cert_make(&deep_leaf, &l, &deep_ca), 0);
    STACK_OF(X509) *chain = sk_X509_new_null();
    (void) sk_X509_push(chain, deep_leaf.cert);
    (void) sk_X509_push(chain, deep_ca.cert);
    (void) sk_X509_push(chain, loose.cert);
    cr_expect_eq(cmn_cert_verify_mfg_chain(chain, (const uint8_t *) s_anchor, strlen(s_anchor), 0,
                                           NULL, why, sizeof why),
                 CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "wrong chain length", 18), 0, "%s", why);
    sk_X509_free(chain);
    obt_cert_free(&deep_leaf);
    obt_cert_free(&deep_ca);
    obt_cert_free(&leaf);
    obt_cert_free(&loose);
}

Test(cmn_cert, root_without_crl_sign_is_refused)
{
    obt_cert_opts_t r = obt_cert_root_opts("Sign-only Root");
    r.ku = "critical,keyCertSign";
    obt_cert_t root, leaf;
    cr_assert_eq(obt_cert_make(&root, &r, NULL), 0);
    obt_cert_opts_t l = obt_cert_leaf_opts(DEV);
    cr_assert_eq(obt_cert_make(&leaf, &l, &root), 0);
    char *pem = obt_cert_pem(&root);
    char why[200];
    cr_expect_eq(s_verify(leaf.cert, NULL, pem, 0, NULL, why), CMN_ECRYPTO);
    cr_expect_eq(strncmp(why, "wrong key usage", 15), 0, "%s", why);
    free(pem);
    obt_cert_free(&leaf);
    obt_cert_free(&root);
}

Test(cmn_cert, pem_bundles_parse_and_garbage_does_not)
{
    char *a = obt_cert_pem(&s_root), *b = obt_cert_pem(&s_ca);
    size_t la = strlen(a), lb = strlen(b);
    char *both = malloc(la + lb + 1);
    memcpy(both, a, la);
    memcpy(both + la, b, lb + 1);
    STACK_OF(X509) *sk = cmn_cert_parse_pem((const uint8_t *) both, la + lb);
    cr_assert_not_null(sk);
    cr_expect_eq(sk_X509_num(sk), 2);
    sk_X509_pop_free(sk, X509_free);
    static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n";
    cr_expect_null(cmn_cert_parse_pem((const uint8_t *) junk, sizeof junk - 1));
    cr_expect_null(cmn_cert_parse_pem(NULL, 0));
    free(both);
    free(a);
    free(b);
}
