/* gw_coap.c — the gateway's CoAP side */
#include "gw_coap.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_cert.h"
#include "cmn_ep.h"
#include "cmn_ff00_relay.h"
#include "cmn_log.h"
#include "cmn_psk.h"
#include "cmn_time.h"

#define KEY_LEN 160
/* Idle sessions are looked for this often (their idle time is seconds). */
#define SWEEP_EVERY_MS 250
/* A plain coap:// session costs a socket and a place in libcoap's walk of its sessions
 * at every I/O pass; reopening one costs nothing (no handshake). DOTS reads a device
 * over it only before its DOC, so it is closed after this much idleness whatever
 * --session-idle-ms says (docs/performance.md "10 000 devices"). */
#define PLAIN_IDLE_MS 3000

typedef struct {
    char key[KEY_LEN];       /* "caller|endpoint" ("" = free slot) */
    int fd;                  /* coap:// only: libcoap's socket of the session, -1 unknown */
    coap_session_t *session; /* our reference */
    bool is_secure;          /* DTLS */
    gw_dtls_policy_t policy; /* its DTLS policy */
    uint64_t last_used_ms;   /* for the idle sweep */
    bool is_dead;            /* DTLS failed/closed: release at the next sweep */
} s_sess_t;

typedef struct {
    bool is_used;            /* slot in use */
    uint8_t token[8];        /* request token */
    coap_session_t *session; /* borrowed from the session table */
    uint64_t deadline_ms;    /* monotonic */
    gw_coap_done_fn *fn;     /* completion */
    void *arg;
    int fd; /* coap:// session's socket, to see replies too large for libcoap; -1 = none */
} s_xchg_t;

typedef struct {
    uint16_t port;     /* local UDP port */
    cmn_d_t d;         /* the service's /oic/d */
    char endpoint[80]; /* coap://address:port */
} s_svc_t;

struct gw_coap {
    coap_context_t *ctx; /* one context: all client sessions + service endpoints */
    s_sess_t *sess;      /* session table */
    size_t n_sess;
    zhashx_t *index; /* key -> slot number + 1 (lookups do not walk the table) */
    size_t n_relays; /* sessions with a 0xFF00 relay (s_relays walks only if any) */
    s_xchg_t *xchg;  /* pending exchanges */
    size_t n_xchg;
    size_t in_flight;
    s_svc_t svcs[8]; /* served OBT services */
    size_t n_svcs;
    int idle_ms;
    int relay_ep; /* epoll of the 0xFF00 relays' sockets (gw_coap_relay_fd) */
    /* What a pass may skip (gw_coap_process): libcoap's I/O when its fd is not readable
     * (libcoap arms its own timerfd in that epoll for every timer of its own), the
     * relays' walk before their nearest deadline, the idle sweep between sweeps. */
    bool is_dirty;                      /* a session opened since the last I/O pass */
    uint64_t relay_due_ms;              /* the relays' nearest deadline (UINT64_MAX: none) */
    uint64_t next_sweep_ms;             /* the next idle-session sweep */
    uint64_t io_passes, skipped_passes; /* counters (logged by gw_coap_destroy) */
};

/* libcoap's handlers carry no user pointer in 4.3.1; one gateway per process. */
static gw_coap_t *s_self;

static void
s_finish(s_xchg_t *x, cmn_err_t err, const char *error, int code, const uint8_t *p, size_t len)
{
    gw_coap_done_fn *fn = x->fn;
    void *arg = x->arg;
    /* copies: the callback may close the session */
    char cipher[64], cn[CMN_CERT_CN_MAX] = "", sha256[65] = "";
    (void) snprintf(cipher, sizeof cipher, "%s", gw_dtls_cipher(x->session));
    const char *c = NULL, *h = NULL;
    if (gw_dtls_peer_cert(x->session, &c, &h) == CMN_OK) {
        (void) snprintf(cn, sizeof cn, "%s", c);
        (void) snprintf(sha256, sizeof sha256, "%s", h);
    }
    const gw_coap_peer_t peer = {cipher, cn, sha256};
    x->is_used = false;
    s_self->in_flight--;
    fn(arg, err, error, code, p, len, &peer);
}

static s_xchg_t *
s_find_token(const uint8_t *token, size_t len)
{
    for (size_t i = 0; len == 8 && i < s_self->n_xchg; i++) {
        if (s_self->xchg[i].is_used && memcmp(s_self->xchg[i].token, token, 8) == 0) {
            return &s_self->xchg[i];
        }
    }
    return NULL;
}

static void
s_fail_session(coap_session_t *session, cmn_err_t err, const char *why)
{
    for (size_t i = 0; i < s_self->n_xchg; i++) {
        if (s_self->xchg[i].is_used && s_self->xchg[i].session == session) {
            s_finish(&s_self->xchg[i], err, why, 0, NULL, 0);
        }
    }
}

