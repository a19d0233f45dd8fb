/* cmn_ff00.c — the handshake, the record layer and the timers of the 0xFF00 DTLS 1.2
 * engine (cmn_ff00.h; record protection and PRF in cmn_ff00_rec.c). */
#include "cmn_ff00.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_LEN    13u   /* record header */
#define HS_HDR     12u   /* handshake message header */
#define MAX_MSG    2048u /* largest handshake message accepted */
#define SLOTS      4u    /* handshake messages held for reassembly */
#define OUTQ       16u   /* datagrams waiting for output */
#define INQ        8u    /* application records waiting to be read */
#define FLIGHT_MAX 4u    /* items of one flight */
#define COOKIE_LEN 16u
#define POINT_LEN  65u /* uncompressed P-256 point */
#define RTO_MAX_MS 60000u
#define SECP256R1  23u
#define FRAG_MAX   (CMN_FF00_MTU - HDR_LEN - HS_HDR - 80u) /* fits an epoch-1 record */

enum { CT_CCS = 20, CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APP = 23 };
enum { HT_CH = 1, HT_SH = 2, HT_HVR = 3, HT_SKE = 12, HT_SHD = 14, HT_CKE = 16, HT_FIN = 20 };
enum {
    AL_CLOSE = 0,
    AL_UNEXPECTED = 10,
    AL_HANDSHAKE = 40,
    AL_ILLEGAL = 47,
    AL_DECODE = 50,
    AL_DECRYPT = 51,
    AL_INTERNAL = 80,
    AL_UNSUPPORTED_EXT = 110
};

/* What the engine waits for next. */
typedef enum {
    W_START, /* client before cmn_ff00_start, server before a ClientHello with a cookie */
    W_SH,    /* client: HelloVerifyRequest or ServerHello */
    W_SKE,
    W_SHD,
    W_CKE,
    W_CCS,
    W_FIN,
    W_DONE /* established, closed or failed: see state */
} s_wait_t;

typedef struct {
    bool is_used;
    uint16_t seq;
    uint8_t type;
    uint32_t len;
    uint32_t got;  /* bytes received (counted once each) */
    uint8_t *body; /* len bytes */
    uint8_t *have; /* len flags */
} s_slot_t;

typedef struct {
    uint8_t type; /* CT_HANDSHAKE or CT_CCS */
    uint16_t epoch;
    uint16_t len;
    uint8_t data[512]; /* a whole handshake message with its header, or the CCS byte */
} s_item_t;

typedef struct {
    uint64_t top; /* highest sequence number accepted */
    uint64_t bits;
    bool is_any;
} s_window_t;

typedef struct {
    size_t len;
    uint8_t buf[CMN_FF00_MTU];
} s_dgram_t;

struct cmn_ff00 {
    bool is_server;
    cmn_ff00_state_t state;
    s_wait_t wait;
    char error[96];
    uint8_t cookie_key[32];
    uint8_t peer[64];
    size_t peer_len;
    uint8_t cookie[255]; /* client: the server's cookie */
    size_t cookie_len;
    uint8_t client_random[32];
    uint8_t server_random[32];
    uint8_t peer_point[POINT_LEN];
    EVP_PKEY *key; /* our ECDHE key */
    uint8_t master[48];
    cmn_ff00_dir_t w_keys, r_keys; /* epoch 1 */
    EVP_MD_CTX *transcript;
    uint8_t hello[512]; /* client: the last ClientHello, hashed once the ServerHello comes */
    size_t hello_len;
    bool has_point_formats;
    /* record layer */
    uint16_t w_epoch, r_epoch;
    uint64_t w_seq[2];
    s_window_t window[2];
    uint8_t early[CMN_FF00_MTU]; /* one epoch-1 record that came before the CCS */
    size_t early_len;
    /* handshake messages */
    uint16_t send_seq, recv_seq;
    s_slot_t slots[SLOTS];
    s_item_t flight[FLIGHT_MAX];
    size_t flight_len;
    /* timer */
    uint32_t rto0, rto, max_rtx, rtx;
    uint64_t deadline;
    /* queues */
    s_dgram_t *outq;
    size_t out_head, out_count;
    uint8_t *inq[INQ];
    size_t inq_len[INQ];
    size_t in_head, in_count;
};

static void
s_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static void
s_put24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 16);
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) v;
}

static uint32_t
s_get16(const uint8_t *p)
{
    return ((uint32_t) p[0] << 8) | p[1];
}

static uint32_t
s_get24(const uint8_t *p)
{
    return ((uint32_t) p[0] << 16) | ((uint32_t) p[1] << 8) | p[2];
}

