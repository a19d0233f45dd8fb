/* cmn_ff00_relay.c — plain CoAP on loopback <-> DTLS 1.2 with the suite 0xFF00
 * (cmn_ff00_relay.h). */
#include "cmn_ff00_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_log.h"
#include "cmn_time.h"

#define PENDING 8 /* CoAP datagrams held until the handshake completes */

struct cmn_ff00_relay {
    int dev_fd;                    /* connected to the peer */
    int loc_fd;                    /* loopback, libcoap's side */
    struct sockaddr_storage local; /* loc_fd's address */
    socklen_t local_len;
    bool is_bound;      /* loc_fd is connected to libcoap's socket */
    cmn_ff00_t *engine; /* the DTLS client or server */
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
s_flush(cmn_ff00_relay_t *self)
{
    uint8_t d[CMN_FF00_MTU];
    size_t n;
    while ((n = cmn_ff00_output(self->engine, d, sizeof d)) > 0) {
        if (send(self->dev_fd, d, n, 0) < 0) {
            cmn_log_debug("FF00-SEND", "send to the peer failed: %s", strerror(errno));
        }
    }
}

cmn_ff00_relay_t *
cmn_ff00_relay_new(bool is_server,
                   const struct sockaddr *peer,
                   socklen_t peer_len,
                   const struct sockaddr *at,
                   socklen_t at_len,
                   cmn_err_t *ret_err)
{
    cmn_err_t err = CMN_EIO;
    cmn_ff00_relay_t *self = calloc(1, sizeof *self);
    uint8_t peer_bytes[sizeof(struct sockaddr_storage)];
    memset(peer_bytes, 0, sizeof peer_bytes);
    memcpy(peer_bytes, peer, peer_len < sizeof peer_bytes ? peer_len : sizeof peer_bytes);
    cmn_ff00_cfg_t cfg = {.is_server = is_server, .peer = peer_bytes, .peer_len = peer_len};
    int one = 1;
    errno = 0;
    if (self == NULL) {
        err = CMN_ENOMEM;
        goto fail;
    }
    self->dev_fd = self->loc_fd = -1;
    self->dev_fd = s_udp_socket(peer->sa_family);
    self->loc_fd = s_udp_socket(AF_INET);
    if (self->dev_fd < 0 || self->loc_fd < 0 ||
        (at && (setsockopt(self->dev_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
                bind(self->dev_fd, at, at_len) != 0)) ||
        connect(self->dev_fd, peer, peer_len) != 0) {
        goto fail;
    }
    struct sockaddr_in *lo = (struct sockaddr_in *) &self->local;
    lo->sin_family = AF_INET;
    lo->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    self->local_len = sizeof *lo;
    if (bind(self->loc_fd, (struct sockaddr *) &self->local, self->local_len) != 0 ||
        getsockname(self->loc_fd, (struct sockaddr *) &self->local, &self->local_len) != 0) {
        goto fail;
    }
    self->engine = cmn_ff00_new(&cfg);
    if (self->engine == NULL) {
        err = CMN_ECRYPTO;
        goto fail;
    }
    if (!is_server) {
        err = cmn_ff00_start(self->engine, cmn_time_mono_ms());
        if (err != CMN_OK) {
            goto fail;
        }
        s_flush(self);
    }
    return self;
fail:
    if (err == CMN_EIO && errno) {
        err = cmn_err_from_errno(errno);
    }
    cmn_ff00_relay_destroy(&self);
    if (ret_err) {
        *ret_err = err;
    }
    return NULL;
}

void
cmn_ff00_relay_destroy(cmn_ff00_relay_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_ff00_relay_t *self = *self_p;
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

const struct sockaddr *
cmn_ff00_relay_local(const cmn_ff00_relay_t *self, socklen_t *ret_len)
{
    *ret_len = self->local_len;
    return (const struct sockaddr *) &self->local;
}

cmn_err_t
cmn_ff00_relay_connect(cmn_ff00_relay_t *self, const struct sockaddr *to, socklen_t len)
{
    if (connect(self->loc_fd, to, len) != 0) {
        return cmn_err_from_errno(errno);
    }
    self->is_bound = true;
    return CMN_OK;
}

int
cmn_ff00_relay_fd_peer(const cmn_ff00_relay_t *self)
{
    return self->dev_fd;
}

int
cmn_ff00_relay_fd_local(const cmn_ff00_relay_t *self)
{
    return self->loc_fd;
}

/* CoAP from libcoap: into the engine, or held until the handshake is done. */
static void
s_from_libcoap(cmn_ff00_relay_t *self, const uint8_t *d, size_t n)
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
cmn_ff00_relay_process(cmn_ff00_relay_t *self, uint64_t now_ms)
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

cmn_ff00_t *
cmn_ff00_relay_engine(const cmn_ff00_relay_t *self)
{
    return self->engine;
}
