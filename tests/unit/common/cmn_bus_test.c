/* cmn_bus_test.c — CURVE keys on disk, a real ROUTER/DEALER pair over ipc://,
 * correlation ids and the pending-call table */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmn_bus.h"
#include "cmn_time.h"
#include "obt/dots.pb-c.h"
#include "obt_support.h"

#define S_WAIT_MS  2000 /* upper bound for anything that should arrive */
#define S_QUIET_MS 200  /* how long "nothing arrives" is watched */

static char *s_root;
static char s_keys[512];
static char s_ep[512];

static void
s_setup(void)
{
    s_root = obt_tmpdir("cmn_bus");
    cr_assert_not_null(s_root);
    (void) snprintf(s_keys, sizeof s_keys, "%s/keys", s_root);
    (void) snprintf(s_ep, sizeof s_ep, "ipc://%s/dots.sock", s_root);
}

static void
s_teardown(void)
{
    obt_rmrf(s_root);
    free(s_root);
    s_root = NULL;
}

TestSuite(cmn_bus, .init = s_setup, .fini = s_teardown, .timeout = 10);

/* ---------------------------------------------------------------- helpers */

static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    char *buf = calloc(1, 4096);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, 4095, f);
    cr_assert_gt(n, 0);
    (void) fclose(f);
    return buf;
}

static mode_t
s_mode(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static void
s_key_path(char *out, size_t len, const char *keys, const char *party, bool secret)
{
    int n = snprintf(out, len, "%s/%s/%s%s", keys, secret ? "secret" : "public", party,
                     secret ? ".cert_secret" : ".cert");
    cr_assert(n > 0 && (size_t) n < len, "key path too long under %s", keys);
}

static bool
s_readable(zsock_t *sock, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
    return zmq_poll(&item, 1, timeout_ms) > 0;
}

static cmn_bus_server_t *
s_server(const char *keys)
{
    cmn_err_t err = CMN_EIO;
    cmn_bus_server_t *srv = cmn_bus_server_new(s_ep, keys, "dots", &err);
    cr_assert_not_null(srv, "server: %s", cmn_errname(err));
    cr_assert_eq(err, CMN_OK);
    return srv;
}

static cmn_bus_client_t *
s_client(const char *keys)
{
    cmn_err_t err = CMN_EIO;
    cmn_bus_client_t *cli = cmn_bus_client_new(s_ep, keys, "obtctl", "dots", &err);
    cr_assert_not_null(cli, "client: %s", cmn_errname(err));
    cr_assert_eq(err, CMN_OK);
    return cli;
}

/* Waits for one request on srv; returns its peer id (owned) and unpacked body; the
 * caller must be the obtctl key (the operator), as every client here is. */
static Obt__Dots__Request *
s_server_take(cmn_bus_server_t *srv, zframe_t **ret_peer)
{
    cr_assert(s_readable(cmn_bus_server_sock(srv), S_WAIT_MS), "no request arrived");
    uint8_t *data = NULL;
    size_t len = 0;
    cmn_caller_t caller;
    cr_assert_eq(cmn_bus_server_recv(srv, ret_peer, &caller, &data, &len), CMN_OK);
    cr_assert_str_eq(caller.name, "obtctl");
    cr_assert_eq(caller.party, CMN_PARTY_OPERATOR);
    cr_assert_not_null(*ret_peer);
    Obt__Dots__Request *req = obt__dots__request__unpack(NULL, len, data);
    cr_assert_not_null(req, "request does not unpack");
    free(data);
    return req;
}

static void
s_server_reply(cmn_bus_server_t *srv, zframe_t *peer, uint64_t corr_id, const char *error)
{
    Obt__HealthReply hr = OBT__HEALTH_REPLY__INIT;
    hr.service = CMN_PB_STR("dots");
    hr.uptime_ms = 42;
    Obt__Dots__Reply rep = OBT__DOTS__REPLY__INIT;
    rep.corr_id = corr_id;
    rep.status = OBT__STATUS__STATUS_EDEVICE;
    rep.error = CMN_PB_STR(error);
    rep.body_case = OBT__DOTS__REPLY__BODY_HEALTH;
    rep.health = &hr;
    cr_assert_eq(cmn_bus_server_send_pb(srv, peer, &rep.base), CMN_OK);
}

/* ---------------------------------------------------------------- keys */

static void
s_keys_create_writes_one_pair_per_party(void)
{
    mode_t old = umask(0); /* the modes must not depend on the caller's umask */
    cmn_err_t err = cmn_bus_keys_create(s_keys, false);
    (void) umask(old);
    cr_assert_eq(err, CMN_OK, "%s", cmn_errname(err));

    char path[600];
    (void) snprintf(path, sizeof path, "%s/secret", s_keys);
    cr_assert_eq(s_mode(path), 0700, "secret dir mode %o", (unsigned) s_mode(path));
    cr_assert_eq(CMN_BUS_PARTY_COUNT, 5);
    char seen[5][41];
    for (size_t i = 0; i < CMN_BUS_PARTY_COUNT; i++) {
        const char *party = CMN_BUS_PARTIES[i];
        s_key_path(path, sizeof path, s_keys, party, true);
        cr_assert_eq(s_mode(path), 0600, "%s: mode %o", path, (unsigned) s_mode(path));
        zcert_t *sec = zcert_load(path);
        cr_assert_not_null(sec, "%s does not load", path);
        s_key_path(path, sizeof path, s_keys, party, false);
        cr_assert_eq(s_mode(path), 0644, "%s: mode %o", path, (unsigned) s_mode(path));
        zcert_t *pub = zcert_load(path);
        cr_assert_not_null(pub, "%s does not load", path);

        /* one key pair: same public key, the secret only in the secret file */
        cr_assert_str_eq(zcert_public_txt(pub), zcert_public_txt(sec));
        cr_assert_str_neq(zcert_secret_txt(sec), "0000000000000000000000000000000000000000");
        cr_assert_str_eq(zcert_secret_txt(pub), "0000000000000000000000000000000000000000",
                         "public file of %s carries the secret key", party);
        char *text = s_slurp(path);
        cr_assert_null(strstr(text, zcert_secret_txt(sec)), "secret key in %s", path);
        free(text);
        cr_assert_str_eq(zcert_meta(pub, "name"), party);

        /* every party has its own pair */
        (void) snprintf(seen[i], sizeof seen[i], "%s", zcert_public_txt(sec));
        for (size_t j = 0; j < i; j++) {
            cr_assert_str_neq(seen[i], seen[j], "%s shares a key", party);
        }
        zcert_destroy(&sec);
        zcert_destroy(&pub);
    }
}

static void
s_keys_create_again_without_force_keeps_keys(void)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    char pub[600], sec[600];
    s_key_path(pub, sizeof pub, s_keys, "dots", false);
    s_key_path(sec, sizeof sec, s_keys, "dots", true);
    char *pub0 = s_slurp(pub);
    char *sec0 = s_slurp(sec);

    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_EEXIST);
    char *pub1 = s_slurp(pub);
    char *sec1 = s_slurp(sec);
    cr_assert_str_eq(pub0, pub1);
    cr_assert_str_eq(sec0, sec1);

    /* one remaining secret is enough to refuse */
    for (size_t i = 1; i < CMN_BUS_PARTY_COUNT; i++) {
        char p[600];
        s_key_path(p, sizeof p, s_keys, CMN_BUS_PARTIES[i], true);
        cr_assert_eq(unlink(p), 0);
    }
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_EEXIST);
    char p0[600];
    s_key_path(p0, sizeof p0, s_keys, CMN_BUS_PARTIES[0], true);
    char *first = s_slurp(p0);
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_EEXIST);
    char *again = s_slurp(p0);
    cr_assert_str_eq(first, again);
    cr_assert_neq(access(sec, F_OK), 0, "a refused create wrote %s", sec);
    free(pub0);
    free(sec0);
    free(pub1);
    free(sec1);
    free(first);
    free(again);
}