static uint64_t
s_get48(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 6; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* ---- failure and alerts ------------------------------------------------------- */

static uint8_t *s_out_slot(cmn_ff00_t *self, size_t need);
static cmn_err_t s_record(cmn_ff00_t *self, uint8_t type, const uint8_t *data, size_t len);

static cmn_err_t
s_fail(cmn_ff00_t *self, int alert, cmn_err_t err, const char *why)
{
    if (self->state == CMN_FF00_FAILED || self->state == CMN_FF00_CLOSED) {
        return err;
    }
    if (alert >= 0) {
        uint8_t a[2] = {2, (uint8_t) alert};
        (void) s_record(self, CT_ALERT, a, sizeof a);
    }
    (void) snprintf(self->error, sizeof self->error, "%s", why);
    self->state = CMN_FF00_FAILED;
    self->wait = W_DONE;
    self->deadline = 0;
    return err;
}

/* ---- output ------------------------------------------------------------------- */

/* Room for need bytes in the last queued datagram, or in a new one. */
static uint8_t *
s_out_slot(cmn_ff00_t *self, size_t need)
{
    if (self->out_count > 0) {
        s_dgram_t *d = &self->outq[(self->out_head + self->out_count - 1) % OUTQ];
        if (d->len + need <= CMN_FF00_MTU) {
            return d->buf + d->len;
        }
    }
    if (self->out_count == OUTQ || need > CMN_FF00_MTU) {
        return NULL;
    }
    s_dgram_t *d = &self->outq[(self->out_head + self->out_count) % OUTQ];
    d->len = 0;
    self->out_count++;
    return d->buf;
}

static void
s_out_commit(cmn_ff00_t *self, size_t len)
{
    self->outq[(self->out_head + self->out_count - 1) % OUTQ].len += len;
}

/* One record in the current write epoch, appended to the output. */
static cmn_err_t
s_record(cmn_ff00_t *self, uint8_t type, const uint8_t *data, size_t len)
{
    uint16_t epoch = self->w_epoch;
    uint64_t seq = self->w_seq[epoch];
    if (seq >= (1ull << 48) - 1) {
        return CMN_ESTATE; /* the sequence space is spent: no renegotiation here */
    }
    size_t need = epoch == 0 ? HDR_LEN + len : HDR_LEN + 16 + len + 32 + 16;
    uint8_t *p = s_out_slot(self, need);
    if (p == NULL) {
        return CMN_ENOSPC;
    }
    size_t n = 0;
    if (epoch == 0) {
        p[0] = type;
        p[1] = 254;
        p[2] = 253;
        s_put16(p + 3, 0);
        for (int i = 0; i < 6; i++) {
            p[5 + i] = (uint8_t) (seq >> (8 * (5 - i)));
        }
        s_put16(p + 11, (uint32_t) len);
        memcpy(p + HDR_LEN, data, len);
        n = HDR_LEN + len;
    } else {
        cmn_err_t err =
                cmn_ff00_seal(&self->w_keys, type, epoch, seq, NULL, data, len, p, need, &n);
        if (err != CMN_OK) {
            return err;
        }
    }
    self->w_seq[epoch] = seq + 1;
    s_out_commit(self, n);
    return CMN_OK;
}

/* Sends one item of a flight: a handshake message in fragments that fit a datagram,
 * or the ChangeCipherSpec (which moves the write side to epoch 1). */
static cmn_err_t
s_send_item(cmn_ff00_t *self, const s_item_t *it)
{
    self->w_epoch = it->epoch;
    if (it->type == CT_CCS) {
        cmn_err_t err = s_record(self, CT_CCS, it->data, 1);
        self->w_epoch = 1;
        return err;
    }
    uint32_t body = it->len - HS_HDR;
    uint32_t off = 0;
    do {
        uint32_t n = body - off < FRAG_MAX ? body - off : FRAG_MAX;
        uint8_t frag[HS_HDR + FRAG_MAX];
        memcpy(frag, it->data, 6); /* type, length, message_seq */
        s_put24(frag + 6, off);
        s_put24(frag + 9, n);
        memcpy(frag + HS_HDR, it->data + HS_HDR + off, n);
        cmn_err_t err = s_record(self, CT_HANDSHAKE, frag, HS_HDR + n);
        if (err != CMN_OK) {
            return err;
        }
        off += n;
    } while (off < body);
    return CMN_OK;
}

static cmn_err_t
s_send_flight(cmn_ff00_t *self)
{
    uint16_t epoch = self->w_epoch;
    for (size_t i = 0; i < self->flight_len; i++) {
        cmn_err_t err = s_send_item(self, &self->flight[i]);
        if (err != CMN_OK) {
            return err;
        }
    }
    self->w_epoch = epoch > self->w_epoch ? epoch : self->w_epoch;
    return CMN_OK;
}

static void
s_transcript(cmn_ff00_t *self, const uint8_t *msg, size_t len)
{
    (void) EVP_DigestUpdate(self->transcript, msg, len);
}

/* Adds a handshake message (type, body) to the flight being built, with the next
 * message_seq; hashed into the transcript unless is_unhashed. */
static s_item_t *
s_add_msg(cmn_ff00_t *self, uint8_t type, const uint8_t *body, size_t len, bool is_hashed)
{
    if (self->flight_len == FLIGHT_MAX || len + HS_HDR > sizeof self->flight[0].data) {
        return NULL;
    }
    s_item_t *it = &self->flight[self->flight_len++];
    it->type = CT_HANDSHAKE;
    it->epoch = self->w_epoch;
    it->len = (uint16_t) (HS_HDR + len);
    it->data[0] = type;
    s_put24(it->data + 1, (uint32_t) len);
    s_put16(it->data + 4, self->send_seq++);
    s_put24(it->data + 6, 0);
    s_put24(it->data + 9, (uint32_t) len);
    if (len) {
        memcpy(it->data + HS_HDR, body, len);
    }
    if (is_hashed) {
        s_transcript(self, it->data, it->len);
    }
    return it;
}

static void
s_add_ccs(cmn_ff00_t *self)
{
    s_item_t *it = &self->flight[self->flight_len++];
    it->type = CT_CCS;
    it->epoch = self->w_epoch;
    it->len = 1;
    it->data[0] = 1;
    self->w_epoch = 1; /* what follows in the flight is epoch 1 */
}

static void
s_timer_start(cmn_ff00_t *self, uint64_t now_ms)
{
    self->rto = self->rto0;
    self->rtx = 0;
    self->deadline = now_ms + self->rto;
}

/* Sends the flight just built (its items start at epoch first_epoch). */
static cmn_err_t
s_flight_go(cmn_ff00_t *self, uint16_t first_epoch, uint64_t now_ms, bool has_timer)
{
    self->w_epoch = first_epoch;
    cmn_err_t err = s_send_flight(self);
    if (err != CMN_OK) {
        return s_fail(self, -1, err, "cannot queue the flight");
    }
    if (has_timer) {
        s_timer_start(self, now_ms);
    } else {
        self->deadline = 0;
    }
    return CMN_OK;
}

/* ---- keys ---------------------------------------------------------------------- */

static cmn_err_t
s_keygen(cmn_ff00_t *self, uint8_t ret_point[POINT_LEN])
{
    self->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    size_t n = 0;
    if (self->key == NULL ||
        EVP_PKEY_get_octet_string_param(self->key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, ret_point,
                                        POINT_LEN, &n) != 1 ||
        n != POINT_LEN) {
        return CMN_ECRYPTO;
    }
    return CMN_OK;
}

/* The peer's P-256 point (checked on the curve by OpenSSL) and ours give the
 * premaster secret, then the master secret and the epoch-1 keys (RFC 5246 8.1, 6.3). */
static cmn_err_t
s_derive(cmn_ff00_t *self)
{
    cmn_err_t err = CMN_ECRYPTO;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *dctx = NULL;
    uint8_t pms[32], seed[64], kb[CMN_FF00_KBL];
    char group[] = "P-256";
    size_t pms_len = sizeof pms;
    OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, self->peer_point, POINT_LEN),
            OSSL_PARAM_construct_end(),
    };
    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &peer, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        goto out;
    }
    dctx = EVP_PKEY_CTX_new_from_pkey(NULL, self->key, NULL);
    if (dctx == NULL || EVP_PKEY_derive_init(dctx) != 1 ||
        EVP_PKEY_derive_set_peer_ex(dctx, peer, 1) != 1 ||
        EVP_PKEY_derive(dctx, pms, &pms_len) != 1 || pms_len != sizeof pms) {
        goto out;
    }
    memcpy(seed, self->client_random, 32);
    memcpy(seed + 32, self->server_random, 32);
    if (cmn_ff00_prf(pms, sizeof pms, "master secret", seed, 64, self->master, 48) != CMN_OK) {
        goto out;
    }
    memcpy(seed, self->server_random, 32);
    memcpy(seed + 32, self->client_random, 32);
    if (cmn_ff00_prf(self->master, 48, "key expansion", seed, 64, kb, sizeof kb) != CMN_OK) {
        goto out;
    }
    /* client MAC, server MAC, client key, server key */
    cmn_ff00_dir_t *c = self->is_server ? &self->r_keys : &self->w_keys;
    cmn_ff00_dir_t *s = self->is_server ? &self->w_keys : &self->r_keys;
    memcpy(c->mac_key, kb, 32);
    memcpy(s->mac_key, kb + 32, 32);
    memcpy(c->enc_key, kb + 64, 16);
    memcpy(s->enc_key, kb + 80, 16);
    err = CMN_OK;
