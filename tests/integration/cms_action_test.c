/* cms_action_test.c — CMS's own jobs after the hand-over (docs/cms.md). The CRL push:
 * a revocation puts the CRL on every managed device with certificates (checked with
 * `openssl crl -CAfile` against `obtctl ca export`), after which the device refuses
 * the revoked certificate in a certificate DTLS session (an `openssl s_client`
 * presenting it); a device that was offline gets it when it answers again; a kill -9
 * of CMS inside the push is resumed after the restart; a --crl-refresh round pushes a
 * newer CRL. `obtctl creds` lists what is on the device without any private data;
 * `obtctl cred rm` removes one entry (and refuses the services' own keys), also
 * across a kill -9. `obtctl cert renew` proves the new certificate with a certificate
 * session and revokes the old one, also across a kill -9 (D83). */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
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
    s_dir = obt_tmpdir("crl");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
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

static void
s_start_sim(int n, const char *faults)
{
    const char *const certs[] = {"--certs", "all", NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, n, faults, certs), 0, "devsim did not start");
}

static void
s_onboard_all(int n)
{
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "120", NULL};
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, n, &out), 0, "discover failed: %s", out);
    free(out);
    cr_assert_eq(s_ctl(onboard, &out), 0, "onboard failed: %s", out);
    free(out);
}

/* The dumped device idx (malloc'd JSON object). */
static char *
s_dump_dev(int idx)
{
    char *objs[16];
    char *found = NULL;
    size_t n = obt_devsim_dump(s_dir, objs, 16);
    for (size_t i = 0; i < n; i++) {
        const char *ix = strstr(objs[i], "\"index\":");
        if (found == NULL && ix && atoi(ix + 8) == idx) {
            found = objs[i];
        } else {
            free(objs[i]);
        }
    }
    cr_assert_not_null(found, "device %d is not in the dump", idx);
    return found;
}

/* `obtctl --json crl show` until its pending list is empty (timeout_s); the output. */
static char *
s_wait_pushed(int timeout_s)
{
    static const char *const show[] = {"--json", "crl", "show", NULL};
    static const char *const tokens[] = {"\"pending\":[]", NULL};
    char *out = NULL;
    int rc = obt_ctl_wait_output(&s_suite, show, tokens, timeout_s * 1000, &out);
    if (rc != 0) {
        obt_suite_dump(&s_suite);
        obt_proc_dump(&s_sim);
    }
    cr_assert_eq(rc, 0, "the CRL push did not finish in %d s: %s", timeout_s, out ? out : "");
    return out;
}

static void
s_export_ca(char *ca, size_t len)
{
    (void) snprintf(ca, len, "%s/ca.pem", s_dir);
    const char *export[] = {"ca", "export", "--out", ca, NULL};
    cr_assert_eq(s_ctl(export, NULL), 0);
}

/* The start of every case: n devices with certificates onboarded, the CA exported
 * to ca (700 bytes), device 0's uuid in uuid0 (40 bytes). */
static void
s_begin(int n, const char *faults, char *ca, char *uuid0)
{
    s_start_sim(n, faults);
    s_onboard_all(n);
    s_export_ca(ca, 700);
    char *d0 = s_dump_dev(0);
    cr_assert(obt_json_str(d0, "uuid", uuid0, 40));
    free(d0);
}

/* The serial of device uuid's identity certificate (obtctl show). */
static void
s_serial_of(const char *uuid, char *serial, size_t len)
{
    const char *show[] = {"--json", "show", uuid, NULL};
    char *rec = NULL;
    cr_assert_eq(s_ctl(show, &rec), 0);
    const char *cms = strstr(rec, "\"cms\":");
    cr_assert(cms && obt_json_str(cms, "cert_serial", serial, len) && serial[0], "%s", rec);
    free(rec);
}

/* Device idx holds a CRL that openssl verifies with the CA and that lists serial (if
 * not NULL); returns its CRL number. */
