/* dots_service.c — obt-dots: the loop, the dispatch table and the operator handlers */
#include "dots_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "dots_onboard.h"
#include "dots_store.h"
#include "obt/dots.pb-c.h"

struct dots_service {
    const dots_config_t *cfg; /* borrowed */
    dots_store_t *store;      /* LMDB */
    dots_identity_t id;       /* our OCF device */
    cmn_bus_server_t *bus;    /* operator API */
    cmn_bus_client_t *gw_client, *cms_client, *ams_client;
    cmn_calls_t *gw, *cms, *ams; /* pending calls per peer */
    dots_engine_t *engine;       /* jobs */
    uint64_t started_ms;
    uint64_t requests;
};

typedef struct {
    dots_service_t *svc;
    zframe_t *peer;
    uint64_t corr_id;
} s_deferred_t;

typedef cmn_err_t(s_handler_fn)(dots_service_t *self,
                                const Obt__Dots__Request *req,
                                Obt__Dots__Reply *reply,
                                s_deferred_t **deferred,
                                char *error,
                                size_t error_len);

static Obt__Status
s_status(cmn_err_t err)
{
    if (err & CMN_ESYS) {
        return OBT__STATUS__STATUS_ESYS;
    }
    return err < CMN_ERR_COUNT ? (Obt__Status) err : OBT__STATUS__STATUS_EIO;
}

static void
s_send(dots_service_t *self, zframe_t *peer, Obt__Dots__Reply *reply)
{
    if (cmn_bus_server_send_pb(self->bus, peer, &reply->base) != CMN_OK) {
        cmn_log_warn("DOTS-REPLY", "cannot reply (corr=%llu)", (unsigned long long) reply->corr_id);
    }
}

/* Fills d (and its arrays in the caller's storage) from a record. */
static void
s_device(const dots_dev_t *r, const char *sd_uuid, Obt__Dots__Device *d, char **eps, uint32_t *oxms)
{
    obt__dots__device__init(d);
    d->uuid = CMN_PB_STR(r->uuid);
    d->first_uuid = CMN_PB_STR(r->first_uuid);
    d->state = CMN_PB_STR(DOTS_JOB_STATE_NAMES[r->state]);
    d->step = CMN_PB_STR(r->error[0] ? DOTS_JOB_STATE_NAMES[r->step] : "");
    d->error = CMN_PB_STR(r->error);
    for (size_t i = 0; i < r->n_eps; i++) {
        eps[i] = CMN_PB_STR(r->eps[i]);
    }
    d->eps = eps;
    d->n_eps = r->n_eps;
    for (size_t i = 0; i < r->n_oxms; i++) {
        oxms[i] = (uint32_t) r->oxms[i];
    }
    d->oxms = oxms;
    d->n_oxms = r->n_oxms;
    d->sct = r->sct;
    d->oxmsel = r->oxmsel;
    d->approved = r->approved;
    d->owned = r->owned;
    d->discovered_ms = r->discovered_ms;
    d->updated_ms = r->updated_ms;
    d->started_ms = r->started_ms;
    d->finished_ms = r->finished_ms;
    d->attempts = r->attempts;
    d->cipher = CMN_PB_STR(r->cipher);
    d->sd_uuid = CMN_PB_STR(r->owned ? sd_uuid : "");
}

/* ---------------------------------------------------------------- handlers */

static cmn_err_t
s_on_health(dots_service_t *self,
            const Obt__Dots__Request *req,
            Obt__Dots__Reply *reply,
            s_deferred_t **deferred,
            char *error,
            size_t error_len)
{
    (void) req;
    (void) deferred;
    (void) error;
    (void) error_len;
    static Obt__HealthReply h;
    obt__health_reply__init(&h);
    h.service = CMN_PB_STR("dots");
    h.uuid = self->id.uuid;
    h.version = CMN_PB_STR("0.1.0");
    h.uptime_ms = cmn_time_mono_ms() - self->started_ms;
    h.in_flight = (uint32_t) dots_engine_in_flight(self->engine);
    h.d_endpoint = CMN_PB_STR(dots_engine_d_endpoint(self->engine));
    h.requests = self->requests;
    reply->body_case = OBT__DOTS__REPLY__BODY_HEALTH;
    reply->health = &h;
    return CMN_OK;
}