out:
    OPENSSL_cleanse(pms, sizeof pms);
    OPENSSL_cleanse(kb, sizeof kb);
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(peer);
    return err;
}

/* verify_data of the client's or the server's Finished over the transcript so far. */
static cmn_err_t
s_verify_data(cmn_ff00_t *self, bool is_client, uint8_t out[12])
{
    uint8_t hash[32];
    unsigned int n = 0;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    cmn_err_t err = CMN_ECRYPTO;
    if (copy && EVP_MD_CTX_copy_ex(copy, self->transcript) == 1 &&
        EVP_DigestFinal_ex(copy, hash, &n) == 1) {
        err = cmn_ff00_prf(self->master, 48, is_client ? "client finished" : "server finished",
                           hash, n, out, 12);
    }
    EVP_MD_CTX_free(copy);
    return err;
}

/* The cookie the server wants from this peer: HMAC-SHA256 of its address under the
 * engine's key (not bound to the client random, so that cmn_ff00_hello_verify can
 * send it before any ClientHello reached this engine). */
static cmn_err_t
s_cookie(const cmn_ff00_t *self, uint8_t out[COOKIE_LEN])
{
    uint8_t mac[32];
    size_t n = 0;
    cmn_err_t err = CMN_ECRYPTO;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, self->cookie_key, sizeof self->cookie_key,
                  self->peer, self->peer_len, mac, sizeof mac, &n) != NULL &&
        n == sizeof mac) {
        memcpy(out, mac, COOKIE_LEN);
        err = CMN_OK;
    }
    return err;
}

/* A HelloVerifyRequest with message_seq and record sequence number rec_seq; no state,
 * no timer (the client retransmits). */
static cmn_err_t
s_send_hvr(cmn_ff00_t *self, uint16_t msg_seq, uint64_t rec_seq)
{
    uint8_t hvr[HS_HDR + 3 + COOKIE_LEN];
    hvr[0] = HT_HVR;
    s_put24(hvr + 1, 3 + COOKIE_LEN);
    s_put16(hvr + 4, msg_seq);
    s_put24(hvr + 6, 0);
    s_put24(hvr + 9, 3 + COOKIE_LEN);
    hvr[12] = 254;
    hvr[13] = 255;
    hvr[14] = COOKIE_LEN;
    if (s_cookie(self, hvr + 15) != CMN_OK) {
        return CMN_ECRYPTO;
    }
    uint64_t saved = self->w_seq[0];
    self->w_epoch = 0;
    self->w_seq[0] = rec_seq;
    cmn_err_t err = s_record(self, CT_HANDSHAKE, hvr, sizeof hvr);
    self->w_seq[0] = saved > rec_seq + 1 ? saved : rec_seq + 1;
    return err;
}

/* ---- messages ------------------------------------------------------------------ */

/* A cursor over a message body; every take checks the length. */
typedef struct {
    const uint8_t *p;
    size_t left;
    bool is_bad;
} s_rd_t;