static unsigned long long
s_check_device_crl(int idx, const char *ca, const char *serial)
{
    char *dev = s_dump_dev(idx);
    const char *crl = strstr(dev, "\"crl\":");
    cr_assert(crl && strncmp(crl, "\"crl\":null", 10) != 0, "device %d has no CRL: %s", idx, dev);
    static char hex[1 << 17];
    cr_assert(obt_json_str(crl, "crldata_hex", hex, sizeof hex), "%s", dev);
    char path[700], cmd[2000];
    (void) snprintf(path, sizeof path, "%s/crl-%d.der", s_dir, idx);
    cr_assert_eq(obt_write_hex(path, hex), 0);
    char *out = NULL;
    (void) snprintf(cmd, sizeof cmd, "openssl crl -inform DER -in %s -CAfile %s -noout -text 2>&1",
                    path, ca);
    int rc = obt_sh(cmd, &out);
    cr_assert_eq(rc, 0, "openssl crl failed for device %d: %s", idx, out);
    cr_assert(strstr(out, "verify OK"), "device %d: the CRL does not verify: %s", idx, out);
    if (serial) {
        char upper[80];
        size_t i = 0;
        for (; serial[i] && i + 1 < sizeof upper; i++) {
            upper[i] = (char) (serial[i] >= 'a' && serial[i] <= 'f' ? serial[i] - 32 : serial[i]);
        }
        upper[i] = '\0';
        cr_assert(strstr(out, upper), "device %d: serial %s not in the CRL: %s", idx, upper, out);
    }
    const char *num = strstr(out, "X509v3 CRL Number:");
    cr_assert_not_null(num, "%s", out);
    unsigned long long n = strtoull(num + strlen("X509v3 CRL Number:") + 1, NULL, 10);
    /* openssl prints the number on the next line, indented */
    if (n == 0) {
        const char *nl = strchr(num, '\n');
        n = nl ? strtoull(nl + 1, NULL, 10) : 0;
    }
    free(out);
    free(dev);
    return n;
}

/* Writes device from's identity certificate (its cred entry, the chain) to leaf and
 * the path of its key (its own csr-key.pem) to key (700 bytes). */
static void
s_save_leaf(int from, const char *leaf, char *key)
{
    char *dev = s_dump_dev(from);
    int rc = obt_dev_cert_files(dev, leaf, key, 700);
    free(dev);
    cr_assert_eq(rc, 0, "device %d has no identity certificate", from);
}

/* An `openssl s_client` certificate session to device idx presenting the certificate
 * in leaf with its key; true if the handshake ended with a cipher and no alert;
 * ret_alert (64 bytes, may be NULL) gets the alert s_client reports ("alert
 * certificate revoked"). */
static bool
s_cert_session_with(int idx, const char *leaf, const char *key, char *ret_alert)
{
    char cmd[2400], coaps[200];
    cr_assert_eq(obt_devsim_field(&s_sim, idx, " coaps=", coaps, sizeof coaps), 0);
    cr_assert(strncmp(coaps, "coaps://", 8) == 0, "%s", coaps);
    (void) snprintf(cmd, sizeof cmd,
                    "timeout 20 openssl s_client -dtls1_2 -connect %s -cert %s -key %s "
                    "-cipher ECDHE-ECDSA-AES128-CCM8 -no_ign_eof < /dev/null 2>&1",
                    coaps + 8, leaf, key);
    char *out = NULL;
    (void) obt_sh(cmd, &out);
    /* s_client prints the negotiated cipher even when the device's alert ends the
     * handshake after the client's Finished: the alert decides */
    bool ok = strstr(out, "Cipher is ECDHE-ECDSA") != NULL && strstr(out, "SSL alert") == NULL &&
              strstr(out, ":error:") == NULL;
    if (ret_alert) {
        const char *a = strstr(out, "alert ");
        (void) snprintf(ret_alert, 64, "%.*s", a ? (int) strcspn(a, ":\n") : 0, a ? a : "");
    }
    cr_log_info("s_client to device %d with %s: %s", idx, leaf, ok ? "handshake done" : "refused");
    if (!ok) {
        cr_log_info("%s", out);
    }
    free(out);
    return ok;
}

