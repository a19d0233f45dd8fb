/* cms_rec.c — CMS's keyed records with a sealed secret beside them */
#include "cms_rec.h"

#include <stdlib.h>
#include <string.h>

#include "cmn_jobs.h"
#include "cmn_kv.h"
#include "cmn_log.h"

#define S_SECRETS_DB "secrets"

cmn_err_t
cms_rec_get(cmn_svc_t *svc,
            const char *db,
            const char *key,
            const ProtobufCMessageDescriptor *desc,
            ProtobufCMessage **ret_msg)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_get_pb(txn, db, key, desc, ret_msg);
    cmn_kv_abort(&txn);
    return err;
}

cmn_err_t
cms_rec_put(cmn_svc_t *svc,
            const char *db,
            const char *key,
            const ProtobufCMessage *msg,
            const char *secret_name,
            const uint8_t *secret,
            size_t secret_len)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_put_pb(txn, db, key, msg);
    if (err == CMN_OK && secret) {
        err = cmn_kv_put_sealed(txn, cmn_svc_seal(svc), S_SECRETS_DB, secret_name,
                                strlen(secret_name), secret, secret_len);
    }
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

cmn_err_t
cms_rec_del(cmn_svc_t *svc, const char *db, const char *key, const char *secret_name)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), true, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_del(txn, db, key, strlen(key));
    cmn_err_t err2 = cmn_kv_del(txn, S_SECRETS_DB, secret_name, strlen(secret_name));
    err = err == CMN_ENOTFOUND ? CMN_OK : err;
    err = err == CMN_OK && err2 != CMN_ENOTFOUND ? err2 : err;
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

cmn_err_t
cms_rec_secret(cmn_svc_t *svc,
               const char *secret_name,
               size_t len1,
               size_t len2,
               uint8_t *out,
               size_t cap,
               size_t *ret_len)
{
    cmn_kv_txn_t *txn = NULL;
    void *val = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_get_sealed(txn, cmn_svc_seal(svc), S_SECRETS_DB, secret_name, strlen(secret_name),
                            &val, &len);
    cmn_kv_abort(&txn);
    if (err == CMN_OK && (len > cap || (len != len1 && len != len2))) {
        err = CMN_EPROTO;
    }
    if (err == CMN_OK) {
        memcpy(out, val, len);
        *ret_len = len;
    }
    if (val) {
        cmn_kv_free_secret(val, len);
    }
    return err;
}

typedef struct {
    const ProtobufCMessageDescriptor *desc;
    cms_rec_keep_fn *keep;
    const void *arg;
    ProtobufCMessage **items;
    size_t n;
    bool is_short; /* out of memory */
} s_list_t;

static int
s_collect(const void *key, size_t key_len, const void *val, size_t val_len, void *arg)
{
    (void) key;
    (void) key_len;
    s_list_t *l = arg;
    ProtobufCMessage *msg = protobuf_c_message_unpack(l->desc, NULL, val_len, val);
    if (msg == NULL) {
        return 0; /* not a record of this kind: skipped */
    }
    if (l->keep && !l->keep(msg, l->arg)) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return 0;
    }
    ProtobufCMessage **grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    if (grown == NULL) {
        protobuf_c_message_free_unpacked(msg, NULL);
        l->is_short = true;
        return 1;
    }
    l->items = grown;
    l->items[l->n++] = msg;
    return 0;
}

cmn_err_t
cms_rec_list(cmn_svc_t *svc,
             const char *db,
             const ProtobufCMessageDescriptor *desc,
             cms_rec_keep_fn *keep,
             const void *arg,
             ProtobufCMessage ***ret_items,
             size_t *ret_n)
{
    cmn_kv_txn_t *txn = NULL;
    s_list_t l = {.desc = desc, .keep = keep, .arg = arg};
    cmn_err_t err = cmn_kv_begin(cmn_svc_kv(svc), false, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_each(txn, db, s_collect, &l);
    cmn_kv_abort(&txn);
    if (err == CMN_OK && l.is_short) {
        err = CMN_ENOMEM;
    }
    if (err != CMN_OK) {
        cms_rec_list_free(l.items, l.n);
        return err;
    }
    *ret_items = l.items;
    *ret_n = l.n;
    return CMN_OK;
}

void
cms_rec_list_free(ProtobufCMessage **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        protobuf_c_message_free_unpacked(items[i], NULL);
    }
    free(items);
}

cmn_err_t
cms_rec_start_job(cmn_svc_t *svc,
                  zframe_t **peer_p,
                  uint64_t corr_id,
                  const char *uuid,
                  const Obt__Store__CmsAction *act)
{
    size_t len = obt__store__cms_action__get_packed_size(act);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return CMN_ENOMEM;
    }
    (void) obt__store__cms_action__pack(act, buf);
    cmn_svc_job_action(svc, *peer_p, corr_id, uuid, buf, len);
    zframe_destroy(peer_p);
    free(buf);
    return CMN_OK;
}

bool
cms_rec_is_busy(cmn_svc_t *svc, const char *uuid)
{
    return cmn_jobs_find(cmn_svc_jobs(svc), uuid) != NULL;
}

void
cms_rec_reply(
        cmn_svc_t *svc, zframe_t *peer, Obt__Cms__Reply *reply, cmn_err_t err, const char *error)
{
    reply->status = (Obt__Status) cmn_status_from_err(err);
    reply->error = CMN_PB_STR(err == CMN_OK ? "" : (error && error[0] ? error : cmn_strerror(err)));
    if (cmn_svc_reply(svc, peer, &reply->base) != CMN_OK) {
        cmn_log_warn("CMS-REPLY", "cannot reply (corr=%llu)", (unsigned long long) reply->corr_id);
    }
}
