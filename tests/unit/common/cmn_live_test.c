/* cmn_live_test.c — heartbeat bookkeeping: due times, loss once, return, restart */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_live.h"

static Obt__HealthReply
s_reply(uint64_t boot_id, uint64_t uptime_ms)
{
    Obt__HealthReply h = OBT__HEALTH_REPLY__INIT;
    h.boot_id = boot_id;
    h.uptime_ms = uptime_ms;
    return h;
}

Test(cmn_live, one_heartbeat_at_a_time_once_per_period)
{
    cmn_live_t l;
    cmn_live_init(&l, 2000);
    cr_assert(cmn_live_is_due(&l, 100), "the first heartbeat is due at once");
    cr_assert_not(cmn_live_is_due(&l, 5000), "one pending at a time");
    Obt__HealthReply h = s_reply(7, 10);
    cr_assert_eq(cmn_live_on_beat(&l, &h, 0), CMN_LIVE_UP);
    cr_assert_not(cmn_live_is_due(&l, 2099));
    cr_assert(cmn_live_is_due(&l, 2100));
}

Test(cmn_live, loss_is_reported_once_then_the_return)
{
    cmn_live_t l;
    cmn_live_init(&l, 1000);
    Obt__HealthReply h = s_reply(7, 10);
    cr_assert_eq(cmn_live_on_beat(&l, &h, 0), CMN_LIVE_UP);
    cr_assert(cmn_live_is_up(&l));
    cr_assert_eq(cmn_live_on_beat(&l, NULL, 3723000), CMN_LIVE_LOST);
    cr_assert_eq(cmn_live_on_beat(&l, NULL, 3724000), CMN_LIVE_SAME);
    cr_assert_not(cmn_live_is_up(&l));
    char since[32];
    cmn_live_down_since(&l, since, sizeof since);
    cr_assert_str_eq(since, "01:02:03 UTC", "the first failure's time");
    h = s_reply(7, 5000);
    cr_assert_eq(cmn_live_on_beat(&l, &h, 0), CMN_LIVE_BACK);
    cr_assert_eq(cmn_live_on_beat(&l, &h, 0), CMN_LIVE_SAME);
}

Test(cmn_live, a_new_boot_id_or_a_smaller_uptime_is_a_restart)
{
    cmn_live_t l;
    cmn_live_init(&l, 1000);
    Obt__HealthReply h = s_reply(7, 10);
    (void) cmn_live_on_beat(&l, &h, 0);
    h = s_reply(8, 20);
    cr_assert_eq(cmn_live_on_beat(&l, &h, 0), CMN_LIVE_RESTARTED, "boot id changed");
    cr_assert_eq(cmn_live_on_beat(&l, NULL, 0), CMN_LIVE_LOST);
    h = s_reply(9, 5);
    cr_assert_eq(cmn_live_on_beat(&l, &h, 0), CMN_LIVE_RESTARTED, "a restart wins over a return");
    h = s_reply(0, 100);
    (void) cmn_live_on_beat(&l, &h, 0);
    h = s_reply(0, 50);
    cr_assert_eq(cmn_live_on_beat(&l, &h, 0), CMN_LIVE_RESTARTED, "no boot id: uptime went back");
}

Test(cmn_live, failures_before_the_first_answer_then_it_comes_back)
{
    cmn_live_t l;
    cmn_live_init(&l, 1000);
    cr_assert_eq(cmn_live_on_beat(&l, NULL, 0), CMN_LIVE_LOST);
    cr_assert_not(cmn_live_is_up(&l));
    Obt__HealthReply h = s_reply(7, 10);
    cr_assert_eq(cmn_live_on_beat(&l, &h, 0), CMN_LIVE_BACK);
    cr_assert(cmn_live_is_up(&l));
}

Test(cmn_live, boot_ids_are_never_zero_and_differ)
{
    uint64_t a = cmn_live_new_boot_id(), b = cmn_live_new_boot_id();
    cr_assert_neq(a, 0);
    cr_assert_neq(a, b);
}
