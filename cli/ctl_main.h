/* ctl_main.h — obtctl: global options, the command table, exit codes, shared helpers */
#ifndef CTL_MAIN_H
#define CTL_MAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmn_bus.h"

/* Exit codes scripts can rely on. */
#define CTL_EXIT_OK       0
#define CTL_EXIT_FAILED   1 /* the operation ran and (partly) failed */
#define CTL_EXIT_USAGE    2
#define CTL_EXIT_NOTFOUND 3
#define CTL_EXIT_TIMEOUT  4 /* daemon unreachable or no answer in time */
#define CTL_EXIT_CONFIG   78

typedef struct {
    const char *keys_dir;
    const char *ep[4]; /* gateway, dots, cms, ams */
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

/* Sends a DOTS request (corr_id set here) and unpacks the reply into *ret (caller
 * frees it with obt__dots__reply__free_unpacked); prints the daemon's error if any
 * and maps its status to an exit code: ENOTFOUND 3, EINVAL 2, ETIMEDOUT 4, other 1. */
struct Obt__Dots__Request;
struct Obt__Dots__Reply;
int ctl_dots(const ctl_opts_t *o,
             struct Obt__Dots__Request *req,
             int timeout_ms,
             struct Obt__Dots__Reply **ret);

/* Prints s as a JSON string. */
void ctl_json_str(FILE *out, const char *s);

/* Commands: argv[0] is the command name. Return an exit code. */
int ctl_cmd_keys(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_discover(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_devices(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_approve(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_onboard(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_show(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_health(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_reset(const ctl_opts_t *o, int argc, char **argv);
int ctl_cmd_repair(const ctl_opts_t *o, int argc, char **argv);

/* Runs obtctl (main's body). */
int ctl_main(int argc, char **argv);

#endif
