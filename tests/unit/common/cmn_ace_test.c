/* cmn_ace_test.c — ACE resources by rt and if, validity periods (CBOR round trip and
 * refusals), and the numeric comparison of OCF versions (icv, Table 2) */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr.h"

Test(cmn_ace, rt_if_and_validity_survive_a_round_trip)
{
    cmn_ace_t ace;
    memset(&ace, 0, sizeof ace);
    ace.aceid = 7;
    ace.subject_kind = CMN_ACE_SUBJECT_ROLE;
    strcpy(ace.role, "oic.role.light");
    strcpy(ace.authority, "acme");
    strcpy(ace.resources[0].rt[0], "oic.r.switch.binary");
    strcpy(ace.resources[0].rt[1], "oic.r.temperature");
    ace.resources[0].n_rt = 2;
    strcpy(ace.resources[0].ifs[0], "oic.if.a");
    ace.resources[0].n_ifs = 1;
    strcpy(ace.resources[1].wc, "-");
    ace.n_resources = 2;
    ace.permission = CMN_PERM_R | CMN_PERM_U;
    strcpy(ace.validity[0], "20260101T000000Z/P1D");
    ace.n_validity = 1;
    cmn_acl_t acl = {.present = CMN_ACL_HAS_ACLIST2, .aces = &ace, .n_aces = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_acl_encode(&acl, &buf, &len), CMN_OK);
    cmn_acl_t back;
    cr_assert_eq(cmn_acl_decode(buf, len, &back), CMN_OK);
    free(buf);
    cr_assert_eq(back.n_aces, 1);
    const cmn_ace_t *b = &back.aces[0];
    cr_assert_eq(b->n_resources, 2);
    cr_assert_eq(b->resources[0].n_rt, 2);
    cr_assert_str_eq(b->resources[0].rt[1], "oic.r.temperature");
    cr_assert_eq(b->resources[0].n_ifs, 1);
    cr_assert_str_eq(b->resources[0].ifs[0], "oic.if.a");
    cr_assert_str_eq(b->resources[1].wc, "-");
    cr_assert_eq(b->n_validity, 1);
    cr_assert_str_eq(b->validity[0], "20260101T000000Z/P1D");
    cr_assert_eq(b->n_recurrence, 0);
    cr_assert_str_eq(b->authority, "acme");
    cmn_acl_free(&back);
}

/* {"aclist2":[{"subject":{"conntype":"auth-crypt"},"resources":[RES],"permission":2,
 * EXTRA}]} built from CBOR diagnostic bytes. */
static cmn_err_t
s_decode_one(const uint8_t *res, size_t res_len, const uint8_t *extra, size_t extra_len)
{
    static const uint8_t head[] = {0xa1, 0x67, 'a', 'c', 'l', 'i', 's', 't', '2', 0x81};
    static const uint8_t subj[] = {0x67, 's', 'u', 'b', 'j', 'e', 'c', 't', 0xa1, 0x68,
                                   'c',  'o', 'n', 'n', 't', 'y', 'p', 'e', 0x6a, 'a',
                                   'u',  't', 'h', '-', 'c', 'r', 'y', 'p', 't',  0x69,
                                   'r',  'e', 's', 'o', 'u', 'r', 'c', 'e', 's',  0x81};
    static const uint8_t perm[] = {0x6a, 'p', 'e', 'r', 'm', 'i', 's', 's', 'i', 'o', 'n', 0x02};
    uint8_t buf[512];
    size_t n = 0;
    memcpy(buf, head, sizeof head);
    n += sizeof head;
    buf[n++] = (uint8_t) (extra_len ? 0xa4 : 0xa3);
    memcpy(buf + n, subj, sizeof subj);
    n += sizeof subj;
    memcpy(buf + n, res, res_len);
    n += res_len;
    memcpy(buf + n, perm, sizeof perm);
    n += sizeof perm;
    if (extra_len > 0) {
        memcpy(buf + n, extra, extra_len);
        n += extra_len;
    }
    cmn_acl_t acl;
    cmn_err_t err = cmn_acl_decode(buf, n, &acl);
    if (err == CMN_OK) {
        cr_assert_eq(acl.n_aces, 1);
        cmn_acl_free(&acl);
    }
    return err;
}

Test(cmn_ace, malformed_rt_if_and_validity_are_refused)
{
    /* {"href":"/x","rt":"notarray"} */
    static const uint8_t rt_text[] = {0xa2, 0x64, 'h',  'r', 'e', 'f',  0x62,
                                      '/',  'x',  0x62, 'r', 't', 0x61, 'y'};
    cr_assert_eq(s_decode_one(rt_text, sizeof rt_text, NULL, 0), CMN_EPROTO);
    /* {"if":["oic.if.a"]}: names no resource */
    static const uint8_t if_only[] = {0xa1, 0x62, 'i', 'f', 0x81, 0x68, 'o',
                                      'i',  'c',  '.', 'i', 'f',  '.',  'a'};
    cr_assert_eq(s_decode_one(if_only, sizeof if_only, NULL, 0), CMN_EPROTO);
    /* {"rt":["a","b","c","d"]}: more types than kept */
    static const uint8_t rt_many[] = {0xa1, 0x62, 'r',  't', 0x84, 0x61, 'a',
                                      0x61, 'b',  0x61, 'c', 0x61, 'd'};
    cr_assert_eq(s_decode_one(rt_many, sizeof rt_many, NULL, 0), CMN_EPROTO);
    /* {"rt":["a"]} is fine */
    static const uint8_t rt_one[] = {0xa1, 0x62, 'r', 't', 0x81, 0x61, 'a'};
    cr_assert_eq(s_decode_one(rt_one, sizeof rt_one, NULL, 0), CMN_OK);
    /* "validity":[{"recurrence":[]}]: no period */
    static const uint8_t no_period[] = {0x68, 'v',  'a',  'l',  'i', 'd', 'i', 't',
                                        'y',  0x81, 0xa1, 0x6a, 'r', 'e', 'c', 'u',
                                        'r',  'r',  'e',  'n',  'c', 'e', 0x80};
    cr_assert_eq(s_decode_one(rt_one, sizeof rt_one, no_period, sizeof no_period), CMN_EPROTO);
}

Test(cmn_ace, versions_compare_as_numbers_not_strings)
{
    int cmp = 99;
    cr_assert_eq(cmn_icv_compare("ocf.2.4.0", "ocf.2.10.0", &cmp), CMN_OK);
    cr_assert_lt(cmp, 0, "2.4.0 is older than 2.10.0 (a string compare says newer)");
    cr_assert_eq(cmn_icv_compare("ocf.2.4.0", "ocf.2.4.0", &cmp), CMN_OK);
    cr_assert_eq(cmp, 0);
    cr_assert_eq(cmn_icv_compare("ocf.2.4", "2.4.0", &cmp), CMN_OK);
    cr_assert_eq(cmp, 0, "a missing part is 0, the ocf. prefix optional");
    cr_assert_eq(cmn_icv_compare("ocf.2.5.0", "ocf.2.4.0", &cmp), CMN_OK);
    cr_assert_gt(cmp, 0);
    cr_assert_eq(cmn_icv_compare("ocf.1.3.1", "ocf.2.4.0", &cmp), CMN_OK);
    cr_assert_lt(cmp, 0);
    static const char *const bad[] = {"",     "ocf.",      "ocf.x.1",  "2..4",
                                      "2.4.", "1.2.3.4.5", "2.4.0-rc1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(cmn_icv_compare(bad[i], "2.4.0", &cmp), CMN_EINVAL, "\"%s\" parsed", bad[i]);
    }
}