static const uint8_t *
s_take(s_rd_t *r, size_t n)
{
    if (r->is_bad || r->left < n) {
        r->is_bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static uint32_t
s_take_n(s_rd_t *r, size_t n)
{
    const uint8_t *p = s_take(r, n);
    uint32_t v = 0;
    for (size_t i = 0; p && i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* A length-prefixed vector (prefix of n bytes). */
static const uint8_t *
s_take_vec(s_rd_t *r, size_t n, size_t *ret_len)
{
    *ret_len = s_take_n(r, n);
    return s_take(r, *ret_len);
}

static cmn_err_t
s_send_client_hello(cmn_ff00_t *self, uint64_t now_ms)
{
    uint8_t b[400];
    size_t n = 0;
    b[n++] = 254;
    b[n++] = 253;
    memcpy(b + n, self->client_random, 32);
    n += 32;
    b[n++] = 0; /* no session id */
    b[n++] = (uint8_t) self->cookie_len;
    memcpy(b + n, self->cookie, self->cookie_len);
    n += self->cookie_len;
    s_put16(b + n, 2);
    s_put16(b + n + 2, CMN_FF00_SUITE);
    n += 4;
    b[n++] = 1; /* compression: null only */
    b[n++] = 0;
    static const uint8_t ext[] = {
            0, 14,                           /* extensions length */
            0, 10, 0, 4, 0, 2, 0, SECP256R1, /* supported_groups: secp256r1 */
            0, 11, 0, 2, 1, 0,               /* ec_point_formats: uncompressed */
    };
    memcpy(b + n, ext, sizeof ext);
    n += sizeof ext;
    self->flight_len = 0;
    s_item_t *it = s_add_msg(self, HT_CH, b, n, false);
    if (it == NULL) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "cannot build the ClientHello");
    }
    memcpy(self->hello, it->data, it->len);
    self->hello_len = it->len;
    self->recv_seq = (uint16_t) (self->send_seq - 1); /* the server answers with our seq */
    self->wait = W_SH;
    return s_flight_go(self, 0, now_ms, true);
}

static cmn_err_t
s_on_hvr(cmn_ff00_t *self, const uint8_t *body, size_t len, uint64_t now_ms)
{
    s_rd_t r = {body, len, false};
    size_t clen = 0;
    (void) s_take(&r, 2); /* server_version: any DTLS version (RFC 6347 4.2.1) */
    const uint8_t *cookie = s_take_vec(&r, 1, &clen);
    if (r.is_bad || r.left != 0 || clen == 0) {
        return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed HelloVerifyRequest");
    }
    memcpy(self->cookie, cookie, clen);
    self->cookie_len = clen;
    return s_send_client_hello(self, now_ms);
}

static cmn_err_t
s_on_server_hello(cmn_ff00_t *self, const uint8_t *msg, size_t len)
{
    s_rd_t r = {msg + HS_HDR, len - HS_HDR, false};
    size_t sid_len = 0;
    uint32_t version = s_take_n(&r, 2);
    const uint8_t *random = s_take(&r, 32);
    (void) s_take_vec(&r, 1, &sid_len);
    uint32_t suite = s_take_n(&r, 2);
    uint32_t comp = s_take_n(&r, 1);
    if (r.is_bad || sid_len > 32) {
        return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed ServerHello");
    }
    if (version != 0xFEFD) {
        return s_fail(self, AL_HANDSHAKE, CMN_ECRYPTO,
                      "server chose a version other than DTLS 1.2");
    }
    if (suite != CMN_FF00_SUITE || comp != 0) {
        return s_fail(self, AL_ILLEGAL, CMN_ECRYPTO, "server chose a suite we did not offer");
    }
    if (r.left > 0) {
        size_t ext_len = 0;
        const uint8_t *ext = s_take_vec(&r, 2, &ext_len);
        s_rd_t e = {ext, ext_len, r.is_bad || r.left != 0};
        while (!e.is_bad && e.left > 0) {
            uint32_t type = s_take_n(&e, 2);
            size_t n = 0;
            const uint8_t *v = s_take_vec(&e, 2, &n);
            /* only what we offered, or the empty renegotiation_info */
            if (!e.is_bad && type != 11 && !(type == 0xFF01 && n == 1 && v[0] == 0)) {
                return s_fail(self, AL_UNSUPPORTED_EXT, CMN_EPROTO,
                              "server sent an extension we did not offer");
            }
        }
        if (e.is_bad) {
            return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed ServerHello extensions");
        }
    }
    memcpy(self->server_random, random, 32);
    s_transcript(self, self->hello, self->hello_len);
    s_transcript(self, msg, len);
    self->wait = W_SKE;
    return CMN_OK;
}

static cmn_err_t
s_on_ske(cmn_ff00_t *self, const uint8_t *msg, size_t len)
{
    s_rd_t r = {msg + HS_HDR, len - HS_HDR, false};
    size_t plen = 0;
    uint32_t curve_type = s_take_n(&r, 1);
    uint32_t curve = s_take_n(&r, 2);
    const uint8_t *point = s_take_vec(&r, 1, &plen);
    if (r.is_bad || r.left != 0) {
        return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed ServerKeyExchange");
    }
    if (curve_type != 3 || curve != SECP256R1 || plen != POINT_LEN || point[0] != 4) {
        return s_fail(self, AL_ILLEGAL, CMN_ECRYPTO,
                      "ServerKeyExchange names a curve or point format we did not offer");
    }
    memcpy(self->peer_point, point, POINT_LEN);
    s_transcript(self, msg, len);
    self->wait = W_SHD;
    return CMN_OK;
}

static cmn_err_t
s_on_shd(cmn_ff00_t *self, const uint8_t *msg, size_t len, uint64_t now_ms)
{
    if (len != HS_HDR) {
        return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed ServerHelloDone");
    }
    s_transcript(self, msg, len);
    uint8_t cke[1 + POINT_LEN];
    cke[0] = POINT_LEN;
    if (s_keygen(self, cke + 1) != CMN_OK || s_derive(self) != CMN_OK) {
        return s_fail(self, AL_ILLEGAL, CMN_ECRYPTO, "ECDH with the server's point failed");
    }
    self->flight_len = 0;
    self->w_epoch = 0;
    uint8_t fin[12];
    if (s_add_msg(self, HT_CKE, cke, sizeof cke, true) == NULL) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "cannot build the ClientKeyExchange");
    }
    s_add_ccs(self);
    if (s_verify_data(self, true, fin) != CMN_OK ||
        s_add_msg(self, HT_FIN, fin, 12, true) == NULL) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "cannot build the Finished");
    }
    self->wait = W_CCS;
    return s_flight_go(self, 0, now_ms, true);
}

