/* cmn_instance.c — a daemon's start checks: keys folder, store folder, store lock */
#include "cmn_instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_log.h"

struct cmn_instance {
    int lock_fd;         /* open and flock'ed STORE/obt.instance; -1 = no store */
    int own_fd;          /* a shared instance's STORE/obt.instance.<pid>; -1 = none */
    char own_path[4096]; /* its path, removed at exit ("" = none) */
};

#define CMN_INSTANCE_LOCK "obt.instance"

/* Is path an existing folder? Reason in why if not. */
static int
s_check_dir(const char *what, const char *path, char *why, size_t why_len)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        (void) snprintf(why, why_len, "%s \"%s\": %s", what, path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (void) snprintf(why, why_len, "%s \"%s\": %s", what, path, strerror(ENOTDIR));
        return -1;
    }
    return 0;
}

/* mkdir -p: parents 0755, the last component `mode`. */
static int
s_mkdirs(const char *dir, mode_t mode, char *why, size_t why_len)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path) {
        (void) snprintf(why, why_len, "store folder \"%s\": %s", dir,
                        len == 0 ? "empty path" : strerror(ENAMETOOLONG));
        return -1;
    }
    memcpy(path, dir, len + 1);
    while (len > 1 && path[len - 1] == '/') {
        path[--len] = '\0';
    }
    for (char *p = path + 1;; p++) {
        bool is_last = *p == '\0';
        if (*p != '/' && !is_last) {
            continue;
        }
        *p = '\0';
        if (mkdir(path, is_last ? mode : 0755) != 0 && errno != EEXIST) {
            (void) snprintf(why, why_len, "cannot create the store folder \"%s\": %s", path,
                            strerror(errno));
            return -1;
        }
        if (is_last) {
            return 0;
        }
        *p = '/';
    }
}

/* The live shared instances of store_dir, "pid 42 (cms-a), pid 43 (cms-b)" in out
 * (empty when none): a file obt.instance.<pid> whose flock is held. The files of
 * instances that died (kill -9) are removed on the way. */
static size_t
s_shared_holders(const char *store_dir, char *out, size_t out_len)
{
    size_t n = 0, used = 0;
    out[0] = '\0';
    DIR *d = opendir(store_dir);
    if (d == NULL) {
        return 0;
    }
    const size_t prefix = strlen(CMN_INSTANCE_LOCK ".");
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strncmp(e->d_name, CMN_INSTANCE_LOCK ".", prefix) != 0) {
            continue;
        }
        char path[4096], buf[96] = {0};
        (void) snprintf(path, sizeof path, "%s/%s", store_dir, e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
            (void) unlink(path); /* nobody holds it: a dead instance's */
            (void) close(fd);
            continue;
        }
        ssize_t len = pread(fd, buf, sizeof buf - 1, 0);
        (void) close(fd);
        char name[64] = "";
        long pid = 0;
        if (len > 0 && sscanf(buf, "%ld %63s", &pid, name) >= 1 && used < out_len) {
            int w = snprintf(out + used, out_len - used, "%spid %ld%s%s%s", n ? ", " : "", pid,
                             name[0] ? " (" : "", name, name[0] ? ")" : "");
            used += w > 0 ? (size_t) w : 0;
            n++;
        }
    }
    (void) closedir(d);
    return n;
}

/* Why the flock on obt.instance (fd, path) failed with errno e. */
static void
s_lock_why(int fd,
           int e,
           bool is_shared,
           const char *store_dir,
           const char *path,
           char *why,
           size_t why_len)
{
    char holders[512];
    if (e != EWOULDBLOCK) {
        (void) snprintf(why, why_len, "store \"%s\": cannot lock \"%s\": %s", store_dir, path,
                        strerror(e));
        return;
    }
    if (!is_shared && s_shared_holders(store_dir, holders, sizeof holders) > 0) {
        (void) snprintf(why, why_len,
                        "store \"%s\" in use by shared instances: %s; add --shared-store to "
                        "join them",
                        store_dir, holders);
        return;
    }
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
    const char *how = is_shared ? ", not started with --shared-store" : "";
    if (pid > 0) {
        (void) snprintf(why, why_len, "store \"%s\" in use by pid %ld%s", store_dir, pid, how);
    } else {
        (void) snprintf(why, why_len, "store \"%s\" in use by another process%s", store_dir, how);
    }
}

/* Writes "<pid> <name>\n" at the start of fd. */
static int
s_write_pid(int fd, const char *name)
{
    char line[96];
    int n = snprintf(line, sizeof line, "%ld %s\n", (long) getpid(), name ? name : "");
    return n > 0 && ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t) n, 0) == n ? 0 : -1;
}

