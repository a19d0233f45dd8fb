/* sim_device_test.c — devsim state machine, entry checks, write rules, CR2640, store */
#include <cbor.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "sim_device.h"
#include "sim_dump.h"
#include "sim_fault.h"
#include "sim_store.h"

static sim_device_t s_dev;
static const sim_peer_t s_plain = {0};
static sim_peer_t s_doc;

static void
s_setup(void)
{
    memset(&s_dev, 0, sizeof s_dev);
    s_dev.oxms[0] = 0;
    s_dev.n_oxms = 1;
    s_dev.reset_delay_ms = 0;
    cr_assert_eq(sim_device_factory_reset(&s_dev), CMN_OK);
    memset(&s_doc, 0, sizeof s_doc);
    s_doc.is_secure = true;
    s_doc.is_doc = true;
}

static void
s_teardown(void)
{
    sim_device_free(&s_dev);
}

static int
s_post(const sim_peer_t *peer, const char *path, const uint8_t *p, size_t len)
{
    uint8_t *body = NULL;
    size_t blen = 0;
    bool changed = false;
    int code =
            sim_device_handle(&s_dev, peer, SIM_POST, path, NULL, p, len, &body, &blen, &changed);
    free(body);
    return code;
}

static int
s_post_doxm(const sim_peer_t *peer, const cmn_doxm_t *d)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_doxm_encode(d, &buf, &len), CMN_OK);
    int code = s_post(peer, "/oic/sec/doxm", buf, len);
    free(buf);
    return code;
}

static int
s_post_pstat(const sim_peer_t *peer, const cmn_pstat_t *p)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_pstat_encode(p, &buf, &len), CMN_OK);
    int code = s_post(peer, "/oic/sec/pstat", buf, len);
    free(buf);
    return code;
}

static int
s_set_dos(int64_t s)
{
    cmn_pstat_t p = {.present = CMN_PSTAT_HAS_DOS, .dos_s = s};
    return s_post_pstat(&s_doc, &p);
}

/* Runs the owner steps of OCF-NOTES 8.1 directly on the device (as DOC). */
static void
s_own(cmn_uuid_t *owner)
{
    cr_assert_eq(cmn_uuid_generate(owner), CMN_OK);
    s_dev.doc_open = true;
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_DEVOWNERUUID | CMN_DOXM_HAS_ROWNERUUID,
                    .devowneruuid = *owner,
                    .rowneruuid = *owner};
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cmn_pstat_t p = {.present = CMN_PSTAT_HAS_ROWNERUUID, .rowneruuid = *owner};
    cr_assert_eq(s_post_pstat(&s_doc, &p), 204);
    s_dev.acl.rowneruuid = *owner;
    cmn_creds_t c = {.present = CMN_CREDS_HAS_CREDS | CMN_CREDS_HAS_ROWNERUUID,
                     .rowneruuid = *owner};
    uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    cmn_cred_t cred = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                  CMN_CRED_HAS_PRIVATEDATA,
                       .credtype = CMN_CREDTYPE_PSK,
                       .subjectuuid = *owner,
                       .priv_data = key,
                       .priv_len = sizeof key};
    (void) strcpy(cred.priv_encoding, CMN_ENC_RAW);
    c.creds = &cred;
    c.n_creds = 1;
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_creds_encode(&c, &buf, &len), CMN_OK);
    cr_assert_eq(s_post(&s_doc, "/oic/sec/cred", buf, len), 204);
    free(buf);
}

TestSuite(sim_device, .init = s_setup, .fini = s_teardown);

Test(sim_device, factory_state_is_rfotm_unowned)
{
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFOTM);
    cr_assert_eq(s_dev.doxm.oxmsel, 4);
    cr_assert_not(s_dev.doxm.owned);
    cr_assert_not(cmn_uuid_is_nil(&s_dev.doxm.deviceuuid));
    cr_assert(cmn_uuid_is_nil(&s_dev.doxm.devowneruuid));
    cr_assert_eq(s_dev.creds.n_creds, 0);
    cr_assert_eq(s_dev.acl.n_aces, 2);
}

struct transition {
    int64_t from, to;
    bool is_allowed;
};

ParameterizedTestParameters(sim_device, transition_table)
{
    static struct transition t[] = {
            {CMN_DOS_RFOTM, CMN_DOS_RFPRO, true},  {CMN_DOS_RFOTM, CMN_DOS_RFNOP, true},
            {CMN_DOS_RFOTM, CMN_DOS_RESET, true},  {CMN_DOS_RFOTM, CMN_DOS_SRESET, false},
            {CMN_DOS_RFPRO, CMN_DOS_RFNOP, true},  {CMN_DOS_RFPRO, CMN_DOS_RESET, true},
            {CMN_DOS_RFPRO, CMN_DOS_RFOTM, false}, {CMN_DOS_RFNOP, CMN_DOS_RFPRO, true},
            {CMN_DOS_RFNOP, CMN_DOS_SRESET, true}, {CMN_DOS_RFNOP, CMN_DOS_RFOTM, false},
            {CMN_DOS_SRESET, CMN_DOS_RFPRO, true}, {CMN_DOS_SRESET, CMN_DOS_RFNOP, false},
            {CMN_DOS_RESET, CMN_DOS_RFPRO, false},
    };
    return cr_make_param_array(struct transition, t, sizeof t / sizeof t[0]);
}

