/* ctl_fanout.c — obtctl toward several DOTS instances at once (obt-dots --parts, D100):
 * a request goes to every instance that accepts the connection, and the replies are
 * merged into the one a DOTS serving every part would give. */
#include "ctl_fanout.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_time.h"
#include "cmn_zep.h"

/* After the first instance connected, how long the others may take: every instance is
 * on this host network, so a live one connects within milliseconds of the first. */
#define S_CONNECT_GRACE_MS 300

typedef struct {
    cmn_bus_client_t *c;
    bool is_live;        /* connected (its CURVE handshake done) */
    bool is_asked;       /* a request is out to it */
    uint64_t corr_id;    /* that request's */
    Obt__Dots__Reply *r; /* its reply, NULL if none */
} s_inst_t;

typedef struct {
    s_inst_t inst[CMN_ZEP_MAX];
    size_t n;
    uint64_t deadline; /* monotonic ms */
} s_fan_t;

static void
s_replies_free(s_fan_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->inst[i].r) {
            obt__dots__reply__free_unpacked(f->inst[i].r, NULL);
            f->inst[i].r = NULL;
        }
        f->inst[i].is_asked = false;
    }
}

static void
s_close(s_fan_t *f)
{
    s_replies_free(f);
    for (size_t i = 0; i < f->n; i++) {
        cmn_bus_client_destroy(&f->inst[i].c);
    }
}

/* Connects to every endpoint and waits until one is connected, then the grace for the
 * others. Exit code. */
static int
s_open(const ctl_opts_t *o, s_fan_t *f)
{
    cmn_zep_t *eps = malloc(sizeof *eps);
    char why[200];
    if (eps == NULL || cmn_zep_expand(o->ep[CTL_DOTS], eps, why, sizeof why) != CMN_OK) {
        fprintf(stderr, "obtctl: --dots %s: %s\n", o->ep[CTL_DOTS], eps ? why : "out of memory");
        free(eps);
        return CTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < eps->n; i++) {
        cmn_err_t err = CMN_OK;
        f->inst[f->n].c =
                cmn_bus_client_new_immediate(eps->ep[i], o->keys_dir, o->key, "dots", &err);
        if (f->inst[f->n].c == NULL) {
            fprintf(stderr, "obtctl: cannot set up the link to dots (%s) with keys in \"%s\": %s\n",
                    eps->ep[i], o->keys_dir, cmn_strerror(err));
            free(eps);
            return err == CMN_ENOTFOUND ? CTL_EXIT_CONFIG : CTL_EXIT_TIMEOUT;
        }
        f->n++;
    }
    uint64_t until = f->deadline;
    size_t live = 0;
    while (live < f->n) {
        zmq_pollitem_t items[CMN_ZEP_MAX];
        size_t idx[CMN_ZEP_MAX], k = 0;
        for (size_t i = 0; i < f->n; i++) {
            if (!f->inst[i].is_live) {
                items[k] = (zmq_pollitem_t){zsock_resolve(cmn_bus_client_sock(f->inst[i].c)), 0,
                                            ZMQ_POLLOUT, 0};
                idx[k++] = i;
            }
        }
        uint64_t now = cmn_time_mono_ms();
        if (now >= until || zmq_poll(items, (int) k, (long) (until - now)) < 0) {
            break;
        }
        for (size_t j = 0; j < k; j++) {
            if (items[j].revents & ZMQ_POLLOUT) {
                f->inst[idx[j]].is_live = true;
                live++;
            }
        }
        if (live > 0 && until == f->deadline) {
            uint64_t grace = cmn_time_mono_ms() + S_CONNECT_GRACE_MS;
            until = grace < f->deadline ? grace : f->deadline;
        }
    }
    if (live == 0) {
        fprintf(stderr, "obtctl: no answer from dots at %s: %s\n", o->ep[CTL_DOTS],
                cmn_strerror(CMN_ETIMEDOUT));
        free(eps);
        return CTL_EXIT_TIMEOUT;
    }
    free(eps);
    return CTL_EXIT_OK;
}

