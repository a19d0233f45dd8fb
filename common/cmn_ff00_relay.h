/* cmn_ff00_relay.h — carries plain CoAP between libcoap (UDP on loopback) and a peer
 * speaking DTLS 1.2 with the OCF suite 0xFF00 (cmn_ff00.h), which OpenSSL and so
 * libcoap cannot speak. One relay per session, either side:
 *   gateway (client): libcoap's plain client session sends to the relay's loopback
 *                     socket; the relay runs the handshake to the device;
 *   ocf-devsim (server): the relay takes a peer over from libcoap's coaps endpoint and
 *                     relays its CoAP into a loopback endpoint of libcoap's.
 * Each CoAP datagram is one DTLS record; everything above (CON/ACK, block-wise) stays
 * libcoap's (docs/dtls.md, D50). */
#ifndef CMN_FF00_RELAY_H
#define CMN_FF00_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cmn_err.h"
#include "cmn_ff00.h"

typedef struct cmn_ff00_relay cmn_ff00_relay_t;

/* Opens a relay to peer: a socket connected to it (server: first bound to at, the
 * coaps endpoint's own address, with SO_REUSEADDR: a connected UDP socket receives
 * that peer's datagrams instead of the endpoint), a loopback socket, and the engine
 * (client: its ClientHello is sent at once). Owned (cmn_ff00_relay_destroy); NULL on
 * failure (*ret_err). */
cmn_ff00_relay_t *cmn_ff00_relay_new(bool is_server,
                                     const struct sockaddr *peer,
                                     socklen_t peer_len,
                                     const struct sockaddr *at,
                                     socklen_t at_len,
                                     cmn_err_t *ret_err);

/* Sends close_notify if established, closes the sockets, wipes the engine, NULLs
 * *self_p. Accepts NULL. */
void cmn_ff00_relay_destroy(cmn_ff00_relay_t **self_p);

/* The loopback socket's address (the client's libcoap session sends there). */
const struct sockaddr *cmn_ff00_relay_local(const cmn_ff00_relay_t *self, socklen_t *ret_len);

/* Connects the loopback socket to libcoap's side (the client session's socket, or the
 * server's loopback endpoint): datagrams from anywhere else are not relayed, and
 * plaintext from the peer goes there. */
cmn_err_t cmn_ff00_relay_connect(cmn_ff00_relay_t *self, const struct sockaddr *to, socklen_t len);

/* The relay's two sockets, for the caller's poller (level-triggered readable). */
int cmn_ff00_relay_fd_peer(const cmn_ff00_relay_t *self);
int cmn_ff00_relay_fd_local(const cmn_ff00_relay_t *self);

/* Moves what is waiting on both sockets through the engine and runs its timer.
 * Returns ms until the engine's next deadline, -1 if none. */
int cmn_ff00_relay_process(cmn_ff00_relay_t *self, uint64_t now_ms);

/* The engine (state, error, export; a server's cmn_ff00_hello_verify). Borrowed. */
cmn_ff00_t *cmn_ff00_relay_engine(const cmn_ff00_relay_t *self);

#endif
