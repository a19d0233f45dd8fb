/* auth_test.c — who is calling comes from the CURVE key of the connection: the
 * operator's key and CMS's key cannot derive DOTS's owner PSK nor use the DOC that
 * DOTS's key opened; DOTS's key can; service-only requests of CMS and AMS refuse the
 * operator; DOTS's operator API refuses the services; an unknown key gets nothing from
 * any daemon. Against the real daemons and devsim (docs/security.md). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "obt/common.pb-c.h"
#include "obt/dots.pb-c.h"
#include "obt/gateway.pb-c.h"
#include "obt_checks.h"
#include "obt_json.h"

static char *s_dir;
static obt_suite_t s_suite;
static obt_proc_t s_sim;

static void
s_setup(void)
{
    s_dir = obt_tmpdir("auth");
    cr_assert_not_null(s_dir);
    cr_assert_eq(obt_suite_start(&s_suite, s_dir, NULL), 0, "the suite did not start");
    cr_assert_eq(obt_devsim_start(&s_sim, s_dir, 2, NULL), 0);
}

static void
s_teardown(void)
{
    obt_test_end(&s_suite, &s_sim, &s_dir);
}

/* A client of daemon `server` ("gateway", "dots", "cms", "ams") with party key `me`. */
static cmn_bus_client_t *
s_client(const char *me, const char *server)
{
    const char *ep = strcmp(server, "gateway") == 0 ? s_suite.ep_gw
                     : strcmp(server, "dots") == 0  ? s_suite.ep_dots
                     : strcmp(server, "cms") == 0   ? s_suite.ep_cms
                                                    : s_suite.ep_ams;
    cmn_err_t err = CMN_EIO;
    cmn_bus_client_t *c = cmn_bus_client_new(ep, s_suite.keys, me, server, &err);
    cr_assert_not_null(c, "client %s -> %s: %s", me, server, cmn_strerror(err));
    return c;
}

/* Sends msg and returns the reply's status and its error text in error; -1 if no reply
 * came. The reply type follows the request's (gateway, DOTS or the service envelope). */
static int
s_call(cmn_bus_client_t *c, const ProtobufCMessage *msg, uint64_t corr, char *error, size_t len)
{
    const ProtobufCMessageDescriptor *d =
            msg->descriptor == &obt__gw__request__descriptor     ? &obt__gw__reply__descriptor
            : msg->descriptor == &obt__dots__request__descriptor ? &obt__dots__reply__descriptor
                                                                 : &obt__service_reply__descriptor;
    uint8_t *data = NULL;
    size_t n = 0;
    if (cmn_bus_client_call(c, msg, corr, 10000, &data, &n) != CMN_OK) {
        return -1;
    }
    ProtobufCMessage *r = protobuf_c_message_unpack(d, NULL, n, data);
    cmn_bus_free(data, n);
    cr_assert_not_null(r, "reply does not unpack as %s", d->name);
    const ProtobufCFieldDescriptor *fs =
            protobuf_c_message_descriptor_get_field_by_name(d, "status");
    const ProtobufCFieldDescriptor *fe =
            protobuf_c_message_descriptor_get_field_by_name(d, "error");
    int status = *(const int *) (const void *) ((const char *) r + fs->offset);
    const char *e = *(char *const *) (const void *) ((const char *) r + fe->offset);
    (void) snprintf(error, len, "%s", e ? e : "");
    protobuf_c_message_free_unpacked(r, NULL);
    return status;
}

/* One CoAP exchange through the gateway under security sec; the gateway's reply
 * (unpacked, the caller frees it). */
