/* cms_cert_test.c — the CMS's certificate authority through the whole suite: at
 * hand-over a device with certificate support (sct 8) gets the domain's trust anchor
 * and an identity certificate over the key of its CSR, or over a key pair CMS makes
 * when it has no /oic/sec/csr; a device without it gets none and the record says why.
 * Every certificate found on a device is checked with the openssl command line
 * against `obtctl ca export`; `obtctl ca show` and `obtctl certs` agree. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "obt_certs.h"
#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 3

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_setup(void)
{
    static const char *const certs[] = {"--certs", "0,1:nocsr", NULL};
    s_dir = obt_tmpdir("cmscert");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, N_DEVICES, NULL, certs), 0,
                 "devsim did not start");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl_or_dump(&s_suite, &s_sim, args, out);
}

/* The device's credtype-8 entry of credusage in its dump (publicdata hex into hex);
 * false if none. */
static bool
s_cert_entry(
        const char *dev, const char *usage, char *subj, size_t subj_len, char *hex, size_t hex_len)
{
    const char *cred = strstr(dev, "\"cred\":");
    const char *acl = strstr(dev, "\"acl2\":");
    cr_assert(cred && acl);
    for (const char *c = cred; (c = strstr(c, "{\"credid\":")) != NULL && c < acl; c++) {
        char u[64] = "";
        (void) obt_json_str(c, "credusage", u, sizeof u);
        const char *type = c + strcspn(c, ",") + 1; /* {"credid":N,"credtype":T,... */
        if (strcmp(u, usage) == 0 && strncmp(type, "\"credtype\":8,", 13) == 0) {
            cr_assert(obt_json_str(c, "subjectuuid", subj, subj_len));
            cr_assert(obt_json_str(c, "publicdata_hex", hex, hex_len));
            return true;
        }
    }
    return false;
}

static void
s_onboard_all(void)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "90", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(discover, &out), 0, "discover failed: %s", out);
    free(out);
    cr_assert_eq(s_ctl(approve, NULL), 0);
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    free(out);
}

