/* obt_fuzz_seeds.c — writes the seed corpus of the libFuzzer harnesses (tests/fuzz):
 * SVR payloads made with the project's own encoders, discovery replies and CoAP
 * messages, manufacturer chains made with tests/support/obt_certs.h (and their root,
 * the harnesses' trust anchor), and one request per body of every daemon's Request.
 *
 * usage: obt_fuzz_seeds DIR    (DIR = tests/fuzz; writes DIR/corpus/<harness>/ and
 *                               DIR/cert-anchor.pem; run it again only to renew them)
 * Exits 0 on success. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmn_bus.h"
#include "cmn_coapmsg.h"
#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "obt/common.pb-c.h"
#include "obt/dots.pb-c.h"
#include "obt/gateway.pb-c.h"
#include "obt_certs.h"

#define U_DEV   "8f0e5d2a-6b1c-4a3e-9d7f-1a2b3c4d5e6f"
#define U_OWNER "11111111-2222-4333-8444-555555555555"
#define U_ROWN  "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define EP      "coaps://127.0.0.1:40002"

static const char *s_dir;
static bool s_failed;

/* Token of the discovery seeds: the one fuzz_disc.c expects. */
static const uint8_t S_TOKEN[8] = {0x6f, 0x62, 0x74, 0x2d, 0x66, 0x75, 0x7a, 0x7a};

static void
s_write(const char *harness, const char *name, const void *data, size_t len)
{
    char path[512];
    (void) snprintf(path, sizeof path, "%s/corpus", s_dir);
    (void) mkdir(path, 0755);
    (void) snprintf(path, sizeof path, "%s/corpus/%s", s_dir, harness);
    (void) mkdir(path, 0755);
    (void) snprintf(path, sizeof path, "%s/corpus/%s/%s", s_dir, harness, name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || fwrite(data, 1, len, fp) != len) {
        (void) fprintf(stderr, "obt_fuzz_seeds: cannot write %s: %s\n", path, strerror(errno));
        s_failed = true;
    }
    if (fp) {
        (void) fclose(fp);
    }
}

/* Writes an encoder's output *buf (and frees it): pointers, because the encoder
 * call is an argument and sets them. */
static void
s_write_encoded(const char *harness, const char *name, cmn_err_t err, uint8_t **buf, size_t *len)
{
    if (err != CMN_OK) {
        (void) fprintf(stderr, "obt_fuzz_seeds: %s/%s does not encode\n", harness, name);
        s_failed = true;
        return;
    }
    s_write(harness, name, *buf, *len);
    free(*buf);
    *buf = NULL;
}

static cmn_uuid_t
s_uuid(const char *s)
{
    cmn_uuid_t u;
    memset(&u, 0, sizeof u);
    (void) cmn_uuid_from_str(s, &u);
    return u;
}

/* A discovery reply: 2.05, NON, S_TOKEN, Content-Format 10000, payload (freed). */
static void
s_disc_reply(const char *name, cmn_err_t err, uint8_t **payload, size_t *plen)
{
    static const uint8_t cf[] = {0x27, 0x10}; /* 10000 */
    cmn_coap_msg_t m = {.type = 1, .code = 0x45, .mid = 0x1234, .token_len = 8};
    uint8_t dgram[1500];
    size_t len = 0;
    memcpy(m.token, S_TOKEN, 8);
    (void) cmn_coapmsg_add_opt(&m, CMN_COAP_OPT_CONTENT_FORMAT, cf, sizeof cf);
    m.payload = *payload;
    m.payload_len = *plen;
    if (err != CMN_OK || cmn_coapmsg_encode(&m, dgram, sizeof dgram, &len) != CMN_OK) {
        s_failed = true;
    } else {
        s_write("disc", name, dgram, len);
    }
    free(*payload);
    *payload = NULL;
}

/* ---- SVRs ---- */

