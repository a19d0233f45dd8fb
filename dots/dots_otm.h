/* dots_otm.h — the ownership transfer methods DOTS implements, as one table, and the
 * operator's OTM policy: which methods are acceptable, in order of preference
 * (clause 5.3.3). The choice is a pure function so that it is unit-tested. */
#ifndef DOTS_OTM_H
#define DOTS_OTM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"

#define DOTS_OTM_MAX        4  /* methods in one policy */
#define DOTS_OTM_POLICY_LEN 32 /* a policy as text, "mfg,rdp,jw" */

/* How DOTS runs one OTM: what the DOC is made of. */
typedef struct {
    int64_t oxm;       /* doxm oxms/oxmsel value (OCF-NOTES 4.1) */
    const char *name;  /* operator's name: "jw", "rdp" */
    const char *label; /* URN, the owner-PSK label: "oic.sec.doxm.jw" */
    int sec_kind;      /* obt.gw.SecurityKind of the DOC */
    bool needs_pin;    /* the DOC waits for the operator's PIN (WAIT_PIN) */
    bool needs_trust;  /* the DOC needs manufacturer trust anchors (mfg-trust) */
} dots_otm_t;

/* The row of an oxm value, or NULL if DOTS does not implement it. */
const dots_otm_t *dots_otm_by_oxm(int64_t oxm);

/* The row of an operator name ("jw", "rdp", "mfg"; case-insensitive), or NULL. */
const dots_otm_t *dots_otm_by_name(const char *name);

/* An operator policy: acceptable methods, most preferred first. */
typedef struct {
    const dots_otm_t *otms[DOTS_OTM_MAX];
    size_t n;
} dots_otm_policy_t;

/* Parses "rdp,jw" (names, comma-separated, no repeats, at least one). CMN_EINVAL
 * with the offending word in error. */
cmn_err_t
dots_otm_policy_parse(const char *text, dots_otm_policy_t *ret, char *error, size_t error_len);

/* Checks that every method of req (an operator's per-request choice) is allowed by
 * allowed (DOTS's --otm-policy): a request may narrow or reorder the policy, never
 * widen it (clause 5.3.3). CMN_EINVAL with the reason in error. */
cmn_err_t dots_otm_policy_within(const dots_otm_policy_t *req,
                                 const dots_otm_policy_t *allowed,
                                 char *error,
                                 size_t error_len);

/* Formats a policy as "rdp,jw" into out. */
void dots_otm_policy_str(const dots_otm_policy_t *policy, char *out, size_t len);

/* The first method of policy that the device offers in oxms, or NULL; then reason
 * says "device offers oxms [0]; policy allows [rdp]". */
const dots_otm_t *dots_otm_choose(const dots_otm_policy_t *policy,
                                  const int64_t *oxms,
                                  size_t n_oxms,
                                  char *reason,
                                  size_t reason_len);

#endif