static coap_response_t
s_on_response(coap_session_t *session,
              const coap_pdu_t *sent,
              const coap_pdu_t *received,
              const coap_mid_t mid)
{
    (void) session;
    (void) sent;
    (void) mid;
    coap_bin_const_t token = coap_pdu_get_token(received);
    s_xchg_t *x = s_find_token(token.s, token.length);
    coap_pdu_code_t code = coap_pdu_get_code(received);
    if (x == NULL || code == 0) {
        return COAP_RESPONSE_OK;
    }
    size_t len = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data(received, &len, &data)) {
        len = 0;
        data = NULL;
    }
    int c = (int) (code >> 5) * 100 + (int) (code & 0x1f);
    s_finish(x, CMN_OK, NULL, c, data, len);
    return COAP_RESPONSE_OK;
}

/* A handshake our side aborted (the policy refused the peer) fails with EPROTO and
 * the policy's reason instead of a generic DTLS failure. */
static void
s_refused(coap_session_t *session, cmn_err_t *err, const char **why)
{
    const char *refusal = gw_dtls_refusal(session);
    if (refusal) {
        *err = CMN_EPROTO;
        *why = refusal;
    }
}

static void
s_on_nack(coap_session_t *session,
          const coap_pdu_t *sent,
          const coap_nack_reason_t reason,
          const coap_mid_t mid)
{
    (void) mid;
    cmn_err_t err = reason == COAP_NACK_TLS_FAILED         ? CMN_ECRYPTO
                    : reason == COAP_NACK_TOO_MANY_RETRIES ? CMN_ETIMEDOUT
                                                           : CMN_EIO;
    const char *why = reason == COAP_NACK_TLS_FAILED         ? "DTLS handshake failed"
                      : reason == COAP_NACK_TOO_MANY_RETRIES ? "no answer after retransmissions"
                      : reason == COAP_NACK_RST              ? "device reset the exchange"
                                                             : "not deliverable";
    if (reason == COAP_NACK_TLS_FAILED) {
        s_refused(session, &err, &why);
    }
    if (sent) {
        coap_bin_const_t token = coap_pdu_get_token(sent);
        s_xchg_t *x = s_find_token(token.s, token.length);
        if (x) {
            s_finish(x, err, why, 0, NULL, 0);
            return;
        }
    }
    if (reason == COAP_NACK_TLS_FAILED) {
        s_fail_session(session, err, why);
    }
}

static int
s_on_event(coap_session_t *session, const coap_event_t event)
{
    if (event != COAP_EVENT_DTLS_ERROR && event != COAP_EVENT_DTLS_CLOSED &&
        event != COAP_EVENT_SESSION_FAILED) {
        return 0;
    }
    for (size_t i = 0; i < s_self->n_sess; i++) {
        if (s_self->sess[i].key[0] && s_self->sess[i].session == session) {
            s_self->sess[i].is_dead = true;
        }
    }
    cmn_err_t err = event == COAP_EVENT_DTLS_CLOSED ? CMN_EIO : CMN_ECRYPTO;
    const char *why = event == COAP_EVENT_DTLS_CLOSED ? "DTLS session closed by the device"
                                                      : "DTLS handshake or session failed";
    s_refused(session, &err, &why);
    s_fail_session(session, err, why);
    return 0;
}

static s_svc_t *
s_svc_by_port(uint16_t port)
{
    for (size_t i = 0; i < s_self->n_svcs; i++) {
        if (s_self->svcs[i].port == port) {
            return &s_self->svcs[i];
        }
    }
    return NULL;
}

static void
s_on_service(coap_resource_t *resource,
             coap_session_t *session,
             const coap_pdu_t *request,
             const coap_string_t *query,
             coap_pdu_t *response)
{
    (void) request;
    (void) query;
    const coap_address_t *local = coap_session_get_addr_local(session);
    s_svc_t *svc = s_svc_by_port(coap_address_get_port(local));
    coap_str_const_t *uri = coap_resource_get_uri_path(resource);
    uint8_t *body = NULL;
    size_t len = 0;
    cmn_err_t err = CMN_ENOTFOUND;
    if (svc && uri->length == 5 && memcmp(uri->s, "oic/d", 5) == 0) {
        err = cmn_d_encode(&svc->d, &body, &len);
    } else if (svc) {
        cmn_res_t res = {0};
        cmn_link_t links[2];
        memset(links, 0, sizeof links);
        char uuid[CMN_UUID_STR_LEN + 1];
        cmn_uuid_to_str(&svc->d.di, uuid);
        for (int i = 0; i < 2; i++) {
            (void) snprintf(links[i].anchor, sizeof links[i].anchor, "ocf://%s", uuid);
            (void) snprintf(links[i].href, sizeof links[i].href, "%s", i ? "/oic/d" : "/oic/res");
            (void) snprintf(links[i].rt[0], sizeof links[i].rt[0], "%s",
                            i ? "oic.wk.d" : "oic.wk.res");
            links[i].n_rt = 1;
            (void) snprintf(links[i].ifs[0], sizeof links[i].ifs[0], "oic.if.baseline");
            links[i].n_ifs = 1;
            links[i].bm = 1;
            (void) snprintf(links[i].eps[0], sizeof links[i].eps[0], "%s", svc->endpoint);
            links[i].n_eps = 1;
        }
        res.links = links;
        res.n_links = 2;
        err = cmn_res_encode(&res, &body, &len);
    }
    if (err != CMN_OK) {
        coap_pdu_set_code(response, COAP_RESPONSE_CODE(404));
        return;
    }
    uint8_t buf[4];
    coap_pdu_set_code(response, COAP_RESPONSE_CODE(205));
    (void) coap_add_option(response, COAP_OPTION_CONTENT_FORMAT,
                           coap_encode_var_safe(buf, sizeof buf, CMN_CF_OCF_CBOR), buf);
    (void) coap_add_data(response, len, body);
    free(body);
}

