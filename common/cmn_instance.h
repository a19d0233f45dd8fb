/* cmn_instance.h — a daemon's start checks: its keys folder, its store folder, one
 * instance per store */
#ifndef CMN_INSTANCE_H
#define CMN_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "cmn_cfg.h"

typedef struct cmn_instance cmn_instance_t;

/* The two config rows of a daemon that may share its store (docs/scaling.md), for the
 * daemon's table: `--shared-store` (a bool field of type, shared_help says what it
 * does for that daemon) and `--instance NAME` (a string field; check it with
 * cmn_instance_name_check after loading). */
#define CMN_INSTANCE_CFG_OPTS(type, shared_field, name_field, shared_help)                         \
    {"shared-store", CMN_CFG_BOOL, offsetof(type, shared_field), "false", 0, 1, 0, shared_help},   \
    {                                                                                              \
        "instance", CMN_CFG_STR, offsetof(type, name_field), "", 0, 1, 0,                          \
                "this instance's name in logs and health (letters, digits, . _ -; at most 31); "   \
                "empty: <service>-<pid>"                                                           \
    }

/* --instance as loaded in *name_p (owned by the config): checked (letters, digits,
 * '.', '_', '-', at most 31; the error printed to stderr), or made "<service>-<pid>"
 * when empty. 0, or -1: a configuration error. */
int cmn_instance_name_check(char **name_p, const char *service);

/* A daemon's start, after cmn_log_init: with is_shared the daemon field of every log
 * line becomes the instance's name (several instances write one log stream, D96);
 * logs the effective configuration (opts, cfg: cmn_cfg_log); then cmn_instance_open.
 * The held instance, or NULL with the reason logged at error under msgid: exit 78. */
cmn_instance_t *cmn_instance_start(const cmn_cfg_opt_t *opts,
                                   size_t n_opts,
                                   const void *cfg,
                                   const char *keys_dir,
                                   const char *store_dir,
                                   bool is_shared,
                                   const char *name,
                                   const char *msgid);

/* Checks what a daemon needs before it opens anything, in this order:
 * - keys_dir (NULL: not checked) is an existing folder with a public/ subfolder
 *   (made by `obtctl keys`);
 * - store_dir (NULL: no store) exists or is created with its missing parents (0755),
 *   the store itself 0700;
 * - an exclusive lock (flock) on store_dir/obt.instance, which holds our pid: a second
 *   daemon on the same store is refused while the first runs.
 * Returns the held instance (release with cmn_instance_destroy at exit), or NULL with
 * the reason in why (e.g. `store "/x" in use by pid 42`, `cannot create the store
 * folder "/ro/s": Read-only file system`): a configuration error (exit 78). */
cmn_instance_t *
cmn_instance_new(const char *keys_dir, const char *store_dir, char *why, size_t why_len);

/* The same, with the store shared or not (docs/scaling.md, D96):
 * - is_shared false: as cmn_instance_new (an exclusive flock on obt.instance);
 * - is_shared true (`--shared-store`): a shared flock on obt.instance, so that any
 *   number of shared instances run together while an exclusive one is refused, and
 *   the other way round; each shared instance also holds an exclusive flock on its own
 *   file store_dir/obt.instance.<pid> (its pid and name), which tells who holds the store.
 * name is written in that file (NULL: ""). The errors say which pids hold the store:
 * `store "/x" in use by pid 42, not started with --shared-store` or `store "/x" in use
 * by shared instances: pid 42 (cms-a), pid 43 (cms-b); add --shared-store to join
 * them`. */
cmn_instance_t *cmn_instance_open(const char *keys_dir,
                                  const char *store_dir,
                                  bool is_shared,
                                  const char *name,
                                  char *why,
                                  size_t why_len);

/* Releases the lock (the file obt.instance stays; a shared instance's own file is
 * removed) and frees; accepts NULL. */
void cmn_instance_destroy(cmn_instance_t **self_p);

#endif
