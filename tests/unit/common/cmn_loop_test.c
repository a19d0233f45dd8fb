/* cmn_loop_test.c — the event loop: timers and ticks, fd and socket readers, removal
 * while running, stop and interrupt, and a ROUTER server with a call table */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_bus.h"
#include "cmn_loop.h"
#include "cmn_time.h"
#include "obt/dots.pb-c.h"
#include "obt_support.h"

#define S_LOG_MAX 64

/* What the callbacks saw, in order. */
typedef struct {
    cmn_loop_t *loop;
    int log[S_LOG_MAX]; /* ids of the callbacks, in the order they ran */
    size_t n;
    zsock_t *sock; /* for s_on_message */
    int add_fd;    /* for s_on_add */
} s_seen_t;

typedef struct {
    s_seen_t *seen;
    int id;            /* what it writes in the log */
    int again_ms;      /* what a timer returns */
    int runs;          /* how many times it ran */
    int end_after;     /* returns CMN_LOOP_END at this run (0: never) */
    int fd;            /* a reader's fd, read once readable */
    int remove_fd;     /* a reader that removes this fd's reader (-1: none) */
    bool is_stopper;   /* stops the loop when it runs */
    bool is_interrupt; /* sets zsys_interrupted when it runs */
} s_cb_t;

static void
s_note(s_cb_t *cb)
{
    cb->runs++;
    if (cb->seen->n < S_LOG_MAX) {
        cb->seen->log[cb->seen->n++] = cb->id;
    }
    if (cb->is_stopper) {
        cmn_loop_stop(cb->seen->loop);
    }
    if (cb->is_interrupt) {
        zsys_interrupted = 1; /* what the SIGTERM handler does */
    }
}

static int
s_on_timer(cmn_loop_t *loop, void *arg)
{
    s_cb_t *cb = arg;
    cr_assert_eq(loop, cb->seen->loop);
    s_note(cb);
    return cb->end_after && cb->runs >= cb->end_after ? CMN_LOOP_END : cb->again_ms;
}

static void
s_on_readable(cmn_loop_t *loop, void *arg)
{
    s_cb_t *cb = arg;
    char byte;
    cr_assert_eq(read(cb->fd, &byte, 1), 1, "called but not readable");
    s_note(cb);
    if (cb->remove_fd >= 0) {
        cr_assert_eq(cmn_loop_remove_fd(loop, cb->remove_fd), CMN_OK);
        cr_assert_eq(cmn_loop_remove_fd(loop, cb->remove_fd), CMN_ENOTFOUND);
    }
}

/* A timer that writes one byte to its fd. */
static int
s_on_write(cmn_loop_t *loop, void *arg)
{
    s_cb_t *cb = arg;
    cr_assert_eq(write(cb->fd, "x", 1), 1);
    return s_on_timer(loop, arg);
}

/* A timer that adds a reader of seen->add_fd, which stops the loop. */
static int
s_on_add(cmn_loop_t *loop, void *arg)
{
    static s_cb_t added;
    s_cb_t *cb = arg;
    added = (s_cb_t){cb->seen, 4, 0, 0, 0, cb->seen->add_fd, -1, true, false};
    cr_assert_eq(cmn_loop_add_fd(loop, cb->seen->add_fd, s_on_readable, &added), CMN_OK);
    return s_on_timer(loop, arg);
}

static s_seen_t s_seen;

static void
s_setup(void)
{
    memset(&s_seen, 0, sizeof s_seen);
    s_seen.loop = cmn_loop_new(50);
    cr_assert_not_null(s_seen.loop);
}

static void
s_teardown(void)
{
    cmn_loop_destroy(&s_seen.loop);
    cr_assert_null(s_seen.loop);
    cmn_loop_destroy(&s_seen.loop); /* NULL is fine */
}

TestSuite(cmn_loop, .init = s_setup, .fini = s_teardown, .timeout = 10);

