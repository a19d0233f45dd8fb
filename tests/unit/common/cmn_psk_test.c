/* cmn_psk_test.c — owner-PSK derivation against the vectors of OCF-NOTES 6.3 */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_psk.h"
#include "cmn_uuid.h"

static void
s_inputs(uint8_t master[48], uint8_t cr[32], uint8_t sr[32], cmn_uuid_t *owner, cmn_uuid_t *dev)
{
    for (int i = 0; i < 48; i++) {
        master[i] = (uint8_t) i;
    }
    memset(cr, 0x11, 32);
    memset(sr, 0x22, 32);
    cr_assert_eq(cmn_uuid_from_str("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", owner), CMN_OK);
    cr_assert_eq(cmn_uuid_from_str("12345678-1234-5678-1234-567812345678", dev), CMN_OK);
}

static void
s_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", b[i]);
    }
}

Test(cmn_psk, key_block_matches_vector)
{
    uint8_t master[48], cr[32], sr[32], seed[13 + 64], kb[96];
    cmn_uuid_t owner, dev;
    char hex[200];
    s_inputs(master, cr, sr, &owner, &dev);
    memcpy(seed, "key expansion", 13);
    memcpy(seed + 13, sr, 32);
    memcpy(seed + 45, cr, 32);
    cr_assert_eq(cmn_psk_prf_sha256(master, 48, seed, sizeof seed, kb, sizeof kb), CMN_OK);
    s_hex(kb, 16, hex);
    cr_assert_str_eq(hex, "777fce36a1935fafd1d581bf7cae5b31");
}

Test(cmn_psk, jw_owner_psk_matches_vector)
{
    uint8_t master[48], cr[32], sr[32], psk[16];
    cmn_uuid_t owner, dev;
    char hex[40];
    s_inputs(master, cr, sr, &owner, &dev);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 96, "oic.sec.doxm.jw", owner.b, dev.b, psk),
                 CMN_OK);
    s_hex(psk, 16, hex);
    cr_assert_str_eq(hex, "820d396269631559fec73d65ed7b0ecd");
}

Test(cmn_psk, mfgcert_kbl40_matches_vector)
{
    uint8_t master[48], cr[32], sr[32], psk[16];
    cmn_uuid_t owner, dev;
    char hex[40];
    s_inputs(master, cr, sr, &owner, &dev);
    cr_assert_eq(
            cmn_psk_derive_owner(master, cr, sr, 40, "oic.sec.doxm.mfgcert", owner.b, dev.b, psk),
            CMN_OK);
    s_hex(psk, 16, hex);
    cr_assert_str_eq(hex, "bc123eb635dc6b142197eb6af4c0cf36");
}

Test(cmn_psk, owner_order_matters)
{
    uint8_t master[48], cr[32], sr[32], a[16], b[16];
    cmn_uuid_t owner, dev;
    s_inputs(master, cr, sr, &owner, &dev);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 96, "oic.sec.doxm.jw", owner.b, dev.b, a),
                 CMN_OK);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 96, "oic.sec.doxm.jw", dev.b, owner.b, b),
                 CMN_OK);
    cr_assert_neq(memcmp(a, b, 16), 0);
}

Test(cmn_psk, rejects_bad_kbl)
{
    uint8_t master[48] = {0}, cr[32] = {0}, sr[32] = {0}, psk[16];
    cmn_uuid_t u = {{0}};
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 0, "x", u.b, u.b, psk), CMN_EINVAL);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, 4096, "x", u.b, u.b, psk), CMN_EINVAL);
}

/* A real TLS 1.2 handshake between two SSL objects over an in-memory BIO pair;
 * both sides must derive the same owner PSK from their own view of the session. */
static unsigned
s_psk_client_cb(SSL *ssl,
                const char *hint,
                char *identity,
                unsigned max_identity,
                unsigned char *psk,
                unsigned max_psk)
{
    (void) ssl;
    (void) hint;
    (void) max_psk;
    cr_assert_gt(max_identity, 5);
    memcpy(identity, "ident", 6);
    memset(psk, 0x5a, 16);
    return 16;
}

static unsigned
s_psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk, unsigned max_psk)
{
    (void) ssl;
    (void) max_psk;
    cr_assert_str_eq(identity, "ident");
    memset(psk, 0x5a, 16);
    return 16;
}

