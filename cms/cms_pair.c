/* cms_pair.c — pairwise PSK links (OCF-NOTES 8.5): a fresh 16-byte key from the DRBG
 * on two managed devices, each naming the other as subjectuuid of a credtype-1 cred.
 *
 * Write-ahead: the link (state "pairing") and its key (sealed) are committed before
 * any device is touched. Then one job per device, one after the other, through the
 * service core (cmn_svc_job_action, the stored action being the Pair request): each
 * reads the device's cred, moves it to RFPRO, writes (or removes) its entry, reads the
 * cred again, records the credid in the link, and moves it back to RFNOP. A job that
 * fails turns the link to "rollback": the entries already written are removed, and the
 * link ends "failed" with the reason. Every job starts from the read, so a run cut by
 * kill -9 and resumed finds what the killed run did (an entry naming the other device
 * is adopted and replaced, not added twice); a link cut between two jobs goes on when
 * the service starts (cms_pair_resumed). */
#include "cms_pair.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_time.h"
#include "cmn_uuid.h"
#include "cms_group.h"
#include "cms_rec.h"
#include "cms_service.h"
#include "obt/store.pb-c.h"

#define S_KEY_LEN     (2 * 37 + 1) /* "<a>/<b>" */
#define S_MAX_DELETES 16

/* ---------------------------------------------------------------- the link table */

/* "<a>/<b>" with a < b; *ret_a / *ret_b point at x or y. */
static void
s_order(const char *x, const char *y, const char **ret_a, const char **ret_b, char key[S_KEY_LEN])
{
    *ret_a = strcmp(x, y) < 0 ? x : y;
    *ret_b = *ret_a == x ? y : x;
    (void) snprintf(key, S_KEY_LEN, "%s/%s", *ret_a, *ret_b);
}

static void
s_secret_name(const char *key, char out[S_KEY_LEN + 8])
{
    (void) snprintf(out, S_KEY_LEN + 8, "link/%s", key);
}

/* *ret_link unpacked (caller frees); CMN_ENOTFOUND when absent. */
static cmn_err_t
s_get(cmn_svc_t *svc, const char *key, Obt__Store__CmsLink **ret_link)
{
    return cms_rec_get(svc, CMS_PAIR_DB_LINKS, key, &obt__store__cms_link__descriptor,
                       (ProtobufCMessage **) ret_link);
}

/* Writes link (updated now) and, when psk is given, its sealed key, in one
 * transaction. */
static cmn_err_t
s_put(cmn_svc_t *svc,
      const char *key,
      Obt__Store__CmsLink *link,
      const uint8_t *psk,
      size_t psk_len)
{
    char name[S_KEY_LEN + 8];
    link->version = 1;
    link->updated_ms = cmn_time_wall_ms();
    s_secret_name(key, name);
    return cms_rec_put(svc, CMS_PAIR_DB_LINKS, key, &link->base, name, psk, psk_len);
}

/* Removes the link and its key in one transaction. */
static cmn_err_t
s_del(cmn_svc_t *svc, const char *key)
{
    char name[S_KEY_LEN + 8];
    s_secret_name(key, name);
    return cms_rec_del(svc, CMS_PAIR_DB_LINKS, key, name);
}

/* The link's key (16 bytes, 32 for OSCORE) into ret_psk (CMS_PAIR_SECRET_MAX bytes),
 * its length in *ret_len; CMN_ECRYPTO under another KEK. */
static cmn_err_t
s_get_psk(cmn_svc_t *svc, const char *key, uint8_t ret_psk[CMS_PAIR_SECRET_MAX], size_t *ret_len)
{
    char name[S_KEY_LEN + 8];
    s_secret_name(key, name);
    return cms_rec_secret(svc, name, CMS_PAIR_KEY_LEN, CMS_PAIR_SECRET_MAX, ret_psk,
                          CMS_PAIR_SECRET_MAX, ret_len);
}

typedef struct {
    Obt__Store__CmsLink **items;
    size_t n;
} s_list_t;

static bool
s_is_of(const ProtobufCMessage *msg, const void *arg)
{
    const Obt__Store__CmsLink *link = (const Obt__Store__CmsLink *) msg;
    const char *uuid = arg;
    return uuid == NULL || strcmp(link->a, uuid) == 0 || strcmp(link->b, uuid) == 0;
}

static void
s_list_free(s_list_t *l)
{
    cms_rec_list_free((ProtobufCMessage **) l->items, l->n);
    l->items = NULL;
    l->n = 0;
}

/* Every link (of uuid, if not NULL) in key order. */
static cmn_err_t
s_list(cmn_svc_t *svc, const char *uuid, s_list_t *l)
{
    memset(l, 0, sizeof *l);
    return cms_rec_list(svc, CMS_PAIR_DB_LINKS, &obt__store__cms_link__descriptor, s_is_of, uuid,
                        (ProtobufCMessage ***) &l->items, &l->n);
}

/* ---------------------------------------------------------------- answers */

static void
s_info(const Obt__Store__CmsLink *link, Obt__Cms__LinkInfo *info)
{
    obt__cms__link_info__init(info);
    info->a = link->a;
    info->b = link->b;
    info->state = link->state;
    info->credid_a = link->credid_a > 0 ? link->credid_a : 0;
    info->credid_b = link->credid_b > 0 ? link->credid_b : 0;
    info->error = link->error;
    info->updated_ms = link->updated_ms;
    info->is_oscore = link->is_oscore;
    info->id_a = link->id_a;
    info->id_b = link->id_b;
}

/* Answers peer (if any; it is consumed) with an obt.cms.Reply: err and error, and the
 * link when given. Nobody waiting: a failure is logged. */