/* Sends reqs[i] (NULL: nothing) to each live instance i and collects the replies until
 * every one asked has answered or the deadline. Exit code (a live instance that does not
 * answer is a timeout: its part would be missing from the answer). */
static int
s_exchange(const ctl_opts_t *o, s_fan_t *f, Obt__Dots__Request *const *reqs)
{
    s_replies_free(f);
    size_t asked = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (reqs[i] && f->inst[i].is_live) {
            reqs[i]->corr_id = cmn_bus_next_corr_id(); /* one request may go to several */
            f->inst[i].corr_id = reqs[i]->corr_id;
            f->inst[i].is_asked = cmn_bus_client_send_pb(f->inst[i].c, &reqs[i]->base) == CMN_OK;
            asked += f->inst[i].is_asked;
        }
    }
    for (size_t got = 0; got < asked;) {
        zmq_pollitem_t items[CMN_ZEP_MAX];
        size_t idx[CMN_ZEP_MAX], k = 0;
        for (size_t i = 0; i < f->n; i++) {
            if (f->inst[i].is_asked && f->inst[i].r == NULL) {
                items[k] = (zmq_pollitem_t){zsock_resolve(cmn_bus_client_sock(f->inst[i].c)), 0,
                                            ZMQ_POLLIN, 0};
                idx[k++] = i;
            }
        }
        uint64_t now = cmn_time_mono_ms();
        if (now >= f->deadline || zmq_poll(items, (int) k, (long) (f->deadline - now)) < 0) {
            fprintf(stderr, "obtctl: %zu of %zu dots instances at %s did not answer: %s\n",
                    asked - got, asked, o->ep[CTL_DOTS], cmn_strerror(CMN_ETIMEDOUT));
            return CTL_EXIT_TIMEOUT;
        }
        for (size_t j = 0; j < k; j++) {
            if (!(items[j].revents & ZMQ_POLLIN)) {
                continue;
            }
            s_inst_t *in = &f->inst[idx[j]];
            uint8_t *data = NULL;
            size_t len = 0;
            if (cmn_bus_client_recv(in->c, &data, &len) != CMN_OK) {
                continue;
            }
            if (cmn_bus_peek_corr_id(data, len) == in->corr_id) {
                in->r = obt__dots__reply__unpack(NULL, len, data);
                if (in->r == NULL) {
                    cmn_bus_free(data, len);
                    fprintf(stderr, "obtctl: unreadable reply from dots\n");
                    return CTL_EXIT_FAILED;
                }
                got++;
            }
            cmn_bus_free(data, len);
        }
    }
    return CTL_EXIT_OK;
}

/* Appends n items of size from src at dst (protobuf-c leaves an empty array NULL). */
static void
s_cat(void *dst, const void *src, size_t n, size_t size)
{
    if (n > 0) {
        memcpy(dst, src, n * size);
    }
}

/* Moves instance i's reply out as the answer. */
static Obt__Dots__Reply *
s_take(s_fan_t *f, size_t i)
{
    if (i >= f->n) {
        return NULL; /* no instance answered */
    }
    Obt__Dots__Reply *r = f->inst[i].r;
    f->inst[i].r = NULL;
    return r;
}

/* The answer of the one instance that has the device (or the trust list): the first
 * success; else the first error other than "not found", else the first error. */
static Obt__Dots__Reply *
s_pick_one(s_fan_t *f)
{
    size_t other = SIZE_MAX, notfound = SIZE_MAX;
    for (size_t i = 0; i < f->n; i++) {
        const Obt__Dots__Reply *r = f->inst[i].r;
        if (r == NULL) {
            continue;
        }
        if (r->status == OBT__STATUS__STATUS_OK) {
            return s_take(f, i);
        }
        if (r->status == OBT__STATUS__STATUS_ENOTFOUND) {
            notfound = notfound == SIZE_MAX ? i : notfound;
        } else {
            other = other == SIZE_MAX ? i : other;
        }
    }
    return s_take(f, other != SIZE_MAX ? other : notfound);
}

