/* dots_handlers.c — the operator requests of obt-dots, one s_on_<msg>() each, and the
 * dispatch table that maps the Request oneof to them (the dispatcher is in
 * dots_service.c). Reply bodies live in static storage: the loop is single-threaded and
 * a reply is packed and sent before the next request is dispatched. */
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmn_bus.h"
#include "cmn_cert.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "dots_partition.h"
#include "dots_service_int.h"

/* The state an operator sees: a reset or repair job in progress (or failed) shows
 * instead of the onboarding state it does not change. */
static const char *
s_state_name(const dots_dev_t *r)
{
    return r->maint != MAINT_NONE && r->maint < MAINT_STATE_COUNT ? DOTS_MAINT_STATE_NAMES[r->maint]
                                                                  : DOTS_JOB_STATE_NAMES[r->state];
}

/* Is name a state name (any case) of a job or a reset/repair? Else the list of them in
 * error and CMN_EINVAL. */
static cmn_err_t
s_state_known(const char *name, char *error, size_t error_len)
{
    for (size_t i = 0; i < JOB_STATE_COUNT; i++) {
        if (strcasecmp(name, DOTS_JOB_STATE_NAMES[i]) == 0) {
            return CMN_OK;
        }
    }
    for (size_t i = 1; i < MAINT_STATE_COUNT; i++) { /* 0: NONE, not a state shown */
        if (strcasecmp(name, DOTS_MAINT_STATE_NAMES[i]) == 0) {
            return CMN_OK;
        }
    }
    size_t at = (size_t) snprintf(error, error_len, "unknown state \"%s\"; states:", name);
    for (size_t i = 0; i < JOB_STATE_COUNT + MAINT_STATE_COUNT - 1 && at < error_len; i++) {
        const char *s = i < JOB_STATE_COUNT ? DOTS_JOB_STATE_NAMES[i]
                                            : DOTS_MAINT_STATE_NAMES[i - JOB_STATE_COUNT + 1];
        at += (size_t) snprintf(error + at, error_len - at, "%s %s", i ? "," : "", s);
    }
    return CMN_EINVAL;
}

/* Fills d (and its arrays in the caller's storage) from a record. */
static void
s_device(const dots_dev_t *r,
         const char *sd_uuid,
         Obt__Dots__Device *d,
         char **eps,
         uint32_t *oxms,
         char **vods)
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
    d->otm = CMN_PB_STR(r->otm_policy);
    d->bridge_state = CMN_PB_STR(r->bridge > 0 && r->bridge < BRIDGE_STATE_COUNT
                                         ? DOTS_BRIDGE_STATE_NAMES[r->bridge]
                                         : "");
    d->bridge_error = CMN_PB_STR(r->bridge_error);
    for (size_t i = 0; i < r->n_vods; i++) {
        vods[i] = CMN_PB_STR(r->vods[i]);
    }
    d->vods = vods;
    d->n_vods = r->n_vods;
    d->bridge = CMN_PB_STR(r->bridge_uuid);
    d->is_bridge = r->is_bridge;
    d->seq = r->event_seq;
    d->claimed_by = r->claimed_by;
    d->superseded_by = CMN_PB_STR(r->superseded_by);
    d->mfg_cert_cn = CMN_PB_STR(r->mfg_cert_cn);
    d->mfg_cert_sha256 = CMN_PB_STR(r->mfg_cert_sha256);
    d->recover_attempts = r->recover_attempts;
    d->retry_at_ms = r->state == JOB_FAILED && r->maint == MAINT_NONE ? r->recover_at_ms : 0;
    d->gateway = CMN_PB_STR(r->gateway); /* "" = the first --gateway (one gateway only) */
}

/* ---------------------------------------------------------------- handlers */

