/* ams_policy.c — the policy file: YAML (libyaml's document API, which keeps the line
 * of every node, so an error names its line), checked whole before it is used */
#include "ams_policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "ams_acl.h"
#include "cmn_ace_text.h"

#define S_MAX_RULES 256
#define S_MAX_FILE  ((size_t) 1024 * 1024)

typedef struct {
    char rt[48];     /* the device type */
    cmn_ace_t *aces; /* malloc'd */
    size_t n_aces;
} s_rule_t;

struct ams_policy {
    s_rule_t *rules; /* malloc'd */
    size_t n_rules;
};

/* The parse in progress. */
typedef struct {
    yaml_document_t *doc;
    const char *name; /* the file, for errors */
    char *why;
    size_t why_len;
} s_ctx_t;

static bool
s_fail(s_ctx_t *c, const yaml_node_t *at, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void) snprintf(c->why, c->why_len, "%s:%zu: %s", c->name, at ? at->start_mark.line + 1 : 1,
                    msg);
    return false;
}

static const char *
s_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

/* A scalar or a sequence of scalars: the items of n (a scalar is one item). */
static size_t
s_items(s_ctx_t *c, yaml_node_t *n, yaml_node_t **out, size_t cap)
{
    if (n->type == YAML_SCALAR_NODE) {
        out[0] = n;
        return 1;
    }
    size_t k = 0;
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         n->type == YAML_SEQUENCE_NODE && i < n->data.sequence.items.top; i++) {
        if (k == cap) {
            return cap + 1;
        }
        out[k++] = yaml_document_get_node(c->doc, *i);
    }
    return k;
}

/* The values of mapping n's keys names[i] into slots[i] (NULL when absent; n_names
 * at most 5). An unknown key or one given twice is an error naming what (e.g. "ACE
 * key") and want (the keys it may have). */
static bool
s_fields(s_ctx_t *c,
         const yaml_node_t *n,
         const char *const *names,
         yaml_node_t **slots,
         size_t n_names,
         const char *what,
         const char *want)
{
    for (size_t i = 0; i < n_names; i++) {
        slots[i] = NULL;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        const char *key = s_scalar(k);
        size_t i = 0;
        while (key && i < n_names && strcmp(key, names[i]) != 0) {
            i++;
        }
        if (key == NULL || i == n_names) {
            return s_fail(c, k, "unknown %s \"%s\" (want %s)", what, key ? key : "?", want);
        }
        if (slots[i] != NULL) {
            return s_fail(c, k, "\"%s\" given twice", key);
        }
        slots[i] = yaml_document_get_node(c->doc, p->value);
    }
    return true;
}

