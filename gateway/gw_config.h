/* gw_config.h — obt-gateway configuration table */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cmn_cfg.h"

typedef struct {
    char *endpoint;              /* ZeroMQ ROUTER endpoint */
    char *name;                  /* this gateway's name among several (docs/scaling.md) */
    char *keys_dir;              /* CURVE keys (obtctl keys) */
    char *key;                   /* its key pair's name: "gateway", "gateway-NAME" */
    char *address;               /* where the services' /oic/d are served */
    char *iface;                 /* multicast interfaces, comma list */
    char *scope;                 /* multicast scopes, comma list, in order of preference */
    int discover_rounds;         /* default doxm rounds */
    int discover_window_ms;      /* default reply window */
    int discover_max_replies;    /* datagrams from new sources per discovery */
    int discover_max_per_source; /* deviceuuids one source ADDR:PORT may claim */
    int discover_max_kib;        /* memory of one pending discovery's results */
    int request_timeout_ms;      /* default CoAP exchange deadline */
    int session_idle_ms;         /* idle DTLS sessions are closed after this */
    char *mfg_subject;           /* "accept" | "strict": an mfg leaf's CN naming another uuid */
    char *log_level;             /* err..debug */
} gw_config_t;

extern const cmn_cfg_opt_t GW_CONFIG_OPTS[];
extern const size_t GW_CONFIG_OPT_COUNT;

/* Parses the value of --mfg-subject: "accept" (*ret_is_strict = false) or "strict"
 * (true). 0, or -1 for anything else. */
int gw_config_parse_mfg_subject(const char *value, bool *ret_is_strict);

#endif