gw_coap_t *
gw_coap_new(int session_idle_ms)
{
    if (s_self != NULL) {
        return NULL;
    }
    gw_coap_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->idle_ms = session_idle_ms;
    self->relay_due_ms = UINT64_MAX;
    self->is_dirty = true;
    self->ctx = coap_new_context(NULL);
    self->relay_ep = epoll_create1(EPOLL_CLOEXEC);
    self->index = zhashx_new();
    if (self->ctx == NULL || self->relay_ep < 0 || self->index == NULL) {
        if (self->ctx) {
            coap_free_context(self->ctx);
        }
        zhashx_destroy(&self->index);
        if (self->relay_ep >= 0) {
            (void) close(self->relay_ep);
        }
        free(self);
        return NULL;
    }
    cmn_err_t err = gw_dtls_attach(self->ctx);
    if (err != CMN_OK) {
        cmn_log_err("GW-DTLS-HOOK",
                    "cannot hook libcoap's DTLS context (a probe session to 127.0.0.1 "
                    "finds it): %s",
                    cmn_strerror(err));
        coap_free_context(self->ctx);
        free(self);
        return NULL;
    }
    (void) coap_register_option(self->ctx, 2049);
    (void) coap_register_option(self->ctx, 2053);
    /* Large bodies both ways are reassembled by libcoap (RFC 7959). */
    coap_context_set_block_mode(self->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(self->ctx, s_on_response);
    coap_register_nack_handler(self->ctx, s_on_nack);
    coap_register_event_handler(self->ctx, s_on_event);
    static const char *const paths[] = {"oic/d", "oic/res"};
    for (int i = 0; i < 2; i++) {
        coap_resource_t *r = coap_resource_init(coap_make_str_const(paths[i]), 0);
        if (r == NULL) {
            coap_free_context(self->ctx);
            free(self);
            return NULL;
        }
        coap_register_handler(r, COAP_REQUEST_GET, s_on_service);
        coap_add_resource(self->ctx, r);
    }
    s_self = self;
    return self;
}

void
gw_coap_destroy(gw_coap_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    gw_coap_t *self = *self_p;
    cmn_log_info("GW-COAP-PASSES", "passes with libcoap I/O=%llu without=%llu",
                 (unsigned long long) self->io_passes, (unsigned long long) self->skipped_passes);
    for (size_t i = 0; i < self->n_xchg; i++) {
        if (self->xchg[i].is_used) {
            s_finish(&self->xchg[i], CMN_EIO, "gateway shutting down", 0, NULL, 0);
        }
    }
    for (size_t i = 0; i < self->n_sess; i++) {
        if (self->sess[i].key[0]) {
            gw_dtls_close(&self->sess[i].session);
            OPENSSL_cleanse(&self->sess[i].policy, sizeof self->sess[i].policy);
        }
    }
    coap_free_context(self->ctx);
    (void) close(self->relay_ep);
    zhashx_destroy(&self->index);
    free(self->sess);
    free(self->xchg);
    free(self);
    s_self = NULL;
    *self_p = NULL;
}

int
gw_coap_fd(const gw_coap_t *self)
{
    return coap_context_get_coap_fd(self->ctx);
}

int
gw_coap_relay_fd(const gw_coap_t *self)
{
    return self->relay_ep;
}

/* Runs the 0xFF00 relays (cmn_ff00_relay); a relay whose session failed or the device closed
 * fails its exchanges with the engine's reason. Returns ms to the nearest deadline. */
static int
s_relays(gw_coap_t *self, uint64_t now, bool is_forced)
{
    /* only the relays with a readable socket or a due timer: not two recv() per relay
     * per pass (docs/performance.md) */
    if (self->n_relays == 0) {
        self->relay_due_ms = UINT64_MAX;
        return -1; /* no session to walk */
    }
    struct epoll_event evs[64];
    int n_ready = epoll_wait(self->relay_ep, evs, 64, 0);
    if (n_ready <= 0 && !is_forced && now < self->relay_due_ms) {
        return self->relay_due_ms == UINT64_MAX ? -1 : (int) (self->relay_due_ms - now);
    }
    int ms = -1;
    for (size_t i = 0; i < self->n_sess; i++) {
        s_sess_t *s = &self->sess[i];
        cmn_ff00_relay_t *jw = s->key[0] && !s->is_dead ? gw_dtls_ff00(s->session) : NULL;
        if (jw == NULL) {
            continue;
        }
        uint64_t deadline = cmn_ff00_deadline(cmn_ff00_relay_engine(jw));
        bool is_ready =
                n_ready >= (int) (sizeof evs / sizeof evs[0]) || (deadline != 0 && deadline <= now);
        for (int k = 0; k < n_ready && !is_ready; k++) {
            is_ready = evs[k].data.fd == cmn_ff00_relay_fd_peer(jw) ||
                       evs[k].data.fd == cmn_ff00_relay_fd_local(jw);
        }
        int t = is_ready        ? cmn_ff00_relay_process(jw, now)
                : deadline == 0 ? -1
                                : (int) (deadline - now);
        ms = t >= 0 && (ms < 0 || t < ms) ? t : ms;
        cmn_ff00_state_t st = cmn_ff00_state(cmn_ff00_relay_engine(jw));
        if (st == CMN_FF00_FAILED || st == CMN_FF00_CLOSED) {
            char why[160];
            (void) snprintf(why, sizeof why, "DTLS 0xFF00 %s: %s",
                            st == CMN_FF00_CLOSED ? "session closed by the device"
                                                  : "handshake or session failed",
                            st == CMN_FF00_CLOSED ? "close_notify"
                                                  : cmn_ff00_error(cmn_ff00_relay_engine(jw)));
            s->is_dead = true;
            s_fail_session(s->session,
                           st == CMN_FF00_CLOSED ? CMN_EIO
                           : strstr(cmn_ff00_error(cmn_ff00_relay_engine(jw)), "timed out") != NULL
                                   ? CMN_ETIMEDOUT
                                   : CMN_ECRYPTO,
                           why);
        }
    }
    self->relay_due_ms = ms < 0 ? UINT64_MAX : now + (uint64_t) ms;
    return ms;
}

static void
s_release(s_sess_t *s)
{
    zhashx_delete(s_self->index, s->key);
    if (s->session && gw_dtls_ff00(s->session) != NULL && s_self->n_relays > 0) {
        s_self->n_relays--;
    }
    s_fail_session(s->session, CMN_EIO, "session closed");
    gw_dtls_close(&s->session);
    OPENSSL_cleanse(s, sizeof *s);
    s->key[0] = '\0';
}

/* True if fd is a UDP socket bound to local. */
static bool
s_is_sock_of(int fd, const coap_address_t *local)
{
    struct stat st;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int type = 0;
    socklen_t tl = sizeof type;
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
           getsockname(fd, (struct sockaddr *) &ss, &sl) == 0 && sl == local->size &&
           memcmp(&ss, &local->addr, sl) == 0 &&
           getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM;
}

/* The lowest free descriptor: where socket() puts the next one (POSIX). */
static int
s_next_fd(void)
{
    int fd = fcntl(0, F_DUPFD, 0);
    if (fd >= 0) {
        (void) close(fd);
    }
    return fd;
}

/* libcoap 4.3.1 reads a datagram into a 1472-byte buffer and drops a PDU longer than
 * the session's maximum (1148 + 4 header bytes) as malformed, without a word to the
 * exchange, which then times out. It gives no access to a session's socket: it is
 * guess (the lowest descriptor free before the session was made), else found among
 * our descriptors by its local address (the session's, bound by libcoap). */
static int
s_session_fd(coap_session_t *session, int guess)
{
    const coap_address_t *local = coap_session_get_addr_local(session);
    if (local && s_is_sock_of(guess, local)) {
        return guess;
    }
    DIR *dir = opendir("/proc/self/fd");
    int found = -1;
    if (local == NULL || dir == NULL) {
        if (dir) {
            (void) closedir(dir);
        }
        return -1;
    }
    for (struct dirent *e = readdir(dir); e && found < 0; e = readdir(dir)) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd != dirfd(dir) && s_is_sock_of(fd, local)) {
            found = fd;
        }
    }
    (void) closedir(dir);
    return found;
}

