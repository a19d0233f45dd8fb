/* obt_coap.c — a device client for tests and the demo: CoAP requests to a device in one
 * session, over coap:// or over coaps:// with a PSK (identity = the 16 bytes of a UUID),
 * the way another OCF device holding a pairwise credential talks to it, or with a
 * certificate and its key (another device's identity certificate: a certificate
 * session, ECDHE-ECDSA). Prints "CODE HEX" per request (for example "2.05
 * a16576616c7565f5"). */
#include <coap3/coap.h>
#include <netdb.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmn_uuid.h"

#define S_USAGE                                                                                    \
    "usage: obt_coap [--id UUID --key HEX32 | --cert PEM --cert-key PEM] [--timeout-ms N]\n"       \
    "                METHOD URI [PAYLOAD_HEX] [METHOD URI [PAYLOAD_HEX] | WAIT FILE]...\n"         \
    "CoAP requests (METHOD: GET, POST, PUT, DELETE) to one device, in one session, in order.\n"    \
    "WAIT FILE: prints \"WAIT FILE\", keeps the session and waits (at most 300 s) until FILE\n"    \
    "exists before the next request (a test acts meanwhile, then creates FILE).\n"                 \
    "coaps:// needs --id (PSK identity: the UUID's 16 bytes) and --key (the 16-byte PSK in\n"      \
    "hex), or --cert (a certificate chain, leaf first) and --cert-key (its private key): a\n"      \
    "certificate session (the device's chain is not checked). Prints the response code and\n"      \
    "payload in hex, one line per request.\n"                                                      \
    "Exit: 0 every request was answered, 2 usage, 4 one got no answer (timeout, handshake\n"       \
    "refused): the requests after it are not sent.\n"

#define S_MAX_REQS 8

typedef struct {
    bool is_done;
    const char *failed; /* the session failed (a DTLS alert, closed): why; NULL = no */
    coap_pdu_code_t code;
    uint8_t body[4096];
    size_t body_len;
} s_result_t;

static s_result_t s_result;

static coap_response_t
s_on_response(coap_session_t *session,
              const coap_pdu_t *sent,
              const coap_pdu_t *received,
              const coap_mid_t mid)
{
    (void) session;
    (void) sent;
    (void) mid;
    size_t len = 0;
    const uint8_t *data = NULL;
    s_result.code = coap_pdu_get_code(received);
    if (coap_get_data(received, &len, &data) && len <= sizeof s_result.body) {
        memcpy(s_result.body, data, len);
        s_result.body_len = len;
    }
    s_result.is_done = true;
    return COAP_RESPONSE_OK;
}

/* A handshake refused or a session closed ends the wait at once, with the reason. */
static int
s_on_event(coap_session_t *session, const coap_event_t event)
{
    (void) session;
    if (event == COAP_EVENT_DTLS_ERROR) {
        s_result.failed = "DTLS handshake refused or failed";
    } else if (event == COAP_EVENT_DTLS_CLOSED) {
        s_result.failed = "DTLS session closed by the peer";
    }
    return 0;
}

/* Monotonic milliseconds. */
static uint64_t
s_now_ms(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int
s_hex(const char *hex, uint8_t *out, size_t cap, size_t *ret_len)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        char byte[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        char *end = NULL;
        unsigned long v = strtoul(byte, &end, 16);
        if (*end != '\0' || byte[0] == '+' || byte[0] == '-' || byte[0] == ' ') {
            return -1;
        }
        out[i] = (uint8_t) v;
    }
    *ret_len = n / 2;
    return 0;
}

#define S_WAIT 0 /* the pseudo-method WAIT (no CoAP code is 0) */

static int
s_method(const char *m)
{
    return strcmp(m, "WAIT") == 0     ? S_WAIT
           : strcmp(m, "GET") == 0    ? COAP_REQUEST_CODE_GET
           : strcmp(m, "POST") == 0   ? COAP_REQUEST_CODE_POST
           : strcmp(m, "PUT") == 0    ? COAP_REQUEST_CODE_PUT
           : strcmp(m, "DELETE") == 0 ? COAP_REQUEST_CODE_DELETE
                                      : -1;
}

