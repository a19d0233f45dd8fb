/* ctl_group.c — obtctl group create|add|rm|rekey|delete and groups: SSM groups through
 * obt-cms (seed 6.4, docs/cms.md "SSM groups"). Every change is a persisted CMS job per
 * member; the answer is the group after them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_uuid.h"
#include "ctl_main.h"

#define S_GROUP_USAGE                                                                              \
    "usage: obtctl group create NAME --client UUID --servers U1[,U2...] [--subject UUID]\n"        \
    "                           [--desc TEXT]   an SSM group: credtype 128 at the client,\n"       \
    "                           256 at each server, one fresh 256-bit master secret\n"             \
    "       obtctl group add NAME UUID      a server joins\n"                                      \
    "       obtctl group rm NAME UUID       a server leaves (its entry removed)\n"                 \
    "       obtctl group rekey NAME         a new master secret on every member\n"                 \
    "       obtctl group delete NAME        every entry removed, the group deleted\n"              \
    "       obtctl [--json] groups [NAME]   CMS's groups\n"                                        \
    "NAME: 1 to 32 of A-Z a-z 0-9 . _ -; every device managed by CMS (RFNOP) with SSM\n"           \
    "support in its doxm sct (128 client, 256 server)\n"

/* One job per member, each a few requests: more than one request's --timeout. */
#define S_JOB_TIMEOUT_FACTOR 12
#define S_MAX_SERVERS        64

