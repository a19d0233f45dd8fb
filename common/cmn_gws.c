/* cmn_gws.c — the gateways a service talks to: --gateway parsing, links, heartbeats */
#include "cmn_gws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_log.h"
#include "obt/gateway.pb-c.h"

struct cmn_gws {
    cmn_gw_t gw[CMN_GWS_MAX];
    size_t n;
};

static bool
s_is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool
cmn_gw_name_is_valid(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (!s_is_name_char(name[i])) {
            return false;
        }
    }
    return n > 0 && n < CMN_GW_NAME_MAX;
}

/* One entry "NAME=EP" or "EP" (is_bare). Writes the name and the endpoint's extent. */
static cmn_err_t
s_entry(const char *item,
        size_t len,
        char name[CMN_GW_NAME_MAX],
        const char **ret_ep,
        size_t *ret_ep_len,
        char *error,
        size_t error_len)
{
    const char *eq = memchr(item, '=', len);
    const char *colon = memchr(item, ':', len);
    if (eq == NULL || (colon && colon < eq)) { /* "tcp://h:p": a bare endpoint */
        (void) snprintf(name, CMN_GW_NAME_MAX, "%s", CMN_GW_DEFAULT_NAME);
        *ret_ep = item;
        *ret_ep_len = len;
    } else {
        size_t n = (size_t) (eq - item);
        if (n == 0 || n >= CMN_GW_NAME_MAX) {
            (void) snprintf(error, error_len, "gateway name \"%.*s\": 1 to %d characters", (int) n,
                            item, CMN_GW_NAME_MAX - 1);
            return CMN_EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            if (!s_is_name_char(item[i])) {
                (void) snprintf(error, error_len,
                                "gateway name \"%.*s\": only letters, digits, '.', '_' and '-'",
                                (int) n, item);
                return CMN_EINVAL;
            }
        }
        memcpy(name, item, n);
        name[n] = '\0';
        *ret_ep = eq + 1;
        *ret_ep_len = len - n - 1;
    }
    if (*ret_ep_len == 0 || memchr(*ret_ep, ':', *ret_ep_len) == NULL) {
        (void) snprintf(error, error_len,
                        "gateway \"%s\": \"%.*s\" is not an endpoint (tcp://HOST:PORT, ipc://PATH)",
                        name, (int) *ret_ep_len, *ret_ep);
        return CMN_EINVAL;
    }
    return CMN_OK;
}

/* Parses spec into self (endpoints strdup'd) without connecting. */
static cmn_err_t
s_parse(cmn_gws_t *self, const char *spec, char *error, size_t error_len)
{
    const char *p = spec ? spec : "";
    if (*p == '\0') {
        (void) snprintf(error, error_len,
                        "no gateway: give --gateway ENDPOINT or NAME=ENDPOINT,...");
        return CMN_EINVAL;
    }
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (self->n == CMN_GWS_MAX) {
            (void) snprintf(error, error_len, "more than %d gateways", CMN_GWS_MAX);
            return CMN_EINVAL;
        }
        cmn_gw_t *gw = &self->gw[self->n];
        const char *ep = NULL;
        size_t ep_len = 0;
        cmn_err_t err = s_entry(p, len, gw->name, &ep, &ep_len, error, error_len);
        if (err != CMN_OK) {
            return err;
        }
        for (size_t i = 0; i < self->n; i++) {
            if (strcmp(self->gw[i].name, gw->name) == 0) {
                (void) snprintf(error, error_len,
                                "gateway \"%s\" is listed twice (give each NAME=ENDPOINT once)",
                                gw->name);
                return CMN_EINVAL;
            }
        }
        gw->endpoint = strndup(ep, ep_len);
        if (gw->endpoint == NULL) {
            (void) snprintf(error, error_len, "%s", cmn_strerror(CMN_ENOMEM));
            return CMN_ENOMEM;
        }
        self->n++;
        p = end ? end + 1 : p + len;
    }
    return CMN_OK;
}

cmn_err_t
cmn_gws_check(const char *spec, char *error, size_t error_len)
{
    cmn_gws_t *tmp = calloc(1, sizeof *tmp);
    if (tmp == NULL) {
        return CMN_ENOMEM;
    }
    cmn_err_t err = s_parse(tmp, spec, error, error_len);
    cmn_gws_destroy(&tmp);
    return err;
}

cmn_gws_t *
cmn_gws_new(const char *spec,
            const char *keys_dir,
            const char *client_name,
            uint32_t heartbeat_ms,
            char *error,
            size_t error_len)
{
    cmn_gws_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        (void) snprintf(error, error_len, "%s", cmn_strerror(CMN_ENOMEM));
        return NULL;
    }
    if (s_parse(self, spec, error, error_len) != CMN_OK) {
        goto fail;
    }
    for (size_t i = 0; i < self->n; i++) {
        cmn_gw_t *gw = &self->gw[i];
        cmn_err_t err = CMN_OK;
        /* a gateway with a key of its own is held to it (docs/deploy.md "Keys") */
        char key[CMN_CALLER_NAME_MAX];
        (void) snprintf(key, sizeof key, "gateway-%s", gw->name);
        if (!cmn_bus_key_name_ok(key) || !cmn_bus_key_exists(keys_dir, key)) {
            (void) snprintf(key, sizeof key, "gateway");
        }
        cmn_log_info("GW-KEY", "gateway %s at %s: its key must be %s", gw->name, gw->endpoint, key);
        gw->client = cmn_bus_client_new(gw->endpoint, keys_dir, client_name, key, &err);
        gw->calls = gw->client ? cmn_calls_new(gw->client) : NULL;
        if (gw->calls == NULL) {
            (void) snprintf(error, error_len, "gateway \"%s\" at \"%s\": %s", gw->name,
                            gw->endpoint, cmn_strerror(err != CMN_OK ? err : CMN_ENOMEM));
            goto fail;
        }
        cmn_live_init(&gw->live, heartbeat_ms);
    }
    return self;
