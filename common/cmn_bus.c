/* cmn_bus.c — ZeroMQ links with CURVE on every socket */
#include "cmn_bus.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_log.h"
#include "cmn_time.h"
#include "cmn_zap.h"
#include "cmn_zep.h"

const char *const CMN_BUS_PARTIES[] = {"gateway", "dots", "cms", "ams", "obtctl"};
const size_t CMN_BUS_PARTY_COUNT = sizeof CMN_BUS_PARTIES / sizeof CMN_BUS_PARTIES[0];

typedef struct {
    char key[41];   /* Z85 public key */
    cmn_caller_t c; /* whose it is */
} s_known_t;

struct cmn_bus_server {
    zsock_t *sock;           /* ROUTER, CURVE server */
    zactor_t *auth;          /* the process's zauth actor (s_auth_acquire) */
    char pubdir[1024];       /* DIR/public */
    s_known_t *known;        /* the keys of DIR/public and their names */
    size_t n_known;          /* entries in known */
    uint64_t next_scan_ms;   /* an unknown key rescans DIR/public, at most this often */
    char bound[CMN_ZEP_LEN]; /* the endpoint of the list that was bound */
};

static const struct {
    const char *prefix;
    cmn_party_t party;
} s_parties[] = {{"gateway", CMN_PARTY_GATEWAY}, {"dots", CMN_PARTY_DOTS},
                 {"cms", CMN_PARTY_CMS},         {"ams", CMN_PARTY_AMS},
                 {"obtctl", CMN_PARTY_OPERATOR}, {"operator", CMN_PARTY_OPERATOR}};

cmn_party_t
cmn_party_of_name(const char *name)
{
    size_t n = strcspn(name, "-");
    for (size_t i = 0; i < sizeof s_parties / sizeof s_parties[0]; i++) {
        if (strlen(s_parties[i].prefix) == n && strncmp(name, s_parties[i].prefix, n) == 0) {
            return s_parties[i].party;
        }
    }
    return CMN_PARTY_NONE;
}

const char *
cmn_party_name(cmn_party_t party)
{
    static const char *const names[] = {"gateway", "dots", "cms", "ams", "operator"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (party == (cmn_party_t) (1u << i)) {
            return names[i];
        }
    }
    return "unknown";
}

void
cmn_party_list(unsigned parties, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (unsigned bit = 1; bit <= CMN_PARTY_OPERATOR && at < len; bit <<= 1) {
        if (parties & bit) {
            int n = snprintf(out + at, len - at, "%s%s", at ? ", " : "",
                             cmn_party_name((cmn_party_t) bit));
            at += n > 0 ? (size_t) n : 0;
        }
    }
    if (out[0] == '\0') {
        (void) snprintf(out, len, "nobody");
    }
}

struct cmn_bus_client {
    zsock_t *sock; /* DEALER, CURVE client */
};

static void
s_path(char *out, size_t len, const char *dir, const char *sub, const char *name, const char *ext)
{
    (void) snprintf(out, len, "%s/%s/%s%s", dir, sub, name, ext);
}

/* A new key pair named name: DIR/public/<name>.cert (0644), DIR/secret/<name>.cert_secret
 * (0600, made under umask 077). */
static cmn_err_t
s_save_pair(const char *dir, const char *name)
{
    char path[1024];
    zcert_t *cert = zcert_new();
    if (cert == NULL) {
        return CMN_ECRYPTO;
    }
    zcert_set_meta(cert, "name", "%s", name);
    s_path(path, sizeof path, dir, "public", name, ".cert");
    int rc = zcert_save_public(cert, path);
    /* whoever can write DIR/public can add a client zauth accepts: never let
     * a permissive umask make it group- or world-writable */
    if (rc == 0) {
        rc = chmod(path, 0644);
    }
    s_path(path, sizeof path, dir, "secret", name, ".cert_secret");
    mode_t old = umask(077);
    if (rc == 0) {
        rc = zcert_save_secret(cert, path);
    }
    (void) umask(old);
    (void) chmod(path, 0600);
    zcert_destroy(&cert);
    return rc == 0 ? CMN_OK : CMN_EIO;
}

bool
cmn_bus_key_name_ok(const char *name)
{
    size_t n = strlen(name), p = strcspn(name, "-");
    if (cmn_party_of_name(name) == CMN_PARTY_NONE || p == n || n - p - 1 > 31 || n - p - 1 == 0) {
        return false;
    }
    for (size_t i = p + 1; i < n; i++) {
        if (!isalnum((unsigned char) name[i]) && strchr("._-", name[i]) == NULL) {
            return false;
        }
    }
    return true;
}

cmn_err_t
cmn_bus_key_add(const char *dir, const char *name, bool force)
{
    char path[1024];
    if (!cmn_bus_key_name_ok(name)) {
        return CMN_EINVAL;
    }
    s_path(path, sizeof path, dir, "secret", "", "");
    if (access(path, F_OK) != 0) {
        return CMN_ENOTFOUND; /* obtctl keys first */
    }
    s_path(path, sizeof path, dir, "secret", name, ".cert_secret");
    if (!force && access(path, F_OK) == 0) {
        return CMN_EEXIST;
    }
    return s_save_pair(dir, name);
}

