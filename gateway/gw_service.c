/* gw_service.c — obt-gateway: the loop, the dispatch table and the handlers */
#include "gw_service.h"

#include <coap3/coap.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_cert.h"
#include "cmn_dispatch.h"
#include "cmn_live.h"
#include "cmn_log.h"
#include "cmn_loop.h"
#include "cmn_psk.h"
#include "cmn_time.h"
#include "cmn_uuid.h"
#include "gw_coap.h"
#include "gw_disc.h"
#include "obt/gateway.pb-c.h"

#define MAX_DISC        8
#define MAX_WAIT_MS     1000      /* the longest the loop sleeps */
#define MAX_ANCHORS_PEM (1 << 20) /* trust anchors in one request */

typedef struct {
    gw_service_t *svc; /* back pointer */
    zframe_t *peer;    /* ZeroMQ routing id (owned) */
    uint64_t corr_id;
} s_pending_t;

typedef struct s_disc_slot s_disc_slot_t;

/* One socket of a discovery, as the loop's reader sees it. */
typedef struct {
    s_disc_slot_t *slot; /* back pointer */
    int which;           /* gw_disc_fd(slot->disc, which) */
} s_disc_sock_t;

struct s_disc_slot {
    gw_service_t *svc;                      /* back pointer */
    gw_disc_t *disc;                        /* the round */
    s_pending_t *req;                       /* who asked */
    s_disc_sock_t socks[GW_DISC_MAX_SOCKS]; /* the loop's readers of its sockets */
};

struct gw_service {
    const gw_config_t *cfg;        /* borrowed */
    cmn_bus_server_t *bus;         /* ROUTER */
    gw_coap_t *coap;               /* CoAP side */
    cmn_loop_t *loop;              /* ROUTER, CoAP, discovery sockets */
    s_disc_slot_t discs[MAX_DISC]; /* discovery rounds in progress */
    uint64_t started_ms;
    uint64_t boot_id; /* new at every start: services re-register when it changes */
    uint64_t requests;
    bool is_mfg_subject_strict; /* --mfg-subject strict: the mfg leaf's CN = deviceuuid */
    /* The security domain this gateway serves (docs/scaling.md "Two DOTS"): the DOTS
     * whose /oic/d was registered first. Another DOTS identity is refused while that
     * one's link has been heard within S_DOMAIN_QUIET_MS. */
    struct {
        bool is_set;
        cmn_uuid_t di;           /* that DOTS's device uuid (its store's identity) */
        zframe_t *peer;          /* its link's routing id (owned) */
        uint64_t heard_ms;       /* monotonic: its last request */
        cmn_uuid_t last_refused; /* logged once per refused identity */
    } domain;
};

/* How long the DOTS holding the domain may stay silent before another may take it
 * (it sends a heartbeat every 2 s by default). */
#define S_DOMAIN_QUIET_MS 10000

/* caller: who sent the request, from the CURVE key of the connection. Sessions are
 * keyed by caller->name, so a party reaches only the sessions it opened. */
typedef cmn_err_t(s_handler_fn)(gw_service_t *self,
                                const cmn_caller_t *caller,
                                const Obt__Gw__Request *req,
                                Obt__Gw__Reply *reply,
                                s_pending_t **pending,
                                char *error,
                                size_t error_len);

static void
s_send(gw_service_t *self, zframe_t *peer, Obt__Gw__Reply *reply)
{
    cmn_err_t err = cmn_bus_server_send_pb(self->bus, peer, &reply->base);
    if (err != CMN_OK) {
        cmn_log_warn("GW-REPLY", "cannot reply (corr=%llu): %s",
                     (unsigned long long) reply->corr_id, cmn_strerror(err));
    }
}

static void
s_reply_error(gw_service_t *self, zframe_t *peer, uint64_t corr_id, cmn_err_t err, const char *why)
{
    Obt__Gw__Reply reply = OBT__GW__REPLY__INIT;
    reply.corr_id = corr_id;
    reply.status = (Obt__Status) cmn_status_from_err(err);
    reply.error = CMN_PB_STR(why ? why : cmn_strerror(err));
    s_send(self, peer, &reply);
}

static s_pending_t *
s_pending_new(gw_service_t *self, zframe_t *peer, uint64_t corr_id)
{
    s_pending_t *p = calloc(1, sizeof *p);
    if (p) {
        p->svc = self;
        p->peer = zframe_dup(peer);
        p->corr_id = corr_id;
    }
    return p;
}

static void
s_pending_free(s_pending_t **p)
{
    if (*p) {
        zframe_destroy(&(*p)->peer);
        free(*p);
        *p = NULL;
    }
}

/* ---------------------------------------------------------------- handlers */

static cmn_err_t
s_on_health(gw_service_t *self,
            const cmn_caller_t *caller,
            const Obt__Gw__Request *req,
            Obt__Gw__Reply *reply,
            s_pending_t **pending,
            char *error,
            size_t error_len)
{
    (void) caller;
    (void) req;
    (void) pending;
    (void) error;
    (void) error_len;
    static Obt__HealthReply health;
    obt__health_reply__init(&health);
    health.service = CMN_PB_STR("gateway");
    health.uuid = CMN_PB_STR("");
    health.version = CMN_PB_STR("0.1.0");
    health.uptime_ms = cmn_time_mono_ms() - self->started_ms;
    health.in_flight = (uint32_t) gw_coap_in_flight(self->coap);
    health.requests = self->requests;
    health.d_endpoint = CMN_PB_STR("");
    health.boot_id = self->boot_id;
    health.name = self->cfg->name;
    reply->body_case = OBT__GW__REPLY__BODY_HEALTH;
    reply->health = &health;
    return CMN_OK;
}

