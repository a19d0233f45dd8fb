/* cms_crl.c — the CRL push: the persisted queue (named DB "crl_push"), its tick, the
 * CRL payload a push job sends (cms_action.c runs the job) and the queue's bookkeeping
 * when a device holds it */
#include "cms_crl.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_time.h"
#include "cmn_uuid.h"
#include "cms_action.h"
#include "cms_ca.h"
#include "cms_service.h"

/* ------------------------------------------------------------------ targets */

struct cms_crl_targets {
    char (*uuids)[37]; /* malloc'd */
    size_t n, cap;
    bool is_short;   /* out of memory while collecting */
    uint64_t number; /* the CRL number the queueing made */
    size_t n_queued; /* pending records written */
};

static bool
s_targets_add(cms_crl_targets_t *t, const char *uuid)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        char(*grown)[37] = realloc(t->uuids, cap * sizeof *grown);
        if (grown == NULL) {
            t->is_short = true;
            return false;
        }
        t->uuids = grown;
        t->cap = cap;
    }
    (void) snprintf(t->uuids[t->n++], sizeof t->uuids[0], "%s", uuid);
    return true;
}

static bool
s_is_target(const Obt__ServiceDevice *dev)
{
    return (dev->sct & CMN_CREDTYPE_CERT) != 0 && dev->cert_serial && dev->cert_serial[0];
}

static void
s_collect_target(const Obt__ServiceDevice *dev, void *arg)
{
    if (s_is_target(dev)) {
        (void) s_targets_add(arg, dev->device_uuid);
    }
}

cms_crl_targets_t *
cms_crl_targets_new(cmn_svc_t *svc)
{
    cms_crl_targets_t *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    if (cmn_svc_each(svc, s_collect_target, t) != CMN_OK || t->is_short) {
        cms_crl_targets_destroy(&t);
    }
    return t;
}

void
cms_crl_targets_destroy(cms_crl_targets_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    free((*self_p)->uuids);
    free(*self_p);
    *self_p = NULL;
}

size_t
cms_crl_targets_count(const cms_crl_targets_t *self)
{
    return self->n;
}

/* The pending record of uuid in txn; NULL if none (or unreadable: replaced). */
static Obt__Store__CmsCrlPending *
s_get_pending(cmn_kv_txn_t *txn, const char *uuid)
{
    Obt__Store__CmsCrlPending *p = NULL;
    if (cmn_kv_get_pb(txn, CMS_CRL_DB_PUSH, uuid, &obt__store__cms_crl_pending__descriptor,
                      (ProtobufCMessage **) &p) != CMN_OK) {
        return NULL;
    }
    return p;
}

cmn_err_t
cms_crl_queue_in_txn(cmn_kv_txn_t *txn, void *arg)
{
    cms_crl_targets_t *t = arg;
    cmn_err_t err = cms_ca_crl_bump(txn, &t->number);
    uint64_t now = cmn_time_wall_ms();
    t->n_queued = 0;
    for (size_t i = 0; err == CMN_OK && i < t->n; i++) {
        Obt__Store__CmsCrlPending rec = OBT__STORE__CMS_CRL_PENDING__INIT;
        Obt__Store__CmsCrlPending *old = s_get_pending(txn, t->uuids[i]);
        rec.crl_number = t->number;
        rec.since_ms = old ? old->since_ms : now; /* waiting since its first CRL missed */
        if (old) {
            obt__store__cms_crl_pending__free_unpacked(old, NULL);
        }
        err = cmn_kv_put_pb(txn, CMS_CRL_DB_PUSH, t->uuids[i], &rec.base);
        t->n_queued += err == CMN_OK;
    }
    return err;
}

cmn_err_t
cms_crl_queue(cmn_svc_t *svc, cms_crl_targets_t *targets)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), true, &txn);
    if (err == CMN_OK) {
        err = cms_crl_queue_in_txn(txn, targets);
    }
    if (err == CMN_OK) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