static void
s_answer(cmn_svc_t *svc,
         zframe_t **peer_p,
         uint64_t corr_id,
         cmn_err_t err,
         const char *error,
         const Obt__Store__CmsLink *link)
{
    if (*peer_p == NULL) {
        if (err != CMN_OK) {
            cmn_log_warn("CMS-LINK-FAILED", "%s", error ? error : cmn_strerror(err));
        }
        return;
    }
    Obt__Cms__Reply reply = OBT__CMS__REPLY__INIT;
    Obt__Cms__LinkInfo info;
    reply.corr_id = corr_id;
    if (link) {
        s_info(link, &info);
        reply.body_case = OBT__CMS__REPLY__BODY_LINK;
        reply.link = &info;
    }
    cms_rec_reply(svc, *peer_p, &reply, err, error);
    zframe_destroy(peer_p);
}

/* ---------------------------------------------------------------- the driver */

/* The job of device uuid for link; its action (both devices') names the link (a < b). */
static cmn_err_t
s_start_job(cmn_svc_t *svc,
            zframe_t **peer_p,
            uint64_t corr_id,
            const char *uuid,
            const Obt__Store__CmsLink *link)
{
    Obt__Store__CmsAction act = OBT__STORE__CMS_ACTION__INIT;
    Obt__Store__CmsPairAction pair = OBT__STORE__CMS_PAIR_ACTION__INIT;
    pair.a = link->a;
    pair.b = link->b;
    act.body_case = OBT__STORE__CMS_ACTION__BODY_PAIR;
    act.pair = &pair;
    return cms_rec_start_job(svc, peer_p, corr_id, uuid, &act);
}

/* Moves the link of key on: the next device's job, or the end (answered to *peer_p,
 * which is consumed either way). */
static void
s_drive(cmn_svc_t *svc, const char *key, zframe_t **peer_p, uint64_t corr_id)
{
    for (;;) {
        Obt__Store__CmsLink *link = NULL;
        cmn_err_t err = s_get(svc, key, &link);
        char why[400];
        if (err != CMN_OK) {
            (void) snprintf(why, sizeof why, "link %s: cannot read it: %s", key, cmn_strerror(err));
            s_answer(svc, peer_p, corr_id, err, why, NULL);
            return;
        }
        const char *next = NULL;
        bool is_pairing = strcmp(link->state, "pairing") == 0;
        bool is_removing =
                strcmp(link->state, "unpairing") == 0 || strcmp(link->state, "rollback") == 0;
        if (is_pairing) {
            next = link->credid_a <= 0 ? link->a : link->credid_b <= 0 ? link->b : NULL;
        } else if (is_removing) {
            next = link->credid_a != 0 ? link->a : link->credid_b != 0 ? link->b : NULL;
        }
        Obt__ServiceDevice *rec = NULL;
        if (next && is_removing && cmn_svc_get(svc, next, &rec) == CMN_ENOTFOUND) {
            /* a device CMS forgot (reset): nothing of it to remove */
            *(next == link->a ? &link->credid_a : &link->credid_b) = 0;
            err = s_put(svc, key, link, NULL, 0);
            obt__store__cms_link__free_unpacked(link, NULL);
            if (err != CMN_OK) {
                s_answer(svc, peer_p, corr_id, err, "cannot record the link", NULL);
                return;
            }
            continue;
        }
        if (rec) {
            obt__service_device__free_unpacked(rec, NULL);
        }
        if (next == NULL) {
            Obt__Store__CmsLink now = *link; /* shallow: the strings set here are not link's */
            err = CMN_OK;
            if (is_pairing) {
                now.state = CMN_PB_STR("paired");
                err = s_put(svc, key, &now, NULL, 0);
                cmn_log_notice("CMS-PAIRED", "a=%s b=%s credids %lld/%lld", now.a, now.b,
                               (long long) now.credid_a, (long long) now.credid_b);
            } else if (strcmp(link->state, "unpairing") == 0) {
                err = s_del(svc, key);
                now.state = CMN_PB_STR("removed");
                cmn_log_notice("CMS-UNPAIRED", "a=%s b=%s", now.a, now.b);
            } else if (strcmp(link->state, "rollback") == 0) {
                now.state = CMN_PB_STR("failed");
                err = s_put(svc, key, &now, NULL, 0);
                cmn_log_warn("CMS-PAIR-FAILED", "a=%s b=%s rolled back: %s", now.a, now.b,
                             now.error);
                if (err == CMN_OK) {
                    err = CMN_EDEVICE;
                }
            }
            s_answer(svc, peer_p, corr_id, err,
                     err == CMN_EDEVICE ? now.error : "cannot record the link", &now);
            obt__store__cms_link__free_unpacked(link, NULL);
            return;
        }
        if (cms_rec_is_busy(svc, next)) {
            (void) snprintf(why, sizeof why,
                            "a job of device %s is in progress: the link stays \"%s\"; run the "
                            "command again when it is done",
                            next, link->state);
            s_answer(svc, peer_p, corr_id, CMN_ESTATE, why, link);
            obt__store__cms_link__free_unpacked(link, NULL);
            return;
        }
        cmn_log_info("CMS-LINK-STEP", "a=%s b=%s %s: job of %s", link->a, link->b, link->state,
                     next);
        /* its refusals (none expected: checked above) answer the peer themselves */
        err = s_start_job(svc, peer_p, corr_id, next, link);
        if (err != CMN_OK) {
            s_answer(svc, peer_p, corr_id, err, NULL, link);
        }
        obt__store__cms_link__free_unpacked(link, NULL);
        return;
    }
}

/* ---------------------------------------------------------------- the API */

/* A fresh pairwise OSCORE id (OCF-NOTES 9): 7 bytes from the DRBG, the first 0x01, as
 * lowercase hex; never equal to not (if given). */
