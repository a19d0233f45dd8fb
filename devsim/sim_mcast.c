/* sim_mcast.c — the process's multicast listener */
#include "sim_mcast.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_coapmsg.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "sim_coap.h"

typedef struct {
    uint64_t due_ms;             /* when to send */
    int fd;                      /* multicast socket (fallback sender) */
    struct sockaddr_storage src; /* the device's unicast coap address */
    socklen_t src_len;
    struct sockaddr_storage to; /* requester */
    socklen_t to_len;
    uint8_t *datagram; /* encoded reply (owned) */
    size_t len;
} s_pending_t;

struct sim_mcast {
    int fd4;               /* IPv4 listener */
    int fd6;               /* IPv6 listener or -1 */
    int jitter_ms;         /* max random delay */
    s_pending_t *pending;  /* jittered replies */
    size_t n_pending, cap; /* used / allocated */
    uint16_t mid;          /* next message id */
};

static const struct {
    const char *name;
    const char *group;
} s_groups[] = {{"ipv4", "224.0.1.187"},
                {"link", "ff02::158"},
                {"realm", "ff03::158"},
                {"site", "ff05::158"}};

/* The listening socket of a family; bound_iface (or NULL): only datagrams that
 * arrive on it. */
static int
s_open(int family, const char *bound_iface)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd >= 0 && bound_iface &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, bound_iface, (socklen_t) strlen(bound_iface)) !=
                0) {
        cmn_log_err("SIM-MCAST", "cannot bind the multicast socket to \"%s\": %s", bound_iface,
                    strerror(errno));
        (void) close(fd);
        return -1;
    }
    struct sockaddr_in sa4 = {.sin_family = AF_INET, .sin_port = htons(5683)};
    struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_port = htons(5683)};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
        (family == AF_INET ? bind(fd, (struct sockaddr *) &sa4, sizeof sa4)
                           : bind(fd, (struct sockaddr *) &sa6, sizeof sa6)) != 0) {
        cmn_log_err("SIM-MCAST", "cannot bind UDP 5683 (%s): %s",
                    family == AF_INET ? "IPv4" : "IPv6", strerror(errno));
        if (fd >= 0) {
            (void) close(fd);
        }
        return -1;
    }
    return fd;
}

/* Joins group on iface; logs why not. */
static bool
s_join(int fd, const char *group, const char *iface)
{
    unsigned idx = if_nametoindex(iface);
    int rc = -1;
    if (idx == 0) {
        errno = ENODEV;
    } else if (strchr(group, ':') == NULL) {
        struct ip_mreqn mreq = {.imr_ifindex = (int) idx};
        (void) inet_pton(AF_INET, group, &mreq.imr_multiaddr);
        rc = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq);
    } else {
        struct ipv6_mreq mreq = {.ipv6mr_interface = idx};
        (void) inet_pton(AF_INET6, group, &mreq.ipv6mr_multiaddr);
        rc = setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq);
    }
    if (rc != 0) {
        cmn_log_warn("SIM-MCAST-JOIN",
                     "cannot join %s on \"%s\": %s (is MULTICAST on and is there a route? "
                     "see scripts/netns.sh, docs/discovery.md)",
                     group, iface, strerror(errno));
        return false;
    }
    cmn_log_info("SIM-MCAST-JOIN", "joined %s on \"%s\"", group, iface);
    return true;
}

sim_mcast_t *
sim_mcast_new(const char *ifaces,
              const char *scopes,
              bool has_v4,
              bool has_v6,
              bool is_bound,
              int jitter_ms)
{
    if (is_bound && strchr(ifaces, ',') != NULL) {
        cmn_log_err("SIM-MCAST", "--mcast-bind needs one --iface, not \"%s\"", ifaces);
        return NULL;
    }
    sim_mcast_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->fd4 = self->fd6 = -1;
    self->jitter_ms = jitter_ms;
    size_t joined = 0;
    for (const char *sc = scopes; *sc;) {
        size_t sl = strcspn(sc, ",");
        const char *group = NULL;
        for (size_t g = 0; g < sizeof s_groups / sizeof s_groups[0]; g++) {
            if (strlen(s_groups[g].name) == sl && strncmp(sc, s_groups[g].name, sl) == 0) {
                group = s_groups[g].group;
            }
        }
        if (group == NULL) {
            cmn_log_err("SIM-MCAST", "unknown scope \"%.*s\" (link, realm, site, ipv4)", (int) sl,
                        sc);
            sim_mcast_destroy(&self);
            return NULL;
        }
        bool v6 = strchr(group, ':') != NULL;
        int *fd = v6 ? &self->fd6 : &self->fd4;
        /* A family without a unicast address could not answer: not joined. */
        if ((v6 ? has_v6 : has_v4) && *fd < 0) {
            *fd = s_open(v6 ? AF_INET6 : AF_INET, is_bound ? ifaces : NULL);
        }
        for (const char *i = ifaces; *fd >= 0 && *i;) {
            size_t il = strcspn(i, ",");
            char iface[IF_NAMESIZE] = "";
            if (il < sizeof iface) {
                memcpy(iface, i, il);
                iface[il] = '\0';
                joined += s_join(*fd, group, iface);
            }
            i += il;
            i += *i == ',';
        }
        sc += sl;
        sc += *sc == ',';
    }
    if (joined == 0) {
        cmn_log_err("SIM-MCAST", "no multicast group joined (scopes \"%s\", interfaces \"%s\")",
                    scopes, ifaces);
        sim_mcast_destroy(&self);
        return NULL;
    }
    (void) RAND_bytes((uint8_t *) &self->mid, sizeof self->mid);
    return self;
}