static void
s_keys_create_with_force_replaces_keys_and_modes(void)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, true), CMN_OK); /* a fresh, complete set */
    char pub[600], sec[600];
    s_key_path(pub, sizeof pub, s_keys, "cms", false);
    s_key_path(sec, sizeof sec, s_keys, "cms", true);
    zcert_t *before = zcert_load(sec);
    cr_assert_not_null(before);
    cr_assert_eq(chmod(sec, 0644), 0);

    cr_assert_eq(cmn_bus_keys_create(s_keys, true), CMN_OK);
    zcert_t *after = zcert_load(sec);
    zcert_t *after_pub = zcert_load(pub);
    cr_assert_not_null(after);
    cr_assert_not_null(after_pub);
    cr_assert_str_neq(zcert_public_txt(before), zcert_public_txt(after));
    cr_assert_str_neq(zcert_secret_txt(before), zcert_secret_txt(after));
    cr_assert_str_eq(zcert_public_txt(after_pub), zcert_public_txt(after));
    cr_assert_eq(s_mode(sec), 0600, "mode %o after force", (unsigned) s_mode(sec));
    zcert_destroy(&before);
    zcert_destroy(&after);
    zcert_destroy(&after_pub);
}

Test(cmn_bus, keys_create_again_keeps_keys_unless_forced)
{
    s_keys_create_again_without_force_keeps_keys();
    s_keys_create_with_force_replaces_keys_and_modes();
}

static void
s_keys_create_under_missing_parent_fails(void)
{
    char dir[600];
    (void) snprintf(dir, sizeof dir, "%s/no/such/dir", s_root);
    cr_assert_eq(cmn_bus_keys_create(dir, false), CMN_ENOTFOUND); /* ENOENT */
    cr_assert_neq(access(dir, F_OK), 0);
}

Test(cmn_bus, keys_create_writes_one_pair_per_party_or_fails_cleanly)
{
    s_keys_create_writes_one_pair_per_party();
    s_keys_create_under_missing_parent_fails();
}

/* ---------------------------------------------------------------- sockets */

Test(cmn_bus, new_reports_missing_keys_and_bind_failure)
{
    cmn_err_t err = CMN_OK;
    cr_assert_null(cmn_bus_server_new(s_ep, s_keys, "dots", &err));
    cr_assert_eq(err, CMN_ENOTFOUND);
    err = CMN_OK;
    cr_assert_null(cmn_bus_client_new(s_ep, s_keys, "obtctl", "dots", &err));
    cr_assert_eq(err, CMN_ENOTFOUND);

    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    err = CMN_OK;
    cr_assert_null(cmn_bus_client_new(s_ep, s_keys, "obtctl", "nobody", &err));
    cr_assert_eq(err, CMN_ENOTFOUND, "missing server certificate");
    err = CMN_OK;
    cr_assert_null(cmn_bus_server_new(s_ep, s_keys, "nobody", &err));
    cr_assert_eq(err, CMN_ENOTFOUND);

    char bad[600];
    (void) snprintf(bad, sizeof bad, "ipc://%s/no/such/dir/x.sock", s_root);
    err = CMN_OK;
    cr_assert_null(cmn_bus_server_new(bad, s_keys, "dots", &err));
    cr_assert_eq(err, CMN_EIO);
}

/* (Its own test: zauth allows one instance per process at a time.) */
Test(cmn_bus, server_new_on_a_taken_port_is_eio)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    zsock_t *squatter = zsock_new(ZMQ_ROUTER);
    cr_assert_not_null(squatter);
    cr_assert_geq(zsock_bind(squatter, "tcp://127.0.0.1:*"), 0);
    const char *taken = zsock_endpoint(squatter);
    cr_assert_not_null(taken);
    cmn_err_t err = CMN_OK;
    cmn_bus_server_t *srv = cmn_bus_server_new(taken, s_keys, "dots", &err);
    cr_assert_null(srv, "bound %s twice", taken);
    cr_assert_eq(err, CMN_EIO);
    cmn_bus_server_destroy(&srv); /* NULL is accepted */
    zsock_destroy(&squatter);
}

/* Instances on one host network (D93): each binds the first free port of one range,
 * and a client given the range reaches every instance bound, none queued for the
 * port nobody bound. */
