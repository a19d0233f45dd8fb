/* cmn_svr.h — CBOR encoding and decoding of the OCF Security Virtual Resources
 * (doxm, pstat, cred, acl2, sdi) and of /oic/res and /oic/d, with libcbor.
 * Property names and types: OCF-NOTES section 3. */
#ifndef CMN_SVR_H
#define CMN_SVR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_err.h"
#include "cmn_uuid.h"

/* Common rules:
 * - encode: writes only the properties whose CMN_<RES>_HAS_* bit is set in
 *   `present`, as a CBOR map with text keys; *ret_buf is malloc'd (caller frees).
 * - decode: accepts a CBOR map, sets `present` for what it found. Wrong types,
 *   malformed CBOR (including nesting deeper than 64 levels, or an array or map
 *   declaring more items than the input holds), bad UUID strings or out-of-range
 *   values -> CMN_EPROTO.
 *   Properties not in the table are skipped and counted in `n_unknown` (a device
 *   rejects a POST with unknown properties; a client ignores them). Baseline
 *   properties (rt, if, n, id) are accepted and ignored, not counted.
 * - Nothing here allocates except where a _free function is declared. */

#define CMN_CF_OCF_CBOR 10000 /* application/vnd.ocf+cbor */

/* ---- /oic/sec/doxm ---- */
#define CMN_DOXM_HAS_OXMS         0x01u
#define CMN_DOXM_HAS_OXMSEL       0x02u
#define CMN_DOXM_HAS_SCT          0x04u
#define CMN_DOXM_HAS_OWNED        0x08u
#define CMN_DOXM_HAS_DEVICEUUID   0x10u
#define CMN_DOXM_HAS_DEVOWNERUUID 0x20u
#define CMN_DOXM_HAS_ROWNERUUID   0x40u
#define CMN_DOXM_MAX_OXMS         8

typedef struct {
    uint32_t present;
    size_t n_unknown;
    int64_t oxms[CMN_DOXM_MAX_OXMS];
    size_t n_oxms;
    int64_t oxmsel;
    uint32_t sct;
    bool owned;
    cmn_uuid_t deviceuuid;
    cmn_uuid_t devowneruuid;
    cmn_uuid_t rowneruuid;
} cmn_doxm_t;

cmn_err_t cmn_doxm_encode(const cmn_doxm_t *doxm, uint8_t **ret_buf, size_t *ret_len);
cmn_err_t cmn_doxm_decode(const uint8_t *buf, size_t len, cmn_doxm_t *ret);

/* ---- /oic/sec/pstat ---- */
#define CMN_PSTAT_HAS_DOS        0x01u /* dos.s */
#define CMN_PSTAT_HAS_DOS_P      0x02u /* dos.p (encoded only together with HAS_DOS) */
#define CMN_PSTAT_HAS_ISOP       0x04u
#define CMN_PSTAT_HAS_CM         0x08u
#define CMN_PSTAT_HAS_TM         0x10u
#define CMN_PSTAT_HAS_OM         0x20u
#define CMN_PSTAT_HAS_SM         0x40u
#define CMN_PSTAT_HAS_ROWNERUUID 0x80u

typedef enum {
    CMN_DOS_RESET = 0,
    CMN_DOS_RFOTM = 1,
    CMN_DOS_RFPRO = 2,
    CMN_DOS_RFNOP = 3,
    CMN_DOS_SRESET = 4,
    CMN_DOS_COUNT
} cmn_dos_t;

typedef struct {
    uint32_t present;
    size_t n_unknown;
    int64_t dos_s; /* cmn_dos_t; range-checked 0..4 */
    bool dos_p;
    bool isop;
    int64_t cm, tm, om, sm;
    cmn_uuid_t rowneruuid;
} cmn_pstat_t;

const char *cmn_dos_name(int64_t s); /* "RFOTM", ... or "?" */
cmn_err_t cmn_pstat_encode(const cmn_pstat_t *pstat, uint8_t **ret_buf, size_t *ret_len);
cmn_err_t cmn_pstat_decode(const uint8_t *buf, size_t len, cmn_pstat_t *ret);

