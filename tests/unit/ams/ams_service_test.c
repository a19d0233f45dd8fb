/* ams_service_test.c — every Request oneof case of obt.ams has a dispatch row */
#include <criterion/criterion.h>

#include "ams_service.h"
#include "obt/ams.pb-c.h"
#include "obt_oneof.h"

Test(ams_service, every_request_body_has_a_handler)
{
    cr_assert_gt(obt_expect_oneof_handled(&obt__ams__request__descriptor, ams_service_has_handler),
                 0, "Request has no oneof fields: descriptor walk is broken");
}
