/* ams_acl.h — what AMS changes in a device's ACL before RFNOP: clause 5.2 (no SVR
 * under anon-clear/auth-crypt) and the baseline ACEs (docs/decisions.md D7) */
#ifndef AMS_ACL_H
#define AMS_ACL_H

#include <stdbool.h>

#include "cmn_svr.h"

#define AMS_BASELINE_COUNT 4

typedef struct {
    int64_t *deletes; /* aceids to DELETE (malloc'd) */
    size_t n_deletes;
    cmn_ace_t *replaces; /* ACEs to POST again without their SVR hrefs (malloc'd) */
    size_t n_replaces;
    cmn_ace_t adds[AMS_BASELINE_COUNT]; /* baseline ACEs not yet present */
    size_t n_adds;
} ams_acl_plan_t;

/* Computes the plan for acl. ACEs with other subjects are never touched. */
cmn_err_t ams_acl_plan(const cmn_acl_t *acl,
                       const cmn_uuid_t *dots,
                       const cmn_uuid_t *cms,
                       const cmn_uuid_t *ams,
                       ams_acl_plan_t *ret);
void ams_acl_plan_free(ams_acl_plan_t *plan);

/* The baseline ACEs (no aceid). */
void ams_acl_baseline(const cmn_uuid_t *dots,
                      const cmn_uuid_t *cms,
                      const cmn_uuid_t *ams,
                      cmn_ace_t out[AMS_BASELINE_COUNT]);

/* Same subject, resources (in order) and permission; aceid ignored. */
bool ams_acl_ace_eq(const cmn_ace_t *a, const cmn_ace_t *b);

/* True if an ACE with subject anon-clear or auth-crypt covers an SVR. */
bool ams_acl_violates(const cmn_ace_t *ace);

#endif
