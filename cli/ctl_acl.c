/* ctl_acl.c — obtctl acl, allow, deny: a device's ACEs through AMS (docs/ams.md). Each
 * change is a persisted AMS job; the answer is AMS's record after it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "ctl_main.h"
#include "obt/ams.pb-c.h"
#include "obt/common.pb-c.h"

#define S_ACL_USAGE                                                                                \
    "usage: obtctl acl UUID                       the device's ACEs, which AMS placed and why\n"   \
    "       obtctl acl add UUID --subject S --res R [--res R]... [--if IF] --perm P\n"             \
    "                          [--validity PERIOD]...\n"                                           \
    "       obtctl acl set UUID ACEID --subject S --res R... --perm P ...  change ACE ACEID\n"     \
    "       obtctl acl rm UUID ACEID\n"                                                            \
    "  S: uuid:UUID | role:NAME[@AUTHORITY] | conn:anon-clear | conn:auth-crypt\n"                 \
    "  R: /HREF | rt:TYPE | wc:* | wc:+ | wc:-   (--if applies to every R)\n"                      \
    "  P: CRUDN letters (\"RU\") or the 5-column form (\"-RU--\")\n"                               \
    "  PERIOD: RFC 5545 in UTC, START/END or START/DURATION (20260101T000000Z/P30D)\n"

/* ---------------------------------------------------------------- parsing */

static int
s_usage_err(const char *field, const char *value, const char *want)
{
    (void) fprintf(stderr, "obtctl: %s \"%s\": %s\n", field, value, want);
    return CTL_EXIT_USAGE;
}

static int
s_parse_subject(const char *s, cmn_ace_t *ace)
{
    if (strncmp(s, "uuid:", 5) == 0) {
        ace->subject_kind = CMN_ACE_SUBJECT_UUID;
        return cmn_uuid_from_str(s + 5, &ace->subject_uuid) == CMN_OK
                       ? 0
                       : s_usage_err("--subject", s, "uuid: needs a UUID");
    }
    if (strncmp(s, "role:", 5) == 0) {
        const char *at = strchr(s + 5, '@');
        size_t n = at ? (size_t) (at - s - 5) : strlen(s + 5);
        if (n == 0 || n >= sizeof ace->role ||
            (at && (at[1] == '\0' || strlen(at + 1) >= sizeof ace->authority))) {
            return s_usage_err("--subject", s, "role:NAME[@AUTHORITY], each 1..63 characters");
        }
        ace->subject_kind = CMN_ACE_SUBJECT_ROLE;
        (void) snprintf(ace->role, sizeof ace->role, "%.*s", (int) n, s + 5);
        (void) snprintf(ace->authority, sizeof ace->authority, "%s", at ? at + 1 : "");
        return 0;
    }
    if (strcmp(s, "conn:anon-clear") == 0 || strcmp(s, "conn:auth-crypt") == 0) {
        ace->subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
        ace->conntype = strcmp(s, "conn:anon-clear") == 0 ? CMN_CONNTYPE_ANON_CLEAR
                                                          : CMN_CONNTYPE_AUTH_CRYPT;
        return 0;
    }
    return s_usage_err("--subject", s,
                       "want uuid:UUID, role:NAME[@AUTHORITY], conn:anon-clear or conn:auth-crypt");
}

static int
s_parse_res(const char *s, cmn_ace_res_t *r)
{
    memset(r, 0, sizeof *r);
    if (s[0] == '/') {
        if (strlen(s) >= sizeof r->href) {
            return s_usage_err("--res", s, "href longer than 63 characters");
        }
        (void) snprintf(r->href, sizeof r->href, "%s", s);
        return 0;
    }
    if (strncmp(s, "rt:", 3) == 0) {
        if (s[3] == '\0' || strlen(s + 3) >= sizeof r->rt[0]) {
            return s_usage_err("--res", s, "rt: needs a resource type (1..47 characters)");
        }
        (void) snprintf(r->rt[0], sizeof r->rt[0], "%s", s + 3);
        r->n_rt = 1;
        return 0;
    }
    if (strcmp(s, "wc:*") == 0 || strcmp(s, "wc:+") == 0 || strcmp(s, "wc:-") == 0) {
        (void) snprintf(r->wc, sizeof r->wc, "%s", s + 3);
        return 0;
    }
    return s_usage_err("--res", s, "want /HREF, rt:TYPE, wc:*, wc:+ or wc:-");
}