static cmn_err_t
s_new_id(cmn_svc_t *svc, char out[CMS_PAIR_ID_HEX], const char * not )
{
    if (cms_test_oscore_id(cmn_svc_hooks(svc)->arg, out) && !(not &&strcmp(out, not ) == 0)) {
        return CMN_OK; /* tests only (--test-oscore-ids, D84) */
    }
    do {
        uint8_t id[7];
        if (RAND_bytes(id, sizeof id) != 1) {
            return CMN_ECRYPTO;
        }
        id[0] = 0x01;
        for (size_t i = 0; i < sizeof id; i++) {
            (void) snprintf(out + 2 * i, 3, "%02x", id[i]);
        }
    } while (not &&strcmp(out, not ) == 0);
    return CMN_OK;
}

/* Checks that a and b are two UUIDs of managed devices without a job: CMN_OK, or the
 * error with its text. */
static cmn_err_t
s_check_pair(cmn_svc_t *svc, const char *a, const char *b, char *error, size_t error_len)
{
    cmn_uuid_t u;
    const char *names[2] = {"A", "B"};
    const char *uuids[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (uuids[i] == NULL || cmn_uuid_from_str(uuids[i], &u) != CMN_OK) {
            (void) snprintf(error, error_len, "%s: not a UUID", names[i]);
            return CMN_EINVAL;
        }
    }
    if (strcmp(a, b) == 0) {
        (void) snprintf(error, error_len, "a device cannot be paired with itself");
        return CMN_EINVAL;
    }
    for (int i = 0; i < 2; i++) {
        cmn_err_t err = cms_pair_check_managed(svc, uuids[i], "paired", NULL, error, error_len);
        if (err != CMN_OK) {
            return err;
        }
    }
    return CMN_OK;
}

cmn_err_t
cms_pair_check_managed(cmn_svc_t *svc,
                       const char *uuid,
                       const char *what,
                       uint32_t *ret_sct,
                       char *error,
                       size_t error_len)
{
    Obt__ServiceDevice *dev = NULL;
    cmn_err_t err = cms_managed_get(svc, uuid, what, &dev, error, error_len);
    if (err != CMN_OK) {
        return err;
    }
    uint32_t sct = dev->sct;
    obt__service_device__free_unpacked(dev, NULL);
    if (cms_rec_is_busy(svc, uuid)) {
        (void) snprintf(error, error_len,
                        "a job of device %s is in progress: try again when it is done", uuid);
        return CMN_ESTATE;
    }
    if (ret_sct) {
        *ret_sct = sct;
    }
    return CMN_OK;
}

cmn_err_t
cms_pair_on_pair(cmn_svc_t *svc,
                 cms_t *cms,
                 zframe_t *peer,
                 const Obt__Cms__Request *req,
                 Obt__Cms__Reply *reply,
                 char *error,
                 size_t error_len)
{
    (void) cms;
    (void) reply;
    const Obt__Cms__Pair *p = req->pair;
    cmn_err_t err = s_check_pair(svc, p->a, p->b, error, error_len);
    if (err != CMN_OK) {
        return err;
    }
    const char *a = NULL, *b = NULL;
    char key[S_KEY_LEN];
    s_order(p->a, p->b, &a, &b, key);
    Obt__Store__CmsLink *held = NULL;
    if (s_get(svc, key, &held) == CMN_OK) {
        bool is_other_kind = held->is_oscore != p->oscore && strcmp(held->state, "failed") != 0;
        obt__store__cms_link__free_unpacked(held, NULL);
        if (is_other_kind) {
            (void) snprintf(error, error_len, "these devices are paired with %s: unpair them first",
                            p->oscore ? "a PSK" : "OSCORE");
            return CMN_EINVAL;
        }
    }
    uint8_t psk[CMS_PAIR_SECRET_MAX];
    size_t psk_len = p->oscore ? CMS_PAIR_SECRET_MAX : CMS_PAIR_KEY_LEN;
    char id_a[CMS_PAIR_ID_HEX] = "", id_b[CMS_PAIR_ID_HEX] = "";
    if (RAND_priv_bytes(psk, (int) psk_len) != 1 ||
        (p->oscore &&
         (s_new_id(svc, id_a, NULL) != CMN_OK || s_new_id(svc, id_b, id_a) != CMN_OK))) {
        OPENSSL_cleanse(psk, sizeof psk);
        (void) snprintf(error, error_len, "no randomness for the key");
        return CMN_ECRYPTO;
    }
    Obt__Store__CmsLink link = OBT__STORE__CMS_LINK__INIT;
    link.a = CMN_PB_STR(a);
    link.b = CMN_PB_STR(b);
    link.state = CMN_PB_STR("pairing"); /* a pair again: a fresh key, the entries replaced */
    link.created_ms = cmn_time_wall_ms();
    link.is_oscore = p->oscore;
    link.id_a = p->oscore ? id_a : CMN_PB_STR("");
    link.id_b = p->oscore ? id_b : CMN_PB_STR("");
    /* write-ahead: the link and its key before any device is touched */
    err = s_put(svc, key, &link, psk, psk_len);
    OPENSSL_cleanse(psk, sizeof psk);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot record the link: %s", cmn_strerror(err));
        return err;
    }
    cmn_log_notice("CMS-PAIR", "a=%s b=%s pairing (%s)", a, b,
                   p->oscore ? "OSCORE, a fresh 32-byte master secret" : "a fresh 16-byte key");
    zframe_t *waiting = zframe_dup(peer);
    s_drive(svc, key, &waiting, req->corr_id);
    return CMN_OK;
}

