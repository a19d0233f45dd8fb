/* fuzz_svr.c — libFuzzer harness of one SVR decoder (common/cmn_svr.h), chosen at
 * build time by FUZZ_SVR_INDEX (tests/fuzz/CMakeLists.txt builds one binary per
 * decoder). Besides "no crash, no leak, no UB on any input", it checks a property:
 * when decode(x) succeeds, encode of the result succeeds and decoding that gives the
 * same value again (only the count of unknown properties may drop). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_svr.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- doxm ---- */

static bool
s_doxm_eq(const cmn_doxm_t *a, const cmn_doxm_t *b)
{
    uint32_t p = a->present;
    if (p != b->present) {
        return false;
    }
    if ((p & CMN_DOXM_HAS_OXMS) &&
        (a->n_oxms != b->n_oxms || memcmp(a->oxms, b->oxms, a->n_oxms * sizeof a->oxms[0]) != 0)) {
        return false;
    }
    return (!(p & CMN_DOXM_HAS_OXMSEL) || a->oxmsel == b->oxmsel) &&
           (!(p & CMN_DOXM_HAS_SCT) || a->sct == b->sct) &&
           (!(p & CMN_DOXM_HAS_OWNED) || a->owned == b->owned) &&
           (!(p & CMN_DOXM_HAS_DEVICEUUID) || cmn_uuid_eq(&a->deviceuuid, &b->deviceuuid)) &&
           (!(p & CMN_DOXM_HAS_DEVOWNERUUID) || cmn_uuid_eq(&a->devowneruuid, &b->devowneruuid)) &&
           (!(p & CMN_DOXM_HAS_ROWNERUUID) || cmn_uuid_eq(&a->rowneruuid, &b->rowneruuid));
}

static void
s_doxm(const uint8_t *data, size_t size)
{
    cmn_doxm_t a, b;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_doxm_decode(data, size, &a) != CMN_OK) {
        return;
    }
    FUZZ_CHECK(cmn_doxm_encode(&a, &buf, &len) == CMN_OK, "doxm: decoded value does not encode");
    FUZZ_CHECK(cmn_doxm_decode(buf, len, &b) == CMN_OK, "doxm: own encoding does not decode");
    FUZZ_CHECK(s_doxm_eq(&a, &b), "doxm: round trip changed the value");
    free(buf);
}

/* ---- pstat ---- */

static bool
s_pstat_eq(const cmn_pstat_t *a, const cmn_pstat_t *b)
{
    /* dos.p is written only together with dos.s (cmn_svr.h): without s it is lost. */
    uint32_t p = a->present;
    if (!(p & CMN_PSTAT_HAS_DOS)) {
        p &= ~CMN_PSTAT_HAS_DOS_P;
    }
    return p == b->present && (!(p & CMN_PSTAT_HAS_DOS) || a->dos_s == b->dos_s) &&
           (!(p & CMN_PSTAT_HAS_DOS_P) || a->dos_p == b->dos_p) &&
           (!(p & CMN_PSTAT_HAS_ISOP) || a->isop == b->isop) &&
           (!(p & CMN_PSTAT_HAS_CM) || a->cm == b->cm) &&
           (!(p & CMN_PSTAT_HAS_TM) || a->tm == b->tm) &&
           (!(p & CMN_PSTAT_HAS_OM) || a->om == b->om) &&
           (!(p & CMN_PSTAT_HAS_SM) || a->sm == b->sm) &&
           (!(p & CMN_PSTAT_HAS_ROWNERUUID) || cmn_uuid_eq(&a->rowneruuid, &b->rowneruuid));
}

static void
s_pstat(const uint8_t *data, size_t size)
{
    cmn_pstat_t a, b;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_pstat_decode(data, size, &a) != CMN_OK) {
        return;
    }
    FUZZ_CHECK(cmn_pstat_encode(&a, &buf, &len) == CMN_OK, "pstat: decoded value does not encode");
    FUZZ_CHECK(cmn_pstat_decode(buf, len, &b) == CMN_OK, "pstat: own encoding does not decode");
    FUZZ_CHECK(s_pstat_eq(&a, &b), "pstat: round trip changed the value");
    free(buf);
}

/* ---- cred ---- */

