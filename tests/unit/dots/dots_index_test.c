/* dots_index_test.c — a lookup by uuid answers what a walk of the job list in order
 * would, through appends, a re-keyed record, a removal and a list without an index. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dots_onboard_int.h"

static dots_engine_t s_eng;
static dots_job_t s_jobs[4];
static dots_job_t *s_list[4];

static void
s_job(size_t i, const char *uuid, const char *first)
{
    memset(&s_jobs[i], 0, sizeof s_jobs[i]);
    (void) snprintf(s_jobs[i].dev.uuid, sizeof s_jobs[i].dev.uuid, "%s", uuid);
    (void) snprintf(s_jobs[i].dev.first_uuid, sizeof s_jobs[i].dev.first_uuid, "%s", first);
    s_list[s_eng.n_jobs++] = &s_jobs[i];
    dots_index_add(&s_eng, &s_jobs[i]);
}

/* What the list says: the first job whose uuid or first_uuid is uuid. */
static dots_job_t *
s_walk(const char *uuid)
{
    for (size_t i = 0; i < s_eng.n_jobs; i++) {
        if (strcmp(s_list[i]->dev.uuid, uuid) == 0 ||
            strcmp(s_list[i]->dev.first_uuid, uuid) == 0) {
            return s_list[i];
        }
    }
    return NULL;
}

static const char *const KEYS[] = {"a", "b", "c", "x", "y", "z", "nobody"};

static void
s_expect_as_walk(const char *when)
{
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++) {
        cr_expect_eq(dots_index_find(&s_eng, KEYS[k]), s_walk(KEYS[k]), "%s: key %s", when,
                     KEYS[k]);
    }
}

static void
s_setup(void)
{
    memset(&s_eng, 0, sizeof s_eng);
    s_eng.jobs = s_list;
    dots_index_rebuild(&s_eng); /* makes the (empty) index */
    cr_assert_not_null(s_eng.by_uuid);
}

static void
s_teardown(void)
{
    dots_index_destroy(&s_eng);
}

TestSuite(dots_index, .init = s_setup, .fini = s_teardown);

Test(dots_index, finds_the_first_job_by_uuid_or_first_uuid)
{
    s_job(0, "a", "a");
    s_job(1, "b", "a"); /* the device reset: a new record with the same first uuid */
    s_job(2, "c", "c");
    cr_expect_eq(dots_index_find(&s_eng, "a"), &s_jobs[0]);
    cr_expect_eq(dots_index_find(&s_eng, "b"), &s_jobs[1]);
    cr_expect_null(dots_index_find(&s_eng, "nobody"));
    cr_expect_null(dots_index_find(&s_eng, NULL));
    s_expect_as_walk("appended");
}

Test(dots_index, a_rekeyed_record_is_found_under_its_new_uuid_and_its_first)
{
    s_job(0, "a", "a");
    s_job(1, "c", "c");
    (void) snprintf(s_jobs[0].dev.uuid, sizeof s_jobs[0].dev.uuid, "x"); /* SET_DEVICEUUID */
    dots_index_rekeyed(&s_eng, &s_jobs[0], "a");
    cr_expect_eq(dots_index_find(&s_eng, "x"), &s_jobs[0]);
    cr_expect_eq(dots_index_find(&s_eng, "a"), &s_jobs[0]); /* by its first uuid */
    s_expect_as_walk("re-keyed");
    /* a record whose first uuid is not the old one: the old key leaves the index */
    (void) snprintf(s_jobs[1].dev.first_uuid, sizeof s_jobs[1].dev.first_uuid, "z");
    dots_index_rebuild(&s_eng);
    (void) snprintf(s_jobs[1].dev.uuid, sizeof s_jobs[1].dev.uuid, "y");
    dots_index_rekeyed(&s_eng, &s_jobs[1], "c");
    cr_expect_null(dots_index_find(&s_eng, "c"));
    s_expect_as_walk("old key gone");
    /* re-keyed to a uuid an earlier record holds: the earlier one still comes first */
    (void) snprintf(s_jobs[1].dev.uuid, sizeof s_jobs[1].dev.uuid, "x");
    dots_index_rekeyed(&s_eng, &s_jobs[1], "y");
    cr_expect_eq(dots_index_find(&s_eng, "x"), &s_jobs[0]);
    s_expect_as_walk("taken uuid");
}

Test(dots_index, a_removal_or_reorder_rebuilt_answers_as_the_list)
{
    s_job(0, "a", "a");
    s_job(1, "b", "a");
    s_job(2, "c", "c");
    s_list[0] = s_list[1]; /* the first record forgotten */
    s_list[1] = s_list[2];
    s_eng.n_jobs = 2;
    dots_index_rebuild(&s_eng);
    cr_expect_eq(dots_index_find(&s_eng, "a"), &s_jobs[1]);
    s_expect_as_walk("removed");
    dots_job_t *t = s_list[0]; /* reordered */
    s_list[0] = s_list[1];
    s_list[1] = t;
    dots_index_rebuild(&s_eng);
    s_expect_as_walk("reordered");
}

Test(dots_index, without_an_index_a_lookup_walks_the_list)
{
    dots_index_destroy(&s_eng);
    s_job(0, "a", "a");
    s_job(1, "b", "a");
    cr_expect_null(s_eng.by_uuid);
    s_expect_as_walk("no index");
    cr_expect_eq(dots_index_find(&s_eng, "b"), &s_jobs[1]);
}
