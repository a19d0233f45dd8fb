/* obt_support.h — integration-test and benchmark support: temporary folders, real
 * processes (spawn, wait for READY, stop, kill -9), command output capture */
#ifndef OBT_SUPPORT_H
#define OBT_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmn_bus.h"

/* Where the programs started below are: $OBT_BIN_DIR if set (the bench compares the
 * binaries of two builds with it), else the build's bin/. */
const char *obt_bin_dir(void);

/* Makes a fresh temporary folder (under $TMPDIR or /tmp); malloc'd path. */
char *obt_tmpdir(const char *tag);
/* Removes a folder recursively. */
void obt_rmrf(const char *path);

typedef struct {
    pid_t pid;     /* 0 when not running */
    char name[32]; /* for messages */
    char log[512]; /* stderr+stdout of the process */
} obt_proc_t;

/* Starts OBT_BIN_DIR/<exe> with the NULL-terminated argv (argv[0] excluded), output to
 * <dir>/<name>.log. Returns 0 on success. */
int obt_proc_start(
        obt_proc_t *p, const char *dir, const char *name, const char *exe, const char *const *argv);
/* obt_proc_start as user uid with group uid (the containers' service user, 10001);
 * needs root. */
int obt_proc_start_as(obt_proc_t *p,
                      const char *dir,
                      const char *name,
                      const char *exe,
                      const char *const *argv,
                      uid_t uid);
/* Waits until the log contains token (e.g. " READY ") or timeout_ms passes, or the
 * process exits. Returns 0 when found. */
int obt_proc_wait_log(const obt_proc_t *p, const char *token, int timeout_ms);
/* Counts occurrences of token in the log. */
int obt_proc_log_count(const obt_proc_t *p, const char *token);
/* Waits until the log has at least count lines with token, or timeout_ms passes, or the
 * process exits. Returns 0 when reached. */
int obt_proc_wait_log_count(const obt_proc_t *p, const char *token, int count, int timeout_ms);
/* SIGTERM, wait up to 5 s, then SIGKILL. Returns the exit status (or -1). */
int obt_proc_stop(obt_proc_t *p);
/* Waits up to limit_ms for p to exit by itself (then stops it). Returns its exit
 * status, -1 if it had to be stopped or was killed by a signal. */
int obt_proc_wait_exit(obt_proc_t *p, int limit_ms);
/* SIGKILL at once. */
void obt_proc_kill9(obt_proc_t *p);
/* True if still running. */
bool obt_proc_alive(obt_proc_t *p);
/* Kills (SIGKILL) and reaps every process obt_proc_start started that is still running
 * and was not stopped by obt_proc_stop/obt_proc_kill9, saying so on stderr; returns how
 * many there were (0: the test cleaned up). obt_test_end calls it. Every process the
 * support starts also gets SIGKILL when the test process dies (PR_SET_PDEATHSIG). */
int obt_procs_reap_left(void);
/* Prints the log to stderr (for failures). */
void obt_proc_dump(const obt_proc_t *p);

/* Runs OBT_BIN_DIR/<exe> argv... and captures stdout (malloc'd, NUL-terminated) and
 * the exit status. Returns the exit status, or -1 if it could not run. */
int obt_run(const char *exe, const char *const *argv, char **ret_out);

/* The suite: gateway, cms, ams, dots on ipc:// endpoints in dir, keys in dir/keys. */
typedef struct {
    char dir[512];
    char keys[600];
    char ep_gw[600], ep_dots[600], ep_cms[600], ep_ams[600];
    obt_proc_t gw, dots, cms, ams;
    bool is_default_discovery;     /* the daemons' own discovery window (no 400 ms) */
    const char *gateways;          /* --gateway of DOTS, CMS, AMS; NULL = ep_gw (borrowed) */
    const char *const *extra_gw;   /* more flags of the suite's gateway, NULL-ended (borrowed) */
    const char *const *extra_svc;  /* more flags of the suite's CMS and AMS (borrowed) */
    bool is_durable;               /* stores synced (obt_suite_start_durable: the bench);
                                    * tests run DOTS, CMS and AMS --no-durable */
    const char *const *extra_dots; /* the suite's DOTS flags (borrowed), for more DOTS */
} obt_suite_t;

