/* gw_disc.c — discovery: rounds, scopes, interfaces, unicast targets, merge */
#include "gw_disc.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_coapmsg.h"
#include "cmn_ep.h"
#include "cmn_log.h"
#include "cmn_svr.h"
#include "cmn_time.h"

#define GW_DISC_RCVBUF   (8 * 1024 * 1024) /* bytes */
#define GW_DISC_ESC_LEN  160               /* a client's string, escaped for the log */
#define GW_DISC_NBUCKETS 4096              /* hash buckets of the uuid and source indexes */

/* DOXM: doxm request to every target, once per round; RES: /oic/res?rt=oic.r.doxm to
 * every target; RES_UNICAST: /oic/res to the doxm reply's source of each device
 * still without eps. */
typedef enum { PHASE_DOXM = 0, PHASE_RES, PHASE_RES_UNICAST, PHASE_DONE } s_phase_t;

static const struct {
    const char *name;
    int family;
    const char *group;
} s_scopes[GW_SCOPE_COUNT] = {
        [GW_SCOPE_IPV4] = {"ipv4", AF_INET, "224.0.1.187"},
        [GW_SCOPE_LINK] = {"link", AF_INET6, "ff02::158"},
        [GW_SCOPE_REALM] = {"realm", AF_INET6, "ff03::158"},
        [GW_SCOPE_SITE] = {"site", AF_INET6, "ff05::158"},
};

typedef struct {
    int fd;
    int family;
    char iface[IF_NAMESIZE]; /* "" = the unicast socket of this family */
} s_sock_t;

typedef struct {
    struct sockaddr_storage addr;
    socklen_t len;
    int sock; /* index in socks */
} s_target_t;

typedef struct {
    struct sockaddr_storage addr; /* where the device's doxm reply came from */
    socklen_t len;
    int sock;         /* the socket it arrived on */
    int32_t next_uid; /* next claim in the same uuid bucket, -1 = none */
    int32_t next_src; /* next claim in the same source bucket, -1 = none */
    int32_t root;     /* conflict grouping: the claim this one merged into */
} s_source_t;

struct gw_disc {
    s_sock_t socks[GW_DISC_MAX_SOCKS];
    int n_socks;
    s_target_t targets[GW_DISC_MAX_SOCKS * GW_SCOPE_COUNT + GW_DISC_MAX_TARGETS];
    size_t n_targets;
    gw_scope_t order[GW_SCOPE_COUNT]; /* the operator's scope order (ranks eps) */
    size_t n_order;
    char query[64]; /* doxm query */
    int window_ms;
    int rounds, round; /* doxm rounds asked / sent */
    s_phase_t phase;
    uint64_t phase_end_ms;
    uint8_t tok_doxm[8]; /* token of every doxm round (late replies still count) */
    uint8_t tok_res[8];  /* token of the /oic/res requests */
    uint16_t mid;
    gw_disc_device_t *devs; /* claims: one per (uuid, source); results once done */
    s_source_t *srcs;       /* reply source of devs[i] */
    size_t n_devs, cap_devs;
    int32_t by_uuid[GW_DISC_NBUCKETS];             /* first claim of each uuid bucket, -1 = none */
    int32_t by_src[GW_DISC_NBUCKETS];              /* first claim of each source bucket */
    size_t replies, bad;                           /* counters */
    size_t max_replies, max_per_source, max_bytes; /* limits */
    size_t bytes;                                  /* memory held by the claims */
    gw_disc_drops_t drops;
};

/* ------------------------------------------------------------------ scopes, merge */

const char *
gw_disc_scope_name(gw_scope_t scope)
{
    return scope < GW_SCOPE_COUNT ? s_scopes[scope].name : "?";
}

cmn_err_t
gw_disc_check_ifaces(const char *list, char *why, size_t why_len)
{
    size_t n = 0;
    for (const char *p = list ? list : ""; *p != '\0';) {
        size_t len = strcspn(p, ",");
        char name[IF_NAMESIZE];
        if (len == 0 || len >= sizeof name) {
            (void) snprintf(why, why_len, "\"%s\": %s", list,
                            len == 0 ? "an empty interface name" : "an interface name too long");
            return CMN_EINVAL;
        }
        if (++n > GW_DISC_MAX_IFACES) {
            (void) snprintf(why, why_len, "\"%s\": more than %d interfaces", list,
                            GW_DISC_MAX_IFACES);
            return CMN_EINVAL;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        if (if_nametoindex(name) == 0) {
            (void) snprintf(why, why_len, "no interface \"%s\" on this host (see `ip link`)", name);
            return CMN_ENOTFOUND;
        }
        p += len;
        p += *p == ',' ? 1 : 0;
    }
    return CMN_OK;
}

cmn_err_t
gw_disc_parse_scopes(const char *list, gw_scope_t *ret, size_t *ret_n)
{
    gw_scope_t out[GW_SCOPE_COUNT];
    size_t n = 0;
    const char *p = list ? list : "";
    while (*p) {
        size_t len = strcspn(p, ",");
        gw_scope_t s = GW_SCOPE_COUNT;
        for (int i = 0; i < GW_SCOPE_COUNT; i++) {
            if (strlen(s_scopes[i].name) == len && strncmp(p, s_scopes[i].name, len) == 0) {
                s = (gw_scope_t) i;
            }
        }
        if (len == 4 && strncmp(p, "ipv6", 4) == 0) {
            s = GW_SCOPE_LINK;
        }
        if (s == GW_SCOPE_COUNT) {
            return CMN_EINVAL;
        }
        bool dup = false;
        for (size_t i = 0; i < n; i++) {
            dup = dup || out[i] == s;
        }
        if (!dup) {
            out[n++] = s;
        }
        p += len;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                return CMN_EINVAL;
            }
        }
    }
    memcpy(ret, out, n * sizeof out[0]);
    *ret_n = n;
    return CMN_OK;
}

