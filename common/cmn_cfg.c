/* cmn_cfg.c — table-driven configuration: defaults < file < environment < argv */
#include "cmn_cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmn_log.h"

static void *
s_field(const cmn_cfg_opt_t *opt, void *cfg)
{
    return (char *) cfg + opt->offset;
}

static int
s_set(const cmn_cfg_opt_t *opt, void *cfg, const char *value, const char *source)
{
    void *f = s_field(opt, cfg);
    switch (opt->type) {
    case CMN_CFG_STR: {
        char *copy = strdup(value ? value : "");
        if (copy == NULL) {
            (void) fprintf(stderr, "out of memory\n");
            return -1;
        }
        free(*(char **) f);
        *(char **) f = copy;
        return 0;
    }
    case CMN_CFG_INT: {
        char *end = NULL;
        errno = 0;
        long v = strtol(value ? value : "0", &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < INT_MIN || v > INT_MAX) {
            (void) fprintf(stderr, "error: %s: --%s expects an integer, got \"%s\"\n", source,
                           opt->name, value);
            return -1;
        }
        if (opt->min <= opt->max && (v < opt->min || v > opt->max)) {
            (void) fprintf(stderr, "error: %s: --%s must be within %d..%d, got %ld\n", source,
                           opt->name, opt->min, opt->max, v);
            return -1;
        }
        *(int *) f = (int) v;
        return 0;
    }
    case CMN_CFG_BOOL:
        if (value == NULL || strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
            strcasecmp(value, "yes") == 0 || strcasecmp(value, "on") == 0) {
            *(bool *) f = true;
        } else if (strcasecmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
                   strcasecmp(value, "no") == 0 || strcasecmp(value, "off") == 0) {
            *(bool *) f = false;
        } else {
            (void) fprintf(stderr, "error: %s: --%s expects true or false, got \"%s\"\n", source,
                           opt->name, value);
            return -1;
        }
        return 0;
    }
    return -1;
}

static const cmn_cfg_opt_t *
s_find(const cmn_cfg_opt_t *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

static char *
s_trim(char *s)
{
    while (isspace((unsigned char) *s)) {
        s++;
    }
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char) s[len - 1])) {
        s[--len] = '\0';
    }
    return s;
}

