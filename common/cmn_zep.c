/* cmn_zep.c — ZeroMQ endpoint lists with port ranges (docs/scaling.md, D93) */
#include "cmn_zep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A port number: all of text[0..len) digits, 1..65535. -1 if not. */
static long
s_port(const char *text, size_t len)
{
    if (len == 0 || len > 5) {
        return -1;
    }
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return -1;
        }
        v = v * 10 + (text[i] - '0');
    }
    return v >= 1 && v <= 65535 ? v : -1;
}

/* Appends one endpoint (item[0..len)). */
static cmn_err_t
s_add(cmn_zep_t *ret, const char *item, size_t len, char *why, size_t why_len)
{
    if (ret->n >= CMN_ZEP_MAX) {
        (void) snprintf(why, why_len, "more than %d endpoints", CMN_ZEP_MAX);
        return CMN_EINVAL;
    }
    if (len >= CMN_ZEP_LEN) {
        (void) snprintf(why, why_len, "an endpoint longer than %d characters", CMN_ZEP_LEN - 1);
        return CMN_EINVAL;
    }
    memcpy(ret->ep[ret->n], item, len);
    ret->ep[ret->n][len] = '\0';
    ret->n++;
    return CMN_OK;
}

/* One item of the list: a range "tcp://H:P1-P2" or one endpoint. */
static cmn_err_t
s_item(cmn_zep_t *ret, const char *item, size_t len, char *why, size_t why_len)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++) {
        colon = item[i] == ':' ? item + i : colon;
    }
    const char *dash = colon ? memchr(colon, '-', len - (size_t) (colon - item)) : NULL;
    if (strncmp(item, "tcp://", 6) != 0 || colon == NULL || colon < item + 6 || dash == NULL) {
        return s_add(ret, item, len, why, why_len);
    }
    long first = s_port(colon + 1, (size_t) (dash - colon - 1));
    long last = s_port(dash + 1, len - (size_t) (dash + 1 - item));
    if (first < 0 || last < 0 || last < first) {
        (void) snprintf(why, why_len, "\"%.*s\": a port range is FIRST-LAST, 1..65535", (int) len,
                        item);
        return CMN_EINVAL;
    }
    size_t host_len = (size_t) (colon - item);
    for (long p = first; p <= last; p++) {
        char ep[CMN_ZEP_LEN + 8];
        int n = snprintf(ep, sizeof ep, "%.*s:%ld", (int) host_len, item, p);
        cmn_err_t err = s_add(ret, ep, (size_t) n, why, why_len);
        if (err != CMN_OK) {
            return err;
        }
    }
    return CMN_OK;
}

cmn_err_t
cmn_zep_expand(const char *spec, cmn_zep_t *ret, char *why, size_t why_len)
{
    ret->n = 0;
    if (spec == NULL || spec[0] == '\0') {
        (void) snprintf(why, why_len, "no endpoint");
        return CMN_EINVAL;
    }
    for (const char *p = spec;; p += strcspn(p, ",") + 1) {
        size_t len = strcspn(p, ",");
        if (len == 0) {
            (void) snprintf(why, why_len, "\"%s\": an empty endpoint in the list", spec);
            return CMN_EINVAL;
        }
        cmn_err_t err = s_item(ret, p, len, why, why_len);
        if (err != CMN_OK) {
            return err;
        }
        if (p[len] == '\0') {
            return CMN_OK;
        }
    }
}

size_t
cmn_zep_count(const char *spec)
{
    cmn_zep_t *z = malloc(sizeof *z);
    char why[160];
    size_t n = z && cmn_zep_expand(spec, z, why, sizeof why) == CMN_OK ? z->n : 0;
    free(z);
    return n;
}