/* CRUDN letters in any order, or the 5-column "CRUDN" form with '-' for absent. */
static int
s_parse_perm(const char *s, int64_t *ret)
{
    static const char letters[] = "CRUDN";
    int64_t v = 0;
    size_t n = strlen(s);
    bool is_columns = n == 5 && strchr(s, '-') != NULL;
    for (size_t i = 0; i < n; i++) {
        const char *at = strchr(letters, s[i]);
        if (is_columns) {
            if (s[i] != '-' && s[i] != letters[i]) {
                return s_usage_err("--perm", s, "5-column form is CRUDN with - for absent");
            }
            v |= s[i] == '-' ? 0 : (int64_t) 1 << i;
        } else if (at == NULL || s[i] == '\0') {
            return s_usage_err("--perm", s, "want letters of CRUDN (e.g. RU) or -RU--");
        } else {
            v |= (int64_t) 1 << (at - letters);
        }
    }
    if (n == 0) {
        return s_usage_err("--perm", s, "want letters of CRUDN (e.g. RU) or -RU--");
    }
    *ret = v;
    return 0;
}

/* --subject/--res/--if/--perm/--validity from argv, which holds n_pos arguments
 * besides them after argv[0] (getopt moves those to the end). */
static int
s_parse_ace(int argc, char **argv, int n_pos, cmn_ace_t *ace, bool need_subject)
{
    static const struct option opts[] = {
            {"subject", required_argument, NULL, 's'},  {"res", required_argument, NULL, 'r'},
            {"if", required_argument, NULL, 'i'},       {"perm", required_argument, NULL, 'p'},
            {"validity", required_argument, NULL, 'v'}, {NULL, 0, NULL, 0}};
    bool has_subject = !need_subject, has_perm = false;
    const char *iface = NULL;
    int c;
    memset(ace, 0, sizeof *ace);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 's':
            rc = s_parse_subject(optarg, ace);
            has_subject = true;
            break;
        case 'r':
            if (ace->n_resources >= CMN_ACE_MAX_RES) {
                return s_usage_err("--res", optarg, "at most 16 resources");
            }
            rc = s_parse_res(optarg, &ace->resources[ace->n_resources++]);
            break;
        case 'i':
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof ace->resources[0].ifs[0]) {
                return s_usage_err("--if", optarg, "an interface name (1..47 characters)");
            }
            iface = optarg;
            break;
        case 'p':
            rc = s_parse_perm(optarg, &ace->permission);
            has_perm = true;
            break;
        case 'v':
            if (ace->n_validity >= CMN_ACE_MAX_VALIDITY || strchr(optarg, '/') == NULL ||
                strlen(optarg) >= sizeof ace->validity[0]) {
                return s_usage_err("--validity", optarg,
                                   "START/END or START/DURATION (RFC 5545, UTC), at most 4");
            }
            (void) snprintf(ace->validity[ace->n_validity++], sizeof ace->validity[0], "%s",
                            optarg);
            break;
        default:
            (void) fprintf(stderr, "%s", S_ACL_USAGE);
            return CTL_EXIT_USAGE;
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (argc - optind != n_pos) {
        return s_usage_err("argument", optind < argc ? argv[argc - 1] : "",
                           "unexpected (or one missing)");
    }
    if (!has_subject || ace->n_resources == 0 || !has_perm) {
        (void) fprintf(stderr, "obtctl: %s is required\n%s",
                       !has_subject            ? "--subject"
                       : ace->n_resources == 0 ? "--res"
                                               : "--perm",
                       S_ACL_USAGE);
        return CTL_EXIT_USAGE;
    }
    for (size_t i = 0; iface && i < ace->n_resources; i++) {
        (void) snprintf(ace->resources[i].ifs[0], sizeof ace->resources[i].ifs[0], "%s", iface);
        ace->resources[i].n_ifs = 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- printing */

static void
s_perm_str(int64_t p, char out[6])
{
    static const char letters[] = "CRUDN";
    for (int i = 0; i < 5; i++) {
        out[i] = (char) ((p >> i) & 1 ? letters[i] : '-');
    }
    out[5] = '\0';
}

static void
s_subject_str(const cmn_ace_t *a, char *out, size_t cap)
{
    char u[CMN_UUID_STR_LEN + 1];
    if (a->subject_kind == CMN_ACE_SUBJECT_UUID) {
        cmn_uuid_to_str(&a->subject_uuid, u);
        (void) snprintf(out, cap, "uuid:%s", u);
    } else if (a->subject_kind == CMN_ACE_SUBJECT_ROLE) {
        (void) snprintf(out, cap, "role:%s%s%s", a->role, a->authority[0] ? "@" : "", a->authority);
    } else {
        (void) snprintf(out, cap, "conn:%s",
                        a->conntype == CMN_CONNTYPE_ANON_CLEAR ? "anon-clear" : "auth-crypt");
    }
}

static void
s_res_str(const cmn_ace_t *a, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->n_resources && used < cap; i++) {
        const cmn_ace_res_t *r = &a->resources[i];
        int n = snprintf(out + used, cap - used, "%s%s%s%s%s%s%s", i ? "," : "", r->href,
                         r->wc[0] ? "wc:" : "", r->wc, r->n_rt ? "rt:" : "",
                         r->n_rt ? r->rt[0] : "", r->n_ifs ? "|if:" : "");
        used += n > 0 ? (size_t) n : 0;
        if (r->n_ifs && used < cap) {
            n = snprintf(out + used, cap - used, "%s", r->ifs[0]);
            used += n > 0 ? (size_t) n : 0;
        }
    }
}

