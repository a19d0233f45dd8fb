/* cmn_jobs_test.c — the job table of the maint and bridge jobs: lookup by uuid, stale
 * replies, and a table destroyed while calls are in flight (run under ASan: the last
 * call frees it) */
#include <criterion/criterion.h>

#include "cmn_jobs.h"

typedef struct {
    cmn_job_head_t head;
    int payload;
} s_job_t;

Test(cmn_jobs, add_find_remove_by_uuid)
{
    cmn_jobs_t *jobs = cmn_jobs_new();
    cr_assert_not_null(jobs);
    s_job_t *a = cmn_jobs_add(jobs, "aaaa", sizeof *a);
    s_job_t *b = cmn_jobs_add(jobs, "bbbb", sizeof *b);
    cr_assert(a && b);
    cr_assert_str_eq(a->head.uuid, "aaaa");
    cr_assert_eq(a->payload, 0, "a new job is zeroed");
    cr_assert_eq(cmn_jobs_count(jobs), 2);
    cr_assert_eq(cmn_jobs_find(jobs, "bbbb"), b);
    cr_assert_null(cmn_jobs_find(jobs, "cccc"));
    cmn_jobs_remove(jobs, a);
    cr_assert_eq(cmn_jobs_count(jobs), 1);
    cr_assert_null(cmn_jobs_find(jobs, "aaaa"));
    cr_assert_eq(cmn_jobs_at(jobs, 0), b);
    cr_assert_null(cmn_jobs_at(jobs, 1));
    cmn_jobs_destroy(&jobs);
    cr_assert_null(jobs);
}

Test(cmn_jobs, only_the_newest_call_of_a_live_job_gets_its_job)
{
    cmn_jobs_t *jobs = cmn_jobs_new();
    s_job_t *a = cmn_jobs_add(jobs, "aaaa", sizeof *a);
    cmn_jobs_call_t *old = cmn_jobs_call(jobs, a);
    cmn_jobs_call_t *now = cmn_jobs_call(jobs, a);
    cr_assert(old && now);
    cr_assert_null(cmn_jobs_returned(old), "a reply to an older call is stale");
    cr_assert_eq(cmn_jobs_returned(now), a);
    cmn_jobs_call_t *gone = cmn_jobs_call(jobs, a);
    cmn_jobs_remove(jobs, a);
    cr_assert_null(cmn_jobs_returned(gone), "the job has ended");
    cmn_jobs_call_t *unsent = cmn_jobs_call(jobs, cmn_jobs_add(jobs, "bbbb", sizeof *a));
    cmn_jobs_call_cancel(unsent);
    cmn_jobs_destroy(&jobs); /* no call in flight: freed now (ASan reports a leak if not) */
}

Test(cmn_jobs, a_table_destroyed_with_calls_in_flight_is_freed_by_the_last)
{
    cmn_jobs_t *jobs = cmn_jobs_new();
    s_job_t *a = cmn_jobs_add(jobs, "aaaa", sizeof *a);
    cmn_jobs_call_t *c1 = cmn_jobs_call(jobs, a);
    cmn_jobs_call_t *c2 = cmn_jobs_call(jobs, cmn_jobs_add(jobs, "bbbb", sizeof *a));
    cmn_jobs_destroy(&jobs); /* the jobs are freed; the table waits for c1 and c2 */
    cr_assert_null(jobs);
    cr_assert_null(cmn_jobs_returned(c1), "no job after destroy");
    cr_assert_null(cmn_jobs_returned(c2), "the last call frees the table");
}
