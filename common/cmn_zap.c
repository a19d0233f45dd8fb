/* cmn_zap.c — ZAP handler for CURVE (RFC 27) with refused keys logged */
#include "cmn_zap.h"

#include <string.h>

#include "cmn_log.h"
#include "cmn_time.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_LOG_EVERY_MS 1000 /* at most one SEC-ZAP-DENIED line per period */

typedef struct {
    zsock_t *handler;     /* REP bound at S_ZAP_ENDPOINT, NULL until "CURVE" */
    zcertstore_t *certs;  /* the allowed public keys (DIR) */
    char dir[1024];       /* DIR, for messages */
    uint64_t next_log_ms; /* rate limit of the refusal lines */
    unsigned n_unlogged;  /* refusals since the last line, not logged */
} s_zap_t;

/* "CURVE" DIR: bind and load. 0 or -1. */
static int
s_curve(s_zap_t *self, const char *dir)
{
    if (self->handler != NULL || dir == NULL) {
        return -1;
    }
    self->handler = zsock_new(ZMQ_REP);
    if (self->handler == NULL || zsock_bind(self->handler, S_ZAP_ENDPOINT) != 0) {
        zsock_destroy(&self->handler);
        return -1;
    }
    (void) snprintf(self->dir, sizeof self->dir, "%s", dir);
    self->certs = zcertstore_new(self->dir);
    return self->certs ? 0 : -1;
}

static void
s_log_refusal(s_zap_t *self, const char *key, const char *address, const char *mechanism)
{
    uint64_t now = cmn_time_mono_ms();
    if (now < self->next_log_ms) {
        self->n_unlogged++;
        return;
    }
    char esc_addr[96], more[64] = "";
    if (self->n_unlogged > 0) {
        (void) snprintf(more, sizeof more, " (and %u refusals not logged before)",
                        self->n_unlogged);
    }
    cmn_log_warn("SEC-ZAP-DENIED",
                 "refused a client: mechanism=%s key=%s address=%s: not in \"%s\" (keys of "
                 "another `obtctl keys`?)%s",
                 mechanism, key, cmn_log_escape(esc_addr, sizeof esc_addr, address), self->dir,
                 more);
    self->n_unlogged = 0;
    self->next_log_ms = now + S_LOG_EVERY_MS;
}

/* One ZAP request: version, request id, domain, address, identity, mechanism,
 * credentials; one reply: version, request id, status, text, user id, metadata. */
static void
s_handle(s_zap_t *self)
{
    zmsg_t *req = zmsg_recv(self->handler);
    if (req == NULL) {
        return;
    }
    char *version = zmsg_popstr(req);
    char *request_id = zmsg_popstr(req);
    char *domain = zmsg_popstr(req);
    char *address = zmsg_popstr(req);
    zframe_t *identity = zmsg_pop(req);
    char *mechanism = zmsg_popstr(req);
    zframe_t *cred = zmsg_pop(req);
    char key[41] = "";
    bool is_ok = false;
    if (version && strcmp(version, "1.0") == 0 && mechanism && strcmp(mechanism, "CURVE") == 0 &&
        cred && zframe_size(cred) == 32) {
        (void) zmq_z85_encode(key, zframe_data(cred), 32);
        is_ok = zcertstore_lookup(self->certs, key) != NULL;
    }
    if (!is_ok) {
        s_log_refusal(self, key[0] ? key : "-", address ? address : "-",
                      mechanism ? mechanism : "-");
    }
    zmsg_t *rep = zmsg_new();
    (void) zmsg_addstr(rep, "1.0");
    (void) zmsg_addstr(rep, request_id ? request_id : "");
    (void) zmsg_addstr(rep, is_ok ? "200" : "400");
    (void) zmsg_addstr(rep, is_ok ? "OK" : "no access");
    (void) zmsg_addstr(rep, is_ok ? key : "");
    (void) zmsg_addmem(rep, "", 0); /* metadata: none */
    (void) zmsg_send(&rep, self->handler);
    zstr_free(&version);
    zstr_free(&request_id);
    zstr_free(&domain);
    zstr_free(&address);
    zframe_destroy(&identity);
    zstr_free(&mechanism);
    zframe_destroy(&cred);
    zmsg_destroy(&req);
}

void
cmn_zap_actor(zsock_t *pipe, void *args)
{
    (void) args;
    s_zap_t self = {NULL, NULL, "", 0, 0};
    zpoller_t *poller = zpoller_new(pipe, NULL);
    if (poller != NULL) {
        zpoller_set_nonstop(poller, true); /* a SIGINT is the daemon's: we go at $TERM */
    }
    (void) zsock_signal(pipe, 0);
    bool is_done = poller == NULL;
    while (!is_done) {
        void *which = zpoller_wait(poller, -1);
        if (which == pipe) {
            zmsg_t *cmd = zmsg_recv(pipe);
            char *verb = cmd ? zmsg_popstr(cmd) : NULL;
            if (verb == NULL || strcmp(verb, "$TERM") == 0) {
                is_done = true;
            } else if (strcmp(verb, "CURVE") == 0) {
                char *dir = zmsg_popstr(cmd);
                int rc = s_curve(&self, dir);
                if (rc == 0) {
                    (void) zpoller_add(poller, self.handler);
                }
                (void) zsock_signal(pipe, rc == 0 ? 0 : 1);
                zstr_free(&dir);
            }
            zstr_free(&verb);
            zmsg_destroy(&cmd);
        } else if (which != NULL && which == self.handler) {
            s_handle(&self);
        }
    }
    zpoller_destroy(&poller);
    zcertstore_destroy(&self.certs);
    zsock_destroy(&self.handler);
}
