/* ctl_devices.c — obtctl discover, devices, approve, onboard, show */
#include <getopt.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_time.h"
#include "ctl_args.h"
#include "ctl_main.h"
#include "obt/common.pb-c.h"
#include "obt/dots.pb-c.h"

static void
s_device_json(const Obt__Dots__Device *d)
{
    printf("{\"uuid\":");
    ctl_json_str(stdout, d->uuid);
    printf(",\"first_uuid\":");
    ctl_json_str(stdout, d->first_uuid);
    printf(",\"state\":");
    ctl_json_str(stdout, d->state);
    printf(",\"error\":");
    ctl_json_str(stdout, d->error);
    printf(",\"eps\":[");
    for (size_t i = 0; i < d->n_eps; i++) {
        printf("%s", i ? "," : "");
        ctl_json_str(stdout, d->eps[i]);
    }
    printf("],\"oxms\":[");
    for (size_t i = 0; i < d->n_oxms; i++) {
        printf("%s%u", i ? "," : "", d->oxms[i]);
    }
    printf("],\"sct\":%u,\"oxmsel\":%d,\"approved\":%s,\"owned\":%s,\"attempts\":%u,"
           "\"discovered_ms\":%llu,\"started_ms\":%llu,\"finished_ms\":%llu,\"cipher\":",
           d->sct, d->oxmsel, d->approved ? "true" : "false", d->owned ? "true" : "false",
           d->attempts, (unsigned long long) d->discovered_ms, (unsigned long long) d->started_ms,
           (unsigned long long) d->finished_ms);
    ctl_json_str(stdout, d->cipher);
    printf(",\"sd_uuid\":");
    ctl_json_str(stdout, d->sd_uuid);
    printf(",\"otm\":");
    ctl_json_str(stdout, d->otm);
    printf(",\"bridge_state\":");
    ctl_json_str(stdout, d->bridge_state);
    printf(",\"bridge_error\":");
    ctl_json_str(stdout, d->bridge_error);
    printf(",\"vods\":[");
    for (size_t i = 0; i < d->n_vods; i++) {
        printf("%s", i ? "," : "");
        ctl_json_str(stdout, d->vods[i]);
    }
    printf("],\"bridge\":");
    ctl_json_str(stdout, d->bridge);
    printf(",\"superseded_by\":");
    ctl_json_str(stdout, d->superseded_by);
    printf(",\"recover_attempts\":%u", d->recover_attempts);
    printf(",\"retry_at_ms\":%llu", (unsigned long long) d->retry_at_ms);
    printf(",\"mfg_cert_cn\":");
    ctl_json_str(stdout, d->mfg_cert_cn);
    printf(",\"mfg_cert_sha256\":");
    ctl_json_str(stdout, d->mfg_cert_sha256);
    printf(",\"gateway\":");
    ctl_json_str(stdout, d->gateway);
    printf(",\"is_bridge\":%s}", d->is_bridge ? "true" : "false");
}

/* The BRIDGE column: "bridge, 3 VODs", "VOD of <uuid>", or the bridge job's state. */
static void
s_bridge_cell(const Obt__Dots__Device *d, char *out, size_t cap)
{
    if (d->bridge[0]) {
        (void) snprintf(out, cap, "VOD of %s", d->bridge);
    } else if (d->is_bridge) {
        (void) snprintf(out, cap, "bridge, %zu VOD(s), %s%s%s", d->n_vods, d->bridge_state,
                        d->bridge_error[0] ? ": " : "", d->bridge_error);
    } else if (d->bridge_state[0] && strcmp(d->bridge_state, "NOT_BRIDGE") != 0) {
        (void) snprintf(out, cap, "%s%s%s", d->bridge_state, d->bridge_error[0] ? ": " : "",
                        d->bridge_error);
    } else {
        out[0] = '\0';
    }
}

/* The OTM column: oxmsel as DOTS selected it (OCF-NOTES 4.1). */
static const char *
s_otm_name(int32_t oxmsel)
{
    static const char *const names[] = {"JW", "RDP", "MFG"};
    return oxmsel < 0                                         ? "-"
           : (size_t) oxmsel < sizeof names / sizeof names[0] ? names[oxmsel]
                                                              : "?";
}

/* The ENDPOINT column: the preferred endpoint, i.e. the first secure one in DOTS's
 * order (the scope order of the discovery), else the first. */
static const char *
s_preferred_ep(const Obt__Dots__Device *d)
{
    for (size_t e = 0; e < d->n_eps; e++) {
        if (strncmp(d->eps[e], "coaps://", 8) == 0) {
            return d->eps[e];
        }
    }
    return d->n_eps > 0 ? d->eps[0] : "-";
}

/* Is d listed? A superseded record (the device answers under a new uuid) only with
 * --all. */
static bool
s_is_listed(const Obt__Dots__Device *d, bool all)
{
    return all || d->superseded_by[0] == '\0';
}

