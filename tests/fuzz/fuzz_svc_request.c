/* fuzz_svc_request.c — libFuzzer harness of what obt-cms and obt-ams do with a frame
 * from the bus before a handler runs (common/cmn_svc_api.c): unpack as
 * obt.ServiceRequest (else the corr_id peeked for the EPROTO reply), the pack/unpack
 * round trip, the dispatch row of the body; a message with no envelope body is the
 * service's own request, unpacked as obt.cms.Request and obt.ams.Request. Every string
 * goes through the string checks the handlers use. The dispatcher itself needs the
 * service (sockets, store), so it is not called. */
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_svc.h"
#include "fuzz_check.h"
#include "fuzz_pb.h"
#include "obt/ams.pb-c.h"
#include "obt/cms.pb-c.h"
#include "obt/common.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void) cmn_bus_peek_corr_id(data, size);
    Obt__ServiceRequest *req =
            (Obt__ServiceRequest *) fuzz_pb_unpack(&obt__service_request__descriptor, data, size);
    if (req == NULL) {
        return 0;
    }
    int has = cmn_svc_has_handler((int) req->body_case);
    FUZZ_CHECK(req->body_case != OBT__SERVICE_REQUEST__BODY__NOT_SET || !has,
               "svc: a row for a request without body");
    if (req->body_case == OBT__SERVICE_REQUEST__BODY__NOT_SET) {
        ProtobufCMessage *own = fuzz_pb_unpack(&obt__cms__request__descriptor, data, size);
        protobuf_c_message_free_unpacked(own, NULL);
        own = fuzz_pb_unpack(&obt__ams__request__descriptor, data, size);
        protobuf_c_message_free_unpacked(own, NULL);
    }
    fuzz_pb_each_string(&req->base, fuzz_pb_check_string);
    obt__service_request__free_unpacked(req, NULL);
    return 0;
}
