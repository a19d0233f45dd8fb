/* gw_disc.c — discovery rounds */
#include "gw_disc.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <ifaddrs.h>
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

#define GW_DISC_RCVBUF (8 * 1024 * 1024) /* bytes */

/* DOXM: doxm request to every target; RES: /oic/res?rt=oic.r.doxm to every target;
 * RES_UNICAST: /oic/res to the doxm reply's source of each device still without eps. */
typedef enum { PHASE_DOXM = 0, PHASE_RES, PHASE_RES_UNICAST, PHASE_DONE } s_phase_t;

typedef struct {
    struct sockaddr_storage addr; /* where the device's doxm reply came from */
    socklen_t len;
    int fd; /* the socket it arrived on */
} s_source_t;

struct gw_disc {
    int fd[2]; /* IPv4 and IPv6 sockets (-1 = none) */
    struct sockaddr_storage targets[GW_DISC_MAX_TARGETS + 2];
    socklen_t target_len[GW_DISC_MAX_TARGETS + 2];
    int target_fd[GW_DISC_MAX_TARGETS + 2];
    size_t n_targets;
    char query[64]; /* doxm query */
    int window_ms;
    s_phase_t phase;
    uint64_t phase_end_ms;
    uint8_t token[8]; /* token of the current phase */
    uint16_t mid;
    gw_disc_device_t *devs; /* results */
    s_source_t *srcs;       /* reply source of devs[i] */
    size_t n_devs;
    size_t replies, bad; /* counters */
};

static int
s_iface_v4(const char *iface, struct in_addr *ret)
{
    struct ifaddrs *ifs = NULL;
    int rc = -1;
    if (getifaddrs(&ifs) != 0) {
        return -1;
    }
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && strcmp(i->ifa_name, iface) == 0) {
            *ret = ((struct sockaddr_in *) (void *) i->ifa_addr)->sin_addr;
            rc = 0;
            break;
        }
    }
    freeifaddrs(ifs);
    return rc;
}

static int
s_socket(int family, const char *iface)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1, hops = 1;
    /* A round can bring a thousand replies at once: ask for a receive buffer that
     * holds them (SO_RCVBUFFORCE passes net.core.rmem_max when we may; else the
     * kernel caps SO_RCVBUF at rmem_max, see docs/performance.md). */
    int rcvbuf = GW_DISC_RCVBUF;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) {
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    if (family == AF_INET) {
        struct in_addr ifaddr;
        unsigned char ttl = 1, loop = 1;
        if (iface && s_iface_v4(iface, &ifaddr) == 0) {
            (void) setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr, sizeof ifaddr);
        }
        (void) setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
        (void) setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    } else {
        unsigned idx = iface ? if_nametoindex(iface) : 0;
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx);
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof one);
    }
    return fd;
}

static void
s_add_target(gw_disc_t *self, int family, const char *addr, uint16_t port, unsigned scope)
{
    size_t i = self->n_targets;
    if (i >= sizeof self->targets / sizeof self->targets[0] || self->fd[family == AF_INET6] < 0) {
        return;
    }
    memset(&self->targets[i], 0, sizeof self->targets[i]);
    if (family == AF_INET) {
        struct sockaddr_in *sa = (struct sockaddr_in *) &self->targets[i];
        sa->sin_family = AF_INET;
        sa->sin_port = htons(port);
        if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
            return;
        }
        self->target_len[i] = sizeof *sa;
    } else {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *) &self->targets[i];
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons(port);
        sa->sin6_scope_id = scope;
        if (inet_pton(AF_INET6, addr, &sa->sin6_addr) != 1) {
            return;
        }
        self->target_len[i] = sizeof *sa;
    }
    self->target_fd[i] = self->fd[family == AF_INET6];
    self->n_targets++;
}

/* Encodes a NON GET with a fresh token (kept as the current phase's token). */
static cmn_err_t
s_encode_get(gw_disc_t *self, const char *path, const char *query, uint8_t *dgram, size_t *len)
{
    static const uint8_t accept[2] = {0x27, 0x10}; /* 10000 */
    static const uint8_t ver[2] = {0x08, 0x00};
    cmn_coap_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.type = 1;    /* NON */
    msg.code = 0x01; /* GET */
    msg.mid = self->mid++;
    (void) RAND_bytes(self->token, sizeof self->token);
    memcpy(msg.token, self->token, sizeof self->token);
    msg.token_len = sizeof self->token;
    if (cmn_coapmsg_add_uri(&msg, path, query) != CMN_OK ||
        cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_ACCEPT, accept, sizeof accept) != CMN_OK ||
        cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_OCF_ACCEPT_VER, ver, sizeof ver) != CMN_OK ||
        cmn_coapmsg_encode(&msg, dgram, 256, len) != CMN_OK) {
        return CMN_EINVAL;
    }
    return CMN_OK;
}

