/* gw_config.c — obt-gateway configuration table */
#include "gw_config.h"

#include <string.h>

#include "cmn_gws.h"

#define OPT(n, t, f, d, fl, lo, hi, h)                                                             \
    {                                                                                              \
        n, t, offsetof(gw_config_t, f), d, fl, lo, hi, h                                           \
    }

const cmn_cfg_opt_t GW_CONFIG_OPTS[] = {
        OPT("endpoint",
            CMN_CFG_STR,
            endpoint,
            "tcp://127.0.0.1:7400",
            0,
            1,
            0,
            "ZeroMQ endpoint the gateway binds"),
        OPT("name",
            CMN_CFG_STR,
            name,
            CMN_GW_DEFAULT_NAME,
            0,
            1,
            0,
            "this gateway's name, one per device network: the services list it as "
            "--gateway NAME=ENDPOINT (docs/scaling.md)"),
        OPT("key",
            CMN_CFG_STR,
            key,
            "gateway",
            0,
            1,
            0,
            "the key pair it serves with, in --keys-dir: gateway, or gateway-NAME made by "
            "`obtctl keys --add gateway-NAME` (the services use gateway-NAME for --gateway "
            "NAME=... when its public key exists; docs/deploy.md)"),
        OPT("keys-dir",
            CMN_CFG_STR,
            keys_dir,
            NULL,
            CMN_CFG_REQUIRED,
            1,
            0,
            "CURVE keys made by `obtctl keys`"),
        OPT("address",
            CMN_CFG_STR,
            address,
            "127.0.0.1",
            0,
            1,
            0,
            "IPv4 address where the services' /oic/d are served"),
        OPT("iface",
            CMN_CFG_STR,
            iface,
            "lo",
            0,
            1,
            0,
            "interfaces for multicast discovery, comma list (lo,veth0)"),
        OPT("scope",
            CMN_CFG_STR,
            scope,
            "ipv4",
            0,
            1,
            0,
            "multicast scopes in order of preference: link,realm,site,ipv4"),
        OPT("discover-rounds",
            CMN_CFG_INT,
            discover_rounds,
            "1",
            0,
            1,
            20,
            "multicast doxm rounds per discovery (one window each)"),
        OPT("discover-window-ms",
            CMN_CFG_INT,
            discover_window_ms,
            "2500",
            0,
            50,
            60000,
            "how long multicast replies are collected (past the 0-2000 ms reply jitter of "
            "reference devices)"),
        OPT("discover-max-replies",
            CMN_CFG_INT,
            discover_max_replies,
            "16384",
            0,
            16,
            1000000,
            "replies from new sources read per discovery; more are dropped"),
        OPT("discover-max-per-source",
            CMN_CFG_INT,
            discover_max_per_source,
            "4",
            0,
            1,
            4096,
            "device uuids one source ADDR:PORT may claim in a discovery"),
        OPT("discover-max-kib",
            CMN_CFG_INT,
            discover_max_kib,
            "8192",
            0,
            64,
            1048576,
            "memory (KiB) of one pending discovery's results"),
        OPT("request-timeout-ms",
            CMN_CFG_INT,
            request_timeout_ms,
            "5000",
            0,
            100,
            600000,
            "default deadline of one CoAP exchange (handshake included)"),
        OPT("session-idle-ms",
            CMN_CFG_INT,
            session_idle_ms,
            "120000",
            0,
            1000,
            86400000,
            "DTLS sessions unused this long are closed"),
        OPT("mfg-subject",
            CMN_CFG_STR,
            mfg_subject,
            "accept",
            0,
            1,
            0,
            "certificate OTM, a manufacturer certificate whose CN names another uuid than "
            "the device's (a stock device's fixed CN): accept (the chain and OCF profile "
            "checks stay; logged GW-MFG-SUBJECT, recorded by DOTS) or strict (refused: "
            "wrong subject)"),
        OPT("log-level", CMN_CFG_STR, log_level, "notice", 0, 1, 0, "err|warn|notice|info|debug"),
};
const size_t GW_CONFIG_OPT_COUNT = sizeof GW_CONFIG_OPTS / sizeof GW_CONFIG_OPTS[0];

int
gw_config_parse_mfg_subject(const char *value, bool *ret_is_strict)
{
    if (value && strcmp(value, "accept") == 0) {
        *ret_is_strict = false;
    } else if (value && strcmp(value, "strict") == 0) {
        *ret_is_strict = true;
    } else {
        return -1;
    }
    return 0;
}