/* The first error of any instance, or SIZE_MAX. */
static size_t
s_first_error(const s_fan_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        if (f->inst[i].r && f->inst[i].r->status != OBT__STATUS__STATUS_OK) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Packs m and unpacks it into an answer of its own (m points into the replies). */
static Obt__Dots__Reply *
s_own(const Obt__Dots__Reply *m)
{
    size_t len = obt__dots__reply__get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return NULL;
    }
    (void) obt__dots__reply__pack(m, buf);
    Obt__Dots__Reply *r = obt__dots__reply__unpack(NULL, len, buf);
    free(buf);
    return r;
}

/* An error answer made here. */
static Obt__Dots__Reply *
s_error(Obt__Status status, const char *error)
{
    Obt__Dots__Reply m = OBT__DOTS__REPLY__INIT;
    m.status = status;
    m.error = CMN_PB_STR(error);
    return s_own(&m);
}

/* Device lists: concatenated; state counts added up by state. */
static Obt__Dots__Reply *
s_merge_list(s_fan_t *f)
{
    size_t n_dev = 0, n_cnt = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->inst[i].r && f->inst[i].r->list) {
            n_dev += f->inst[i].r->list->n_devices;
            n_cnt += f->inst[i].r->list->n_counts;
        }
    }
    Obt__Dots__Device **devs = calloc(n_dev + 1, sizeof *devs);
    Obt__Dots__StateCount *cnts = calloc(n_cnt + 1, sizeof *cnts);
    Obt__Dots__StateCount **cntp = calloc(n_cnt + 1, sizeof *cntp);
    Obt__Dots__Reply *out = NULL;
    if (devs && cnts && cntp) {
        size_t nd = 0, nc = 0;
        for (size_t i = 0; i < f->n; i++) {
            const Obt__Dots__DeviceList *l = f->inst[i].r ? f->inst[i].r->list : NULL;
            if (l && l->n_devices) {
                memcpy(devs + nd, l->devices, l->n_devices * sizeof *devs);
                nd += l->n_devices;
            }
            for (size_t j = 0; l && j < l->n_counts; j++) {
                size_t k = 0;
                while (k < nc && strcmp(cnts[k].state, l->counts[j]->state) != 0) {
                    k++;
                }
                if (k == nc) {
                    obt__dots__state_count__init(&cnts[nc]);
                    cnts[nc].state = l->counts[j]->state;
                    cntp[nc] = &cnts[nc];
                    nc++;
                }
                cnts[k].count += l->counts[j]->count;
            }
        }
        Obt__Dots__DeviceList dl = OBT__DOTS__DEVICE_LIST__INIT;
        dl.devices = devs;
        dl.n_devices = nd;
        dl.counts = cntp;
        dl.n_counts = nc;
        Obt__Dots__Reply m = OBT__DOTS__REPLY__INIT;
        m.body_case = OBT__DOTS__REPLY__BODY_LIST;
        m.list = &dl;
        out = s_own(&m);
    }
    free(devs);
    free(cnts);
    free(cntp);
    return out;
}

/* Discoveries: each instance found and recorded the devices of its part; a device of a
 * part no instance serves is counted by every one, so that count is what all found
 * (the largest found + other) less what the instances took. */