bool
cmn_bus_key_exists(const char *dir, const char *name)
{
    char path[1024];
    s_path(path, sizeof path, dir, "public", name, ".cert");
    return access(path, F_OK) == 0;
}

cmn_err_t
cmn_bus_keys_create(const char *dir, bool force)
{
    char path[1024];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        return cmn_err_from_errno(errno);
    }
    s_path(path, sizeof path, dir, "public", "", "");
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        return cmn_err_from_errno(errno);
    }
    s_path(path, sizeof path, dir, "secret", "", "");
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return cmn_err_from_errno(errno);
    }
    (void) chmod(path, 0700);
    if (!force) {
        for (size_t i = 0; i < CMN_BUS_PARTY_COUNT; i++) {
            s_path(path, sizeof path, dir, "secret", CMN_BUS_PARTIES[i], ".cert_secret");
            if (access(path, F_OK) == 0) {
                return CMN_EEXIST;
            }
        }
    }
    for (size_t i = 0; i < CMN_BUS_PARTY_COUNT; i++) {
        cmn_err_t err = s_save_pair(dir, CMN_BUS_PARTIES[i]);
        if (err != CMN_OK) {
            return err;
        }
    }
    return CMN_OK;
}

static zcert_t *
s_load(const char *dir, const char *sub, const char *name, const char *ext, cmn_err_t *ret_err)
{
    char path[1024];
    s_path(path, sizeof path, dir, sub, name, ext);
    if (access(path, R_OK) != 0) {
        int why = errno;
        /* a missing key stays "not found" (callers probe for keys); any other reason,
         * above all a key the process's user may not read, is the operator's to fix */
        if (why == ENOENT) {
            cmn_log_debug("BUS-KEY", "cannot read \"%s\": %s", path, strerror(why));
            *ret_err = CMN_ENOTFOUND;
        } else {
            cmn_log_err("BUS-KEY", "cannot read the key \"%s\": %s (uid %u)", path, strerror(why),
                        (unsigned) geteuid());
            *ret_err = cmn_err_from_errno(why);
        }
        return NULL;
    }
    zcert_t *cert = zcert_load(path);
    if (cert == NULL) {
        *ret_err = CMN_ECRYPTO;
    }
    return cert;
}

/* Reads every DIR/public/<name>.cert: which public key is whose. */
static void
s_scan(cmn_bus_server_t *self)
{
    zdir_t *dir = zdir_new(self->pubdir, NULL);
    zlist_t *files = dir ? zdir_list(dir) : NULL;
    size_t n = files ? zlist_size(files) : 0;
    s_known_t *known = calloc(n ? n : 1, sizeof *known);
    size_t k = 0;
    for (zfile_t *f = files ? zlist_first(files) : NULL; f && known; f = zlist_next(files)) {
        const char *base = strrchr(zfile_filename(f, NULL), '/');
        base = base ? base + 1 : zfile_filename(f, NULL);
        size_t blen = strlen(base);
        if (blen <= 5 || blen - 5 >= CMN_CALLER_NAME_MAX || strcmp(base + blen - 5, ".cert") != 0) {
            continue;
        }
        zcert_t *cert = zcert_load(zfile_filename(f, NULL));
        if (cert == NULL) {
            continue;
        }
        (void) snprintf(known[k].key, sizeof known[k].key, "%s", zcert_public_txt(cert));
        memcpy(known[k].c.name, base, blen - 5);
        known[k].c.name[blen - 5] = '\0';
        known[k].c.party = cmn_party_of_name(known[k].c.name);
        k++;
        zcert_destroy(&cert);
    }
    if (known) {
        free(self->known);
        self->known = known;
        self->n_known = k;
    }
    zlist_destroy(&files);
    zdir_destroy(&dir);
}

/* Who holds the key that authenticated this frame's connection. */
static void
s_caller(cmn_bus_server_t *self, zframe_t *frame, cmn_caller_t *ret)
{
    const char *key = zframe_meta(frame, "User-Id");
    memset(ret, 0, sizeof *ret);
    (void) snprintf(ret->name, sizeof ret->name, "(unknown key)");
    if (key == NULL) {
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < self->n_known; i++) {
            if (strcmp(self->known[i].key, key) == 0) {
                *ret = self->known[i].c;
                return;
            }
        }
        /* zauth accepted a key we have not read yet: a file added since we started */
        uint64_t now = cmn_time_mono_ms();
        if (pass == 1 || now < self->next_scan_ms) {
            break;
        }
        self->next_scan_ms = now + 1000;
        s_scan(self);
    }
}

/* zauth binds the one ZAP endpoint of the process: every CURVE server of a process (a
 * daemon's ROUTER and PUB) shares one actor, allowing the certificates of one keys_dir. */
static struct {
    zactor_t *actor;    /* zauth, NULL until the first server */
    size_t users;       /* servers holding it */
    char keys_dir[512]; /* whose public/ it allows */
} s_auth;