ParameterizedTest(struct transition *t, sim_device, transition_table)
{
    cr_assert_eq(sim_device_transition_allowed(t->from, t->to), t->is_allowed, "%s -> %s",
                 cmn_dos_name(t->from), cmn_dos_name(t->to));
}

Test(sim_device, rfpro_entry_refused_without_owners)
{
    s_dev.doc_open = true;
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 400);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFOTM);
}

Test(sim_device, rfpro_entry_refused_while_unowned)
{
    cmn_uuid_t owner;
    s_own(&owner);
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 400);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFOTM);
}

Test(sim_device, rfpro_entry_refused_without_owner_cred)
{
    cmn_uuid_t owner;
    s_own(&owner);
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OWNED, .owned = true};
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cr_assert_eq(cmn_uuid_generate(&s_dev.acl.rowneruuid), CMN_OK); /* no cred for it */
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 400);
}

Test(sim_device, rfpro_then_rfnop_after_ownership)
{
    cmn_uuid_t owner;
    s_own(&owner);
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OWNED, .owned = true};
    cr_assert_eq(s_dev.n_transfers, 0);
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cr_assert_eq(s_dev.n_transfers, 1, "owned false -> true: one ownership transfer");
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cr_assert_eq(s_dev.n_transfers, 1, "owned true again is not another");
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 204);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFPRO);
    cr_assert_eq(s_dev.pstat.cm, 0);
    /* the owner over PSK moves on to RFNOP */
    s_dev.doc_open = false;
    sim_peer_t psk = {.is_secure = true, .has_peer = true, .peer = owner};
    cmn_pstat_t p = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_RFNOP};
    cr_assert_eq(s_post_pstat(&psk, &p), 204);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFNOP);
    cr_assert(s_dev.pstat.isop);
    /* back to RFOTM is not a valid transition */
    p.dos_s = CMN_DOS_RFOTM;
    cr_assert_eq(s_post_pstat(&psk, &p), 400);
    /* a stranger over DTLS cannot write pstat */
    sim_peer_t other = {.is_secure = true, .has_peer = true};
    cr_assert_eq(cmn_uuid_generate(&other.peer), CMN_OK);
    p.dos_s = CMN_DOS_RFPRO;
    cr_assert_geq(s_post_pstat(&other, &p), 400);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFNOP);
}

Test(sim_device, oxmsel_only_plain_and_offered)
{
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OXMSEL, .oxmsel = 2};
    cr_assert_eq(s_post_doxm(&s_plain, &d), 400); /* not in oxms */
    d.oxmsel = 0;
    cr_assert_eq(s_post_doxm(&s_plain, &d), 204);
    cr_assert_eq(s_dev.doxm.oxmsel, 0);
    s_dev.doc_open = true;
    cr_assert_eq(s_post_doxm(&s_doc, &d), 400); /* not over DTLS */
}

Test(sim_device, owner_fields_only_over_doc)
{
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_DEVOWNERUUID};
    cr_assert_eq(cmn_uuid_generate(&d.devowneruuid), CMN_OK);
    cr_assert_eq(s_post_doxm(&s_plain, &d), 400);
    cr_assert(cmn_uuid_is_nil(&s_dev.doxm.devowneruuid));
    s_dev.doc_open = true;
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cr_assert(cmn_uuid_eq(&s_dev.doxm.devowneruuid, &d.devowneruuid));
}

Test(sim_device, deviceuuid_change_moves_oic_d_di)
{
    s_dev.doc_open = true;
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_DEVICEUUID};
    cr_assert_eq(cmn_uuid_generate(&d.deviceuuid), CMN_OK);
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    uint8_t *body = NULL;
    size_t len = 0;
    bool changed = false;
    cr_assert_eq(sim_device_handle(&s_dev, &s_doc, SIM_GET, "/oic/d", NULL, NULL, 0, &body, &len,
                                   &changed),
                 205);
    cmn_d_t od;
    cr_assert_eq(cmn_d_decode(body, len, &od), CMN_OK);
    free(body);
    cr_assert(cmn_uuid_eq(&od.di, &d.deviceuuid));
}

Test(sim_device, unknown_property_and_dos_p_rejected)
{
    /* {"owned": false, "bogus": 1} */
    static const uint8_t unknown[] = {0xa2, 0x65, 'o', 'w', 'n', 'e', 'd', 0xf4,
                                      0x65, 'b',  'o', 'g', 'u', 's', 0x01};
    s_dev.doc_open = true;
    cr_assert_eq(s_post(&s_doc, "/oic/sec/doxm", unknown, sizeof unknown), 400);
    /* {"dos": {"s": 1, "p": false}} */
    static const uint8_t dos_p[] = {0xa1, 0x63, 'd',  'o',  's', 0xa2,
                                    0x61, 's',  0x01, 0x61, 'p', 0xf4};
    cr_assert_eq(s_post(&s_doc, "/oic/sec/pstat", dos_p, sizeof dos_p), 400);
}

