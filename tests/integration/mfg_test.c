/* mfg_test.c — the manufacturer-certificate OTM (oxm 2) end to end: a device with a good
 * chain onboarded to RFNOP, the refusals (untrusted issuer, expired, wrong key usage,
 * missing OCF EKU) that leave the device in RFOTM and CMS/AMS untouched, DOTS without
 * any trust anchor, and a policy "mfg" against a Just Works device. A stock device's
 * certificate whose CN names another uuid (ocf-devsim --mfg-cn-fixed) is accepted and
 * recorded by default, refused with obt-gateway --mfg-subject strict (D66). Every device
 * is checked on its own SVRs (ocf-devsim --dump). */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_certs.h"
#include "obt_checks.h"
#include "obt_json.h"

#define MAX_DEVS 8

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

/* The suite and ocf-devsim with count devices offering oxms, with faults and one more
 * ocf-devsim flag (sim_flag, may be NULL). */
static void
s_start_with(const char *const *dots_flags,
             int count,
             const char *oxms,
             const char *faults,
             const char *sim_flag)
{
    s_dir = obt_tmpdir("mfg");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, dots_flags), 0, "the suite did not start");
    const char *extra[] = {"--oxms", oxms, sim_flag, NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, count, faults, extra), 0,
                 "devsim did not start");
}

static void
s_start(const char *const *dots_flags, int count, const char *oxms, const char *faults)
{
    s_start_with(dots_flags, count, oxms, faults, NULL);
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

static int
s_ctl(const char *const *args, char **out)
{
    return obt_ctl(&s_suite, args, out);
}

/* Runs obtctl args and asserts its exit code (dumping every log when it differs). */
static void
s_expect(const char *const *args, int want_rc)
{
    char *out = NULL;
    int rc = s_ctl(args, &out);
    if (rc != want_rc) {
        obt_suite_dump(&s_suite);
        obt_proc_dump(&s_sim);
    }
    cr_assert_eq(rc, want_rc, "obtctl %s %s: exit %d: %s", args[0], args[1], rc, out);
    free(out);
}

/* Gives DOTS the factory CA that ocf-devsim made (DIR/devices/factory-ca.pem). */
static void
s_trust_factory(void)
{
    char ca[700];
    (void) snprintf(ca, sizeof ca, "%s/devices/factory-ca.pem", s_dir);
    const char *add[] = {"mfg-trust", "add", ca, NULL};
    s_expect(add, 0);
}

/* Discovers and approves every device. */
static void
s_discover_approve(int expected)
{
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, expected, &out), 0, "discovery: %s", out);
}

/* The uuid of dumped device idx (the dump lists dev-0000, dev-0001, ... in order). */
static void
s_uuid_of(size_t idx, char uuid[40])
{
    char *objs[MAX_DEVS];
    size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVS);
    cr_assert_gt(n, idx);
    cr_assert(obt_json_str(objs[idx], "uuid", uuid, 40));
    for (size_t i = 0; i < n; i++) {
        free(objs[i]);
    }
}

/* DOTS's record of one device (obtctl --json show), malloc'd. */
static char *
s_show(const char *uuid)
{
    char *out = obt_show(&s_suite, uuid);
    cr_assert_not_null(out, "show %s failed", uuid);
    return out;
}

static void
s_store_dir(const char *which, char *out, size_t len)
{
    (void) snprintf(out, len, "%s/%s-store", s_dir, which);
}

/* Device idx, refused: still RFOTM with its uuid and not owned on its own SVRs; DOTS
 * holds no owner credential and CMS and AMS never heard of it. */
static void
s_check_untouched(size_t idx, const char *uuid)
{
    char *objs[MAX_DEVS], v[64];
    size_t n = obt_devsim_dump(s_dir, objs, MAX_DEVS);
    cr_assert_gt(n, idx);
    cr_assert(obt_json_str(objs[idx], "uuid", v, sizeof v));
    cr_assert_str_eq(v, uuid, "the refused device changed its uuid");
    cr_assert(strstr(objs[idx], "\"owned\":false") != NULL, "%s", objs[idx]);
    cr_assert(obt_json_str(strstr(objs[idx], "\"pstat\":"), "state", v, sizeof v));
    cr_assert_str_eq(v, "RFOTM");
    for (size_t i = 0; i < n; i++) {
        free(objs[i]);
    }
    char dots[700], cms[700], ams[700], hex[33];
    s_store_dir("dots", dots, sizeof dots);
    s_store_dir("cms", cms, sizeof cms);
    s_store_dir("ams", ams, sizeof ams);
    obt_dots_owner_psk_hex(dots, uuid, hex);
    cr_assert_str_empty(hex, "DOTS stored an owner credential for a refused device");
    cr_assert_not(obt_svc_store_has(cms, uuid), "CMS knows the refused device");
    cr_assert_not(obt_svc_store_has(ams, uuid), "AMS knows the refused device");
}

