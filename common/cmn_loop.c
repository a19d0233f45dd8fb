/* cmn_loop.c — the one event loop of every daemon */
#include "cmn_loop.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_time.h"

/* One reader; exactly one of fn, dispatch (with bus) and calls says what it does. */
typedef struct {
    zsock_t *sock;                  /* NULL: a raw fd */
    int fd;                         /* when sock is NULL */
    cmn_loop_reader_fn *fn;         /* a plain reader */
    cmn_bus_server_t *bus;          /* a server ... */
    cmn_loop_dispatch_fn *dispatch; /* ... and its dispatcher */
    cmn_calls_t *calls;             /* a pending-call table */
    void *arg;                      /* given to fn or dispatch */
    bool is_dead;                   /* removed: dropped before the next poll */
} s_reader_t;

typedef struct {
    cmn_loop_timer_fn *fn;
    void *arg;
    bool is_tick;    /* runs at every pass; else when due */
    uint64_t due_ms; /* monotonic; timers only */
    bool is_dead;    /* returned CMN_LOOP_END */
} s_timer_t;

struct cmn_loop {
    int max_wait_ms;             /* cap of one poll */
    s_reader_t *readers;         /* in the order added */
    size_t n_readers;            /* in use */
    size_t cap_readers;          /* allocated */
    s_timer_t *timers;           /* ticks and timers, in the order added */
    size_t n_timers;             /* in use */
    size_t cap_timers;           /* allocated */
    zmq_pollitem_t *items;       /* one per reader, rebuilt at every pass */
    size_t cap_items;            /* allocated */
    bool is_stopping;            /* cmn_loop_stop */
    cmn_loop_flush_fn *flush_fn; /* cmn_loop_set_flush, or NULL */
    void *flush_arg;             /* its argument */
};

cmn_loop_t *
cmn_loop_new(int max_wait_ms)
{
    assert(max_wait_ms > 0);
    cmn_loop_t *self = calloc(1, sizeof *self);
    if (self) {
        self->max_wait_ms = max_wait_ms;
    }
    return self;
}

void
cmn_loop_destroy(cmn_loop_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_loop_t *self = *self_p;
    free(self->readers);
    free(self->timers);
    free(self->items);
    free(self);
    *self_p = NULL;
}

/* Appends the size bytes at elem to arr (*n used of *cap allocated): the array to
 * use from now on, or NULL (arr untouched) if out of memory. */
static void *
s_push(void *arr, size_t *n, size_t *cap, const void *elem, size_t size)
{
    if (*n == *cap) {
        size_t new_cap = *cap ? *cap * 2 : 8;
        void *grown = realloc(arr, new_cap * size);
        if (grown == NULL) {
            return NULL;
        }
        arr = grown;
        *cap = new_cap;
    }
    memcpy((char *) arr + *n * size, elem, size);
    (*n)++;
    return arr;
}

static cmn_err_t
s_add_reader(cmn_loop_t *self, const s_reader_t *r)
{
    s_reader_t *readers = s_push(self->readers, &self->n_readers, &self->cap_readers, r, sizeof *r);
    self->readers = readers ? readers : self->readers;
    return readers ? CMN_OK : CMN_ENOMEM;
}

cmn_err_t
cmn_loop_add_sock(cmn_loop_t *self, zsock_t *sock, cmn_loop_reader_fn *fn, void *arg)
{
    assert(self && sock && fn);
    return s_add_reader(self, &(s_reader_t){.sock = sock, .fd = -1, .fn = fn, .arg = arg});
}

cmn_err_t
cmn_loop_add_fd(cmn_loop_t *self, int fd, cmn_loop_reader_fn *fn, void *arg)
{
    assert(self && fd >= 0 && fn);
    return s_add_reader(self, &(s_reader_t){.fd = fd, .fn = fn, .arg = arg});
}