static Obt__Gw__Reply *
s_gw_exchange(cmn_bus_client_t *c,
              const char *ep,
              const char *dev,
              const Obt__Gw__Security *sec,
              int method,
              const char *path,
              const uint8_t *payload,
              size_t payload_len)
{
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CoapRequest co = OBT__GW__COAP_REQUEST__INIT;
    co.device_uuid = CMN_PB_STR(dev ? dev : "");
    co.endpoint = CMN_PB_STR(ep);
    co.method = (Obt__Gw__Method) method;
    co.path = CMN_PB_STR(path);
    co.payload.data = (uint8_t *) (uintptr_t) payload;
    co.payload.len = payload_len;
    co.security = (Obt__Gw__Security *) (uintptr_t) sec;
    req.corr_id = cmn_bus_next_corr_id();
    req.body_case = OBT__GW__REQUEST__BODY_COAP;
    req.coap = &co;
    uint8_t *data = NULL;
    size_t n = 0;
    cr_assert_eq(cmn_bus_client_call(c, &req.base, req.corr_id, 10000, &data, &n), CMN_OK,
                 "no reply from the gateway");
    Obt__Gw__Reply *r = obt__gw__reply__unpack(NULL, n, data);
    cmn_bus_free(data, n);
    cr_assert_not_null(r, "the gateway's reply does not unpack");
    return r;
}

/* The gateway's status of one exchange under security kind, its error text in error. */
static int
s_gw_coap_with(cmn_bus_client_t *c,
               const char *ep,
               const char *dev,
               Obt__Gw__SecurityKind kind,
               int method,
               const char *path,
               const uint8_t *payload,
               size_t payload_len,
               char *error,
               size_t len)
{
    Obt__Gw__Security sec = OBT__GW__SECURITY__INIT;
    sec.kind = kind;
    Obt__Gw__Reply *r = s_gw_exchange(c, ep, dev, &sec, method, path, payload, payload_len);
    int status = (int) r->status;
    (void) snprintf(error, len, "%s", r->error ? r->error : "");
    obt__gw__reply__free_unpacked(r, NULL);
    return status;
}

static int
s_gw_coap(cmn_bus_client_t *c,
          const char *ep,
          const char *dev,
          Obt__Gw__SecurityKind kind,
          int method,
          const char *path,
          char *error,
          size_t len)
{
    return s_gw_coap_with(c, ep, dev, kind, method, path, NULL, 0, error, len);
}

static int
s_gw_derive(cmn_bus_client_t *c, const char *ep, const char *dev, char *error, size_t len)
{
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__DeriveOwnerPsk d = OBT__GW__DERIVE_OWNER_PSK__INIT;
    d.endpoint = CMN_PB_STR(ep);
    d.owner_uuid = CMN_PB_STR(dev); /* any uuid: the derivation is what is refused */
    d.device_uuid = CMN_PB_STR(dev);
    d.oxm_label = CMN_PB_STR("oic.sec.doxm.jw");
    req.corr_id = cmn_bus_next_corr_id();
    req.body_case = OBT__GW__REQUEST__BODY_DERIVE_OWNER_PSK;
    req.derive_owner_psk = &d;
    return s_call(c, &req.base, req.corr_id, error, len);
}

/* The endpoint of device object obj that starts with scheme. */
static void
s_ep(const char *obj, const char *scheme, char ep[128])
{
    const char *at = strstr(obj, scheme);
    cr_assert_not_null(at, "no %s endpoint in %s", scheme, obj);
    size_t k = strcspn(at, "\"");
    cr_assert_lt(k, 128);
    memcpy(ep, at, k);
    ep[k] = '\0';
}

/* Discovers the two devices through DOTS and gives device 0's uuid and coap:// and
 * coaps:// endpoints. */
static void
s_discover(char uuid[40], char plain[128], char ep[128])
{
    static const char *const discover[] = {"discover", "--window-ms", "500", NULL};
    static const char *const list[] = {"--json", "devices", NULL};
    char *out = NULL;
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, discover, NULL), 0);
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, list, &out), 0);
    char *objs[4];
    size_t n = obt_json_objects(out, objs, 4);
    free(out);
    cr_assert_eq(n, 2);
    cr_assert(obt_json_str(objs[0], "uuid", uuid, 40));
    s_ep(objs[0], "coaps://", ep);
    s_ep(objs[0], "coap://", plain);
    for (size_t i = 0; i < n; i++) {
        free(objs[i]);
    }
}