static cmn_err_t
s_on_health(dots_service_t *self,
            const cmn_caller_t *caller,
            const Obt__Dots__Request *req,
            Obt__Dots__Reply *reply,
            dots_deferred_t **deferred,
            char *error,
            size_t error_len)
{
    (void) caller;
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
    static Obt__GatewayState states[CMN_GWS_MAX];
    static Obt__GatewayState *ptrs[CMN_GWS_MAX];
    static char texts[CMN_GWS_MAX][64];
    cmn_gws_health(self->gws, &h, states, ptrs, texts);
    if (self->cfg->is_shared_store) {
        h.instance = self->cfg->instance;
    }
    static char parts[3 * 64 + 8];
    dots_parts_format(dots_active_parts(self->active), (unsigned) self->cfg->parts, parts,
                      sizeof parts);
    h.parts = parts;
    reply->body_case = OBT__DOTS__REPLY__BODY_HEALTH;
    reply->health = &h;
    return CMN_OK;
}

static void
s_discovered(void *arg, cmn_err_t err, const char *error, const dots_discover_result_t *res)
{
    dots_deferred_t *d = arg;
    Obt__Dots__Reply reply = OBT__DOTS__REPLY__INIT;
    Obt__Dots__DiscoverReply dr = OBT__DOTS__DISCOVER_REPLY__INIT;
    if (err == CMN_OK) {
        dr.found = res->found;
        dr.added = res->added;
        dr.conflicts = res->conflicts;
        dr.other_partition = res->other_partition;
        dr.dropped = res->dropped;
        dr.limits = (char **) (uintptr_t) res->limits; /* packed, never written */
        dr.n_limits = res->n_limits;
        reply.body_case = OBT__DOTS__REPLY__BODY_DISCOVER;
        reply.discover = &dr;
    }
    dots_deferred_answer(d, &reply, err, error);
}

static cmn_err_t
s_on_discover(dots_service_t *self,
              const cmn_caller_t *caller,
              const Obt__Dots__Request *req,
              Obt__Dots__Reply *reply,
              dots_deferred_t **deferred,
              char *error,
              size_t error_len)
{
    (void) caller;
    (void) reply;
    const Obt__Dots__Discover *d = req->discover;
    dots_discover_opts_t opts = {.window_ms = d->window_ms,
                                 .rounds = d->rounds,
                                 .endpoints = d->endpoints,
                                 .n_endpoints = d->n_endpoints,
                                 .interfaces = d->interfaces,
                                 .n_interfaces = d->n_interfaces,
                                 .scopes = d->scopes,
                                 .n_scopes = d->n_scopes};
    cmn_err_t err = dots_engine_discover(self->engine, &opts, s_discovered, *deferred);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot ask the gateway: %s", cmn_strerror(err));
        return err;
    }
    *deferred = NULL; /* answered when the gateway replies */
    return CMN_OK;
}

/* obtctl devices --count: how many records per state, from memory (no record packed). */
static cmn_err_t
s_on_count(dots_service_t *self, const char *filter, Obt__Dots__Reply *reply)
{
    enum { N_NAMES = JOB_STATE_COUNT + MAINT_STATE_COUNT + 1 };
    static Obt__Dots__DeviceList list;
    static Obt__Dots__StateCount counts[N_NAMES], *ptrs[N_NAMES];
    const char *names[N_NAMES];
    uint32_t n_of[N_NAMES];
    size_t n_names = 0;
    const dots_dev_t *r;
    for (size_t i = 0; (r = dots_engine_device(self->engine, i)) != NULL; i++) {
        const char *name = r->superseded_by[0] ? "superseded" : s_state_name(r);
        if (filter && filter[0] && strcasecmp(filter, s_state_name(r)) != 0) {
            continue;
        }
        size_t k = 0;
        while (k < n_names && names[k] != name) { /* static names: one pointer each */
            k++;
        }
        if (k == n_names && n_names < N_NAMES) {
            names[n_names] = name;
            n_of[n_names++] = 0;
        }
        n_of[k < N_NAMES ? k : N_NAMES - 1]++;
    }
    obt__dots__device_list__init(&list);
    for (size_t k = 0; k < n_names; k++) {
        obt__dots__state_count__init(&counts[k]);
        counts[k].state = CMN_PB_STR(names[k]);
        counts[k].count = n_of[k];
        ptrs[k] = &counts[k];
    }
    list.counts = ptrs;
    list.n_counts = n_names;
    reply->body_case = OBT__DOTS__REPLY__BODY_LIST;
    reply->list = &list;
    return CMN_OK;
}

