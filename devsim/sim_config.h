/* sim_config.h — ocf-devsim configuration table */
#ifndef SIM_CONFIG_H
#define SIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "cmn_cfg.h"

#define SIM_MAX_COUNT 100000 /* devices of one process (the descriptor limit decides) */
/* Descriptors one device holds: its contexts' epoll, coap and coaps sockets, the Just
 * Works relay's loopback endpoint and epoll, and a relay's two sockets during a DOC. */
#define SIM_FDS_PER_DEVICE     6
#define SIM_FDS_PER_DEVICE_STR "6"
#define SIM_FDS_BASE           256 /* the process's own: multicast, logs, signalfd, ... */

typedef struct {
    int count;            /* devices hosted by this process */
    int first_index;      /* index (and folder dev-NNNN) of its first device */
    int flush_ms;         /* dirty devices written in batches this often (0 = at once) */
    char *dir;            /* one sub-folder per device */
    char *address;        /* unicast bind addresses, comma list */
    char *iface;          /* multicast interfaces, comma list */
    bool mcast_bind;      /* multicast received only on iface (one; SO_BINDTODEVICE) */
    char *scope;          /* multicast scopes joined, comma list */
    bool mcast;           /* answer multicast discovery */
    char *oxms;           /* comma list of offered OTMs */
    int mcast_jitter_ms;  /* random delay of multicast replies */
    int reset_delay_ms;   /* delay between a reset request and the reset */
    int doc_idle_ms;      /* a DOC without a request for this long is closed (RFOTM: reset) */
    char *faults;         /* fault injection spec (tests) */
    char *log_level;      /* err..debug */
    bool dump;            /* print the persisted devices as JSON and exit */
    bool fsync;           /* fsync state files (power-loss durability) */
    bool rdp_legacy_hint; /* Random PIN: PSK identity hint = UUID only */
    bool new_ports;       /* bind new random ports at every start, as [IL] does */
    bool mfg_cn_fixed;    /* manufacturer certificates as a stock device's: fixed CN */
    int bridge_vods;      /* device 0 is a Bridge with this many VODs (extra devices) */
    char *rt;             /* application resource types served, comma list */
    char *icv;            /* /oic/d icv of every device */
    char *certs;          /* devices with certificates (sct 8) and /oic/sec/csr (sim_csr.h) */
    char *ssm;            /* devices with SSM group contexts (sct 128|256) */
} sim_config_t;

extern const cmn_cfg_opt_t SIM_CONFIG_OPTS[];
extern const size_t SIM_CONFIG_OPT_COUNT;

/* Checks across options the table cannot express (--first-index with --bridge-vods,
 * indexes beyond SIM_MAX_COUNT). 0, or 78 (EX_CONFIG) with the reason on stderr. */
int sim_config_check(const sim_config_t *cfg);

#endif
