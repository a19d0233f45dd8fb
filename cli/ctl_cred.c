/* ctl_cred.c — obtctl creds UUID and obtctl cred rm UUID CREDID: a device's cred
 * entries as CMS reads them from the device (private data never shown), and the
 * removal of one, each a persisted CMS job (docs/cms.md) */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_cert.h"
#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "ctl_main.h"
#include "obt/cms.pb-c.h"
#include "obt/common.pb-c.h"

#define S_USAGE                                                                                    \
    "usage: obtctl [--json] creds UUID        the device's credentials, read from it by CMS\n"     \
    "                                         (private data is never shown)\n"                     \
    "       obtctl [--json] cred rm UUID CREDID  remove one (a CMS job: RFPRO, DELETE, RFNOP)\n"

/* A certificate's subject, serial and notAfter for the listing ("" if not PEM). */
static void
s_cert_summary(const cmn_cred_t *c, char *out, size_t cap)
{
    out[0] = '\0';
    STACK_OF(X509) *sk = c->pub_len ? cmn_cert_parse_pem(c->pub_data, c->pub_len) : NULL;
    if (sk == NULL) {
        return;
    }
    X509 *x = sk_X509_value(sk, 0);
    char subject[200], fp[65], not_after[64];
    if (cmn_cert_describe(x, fp, subject, sizeof subject, not_after, sizeof not_after) == CMN_OK) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        char role[64], authority[64], why[160], role_text[160] = "";
        if (cmn_cert_role(x, role, authority, why, sizeof why) == CMN_OK) {
            (void) snprintf(role_text, sizeof role_text, ", role %s%s%s", role,
                            authority[0] ? "@" : "", authority);
        }
        (void) snprintf(out, cap, "%s%s, serial %s, not after %s, %d certificate(s)", subject,
                        role_text, hex ? hex : "?", not_after, sk_X509_num(sk));
        OPENSSL_free(hex);
        BN_free(bn);
    }
    sk_X509_pop_free(sk, X509_free);
}

static void
s_print_json(const char *uuid, const char *role_serial, const cmn_creds_t *creds)
{
    char s[CMN_UUID_STR_LEN + 1], summary[400];
    printf("{\"device_uuid\":");
    ctl_json_str(stdout, uuid);
    if (role_serial) {
        printf(",\"role_serial\":");
        ctl_json_str(stdout, role_serial);
    }
    cmn_uuid_to_str(&creds->rowneruuid, s);
    printf(",\"rowneruuid\":\"%s\",\"creds\":[", s);
    for (size_t i = 0; i < creds->n_creds; i++) {
        const cmn_cred_t *c = &creds->creds[i];
        if (!c->subject_is_wildcard) {
            cmn_uuid_to_str(&c->subjectuuid, s);
        }
        printf("%s{\"credid\":%lld,\"credtype\":%lld,\"subjectuuid\":\"%s\",\"credusage\":",
               i ? "," : "", (long long) c->credid, (long long) c->credtype,
               c->subject_is_wildcard ? "*" : s);
        ctl_json_str(stdout, c->credusage);
        s_cert_summary(c, summary, sizeof summary);
        printf(",\"publicdata\":");
        ctl_json_str(stdout, summary);
        printf(",\"has_privatedata\":%s}",
               (c->present & CMN_CRED_HAS_PRIVATEDATA) ? "true" : "false");
    }
    printf("]}\n");
}

static void
s_print_text(const cmn_creds_t *creds)
{
    char s[CMN_UUID_STR_LEN + 1], summary[400];
    printf("%-6s %-4s %-36s %-22s %s\n", "CREDID", "TYPE", "SUBJECT", "USAGE", "DATA");
    for (size_t i = 0; i < creds->n_creds; i++) {
        const cmn_cred_t *c = &creds->creds[i];
        if (!c->subject_is_wildcard) {
            cmn_uuid_to_str(&c->subjectuuid, s);
        }
        s_cert_summary(c, summary, sizeof summary);
        printf("%-6lld %-4lld %-36s %-22s %s%s\n", (long long) c->credid, (long long) c->credtype,
               c->subject_is_wildcard ? "*" : s, c->credusage[0] ? c->credusage : "-",
               summary[0] ? summary : "",
               (c->present & CMN_CRED_HAS_PRIVATEDATA)
                       ? (summary[0] ? "; private data (not shown)" : "private data (not shown)")
                       : "");
    }
}