Test(cms_cert,
     identity_certificates_at_handover_verify_with_openssl_against_the_exported_ca,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 240)
{
    s_onboard_all();
    char ca[700], leaf[700], anchor[700], cmd[3000];
    (void) snprintf(ca, sizeof ca, "%s/ca.pem", s_dir);
    (void) snprintf(leaf, sizeof leaf, "%s/leaf.pem", s_dir);
    (void) snprintf(anchor, sizeof anchor, "%s/anchor.pem", s_dir);
    const char *export[] = {"ca", "export", "--out", ca, NULL};
    cr_assert_eq(s_ctl(export, NULL), 0);
    char *out = NULL;
    const char *show_ca[] = {"--json", "ca", "show", NULL};
    cr_assert_eq(s_ctl(show_ca, &out), 0);
    char fp[80];
    cr_assert(obt_json_str(out, "sha256", fp, sizeof fp), "%s", out);
    cr_expect(strstr(out, "\"kind\":\"root\""), "%s", out);
    free(out);
    /* the exported CA is the one shown */
    (void) snprintf(cmd, sizeof cmd,
                    "openssl x509 -in %s -noout -fingerprint -sha256 | tr -d : | tr A-F a-f", ca);
    cr_assert_eq(obt_sh(cmd, &out), 0);
    cr_expect(strstr(out, fp), "%s vs %s", out, fp);
    free(out);

    char *objs[8];
    size_t n = obt_devsim_dump(s_dir, objs, 8);
    cr_assert_eq(n, N_DEVICES);
    int with_cert = 0;
    for (size_t i = 0; i < n; i++) {
        char uuid[40], idx[8], subj[64], sct[8];
        static char hex[16384];
        cr_assert(obt_json_str(objs[i], "uuid", uuid, sizeof uuid));
        const char *ix = strstr(objs[i], "\"index\":");
        cr_assert_not_null(ix, "%s", objs[i]);
        (void) snprintf(idx, sizeof idx, "%d", atoi(ix + 8));
        char dir[600];
        cr_assert(obt_json_str(objs[i], "dir", dir, sizeof dir));
        const char *show[] = {"--json", "show", uuid, NULL};
        char *rec = NULL;
        cr_assert_eq(s_ctl(show, &rec), 0);
        const char *cms = strstr(rec, "\"cms\":");
        cr_assert_not_null(cms, "%s", rec);
        char serial[80] = "", note[200] = "";
        cr_assert(obt_json_str(cms, "cert_note", note, sizeof note), "%s", rec);
        (void) obt_json_str(cms, "cert_serial", serial, sizeof serial);
        const char *sp = strstr(cms, "\"sct\":");
        cr_assert_not_null(sp);
        (void) snprintf(sct, sizeof sct, "%d", atoi(sp + 6));
        if (strcmp(idx, "2") == 0) {
            cr_expect_str_eq(sct, "1");
            cr_expect_str_eq(serial, "", "a device without credtype 8 gets no certificate");
            cr_expect(strstr(note, "no certificate support"), "note: %s", note);
            cr_expect_not(
                    s_cert_entry(objs[i], "oic.sec.cred.cert", subj, sizeof subj, hex, sizeof hex));
            free(rec);
            free(objs[i]);
            continue;
        }
        with_cert++;
        cr_expect_str_eq(sct, "9");
        cr_assert_neq(serial[0], '\0', "no certificate for device %s: %s", idx, rec);
        cr_expect(strstr(note, strcmp(idx, "0") == 0 ? "CSR" : "made by CMS"), "%s: %s", idx, note);
        free(rec);
        /* the trust anchor: subject "*", the CA exported */
        cr_assert(s_cert_entry(objs[i], "oic.sec.cred.trustca", subj, sizeof subj, hex, sizeof hex),
                  "no trust anchor on device %s", idx);
        cr_expect_str_eq(subj, "*");
        cr_assert_eq(obt_write_hex(anchor, hex), 0);
        (void) snprintf(cmd, sizeof cmd, "cmp -s %s %s", anchor, ca);
        cr_expect_eq(system(cmd), 0, "the trust anchor is not the exported CA");
        /* the identity certificate: verified by openssl, each profile field */
        cr_assert(s_cert_entry(objs[i], "oic.sec.cred.cert", subj, sizeof subj, hex, sizeof hex),
                  "no identity certificate on device %s", idx);
        cr_expect_str_eq(subj, uuid);
        cr_assert_eq(obt_write_hex(leaf, hex), 0);
        (void) snprintf(cmd, sizeof cmd, "openssl verify -x509_strict -CAfile %s %s 2>&1", ca,
                        leaf);
        cr_expect_eq(obt_sh(cmd, &out), 0, "%s", out);
        free(out);
        (void) snprintf(cmd, sizeof cmd,
                        "openssl x509 -in %s -noout -text -serial -nameopt RFC2253 2>&1", leaf);
        cr_assert_eq(obt_sh(cmd, &out), 0, "%s", out);
        char want[120];
        (void) snprintf(want, sizeof want, "Subject: CN=uuid:%s\n", uuid);
        cr_expect(strstr(out, want), "%s", out);
        cr_expect(strstr(out, "ASN1 OID: prime256v1"), "%s", out);
        cr_expect(strstr(out, "Signature Algorithm: ecdsa-with-SHA256"), "%s", out);
        cr_expect(strstr(out, "CA:FALSE"), "%s", out);
        cr_expect(strstr(out, "Digital Signature, Key Agreement\n"), "%s", out);
        cr_expect(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication, "
                              "1.3.6.1.4.1.44924.1.6\n"),
                  "%s", out);
        for (char *p = serial; *p; p++) {
            *p = (char) (*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
        }
        (void) snprintf(want, sizeof want, "serial=%s\n", serial);
        cr_expect(strstr(out, want), "recorded serial %s: %s", serial, out);
        free(out);
        if (strcmp(idx, "0") == 0) {
            /* CSR path: the certificate's key is the device's own (made by devsim) */
            char cmd2[3000], *a = NULL, *b = NULL;
            (void) snprintf(cmd2, sizeof cmd2, "openssl x509 -in %s -noout -pubkey", leaf);
            cr_assert_eq(obt_sh(cmd2, &a), 0);
            (void) snprintf(cmd2, sizeof cmd2, "openssl pkey -in %s/csr-key.pem -pubout 2>&1", dir);
            cr_assert_eq(obt_sh(cmd2, &b), 0, "%s", b);
            cr_expect_str_eq(a, b, "the certificate is not over the device's CSR key");
            free(a);
            free(b);
        } else {
            /* CMS made the key: it was sent as privatedata */
            const char *c = strstr(objs[i], "\"oic.sec.cred.cert\"");
            char priv[600] = "";
            cr_assert(c && obt_json_str(c, "privatedata_hex", priv, sizeof priv));
            cr_expect_gt(strlen(priv), 64u, "no private key sent to device %s", idx);
        }
        free(objs[i]);
    }
    cr_expect_eq(with_cert, 2);

    /* CMS's records: two active identity certificates */
    const char *certs[] = {"--json", "certs", NULL};
    cr_assert_eq(s_ctl(certs, &out), 0);
    char *recs[8];
    size_t nr = obt_json_objects(out, recs, 8);
    free(out);
    size_t active = 0;
    for (size_t i = 0; i < nr; i++) {
        char st[32], usage[32];
        cr_assert(obt_json_str(recs[i], "status", st, sizeof st));
        cr_assert(obt_json_str(recs[i], "usage", usage, sizeof usage));
        active += strcmp(st, "active") == 0 && strcmp(usage, "identity") == 0;
        free(recs[i]);
    }
    cr_expect_eq(active, 2u, "%zu records", nr);
}

