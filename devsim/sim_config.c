/* sim_config.c — ocf-devsim configuration table */
#include "sim_config.h"

#include <stddef.h>
#include <stdio.h>

#include "cmn_svr.h"
#include "sim_device.h"

#define OPT(n, t, f, d, fl, lo, hi, h)                                                             \
    {                                                                                              \
        n, t, offsetof(sim_config_t, f), d, fl, lo, hi, h                                          \
    }

const cmn_cfg_opt_t SIM_CONFIG_OPTS[] = {
        OPT("count",
            CMN_CFG_INT,
            count,
            "1",
            0,
            1,
            SIM_MAX_COUNT,
            "number of simulated devices; each needs about " SIM_FDS_PER_DEVICE_STR
            " descriptors (the soft limit is raised to the hard one; run several processes "
            "with --first-index for more than about 2000)"),
        OPT("first-index",
            CMN_CFG_INT,
            first_index,
            "0",
            0,
            0,
            SIM_MAX_COUNT,
            "index of the first device (its folder DIR/dev-NNNN): processes sharing one --dir "
            "take disjoint ranges; --faults, --certs and --ssm still count from 0 in this "
            "process; not with --bridge-vods"),
        OPT("dir",
            CMN_CFG_STR,
            dir,
            NULL,
            CMN_CFG_REQUIRED,
            1,
            0,
            "folder holding one sub-folder per device"),
        OPT("address",
            CMN_CFG_STR,
            address,
            "127.0.0.1",
            0,
            1,
            0,
            "unicast bind addresses, comma list, IPv4 and/or IPv6 (fe80::1%veth0)"),
        OPT("iface", CMN_CFG_STR, iface, "lo", 0, 1, 0, "interfaces for multicast, comma list"),
        OPT("mcast-bind",
            CMN_CFG_BOOL,
            mcast_bind,
            "false",
            0,
            1,
            0,
            "receive multicast only from --iface (one interface; SO_BINDTODEVICE): a device "
            "network of its own when several share a network namespace"),
        OPT("scope",
            CMN_CFG_STR,
            scope,
            "link,realm,site,ipv4",
            0,
            1,
            0,
            "multicast groups joined: link (ff02::158), realm, site, ipv4 (224.0.1.187)"),
        OPT("mcast", CMN_CFG_BOOL, mcast, "true", 0, 1, 0, "answer multicast discovery"),
        OPT("oxms",
            CMN_CFG_STR,
            oxms,
            "0",
            0,
            1,
            0,
            "offered OTMs, comma list (0 = Just Works, 1 = Random PIN, 2 = manufacturer "
            "certificate: DIR/factory-ca.pem is the CA to trust)"),
        OPT("mcast-jitter-ms",
            CMN_CFG_INT,
            mcast_jitter_ms,
            "0",
            0,
            0,
            5000,
            "random delay of multicast replies, 0..N ms; while one is pending the device "
            "ignores further multicast requests (a reference device: 2000)"),
        OPT("reset-delay-ms",
            CMN_CFG_INT,
            reset_delay_ms,
            "200",
            0,
            0,
            10000,
            "delay between a reset request and the reset"),
        OPT("doc-idle-ms",
            CMN_CFG_INT,
            doc_idle_ms,
            "10000",
            0,
            100,
            600000,
            "a DOC with no request for this long is dropped, and the device, still in RFOTM, "
            "resets (an OBT that died mid-way does not strand it)"),
        OPT("faults",
            CMN_CFG_STR,
            faults,
            "",
            0,
            1,
            0,
            "fault injection: IDX:bad-cbor:PATH, IDX:silent:PATH, IDX:error:PATH, IDX:bad-coap, "
            "IDX:bad-hint, IDX:mute-first, IDX:damage-acl, IDX:drop-doc:PATH, IDX:absent, "
            "IDX:owned-rfotm (tests only: an owned device goes back to RFOTM keeping owned=true "
            "and its credentials, an unowned one gets an unknown owner; neither resets by "
            "itself, and a PSK session of its credentials is its DOC), "
            "IDX:stop-maint:PATH (SIGSTOP at PATH in a maintenance), "
            "IDX:stop:N:METHOD:PATH (SIGSTOP at the Nth such request outside the DOC), "
            "IDX:stop-doc:N:METHOD:PATH (the same over the DOC), "
            "IDX:refuse-dtls:N (refuse the first N DTLS handshakes once out of RFOTM), "
            "IDX:mfg:KIND (manufacturer certificate "
            "good, expired, bad-ku, no-ocf-eku, untrusted, ca-leaf, other-uuid, bad-sig)"),
        OPT("bridge-vods",
            CMN_CFG_INT,
            bridge_vods,
            "0",
            0,
            0,
            CMN_VODLIST_MAX,
            "device 0 is an OCF Bridge hosting N VODs (devices --count .. --count+N-1)"),
        OPT("rt",
            CMN_CFG_STR,
            rt,
            "oic.r.switch.binary,oic.r.temperature",
            0,
            1,
            0,
            "application resources, comma list of resource types: oic.r.switch.binary "
            "(/light), oic.r.temperature (/temp); listed in /oic/res, reached as the ACL "
            "allows (docs/ams.md)"),
        OPT("icv",
            CMN_CFG_STR,
            icv,
            SIM_DEFAULT_ICV,
            0,
            1,
            0,
            "/oic/d icv (ocf.X.Y.Z); ocf.2.4.0 and older do not know the oic.role.owner "
            "role without an ACE (Table 2)"),
        OPT("certs",
            CMN_CFG_STR,
            certs,
            "",
            0,
            1,
            0,
            "devices with certificate support (doxm sct 1|8) and /oic/sec/csr: all, or a "
            "comma list of IDX, IDX:nocsr (no /oic/sec/csr: the CMS makes the key pair) and "
            "IDX:badcn (tests: the CSR names another uuid)"),
        OPT("ssm",
            CMN_CFG_STR,
            ssm,
            "",
            0,
            1,
            0,
            "devices that take SSM group contexts (doxm sct + 128|256, seed 6.4): all, or a "
            "comma list of IDX"),
        OPT("log-level", CMN_CFG_STR, log_level, "notice", 0, 1, 0, "err|warn|notice|info|debug"),
        OPT("dump",
            CMN_CFG_BOOL,
            dump,
            "false",
            0,
            1,
            0,
            "print every device persisted in --dir as JSON and exit (a simulator running on --dir "
            "writes its pending changes first)"),
        OPT("fsync",
            CMN_CFG_BOOL,
            fsync,
            "false",
            0,
            1,
            0,
            "write and fsync a device's state file at every change: a kill -9 of the "
            "simulator loses nothing (without it, changes are written in batches: a kill -9 "
            "may lose up to --flush-ms of them; SIGTERM/SIGINT and --dump lose none)"),
        OPT("flush-ms",
            CMN_CFG_INT,
            flush_ms,
            "200",
            0,
            0,
            60000,
            "changed devices' state files are written together at most this often (0 = at "
            "every change, no fsync); ignored with --fsync"),
        OPT("rdp-legacy-hint",
            CMN_CFG_BOOL,
            rdp_legacy_hint,
            "false",
            0,
            1,
            0,
            "Random PIN: send the PSK identity hint of older releases (the UUID only)"),
        OPT("new-ports",
            CMN_CFG_BOOL,
            new_ports,
            "false",
            0,
            1,
            0,
            "bind new random coap/coaps ports at every start, as IoTivity-Lite does "
            "(default: the ports stored at the first start)"),
        OPT("mfg-cn-fixed",
            CMN_CFG_BOOL,
            mfg_cn_fixed,
            "false",
            0,
            1,
            0,
            "manufacturer certificates (oxm 2) as a stock device's: the CN names a uuid drawn "
            "when the certificate is made, never the deviceuuid, kept through resets "
            "(default: the CN follows the deviceuuid, reissued after a reset)"),
};
const size_t SIM_CONFIG_OPT_COUNT = sizeof SIM_CONFIG_OPTS / sizeof SIM_CONFIG_OPTS[0];

int
sim_config_check(const sim_config_t *cfg)
{
    if (cfg->first_index > 0 && cfg->bridge_vods > 0) {
        (void) fprintf(stderr, "error: --bridge-vods needs --first-index 0 (a Bridge is device "
                               "0 of its process)\n");
        return 78;
    }
    if ((long long) cfg->first_index + cfg->count + cfg->bridge_vods > SIM_MAX_COUNT) {
        (void) fprintf(stderr, "error: --first-index %d + --count %d: indexes beyond %d\n",
                       cfg->first_index, cfg->count, SIM_MAX_COUNT);
        return 78;
    }
    return 0;
}