cmn_err_t
cms_pair_on_unpair(cmn_svc_t *svc,
                   cms_t *cms,
                   zframe_t *peer,
                   const Obt__Cms__Request *req,
                   Obt__Cms__Reply *reply,
                   char *error,
                   size_t error_len)
{
    (void) cms;
    (void) reply;
    const Obt__Cms__Unpair *p = req->unpair;
    cmn_uuid_t u;
    if (cmn_uuid_from_str(p->a, &u) != CMN_OK || cmn_uuid_from_str(p->b, &u) != CMN_OK) {
        (void) snprintf(error, error_len, "%s: not a UUID",
                        cmn_uuid_from_str(p->a, &u) != CMN_OK ? "A" : "B");
        return CMN_EINVAL;
    }
    if (strcmp(p->a, p->b) == 0) {
        (void) snprintf(error, error_len, "a device is never paired with itself");
        return CMN_EINVAL;
    }
    const char *a = NULL, *b = NULL;
    char key[S_KEY_LEN];
    s_order(p->a, p->b, &a, &b, key);
    Obt__Store__CmsLink *link = NULL;
    cmn_err_t err = s_get(svc, key, &link);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "%s",
                        err == CMN_ENOTFOUND ? "no link between these devices"
                                             : "cannot read the link table");
        return err;
    }
    if (cms_rec_is_busy(svc, a) || cms_rec_is_busy(svc, b)) {
        (void) snprintf(error, error_len,
                        "a job of device %s is in progress: try again when it is done",
                        cms_rec_is_busy(svc, a) ? a : b);
        obt__store__cms_link__free_unpacked(link, NULL);
        return CMN_ESTATE;
    }
    Obt__Store__CmsLink now = *link; /* shallow: the strings set here are not link's */
    now.state = CMN_PB_STR("unpairing");
    now.error = CMN_PB_STR("");
    /* an entry whose credid is not known is looked for all the same */
    now.credid_a = now.credid_a == 0 ? -1 : now.credid_a;
    now.credid_b = now.credid_b == 0 ? -1 : now.credid_b;
    err = s_put(svc, key, &now, NULL, 0);
    obt__store__cms_link__free_unpacked(link, NULL);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot record the link: %s", cmn_strerror(err));
        return err;
    }
    cmn_log_notice("CMS-UNPAIR", "a=%s b=%s unpairing", a, b);
    zframe_t *waiting = zframe_dup(peer);
    s_drive(svc, key, &waiting, req->corr_id);
    return CMN_OK;
}

cmn_err_t
cms_pair_on_links(cmn_svc_t *svc,
                  cms_t *cms,
                  zframe_t *peer,
                  const Obt__Cms__Request *req,
                  Obt__Cms__Reply *reply,
                  char *error,
                  size_t error_len)
{
    (void) cms;
    const char *uuid = req->link_list->device_uuid;
    cmn_uuid_t u;
    if (uuid[0] && cmn_uuid_from_str(uuid, &u) != CMN_OK) {
        (void) snprintf(error, error_len, "device_uuid: not a UUID");
        return CMN_EINVAL;
    }
    s_list_t l;
    cmn_err_t err = s_list(svc, uuid[0] ? uuid : NULL, &l);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot read the link table: %s", cmn_strerror(err));
        return err;
    }
    Obt__Cms__LinkInfo *infos = calloc(l.n + 1, sizeof *infos);
    Obt__Cms__LinkInfo **ptrs = calloc(l.n + 1, sizeof *ptrs);
    if (infos == NULL || ptrs == NULL) {
        free(infos);
        free(ptrs);
        s_list_free(&l);
        return CMN_ENOMEM;
    }
    for (size_t i = 0; i < l.n; i++) {
        s_info(l.items[i], &infos[i]);
        ptrs[i] = &infos[i];
    }
    Obt__Cms__LinkInfoList list = OBT__CMS__LINK_INFO_LIST__INIT;
    list.links = ptrs;
    list.n_links = l.n;
    reply->body_case = OBT__CMS__REPLY__BODY_LINKS;
    reply->links = &list;
    cms_rec_reply(svc, peer, reply, CMN_OK, NULL);
    free(infos);
    free(ptrs);
    s_list_free(&l);
    return CMN_OK;
}

/* ---------------------------------------------------------------- one device's job */

typedef enum {
    PH_READ = 0, /* GET cred: the entries naming the other device */
    PH_RFPRO,    /* POST pstat dos.s=2 (cred is not writable in RFNOP) */
    PH_WRITE,    /* POST the entry, or DELETE ?credid= each */
    PH_VERIFY,   /* GET cred: the result, recorded in the link */
    PH_RFNOP,    /* POST pstat dos.s=3 */
} s_phase_t;

static const char *const s_phase_names[] = {"GET cred", "RFPRO", "write cred", "verify cred",
                                            "RFNOP"};

typedef struct {
    s_phase_t phase;
    bool is_remove;                   /* unpairing / rollback: remove the entry */
    char key[S_KEY_LEN];              /* the link */
    char other[37];                   /* the other device: the entry's subjectuuid */
    bool is_a;                        /* this device is the link's a */
    uint8_t psk[CMS_PAIR_SECRET_MAX]; /* the link's key (write; wiped at the end) */
    size_t psk_len;                   /* 16, or 32 for OSCORE */
    bool is_oscore;                   /* credtype 64 entries */
    char my_id[CMS_PAIR_ID_HEX];      /* OSCORE: this device's senderid */
    char other_id[CMS_PAIR_ID_HEX];   /* OSCORE: its recipientid (the other's senderid) */
    int64_t credid;                   /* write: the entry to replace (0: a new one) */
    int64_t deletes[S_MAX_DELETES];
    size_t n_deletes;
    size_t idx;       /* position in deletes */
    int refused_code; /* the device refused the write: its code (finish after RFNOP) */
    /* an SSM group member's job (cms_group.c): my_id is the client's senderid, other_id
     * a server's recipientid (idGroup both), other the entry's subjectuuid */
    char group[CMS_GROUP_NAME + 1]; /* "" = a pairwise link's job */
    bool is_survey;                 /* only read the cred: its recipientids for the group */
    int64_t credtype;               /* the entry's credtype: 1, 64, 128 or 256 */
    char old_id[CMS_GROUP_ID_HEX];  /* a group's new idGroup (D82): the old one ... */
    int64_t old_credid;             /* ... of this entry is ours too (replaced) */
    char desc[CMN_OSCORE_DESC_MAX + 1];
} s_work_t;