Test(cmn_bus, instances_bind_the_first_free_port_of_a_range_and_share_the_requests)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    /* a port the kernel says is free (a plain socket: closed at once, unlike ZeroMQ's);
     * the two after it are free too, or taken by another program: the test then only
     * sees fewer free ports in its range */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sa_len = sizeof sa;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0 &&
              getsockname(fd, (struct sockaddr *) &sa, &sa_len) == 0);
    (void) close(fd);
    int base = ntohs(sa.sin_port) < 65000 ? ntohs(sa.sin_port) : 40000;
    char range[128];
    (void) snprintf(range, sizeof range, "tcp://127.0.0.1:%d-%d", base, base + 2);
    cmn_err_t err = CMN_EIO;
    cmn_bus_server_t *a = cmn_bus_server_new(range, s_keys, "dots", &err);
    cr_assert_not_null(a, "%s: %s", range, cmn_errname(err));
    cmn_bus_server_t *b = cmn_bus_server_new(range, s_keys, "dots", &err);
    cr_assert_not_null(b, "%s: %s", range, cmn_errname(err));
    int port[2] = {0, 0};
    cr_assert_eq(sscanf(cmn_bus_server_endpoint(a), "tcp://127.0.0.1:%d", &port[0]), 1);
    cr_assert_eq(sscanf(cmn_bus_server_endpoint(b), "tcp://127.0.0.1:%d", &port[1]), 1);
    cr_assert(port[0] >= base && port[0] <= base + 2 && port[1] >= base && port[1] <= base + 2 &&
                      port[0] != port[1],
              "%s bound %s and %s", range, cmn_bus_server_endpoint(a), cmn_bus_server_endpoint(b));
    cmn_bus_client_t *cli = cmn_bus_client_new(range, s_keys, "obtctl", "dots", &err);
    cr_assert_not_null(cli);
    zclock_sleep(300); /* both CURVE handshakes done: requests go only to connected peers */
    int got[2] = {0, 0};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(obt_send_health(cli, cmn_bus_next_corr_id()), CMN_OK);
    }
    cmn_bus_server_t *srv[2] = {a, b};
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 2; k++) {
            if (s_readable(cmn_bus_server_sock(srv[k]), i == 0 ? S_WAIT_MS : 200)) {
                zframe_t *peer = NULL;
                Obt__Dots__Request *req = s_server_take(srv[k], &peer);
                obt__dots__request__free_unpacked(req, NULL);
                zframe_destroy(&peer);
                got[k]++;
            }
        }
    }
    cr_assert_eq(got[0] + got[1], 4, "requests lost: %d + %d of 4", got[0], got[1]);
    cr_assert(got[0] > 0 && got[1] > 0, "one instance got none: %d / %d", got[0], got[1]);
    cmn_bus_client_destroy(&cli);
    cmn_bus_server_destroy(&b);
    cmn_bus_server_destroy(&a);
    /* a range with no free port left: EIO (the ports the servers held are closed by
     * ZeroMQ's I/O thread a moment later: take them as they come free) */
    int squat[3];
    for (int i = 0; i < 3; i++) {
        squat[i] = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(squat[i], 0);
        struct sockaddr_in at = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t) (base + i)),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int rc = -1;
        for (int t = 0; t < 100 && rc != 0; t++) {
            rc = bind(squat[i], (struct sockaddr *) &at, sizeof at);
            zclock_sleep(rc != 0 ? 20 : 0);
        }
        cr_assert(rc == 0 && listen(squat[i], 1) == 0, "port %d: %s", base + i, strerror(errno));
    }
    err = CMN_OK;
    cr_assert_null(cmn_bus_server_new(range, s_keys, "dots", &err));
    cr_assert_eq(err, CMN_EIO);
    for (int i = 0; i < 3; i++) {
        (void) close(squat[i]);
    }
}

Test(cmn_bus, curve_request_and_reply_roundtrip)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    cmn_bus_server_t *srv = s_server(s_keys);
    cmn_bus_client_t *cli = s_client(s_keys);

    zframe_t *peer = NULL;
    cmn_caller_t caller;
    uint8_t *data = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_bus_server_recv(srv, &peer, &caller, &data, &len), CMN_ENOTFOUND);
    cr_assert_eq(cmn_bus_client_recv(cli, &data, &len), CMN_ENOTFOUND);

    uint64_t id = cmn_bus_next_corr_id();
    cr_assert_eq(obt_send_health(cli, id), CMN_OK);
    Obt__Dots__Request *req = s_server_take(srv, &peer);
    cr_assert_eq(req->corr_id, id);
    cr_assert_eq(req->body_case, OBT__DOTS__REQUEST__BODY_HEALTH);
    cr_assert_not_null(req->health);
    obt__dots__request__free_unpacked(req, NULL);

    s_server_reply(srv, peer, id, "it works");
    cr_assert(s_readable(cmn_bus_client_sock(cli), S_WAIT_MS), "no reply arrived");
    cr_assert_eq(cmn_bus_client_recv(cli, &data, &len), CMN_OK);
    cr_assert_eq(cmn_bus_peek_corr_id(data, len), id);
    Obt__Dots__Reply *rep = obt__dots__reply__unpack(NULL, len, data);
    free(data);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->corr_id, id);
    cr_assert_eq(rep->status, OBT__STATUS__STATUS_EDEVICE);
    cr_assert_str_eq(rep->error, "it works");
    cr_assert_eq(rep->body_case, OBT__DOTS__REPLY__BODY_HEALTH);
    cr_assert_str_eq(rep->health->service, "dots");
    cr_assert_eq(rep->health->uptime_ms, 42);
    obt__dots__reply__free_unpacked(rep, NULL);

    zframe_destroy(&peer);
    cmn_bus_client_destroy(&cli);
    cr_assert_null(cli);
    cmn_bus_server_destroy(&srv);
}

