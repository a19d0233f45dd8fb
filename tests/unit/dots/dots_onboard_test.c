/* dots_onboard_test.c — the DOTS job state machine table */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>

#include "dots_onboard.h"

/* The row cmn_fsm_dispatch would pick: exact state first, then the superstate. */
static const cmn_fsm_row_t *
s_find(int state, int event)
{
    const cmn_fsm_row_t *any = NULL;
    for (size_t i = 0; i < DOTS_JOB_FSM.n_rows; i++) {
        const cmn_fsm_row_t *r = &DOTS_JOB_FSM.rows[i];
        if (r->on != event) {
            continue;
        }
        if (r->from == state) {
            return r;
        }
        if (r->from == CMN_FSM_ANY && any == NULL) {
            any = r;
        }
    }
    return any;
}

typedef struct {
    int from;
    int event;
    int to;
} transition_t;

static transition_t s_transitions[] = {
        {JOB_DISCOVERED, EV_APPROVE, JOB_APPROVED},
        {JOB_FAILED, EV_APPROVE, JOB_APPROVED},
        {JOB_APPROVED, EV_ONBOARD, JOB_QUEUED},
        {JOB_QUEUED, EV_START, JOB_GET_DOXM},
        {JOB_GET_DOXM, EV_OK, JOB_SET_OXMSEL},
        {JOB_SET_OXMSEL, EV_OK, JOB_DOC_OM},
        {JOB_DOC_OM, EV_OK, JOB_SET_DEVOWNER},
        {JOB_SET_DEVOWNER, EV_OK, JOB_SET_DEVICEUUID},
        {JOB_SET_DEVICEUUID, EV_OK, JOB_SET_DOXM_ROWNER},
        {JOB_SET_DOXM_ROWNER, EV_OK, JOB_SET_ACL_ROWNER},
        {JOB_SET_ACL_ROWNER, EV_OK, JOB_SET_PSTAT_ROWNER},
        {JOB_SET_PSTAT_ROWNER, EV_OK, JOB_DERIVE_PSK},
        {JOB_DERIVE_PSK, EV_OK, JOB_OWNER_CRED},
        {JOB_OWNER_CRED, EV_OK, JOB_SERVICE_CREDS},
        {JOB_SERVICE_CREDS, EV_OK, JOB_SDI},
        {JOB_SDI, EV_OK, JOB_SET_OWNED},
        {JOB_SET_OWNED, EV_OK, JOB_SET_RFPRO},
        {JOB_SET_RFPRO, EV_OK, JOB_CLOSE_DOC},
        {JOB_CLOSE_DOC, EV_OK, JOB_HANDOVER_CMS},
        {JOB_HANDOVER_CMS, EV_OK, JOB_HANDOVER_AMS},
        {JOB_HANDOVER_AMS, EV_OK, JOB_RFNOP},
        {JOB_GET_DOXM, EV_ERROR, JOB_FAILED},
        {JOB_DOC_OM, EV_ERROR, JOB_FAILED},
        {JOB_SERVICE_CREDS, EV_ERROR, JOB_FAILED},
        {JOB_HANDOVER_AMS, EV_ERROR, JOB_FAILED},
        {JOB_SET_RFPRO, EV_RESUME, CMN_FSM_SAME},
        {JOB_GET_DOXM, EV_TIMEOUT, JOB_FAILED},
        {JOB_HANDOVER_CMS, EV_TIMEOUT, JOB_FAILED},
        {JOB_GET_DOXM, EV_DEVICE_ERROR, JOB_FAILED},
        {JOB_SDI, EV_DEVICE_ERROR, JOB_FAILED},
        {JOB_HANDOVER_CMS, EV_RESUME, CMN_FSM_SAME},
        {JOB_SET_OXMSEL, EV_NEED_PIN, JOB_WAIT_PIN},
        {JOB_WAIT_PIN, EV_PIN, JOB_DOC_OM},
        {JOB_WAIT_PIN, EV_ERROR, JOB_FAILED},
        {JOB_FAILED, EV_ONBOARD, JOB_QUEUED},
};

ParameterizedTestParameters(dots_onboard, table_moves_state_on_event)
{
    return cr_make_param_array(transition_t, s_transitions,
                               sizeof s_transitions / sizeof s_transitions[0]);
}

