/* sim_rdp.h — the device side of the Random PIN OTM (OCF-NOTES 6.4, 8.2): the PIN
 * shown out of band, the PPSK and the PSK identity hint of the DOC handshake */
#ifndef SIM_RDP_H
#define SIM_RDP_H

#include <stddef.h>
#include <stdint.h>

#include "cmn_psk.h"
#include "sim_device.h"

/* Generates a fresh PIN from the DRBG and shows it out of band: one log line
 * (SIM-RDP-PIN) and the file <dev->dir>/pin.txt (0600, the PIN and a newline,
 * replaced atomically). A previous PIN is forgotten first. CMN_ECRYPTO, CMN_ESYS|errno. */
cmn_err_t sim_rdp_show_pin(sim_device_t *dev);

/* Wipes the PIN and removes pin.txt (no-op without a PIN). */
void sim_rdp_forget_pin(sim_device_t *dev);

/* The PPSK for a DOC handshake whose client sent identity (a C string): only
 * CMN_RDP_IDENTITY is accepted, and only while a PIN is shown. CMN_ENOTFOUND
 * otherwise. */
cmn_err_t sim_rdp_psk(const sim_device_t *dev, const char *identity, uint8_t out[CMN_PSK_LEN]);

/* The psk_identity_hint of the device's ServerKeyExchange as a C string (OpenSSL
 * takes hints as C strings: it stops at a zero byte of the UUID). The legacy format
 * with dev->is_legacy_hint; with fault bad-hint the UUID part is not the device's. */
void sim_rdp_hint(const sim_device_t *dev, char out[CMN_RDP_HINT_MAX + 1]);

#endif
