/* sim_acl.h — the access decision of a simulated device: the state rules of OCF-NOTES
 * 5.3, then the ACL2 evaluation of clause 12 of ISO/IEC 30118-2 (subjects by uuid, role
 * and conntype; resources by href, rt, if and the wildcards; CRUDN; validity; default
 * deny). Pure functions over their arguments, so tables of cases test them. */
#ifndef SIM_ACL_H
#define SIM_ACL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cmn_svr.h"
#include "sim_device.h"

/* What the device knows about the resource a request names. */
typedef struct {
    const char *href;     /* its path */
    const char *rt;       /* its resource type */
    const char *ifs[3];   /* its interfaces, the first is the default; NULL ends */
    bool is_dcr;          /* a Device Configuration Resource (SVRs, /oic/res, /oic/d, /oic/p) */
    bool is_svr;          /* an SVR (/oic/sec/...) */
    bool is_discoverable; /* listed in /oic/res */
    bool has_plain_ep;    /* also served on an unsecured coap:// endpoint */
} sim_res_info_t;

/* The device's side of one decision (borrowed pointers). */
typedef struct {
    int64_t dos_s;            /* pstat dos.s */
    bool doc_open;            /* a DOC exists */
    const cmn_uuid_t *rowner; /* rowneruuid of the resource (acl2, cred, doxm, pstat), or NULL */
    const cmn_acl_t *acl;     /* /oic/sec/acl2 */
    bool knows_owner_role;    /* the device's icv is newer than ocf.2.4.0: an asserted
                               * "oic.role.owner" has full access without an ACE (Table 2) */
    time_t now;               /* wall clock, for validity periods */
} sim_acl_ctx_t;

/* 0 when the request is allowed; else the CoAP code to answer: 4.01 for a request
 * that came without security (authenticating could help), 4.03 otherwise. iface is
 * the request's if= (NULL or "": the resource's default interface). */
int sim_acl_check(const sim_acl_ctx_t *ctx,
                  const sim_peer_t *peer,
                  sim_method_t method,
                  const sim_res_info_t *res,
                  const char *iface);

/* The union of the permissions (CRUDN bits) of every ACE that applies to peer on res
 * now: subject matches, a resource entry matches, within its validity. */
int64_t sim_acl_permission(const sim_acl_ctx_t *ctx,
                           const sim_peer_t *peer,
                           const sim_res_info_t *res,
                           const char *iface);

/* True if permission bits perm allow method (OCF-NOTES 4.5: GET needs R or N, POST/PUT
 * C or U, DELETE D). */
bool sim_acl_perm_allows(int64_t perm, sim_method_t method);

/* True if the resource entry r of an ACE names res under interface iface: every field
 * given (href, wc, rt, if) matches. Wildcards never name a DCR (OCF-NOTES 4.6). */
bool sim_acl_res_matches(const cmn_ace_res_t *r, const sim_res_info_t *res, const char *iface);

/* An RFC 5545 period "START/END" or "START/DURATION" (UTC date-times, libical) as
 * [*ret_start, *ret_end). CMN_EINVAL if it does not parse or ends before it starts. */
cmn_err_t sim_acl_period(const char *period, time_t *ret_start, time_t *ret_end);

/* True if ace applies at now: no validity, or now within one of its periods. */
bool sim_acl_ace_is_valid_at(const cmn_ace_t *ace, time_t now);

/* What a POST of ace is refused for (the device answers 4.00): no resource, a resource
 * entry without href, wc or rt, a period that does not parse, a recurrence rule (not
 * supported: docs/decisions.md D40). CMN_OK if acceptable. */
cmn_err_t sim_acl_ace_acceptable(const cmn_ace_t *ace);

#endif
