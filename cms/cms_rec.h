/* cms_rec.h — CMS's keyed records with a sealed secret beside them: the pairwise links
 * (cms_pair.c) and the SSM groups (cms_group.c) are each one protobuf record in a named
 * database and, while they hold one, a key sealed in "secrets" with the KEK. */
#ifndef CMS_REC_H
#define CMS_REC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_svc.h"
#include "obt/cms.pb-c.h"
#include "obt/store.pb-c.h"

/* *ret_msg unpacked (caller frees with protobuf_c_message_free_unpacked); CMN_ENOTFOUND
 * when absent. */
cmn_err_t cms_rec_get(cmn_svc_t *svc,
                      const char *db,
                      const char *key,
                      const ProtobufCMessageDescriptor *desc,
                      ProtobufCMessage **ret_msg);
/* Writes msg under key and, when secret is given, secret sealed under secret_name, in
 * one transaction. */
cmn_err_t cms_rec_put(cmn_svc_t *svc,
                      const char *db,
                      const char *key,
                      const ProtobufCMessage *msg,
                      const char *secret_name,
                      const uint8_t *secret,
                      size_t secret_len);
/* Removes the record and its secret (either may be absent) in one transaction. */
cmn_err_t cms_rec_del(cmn_svc_t *svc, const char *db, const char *key, const char *secret_name);
/* The secret sealed under secret_name into out (cap bytes), its length in *ret_len;
 * CMN_ECRYPTO under another KEK, CMN_EPROTO when longer than cap or of none of the two
 * lengths len1, len2. */
cmn_err_t cms_rec_secret(cmn_svc_t *svc,
                         const char *secret_name,
                         size_t len1,
                         size_t len2,
                         uint8_t *out,
                         size_t cap,
                         size_t *ret_len);

/* Every record of db that unpacks with desc and for which keep (may be NULL) is true,
 * in key order: *ret_items malloc'd (free with cms_rec_list_free). */
typedef bool(cms_rec_keep_fn)(const ProtobufCMessage *msg, const void *arg);
cmn_err_t cms_rec_list(cmn_svc_t *svc,
                       const char *db,
                       const ProtobufCMessageDescriptor *desc,
                       cms_rec_keep_fn *keep,
                       const void *arg,
                       ProtobufCMessage ***ret_items,
                       size_t *ret_n);
void cms_rec_list_free(ProtobufCMessage **items, size_t n);

/* Starts the action job act on device uuid for *peer_p (consumed: the job's end answers
 * it; cmn_svc_job_action answers its own refusals). CMN_ENOMEM: nothing started, *peer_p
 * kept. */
cmn_err_t cms_rec_start_job(cmn_svc_t *svc,
                            zframe_t **peer_p,
                            uint64_t corr_id,
                            const char *uuid,
                            const Obt__Store__CmsAction *act);
/* Whether a job of device uuid runs. */
bool cms_rec_is_busy(cmn_svc_t *svc, const char *uuid);
/* Sends reply (its corr_id and body set by the caller) to peer (borrowed) with the
 * status of err and, unless CMN_OK, error (or err's text when error is empty); a reply
 * that cannot be sent is logged. */
void cms_rec_reply(
        cmn_svc_t *svc, zframe_t *peer, Obt__Cms__Reply *reply, cmn_err_t err, const char *error);

#endif