/* Server: a ClientHello, whole in one fragment (checked by the caller). */
static cmn_err_t
s_on_client_hello(
        cmn_ff00_t *self, const uint8_t *msg, size_t len, uint64_t rec_seq, uint64_t now_ms)
{
    s_rd_t r = {msg + HS_HDR, len - HS_HDR, false};
    size_t sid_len = 0, cookie_len = 0, suites_len = 0, comp_len = 0;
    uint32_t version = s_take_n(&r, 2);
    const uint8_t *random = s_take(&r, 32);
    (void) s_take_vec(&r, 1, &sid_len);
    const uint8_t *cookie = s_take_vec(&r, 1, &cookie_len);
    const uint8_t *suites = s_take_vec(&r, 2, &suites_len);
    const uint8_t *comp = s_take_vec(&r, 1, &comp_len);
    if (r.is_bad || sid_len > 32 || suites_len % 2 != 0) {
        return CMN_OK; /* not a ClientHello we can answer: dropped, no state kept */
    }
    uint16_t ch_seq = (uint16_t) s_get16(msg + 4);
    uint8_t want[COOKIE_LEN];
    if (s_cookie(self, want) != CMN_OK) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "cookie computation failed");
    }
    if (cookie_len != COOKIE_LEN || CRYPTO_memcmp(cookie, want, COOKIE_LEN) != 0) {
        /* the record sequence number of the ClientHello (RFC 6347 4.2.1) */
        cmn_err_t err = s_send_hvr(self, ch_seq, rec_seq);
        return err == CMN_OK ? CMN_OK
                             : s_fail(self, -1, err, "cannot queue the HelloVerifyRequest");
    }
    if (version < 0xFEFD) {
        return s_fail(self, AL_HANDSHAKE, CMN_ECRYPTO, "client offers no DTLS 1.2");
    }
    bool has_suite = false, has_null = false, has_curve = true, has_format = true;
    for (size_t i = 0; i + 1 < suites_len; i += 2) {
        has_suite |= s_get16(suites + i) == CMN_FF00_SUITE;
    }
    for (size_t i = 0; i < comp_len; i++) {
        has_null |= comp[i] == 0;
    }
    if (r.left > 0) {
        size_t ext_len = 0;
        const uint8_t *ext = s_take_vec(&r, 2, &ext_len);
        s_rd_t e = {ext, ext_len, r.is_bad};
        while (!e.is_bad && e.left > 0) {
            uint32_t type = s_take_n(&e, 2);
            size_t n = 0;
            const uint8_t *v = s_take_vec(&e, 2, &n);
            s_rd_t x = {v, n, e.is_bad};
            size_t list_len = 0;
            if (type == 10) { /* supported_groups */
                const uint8_t *l = s_take_vec(&x, 2, &list_len);
                has_curve = false;
                for (size_t i = 0; l && i + 1 < list_len; i += 2) {
                    has_curve |= s_get16(l + i) == SECP256R1;
                }
            } else if (type == 11) { /* ec_point_formats */
                const uint8_t *l = s_take_vec(&x, 1, &list_len);
                has_format = false;
                for (size_t i = 0; l && i < list_len; i++) {
                    has_format |= l[i] == 0;
                }
                self->has_point_formats = true;
            }
            e.is_bad |= x.is_bad;
        }
        if (e.is_bad) {
            return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed ClientHello extensions");
        }
    }
    if (!has_suite || !has_null || !has_curve || !has_format) {
        return s_fail(self, AL_HANDSHAKE, CMN_ECRYPTO,
                      "client does not offer 0xFF00 with P-256 and no compression");
    }
    memcpy(self->client_random, random, 32);
    s_transcript(self, msg, len);
    self->recv_seq = (uint16_t) (ch_seq + 1);
    self->send_seq = ch_seq;
    self->w_seq[0] = self->w_seq[0] > rec_seq + 1 ? self->w_seq[0] : rec_seq + 1;
    /* flight 4: ServerHello, ServerKeyExchange, ServerHelloDone */
    uint8_t sh[2 + 32 + 1 + 2 + 1 + 2 + 6];
    size_t n = 0;
    sh[n++] = 254;
    sh[n++] = 253;
    if (RAND_bytes(self->server_random, 32) != 1) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "DRBG failed");
    }
    memcpy(sh + n, self->server_random, 32);
    n += 32;
    sh[n++] = 0; /* no session id: no resumption */
    s_put16(sh + n, CMN_FF00_SUITE);
    n += 2;
    sh[n++] = 0;
    if (self->has_point_formats) {
        static const uint8_t pf[] = {0, 6, 0, 11, 0, 2, 1, 0};
        memcpy(sh + n, pf, sizeof pf);
        n += sizeof pf;
    }
    uint8_t ske[4 + POINT_LEN];
    ske[0] = 3; /* named_curve */
    s_put16(ske + 1, SECP256R1);
    ske[3] = POINT_LEN;
    if (s_keygen(self, ske + 4) != CMN_OK) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "ECDHE key generation failed");
    }
    self->flight_len = 0;
    self->w_epoch = 0;
    if (s_add_msg(self, HT_SH, sh, n, true) == NULL ||
        s_add_msg(self, HT_SKE, ske, sizeof ske, true) == NULL ||
        s_add_msg(self, HT_SHD, NULL, 0, true) == NULL) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "cannot build the server flight");
    }
    self->wait = W_CKE;
    return s_flight_go(self, 0, now_ms, true);
}

static cmn_err_t
s_on_cke(cmn_ff00_t *self, const uint8_t *msg, size_t len)
{
    s_rd_t r = {msg + HS_HDR, len - HS_HDR, false};
    size_t plen = 0;
    const uint8_t *point = s_take_vec(&r, 1, &plen);
    if (r.is_bad || r.left != 0 || plen != POINT_LEN || point[0] != 4) {
        return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed ClientKeyExchange");
    }
    memcpy(self->peer_point, point, POINT_LEN);
    if (s_derive(self) != CMN_OK) {
        return s_fail(self, AL_ILLEGAL, CMN_ECRYPTO, "ECDH with the client's point failed");
    }
    s_transcript(self, msg, len);
    self->wait = W_CCS;
    return CMN_OK;
}

static cmn_err_t
s_on_finished(cmn_ff00_t *self, const uint8_t *msg, size_t len, uint64_t now_ms)
{
    uint8_t want[12];
    if (len != HS_HDR + 12) {
        return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed Finished");
    }
    if (s_verify_data(self, self->is_server, want) != CMN_OK) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "PRF failed");
    }
    if (CRYPTO_memcmp(want, msg + HS_HDR, 12) != 0) {
        return s_fail(self, AL_DECRYPT, CMN_ECRYPTO, "the peer's Finished does not verify");
    }
    s_transcript(self, msg, len);
    self->state = CMN_FF00_ESTABLISHED;
    self->wait = W_DONE;
    if (!self->is_server) {
        self->deadline = 0;
        return CMN_OK;
    }
    uint8_t fin[12];
    self->flight_len = 0;
    self->w_epoch = 0;
    s_add_ccs(self);
    if (s_verify_data(self, false, fin) != CMN_OK ||
        s_add_msg(self, HT_FIN, fin, 12, true) == NULL) {
        return s_fail(self, AL_INTERNAL, CMN_ECRYPTO, "cannot build the Finished");
    }
    /* the last flight: no timer, sent again when the client's flight comes again */
    return s_flight_go(self, 0, now_ms, false);
}