/* Before libcoap reads: a reply datagram too large for it fails its exchange with the
 * size instead of a timeout (the datagram is consumed here). */
static void
s_check_too_large(gw_coap_t *self)
{
    for (size_t i = 0; i < self->n_xchg; i++) {
        s_xchg_t *x = &self->xchg[i];
        while (x->is_used && x->fd >= 0) {
            uint8_t head[12];
            ssize_t n = recv(x->fd, head, sizeof head, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
            if (n < 0 || (size_t) n <= coap_session_max_pdu_size(x->session) + 4) {
                break;
            }
            (void) recv(x->fd, head, sizeof head, MSG_DONTWAIT);
            s_xchg_t *owner = (head[0] & 0x0f) == 8 ? s_find_token(head + 4, 8) : NULL;
            cmn_log_warn("GW-COAP-TOO-LARGE", "reply of %zd bytes dropped (at most %zu)%s", n,
                         coap_session_max_pdu_size(x->session) + 4,
                         owner ? "" : ": no exchange of ours");
            if (owner) {
                char why[80];
                (void) snprintf(why, sizeof why, "reply too large (%zd bytes)", n);
                s_finish(owner, CMN_EPROTO, why, 0, NULL, 0);
            }
        }
    }
}

/* True if fd has something to read now (one poll, no wait). */
static bool
s_is_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return fd < 0 || (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) != 0);
}