static cmn_err_t
s_on_list(dots_service_t *self,
          const cmn_caller_t *caller,
          const Obt__Dots__Request *req,
          Obt__Dots__Reply *reply,
          dots_deferred_t **deferred,
          char *error,
          size_t error_len)
{
    (void) caller;
    (void) deferred;
    const char *filter = req->list->state;
    if (filter && filter[0] && s_state_known(filter, error, error_len) != CMN_OK) {
        return CMN_EINVAL;
    }
    if (req->list->counts_only) {
        return s_on_count(self, filter, reply);
    }
    size_t n = 0;
    while (dots_engine_device(self->engine, n)) {
        n++;
    }
    static Obt__Dots__DeviceList list;
    static Obt__Dots__Device *items;
    static Obt__Dots__Device **ptrs;
    static char **eps;
    static uint32_t *oxms;
    static char **vods;
    size_t n_vods = 0; /* only Bridges have VODs: one slice each, not DOTS_MAX_VODS per device */
    for (size_t i = 0; i < n; i++) {
        n_vods += dots_engine_device(self->engine, i)->n_vods;
    }
    free(items);
    free(ptrs);
    free(eps);
    free(oxms);
    free(vods);
    items = calloc(n + 1, sizeof *items);
    ptrs = calloc(n + 1, sizeof *ptrs);
    eps = calloc((n + 1) * DOTS_MAX_EPS, sizeof *eps);
    oxms = calloc((n + 1) * DOTS_MAX_OXMS, sizeof *oxms);
    vods = calloc(n_vods + 1, sizeof *vods);
    if (!items || !ptrs || !eps || !oxms || !vods) {
        return CMN_ENOMEM;
    }
    size_t vod_at = 0;
    obt__dots__device_list__init(&list);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const dots_dev_t *r = dots_engine_device(self->engine, i);
        if (filter && filter[0] && strcasecmp(filter, s_state_name(r)) != 0) {
            continue;
        }
        s_device(r, self->id.sd_uuid, &items[k], &eps[k * DOTS_MAX_EPS], &oxms[k * DOTS_MAX_OXMS],
                 &vods[vod_at]);
        vod_at += r->n_vods;
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
    for (size_t i = 0; !sel->all && i < sel->n_uuids; i++) {
        if (dots_engine_find(self->engine, sel->uuids[i]) == NULL) {
            /* nothing done: a typo must not approve or onboard the rest silently */
            char part[160] = "";
            if (dots_engine_other_part(self->engine, sel->uuids[i], part + 2, sizeof part - 2)) {
                memcpy(part, ": ", 2);
            }
            (void) snprintf(error, error_len, "%s: unknown device%s (nothing %s)", sel->uuids[i],
                            part, approve ? "approved" : "onboarded");
            return CMN_ENOTFOUND;
        }
    }
    size_t count = 0;
    cmn_err_t err;
    if (approve && sel->endpoint[0]) {
        /* A conflict resolved by the operator: one device, one claim. */
        if (sel->all || sel->n_uuids != 1) {
            (void) snprintf(error, error_len, "--endpoint names the claim of one device");
            return CMN_EINVAL;
        }
        err = dots_engine_approve_endpoint(self->engine, sel->uuids[0], sel->endpoint, error,
                                           error_len);
        count = err == CMN_OK ? 1 : 0;
    } else if (approve) {
        err = dots_engine_approve(self->engine, sel->uuids, sel->n_uuids, sel->all, &count,
                                  &skipped, &n_skipped);
    } else {
        err = dots_engine_onboard(self->engine, sel->uuids, sel->n_uuids, sel->all, sel->otm, error,
                                  error_len, &count, &skipped, &n_skipped);
    }
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
             const cmn_caller_t *caller,
             const Obt__Dots__Request *req,
             Obt__Dots__Reply *reply,
             dots_deferred_t **deferred,
             char *error,
             size_t error_len)
{
    (void) caller;
    (void) deferred;
    return s_select(self, req->approve, true, reply, error, error_len);
}

