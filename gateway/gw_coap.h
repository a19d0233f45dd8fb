/* gw_coap.h — the gateway's CoAP side: client exchanges over plain UDP and DTLS
 * sessions kept per (caller, endpoint), and the OBT services' own /oic/d, /oic/res */
#ifndef GW_COAP_H
#define GW_COAP_H

#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"
#include "cmn_svr.h"
#include "gw_dtls.h"

typedef struct gw_coap gw_coap_t;

/* What the session of a finished exchange says about the device; every string is
 * valid for the duration of the callback only. */
typedef struct {
    const char *cipher;      /* OpenSSL name of the session's cipher ("" for coap://) */
    const char *cert_cn;     /* MFG/CERT: CN of the device's accepted leaf as sent, else "" */
    const char *cert_sha256; /* its SHA-256 (64 lowercase hex digits), else "" */
} gw_coap_peer_t;

/* Called once per exchange. err CMN_OK: code (205...) and payload are valid for the
 * duration of the call. Otherwise error is a human-readable reason. */
typedef void(gw_coap_done_fn)(void *arg,
                              cmn_err_t err,
                              const char *error,
                              int code,
                              const uint8_t *payload,
                              size_t len,
                              const gw_coap_peer_t *peer);

gw_coap_t *gw_coap_new(int session_idle_ms);
void gw_coap_destroy(gw_coap_t **self_p);

/* libcoap's epoll fd, for the loop. */
int gw_coap_fd(const gw_coap_t *self);
/* The epoll fd of the Just Works 0xFF00 relays' sockets (cmn_ff00_relay): readable when one
 * of them is; the loop then runs gw_coap_process. */
int gw_coap_relay_fd(const gw_coap_t *self);
/* Runs libcoap I/O without blocking when there is any (its fd readable: a datagram or
 * one of its own timers, which libcoap keeps on a timerfd in that fd; or a session
 * opened since), then expires deadlines and, every 250 ms, idle sessions.
 * Returns ms until the next deadline of ours (-1: none); libcoap's wake the fd. */
int gw_coap_process(gw_coap_t *self);

/* Starts one exchange. method 1..4 = GET, POST, PUT, DELETE. policy is required for
 * coaps:// endpoints and ignored for coap://. fn is called exactly once (possibly
 * before this returns, with an error). */
cmn_err_t gw_coap_request(gw_coap_t *self,
                          const char *caller,
                          const char *endpoint,
                          const gw_dtls_policy_t *policy,
                          int method,
                          const char *path,
                          const char *query,
                          const uint8_t *payload,
                          size_t len,
                          uint32_t timeout_ms,
                          gw_coap_done_fn *fn,
                          void *arg);

/* Owner PSK from the established session (caller, endpoint) (OCF-NOTES 6.3). */
cmn_err_t gw_coap_derive_owner_psk(gw_coap_t *self,
                                   const char *caller,
                                   const char *endpoint,
                                   const char *label,
                                   const uint8_t owner[16],
                                   const uint8_t device[16],
                                   uint8_t out[16],
                                   size_t *ret_kbl,
                                   char *ret_cipher,
                                   size_t cipher_len);

/* Closes the session (caller, endpoint); pending exchanges on it fail with EIO.
 * CMN_ENOTFOUND if there is none. */
cmn_err_t gw_coap_close(gw_coap_t *self, const char *caller, const char *endpoint);

/* Serves /oic/d and /oic/res of one OBT service on a new UDP endpoint at address;
 * the coap:// URI is written to ret_endpoint. Re-registering the same di replaces. */
cmn_err_t gw_coap_serve(gw_coap_t *self,
                        const char *address,
                        const cmn_d_t *device,
                        char *ret_endpoint,
                        size_t len);

size_t gw_coap_in_flight(const gw_coap_t *self);
size_t gw_coap_sessions(const gw_coap_t *self);

#endif
