/* cms_service_test.c — the device-service envelope has a dispatch row for every body,
 * and the own requests of CMS and AMS keep out of the envelope's field numbers */
#include <criterion/criterion.h>

#include "cmn_svc.h"
#include "cms_api.h"
#include "obt/ams.pb-c.h"
#include "obt/cms.pb-c.h"
#include "obt_oneof.h"

Test(service_envelope, every_request_body_has_a_handler)
{
    cr_assert_gt(obt_expect_oneof_handled(&obt__service_request__descriptor, cmn_svc_has_handler),
                 0, "ServiceRequest has no oneof fields: descriptor walk is broken");
}

/* corr_id (1) is shared; bodies 10..49 belong to obt.ServiceRequest, so a service's own
 * request read as a ServiceRequest has no body set and reaches the service's hook. */
static void
s_expect_outside_envelope(const ProtobufCMessageDescriptor *own,
                          const ProtobufCFieldDescriptor *cid)
{
    cr_assert_not_null(cid, "%s has no corr_id", own->name);
    cr_expect_eq(cid->id, 1u, "%s.corr_id must be field 1", own->name);
    for (unsigned i = 0; i < own->n_fields; i++) {
        unsigned id = own->fields[i].id;
        cr_expect(id == 1 || id >= 50, "%s.%s (%u) collides with the envelope's numbers", own->name,
                  own->fields[i].name, id);
    }
}

Test(service_envelope, own_requests_of_cms_and_ams_stay_outside_the_envelope_numbers)
{
    const ProtobufCMessageDescriptor *own[] = {&obt__cms__request__descriptor,
                                               &obt__ams__request__descriptor};
    for (size_t i = 0; i < 2; i++) {
        s_expect_outside_envelope(
                own[i], protobuf_c_message_descriptor_get_field_by_name(own[i], "corr_id"));
    }
    /* and the envelope's corr_id is field 1 too */
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
            &obt__service_request__descriptor, "corr_id");
    cr_assert_eq(f->id, 1u);
}

Test(cms_api, every_own_request_body_has_a_handler)
{
    cr_assert_gt(obt_expect_oneof_handled(&obt__cms__request__descriptor, cms_api_has_handler), 0,
                 "obt.cms.Request has no oneof fields: descriptor walk is broken");
}