/* s_cert_session_with device from's current certificate. */
static bool
s_cert_session(int idx, int from, char *ret_alert)
{
    char leaf[700], key[700];
    (void) snprintf(leaf, sizeof leaf, "%s/leaf-%d.pem", s_dir, from);
    s_save_leaf(from, leaf, key);
    return s_cert_session_with(idx, leaf, key, ret_alert);
}

Test(crl,
     revoke_pushes_the_crl_to_every_device_and_the_revoked_certificate_is_refused,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    char ca[700], uuid0[40], serial[80];
    s_begin(N_DEVICES, NULL, ca, uuid0);
    s_serial_of(uuid0, serial, sizeof serial);
    /* before: device 1 accepts device 0's certificate */
    cr_assert(s_cert_session(1, 0, NULL), "device 1 refused device 0's valid certificate");

    const char *revoke[] = {"cert", "revoke", uuid0, "--reason", "keyCompromise", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(revoke, &out), 0, "%s", out);
    cr_assert(strstr(out, "revoked 1 certificate"), "%s", out);
    free(out);
    out = s_wait_pushed(60);
    cr_log_info("after the push: %s", out);
    free(out);
    unsigned long long number = 0;
    for (int i = 0; i < N_DEVICES; i++) {
        unsigned long long n = s_check_device_crl(i, ca, serial);
        cr_assert(number == 0 || n == number, "devices hold different CRLs");
        number = n;
    }
    cr_assert_gt(number, 0);
    size_t total = 0;
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, N_DEVICES + 2, &total), N_DEVICES,
                 "a device was left out of RFNOP by the push");
    cr_assert_eq(obt_proc_log_count(&s_suite.cms, "CMS-CRL-PUSHED"), N_DEVICES);

    /* after: the revoked certificate is refused by device 1 */
    int refused_before = obt_proc_log_count(&s_sim, "certificate revoked");
    char alert[64] = "";
    if (s_cert_session(1, 0, alert)) {
        obt_proc_dump(&s_sim);
        cr_assert_fail("device 1 accepted a revoked certificate");
    }
    cr_assert_str_eq(alert, "alert certificate revoked");
    cr_assert_gt(obt_proc_log_count(&s_sim, "certificate revoked"), refused_before,
                 "devsim did not say why it refused the session");
    /* device 2's certificate is still good */
    cr_assert(s_cert_session(1, 2, NULL), "device 1 refused device 2's valid certificate");
}

Test(crl,
     an_offline_device_gets_the_crl_when_it_answers_again,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    char ca[700], uuid0[40];
    s_begin(2, NULL, ca, uuid0);
    /* the simulator (both devices) stops answering */
    int failed = obt_proc_log_count(&s_suite.cms, "SVC-JOB-FAILED");
    cr_assert_eq(kill(s_sim.pid, SIGSTOP), 0);
    const char *revoke[] = {"cert", "revoke", uuid0, NULL};
    cr_assert_eq(s_ctl(revoke, NULL), 0);
    /* the first tries fail (timeout) and the devices stay queued */
    cr_assert_eq(obt_proc_wait_log_count(&s_suite.cms, "SVC-JOB-FAILED", failed + 1, 40000), 0,
                 "no push attempt failed while the devices were offline");
    static const char *const show[] = {"--json", "crl", "show", NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(show, &out), 0);
    cr_assert_not(strstr(out, "\"pending\":[]"), "nothing pending while offline: %s", out);
    free(out);
    cr_assert_eq(obt_proc_log_count(&s_suite.cms, "CMS-CRL-PUSHED"), 0);
    /* back online: the retry delivers */
    cr_assert_eq(kill(s_sim.pid, SIGCONT), 0);
    out = s_wait_pushed(90);
    free(out);
    for (int i = 0; i < 2; i++) {
        (void) s_check_device_crl(i, ca, NULL);
    }
    size_t total = 0;
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 4, &total), 2);
}

