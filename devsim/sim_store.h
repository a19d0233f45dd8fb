/* sim_store.h — a simulated device's folder: DIR/dev-NNNN/state.cbor (0600) */
#ifndef SIM_STORE_H
#define SIM_STORE_H

#include <stdbool.h>

#include "sim_device.h"

/* How a change of a device's state reaches its file (docs/internals.md "Simulator
 * state"). */
typedef enum {
    SIM_STORE_BATCH, /* marked dirty; written by the next sim_store_flush (--flush-ms) */
    SIM_STORE_WRITE, /* written at once, no fsync (--flush-ms 0) */
    SIM_STORE_FSYNC  /* written and synced at once (--fsync): survives a kill -9 */
} sim_store_mode_t;

/* Writes the device's state to its folder (temp file + rename, 0600; fsync if asked)
 * and clears dev->is_dirty on success. */
cmn_err_t sim_store_save(sim_device_t *dev, bool fsync);

/* Records that dev's state changed, as mode says: saved now (WRITE, FSYNC) or marked
 * dirty for the next batch (BATCH, returns CMN_OK). */
cmn_err_t sim_store_changed(sim_device_t *dev, sim_store_mode_t mode);

/* Writes every dirty device of devs[0..n) (no fsync). Returns how many could not be
 * written (each logged, and left dirty for the next flush). */
size_t sim_store_flush(sim_device_t *devs, size_t n);

/* Loads the state from dev->dir. CMN_ENOTFOUND if there is none yet; CMN_EPROTO if
 * the file is corrupt. Ports are restored too. */
cmn_err_t sim_store_load(sim_device_t *dev);

#endif
