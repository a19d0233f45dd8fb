/* gw_disc_test.c — discovery replies: parsing, malformed datagrams, merge by UUID */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cmn_coapmsg.h"
#include "cmn_svr.h"
#include "cmn_uuid.h"
#include "gw_disc.h"

#define DEV_UUID "12345678-1234-4321-8765-123456789abc"

static const uint8_t s_token[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* A doxm payload for DEV_UUID (caller frees). */
static uint8_t *
s_doxm_cbor(size_t *ret_len)
{
    cmn_doxm_t doxm = {0};
    doxm.present = CMN_DOXM_HAS_DEVICEUUID | CMN_DOXM_HAS_OWNED | CMN_DOXM_HAS_OXMS;
    doxm.oxms[0] = 0;
    doxm.n_oxms = 1;
    cr_assert_eq(cmn_uuid_from_str(DEV_UUID, &doxm.deviceuuid), CMN_OK);
    uint8_t *buf = NULL;
    cr_assert_eq(cmn_doxm_encode(&doxm, &buf, ret_len), CMN_OK);
    return buf;
}

/* Encodes a NON response with code (class<<5|detail), token and payload. */
static size_t
s_reply(uint8_t code,
        const uint8_t *token,
        size_t tkl,
        const uint8_t *p,
        size_t plen,
        uint8_t *out,
        size_t cap)
{
    static const uint8_t cf[2] = {0x27, 0x10};
    cmn_coap_msg_t msg = {.type = 1, .code = code, .mid = 7, .token_len = tkl};
    memcpy(msg.token, token, tkl);
    cr_assert_eq(cmn_coapmsg_add_opt(&msg, CMN_COAP_OPT_CONTENT_FORMAT, cf, sizeof cf), CMN_OK);
    msg.payload = p;
    msg.payload_len = plen;
    size_t len = 0;
    cr_assert_eq(cmn_coapmsg_encode(&msg, out, cap, &len), CMN_OK);
    return len;
}

Test(gw_disc, parses_a_valid_doxm_reply)
{
    size_t plen = 0;
    uint8_t *p = s_doxm_cbor(&plen);
    uint8_t dg[512];
    size_t n = s_reply(0x45, s_token, 8, p, plen, dg, sizeof dg);
    const uint8_t *got = NULL;
    size_t got_len = 0;
    cr_assert_eq(gw_disc_parse_reply(dg, n, s_token, &got, &got_len), CMN_OK);
    cr_assert_eq(got_len, plen);
    cr_assert_arr_eq(got, p, plen);
    free(p);
}

Test(gw_disc, rejects_malformed_and_foreign_datagrams)
{
    size_t plen = 0;
    uint8_t *p = s_doxm_cbor(&plen);
    uint8_t dg[512];
    const uint8_t *got = NULL;
    size_t got_len = 0;
    static const uint8_t other[8] = {9, 9, 9, 9, 9, 9, 9, 9};

    size_t n = s_reply(0x45, other, 8, p, plen, dg, sizeof dg); /* wrong token */
    cr_expect_eq(gw_disc_parse_reply(dg, n, s_token, &got, &got_len), CMN_EPROTO);
    n = s_reply(0x84, s_token, 8, p, plen, dg, sizeof dg); /* 4.04 */
    cr_expect_eq(gw_disc_parse_reply(dg, n, s_token, &got, &got_len), CMN_EPROTO);
    n = s_reply(0x45, s_token, 8, NULL, 0, dg, sizeof dg); /* no payload */
    cr_expect_eq(gw_disc_parse_reply(dg, n, s_token, &got, &got_len), CMN_EPROTO);
    n = s_reply(0x45, s_token, 4, p, plen, dg, sizeof dg); /* short token */
    cr_expect_eq(gw_disc_parse_reply(dg, n, s_token, &got, &got_len), CMN_EPROTO);
    n = s_reply(0x45, s_token, 8, p, plen, dg, sizeof dg);
    cr_expect_eq(gw_disc_parse_reply(dg, 3, s_token, &got, &got_len), CMN_EPROTO); /* cut */
    dg[0] = 0x0f; /* version 0, TKL 15 */
    cr_expect_eq(gw_disc_parse_reply(dg, n, s_token, &got, &got_len), CMN_EPROTO);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff};
    cr_expect_eq(gw_disc_parse_reply(junk, sizeof junk, s_token, &got, &got_len), CMN_EPROTO);
    cr_expect_null(got, "out-parameters are written only on success");
    free(p);
}

