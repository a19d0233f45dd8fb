/* dots_dispatch_test.c — every Request body has a row in the dispatch table */
#include <criterion/criterion.h>
#include <protobuf-c/protobuf-c.h>

#include "dots_service.h"
#include "obt/dots.pb-c.h"
#include "obt_oneof.h"

Test(dots_dispatch, every_request_oneof_field_has_a_handler)
{
    cr_assert_gt(
            obt_expect_oneof_handled(&obt__dots__request__descriptor, dots_service_has_handler), 0,
            "Request has no oneof body fields");
}

Test(dots_dispatch, unset_and_unknown_bodies_have_no_handler)
{
    cr_assert_not(dots_service_has_handler(OBT__DOTS__REQUEST__BODY__NOT_SET));
    cr_assert_not(dots_service_has_handler(1)); /* corr_id is not a body */
    cr_assert_not(dots_service_has_handler(99999));
}
