/* cmn_svc_api.c — the envelope every device service answers (obt.ServiceRequest):
 * one dispatch table with its parties column, health, show, list and forget here, the
 * hand-over and repair work in the service's hooks */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmn_dispatch.h"
#include "cmn_log.h"
#include "cmn_svc.h"

typedef void(s_row_fn)(cmn_svc_t *svc, zframe_t *peer, const Obt__ServiceRequest *req);

void
cmn_svc_answer(cmn_svc_t *self,
               zframe_t *peer,
               uint64_t corr_id,
               cmn_err_t err,
               const char *error,
               Obt__ServiceReply__BodyCase body,
               Obt__ServiceDevice *dev)
{
    static Obt__Empty empty = OBT__EMPTY__INIT;
    Obt__ServiceReply reply = OBT__SERVICE_REPLY__INIT;
    reply.corr_id = corr_id;
    reply.status = (Obt__Status) cmn_status_from_err(err);
    if (err != CMN_OK) {
        reply.error = CMN_PB_STR(error && error[0] ? error : cmn_strerror(err));
    } else if (body == OBT__SERVICE_REPLY__BODY_FORGET) {
        reply.body_case = body;
        reply.forget = &empty;
    } else if (body == OBT__SERVICE_REPLY__BODY_HANDOVER || body == OBT__SERVICE_REPLY__BODY_SHOW ||
               body == OBT__SERVICE_REPLY__BODY_REPAIR) {
        reply.body_case = body;
        reply.handover = dev; /* the three share the oneof's storage */
    }
    if (cmn_svc_reply(self, peer, &reply.base) != CMN_OK) {
        cmn_log_warn("SVC-REPLY", "cannot reply (corr=%llu)", (unsigned long long) corr_id);
    }
}

static void
s_on_health(cmn_svc_t *svc, zframe_t *peer, const Obt__ServiceRequest *req)
{
    Obt__ServiceReply reply = OBT__SERVICE_REPLY__INIT;
    Obt__HealthReply h;
    cmn_svc_health(svc, &h);
    reply.corr_id = req->corr_id;
    reply.body_case = OBT__SERVICE_REPLY__BODY_HEALTH;
    reply.health = &h;
    (void) cmn_svc_reply(svc, peer, &reply.base);
}

static void
s_on_handover(cmn_svc_t *svc, zframe_t *peer, const Obt__ServiceRequest *req)
{
    cmn_svc_job_handover(svc, peer, req->corr_id, req->handover);
}

static void
s_on_repair(cmn_svc_t *svc, zframe_t *peer, const Obt__ServiceRequest *req)
{
    cmn_svc_job_repair(svc, peer, req->corr_id, req->repair->device_uuid);
}

/* Reset: forget the device (idempotent). */
static void
s_on_forget(cmn_svc_t *svc, zframe_t *peer, const Obt__ServiceRequest *req)
{
    cmn_err_t err = cmn_svc_forget(svc, req->forget->device_uuid);
    if (err == CMN_OK) {
        cmn_log_notice("SVC-FORGOTTEN", "%s: dev=%s record and key removed (if any)",
                       cmn_svc_name(svc), req->forget->device_uuid);
    }
    cmn_svc_answer(svc, peer, req->corr_id, err, NULL, OBT__SERVICE_REPLY__BODY_FORGET, NULL);
    if (err == CMN_OK && cmn_svc_hooks(svc)->forgot) {
        cmn_svc_hooks(svc)->forgot(svc, req->forget->device_uuid);
    }
}

static void
s_on_show(cmn_svc_t *svc, zframe_t *peer, const Obt__ServiceRequest *req)
{
    Obt__ServiceDevice *dev = NULL;
    cmn_err_t err = cmn_svc_get(svc, req->show->device_uuid, &dev);
    cmn_svc_answer(svc, peer, req->corr_id, err, err == CMN_ENOTFOUND ? "unknown device" : NULL,
                   OBT__SERVICE_REPLY__BODY_SHOW, dev);
    if (dev) {
        obt__service_device__free_unpacked(dev, NULL);
    }
}

typedef struct {
    Obt__ServiceDevice **items;
    size_t n;
} s_list_t;

static void
s_collect(const Obt__ServiceDevice *dev, void *arg)
{
    s_list_t *l = arg;
    size_t len = obt__service_device__get_packed_size(dev);
    uint8_t *buf = malloc(len ? len : 1);
    Obt__ServiceDevice **grown = realloc(l->items, (l->n + 1) * sizeof *grown);
    if (grown) {
        l->items = grown;
    }
    if (buf && grown) {
        (void) obt__service_device__pack(dev, buf);
        grown[l->n] = obt__service_device__unpack(NULL, len, buf);
        l->n += grown[l->n] != NULL;
    }
    free(buf);
}