cmn_err_t
cms_crl_queue_device(cmn_svc_t *svc, const char *uuid)
{
    uint64_t number = 0;
    cmn_err_t err = cms_ca_crl_number(cmn_svc_kv(svc), &number);
    if (err != CMN_OK || number == 0) {
        return err; /* no CRL yet: nothing to push */
    }
    cmn_kv_txn_t *txn = NULL;
    if ((err = cmn_kv_begin(cmn_svc_kv(svc), true, &txn)) != CMN_OK) {
        return err;
    }
    Obt__Store__CmsCrlPending rec = OBT__STORE__CMS_CRL_PENDING__INIT;
    rec.crl_number = number;
    rec.since_ms = cmn_time_wall_ms();
    err = cmn_kv_put_pb(txn, CMS_CRL_DB_PUSH, uuid, &rec.base);
    if (err == CMN_OK) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

/* ------------------------------------------------------------------ the queue */

struct cms_crl {
    uint64_t next_scan_ms;    /* wall ms of the next look at the queue */
    uint64_t next_refresh_ms; /* wall ms of the next check for a refresh round */
};

cms_crl_t *
cms_crl_new(void)
{
    return calloc(1, sizeof(cms_crl_t));
}

void
cms_crl_destroy(cms_crl_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    free(*self_p);
    *self_p = NULL;
}

void
cms_crl_kick(cms_crl_t *self)
{
    self->next_scan_ms = 0;
}

/* A due entry, read in the scan. */
typedef struct {
    char uuid[37];
    uint64_t number;
    uint32_t attempts;
} s_due_t;

typedef struct {
    s_due_t *items;
    size_t n, max;
    uint64_t now;
    uint64_t soonest; /* the earliest next try among the entries not due */
    size_t n_waiting; /* due entries left for a free job slot */
    cmn_jobs_t *jobs; /* running jobs: their devices wait */
} s_scan_t;

static int
s_scan_one(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    s_scan_t *s = arg;
    Obt__Store__CmsCrlPending *p = obt__store__cms_crl_pending__unpack(NULL, val_len, val);
    char uuid[37];
    if (p == NULL || key_len != 36) {
        if (p) {
            obt__store__cms_crl_pending__free_unpacked(p, NULL);
        }
        return 0;
    }
    memcpy(uuid, key, 36);
    uuid[36] = '\0';
    if (p->next_ms > s->now) {
        s->soonest = p->next_ms < s->soonest ? p->next_ms : s->soonest;
    } else if (cmn_jobs_find(s->jobs, uuid) != NULL) {
        s->n_waiting++; /* its device is busy: after that job */
    } else if (s->n < s->max) {
        s_due_t *d = &s->items[s->n++];
        (void) snprintf(d->uuid, sizeof d->uuid, "%s", uuid);
        d->number = p->crl_number;
        d->attempts = p->attempts;
    } else {
        s->n_waiting++;
    }
    obt__store__cms_crl_pending__free_unpacked(p, NULL);
    return 0;
}

static uint64_t
s_backoff_ms(uint32_t attempts)
{
    uint64_t ms = CMS_CRL_BACKOFF_MS;
    for (uint32_t i = 1; i < attempts && ms < CMS_CRL_BACKOFF_MAX; i++) {
        ms *= 2;
    }
    return ms < CMS_CRL_BACKOFF_MAX ? ms : CMS_CRL_BACKOFF_MAX;
}

/* Records the tries about to start (attempts + 1, next try after the backoff) and
 * drops the entries of devices CMS no longer has; returns how many to start. */
static size_t
s_mark_started(cmn_svc_t *svc, s_scan_t *s)
{
    cmn_kv_txn_t *txn = NULL;
    size_t n = 0;
    if (cmn_kv_begin(cmn_svc_kv(svc), true, &txn) != CMN_OK) {
        return 0;
    }
    cmn_err_t err = CMN_OK;
    for (size_t i = 0; err == CMN_OK && i < s->n; i++) {
        s_due_t *d = &s->items[i];
        void *val = NULL;
        size_t len = 0;
        if (cmn_kv_get(txn, "devices", d->uuid, 36, &val, &len) == CMN_ENOTFOUND) {
            cmn_log_info("CMS-CRL-DROP", "dev=%s no longer managed: taken out of the CRL queue",
                         d->uuid);
            err = cmn_kv_del(txn, CMS_CRL_DB_PUSH, d->uuid, 36);
            continue;
        }
        free(val);
        Obt__Store__CmsCrlPending *p = s_get_pending(txn, d->uuid);
        if (p == NULL || p->next_ms > s->now) {
            /* gone, or another instance on the store started this try since the scan */
            if (p) {
                obt__store__cms_crl_pending__free_unpacked(p, NULL);
            }
            continue;
        }
        p->attempts = d->attempts + 1;
        p->next_ms = s->now + s_backoff_ms(p->attempts);
        err = cmn_kv_put_pb(txn, CMS_CRL_DB_PUSH, d->uuid, &p->base);
        obt__store__cms_crl_pending__free_unpacked(p, NULL);
        s->items[n++] = *d;
    }
    if (err == CMN_OK) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    if (err != CMN_OK) {
        cmn_log_err("CMS-CRL-QUEUE", "cannot record the CRL push tries: %s", cmn_strerror(err));
        return 0;
    }
    return n;
}

static void s_start_push(cmn_svc_t *svc, const s_due_t *d);

/* Queues the refresh round t in one write if the CRL number there is still seen, the
 * one that made it due: another instance on the store may have run it since (D97).
 * *ret_is_queued says whether it was. */
static cmn_err_t
s_queue_refresh(cmn_svc_t *svc, cms_crl_targets_t *t, uint64_t seen, bool *ret_is_queued)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    *ret_is_queued = cms_ca_crl_number_in(txn) == seen;
    if (*ret_is_queued) {
        err = cms_crl_queue_in_txn(txn, t);
    }
    if (err == CMN_OK && *ret_is_queued) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

/* A --crl-refresh round when the current CRL number (the time of the last round or
 * revocation) is refresh_s old. */
static void
s_refresh(cmn_svc_t *svc, cms_t *cms, uint64_t now)
{
    uint64_t number = 0;
    if (cms_ca_crl_number(cmn_svc_kv(svc), &number) != CMN_OK || number == 0 ||
        now / 1000 < number + (uint64_t) cms_crl_refresh_s(cms)) {
        return;
    }
    cms_crl_targets_t *t = cms_crl_targets_new(svc);
    bool is_queued = false;
    cmn_err_t err = t ? s_queue_refresh(svc, t, number, &is_queued) : CMN_ENOMEM;
    if (err == CMN_OK && !is_queued) {
        cmn_log_info("CMS-CRL-REFRESH", "another instance ran this round");
    } else if (err == CMN_OK) {
        cmn_log_notice("CMS-CRL-REFRESH", "CRL %llu: queued for %zu device(s)",
                       (unsigned long long) t->number, t->n_queued);
        cms_crl_kick(cms_crl_state(cms));
    } else {
        cmn_log_err("CMS-CRL-REFRESH", "cannot queue the CRL refresh: %s", cmn_strerror(err));
    }
    cms_crl_targets_destroy(&t);
}

void
cms_crl_tick(cmn_svc_t *svc, void *arg)
{
    cms_t *cms = arg;
    cms_crl_t *self = cms_crl_state(cms);
    uint64_t now = cmn_time_wall_ms();
    if (now >= self->next_refresh_ms) {
        self->next_refresh_ms = now + 1000;
        s_refresh(svc, cms, now);
    }
    if (now < self->next_scan_ms) {
        return;
    }
    cmn_jobs_t *jobs = cmn_svc_jobs(svc);
    size_t running = cmn_svc_job_count_busy(svc); /* a job waiting for its gateway: no slot */
    s_scan_t s = {NULL, 0, 0, now, UINT64_MAX, 0, jobs};
    s.max = running < CMS_CRL_MAX_JOBS ? CMS_CRL_MAX_JOBS - running : 0;
    s.items = s.max ? calloc(s.max, sizeof *s.items) : NULL;
    cmn_kv_txn_t *txn = NULL;
    if (cmn_kv_begin(cmn_svc_kv(svc), false, &txn) == CMN_OK) {
        (void) cmn_kv_each(txn, CMS_CRL_DB_PUSH, s_scan_one, &s);
        cmn_kv_abort(&txn);
    }
    size_t n = s.items ? s_mark_started(svc, &s) : 0;
    for (size_t i = 0; i < n; i++) {
        s_start_push(svc, &s.items[i]);
    }
    free(s.items);
    /* due entries left for a job slot: look again soon (a push that ends kicks the
     * queue too); else at the soonest next try, at most a second from now */
    uint64_t next = now + (s.n_waiting > 0 ? 50 : 1000);
    if (s.soonest < next) {
        next = s.soonest;
    }
    self->next_scan_ms = next;
}

/* ------------------------------------------------------------------ pending list */

typedef struct {
    char **uuids;
    size_t n, cap;
    bool is_short;
} s_list_t;

static int
s_list_one(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    (void) val;
    (void) val_len;
    s_list_t *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **grown = realloc(l->uuids, cap * sizeof *grown);
        if (grown == NULL) {
            l->is_short = true;
            return 1;
        }
        l->uuids = grown;
        l->cap = cap;
    }
    char *u = malloc(key_len + 1);
    if (u == NULL) {
        l->is_short = true;
        return 1;
    }
    memcpy(u, key, key_len);
    u[key_len] = '\0';
    l->uuids[l->n++] = u;
    return 0;
}

