/* ctl_acl.c — obtctl acl, allow, deny: a device's ACEs through AMS (docs/ams.md). Each
 * change is a persisted AMS job; the answer is AMS's record after it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_ace_text.h"
#include "cmn_svr.h"
#include "cmn_time.h"
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
    "       obtctl acl apply UUID|--all [--in-flight N]   make the policy's ACEs so\n"             \
    "       obtctl acl diff UUID|--all [--in-flight N]    what apply would change\n"               \
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

/* A field parsed by cmn_ace_text (the one parser of ACE text; the policy file of
 * obt-ams uses it too): 0, or the usage error naming the field. */
static int
s_field(const char *field, const char *value, cmn_err_t err, const char *why)
{
    return err == CMN_OK ? 0 : s_usage_err(field, value, why);
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
    char why[160];
    cmn_err_t err;
    int c;
    memset(ace, 0, sizeof *ace);
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 's':
            err = cmn_ace_text_subject(optarg, ace, why, sizeof why);
            rc = s_field("--subject", optarg, err, why);
            has_subject = true;
            break;
        case 'r':
            if (ace->n_resources >= CMN_ACE_MAX_RES) {
                return s_usage_err("--res", optarg, "at most 16 resources");
            }
            err = cmn_ace_text_res(optarg, &ace->resources[ace->n_resources++], why, sizeof why);
            rc = s_field("--res", optarg, err, why);
            break;
        case 'i':
            err = cmn_ace_text_if(optarg, why, sizeof why);
            rc = s_field("--if", optarg, err, why);
            iface = optarg;
            break;
        case 'p':
            err = cmn_ace_text_perm(optarg, &ace->permission, why, sizeof why);
            rc = s_field("--perm", optarg, err, why);
            has_perm = true;
            break;
        case 'v':
            err = cmn_ace_text_validity(optarg, ace, why, sizeof why);
            rc = s_field("--validity", optarg, err, why);
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
    cmn_ace_text_set_if(ace, iface);
    return 0;
}

/* ---------------------------------------------------------------- printing */

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
        cmn_ace_text_subject_str(a, subj, sizeof subj);
        cmn_ace_text_res_str(a, res, sizeof res);
        cmn_ace_text_perm_str(a->permission, perm);
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

/* ---------------------------------------------------------------- apply, diff */

typedef struct {
    size_t n_devices, n_added, n_removed, n_failed;
    bool is_json;   /* --json: one object, the lines as the elements of "changes" */
    size_t n_items; /* elements printed so far (JSON commas) */
} s_apply_sum_t;

/* A JSON element of "changes" starts: the comma and the device. */
static void
s_json_item(s_apply_sum_t *sum, const char *uuid)
{
    printf("%s\n{\"device\":\"%s\",", sum->n_items++ ? "," : "", uuid);
}

static void
s_plan_lines(s_apply_sum_t *sum, const char *uuid, char sign, Obt__AmsPlacedAce **ents, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cmn_ace_t a;
        cmn_acl_t acl;
        if (cmn_acl_decode(ents[i]->ace.data, ents[i]->ace.len, &acl) != CMN_OK) {
            continue;
        }
        if (acl.n_aces == 1) {
            char subj[160], res[600], perm[6];
            a = acl.aces[0];
            cmn_ace_text_subject_str(&a, subj, sizeof subj);
            cmn_ace_text_res_str(&a, res, sizeof res);
            cmn_ace_text_perm_str(a.permission, perm);
            if (sum->is_json) {
                s_json_item(sum, uuid);
                printf("\"change\":\"%s\",\"aceid\":%u,\"subject\":",
                       sign == '+' ? "add" : "remove", ents[i]->aceid);
                ctl_json_str(stdout, subj);
                printf(",\"perm\":\"%s\",\"resources\":", perm);
                ctl_json_str(stdout, res);
                printf("}");
            } else {
                printf("%s %c %-5u %-46s %-5s %s\n", uuid, sign, ents[i]->aceid, subj, perm, res);
            }
        }
        cmn_acl_free(&acl);
    }
}