static void
s_coap_done(void *arg,
            cmn_err_t err,
            const char *error,
            int code,
            const uint8_t *payload,
            size_t len,
            const gw_coap_peer_t *peer)
{
    s_pending_t *p = arg;
    if (err != CMN_OK) {
        s_reply_error(p->svc, p->peer, p->corr_id, err, error);
    } else {
        Obt__Gw__Reply reply = OBT__GW__REPLY__INIT;
        Obt__Gw__CoapReply cr = OBT__GW__COAP_REPLY__INIT;
        reply.corr_id = p->corr_id;
        cr.code = (uint32_t) code;
        cr.payload.data = (uint8_t *) (uintptr_t) payload;
        cr.payload.len = len;
        cr.content_format = len > 0 ? CMN_CF_OCF_CBOR : 0;
        cr.cipher = CMN_PB_STR(peer->cipher);
        cr.peer_cert_cn = CMN_PB_STR(peer->cert_cn);
        cr.peer_cert_sha256 = CMN_PB_STR(peer->cert_sha256);
        reply.body_case = OBT__GW__REPLY__BODY_COAP;
        reply.coap = &cr;
        s_send(p->svc, p->peer, &reply);
    }
    s_pending_free(&p);
}

/* Policy builders, one per Security kind (a certificate kind is one more row). Each
 * fills ret from the request or says in error why it cannot. */
typedef cmn_err_t(s_policy_fn)(const Obt__Gw__Security *sec,
                               const Obt__Gw__CoapRequest *c,
                               gw_dtls_policy_t *ret,
                               char *error,
                               size_t error_len);

static cmn_err_t
s_policy_jw(const Obt__Gw__Security *sec,
            const Obt__Gw__CoapRequest *c,
            gw_dtls_policy_t *ret,
            char *error,
            size_t error_len)
{
    (void) sec;
    (void) c;
    (void) error;
    (void) error_len;
    ret->kind = GW_DTLS_JW_ANON; /* 0xFF00 (D50) */
    return CMN_OK;
}

static cmn_err_t
s_policy_psk(const Obt__Gw__Security *sec,
             const Obt__Gw__CoapRequest *c,
             gw_dtls_policy_t *ret,
             char *error,
             size_t error_len)
{
    (void) c;
    if (sec->psk_key.len != 16 || sec->psk_identity.len == 0 ||
        sec->psk_identity.len > sizeof ret->identity ||
        memchr(sec->psk_identity.data, 0, sec->psk_identity.len) != NULL) {
        (void) snprintf(error, error_len,
                        "PSK policy needs a 16-byte key and a non-empty identity without "
                        "zero bytes");
        return CMN_EINVAL;
    }
    ret->kind = GW_DTLS_PSK;
    memcpy(ret->identity, sec->psk_identity.data, sec->psk_identity.len);
    ret->identity_len = sec->psk_identity.len;
    memcpy(ret->key, sec->psk_key.data, 16);
    ret->key_len = 16;
    return CMN_OK;
}

/* Random PIN DOC: the PPSK is computed here from the PIN and the device uuid of the
 * request; the PIN is never logged and is wiped in the request by the caller. */
static cmn_err_t
s_policy_rdp(const Obt__Gw__Security *sec,
             const Obt__Gw__CoapRequest *c,
             gw_dtls_policy_t *ret,
             char *error,
             size_t error_len)
{
    cmn_uuid_t dev;
    if (sec->pin == NULL || sec->pin[0] == '\0') {
        ret->kind = GW_DTLS_RDP; /* no PIN: continue on the open DOC */
        return CMN_OK;
    }
    if (cmn_uuid_from_str(c->device_uuid, &dev) != CMN_OK) {
        (void) snprintf(error, error_len, "Random PIN policy needs the device uuid");
        return CMN_EINVAL;
    }
    cmn_err_t err = gw_dtls_policy_rdp(sec->pin, dev.b, ret);
    if (err == CMN_EINVAL) {
        (void) snprintf(error, error_len, "the Random PIN must be %d decimal digits",
                        CMN_RDP_PIN_LEN);
    }
    return err;
}

/* Manufacturer-certificate DOC: the request carries DOTS's trust anchors (the gateway
 * keeps no trust state of its own) and the device uuid its leaf must name. Later
 * steps send no anchors and continue on the open DOC. */
