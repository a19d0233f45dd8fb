/* gw_service_test.c — every Request oneof case has a row in the dispatch table */
#include <criterion/criterion.h>
#include <protobuf-c/protobuf-c.h>

#include "gw_service.h"
#include "obt/gateway.pb-c.h"
#include "obt_oneof.h"

Test(gw_service, every_request_body_has_a_handler)
{
    cr_assert_gt(obt_expect_oneof_handled(&obt__gw__request__descriptor, gw_service_has_handler), 0,
                 "Request has no oneof fields: descriptor walk is broken");
}

Test(gw_service, unset_and_unknown_bodies_have_no_handler)
{
    cr_expect_not(gw_service_has_handler(OBT__GW__REQUEST__BODY__NOT_SET));
    cr_expect_not(gw_service_has_handler(9999));
}
