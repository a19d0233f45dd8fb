/* ctl_devices.c — obtctl discover, devices, approve, onboard, show */
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmn_time.h"
#include "ctl_main.h"
#include "obt/ams.pb-c.h"
#include "obt/cms.pb-c.h"
#include "obt/dots.pb-c.h"

int
ctl_dots(const ctl_opts_t *o, Obt__Dots__Request *req, int timeout_ms, Obt__Dots__Reply **ret)
{
    uint8_t *data = NULL;
    size_t len = 0;
    req->corr_id = cmn_bus_next_corr_id();
    int rc = ctl_call(o, CTL_DOTS, &req->base, req->corr_id, timeout_ms, &data, &len);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    *ret = obt__dots__reply__unpack(NULL, len, data);
    free(data);
    if (*ret == NULL) {
        fprintf(stderr, "obtctl: unreadable reply from dots\n");
        return CTL_EXIT_FAILED;
    }
    if ((*ret)->status != OBT__STATUS__STATUS_OK) {
        fprintf(stderr, "obtctl: dots: %s\n", (*ret)->error);
        int rc2 = (*ret)->status == OBT__STATUS__STATUS_ENOTFOUND   ? CTL_EXIT_NOTFOUND
                  : (*ret)->status == OBT__STATUS__STATUS_EINVAL    ? CTL_EXIT_USAGE
                  : (*ret)->status == OBT__STATUS__STATUS_ETIMEDOUT ? CTL_EXIT_TIMEOUT
                                                                    : CTL_EXIT_FAILED;
        obt__dots__reply__free_unpacked(*ret, NULL);
        *ret = NULL;
        return rc2;
    }
    return CTL_EXIT_OK;
}

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
    printf("}");
}

static void
s_table(const Obt__Dots__DeviceList *l)
{
    printf("%-36s  %-16s  %-4s  %-26s  %s\n", "UUID", "STATE", "OTM", "ENDPOINT", "ERROR");
    for (size_t i = 0; i < l->n_devices; i++) {
        const Obt__Dots__Device *d = l->devices[i];
        const char *ep = "";
        for (size_t e = 0; e < d->n_eps; e++) {
            if (strncmp(d->eps[e], "coaps://", 8) == 0) {
                ep = d->eps[e];
            }
        }
        printf("%-36s  %-16s  %-4s  %-26s  %s\n", d->uuid, d->state,
               d->oxmsel == 0  ? "JW"
               : d->oxmsel < 0 ? "-"
                               : "?",
               ep, d->error);
    }
}

static int
s_list(const ctl_opts_t *o, const char *state, Obt__Dots__Reply **ret)
{
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__ListDevices l = OBT__DOTS__LIST_DEVICES__INIT;
    l.state = CMN_PB_STR(state ? state : "");
    req.body_case = OBT__DOTS__REQUEST__BODY_LIST;
    req.list = &l;
    return ctl_dots(o, &req, 0, ret);
}