static cmn_err_t
s_policy_mfg(const Obt__Gw__Security *sec,
             const Obt__Gw__CoapRequest *c,
             gw_dtls_policy_t *ret,
             char *error,
             size_t error_len)
{
    cmn_uuid_t dev;
    if (sec->trust_anchors_pem.len == 0) {
        ret->kind = GW_DTLS_MFG; /* continue on the open DOC */
        return CMN_OK;
    }
    if (cmn_uuid_from_str(c->device_uuid, &dev) != CMN_OK) {
        (void) snprintf(error, error_len, "manufacturer certificate policy needs the device uuid");
        return CMN_EINVAL;
    }
    STACK_OF(X509) *anchors =
            sec->trust_anchors_pem.len <= MAX_ANCHORS_PEM
                    ? cmn_cert_parse_pem(sec->trust_anchors_pem.data, sec->trust_anchors_pem.len)
                    : NULL;
    if (anchors == NULL) {
        (void) snprintf(error, error_len,
                        "trust_anchors_pem holds no PEM certificate (or more than %d bytes)",
                        MAX_ANCHORS_PEM);
        return CMN_EINVAL;
    }
    sk_X509_pop_free(anchors, X509_free);
    gw_dtls_policy_mfg(sec->trust_anchors_pem.data, sec->trust_anchors_pem.len, dev.b, ret);
    return CMN_OK;
}

/* Identity-certificate session (CMS's proof): the anchors, our chain and key come
 * with every request; the gateway keeps none of them beyond the handshake. */
static cmn_err_t
s_policy_cert(const Obt__Gw__Security *sec,
              const Obt__Gw__CoapRequest *c,
              gw_dtls_policy_t *ret,
              char *error,
              size_t error_len)
{
    cmn_uuid_t dev;
    if (cmn_uuid_from_str(c->device_uuid, &dev) != CMN_OK || sec->trust_anchors_pem.len == 0 ||
        sec->trust_anchors_pem.len > MAX_ANCHORS_PEM || sec->cert_pem.len == 0 ||
        sec->cert_pem.len > MAX_ANCHORS_PEM || sec->key_pem.len == 0 ||
        sec->key_pem.len > MAX_ANCHORS_PEM) {
        (void) snprintf(error, error_len,
                        "certificate policy needs the device uuid, trust anchors, a chain and a "
                        "key (PEM, at most %d bytes each)",
                        MAX_ANCHORS_PEM);
        return CMN_EINVAL;
    }
    gw_dtls_policy_cert(sec->trust_anchors_pem.data, sec->trust_anchors_pem.len, sec->cert_pem.data,
                        sec->cert_pem.len, sec->key_pem.data, sec->key_pem.len, dev.b, ret);
    return CMN_OK;
}

static const struct {
    Obt__Gw__SecurityKind kind;
    s_policy_fn *fn;
} s_policies[] = {
        {OBT__GW__SECURITY_KIND__SEC_JW_ANON, s_policy_jw},
        {OBT__GW__SECURITY_KIND__SEC_PSK, s_policy_psk},
        {OBT__GW__SECURITY_KIND__SEC_RDP, s_policy_rdp},
        {OBT__GW__SECURITY_KIND__SEC_MFG, s_policy_mfg},
        {OBT__GW__SECURITY_KIND__SEC_CERT, s_policy_cert},
};

static cmn_err_t
s_policy(const Obt__Gw__CoapRequest *c, gw_dtls_policy_t *ret, char *error, size_t error_len)
{
    memset(ret, 0, sizeof *ret);
    if (c->security == NULL) {
        (void) snprintf(error, error_len, "coaps:// needs a security policy");
        return CMN_EINVAL;
    }
    for (size_t i = 0; i < sizeof s_policies / sizeof s_policies[0]; i++) {
        if (s_policies[i].kind == c->security->kind) {
            return s_policies[i].fn(c->security, c, ret, error, error_len);
        }
    }
    (void) snprintf(error, error_len, "security kind %d is not supported yet",
                    (int) c->security->kind);
    return CMN_EINVAL;
}

static cmn_err_t
s_on_coap(gw_service_t *self,
          const cmn_caller_t *caller,
          const Obt__Gw__Request *req,
          Obt__Gw__Reply *reply,
          s_pending_t **pending,
          char *error,
          size_t error_len)
{
    (void) reply;
    const Obt__Gw__CoapRequest *c = req->coap;
    gw_dtls_policy_t policy;
    bool is_secure = strncmp(c->endpoint, "coaps://", 8) == 0;
    if (is_secure) {
        cmn_err_t err = s_policy(c, &policy, error, error_len);
        if (c->security && c->security->pin) {
            OPENSSL_cleanse(c->security->pin, strlen(c->security->pin));
        }
        if (err != CMN_OK) {
            return err;
        }
        policy.is_subject_lax = policy.kind == GW_DTLS_MFG && !self->is_mfg_subject_strict;
    }
    uint32_t timeout = c->timeout_ms ? c->timeout_ms : (uint32_t) self->cfg->request_timeout_ms;
    s_pending_t *p = *pending;
    *pending = NULL; /* owned by the exchange from here on */
    cmn_err_t err = gw_coap_request(self->coap, caller->name, c->endpoint,
                                    is_secure ? &policy : NULL, (int) c->method, c->path, c->query,
                                    c->payload.data, c->payload.len, timeout, s_coap_done, p);
    OPENSSL_cleanse(&policy, sizeof policy);
    if (is_secure && c->security && c->security->key_pem.data) {
        OPENSSL_cleanse(c->security->key_pem.data, c->security->key_pem.len); /* CERT: read */
    }
    if (err != CMN_OK) {
        *pending = p;
        (void) snprintf(error, error_len, "cannot start the exchange with \"%s\": %s", c->endpoint,
                        cmn_strerror(err));
        return err;
    }
    return CMN_OK;
}