size_t
cms_pair_work_size(void)
{
    return sizeof(s_work_t);
}

static void s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r);

static void
s_send(cmn_svc_job_t *job, int method, const char *query, const uint8_t *body, size_t len)
{
    s_work_t *w = job->work;
    const char *path =
            w->phase == PH_RFPRO || w->phase == PH_RFNOP ? "/oic/sec/pstat" : "/oic/sec/cred";
    cmn_svc_job_coap(job, s_phase_names[w->phase], method, path, query, body, len, s_on_reply);
}

static void
s_next(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    uint8_t *buf = NULL;
    size_t len = 0;
    cmn_err_t err = CMN_OK;
    switch (w->phase) {
    case PH_READ:
    case PH_VERIFY:
        s_send(job, OBT__GW__METHOD__METHOD_GET, NULL, NULL, 0);
        return;
    case PH_RFPRO:
    case PH_RFNOP: {
        cmn_pstat_t ps = {.present = CMN_PSTAT_HAS_DOS,
                          .dos_s = w->phase == PH_RFPRO ? CMN_DOS_RFPRO : CMN_DOS_RFNOP};
        err = cmn_pstat_encode(&ps, &buf, &len);
        if (err == CMN_OK) {
            s_send(job, OBT__GW__METHOD__METHOD_POST, NULL, buf, len);
        }
        break;
    }
    case PH_WRITE:
        if (w->is_remove) {
            char query[32];
            (void) snprintf(query, sizeof query, "credid=%lld", (long long) w->deletes[w->idx]);
            s_send(job, OBT__GW__METHOD__METHOD_DELETE, query, NULL, 0);
            return;
        }
        cmn_cred_t c = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                   CMN_CRED_HAS_PRIVATEDATA |
                                   (w->credid > 0 ? CMN_CRED_HAS_CREDID : 0) |
                                   (w->is_oscore ? CMN_CRED_HAS_OSCORE : 0) |
                                   (w->group[0] ? CMN_CRED_HAS_OSCORE_DESC : 0),
                        .credid = w->credid,
                        .credtype = w->credtype,
                        .priv_data = w->psk,
                        .priv_len = w->psk_len,
                        .priv_encoding = CMN_ENC_RAW};
        if (w->is_oscore) {
            (void) snprintf(c.senderid, sizeof c.senderid, "%s", w->my_id);
            (void) snprintf(c.recipientid, sizeof c.recipientid, "%s", w->other_id);
            (void) snprintf(c.desc, sizeof c.desc, "%s", w->desc);
        }
        (void) cmn_uuid_from_str(w->other, &c.subjectuuid);
        cmn_creds_t creds = {.present = CMN_CREDS_HAS_CREDS, .creds = &c, .n_creds = 1};
        err = cmn_creds_encode(&creds, &buf, &len);
        if (err == CMN_OK) {
            s_send(job, OBT__GW__METHOD__METHOD_POST, NULL, buf, len);
            OPENSSL_cleanse(buf, len); /* it held the key */
        }
        break;
    }
    free(buf);
    if (err != CMN_OK) {
        char why[96];
        (void) snprintf(why, sizeof why, "%s: cannot encode: %s", s_phase_names[w->phase],
                        cmn_strerror(err));
        cmn_svc_job_finish(job, err, why, NULL);
    }
}

/* Whether c is one of ours: a link's (credtype 1 or 64, subject the other device) or a
 * group's (credtype 128 with senderid idGroup, 256 with recipientid idGroup). */
static bool
s_is_ours(const s_work_t *w, const cmn_cred_t *c)
{
    if (c->credtype != w->credtype) {
        return false;
    }
    if (w->group[0]) {
        bool is_client = w->credtype == CMN_CREDTYPE_SSM_CLIENT;
        const char *id = is_client ? c->senderid : c->recipientid;
        bool is_old = w->old_credid > 0 && c->credid == w->old_credid && strcmp(id, w->old_id) == 0;
        return is_old || strcmp(id, is_client ? w->my_id : w->other_id) == 0;
    }
    cmn_uuid_t other;
    (void) cmn_uuid_from_str(w->other, &other);
    return !c->subject_is_wildcard && cmn_uuid_eq(&c->subjectuuid, &other);
}

/* The entries of creds that are ours (s_is_ours). */
static size_t
s_find(const s_work_t *w, const cmn_creds_t *creds, int64_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < creds->n_creds; i++) {
        if (s_is_ours(w, &creds->creds[i]) && n < cap) {
            out[n++] = creds->creds[i].credid;
        }
    }
    return n;
}

/* OSCORE (6.3): whether id is the recipientid of an entry of creds other than ours for
 * the other device (it would be this device's recipientid twice). */
static bool
s_id_taken(const s_work_t *w, const cmn_creds_t *creds, const char *id)
{
    for (size_t i = 0; i < creds->n_creds; i++) {
        const cmn_cred_t *c = &creds->creds[i];
        if (!s_is_ours(w, c) && (c->present & CMN_CRED_HAS_OSCORE) &&
            strcmp(c->recipientid, id) == 0) {
            return true;
        }
    }
    return false;
}

/* The other device's senderid is already a recipientid here: a new one for it, in the
 * link (with the other device's entry to be written again) before this device's write. */
