/* role_test.c — role certificates end to end (docs/cms.md "Role certificates",
 * docs/ams.md "Roles"): AMS gives the role light-admin RU on B's /light; device A, in
 * a certificate session with its identity certificate, is refused until CMS issued
 * it a role certificate (`obtctl cert role A --role light-admin`) and A asserted it to
 * B (POST /oic/sec/roles); the certificate is checked field by field with the openssl
 * command line; a role certificate whose key is not the peer's is refused; after
 * `obtctl cert revoke` and the CRL push, asserting it again is refused, and a session
 * that asserted it before loses it at once (D81). Bad input of `obtctl cert role` (a
 * device without certificates among it) is refused. A reset revokes the device's role
 * certificates (D80). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "obt_certs.h"
#include "obt_checks.h"
#include "obt_json.h"

#define N_DEVICES 3 /* A and B with certificates, C without (--certs 0,1) */

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

/* The devices by devsim index: uuid and coaps:// endpoint. */
static obt_dev_ep_t s_dev[N_DEVICES];

static void
s_start(const char *faults)
{
    s_dir = obt_tmpdir("role");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    const char *const certs[] = {"--certs", "0,1", NULL};
    cr_assert_eq(obt_devsim_start_with(&s_sim, s_dir, N_DEVICES, faults, certs), 0);
}

static void
s_setup(void)
{
    s_start(NULL);
}

/* Device 0 stops the simulator (SIGSTOP) at the cred POST of a maintenance: the one of
 * cert role (the hand-over's is not in a maintenance). */
static void
s_setup_stop(void)
{
    s_start("0:stop-maint:/oic/sec/cred");
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* obtctl args, which must succeed (the logs are dumped if not); its output (malloc'd). */
static char *
s_ctl_ok(const char *const *args)
{
    char *out = NULL;
    int rc = obt_ctl_or_dump(&s_suite, &s_sim, args, &out);
    cr_assert_eq(rc, 0, "obtctl %s %s: exit %d: %s", args[0], args[1] ? args[1] : "", rc,
                 out ? out : "");
    return out;
}

/* Device idx's dump object (malloc'd; the dump lists the devices in index order). */
static char *
s_dump(int idx)
{
    char *objs[N_DEVICES + 1];
    size_t n = obt_devsim_dump(s_dir, objs, N_DEVICES + 1);
    cr_assert_eq(n, N_DEVICES);
    for (size_t i = 0; i < n; i++) {
        if ((int) i != idx) {
            free(objs[i]);
        }
    }
    return objs[idx];
}

static void
s_onboard(void)
{
    char why[300];
    int rc = obt_onboard_devices(&s_suite, &s_sim, s_dir, N_DEVICES, 120, s_dev, why, sizeof why);
    cr_assert_eq(rc, 0, "%s", why);
}

/* Device from's identity certificate chain and key files (for a session as from). */
static void
s_cert_files(int from, char *chain, char *key)
{
    (void) snprintf(chain, 700, "%s/identity-%d.pem", s_dir, from);
    char *d = s_dump(from);
    int rc = obt_dev_cert_files(d, chain, key, 700);
    free(d);
    cr_assert_eq(rc, 0, "device %d has no identity certificate", from);
}

/* The role certificate chain on device idx (oic.sec.cred.rolecert) as PEM text
 * (malloc'd) and written to path. */
static char *
s_role_cert(int idx, const char *path)
{
    static char hex[16384];
    char *d = s_dump(idx);
    bool has = obt_dump_cert_hex(d, CMN_CRED_USAGE_ROLECERT, hex, sizeof hex);
    free(d);
    cr_assert(has, "device %d holds no role certificate", idx);
    cr_assert_eq(obt_write_hex(path, hex), 0);
    size_t n = strlen(hex) / 2;
    char *pem = calloc(1, n + 1);
    cr_assert_not_null(pem);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        pem[i] = (char) v;
    }
    return pem;
}

/* The POST /oic/sec/roles body asserting pem (subject uuid) (malloc'd CBOR). */
static uint8_t *
s_roles_body(const char *uuid, const char *pem, size_t *ret_len)
{
    cmn_cred_t c = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                               CMN_CRED_HAS_CREDUSAGE | CMN_CRED_HAS_PUBLICDATA,
                    .credtype = CMN_CREDTYPE_CERT,
                    .credusage = CMN_CRED_USAGE_ROLECERT,
                    .pub_data = (uint8_t *) (uintptr_t) pem,
                    .pub_len = strlen(pem),
                    .pub_encoding = CMN_ENC_PEM};
    cr_assert_eq(cmn_uuid_from_str(uuid, &c.subjectuuid), CMN_OK);
    cmn_creds_t roles = {.present = CMN_CREDS_HAS_CREDS, .creds = &c, .n_creds = 1};
    uint8_t *buf = NULL;
    cr_assert_eq(cmn_roles_encode(&roles, &buf, ret_len), CMN_OK);
    return buf;
}

