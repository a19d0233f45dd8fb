/* sim_acl.c — the access decision of a simulated device (OCF-NOTES 4.5-4.7, 5.3) */
#include "sim_acl.h"

#include <libical/ical.h>
#include <string.h>

#define SIM_ROLE_OWNER "oic.role.owner"

bool
sim_acl_perm_allows(int64_t perm, sim_method_t method)
{
    switch (method) {
    case SIM_GET:
        return (perm & (CMN_PERM_R | CMN_PERM_N)) != 0;
    case SIM_POST:
    case SIM_PUT:
        return (perm & (CMN_PERM_C | CMN_PERM_U)) != 0;
    case SIM_DELETE:
        return (perm & CMN_PERM_D) != 0;
    }
    return false;
}

static bool
s_wc_matches(const char *wc, const sim_res_info_t *res)
{
    if (res->is_dcr) {
        return false;
    }
    if (strcmp(wc, "*") == 0) {
        return true;
    }
    if (strcmp(wc, "+") == 0) {
        return res->is_discoverable;
    }
    return strcmp(wc, "-") == 0 && res->is_discoverable && res->has_plain_ep;
}

bool
sim_acl_res_matches(const cmn_ace_res_t *r, const sim_res_info_t *res, const char *iface)
{
    if (r->href[0] == '\0' && r->wc[0] == '\0' && r->n_rt == 0) {
        return false; /* an entry naming nothing names nothing */
    }
    if (r->href[0] && strcmp(r->href, res->href) != 0) {
        return false;
    }
    if (r->wc[0] && !s_wc_matches(r->wc, res)) {
        return false;
    }
    bool ok = r->n_rt == 0;
    for (size_t i = 0; !ok && i < r->n_rt; i++) {
        ok = res->rt != NULL && strcmp(r->rt[i], res->rt) == 0;
    }
    if (!ok) {
        return false;
    }
    const char *want = iface && iface[0] ? iface : res->ifs[0];
    ok = r->n_ifs == 0;
    for (size_t i = 0; !ok && i < r->n_ifs; i++) {
        ok = strcmp(r->ifs[i], "*") == 0 || (want != NULL && strcmp(r->ifs[i], want) == 0);
    }
    return ok;
}

cmn_err_t
sim_acl_period(const char *period, time_t *ret_start, time_t *ret_end)
{
    /* Without this libical aborts on a malformed string in some builds. */
    icalerror_set_errors_are_fatal(0);
    if (period == NULL || strchr(period, '/') == NULL) {
        return CMN_EINVAL;
    }
    struct icalperiodtype p = icalperiodtype_from_string(period);
    icalerror_clear_errno();
    if (icalperiodtype_is_null_period(p) || icaltime_is_null_time(p.start) ||
        !icaltime_is_utc(p.start)) {
        return CMN_EINVAL;
    }
    struct icaltimetype end = p.end;
    if (icaltime_is_null_time(end)) {
        if (icaldurationtype_is_null_duration(p.duration) || p.duration.is_neg) {
            return CMN_EINVAL;
        }
        end = icaltime_add(p.start, p.duration);
    } else if (!icaltime_is_utc(end)) {
        return CMN_EINVAL;
    }
    icaltimezone *utc = icaltimezone_get_utc_timezone();
    time_t s = icaltime_as_timet_with_zone(p.start, utc);
    time_t e = icaltime_as_timet_with_zone(end, utc);
    if (e <= s) {
        return CMN_EINVAL;
    }
    *ret_start = s;
    *ret_end = e;
    return CMN_OK;
}

bool
sim_acl_ace_is_valid_at(const cmn_ace_t *ace, time_t now)
{
    if (ace->n_validity == 0) {
        return true;
    }
    for (size_t i = 0; i < ace->n_validity; i++) {
        time_t s = 0, e = 0;
        if (sim_acl_period(ace->validity[i], &s, &e) == CMN_OK && now >= s && now < e) {
            return true;
        }
    }
    return false;
}

cmn_err_t
sim_acl_ace_acceptable(const cmn_ace_t *ace)
{
    if (ace->n_resources == 0 || ace->n_recurrence > 0) {
        return CMN_EINVAL;
    }
    for (size_t r = 0; r < ace->n_resources; r++) {
        const cmn_ace_res_t *res = &ace->resources[r];
        if (res->href[0] == '\0' && res->wc[0] == '\0' && res->n_rt == 0) {
            return CMN_EINVAL;
        }
    }
    for (size_t i = 0; i < ace->n_validity; i++) {
        time_t s = 0, e = 0;
        if (sim_acl_period(ace->validity[i], &s, &e) != CMN_OK) {
            return CMN_EINVAL;
        }
    }
    return CMN_OK;
}