static cmn_err_t
s_new_other_id(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    Obt__Store__CmsLink *link = NULL;
    char id[CMS_PAIR_ID_HEX];
    cmn_err_t err = s_new_id(job->svc, id, w->my_id);
    if (err == CMN_OK) {
        err = s_get(job->svc, w->key, &link);
    }
    if (err != CMN_OK) {
        return err;
    }
    Obt__Store__CmsLink now = *link; /* shallow: the id set here is not link's */
    if (w->is_a) {
        now.id_b = id;
        now.credid_b = 0;
    } else {
        now.id_a = id;
        now.credid_a = 0;
    }
    err = s_put(job->svc, w->key, &now, NULL, 0);
    obt__store__cms_link__free_unpacked(link, NULL);
    if (err == CMN_OK) {
        cmn_log_notice("CMS-OSCORE-ID", "dev=%s already has recipientid %s: %s gets %s",
                       job->head.uuid, w->other_id, w->other, id);
        (void) snprintf(w->other_id, sizeof w->other_id, "%s", id);
    }
    return err;
}

/* Records this device's entry in the link (write: its credid; remove: 0). */
static cmn_err_t
s_record(cmn_svc_job_t *job, int64_t credid)
{
    s_work_t *w = job->work;
    if (w->group[0]) {
        return cms_group_record(job->svc, w->group, job->head.uuid, credid);
    }
    Obt__Store__CmsLink *link = NULL;
    cmn_err_t err = s_get(job->svc, w->key, &link);
    if (err != CMN_OK) {
        return err;
    }
    *(w->is_a ? &link->credid_a : &link->credid_b) = credid;
    err = s_put(job->svc, w->key, link, NULL, 0);
    obt__store__cms_link__free_unpacked(link, NULL);
    return err;
}

/* A group's survey: the recipientids on the device, recorded in the group. */
static void
s_survey(cmn_svc_job_t *job, const cmn_creds_t *creds)
{
    s_work_t *w = job->work;
    char **ids = calloc(creds->n_creds + 1, sizeof *ids);
    size_t n = 0;
    if (ids == NULL) {
        cmn_svc_job_finish(job, CMN_ENOMEM, "survey: out of memory", NULL);
        return;
    }
    for (size_t i = 0; i < creds->n_creds; i++) {
        if ((creds->creds[i].present & CMN_CRED_HAS_OSCORE) && creds->creds[i].recipientid[0]) {
            ids[n++] = (char *) (uintptr_t) creds->creds[i].recipientid;
        }
    }
    cmn_err_t err = cms_group_surveyed(job->svc, w->group, job->head.uuid, ids, n);
    free(ids);
    cmn_svc_job_finish(job, err, err == CMN_OK ? NULL : "survey: cannot record the group", NULL);
}

static void
s_on_cred(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    cmn_creds_t creds;
    if (cmn_creds_decode(r->payload.data, r->payload.len, &creds) != CMN_OK) {
        cmn_svc_job_finish(job, CMN_EPROTO, "cred: invalid CBOR from the device", NULL);
        return;
    }
    if (w->is_survey) {
        s_survey(job, &creds);
        cmn_creds_free(&creds);
        return;
    }
    int64_t found[S_MAX_DELETES];
    size_t n = s_find(w, &creds, found, S_MAX_DELETES);
    bool is_taken = w->is_oscore && !w->is_remove && w->phase == PH_READ && w->other_id[0] &&
                    s_id_taken(w, &creds, w->other_id);
    cmn_creds_free(&creds);
    if (is_taken && w->group[0]) {
        char why[120];
        (void) snprintf(why, sizeof why,
                        "idGroup %s is already a recipientid on the device: not written",
                        w->other_id);
        cmn_svc_job_finish(job, CMN_EEXIST, why, NULL);
        return;
    }
    if (is_taken) {
        cmn_err_t err = s_new_other_id(job);
        if (err != CMN_OK) {
            cmn_svc_job_finish(job, err, "cannot record a new OSCORE id", NULL);
            return;
        }
    }
    if (w->phase == PH_READ) {
        if (w->is_remove) {
            memcpy(w->deletes, found, n * sizeof found[0]);
            w->n_deletes = n;
        } else {
            w->credid = n > 0 ? found[0] : 0; /* an earlier run's, or an older key: replaced */
        }
        w->phase = PH_RFPRO; /* even with nothing to write: a killed run may have left RFPRO */
        s_next(job);
        return;
    }
    /* PH_VERIFY */
    char why[160];
    if (w->is_remove ? n != 0 : n == 0) {
        (void) snprintf(why, sizeof why, "verify cred: the entry for %s is %s", w->other,
                        w->is_remove ? "still on the device" : "not on the device");
        cmn_svc_job_finish(job, CMN_ESTATE, why, NULL);
        return;
    }
    int64_t credid = w->is_remove ? 0 : found[0];
    for (size_t i = 0; !w->is_remove && i < n; i++) {
        credid = found[i] == w->credid ? found[i] : credid;
    }
    cmn_err_t err = s_record(job, credid);
    if (err != CMN_OK) {
        (void) snprintf(why, sizeof why, "cannot record the link: %s", cmn_strerror(err));
        cmn_svc_job_finish(job, err, why, NULL);
        return;
    }
    cmn_log_notice("CMS-LINK-CRED", "dev=%s %s the credtype-%lld entry %s%s (credid %lld)",
                   job->head.uuid, w->is_remove ? "removed" : "holds", (long long) w->credtype,
                   w->group[0] ? "of group " : "for ", w->group[0] ? w->group : w->other,
                   (long long) credid);
    w->phase = PH_RFNOP;
    s_next(job);
}