static zactor_t *
s_auth_acquire(const char *keys_dir, cmn_err_t *ret_err)
{
    char pubdir[1024];
    if (s_auth.actor) {
        if (strcmp(s_auth.keys_dir, keys_dir) != 0) {
            cmn_log_debug("BUS-AUTH", "zauth already allows \"%s\", not \"%s\"", s_auth.keys_dir,
                          keys_dir);
            *ret_err = CMN_EINVAL;
            return NULL;
        }
        s_auth.users++;
        return s_auth.actor;
    }
    zactor_t *actor = zactor_new(cmn_zap_actor, NULL); /* zauth's protocol, refusals logged */
    if (actor == NULL) {
        *ret_err = CMN_EIO;
        return NULL;
    }
    (void) snprintf(pubdir, sizeof pubdir, "%s/public", keys_dir);
    if (zstr_sendx(actor, "CURVE", pubdir, NULL) != 0 || zsock_wait(actor) != 0) {
        zactor_destroy(&actor);
        *ret_err = CMN_EIO;
        return NULL;
    }
    s_auth.actor = actor;
    s_auth.users = 1;
    (void) snprintf(s_auth.keys_dir, sizeof s_auth.keys_dir, "%s", keys_dir);
    return actor;
}

static void
s_auth_release(zactor_t **actor_p)
{
    if (*actor_p == NULL) {
        return;
    }
    *actor_p = NULL;
    if (--s_auth.users == 0) {
        zactor_destroy(&s_auth.actor);
    }
}

/* The endpoints of the list endpoint (cmn_zep.h), malloc'd; NULL when it is not valid
 * or memory is short (*ret_err, the reason logged at debug under msgid). */
static cmn_zep_t *
s_zep_new(const char *endpoint, const char *msgid, cmn_err_t *ret_err)
{
    cmn_zep_t *list = malloc(sizeof *list);
    char why[200];
    if (list == NULL || cmn_zep_expand(endpoint, list, why, sizeof why) != CMN_OK) {
        cmn_log_debug(msgid, "\"%s\": %s", endpoint, list ? why : "out of memory");
        *ret_err = list ? CMN_EINVAL : CMN_ENOMEM;
        free(list);
        return NULL;
    }
    return list;
}

/* Binds sock at the first endpoint of the list endpoint (cmn_zep.h) that is free; its
 * text into bound (CMN_ZEP_LEN bytes, may be NULL). -1 when none could be bound. */
static int
s_bind_first(zsock_t *sock, const char *endpoint, char *bound)
{
    cmn_err_t err;
    cmn_zep_t *list = s_zep_new(endpoint, "BUS-BIND", &err);
    if (list == NULL) {
        return -1;
    }
    int rc = -1;
    for (size_t i = 0; i < list->n && rc != 0; i++) {
        rc = zsock_bind(sock, "%s", list->ep[i]) < 0 ? -1 : 0;
        if (rc != 0) {
            cmn_log_debug("BUS-BIND", "bind \"%s\": %s", list->ep[i], zmq_strerror(zmq_errno()));
        } else if (bound) {
            (void) snprintf(bound, CMN_ZEP_LEN, "%s", list->ep[i]);
        }
    }
    free(list);
    return rc;
}

/* A socket of type bound at (the first free endpoint of) endpoint as CURVE server
 * `name` (its secret certificate from keys_dir), ZAP domain "obt", with the process's
 * zauth in *ret_auth; the endpoint bound into bound (may be NULL). NULL on failure
 * (*ret_err; nothing held). */
static zsock_t *
s_curve_server(int type,
               const char *endpoint,
               const char *keys_dir,
               const char *name,
               zactor_t **ret_auth,
               char *bound,
               cmn_err_t *ret_err)
{
    zcert_t *cert = s_load(keys_dir, "secret", name, ".cert_secret", ret_err);
    zactor_t *auth = cert ? s_auth_acquire(keys_dir, ret_err) : NULL;
    zsock_t *sock = auth ? zsock_new(type) : NULL;
    if (auth && sock == NULL) {
        *ret_err = CMN_EIO;
    }
    if (sock) {
        zsock_set_linger(sock, 0);
        zsock_set_sndhwm(sock, 100000);
        zsock_set_rcvhwm(sock, 100000);
        zsock_set_zap_domain(sock, "obt");
        zcert_apply(cert, sock);
        zsock_set_curve_server(sock, 1);
        if (s_bind_first(sock, endpoint, bound) != 0) {
            zsock_destroy(&sock);
            *ret_err = CMN_EIO;
        }
    }
    if (sock == NULL) {
        s_auth_release(&auth);
    }
    zcert_destroy(&cert);
    *ret_auth = auth;
    return sock;
}

cmn_bus_server_t *
cmn_bus_server_new(const char *endpoint, const char *keys_dir, const char *name, cmn_err_t *ret_err)
{
    cmn_err_t err = CMN_ENOMEM;
    cmn_bus_server_t *self = calloc(1, sizeof *self);
    if (self) {
        (void) snprintf(self->pubdir, sizeof self->pubdir, "%s/public", keys_dir);
        s_scan(self);
        self->sock = s_curve_server(ZMQ_ROUTER, endpoint, keys_dir, name, &self->auth, self->bound,
                                    &err);
    }
    if (self && self->sock == NULL) {
        cmn_bus_server_destroy(&self);
    }
    if (ret_err) {
        *ret_err = self ? CMN_OK : err;
    }
    return self;
}

