/* main.c — obt-ams: Access Management Service */
#include <czmq.h>
#include <stdio.h>

#include "ams_service.h"
#include "cmn_log.h"

int
main(int argc, char **argv)
{
    cmn_svc_config_t cfg = {0};
    cmn_cfg_result_t r =
            cmn_svc_config_load(&cfg, "ams", "tcp://127.0.0.1:7403", "OBT AMS", argc, argv);
    cmn_log_level_t level = CMN_LOG_NOTICE;
    if (r == CMN_CFG_OK && cmn_log_level_parse(cfg.log_level, &level) != 0) {
        (void) fprintf(stderr, "error: --log-level: unknown level \"%s\"\n", cfg.log_level);
        r = CMN_CFG_ERROR;
    }
    if (r != CMN_CFG_OK) {
        cmn_svc_config_free(&cfg);
        return r == CMN_CFG_HELP ? 0 : 78;
    }
    cmn_log_init("ams", level);
    cmn_instance_t *inst = cmn_svc_start_checks(&cfg);
    if (inst == NULL) {
        cmn_svc_config_free(&cfg);
        return 78;
    }
    zsys_init();
    zsys_catch_interrupts();
    int rc = 1;
    cmn_svc_t *svc = cmn_svc_new(&cfg, "ams", "oic.d.ams", ams_service_hooks());
    if (svc != NULL) {
        rc = cmn_svc_run(svc);
        cmn_svc_destroy(&svc);
    }
    cmn_instance_destroy(&inst);
    cmn_svc_config_free(&cfg);
    return rc;
}
