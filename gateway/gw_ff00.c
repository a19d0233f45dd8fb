/* gw_ff00.c — the Just Works relay between libcoap (plain CoAP on loopback) and a
 * device speaking DTLS 1.2 with the suite 0xFF00 (gw_ff00.h). */
#include "gw_ff00.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_log.h"
#include "cmn_time.h"

#define PENDING 8 /* CoAP datagrams held until the handshake completes */

struct gw_ff00 {
    int dev_fd;           /* connected to the device */
    int loc_fd;           /* loopback, libcoap's peer */
    coap_address_t local; /* loc_fd's address */
    bool is_bound;        /* loc_fd is connected to libcoap's socket */
    cmn_ff00_t *engine;   /* the DTLS client */
    uint8_t *pending[PENDING];
    size_t pending_len[PENDING];
    size_t n_pending;
};

static int
s_udp_socket(int family)
{
    return socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

/* Sends what the engine has for the device. */
static void
s_flush(gw_ff00_t *self)
{
    uint8_t d[CMN_FF00_MTU];
    size_t n;
    while ((n = cmn_ff00_output(self->engine, d, sizeof d)) > 0) {
        if (send(self->dev_fd, d, n, 0) < 0) {
            cmn_log_debug("GW-FF00-SEND", "send to the device failed: %s", strerror(errno));
        }
    }
}

gw_ff00_t *
gw_ff00_new(const coap_address_t *device, cmn_err_t *ret_err)
{
    cmn_err_t err = CMN_EIO;
    gw_ff00_t *self = calloc(1, sizeof *self);
    cmn_ff00_cfg_t cfg = {.is_server = false};
    if (self == NULL) {
        err = CMN_ENOMEM;
        goto fail;
    }
    self->dev_fd = self->loc_fd = -1;
    self->dev_fd = s_udp_socket(device->addr.sa.sa_family);
    self->loc_fd = s_udp_socket(AF_INET);
    if (self->dev_fd < 0 || self->loc_fd < 0 ||
        connect(self->dev_fd, &device->addr.sa, device->size) != 0) {
        goto fail;
    }
    coap_address_init(&self->local);
    self->local.addr.sin.sin_family = AF_INET;
    self->local.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    self->local.size = sizeof self->local.addr.sin;
    if (bind(self->loc_fd, &self->local.addr.sa, self->local.size) != 0 ||
        getsockname(self->loc_fd, &self->local.addr.sa, &self->local.size) != 0) {
        goto fail;
    }
    self->engine = cmn_ff00_new(&cfg);
    if (self->engine == NULL) {
        err = CMN_ECRYPTO;
        goto fail;
    }
    err = cmn_ff00_start(self->engine, cmn_time_mono_ms());
    if (err != CMN_OK) {
        goto fail;
    }
    s_flush(self);
    return self;
fail:
    if (err == CMN_EIO && errno) {
        err = cmn_err_from_errno(errno);
    }
    gw_ff00_destroy(&self);
    if (ret_err) {
        *ret_err = err;
    }
    return NULL;
}

void
gw_ff00_destroy(gw_ff00_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    gw_ff00_t *self = *self_p;
    if (self->engine) {
        cmn_ff00_close(self->engine);
        s_flush(self);
        cmn_ff00_destroy(&self->engine);
    }
    for (size_t i = 0; i < self->n_pending; i++) {
        free(self->pending[i]);
    }
    if (self->dev_fd >= 0) {
        (void) close(self->dev_fd);
    }
    if (self->loc_fd >= 0) {
        (void) close(self->loc_fd);
    }
    free(self);
    *self_p = NULL;
}

const coap_address_t *
gw_ff00_local(const gw_ff00_t *self)
{
    return &self->local;
}

cmn_err_t
gw_ff00_bind(gw_ff00_t *self, const coap_address_t *libcoap_side)
{
    if (connect(self->loc_fd, &libcoap_side->addr.sa, libcoap_side->size) != 0) {
        return cmn_err_from_errno(errno);
    }
    self->is_bound = true;
    return CMN_OK;
}

int
gw_ff00_fd_device(const gw_ff00_t *self)
{
    return self->dev_fd;
}

int
gw_ff00_fd_local(const gw_ff00_t *self)
{
    return self->loc_fd;
}

/* CoAP from libcoap: into the engine, or held until the handshake is done. */
static void
s_from_libcoap(gw_ff00_t *self, const uint8_t *d, size_t n)
{
    cmn_ff00_state_t st = cmn_ff00_state(self->engine);
    if (st == CMN_FF00_ESTABLISHED) {
        (void) cmn_ff00_write(self->engine, d, n);
    } else if (st == CMN_FF00_HANDSHAKE && self->n_pending < PENDING) {
        uint8_t *copy = malloc(n ? n : 1);
        if (copy) {
            memcpy(copy, d, n);
            self->pending[self->n_pending] = copy;
            self->pending_len[self->n_pending++] = n;
        }
    } /* else dropped: libcoap's own retransmission and timeout report it */
}

int
gw_ff00_process(gw_ff00_t *self, uint64_t now_ms)
{
    static uint8_t d[CMN_FF00_MAX_PLAIN + 512];
    ssize_t n;
    while (self->is_bound && (n = recv(self->loc_fd, d, sizeof d, 0)) >= 0) {
        s_from_libcoap(self, d, (size_t) n);
    }
    while ((n = recv(self->dev_fd, d, sizeof d, 0)) >= 0) {
        (void) cmn_ff00_input(self->engine, d, (size_t) n, now_ms);
    }
    (void) cmn_ff00_tick(self->engine, now_ms);
    if (cmn_ff00_state(self->engine) == CMN_FF00_ESTABLISHED) {
        for (size_t i = 0; i < self->n_pending; i++) {
            (void) cmn_ff00_write(self->engine, self->pending[i], self->pending_len[i]);
            free(self->pending[i]);
        }
        self->n_pending = 0;
        size_t len = 0;
        while (cmn_ff00_read(self->engine, d, sizeof d, &len) == CMN_OK) {
            if (self->is_bound) {
                (void) send(self->loc_fd, d, len, 0);
            }
        }
    }
    s_flush(self);
    uint64_t deadline = cmn_ff00_deadline(self->engine);
    return deadline == 0 ? -1 : deadline <= now_ms ? 0 : (int) (deadline - now_ms);
}

cmn_ff00_state_t
gw_ff00_state(const gw_ff00_t *self)
{
    return cmn_ff00_state(self->engine);
}

const char *
gw_ff00_error(const gw_ff00_t *self)
{
    return cmn_ff00_error(self->engine);
}

const cmn_ff00_t *
gw_ff00_engine(const gw_ff00_t *self)
{
    return cmn_ff00_state(self->engine) == CMN_FF00_ESTABLISHED ? self->engine : NULL;
}