void
cmn_bus_server_destroy(cmn_bus_server_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_bus_server_t *self = *self_p;
    zsock_destroy(&self->sock);
    s_auth_release(&self->auth);
    free(self->known);
    free(self);
    *self_p = NULL;
}

const char *
cmn_bus_server_endpoint(const cmn_bus_server_t *self)
{
    return self->bound;
}

zsock_t *
cmn_bus_server_sock(cmn_bus_server_t *self)
{
    return self->sock;
}

static cmn_err_t
s_frame_data(zframe_t *frame, uint8_t **ret_data, size_t *ret_len)
{
    size_t len = zframe_size(frame);
    uint8_t *data = malloc(len ? len : 1);
    if (data == NULL) {
        return CMN_ENOMEM;
    }
    memcpy(data, zframe_data(frame), len);
    OPENSSL_cleanse(zframe_data(frame), len); /* a PIN or a PSK may have travelled in it */
    *ret_data = data;
    *ret_len = len;
    return CMN_OK;
}

void
cmn_bus_free(uint8_t *data, size_t len)
{
    if (data) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
}

cmn_err_t
cmn_bus_server_recv(cmn_bus_server_t *self,
                    zframe_t **ret_peer,
                    cmn_caller_t *ret_caller,
                    uint8_t **ret_data,
                    size_t *ret_len)
{
    zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 0) <= 0) {
        return CMN_ENOTFOUND;
    }
    zmsg_t *msg = zmsg_recv(self->sock);
    if (msg == NULL) {
        return CMN_ENOTFOUND;
    }
    cmn_err_t err = CMN_EPROTO;
    if (zmsg_size(msg) == 2) {
        zframe_t *peer = zmsg_pop(msg);
        zframe_t *body = zmsg_first(msg);
        err = s_frame_data(body, ret_data, ret_len);
        if (err == CMN_OK) {
            s_caller(self, body, ret_caller);
            *ret_peer = peer;
        } else {
            zframe_destroy(&peer);
        }
    }
    zmsg_destroy(&msg);
    return err;
}

/* ZeroMQ frees a message's buffer when it has sent it: wipe it first. */
static void
s_wipe_free(void *data, void *hint)
{
    OPENSSL_cleanse(data, (size_t) (uintptr_t) hint);
    free(data);
}

/* A message held by cmn_bus_hold: sent, in order, by cmn_bus_release. */
typedef struct {
    void *sock;      /* the ZeroMQ socket (borrowed: it outlives the hold) */
    uint8_t *peer;   /* routing id (copy), NULL for none */
    size_t peer_len; /* its size */
    zmq_msg_t msg;   /* the packed message (s_wipe_free owns its buffer) */
    int flags;       /* the send's flags */
} s_held_t;

/* One hold per process: a daemon runs on one thread (STYLE 6). */
static struct {
    bool is_on;    /* sends are queued */
    s_held_t *q;   /* queued, in send order */
    size_t n, cap; /* in use, allocated */
} s_hold;

void
cmn_bus_hold(void)
{
    s_hold.is_on = true;
}

bool
cmn_bus_is_held(void)
{
    return s_hold.is_on;
}

static cmn_err_t
s_hold_push(void *sock, zframe_t *peer, zmq_msg_t *m, int flags)
{
    if (s_hold.n == s_hold.cap) {
        size_t cap = s_hold.cap ? s_hold.cap * 2 : 64;
        s_held_t *q = realloc(s_hold.q, cap * sizeof *q);
        if (q == NULL) {
            return CMN_ENOMEM;
        }
        s_hold.q = q;
        s_hold.cap = cap;
    }
    s_held_t *h = &s_hold.q[s_hold.n];
    h->peer = NULL;
    h->peer_len = peer ? zframe_size(peer) : 0;
    if (peer) {
        h->peer = malloc(h->peer_len ? h->peer_len : 1);
        if (h->peer == NULL) {
            return CMN_ENOMEM;
        }
        memcpy(h->peer, zframe_data(peer), h->peer_len);
    }
    h->sock = sock;
    h->msg = *m; /* the zmq_msg_t is moved: the queue closes or sends it */
    h->flags = flags;
    s_hold.n++;
    return CMN_OK;
}

size_t
cmn_bus_release(bool is_sent)
{
    size_t sent = 0;
    for (size_t i = 0; i < s_hold.n; i++) {
        s_held_t *h = &s_hold.q[i];
        bool is_ok = is_sent;
        if (is_ok && h->peer) {
            is_ok = zmq_send(h->sock, h->peer, h->peer_len, h->flags | ZMQ_SNDMORE) >= 0;
        }
        if (is_ok && zmq_msg_send(&h->msg, h->sock, h->flags) >= 0) {
            sent++;
        } else {
            zmq_msg_close(&h->msg); /* runs s_wipe_free */
        }
        free(h->peer);
    }
    s_hold.n = 0;
    s_hold.is_on = false;
    if (s_hold.cap > 4096) { /* a burst does not keep its queue */
        free(s_hold.q);
        s_hold.q = NULL;
        s_hold.cap = 0;
    }
    return sent;
}

/* Sends [peer] msg packed on sock (peer NULL: msg alone), or queues it while the bus
 * is held. The buffer is ours until ZeroMQ calls s_wipe_free, so no copy of a secret
 * is left behind unwiped. */
