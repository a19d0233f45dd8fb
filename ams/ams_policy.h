/* ams_policy.h — obt-ams's policy file (clause 5.5: "the AMS determines an appropriate
 * ACL configuration for each Server"): YAML, read with libyaml, mapping device types
 * (an rt of the device's /oic/d or /oic/res) to ACEs. The format is in docs/ams.md;
 * every ACE field is read with cmn_ace_text (the parser of `obtctl acl add`). */
#ifndef AMS_POLICY_H
#define AMS_POLICY_H

#include <stddef.h>

#include "cmn_svr.h"

/* ACEs the policy may want on one device (the rules that match it, merged). */
#define AMS_POLICY_MAX_ACES 32

typedef struct ams_policy ams_policy_t;

/* Reads and checks the policy file path. NULL on any error, with "PATH:LINE: reason"
 * in why (why_len bytes): nothing of a bad file is used. */
ams_policy_t *ams_policy_load(const char *path, char *why, size_t why_len);
/* The same from text (len bytes); name stands for the path in errors. */
ams_policy_t *
ams_policy_parse(const char *text, size_t len, const char *name, char *why, size_t why_len);
void ams_policy_destroy(ams_policy_t **self_p);
/* Rules (rt entries) and ACEs in all. */
size_t ams_policy_rules(const ams_policy_t *self);
size_t ams_policy_aces(const ams_policy_t *self);
/* The ACEs (no aceid) the policy wants on a device whose /oic/d and /oic/res list the
 * resource types rts: those of every rule whose rt is among them, equal ACEs once, in
 * file order; at most cap (AMS_POLICY_MAX_ACES) into out. Returns how many. */
size_t ams_policy_match(
        const ams_policy_t *self, const char *const *rts, size_t n_rts, cmn_ace_t *out, size_t cap);

#endif
