/* ams_config.c — obt-ams's own options after the service core's */
#include "ams_config.h"

#include <stddef.h>

static const cmn_cfg_opt_t s_opts[] = {
        {"policy", CMN_CFG_STR, offsetof(ams_config_t, policy), "", 0, 1, 0,
         "policy file (YAML, docs/ams.md): ACEs per device type, read at start"},
};

cmn_cfg_result_t
ams_config_load(ams_config_t *cfg, int argc, char **argv)
{
    return cmn_svc_config_load_ext(&cfg->svc, "ams", "tcp://127.0.0.1:7403", "OBT AMS", s_opts,
                                   sizeof s_opts / sizeof s_opts[0], argc, argv);
}

void
ams_config_free(ams_config_t *cfg)
{
    cmn_svc_config_free_ext(&cfg->svc, s_opts, sizeof s_opts / sizeof s_opts[0]);
}