Test(cmn_loop, timers_fire_in_the_order_of_their_deadlines)
{
    s_cb_t a = {&s_seen, 1, 0, 0, 1, -1, -1, false, false};
    s_cb_t b = {&s_seen, 2, 0, 0, 1, -1, -1, false, false};
    s_cb_t c = {&s_seen, 3, 0, 0, 1, -1, -1, false, false};
    s_cb_t stop = {&s_seen, 9, 0, 0, 1, -1, -1, true, false};
    uint64_t t0 = cmn_time_mono_ms();
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 90, s_on_timer, &c), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 30, s_on_timer, &a), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 60, s_on_timer, &b), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 120, s_on_timer, &stop), CMN_OK);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    uint64_t took = cmn_time_mono_ms() - t0;
    cr_assert_eq(s_seen.n, 4);
    cr_assert_eq(s_seen.log[0], 1);
    cr_assert_eq(s_seen.log[1], 2);
    cr_assert_eq(s_seen.log[2], 3);
    cr_assert_eq(s_seen.log[3], 9);
    cr_assert_geq(took, 120, "the last timer ran early (%llu ms)", (unsigned long long) took);
    cr_assert_lt(took, 1000, "the loop slept past the deadlines (%llu ms)",
                 (unsigned long long) took);
}

Test(cmn_loop, a_timer_runs_again_after_what_it_returns_until_it_returns_end)
{
    s_cb_t rep = {&s_seen, 1, 10, 0, 3, -1, -1, false, false};
    s_cb_t stop = {&s_seen, 9, 0, 0, 1, -1, -1, true, false};
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 0, s_on_timer, &rep), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 200, s_on_timer, &stop), CMN_OK);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    cr_assert_eq(rep.runs, 3, "a timer that returned CMN_LOOP_END ran again");
    cr_assert_eq(stop.runs, 1);
}

Test(cmn_loop, a_tick_runs_at_every_pass_and_bounds_the_wait)
{
    /* The loop's cap is 50 ms; a tick that wants to run every 5 ms runs far more
     * often than the cap allows in 100 ms, then ends itself. */
    s_cb_t tick = {&s_seen, 1, 5, 0, 0, -1, -1, false, false};
    s_cb_t stop = {&s_seen, 9, 0, 0, 1, -1, -1, true, false};
    cr_assert_eq(cmn_loop_add_tick(s_seen.loop, s_on_timer, &tick), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 100, s_on_timer, &stop), CMN_OK);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    cr_assert_geq(tick.runs, 5, "tick ran %d times in 100 ms", tick.runs);

    s_cb_t once = {&s_seen, 2, 0, 0, 1, -1, -1, false, false};
    s_cb_t stop2 = {&s_seen, 9, 0, 0, 1, -1, -1, true, false};
    cr_assert_eq(cmn_loop_add_tick(s_seen.loop, s_on_timer, &once), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 60, s_on_timer, &stop2), CMN_OK);
    int before = tick.runs;
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK, "the loop runs again after a stop");
    cr_assert_eq(once.runs, 1, "a tick that returned CMN_LOOP_END ran again");
    cr_assert_gt(tick.runs, before);
}

Test(cmn_loop, a_reader_runs_when_its_fd_is_readable_and_not_before)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    s_cb_t r = {&s_seen, 5, 0, 0, 0, p[0], -1, false, false};
    s_cb_t writer = {&s_seen, 1, 0, 0, 1, -1, -1, false, false};
    s_cb_t stop = {&s_seen, 9, 0, 0, 1, -1, -1, true, false};
    cr_assert_eq(cmn_loop_add_fd(s_seen.loop, p[0], s_on_readable, &r), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 150, s_on_timer, &stop), CMN_OK);
    writer.fd = p[1];
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 60, s_on_write, &writer), CMN_OK);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    cr_assert_eq(r.runs, 1);
    cr_assert_eq(s_seen.n, 3);
    cr_assert_eq(s_seen.log[0], 1, "the reader ran before anything was written");
    cr_assert_eq(s_seen.log[1], 5);
    cr_assert_eq(s_seen.log[2], 9);
    (void) close(p[0]);
    (void) close(p[1]);
}

static void
s_on_message(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    s_cb_t *cb = arg;
    zsock_t *sock = cb->seen->sock;
    char *msg = zstr_recv(sock);
    cr_assert_str_eq(msg, "hello");
    zstr_free(&msg);
    s_note(cb);
}