static void
s_on_reply(cmn_svc_job_t *job, const Obt__Gw__CoapReply *r)
{
    s_work_t *w = job->work;
    char why[200];
    switch (w->phase) {
    case PH_READ:
    case PH_VERIFY:
        if (r->code != 205) {
            break;
        }
        s_on_cred(job, r);
        return;
    case PH_RFPRO:
    case PH_RFNOP:
        if (r->code != 204) {
            break;
        }
        if (w->phase == PH_RFNOP) {
            if (w->refused_code != 0) {
                (void) snprintf(why, sizeof why, "write cred: the device answered %d.%02d",
                                w->refused_code / 100, w->refused_code % 100);
                cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
            } else {
                cmn_svc_job_finish(job, CMN_OK, NULL, NULL);
            }
            return;
        }
        w->phase = w->is_remove && w->n_deletes == 0 ? PH_VERIFY : PH_WRITE;
        s_next(job);
        return;
    case PH_WRITE:
        if (w->is_remove ? (r->code != 202 && r->code != 404)
                         : (r->code != 204 && r->code != 201)) {
            w->refused_code = (int) r->code; /* back to RFNOP first, then fail */
            w->phase = PH_RFNOP;
        } else if (w->is_remove && ++w->idx < w->n_deletes) {
            /* the next DELETE */
        } else {
            w->phase = PH_VERIFY;
        }
        s_next(job);
        return;
    }
    (void) snprintf(why, sizeof why, "%s: device answered %u.%02u", job->step, r->code / 100,
                    r->code % 100);
    cmn_svc_job_finish(job, CMN_EDEVICE, why, NULL);
}

/* The pair half of a stored CMS action (unpacked: the caller frees it), or NULL when
 * the action is another CMS job's (CRL push, creds: cms_action.c). */
static Obt__Store__CmsAction *
s_unpack_action(const uint8_t *action, size_t len)
{
    Obt__Store__CmsAction *act = obt__store__cms_action__unpack(NULL, len, action);
    if (act && act->body_case != OBT__STORE__CMS_ACTION__BODY_PAIR) {
        obt__store__cms_action__free_unpacked(act, NULL);
        act = NULL;
    }
    return act;
}

bool
cms_pair_is_pair_action(const uint8_t *action, size_t len)
{
    Obt__Store__CmsAction *act = s_unpack_action(action, len);
    if (act) {
        obt__store__cms_action__free_unpacked(act, NULL);
        return true;
    }
    char *group = cms_group_action_name(action, len);
    free(group);
    return group != NULL;
}

/* A group member's job: what the group asks of this device now. */
static void
s_group_start(cmn_svc_job_t *job, char *name)
{
    s_work_t *w = job->work;
    cms_group_job_t g;
    (void) snprintf(w->group, sizeof w->group, "%s", name);
    free(name);
    cmn_err_t err = cms_group_job_load(job->svc, w->group, job->head.uuid, &g);
    if (err != CMN_OK || g.is_done) {
        OPENSSL_cleanse(&g, sizeof g);
        cmn_svc_job_finish(job, err,
                           err == CMN_ENOTFOUND ? "the group is not in the group table"
                           : err == CMN_ECRYPTO ? CMN_SEAL_WRONG_KEK
                           : err != CMN_OK      ? "cannot read the group"
                                                : NULL,
                           NULL);
        return;
    }
    w->is_survey = g.is_survey;
    w->is_remove = g.is_remove;
    w->is_oscore = true;
    w->credtype = g.is_client ? CMN_CREDTYPE_SSM_CLIENT : CMN_CREDTYPE_SSM_SERVER;
    (void) snprintf(w->other, sizeof w->other, "%s", g.subject);
    (void) snprintf(w->my_id, sizeof w->my_id, "%s", g.is_client ? g.id : "");
    (void) snprintf(w->other_id, sizeof w->other_id, "%s", g.is_client ? "" : g.id);
    (void) snprintf(w->desc, sizeof w->desc, "%s", g.desc);
    (void) snprintf(w->old_id, sizeof w->old_id, "%s", g.old_id);
    w->old_credid = g.old_credid;
    memcpy(w->psk, g.secret, sizeof g.secret);
    w->psk_len = sizeof g.secret;
    OPENSSL_cleanse(&g, sizeof g);
    w->phase = PH_READ;
    s_next(job);
}

void
cms_pair_job_start(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    OPENSSL_cleanse(w, sizeof *w);
    char *group = cms_group_action_name(job->action, job->action_len);
    if (group) {
        s_group_start(job, group);
        return;
    }
    Obt__Store__CmsAction *req = s_unpack_action(job->action, job->action_len);
    if (req == NULL) {
        cmn_svc_job_finish(job, CMN_EPROTO, "the stored action does not unpack", NULL);
        return;
    }
    const char *a = NULL, *b = NULL;
    s_order(req->pair->a, req->pair->b, &a, &b, w->key);
    w->is_a = strcmp(job->head.uuid, a) == 0;
    (void) snprintf(w->other, sizeof w->other, "%s", w->is_a ? b : a);
    obt__store__cms_action__free_unpacked(req, NULL);
    Obt__Store__CmsLink *link = NULL;
    cmn_err_t err = s_get(job->svc, w->key, &link);
    if (err != CMN_OK) {
        cmn_svc_job_finish(job, err, "the link is not in the link table", NULL);
        return;
    }
    bool is_pairing = strcmp(link->state, "pairing") == 0;
    w->is_remove = !is_pairing;
    w->is_oscore = link->is_oscore;
    w->credtype = link->is_oscore ? CMN_CREDTYPE_OSCORE : CMN_CREDTYPE_PSK;
    (void) snprintf(w->my_id, sizeof w->my_id, "%s", w->is_a ? link->id_a : link->id_b);
    (void) snprintf(w->other_id, sizeof w->other_id, "%s", w->is_a ? link->id_b : link->id_a);
    bool is_done = !is_pairing && strcmp(link->state, "unpairing") != 0 &&
                   strcmp(link->state, "rollback") != 0;
    obt__store__cms_link__free_unpacked(link, NULL);
    if (is_done) {
        cmn_svc_job_finish(job, CMN_OK, NULL, NULL); /* nothing left to do */
        return;
    }
    if (is_pairing && (err = s_get_psk(job->svc, w->key, w->psk, &w->psk_len)) != CMN_OK) {
        cmn_svc_job_finish(job, err,
                           err == CMN_ECRYPTO ? CMN_SEAL_WRONG_KEK : "the link's key is missing",
                           NULL);
        return;
    }
    w->phase = PH_READ;
    s_next(job);
}

