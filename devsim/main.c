/* main.c — ocf-devsim: simulated OCF devices for tests, demos and benchmarks */
#include <coap3/coap.h>
#include <stdio.h>
#include <sys/resource.h>

#include "cmn_log.h"
#include "sim_config.h"
#include "sim_dump.h"
#include "sim_sync.h"
#include "sim_world.h"

#define SIM_DUMP_SYNC_MS 3000 /* --dump: how long a running simulator may take to flush */

/* Raises the descriptor limit to what the devices need (root may go past the hard
 * limit, up to fs.nr_open), else to the hard limit. 0 when they fit; otherwise says
 * why on stderr and returns EX_CONFIG, before any device is made. */
static int
s_raise_nofile(const sim_config_t *cfg)
{
    long long devices = (long long) cfg->count + cfg->bridge_vods;
    rlim_t want = (rlim_t) devices * SIM_FDS_PER_DEVICE + SIM_FDS_BASE;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 0; /* unknown: the devices find out themselves */
    }
    if (rl.rlim_cur < want) {
        struct rlimit up = {want, rl.rlim_max > want ? rl.rlim_max : want};
        if (setrlimit(RLIMIT_NOFILE, &up) != 0) {
            up = (struct rlimit){rl.rlim_max, rl.rlim_max};
            (void) setrlimit(RLIMIT_NOFILE, &up);
        }
        (void) getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur >= want) {
        return 0;
    }
    (void) fprintf(stderr,
                   "error: %lld devices need about %llu descriptors; this process may open %llu "
                   "(ulimit -n): fewer devices per process (--count, --first-index), or a "
                   "higher hard limit\n",
                   devices, (unsigned long long) want, (unsigned long long) rl.rlim_cur);
    return 78;
}

int
main(int argc, char **argv)
{
    sim_config_t cfg = {0};
    cmn_cfg_result_t r = cmn_cfg_load(SIM_CONFIG_OPTS, SIM_CONFIG_OPT_COUNT, &cfg, "devsim",
                                      "usage: ocf-devsim --dir DIR [--count N] [options]\n"
                                      "Hosts N simulated OCF devices (CoAP/DTLS) on loopback.",
                                      argc, argv);
    if (r != CMN_CFG_OK) {
        cmn_cfg_free(SIM_CONFIG_OPTS, SIM_CONFIG_OPT_COUNT, &cfg);
        return r == CMN_CFG_HELP ? 0 : 78;
    }
    cmn_log_level_t level = CMN_LOG_NOTICE;
    if (cmn_log_level_parse(cfg.log_level, &level) != 0) {
        (void) fprintf(stderr, "error: --log-level: unknown level \"%s\"\n", cfg.log_level);
        cmn_cfg_free(SIM_CONFIG_OPTS, SIM_CONFIG_OPT_COUNT, &cfg);
        return 78;
    }
    cmn_log_init("devsim", level);
    int rc = 1;
    if (cfg.dump) {
        /* a running simulator of this folder writes its dirty devices first */
        if (sim_sync_request(cfg.dir, SIM_DUMP_SYNC_MS) != CMN_OK) {
            cmn_log_warn("SIM-DUMP-SYNC",
                         "a simulator of \"%s\" did not flush within %d ms: "
                         "its files are read as they are",
                         cfg.dir, SIM_DUMP_SYNC_MS);
        }
        rc = sim_dump_dir(cfg.dir, stdout) == CMN_OK ? 0 : 1;
        if (rc != 0) {
            (void) fprintf(stderr, "error: cannot read \"%s\"\n", cfg.dir);
        }
        goto out;
    }
    rc = sim_config_check(&cfg);
    if (rc == 0) {
        rc = s_raise_nofile(&cfg);
    }
    if (rc != 0) {
        goto out;
    }
    rc = 1;
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    sim_world_t *world = sim_world_new(&cfg);
    if (world != NULL) {
        rc = sim_world_run(world);
        sim_world_destroy(&world);
    }
    coap_cleanup();
out:
    cmn_cfg_free(SIM_CONFIG_OPTS, SIM_CONFIG_OPT_COUNT, &cfg);
    return rc;
}