/* One whole handshake message, in message_seq order. */
static cmn_err_t
s_on_message(cmn_ff00_t *self, const uint8_t *msg, size_t len, uint64_t now_ms)
{
    uint8_t type = msg[0];
    struct {
        s_wait_t wait;
        uint8_t type;
    } const order[] = {
            {W_SH, HT_SH}, {W_SKE, HT_SKE}, {W_SHD, HT_SHD}, {W_CKE, HT_CKE}, {W_FIN, HT_FIN}};
    if (self->wait == W_SH && type == HT_HVR && !self->is_server) {
        return s_on_hvr(self, msg + HS_HDR, len - HS_HDR, now_ms);
    }
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (order[i].wait != self->wait || order[i].type != type) {
            continue;
        }
        switch (type) {
        case HT_SH:
            return s_on_server_hello(self, msg, len);
        case HT_SKE:
            return s_on_ske(self, msg, len);
        case HT_SHD:
            return s_on_shd(self, msg, len, now_ms);
        case HT_CKE:
            return self->is_server ? s_on_cke(self, msg, len) : CMN_OK;
        default:
            return s_on_finished(self, msg, len, now_ms);
        }
    }
    return s_fail(self, AL_UNEXPECTED, CMN_EPROTO, "unexpected handshake message");
}

static void
s_slot_free(s_slot_t *s)
{
    free(s->body);
    free(s->have);
    memset(s, 0, sizeof *s);
}

/* Processes the messages that are complete, in order. */
static cmn_err_t
s_drain(cmn_ff00_t *self, uint64_t now_ms)
{
    for (;;) {
        s_slot_t *s = NULL;
        for (size_t i = 0; i < SLOTS; i++) {
            if (self->slots[i].is_used && self->slots[i].seq == self->recv_seq) {
                s = &self->slots[i];
            }
        }
        if (s == NULL || s->got != s->len) {
            return CMN_OK;
        }
        if (self->wait == W_CCS || self->wait == W_DONE) {
            return CMN_OK; /* a Finished waits for the ChangeCipherSpec */
        }
        uint8_t *msg = malloc(HS_HDR + s->len);
        if (msg == NULL) {
            return s_fail(self, AL_INTERNAL, CMN_ENOMEM, "out of memory");
        }
        msg[0] = s->type;
        s_put24(msg + 1, s->len);
        s_put16(msg + 4, s->seq);
        s_put24(msg + 6, 0);
        s_put24(msg + 9, s->len);
        if (s->len) {
            memcpy(msg + HS_HDR, s->body, s->len);
        }
        size_t len = HS_HDR + s->len;
        s_slot_free(s);
        self->recv_seq++;
        cmn_err_t err = s_on_message(self, msg, len, now_ms);
        free(msg);
        if (err != CMN_OK || self->state != CMN_FF00_HANDSHAKE) {
            return err;
        }
    }
}

/* The peer sent its previous flight again: ours was lost, send it again. */
static cmn_err_t
s_peer_retransmitted(cmn_ff00_t *self, uint64_t now_ms)
{
    if (self->flight_len == 0) {
        return CMN_OK;
    }
    uint16_t epoch = self->w_epoch;
    cmn_err_t err = s_send_flight(self);
    self->w_epoch = epoch;
    if (err == CMN_OK && self->deadline) {
        self->deadline = now_ms + self->rto;
    }
    return CMN_OK;
}

/* One handshake fragment (plaintext of a record). */
static cmn_err_t
s_on_fragment(cmn_ff00_t *self, const uint8_t *p, size_t n, uint64_t rec_seq, uint64_t now_ms)
{
    while (n >= HS_HDR) {
        uint32_t len = s_get24(p + 1);
        uint16_t seq = (uint16_t) s_get16(p + 4);
        uint32_t off = s_get24(p + 6);
        uint32_t flen = s_get24(p + 9);
        if (flen > n - HS_HDR || off + flen > len || len > MAX_MSG) {
            return CMN_OK; /* malformed fragment: the record is dropped */
        }
        if (self->is_server && self->wait == W_START) {
            if (p[0] == HT_CH && off == 0 && flen == len) {
                cmn_err_t err = s_on_client_hello(self, p, HS_HDR + len, rec_seq, now_ms);
                if (err != CMN_OK || self->wait != W_START) {
                    return err;
                }
            }
        } else if (seq < self->recv_seq) {
            if (off == 0) {
                cmn_err_t err = s_peer_retransmitted(self, now_ms);
                if (err != CMN_OK) {
                    return err;
                }
            }
        } else if (seq < self->recv_seq + SLOTS && self->wait != W_DONE) {
            s_slot_t *s = NULL, *free_slot = NULL;
            for (size_t i = 0; i < SLOTS; i++) {
                if (self->slots[i].is_used && self->slots[i].seq == seq) {
                    s = &self->slots[i];
                } else if (!self->slots[i].is_used && free_slot == NULL) {
                    free_slot = &self->slots[i];
                }
            }
            if (s == NULL && free_slot) {
                s = free_slot;
                s->body = calloc(1, len ? len : 1);
                s->have = calloc(1, len ? len : 1);
                if (s->body == NULL || s->have == NULL) {
                    s_slot_free(s);
                    return s_fail(self, AL_INTERNAL, CMN_ENOMEM, "out of memory");
                }
                s->is_used = true;
                s->seq = seq;
                s->type = p[0];
                s->len = len;
            }
            if (s && s->type == p[0] && s->len == len) {
                for (uint32_t i = 0; i < flen; i++) {
                    if (!s->have[off + i]) {
                        s->have[off + i] = 1;
                        s->body[off + i] = p[HS_HDR + i];
                        s->got++;
                    }
                }
            }
        }
        p += HS_HDR + flen;
        n -= HS_HDR + flen;
    }
    return s_drain(self, now_ms);
}

static cmn_err_t
s_on_ccs(cmn_ff00_t *self, const uint8_t *p, size_t n, uint64_t now_ms)
{
    if (n != 1 || p[0] != 1) {
        return s_fail(self, AL_DECODE, CMN_EPROTO, "malformed ChangeCipherSpec");
    }
    if (self->wait != W_CCS) {
        return CMN_OK; /* early (reordered) or repeated: dropped */
    }
    self->r_epoch = 1;
    self->wait = W_FIN;
    cmn_err_t err = s_drain(self, now_ms);
    if (err == CMN_OK && self->early_len) {
        size_t len = self->early_len;
        self->early_len = 0;
        uint8_t rec[CMN_FF00_MTU];
        memcpy(rec, self->early, len);
        err = cmn_ff00_input(self, rec, len, now_ms);
    }
    return err;
}