/* Rank of an endpoint: the position of its scope in the operator's order. */
static size_t
s_ep_rank(const cmn_ep_t *ep, const gw_scope_t *order, size_t n_order)
{
    char host[64];
    (void) snprintf(host, sizeof host, "%s", ep->host);
    char *zone = strchr(host, '%');
    if (zone) {
        *zone = '\0';
    }
    struct in6_addr a6;
    bool v6 = inet_pton(AF_INET6, host, &a6) == 1;
    bool is_link = v6 && (IN6_IS_ADDR_LINKLOCAL(&a6) || IN6_IS_ADDR_LOOPBACK(&a6));
    for (size_t i = 0; i < n_order; i++) {
        gw_scope_t s = order[i];
        if ((!v6 && s == GW_SCOPE_IPV4) || (is_link && s == GW_SCOPE_LINK) ||
            (v6 && !is_link && (s == GW_SCOPE_REALM || s == GW_SCOPE_SITE))) {
            return i;
        }
    }
    return n_order;
}

void
gw_disc_merge_eps(gw_disc_device_t *d,
                  const char *const *eps,
                  size_t n,
                  const char *iface,
                  const gw_scope_t *order,
                  size_t n_order)
{
    for (size_t e = 0; e < n; e++) {
        cmn_ep_t ep;
        if (cmn_ep_parse(eps[e], &ep) != CMN_OK) {
            continue;
        }
        char *zone = strchr(ep.host, '%');
        if (zone) {
            *zone = '\0';
        }
        struct in6_addr a6;
        if (inet_pton(AF_INET6, ep.host, &a6) == 1 && IN6_IS_ADDR_LINKLOCAL(&a6) && iface &&
            iface[0]) {
            size_t hl = strlen(ep.host);
            (void) snprintf(ep.host + hl, sizeof ep.host - hl, "%%%s", iface);
        }
        char uri[80];
        cmn_ep_format(&ep, uri, sizeof uri);
        bool dup = false;
        for (size_t i = 0; i < d->n_eps && !dup; i++) {
            dup = strcmp(d->eps[i], uri) == 0;
        }
        if (dup) {
            continue;
        }
        size_t rank = s_ep_rank(&ep, order, n_order);
        size_t at = 0; /* after every endpoint ranked the same or better */
        for (size_t i = 0; i < d->n_eps; i++) {
            cmn_ep_t other;
            if (cmn_ep_parse(d->eps[i], &other) == CMN_OK &&
                s_ep_rank(&other, order, n_order) <= rank) {
                at = i + 1;
            }
        }
        if (d->n_eps == GW_DISC_MAX_EPS) {
            if (at >= GW_DISC_MAX_EPS) {
                continue; /* full, and no better than what we have */
            }
            d->n_eps--; /* the last, worst-ranked endpoint makes room */
        }
        memmove(d->eps[at + 1], d->eps[at], (d->n_eps - at) * sizeof d->eps[0]);
        (void) snprintf(d->eps[at], sizeof d->eps[0], "%s", uri);
        d->n_eps++;
    }
}

/* ------------------------------------------------------------------ sockets, targets */

/* The socket of (family, iface), opened on first use; iface "" = unicast. */
static int
s_sock(gw_disc_t *self, int family, const char *iface)
{
    for (int i = 0; i < self->n_socks; i++) {
        if (self->socks[i].family == family && strcmp(self->socks[i].iface, iface) == 0) {
            return i;
        }
    }
    unsigned idx = iface[0] ? if_nametoindex(iface) : 0;
    if (self->n_socks == GW_DISC_MAX_SOCKS || (iface[0] && idx == 0)) {
        return -1;
    }
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    /* A round can bring a thousand replies at once: ask for a receive buffer that
     * holds them (SO_RCVBUFFORCE passes net.core.rmem_max when we may; else the
     * kernel caps SO_RCVBUF at rmem_max, see docs/discovery.md). */
    int rcvbuf = GW_DISC_RCVBUF;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    if (family == AF_INET) {
        /* TTL 1 as [PLGD] for 224.0.1.187; the interface by index works without an
         * IPv4 address on it. */
        unsigned char ttl = 1, loop = 1;
        struct ip_mreqn mreqn = {.imr_ifindex = (int) idx};
        if (idx) {
            (void) setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreqn, sizeof mreqn);
        }
        (void) setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
        (void) setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    } else {
        /* Hop limit 255 as [PLGD] for ff03/ff05; ff02 never leaves the link anyway. */
        int hops = 255;
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (idx) {
            (void) setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx);
        }
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof one);
    }
    s_sock_t *s = &self->socks[self->n_socks];
    s->fd = fd;
    s->family = family;
    (void) snprintf(s->iface, sizeof s->iface, "%s", iface);
    return self->n_socks++;
}

