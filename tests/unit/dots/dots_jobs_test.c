/* dots_jobs_test.c — the job table of the maint and bridge jobs: lookup by uuid, stale
 * replies, and a table destroyed while calls are in flight (run under ASan: the last
 * call frees it) */
#include <criterion/criterion.h>

#include "dots_jobs.h"

typedef struct {
    dots_job_head_t head;
    int payload;
} s_job_t;

Test(dots_jobs, add_find_remove_by_uuid)
{
    dots_jobs_t *jobs = dots_jobs_new();
    cr_assert_not_null(jobs);
    s_job_t *a = dots_jobs_add(jobs, "aaaa", sizeof *a);
    s_job_t *b = dots_jobs_add(jobs, "bbbb", sizeof *b);
    cr_assert(a && b);
    cr_assert_str_eq(a->head.uuid, "aaaa");
    cr_assert_eq(a->payload, 0, "a new job is zeroed");
    cr_assert_eq(dots_jobs_count(jobs), 2);
    cr_assert_eq(dots_jobs_find(jobs, "bbbb"), b);
    cr_assert_null(dots_jobs_find(jobs, "cccc"));
    dots_jobs_remove(jobs, a);
    cr_assert_eq(dots_jobs_count(jobs), 1);
    cr_assert_null(dots_jobs_find(jobs, "aaaa"));
    cr_assert_eq(dots_jobs_at(jobs, 0), b);
    cr_assert_null(dots_jobs_at(jobs, 1));
    dots_jobs_destroy(&jobs);
    cr_assert_null(jobs);
}

Test(dots_jobs, only_the_newest_call_of_a_live_job_gets_its_job)
{
    dots_jobs_t *jobs = dots_jobs_new();
    s_job_t *a = dots_jobs_add(jobs, "aaaa", sizeof *a);
    dots_jobs_call_t *old = dots_jobs_call(jobs, a);
    dots_jobs_call_t *now = dots_jobs_call(jobs, a);
    cr_assert(old && now);
    cr_assert_null(dots_jobs_returned(old), "a reply to an older call is stale");
    cr_assert_eq(dots_jobs_returned(now), a);
    dots_jobs_call_t *gone = dots_jobs_call(jobs, a);
    dots_jobs_remove(jobs, a);
    cr_assert_null(dots_jobs_returned(gone), "the job has ended");
    dots_jobs_call_t *unsent = dots_jobs_call(jobs, dots_jobs_add(jobs, "bbbb", sizeof *a));
    dots_jobs_call_cancel(unsent);
    dots_jobs_destroy(&jobs); /* no call in flight: freed now (ASan reports a leak if not) */
}

Test(dots_jobs, a_table_destroyed_with_calls_in_flight_is_freed_by_the_last)
{
    dots_jobs_t *jobs = dots_jobs_new();
    s_job_t *a = dots_jobs_add(jobs, "aaaa", sizeof *a);
    dots_jobs_call_t *c1 = dots_jobs_call(jobs, a);
    dots_jobs_call_t *c2 = dots_jobs_call(jobs, dots_jobs_add(jobs, "bbbb", sizeof *a));
    dots_jobs_destroy(&jobs); /* the jobs are freed; the table waits for c1 and c2 */
    cr_assert_null(jobs);
    cr_assert_null(dots_jobs_returned(c1), "no job after destroy");
    cr_assert_null(dots_jobs_returned(c2), "the last call frees the table");
}