static void
s_table(const Obt__Dots__DeviceList *l, bool all)
{
    int width = (int) strlen("ENDPOINT"); /* as wide as the longest (IPv6 with a zone) */
    int gw_width = 0; /* a GATEWAY column only with several gateways (their records name one) */
    for (size_t i = 0; i < l->n_devices; i++) {
        int len = (int) strlen(s_preferred_ep(l->devices[i]));
        width = len > width ? len : width;
        len = (int) strlen(l->devices[i]->gateway);
        gw_width = len > gw_width ? len : gw_width;
    }
    gw_width = gw_width > 0 && gw_width < 7 ? 7 : gw_width;
    printf("%-36s  %-16s  %-4s  ", "UUID", "STATE", "OTM");
    if (gw_width > 0) {
        printf("%-*s  ", gw_width, "GATEWAY");
    }
    printf("%-*s  %s  %s\n", width, "ENDPOINT", "ERROR", "BRIDGE");
    size_t hidden = 0;
    for (size_t i = 0; i < l->n_devices; i++) {
        const Obt__Dots__Device *d = l->devices[i];
        if (!s_is_listed(d, all)) {
            hidden++;
            continue;
        }
        char bridge[400], error[420];
        s_bridge_cell(d, bridge, sizeof bridge);
        if (d->superseded_by[0]) {
            (void) snprintf(error, sizeof error, "superseded by %s; %s", d->superseded_by,
                            d->error[0] ? d->error : "-");
        } else if (d->retry_at_ms != 0) {
            (void) snprintf(error, sizeof error, "retried by DOTS itself; %s",
                            d->error[0] ? d->error : "-");
        } else {
            (void) snprintf(error, sizeof error, "%s", d->error[0] ? d->error : "-");
        }
        printf("%-36s  %-16s  %-4s  ", d->uuid, d->state, s_otm_name(d->oxmsel));
        if (gw_width > 0) {
            printf("%-*s  ", gw_width, d->gateway[0] ? d->gateway : "-");
        }
        printf("%-*s  %s  %s\n", width, s_preferred_ep(d), error, bridge);
    }
    if (hidden > 0) {
        printf("(%zu superseded record(s) hidden: the device reset and answers under a new "
               "UUID; obtctl devices --all shows them, obtctl forget UUID drops one)\n",
               hidden);
    }
}

static int
s_list(const ctl_opts_t *o, const char *state, bool counts_only, Obt__Dots__Reply **ret)
{
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__ListDevices l = OBT__DOTS__LIST_DEVICES__INIT;
    l.state = CMN_PB_STR(state ? state : "");
    l.counts_only = counts_only;
    req.body_case = OBT__DOTS__REQUEST__BODY_LIST;
    req.list = &l;
    return ctl_dots(o, &req, 0, ret);
}

