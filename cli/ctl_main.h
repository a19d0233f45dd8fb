/* ctl_main.h — obtctl: global options, the command table, exit codes, shared helpers */
#ifndef CTL_MAIN_H
#define CTL_MAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cmn_bus.h"
#include "obt/cms.pb-c.h"
#include "obt/dots.pb-c.h"

/* Exit codes scripts can rely on: the one table (`obtctl --help` and docs/cli.md
 * print it; tests/unit/cli/ctl_exit_test.c checks both and every row). */
#define CTL_EXIT_TABLE(X)                                                                          \
    X(OK, 0, "ok")                                                                                 \
    X(FAILED, 1, "the operation ran and failed (for one device or more)")                          \
    X(USAGE, 2, "usage: unknown command or option, bad number, malformed UUID, unknown state")     \
    X(NOTFOUND, 3, "not found: unknown UUID or trust anchor, missing file")                        \
    X(TIMEOUT, 4, "timeout, daemon unreachable, or our CURVE key not authorised")                  \
    X(CONFIG, 78, "bad configuration: keys missing or unreadable, bad store folder")

#define CTL_EXIT_ENUM_(name, code, text) CTL_EXIT_##name = (code),
enum { CTL_EXIT_TABLE(CTL_EXIT_ENUM_) };
#undef CTL_EXIT_ENUM_

typedef struct {
    int code;
    const char *text;
} ctl_exit_row_t;
/* The rows of CTL_EXIT_TABLE, in order; n in *ret_n. */
const ctl_exit_row_t *ctl_exit_rows(size_t *ret_n);

typedef struct {
    const char *keys_dir;
    const char *key;    /* our own key's name: "obtctl" (the operator) by default */
    const char *ep[4];  /* gateway, dots, cms, ams */
    const char *events; /* DOTS's job events (PUB); NULL = derived from ep[CTL_DOTS] */
    int timeout_ms;
    bool json;
} ctl_opts_t;

enum { CTL_GW = 0, CTL_DOTS, CTL_CMS, CTL_AMS };

/* Sends msg (corr_id already set) to daemon `which` and waits for the reply.
 * Prints a clear error and returns an exit code on failure (0 on success). */
int ctl_call(const ctl_opts_t *o,
             int which,
             const ProtobufCMessage *msg,
             uint64_t corr_id,
             int timeout_ms,
             uint8_t **ret_data,
             size_t *ret_len);

/* Sends a DOTS request (sets its corr_id) and unpacks the reply into *ret (free with
 * obt__dots__reply__free_unpacked). On a daemon error prints it and returns the
 * matching exit code (*ret NULL): ENOTFOUND 3, EINVAL 2, ETIMEDOUT 4, other 1. */
int ctl_dots(const ctl_opts_t *o, Obt__Dots__Request *req, int timeout_ms, Obt__Dots__Reply **ret);

/* Sends a CMS request (sets its corr_id) and unpacks the reply into *ret (free with
 * obt__cms__reply__free_unpacked); timeout_ms 0: --timeout. On a daemon error prints it
 * and returns its exit code (*ret NULL): ENOTFOUND 3, EINVAL 2, ETIMEDOUT 4, other 1. */
int ctl_cms(const ctl_opts_t *o, Obt__Cms__Request *req, int timeout_ms, Obt__Cms__Reply **ret);

/* Prints s as a JSON string: quotes, backslash and control characters escaped; other
 * bytes (UTF-8) as they are. */
void ctl_json_str(FILE *out, const char *s);

/* DOTS's job events (ctl_watch.c). Connects a SUB to DOTS's events endpoint and
 * subscribes to the events of uuids (current or first uuid each), or of every device
 * (n = 0). NULL if that cannot be set up (printed). Destroy with cmn_bus_sub_destroy. */
cmn_bus_sub_t *ctl_events_open(const ctl_opts_t *o, char **uuids, size_t n);
/* Waits up to timeout_ms for DOTS to confirm the subscriptions (events received
 * meanwhile are dropped: they precede whatever the caller asks DOTS next). */
bool ctl_events_wait_live(cmn_bus_sub_t *sub, int timeout_ms);
/* The next event waiting (unpacked: free with obt__dots__job_event__free_unpacked), or
 * NULL if none waits. */
Obt__Dots__JobEvent *ctl_events_next(cmn_bus_sub_t *sub);

/* Parses --owner's USER[:GROUP] (names or numbers; a user's own group unless GROUP).
 * False if a name is unknown or the text is malformed. */
bool ctl_owner_parse(const char *spec, uid_t *ret_uid, gid_t *ret_gid);

/* Commands: argv[0] is the command name. Return an exit code. */
int ctl_cmd_keys(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_discover(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_devices(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_approve(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_onboard(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_show(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_pin(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_health(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_mfg_trust(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_reset(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_repair(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_forget(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_watch(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_kek(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_acl(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_allow(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_deny(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_ca(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_certs(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_cert(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_crl(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_pair(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_unpair(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_links(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_group(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_groups(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_creds(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_cred(const ctl_opts_t *o, int argc, char **argv);
/* obtctl cert renew UUID (argv[1] is "renew"; ctl_cred.c). */
int ctl_cert_renew(const ctl_opts_t *o, int argc, char **argv);
/* obtctl cert role UUID --role NAME [--authority A] (ctl_cred.c). */
int ctl_cert_role(const ctl_opts_t *o, int argc, char **argv);

/* Where obtctl gets a Random PIN: a file, stdin, or (neither) the terminal. */
typedef struct {
    const char *file; /* --pin-file F ("-": stdin) */
    bool from_stdin;  /* --pin - (same as --pin-file -) */
    bool is_given;    /* already submitted: a device still in WAIT_PIN is about to go on */
} ctl_pin_src_t;

/* Reads a PIN for uuid from src into pin (digits only). Exit code on failure. */
int ctl_pin_read(const ctl_pin_src_t *src, const char *uuid, char *pin, size_t len);
/* True if src can give a PIN now (a file, stdin, or a terminal to prompt on). */
bool ctl_pin_can_read(const ctl_pin_src_t *src);
/* Sends the PIN to DOTS (SubmitPin) and wipes it. Exit code. */
int ctl_pin_submit(const ctl_opts_t *o, const char *uuid, char *pin);

/* Waits until every selected device (uuids, or all) is in RFNOP or FAILED, with a
 * progress bar on a terminal. A device in WAIT_PIN gets its PIN from pins when
 * ctl_pin_can_read(pins), else the wait ends with it still waiting ("obtctl pin").
 * Follows DOTS's job events on events (borrowed; subscribed to every device before
 * the caller's request; NULL: opened here): one device list for the starting state,
 * then the events; the list again on a gap in a device's seq, an unknown device, or
 * a quiet period. Exit 0 if none failed, 1 if any failed, 4 after wait_s. */
int ctl_wait_onboarding(const ctl_opts_t *o,
                        cmn_bus_sub_t *events,
                        char **uuids,
                        size_t n,
                        bool all,
                        int wait_s,
                        const ctl_pin_src_t *pins);

/* Runs obtctl (main's body). */
int ctl_main(int argc, char **argv);

#endif