static int
s_cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *) a, y = (uintptr_t) * (void *const *) b;
    return x < y ? -1 : x > y;
}

/* The sessions an exchange runs on, sorted (bsearch), in *ret (malloc'd; NULL with 0
 * when none runs or out of memory: then every idle session counts as busy). */
static size_t
s_busy_sessions(const gw_coap_t *self, coap_session_t ***ret)
{
    *ret = self->in_flight ? malloc(self->in_flight * sizeof **ret) : NULL;
    size_t n = 0;
    for (size_t j = 0; *ret && j < self->n_xchg && n < self->in_flight; j++) {
        if (self->xchg[j].is_used) {
            (*ret)[n++] = self->xchg[j].session;
        }
    }
    if (n > 1) {
        qsort(*ret, n, sizeof **ret, s_cmp_ptr);
    }
    return n;
}

/* Sessions unused for idle_ms are closed (not while an exchange of theirs runs, unless
 * dead): one walk of the sessions and one of the exchanges, not their product. */
static void
s_sweep(gw_coap_t *self, uint64_t now)
{
    coap_session_t **busy = NULL;
    size_t n_busy = 0;
    bool is_listed = false;
    for (size_t i = 0; i < self->n_sess; i++) {
        s_sess_t *s = &self->sess[i];
        uint64_t idle = (uint64_t) self->idle_ms;
        idle = !s->is_secure && idle > PLAIN_IDLE_MS ? PLAIN_IDLE_MS : idle;
        if (s->key[0] == '\0' || !(s->is_dead || now - s->last_used_ms > idle)) {
            continue;
        }
        if (!is_listed) {
            n_busy = s_busy_sessions(self, &busy);
            is_listed = true;
        }
        bool is_busy = self->in_flight > 0 &&
                       (busy == NULL ||
                        bsearch(&s->session, busy, n_busy, sizeof *busy, s_cmp_ptr) != NULL);
        if (!is_busy || s->is_dead) {
            s_release(s);
        }
    }
    free(busy);
}

int
gw_coap_process(gw_coap_t *self)
{
    /* A pass walks the open sessions only when there is something for them: libcoap's
     * I/O (and its walk of every session) when its epoll fd, which holds its sockets and
     * its timerfd, is readable, or a session was opened since the last one. */
    bool was_dirty = self->is_dirty;
    self->is_dirty = false; /* what the callbacks below add is for the next pass */
    bool is_io = was_dirty || s_is_readable(coap_context_get_coap_fd(self->ctx));
    uint64_t now = cmn_time_mono_ms();
    if (is_io) {
        s_check_too_large(self);
        (void) s_relays(self, now, true);
        (void) coap_io_process(self->ctx, COAP_IO_NO_WAIT);
        /* what that I/O started (a handshake's next flight) gets its timer on the timerfd;
         * a request's retransmission is put there by coap_send itself */
        coap_tick_t ticks;
        coap_ticks(&ticks);
        (void) coap_io_prepare_epoll(self->ctx, ticks);
        self->io_passes++;
        now = cmn_time_mono_ms();
    } else {
        self->skipped_passes++;
    }
    int relay_ms = s_relays(self, now, was_dirty);
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < self->n_xchg; i++) {
        s_xchg_t *x = &self->xchg[i];
        if (!x->is_used) {
            continue;
        }
        if (x->deadline_ms <= now) {
            s_finish(x, CMN_ETIMEDOUT, "device did not answer in time", 0, NULL, 0);
        } else if (x->deadline_ms < next) {
            next = x->deadline_ms;
        }
    }
    if (now >= self->next_sweep_ms) {
        s_sweep(self, now);
        self->next_sweep_ms = now + SWEEP_EVERY_MS;
    }
    if (self->n_sess > 0 && self->next_sweep_ms < next) {
        next = self->next_sweep_ms;
    }
    int ms = next == UINT64_MAX ? -1 : (int) (next - now);
    if (relay_ms >= 0 && (ms < 0 || relay_ms < ms)) {
        ms = relay_ms;
    }
    return self->is_dirty ? 0 : ms;
}