static void
s_discovered(void *arg, cmn_err_t err, const char *error, unsigned found, unsigned added)
{
    s_deferred_t *d = arg;
    Obt__Dots__Reply reply = OBT__DOTS__REPLY__INIT;
    Obt__Dots__DiscoverReply dr = OBT__DOTS__DISCOVER_REPLY__INIT;
    reply.corr_id = d->corr_id;
    if (err != CMN_OK) {
        reply.status = s_status(err);
        reply.error = CMN_PB_STR(error ? error : cmn_strerror(err));
    } else {
        dr.found = found;
        dr.added = added;
        reply.body_case = OBT__DOTS__REPLY__BODY_DISCOVER;
        reply.discover = &dr;
    }
    s_send(d->svc, d->peer, &reply);
    zframe_destroy(&d->peer);
    free(d);
}

static cmn_err_t
s_on_discover(dots_service_t *self,
              const Obt__Dots__Request *req,
              Obt__Dots__Reply *reply,
              s_deferred_t **deferred,
              char *error,
              size_t error_len)
{
    (void) reply;
    cmn_err_t err =
            dots_engine_discover(self->engine, req->discover->window_ms, req->discover->endpoints,
                                 req->discover->n_endpoints, s_discovered, *deferred);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot ask the gateway: %s", cmn_strerror(err));
        return err;
    }
    *deferred = NULL; /* answered when the gateway replies */
    return CMN_OK;
}

static cmn_err_t
s_on_list(dots_service_t *self,
          const Obt__Dots__Request *req,
          Obt__Dots__Reply *reply,
          s_deferred_t **deferred,
          char *error,
          size_t error_len)
{
    (void) deferred;
    (void) error;
    (void) error_len;
    const char *filter = req->list->state;
    size_t n = 0;
    while (dots_engine_device(self->engine, n)) {
        n++;
    }
    static Obt__Dots__DeviceList list;
    static Obt__Dots__Device *items;
    static Obt__Dots__Device **ptrs;
    static char **eps;
    static uint32_t *oxms;
    free(items);
    free(ptrs);
    free(eps);
    free(oxms);
    items = calloc(n + 1, sizeof *items);
    ptrs = calloc(n + 1, sizeof *ptrs);
    eps = calloc((n + 1) * DOTS_MAX_EPS, sizeof *eps);
    oxms = calloc((n + 1) * DOTS_MAX_OXMS, sizeof *oxms);
    if (!items || !ptrs || !eps || !oxms) {
        return CMN_ENOMEM;
    }
    obt__dots__device_list__init(&list);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const dots_dev_t *r = dots_engine_device(self->engine, i);
        if (filter && filter[0] && strcmp(filter, DOTS_JOB_STATE_NAMES[r->state]) != 0) {
            continue;
        }
        s_device(r, self->id.sd_uuid, &items[k], &eps[k * DOTS_MAX_EPS], &oxms[k * DOTS_MAX_OXMS]);
        ptrs[k] = &items[k];
        k++;
    }
    list.devices = ptrs;
    list.n_devices = k;
    reply->body_case = OBT__DOTS__REPLY__BODY_LIST;
    reply->list = &list;
    return CMN_OK;
}

static cmn_err_t
s_select(dots_service_t *self,
         const Obt__Dots__Select *sel,
         bool approve,
         Obt__Dots__Reply *reply,
         char *error,
         size_t error_len)
{
    static Obt__Dots__SelectReply sr;
    static char **skipped;
    static size_t n_skipped;
    for (size_t i = 0; i < n_skipped; i++) {
        free(skipped[i]);
    }
    free(skipped);
    skipped = NULL;
    n_skipped = 0;
    if (!sel->all && sel->n_uuids == 0) {
        (void) snprintf(error, error_len, "name at least one device, or all");
        return CMN_EINVAL;
    }
    size_t count = 0;
    cmn_err_t err = approve ? dots_engine_approve(self->engine, sel->uuids, sel->n_uuids, sel->all,
                                                  &count, &skipped, &n_skipped)
                            : dots_engine_onboard(self->engine, sel->uuids, sel->n_uuids, sel->all,
                                                  &count, &skipped, &n_skipped);
    if (err != CMN_OK) {
        return err;
    }
    obt__dots__select_reply__init(&sr);
    sr.count = (uint32_t) count;
    sr.skipped = skipped;
    sr.n_skipped = n_skipped;
    reply->body_case = approve ? OBT__DOTS__REPLY__BODY_APPROVE : OBT__DOTS__REPLY__BODY_ONBOARD;
    if (approve) {
        reply->approve = &sr;
    } else {
        reply->onboard = &sr;
    }
    return CMN_OK;
}

static cmn_err_t
s_on_approve(dots_service_t *self,
             const Obt__Dots__Request *req,
             Obt__Dots__Reply *reply,
             s_deferred_t **deferred,
             char *error,
             size_t error_len)
{
    (void) deferred;
    return s_select(self, req->approve, true, reply, error, error_len);
}

