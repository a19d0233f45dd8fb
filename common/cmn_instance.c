/* cmn_instance.c — a daemon's start checks: keys folder, store folder, store lock */
#include "cmn_instance.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct cmn_instance {
    int lock_fd; /* open and flock'ed STORE/obt.instance; -1 = no store */
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

cmn_instance_t *
cmn_instance_new(const char *keys_dir, const char *store_dir, char *why, size_t why_len)
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
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = {0};
        ssize_t n = pread(self->lock_fd, buf, sizeof buf - 1, 0);
        long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
        if (e == EWOULDBLOCK && pid > 0) {
            (void) snprintf(why, why_len, "store \"%s\" in use by pid %ld", store_dir, pid);
        } else if (e == EWOULDBLOCK) {
            (void) snprintf(why, why_len, "store \"%s\" in use by another process", store_dir);
        } else {
            (void) snprintf(why, why_len, "store \"%s\": cannot lock \"%s\": %s", store_dir, path,
                            strerror(e));
        }
        goto out_close;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
    if (ftruncate(self->lock_fd, 0) != 0 || pwrite(self->lock_fd, pid, (size_t) n, 0) != n) {
        (void) snprintf(why, why_len, "store \"%s\": cannot write \"%s\": %s", store_dir, path,
                        strerror(errno));
        goto out_close;
    }
    return self;
out_close:
    (void) close(self->lock_fd);
out_free:
    free(self);
    return NULL;
}

void
cmn_instance_destroy(cmn_instance_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_instance_t *self = *self_p;
    if (self->lock_fd >= 0) {
        (void) close(self->lock_fd); /* releases the flock */
    }
    free(self);
    *self_p = NULL;
}
