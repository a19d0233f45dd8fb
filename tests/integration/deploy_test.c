/* deploy_test.c — what a container deployment needs from the daemons (issue 14): the
 * service user (uid 10001 in the image) can be given the daemons' secrets with
 * `obtctl keys --owner` / `obtctl kek new --owner` (obtctl's own secret stays the
 * operator's); a daemon run as that user whose key or store it may not read stops with
 * "Permission denied" and the path; with everything its own it starts, and its
 * container health check (`obtctl --key cms health cms`, as that user) answers. Needs
 * root (it switches to the service user); skipped otherwise. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "obt_support.h"

#define SVC_UID 10001

static const char *const s_daemons[] = {"gateway", "dots", "cms", "ams"};

static char *s_dir;
static obt_proc_t s_cms; /* the daemon a test left running, stopped at teardown */

static void
s_teardown(void)
{
    if (s_cms.pid > 0) {
        (void) obt_proc_stop(&s_cms);
    }
    if (s_dir) {
        obt_rmrf(s_dir);
        free(s_dir);
        s_dir = NULL;
    }
}

static void
s_need_root(void)
{
    if (geteuid() != 0) {
        cr_skip_test("needs root: switches to the service user %d", SVC_UID);
    }
}

/* A fresh folder the service user may enter (obt_tmpdir makes 0700). */
static void
s_setup_dir(const char *tag)
{
    s_need_root();
    s_dir = obt_tmpdir(tag);
    cr_assert_not_null(s_dir);
    cr_assert_eq(chmod(s_dir, 0755), 0);
}

static void
s_path(char *out, size_t cap, const char *rel)
{
    (void) snprintf(out, cap, "%s/%s", s_dir, rel);
}

static int
s_ctl(const char *const *argv)
{
    char *out = NULL;
    int rc = obt_run("obtctl", argv, &out);
    if (out) {
        fprintf(stderr, "%s", out);
    }
    free(out);
    return rc;
}

/* Runs exe argv... as the service user, output into s_dir/name.log, for at most
 * limit_ms. Returns its exit status (obt_proc_wait_exit). */
static int
s_run_as_service(const char *name, const char *exe, const char *const *argv, int limit_ms)
{
    obt_proc_t p;
    cr_assert_eq(obt_proc_start_as(&p, s_dir, name, exe, argv, SVC_UID), 0);
    return obt_proc_wait_exit(&p, limit_ms);
}

static char *
s_read(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    (void) fclose(f);
    return buf;
}

static void
s_expect_owner(const char *rel, uid_t uid, mode_t mode)
{
    char path[1024];
    struct stat st;
    s_path(path, sizeof path, rel);
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    cr_expect_eq(st.st_uid, uid, "%s belongs to uid %u, not %u", path, (unsigned) st.st_uid,
                 (unsigned) uid);
    cr_expect_eq(st.st_mode & 07777, mode, "%s has mode %o, not %o", path,
                 (unsigned) (st.st_mode & 07777), (unsigned) mode);
}

/* Keys for the containers: the daemons' secrets to the service user, the operator's
 * not; the secret folder searchable as in a container's /run/secrets (each file is
 * mounted on its own there). A store folder the service user owns, a KEK it owns. */
static void
s_make_deployment(bool with_owner)
{
    char keys[1024], kek[1024], store[1024];
    s_path(keys, sizeof keys, "keys");
    s_path(kek, sizeof kek, "cms.kek");
    s_path(store, sizeof store, "cms-store");
    const char *k_owned[] = {"keys", "--dir", keys, "--owner", "10001", NULL};
    const char *k_plain[] = {"keys", "--dir", keys, NULL};
    cr_assert_eq(s_ctl(with_owner ? k_owned : k_plain), 0);
    const char *kek_args[] = {"kek", "new", "--owner", "10001", kek, NULL};
    cr_assert_eq(s_ctl(kek_args), 0);
    char secret[1100];
    (void) snprintf(secret, sizeof secret, "%s/secret", keys);
    cr_assert_eq(chmod(secret, 0755), 0);
    cr_assert_eq(mkdir(store, 0700), 0);
    cr_assert_eq(chown(store, SVC_UID, SVC_UID), 0);
    char run[1024]; /* the daemon's ipc:// socket */
    s_path(run, sizeof run, "run");
    cr_assert_eq(mkdir(run, 0755), 0);
    cr_assert_eq(chown(run, SVC_UID, SVC_UID), 0);
}