Test(crl,
     kill9_of_cms_inside_the_push_is_resumed,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    char ca[700], uuid0[40];
    s_begin(2, "1:stop:1:POST:/oic/sec/crl", ca, uuid0);
    const char *revoke[] = {"cert", "revoke", uuid0, NULL};
    cr_assert_eq(s_ctl(revoke, NULL), 0);
    /* device 1 stops the simulator at CMS's POST of the CRL: CMS is inside the push */
    cr_assert_eq(obt_proc_wait_log(&s_sim, "stops (SIGSTOP)", 60000), 0,
                 "CMS never POSTed the CRL to device 1");
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "step=\"POST crl\"", 5000), 0);
    obt_proc_kill9(&s_suite.cms);
    cr_assert_eq(kill(s_sim.pid, SIGCONT), 0);
    cr_assert_eq(obt_suite_restart(&s_suite, "cms", NULL), 0);
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "SVC-JOB-RESUME", 20000), 0,
                 "the push job was not resumed");
    char *out = s_wait_pushed(90);
    free(out);
    for (int i = 0; i < 2; i++) {
        (void) s_check_device_crl(i, ca, NULL);
    }
    /* the resumed run moved device 1 back to RFNOP */
    size_t total = 0;
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 4, &total), 2, "a device was left in RFPRO");
}

Test(crl, a_refresh_round_pushes_a_newer_crl, .init = s_setup, .fini = s_teardown, .timeout = 300)
{
    char ca[700], uuid0[40];
    s_begin(2, NULL, ca, uuid0);
    const char *revoke[] = {"cert", "revoke", uuid0, NULL};
    cr_assert_eq(s_ctl(revoke, NULL), 0);
    free(s_wait_pushed(60));
    unsigned long long first = s_check_device_crl(1, ca, NULL);
    /* CMS again with a short refresh: the next round comes 5 s after the last CRL */
    int rc = obt_proc_stop(&s_suite.cms);
    if (rc != 0) {
        obt_proc_dump(&s_suite.cms);
    }
    cr_assert_eq(rc, 0, "CMS did not stop cleanly (%d)", rc);
    static const char *const refresh[] = {"--crl-refresh", "5", NULL};
    cr_assert_eq(obt_suite_restart(&s_suite, "cms", refresh), 0);
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "CMS-CRL-REFRESH", 30000), 0, "no refresh round");
    /* the log is appended to: 2 pushes before the restart, 2 after the round */
    cr_assert_eq(obt_proc_wait_log_count(&s_suite.cms, "CMS-CRL-PUSHED", 4, 60000), 0,
                 "the refreshed CRL did not reach the devices");
    unsigned long long later = s_check_device_crl(1, ca, NULL);
    cr_assert_gt(later, first, "the refresh did not push a newer CRL");
}

/* The credid of device idx's entry with credusage (or, usage NULL, of the PSK whose
 * subject is subject), from its dump; 0 if none. */
static long long
s_credid(int idx, const char *usage, const char *subject)
{
    char *dev = s_dump_dev(idx);
    const char *acl = strstr(dev, "\"acl2\":");
    long long id = 0;
    for (const char *c = strstr(dev, "{\"credid\":"); c && c < acl && id == 0;
         c = strstr(c + 1, "{\"credid\":")) {
        char u[64] = "", subj[64] = "";
        (void) obt_json_str(c, "credusage", u, sizeof u);
        (void) obt_json_str(c, "subjectuuid", subj, sizeof subj);
        if (usage ? strcmp(u, usage) == 0 : strcmp(subj, subject) == 0) {
            id = strtoll(c + 10, NULL, 10);
        }
    }
    free(dev);
    return id;
}