static bool
s_bytes_eq(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* An absent encoding is written as raw (cmn_creds_encode), so "" reads back as raw. */
static bool
s_encoding_eq(const char *a, const char *b)
{
    return strcmp(a[0] ? a : CMN_ENC_RAW, b) == 0;
}

static bool
s_cred_eq(const cmn_cred_t *a, const cmn_cred_t *b)
{
    uint32_t p = a->present;
    if (p != b->present || (p & CMN_CRED_HAS_CREDID && a->credid != b->credid) ||
        (p & CMN_CRED_HAS_CREDTYPE && a->credtype != b->credtype) ||
        (p & CMN_CRED_HAS_CREDUSAGE && strcmp(a->credusage, b->credusage) != 0)) {
        return false;
    }
    if (p & CMN_CRED_HAS_SUBJECT &&
        (a->subject_is_wildcard != b->subject_is_wildcard ||
         (!a->subject_is_wildcard && !cmn_uuid_eq(&a->subjectuuid, &b->subjectuuid)))) {
        return false;
    }
    if (p & CMN_CRED_HAS_PUBLICDATA &&
        (!s_bytes_eq(a->pub_data, a->pub_len, b->pub_data, b->pub_len) ||
         !s_encoding_eq(a->pub_encoding, b->pub_encoding))) {
        return false;
    }
    /* Private data always goes out as a byte string: priv_is_text is not kept. */
    return !(p & CMN_CRED_HAS_PRIVATEDATA) ||
           (s_bytes_eq(a->priv_data, a->priv_len, b->priv_data, b->priv_len) &&
            s_encoding_eq(a->priv_encoding, b->priv_encoding));
}

static void
s_cred(const uint8_t *data, size_t size)
{
    cmn_creds_t a, b;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_creds_decode(data, size, &a) != CMN_OK) {
        return;
    }
    FUZZ_CHECK(cmn_creds_encode(&a, &buf, &len) == CMN_OK, "cred: decoded value does not encode");
    FUZZ_CHECK(cmn_creds_decode(buf, len, &b) == CMN_OK, "cred: own encoding does not decode");
    bool same =
            a.present == b.present && a.n_creds == b.n_creds &&
            (!(a.present & CMN_CREDS_HAS_ROWNERUUID) || cmn_uuid_eq(&a.rowneruuid, &b.rowneruuid));
    for (size_t i = 0; same && i < a.n_creds; i++) {
        same = s_cred_eq(&a.creds[i], &b.creds[i]);
    }
    FUZZ_CHECK(same, "cred: round trip changed the value");
    free(buf);
    cmn_creds_free(&a);
    cmn_creds_free(&b);
}

/* ---- acl2 ---- */

static bool
s_ace_eq(const cmn_ace_t *a, const cmn_ace_t *b)
{
    if (a->aceid != b->aceid || a->subject_kind != b->subject_kind ||
        a->permission != b->permission || a->n_resources != b->n_resources) {
        return false;
    }
    switch (a->subject_kind) {
    case CMN_ACE_SUBJECT_UUID:
        if (!cmn_uuid_eq(&a->subject_uuid, &b->subject_uuid)) {
            return false;
        }
        break;
    case CMN_ACE_SUBJECT_ROLE:
        if (strcmp(a->role, b->role) != 0 || strcmp(a->authority, b->authority) != 0) {
            return false;
        }
        break;
    case CMN_ACE_SUBJECT_CONNTYPE:
        if (a->conntype != b->conntype) {
            return false;
        }
        break;
    }
    for (size_t r = 0; r < a->n_resources; r++) {
        if (strcmp(a->resources[r].href, b->resources[r].href) != 0 ||
            strcmp(a->resources[r].wc, b->resources[r].wc) != 0) {
            return false;
        }
    }
    return true;
}

static void
s_acl2(const uint8_t *data, size_t size)
{
    cmn_acl_t a, b;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_acl_decode(data, size, &a) != CMN_OK) {
        return;
    }
    FUZZ_CHECK(cmn_acl_encode(&a, &buf, &len) == CMN_OK, "acl2: decoded value does not encode");
    FUZZ_CHECK(cmn_acl_decode(buf, len, &b) == CMN_OK, "acl2: own encoding does not decode");
    bool same =
            a.present == b.present && a.n_aces == b.n_aces &&
            (!(a.present & CMN_ACL_HAS_ROWNERUUID) || cmn_uuid_eq(&a.rowneruuid, &b.rowneruuid));
    for (size_t i = 0; same && i < a.n_aces; i++) {
        same = s_ace_eq(&a.aces[i], &b.aces[i]);
    }
    FUZZ_CHECK(same, "acl2: round trip changed the value");
    free(buf);
    cmn_acl_free(&a);
    cmn_acl_free(&b);
}

/* ---- sdi ---- */

static void
s_sdi(const uint8_t *data, size_t size)
{
    cmn_sdi_t a, b;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_sdi_decode(data, size, &a) != CMN_OK) {
        return;
    }
    FUZZ_CHECK(cmn_sdi_encode(&a, &buf, &len) == CMN_OK, "sdi: decoded value does not encode");
    FUZZ_CHECK(cmn_sdi_decode(buf, len, &b) == CMN_OK, "sdi: own encoding does not decode");
    uint32_t p = a.present;
    FUZZ_CHECK(p == b.present && (!(p & CMN_SDI_HAS_UUID) || cmn_uuid_eq(&a.uuid, &b.uuid)) &&
                       (!(p & CMN_SDI_HAS_NAME) || strcmp(a.name, b.name) == 0) &&
                       (!(p & CMN_SDI_HAS_PRIV) || a.priv == b.priv),
               "sdi: round trip changed the value");
    free(buf);
}