Test(auth,
     only_dots_derives_the_owner_psk_and_uses_its_doc,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    char uuid[40], plain[128], ep[128], error[400];
    s_discover(uuid, plain, ep);
    cmn_bus_client_t *dots = s_client("dots", "gateway");
    cmn_bus_client_t *op = s_client("obtctl", "gateway");
    cmn_bus_client_t *cms = s_client("cms", "gateway");

    /* DOTS's key selects Just Works and opens the DOC (the device answers over it). */
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OXMSEL, .oxmsel = 0};
    uint8_t *cbor = NULL;
    size_t cbor_len = 0;
    cr_assert_eq(cmn_doxm_encode(&d, &cbor, &cbor_len), CMN_OK);
    cr_assert_eq(s_gw_coap_with(dots, plain, uuid, OBT__GW__SECURITY_KIND__SEC_NONE, 2,
                                "/oic/sec/doxm", cbor, cbor_len, error, sizeof error),
                 OBT__STATUS__STATUS_OK, "oxmsel: %s", error);
    free(cbor);
    cr_assert_eq(s_gw_coap(dots, ep, uuid, OBT__GW__SECURITY_KIND__SEC_JW_ANON, 1, "/oic/sec/doxm",
                           error, sizeof error),
                 OBT__STATUS__STATUS_OK, "DOTS's DOC: %s", error);

    /* The operator may neither derive nor talk to devices at all. */
    cr_assert_eq(s_gw_derive(op, ep, uuid, error, sizeof error), OBT__STATUS__STATUS_EPERM, "%s",
                 error);
    cr_assert(strstr(error, "obtctl") && strstr(error, "derive_owner_psk"), "%s", error);
    cr_assert_eq(s_gw_coap(op, ep, uuid, OBT__GW__SECURITY_KIND__SEC_JW_ANON, 2, "/oic/sec/pstat",
                           error, sizeof error),
                 OBT__STATUS__STATUS_EPERM, "%s", error);
    /* CMS may not derive, and has no DOC of its own to continue on: DOTS's is not its. */
    cr_assert_eq(s_gw_derive(cms, ep, uuid, error, sizeof error), OBT__STATUS__STATUS_EPERM, "%s",
                 error);
    cr_assert_eq(s_gw_coap(cms, ep, uuid, OBT__GW__SECURITY_KIND__SEC_RDP, 2, "/oic/sec/pstat",
                           error, sizeof error),
                 OBT__STATUS__STATUS_ENOTFOUND, "CMS rode DOTS's DOC: %s", error);
    cr_assert_eq(obt_proc_log_count(&s_suite.gw, "BUS-EPERM"), 3, "each refusal is logged");

    /* A close by CMS closes only CMS's own (none): DOTS's DOC still derives. */
    Obt__Gw__Request req = OBT__GW__REQUEST__INIT;
    Obt__Gw__CloseSession cs = OBT__GW__CLOSE_SESSION__INIT;
    cs.endpoint = ep;
    req.corr_id = cmn_bus_next_corr_id();
    req.body_case = OBT__GW__REQUEST__BODY_CLOSE_SESSION;
    req.close_session = &cs;
    cr_assert_eq(s_call(cms, &req.base, req.corr_id, error, sizeof error), OBT__STATUS__STATUS_OK);
    cr_assert_eq(s_gw_derive(dots, ep, uuid, error, sizeof error), OBT__STATUS__STATUS_OK,
                 "DOTS could not derive from its own DOC: %s", error);

    cmn_bus_client_destroy(&dots);
    cmn_bus_client_destroy(&op);
    cmn_bus_client_destroy(&cms);
}

