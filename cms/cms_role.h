/* cms_role.h — role certificates (obtctl cert role, docs/cms.md "Role certificates"):
 * the checks of a request, and the cred POST carrying the certificate CMS issues over
 * the public key of the device's identity certificate (OCF-NOTES 6.6). */
#ifndef CMS_ROLE_H
#define CMS_ROLE_H

#include <stddef.h>
#include <stdint.h>

#include "cmn_svc.h"
#include "cmn_svr.h"

/* Checks a cert role request before its job is stored: uuid is a UUID of a device CMS
 * manages (cms_managed_get) that supports certificates (sct bit 8) and holds an
 * identity certificate from CMS (its record's cert_serial, "active"); role is 1..63
 * printable ASCII characters without '@'; authority is "" or the same. CMN_OK, or the
 * error with its text: EINVAL (bad input, a device not managed or without
 * certificates), ENOTFOUND (unknown to CMS), the store's. */
cmn_err_t cms_role_check(cmn_svc_t *svc,
                         const char *uuid,
                         const char *role,
                         const char *authority,
                         char *error,
                         size_t error_len);

/* The credid of the device's oic.sec.cred.rolecert entry for role and authority among
 * creds (the new certificate replaces it), 0 if none; ret_serial gets the serial of its
 * certificate (lowercase hex, "" if none). */
int64_t cms_role_find_credid(const cmn_creds_t *creds,
                             const char *role,
                             const char *authority,
                             char ret_serial[65]);

/* The role certificate old of device uuid, replaced on the device by new_serial,
 * becomes "replaced" if it is "active" (a revoked one stays revoked). */
void cms_role_replaced(cmn_svc_t *svc, const char *uuid, const char *old, const char *new_serial);

/* Issues device uuid's role certificate over the public key of its identity
 * certificate (the one CMS's record names) and builds the cred POST: one credtype-8
 * entry, subject the device, credusage oic.sec.cred.rolecert, publicdata the
 * certificate then the CA chain (PEM), replacing credid (0: a new entry). The
 * certificate is recorded "issued" (usage "role") before it leaves CMS; role
 * certificates of the device still "issued" from a run cut short become "abandoned".
 * *ret_body is malloc'd. The reason in why. */
cmn_err_t cms_role_body(cmn_svc_t *svc,
                        const char *uuid,
                        const char *role,
                        const char *authority,
                        int64_t credid,
                        char ret_serial[65],
                        uint8_t **ret_body,
                        size_t *ret_len,
                        char *why,
                        size_t why_len);

#endif