static void
s_svr_seeds(void)
{
    uint8_t *buf = NULL;
    size_t len = 0;

    cmn_doxm_t doxm = {.present = 0x7f, .oxms = {0, 1, 2}, .n_oxms = 3, .sct = 1};
    doxm.deviceuuid = s_uuid(U_DEV);
    doxm.devowneruuid = s_uuid(U_OWNER);
    doxm.rowneruuid = s_uuid(U_ROWN);
    s_write_encoded("doxm", "full", cmn_doxm_encode(&doxm, &buf, &len), &buf, &len);
    doxm.present = CMN_DOXM_HAS_DEVICEUUID | CMN_DOXM_HAS_OWNED;
    s_write_encoded("doxm", "uuid-owned", cmn_doxm_encode(&doxm, &buf, &len), &buf, &len);

    cmn_pstat_t ps = {.present = 0xff, .dos_s = CMN_DOS_RFOTM, .cm = 2, .tm = 0, .om = 4, .sm = 4};
    ps.rowneruuid = s_uuid(U_ROWN);
    s_write_encoded("pstat", "full", cmn_pstat_encode(&ps, &buf, &len), &buf, &len);

    static const uint8_t psk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    cmn_creds_t cs;
    memset(&cs, 0, sizeof cs);
    cs.present = CMN_CREDS_HAS_CREDS | CMN_CREDS_HAS_ROWNERUUID;
    cs.rowneruuid = s_uuid(U_ROWN);
    cmn_cred_t c1 = {.present = CMN_CRED_HAS_CREDID | CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                CMN_CRED_HAS_PRIVATEDATA,
                     .credid = 1,
                     .credtype = CMN_CREDTYPE_PSK,
                     .priv_data = (uint8_t *) (uintptr_t) psk,
                     .priv_len = sizeof psk};
    c1.subjectuuid = s_uuid(U_OWNER);
    (void) snprintf(c1.priv_encoding, sizeof c1.priv_encoding, "%s", CMN_ENC_RAW);
    cmn_cred_t c2 = {.present = CMN_CRED_HAS_CREDID | CMN_CRED_HAS_CREDTYPE | CMN_CRED_HAS_SUBJECT |
                                CMN_CRED_HAS_CREDUSAGE | CMN_CRED_HAS_PUBLICDATA,
                     .credid = 2,
                     .credtype = CMN_CREDTYPE_CERT,
                     .subject_is_wildcard = true,
                     .pub_data = (uint8_t *) (uintptr_t) pem,
                     .pub_len = sizeof pem - 1};
    (void) snprintf(c2.credusage, sizeof c2.credusage, "oic.sec.cred.mfgtrustca");
    (void) snprintf(c2.pub_encoding, sizeof c2.pub_encoding, "%s", CMN_ENC_PEM);
    if (cmn_creds_add(&cs, &c1) != CMN_OK || cmn_creds_add(&cs, &c2) != CMN_OK) {
        s_failed = true;
    }
    s_write_encoded("cred", "psk-and-ca", cmn_creds_encode(&cs, &buf, &len), &buf, &len);
    cmn_creds_free(&cs);

    cmn_acl_t acl;
    memset(&acl, 0, sizeof acl);
    acl.present = CMN_ACL_HAS_ACLIST2 | CMN_ACL_HAS_ROWNERUUID;
    acl.rowneruuid = s_uuid(U_ROWN);
    cmn_ace_t a1 = {.aceid = 1, .subject_kind = CMN_ACE_SUBJECT_UUID, .n_resources = 2};
    a1.subject_uuid = s_uuid(U_OWNER);
    a1.permission = CMN_PERM_R | CMN_PERM_U;
    (void) snprintf(a1.resources[0].href, sizeof a1.resources[0].href, "/oic/sec/cred");
    (void) snprintf(a1.resources[1].wc, sizeof a1.resources[1].wc, "*");
    cmn_ace_t a2 = {.aceid = 2, .subject_kind = CMN_ACE_SUBJECT_ROLE, .n_resources = 1};
    a2.permission = 31;
    (void) snprintf(a2.role, sizeof a2.role, "oic.role.owner");
    (void) snprintf(a2.authority, sizeof a2.authority, "OCF");
    (void) snprintf(a2.resources[0].href, sizeof a2.resources[0].href, "/a/light");
    cmn_ace_t a3 = {.subject_kind = CMN_ACE_SUBJECT_CONNTYPE,
                    .conntype = CMN_CONNTYPE_ANON_CLEAR,
                    .n_resources = 1,
                    .permission = CMN_PERM_R};
    (void) snprintf(a3.resources[0].href, sizeof a3.resources[0].href, "/oic/res");
    if (cmn_acl_add(&acl, &a1) != CMN_OK || cmn_acl_add(&acl, &a2) != CMN_OK ||
        cmn_acl_add(&acl, &a3) != CMN_OK) {
        s_failed = true;
    }
    s_write_encoded("acl2", "three-subjects", cmn_acl_encode(&acl, &buf, &len), &buf, &len);
    cmn_acl_free(&acl);

    cmn_sdi_t sdi = {.present = 0x07, .priv = true};
    sdi.uuid = s_uuid(U_ROWN);
    (void) snprintf(sdi.name, sizeof sdi.name, "OBT security domain");
    s_write_encoded("sdi", "full", cmn_sdi_encode(&sdi, &buf, &len), &buf, &len);

    cmn_res_t res;
    memset(&res, 0, sizeof res);
    cmn_link_t l = {.n_rt = 1, .n_ifs = 2, .bm = 1, .n_eps = 3};
    (void) snprintf(l.anchor, sizeof l.anchor, "ocf://%s", U_DEV);
    (void) snprintf(l.href, sizeof l.href, "/oic/sec/doxm");
    (void) snprintf(l.rt[0], sizeof l.rt[0], "oic.r.doxm");
    (void) snprintf(l.ifs[0], sizeof l.ifs[0], "oic.if.baseline");
    (void) snprintf(l.ifs[1], sizeof l.ifs[1], "oic.if.rw");
    (void) snprintf(l.eps[0], sizeof l.eps[0], "coap://127.0.0.1:40001");
    (void) snprintf(l.eps[1], sizeof l.eps[1], "coaps://[fe80::1%%eth0]:40002");
    (void) snprintf(l.eps[2], sizeof l.eps[2], "coap://[ff05::1]:40003");
    if (cmn_res_add(&res, &l) != CMN_OK) {
        s_failed = true;
    }
    (void) snprintf(l.href, sizeof l.href, "/oic/d");
    l.n_eps = 1;
    if (cmn_res_add(&res, &l) != CMN_OK) {
        s_failed = true;
    }
    s_write_encoded("res", "two-links", cmn_res_encode(&res, &buf, &len), &buf, &len);
    s_disc_reply("res-reply", cmn_res_encode(&res, &buf, &len), &buf, &len);
    cmn_res_free(&res);

    cmn_d_t d = {.n_rt = 2};
    d.di = s_uuid(U_DEV);
    d.piid = s_uuid(U_OWNER);
    (void) snprintf(d.n, sizeof d.n, "OBT DOTS");
    (void) snprintf(d.icv, sizeof d.icv, "ocf.2.2.5");
    (void) snprintf(d.dmv, sizeof d.dmv, "ocf.res.1.0.0");
    (void) snprintf(d.rt[0], sizeof d.rt[0], "oic.wk.d");
    (void) snprintf(d.rt[1], sizeof d.rt[1], "oic.d.dots");
    s_write_encoded("d", "dots", cmn_d_encode(&d, &buf, &len), &buf, &len);

    cmn_vodlist_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        s_failed = true;
        return;
    }
    v->n_vods = 2;
    v->vods[0].di = s_uuid(U_DEV);
    v->vods[1].di = s_uuid(U_OWNER);
    (void) snprintf(v->vods[0].n, sizeof v->vods[0].n, "lamp");
    (void) snprintf(v->vods[0].econame, sizeof v->vods[0].econame, "BLE");
    (void) snprintf(v->vods[1].n, sizeof v->vods[1].n, "lock");
    (void) snprintf(v->vods[1].econame, sizeof v->vods[1].econame, "Z-Wave");
    s_write_encoded("vodlist", "two-vods", cmn_vodlist_encode(v, &buf, &len), &buf, &len);
    free(v);
}

