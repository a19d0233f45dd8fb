/* sim_svr_sdi.c — /oic/sec/sdi: security domain information */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "sim_svr.h"

int
sim_svr_post_sdi(sim_device_t *dev, const uint8_t *p, size_t len)
{
    cmn_sdi_t in;
    int64_t s = dev->pstat.dos_s;
    if (cmn_sdi_decode(p, len, &in) != CMN_OK || in.n_unknown > 0) {
        return SIM_CODE_BAD_REQUEST;
    }
    if (((in.present & CMN_SDI_HAS_UUID) && s != CMN_DOS_RFOTM) ||
        ((in.present & (CMN_SDI_HAS_NAME | CMN_SDI_HAS_PRIV)) && s == CMN_DOS_RFNOP)) {
        return SIM_CODE_BAD_REQUEST;
    }
    if (in.present & CMN_SDI_HAS_UUID) {
        dev->sdi.uuid = in.uuid;
    }
    if (in.present & CMN_SDI_HAS_NAME) {
        (void) snprintf(dev->sdi.name, sizeof dev->sdi.name, "%s", in.name);
    }
    if (in.present & CMN_SDI_HAS_PRIV) {
        dev->sdi.priv = in.priv;
    }
    return SIM_CODE_CHANGED;
}
