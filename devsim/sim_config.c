/* sim_config.c — ocf-devsim configuration table */
#include "sim_config.h"

#include <stddef.h>

#define OPT(n, t, f, d, fl, lo, hi, h)                                                             \
    {                                                                                              \
        n, t, offsetof(sim_config_t, f), d, fl, lo, hi, h                                          \
    }

const cmn_cfg_opt_t SIM_CONFIG_OPTS[] = {
        OPT("count", CMN_CFG_INT, count, "1", 0, 1, 5000, "number of simulated devices"),
        OPT("dir",
            CMN_CFG_STR,
            dir,
            NULL,
            CMN_CFG_REQUIRED,
            1,
            0,
            "folder holding one sub-folder per device"),
        OPT("address", CMN_CFG_STR, address, "127.0.0.1", 0, 1, 0, "unicast bind address"),
        OPT("iface", CMN_CFG_STR, iface, "lo", 0, 1, 0, "interface for multicast"),
        OPT("oxms", CMN_CFG_STR, oxms, "0", 0, 1, 0, "offered OTMs, comma list (0 = JW)"),
        OPT("mcast-jitter-ms",
            CMN_CFG_INT,
            mcast_jitter_ms,
            "0",
            0,
            0,
            5000,
            "random delay of multicast replies"),
        OPT("reset-delay-ms",
            CMN_CFG_INT,
            reset_delay_ms,
            "200",
            0,
            0,
            10000,
            "delay between a reset request and the reset"),
        OPT("faults",
            CMN_CFG_STR,
            faults,
            "",
            0,
            1,
            0,
            "fault injection: IDX:bad-cbor:PATH, IDX:silent:PATH, IDX:error:PATH, IDX:bad-coap, "
            "IDX:damage-acl"),
        OPT("log-level", CMN_CFG_STR, log_level, "notice", 0, 1, 0, "err|warn|notice|info|debug"),
        OPT("dump",
            CMN_CFG_BOOL,
            dump,
            "false",
            0,
            1,
            0,
            "print every device persisted in --dir as JSON and exit"),
        OPT("ipv6", CMN_CFG_BOOL, ipv6, "false", 0, 1, 0, "also join ff02::158"),
        OPT("fsync", CMN_CFG_BOOL, fsync, "false", 0, 1, 0, "fsync every state file write"),
};
const size_t SIM_CONFIG_OPT_COUNT = sizeof SIM_CONFIG_OPTS / sizeof SIM_CONFIG_OPTS[0];