/* The reply's lines for the limits that dropped replies; the total dropped. */
static size_t
s_disc_limits(const gw_disc_t *disc, char lines[3][160], size_t *ret_n)
{
    gw_disc_drops_t drops;
    gw_disc_opts_t lim;
    gw_disc_drops(disc, &drops, &lim);
    size_t n = 0;
    if (drops.replies) {
        (void) snprintf(lines[n++], sizeof lines[0],
                        "%zu replies dropped: limit %zu replies per discovery "
                        "(obt-gateway --discover-max-replies)",
                        drops.replies, lim.max_replies);
    }
    if (drops.per_source) {
        (void) snprintf(lines[n++], sizeof lines[0],
                        "%zu replies dropped: limit %zu devices per source address "
                        "(obt-gateway --discover-max-per-source)",
                        drops.per_source, lim.max_per_source);
    }
    if (drops.memory) {
        (void) snprintf(lines[n++], sizeof lines[0],
                        "%zu replies dropped: limit %zu KiB per discovery "
                        "(obt-gateway --discover-max-kib)",
                        drops.memory, lim.max_kib);
    }
    *ret_n = n;
    return drops.replies + drops.per_source + drops.memory;
}

/* Claims of one uuid by several sources (devs[0..n_claims)) as one DiscoveredDevice
 * with no eps of its own: each source's claim apart (the caller sets their eps). */
static bool
s_disc_conflict(Obt__Gw__DiscoveredDevice *item, const gw_disc_device_t *devs)
{
    size_t n = devs[0].n_claims;
    item->claims = calloc(n, sizeof *item->claims);
    Obt__Gw__Claim *claims = calloc(n, sizeof *claims);
    if (item->claims == NULL || claims == NULL) {
        free(item->claims);
        item->claims = NULL;
        free(claims);
        return false;
    }
    for (size_t c = 0; c < n; c++) {
        obt__gw__claim__init(&claims[c]);
        claims[c].source = CMN_PB_STR(devs[c].source_ep);
        claims[c].first_round = devs[c].first_round;
        item->claims[c] = &claims[c];
    }
    item->n_claims = n;
    return true;
}

static void
s_disc_finish(gw_service_t *self, s_disc_slot_t *slot)
{
    size_t n = 0, replies = 0, bad = 0;
    const gw_disc_device_t *devs = gw_disc_devices(slot->disc, &n);
    gw_disc_counts(slot->disc, &replies, &bad);
    Obt__Gw__Reply reply = OBT__GW__REPLY__INIT;
    Obt__Gw__DiscoverReply dr = OBT__GW__DISCOVER_REPLY__INIT;
    Obt__Gw__DiscoveredDevice *items = calloc(n ? n : 1, sizeof *items);
    Obt__Gw__DiscoveredDevice **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    /* every endpoint string once: a device's eps, or each claim's */
    char **eps = calloc(n ? n * GW_DISC_MAX_EPS : 1, sizeof *eps);
    char lines[3][160];
    char *limits[3];
    size_t n_items = 0, n_limits = 0, conflicts = 0;
    size_t dropped = s_disc_limits(slot->disc, lines, &n_limits);
    reply.corr_id = slot->req->corr_id;
    if (items == NULL || ptrs == NULL || eps == NULL) {
        s_reply_error(self, slot->req->peer, slot->req->corr_id, CMN_ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t e = 0; e < devs[i].n_eps; e++) {
            eps[i * GW_DISC_MAX_EPS + e] = CMN_PB_STR(devs[i].eps[e]);
        }
    }
    for (size_t i = 0; i<n; i += devs[i].n_claims> 1 ? devs[i].n_claims : 1) {
        Obt__Gw__DiscoveredDevice *it = &items[n_items];
        obt__gw__discovered_device__init(it);
        it->uuid = CMN_PB_STR(devs[i].uuid);
        it->doxm.data = devs[i].doxm;
        it->doxm.len = devs[i].doxm_len;
        it->source = CMN_PB_STR(devs[i].source);
        it->first_round = devs[i].first_round;
        if (devs[i].n_claims > 1 && i + devs[i].n_claims <= n) {
            conflicts++;
            if (s_disc_conflict(it, &devs[i])) {
                for (size_t c = 0; c < it->n_claims; c++) {
                    it->claims[c]->eps = &eps[(i + c) * GW_DISC_MAX_EPS];
                    it->claims[c]->n_eps = devs[i + c].n_eps;
                }
            }
        } else {
            it->eps = &eps[i * GW_DISC_MAX_EPS];
            it->n_eps = devs[i].n_eps;
        }
        ptrs[n_items++] = it;
    }
    for (size_t l = 0; l < n_limits; l++) {
        limits[l] = lines[l];
        cmn_log_warn("GW-DISC-LIMIT", "%s", lines[l]);
    }
    dr.devices = ptrs;
    dr.n_devices = n_items;
    dr.replies = (uint32_t) replies;
    dr.dropped = (uint32_t) dropped;
    dr.limits = limits;
    dr.n_limits = n_limits;
    reply.body_case = OBT__GW__REPLY__BODY_DISCOVER;
    reply.discover = &dr;
    s_send(self, slot->req->peer, &reply);
    cmn_log_notice("GW-DISC-DONE", "devices=%zu replies=%zu ignored=%zu dropped=%zu conflicts=%zu",
                   n_items, replies, bad, dropped, conflicts);
out:
    for (size_t i = 0; items && i < n_items; i++) {
        if (items[i].claims) {
            free(items[i].claims[0]);
            free(items[i].claims);
        }
    }
    free(eps);
    free(items);
    free(ptrs);
    gw_disc_destroy(&slot->disc);
    s_pending_free(&slot->req);
}