static cmn_err_t
s_add_target(gw_disc_t *self, const char *addr, uint16_t port, const char *iface, bool unicast)
{
    if (self->n_targets == sizeof self->targets / sizeof self->targets[0]) {
        return CMN_ENOSPC;
    }
    s_target_t *t = &self->targets[self->n_targets];
    memset(t, 0, sizeof *t);
    struct sockaddr_in *sa4 = (struct sockaddr_in *) &t->addr;
    struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *) &t->addr;
    int family;
    if (inet_pton(AF_INET, addr, &sa4->sin_addr) == 1) {
        family = sa4->sin_family = AF_INET;
        sa4->sin_port = htons(port);
        t->len = sizeof *sa4;
    } else if (inet_pton(AF_INET6, addr, &sa6->sin6_addr) == 1) {
        family = sa6->sin6_family = AF_INET6;
        sa6->sin6_port = htons(port);
        sa6->sin6_scope_id = iface && iface[0] ? if_nametoindex(iface) : 0;
        t->len = sizeof *sa6;
        if (iface && iface[0] && sa6->sin6_scope_id == 0) {
            return CMN_EINVAL;
        }
    } else {
        return CMN_EINVAL;
    }
    t->sock = s_sock(self, family, unicast || iface == NULL ? "" : iface);
    if (t->sock < 0) {
        return CMN_EINVAL;
    }
    self->n_targets++;
    return CMN_OK;
}

/* Encodes a NON GET with token. */
static cmn_err_t
s_encode_get(gw_disc_t *self,
             const char *path,
             const char *query,
             const uint8_t token[8],
             uint8_t *dgram,
             size_t *len)
{
    static const uint8_t accept[2] = {0x27, 0x10}; /* 10000 */
    static const uint8_t ver[2] = {0x08, 0x00};
    cmn_coap_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.type = 1;    /* NON */
    msg.code = 0x01; /* GET */
    msg.mid = self->mid++;
    memcpy(msg.token, token, 8);
    msg.token_len = 8;
    if (cmn_coapmsg_add_uri(&msg, path, query) != CMN_OK ||
        cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_ACCEPT, accept, sizeof accept) != CMN_OK ||
        cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_OCF_ACCEPT_VER, ver, sizeof ver) != CMN_OK ||
        cmn_coapmsg_encode(&msg, dgram, 256, len) != CMN_OK) {
        return CMN_EINVAL;
    }
    return CMN_OK;
}

static void
s_send_all(gw_disc_t *self, const char *path, const char *query, const uint8_t token[8])
{
    for (size_t i = 0; i < self->n_targets; i++) {
        /* A message id per datagram: a device deduplicates by (source, mid). */
        uint8_t dgram[256];
        size_t len = 0;
        if (s_encode_get(self, path, query, token, dgram, &len) != CMN_OK) {
            return;
        }
        const s_target_t *t = &self->targets[i];
        if (sendto(self->socks[t->sock].fd, dgram, len, 0, (const struct sockaddr *) &t->addr,
                   t->len) < 0) {
            char iface[GW_DISC_ESC_LEN];
            cmn_log_warn("GW-DISC-SEND", "discovery request not sent on \"%s\": %s",
                         cmn_log_escape(iface, sizeof iface, self->socks[t->sock].iface),
                         strerror(errno));
        }
    }
}