static cmn_err_t
s_on_onboard(dots_service_t *self,
             const cmn_caller_t *caller,
             const Obt__Dots__Request *req,
             Obt__Dots__Reply *reply,
             dots_deferred_t **deferred,
             char *error,
             size_t error_len)
{
    (void) caller;
    (void) deferred;
    return s_select(self, req->onboard, false, reply, error, error_len);
}

/* Reply storage of show and pin (see the note at the top). */
static struct {
    Obt__Dots__Device d;
    char *eps[DOTS_MAX_EPS];
    uint32_t oxms[DOTS_MAX_OXMS];
    char *vods[DOTS_MAX_VODS];
    dots_dev_t rec;
} s_one;

static cmn_err_t
s_on_pin(dots_service_t *self,
         const cmn_caller_t *caller,
         const Obt__Dots__Request *req,
         Obt__Dots__Reply *reply,
         dots_deferred_t **deferred,
         char *error,
         size_t error_len)
{
    (void) caller;
    (void) deferred;
    char *pin = req->pin->pin;
    cmn_err_t err = dots_engine_pin(self->engine, req->pin->uuid, pin, error, error_len);
    if (pin) {
        OPENSSL_cleanse(pin, strlen(pin));
    }
    if (err != CMN_OK) {
        return err;
    }
    s_device(dots_engine_find(self->engine, req->pin->uuid), self->id.sd_uuid, &s_one.d, s_one.eps,
             s_one.oxms, s_one.vods);
    reply->body_case = OBT__DOTS__REPLY__BODY_PIN;
    reply->pin = &s_one.d;
    return CMN_OK;
}

static cmn_err_t
s_on_show(dots_service_t *self,
          const cmn_caller_t *caller,
          const Obt__Dots__Request *req,
          Obt__Dots__Reply *reply,
          dots_deferred_t **deferred,
          char *error,
          size_t error_len)
{
    (void) caller;
    (void) deferred;
    Obt__Dots__Device *d = &s_one.d;
    char **eps = s_one.eps;
    uint32_t *oxms = s_one.oxms;
    dots_dev_t *rec_p = &s_one.rec;
    const dots_dev_t *r = dots_engine_find(self->engine, req->show->uuid);
    if (r == NULL && dots_store_get(self->store, req->show->uuid, rec_p) == CMN_OK) {
        r = rec_p;
    }
    if (r == NULL) {
        (void) snprintf(error, error_len, "no device %s", req->show->uuid);
        return CMN_ENOTFOUND;
    }
    s_device(r, self->id.sd_uuid, d, eps, oxms, s_one.vods);
    reply->body_case = OBT__DOTS__REPLY__BODY_SHOW;
    reply->show = d;
    return CMN_OK;
}

/* ------------------------------------------------- manufacturer trust anchors */

#define S_MAX_ANCHORS 64 /* per reply */

/* Reply storage of the mfg-trust requests (see the note at the top). */
static struct {
    Obt__Dots__TrustAnchorList list;
    Obt__Dots__TrustAnchor items[S_MAX_ANCHORS];
    Obt__Dots__TrustAnchor *ptrs[S_MAX_ANCHORS];
    char ids[S_MAX_ANCHORS][DOTS_TRUST_ID_LEN + 1];
    char subjects[S_MAX_ANCHORS][256];
    char not_after[S_MAX_ANCHORS][64];
    uint8_t *pems[S_MAX_ANCHORS]; /* owned until the next request */
} s_trust;