/* ---- /oic/sec/cred ---- */
#define CMN_CRED_HAS_CREDID      0x01u
#define CMN_CRED_HAS_CREDTYPE    0x02u
#define CMN_CRED_HAS_SUBJECT     0x04u
#define CMN_CRED_HAS_CREDUSAGE   0x08u
#define CMN_CRED_HAS_PUBLICDATA  0x10u
#define CMN_CRED_HAS_PRIVATEDATA 0x20u
#define CMN_CRED_HAS_OSCORE      0x40u  /* the oscore map (credtypes 64, 128, 256) */
#define CMN_CRED_HAS_OSCORE_DESC 0x80u  /* oscore.desc (credtypes 128, 256; seed 6.4) */
#define CMN_CRED_HAS_OSCORE_SSN  0x100u /* oscore.ssn (read-only: a POST with it is refused) */
#define CMN_CRED_MAX_DATA        4096

#define CMN_CREDTYPE_PSK        1
#define CMN_CREDTYPE_CERT       8
#define CMN_CREDTYPE_OSCORE     64  /* pairwise OSCORE context (OCF-NOTES 9) */
#define CMN_CREDTYPE_SSM_CLIENT 128 /* SSM group client context (seed 6.4) */
#define CMN_CREDTYPE_SSM_SERVER 256 /* SSM group server context (seed 6.4) */
#define CMN_OSCORE_DESC_MAX     64  /* characters of an oscore.desc we keep */
#define CMN_ENC_RAW             "oic.sec.encoding.raw"
#define CMN_ENC_PEM             "oic.sec.encoding.pem"

typedef struct {
    uint32_t present;
    int64_t credid;
    int64_t credtype;
    bool subject_is_wildcard; /* subjectuuid "*" */
    cmn_uuid_t subjectuuid;
    char credusage[40];
    uint8_t *pub_data; /* malloc'd; NULL when absent */
    size_t pub_len;
    char pub_encoding[40];
    uint8_t *priv_data; /* malloc'd secret (wiped by free); may be empty */
    size_t priv_len;
    bool priv_is_text; /* privatedata.data was a CBOR text string */
    char priv_encoding[40];
    char senderid[17];    /* oscore: lowercase hex without 0x (at most 7 bytes), "" = absent */
    char recipientid[17]; /* oscore: the same */
    char desc[CMN_OSCORE_DESC_MAX + 1]; /* oscore.desc (CMN_CRED_HAS_OSCORE_DESC) */
} cmn_cred_t;

#define CMN_CREDS_HAS_CREDS      0x01u
#define CMN_CREDS_HAS_ROWNERUUID 0x02u

typedef struct {
    uint32_t present;
    size_t n_unknown;
    cmn_cred_t *creds; /* malloc'd array */
    size_t n_creds;
    cmn_uuid_t rowneruuid;
} cmn_creds_t;

/* publicdata labelled CMN_ENC_PEM goes out as a text string when it is PEM text
 * (printable ASCII and line breaks), else as a byte string; data of any other
 * encoding, and privatedata, as a byte string. The decoder takes both kinds. */
cmn_err_t cmn_creds_encode(const cmn_creds_t *creds, uint8_t **ret_buf, size_t *ret_len);
cmn_err_t cmn_creds_decode(const uint8_t *buf, size_t len, cmn_creds_t *ret);
/* /oic/sec/roles (OCF-NOTES 3.7): {"roles": [cred entries]}, the same entries as cred
 * (credtype 8, publicdata the role certificate chain). The "creds" member of creds
 * holds them; rowneruuid is neither encoded nor decoded (the decoder counts it as an
 * unknown property). */
cmn_err_t cmn_roles_encode(const cmn_creds_t *roles, uint8_t **ret_buf, size_t *ret_len);
cmn_err_t cmn_roles_decode(const uint8_t *buf, size_t len, cmn_creds_t *ret);
#define CMN_CRED_USAGE_ROLECERT "oic.sec.cred.rolecert"
/* Appends a copy of cred (deep copy of data). */
cmn_err_t cmn_creds_add(cmn_creds_t *creds, const cmn_cred_t *cred);
/* Removes entry idx (wiping its private data); order is not kept. */
void cmn_creds_remove(cmn_creds_t *creds, size_t idx);
/* Wipes private data and frees everything; leaves *creds zeroed. */
void cmn_creds_free(cmn_creds_t *creds);

/* ---- /oic/sec/acl2 ---- */
typedef enum {
    CMN_ACE_SUBJECT_UUID = 0,
    CMN_ACE_SUBJECT_ROLE,
    CMN_ACE_SUBJECT_CONNTYPE
} cmn_ace_subject_kind_t;