static Obt__Dots__Reply *
s_merge_discover(s_fan_t *f)
{
    Obt__Dots__DiscoverReply dr = OBT__DOTS__DISCOVER_REPLY__INIT;
    size_t n_dev = 0, n_lim = 0;
    uint32_t seen = 0;
    for (size_t i = 0; i < f->n; i++) {
        const Obt__Dots__DiscoverReply *d = f->inst[i].r ? f->inst[i].r->discover : NULL;
        if (d) {
            n_dev += d->n_devices;
            n_lim += d->n_limits;
        }
    }
    Obt__Dots__Device **devs = calloc(n_dev + 1, sizeof *devs);
    char **lims = calloc(n_lim + 1, sizeof *lims);
    Obt__Dots__Reply *out = NULL;
    if (devs && lims) {
        for (size_t i = 0; i < f->n; i++) {
            const Obt__Dots__DiscoverReply *d = f->inst[i].r ? f->inst[i].r->discover : NULL;
            if (d == NULL) {
                continue;
            }
            dr.found += d->found;
            dr.added += d->added;
            dr.conflicts += d->conflicts;
            dr.dropped += d->dropped;
            seen = d->found + d->other_partition > seen ? d->found + d->other_partition : seen;
            s_cat(devs + dr.n_devices, d->devices, d->n_devices, sizeof *devs);
            dr.n_devices += d->n_devices;
            s_cat(lims + dr.n_limits, d->limits, d->n_limits, sizeof *lims);
            dr.n_limits += d->n_limits;
        }
        dr.devices = devs;
        dr.limits = lims;
        dr.other_partition = seen > dr.found ? seen - dr.found : 0;
        Obt__Dots__Reply m = OBT__DOTS__REPLY__INIT;
        m.body_case = OBT__DOTS__REPLY__BODY_DISCOVER;
        m.discover = &dr;
        out = s_own(&m);
    }
    free(devs);
    free(lims);
    return out;
}

/* The approve or onboard reply of instance i, NULL if none. */
static const Obt__Dots__SelectReply *
s_sel(const s_fan_t *f, size_t i)
{
    const Obt__Dots__Reply *r = f->inst[i].r;
    return r == NULL ? NULL : r->approve ? r->approve : r->onboard;
}

/* approve/onboard: counts added up, uuids and skips concatenated. */
static Obt__Dots__Reply *
s_merge_select(s_fan_t *f, int body_case)
{
    size_t n_u = 0, n_s = 0;
    for (size_t i = 0; i < f->n; i++) {
        const Obt__Dots__SelectReply *s = s_sel(f, i);
        n_u += s ? s->n_uuids : 0;
        n_s += s ? s->n_skipped : 0;
    }
    char **us = calloc(n_u + 1, sizeof *us), **ss = calloc(n_s + 1, sizeof *ss);
    Obt__Dots__Reply *out = NULL;
    if (us && ss) {
        Obt__Dots__SelectReply sr = OBT__DOTS__SELECT_REPLY__INIT;
        for (size_t i = 0; i < f->n; i++) {
            const Obt__Dots__SelectReply *s = s_sel(f, i);
            if (s == NULL) {
                continue;
            }
            sr.count += s->count;
            s_cat(us + sr.n_uuids, s->uuids, s->n_uuids, sizeof *us);
            sr.n_uuids += s->n_uuids;
            s_cat(ss + sr.n_skipped, s->skipped, s->n_skipped, sizeof *ss);
            sr.n_skipped += s->n_skipped;
        }
        sr.uuids = us;
        sr.skipped = ss;
        Obt__Dots__Reply m = OBT__DOTS__REPLY__INIT;
        m.body_case = (Obt__Dots__Reply__BodyCase) body_case;
        if (body_case == OBT__DOTS__REPLY__BODY_APPROVE) {
            m.approve = &sr;
        } else {
            m.onboard = &sr;
        }
        out = s_own(&m);
    }
    free(us);
    free(ss);
    return out;
}

/* Which instance has the device uuid (current or first uuid) by the lists in f; SIZE_MAX
 * if none. */
static size_t
s_owner_of(const s_fan_t *f, const char *uuid)
{
    for (size_t i = 0; i < f->n; i++) {
        const Obt__Dots__DeviceList *l = f->inst[i].r ? f->inst[i].r->list : NULL;
        for (size_t j = 0; l && j < l->n_devices; j++) {
            if (strcmp(l->devices[j]->uuid, uuid) == 0 ||
                strcmp(l->devices[j]->first_uuid, uuid) == 0) {
                return i;
            }
        }
    }
    return SIZE_MAX;
}

/* approve/onboard of named devices: each goes to the instance that lists it; a uuid no
 * instance has fails the whole request, as one DOTS does (nothing is done). */