static void
s_trust_reset(Obt__Dots__Reply *reply)
{
    for (size_t i = 0; i < S_MAX_ANCHORS; i++) {
        free(s_trust.pems[i]);
        s_trust.pems[i] = NULL;
    }
    obt__dots__trust_anchor_list__init(&s_trust.list);
    s_trust.list.anchors = s_trust.ptrs;
    reply->body_case = OBT__DOTS__REPLY__BODY_TRUST;
    reply->trust = &s_trust.list;
}

/* Appends one certificate (and its PEM, copied) to the reply list. */
static cmn_err_t
s_trust_append(X509 *cert, const uint8_t *pem, size_t len)
{
    size_t i = s_trust.list.n_anchors;
    if (i >= S_MAX_ANCHORS) {
        return CMN_ENOSPC;
    }
    Obt__Dots__TrustAnchor *a = &s_trust.items[i];
    obt__dots__trust_anchor__init(a);
    cmn_err_t err =
            cmn_cert_describe(cert, s_trust.ids[i], s_trust.subjects[i], sizeof s_trust.subjects[i],
                              s_trust.not_after[i], sizeof s_trust.not_after[i]);
    s_trust.pems[i] = malloc(len ? len : 1);
    if (err != CMN_OK || s_trust.pems[i] == NULL) {
        return CMN_ENOMEM;
    }
    memcpy(s_trust.pems[i], pem, len);
    a->id = s_trust.ids[i];
    a->subject = s_trust.subjects[i];
    a->not_after = s_trust.not_after[i];
    a->pem.data = s_trust.pems[i];
    a->pem.len = len;
    a->credusage = CMN_PB_STR("oic.sec.cred.mfgtrustca");
    s_trust.ptrs[i] = a;
    s_trust.list.n_anchors = i + 1;
    return CMN_OK;
}

static cmn_err_t
s_pem_of(X509 *cert, uint8_t **ret_pem, size_t *ret_len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    cmn_err_t err = CMN_ENOMEM;
    if (b && PEM_write_bio_X509(b, cert) == 1 && (n = BIO_get_mem_data(b, &data)) > 0 &&
        (*ret_pem = malloc((size_t) n)) != NULL) {
        memcpy(*ret_pem, data, (size_t) n);
        *ret_len = (size_t) n;
        err = CMN_OK;
    }
    BIO_free(b);
    return err;
}

static cmn_err_t
s_on_mfg_trust_add(dots_service_t *self,
                   const cmn_caller_t *caller,
                   const Obt__Dots__Request *req,
                   Obt__Dots__Reply *reply,
                   dots_deferred_t **deferred,
                   char *error,
                   size_t error_len)
{
    (void) caller;
    (void) deferred;
    STACK_OF(X509) *certs =
            cmn_cert_parse_pem(req->mfg_trust_add->pem.data, req->mfg_trust_add->pem.len);
    if (certs == NULL) {
        (void) snprintf(error, error_len, "no PEM certificate in the request");
        return CMN_EINVAL;
    }
    /* Check all before storing any: a bundle is added whole or not at all. */
    cmn_err_t err = CMN_OK;
    for (int i = 0; err == CMN_OK && i < sk_X509_num(certs); i++) {
        if (X509_check_ca(sk_X509_value(certs, i)) == 0) {
            char fp[65], subject[256], na[64];
            (void) cmn_cert_describe(sk_X509_value(certs, i), fp, subject, sizeof subject, na,
                                     sizeof na);
            (void) snprintf(error, error_len,
                            "%s is not a CA certificate (a trust anchor must be able to "
                            "issue certificates)",
                            subject);
            err = CMN_EINVAL;
        }
    }
    s_trust_reset(reply);
    for (int i = 0; err == CMN_OK && i < sk_X509_num(certs); i++) {
        X509 *cert = sk_X509_value(certs, i);
        uint8_t *pem = NULL;
        size_t len = 0;
        err = s_pem_of(cert, &pem, &len);
        if (err == CMN_OK) {
            err = s_trust_append(cert, pem, len);
        }
        if (err == CMN_OK) {
            err = dots_store_trust_put(self->store, s_trust.ids[s_trust.list.n_anchors - 1], pem,
                                       len);
        }
        free(pem);
        if (err == CMN_OK) {
            cmn_log_notice("DOTS-TRUST-ADD", "manufacturer trust anchor %s added (%s)",
                           s_trust.ids[s_trust.list.n_anchors - 1],
                           s_trust.subjects[s_trust.list.n_anchors - 1]);
        }
    }
    sk_X509_pop_free(certs, X509_free);
    return err;
}