/* Marks the first live reader of sock (or, with sock NULL, of fd) removed. */
static cmn_err_t
s_remove_reader(cmn_loop_t *self, const zsock_t *sock, int fd)
{
    for (size_t i = 0; i < self->n_readers; i++) {
        s_reader_t *r = &self->readers[i];
        if (!r->is_dead && r->sock == sock && (sock != NULL || r->fd == fd)) {
            r->is_dead = true;
            return CMN_OK;
        }
    }
    return CMN_ENOTFOUND;
}

cmn_err_t
cmn_loop_remove_sock(cmn_loop_t *self, zsock_t *sock)
{
    assert(self && sock);
    return s_remove_reader(self, sock, -1);
}

cmn_err_t
cmn_loop_remove_fd(cmn_loop_t *self, int fd)
{
    assert(self);
    return s_remove_reader(self, NULL, fd);
}

cmn_err_t
cmn_loop_add_server(cmn_loop_t *self, cmn_bus_server_t *bus, cmn_loop_dispatch_fn *fn, void *arg)
{
    assert(self && bus && fn);
    return s_add_reader(self, &(s_reader_t){.sock = cmn_bus_server_sock(bus),
                                            .fd = -1,
                                            .bus = bus,
                                            .dispatch = fn,
                                            .arg = arg});
}

cmn_err_t
cmn_loop_add_calls(cmn_loop_t *self, cmn_calls_t *calls)
{
    assert(self && calls);
    return s_add_reader(self, &(s_reader_t){.sock = cmn_bus_client_sock(cmn_calls_client(calls)),
                                            .fd = -1,
                                            .calls = calls});
}

static cmn_err_t
s_add_timer(cmn_loop_t *self, const s_timer_t *t)
{
    s_timer_t *timers = s_push(self->timers, &self->n_timers, &self->cap_timers, t, sizeof *t);
    self->timers = timers ? timers : self->timers;
    return timers ? CMN_OK : CMN_ENOMEM;
}

cmn_err_t
cmn_loop_add_tick(cmn_loop_t *self, cmn_loop_timer_fn *fn, void *arg)
{
    assert(self && fn);
    return s_add_timer(self, &(s_timer_t){.fn = fn, .arg = arg, .is_tick = true});
}

cmn_err_t
cmn_loop_add_timer(cmn_loop_t *self, int delay_ms, cmn_loop_timer_fn *fn, void *arg)
{
    assert(self && fn);
    uint64_t due = cmn_time_mono_ms() + (uint64_t) (delay_ms > 0 ? delay_ms : 0);
    return s_add_timer(self, &(s_timer_t){.fn = fn, .arg = arg, .due_ms = due});
}

void
cmn_loop_set_flush(cmn_loop_t *self, cmn_loop_flush_fn *fn, void *arg)
{
    assert(self);
    self->flush_fn = fn;
    self->flush_arg = arg;
}

static int
s_min(int wait, int t)
{
    return t >= 0 && t < wait ? t : wait;
}

/* Steps 1 and 2 of a pass: ticks, due timers, call deadlines. Returns how long the
 * poll may wait. Entries added meanwhile wait for the next pass. */
static int
s_run_timers(cmn_loop_t *self)
{
    int wait = self->max_wait_ms;
    uint64_t now = cmn_time_mono_ms();
    size_t n = self->n_timers;
    for (size_t i = 0; i < n; i++) {
        s_timer_t t = self->timers[i]; /* a callback may move the array */
        if (t.is_dead) {
            continue;
        }
        if (!t.is_tick && t.due_ms > now) {
            wait = s_min(wait, t.due_ms - now > INT_MAX ? INT_MAX : (int) (t.due_ms - now));
            continue;
        }
        int next = t.fn(self, t.arg);
        if (next < 0) {
            self->timers[i].is_dead = true;
            continue;
        }
        self->timers[i].due_ms = now + (uint64_t) next;
        wait = s_min(wait, next);
    }
    n = self->n_readers;
    for (size_t i = 0; i < n; i++) {
        cmn_calls_t *calls = self->readers[i].is_dead ? NULL : self->readers[i].calls;
        if (calls) {
            wait = s_min(wait, cmn_calls_expire(calls));
        }
    }
    return wait;
}

