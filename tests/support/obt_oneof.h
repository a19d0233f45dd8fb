/* obt_oneof.h — unit-test helper: every oneof case of a request message has a
 * dispatch row (header-only, so unit tests need no support library). */
#ifndef OBT_ONEOF_H
#define OBT_ONEOF_H

#include <criterion/criterion.h>
#include <protobuf-c/protobuf-c.h>

/* Expects has_handler(id) for every oneof field of d, and no handler for 0
 * (NOT_SET) nor for an id that is not a field; returns the number of oneof
 * fields, so that a walk over an empty descriptor cannot pass silently. */
static inline unsigned
obt_expect_oneof_handled(const ProtobufCMessageDescriptor *d, int (*has_handler)(int))
{
    unsigned n_oneof = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0) {
            continue;
        }
        n_oneof++;
        cr_expect(has_handler((int) f->id), "no dispatch row for %s.%s (%u)", d->name, f->name,
                  f->id);
    }
    cr_expect_not(has_handler(0), "%s: NOT_SET must have no handler", d->name);
    cr_expect_not(has_handler(99999), "%s: an unknown body must have no handler", d->name);
    return n_oneof;
}

#endif
