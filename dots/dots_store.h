/* dots_store.h — LMDB persistence for DOTS: identity, devices (job records),
 * aliases (earlier uuid -> current) and secrets */
#ifndef DOTS_STORE_H
#define DOTS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_commit.h"
#include "cmn_err.h"
#include "cmn_lease.h"
#include "cmn_seal.h"

#define DOTS_MAX_EPS    8
#define DOTS_MAX_OXMS   8
#define DOTS_MAX_VODS   64 /* = CMN_VODLIST_MAX */
#define DOTS_MAX_CLAIMS 4  /* claims of a conflicting uuid kept (docs/discovery.md) */
#define DOTS_CLAIM_EPS  4  /* endpoints kept per claim */

/* One source's claim of a uuid that several sources claimed (store.DotsClaim). */
typedef struct {
    char source[96]; /* coap://ADDR:PORT its doxm reply came from */
    char eps[DOTS_CLAIM_EPS][80];
    size_t n_eps;
} dots_claim_t;

/* One device's record (store.DotsDevice), as a plain struct. */
typedef struct {
    char uuid[37];       /* current deviceuuid: the key */
    char first_uuid[37]; /* as first discovered */
    char new_uuid[37];   /* generated for SET_DEVICEUUID, persisted before use */
    int state;           /* dots_job_state_t */
    int step;            /* state in which the last error happened */
    char error[320];
    char eps[DOTS_MAX_EPS][80];
    size_t n_eps;
    int64_t oxms[DOTS_MAX_OXMS];
    size_t n_oxms;
    uint32_t sct;
    int32_t oxmsel;
    bool approved;
    bool owned; /* DOTS holds an owner credential for it */
    uint64_t discovered_ms, updated_ms, started_ms, finished_ms, deadline_ms;
    uint32_t attempts;
    char cipher[64];
    bool cms_done, ams_done;
    char otm_policy[32];   /* operator's OTM policy for this job, "" = DOTS's */
    int maint;             /* reset/repair job state (dots_maint_state_t), 0 = none */
    char maint_error[320]; /* its last error */
    uint64_t maint_updated_ms;
    int bridge;                   /* bridge job state (dots_bridge_state_t), 0 = none */
    bool is_bridge;               /* its /oic/d has rt oic.d.bridge */
    char vods[DOTS_MAX_VODS][37]; /* a Bridge: its VODs' uuids as its vodlist gave them */
    size_t n_vods;
    char bridge_uuid[37];                 /* a VOD: its Bridge's current uuid */
    char bridge_error[320];               /* the bridge job's error */
    uint64_t bridge_deadline_ms;          /* wall clock: end of the VOD discovery */
    uint64_t event_seq;                   /* seq of its last published job event (dots_events.h) */
    dots_claim_t claims[DOTS_MAX_CLAIMS]; /* a conflict: each source's claim, until the
                                             operator picks one (approve --endpoint) */
    size_t n_claims;
    uint32_t claimed_by;       /* sources that claimed the uuid (> 1: conflict; 0 = none) */
    uint32_t recover_attempts; /* automatic retries after an interruption, so far */
    uint64_t recover_at_ms;    /* wall clock of the next automatic retry, 0 = none */
    char superseded_by[37];    /* the device answers at its endpoint under this uuid now */
    char part_uuid[37];        /* --parts: the uuid its part follows ("" = first_uuid) */
    char mfg_cert_cn[65];      /* certificate OTM: its leaf's CN as the DOC presented it */
    char mfg_cert_sha256[65];  /* and the SHA-256 of the leaf's DER, hex ("" = none) */
    char gateway[32]; /* the gateway that reaches it (CMN_GW_NAME_MAX); "" = the first listed */
} dots_dev_t;

/* The record's first coaps:// (secure) or coap:// endpoint, NULL if none. Borrowed. */
const char *dots_dev_ep(const dots_dev_t *dev, bool secure);
/* The uuid whose part the record belongs to (--parts): part_uuid, else first_uuid. */
const char *dots_dev_part_uuid(const dots_dev_t *dev);

/* Records the manufacturer certificate of dev's DOC as the gateway described it (D67):
 * cn, printable ASCII of at most 64 bytes, and sha256, 64 lowercase hex digits; or
 * both "" (or NULL): a DOC by another OTM, the fields are cleared. CMN_EPROTO, dev
 * unchanged, for anything else. */
cmn_err_t dots_dev_set_mfg_cert(dots_dev_t *dev, const char *cn, const char *sha256);

