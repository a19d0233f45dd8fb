/* obt_support.c — integration-test and benchmark support */
#define _GNU_SOURCE /* asprintf, nftw */
#include "obt_support.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmn_bus.h"
#include "obt/dots.pb-c.h"

const char *
obt_bin_dir(void)
{
    const char *dir = getenv("OBT_BIN_DIR");
    return dir && dir[0] ? dir : OBT_BIN_DIR;
}

char *
obt_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/obt-%s-XXXXXX", base && *base ? base : "/tmp", tag) < 0) {
        return NULL;
    }
    if (mkdtemp(path) == NULL) {
        free(path);
        return NULL;
    }
    return path;
}

static int
s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

void
obt_rmrf(const char *path)
{
    if (path && getenv("OBT_KEEP_TMP") != NULL) {
        fprintf(stderr, "kept %s (OBT_KEEP_TMP)\n", path);
        return;
    }
    if (path) {
        (void) nftw(path, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* Every process obt_proc_start started and not yet reaped: what obt_procs_reap_left
 * looks at when a test ends. */
static pid_t s_started[256];

static void
s_started_set(pid_t old, pid_t pid)
{
    for (size_t i = 0; i < sizeof s_started / sizeof s_started[0]; i++) {
        if (s_started[i] == old) {
            s_started[i] = pid;
            return;
        }
    }
}

/* In a child just forked by the test: die with the test. A test that crashes, or that
 * Criterion kills at its timeout, leaves no daemon behind (PR_SET_PDEATHSIG; and if
 * the parent was gone already, now). */
static void
s_die_with_parent(pid_t parent)
{
    (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(127);
    }
}

int
obt_procs_reap_left(void)
{
    int left = 0;
    for (size_t i = 0; i < sizeof s_started / sizeof s_started[0]; i++) {
        pid_t pid = s_started[i];
        if (pid <= 0) {
            continue;
        }
        s_started[i] = 0;
        if (waitpid(pid, NULL, WNOHANG) != 0) {
            continue; /* exited (reaped now) or not our child */
        }
        fprintf(stderr,
                "obt_procs_reap_left: pid %d still running at the end of the test: killed\n",
                (int) pid);
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        left++;
    }
    return left;
}

/* obt_proc_start, as user uid (and its group of the same number) if as_user. */
static int
s_proc_start(obt_proc_t *p,
             const char *dir,
             const char *name,
             const char *exe,
             const char *const *argv,
             bool as_user,
             uid_t uid)
{
    char bin[600];
    const char *args[64];
    size_t n = 0;
    (void) snprintf(bin, sizeof bin, "%s/%s", obt_bin_dir(), exe);
    (void) snprintf(p->name, sizeof p->name, "%s", name);
    (void) snprintf(p->log, sizeof p->log, "%s/%s.log", dir, name);
    args[n++] = bin;
    for (size_t i = 0; argv && argv[i] && n < 63; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        s_die_with_parent(parent);
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            (void) dup2(fd, 1);
            (void) dup2(fd, 2);
            (void) close(fd);
        }
        if (as_user && (setgroups(0, NULL) != 0 || setgid((gid_t) uid) != 0 || setuid(uid) != 0)) {
            _exit(126);
        }
        execv(bin, (char *const *) (uintptr_t) args);
        _exit(127);
    }
    p->pid = pid;
    s_started_set(0, pid);
    return 0;
}

int
obt_proc_start(
        obt_proc_t *p, const char *dir, const char *name, const char *exe, const char *const *argv)
{
    return s_proc_start(p, dir, name, exe, argv, false, 0);
}

int
obt_proc_start_as(obt_proc_t *p,
                  const char *dir,
                  const char *name,
                  const char *exe,
                  const char *const *argv,
                  uid_t uid)
{
    return s_proc_start(p, dir, name, exe, argv, true, uid);
}

static void
s_nap(void)
{
    /* Polling a file for a condition (not a fixed wait): a short pause between looks. */
    (void) poll(NULL, 0, 20);
}

int
obt_proc_log_count(const obt_proc_t *p, const char *token)
{
    FILE *fp = fopen(p->log, "r");
    if (fp == NULL) {
        return 0;
    }
    char line[4096];
    int count = 0;
    while (fgets(line, sizeof line, fp)) {
        count += strstr(line, token) != NULL;
    }
    (void) fclose(fp);
    return count;
}

bool
obt_proc_alive(obt_proc_t *p)
{
    if (p->pid <= 0) {
        return false;
    }
    int status;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) {
        s_started_set(p->pid, 0);
        p->pid = 0;
        return false;
    }
    return true;
}

static long
s_ms_since(const struct timespec *start)
{
    struct timespec now;
    (void) clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int
obt_proc_wait_log_count(const obt_proc_t *p, const char *token, int count, int timeout_ms)
{
    struct timespec start;
    (void) clock_gettime(CLOCK_MONOTONIC, &start);
    obt_proc_t copy = *p;
    for (;;) {
        if (obt_proc_log_count(p, token) >= count) {
            return 0;
        }
        if (!obt_proc_alive(&copy) || s_ms_since(&start) > timeout_ms) {
            return -1;
        }
        s_nap();
    }
}

int
obt_proc_wait_log(const obt_proc_t *p, const char *token, int timeout_ms)
{
    return obt_proc_wait_log_count(p, token, 1, timeout_ms);
}

int
obt_proc_stop(obt_proc_t *p)
{
    if (p->pid <= 0) {
        return -1;
    }
    int status = -1;
    (void) kill(p->pid, SIGTERM);
    (void) kill(p->pid, SIGCONT); /* a stopped process (a test's SIGSTOP) gets it too */
    for (int i = 0; i < 250; i++) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            s_started_set(p->pid, 0);
            p->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        s_nap();
    }
    (void) kill(p->pid, SIGKILL);
    (void) waitpid(p->pid, &status, 0);
    s_started_set(p->pid, 0);
    p->pid = 0;
    return -1;
}

int
obt_proc_wait_exit(obt_proc_t *p, int limit_ms)
{
    int status = 0;
    for (int waited = 0; waitpid(p->pid, &status, WNOHANG) != p->pid; waited += 20) {
        if (waited >= limit_ms) {
            (void) obt_proc_stop(p);
            return -1;
        }
        (void) nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    s_started_set(p->pid, 0);
    p->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void
obt_proc_kill9(obt_proc_t *p)
{
    if (p->pid > 0) {
        (void) kill(p->pid, SIGKILL);
        (void) waitpid(p->pid, NULL, 0);
        s_started_set(p->pid, 0);
        p->pid = 0;
    }
}

void
obt_proc_dump(const obt_proc_t *p)
{
    FILE *fp = fopen(p->log, "r");
    if (fp == NULL) {
        return;
    }
    fprintf(stderr, "----- %s (%s) -----\n", p->name, p->log);
    char line[4096];
    while (fgets(line, sizeof line, fp)) {
        fputs(line, stderr);
    }
    (void) fclose(fp);
}

int
obt_run(const char *exe, const char *const *argv, char **ret_out)
{
    char bin[600];
    const char *args[64];
    size_t n = 0;
    int pipefd[2];
    (void) snprintf(bin, sizeof bin, "%s/%s", obt_bin_dir(), exe);
    args[n++] = bin;
    for (size_t i = 0; argv && argv[i] && n < 63; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;
    if (pipe(pipefd) != 0) {
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        s_die_with_parent(parent);
        (void) dup2(pipefd[1], 1);
        (void) close(pipefd[0]);
        (void) close(pipefd[1]);
        execv(bin, (char *const *) (uintptr_t) args);
        _exit(127);
    }
    (void) close(pipefd[1]);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(pipefd[0], buf + len, cap - len - 1)) > 0) {
        len += (size_t) r;
        if (cap - len < 1024) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    (void) close(pipefd[0]);
    if (buf) {
        buf[len] = '\0';
    }
    int status = 0;
    (void) waitpid(pid, &status, 0);
    if (ret_out) {
        *ret_out = buf;
    } else {
        free(buf);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Waits until p's log has a line with one of the NULL-ended tokens more than it had
 * (before[i]), up to timeout_ms or p's exit. 0 when seen. */
static int
s_wait_any(obt_proc_t *p, const char *const *tokens, const int *before, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms && obt_proc_alive(p); waited += 20) {
        for (size_t i = 0; tokens[i]; i++) {
            if (obt_proc_log_count(p, tokens[i]) > before[i]) {
                return 0;
            }
        }
        (void) poll(NULL, 0, 20); /* the log, polled with a deadline */
    }
    return -1;
}

/* Starts one daemon of the suite (which: "gateway", "dots", "cms", "ams"), or with inst
 * and name one more instance of a service on the suite's store (--shared-store
 * --instance name): a DOTS at the suite's DOTS endpoint with its flags (a standby
 * until it takes over), a CMS or AMS at ipc://DIR/<name>.sock. */
static int
s_start_one_as(obt_suite_t *s,
               const char *which,
               obt_proc_t *inst,
               const char *name,
               const char *const *extra_all,
               const char *const *extra)
{
    const char *args[56];
    size_t n = 0;
    obt_proc_t *p;
    const char *exe;
    char store[600], inst_ep[700];
    /* more instances: DOTS's share its endpoint (D91), CMS's and AMS's have their own */
    (void) snprintf(inst_ep, sizeof inst_ep, "ipc://%s/%s.sock", s->dir, name ? name : "");
    args[n++] = "--keys-dir";
    args[n++] = s->keys;
    args[n++] = "--log-level";
    args[n++] = "info";
    if (strcmp(which, "gateway") == 0) {
        p = &s->gw;
        exe = "obt-gateway";
        args[n++] = "--endpoint";
        args[n++] = s->ep_gw;
        if (!s->is_default_discovery) {
            args[n++] = "--discover-window-ms";
            args[n++] = "400";
        }
        for (size_t i = 0; s->extra_gw && s->extra_gw[i] && n < 30; i++) {
            args[n++] = s->extra_gw[i];
        }
    } else {
        args[n++] = "--gateway";
        args[n++] = s->gateways ? s->gateways : s->ep_gw;
        args[n++] = "--store-dir";
        (void) snprintf(store, sizeof store, "%s/%s-store", s->dir, which);
        args[n++] = store;
        args[n++] = s->is_durable ? "--durable" : "--no-durable";
        args[n++] = "--endpoint";
        if (strcmp(which, "dots") == 0) {
            p = &s->dots;
            exe = "obt-dots";
            args[n++] = s->ep_dots;
            args[n++] = "--cms";
            args[n++] = s->ep_cms;
            args[n++] = "--ams";
            args[n++] = s->ep_ams;
            if (!s->is_default_discovery) {
                args[n++] = "--discover-window-ms";
                args[n++] = "400";
            }
        } else if (strcmp(which, "cms") == 0) {
            p = &s->cms;
            exe = "obt-cms";
            args[n++] = inst ? inst_ep : s->ep_cms;
        } else {
            p = &s->ams;
            exe = "obt-ams";
            args[n++] = inst ? inst_ep : s->ep_ams;
        }
        for (size_t i = 0; p != &s->dots && s->extra_svc && s->extra_svc[i] && n < 30; i++) {
            args[n++] = s->extra_svc[i];
        }
    }
    for (size_t i = 0; extra_all && extra_all[i] && n < 46; i++) {
        args[n++] = extra_all[i];
    }
    for (size_t i = 0; extra && extra[i] && n < 46; i++) {
        args[n++] = extra[i];
    }
    if (inst) {
        args[n++] = "--shared-store";
        args[n++] = "--instance";
        args[n++] = name;
        args[n] = NULL;
        static const char *const up[] = {" READY ", "DOTS-STANDBY", NULL};
        const int before[] = {0, 0};
        if (obt_proc_start(inst, s->dir, name, exe, args) != 0 ||
            s_wait_any(inst, up, before, 15000) != 0) {
            obt_proc_dump(inst);
            return -1;
        }
        return 0;
    }
    args[n] = NULL;
    /* A restart of a daemon still running stops it first (never two of one daemon), and
     * waits for a READY line of the new process (the log is appended to). */
    if (p->pid != 0 && obt_proc_alive(p)) {
        (void) obt_proc_stop(p);
    }
    int ready_before = obt_proc_log_count(p, " READY ");
    if (obt_proc_start(p, s->dir, which, exe, args) != 0 ||
        obt_proc_wait_log_count(p, " READY ", ready_before + 1, 15000) != 0) {
        obt_proc_dump(p);
        return -1;
    }
    return 0;
}

static int
s_start_one(obt_suite_t *s,
            const char *which,
            const char *const *extra_all,
            const char *const *extra)
{
    return s_start_one_as(s, which, NULL, NULL, extra_all, extra);
}

int
obt_suite_start(obt_suite_t *s, const char *dir, const char *const *extra_dots)
{
    return obt_suite_start_with(s, dir, NULL, extra_dots);
}

static int
s_suite_start(obt_suite_t *s,
              const char *dir,
              const char *const *extra_all,
              const char *const *extra_dots,
              bool is_default_discovery)
{
    const char *gateways = s->gateways;
    const char *const *extra_gw = s->extra_gw;
    const char *const *extra_svc = s->extra_svc;
    bool is_durable = s->is_durable;
    memset(s, 0, sizeof *s);
    s->gateways = gateways; /* set by obt_suite_start_gateways, else NULL */
    s->extra_gw = extra_gw;
    s->extra_svc = extra_svc; /* set by obt_suite_start_shared, else NULL */
    s->is_durable = is_durable;
    s->is_default_discovery = is_default_discovery;
    s->extra_dots = extra_dots;
    (void) snprintf(s->dir, sizeof s->dir, "%s", dir);
    (void) snprintf(s->keys, sizeof s->keys, "%s/keys", dir);
    (void) snprintf(s->ep_gw, sizeof s->ep_gw, "ipc://%s/gw.sock", dir);
    (void) snprintf(s->ep_dots, sizeof s->ep_dots, "ipc://%s/dots.sock", dir);
    (void) snprintf(s->ep_cms, sizeof s->ep_cms, "ipc://%s/cms.sock", dir);
    (void) snprintf(s->ep_ams, sizeof s->ep_ams, "ipc://%s/ams.sock", dir);
    cmn_err_t kerr = cmn_bus_keys_create(s->keys, false);
    if (kerr != CMN_OK && kerr != CMN_EEXIST) { /* EEXIST: the test made them (and more) */
        return -1;
    }
    if (s_start_one(s, "gateway", extra_all, NULL) != 0 ||
        s_start_one(s, "cms", extra_all, NULL) != 0 ||
        s_start_one(s, "ams", extra_all, NULL) != 0 ||
        s_start_one(s, "dots", extra_all, extra_dots) != 0) {
        obt_suite_stop(s);
        return -1;
    }
    return 0;
}

int
obt_suite_start_with(obt_suite_t *s,
                     const char *dir,
                     const char *const *extra_all,
                     const char *const *extra_dots)
{
    s->gateways = NULL;
    s->extra_gw = NULL;
    s->extra_svc = NULL;
    s->is_durable = false;
    return s_suite_start(s, dir, extra_all, extra_dots, false);
}

int
obt_suite_start_durable(obt_suite_t *s, const char *dir, const char *const *extra_dots)
{
    s->gateways = NULL;
    s->extra_gw = NULL;
    s->extra_svc = NULL;
    s->is_durable = true;
    return s_suite_start(s, dir, NULL, extra_dots, false);
}

int
obt_suite_start_gateways(obt_suite_t *s,
                         const char *dir,
                         const char *gateways,
                         const char *const *extra_gw)
{
    s->gateways = gateways;
    s->extra_gw = extra_gw;
    s->extra_svc = NULL;
    s->is_durable = false;
    return s_suite_start(s, dir, NULL, NULL, false);
}

int
obt_suite_start_shared(obt_suite_t *s, const char *dir, const char *const *extra_dots)
{
    static const char *const shared[] = {"--shared-store", NULL};
    s->gateways = NULL;
    s->extra_gw = NULL;
    s->extra_svc = shared;
    s->is_durable = false;
    return s_suite_start(s, dir, NULL, extra_dots, false);
}

int
obt_suite_start_shared_durable(obt_suite_t *s, const char *dir, const char *const *extra_dots)
{
    static const char *const shared[] = {"--shared-store", NULL};
    s->gateways = NULL;
    s->extra_gw = NULL;
    s->extra_svc = shared;
    s->is_durable = true;
    return s_suite_start(s, dir, NULL, extra_dots, false);
}

int
obt_suite_start_instance(obt_suite_t *s, obt_proc_t *p, const char *which, const char *name)
{
    return s_start_one_as(s, which, p, name, NULL,
                          strcmp(which, "dots") == 0 ? s->extra_dots : NULL);
}

int
obt_suite_start_default_discovery(obt_suite_t *s, const char *dir)
{
    s->gateways = NULL;
    s->extra_gw = NULL;
    s->extra_svc = NULL;
    s->is_durable = false;
    return s_suite_start(s, dir, NULL, NULL, true);
}

int
obt_suite_restart(obt_suite_t *s, const char *which, const char *const *extra)
{
    return s_start_one(s, which, NULL, extra);
}

void
obt_suite_stop(obt_suite_t *s)
{
    (void) obt_proc_stop(&s->dots);
    (void) obt_proc_stop(&s->ams);
    (void) obt_proc_stop(&s->cms);
    (void) obt_proc_stop(&s->gw);
}

void
obt_suite_dump(const obt_suite_t *s)
{
    obt_proc_dump(&s->gw);
    obt_proc_dump(&s->dots);
    obt_proc_dump(&s->cms);
    obt_proc_dump(&s->ams);
}

int
obt_ctl(const obt_suite_t *s, const char *const *args, char **ret_out)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = "--keys-dir";
    argv[n++] = s->keys;
    argv[n++] = "--gateway";
    argv[n++] = s->ep_gw;
    argv[n++] = "--dots";
    argv[n++] = s->ep_dots;
    argv[n++] = "--cms";
    argv[n++] = s->ep_cms;
    argv[n++] = "--ams";
    argv[n++] = s->ep_ams;
    for (size_t i = 0; args && args[i] && n < 63; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return obt_run("obtctl", argv, ret_out);
}

int
obt_ctl_or_dump(const obt_suite_t *s,
                const obt_proc_t *sim,
                const char *const *args,
                char **ret_out)
{
    int rc = obt_ctl(s, args, ret_out);
    if (rc != 0) {
        obt_suite_dump(s);
        if (sim) {
            obt_proc_dump(sim);
        }
    }
    return rc;
}

int
obt_ctl_wait_output(const obt_suite_t *s,
                    const char *const *args,
                    const char *const *tokens,
                    int timeout_ms,
                    char **ret_out)
{
    struct timespec start;
    (void) clock_gettime(CLOCK_MONOTONIC, &start);
    char *out = NULL;
    for (;;) {
        free(out);
        out = NULL;
        bool has_all = obt_ctl(s, args, &out) == 0 && out != NULL;
        for (size_t i = 0; has_all && tokens[i]; i++) {
            has_all = strstr(out, tokens[i]) != NULL;
        }
        if (has_all || s_ms_since(&start) > timeout_ms) {
            if (ret_out) {
                *ret_out = out;
            } else {
                free(out);
            }
            return has_all ? 0 : -1;
        }
        s_nap();
    }
}

void
obt_test_end(obt_suite_t *s, obt_proc_t *sim, char **dir)
{
    if (sim) {
        (void) obt_proc_stop(sim);
    }
    obt_suite_stop(s);
    (void) obt_procs_reap_left();
    obt_rmrf(*dir);
    free(*dir);
    *dir = NULL;
}

int
obt_send_health(cmn_bus_client_t *cli, uint64_t corr_id)
{
    Obt__Health health = OBT__HEALTH__INIT;
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    req.corr_id = corr_id;
    req.body_case = OBT__DOTS__REQUEST__BODY_HEALTH;
    req.health = &health;
    return (int) cmn_bus_client_send_pb(cli, &req.base);
}
