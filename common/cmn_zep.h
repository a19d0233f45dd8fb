/* cmn_zep.h — a list of ZeroMQ endpoints as the daemons and obtctl take them:
 * "EP,EP,..." where a tcp:// endpoint may end in a port range, "tcp://127.0.0.1:7420-7423"
 * (one endpoint per port). Several instances of a service on one host network each
 * bind the first free endpoint of the list; their clients connect to all of them
 * (docs/scaling.md, D93). */
#ifndef CMN_ZEP_H
#define CMN_ZEP_H

#include <stddef.h>

#include "cmn_err.h"

#define CMN_ZEP_MAX 64  /* endpoints in one list at most */
#define CMN_ZEP_LEN 256 /* one endpoint's length at most, with its NUL */

typedef struct {
    size_t n;
    char ep[CMN_ZEP_MAX][CMN_ZEP_LEN];
} cmn_zep_t;

/* Expands spec into ret: CMN_OK, or CMN_EINVAL with the reason in why (an empty item,
 * a range whose end is below its start, a port outside 1..65535, more than
 * CMN_ZEP_MAX endpoints, one too long). */
cmn_err_t cmn_zep_expand(const char *spec, cmn_zep_t *ret, char *why, size_t why_len);

/* How many endpoints spec names (0 if it is not valid). */
size_t cmn_zep_count(const char *spec);

#endif
