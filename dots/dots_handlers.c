/* dots_handlers.c — the operator requests of obt-dots, one s_on_<msg>() each, and the
 * dispatch table that maps the Request oneof to them (the dispatcher is in
 * dots_service.c). Reply bodies live in static storage: the loop is single-threaded and
 * a reply is packed and sent before the next request is dispatched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_time.h"
#include "dots_service_int.h"

/* The state an operator sees: a reset or repair job in progress (or failed) shows
 * instead of the onboarding state it does not change. */
static const char *
s_state_name(const dots_dev_t *r)
{
    return r->maint != MAINT_NONE && r->maint < MAINT_STATE_COUNT ? DOTS_MAINT_STATE_NAMES[r->maint]
                                                                  : DOTS_JOB_STATE_NAMES[r->state];
}

/* Fills d (and its arrays in the caller's storage) from a record. */
static void
s_device(const dots_dev_t *r, const char *sd_uuid, Obt__Dots__Device *d, char **eps, uint32_t *oxms)
{
    obt__dots__device__init(d);
    d->uuid = CMN_PB_STR(r->uuid);
    d->first_uuid = CMN_PB_STR(r->first_uuid);
    d->state = CMN_PB_STR(s_state_name(r));
    if (r->maint != MAINT_NONE) {
        d->step = CMN_PB_STR(DOTS_MAINT_STATE_NAMES[r->maint]);
        d->error = CMN_PB_STR(r->maint_error);
    } else {
        d->step = CMN_PB_STR(r->error[0] ? DOTS_JOB_STATE_NAMES[r->step] : "");
        d->error = CMN_PB_STR(r->error);
    }
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
            dots_deferred_t **deferred,
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
    dots_deferred_t *d = arg;
    Obt__Dots__Reply reply = OBT__DOTS__REPLY__INIT;
    Obt__Dots__DiscoverReply dr = OBT__DOTS__DISCOVER_REPLY__INIT;
    reply.corr_id = d->corr_id;
    if (err == CMN_OK) {
        dr.found = found;
        dr.added = added;
        reply.body_case = OBT__DOTS__REPLY__BODY_DISCOVER;
        reply.discover = &dr;
    }
    dots_service_answer(d->svc, d->peer, &reply, err, error);
    zframe_destroy(&d->peer);
    free(d);
}

static cmn_err_t
s_on_discover(dots_service_t *self,
              const Obt__Dots__Request *req,
              Obt__Dots__Reply *reply,
              dots_deferred_t **deferred,
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
          dots_deferred_t **deferred,
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
        if (filter && filter[0] && strcmp(filter, s_state_name(r)) != 0) {
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
             dots_deferred_t **deferred,
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
             dots_deferred_t **deferred,
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
          dots_deferred_t **deferred,
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

/* Answers a reset or repair once its job ends. */
static void
s_maint_done(void *arg, cmn_err_t err, const char *error, const dots_dev_t *dev)
{
    dots_deferred_t *d = arg;
    Obt__Dots__Reply reply = OBT__DOTS__REPLY__INIT;
    Obt__Dots__ResetReply rr = OBT__DOTS__RESET_REPLY__INIT;
    Obt__Dots__Device dd;
    char *eps[DOTS_MAX_EPS];
    uint32_t oxms[DOTS_MAX_OXMS];
    reply.corr_id = d->corr_id;
    if (err == CMN_OK && dev) {
        s_device(dev, d->svc->id.sd_uuid, &dd, eps, oxms);
        reply.body_case = OBT__DOTS__REPLY__BODY_REPAIR;
        reply.repair = &dd;
    } else if (err == CMN_OK) {
        rr.outcome = CMN_PB_STR("forgotten");
        reply.body_case = OBT__DOTS__REPLY__BODY_RESET;
        reply.reset = &rr;
    }
    dots_service_answer(d->svc, d->peer, &reply, err, error);
    zframe_destroy(&d->peer);
    free(d);
}

static cmn_err_t
s_on_reset(dots_service_t *self,
           const Obt__Dots__Request *req,
           Obt__Dots__Reply *reply,
           dots_deferred_t **deferred,
           char *error,
           size_t error_len)
{
    (void) reply;
    cmn_err_t err = dots_maint_reset(self->maint, req->reset->uuid, req->reset->forget,
                                     s_maint_done, *deferred, error, error_len);
    if (err == CMN_OK) {
        *deferred = NULL; /* answered when the reset job ends */
    }
    return err;
}

static cmn_err_t
s_on_repair(dots_service_t *self,
            const Obt__Dots__Request *req,
            Obt__Dots__Reply *reply,
            dots_deferred_t **deferred,
            char *error,
            size_t error_len)
{
    (void) reply;
    cmn_err_t err = dots_maint_repair(self->maint, req->repair->uuid, s_maint_done, *deferred,
                                      error, error_len);
    if (err == CMN_OK) {
        *deferred = NULL; /* answered when the repair job ends */
    }
    return err;
}

const dots_handler_row_t DOTS_HANDLERS[] = {
        {OBT__DOTS__REQUEST__BODY_HEALTH, "health", s_on_health},
        {OBT__DOTS__REQUEST__BODY_DISCOVER, "discover", s_on_discover},
        {OBT__DOTS__REQUEST__BODY_LIST, "list", s_on_list},
        {OBT__DOTS__REQUEST__BODY_APPROVE, "approve", s_on_approve},
        {OBT__DOTS__REQUEST__BODY_ONBOARD, "onboard", s_on_onboard},
        {OBT__DOTS__REQUEST__BODY_SHOW, "show", s_on_show},
        {OBT__DOTS__REQUEST__BODY_RESET, "reset", s_on_reset},
        {OBT__DOTS__REQUEST__BODY_REPAIR, "repair", s_on_repair},
};

const size_t DOTS_HANDLER_COUNT = sizeof DOTS_HANDLERS / sizeof DOTS_HANDLERS[0];
