/* cmn_lease_test.c — the job lease rules (docs/scaling.md, D97) on a real LMDB store */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_kv.h"
#include "cmn_lease.h"
#include "obt_support.h"

static char *s_dir;
static cmn_kv_t *s_kv;
static const cmn_lease_owner_t s_a = {"cms-a", 11};
static const cmn_lease_owner_t s_b = {"cms-b", 22};
static const char s_dev[] = "11111111-2222-3333-4444-555555555555";

static void
s_setup(void)
{
    s_dir = obt_tmpdir("lease");
    cr_assert_not_null(s_dir);
    const char *const dbs[] = {CMN_LEASE_DB};
    cmn_err_t err = CMN_EIO;
    s_kv = cmn_kv_new(s_dir, dbs, 1, 0, false, &err);
    cr_assert_not_null(s_kv, "open: %s", cmn_strerror(err));
}

static void
s_teardown(void)
{
    cmn_kv_destroy(&s_kv);
    if (s_dir) {
        obt_rmrf(s_dir);
        free(s_dir);
        s_dir = NULL;
    }
}

/* take in a write transaction of its own, committed when it succeeds */
static cmn_err_t
s_take(const cmn_lease_owner_t *who, uint64_t now, cmn_lease_t *holder)
{
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(s_kv, true, &txn), CMN_OK);
    cmn_err_t err = cmn_lease_take(txn, s_dev, who, now, CMN_LEASE_LIFE_MS, holder);
    if (err == CMN_OK) {
        cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    } else {
        cmn_kv_abort(&txn);
    }
    return err;
}

static cmn_err_t
s_check(const cmn_lease_owner_t *who, cmn_lease_t *holder)
{
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(s_kv, false, &txn), CMN_OK);
    cmn_err_t err = cmn_lease_check(txn, s_dev, who, holder);
    cmn_kv_abort(&txn);
    return err;
}

static cmn_err_t
s_release(const cmn_lease_owner_t *who)
{
    cmn_kv_txn_t *txn = NULL;
    cr_assert_eq(cmn_kv_begin(s_kv, true, &txn), CMN_OK);
    cmn_err_t err = cmn_lease_release(txn, s_dev, who);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    return err;
}

TestSuite(cmn_lease, .init = s_setup, .fini = s_teardown);

Test(cmn_lease, a_free_job_is_taken_and_a_live_lease_refuses_another)
{
    cr_assert_eq(s_check(&s_a, NULL), CMN_ENOTFOUND, "no lease yet");
    cr_assert_eq(s_take(&s_a, 1000, NULL), CMN_OK);
    cmn_lease_t holder;
    memset(&holder, 0, sizeof holder);
    cr_assert_eq(s_take(&s_b, 1000 + CMN_LEASE_LIFE_MS - 1, &holder), CMN_EEXIST);
    cr_assert_str_eq(holder.owner.instance, "cms-a");
    cr_assert_eq(holder.owner.boot_id, 11);
    cr_assert_eq(holder.until_ms, 1000 + CMN_LEASE_LIFE_MS);
    cr_assert_eq(s_check(&s_a, NULL), CMN_OK);
    cr_assert_eq(s_check(&s_b, NULL), CMN_EEXIST, "the write guard refuses b");
}

Test(cmn_lease, an_expired_lease_is_taken_over_and_the_old_holder_is_refused)
{
    cr_assert_eq(s_take(&s_a, 1000, NULL), CMN_OK);
    cr_assert_eq(s_take(&s_b, 1000 + CMN_LEASE_LIFE_MS, NULL), CMN_OK, "expired: b takes it");
    cmn_lease_t holder;
    cr_assert_eq(s_check(&s_a, &holder), CMN_EEXIST, "a lost it: its writes are refused");
    cr_assert_str_eq(holder.owner.instance, "cms-b");
    cr_assert_eq(s_take(&s_a, 1000 + CMN_LEASE_LIFE_MS + 1, NULL), CMN_EEXIST,
                 "a cannot take it back while b's is live");
    cr_assert_eq(s_release(&s_a), CMN_EEXIST, "a cannot remove b's lease");
    cr_assert_eq(s_check(&s_b, NULL), CMN_OK);
}

Test(cmn_lease, renewal_extends_the_lease)
{
    cr_assert_eq(s_take(&s_a, 1000, NULL), CMN_OK);
    cr_assert_eq(s_take(&s_a, 5000, NULL), CMN_OK, "renewed by its holder");
    cr_assert_eq(s_take(&s_b, 1000 + CMN_LEASE_LIFE_MS + 1, NULL), CMN_EEXIST,
                 "past the first life, but renewed");
    cr_assert_eq(s_take(&s_b, 5000 + CMN_LEASE_LIFE_MS, NULL), CMN_OK);
}

Test(cmn_lease, a_restarted_instance_is_another_holder)
{
    const cmn_lease_owner_t a2 = {"cms-a", 12}; /* same name, new boot id */
    cr_assert_eq(s_take(&s_a, 1000, NULL), CMN_OK);
    cr_assert_eq(s_take(&a2, 2000, NULL), CMN_EEXIST);
    cr_assert_eq(s_check(&a2, NULL), CMN_EEXIST);
}

Test(cmn_lease, release_ends_it_and_the_guard_then_refuses_the_old_holder)
{
    cr_assert_eq(s_take(&s_a, 1000, NULL), CMN_OK);
    cr_assert_eq(s_release(&s_a), CMN_OK);
    cr_assert_eq(s_check(&s_a, NULL), CMN_ENOTFOUND, "released: no write of a passes");
    cr_assert_eq(s_release(&s_a), CMN_OK, "releasing twice is harmless");
    cr_assert_eq(s_take(&s_b, 1001, NULL), CMN_OK, "free again at once");
}

static int
s_count(const char *uuid, const cmn_lease_t *lease, void *arg)
{
    (void) lease;
    cr_assert_str_eq(uuid, s_dev);
    (*(int *) arg)++;
    return 0;
}

Test(cmn_lease, each_expired_lists_the_expired_leases_and_clear_removes_all)
{
    cr_assert_eq(s_take(&s_a, 1000, NULL), CMN_OK);
    cmn_kv_txn_t *txn = NULL;
    int n = 0;
    cr_assert_eq(cmn_kv_begin(s_kv, false, &txn), CMN_OK);
    cr_assert_eq(cmn_lease_each_expired(txn, 2000, s_count, &n), CMN_OK);
    cr_assert_eq(n, 0, "live");
    cr_assert_eq(cmn_lease_each_expired(txn, 1000 + CMN_LEASE_LIFE_MS, s_count, &n), CMN_OK);
    cr_assert_eq(n, 1, "expired");
    cmn_kv_abort(&txn);
    cr_assert_eq(cmn_kv_begin(s_kv, true, &txn), CMN_OK);
    cr_assert_eq(cmn_lease_clear(txn), CMN_OK);
    cr_assert_eq(cmn_kv_commit(&txn), CMN_OK);
    cr_assert_eq(s_check(&s_a, NULL), CMN_ENOTFOUND);
}
