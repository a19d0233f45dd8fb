/* sim_sync.h — the devices' state files kept current: dirty devices written in
 * batches every --flush-ms, and the flush a `--dump` asks a running simulator for
 * (docs/internals.md "Simulator state") */
#ifndef SIM_SYNC_H
#define SIM_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"
#include "sim_device.h"

typedef struct sim_sync sim_sync_t;

/* Starts the batches of the process whose first device is first_index in dir, and
 * names this process as their writer: dir/.devsim-FIRST.pid (0600) holds its pid, for
 * sim_sync_request. flush_ms 0 = no batches (every change is written at once). The
 * caller has SIGUSR1 blocked and read through its signalfd. NULL on failure. */
sim_sync_t *sim_sync_new(const char *dir, int first_index, int flush_ms);

/* Removes the pid and acknowledgement files; accepts NULL. */
void sim_sync_destroy(sim_sync_t **self_p);

/* Milliseconds until the next batch is due (an epoll timeout), -1 = none. */
int sim_sync_timeout(const sim_sync_t *self, uint64_t now);

/* Writes the dirty devices of devs[0..n) when a batch is due. */
void sim_sync_tick(sim_sync_t *self, sim_device_t *devs, size_t n, uint64_t now);

/* A --dump asked (SIGUSR1): writes every dirty device now, then acknowledges it
 * (dir/.devsim-FIRST.flushed, a counter). */
void sim_sync_on_request(sim_sync_t *self, sim_device_t *devs, size_t n);

/* The --dump side: asks every running simulator of dir (its .devsim-*.pid files; a
 * stale file of a killed one is skipped) to write its dirty devices, and waits for
 * each acknowledgement up to timeout_ms. CMN_OK, or CMN_ETIMEDOUT when one did not
 * answer in time (a stopped simulator: its files are read as they are). */
cmn_err_t sim_sync_request(const char *dir, int timeout_ms);

#endif
