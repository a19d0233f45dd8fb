/* ctl_ca.c — obtctl ca show|export and obtctl certs: the domain CA of obt-cms and the
 * certificates it issued (docs/cms.md) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmn_uuid.h"
#include "ctl_main.h"
#include "obt/cms.pb-c.h"

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: obtctl [--json] ca show             the domain CA of obt-cms\n"
                 "       obtctl ca export [--out FILE]      its chain as PEM (the CA first)\n"
                 "       obtctl [--json] certs [UUID]       the certificates CMS issued\n"
                 "       obtctl [--json] cert revoke UUID|SERIAL [--reason R]\n"
                 "           R: unspecified (default), keyCompromise, affiliationChanged,\n"
                 "           superseded, cessationOfOperation\n"
                 "       obtctl [--json] cert renew UUID    a new identity certificate (the old\n"
                 "           one revoked, the CRL pushed)\n"
                 "       obtctl [--json] cert role UUID --role NAME [--authority A]\n"
                 "           a role certificate for the device (revoke: cert revoke SERIAL)\n"
                 "       obtctl [--json] crl show [--pem]    the CRL CMS signs now\n");
}

int
ctl_cms(const ctl_opts_t *o, Obt__Cms__Request *req, int timeout_ms, Obt__Cms__Reply **ret)
{
    uint8_t *data = NULL;
    size_t len = 0;
    req->corr_id = cmn_bus_next_corr_id();
    int rc = ctl_call(o, CTL_CMS, &req->base, req->corr_id, timeout_ms, &data, &len);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    *ret = obt__cms__reply__unpack(NULL, len, data);
    free(data);
    if (*ret == NULL) {
        fprintf(stderr, "obtctl: unreadable reply from cms\n");
        return CTL_EXIT_FAILED;
    }
    if ((*ret)->status != OBT__STATUS__STATUS_OK) {
        fprintf(stderr, "obtctl: cms: %s\n", (*ret)->error);
        int rc2 = (*ret)->status == OBT__STATUS__STATUS_ENOTFOUND   ? CTL_EXIT_NOTFOUND
                  : (*ret)->status == OBT__STATUS__STATUS_EINVAL    ? CTL_EXIT_USAGE
                  : (*ret)->status == OBT__STATUS__STATUS_ETIMEDOUT ? CTL_EXIT_TIMEOUT
                                                                    : CTL_EXIT_FAILED;
        obt__cms__reply__free_unpacked(*ret, NULL);
        *ret = NULL;
        return rc2;
    }
    return CTL_EXIT_OK;
}

static int
s_show(const ctl_opts_t *o)
{
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CaShow show = OBT__CMS__CA_SHOW__INIT;
    Obt__Cms__Reply *r = NULL;
    req.body_case = OBT__CMS__REQUEST__BODY_CA_SHOW;
    req.ca_show = &show;
    int rc = ctl_cms(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (r->body_case != OBT__CMS__REPLY__BODY_CA) {
        fprintf(stderr, "obtctl: cms answered without the CA\n");
        obt__cms__reply__free_unpacked(r, NULL);
        return CTL_EXIT_FAILED;
    }
    const Obt__Cms__CaInfo *ca = r->ca;
    if (o->json) {
        printf("{\"subject\":");
        ctl_json_str(stdout, ca->subject);
        printf(",\"issuer\":");
        ctl_json_str(stdout, ca->issuer);
        printf(",\"serial\":");
        ctl_json_str(stdout, ca->serial);
        printf(",\"not_before\":");
        ctl_json_str(stdout, ca->not_before);
        printf(",\"not_after\":");
        ctl_json_str(stdout, ca->not_after);
        printf(",\"sha256\":");
        ctl_json_str(stdout, ca->fingerprint);
        printf(",\"kind\":\"%s\",\"chain_length\":%u}\n", ca->is_sub_ca ? "sub-CA" : "root",
               ca->chain_length);
    } else {
        printf("kind:         %s\n", ca->is_sub_ca ? "sub-CA (of an upper CA)" : "root CA");
        printf("subject:      %s\n", ca->subject);
        printf("issuer:       %s\n", ca->issuer);
        printf("serial:       %s\n", ca->serial);
        printf("not before:   %s\n", ca->not_before);
        printf("not after:    %s\n", ca->not_after);
        printf("sha256:       %s\n", ca->fingerprint);
        printf("chain length: %u\n", ca->chain_length);
    }
    obt__cms__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

static int
s_export(const ctl_opts_t *o, const char *out)
{
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CaExport ex = OBT__CMS__CA_EXPORT__INIT;
    Obt__Cms__Reply *r = NULL;
    req.body_case = OBT__CMS__REQUEST__BODY_CA_EXPORT;
    req.ca_export = &ex;
    int rc = ctl_cms(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (r->body_case != OBT__CMS__REPLY__BODY_CHAIN || r->chain->pem[0] == '\0') {
        fprintf(stderr, "obtctl: cms answered without the chain\n");
        obt__cms__reply__free_unpacked(r, NULL);
        return CTL_EXIT_FAILED;
    }
    FILE *fp = out ? fopen(out, "w") : stdout;
    if (fp == NULL) {
        fprintf(stderr, "obtctl: cannot write %s: %s\n", out, strerror(errno));
        rc = CTL_EXIT_FAILED;
    } else {
        size_t n = strlen(r->chain->pem);
        if (fwrite(r->chain->pem, 1, n, fp) != n) {
            fprintf(stderr, "obtctl: cannot write the chain: %s\n", strerror(errno));
            rc = CTL_EXIT_FAILED;
        }
        if (fp != stdout && fclose(fp) != 0) {
            fprintf(stderr, "obtctl: cannot write %s: %s\n", out, strerror(errno));
            rc = CTL_EXIT_FAILED;
        }
    }
    obt__cms__reply__free_unpacked(r, NULL);
    return rc;
}

static void
s_date(uint64_t ms, char *out, size_t len)
{
    time_t t = (time_t) (ms / 1000u);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%d", &tm) == 0) {
        (void) snprintf(out, len, "?");
    }
}

int
ctl_cmd_certs(const ctl_opts_t *o, int argc, char **argv)
{
    cmn_uuid_t u;
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "--help") == 0 || argv[1][0] == '-'))) {
        s_usage(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    if (argc == 2 && cmn_uuid_from_str(argv[1], &u) != CMN_OK) {
        fprintf(stderr, "obtctl: certs: \"%s\" is not a UUID\n", argv[1]);
        return CTL_EXIT_USAGE;
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CertList cl = OBT__CMS__CERT_LIST__INIT;
    Obt__Cms__Reply *r = NULL;
    cl.device_uuid = argc == 2 ? argv[1] : (char *) (uintptr_t) "";
    req.body_case = OBT__CMS__REQUEST__BODY_CERT_LIST;
    req.cert_list = &cl;
    int rc = ctl_cms(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    size_t n = r->body_case == OBT__CMS__REPLY__BODY_CERTS ? r->certs->n_certs : 0;
    if (o->json) {
        printf("[");
    } else if (n) {
        printf("%-32s  %-36s  %-12s  %-9s  %-10s  %s\n", "SERIAL", "SUBJECT", "USAGE", "STATUS",
               "NOT AFTER", "SHA256");
    }
    for (size_t i = 0; i < n; i++) {
        const Obt__Cms__CertInfo *c = r->certs->certs[i];
        char na[16];
        s_date(c->not_after_ms, na, sizeof na);
        if (o->json) {
            printf("%s{\"serial\":", i ? "," : "");
            ctl_json_str(stdout, c->serial);
            printf(",\"subject_uuid\":");
            ctl_json_str(stdout, c->subject_uuid);
            printf(",\"usage\":");
            ctl_json_str(stdout, c->usage);
            printf(",\"status\":");
            ctl_json_str(stdout, c->status);
            printf(",\"not_before_ms\":%llu,\"not_after_ms\":%llu,\"sha256\":",
                   (unsigned long long) c->not_before_ms, (unsigned long long) c->not_after_ms);
            ctl_json_str(stdout, c->fingerprint);
            printf("}");
        } else {
            printf("%-32s  %-36s  %-12s  %-9s  %-10s  %.16s\n", c->serial, c->subject_uuid,
                   c->usage, c->status, na, c->fingerprint);
        }
    }
    if (o->json) {
        printf("]\n");
    } else if (n == 0) {
        printf("no certificate issued%s\n", argc == 2 ? " for this device" : "");
    }
    obt__cms__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

int
ctl_cmd_ca(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "show") == 0 && argc == 2) {
        return s_show(o);
    }
    if (argc >= 2 && strcmp(argv[1], "export") == 0) {
        if (argc == 2) {
            return s_export(o, NULL);
        }
        if (argc == 4 && strcmp(argv[2], "--out") == 0) {
            return s_export(o, argv[3]);
        }
    }
    bool is_help = argc == 2 && strcmp(argv[1], "--help") == 0;
    s_usage(is_help ? stdout : stderr);
    return is_help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

static int
s_print_crl(const ctl_opts_t *o, const Obt__Cms__Reply *r, bool is_pem, bool is_revoke)
{
    if (r->body_case != OBT__CMS__REPLY__BODY_CRL) {
        fprintf(stderr, "obtctl: cms answered without the CRL\n");
        return CTL_EXIT_FAILED;
    }
    const Obt__Cms__CrlInfo *c = r->crl;
    if (is_pem) {
        fputs(c->pem, stdout);
        return CTL_EXIT_OK;
    }
    if (o->json) {
        printf("{\"this_update\":");
        ctl_json_str(stdout, c->this_update);
        printf(",\"next_update\":");
        ctl_json_str(stdout, c->next_update);
        printf(",\"revoked_now\":%u,\"revoked\":[", c->count);
        for (size_t i = 0; i < c->n_revoked; i++) {
            printf("%s", i ? "," : "");
            ctl_json_str(stdout, c->revoked[i]);
        }
        printf("],\"number\":%llu,\"pending\":[", (unsigned long long) c->number);
        for (size_t i = 0; i < c->n_pending; i++) {
            printf("%s", i ? "," : "");
            ctl_json_str(stdout, c->pending[i]);
        }
        printf("]}\n");
        return CTL_EXIT_OK;
    }
    if (is_revoke) {
        printf("revoked %u certificate(s)\n", c->count);
    }
    printf("CRL number:      %llu\nCRL this update: %s\nCRL next update: %s\nrevoked:         "
           "%zu\n",
           (unsigned long long) c->number, c->this_update, c->next_update, c->n_revoked);
    for (size_t i = 0; i < c->n_revoked; i++) {
        printf("  %s\n", c->revoked[i]);
    }
    printf("push pending:    %zu device(s)\n", c->n_pending);
    for (size_t i = 0; i < c->n_pending; i++) {
        printf("  %s\n", c->pending[i]);
    }
    return CTL_EXIT_OK;
}

/* Sends req (a revocation or crl show) and prints the CRL of the answer. */
static int
s_crl_request(const ctl_opts_t *o, Obt__Cms__Request *req, bool is_pem, bool is_revoke)
{
    Obt__Cms__Reply *r = NULL;
    int rc = ctl_cms(o, req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    rc = s_print_crl(o, r, is_pem, is_revoke);
    obt__cms__reply__free_unpacked(r, NULL);
    return rc;
}

int
ctl_cmd_cert(const ctl_opts_t *o, int argc, char **argv)
{
    const char *reason = "";
    if (argc >= 2 && strcmp(argv[1], "renew") == 0) {
        return ctl_cert_renew(o, argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "role") == 0) {
        return ctl_cert_role(o, argc, argv);
    }
    bool ok = argc == 3 || (argc == 5 && strcmp(argv[3], "--reason") == 0);
    if (!ok || strcmp(argv[1], "revoke") != 0) {
        bool is_help = argc == 2 && strcmp(argv[1], "--help") == 0;
        s_usage(is_help ? stdout : stderr);
        return is_help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    if (argc == 5) {
        reason = argv[4];
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CertRevoke rv = OBT__CMS__CERT_REVOKE__INIT;
    rv.target = argv[2];
    rv.reason = (char *) (uintptr_t) reason;
    req.body_case = OBT__CMS__REQUEST__BODY_CERT_REVOKE;
    req.cert_revoke = &rv;
    return s_crl_request(o, &req, false, true);
}

int
ctl_cmd_crl(const ctl_opts_t *o, int argc, char **argv)
{
    bool is_pem = argc == 3 && strcmp(argv[2], "--pem") == 0;
    if (argc < 2 || strcmp(argv[1], "show") != 0 || (argc == 3 && !is_pem) || argc > 3) {
        bool is_help = argc == 2 && strcmp(argv[1], "--help") == 0;
        s_usage(is_help ? stdout : stderr);
        return is_help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__CrlShow cs = OBT__CMS__CRL_SHOW__INIT;
    req.body_case = OBT__CMS__REQUEST__BODY_CRL_SHOW;
    req.crl_show = &cs;
    return s_crl_request(o, &req, is_pem, false);
}