/* obt-cms's arguments: the deployment's keys, store, KEK and endpoint. */
typedef struct {
    char keys[1024], kek[1024], store[1024], ep[1100];
    const char *argv[12];
} s_cms_args_t;

static void
s_cms_args(s_cms_args_t *a)
{
    s_path(a->keys, sizeof a->keys, "keys");
    s_path(a->kek, sizeof a->kek, "cms.kek");
    s_path(a->store, sizeof a->store, "cms-store");
    (void) snprintf(a->ep, sizeof a->ep, "ipc://%s/run/cms.sock", s_dir);
    const char *argv[] = {
            "--keys-dir", a->keys,      "--store-dir", a->store,    "--kek-file",
            a->kek,       "--endpoint", a->ep,         "--gateway", "ipc:///nonexistent-obt",
            NULL};
    memcpy(a->argv, argv, sizeof argv);
}

/* obt-cms as the service user must stop at once with exit 1 and `want` in its log. */
static void
s_expect_refused(const char *want, int want_rc)
{
    s_cms_args_t a;
    s_cms_args(&a);
    char log[1024];
    s_path(log, sizeof log, "cms.log");
    int rc = s_run_as_service("cms", "obt-cms", a.argv, 10000);
    const char *text = s_read(log);
    cr_expect_eq(rc, want_rc, "obt-cms should stop with %d, not %d; log:\n%s", want_rc, rc, text);
    cr_expect(strstr(text, want) != NULL, "the log does not say %s:\n%s", want, text);
    cr_expect(strstr(text, "not found") == NULL, "an unreadable file is not \"not found\":\n%s",
              text);
}

TestSuite(deploy, .fini = s_teardown, .timeout = 60);

Test(deploy, keys_owner_gives_the_daemons_secrets_only)
{
    s_setup_dir("deploy-owner");
    s_make_deployment(true);
    char rel[128];
    for (size_t i = 0; i < 4; i++) {
        (void) snprintf(rel, sizeof rel, "keys/secret/%s.cert_secret", s_daemons[i]);
        s_expect_owner(rel, SVC_UID, 0600);
    }
    s_expect_owner("keys/secret/obtctl.cert_secret", 0, 0600);
    s_expect_owner("cms.kek", SVC_UID, 0600);

    /* existing keys, no --force: only the owner changes, the keys stay */
    char pub[1024], before[4096];
    s_path(pub, sizeof pub, "keys/public/dots.cert");
    (void) snprintf(before, sizeof before, "%s", s_read(pub));
    char keys[1024];
    s_path(keys, sizeof keys, "keys");
    const char *again[] = {"keys", "--dir", keys, "--owner", "10002:10003", NULL};
    cr_assert_eq(s_ctl(again), 0);
    cr_expect_str_eq(s_read(pub), before, "obtctl keys --owner replaced an existing key");
    struct stat st;
    char path[1100];
    (void) snprintf(path, sizeof path, "%s/secret/dots.cert_secret", keys);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect(st.st_uid == 10002 && st.st_gid == 10003, "dots secret is %u:%u, not 10002:10003",
              (unsigned) st.st_uid, (unsigned) st.st_gid);

    const char *bad[] = {"keys", "--dir", keys, "--owner", "no-such-user-obt", NULL};
    cr_expect_eq(s_ctl(bad), 2, "an unknown --owner is a usage error");
}

Test(deploy, unreadable_key_says_permission_denied_and_the_path)
{
    s_setup_dir("deploy-key");
    s_make_deployment(false); /* keys made by root, 0600 root: as in issue 14 */
    char key[1024], want[1200];
    s_path(key, sizeof key, "keys/secret/cms.cert_secret");
    (void) snprintf(want, sizeof want, "\"%s\": Permission denied", key);
    s_expect_refused(want, 1);
}

Test(deploy, store_of_another_user_says_permission_denied_and_the_path)
{
    s_setup_dir("deploy-store");
    s_make_deployment(true);
    char store[1024], want[2200];
    s_path(store, sizeof store, "cms-store");
    cr_assert_eq(chown(store, 0, 0), 0); /* a new named volume: root's */
    /* the store lock (common/cmn_instance.c) is the first to open it: a configuration
     * error (78) naming the path and the reason */
    (void) snprintf(want, sizeof want,
                    "store \"%s\": cannot open \"%s/obt.instance\": Permission denied", store,
                    store);
    s_expect_refused(want, 78);
}