static const Obt__AmsPlacedAce *
s_placed(const Obt__ServiceDevice *d, int64_t aceid)
{
    for (size_t i = 0; i < d->n_ams_placed; i++) {
        if (d->ams_placed[i]->aceid == (uint32_t) aceid) {
            return d->ams_placed[i];
        }
    }
    return NULL;
}

/* Why an ACE is there, as far as AMS knows. */
static const char *
s_why(const Obt__ServiceDevice *d, const cmn_ace_t *a)
{
    const Obt__AmsPlacedAce *p = s_placed(d, a->aceid);
    if (p) {
        return p->origin;
    }
    for (size_t i = 0; i < d->n_aceids; i++) {
        if (d->aceids[i] == (uint32_t) a->aceid) {
            return "baseline";
        }
    }
    return "-";
}

static int
s_print(const ctl_opts_t *o, const char *uuid, const Obt__ServiceDevice *d)
{
    cmn_acl_t acl;
    if (cmn_acl_decode(d->ams_device_acl.data, d->ams_device_acl.len, &acl) != CMN_OK) {
        (void) fprintf(stderr, "obtctl: AMS's answer holds no readable acl2 of %s\n", uuid);
        return CTL_EXIT_FAILED;
    }
    if (o->json) {
        printf("[");
    } else {
        printf("%-6s %-46s %-5s %-10s %s\n", "ACEID", "SUBJECT", "PERM", "PLACED BY", "RESOURCES");
    }
    for (size_t i = 0; i < acl.n_aces; i++) {
        const cmn_ace_t *a = &acl.aces[i];
        char subj[160], res[600], perm[6];
        s_subject_str(a, subj, sizeof subj);
        s_res_str(a, res, sizeof res);
        s_perm_str(a->permission, perm);
        const char *why = s_why(d, a);
        if (o->json) {
            printf("%s\n{\"aceid\":%lld,\"subject\":", i ? "," : "", (long long) a->aceid);
            ctl_json_str(stdout, subj);
            printf(",\"perm\":\"%s\",\"resources\":", perm);
            ctl_json_str(stdout, res);
            printf(",\"placed_by_ams\":%s,\"why\":", strcmp(why, "-") != 0 ? "true" : "false");
            ctl_json_str(stdout, why);
            printf("}");
        } else {
            printf("%-6lld %-46s %-5s %-10s %s%s%s\n", (long long) a->aceid, subj, perm,
                   strcmp(why, "-") == 0 ? "-" : "AMS", res, strcmp(why, "-") ? "  # " : "",
                   strcmp(why, "-") ? why : "");
        }
    }
    printf(o->json ? "]\n" : "");
    cmn_acl_free(&acl);
    return CTL_EXIT_OK;
}

