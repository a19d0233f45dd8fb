/* cms_group.c — SSM groups (seed 6.4, OCF-NOTES 9): one client holding a credtype-128
 * entry (senderid idGroup), servers holding credtype-256 entries (recipientid idGroup,
 * subjectuuid the group subject), the same 256-bit master secret from the DRBG.
 *
 * Write-ahead: the group (state "creating") and its secret (sealed) are committed before
 * any device is touched. Then one job per member, one after the other, through the
 * service core and the cred entry job of cms_pair.c (the stored action names the
 * group): first a survey of every member (the recipientids on it), then idGroup is
 * chosen (docs/decisions.md D78) and recorded, then each member's entry is written (or,
 * for a member leaving, removed) and recorded. A failure during the creation rolls the
 * group back (every entry removed, the group "failed"). Every job starts from a read,
 * so a run cut by kill -9 and resumed finds what the killed run did; a group cut
 * between two jobs goes on when the service starts (cms_group_resumed). */
#include "cms_group.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "cmn_time.h"
#include "cmn_uuid.h"
#include "cms_pair.h"
#include "cms_rec.h"
#include "obt/store.pb-c.h"

#define S_SECRET_NAME (CMS_GROUP_NAME + 8) /* "group/<name>" */
#define S_ID_TRIES    1000                 /* candidates of idGroup looked at, at most */

typedef Obt__Store__CmsGroup s_group_t;
typedef Obt__Store__CmsGroupMember s_member_t;

/* ---------------------------------------------------------------- the group table */

static void
s_secret_name(const char *name, char out[S_SECRET_NAME])
{
    (void) snprintf(out, S_SECRET_NAME, "group/%s", name);
}

static cmn_err_t
s_get(cmn_svc_t *svc, const char *name, s_group_t **ret_g)
{
    return cms_rec_get(svc, CMS_GROUP_DB, name, &obt__store__cms_group__descriptor,
                       (ProtobufCMessage **) ret_g);
}

/* Writes g (updated now) and, when secret is given, the group's secret. */
static cmn_err_t
s_put(cmn_svc_t *svc, s_group_t *g, const uint8_t *secret)
{
    char sname[S_SECRET_NAME];
    s_secret_name(g->name, sname);
    g->version = 1;
    g->updated_ms = cmn_time_wall_ms();
    return cms_rec_put(svc, CMS_GROUP_DB, g->name, &g->base, sname, secret,
                       secret ? CMS_GROUP_SECRET : 0);
}

static cmn_err_t
s_del(cmn_svc_t *svc, const char *name)
{
    char sname[S_SECRET_NAME];
    s_secret_name(name, sname);
    return cms_rec_del(svc, CMS_GROUP_DB, name, sname);
}

static bool
s_has_member(const ProtobufCMessage *msg, const void *arg)
{
    const s_group_t *g = (const s_group_t *) msg;
    for (size_t i = 0; arg && i < g->n_members; i++) {
        if (strcmp(g->members[i]->uuid, arg) == 0) {
            return true;
        }
    }
    return arg == NULL;
}

/* Every group (with member uuid, if not NULL). */
static cmn_err_t
s_list(cmn_svc_t *svc, const char *uuid, s_group_t ***ret_items, size_t *ret_n)
{
    return cms_rec_list(svc, CMS_GROUP_DB, &obt__store__cms_group__descriptor, s_has_member, uuid,
                        (ProtobufCMessage ***) ret_items, ret_n);
}

static s_member_t *
s_member(const s_group_t *g, const char *uuid)
{
    for (size_t i = 0; i < g->n_members; i++) {
        if (strcmp(g->members[i]->uuid, uuid) == 0) {
            return g->members[i];
        }
    }
    return NULL;
}

/* Replaces a string of an unpacked record (protobuf-c frees it with the record; a
 * field never set holds the shared empty string, which is not ours to free). Out of
 * memory: the field keeps its value. */
static void
s_set(char **field, const char *value)
{
    char *copy = strdup(value);
    if (copy == NULL) {
        return;
    }
    if (*field != protobuf_c_empty_string) {
        free(*field);
    }
    *field = copy;
}

/* Servers of g that stay (not leaving). */
static size_t
s_servers(const s_group_t *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_members; i++) {
        n += !g->members[i]->is_client && !g->members[i]->is_leaving;
    }
    return n;
}

/* Every member leaves (delete, rollback): nothing to remove before idGroup was chosen. */
static void
s_all_leave(s_group_t *g, const char *state)
{
    s_set(&g->state, state);
    for (size_t i = 0; i < g->n_members; i++) {
        g->members[i]->is_leaving = true;
        g->members[i]->is_done = g->id[0] == '\0';
    }
}

/* A fresh master secret; every staying member is to be written again. */
static cmn_err_t
s_rekey(s_group_t *g, uint8_t secret[CMS_GROUP_SECRET])
{
    if (RAND_priv_bytes(secret, CMS_GROUP_SECRET) != 1) {
        return CMN_ECRYPTO;
    }
    g->secret_version++;
    for (size_t i = 0; i < g->n_members; i++) {
        g->members[i]->is_done = g->members[i]->is_leaving && g->members[i]->is_done;
    }
    return CMN_OK;
}

/* ---------------------------------------------------------------- answers */

typedef struct {
    Obt__Cms__GroupInfo info;
    Obt__Cms__GroupMemberInfo *members;
    Obt__Cms__GroupMemberInfo **ptrs;
} s_info_t;