/* Receives one request on fd (the fake device) and returns its token. */
static size_t
s_recv_request(int fd, struct sockaddr_in *from, uint8_t token[8])
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 2000), 1, "no discovery request arrived");
    uint8_t buf[1500];
    socklen_t fl = sizeof *from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *) from, &fl);
    cr_assert_geq(n, 4);
    size_t tkl = buf[0] & 0x0f;
    cr_assert_leq(tkl, 8);
    memcpy(token, buf + 4, tkl);
    return tkl;
}

/* Runs the gateway side until the round finishes or, if dev >= 0, until the fake
 * device has a new request waiting. */
static void
s_drive(gw_disc_t *disc, int dev)
{
    for (int i = 0; i < 200; i++) {
        struct pollfd pfd[2] = {{.fd = gw_disc_fd(disc, 0), .events = POLLIN},
                                {.fd = dev, .events = POLLIN}};
        int t = gw_disc_tick(disc);
        if (t < 0) {
            return;
        }
        if (poll(pfd, dev >= 0 ? 2 : 1, t > 50 ? 50 : t) > 0) {
            if (pfd[0].revents & POLLIN) {
                gw_disc_on_readable(disc, 0);
            }
            if (dev >= 0 && (pfd[1].revents & POLLIN)) {
                return;
            }
        }
    }
}

/* A fake device on a loopback UDP socket (*ret_dev), and a discovery that asks it
 * by unicast. */
static gw_disc_t *
s_start_unicast(int rounds, int window_ms, int *ret_dev)
{
    int dev = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(dev, (struct sockaddr *) &a, sizeof a), 0);
    socklen_t al = sizeof a;
    cr_assert_eq(getsockname(dev, (struct sockaddr *) &a, &al), 0);
    char ep[64];
    (void) snprintf(ep, sizeof ep, "coap://127.0.0.1:%u", ntohs(a.sin_port));
    const char *eps[] = {ep};
    gw_disc_opts_t opts = {.rounds = rounds,
                           .window_ms = window_ms,
                           .query = "owned=FALSE",
                           .unicast = eps,
                           .n_unicast = 1};
    cmn_err_t err = CMN_EIO;
    gw_disc_t *disc = gw_disc_start(&opts, &err);
    cr_assert_not_null(disc, "gw_disc_start: %d", err);
    *ret_dev = dev;
    return disc;
}

Test(gw_disc, merges_duplicate_replies_and_counts_malformed, .timeout = 20)
{
    int dev = -1;
    gw_disc_t *disc = s_start_unicast(1, 300, &dev);

    /* Phase 1: the device answers twice (e.g. two groups) and sends one junk datagram. */
    struct sockaddr_in gw;
    uint8_t tok[8];
    size_t tkl = s_recv_request(dev, &gw, tok);
    size_t plen = 0;
    uint8_t *p = s_doxm_cbor(&plen);
    uint8_t dg[1024];
    size_t n = s_reply(0x45, tok, tkl, p, plen, dg, sizeof dg);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(sendto(dev, dg, n, 0, (struct sockaddr *) &gw, sizeof gw), (ssize_t) n);
    }
    static const uint8_t junk[] = {0x40, 0x01};
    cr_assert_eq(sendto(dev, junk, sizeof junk, 0, (struct sockaddr *) &gw, sizeof gw), 2);
    free(p);

    /* Phase 2: /oic/res?rt=oic.r.doxm, answered with the device's doxm link. */
    s_drive(disc, dev); /* until the window closes and the /oic/res request goes out */
    tkl = s_recv_request(dev, &gw, tok);
    cmn_res_t res = {0};
    cmn_link_t link = {0};
    (void) snprintf(link.anchor, sizeof link.anchor, "ocf://%s", DEV_UUID);
    (void) snprintf(link.href, sizeof link.href, "/oic/sec/doxm");
    (void) snprintf(link.eps[0], sizeof link.eps[0], "coaps://127.0.0.1:40001");
    link.n_eps = 1;
    cr_assert_eq(cmn_res_add(&res, &link), CMN_OK);
    uint8_t *rbuf = NULL;
    size_t rlen = 0;
    cr_assert_eq(cmn_res_encode(&res, &rbuf, &rlen), CMN_OK);
    cmn_res_free(&res);
    n = s_reply(0x45, tok, tkl, rbuf, rlen, dg, sizeof dg);
    cr_assert_eq(sendto(dev, dg, n, 0, (struct sockaddr *) &gw, sizeof gw), (ssize_t) n);
    free(rbuf);
    s_drive(disc, -1);
    cr_assert_eq(gw_disc_tick(disc), -1, "round not finished");

    size_t n_devs = 0;
    const gw_disc_device_t *devs = gw_disc_devices(disc, &n_devs);
    cr_assert_eq(n_devs, 1, "duplicates must merge into one device");
    cr_expect_str_eq(devs[0].uuid, DEV_UUID);
    cr_expect_str_eq(devs[0].source, "127.0.0.1");
    cr_assert_eq(devs[0].n_eps, 1);
    cr_expect_str_eq(devs[0].eps[0], "coaps://127.0.0.1:40001");
    cr_expect_not_null(devs[0].doxm);
    size_t replies = 0, bad = 0;
    gw_disc_counts(disc, &replies, &bad);
    cr_expect_eq(replies, 4);
    cr_expect_eq(bad, 1);
    gw_disc_destroy(&disc);
    cr_expect_null(disc);
    (void) close(dev);
}

