/* fuzz_gw_request.c — libFuzzer harness of what obt-gateway does with a frame from the
 * bus before a handler runs: unpack as obt.gw.Request (else the corr_id peeked for the
 * EPROTO reply), the pack/unpack round trip, the dispatch row of the body, the scope
 * lists a Discover names, and every string of the request through the string checks
 * the handlers use (UUIDs, endpoints, log escaping). The dispatcher itself needs a
 * bound socket and a CoAP context (gw_service.c), so it is not called. */
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "fuzz_check.h"
#include "fuzz_pb.h"
#include "gw_disc.h"
#include "gw_service.h"
#include "obt/gateway.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void) cmn_bus_peek_corr_id(data, size);
    Obt__Gw__Request *req =
            (Obt__Gw__Request *) fuzz_pb_unpack(&obt__gw__request__descriptor, data, size);
    if (req == NULL) {
        return 0;
    }
    int has = gw_service_has_handler((int) req->body_case);
    FUZZ_CHECK(req->body_case != OBT__GW__REQUEST__BODY__NOT_SET || !has,
               "gw: a row for a request without body");
    if (req->body_case == OBT__GW__REQUEST__BODY_DISCOVER) {
        for (size_t i = 0; i < req->discover->n_scopes; i++) {
            gw_scope_t scopes[GW_SCOPE_COUNT];
            size_t n = 0;
            if (gw_disc_parse_scopes(req->discover->scopes[i], scopes, &n) == CMN_OK) {
                FUZZ_CHECK(n <= GW_SCOPE_COUNT, "gw: more scopes than exist");
            }
        }
    }
    fuzz_pb_each_string(&req->base, fuzz_pb_check_string);
    obt__gw__request__free_unpacked(req, NULL);
    return 0;
}