typedef enum { CMN_CONNTYPE_ANON_CLEAR = 0, CMN_CONNTYPE_AUTH_CRYPT } cmn_conntype_t;

#define CMN_PERM_C 1
#define CMN_PERM_R 2
#define CMN_PERM_U 4
#define CMN_PERM_D 8
#define CMN_PERM_N 16

#define CMN_ACE_RES_MAX_TYPES 3 /* rt / if entries of one ACE resource */
#define CMN_ACE_MAX_VALIDITY  4 /* validity periods of one ACE */

typedef struct {
    char href[64];                      /* "" when not given */
    char wc[2];                         /* "*", "+", "-" or "" */
    char rt[CMN_ACE_RES_MAX_TYPES][48]; /* resource types the resource must have one of */
    size_t n_rt;
    char ifs[CMN_ACE_RES_MAX_TYPES][48]; /* interfaces the request may use ("*": any) */
    size_t n_ifs;
} cmn_ace_res_t;

#define CMN_ACE_MAX_RES 16

typedef struct {
    int64_t aceid; /* 0 = absent (device assigns) */
    cmn_ace_subject_kind_t subject_kind;
    cmn_uuid_t subject_uuid;
    char role[64];
    char authority[64];
    cmn_conntype_t conntype;
    cmn_ace_res_t resources[CMN_ACE_MAX_RES];
    size_t n_resources;
    int64_t permission;                      /* 0..31 */
    char validity[CMN_ACE_MAX_VALIDITY][64]; /* RFC 5545 periods "START/END|DURATION" */
    size_t n_validity;                       /* 0 = always valid */
    size_t n_recurrence;                     /* recurrence rules seen (not kept) */
} cmn_ace_t;

#define CMN_ACL_HAS_ACLIST2    0x01u
#define CMN_ACL_HAS_ROWNERUUID 0x02u

typedef struct {
    uint32_t present;
    size_t n_unknown;
    cmn_ace_t *aces; /* malloc'd array */
    size_t n_aces;
    cmn_uuid_t rowneruuid;
} cmn_acl_t;

cmn_err_t cmn_acl_encode(const cmn_acl_t *acl, uint8_t **ret_buf, size_t *ret_len);
cmn_err_t cmn_acl_decode(const uint8_t *buf, size_t len, cmn_acl_t *ret);
cmn_err_t cmn_acl_add(cmn_acl_t *acl, const cmn_ace_t *ace);
void cmn_acl_free(cmn_acl_t *acl);
/* True if href names a Device Configuration Resource that is an SVR (/oic/sec/...). */
bool cmn_svr_is_svr_href(const char *href);

/* ---- /oic/sec/sdi ---- */
#define CMN_SDI_HAS_UUID 0x01u
#define CMN_SDI_HAS_NAME 0x02u
#define CMN_SDI_HAS_PRIV 0x04u

typedef struct {
    uint32_t present;
    size_t n_unknown;
    cmn_uuid_t uuid;
    char name[128];
    bool priv;
} cmn_sdi_t;

cmn_err_t cmn_sdi_encode(const cmn_sdi_t *sdi, uint8_t **ret_buf, size_t *ret_len);
cmn_err_t cmn_sdi_decode(const uint8_t *buf, size_t len, cmn_sdi_t *ret);

/* ---- /oic/res (oic.if.ll: array of links) ---- */
#define CMN_LINK_MAX_RT  4
#define CMN_LINK_MAX_EPS 8

typedef struct {
    char anchor[48]; /* "ocf://<uuid>" */
    char href[64];
    char rt[CMN_LINK_MAX_RT][48];
    size_t n_rt;
    char ifs[CMN_LINK_MAX_RT][24];
    size_t n_ifs;
    int64_t bm;
    char eps[CMN_LINK_MAX_EPS][80];
    size_t n_eps;
} cmn_link_t;

typedef struct {
    cmn_link_t *links; /* malloc'd array */
    size_t n_links;
} cmn_res_t;

cmn_err_t cmn_res_encode(const cmn_res_t *res, uint8_t **ret_buf, size_t *ret_len);
cmn_err_t cmn_res_decode(const uint8_t *buf, size_t len, cmn_res_t *ret);
cmn_err_t cmn_res_add(cmn_res_t *res, const cmn_link_t *link);
void cmn_res_free(cmn_res_t *res);

/* ---- /oic/d ---- */
#define CMN_D_MAX_RT 6