static cmn_err_t
s_info(const s_group_t *g, s_info_t *out)
{
    obt__cms__group_info__init(&out->info);
    out->members = calloc(g->n_members + 1, sizeof *out->members);
    out->ptrs = calloc(g->n_members + 1, sizeof *out->ptrs);
    if (out->members == NULL || out->ptrs == NULL) {
        free(out->members);
        free(out->ptrs);
        return CMN_ENOMEM;
    }
    out->info.name = g->name;
    out->info.id = g->id;
    out->info.subject = g->subject;
    out->info.desc = g->desc;
    out->info.state = g->state;
    out->info.error = g->error;
    out->info.updated_ms = g->updated_ms;
    out->info.secret_version = g->secret_version;
    for (size_t i = 0; i < g->n_members; i++) {
        Obt__Cms__GroupMemberInfo *m = &out->members[i];
        obt__cms__group_member_info__init(m);
        m->uuid = g->members[i]->uuid;
        m->role = CMN_PB_STR(g->members[i]->is_client ? "client" : "server");
        m->credid = g->members[i]->credid > 0 ? g->members[i]->credid : 0;
        m->is_leaving = g->members[i]->is_leaving;
        out->ptrs[i] = m;
    }
    out->info.members = out->ptrs;
    out->info.n_members = g->n_members;
    return CMN_OK;
}

static void
s_info_free(s_info_t *i)
{
    free(i->members);
    free(i->ptrs);
}

/* Answers *peer_p (consumed; NULL: nobody waits, a failure is logged) with err, error
 * and the group when given. */
static void
s_answer(cmn_svc_t *svc,
         zframe_t **peer_p,
         uint64_t corr_id,
         cmn_err_t err,
         const char *error,
         const s_group_t *g)
{
    if (*peer_p == NULL) {
        if (err != CMN_OK) {
            cmn_log_warn("CMS-GROUP-FAILED", "group=\"%s\" %s", g ? g->name : "?",
                         error ? error : cmn_strerror(err));
        }
        return;
    }
    Obt__Cms__Reply reply = OBT__CMS__REPLY__INIT;
    s_info_t info;
    bool has_info = g && s_info(g, &info) == CMN_OK;
    reply.corr_id = corr_id;
    if (has_info) {
        reply.body_case = OBT__CMS__REPLY__BODY_GROUP;
        reply.group = &info.info;
    }
    cms_rec_reply(svc, *peer_p, &reply, err, error);
    if (has_info) {
        s_info_free(&info);
    }
    zframe_destroy(peer_p);
}

/* ---------------------------------------------------------------- idGroup (D78) */

static bool
s_in(char *const *ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ids[i], id) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether id is a recipientid CMS knows of in the domain: on a member of g (its
 * survey), another group's idGroup, or an OSCORE id of a pairwise link. */
static bool
s_id_known(cmn_svc_t *svc, const s_group_t *g, const char *id)
{
    for (size_t i = 0; i < g->n_members; i++) {
        if (s_in(g->members[i]->seen_ids, g->members[i]->n_seen_ids, id)) {
            return true;
        }
    }
    s_group_t **all = NULL;
    size_t n = 0;
    bool is_known = false;
    if (s_list(svc, NULL, &all, &n) == CMN_OK) {
        for (size_t i = 0; i < n && !is_known; i++) {
            is_known = strcmp(all[i]->name, g->name) != 0 && strcmp(all[i]->id, id) == 0;
        }
        cms_rec_list_free((ProtobufCMessage **) all, n);
    }
    Obt__Store__CmsLink **links = NULL;
    if (!is_known && cms_rec_list(svc, CMS_PAIR_DB_LINKS, &obt__store__cms_link__descriptor, NULL,
                                  NULL, (ProtobufCMessage ***) &links, &n) == CMN_OK) {
        for (size_t i = 0; i < n && !is_known; i++) {
            is_known = strcmp(links[i]->id_a, id) == 0 || strcmp(links[i]->id_b, id) == 0;
        }
        cms_rec_list_free((ProtobufCMessage **) links, n);
    }
    return is_known;
}

/* Candidate n of idGroup for group name (D78): 0x02, then the first 6 bytes of
 * SHA-256("obt-ssm-group/" name, n as 2 bytes big-endian), as lowercase hex. */
static void
s_id_candidate(const char *name, unsigned n, char out[CMS_GROUP_ID_HEX])
{
    uint8_t in[CMS_GROUP_NAME + 16], md[32];
    size_t len = (size_t) snprintf((char *) in, sizeof in, "obt-ssm-group/%s", name);
    in[len++] = (uint8_t) (n >> 8);
    in[len++] = (uint8_t) n;
    unsigned md_len = 0;
    (void) EVP_Digest(in, len, md, &md_len, EVP_sha256(), NULL);
    for (size_t i = 0; i < 7; i++) {
        (void) snprintf(out + 2 * i, 3, "%02x", i == 0 ? 0x02 : md[i - 1]); /* 6.4 NOTE 1 */
    }
}

