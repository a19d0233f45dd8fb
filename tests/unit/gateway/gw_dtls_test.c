/* gw_dtls_test.c — the Random PIN DOC policy: PPSK from the PIN (OCF-NOTES 6.4),
 * the "oic.sec.doxm.rdp" identity, the device UUID its hint must carry; the
 * manufacturer-certificate DOC policy (opens with anchors, continues without) */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_uuid.h"
#include "gw_dtls.h"

static const char *const s_uuid = "12345678-1234-5678-1234-567812345678";

Test(gw_dtls, rdp_policy_carries_ppsk_identity_and_device)
{
    cmn_uuid_t u;
    gw_dtls_policy_t p;
    cr_assert_eq(cmn_uuid_from_str(s_uuid, &u), CMN_OK);
    cr_assert_eq(gw_dtls_policy_rdp("12345678", u.b, &p), CMN_OK);
    static const uint8_t ppsk[16] = {0x7e, 0x0c, 0x39, 0x4d, 0x65, 0xdd, 0xe2, 0x3a,
                                     0x6d, 0x25, 0x2f, 0x98, 0x33, 0x72, 0x20, 0x6f};
    cr_expect_eq(p.kind, GW_DTLS_RDP);
    cr_assert_eq(p.key_len, 16);
    cr_expect(memcmp(p.key, ppsk, 16) == 0, "PPSK differs from the OCF-NOTES 6.4 vector");
    cr_assert_eq(p.identity_len, 16);
    cr_expect(memcmp(p.identity, "oic.sec.doxm.rdp", 16) == 0);
    cr_expect(memcmp(p.peer_uuid, u.b, 16) == 0);
    cr_expect_not(gw_dtls_policy_continues(&p));
}

Test(gw_dtls, rdp_policy_refuses_a_malformed_pin)
{
    uint8_t uuid[16] = {0x42};
    gw_dtls_policy_t p = {.kind = GW_DTLS_PSK};
    cr_expect_eq(gw_dtls_policy_rdp("1234", uuid, &p), CMN_EINVAL);
    cr_expect_eq(gw_dtls_policy_rdp("abcdefgh", uuid, &p), CMN_EINVAL);
    cr_expect_eq(p.kind, GW_DTLS_PSK, "written on failure");
}

Test(gw_dtls, another_pin_or_device_is_another_session)
{
    uint8_t a[16], b[16];
    memset(a, 0x11, 16);
    memset(b, 0x11, 16);
    b[15] = 0x12;
    gw_dtls_policy_t p1, p2, p3, p4;
    cr_assert_eq(gw_dtls_policy_rdp("11111111", a, &p1), CMN_OK);
    cr_assert_eq(gw_dtls_policy_rdp("11111111", a, &p2), CMN_OK);
    cr_assert_eq(gw_dtls_policy_rdp("11111112", a, &p3), CMN_OK);
    cr_assert_eq(gw_dtls_policy_rdp("11111111", b, &p4), CMN_OK);
    cr_expect(gw_dtls_policy_eq(&p1, &p2));
    cr_expect_not(gw_dtls_policy_eq(&p1, &p3));
    cr_expect_not(gw_dtls_policy_eq(&p1, &p4));
    gw_dtls_policy_t cont = {.kind = GW_DTLS_RDP};
    cr_expect(gw_dtls_policy_continues(&cont), "an RDP policy without key continues the DOC");
}

Test(gw_dtls, mfg_policy_with_anchors_opens_a_new_doc_without_continues)
{
    static const uint8_t pem[] = "-----BEGIN CERTIFICATE-----";
    uint8_t uuid[16];
    memset(uuid, 0x33, 16);
    gw_dtls_policy_t open1, open2;
    gw_dtls_policy_mfg(pem, sizeof pem, uuid, &open1);
    gw_dtls_policy_mfg(pem, sizeof pem, uuid, &open2);
    cr_expect_eq(open1.kind, GW_DTLS_MFG);
    cr_expect(memcmp(open1.peer_uuid, uuid, 16) == 0);
    cr_expect_not(gw_dtls_policy_continues(&open1));
    cr_expect_not(gw_dtls_policy_eq(&open1, &open2), "anchors always open a new DOC");
    gw_dtls_policy_t cont = {.kind = GW_DTLS_MFG};
    cr_expect(gw_dtls_policy_continues(&cont), "an MFG policy without anchors continues the DOC");
}
