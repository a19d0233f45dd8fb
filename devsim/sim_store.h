/* sim_store.h — a simulated device's folder: DIR/dev-NNNN/state.cbor (0600) */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <stdbool.h>

#include "sim_device.h"

/* Writes the device's state to its folder (temp file + rename; fsync if asked). */
cmn_err_t sim_store_save(const sim_device_t *dev, bool fsync);

/* Loads the state from dev->dir. CMN_ENOTFOUND if there is none yet; CMN_EPROTO if
 * the file is corrupt. Ports are restored too. */
cmn_err_t sim_store_load(sim_device_t *dev);

#endif