Test(cms_cred,
     creds_lists_the_device_without_private_data_and_cred_rm_removes_one,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    char ca[700], uuid0[40];
    s_begin(2, NULL, ca, uuid0);
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char *dev = s_dump_dev(0);
    char cms_key[33] = "", owner_key[33] = "";
    cr_assert(obt_dump_cred_hex(dev, ids.cms, cms_key), "no CMS key on the device: %s", dev);
    cr_assert(obt_dump_cred_hex(dev, ids.dots, owner_key));
    free(dev);

    const char *creds[] = {"--json", "creds", uuid0, NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(creds, &out), 0, "%s", out);
    cr_log_info("%s", out);
    cr_assert(strstr(out, "\"credusage\":\"oic.sec.cred.cert\""), "%s", out);
    cr_assert(strstr(out, "\"credusage\":\"oic.sec.cred.trustca\""), "%s", out);
    cr_assert(strstr(out, ids.cms) && strstr(out, ids.dots), "%s", out);
    cr_assert(strstr(out, "\"has_privatedata\":true"), "%s", out);
    cr_assert_null(strstr(out, cms_key), "CMS's key was shown");
    cr_assert_null(strstr(out, owner_key), "the owner key was shown");
    free(out);
    /* CMS's record keeps what it read, without the keys either */
    char store[700];
    (void) snprintf(store, sizeof store, "%s/cms-store/data.mdb", s_dir);
    char cmd[1000];
    (void) snprintf(cmd, sizeof cmd, "od -An -v -tx1 %s | tr -d ' \\n'", store);
    cr_assert_eq(obt_sh(cmd, &out), 0);
    cr_assert_gt(strlen(out), 1000, "cannot read CMS's store");
    cr_assert_null(strstr(out, cms_key), "CMS's key is in its store in the clear");
    free(out);

    /* the services' own keys are refused (exit 2), an unknown credid is not found */
    char id[24];
    (void) snprintf(id, sizeof id, "%lld", s_credid(0, NULL, ids.cms));
    const char *rm_cms[] = {"cred", "rm", uuid0, id, NULL};
    out = NULL;
    cr_assert_eq(obt_ctl(&s_suite, rm_cms, &out), 2);
    free(out);
    const char *rm_none[] = {"cred", "rm", uuid0, "987654", NULL};
    cr_assert_eq(obt_ctl(&s_suite, rm_none, NULL), 3);
    cr_assert_neq(s_credid(0, NULL, ids.cms), 0, "CMS's key was removed");

    /* the identity certificate is removed; the device is back in RFNOP */
    long long cert = s_credid(0, "oic.sec.cred.cert", NULL);
    cr_assert_gt(cert, 0);
    (void) snprintf(id, sizeof id, "%lld", cert);
    const char *rm[] = {"cred", "rm", uuid0, id, NULL};
    out = NULL;
    cr_assert_eq(s_ctl(rm, &out), 0, "%s", out);
    cr_assert_null(strstr(out, "oic.sec.cred.cert"), "still listed: %s", out);
    free(out);
    cr_assert_eq(s_credid(0, "oic.sec.cred.cert", NULL), 0, "still on the device");
    size_t total = 0;
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 4, &total), 2);
    const char *certs[] = {"--json", "certs", uuid0, NULL};
    cr_assert_eq(s_ctl(certs, &out), 0);
    cr_assert(strstr(out, "\"status\":\"removed\""), "%s", out);
    free(out);
}

