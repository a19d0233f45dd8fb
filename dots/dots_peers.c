/* dots_peers.c — DOTS and its peers: DOTS's own /oic/d registered with the gateway
 * (rt oic.d.dots), and CMS and AMS checked before any onboarding (clause 5.3.1 step
 * 11): each answers a health request with its uuid and /oic/d endpoint, and that
 * /oic/d, read through the gateway, must carry rt oic.d.cms or oic.d.ams and di = its
 * uuid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_svc.h"
#include "cmn_svr.h"
#include "cmn_time.h"
#include "dots_onboard_int.h"
#include "obt/common.pb-c.h"

typedef struct {
    dots_engine_t *eng;
    bool is_cms;
    int stage; /* 0 = health, 1 = /oic/d */
} s_peer_ctx_t;

static void s_on_peer(void *arg, cmn_err_t err, const uint8_t *data, size_t len);

static void
s_check_d(dots_engine_t *self, s_peer_ctx_t *pc, const char *d_endpoint)
{
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CoapRequest c = OBT__GW__COAP_REQUEST__INIT;
    c.device_uuid = pc->is_cms ? self->cms_uuid : self->ams_uuid;
    c.endpoint = CMN_PB_STR(d_endpoint);
    c.method = OBT__GW__METHOD__METHOD_GET;
    c.path = CMN_PB_STR("/oic/d");
    c.timeout_ms = 3000;
    req.body_case = OBT__GW__REQUEST__BODY_COAP;
    req.coap = &c;
    req.corr_id = cmn_bus_next_corr_id();
    pc->stage = 1;
    if (dots_call(self, self->gw, &req.base, req.corr_id, 4000, s_on_peer, pc) != CMN_OK) {
        free(pc);
        self->checks_pending--;
    }
}

static void
s_on_peer(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_peer_ctx_t *pc = arg;
    dots_engine_t *self = pc->eng;
    if (!dots_call_returned(self)) {
        free(pc);
        return;
    }
    const char *name = pc->is_cms ? "CMS" : "AMS";
    char *uuid = pc->is_cms ? self->cms_uuid : self->ams_uuid;
    if (err != CMN_OK) {
        cmn_log_info("DOTS-PEER", "%s not reachable yet (%s)", name, cmn_strerror(err));
        goto done;
    }
    if (pc->stage == 0) {
        Obt__ServiceReply *r = obt__service_reply__unpack(NULL, len, data);
        if (r && r->status == OBT__STATUS__STATUS_OK &&
            r->body_case == OBT__SERVICE_REPLY__BODY_HEALTH && r->health->uuid[0] &&
            r->health->d_endpoint[0]) {
            (void) snprintf(uuid, 37, "%s", r->health->uuid);
            char ep[80];
            (void) snprintf(ep, sizeof ep, "%s", r->health->d_endpoint);
            obt__service_reply__free_unpacked(r, NULL);
            s_check_d(self, pc, ep);
            return;
        }
        if (r) {
            obt__service_reply__free_unpacked(r, NULL);
        }
        goto done;
    }
    Obt__Gw__Reply *r = obt__gw__reply__unpack(NULL, len, data);
    cmn_d_t d;
    if (r && r->status == OBT__STATUS__STATUS_OK && r->body_case == OBT__GW__REPLY__BODY_COAP &&
        r->coap->code == 205 &&
        cmn_d_decode(r->coap->payload.data, r->coap->payload.len, &d) == CMN_OK) {
        char di[CMN_UUID_STR_LEN + 1];
        cmn_uuid_to_str(&d.di, di);
        bool has_rt = false;
        for (size_t i = 0; i < d.n_rt; i++) {
            has_rt |= strcmp(d.rt[i], pc->is_cms ? "oic.d.cms" : "oic.d.ams") == 0;
        }
        if (has_rt && strcmp(di, uuid) == 0) {
            if (pc->is_cms) {
                self->cms_ok = true;
            } else {
                self->ams_ok = true;
            }
            cmn_log_notice("DOTS-PEER", "%s %s verified: its /oic/d has rt %s", name, uuid,
                           pc->is_cms ? "oic.d.cms" : "oic.d.ams");
        } else {
            cmn_log_err("DOTS-PEER", "%s %s failed the /oic/d check (rt or di mismatch)", name,
                        uuid);
        }
    }
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
done:
    free(pc);
    self->checks_pending--;
}

static void
s_on_registered(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    dots_engine_t *self = arg;
    if (!dots_call_returned(self)) {
        return;
    }
    self->checks_pending--;
    if (cmn_gw_registered(err, data, len, self->d_endpoint, sizeof self->d_endpoint)) {
        self->is_registered = true;
        cmn_log_notice("DOTS-REGISTERED", "our /oic/d is served at %s", self->d_endpoint);
    }
}

void
dots_peers_check(dots_engine_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    if (self->checks_pending > 0 || now < self->next_check_ms) {
        return;
    }
    self->next_check_ms = now + 1000;
    /* Counted like a dots_call: s_on_registered starts with dots_call_returned. */
    if (!self->is_registered &&
        cmn_gw_register_service(self->gw, self->id.uuid, self->cfg->name, "oic.d.dots", 2000,
                                s_on_registered, self) == CMN_OK) {
        self->n_calls++;
        self->checks_pending++;
    }
    for (int i = 0; i < 2; i++) {
        bool is_cms = i == 0;
        if (is_cms ? self->cms_ok : self->ams_ok) {
            continue;
        }
        s_peer_ctx_t *pc = calloc(1, sizeof *pc);
        if (pc == NULL) {
            return;
        }
        pc->eng = self;
        pc->is_cms = is_cms;
        Obt__Health h = OBT__HEALTH__INIT;
        uint64_t corr = cmn_bus_next_corr_id();
        cmn_err_t err;
        Obt__ServiceRequest req = OBT__SERVICE_REQUEST__INIT;
        req.corr_id = corr;
        req.body_case = OBT__SERVICE_REQUEST__BODY_HEALTH;
        req.health = &h;
        err = dots_call(self, is_cms ? self->cms : self->ams, &req.base, corr, 2000, s_on_peer, pc);
        if (err == CMN_OK) {
            self->checks_pending++;
        } else {
            free(pc);
        }
    }
}