static cmn_err_t
s_on_onboard(dots_service_t *self,
             const Obt__Dots__Request *req,
             Obt__Dots__Reply *reply,
             s_deferred_t **deferred,
             char *error,
             size_t error_len)
{
    (void) deferred;
    return s_select(self, req->onboard, false, reply, error, error_len);
}

static cmn_err_t
s_on_show(dots_service_t *self,
          const Obt__Dots__Request *req,
          Obt__Dots__Reply *reply,
          s_deferred_t **deferred,
          char *error,
          size_t error_len)
{
    (void) deferred;
    static Obt__Dots__Device d;
    static char *eps[DOTS_MAX_EPS];
    static uint32_t oxms[DOTS_MAX_OXMS];
    static dots_dev_t rec;
    const dots_dev_t *r = dots_engine_find(self->engine, req->show->uuid);
    if (r == NULL && dots_store_get(self->store, req->show->uuid, &rec) == CMN_OK) {
        r = &rec;
    }
    if (r == NULL) {
        (void) snprintf(error, error_len, "no device %s", req->show->uuid);
        return CMN_ENOTFOUND;
    }
    s_device(r, self->id.sd_uuid, &d, eps, oxms);
    reply->body_case = OBT__DOTS__REPLY__BODY_SHOW;
    reply->show = &d;
    return CMN_OK;
}

static const struct {
    Obt__Dots__Request__BodyCase body;
    const char *name;
    s_handler_fn *fn;
} s_handlers[] = {
        {OBT__DOTS__REQUEST__BODY_HEALTH, "health", s_on_health},
        {OBT__DOTS__REQUEST__BODY_DISCOVER, "discover", s_on_discover},
        {OBT__DOTS__REQUEST__BODY_LIST, "list", s_on_list},
        {OBT__DOTS__REQUEST__BODY_APPROVE, "approve", s_on_approve},
        {OBT__DOTS__REQUEST__BODY_ONBOARD, "onboard", s_on_onboard},
        {OBT__DOTS__REQUEST__BODY_SHOW, "show", s_on_show},
};

int
dots_service_has_handler(int body_case)
{
    for (size_t i = 0; i < sizeof s_handlers / sizeof s_handlers[0]; i++) {
        if ((int) s_handlers[i].body == body_case) {
            return 1;
        }
    }
    return 0;
}

static void
s_dispatch(dots_service_t *self, zframe_t *peer, const uint8_t *data, size_t len)
{
    self->requests++;
    Obt__Dots__Reply reply = OBT__DOTS__REPLY__INIT;
    Obt__Dots__Request *req = obt__dots__request__unpack(NULL, len, data);
    char error[300] = "";
    cmn_err_t err = CMN_EPROTO;
    s_deferred_t *deferred = NULL;
    if (req == NULL) {
        reply.corr_id = cmn_bus_peek_corr_id(data, len);
        (void) snprintf(error, sizeof error, "request does not unpack as obt.dots.Request");
        cmn_log_warn("DOTS-BADREQ", "unreadable request (%zu bytes)", len);
        goto reply;
    }
    reply.corr_id = req->corr_id;
    s_handler_fn *fn = NULL;
    for (size_t i = 0; i < sizeof s_handlers / sizeof s_handlers[0]; i++) {
        if (s_handlers[i].body == req->body_case) {
            fn = s_handlers[i].fn;
        }
    }
    if (fn == NULL) {
        (void) snprintf(error, sizeof error, "unknown or missing request body");
        goto reply;
    }
    deferred = calloc(1, sizeof *deferred);
    if (deferred == NULL) {
        err = CMN_ENOMEM;
        goto reply;
    }
    deferred->svc = self;
    deferred->peer = zframe_dup(peer);
    deferred->corr_id = req->corr_id;
    err = fn(self, req, &reply, &deferred, error, sizeof error);
    if (err == CMN_OK && deferred == NULL) {
        goto out; /* the handler answers later */
    }
reply:
    if (err != CMN_OK) {
        reply.status = s_status(err);
        reply.error = CMN_PB_STR(error[0] ? error : cmn_strerror(err));
        reply.body_case = OBT__DOTS__REPLY__BODY__NOT_SET;
    }
    s_send(self, peer, &reply);
out:
    if (deferred) {
        zframe_destroy(&deferred->peer);
        free(deferred);
    }
    if (req) {
        obt__dots__request__free_unpacked(req, NULL);
    }
}

