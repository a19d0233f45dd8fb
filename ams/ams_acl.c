/* ams_acl.c — ACL changes AMS makes before RFNOP */
#include "ams_acl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_ace(cmn_ace_t *a,
      cmn_ace_subject_kind_t kind,
      const cmn_uuid_t *uuid,
      const char *const *hrefs,
      size_t n,
      int64_t perm)
{
    memset(a, 0, sizeof *a);
    a->subject_kind = kind;
    if (uuid) {
        a->subject_uuid = *uuid;
    }
    a->conntype = CMN_CONNTYPE_ANON_CLEAR;
    for (size_t i = 0; i < n; i++) {
        (void) snprintf(a->resources[i].href, sizeof a->resources[i].href, "%s", hrefs[i]);
    }
    a->n_resources = n;
    a->permission = perm;
}

void
ams_acl_baseline(const cmn_uuid_t *dots,
                 const cmn_uuid_t *cms,
                 const cmn_uuid_t *ams,
                 cmn_ace_t out[AMS_BASELINE_COUNT])
{
    static const char *const sp[] = {"/oic/sec/sp"};
    static const char *const csr[] = {"/oic/sec/csr"};
    static const char *const pub[] = {"/oic/d", "/oic/p", "/oic/res"};
    static const char *const pstat[] = {"/oic/sec/pstat"};
    s_ace(&out[0], CMN_ACE_SUBJECT_UUID, dots, sp, 1, CMN_PERM_R | CMN_PERM_U | CMN_PERM_D);
    s_ace(&out[1], CMN_ACE_SUBJECT_UUID, cms, csr, 1, CMN_PERM_R);
    s_ace(&out[2], CMN_ACE_SUBJECT_CONNTYPE, NULL, pub, 3, CMN_PERM_R);
    s_ace(&out[3], CMN_ACE_SUBJECT_UUID, ams, pstat, 1, CMN_PERM_R | CMN_PERM_U);
    /* CMS moves a device to RFPRO and back for its own writes (pairwise links, CRL,
     * cred removal) */
    s_ace(&out[4], CMN_ACE_SUBJECT_UUID, cms, pstat, 1, CMN_PERM_R | CMN_PERM_U);
}

