/* obt_mbedtls_peer.c — a DTLS 1.2 server on Debian's mbedTLS 2.28, the TLS stack of
 * deployed OCF devices (IoTivity-Lite), for the tests (docs/dtls.md, issue 11 item 1).
 *
 * It behaves as mbedTLS does out of the box: cookies on (HelloVerifyRequest), and the
 * suite is chosen from the FIRST, cookie-less ClientHello; when none of its suites is
 * offered it answers a fatal handshake_failure alert (2/40) before any
 * HelloVerifyRequest. Suites: ECDHE-PSK-AES128-CBC-SHA256 (0xC037, any identity, the
 * key of --psk) and the ECDHE-ECDSA CCM suites (0xC0AC..0xC0AF) with the chain of
 * --chain / --key; a suite without its credential is not chosen (mbedTLS skips it),
 * so a peer with only --chain is a device in RFOTM waiting for a certificate DOC and
 * one with only --psk an owned device. Each CoAP request over an established session
 * is answered 2.05 with the negotiated suite's name as payload (an empty CON, a CoAP
 * ping, gets a reset).
 *
 * Usage: obt_mbedtls_peer [--psk HEX] [--chain PEM --key PEM] [--bind 127.0.0.1] [--port 0]
 * Prints "READY port=N", then one line per event: HELLO-VERIFY, HANDSHAKE-OK suite=...
 * identity=HEX, HANDSHAKE-FAILED -0xNNNN reason, REQUEST suite=..., CLOSED. Stops on
 * SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cookie.h>
#include <mbedtls/timing.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_CLIENTS 16
#define IDLE_S      60

/* The suites an IoTivity-Lite device offers for owner/credential sessions and the
 * certificate OTM (OCF-NOTES 6.1). */
static const int s_suites[] = {
        MBEDTLS_TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,      MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8,
        MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CCM,      0};

typedef struct {
    bool is_used;
    bool is_up;
    mbedtls_net_context fd;
    mbedtls_ssl_context ssl;
    mbedtls_timing_delay_context timer;
    time_t last;
    char identity[2 * 64 + 1]; /* the client's PSK identity, hex */
} s_client_t;

static volatile sig_atomic_t s_stop;
static uint8_t s_psk[32];
static size_t s_psk_len;

static void
s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

static void s_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
s_event(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void) vprintf(fmt, ap);
    va_end(ap);
    (void) putchar('\n');
    (void) fflush(stdout);
}

static int
s_hex(const char *hex, uint8_t *out, size_t cap, size_t *ret_len)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t) v;
    }
    *ret_len = n / 2;
    return 0;
}

/* Any identity gets the key of --psk (the device knows one credential); the
 * identity is kept for the HANDSHAKE-OK line. */
static int
s_on_psk(void *arg, mbedtls_ssl_context *ssl, const unsigned char *id, size_t id_len)
{
    s_client_t *clients = arg, *cl = NULL; /* the arg is shared: find the client's slot */
    for (int i = 0; i < MAX_CLIENTS && cl == NULL; i++) {
        cl = clients[i].is_used && &clients[i].ssl == ssl ? &clients[i] : NULL;
    }
    if (cl) {
        size_t n = id_len < 64 ? id_len : 64;
        for (size_t i = 0; i < n; i++) {
            (void) snprintf(cl->identity + 2 * i, 3, "%02x", id[i]);
        }
    }
    return mbedtls_ssl_set_hs_psk(ssl, s_psk, s_psk_len);
}

static void
s_close(s_client_t *c, const char *why)
{
    if (c->is_up) {
        (void) mbedtls_ssl_close_notify(&c->ssl);
    }
    if (why) {
        s_event("CLOSED %s", why);
    }
    mbedtls_ssl_free(&c->ssl);
    mbedtls_net_free(&c->fd);
    memset(c, 0, sizeof *c);
}

/* Answers one CoAP message (RFC 7252 3): a request gets 2.05 with the suite's name
 * (ACK for CON, NON for NON), an empty CON a reset; anything else is dropped. */
