/* dots_service_int.h — what dots_service.c and dots_handlers.c share (not public) */
#ifndef DOTS_SERVICE_INT_H
#define DOTS_SERVICE_INT_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_dispatch.h"
#include "cmn_err.h"
#include "cmn_gws.h"
#include "cmn_loop.h"
#include "dots_active.h"
#include "dots_bridge.h"
#include "dots_events.h"
#include "dots_maint.h"
#include "dots_onboard.h"
#include "dots_service.h"
#include "dots_store.h"
#include "obt/dots.pb-c.h"

struct dots_service {
    const dots_config_t *cfg; /* borrowed */
    dots_store_t *store;      /* LMDB */
    cmn_seal_t *seal;         /* the KEK of the store's secrets (outlives store) */
    dots_identity_t id;       /* our OCF device */
    cmn_bus_server_t *bus;    /* operator API */
    dots_events_t *events;    /* job events (PUB) */
    char events_ep[600];      /* where they are published */
    cmn_gws_t *gws;           /* the gateways, each with its link and calls */
    cmn_bus_client_t *cms_client, *ams_client;
    cmn_calls_t *cms, *ams; /* pending calls per peer */
    dots_engine_t *engine;  /* jobs */
    dots_maint_t *maint;    /* reset and repair jobs */
    dots_bridge_t *bridge;  /* Bridges: their VODs found and queued */
    cmn_loop_t *loop;       /* over all of the above */
    dots_active_t *active;  /* --shared-store: the active lease (D91); NULL alone */
    uint64_t started_ms;
    uint64_t requests;
};

/* A request whose reply comes later (discover): owns a copy of the peer frame. */
typedef struct {
    dots_service_t *svc; /* borrowed */
    zframe_t *peer;      /* owned */
    uint64_t corr_id;
} dots_deferred_t;

/* A handler fills reply (its storage must outlive the call until the reply is sent)
 * and returns CMN_OK, or returns an error with an optional message in error. To answer
 * later it takes *deferred (sets it to NULL) and calls dots_service_answer() once. */
typedef cmn_err_t(dots_handler_fn)(dots_service_t *self,
                                   const cmn_caller_t *caller,
                                   const Obt__Dots__Request *req,
                                   Obt__Dots__Reply *reply,
                                   dots_deferred_t **deferred,
                                   char *error,
                                   size_t error_len);

typedef struct {
    cmn_dispatch_row_t head; /* first: the Request oneof case, its name, its parties */
    dots_handler_fn *fn;
} dots_handler_row_t;

/* The dispatch table (dots_handlers.c). */
extern const dots_handler_row_t DOTS_HANDLERS[];
extern const size_t DOTS_HANDLER_COUNT;

/* Sends reply to peer: err != CMN_OK replaces the body by status (mapped from err, the
 * only place that maps cmn_err_t to obt.Status) and error (or cmn_strerror(err)). */
void dots_service_answer(dots_service_t *self,
                         zframe_t *peer,
                         Obt__Dots__Reply *reply,
                         cmn_err_t err,
                         const char *error);
/* Answers a deferred request with reply (its corr_id is set here), as
 * dots_service_answer does, and frees d. */
void
dots_deferred_answer(dots_deferred_t *d, Obt__Dots__Reply *reply, cmn_err_t err, const char *error);

#endif