static void
s_on_disc_readable(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    const s_disc_sock_t *sock = arg;
    gw_disc_on_readable(sock->slot->disc, sock->which);
}

/* Takes the sockets of the discovery in slot out of the loop, before they close. */
static void
s_disc_unwatch(gw_service_t *self, s_disc_slot_t *slot)
{
    for (int w = 0; w < gw_disc_n_fds(slot->disc); w++) {
        int fd = gw_disc_fd(slot->disc, w);
        if (fd >= 0) {
            (void) cmn_loop_remove_fd(self->loop, fd);
        }
    }
}

/* At every pass: the rounds move on by time; a finished discovery is answered. */
static int
s_disc_tick(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    s_disc_slot_t *slot = arg;
    int t = gw_disc_tick(slot->disc);
    if (t >= 0) {
        return t;
    }
    s_disc_unwatch(slot->svc, slot);
    s_disc_finish(slot->svc, slot);
    return CMN_LOOP_END;
}

/* Puts the sockets of the discovery in slot, and its tick, in the loop. */
static cmn_err_t
s_disc_watch(gw_service_t *self, s_disc_slot_t *slot)
{
    slot->svc = self;
    cmn_err_t err = CMN_OK;
    for (int w = 0; err == CMN_OK && w < gw_disc_n_fds(slot->disc); w++) {
        int fd = gw_disc_fd(slot->disc, w);
        slot->socks[w] = (s_disc_sock_t){slot, w};
        err = fd >= 0 ? cmn_loop_add_fd(self->loop, fd, s_on_disc_readable, &slot->socks[w])
                      : CMN_OK;
    }
    return err != CMN_OK ? err : cmn_loop_add_tick(self->loop, s_disc_tick, slot);
}

static cmn_err_t
s_on_discover(gw_service_t *self,
              const cmn_caller_t *caller,
              const Obt__Gw__Request *req,
              Obt__Gw__Reply *reply,
              s_pending_t **pending,
              char *error,
              size_t error_len)
{
    (void) caller;
    (void) reply;
    const Obt__Gw__Discover *d = req->discover;
    s_disc_slot_t *slot = NULL;
    for (int i = 0; i < MAX_DISC; i++) {
        if (self->discs[i].disc == NULL) {
            slot = &self->discs[i];
            break;
        }
    }
    if (slot == NULL) {
        (void) snprintf(error, error_len, "too many discoveries in progress");
        return CMN_ESTATE;
    }
    /* Interfaces: the request's, else the configured comma list. */
    char ifbuf[256];
    const char *ifaces[GW_DISC_MAX_IFACES];
    size_t n_ifaces = 0;
    for (size_t i = 0; i < d->n_interfaces && n_ifaces < GW_DISC_MAX_IFACES; i++) {
        ifaces[n_ifaces++] = d->interfaces[i];
    }
    if (n_ifaces == 0) {
        (void) snprintf(ifbuf, sizeof ifbuf, "%s", self->cfg->iface);
        char *save = NULL;
        for (char *t = strtok_r(ifbuf, ",", &save); t && n_ifaces < GW_DISC_MAX_IFACES;
             t = strtok_r(NULL, ",", &save)) {
            ifaces[n_ifaces++] = t;
        }
    }
    /* Scopes: the request's list, else its flags, else the configured list; a
     * request with endpoints and no scope is unicast only. */
    gw_scope_t scopes[GW_SCOPE_COUNT];
    size_t n_scopes = 0;
    for (size_t i = 0; i < d->n_scopes; i++) {
        gw_scope_t one[GW_SCOPE_COUNT];
        size_t n_one = 0;
        if (gw_disc_parse_scopes(d->scopes[i], one, &n_one) != CMN_OK) {
            (void) snprintf(error, error_len, "unknown scope \"%s\" (link, realm, site, ipv4)",
                            d->scopes[i]);
            return CMN_EINVAL;
        }
        for (size_t k = 0; k < n_one; k++) {
            bool dup = false;
            for (size_t j = 0; j < n_scopes; j++) {
                dup = dup || scopes[j] == one[k];
            }
            if (!dup) {
                scopes[n_scopes++] = one[k];
            }
        }
    }
    const bool flags[GW_SCOPE_COUNT] = {d->ipv4, d->ipv6_link, d->ipv6_realm, d->ipv6_site};
    for (int i = 0; d->n_scopes == 0 && i < GW_SCOPE_COUNT; i++) {
        if (flags[i]) {
            scopes[n_scopes++] = (gw_scope_t) i;
        }
    }
    if (n_scopes == 0 && d->n_endpoints == 0) {
        (void) gw_disc_parse_scopes(self->cfg->scope, scopes, &n_scopes); /* checked at start */
    }
    gw_disc_opts_t opts = {
            .ifaces = ifaces,
            .n_ifaces = n_ifaces,
            .scopes = scopes,
            .n_scopes = n_scopes,
            .window_ms = d->window_ms ? (int) d->window_ms : self->cfg->discover_window_ms,
            .rounds = d->rounds ? (int) d->rounds : self->cfg->discover_rounds,
            .query = d->query && d->query[0] ? d->query : "owned=FALSE",
            .unicast = (const char *const *) d->endpoints,
            .n_unicast = d->n_endpoints,
            .max_replies = (size_t) self->cfg->discover_max_replies,
            .max_per_source = (size_t) self->cfg->discover_max_per_source,
            .max_kib = (size_t) self->cfg->discover_max_kib,
    };
    cmn_err_t err = CMN_OK;
    slot->disc = gw_disc_start(&opts, &err);
    if (slot->disc == NULL) {
        if (err == CMN_EINVAL) {
            (void) snprintf(error, error_len,
                            "cannot start discovery: no usable interface or endpoint "
                            "(%zu scope(s) on \"%s\"%s, %zu endpoint(s); the gateway's log "
                            "says which failed)",
                            opts.n_scopes, n_ifaces ? ifaces[0] : "", n_ifaces > 1 ? ",..." : "",
                            opts.n_unicast);
        } else {
            (void) snprintf(error, error_len, "cannot start discovery: %s", cmn_strerror(err));
        }
        return err;
    }
    err = s_disc_watch(self, slot);
    if (err != CMN_OK) {
        s_disc_unwatch(self, slot);
        gw_disc_destroy(&slot->disc);
        (void) snprintf(error, error_len, "cannot start discovery: %s", cmn_strerror(err));
        return err;
    }
    slot->req = *pending;
    *pending = NULL;
    cmn_log_info("GW-DISC",
                 "discovery started (window %d ms, %d round(s), %zu scope(s), %zu "
                 "interface(s), %zu unicast)",
                 opts.window_ms, opts.rounds, opts.n_scopes, opts.n_ifaces, opts.n_unicast);
    return CMN_OK;
}