Test(sim_device, plain_coap_refused_while_doc_open)
{
    s_dev.doc_open = true;
    uint8_t *body = NULL;
    size_t len = 0;
    bool changed = false;
    int code = sim_device_handle(&s_dev, &s_plain, SIM_GET, "/oic/sec/doxm", NULL, NULL, 0, &body,
                                 &len, &changed);
    free(body);
    cr_assert_eq(code, 401);
}

Test(sim_device, doc_close_in_rfotm_resets_identity)
{
    cmn_uuid_t before = s_dev.doxm.deviceuuid;
    cmn_uuid_t owner;
    s_own(&owner);
    sim_device_doc_closed(&s_dev);
    cr_assert_not(s_dev.doc_open);
    /* the reset is scheduled at once; the event loop (sim_world) then applies it */
    cr_assert_neq(s_dev.reset_at_ms, 0);
    cr_assert_eq(sim_device_factory_reset(&s_dev), CMN_OK);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFOTM);
    cr_assert_not(cmn_uuid_eq(&s_dev.doxm.deviceuuid, &before));
    cr_assert(cmn_uuid_is_nil(&s_dev.doxm.devowneruuid));
    cr_assert_eq(s_dev.creds.n_creds, 0);
    cr_assert_eq(s_dev.reset_at_ms, 0);
}

Test(sim_device, doc_close_after_rfpro_keeps_state)
{
    cmn_uuid_t owner;
    s_own(&owner);
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OWNED, .owned = true};
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 204);
    sim_device_doc_closed(&s_dev);
    cr_assert_eq(s_dev.reset_at_ms, 0);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFPRO);
}

Test(sim_device, reset_request_schedules_reset)
{
    cmn_uuid_t owner;
    s_own(&owner);
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OWNED, .owned = true};
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 204);
    s_dev.doc_open = false;
    sim_peer_t psk = {.is_secure = true, .has_peer = true, .peer = owner};
    cmn_pstat_t p = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_RESET};
    cr_assert_eq(s_post_pstat(&psk, &p), 204);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RESET);
    cr_assert_neq(s_dev.reset_at_ms, 0);
}

Test(sim_device, cr2640_query_matching)
{
    cr_assert(sim_device_mcast_doxm_matches(&s_dev, NULL));
    cr_assert(sim_device_mcast_doxm_matches(&s_dev, "owned=FALSE"));
    cr_assert(sim_device_mcast_doxm_matches(&s_dev, "Owned=false"));
    cr_assert(sim_device_mcast_doxm_matches(&s_dev, "owned=FaLsE"));
    cr_assert_not(sim_device_mcast_doxm_matches(&s_dev, "owned=TRUE"));
    cr_assert_not(sim_device_mcast_doxm_matches(&s_dev, "owned=maybe"));
    s_dev.doc_open = true;
    cr_assert_not(sim_device_mcast_doxm_matches(&s_dev, "owned=FALSE"));
    cr_assert_not(sim_device_mcast_doxm_matches(&s_dev, NULL));
    s_dev.doc_open = false;
    s_dev.doxm.owned = true;
    s_dev.pstat.dos_s = CMN_DOS_RFNOP;
    cr_assert(sim_device_mcast_doxm_matches(&s_dev, "owned=TRUE"));
    cr_assert_not(sim_device_mcast_doxm_matches(&s_dev, "owned=FALSE"));
    cr_assert_not(sim_device_mcast_doxm_matches(&s_dev, NULL));
}

Test(sim_device, store_roundtrip_keeps_everything)
{
    char tmpl[] = "/tmp/sim_store_XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    (void) snprintf(s_dev.dir, sizeof s_dev.dir, "%s/dev-0000", tmpl);
    cr_assert_eq(mkdir(s_dev.dir, 0700), 0);
    cmn_uuid_t owner;
    s_own(&owner);
    s_dev.udp_port = 40001;
    s_dev.dtls_port = 40002;
    s_dev.n_transfers = 3;
    cr_assert_eq(sim_device_factory_reset(&s_dev), CMN_OK);
    cr_assert_eq(s_dev.n_transfers, 3, "a reset keeps the count of ownership transfers");
    s_own(&owner);
    cr_assert_eq(sim_store_save(&s_dev, true), CMN_OK);

    char path[600];
    (void) snprintf(path, sizeof path, "%s/state.cbor", s_dev.dir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);

    sim_device_t loaded;
    memset(&loaded, 0, sizeof loaded);
    (void) strcpy(loaded.dir, s_dev.dir);
    cr_assert_eq(sim_store_load(&loaded), CMN_OK);
    cr_assert(cmn_uuid_eq(&loaded.doxm.deviceuuid, &s_dev.doxm.deviceuuid));
    cr_assert(cmn_uuid_eq(&loaded.doxm.devowneruuid, &owner));
    cr_assert(cmn_uuid_eq(&loaded.pstat.rowneruuid, &owner));
    cr_assert_eq(loaded.pstat.dos_s, s_dev.pstat.dos_s);
    cr_assert_eq(loaded.acl.n_aces, s_dev.acl.n_aces);
    cr_assert_eq(loaded.creds.n_creds, 1);
    const cmn_cred_t *k = sim_device_find_psk(&loaded, owner.b);
    cr_assert_not_null(k);
    cr_assert_eq(k->priv_len, 16);
    cr_assert_eq(k->priv_data[0], 1);
    cr_assert_eq(k->priv_data[15], 16);
    cr_assert_eq(loaded.udp_port, 40001);
    cr_assert_eq(loaded.dtls_port, 40002);
    cr_assert_eq(loaded.n_transfers, 3);
    sim_device_free(&loaded);

    /* a corrupt file is reported, not trusted */
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    (void) fputs("not cbor", f);
    (void) fclose(f);
    memset(&loaded, 0, sizeof loaded);
    (void) strcpy(loaded.dir, s_dev.dir);
    cr_assert_eq(sim_store_load(&loaded), CMN_EPROTO);
    sim_device_free(&loaded);
    (void) unlink(path);
    (void) rmdir(s_dev.dir);
    (void) rmdir(tmpl);
}

