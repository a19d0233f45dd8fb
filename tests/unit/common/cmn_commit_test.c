/* cmn_commit_test.c — group commit on a real LMDB store, with a real CURVE
 * DEALER/ROUTER pair: nothing sent during a group leaves before its commit */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmn_bus.h"
#include "cmn_commit.h"
#include "cmn_kv.h"
#include "obt/dots.pb-c.h"
#include "obt_support.h"

#define S_WAIT_MS  3000 /* upper bound for anything that should arrive */
#define S_QUIET_MS 300  /* how long "nothing arrives" is watched */

static char *s_root;
static char s_dir[512];
static char s_keys[512];
static char s_ep[512];
static const char *const s_dbs[] = {"alpha"};

static void
s_setup(void)
{
    s_root = obt_tmpdir("cmn_commit");
    cr_assert_not_null(s_root);
    (void) snprintf(s_dir, sizeof s_dir, "%s/store", s_root);
    (void) snprintf(s_keys, sizeof s_keys, "%s/keys", s_root);
    (void) snprintf(s_ep, sizeof s_ep, "ipc://%s/dots.sock", s_root);
}

static void
s_teardown(void)
{
    (void) umount(s_dir); /* the full-disk test's tmpfs, if any */
    obt_rmrf(s_root);
    free(s_root);
    s_root = NULL;
}

TestSuite(cmn_commit, .init = s_setup, .fini = s_teardown, .timeout = 30);

static cmn_kv_t *
s_open(size_t map_size, bool durable)
{
    cmn_err_t err = CMN_EIO;
    cmn_kv_t *kv = cmn_kv_new(s_dir, s_dbs, 1, map_size, durable, &err);
    cr_assert_not_null(kv, "open: %s", cmn_errname(err));
    return kv;
}

/* One write of the group: key = value. */
static cmn_err_t
s_write(cmn_commit_t *c, const char *key, const void *val, size_t len)
{
    cmn_kv_txn_t *txn = NULL;
    cmn_err_t err = cmn_commit_begin(c, &txn);
    if (err != CMN_OK) {
        return err;
    }
    err = cmn_kv_put(txn, "alpha", key, strlen(key), val, len);
    if (err != CMN_OK) {
        cmn_kv_abort(&txn);
        return err;
    }
    return cmn_kv_commit(&txn);
}

/* What a transaction of its own (another reader of the store) sees under key. */
static bool
s_committed(cmn_kv_t *kv, const char *key)
{
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin_own(kv, &txn), CMN_OK);
    void *val = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_kv_get(txn, "alpha", key, strlen(key), &val, &len);
    cmn_kv_abort(&txn);
    free(val);
    return err == CMN_OK;
}

Test(cmn_commit, writes_of_a_pass_are_one_commit_seen_by_the_group_before_it)
{
    cmn_kv_t *kv = s_open(0, true);
    cmn_commit_t *c = cmn_commit_new(kv);
    cr_assert_not_null(c);
    cr_assert_not(cmn_kv_group_is_open(kv), "no group before the first write");
    cr_assert_eq(cmn_commit_flush(c), CMN_OK, "an empty flush is a no-op");
    char key[16];
    for (int i = 0; i < 50; i++) {
        (void) snprintf(key, sizeof key, "dev%02d", i);
        cr_assert_eq(s_write(c, key, "x", 1), CMN_OK);
    }
    cr_assert(cmn_bus_is_held(), "the bus is held while the group is open");
    /* the group sees its writes; a transaction of its own does not, yet */
    void *val = NULL;
    size_t len = 0;
    cmn_kv_txn_t *rd = NULL;
    cr_assert_eq(cmn_kv_begin(kv, false, &rd), CMN_OK);
    cr_assert_eq(cmn_kv_get(rd, "alpha", "dev07", 5, &val, &len), CMN_OK,
                 "reads go through the open group");
    free(val);
    cmn_kv_abort(&rd);
    cr_assert_null(rd);
    cr_assert(cmn_kv_group_is_open(kv), "ending a read leaves the group open");
    cr_assert_not(s_committed(kv, "dev07"), "nothing is committed before the flush");
    cr_assert_eq(cmn_commit_flush(c), CMN_OK);
    cr_assert_not(cmn_bus_is_held());
    cr_assert(s_committed(kv, "dev00") && s_committed(kv, "dev49"));
    cmn_commit_stats_t st;
    cmn_commit_stats(c, &st);
    cr_assert_eq(st.groups, 1, "50 writes, one commit (got %llu)", (unsigned long long) st.groups);
    cr_assert_eq(st.writes, 50);
    cr_assert_eq(st.failed, 0);
    cmn_commit_destroy(&c);
    cr_assert_null(c);
    cmn_kv_destroy(&kv);
}

/* A lazy record (one nothing sent depends on) holds nothing back and waits for a later
 * commit: the next write that holds, or the pass's flush once the group is old. */
