/* ctl_watch.c — obtctl watch: DOTS's job events, and the subscription the other
 * commands use to follow them */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmn_time.h"
#include "cmn_zep.h"
#include "ctl_fanout.h"
#include "ctl_main.h"

cmn_bus_sub_t *
ctl_events_open(const ctl_opts_t *o, char **uuids, size_t n)
{
    char ep[4096];
    cmn_err_t err = CMN_OK;
    if (o->events) {
        (void) snprintf(ep, sizeof ep, "%s", o->events);
    } else if (cmn_zep_count(o->ep[CTL_DOTS]) > 1) {
        /* several instances (obt-dots --parts): the events of each, one SUB for all */
        if ((err = ctl_fanout_events_ep(o, ep, sizeof ep)) != CMN_OK) {
            fprintf(stderr, "obtctl: no events endpoints derive from %s: give --events\n",
                    o->ep[CTL_DOTS]);
            return NULL;
        }
    } else if ((err = cmn_bus_pub_endpoint(o->ep[CTL_DOTS], ep, sizeof ep)) != CMN_OK) {
        fprintf(stderr, "obtctl: no events endpoint derives from %s: give --events\n",
                o->ep[CTL_DOTS]);
        return NULL;
    }
    cmn_bus_sub_t *sub = cmn_bus_sub_new(ep, o->keys_dir, "obtctl", "dots", &err);
    if (sub == NULL) {
        fprintf(stderr, "obtctl: cannot set up the link to the events of dots (%s): %s\n", ep,
                cmn_strerror(err));
        return NULL;
    }
    /* "job/<first uuid>" carries every event, "uuid/<current uuid>" a copy once the
     * device has another uuid: either uuid names the device (docs/internals.md) */
    for (size_t i = 0; i < n && err == CMN_OK; i++) {
        char topic[64];
        (void) snprintf(topic, sizeof topic, "job/%s", uuids[i]);
        err = cmn_bus_sub_subscribe(sub, topic);
        (void) snprintf(topic, sizeof topic, "uuid/%s", uuids[i]);
        err = err == CMN_OK ? cmn_bus_sub_subscribe(sub, topic) : err;
    }
    if (n == 0) {
        err = cmn_bus_sub_subscribe(sub, "job/");
    }
    if (err != CMN_OK) {
        fprintf(stderr, "obtctl: cannot subscribe to the events: %s\n", cmn_strerror(err));
        cmn_bus_sub_destroy(&sub);
    }
    return sub;
}

Obt__Dots__JobEvent *
ctl_events_next(cmn_bus_sub_t *sub)
{
    char *topic = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    cmn_err_t err;
    while ((err = cmn_bus_sub_recv(sub, &topic, &data, &len)) != CMN_ENOTFOUND) {
        Obt__Dots__JobEvent *ev =
                err == CMN_OK ? obt__dots__job_event__unpack(NULL, len, data) : NULL;
        free(topic);
        free(data);
        topic = NULL;
        data = NULL;
        if (ev) {
            return ev;
        }
    }
    return NULL;
}

/* Waits up to timeout_ms for sub to be readable (or a signal). */
static void
s_wait(cmn_bus_sub_t *sub, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(cmn_bus_sub_sock(sub)), 0, ZMQ_POLLIN, 0};
    (void) zmq_poll(&item, 1, timeout_ms);
}

bool
ctl_events_wait_live(cmn_bus_sub_t *sub, int timeout_ms)
{
    uint64_t deadline = cmn_time_mono_ms() + (uint64_t) timeout_ms;
    for (;;) {
        Obt__Dots__JobEvent *ev;
        while ((ev = ctl_events_next(sub)) != NULL) {
            obt__dots__job_event__free_unpacked(ev, NULL);
        }
        uint64_t now = cmn_time_mono_ms();
        if (cmn_bus_sub_is_live(sub) || now >= deadline || zsys_interrupted) {
            return cmn_bus_sub_is_live(sub);
        }
        s_wait(sub, (int) (deadline - now));
    }
}

/* "2026-11-22T10:00:00.123Z" */
static void
s_time(uint64_t ms, char *out, size_t len)
{
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    char s[32];
    if (gmtime_r(&t, &tm) == NULL || strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        s[0] = '\0';
    }
    (void) snprintf(out, len, "%s.%03uZ", s, (unsigned) (ms % 1000));
}

static void
s_print(const Obt__Dots__JobEvent *ev, bool json)
{
    if (json) {
        printf("{\"seq\":%llu,\"time_ms\":%llu,\"uuid\":", (unsigned long long) ev->seq,
               (unsigned long long) ev->time_ms);
        ctl_json_str(stdout, ev->uuid);
        printf(",\"first_uuid\":");
        ctl_json_str(stdout, ev->first_uuid);
        printf(",\"job\":");
        ctl_json_str(stdout, ev->job);
        printf(",\"from\":");
        ctl_json_str(stdout, ev->from);
        printf(",\"to\":");
        ctl_json_str(stdout, ev->to);
        printf(",\"error\":");
        ctl_json_str(stdout, ev->error);
        printf("}\n");
    } else {
        char t[48];
        s_time(ev->time_ms, t, sizeof t);
        /* the onboarding job's states bare, the others' with the job's name */
        bool is_onboard = strcmp(ev->job, "onboard") == 0;
        printf("%s %s %s%s%s -> %s%s%s%s%s\n", t, ev->uuid, is_onboard ? "" : ev->job,
               is_onboard ? "" : ":", ev->from[0] ? ev->from : "-", is_onboard ? "" : ev->job,
               is_onboard ? "" : ":", ev->to, ev->error[0] ? " " : "", ev->error);
    }
    (void) fflush(stdout);
}