static cmn_err_t
s_send_pb(zsock_t *sock, zframe_t *peer, const ProtobufCMessage *msg, int flags)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return CMN_ENOMEM;
    }
    (void) protobuf_c_message_pack(msg, buf);
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, buf, len, s_wipe_free, (void *) (uintptr_t) len) != 0) {
        s_wipe_free(buf, (void *) (uintptr_t) len);
        return CMN_ENOMEM;
    }
    if (s_hold.is_on) {
        cmn_err_t err = s_hold_push(zsock_resolve(sock), peer, &m, flags);
        if (err != CMN_OK) {
            zmq_msg_close(&m);
        }
        return err;
    }
    if (peer && zmq_send(zsock_resolve(sock), zframe_data(peer), zframe_size(peer),
                         flags | ZMQ_SNDMORE) < 0) {
        zmq_msg_close(&m);
        return CMN_EIO;
    }
    if (zmq_msg_send(&m, zsock_resolve(sock), flags) < 0) {
        zmq_msg_close(&m); /* runs s_wipe_free */
        return CMN_EIO;
    }
    return CMN_OK;
}

cmn_err_t
cmn_bus_server_send_pb(cmn_bus_server_t *self, zframe_t *peer, const ProtobufCMessage *msg)
{
    return s_send_pb(self->sock, peer, msg, 0);
}

/* A socket of type connected to endpoint as CURVE client cert toward server. */
static zsock_t *
s_curve_connect(int type,
                zcert_t *cert,
                zcert_t *server,
                const char *endpoint,
                bool is_immediate,
                cmn_err_t *ret_err)
{
    zsock_t *sock = zsock_new(type);
    if (sock == NULL) {
        *ret_err = CMN_EIO;
        return NULL;
    }
    zsock_set_linger(sock, 0);
    zsock_set_sndhwm(sock, 100000);
    zsock_set_rcvhwm(sock, 100000);
    zcert_apply(cert, sock);
    zsock_set_curve_serverkey(sock, zcert_public_txt(server));
    cmn_zep_t *list = s_zep_new(endpoint, "BUS-CONNECT", ret_err);
    if (list == NULL) {
        zsock_destroy(&sock);
        return NULL;
    }
    if (list->n > 1 || is_immediate) {
        /* several instances of one service: requests go round-robin over the peers
         * connected now, never queued for one that is away (it died: its pipe is gone;
         * a port of a range nobody bound: never connected) */
        zsock_set_immediate(sock, 1);
    }
    for (size_t i = 0; i < list->n && sock != NULL; i++) {
        if (zsock_connect(sock, "%s", list->ep[i]) < 0) {
            zsock_destroy(&sock);
            *ret_err = CMN_EIO;
        }
    }
    free(list);
    return sock;
}

/* A socket of type connected to endpoint as CURVE client `name` toward server
 * `server_name`, both certificates from keys_dir. NULL with *ret_err on failure. */
static zsock_t *
s_client_sock(int type,
              const char *endpoint,
              const char *keys_dir,
              const char *name,
              const char *server_name,
              bool is_immediate,
              cmn_err_t *ret_err)
{
    zcert_t *cert = s_load(keys_dir, "secret", name, ".cert_secret", ret_err);
    zcert_t *server = cert ? s_load(keys_dir, "public", server_name, ".cert", ret_err) : NULL;
    zsock_t *sock =
            server ? s_curve_connect(type, cert, server, endpoint, is_immediate, ret_err) : NULL;
    zcert_destroy(&cert);
    zcert_destroy(&server);
    return sock;
}

static cmn_bus_client_t *
s_client_new(const char *endpoint,
             const char *keys_dir,
             const char *name,
             const char *server_name,
             bool is_immediate,
             cmn_err_t *ret_err)
{
    cmn_err_t err = CMN_ENOMEM;
    cmn_bus_client_t *self = calloc(1, sizeof *self);
    if (self) {
        err = CMN_OK;
        self->sock = s_client_sock(ZMQ_DEALER, endpoint, keys_dir, name, server_name, is_immediate,
                                   &err);
    }
    if (self && self->sock == NULL) {
        cmn_bus_client_destroy(&self);
    }
    if (ret_err) {
        *ret_err = err;
    }
    return self;
}

cmn_bus_client_t *
cmn_bus_client_new(const char *endpoint,
                   const char *keys_dir,
                   const char *name,
                   const char *server_name,
                   cmn_err_t *ret_err)
{
    return s_client_new(endpoint, keys_dir, name, server_name, false, ret_err);
}

cmn_bus_client_t *
cmn_bus_client_new_immediate(const char *endpoint,
                             const char *keys_dir,
                             const char *name,
                             const char *server_name,
                             cmn_err_t *ret_err)
{
    return s_client_new(endpoint, keys_dir, name, server_name, true, ret_err);
}

void
cmn_bus_client_destroy(cmn_bus_client_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    zsock_destroy(&(*self_p)->sock);
    free(*self_p);
    *self_p = NULL;
}

zsock_t *
cmn_bus_client_sock(cmn_bus_client_t *self)
{
    return self->sock;
}