/* Creates keys and starts the four daemons, waiting for READY. extra_dots is an
 * optional NULL-terminated list of extra obt-dots flags. Returns 0 on success. */
int obt_suite_start(obt_suite_t *s, const char *dir, const char *const *extra_dots);
/* The same, with extra_all (NULL-terminated, may be NULL) given to every daemon
 * after the usual flags (so `--log-level debug` wins over the default). */
int obt_suite_start_with(obt_suite_t *s,
                         const char *dir,
                         const char *const *extra_all,
                         const char *const *extra_dots);
/* The same with the stores of DOTS, CMS and AMS synced at every commit (the bench;
 * extra_dots may still say --no-durable for DOTS). */
int obt_suite_start_durable(obt_suite_t *s, const char *dir, const char *const *extra_dots);
/* The same as obt_suite_start, with the daemons' own discovery window: the suite
 * otherwise gives the gateway and DOTS --discover-window-ms 400 to keep tests fast. */
int obt_suite_start_default_discovery(obt_suite_t *s, const char *dir);
/* The same as obt_suite_start, for several gateways: DOTS, CMS and AMS get --gateway
 * gateways ("gw-a=ipc://...,gw-b=ipc://..."), the suite's own gateway (at ep_gw, named
 * in gateways) gets extra_gw too (--name, --iface...), also when restarted; the test
 * starts the others. Both are borrowed for the suite's life. */
int obt_suite_start_gateways(obt_suite_t *s,
                             const char *dir,
                             const char *gateways,
                             const char *const *extra_gw);
/* The same as obt_suite_start, with the suite's CMS and AMS given --shared-store (and
 * again when restarted): the test may start more instances on their stores
 * (docs/scaling.md). */
int obt_suite_start_shared(obt_suite_t *s, const char *dir, const char *const *extra_dots);
/* One more instance, name, of which ("cms", "ams", "dots") on the suite's store of a
 * suite started shared: --shared-store --instance name, synced as the suite; a CMS or
 * AMS at ipc://DIR/<name>.sock, a DOTS at the suite's DOTS endpoint with the suite's
 * DOTS flags (extra_dots: give the suite's DOTS `--shared-store --instance dots-1`
 * there). 0 once READY, or for a DOTS once READY or a standby (DOTS-STANDBY); else
 * -1, its log dumped. */
int obt_suite_start_instance(obt_suite_t *s, obt_proc_t *p, const char *which, const char *name);
/* The same, with every store synced (the bench with several CMS and AMS instances). */
int obt_suite_start_shared_durable(obt_suite_t *s, const char *dir, const char *const *extra_dots);
/* Starts one daemon of the suite again ("gateway", "dots", "cms", "ams"). */
int obt_suite_restart(obt_suite_t *s, const char *which, const char *const *extra);
void obt_suite_stop(obt_suite_t *s);
void obt_suite_dump(const obt_suite_t *s);

/* Runs obtctl with the suite's endpoints and keys followed by args. */
int obt_ctl(const obt_suite_t *s, const char *const *args, char **ret_out);
/* obt_ctl, and when it fails, every log of the suite and of sim (if not NULL). */
int obt_ctl_or_dump(const obt_suite_t *s,
                    const obt_proc_t *sim,
                    const char *const *args,
                    char **ret_out);

/* Runs obtctl with args again and again until its output contains every one of the
 * NULL-terminated tokens, or timeout_ms passes. Returns 0 when seen; *ret_out (caller
 * frees, may be NULL) holds the last output either way. */
int obt_ctl_wait_output(const obt_suite_t *s,
                        const char *const *args,
                        const char *const *tokens,
                        int timeout_ms,
                        char **ret_out);

/* Sends a DOTS Health request with corr_id over cli (a cmn_bus client), as obtctl
 * health would: a small real message for the bus tests. The send's result. */
int obt_send_health(cmn_bus_client_t *cli, uint64_t corr_id);

/* The end of an integration test: stops sim (if not NULL and running) and the suite,
 * removes the test's folder *dir and frees it. */
void obt_test_end(obt_suite_t *s, obt_proc_t *sim, char **dir);

#endif
