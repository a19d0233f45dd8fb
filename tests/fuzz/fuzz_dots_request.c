/* fuzz_dots_request.c — libFuzzer harness of what obt-dots does with a frame from the
 * bus before a handler runs: unpack as obt.dots.Request (else the corr_id peeked for
 * the EPROTO reply), the pack/unpack round trip, the dispatch table's row for the body
 * (DOTS_HANDLERS, the table the dispatcher reads) and its parties check
 * (cmn_bus_allow) for a caller of every party and one of none, and every string of
 * the request through the string checks the handlers use. The dispatcher itself
 * needs the service (sockets, store), so it is not called. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "dots_service.h"
#include "dots_service_int.h"
#include "fuzz_check.h"
#include "fuzz_pb.h"
#include "obt/dots.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void) cmn_bus_peek_corr_id(data, size);
    Obt__Dots__Request *req =
            (Obt__Dots__Request *) fuzz_pb_unpack(&obt__dots__request__descriptor, data, size);
    if (req == NULL) {
        return 0;
    }
    const dots_handler_row_t *row = NULL;
    for (size_t i = 0; i < DOTS_HANDLER_COUNT; i++) {
        if (DOTS_HANDLERS[i].head.body == (int) req->body_case) {
            FUZZ_CHECK(row == NULL, "dots: two rows for one request");
            row = &DOTS_HANDLERS[i];
        }
    }
    FUZZ_CHECK((row != NULL) == (dots_service_has_handler((int) req->body_case) != 0),
               "dots: has_handler disagrees with the table");
    FUZZ_CHECK(req->body_case != OBT__DOTS__REQUEST__BODY__NOT_SET || row == NULL,
               "dots: a row for a request without body");
    for (size_t i = 0; row && i < FUZZ_PB_N_CALLERS; i++) {
        cmn_caller_t caller = fuzz_pb_caller(i);
        char error[300] = "";
        cmn_err_t err = cmn_bus_allow("obt-dots", row->head.name, row->head.parties, &caller, error,
                                      sizeof error);
        bool may = caller.party != CMN_PARTY_NONE && (row->head.parties & caller.party) != 0;
        FUZZ_CHECK(may ? err == CMN_OK : err != CMN_OK && error[0] != '\0',
                   "dots: parties check disagrees with the row");
    }
    fuzz_pb_each_string(&req->base, fuzz_pb_check_string);
    obt__dots__request__free_unpacked(req, NULL);
    return 0;
}
