/* main.c — ocf-devsim: simulated OCF devices for tests, demos and benchmarks */
#include <coap3/coap.h>
#include <stdio.h>

#include "cmn_log.h"
#include "sim_config.h"
#include "sim_dump.h"
#include "sim_world.h"

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