/* ---------------------------------------------------------------- calls */

/* Sends req to AMS and prints the device's ACL from the answer (quiet: nothing on
 * success). */
static int
s_call(const ctl_opts_t *o, Obt__Ams__Request *req, const char *uuid, bool quiet)
{
    uint8_t *data = NULL;
    size_t len = 0;
    req->corr_id = cmn_bus_next_corr_id();
    int rc = ctl_call(o, CTL_AMS, &req->base, req->corr_id, 0, &data, &len);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    Obt__ServiceReply *r = obt__service_reply__unpack(NULL, len, data);
    free(data);
    if (r == NULL) {
        (void) fprintf(stderr, "obtctl: unreadable answer from obt-ams\n");
        return CTL_EXIT_FAILED;
    }
    if (r->status != OBT__STATUS__STATUS_OK || r->body_case != OBT__SERVICE_REPLY__BODY_SHOW) {
        cmn_err_t err = cmn_err_from_status(r->status);
        (void) fprintf(stderr, "obtctl: obt-ams: %s\n", r->error[0] ? r->error : cmn_strerror(err));
        rc = err == CMN_ENOTFOUND   ? CTL_EXIT_NOTFOUND
             : err == CMN_EINVAL    ? CTL_EXIT_USAGE
             : err == CMN_ETIMEDOUT ? CTL_EXIT_TIMEOUT
                                    : CTL_EXIT_FAILED;
    } else if (!quiet) {
        rc = s_print(o, uuid, r->show);
    }
    obt__service_reply__free_unpacked(r, NULL);
    return rc;
}

static int
s_encode(cmn_ace_t *ace, ProtobufCBinaryData *out)
{
    cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2, .aces = ace, .n_aces = 1};
    if (cmn_acl_encode(&acl, &out->data, &out->len) != CMN_OK) {
        (void) fprintf(stderr, "obtctl: cannot encode the ACE\n");
        return CTL_EXIT_FAILED;
    }
    return 0;
}

static int
s_check_uuid(const char *what, const char *s)
{
    cmn_uuid_t u;
    return cmn_uuid_from_str(s, &u) == CMN_OK ? 0 : s_usage_err(what, s, "not a UUID");
}

static int
s_add(const ctl_opts_t *o, const char *uuid, cmn_ace_t *ace, const char *origin)
{
    Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
    Obt__Ams__AclAdd add = OBT__AMS__ACL_ADD__INIT;
    add.device_uuid = CMN_PB_STR(uuid);
    add.origin = CMN_PB_STR(origin);
    if (s_encode(ace, &add.ace) != 0) {
        return CTL_EXIT_FAILED;
    }
    req.body_case = OBT__AMS__REQUEST__BODY_ACL_ADD;
    req.acl_add = &add;
    int rc = s_call(o, &req, uuid, false);
    free(add.ace.data);
    return rc;
}

static int
s_aceid(const char *s, uint32_t *ret)
{
    char *end = NULL;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v == 0 || v > INT32_MAX) {
        return s_usage_err("ACEID", s, "a number from 1");
    }
    *ret = (uint32_t) v;
    return 0;
}