Test(sim_fault, parses_spec_and_rejects_bad_entries)
{
    sim_device_t devs[3];
    memset(devs, 0, sizeof devs);
    cr_assert_eq(sim_fault_parse("0:bad-cbor:/oic/sec/doxm,2:bad-coap", devs, 3), CMN_OK);
    cr_assert_eq(devs[0].fault, SIM_FAULT_BAD_CBOR);
    cr_assert_str_eq(devs[0].fault_path, "/oic/sec/doxm");
    cr_assert_eq(devs[1].fault, SIM_FAULT_NONE);
    cr_assert_eq(devs[2].fault, SIM_FAULT_BAD_COAP);
    cr_assert_eq(sim_fault_parse("1:silent:/oic/sec/pstat", devs, 3), CMN_OK);
    cr_assert_eq(devs[1].fault, SIM_FAULT_SILENT);
    cr_assert_eq(sim_fault_parse("", devs, 3), CMN_OK);
    cr_assert_eq(sim_fault_parse("3:error:/oic/sec/cred", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("x:error", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("0:explode", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("2:stop:2:POST:/oic/sec/acl2,0:stop-maint:/oic/sec/acl2", devs, 3),
                 CMN_OK);
    cr_assert_eq(devs[2].fault, SIM_FAULT_STOP_NTH);
    cr_assert_eq(devs[2].stop_nth, 2);
    cr_assert_eq(devs[2].stop_method, SIM_POST);
    cr_assert_str_eq(devs[2].fault_path, "/oic/sec/acl2");
    cr_assert_eq(devs[0].fault, SIM_FAULT_STOP_MAINT);
    cr_assert_eq(sim_fault_parse("0:stop:0:GET:/oic/sec/cred", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("0:stop:1:FETCH:/oic/sec/cred", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("0:stop:1:GET", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("0:stop", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("1:refuse-dtls:3", devs, 3), CMN_OK);
    cr_assert_eq(devs[1].fault, SIM_FAULT_REFUSE_DTLS);
    cr_assert_eq(devs[1].refuse_left, 3);
    cr_assert_eq(sim_fault_parse("1:refuse-dtls", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("1:refuse-dtls:0", devs, 3), CMN_EINVAL);
    cr_assert_eq(sim_fault_parse("1:refuse-dtls:2x", devs, 3), CMN_EINVAL);
    char longspec[200];
    (void) snprintf(longspec, sizeof longspec, "0:error:/%0100d", 0);
    cr_assert_eq(sim_fault_parse(longspec, devs, 3), CMN_EINVAL);
}

Test(sim_fault, error_fault_answers_bad_request_to_posts)
{
    sim_device_t dev;
    memset(&dev, 0, sizeof dev);
    dev.oxms[0] = 0;
    dev.n_oxms = 1;
    cr_assert_eq(sim_device_factory_reset(&dev), CMN_OK);
    cr_assert_eq(sim_fault_parse("0:error:/oic/sec/doxm", &dev, 1), CMN_OK);
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OXMSEL, .oxmsel = 0};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_doxm_encode(&d, &buf, &len), CMN_OK);
    uint8_t *body = NULL;
    size_t blen = 0;
    bool changed = false;
    sim_peer_t plain = {0};
    int code = sim_device_handle(&dev, &plain, SIM_POST, "/oic/sec/doxm", NULL, buf, len, &body,
                                 &blen, &changed);
    free(body);
    free(buf);
    cr_assert_eq(code, 400);
    cr_assert_eq(dev.doxm.oxmsel, 4);
    sim_device_free(&dev);
}

TestSuite(sim_dump, .init = s_setup, .fini = s_teardown);

Test(sim_dump, prints_persisted_devices_as_json)
{
    char tmpl[] = "/tmp/sim_dump_XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    (void) snprintf(s_dev.dir, sizeof s_dev.dir, "%s/dev-0000", tmpl);
    cr_assert_eq(mkdir(s_dev.dir, 0700), 0);
    cmn_uuid_t owner;
    s_own(&owner);
    (void) snprintf(s_dev.address, sizeof s_dev.address, "127.0.0.1");
    s_dev.udp_port = 40011;
    s_dev.dtls_port = 40012;
    cr_assert_eq(sim_store_save(&s_dev, false), CMN_OK);

    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    cr_assert_not_null(f);
    cr_assert_eq(sim_dump_dir(tmpl, f), CMN_OK);
    (void) fclose(f);
    char uuid[CMN_UUID_STR_LEN + 1];
    cmn_uuid_to_str(&s_dev.doxm.deviceuuid, uuid);
    cr_assert_not_null(strstr(out, uuid), "%s", out);
    cr_assert_not_null(strstr(out, "\"index\":0"), "%s", out);
    cr_assert_not_null(strstr(out, "\"privatedata_hex\":\"0102030405060708090a0b0c0d0e0f10\""),
                       "%s", out);
    cr_assert_not_null(strstr(out, "\"state\":\"RFOTM\""), "%s", out);
    cr_assert_eq(out[0], '[');
    free(out);

    char path[600];
    (void) snprintf(path, sizeof path, "%s/state.cbor", s_dev.dir);
    (void) unlink(path);
    (void) rmdir(s_dev.dir);
    (void) rmdir(tmpl);
}

/* OCF-NOTES 5.1/5.2: SRESET is entered from RFNOP, left only for RFPRO (or RESET); in
 * it the owner may correct doxm.rowneruuid (Table 1), pstat.rowneruuid and ACEs, but
 * not ownership, and NCRs are closed. */
Test(sim_device, sreset_transitions_and_writes)
{
    cmn_uuid_t owner;
    s_own(&owner);
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OWNED, .owned = true};
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 204);
    cr_assert_eq(s_set_dos(CMN_DOS_RFNOP), 204);
    s_dev.doc_open = false;
    sim_peer_t psk = {.is_secure = true, .has_peer = true, .peer = owner};
    cmn_pstat_t to_sreset = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_SRESET};
    cr_assert_eq(s_post_pstat(&psk, &to_sreset), 204);
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_SRESET);
    cr_assert_eq(s_dev.pstat.cm, 1);
    cr_assert_not(s_dev.pstat.isop);

    cmn_doxm_t rowner = {.present = CMN_DOXM_HAS_ROWNERUUID, .rowneruuid = owner};
    cr_assert_eq(s_post_doxm(&psk, &rowner), 204, "doxm.rowneruuid is correctable in SRESET");
    cmn_doxm_t owned = {.present = CMN_DOXM_HAS_OWNED, .owned = false};
    cr_assert_eq(s_post_doxm(&psk, &owned), 400, "ownership is not");
    cmn_pstat_t prowner = {.present = CMN_PSTAT_HAS_ROWNERUUID, .rowneruuid = owner};
    cr_assert_eq(s_post_pstat(&psk, &prowner), 204);

    uint8_t *body = NULL;
    size_t len = 0;
    bool changed = false;
    cr_assert_eq(sim_device_handle(&s_dev, &psk, SIM_GET, "/a/light", NULL, NULL, 0, &body, &len,
                                   &changed),
                 403, "NCRs only in RFNOP");
    free(body);

    cmn_pstat_t to_rfnop = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_RFNOP};
    cr_assert_eq(s_post_pstat(&psk, &to_rfnop), 400, "SRESET -> RFNOP is not a transition");
    cmn_pstat_t to_rfpro = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_RFPRO};
    cr_assert_eq(s_post_pstat(&psk, &to_rfpro), 204);
    cr_assert_eq(s_post_pstat(&psk, &to_rfnop), 204);
    cr_assert(s_dev.pstat.isop);
}

