/* cmn_ff00_test.c — the 0xFF00 DTLS engine: PRF and record known-answer vectors, and
 * a client and a server engine talking through an in-memory link that can lose,
 * replay, reorder and corrupt datagrams. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <string.h>

#include "cmn_ff00.h"
#include "cmn_psk.h"

static void
s_unhex(const char *hex, uint8_t *out, size_t *ret_len)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t) v;
    }
    *ret_len = n;
}

/* The TLS 1.2 P_SHA256 vector published with RFC 5246 implementations (secret, seed,
 * label "test label", 100 bytes); recomputed here with Python hmac. */
Test(cmn_ff00, prf_matches_tls12_vector)
{
    uint8_t secret[16], seed[16], want[100], got[100];
    size_t n = 0;
    s_unhex("9bbe436ba940f017b17652849a71db35", secret, &n);
    s_unhex("a0ba9f936cda311827a6f796ffd5198c", seed, &n);
    s_unhex("e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9"
            "a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa480"
            "82d122ee42c5a72e5a5110fff70187347b66",
            want, &n);
    cr_assert_eq(cmn_ff00_prf(secret, 16, "test label", seed, 16, got, 100), CMN_OK);
    cr_assert_arr_eq(got, want, 100);
}

/* A record computed independently (Python hmac + the cryptography package's AES-CBC):
 * mac_key 00..1f, enc_key 40..4f, IV 80..8f, epoch 1, seq 5, application data. */
#define KAT_CONTENT "CoAP over 0xFF00!"
#define KAT_RECORD                                                                                 \
    "17fefd00010000000000050050808182838485868788898a8b8c8d8e8f95fe30680217ee00acf0de5ca3c2e43"    \
    "538b40c8aed0db65a621a646ae0dc20294ec28ba07b4e12c9dd1c9c74e3346e8bfe3bc02f1e06467aa6aec8fc"    \
    "c01f04ed"

static void
s_kat_keys(cmn_ff00_dir_t *k, uint8_t iv[16])
{
    for (int i = 0; i < 32; i++) {
        k->mac_key[i] = (uint8_t) i;
    }
    for (int i = 0; i < 16; i++) {
        k->enc_key[i] = (uint8_t) (0x40 + i);
        iv[i] = (uint8_t) (0x80 + i);
    }
}

Test(cmn_ff00, seal_matches_known_record)
{
    cmn_ff00_dir_t k;
    uint8_t iv[16], want[200], got[200];
    size_t want_len = 0, got_len = 0;
    s_kat_keys(&k, iv);
    s_unhex(KAT_RECORD, want, &want_len);
    cr_assert_eq(cmn_ff00_seal(&k, 23, 1, 5, iv, (const uint8_t *) KAT_CONTENT, strlen(KAT_CONTENT),
                               got, sizeof got, &got_len),
                 CMN_OK);
    cr_assert_eq(got_len, want_len);
    cr_assert_arr_eq(got, want, want_len);
}

Test(cmn_ff00, open_known_record_and_refuse_tampering)
{
    cmn_ff00_dir_t k;
    uint8_t iv[16], rec[200], out[200];
    size_t len = 0, n = 0;
    s_kat_keys(&k, iv);
    s_unhex(KAT_RECORD, rec, &len);
    cr_assert_eq(cmn_ff00_open(&k, rec, len, out, sizeof out, &n), CMN_OK);
    cr_assert_eq(n, strlen(KAT_CONTENT));
    cr_assert_arr_eq(out, KAT_CONTENT, n);
    /* a flipped bit in the IV changes the first plaintext block: MAC fails */
    rec[13] ^= 1;
    cr_assert_eq(cmn_ff00_open(&k, rec, len, out, sizeof out, &n), CMN_ECRYPTO);
    rec[13] ^= 1;
    /* the sequence number is under the MAC */
    rec[10] ^= 1;
    cr_assert_eq(cmn_ff00_open(&k, rec, len, out, sizeof out, &n), CMN_ECRYPTO);
    rec[10] ^= 1;
    /* a length that is not whole blocks, or too short */
    cr_assert_eq(cmn_ff00_open(&k, rec, len - 1, out, sizeof out, &n), CMN_EPROTO);
    cr_assert_eq(cmn_ff00_open(&k, rec, 20, out, sizeof out, &n), CMN_EPROTO);
}