static bool
s_ace(s_ctx_t *c, yaml_node_t *n, cmn_ace_t *ace)
{
    char why[160];
    static const char *const names[] = {"subject", "res", "perm", "if", "validity"};
    yaml_node_t *v[5];
    if (n->type != YAML_MAPPING_NODE) {
        return s_fail(c, n, "an ACE is a mapping (subject, res, perm, if, validity)");
    }
    if (!s_fields(c, n, names, v, 5, "ACE key", "subject, res, perm, if, validity")) {
        return false;
    }
    yaml_node_t *subject = v[0], *res = v[1], *perm = v[2], *iface = v[3], *validity = v[4];
    memset(ace, 0, sizeof *ace);
    if (subject == NULL || res == NULL || perm == NULL) {
        return s_fail(c, n, "an ACE needs %s", subject == NULL ? "subject" : res ? "perm" : "res");
    }
    if (s_scalar(subject) == NULL ||
        cmn_ace_text_subject(s_scalar(subject), ace, why, sizeof why) != CMN_OK) {
        return s_fail(c, subject, "subject \"%s\": %s", s_scalar(subject) ? s_scalar(subject) : "",
                      s_scalar(subject) ? why : "want a text");
    }
    yaml_node_t *items[CMN_ACE_MAX_RES + 1];
    size_t n_res = s_items(c, res, items, CMN_ACE_MAX_RES);
    if (n_res == 0 || n_res > CMN_ACE_MAX_RES) {
        return s_fail(c, res, "res: 1 to %d resources", CMN_ACE_MAX_RES);
    }
    for (size_t i = 0; i < n_res; i++) {
        const char *s = s_scalar(items[i]);
        if (s == NULL || cmn_ace_text_res(s, &ace->resources[i], why, sizeof why) != CMN_OK) {
            return s_fail(c, items[i], "res \"%s\": %s", s ? s : "", s ? why : "want a text");
        }
    }
    ace->n_resources = n_res;
    if (s_scalar(perm) == NULL ||
        cmn_ace_text_perm(s_scalar(perm), &ace->permission, why, sizeof why) != CMN_OK) {
        return s_fail(c, perm, "perm \"%s\": %s", s_scalar(perm) ? s_scalar(perm) : "",
                      s_scalar(perm) ? why : "want a text");
    }
    if (iface) {
        if (s_scalar(iface) == NULL ||
            cmn_ace_text_if(s_scalar(iface), why, sizeof why) != CMN_OK) {
            return s_fail(c, iface, "if \"%s\": %s", s_scalar(iface) ? s_scalar(iface) : "",
                          s_scalar(iface) ? why : "want a text");
        }
        cmn_ace_text_set_if(ace, s_scalar(iface));
    }
    if (validity) {
        size_t n_val = s_items(c, validity, items, CMN_ACE_MAX_VALIDITY);
        if (n_val == 0 || n_val > CMN_ACE_MAX_VALIDITY) {
            return s_fail(c, validity, "validity: 1 to %d periods", CMN_ACE_MAX_VALIDITY);
        }
        for (size_t i = 0; i < n_val; i++) {
            const char *s = s_scalar(items[i]);
            if (s == NULL || cmn_ace_text_validity(s, ace, why, sizeof why) != CMN_OK) {
                return s_fail(c, items[i], "validity \"%s\": %s", s ? s : "",
                              s ? why : "want a text");
            }
        }
    }
    if (ams_acl_violates(ace)) {
        return s_fail(c, subject, "a conn: subject never gets an SVR (/oic/sec/...; clause 5.2)");
    }
    return true;
}

static bool
s_rule(s_ctx_t *c, yaml_node_t *n, s_rule_t *rule)
{
    static const char *const names[] = {"rt", "aces"};
    yaml_node_t *v[2];
    if (n->type != YAML_MAPPING_NODE) {
        return s_fail(c, n, "a policy entry is a mapping (rt, aces)");
    }
    if (!s_fields(c, n, names, v, 2, "key", "rt, aces")) {
        return false;
    }
    yaml_node_t *rt = v[0], *aces = v[1];
    const char *s = s_scalar(rt);
    if (s == NULL || s[0] == '\0' || strlen(s) >= sizeof rule->rt) {
        return s_fail(c, rt ? rt : n, "rt: a resource type (1..47 characters) is required");
    }
    (void) snprintf(rule->rt, sizeof rule->rt, "%s", s);
    if (aces == NULL || aces->type != YAML_SEQUENCE_NODE) {
        return s_fail(c, aces ? aces : n, "aces: a list of ACEs is required");
    }
    size_t n_aces = (size_t) (aces->data.sequence.items.top - aces->data.sequence.items.start);
    if (n_aces > AMS_POLICY_MAX_ACES) {
        return s_fail(c, aces, "aces: at most %d per entry", AMS_POLICY_MAX_ACES);
    }
    rule->aces = calloc(n_aces ? n_aces : 1, sizeof *rule->aces);
    if (rule->aces == NULL) {
        return s_fail(c, aces, "out of memory");
    }
    for (size_t i = 0; i < n_aces; i++) {
        yaml_node_t *a = yaml_document_get_node(c->doc, aces->data.sequence.items.start[i]);
        if (!s_ace(c, a, &rule->aces[i])) {
            return false;
        }
        rule->n_aces++;
    }
    return true;
}

