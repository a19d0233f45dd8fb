/* dots_otm.c — the OTM table and the operator's OTM policy */
#include "dots_otm.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "obt/gateway.pb-c.h"

static const dots_otm_t s_otms[] = {
        {0, "jw", "oic.sec.doxm.jw", OBT__GW__SECURITY_KIND__SEC_JW_ANON, false, false},
        {1, "rdp", "oic.sec.doxm.rdp", OBT__GW__SECURITY_KIND__SEC_RDP, true, false},
        {2, "mfg", "oic.sec.doxm.mfgcert", OBT__GW__SECURITY_KIND__SEC_MFG, false, true},
};

#define S_N_OTMS (sizeof s_otms / sizeof s_otms[0])

const dots_otm_t *
dots_otm_by_oxm(int64_t oxm)
{
    for (size_t i = 0; i < S_N_OTMS; i++) {
        if (s_otms[i].oxm == oxm) {
            return &s_otms[i];
        }
    }
    return NULL;
}

const dots_otm_t *
dots_otm_by_name(const char *name)
{
    for (size_t i = 0; name && i < S_N_OTMS; i++) {
        if (strcasecmp(s_otms[i].name, name) == 0) {
            return &s_otms[i];
        }
    }
    return NULL;
}

cmn_err_t
dots_otm_policy_parse(const char *text, dots_otm_policy_t *ret, char *error, size_t error_len)
{
    dots_otm_policy_t p = {.n = 0};
    char buf[DOTS_OTM_POLICY_LEN];
    if (text == NULL || strlen(text) >= sizeof buf) {
        (void) snprintf(error, error_len, "OTM policy missing or too long");
        return CMN_EINVAL;
    }
    (void) snprintf(buf, sizeof buf, "%s", text);
    char *save = NULL;
    for (char *w = strtok_r(buf, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
        const dots_otm_t *otm = dots_otm_by_name(w);
        bool is_repeat = false;
        for (size_t i = 0; otm && i < p.n; i++) {
            is_repeat |= p.otms[i] == otm;
        }
        if (otm == NULL || is_repeat || p.n == DOTS_OTM_MAX) {
            (void) snprintf(error, error_len, "OTM policy \"%s\": %s \"%s\" (known: jw, rdp, mfg)",
                            text, otm == NULL ? "unknown method" : "repeated method", w);
            return CMN_EINVAL;
        }
        p.otms[p.n++] = otm;
    }
    if (p.n == 0) {
        (void) snprintf(error, error_len, "OTM policy \"%s\" names no method", text);
        return CMN_EINVAL;
    }
    *ret = p;
    return CMN_OK;
}

void
dots_otm_policy_str(const dots_otm_policy_t *policy, char *out, size_t len)
{
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < policy->n && k < len; i++) {
        k += (size_t) snprintf(out + k, len - k, "%s%s", i ? "," : "", policy->otms[i]->name);
    }
}

cmn_err_t
dots_otm_policy_within(const dots_otm_policy_t *req,
                       const dots_otm_policy_t *allowed,
                       char *error,
                       size_t error_len)
{
    for (size_t i = 0; i < req->n; i++) {
        bool is_allowed = false;
        for (size_t k = 0; k < allowed->n; k++) {
            is_allowed |= req->otms[i] == allowed->otms[k];
        }
        if (!is_allowed) {
            char text[DOTS_OTM_POLICY_LEN];
            dots_otm_policy_str(allowed, text, sizeof text);
            (void) snprintf(error, error_len, "OTM %s is not allowed by DOTS's policy [%s]",
                            req->otms[i]->name, text);
            return CMN_EINVAL;
        }
    }
    return CMN_OK;
}

const dots_otm_t *
dots_otm_choose(const dots_otm_policy_t *policy,
                const int64_t *oxms,
                size_t n_oxms,
                char *reason,
                size_t reason_len)
{
    for (size_t i = 0; i < policy->n; i++) {
        for (size_t k = 0; k < n_oxms; k++) {
            if (oxms[k] == policy->otms[i]->oxm) {
                return policy->otms[i];
            }
        }
    }
    char offers[64] = "", allows[DOTS_OTM_POLICY_LEN];
    size_t o = 0;
    for (size_t k = 0; k < n_oxms && o < sizeof offers; k++) {
        o += (size_t) snprintf(offers + o, sizeof offers - o, "%s%lld", k ? "," : "",
                               (long long) oxms[k]);
    }
    dots_otm_policy_str(policy, allows, sizeof allows);
    (void) snprintf(reason, reason_len, "device offers oxms [%s]; policy allows [%s]", offers,
                    allows);
    return NULL;
}