static void
s_send_phase(gw_disc_t *self, const char *path, const char *query)
{
    uint8_t dgram[256];
    size_t len = 0;
    if (s_encode_get(self, path, query, dgram, &len) != CMN_OK) {
        return;
    }
    for (size_t i = 0; i < self->n_targets; i++) {
        if (sendto(self->target_fd[i], dgram, len, 0, (struct sockaddr *) &self->targets[i],
                   self->target_len[i]) < 0) {
            cmn_log_warn("GW-DISC-SEND", "discovery request not sent: %s", strerror(errno));
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
    self->fd[0] = self->fd[1] = -1;
    self->window_ms = opts->window_ms;
    (void) snprintf(self->query, sizeof self->query, "%s", opts->query ? opts->query : "");
    self->fd[0] = s_socket(AF_INET, opts->iface);
    if (opts->ipv6) {
        self->fd[1] = s_socket(AF_INET6, opts->iface);
    }
    if (opts->ipv4) {
        s_add_target(self, AF_INET, "224.0.1.187", 5683, 0);
    }
    if (opts->ipv6) {
        s_add_target(self, AF_INET6, "ff02::158", 5683, if_nametoindex(opts->iface));
    }
    for (size_t i = 0; i < opts->n_unicast && i < GW_DISC_MAX_TARGETS; i++) {
        cmn_ep_t ep;
        if (cmn_ep_parse(opts->unicast[i], &ep) != CMN_OK || ep.is_secure) {
            cmn_log_warn("GW-DISC-EP", "ignoring endpoint \"%s\" (need coap://ADDR:PORT)",
                         opts->unicast[i]);
            continue;
        }
        char host[64];
        (void) snprintf(host, sizeof host, "%s", ep.host);
        char *zone = strchr(host, '%');
        if (zone) {
            *zone++ = '\0';
        }
        bool v6 = strchr(host, ':') != NULL;
        if (v6 && self->fd[1] < 0) {
            self->fd[1] = s_socket(AF_INET6, NULL);
        }
        s_add_target(self, v6 ? AF_INET6 : AF_INET, host, ep.port, zone ? if_nametoindex(zone) : 0);
    }
    if (self->n_targets == 0) {
        gw_disc_destroy(&self);
        *ret_err = CMN_EINVAL;
        return NULL;
    }
    (void) RAND_bytes((uint8_t *) &self->mid, sizeof self->mid);
    s_send_phase(self, "/oic/sec/doxm", self->query);
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
    for (int i = 0; i < 2; i++) {
        if (self->fd[i] >= 0) {
            (void) close(self->fd[i]);
        }
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
gw_disc_fd(const gw_disc_t *self, int which)
{
    return self->fd[which];
}

cmn_err_t
gw_disc_parse_reply(const uint8_t *dgram,
                    size_t len,
                    const uint8_t token[8],
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
        if (t.length == 8 && memcmp(t.s, token, 8) == 0 && coap_get_data(pdu, &plen, &p) &&
            plen > 0) {
            /* The payload lies inside dgram: hand out a pointer into it. */
            *ret_payload = dgram + (len - plen);
            *ret_len = plen;
            err = CMN_OK;
        }
    }
    coap_delete_pdu(pdu);
    return err;
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

static void
s_on_doxm(gw_disc_t *self,
          const uint8_t *p,
          size_t len,
          const struct sockaddr_storage *from,
          socklen_t from_len,
          int fd)
{
    cmn_doxm_t doxm;
    if (cmn_doxm_decode(p, len, &doxm) != CMN_OK || !(doxm.present & CMN_DOXM_HAS_DEVICEUUID)) {
        self->bad++;
        return;
    }
    char uuid[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&doxm.deviceuuid, uuid);
    gw_disc_device_t *d = s_device(self, uuid, true);
    if (d == NULL || d->doxm != NULL) {
        return; /* duplicate reply (several groups or rounds): one device */
    }
    d->doxm = malloc(len);
    if (d->doxm) {
        memcpy(d->doxm, p, len);
        d->doxm_len = len;
    }
    s_source_t *src = &self->srcs[d - self->devs];
    memcpy(&src->addr, from, from_len);
    src->len = from_len;
    src->fd = fd;
    char host[INET6_ADDRSTRLEN] = "";
    if (from->ss_family == AF_INET) {
        (void) inet_ntop(AF_INET, &((const struct sockaddr_in *) from)->sin_addr, host,
                         sizeof host);
    } else {
        (void) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) from)->sin6_addr, host,
                         sizeof host);
    }
    (void) snprintf(d->source, sizeof d->source, "%s", host);
}

static void
s_on_res(gw_disc_t *self, const uint8_t *p, size_t len)
{
    cmn_res_t res;
    if (cmn_res_decode(p, len, &res) != CMN_OK) {
        self->bad++;
        return;
    }
    for (size_t i = 0; i < res.n_links; i++) {
        const cmn_link_t *l = &res.links[i];
        if (strncmp(l->anchor, "ocf://", 6) != 0 || strcmp(l->href, "/oic/sec/doxm") != 0) {
            continue;
        }
        gw_disc_device_t *d = s_device(self, l->anchor + 6, false);
        if (d == NULL || d->n_eps > 0) {
            continue;
        }
        for (size_t e = 0; e < l->n_eps && d->n_eps < GW_DISC_MAX_EPS; e++) {
            cmn_ep_t ep;
            if (cmn_ep_parse(l->eps[e], &ep) == CMN_OK) {
                (void) snprintf(d->eps[d->n_eps++], sizeof d->eps[0], "%s", l->eps[e]);
            }
        }
    }
    cmn_res_free(&res);
}

void
gw_disc_on_readable(gw_disc_t *self, int which)
{
    uint8_t buf[1500];
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(self->fd[which], buf, sizeof buf, 0, (struct sockaddr *) &from, &fl);
        if (n < 0) {
            return;
        }
        self->replies++;
        const uint8_t *p = NULL;
        size_t len = 0;
        if (self->phase == PHASE_DONE ||
            gw_disc_parse_reply(buf, (size_t) n, self->token, &p, &len) != CMN_OK) {
            self->bad++;
            continue;
        }
        if (self->phase == PHASE_DOXM) {
            s_on_doxm(self, p, len, &from, fl, self->fd[which]);
        } else {
            s_on_res(self, p, len);
        }
    }
}

