/* cmn_loop.h — the one event loop of every daemon: readers (ZeroMQ sockets, raw fds),
 * ticks and timers, pending-call tables, ROUTER servers with their dispatcher */
#ifndef CMN_LOOP_H
#define CMN_LOOP_H

#include <czmq.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_err.h"

/* One pass of cmn_loop_run, in this order (zloop's model, with the daemons' order):
 *   1. the ticks and the timers that are due, in the order they were added;
 *   2. the pending-call tables expire their calls (callbacks with CMN_ETIMEDOUT);
 *   2b. the flush (cmn_loop_set_flush), if any: what this pass and the readers of
 *      the previous one did is made durable before the loop waits;
 *   3. zmq_poll over every reader, for the smallest of: the wait cap, what each tick
 *      returned, the next due timer, the next call deadline;
 *   4. the readable readers, in the order they were added: a server receives and
 *      dispatches every waiting request; a call table reads every waiting reply.
 * Everything is borrowed: the loop never closes a socket or an fd. Any callback may
 * add or remove readers, ticks and timers: what is added takes part from the next
 * pass on; what is removed is never called again, not even later in the same pass.
 * The loop runs on one thread (the daemon's) and is not thread-safe. */

typedef struct cmn_loop cmn_loop_t;

/* What a tick or timer returns when it has no deadline of its own. */
#define CMN_LOOP_IDLE INT_MAX
/* What a tick or timer returns to be removed. */
#define CMN_LOOP_END (-1)

/* A reader: sock (or fd) is readable. */
typedef void(cmn_loop_reader_fn)(cmn_loop_t *loop, void *arg);
/* A tick or timer: returns ms until it wants to run again (0: at the next pass),
 * CMN_LOOP_IDLE for "no deadline", or CMN_LOOP_END (any negative value) to be
 * removed. */
typedef int(cmn_loop_timer_fn)(cmn_loop_t *loop, void *arg);
/* A request on a server: peer (routing id), caller (from the CURVE key of the
 * connection) and data are borrowed for the call only; the loop destroys the frame
 * and frees data with cmn_bus_free afterwards. */
typedef void(cmn_loop_dispatch_fn)(
        void *arg, zframe_t *peer, const cmn_caller_t *caller, const uint8_t *data, size_t len);

/* A loop that waits at most max_wait_ms in one poll (> 0). NULL if out of memory. */
cmn_loop_t *cmn_loop_new(int max_wait_ms);
/* Frees the loop; no callback runs. Accepts NULL. */
void cmn_loop_destroy(cmn_loop_t **self_p);

/* Calls fn when sock is readable. CMN_ENOMEM. */
cmn_err_t cmn_loop_add_sock(cmn_loop_t *self, zsock_t *sock, cmn_loop_reader_fn *fn, void *arg);
/* Calls fn when fd is readable. CMN_ENOMEM. */
cmn_err_t cmn_loop_add_fd(cmn_loop_t *self, int fd, cmn_loop_reader_fn *fn, void *arg);
/* Removes the reader of sock (or of fd): CMN_ENOTFOUND if there is none. Remove an fd
 * before closing it: the number may be given to the next socket opened. */
cmn_err_t cmn_loop_remove_sock(cmn_loop_t *self, zsock_t *sock);
cmn_err_t cmn_loop_remove_fd(cmn_loop_t *self, int fd);

/* Serves the ROUTER of bus: when it is readable, receives every waiting request
 * (cmn_bus_server_recv) and calls fn with each; requests that are not [id][payload]
 * are dropped. CMN_ENOMEM. */
cmn_err_t
cmn_loop_add_server(cmn_loop_t *self, cmn_bus_server_t *bus, cmn_loop_dispatch_fn *fn, void *arg);
/* Drives calls: its replies are read when its client's socket is readable, and
 * its deadlines expire at every pass and bound the poll. CMN_ENOMEM. */
cmn_err_t cmn_loop_add_calls(cmn_loop_t *self, cmn_calls_t *calls);

/* Calls fn at every pass (so after each wake-up); what it returns bounds the wait
 * before the next pass. CMN_ENOMEM. */
cmn_err_t cmn_loop_add_tick(cmn_loop_t *self, cmn_loop_timer_fn *fn, void *arg);
/* Calls fn once delay_ms have passed (0: at the next pass), then again each time the
 * ms it returns have passed. CMN_ENOMEM. */
cmn_err_t cmn_loop_add_timer(cmn_loop_t *self, int delay_ms, cmn_loop_timer_fn *fn, void *arg);

/* The flush: called once per pass, after the ticks and timers and before the poll
 * (so after the readers of the previous pass), and once more when the loop stops.
 * One per loop; fn NULL removes it. A daemon commits there what the pass wrote in one
 * transaction with one sync (cmn_commit.h). */
typedef void(cmn_loop_flush_fn)(cmn_loop_t *loop, void *arg);
void cmn_loop_set_flush(cmn_loop_t *self, cmn_loop_flush_fn *fn, void *arg);

/* Runs passes until zsys_interrupted (SIGINT/SIGTERM with zsys_catch_interrupts) or
 * cmn_loop_stop. CMN_OK then; CMN_EIO if zmq_poll fails other than by EINTR (its
 * errno at debug level). */
cmn_err_t cmn_loop_run(cmn_loop_t *self);
/* Makes cmn_loop_run return after the current pass (for tests and callbacks). */
void cmn_loop_stop(cmn_loop_t *self);

#endif