/* Secrets of one device (store.DotsSecret). */
typedef struct {
    bool has_owner, has_cms, has_ams;
    uint8_t owner_psk[16], cms_psk[16], ams_psk[16];
} dots_secret_t;

typedef struct {
    char uuid[37];
    char sd_uuid[37];
    char name[64];
} dots_identity_t;

typedef struct dots_store dots_store_t;

/* Opens the store in dir. Secrets (DB "secrets") are sealed with seal (borrowed: it
 * must outlive the store; docs/security.md "Secrets at rest"). */
dots_store_t *dots_store_new(
        const char *dir, bool durable, size_t map_size, const cmn_seal_t *seal, cmn_err_t *ret_err);
void dots_store_destroy(dots_store_t **self_p);

/* Group commit (cmn_commit.h): every write below goes into the open group, and the
 * process's messages are held from the first write on; dots_store_flush commits the
 * group with one sync and sends them (CMN_OK when nothing was written; else the
 * group's writes are lost and the messages dropped). The service flushes once per
 * loop pass; a caller that must answer with the outcome flushes itself. Reads see
 * the group's writes. */
cmn_err_t dots_store_flush(dots_store_t *self);
/* The loop's flush: dots_store_flush, except that a group holding only lazy records
 * (dots_store_put_lazy) stays open until it is DOTS_STORE_LAZY_MAX_MS old or a write
 * that holds the bus joins it: a kill -9 loses at most that much of such records. */
#define DOTS_STORE_LAZY_MAX_MS 100 /* 0 once fenced (dots_store_fence): every pass commits */
cmn_err_t dots_store_flush_pass(dots_store_t *self);
/* The group counters (commits = syncs, writes, time in commits). */
void dots_store_stats(const dots_store_t *self, cmn_commit_stats_t *ret);

/* The active lease of DOTS instances on one store (D91): one JobLease in the store's
 * leases database (cmn_lease.h) under DOTS_STORE_ACTIVE_KEY.
 * Takes or renews it for owner in a write of the group (dots_store_flush commits it):
 * CMN_OK; CMN_EEXIST when another owner's is live (*ret_holder receives it, nothing
 * is written). */
#define DOTS_STORE_ACTIVE_KEY "@dots-active"
/* With --parts G: the active lease of part K is DOTS_STORE_PART_KEY "K" ("@dots-part-0")
 * instead; the take, the release and the fence below use the key this selects (part
 * -1: DOTS_STORE_ACTIVE_KEY, the default). */
#define DOTS_STORE_PART_KEY "@dots-part-"
void dots_store_set_part(dots_store_t *self, int part);
/* Whether part's lease (-1: DOTS_STORE_ACTIVE_KEY) has a live holder, as committed:
 * CMN_EEXIST (*ret_holder, if not NULL, receives it), CMN_OK when none (released, never
 * taken, or run out: *ret_holder then says who held it last, if anyone), or the store's
 * error. Reads only. */
cmn_err_t dots_store_active_peek(dots_store_t *self, int part, cmn_lease_t *ret_holder);
/* --parts: gives up part's lease while the others stay fenced (an adopted part handed
 * back, D103): commits what is open (fenced by every part as before), then removes part
 * from the fence and its lease, if still owner's, in a commit of its own. CMN_OK, or the
 * store's error (the part then stays fenced and held). */
cmn_err_t dots_store_part_release(dots_store_t *self, int part, const cmn_lease_owner_t *owner);
/* A standby with --parts marks that it waits: one lease, DOTS_STORE_STANDBY_KEY, held by
 * the last standby to mark it (life DOTS_STORE_STANDBY_LIFE_MS, renewed at each of its
 * tries; another standby's live mark is left as it is). is_waiting false: removed, if
 * owner's (it became active). Committed before it returns. */
#define DOTS_STORE_STANDBY_KEY     "@dots-standby"
#define DOTS_STORE_STANDBY_LIFE_MS 3000
cmn_err_t
dots_store_standby_mark(dots_store_t *self, const cmn_lease_owner_t *owner, bool is_waiting);
/* Whether a standby waits (a live mark): CMN_EEXIST (*ret_who, if not NULL, says who),
 * CMN_OK when none, or the store's error. Reads only. */
cmn_err_t dots_store_standby_waiting(dots_store_t *self, cmn_lease_t *ret_who);
/* Adds part to the leases the fence checks (dots_store_fence): with --parts, every lease
 * of a part this instance serves; each must still be this instance's for a group to be
 * stored. Until the first call the fence checks the lease dots_store_set_part selected. */