Test(cmn_commit, a_lazy_write_holds_nothing_and_is_stored_with_a_later_commit)
{
    cmn_kv_t *kv = s_open(0, true);
    cmn_commit_t *c = cmn_commit_new(kv);
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_commit_begin_lazy(c, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, "alpha", "lazy", 4, "1", 1), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    cr_assert_not(cmn_bus_is_held(), "a lazy write holds nothing");
    cr_assert_eq(cmn_commit_flush_pass(c, 60000), CMN_OK);
    cr_assert_not(s_committed(kv, "lazy"), "a young lazy group stays open");
    cr_assert_eq(cmn_commit_flush_pass(c, 0), CMN_OK);
    cr_assert(s_committed(kv, "lazy"), "an old one is committed");
    cr_assert_eq(cmn_commit_begin_lazy(c, &txn), CMN_OK);
    cr_assert_eq(cmn_kv_put(txn, "alpha", "lazy2", 5, "1", 1), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    cr_assert_eq(s_write(c, "needed", "2", 1), CMN_OK);
    cr_assert(cmn_bus_is_held(), "a write that others depend on holds");
    cr_assert_eq(cmn_commit_flush_pass(c, 60000), CMN_OK);
    cr_assert(s_committed(kv, "lazy2") && s_committed(kv, "needed"), "one commit for both");
    cr_assert_not(cmn_bus_is_held());
    cmn_commit_destroy(&c);
    cmn_kv_destroy(&kv);
}

Test(cmn_commit, a_write_that_fails_is_undone_alone)
{
    cmn_kv_t *kv = s_open(256 << 10, false); /* a small map: a big value fills it */
    cmn_commit_t *c = cmn_commit_new(kv);
    cr_assert_eq(s_write(c, "before", "1", 1), CMN_OK);
    static uint8_t big[1 << 20];
    cr_assert_eq(s_write(c, "huge", big, sizeof big), CMN_ENOSPC, "the map is full");
    cr_assert_eq(s_write(c, "after", "2", 1), CMN_OK, "the group goes on");
    cr_assert_eq(cmn_commit_flush(c), CMN_OK);
    cr_assert(s_committed(kv, "before") && s_committed(kv, "after"));
    cr_assert_not(s_committed(kv, "huge"));
    cmn_commit_destroy(&c);
    cmn_kv_destroy(&kv);
}

static bool
s_readable(zsock_t *sock, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
    return zmq_poll(&item, 1, timeout_ms) > 0;
}

static void
s_send_health(cmn_bus_client_t *cli, uint64_t corr_id)
{
    cr_assert_eq(obt_send_health(cli, corr_id), CMN_OK);
}

/* The server's next request: its corr_id, 0 if none arrives within timeout_ms. */
static uint64_t
s_recv_corr(cmn_bus_server_t *srv, int timeout_ms)
{
    if (!s_readable(cmn_bus_server_sock(srv), timeout_ms)) {
        return 0;
    }
    zframe_t *peer = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    cmn_caller_t caller;
    cr_assert_eq(cmn_bus_server_recv(srv, &peer, &caller, &data, &len), CMN_OK);
    uint64_t corr = cmn_bus_peek_corr_id(data, len);
    zframe_destroy(&peer);
    cmn_bus_free(data, len);
    return corr;
}

static void
s_link(cmn_bus_server_t **ret_srv, cmn_bus_client_t **ret_cli)
{
    cr_assert_eq(cmn_bus_keys_create(s_keys, false), CMN_OK);
    cmn_err_t err = CMN_EIO;
    *ret_srv = cmn_bus_server_new(s_ep, s_keys, "dots", &err);
    cr_assert_not_null(*ret_srv, "server: %s", cmn_errname(err));
    *ret_cli = cmn_bus_client_new(s_ep, s_keys, "obtctl", "dots", &err);
    cr_assert_not_null(*ret_cli, "client: %s", cmn_errname(err));
    s_send_health(*ret_cli, 1); /* the link is up: the CURVE handshake is done */
    cr_assert_eq(s_recv_corr(*ret_srv, S_WAIT_MS), 1);
}

Test(cmn_commit, a_message_sent_after_a_write_leaves_only_after_the_commit)
{
    cmn_bus_server_t *srv = NULL;
    cmn_bus_client_t *cli = NULL;
    s_link(&srv, &cli);
    cmn_kv_t *kv = s_open(0, true);
    cmn_commit_t *c = cmn_commit_new(kv);
    s_send_health(cli, 2); /* no write yet: it leaves at once */
    cr_assert_eq(s_recv_corr(srv, S_WAIT_MS), 2);
    cr_assert_eq(s_write(c, "dev", "x", 1), CMN_OK);
    s_send_health(cli, 3);
    s_send_health(cli, 4);
    cr_assert_eq(s_recv_corr(srv, S_QUIET_MS), 0, "held until the commit");
    cr_assert_eq(cmn_commit_flush(c), CMN_OK);
    cr_assert(s_committed(kv, "dev"));
    cr_assert_eq(s_recv_corr(srv, S_WAIT_MS), 3, "sent after the commit, in order");
    cr_assert_eq(s_recv_corr(srv, S_WAIT_MS), 4);
    cmn_commit_stats_t st;
    cmn_commit_stats(c, &st);
    cr_assert_eq(st.held, 2);
    cmn_commit_destroy(&c);
    cmn_kv_destroy(&kv);
    cmn_bus_client_destroy(&cli);
    cmn_bus_server_destroy(&srv);
}

/* A commit that fails (a full disk) stores nothing of the group and sends nothing
 * that was held for it. Needs root for a small tmpfs. */
Test(cmn_commit, a_failed_commit_drops_what_was_held_for_it)
{
    if (geteuid() != 0) {
        cr_skip_test("needs root to mount a small tmpfs");
    }
    cmn_bus_server_t *srv = NULL;
    cmn_bus_client_t *cli = NULL;
    s_link(&srv, &cli);
    cr_assert_eq(mkdir(s_dir, 0700), 0);
    if (mount("tmpfs", s_dir, "tmpfs", 0, "size=256k") != 0) {
        cr_skip_test("cannot mount a tmpfs here");
    }
    cmn_kv_t *kv = s_open(64 << 20, true); /* a map far larger than the disk */
    cmn_commit_t *c = cmn_commit_new(kv);
    static uint8_t blob[16384];
    char key[16];
    for (int i = 0; i < 40; i++) { /* 640 KiB into a 256 KiB disk: only the commit sees it */
        (void) snprintf(key, sizeof key, "k%02d", i);
        cr_assert_eq(s_write(c, key, blob, sizeof blob), CMN_OK);
    }
    s_send_health(cli, 5);
    cmn_err_t err = cmn_commit_flush(c);
    cr_assert_neq(err, CMN_OK, "the commit cannot fit");
    cr_assert_not(cmn_bus_is_held());
    cr_assert_eq(s_recv_corr(srv, S_QUIET_MS), 0, "the held message is dropped, never sent");
    cr_assert_not(s_committed(kv, "k00"));
    cmn_commit_stats_t st;
    cmn_commit_stats(c, &st);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.groups, 0);
    s_send_health(cli, 6); /* the bus works again, unheld */
    cr_assert_eq(s_recv_corr(srv, S_WAIT_MS), 6);
    cmn_commit_destroy(&c);
    cmn_kv_destroy(&kv);
    cmn_bus_client_destroy(&cli);
    cmn_bus_server_destroy(&srv);
}