static void
s_setup_badcn(void)
{
    static const char *const certs[] = {"--certs", "0:badcn", NULL};
    s_dir = obt_tmpdir("cmscsr");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, 1, NULL, certs), 0, "devsim did not start");
}

Test(cms_cert,
     a_csr_naming_another_uuid_is_refused_with_the_reason_and_nothing_is_written,
     .init = s_setup_badcn,
     .fini = s_teardown,
     .timeout = 120)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(discover, NULL), 0);
    cr_assert_eq(s_ctl(approve, NULL), 0);
    cr_expect_eq(obt_ctl(&s_suite, onboard, &out), 1, "the onboarding must fail: %s", out);
    free(out);
    char *objs[2];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 2), 1u);
    char uuid[40], subj[64];
    static char hex[8192];
    cr_assert(obt_json_str(objs[0], "uuid", uuid, sizeof uuid));
    cr_expect_not(s_cert_entry(objs[0], "oic.sec.cred.cert", subj, sizeof subj, hex, sizeof hex),
                  "a certificate was written");
    cr_expect_not(s_cert_entry(objs[0], "oic.sec.cred.trustca", subj, sizeof subj, hex, sizeof hex),
                  "a trust anchor was written");
    free(objs[0]);
    const char *show[] = {"--json", "show", uuid, NULL};
    cr_assert_eq(s_ctl(show, &out), 0);
    const char *cms = strstr(out, "\"cms\":");
    char err[300] = "";
    cr_assert(cms && obt_json_str(cms, "error", err, sizeof err), "%s", out);
    cr_expect(strstr(err, "CSR refused, nothing written"), "reason: %s", err);
    char want[80]; /* the reason names the uuid expected (quotes escaped in JSON) */
    (void) snprintf(want, sizeof want, "not \\\"uuid:%s\\\"", uuid);
    cr_expect(strstr(cms, "CN is \\\"uuid:") && strstr(cms, want), "%s", cms);
    free(out);
    const char *certs[] = {"--json", "certs", NULL};
    cr_assert_eq(s_ctl(certs, &out), 0);
    cr_expect(strstr(out, "\"usage\":\"identity\"") == NULL, "a certificate was issued: %s", out);
    free(out);
}