Test(cms_cred,
     kill9_of_cms_inside_cred_rm_is_resumed,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    char ca[700], uuid0[40];
    s_begin(2, "0:stop:1:DELETE:/oic/sec/cred", ca, uuid0);
    long long cert = s_credid(0, "oic.sec.cred.cert", NULL);
    cr_assert_gt(cert, 0);
    char cmd[4096], id[24];
    (void) snprintf(id, sizeof id, "%lld", cert);
    /* obtctl waits for the answer: in the background, the kill cuts it short */
    (void) snprintf(cmd, sizeof cmd,
                    "%s/obtctl --keys-dir %s --gateway %s --dots %s --cms %s --ams %s cred rm %s "
                    "%s > /dev/null 2>&1 &",
                    obt_bin_dir(), s_suite.keys, s_suite.ep_gw, s_suite.ep_dots, s_suite.ep_cms,
                    s_suite.ep_ams, uuid0, id);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(obt_proc_wait_log(&s_sim, "stops (SIGSTOP)", 60000), 0,
                 "CMS never sent the DELETE");
    int done = obt_proc_log_count(&s_suite.cms, "SVC-JOB-DONE"); /* the log is appended to */
    char why[200];
    cr_assert_eq(obt_kill9_resume(&s_suite, "cms", &s_sim, done, why, sizeof why), 0, "%s", why);
    cr_assert_eq(s_credid(0, "oic.sec.cred.cert", NULL), 0, "still on the device");
    size_t total = 0;
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 4, &total), 2, "a device was left in RFPRO");
}

/* The line of text holding key, copied to line (512 bytes); false if none. */
static bool
s_line_of(const char *text, const char *key, char *line)
{
    const char *at = strstr(text, key);
    if (at == NULL) {
        return false;
    }
    while (at > text && at[-1] != '\n') {
        at--;
    }
    (void) snprintf(line, 512, "%.*s", (int) strcspn(at, "\n"), at);
    return true;
}

/* A renewal is done only after its proof (D83): CMS logged the certificate session
 * for serial, and the device's record says so. */
static void
s_check_proved(const char *uuid, const char *serial)
{
    char want[200];
    (void) snprintf(want, sizeof want, "CMS-CERT-PROVED dev=%s renewed certificate serial=%s", uuid,
                    serial);
    cr_assert_geq(obt_proc_log_count(&s_suite.cms, want), 1, "no proof of the renewal: %s", want);
    const char *show[] = {"--json", "show", uuid, NULL};
    char *rec = NULL, note[300] = "";
    cr_assert_eq(s_ctl(show, &rec), 0);
    const char *cms = strstr(rec, "\"cms\":");
    cr_assert(cms && obt_json_str(cms, "cert_note", note, sizeof note), "%s", rec);
    cr_assert(strstr(note, "renewed") && strstr(note, "proved by a certificate session (ECDHE-"),
              "%s", note);
    free(rec);
}

Test(cms_cert,
     renew_replaces_the_certificate_and_the_old_one_is_revoked_everywhere,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    char ca[700], uuid0[40], old_serial[80], new_serial[80];
    s_begin(2, NULL, ca, uuid0);
    s_serial_of(uuid0, old_serial, sizeof old_serial);
    char old_leaf[700], key[700];
    (void) snprintf(old_leaf, sizeof old_leaf, "%s/leaf-old.pem", s_dir);
    s_save_leaf(0, old_leaf, key);

    const char *renew[] = {"--json", "cert", "renew", uuid0, NULL};
    char *out = NULL;
    cr_assert_eq(s_ctl(renew, &out), 0, "%s", out);
    cr_assert(obt_json_str(out, "cert_serial", new_serial, sizeof new_serial), "%s", out);
    cr_assert(strstr(out, "renewed"), "%s", out);
    cr_assert_str_neq(new_serial, old_serial);
    free(out);
    s_serial_of(uuid0, new_serial, sizeof new_serial); /* the record agrees */
    cr_assert_str_neq(new_serial, old_serial);
    /* the device holds the new certificate (verified by openssl) and nothing older */
    char new_leaf[700], cmd[4096];
    (void) snprintf(new_leaf, sizeof new_leaf, "%s/leaf-new.pem", s_dir);
    s_save_leaf(0, new_leaf, key);
    (void) snprintf(cmd, sizeof cmd,
                    "openssl verify -x509_strict -CAfile %s %s >/dev/null 2>&1 && "
                    "openssl x509 -in %s -noout -serial",
                    ca, new_leaf, new_leaf);
    cr_assert_eq(obt_sh(cmd, &out), 0, "%s", out);
    for (char *p = out; *p; p++) {
        *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    }
    cr_assert(strstr(out, new_serial), "the device holds %s, CMS recorded %s", out, new_serial);
    free(out);
    const char *certs[] = {"--json", "certs", uuid0, NULL};
    cr_assert_eq(s_ctl(certs, &out), 0);
    cr_assert(strstr(out, "\"status\":\"revoked\""), "the old certificate is not revoked: %s", out);
    free(out);
    /* the CRL with the old serial reaches both devices; device 1 refuses the old
     * certificate and takes the new one */
    free(s_wait_pushed(60));
    (void) s_check_device_crl(1, ca, old_serial);
    char alert[64] = "";
    cr_assert_not(s_cert_session_with(1, old_leaf, key, alert), "the old certificate works");
    cr_assert_str_eq(alert, "alert certificate revoked");
    cr_assert(s_cert_session_with(1, new_leaf, key, NULL), "the renewed certificate is refused");
    size_t total = 0;
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 4, &total), 2);
    s_check_proved(uuid0, new_serial);
}

