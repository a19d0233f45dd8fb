/* cmn_instance.h — a daemon's start checks: its keys folder, its store folder, one
 * instance per store */
#ifndef CMN_INSTANCE_H
#define CMN_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cmn_instance cmn_instance_t;

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