/* OCF Bridging (docs/bridges.md): s_dev is the Bridge, vod one of its VODs. */
static sim_device_t s_vod;

static int
s_get(sim_device_t *dev, const sim_peer_t *peer, const char *path, uint8_t **body, size_t *len)
{
    bool changed = false;
    return sim_device_handle(dev, peer, SIM_GET, path, NULL, NULL, 0, body, len, &changed);
}

static void
s_make_bridge(sim_device_t all[2])
{
    memset(&s_vod, 0, sizeof s_vod);
    s_vod.idx = 1;
    s_vod.oxms[0] = 0;
    s_vod.n_oxms = 1;
    cr_assert_eq(sim_device_factory_reset(&s_vod), CMN_OK);
    s_dev.is_bridge = true;
    s_dev.bridge_idx = -1;
    s_vod.bridge_idx = 0;
    s_vod.bridge = &s_dev;
    all[0] = s_dev; /* the vodlist only compares the bridge pointer and reads the uuid */
    all[1] = s_vod;
    all[1].bridge = &s_dev;
    s_dev.all = all;
    s_dev.n_all = 2;
}

Test(sim_device, an_unowned_vod_is_hidden_while_its_bridge_is_unowned)
{
    sim_device_t all[2];
    s_make_bridge(all);
    uint8_t *body = NULL;
    size_t len = 0;
    cr_assert(sim_device_is_hidden(&s_vod));
    cr_assert_eq(s_get(&s_vod, &s_plain, "/oic/sec/doxm", &body, &len), 0, "no answer at all");
    cr_assert_eq(s_get(&s_vod, &s_plain, "/oic/res", &body, &len), 0);
    cr_assert_null(body);
    s_dev.doxm.owned = true;
    cr_assert_not(sim_device_is_hidden(&s_vod));
    cr_assert_eq(s_get(&s_vod, &s_plain, "/oic/sec/doxm", &body, &len), 205);
    free(body);
    cr_assert_eq(s_get(&s_vod, &s_plain, "/oic/d", &body, &len), 205);
    cmn_d_t d;
    cr_assert_eq(cmn_d_decode(body, len, &d), CMN_OK);
    free(body);
    cr_assert_eq(d.n_rt, 3);
    cr_assert_str_eq(d.rt[2], "oic.d.virtual");
    /* An owned VOD stays reachable whatever its Bridge does. */
    s_vod.doxm.owned = true;
    s_dev.doxm.owned = false;
    cr_assert_not(sim_device_is_hidden(&s_vod));
    sim_device_free(&s_vod);
}

