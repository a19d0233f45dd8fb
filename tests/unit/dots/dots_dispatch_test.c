/* dots_dispatch_test.c — every Request body has a row in the dispatch table */
#include <criterion/criterion.h>
#include <protobuf-c/protobuf-c.h>

#include "dots_service.h"
#include "obt/dots.pb-c.h"

Test(dots_dispatch, every_request_oneof_field_has_a_handler)
{
    const ProtobufCMessageDescriptor *d = &obt__dots__request__descriptor;
    unsigned n_oneof = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
            continue;
        }
        n_oneof++;
        cr_expect(dots_service_has_handler((int) f->id), "no dispatch row for body \"%s\" (%u)",
                  f->name, f->id);
    }
    cr_assert_gt(n_oneof, 0, "Request has no oneof body fields");
}

Test(dots_dispatch, unset_and_unknown_bodies_have_no_handler)
{
    cr_assert_not(dots_service_has_handler(OBT__DOTS__REQUEST__BODY__NOT_SET));
    cr_assert_not(dots_service_has_handler(1)); /* corr_id is not a body */
    cr_assert_not(dots_service_has_handler(99999));
}