gw_disc_t *
gw_disc_start(const gw_disc_opts_t *opts, cmn_err_t *ret_err)
{
    gw_disc_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        *ret_err = CMN_ENOMEM;
        return NULL;
    }
    self->window_ms = opts->window_ms;
    self->max_replies = opts->max_replies ? opts->max_replies : GW_DISC_DEF_MAX_REPLIES;
    self->max_per_source = opts->max_per_source ? opts->max_per_source : GW_DISC_DEF_MAX_PER_SOURCE;
    self->max_bytes = (opts->max_kib ? opts->max_kib : GW_DISC_DEF_MAX_KIB) * 1024;
    memset(self->by_uuid, 0xff, sizeof self->by_uuid);
    memset(self->by_src, 0xff, sizeof self->by_src);
    self->rounds = opts->rounds < 1                    ? 1
                   : opts->rounds > GW_DISC_MAX_ROUNDS ? GW_DISC_MAX_ROUNDS
                                                       : opts->rounds;
    (void) snprintf(self->query, sizeof self->query, "%s", opts->query ? opts->query : "");
    for (size_t s = 0; s < opts->n_scopes && self->n_order < GW_SCOPE_COUNT; s++) {
        self->order[self->n_order++] = opts->scopes[s];
    }
    for (size_t s = 0; s < self->n_order; s++) {
        for (size_t i = 0; i < opts->n_ifaces && i < GW_DISC_MAX_IFACES; i++) {
            gw_scope_t sc = self->order[s];
            if (s_add_target(self, s_scopes[sc].group, 5683, opts->ifaces[i], false) != CMN_OK) {
                char iface[GW_DISC_ESC_LEN];
                cmn_log_warn("GW-DISC-IFACE", "no %s discovery on interface \"%s\"",
                             s_scopes[sc].name,
                             cmn_log_escape(iface, sizeof iface, opts->ifaces[i]));
            }
        }
    }
    for (size_t i = 0; i < opts->n_unicast && i < GW_DISC_MAX_TARGETS; i++) {
        cmn_ep_t ep;
        char esc[GW_DISC_ESC_LEN];
        if (cmn_ep_parse(opts->unicast[i], &ep) != CMN_OK || ep.is_secure) {
            cmn_log_warn("GW-DISC-EP", "ignoring endpoint \"%s\" (need coap://ADDR:PORT)",
                         cmn_log_escape(esc, sizeof esc, opts->unicast[i]));
            continue;
        }
        char *zone = strchr(ep.host, '%');
        if (zone) {
            *zone++ = '\0';
        }
        if (s_add_target(self, ep.host, ep.port, zone, true) != CMN_OK) {
            cmn_log_warn("GW-DISC-EP", "ignoring endpoint \"%s\" (unknown zone?)",
                         cmn_log_escape(esc, sizeof esc, opts->unicast[i]));
        }
    }
    if (self->n_targets == 0) {
        gw_disc_destroy(&self);
        *ret_err = CMN_EINVAL;
        return NULL;
    }
    (void) RAND_bytes((uint8_t *) &self->mid, sizeof self->mid);
    (void) RAND_bytes(self->tok_doxm, sizeof self->tok_doxm);
    (void) RAND_bytes(self->tok_res, sizeof self->tok_res);
    s_send_all(self, "/oic/sec/doxm", self->query, self->tok_doxm);
    self->round = 1;
    self->phase = PHASE_DOXM;
    self->phase_end_ms = cmn_time_mono_ms() + (uint64_t) self->window_ms;
    *ret_err = CMN_OK;
    return self;
}

void
gw_disc_destroy(gw_disc_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    gw_disc_t *self = *self_p;
    for (int i = 0; i < self->n_socks; i++) {
        (void) close(self->socks[i].fd);
    }
    for (size_t i = 0; i < self->n_devs; i++) {
        free(self->devs[i].doxm);
    }
    free(self->devs);
    free(self->srcs);
    free(self);
    *self_p = NULL;
}

int
gw_disc_n_fds(const gw_disc_t *self)
{
    return self->n_socks;
}

int
gw_disc_fd(const gw_disc_t *self, int which)
{
    return which >= 0 && which < self->n_socks ? self->socks[which].fd : -1;
}

/* ------------------------------------------------------------------ replies */

/* Parses dgram as a 2.05 with an 8-byte token and a payload; copies the token. */
static cmn_err_t
s_parse(const uint8_t *dgram,
        size_t len,
        uint8_t ret_token[8],
        const uint8_t **ret_payload,
        size_t *ret_len)
{
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, len);
    cmn_err_t err = CMN_EPROTO;
    if (pdu == NULL) {
        return CMN_ENOMEM;
    }
    if (coap_pdu_parse(COAP_PROTO_UDP, dgram, len, pdu) &&
        coap_pdu_get_code(pdu) == COAP_RESPONSE_CODE(205)) {
        coap_bin_const_t t = coap_pdu_get_token(pdu);
        size_t plen = 0;
        const uint8_t *p = NULL;
        if (t.length == 8 && coap_get_data(pdu, &plen, &p) && plen > 0) {
            memcpy(ret_token, t.s, 8);
            /* The payload lies inside dgram: hand out a pointer into it. */
            *ret_payload = dgram + (len - plen);
            *ret_len = plen;
            err = CMN_OK;
        }
    }
    coap_delete_pdu(pdu);
    return err;
}

cmn_err_t
gw_disc_parse_reply(const uint8_t *dgram,
                    size_t len,
                    const uint8_t token[8],
                    const uint8_t **ret_payload,
                    size_t *ret_len)
{
    uint8_t tok[8];
    const uint8_t *p = NULL;
    size_t plen = 0;
    cmn_err_t err = s_parse(dgram, len, tok, &p, &plen);
    if (err != CMN_OK) {
        return err;
    }
    if (memcmp(tok, token, 8) != 0) {
        return CMN_EPROTO;
    }
    *ret_payload = p;
    *ret_len = plen;
    return CMN_OK;
}

static uint32_t
s_hash(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h % GW_DISC_NBUCKETS;
}

