/* cms_pair.h — pairwise PSK links between two managed devices (OCF-NOTES 8.5):
 * obtctl pair / unpair / links, CMS's link table, and the jobs that write and remove
 * the cred entries (docs/cms.md "Pairwise PSK") */
#ifndef CMS_PAIR_H
#define CMS_PAIR_H

#include "cmn_svc.h"
#include "cms_service.h"
#include "obt/cms.pb-c.h"

/* The link table (named LMDB database of obt-cms): store.CmsLink keyed "<a>/<b>", a < b.
 * The link's key is sealed in "secrets" under "link/<a>/<b>". */
#define CMS_PAIR_DB_LINKS "links"
/* Bytes of a pairwise PSK (OCF-NOTES 8.5: a random 16-byte key). */
#define CMS_PAIR_KEY_LEN 16
/* Bytes of an OSCORE master secret (OCF-NOTES 9: 256 bits), the largest link secret. */
#define CMS_PAIR_SECRET_MAX 32
/* An OSCORE id as lowercase hex with its NUL (7 bytes, the first 0x01). */
#define CMS_PAIR_ID_HEX 15

/* The API rows (cms_api.c's row signature; cms and reply unused). Each checks its
 * fields and returns a refusal with its text in error (cms_api.c answers it); CMN_OK
 * means the answer is sent, now (links) or when the jobs end (pair, unpair). */
cmn_err_t cms_pair_on_pair(cmn_svc_t *svc,
                           cms_t *cms,
                           zframe_t *peer,
                           const Obt__Cms__Request *req,
                           Obt__Cms__Reply *reply,
                           char *error,
                           size_t error_len);
cmn_err_t cms_pair_on_unpair(cmn_svc_t *svc,
                             cms_t *cms,
                             zframe_t *peer,
                             const Obt__Cms__Request *req,
                             Obt__Cms__Reply *reply,
                             char *error,
                             size_t error_len);
cmn_err_t cms_pair_on_links(cmn_svc_t *svc,
                            cms_t *cms,
                            zframe_t *peer,
                            const Obt__Cms__Request *req,
                            Obt__Cms__Reply *reply,
                            char *error,
                            size_t error_len);

/* Checks that uuid names a device CMS manages (cms_managed_get, what for its text)
 * without a job running (else ESTATE), with the text in error; *ret_sct (may be NULL)
 * gets its doxm sct. */
cmn_err_t cms_pair_check_managed(cmn_svc_t *svc,
                                 const char *uuid,
                                 const char *what,
                                 uint32_t *ret_sct,
                                 char *error,
                                 size_t error_len);

/* The first step of a link job of one device (job->action is a packed obt.cms.Request
 * with body pair): writes or removes that device's cred entry for the other, as the
 * link's state says. */
/* True if a stored action is a cred entry job: a pairwise link's or an SSM group
 * member's (cms_group.h); else one of cms_action.c's. */
bool cms_pair_is_pair_action(const uint8_t *action, size_t len);
void cms_pair_job_start(cmn_svc_job_t *job);
/* Frees what a link job's work holds. */
void cms_pair_job_drop(cmn_svc_job_t *job);
/* Bytes of a link job's work. */
size_t cms_pair_work_size(void);
/* The core's "ended" hook: moves the link on (the other device's job, rollback, the
 * end) and answers whoever waits with the link. */
void cms_pair_ended(cmn_svc_t *svc,
                    const char *uuid,
                    const uint8_t *action,
                    size_t action_len,
                    cmn_err_t err,
                    const char *error,
                    zframe_t **peer_p,
                    uint64_t corr_id);
/* The core's "resumed" hook: a link left between two jobs by a restart goes on. */
void cms_pair_resumed(cmn_svc_t *svc);
/* The reset cascade: every link of uuid is unpaired (its cred removed from the peer
 * device; the forgotten device is not asked). */
void cms_pair_forgot(cmn_svc_t *svc, const char *uuid);

#endif