Test(cmn_bus, server_rejects_multi_frame_request)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    cmn_bus_server_t *srv = s_server(s_keys);
    cmn_bus_client_t *cli = s_client(s_keys);
    cr_assert_eq(zstr_sendx(cmn_bus_client_sock(cli), "one", "two", NULL), 0);
    cr_assert(s_readable(cmn_bus_server_sock(srv), S_WAIT_MS));
    zframe_t *peer = NULL;
    cmn_caller_t caller;
    uint8_t *data = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_bus_server_recv(srv, &peer, &caller, &data, &len), CMN_EPROTO);
    cr_assert_null(peer);
    cr_assert_null(data);
    /* the next, well-formed request still gets through */
    cr_assert_eq(obt_send_health(cli, 77), CMN_OK);
    Obt__Dots__Request *req = s_server_take(srv, &peer);
    cr_assert_eq(req->corr_id, 77);
    obt__dots__request__free_unpacked(req, NULL);
    zframe_destroy(&peer);
    cmn_bus_client_destroy(&cli);
    cmn_bus_server_destroy(&srv);
}

Test(cmn_bus, client_call_drops_other_ids_and_times_out)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    cmn_bus_server_t *srv = s_server(s_keys);
    cmn_bus_client_t *cli = s_client(s_keys);
    cr_assert_eq(obt_send_health(cli, 1000), CMN_OK);
    zframe_t *peer = NULL;
    Obt__Dots__Request *req = s_server_take(srv, &peer);
    obt__dots__request__free_unpacked(req, NULL);

    /* queued before the call: a stale reply, then the one the call waits for */
    s_server_reply(srv, peer, 1000, "stale");
    s_server_reply(srv, peer, 1001, "wanted");
    cr_assert(s_readable(cmn_bus_client_sock(cli), S_WAIT_MS));
    Obt__Health health = OBT__HEALTH__INIT;
    Obt__Dots__Request call = OBT__DOTS__REQUEST__INIT;
    call.corr_id = 1001;
    call.body_case = OBT__DOTS__REQUEST__BODY_HEALTH;
    call.health = &health;
    uint8_t *data = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_bus_client_call(cli, &call.base, 1001, S_WAIT_MS, &data, &len), CMN_OK);
    Obt__Dots__Reply *rep = obt__dots__reply__unpack(NULL, len, data);
    free(data);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->corr_id, 1001);
    cr_assert_str_eq(rep->error, "wanted");
    obt__dots__reply__free_unpacked(rep, NULL);

    /* the call's own request reached the server */
    zframe_t *peer2 = NULL;
    req = s_server_take(srv, &peer2);
    cr_assert_eq(req->corr_id, 1001);
    obt__dots__request__free_unpacked(req, NULL);
    zframe_destroy(&peer2);

    /* nobody answers 1002 */
    call.corr_id = 1002;
    data = NULL;
    uint64_t t0 = cmn_time_mono_ms();
    cr_assert_eq(cmn_bus_client_call(cli, &call.base, 1002, 100, &data, &len), CMN_ETIMEDOUT);
    uint64_t took = cmn_time_mono_ms() - t0;
    cr_assert_null(data);
    cr_assert_geq(took, 100);
    cr_assert_lt(took, 1000);

    zframe_destroy(&peer);
    cmn_bus_client_destroy(&cli);
    cmn_bus_server_destroy(&srv);
}

/* A second key set: its obtctl is unknown to the server, and its idea of the
 * server's key is either the real one (copied) or a wrong one. */
static void
s_stranger_keys(char *out, size_t len, bool knows_server)
{
    (void) snprintf(out, len, "%s/stranger", s_root);
    cr_assert_eq(cmn_bus_keys_create(out, false), CMN_OK);
    if (knows_server) {
        char from[600], to[600];
        s_key_path(from, sizeof from, s_keys, "dots", false);
        s_key_path(to, sizeof to, out, "dots", false);
        char *text = s_slurp(from);
        FILE *f = fopen(to, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
        cr_assert_eq(fclose(f), 0);
        free(text);
    }
}

static void
s_assert_unknown_client_is_ignored(bool knows_server)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    char other[600];
    s_stranger_keys(other, sizeof other, knows_server);
    cmn_bus_server_t *srv = s_server(s_keys);
    cmn_bus_client_t *stranger = s_client(other);

    cr_assert_eq(obt_send_health(stranger, 555), CMN_OK);
    cr_assert_not(s_readable(cmn_bus_server_sock(srv), S_QUIET_MS),
                  "a request from an unknown key reached the server");
    zframe_t *peer = NULL;
    cmn_caller_t caller;
    uint8_t *data = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_bus_server_recv(srv, &peer, &caller, &data, &len), CMN_ENOTFOUND);

    /* the server still serves a client it knows */
    cmn_bus_client_t *cli = s_client(s_keys);
    cr_assert_eq(obt_send_health(cli, 556), CMN_OK);
    Obt__Dots__Request *req = s_server_take(srv, &peer);
    cr_assert_eq(req->corr_id, 556);
    obt__dots__request__free_unpacked(req, NULL);
    s_server_reply(srv, peer, 556, "");
    cr_assert(s_readable(cmn_bus_client_sock(cli), S_WAIT_MS));
    cr_assert_eq(cmn_bus_client_recv(cli, &data, &len), CMN_OK);
    cr_assert_eq(cmn_bus_peek_corr_id(data, len), 556);
    free(data);

    /* and the stranger got nothing, neither before nor after */
    cr_assert_not(s_readable(cmn_bus_client_sock(stranger), 50));
    cr_assert_eq(cmn_bus_server_recv(srv, &peer, &caller, &data, &len), CMN_ENOTFOUND);

    zframe_destroy(&peer);
    cmn_bus_client_destroy(&cli);
    cmn_bus_client_destroy(&stranger);
    cmn_bus_server_destroy(&srv);
}

Test(cmn_bus, client_with_unknown_key_gets_no_reply)
{
    s_assert_unknown_client_is_ignored(true);
}

Test(cmn_bus, client_with_wrong_server_key_gets_no_reply)
{
    s_assert_unknown_client_is_ignored(false);
}

/* ---------------------------------------------------------------- correlation ids */

static void
s_next_corr_id_increases_and_is_never_zero(void)
{
    uint64_t prev = cmn_bus_next_corr_id();
    cr_assert_neq(prev, 0);
    for (int i = 0; i < 10000; i++) {
        uint64_t id = cmn_bus_next_corr_id();
        cr_assert_gt(id, prev);
        prev = id;
    }
}

