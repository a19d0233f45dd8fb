/* cmn_dispatch_test.c — the rows' lookup over a daemon's own row struct, and the one
 * parties check */
#include <criterion/criterion.h>
#include <string.h>

#include "cmn_dispatch.h"

typedef int(s_fn)(int x);

static int
s_double(int x)
{
    return 2 * x;
}

static int
s_negate(int x)
{
    return -x;
}

/* A row larger than its head, as the daemons' are: the stride must be the row's. */
typedef struct {
    cmn_dispatch_row_t head;
    s_fn *fn;
    char pad[40];
} s_row_t;

static const s_row_t s_rows[] = {
        {{10, "double", CMN_PARTY_ANY}, s_double, ""},
        {{12, "negate", CMN_PARTY_DOTS | CMN_PARTY_OPERATOR}, s_negate, ""},
};
#define S_N (sizeof s_rows / sizeof s_rows[0])

Test(cmn_dispatch, find_returns_the_row_of_the_body_or_null)
{
    const cmn_dispatch_row_t *row = cmn_dispatch_find(s_rows, S_N, sizeof s_rows[0], 12);
    cr_assert_eq(row, &s_rows[1].head);
    cr_assert_eq(((const s_row_t *) row)->fn(3), -3);
    cr_assert_str_eq(row->name, "negate");
    cr_assert_eq(cmn_dispatch_find(s_rows, S_N, sizeof s_rows[0], 10), &s_rows[0].head);
    cr_assert_null(cmn_dispatch_find(s_rows, S_N, sizeof s_rows[0], 0), "no body set");
    cr_assert_null(cmn_dispatch_find(s_rows, S_N, sizeof s_rows[0], 11));
    cr_assert_null(cmn_dispatch_find(s_rows, 0, sizeof s_rows[0], 10));
}

Test(cmn_dispatch, check_lets_the_rows_parties_through_and_says_why_not)
{
    cmn_caller_t dots = {CMN_PARTY_DOTS, "dots-2"};
    cmn_caller_t cms = {CMN_PARTY_CMS, "cms"};
    cmn_caller_t nobody = {CMN_PARTY_NONE, "stray"};
    char error[200] = "";
    const cmn_dispatch_row_t *row = NULL;

    cr_assert_eq(cmn_dispatch_check("obt-x", s_rows, S_N, sizeof s_rows[0], 12, &dots, error,
                                    sizeof error, &row),
                 CMN_OK);
    cr_assert_eq(row, &s_rows[1].head);
    cr_assert_str_empty(error);

    row = NULL;
    cr_assert_eq(cmn_dispatch_check("obt-x", s_rows, S_N, sizeof s_rows[0], 12, &cms, error,
                                    sizeof error, &row),
                 CMN_EPERM);
    cr_assert_null(row);
    cr_assert_str_eq(error, "obt-x: \"cms\" (cms) may not send negate (allowed: dots, operator)");

    cr_assert_eq(cmn_dispatch_check("obt-x", s_rows, S_N, sizeof s_rows[0], 10, &nobody, error,
                                    sizeof error, &row),
                 CMN_EPERM, "a key that names no party is refused everything");
    cr_assert_null(row);

    cr_assert_eq(cmn_dispatch_check("obt-x", s_rows, S_N, sizeof s_rows[0], 99, &dots, error,
                                    sizeof error, &row),
                 CMN_EPROTO);
    cr_assert_null(row);
    cr_assert_str_eq(error, "unknown or missing request body");
}
