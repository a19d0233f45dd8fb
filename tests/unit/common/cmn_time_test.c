/* cmn_time_test.c — the monotonic and wall clocks, in milliseconds */
#include <criterion/criterion.h>
#include <stdint.h>
#include <time.h>

#include "cmn_time.h"

static uint64_t
s_clock_ms(clockid_t id)
{
    struct timespec ts;
    cr_assert_eq(clock_gettime(id, &ts), 0);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void
s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

Test(cmn_time, mono_is_non_decreasing)
{
    uint64_t prev = cmn_time_mono_ms();
    for (int i = 0; i < 100000; i++) {
        uint64_t now = cmn_time_mono_ms();
        cr_assert_geq(now, prev, "went back from %llu to %llu", (unsigned long long) prev,
                      (unsigned long long) now);
        prev = now;
    }
}

Test(cmn_time, mono_reads_clock_monotonic_in_ms)
{
    /* Bracketed by the raw clock: proves both the clock and the unit. */
    for (int i = 0; i < 100; i++) {
        uint64_t before = s_clock_ms(CLOCK_MONOTONIC);
        uint64_t t = cmn_time_mono_ms();
        uint64_t after = s_clock_ms(CLOCK_MONOTONIC);
        cr_assert_geq(t, before);
        cr_assert_leq(t, after);
    }
}

Test(cmn_time, mono_measures_a_sleep)
{
    uint64_t t0 = cmn_time_mono_ms();
    s_sleep_ms(60);
    uint64_t elapsed = cmn_time_mono_ms() - t0;
    cr_assert_geq(elapsed, 60, "elapsed %llu ms", (unsigned long long) elapsed);
    cr_assert_lt(elapsed, 60 + 1000, "elapsed %llu ms", (unsigned long long) elapsed);
}

Test(cmn_time, wall_reads_realtime_in_ms_since_epoch)
{
    uint64_t secs0 = (uint64_t) time(NULL);
    uint64_t before = s_clock_ms(CLOCK_REALTIME);
    uint64_t t = cmn_time_wall_ms();
    uint64_t after = s_clock_ms(CLOCK_REALTIME);
    cr_assert_geq(t, before);
    cr_assert_leq(t, after);
    /* later than 2020-01-01 and earlier than 2100-01-01, i.e. milliseconds */
    cr_assert_gt(t, UINT64_C(1577836800000));
    cr_assert_lt(t, UINT64_C(4102444800000));
    /* agrees with time(2) to the second: glibc's time(2) reads the coarse clock, which
     * lags CLOCK_REALTIME by up to a tick, so just past a second boundary it may still
     * say the second before (seen in CI) */
    uint64_t secs = (uint64_t) time(NULL);
    cr_assert_leq(secs0, t / 1000);
    cr_assert_leq(t / 1000, secs + 1);
    cr_assert_geq(t / 1000 + 1, secs);
}

Test(cmn_time, wall_advances_with_a_sleep)
{
    uint64_t t0 = cmn_time_wall_ms();
    s_sleep_ms(30);
    uint64_t t1 = cmn_time_wall_ms();
    /* the wall clock may be stepped, but not by NTP in the middle of a unit test */
    cr_assert_geq(t1, t0 + 30);
    cr_assert_lt(t1, t0 + 30 + 1000);
}
