/* cmn_err_test.c — error names, descriptions and errno mapping */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cmn_err.h"
#include "obt/common.pb-c.h"

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

/* obt.Status and cmn_err_t are one list: a code added to one enum and not the other
 * fails here (and at compile time in cmn_status.c for the codes it names). */
Test(cmn_err, every_code_maps_to_the_same_status_and_back)
{
    for (int i = 0; i < CMN_ERR_COUNT; i++) {
        int st = cmn_status_from_err((cmn_err_t) i);
        const ProtobufCEnumValue *v =
                protobuf_c_enum_descriptor_get_value(&obt__status__descriptor, st);
        cr_assert_not_null(v, "cmn_err_t %s has no obt.Status", cmn_errname((cmn_err_t) i));
        cr_assert_eq(cmn_err_from_status(st), (cmn_err_t) i, "%s does not come back", v->name);
        cr_assert(strstr(v->name, cmn_errname((cmn_err_t) i)) != NULL, "%s is not %s", v->name,
                  cmn_errname((cmn_err_t) i));
    }
    /* every status of the proto is a cmn_err_t, or ESYS */
    cr_assert_eq(obt__status__descriptor.n_values, (unsigned) CMN_ERR_COUNT + 1);
    for (unsigned k = 0; k < obt__status__descriptor.n_values; k++) {
        int st = obt__status__descriptor.values[k].value;
        if (st == OBT__STATUS__STATUS_ESYS) {
            cr_assert_eq(cmn_err_from_status(st), CMN_ESYS);
            continue;
        }
        cr_assert_lt(st, CMN_ERR_COUNT, "%s has no cmn_err_t",
                     obt__status__descriptor.values[k].name);
        cr_assert_eq(cmn_status_from_err(cmn_err_from_status(st)), st);
    }
    cr_assert_eq(cmn_status_from_err(cmn_err_from_errno(EACCES)), OBT__STATUS__STATUS_ESYS);
    cr_assert_eq(cmn_err_from_status(9999), CMN_EPROTO);
    cr_assert_eq(cmn_err_from_status(-1), CMN_EPROTO);
    cr_assert_eq(cmn_status_from_err(CMN_EDEVICE), OBT__STATUS__STATUS_EDEVICE);
}