cmn_err_t
cmn_bus_client_send_pb(cmn_bus_client_t *self, const ProtobufCMessage *msg)
{
    return s_send_pb(self->sock, NULL, msg, ZMQ_DONTWAIT);
}

cmn_err_t
cmn_bus_client_recv(cmn_bus_client_t *self, uint8_t **ret_data, size_t *ret_len)
{
    zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, 0) <= 0) {
        return CMN_ENOTFOUND;
    }
    zframe_t *frame = zframe_recv(self->sock);
    if (frame == NULL) {
        return CMN_ENOTFOUND;
    }
    /* Drain any further frames of a malformed multi-frame reply. */
    while (zsock_rcvmore(self->sock)) {
        zframe_t *extra = zframe_recv(self->sock);
        zframe_destroy(&extra);
    }
    cmn_err_t err = s_frame_data(frame, ret_data, ret_len);
    zframe_destroy(&frame);
    return err;
}

cmn_err_t
cmn_bus_client_call(cmn_bus_client_t *self,
                    const ProtobufCMessage *msg,
                    uint64_t corr_id,
                    int timeout_ms,
                    uint8_t **ret_data,
                    size_t *ret_len)
{
    uint64_t deadline = cmn_time_mono_ms() + (uint64_t) (timeout_ms > 0 ? timeout_ms : 0);
    cmn_err_t err;
    /* A list of endpoints (immediate): nothing is sent before one instance is connected;
     * right after the connect, its handshake may still run. Wait for it, not longer
     * than the call's deadline. */
    while ((err = cmn_bus_client_send_pb(self, msg)) != CMN_OK) {
        uint64_t now = cmn_time_mono_ms();
        if (zmq_errno() != EAGAIN || now >= deadline) {
            return zmq_errno() == EAGAIN ? CMN_ETIMEDOUT : err;
        }
        zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLOUT, 0};
        if (zmq_poll(&item, 1, (long) (deadline - now)) < 0 && zmq_errno() != EINTR) {
            return CMN_EIO;
        }
    }
    for (;;) {
        uint64_t now = cmn_time_mono_ms();
        if (now >= deadline) {
            return CMN_ETIMEDOUT;
        }
        zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long) (deadline - now));
        if (rc < 0) {
            return zmq_errno() == EINTR ? CMN_ETIMEDOUT : CMN_EIO;
        }
        if (rc == 0) {
            continue;
        }
        uint8_t *data = NULL;
        size_t len = 0;
        err = cmn_bus_client_recv(self, &data, &len);
        if (err == CMN_ENOTFOUND) {
            continue;
        }
        if (err != CMN_OK) {
            return err;
        }
        if (cmn_bus_peek_corr_id(data, len) == corr_id) {
            *ret_data = data;
            *ret_len = len;
            return CMN_OK;
        }
        cmn_bus_free(data, len);
    }
}

cmn_err_t
cmn_bus_allow(const char *daemon,
              const char *request,
              unsigned parties,
              const cmn_caller_t *caller,
              char *error,
              size_t error_len)
{
    if (caller->party != CMN_PARTY_NONE && (parties & caller->party) != 0) {
        return CMN_OK;
    }
    char allowed[80];
    cmn_party_list(parties, allowed, sizeof allowed);
    (void) snprintf(error, error_len, "%s: \"%s\" (%s) may not send %s (allowed: %s)", daemon,
                    caller->name, cmn_party_name(caller->party), request, allowed);
    cmn_log_warn("BUS-EPERM", "refused %s from \"%s\" (party %s; allowed: %s)", request,
                 caller->name, cmn_party_name(caller->party), allowed);
    return CMN_EPERM;
}

uint64_t
cmn_bus_next_corr_id(void)
{
    static uint64_t s_next;
    if (s_next == 0) {
        /* Start from the clock so a restarted process does not reuse recent ids. */
        s_next = cmn_time_wall_ms() << 8;
    }
    return ++s_next;
}

uint64_t
cmn_bus_peek_corr_id(const uint8_t *data, size_t len)
{
    if (data == NULL || len < 2 || data[0] != 0x08) {
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 1, shift = 0; i < len && shift < 64; i++, shift += 7) {
        v |= (uint64_t) (data[i] & 0x7f) << shift;
        if ((data[i] & 0x80) == 0) {
            return v;
        }
    }
    return 0;
}

/* ---- pending calls ---- */

typedef struct {
    uint64_t corr_id;  /* 0 = free slot */
    uint64_t deadline; /* monotonic ms */
    cmn_call_fn *fn;   /* callback */
    void *arg;         /* its argument */
} s_call_t;

struct cmn_calls {
    cmn_bus_client_t *client; /* borrowed */
    s_call_t *calls;          /* slots */
    size_t cap;               /* slots allocated */
    size_t n;                 /* slots in use */
};

cmn_calls_t *
cmn_calls_new(cmn_bus_client_t *client)
{
    cmn_calls_t *self = calloc(1, sizeof *self);
    if (self) {
        self->client = client;
    }
    return self;
}

void
cmn_calls_destroy(cmn_calls_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_calls_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++) {
        if (self->calls[i].corr_id) {
            s_call_t c = self->calls[i];
            self->calls[i].corr_id = 0;
            c.fn(c.arg, CMN_EIO, NULL, 0);
        }
    }
    free(self->calls);
    free(self);
    *self_p = NULL;
}

