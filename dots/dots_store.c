/* dots_store.c — LMDB persistence for DOTS */
#include "dots_store.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_commit.h"
#include "cmn_kv.h"
#include "cmn_time.h"
#include "cmn_uuid.h"
#include "obt/store.pb-c.h"

#define DB_IDENTITY "identity"
#define DB_DEVICES  "devices"
#define DB_ALIASES  "aliases"
#define DB_SECRETS  "secrets"
#define DB_MFGTRUST "mfgtrust" /* fingerprint -> PEM of one manufacturer trust anchor */

struct dots_store {
    cmn_kv_t *kv;           /* the environment */
    const cmn_seal_t *seal; /* seals DB_SECRETS (borrowed) */
    cmn_commit_t *commit;   /* the group every write goes into (dots_store_flush) */
    /* the fence (dots_store_fence), set once the active lease is ours: */
    char active_key[32];             /* the lease take and release use (dots_store_set_part) */
    uint64_t fenced_parts;           /* --parts: the parts whose leases the fence checks
                                        (bit K; 0: active_key alone) */
    cmn_lease_owner_t owner;         /* this instance */
    cmn_lease_t holder;              /* who held the lease when the guard refused */
    dots_store_fenced_fn *on_fenced; /* told then */
    void *fenced_arg;                /* its argument */
};

dots_store_t *
dots_store_new(
        const char *dir, bool durable, size_t map_size, const cmn_seal_t *seal, cmn_err_t *ret_err)
{
    static const char *const dbs[] = {DB_IDENTITY, DB_DEVICES,  DB_ALIASES,
                                      DB_SECRETS,  DB_MFGTRUST, CMN_LEASE_DB};
    dots_store_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        *ret_err = CMN_ENOMEM;
        return NULL;
    }
    self->seal = seal;
    (void) snprintf(self->active_key, sizeof self->active_key, "%s", DOTS_STORE_ACTIVE_KEY);
    self->kv = cmn_kv_new(dir, dbs, sizeof dbs / sizeof dbs[0], map_size, durable, ret_err);
    if (self->kv == NULL) {
        free(self);
        return NULL;
    }
    self->commit = cmn_commit_new(self->kv);
    if (self->commit == NULL) {
        cmn_kv_destroy(&self->kv);
        free(self);
        *ret_err = CMN_ENOMEM;
        return NULL;
    }
    return self;
}

void
dots_store_destroy(dots_store_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_commit_destroy(&(*self_p)->commit);
    cmn_kv_destroy(&(*self_p)->kv);
    free(*self_p);
    *self_p = NULL;
}

cmn_err_t
dots_store_flush(dots_store_t *self)
{
    return cmn_commit_flush(self->commit);
}

cmn_err_t
dots_store_flush_pass(dots_store_t *self)
{
    /* Fenced (several instances, D91): no group outlives a pass, since an open group
     * holds LMDB's writer lock, and a standby must be able to take the lease while
     * this instance waits in its poll (or hangs there). */
    return cmn_commit_flush_pass(self->commit, self->on_fenced ? 0 : DOTS_STORE_LAZY_MAX_MS);
}

void
dots_store_stats(const dots_store_t *self, cmn_commit_stats_t *ret)
{
    cmn_commit_stats(self->commit, ret);
}

/* One lease write in a commit of its own: takes (or renews) the lease under key for
 * owner for life_ms, or releases it (life_ms 0). Another owner's lease (CMN_EEXIST) is
 * left as it is, and is no error here. */
static cmn_err_t
s_lease_commit(dots_store_t *self,
               const char *key,
               const cmn_lease_owner_t *owner,
               uint32_t life_ms)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_commit_begin(self->commit, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = life_ms ? cmn_lease_take(txn, key, owner, cmn_time_wall_ms(), life_ms, NULL)
                  : cmn_lease_release(txn, key, owner);
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err == CMN_EEXIST ? cmn_commit_flush(self->commit) : err;
    }
    err = cmn_kv_commit(&txn);
    return err != CMN_OK ? err : cmn_commit_flush(self->commit);
}

