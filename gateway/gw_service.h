/* gw_service.h — obt-gateway: ZeroMQ requests in, CoAP/DTLS toward devices out */
#ifndef GW_SERVICE_H
#define GW_SERVICE_H

#include "gw_config.h"

typedef struct gw_service gw_service_t;

/* Binds the ROUTER, opens the CoAP context; NULL on failure (logged). */
gw_service_t *gw_service_new(const gw_config_t *cfg);
void gw_service_destroy(gw_service_t **self_p);
/* Runs until SIGTERM/SIGINT; returns 0 on a clean stop. */
int gw_service_run(gw_service_t *self);

/* Number of request kinds with a handler (tests walk the Request oneof). */
int gw_service_has_handler(int body_case);

#endif
