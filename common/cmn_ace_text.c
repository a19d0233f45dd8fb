/* cmn_ace_text.c — an ACE written as text: parsing and printing */
#include "cmn_ace_text.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmn_uuid.h"

static cmn_err_t
s_bad(char *why, size_t why_len, const char *want)
{
    (void) snprintf(why, why_len, "%s", want);
    return CMN_EINVAL;
}

cmn_err_t
cmn_ace_text_subject(const char *s, cmn_ace_t *ace, char *why, size_t why_len)
{
    if (strncmp(s, "uuid:", 5) == 0) {
        cmn_uuid_t u;
        if (cmn_uuid_from_str(s + 5, &u) != CMN_OK) {
            return s_bad(why, why_len, "uuid: needs a UUID");
        }
        ace->subject_kind = CMN_ACE_SUBJECT_UUID;
        ace->subject_uuid = u;
        return CMN_OK;
    }
    if (strncmp(s, "role:", 5) == 0) {
        const char *at = strchr(s + 5, '@');
        size_t n = at ? (size_t) (at - s - 5) : strlen(s + 5);
        if (n == 0 || n >= sizeof ace->role ||
            (at && (at[1] == '\0' || strlen(at + 1) >= sizeof ace->authority))) {
            return s_bad(why, why_len, "role:NAME[@AUTHORITY], each 1..63 characters");
        }
        ace->subject_kind = CMN_ACE_SUBJECT_ROLE;
        (void) snprintf(ace->role, sizeof ace->role, "%.*s", (int) n, s + 5);
        (void) snprintf(ace->authority, sizeof ace->authority, "%s", at ? at + 1 : "");
        return CMN_OK;
    }
    if (strcmp(s, "conn:anon-clear") == 0 || strcmp(s, "conn:auth-crypt") == 0) {
        ace->subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
        ace->conntype = strcmp(s, "conn:anon-clear") == 0 ? CMN_CONNTYPE_ANON_CLEAR
                                                          : CMN_CONNTYPE_AUTH_CRYPT;
        return CMN_OK;
    }
    return s_bad(why, why_len,
                 "want uuid:UUID, role:NAME[@AUTHORITY], conn:anon-clear or conn:auth-crypt");
}

cmn_err_t
cmn_ace_text_res(const char *s, cmn_ace_res_t *ret, char *why, size_t why_len)
{
    cmn_ace_res_t r;
    memset(&r, 0, sizeof r);
    if (s[0] == '/') {
        if (strlen(s) >= sizeof r.href) {
            return s_bad(why, why_len, "href longer than 63 characters");
        }
        (void) snprintf(r.href, sizeof r.href, "%s", s);
    } else if (strncmp(s, "rt:", 3) == 0) {
        if (s[3] == '\0' || strlen(s + 3) >= sizeof r.rt[0]) {
            return s_bad(why, why_len, "rt: needs a resource type (1..47 characters)");
        }
        (void) snprintf(r.rt[0], sizeof r.rt[0], "%s", s + 3);
        r.n_rt = 1;
    } else if (strcmp(s, "wc:*") == 0 || strcmp(s, "wc:+") == 0 || strcmp(s, "wc:-") == 0) {
        (void) snprintf(r.wc, sizeof r.wc, "%s", s + 3);
    } else {
        return s_bad(why, why_len, "want /HREF, rt:TYPE, wc:*, wc:+ or wc:-");
    }
    *ret = r;
    return CMN_OK;
}

cmn_err_t
cmn_ace_text_if(const char *s, char *why, size_t why_len)
{
    cmn_ace_res_t r;
    if (s[0] == '\0' || strlen(s) >= sizeof r.ifs[0]) {
        return s_bad(why, why_len, "an interface name (1..47 characters)");
    }
    return CMN_OK;
}

cmn_err_t
cmn_ace_text_perm(const char *s, int64_t *ret, char *why, size_t why_len)
{
    static const char letters[] = "CRUDN";
    int64_t v = 0;
    size_t n = strlen(s);
    bool is_columns = n == 5 && strchr(s, '-') != NULL;
    if (n == 0) {
        return s_bad(why, why_len, "want letters of CRUDN (e.g. RU) or -RU--");
    }
    for (size_t i = 0; i < n; i++) {
        const char *at = strchr(letters, s[i]);
        if (is_columns) {
            if (s[i] != '-' && s[i] != letters[i]) {
                return s_bad(why, why_len, "5-column form is CRUDN with - for absent");
            }
            v |= s[i] == '-' ? 0 : (int64_t) 1 << i;
        } else if (at == NULL) {
            return s_bad(why, why_len, "want letters of CRUDN (e.g. RU) or -RU--");
        } else {
            v |= (int64_t) 1 << (at - letters);
        }
    }
    *ret = v;
    return CMN_OK;
}

cmn_err_t
cmn_ace_text_validity(const char *s, cmn_ace_t *ace, char *why, size_t why_len)
{
    const char *slash = strchr(s, '/');
    if (ace->n_validity >= CMN_ACE_MAX_VALIDITY || slash == NULL || slash == s ||
        slash[1] == '\0' || strlen(s) >= sizeof ace->validity[0]) {
        return s_bad(why, why_len, "START/END or START/DURATION (RFC 5545, UTC), at most 4");
    }
    (void) snprintf(ace->validity[ace->n_validity++], sizeof ace->validity[0], "%s", s);
    return CMN_OK;
}

void
cmn_ace_text_set_if(cmn_ace_t *ace, const char *iface)
{
    for (size_t i = 0; iface && i < ace->n_resources; i++) {
        (void) snprintf(ace->resources[i].ifs[0], sizeof ace->resources[i].ifs[0], "%s", iface);
        ace->resources[i].n_ifs = 1;
    }
}

void
cmn_ace_text_perm_str(int64_t perm, char out[6])
{
    static const char letters[] = "CRUDN";
    for (int i = 0; i < 5; i++) {
        out[i] = (char) ((perm >> i) & 1 ? letters[i] : '-');
    }
    out[5] = '\0';
}

void
cmn_ace_text_subject_str(const cmn_ace_t *a, char *out, size_t cap)
{
    char u[CMN_UUID_STR_LEN + 1];
    if (a->subject_kind == CMN_ACE_SUBJECT_UUID) {
        cmn_uuid_to_str(&a->subject_uuid, u);
        (void) snprintf(out, cap, "uuid:%s", u);
    } else if (a->subject_kind == CMN_ACE_SUBJECT_ROLE) {
        (void) snprintf(out, cap, "role:%s%s%s", a->role, a->authority[0] ? "@" : "", a->authority);
    } else {
        (void) snprintf(out, cap, "conn:%s",
                        a->conntype == CMN_CONNTYPE_ANON_CLEAR ? "anon-clear" : "auth-crypt");
    }
}

void
cmn_ace_text_res_str(const cmn_ace_t *a, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < a->n_resources && used < cap; i++) {
        const cmn_ace_res_t *r = &a->resources[i];
        int n = snprintf(out + used, cap - used, "%s%s%s%s%s%s%s", i ? "," : "", r->href,
                         r->wc[0] ? "wc:" : "", r->wc, r->n_rt ? "rt:" : "",
                         r->n_rt ? r->rt[0] : "", r->n_ifs ? "|if:" : "");
        used += n > 0 ? (size_t) n : 0;
        if (r->n_ifs && used < cap) {
            n = snprintf(out + used, cap - used, "%s", r->ifs[0]);
            used += n > 0 ? (size_t) n : 0;
        }
    }
}