/* Sends the /oic/res links of DEV_UUID (eps: one coaps endpoint) in reply to tok. */
static void
s_send_res(int dev, const struct sockaddr_in *gw, const uint8_t *tok, size_t tkl)
{
    cmn_res_t res = {0};
    cmn_link_t link = {0};
    (void) snprintf(link.anchor, sizeof link.anchor, "ocf://%s", DEV_UUID);
    (void) snprintf(link.href, sizeof link.href, "/oic/sec/doxm");
    (void) snprintf(link.eps[0], sizeof link.eps[0], "coaps://127.0.0.1:40003");
    link.n_eps = 1;
    cr_assert_eq(cmn_res_add(&res, &link), CMN_OK);
    uint8_t *rbuf = NULL;
    size_t rlen = 0;
    cr_assert_eq(cmn_res_encode(&res, &rbuf, &rlen), CMN_OK);
    cmn_res_free(&res);
    uint8_t dg[1024];
    size_t n = s_reply(0x45, tok, tkl, rbuf, rlen, dg, sizeof dg);
    free(rbuf);
    cr_assert_eq(sendto(dev, dg, n, 0, (const struct sockaddr *) gw, sizeof *gw), (ssize_t) n);
}

/* Lets the doxm window close, answers the /oic/res request with DEV_UUID's links
 * and runs the discovery to its end; returns its devices. */
static const gw_disc_device_t *
s_finish_with_res(gw_disc_t *disc, int dev, size_t *ret_n)
{
    struct sockaddr_in gw;
    uint8_t tok[8];
    s_drive(disc, dev);
    size_t tkl = s_recv_request(dev, &gw, tok);
    s_send_res(dev, &gw, tok, tkl);
    s_drive(disc, -1);
    cr_assert_eq(gw_disc_tick(disc), -1);
    return gw_disc_devices(disc, ret_n);
}

Test(gw_disc, asks_the_source_directly_when_res_brings_no_eps, .timeout = 20)
{
    int dev = -1;
    gw_disc_t *disc = s_start_unicast(1, 200, &dev);

    struct sockaddr_in gw;
    uint8_t tok[8], res_tok[8];
    size_t tkl = s_recv_request(dev, &gw, tok);
    size_t plen = 0;
    uint8_t *p = s_doxm_cbor(&plen);
    uint8_t dg[1024];
    size_t n = s_reply(0x45, tok, tkl, p, plen, dg, sizeof dg);
    free(p);
    cr_assert_eq(sendto(dev, dg, n, 0, (struct sockaddr *) &gw, sizeof gw), (ssize_t) n);

    s_drive(disc, dev);
    size_t res_tkl = s_recv_request(dev, &gw, res_tok); /* /oic/res?rt=...: left unanswered */
    s_drive(disc, dev);
    tkl = s_recv_request(dev, &gw, tok); /* the unicast /oic/res (a second request) */
    /* Same token as the multicast /oic/res: a late reply to that one still counts. */
    cr_assert(tkl == res_tkl && memcmp(tok, res_tok, tkl) == 0);
    s_send_res(dev, &gw, tok, tkl);
    s_drive(disc, -1);

    size_t n_devs = 0;
    const gw_disc_device_t *devs = gw_disc_devices(disc, &n_devs);
    cr_assert_eq(n_devs, 1);
    cr_assert_eq(devs[0].n_eps, 1);
    cr_expect_str_eq(devs[0].eps[0], "coaps://127.0.0.1:40003");
    gw_disc_destroy(&disc);
    (void) close(dev);
}