/* The first candidate CMS knows no recipientid of, recorded in g (not written). */
static cmn_err_t
s_choose_id(cmn_svc_t *svc, s_group_t *g, char out[CMS_GROUP_ID_HEX])
{
    for (unsigned n = 0; n < S_ID_TRIES; n++) {
        s_id_candidate(g->name, n, out);
        if (!s_id_known(svc, g, out)) {
            cmn_log_notice("CMS-GROUP-ID", "group=\"%s\" idGroup %s (%u candidate(s) in use)",
                           g->name, out, n);
            s_set(&g->id, out);
            return CMN_OK;
        }
    }
    return CMN_EEXIST;
}

/* ---------------------------------------------------------------- the driver */

/* The job of member uuid of group name. */
static cmn_err_t
s_start_job(cmn_svc_t *svc, zframe_t **peer_p, uint64_t corr_id, const char *uuid, const char *name)
{
    Obt__Store__CmsAction act = OBT__STORE__CMS_ACTION__INIT;
    Obt__Store__CmsGroupAction ga = OBT__STORE__CMS_GROUP_ACTION__INIT;
    ga.name = CMN_PB_STR(name);
    act.body_case = OBT__STORE__CMS_ACTION__BODY_GROUP;
    act.group = &ga;
    return cms_rec_start_job(svc, peer_p, corr_id, uuid, &act);
}

/* Every member agrees with the group: the leaving ones are dropped and the group ends
 * (written, answered). */
static void
s_end(cmn_svc_t *svc, s_group_t *g, zframe_t **peer_p, uint64_t corr_id)
{
    size_t kept = 0;
    for (size_t i = 0; i < g->n_members; i++) {
        if (!g->members[i]->is_leaving) { /* swapped: the array keeps owning every member */
            s_member_t *m = g->members[kept];
            g->members[kept++] = g->members[i];
            g->members[i] = m;
        }
    }
    size_t n_all = g->n_members;
    g->n_members = kept;
    cmn_err_t err = CMN_OK;
    bool is_deleting = strcmp(g->state, "deleting") == 0;
    bool is_rollback = strcmp(g->state, "rollback") == 0;
    if (is_deleting) {
        err = s_del(svc, g->name);
        s_set(&g->state, "deleted");
        cmn_log_notice("CMS-GROUP-DELETED", "group=\"%s\"", g->name);
    } else if (is_rollback) {
        s_set(&g->state, "failed");
        err = s_put(svc, g, NULL);
        cmn_log_warn("CMS-GROUP-FAILED", "group=\"%s\" rolled back: %s", g->name, g->error);
        err = err == CMN_OK ? CMN_EDEVICE : err;
    } else {
        s_set(&g->state, "active");
        s_set(&g->old_id, "");
        err = s_put(svc, g, NULL);
        cmn_log_notice("CMS-GROUP-ACTIVE", "group=\"%s\" idGroup %s, %zu member(s), secret v%u%s%s",
                       g->name, g->id, g->n_members, g->secret_version, g->error[0] ? ": " : "",
                       g->error);
        err = err == CMN_OK && g->error[0] ? CMN_EDEVICE : err;
    }
    s_answer(svc, peer_p, corr_id, err, err == CMN_EDEVICE ? g->error : "cannot record the group",
             g);
    g->n_members = n_all; /* so that free_unpacked frees the dropped ones too */
}

/* The member whose job comes next: first any member not surveyed yet (all of them
 * before idGroup is chosen, a member group add brought in: D82), then any whose device
 * does not agree with the group yet. NULL when none. */
static s_member_t *
s_next_member(const s_group_t *g)
{
    for (size_t i = 0; i < g->n_members; i++) {
        if (!g->members[i]->is_surveyed && !g->members[i]->is_leaving) {
            return g->members[i];
        }
    }
    for (size_t i = 0; g->id[0] && i < g->n_members; i++) {
        if (!g->members[i]->is_done) {
            return g->members[i];
        }
    }
    return NULL;
}

/* Whether idGroup is a recipientid a staying member's survey found on it (a member
 * group add brought in: the create's survey chose an id none of the others had). */
static bool
s_id_on_member(const s_group_t *g)
{
    for (size_t i = 0; i < g->n_members; i++) {
        const s_member_t *m = g->members[i];
        if (!m->is_leaving && s_in(m->seen_ids, m->n_seen_ids, g->id)) {
            return true;
        }
    }
    return false;
}

/* group add found idGroup on the new member (D82): a new id none of the surveys saw,
 * the old one kept so that every member's job replaces its entry, every staying member
 * to be written again (in g, not written). */
static cmn_err_t
s_reid(cmn_svc_t *svc, s_group_t *g, char id[CMS_GROUP_ID_HEX])
{
    char old[CMS_GROUP_ID_HEX];
    (void) snprintf(old, sizeof old, "%s", g->id);
    cmn_err_t err = s_choose_id(svc, g, id);
    if (err != CMN_OK) {
        return err;
    }
    s_set(&g->old_id, old);
    for (size_t i = 0; i < g->n_members; i++) {
        g->members[i]->is_done = g->members[i]->is_leaving && g->members[i]->is_done;
    }
    cmn_log_notice("CMS-GROUP-REID",
                   "group=\"%s\" idGroup %s is a recipientid on a new member: every member "
                   "gets %s",
                   g->name, old, id);
    return CMN_OK;
}

/* Moves group name on: the next member's job, or the end (answered to *peer_p, which
 * is consumed either way). */