void
sim_mcast_destroy(sim_mcast_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    sim_mcast_t *self = *self_p;
    if (self->fd4 >= 0) {
        (void) close(self->fd4);
    }
    if (self->fd6 >= 0) {
        (void) close(self->fd6);
    }
    for (size_t i = 0; i < self->n_pending; i++) {
        free(self->pending[i].datagram);
    }
    free(self->pending);
    free(self);
    *self_p = NULL;
}

int
sim_mcast_fd(const sim_mcast_t *self, int which)
{
    return which == 0 ? self->fd4 : self->fd6;
}

/* Sends from the device's unicast coap address, as [IL] answers multicast from its
 * unicast socket: a short-lived socket bound to that address and port (libcoap binds
 * with SO_REUSEADDR as we do) and connected to the requester, so that it takes no
 * datagram from anyone else while it exists. Falls back to the multicast socket. */
static void
s_send(const s_pending_t *p)
{
    int fd = socket(p->src.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
        (p->src.ss_family == AF_INET ||
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0) &&
        bind(fd, (const struct sockaddr *) &p->src, p->src_len) == 0 &&
        connect(fd, (const struct sockaddr *) &p->to, p->to_len) == 0 &&
        send(fd, p->datagram, p->len, 0) == (ssize_t) p->len) {
        (void) close(fd);
        return;
    }
    cmn_log_debug("SIM-MCAST-SEND", "reply from the unicast port failed: %s", strerror(errno));
    if (fd >= 0) {
        (void) close(fd);
    }
    (void) sendto(p->fd, p->datagram, p->len, 0, (const struct sockaddr *) &p->to, p->to_len);
}

/* True if a jittered reply from the device at src is still waiting: an [IL] device
 * ignores further multicast requests until it has answered (issue 11 item 4). */
static bool
s_is_pending(const sim_mcast_t *self, const struct sockaddr_storage *src, socklen_t src_len)
{
    for (size_t i = 0; i < self->n_pending; i++) {
        if (self->pending[i].src_len == src_len &&
            memcmp(&self->pending[i].src, src, src_len) == 0) {
            return true;
        }
    }
    return false;
}

static void
s_send_or_queue(sim_mcast_t *self, s_pending_t *reply)
{
    uint32_t r = 0;
    if (self->jitter_ms > 0) {
        (void) RAND_bytes((uint8_t *) &r, sizeof r);
        r %= (uint32_t) self->jitter_ms;
    }
    if (r == 0) {
        s_send(reply);
        return;
    }
    if (self->n_pending == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        s_pending_t *p = realloc(self->pending, cap * sizeof *p);
        if (p == NULL) {
            return;
        }
        self->pending = p;
        self->cap = cap;
    }
    uint8_t *copy = malloc(reply->len);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, reply->datagram, reply->len);
    s_pending_t *p = &self->pending[self->n_pending++];
    *p = *reply;
    p->due_ms = cmn_time_mono_ms() + r;
    p->datagram = copy;
}

int
sim_mcast_flush(sim_mcast_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < self->n_pending;) {
        s_pending_t *p = &self->pending[i];
        if (p->due_ms <= now) {
            s_send(p);
            free(p->datagram);
            self->pending[i] = self->pending[--self->n_pending];
            continue;
        }
        if (p->due_ms < next) {
            next = p->due_ms;
        }
        i++;
    }
    return next == UINT64_MAX ? -1 : (int) (next - now);
}

static void
s_reply(sim_mcast_t *self,
        int fd,
        const struct sockaddr_storage *src,
        socklen_t src_len,
        const struct sockaddr_storage *from,
        socklen_t from_len,
        const coap_bin_const_t *token,
        const uint8_t *body,
        size_t body_len,
        bool bad_coap)
{
    static const uint8_t ver[2] = {0x08, 0x00};
    static const uint8_t cf[2] = {0x27, 0x10}; /* 10000 */
    uint8_t dgram[1400];
    size_t len = 0;
    cmn_coap_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.type = 1; /* NON */
    msg.code = 0x45;
    msg.mid = self->mid++;
    msg.token_len = token->length <= 8 ? token->length : 8;
    memcpy(msg.token, token->s, msg.token_len);
    (void) cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_CONTENT_FORMAT, cf, sizeof cf);
    (void) cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_OCF_CONTENT_VER, ver, sizeof ver);
    msg.payload = body;
    msg.payload_len = body_len;
    if (cmn_coapmsg_encode(&msg, dgram, sizeof dgram, &len) == CMN_OK) {
        s_pending_t p = {
                .fd = fd, .src_len = src_len, .to_len = from_len, .datagram = dgram, .len = len};
        memcpy(&p.src, src, src_len);
        memcpy(&p.to, from, from_len);
        s_send_or_queue(self, &p);
    }
    if (bad_coap) {
        static const uint8_t junk[] = {0x7f, 0x45, 0x00};
        (void) sendto(fd, junk, sizeof junk, 0, (const struct sockaddr *) from, from_len);
    }
}