cmn_err_t
cms_crl_pending(cmn_svc_t *svc, char ***ret_uuids, size_t *ret_n)
{
    s_list_t l = {NULL, 0, 0, false};
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), false, &txn);
    if (err == CMN_OK) {
        err = cmn_kv_each(txn, CMS_CRL_DB_PUSH, s_list_one, &l);
        cmn_kv_abort(&txn);
    }
    if (err == CMN_OK && l.is_short) {
        err = CMN_ENOMEM;
    }
    if (err != CMN_OK) {
        cms_crl_pending_free(l.uuids, l.n);
        return err;
    }
    *ret_uuids = l.uuids;
    *ret_n = l.n;
    return CMN_OK;
}

void
cms_crl_pending_free(char **uuids, size_t n)
{
    for (size_t i = 0; uuids && i < n; i++) {
        free(uuids[i]);
    }
    free(uuids);
}

/* ------------------------------------------------------------------ the push */

cmn_err_t
cms_crl_body(cmn_svc_t *svc, uint8_t **ret_body, size_t *ret_len, uint64_t *ret_number)
{
    cms_t *cms = cmn_svc_hooks(svc)->arg;
    X509_CRL *crl = NULL;
    uint8_t *der = NULL;
    uint64_t number = 0;
    struct tm tm;
    cmn_crl_t c;
    memset(&c, 0, sizeof c);
    cmn_err_t err = cms_ca_crl_number(cmn_svc_kv(svc), &number);
    if (err == CMN_OK) {
        err = cms_ca_crl(cms_ca(cms), cmn_svc_kv(svc), cms_crl_refresh_s(cms), &crl);
    }
    int dlen = err == CMN_OK ? i2d_X509_CRL(crl, &der) : -1;
    if (err == CMN_OK && (dlen <= 0 || ASN1_TIME_to_tm(X509_CRL_get0_lastUpdate(crl), &tm) != 1)) {
        err = CMN_ECRYPTO;
    }
    if (err == CMN_OK) {
        c.crlid = 1; /* one CRL per device: each push replaces it */
        (void) strftime(c.thisupdate, sizeof c.thisupdate, "%Y-%m-%dT%H:%M:%SZ", &tm);
        c.der = der;
        c.der_len = (size_t) dlen;
        err = cmn_crl_encode(&c, ret_body, ret_len);
    }
    OPENSSL_free(der);
    X509_CRL_free(crl);
    if (err == CMN_OK) {
        *ret_number = number;
    }
    return err;
}

