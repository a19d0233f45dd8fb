/* cmn_fsm_test.c — table-driven FSM: transitions, superstate, follow-up, missing row */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "cmn_fsm.h"

enum { S_IDLE, S_WAIT, S_DONE, S_FAILED, S_COUNT };
enum { E_START, E_REPLY, E_FINISH, E_ABORT, E_BOUNCE, E_BROKEN, E_COUNT };

static const char *const s_states[] = {"IDLE", "WAIT", "DONE", "FAILED"};
static const char *const s_events[] = {"START", "REPLY", "FINISH", "ABORT", "BOUNCE", "BROKEN"};

typedef struct {
    int calls;
    int seen_state;
    int *state;
} ctx_t;

static cmn_err_t
a_count(void *arg, int *ret_event)
{
    ctx_t *ctx = arg;
    (void) ret_event;
    ctx->calls++;
    ctx->seen_state = *ctx->state;
    return CMN_OK;
}

static cmn_err_t
a_raise_finish(void *arg, int *ret_event)
{
    ctx_t *ctx = arg;
    ctx->calls++;
    *ret_event = E_FINISH;
    return CMN_OK;
}

static cmn_err_t
a_fail(void *arg, int *ret_event)
{
    (void) arg;
    (void) ret_event;
    return CMN_EPROTO;
}

static const cmn_fsm_row_t s_rows[] = {
        {S_IDLE, E_START, S_WAIT, {a_count}},
        {S_WAIT, E_REPLY, S_WAIT, {a_count, a_raise_finish}},
        {S_WAIT, E_FINISH, S_DONE, {a_count}},
        {S_IDLE, E_BOUNCE, CMN_FSM_SAME, {a_count}},
        {S_WAIT, E_BROKEN, S_FAILED, {a_fail, a_count}},
        {CMN_FSM_ANY, E_ABORT, S_FAILED, {a_count}},
        {S_DONE, E_ABORT, S_DONE, {NULL}}, /* exact row beats the superstate */
};

static const cmn_fsm_t s_fsm = {s_rows, sizeof s_rows / sizeof s_rows[0], s_states, s_events,
                                "test"};

typedef struct {
    int from, event, to;
    cmn_err_t err;
    int calls;
} case_t;

ParameterizedTestParameters(cmn_fsm, transitions)
{
    static case_t cases[] = {
            {S_IDLE, E_START, S_WAIT, CMN_OK, 1},
            {S_WAIT, E_FINISH, S_DONE, CMN_OK, 1},
            {S_WAIT, E_REPLY, S_DONE, CMN_OK, 3}, /* follow-up FINISH */
            {S_IDLE, E_BOUNCE, S_IDLE, CMN_OK, 1},
            {S_IDLE, E_ABORT, S_FAILED, CMN_OK, 1}, /* superstate */
            {S_WAIT, E_ABORT, S_FAILED, CMN_OK, 1},
            {S_DONE, E_ABORT, S_DONE, CMN_OK, 0},
            {S_WAIT, E_BROKEN, S_FAILED, CMN_EPROTO, 0}, /* action error stops the rest */
            {S_DONE, E_START, S_DONE, CMN_ESTATE, 0},    /* no row */
            {S_IDLE, E_REPLY, S_IDLE, CMN_ESTATE, 0},
    };
    return cr_make_param_array(case_t, cases, sizeof cases / sizeof cases[0]);
}

ParameterizedTest(case_t *c, cmn_fsm, transitions)
{
    int state = c->from;
    ctx_t ctx = {0, -1, &state};
    cmn_err_t err = cmn_fsm_dispatch(&s_fsm, &state, c->event, &ctx, "id-1");
    cr_assert_eq(err, c->err, "%s/%s: err %d", s_states[c->from], s_events[c->event], err);
    cr_assert_eq(state, c->to, "%s/%s: state %s", s_states[c->from], s_events[c->event],
                 s_states[state]);
    cr_assert_eq(ctx.calls, c->calls);
}

Test(cmn_fsm, actions_see_new_state)
{
    int state = S_IDLE;
    ctx_t ctx = {0, -1, &state};
    cr_assert_eq(cmn_fsm_dispatch(&s_fsm, &state, E_START, &ctx, NULL), CMN_OK);
    cr_assert_eq(ctx.seen_state, S_WAIT);
}