ParameterizedTest(transition_t *t, dots_onboard, table_moves_state_on_event)
{
    const cmn_fsm_row_t *r = s_find(t->from, t->event);
    cr_assert_not_null(r, "no row for %s --%s-->", DOTS_JOB_STATE_NAMES[t->from],
                       DOTS_JOB_EVENT_NAMES[t->event]);
    cr_assert_eq(r->to, t->to, "%s --%s--> %d, expected %d", DOTS_JOB_STATE_NAMES[t->from],
                 DOTS_JOB_EVENT_NAMES[t->event], r->to, t->to);
    cr_assert_not_null(r->actions[0], "a transition without actions persists nothing");
}

/* Transitions that must NOT exist: onboarding an unapproved device, skipping steps. */
static transition_t s_forbidden[] = {
        {JOB_DISCOVERED, EV_ONBOARD, 0}, {JOB_DISCOVERED, EV_START, 0},
        {JOB_APPROVED, EV_START, 0},     {JOB_RFNOP, EV_APPROVE, 0},
        {JOB_RFNOP, EV_OK, 0},           {JOB_GET_DOXM, EV_APPROVE, 0},
        {JOB_SET_OWNED, EV_ONBOARD, 0},  {JOB_WAIT_PIN, EV_OK, 0},
        {JOB_DOC_OM, EV_PIN, 0},         {JOB_GET_DOXM, EV_NEED_PIN, 0},
        {JOB_APPROVED, EV_PIN, 0},
};

ParameterizedTestParameters(dots_onboard, table_rejects_invalid_pairs)
{
    return cr_make_param_array(transition_t, s_forbidden,
                               sizeof s_forbidden / sizeof s_forbidden[0]);
}

ParameterizedTest(transition_t *t, dots_onboard, table_rejects_invalid_pairs)
{
    cr_assert_null(s_find(t->from, t->event), "unexpected row %s --%s-->",
                   DOTS_JOB_STATE_NAMES[t->from], DOTS_JOB_EVENT_NAMES[t->event]);
}

Test(dots_onboard, every_state_has_error_rows_to_failed)
{
    static const int failures[] = {EV_ERROR, EV_TIMEOUT, EV_DEVICE_ERROR};
    for (int s = 0; s < JOB_STATE_COUNT; s++) {
        for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
            const cmn_fsm_row_t *r = s_find(s, failures[i]);
            cr_assert_not_null(r, "state %s has no %s row", DOTS_JOB_STATE_NAMES[s],
                               DOTS_JOB_EVENT_NAMES[failures[i]]);
            cr_assert_eq(r->to, JOB_FAILED, "state %s: %s does not fail the job",
                         DOTS_JOB_STATE_NAMES[s], DOTS_JOB_EVENT_NAMES[failures[i]]);
        }
    }
}

Test(dots_onboard, no_state_event_pair_is_ambiguous)
{
    for (size_t i = 0; i < DOTS_JOB_FSM.n_rows; i++) {
        const cmn_fsm_row_t *a = &DOTS_JOB_FSM.rows[i];
        cr_assert(a->from == CMN_FSM_ANY || (a->from >= 0 && a->from < JOB_STATE_COUNT));
        cr_assert(a->on >= 0 && a->on < EV_COUNT, "row %zu: bad event %d", i, a->on);
        cr_assert(a->to == CMN_FSM_SAME || (a->to >= 0 && a->to < JOB_STATE_COUNT));
        for (size_t j = i + 1; j < DOTS_JOB_FSM.n_rows; j++) {
            const cmn_fsm_row_t *b = &DOTS_JOB_FSM.rows[j];
            cr_assert_not(a->from == b->from && a->on == b->on, "rows %zu and %zu: %d --%s-->", i,
                          j, a->from, DOTS_JOB_EVENT_NAMES[a->on]);
        }
    }
}

Test(dots_onboard, every_state_and_event_is_named)
{
    for (int s = 0; s < JOB_STATE_COUNT; s++) {
        cr_assert_not_null(DOTS_JOB_STATE_NAMES[s], "state %d", s);
    }
    for (int e = 0; e < EV_COUNT; e++) {
        cr_assert_not_null(DOTS_JOB_EVENT_NAMES[e], "event %d", e);
    }
}