/* Devices that answered doxm but whose /oic/res links did not arrive (or lacked eps)
 * are asked directly, at the address their doxm reply came from. */
static void
s_send_unicast_res(gw_disc_t *self)
{
    uint8_t dgram[256];
    size_t len = 0;
    if (s_encode_get(self, "/oic/res", NULL, dgram, &len) != CMN_OK) {
        return;
    }
    for (size_t i = 0; i < self->n_devs; i++) {
        const s_source_t *src = &self->srcs[i];
        if (self->devs[i].n_eps > 0 || src->len == 0) {
            continue;
        }
        if (sendto(src->fd, dgram, len, 0, (const struct sockaddr *) &src->addr, src->len) < 0) {
            cmn_log_warn("GW-DISC-SEND", "unicast /oic/res not sent: %s", strerror(errno));
        }
    }
}

int
gw_disc_tick(gw_disc_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    if (self->phase == PHASE_DONE) {
        return -1;
    }
    bool all_eps = self->phase == PHASE_RES || self->phase == PHASE_RES_UNICAST;
    for (size_t i = 0; all_eps && i < self->n_devs; i++) {
        all_eps = self->devs[i].n_eps > 0;
    }
    if (all_eps) {
        self->phase = PHASE_DONE; /* every device told us its endpoints */
        return -1;
    }
    if (now < self->phase_end_ms) {
        return (int) (self->phase_end_ms - now);
    }
    if (self->phase == PHASE_DOXM && self->n_devs > 0) {
        self->phase = PHASE_RES;
        s_send_phase(self, "/oic/res", "rt=oic.r.doxm");
        self->phase_end_ms = now + (uint64_t) self->window_ms;
        return self->window_ms;
    }
    if (self->phase == PHASE_RES) {
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
