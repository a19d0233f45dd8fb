/* cms_service_test.c — every Request oneof case of obt.cms has a dispatch row */
#include <criterion/criterion.h>

#include "cms_service.h"
#include "obt/cms.pb-c.h"
#include "obt_oneof.h"

Test(cms_service, every_request_body_has_a_handler)
{
    cr_assert_gt(obt_expect_oneof_handled(&obt__cms__request__descriptor, cms_service_has_handler),
                 0, "Request has no oneof fields: descriptor walk is broken");
}