static void
s_on_alert(cmn_ff00_t *self, const uint8_t *p, size_t n)
{
    if (n != 2) {
        return;
    }
    if (p[1] == AL_CLOSE) {
        self->state = CMN_FF00_CLOSED;
        self->wait = W_DONE;
        self->deadline = 0;
    } else if (p[0] == 2) {
        char why[64];
        (void) snprintf(why, sizeof why, "peer sent fatal alert %u", p[1]);
        (void) s_fail(self, -1, CMN_ECRYPTO, why);
    }
}

static void
s_on_app(cmn_ff00_t *self, const uint8_t *p, size_t n)
{
    if (self->state != CMN_FF00_ESTABLISHED || self->in_count == INQ) {
        return; /* dropped: DTLS is a datagram transport */
    }
    size_t i = (self->in_head + self->in_count) % INQ;
    self->inq[i] = malloc(n ? n : 1);
    if (self->inq[i] == NULL) {
        return;
    }
    memcpy(self->inq[i], p, n);
    self->inq_len[i] = n;
    self->in_count++;
}

static bool
s_window_check(const s_window_t *w, uint64_t seq)
{
    if (!w->is_any || seq > w->top) {
        return true;
    }
    uint64_t d = w->top - seq;
    return d < 64 && !(w->bits & (1ull << d));
}

static void
s_window_mark(s_window_t *w, uint64_t seq)
{
    if (!w->is_any) {
        w->is_any = true;
        w->top = seq;
        w->bits = 1;
    } else if (seq > w->top) {
        uint64_t d = seq - w->top;
        w->bits = d >= 64 ? 1 : (w->bits << d) | 1;
        w->top = seq;
    } else {
        w->bits |= 1ull << (w->top - seq);
    }
}

/* ---- API ----------------------------------------------------------------------- */

cmn_ff00_t *
cmn_ff00_new(const cmn_ff00_cfg_t *cfg)
{
    cmn_ff00_t *self = OPENSSL_zalloc(sizeof *self);
    if (self == NULL) {
        return NULL;
    }
    self->is_server = cfg->is_server;
    self->outq = calloc(OUTQ, sizeof *self->outq);
    self->transcript = EVP_MD_CTX_new();
    self->rto0 = cfg->rto_ms ? cfg->rto_ms : 1000;
    self->max_rtx = cfg->max_retransmits ? cfg->max_retransmits : 4;
    bool is_ok = self->outq && self->transcript &&
                 EVP_DigestInit_ex(self->transcript, EVP_sha256(), NULL) == 1;
    if (cfg->cookie_key && cfg->cookie_key_len) {
        uint8_t h[32];
        unsigned int n = 0;
        is_ok = is_ok &&
                EVP_Digest(cfg->cookie_key, cfg->cookie_key_len, h, &n, EVP_sha256(), NULL) == 1;
        memcpy(self->cookie_key, h, sizeof h);
        OPENSSL_cleanse(h, sizeof h);
    } else {
        is_ok = is_ok && RAND_bytes(self->cookie_key, sizeof self->cookie_key) == 1;
    }
    self->peer_len = cfg->peer_len < sizeof self->peer ? cfg->peer_len : sizeof self->peer;
    if (cfg->peer) {
        memcpy(self->peer, cfg->peer, self->peer_len);
    }
    if (!self->is_server) {
        is_ok = is_ok && RAND_bytes(self->client_random, 32) == 1;
    }
    if (!is_ok) {
        cmn_ff00_destroy(&self);
    }
    return self;
}

void
cmn_ff00_destroy(cmn_ff00_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_ff00_t *self = *self_p;
    for (size_t i = 0; i < SLOTS; i++) {
        s_slot_free(&self->slots[i]);
    }
    for (size_t i = 0; i < self->in_count; i++) {
        size_t k = (self->in_head + i) % INQ;
        OPENSSL_clear_free(self->inq[k], self->inq_len[k]);
    }
    if (self->outq) {
        OPENSSL_cleanse(self->outq, OUTQ * sizeof *self->outq);
        free(self->outq);
    }
    EVP_MD_CTX_free(self->transcript);
    EVP_PKEY_free(self->key);
    OPENSSL_clear_free(self, sizeof *self);
    *self_p = NULL;
}

cmn_err_t
cmn_ff00_start(cmn_ff00_t *self, uint64_t now_ms)
{
    if (self->is_server || self->wait != W_START || self->state != CMN_FF00_HANDSHAKE) {
        return CMN_ESTATE;
    }
    return s_send_client_hello(self, now_ms);
}

/* One record of a datagram. */
static cmn_err_t
s_on_record(cmn_ff00_t *self, const uint8_t *rec, size_t len, uint64_t now_ms)
{
    uint8_t type = rec[0];
    uint16_t epoch = (uint16_t) s_get16(rec + 3);
    uint64_t seq = s_get48(rec + 5);
    if (rec[1] != 254 || (rec[2] != 253 && rec[2] != 255)) {
        return CMN_OK;
    }
    if (epoch == 1 && self->r_epoch == 0) {
        if (self->wait == W_CCS && len <= sizeof self->early) {
            memcpy(self->early, rec, len); /* came before the ChangeCipherSpec */
            self->early_len = len;
        }
        return CMN_OK;
    }
    if (epoch > 1 || !s_window_check(&self->window[epoch], seq)) {
        return CMN_OK;
    }
    uint8_t plain[CMN_FF00_MAX_PLAIN];
    const uint8_t *p = rec + HDR_LEN;
    size_t n = len - HDR_LEN;
    if (epoch == 1) {
        if (cmn_ff00_open(&self->r_keys, rec, len, plain, sizeof plain, &n) != CMN_OK) {
            return CMN_OK; /* bad MAC or padding: dropped without a word (RFC 6347 4.1.2.7) */
        }
        p = plain;
    } else if (self->r_epoch == 1 && type != CT_HANDSHAKE) {
        return CMN_OK; /* plaintext after the switch: only retransmitted handshakes count */
    }
    /* The server answers a ClientHello without keeping state: no window for it yet. */
    if (!(self->is_server && self->wait == W_START)) {
        s_window_mark(&self->window[epoch], seq);
    }
    cmn_err_t err = CMN_OK;
    switch (type) {
    case CT_HANDSHAKE:
        err = s_on_fragment(self, p, n, seq, now_ms);
        break;
    case CT_CCS:
        err = epoch == 0 ? s_on_ccs(self, p, n, now_ms) : CMN_OK;
        break;
    case CT_ALERT:
        s_on_alert(self, p, n);
        break;
    case CT_APP:
        if (epoch == 1) {
            s_on_app(self, p, n);
        }
        break;
    default:
        break;
    }
    OPENSSL_cleanse(plain, n < sizeof plain ? n : sizeof plain);
    return err;
}

