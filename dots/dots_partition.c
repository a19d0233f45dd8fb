/* dots_partition.c — which DOTS instance group serves a device (docs/scaling.md) */
#include "dots_partition.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One unsigned number of text, all of it, at most max. */
static int
s_number(const char *text, size_t len, unsigned max, unsigned *ret)
{
    if (len == 0 || len > 5) {
        return -1;
    }
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char) text[i])) {
            return -1;
        }
        v = v * 10 + (unsigned) (text[i] - '0');
    }
    if (v > max) {
        return -1;
    }
    *ret = v;
    return 0;
}

int
dots_partition_parse(const char *text, dots_partition_t *ret, char *why, size_t why_len)
{
    ret->k = 0;
    ret->g = 0;
    if (text == NULL || text[0] == '\0') {
        return 0;
    }
    const char *slash = strchr(text, '/');
    unsigned k = 0, g = 0;
    if (slash == NULL || s_number(text, (size_t) (slash - text), UINT16_MAX, &k) != 0 ||
        s_number(slash + 1, strlen(slash + 1), UINT16_MAX, &g) != 0) {
        (void) snprintf(why, why_len, "\"%s\" is not K/G (e.g. 0/2: part 0 of 2)", text);
        return -1;
    }
    if (g == 0 || g > DOTS_PARTITION_MAX) {
        (void) snprintf(why, why_len, "\"%s\": G must be 1..%d", text, DOTS_PARTITION_MAX);
        return -1;
    }
    if (k >= g) {
        (void) snprintf(why, why_len, "\"%s\": K must be 0..%u", text, g - 1);
        return -1;
    }
    ret->k = k;
    ret->g = g;
    return 0;
}

int
dots_partition_of(const char *first_uuid, unsigned g)
{
    if (g <= 1) {
        return 0;
    }
    char lower[64];
    size_t n = 0;
    for (; first_uuid[n] != '\0' && n < sizeof lower - 1; n++) {
        lower[n] = (char) tolower((unsigned char) first_uuid[n]);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (EVP_Digest(lower, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len < 8) {
        return -1;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | md[i];
    }
    return (int) (v % g);
}

bool
dots_partition_has(const dots_partition_t *p, const char *first_uuid)
{
    /* no part known (OpenSSL failed): not ours, nor any group's; the next discovery asks
     * again */
    return p->g <= 1 || dots_partition_of(first_uuid, p->g) == (int) p->k;
}

void
dots_parts_format(uint64_t mask, unsigned g, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (unsigned k = 0; k < g && k < 64 && len < cap; k++) {
        if ((mask >> k) & 1u) {
            int n = snprintf(out + len, cap - len, "%s%u", len ? "," : "", k);
            len = n < 0 ? cap : len + (size_t) n;
        }
    }
    if (mask != 0 && len < cap) {
        (void) snprintf(out + len, cap - len, "/%u", g);
    }
}