/* One certificate session as device from (its identity certificate) to device to:
 * asserts role_pem (unless NULL) with POST /oic/sec/roles, then GETs /light. The
 * codes of both into codes[2] (codes[0] 0 without an assertion). */
static void
s_session(int from, int to, const char *role_pem, int codes[2])
{
    char chain[700], key[700], out[4096];
    s_cert_files(from, chain, key);
    size_t len = 0;
    uint8_t *body = role_pem ? s_roles_body(s_dev[from].uuid, role_pem, &len) : NULL;
    obt_coap_req_t reqs[2] = {{"POST", "/oic/sec/roles", body, len}, {"GET", "/light", NULL, 0}};
    int got[2] = {-1, -1};
    const obt_coap_req_t *first = role_pem ? &reqs[0] : &reqs[1];
    size_t n = role_pem ? 2 : 1;
    /* a DTLS handshake on this shared machine may miss obt_coap's 5 s: tried 3 times */
    for (int i = 0; i < 3 && got[0] < 0; i++) {
        (void) obt_coap_cert(s_dev[to].coaps, chain, key, first, n, got, out, sizeof out);
    }
    free(body);
    cr_log_info("session %d -> %d: %s", from, to, out);
    codes[0] = role_pem ? got[0] : 0;
    codes[1] = role_pem ? got[1] : got[0];
    cr_assert_geq(codes[1], 0, "no answer in the session %d -> %d: %s", from, to, out);
}

/* Runs a shell command; its output (malloc'd) and exit status must be 0. */
static char *
s_sh_ok(const char *cmd)
{
    char *out = NULL;
    int rc = obt_sh(cmd, &out);
    cr_assert_eq(rc, 0, "%s: %s", cmd, out ? out : "");
    return out;
}

