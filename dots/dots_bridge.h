/* dots_bridge.h — OCF Bridging (seed 003 clause 5.3.2): once a device reaches RFNOP,
 * find out whether it is a Bridge; if so read its VOD list over the owner session,
 * discover the VODs (visible only now that the Bridge is owned), link them to the
 * Bridge, approve and onboard them. One persisted job per device, next to (not inside)
 * its onboarding job (docs/bridges.md) */
#ifndef DOTS_BRIDGE_H
#define DOTS_BRIDGE_H

#include <stdbool.h>

#include "cmn_bus.h"
#include "cmn_fsm.h"
#include "dots_config.h"
#include "dots_onboard.h"
#include "dots_store.h"

/* Stored in the device record (dots_dev_t.bridge) before each step's request. Values
 * are persisted: append only. */
typedef enum {
    BRIDGE_NONE = 0,   /* not yet in RFNOP (or a record from before bridging) */
    BRIDGE_CHECK,      /* GET /oic/d over coap://: rt oic.d.bridge? */
    BRIDGE_VODLIST,    /* GET /bridge/vodlist over the owner-PSK session */
    BRIDGE_DISCOVER,   /* discovery rounds until every listed VOD is known, or the deadline */
    BRIDGE_DONE,       /* every listed VOD recorded, linked, approved and queued */
    BRIDGE_NOT_BRIDGE, /* checked: not a Bridge */
    BRIDGE_FAILED,     /* error kept (VOD not found, unreadable vodlist, ...) */
    BRIDGE_STATE_COUNT
} dots_bridge_state_t;

typedef enum {
    BEV_OK = 0,     /* the step succeeded */
    BEV_NOT_BRIDGE, /* /oic/d has no oic.d.bridge */
    BEV_MORE,       /* VODs still missing before the deadline: another discovery */
    BEV_FAIL,       /* failed (reason in the job) */
    BEV_RESUME,     /* send the recorded step (new job, restart) */
    BEV_COUNT
} dots_bridge_event_t;

extern const char *const DOTS_BRIDGE_STATE_NAMES[BRIDGE_STATE_COUNT];
extern const char *const DOTS_BRIDGE_EVENT_NAMES[BEV_COUNT];
extern const cmn_fsm_t DOTS_BRIDGE_FSM;

/* True while the bridge job of a record has work left (CHECK, VODLIST, DISCOVER). */
bool dots_bridge_is_pending(int state);

typedef struct dots_bridge dots_bridge_t;

/* Borrows everything. Records found with a pending bridge state are picked up by
 * dots_bridge_tick() (also after a restart: every step is idempotent). */
dots_bridge_t *dots_bridge_new(const dots_config_t *cfg,
                               dots_store_t *store,
                               const dots_identity_t *id,
                               dots_engine_t *engine,
                               cmn_gws_t *gws);
void dots_bridge_destroy(dots_bridge_t **self_p);

/* Starts the jobs of records in a pending state (at most one step in flight each). */
void dots_bridge_tick(dots_bridge_t *self);

#endif