/* What s_call prints of the answer. */
typedef enum {
    S_PRINT_CREDS = 0, /* the device's creds */
    S_PRINT_RENEW,     /* the new identity certificate's serial */
    S_PRINT_ROLE,      /* the role certificate's serial, then the creds */
} s_print_t;

/* Sends req to CMS; prints what the answer holds (what). */
static int
s_call(const ctl_opts_t *o, Obt__Cms__Request *req, const char *uuid, s_print_t what)
{
    uint8_t *data = NULL;
    size_t len = 0;
    req->corr_id = cmn_bus_next_corr_id();
    int rc = ctl_call(o, CTL_CMS, &req->base, req->corr_id, o->timeout_ms, &data, &len);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    /* a job's answer is an obt.ServiceReply; a refusal by the dispatcher an
     * obt.cms.Reply, whose corr_id, status and error have the same numbers */
    Obt__ServiceReply *r = obt__service_reply__unpack(NULL, len, data);
    free(data);
    if (r == NULL) {
        (void) fprintf(stderr, "obtctl: unreadable answer from obt-cms\n");
        return CTL_EXIT_FAILED;
    }
    cmn_creds_t creds;
    bool is_answer =
            r->status == OBT__STATUS__STATUS_OK && r->body_case == OBT__SERVICE_REPLY__BODY_SHOW;
    if (is_answer && what == S_PRINT_ROLE && !o->json) {
        printf("role certificate issued: serial %s; on the device as oic.sec.cred.rolecert:\n",
               r->show->cms_role_serial);
    }
    if (is_answer && what == S_PRINT_RENEW) {
        if (o->json) {
            printf("{\"device_uuid\":");
            ctl_json_str(stdout, uuid);
            printf(",\"cert_serial\":");
            ctl_json_str(stdout, r->show->cert_serial);
            printf(",\"cert_note\":");
            ctl_json_str(stdout, r->show->cert_note);
            printf("}\n");
        } else {
            printf("identity certificate renewed: serial %s (%s); the old one is revoked and "
                   "the CRL queued for every device\n",
                   r->show->cert_serial, r->show->cert_note);
        }
    } else if (!is_answer) {
        cmn_err_t err = cmn_err_from_status(r->status);
        (void) fprintf(stderr, "obtctl: obt-cms: %s\n", r->error[0] ? r->error : cmn_strerror(err));
        rc = err == CMN_ENOTFOUND   ? CTL_EXIT_NOTFOUND
             : err == CMN_EINVAL    ? CTL_EXIT_USAGE
             : err == CMN_ETIMEDOUT ? CTL_EXIT_TIMEOUT
                                    : CTL_EXIT_FAILED;
    } else if (cmn_creds_decode(r->show->cms_device_cred.data, r->show->cms_device_cred.len,
                                &creds) != CMN_OK) {
        (void) fprintf(stderr, "obtctl: obt-cms answered without the device's credentials\n");
        rc = CTL_EXIT_FAILED;
    } else {
        if (o->json) {
            s_print_json(uuid, what == S_PRINT_ROLE ? r->show->cms_role_serial : NULL, &creds);
        } else {
            s_print_text(&creds);
        }
        cmn_creds_free(&creds);
    }
    obt__service_reply__free_unpacked(r, NULL);
    return rc;
}

static int
s_bad(const char *what)
{
    (void) fprintf(stderr, "obtctl: %s\n%s", what, S_USAGE);
    return CTL_EXIT_USAGE;
}

int
ctl_cmd_creds(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("%s", S_USAGE);
        return CTL_EXIT_OK;
    }
    cmn_uuid_t u;
    if (argc != 2 || cmn_uuid_from_str(argv[1], &u) != CMN_OK) {
        return s_bad("creds needs one device UUID");
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CredList list = OBT__CMS__CRED_LIST__INIT;
    list.device_uuid = argv[1];
    req.body_case = OBT__CMS__REQUEST__BODY_CRED_LIST;
    req.cred_list = &list;
    return s_call(o, &req, argv[1], S_PRINT_CREDS);
}