Test(sim_device, the_vodlist_is_read_by_the_bridges_owner_in_rfnop)
{
    sim_device_t all[2];
    s_make_bridge(all);
    uint8_t *body = NULL;
    size_t len = 0;
    cr_assert_eq(s_get(&s_dev, &s_plain, "/oic/d", &body, &len), 205);
    cmn_d_t d;
    cr_assert_eq(cmn_d_decode(body, len, &d), CMN_OK);
    free(body);
    cr_assert_str_eq(d.rt[1], "oic.d.bridge");

    cmn_uuid_t owner, other;
    s_own(&owner);
    cmn_doxm_t owned = {.present = CMN_DOXM_HAS_OWNED, .owned = true};
    cr_assert_eq(s_post_doxm(&s_doc, &owned), 204);
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 204);
    sim_peer_t psk = {.is_secure = true, .has_peer = true, .peer = owner};
    cr_assert_eq(s_get(&s_dev, &psk, CMN_VODLIST_HREF, &body, &len), 403, "NCR: RFNOP only");
    cr_assert_eq(s_set_dos(CMN_DOS_RFNOP), 204);
    s_dev.doc_open = false;
    cr_assert_eq(cmn_uuid_generate(&other), CMN_OK);
    sim_peer_t stranger = {.is_secure = true, .has_peer = true, .peer = other};
    cr_assert_eq(s_get(&s_dev, &stranger, CMN_VODLIST_HREF, &body, &len), 403);
    cr_assert_eq(s_get(&s_dev, &s_plain, CMN_VODLIST_HREF, &body, &len), 401);
    cr_assert_eq(s_get(&s_dev, &psk, CMN_VODLIST_HREF, &body, &len), 205);
    cmn_vodlist_t v;
    cr_assert_eq(cmn_vodlist_decode(body, len, &v), CMN_OK);
    free(body);
    cr_assert_eq(v.n_vods, 1);
    cr_assert(cmn_uuid_eq(&v.vods[0].di, &s_vod.doxm.deviceuuid));
    cr_assert_str_eq(v.vods[0].econame, "devsim");
    /* A device that is not a Bridge gives its owner no such right (the ACL decides). */
    s_dev.is_bridge = false;
    cr_assert_eq(s_get(&s_dev, &psk, CMN_VODLIST_HREF, &body, &len), 403);
    free(body);
    sim_device_free(&s_vod);
}

Test(sim_device, the_bridge_relation_survives_a_restart)
{
    char tmpl[] = "/tmp/sim_bridge_XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    (void) snprintf(s_dev.dir, sizeof s_dev.dir, "%s", tmpl);
    s_dev.bridge_idx = 3;
    cr_assert_eq(sim_store_save(&s_dev, false), CMN_OK);
    sim_device_t back;
    memset(&back, 0, sizeof back);
    back.bridge_idx = -1;
    (void) snprintf(back.dir, sizeof back.dir, "%s", tmpl);
    cr_assert_eq(sim_store_load(&back), CMN_OK);
    cr_assert_eq(back.bridge_idx, 3);
    cr_assert_not(back.is_bridge);
    sim_device_free(&back);
    char path[600];
    (void) snprintf(path, sizeof path, "%s/state.cbor", tmpl);
    (void) unlink(path);
    (void) rmdir(tmpl);
}

/* An OBT that died with the DOC open: the device drops it after --doc-idle-ms and,
 * still in RFOTM, resets (not two minutes of libcoap's session timeout). */
