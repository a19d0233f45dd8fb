/* ams_config.h — obt-ams's configuration: the service core's options and --policy */
#ifndef AMS_CONFIG_H
#define AMS_CONFIG_H

#include "cmn_svc.h"

typedef struct {
    cmn_svc_config_t svc; /* first: the core's options (cmn_svc_config_load_ext) */
    char *policy;         /* the policy file ("" = none; docs/ams.md) */
} ams_config_t;

/* As cmn_svc_config_load, with --policy. */
cmn_cfg_result_t ams_config_load(ams_config_t *cfg, int argc, char **argv);
void ams_config_free(ams_config_t *cfg);

#endif