static void
s_on_list(cmn_svc_t *svc, zframe_t *peer, const Obt__ServiceRequest *req)
{
    s_list_t l = {NULL, 0};
    Obt__ServiceReply reply = OBT__SERVICE_REPLY__INIT;
    Obt__DeviceList dl = OBT__DEVICE_LIST__INIT;
    cmn_err_t err = cmn_svc_each(svc, s_collect, &l);
    if (err != CMN_OK) {
        cmn_svc_answer(svc, peer, req->corr_id, err, "cannot read the device records", 0, NULL);
    } else {
        dl.devices = l.items;
        dl.n_devices = l.n;
        reply.corr_id = req->corr_id;
        reply.body_case = OBT__SERVICE_REPLY__BODY_LIST;
        reply.list = &dl;
        (void) cmn_svc_reply(svc, peer, &reply.base);
    }
    for (size_t i = 0; i < l.n; i++) {
        obt__service_device__free_unpacked(l.items[i], NULL);
    }
    free(l.items);
}

/* The parties column (docs/security.md): only DOTS hands devices over, forgets or
 * repairs them; the operator reads. */
typedef struct {
    cmn_dispatch_row_t head; /* first: the body, its name, its parties */
    s_row_fn *fn;
} s_row_t;

static const s_row_t s_rows[] = {
        {{OBT__SERVICE_REQUEST__BODY_HEALTH, "health", CMN_PARTY_ANY}, s_on_health},
        {{OBT__SERVICE_REQUEST__BODY_HANDOVER, "handover", CMN_PARTY_DOTS}, s_on_handover},
        {{OBT__SERVICE_REQUEST__BODY_SHOW, "show", CMN_PARTY_DOTS | CMN_PARTY_OPERATOR}, s_on_show},
        {{OBT__SERVICE_REQUEST__BODY_LIST, "list", CMN_PARTY_DOTS | CMN_PARTY_OPERATOR}, s_on_list},
        {{OBT__SERVICE_REQUEST__BODY_FORGET, "forget", CMN_PARTY_DOTS}, s_on_forget},
        {{OBT__SERVICE_REQUEST__BODY_REPAIR, "repair", CMN_PARTY_DOTS}, s_on_repair},
};
#define S_N_ROWS (sizeof s_rows / sizeof s_rows[0])

int
cmn_svc_has_handler(int body_case)
{
    return cmn_dispatch_find(s_rows, S_N_ROWS, sizeof s_rows[0], body_case) != NULL;
}

void
cmn_svc_dispatch(cmn_svc_t *self,
                 zframe_t *peer,
                 const cmn_caller_t *caller,
                 const uint8_t *data,
                 size_t len)
{
    char daemon[16];
    char error[300] = "";
    (void) snprintf(daemon, sizeof daemon, "obt-%s", cmn_svc_name(self));
    Obt__ServiceRequest *req = obt__service_request__unpack(NULL, len, data);
    if (req == NULL) {
        cmn_log_warn("SVC-BADREQ", "unreadable request (%zu bytes) from \"%s\"", len, caller->name);
        cmn_svc_answer(self, peer, cmn_bus_peek_corr_id(data, len), CMN_EPROTO,
                       "request does not unpack as obt.ServiceRequest", 0, NULL);
        return;
    }
    const cmn_svc_hooks_t *hooks = cmn_svc_hooks(self);
    if (req->body_case == OBT__SERVICE_REQUEST__BODY__NOT_SET && hooks->own != NULL) {
        hooks->own(self, peer, caller, data, len, hooks->arg);
        obt__service_request__free_unpacked(req, NULL);
        return;
    }
    const cmn_dispatch_row_t *row = NULL;
    cmn_err_t err = cmn_dispatch_check(daemon, s_rows, S_N_ROWS, sizeof s_rows[0], req->body_case,
                                       caller, error, sizeof error, &row);
    if (err == CMN_OK) {
        ((const s_row_t *) row)->fn(self, peer, req);
    } else {
        cmn_svc_answer(self, peer, req->corr_id, err, error, 0, NULL);
    }
    if (req->body_case == OBT__SERVICE_REQUEST__BODY_HANDOVER && req->handover->psk.data) {
        OPENSSL_cleanse(req->handover->psk.data, req->handover->psk.len);
    }
    obt__service_request__free_unpacked(req, NULL);
}
