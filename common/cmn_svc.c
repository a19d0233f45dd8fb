/* cmn_svc.c — the shared body of obt-cms and obt-ams */
#include "cmn_svc.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_commit.h"
#include "cmn_gws.h"
#include "cmn_kv.h"
#include "cmn_log.h"
#include "cmn_loop.h"
#include "cmn_time.h"
#include "cmn_uuid.h"
#include "obt/gateway.pb-c.h"
#include "obt/store.pb-c.h"

#define OPT(n, t, f, d, fl, lo, hi, h)                                                             \
    {                                                                                              \
        n, t, offsetof(cmn_svc_config_t, f), d, fl, lo, hi, h                                      \
    }

static cmn_cfg_opt_t s_opts[] = {
        OPT("endpoint",
            CMN_CFG_STR,
            endpoint,
            NULL,
            0,
            1,
            0,
            "ZeroMQ endpoint this service binds; or a list, EP,EP or tcp://H:FIRST-LAST: the "
            "first free one (instances on one host network, docs/scaling.md)"),
        OPT("keys-dir",
            CMN_CFG_STR,
            keys_dir,
            NULL,
            CMN_CFG_REQUIRED,
            1,
            0,
            "CURVE keys made by `obtctl keys`"),
        OPT("store-dir", CMN_CFG_STR, store_dir, NULL, CMN_CFG_REQUIRED, 1, 0, "LMDB folder"),
        OPT("gateway",
            CMN_CFG_STR,
            gateway,
            "tcp://127.0.0.1:7400",
            0,
            1,
            0,
            "obt-gateway endpoint, or one gateway per device network: NAME=ENDPOINT,... "
            "(a device's requests go to the gateway its hand-over names)"),
        OPT("name", CMN_CFG_STR, name, NULL, 0, 1, 0, "name in this service's /oic/d"),
        OPT("durable", CMN_CFG_BOOL, durable, "true", 0, 1, 0, "sync LMDB on every commit"),
        OPT("map-size-mib", CMN_CFG_INT, map_size_mib, "1024", 0, 1, 1048576, "LMDB map size"),
        OPT("timeout-ms",
            CMN_CFG_INT,
            timeout_ms,
            "8000",
            0,
            100,
            600000,
            "deadline of one request to a device"),
        OPT("heartbeat-ms",
            CMN_CFG_INT,
            heartbeat_ms,
            "2000",
            0,
            100,
            600000,
            "between two health requests to each gateway (a new boot id: register again)"),
        OPT("log-level", CMN_CFG_STR, log_level, "notice", 0, 1, 0, "err|warn|notice|info|debug"),
        OPT("kek-file",
            CMN_CFG_STR,
            kek_file,
            "",
            0,
            1,
            0,
            "key-encryption key of the stored PSKs (32 bytes; created 0600 if absent); "
            "empty: KEYS-DIR/secret/<service>.kek"),
        CMN_INSTANCE_CFG_OPTS(cmn_svc_config_t,
                              is_shared_store,
                              instance,
                              "run beside other instances of this service on the same "
                              "--store-dir, each on its own --endpoint (docs/scaling.md); "
                              "without it a second instance is refused"),
        OPT("endpoint-file",
            CMN_CFG_STR,
            endpoint_file,
            "",
            0,
            1,
            0,
            "write the endpoint bound (one of --endpoint's list) to this file, removed at exit: "
            "what a container's health check asks (docs/deploy.md); empty: none"),
};

#define S_N_OPTS (sizeof s_opts / sizeof s_opts[0])

/* The common options followed by extra (malloc'd; NULL if out of memory). */
static cmn_cfg_opt_t *
s_all_opts(const cmn_cfg_opt_t *extra, size_t n_extra)
{
    cmn_cfg_opt_t *all = calloc(S_N_OPTS + n_extra, sizeof *all);
    if (all) {
        memcpy(all, s_opts, sizeof s_opts);
        if (n_extra) {
            memcpy(all + S_N_OPTS, extra, n_extra * sizeof *extra);
        }
    }
    return all;
}

cmn_cfg_result_t
cmn_svc_config_load_ext(cmn_svc_config_t *cfg,
                        const char *name,
                        const char *default_endpoint,
                        const char *default_name,
                        const cmn_cfg_opt_t *extra,
                        size_t n_extra,
                        int argc,
                        char **argv)
{
    char usage[256];
    s_opts[0].def = default_endpoint;
    s_opts[4].def = default_name;
    (void) snprintf(usage, sizeof usage,
                    "usage: obt-%s --keys-dir DIR --store-dir DIR [options]\n"
                    "%s service of the OBT suite.",
                    name, strcmp(name, "cms") == 0 ? "Credential Management" : "Access Management");
    cmn_cfg_opt_t *all = s_all_opts(extra, n_extra);
    if (all == NULL) {
        (void) fprintf(stderr, "error: out of memory\n");
        return CMN_CFG_ERROR;
    }
    cmn_cfg_result_t r = cmn_cfg_load(all, S_N_OPTS + n_extra, cfg, name, usage, argc, argv);
    free(all);
    char why[300];
    if (r == CMN_CFG_OK && cmn_gws_check(cfg->gateway, why, sizeof why) != CMN_OK) {
        (void) fprintf(stderr, "error: --gateway: %s\n", why);
        r = CMN_CFG_ERROR;
    }
    if (r == CMN_CFG_OK && cmn_instance_name_check(&cfg->instance, name) != 0) {
        r = CMN_CFG_ERROR;
    }
    return r;
}