static void
s_handshake(const char *cipher, size_t want_kbl)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    cr_assert(cctx && sctx);
    SSL_CTX *ctxs[2] = {cctx, sctx};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(SSL_CTX_set_min_proto_version(ctxs[i], TLS1_2_VERSION), 1);
        cr_assert_eq(SSL_CTX_set_max_proto_version(ctxs[i], TLS1_2_VERSION), 1);
        cr_assert_eq(SSL_CTX_set_cipher_list(ctxs[i], cipher), 1, "%s", cipher);
    }
    SSL_CTX_set_psk_client_callback(cctx, s_psk_client_cb);
    SSL_CTX_set_psk_server_callback(sctx, s_psk_server_cb);
    SSL *c = SSL_new(cctx);
    SSL *s = SSL_new(sctx);
    cr_assert(c && s);
    BIO *cb = NULL, *sb = NULL;
    cr_assert_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int cdone = 0, sdone = 0;
    for (int round = 0; round < 50 && !(cdone && sdone); round++) {
        if (!cdone) {
            int r = SSL_do_handshake(c);
            cdone = r == 1;
            cr_assert(r == 1 || SSL_get_error(c, r) == SSL_ERROR_WANT_READ, "client failed");
        }
        if (!sdone) {
            int r = SSL_do_handshake(s);
            sdone = r == 1;
            cr_assert(r == 1 || SSL_get_error(s, r) == SSL_ERROR_WANT_READ, "server failed");
        }
    }
    cr_assert(cdone && sdone, "handshake did not finish");

    cmn_uuid_t owner, dev;
    cr_assert_eq(cmn_uuid_generate(&owner), CMN_OK);
    cr_assert_eq(cmn_uuid_generate(&dev), CMN_OK);
    uint8_t pc[CMN_PSK_LEN], ps[CMN_PSK_LEN], other[CMN_PSK_LEN];
    size_t kc = 0, ks = 0;
    cr_assert_eq(cmn_psk_derive_from_ssl(c, "oic.sec.doxm.jw", owner.b, dev.b, pc, &kc), CMN_OK);
    cr_assert_eq(cmn_psk_derive_from_ssl(s, "oic.sec.doxm.jw", owner.b, dev.b, ps, &ks), CMN_OK);
    cr_assert_eq(kc, want_kbl, "%s: kbl %zu", cipher, kc);
    cr_assert_eq(ks, want_kbl);
    cr_assert_eq(memcmp(pc, ps, CMN_PSK_LEN), 0, "%s: sides disagree", cipher);

    /* the same result by hand, from the client's master secret and randoms */
    uint8_t master[48], cr[32], sr[32], manual[CMN_PSK_LEN];
    cr_assert_eq(SSL_SESSION_get_master_key(SSL_get_session(c), master, 48), 48);
    cr_assert_eq(SSL_get_client_random(c, cr, 32), 32);
    cr_assert_eq(SSL_get_server_random(c, sr, 32), 32);
    cr_assert_eq(cmn_psk_derive_owner(master, cr, sr, want_kbl, "oic.sec.doxm.jw", owner.b, dev.b,
                                      manual),
                 CMN_OK);
    cr_assert_eq(memcmp(manual, pc, CMN_PSK_LEN), 0);
    /* another label gives another key */
    cr_assert_eq(cmn_psk_derive_from_ssl(s, "oic.sec.doxm.rdp", owner.b, dev.b, other, NULL),
                 CMN_OK);
    cr_assert_neq(memcmp(other, ps, CMN_PSK_LEN), 0);

    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

Test(cmn_psk, real_handshake_anon_ecdh_cbc_sha)
{
    s_handshake("AECDH-AES128-SHA@SECLEVEL=0", 72);
}

Test(cmn_psk, real_handshake_psk_ccm8)
{
    s_handshake("PSK-AES128-CCM8", 40);
}

Test(cmn_psk, real_handshake_ecdhe_psk_cbc_sha256)
{
    s_handshake("ECDHE-PSK-AES128-CBC-SHA256", 96);
}

Test(cmn_psk, not_established_is_rejected)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    uint8_t out[CMN_PSK_LEN];
    cmn_uuid_t u = {{0}};
    cr_assert_neq(cmn_psk_derive_from_ssl(ssl, "oic.sec.doxm.jw", u.b, u.b, out, NULL), CMN_OK);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}
