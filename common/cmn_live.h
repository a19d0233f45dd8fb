/* cmn_live.h — heartbeats: is a peer daemon answering, and did it restart since its
 * last answer? One cmn_live_t per peer; the caller sends the health request and feeds
 * the answer (or its absence) back. No I/O, no logging: the caller logs the change. */
#ifndef CMN_LIVE_H
#define CMN_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obt/common.pb-c.h"

/* What one heartbeat's outcome changed. */
typedef enum {
    CMN_LIVE_SAME = 0,  /* nothing new */
    CMN_LIVE_UP,        /* the first answer, no failure before it */
    CMN_LIVE_LOST,      /* no answer, after answers (or from the start) */
    CMN_LIVE_BACK,      /* answers again after failures, same boot as before (or unknown) */
    CMN_LIVE_RESTARTED, /* answers with another boot id or a smaller uptime */
    CMN_LIVE_CHANGE_COUNT
} cmn_live_change_t;

typedef struct {
    uint32_t period_ms;     /* between two heartbeats; also the deadline of one */
    uint64_t next_ms;       /* monotonic time the next heartbeat is due */
    bool is_pending;        /* a heartbeat waits for its answer */
    bool has_answered;      /* at least one answer since we started */
    bool is_down;           /* the last heartbeat got no answer */
    uint64_t boot_id;       /* of the last answer (0 = the peer gives none) */
    uint64_t uptime_ms;     /* of the last answer */
    uint64_t down_since_ms; /* wall time of the first unanswered heartbeat */
} cmn_live_t;

/* Starts tracking a peer; the first heartbeat is due at once. */
void cmn_live_init(cmn_live_t *self, uint32_t period_ms);
/* True when a heartbeat is to be sent now (mono_ms = cmn_time_mono_ms()): none is
 * pending and the period has passed. Marks it pending; send it, and feed its answer
 * (or NULL if it could not be sent) to cmn_live_on_beat. */
bool cmn_live_is_due(cmn_live_t *self, uint64_t mono_ms);
/* The outcome of the pending heartbeat: the peer's HealthReply (borrowed), or NULL for
 * no usable answer (timeout, send failure, error status). wall_ms = cmn_time_wall_ms().
 * Returns the change, once per change (LOST once until the peer answers again). */
cmn_live_change_t
cmn_live_on_beat(cmn_live_t *self, const Obt__HealthReply *health, uint64_t wall_ms);
/* The peer answered the last heartbeat. */
bool cmn_live_is_up(const cmn_live_t *self);
/* Writes "HH:MM:SS UTC", the time the peer stopped answering, to buf. */
void cmn_live_down_since(const cmn_live_t *self, char *buf, size_t len);
/* A boot id for this process: random, never 0. */
uint64_t cmn_live_new_boot_id(void);

#endif