/* The address and port of a source, as bytes to hash and compare. */
static size_t
s_src_key(const struct sockaddr_storage *a, uint8_t out[20])
{
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *) a;
        memcpy(out, &a4->sin_addr, 4);
        memcpy(out + 4, &a4->sin_port, 2);
        return 6;
    }
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *) a;
    memcpy(out, &a6->sin6_addr, 16);
    memcpy(out + 16, &a6->sin6_port, 2);
    return 18;
}

static bool
s_same_src(const struct sockaddr_storage *a, const struct sockaddr_storage *b, bool with_port)
{
    uint8_t ka[20], kb[20];
    size_t la = s_src_key(a, ka), lb = s_src_key(b, kb);
    return a->ss_family == b->ss_family && la == lb && memcmp(ka, kb, with_port ? la : la - 2) == 0;
}

/* The claim of uuid by the source from (with its port, or any port of that address). */
static int32_t
s_find_claim(const gw_disc_t *self,
             const char *uuid,
             const struct sockaddr_storage *from,
             bool with_port)
{
    for (int32_t i = self->by_uuid[s_hash(uuid, strlen(uuid))]; i >= 0;
         i = self->srcs[i].next_uid) {
        if (strcmp(self->devs[i].uuid, uuid) == 0 &&
            s_same_src(&self->srcs[i].addr, from, with_port)) {
            return i;
        }
    }
    return -1;
}

/* Claims (distinct uuids) a source already made. */
static size_t
s_claims_of(const gw_disc_t *self, const struct sockaddr_storage *from, size_t stop_at)
{
    uint8_t key[20];
    size_t n = 0;
    for (int32_t i = self->by_src[s_hash(key, s_src_key(from, key))]; i >= 0 && n < stop_at;
         i = self->srcs[i].next_src) {
        n += s_same_src(&self->srcs[i].addr, from, true);
    }
    return n;
}

static size_t
s_claim_cost(void)
{
    return sizeof(gw_disc_device_t) + sizeof(s_source_t);
}

/* A new claim of uuid by from, within the limits: its index, or -1 (counted). */
static int32_t
s_new_claim(gw_disc_t *self, const char *uuid, const struct sockaddr_storage *from, size_t len)
{
    if (s_claims_of(self, from, self->max_per_source) >= self->max_per_source) {
        self->drops.per_source++;
        return -1;
    }
    if (self->n_devs == self->cap_devs) {
        size_t room = self->max_bytes > self->bytes ? (self->max_bytes - self->bytes) : 0;
        size_t more = self->cap_devs ? self->cap_devs : 64;
        if (more * s_claim_cost() > room) {
            more = room / s_claim_cost();
        }
        gw_disc_device_t *grown =
                more ? realloc(self->devs, (self->cap_devs + more) * sizeof *grown) : NULL;
        if (grown == NULL) {
            self->drops.memory++;
            return -1;
        }
        self->devs = grown;
        s_source_t *srcs = realloc(self->srcs, (self->cap_devs + more) * sizeof *srcs);
        if (srcs == NULL) {
            self->drops.memory++;
            return -1;
        }
        self->srcs = srcs;
        self->cap_devs += more;
        self->bytes += more * s_claim_cost();
    }
    if (self->bytes + len > self->max_bytes) {
        self->drops.memory++;
        return -1;
    }
    int32_t i = (int32_t) self->n_devs++;
    gw_disc_device_t *d = &self->devs[i];
    memset(d, 0, sizeof *d);
    (void) snprintf(d->uuid, sizeof d->uuid, "%s", uuid);
    d->n_claims = 1;
    s_source_t *src = &self->srcs[i];
    memset(src, 0, sizeof *src);
    uint32_t hu = s_hash(uuid, strlen(uuid));
    src->next_uid = self->by_uuid[hu];
    self->by_uuid[hu] = i;
    uint8_t key[20];
    uint32_t hs = s_hash(key, s_src_key(from, key));
    src->next_src = self->by_src[hs];
    self->by_src[hs] = i;
    src->root = i;
    return i;
}

/* The interface a reply came in on: the socket's, else the sender's zone. */
static void
s_reply_iface(const gw_disc_t *self, int sock, const struct sockaddr_storage *from, char *out)
{
    out[0] = '\0';
    if (self->socks[sock].iface[0]) {
        (void) snprintf(out, IF_NAMESIZE, "%s", self->socks[sock].iface);
    } else if (from->ss_family == AF_INET6) {
        unsigned idx = ((const struct sockaddr_in6 *) from)->sin6_scope_id;
        if (idx == 0 || if_indextoname(idx, out) == NULL) {
            out[0] = '\0';
        }
    }
}