Test(auth,
     service_requests_refuse_other_parties,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    char error[400];
    const char *const svcs[] = {"cms", "ams"};
    for (size_t i = 0; i < 2; i++) {
        cmn_bus_client_t *op = s_client("obtctl", svcs[i]);
        cmn_bus_client_t *peer = s_client(i == 0 ? "ams" : "cms", svcs[i]);
        Obt__ServiceRequest req = OBT__SERVICE_REQUEST__INIT;
        Obt__DeviceHandover h = OBT__DEVICE_HANDOVER__INIT;
        Obt__ForgetDevice f = OBT__FORGET_DEVICE__INIT;
        Obt__ShowDevice show = OBT__SHOW_DEVICE__INIT;
        uint8_t psk[16] = {1};
        h.device_uuid = CMN_PB_STR("11111111-2222-3333-4444-555555555555");
        h.psk.data = psk;
        h.psk.len = 16;
        f.device_uuid = h.device_uuid;
        show.device_uuid = h.device_uuid;
        req.body_case = OBT__SERVICE_REQUEST__BODY_HANDOVER;
        req.handover = &h;
        req.corr_id = cmn_bus_next_corr_id();
        cr_assert_eq(s_call(op, &req.base, req.corr_id, error, sizeof error),
                     OBT__STATUS__STATUS_EPERM, "%s handover by the operator: %s", svcs[i], error);
        req.corr_id = cmn_bus_next_corr_id();
        cr_assert_eq(s_call(peer, &req.base, req.corr_id, error, sizeof error),
                     OBT__STATUS__STATUS_EPERM, "%s handover by another service: %s", svcs[i],
                     error);
        req.body_case = OBT__SERVICE_REQUEST__BODY_FORGET;
        req.forget = &f;
        req.corr_id = cmn_bus_next_corr_id();
        cr_assert_eq(s_call(op, &req.base, req.corr_id, error, sizeof error),
                     OBT__STATUS__STATUS_EPERM, "%s forget by the operator: %s", svcs[i], error);
        /* reading is the operator's right */
        req.body_case = OBT__SERVICE_REQUEST__BODY_SHOW;
        req.show = &show;
        req.corr_id = cmn_bus_next_corr_id();
        cr_assert_eq(s_call(op, &req.base, req.corr_id, error, sizeof error),
                     OBT__STATUS__STATUS_ENOTFOUND, "%s show by the operator: %s", svcs[i], error);
        cmn_bus_client_destroy(&op);
        cmn_bus_client_destroy(&peer);
    }
    /* DOTS's operator API refuses a service key. */
    cmn_bus_client_t *cms = s_client("cms", "dots");
    Obt__Dots__Request dreq = OBT__DOTS__REQUEST__INIT;
    Obt__Dots__Select sel = OBT__DOTS__SELECT__INIT;
    sel.all = true;
    dreq.body_case = OBT__DOTS__REQUEST__BODY_APPROVE;
    dreq.approve = &sel;
    dreq.corr_id = cmn_bus_next_corr_id();
    cr_assert_eq(s_call(cms, &dreq.base, dreq.corr_id, error, sizeof error),
                 OBT__STATUS__STATUS_EPERM, "%s", error);
    cmn_bus_client_destroy(&cms);
    /* obtctl with a daemon's own key (a container's healthcheck) may ask health, and
     * only that: the operator API refuses it */
    static const char *const own_health[] = {"--key", "cms", "health", "cms", NULL};
    static const char *const own_approve[] = {"--key", "cms", "approve", "--all", NULL};
    cr_assert_eq(obt_ctl(&s_suite, own_health, NULL), 0);
    cr_assert_eq(obt_ctl(&s_suite, own_approve, NULL), 1);
    /* the records are untouched and the daemons alive */
    static const char *const health[] = {"health", NULL};
    cr_assert_eq(obt_ctl(&s_suite, health, NULL), 0);
}