static void
s_drive(cmn_svc_t *svc, const char *name, zframe_t **peer_p, uint64_t corr_id)
{
    for (;;) {
        s_group_t *g = NULL;
        char why[300];
        char id[CMS_GROUP_ID_HEX];
        cmn_err_t err = s_get(svc, name, &g);
        if (err != CMN_OK) {
            (void) snprintf(why, sizeof why, "group \"%s\": cannot read it: %s", name,
                            cmn_strerror(err));
            s_answer(svc, peer_p, corr_id, err, why, NULL);
            return;
        }
        if (strcmp(g->state, "active") == 0 || strcmp(g->state, "failed") == 0) {
            s_answer(svc, peer_p, corr_id, CMN_OK, NULL, g); /* nothing to do */
            obt__store__cms_group__free_unpacked(g, NULL);
            return;
        }
        s_member_t *next = s_next_member(g);
        bool is_surveyed = next == NULL || next->is_surveyed; /* every member read */
        bool is_reid = is_surveyed && g->id[0] && !strcmp(g->state, "updating") &&
                       s_id_on_member(g); /* D82 */
        if (is_reid || (next == NULL && g->id[0] == '\0' && !strcmp(g->state, "creating"))) {
            err = is_reid ? s_reid(svc, g, id) : s_choose_id(svc, g, id);
            err = err == CMN_OK ? s_put(svc, g, NULL) : err;
            obt__store__cms_group__free_unpacked(g, NULL);
            if (err != CMN_OK) {
                s_answer(svc, peer_p, corr_id, err, "cannot choose and record idGroup", NULL);
                return;
            }
            continue;
        }
        if (next == NULL) {
            s_end(svc, g, peer_p, corr_id);
            obt__store__cms_group__free_unpacked(g, NULL);
            return;
        }
        Obt__ServiceDevice *rec = NULL;
        if (cmn_svc_get(svc, next->uuid, &rec) == CMN_ENOTFOUND) {
            /* a device CMS forgot (reset): nothing of it to write or remove */
            next->is_done = next->is_surveyed = next->is_leaving = true;
            err = s_put(svc, g, NULL);
            obt__store__cms_group__free_unpacked(g, NULL);
            if (err != CMN_OK) {
                s_answer(svc, peer_p, corr_id, err, "cannot record the group", NULL);
                return;
            }
            continue;
        }
        if (rec) {
            obt__service_device__free_unpacked(rec, NULL);
        }
        if (cms_rec_is_busy(svc, next->uuid)) {
            (void) snprintf(why, sizeof why,
                            "a job of device %s is in progress: the group stays \"%s\" and goes "
                            "on when that job has ended (`obtctl groups %s`)",
                            next->uuid, g->state, g->name);
            s_answer(svc, peer_p, corr_id, CMN_ESTATE, why, g);
            obt__store__cms_group__free_unpacked(g, NULL);
            return;
        }
        cmn_log_info("CMS-GROUP-STEP", "group=\"%s\" %s: job of %s (%s)", g->name, g->state,
                     next->uuid,
                     !next->is_surveyed ? "survey"
                     : next->is_leaving ? "remove"
                                        : "write");
        err = s_start_job(svc, peer_p, corr_id, next->uuid, name);
        if (err != CMN_OK) {
            s_answer(svc, peer_p, corr_id, err, NULL, g);
        }
        obt__store__cms_group__free_unpacked(g, NULL);
        return;
    }
}

/* ---------------------------------------------------------------- the API */

static bool
s_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= CMS_GROUP_NAME &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* uuid may join as client (credtype 128) or server (256): managed, its sct has it. */
static cmn_err_t
s_check_member(cmn_svc_t *svc, const char *uuid, bool is_client, char *error, size_t error_len)
{
    cmn_uuid_t u;
    if (cmn_uuid_from_str(uuid, &u) != CMN_OK) {
        (void) snprintf(error, error_len, "\"%s\": not a UUID", uuid);
        return CMN_EINVAL;
    }
    uint32_t sct = 0;
    cmn_err_t err = cms_pair_check_managed(svc, uuid, "in an SSM group", &sct, error, error_len);
    if (err != CMN_OK) {
        return err;
    }
    uint32_t need = is_client ? CMN_CREDTYPE_SSM_CLIENT : CMN_CREDTYPE_SSM_SERVER;
    if (!(sct & need)) {
        (void) snprintf(error, error_len,
                        "device %s does not support SSM %s contexts (doxm sct %u lacks %u)", uuid,
                        is_client ? "client" : "server", sct, need);
        return CMN_EINVAL;
    }
    return CMN_OK;
}