fail:
    cmn_gws_destroy(&self);
    return NULL;
}

void
cmn_gws_destroy(cmn_gws_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_gws_t *self = *self_p;
    for (size_t i = 0; i < CMN_GWS_MAX; i++) {
        cmn_calls_destroy(&self->gw[i].calls);
        cmn_bus_client_destroy(&self->gw[i].client);
        free(self->gw[i].endpoint);
    }
    free(self);
    *self_p = NULL;
}

size_t
cmn_gws_count(const cmn_gws_t *self)
{
    return self->n;
}

cmn_gw_t *
cmn_gws_at(cmn_gws_t *self, size_t i)
{
    return i < self->n ? &self->gw[i] : NULL;
}

cmn_gw_t *
cmn_gws_find(cmn_gws_t *self, const char *name)
{
    if (name == NULL || name[0] == '\0') {
        return &self->gw[0];
    }
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->gw[i].name, name) == 0) {
            return &self->gw[i];
        }
    }
    return NULL;
}

const char *
cmn_gws_record_name(const cmn_gws_t *self, const cmn_gw_t *gw)
{
    return self->n > 1 ? gw->name : "";
}

void
cmn_gws_label(const cmn_gws_t *self, const cmn_gw_t *gw, char *buf, size_t len)
{
    if (self->n > 1) {
        (void) snprintf(buf, len, "gateway %s", gw->name);
    } else {
        (void) snprintf(buf, len, "gateway");
    }
}

bool
cmn_gw_refused(cmn_err_t err, const uint8_t *data, size_t len, char *why, size_t why_len)
{
    Obt__Gw__Reply *r = err == CMN_OK ? obt__gw__reply__unpack(NULL, len, data) : NULL;
    bool is_refused = r && r->status == OBT__STATUS__STATUS_EEXIST;
    if (is_refused) {
        (void) snprintf(why, why_len, "%s", r->error ? r->error : "");
    }
    if (r) {
        obt__gw__reply__free_unpacked(r, NULL);
    }
    return is_refused;
}

bool
cmn_gws_ready(const cmn_gws_t *self, const cmn_gw_t *gw, char *why, size_t why_len)
{
    char label[48];
    cmn_gws_label(self, gw, label, sizeof label);
    if (gw->is_refused) {
        (void) snprintf(why, why_len,
                        "waiting for %s: it serves another security domain (obt-dots's log: "
                        "DOTS-DOMAIN)",
                        label);
        return false;
    }
    if (cmn_live_is_up(&gw->live)) {
        return true;
    }
    char since[32];
    if (gw->live.is_down) {
        cmn_live_down_since(&gw->live, since, sizeof since);
        (void) snprintf(why, why_len, "waiting for %s: not answering since %s", label, since);
    } else {
        (void) snprintf(why, why_len, "waiting for %s: no answer yet", label);
    }
    return false;
}

void
cmn_gw_beat_sent(cmn_gw_t *gw)
{
    gw->beats_sent++;
}

void
cmn_gw_beat_done(cmn_gw_t *gw)
{
    gw->beats_done++;
}

uint32_t
cmn_gw_suspect(cmn_gw_t *gw)
{
    gw->live.next_ms = 0; /* due now, or right after the pending one */
    return gw->beats_sent + 1;
}

cmn_gw_verdict_t
cmn_gw_verdict(const cmn_gw_t *gw, uint32_t ticket, uint64_t boot_id)
{
    if (gw->live.is_down ||
        (boot_id != 0 && gw->live.boot_id != 0 && gw->live.boot_id != boot_id)) {
        return CMN_GW_AWAY;
    }
    /* counters wrap: compare their distance */
    bool is_decided = (int32_t) (gw->beats_done - ticket) >= 0;
    if (!is_decided) {
        return CMN_GW_PENDING;
    }
    return cmn_live_is_up(&gw->live) ? CMN_GW_ALIVE : CMN_GW_AWAY;
}

void
cmn_gws_health(cmn_gws_t *self,
               Obt__HealthReply *h,
               Obt__GatewayState *states,
               Obt__GatewayState **ptrs,
               char (*buf)[64])
{
    for (size_t i = 0; i < self->n; i++) {
        const cmn_gw_t *gw = &self->gw[i];
        obt__gateway_state__init(&states[i]);
        states[i].name = CMN_PB_STR(gw->name);
        states[i].endpoint = gw->endpoint;
        states[i].up = cmn_live_is_up(&gw->live);
        states[i].boot_id = gw->live.boot_id;
        if (states[i].up) {
            (void) snprintf(buf[i], sizeof buf[i], "up");
        } else if (gw->live.is_down) {
            char since[32];
            cmn_live_down_since(&gw->live, since, sizeof since);
            (void) snprintf(buf[i], sizeof buf[i], "not answering since %s", since);
        } else {
            (void) snprintf(buf[i], sizeof buf[i], "no answer yet");
        }
        states[i].state = buf[i];
        ptrs[i] = &states[i];
    }
    h->gateways = ptrs;
    h->n_gateways = self->n;
}