static size_t
s_pack_request(uint64_t corr_id, uint8_t *out, size_t cap)
{
    Obt__Dots__Show show = OBT__DOTS__SHOW__INIT;
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    req.corr_id = corr_id;
    req.body_case = OBT__DOTS__REQUEST__BODY_SHOW;
    req.show = &show;
    size_t len = obt__dots__request__get_packed_size(&req);
    cr_assert_leq(len, cap);
    return obt__dots__request__pack(&req, out);
}

static void
s_peek_corr_id_reads_field_one(void)
{
    static const uint64_t ids[] = {
            1, 127, 128, 300, 16383, 16384, UINT32_MAX, UINT64_MAX - 1, UINT64_MAX};
    uint8_t buf[64];
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        size_t len = s_pack_request(ids[i], buf, sizeof buf);
        cr_assert_eq(cmn_bus_peek_corr_id(buf, len), ids[i], "id %llu",
                     (unsigned long long) ids[i]);
    }
    uint64_t next = cmn_bus_next_corr_id();
    size_t len = s_pack_request(next, buf, sizeof buf);
    cr_assert_eq(cmn_bus_peek_corr_id(buf, len), next);

    /* a Reply too */
    Obt__Dots__Reply rep = OBT__DOTS__REPLY__INIT;
    rep.corr_id = 987654321;
    rep.status = OBT__STATUS__STATUS_EPROTO;
    rep.error = CMN_PB_STR("bad");
    len = obt__dots__reply__pack(&rep, buf);
    cr_assert_eq(cmn_bus_peek_corr_id(buf, len), 987654321);
}

static void
s_peek_corr_id_is_zero_for_absent_or_garbage(void)
{
    uint8_t buf[64];
    size_t len = s_pack_request(0, buf, sizeof buf); /* proto3 omits a zero field */
    cr_assert_neq(buf[0], 0x08);
    cr_assert_eq(cmn_bus_peek_corr_id(buf, len), 0);

    static const uint8_t one[] = {0x08};
    static const uint8_t truncated[] = {0x08, 0x80, 0x80};
    static const uint8_t other_field[] = {0x10, 0x05};
    static const uint8_t wrong_wire_type[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t too_long[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    cr_assert_eq(cmn_bus_peek_corr_id(NULL, 10), 0);
    cr_assert_eq(cmn_bus_peek_corr_id(buf, 0), 0);
    cr_assert_eq(cmn_bus_peek_corr_id(one, sizeof one), 0);
    cr_assert_eq(cmn_bus_peek_corr_id(truncated, sizeof truncated), 0);
    cr_assert_eq(cmn_bus_peek_corr_id(other_field, sizeof other_field), 0);
    cr_assert_eq(cmn_bus_peek_corr_id(wrong_wire_type, sizeof wrong_wire_type), 0);
    cr_assert_eq(cmn_bus_peek_corr_id(too_long, sizeof too_long), 0);

    /* a valid id whose varint is cut off is absent, not a smaller number */
    len = s_pack_request(UINT64_MAX, buf, sizeof buf);
    for (size_t cut = 1; cut < 11; cut++) {
        cr_assert_eq(cmn_bus_peek_corr_id(buf, cut), 0, "cut at %zu", cut);
    }
}

Test(cmn_bus, corr_ids_increase_and_peek_reads_field_one_or_zero)
{
    s_next_corr_id_increases_and_is_never_zero();
    s_peek_corr_id_reads_field_one();
    s_peek_corr_id_is_zero_for_absent_or_garbage();
}

/* ---------------------------------------------------------------- pending calls */

typedef struct {
    int calls;        /* times the callback ran */
    cmn_err_t err;    /* its last err */
    bool had_data;    /* data != NULL */
    size_t len;       /* its len */
    uint64_t corr_id; /* corr_id of the reply, read during the callback */
    char error[32];   /* Reply.error */
} s_seen_t;

static void
s_on_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len)
{
    s_seen_t *seen = arg;
    seen->calls++;
    seen->err = err;
    seen->had_data = data != NULL;
    seen->len = len;
    if (data != NULL) {
        Obt__Dots__Reply *rep = obt__dots__reply__unpack(NULL, len, data);
        cr_assert_not_null(rep);
        seen->corr_id = rep->corr_id;
        (void) snprintf(seen->error, sizeof seen->error, "%s", rep->error);
        obt__dots__reply__free_unpacked(rep, NULL);
    }
}

static cmn_err_t
s_call(cmn_calls_t *calls, uint64_t corr_id, uint32_t timeout_ms, s_seen_t *seen)
{
    Obt__Health health = OBT__HEALTH__INIT;
    Obt__Dots__Request req = OBT__DOTS__REQUEST__INIT;
    req.corr_id = corr_id;
    req.body_case = OBT__DOTS__REQUEST__BODY_HEALTH;
    req.health = &health;
    return cmn_calls_send(calls, &req.base, corr_id, timeout_ms, s_on_reply, seen);
}

/* Dispatches replies until every listed callback ran once, or S_WAIT_MS passes. */
static void
s_pump(cmn_calls_t *calls, cmn_bus_client_t *cli, s_seen_t *const *wait, size_t n)
{
    uint64_t deadline = cmn_time_mono_ms() + S_WAIT_MS;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++) {
            done += wait[i]->calls > 0;
        }
        if (done == n) {
            return;
        }
        cr_assert_lt(cmn_time_mono_ms(), deadline, "replies did not arrive");
        if (s_readable(cmn_bus_client_sock(cli), 50)) {
            cmn_calls_on_readable(calls);
        }
    }
}