static cmn_err_t
s_address(const char *endpoint, coap_address_t *ret, bool *ret_secure)
{
    cmn_ep_t ep;
    if (cmn_ep_parse(endpoint, &ep) != CMN_OK) {
        return CMN_EINVAL;
    }
    coap_address_init(ret);
    char host[64];
    (void) snprintf(host, sizeof host, "%s", ep.host);
    char *zone = strchr(host, '%');
    if (zone) {
        *zone++ = '\0';
    }
    if (inet_pton(AF_INET, host, &ret->addr.sin.sin_addr) == 1) {
        ret->addr.sin.sin_family = AF_INET;
        ret->addr.sin.sin_port = htons(ep.port);
        ret->size = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host, &ret->addr.sin6.sin6_addr) == 1) {
        ret->addr.sin6.sin6_family = AF_INET6;
        ret->addr.sin6.sin6_port = htons(ep.port);
        ret->addr.sin6.sin6_scope_id = zone ? if_nametoindex(zone) : 0;
        ret->size = sizeof(struct sockaddr_in6);
    } else {
        return CMN_EINVAL;
    }
    *ret_secure = ep.is_secure;
    return CMN_OK;
}

static s_sess_t *
s_find_sess(gw_coap_t *self, const char *key)
{
    uintptr_t slot = (uintptr_t) zhashx_lookup(self->index, key);
    if (slot == 0 || slot > self->n_sess) {
        return NULL;
    }
    s_sess_t *s = &self->sess[slot - 1];
    return s->key[0] && strcmp(s->key, key) == 0 ? s : NULL;
}

static s_sess_t *
s_new_sess_slot(gw_coap_t *self)
{
    for (size_t i = 0; i < self->n_sess; i++) {
        if (self->sess[i].key[0] == '\0') {
            return &self->sess[i];
        }
    }
    size_t n = self->n_sess ? self->n_sess * 2 : 64;
    s_sess_t *grown = realloc(self->sess, n * sizeof *grown);
    if (grown == NULL) {
        return NULL;
    }
    memset(grown + self->n_sess, 0, (n - self->n_sess) * sizeof *grown);
    self->sess = grown;
    s_sess_t *slot = &self->sess[self->n_sess];
    self->n_sess = n;
    return slot;
}

static cmn_err_t
s_session(gw_coap_t *self,
          const char *caller,
          const char *endpoint,
          const gw_dtls_policy_t *policy,
          coap_session_t **ret,
          int *ret_fd)
{
    coap_address_t addr;
    bool is_secure = false;
    char key[KEY_LEN];
    if (s_address(endpoint, &addr, &is_secure) != CMN_OK) {
        return CMN_EINVAL;
    }
    if (is_secure && policy == NULL) {
        return CMN_EINVAL;
    }
    (void) snprintf(key, sizeof key, "%s|%s", is_secure ? caller : "", endpoint);
    s_sess_t *s = s_find_sess(self, key);
    bool is_continue = is_secure && gw_dtls_policy_continues(policy);
    if (s &&
        (s->is_dead || (is_secure && !is_continue && !gw_dtls_policy_eq(&s->policy, policy)))) {
        s_release(s); /* a new policy replaces the old session */
        s = NULL;
    }
    if (s == NULL && is_continue) {
        return CMN_ENOTFOUND; /* nothing to continue: the DOC is gone */
    }
    if (s == NULL) {
        cmn_err_t err = CMN_OK;
        int guess = is_secure ? -1 : s_next_fd();
        coap_session_t *session =
                is_secure ? gw_dtls_open(self->ctx, &addr, policy, &err)
                          : coap_new_client_session(self->ctx, NULL, &addr, COAP_PROTO_UDP);
        if (session == NULL) {
            return err != CMN_OK ? err : CMN_EIO;
        }
        s = s_new_sess_slot(self);
        if (s == NULL) {
            gw_dtls_close(&session);
            return CMN_ENOMEM;
        }
        (void) snprintf(s->key, sizeof s->key, "%s", key);
        s->session = session;
        s->is_secure = is_secure;
        if (zhashx_insert(self->index, s->key,
                          (void *) (uintptr_t) (size_t) (s - self->sess + 1)) != 0) {
            gw_dtls_close(&s->session);
            s->key[0] = '\0';
            return CMN_ENOMEM;
        }
        cmn_ff00_relay_t *jw = gw_dtls_ff00(session);
        if (jw) { /* its sockets wake the loop (closing them removes them) */
            self->n_relays++;
            struct epoll_event ev = {.events = EPOLLIN};
            ev.data.fd = cmn_ff00_relay_fd_peer(jw);
            (void) epoll_ctl(self->relay_ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
            ev.data.fd = cmn_ff00_relay_fd_local(jw);
            (void) epoll_ctl(self->relay_ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
        }
        s->fd = is_secure ? -1 : s_session_fd(session, guess);
        s->is_dead = false;
        if (is_secure) {
            s->policy = *policy;
            s->policy.anchors = NULL; /* the request's, read by gw_dtls_open only */
            s->policy.cert = NULL;
            s->policy.cert_key = NULL;
        }
        cmn_log_debug("GW-SESSION", "opened %s session to %s for %s", is_secure ? "DTLS" : "UDP",
                      endpoint, caller);
        self->is_dirty = true; /* its handshake's timer: libcoap's I/O at the next pass */
    }
    s->last_used_ms = cmn_time_mono_ms();
    *ret = s->session;
    *ret_fd = s->fd;
    return CMN_OK;
}

static s_xchg_t *
s_new_xchg(gw_coap_t *self)
{
    for (size_t i = 0; i < self->n_xchg; i++) {
        if (!self->xchg[i].is_used) {
            return &self->xchg[i];
        }
    }
    size_t n = self->n_xchg ? self->n_xchg * 2 : 128;
    s_xchg_t *grown = realloc(self->xchg, n * sizeof *grown);
    if (grown == NULL) {
        return NULL;
    }
    memset(grown + self->n_xchg, 0, (n - self->n_xchg) * sizeof *grown);
    self->xchg = grown;
    s_xchg_t *slot = &self->xchg[self->n_xchg];
    self->n_xchg = n;
    return slot;
}

/* Frees the copy of a request payload once libcoap has sent every block of it. */
static void
s_free_payload(coap_session_t *session, void *payload)
{
    (void) session;
    free(payload);
}

static cmn_err_t
s_add_uri(coap_pdu_t *pdu, const char *path, const char *query)
{
    const char *p = path;
    while (p && *p) {
        while (*p == '/') {
            p++;
        }
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len && !coap_add_option(pdu, COAP_OPTION_URI_PATH, len, (const uint8_t *) p)) {
            return CMN_EINVAL;
        }
        p += len;
    }
    p = query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len && !coap_add_option(pdu, COAP_OPTION_URI_QUERY, len, (const uint8_t *) p)) {
            return CMN_EINVAL;
        }
        p += len + (end ? 1 : 0);
    }
    return CMN_OK;
}

