/* dots_service.c — obt-dots: the loop over the bus sockets and the request dispatcher */
#include "dots_service.h"

#include <openssl/crypto.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_log.h"
#include "cmn_loop.h"
#include "cmn_time.h"
#include "dots_onboard.h"
#include "dots_service_int.h"
#include "dots_store.h"
#include "obt/dots.pb-c.h"

#define S_MAX_WAIT_MS   200   /* the longest the loop sleeps: the jobs' ticks */
#define S_BIND_RETRY_MS 10000 /* a standby that took over: how long it tries to bind */

static void
s_send(dots_service_t *self, zframe_t *peer, Obt__Dots__Reply *reply)
{
    if (cmn_bus_server_send_pb(self->bus, peer, &reply->base) != CMN_OK) {
        cmn_log_warn("DOTS-REPLY", "cannot reply (corr=%llu)", (unsigned long long) reply->corr_id);
    }
}

void
dots_service_answer(dots_service_t *self,
                    zframe_t *peer,
                    Obt__Dots__Reply *reply,
                    cmn_err_t err,
                    const char *error)
{
    char why[300];
    /* The operator hears the outcome of what the request wrote: commit it first. */
    cmn_err_t ferr = cmn_bus_is_held() ? dots_store_flush(self->store) : CMN_OK;
    if (ferr != CMN_OK && err == CMN_OK) {
        (void) snprintf(why, sizeof why, "cannot commit in \"%s\": %s", self->cfg->store_dir,
                        cmn_strerror(ferr));
        cmn_log_err("DOTS-STORE", "%s", why);
        err = ferr;
        error = why;
    }
    if (err != CMN_OK) {
        reply->status = (Obt__Status) cmn_status_from_err(err);
        reply->error = CMN_PB_STR(error && error[0] ? error : cmn_strerror(err));
        reply->body_case = OBT__DOTS__REPLY__BODY__NOT_SET;
    }
    s_send(self, peer, reply);
}

void
dots_deferred_answer(dots_deferred_t *d, Obt__Dots__Reply *reply, cmn_err_t err, const char *error)
{
    reply->corr_id = d->corr_id;
    dots_service_answer(d->svc, d->peer, reply, err, error);
    zframe_destroy(&d->peer);
    free(d);
}

int
dots_service_has_handler(int body_case)
{
    return cmn_dispatch_find(DOTS_HANDLERS, DOTS_HANDLER_COUNT, sizeof DOTS_HANDLERS[0],
                             body_case) != NULL;
}

static void
s_dispatch(void *arg, zframe_t *peer, const cmn_caller_t *caller, const uint8_t *data, size_t len)
{
    dots_service_t *self = arg;
    self->requests++;
    Obt__Dots__Reply reply = OBT__DOTS__REPLY__INIT;
    Obt__Dots__Request *req = obt__dots__request__unpack(NULL, len, data);
    char error[640] = ""; /* room for the list of states (an unknown --state) */
    cmn_err_t err = CMN_EPROTO;
    dots_deferred_t *deferred = NULL;
    if (req == NULL) {
        reply.corr_id = cmn_bus_peek_corr_id(data, len);
        (void) snprintf(error, sizeof error, "request does not unpack as obt.dots.Request");
        cmn_log_warn("DOTS-BADREQ", "unreadable request (%zu bytes)", len);
        goto reply;
    }
    reply.corr_id = req->corr_id;
    const cmn_dispatch_row_t *row = NULL;
    err = cmn_dispatch_check("obt-dots", DOTS_HANDLERS, DOTS_HANDLER_COUNT, sizeof DOTS_HANDLERS[0],
                             req->body_case, caller, error, sizeof error, &row);
    if (err != CMN_OK) {
        goto reply;
    }
    dots_handler_fn *fn = ((const dots_handler_row_t *) row)->fn;
    deferred = calloc(1, sizeof *deferred);
    if (deferred == NULL) {
        err = CMN_ENOMEM;
        goto reply;
    }
    deferred->svc = self;
    deferred->peer = zframe_dup(peer);
    deferred->corr_id = req->corr_id;
    err = fn(self, caller, req, &reply, &deferred, error, sizeof error);
    if (err == CMN_OK && deferred == NULL) {
        goto out; /* the handler answers later */
    }
reply:
    dots_service_answer(self, peer, &reply, err, error);
out:
    if (deferred) {
        zframe_destroy(&deferred->peer);
        free(deferred);
    }
    if (req && req->body_case == OBT__DOTS__REQUEST__BODY_PIN && req->pin->pin) {
        OPENSSL_cleanse(req->pin->pin, strlen(req->pin->pin)); /* the frame, by cmn_bus_free */
    }
    if (req) {
        obt__dots__request__free_unpacked(req, NULL);
    }
}