cmn_err_t
cmn_calls_send(cmn_calls_t *self,
               const ProtobufCMessage *msg,
               uint64_t corr_id,
               uint32_t timeout_ms,
               cmn_call_fn *fn,
               void *arg)
{
    if (corr_id == 0) {
        return CMN_EINVAL; /* reads as "absent" in a reply: it could never match */
    }
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        s_call_t *calls = realloc(self->calls, cap * sizeof *calls);
        if (calls == NULL) {
            return CMN_ENOMEM;
        }
        memset(calls + self->cap, 0, (cap - self->cap) * sizeof *calls);
        self->calls = calls;
        self->cap = cap;
    }
    cmn_err_t err = cmn_bus_client_send_pb(self->client, msg);
    if (err != CMN_OK) {
        return err;
    }
    for (size_t i = 0; i < self->cap; i++) {
        if (self->calls[i].corr_id == 0) {
            self->calls[i] = (s_call_t){corr_id, cmn_time_mono_ms() + timeout_ms, fn, arg};
            self->n++;
            break;
        }
    }
    return CMN_OK;
}

void
cmn_calls_on_readable(cmn_calls_t *self)
{
    uint8_t *data = NULL;
    size_t len = 0;
    while (cmn_bus_client_recv(self->client, &data, &len) == CMN_OK) {
        uint64_t id = cmn_bus_peek_corr_id(data, len);
        for (size_t i = 0; id && i < self->cap; i++) {
            if (self->calls[i].corr_id == id) {
                s_call_t c = self->calls[i];
                self->calls[i].corr_id = 0;
                self->n--;
                c.fn(c.arg, CMN_OK, data, len);
                break;
            }
        }
        cmn_bus_free(data, len);
        data = NULL;
    }
}

int
cmn_calls_expire(cmn_calls_t *self)
{
    uint64_t now = cmn_time_mono_ms();
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < self->cap; i++) {
        if (self->calls[i].corr_id == 0) {
            continue;
        }
        if (self->calls[i].deadline <= now) {
            s_call_t c = self->calls[i];
            self->calls[i].corr_id = 0;
            self->n--;
            c.fn(c.arg, CMN_ETIMEDOUT, NULL, 0);
        } else if (self->calls[i].deadline < next) {
            next = self->calls[i].deadline;
        }
    }
    if (next == UINT64_MAX) {
        return -1;
    }
    /* a uint32_t timeout can exceed INT_MAX ms; never let it wrap to "none" */
    return next - now > INT_MAX ? INT_MAX : (int) (next - now);
}

size_t
cmn_calls_pending(const cmn_calls_t *self)
{
    return self->n;
}

cmn_bus_client_t *
cmn_calls_client(cmn_calls_t *self)
{
    return self->client;
}

/* ---- events: PUB (server) and SUB (client) ---- */

struct cmn_bus_pub {
    zsock_t *sock;  /* XPUB, CURVE server: sees subscriptions to confirm them */
    zactor_t *auth; /* the process's zauth actor (s_auth_acquire) */
};

#define S_MAX_PREFIXES 64

struct cmn_bus_sub {
    zsock_t *sock;                  /* SUB, CURVE client */
    char *prefixes[S_MAX_PREFIXES]; /* subscribed (owned) */
    bool is_live[S_MAX_PREFIXES];   /* its confirmation arrived */
    size_t n;                       /* prefixes */
};

cmn_err_t
cmn_bus_pub_endpoint(const char *router_ep, char *ret_ep, size_t len)
{
    const char *colon = strrchr(router_ep, ':');
    int n = -1;
    if (strncmp(router_ep, "tcp://", 6) == 0 && colon && colon > router_ep + 6) {
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != '\0' || port < 1 || port > 65535 - 10) {
            return CMN_EINVAL;
        }
        n = snprintf(ret_ep, len, "%.*s:%ld", (int) (colon - router_ep), router_ep, port + 10);
    } else if (strncmp(router_ep, "ipc://", 6) == 0 || strncmp(router_ep, "inproc://", 9) == 0) {
        n = snprintf(ret_ep, len, "%s.events", router_ep);
    }
    return n < 0 ? CMN_EINVAL : (size_t) n >= len ? CMN_ENOSPC : CMN_OK;
}

cmn_bus_pub_t *
cmn_bus_pub_new(const char *endpoint, const char *keys_dir, const char *name, cmn_err_t *ret_err)
{
    cmn_err_t err = CMN_ENOMEM;
    cmn_bus_pub_t *self = calloc(1, sizeof *self);
    if (self) {
        self->sock = s_curve_server(ZMQ_XPUB, endpoint, keys_dir, name, &self->auth, NULL, &err);
    }
    if (self && self->sock == NULL) {
        cmn_bus_pub_destroy(&self);
    }
    if (self) {
        zsock_set_xpub_verbose(self->sock, 1); /* every subscription confirmed, repeats too */
    }
    if (ret_err) {
        *ret_err = self ? CMN_OK : err;
    }
    return self;
}

void
cmn_bus_pub_destroy(cmn_bus_pub_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_bus_pub_t *self = *self_p;
    zsock_destroy(&self->sock);
    s_auth_release(&self->auth);
    free(self);
    *self_p = NULL;
}

