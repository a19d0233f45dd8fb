/* ctl_trust.c — obtctl mfg-trust add|list|rm: DOTS's manufacturer trust anchors
 * (credusage oic.sec.cred.mfgtrustca), the roots accepted by the certificate OTM */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_main.h"

#define S_MAX_PEM (1024 * 1024)

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: obtctl [--json] mfg-trust add FILE.pem   add the CA certificates in FILE\n"
            "       obtctl [--json] mfg-trust list           list the anchors\n"
            "       obtctl [--json] mfg-trust rm ID          remove one (ID or 8+ of its first "
            "digits)\n"
            "Manufacturer trust anchors (oic.sec.cred.mfgtrustca) are the roots DOTS accepts\n"
            "for the manufacturer-certificate OTM.\n");
}

/* Reads a whole file (at most S_MAX_PEM bytes); NULL with a message on error, and
 * the exit code in *ret_rc. */
static uint8_t *
s_read(const char *path, size_t *ret_len, int *ret_rc)
{
    *ret_rc = CTL_EXIT_FAILED;
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (fp == NULL) {
        *ret_rc = ctl_args_file_error("mfg-trust add", path, errno);
        return NULL;
    }
    uint8_t *buf = malloc(S_MAX_PEM + 1);
    size_t n = buf ? fread(buf, 1, S_MAX_PEM + 1, fp) : 0;
    if (fp != stdin) {
        (void) fclose(fp);
    }
    if (buf == NULL || n == 0 || n > S_MAX_PEM) {
        fprintf(stderr, "obtctl: %s is empty or larger than %d bytes\n", path, S_MAX_PEM);
        free(buf);
        return NULL;
    }
    *ret_len = n;
    return buf;
}

static void
s_print(const ctl_opts_t *o, const Obt__Dots__TrustAnchorList *l, const char *verb)
{
    if (o->json) {
        printf("[");
        for (size_t i = 0; i < l->n_anchors; i++) {
            const Obt__Dots__TrustAnchor *a = l->anchors[i];
            printf("%s{\"id\":", i ? "," : "");
            ctl_json_str(stdout, a->id);
            printf(",\"subject\":");
            ctl_json_str(stdout, a->subject);
            printf(",\"not_after\":");
            ctl_json_str(stdout, a->not_after);
            printf(",\"credusage\":");
            ctl_json_str(stdout, a->credusage);
            printf("}");
        }
        printf("]\n");
        return;
    }
    if (verb) {
        printf("%s %zu manufacturer trust anchor(s)\n", verb, l->n_anchors);
    }
    if (l->n_anchors == 0) {
        if (verb == NULL) {
            printf("no manufacturer trust anchors (add one: obtctl mfg-trust add FILE.pem)\n");
        }
        return;
    }
    printf("%-16s  %-26s  %s\n", "ID", "NOT AFTER", "SUBJECT");
    for (size_t i = 0; i < l->n_anchors; i++) {
        const Obt__Dots__TrustAnchor *a = l->anchors[i];
        printf("%-16.16s  %-26s  %s\n", a->id, a->not_after, a->subject);
    }
}

int
ctl_cmd_mfg_trust(const ctl_opts_t *o, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub == NULL || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        s_usage(sub ? stdout : stderr);
        return sub ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__MfgTrustAdd add = OBT__DOTS__MFG_TRUST_ADD__INIT;
    Obt__Dots__MfgTrustList list = OBT__DOTS__MFG_TRUST_LIST__INIT;
    Obt__Dots__MfgTrustRemove rm = OBT__DOTS__MFG_TRUST_REMOVE__INIT;
    uint8_t *pem = NULL;
    const char *verb = NULL;
    if (strcmp(sub, "add") == 0 && argc == 3) {
        size_t len = 0;
        int rc = CTL_EXIT_FAILED;
        if ((pem = s_read(argv[2], &len, &rc)) == NULL) {
            return rc;
        }
        add.pem.data = pem;
        add.pem.len = len;
        req.body_case = OBT__DOTS__REQUEST__BODY_MFG_TRUST_ADD;
        req.mfg_trust_add = &add;
        verb = "added";
    } else if (strcmp(sub, "list") == 0 && argc == 2) {
        req.body_case = OBT__DOTS__REQUEST__BODY_MFG_TRUST_LIST;
        req.mfg_trust_list = &list;
    } else if ((strcmp(sub, "rm") == 0 || strcmp(sub, "remove") == 0) && argc == 3) {
        rm.id = argv[2];
        req.body_case = OBT__DOTS__REQUEST__BODY_MFG_TRUST_REMOVE;
        req.mfg_trust_remove = &rm;
        verb = "removed";
    } else {
        s_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    Obt__Dots__Reply *reply = NULL;
    int rc = ctl_dots(o, &req, 0, &reply);
    free(pem);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (reply->body_case != OBT__DOTS__REPLY__BODY_TRUST || reply->trust == NULL) {
        fprintf(stderr, "obtctl: unexpected reply from dots\n");
        obt__dots__reply__free_unpacked(reply, NULL);
        return CTL_EXIT_FAILED;
    }
    s_print(o, reply->trust, verb);
    obt__dots__reply__free_unpacked(reply, NULL);
    return CTL_EXIT_OK;
}
