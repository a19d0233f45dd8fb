/* cmn_cfg.h — table-driven configuration: defaults < file < environment < argv */
#ifndef CMN_CFG_H
#define CMN_CFG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    CMN_CFG_STR, /* char * (owned by the config struct; freed by cmn_cfg_free) */
    CMN_CFG_INT, /* int */
    CMN_CFG_BOOL /* bool */
} cmn_cfg_type_t;

#define CMN_CFG_SECRET   0x1u /* value redacted in cmn_cfg_log */
#define CMN_CFG_REQUIRED 0x2u /* must be non-empty after all sources */

typedef struct {
    const char *name; /* "store-dir": flag --store-dir, env <PREFIX>_STORE_DIR */
    cmn_cfg_type_t type;
    size_t offset;    /* offsetof(config struct, field) */
    const char *def;  /* default as text; NULL = empty string / 0 / false */
    unsigned flags;   /* CMN_CFG_SECRET | CMN_CFG_REQUIRED */
    int min, max;     /* CMN_CFG_INT bounds (inclusive); min > max = unbounded */
    const char *help; /* one line for --help */
} cmn_cfg_opt_t;

typedef enum {
    CMN_CFG_OK = 0,   /* config loaded and valid */
    CMN_CFG_HELP = 1, /* --help printed to stdout: exit 0 */
    CMN_CFG_ERROR = 2 /* error printed to stderr: exit EX_CONFIG (78) */
} cmn_cfg_result_t;

/* Fills cfg from, in increasing priority: each option's default; the file named by
 * --config FILE (lines `name = value`, '#' comments); environment variables
 * OBT_<PROGRAM>_<NAME> then OBT_<NAME> (program upper-cased, '-' -> '_'); and argv
 * (--name value, --name=value, --flag / --no-flag for booleans). Unknown options,
 * bad integers, out-of-range values and missing required values print a clear
 * error naming the option and its source. --help prints `usage` and the table.
 * Positional arguments are not accepted. */
cmn_cfg_result_t cmn_cfg_load(const cmn_cfg_opt_t *opts,
                              size_t n_opts,
                              void *cfg,
                              const char *program,
                              const char *usage,
                              int argc,
                              char **argv);

/* Logs the effective configuration at notice level, secrets redacted. */
void cmn_cfg_log(const cmn_cfg_opt_t *opts, size_t n_opts, const void *cfg);

/* Frees the strings of cfg (safe on a partly loaded cfg). */
void cmn_cfg_free(const cmn_cfg_opt_t *opts, size_t n_opts, void *cfg);

#endif