/* kill -9 of CMS while the device holds the renewal's cred POST (devsim stops at it):
 * after the restart the job resumes, finds the new certificate in place (the POST
 * reached the device when it went on), keeps it instead of issuing another, proves
 * it, and the old serial is revoked and pushed (D83). */
Test(cms_cert,
     kill9_of_cms_inside_renew_revokes_the_old_certificate_after_the_restart,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    char ca[700], uuid0[40], old_serial[80], now[80], cmd[1000], *out = NULL;
    s_begin(2, "0:stop-maint:/oic/sec/cred", ca, uuid0);
    s_serial_of(uuid0, old_serial, sizeof old_serial);
    const char *renew[] = {"cert", "renew", uuid0, NULL};
    char token[120], why[200];
    (void) snprintf(token, sizeof token, "CMS-CERT-PROVED dev=%s renewed", uuid0);
    cr_assert_eq(obt_kill9_inside(&s_suite, &s_sim, "cms", renew, token, 90000, why, sizeof why), 0,
                 "the renewal was not completed after the restart: %s", why);
    cr_assert_geq(obt_proc_log_count(&s_suite.cms, "CMS-CERT-RENEW-RESUME"), 1);
    s_serial_of(uuid0, now, sizeof now);
    s_check_proved(uuid0, now);
    char leaf[700], key[700];
    (void) snprintf(leaf, sizeof leaf, "%s/leaf-now.pem", s_dir);
    s_save_leaf(0, leaf, key);
    (void) snprintf(cmd, sizeof cmd, "openssl x509 -in %s -noout -serial", leaf);
    cr_assert_eq(obt_sh(cmd, &out), 0, "%s", out);
    for (char *p = out; *p; p++) {
        *p = (char) (*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
    }
    cr_assert(strstr(out, now), "the device holds %s, not %s", out, now);
    free(out);
    /* the killed run's certificate, kept: none issued again (abandoned), none left
     * issued */
    const char *certs[] = {"certs", uuid0, NULL};
    char line[512];
    cr_assert_eq(s_ctl(certs, &out), 0);
    cr_assert(s_line_of(out, old_serial, line) && strstr(line, "revoked"),
              "the old certificate is not revoked: %s", out);
    cr_assert(s_line_of(out, now, line) && strstr(line, "active"), "%s", out);
    cr_assert_null(strstr(out, "abandoned"), "CMS issued again: %s", out);
    cr_assert_null(strstr(out, "issued"), "a certificate is left issued: %s", out);
    free(out);
    free(s_wait_pushed(60));
    (void) s_check_device_crl(1, ca, old_serial);
    size_t total = 0;
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, 4, &total), 2, "a device was left in RFPRO");
}