/* The certificate records of CMS: how many, how many active, the active serial. */
static size_t
s_records(size_t *ret_active, char *active_serial, size_t cap)
{
    const char *certs[] = {"--json", "certs", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(certs, &out), 0);
    char *recs[16];
    size_t n = obt_json_objects(out, recs, 16);
    free(out);
    *ret_active = 0;
    for (size_t i = 0; i < n; i++) {
        char st[32], usage[32];
        cr_assert(obt_json_str(recs[i], "usage", usage, sizeof usage));
        if (strcmp(usage, "identity") != 0) { /* CMS's own */
            free(recs[i]);
            continue;
        }
        cr_assert(obt_json_str(recs[i], "status", st, sizeof st));
        cr_expect(strcmp(st, "active") == 0 || strcmp(st, "abandoned") == 0 ||
                          strcmp(st, "replaced") == 0,
                  "status %s", st);
        if (strcmp(st, "active") == 0) {
            (*ret_active)++;
            cr_assert(obt_json_str(recs[i], "serial", active_serial, cap));
        }
        free(recs[i]);
    }
    return n;
}

static void
s_setup_info(void)
{
    static const char *const certs[] = {"--certs", "all", NULL};
    static const char *const info[] = {"--log-level", "info", NULL};
    s_dir = obt_tmpdir("cmskill");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start_with(&s_suite, s_dir, info, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, 1, NULL, certs), 0, "devsim did not start");
}

Test(cms_cert,
     kill_9_of_cms_inside_certificate_issuance_leaves_one_certificate_on_the_device,
     .init = s_setup_info,
     .fini = s_teardown,
     .timeout = 180)
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const approve[] = {"approve", "--all", NULL};
    static const char *const onboard[] = {"onboard", "--all", "--no-wait", NULL};
    cr_assert_eq(s_ctl(discover, NULL), 0);
    cr_assert_eq(s_ctl(approve, NULL), 0);
    cr_assert_eq(s_ctl(onboard, NULL), 0);
    /* killed once the CSR is asked for: before, during or just after the issuance */
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "step=\"GET csr\"", 60000), 0,
                 "CMS never asked for the CSR");
    obt_proc_kill9(&s_suite.cms);
    static const char *const info[] = {"--log-level", "info", NULL};
    cr_assert_eq(obt_suite_restart(&s_suite, "cms", info), 0, "CMS did not restart");
    static const char *const list[] = {"--json", "devices", NULL};
    static const char *const rfnop[] = {"\"state\":\"RFNOP\"", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl_wait_output(&s_suite, list, rfnop, 90000, &out), 0,
                 "the device did not reach RFNOP after the CMS restart: %s", out);
    free(out);

    size_t active = 0;
    char serial[80] = "";
    size_t n = s_records(&active, serial, sizeof serial);
    cr_expect_eq(active, 1u, "%zu records, %zu active", n, active);
    char *objs[2];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 2), 1u);
    size_t n_cert = 0, n_ta = 0;
    for (const char *c = objs[0]; (c = strstr(c, "\"credusage\":")) != NULL; c++) {
        n_cert += strncmp(c, "\"credusage\":\"oic.sec.cred.cert\"", 31) == 0;
        n_ta += strncmp(c, "\"credusage\":\"oic.sec.cred.trustca\"", 34) == 0;
    }
    cr_expect_eq(n_cert, 1u, "identity certificates on the device");
    cr_expect_eq(n_ta, 1u, "trust anchors on the device");
    /* the one on the device is the active one */
    char subj[64], leaf[700], cmd[900];
    static char hex[16384];
    cr_assert(s_cert_entry(objs[0], "oic.sec.cred.cert", subj, sizeof subj, hex, sizeof hex));
    (void) snprintf(leaf, sizeof leaf, "%s/leaf.pem", s_dir);
    cr_assert_eq(obt_write_hex(leaf, hex), 0);
    (void) snprintf(cmd, sizeof cmd, "openssl x509 -in %s -noout -serial | tr A-F a-f", leaf);
    cr_assert_eq(obt_sh(cmd, &out), 0);
    char want[120];
    (void) snprintf(want, sizeof want, "serial=%s\n", serial);
    cr_expect_str_eq(out, want);
    free(out);
    free(objs[0]);
}