/* One request of the command line. */
typedef struct {
    int method; /* S_WAIT: a pause, uri_str the file it waits for */
    const char *uri_str;
    coap_uri_t uri;
    uint8_t payload[4096];
    size_t payload_len;
} s_req_t;

static s_req_t s_reqs[S_MAX_REQS];

/* Puts the chain (leaf first) of cert_path and the key of key_path on the session's SSL:
 * sent when the device asks for our certificate. */
static bool
s_use_cert(coap_session_t *session, const char *cert_path, const char *key_path)
{
    coap_tls_library_t lib;
    SSL *ssl = coap_session_get_tls(session, &lib);
    FILE *cf = fopen(cert_path, "r");
    FILE *kf = fopen(key_path, "r");
    EVP_PKEY *key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
    X509 *leaf = cf ? PEM_read_X509(cf, NULL, NULL, NULL) : NULL;
    bool ok = ssl && lib == COAP_TLS_LIBRARY_OPENSSL && key && leaf &&
              SSL_use_certificate(ssl, leaf) == 1 && SSL_use_PrivateKey(ssl, key) == 1 &&
              SSL_check_private_key(ssl) == 1;
    X509 *ca = NULL;
    while (ok && (ca = PEM_read_X509(cf, NULL, NULL, NULL)) != NULL) {
        ok = SSL_add0_chain_cert(ssl, ca) == 1;
        if (!ok) {
            X509_free(ca);
        }
    }
    X509_free(leaf);
    EVP_PKEY_free(key);
    if (cf) {
        (void) fclose(cf);
    }
    if (kf) {
        (void) fclose(kf);
    }
    return ok;
}

/* WAIT: serves the session (its DTLS timers and alerts) until path exists, at most
 * 300 s. True if it came. */
static bool
s_wait_file(coap_context_t *ctx, const char *path)
{
    printf("WAIT %s\n", path);
    (void) fflush(stdout);
    uint64_t deadline = s_now_ms() + 300000u;
    while (access(path, F_OK) != 0 && s_result.failed == NULL && s_now_ms() < deadline) {
        (void) coap_io_process(ctx, 50);
    }
    if (access(path, F_OK) != 0) {
        (void) fprintf(stderr, "error: WAIT %s: %s\n", path,
                       s_result.failed ? s_result.failed : "not there within 300 s");
        return false;
    }
    return true;
}