/* One device's answer to an apply/diff: its lines, counted in sum. */
static void
s_apply_answer(const uint8_t *data, size_t len, const char *uuid, s_apply_sum_t *sum)
{
    Obt__ServiceReply *r = obt__service_reply__unpack(NULL, len, data);
    sum->n_devices++;
    if (r == NULL || r->status != OBT__STATUS__STATUS_OK ||
        r->body_case != OBT__SERVICE_REPLY__BODY_SHOW) {
        const char *why = r == NULL     ? "unreadable answer"
                          : r->error[0] ? r->error
                                        : cmn_strerror(cmn_err_from_status(r->status));
        if (sum->is_json) {
            s_json_item(sum, uuid);
            printf("\"error\":");
            ctl_json_str(stdout, why);
            printf("}");
        } else {
            (void) fprintf(stderr, "obtctl: %s: obt-ams: %s\n", uuid, why);
        }
        sum->n_failed++;
    } else {
        s_plan_lines(sum, uuid, '+', r->show->ams_plan_add, r->show->n_ams_plan_add);
        s_plan_lines(sum, uuid, '-', r->show->ams_plan_remove, r->show->n_ams_plan_remove);
        sum->n_added += r->show->n_ams_plan_add;
        sum->n_removed += r->show->n_ams_plan_remove;
    }
    if (r) {
        obt__service_reply__free_unpacked(r, NULL);
    }
}

static cmn_err_t
s_send_apply(cmn_bus_client_t *c, const char *uuid, bool is_dry, uint64_t *ret_corr)
{
    Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
    Obt__Ams__AclApply ap = OBT__AMS__ACL_APPLY__INIT;
    ap.device_uuid = CMN_PB_STR(uuid);
    ap.dry_run = is_dry;
    req.corr_id = cmn_bus_next_corr_id();
    req.body_case = OBT__AMS__REQUEST__BODY_ACL_APPLY;
    req.acl_apply = &ap;
    cmn_err_t err = cmn_bus_client_send_pb(c, &req.base);
    if (err == CMN_OK) {
        *ret_corr = req.corr_id;
    }
    return err;
}

/* AMS's provisioned devices (uuids malloc'd, 37 bytes each). Exit code. */
static int
s_ams_devices(const ctl_opts_t *o, char (**ret)[37], size_t *ret_n)
{
    Obt__ServiceRequest req = OBT__SERVICE_REQUEST__INIT;
    Obt__ListDevices l = OBT__LIST_DEVICES__INIT;
    uint8_t *data = NULL;
    size_t len = 0;
    req.corr_id = cmn_bus_next_corr_id();
    req.body_case = OBT__SERVICE_REQUEST__BODY_LIST;
    req.list = &l;
    int rc = ctl_call(o, CTL_AMS, &req.base, req.corr_id, 0, &data, &len);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    Obt__ServiceReply *r = obt__service_reply__unpack(NULL, len, data);
    free(data);
    if (r == NULL || r->body_case != OBT__SERVICE_REPLY__BODY_LIST) {
        (void) fprintf(stderr, "obtctl: obt-ams: %s\n",
                       r && r->error[0] ? r->error : "unreadable device list");
        if (r) {
            obt__service_reply__free_unpacked(r, NULL);
        }
        return CTL_EXIT_FAILED;
    }
    char(*uuids)[37] = calloc(r->list->n_devices + 1, sizeof *uuids);
    size_t n = 0;
    for (size_t i = 0; uuids && i < r->list->n_devices; i++) {
        const Obt__ServiceDevice *d = r->list->devices[i];
        if (d->state && strcmp(d->state, "provisioned") == 0) {
            (void) snprintf(uuids[n++], sizeof uuids[0], "%s", d->device_uuid);
        }
    }
    obt__service_reply__free_unpacked(r, NULL);
    if (uuids == NULL) {
        return CTL_EXIT_FAILED;
    }
    *ret = uuids;
    *ret_n = n;
    return CTL_EXIT_OK;
}