cmn_err_t
cms_group_on_create(cmn_svc_t *svc,
                    cms_t *cms,
                    zframe_t *peer,
                    const Obt__Cms__Request *req,
                    Obt__Cms__Reply *reply,
                    char *error,
                    size_t error_len)
{
    (void) cms;
    (void) reply;
    const Obt__Cms__GroupCreate *c = req->group_create;
    cmn_uuid_t u;
    if (!s_name_ok(c->name)) {
        (void) snprintf(error, error_len, "NAME: 1 to %d characters among A-Z a-z 0-9 . _ -",
                        CMS_GROUP_NAME);
        return CMN_EINVAL;
    }
    if (c->n_servers == 0) {
        (void) snprintf(error, error_len,
                        "a group needs a client and at least one server (a group of one)");
        return CMN_EINVAL;
    }
    if (c->subject[0] && cmn_uuid_from_str(c->subject, &u) != CMN_OK) {
        (void) snprintf(error, error_len, "--subject: not a UUID");
        return CMN_EINVAL;
    }
    if (strlen(c->desc) > CMN_OSCORE_DESC_MAX) {
        (void) snprintf(error, error_len, "--desc: at most %d characters", CMN_OSCORE_DESC_MAX);
        return CMN_EINVAL;
    }
    for (size_t i = 0; i < c->n_servers; i++) {
        bool is_twice = strcmp(c->servers[i], c->client) == 0;
        for (size_t j = 0; j < i; j++) {
            is_twice = is_twice || strcmp(c->servers[i], c->servers[j]) == 0;
        }
        if (is_twice) {
            (void) snprintf(error, error_len,
                            "device %s is named twice (the client is never a server)",
                            c->servers[i]);
            return CMN_EINVAL;
        }
    }
    s_group_t *held = NULL;
    if (s_get(svc, c->name, &held) == CMN_OK) {
        (void) snprintf(error, error_len,
                        "group \"%s\" exists (state \"%s\"): `obtctl group delete %s` first",
                        c->name, held->state, c->name);
        obt__store__cms_group__free_unpacked(held, NULL);
        return CMN_EINVAL;
    }
    cmn_err_t err = s_check_member(svc, c->client, true, error, error_len);
    for (size_t i = 0; err == CMN_OK && i < c->n_servers; i++) {
        err = s_check_member(svc, c->servers[i], false, error, error_len);
    }
    if (err != CMN_OK) {
        return err;
    }
    s_member_t *members = calloc(c->n_servers + 1, sizeof *members);
    s_member_t **ptrs = calloc(c->n_servers + 1, sizeof *ptrs);
    uint8_t secret[CMS_GROUP_SECRET];
    if (members == NULL || ptrs == NULL) {
        free(members);
        free(ptrs);
        return CMN_ENOMEM;
    }
    for (size_t i = 0; i <= c->n_servers; i++) {
        obt__store__cms_group_member__init(&members[i]);
        members[i].uuid = i == 0 ? c->client : c->servers[i - 1];
        members[i].is_client = i == 0;
        ptrs[i] = &members[i];
    }
    s_group_t g = OBT__STORE__CMS_GROUP__INIT;
    g.name = c->name;
    g.subject = c->subject[0] ? c->subject : c->client;
    g.desc = c->desc;
    g.state = CMN_PB_STR("creating");
    g.members = ptrs;
    g.n_members = c->n_servers + 1;
    g.created_ms = cmn_time_wall_ms();
    err = s_rekey(&g, secret);
    /* write-ahead: the group and its secret before any device is touched */
    err = err == CMN_OK ? s_put(svc, &g, secret) : err;
    OPENSSL_cleanse(secret, sizeof secret);
    free(members);
    free(ptrs);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot record the group: %s", cmn_strerror(err));
        return err;
    }
    cmn_log_notice("CMS-GROUP-CREATE",
                   "group=\"%s\" client=%s servers=%zu subject=%s: a fresh 256-bit master secret",
                   c->name, c->client, c->n_servers, c->subject[0] ? c->subject : c->client);
    zframe_t *waiting = zframe_dup(peer);
    s_drive(svc, c->name, &waiting, req->corr_id);
    return CMN_OK;
}

/* group add / rm: the change to g, refused with its text. */
static cmn_err_t
s_change_member(cmn_svc_t *svc,
                s_group_t *g,
                const Obt__Cms__GroupChange *ch,
                s_member_t **added,
                char *error,
                size_t error_len)
{
    s_member_t *m = s_member(g, ch->device_uuid);
    if (ch->op == OBT__CMS__GROUP_CHANGE__OP__OP_RM) {
        if (m == NULL) {
            (void) snprintf(error, error_len, "device %s is not a member of group \"%s\"",
                            ch->device_uuid, g->name);
            return CMN_ENOTFOUND;
        }
        if (m->is_client || s_servers(g) < 2) {
            (void) snprintf(error, error_len,
                            "%s: a group keeps its client and one server at least (a group of "
                            "one): `obtctl group delete %s`",
                            m->is_client ? "the client cannot leave"
                                         : "the last server cannot leave",
                            g->name);
            return CMN_EINVAL;
        }
        m->is_leaving = true;
        m->is_done = false;
        return CMN_OK;
    }
    if (m) {
        (void) snprintf(error, error_len, "device %s is already a member of group \"%s\"",
                        ch->device_uuid, g->name);
        return CMN_EINVAL;
    }
    cmn_err_t err = s_check_member(svc, ch->device_uuid, false, error, error_len);
    if (err != CMN_OK) {
        return err;
    }
    s_member_t **grown = realloc(g->members, (g->n_members + 1) * sizeof *grown);
    *added = calloc(1, sizeof **added);
    if (grown == NULL || *added == NULL) {
        if (grown) {
            g->members = grown;
        }
        free(*added);
        *added = NULL;
        return CMN_ENOMEM;
    }
    obt__store__cms_group_member__init(*added);
    (*added)->uuid = ch->device_uuid;
    (*added)->is_surveyed = false; /* its cred is read before anything is written (D82) */
    g->members = grown;
    g->members[g->n_members++] = *added;
    return CMN_OK;
}