/* Bad padding with a correct MAC over the content: refused with the MAC's error. */
Test(cmn_ff00, open_refuses_bad_padding)
{
    cmn_ff00_dir_t k;
    uint8_t iv[16], pt[64], rec[13 + 16 + 64], mac[32];
    s_kat_keys(&k, iv);
    const uint8_t hdr[13] = {23, 254, 253, 0, 1, 0, 0, 0, 0, 0, 7, 0, 80};
    uint8_t pre[13] = {0, 1, 0, 0, 0, 0, 0, 7, 23, 254, 253, 0, 17};
    memcpy(pt, "seventeen bytes!!", 17);
    uint8_t in[13 + 17];
    memcpy(in, pre, 13);
    memcpy(in + 13, pt, 17);
    size_t ml = 0;
    cr_assert_not_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k.mac_key, 32, in, sizeof in,
                                 mac, sizeof mac, &ml));
    memcpy(pt + 17, mac, 32);
    memset(pt + 49, 14, 15); /* padding 14: 15 bytes of 14 */
    pt[52] = 13;             /* one wrong padding byte */
    memcpy(rec, hdr, 13);
    memcpy(rec + 13, iv, 16);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    cr_assert(EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, k.enc_key, iv) == 1);
    EVP_CIPHER_CTX_set_padding(c, 0);
    cr_assert(EVP_EncryptUpdate(c, rec + 29, &n1, pt, 64) == 1);
    cr_assert(EVP_EncryptFinal_ex(c, rec + 29 + n1, &n2) == 1);
    EVP_CIPHER_CTX_free(c);
    uint8_t out[100];
    size_t n = 0;
    cr_assert_eq(cmn_ff00_open(&k, rec, sizeof rec, out, sizeof out, &n), CMN_ECRYPTO);
    /* the same record with good padding opens: the failure was the padding */
    pt[52] = 14;
    c = EVP_CIPHER_CTX_new();
    cr_assert(EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, k.enc_key, iv) == 1);
    EVP_CIPHER_CTX_set_padding(c, 0);
    cr_assert(EVP_EncryptUpdate(c, rec + 29, &n1, pt, 64) == 1);
    cr_assert(EVP_EncryptFinal_ex(c, rec + 29 + n1, &n2) == 1);
    EVP_CIPHER_CTX_free(c);
    cr_assert_eq(cmn_ff00_open(&k, rec, sizeof rec, out, sizeof out, &n), CMN_OK);
    cr_assert_eq(n, 17);
}

/* ---- two engines on an in-memory link ------------------------------------------ */

typedef struct {
    cmn_ff00_t *c, *s;
    uint64_t now;
    int drop_c2s, drop_s2c; /* datagrams to lose in each direction */
    size_t c2s, s2c;        /* datagrams carried */
} s_link_t;

static void
s_link_new(s_link_t *l)
{
    memset(l, 0, sizeof *l);
    static const uint8_t peer[] = {127, 0, 0, 1, 0x16, 0x34};
    cmn_ff00_cfg_t cc = {.is_server = false, .rto_ms = 100};
    cmn_ff00_cfg_t sc = {.is_server = true,
                         .cookie_key = (const uint8_t *) "k",
                         .cookie_key_len = 1,
                         .peer = peer,
                         .peer_len = sizeof peer,
                         .rto_ms = 100};
    l->c = cmn_ff00_new(&cc);
    l->s = cmn_ff00_new(&sc);
    cr_assert_not_null(l->c);
    cr_assert_not_null(l->s);
    l->now = 1000;
}

static void
s_link_destroy(s_link_t *l)
{
    cmn_ff00_destroy(&l->c);
    cmn_ff00_destroy(&l->s);
    cr_assert_null(l->c);
}

/* Moves every waiting datagram once in each direction; returns how many moved. */
static size_t
s_pump(s_link_t *l)
{
    uint8_t d[CMN_FF00_MTU];
    size_t n, moved = 0;
    while ((n = cmn_ff00_output(l->c, d, sizeof d)) > 0) {
        moved++;
        if (l->drop_c2s > 0) {
            l->drop_c2s--;
            continue;
        }
        l->c2s++;
        (void) cmn_ff00_input(l->s, d, n, l->now);
    }
    while ((n = cmn_ff00_output(l->s, d, sizeof d)) > 0) {
        moved++;
        if (l->drop_s2c > 0) {
            l->drop_s2c--;
            continue;
        }
        l->s2c++;
        (void) cmn_ff00_input(l->c, d, n, l->now);
    }
    return moved;
}