bool
ams_acl_ace_eq(const cmn_ace_t *a, const cmn_ace_t *b)
{
    if (a->subject_kind != b->subject_kind || a->permission != b->permission ||
        a->n_resources != b->n_resources || a->n_validity != b->n_validity) {
        return false;
    }
    for (size_t i = 0; i < a->n_validity; i++) {
        if (strcmp(a->validity[i], b->validity[i]) != 0) {
            return false;
        }
    }
    if (a->subject_kind == CMN_ACE_SUBJECT_UUID &&
        !cmn_uuid_eq(&a->subject_uuid, &b->subject_uuid)) {
        return false;
    }
    if (a->subject_kind == CMN_ACE_SUBJECT_CONNTYPE && a->conntype != b->conntype) {
        return false;
    }
    if (a->subject_kind == CMN_ACE_SUBJECT_ROLE &&
        (strcmp(a->role, b->role) != 0 || strcmp(a->authority, b->authority) != 0)) {
        return false;
    }
    /* the same resources in any order (a device may keep them in its own) */
    for (size_t i = 0; i < a->n_resources; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n_resources && !found; j++) {
            const cmn_ace_res_t *ra = &a->resources[i], *rb = &b->resources[j];
            found = strcmp(ra->href, rb->href) == 0 && strcmp(ra->wc, rb->wc) == 0 &&
                    ra->n_rt == rb->n_rt && ra->n_ifs == rb->n_ifs;
            for (size_t k = 0; found && k < ra->n_rt; k++) {
                found = strcmp(ra->rt[k], rb->rt[k]) == 0;
            }
            for (size_t k = 0; found && k < ra->n_ifs; k++) {
                found = strcmp(ra->ifs[k], rb->ifs[k]) == 0;
            }
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

bool
ams_acl_violates(const cmn_ace_t *ace)
{
    if (ace->subject_kind != CMN_ACE_SUBJECT_CONNTYPE) {
        return false;
    }
    for (size_t r = 0; r < ace->n_resources; r++) {
        if (cmn_svr_is_svr_href(ace->resources[r].href)) {
            return true;
        }
    }
    return false;
}

cmn_err_t
ams_acl_plan(const cmn_acl_t *acl,
             const cmn_uuid_t *dots,
             const cmn_uuid_t *cms,
             const cmn_uuid_t *ams,
             ams_acl_plan_t *ret)
{
    memset(ret, 0, sizeof *ret);
    ret->deletes = calloc(acl->n_aces + 1, sizeof *ret->deletes);
    ret->replaces = calloc(acl->n_aces + 1, sizeof *ret->replaces);
    if (ret->deletes == NULL || ret->replaces == NULL) {
        ams_acl_plan_free(ret);
        return CMN_ENOMEM;
    }
    for (size_t i = 0; i < acl->n_aces; i++) {
        const cmn_ace_t *ace = &acl->aces[i];
        if (!ams_acl_violates(ace)) {
            continue;
        }
        cmn_ace_t kept = *ace;
        kept.n_resources = 0;
        for (size_t r = 0; r < ace->n_resources; r++) {
            if (!cmn_svr_is_svr_href(ace->resources[r].href)) {
                kept.resources[kept.n_resources++] = ace->resources[r];
            }
        }
        if (kept.n_resources == 0) {
            ret->deletes[ret->n_deletes++] = ace->aceid;
        } else {
            ret->replaces[ret->n_replaces++] = kept;
        }
    }
    cmn_ace_t base[AMS_BASELINE_COUNT];
    ams_acl_baseline(dots, cms, ams, base);
    for (size_t b = 0; b < AMS_BASELINE_COUNT; b++) {
        bool present = false;
        for (size_t i = 0; i < acl->n_aces && !present; i++) {
            present = ams_acl_ace_eq(&acl->aces[i], &base[b]);
        }
        /* an ACE that becomes this baseline ACE once its SVR hrefs are removed */
        for (size_t i = 0; i < ret->n_replaces && !present; i++) {
            present = ams_acl_ace_eq(&ret->replaces[i], &base[b]);
        }
        if (!present) {
            ret->adds[ret->n_adds++] = base[b];
        }
    }
    return CMN_OK;
}

void
ams_acl_plan_free(ams_acl_plan_t *plan)
{
    free(plan->deletes);
    free(plan->replaces);
    memset(plan, 0, sizeof *plan);
}

cmn_err_t
ams_acl_plan_add(ams_acl_plan_t *plan, const cmn_acl_t *acl, const cmn_ace_t *ace)
{
    bool present = false;
    for (size_t i = 0; i < acl->n_aces && !present; i++) {
        present = ams_acl_ace_eq(&acl->aces[i], ace);
    }
    for (size_t i = 0; i < plan->n_replaces && !present; i++) {
        present = ams_acl_ace_eq(&plan->replaces[i], ace);
    }
    if (present) {
        return CMN_OK;
    }
    if (plan->n_adds >= sizeof plan->adds / sizeof plan->adds[0]) {
        return CMN_ENOSPC;
    }
    plan->adds[plan->n_adds++] = *ace;
    return CMN_OK;
}

bool
ams_acl_table2(const char *icv, const cmn_res_t *res, cmn_ace_t *ret)
{
    int cmp = 0;
    if (cmn_icv_compare(icv, "ocf.2.4.0", &cmp) != CMN_OK || cmp > 0) {
        return false;
    }
    cmn_ace_t ace;
    memset(&ace, 0, sizeof ace);
    ace.subject_kind = CMN_ACE_SUBJECT_ROLE;
    (void) snprintf(ace.role, sizeof ace.role, "oic.role.owner");
    ace.permission = CMN_PERM_R | CMN_PERM_U;
    for (size_t i = 0; i < res->n_links && ace.n_resources < CMN_ACE_MAX_RES; i++) {
        if (cmn_svr_is_svr_href(res->links[i].href)) {
            (void) snprintf(ace.resources[ace.n_resources++].href, sizeof ace.resources[0].href,
                            "%s", res->links[i].href);
        }
    }
    if (ace.n_resources == 0) {
        return false;
    }
    *ret = ace;
    return true;
}