cmn_err_t
cms_group_on_change(cmn_svc_t *svc,
                    cms_t *cms,
                    zframe_t *peer,
                    const Obt__Cms__Request *req,
                    Obt__Cms__Reply *reply,
                    char *error,
                    size_t error_len)
{
    (void) cms;
    (void) reply;
    const Obt__Cms__GroupChange *ch = req->group_change;
    static const char *const ops[] = {"?", "add", "rm", "rekey", "delete"};
    bool has_device = ch->op == OBT__CMS__GROUP_CHANGE__OP__OP_ADD ||
                      ch->op == OBT__CMS__GROUP_CHANGE__OP__OP_RM;
    cmn_uuid_t u;
    if (ch->op < OBT__CMS__GROUP_CHANGE__OP__OP_ADD ||
        ch->op > OBT__CMS__GROUP_CHANGE__OP__OP_DELETE) {
        (void) snprintf(error, error_len, "op: add, rm, rekey or delete");
        return CMN_EINVAL;
    }
    if (has_device && cmn_uuid_from_str(ch->device_uuid, &u) != CMN_OK) {
        (void) snprintf(error, error_len, "UUID: not a UUID");
        return CMN_EINVAL;
    }
    s_group_t *g = NULL;
    cmn_err_t err = s_get(svc, ch->name, &g);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "%s",
                        err == CMN_ENOTFOUND ? "no group of this name" : "cannot read the groups");
        return err;
    }
    bool is_delete = ch->op == OBT__CMS__GROUP_CHANGE__OP__OP_DELETE;
    for (size_t i = 0; i < g->n_members && err == CMN_OK; i++) {
        if (cms_rec_is_busy(svc, g->members[i]->uuid)) {
            (void) snprintf(error, error_len,
                            "a job of device %s is in progress: try again when it is done",
                            g->members[i]->uuid);
            err = CMN_ESTATE;
        }
    }
    if (err == CMN_OK && !is_delete && strcmp(g->state, "active") != 0) {
        (void) snprintf(error, error_len,
                        "group \"%s\" is \"%s\": only an active group changes (`obtctl group "
                        "delete %s` removes it)",
                        g->name, g->state, g->name);
        err = CMN_ESTATE;
    }
    s_member_t *added = NULL;
    uint8_t secret[CMS_GROUP_SECRET];
    bool has_secret = false;
    if (err == CMN_OK) {
        s_set(&g->error, "");
        switch (ch->op) {
        case OBT__CMS__GROUP_CHANGE__OP__OP_DELETE:
            s_all_leave(g, "deleting");
            break;
        case OBT__CMS__GROUP_CHANGE__OP__OP_REKEY:
            err = s_rekey(g, secret);
            has_secret = err == CMN_OK;
            s_set(&g->state, "updating");
            break;
        default:
            err = s_change_member(svc, g, ch, &added, error, error_len);
            s_set(&g->state, "updating");
            break;
        }
    }
    if (err == CMN_OK) {
        /* write-ahead: the change before any device is touched */
        err = s_put(svc, g, has_secret ? secret : NULL);
        if (err != CMN_OK) {
            (void) snprintf(error, error_len, "cannot record the group: %s", cmn_strerror(err));
        }
    }
    OPENSSL_cleanse(secret, sizeof secret);
    if (added) {
        g->n_members--; /* added is ours, not the unpacked message's */
        free(added);
    }
    obt__store__cms_group__free_unpacked(g, NULL);
    if (err != CMN_OK) {
        return err;
    }
    cmn_log_notice("CMS-GROUP-CHANGE", "group=\"%s\" %s%s%s", ch->name, ops[ch->op],
                   has_device ? " " : "", has_device ? ch->device_uuid : "");
    zframe_t *waiting = zframe_dup(peer);
    s_drive(svc, ch->name, &waiting, req->corr_id);
    return CMN_OK;
}

cmn_err_t
cms_group_on_list(cmn_svc_t *svc,
                  cms_t *cms,
                  zframe_t *peer,
                  const Obt__Cms__Request *req,
                  Obt__Cms__Reply *reply,
                  char *error,
                  size_t error_len)
{
    (void) cms;
    const char *name = req->group_list->name;
    s_group_t **all = NULL;
    size_t n = 0;
    cmn_err_t err = s_list(svc, NULL, &all, &n);
    if (err != CMN_OK) {
        (void) snprintf(error, error_len, "cannot read the groups: %s", cmn_strerror(err));
        return err;
    }
    s_info_t *infos = calloc(n + 1, sizeof *infos);
    Obt__Cms__GroupInfo **ptrs = calloc(n + 1, sizeof *ptrs);
    size_t k = 0;
    for (size_t i = 0; infos && ptrs && i < n && err == CMN_OK; i++) {
        if (name[0] == '\0' || strcmp(name, all[i]->name) == 0) {
            err = s_info(all[i], &infos[k]);
            ptrs[k] = &infos[k].info;
            k += err == CMN_OK;
        }
    }
    err = infos == NULL || ptrs == NULL ? CMN_ENOMEM : err;
    if (err == CMN_OK && name[0] && k == 0) {
        (void) snprintf(error, error_len, "no group of this name");
        err = CMN_ENOTFOUND;
    }
    if (err == CMN_OK) {
        Obt__Cms__GroupInfoList list = OBT__CMS__GROUP_INFO_LIST__INIT;
        list.groups = ptrs;
        list.n_groups = k;
        reply->body_case = OBT__CMS__REPLY__BODY_GROUPS;
        reply->groups = &list;
        cms_rec_reply(svc, peer, reply, CMN_OK, NULL);
    }
    for (size_t i = 0; infos && i < k; i++) {
        s_info_free(&infos[i]);
    }
    free(infos);
    free(ptrs);
    cms_rec_list_free((ProtobufCMessage **) all, n);
    return err;
}