cmn_err_t
gw_coap_request(gw_coap_t *self,
                const char *caller,
                const char *endpoint,
                const gw_dtls_policy_t *policy,
                int method,
                const char *path,
                const char *query,
                const uint8_t *payload,
                size_t len,
                uint32_t timeout_ms,
                gw_coap_done_fn *fn,
                void *arg)
{
    static const coap_pdu_code_t codes[] = {0, COAP_REQUEST_CODE_GET, COAP_REQUEST_CODE_POST,
                                            COAP_REQUEST_CODE_PUT, COAP_REQUEST_CODE_DELETE};
    if (method < 1 || method > 4 || path == NULL || path[0] != '/') {
        return CMN_EINVAL;
    }
    coap_session_t *session = NULL;
    int fd = -1;
    cmn_err_t err = s_session(self, caller, endpoint, policy, &session, &fd);
    if (err != CMN_OK) {
        return err;
    }
    s_xchg_t *x = s_new_xchg(self);
    coap_pdu_t *pdu = x ? coap_new_pdu(COAP_MESSAGE_CON, codes[method], session) : NULL;
    if (pdu == NULL) {
        return CMN_ENOMEM;
    }
    (void) RAND_bytes(x->token, sizeof x->token);
    uint8_t buf[4];
    static const uint8_t ver[2] = {0x08, 0x00};
    if (!coap_add_token(pdu, sizeof x->token, x->token) || s_add_uri(pdu, path, query) != CMN_OK ||
        (len > 0 &&
         !coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                          coap_encode_var_safe(buf, sizeof buf, CMN_CF_OCF_CBOR), buf)) ||
        !coap_add_option(pdu, COAP_OPTION_ACCEPT,
                         coap_encode_var_safe(buf, sizeof buf, CMN_CF_OCF_CBOR), buf) ||
        !coap_add_option(pdu, 2049, sizeof ver, ver) ||
        (len > 0 && !coap_add_option(pdu, 2053, sizeof ver, ver))) {
        coap_delete_pdu(pdu);
        return CMN_EINVAL;
    }
    if (len > 0) {
        uint8_t *copy = malloc(len);
        if (copy == NULL) {
            coap_delete_pdu(pdu);
            return CMN_ENOMEM;
        }
        memcpy(copy, payload, len);
        if (!coap_add_data_large_request(session, pdu, len, copy, s_free_payload, copy)) {
            OPENSSL_cleanse(copy, len);
            free(copy);
            coap_delete_pdu(pdu);
            return CMN_EINVAL;
        }
    }
    x->is_used = true;
    x->session = session;
    x->fd = fd;
    x->deadline_ms = cmn_time_mono_ms() + timeout_ms;
    x->fn = fn;
    x->arg = arg;
    self->in_flight++;
    if (coap_send(session, pdu) == COAP_INVALID_MID) {
        /* libcoap may already have reported the failure through the NACK handler. */
        if (x->is_used && x->fn == fn && x->arg == arg) {
            s_finish(x, CMN_EIO, "cannot send to the device", 0, NULL, 0);
        }
    }
    return CMN_OK;
}

