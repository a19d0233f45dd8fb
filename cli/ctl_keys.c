/* ctl_keys.c — obtctl keys: CURVE key pairs for every party, and who may read the
 * daemons' secrets (--owner: the containers' service user) */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_main.h"

/* Keys exist already: kept (exit 0) if every party has both files, else the set is
 * half made (exit 1): --force makes a new one. */
static int
s_existing(const char *dir)
{
    for (size_t i = 0; i < CMN_BUS_PARTY_COUNT; i++) {
        char pub[1024], sec[1024];
        (void) snprintf(pub, sizeof pub, "%s/public/%s.cert", dir, CMN_BUS_PARTIES[i]);
        (void) snprintf(sec, sizeof sec, "%s/secret/%s.cert_secret", dir, CMN_BUS_PARTIES[i]);
        if (access(pub, R_OK) != 0 || access(sec, R_OK) != 0) {
            fprintf(stderr,
                    "obtctl: keys: \"%s\" holds some keys but not %s's: make a new set with "
                    "--force (every daemon then needs the new keys)\n",
                    dir, CMN_BUS_PARTIES[i]);
            return CTL_EXIT_FAILED;
        }
    }
    fprintf(stderr, "obtctl: keys: keys already exist in \"%s\": kept (--force replaces them)\n",
            dir);
    return CTL_EXIT_OK;
}

/* The daemons' parties: their secrets go to --owner; obtctl's stays the operator's. */
static bool
s_is_daemon(const char *party)
{
    return strcmp(party, "obtctl") != 0;
}

bool
ctl_owner_parse(const char *spec, uid_t *ret_uid, gid_t *ret_gid)
{
    char user[64];
    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t) (colon - spec) : strlen(spec);
    if (ulen == 0 || ulen >= sizeof user) {
        return false;
    }
    memcpy(user, spec, ulen);
    user[ulen] = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(user, &end, 10);
    if (*end == '\0' && errno == 0 && n < (unsigned long) (uid_t) -1) {
        *ret_uid = (uid_t) n;
        *ret_gid = (gid_t) n; /* a numeric user alone: its group of the same number */
    } else {
        const struct passwd *pw = getpwnam(user);
        if (pw == NULL) {
            return false;
        }
        *ret_uid = pw->pw_uid;
        *ret_gid = pw->pw_gid;
    }
    if (colon == NULL) {
        return true;
    }
    const char *g = colon + 1;
    errno = 0;
    n = strtoul(g, &end, 10);
    if (*g != '\0' && *end == '\0' && errno == 0 && n < (unsigned long) (gid_t) -1) {
        *ret_gid = (gid_t) n;
        return true;
    }
    const struct group *gr = *g ? getgrnam(g) : NULL;
    if (gr == NULL) {
        return false;
    }
    *ret_gid = gr->gr_gid;
    return true;
}

/* Gives the daemons' secret files to uid:gid (0600 stays). */
static int
s_chown_secrets(const char *dir, uid_t uid, gid_t gid)
{
    for (size_t i = 0; i < CMN_BUS_PARTY_COUNT; i++) {
        if (!s_is_daemon(CMN_BUS_PARTIES[i])) {
            continue;
        }
        char path[1024];
        (void) snprintf(path, sizeof path, "%s/secret/%s.cert_secret", dir, CMN_BUS_PARTIES[i]);
        if (chown(path, uid, gid) != 0) {
            fprintf(stderr, "obtctl: keys: cannot give \"%s\" to %u:%u: %s\n", path, (unsigned) uid,
                    (unsigned) gid, strerror(errno));
            return CTL_EXIT_FAILED;
        }
    }
    return CTL_EXIT_OK;
}