/* Runs the link, advancing time to the next deadline when nothing moves. */
static void
s_run(s_link_t *l)
{
    for (int i = 0; i < 200; i++) {
        if (s_pump(l) > 0) {
            continue;
        }
        if (cmn_ff00_state(l->c) != CMN_FF00_HANDSHAKE &&
            cmn_ff00_state(l->s) != CMN_FF00_HANDSHAKE) {
            return;
        }
        uint64_t dc = cmn_ff00_deadline(l->c), ds = cmn_ff00_deadline(l->s);
        uint64_t next = dc && (!ds || dc < ds) ? dc : ds;
        if (next == 0) {
            return;
        }
        l->now = next;
        (void) cmn_ff00_tick(l->c, l->now);
        (void) cmn_ff00_tick(l->s, l->now);
    }
}

static void
s_assert_same_keys(s_link_t *l)
{
    uint8_t mc[48], ms[48], crc[32], crs[32], src[32], srs[32];
    cr_assert_eq(cmn_ff00_export(l->c, mc, crc, src), CMN_OK);
    cr_assert_eq(cmn_ff00_export(l->s, ms, crs, srs), CMN_OK);
    cr_assert_arr_eq(mc, ms, 48);
    cr_assert_arr_eq(crc, crs, 32);
    cr_assert_arr_eq(src, srs, 32);
    /* the owner PSK of OCF-NOTES 6.3 with KBL 96 is the same on both sides */
    uint8_t owner[16] = {1}, dev[16] = {2}, pc[16], ps[16];
    cr_assert_eq(
            cmn_psk_derive_owner(mc, crc, src, CMN_FF00_KBL, "oic.sec.doxm.jw", owner, dev, pc),
            CMN_OK);
    cr_assert_eq(
            cmn_psk_derive_owner(ms, crs, srs, CMN_FF00_KBL, "oic.sec.doxm.jw", owner, dev, ps),
            CMN_OK);
    cr_assert_arr_eq(pc, ps, 16);
}

static void
s_handshake(s_link_t *l)
{
    cr_assert_eq(cmn_ff00_start(l->c, l->now), CMN_OK);
    s_run(l);
    cr_assert_eq(cmn_ff00_state(l->c), CMN_FF00_ESTABLISHED, "client: %s", cmn_ff00_error(l->c));
    cr_assert_eq(cmn_ff00_state(l->s), CMN_FF00_ESTABLISHED, "server: %s", cmn_ff00_error(l->s));
}

Test(cmn_ff00, handshake_with_cookie_and_data_both_ways)
{
    s_link_t l;
    s_link_new(&l);
    s_handshake(&l);
    /* CH, HVR, CH+cookie, flight 4, flight 5, flight 6: three datagrams each way */
    cr_assert_eq(l.c2s, 3);
    cr_assert_eq(l.s2c, 3);
    s_assert_same_keys(&l);
    uint8_t big[1100], got[2000];
    for (size_t i = 0; i < sizeof big; i++) {
        big[i] = (uint8_t) (i * 7);
    }
    size_t n = 0;
    cr_assert_eq(cmn_ff00_write(l.c, big, sizeof big), CMN_OK);
    cr_assert_eq(cmn_ff00_write(l.s, (const uint8_t *) "2.05", 4), CMN_OK);
    s_pump(&l);
    cr_assert_eq(cmn_ff00_read(l.s, got, sizeof got, &n), CMN_OK);
    cr_assert_eq(n, sizeof big);
    cr_assert_arr_eq(got, big, n);
    cr_assert_eq(cmn_ff00_read(l.s, got, sizeof got, &n), CMN_ENOTFOUND);
    cr_assert_eq(cmn_ff00_read(l.c, got, sizeof got, &n), CMN_OK);
    cr_assert_eq(n, 4);
    cr_assert_arr_eq(got, "2.05", 4);
    /* close_notify */
    cmn_ff00_close(l.c);
    s_pump(&l);
    cr_assert_eq(cmn_ff00_state(l.s), CMN_FF00_CLOSED);
    cr_assert_eq(cmn_ff00_write(l.c, big, 1), CMN_ESTATE);
    s_link_destroy(&l);
}