/* The CN and the SHA-256 (hex) of the leaf device idx presents: the first certificate
 * of its DIR/devices/dev-NNNN/mfgcert.pem, read here with OpenSSL itself (an independent
 * check of what the gateway reported). */
static void
s_devsim_leaf(size_t idx, char cn[80], char sha256[65])
{
    char path[700];
    (void) snprintf(path, sizeof path, "%s/devices/dev-%04zu/mfgcert.pem", s_dir, idx);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "no %s", path);
    X509 *leaf = PEM_read_X509(fp, NULL, NULL, NULL);
    (void) fclose(fp);
    cr_assert_not_null(leaf, "%s holds no certificate", path);
    cr_assert_eq(obt_cert_sha256_hex(leaf, sha256), 0);
    cr_assert_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, 80), 0);
    X509_free(leaf);
}

/* The factory CA trusted, the one device discovered and approved: its uuid. */
static void
s_trust_and_find_one(char uuid[40])
{
    s_trust_factory();
    s_discover_approve(1);
    s_uuid_of(0, uuid);
}

/* Onboards device 0 (first uuid first) by the certificate OTM and checks it onboarded on
 * its own SVRs; its record (`obtctl --json show`) shows the leaf devsim presented (CN
 * and SHA-256, also on the `obtctl show` text), returned in cn and sha256. */
static void
s_onboard_by_mfg(const char *first, char cn[80], char sha256[65])
{
    const char *onboard[] = {"onboard", first, "--otm", "mfg", NULL};
    s_expect(onboard, 0);

    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char *objs[MAX_DEVS], uuid[40], why[300], store[700], got[80];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, MAX_DEVS), 1);
    cr_assert(obt_json_str(objs[0], "uuid", uuid, sizeof uuid));
    cr_assert_str_neq(uuid, first, "DOTS gives the device a new uuid");
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "\"state\":\"RFNOP\"") != NULL, "%s", shown);
    cr_assert(strstr(shown, "\"oxmsel\":2") != NULL, "DOTS did not select MFG: %s", shown);
    cr_assert(strstr(shown, "\"cipher\":\"ECDHE-ECDSA-AES128-CCM8\"") != NULL, "%s", shown);
    cr_assert(obt_json_str(shown, "sd_uuid", ids.sd, sizeof ids.sd));
    s_devsim_leaf(0, cn, sha256);
    cr_assert(obt_json_str(shown, "mfg_cert_cn", got, sizeof got), "%s", shown);
    cr_assert_str_eq(got, cn, "the recorded CN is not the leaf's");
    cr_assert(obt_json_str(shown, "mfg_cert_sha256", got, sizeof got), "%s", shown);
    cr_assert_str_eq(got, sha256, "the recorded fingerprint is not the leaf's SHA-256");
    free(shown);
    char *out = NULL, line[200];
    const char *show[] = {"show", uuid, NULL};
    cr_assert_eq(s_ctl(show, &out), 0);
    (void) snprintf(line, sizeof line, "mfg cert:    CN %s, sha256 %s\n", cn, sha256);
    cr_assert(strstr(out, line) != NULL, "no \"%s\" in %s", line, out);
    free(out);
    s_store_dir("dots", store, sizeof store);
    /* Owner credential equal to DOTS's: both derived with "oic.sec.doxm.mfgcert", KBL 40. */
    cr_assert(obt_check_onboarded(objs[0], &ids, store, why, sizeof why), "%s", why);
    cr_assert(strstr(objs[0], "\"oxmsel\":2") != NULL, "device doxm.oxmsel is not 2: %s", objs[0]);
    free(objs[0]);
}

static void
s_setup_good(void)
{
    s_start(NULL, 1, "0,1,2", NULL);
}

Test(mfg, good_chain_onboards_to_rfnop, .init = s_setup_good, .fini = s_teardown, .timeout = 120)
{
    char first[40], cn[80], sha256[65], want[80];
    s_trust_and_find_one(first);
    s_onboard_by_mfg(first, cn, sha256);
    cr_assert_eq(obt_proc_log_count(&s_sim, "kbl=40"), 1, "the device's owner PSK KBL is not 40");
    /* The CN names the device's uuid of the DOC: nothing to say about it. */
    (void) snprintf(want, sizeof want, "uuid:%s", first);
    cr_assert_str_eq(cn, want);
    cr_assert_eq(obt_proc_log_count(&s_suite.gw, "GW-MFG-SUBJECT"), 0,
                 "a matching CN was logged as another uuid");
}