/* At every pass of the loop: the jobs move on as soon as a reply or a request has
 * come; each checks its own time, within the loop's cap. */
static int
s_tick(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    dots_service_t *self = arg;
    dots_active_tick(self->active);
    dots_engine_tick(self->engine);
    dots_maint_tick(self->maint);
    dots_bridge_tick(self->bridge);
    return CMN_LOOP_IDLE;
}

static void
s_on_events(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    dots_events_on_readable(arg);
}

/* Once per pass, before the loop waits: the pass's records in one commit (one sync),
 * then the requests and replies that had to wait for it (cmn_commit.h). A failed
 * commit drops them: the calls expire and their jobs fail (a new record). */
static void
s_flush(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    dots_service_t *self = arg;
    cmn_err_t err = dots_store_flush_pass(self->store);
    if (err != CMN_OK) {
        cmn_log_err("DOTS-STORE",
                    "cannot commit in \"%s\": %s (the requests that needed it "
                    "were not sent)",
                    self->cfg->store_dir, cmn_strerror(err));
    }
}

/* The loop: the ticks, the operator's ROUTER, the calls to the gateway, CMS and AMS,
 * the events PUB (subscriptions to confirm). */
static cmn_err_t
s_loop_new(dots_service_t *self)
{
    self->loop = cmn_loop_new(S_MAX_WAIT_MS);
    if (self->loop == NULL) {
        return CMN_ENOMEM;
    }
    cmn_loop_set_flush(self->loop, s_flush, self);
    cmn_err_t err = cmn_loop_add_tick(self->loop, s_tick, self);
    err = err != CMN_OK ? err : cmn_loop_add_server(self->loop, self->bus, s_dispatch, self);
    cmn_calls_t *calls[] = {self->cms, self->ams};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        err = err != CMN_OK ? err : cmn_loop_add_calls(self->loop, calls[i]);
    }
    for (size_t i = 0; i < cmn_gws_count(self->gws); i++) {
        err = err != CMN_OK ? err : cmn_loop_add_calls(self->loop, cmn_gws_at(self->gws, i)->calls);
    }
    return err != CMN_OK ? err
                         : cmn_loop_add_sock(self->loop, dots_events_sock(self->events),
                                             s_on_events, self->events);
}

/* A part nobody served is this instance's too now (dots_active.h, D101). */
static cmn_err_t
s_on_adopt(int part, void *arg)
{
    dots_service_t *self = arg;
    return self->engine ? dots_engine_add_part(self->engine, part) : CMN_ESTATE;
}

/* Whether an adopted part may go back to a standby (D103): nothing of it under way in
 * the engine, nor a reset, repair or Bridge job on one of its records. */
static bool
s_part_is_quiet(int part, void *arg)
{
    dots_service_t *self = arg;
    return self->engine && dots_engine_part_is_quiet(self->engine, part);
}

static void
s_drop_part(int part, void *arg)
{
    dots_service_t *self = arg;
    dots_engine_drop_part(self->engine, part);
}

/* The store is ours to write: alone (no --shared-store), the leases left by shared
 * instances of an earlier run are cleared (their holders are gone); shared, this
 * instance waits as a standby until it holds the active lease (dots_active.h). */
static cmn_err_t
s_take_store(dots_service_t *self)
{
    cmn_err_t err;
    if (!self->cfg->is_shared_store) {
        err = dots_store_leases_clear(self->store);
        err = err != CMN_OK ? err : dots_store_flush(self->store);
        if (err != CMN_OK) {
            cmn_log_err("DOTS-INIT", "cannot clear the leases in \"%s\": %s", self->cfg->store_dir,
                        cmn_strerror(err));
        }
        return err;
    }
    self->active = dots_active_new(self->store, self->cfg->instance, self->cfg->parts);
    if (self->active == NULL) {
        return CMN_ENOMEM;
    }
    err = dots_active_wait(self->active);
    if (err != CMN_OK && err != CMN_ESTATE) {
        cmn_log_err("DOTS-INIT", "cannot take the active lease in \"%s\": %s", self->cfg->store_dir,
                    cmn_strerror(err));
    }
    return err;
}

/* A bind that failed at t0 (mono ms) is tried again: only by a shared instance (a
 * standby that took over binds the endpoints of the instance that was active, which
 * the dead process's sockets may still hold a moment), for S_BIND_RETRY_MS, unless
 * the process is stopping. */