Test(cmn_ff00, replayed_record_dropped_reordered_accepted)
{
    s_link_t l;
    s_link_new(&l);
    s_handshake(&l);
    uint8_t d1[CMN_FF00_MTU], d2[CMN_FF00_MTU], got[64];
    size_t n1, n2, n = 0;
    cr_assert_eq(cmn_ff00_write(l.c, (const uint8_t *) "one", 3), CMN_OK);
    cr_assert_eq(cmn_ff00_write(l.c, (const uint8_t *) "two", 3), CMN_OK);
    n1 = cmn_ff00_output(l.c, d1, sizeof d1);
    cr_assert_gt(n1, 0);
    /* the engine packs both records into one datagram: split it */
    size_t r1 = 13 + (((size_t) d1[11] << 8) | d1[12]);
    cr_assert_lt(r1, n1);
    memcpy(d2, d1 + r1, n1 - r1);
    n2 = n1 - r1;
    cr_assert_eq(cmn_ff00_input(l.s, d2, n2, l.now), CMN_OK); /* "two" first */
    cr_assert_eq(cmn_ff00_input(l.s, d1, r1, l.now), CMN_OK); /* then "one" */
    cr_assert_eq(cmn_ff00_input(l.s, d2, n2, l.now), CMN_OK); /* "two" again */
    cr_assert_eq(cmn_ff00_read(l.s, got, sizeof got, &n), CMN_OK);
    cr_assert_arr_eq(got, "two", 3);
    cr_assert_eq(cmn_ff00_read(l.s, got, sizeof got, &n), CMN_OK);
    cr_assert_arr_eq(got, "one", 3);
    cr_assert_eq(cmn_ff00_read(l.s, got, sizeof got, &n), CMN_ENOTFOUND, "replay accepted");
    s_link_destroy(&l);
}

Test(cmn_ff00, lost_server_flights_are_retransmitted)
{
    s_link_t l;
    s_link_new(&l);
    l.drop_s2c = 2; /* the first two HelloVerifyRequests */
    s_handshake(&l);
    s_assert_same_keys(&l);
    s_link_destroy(&l);
    /* flight 4 (ServerHello, ServerKeyExchange, ServerHelloDone) lost once */
    s_link_new(&l);
    cr_assert_eq(cmn_ff00_start(l.c, l.now), CMN_OK);
    s_pump(&l); /* CH -> HVR, client queues CH with cookie */
    l.drop_s2c = 1;
    uint64_t t0 = l.now;
    s_run(&l);
    cr_assert_eq(cmn_ff00_state(l.c), CMN_FF00_ESTABLISHED, "%s", cmn_ff00_error(l.c));
    cr_assert_eq(l.now - t0, 100, "one retransmission timeout");
    s_assert_same_keys(&l);
    s_link_destroy(&l);
}

Test(cmn_ff00, lost_final_flight_is_retransmitted)
{
    s_link_t l;
    s_link_new(&l);
    cr_assert_eq(cmn_ff00_start(l.c, l.now), CMN_OK);
    s_pump(&l);     /* CH -> HVR, client queues CH with cookie */
    s_pump(&l);     /* CH -> flight 4, client queues flight 5 */
    l.drop_s2c = 1; /* flight 6 is lost */
    s_pump(&l);
    cr_assert_eq(cmn_ff00_state(l.s), CMN_FF00_ESTABLISHED);
    cr_assert_eq(l.drop_s2c, 0);
    cr_assert_eq(cmn_ff00_state(l.c), CMN_FF00_HANDSHAKE);
    s_run(&l); /* client times out, sends flight 5 again, the server answers it */
    cr_assert_eq(cmn_ff00_state(l.c), CMN_FF00_ESTABLISHED, "%s", cmn_ff00_error(l.c));
    s_assert_same_keys(&l);
    s_link_destroy(&l);
}

Test(cmn_ff00, peer_that_stops_times_out)
{
    s_link_t l;
    s_link_new(&l);
    l.drop_s2c = 1000; /* the server is never heard */
    cr_assert_eq(cmn_ff00_start(l.c, l.now), CMN_OK);
    uint64_t t0 = l.now;
    s_run(&l);
    cr_assert_eq(cmn_ff00_state(l.c), CMN_FF00_FAILED);
    cr_assert_str_eq(cmn_ff00_error(l.c), "handshake timed out: the peer stopped answering");
    /* 100 ms doubling, 4 retransmissions: 100+200+400+800+1600 */
    cr_assert_eq(l.now - t0, 3100);
    cr_assert_eq(l.c2s, 5); /* the ClientHello, sent 1 + 4 times */
    s_link_destroy(&l);
}

