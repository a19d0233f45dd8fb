/* ctl_keys.c — obtctl keys: CURVE key pairs for every party */
#include <getopt.h>
#include <stdio.h>
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

int
ctl_cmd_keys(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {{"dir", required_argument, NULL, 'd'},
                                          {"force", no_argument, NULL, 'f'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *dir = o->keys_dir;
    bool force = false;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (c == 'd') {
            dir = optarg;
        } else if (c == 'f') {
            force = true;
        } else {
            printf("usage: obtctl keys [--dir DIR] [--force]\n"
                   "Creates DIR/public/<party>.cert and DIR/secret/<party>.cert_secret (0600)\n"
                   "for gateway, dots, cms, ams and obtctl. Existing keys are kept unless\n"
                   "--force.\n");
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    cmn_err_t err = cmn_bus_keys_create(dir, force);
    if (err == CMN_EEXIST) {
        return s_existing(dir);
    }
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: keys: cannot create keys in \"%s\": %s\n", dir, cmn_strerror(err));
        return CTL_EXIT_FAILED;
    }
    for (size_t i = 0; i < CMN_BUS_PARTY_COUNT; i++) {
        printf("%s/public/%s.cert  %s/secret/%s.cert_secret\n", dir, CMN_BUS_PARTIES[i], dir,
               CMN_BUS_PARTIES[i]);
    }
    return CTL_EXIT_OK;
}