static cmn_err_t
s_on_derive(gw_service_t *self,
            const cmn_caller_t *caller,
            const Obt__Gw__Request *req,
            Obt__Gw__Reply *reply,
            s_pending_t **pending,
            char *error,
            size_t error_len)
{
    (void) pending;
    const Obt__Gw__DeriveOwnerPsk *d = req->derive_owner_psk;
    cmn_uuid_t owner, dev;
    if (cmn_uuid_from_str(d->owner_uuid, &owner) != CMN_OK ||
        cmn_uuid_from_str(d->device_uuid, &dev) != CMN_OK || d->oxm_label == NULL ||
        strncmp(d->oxm_label, "oic.sec.doxm.", 13) != 0) {
        (void) snprintf(error, error_len, "owner_uuid, device_uuid and oxm_label are required");
        return CMN_EINVAL;
    }
    static uint8_t psk[16];
    static char cipher[64];
    static Obt__Gw__OwnerPsk op;
    size_t kbl = 0;
    cmn_err_t err = gw_coap_derive_owner_psk(self->coap, caller->name, d->endpoint, d->oxm_label,
                                             owner.b, dev.b, psk, &kbl, cipher, sizeof cipher);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "no established DOC of \"%s\" to \"%s\": %s",
                        caller->name, d->endpoint, cmn_strerror(err));
        return err;
    }
    obt__gw__owner_psk__init(&op);
    op.psk.data = psk;
    op.psk.len = sizeof psk;
    op.cipher = cipher;
    op.key_block_len = (uint32_t) kbl;
    reply->body_case = OBT__GW__REPLY__BODY_OWNER_PSK;
    reply->owner_psk = &op;
    return CMN_OK;
}

static cmn_err_t
s_on_close(gw_service_t *self,
           const cmn_caller_t *caller,
           const Obt__Gw__Request *req,
           Obt__Gw__Reply *reply,
           s_pending_t **pending,
           char *error,
           size_t error_len)
{
    (void) pending;
    (void) error;
    (void) error_len;
    static Obt__Empty empty;
    obt__empty__init(&empty);
    (void) gw_coap_close(self->coap, caller->name, req->close_session->endpoint);
    reply->body_case = OBT__GW__REPLY__BODY_CLOSED;
    reply->closed = &empty; /* closing what is not open is not an error */
    return CMN_OK;
}

/* A DOTS registers: it takes the domain if none is held, if it is the same identity
 * (a restart, an instance on the same store), or if the holder has been silent for
 * S_DOMAIN_QUIET_MS; otherwise it is refused and error says why (D88). */
static cmn_err_t
s_domain_claim(
        gw_service_t *self, const cmn_uuid_t *di, zframe_t *peer, char *error, size_t error_len)
{
    uint64_t now = cmn_time_mono_ms();
    bool is_same = self->domain.is_set && cmn_uuid_eq(&self->domain.di, di);
    char held[CMN_UUID_STR_LEN + 1], asked[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&self->domain.di, held);
    cmn_uuid_to_str(di, asked);
    if (self->domain.is_set && !is_same && now - self->domain.heard_ms < S_DOMAIN_QUIET_MS) {
        (void) snprintf(error, error_len,
                        "another security domain already uses gateway %s: the DOTS of uuid %s "
                        "(heard %llu ms ago); this DOTS (uuid %s) has a store of its own. Start "
                        "it on the same store as the other (docs/scaling.md), or stop the other "
                        "first",
                        self->cfg->name, held, (unsigned long long) (now - self->domain.heard_ms),
                        asked);
        if (!cmn_uuid_eq(&self->domain.last_refused, di)) {
            self->domain.last_refused = *di;
            cmn_log_warn("GW-DOMAIN", "refused DOTS %s: the domain of DOTS %s is served here",
                         asked, held);
        }
        return CMN_EEXIST;
    }
    if (self->domain.is_set && !is_same) {
        cmn_log_warn("GW-DOMAIN", "DOTS %s takes the domain over: DOTS %s silent for %llu ms",
                     asked, held, (unsigned long long) (now - self->domain.heard_ms));
    }
    zframe_destroy(&self->domain.peer);
    self->domain.peer = zframe_dup(peer);
    self->domain.di = *di;
    self->domain.is_set = true;
    self->domain.heard_ms = now;
    return CMN_OK;
}

