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
#include "cmn_zep.h"
#include "dots_onboard_int.h"
#include "obt/common.pb-c.h"

typedef struct {
    dots_engine_t *eng;
    bool is_cms;
    int stage; /* 0 = health, 1 = /oic/d */
} s_peer_ctx_t;

/* A counted health request to peer (dots_call); gw: which gateway. */
static cmn_err_t
s_ask_health(dots_engine_t *self,
             dots_peer_t peer,
             cmn_gw_t *gw,
             uint32_t timeout_ms,
             cmn_call_fn *fn,
             void *arg)
{
    Obt__Health h = OBT__HEALTH__INIT;
    uint64_t corr = cmn_bus_next_corr_id();
    /* The gateway's Request and the services' envelope both have corr_id = 1 and
     * health = 10, each its own type. */
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__ServiceRequest svc = OBT__SERVICE_REQUEST__INIT;
    req.corr_id = svc.corr_id = corr;
    req.body_case = OBT__GW__REQUEST__BODY_HEALTH;
    svc.body_case = OBT__SERVICE_REQUEST__BODY_HEALTH;
    req.health = svc.health = &h;
    if (peer == DOTS_PEER_GW) {
        return dots_call(self, gw->calls, &req.base, corr, timeout_ms, fn, arg);
    }
    return dots_call(self, peer == DOTS_PEER_CMS ? self->cms : self->ams, &svc.base, corr,
                     timeout_ms, fn, arg);
}

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
    if (dots_call(self, cmn_gws_at(self->gws, 0)->calls, &req.base, req.corr_id, 4000, s_on_peer,
                  pc) != CMN_OK) {
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
        bool is_match = has_rt && strcmp(di, uuid) == 0;
        *(pc->is_cms ? &self->cms_ok : &self->ams_ok) = is_match;
        *(pc->is_cms ? &self->cms_recheck : &self->ams_recheck) = false;
        if (is_match) {
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
    dots_beat_ctx_t *bc = arg;
    dots_engine_t *self = bc->eng;
    if (!dots_call_returned(self)) {
        return;
    }
    self->checks_pending--;
    cmn_gw_t *gw = bc->gw;
    gw->is_registering = false;
    char why[400];
    if (cmn_gw_registered(err, data, len, gw->d_endpoint, sizeof gw->d_endpoint)) {
        gw->is_registered = true;
        if (gw->is_refused) {
            gw->is_refused = false;
            cmn_log_notice("DOTS-DOMAIN", "gateway %s serves our security domain now", gw->name);
        }
        cmn_log_notice("DOTS-REGISTERED", "our /oic/d is served at %s (gateway %s)", gw->d_endpoint,
                       gw->name);
    } else if (cmn_gw_refused(err, data, len, why, sizeof why)) {
        if (!gw->is_refused) { /* logged once; the registration is tried again */
            cmn_log_err("DOTS-DOMAIN",
                        "gateway %s refuses us: %s. No job goes through it meanwhile (they "
                        "wait with this reason)",
                        gw->name, why);
        }
        gw->is_refused = true;
        gw->next_register_ms = cmn_time_mono_ms() + 5000;
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
    for (size_t i = 0; i < cmn_gws_count(self->gws); i++) {
        cmn_gw_t *gw = cmn_gws_at(self->gws, i);
        if (!gw->is_registered && !gw->is_registering && now >= gw->next_register_ms &&
            cmn_gw_register_service(gw->calls, self->id.uuid, self->cfg->name, "oic.d.dots", 2000,
                                    s_on_registered, &self->gw_beat_ctx[i]) == CMN_OK) {
            gw->is_registering = true;
            self->n_calls++;
            self->checks_pending++;
        }
    }
    for (int i = 0; i < 2; i++) {
        bool is_cms = i == 0;
        bool is_checked = is_cms ? self->cms_ok : self->ams_ok;
        bool is_recheck = is_cms ? self->cms_recheck : self->ams_recheck;
        if (is_checked && (!is_recheck || !cmn_live_is_up(&cmn_gws_at(self->gws, 0)->live))) {
            continue; /* a re-check waits for the first gateway */
        }
        s_peer_ctx_t *pc = calloc(1, sizeof *pc);
        if (pc == NULL) {
            return;
        }
        pc->eng = self;
        pc->is_cms = is_cms;
        if (s_ask_health(self, is_cms ? DOTS_PEER_CMS : DOTS_PEER_AMS, NULL, 2000, s_on_peer, pc) ==
            CMN_OK) {
            self->checks_pending++;
        } else {
            free(pc);
        }
    }
}

bool
dots_peer_is_multi(const dots_engine_t *self, bool is_cms)
{
    return self->is_multi[is_cms ? 0 : 1];
}

/* ------------------------------------------------------------------ heartbeats */

static const char *const s_peer_names[DOTS_PEER_COUNT] = {"gateway", "CMS", "AMS"};

void
dots_peers_init(dots_engine_t *self)
{
    /* the lists do not change: expanded once, not at every heartbeat */
    self->is_multi[0] = cmn_zep_count(self->cfg->cms) > 1;
    self->is_multi[1] = cmn_zep_count(self->cfg->ams) > 1;
    for (int p = 0; p < DOTS_PEER_COUNT; p++) {
        cmn_live_init(&self->live[p], (uint32_t) self->cfg->heartbeat_ms);
        self->beat_ctx[p].eng = self;
        self->beat_ctx[p].peer = (dots_peer_t) p;
    }
    for (size_t i = 0; i < cmn_gws_count(self->gws); i++) {
        self->gw_beat_ctx[i].eng = self;
        self->gw_beat_ctx[i].peer = DOTS_PEER_GW;
        self->gw_beat_ctx[i].gw = cmn_gws_at(self->gws, i);
    }
}

/* The peer restarted or answers again: what it was told or what we checked of it may
 * be gone. */
static void
s_recheck(dots_engine_t *self, dots_peer_t peer, cmn_gw_t *gw)
{
    if (peer == DOTS_PEER_GW) {
        gw->is_registered = false; /* a new gateway serves no /oic/d ... */
        gw->next_register_ms = 0;  /* (and holds no domain yet: ask at once) */
        if (gw == cmn_gws_at(self->gws, 0)) {
            /* ... and CMS's and AMS's, read there, moved with it: read again, but the
             * CMS and AMS checked before are still the same services, so no job waits
             * for that (only a check that fails takes their "checked" back) */
            self->cms_recheck = self->cms_ok;
            self->ams_recheck = self->ams_ok;
        }
    } else if (peer == DOTS_PEER_CMS) {
        self->cms_ok = false;
        self->cms_recheck = false;
        dots_engine_resend_handovers(self, true);
    } else {
        self->ams_ok = false;
        self->ams_recheck = false;
        dots_engine_resend_handovers(self, false);
    }
    self->next_check_ms = 0;
}

static void
s_on_beat(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    dots_beat_ctx_t *bc = arg;
    dots_engine_t *self = bc->eng;
    if (!dots_call_returned(self)) {
        return;
    }
    /* Every daemon's Reply has status = 2 and health = 10: one type reads them all. */
    Obt__ServiceReply *r = err == CMN_OK ? obt__service_reply__unpack(NULL, len, data) : NULL;
    bool ok = r && r->status == OBT__STATUS__STATUS_OK &&
              r->body_case == OBT__SERVICE_REPLY__BODY_HEALTH;
    cmn_live_t *live = bc->gw ? &bc->gw->live : &self->live[bc->peer];
    if (!bc->gw && dots_peer_is_multi(self, bc->peer == DOTS_PEER_CMS)) {
        /* several instances answer in turn, each with its own boot id and uptime: none
         * is "the" restart of the service. A beat that went to an instance as it died
         * is lost: the service is away only when the next one, sent to those still
         * connected, is lost too (D98). */
        if (ok) {
            r->health->boot_id = 0;
            r->health->uptime_ms = 0;
        } else if (!bc->has_missed) {
            bc->has_missed = true;
            live->is_pending = false;
            live->next_ms = cmn_time_mono_ms();
            if (r) {
                obt__service_reply__free_unpacked(r, NULL);
            }
            return;
        }
        bc->has_missed = !ok;
    }
    cmn_live_change_t change = cmn_live_on_beat(live, ok ? r->health : NULL, cmn_time_wall_ms());
    if (bc->gw) {
        cmn_gw_beat_done(bc->gw);
    }
    char name[64];
    if (bc->gw) {
        cmn_gws_label(self->gws, bc->gw, name, sizeof name);
    } else {
        (void) snprintf(name, sizeof name, "%s", s_peer_names[bc->peer]);
    }
    if (bc->gw && ok && change != CMN_LIVE_SAME && r->health->name[0] &&
        strcmp(r->health->name, bc->gw->name) != 0) {
        cmn_log_warn("DOTS-GW-NAME",
                     "gateway %s at %s calls itself \"%s\" (obt-gateway --name): the name in "
                     "--gateway is the one records and logs use",
                     bc->gw->name, bc->gw->endpoint, r->health->name);
    }
    if (r) {
        obt__service_reply__free_unpacked(r, NULL);
    }
    const char *again = bc->peer == DOTS_PEER_GW ? "registering again" : "checking it again";
    switch (change) {
    case CMN_LIVE_LOST:
        cmn_log_notice("DOTS-PEER-DOWN", "%s unreachable", name);
        break;
    case CMN_LIVE_RESTARTED:
        cmn_log_notice("DOTS-PEER-RESTART", "%s restarted (boot id %016llx): %s", name,
                       (unsigned long long) live->boot_id, again);
        s_recheck(self, bc->peer, bc->gw);
        if (bc->gw) {
            dots_engine_gw_restarted(self, bc->gw);
        }
        break;
    case CMN_LIVE_BACK:
        cmn_log_notice("DOTS-PEER-BACK", "%s answers again: %s", name, again);
        s_recheck(self, bc->peer, bc->gw);
        break;
    default:
        break;
    }
}

/* One heartbeat to a peer if it is due. */
static void
s_beat(dots_engine_t *self, dots_beat_ctx_t *bc, cmn_live_t *live, uint64_t now)
{
    if (!cmn_live_is_due(live, now)) {
        return;
    }
    if (bc->gw) {
        cmn_gw_beat_sent(bc->gw);
    }
    cmn_err_t err = s_ask_health(self, bc->peer, bc->gw, live->period_ms, s_on_beat, bc);
    if (err != CMN_OK) {
        self->n_calls++; /* s_on_beat counts it back */
        s_on_beat(bc, err, NULL, 0);
    }
}

void
dots_peers_heartbeat(dots_engine_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    for (size_t i = 0; i < cmn_gws_count(self->gws); i++) {
        s_beat(self, &self->gw_beat_ctx[i], &cmn_gws_at(self->gws, i)->live, now);
    }
    for (int p = DOTS_PEER_CMS; p < DOTS_PEER_COUNT; p++) {
        s_beat(self, &self->beat_ctx[p], &self->live[p], now);
    }
}

bool
dots_peers_ready(const dots_engine_t *self, char *why, size_t why_len)
{
    for (int p = DOTS_PEER_CMS; p < DOTS_PEER_COUNT; p++) {
        const cmn_live_t *live = &self->live[p];
        bool is_checked = p == DOTS_PEER_CMS ? self->cms_ok : self->ams_ok;
        if (cmn_live_is_up(live) && is_checked) {
            continue;
        }
        char since[32];
        if (live->is_down) {
            cmn_live_down_since(live, since, sizeof since);
            (void) snprintf(why, why_len, "waiting for %s: not answering since %s", s_peer_names[p],
                            since);
        } else if (!live->has_answered) {
            (void) snprintf(why, why_len, "waiting for %s: no answer yet", s_peer_names[p]);
        } else {
            (void) snprintf(why, why_len, "waiting for %s: its /oic/d is not verified yet",
                            s_peer_names[p]);
        }
        return false;
    }
    return true;
}