/* --add NAME: one more key pair in a keys folder (a gateway's own, a second operator). */
static int
s_add(const char *dir, const char *name, bool force, const char *owner, uid_t uid, gid_t gid)
{
    cmn_err_t err = cmn_bus_key_add(dir, name, force);
    if (err == CMN_EINVAL) {
        fprintf(stderr,
                "obtctl: keys: --add \"%s\": a key name is PARTY-SUFFIX (party gateway, dots, "
                "cms, ams or obtctl; suffix 1 to 31 letters, digits, '.', '_', '-'), e.g. "
                "gateway-gw-b\n",
                name);
        return CTL_EXIT_USAGE;
    }
    if (err == CMN_ENOTFOUND) {
        fprintf(stderr, "obtctl: keys: no keys in \"%s\": run `obtctl keys --dir %s` first\n", dir,
                dir);
        return CTL_EXIT_NOTFOUND;
    }
    if (err == CMN_EEXIST) {
        fprintf(stderr,
                "obtctl: keys: %s/secret/%s.cert_secret exists (kept; --force replaces it)\n", dir,
                name);
        return CTL_EXIT_FAILED;
    }
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: keys: cannot create key %s in \"%s\": %s\n", name, dir,
                cmn_strerror(err));
        return CTL_EXIT_FAILED;
    }
    char path[1024];
    (void) snprintf(path, sizeof path, "%s/secret/%s.cert_secret", dir, name);
    if (owner != NULL && chown(path, uid, gid) != 0) {
        fprintf(stderr, "obtctl: keys: cannot give \"%s\" to %u:%u: %s\n", path, (unsigned) uid,
                (unsigned) gid, strerror(errno));
        return CTL_EXIT_FAILED;
    }
    printf("%s/public/%s.cert  %s\n", dir, name, path);
    return CTL_EXIT_OK;
}

int
ctl_cmd_keys(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {
            {"dir", required_argument, NULL, 'd'},   {"force", no_argument, NULL, 'f'},
            {"owner", required_argument, NULL, 'o'}, {"add", required_argument, NULL, 'a'},
            {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *dir = o->keys_dir;
    const char *owner = NULL, *add = NULL;
    uid_t uid = 0;
    gid_t gid = 0;
    bool force = false;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (c == 'd') {
            dir = optarg;
        } else if (c == 'f') {
            force = true;
        } else if (c == 'o') {
            owner = optarg;
        } else if (c == 'a') {
            add = optarg;
        } else {
            printf("usage: obtctl keys [--dir DIR] [--force] [--owner USER[:GROUP]] [--add NAME]\n"
                   "Creates DIR/public/<party>.cert and DIR/secret/<party>.cert_secret (0600)\n"
                   "for gateway, dots, cms, ams and obtctl. Existing keys are kept unless\n"
                   "--force.\n"
                   "--owner gives the daemons' secret files (gateway, dots, cms, ams; not\n"
                   "obtctl's) to USER (a name or a number; GROUP: its own unless given), e.g.\n"
                   "--owner 10001 for the containers' service user (docs/deploy.md). With\n"
                   "existing keys and no --force, only their owner changes.\n"
                   "--add NAME makes one more pair in DIR (made before), NAME being\n"
                   "PARTY-SUFFIX: gateway-gw-b for the gateway started with --name gw-b --key\n"
                   "gateway-gw-b (the services then hold gw-b to that key alone), obtctl-alice\n"
                   "for a second operator. --owner applies to it.\n");
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    if (owner != NULL && !ctl_owner_parse(owner, &uid, &gid)) {
        fprintf(stderr,
                "obtctl: keys: --owner \"%s\": no such user or group (USER[:GROUP], "
                "names or numbers)\n",
                owner);
        return CTL_EXIT_USAGE;
    }
    if (add != NULL) {
        return s_add(dir, add, force, owner, uid, gid);
    }
    cmn_err_t err = cmn_bus_keys_create(dir, force);
    if (err == CMN_EEXIST && owner != NULL) {
        int rc = s_chown_secrets(dir, uid, gid);
        if (rc == CTL_EXIT_OK) {
            printf("kept the keys in %s; the daemons' secrets now belong to %u:%u\n", dir,
                   (unsigned) uid, (unsigned) gid);
        }
        return rc;
    }
    if (err == CMN_EEXIST) {
        return s_existing(dir);
    }
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: keys: cannot create keys in \"%s\": %s\n", dir, cmn_strerror(err));
        return CTL_EXIT_FAILED;
    }
    if (owner != NULL && s_chown_secrets(dir, uid, gid) != CTL_EXIT_OK) {
        return CTL_EXIT_FAILED;
    }
    for (size_t i = 0; i < CMN_BUS_PARTY_COUNT; i++) {
        printf("%s/public/%s.cert  %s/secret/%s.cert_secret\n", dir, CMN_BUS_PARTIES[i], dir,
               CMN_BUS_PARTIES[i]);
    }
    return CTL_EXIT_OK;
}