/* ---- discovery replies and CoAP messages ---- */

static void
s_coap_seeds(void)
{
    uint8_t *payload = NULL;
    size_t plen = 0;
    cmn_doxm_t doxm = {.present = CMN_DOXM_HAS_DEVICEUUID | CMN_DOXM_HAS_OXMS, .n_oxms = 1};
    doxm.deviceuuid = s_uuid(U_DEV);
    s_disc_reply("doxm-reply", cmn_doxm_encode(&doxm, &payload, &plen), &payload, &plen);

    /* fuzz_coapmsg's input: [type|toklen][code][mid:2][token][n_opts] n x ([number:2]
     * [len:2][value]) [has_uri] (path NUL query NUL) [cap] payload */
    static const uint8_t get[] = {
            1 | 8 << 2, 0x01, 0x00, 0x01, 'o',  'b',  't',  '-',  'f',  'u',  'z',  'z', 2,   0x00,
            0x11,       0x00, 0x02, 0x27, 0x10, 0x08, 0x01, 0x00, 0x02, 0x08, 0x00, 1,   '/', 'o',
            'i',        'c',  '/',  's',  'e',  'c',  '/',  'd',  'o',  'x',  'm',  0,   'o', 'w',
            'n',        'e',  'd',  '=',  'F',  'A',  'L',  'S',  'E',  0,    16};
    s_write("coapmsg", "multicast-get", get, sizeof get);
    static const uint8_t reply[] = {1 | 8 << 2, 0x45, 0x12, 0x34, 'o',  'b',  't',  '-',
                                    'f',        'u',  'z',  'z',  1,    0x00, 0x0c, 0x00,
                                    0x02,       0x27, 0x10, 0,    32,   0xbf, 0x64, 'o',
                                    'w',        'n',  'e',  'd',  0xf4, 0xff};
    s_write("coapmsg", "reply-205", reply, sizeof reply);
}