Test(deploy, service_user_runs_and_its_health_check_answers)
{
    s_setup_dir("deploy-ok");
    s_make_deployment(true);
    s_cms_args_t a;
    s_cms_args(&a);
    obt_proc_t *cms = &s_cms;
    cr_assert_eq(obt_proc_start_as(cms, s_dir, "cms", "obt-cms", a.argv, SVC_UID), 0);
    int ready = obt_proc_wait_log(cms, " READY ", 10000);
    if (ready != 0) {
        obt_proc_dump(cms);
    }
    cr_assert_eq(ready, 0, "obt-cms as uid %d did not start", SVC_UID);
    /* the container's health check: the daemon's own key, its own daemon only */
    const char *health[] = {"--keys-dir", a.keys,   "--key", "cms", "--cms",
                            a.ep,         "health", "cms",   NULL};
    char hlog[1024];
    s_path(hlog, sizeof hlog, "health.log");
    struct timespec t0, t1;
    (void) clock_gettime(CLOCK_MONOTONIC, &t0);
    int hrc = s_run_as_service("health", "obtctl", health, 10000);
    (void) clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect_eq(hrc, 0, "obtctl --key cms health cms as the service user failed:\n%s",
                 s_read(hlog));
    double took = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect_lt(took, 5.0, "the health check took %.1f s (compose timeout: 10 s)", took);
    /* and it fails when its daemon is gone */
    (void) obt_proc_stop(cms);
    cr_expect_neq(s_run_as_service("health", "obtctl", health, 10000), 0,
                  "the health check of a stopped daemon passed");
}

/* `--scale cms=2` on one volume: the second instance must refuse the first one's store
 * (and say who holds it) rather than share it; the first goes on. DOTS the same. */
Test(deploy, second_instance_on_one_store_is_refused)
{
    s_setup_dir("deploy-twice");
    s_make_deployment(false);
    char keys[1024];
    s_path(keys, sizeof keys, "keys");
    static const char *const daemons[] = {"obt-cms", "obt-dots"};
    for (size_t d = 0; d < 2; d++) {
        char store[1100], ep1[1100], ep2[1100], name[32];
        (void) snprintf(store, sizeof store, "%s/store-%zu", s_dir, d);
        (void) snprintf(ep1, sizeof ep1, "ipc://%s/first-%zu.sock", s_dir, d);
        (void) snprintf(ep2, sizeof ep2, "ipc://%s/second-%zu.sock", s_dir, d);
        const char *first[] = {"--keys-dir", keys, "--store-dir", store, "--endpoint", ep1, NULL};
        const char *second[] = {"--keys-dir", keys, "--store-dir", store, "--endpoint", ep2, NULL};
        (void) snprintf(name, sizeof name, "first-%zu", d);
        cr_assert_eq(obt_proc_start(&s_cms, s_dir, name, daemons[d], first), 0);
        int ready = obt_proc_wait_log(&s_cms, " READY ", 10000);
        if (ready != 0) {
            obt_proc_dump(&s_cms);
        }
        cr_assert_eq(ready, 0, "the first %s did not start", daemons[d]);
        obt_proc_t two;
        (void) snprintf(name, sizeof name, "second-%zu", d);
        cr_assert_eq(obt_proc_start(&two, s_dir, name, daemons[d], second), 0);
        int rc = obt_proc_wait_exit(&two, 10000);
        cr_expect_eq(obt_proc_log_count(&two, "\" in use by pid "), 1,
                     "the second %s did not refuse the store", daemons[d]);
        cr_expect_eq(obt_proc_log_count(&two, " READY "), 0, "the second %s started", daemons[d]);
        cr_expect_eq(rc, 78, "the second %s exited %d, not 78", daemons[d], rc);
        cr_expect(obt_proc_alive(&s_cms), "the first %s stopped", daemons[d]);
        if (!obt_proc_alive(&s_cms) || rc != 78) {
            obt_proc_dump(&two);
        }
        (void) obt_proc_stop(&s_cms);
    }
}