Test(auth, an_unknown_key_gets_no_answer_from_any_daemon, .init = s_setup, .fini = s_teardown)
{
    char other[700];
    (void) snprintf(other, sizeof other, "%s/otherkeys", s_dir);
    cr_assert_eq(cmn_bus_keys_create(other, false), CMN_OK);
    /* the stranger knows the servers' public keys, but its own is not in keys/public */
    const char *const servers[] = {"gateway", "dots", "cms", "ams"};
    const char *const eps[] = {s_suite.ep_gw, s_suite.ep_dots, s_suite.ep_cms, s_suite.ep_ams};
    for (size_t i = 0; i < 4; i++) {
        char src[900], dst[900], cmd[2000];
        (void) snprintf(src, sizeof src, "%s/public/%s.cert", s_suite.keys, servers[i]);
        (void) snprintf(dst, sizeof dst, "%s/public/%s.cert", other, servers[i]);
        (void) snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
        cr_assert_eq(system(cmd), 0);
        cmn_err_t err = CMN_EIO;
        cmn_bus_client_t *c = cmn_bus_client_new(eps[i], other, "obtctl", servers[i], &err);
        cr_assert_not_null(c);
        Obt__ServiceRequest req = OBT__SERVICE_REQUEST__INIT;
        Obt__Health h = OBT__HEALTH__INIT;
        req.body_case = OBT__SERVICE_REQUEST__BODY_HEALTH;
        req.health = &h;
        req.corr_id = cmn_bus_next_corr_id();
        uint8_t *data = NULL;
        size_t len = 0;
        cr_assert_eq(cmn_bus_client_call(c, &req.base, req.corr_id, 1500, &data, &len),
                     CMN_ETIMEDOUT, "%s answered a stranger", servers[i]);
        cmn_bus_client_destroy(&c);
    }
}

/* The key of the credential for subject on a dumped device (16 bytes from hex). */
static void
s_cred_key(const char *dev, const char *subject, uint8_t key[16])
{
    char hex[33];
    cr_assert(obt_dump_cred_hex(dev, subject, hex), "no credential for %s", subject);
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        key[i] = (uint8_t) v;
    }
}

/* POSTs payload to path on dev over the PSK session of party me (whose uuid and key
 * for dev are given): what an attacker holding that party's key can do. */
static void
s_post_as(const char *me,
          const char *me_uuid,
          const uint8_t key[16],
          const char *ep,
          const char *path,
          const uint8_t *payload,
          size_t len)
{
    cmn_bus_client_t *c = s_client(me, "gateway");
    cmn_uuid_t id;
    cr_assert_eq(cmn_uuid_from_str(me_uuid, &id), CMN_OK);
    Obt__Gw__Security sec = OBT__GW__SECURITY__INIT;
    sec.kind = OBT__GW__SECURITY_KIND__SEC_PSK;
    sec.psk_identity.data = id.b;
    sec.psk_identity.len = 16;
    sec.psk_key.data = (uint8_t *) (uintptr_t) key;
    sec.psk_key.len = 16;
    Obt__Gw__Reply *r =
            s_gw_exchange(c, ep, NULL, &sec, OBT__GW__METHOD__METHOD_POST, path, payload, len);
    cr_assert(r && r->status == OBT__STATUS__STATUS_OK && r->body_case == OBT__GW__REPLY__BODY_COAP,
              "%s", r ? r->error : "no reply");
    cr_assert_eq(r->coap->code, 204u, "the device answered %u to the %s POST", r->coap->code, path);
    obt__gw__reply__free_unpacked(r, NULL);
    cmn_bus_client_destroy(&c);
}

static void
s_set_dos(const char *me, const char *me_uuid, const uint8_t key[16], const char *ep, int s)
{
    cmn_pstat_t ps = {.present = CMN_PSTAT_HAS_DOS, .dos_s = s};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_pstat_encode(&ps, &buf, &len), CMN_OK);
    s_post_as(me, me_uuid, key, ep, "/oic/sec/pstat", buf, len);
    free(buf);
}

/* What an attacker with CMS's or AMS's key leaves on a device (a credential of its
 * own, an ACE that opens a resource) is reported by the check the tests and the demo
 * run: it compares cred and acl2 with exactly what the services placed. */