static int
s_select_named(const ctl_opts_t *o, s_fan_t *f, Obt__Dots__Request *req, Obt__Dots__Reply **ret)
{
    const Obt__Dots__Select *sel = req->approve ? req->approve : req->onboard;
    bool is_approve = req->body_case == OBT__DOTS__REQUEST__BODY_APPROVE;
    Obt__Dots__Request list_req = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__ListDevices l = OBT__DOTS__LIST_DEVICES__INIT;
    l.state = CMN_PB_STR("");
    list_req.body_case = OBT__DOTS__REQUEST__BODY_LIST;
    list_req.list = &l;
    Obt__Dots__Request *lists[CMN_ZEP_MAX];
    for (size_t i = 0; i < f->n; i++) {
        lists[i] = &list_req;
    }
    int rc = s_exchange(o, f, lists);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    size_t *owner = calloc(sel->n_uuids + 1, sizeof *owner);
    if (owner == NULL) {
        return CTL_EXIT_FAILED;
    }
    for (size_t u = 0; u < sel->n_uuids; u++) {
        owner[u] = s_owner_of(f, sel->uuids[u]);
        if (owner[u] == SIZE_MAX) {
            char why[200];
            (void) snprintf(why, sizeof why,
                            "%s: unknown device to every DOTS instance (nothing %s)", sel->uuids[u],
                            is_approve ? "approved" : "onboarded");
            free(owner);
            *ret = s_error(OBT__STATUS__STATUS_ENOTFOUND, why);
            return *ret ? CTL_EXIT_OK : CTL_EXIT_FAILED;
        }
    }
    /* one Select per instance with its devices (the other fields as given) */
    Obt__Dots__Request reqs[CMN_ZEP_MAX], *sends[CMN_ZEP_MAX];
    Obt__Dots__Select sels[CMN_ZEP_MAX];
    char **names = calloc(sel->n_uuids * f->n + 1, sizeof *names);
    if (names == NULL) {
        free(owner);
        return CTL_EXIT_FAILED;
    }
    for (size_t i = 0; i < f->n; i++) {
        reqs[i] = *req;
        sels[i] = *sel;
        sels[i].uuids = names + i * sel->n_uuids;
        sels[i].n_uuids = 0;
        for (size_t u = 0; u < sel->n_uuids; u++) {
            if (owner[u] == i) {
                sels[i].uuids[sels[i].n_uuids++] = sel->uuids[u];
            }
        }
        if (is_approve) {
            reqs[i].approve = &sels[i];
        } else {
            reqs[i].onboard = &sels[i];
        }
        sends[i] = sels[i].n_uuids > 0 ? &reqs[i] : NULL;
    }
    rc = s_exchange(o, f, sends);
    free(owner);
    free(names);
    if (rc != CTL_EXIT_OK) {
        return rc;
    }
    size_t e = s_first_error(f);
    *ret = e != SIZE_MAX ? s_take(f, e)
                         : s_merge_select(f, is_approve ? OBT__DOTS__REPLY__BODY_APPROVE
                                                        : OBT__DOTS__REPLY__BODY_ONBOARD);
    return *ret ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}

/* A fan-out of o->ep[CTL_DOTS] with its deadline, connected (s_open): *ret_f, to free
 * with s_close and free. Exit code. */
static int
s_fan_open(const ctl_opts_t *o, int timeout_ms, s_fan_t **ret_f)
{
    *ret_f = calloc(1, sizeof **ret_f);
    if (*ret_f == NULL) {
        return CTL_EXIT_FAILED;
    }
    (*ret_f)->deadline =
            cmn_time_mono_ms() + (uint64_t) (timeout_ms > 0 ? timeout_ms : o->timeout_ms);
    return s_open(o, *ret_f);
}

/* Sends req to every live instance and collects their replies (s_exchange). */
static int
s_ask_all(const ctl_opts_t *o, s_fan_t *f, Obt__Dots__Request *req)
{
    Obt__Dots__Request *all[CMN_ZEP_MAX];
    for (size_t i = 0; i < f->n; i++) {
        all[i] = req;
    }
    return s_exchange(o, f, all);
}