cmn_err_t
cms_crl_delivered(cmn_svc_t *svc, const char *uuid, uint64_t number, bool is_back)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), true, &txn);
    Obt__Store__CmsCrlPending *p = err == CMN_OK ? s_get_pending(txn, uuid) : NULL;
    if (err == CMN_OK && is_back) {
        /* the device is back in RFNOP: the end of the maintenance in the same write */
        err = cmn_kv_del(txn, CMS_ACTION_DB_MAINT, uuid, 36);
        err = err == CMN_ENOTFOUND ? CMN_OK : err;
    }
    if (err == CMN_OK && p && p->crl_number <= number) {
        err = cmn_kv_del(txn, CMS_CRL_DB_PUSH, uuid, 36);
    } else if (err == CMN_OK && p) {
        p->next_ms = 0; /* a later CRL waits: at once */
        p->attempts = 0;
        err = cmn_kv_put_pb(txn, CMS_CRL_DB_PUSH, uuid, &p->base);
    }
    if (p) {
        obt__store__cms_crl_pending__free_unpacked(p, NULL);
    }
    if (err == CMN_OK) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    if (err == CMN_OK) {
        cmn_log_notice("CMS-CRL-PUSHED", "dev=%s holds CRL %llu", uuid,
                       (unsigned long long) number);
        cms_crl_kick(cms_crl_state(cmn_svc_hooks(svc)->arg)); /* a job slot is free */
    }
    return err;
}

static void
s_start_push(cmn_svc_t *svc, const s_due_t *d)
{
    Obt__Store__CmsAction act = OBT__STORE__CMS_ACTION__INIT;
    Obt__Store__CmsCrlPush push = OBT__STORE__CMS_CRL_PUSH__INIT;
    push.crl_number = d->number;
    act.body_case = OBT__STORE__CMS_ACTION__BODY_CRL_PUSH;
    act.crl_push = &push;
    cmn_log_info("CMS-CRL-PUSH", "dev=%s CRL %llu: try %u", d->uuid, (unsigned long long) d->number,
                 d->attempts + 1);
    cms_action_run(svc, NULL, 0, d->uuid, &act);
}