static void
s_on_doxm(gw_disc_t *self,
          const uint8_t *p,
          size_t len,
          const struct sockaddr_storage *from,
          socklen_t from_len,
          int sock)
{
    cmn_doxm_t doxm;
    cmn_err_t err = cmn_doxm_decode(p, len, &doxm);
    if (err != CMN_OK || !(doxm.present & CMN_DOXM_HAS_DEVICEUUID)) {
        char host[INET6_ADDRSTRLEN] = "?";
        const void *addr =
                from->ss_family == AF_INET
                        ? (const void *) &((const struct sockaddr_in *) from)->sin_addr
                        : (const void *) &((const struct sockaddr_in6 *) from)->sin6_addr;
        (void) inet_ntop(from->ss_family, addr, host, sizeof host);
        cmn_log_debug("GW-DISC-BAD", "doxm reply from %s ignored: %s", host,
                      err != CMN_OK ? cmn_strerror(err) : "no deviceuuid");
        self->bad++;
        return;
    }
    char uuid[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&doxm.deviceuuid, uuid);
    int32_t i = s_find_claim(self, uuid, from, true);
    if (i >= 0) {
        self->devs[i].doxm_socks |= 1u << sock;
        return; /* seen before (another group, interface or round): one claim */
    }
    i = s_new_claim(self, uuid, from, len);
    if (i < 0) {
        return;
    }
    gw_disc_device_t *d = &self->devs[i];
    d->doxm_socks |= 1u << sock;
    d->doxm = malloc(len);
    if (d->doxm) {
        memcpy(d->doxm, p, len);
        d->doxm_len = len;
        self->bytes += len;
    }
    d->first_round = (unsigned) self->round;
    s_source_t *src = &self->srcs[i];
    memcpy(&src->addr, from, from_len);
    src->len = from_len;
    src->sock = sock;
    char host[INET6_ADDRSTRLEN] = "";
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *sa4 = (const struct sockaddr_in *) from;
        (void) inet_ntop(AF_INET, &sa4->sin_addr, host, sizeof host);
        (void) snprintf(d->source, sizeof d->source, "%s", host);
        (void) snprintf(d->source_ep, sizeof d->source_ep, "coap://%s:%u", host,
                        (unsigned) ntohs(sa4->sin_port));
    } else {
        const struct sockaddr_in6 *sa6 = (const struct sockaddr_in6 *) from;
        char iface[IF_NAMESIZE];
        (void) inet_ntop(AF_INET6, &sa6->sin6_addr, host, sizeof host);
        s_reply_iface(self, sock, from, iface);
        bool is_ll = IN6_IS_ADDR_LINKLOCAL(&sa6->sin6_addr) && iface[0];
        (void) snprintf(d->source, sizeof d->source, "%s%s%s", host, is_ll ? "%" : "",
                        is_ll ? iface : "");
        (void) snprintf(d->source_ep, sizeof d->source_ep, "coap://[%s]:%u", d->source,
                        (unsigned) ntohs(sa6->sin6_port));
    }
}

static void
s_on_res(gw_disc_t *self,
         const uint8_t *p,
         size_t len,
         const struct sockaddr_storage *from,
         int sock)
{
    cmn_res_t res;
    if (cmn_res_decode(p, len, &res) != CMN_OK) {
        self->bad++;
        return;
    }
    char iface[IF_NAMESIZE];
    s_reply_iface(self, sock, from, iface);
    for (size_t i = 0; i < res.n_links; i++) {
        const cmn_link_t *l = &res.links[i];
        if (strncmp(l->anchor, "ocf://", 6) != 0 || strcmp(l->href, "/oic/sec/doxm") != 0) {
            continue;
        }
        /* Only devices that answered doxm (every device answers /oic/res), and only
         * the claim of this source: a source speaks for its own claim only. */
        int32_t c = s_find_claim(self, l->anchor + 6, from, true);
        if (c < 0) {
            c = s_find_claim(self, l->anchor + 6, from, false);
        }
        if (c < 0) {
            continue;
        }
        gw_disc_device_t *d = &self->devs[c];
        d->res_socks |= 1u << sock;
        const char *eps[CMN_LINK_MAX_EPS];
        for (size_t e = 0; e < l->n_eps; e++) {
            eps[e] = l->eps[e];
        }
        gw_disc_merge_eps(d, eps, l->n_eps, iface, self->order, self->n_order);
    }
    cmn_res_free(&res);
}

void
gw_disc_on_readable(gw_disc_t *self, int which)
{
    uint8_t buf[1500];
    if (which < 0 || which >= self->n_socks) {
        return;
    }
    /* A budget per call: a flood must not hold the gateway's loop (the socket stays
     * readable, so the loop comes back). */
    for (int budget = 0; budget < 1024; budget++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n =
                recvfrom(self->socks[which].fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &fl);
        if (n < 0) {
            return;
        }
        self->replies++;
        if (self->phase == PHASE_DONE) {
            self->bad++;
            continue;
        }
        /* Past the limit only sources that already claimed a device are heard (their
         * /oic/res and later rounds): a flood of new ones is read and dropped. */
        if (self->replies > self->max_replies && s_claims_of(self, &from, 1) == 0) {
            self->drops.replies++;
            continue;
        }
        uint8_t tok[8];
        const uint8_t *p = NULL;
        size_t len = 0;
        if (s_parse(buf, (size_t) n, tok, &p, &len) != CMN_OK) {
            self->bad++;
        } else if (memcmp(tok, self->tok_doxm, 8) == 0) {
            s_on_doxm(self, p, len, &from, fl, which);
        } else if (memcmp(tok, self->tok_res, 8) == 0) {
            s_on_res(self, p, len, &from, which);
        } else {
            self->bad++;
        }
    }
}