/* ---- /oic/res ---- */

static bool
s_strings_eq(const char *a, const char *b, size_t stride, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a + i * stride, b + i * stride) != 0) {
            return false;
        }
    }
    return true;
}

static bool
s_link_eq(const cmn_link_t *a, const cmn_link_t *b)
{
    return strcmp(a->anchor, b->anchor) == 0 && strcmp(a->href, b->href) == 0 &&
           a->n_rt == b->n_rt && s_strings_eq(a->rt[0], b->rt[0], sizeof a->rt[0], a->n_rt) &&
           a->n_ifs == b->n_ifs && s_strings_eq(a->ifs[0], b->ifs[0], sizeof a->ifs[0], a->n_ifs) &&
           a->bm == b->bm && a->n_eps == b->n_eps &&
           s_strings_eq(a->eps[0], b->eps[0], sizeof a->eps[0], a->n_eps);
}

static void
s_res(const uint8_t *data, size_t size)
{
    cmn_res_t a, b;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_res_decode(data, size, &a) != CMN_OK) {
        return;
    }
    FUZZ_CHECK(cmn_res_encode(&a, &buf, &len) == CMN_OK, "res: decoded value does not encode");
    FUZZ_CHECK(cmn_res_decode(buf, len, &b) == CMN_OK, "res: own encoding does not decode");
    bool same = a.n_links == b.n_links;
    for (size_t i = 0; same && i < a.n_links; i++) {
        same = s_link_eq(&a.links[i], &b.links[i]);
    }
    FUZZ_CHECK(same, "res: round trip changed the value");
    free(buf);
    cmn_res_free(&a);
    cmn_res_free(&b);
}

/* ---- /oic/d ---- */

static void
s_d(const uint8_t *data, size_t size)
{
    cmn_d_t a, b;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cmn_d_decode(data, size, &a) != CMN_OK) {
        return;
    }
    FUZZ_CHECK(cmn_d_encode(&a, &buf, &len) == CMN_OK, "d: decoded value does not encode");
    FUZZ_CHECK(cmn_d_decode(buf, len, &b) == CMN_OK, "d: own encoding does not decode");
    FUZZ_CHECK(cmn_uuid_eq(&a.di, &b.di) && cmn_uuid_eq(&a.piid, &b.piid) &&
                       strcmp(a.n, b.n) == 0 && strcmp(a.icv, b.icv) == 0 &&
                       strcmp(a.dmv, b.dmv) == 0 && a.n_rt == b.n_rt &&
                       s_strings_eq(a.rt[0], b.rt[0], sizeof a.rt[0], a.n_rt),
               "d: round trip changed the value");
    free(buf);
}

/* ---- oic.r.vodlist ---- */

static void
s_vodlist(const uint8_t *data, size_t size)
{
    /* Two of them are 7 KiB each: on the heap, as a Bridge's client keeps them. */
    cmn_vodlist_t *a = malloc(sizeof *a);
    cmn_vodlist_t *b = malloc(sizeof *b);
    uint8_t *buf = NULL;
    size_t len = 0;
    FUZZ_CHECK(a != NULL && b != NULL, "vodlist: out of memory");
    if (cmn_vodlist_decode(data, size, a) == CMN_OK) {
        FUZZ_CHECK(cmn_vodlist_encode(a, &buf, &len) == CMN_OK,
                   "vodlist: decoded value does not encode");
        FUZZ_CHECK(cmn_vodlist_decode(buf, len, b) == CMN_OK,
                   "vodlist: own encoding does not decode");
        bool same = a->n_vods == b->n_vods;
        for (size_t i = 0; same && i < a->n_vods; i++) {
            same = strcmp(a->vods[i].n, b->vods[i].n) == 0 &&
                   cmn_uuid_eq(&a->vods[i].di, &b->vods[i].di) &&
                   strcmp(a->vods[i].econame, b->vods[i].econame) == 0;
        }
        FUZZ_CHECK(same, "vodlist: round trip changed the value");
        free(buf);
    }
    free(a);
    free(b);
}

/* One row per binary; the index comes from the build. */
static void (*const S_TARGETS[])(const uint8_t *, size_t) = {
        s_doxm, s_pstat, s_cred, s_acl2, s_sdi, s_res, s_d, s_vodlist,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _Static_assert(FUZZ_SVR_INDEX < sizeof S_TARGETS / sizeof S_TARGETS[0], "FUZZ_SVR_INDEX");
    S_TARGETS[FUZZ_SVR_INDEX](data, size);
    return 0;
}