/* Sends r over session and waits for its answer: true if one came (s_result). */
static bool
s_send(coap_context_t *ctx, coap_session_t *session, const s_req_t *r, int timeout_ms)
{
    coap_optlist_t *opts = NULL;
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, (coap_pdu_code_t) r->method, session);
    uint8_t buf[512];
    size_t buflen = sizeof buf;
    int n = coap_split_path(r->uri.path.s, r->uri.path.length, buf, &buflen);
    for (uint8_t *p = buf; n-- > 0; p += coap_opt_size(p)) {
        coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_PATH, coap_opt_length(p),
                                                    coap_opt_value(p)));
    }
    buflen = sizeof buf;
    n = r->uri.query.length ? coap_split_query(r->uri.query.s, r->uri.query.length, buf, &buflen)
                            : 0;
    for (uint8_t *p = buf; n-- > 0; p += coap_opt_size(p)) {
        coap_insert_optlist(&opts, coap_new_optlist(COAP_OPTION_URI_QUERY, coap_opt_length(p),
                                                    coap_opt_value(p)));
    }
    static const uint8_t ver[2] = {0x08, 0x00}; /* OCF-Accept/Content-Format-Version 2.0.0 */
    coap_insert_optlist(&opts, coap_new_optlist(2049, sizeof ver, ver));
    if (r->payload_len > 0) {
        uint8_t cf[2];
        coap_insert_optlist(&opts,
                            coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
                                             coap_encode_var_safe(cf, sizeof cf, 10000), cf));
        coap_insert_optlist(&opts, coap_new_optlist(2053, sizeof ver, ver));
    }
    uint8_t token[8];
    size_t token_len = 0;
    coap_session_new_token(session, &token_len, token);
    /* a payload larger than one datagram (a certificate chain) goes block-wise (RFC 7959) */
    bool ok = pdu && coap_add_token(pdu, token_len, token) && coap_add_optlist_pdu(pdu, &opts) &&
              (r->payload_len == 0 ||
               coap_add_data_large_request(session, pdu, r->payload_len, r->payload, NULL, NULL));
    coap_delete_optlist(opts);
    if (!ok) {
        coap_delete_pdu(pdu);
        (void) fprintf(stderr, "error: cannot build the request\n");
        return false;
    }
    memset(&s_result, 0, sizeof s_result);
    if (coap_send(session, pdu) == COAP_INVALID_MID) {
        (void) fprintf(stderr, "error: cannot send the request\n");
        return false;
    }
    /* the deadline in real time: coap_io_process returns early on any I/O */
    uint64_t deadline = s_now_ms() + (uint64_t) timeout_ms;
    while (!s_result.is_done && s_result.failed == NULL && s_now_ms() < deadline) {
        (void) coap_io_process(ctx, 50);
    }
    if (s_result.failed && !s_result.is_done) {
        (void) fprintf(stderr, "error: %s: %s\n", r->uri_str, s_result.failed);
    } else if (!s_result.is_done) {
        (void) fprintf(stderr, "error: no answer from %s within %d ms\n", r->uri_str, timeout_ms);
    }
    return s_result.is_done;
}