int
ctl_cmd_acl(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        printf("%s", S_ACL_USAGE);
        return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    }
    Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
    const char *sub = argv[1];
    cmn_ace_t ace;
    int rc;
    if (strcmp(sub, "add") == 0 || strcmp(sub, "set") == 0) {
        bool is_set = strcmp(sub, "set") == 0;
        int first = is_set ? 4 : 3;
        const char *uuid = argc > 2 ? argv[2] : ""; /* before getopt moves them */
        uint32_t aceid = 0;
        if (argc < first || (rc = s_check_uuid("UUID", argv[2])) != 0 ||
            (is_set && (rc = s_aceid(argv[3], &aceid)) != 0)) {
            return argc < first ? (fprintf(stderr, "%s", S_ACL_USAGE), CTL_EXIT_USAGE) : rc;
        }
        if ((rc = s_parse_ace(argc, argv, first - 1, &ace, true)) != 0) {
            return rc;
        }
        if (!is_set) {
            return s_add(o, uuid, &ace, "operator");
        }
        Obt__Ams__AclSet set = OBT__AMS__ACL_SET__INIT;
        set.device_uuid = CMN_PB_STR(uuid);
        set.aceid = aceid;
        if (s_encode(&ace, &set.ace) != 0) {
            return CTL_EXIT_FAILED;
        }
        req.body_case = OBT__AMS__REQUEST__BODY_ACL_SET;
        req.acl_set = &set;
        rc = s_call(o, &req, uuid, false);
        free(set.ace.data);
        return rc;
    }
    if (strcmp(sub, "rm") == 0) {
        Obt__Ams__AclRemove rm = OBT__AMS__ACL_REMOVE__INIT;
        if (argc != 4) {
            (void) fprintf(stderr, "%s", S_ACL_USAGE);
            return CTL_EXIT_USAGE;
        }
        if ((rc = s_check_uuid("UUID", argv[2])) != 0 || (rc = s_aceid(argv[3], &rm.aceid)) != 0) {
            return rc;
        }
        rm.device_uuid = argv[2];
        req.body_case = OBT__AMS__REQUEST__BODY_ACL_REMOVE;
        req.acl_remove = &rm;
        return s_call(o, &req, argv[2], false);
    }
    if (argc != 2 || (rc = s_check_uuid("UUID", sub)) != 0) {
        return argc != 2 ? (fprintf(stderr, "%s", S_ACL_USAGE), CTL_EXIT_USAGE) : rc;
    }
    Obt__Ams__AclRead rd = OBT__AMS__ACL_READ__INIT;
    rd.device_uuid = CMN_PB_STR(sub);
    req.body_case = OBT__AMS__REQUEST__BODY_ACL_READ;
    req.acl_read = &rd;
    return s_call(o, &req, sub, false);
}

#define S_ALLOW_USAGE                                                                              \
    "usage: obtctl allow A B --res R [--res R]... --perm P [--if IF] [--validity PERIOD]\n"        \
    "An ACE on device B whose subject is device A (A reaches B over its pairwise\n"                \
    "credential). R and P as in `obtctl acl --help`.\n"
#define S_DENY_USAGE                                                                               \
    "usage: obtctl deny A B\n"                                                                     \
    "Removes from device B every ACE AMS placed there whose subject is device A.\n"

int
ctl_cmd_allow(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc < 3 || argv[1][0] == '-') {
        printf("%s", S_ALLOW_USAGE);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    int rc;
    if ((rc = s_check_uuid("A", argv[1])) != 0 || (rc = s_check_uuid("B", argv[2])) != 0) {
        return rc;
    }
    cmn_ace_t ace;
    const char *a = argv[1], *b = argv[2]; /* before getopt moves them */
    if ((rc = s_parse_ace(argc, argv, 2, &ace, false)) != 0) {
        return rc;
    }
    ace.subject_kind = CMN_ACE_SUBJECT_UUID;
    (void) cmn_uuid_from_str(a, &ace.subject_uuid);
    return s_add(o, b, &ace, "allow");
}

int
ctl_cmd_deny(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc != 3 || argv[1][0] == '-') {
        printf("%s", S_DENY_USAGE);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    int rc;
    if ((rc = s_check_uuid("A", argv[1])) != 0 || (rc = s_check_uuid("B", argv[2])) != 0) {
        return rc;
    }
    Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
    Obt__Ams__AclDeny deny = OBT__AMS__ACL_DENY__INIT;
    deny.device_uuid = argv[2];
    deny.subject_uuid = argv[1];
    req.body_case = OBT__AMS__REQUEST__BODY_ACL_DENY;
    req.acl_deny = &deny;
    return s_call(o, &req, argv[2], false);
}