Test(cmn_bus, calls_route_replies_and_expire_the_rest)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    cmn_bus_server_t *srv = s_server(s_keys);
    cmn_bus_client_t *cli = s_client(s_keys);
    cmn_calls_t *calls = cmn_calls_new(cli);
    cr_assert_not_null(calls);
    cr_assert_eq(cmn_calls_pending(calls), 0);
    cr_assert_eq(cmn_calls_expire(calls), -1, "no call, no deadline");

    s_seen_t a = {0}, b = {0}, c = {0};
    uint64_t ida = cmn_bus_next_corr_id();
    uint64_t idb = cmn_bus_next_corr_id();
    uint64_t idc = cmn_bus_next_corr_id();
    cr_assert_eq(s_call(calls, ida, 5000, &a), CMN_OK);
    cr_assert_eq(s_call(calls, idb, 80, &b), CMN_OK);
    cr_assert_eq(s_call(calls, idc, 5000, &c), CMN_OK);
    cr_assert_eq(cmn_calls_pending(calls), 3);
    int next = cmn_calls_expire(calls);
    cr_assert_gt(next, 0, "b is not due yet");
    cr_assert_leq(next, 80, "the nearest deadline is b's");
    cr_assert_eq(a.calls + b.calls + c.calls, 0);

    zframe_t *peer = NULL;
    uint64_t got[3];
    for (int i = 0; i < 3; i++) {
        zframe_t *p = NULL;
        Obt__Dots__Request *req = s_server_take(srv, &p);
        got[i] = req->corr_id;
        obt__dots__request__free_unpacked(req, NULL);
        zframe_destroy(&peer);
        peer = p;
    }
    cr_assert_eq(got[0], ida);
    cr_assert_eq(got[1], idb);
    cr_assert_eq(got[2], idc);

    /* answer c, then an unknown id, then a, out of order; b is never answered */
    s_server_reply(srv, peer, idc, "for c");
    s_server_reply(srv, peer, idc + 1000, "for nobody");
    s_server_reply(srv, peer, ida, "for a");
    s_seen_t *const wait[] = {&a, &c};
    s_pump(calls, cli, wait, 2);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(a.err, CMN_OK);
    cr_assert(a.had_data);
    cr_assert_eq(a.corr_id, ida);
    cr_assert_str_eq(a.error, "for a");
    cr_assert_eq(c.calls, 1);
    cr_assert_eq(c.corr_id, idc);
    cr_assert_str_eq(c.error, "for c");
    cr_assert_eq(b.calls, 0);
    cr_assert_eq(cmn_calls_pending(calls), 1);

    /* b expires through cmn_calls_expire */
    uint64_t deadline = cmn_time_mono_ms() + S_WAIT_MS;
    while (b.calls == 0) {
        cr_assert_lt(cmn_time_mono_ms(), deadline);
        int wait_ms = cmn_calls_expire(calls);
        if (b.calls == 0) {
            cr_assert_geq(wait_ms, 0);
            cr_assert_leq(wait_ms, 80);
            struct timespec ts = {0, (long) wait_ms * 1000000L};
            (void) nanosleep(&ts, NULL);
        } else {
            cr_assert_eq(wait_ms, -1, "nothing left to wait for");
        }
    }
    cr_assert_eq(b.calls, 1);
    cr_assert_eq(b.err, CMN_ETIMEDOUT);
    cr_assert_not(b.had_data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(cmn_calls_pending(calls), 0);

    /* a late reply to b is dropped, not delivered a second time */
    s_server_reply(srv, peer, idb, "late");
    cr_assert(s_readable(cmn_bus_client_sock(cli), S_WAIT_MS));
    cmn_calls_on_readable(calls);
    cr_assert_eq(b.calls, 1);
    cr_assert_eq(b.err, CMN_ETIMEDOUT);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(c.calls, 1);

    cmn_calls_destroy(&calls);
    cr_assert_null(calls);
    cr_assert_eq(a.calls + b.calls + c.calls, 3, "destroy ran a finished callback");
    zframe_destroy(&peer);
    cmn_bus_client_destroy(&cli);
    cmn_bus_server_destroy(&srv);
}

Test(cmn_bus, calls_destroy_fails_pending_calls_once_with_eio)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    /* no server: the DEALER queues the requests */
    cmn_bus_client_t *cli = s_client(s_keys);
    cmn_calls_t *calls = cmn_calls_new(cli);
    cr_assert_not_null(calls);
    enum { N = 150 }; /* more than the first allocation of slots */
    static s_seen_t seen[N];
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(s_call(calls, cmn_bus_next_corr_id(), 60000, &seen[i]), CMN_OK);
    }
    cr_assert_eq(cmn_calls_pending(calls), N);
    int next = cmn_calls_expire(calls);
    cr_assert_gt(next, 59000);
    cr_assert_leq(next, 60000);
    cr_assert_eq(cmn_calls_pending(calls), N, "expired early");
    cmn_calls_destroy(&calls);
    cr_assert_null(calls);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(seen[i].calls, 1, "call %zu: %d callbacks", i, seen[i].calls);
        cr_assert_eq(seen[i].err, CMN_EIO);
        cr_assert_not(seen[i].had_data);
    }
    cmn_calls_destroy(&calls); /* NULL is accepted */
    cmn_bus_client_destroy(&cli);
}

static void
s_calls_expire_reports_far_deadlines_as_positive(void)
{
    cmn_bus_client_t *cli = s_client(s_keys);
    cmn_calls_t *calls = cmn_calls_new(cli);
    s_seen_t seen = {0};
    cr_assert_eq(s_call(calls, cmn_bus_next_corr_id(), UINT32_MAX, &seen), CMN_OK);
    int next = cmn_calls_expire(calls);
    cr_assert_gt(next, 0, "a deadline 49 days away reported as %d", next);
    cr_assert_eq(seen.calls, 0);
    cmn_calls_destroy(&calls);
    cr_assert_eq(seen.calls, 1);
    cmn_bus_client_destroy(&cli);
}

static void
s_calls_send_refuses_corr_id_zero(void)
{
    cmn_bus_client_t *cli = s_client(s_keys);
    cmn_calls_t *calls = cmn_calls_new(cli);
    s_seen_t seen = {0};
    /* 0 means "absent" to cmn_bus_peek_corr_id: such a call could never be answered */
    cr_assert_eq(s_call(calls, 0, 1000, &seen), CMN_EINVAL);
    cr_assert_eq(cmn_calls_pending(calls), 0);
    cmn_calls_destroy(&calls);
    cr_assert_eq(seen.calls, 0);
    cmn_bus_client_destroy(&cli);
}

Test(cmn_bus, calls_refuse_id_zero_and_report_far_deadlines)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    s_calls_expire_reports_far_deadlines_as_positive();
    s_calls_send_refuses_corr_id_zero();
}

