/* fuzz_pb.h — what the harnesses of the daemons' protobuf requests share: the
 * pack/unpack round trip of any message and a walk over the strings a peer chose */
#ifndef FUZZ_PB_H
#define FUZZ_PB_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"

/* Unpacks data as desc. On success, checks the round trip: the message packs, the
 * packing unpacks, and packing that again gives the same bytes. Returns the message
 * (free with protobuf_c_message_free_unpacked) or NULL when data does not unpack. */
ProtobufCMessage *
fuzz_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size);

/* Calls fn on every set string field of msg and of the messages it holds. */
void fuzz_pb_each_string(const ProtobufCMessage *msg, void (*fn)(const char *s));

/* The string checks every request handler may run on a peer's string: a UUID, a CoAP
 * endpoint, and the log escape every peer string goes through. */
void fuzz_pb_check_string(const char *s);

/* Shared by the request harnesses: logs only errors. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Callers of every party, and one whose key names none (index < FUZZ_PB_N_CALLERS). */
#define FUZZ_PB_N_CALLERS 6
cmn_caller_t fuzz_pb_caller(size_t i);

#endif
