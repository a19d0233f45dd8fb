/* ctl_health.c — obtctl health: is every daemon up? */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_zep.h"
#include "ctl_fanout.h"
#include "ctl_main.h"
#include "obt/common.pb-c.h"
#include "obt/dots.pb-c.h"
#include "obt/gateway.pb-c.h"

static const char *const s_names[4] = {"gateway", "dots", "cms", "ams"};

/* Asks daemon `which` for its health; *ret is unpacked (free with
 * obt__health_reply__free_unpacked) or NULL. */
static int
s_health(const ctl_opts_t *o, int which, Obt__HealthReply **ret)
{
    Obt__Health h = OBT__HEALTH__INIT;
    uint64_t corr = cmn_bus_next_corr_id();
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;
    /* Every daemon's Request has corr_id = 1 and health = 10: build the right type. */
    if (which == CTL_GW) {
        Obt__Gw__Request r = OBT__GW__REQUEST__INIT;
        r.corr_id = corr;
        r.body_case = OBT__GW__REQUEST__BODY_HEALTH;
        r.health = &h;
        rc = ctl_call(o, which, &r.base, corr, 0, &data, &len);
    } else if (which == CTL_DOTS) {
        Obt__Dots__Request r = OBT__DOTS__REQUEST__INIT;
        r.corr_id = corr;
        r.body_case = OBT__DOTS__REQUEST__BODY_HEALTH;
        r.health = &h;
        rc = ctl_call(o, which, &r.base, corr, 0, &data, &len);
    } else {
        Obt__ServiceRequest r = OBT__SERVICE_REQUEST__INIT;
        r.corr_id = corr;
        r.body_case = OBT__SERVICE_REQUEST__BODY_HEALTH;
        r.health = &h;
        rc = ctl_call(o, which, &r.base, corr, 0, &data, &len);
    }
    *ret = NULL;
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    /* Replies share corr_id = 1, status = 2, error = 3, health = 10 (gateway, DOTS and
     * the service envelope alike). */
    Obt__ServiceReply *reply = obt__service_reply__unpack(NULL, len, data);
    free(data);
    if (reply && reply->body_case == OBT__SERVICE_REPLY__BODY_HEALTH) {
        size_t n = obt__health_reply__get_packed_size(reply->health);
        uint8_t *buf = malloc(n ? n : 1);
        if (buf) {
            (void) obt__health_reply__pack(reply->health, buf);
            *ret = obt__health_reply__unpack(NULL, n, buf);
            free(buf);
        }
    }
    if (reply) {
        obt__service_reply__free_unpacked(reply, NULL);
    }
    return *ret ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

/* ,"gateways":[{"name":..,"endpoint":..,"up":..,"state":..}] as the service sees them. */
static void
s_gateways_json(const Obt__HealthReply *h)
{
    if (h->n_gateways == 0) {
        return;
    }
    printf(",\"gateways\":[");
    for (size_t g = 0; g < h->n_gateways; g++) {
        const Obt__GatewayState *gs = h->gateways[g];
        printf("%s{\"name\":", g ? "," : "");
        ctl_json_str(stdout, gs->name);
        printf(",\"endpoint\":");
        ctl_json_str(stdout, gs->endpoint);
        printf(",\"up\":%s,\"state\":", gs->up ? "true" : "false");
        ctl_json_str(stdout, gs->state);
        printf(",\"boot_id\":\"%016llx\"}", (unsigned long long) gs->boot_id);
    }
    printf("]");
}

/* One daemon's health (h NULL: down), a line or a JSON object. */
static void
s_print(const ctl_opts_t *o, int i, const Obt__HealthReply *h, bool is_first)
{
    if (o->json) {
        printf("%s{\"service\":\"%s\",\"up\":%s", is_first ? "" : ",", s_names[i],
               h ? "true" : "false");
        if (h) {
            printf(",\"uuid\":");
            ctl_json_str(stdout, h->uuid);
            printf(",\"uptime_ms\":%llu,\"in_flight\":%u,\"boot_id\":\"%016llx\","
                   "\"d_endpoint\":",
                   (unsigned long long) h->uptime_ms, h->in_flight,
                   (unsigned long long) h->boot_id);
            ctl_json_str(stdout, h->d_endpoint);
            if (h->name[0]) {
                printf(",\"name\":");
                ctl_json_str(stdout, h->name);
            }
            if (h->instance[0]) {
                printf(",\"instance\":");
                ctl_json_str(stdout, h->instance);
            }
            if (h->parts[0]) {
                printf(",\"parts\":");
                ctl_json_str(stdout, h->parts);
            }
            s_gateways_json(h);
        }
        printf("}");
    } else if (h) {
        printf("%-8s up    uuid=%-36s uptime=%llus in-flight=%u %s%s%s%s%s%s%s\n", s_names[i],
               h->uuid[0] ? h->uuid : "-", (unsigned long long) (h->uptime_ms / 1000), h->in_flight,
               h->d_endpoint, h->name[0] ? " name=" : "", h->name,
               h->instance[0] ? " instance=" : "", h->instance, h->parts[0] ? " parts=" : "",
               h->parts);
        /* With several gateways, each service says how it sees every one. */
        for (size_t g = 0; h->n_gateways > 1 && g < h->n_gateways; g++) {
            const Obt__GatewayState *gs = h->gateways[g];
            printf("  gateway %-12s %-5s %s (%s)\n", gs->name, gs->up ? "up" : "DOWN", gs->endpoint,
                   gs->state);
        }
    } else {
        printf("%-8s DOWN  %s\n", s_names[i], o->ep[i]);
    }
}

/* --dots naming several instances (obt-dots --parts): every one that is up answers. */
static int
s_dots_instances(const ctl_opts_t *o, Obt__HealthReply **ret, size_t *ret_n)
{
    Obt__Health h = OBT__HEALTH__INIT;
    Obt__Dots__Request r = OBT__DOTS__REQUEST__INIT;
    r.corr_id = cmn_bus_next_corr_id();
    r.body_case = OBT__DOTS__REQUEST__BODY_HEALTH;
    r.health = &h;
    Obt__Dots__Reply *replies[CMN_ZEP_MAX];
    size_t n = 0;
    int rc = ctl_fanout_each(o, &r, o->timeout_ms, replies, CMN_ZEP_MAX, &n);
    *ret_n = 0;
    for (size_t i = 0; i < n; i++) {
        Obt__HealthReply *one = NULL;
        if (replies[i]->body_case == OBT__DOTS__REPLY__BODY_HEALTH) {
            one = replies[i]->health;
            replies[i]->health = NULL; /* kept: freed by the caller */
            replies[i]->body_case = OBT__DOTS__REPLY__BODY__NOT_SET;
        }
        obt__dots__reply__free_unpacked(replies[i], NULL);
        if (one) {
            ret[(*ret_n)++] = one;
        }
    }
    return rc != CTL_EXIT_OK ? rc : *ret_n ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

/* The DOTS instances' parts ("K,L/G"): a part none of them serves is said (the devices
 * of that part wait for an instance: docs/scaling.md). */
static void
s_parts_unserved(const ctl_opts_t *o, Obt__HealthReply *const *hs, size_t n)
{
    uint64_t served = 0;
    int g = 0;
    for (size_t i = 0; i < n; i++) {
        const char *slash = hs[i] ? strchr(hs[i]->parts, '/') : NULL;
        if (slash == NULL) {
            continue;
        }
        g = atoi(slash + 1);
        for (const char *p = hs[i]->parts; p < slash;) {
            char *next = NULL;
            long k = strtol(p, &next, 10);
            if (next == p) {
                break;
            }
            served |= k >= 0 && k < 64 ? (uint64_t) 1 << k : 0;
            p = *next == ',' ? next + 1 : next;
        }
    }
    for (int k = 0; k < g && k < 64 && !o->json; k++) {
        if (!((served >> k) & 1u)) {
            printf("dots     part %d/%d: served by no instance that answered (its devices wait)\n",
                   k, g);
        }
    }
}

int
ctl_cmd_health(const ctl_opts_t *o, int argc, char **argv)
{
    bool wanted[4] = {argc <= 1, argc <= 1, argc <= 1, argc <= 1};
    for (int a = 1; a < argc; a++) {
        int which = -1;
        for (int i = 0; i < 4; i++) {
            which = strcmp(argv[a], s_names[i]) == 0 ? i : which;
        }
        if (which < 0) {
            bool is_help = strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0;
            FILE *out = is_help ? stdout : stderr;
            if (!is_help) {
                fprintf(stderr, "obtctl: health: unknown daemon \"%s\"\n", argv[a]);
            }
            fprintf(out, "usage: obtctl [--json] health [gateway|dots|cms|ams ...]\n"
                         "Asks the named daemons (default: all four) for their health (DOTS,\n"
                         "CMS and AMS also list every gateway of their --gateway, if several,\n"
                         "and whether it answers their heartbeats); exit 0\n"
                         "only if all of them answer, 4 if one is down or unreachable. Any known "
                         "key may ask (a container's\n"
                         "healthcheck uses its own: obtctl --key dots health dots).\n");
            return is_help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
        wanted[which] = true;
    }
    ctl_opts_t quick = *o;
    if (quick.timeout_ms > 3000) {
        quick.timeout_ms = 3000;
    }
    int worst = CTL_EXIT_OK;
    if (o->json) {
        printf("[");
    }
    bool is_first = true;
    for (int i = 0; i < 4; i++) {
        if (!wanted[i]) {
            continue;
        }
        Obt__HealthReply *hs[CMN_ZEP_MAX] = {NULL};
        size_t n = 0;
        bool is_fan = i == CTL_DOTS && cmn_zep_count(o->ep[CTL_DOTS]) > 1;
        int rc = is_fan ? s_dots_instances(&quick, hs, &n) : s_health(&quick, i, &hs[n++]);
        if (rc != CTL_EXIT_OK && worst != CTL_EXIT_TIMEOUT) {
            worst = rc == CTL_EXIT_TIMEOUT ? CTL_EXIT_TIMEOUT : CTL_EXIT_FAILED; /* 4: down */
        }
        for (size_t k = 0; k < (n ? n : 1); k++) {
            s_print(o, i, hs[k], is_first);
            is_first = false;
        }
        if (is_fan && n > 0) {
            s_parts_unserved(o, hs, n);
        }
        for (size_t k = 0; k < n; k++) {
            if (hs[k]) {
                obt__health_reply__free_unpacked(hs[k], NULL);
            }
        }
    }
    if (o->json) {
        printf("]\n");
    }
    return worst;
}
