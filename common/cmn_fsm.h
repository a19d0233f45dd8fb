/* cmn_fsm.h — table-driven state machines (the zproto model as a C table) */
#ifndef CMN_FSM_H
#define CMN_FSM_H

#include <stddef.h>

#include "cmn_err.h"

#define CMN_FSM_ANY         (-1) /* superstate: matches every state */
#define CMN_FSM_SAME        (-2) /* "to": stay in the current state */
#define CMN_FSM_MAX_ACTIONS 4
#define CMN_FSM_NO_EVENT    (-1)

/* An action runs for a transition. It may raise one follow-up event by setting
 * *ret_event (initially CMN_FSM_NO_EVENT). A non-OK return stops the remaining
 * actions and the state change; the caller decides what to do with the error. */
typedef cmn_err_t(cmn_fsm_action_fn)(void *ctx, int *ret_event);

typedef struct {
    int from;                                        /* state or CMN_FSM_ANY */
    int on;                                          /* event */
    int to;                                          /* state or CMN_FSM_SAME */
    cmn_fsm_action_fn *actions[CMN_FSM_MAX_ACTIONS]; /* run in order, NULL-terminated */
} cmn_fsm_row_t;

typedef struct {
    const cmn_fsm_row_t *rows;
    size_t n_rows;
    const char *const *state_names;
    const char *const *event_names;
    const char *name; /* for logs, e.g. "dots-job" */
} cmn_fsm_t;

/* Finds the row for (*state, event) (exact state first, then CMN_FSM_ANY), sets
 * *state to the row's target (so actions see the new state), logs
 * "id STATE --EVENT--> STATE" at debug level, runs the actions in order, then handles
 * a follow-up event the same way. An action error stops the remaining actions and is
 * returned; the state stays at the target and the caller raises its error event.
 * No row: CMN_ESTATE (logged at error level), *state unchanged. */
cmn_err_t cmn_fsm_dispatch(const cmn_fsm_t *fsm, int *state, int event, void *ctx, const char *id);

#endif
