/* cmn_cfg_docs_test.c — each daemon's `--help` options are the flags docs/internals.md
 * lists for it (and no others), and every numeric option has its bounds */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obt_support.h"

#define S_MAX 64

typedef struct {
    char names[S_MAX][40];
    size_t n;
} s_set_t;

static bool
s_has(const s_set_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static void
s_add(s_set_t *s, const char *name, size_t len)
{
    char buf[40];
    (void) snprintf(buf, sizeof buf, "%.*s", (int) len, name);
    if (!s_has(s, buf) && s->n < S_MAX) {
        (void) snprintf(s->names[s->n++], sizeof s->names[0], "%s", buf);
    }
}

static size_t
s_flag_len(const char *p)
{
    size_t n = 0;
    while (islower((unsigned char) p[n]) || isdigit((unsigned char) p[n]) || p[n] == '-') {
        n++;
    }
    return n;
}

/* The options of `exe --help`: lines "  --name ...", "  --[no-]name". A numeric one
 * ("--name N") must show its range "(min..max)". */
static void
s_help(const char *exe, s_set_t *ret)
{
    static const char *const args[] = {"--help", NULL};
    char *out = NULL;
    cr_assert_eq(obt_run(exe, args, &out), 0, "%s --help", exe);
    memset(ret, 0, sizeof *ret);
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "  --", 4) != 0) {
            continue;
        }
        const char *p = l + 4;
        p += strncmp(p, "[no-]", 5) == 0 ? 5 : 0;
        size_t len = s_flag_len(p);
        s_add(ret, p, len);
        if (strncmp(p + len, " N ", 3) == 0) {
            cr_assert_not_null(strstr(p, ".."), "%s --%.*s: no bounds shown", exe, (int) len, p);
        }
    }
    free(out);
}

/* Every `--name` in text (backticked words starting with --), "no-" dropped when the
 * help knows the flag without it (a boolean). */
static void
s_doc_flags(const char *text, const s_set_t *help, s_set_t *ret)
{
    memset(ret, 0, sizeof *ret);
    for (const char *p = text; (p = strstr(p, "`--")) != NULL; p++) {
        const char *name = p + 3;
        size_t len = s_flag_len(name);
        if (strncmp(name, "no-", 3) == 0) {
            char bare[40];
            (void) snprintf(bare, sizeof bare, "%.*s", (int) len - 3, name + 3);
            if (s_has(help, bare)) {
                name += 3;
                len -= 3;
            }
        }
        s_add(ret, name, len);
    }
}

/* docs/internals.md from the line starting with `start` to the end of that line
 * (a table row) or, with is_para, to the next blank line. */
static char *
s_doc_part(const char *start, bool is_para)
{
    FILE *f = fopen(OBT_SOURCE_DIR "/docs/internals.md", "r");
    cr_assert_not_null(f);
    char line[8192];
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        if (!in && strncmp(line, start, strlen(start)) == 0) {
            in = true;
        } else if (in && (!is_para || line[0] == '\n')) {
            break;
        }
        if (in && len + strlen(line) < cap) {
            memcpy(out + len, line, strlen(line) + 1);
            len += strlen(line);
        }
    }
    (void) fclose(f);
    cr_assert(in, "docs/internals.md: no \"%s\"", start);
    return out;
}

static void
s_check(const char *exe, const char *start, bool is_para)
{
    static const char *const common[] = {"keys-dir", "log-level", "config", "help"};
    s_set_t help, doc;
    s_help(exe, &help);
    cr_assert_gt(help.n, 3, "%s --help lists no options", exe);
    char *text = s_doc_part(start, is_para);
    s_doc_flags(text, &help, &doc);
    free(text);
    for (size_t i = 0; i < help.n; i++) {
        bool is_common = false;
        for (size_t c = 0; c < sizeof common / sizeof common[0]; c++) {
            is_common = is_common || strcmp(help.names[i], common[c]) == 0;
        }
        cr_expect(is_common || s_has(&doc, help.names[i]),
                  "%s --%s is in --help, not in docs/internals.md", exe, help.names[i]);
    }
    for (size_t i = 0; i < doc.n; i++) {
        cr_expect(s_has(&help, doc.names[i]), "docs/internals.md: %s has no --%s", exe,
                  doc.names[i]);
    }
}

Test(cfg_docs, gateway)
{
    s_check("obt-gateway", "| obt-gateway |", false);
}

Test(cfg_docs, dots)
{
    s_check("obt-dots", "| obt-dots |", false);
}

Test(cfg_docs, cms)
{
    s_check("obt-cms", "| obt-cms |", false);
}

Test(cfg_docs, ams)
{
    s_check("obt-ams", "| obt-ams |", false);
}

Test(cfg_docs, devsim)
{
    s_check("ocf-devsim", "`ocf-devsim` flags:", true);
}