/* Devices that answered doxm but whose /oic/res links did not arrive (or lacked eps)
 * are asked directly, at the address their doxm reply came from. */
static void
s_send_unicast_res(gw_disc_t *self)
{
    for (size_t i = 0; i < self->n_devs; i++) {
        const s_source_t *src = &self->srcs[i];
        uint8_t dgram[256];
        size_t len = 0;
        if (self->devs[i].n_eps > 0 || src->len == 0 ||
            s_encode_get(self, "/oic/res", NULL, self->tok_res, dgram, &len) != CMN_OK) {
            continue;
        }
        if (sendto(self->socks[src->sock].fd, dgram, len, 0, (const struct sockaddr *) &src->addr,
                   src->len) < 0) {
            cmn_log_warn("GW-DISC-SEND", "unicast /oic/res not sent: %s", strerror(errno));
        }
    }
}

/* True when every device has endpoints and, for RES, answered /oic/res on every
 * socket its doxm came on (so that no family's endpoints are cut off). */
static bool
s_complete(const gw_disc_t *self)
{
    for (size_t i = 0; i < self->n_devs; i++) {
        const gw_disc_device_t *d = &self->devs[i];
        if (d->n_eps == 0 || (self->phase == PHASE_RES && (d->doxm_socks & ~d->res_socks) != 0)) {
            return false;
        }
    }
    return true;
}

/* True if a plain endpoint of a is the address and port of source b: the device that
 * answered as a lists b's socket among its own. */
static bool
s_lists(const gw_disc_device_t *a, const s_source_t *b)
{
    for (size_t e = 0; e < a->n_eps; e++) {
        cmn_ep_t ep;
        if (cmn_ep_parse(a->eps[e], &ep) != CMN_OK || ep.is_secure) {
            continue;
        }
        char *zone = strchr(ep.host, '%');
        if (zone) {
            *zone = '\0';
        }
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        struct sockaddr_in *sa4 = (struct sockaddr_in *) &ss;
        struct sockaddr_in6 *sa6 = (struct sockaddr_in6 *) &ss;
        if (inet_pton(AF_INET, ep.host, &sa4->sin_addr) == 1) {
            sa4->sin_family = AF_INET;
            sa4->sin_port = htons(ep.port);
        } else if (inet_pton(AF_INET6, ep.host, &sa6->sin6_addr) == 1) {
            sa6->sin6_family = AF_INET6;
            sa6->sin6_port = htons(ep.port);
        } else {
            continue;
        }
        if (s_same_src(&ss, &b->addr, true)) {
            return true;
        }
    }
    return false;
}

static int32_t
s_root(s_source_t *srcs, int32_t i)
{
    while (srcs[i].root != i) {
        i = srcs[i].root;
    }
    return i;
}

/* Moves claim i's endpoints and sockets into claim r (one device seen on two sources). */
static void
s_merge_claim(gw_disc_t *self, int32_t r, int32_t i)
{
    gw_disc_device_t *d = &self->devs[r], *o = &self->devs[i];
    for (size_t e = 0; e < o->n_eps; e++) {
        char zone[IF_NAMESIZE] = "";
        const char *pct = strchr(o->eps[e], '%');
        if (pct) {
            size_t zl = strcspn(pct + 1, "]");
            (void) snprintf(zone, sizeof zone, "%.*s", (int) zl, pct + 1);
        }
        const char *one = o->eps[e];
        gw_disc_merge_eps(d, &one, 1, zone, self->order, self->n_order);
    }
    d->doxm_socks |= o->doxm_socks;
    d->res_socks |= o->res_socks;
    d->first_round = o->first_round < d->first_round ? o->first_round : d->first_round;
    free(o->doxm);
    o->doxm = NULL;
    o->uuid[0] = '\0'; /* gone */
}

typedef struct {
    int32_t key; /* first claim of its uuid: keeps discovery order, claims adjacent */
    int32_t idx;
} s_order_t;

static int
s_cmp_order(const void *a, const void *b)
{
    const s_order_t *x = a, *y = b;
    return x->key != y->key ? (x->key < y->key ? -1 : 1) : (x->idx < y->idx ? -1 : 1);
}

/* Claims of one uuid by several sources: one device when each lists the other's
 * source among its eps, else a conflict (docs/discovery.md). */
