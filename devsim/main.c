/* main.c — ocf-devsim: simulated OCF devices for tests, demos and benchmarks */
#include <coap3/coap.h>
#include <stdio.h>
#include <sys/resource.h>

#include "cmn_log.h"
#include "sim_config.h"
#include "sim_dump.h"
#include "sim_world.h"

/* Each device holds about four descriptors (its sockets, its DTLS sessions): raise the
 * limit to what count devices need (root may go past the hard limit, up to
 * fs.nr_open), else to the hard limit, so thousands of devices fit one process. */
static void
s_raise_nofile(int count)
{
    struct rlimit rl;
    rlim_t want = (rlim_t) count * 6u + 256u;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
        return;
    }
    struct rlimit up = {want, rl.rlim_max > want ? rl.rlim_max : want};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
        return;
    }
    up = (struct rlimit){rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) != 0 || rl.rlim_max < want) {
        cmn_log_warn("SIM-NOFILE", "%d devices need %llu descriptors; the limit is %llu", count,
                     (unsigned long long) want, (unsigned long long) rl.rlim_max);
    }
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
        rc = sim_dump_dir(cfg.dir, stdout) == CMN_OK ? 0 : 1;
        if (rc != 0) {
            (void) fprintf(stderr, "error: cannot read \"%s\"\n", cfg.dir);
        }
        goto out;
    }
    s_raise_nofile(cfg.count);
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