static int
s_print_list(const ctl_opts_t *o, const char *state)
{
    Obt__Dots__Reply *r = NULL;
    int rc = s_list(o, state, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (o->json) {
        printf("[");
        for (size_t i = 0; i < r->list->n_devices; i++) {
            printf("%s\n", i ? "," : "");
            s_device_json(r->list->devices[i]);
        }
        printf("\n]\n");
    } else {
        s_table(r->list);
    }
    obt__dots__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

int
ctl_cmd_devices(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {{"state", required_argument, NULL, 's'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *state = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (c == 's') {
            state = optarg;
        } else {
            printf("usage: obtctl [--json] devices [--state STATE]\n"
                   "Lists the devices DOTS knows (STATE e.g. DISCOVERED, RFNOP, FAILED).\n");
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    return s_print_list(o, state);
}

int
ctl_cmd_discover(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {{"window-ms", required_argument, NULL, 'w'},
                                          {"endpoint", required_argument, NULL, 'e'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    char *eps[16];
    size_t n_eps = 0;
    unsigned window = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (c == 'w') {
            window = (unsigned) strtoul(optarg, NULL, 10);
        } else if (c == 'e' && n_eps < 16) {
            eps[n_eps++] = optarg;
        } else {
            printf("usage: obtctl [--json] discover [--window-ms N] [--endpoint coap://H:P]...\n"
                   "Multicast GET /oic/sec/doxm?owned=FALSE (clause 5.3.1 step 1), or unicast\n"
                   "to the given endpoints; lists what DOTS then knows.\n");
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Discover d = OBT__DOTS__DISCOVER__INIT;
    d.window_ms = window;
    d.endpoints = eps;
    d.n_endpoints = n_eps;
    req.body_case = OBT__DOTS__REQUEST__BODY_DISCOVER;
    req.discover = &d;
    Obt__Dots__Reply *r = NULL;
    int timeout = (int) (window ? window : 1000) * 3 + o->timeout_ms;
    int rc = ctl_dots(o, &req, timeout, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    if (!o->json) {
        printf("found %u unowned device(s), %u new\n", r->discover->found, r->discover->added);
    }
    obt__dots__reply__free_unpacked(r, NULL);
    return s_print_list(o, o->json ? NULL : "DISCOVERED");
}

static int
s_select(const ctl_opts_t *o,
         int argc,
         char **argv,
         bool approve,
         bool *ret_all,
         char ***ret_uuids,
         size_t *ret_n,
         bool *ret_wait,
         int *ret_wait_s)
{
    static const struct option longs[] = {{"all", no_argument, NULL, 'a'},
                                          {"no-wait", no_argument, NULL, 'n'},
                                          {"wait-s", required_argument, NULL, 'w'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    (void) o;
    *ret_all = false;
    *ret_wait = true;
    *ret_wait_s = 120;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        if (c == 'a') {
            *ret_all = true;
        } else if (c == 'n' && !approve) {
            *ret_wait = false;
        } else if (c == 'w' && !approve) {
            *ret_wait_s = atoi(optarg);
        } else {
            if (approve) {
                printf("usage: obtctl approve UUID...|--all\n"
                       "Approves taking ownership of discovered devices (clause 5.3.1 step 2).\n");
            } else {
                printf("usage: obtctl [--json] onboard UUID...|--all [--no-wait] [--wait-s N]\n"
                       "Onboards approved devices to RFNOP and waits (progress on a terminal).\n"
                       "Exit 0 if all reached RFNOP, 1 if any failed, 4 on timeout.\n");
            }
            return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
        }
    }
    *ret_uuids = argv + optind;
    *ret_n = (size_t) (argc - optind);
    if (!*ret_all && *ret_n == 0) {
        fprintf(stderr, "obtctl: %s: name devices or use --all\n", approve ? "approve" : "onboard");
        return CTL_EXIT_USAGE;
    }
    return -1;
}

int
ctl_cmd_approve(const ctl_opts_t *o, int argc, char **argv)
{
    bool all, wait;
    int wait_s;
    char **uuids;
    size_t n;
    int rc = s_select(o, argc, argv, true, &all, &uuids, &n, &wait, &wait_s);
    if (rc >= 0) {
        return rc;
    }
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Select sel = OBT__DOTS__SELECT__INIT;
    sel.uuids = uuids;
    sel.n_uuids = n;
    sel.all = all;
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

static bool
s_selected(const Obt__Dots__Device *d, char **uuids, size_t n, bool all)
{
    for (size_t i = 0; !all && i < n; i++) {
        if (strcmp(d->uuid, uuids[i]) == 0 || strcmp(d->first_uuid, uuids[i]) == 0) {
            return true;
        }
    }
    return all;
}

int
ctl_cmd_onboard(const ctl_opts_t *o, int argc, char **argv)
{
    bool all, wait;
    int wait_s;
    char **uuids;
    size_t n;
    int rc = s_select(o, argc, argv, false, &all, &uuids, &n, &wait, &wait_s);
    if (rc >= 0) {
        return rc;
    }
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Select sel = OBT__DOTS__SELECT__INIT;
    sel.uuids = uuids;
    sel.n_uuids = n;
    sel.all = all;
    req.body_case = OBT__DOTS__REQUEST__BODY_ONBOARD;
    req.onboard = &sel;
    Obt__Dots__Reply *r = NULL;
    rc = ctl_dots(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    unsigned started = r->onboard->count;
    fprintf(stderr, "onboarding %u device(s)\n", started);
    for (size_t i = 0; i < r->onboard->n_skipped; i++) {
        fprintf(stderr, "skipped %s\n", r->onboard->skipped[i]);
    }
    obt__dots__reply__free_unpacked(r, NULL);
    if (!wait || started == 0) {
        return started == 0 && !all ? CTL_EXIT_FAILED : CTL_EXIT_OK;
    }
    bool tty = isatty(STDERR_FILENO) != 0;
    uint64_t deadline = cmn_time_mono_ms() + (uint64_t) wait_s * 1000;
    unsigned last_done = (unsigned) -1;
    for (;;) {
        Obt__Dots__Reply *l = NULL;
        rc = s_list(o, NULL, &l);
        if (rc != CTL_EXIT_OK) {
            return rc;
        }
        unsigned total = 0, done = 0, failed = 0;
        for (size_t i = 0; i < l->list->n_devices; i++) {
            const Obt__Dots__Device *d = l->list->devices[i];
            if (!s_selected(d, uuids, n, all) || strcmp(d->state, "DISCOVERED") == 0) {
                continue;
            }
            total++;
            done += strcmp(d->state, "RFNOP") == 0;
            failed += strcmp(d->state, "FAILED") == 0;
        }
        bool finished = done + failed >= total;
        if (tty) {
            int width = 40;
            int fill = total ? (int) ((done + failed) * (unsigned) width / total) : width;
            fprintf(stderr, "\r[%.*s%*s] %u/%u RFNOP, %u failed", fill,
                    "########################################", width - fill, "", done, total,
                    failed);
        } else if (done + failed != last_done) {
            fprintf(stderr, "progress: %u/%u RFNOP, %u failed\n", done, total, failed);
            last_done = done + failed;
        }
        if (finished || cmn_time_mono_ms() > deadline) {
            if (tty) {
                fprintf(stderr, "\n");
            }
            for (size_t i = 0; i < l->list->n_devices; i++) {
                const Obt__Dots__Device *d = l->list->devices[i];
                if (s_selected(d, uuids, n, all) && strcmp(d->state, "FAILED") == 0) {
                    fprintf(stderr, "failed %s: %s\n", d->uuid, d->error);
                }
            }
            obt__dots__reply__free_unpacked(l, NULL);
            if (!finished) {
                fprintf(stderr, "obtctl: onboard: gave up waiting after %d s\n", wait_s);
                return CTL_EXIT_TIMEOUT;
            }
            printf("%u device(s) in RFNOP, %u failed\n", done, failed);
            return failed ? CTL_EXIT_FAILED : CTL_EXIT_OK;
        }
        obt__dots__reply__free_unpacked(l, NULL);
        (void) poll(NULL, 0, 100); /* the CLI polls DOTS; daemons never sleep */
    }
}

/* Asks CMS or AMS for their view; prints it; returns whether found. */
static void
s_service_view(const ctl_opts_t *o, int which, const char *uuid)
{
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t corr = cmn_bus_next_corr_id();
    int rc;
    if (which == CTL_CMS) {
        Obt__Cms__Request req = OBT__CMS__REQUEST__INIT;
        Obt__Cms__ShowDevice s = OBT__CMS__SHOW_DEVICE__INIT;
        s.device_uuid = CMN_PB_STR(uuid);
        req.corr_id = corr;
        req.body_case = OBT__CMS__REQUEST__BODY_SHOW;
        req.show = &s;
        rc = ctl_call(o, which, &req.base, corr, 0, &data, &len);
    } else {
        Obt__Ams__Request req = OBT__AMS__REQUEST__INIT;
        Obt__Ams__ShowDevice s = OBT__AMS__SHOW_DEVICE__INIT;
        s.device_uuid = CMN_PB_STR(uuid);
        req.corr_id = corr;
        req.body_case = OBT__AMS__REQUEST__BODY_SHOW;
        req.show = &s;
        rc = ctl_call(o, which, &req.base, corr, 0, &data, &len);
    }
    const char *name = which == CTL_CMS ? "cms" : "ams";
    /* cms.Reply and ams.Reply have the same layout. */
    Obt__Cms__Reply *r = rc == CTL_EXIT_OK ? obt__cms__reply__unpack(NULL, len, data) : NULL;
    free(data);
    const Obt__ServiceDevice *d =
            r && r->status == OBT__STATUS__STATUS_OK && r->body_case == OBT__CMS__REPLY__BODY_SHOW
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
        printf("%s: %s%s%s (session %s)", name, d->state, d->error[0] ? ": " : "", d->error,
               d->cipher[0] ? d->cipher : "-");
        if (which == CTL_AMS) {
            printf(", %zu baseline ACEs, %zu anon/auth ACEs cleaned", d->n_aceids,
                   d->n_removed_aceids);
        }
        printf("\n");
    } else {
        printf("%s: %s\n", name, r ? r->error : "unreachable");
    }
    if (r) {
        obt__cms__reply__free_unpacked(r, NULL);
    }
}

int
ctl_cmd_show(const ctl_opts_t *o, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        printf("usage: obtctl [--json] show UUID\n"
               "Shows one device as DOTS, CMS and AMS know it (current or first UUID).\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
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
        printf("owned:       %s\ncipher:      %s\ndomain:      %s\nattempts:    %u\n",
               d->owned ? "yes" : "no", d->cipher[0] ? d->cipher : "-",
               d->sd_uuid[0] ? d->sd_uuid : "-", d->attempts);
        for (size_t i = 0; i < d->n_eps; i++) {
            printf("endpoint:    %s\n", d->eps[i]);
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