/* ---- certificates ---- */

static int
s_write_der(const char *name, X509 *const *certs, int n)
{
    uint8_t *all = NULL;
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *der = NULL;
        int dl = i2d_X509(certs[i], &der);
        uint8_t *grown = dl > 0 ? realloc(all, len + (size_t) dl) : NULL;
        if (grown == NULL) {
            OPENSSL_free(der);
            free(all);
            return -1;
        }
        all = grown;
        memcpy(all + len, der, (size_t) dl);
        len += (size_t) dl;
        OPENSSL_free(der);
    }
    s_write("cert_der", name, all, len);
    free(all);
    return 0;
}

static int
s_write_pem(const char *name, const obt_cert_t *const *certs, int n)
{
    char path[512];
    (void) snprintf(path, sizeof path, "%s/corpus/cert_pem", s_dir);
    (void) mkdir(path, 0755);
    (void) snprintf(path, sizeof path, "%s/corpus/cert_pem/%s", s_dir, name);
    return obt_cert_write_pem(path, certs, n);
}

/* A chain leaf <- (intermediate) as PEM and DER seeds. */
static int
s_chain_seeds(const char *name, const obt_cert_t *leaf, const obt_cert_t *ca)
{
    const obt_cert_t *pem[2] = {leaf, ca};
    X509 *der[2] = {leaf->cert, ca ? ca->cert : NULL};
    int n = ca ? 2 : 1;
    return s_write_pem(name, pem, n) == 0 && s_write_der(name, der, n) == 0 ? 0 : -1;
}

static void
s_cert_seeds(void)
{
    obt_cert_t root, ca, leaf, bad_ku, ca_leaf;
    obt_cert_opts_t r = obt_cert_root_opts("Fuzz Devices Root");
    obt_cert_opts_t c = obt_cert_ca_opts("Fuzz Devices Factory CA");
    if (obt_cert_make(&root, &r, NULL) != 0 || obt_cert_make(&ca, &c, &root) != 0) {
        s_failed = true;
        return;
    }
    obt_cert_opts_t l = obt_cert_leaf_opts(U_DEV);
    int rc = obt_cert_make(&leaf, &l, &ca);
    l = obt_cert_leaf_opts(U_OWNER);
    l.ku = "critical,digitalSignature";
    rc |= obt_cert_make(&bad_ku, &l, &ca);
    l = obt_cert_leaf_opts(U_ROWN);
    l.bc = "critical,CA:TRUE";
    rc |= obt_cert_make(&ca_leaf, &l, &ca);
    char path[512];
    (void) snprintf(path, sizeof path, "%s/cert-anchor.pem", s_dir);
    const obt_cert_t *anchor[1] = {&root};
    rc |= obt_cert_write_pem(path, anchor, 1);
    rc |= s_chain_seeds("good-chain", &leaf, &ca);
    rc |= s_chain_seeds("leaf-only", &leaf, NULL);
    rc |= s_chain_seeds("bad-ku", &bad_ku, &ca);
    rc |= s_chain_seeds("ca-leaf", &ca_leaf, &ca);
    if (rc != 0) {
        s_failed = true;
    }
    obt_cert_free(&ca_leaf);
    obt_cert_free(&bad_ku);
    obt_cert_free(&leaf);
    obt_cert_free(&ca);
    obt_cert_free(&root);
}

/* ---- requests: one per body of the oneof, strings set by their names ---- */

static void
s_fill_strings(ProtobufCMessage *msg)
{
    for (unsigned i = 0; i < msg->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &msg->descriptor->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED) {
            continue;
        }
        const char *v = strstr(f->name, "uuid")       ? U_DEV
                        : strstr(f->name, "endpoint") ? EP
                        : strstr(f->name, "path")     ? "/oic/sec/doxm"
                                                      : "x";
        *(char **) ((char *) msg + f->offset) = CMN_PB_STR(v);
    }
}