cmn_err_t
cmn_ff00_input(cmn_ff00_t *self, const uint8_t *dgram, size_t len, uint64_t now_ms)
{
    while (len >= HDR_LEN) {
        if (self->state == CMN_FF00_FAILED || self->state == CMN_FF00_CLOSED) {
            return CMN_ESTATE;
        }
        size_t rlen = HDR_LEN + s_get16(dgram + 11);
        if (rlen > len) {
            break; /* a cut record: the rest of the datagram is dropped */
        }
        cmn_err_t err = s_on_record(self, dgram, rlen, now_ms);
        if (err != CMN_OK) {
            return err;
        }
        if (self->state == CMN_FF00_FAILED) {
            return CMN_ECRYPTO;
        }
        dgram += rlen;
        len -= rlen;
    }
    return CMN_OK;
}

size_t
cmn_ff00_output(cmn_ff00_t *self, uint8_t *buf, size_t cap)
{
    if (self->out_count == 0) {
        return 0;
    }
    s_dgram_t *d = &self->outq[self->out_head];
    size_t n = d->len;
    if (n > cap) {
        return 0;
    }
    memcpy(buf, d->buf, n);
    OPENSSL_cleanse(d->buf, n);
    self->out_head = (self->out_head + 1) % OUTQ;
    self->out_count--;
    return n;
}

cmn_err_t
cmn_ff00_write(cmn_ff00_t *self, const uint8_t *data, size_t len)
{
    if (self->state != CMN_FF00_ESTABLISHED) {
        return CMN_ESTATE;
    }
    if (len > CMN_FF00_MAX_PLAIN) {
        return CMN_EINVAL;
    }
    self->w_epoch = 1;
    return s_record(self, CT_APP, data, len);
}

cmn_err_t
cmn_ff00_read(cmn_ff00_t *self, uint8_t *buf, size_t cap, size_t *ret_len)
{
    if (self->in_count == 0) {
        return CMN_ENOTFOUND;
    }
    size_t n = self->inq_len[self->in_head];
    if (n > cap) {
        return CMN_ENOSPC;
    }
    memcpy(buf, self->inq[self->in_head], n);
    OPENSSL_clear_free(self->inq[self->in_head], n);
    self->inq[self->in_head] = NULL;
    self->in_head = (self->in_head + 1) % INQ;
    self->in_count--;
    *ret_len = n;
    return CMN_OK;
}

uint64_t
cmn_ff00_deadline(const cmn_ff00_t *self)
{
    return self->deadline;
}

cmn_err_t
cmn_ff00_tick(cmn_ff00_t *self, uint64_t now_ms)
{
    if (self->deadline == 0 || now_ms < self->deadline) {
        return CMN_OK;
    }
    if (self->rtx >= self->max_rtx) {
        return s_fail(self, -1, CMN_ETIMEDOUT, "handshake timed out: the peer stopped answering");
    }
    self->rtx++;
    self->rto = self->rto * 2 < RTO_MAX_MS ? self->rto * 2 : RTO_MAX_MS;
    self->deadline = now_ms + self->rto;
    uint16_t epoch = self->w_epoch;
    cmn_err_t err = s_send_flight(self);
    self->w_epoch = epoch;
    return err == CMN_OK ? CMN_OK : s_fail(self, -1, err, "cannot queue the flight");
}

void
cmn_ff00_close(cmn_ff00_t *self)
{
    if (self->state == CMN_FF00_ESTABLISHED) {
        uint8_t a[2] = {1, AL_CLOSE};
        self->w_epoch = 1;
        (void) s_record(self, CT_ALERT, a, sizeof a);
    }
    if (self->state != CMN_FF00_FAILED) {
        self->state = CMN_FF00_CLOSED;
    }
    self->wait = W_DONE;
    self->deadline = 0;
}

cmn_ff00_state_t
cmn_ff00_state(const cmn_ff00_t *self)
{
    return self->state;
}

const char *
cmn_ff00_error(const cmn_ff00_t *self)
{
    return self->error;
}

cmn_err_t
cmn_ff00_export(const cmn_ff00_t *self,
                uint8_t ret_master[CMN_FF00_MASTER_LEN],
                uint8_t ret_client_random[CMN_FF00_RANDOM_LEN],
                uint8_t ret_server_random[CMN_FF00_RANDOM_LEN])
{
    if (self->state != CMN_FF00_ESTABLISHED) {
        return CMN_ESTATE;
    }
    memcpy(ret_master, self->master, CMN_FF00_MASTER_LEN);
    memcpy(ret_client_random, self->client_random, CMN_FF00_RANDOM_LEN);
    memcpy(ret_server_random, self->server_random, CMN_FF00_RANDOM_LEN);
    return CMN_OK;
}

cmn_err_t
cmn_ff00_hello_verify(cmn_ff00_t *self, uint16_t msg_seq)
{
    if (!self->is_server || self->wait != W_START || self->state != CMN_FF00_HANDSHAKE) {
        return CMN_ESTATE;
    }
    /* record sequence number: that of the ClientHello it stands for (a client numbers
     * its first records 0, 1, ...): above the other stack's HelloVerifyRequest, which
     * the client's replay window has seen */
    return s_send_hvr(self, msg_seq, msg_seq);
}

bool
cmn_ff00_is_client_hello(const uint8_t *dgram, size_t len)
{
    return len >= HDR_LEN + HS_HDR && dgram[0] == CT_HANDSHAKE && dgram[3] == 0 && dgram[4] == 0 &&
           dgram[HDR_LEN] == HT_CH;
}