/* Who is calling comes from the key of the connection: a key file named dots-2.cert
 * is DOTS (a second instance) whatever the message says. */
Test(cmn_bus, the_caller_is_the_key_file_of_the_connection)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    char pub[600], sec[600];
    (void) snprintf(pub, sizeof pub, "%s/public/dots-2.cert", s_keys);
    (void) snprintf(sec, sizeof sec, "%s/secret/dots-2.cert_secret", s_keys);
    zcert_t *cert = zcert_new();
    cr_assert_eq(zcert_save_public(cert, pub), 0);
    cr_assert_eq(zcert_save_secret(cert, sec), 0);
    zcert_destroy(&cert);
    cmn_bus_server_t *srv = s_server(s_keys);
    cmn_err_t err = CMN_EIO;
    cmn_bus_client_t *cli = cmn_bus_client_new(s_ep, s_keys, "dots-2", "dots", &err);
    cr_assert_not_null(cli);
    cr_assert_eq(obt_send_health(cli, 7), CMN_OK);
    cr_assert(s_readable(cmn_bus_server_sock(srv), S_WAIT_MS), "no request arrived");
    zframe_t *peer = NULL;
    cmn_caller_t caller;
    uint8_t *data = NULL;
    size_t len = 0;
    cr_assert_eq(cmn_bus_server_recv(srv, &peer, &caller, &data, &len), CMN_OK);
    cr_assert_str_eq(caller.name, "dots-2");
    cr_assert_eq(caller.party, CMN_PARTY_DOTS);
    char error[200] = "";
    cr_assert_eq(cmn_bus_allow("obt-x", "derive", CMN_PARTY_DOTS, &caller, error, sizeof error),
                 CMN_OK);
    cr_assert_eq(cmn_bus_allow("obt-x", "derive", CMN_PARTY_OPERATOR | CMN_PARTY_CMS, &caller,
                               error, sizeof error),
                 CMN_EPERM);
    cr_assert(strstr(error, "dots-2") && strstr(error, "operator, cms") == NULL &&
                      strstr(error, "cms, operator"),
              "%s", error);
    cmn_bus_free(data, len);
    zframe_destroy(&peer);
    cmn_bus_client_destroy(&cli);
    cmn_bus_server_destroy(&srv);
}

Test(cmn_bus, party_names)
{
    cr_assert_eq(cmn_party_of_name("dots"), CMN_PARTY_DOTS);
    cr_assert_eq(cmn_party_of_name("cms-3"), CMN_PARTY_CMS);
    cr_assert_eq(cmn_party_of_name("obtctl-alice"), CMN_PARTY_OPERATOR);
    cr_assert_eq(cmn_party_of_name("gateway"), CMN_PARTY_GATEWAY);
    cr_assert_eq(cmn_party_of_name("dotsx"), CMN_PARTY_NONE);
    cr_assert_eq(cmn_party_of_name(""), CMN_PARTY_NONE);
    cmn_caller_t nobody = {CMN_PARTY_NONE, "stray"};
    char error[200];
    cr_assert_eq(cmn_bus_allow("obt-x", "health", CMN_PARTY_ANY, &nobody, error, sizeof error),
                 CMN_EPERM);
}

/* ---------------------------------------------------------------- events */

Test(cmn_bus, pub_endpoint_derives_from_the_router_endpoint)
{
    char ep[64];
    cr_assert_eq(cmn_bus_pub_endpoint("tcp://127.0.0.1:7401", ep, sizeof ep), CMN_OK);
    cr_assert_str_eq(ep, "tcp://127.0.0.1:7411");
    cr_assert_eq(cmn_bus_pub_endpoint("tcp://[::1]:7401", ep, sizeof ep), CMN_OK);
    cr_assert_str_eq(ep, "tcp://[::1]:7411");
    cr_assert_eq(cmn_bus_pub_endpoint("ipc:///tmp/x/dots.sock", ep, sizeof ep), CMN_OK);
    cr_assert_str_eq(ep, "ipc:///tmp/x/dots.sock.events");
    cr_assert_eq(cmn_bus_pub_endpoint("tcp://127.0.0.1:65530", ep, sizeof ep), CMN_EINVAL);
    cr_assert_eq(cmn_bus_pub_endpoint("tcp://127.0.0.1:*", ep, sizeof ep), CMN_EINVAL);
    cr_assert_eq(cmn_bus_pub_endpoint("udp://127.0.0.1:7401", ep, sizeof ep), CMN_EINVAL);
    cr_assert_eq(cmn_bus_pub_endpoint("ipc:///tmp/a/very/long/path", ep, 10), CMN_ENOSPC);
}

/* Lets the pub confirm subscriptions for ms. */
static void
s_pub_serve(cmn_bus_pub_t *pub, int ms)
{
    uint64_t end = cmn_time_mono_ms() + (uint64_t) ms;
    while (cmn_time_mono_ms() < end) {
        zmq_pollitem_t item = {zsock_resolve(cmn_bus_pub_sock(pub)), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 10) > 0) {
            cmn_bus_pub_on_readable(pub);
        }
    }
}

/* Serves pub until sub is live or S_WAIT_MS pass (no event is published meanwhile). */
static bool
s_until_live(cmn_bus_pub_t *pub, cmn_bus_sub_t *sub)
{
    uint64_t end = cmn_time_mono_ms() + S_WAIT_MS;
    while (!cmn_bus_sub_is_live(sub) && cmn_time_mono_ms() < end) {
        s_pub_serve(pub, 20);
        char *topic = NULL;
        uint8_t *data = NULL;
        size_t len = 0;
        cr_assert_eq(cmn_bus_sub_recv(sub, &topic, &data, &len), CMN_ENOTFOUND);
    }
    return cmn_bus_sub_is_live(sub);
}