static void
s_setup_one(void)
{
    static const char *const certs[] = {"--certs", "all", NULL};
    s_dir = obt_tmpdir("cmssub");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, 1, NULL, certs), 0, "devsim did not start");
}

Test(cms_cert,
     sub_ca_of_an_upper_ca_made_by_the_test_issues_chains_that_verify_to_the_upper_root,
     .init = s_setup_one,
     .fini = s_teardown,
     .timeout = 120)
{
    obt_cert_t root, sub;
    obt_cert_opts_t ro = obt_cert_root_opts("Test Upper Root");
    obt_cert_opts_t so = obt_cert_ca_opts("Test OBT Sub CA");
    cr_assert_eq(obt_cert_make(&root, &ro, NULL), 0);
    cr_assert_eq(obt_cert_make(&sub, &so, &root), 0);
    char chain[700], key[700], root_pem[700], sub_pem[700], leaf[700], cmd[3000];
    (void) snprintf(chain, sizeof chain, "%s/upper-chain.pem", s_dir);
    (void) snprintf(key, sizeof key, "%s/sub-key.pem", s_dir);
    (void) snprintf(root_pem, sizeof root_pem, "%s/upper-root.pem", s_dir);
    (void) snprintf(sub_pem, sizeof sub_pem, "%s/sub.pem", s_dir);
    (void) snprintf(leaf, sizeof leaf, "%s/leaf.pem", s_dir);
    const obt_cert_t *both[] = {&sub, &root};
    const obt_cert_t *r1[] = {&root};
    const obt_cert_t *s1[] = {&sub};
    cr_assert_eq(obt_cert_write_pem(chain, both, 2), 0);
    cr_assert_eq(obt_cert_write_pem(root_pem, r1, 1), 0);
    cr_assert_eq(obt_cert_write_pem(sub_pem, s1, 1), 0);
    char *kp = obt_cert_key_pem(&sub);
    FILE *fp = fopen(key, "w");
    cr_assert(kp && fp);
    fputs(kp, fp);
    fclose(fp);
    free(kp);

    /* CMS restarted as a sub-CA of the test's upper CA */
    cr_assert_eq(obt_proc_stop(&s_suite.cms), 0);
    const char *sub_args[] = {"--ca-cert", chain, "--ca-key", key, NULL};
    cr_assert_eq(obt_suite_restart(&s_suite, "cms", sub_args), 0, "CMS did not start as sub-CA");
    char *out = NULL;
    const char *show_ca[] = {"--json", "ca", "show", NULL};
    cr_assert_eq(s_ctl(show_ca, &out), 0);
    cr_expect(strstr(out, "\"kind\":\"sub-CA\"") && strstr(out, "\"chain_length\":2") &&
                      strstr(out, "Test OBT Sub CA"),
              "%s", out);
    free(out);

    s_onboard_all();
    char *objs[2];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 2), 1u);
    char subj[64];
    static char hex[16384];
    cr_assert(s_cert_entry(objs[0], "oic.sec.cred.trustca", subj, sizeof subj, hex, sizeof hex));
    char anchor[700];
    (void) snprintf(anchor, sizeof anchor, "%s/anchor.pem", s_dir);
    cr_assert_eq(obt_write_hex(anchor, hex), 0);
    (void) snprintf(cmd, sizeof cmd, "cmp -s %s %s", anchor, root_pem);
    cr_expect_eq(system(cmd), 0, "the device's trust anchor must be the upper root");
    cr_assert(s_cert_entry(objs[0], "oic.sec.cred.cert", subj, sizeof subj, hex, sizeof hex));
    cr_assert_eq(obt_write_hex(leaf, hex), 0); /* the leaf, then the sub-CA and the root */
    (void) snprintf(cmd, sizeof cmd,
                    "openssl verify -x509_strict -CAfile %s -untrusted %s %s 2>&1 && "
                    "grep -c 'BEGIN CERTIFICATE' %s",
                    root_pem, sub_pem, leaf, leaf);
    cr_expect_eq(obt_sh(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, ": OK\n3\n"), "leaf + sub-CA + root in publicdata: %s", out);
    free(out);
    free(objs[0]);
    obt_cert_free(&sub);
    obt_cert_free(&root);
}

