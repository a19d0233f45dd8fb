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

#define GW_DISC_RCVBUF  (8 * 1024 * 1024) /* bytes */
#define GW_DISC_ESC_LEN 160               /* a client's string, escaped for the log */

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
    int sock; /* the socket it arrived on */
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
    gw_disc_device_t *devs; /* results */
    s_source_t *srcs;       /* reply source of devs[i] */
    size_t n_devs;
    size_t replies, bad; /* counters */
};

/* ------------------------------------------------------------------ scopes, merge */

const char *
gw_disc_scope_name(gw_scope_t scope)
{
    return scope < GW_SCOPE_COUNT ? s_scopes[scope].name : "?";
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

static gw_disc_device_t *
s_device(gw_disc_t *self, const char *uuid, bool create)
{
    for (size_t i = 0; i < self->n_devs; i++) {
        if (strcmp(self->devs[i].uuid, uuid) == 0) {
            return &self->devs[i];
        }
    }
    if (!create) {
        return NULL;
    }
    gw_disc_device_t *grown = realloc(self->devs, (self->n_devs + 1) * sizeof *grown);
    if (grown == NULL) {
        return NULL;
    }
    self->devs = grown;
    s_source_t *srcs = realloc(self->srcs, (self->n_devs + 1) * sizeof *srcs);
    if (srcs == NULL) {
        return NULL;
    }
    self->srcs = srcs;
    memset(&srcs[self->n_devs], 0, sizeof srcs[0]);
    gw_disc_device_t *d = &self->devs[self->n_devs++];
    memset(d, 0, sizeof *d);
    (void) snprintf(d->uuid, sizeof d->uuid, "%s", uuid);
    return d;
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
    gw_disc_device_t *d = s_device(self, uuid, true);
    if (d == NULL) {
        return;
    }
    d->doxm_socks |= 1u << sock;
    if (d->doxm != NULL) {
        return; /* seen before (another group, interface or round): one device */
    }
    d->doxm = malloc(len);
    if (d->doxm) {
        memcpy(d->doxm, p, len);
        d->doxm_len = len;
    }
    d->first_round = (unsigned) self->round;
    s_source_t *src = &self->srcs[d - self->devs];
    memcpy(&src->addr, from, from_len);
    src->len = from_len;
    src->sock = sock;
    char host[INET6_ADDRSTRLEN] = "";
    if (from->ss_family == AF_INET) {
        (void) inet_ntop(AF_INET, &((const struct sockaddr_in *) from)->sin_addr, host,
                         sizeof host);
        (void) snprintf(d->source, sizeof d->source, "%s", host);
    } else {
        const struct sockaddr_in6 *sa6 = (const struct sockaddr_in6 *) from;
        char iface[IF_NAMESIZE];
        (void) inet_ntop(AF_INET6, &sa6->sin6_addr, host, sizeof host);
        s_reply_iface(self, sock, from, iface);
        (void) snprintf(d->source, sizeof d->source, "%s%s%s", host,
                        IN6_IS_ADDR_LINKLOCAL(&sa6->sin6_addr) && iface[0] ? "%" : "",
                        IN6_IS_ADDR_LINKLOCAL(&sa6->sin6_addr) ? iface : "");
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
        /* Only devices that answered doxm: every device answers /oic/res. */
        gw_disc_device_t *d = s_device(self, l->anchor + 6, false);
        if (d == NULL) {
            continue;
        }
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
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n =
                recvfrom(self->socks[which].fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &fl);
        if (n < 0) {
            return;
        }
        self->replies++;
        uint8_t tok[8];
        const uint8_t *p = NULL;
        size_t len = 0;
        if (self->phase == PHASE_DONE || s_parse(buf, (size_t) n, tok, &p, &len) != CMN_OK) {
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

int
gw_disc_tick(gw_disc_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    if (self->phase == PHASE_DONE) {
        return -1;
    }
    if ((self->phase == PHASE_RES || self->phase == PHASE_RES_UNICAST) && s_complete(self)) {
        self->phase = PHASE_DONE; /* every device told us its endpoints */
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
    self->phase = PHASE_DONE;
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
