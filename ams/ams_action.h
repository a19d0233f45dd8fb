/* ams_action.h — AMS's own requests (obt.ams.Request: read, add, remove, change an ACE,
 * deny a subject), each run as a persisted job of the device (cmn_svc_job_action) */
#ifndef AMS_ACTION_H
#define AMS_ACTION_H

#include <stdbool.h>

#include "ams_policy.h"
#include "cmn_svc.h"
#include "cmn_svr.h"

/* The device types AMS keeps of a device (rt of /oic/d and /oic/res). */
#define AMS_MAX_TYPES 32

/* Adds rt to types (n_types of them, at most AMS_MAX_TYPES) unless it is there or
 * empty; one past the limit is dropped. */
void ams_action_add_type(char types[][48], size_t *n_types, const char *rt);

/* Bytes of an action job's work (job->work is at least this big). */
#define AMS_ACTION_WORK_SIZE 16384

/* The own-request hook: checks the party (operator only), the request's fields, and
 * starts the job; errors are answered here. */
void ams_action_own(cmn_svc_t *svc,
                    zframe_t *peer,
                    const cmn_caller_t *caller,
                    const uint8_t *data,
                    size_t len,
                    void *arg);
/* The first step of an action job (new or resumed): job->action is set. */
void ams_action_start(cmn_svc_job_t *job);
/* The reset cascade (hook "forgot"): every device holding an ACE AMS placed whose
 * subject is uuid gets a deny job for it (nobody waits; a device whose job runs is
 * logged and keeps the ACE until `obtctl deny`). */
void ams_action_forgot(cmn_svc_t *svc, const char *uuid);
/* One request of an AMS job (hand-over or action): acl or ps (or neither) encoded as
 * its payload; step names it; fn gets the reply. An encoding failure ends the job. */
void ams_action_send(cmn_svc_job_t *job,
                     const char *step,
                     int method,
                     const char *path,
                     const char *query,
                     const cmn_acl_t *acl,
                     const cmn_pstat_t *ps,
                     cmn_svc_reply_fn *fn);
/* Sets the policy file's content apply and diff use (takes *policy_p and NULLs it;
 * NULL or *policy_p NULL: none; the one held before is destroyed). At start only:
 * obt-ams reads its --policy once (docs/ams.md, "Reload"). */
void ams_action_set_policy(ams_policy_t **policy_p);
bool ams_action_has_policy(void);
/* The action request of a policy apply on uuid (malloc'd, *ret_len bytes; NULL: out of
 * memory): what a hand-over's end records as its follow-up job (cmn_svc_job_finish_then),
 * so the policy's ACEs come after the baseline even across a kill -9. */
uint8_t *ams_action_apply_request(const char *uuid, size_t *ret_len);
/* Frees what an action job's work holds. */
void ams_action_drop(cmn_svc_job_t *job);

#endif
