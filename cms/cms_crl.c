/* cms_crl.c — the CRL push: the persisted queue (named DB "crl_push"), its tick, and
 * the action job that writes the CRL to a device's /oic/sec/crl. A job's every run
 * starts by reading pstat, so a run resumed after a kill -9 finds the device where the
 * killed run left it; the "maint" record says whether a CMS run moved it out of RFNOP
 * (then this run moves it back), which a device in RFPRO cannot tell by itself. */
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
    size_t n_pending; /* entries in the queue */
    cmn_jobs_t *jobs; /* running jobs: their devices wait */
} s_scan_t;

static int
s_scan_one(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    s_scan_t *s = arg;
    Obt__Store__CmsCrlPending *p = obt__store__cms_crl_pending__unpack(NULL, val_len, val);
    char uuid[37];
    s->n_pending++;
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
    } else if (s->n < s->max && cmn_jobs_find(s->jobs, uuid) == NULL) {
        s_due_t *d = &s->items[s->n++];
        (void) snprintf(d->uuid, sizeof d->uuid, "%s", uuid);
        d->number = p->crl_number;
        d->attempts = p->attempts;
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
        if (p == NULL) {
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

static void
s_start_push(cmn_svc_t *svc, const s_due_t *d)
{
    Obt__Store__CmsAction act = OBT__STORE__CMS_ACTION__INIT;
    Obt__Store__CmsCrlPush push = OBT__STORE__CMS_CRL_PUSH__INIT;
    push.crl_number = d->number;
    act.body_case = OBT__STORE__CMS_ACTION__BODY_CRL_PUSH;
    act.crl_push = &push;
    uint8_t buf[64];
    size_t len = obt__store__cms_action__get_packed_size(&act);
    if (len > sizeof buf) {
        return;
    }
    (void) obt__store__cms_action__pack(&act, buf);
    cmn_log_info("CMS-CRL-PUSH", "dev=%s CRL %llu: try %u", d->uuid, (unsigned long long) d->number,
                 d->attempts + 1);
    cmn_svc_job_action(svc, NULL, 0, d->uuid, buf, len);
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
    cmn_err_t err = t ? cms_crl_queue(svc, t) : CMN_ENOMEM;
    if (err == CMN_OK) {
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
    size_t running = cmn_jobs_count(jobs);
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
    /* a full pass (or entries left waiting for a job slot) looks again soon; an idle
     * queue waits for its soonest try, at most a second */
    uint64_t next = now + (s.n_pending > 0 && s.soonest == UINT64_MAX ? 100 : 1000);
    if (s.soonest != UINT64_MAX && s.soonest < next) {
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

/* ------------------------------------------------------------------ the push job */

typedef enum {
    PH_READ = 0, /* GET pstat */
    PH_RFPRO,    /* POST pstat dos.s=2 (from RFNOP) */
    PH_WRITE,    /* POST /oic/sec/crl */
    PH_RFNOP,    /* POST pstat dos.s=3 (back, when a CMS run moved it) */
} s_phase_t;

typedef struct {
    s_phase_t phase;
    Obt__Store__CmsAction *act; /* the action (unpacked from job->action) */
    bool is_moved;              /* a CMS run moved the device out of RFNOP */
    int refused_code;           /* the device refused the CRL: its code */
    uint64_t pushed;            /* the CRL number sent */
} s_work_t;

_Static_assert(sizeof(s_work_t) <= CMS_CRL_WORK_SIZE, "CMS_CRL_WORK_SIZE too small");

static void s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r);

static cmn_err_t
s_maint(cmn_svc_t *svc, const char *uuid, bool is_set)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), true, &txn);
    if (err == CMN_OK) {
        err = is_set ? cmn_kv_put(txn, CMS_CRL_DB_MAINT, uuid, 36, "rfnop", 5)
                     : cmn_kv_del(txn, CMS_CRL_DB_MAINT, uuid, 36);
        err = err == CMN_ENOTFOUND ? CMN_OK : err;
    }
    if (err == CMN_OK) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

static bool
s_is_maint(cmn_svc_t *svc, const char *uuid)
{
    cmn_kv_txn_t *txn = NULL;
    void *val = NULL;
    size_t len = 0;
    bool is_set = false;
    if (cmn_kv_begin(cmn_svc_kv(svc), false, &txn) == CMN_OK) {
        is_set = cmn_kv_get(txn, CMS_CRL_DB_MAINT, uuid, 36, &val, &len) == CMN_OK;
        cmn_kv_abort(&txn);
    }
    free(val);
    return is_set;
}

static void
s_pstat(cmn_svc_job_t *job, const char *step, int64_t dos_s)
{
    cmn_pstat_t ps = {.present = CMN_PSTAT_HAS_DOS, .dos_s = dos_s};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_pstat_encode(&ps, &buf, &len) != CMN_OK) {
        cmn_svc_job_finish(job, CMN_ENOMEM, "cannot encode pstat", NULL);
        return;
    }
    cmn_svc_job_coap(job, step, OBT__GW__METHOD__METHOD_POST, "/oic/sec/pstat", NULL, buf, len,
                     s_on_reply);
    free(buf);
}

/* The CRL as CMS signs it now, in the /oic/sec/crl encoding. */
static void
s_write(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    cms_t *cms = cmn_svc_hooks(job->svc)->arg;
    X509_CRL *crl = NULL;
    uint8_t *der = NULL, *body = NULL;
    size_t blen = 0;
    struct tm tm;
    cmn_crl_t c;
    memset(&c, 0, sizeof c);
    cmn_err_t err = cms_ca_crl_number(cmn_svc_kv(job->svc), &w->pushed);
    if (err == CMN_OK) {
        err = cms_ca_crl(cms_ca(cms), cmn_svc_kv(job->svc), cms_crl_refresh_s(cms), &crl);
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
        err = cmn_crl_encode(&c, &body, &blen);
    }
    OPENSSL_free(der);
    X509_CRL_free(crl);
    if (err != CMN_OK) {
        char why[96];
        (void) snprintf(why, sizeof why, "cannot make the CRL: %s", cmn_strerror(err));
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    cmn_svc_job_coap(job, "POST crl", OBT__GW__METHOD__METHOD_POST, "/oic/sec/crl", NULL, body,
                     blen, s_on_reply);
    free(body);
}

/* The device holds CRL w->pushed: its queue entry goes unless a later CRL was queued
 * meanwhile, then the job ends with the record as it was. */
static void
s_done(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(job->svc), true, &txn);
    Obt__Store__CmsCrlPending *p = err == CMN_OK ? s_get_pending(txn, job->head.uuid) : NULL;
    if (p && p->crl_number <= w->pushed) {
        err = cmn_kv_del(txn, CMS_CRL_DB_PUSH, job->head.uuid, 36);
    } else if (p) {
        p->next_ms = 0; /* a later CRL waits: at once */
        p->attempts = 0;
        err = cmn_kv_put_pb(txn, CMS_CRL_DB_PUSH, job->head.uuid, &p->base);
    }
    if (p) {
        obt__store__cms_crl_pending__free_unpacked(p, NULL);
    }
    if (err == CMN_OK) {
        err = cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    if (err != CMN_OK) {
        cmn_svc_job_finish(job, err, "cannot record the CRL push", NULL);
        return;
    }
    Obt__ServiceDevice *held = NULL;
    if ((err = cmn_svc_get(job->svc, job->head.uuid, &held)) != CMN_OK) {
        cmn_svc_job_finish(job, err, "cannot read the device's record", NULL);
        return;
    }
    Obt__ServiceDevice dev = *held; /* shallow: fields set by finish never reach held's */
    cmn_log_notice("CMS-CRL-PUSHED", "dev=%s holds CRL %llu", job->head.uuid,
                   (unsigned long long) w->pushed);
    cmn_svc_job_finish(job, CMN_OK, NULL, &dev);
    obt__service_device__free_unpacked(held, NULL);
}

static void
s_on_read(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    cmn_pstat_t ps;
    char why[96];
    if (cmn_pstat_decode(r->payload.data, r->payload.len, &ps) != CMN_OK ||
        !(ps.present & CMN_PSTAT_HAS_DOS)) {
        cmn_svc_job_finish(job, CMN_EPROTO, "GET pstat: invalid CBOR from the device", NULL);
        return;
    }
    w->is_moved = s_is_maint(job->svc, job->head.uuid);
    if (ps.dos_s == CMN_DOS_RFNOP) {
        cmn_err_t err = s_maint(job->svc, job->head.uuid, true); /* before it leaves RFNOP */
        if (err != CMN_OK) {
            cmn_svc_job_finish(job, err, "cannot record the maintenance", NULL);
            return;
        }
        w->is_moved = true;
        w->phase = PH_RFPRO;
        s_pstat(job, "RFPRO", CMN_DOS_RFPRO);
    } else if (ps.dos_s == CMN_DOS_RFPRO) {
        /* being provisioned (by us before a restart, or by another service) */
        w->phase = PH_WRITE;
        s_write(job);
    } else {
        (void) snprintf(why, sizeof why, "the device is in dos.s %lld: CRL not pushed",
                        (long long) ps.dos_s);
        cmn_svc_job_finish(job, CMN_ESTATE, why, NULL);
    }
}

static void
s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    char why[160];
    unsigned want = w->phase == PH_READ ? 205 : 204;
    if (w->phase != PH_WRITE && r->code != want) {
        (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step, r->code / 100,
                        r->code % 100);
        cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
        return;
    }
    switch (w->phase) {
    case PH_READ:
        s_on_read(job, r);
        return;
    case PH_RFPRO:
        w->phase = PH_WRITE;
        s_write(job);
        return;
    case PH_WRITE:
        if (r->code != 204 && r->code != 201) {
            w->refused_code = (int) r->code;
        }
        if (w->is_moved) {
            w->phase = PH_RFNOP; /* back to RFNOP first, refused or not */
            s_pstat(job, "RFNOP", CMN_DOS_RFNOP);
            return;
        }
        break;
    case PH_RFNOP:
        if (s_maint(job->svc, job->head.uuid, false) != CMN_OK) {
            cmn_log_warn("CMS-CRL-MAINT", "dev=%s cannot clear its maintenance record",
                         job->head.uuid);
        }
        break;
    }
    if (w->refused_code != 0) {
        (void) snprintf(why, sizeof why, "the device refused the CRL: %d.%02d",
                        w->refused_code / 100, w->refused_code % 100);
        cmn_log_warn("CMS-CRL-REFUSED", "dev=%s %s", job->head.uuid, why);
        cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
        return;
    }
    s_done(job);
}

void
cms_crl_start(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    cms_crl_drop(job);
    memset(w, 0, sizeof *w);
    w->act = obt__store__cms_action__unpack(NULL, job->action_len, job->action);
    if (w->act == NULL || w->act->body_case != OBT__STORE__CMS_ACTION__BODY_CRL_PUSH) {
        cmn_svc_job_finish(job, CMN_EPROTO, "the stored action does not unpack", NULL);
        return;
    }
    w->phase = PH_READ;
    cmn_svc_job_coap(job, "GET pstat", OBT__GW__METHOD__METHOD_GET, "/oic/sec/pstat", NULL, NULL, 0,
                     s_on_reply);
}

void
cms_crl_drop(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    if (w->act) {
        obt__store__cms_action__free_unpacked(w->act, NULL);
        w->act = NULL;
    }
}
