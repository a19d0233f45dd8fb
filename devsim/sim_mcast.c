/* sim_mcast.c — the process's multicast listener */
#include "sim_mcast.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <ifaddrs.h>
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

typedef struct {
    uint64_t due_ms;            /* when to send */
    int fd;                     /* socket to send from */
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
s_open4(const char *iface)
{
    struct in_addr ifaddr;
    if (s_iface_v4(iface, &ifaddr) != 0) {
        cmn_log_err("SIM-MCAST", "interface \"%s\" has no IPv4 address", iface);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5683)};
    struct ip_mreq mreq;
    mreq.imr_interface = ifaddr;
    (void) inet_pton(AF_INET, "224.0.1.187", &mreq.imr_multiaddr);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0 ||
        setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) {
        cmn_log_err("SIM-MCAST",
                    "cannot join 224.0.1.187 on \"%s\": %s (is MULTICAST on and "
                    "is there a route for 224.0.0.0/4? see scripts/netns.sh)",
                    iface, strerror(errno));
        if (fd >= 0) {
            (void) close(fd);
        }
        return -1;
    }
    (void) setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr, sizeof ifaddr);
    return fd;
}

static int
s_open6(const char *iface)
{
    unsigned idx = if_nametoindex(iface);
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(5683)};
    struct ipv6_mreq mreq = {.ipv6mr_interface = idx};
    (void) inet_pton(AF_INET6, "ff02::158", &mreq.ipv6mr_multiaddr);
    if (fd < 0 || idx == 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0 ||
        bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0 ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq) != 0) {
        cmn_log_warn("SIM-MCAST6", "cannot join ff02::158 on \"%s\": %s", iface, strerror(errno));
        if (fd >= 0) {
            (void) close(fd);
        }
        return -1;
    }
    return fd;
}

sim_mcast_t *
sim_mcast_new(const char *iface, bool ipv6, int jitter_ms)
{
    sim_mcast_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->fd6 = -1;
    self->jitter_ms = jitter_ms;
    self->fd4 = s_open4(iface);
    if (ipv6) {
        self->fd6 = s_open6(iface);
    }
    if (self->fd4 < 0 && self->fd6 < 0) {
        free(self);
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

static void
s_send_or_queue(sim_mcast_t *self,
                int fd,
                const struct sockaddr_storage *to,
                socklen_t to_len,
                const uint8_t *dgram,
                size_t len)
{
    uint32_t r = 0;
    if (self->jitter_ms > 0) {
        (void) RAND_bytes((uint8_t *) &r, sizeof r);
        r %= (uint32_t) self->jitter_ms;
    }
    if (r == 0) {
        (void) sendto(fd, dgram, len, 0, (const struct sockaddr *) to, to_len);
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
    uint8_t *copy = malloc(len);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, dgram, len);
    self->pending[self->n_pending++] =
            (s_pending_t){cmn_time_mono_ms() + r, fd, *to, to_len, copy, len};
}

int
sim_mcast_flush(sim_mcast_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < self->n_pending;) {
        s_pending_t *p = &self->pending[i];
        if (p->due_ms <= now) {
            (void) sendto(p->fd, p->datagram, p->len, 0, (struct sockaddr *) &p->to, p->to_len);
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
        s_send_or_queue(self, fd, from, from_len, dgram, len);
    }
    if (bad_coap) {
        static const uint8_t junk[] = {0x7f, 0x45, 0x00};
        (void) sendto(fd, junk, sizeof junk, 0, (const struct sockaddr *) from, from_len);
    }
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
        if (dev->is_silenced || dev->pstat.dos_s == CMN_DOS_RESET) {
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
        s_reply(self, fd, from, from_len, &token, body, len, dev->fault == SIM_FAULT_BAD_COAP);
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