/* The lease of part K (-1: the one active lease of D91). */
static void
s_part_key(int part, char *key, size_t cap)
{
    if (part < 0) {
        (void) snprintf(key, cap, "%s", DOTS_STORE_ACTIVE_KEY);
    } else {
        (void) snprintf(key, cap, "%s%d", DOTS_STORE_PART_KEY, part);
    }
}

void
dots_store_set_part(dots_store_t *self, int part)
{
    s_part_key(part, self->active_key, sizeof self->active_key);
}

void
dots_store_fence_part(dots_store_t *self, int part)
{
    if (part >= 0 && part < 64) {
        self->fenced_parts |= (uint64_t) 1 << part;
    }
}

/* The lease under key as committed: CMN_EEXIST live (*ret_holder), CMN_OK none or run
 * out (*ret_holder: the last holder, if any), or the store's error. */
static cmn_err_t
s_peek(dots_store_t *self, const char *key, cmn_lease_t *ret_holder)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin_own(self->kv, &txn);
    if (err != CMN_OK) {
        return err;
    }
    static const cmn_lease_owner_t nobody = {{0}, 0};
    cmn_lease_t holder = {0};
    err = cmn_lease_check(txn, key, &nobody, &holder);
    cmn_kv_abort(&txn);
    if (err == CMN_ENOTFOUND) {
        return CMN_OK; /* released, or never taken */
    }
    if (err != CMN_EEXIST && err != CMN_OK) {
        return err;
    }
    if (ret_holder) {
        *ret_holder = holder;
    }
    return holder.until_ms > cmn_time_wall_ms() ? CMN_EEXIST : CMN_OK;
}

cmn_err_t
dots_store_active_peek(dots_store_t *self, int part, cmn_lease_t *ret_holder)
{
    char key[32];
    s_part_key(part, key, sizeof key);
    return s_peek(self, key, ret_holder);
}

cmn_err_t
dots_store_standby_waiting(dots_store_t *self, cmn_lease_t *ret_who)
{
    return s_peek(self, DOTS_STORE_STANDBY_KEY, ret_who);
}

cmn_err_t
dots_store_standby_mark(dots_store_t *self, const cmn_lease_owner_t *owner, bool is_waiting)
{
    return s_lease_commit(self, DOTS_STORE_STANDBY_KEY, owner,
                          is_waiting ? DOTS_STORE_STANDBY_LIFE_MS : 0);
}

cmn_err_t
dots_store_part_release(dots_store_t *self, int part, const cmn_lease_owner_t *owner)
{
    cmn_err_t err = cmn_commit_flush(self->commit);
    if (err != CMN_OK || part < 0 || part >= 64) {
        return err != CMN_OK ? err : CMN_EINVAL;
    }
    uint64_t bit = (uint64_t) 1 << part;
    self->fenced_parts &= ~bit; /* the commit below is fenced by the other parts alone */
    char key[32];
    s_part_key(part, key, sizeof key);
    err = s_lease_commit(self, key, owner, 0);
    if (err != CMN_OK) {
        self->fenced_parts |= bit; /* still ours: still fenced */
    }
    return err;
}