dots_service_t *
dots_service_new(const dots_config_t *cfg)
{
    dots_service_t *self = calloc(1, sizeof *self);
    cmn_err_t err = CMN_OK;
    if (self == NULL) {
        return NULL;
    }
    self->cfg = cfg;
    self->started_ms = cmn_time_mono_ms();
    self->store =
            dots_store_new(cfg->store_dir, cfg->durable, (size_t) cfg->map_size_mib << 20, &err);
    if (self->store == NULL) {
        cmn_log_err("DOTS-INIT", "cannot open the store \"%s\": %s", cfg->store_dir,
                    cmn_strerror(err));
        goto fail;
    }
    err = dots_store_identity(self->store, cfg->name, &self->id);
    if (err != CMN_OK) {
        cmn_log_err("DOTS-INIT", "cannot load or create the identity: %s", cmn_strerror(err));
        goto fail;
    }
    self->bus = cmn_bus_server_new(cfg->endpoint, cfg->keys_dir, "dots", &err);
    if (self->bus == NULL) {
        cmn_log_err("DOTS-INIT", "cannot bind \"%s\" (keys \"%s\"): %s", cfg->endpoint,
                    cfg->keys_dir, cmn_strerror(err));
        goto fail;
    }
    self->gw_client = cmn_bus_client_new(cfg->gateway, cfg->keys_dir, "dots", "gateway", &err);
    self->cms_client = cmn_bus_client_new(cfg->cms, cfg->keys_dir, "dots", "cms", &err);
    self->ams_client = cmn_bus_client_new(cfg->ams, cfg->keys_dir, "dots", "ams", &err);
    if (!self->gw_client || !self->cms_client || !self->ams_client) {
        cmn_log_err("DOTS-INIT", "cannot set up the links to gateway/CMS/AMS: %s",
                    cmn_strerror(err));
        goto fail;
    }
    self->gw = cmn_calls_new(self->gw_client);
    self->cms = cmn_calls_new(self->cms_client);
    self->ams = cmn_calls_new(self->ams_client);
    self->engine =
            self->gw && self->cms && self->ams
                    ? dots_engine_new(cfg, self->store, &self->id, self->gw, self->cms, self->ams)
                    : NULL;
    if (self->engine == NULL) {
        cmn_log_err("DOTS-INIT", "cannot load the device records");
        goto fail;
    }
    cmn_log_notice("READY", "endpoint=%s uuid=%s sd=%s", cfg->endpoint, self->id.uuid,
                   self->id.sd_uuid);
    return self;
fail:
    dots_service_destroy(&self);
    return NULL;
}

void
dots_service_destroy(dots_service_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    dots_service_t *self = *self_p;
    dots_engine_destroy(&self->engine);
    cmn_calls_destroy(&self->gw);
    cmn_calls_destroy(&self->cms);
    cmn_calls_destroy(&self->ams);
    cmn_bus_client_destroy(&self->gw_client);
    cmn_bus_client_destroy(&self->cms_client);
    cmn_bus_client_destroy(&self->ams_client);
    cmn_bus_server_destroy(&self->bus);
    dots_store_destroy(&self->store);
    free(self);
    *self_p = NULL;
}

int
dots_service_run(dots_service_t *self)
{
    while (!zsys_interrupted) {
        dots_engine_tick(self->engine);
        int timeout = 200;
        cmn_calls_t *calls[3] = {self->gw, self->cms, self->ams};
        for (int i = 0; i < 3; i++) {
            int t = cmn_calls_expire(calls[i]);
            if (t >= 0 && t < timeout) {
                timeout = t;
            }
        }
        zmq_pollitem_t items[4] = {
                {zsock_resolve(cmn_bus_server_sock(self->bus)), 0, ZMQ_POLLIN, 0},
                {zsock_resolve(cmn_bus_client_sock(self->gw_client)), 0, ZMQ_POLLIN, 0},
                {zsock_resolve(cmn_bus_client_sock(self->cms_client)), 0, ZMQ_POLLIN, 0},
                {zsock_resolve(cmn_bus_client_sock(self->ams_client)), 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, 4, timeout) < 0) {
            if (zmq_errno() == EINTR) {
                continue;
            }
            return 1;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            zframe_t *peer = NULL;
            uint8_t *data = NULL;
            size_t len = 0;
            cmn_err_t err;
            while ((err = cmn_bus_server_recv(self->bus, &peer, &data, &len)) != CMN_ENOTFOUND) {
                if (err == CMN_OK) {
                    s_dispatch(self, peer, data, len);
                    zframe_destroy(&peer);
                    free(data);
                }
            }
        }
        for (int i = 0; i < 3; i++) {
            if (items[i + 1].revents & ZMQ_POLLIN) {
                cmn_calls_on_readable(calls[i]);
            }
        }
    }
    cmn_log_notice("DOTS-STOP", "stopping");
    return 0;
}