typedef struct {
    const char *prefix; /* NULL: all */
    size_t matches;
    cmn_err_t err;
} s_trust_list_t;

static int
s_trust_collect(const char *id, const uint8_t *pem, size_t len, void *arg)
{
    s_trust_list_t *l = arg;
    if (l->prefix && strncmp(id, l->prefix, strlen(l->prefix)) != 0) {
        return 0;
    }
    l->matches++;
    STACK_OF(X509) *certs = cmn_cert_parse_pem(pem, len);
    if (certs) {
        cmn_err_t err = s_trust_append(sk_X509_value(certs, 0), pem, len);
        l->err = l->err == CMN_OK ? err : l->err;
    }
    sk_X509_pop_free(certs, X509_free);
    return 0;
}

static cmn_err_t
s_on_mfg_trust_list(dots_service_t *self,
                    const cmn_caller_t *caller,
                    const Obt__Dots__Request *req,
                    Obt__Dots__Reply *reply,
                    dots_deferred_t **deferred,
                    char *error,
                    size_t error_len)
{
    (void) caller;
    (void) req;
    (void) deferred;
    (void) error;
    (void) error_len;
    s_trust_list_t l = {NULL, 0, CMN_OK};
    s_trust_reset(reply);
    cmn_err_t err = dots_store_trust_each(self->store, s_trust_collect, &l);
    return err == CMN_OK ? l.err : err;
}

static cmn_err_t
s_on_mfg_trust_remove(dots_service_t *self,
                      const cmn_caller_t *caller,
                      const Obt__Dots__Request *req,
                      Obt__Dots__Reply *reply,
                      dots_deferred_t **deferred,
                      char *error,
                      size_t error_len)
{
    (void) caller;
    (void) deferred;
    const char *prefix = req->mfg_trust_remove->id;
    size_t plen = prefix ? strlen(prefix) : 0;
    if (plen < 8 || plen > DOTS_TRUST_ID_LEN) {
        (void) snprintf(error, error_len, "give the anchor's id, or 8 or more of its first digits");
        return CMN_EINVAL;
    }
    s_trust_list_t l = {prefix, 0, CMN_OK};
    s_trust_reset(reply);
    cmn_err_t err = dots_store_trust_each(self->store, s_trust_collect, &l);
    if (err == CMN_OK && l.matches == 0) {
        (void) snprintf(error, error_len, "no trust anchor %s", prefix);
        return CMN_ENOTFOUND;
    }
    if (err == CMN_OK && l.matches > 1) {
        (void) snprintf(error, error_len, "%zu anchors start with %s: give more digits", l.matches,
                        prefix);
        return CMN_EINVAL;
    }
    if (err == CMN_OK && s_trust.list.n_anchors == 1) {
        err = dots_store_trust_del(self->store, s_trust.ids[0]);
    }
    if (err == CMN_OK) {
        cmn_log_notice("DOTS-TRUST-RM", "manufacturer trust anchor %s removed", s_trust.ids[0]);
    }
    return err;
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
    char *vods[DOTS_MAX_VODS];
    if (err == CMN_OK && dev) {
        s_device(dev, d->svc->id.sd_uuid, &dd, eps, oxms, vods);
        reply.body_case = OBT__DOTS__REPLY__BODY_REPAIR;
        reply.repair = &dd;
    } else if (err == CMN_OK) {
        rr.outcome = CMN_PB_STR("forgotten");
        reply.body_case = OBT__DOTS__REPLY__BODY_RESET;
        reply.reset = &rr;
    }
    dots_deferred_answer(d, &reply, err, error);
}

