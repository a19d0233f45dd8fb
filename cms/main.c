/* main.c — obt-cms: Credential Management Service */
#include <czmq.h>
#include <stdio.h>

#include "cmn_instance.h"
#include "cmn_log.h"
#include "cmn_svc.h"
#include "cms_service.h"

int
main(int argc, char **argv)
{
    cms_config_t cfg = {0};
    char why[300] = "";
    cmn_cfg_result_t r = cms_config_load(&cfg, argc, argv);
    cmn_log_level_t level = CMN_LOG_NOTICE;
    if (r == CMN_CFG_OK && cmn_log_level_parse(cfg.svc.log_level, &level) != 0) {
        (void) fprintf(stderr, "error: --log-level: unknown level \"%s\"\n", cfg.svc.log_level);
        r = CMN_CFG_ERROR;
    }
    if (r != CMN_CFG_OK) {
        cms_config_free(&cfg);
        return r == CMN_CFG_HELP ? 0 : 78;
    }
    cmn_log_init("cms", level);
    cmn_instance_t *inst = cmn_svc_start_checks(&cfg.svc);
    if (inst == NULL) {
        cms_config_free(&cfg);
        return 78;
    }
    cms_t *cms = cms_new(&cfg, why, sizeof why);
    if (cms == NULL) {
        cmn_log_err("CMS-CA-CONFIG", "%s", why);
        (void) fprintf(stderr, "error: %s\n", why);
        cmn_instance_destroy(&inst);
        cms_config_free(&cfg);
        return 78;
    }
    zsys_init();
    zsys_catch_interrupts();
    int rc = 1;
    cmn_svc_t *svc = cmn_svc_new(&cfg.svc, "cms", "oic.d.cms", cms_hooks(cms));
    if (svc != NULL) {
        rc = cmn_svc_run(svc);
        cmn_svc_destroy(&svc);
    }
    cms_destroy(&cms);
    cmn_instance_destroy(&inst);
    cms_config_free(&cfg);
    return rc;
}