zsock_t *
cmn_bus_pub_sock(cmn_bus_pub_t *self)
{
    return self->sock;
}

/* [topic][body], without blocking: a PUB drops what a slow subscriber cannot take. */
static cmn_err_t
s_pub_frames(cmn_bus_pub_t *self, const char *topic, zframe_t **body_p)
{
    zmsg_t *m = zmsg_new();
    if (m == NULL || *body_p == NULL || zmsg_addstr(m, topic) != 0) {
        zmsg_destroy(&m);
        zframe_destroy(body_p);
        return CMN_ENOMEM;
    }
    zmsg_append(m, body_p);
    if (zmsg_send(&m, self->sock) != 0) {
        zmsg_destroy(&m);
        return CMN_EIO;
    }
    return CMN_OK;
}

cmn_err_t
cmn_bus_pub_send(cmn_bus_pub_t *self, const char *topic, const ProtobufCMessage *msg)
{
    zframe_t *t = zframe_new(topic, strlen(topic));
    if (t == NULL) {
        return CMN_ENOMEM;
    }
    cmn_err_t err = s_send_pb(self->sock, t, msg, ZMQ_DONTWAIT); /* the topic, then msg */
    zframe_destroy(&t);
    return err;
}

void
cmn_bus_pub_on_readable(cmn_bus_pub_t *self)
{
    zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&item, 1, 0) > 0) {
        zframe_t *f = zframe_recv(self->sock);
        if (f == NULL) {
            return;
        }
        /* XPUB: byte 1 = subscribe, 0 = unsubscribe, then the prefix */
        if (zframe_size(f) >= 1 && zframe_data(f)[0] == 1) {
            char *topic = strndup((const char *) zframe_data(f) + 1, zframe_size(f) - 1);
            zframe_t *empty = zframe_new(NULL, 0);
            if (topic && s_pub_frames(self, topic, &empty) != CMN_OK) {
                cmn_log_debug("BUS-PUB", "cannot confirm the subscription \"%s\"", topic);
            }
            zframe_destroy(&empty);
            free(topic);
        }
        zframe_destroy(&f);
    }
}

cmn_bus_sub_t *
cmn_bus_sub_new(const char *endpoint,
                const char *keys_dir,
                const char *name,
                const char *server_name,
                cmn_err_t *ret_err)
{
    cmn_err_t err = CMN_ENOMEM;
    cmn_bus_sub_t *self = calloc(1, sizeof *self);
    if (self) {
        err = CMN_OK;
        self->sock = s_client_sock(ZMQ_SUB, endpoint, keys_dir, name, server_name, false, &err);
    }
    if (self && self->sock == NULL) {
        cmn_bus_sub_destroy(&self);
    }
    if (ret_err) {
        *ret_err = err;
    }
    return self;
}

void
cmn_bus_sub_destroy(cmn_bus_sub_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_bus_sub_t *self = *self_p;
    zsock_destroy(&self->sock);
    for (size_t i = 0; i < self->n; i++) {
        free(self->prefixes[i]);
    }
    free(self);
    *self_p = NULL;
}

zsock_t *
cmn_bus_sub_sock(cmn_bus_sub_t *self)
{
    return self->sock;
}

cmn_err_t
cmn_bus_sub_subscribe(cmn_bus_sub_t *self, const char *prefix)
{
    if (self->n == S_MAX_PREFIXES) {
        return CMN_ENOSPC;
    }
    char *copy = strdup(prefix);
    if (copy == NULL) {
        return CMN_ENOMEM;
    }
    self->prefixes[self->n] = copy;
    self->is_live[self->n++] = false;
    zsock_set_subscribe(self->sock, prefix);
    return CMN_OK;
}

bool
cmn_bus_sub_is_live(const cmn_bus_sub_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        if (!self->is_live[i]) {
            return false;
        }
    }
    return true;
}

cmn_err_t
cmn_bus_sub_recv(cmn_bus_sub_t *self, char **ret_topic, uint8_t **ret_data, size_t *ret_len)
{
    for (;;) {
        zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 0) <= 0) {
            return CMN_ENOTFOUND;
        }
        zmsg_t *msg = zmsg_recv(self->sock);
        if (msg == NULL) {
            return CMN_ENOTFOUND;
        }
        if (zmsg_size(msg) != 2) {
            zmsg_destroy(&msg);
            return CMN_EPROTO;
        }
        char *topic = zmsg_popstr(msg);
        zframe_t *body = zmsg_first(msg);
        cmn_err_t err = topic ? CMN_OK : CMN_ENOMEM;
        if (err == CMN_OK && zframe_size(body) == 0) {
            /* a confirmation: whatever matches it is live (the publisher filtered it) */
            for (size_t i = 0; i < self->n; i++) {
                self->is_live[i] |= strcmp(self->prefixes[i], topic) == 0;
            }
            free(topic);
            zmsg_destroy(&msg);
            continue;
        }
        if (err == CMN_OK) {
            err = s_frame_data(body, ret_data, ret_len);
        }
        if (err == CMN_OK) {
            *ret_topic = topic;
        } else {
            free(topic);
        }
        zmsg_destroy(&msg);
        return err;
    }
}
