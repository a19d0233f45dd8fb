/* cms_crl.h — the CRL push of obt-cms (seed 5.4; OCF-NOTES 3.8): every revocation and
 * every --crl-refresh round queues the CRL for each managed device with certificates
 * (named DB "crl_push": one store.CmsCrlPending per device, written in the same
 * transaction as the revocation), and the queue runs one action job per device
 * (cms_action.h: store.CmsAction crl_push, resumed after a restart). A device that
 * cannot be reached stays queued and is tried again with backoff. */
#ifndef CMS_CRL_H
#define CMS_CRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_svc.h"

#define CMS_CRL_DB_PUSH "crl_push" /* store.CmsCrlPending by device uuid */

#define CMS_CRL_MAX_JOBS    256   /* CMS jobs running at once before the queue waits */
#define CMS_CRL_BACKOFF_MS  2000  /* wait before the 2nd try; doubles at each try */
#define CMS_CRL_BACKOFF_MAX 30000 /* the longest wait between two tries */

/* The devices that need the CRL: collected before the write that queues them. */
typedef struct cms_crl_targets cms_crl_targets_t;

/* Every record of svc whose device supports certificates (sct bit 8) and holds an
 * identity certificate from us. NULL if out of memory or the store fails. */
cms_crl_targets_t *cms_crl_targets_new(cmn_svc_t *svc);
void cms_crl_targets_destroy(cms_crl_targets_t **self_p);
size_t cms_crl_targets_count(const cms_crl_targets_t *self);

/* A cms_ca_in_txn_fn (arg: a cms_crl_targets_t): a new CRL number (cms_ca_crl_bump)
 * and a pending record for each target that does not already wait for a later one
 * (try now, attempts 0). */
cmn_err_t cms_crl_queue_in_txn(cmn_kv_txn_t *txn, void *arg);
/* The same in a write of its own (a --crl-refresh round, a hand-over). */
cmn_err_t cms_crl_queue(cmn_svc_t *svc, cms_crl_targets_t *targets);
/* Queues one device for the current CRL, if there is one (after its hand-over). */
cmn_err_t cms_crl_queue_device(cmn_svc_t *svc, const char *uuid);

/* The queue's timers (owned by the cms_t). */
typedef struct cms_crl cms_crl_t;
cms_crl_t *cms_crl_new(void);
void cms_crl_destroy(cms_crl_t **self_p);

/* The service's tick (arg: the cms_t): a --crl-refresh round when the last CRL number
 * is --crl-refresh seconds old, then the due pending devices (next try reached, no
 * job running) get a push job, at most CMS_CRL_MAX_JOBS CMS jobs at once. A pending
 * record of a device CMS no longer manages is dropped. */
void cms_crl_tick(cmn_svc_t *svc, void *arg);
/* Makes the next tick look at the queue at once (after a revocation). */
void cms_crl_kick(cms_crl_t *self);

/* The devices still pending (uuids, malloc'd array of malloc'd strings; free with
 * cms_crl_pending_free). */
cmn_err_t cms_crl_pending(cmn_svc_t *svc, char ***ret_uuids, size_t *ret_n);
void cms_crl_pending_free(char **uuids, size_t n);

/* The CRL as CMS signs it now, as a /oic/sec/crl payload (crlid 1, thisupdate, Base64
 * of the DER), and its number. *ret_body is malloc'd. */
cmn_err_t cms_crl_body(cmn_svc_t *svc, uint8_t **ret_body, size_t *ret_len, uint64_t *ret_number);
/* Device uuid holds CRL number: its queue record goes (or, when a later CRL is queued,
 * it is tried again at once) and, is_back, its "maint" record too (the job moved it
 * back to RFNOP), in one write; CMS-CRL-PUSHED is logged and the queue is kicked. */
cmn_err_t cms_crl_delivered(cmn_svc_t *svc, const char *uuid, uint64_t number, bool is_back);

#endif