static bool
s_may_bind_again(const dots_service_t *self, uint64_t t0)
{
    return self->cfg->is_shared_store && cmn_time_mono_ms() - t0 < S_BIND_RETRY_MS &&
           !zsys_interrupted;
}

/* The ROUTER (tried again as s_may_bind_again says). */
static cmn_bus_server_t *
s_bind(dots_service_t *self, cmn_err_t *ret_err)
{
    uint64_t t0 = cmn_time_mono_ms();
    for (;;) {
        cmn_bus_server_t *bus =
                cmn_bus_server_new(self->cfg->endpoint, self->cfg->keys_dir, "dots", ret_err);
        if (bus || !s_may_bind_again(self, t0)) {
            return bus;
        }
        cmn_log_info("DOTS-BIND", "cannot bind \"%s\" yet: %s (trying again)", self->cfg->endpoint,
                     cmn_strerror(*ret_err));
        (void) poll(NULL, 0, 200);
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
    char kek_path[4096];
    bool is_new_kek = false;
    err = cmn_seal_load_service(cfg->kek_file, cfg->keys_dir, "dots", &self->seal, kek_path,
                                sizeof kek_path, &is_new_kek);
    if (err != CMN_OK) {
        cmn_log_err("DOTS-KEK", "cannot load the key-encryption key \"%s\": %s", kek_path,
                    err == CMN_EINVAL ? "not a file of 32 bytes" : cmn_strerror(err));
        goto fail;
    }
    if (is_new_kek) {
        cmn_log_notice("DOTS-KEK-NEW", "created the key-encryption key \"%s\"", kek_path);
    }
    self->store = dots_store_new(cfg->store_dir, cfg->durable, (size_t) cfg->map_size_mib << 20,
                                 self->seal, &err);
    if (self->store == NULL) {
        cmn_log_err("DOTS-INIT", "cannot open the store \"%s\": %s", cfg->store_dir,
                    cmn_strerror(err));
        goto fail;
    }
    if ((err = s_take_store(self)) != CMN_OK) {
        goto fail;
    }
    size_t migrated = 0;
    err = dots_store_check_kek(self->store, &migrated);
    if (err != CMN_OK) {
        cmn_log_err("DOTS-KEK", "the store \"%s\": %s", cfg->store_dir,
                    err == CMN_ECRYPTO ? CMN_SEAL_WRONG_KEK : cmn_strerror(err));
        goto fail;
    }
    if (migrated) {
        cmn_log_notice("DOTS-KEK-MIGRATED", "%zu plain secret record(s) sealed", migrated);
    }
    err = dots_store_identity(self->store, cfg->name, &self->id);
    if (err == CMN_OK) {
        err = dots_store_flush(self->store); /* stored before anyone hears of it */
    }
    if (err != CMN_OK) {
        cmn_log_err("DOTS-INIT", "cannot load or create the identity: %s", cmn_strerror(err));
        goto fail;
    }
    self->bus = s_bind(self, &err);
    if (self->bus == NULL) {
        cmn_log_err("DOTS-INIT", "cannot bind \"%s\" (keys \"%s\"): %s", cfg->endpoint,
                    cfg->keys_dir, cmn_strerror(err));
        goto fail;
    }
    if (cfg->events[0]) {
        (void) snprintf(self->events_ep, sizeof self->events_ep, "%s", cfg->events);
    } else if (cmn_bus_pub_endpoint(cmn_bus_server_endpoint(self->bus), self->events_ep,
                                    sizeof self->events_ep) != CMN_OK) {
        cmn_log_err("DOTS-INIT", "no events endpoint derives from \"%s\": give --events",
                    cfg->endpoint);
        goto fail;
    }
    for (uint64_t t0 = cmn_time_mono_ms();;) {
        self->events = dots_events_new(self->events_ep, cfg->keys_dir, &err);
        if (self->events || !s_may_bind_again(self, t0)) {
            break;
        }
        (void) poll(NULL, 0, 200);
    }
    if (self->events == NULL) {
        cmn_log_err("DOTS-INIT", "cannot bind the events endpoint \"%s\": %s", self->events_ep,
                    cmn_strerror(err));
        goto fail;
    }
    char why[300];
    self->gws = cmn_gws_new(cfg->gateway, cfg->keys_dir, "dots", (uint32_t) cfg->heartbeat_ms, why,
                            sizeof why);
    if (self->gws == NULL) {
        cmn_log_err("DOTS-INIT", "--gateway: %s", why);
        goto fail;
    }
    self->cms_client = cmn_bus_client_new(cfg->cms, cfg->keys_dir, "dots", "cms", &err);
    self->ams_client = cmn_bus_client_new(cfg->ams, cfg->keys_dir, "dots", "ams", &err);
    if (!self->cms_client || !self->ams_client) {
        cmn_log_err("DOTS-INIT", "cannot set up the links to CMS/AMS: %s", cmn_strerror(err));
        goto fail;
    }
    self->cms = cmn_calls_new(self->cms_client);
    self->ams = cmn_calls_new(self->ams_client);
    self->engine = self->cms && self->ams
                           ? dots_engine_new(cfg, self->store, &self->id, self->events, self->gws,
                                             self->cms, self->ams, dots_active_part(self->active))
                           : NULL;
    if (self->engine == NULL) {
        cmn_log_err("DOTS-INIT", "cannot load the device records");
        goto fail;
    }
    const dots_active_parts_fns_t parts_fns = {s_on_adopt, s_part_is_quiet, s_drop_part, self};
    dots_active_on_parts(self->active, &parts_fns);
    self->maint = dots_maint_new(cfg, self->store, &self->id, self->engine, self->gws, self->cms,
                                 self->ams);
    if (self->maint == NULL) {
        cmn_log_err("DOTS-INIT", "cannot set up the reset and repair jobs");
        goto fail;
    }
    self->bridge = dots_bridge_new(cfg, self->store, &self->id, self->engine, self->gws);
    if (self->bridge == NULL) {
        cmn_log_err("DOTS-INIT", "cannot set up the bridge jobs");
        goto fail;
    }
    if ((err = s_loop_new(self)) != CMN_OK) {
        cmn_log_err("DOTS-INIT", "cannot set up the loop: %s", cmn_strerror(err));
        goto fail;
    }
    const char *bound = cmn_bus_server_endpoint(self->bus);
    if (cfg->is_shared_store && dots_active_part(self->active) >= 0) {
        cmn_log_notice("READY",
                       "endpoint=%s uuid=%s sd=%s events=%s instance=%s shared-store part=%d/%d",
                       bound, self->id.uuid, self->id.sd_uuid, self->events_ep, cfg->instance,
                       dots_active_part(self->active), cfg->parts);
    } else if (cfg->is_shared_store) {
        cmn_log_notice("READY", "endpoint=%s uuid=%s sd=%s events=%s instance=%s shared-store",
                       bound, self->id.uuid, self->id.sd_uuid, self->events_ep, cfg->instance);
    } else {
        cmn_log_notice("READY", "endpoint=%s uuid=%s sd=%s events=%s", bound, self->id.uuid,
                       self->id.sd_uuid, self->events_ep);
    }
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
    cmn_loop_destroy(&self->loop);
    if (self->store) {
        (void) dots_store_flush(self->store); /* while the sockets are there */
    }
    /* Destroying the calls runs their pending callbacks (CMN_EIO): bridge, maint and engine
     * stay allocated until then, each freed by its last callback. */
    dots_bridge_destroy(&self->bridge);
    dots_maint_destroy(&self->maint);
    dots_engine_destroy(&self->engine);
    cmn_gws_destroy(&self->gws);
    cmn_calls_destroy(&self->cms);
    cmn_calls_destroy(&self->ams);
    cmn_bus_client_destroy(&self->cms_client);
    cmn_bus_client_destroy(&self->ams_client);
    dots_events_destroy(&self->events);
    cmn_bus_server_destroy(&self->bus);
    dots_active_release(self->active); /* last: nothing more is written */
    dots_store_destroy(&self->store);
    dots_active_destroy(&self->active);
    cmn_seal_destroy(&self->seal);
    free(self);
    *self_p = NULL;
}

int
dots_service_run(dots_service_t *self)
{
    cmn_err_t err = cmn_loop_run(self->loop);
    cmn_commit_stats_t st;
    dots_store_stats(self->store, &st);
    cmn_log_notice("DOTS-COMMITS",
                   "commits=%llu writes=%llu held=%llu failed=%llu commit_ms=%.1f max_ms=%.1f",
                   (unsigned long long) st.groups, (unsigned long long) st.writes,
                   (unsigned long long) st.held, (unsigned long long) st.failed,
                   (double) st.commit_us / 1000.0, (double) st.max_us / 1000.0);
    if (err != CMN_OK) {
        return 1;
    }
    cmn_log_notice("DOTS-STOP", "stopping");
    return 0;
}