cmn_cfg_result_t
cmn_svc_config_load(cmn_svc_config_t *cfg,
                    const char *name,
                    const char *default_endpoint,
                    const char *default_name,
                    int argc,
                    char **argv)
{
    return cmn_svc_config_load_ext(cfg, name, default_endpoint, default_name, NULL, 0, argc, argv);
}

void
cmn_svc_config_free_ext(cmn_svc_config_t *cfg, const cmn_cfg_opt_t *extra, size_t n_extra)
{
    cmn_cfg_free(s_opts, S_N_OPTS, cfg);
    if (n_extra) {
        cmn_cfg_free(extra, n_extra, cfg);
    }
}

cmn_instance_t *
cmn_svc_start_checks(const cmn_svc_config_t *cfg)
{
    return cmn_instance_start(s_opts, S_N_OPTS, cfg, cfg->keys_dir, cfg->store_dir,
                              cfg->is_shared_store, cfg->instance, "SVC-START");
}

void
cmn_svc_config_free(cmn_svc_config_t *cfg)
{
    cmn_svc_config_free_ext(cfg, NULL, 0);
}

/* --endpoint-file: the endpoint bound, one line, world-readable (no secret). 0, or -1
 * with the reason logged. */
static int
s_write_endpoint(const char *path, const char *endpoint)
{
    if (path == NULL || path[0] == '\0') {
        return 0;
    }
    char tmp[4200];
    (void) snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f != NULL && fprintf(f, "%s\n", endpoint) > 0;
    ok = f != NULL && fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        cmn_log_err("SVC-INIT", "--endpoint-file \"%s\": %s", path, strerror(errno));
        (void) unlink(tmp);
        return -1;
    }
    return 0;
}

#define S_MAX_WAIT_MS 200 /* the longest the loop sleeps: heartbeat and registration */

struct cmn_svc {
    const cmn_svc_config_t *cfg;
    char service[8];        /* "cms" / "ams" */
    char rt[16];            /* "oic.d.cms" / "oic.d.ams" */
    char uuid[37];          /* identity */
    bool is_stopping;       /* the calls are being failed: no more link changes to log */
    bool has_endpoint_file; /* --endpoint-file written: removed at exit */
    uint64_t boot_id;       /* ours, in our health replies */
    cmn_kv_t *kv;
    cmn_seal_t *seal; /* the KEK of "secrets" */
    cmn_bus_server_t *bus;
    cmn_gws_t *gws; /* the gateways; each serves our /oic/d, a device's requests go to its own */
    struct cmn_svc_gw_ctx {
        cmn_svc_t *svc;
        cmn_gw_t *gw;
    } gw_ctx[CMN_GWS_MAX];        /* registration and heartbeat contexts, one per gateway */
    cmn_loop_t *loop;             /* ROUTER, gateway calls, heartbeat and registration */
    cmn_commit_t *commit;         /* the pass's group: every write of the store goes into it */
    const cmn_svc_hooks_t *hooks; /* the service's work (borrowed) */
    cmn_jobs_t *jobs;             /* hand-over and repair jobs (cmn_svc_job.c) */
    uint64_t started_ms;
    uint64_t requests;
    cmn_lease_owner_t owner;        /* this instance as a lease holder */
    cmn_svc_job_state_t *job_state; /* cmn_svc_job.c's */
};