/* The fence's guard: the group is stored only while key "lease" reads "mine". */
static cmn_err_t
s_guard(cmn_kv_txn_t *txn, void *arg)
{
    (void) arg;
    void *val = NULL;
    size_t len = 0;
    cmn_err_t err = cmn_kv_get(txn, "alpha", "lease", 5, &val, &len);
    bool is_mine = err == CMN_OK && len == 4 && memcmp(val, "mine", 4) == 0;
    free(val);
    return is_mine ? CMN_OK : CMN_EEXIST;
}

static void
s_refused(cmn_err_t err, void *arg)
{
    *(cmn_err_t *) arg = err;
}

Test(cmn_commit, a_guard_that_refuses_stores_nothing_of_the_group)
{
    cmn_kv_t *kv = s_open(0, false);
    cmn_commit_t *c = cmn_commit_new(kv);
    cr_assert_not_null(c);
    cr_assert_eq(s_write(c, "lease", "mine", 4), CMN_OK);
    cr_assert_eq(cmn_commit_flush(c), CMN_OK);
    cmn_err_t refused = CMN_OK;
    cmn_commit_set_guard(c, s_guard, s_refused, &refused);
    cr_assert_eq(s_write(c, "a", "1", 1), CMN_OK);
    cr_assert_eq(cmn_commit_flush(c), CMN_OK, "the guard reads the group and lets it through");
    cr_assert(s_committed(kv, "a"));
    cr_assert_eq(refused, CMN_OK, "not told when it let the group through");
    /* the same group takes the lease away and writes more: the guard sees the group's
     * own write, refuses, and nothing of the group is stored */
    cr_assert_eq(s_write(c, "lease", "else", 4), CMN_OK);
    cr_assert_eq(s_write(c, "b", "2", 1), CMN_OK);
    cr_assert_eq(cmn_commit_flush(c), CMN_EEXIST);
    cr_assert_eq(refused, CMN_EEXIST, "on_refused told with the guard's error");
    cr_assert_not(s_committed(kv, "b"), "the refused group is not stored");
    cr_assert_not(cmn_kv_group_is_open(kv), "the refused group is aborted");
    cr_assert_not(cmn_bus_is_held(), "its held messages are dropped");
    cmn_commit_stats_t st;
    cmn_commit_stats(c, &st);
    cr_assert_eq(st.failed, 1);
    cmn_commit_destroy(&c);
    cmn_kv_destroy(&kv);
}