static cmn_err_t
s_on_register(gw_service_t *self,
              const cmn_caller_t *caller,
              const Obt__Gw__Request *req,
              Obt__Gw__Reply *reply,
              s_pending_t **pending,
              char *error,
              size_t error_len)
{
    const Obt__Gw__RegisterService *r = req->register_service;
    cmn_d_t d;
    memset(&d, 0, sizeof d);
    if (cmn_uuid_from_str(r->uuid, &d.di) != CMN_OK || r->n_rt == 0) {
        (void) snprintf(error, error_len, "RegisterService needs a uuid and at least one rt");
        return CMN_EINVAL;
    }
    if (caller->party == CMN_PARTY_DOTS &&
        s_domain_claim(self, &d.di, (*pending)->peer, error, error_len) != CMN_OK) {
        return CMN_EEXIST;
    }
    d.piid = d.di;
    (void) snprintf(d.n, sizeof d.n, "%s", r->name ? r->name : "");
    (void) snprintf(d.icv, sizeof d.icv, "ocf.2.2.5");
    (void) snprintf(d.dmv, sizeof d.dmv, "ocf.res.1.0.0,ocf.sh.1.0.0");
    for (size_t i = 0; i < r->n_rt && i < CMN_D_MAX_RT; i++) {
        (void) snprintf(d.rt[i], sizeof d.rt[i], "%s", r->rt[i]);
        d.n_rt++;
    }
    static char endpoint[80];
    static Obt__Gw__ServiceRegistered reg;
    cmn_err_t err = gw_coap_serve(self->coap, self->cfg->address, &d, endpoint, sizeof endpoint);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot serve /oic/d: %s", cmn_strerror(err));
        return err;
    }
    cmn_log_notice("GW-SERVICE", "serving /oic/d of %s (\"%s\") at %s", r->uuid, d.n, endpoint);
    obt__gw__service_registered__init(&reg);
    reg.endpoint = endpoint;
    reply->body_case = OBT__GW__REPLY__BODY_REGISTERED;
    reply->registered = &reg;
    return CMN_OK;
}

/* The parties column: who may send each request (docs/security.md). The operator talks
 * to DOTS, never to devices; only DOTS owns devices, so only DOTS derives owner PSKs. */
typedef struct {
    cmn_dispatch_row_t head; /* first: the body, its name, its parties */
    s_handler_fn *fn;
} s_row_t;

static const s_row_t s_handlers[] = {
        {{OBT__GW__REQUEST__BODY_HEALTH, "health", CMN_PARTY_ANY}, s_on_health},
        {{OBT__GW__REQUEST__BODY_COAP, "coap", CMN_PARTY_SERVICES}, s_on_coap},
        {{OBT__GW__REQUEST__BODY_DISCOVER, "discover", CMN_PARTY_DOTS}, s_on_discover},
        {{OBT__GW__REQUEST__BODY_DERIVE_OWNER_PSK, "derive_owner_psk", CMN_PARTY_DOTS},
         s_on_derive},
        {{OBT__GW__REQUEST__BODY_CLOSE_SESSION, "close_session", CMN_PARTY_SERVICES}, s_on_close},
        {{OBT__GW__REQUEST__BODY_REGISTER_SERVICE, "register_service", CMN_PARTY_SERVICES},
         s_on_register},
};
#define S_N_HANDLERS (sizeof s_handlers / sizeof s_handlers[0])

int
gw_service_has_handler(int body_case)
{
    return cmn_dispatch_find(s_handlers, S_N_HANDLERS, sizeof s_handlers[0], body_case) != NULL;
}