Test(gw_disc, parses_scope_lists_in_order)
{
    gw_scope_t s[GW_SCOPE_COUNT];
    size_t n = 99;
    cr_assert_eq(gw_disc_parse_scopes("site,ipv4,link,realm", s, &n), CMN_OK);
    cr_assert_eq(n, 4);
    cr_expect_eq(s[0], GW_SCOPE_SITE);
    cr_expect_eq(s[1], GW_SCOPE_IPV4);
    cr_expect_eq(s[2], GW_SCOPE_LINK);
    cr_expect_eq(s[3], GW_SCOPE_REALM);
    cr_assert_eq(gw_disc_parse_scopes("ipv6,link,ipv4", s, &n), CMN_OK);
    cr_expect_eq(n, 2, "ipv6 is link, duplicates dropped");
    cr_assert_eq(gw_disc_parse_scopes("", s, &n), CMN_OK);
    cr_expect_eq(n, 0);
    n = 7;
    cr_expect_eq(gw_disc_parse_scopes("link,global", s, &n), CMN_EINVAL);
    cr_expect_eq(gw_disc_parse_scopes("link,", s, &n), CMN_EINVAL);
    cr_expect_eq(gw_disc_parse_scopes(",link", s, &n), CMN_EINVAL);
    cr_expect_eq(n, 7, "out-parameters are written only on success");
    cr_expect_str_eq(gw_disc_scope_name(GW_SCOPE_REALM), "realm");
}

Test(gw_disc, merge_orders_endpoints_by_the_operators_scopes)
{
    gw_disc_device_t d = {0};
    const gw_scope_t order[] = {GW_SCOPE_LINK, GW_SCOPE_IPV4};
    /* The IPv4 reply arrives first, with the device's eps of both families. */
    const char *const v4[] = {"coap://127.0.0.1:40000", "coaps://127.0.0.1:40001",
                              "coap://[fe80::1%eth9]:40000", "coaps://[fe80::1]:40001"};
    gw_disc_merge_eps(&d, v4, 4, "veth0", order, 2);
    cr_assert_eq(d.n_eps, 4);
    cr_expect_str_eq(d.eps[0], "coap://[fe80::1%veth0]:40000", "device's zone replaced");
    cr_expect_str_eq(d.eps[1], "coaps://[fe80::1%veth0]:40001");
    cr_expect_str_eq(d.eps[2], "coap://127.0.0.1:40000");
    cr_expect_str_eq(d.eps[3], "coaps://127.0.0.1:40001");
    /* The same eps again (another round or group): nothing new. */
    gw_disc_merge_eps(&d, v4, 4, "veth0", order, 2);
    cr_expect_eq(d.n_eps, 4);
    /* A site-local address the operator did not select goes last; junk is skipped. */
    const char *const more[] = {"coaps://[fd00::5]:40001", "http://x", "coaps://[fe80::1]:40001"};
    gw_disc_merge_eps(&d, more, 3, "veth0", order, 2);
    cr_assert_eq(d.n_eps, 5);
    cr_expect_str_eq(d.eps[4], "coaps://[fd00::5]:40001");
}

Test(gw_disc, merge_prefers_ipv4_when_listed_first_and_keeps_the_best_when_full)
{
    gw_disc_device_t d = {0};
    const gw_scope_t order[] = {GW_SCOPE_IPV4, GW_SCOPE_SITE, GW_SCOPE_LINK};
    const char *const v6[] = {"coaps://[fe80::2]:1", "coaps://[fd00::2]:2"};
    gw_disc_merge_eps(&d, v6, 2, "veth0", order, 3);
    const char *const v4[] = {"coaps://10.0.0.2:3"};
    gw_disc_merge_eps(&d, v4, 1, "", order, 3);
    cr_assert_eq(d.n_eps, 3);
    cr_expect_str_eq(d.eps[0], "coaps://10.0.0.2:3");
    cr_expect_str_eq(d.eps[1], "coaps://[fd00::2]:2");
    cr_expect_str_eq(d.eps[2], "coaps://[fe80::2%veth0]:1");
    char buf[GW_DISC_MAX_EPS][40];
    const char *fill[GW_DISC_MAX_EPS];
    for (int i = 0; i < GW_DISC_MAX_EPS; i++) {
        (void) snprintf(buf[i], sizeof buf[i], "coap://[fe80::9]:%d", 100 + i);
        fill[i] = buf[i];
    }
    gw_disc_merge_eps(&d, fill, GW_DISC_MAX_EPS, "veth0", order, 3);
    cr_assert_eq(d.n_eps, GW_DISC_MAX_EPS);
    const char *const best[] = {"coap://10.0.0.2:4"};
    gw_disc_merge_eps(&d, best, 1, "", order, 3);
    cr_expect_str_eq(d.eps[1], "coap://10.0.0.2:4", "a better-ranked endpoint still gets in");
    cr_expect_str_eq(d.eps[GW_DISC_MAX_EPS - 1], "coap://[fe80::9%veth0]:103");
}

