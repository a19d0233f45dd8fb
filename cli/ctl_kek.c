/* ctl_kek.c — obtctl kek: makes key-encryption keys (new), re-seals a stopped
 * daemon's secrets with a new one, offline, in one LMDB transaction (rotate) */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_kv.h"
#include "cmn_seal.h"
#include "ctl_main.h"

static int
s_usage(int rc)
{
    FILE *out = rc == CTL_EXIT_OK ? stdout : stderr;
    fprintf(out,
            "usage: obtctl kek new [--owner USER[:GROUP]] FILE...\n"
            "       obtctl kek rotate --store-dir DIR --old FILE --new FILE\n"
            "new: makes each FILE (32 random bytes, 0600); an existing file is kept and\n"
            "is an error. The daemons make their default KEK themselves at first start;\n"
            "new is for keys handed to them as files (compose secrets); --owner gives the\n"
            "files to the daemons' user (--owner 10001 in the containers: docs/deploy.md).\n"
            "Re-seals every secret of a STOPPED daemon's store (obt-dots, obt-cms or obt-ams)\n"
            "with the key-encryption key in --new (32 bytes; made 0600 if absent), in one\n"
            "transaction: on any error nothing changes. --old is the key the store has now.\n"
            "Then start the daemon with --kek-file FILE (or put FILE where --kek-file points).\n"
            "A daemon that has the store open makes it fail (docs/security.md).\n");
    return rc;
}

static int
s_rotate(const char *dir, const char *old_path, const char *new_path)
{
    static const char *const dbs[] = {"secrets"};
    char data[4096];
    struct stat st;
    cmn_seal_t *old_seal = NULL, *new_seal = NULL;
    cmn_kv_t *kv = NULL;
    bool is_created = false;
    size_t count = 0;
    int rc = CTL_EXIT_FAILED;
    (void) snprintf(data, sizeof data, "%s/data.mdb", dir);
    if (stat(data, &st) != 0) {
        fprintf(stderr, "obtctl: kek rotate: no store in \"%s\"\n", dir);
        return CTL_EXIT_NOTFOUND;
    }
    cmn_err_t err = cmn_seal_load(old_path, false, &old_seal, NULL);
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: kek rotate: cannot read --old \"%s\": %s\n", old_path,
                err == CMN_EINVAL ? "not a file of 32 bytes" : cmn_strerror(err));
        return CTL_EXIT_CONFIG;
    }
    err = cmn_seal_load(new_path, true, &new_seal, &is_created);
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: kek rotate: cannot read or create --new \"%s\": %s\n", new_path,
                err == CMN_EINVAL ? "not a file of 32 bytes" : cmn_strerror(err));
        rc = CTL_EXIT_CONFIG;
        goto out;
    }
    if (is_created) {
        printf("created the key-encryption key %s\n", new_path);
    }
    kv = cmn_kv_new(dir, dbs, 1, 0, true, &err);
    if (kv != NULL) {
        err = cmn_kv_lock_exclusive(kv);
    }
    if (err == CMN_ESTATE) {
        fprintf(stderr, "obtctl: kek rotate: \"%s\" is open in a running daemon: stop it first\n",
                dir);
        goto out;
    }
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: kek rotate: cannot open \"%s\": %s\n", dir, cmn_strerror(err));
        goto out;
    }
    err = cmn_kv_reseal(kv, "secrets", old_seal, new_seal, &count);
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: kek rotate: \"%s\": %s (--old \"%s\"); nothing changed\n", dir,
                err == CMN_ECRYPTO ? CMN_SEAL_WRONG_KEK : cmn_strerror(err), old_path);
        goto out;
    }
    printf("re-sealed %zu secret record(s) of %s with %s\n", count, dir, new_path);
    rc = CTL_EXIT_OK;
out:
    cmn_kv_destroy(&kv);
    cmn_seal_destroy(&new_seal);
    cmn_seal_destroy(&old_seal);
    return rc;
}

static int
s_new(int argc, char **argv)
{
    int rc = CTL_EXIT_OK;
    bool has_owner = false;
    uid_t uid = 0;
    gid_t gid = 0;
    if (argc >= 2 && strcmp(argv[0], "--owner") == 0) {
        if (!ctl_owner_parse(argv[1], &uid, &gid)) {
            fprintf(stderr, "obtctl: kek new: --owner \"%s\": no such user or group\n", argv[1]);
            return CTL_EXIT_USAGE;
        }
        has_owner = true;
        argc -= 2;
        argv += 2;
    }
    if (argc < 1) {
        return s_usage(CTL_EXIT_USAGE);
    }
    for (int i = 0; i < argc; i++) {
        cmn_seal_t *seal = NULL;
        bool is_created = false;
        cmn_err_t err = cmn_seal_load(argv[i], true, &seal, &is_created);
        cmn_seal_destroy(&seal);
        if (err != CMN_OK || !is_created) {
            fprintf(stderr, "obtctl: kek new: \"%s\": %s\n", argv[i],
                    err == CMN_OK ? "exists already (kept)" : cmn_strerror(err));
            rc = CTL_EXIT_FAILED;
            continue;
        }
        if (has_owner && chown(argv[i], uid, gid) != 0) {
            fprintf(stderr, "obtctl: kek new: cannot give \"%s\" to %u:%u: %s\n", argv[i],
                    (unsigned) uid, (unsigned) gid, strerror(errno));
            rc = CTL_EXIT_FAILED;
            continue;
        }
        printf("%s\n", argv[i]);
    }
    return rc;
}

int
ctl_cmd_kek(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {{"store-dir", required_argument, NULL, 's'},
                                          {"old", required_argument, NULL, 'o'},
                                          {"new", required_argument, NULL, 'n'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *dir = NULL, *old_path = NULL, *new_path = NULL;
    (void) o;
    if (argc >= 2 && strcmp(argv[1], "new") == 0) {
        return s_new(argc - 2, argv + 2);
    }
    if (argc < 2 || strcmp(argv[1], "rotate") != 0) {
        return s_usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE);
    }
    argc--;
    argv++;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (c == 's') {
            dir = optarg;
        } else if (c == 'o') {
            old_path = optarg;
        } else if (c == 'n') {
            new_path = optarg;
        } else {
            return s_usage(c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE);
        }
    }
    if (dir == NULL || old_path == NULL || new_path == NULL || optind != argc) {
        return s_usage(CTL_EXIT_USAGE);
    }
    return s_rotate(dir, old_path, new_path);
}