int
ctl_fanout_dots(const ctl_opts_t *o,
                Obt__Dots__Request *req,
                int timeout_ms,
                Obt__Dots__Reply **ret)
{
    *ret = NULL;
    s_fan_t *f = NULL;
    int rc = s_fan_open(o, timeout_ms, &f);
    if (f == NULL) {
        return rc;
    }
    const Obt__Dots__Select *sel = req->body_case == OBT__DOTS__REQUEST__BODY_APPROVE ? req->approve
                                   : req->body_case == OBT__DOTS__REQUEST__BODY_ONBOARD
                                           ? req->onboard
                                           : NULL;
    if (rc == CTL_EXIT_OK && sel && !sel->all) {
        rc = s_select_named(o, f, req, ret);
        s_close(f);
        free(f);
        return rc;
    }
    rc = rc == CTL_EXIT_OK ? s_ask_all(o, f, req) : rc;
    if (rc == CTL_EXIT_OK) {
        size_t e = s_first_error(f);
        switch (req->body_case) {
        case OBT__DOTS__REQUEST__BODY_LIST:
            *ret = e != SIZE_MAX ? s_take(f, e) : s_merge_list(f);
            break;
        case OBT__DOTS__REQUEST__BODY_DISCOVER:
            *ret = e != SIZE_MAX ? s_take(f, e) : s_merge_discover(f);
            break;
        case OBT__DOTS__REQUEST__BODY_APPROVE:
            *ret = e != SIZE_MAX ? s_take(f, e) : s_merge_select(f, OBT__DOTS__REPLY__BODY_APPROVE);
            break;
        case OBT__DOTS__REQUEST__BODY_ONBOARD:
            *ret = e != SIZE_MAX ? s_take(f, e) : s_merge_select(f, OBT__DOTS__REPLY__BODY_ONBOARD);
            break;
        case OBT__DOTS__REQUEST__BODY_MFG_TRUST_ADD:
        case OBT__DOTS__REQUEST__BODY_MFG_TRUST_REMOVE:
            /* every instance keeps the anchors: changed on all, or the first failure */
            *ret = e != SIZE_MAX ? s_take(f, e) : s_pick_one(f);
            break;
        default: /* health, show, pin, reset, repair, the trust list: one instance */
            *ret = s_pick_one(f);
            break;
        }
        rc = *ret ? CTL_EXIT_OK : CTL_EXIT_FAILED;
    }
    s_close(f);
    free(f);
    return rc;
}

int
ctl_fanout_each(const ctl_opts_t *o,
                Obt__Dots__Request *req,
                int timeout_ms,
                Obt__Dots__Reply **ret,
                size_t cap,
                size_t *ret_n)
{
    *ret_n = 0;
    s_fan_t *f = NULL;
    int rc = s_fan_open(o, timeout_ms, &f);
    if (f == NULL) {
        return rc;
    }
    rc = rc == CTL_EXIT_OK ? s_ask_all(o, f, req) : rc;
    for (size_t i = 0; rc == CTL_EXIT_OK && i < f->n && *ret_n < cap; i++) {
        if (f->inst[i].r) {
            ret[(*ret_n)++] = s_take(f, i);
        }
    }
    s_close(f);
    free(f);
    return rc;
}

cmn_err_t
ctl_fanout_events_ep(const ctl_opts_t *o, char *out, size_t cap)
{
    cmn_zep_t *eps = malloc(sizeof *eps);
    char why[200];
    cmn_err_t err = eps ? cmn_zep_expand(o->ep[CTL_DOTS], eps, why, sizeof why) : CMN_ENOMEM;
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; err == CMN_OK && i < eps->n; i++) {
        char ep[CMN_ZEP_LEN + 16];
        err = cmn_bus_pub_endpoint(eps->ep[i], ep, sizeof ep);
        int w = err == CMN_OK ? snprintf(out + used, cap - used, "%s%s", i ? "," : "", ep) : -1;
        err = w < 0 || (size_t) w >= cap - used ? CMN_EINVAL : CMN_OK;
        used += err == CMN_OK ? (size_t) w : 0;
    }
    free(eps);
    return err;
}