/* --count: one line per state ("RFNOP 9998"), or a JSON object. */
static int
s_print_counts(const ctl_opts_t *o, const char *state)
{
    Obt__Dots__Reply *r = NULL;
    int rc = s_list(o, state, true, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    uint32_t total = 0;
    printf("%s", o->json ? "{" : "");
    for (size_t i = 0; i < r->list->n_counts; i++) {
        const Obt__Dots__StateCount *c = r->list->counts[i];
        if (o->json) {
            printf("%s", i ? "," : "");
            ctl_json_str(stdout, c->state);
            printf(":%u", c->count);
        } else {
            printf("%-20s %u\n", c->state, c->count);
        }
        total += strcmp(c->state, "superseded") != 0 ? c->count : 0;
    }
    if (o->json) {
        printf("}\n");
    } else {
        printf("%-20s %u\n", "total", total);
    }
    obt__dots__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

static int
s_print_list(const ctl_opts_t *o, const char *state, bool all)
{
    Obt__Dots__Reply *r = NULL;
    int rc = s_list(o, state, false, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (o->json) {
        printf("[");
        size_t n = 0;
        for (size_t i = 0; i < r->list->n_devices; i++) {
            if (s_is_listed(r->list->devices[i], all)) {
                printf("%s\n", n++ ? "," : "");
                s_device_json(r->list->devices[i]);
            }
        }
        printf("\n]\n");
    } else {
        s_table(r->list, all);
    }
    obt__dots__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

int
ctl_cmd_devices(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {{"state", required_argument, NULL, 's'},
                                          {"all", no_argument, NULL, 'a'},
                                          {"count", no_argument, NULL, 'c'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *state = NULL;
    bool all = false, count = false;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (c == 's') {
            state = optarg;
        } else if (c == 'a') {
            all = true;
        } else if (c == 'c') {
            count = true;
        } else {
            printf("usage: obtctl devices [--state STATE] [--all] [--count] [--json]\n"
                   "Lists the devices DOTS knows (STATE in any case, e.g. discovered, RFNOP,\n"
                   "FAILED; an unknown one: the list of states, exit 2). A superseded record\n"
                   "(the device reset and answers under a new UUID) is listed only with --all.\n"
                   "With several gateways (obt-dots --gateway NAME=ENDPOINT,...), a GATEWAY\n"
                   "column names the one that reaches each device.\n"
                   "--count: only how many records are in each state (superseded ones on a\n"
                   "line of their own, not in the total): cheap to poll during a large run.\n");
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    return count ? s_print_counts(o, state) : s_print_list(o, state, all);
}

int
ctl_cmd_discover(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {{"window-ms", required_argument, NULL, 'w'},
                                          {"endpoint", required_argument, NULL, 'e'},
                                          {"scope", required_argument, NULL, 's'},
                                          {"iface", required_argument, NULL, 'i'},
                                          {"rounds", required_argument, NULL, 'r'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    char *eps[16], *scopes[8], *ifaces[8];
    size_t n_eps = 0, n_scopes = 0, n_ifaces = 0;
    int window = 0, rounds = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (c == 'w') {
            /* the gateway's --discover-window-ms bounds */
            if (ctl_args_int("--window-ms", optarg, 50, 60000, &window) != 0) {
                return CTL_EXIT_USAGE;
            }
        } else if (c == 'r') {
            if (ctl_args_int("--rounds", optarg, 1, 20, &rounds) != 0) {
                return CTL_EXIT_USAGE;
            }
        } else if (c == 'e' && n_eps < 16) {
            eps[n_eps++] = optarg;
        } else if (c == 's' && n_scopes < 8) {
            scopes[n_scopes++] = optarg; /* a comma list: the gateway splits it */
        } else if (c == 'i' && n_ifaces < 8) {
            for (char *save = NULL, *t = strtok_r(optarg, ",", &save); t && n_ifaces < 8;
                 t = strtok_r(NULL, ",", &save)) {
                ifaces[n_ifaces++] = t;
            }
        } else {
            printf("usage: obtctl discover [--window-ms N] [--rounds N] [--json]\n"
                   "         [--scope link,realm,site,ipv4] [--iface IF[,IF...]]\n"
                   "         [--endpoint coap://H:P]...\n"
                   "Multicast GET /oic/sec/doxm?owned=FALSE (clause 5.3.1 step 1) on the scopes\n"
                   "(in order of preference: it orders each device's endpoints) and interfaces\n"
                   "(default: the gateway's), N rounds of one window each (1..20; a window of\n"
                   "50..60000 ms), and/or unicast\n"
                   "to the given endpoints (coap://[fe80::1%%veth0]:5683 too; alone: unicast\n"
                   "only); lists what DOTS then knows. docs/discovery.md\n");
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Discover d = OBT__DOTS__DISCOVER__INIT;
    d.window_ms = (uint32_t) window;
    d.rounds = (uint32_t) rounds;
    d.endpoints = eps;
    d.n_endpoints = n_eps;
    d.scopes = scopes;
    d.n_scopes = n_scopes;
    d.interfaces = ifaces;
    d.n_interfaces = n_ifaces;
    req.body_case = OBT__DOTS__REQUEST__BODY_DISCOVER;
    req.discover = &d;
    Obt__Dots__Reply *r = NULL;
    /* Rounds, /oic/res, unicast /oic/res: one window each (the gateway's default
     * rounds are unknown here: up to 20). */
    int timeout =
            (int) (window ? window : 2500) * (int) ((rounds ? rounds : 20) + 2) + o->timeout_ms;
    int rc = ctl_dots(o, &req, timeout, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (!o->json) {
        printf("found %u unowned device(s), %u new\n", r->discover->found, r->discover->added);
        if (r->discover->conflicts > 0) {
            printf("%u uuid(s) claimed by several endpoints: not approvable until "
                   "`obtctl approve UUID --endpoint EP` (see the ERROR column)\n",
                   r->discover->conflicts);
        }
        for (size_t i = 0; i < r->discover->n_limits; i++) {
            printf("%s\n", r->discover->limits[i]);
        }
        if (r->discover->other_partition > 0) {
            printf("%u unowned device(s) of other DOTS groups' parts: left to them "
                   "(obt-dots --partition, docs/scaling.md)\n",
                   r->discover->other_partition);
        }
    }
    obt__dots__reply__free_unpacked(r, NULL);
    return s_print_list(o, o->json ? NULL : "DISCOVERED", false);
}

/* What approve and onboard were asked. */
typedef struct {
    bool all;
    char **uuids;
    size_t n;
    bool wait;         /* onboard: wait for the outcome */
    int wait_s;        /* for so long */
    const char *otm;   /* onboard: --otm LIST */
    char *ep;          /* approve: --endpoint EP (a conflict's claim) */
    ctl_pin_src_t pin; /* onboard: --pin-file / --pin - */
} s_sel_t;

static int
s_select(int argc, char **argv, bool approve, s_sel_t *ret)
{
    static const struct option longs[] = {{"all", no_argument, NULL, 'a'},
                                          {"no-wait", no_argument, NULL, 'n'},
                                          {"wait-s", required_argument, NULL, 'w'},
                                          {"otm", required_argument, NULL, 'o'},
                                          {"pin-file", required_argument, NULL, 'f'},
                                          {"pin", required_argument, NULL, 'p'},
                                          {"endpoint", required_argument, NULL, 'e'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    memset(ret, 0, sizeof *ret);
    /* Options may follow the UUIDs ("onboard UUID --otm rdp"): getopt permutes. */
    ret->wait = true;
    ret->wait_s = 120;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'a') {
            ret->all = true;
        } else if (c == 'n' && !approve) {
            ret->wait = false;
        } else if (c == 'w' && !approve) {
            if (ctl_args_int("--wait-s", optarg, 1, 86400, &ret->wait_s) != 0) {
                return CTL_EXIT_USAGE;
            }
        } else if (c == 'o' && !approve) {
            ret->otm = optarg;
        } else if (c == 'f' && !approve) {
            ret->pin.file = optarg;
        } else if (c == 'p' && !approve && strcmp(optarg, "-") == 0) {
            ret->pin.from_stdin = true;
        } else if (c == 'e' && approve) {
            ret->ep = optarg;
        } else {
            if (approve) {
                printf("usage: obtctl approve UUID...|--all\n"
                       "       obtctl approve UUID --endpoint EP\n"
                       "Approves taking ownership of discovered devices (clause 5.3.1 step 2).\n"
                       "A uuid claimed by several endpoints (a conflict, docs/discovery.md) is\n"
                       "approved only with --endpoint: EP (one claim's source or one of its\n"
                       "endpoints, as `obtctl devices` shows them) is the claim kept.\n");
            } else {
                printf("usage: obtctl onboard UUID...|--all [--otm mfg|rdp|jw|LIST]\n"
                       "              [--pin-file F | --pin -] [--no-wait] [--wait-s N]\n"
                       "Onboards approved devices to RFNOP and waits (progress on a terminal).\n"
                       "--otm: acceptable OTMs, most preferred first (default: DOTS's\n"
                       "--otm-policy). A Random PIN device waits for the PIN it shows: asked\n"
                       "on the terminal (no echo), or read from F or stdin; without either,\n"
                       "obtctl stops waiting there and `obtctl pin UUID` gives it later.\n"
                       "Devices already in RFNOP: said, exit 0. Exit 0 if none failed, 1 if any\n"
                       "failed, 3 for an unknown UUID, 4 on timeout (--wait-s, 1..86400).\n");
            }
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    ret->uuids = argv + optind;
    ret->n = (size_t) (argc - optind);
    if (!ret->all && ret->n == 0) {
        fprintf(stderr, "obtctl: %s: name devices or use --all\n", approve ? "approve" : "onboard");
        return CTL_EXIT_USAGE;
    }
    if (ctl_args_check_uuids(approve ? "approve" : "onboard", ret->uuids, ret->n) != 0) {
        return CTL_EXIT_USAGE;
    }
    return -1;
}

int
ctl_cmd_approve(const ctl_opts_t *o, int argc, char **argv)
{
    s_sel_t a;
    int rc = s_select(argc, argv, true, &a);
    if (rc >= 0) {
        return rc;
    }
    bool all = a.all;
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Select sel = OBT__DOTS__SELECT__INIT;
    sel.uuids = a.uuids;
    sel.n_uuids = a.n;
    sel.all = all;
    sel.endpoint = a.ep ? a.ep : (char *) (uintptr_t) "";
    if (a.ep && (all || a.n != 1)) {
        fprintf(stderr, "obtctl: approve: --endpoint goes with exactly one UUID\n");
        return CTL_EXIT_USAGE;
    }
    req.body_case = OBT__DOTS__REQUEST__BODY_APPROVE;
    req.approve = &sel;
    Obt__Dots__Reply *r = NULL;
    rc = ctl_dots(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    printf("approved %u device(s)\n", r->approve->count);
    for (size_t i = 0; i < r->approve->n_skipped; i++) {
        printf("skipped %s\n", r->approve->skipped[i]);
    }
    rc = !all && r->approve->n_skipped > 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
    obt__dots__reply__free_unpacked(r, NULL);
    return rc;
}

/* What the wait knows of one device: the device list's view, moved on by events. */
typedef struct {
    char uuid[37], first_uuid[37];
    char bridge[37]; /* a VOD: its Bridge's uuid */
    char state[24], bridge_state[16];
    char error[320], bridge_error[320];
    bool is_bridge;
    bool is_retrying; /* FAILED, and DOTS retries it by itself (retry_at_ms) */
    uint64_t seq;     /* of the last event applied (or listed) */
} s_dev_t;

typedef struct {
    s_dev_t *devs;
    size_t n;
    bool is_fresh; /* as listed: no event applied since */
} s_model_t;

static void
s_copy(char *out, size_t len, const char *s)
{
    (void) snprintf(out, len, "%s", s ? s : "");
}

/* The starting state, or the state again after a gap: one device list. */
static int
s_model_load(const ctl_opts_t *o, s_model_t *m)
{
    Obt__Dots__Reply *l = NULL;
    int rc = s_list(o, NULL, false, &l);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    s_dev_t *devs = calloc(l->list->n_devices ? l->list->n_devices : 1, sizeof *devs);
    if (devs == NULL) {
        obt__dots__reply__free_unpacked(l, NULL);
        fprintf(stderr, "obtctl: out of memory\n");
        return CTL_EXIT_FAILED;
    }
    for (size_t i = 0; i < l->list->n_devices; i++) {
        const Obt__Dots__Device *d = l->list->devices[i];
        s_dev_t *x = &devs[i];
        s_copy(x->uuid, sizeof x->uuid, d->uuid);
        s_copy(x->first_uuid, sizeof x->first_uuid, d->first_uuid);
        s_copy(x->bridge, sizeof x->bridge, d->bridge);
        s_copy(x->state, sizeof x->state, d->state);
        s_copy(x->bridge_state, sizeof x->bridge_state, d->bridge_state);
        s_copy(x->error, sizeof x->error, d->error);
        s_copy(x->bridge_error, sizeof x->bridge_error, d->bridge_error);
        x->is_bridge = d->is_bridge;
        x->is_retrying = strcmp(d->state, "FAILED") == 0 && d->retry_at_ms != 0;
        x->seq = d->seq;
    }
    free(m->devs);
    m->devs = devs;
    m->n = l->list->n_devices;
    m->is_fresh = true;
    obt__dots__reply__free_unpacked(l, NULL);
    return CTL_EXIT_OK;
}

/* Moves the model on by one event. False when it cannot: the device is unknown (a VOD
 * just found), an event was missed (seq gap), or a reset/repair job moved (the state
 * shown then depends on two jobs): the caller lists the devices again. */
static bool
s_model_apply(s_model_t *m, const Obt__Dots__JobEvent *ev)
{
    s_dev_t *x = NULL;
    for (size_t i = 0; i < m->n && x == NULL; i++) {
        x = strcmp(m->devs[i].first_uuid, ev->first_uuid) == 0 ? &m->devs[i] : NULL;
    }
    if (x == NULL || ev->seq > x->seq + 1) {
        return false;
    }
    if (ev->seq <= x->seq) {
        return true; /* already in the list */
    }
    x->seq = ev->seq;
    s_copy(x->uuid, sizeof x->uuid, ev->uuid);
    m->is_fresh = false;
    if (strcmp(ev->job, "onboard") == 0) {
        s_copy(x->state, sizeof x->state, ev->to);
        s_copy(x->error, sizeof x->error, ev->error);
        x->is_retrying = false;
        if (strcmp(ev->to, "FAILED") == 0) {
            return false; /* whether DOTS retries it by itself: the list says */
        }
        if (strcmp(ev->to, "RFNOP") == 0) { /* committed with the bridge job's CHECK */
            s_copy(x->bridge_state, sizeof x->bridge_state, "CHECK");
            x->bridge_error[0] = '\0';
        }
        return true;
    }
    if (strcmp(ev->job, "bridge") == 0) {
        s_copy(x->bridge_state, sizeof x->bridge_state, ev->to);
        s_copy(x->bridge_error, sizeof x->bridge_error, ev->error);
        x->is_bridge |= strcmp(ev->to, "VODLIST") == 0 || strcmp(ev->to, "DISCOVER") == 0;
        return true;
    }
    return false;
}

static bool
s_named(const s_dev_t *d, char **uuids, size_t n, bool all)
{
    for (size_t i = 0; !all && i < n; i++) {
        if (strcmp(d->uuid, uuids[i]) == 0 || strcmp(d->first_uuid, uuids[i]) == 0) {
            return true;
        }
    }
    return all;
}

/* Named (or --all), or a VOD of a named Bridge: the Bridge's VODs are part of its work. */
static bool
s_selected(const s_model_t *m, const s_dev_t *d, char **uuids, size_t n, bool all)
{
    if (s_named(d, uuids, n, all)) {
        return true;
    }
    for (size_t i = 0; d->bridge[0] && i < m->n; i++) {
        if (strcmp(m->devs[i].uuid, d->bridge) == 0) {
            return s_named(&m->devs[i], uuids, n, all);
        }
    }
    return false;
}

/* A Bridge whose VODs are still being looked for is not finished. */
static bool
s_bridge_pending(const s_dev_t *d)
{
    return strcmp(d->bridge_state, "CHECK") == 0 || strcmp(d->bridge_state, "VODLIST") == 0 ||
           strcmp(d->bridge_state, "DISCOVER") == 0;
}

/* Nothing started for the named devices: exit 0 (said) if each is already in RFNOP,
 * as `onboard --all` with nothing to do; 1 otherwise (the reasons were printed). */
static int
s_all_onboarded(const ctl_opts_t *o, char **uuids, size_t n)
{
    Obt__Dots__Reply *l = NULL;
    int rc = s_list(o, "RFNOP", false, &l);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < l->list->n_devices; k++) {
            const Obt__Dots__Device *d = l->list->devices[k];
            if (strcmp(d->uuid, uuids[i]) == 0 || strcmp(d->first_uuid, uuids[i]) == 0) {
                done++;
                break;
            }
        }
    }
    obt__dots__reply__free_unpacked(l, NULL);
    if (done < n) {
        return CTL_EXIT_FAILED;
    }
    printf("%zu device(s) already in RFNOP: nothing to do\n", n);
    return CTL_EXIT_OK;
}

int
ctl_cmd_onboard(const ctl_opts_t *o, int argc, char **argv)
{
    s_sel_t a;
    int rc = s_select(argc, argv, false, &a);
    if (rc >= 0) {
        return rc;
    }
    /* Subscribed, and confirmed, before the request: no transition it causes is missed.
     * Without events (an older DOTS, no route) the wait lists the devices instead. */
    cmn_bus_sub_t *events = a.wait ? ctl_events_open(o, NULL, 0) : NULL;
    if (events && !ctl_events_wait_live(events, 3000)) {
        fprintf(stderr, "obtctl: no events from dots: following the device list instead\n");
    }
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Select sel = OBT__DOTS__SELECT__INIT;
    sel.uuids = a.uuids;
    sel.n_uuids = a.n;
    sel.all = a.all;
    sel.otm = (char *) (uintptr_t) (a.otm ? a.otm : "");
    req.body_case = OBT__DOTS__REQUEST__BODY_ONBOARD;
    req.onboard = &sel;
    Obt__Dots__Reply *r = NULL;
    rc = ctl_dots(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        cmn_bus_sub_destroy(&events);
        return rc;
    }
    unsigned started = r->onboard->count;
    fprintf(stderr, "onboarding %u device(s)\n", started);
    for (size_t i = 0; i < r->onboard->n_skipped; i++) {
        fprintf(stderr, "skipped %s\n", r->onboard->skipped[i]);
    }
    obt__dots__reply__free_unpacked(r, NULL);
    if (!a.wait || started == 0) {
        cmn_bus_sub_destroy(&events);
        return started == 0 && !a.all ? s_all_onboarded(o, a.uuids, a.n) : CTL_EXIT_OK;
    }
    rc = ctl_wait_onboarding(o, events, a.uuids, a.n, a.all, a.wait_s, &a.pin);
    cmn_bus_sub_destroy(&events);
    return rc;
}

/* Devices given a PIN during one wait (a device asks once per attempt). */
typedef struct {
    char uuids[64][40];
    size_t n;
} s_pinned_t;

static bool
s_pinned(s_pinned_t *p, const char *uuid, bool add)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->uuids[i], uuid) == 0) {
            return true;
        }
    }
    if (add && p->n < sizeof p->uuids / sizeof p->uuids[0]) {
        (void) snprintf(p->uuids[p->n++], sizeof p->uuids[0], "%s", uuid);
    }
    return false;
}

/* A device waiting for its PIN: ask for it and submit. Exit code. */
static int
s_give_pin(const ctl_opts_t *o, const char *uuid, const ctl_pin_src_t *pins)
{
    char pin[64];
    int rc = ctl_pin_read(pins, uuid, pin, sizeof pin);
    if (rc == CTL_EXIT_OK) {
        rc = ctl_pin_submit(o, uuid, pin);
    }
    OPENSSL_cleanse(pin, sizeof pin);
    return rc;
}

/* The counts of one look at the model. */
typedef struct {
    unsigned total, done, failed, waiting, bridge_failed;
} s_tally_t;

/* Counts the selected devices; gives the PIN to those that wait for it (exit code). */
static int
s_tally(const ctl_opts_t *o,
        const s_model_t *m,
        char **uuids,
        size_t n,
        bool all,
        const ctl_pin_src_t *pins,
        s_pinned_t *pinned,
        s_tally_t *t)
{
    bool can_pin = ctl_pin_can_read(pins);
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < m->n; i++) {
        const s_dev_t *d = &m->devs[i];
        if (!s_selected(m, d, uuids, n, all) || strcmp(d->state, "DISCOVERED") == 0) {
            continue;
        }
        t->total++;
        t->done += strcmp(d->state, "RFNOP") == 0 && !s_bridge_pending(d);
        t->bridge_failed += d->is_bridge && strcmp(d->bridge_state, "FAILED") == 0;
        t->failed += strcmp(d->state, "FAILED") == 0;
        if (strcmp(d->state, "WAIT_PIN") != 0 || pins->is_given) {
            continue;
        }
        if (!can_pin || s_pinned(pinned, d->uuid, false)) {
            t->waiting++;
            continue;
        }
        if (isatty(STDERR_FILENO)) {
            fprintf(stderr, "\n");
        }
        (void) s_pinned(pinned, d->uuid, true);
        int rc = s_give_pin(o, d->uuid, pins);
        if (rc != CTL_EXIT_OK) {
            return rc;
        }
    }
    return CTL_EXIT_OK;
}

/* The end of the wait: what failed or waits, then the summary. Exit code. */
static int
s_report(const s_model_t *m, char **uuids, size_t n, bool all, const s_tally_t *t, bool finished)
{
    for (size_t i = 0; i < m->n; i++) {
        const s_dev_t *d = &m->devs[i];
        bool is_sel = s_selected(m, d, uuids, n, all);
        if (is_sel && strcmp(d->bridge_state, "FAILED") == 0) {
            fprintf(stderr, "%s %s: %s\n", d->is_bridge ? "bridge" : "note: no Bridge check for",
                    d->uuid, d->bridge_error);
        }
        if (is_sel && strcmp(d->state, "FAILED") == 0) {
            /* the wait ends at a failure; DOTS's own retry of it goes on afterwards */
            fprintf(stderr, "failed %s: %s%s\n", d->uuid, d->error,
                    d->is_retrying ? " (DOTS retries it by itself: obtctl devices shows the "
                                     "outcome)"
                                   : "");
        } else if (is_sel && strcmp(d->state, "WAIT_PIN") == 0) {
            fprintf(stderr, "waiting %s: give the PIN it shows: obtctl pin %s\n", d->uuid, d->uuid);
        } else if (is_sel && d->error[0] && strcmp(d->state, "RFNOP") != 0) {
            fprintf(stderr, "%s %s: %s\n", d->state, d->uuid, d->error); /* a missing peer */
        }
    }
    if (!finished) {
        return CTL_EXIT_TIMEOUT;
    }
    printf("%u device(s) in RFNOP, %u failed, %u waiting for a PIN", t->done, t->failed,
           t->waiting);
    if (t->bridge_failed) {
        printf(", %u bridge(s) with VOD errors", t->bridge_failed);
    }
    printf("\n");
    return t->failed || t->bridge_failed ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

#define S_QUIET_MS 3000 /* no event for so long: list again (safety net) */

int
ctl_wait_onboarding(const ctl_opts_t *o,
                    cmn_bus_sub_t *events,
                    char **uuids,
                    size_t n,
                    bool all,
                    int wait_s,
                    const ctl_pin_src_t *pins)
{
    bool tty = isatty(STDERR_FILENO) != 0;
    uint64_t deadline = cmn_time_mono_ms() + (uint64_t) wait_s * 1000;
    unsigned last_done = (unsigned) -1;
    s_pinned_t pinned = {.n = 0};
    s_model_t m = {NULL, 0, false};
    cmn_bus_sub_t *own = NULL;
    if (events == NULL && (own = ctl_events_open(o, NULL, 0)) != NULL) {
        (void) ctl_events_wait_live(own, 3000);
        events = own;
    }
    bool is_live = events && cmn_bus_sub_is_live(events);
    bool needs_list = true;
    uint64_t quiet_until = 0;
    int rc = CTL_EXIT_OK;
    for (;;) {
        if (needs_list) {
            rc = s_model_load(o, &m);
            if (rc != CTL_EXIT_OK) {
                break;
            }
            needs_list = false;
            quiet_until = cmn_time_mono_ms() + S_QUIET_MS;
        }
        s_tally_t t;
        rc = s_tally(o, &m, uuids, n, all, pins, &pinned, &t);
        if (rc != CTL_EXIT_OK) {
            break;
        }
        bool finished = t.done + t.failed + t.waiting >= t.total;
        if (finished && !m.is_fresh) {
            needs_list = true; /* the summary comes from DOTS's own list */
            continue;
        }
        if (tty) {
            int width = 40;
            int fill = t.total ? (int) ((t.done + t.failed) * (unsigned) width / t.total) : width;
            fprintf(stderr, "\r[%.*s%*s] %u/%u RFNOP, %u failed", fill,
                    "########################################", width - fill, "", t.done, t.total,
                    t.failed);
        } else if (t.done + t.failed != last_done) {
            fprintf(stderr, "progress: %u/%u RFNOP, %u failed\n", t.done, t.total, t.failed);
            last_done = t.done + t.failed;
        }
        uint64_t now = cmn_time_mono_ms();
        if (finished || now > deadline || zsys_interrupted) {
            if (tty) {
                fprintf(stderr, "\n");
            }
            rc = s_report(&m, uuids, n, all, &t, finished);
            if (!finished) {
                fprintf(stderr, "obtctl: gave up waiting after %d s\n", wait_s);
            }
            break;
        }
        if (!is_live) {
            (void) poll(NULL, 0, 100); /* no events: the device list, as often as before */
            needs_list = true;
            continue;
        }
        uint64_t until = deadline < quiet_until ? deadline : quiet_until;
        if (now < until) {
            zmq_pollitem_t item = {zsock_resolve(cmn_bus_sub_sock(events)), 0, ZMQ_POLLIN, 0};
            (void) zmq_poll(&item, 1, (long) (until - now));
        }
        bool has_event = false;
        Obt__Dots__JobEvent *ev;
        while (!needs_list && (ev = ctl_events_next(events)) != NULL) {
            has_event = true;
            needs_list = !s_model_apply(&m, ev);
            obt__dots__job_event__free_unpacked(ev, NULL);
        }
        if (has_event) {
            quiet_until = cmn_time_mono_ms() + S_QUIET_MS;
        } else if (cmn_time_mono_ms() >= quiet_until) {
            needs_list = true;
        }
    }
    free(m.devs);
    cmn_bus_sub_destroy(&own);
    return rc;
}

/* Asks CMS or AMS for their view; prints it; returns whether found. */
static void
s_service_view(const ctl_opts_t *o, int which, const char *uuid)
{
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t corr = cmn_bus_next_corr_id();
    int rc;
    Obt__ServiceRequest req = OBT__SERVICE_REQUEST__INIT;
    Obt__ShowDevice s = OBT__SHOW_DEVICE__INIT;
    s.device_uuid = CMN_PB_STR(uuid);
    req.corr_id = corr;
    req.body_case = OBT__SERVICE_REQUEST__BODY_SHOW;
    req.show = &s;
    rc = ctl_call(o, which, &req.base, corr, 0, &data, &len);
    const char *name = which == CTL_CMS ? "cms" : "ams";
    Obt__ServiceReply *r = rc == CTL_EXIT_OK ? obt__service_reply__unpack(NULL, len, data) : NULL;
    free(data);
    const Obt__ServiceDevice *d = r && r->status == OBT__STATUS__STATUS_OK &&
                                                  r->body_case == OBT__SERVICE_REPLY__BODY_SHOW
                                          ? r->show
                                          : NULL;
    if (o->json) {
        printf(",\"%s\":", name);
        if (d == NULL) {
            printf("null");
        } else {
            printf("{\"state\":");
            ctl_json_str(stdout, d->state);
            printf(",\"error\":");
            ctl_json_str(stdout, d->error);
            printf(",\"cipher\":");
            ctl_json_str(stdout, d->cipher);
            printf(",\"gateway\":");
            ctl_json_str(stdout, d->gateway);
            if (which == CTL_CMS) {
                printf(",\"sct\":%u,\"ssm_client\":%s,\"ssm_server\":%s,\"cert_serial\":", d->sct,
                       (d->sct & 128) ? "true" : "false", (d->sct & 256) ? "true" : "false");
                ctl_json_str(stdout, d->cert_serial);
                printf(",\"cert_note\":");
                ctl_json_str(stdout, d->cert_note);
            }
            printf(",\"aceids\":[");
            for (size_t i = 0; i < d->n_aceids; i++) {
                printf("%s%u", i ? "," : "", d->aceids[i]);
            }
            printf("],\"removed_aceids\":[");
            for (size_t i = 0; i < d->n_removed_aceids; i++) {
                printf("%s%u", i ? "," : "", d->removed_aceids[i]);
            }
            printf("]}");
        }
    } else if (d) {
        printf("%s: %s%s%s (session %s", name, d->state, d->error[0] ? ": " : "", d->error,
               d->cipher[0] ? d->cipher : "-");
        if (d->gateway[0]) {
            printf(" through gateway %s", d->gateway);
        }
        printf(")");
        if (which == CTL_AMS) {
            printf(", %zu baseline ACEs, %zu anon/auth ACEs cleaned", d->n_aceids,
                   d->n_removed_aceids);
        }
        if (which == CTL_CMS) {
            printf(", sct %u (SSM groups: %s)", d->sct,
                   (d->sct & 384) == 384 ? "client and server"
                   : (d->sct & 128)      ? "client"
                   : (d->sct & 256)      ? "server"
                                         : "no");
        }
        if (which == CTL_CMS && d->cert_serial[0]) {
            printf(", identity certificate %s (%s)", d->cert_serial, d->cert_note);
        } else if (which == CTL_CMS && d->cert_note[0]) {
            printf(", %s", d->cert_note);
        }
        printf("\n");
    } else {
        printf("%s: %s\n", name, r ? r->error : "unreachable");
    }
    if (r) {
        obt__service_reply__free_unpacked(r, NULL);
    }
}

int
ctl_cmd_show(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        printf("usage: obtctl show UUID [--json]\n"
               "Shows one device as DOTS, CMS and AMS know it (current or first UUID).\n"
               "A device onboarded by the certificate OTM shows its manufacturer\n"
               "certificate: \"mfg cert: CN uuid:..., sha256 HEX\" (SHA-256 of the leaf's\n"
               "DER; the CN may name another uuid, docs/otm.md).\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    if (ctl_args_check_uuids("show", argv + 1, 1) != 0) {
        return CTL_EXIT_USAGE;
    }
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Show s = OBT__DOTS__SHOW__INIT;
    s.uuid = argv[1];
    req.body_case = OBT__DOTS__REQUEST__BODY_SHOW;
    req.show = &s;
    Obt__Dots__Reply *r = NULL;
    int rc = ctl_dots(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    const Obt__Dots__Device *d = r->show;
    if (o->json) {
        printf("{\"dots\":");
        s_device_json(d);
    } else {
        printf("uuid:        %s\nfirst uuid:  %s\nstate:       %s\n", d->uuid, d->first_uuid,
               d->state);
        if (d->error[0]) {
            printf("error:       %s\n", d->error);
        }
        if (d->superseded_by[0]) {
            printf("superseded:  the device answers as %s now (obtctl forget %s drops this)\n",
                   d->superseded_by, d->uuid);
        }
        if (d->recover_attempts > 0) {
            printf("recovery:    %u automatic retr%s\n", d->recover_attempts,
                   d->recover_attempts == 1 ? "y" : "ies");
        }
        if (d->retry_at_ms != 0) {
            uint64_t now = cmn_time_wall_ms();
            printf("next retry:  by DOTS itself in %llu s\n",
                   (unsigned long long) (d->retry_at_ms > now ? (d->retry_at_ms - now + 999) / 1000
                                                              : 0));
        }
        if (d->gateway[0]) {
            printf("gateway:     %s\n", d->gateway);
        }
        printf("owned:       %s\ncipher:      %s\ndomain:      %s\nattempts:    %u\n",
               d->owned ? "yes" : "no", d->cipher[0] ? d->cipher : "-",
               d->sd_uuid[0] ? d->sd_uuid : "-", d->attempts);
        if (d->mfg_cert_sha256[0]) {
            printf("mfg cert:    CN %s, sha256 %s\n", d->mfg_cert_cn, d->mfg_cert_sha256);
        }
        for (size_t i = 0; i < d->n_eps; i++) {
            printf("endpoint:    %s\n", d->eps[i]);
        }
        if (d->bridge[0]) {
            printf("VOD of:      %s\n", d->bridge);
        }
        if (d->bridge_state[0] && strcmp(d->bridge_state, "NOT_BRIDGE") != 0) {
            printf("bridge job:  %s%s%s\n", d->bridge_state, d->bridge_error[0] ? ": " : "",
                   d->bridge_error);
        }
        for (size_t i = 0; i < d->n_vods; i++) {
            printf("VOD:         %s\n", d->vods[i]);
        }
        if (d->finished_ms > d->started_ms && d->started_ms) {
            printf("onboarded in %llu ms\n", (unsigned long long) (d->finished_ms - d->started_ms));
        }
    }
    char uuid[40];
    (void) snprintf(uuid, sizeof uuid, "%s", d->uuid);
    obt__dots__reply__free_unpacked(r, NULL);
    s_service_view(o, CTL_CMS, uuid);
    s_service_view(o, CTL_AMS, uuid);
    if (o->json) {
        printf("}\n");
    }
    return CTL_EXIT_OK;
}
