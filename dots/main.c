/* main.c — obt-dots: Device Ownership Transfer Service */
#include <czmq.h>
#include <stdio.h>

#include "cmn_gws.h"
#include "cmn_instance.h"
#include "cmn_log.h"
#include "dots_config.h"
#include "dots_otm.h"
#include "dots_partition.h"
#include "dots_service.h"

int
main(int argc, char **argv)
{
    dots_config_t cfg = {0};
    cmn_cfg_result_t r = cmn_cfg_load(DOTS_CONFIG_OPTS, DOTS_CONFIG_OPT_COUNT, &cfg, "dots",
                                      "usage: obt-dots --keys-dir DIR --store-dir DIR [options]\n"
                                      "Device Ownership Transfer Service of the OBT suite.\n"
                                      "With --shared-store, several instances share one store: "
                                      "one active, the\n"
                                      "others standbys (exit 75: fenced, another took over).",
                                      argc, argv);
    cmn_log_level_t level = CMN_LOG_NOTICE;
    if (r == CMN_CFG_OK && cmn_log_level_parse(cfg.log_level, &level) != 0) {
        (void) fprintf(stderr, "error: --log-level: unknown level \"%s\"\n", cfg.log_level);
        r = CMN_CFG_ERROR;
    }
    dots_otm_policy_t policy;
    char why[160];
    if (r == CMN_CFG_OK && dots_otm_policy_parse(cfg.otm_policy, &policy, why, sizeof why) != 0) {
        (void) fprintf(stderr, "error: --otm-policy: %s\n", why);
        r = CMN_CFG_ERROR;
    }
    dots_partition_t part;
    if (r == CMN_CFG_OK && dots_partition_parse(cfg.partition, &part, why, sizeof why) != 0) {
        (void) fprintf(stderr, "error: --partition: %s\n", why);
        r = CMN_CFG_ERROR;
    }
    if (r == CMN_CFG_OK && cfg.parts > 1 && (!cfg.is_shared_store || cfg.partition[0])) {
        (void) fprintf(stderr,
                       "error: --parts %d needs --shared-store and no --partition: the "
                       "parts are those of one store (docs/scaling.md)\n",
                       cfg.parts);
        r = CMN_CFG_ERROR;
    }
    char gw_why[300];
    if (r == CMN_CFG_OK && cmn_gws_check(cfg.gateway, gw_why, sizeof gw_why) != CMN_OK) {
        (void) fprintf(stderr, "error: --gateway: %s\n", gw_why);
        r = CMN_CFG_ERROR;
    }
    if (r == CMN_CFG_OK && cmn_instance_name_check(&cfg.instance, "dots") != 0) {
        r = CMN_CFG_ERROR;
    }
    if (r != CMN_CFG_OK) {
        cmn_cfg_free(DOTS_CONFIG_OPTS, DOTS_CONFIG_OPT_COUNT, &cfg);
        return r == CMN_CFG_HELP ? 0 : 78;
    }
    cmn_log_init("dots", level);
    cmn_instance_t *inst =
            cmn_instance_start(DOTS_CONFIG_OPTS, DOTS_CONFIG_OPT_COUNT, &cfg, cfg.keys_dir,
                               cfg.store_dir, cfg.is_shared_store, cfg.instance, "DOTS-START");
    if (inst == NULL) {
        cmn_cfg_free(DOTS_CONFIG_OPTS, DOTS_CONFIG_OPT_COUNT, &cfg);
        return 78;
    }
    zsys_init();
    zsys_catch_interrupts();
    int rc = 1;
    dots_service_t *svc = dots_service_new(&cfg);
    if (svc != NULL) {
        rc = dots_service_run(svc);
        dots_service_destroy(&svc);
    } else if (zsys_interrupted) {
        cmn_log_notice("DOTS-STOP", "stopping (before it was active)");
        rc = 0;
    }
    cmn_instance_destroy(&inst);
    cmn_cfg_free(DOTS_CONFIG_OPTS, DOTS_CONFIG_OPT_COUNT, &cfg);
    return rc;
}