Test(sim_device, an_idle_doc_is_dropped_and_an_rfotm_device_resets)
{
    s_dev.doc_idle_ms = 1000;
    s_dev.doc_open = true;
    s_dev.doc_last_ms = 5000;
    cr_assert_not(sim_device_doc_expire(&s_dev, 5999), "dropped before its idle time");
    cr_assert_eq(s_dev.reset_at_ms, 0u);
    cr_assert(sim_device_doc_expire(&s_dev, 6000));
    cr_assert_not(s_dev.doc_open);
    cr_assert_neq(s_dev.reset_at_ms, 0u, "an RFOTM device must reset when its DOC goes");
    cr_assert_not(sim_device_doc_expire(&s_dev, 9000), "no DOC left to drop");
}

/* A device stored in RFOTM half-owned (a crash cut the transfer short) resets at boot;
 * a pristine one keeps its uuid. */
Test(sim_device, a_half_owned_rfotm_device_resets_at_boot)
{
    cmn_uuid_t first = s_dev.doxm.deviceuuid;
    cr_assert_not(sim_device_boot_check(&s_dev), "a pristine device was reset");
    cr_assert(cmn_uuid_eq(&s_dev.doxm.deviceuuid, &first));
    cr_assert_eq(
            cmn_uuid_from_str("11111111-2222-3333-4444-555555555555", &s_dev.doxm.devowneruuid),
            CMN_OK);
    s_dev.doxm.owned = true;
    cr_assert(sim_device_boot_check(&s_dev));
    cr_assert_not(s_dev.doxm.owned);
    cr_assert(cmn_uuid_is_nil(&s_dev.doxm.devowneruuid));
    cr_assert_not(cmn_uuid_eq(&s_dev.doxm.deviceuuid, &first), "a reset device has a new uuid");
    cr_assert_eq(s_dev.pstat.dos_s, CMN_DOS_RFOTM);
}

/* POSTs acl2 {aclist2: [{subject: {uuid: <subject, len bytes>}, resources: [{href:
 * "/a/light"}], permission: 2}]} as the DOC; returns the code. */
static int
s_post_ace_subject(const char *subject, size_t len)
{
    cbor_item_t *sub = cbor_new_definite_map(1);
    cbor_item_t *res = cbor_new_definite_map(1);
    cbor_item_t *ress = cbor_new_definite_array(1);
    cbor_item_t *ace = cbor_new_definite_map(3);
    cbor_item_t *aces = cbor_new_definite_array(1);
    cbor_item_t *root = cbor_new_definite_map(1);
    cr_assert(sub && res && ress && ace && aces && root);
    cr_assert(cbor_map_add(sub, (struct cbor_pair){cbor_move(cbor_build_string("uuid")),
                                                   cbor_move(cbor_build_stringn(subject, len))}));
    cr_assert(cbor_map_add(res, (struct cbor_pair){cbor_move(cbor_build_string("href")),
                                                   cbor_move(cbor_build_string("/a/light"))}));
    cr_assert(cbor_array_push(ress, cbor_move(res)));
    cr_assert(cbor_map_add(
            ace, (struct cbor_pair){cbor_move(cbor_build_string("subject")), cbor_move(sub)}));
    cr_assert(cbor_map_add(
            ace, (struct cbor_pair){cbor_move(cbor_build_string("resources")), cbor_move(ress)}));
    cr_assert(cbor_map_add(ace, (struct cbor_pair){cbor_move(cbor_build_string("permission")),
                                                   cbor_move(cbor_build_uint8(2))}));
    cr_assert(cbor_array_push(aces, cbor_move(ace)));
    cr_assert(cbor_map_add(
            root, (struct cbor_pair){cbor_move(cbor_build_string("aclist2")), cbor_move(aces)}));
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t n = cbor_serialize_alloc(root, &buf, &cap);
    cbor_decref(&root);
    cr_assert_gt(n, 0);
    int code = s_post(&s_doc, "/oic/sec/acl2", buf, n);
    free(buf);
    return code;
}

/* A widely deployed OBT sends ACE subject UUIDs as 37-byte text (the 36 characters and
 * a NUL): accepted, stored as the UUID; anything else malformed is still 4.00. */
Test(sim_device, ace_subject_uuid_with_trailing_nul_is_accepted)
{
    cmn_uuid_t owner;
    s_own(&owner);
    static const char subject[] = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
    size_t before = s_dev.acl.n_aces;
    cr_assert_eq(s_post_ace_subject(subject, sizeof subject), 204, "37 bytes with the NUL");
    cr_assert_eq(s_dev.acl.n_aces, before + 1);
    cmn_uuid_t want;
    cr_assert_eq(cmn_uuid_from_str(subject, &want), CMN_OK);
    cr_expect(cmn_uuid_eq(&s_dev.acl.aces[before].subject_uuid, &want));
    cr_assert_eq(s_post_ace_subject(subject, sizeof subject - 1), 204, "36 characters");
    cr_assert_eq(s_dev.acl.n_aces, before + 2);
    static const char two_nuls[] = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3\0";
    cr_expect_eq(s_post_ace_subject(two_nuls, sizeof two_nuls), 400, "two NULs");
    static const char inner[] = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d\0"
                                "3";
    cr_expect_eq(s_post_ace_subject(inner, sizeof inner), 400, "NUL inside");
    cr_expect_eq(s_dev.acl.n_aces, before + 2, "a refused ACE was stored");
}