/* Receives one event within S_WAIT_MS: its seq, or 0 if none came. */
static uint64_t
s_sub_take(cmn_bus_sub_t *sub, char *topic_out, size_t cap)
{
    uint64_t end = cmn_time_mono_ms() + S_WAIT_MS;
    while (cmn_time_mono_ms() < end) {
        char *topic = NULL;
        uint8_t *data = NULL;
        size_t len = 0;
        if (cmn_bus_sub_recv(sub, &topic, &data, &len) == CMN_OK) {
            Obt__Dots__JobEvent *ev = obt__dots__job_event__unpack(NULL, len, data);
            cr_assert_not_null(ev);
            uint64_t seq = ev->seq;
            (void) snprintf(topic_out, cap, "%s", topic);
            obt__dots__job_event__free_unpacked(ev, NULL);
            free(topic);
            free(data);
            return seq;
        }
        zmq_pollitem_t item = {zsock_resolve(cmn_bus_sub_sock(sub)), 0, ZMQ_POLLIN, 0};
        (void) zmq_poll(&item, 1, 20);
    }
    return 0;
}

static void
s_publish(cmn_bus_pub_t *pub, const char *topic, uint64_t seq)
{
    Obt__Dots__JobEvent ev = OBT__DOTS__JOB_EVENT__INIT;
    ev.seq = seq;
    ev.to = CMN_PB_STR("RFNOP");
    cr_assert_eq(cmn_bus_pub_send(pub, topic, &ev.base), CMN_OK);
}

Test(cmn_bus, pub_confirms_subscriptions_and_sub_gets_only_its_topics)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    char ep[600];
    cr_assert_eq(cmn_bus_pub_endpoint(s_ep, ep, sizeof ep), CMN_OK);
    cmn_err_t err = CMN_OK;
    /* the ROUTER and the PUB of one process share its zauth */
    cmn_bus_server_t *srv = cmn_bus_server_new(s_ep, s_keys, "dots", &err);
    cr_assert_not_null(srv, "%s", cmn_strerror(err));
    cmn_bus_pub_t *pub = cmn_bus_pub_new(ep, s_keys, "dots", &err);
    cr_assert_not_null(pub, "%s", cmn_strerror(err));
    cmn_bus_sub_t *sub = cmn_bus_sub_new(ep, s_keys, "obtctl", "dots", &err);
    cr_assert_not_null(sub, "%s", cmn_strerror(err));
    cr_assert_eq(cmn_bus_sub_subscribe(sub, "job/A"), CMN_OK);
    cr_assert_not(cmn_bus_sub_is_live(sub));
    cr_assert(s_until_live(pub, sub), "the subscription was never confirmed");
    s_publish(pub, "job/B", 7); /* not subscribed */
    s_publish(pub, "job/A", 8);
    char topic[64];
    cr_assert_eq(s_sub_take(sub, topic, sizeof topic), 8);
    cr_assert_str_eq(topic, "job/A");
    cmn_bus_sub_destroy(&sub);
    cmn_bus_pub_destroy(&pub);
    cmn_bus_server_destroy(&srv);
}

Test(cmn_bus, sub_with_an_unknown_key_gets_no_events)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    /* another set of keys, with the real server's public key: the client's own key is
     * not in s_keys/public */
    char rogue[600], from[700], to[700];
    (void) snprintf(rogue, sizeof rogue, "%s/rogue", s_root);
    cr_assert_eq(cmn_bus_keys_create(rogue, false), CMN_OK);
    (void) snprintf(from, sizeof from, "%s/public/dots.cert", s_keys);
    (void) snprintf(to, sizeof to, "%s/public/dots.cert", rogue);
    char *cert = s_slurp(from);
    FILE *f = fopen(to, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(cert, f) >= 0, true);
    (void) fclose(f);
    free(cert);

    char ep[600];
    cr_assert_eq(cmn_bus_pub_endpoint(s_ep, ep, sizeof ep), CMN_OK);
    cmn_err_t err = CMN_OK;
    cmn_bus_pub_t *pub = cmn_bus_pub_new(ep, s_keys, "dots", &err);
    cr_assert_not_null(pub, "%s", cmn_strerror(err));
    cmn_bus_sub_t *good = cmn_bus_sub_new(ep, s_keys, "obtctl", "dots", &err);
    cmn_bus_sub_t *bad = cmn_bus_sub_new(ep, rogue, "obtctl", "dots", &err);
    cr_assert(good && bad);
    cr_assert_eq(cmn_bus_sub_subscribe(good, "job/"), CMN_OK);
    cr_assert_eq(cmn_bus_sub_subscribe(bad, "job/"), CMN_OK);
    cr_assert(s_until_live(pub, good));
    s_pub_serve(pub, S_QUIET_MS); /* time for the rogue's handshake to fail */
    s_publish(pub, "job/X", 1);
    char topic[64];
    cr_assert_eq(s_sub_take(good, topic, sizeof topic), 1);
    cr_assert_eq(s_sub_take(bad, topic, sizeof topic), 0, "an unknown key got an event");
    cr_assert_not(cmn_bus_sub_is_live(bad));
    cmn_bus_sub_destroy(&good);
    cmn_bus_sub_destroy(&bad);
    cmn_bus_pub_destroy(&pub);
}

Test(cmn_bus, pub_and_server_of_one_process_share_one_keys_dir)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    char other[600], ep[600];
    (void) snprintf(other, sizeof other, "%s/other", s_root);
    cr_assert_eq(cmn_bus_keys_create(other, false), CMN_OK);
    cr_assert_eq(cmn_bus_pub_endpoint(s_ep, ep, sizeof ep), CMN_OK);
    cmn_err_t err = CMN_OK;
    cmn_bus_server_t *srv = cmn_bus_server_new(s_ep, s_keys, "dots", &err);
    cr_assert_not_null(srv);
    cr_assert_null(cmn_bus_pub_new(ep, other, "dots", &err));
    cr_assert_eq(err, CMN_EINVAL);
    cmn_bus_server_destroy(&srv);
    /* zauth released; libzmq unbinds a closed socket in its I/O thread, after
     * zmq_close returned, so the endpoint may stay taken for a moment */
    cmn_bus_pub_t *pub = NULL;
    for (int i = 0; i < 100 && pub == NULL; i++) {
        pub = cmn_bus_pub_new(ep, other, "dots", &err);
        if (pub == NULL) {
            (void) poll(NULL, 0, 20);
        }
    }
    cr_assert_not_null(pub, "%s", cmn_strerror(err));
    cmn_bus_pub_destroy(&pub);
}
