/* main.c — obt-gateway: the only process with sockets toward devices */
#include <coap3/coap.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_gws.h"
#include "cmn_instance.h"
#include "cmn_log.h"
#include "gw_config.h"
#include "gw_disc.h"
#include "gw_log.h"
#include "gw_service.h"

int
main(int argc, char **argv)
{
    gw_config_t cfg = {0};
    cmn_cfg_result_t r = cmn_cfg_load(GW_CONFIG_OPTS, GW_CONFIG_OPT_COUNT, &cfg, "gateway",
                                      "usage: obt-gateway --keys-dir DIR [options]\n"
                                      "CoAP/DTLS gateway between the OBT services and devices.",
                                      argc, argv);
    cmn_log_level_t level = CMN_LOG_NOTICE;
    if (r == CMN_CFG_OK && cmn_log_level_parse(cfg.log_level, &level) != 0) {
        (void) fprintf(stderr, "error: --log-level: unknown level \"%s\"\n", cfg.log_level);
        r = CMN_CFG_ERROR;
    }
    gw_scope_t scopes[GW_SCOPE_COUNT];
    size_t n_scopes = 0;
    if (r == CMN_CFG_OK && gw_disc_parse_scopes(cfg.scope, scopes, &n_scopes) != CMN_OK) {
        (void) fprintf(stderr, "error: --scope: \"%s\" (comma list of link, realm, site, ipv4)\n",
                       cfg.scope);
        r = CMN_CFG_ERROR;
    }
    bool is_strict = false;
    if (r == CMN_CFG_OK && gw_config_parse_mfg_subject(cfg.mfg_subject, &is_strict) != 0) {
        (void) fprintf(stderr, "error: --mfg-subject: \"%s\" (accept or strict)\n",
                       cfg.mfg_subject);
        r = CMN_CFG_ERROR;
    }
    if (r == CMN_CFG_OK && !cmn_gw_name_is_valid(cfg.name)) {
        (void) fprintf(stderr, "error: --name: \"%s\" (1 to %d letters, digits, '.', '_', '-')\n",
                       cfg.name, CMN_GW_NAME_MAX - 1);
        r = CMN_CFG_ERROR;
    }
    if (r == CMN_CFG_OK && strcmp(cfg.key, "gateway") != 0 &&
        (!cmn_bus_key_name_ok(cfg.key) || cmn_party_of_name(cfg.key) != CMN_PARTY_GATEWAY)) {
        (void) fprintf(stderr,
                       "error: --key: \"%s\" (gateway, or gateway-SUFFIX: 1 to 31 letters, "
                       "digits, '.', '_', '-')\n",
                       cfg.key);
        r = CMN_CFG_ERROR;
    }
    char why[512];
    if (r == CMN_CFG_OK && gw_disc_check_ifaces(cfg.iface, why, sizeof why) != CMN_OK) {
        (void) fprintf(stderr, "error: --iface: %s\n", why);
        r = CMN_CFG_ERROR;
    }
    if (r != CMN_CFG_OK) {
        cmn_cfg_free(GW_CONFIG_OPTS, GW_CONFIG_OPT_COUNT, &cfg);
        return r == CMN_CFG_HELP ? 0 : 78;
    }
    cmn_log_init("gateway", level);
    cmn_cfg_log(GW_CONFIG_OPTS, GW_CONFIG_OPT_COUNT, &cfg);
    cmn_instance_t *inst = cmn_instance_new(cfg.keys_dir, NULL, why, sizeof why);
    if (inst == NULL) {
        cmn_log_err("GW-START", "%s", why);
        cmn_cfg_free(GW_CONFIG_OPTS, GW_CONFIG_OPT_COUNT, &cfg);
        return 78;
    }
    zsys_init();
    zsys_catch_interrupts();
    coap_startup();
    gw_log_coap_init(level);
    int rc = 1;
    gw_service_t *svc = gw_service_new(&cfg);
    if (svc != NULL) {
        rc = gw_service_run(svc);
        gw_service_destroy(&svc);
    }
    coap_cleanup();
    cmn_instance_destroy(&inst);
    cmn_cfg_free(GW_CONFIG_OPTS, GW_CONFIG_OPT_COUNT, &cfg);
    return rc;
}