Test(auth,
     the_check_reports_a_credential_or_an_ace_that_no_service_placed,
     .init = s_setup,
     .fini = s_teardown,
     .timeout = 120)
{
    static const char *const onboard[] = {"onboard", "--all", "--wait-s", "60", NULL};
    char *out = NULL;
    cr_assert_eq(obt_discover_approve(&s_suite, 2, &out), 0, "%s", out ? out : "");
    cr_assert_eq(obt_ctl_or_dump(&s_suite, &s_sim, onboard, NULL), 0);
    obt_ids_t ids;
    cr_assert_eq(obt_ids(&s_suite, &ids), 0);
    char store[700], why[300];
    (void) snprintf(store, sizeof store, "%s/dots-store", s_dir);
    char *objs[4];
    cr_assert_eq(obt_devsim_dump(s_dir, objs, 4), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert(obt_check_onboarded(objs[i], &ids, store, why, sizeof why), "%s", why);
    }
    char ep0[128], ep1[128];
    s_ep(objs[0], "coaps://", ep0);
    s_ep(objs[1], "coaps://", ep1);
    uint8_t cms_key[16], ams_key[16], owner0[16], owner1[16];
    s_cred_key(objs[0], ids.cms, cms_key);
    s_cred_key(objs[1], ids.ams, ams_key);
    s_cred_key(objs[0], ids.dots, owner0);
    s_cred_key(objs[1], ids.dots, owner1);
    for (int i = 0; i < 2; i++) {
        free(objs[i]);
    }

    /* SVRs are written in RFPRO only: the owner's key moves the devices there and
     * back (what DOTS's repair does), the others write in between */
    s_set_dos("dots", ids.dots, owner0, ep0, CMN_DOS_RFPRO);
    s_set_dos("dots", ids.dots, owner1, ep1, CMN_DOS_RFPRO);

    /* device 0: a credential for a stranger, over CMS's session */
    uint8_t stranger_key[16] = {7};
    cmn_cred_t cred = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                  CMN_CRED_HAS_PRIVATEDATA,
                       .credtype = CMN_CREDTYPE_PSK,
                       .priv_data = stranger_key,
                       .priv_len = 16,
                       .priv_encoding = CMN_ENC_RAW};
    cr_assert_eq(cmn_uuid_from_str("99999999-8888-7777-6666-555555555555", &cred.subjectuuid),
                 CMN_OK);
    cmn_creds_t creds = {.present = CMN_CREDS_HAS_CREDS, .creds = &cred, .n_creds = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_creds_encode(&creds, &buf, &len), CMN_OK);
    s_post_as("cms", ids.cms, cms_key, ep0, "/oic/sec/cred", buf, len);
    free(buf);

    /* device 1: an ACE that lets anyone read and write the light, over AMS's session */
    cmn_ace_t ace;
    memset(&ace, 0, sizeof ace);
    ace.subject_kind = CMN_ACE_SUBJECT_CONNTYPE;
    ace.conntype = CMN_CONNTYPE_ANON_CLEAR;
    ace.n_resources = 1;
    (void) snprintf(ace.resources[0].href, sizeof ace.resources[0].href, "/a/light");
    ace.permission = CMN_PERM_R | CMN_PERM_U;
    cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2, .aces = &ace, .n_aces = 1};
    cr_assert_eq(cmn_acl_encode(&acl, &buf, &len), CMN_OK);
    s_post_as("ams", ids.ams, ams_key, ep1, "/oic/sec/acl2", buf, len);
    free(buf);
    s_set_dos("dots", ids.dots, owner0, ep0, CMN_DOS_RFNOP);
    s_set_dos("dots", ids.dots, owner1, ep1, CMN_DOS_RFNOP);

    cr_assert_eq(obt_devsim_dump(s_dir, objs, 4), 2);
    bool reported[2] = {false, false};
    for (int i = 0; i < 2; i++) {
        cr_assert_not(obt_check_onboarded(objs[i], &ids, store, why, sizeof why),
                      "device %d passed the check with the attacker's entry", i);
        reported[0] = reported[0] || strstr(why, "credential for 99999999") != NULL;
        reported[1] = reported[1] || strstr(why, "an ACE that no service placed") != NULL;
        cr_log_info("device %d: %s", i, why);
        free(objs[i]);
    }
    cr_assert(reported[0], "the stranger's credential was not reported");
    cr_assert(reported[1], "the extra ACE was not reported");
}