/* ---------------------------------------------------------------- the member's job */

cmn_err_t
cms_group_job_load(cmn_svc_t *svc, const char *name, const char *uuid, cms_group_job_t *ret)
{
    s_group_t *g = NULL;
    cmn_err_t err = s_get(svc, name, &g);
    if (err != CMN_OK) {
        return err;
    }
    memset(ret, 0, sizeof *ret);
    const s_member_t *m = s_member(g, uuid);
    bool is_open = strcmp(g->state, "active") != 0 && strcmp(g->state, "failed") != 0;
    ret->is_survey = g->id[0] == '\0' || (m && !m->is_surveyed && !m->is_leaving);
    ret->is_done = m == NULL || !is_open || (ret->is_survey ? m->is_surveyed : m->is_done);
    if (m && g->old_id[0] && m->credid > 0) {
        (void) snprintf(ret->old_id, sizeof ret->old_id, "%s", g->old_id);
        ret->old_credid = m->credid;
    }
    ret->is_remove = m && m->is_leaving;
    ret->is_client = m && m->is_client;
    (void) snprintf(ret->id, sizeof ret->id, "%s", g->id);
    (void) snprintf(ret->desc, sizeof ret->desc, "%s", g->desc);
    if (ret->is_client) {
        /* any schema-compliant value (6.4); [IL]'s: idGroup twice, then zeros */
        cmn_uuid_t s;
        memset(&s, 0, sizeof s);
        for (size_t i = 0; i < 14 && g->id[2 * (i % 7)]; i++) {
            unsigned v = 0;
            (void) sscanf(g->id + 2 * (i % 7), "%2x", &v);
            s.b[i] = (uint8_t) v;
        }
        cmn_uuid_to_str(&s, ret->subject);
    } else {
        (void) snprintf(ret->subject, sizeof ret->subject, "%s", g->subject);
    }
    bool needs_secret = !ret->is_done && !ret->is_survey && !ret->is_remove;
    obt__store__cms_group__free_unpacked(g, NULL);
    if (needs_secret) {
        char sname[S_SECRET_NAME];
        size_t len = 0;
        s_secret_name(name, sname);
        err = cms_rec_secret(svc, sname, CMS_GROUP_SECRET, CMS_GROUP_SECRET, ret->secret,
                             sizeof ret->secret, &len);
    }
    return err;
}

/* Applies fn to member uuid of group name and writes the group. */
static cmn_err_t
s_update_member(cmn_svc_t *svc,
                const char *name,
                const char *uuid,
                void (*fn)(s_member_t *m, const void *arg),
                const void *arg)
{
    s_group_t *g = NULL;
    cmn_err_t err = s_get(svc, name, &g);
    if (err != CMN_OK) {
        return err;
    }
    s_member_t *m = s_member(g, uuid);
    if (m) {
        fn(m, arg);
        err = s_put(svc, g, NULL);
    }
    obt__store__cms_group__free_unpacked(g, NULL);
    return err;
}

typedef struct {
    char *const *ids;
    size_t n;
} s_seen_t;

static void
s_set_seen(s_member_t *m, const void *arg)
{
    const s_seen_t *seen = arg;
    /* the strings stay the caller's: the pointers are cleared before the free */
    m->is_surveyed = true;
    m->seen_ids = (char **) (uintptr_t) seen->ids;
    m->n_seen_ids = seen->n;
}

cmn_err_t
cms_group_surveyed(cmn_svc_t *svc, const char *name, const char *uuid, char *const *ids, size_t n)
{
    s_group_t *g = NULL;
    cmn_err_t err = s_get(svc, name, &g);
    if (err != CMN_OK) {
        return err;
    }
    s_member_t *m = s_member(g, uuid);
    if (m) {
        char **old = m->seen_ids;
        size_t n_old = m->n_seen_ids;
        s_seen_t seen = {ids, n};
        s_set_seen(m, &seen);
        err = s_put(svc, g, NULL);
        m->seen_ids = old;
        m->n_seen_ids = n_old;
    }
    obt__store__cms_group__free_unpacked(g, NULL);
    return err;
}

static void
s_set_done(s_member_t *m, const void *arg)
{
    m->credid = *(const int64_t *) arg;
    m->is_done = true;
}

cmn_err_t
cms_group_record(cmn_svc_t *svc, const char *name, const char *uuid, int64_t credid)
{
    return s_update_member(svc, name, uuid, s_set_done, &credid);
}

char *
cms_group_action_name(const uint8_t *action, size_t len)
{
    Obt__Store__CmsAction *act = action ? obt__store__cms_action__unpack(NULL, len, action) : NULL;
    char *name = NULL;
    if (act && act->body_case == OBT__STORE__CMS_ACTION__BODY_GROUP && act->group->name[0]) {
        name = strdup(act->group->name);
    }
    if (act) {
        obt__store__cms_action__free_unpacked(act, NULL);
    }
    return name;
}

/* ---------------------------------------------------------------- hooks */