/* apply / diff of uuids (n), at most in_flight at a time over one link to AMS. */
static int
s_apply_many(const ctl_opts_t *o, char (*uuids)[37], size_t n, bool is_dry, int in_flight)
{
    cmn_err_t err = CMN_OK;
    cmn_bus_client_t *c = cmn_bus_client_new(o->ep[CTL_AMS], o->keys_dir, o->key, "ams", &err);
    if (c == NULL) {
        (void) fprintf(stderr, "obtctl: cannot set up the link to ams (%s): %s\n", o->ep[CTL_AMS],
                       cmn_strerror(err));
        return err == CMN_ENOTFOUND ? CTL_EXIT_CONFIG : CTL_EXIT_TIMEOUT;
    }
    uint64_t *corr = calloc(n + 1, sizeof *corr);
    zpoller_t *poller = zpoller_new(cmn_bus_client_sock(c), NULL);
    s_apply_sum_t sum = {.is_json = o->json};
    size_t next = 0, waiting = 0;
    if (sum.is_json) {
        printf("{\"op\":\"%s\",\"changes\":[", is_dry ? "diff" : "apply");
    }
    uint64_t quiet_since = cmn_time_mono_ms();
    int rc = CTL_EXIT_OK;
    while (corr && poller && (next < n || waiting > 0)) {
        while (next < n && waiting < (size_t) in_flight) {
            if (s_send_apply(c, uuids[next], is_dry, &corr[next]) != CMN_OK) {
                break; /* the queue is full: after some answers */
            }
            next++;
            waiting++;
        }
        (void) zpoller_wait(poller, 200);
        uint8_t *data = NULL;
        size_t len = 0;
        while (cmn_bus_client_recv(c, &data, &len) == CMN_OK) {
            uint64_t id = cmn_bus_peek_corr_id(data, len);
            for (size_t i = 0; i < next; i++) {
                if (corr[i] == id && id != 0) {
                    s_apply_answer(data, len, uuids[i], &sum);
                    corr[i] = 0;
                    waiting--;
                    quiet_since = cmn_time_mono_ms();
                    break;
                }
            }
            cmn_bus_free(data, len);
        }
        if (zpoller_terminated(poller) ||
            cmn_time_mono_ms() - quiet_since > (uint64_t) o->timeout_ms) {
            (void) fprintf(stderr, "obtctl: no answer from obt-ams for %d ms (%zu waiting)\n",
                           o->timeout_ms, waiting);
            rc = CTL_EXIT_TIMEOUT;
            break;
        }
    }
    zpoller_destroy(&poller);
    free(corr);
    cmn_bus_client_destroy(&c);
    if (sum.is_json) {
        printf("],\"devices\":%zu,\"%s\":%zu,\"%s\":%zu,\"failed\":%zu,\"unanswered\":%zu}\n",
               sum.n_devices, is_dry ? "to_add" : "added", sum.n_added,
               is_dry ? "to_remove" : "removed", sum.n_removed, sum.n_failed, waiting);
    } else {
        printf("%s: %zu device(s), %zu ACE(s) %s, %zu %s, %zu failed\n", is_dry ? "diff" : "apply",
               sum.n_devices, sum.n_added, is_dry ? "to add" : "added", sum.n_removed,
               is_dry ? "to remove" : "removed", sum.n_failed);
    }
    return rc != CTL_EXIT_OK ? rc : sum.n_failed > 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

static int
s_cmd_apply(const ctl_opts_t *o, int argc, char **argv)
{
    bool is_dry = strcmp(argv[1], "diff") == 0, is_all = false;
    int in_flight = 32;
    const char *uuid = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0) {
            is_all = true;
        } else if (strcmp(argv[i], "--in-flight") == 0 && i + 1 < argc) {
            char *end = NULL;
            long v = strtol(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || v < 1 || v > 1024) {
                return s_usage_err("--in-flight", argv[i], "a number from 1 to 1024");
            }
            in_flight = (int) v;
        } else if (argv[i][0] != '-' && uuid == NULL) {
            uuid = argv[i];
        } else {
            return s_usage_err("argument", argv[i], "want UUID or --all [--in-flight N]");
        }
    }
    int rc;
    if (is_all == (uuid != NULL)) {
        (void) fprintf(stderr, "obtctl: acl %s: give one UUID or --all\n%s", argv[1], S_ACL_USAGE);
        return CTL_EXIT_USAGE;
    }
    if (uuid) {
        char one[1][37];
        if ((rc = s_check_uuid("UUID", uuid)) != 0) {
            return rc;
        }
        (void) snprintf(one[0], sizeof one[0], "%s", uuid);
        return s_apply_many(o, one, 1, is_dry, 1);
    }
    char(*uuids)[37] = NULL;
    size_t n = 0;
    if ((rc = s_ams_devices(o, &uuids, &n)) != CTL_EXIT_OK) {
        return rc;
    }
    rc = s_apply_many(o, uuids, n, is_dry, in_flight);
    free(uuids);
    return rc;
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
    if (strcmp(sub, "apply") == 0 || strcmp(sub, "diff") == 0) {
        return s_cmd_apply(o, argc, argv);
    }
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