/* The role certificate in role.pem, field by field, with the openssl command line. */
static void
s_check_role_cert(const char *role, const char *ca, const char *serial)
{
    char cmd[2400];
    (void) snprintf(cmd, sizeof cmd, "openssl verify -x509_strict -CAfile %s %s/role.pem 2>&1", ca,
                    s_dir);
    char *out = s_sh_ok(cmd);
    cr_assert(strstr(out, ": OK") != NULL, "%s", out);
    free(out);
    (void) snprintf(cmd, sizeof cmd,
                    "openssl x509 -in %s/role.pem -noout -text -serial -nameopt RFC2253 2>&1",
                    s_dir);
    out = s_sh_ok(cmd);
    char want[200];
    (void) snprintf(want, sizeof want, "DirName:/CN=%s", role);
    cr_assert(strstr(out, want) != NULL, "no SAN %s: %s", want, out);
    cr_assert(strstr(out, "1.3.6.1.4.1.44924.1.7") != NULL, "no role EKU: %s", out);
    cr_assert(strstr(out, "1.3.6.1.4.1.44924.1.6") == NULL, "an identity EKU too: %s", out);
    cr_assert(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication") != NULL,
              "%s", out);
    cr_assert(strstr(out, "Digital Signature, Key Agreement") != NULL, "%s", out);
    cr_assert(strstr(out, "CA:FALSE") != NULL, "%s", out);
    cr_assert(strstr(out, "ecdsa-with-SHA256") != NULL, "%s", out);
    (void) snprintf(want, sizeof want, "Subject: CN=uuid:%s", s_dev[0].uuid);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    char upper[80];
    (void) snprintf(upper, sizeof upper, "serial=%s", serial);
    for (char *p = upper + 7; *p; p++) {
        *p = (char) (*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
    }
    cr_assert(strstr(out, upper) != NULL, "%s not in %s", upper, out);
    free(out);
    /* issuer = the CA's subject */
    (void) snprintf(cmd, sizeof cmd,
                    "test \"$(openssl x509 -in %s/role.pem -noout -issuer -nameopt RFC2253)\" = "
                    "\"issuer=$(openssl x509 -in %s -noout -subject -nameopt RFC2253 | "
                    "sed 's/^subject=//')\" && echo same",
                    s_dir, ca);
    free(s_sh_ok(cmd));
    /* over the key of A's identity certificate */
    char chain[700], key[700];
    s_cert_files(0, chain, key);
    (void) snprintf(cmd, sizeof cmd,
                    "test \"$(openssl x509 -in %s/role.pem -noout -pubkey)\" = "
                    "\"$(openssl x509 -in %s -noout -pubkey)\" && echo same",
                    s_dir, chain);
    free(s_sh_ok(cmd));
}

/* obtctl cert role args: succeeds, lists the new entry (with listed, e.g. "role
 * light-admin"); its serial into serial (80). */
static void
s_issue_role(const char *const *args, const char *listed, char *serial)
{
    char *out = s_ctl_ok(args);
    cr_log_info("%s", out);
    const char *at = strstr(out, "serial ");
    cr_assert(at && sscanf(at, "serial %64[0-9a-f]", serial) == 1, "%s", out);
    cr_assert(strstr(out, "oic.sec.cred.rolecert") && strstr(out, listed), "%s", out);
    free(out);
}

/* True if the line of text holding key also holds word. */
static bool
s_line_has(const char *text, const char *key, const char *word)
{
    const char *at = strstr(text, key);
    if (at == NULL) {
        return false;
    }
    while (at > text && at[-1] != '\n') {
        at--;
    }
    size_t len = strcspn(at, "\n");
    char line[512];
    (void) snprintf(line, sizeof line, "%.*s", (int) len, at);
    return strstr(line, word) != NULL;
}

Test(role,
     a_role_certificate_asserted_over_a_certificate_session_opens_what_the_role_may,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 400)
{
    s_onboard();
    const char *a = s_dev[0].uuid, *b = s_dev[1].uuid;
    char ca[700], role_path[700], *out = NULL;
    (void) snprintf(ca, sizeof ca, "%s/ca.pem", s_dir);
    (void) snprintf(role_path, sizeof role_path, "%s/role.pem", s_dir);
    const char *export[] = {"ca", "export", "--out", ca, NULL};
    free(s_ctl_ok(export));
    const char *acl[] = {"acl",   "add",    b,        "--subject", "role:light-admin",
                         "--res", "/light", "--perm", "RU",        NULL};
    free(s_ctl_ok(acl));

    /* A's certificate session without a role: the ACE does not name it */
    int codes[2];
    s_session(0, 1, NULL, codes);
    cr_assert_eq(codes[1], 403, "A read B's /light without a role");

    const char *role[] = {"cert", "role", a, "--role", "light-admin", NULL};
    char first[80] = "", serial[80] = "";
    s_issue_role(role, "role light-admin", first);
    /* again: the new certificate replaces the entry (CMS's record says so) */
    s_issue_role(role, "role light-admin", serial);
    cr_assert_str_neq(first, serial);
    char *d = s_dump(0);
    const char *at = strstr(d, CMN_CRED_USAGE_ROLECERT);
    cr_assert(at && strstr(at + 1, CMN_CRED_USAGE_ROLECERT) == NULL, "two role entries: %s", d);
    free(d);
    char *pem = s_role_cert(0, role_path);
    s_check_role_cert("light-admin", ca, serial);

    /* CMS's records of them, and obtctl creds */
    const char *certs[] = {"certs", a, NULL};
    out = s_ctl_ok(certs);
    cr_assert(s_line_has(out, serial, "role") && s_line_has(out, serial, "active"), "%s", out);
    cr_assert(s_line_has(out, first, "replaced"), "%s", out);
    free(out);
    const char *creds[] = {"creds", a, NULL};
    out = s_ctl_ok(creds);
    cr_assert(strstr(out, "oic.sec.cred.rolecert") && strstr(out, "role light-admin"), "%s", out);
    free(out);

    /* A asserts it to B: the role opens /light in that session */
    s_session(0, 1, pem, codes);
    cr_assert(codes[0] == 204 || codes[0] == 201, "B refused A's role certificate: %d", codes[0]);
    cr_assert_eq(codes[1], 205, "A with the role light-admin was refused /light");
    /* roles are bound to the session: a new one without assertion is refused again */
    s_session(0, 1, NULL, codes);
    cr_assert_eq(codes[1], 403, "a role outlived its session");

    /* the certificate is A's: B in a session of its own key cannot assert it */
    s_session(1, 1, pem, codes);
    cr_assert_eq(codes[0], 400, "B took a role certificate whose key is not the peer's");
    cr_assert_eq(codes[1], 403);
    cr_assert_geq(obt_proc_log_count(&s_sim, "its public key is not the key of the peer"), 1);

    /* revoked and pushed: asserting it again is refused */
    const char *revoke[] = {"cert", "revoke", serial, "--reason", "keyCompromise", NULL};
    free(s_ctl_ok(revoke));
    static const char *const show[] = {"--json", "crl", "show", NULL};
    static const char *const pushed[] = {"\"pending\":[]", NULL};
    int rc = obt_ctl_wait_output(&s_suite, show, pushed, 60000, &out);
    cr_assert_eq(rc, 0, "the CRL push did not finish: %s", out ? out : "");
    free(out);
    s_session(0, 1, pem, codes);
    cr_assert_eq(codes[0], 400, "B took a revoked role certificate");
    cr_assert_eq(codes[1], 403, "A read /light with a revoked role");
    cr_assert_geq(obt_proc_log_count(&s_sim, "certificate revoked"), 1);
    out = s_ctl_ok(certs);
    cr_assert(s_line_has(out, serial, "revoked"), "%s", out);
    free(out);
    free(pem);
}

Test(role, cert_role_refuses_bad_input_clearly, .init = s_setup, .fini = s_teardown, .timeout = 300)
{
    s_onboard();
    const char *a = s_dev[0].uuid, *c = s_dev[2].uuid;
    char long_role[80];
    memset(long_role, 'r', 64);
    long_role[64] = '\0';
    const struct {
        const char *uuid, *role, *authority;
        int rc;
        const char *says; /* in obtctl's error; NULL: not checked */
    } cases[] = {
            {a, "", NULL, 2, "1..63"},
            {a, long_role, NULL, 2, "1..63"},
            {a, "light@admin", NULL, 2, "without '@'"},
            {a, "light-admin", long_role, 2, "1..63"},
            {"00000000-1111-4222-8333-444455556666", "light-admin", NULL, 3, "unknown to CMS"},
            {c, "light-admin", NULL, 2, "no certificate support"},
            {"not-a-uuid", "light-admin", NULL, 2, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* through the shell: obtctl's error is on stderr */
        char cmd[6000];
        char *out = NULL;
        (void) snprintf(cmd, sizeof cmd,
                        "%s/obtctl --keys-dir %s --gateway %s --dots %s --cms %s --ams %s "
                        "cert role %s --role '%s' %s%s%s 2>&1; echo \"exit=$?\"",
                        obt_bin_dir(), s_suite.keys, s_suite.ep_gw, s_suite.ep_dots, s_suite.ep_cms,
                        s_suite.ep_ams, cases[i].uuid, cases[i].role,
                        cases[i].authority ? "--authority '" : "",
                        cases[i].authority ? cases[i].authority : "",
                        cases[i].authority ? "'" : "");
        (void) obt_sh(cmd, &out);
        char want[16];
        (void) snprintf(want, sizeof want, "exit=%d", cases[i].rc);
        cr_log_info("case %zu: %s", i, out ? out : "");
        cr_assert(out && strstr(out, want), "case %zu: want %s: %s", i, want, out ? out : "");
        cr_assert(cases[i].says == NULL || strstr(out, cases[i].says), "case %zu: %s", i, out);
        free(out);
    }
    /* nothing was issued */
    const char *certs[] = {"certs", NULL};
    char *out = s_ctl_ok(certs);
    cr_assert_null(strstr(out, " role "), "%s", out);
    free(out);
}

/* How many lines of text hold both a and b. */
static int
s_lines_with(const char *text, const char *a, const char *b)
{
    int n = 0;
    for (const char *line = text; line && *line;) {
        size_t len = strcspn(line, "\n");
        char buf[512];
        (void) snprintf(buf, sizeof buf, "%.*s", (int) len, line);
        n += strstr(buf, a) && strstr(buf, b);
        line = line[len] ? line + len + 1 : NULL;
    }
    return n;
}

Test(role,
     kill9_of_cms_inside_cert_role_is_resumed,
     .init = s_setup_stop,
     .fini = s_teardown,
     .timeout = 400)
{
    s_onboard();
    const char *a = s_dev[0].uuid;
    char cmd[4096];
    /* obtctl waits for the answer: in the background, the kill cuts it short */
    (void) snprintf(cmd, sizeof cmd,
                    "%s/obtctl --keys-dir %s --gateway %s --dots %s --cms %s --ams %s cert role "
                    "%s --role light-admin > /dev/null 2>&1 &",
                    obt_bin_dir(), s_suite.keys, s_suite.ep_gw, s_suite.ep_dots, s_suite.ep_cms,
                    s_suite.ep_ams, a);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(obt_proc_wait_log(&s_sim, "stops (SIGSTOP)", 60000), 0,
                 "CMS never sent the role certificate");
    /* the certificate of the killed run was recorded before it left CMS */
    const char *certs[] = {"certs", a, NULL};
    int done = obt_proc_log_count(&s_suite.cms, "SVC-JOB-DONE"); /* the log is appended to */
    char *before = s_ctl_ok(certs);
    char why[200];
    cr_assert_eq(obt_kill9_resume(&s_suite, "cms", &s_sim, done, why, sizeof why), 0, "%s", why);
    const char *at = strstr(before, "issued");
    cr_assert(at && s_lines_with(before, " role ", "issued") == 1, "%s", before);
    while (at > before && at[-1] != '\n') {
        at--;
    }
    char killed[80] = "";
    cr_assert_eq(sscanf(at, "%64[0-9a-f]", killed), 1, "%s", before);
    free(before);
    /* one role certificate on A, the resumed run's, active; the killed run's is not */
    char *d = s_dump(0);
    const char *rc = strstr(d, CMN_CRED_USAGE_ROLECERT);
    cr_assert(rc && strstr(rc + 1, CMN_CRED_USAGE_ROLECERT) == NULL, "not one role entry: %s", d);
    free(d);
    char *out = s_ctl_ok(certs);
    cr_log_info("%s", out);
    cr_assert(s_line_has(out, killed, "abandoned") || s_line_has(out, killed, "replaced"), "%s",
              out);
    cr_assert_eq(s_lines_with(out, " role ", "active"), 1, "%s", out);
    free(out);
    cr_assert_eq(obt_devsim_count_rfnop(s_dir, N_DEVICES + 1, NULL), N_DEVICES,
                 "a device was left in RFPRO");
}

Test(role,
     an_ace_with_an_authority_names_only_the_role_of_that_authority,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 300)
{
    s_onboard();
    const char *a = s_dev[0].uuid, *b = s_dev[1].uuid;
    const char *temp[] = {"acl",   "add",   b,        "--subject", "role:sensor@facility",
                          "--res", "/temp", "--perm", "R",         NULL};
    const char *light[] = {"acl",   "add",    b,        "--subject", "role:sensor@other",
                           "--res", "/light", "--perm", "R",         NULL};
    free(s_ctl_ok(temp));
    free(s_ctl_ok(light));
    const char *role[] = {"cert", "role", a, "--role", "sensor", "--authority", "facility", NULL};
    char serial[80], path[700];
    s_issue_role(role, "role sensor@facility", serial);
    (void) snprintf(path, sizeof path, "%s/role.pem", s_dir);
    char *pem = s_role_cert(0, path);
    char cmd[1400];
    (void) snprintf(cmd, sizeof cmd, "openssl x509 -in %s -noout -text", path);
    char *out = s_sh_ok(cmd);
    cr_assert(strstr(out, "DirName:/CN=sensor/OU=facility"), "%s", out);
    free(out);
    /* one session: the role asserted, then /temp (role:sensor@facility) and /light
     * (role:sensor@other) */
    char chain[700], key[700], text[4096];
    s_cert_files(0, chain, key);
    size_t len = 0;
    uint8_t *body = s_roles_body(a, pem, &len);
    const obt_coap_req_t reqs[] = {{"POST", "/oic/sec/roles", body, len},
                                   {"GET", "/temp", NULL, 0},
                                   {"GET", "/light", NULL, 0},
                                   {"GET", "/oic/sec/roles", NULL, 0}};
    int codes[4] = {-1, -1, -1, -1};
    for (int i = 0; i < 3 && codes[0] < 0; i++) {
        (void) obt_coap_cert(s_dev[1].coaps, chain, key, reqs, 4, codes, text, sizeof text);
    }
    free(body);
    free(pem);
    cr_log_info("%s", text);
    cr_assert_eq(codes[0], 204, "%s", text);
    cr_assert_eq(codes[1], 205, "role sensor of authority facility was refused /temp: %s", text);
    cr_assert_eq(codes[2], 403, "an ACE for authority other took authority facility: %s", text);
    cr_assert_eq(codes[3], 205, "%s", text);
    /* GET /oic/sec/roles lists the asserted certificate: "oic.sec.cred.rolecert" in hex */
    cr_assert(strstr(text, "6f69632e7365632e637265642e726f6c6563657274"), "%s", text);
}

/* The reset cascade revokes the device's role certificates with its identity
 * certificates (docs/decisions.md D80): after `obtctl reset A`, the serial of A's role
 * certificate is in CMS's CRL and in the CRL pushed to B. */
Test(role,
     reset_revokes_the_role_certificates_too,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 400)
{
    s_onboard();
    const char *a = s_dev[0].uuid;
    const char *role[] = {"cert", "role", a, "--role", "light-admin", NULL};
    char serial[80] = "";
    s_issue_role(role, "role light-admin", serial);
    const char *reset[] = {"reset", a, NULL};
    free(s_ctl_ok(reset));
    cr_assert_eq(obt_proc_wait_log(&s_suite.cms, "1 role certificate(s) revoked", 30000), 0,
                 "the cascade did not revoke A's role certificate");
    static const char *const show[] = {"--json", "crl", "show", NULL};
    const char *const want[] = {serial, "\"pending\":[]", NULL};
    char *out = NULL;
    int rc = obt_ctl_wait_output(&s_suite, show, want, 60000, &out);
    cr_assert_eq(rc, 0, "role serial %s not in the pushed CRL: %s", serial, out ? out : "");
    free(out);
    char *d = s_dump(1);
    const char *crl = strstr(d, "\"crldata_hex\":\"");
    cr_assert(crl && strstr(crl, serial), "B's CRL does not list %s: %s", serial, d);
    free(d);
    const char *certs[] = {"certs", a, NULL};
    out = s_ctl_ok(certs);
    cr_assert(s_line_has(out, serial, "revoked"), "%s", out);
    free(out);
}

/* Starts obt_coap as device 0 in a certificate session to device 1 that asserts pem,
 * GETs /light, then waits for the file go before it GETs /light again (WAIT). Returns
 * once it waits (0), its handshake tried up to 3 times. */
static int
s_held_session(obt_proc_t *coap, const char *pem, const char *go)
{
    static char chain[700], key[700], roles[256], light[256], hex[8200];
    s_cert_files(0, chain, key);
    size_t len = 0;
    uint8_t *body = s_roles_body(s_dev[0].uuid, pem, &len);
    cr_assert_lt(2 * len, sizeof hex);
    for (size_t b = 0; b < len; b++) {
        (void) snprintf(hex + 2 * b, 3, "%02x", body[b]);
    }
    free(body);
    (void) snprintf(roles, sizeof roles, "%s/oic/sec/roles", s_dev[1].coaps);
    (void) snprintf(light, sizeof light, "%s/light", s_dev[1].coaps);
    const char *argv[] = {"--cert", chain, "--cert-key", key, "POST", roles, hex,
                          "GET",    light, "WAIT",       go,  "GET",  light, NULL};
    for (int i = 0; i < 3; i++) {
        char name[32];
        (void) snprintf(name, sizeof name, "held-%d", i);
        if (obt_proc_start(coap, s_dir, name, "obt_coap", argv) == 0 &&
            obt_proc_wait_log(coap, "WAIT ", 30000) == 0) {
            return 0;
        }
        (void) obt_proc_stop(coap);
    }
    return -1;
}

/* A CRL that revokes a role certificate takes the role away from the session that
 * asserted it at once (docs/decisions.md D81): A asserts its role to B and reads
 * /light (2.05); `obtctl cert revoke` and the CRL push; the same session is then
 * refused /light (4.03). */
Test(role,
     a_crl_drops_a_role_already_asserted_in_a_session,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 400)
{
    s_onboard();
    const char *a = s_dev[0].uuid, *b = s_dev[1].uuid;
    const char *acl[] = {"acl",   "add",    b,        "--subject", "role:light-admin",
                         "--res", "/light", "--perm", "RU",        NULL};
    free(s_ctl_ok(acl));
    const char *role[] = {"cert", "role", a, "--role", "light-admin", NULL};
    char serial[80] = "", path[700], go[700];
    s_issue_role(role, "role light-admin", serial);
    (void) snprintf(path, sizeof path, "%s/role.pem", s_dir);
    (void) snprintf(go, sizeof go, "%s/go", s_dir);
    char *pem = s_role_cert(0, path);
    obt_proc_t coap = {0};
    cr_assert_eq(s_held_session(&coap, pem, go), 0, "no certificate session from A to B");
    free(pem);
    cr_assert_eq(obt_proc_log_count(&coap, "2.04"), 1, "B refused the role");
    cr_assert_eq(obt_proc_log_count(&coap, "2.05"), 1, "the role did not open /light");

    const char *revoke[] = {"cert", "revoke", serial, NULL};
    free(s_ctl_ok(revoke));
    static const char *const show[] = {"--json", "crl", "show", NULL};
    static const char *const pushed[] = {"\"pending\":[]", NULL};
    char *out = NULL;
    int rc = obt_ctl_wait_output(&s_suite, show, pushed, 60000, &out);
    cr_assert_eq(rc, 0, "the CRL push did not finish: %s", out ? out : "");
    free(out);
    cr_assert_geq(obt_proc_log_count(&s_sim, "SIM-ROLE-DROPPED"), 1, "B kept the revoked role");

    FILE *f = fopen(go, "w");
    cr_assert_not_null(f);
    (void) fclose(f);
    rc = obt_proc_wait_log(&coap, "4.03", 30000);
    if (rc != 0) {
        obt_proc_dump(&coap);
    }
    (void) obt_proc_stop(&coap);
    cr_assert_eq(rc, 0, "the session that asserted the revoked role still reads /light");
}