static cmn_err_t
s_identity(cmn_svc_t *self)
{
    cmn_kv_txn_t *txn = NULL;
    Obt__Store__Identity *id = NULL;
    cmn_err_t err = cmn_kv_begin(self->kv, true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_get_pb(txn, "identity", "self", &obt__store__identity__descriptor,
                        (ProtobufCMessage **) &id);
    if (err == CMN_OK) {
        (void) snprintf(self->uuid, sizeof self->uuid, "%s", id->uuid);
        obt__store__identity__free_unpacked(id, NULL);
        cmn_kv_abort(&txn);
        return CMN_OK;
    }
    cmn_uuid_t u;
    if (err != CMN_ENOTFOUND || (err = cmn_uuid_generate_identity(&u)) != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    cmn_uuid_to_str(&u, self->uuid);
    Obt__Store__Identity rec = OBT__STORE__IDENTITY__INIT;
    rec.version = 1;
    rec.uuid = self->uuid;
    rec.name = self->cfg->name;
    rec.created_ms = cmn_time_wall_ms();
    err = cmn_kv_put_pb(txn, "identity", "self", &rec.base);
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

static cmn_err_t
s_open_kek(cmn_svc_t *self)
{
    char path[4096];
    bool is_new = false;
    cmn_err_t err = cmn_seal_load_service(self->cfg->kek_file, self->cfg->keys_dir, self->service,
                                          &self->seal, path, sizeof path, &is_new);
    if (err != CMN_OK) {
        cmn_log_err("SVC-KEK", "cannot load the key-encryption key \"%s\": %s", path,
                    err == CMN_EINVAL ? "not a file of 32 bytes" : cmn_strerror(err));
    } else if (is_new) {
        cmn_log_notice("SVC-KEK-NEW", "created the key-encryption key \"%s\"", path);
    }
    return err;
}

#define S_MAX_OWN_DBS 8 /* named databases a service may add (hooks->dbs) */

/* Once per loop pass: the pass's writes in one commit (one sync), then the messages
 * held for it (persist before act, cmn_commit.h). */
static void
s_flush(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    cmn_svc_t *self = arg;
    cmn_err_t err = cmn_commit_flush(self->commit);
    if (err != CMN_OK) {
        cmn_log_err("SVC-STORE",
                    "cannot commit in \"%s\": %s (the requests and replies that needed it "
                    "were not sent)",
                    self->cfg->store_dir, cmn_strerror(err));
    }
}

/* Alone on the store (no --shared-store, the instance lock is exclusive): whoever held
 * the leases left is gone, the jobs are ours to resume. */
static cmn_err_t
s_clear_leases(cmn_svc_t *self)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(self->kv, true, &txn);
    if (err == CMN_OK && (err = cmn_lease_clear(txn)) != CMN_OK) {
        cmn_kv_abort(&txn);
    }
    return err == CMN_OK ? cmn_kv_commit(&txn) : err;
}

static cmn_loop_timer_fn s_tick;          /* heartbeat and registration */
static cmn_loop_dispatch_fn s_on_request; /* the ROUTER's requests */

cmn_svc_t *
cmn_svc_new(const cmn_svc_config_t *cfg,
            const char *service,
            const char *rt,
            const cmn_svc_hooks_t *hooks)
{
    const char *dbs[4 + S_MAX_OWN_DBS] = {"identity", "devices", "secrets", CMN_LEASE_DB};
    size_t n_dbs = 4;
    cmn_err_t err = CMN_OK;
    for (size_t i = 0; i < hooks->n_dbs && i < S_MAX_OWN_DBS; i++) {
        dbs[n_dbs++] = hooks->dbs[i];
    }
    cmn_svc_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->cfg = cfg;
    (void) snprintf(self->service, sizeof self->service, "%s", service);
    (void) snprintf(self->rt, sizeof self->rt, "%s", rt);
    self->hooks = hooks;
    self->jobs = cmn_jobs_new();
    if (self->jobs == NULL) {
        goto fail;
    }
    self->started_ms = cmn_time_mono_ms();
    self->boot_id = cmn_live_new_boot_id();
    (void) snprintf(self->owner.instance, sizeof self->owner.instance, "%s", cfg->instance);
    self->owner.boot_id = self->boot_id;
    if (s_open_kek(self) != CMN_OK) {
        goto fail;
    }
    self->kv = cmn_kv_new(cfg->store_dir, dbs, n_dbs, (size_t) cfg->map_size_mib << 20,
                          cfg->durable, &err);
    if (self->kv == NULL || (err = s_identity(self)) != CMN_OK) {
        cmn_log_err("SVC-INIT", "cannot open the store \"%s\": %s", cfg->store_dir,
                    cmn_strerror(err));
        goto fail;
    }
    size_t migrated = 0;
    err = cmn_kv_reseal(self->kv, "secrets", NULL, self->seal, &migrated);
    if (err != CMN_OK) {
        cmn_log_err("SVC-KEK", "the store \"%s\": %s", cfg->store_dir,
                    err == CMN_ECRYPTO ? CMN_SEAL_WRONG_KEK : cmn_strerror(err));
        goto fail;
    }
    if (migrated) {
        cmn_log_notice("SVC-KEK-MIGRATED", "%zu plain secret record(s) sealed", migrated);
    }
    if (!cfg->is_shared_store && (err = s_clear_leases(self)) != CMN_OK) {
        cmn_log_err("SVC-INIT", "cannot clear the job leases in \"%s\": %s", cfg->store_dir,
                    cmn_strerror(err));
        goto fail;
    }
    if (hooks->init && hooks->init(self, hooks->arg) != CMN_OK) {
        goto fail; /* the service said why */
    }
    self->bus = cmn_bus_server_new(cfg->endpoint, cfg->keys_dir, service, &err);
    if (self->bus == NULL) {
        cmn_log_err("SVC-INIT", "cannot bind \"%s\" (keys \"%s\"): %s", cfg->endpoint,
                    cfg->keys_dir, cmn_strerror(err));
        goto fail;
    }
    char why[300];
    self->gws = cmn_gws_new(cfg->gateway, cfg->keys_dir, service, (uint32_t) cfg->heartbeat_ms, why,
                            sizeof why);
    if (self->gws == NULL) {
        cmn_log_err("SVC-INIT", "--gateway: %s", why);
        goto fail;
    }
    /* From here on every write of the store, from any module, goes into the pass's group
     * (what init wrote above is committed already). */
    self->commit = cmn_commit_new(self->kv);
    self->loop = self->commit ? cmn_loop_new(S_MAX_WAIT_MS) : NULL;
    if (self->loop) {
        cmn_loop_set_flush(self->loop, s_flush, self);
    }
    if (self->loop == NULL || cmn_loop_add_tick(self->loop, s_tick, self) != CMN_OK ||
        cmn_loop_add_server(self->loop, self->bus, s_on_request, self) != CMN_OK) {
        cmn_log_err("SVC-INIT", "cannot set up the loop: %s", cmn_strerror(CMN_ENOMEM));
        goto fail;
    }
    for (size_t i = 0; i < cmn_gws_count(self->gws); i++) {
        self->gw_ctx[i].svc = self;
        self->gw_ctx[i].gw = cmn_gws_at(self->gws, i);
        if (cmn_loop_add_calls(self->loop, self->gw_ctx[i].gw->calls) != CMN_OK) {
            cmn_log_err("SVC-INIT", "cannot set up the loop: %s", cmn_strerror(CMN_ENOMEM));
            goto fail;
        }
    }
    if (s_write_endpoint(cfg->endpoint_file, cmn_bus_server_endpoint(self->bus)) != 0) {
        goto fail;
    }
    self->has_endpoint_file = cfg->endpoint_file[0] != '\0';
    cmn_log_notice("READY", "endpoint=%s uuid=%s instance=%s%s", cmn_bus_server_endpoint(self->bus),
                   self->uuid, cfg->instance, cfg->is_shared_store ? " shared-store" : "");
    return self;
fail:
    cmn_svc_destroy(&self);
    return NULL;
}

void
cmn_svc_destroy(cmn_svc_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_svc_t *self = *self_p;
    self->is_stopping = true;
    if (self->has_endpoint_file) {
        (void) unlink(self->cfg->endpoint_file); /* nobody's endpoint any more */
    }
    if (self->jobs) {
        cmn_svc_job_drop_all(self); /* unanswered: a restart resumes them from the store */
    }
    cmn_loop_destroy(&self->loop);
    if (self->commit) {
        (void) cmn_commit_flush(self->commit); /* while the sockets are there */
        cmn_commit_stats_t st;
        cmn_commit_stats(self->commit, &st);
        cmn_log_notice("SVC-COMMITS",
                       "commits=%llu writes=%llu held=%llu failed=%llu ms=%.1f max_ms=%.1f",
                       (unsigned long long) st.groups, (unsigned long long) st.writes,
                       (unsigned long long) st.held, (unsigned long long) st.failed,
                       (double) st.commit_us / 1000.0, (double) st.max_us / 1000.0);
    }
    cmn_gws_destroy(&self->gws); /* late callbacks find their job gone (cmn_jobs.h) */
    cmn_jobs_destroy(&self->jobs);
    cmn_bus_server_destroy(&self->bus);
    cmn_commit_destroy(&self->commit);
    cmn_kv_destroy(&self->kv);
    cmn_seal_destroy(&self->seal);
    free(self);
    *self_p = NULL;
}

cmn_err_t
cmn_gw_register_service(cmn_calls_t *gw,
                        const char *uuid,
                        const char *name,
                        const char *rt,
                        uint32_t timeout_ms,
                        cmn_call_fn *fn,
                        void *arg)
{
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__RegisterService reg = OBT__GW__REGISTER_SERVICE__INIT;
    char *rts[] = {CMN_PB_STR("oic.wk.d"), CMN_PB_STR(rt)};
    reg.uuid = CMN_PB_STR(uuid);
    reg.name = CMN_PB_STR(name);
    reg.rt = rts;
    reg.n_rt = 2;
    req.body_case = OBT__GW__REQUEST__BODY_REGISTER_SERVICE;
    req.register_service = &reg;
    req.corr_id = cmn_bus_next_corr_id();
    return cmn_calls_send(gw, &req.base, req.corr_id, timeout_ms, fn, arg);
}

bool
cmn_gw_registered(cmn_err_t err, const uint8_t *data, size_t len, char *ep, size_t ep_len)
{
    Obt__Gw__Reply *r = err == CMN_OK ? obt__gw__reply__unpack(NULL, len, data) : NULL;
    bool ok = r && r->status == OBT__STATUS__STATUS_OK &&
              r->body_case == OBT__GW__REPLY__BODY_REGISTERED && r->registered->endpoint[0];
    if (ok) {
        (void) snprintf(ep, ep_len, "%s", r->registered->endpoint);
    }
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
    return ok;
}

static void
s_on_registered(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    struct cmn_svc_gw_ctx *ctx = arg;
    cmn_svc_t *self = ctx->svc;
    cmn_gw_t *gw = ctx->gw;
    if (self->is_stopping) {
        return;
    }
    gw->is_registering = false;
    if (cmn_gw_registered(err, data, len, gw->d_endpoint, sizeof gw->d_endpoint)) {
        gw->is_registered = true;
        char label[48];
        cmn_gws_label(self->gws, gw, label, sizeof label);
        cmn_log_notice("SVC-REGISTERED", "our /oic/d (rt %s) is served at %s (%s)", self->rt,
                       gw->d_endpoint, label);
    }
}

/* Our /oic/d on every gateway: the same uuid, name and rt on each. */
static void
s_register(cmn_svc_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    for (size_t i = 0; i < cmn_gws_count(self->gws); i++) {
        cmn_gw_t *gw = self->gw_ctx[i].gw;
        if (gw->is_registered || gw->is_registering || now < gw->next_register_ms) {
            continue;
        }
        gw->next_register_ms = now + 1000;
        if (cmn_gw_register_service(gw->calls, self->uuid, self->cfg->name, self->rt, 2000,
                                    s_on_registered, &self->gw_ctx[i]) == CMN_OK) {
            gw->is_registering = true;
        }
    }
}

cmn_err_t
cmn_gw_health(cmn_calls_t *gw, uint32_t timeout_ms, cmn_call_fn *fn, void *arg)
{
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Health h = OBT__HEALTH__INIT;
    req.body_case = OBT__GW__REQUEST__BODY_HEALTH;
    req.health = &h;
    req.corr_id = cmn_bus_next_corr_id();
    return cmn_calls_send(gw, &req.base, req.corr_id, timeout_ms, fn, arg);
}

cmn_live_change_t
cmn_gw_health_feed(cmn_live_t *live, cmn_err_t err, const uint8_t *data, size_t len)
{
    Obt__Gw__Reply *r = err == CMN_OK ? obt__gw__reply__unpack(NULL, len, data) : NULL;
    bool ok =
            r && r->status == OBT__STATUS__STATUS_OK && r->body_case == OBT__GW__REPLY__BODY_HEALTH;
    cmn_live_change_t change = cmn_live_on_beat(live, ok ? r->health : NULL, cmn_time_wall_ms());
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
    return change;
}

static void
s_on_beat(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    struct cmn_svc_gw_ctx *ctx = arg;
    cmn_svc_t *self = ctx->svc;
    cmn_gw_t *gw = ctx->gw;
    if (self->is_stopping) {
        return;
    }
    cmn_live_change_t change = cmn_gw_health_feed(&gw->live, err, data, len);
    cmn_gw_beat_done(gw);
    char label[48];
    cmn_gws_label(self->gws, gw, label, sizeof label);
    if (change == CMN_LIVE_LOST) {
        cmn_log_notice("SVC-GW-DOWN", "%s unreachable", label);
    } else if (change == CMN_LIVE_RESTARTED || change == CMN_LIVE_BACK) {
        /* A new gateway serves nothing of ours; after a loss of the link, make sure. */
        if (change == CMN_LIVE_RESTARTED) {
            cmn_log_notice("SVC-GW-RESTART", "%s restarted (boot id %016llx): registering again",
                           label, (unsigned long long) gw->live.boot_id);
        } else {
            cmn_log_notice("SVC-GW-BACK", "%s answers again: registering again", label);
        }
        gw->is_registered = false;
        gw->next_register_ms = 0;
    }
    cmn_svc_job_gw_beat(self, gw); /* its jobs' verdicts, its waiting jobs (D85) */
}

static void
s_heartbeat(cmn_svc_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    for (size_t i = 0; i < cmn_gws_count(self->gws); i++) {
        cmn_gw_t *gw = self->gw_ctx[i].gw;
        if (!cmn_live_is_due(&gw->live, now)) {
            continue;
        }
        cmn_gw_beat_sent(gw);
        if (cmn_gw_health(gw->calls, gw->live.period_ms, s_on_beat, &self->gw_ctx[i]) != CMN_OK) {
            s_on_beat(&self->gw_ctx[i], CMN_EIO, NULL, 0);
        }
    }
}

/* At every pass of the loop: both check their own time, the loop's cap bounds it. */
static int
s_tick(cmn_loop_t *loop, void *arg)
{
    (void) loop;
    cmn_svc_t *self = arg;
    s_heartbeat(self);
    s_register(self);
    cmn_svc_job_tick(self);
    if (self->hooks->tick) {
        self->hooks->tick(self, self->hooks->arg);
    }
    return CMN_LOOP_IDLE;
}

static void
s_on_request(void *arg, zframe_t *peer, const cmn_caller_t *caller, const uint8_t *data, size_t len)
{
    cmn_svc_t *self = arg;
    self->requests++;
    cmn_svc_dispatch(self, peer, caller, data, len);
}

int
cmn_svc_run(cmn_svc_t *self)
{
    cmn_svc_job_resume_all(self);
    if (self->hooks->resumed) {
        self->hooks->resumed(self);
    }
    if (cmn_loop_run(self->loop) != CMN_OK) {
        return 1;
    }
    cmn_log_notice("SVC-STOP", "stopping");
    return 0;
}

const char *
cmn_svc_uuid(const cmn_svc_t *self)
{
    return self->uuid;
}

cmn_kv_t *
cmn_svc_kv(const cmn_svc_t *self)
{
    return self->kv;
}

const cmn_seal_t *
cmn_svc_seal(const cmn_svc_t *self)
{
    return self->seal;
}

const char *
cmn_svc_name(const cmn_svc_t *self)
{
    return self->service;
}

const cmn_svc_hooks_t *
cmn_svc_hooks(const cmn_svc_t *self)
{
    return self->hooks;
}

cmn_jobs_t *
cmn_svc_jobs(const cmn_svc_t *self)
{
    return self->jobs;
}

const cmn_lease_owner_t *
cmn_svc_owner(const cmn_svc_t *self)
{
    return &self->owner;
}

cmn_svc_job_state_t **
cmn_svc_job_state(cmn_svc_t *self)
{
    return &self->job_state;
}

const cmn_svc_config_t *
cmn_svc_config(const cmn_svc_t *self)
{
    return self->cfg;
}

void
cmn_svc_health(cmn_svc_t *self, Obt__HealthReply *h)
{
    obt__health_reply__init(h);
    h->service = self->service;
    h->uuid = self->uuid;
    h->version = CMN_PB_STR("0.1.0");
    h->uptime_ms = cmn_time_mono_ms() - self->started_ms;
    h->in_flight = (uint32_t) cmn_jobs_count(self->jobs);
    h->d_endpoint = cmn_gws_at(self->gws, 0)->d_endpoint;
    h->requests = self->requests;
    h->boot_id = self->boot_id;
    h->instance = self->owner.instance;
    static Obt__GatewayState states[CMN_GWS_MAX];
    static Obt__GatewayState *ptrs[CMN_GWS_MAX];
    static char texts[CMN_GWS_MAX][64];
    cmn_gws_health(self->gws, h, states, ptrs, texts);
}

cmn_err_t
cmn_svc_reply(cmn_svc_t *self, zframe_t *peer, const ProtobufCMessage *reply)
{
    return cmn_bus_server_send_pb(self->bus, peer, reply);
}

cmn_err_t
cmn_svc_put(cmn_svc_t *self,
            const Obt__ServiceDevice *dev,
            const Obt__DeviceHandover *handover,
            const uint8_t *psk,
            const Obt__Store__ServiceJob *job)
{
    return cmn_svc_put_leased(self, dev, handover, psk, job, CMN_SVC_LEASE_NONE, NULL);
}

/* The lease rule op for uuid in txn (cmn_svc_lease_op_t). */
static cmn_err_t
s_lease_op(cmn_svc_t *self,
           cmn_kv_txn_t *txn,
           const char *uuid,
           cmn_svc_lease_op_t op,
           cmn_lease_t *ret_holder)
{
    if (op == CMN_SVC_LEASE_NONE) {
        return CMN_OK;
    }
    cmn_err_t err = CMN_OK;
    /* KEEP and END guard the write: the lease must still be ours. Alone on the store
     * every lease is ours (cleared at start): no guard, so a single instance behaves as
     * before the leases (a forget under a running job too). */
    if (op != CMN_SVC_LEASE_TAKE && self->cfg->is_shared_store) {
        err = cmn_lease_check(txn, uuid, &self->owner, ret_holder);
    }
    if (err != CMN_OK) {
        return err;
    }
    if (op == CMN_SVC_LEASE_END) {
        return cmn_lease_release(txn, uuid, &self->owner);
    }
    return cmn_lease_take(txn, uuid, &self->owner, cmn_time_wall_ms(), CMN_LEASE_LIFE_MS,
                          ret_holder);
}

cmn_err_t
cmn_svc_put_leased(cmn_svc_t *self,
                   const Obt__ServiceDevice *dev,
                   const Obt__DeviceHandover *handover,
                   const uint8_t *psk,
                   const Obt__Store__ServiceJob *job,
                   cmn_svc_lease_op_t op,
                   cmn_lease_t *ret_holder)
{
    cmn_kv_txn_t *txn = NULL;
    Obt__Store__ServiceRecord rec = OBT__STORE__SERVICE_RECORD__INIT;
    Obt__DeviceHandover h;
    Obt__ServiceDevice d = *dev; /* a shallow copy: packed only */
    rec.version = 1;
    rec.device = &d;
    rec.job = (Obt__Store__ServiceJob *) (uintptr_t) job;
    if (handover) {
        d.gateway = handover->gateway; /* the device's view names the gateway that reaches it */
        h = *handover;
        h.psk.data = NULL; /* the key lives in "secrets" only */
        h.psk.len = 0;
        rec.handover = &h;
    }
    cmn_err_t err = cmn_kv_begin(self->kv, true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = s_lease_op(self, txn, dev->device_uuid, op, ret_holder);
    if (err == CMN_OK) {
        err = cmn_kv_put_pb(txn, "devices", dev->device_uuid, &rec.base);
    }
    if (err == CMN_OK && psk) {
        err = cmn_kv_put_sealed(txn, self->seal, "secrets", dev->device_uuid,
                                strlen(dev->device_uuid), psk, 16);
    }
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

/* The record of uuid, unpacked (free it with free_unpacked). */
static cmn_err_t
s_get_record(cmn_svc_t *self, const char *uuid, Obt__Store__ServiceRecord **ret_rec)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(self->kv, false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_get_pb(txn, "devices", uuid, &obt__store__service_record__descriptor,
                        (ProtobufCMessage **) ret_rec);
    cmn_kv_abort(&txn);
    return err;
}

cmn_err_t
cmn_svc_get(cmn_svc_t *self, const char *uuid, Obt__ServiceDevice **ret_dev)
{
    Obt__Store__ServiceRecord *rec = NULL;
    cmn_err_t err = s_get_record(self, uuid, &rec);
    if (err != CMN_OK) {
        return err;
    }
    /* Hand out the device part alone: re-pack it so the caller frees one message. */
    size_t len = rec->device ? obt__service_device__get_packed_size(rec->device) : 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (buf && rec->device) {
        (void) obt__service_device__pack(rec->device, buf);
    }
    obt__store__service_record__free_unpacked(rec, NULL);
    *ret_dev = buf ? obt__service_device__unpack(NULL, len, buf) : NULL;
    free(buf);
    return *ret_dev ? CMN_OK : CMN_EPROTO;
}

cmn_err_t
cmn_svc_get_handover(cmn_svc_t *self,
                     const char *uuid,
                     Obt__DeviceHandover **ret_handover,
                     uint8_t ret_psk[16],
                     char *ret_ep,
                     size_t ep_len)
{
    Obt__Store__ServiceRecord *rec = NULL;
    uint8_t psk[16];
    cmn_err_t err = cmn_svc_get_psk(self, uuid, psk);
    if (err != CMN_OK) {
        return err;
    }
    if ((err = s_get_record(self, uuid, &rec)) != CMN_OK) {
        goto out_wipe;
    }
    const char *ep = NULL;
    for (size_t i = 0; rec->handover && i < rec->handover->n_eps && ep == NULL; i++) {
        if (strncmp(rec->handover->eps[i], "coaps://", 8) == 0) {
            ep = rec->handover->eps[i];
        }
    }
    if (ep == NULL) {
        err = CMN_ENOTFOUND; /* a record without a secure endpoint cannot be acted on */
        goto out_free_rec;
    }
    /* Hand out the hand-over alone: re-pack it so the caller frees one message. */
    size_t len = obt__device_handover__get_packed_size(rec->handover);
    uint8_t *buf = malloc(len ? len : 1);
    Obt__DeviceHandover *h = NULL;
    if (buf) {
        (void) obt__device_handover__pack(rec->handover, buf);
        h = obt__device_handover__unpack(NULL, len, buf);
        free(buf);
    }
    if (h == NULL) {
        err = CMN_ENOMEM;
        goto out_free_rec;
    }
    (void) snprintf(ret_ep, ep_len, "%s", ep);
    memcpy(ret_psk, psk, 16);
    *ret_handover = h;
out_free_rec:
    obt__store__service_record__free_unpacked(rec, NULL);
out_wipe:
    OPENSSL_cleanse(psk, sizeof psk);
    return err;
}

cmn_err_t
cmn_svc_forget(cmn_svc_t *self, const char *uuid)
{
    cmn_kv_txn_t *txn = NULL;
    Obt__ServiceDevice *dev = NULL;
    if (cmn_svc_get(self, uuid, &dev) == CMN_OK) {
        for (size_t i = 0; i < dev->n_eps; i++) {
            if (strncmp(dev->eps[i], "coaps://", 8) == 0) {
                cmn_svc_close_session(self, dev->eps[i]);
            }
        }
        obt__service_device__free_unpacked(dev, NULL);
    }
    cmn_err_t err = cmn_kv_begin(self->kv, true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    const char *const dbs[] = {"secrets", "devices", CMN_LEASE_DB};
    for (size_t i = 0; err == CMN_OK && i < 3; i++) {
        err = cmn_kv_del(txn, dbs[i], uuid, strlen(uuid));
        err = err == CMN_ENOTFOUND ? CMN_OK : err;
    }
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

cmn_err_t
cmn_svc_get_psk(cmn_svc_t *self, const char *uuid, uint8_t ret_psk[16])
{
    cmn_kv_txn_t *txn = NULL;
    void *val = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_kv_begin(self->kv, false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_get_sealed(txn, self->seal, "secrets", uuid, strlen(uuid), &val, &len);
    cmn_kv_abort(&txn);
    if (err == CMN_OK && len == 16) {
        memcpy(ret_psk, val, 16);
    } else if (err == CMN_OK) {
        err = CMN_EPROTO;
    }
    cmn_kv_free_secret(val, len);
    return err;
}

typedef struct {
    cmn_svc_each_fn *fn;
    void *arg;
    cmn_svc_job_each_fn *job_fn; /* instead of fn: records with a job in progress */
} s_each_t;

static int
s_each(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    (void) key;
    (void) key_len;
    s_each_t *e = arg;
    Obt__Store__ServiceRecord *rec = obt__store__service_record__unpack(NULL, val_len, val);
    if (rec && rec->device && e->fn) {
        e->fn(rec->device, e->arg);
    } else if (rec && rec->device && rec->job && e->job_fn) {
        e->job_fn(rec->device->device_uuid, rec->job, e->arg);
    }
    if (rec) {
        obt__store__service_record__free_unpacked(rec, NULL);
    }
    return 0;
}

static cmn_err_t
s_walk(cmn_svc_t *self, s_each_t *e)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(self->kv, false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_each(txn, "devices", s_each, e);
    cmn_kv_abort(&txn);
    return err;
}

cmn_err_t
cmn_svc_each(cmn_svc_t *self, cmn_svc_each_fn *fn, void *arg)
{
    s_each_t e = {fn, arg, NULL};
    return s_walk(self, &e);
}

cmn_err_t
cmn_svc_get_job(cmn_svc_t *self, const char *uuid, cmn_svc_job_each_fn *fn, void *arg)
{
    Obt__Store__ServiceRecord *rec = NULL;
    cmn_err_t err = s_get_record(self, uuid, &rec);
    if (err == CMN_OK && rec->device && rec->job) {
        fn(uuid, rec->job, arg);
    } else if (err == CMN_OK) {
        err = CMN_ENOTFOUND;
    }
    if (rec) {
        obt__store__service_record__free_unpacked(rec, NULL);
    }
    return err;
}

cmn_err_t
cmn_svc_each_job(cmn_svc_t *self, cmn_svc_job_each_fn *fn, void *arg)
{
    s_each_t e = {NULL, arg, fn};
    return s_walk(self, &e);
}

/* The gateway of a device: the one its hand-over named (the record's), the first listed
 * for "" or with one gateway only. CMN_ENOTFOUND for a gateway not in --gateway. */
static cmn_err_t
s_gw_of(cmn_svc_t *self, const char *device_uuid, cmn_gw_t **ret_gw)
{
    if (cmn_gws_count(self->gws) == 1) {
        *ret_gw = cmn_gws_at(self->gws, 0);
        return CMN_OK;
    }
    Obt__ServiceDevice *dev = NULL; /* cmn_svc_put copies the hand-over's gateway into it */
    cmn_err_t err = cmn_svc_get(self, device_uuid, &dev);
    const char *name = err == CMN_OK ? dev->gateway : "";
    cmn_gw_t *gw = cmn_gws_find(self->gws, name);
    if (gw == NULL) {
        cmn_log_warn("SVC-GW-UNKNOWN", "dev=%s its gateway \"%s\" is not in --gateway", device_uuid,
                     name);
    }
    if (dev) {
        obt__service_device__free_unpacked(dev, NULL);
    }
    if (gw == NULL) {
        return CMN_ENOTFOUND;
    }
    *ret_gw = gw;
    return CMN_OK;
}

cmn_err_t
cmn_svc_gw_of(cmn_svc_t *self, const char *device_uuid, cmn_gw_t **ret_gw)
{
    return s_gw_of(self, device_uuid, ret_gw);
}

cmn_gws_t *
cmn_svc_gws(const cmn_svc_t *self)
{
    return self->gws;
}

cmn_err_t
cmn_svc_coap_sec(cmn_svc_t *self,
                 const char *device_uuid,
                 const char *endpoint,
                 const Obt__Gw__Security *sec,
                 int method,
                 const char *path,
                 const char *query,
                 const uint8_t *payload,
                 size_t len,
                 cmn_call_fn *fn,
                 void *arg)
{
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CoapRequest c = OBT__GW__COAP_REQUEST__INIT;
    c.device_uuid = CMN_PB_STR(device_uuid);
    c.endpoint = CMN_PB_STR(endpoint);
    c.method = (Obt__Gw__Method) method;
    c.path = CMN_PB_STR(path);
    c.query = CMN_PB_STR(query ? query : "");
    c.payload.data = (uint8_t *) (uintptr_t) payload;
    c.payload.len = len;
    c.security = (Obt__Gw__Security *) (uintptr_t) sec;
    c.timeout_ms = (uint32_t) self->cfg->timeout_ms;
    req.body_case = OBT__GW__REQUEST__BODY_COAP;
    req.coap = &c;
    req.corr_id = cmn_bus_next_corr_id();
    cmn_gw_t *gw = NULL;
    cmn_err_t err = s_gw_of(self, device_uuid, &gw);
    if (err != CMN_OK) {
        return err;
    }
    return cmn_calls_send(gw->calls, &req.base, req.corr_id, (uint32_t) self->cfg->timeout_ms + 500,
                          fn, arg);
}

cmn_err_t
cmn_svc_coap(cmn_svc_t *self,
             const char *device_uuid,
             const char *endpoint,
             const uint8_t psk[16],
             int method,
             const char *path,
             const char *query,
             const uint8_t *payload,
             size_t len,
             cmn_call_fn *fn,
             void *arg)
{
    Obt__Gw__Security sec = OBT__GW__SECURITY__INIT;
    cmn_uuid_t me;
    uint8_t key[16];
    (void) cmn_uuid_from_str(self->uuid, &me);
    memcpy(key, psk, 16);
    sec.kind = OBT__GW__SECURITY_KIND__SEC_PSK;
    sec.psk_identity.data = me.b;
    sec.psk_identity.len = 16;
    sec.psk_key.data = key;
    sec.psk_key.len = 16;
    cmn_err_t err = cmn_svc_coap_sec(self, device_uuid, endpoint, &sec, method, path, query,
                                     payload, len, fn, arg);
    OPENSSL_cleanse(key, sizeof key);
    return err;
}

static void
s_ignore_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    (void) arg;
    (void) data;
    (void) len;
    if (err != CMN_OK) {
        cmn_log_info("SVC-CLOSE", "gateway did not confirm a session close: %s", cmn_strerror(err));
    }
}

cmn_err_t
cmn_gw_close_session(cmn_calls_t *gw, const char *endpoint, uint32_t timeout_ms)
{
    if (endpoint == NULL || endpoint[0] == '\0') {
        return CMN_EINVAL; /* the job ended before it had an endpoint */
    }
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CloseSession cs = OBT__GW__CLOSE_SESSION__INIT;
    cs.endpoint = CMN_PB_STR(endpoint);
    req.body_case = OBT__GW__REQUEST__BODY_CLOSE_SESSION;
    req.close_session = &cs;
    req.corr_id = cmn_bus_next_corr_id();
    return cmn_calls_send(gw, &req.base, req.corr_id, timeout_ms, s_ignore_reply, NULL);
}

void
cmn_svc_close_session(cmn_svc_t *self, const char *endpoint)
{
    /* The endpoint alone does not say which gateway holds the session: ask each (one
     * without it has nothing to close). */
    for (size_t i = 0; endpoint && endpoint[0] && i < cmn_gws_count(self->gws); i++) {
        if (cmn_gw_close_session(cmn_gws_at(self->gws, i)->calls, endpoint,
                                 (uint32_t) self->cfg->timeout_ms) != CMN_OK) {
            cmn_log_info("SVC-CLOSE", "cannot ask the gateway to close a session");
        }
    }
}
