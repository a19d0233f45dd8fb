/* sim_svr_pstat.c — /oic/sec/pstat: the device state machine and its entry checks
 * (OCF-NOTES 5.1/5.2) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_time.h"
#include "sim_svr.h"

static bool
s_rfpro_entry_ok(const sim_device_t *dev)
{
    const cmn_uuid_t *owners[4] = {&dev->pstat.rowneruuid, &dev->doxm.rowneruuid,
                                   &dev->acl.rowneruuid, &dev->creds.rowneruuid};
    for (int i = 0; i < 4; i++) {
        if (cmn_uuid_is_nil(owners[i]) || sim_device_find_psk(dev, owners[i]->b) == NULL) {
            return false;
        }
    }
    /* cm/tm are those of the state being entered (s_enter), so they are not checked
     * against the RFOTM values here. */
    return dev->doxm.owned && !cmn_uuid_is_nil(&dev->doxm.devowneruuid) &&
           !cmn_uuid_is_nil(&dev->doxm.deviceuuid) && (dev->pstat.tm & 0xC3) == 0;
}

static void
s_enter(sim_device_t *dev, int64_t s)
{
    dev->in_maint = s == CMN_DOS_RFPRO && dev->pstat.dos_s == CMN_DOS_RFNOP;
    dev->pstat.dos_s = s;
    dev->pstat.dos_p = false;
    dev->pstat.isop = s == CMN_DOS_RFNOP;
    dev->pstat.cm = s == CMN_DOS_SRESET ? 1 : s == CMN_DOS_RFOTM ? 2 : 0;
    dev->pstat.tm = 0;
    cmn_log_notice("SIM-STATE", "dev=%d state=%s", dev->idx, cmn_dos_name(s));
}

int
sim_svr_post_pstat(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len)
{
    cmn_pstat_t in;
    (void) peer;
    if (cmn_pstat_decode(p, len, &in) != CMN_OK || in.n_unknown > 0) {
        return SIM_CODE_BAD_REQUEST;
    }
    if (in.present &
        (CMN_PSTAT_HAS_DOS_P | CMN_PSTAT_HAS_ISOP | CMN_PSTAT_HAS_CM | CMN_PSTAT_HAS_SM)) {
        return SIM_CODE_BAD_REQUEST;
    }
    if ((in.present & CMN_PSTAT_HAS_OM) &&
        (!(in.om == 1 || in.om == 2 || in.om == 4) || (in.om & dev->pstat.sm) != in.om)) {
        return SIM_CODE_BAD_REQUEST;
    }
    if ((in.present & CMN_PSTAT_HAS_ROWNERUUID) &&
        (dev->pstat.dos_s == CMN_DOS_RFPRO || dev->pstat.dos_s == CMN_DOS_RFNOP)) {
        return SIM_CODE_BAD_REQUEST;
    }
    if (in.present & CMN_PSTAT_HAS_DOS) {
        if (!sim_device_transition_allowed(dev->pstat.dos_s, in.dos_s)) {
            return SIM_CODE_BAD_REQUEST;
        }
    }
    cmn_pstat_t saved = dev->pstat;
    if (in.present & CMN_PSTAT_HAS_OM) {
        dev->pstat.om = in.om;
    }
    if (in.present & CMN_PSTAT_HAS_TM) {
        dev->pstat.tm = in.tm;
    }
    if (in.present & CMN_PSTAT_HAS_ROWNERUUID) {
        dev->pstat.rowneruuid = in.rowneruuid;
    }
    if (in.present & CMN_PSTAT_HAS_DOS) {
        int64_t to = in.dos_s;
        if (to == CMN_DOS_RESET) {
            dev->pstat.dos_s = CMN_DOS_RESET;
            dev->pstat.dos_p = true;
            dev->pstat.cm = 1;
            dev->pstat.tm = 2;
            dev->reset_at_ms = cmn_time_mono_ms() + (uint64_t) dev->reset_delay_ms;
            cmn_log_notice("SIM-RESET-REQ", "dev=%d reset requested", dev->idx);
        } else if (to != dev->pstat.dos_s) {
            if ((to == CMN_DOS_RFPRO || to == CMN_DOS_RFNOP || to == CMN_DOS_SRESET) &&
                !s_rfpro_entry_ok(dev)) {
                dev->pstat = saved;
                return SIM_CODE_BAD_REQUEST;
            }
            s_enter(dev, to);
        }
    }
    return SIM_CODE_CHANGED;
}
