/* obt_demo_check.c — checks, after the demo, every simulated device against what
 * the suite says it did: the same checks as the integration tests (obt_checks.h),
 * on the devices' own SVRs read with `ocf-devsim --dump`.
 *
 * usage: obt_demo_check DIR DISCOVERED.json
 *   DIR holds the demo's layout (keys/, *.sock, dots-store/, devices/), the one
 *   obt_suite_t uses; DISCOVERED.json is `obtctl --json devices` taken right after
 *   discovery (the UUIDs each device had before onboarding).
 * Prints one line per device and exits 0 only if every device passes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_checks.h"
#include "obt_json.h"
#include "obt_support.h"

#define MAX_DEVICES 4096

static char *
s_read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, fp)) > 0) {
        n += r;
        if (n + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    (void) fclose(fp);
    if (buf) {
        buf[n] = '\0';
    }
    return buf;
}

static size_t
s_first_uuids(const char *path, char (*uuids)[40], size_t max)
{
    char *text = s_read_file(path);
    char **objs = calloc(max, sizeof *objs);
    size_t n = text && objs ? obt_json_objects(text, objs, max) : 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (obt_json_str(objs[i], "uuid", uuids[k], sizeof uuids[k])) {
            k++;
        }
        free(objs[i]);
    }
    free(objs);
    free(text);
    return k;
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: obt_demo_check DIR DISCOVERED.json\n");
        return 2;
    }
    obt_suite_t s;
    memset(&s, 0, sizeof s);
    const char *dir = argv[1];
    (void) snprintf(s.dir, sizeof s.dir, "%s", dir);
    (void) snprintf(s.keys, sizeof s.keys, "%s/keys", dir);
    (void) snprintf(s.ep_gw, sizeof s.ep_gw, "ipc://%s/gw.sock", dir);
    (void) snprintf(s.ep_dots, sizeof s.ep_dots, "ipc://%s/dots.sock", dir);
    (void) snprintf(s.ep_cms, sizeof s.ep_cms, "ipc://%s/cms.sock", dir);
    (void) snprintf(s.ep_ams, sizeof s.ep_ams, "ipc://%s/ams.sock", dir);
    obt_ids_t ids;
    if (obt_ids(&s, &ids) != 0) {
        fprintf(stderr, "obt_demo_check: cannot read the services' UUIDs (obtctl health)\n");
        return 1;
    }
    static char first[MAX_DEVICES][40];
    size_t n_first = s_first_uuids(argv[2], first, MAX_DEVICES);
    char **objs = calloc(MAX_DEVICES, sizeof *objs);
    size_t n = objs ? obt_devsim_dump(dir, objs, MAX_DEVICES) : 0;
    /* The domain UUID, as DOTS recorded it for the first device. */
    char uuid0[40] = "";
    if (n > 0 && obt_json_str(objs[0], "uuid", uuid0, sizeof uuid0)) {
        const char *show[] = {"--json", "show", uuid0, NULL};
        char *out = NULL;
        if (obt_ctl(&s, show, &out) == 0 && out) {
            (void) obt_json_str(out, "sd_uuid", ids.sd, sizeof ids.sd);
        }
        free(out);
    }
    if (ids.sd[0] == '\0') {
        fprintf(stderr, "obt_demo_check: DOTS has no domain UUID for %s\n", uuid0);
    }
    char store[700];
    (void) snprintf(store, sizeof store, "%s/dots-store", dir);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        char why[300] = "", uuid[40] = "?";
        bool pass = ids.sd[0] != '\0' && obt_json_str(objs[i], "uuid", uuid, sizeof uuid);
        for (size_t j = 0; pass && j < n_first; j++) {
            if (strcmp(uuid, first[j]) == 0) {
                (void) snprintf(why, sizeof why, "deviceuuid is still the discovered one");
                pass = false;
            }
        }
        pass = pass && obt_check_onboarded(objs[i], &ids, store, why, sizeof why);
        printf("%s  %s%s%s\n", uuid, pass ? "ok" : "FAIL", pass ? "" : ": ", why);
        ok += pass;
        free(objs[i]);
    }
    free(objs);
    printf("%zu of %zu devices: owned by DOTS %s, new deviceuuid, doxm/pstat rowner DOTS, "
           "cred rowner CMS %s, acl2 rowner AMS %s, owner PSK = DOTS's, no anon/auth-crypt "
           "ACE over an SVR, no credential or ACE that no service placed, sdi %s\n",
           ok, n, ids.dots, ids.cms, ids.ams, ids.sd);
    return n > 0 && ok == n && n_first == n ? 0 : 1;
}