static void
s_on_coap(s_client_t *c, const uint8_t *m, size_t n)
{
    if (n < 4 || (m[0] >> 6) != 1) {
        return;
    }
    unsigned type = (m[0] >> 4) & 3u, tkl = m[0] & 0xFu;
    if (tkl > 8 || 4 + tkl > n || type > 1) {
        return;
    }
    uint8_t out[128];
    size_t len = 0;
    if (m[1] == 0) { /* ping */
        if (type == 0) {
            const uint8_t rst[4] = {0x70, 0, m[2], m[3]};
            (void) mbedtls_ssl_write(&c->ssl, rst, sizeof rst);
        }
        return;
    }
    const char *suite = mbedtls_ssl_get_ciphersuite(&c->ssl);
    s_event("REQUEST code=%u.%02u suite=%s", m[1] >> 5, m[1] & 0x1Fu, suite);
    out[len++] = (uint8_t) (0x40 | ((type == 0 ? 2u : 1u) << 4) | tkl);
    out[len++] = 0x45; /* 2.05 Content */
    out[len++] = m[2];
    out[len++] = m[3];
    memcpy(out + len, m + 4, tkl);
    len += tkl;
    out[len++] = 0xFF;
    size_t sl = strlen(suite) < sizeof out - len ? strlen(suite) : sizeof out - len;
    memcpy(out + len, suite, sl);
    len += sl;
    (void) mbedtls_ssl_write(&c->ssl, out, len);
}

static void
s_step(s_client_t *c)
{
    char why[128];
    if (!c->is_up) {
        int r = mbedtls_ssl_handshake(&c->ssl);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
            return;
        }
        if (r == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED) {
            s_event("HELLO-VERIFY");
            s_close(c, NULL); /* the client's second hello comes to the listening socket */
            return;
        }
        if (r != 0) {
            mbedtls_strerror(r, why, sizeof why);
            s_event("HANDSHAKE-FAILED -0x%04x %s", (unsigned) -r, why);
            s_close(c, NULL);
            return;
        }
        c->is_up = true;
        c->last = time(NULL);
        s_event("HANDSHAKE-OK suite=%s identity=%s", mbedtls_ssl_get_ciphersuite(&c->ssl),
                c->identity[0] ? c->identity : "-");
    }
    uint8_t buf[1500];
    int r = mbedtls_ssl_read(&c->ssl, buf, sizeof buf);
    if (r > 0) {
        c->last = time(NULL);
        s_on_coap(c, buf, (size_t) r);
    } else if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        c->is_up = false;
        s_close(c, "close_notify");
    } else if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE) {
        mbedtls_strerror(r, why, sizeof why);
        s_close(c, why);
    } else if (time(NULL) - c->last > IDLE_S) {
        s_close(c, "idle");
    }
}

static int
s_accept(mbedtls_net_context *listen, mbedtls_ssl_config *conf, s_client_t *clients)
{
    s_client_t *c = NULL;
    for (int i = 0; i < MAX_CLIENTS && c == NULL; i++) {
        c = clients[i].is_used ? NULL : &clients[i];
    }
    mbedtls_net_context fd;
    mbedtls_net_init(&fd);
    unsigned char ip[16];
    size_t ip_len = 0;
    int r = mbedtls_net_accept(listen, &fd, ip, sizeof ip, &ip_len);
    if (r != 0) {
        return r;
    }
    if (c == NULL) {
        mbedtls_net_free(&fd); /* full: the client retransmits */
        return 0;
    }
    memset(c, 0, sizeof *c);
    c->is_used = true;
    c->fd = fd;
    mbedtls_ssl_init(&c->ssl);
    if ((r = mbedtls_ssl_setup(&c->ssl, conf)) != 0 ||
        (r = mbedtls_ssl_set_client_transport_id(&c->ssl, ip, ip_len)) != 0 ||
        (r = mbedtls_net_set_nonblock(&c->fd)) != 0) {
        s_close(c, NULL);
        return r;
    }
    mbedtls_ssl_set_timer_cb(&c->ssl, &c->timer, mbedtls_timing_set_delay,
                             mbedtls_timing_get_delay);
    mbedtls_ssl_set_bio(&c->ssl, &c->fd, mbedtls_net_send, mbedtls_net_recv, NULL);
    c->last = time(NULL);
    s_step(c);
    return 0;
}

static int
s_usage(void)
{
    (void) fprintf(stderr, "usage: obt_mbedtls_peer [--psk HEX] [--chain PEM --key PEM] "
                           "[--bind ADDR] [--port N]\n"
                           "  (at least one of --psk and --chain/--key)\n");
    return 2;
}