static bool
s_has_role(const sim_peer_t *peer, const char *role, const char *authority)
{
    for (size_t i = 0; i < peer->n_roles; i++) {
        if (strcmp(peer->roles[i].role, role) == 0 &&
            (authority[0] == '\0' || strcmp(peer->roles[i].authority, authority) == 0)) {
            return true;
        }
    }
    return false;
}

/* OCF-NOTES 5.3 rule 9: does the subject of ace name this peer for res? */
static bool
s_subject_matches(const cmn_ace_t *ace, const sim_peer_t *peer, const sim_res_info_t *res)
{
    switch (ace->subject_kind) {
    case CMN_ACE_SUBJECT_UUID:
        return peer->is_secure && peer->has_peer && cmn_uuid_eq(&ace->subject_uuid, &peer->peer);
    case CMN_ACE_SUBJECT_ROLE:
        return peer->is_secure && s_has_role(peer, ace->role, ace->authority);
    case CMN_ACE_SUBJECT_CONNTYPE:
        /* Conntype ACEs never open an SVR (OCF-NOTES 4.7). */
        if (res->is_svr) {
            return false;
        }
        return ace->conntype == CMN_CONNTYPE_ANON_CLEAR || peer->is_secure;
    }
    return false;
}

int64_t
sim_acl_permission(const sim_acl_ctx_t *ctx,
                   const sim_peer_t *peer,
                   const sim_res_info_t *res,
                   const char *iface)
{
    int64_t perm = 0;
    for (size_t i = 0; ctx->acl && i < ctx->acl->n_aces; i++) {
        const cmn_ace_t *ace = &ctx->acl->aces[i];
        if (!s_subject_matches(ace, peer, res) || !sim_acl_ace_is_valid_at(ace, ctx->now)) {
            continue;
        }
        for (size_t r = 0; r < ace->n_resources; r++) {
            if (sim_acl_res_matches(&ace->resources[r], res, iface)) {
                perm |= ace->permission;
                break;
            }
        }
    }
    return perm;
}

int
sim_acl_check(const sim_acl_ctx_t *ctx,
              const sim_peer_t *peer,
              sim_method_t method,
              const sim_res_info_t *res,
              const char *iface)
{
    const char *href = res->href;
    int64_t s = ctx->dos_s;
    /* 1. RFOTM with a DOC open: nothing unsecured. */
    if (s == CMN_DOS_RFOTM && ctx->doc_open && !peer->is_secure) {
        return 401;
    }
    /* 3. The DOC reaches every DCR. */
    if (peer->is_doc && res->is_dcr) {
        return 0;
    }
    if (s == CMN_DOS_RFOTM) {
        /* 4. discovery; 5. before any DOC: doxm GET/POST and pstat GET unsecured. */
        if (method == SIM_GET && res->is_dcr && !res->is_svr) {
            return 0;
        }
        if (!peer->is_secure && !ctx->doc_open &&
            ((strcmp(href, "/oic/sec/doxm") == 0 && (method == SIM_GET || method == SIM_POST)) ||
             (strcmp(href, "/oic/sec/pstat") == 0 && method == SIM_GET))) {
            return 0;
        }
        return 401;
    }
    /* 2. NCRs only in RFNOP. */
    if (!res->is_dcr && s != CMN_DOS_RFNOP) {
        return 403;
    }
    /* 6. SVRs never unsecured in RFPRO/RFNOP/SRESET. */
    if (res->is_svr && !peer->is_secure) {
        return 401;
    }
    /* 8. Any secured peer may assert its roles. */
    if (strcmp(href, "/oic/sec/roles") == 0 && peer->is_secure) {
        return 0;
    }
    /* An NCR served only on coaps:// is not reachable without security. */
    if (!res->is_dcr && !res->has_plain_ep && !peer->is_secure) {
        return 401;
    }
    /* 7. Implicit access of the resource owner. */
    if (ctx->rowner && peer->is_secure && peer->has_peer && !cmn_uuid_is_nil(ctx->rowner) &&
        cmn_uuid_eq(ctx->rowner, &peer->peer)) {
        return 0;
    }
    /* 4.11: a device of a release that knows the role grants an asserted owner role
     * everything; an older one only what its ACEs give (Table 2). */
    if (ctx->knows_owner_role && peer->is_secure && s_has_role(peer, SIM_ROLE_OWNER, "")) {
        return 0;
    }
    /* 9. The union of the matching ACEs, else default deny. */
    if (sim_acl_perm_allows(sim_acl_permission(ctx, peer, res, iface), method)) {
        return 0;
    }
    return peer->is_secure ? 403 : 401;
}