void
cms_pair_job_drop(cmn_svc_job_t *job)
{
    s_work_t *w = job->work;
    OPENSSL_cleanse(w->psk, sizeof w->psk);
}

/* ---------------------------------------------------------------- hooks */

void
cms_pair_ended(cmn_svc_t *svc,
               const char *uuid,
               const uint8_t *action,
               size_t action_len,
               cmn_err_t err,
               const char *error,
               zframe_t **peer_p,
               uint64_t corr_id)
{
    char *group = cms_group_action_name(action, action_len);
    if (group) {
        cms_group_ended(svc, group, uuid, err, error, peer_p, corr_id);
        free(group);
        return;
    }
    Obt__Store__CmsAction *req = s_unpack_action(action, action_len);
    if (req == NULL) {
        return; /* not a link job: the core answers */
    }
    const char *a = NULL, *b = NULL;
    char key[S_KEY_LEN];
    s_order(req->pair->a, req->pair->b, &a, &b, key);
    Obt__Store__CmsLink *link = NULL;
    cmn_err_t gerr = s_get(svc, key, &link);
    obt__store__cms_action__free_unpacked(req, NULL);
    if (gerr != CMN_OK) {
        return;
    }
    if (err == CMN_OK) {
        obt__store__cms_link__free_unpacked(link, NULL);
        s_drive(svc, key, peer_p, corr_id);
        return;
    }
    char why[700];
    bool is_end = true;
    Obt__Store__CmsLink now = *link; /* shallow: the strings set here are not link's */
    if (strcmp(link->state, "pairing") == 0) {
        (void) snprintf(why, sizeof why, "%s: %s", uuid, error);
        now.state = CMN_PB_STR("rollback"); /* remove what was written */
        now.credid_a = now.credid_a == 0 ? -1 : now.credid_a;
        now.credid_b = now.credid_b == 0 ? -1 : now.credid_b;
        is_end = false;
    } else if (strcmp(link->state, "rollback") == 0) {
        (void) snprintf(why, sizeof why, "%s; rollback: %s: %s", link->error, uuid, error);
        now.state = CMN_PB_STR("failed");
    } else {
        (void) snprintf(why, sizeof why, "%s: %s", uuid, error);
    }
    now.error = why;
    cmn_log_warn("CMS-LINK-JOB-FAILED", "a=%s b=%s %s", now.a, now.b, why);
    cmn_err_t perr = s_put(svc, key, &now, NULL, 0);
    if (perr != CMN_OK) {
        cmn_log_err("CMS-STORE", "link %s: cannot record it: %s", key, cmn_strerror(perr));
    }
    if (is_end) {
        s_answer(svc, peer_p, corr_id, err, why, &now);
        obt__store__cms_link__free_unpacked(link, NULL);
        return;
    }
    obt__store__cms_link__free_unpacked(link, NULL);
    s_drive(svc, key, peer_p, corr_id);
}

void
cms_pair_resumed(cmn_svc_t *svc)
{
    s_list_t l;
    if (s_list(svc, NULL, &l) != CMN_OK) {
        cmn_log_err("CMS-LINK-RESUME", "cannot read the link table");
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        const Obt__Store__CmsLink *link = l.items[i];
        bool is_open = strcmp(link->state, "pairing") == 0 ||
                       strcmp(link->state, "unpairing") == 0 ||
                       strcmp(link->state, "rollback") == 0;
        if (!is_open || cms_rec_is_busy(svc, link->a) || cms_rec_is_busy(svc, link->b)) {
            continue; /* done, or a resumed job moves it on when it ends */
        }
        char key[S_KEY_LEN];
        (void) snprintf(key, sizeof key, "%s/%s", link->a, link->b);
        cmn_log_notice("CMS-LINK-RESUME", "a=%s b=%s was \"%s\" between two jobs: goes on", link->a,
                       link->b, link->state);
        zframe_t *nobody = NULL;
        s_drive(svc, key, &nobody, 0);
    }
    s_list_free(&l);
}

void
cms_pair_forgot(cmn_svc_t *svc, const char *uuid)
{
    s_list_t l;
    if (s_list(svc, uuid, &l) != CMN_OK) {
        cmn_log_err("CMS-CASCADE", "dev=%s cannot read the link table", uuid);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        Obt__Store__CmsLink now = *l.items[i]; /* shallow: state is not the item's */
        char key[S_KEY_LEN];
        (void) snprintf(key, sizeof key, "%s/%s", now.a, now.b);
        now.state = CMN_PB_STR("unpairing");
        now.credid_a = strcmp(now.a, uuid) == 0 ? 0 : now.credid_a == 0 ? -1 : now.credid_a;
        now.credid_b = strcmp(now.b, uuid) == 0 ? 0 : now.credid_b == 0 ? -1 : now.credid_b;
        if (s_put(svc, key, &now, NULL, 0) != CMN_OK) {
            continue;
        }
        cmn_log_notice("CMS-CASCADE", "dev=%s forgotten: unpairing %s", uuid, key);
        zframe_t *nobody = NULL;
        s_drive(svc, key, &nobody, 0);
    }
    s_list_free(&l);
}