Test(cmn_loop, a_reader_of_a_zsock_runs_when_a_message_waits)
{
    zsock_t *a = zsock_new_pair("@inproc://cmn_loop_pair");
    zsock_t *b = zsock_new_pair(">inproc://cmn_loop_pair");
    cr_assert(a && b);
    s_seen.sock = a;
    s_cb_t r = {&s_seen, 7, 0, 0, 0, -1, -1, true, false};
    cr_assert_eq(cmn_loop_add_sock(s_seen.loop, a, s_on_message, &r), CMN_OK);
    cr_assert_eq(zstr_send(b, "hello"), 0);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    cr_assert_eq(r.runs, 1);
    cr_assert_eq(cmn_loop_remove_sock(s_seen.loop, a), CMN_OK);
    cr_assert_eq(cmn_loop_remove_sock(s_seen.loop, a), CMN_ENOTFOUND);
    zsock_destroy(&a);
    zsock_destroy(&b);
}

Test(cmn_loop, a_reader_removed_while_running_is_not_called_again)
{
    /* Both pipes are readable in the same pass; the first reader removes the second
     * (added after it), which must not run, neither in this pass nor later. */
    int p[2], q[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(pipe(q), 0);
    s_cb_t first = {&s_seen, 1, 0, 0, 0, p[0], q[0], false, false};
    s_cb_t second = {&s_seen, 2, 0, 0, 0, q[0], -1, false, false};
    s_cb_t stop = {&s_seen, 9, 0, 0, 1, -1, -1, true, false};
    cr_assert_eq(cmn_loop_add_fd(s_seen.loop, p[0], s_on_readable, &first), CMN_OK);
    cr_assert_eq(cmn_loop_add_fd(s_seen.loop, q[0], s_on_readable, &second), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 100, s_on_timer, &stop), CMN_OK);
    cr_assert_eq(write(p[1], "x", 1), 1);
    cr_assert_eq(write(q[1], "x", 1), 1);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    cr_assert_eq(first.runs, 1);
    cr_assert_eq(second.runs, 0, "a removed reader ran");

    /* The removed fd's number may come back with another socket: a new reader of
     * the same fd number is the new one's. */
    (void) close(q[0]);
    (void) close(q[1]);
    cr_assert_eq(pipe(q), 0);
    s_cb_t third = {&s_seen, 3, 0, 0, 0, q[0], -1, true, false};
    cr_assert_eq(cmn_loop_add_fd(s_seen.loop, q[0], s_on_readable, &third), CMN_OK);
    cr_assert_eq(write(q[1], "x", 1), 1);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    cr_assert_eq(third.runs, 1);
    cr_assert_eq(second.runs, 0);
    for (int i = 0; i < 2; i++) {
        (void) close(p[i]);
        (void) close(q[i]);
    }
}

Test(cmn_loop, a_reader_added_while_running_takes_part_from_the_next_pass)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(write(p[1], "x", 1), 1);
    s_seen.add_fd = p[0];
    s_cb_t adder = {&s_seen, 1, 0, 0, 1, -1, -1, false, false};
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 0, s_on_add, &adder), CMN_OK);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    cr_assert_eq(s_seen.n, 2);
    cr_assert_eq(s_seen.log[0], 1);
    cr_assert_eq(s_seen.log[1], 4, "the added reader did not run");
    (void) close(p[0]);
    (void) close(p[1]);
}

Test(cmn_loop, the_loop_stops_on_interrupt)
{
    s_cb_t tick = {&s_seen, 1, CMN_LOOP_IDLE, 0, 0, -1, -1, false, false};
    s_cb_t intr = {&s_seen, 2, 0, 0, 1, -1, -1, false, true};
    cr_assert_eq(cmn_loop_add_tick(s_seen.loop, s_on_timer, &tick), CMN_OK);
    cr_assert_eq(cmn_loop_add_timer(s_seen.loop, 30, s_on_timer, &intr), CMN_OK);
    uint64_t t0 = cmn_time_mono_ms();
    cmn_err_t err = cmn_loop_run(s_seen.loop);
    uint64_t took = cmn_time_mono_ms() - t0;
    zsys_interrupted = 0;
    cr_assert_eq(err, CMN_OK);
    cr_assert_eq(intr.runs, 1);
    cr_assert_lt(took, 1000);
    int before = tick.runs;
    zsys_interrupted = 1;
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    zsys_interrupted = 0;
    cr_assert_eq(tick.runs, before, "an interrupted loop ran a pass");
}

