/* cms_group.h — SSM groups (seed 6.4, OCF-NOTES 9): obtctl group create / add / rm /
 * rekey / delete and groups, CMS's group table, and what each member's job (the cred
 * entry job of cms_pair.c) asks of it (docs/cms.md "SSM groups") */
#ifndef CMS_GROUP_H
#define CMS_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_svc.h"
#include "cmn_svr.h"
#include "cms_service.h"
#include "obt/cms.pb-c.h"

/* The group table (named LMDB database of obt-cms): store.CmsGroup keyed by name. The
 * master secret is sealed in "secrets" under "group/<name>". */
#define CMS_GROUP_DB     "groups"
#define CMS_GROUP_NAME   32 /* characters of a group name, at most */
#define CMS_GROUP_SECRET 32 /* bytes of the OSCORE master secret (256 bits, 6.4) */
#define CMS_GROUP_ID_HEX 15 /* idGroup as lowercase hex with its NUL (7 bytes, first 0x02) */

/* The API rows (cms_api.c's row signature): refusals return their error with the text
 * in error; CMN_OK means answered (group_list) or answered when the jobs end. */
cmn_err_t cms_group_on_create(cmn_svc_t *svc,
                              cms_t *cms,
                              zframe_t *peer,
                              const Obt__Cms__Request *req,
                              Obt__Cms__Reply *reply,
                              char *error,
                              size_t error_len);
cmn_err_t cms_group_on_change(cmn_svc_t *svc,
                              cms_t *cms,
                              zframe_t *peer,
                              const Obt__Cms__Request *req,
                              Obt__Cms__Reply *reply,
                              char *error,
                              size_t error_len);
cmn_err_t cms_group_on_list(cmn_svc_t *svc,
                            cms_t *cms,
                            zframe_t *peer,
                            const Obt__Cms__Request *req,
                            Obt__Cms__Reply *reply,
                            char *error,
                            size_t error_len);

/* What the job of member uuid of group name does now (cms_group_job_load). */
typedef struct {
    bool is_survey;            /* only read its cred (before idGroup is chosen, or a new
                                  member of group add: D82) */
    bool is_remove;            /* remove its entry (it leaves) */
    bool is_done;              /* nothing to do (not a member, or done) */
    bool is_client;            /* credtype 128 (else 256) */
    char id[CMS_GROUP_ID_HEX]; /* idGroup */
    /* a new idGroup is being placed (D82): the entry credid (> 0) with the old id is the
     * member's, replaced by the write */
    char old_id[CMS_GROUP_ID_HEX];
    int64_t old_credid;
    char subject[37]; /* the entry's subjectuuid */
    char desc[CMN_OSCORE_DESC_MAX + 1];
    uint8_t secret[CMS_GROUP_SECRET]; /* write: the master secret (the caller wipes it) */
} cms_group_job_t;

cmn_err_t
cms_group_job_load(cmn_svc_t *svc, const char *name, const char *uuid, cms_group_job_t *ret);
/* The survey of member uuid read its cred: the recipientids on it (ids, n). */
cmn_err_t
cms_group_surveyed(cmn_svc_t *svc, const char *name, const char *uuid, char *const *ids, size_t n);
/* Member uuid's device holds its entry as credid (0: removed). */
cmn_err_t cms_group_record(cmn_svc_t *svc, const char *name, const char *uuid, int64_t credid);

/* The name of the group of a stored CMS action (malloc'd), NULL when it is not a group
 * member's job. */
char *cms_group_action_name(const uint8_t *action, size_t len);
/* The core's hooks, for group members' jobs: ended moves the group on (next member,
 * rollback, the end, answered to *peer_p); resumed moves on every group left between
 * two jobs; forgot is the reset cascade (the group deleted if uuid was its client,
 * else uuid dropped and the group rekeyed; docs/decisions.md D77). */
void cms_group_ended(cmn_svc_t *svc,
                     const char *name,
                     const char *uuid,
                     cmn_err_t err,
                     const char *error,
                     zframe_t **peer_p,
                     uint64_t corr_id);
void cms_group_resumed(cmn_svc_t *svc);
/* The service's tick: an open group waiting for a member whose job of another kind (a
 * CRL push, a link) has ended since goes on. */
void cms_group_tick(cmn_svc_t *svc);
void cms_group_forgot(cmn_svc_t *svc, const char *uuid);

#endif