int
main(int argc, char **argv)
{
    const char *id = NULL, *key_hex = NULL, *cert = NULL, *cert_key = NULL;
    int timeout_ms = 5000;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--id") == 0) {
            id = argv[i + 1];
        } else if (strcmp(argv[i], "--key") == 0) {
            key_hex = argv[i + 1];
        } else if (strcmp(argv[i], "--cert") == 0) {
            cert = argv[i + 1];
        } else if (strcmp(argv[i], "--cert-key") == 0) {
            cert_key = argv[i + 1];
        } else if (strcmp(argv[i], "--timeout-ms") == 0) {
            char *end = NULL;
            long v = strtol(argv[i + 1], &end, 10);
            timeout_ms = *end == '\0' && v > 0 && v <= 600000 ? (int) v : -1;
        } else {
            (void) fprintf(stderr, "error: unknown option %s\n%s", argv[i], S_USAGE);
            return 2;
        }
    }
    size_t n_reqs = 0;
    while (i < argc && n_reqs < S_MAX_REQS && s_method(argv[i]) >= 0 && i + 1 < argc) {
        s_req_t *r = &s_reqs[n_reqs++];
        r->method = s_method(argv[i]);
        r->uri_str = argv[i + 1];
        if (r->method == S_WAIT) {
            i += 2;
            continue;
        }
        if (coap_split_uri((const uint8_t *) r->uri_str, strlen(r->uri_str), &r->uri) != 0) {
            (void) fprintf(stderr, "error: URI: cannot parse \"%s\"\n", r->uri_str);
            return 2;
        }
        i += 2;
        if (i < argc && s_method(argv[i]) < 0) {
            if (s_hex(argv[i], r->payload, sizeof r->payload, &r->payload_len) != 0) {
                (void) fprintf(stderr, "error: PAYLOAD_HEX: want pairs of hex digits\n");
                return 2;
            }
            i++;
        }
    }
    if (n_reqs == 0 || s_reqs[0].method == S_WAIT || i != argc || timeout_ms <= 0 ||
        (cert == NULL) != (cert_key == NULL)) {
        (void) fprintf(stderr, "%s", S_USAGE);
        return 2;
    }
    const char *uri_str = s_reqs[0].uri_str;
    coap_uri_t uri = s_reqs[0].uri;
    bool is_secure = uri.scheme == COAP_URI_SCHEME_COAPS;
    cmn_uuid_t identity;
    uint8_t key[16];
    size_t key_len = 0;
    if (is_secure && cert == NULL &&
        (id == NULL || key_hex == NULL || cmn_uuid_from_str(id, &identity) != CMN_OK ||
         s_hex(key_hex, key, sizeof key, &key_len) != 0 || key_len != 16)) {
        (void) fprintf(stderr, "error: coaps:// needs --id UUID and --key of 32 hex digits, or "
                               "--cert and --cert-key\n");
        return 2;
    }
    coap_startup();
    coap_set_log_level(getenv("OBT_COAP_DEBUG") ? LOG_DEBUG : LOG_EMERG);
    int rc = 4;
    coap_context_t *ctx = coap_new_context(NULL);
    coap_session_t *session = NULL;
    coap_address_t dst;
    coap_address_init(&dst);
    char host[128];
    (void) snprintf(host, sizeof host, "%.*s", (int) uri.host.length, (const char *) uri.host.s);
    char port[8];
    (void) snprintf(port, sizeof port, "%u", (unsigned) uri.port);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_DGRAM};
    struct addrinfo *ai = NULL;
    if (ctx == NULL || getaddrinfo(host, port, &hints, &ai) != 0 ||
        ai->ai_addrlen > sizeof dst.addr) {
        (void) fprintf(stderr, "error: \"%s\" is no numeric address\n", host);
        if (ai) {
            freeaddrinfo(ai);
        }
        goto out;
    }
    memcpy(&dst.addr, ai->ai_addr, ai->ai_addrlen);
    dst.size = ai->ai_addrlen;
    freeaddrinfo(ai);
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(ctx, s_on_response);
    coap_register_event_handler(ctx, s_on_event);
    (void) coap_register_option(ctx, 2053); /* OCF-Content-Format-Version of the answers */
    if (is_secure && cert) {
        coap_dtls_pki_t pki;
        memset(&pki, 0, sizeof pki);
        pki.version = COAP_DTLS_PKI_SETUP_VERSION;
        pki.verify_peer_cert = 0; /* a test client: the device's chain is not its concern */
        session = coap_new_client_session_pki(ctx, NULL, &dst, COAP_PROTO_DTLS, &pki);
        if (session && !s_use_cert(session, cert, cert_key)) {
            (void) fprintf(stderr, "error: cannot use the certificate %s with key %s\n", cert,
                           cert_key);
            goto out;
        }
    } else if (is_secure) {
        coap_dtls_cpsk_t cpsk;
        memset(&cpsk, 0, sizeof cpsk);
        cpsk.version = COAP_DTLS_CPSK_SETUP_VERSION;
        cpsk.psk_info.identity.s = identity.b;
        cpsk.psk_info.identity.length = 16;
        cpsk.psk_info.key.s = key;
        cpsk.psk_info.key.length = 16;
        session = coap_new_client_session_psk2(ctx, NULL, &dst, COAP_PROTO_DTLS, &cpsk);
    } else {
        session = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
    }
    if (session == NULL) {
        (void) fprintf(stderr, "error: no session to %s\n", uri_str);
        goto out;
    }
    for (size_t k = 0; k < n_reqs; k++) {
        if (s_reqs[k].method == S_WAIT) {
            if (!s_wait_file(ctx, s_reqs[k].uri_str)) {
                goto out;
            }
            continue;
        }
        if (!s_send(ctx, session, &s_reqs[k], timeout_ms)) {
            goto out;
        }
        printf("%d.%02d ", COAP_RESPONSE_CLASS(s_result.code), s_result.code & 0x1f);
        for (size_t b = 0; b < s_result.body_len; b++) {
            printf("%02x", s_result.body[b]);
        }
        printf("\n");
        (void) fflush(stdout);
    }
    rc = 0;
out:
    if (session) {
        coap_session_release(session);
    }
    coap_free_context(ctx);
    coap_cleanup();
    return rc;
}