Test(cmn_ff00, server_refuses_other_suites_with_alert)
{
    s_link_t l;
    s_link_new(&l);
    uint8_t d[CMN_FF00_MTU];
    cr_assert_eq(cmn_ff00_start(l.c, l.now), CMN_OK);
    s_pump(&l); /* CH -> HVR -> CH with cookie waiting */
    size_t n = cmn_ff00_output(l.c, d, sizeof d);
    cr_assert_gt(n, 80);
    /* header 13 + 12, version 2, random 32, sid 1, cookie 1 + 16, suites length 2 */
    cr_assert_eq(d[79], 0xFF);
    cr_assert_eq(d[80], 0x00);
    d[79] = 0xC0;
    d[80] = 0x18;
    cr_assert_eq(cmn_ff00_input(l.s, d, n, l.now), CMN_ECRYPTO);
    cr_assert_eq(cmn_ff00_state(l.s), CMN_FF00_FAILED);
    s_pump(&l); /* the alert reaches the client */
    cr_assert_eq(cmn_ff00_state(l.c), CMN_FF00_FAILED);
    cr_assert_str_eq(cmn_ff00_error(l.c), "peer sent fatal alert 40");
    s_link_destroy(&l);
}

Test(cmn_ff00, garbage_and_cut_datagrams_change_nothing)
{
    s_link_t l;
    s_link_new(&l);
    s_handshake(&l);
    uint8_t d[CMN_FF00_MTU], junk[300];
    for (size_t i = 0; i < sizeof junk; i++) {
        junk[i] = (uint8_t) (i * 31 + 7);
    }
    cr_assert_eq(cmn_ff00_input(l.s, junk, sizeof junk, l.now), CMN_OK);
    cr_assert_eq(cmn_ff00_write(l.c, (const uint8_t *) "x", 1), CMN_OK);
    size_t n = cmn_ff00_output(l.c, d, sizeof d);
    for (size_t cut = 0; cut < n; cut++) {
        cr_assert_eq(cmn_ff00_input(l.s, d, cut, l.now), CMN_OK);
    }
    d[n - 1] ^= 0x80; /* last ciphertext byte: padding and MAC fail */
    cr_assert_eq(cmn_ff00_input(l.s, d, n, l.now), CMN_OK);
    uint8_t got[8];
    size_t k = 0;
    cr_assert_eq(cmn_ff00_read(l.s, got, sizeof got, &k), CMN_ENOTFOUND);
    cr_assert_eq(cmn_ff00_state(l.s), CMN_FF00_ESTABLISHED);
    s_link_destroy(&l);
}

/* ocf-devsim's case: another stack (here a second server engine with another key)
 * answered the first ClientHello and consumed the second; our server takes the peer
 * over with a HelloVerifyRequest of its own, and the handshake completes with it. */
Test(cmn_ff00, hello_verify_takes_over_a_peer)
{
    s_link_t l;
    s_link_new(&l);
    cmn_ff00_cfg_t other_cfg = {.is_server = true};
    cmn_ff00_t *other = cmn_ff00_new(&other_cfg);
    cr_assert_not_null(other);
    uint8_t d[CMN_FF00_MTU];
    size_t n;
    cr_assert_eq(cmn_ff00_start(l.c, l.now), CMN_OK);
    n = cmn_ff00_output(l.c, d, sizeof d); /* ClientHello 1 -> the other stack */
    cr_assert_eq(cmn_ff00_input(other, d, n, l.now), CMN_OK);
    n = cmn_ff00_output(other, d, sizeof d); /* its HelloVerifyRequest */
    cr_assert_eq(cmn_ff00_input(l.c, d, n, l.now), CMN_OK);
    n = cmn_ff00_output(l.c, d, sizeof d); /* ClientHello 2: consumed, lost to us */
    cr_assert_gt(n, 0);
    cr_assert(cmn_ff00_is_client_hello(d, n));
    cr_assert_eq(cmn_ff00_hello_verify(l.s, 1), CMN_OK);
    s_run(&l);
    cr_assert_eq(cmn_ff00_state(l.c), CMN_FF00_ESTABLISHED, "%s", cmn_ff00_error(l.c));
    cr_assert_eq(cmn_ff00_state(l.s), CMN_FF00_ESTABLISHED, "%s", cmn_ff00_error(l.s));
    cr_assert_eq(l.now, 1000, "no retransmission needed");
    cr_assert_eq(cmn_ff00_hello_verify(l.c, 1), CMN_ESTATE);
    s_assert_same_keys(&l);
    cmn_ff00_destroy(&other);
    s_link_destroy(&l);
}