static int
s_usage(int argc, char **argv)
{
    bool is_help = argc >= 2 && strcmp(argv[1], "--help") == 0;
    (void) fprintf(is_help ? stdout : stderr, "%s", S_GROUP_USAGE);
    return is_help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

static bool
s_is_uuid(const char *what, const char *s)
{
    cmn_uuid_t u;
    if (cmn_uuid_from_str(s, &u) != CMN_OK) {
        (void) fprintf(stderr, "obtctl: %s \"%s\": not a UUID\n", what, s);
        return false;
    }
    return true;
}

static void
s_print(const ctl_opts_t *o, const Obt__Cms__GroupInfo *g, bool is_first)
{
    if (o->json) {
        printf("%s{\"name\":", is_first ? "" : ",");
        ctl_json_str(stdout, g->name);
        printf(",\"id\":");
        ctl_json_str(stdout, g->id);
        printf(",\"subject\":");
        ctl_json_str(stdout, g->subject);
        printf(",\"desc\":");
        ctl_json_str(stdout, g->desc);
        printf(",\"state\":");
        ctl_json_str(stdout, g->state);
        printf(",\"secret_version\":%u,\"updated_ms\":%llu,\"members\":[", g->secret_version,
               (unsigned long long) g->updated_ms);
        for (size_t i = 0; i < g->n_members; i++) {
            const Obt__Cms__GroupMemberInfo *m = g->members[i];
            printf("%s{\"uuid\":", i ? "," : "");
            ctl_json_str(stdout, m->uuid);
            printf(",\"role\":\"%s\",\"credid\":%lld,\"leaving\":%s}", m->role,
                   (long long) m->credid, m->is_leaving ? "true" : "false");
        }
        printf("],\"error\":");
        ctl_json_str(stdout, g->error);
        printf("}");
        return;
    }
    printf("%-20s  %-14s  %-9s  v%-3u  subject %s  \"%s\"%s%s\n", g->name, g->id[0] ? g->id : "-",
           g->state, g->secret_version, g->subject, g->desc, g->error[0] ? "  # " : "", g->error);
    for (size_t i = 0; i < g->n_members; i++) {
        const Obt__Cms__GroupMemberInfo *m = g->members[i];
        printf("    %-6s  %s  credid %lld%s\n", m->role, m->uuid, (long long) m->credid,
               m->is_leaving ? "  (leaving)" : "");
    }
}

static int
s_call(const ctl_opts_t *o, Obt__Cms__Request *req)
{
    Obt__Cms__Reply *r = NULL;
    int rc = ctl_cms(o, req, S_JOB_TIMEOUT_FACTOR * o->timeout_ms, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (r->body_case == OBT__CMS__REPLY__BODY_GROUP) {
        s_print(o, r->group, true);
        printf(o->json ? "\n" : "");
    }
    obt__cms__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

/* --servers U1,U2,...: split in place into servers (at most S_MAX_SERVERS). */
static int
s_servers(char *list, char **servers, size_t *n)
{
    char *save = NULL;
    *n = 0;
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (*n == S_MAX_SERVERS) {
            (void) fprintf(stderr, "obtctl: --servers: at most %d\n", S_MAX_SERVERS);
            return CTL_EXIT_USAGE;
        }
        if (!s_is_uuid("--servers", u)) {
            return CTL_EXIT_USAGE;
        }
        servers[(*n)++] = u;
    }
    return CTL_EXIT_OK;
}

static int
s_create(const ctl_opts_t *o, int argc, char **argv)
{
    Obt__Cms__GroupCreate c = OBT__CMS__GROUP_CREATE__INIT;
    char *servers[S_MAX_SERVERS];
    int rc = CTL_EXIT_OK;
    if (argc < 3 || argv[2][0] == '-') {
        return s_usage(argc, argv);
    }
    c.name = argv[2];
    for (int i = 3; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            (void) fprintf(stderr, "obtctl: %s needs a value\n", argv[i]);
            return CTL_EXIT_USAGE;
        }
        if (strcmp(argv[i], "--client") == 0 && s_is_uuid("--client", v)) {
            c.client = (char *) (uintptr_t) v;
        } else if (strcmp(argv[i], "--servers") == 0) {
            if ((rc = s_servers(argv[i + 1], servers, &c.n_servers)) != CTL_EXIT_OK) {
                return rc;
            }
            c.servers = servers;
        } else if (strcmp(argv[i], "--subject") == 0 && s_is_uuid("--subject", v)) {
            c.subject = (char *) (uintptr_t) v;
        } else if (strcmp(argv[i], "--desc") == 0) {
            c.desc = (char *) (uintptr_t) v;
        } else {
            return s_usage(argc, argv);
        }
    }
    if (c.client[0] == '\0' || c.n_servers == 0) {
        (void) fprintf(stderr, "obtctl: group create needs --client and --servers (a group has "
                               "a client and at least one server)\n");
        return CTL_EXIT_USAGE;
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    req.body_case = OBT__CMS__REQUEST__BODY_GROUP_CREATE;
    req.group_create = &c;
    return s_call(o, &req);
}

int
ctl_cmd_group(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct {
        const char *name;
        Obt__Cms__GroupChange__Op op;
        bool has_device;
    } ops[] = {{"add", OBT__CMS__GROUP_CHANGE__OP__OP_ADD, true},
               {"rm", OBT__CMS__GROUP_CHANGE__OP__OP_RM, true},
               {"rekey", OBT__CMS__GROUP_CHANGE__OP__OP_REKEY, false},
               {"delete", OBT__CMS__GROUP_CHANGE__OP__OP_DELETE, false}};
    if (argc >= 2 && strcmp(argv[1], "create") == 0) {
        return s_create(o, argc, argv);
    }
    for (size_t i = 0; argc >= 2 && i < sizeof ops / sizeof ops[0]; i++) {
        if (strcmp(argv[1], ops[i].name) != 0) {
            continue;
        }
        if (argc != (ops[i].has_device ? 4 : 3) || argv[2][0] == '-') {
            return s_usage(argc, argv);
        }
        if (ops[i].has_device && !s_is_uuid("UUID", argv[3])) {
            return CTL_EXIT_USAGE;
        }
        Obt__Cms__GroupChange ch = OBT__CMS__GROUP_CHANGE__INIT;
        ch.name = argv[2];
        ch.op = ops[i].op;
        ch.device_uuid = ops[i].has_device ? argv[3] : (char *) (uintptr_t) "";
        Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
        req.body_case = OBT__CMS__REQUEST__BODY_GROUP_CHANGE;
        req.group_change = &ch;
        return s_call(o, &req);
    }
    return s_usage(argc, argv);
}

int
ctl_cmd_groups(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        return s_usage(argc, argv);
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__GroupList gl = OBT__CMS__GROUP_LIST__INIT;
    gl.name = argc == 2 ? argv[1] : (char *) (uintptr_t) "";
    req.body_case = OBT__CMS__REQUEST__BODY_GROUP_LIST;
    req.group_list = &gl;
    Obt__Cms__Reply *r = NULL;
    int rc = ctl_cms(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    size_t n = r->body_case == OBT__CMS__REPLY__BODY_GROUPS ? r->groups->n_groups : 0;
    printf(o->json ? "[" : "");
    for (size_t i = 0; i < n; i++) {
        s_print(o, r->groups->groups[i], i == 0);
    }
    printf(o->json ? "]\n" : "");
    obt__cms__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}