static void
s_request_seeds(const char *harness, const ProtobufCMessageDescriptor *desc)
{
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE) {
            continue;
        }
        const ProtobufCMessageDescriptor *sd = f->descriptor;
        ProtobufCMessage *req = calloc(1, desc->sizeof_message);
        ProtobufCMessage *body = calloc(1, sd->sizeof_message);
        if (req == NULL || body == NULL) {
            free(req);
            free(body);
            s_failed = true;
            return;
        }
        desc->message_init(req);
        sd->message_init(body);
        s_fill_strings(body);
        const ProtobufCFieldDescriptor *corr = protobuf_c_message_descriptor_get_field(desc, 1);
        if (corr && corr->type == PROTOBUF_C_TYPE_UINT64) {
            *(uint64_t *) ((char *) req + corr->offset) = 42;
        }
        *(ProtobufCMessage **) ((char *) req + f->offset) = body;
        *(uint32_t *) ((char *) req + f->quantifier_offset) = f->id;
        size_t len = protobuf_c_message_get_packed_size(req);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf) {
            (void) protobuf_c_message_pack(req, buf);
            s_write(harness, f->name, buf, len);
        }
        free(buf);
        free(body);
        free(req);
    }
    static const uint8_t corr_only[] = {0x08, 0x2a}; /* corr_id 42, no body */
    s_write(harness, "no-body", corr_only, sizeof corr_only);
}

/* fuzz_cms_csr: the answer to GET /oic/sec/csr, a CSR naming the harness's fixed uuid
 * (PEM and DER), and ones it refuses (another CN, a P-384 key). */
static void
s_csr_one(const char *name, const char *curve, const char *cn, bool is_pem)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    X509_REQ *req = X509_REQ_new();
    X509_NAME *xn = X509_NAME_new();
    uint8_t *der = NULL, *buf = NULL;
    size_t len = 0;
    int n = -1;
    BIO *b = BIO_new(BIO_s_mem());
    if (key && req && xn && b &&
        X509_NAME_add_entry_by_txt(xn, "CN", MBSTRING_ASC, (const uint8_t *) cn, -1, -1, 0) == 1 &&
        X509_REQ_set_subject_name(req, xn) == 1 && X509_REQ_set_pubkey(req, key) == 1 &&
        X509_REQ_sign(req, key, EVP_sha256()) > 0) {
        if (is_pem && PEM_write_bio_X509_REQ(b, req) == 1) {
            char *data = NULL;
            n = (int) BIO_get_mem_data(b, &data);
            cmn_csr_t csr = {(uint8_t *) data, (size_t) n, CMN_ENC_PEM};
            s_write_encoded("cms_csr", name, cmn_csr_encode(&csr, &buf, &len), &buf, &len);
        } else if (!is_pem && (n = i2d_X509_REQ(req, &der)) > 0) {
            cmn_csr_t csr = {der, (size_t) n, CMN_ENC_DER};
            s_write_encoded("cms_csr", name, cmn_csr_encode(&csr, &buf, &len), &buf, &len);
        }
    }
    if (n <= 0) {
        (void) fprintf(stderr, "obt_fuzz_seeds: cms_csr/%s does not build\n", name);
        s_failed = true;
    }
    free(buf);
    OPENSSL_free(der);
    BIO_free(b);
    X509_NAME_free(xn);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
}

static void
s_csr_seeds(void)
{
    static const char *const cn = "uuid:5a0f2d14-7c3b-4e59-9a61-0b8d2e3f4c5d"; /* the harness's */
    s_csr_one("good-pem", "P-256", cn, true);
    s_csr_one("good-der", "P-256", cn, false);
    s_csr_one("bad-cn", "P-256", "uuid:00000000-0000-4000-8000-000000000000", true);
    s_csr_one("p384", "P-384", cn, true);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        (void) fprintf(stderr, "usage: obt_fuzz_seeds DIR\n");
        return 2;
    }
    s_dir = argv[1];
    s_svr_seeds();
    s_coap_seeds();
    s_cert_seeds();
    s_csr_seeds();
    s_request_seeds("gw_request", &obt__gw__request__descriptor);
    s_request_seeds("dots_request", &obt__dots__request__descriptor);
    s_request_seeds("svc_request", &obt__service_request__descriptor);
    return s_failed ? 1 : 0;
}