int
main(int argc, char **argv)
{
    const char *chain_path = NULL, *key_path = NULL, *bind_ip = "127.0.0.1", *port = "0";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--psk") == 0) {
            if (s_hex(argv[i + 1], s_psk, sizeof s_psk, &s_psk_len) != 0 || s_psk_len == 0) {
                return s_usage();
            }
        } else if (strcmp(argv[i], "--chain") == 0) {
            chain_path = argv[i + 1];
        } else if (strcmp(argv[i], "--key") == 0) {
            key_path = argv[i + 1];
        } else if (strcmp(argv[i], "--bind") == 0) {
            bind_ip = argv[i + 1];
        } else if (strcmp(argv[i], "--port") == 0) {
            port = argv[i + 1];
        } else {
            return s_usage();
        }
    }
    if (argc % 2 == 0 || (chain_path == NULL) != (key_path == NULL) ||
        (chain_path == NULL && s_psk_len == 0)) {
        return s_usage();
    }
    (void) signal(SIGTERM, s_on_signal);
    (void) signal(SIGINT, s_on_signal);

    static s_client_t clients[MAX_CLIENTS];
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_cookie_ctx cookie;
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    mbedtls_net_context listen;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_cookie_init(&cookie);
    mbedtls_x509_crt_init(&chain);
    mbedtls_pk_init(&key);
    mbedtls_net_init(&listen);
    int rc = 1, r;
    char why[128] = "";
    if ((r = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0)) != 0 ||
        (chain_path && (r = mbedtls_x509_crt_parse_file(&chain, chain_path)) != 0) ||
        (key_path && (r = mbedtls_pk_parse_keyfile(&key, key_path, NULL)) != 0) ||
        (r = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER,
                                         MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT)) != 0 ||
        (r = mbedtls_ssl_cookie_setup(&cookie, mbedtls_ctr_drbg_random, &drbg)) != 0) {
        goto out;
    }
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_ciphersuites(&conf, s_suites);
    if (s_psk_len > 0) {
        mbedtls_ssl_conf_psk_cb(&conf, s_on_psk, clients);
    }
    mbedtls_ssl_conf_dtls_cookies(&conf, mbedtls_ssl_cookie_write, mbedtls_ssl_cookie_check,
                                  &cookie);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE); /* no client certificate */
    if ((chain_path && (r = mbedtls_ssl_conf_own_cert(&conf, &chain, &key)) != 0) ||
        (r = mbedtls_net_bind(&listen, bind_ip, port, MBEDTLS_NET_PROTO_UDP)) != 0) {
        goto out;
    }
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof sa;
    if (getsockname(listen.fd, (struct sockaddr *) &sa, &sa_len) != 0) {
        r = MBEDTLS_ERR_NET_SOCKET_FAILED;
        goto out;
    }
    unsigned bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &sa)->sin6_port
                                                    : ((struct sockaddr_in *) &sa)->sin_port);
    s_event("READY port=%u mbedtls=%s", bound, MBEDTLS_VERSION_STRING);
    while (!s_stop) {
        struct pollfd pfd[MAX_CLIENTS + 1];
        pfd[0] = (struct pollfd){.fd = listen.fd, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) {
            pfd[i + 1] = (struct pollfd){.fd = clients[i].is_used ? clients[i].fd.fd : -1,
                                         .events = POLLIN};
        }
        if (poll(pfd, MAX_CLIENTS + 1, 50) < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (clients[i].is_used) {
                s_step(&clients[i]); /* readable, or a retransmission timer */
            }
        }
        if (pfd[0].revents & POLLIN) {
            if ((r = s_accept(&listen, &conf, clients)) != 0) {
                mbedtls_strerror(r, why, sizeof why);
                s_event("ACCEPT-FAILED -0x%04x %s", (unsigned) -r, why);
            }
        }
    }
    rc = 0;
    r = 0;
out:
    if (r != 0) {
        mbedtls_strerror(r, why, sizeof why);
        (void) fprintf(stderr, "obt_mbedtls_peer: -0x%04x %s\n", (unsigned) -r, why);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (clients[i].is_used) {
            s_close(&clients[i], NULL);
        }
    }
    mbedtls_net_free(&listen);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&chain);
    mbedtls_ssl_cookie_free(&cookie);
    mbedtls_ssl_config_free(&conf);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return rc;
}