void
cms_group_ended(cmn_svc_t *svc,
                const char *name,
                const char *uuid,
                cmn_err_t err,
                const char *error,
                zframe_t **peer_p,
                uint64_t corr_id)
{
    if (err == CMN_OK) {
        s_drive(svc, name, peer_p, corr_id);
        return;
    }
    s_group_t *g = NULL;
    if (s_get(svc, name, &g) != CMN_OK) {
        s_answer(svc, peer_p, corr_id, err, error, NULL);
        return;
    }
    char why[700];
    s_member_t *m = s_member(g, uuid);
    bool is_end = false;
    if (strcmp(g->state, "creating") == 0) {
        (void) snprintf(why, sizeof why, "%s: %s", uuid, error);
        s_all_leave(g, "rollback"); /* remove what was written */
    } else if (strcmp(g->state, "updating") == 0 && m && !m->is_leaving) {
        (void) snprintf(why, sizeof why, "%s: %s; it left the group", uuid, error);
        m->is_leaving = true; /* its entry (if any) is removed, the others go on */
        m->is_done = false;
        if (m->is_client || s_servers(g) == 0) {
            s_all_leave(g, "deleting");
        }
    } else {
        (void) snprintf(why, sizeof why, "%s%s%s: %s", g->error, g->error[0] ? "; " : "", uuid,
                        error);
        s_set(&g->state, "failed");
        is_end = true;
    }
    s_set(&g->error, why);
    cmn_log_warn("CMS-GROUP-JOB-FAILED", "group=\"%s\" %s", g->name, why);
    cmn_err_t perr = s_put(svc, g, NULL);
    if (perr != CMN_OK) {
        cmn_log_err("CMS-STORE", "group \"%s\": cannot record it: %s", name, cmn_strerror(perr));
    }
    if (is_end) {
        s_answer(svc, peer_p, corr_id, err, why, g);
    }
    obt__store__cms_group__free_unpacked(g, NULL);
    if (!is_end) {
        s_drive(svc, name, peer_p, corr_id);
    }
}

static bool
s_is_idle(cmn_svc_t *svc, const s_group_t *g)
{
    for (size_t i = 0; i < g->n_members; i++) {
        if (cms_rec_is_busy(svc, g->members[i]->uuid)) {
            return false; /* its job's end moves the group on */
        }
    }
    return true;
}

/* Every open group none of whose members has a job running goes on (logged when
 * is_restart). */
static void
s_drive_idle(cmn_svc_t *svc, bool is_restart)
{
    s_group_t **all = NULL;
    size_t n = 0;
    if (s_list(svc, NULL, &all, &n) != CMN_OK) {
        cmn_log_err("CMS-GROUP-RESUME", "cannot read the group table");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        bool is_open = strcmp(all[i]->state, "active") != 0 && strcmp(all[i]->state, "failed") != 0;
        if (is_open && s_is_idle(svc, all[i])) {
            if (is_restart) {
                cmn_log_notice("CMS-GROUP-RESUME",
                               "group=\"%s\" was \"%s\" between two jobs: goes on", all[i]->name,
                               all[i]->state);
            }
            zframe_t *nobody = NULL;
            s_drive(svc, all[i]->name, &nobody, 0);
        }
    }
    cms_rec_list_free((ProtobufCMessage **) all, n);
}

void
cms_group_resumed(cmn_svc_t *svc)
{
    s_drive_idle(svc, true);
}

void
cms_group_tick(cmn_svc_t *svc)
{
    s_drive_idle(svc, false);
}

void
cms_group_forgot(cmn_svc_t *svc, const char *uuid)
{
    s_group_t **all = NULL;
    size_t n = 0;
    if (s_list(svc, uuid, &all, &n) != CMN_OK) {
        cmn_log_err("CMS-CASCADE", "dev=%s cannot read the group table", uuid);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        s_group_t *g = all[i];
        s_member_t *m = s_member(g, uuid);
        uint8_t secret[CMS_GROUP_SECRET];
        bool has_secret = false;
        const char *what = "deleted (its client is gone)";
        bool is_creating = strcmp(g->state, "creating") == 0;
        bool is_ending = strcmp(g->state, "deleting") == 0 || strcmp(g->state, "rollback") == 0 ||
                         strcmp(g->state, "failed") == 0;
        m->is_leaving = true;
        m->is_done = true; /* nothing is asked of the forgotten device */
        m->is_surveyed = true;
        if (is_ending) {
            what = "it left a group being removed";
        } else if (m->is_client || s_servers(g) == 0) {
            s_all_leave(g, "deleting");
        } else if (s_rekey(g, secret) == CMN_OK) {
            has_secret = true; /* a create goes on with the new secret (not surveyed: none) */
            s_set(&g->state, is_creating ? "creating" : "updating");
            what = "the server left; a new master secret for the others";
        } else {
            s_all_leave(g, "deleting");
        }
        s_set(&g->error, "");
        cmn_err_t err = s_put(svc, g, has_secret ? secret : NULL);
        OPENSSL_cleanse(secret, sizeof secret);
        if (err != CMN_OK) {
            cmn_log_err("CMS-CASCADE", "dev=%s group=\"%s\" cannot record it: %s", uuid, g->name,
                        cmn_strerror(err));
            continue;
        }
        cmn_log_notice("CMS-CASCADE", "dev=%s forgotten: group=\"%s\" %s", uuid, g->name, what);
        if (s_is_idle(svc, g)) {
            zframe_t *nobody = NULL;
            s_drive(svc, g->name, &nobody, 0);
        }
    }
    cms_rec_list_free((ProtobufCMessage **) all, n);
}