int
ctl_cmd_cred(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("%s", S_USAGE);
        return CTL_EXIT_OK;
    }
    cmn_uuid_t u;
    char *end = NULL;
    if (argc != 4 || strcmp(argv[1], "rm") != 0 || cmn_uuid_from_str(argv[2], &u) != CMN_OK) {
        return s_bad("cred rm needs a device UUID and a CREDID");
    }
    long long credid = strtoll(argv[3], &end, 10);
    if (argv[3][0] == '\0' || *end != '\0' || credid < 1) {
        return s_bad("CREDID: a number from 1");
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CredRemove rm = OBT__CMS__CRED_REMOVE__INIT;
    rm.device_uuid = argv[2];
    rm.credid = credid;
    req.body_case = OBT__CMS__REQUEST__BODY_CRED_REMOVE;
    req.cred_remove = &rm;
    return s_call(o, &req, argv[2], S_PRINT_CREDS);
}

int
ctl_cert_renew(const ctl_opts_t *o, int argc, char **argv)
{
    cmn_uuid_t u;
    if (argc != 3 || cmn_uuid_from_str(argv[2], &u) != CMN_OK) {
        (void) fprintf(stderr,
                       "usage: obtctl [--json] cert renew UUID   a new identity certificate "
                       "for the device; the old one is revoked\n");
        return CTL_EXIT_USAGE;
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CertRenew rn = OBT__CMS__CERT_RENEW__INIT;
    rn.device_uuid = argv[2];
    req.body_case = OBT__CMS__REQUEST__BODY_CERT_RENEW;
    req.cert_renew = &rn;
    return s_call(o, &req, argv[2], S_PRINT_RENEW);
}

#define S_ROLE_USAGE                                                                               \
    "usage: obtctl [--json] cert role UUID --role NAME [--authority A]\n"                          \
    "  a role certificate for the device (CMS job): issued over the key of its identity\n"         \
    "  certificate, role NAME (and authority A) in its subjectAltName, POSTed to its\n"            \
    "  /oic/sec/cred as oic.sec.cred.rolecert. NAME and A: 1..63 printable characters\n"           \
    "  without '@'. Revoke it with obtctl cert revoke SERIAL.\n"

int
ctl_cert_role(const ctl_opts_t *o, int argc, char **argv)
{
    cmn_uuid_t u;
    const char *role = NULL, *authority = "";
    bool ok = argc >= 5 && cmn_uuid_from_str(argv[2], &u) == CMN_OK;
    for (int i = 3; ok && i < argc; i += 2) {
        if (i + 1 < argc && strcmp(argv[i], "--role") == 0 && role == NULL) {
            role = argv[i + 1];
        } else if (i + 1 < argc && strcmp(argv[i], "--authority") == 0 && authority[0] == '\0') {
            authority = argv[i + 1];
        } else {
            ok = false;
        }
    }
    if (!ok || role == NULL) {
        bool is_help = argc == 3 && strcmp(argv[2], "--help") == 0;
        (void) fprintf(is_help ? stdout : stderr, "%s%s",
                       is_help ? "" : "obtctl: cert role needs a device UUID and --role NAME\n",
                       S_ROLE_USAGE);
        return is_help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    size_t rlen = strlen(role), alen = strlen(authority);
    if (rlen == 0 || rlen > CMN_CERT_ROLE_MAX || strchr(role, '@') || alen > CMN_CERT_ROLE_MAX ||
        strchr(authority, '@')) {
        (void) fprintf(stderr,
                       "obtctl: --role and --authority: 1..%d printable characters without '@' "
                       "(role %zu, authority %zu)\n%s",
                       CMN_CERT_ROLE_MAX, rlen, alen, S_ROLE_USAGE);
        return CTL_EXIT_USAGE;
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CertRole cr = OBT__CMS__CERT_ROLE__INIT;
    cr.device_uuid = argv[2];
    cr.role = (char *) (uintptr_t) role;
    cr.authority = (char *) (uintptr_t) authority;
    req.body_case = OBT__CMS__REQUEST__BODY_CERT_ROLE;
    req.cert_role = &cr;
    return s_call(o, &req, argv[2], S_PRINT_ROLE);
}