static bool
s_root(s_ctx_t *c, ams_policy_t *self)
{
    yaml_node_t *root = yaml_document_get_root_node(c->doc);
    static const char *const names[] = {"version", "policy"};
    yaml_node_t *v[2];
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        return s_fail(c, root, "the file is a mapping with \"version: 1\" and \"policy:\"");
    }
    if (!s_fields(c, root, names, v, 2, "key", "version, policy")) {
        return false;
    }
    yaml_node_t *version = v[0], *policy = v[1];
    if (version == NULL || s_scalar(version) == NULL || strcmp(s_scalar(version), "1") != 0) {
        return s_fail(c, version ? version : root, "version: 1 is required (the only format)");
    }
    if (policy == NULL || policy->type != YAML_SEQUENCE_NODE) {
        return s_fail(c, policy ? policy : root, "policy: a list of entries is required");
    }
    size_t n = (size_t) (policy->data.sequence.items.top - policy->data.sequence.items.start);
    if (n > S_MAX_RULES) {
        return s_fail(c, policy, "policy: at most %d entries", S_MAX_RULES);
    }
    self->rules = calloc(n ? n : 1, sizeof *self->rules);
    if (self->rules == NULL) {
        return s_fail(c, policy, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = yaml_document_get_node(c->doc, policy->data.sequence.items.start[i]);
        self->n_rules++;
        if (!s_rule(c, e, &self->rules[i])) {
            return false;
        }
    }
    return true;
}

ams_policy_t *
ams_policy_parse(const char *text, size_t len, const char *name, char *why, size_t why_len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    ams_policy_t *self = calloc(1, sizeof *self);
    if (self == NULL || !yaml_parser_initialize(&parser)) {
        (void) snprintf(why, why_len, "%s: out of memory", name);
        free(self);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        (void) snprintf(why, why_len, "%s:%zu: %s %s", name, parser.problem_mark.line + 1,
                        parser.problem ? parser.problem : "not YAML",
                        parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        ams_policy_destroy(&self);
        return NULL;
    }
    s_ctx_t c = {.doc = &doc, .name = name, .why = why, .why_len = why_len};
    if (!s_root(&c, self)) {
        ams_policy_destroy(&self);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return self;
}

ams_policy_t *
ams_policy_load(const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        (void) snprintf(why, why_len, "%s:0: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(S_MAX_FILE + 1);
    size_t len = text ? fread(text, 1, S_MAX_FILE + 1, f) : 0;
    bool is_err = ferror(f) != 0;
    (void) fclose(f);
    ams_policy_t *self = NULL;
    if (text == NULL || is_err || len > S_MAX_FILE) {
        (void) snprintf(why, why_len, "%s:0: %s", path,
                        text == NULL ? "out of memory"
                        : is_err     ? "cannot read"
                                     : "larger than 1 MiB");
    } else {
        self = ams_policy_parse(text, len, path, why, why_len);
    }
    free(text);
    return self;
}

void
ams_policy_destroy(ams_policy_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    ams_policy_t *self = *self_p;
    for (size_t i = 0; self->rules && i < self->n_rules; i++) {
        free(self->rules[i].aces);
    }
    free(self->rules);
    free(self);
    *self_p = NULL;
}

size_t
ams_policy_rules(const ams_policy_t *self)
{
    return self->n_rules;
}

size_t
ams_policy_aces(const ams_policy_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n_rules; i++) {
        n += self->rules[i].n_aces;
    }
    return n;
}

size_t
ams_policy_match(
        const ams_policy_t *self, const char *const *rts, size_t n_rts, cmn_ace_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t r = 0; r < self->n_rules; r++) {
        const s_rule_t *rule = &self->rules[r];
        bool is_match = false;
        for (size_t i = 0; i < n_rts && !is_match; i++) {
            is_match = strcmp(rts[i], rule->rt) == 0;
        }
        for (size_t a = 0; is_match && a < rule->n_aces; a++) {
            bool is_dup = false;
            for (size_t k = 0; k < n && !is_dup; k++) {
                is_dup = ams_acl_ace_eq(&out[k], &rule->aces[a]);
            }
            if (!is_dup && n < cap) {
                out[n++] = rule->aces[a];
            }
        }
    }
    return n;
}