static int
s_load_file(const cmn_cfg_opt_t *opts, size_t n, void *cfg, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        (void) fprintf(stderr, "error: --config %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, fp) != NULL) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *s = s_trim(line);
        if (*s == '\0') {
            continue;
        }
        char *eq = strchr(s, '=');
        char source[600];
        (void) snprintf(source, sizeof source, "%s:%d", path, lineno);
        if (eq == NULL) {
            (void) fprintf(stderr, "error: %s: expected `name = value`\n", source);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = s_trim(s);
        char *value = s_trim(eq + 1);
        const cmn_cfg_opt_t *opt = s_find(opts, n, name, strlen(name));
        if (opt == NULL) {
            (void) fprintf(stderr, "error: %s: unknown option \"%s\"\n", source, name);
            rc = -1;
            break;
        }
        rc = s_set(opt, cfg, value, source);
    }
    (void) fclose(fp);
    return rc;
}

static void
s_env_name(char *out, size_t len, const char *program, const char *name)
{
    size_t o = 0;
    const char *parts[3] = {"OBT_", program, name};
    for (int p = 0; p < 3; p++) {
        if (parts[p] == NULL) {
            continue; /* no program: OBT_<NAME> */
        }
        for (const char *c = parts[p]; *c && o + 2 < len; c++) {
            out[o++] = *c == '-' ? '_' : (char) toupper((unsigned char) *c);
        }
        if (p == 1 && o + 2 < len) {
            out[o++] = '_';
        }
    }
    out[o] = '\0';
}

static void
s_usage(const cmn_cfg_opt_t *opts, size_t n, const char *program, const char *usage)
{
    char prefix[64];
    s_env_name(prefix, sizeof prefix, program, "");
    printf("%s\n\nOptions (also %s<NAME> or OBT_<NAME> in the environment, or\n"
           "`name = value` lines in the file given by --config FILE):\n",
           usage, prefix);
    for (size_t i = 0; i < n; i++) {
        const char *kind = opts[i].type == CMN_CFG_INT   ? " N"
                           : opts[i].type == CMN_CFG_STR ? " VALUE"
                                                         : "";
        char flag[64];
        (void) snprintf(flag, sizeof flag, "--%s%s%s", opts[i].type == CMN_CFG_BOOL ? "[no-]" : "",
                        opts[i].name, kind);
        printf("  %-28s %s", flag, opts[i].help ? opts[i].help : "");
        if (opts[i].type == CMN_CFG_INT && opts[i].min <= opts[i].max) {
            printf(" (%d..%d)", opts[i].min, opts[i].max);
        }
        if (opts[i].def && *opts[i].def) {
            printf(" (default: %s)", opts[i].def);
        }
        if (opts[i].flags & CMN_CFG_REQUIRED) {
            printf(" (required)");
        }
        printf("\n");
    }
    printf("  %-28s %s\n  %-28s %s\n", "--config FILE", "read options from FILE", "--help",
           "show this help");
}

cmn_cfg_result_t
cmn_cfg_load(const cmn_cfg_opt_t *opts,
             size_t n_opts,
             void *cfg,
             const char *program,
             const char *usage,
             int argc,
             char **argv)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (s_set(&opts[i], cfg,
                  opts[i].def ? opts[i].def
                              : (opts[i].type == CMN_CFG_STR    ? ""
                                 : opts[i].type == CMN_CFG_BOOL ? "false"
                                                                : "0"),
                  "default") != 0) {
            return CMN_CFG_ERROR;
        }
    }
    /* --help and --config first: the file ranks below env and argv. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(opts, n_opts, program, usage);
            return CMN_CFG_HELP;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                (void) fprintf(stderr, "error: --config needs a file name\n");
                return CMN_CFG_ERROR;
            }
            path = argv[i + 1];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
        if (path && s_load_file(opts, n_opts, cfg, path) != 0) {
            return CMN_CFG_ERROR;
        }
    }
    for (size_t i = 0; i < n_opts; i++) {
        char env[128];
        s_env_name(env, sizeof env, program, opts[i].name);
        const char *v = getenv(env);
        if (v == NULL) {
            s_env_name(env, sizeof env, NULL, opts[i].name);
            v = getenv(env);
        }
        if (v != NULL && s_set(&opts[i], cfg, v, env) != 0) {
            return CMN_CFG_ERROR;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            (void) fprintf(stderr, "error: unexpected argument \"%s\" (see --help)\n", arg);
            return CMN_CFG_ERROR;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t) (eq - name) : strlen(name);
        if (len == 6 && strncmp(name, "config", 6) == 0) {
            i += eq ? 0 : 1;
            continue;
        }
        const cmn_cfg_opt_t *opt = s_find(opts, n_opts, name, len);
        const char *value = eq ? eq + 1 : NULL;
        if (opt == NULL && !eq && len > 3 && strncmp(name, "no-", 3) == 0) {
            opt = s_find(opts, n_opts, name + 3, len - 3);
            if (opt && opt->type == CMN_CFG_BOOL) {
                if (s_set(opt, cfg, "false", "command line") != 0) {
                    return CMN_CFG_ERROR;
                }
                continue;
            }
            opt = NULL;
        }
        if (opt == NULL) {
            (void) fprintf(stderr, "error: unknown option \"--%.*s\" (see --help)\n", (int) len,
                           name);
            return CMN_CFG_ERROR;
        }
        if (value == NULL && opt->type != CMN_CFG_BOOL) {
            if (i + 1 >= argc) {
                (void) fprintf(stderr, "error: --%s needs a value\n", opt->name);
                return CMN_CFG_ERROR;
            }
            value = argv[++i];
        }
        if (s_set(opt, cfg, value, "command line") != 0) {
            return CMN_CFG_ERROR;
        }
    }
    for (size_t i = 0; i < n_opts; i++) {
        if ((opts[i].flags & CMN_CFG_REQUIRED) && opts[i].type == CMN_CFG_STR) {
            const char *v = *(char **) s_field(&opts[i], cfg);
            if (v == NULL || *v == '\0') {
                (void) fprintf(stderr, "error: --%s is required (see --help)\n", opts[i].name);
                return CMN_CFG_ERROR;
            }
        }
    }
    return CMN_CFG_OK;
}

void
cmn_cfg_log(const cmn_cfg_opt_t *opts, size_t n_opts, const void *cfg)
{
    for (size_t i = 0; i < n_opts; i++) {
        const void *f = (const char *) cfg + opts[i].offset;
        if (opts[i].flags & CMN_CFG_SECRET) {
            cmn_log_notice("CFG", "%s=<redacted>", opts[i].name);
        } else if (opts[i].type == CMN_CFG_STR) {
            cmn_log_notice("CFG", "%s=\"%s\"", opts[i].name, *(char *const *) f);
        } else if (opts[i].type == CMN_CFG_INT) {
            cmn_log_notice("CFG", "%s=%d", opts[i].name, *(const int *) f);
        } else {
            cmn_log_notice("CFG", "%s=%s", opts[i].name, *(const bool *) f ? "true" : "false");
        }
    }
}

void
cmn_cfg_free(const cmn_cfg_opt_t *opts, size_t n_opts, void *cfg)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (opts[i].type == CMN_CFG_STR) {
            char **f = (char **) s_field(&opts[i], cfg);
            free(*f);
            *f = NULL;
        }
    }
}