/* The one dispatcher: unpack, find the row, call, map the error, reply. */
static void
s_dispatch(void *arg, zframe_t *peer, const cmn_caller_t *caller, const uint8_t *data, size_t len)
{
    gw_service_t *self = arg;
    self->requests++;
    if (self->domain.peer != NULL && caller->party == CMN_PARTY_DOTS &&
        zframe_eq(peer, self->domain.peer)) {
        self->domain.heard_ms = cmn_time_mono_ms(); /* the domain's DOTS is alive */
    }
    Obt__Gw__Request *req = obt__gw__request__unpack(NULL, len, data);
    if (req == NULL) {
        cmn_log_warn("GW-BADREQ", "request that does not unpack (%zu bytes)", len);
        s_reply_error(self, peer, cmn_bus_peek_corr_id(data, len), CMN_EPROTO,
                      "request does not unpack as obt.gw.Request");
        return;
    }
    const cmn_dispatch_row_t *row = NULL;
    char error[256] = "";
    cmn_err_t err =
            cmn_dispatch_check("obt-gateway", s_handlers, S_N_HANDLERS, sizeof s_handlers[0],
                               req->body_case, caller, error, sizeof error, &row);
    if (err != CMN_OK) {
        s_reply_error(self, peer, req->corr_id, err, error);
        obt__gw__request__free_unpacked(req, NULL);
        return;
    }
    s_handler_fn *fn = ((const s_row_t *) row)->fn;
    Obt__Gw__Reply reply = OBT__GW__REPLY__INIT;
    reply.corr_id = req->corr_id;
    s_pending_t *pending = s_pending_new(self, peer, req->corr_id);
    err = pending ? fn(self, caller, req, &reply, &pending, error, sizeof error) : CMN_ENOMEM;
    if (err != CMN_OK) {
        s_reply_error(self, peer, req->corr_id, err, error[0] ? error : NULL);
    } else if (pending != NULL) {
        s_send(self, peer, &reply); /* answered at once; otherwise the exchange replies */
    }
    if (reply.body_case == OBT__GW__REPLY__BODY_OWNER_PSK) {
        OPENSSL_cleanse(reply.owner_psk->psk.data, reply.owner_psk->psk.len);
    }
    s_pending_free(&pending);
    obt__gw__request__free_unpacked(req, NULL);
}

/* At every pass: libcoap's I/O, deadlines and idle sessions; it says when next. */
static int
s_coap_tick(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    int t = gw_coap_process(arg);
    return t < 0 ? CMN_LOOP_IDLE : t;
}

/* The CoAP fd only wakes the loop: s_coap_tick, at the next pass, does the I/O. */
static void
s_on_coap_readable(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    (void) arg;
}

/* The loop: libcoap's tick, then the ROUTER and the CoAP fd; each discovery adds its
 * tick and sockets while it runs (s_disc_watch). */
static cmn_err_t
s_loop_new(gw_service_t *self)
{
    self->loop = cmn_loop_new(MAX_WAIT_MS);
    if (self->loop == NULL) {
        return CMN_ENOMEM;
    }
    int fd = gw_coap_fd(self->coap);
    cmn_err_t err = cmn_loop_add_tick(self->loop, s_coap_tick, self->coap);
    err = err != CMN_OK ? err : cmn_loop_add_server(self->loop, self->bus, s_dispatch, self);
    err = err != CMN_OK || fd < 0 ? err : cmn_loop_add_fd(self->loop, fd, s_on_coap_readable, NULL);
    /* the Just Works 0xFF00 relays' sockets (D50) wake it the same way */
    return err != CMN_OK ? err
                         : cmn_loop_add_fd(self->loop, gw_coap_relay_fd(self->coap),
                                           s_on_coap_readable, NULL);
}

gw_service_t *
gw_service_new(const gw_config_t *cfg)
{
    gw_service_t *self = calloc(1, sizeof *self);
    cmn_err_t err = CMN_OK;
    if (self == NULL) {
        return NULL;
    }
    self->cfg = cfg;
    if (gw_config_parse_mfg_subject(cfg->mfg_subject, &self->is_mfg_subject_strict) != 0) {
        cmn_log_err("GW-INIT", "--mfg-subject must be accept or strict");
        goto fail;
    }
    self->started_ms = cmn_time_mono_ms();
    self->boot_id = cmn_live_new_boot_id();
    self->coap = gw_coap_new(cfg->session_idle_ms);
    if (self->coap == NULL) {
        cmn_log_err("GW-INIT", "cannot create the CoAP context");
        goto fail;
    }
    self->bus = cmn_bus_server_new(cfg->endpoint, cfg->keys_dir, cfg->key, &err);
    if (self->bus == NULL) {
        cmn_log_err("GW-INIT", "cannot bind \"%s\" with key %s in \"%s\": %s", cfg->endpoint,
                    cfg->key, cfg->keys_dir, cmn_strerror(err));
        goto fail;
    }
    if ((err = s_loop_new(self)) != CMN_OK) {
        cmn_log_err("GW-INIT", "cannot set up the loop: %s", cmn_strerror(err));
        goto fail;
    }
    cmn_log_notice("READY", "endpoint=%s name=%s iface=%s scope=%s boot=%016llx", cfg->endpoint,
                   cfg->name, cfg->iface, cfg->scope, (unsigned long long) self->boot_id);
    return self;
fail:
    gw_service_destroy(&self);
    return NULL;
}

void
gw_service_destroy(gw_service_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    gw_service_t *self = *self_p;
    cmn_loop_destroy(&self->loop);
    for (int i = 0; i < MAX_DISC; i++) {
        gw_disc_destroy(&self->discs[i].disc);
        s_pending_free(&self->discs[i].req);
    }
    gw_coap_destroy(&self->coap); /* fails pending exchanges: replies go out first */
    cmn_bus_server_destroy(&self->bus);
    zframe_destroy(&self->domain.peer);
    free(self);
    *self_p = NULL;
}

int
gw_service_run(gw_service_t *self)
{
    cmn_err_t err = cmn_loop_run(self->loop);
    if (err != CMN_OK) {
        cmn_log_err("GW-LOOP", "zmq_poll: %s",
                    err == CMN_EIO ? zmq_strerror(zmq_errno()) : cmn_strerror(err));
        return 1;
    }
    cmn_log_notice("GW-STOP", "stopping");
    return 0;
}