void dots_store_fence_part(dots_store_t *self, int part);
cmn_err_t
dots_store_active_take(dots_store_t *self, const cmn_lease_owner_t *owner, cmn_lease_t *ret_holder);
/* At a clean stop: commits what is open (fenced as before), then removes the active
 * lease if it is still owner's, so that a standby takes over at once; the fence is
 * lifted. CMN_OK, also when the lease was not ours. */
cmn_err_t dots_store_active_release(dots_store_t *self, const cmn_lease_owner_t *owner);
/* Removes every lease (a DOTS alone on its store, at start: their holders are gone). */
cmn_err_t dots_store_leases_clear(dots_store_t *self);
/* Fences the store: from now on each group commit first checks, inside its write
 * transaction, that the active lease is still owner's (one read); when it is not, the
 * group is aborted, nothing of it is stored, the held messages are dropped, and
 * on_fenced is called with who holds the lease now (owner zeroed: nobody). owner is
 * copied. Call it outside any write, once the lease is taken. */
typedef void(dots_store_fenced_fn)(const cmn_lease_t *holder, void *arg);
void dots_store_fence(dots_store_t *self,
                      const cmn_lease_owner_t *owner,
                      dots_store_fenced_fn *on_fenced,
                      void *arg);

/* At start: proves that the seal's KEK is the store's (CMN_ECRYPTO if not:
 * CMN_SEAL_WRONG_KEK) and seals the plain secrets of earlier releases in one
 * transaction; *ret_migrated (if not NULL) says how many (cmn_kv_reseal). */
cmn_err_t dots_store_check_kek(dots_store_t *self, size_t *ret_migrated);

/* Loads the identity, creating it (DOTS uuid without zero bytes, domain uuid) at
 * first start. name is stored on creation. */
cmn_err_t dots_store_identity(dots_store_t *self, const char *name, dots_identity_t *ret);

/* Writes dev (and secret if not NULL) in ONE transaction; if old_uuid is given and
 * differs from dev->uuid, the record under old_uuid is removed, its secret moved, and
 * old_uuid (and dev->first_uuid) become aliases of dev->uuid. */
cmn_err_t dots_store_put(dots_store_t *self,
                         const dots_dev_t *dev,
                         const dots_secret_t *secret,
                         const char *old_uuid);

/* The same for a record that nothing sent after it depends on (a step whose record a
 * restart does not need, docs/internals.md "Group commit"): it does not hold the bus,
 * and is stored with the next commit (cmn_commit_begin_lazy). No secret, no rekey. */
cmn_err_t dots_store_put_lazy(dots_store_t *self, const dots_dev_t *dev);

/* Removes every record of a device in ONE transaction: the device record, its
 * secrets and every alias that points to it. uuid is current or an alias. CMN_OK
 * also when nothing was stored (idempotent). LMDB does not scrub the freed pages;
 * later writes reuse them (docs/reset.md). */
cmn_err_t dots_store_del(dots_store_t *self, const char *uuid);

/* Finds a device by current uuid or alias. CMN_ENOTFOUND if unknown. */
cmn_err_t dots_store_get(dots_store_t *self, const char *uuid, dots_dev_t *ret);
/* Whether the store holds a record of uuid (a current uuid or an alias), whoever wrote
 * it: another instance's record too (--parts). */
bool dots_store_has(dots_store_t *self, const char *uuid);
/* The device's secrets, opened. CMN_ENOTFOUND if none; CMN_ECRYPTO if they do not
 * open with the store's KEK (CMN_SEAL_WRONG_KEK). */
cmn_err_t dots_store_get_secret(dots_store_t *self, const char *uuid, dots_secret_t *ret);

/* Calls fn for every device record; fn returns non-zero to stop. */
typedef int(dots_store_each_fn)(const dots_dev_t *dev, void *arg);
cmn_err_t dots_store_each(dots_store_t *self, dots_store_each_fn *fn, void *arg);

/* Manufacturer trust anchors (credusage oic.sec.cred.mfgtrustca), one PEM
 * certificate each, keyed by the SHA-256 fingerprint of its DER in hex. put
 * replaces; del returns CMN_ENOTFOUND when absent. each passes pointers valid only
 * during the call; fn returns non-zero to stop. */
#define DOTS_TRUST_ID_LEN 64
cmn_err_t dots_store_trust_put(dots_store_t *self, const char *id, const uint8_t *pem, size_t len);
cmn_err_t dots_store_trust_del(dots_store_t *self, const char *id);
typedef int(dots_store_trust_fn)(const char *id, const uint8_t *pem, size_t len, void *arg);
cmn_err_t dots_store_trust_each(dots_store_t *self, dots_store_trust_fn *fn, void *arg);

#endif
