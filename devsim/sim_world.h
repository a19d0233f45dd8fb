/* sim_world.h — the ocf-devsim process: N devices, multicast, one event loop */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include "sim_config.h"
#include "sim_device.h"

typedef struct sim_world sim_world_t;

/* Loads or creates every device, opens their endpoints and the multicast listener,
 * prints one DEVICE line each and READY. NULL on failure (logged). */
sim_world_t *sim_world_new(const sim_config_t *cfg);
void sim_world_destroy(sim_world_t **self_p);

/* Runs until SIGTERM/SIGINT. Returns 0 on a clean stop. */
int sim_world_run(sim_world_t *self);

#endif