/* The gateway logged once that device dev presented a certificate whose CN is cn. */
static void
s_expect_subject_notice(const char *dev, const char *cn)
{
    char notice[200];
    (void) snprintf(notice, sizeof notice,
                    "GW-MFG-SUBJECT dev=%s manufacturer certificate CN \"%s\" names another uuid",
                    dev, cn);
    cr_assert_eq(obt_proc_log_count(&s_suite.gw, notice), 1, "no notice \"%s\" in the gateway log",
                 notice);
}

/* Waits until device idx answers under another uuid than old (its factory reset): the
 * new one in ret_uuid. */
static void
s_wait_reset(size_t idx, const char *old, char ret_uuid[40])
{
    for (int i = 0; i < 100; i++) {
        s_uuid_of(idx, ret_uuid);
        if (strcmp(ret_uuid, old) != 0) {
            return;
        }
        (void) poll(NULL, 0, 100); /* polling the device's own state file */
    }
    cr_assert_fail("device %zu did not reset", idx);
}

/* A stock device: its manufacturer certificate's CN names a uuid of its own. */
static void
s_setup_fixed_cn(void)
{
    s_start_with(NULL, 1, "2", NULL, "--mfg-cn-fixed");
}

Test(mfg,
     a_cn_naming_another_uuid_onboards_and_is_recorded_by_default,
     .init = s_setup_fixed_cn,
     .fini = s_teardown,
     .timeout = 120)
{
    char first[40], cn[80], sha256[65], want[80];
    s_trust_and_find_one(first);
    s_onboard_by_mfg(first, cn, sha256);
    (void) snprintf(want, sizeof want, "uuid:%s", first);
    cr_assert_str_neq(cn, want, "devsim's CN names the device: not the case under test");
    s_expect_subject_notice(first, cn);

    /* A reset: the stock device comes back under a new uuid with the same certificate
     * and is onboarded again, the same leaf recorded. */
    char uuid[40], again[40], cn2[80], sha2[65];
    s_uuid_of(0, uuid);
    const char *reset[] = {"reset", uuid, NULL};
    s_expect(reset, 0);
    s_wait_reset(0, uuid, again);
    s_discover_approve(1);
    s_onboard_by_mfg(again, cn2, sha2);
    cr_assert_str_eq(cn2, cn, "the stock device's CN changed at the reset");
    cr_assert_str_eq(sha2, sha256, "the stock device's certificate changed at the reset");
    s_expect_subject_notice(again, cn);
}

static void
s_setup_fixed_cn_strict(void)
{
    s_setup_fixed_cn();
    static const char *const strict[] = {"--mfg-subject", "strict", NULL};
    cr_assert_eq(obt_suite_restart(&s_suite, "gateway", strict), 0, "the gateway did not restart");
}

Test(mfg,
     strict_subject_refuses_a_cn_naming_another_uuid,
     .init = s_setup_fixed_cn_strict,
     .fini = s_teardown,
     .timeout = 120)
{
    char uuid[40];
    s_trust_and_find_one(uuid);
    const char *onboard[] = {"onboard", uuid, "--otm", "mfg", NULL};
    s_expect(onboard, 1);
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "\"state\":\"FAILED\"") != NULL, "%s", shown);
    cr_assert(strstr(shown, "manufacturer certificate refused: wrong subject: CN uuid:") != NULL,
              "%s", shown);
    cr_assert(strstr(shown, "\"mfg_cert_sha256\":\"\"") != NULL, "a refused leaf recorded: %s",
              shown);
    free(shown);
    s_check_untouched(0, uuid);
    cr_assert_eq(obt_proc_log_count(&s_suite.gw, "GW-MFG-SUBJECT"), 0);
}

Test(mfg, a_bad_mfg_subject_exits_78_with_the_reason, .timeout = 30)
{
    char *dir = obt_tmpdir("mfg-cfg");
    cr_assert_not_null(dir);
    char cmd[1200], *out = NULL;
    (void) snprintf(cmd, sizeof cmd,
                    "%s/obt-gateway --keys-dir %s --mfg-subject lenient 2>&1; echo \"exit=$?\"",
                    obt_bin_dir(), dir);
    int rc = obt_sh(cmd, &out);
    obt_rmrf(dir);
    free(dir);
    cr_assert_eq(rc, 0);
    cr_expect(strstr(out, "error: --mfg-subject: \"lenient\" (accept or strict)") != NULL, "%s",
              out);
    cr_expect(strstr(out, "exit=78") != NULL, "%s", out);
    free(out);
}

