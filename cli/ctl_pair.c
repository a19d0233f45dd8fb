/* ctl_pair.c — obtctl pair, unpair, links: pairwise PSK links between two managed
 * devices through obt-cms (docs/cms.md "Pairwise PSK"). pair and unpair are persisted
 * CMS jobs; the answer is the link after them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_uuid.h"
#include "ctl_main.h"

#define S_PAIR_USAGE                                                                               \
    "usage: obtctl pair A B [--oscore]  a fresh pairwise PSK (credtype 1) on devices A and B,\n"   \
    "                             each naming the other; both must be managed (RFNOP, handed\n"    \
    "                             over). --oscore: an OSCORE context (credtype 64) instead\n"      \
    "       obtctl unpair A B     remove both entries and the link\n"                              \
    "       obtctl [--json] links [UUID]   CMS's link table (the links of one device)\n"

/* A pair or unpair runs one job per device, each a few requests: more than one
 * request's --timeout. */
#define S_JOB_TIMEOUT_FACTOR 6

static int
s_usage(int argc, char **argv)
{
    bool is_help = argc >= 2 && strcmp(argv[1], "--help") == 0;
    (void) fprintf(is_help ? stdout : stderr, "%s", S_PAIR_USAGE);
    return is_help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

static int
s_check_uuid(const char *what, const char *s)
{
    cmn_uuid_t u;
    if (cmn_uuid_from_str(s, &u) != CMN_OK) {
        (void) fprintf(stderr, "obtctl: %s \"%s\": not a UUID\n", what, s);
        return CTL_EXIT_USAGE;
    }
    return CTL_EXIT_OK;
}

static void
s_print_link(const ctl_opts_t *o, const Obt__Cms__LinkInfo *l, bool is_first)
{
    const char *kind = l->is_oscore ? "oscore" : "psk";
    if (o->json) {
        printf("%s{\"a\":", is_first ? "" : ",");
        ctl_json_str(stdout, l->a);
        printf(",\"b\":");
        ctl_json_str(stdout, l->b);
        printf(",\"state\":");
        ctl_json_str(stdout, l->state);
        printf(",\"kind\":\"%s\",\"credid_a\":%lld,\"credid_b\":%lld,\"updated_ms\":%llu,"
               "\"id_a\":",
               kind, (long long) l->credid_a, (long long) l->credid_b,
               (unsigned long long) l->updated_ms);
        ctl_json_str(stdout, l->id_a);
        printf(",\"id_b\":");
        ctl_json_str(stdout, l->id_b);
        printf(",\"error\":");
        ctl_json_str(stdout, l->error);
        printf("}");
        return;
    }
    printf("%-36s  %-36s  %-6s  %-9s  %8lld  %8lld%s%s\n", l->a, l->b, kind, l->state,
           (long long) l->credid_a, (long long) l->credid_b, l->error[0] ? "  # " : "", l->error);
}

static void
s_header(const ctl_opts_t *o)
{
    if (!o->json) {
        printf("%-36s  %-36s  %-6s  %-9s  %8s  %8s\n", "A", "B", "KIND", "STATE", "CREDID@A",
               "CREDID@B");
    }
}

/* pair / unpair A B */
static int
s_pair(const ctl_opts_t *o, int argc, char **argv, bool is_pair)
{
    bool is_oscore = is_pair && argc == 4 && strcmp(argv[3], "--oscore") == 0;
    if ((argc != 3 && !is_oscore) || argv[1][0] == '-' || argv[2][0] == '-') {
        return s_usage(argc, argv);
    }
    int rc;
    if ((rc = s_check_uuid("A", argv[1])) != 0 || (rc = s_check_uuid("B", argv[2])) != 0) {
        return rc;
    }
    if (strcmp(argv[1], argv[2]) == 0) {
        (void) fprintf(stderr, "obtctl: A and B are the same device: a device is never paired "
                               "with itself\n");
        return CTL_EXIT_USAGE;
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__Pair pair = OBT__CMS__PAIR__INIT;
    Obt__Cms__Unpair unpair = OBT__CMS__UNPAIR__INIT;
    if (is_pair) {
        pair.a = argv[1];
        pair.b = argv[2];
        pair.oscore = is_oscore;
        req.body_case = OBT__CMS__REQUEST__BODY_PAIR;
        req.pair = &pair;
    } else {
        unpair.a = argv[1];
        unpair.b = argv[2];
        req.body_case = OBT__CMS__REQUEST__BODY_UNPAIR;
        req.unpair = &unpair;
    }
    Obt__Cms__Reply *r = NULL;
    rc = ctl_cms(o, &req, S_JOB_TIMEOUT_FACTOR * o->timeout_ms, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (r->body_case == OBT__CMS__REPLY__BODY_LINK) {
        s_header(o);
        s_print_link(o, r->link, true);
        printf(o->json ? "\n" : "");
    }
    obt__cms__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

int
ctl_cmd_pair(const ctl_opts_t *o, int argc, char **argv)
{
    return s_pair(o, argc, argv, true);
}

int
ctl_cmd_unpair(const ctl_opts_t *o, int argc, char **argv)
{
    return s_pair(o, argc, argv, false);
}

int
ctl_cmd_links(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        return s_usage(argc, argv);
    }
    int rc;
    if (argc == 2 && (rc = s_check_uuid("UUID", argv[1])) != 0) {
        return rc;
    }
    Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
    Obt__Cms__LinkList ll = OBT__CMS__LINK_LIST__INIT;
    ll.device_uuid = argc == 2 ? argv[1] : (char *) (uintptr_t) "";
    req.body_case = OBT__CMS__REQUEST__BODY_LINK_LIST;
    req.link_list = &ll;
    Obt__Cms__Reply *r = NULL;
    if ((rc = ctl_cms(o, &req, 0, &r)) != CTL_EXIT_OK) {
        return rc;
    }
    size_t n = r->body_case == OBT__CMS__REPLY__BODY_LINKS ? r->links->n_links : 0;
    printf(o->json ? "[" : "");
    if (n > 0) {
        s_header(o);
    }
    for (size_t i = 0; i < n; i++) {
        s_print_link(o, r->links->links[i], i == 0);
    }
    printf(o->json ? "]\n" : "");
    obt__cms__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}