static cmn_err_t
s_on_reset(dots_service_t *self,
           const cmn_caller_t *caller,
           const Obt__Dots__Request *req,
           Obt__Dots__Reply *reply,
           dots_deferred_t **deferred,
           char *error,
           size_t error_len)
{
    (void) caller;
    (void) reply;
    cmn_err_t err = req->reset->if_not_owned
                            ? dots_maint_forget(self->maint, req->reset->uuid, s_maint_done,
                                                *deferred, error, error_len)
                            : dots_maint_reset(self->maint, req->reset->uuid, req->reset->forget,
                                               s_maint_done, *deferred, error, error_len);
    if (err == CMN_OK) {
        *deferred = NULL; /* answered when the reset job ends */
    }
    return err;
}

static cmn_err_t
s_on_repair(dots_service_t *self,
            const cmn_caller_t *caller,
            const Obt__Dots__Request *req,
            Obt__Dots__Reply *reply,
            dots_deferred_t **deferred,
            char *error,
            size_t error_len)
{
    (void) caller;
    (void) reply;
    cmn_err_t err = dots_maint_repair(self->maint, req->repair->uuid, s_maint_done, *deferred,
                                      error, error_len);
    if (err == CMN_OK) {
        *deferred = NULL; /* answered when the repair job ends */
    }
    return err;
}

/* The operator API: every request but health is the operator's (obtctl); no service
 * calls DOTS (docs/security.md). */
const dots_handler_row_t DOTS_HANDLERS[] = {
        {{OBT__DOTS__REQUEST__BODY_HEALTH, "health", CMN_PARTY_ANY}, s_on_health},
        {{OBT__DOTS__REQUEST__BODY_DISCOVER, "discover", CMN_PARTY_OPERATOR}, s_on_discover},
        {{OBT__DOTS__REQUEST__BODY_LIST, "list", CMN_PARTY_OPERATOR}, s_on_list},
        {{OBT__DOTS__REQUEST__BODY_APPROVE, "approve", CMN_PARTY_OPERATOR}, s_on_approve},
        {{OBT__DOTS__REQUEST__BODY_ONBOARD, "onboard", CMN_PARTY_OPERATOR}, s_on_onboard},
        {{OBT__DOTS__REQUEST__BODY_SHOW, "show", CMN_PARTY_OPERATOR}, s_on_show},
        {{OBT__DOTS__REQUEST__BODY_PIN, "pin", CMN_PARTY_OPERATOR}, s_on_pin},
        {{OBT__DOTS__REQUEST__BODY_MFG_TRUST_ADD, "mfg-trust add", CMN_PARTY_OPERATOR},
         s_on_mfg_trust_add},
        {{OBT__DOTS__REQUEST__BODY_MFG_TRUST_LIST, "mfg-trust list", CMN_PARTY_OPERATOR},
         s_on_mfg_trust_list},
        {{OBT__DOTS__REQUEST__BODY_MFG_TRUST_REMOVE, "mfg-trust rm", CMN_PARTY_OPERATOR},
         s_on_mfg_trust_remove},
        {{OBT__DOTS__REQUEST__BODY_RESET, "reset", CMN_PARTY_OPERATOR}, s_on_reset},
        {{OBT__DOTS__REQUEST__BODY_REPAIR, "repair", CMN_PARTY_OPERATOR}, s_on_repair},
};

const size_t DOTS_HANDLER_COUNT = sizeof DOTS_HANDLERS / sizeof DOTS_HANDLERS[0];