cmn_err_t
dots_store_active_take(dots_store_t *self, const cmn_lease_owner_t *owner, cmn_lease_t *ret_holder)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_commit_begin(self->commit, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_lease_take(txn, self->active_key, owner, cmn_time_wall_ms(), CMN_LEASE_LIFE_MS,
                         ret_holder);
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

cmn_err_t
dots_store_active_release(dots_store_t *self, const cmn_lease_owner_t *owner)
{
    cmn_err_t err = cmn_commit_flush(self->commit);
    if (err != CMN_OK) {
        return err;
    }
    cmn_commit_set_guard(self->commit, NULL, NULL, NULL); /* the release checks itself */
    return s_lease_commit(self, self->active_key, owner, 0);
}

cmn_err_t
dots_store_leases_clear(dots_store_t *self)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_commit_begin(self->commit, &txn);
    if (err != CMN_OK) {
        return err;
    }
    if ((err = cmn_lease_clear(txn)) != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

/* The fence: the group is stored only while the active lease is ours (one get), or
 * with --parts every lease of a part this instance serves (one get each). */
static cmn_err_t
s_guard(cmn_kv_txn_t *txn, void *arg)
{
    dots_store_t *self = arg;
    memset(&self->holder, 0, sizeof self->holder);
    cmn_err_t err = CMN_OK;
    if (self->fenced_parts == 0) {
        err = cmn_lease_check(txn, self->active_key, &self->owner, &self->holder);
    }
    for (int k = 0; k < 64 && err == CMN_OK && self->fenced_parts >> k; k++) {
        char key[32];
        if ((self->fenced_parts >> k) & 1u) {
            s_part_key(k, key, sizeof key);
            err = cmn_lease_check(txn, key, &self->owner, &self->holder);
        }
    }
    return err == CMN_ENOTFOUND ? CMN_EEXIST : err; /* removed: not ours either */
}

static void
s_refused(cmn_err_t err, void *arg)
{
    dots_store_t *self = arg;
    if (err == CMN_EEXIST) { /* else the lease could not be read: a failed commit */
        self->on_fenced(&self->holder, self->fenced_arg);
    }
}

void
dots_store_fence(dots_store_t *self,
                 const cmn_lease_owner_t *owner,
                 dots_store_fenced_fn *on_fenced,
                 void *arg)
{
    self->owner = *owner;
    self->on_fenced = on_fenced;
    self->fenced_arg = arg;
    cmn_commit_set_guard(self->commit, s_guard, s_refused, self);
}

cmn_err_t
dots_store_check_kek(dots_store_t *self, size_t *ret_migrated)
{
    return cmn_kv_reseal(self->kv, DB_SECRETS, NULL, self->seal, ret_migrated);
}

cmn_err_t
dots_store_identity(dots_store_t *self, const char *name, dots_identity_t *ret)
{
    cmn_kv_txn_t *txn = NULL;
    Obt__Store__Identity *id = NULL;
    cmn_err_t err = cmn_kv_begin(self->kv, true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_get_pb(txn, DB_IDENTITY, "self", &obt__store__identity__descriptor,
                        (ProtobufCMessage **) &id);
    if (err == CMN_OK) {
        (void) snprintf(ret->uuid, sizeof ret->uuid, "%s", id->uuid);
        (void) snprintf(ret->sd_uuid, sizeof ret->sd_uuid, "%s", id->sd_uuid);
        (void) snprintf(ret->name, sizeof ret->name, "%s", id->name);
        obt__store__identity__free_unpacked(id, NULL);
        cmn_kv_abort(&txn);
        return CMN_OK;
    }
    if (err != CMN_ENOTFOUND) {
        cmn_kv_abort(&txn);
        return err;
    }
    cmn_uuid_t u, sd;
    if ((err = cmn_uuid_generate_identity(&u)) != CMN_OK ||
        (err = cmn_uuid_generate(&sd)) != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    cmn_uuid_to_str(&u, ret->uuid);
    cmn_uuid_to_str(&sd, ret->sd_uuid);
    (void) snprintf(ret->name, sizeof ret->name, "%s", name);
    Obt__Store__Identity rec = OBT__STORE__IDENTITY__INIT;
    rec.version = 1;
    rec.uuid = ret->uuid;
    rec.sd_uuid = ret->sd_uuid;
    rec.name = ret->name;
    rec.created_ms = cmn_time_wall_ms();
    err = cmn_kv_put_pb(txn, DB_IDENTITY, "self", &rec.base);
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

const char *
dots_dev_part_uuid(const dots_dev_t *dev)
{
    return dev->part_uuid[0] ? dev->part_uuid : dev->first_uuid;
}

const char *
dots_dev_ep(const dots_dev_t *dev, bool secure)
{
    for (size_t i = 0; i < dev->n_eps; i++) {
        if ((strncmp(dev->eps[i], "coaps://", 8) == 0) == secure) {
            return dev->eps[i];
        }
    }
    return NULL;
}

cmn_err_t
dots_dev_set_mfg_cert(dots_dev_t *dev, const char *cn, const char *sha256)
{
    cn = cn ? cn : "";
    sha256 = sha256 ? sha256 : "";
    size_t n = strlen(cn);
    bool ok = (n == 0) == (sha256[0] == '\0') && n < sizeof dev->mfg_cert_cn &&
              (sha256[0] == '\0' ||
               (strlen(sha256) == 64 && strspn(sha256, "0123456789abcdef") == 64));
    for (size_t i = 0; ok && i < n; i++) {
        ok = (unsigned char) cn[i] >= 0x20 && (unsigned char) cn[i] < 0x7f;
    }
    if (!ok) {
        return CMN_EPROTO;
    }
    (void) snprintf(dev->mfg_cert_cn, sizeof dev->mfg_cert_cn, "%s", cn);
    (void) snprintf(dev->mfg_cert_sha256, sizeof dev->mfg_cert_sha256, "%s", sha256);
    return CMN_OK;
}

static void
s_to_pb(const dots_dev_t *d, Obt__Store__DotsDevice *r, char **eps, uint32_t *oxms, char **vods)
{
    r->version = 1;
    r->uuid = CMN_PB_STR(d->uuid);
    r->first_uuid = CMN_PB_STR(d->first_uuid);
    r->new_uuid = CMN_PB_STR(d->new_uuid);
    r->state = (uint32_t) d->state;
    r->step = (uint32_t) d->step;
    r->error = CMN_PB_STR(d->error);
    for (size_t i = 0; i < d->n_eps; i++) {
        eps[i] = CMN_PB_STR(d->eps[i]);
    }
    r->eps = eps;
    r->n_eps = d->n_eps;
    for (size_t i = 0; i < d->n_oxms; i++) {
        oxms[i] = (uint32_t) d->oxms[i];
    }
    r->oxms = oxms;
    r->n_oxms = d->n_oxms;
    r->sct = d->sct;
    r->oxmsel = d->oxmsel;
    r->approved = d->approved;
    r->owned = d->owned;
    r->discovered_ms = d->discovered_ms;
    r->updated_ms = d->updated_ms;
    r->started_ms = d->started_ms;
    r->finished_ms = d->finished_ms;
    r->attempts = d->attempts;
    r->cipher = CMN_PB_STR(d->cipher);
    r->deadline_ms = d->deadline_ms;
    r->cms_done = d->cms_done;
    r->ams_done = d->ams_done;
    r->otm_policy = CMN_PB_STR(d->otm_policy);
    r->maint = (uint32_t) d->maint;
    r->maint_error = CMN_PB_STR(d->maint_error);
    r->maint_updated_ms = d->maint_updated_ms;
    r->bridge = (uint32_t) d->bridge;
    r->is_bridge = d->is_bridge;
    r->part_uuid = CMN_PB_STR(d->part_uuid);
    for (size_t i = 0; i < d->n_vods; i++) {
        vods[i] = CMN_PB_STR(d->vods[i]);
    }
    r->vods = vods;
    r->n_vods = d->n_vods;
    r->bridge_uuid = CMN_PB_STR(d->bridge_uuid);
    r->bridge_error = CMN_PB_STR(d->bridge_error);
    r->bridge_deadline_ms = d->bridge_deadline_ms;
    r->event_seq = d->event_seq;
    r->recover_attempts = d->recover_attempts;
    r->recover_at_ms = d->recover_at_ms;
    r->superseded_by = CMN_PB_STR(d->superseded_by);
    r->mfg_cert_cn = CMN_PB_STR(d->mfg_cert_cn);
    r->mfg_cert_sha256 = CMN_PB_STR(d->mfg_cert_sha256);
    r->gateway = CMN_PB_STR(d->gateway);
}

static void
s_from_pb(const Obt__Store__DotsDevice *r, dots_dev_t *d)
{
    memset(d, 0, sizeof *d);
    (void) snprintf(d->uuid, sizeof d->uuid, "%s", r->uuid);
    (void) snprintf(d->first_uuid, sizeof d->first_uuid, "%s", r->first_uuid);
    (void) snprintf(d->new_uuid, sizeof d->new_uuid, "%s", r->new_uuid);
    d->state = (int) r->state;
    d->step = (int) r->step;
    (void) snprintf(d->error, sizeof d->error, "%s", r->error);
    for (size_t i = 0; i < r->n_eps && i < DOTS_MAX_EPS; i++) {
        (void) snprintf(d->eps[i], sizeof d->eps[i], "%s", r->eps[i]);
        d->n_eps++;
    }
    for (size_t i = 0; i < r->n_oxms && i < DOTS_MAX_OXMS; i++) {
        d->oxms[d->n_oxms++] = r->oxms[i];
    }
    d->sct = r->sct;
    d->oxmsel = r->oxmsel;
    d->approved = r->approved;
    d->owned = r->owned;
    d->discovered_ms = r->discovered_ms;
    d->updated_ms = r->updated_ms;
    d->started_ms = r->started_ms;
    d->finished_ms = r->finished_ms;
    d->deadline_ms = r->deadline_ms;
    d->attempts = r->attempts;
    (void) snprintf(d->cipher, sizeof d->cipher, "%s", r->cipher);
    d->cms_done = r->cms_done;
    d->ams_done = r->ams_done;
    (void) snprintf(d->otm_policy, sizeof d->otm_policy, "%s", r->otm_policy);
    d->maint = (int) r->maint;
    (void) snprintf(d->maint_error, sizeof d->maint_error, "%s", r->maint_error);
    d->maint_updated_ms = r->maint_updated_ms;
    d->bridge = (int) r->bridge;
    d->is_bridge = r->is_bridge;
    (void) snprintf(d->part_uuid, sizeof d->part_uuid, "%s", r->part_uuid);
    for (size_t i = 0; i < r->n_vods && i < DOTS_MAX_VODS; i++) {
        (void) snprintf(d->vods[d->n_vods++], sizeof d->vods[0], "%s", r->vods[i]);
    }
    (void) snprintf(d->bridge_uuid, sizeof d->bridge_uuid, "%s", r->bridge_uuid);
    (void) snprintf(d->bridge_error, sizeof d->bridge_error, "%s", r->bridge_error);
    d->bridge_deadline_ms = r->bridge_deadline_ms;
    d->event_seq = r->event_seq;
    for (size_t i = 0; i < r->n_claims && i < DOTS_MAX_CLAIMS; i++) {
        dots_claim_t *c = &d->claims[d->n_claims++];
        (void) snprintf(c->source, sizeof c->source, "%s", r->claims[i]->source);
        for (size_t e = 0; e < r->claims[i]->n_eps && e < DOTS_CLAIM_EPS; e++) {
            (void) snprintf(c->eps[c->n_eps++], sizeof c->eps[0], "%s", r->claims[i]->eps[e]);
        }
    }
    d->claimed_by = r->claimed_by;
    d->recover_attempts = r->recover_attempts;
    d->recover_at_ms = r->recover_at_ms;
    (void) snprintf(d->superseded_by, sizeof d->superseded_by, "%s", r->superseded_by);
    (void) snprintf(d->mfg_cert_cn, sizeof d->mfg_cert_cn, "%s", r->mfg_cert_cn);
    (void) snprintf(d->mfg_cert_sha256, sizeof d->mfg_cert_sha256, "%s", r->mfg_cert_sha256);
    (void) snprintf(d->gateway, sizeof d->gateway, "%s", r->gateway);
}

/* The claims of a conflict, pointing into d (borrowed). */
typedef struct {
    Obt__Store__DotsClaim claims[DOTS_MAX_CLAIMS];
    Obt__Store__DotsClaim *ptrs[DOTS_MAX_CLAIMS];
    char *eps[DOTS_MAX_CLAIMS][DOTS_CLAIM_EPS];
} s_claims_pb_t;

static void
s_claims_to_pb(const dots_dev_t *d, Obt__Store__DotsDevice *r, s_claims_pb_t *buf)
{
    for (size_t i = 0; i < d->n_claims && i < DOTS_MAX_CLAIMS; i++) {
        obt__store__dots_claim__init(&buf->claims[i]);
        buf->claims[i].source = CMN_PB_STR(d->claims[i].source);
        for (size_t e = 0; e < d->claims[i].n_eps && e < DOTS_CLAIM_EPS; e++) {
            buf->eps[i][e] = CMN_PB_STR(d->claims[i].eps[e]);
        }
        buf->claims[i].eps = buf->eps[i];
        buf->claims[i].n_eps = d->claims[i].n_eps;
        buf->ptrs[i] = &buf->claims[i];
    }
    r->claims = buf->ptrs;
    r->n_claims = d->n_claims;
    r->claimed_by = d->claimed_by;
}

static cmn_err_t s_put(dots_store_t *self,
                       const dots_dev_t *dev,
                       const dots_secret_t *secret,
                       const char *old_uuid,
                       bool is_lazy);

cmn_err_t
dots_store_put(dots_store_t *self,
               const dots_dev_t *dev,
               const dots_secret_t *secret,
               const char *old_uuid)
{
    return s_put(self, dev, secret, old_uuid, false);
}

cmn_err_t
dots_store_put_lazy(dots_store_t *self, const dots_dev_t *dev)
{
    return s_put(self, dev, NULL, NULL, true);
}

static cmn_err_t
s_put(dots_store_t *self,
      const dots_dev_t *dev,
      const dots_secret_t *secret,
      const char *old_uuid,
      bool is_lazy)
{
    cmn_kv_txn_t *txn = NULL;
    char *eps[DOTS_MAX_EPS];
    uint32_t oxms[DOTS_MAX_OXMS];
    char *vods[DOTS_MAX_VODS];
    Obt__Store__DotsDevice rec = OBT__STORE__DOTS_DEVICE__INIT;
    Obt__Store__DotsSecret sec = OBT__STORE__DOTS_SECRET__INIT;
    uint8_t keys[3][16];
    s_claims_pb_t claims;
    s_to_pb(dev, &rec, eps, oxms, vods);
    s_claims_to_pb(dev, &rec, &claims);
    cmn_err_t err = is_lazy ? cmn_commit_begin_lazy(self->commit, &txn)
                            : cmn_commit_begin(self->commit, &txn);
    if (err != CMN_OK) {
        return err;
    }
    bool rekey = old_uuid && old_uuid[0] && strcmp(old_uuid, dev->uuid) != 0;
    if (rekey) {
        err = cmn_kv_del(txn, DB_DEVICES, old_uuid, strlen(old_uuid));
        if (err == CMN_OK || err == CMN_ENOTFOUND) {
            err = cmn_kv_put(txn, DB_ALIASES, old_uuid, strlen(old_uuid), dev->uuid,
                             strlen(dev->uuid));
        }
        if (err == CMN_OK && strcmp(dev->first_uuid, old_uuid) != 0) {
            err = cmn_kv_put(txn, DB_ALIASES, dev->first_uuid, strlen(dev->first_uuid), dev->uuid,
                             strlen(dev->uuid));
        }
        if (err == CMN_OK && secret == NULL) {
            void *val = NULL;
            size_t len = 0;
            /* Sealed for old_uuid: opened and sealed again for the new key. */
            err = cmn_kv_get_sealed(txn, self->seal, DB_SECRETS, old_uuid, strlen(old_uuid), &val,
                                    &len);
            if (err == CMN_OK) {
                err = cmn_kv_put_sealed(txn, self->seal, DB_SECRETS, dev->uuid, strlen(dev->uuid),
                                        val, len);
                cmn_kv_free_secret(val, len);
                if (err == CMN_OK) {
                    err = cmn_kv_del(txn, DB_SECRETS, old_uuid, strlen(old_uuid));
                }
            } else if (err == CMN_ENOTFOUND) {
                err = CMN_OK;
            }
        } else if (err == CMN_OK) {
            (void) cmn_kv_del(txn, DB_SECRETS, old_uuid, strlen(old_uuid));
        }
    }
    if (err == CMN_OK) {
        err = cmn_kv_put_pb(txn, DB_DEVICES, dev->uuid, &rec.base);
    }
    if (err == CMN_OK && secret) {
        sec.version = 1;
        memcpy(keys[0], secret->owner_psk, 16);
        memcpy(keys[1], secret->cms_psk, 16);
        memcpy(keys[2], secret->ams_psk, 16);
        sec.owner_psk = (ProtobufCBinaryData){secret->has_owner ? 16 : 0, keys[0]};
        sec.cms_psk = (ProtobufCBinaryData){secret->has_cms ? 16 : 0, keys[1]};
        sec.ams_psk = (ProtobufCBinaryData){secret->has_ams ? 16 : 0, keys[2]};
        err = cmn_kv_put_pb_sealed(txn, self->seal, DB_SECRETS, dev->uuid, &sec.base);
        OPENSSL_cleanse(keys, sizeof keys);
    }
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

static cmn_err_t
s_resolve(cmn_kv_txn_t *txn, const char *uuid, char out[37])
{
    void *val = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_kv_get(txn, DB_ALIASES, uuid, strlen(uuid), &val, &len);
    if (err == CMN_OK) {
        (void) snprintf(out, 37, "%.*s", (int) len, (const char *) val);
        free(val);
        return CMN_OK;
    }
    (void) snprintf(out, 37, "%s", uuid);
    return err == CMN_ENOTFOUND ? CMN_OK : err;
}

/* Aliases pointing to one uuid, collected first: LMDB cursors must not outlive a
 * delete in the same walk. */
typedef struct {
    const char *target;
    char (*keys)[37];
    size_t n, cap;
    bool is_oom;
} s_aliases_t;

static int
s_collect_alias(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    s_aliases_t *a = arg;
    if (val_len != strlen(a->target) || memcmp(val, a->target, val_len) != 0 || key_len > 36) {
        return 0;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        char(*grown)[37] = realloc(a->keys, cap * sizeof *grown);
        if (grown == NULL) {
            a->is_oom = true;
            return 1;
        }
        a->keys = grown;
        a->cap = cap;
    }
    memcpy(a->keys[a->n], key, key_len);
    a->keys[a->n++][key_len] = '\0';
    return 0;
}

static cmn_err_t
s_del_quiet(cmn_kv_txn_t *txn, const char *db, const char *key)
{
    cmn_err_t err = cmn_kv_del(txn, db, key, strlen(key));
    return err == CMN_ENOTFOUND ? CMN_OK : err;
}

cmn_err_t
dots_store_del(dots_store_t *self, const char *uuid)
{
    cmn_kv_txn_t *txn = NULL;
    char key[37];
    s_aliases_t aliases = {.target = key};
    if (uuid == NULL || uuid[0] == '\0') {
        return CMN_EINVAL;
    }
    cmn_err_t err = cmn_commit_begin(self->commit, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = s_resolve(txn, uuid, key);
    if (err == CMN_OK) {
        err = cmn_kv_each(txn, DB_ALIASES, s_collect_alias, &aliases);
    }
    if (err == CMN_OK && aliases.is_oom) {
        err = CMN_ENOMEM;
    }
    for (size_t i = 0; err == CMN_OK && i < aliases.n; i++) {
        err = s_del_quiet(txn, DB_ALIASES, aliases.keys[i]);
    }
    if (err == CMN_OK) {
        err = s_del_quiet(txn, DB_SECRETS, key);
    }
    if (err == CMN_OK) {
        err = s_del_quiet(txn, DB_DEVICES, key);
    }
    free(aliases.keys);
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

bool
dots_store_has(dots_store_t *self, const char *uuid)
{
    /* the key's presence only: no record unpacked (once per new device of a discovery) */
    cmn_kv_txn_t *txn = NULL;
    char key[37];
    if (uuid == NULL || uuid[0] == '\0' || cmn_kv_begin(self->kv, false, &txn) != CMN_OK) {
        return false;
    }
    void *val = NULL;
    size_t len = 0;
    bool has = s_resolve(txn, uuid, key) == CMN_OK &&
               cmn_kv_get(txn, DB_DEVICES, key, strlen(key), &val, &len) == CMN_OK;
    free(val);
    cmn_kv_abort(&txn);
    return has;
}

cmn_err_t
dots_store_get(dots_store_t *self, const char *uuid, dots_dev_t *ret)
{
    cmn_kv_txn_t *txn = NULL;
    Obt__Store__DotsDevice *rec = NULL;
    char key[37];
    if (uuid == NULL || uuid[0] == '\0') {
        return CMN_EINVAL;
    }
    cmn_err_t err = cmn_kv_begin(self->kv, false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = s_resolve(txn, uuid, key);
    if (err == CMN_OK) {
        err = cmn_kv_get_pb(txn, DB_DEVICES, key, &obt__store__dots_device__descriptor,
                            (ProtobufCMessage **) &rec);
    }
    cmn_kv_abort(&txn);
    if (err == CMN_OK) {
        s_from_pb(rec, ret);
        obt__store__dots_device__free_unpacked(rec, NULL);
    }
    return err;
}

cmn_err_t
dots_store_get_secret(dots_store_t *self, const char *uuid, dots_secret_t *ret)
{
    cmn_kv_txn_t *txn = NULL;
    Obt__Store__DotsSecret *sec = NULL;
    char key[37];
    cmn_err_t err = cmn_kv_begin(self->kv, false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = s_resolve(txn, uuid, key);
    if (err == CMN_OK) {
        err = cmn_kv_get_pb_sealed(txn, self->seal, DB_SECRETS, key,
                                   &obt__store__dots_secret__descriptor,
                                   (ProtobufCMessage **) &sec);
    }
    cmn_kv_abort(&txn);
    if (err != CMN_OK) {
        return err;
    }
    memset(ret, 0, sizeof *ret);
    ret->has_owner = sec->owner_psk.len == 16;
    ret->has_cms = sec->cms_psk.len == 16;
    ret->has_ams = sec->ams_psk.len == 16;
    if (ret->has_owner) {
        memcpy(ret->owner_psk, sec->owner_psk.data, 16);
        OPENSSL_cleanse(sec->owner_psk.data, 16);
    }
    if (ret->has_cms) {
        memcpy(ret->cms_psk, sec->cms_psk.data, 16);
        OPENSSL_cleanse(sec->cms_psk.data, 16);
    }
    if (ret->has_ams) {
        memcpy(ret->ams_psk, sec->ams_psk.data, 16);
        OPENSSL_cleanse(sec->ams_psk.data, 16);
    }
    obt__store__dots_secret__free_unpacked(sec, NULL);
    return CMN_OK;
}

typedef struct {
    dots_store_each_fn *fn;
    void *arg;
} s_each_t;

static int
s_each(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    (void) key;
    (void) key_len;
    s_each_t *e = arg;
    Obt__Store__DotsDevice *rec = obt__store__dots_device__unpack(NULL, val_len, val);
    if (rec == NULL) {
        return 0; /* an unreadable record is skipped, not fatal */
    }
    dots_dev_t d;
    s_from_pb(rec, &d);
    obt__store__dots_device__free_unpacked(rec, NULL);
    return e->fn(&d, e->arg);
}

cmn_err_t
dots_store_each(dots_store_t *self, dots_store_each_fn *fn, void *arg)
{
    cmn_kv_txn_t *txn = NULL;
    s_each_t e = {fn, arg};
    cmn_err_t err = cmn_kv_begin(self->kv, false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_each(txn, DB_DEVICES, s_each, &e);
    cmn_kv_abort(&txn);
    return err;
}

/* ------------------------------------------------------- manufacturer trust anchors */

cmn_err_t
dots_store_trust_put(dots_store_t *self, const char *id, const uint8_t *pem, size_t len)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_commit_begin(self->commit, &txn);
    if (err == CMN_OK) {
        err = cmn_kv_put(txn, DB_MFGTRUST, id, strlen(id), pem, len);
    }
    if (err == CMN_OK) {
        return cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

cmn_err_t
dots_store_trust_del(dots_store_t *self, const char *id)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_commit_begin(self->commit, &txn);
    if (err == CMN_OK) {
        err = cmn_kv_del(txn, DB_MFGTRUST, id, strlen(id));
    }
    if (err == CMN_OK) {
        return cmn_kv_commit(&txn);
    }
    cmn_kv_abort(&txn);
    return err;
}

typedef struct {
    dots_store_trust_fn *fn;
    void *arg;
} s_trust_each_t;

static int
s_trust_each(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    s_trust_each_t *e = arg;
    char id[DOTS_TRUST_ID_LEN + 1];
    if (key_len != DOTS_TRUST_ID_LEN) {
        return 0; /* not ours: skip */
    }
    memcpy(id, key, key_len);
    id[key_len] = '\0';
    return e->fn(id, val, val_len, e->arg);
}

cmn_err_t
dots_store_trust_each(dots_store_t *self, dots_store_trust_fn *fn, void *arg)
{
    cmn_kv_txn_t *txn = NULL;
    s_trust_each_t e = {fn, arg};
    cmn_err_t err = cmn_kv_begin(self->kv, false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_each(txn, DB_MFGTRUST, s_trust_each, &e);
    cmn_kv_abort(&txn);
    return err;
}