/* The device's unicast coap address to answer from: same family as the requester;
 * for IPv6, link-local for a link-local requester, else another scope if it has one. */
static cmn_err_t
s_unicast_src(const sim_device_t *dev,
              const struct sockaddr_storage *from,
              struct sockaddr_storage *ret,
              socklen_t *ret_len)
{
    char addrs[SIM_MAX_ADDRS][64];
    size_t n = sim_device_addrs(dev, addrs, SIM_MAX_ADDRS);
    bool want_link = from->ss_family == AF_INET6 &&
                     IN6_IS_ADDR_LINKLOCAL(&((const struct sockaddr_in6 *) from)->sin6_addr);
    cmn_err_t err = CMN_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = 0;
        if (sim_coap_sockaddr(addrs[i], dev->udp_port, &ss, &sl) != CMN_OK ||
            ss.ss_family != from->ss_family) {
            continue;
        }
        bool is_link = ss.ss_family == AF_INET6 &&
                       IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *) &ss)->sin6_addr);
        if (err != CMN_OK || is_link == want_link) {
            *ret = ss;
            *ret_len = sl;
            err = CMN_OK;
            if (is_link == want_link) {
                break;
            }
        }
    }
    return err;
}

static void
s_handle(sim_mcast_t *self,
         int fd,
         const uint8_t *buf,
         size_t n,
         const struct sockaddr_storage *from,
         socklen_t from_len,
         sim_device_t *devs,
         size_t n_devs)
{
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, n);
    if (pdu == NULL) {
        return;
    }
    if (!coap_pdu_parse(COAP_PROTO_UDP, buf, n, pdu) ||
        coap_pdu_get_code(pdu) != COAP_REQUEST_CODE_GET) {
        coap_delete_pdu(pdu);
        return;
    }
    coap_string_t *path = coap_get_uri_path(pdu);
    coap_string_t *query = coap_get_query(pdu);
    coap_bin_const_t token = coap_pdu_get_token(pdu);
    char p[64] = "", q[128] = "";
    if (path && path->length < sizeof p) {
        memcpy(p, path->s, path->length);
    }
    if (query && query->length < sizeof q) {
        memcpy(q, query->s, query->length);
    }
    bool is_doxm = strcmp(p, "oic/sec/doxm") == 0;
    bool is_res = strcmp(p, "oic/res") == 0;
    for (size_t i = 0; (is_doxm || is_res) && i < n_devs; i++) {
        sim_device_t *dev = &devs[i];
        uint8_t *body = NULL;
        size_t len = 0;
        struct sockaddr_storage src;
        socklen_t src_len = 0;
        if (dev->is_silenced || sim_device_is_hidden(dev) || dev->pstat.dos_s == CMN_DOS_RESET ||
            s_unicast_src(dev, from, &src, &src_len) != CMN_OK) {
            continue;
        }
        if (s_is_pending(self, &src, src_len)) {
            cmn_log_info("SIM-MCAST-PENDING", "dev=%d multicast ignored: a reply is pending",
                         dev->idx);
            continue;
        }
        if (is_doxm && dev->fault == SIM_FAULT_MUTE_FIRST && !dev->was_muted) {
            dev->was_muted = true;
            cmn_log_info("SIM-MUTE-FIRST", "dev=%d first multicast doxm ignored", dev->idx);
            continue;
        }
        if (is_doxm) {
            if (!sim_device_mcast_doxm_matches(dev, q) ||
                cmn_doxm_encode(&dev->doxm, &body, &len) != CMN_OK) {
                continue;
            }
        } else if (sim_device_res(dev, q, &body, &len) != CMN_OK) {
            continue;
        }
        s_reply(self, fd, &src, src_len, from, from_len, &token, body, len,
                dev->fault == SIM_FAULT_BAD_COAP);
        free(body);
    }
    coap_delete_string(path);
    coap_delete_string(query);
    coap_delete_pdu(pdu);
}

void
sim_mcast_on_readable(sim_mcast_t *self, int fd, sim_device_t *devs, size_t n)
{
    uint8_t buf[1500];
    for (;;) {
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &from_len);
        if (r < 0) {
            return;
        }
        s_handle(self, fd, buf, (size_t) r, &from, from_len, devs, n);
    }
}