static void
s_group_claims(gw_disc_t *self)
{
    int32_t n = (int32_t) self->n_devs;
    for (int32_t i = 0; i < n; i++) {
        for (int32_t j = self->srcs[i].next_uid; j >= 0; j = self->srcs[j].next_uid) {
            if (strcmp(self->devs[i].uuid, self->devs[j].uuid) == 0 &&
                s_lists(&self->devs[i], &self->srcs[j]) &&
                s_lists(&self->devs[j], &self->srcs[i])) {
                int32_t a = s_root(self->srcs, i), b = s_root(self->srcs, j);
                self->srcs[a > b ? a : b].root = a < b ? a : b;
            }
        }
    }
    for (int32_t i = 0; i < n; i++) {
        int32_t r = s_root(self->srcs, i);
        if (r != i) {
            s_merge_claim(self, r, i);
        }
    }
}

/* Groups the claims, then orders the results (gw_disc_devices) and logs conflicts. */
static void
s_done(gw_disc_t *self)
{
    self->phase = PHASE_DONE;
    s_group_claims(self);
    s_order_t *ord = calloc(self->n_devs ? self->n_devs : 1, sizeof *ord);
    gw_disc_device_t *out = calloc(self->n_devs ? self->n_devs : 1, sizeof *out);
    if (ord == NULL || out == NULL) {
        free(ord);
        free(out);
        return; /* unordered, uncounted: each claim stands alone */
    }
    size_t n = 0;
    for (int32_t i = 0; i < (int32_t) self->n_devs; i++) {
        if (self->devs[i].uuid[0] == '\0') {
            continue;
        }
        int32_t first = i;
        size_t claims = 0;
        for (int32_t j = self->by_uuid[s_hash(self->devs[i].uuid, strlen(self->devs[i].uuid))];
             j >= 0; j = self->srcs[j].next_uid) {
            if (strcmp(self->devs[j].uuid, self->devs[i].uuid) == 0) {
                claims++;
                first = j < first ? j : first;
            }
        }
        self->devs[i].n_claims = claims;
        ord[n].key = first;
        ord[n++].idx = i;
    }
    qsort(ord, n, sizeof *ord, s_cmp_order);
    for (size_t k = 0; k < n; k++) {
        out[k] = self->devs[ord[k].idx];
    }
    for (size_t k = 0; k < n; k++) {
        const gw_disc_device_t *d = &out[k];
        if (d->n_claims > 1 && (k == 0 || strcmp(out[k - 1].uuid, d->uuid) != 0)) {
            char list[400] = "";
            for (size_t c = 0; c < d->n_claims && c < 4; c++) {
                size_t l = strlen(list);
                (void) snprintf(list + l, sizeof list - l, "%s%s", c ? ", " : "",
                                out[k + c].source_ep);
            }
            cmn_log_warn("GW-DISC-CONFLICT", "uuid=%s claimed by %zu sources: %s%s", d->uuid,
                         d->n_claims, list, d->n_claims > 4 ? ", ..." : "");
        }
    }
    free(self->devs);
    self->devs = out;
    self->n_devs = n;
    self->cap_devs = n;
    free(self->srcs); /* the indexes point into the old order: no lookups once done */
    self->srcs = NULL;
    free(ord);
}

int
gw_disc_tick(gw_disc_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    if (self->phase == PHASE_DONE) {
        return -1;
    }
    if ((self->phase == PHASE_RES || self->phase == PHASE_RES_UNICAST) && s_complete(self)) {
        s_done(self); /* every device told us its endpoints */
        return -1;
    }
    if (now < self->phase_end_ms) {
        return (int) (self->phase_end_ms - now);
    }
    if (self->phase == PHASE_DOXM && self->round < self->rounds) {
        self->round++;
        s_send_all(self, "/oic/sec/doxm", self->query, self->tok_doxm);
        self->phase_end_ms = now + (uint64_t) self->window_ms;
        return self->window_ms;
    }
    if (self->phase == PHASE_DOXM && self->n_devs > 0) {
        self->phase = PHASE_RES;
        s_send_all(self, "/oic/res", "rt=oic.r.doxm", self->tok_res);
        self->phase_end_ms = now + (uint64_t) self->window_ms;
        return self->window_ms;
    }
    if (self->phase == PHASE_RES && !s_complete(self)) {
        s_send_unicast_res(self);
        self->phase = PHASE_RES_UNICAST;
        self->phase_end_ms = now + (uint64_t) self->window_ms;
        return self->window_ms;
    }
    s_done(self);
    return -1;
}

const gw_disc_device_t *
gw_disc_devices(const gw_disc_t *self, size_t *ret_n)
{
    *ret_n = self->n_devs;
    return self->devs;
}

void
gw_disc_counts(const gw_disc_t *self, size_t *ret_replies, size_t *ret_bad)
{
    *ret_replies = self->replies;
    *ret_bad = self->bad;
}

void
gw_disc_drops(const gw_disc_t *self, gw_disc_drops_t *ret_drops, gw_disc_opts_t *ret_limits)
{
    *ret_drops = self->drops;
    memset(ret_limits, 0, sizeof *ret_limits);
    ret_limits->max_replies = self->max_replies;
    ret_limits->max_per_source = self->max_per_source;
    ret_limits->max_kib = self->max_bytes / 1024;
}
