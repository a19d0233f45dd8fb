/* ctl_args.c — obtctl's argument checks and the hoisting of global options */
#include "ctl_args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_uuid.h"
#include "ctl_main.h"

int
ctl_args_long(const char *opt, const char *text, long min, long max, long *ret)
{
    char *end = NULL;
    errno = 0;
    long v = text && *text ? strtol(text, &end, 10) : 0;
    if (text == NULL || *text == '\0' || *end != '\0') {
        fprintf(stderr, "obtctl: %s: \"%s\" is not a whole number (%ld..%ld)\n", opt,
                text ? text : "", min, max);
        return CTL_EXIT_USAGE;
    }
    if (errno == ERANGE || v < min || v > max) {
        fprintf(stderr, "obtctl: %s: %s is out of range (%ld..%ld)\n", opt, text, min, max);
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

int
ctl_args_int(const char *opt, const char *text, int min, int max, int *ret)
{
    long v = 0;
    int rc = ctl_args_long(opt, text, min, max, &v);
    if (rc == 0) {
        *ret = (int) v;
    }
    return rc;
}

int
ctl_args_check_uuids(const char *cmd, char *const *uuids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cmn_uuid_t u;
        if (cmn_uuid_from_str(uuids[i], &u) != CMN_OK) {
            fprintf(stderr, "obtctl: %s: \"%s\" is not a UUID (8-4-4-4-12 hex digits)\n", cmd,
                    uuids[i]);
            return CTL_EXIT_USAGE;
        }
    }
    return 0;
}

int
ctl_args_file_error(const char *what, const char *path, int err)
{
    fprintf(stderr, "obtctl: %s: cannot open \"%s\": %s\n", what, path, strerror(err));
    return err == ENOENT || err == ENOTDIR ? CTL_EXIT_NOTFOUND : CTL_EXIT_FAILED;
}

/* The global option arg names ("--name" or "--name=value"), or NULL. Sets *ret_n to
 * the number of argv entries it takes (1, or 2 with a separate value). */
static const struct option *
s_global(const char *arg, const struct option *globals, int *ret_n)
{
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        return NULL;
    }
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    for (const struct option *g = globals; g->name != NULL; g++) {
        if (strlen(g->name) == len && strncmp(g->name, name, len) == 0) {
            *ret_n = g->has_arg == required_argument && name[len] != '=' ? 2 : 1;
            return g;
        }
    }
    return NULL;
}

void
ctl_args_hoist(int argc, char **argv, const struct option *globals)
{
    int cmd = 1;
    while (cmd < argc && argv[cmd][0] == '-' && strcmp(argv[cmd], "--") != 0) {
        int n = 1;
        if (s_global(argv[cmd], globals, &n) == NULL) {
            n = 1; /* an unknown option: getopt reports it */
        }
        cmd += n;
    }
    if (cmd >= argc || strcmp(argv[cmd], "--") == 0) {
        return;
    }
    /* Walk after the command; each global found moves to just before the command. */
    for (int i = cmd + 1; i < argc;) {
        int n = 1;
        if (strcmp(argv[i], "--") == 0) {
            return;
        }
        const struct option *g = s_global(argv[i], globals, &n);
        if (g == NULL || strcmp(g->name, "help") == 0 || i + n > argc) {
            i++;
            continue;
        }
        char *moved[2] = {argv[i], n == 2 ? argv[i + 1] : NULL};
        memmove(&argv[cmd + n], &argv[cmd], (size_t) (i - cmd) * sizeof *argv);
        argv[cmd] = moved[0];
        if (n == 2) {
            argv[cmd + 1] = moved[1];
        }
        cmd += n;
        i += n;
    }
}