Test(cms_cert,
     revoke_puts_the_serial_in_a_crl_signed_by_the_ca_that_openssl_verifies,
     .init = s_setup_one,
     .fini = s_teardown,
     .timeout = 120)
{
    s_onboard_all();
    char ca[700], crl[700], cmd[2000];
    (void) snprintf(ca, sizeof ca, "%s/ca.pem", s_dir);
    (void) snprintf(crl, sizeof crl, "%s/crl.pem", s_dir);
    const char *export[] = {"ca", "export", "--out", ca, NULL};
    cr_assert_eq(s_ctl(export, NULL), 0);
    char *objs[2];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 2), 1u);
    char uuid[40];
    cr_assert(obt_json_str(objs[0], "uuid", uuid, sizeof uuid));
    free(objs[0]);
    char *out = NULL;
    const char *show[] = {"--json", "show", uuid, NULL};
    cr_assert_eq(s_ctl(show, &out), 0);
    char serial[80];
    cr_assert(obt_json_str(strstr(out, "\"cms\":"), "cert_serial", serial, sizeof serial));
    free(out);

    const char *bad_reason[] = {"cert", "revoke", uuid, "--reason", "boredom", NULL};
    cr_expect_eq(obt_ctl(&s_suite, bad_reason, NULL), 2);
    const char *unknown[] = {"cert", "revoke", "00000000-1111-4222-8333-444444444444", NULL};
    cr_expect_eq(obt_ctl(&s_suite, unknown, NULL), 3);
    const char *revoke[] = {"--json", "cert", "revoke", uuid, "--reason", "keyCompromise", NULL};
    cr_assert_eq(s_ctl(revoke, &out), 0);
    cr_expect(strstr(out, "\"revoked_now\":1") && strstr(out, serial), "%s", out);
    free(out);
    cr_expect_eq(obt_ctl(&s_suite, revoke, NULL), 3, "nothing left to revoke");

    const char *pem[] = {"crl", "show", "--pem", NULL};
    cr_assert_eq(s_ctl(pem, &out), 0);
    FILE *fp = fopen(crl, "w");
    cr_assert_not_null(fp);
    fputs(out, fp);
    fclose(fp);
    free(out);
    (void) snprintf(cmd, sizeof cmd, "openssl crl -in %s -CAfile %s -noout -text 2>&1", crl, ca);
    cr_assert_eq(obt_sh(cmd, &out), 0, "%s", out);
    cr_expect(strstr(out, "verify OK"), "%s", out);
    cr_expect(strstr(out, "Version 2 (0x1)"), "%s", out);
    cr_expect(strstr(out, "Next Update:"), "%s", out);
    cr_expect(strstr(out, "Key Compromise"), "%s", out);
    char want[80];
    (void) snprintf(want, sizeof want, "%s", serial);
    for (char *p = want; *p; p++) {
        *p = (char) (*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    }
    cr_expect(strstr(out, want), "serial %s not in the CRL: %s", want, out);
    free(out);
    const char *certs[] = {"--json", "certs", uuid, NULL};
    cr_assert_eq(s_ctl(certs, &out), 0);
    cr_expect(strstr(out, "\"status\":\"revoked\""), "%s", out);
    free(out);
}
