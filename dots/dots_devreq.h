/* dots_devreq.h — one CoAP request from DOTS to a device it owns, through the gateway:
 * plain coap://, or over the owner-PSK session (identity = the DOTS uuid, key = the owner
 * PSK in the store). For the jobs that run after onboarding (dots_maint.c, dots_bridge.c) */
#ifndef DOTS_DEVREQ_H
#define DOTS_DEVREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_gws.h"
#include "dots_store.h"

/* What to send (borrowed). method is an Obt__Gw__Method; payload is CBOR or NULL. */
typedef struct {
    int method;
    const char *path;
    bool secure; /* coaps:// with the owner PSK, else coap:// */
    const uint8_t *payload;
    size_t len;
} dots_devreq_t;

/* Sends r, through dev's gateway (dev->gateway among gws), to dev's first coaps:// (secure) or
 * coap:// endpoint as caller_uuid, with a CoAP timeout of timeout_ms (the call's own is 500 ms
 * longer). On CMN_OK fn(arg, ...) is called exactly once with the packed gateway Reply
 * (cmn_call_fn). Otherwise nothing was sent, fn is never called, and the reason is in why:
 * CMN_ENOTFOUND (no such endpoint, no owner credential stored, a gateway not in --gateway), or
 * cmn_calls_send's error. The PSK is wiped from memory before this returns. */
cmn_err_t dots_devreq_send(cmn_gws_t *gws,
                           dots_store_t *store,
                           const char *caller_uuid,
                           const dots_dev_t *dev,
                           const dots_devreq_t *r,
                           uint32_t timeout_ms,
                           cmn_call_fn *fn,
                           void *arg,
                           char *why,
                           size_t why_len);

#endif
