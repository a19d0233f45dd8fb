/* sim_svr_acl2.c — /oic/sec/acl2: access control entries */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "sim_svr.h"

int
sim_svr_post_acl2(sim_device_t *dev, const uint8_t *p, size_t len)
{
    cmn_acl_t in;
    int64_t s = dev->pstat.dos_s;
    if (cmn_acl_decode(p, len, &in) != CMN_OK) {
        return SIM_CODE_BAD_REQUEST;
    }
    int code = SIM_CODE_CHANGED;
    if (in.n_unknown > 0 ||
        ((in.present & CMN_ACL_HAS_ROWNERUUID) && (s == CMN_DOS_RFPRO || s == CMN_DOS_RFNOP)) ||
        ((in.present & CMN_ACL_HAS_ACLIST2) && s == CMN_DOS_RFNOP)) {
        code = SIM_CODE_BAD_REQUEST;
        goto out;
    }
    /* Checked all first: a refused POST changes nothing. */
    for (size_t i = 0; i < in.n_aces; i++) {
        if (sim_acl_ace_acceptable(&in.aces[i]) != CMN_OK) {
            cmn_log_info("SIM-ACE-REFUSED", "dev=%d ACE %zu of the POST refused", dev->idx, i);
            code = SIM_CODE_BAD_REQUEST;
            goto out;
        }
    }
    for (size_t i = 0; i < in.n_aces; i++) {
        cmn_ace_t ace = in.aces[i];
        size_t slot = dev->acl.n_aces;
        for (size_t j = 0; ace.aceid > 0 && j < dev->acl.n_aces; j++) {
            if (dev->acl.aces[j].aceid == ace.aceid) {
                slot = j;
            }
        }
        if (ace.aceid <= 0) {
            ace.aceid = 1;
            for (size_t j = 0; j < dev->acl.n_aces; j++) {
                if (dev->acl.aces[j].aceid >= ace.aceid) {
                    ace.aceid = dev->acl.aces[j].aceid + 1;
                }
            }
        }
        if (slot < dev->acl.n_aces) {
            dev->acl.aces[slot] = ace;
        } else if (cmn_acl_add(&dev->acl, &ace) != CMN_OK) {
            code = SIM_CODE_INTERNAL;
            goto out;
        }
    }
    if (in.present & CMN_ACL_HAS_ROWNERUUID) {
        dev->acl.rowneruuid = in.rowneruuid;
    }
out:
    cmn_acl_free(&in);
    return code;
}

int
sim_svr_delete_acl2(sim_device_t *dev, const char *query)
{
    char v[24];
    if (dev->pstat.dos_s == CMN_DOS_RFNOP) {
        return SIM_CODE_FORBIDDEN;
    }
    if (query == NULL || !sim_svr_query_value(query, "aceid", v, sizeof v)) {
        dev->acl.n_aces = 0;
        return SIM_CODE_DELETED;
    }
    long id = strtol(v, NULL, 10);
    for (size_t j = 0; j < dev->acl.n_aces; j++) {
        if (dev->acl.aces[j].aceid == id) {
            dev->acl.aces[j] = dev->acl.aces[dev->acl.n_aces - 1];
            dev->acl.n_aces--;
            return SIM_CODE_DELETED;
        }
    }
    return SIM_CODE_NOT_FOUND;
}
