/* dots_config.h — obt-dots configuration table */
#ifndef DOTS_CONFIG_H
#define DOTS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cmn_cfg.h"

typedef struct {
    char *endpoint;         /* ZeroMQ ROUTER endpoint */
    char *events;           /* ZeroMQ PUB endpoint of the job events, "" = from endpoint */
    char *keys_dir;         /* CURVE keys */
    char *store_dir;        /* LMDB folder */
    char *kek_file;         /* key-encryption key of the secrets, "" = keys_dir/secret/dots.kek */
    char *gateway;          /* obt-gateway endpoint */
    char *cms;              /* obt-cms endpoint */
    char *ams;              /* obt-ams endpoint */
    char *name;             /* this DOTS's /oic/d n */
    char *sd_name;          /* security domain name (sdi.name) */
    bool sd_priv;           /* sdi.priv */
    int max_in_flight;      /* onboarding jobs at once */
    bool auto_approve;      /* approve discovered devices without the operator */
    char *otm_policy;       /* acceptable OTMs, most preferred first ("mfg,rdp,jw") */
    char *partition;        /* "K/G": only the devices of part K of G ("" = all) */
    int parts;              /* --parts G with --shared-store: each active instance serves
                               one part of G (1: one active for every device, D91) */
    int discover_window_ms; /* default discovery window */
    int discover_max_new;   /* new device records one discovery may add */
    int step_timeout_ms;    /* deadline of one onboarding step */
    int vod_discover_ms;    /* how long a Bridge's VODs are looked for (docs/bridges.md) */
    int heartbeat_ms;       /* between two health requests to the gateway, CMS and AMS */
    int recover_delay_ms;   /* an interrupted job is retried by itself after this long */
    int recover_attempts;   /* ... at most this many times (0: never by itself) */
    bool durable;           /* LMDB sync on commit */
    int map_size_mib;       /* LMDB map size */
    char *log_level;
    bool is_shared_store; /* --shared-store: active and standbys on store_dir (D91) */
    char *instance;       /* this instance's name in logs ("" at load: dots-<pid>) */
} dots_config_t;

extern const cmn_cfg_opt_t DOTS_CONFIG_OPTS[];
extern const size_t DOTS_CONFIG_OPT_COUNT;

#endif