/* One named device for --until-done. */
typedef struct {
    const char *name; /* as given: current or first uuid */
    char first_uuid[37];
    uint64_t seq;   /* of the state known */
    bool is_done;   /* its onboarding job is in RFNOP or FAILED */
    bool is_failed; /* ... FAILED */
} s_named_t;

static bool
s_is_named(const s_named_t *d, const char *uuid, const char *first_uuid)
{
    return strcmp(d->name, uuid) == 0 || strcmp(d->name, first_uuid) == 0 ||
           (d->first_uuid[0] && strcmp(d->first_uuid, first_uuid) == 0);
}

static void
s_set_state(s_named_t *d, const char *state)
{
    d->is_done = strcmp(state, "RFNOP") == 0 || strcmp(state, "FAILED") == 0;
    d->is_failed = strcmp(state, "FAILED") == 0;
}

/* The starting state of the named devices (after the subscription is live). */
static int
s_load_states(const ctl_opts_t *o, s_named_t *named, size_t n)
{
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__ListDevices l = OBT__DOTS__LIST_DEVICES__INIT;
    l.state = CMN_PB_STR("");
    req.body_case = OBT__DOTS__REQUEST__BODY_LIST;
    req.list = &l;
    Obt__Dots__Reply *r = NULL;
    int rc = ctl_dots(o, &req, 0, &r);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    for (size_t i = 0; i < r->list->n_devices; i++) {
        const Obt__Dots__Device *d = r->list->devices[i];
        for (size_t k = 0; k < n; k++) {
            if (s_is_named(&named[k], d->uuid, d->first_uuid)) {
                (void) snprintf(named[k].first_uuid, sizeof named[k].first_uuid, "%s",
                                d->first_uuid);
                named[k].seq = d->seq;
                s_set_state(&named[k], d->state);
            }
        }
    }
    obt__dots__reply__free_unpacked(r, NULL);
    return CTL_EXIT_OK;
}

/* Applies an onboarding event to the named devices it concerns (newer than known). */
static void
s_apply(s_named_t *named, size_t n, const Obt__Dots__JobEvent *ev)
{
    for (size_t k = 0; k < n; k++) {
        if (s_is_named(&named[k], ev->uuid, ev->first_uuid) && ev->seq > named[k].seq &&
            strcmp(ev->job, "onboard") == 0) {
            (void) snprintf(named[k].first_uuid, sizeof named[k].first_uuid, "%s", ev->first_uuid);
            named[k].seq = ev->seq;
            s_set_state(&named[k], ev->to);
        }
    }
}

static int
s_usage(int c)
{
    printf("usage: obtctl [--json] watch [UUID...] [--until-done] [--json]\n"
           "Prints every transition of the devices' jobs (all devices without UUIDs) as\n"
           "DOTS publishes them, one line each: TIME UUID FROM -> TO [error] (states of\n"
           "the bridge and reset/repair jobs prefixed with bridge: and maint:), or one\n"
           "JSON object per line with --json: {\"seq\",\"time_ms\",\"uuid\",\"first_uuid\",\n"
           "\"job\",\"from\",\"to\",\"error\"}. A UUID is the current or the first one.\n"
           "Runs until interrupted (exit 0). --until-done: exits when every named device's\n"
           "onboarding is in RFNOP or FAILED: 0 if none failed, 1 if any failed, 4 if\n"
           "interrupted before.\n");
    return c == 'h' ? CTL_EXIT_OK : CTL_EXIT_USAGE;
}

int
ctl_cmd_watch(const ctl_opts_t *o, int argc, char **argv)
{
    static const struct option longs[] = {{"until-done", no_argument, NULL, 'u'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool until_done = false, json = o->json;
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'u') {
            until_done = true;
        } else if (c == 'j') {
            json = true;
        } else {
            return s_usage(c);
        }
    }
    char **uuids = argv + optind;
    size_t n = (size_t) (argc - optind);
    if (until_done && n == 0) {
        fprintf(stderr, "obtctl: watch --until-done: name the devices\n");
        return CTL_EXIT_USAGE;
    }
    s_named_t *named = calloc(n ? n : 1, sizeof *named);
    cmn_bus_sub_t *sub = named ? ctl_events_open(o, uuids, n) : NULL;
    if (sub == NULL) {
        free(named);
        return CTL_EXIT_TIMEOUT;
    }
    for (size_t k = 0; k < n; k++) {
        named[k].name = uuids[k];
    }
    bool is_live = false;
    int rc = CTL_EXIT_OK;
    while (!zsys_interrupted) {
        Obt__Dots__JobEvent *ev;
        while ((ev = ctl_events_next(sub)) != NULL) {
            s_print(ev, json);
            s_apply(named, n, ev);
            obt__dots__job_event__free_unpacked(ev, NULL);
        }
        if (!is_live && cmn_bus_sub_is_live(sub)) {
            is_live = true;
            fprintf(stderr, "watching %s\n", n ? "the named devices" : "every device");
            /* from now on no event is missed: the starting state comes after it */
            rc = until_done ? s_load_states(o, named, n) : CTL_EXIT_OK;
            if (rc != CTL_EXIT_OK) {
                break;
            }
        }
        size_t done = 0, failed = 0;
        for (size_t k = 0; k < n; k++) {
            done += named[k].is_done;
            failed += named[k].is_failed;
        }
        if (until_done && is_live && done == n) {
            rc = failed ? CTL_EXIT_FAILED : CTL_EXIT_OK;
            break;
        }
        s_wait(sub, 500);
    }
    if (zsys_interrupted && until_done) {
        rc = CTL_EXIT_TIMEOUT;
    }
    cmn_bus_sub_destroy(&sub);
    free(named);
    return rc;
}