static int
s_delete(const sim_peer_t *peer, const char *path, const char *query)
{
    uint8_t *body = NULL;
    size_t blen = 0;
    bool changed = false;
    int code = sim_device_handle(&s_dev, peer, SIM_DELETE, path, query, NULL, 0, &body, &blen,
                                 &changed);
    free(body);
    cr_assert_eq(changed, code >= 200 && code < 300);
    return code;
}

/* POSTs one PSK credential for a fresh subject as peer; returns its credid. */
static int64_t
s_add_psk_cred(const sim_peer_t *peer)
{
    uint8_t key[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    cmn_cred_t cred = {.present = CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                  CMN_CRED_HAS_PRIVATEDATA,
                       .credtype = CMN_CREDTYPE_PSK,
                       .priv_data = key,
                       .priv_len = sizeof key};
    cr_assert_eq(cmn_uuid_generate(&cred.subjectuuid), CMN_OK);
    (void) strcpy(cred.priv_encoding, CMN_ENC_RAW);
    cmn_creds_t c = {.present = CMN_CREDS_HAS_CREDS, .creds = &cred, .n_creds = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_creds_encode(&c, &buf, &len), CMN_OK);
    cr_assert_eq(s_post(peer, "/oic/sec/cred", buf, len), 204);
    free(buf);
    return s_dev.creds.creds[s_dev.creds.n_creds - 1].credid;
}

static bool
s_has_cred(int64_t id)
{
    for (size_t i = 0; i < s_dev.creds.n_creds; i++) {
        if (s_dev.creds.creds[i].credid == id) {
            return true;
        }
    }
    return false;
}

Test(sim_device, cred_delete_by_credid_and_all_but_owner)
{
    cmn_uuid_t owner;
    s_own(&owner);
    cr_assert_eq(s_dev.creds.n_creds, 1);
    int64_t owner_id = s_dev.creds.creds[0].credid;
    int64_t a = s_add_psk_cred(&s_doc);
    int64_t b = s_add_psk_cred(&s_doc);
    cr_assert_eq(s_dev.creds.n_creds, 3);
    char q[32];
    (void) snprintf(q, sizeof q, "credid=%lld", (long long) a);
    cr_expect_eq(s_delete(&s_doc, "/oic/sec/cred", q), 202);
    cr_expect_not(s_has_cred(a));
    cr_expect(s_has_cred(b) && s_has_cred(owner_id));
    cr_expect_eq(s_delete(&s_doc, "/oic/sec/cred", q), 404, "deleted twice");
    cr_expect_eq(s_delete(&s_doc, "/oic/sec/cred", "credid=abc"), 400);
    cr_expect_eq(s_delete(&s_doc, "/oic/sec/cred", "credid=-1"), 400);
    cr_expect_eq(s_delete(&s_doc, "/oic/sec/cred", "subjectuuid=x"), 400, "unsupported filter");
    cr_expect_eq(s_dev.creds.n_creds, 2, "a refused DELETE removed something");
    (void) s_add_psk_cred(&s_doc);
    cr_expect_eq(s_delete(&s_doc, "/oic/sec/cred", NULL), 202);
    cr_assert_eq(s_dev.creds.n_creds, 1, "all but the owner credential");
    cr_expect_eq(s_dev.creds.creds[0].credid, owner_id);

    /* RFPRO: the owner (implicit access, rowneruuid of cred) may delete; a stranger may not */
    cmn_doxm_t d = {.present = CMN_DOXM_HAS_OWNED, .owned = true};
    cr_assert_eq(s_post_doxm(&s_doc, &d), 204);
    cr_assert_eq(s_set_dos(CMN_DOS_RFPRO), 204);
    s_dev.doc_open = false;
    sim_peer_t psk = {.is_secure = true, .has_peer = true, .peer = owner};
    int64_t c = s_add_psk_cred(&psk);
    sim_peer_t other = {.is_secure = true, .has_peer = true};
    cr_assert_eq(cmn_uuid_generate(&other.peer), CMN_OK);
    (void) snprintf(q, sizeof q, "credid=%lld", (long long) c);
    cr_expect_eq(s_delete(&other, "/oic/sec/cred", q), 403);
    cr_expect_eq(s_delete(&s_plain, "/oic/sec/cred", q), 401);
    cr_expect(s_has_cred(c));
    cr_expect_eq(s_delete(&psk, "/oic/sec/cred", q), 202);
    cr_expect_not(s_has_cred(c));

    /* RFNOP: no credential changes */
    c = s_add_psk_cred(&psk);
    cmn_pstat_t p = {.present = CMN_PSTAT_HAS_DOS, .dos_s = CMN_DOS_RFNOP};
    cr_assert_eq(s_post_pstat(&psk, &p), 204);
    (void) snprintf(q, sizeof q, "credid=%lld", (long long) c);
    cr_expect_eq(s_delete(&psk, "/oic/sec/cred", q), 403);
    cr_expect_eq(s_delete(&psk, "/oic/sec/cred", NULL), 403);
    cr_expect(s_has_cred(c));
}