static void
s_setup_refusals(void)
{
    /* (a CN of another uuid is accepted by default: the tests above) */
    s_start(NULL, 6, "2",
            "0:mfg:untrusted,1:mfg:expired,2:mfg:bad-ku,3:mfg:no-ocf-eku,4:mfg:ca-leaf,"
            "5:mfg:bad-sig");
}

Test(mfg,
     bad_chains_are_refused_with_the_reason,
     .init = s_setup_refusals,
     .fini = s_teardown,
     .timeout = 240)
{
    static const char *const reasons[] = {
            "manufacturer certificate refused: untrusted issuer",
            "manufacturer certificate refused: expired",
            "manufacturer certificate refused: wrong key usage",
            "manufacturer certificate refused: missing OCF EKU",
            "manufacturer certificate refused: wrong basic constraints",
            "manufacturer certificate refused: bad signature",
    };
    s_trust_factory();
    s_discover_approve(6);
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        char uuid[40];
        s_uuid_of(i, uuid);
        const char *onboard[] = {"onboard", uuid, "--otm", "mfg", NULL};
        s_expect(onboard, 1);
        char *shown = s_show(uuid);
        cr_assert(strstr(shown, "\"state\":\"FAILED\"") != NULL, "%s", shown);
        cr_assert(strstr(shown, reasons[i]) != NULL, "device %zu: want \"%s\" in %s", i, reasons[i],
                  shown);
        cr_assert(strstr(shown, "DOC_OM") != NULL, "refused at the DOC: %s", shown);
        free(shown);
        s_check_untouched(i, uuid);
    }
}

static void
s_setup_no_anchor(void)
{
    s_start(NULL, 1, "2", NULL);
}

Test(mfg,
     no_trust_anchor_fails_before_touching_the_device,
     .init = s_setup_no_anchor,
     .fini = s_teardown,
     .timeout = 120)
{
    s_discover_approve(1);
    char uuid[40], *before[MAX_DEVS], *after[MAX_DEVS];
    s_uuid_of(0, uuid);
    cr_assert_eq(obt_devsim_dump(s_dir, before, MAX_DEVS), 1);
    /* The device offers only the certificate method, which cannot work without an
     * anchor. */
    const char *onboard[] = {"onboard", uuid, NULL};
    s_expect(onboard, 1);
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, "\"state\":\"FAILED\"") != NULL, "%s", shown);
    cr_assert(strstr(shown, "no manufacturer trust anchor: obtctl mfg-trust add") != NULL, "%s",
              shown);
    free(shown);
    cr_assert_eq(obt_devsim_dump(s_dir, after, MAX_DEVS), 1);
    cr_assert_str_eq(after[0], before[0], "the device was changed (oxmsel POSTed?)");
    free(before[0]);
    free(after[0]);
    s_check_untouched(0, uuid);

    /* With the factory CA trusted, a retry of the same device succeeds. */
    s_trust_factory();
    s_expect(onboard, 0);
}

/* Discovers and approves the one device, onboards it with DOTS's policy, expects exit
 * rc and needle in `obtctl --json show`. */
static void
s_onboard_one(int rc, const char *needle)
{
    s_discover_approve(1);
    char uuid[40];
    s_uuid_of(0, uuid);
    const char *onboard[] = {"onboard", uuid, NULL};
    s_expect(onboard, rc);
    char *shown = s_show(uuid);
    cr_assert(strstr(shown, needle) != NULL, "expected \"%s\" in %s", needle, shown);
    free(shown);
}

static void
s_setup_no_anchor_jw(void)
{
    s_start(NULL, 1, "0,2", NULL);
}

Test(mfg,
     no_trust_anchor_passes_over_mfg_to_the_next_method_of_the_policy,
     .init = s_setup_no_anchor_jw,
     .fini = s_teardown,
     .timeout = 120)
{
    /* Default policy mfg,rdp,jw; the device offers JW and MFG; DOTS has no anchor. */
    s_onboard_one(0, "\"oxmsel\":0");
    cr_assert_eq(obt_proc_log_count(&s_suite.dots, "DOTS-OTM-NO-ANCHOR"), 1,
                 "DOTS must say why it did not use the certificate method");
}

static void
s_setup_policy(void)
{
    static const char *const strict[] = {"--otm-policy", "mfg", NULL};
    s_start(strict, 1, "0", NULL);
}

Test(mfg,
     policy_mfg_refuses_a_jw_device,
     .init = s_setup_policy,
     .fini = s_teardown,
     .timeout = 120)
{
    char uuid[40];
    s_onboard_one(1, "no acceptable OTM: device offers oxms [0]; policy allows [mfg]");
    s_uuid_of(0, uuid);
    s_check_untouched(0, uuid);
}