typedef struct {
    cmn_uuid_t di;
    cmn_uuid_t piid;
    char n[64];
    char icv[32];
    char dmv[64];
    char rt[CMN_D_MAX_RT][32];
    size_t n_rt;
} cmn_d_t;

cmn_err_t cmn_d_encode(const cmn_d_t *d, uint8_t **ret_buf, size_t *ret_len);
cmn_err_t cmn_d_decode(const uint8_t *buf, size_t len, cmn_d_t *ret);
/* Compares two OCF versions ("ocf.2.4.0", "2.4.0", "ocf.2.10") numerically part by part
 * (a missing part is 0): *ret_cmp < 0, 0 or > 0 as a is older, equal or newer than b.
 * CMN_EINVAL if either is not a dotted list of numbers (with an optional "ocf." prefix). */
cmn_err_t cmn_icv_compare(const char *a, const char *b, int *ret_cmp);

/* ---- /oic/sec/csr (OCF-NOTES 3.6; cmn_svr_csr.c) ---- */
#define CMN_CSR_MAX 4096 /* a P-256 CSR in PEM is well under 1 KiB */
#define CMN_ENC_DER "oic.sec.encoding.der"

typedef struct {
    uint8_t *data; /* malloc'd: the CSR (PEM text or DER bytes) */
    size_t len;
    char encoding[40]; /* CMN_ENC_PEM or CMN_ENC_DER */
} cmn_csr_t;

/* {"csr": data (text when PEM, else bytes), "encoding": ...}. */
cmn_err_t cmn_csr_encode(const cmn_csr_t *csr, uint8_t **ret_buf, size_t *ret_len);
/* Peer input: CMN_EPROTO if malformed, csr or encoding missing, an encoding other
 * than PEM or DER, or data longer than CMN_CSR_MAX. Free with cmn_csr_free. */
cmn_err_t cmn_csr_decode(const uint8_t *buf, size_t len, cmn_csr_t *ret);
void cmn_csr_free(cmn_csr_t *csr);

/* ---- /oic/sec/crl (OCF-NOTES 3.8; cmn_svr_crl.c) ---- */
#define CMN_CRL_MAX 65536 /* DER bytes of one CRL: larger is refused */

typedef struct {
    int64_t crlid;       /* the resource's crlid (>= 0) */
    char thisupdate[40]; /* UTC time string, e.g. "2026-12-04T14:00:00Z" */
    uint8_t *der;        /* malloc'd: the CRL, DER (travels as Base64 in crldata) */
    size_t der_len;
} cmn_crl_t;

/* {"crlid": N, "thisupdate": T, "crldata": Base64(der)}. */
cmn_err_t cmn_crl_encode(const cmn_crl_t *crl, uint8_t **ret_buf, size_t *ret_len);
/* Peer input: CMN_EPROTO if malformed, a field missing or of the wrong type, a negative
 * crlid, crldata that is not Base64 or longer than CMN_CRL_MAX once decoded, or an
 * unknown key (baseline keys rt/if/n/id are skipped). Free with cmn_crl_free. */
cmn_err_t cmn_crl_decode(const uint8_t *buf, size_t len, cmn_crl_t *ret);
void cmn_crl_free(cmn_crl_t *crl);

/* ---- oic.r.vodlist (OCF Bridging: the VODs of a Bridge, at /bridge/vodlist) ---- */
#define CMN_VODLIST_MAX  64 /* more entries than this: the payload is refused */
#define CMN_VODLIST_HREF "/bridge/vodlist"

typedef struct {
    char n[64];       /* the VOD's name */
    cmn_uuid_t di;    /* its device id */
    char econame[32]; /* its ecosystem ("BLE", "Z-Wave", ...) */
} cmn_vod_t;

typedef struct {
    cmn_vod_t vods[CMN_VODLIST_MAX];
    size_t n_vods;
} cmn_vodlist_t;

/* {"rt":["oic.r.vodlist"],"vods":[{"n":..,"di":..,"econame":..}]}. */
cmn_err_t cmn_vodlist_encode(const cmn_vodlist_t *v, uint8_t **ret_buf, size_t *ret_len);
/* Peer input: CMN_EPROTO if malformed, "vods" missing, an entry without a valid "di",
 * a duplicate di, a string too long, or more than CMN_VODLIST_MAX entries. */
cmn_err_t cmn_vodlist_decode(const uint8_t *buf, size_t len, cmn_vodlist_t *ret);

#endif
