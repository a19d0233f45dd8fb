/* cmn_err_test.c — error names, descriptions and errno mapping */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cmn_err.h"

Test(cmn_err, names_are_stable)
{
    cr_assert_str_eq(cmn_errname(CMN_OK), "OK");
    cr_assert_str_eq(cmn_errname(CMN_ENOTFOUND), "ENOTFOUND");
    cr_assert_str_eq(cmn_errname(CMN_ENOSPC), "ENOSPC");
    cr_assert_str_eq(cmn_errname(CMN_EDEVICE), "EDEVICE");
}

Test(cmn_err, every_code_has_a_distinct_name_and_text)
{
    for (int i = 0; i < CMN_ERR_COUNT; i++) {
        cr_assert_not_null(cmn_strerror((cmn_err_t) i));
        cr_assert_gt(strlen(cmn_strerror((cmn_err_t) i)), 0);
        for (int j = i + 1; j < CMN_ERR_COUNT; j++) {
            cr_assert_str_neq(cmn_errname((cmn_err_t) i), cmn_errname((cmn_err_t) j));
        }
    }
}

Test(cmn_err, errno_mapping)
{
    cr_assert_eq(cmn_err_from_errno(ENOMEM), CMN_ENOMEM);
    cmn_err_t e = cmn_err_from_errno(EACCES);
    cr_assert_eq(e, (cmn_err_t) (CMN_ESYS | EACCES));
    cr_assert_str_eq(cmn_strerror(e), strerror(EACCES));
}

Test(cmn_err, unknown_code_does_not_crash)
{
    cr_assert_not_null(cmn_errname((cmn_err_t) 999));
    cr_assert_not_null(cmn_strerror((cmn_err_t) 999));
}
