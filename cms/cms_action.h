/* cms_action.h — obt-cms's own jobs on a device after its hand-over (store.CmsAction,
 * run as persisted action jobs of common/cmn_svc_job.c, resumed from their first step
 * after a restart): the CRL push, reading the device's credentials (obtctl creds),
 * removing one (obtctl cred rm), renewing its identity certificate (cert renew) and
 * giving it a role certificate (cert role, cms_role.h). A job that writes moves the device RFNOP ->
 * RFPRO -> write -> RFNOP; the "maint" record (written before it leaves RFNOP) tells a resumed run
 * that a CMS run moved it, so that the device goes back to RFNOP. */
#ifndef CMS_ACTION_H
#define CMS_ACTION_H

#include "cmn_svc.h"
#include "obt/store.pb-c.h"

#define CMS_ACTION_DB_MAINT  "maint" /* device uuid -> "rfnop": a CMS job moved it to RFPRO */
#define CMS_ACTION_WORK_SIZE 256     /* bytes of an action job's work (job->work) */

/* Packs act and starts its job on device uuid (cmn_svc_job_action): peer (may be NULL:
 * nobody waits, errors are logged) gets an obt.ServiceReply "show" with the device's
 * record at the end, or the refusal (ESTATE: a job of this device runs; ENOTFOUND: no
 * record). */
void cms_action_run(cmn_svc_t *svc,
                    zframe_t *peer,
                    uint64_t corr_id,
                    const char *uuid,
                    const Obt__Store__CmsAction *act);

/* The first step of a CMS action job (new or resumed): job->action is a packed
 * store.CmsAction. */
void cms_action_start(cmn_svc_job_t *job);
/* Frees what the action job's work holds. */
void cms_action_drop(cmn_svc_job_t *job);

#endif
