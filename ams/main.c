/* main.c — obt-ams: Access Management Service */
#include <czmq.h>
#include <stdio.h>

#include "ams_action.h"
#include "ams_config.h"
#include "ams_policy.h"
#include "ams_service.h"
#include "cmn_log.h"

int
main(int argc, char **argv)
{
    ams_config_t cfg = {0};
    char why[400] = "";
    cmn_cfg_result_t r = ams_config_load(&cfg, argc, argv);
    cmn_log_level_t level = CMN_LOG_NOTICE;
    if (r == CMN_CFG_OK && cmn_log_level_parse(cfg.svc.log_level, &level) != 0) {
        (void) fprintf(stderr, "error: --log-level: unknown level \"%s\"\n", cfg.svc.log_level);
        r = CMN_CFG_ERROR;
    }
    if (r != CMN_CFG_OK) {
        ams_config_free(&cfg);
        return r == CMN_CFG_HELP ? 0 : 78;
    }
    cmn_log_init("ams", level);
    ams_policy_t *policy = NULL;
    if (cfg.policy[0] != '\0' && (policy = ams_policy_load(cfg.policy, why, sizeof why)) == NULL) {
        cmn_log_err("AMS-POLICY-BAD", "%s", why);
        (void) fprintf(stderr, "error: --policy: %s\n", why);
        ams_config_free(&cfg);
        return 78;
    }
    if (policy) {
        cmn_log_notice("AMS-POLICY", "file=\"%s\" entries=%zu aces=%zu", cfg.policy,
                       ams_policy_rules(policy), ams_policy_aces(policy));
    }
    ams_action_set_policy(&policy);
    cmn_instance_t *inst = cmn_svc_start_checks(&cfg.svc);
    if (inst == NULL) {
        ams_action_set_policy(NULL);
        ams_config_free(&cfg);
        return 78;
    }
    zsys_init();
    zsys_catch_interrupts();
    int rc = 1;
    cmn_svc_t *svc = cmn_svc_new(&cfg.svc, "ams", "oic.d.ams", ams_service_hooks());
    if (svc != NULL) {
        rc = cmn_svc_run(svc);
        cmn_svc_destroy(&svc);
    }
    ams_action_set_policy(NULL);
    cmn_instance_destroy(&inst);
    ams_config_free(&cfg);
    return rc;
}
