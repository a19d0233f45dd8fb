/* gw_ff00.h — a Just Works DOC over the OCF suite 0xFF00 (common/cmn_ff00.h), which
 * OpenSSL and so libcoap cannot speak. One relay per session: libcoap runs a plain
 * CoAP/UDP session to the relay's loopback socket, and the relay carries each of its
 * datagrams as one DTLS record to the device and back (docs/dtls.md, D50). Everything
 * above (CON/ACK, block-wise, tokens) stays libcoap's. */
#ifndef GW_FF00_H
#define GW_FF00_H

#include <coap3/coap.h>
#include <stdint.h>

#include "cmn_err.h"
#include "cmn_ff00.h"

typedef struct gw_ff00 gw_ff00_t;

/* Opens the relay: a socket connected to device, a loopback socket for libcoap, and a
 * client engine whose ClientHello is sent at once. Owned (gw_ff00_destroy); NULL on
 * failure (*ret_err). */
gw_ff00_t *gw_ff00_new(const coap_address_t *device, cmn_err_t *ret_err);

/* Sends close_notify if established, closes the sockets, wipes the engine, NULLs
 * *self_p. Accepts NULL. */
void gw_ff00_destroy(gw_ff00_t **self_p);

/* The loopback address libcoap's plain session must send to. */
const coap_address_t *gw_ff00_local(const gw_ff00_t *self);

/* Binds the relay to libcoap's side of the session (its local address): datagrams
 * from anywhere else are not relayed. */
cmn_err_t gw_ff00_bind(gw_ff00_t *self, const coap_address_t *libcoap_side);

/* The relay's two sockets, for the caller's poller (level-triggered readable). */
int gw_ff00_fd_device(const gw_ff00_t *self);
int gw_ff00_fd_local(const gw_ff00_t *self);

/* Moves what is waiting on both sockets through the engine and runs its timer.
 * Returns ms until the engine's next deadline, -1 if none. */
int gw_ff00_process(gw_ff00_t *self, uint64_t now_ms);

/* The engine's state and, once failed, why. */
cmn_ff00_state_t gw_ff00_state(const gw_ff00_t *self);
const char *gw_ff00_error(const gw_ff00_t *self);

/* The established engine (for the owner-PSK export), NULL before. Borrowed. */
const cmn_ff00_t *gw_ff00_engine(const gw_ff00_t *self);

#endif