/* ---------------------------------------------------- a server and a call table */

typedef struct {
    cmn_bus_server_t *srv;
    int requests;
    cmn_caller_t caller;
    uint64_t corr_id;
    cmn_err_t reply_err;
    int replies;
} s_bus_t;

static void
s_dispatch(void *arg, zframe_t *peer, const cmn_caller_t *caller, const uint8_t *data, size_t len)
{
    s_bus_t *b = arg;
    b->requests++;
    b->caller = *caller;
    Obt__Dots__Request *req = obt__dots__request__unpack(NULL, len, data);
    cr_assert_not_null(req);
    Obt__Dots__Reply reply = OBT__DOTS__REPLY__INIT;
    reply.corr_id = req->corr_id;
    obt__dots__request__free_unpacked(req, NULL);
    cr_assert_eq(cmn_bus_server_send_pb(b->srv, peer, &reply.base), CMN_OK);
}

static void
s_on_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_bus_t *b = arg;
    b->replies++;
    b->reply_err = err;
    cr_assert_eq(err == CMN_OK ? cmn_bus_peek_corr_id(data, len) : b->corr_id, b->corr_id);
    cmn_loop_stop(s_seen.loop);
}

Test(cmn_loop, a_server_dispatches_each_request_and_a_call_table_gets_its_reply)
{
    char *root = obt_tmpdir("cmn_loop");
    cr_assert_not_null(root);
    char keys[512], ep[512];
    (void) snprintf(keys, sizeof keys, "%s/keys", root);
    (void) snprintf(ep, sizeof ep, "ipc://%s/dots.sock", root);
    cr_assert_eq(cmn_bus_keys_create(keys, false), CMN_OK);
    cmn_err_t err = CMN_OK;
    s_bus_t b = {0};
    b.srv = cmn_bus_server_new(ep, keys, "dots", &err);
    cr_assert_not_null(b.srv, "%s", cmn_strerror(err));
    cmn_bus_client_t *cli = cmn_bus_client_new(ep, keys, "obtctl", "dots", &err);
    cr_assert_not_null(cli);
    cmn_calls_t *calls = cmn_calls_new(cli);
    cr_assert_not_null(calls);
    cr_assert_eq(cmn_loop_add_server(s_seen.loop, b.srv, s_dispatch, &b), CMN_OK);
    cr_assert_eq(cmn_loop_add_calls(s_seen.loop, calls), CMN_OK);

    Obt__Health health = OBT__HEALTH__INIT;
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    req.corr_id = b.corr_id = cmn_bus_next_corr_id();
    req.body_case = OBT__DOTS__REQUEST__BODY_HEALTH;
    req.health = &health;
    cr_assert_eq(cmn_calls_send(calls, &req.base, req.corr_id, 5000, s_on_reply, &b), CMN_OK);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    cr_assert_eq(b.requests, 1);
    cr_assert_str_eq(b.caller.name, "obtctl");
    cr_assert_eq(b.caller.party, CMN_PARTY_OPERATOR);
    cr_assert_eq(b.replies, 1);
    cr_assert_eq(b.reply_err, CMN_OK);

    /* A call nobody answers expires from the loop, on time. */
    cr_assert_eq(cmn_loop_remove_sock(s_seen.loop, cmn_bus_server_sock(b.srv)), CMN_OK);
    req.corr_id = b.corr_id = cmn_bus_next_corr_id();
    uint64_t t0 = cmn_time_mono_ms();
    cr_assert_eq(cmn_calls_send(calls, &req.base, req.corr_id, 120, s_on_reply, &b), CMN_OK);
    cr_assert_eq(cmn_loop_run(s_seen.loop), CMN_OK);
    uint64_t took = cmn_time_mono_ms() - t0;
    cr_assert_eq(b.replies, 2);
    cr_assert_eq(b.reply_err, CMN_ETIMEDOUT);
    cr_assert_eq(b.requests, 1, "a removed server dispatched");
    cr_assert_geq(took, 120);
    cr_assert_lt(took, 120 + 50 + 100, "the deadline did not bound the wait");

    cmn_calls_destroy(&calls);
    cmn_bus_client_destroy(&cli);
    cmn_bus_server_destroy(&b.srv);
    obt_rmrf(root);
    free(root);
}
