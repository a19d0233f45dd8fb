/* sim_svr_doxm.c — /oic/sec/doxm: ownership transfer properties and their write rules (OCF-NOTES 3)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "sim_rdp.h"
#include "sim_svr.h"

int
sim_svr_post_doxm(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len)
{
    cmn_doxm_t in;
    if (cmn_doxm_decode(p, len, &in) != CMN_OK || in.n_unknown > 0) {
        return SIM_CODE_BAD_REQUEST;
    }
    if (in.present & (CMN_DOXM_HAS_OXMS | CMN_DOXM_HAS_SCT)) {
        return SIM_CODE_BAD_REQUEST; /* read-only */
    }
    bool in_rfotm = dev->pstat.dos_s == CMN_DOS_RFOTM;
    if (in.present & CMN_DOXM_HAS_OXMSEL) {
        bool offered = false;
        for (size_t i = 0; i < dev->doxm.n_oxms; i++) {
            offered |= dev->doxm.oxms[i] == in.oxmsel;
        }
        if (!in_rfotm || peer->is_secure || dev->doc_open || !offered) {
            return SIM_CODE_BAD_REQUEST;
        }
    }
    uint32_t doc_only = CMN_DOXM_HAS_OWNED | CMN_DOXM_HAS_DEVICEUUID | CMN_DOXM_HAS_DEVOWNERUUID |
                        CMN_DOXM_HAS_ROWNERUUID;
    /* SRESET: Table 1 of the OBT spec lets DOTS correct doxm; rowneruuid is the one
     * property whose allowed-state mask includes SRESET (IoTivity-Lite also wants a
     * DOC there, which cannot exist outside RFOTM: docs/reset.md). */
    bool is_sreset_fix = dev->pstat.dos_s == CMN_DOS_SRESET && peer->is_secure &&
                         (in.present & doc_only) == CMN_DOXM_HAS_ROWNERUUID;
    if ((in.present & doc_only) && !(in_rfotm && peer->is_doc) && !is_sreset_fix) {
        return SIM_CODE_BAD_REQUEST;
    }
    if (in.present & CMN_DOXM_HAS_OXMSEL) {
        /* Random PIN: every selection shows a fresh PIN (OCF-NOTES 8.2 phase A). */
        if (in.oxmsel == 1 && sim_rdp_show_pin(dev) != CMN_OK) {
            return SIM_CODE_INTERNAL;
        }
        if (in.oxmsel != 1) {
            sim_rdp_forget_pin(dev);
        }
        dev->doxm.oxmsel = in.oxmsel;
    }
    if (in.present & CMN_DOXM_HAS_DEVOWNERUUID) {
        dev->doxm.devowneruuid = in.devowneruuid;
    }
    if (in.present & CMN_DOXM_HAS_DEVICEUUID) {
        dev->doxm.deviceuuid = in.deviceuuid;
    }
    if (in.present & CMN_DOXM_HAS_ROWNERUUID) {
        dev->doxm.rowneruuid = in.rowneruuid;
    }
    if (in.present & CMN_DOXM_HAS_OWNED) {
        dev->n_transfers += in.owned && !dev->doxm.owned; /* an OTM ended: owner set */
        dev->doxm.owned = in.owned;
    }
    return SIM_CODE_CHANGED;
}
