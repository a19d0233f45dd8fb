/* dots_devreq.c — one CoAP request from DOTS to a device it owns, through the gateway */
#include "dots_devreq.h"

#include <openssl/crypto.h>
#include <stdio.h>

#include "cmn_uuid.h"
#include "obt/gateway.pb-c.h"

cmn_err_t
dots_devreq_send(cmn_gws_t *gws,
                 dots_store_t *store,
                 const char *caller_uuid,
                 const dots_dev_t *dev,
                 const dots_devreq_t *r,
                 uint32_t timeout_ms,
                 cmn_call_fn *fn,
                 void *arg,
                 char *why,
                 size_t why_len)
{
    const char *ep = dots_dev_ep(dev, r->secure);
    dots_secret_t sec = {0};
    cmn_uuid_t me;
    cmn_gw_t *gw = cmn_gws_find(gws, dev->gateway);
    if (gw == NULL) {
        (void) snprintf(why, why_len, "its gateway \"%s\" is not in --gateway", dev->gateway);
        return CMN_ENOTFOUND;
    }
    if (ep == NULL) {
        (void) snprintf(why, why_len, "device has no %s endpoint",
                        r->secure ? "coaps://" : "coap://");
        return CMN_ENOTFOUND;
    }
    if (r->secure && (dots_store_get_secret(store, dev->uuid, &sec) != CMN_OK || !sec.has_owner)) {
        (void) snprintf(why, why_len, "no owner credential stored");
        OPENSSL_cleanse(&sec, sizeof sec);
        return CMN_ENOTFOUND;
    }
    (void) cmn_uuid_from_str(caller_uuid, &me);
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CoapRequest c = OBT__GW__COAP_REQUEST__INIT;
    Obt__Gw__Security s = OBT__GW__SECURITY__INIT;
    c.device_uuid = (char *) (uintptr_t) dev->uuid;
    c.endpoint = (char *) (uintptr_t) ep;
    c.method = (Obt__Gw__Method) r->method;
    c.path = (char *) (uintptr_t) r->path;
    c.payload.data = (uint8_t *) (uintptr_t) r->payload;
    c.payload.len = r->len;
    c.timeout_ms = timeout_ms;
    if (r->secure) {
        s.kind = OBT__GW__SECURITY_KIND__SEC_PSK;
        s.psk_identity = (ProtobufCBinaryData){16, me.b};
        s.psk_key = (ProtobufCBinaryData){16, sec.owner_psk};
        c.security = &s;
    }
    req.body_case = OBT__GW__REQUEST__BODY_COAP;
    req.coap = &c;
    req.corr_id = cmn_bus_next_corr_id();
    cmn_err_t err = cmn_calls_send(gw->calls, &req.base, req.corr_id, timeout_ms + 500, fn, arg);
    OPENSSL_cleanse(&sec, sizeof sec);
    if (err != CMN_OK) {
        (void) snprintf(why, why_len, "cannot send: %s", cmn_strerror(err));
    }
    return err;
}