cmn_err_t
gw_coap_derive_owner_psk(gw_coap_t *self,
                         const char *caller,
                         const char *endpoint,
                         const char *label,
                         const uint8_t owner[16],
                         const uint8_t device[16],
                         uint8_t out[16],
                         size_t *ret_kbl,
                         char *ret_cipher,
                         size_t cipher_len)
{
    char key[KEY_LEN];
    (void) snprintf(key, sizeof key, "%s|%s", caller, endpoint);
    s_sess_t *s = s_find_sess(self, key);
    if (s == NULL || s->is_dead || !s->is_secure) {
        return CMN_ENOTFOUND;
    }
    cmn_err_t err = CMN_OK;
    cmn_ff00_relay_t *jw = gw_dtls_ff00(s->session);
    if (jw) {
        const cmn_ff00_t *e = cmn_ff00_relay_engine(jw);
        e = cmn_ff00_state(e) == CMN_FF00_ESTABLISHED ? e : NULL;
        uint8_t master[CMN_FF00_MASTER_LEN], cr[CMN_FF00_RANDOM_LEN], sr[CMN_FF00_RANDOM_LEN];
        err = e ? cmn_ff00_export(e, master, cr, sr) : CMN_ESTATE;
        if (err == CMN_OK) {
            err = cmn_psk_derive_owner(master, cr, sr, CMN_FF00_KBL, label, owner, device, out);
            *ret_kbl = CMN_FF00_KBL;
        }
        OPENSSL_cleanse(master, sizeof master);
    } else {
        coap_tls_library_t lib;
        SSL *ssl = coap_session_get_tls(s->session, &lib);
        if (ssl == NULL || !SSL_is_init_finished(ssl)) {
            return CMN_ESTATE;
        }
        err = cmn_psk_derive_from_ssl(ssl, label, owner, device, out, ret_kbl);
    }
    if (err == CMN_OK) {
        (void) snprintf(ret_cipher, cipher_len, "%s", gw_dtls_cipher(s->session));
    }
    return err;
}

cmn_err_t
gw_coap_close(gw_coap_t *self, const char *caller, const char *endpoint)
{
    char key[KEY_LEN];
    (void) snprintf(key, sizeof key, "%s|%s", caller, endpoint);
    s_sess_t *s = s_find_sess(self, key);
    if (s == NULL) {
        return CMN_ENOTFOUND;
    }
    s_release(s);
    return CMN_OK;
}

cmn_err_t
gw_coap_serve(
        gw_coap_t *self, const char *address, const cmn_d_t *device, char *ret_endpoint, size_t len)
{
    for (size_t i = 0; i < self->n_svcs; i++) {
        if (cmn_uuid_eq(&self->svcs[i].d.di, &device->di)) {
            self->svcs[i].d = *device; /* same service restarted: same endpoint */
            (void) snprintf(ret_endpoint, len, "%s", self->svcs[i].endpoint);
            return CMN_OK;
        }
    }
    if (self->n_svcs == sizeof self->svcs / sizeof self->svcs[0]) {
        return CMN_ENOSPC;
    }
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.size = sizeof(struct sockaddr_in);
    if (inet_pton(AF_INET, address, &addr.addr.sin.sin_addr) != 1) {
        return CMN_EINVAL;
    }
    /* Find a free port first: libcoap 4.3.1 does not report the port it bound. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t sl = sizeof addr.addr.sin;
    if (fd < 0 || bind(fd, &addr.addr.sa, sizeof addr.addr.sin) != 0 ||
        getsockname(fd, &addr.addr.sa, &sl) != 0) {
        if (fd >= 0) {
            (void) close(fd);
        }
        return CMN_EIO;
    }
    (void) close(fd);
    if (coap_new_endpoint(self->ctx, &addr, COAP_PROTO_UDP) == NULL) {
        return CMN_EIO;
    }
    s_svc_t *svc = &self->svcs[self->n_svcs++];
    svc->port = ntohs(addr.addr.sin.sin_port);
    svc->d = *device;
    (void) snprintf(svc->endpoint, sizeof svc->endpoint, "coap://%s:%u", address,
                    (unsigned) svc->port);
    (void) snprintf(ret_endpoint, len, "%s", svc->endpoint);
    return CMN_OK;
}

size_t
gw_coap_in_flight(const gw_coap_t *self)
{
    return self->in_flight;
}

size_t
gw_coap_sessions(const gw_coap_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n_sess; i++) {
        n += self->sess[i].key[0] != '\0';
    }
    return n;
}
