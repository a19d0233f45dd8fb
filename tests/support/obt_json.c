/* obt_json.c — reading our own JSON outputs in tests */
#include "obt_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
obt_json_str(const char *from, const char *key, char *out, size_t cap)
{
    char pat[128];
    (void) snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = from ? strstr(from, pat) : NULL;
    if (p == NULL || cap == 0) {
        return NULL;
    }
    p += strlen(pat);
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < cap) {
        out[n++] = *p++;
    }
    out[n] = '\0';
    return *p == '"' ? p + 1 : NULL;
}

size_t
obt_json_objects(const char *text, char **objs, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (p && *p && n < max) {
        const char *start = strchr(p, '{');
        if (start == NULL) {
            break;
        }
        /* Objects are balanced and strings hold no braces in our outputs. */
        int depth = 0;
        const char *q = start;
        for (; *q; q++) {
            depth += *q == '{';
            depth -= *q == '}';
            if (depth == 0) {
                break;
            }
        }
        if (*q == '\0') {
            break;
        }
        size_t len = (size_t) (q - start) + 1;
        objs[n] = malloc(len + 1);
        if (objs[n] == NULL) {
            break;
        }
        memcpy(objs[n], start, len);
        objs[n][len] = '\0';
        n++;
        p = q + 1;
    }
    return n;
}
