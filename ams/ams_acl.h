/* ams_acl.h — what AMS changes in a device's ACL before RFNOP: clause 5.2 (no SVR
 * under anon-clear/auth-crypt) and the baseline ACEs (docs/decisions.md D7) */
#ifndef AMS_ACL_H
#define AMS_ACL_H

#include <stdbool.h>

#include "cmn_svr.h"

#define AMS_BASELINE_COUNT 5

typedef struct {
    int64_t *deletes; /* aceids to DELETE (malloc'd) */
    size_t n_deletes;
    cmn_ace_t *replaces; /* ACEs to POST again without their SVR hrefs (malloc'd) */
    size_t n_replaces;
    cmn_ace_t adds[AMS_BASELINE_COUNT + 1]; /* baseline (and Table 2) ACEs not yet present */
    size_t n_adds;
} ams_acl_plan_t;

/* Computes the plan for acl. ACEs with other subjects are never touched. */
cmn_err_t ams_acl_plan(const cmn_acl_t *acl,
                       const cmn_uuid_t *dots,
                       const cmn_uuid_t *cms,
                       const cmn_uuid_t *ams,
                       ams_acl_plan_t *ret);
void ams_acl_plan_free(ams_acl_plan_t *plan);

/* Adds ace to plan's adds unless acl (or a replaced ACE) already holds an equal one;
 * CMN_ENOSPC when the adds are full. */
cmn_err_t ams_acl_plan_add(ams_acl_plan_t *plan, const cmn_acl_t *acl, const cmn_ace_t *ace);

/* Table 2 of clause 5.5 (role uniformity): a device whose /oic/d icv is ocf.2.4.0 or
 * older (compared as numbers) gets an ACE with subject role "oic.role.owner" and
 * permission RU (-RU--) over every SVR its /oic/res lists. true with *ret for such a
 * device; false for a newer one, or an icv that does not parse (*ret untouched). */
bool ams_acl_table2(const char *icv, const cmn_res_t *res, cmn_ace_t *ret);

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