/* A shared instance's own file, STORE/obt.instance.<pid>, held while it runs. */
static int
s_own_file(cmn_instance_t *self, const char *store_dir, const char *name, char *why, size_t why_len)
{
    (void) snprintf(self->own_path, sizeof self->own_path, "%s/%s.%ld", store_dir,
                    CMN_INSTANCE_LOCK, (long) getpid());
    self->own_fd = open(self->own_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->own_fd < 0 || flock(self->own_fd, LOCK_EX | LOCK_NB) != 0 ||
        s_write_pid(self->own_fd, name) != 0) {
        (void) snprintf(why, why_len, "store \"%s\": cannot write \"%s\": %s", store_dir,
                        self->own_path, strerror(errno));
        self->own_path[0] = '\0';
        return -1;
    }
    return 0;
}

cmn_instance_t *
cmn_instance_new(const char *keys_dir, const char *store_dir, char *why, size_t why_len)
{
    return cmn_instance_open(keys_dir, store_dir, false, NULL, why, why_len);
}

cmn_instance_t *
cmn_instance_open(const char *keys_dir,
                  const char *store_dir,
                  bool is_shared,
                  const char *name,
                  char *why,
                  size_t why_len)
{
    char path[4096];
    if (keys_dir != NULL) {
        if (s_check_dir("keys folder", keys_dir, why, why_len) != 0) {
            return NULL;
        }
        (void) snprintf(path, sizeof path, "%s/public", keys_dir);
        if (s_check_dir("keys folder (made by `obtctl keys --dir DIR`)", path, why, why_len) != 0) {
            return NULL;
        }
    }
    cmn_instance_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        (void) snprintf(why, why_len, "%s", strerror(ENOMEM));
        return NULL;
    }
    self->lock_fd = -1;
    self->own_fd = -1;
    if (store_dir == NULL) {
        return self;
    }
    if (s_mkdirs(store_dir, 0700, why, why_len) != 0 ||
        s_check_dir("store folder", store_dir, why, why_len) != 0) {
        goto out_free;
    }
    (void) snprintf(path, sizeof path, "%s/%s", store_dir, CMN_INSTANCE_LOCK);
    self->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        (void) snprintf(why, why_len, "store \"%s\": cannot open \"%s\": %s", store_dir, path,
                        strerror(errno));
        goto out_free;
    }
    if (flock(self->lock_fd, (is_shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        s_lock_why(self->lock_fd, errno, is_shared, store_dir, path, why, why_len);
        goto out_close;
    }
    if (is_shared) {
        /* obt.instance keeps the pid of the last exclusive holder: who holds it shared
         * is said by the instances' own files */
        if (s_own_file(self, store_dir, name, why, why_len) != 0) {
            goto out_close;
        }
        return self;
    }
    if (s_write_pid(self->lock_fd, NULL) != 0) {
        (void) snprintf(why, why_len, "store \"%s\": cannot write \"%s\": %s", store_dir, path,
                        strerror(errno));
        goto out_close;
    }
    return self;
out_close:
    if (self->own_fd >= 0) {
        (void) close(self->own_fd);
    }
    (void) close(self->lock_fd);
out_free:
    free(self);
    return NULL;
}

int
cmn_instance_name_check(char **name_p, const char *service)
{
    const char *n = *name_p ? *name_p : "";
    size_t len = strlen(n);
    if (len > 31 ||
        strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
        (void) fprintf(stderr,
                       "error: --instance \"%s\": letters, digits, '.', '_', '-', at most 31\n", n);
        return -1;
    }
    if (len > 0) {
        return 0;
    }
    char made[48];
    (void) snprintf(made, sizeof made, "%s-%ld", service, (long) getpid());
    char *copy = strdup(made);
    if (copy == NULL) {
        return -1;
    }
    free(*name_p);
    *name_p = copy;
    return 0;
}

cmn_instance_t *
cmn_instance_start(const cmn_cfg_opt_t *opts,
                   size_t n_opts,
                   const void *cfg,
                   const char *keys_dir,
                   const char *store_dir,
                   bool is_shared,
                   const char *name,
                   const char *msgid)
{
    if (is_shared) {
        /* several instances write one log stream: each line says which (D96) */
        char daemon[48];
        (void) snprintf(daemon, sizeof daemon, "%s", name);
        cmn_log_init(daemon, cmn_log_level());
    }
    cmn_cfg_log(opts, n_opts, cfg);
    char why[768];
    cmn_instance_t *inst = cmn_instance_open(keys_dir, store_dir, is_shared, name, why, sizeof why);
    if (inst == NULL) {
        cmn_log_err(msgid, "%s", why);
    }
    return inst;
}

void
cmn_instance_destroy(cmn_instance_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_instance_t *self = *self_p;
    if (self->own_path[0]) {
        (void) unlink(self->own_path);
    }
    if (self->own_fd >= 0) {
        (void) close(self->own_fd);
    }
    if (self->lock_fd >= 0) {
        (void) close(self->lock_fd); /* releases the flock */
    }
    free(self);
    *self_p = NULL;
}