/* Two doxm rounds through one fake device that ignores the first: found in round 2,
 * and its replies from both rounds merge into one device. */
Test(gw_disc, rounds_find_a_device_that_answers_late, .timeout = 20)
{
    int dev = -1;
    gw_disc_t *disc = s_start_unicast(3, 200, &dev);
    struct sockaddr_in gw;
    uint8_t tok[8];
    (void) s_recv_request(dev, &gw, tok); /* round 1: ignored */
    s_drive(disc, dev);
    size_t tkl = s_recv_request(dev, &gw, tok); /* round 2: answered */
    size_t plen = 0;
    uint8_t *p = s_doxm_cbor(&plen);
    uint8_t dg[1024];
    size_t n = s_reply(0x45, tok, tkl, p, plen, dg, sizeof dg);
    cr_assert_eq(sendto(dev, dg, n, 0, (struct sockaddr *) &gw, sizeof gw), (ssize_t) n);
    s_drive(disc, dev);
    tkl = s_recv_request(dev, &gw, tok); /* round 3: answered again */
    cr_assert_eq(sendto(dev, dg, n, 0, (struct sockaddr *) &gw, sizeof gw), (ssize_t) n);
    free(p);
    size_t n_devs = 0;
    const gw_disc_device_t *devs = s_finish_with_res(disc, dev, &n_devs);
    cr_assert_eq(n_devs, 1);
    cr_expect_eq(devs[0].first_round, 2);
    cr_expect_eq(devs[0].n_eps, 1);
    gw_disc_destroy(&disc);
    (void) close(dev);
}

/* {"owned": half-float 1.0} (issue 9): libcbor 0.8 asserted on it in cbor_is_bool. */
static const uint8_t s_half_owned[] = {0xa1, 0x65, 0x6f, 0x77, 0x6e, 0x65, 0x64, 0xf9, 0x3c, 0x00};

Test(gw_disc, a_half_float_doxm_reply_parses_and_its_payload_is_refused)
{
    uint8_t dg[512];
    size_t n = s_reply(0x45, s_token, 8, s_half_owned, sizeof s_half_owned, dg, sizeof dg);
    const uint8_t *got = NULL;
    size_t got_len = 0;
    cr_assert_eq(gw_disc_parse_reply(dg, n, s_token, &got, &got_len), CMN_OK);
    cr_assert_eq(got_len, sizeof s_half_owned);
    cr_assert_arr_eq(got, s_half_owned, sizeof s_half_owned);
    cmn_doxm_t doxm;
    cr_assert_eq(cmn_doxm_decode(got, got_len, &doxm), CMN_EPROTO);
}

/* A rogue device answers the doxm round with the half-float payload, a good one
 * with its doxm: the discovery goes on, counts the rogue reply as bad, and finds the
 * good device. */
Test(gw_disc, a_half_float_doxm_reply_is_counted_bad_and_discovery_goes_on, .timeout = 20)
{
    int dev = -1;
    gw_disc_t *disc = s_start_unicast(1, 200, &dev);
    struct sockaddr_in gw;
    uint8_t tok[8];
    size_t tkl = s_recv_request(dev, &gw, tok);
    uint8_t dg[1024];
    size_t n = s_reply(0x45, tok, tkl, s_half_owned, sizeof s_half_owned, dg, sizeof dg);
    cr_assert_eq(sendto(dev, dg, n, 0, (struct sockaddr *) &gw, sizeof gw), (ssize_t) n);
    size_t plen = 0;
    uint8_t *p = s_doxm_cbor(&plen);
    n = s_reply(0x45, tok, tkl, p, plen, dg, sizeof dg);
    free(p);
    cr_assert_eq(sendto(dev, dg, n, 0, (struct sockaddr *) &gw, sizeof gw), (ssize_t) n);
    size_t n_devs = 0;
    const gw_disc_device_t *devs = s_finish_with_res(disc, dev, &n_devs);
    cr_assert_eq(n_devs, 1);
    cr_expect_str_eq(devs[0].uuid, DEV_UUID);
    size_t replies = 0, bad = 0;
    gw_disc_counts(disc, &replies, &bad);
    cr_expect_eq(replies, 3);
    cr_expect_eq(bad, 1, "the half-float reply is counted as bad");
    gw_disc_destroy(&disc);
    (void) close(dev);
}
