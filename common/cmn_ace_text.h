/* cmn_ace_text.h — an ACE written as text (docs/ams.md): the one parser of subjects,
 * resources, interfaces, permissions and validity periods, used by `obtctl acl add`
 * and by obt-ams's policy file */
#ifndef CMN_ACE_TEXT_H
#define CMN_ACE_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"
#include "cmn_svr.h"

/* Each parser returns CMN_OK, or CMN_EINVAL with what the field wants in why (why_len
 * bytes, always terminated); the output is written only on success. */

/* "uuid:UUID" | "role:NAME[@AUTHORITY]" | "conn:anon-clear" | "conn:auth-crypt": sets
 * the subject fields of ace (kind, uuid / role and authority / conntype). */
cmn_err_t cmn_ace_text_subject(const char *s, cmn_ace_t *ace, char *why, size_t why_len);
/* "/HREF" | "rt:TYPE" | "wc:*" | "wc:+" | "wc:-": *ret is cleared and filled. */
cmn_err_t cmn_ace_text_res(const char *s, cmn_ace_res_t *ret, char *why, size_t why_len);
/* An interface name (1..47 characters). */
cmn_err_t cmn_ace_text_if(const char *s, char *why, size_t why_len);
/* CRUDN letters in any order ("RU") or the 5-column form ("-RU--"). */
cmn_err_t cmn_ace_text_perm(const char *s, int64_t *ret, char *why, size_t why_len);
/* An RFC 5545 period "START/END" or "START/DURATION" (checked for shape and length
 * here; the device parses it). Appended to ace's validity (at most
 * CMN_ACE_MAX_VALIDITY). */
cmn_err_t cmn_ace_text_validity(const char *s, cmn_ace_t *ace, char *why, size_t why_len);
/* Sets interface iface on every resource of ace (NULL: nothing). */
void cmn_ace_text_set_if(cmn_ace_t *ace, const char *iface);

/* Printing: "-RU--" (out holds 6 bytes). */
void cmn_ace_text_perm_str(int64_t perm, char out[6]);
/* The subject as cmn_ace_text_subject reads it. */
void cmn_ace_text_subject_str(const cmn_ace_t *a, char *out, size_t cap);
/* The resources, comma-separated ("/light|if:oic.if.a,rt:oic.r.temperature"). */
void cmn_ace_text_res_str(const cmn_ace_t *a, char *out, size_t cap);

#endif