/* Drops removed readers and timers, keeping the order of the others. */
static void
s_compact(cmn_loop_t *self)
{
    size_t k = 0;
    for (size_t i = 0; i < self->n_readers; i++) {
        if (!self->readers[i].is_dead) {
            self->readers[k++] = self->readers[i];
        }
    }
    self->n_readers = k;
    k = 0;
    for (size_t i = 0; i < self->n_timers; i++) {
        if (!self->timers[i].is_dead) {
            self->timers[k++] = self->timers[i];
        }
    }
    self->n_timers = k;
}

/* Receives every waiting request of the server at readers[which] and dispatches it,
 * while that reader stays. */
static void
s_drain(cmn_loop_t *self, size_t which)
{
    cmn_bus_server_t *bus = self->readers[which].bus;
    cmn_loop_dispatch_fn *dispatch = self->readers[which].dispatch;
    void *arg = self->readers[which].arg;
    zframe_t *peer = NULL;
    cmn_caller_t caller;
    uint8_t *data = NULL;
    size_t len = 0;
    cmn_err_t err;
    while (!self->readers[which].is_dead &&
           (err = cmn_bus_server_recv(bus, &peer, &caller, &data, &len)) != CMN_ENOTFOUND) {
        if (err == CMN_OK) {
            dispatch(arg, peer, &caller, data, len);
            zframe_destroy(&peer);
            cmn_bus_free(data, len);
        }
    }
}

/* Step 4: the readers that were readable, unless removed since. */
static void
s_run_readers(cmn_loop_t *self, size_t n_items)
{
    for (size_t i = 0; i < n_items; i++) {
        s_reader_t r = self->readers[i]; /* a callback may move the array */
        if (r.is_dead || !(self->items[i].revents & ZMQ_POLLIN)) {
            continue;
        }
        if (r.bus) {
            s_drain(self, i);
        } else if (r.calls) {
            cmn_calls_on_readable(r.calls);
        } else {
            r.fn(self, r.arg);
        }
    }
}

cmn_err_t
cmn_loop_run(cmn_loop_t *self)
{
    assert(self);
    cmn_err_t err = CMN_OK;
    while (!zsys_interrupted && !self->is_stopping) {
        int wait = s_run_timers(self);
        if (self->flush_fn) {
            self->flush_fn(self, self->flush_arg); /* what the pass wrote, before any wait */
        }
        s_compact(self);
        size_t n = self->n_readers;
        if (n > self->cap_items) {
            zmq_pollitem_t *items = realloc(self->items, n * sizeof *items);
            if (items == NULL) {
                err = CMN_ENOMEM;
                break;
            }
            self->items = items;
            self->cap_items = n;
        }
        for (size_t i = 0; i < n; i++) {
            const s_reader_t *r = &self->readers[i];
            self->items[i] = (zmq_pollitem_t){r->sock ? zsock_resolve(r->sock) : NULL,
                                              r->sock ? 0 : r->fd, ZMQ_POLLIN, 0};
        }
        if (zmq_poll(self->items, (int) n, wait) < 0) {
            int e = zmq_errno();
            if (e == EINTR) {
                continue;
            }
            cmn_log_debug("LOOP-POLL", "zmq_poll: %s", zmq_strerror(e));
            errno = e; /* for the caller's own message */
            err = CMN_EIO;
            break;
        }
        s_run_readers(self, n);
    }
    if (self->flush_fn) {
        self->flush_fn(self, self->flush_arg);
    }
    self->is_stopping = false;
    return err;
}

void
cmn_loop_stop(cmn_loop_t *self)
{
    assert(self);
    self->is_stopping = true;
}
