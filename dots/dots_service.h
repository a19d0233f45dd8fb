/* dots_service.h — obt-dots: the operator API over ZeroMQ around the DOTS engine */
#ifndef DOTS_SERVICE_H
#define DOTS_SERVICE_H

#include "dots_config.h"

typedef struct dots_service dots_service_t;

/* Opens the store (creating the identity at first start), binds the ROUTER and
 * connects to gateway, CMS and AMS. With --shared-store it first waits as a standby
 * until it is the active instance (dots_active.h), loading and binding nothing
 * meanwhile. NULL on failure (logged), or when SIGTERM/SIGINT stopped a standby
 * (zsys_interrupted is set then). */
dots_service_t *dots_service_new(const dots_config_t *cfg);
void dots_service_destroy(dots_service_t **self_p);
/* Runs until SIGTERM/SIGINT; 0 on a clean stop. */
int dots_service_run(dots_service_t *self);

/* 1 if the Request oneof case has a handler (tests walk the descriptor). */
int dots_service_has_handler(int body_case);

#endif
