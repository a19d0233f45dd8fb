/* cmn_fsm.c — table-driven state machines */
#include "cmn_fsm.h"

#include "cmn_log.h"

static const cmn_fsm_row_t *
s_find(const cmn_fsm_t *fsm, int state, int event)
{
    for (size_t i = 0; i < fsm->n_rows; i++) {
        if (fsm->rows[i].from == state && fsm->rows[i].on == event) {
            return &fsm->rows[i];
        }
    }
    for (size_t i = 0; i < fsm->n_rows; i++) {
        if (fsm->rows[i].from == CMN_FSM_ANY && fsm->rows[i].on == event) {
            return &fsm->rows[i];
        }
    }
    return NULL;
}

cmn_err_t
cmn_fsm_dispatch(const cmn_fsm_t *fsm, int *state, int event, void *ctx, const char *id)
{
    /* Follow-up events are bounded so a table with a cycle cannot loop forever. */
    for (int hops = 0; hops < 16 && event != CMN_FSM_NO_EVENT; hops++) {
        const cmn_fsm_row_t *row = s_find(fsm, *state, event);
        if (row == NULL) {
            cmn_log_err("FSM-NOROW", "%s id=%s state=%s event=%s: no transition", fsm->name,
                        id ? id : "-", fsm->state_names[*state], fsm->event_names[event]);
            return CMN_ESTATE;
        }
        int to = row->to == CMN_FSM_SAME ? *state : row->to;
        cmn_log_debug("FSM-STEP", "%s id=%s %s --%s--> %s", fsm->name, id ? id : "-",
                      fsm->state_names[*state], fsm->event_names[event], fsm->state_names[to]);
        *state = to;
        int next_event = CMN_FSM_NO_EVENT;
        for (size_t a = 0; a < CMN_FSM_MAX_ACTIONS && row->actions[a]; a++) {
            int raised = CMN_FSM_NO_EVENT;
            cmn_err_t err = row->actions[a](ctx, &raised);
            if (err != CMN_OK) {
                return err;
            }
            if (raised != CMN_FSM_NO_EVENT) {
                next_event = raised;
            }
        }
        event = next_event;
    }
    return CMN_OK;
}
