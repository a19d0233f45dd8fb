/* fuzz_pb.c — protobuf round trip and string walk for the request harnesses */
#include "fuzz_pb.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_ep.h"
#include "cmn_log.h"
#include "cmn_uuid.h"
#include "fuzz_check.h"

static uint8_t *
s_pack(const ProtobufCMessage *msg, size_t *ret_len)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    FUZZ_CHECK(buf != NULL, "pb: out of memory");
    FUZZ_CHECK(protobuf_c_message_pack(msg, buf) == len, "pb: packed size differs");
    *ret_len = len;
    return buf;
}

/* The values of field f of msg: *ret_values points at n of them (an array of
 * pointers for strings and messages). False when f is a member of a oneof that is
 * not the one set. */
static bool
s_values(const ProtobufCMessage *msg,
         const ProtobufCFieldDescriptor *f,
         const void **ret_values,
         size_t *ret_n)
{
    const char *base = (const char *) msg;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
        *(const uint32_t *) (base + f->quantifier_offset) != f->id) {
        return false;
    }
    *ret_n = 1;
    *ret_values = base + f->offset;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        *ret_n = *(const size_t *) (base + f->quantifier_offset);
        *ret_values = *(const void *const *) (base + f->offset);
    }
    return true;
}

/* True if msg or a message it holds kept fields its descriptor does not know. */
static bool
s_has_unknown(const ProtobufCMessage *msg)
{
    if (msg->n_unknown_fields > 0) {
        return true;
    }
    for (unsigned i = 0; i < msg->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &msg->descriptor->fields[i];
        const void *values = NULL;
        size_t n = 0;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || !s_values(msg, f, &values, &n)) {
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            const ProtobufCMessage *sub = ((const ProtobufCMessage *const *) values)[j];
            if (sub != NULL && s_has_unknown(sub)) {
                return true;
            }
        }
    }
    return false;
}

ProtobufCMessage *
fuzz_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, size, data);
    if (msg == NULL) {
        return NULL;
    }
    FUZZ_CHECK(protobuf_c_message_check(msg), "pb: unpacked message does not check");
    size_t len1 = 0;
    size_t len2 = 0;
    uint8_t *once = s_pack(msg, &len1);
    ProtobufCMessage *again = protobuf_c_message_unpack(desc, NULL, len1, once);
    if (again == NULL) {
        /* libprotobuf-c 1.4 keeps an unknown field of number 0 on unpack and packs it
         * back as a tag it then refuses: a library quirk that touches no daemon (none
         * packs a message it received). Known fields must always come back. */
        FUZZ_CHECK(s_has_unknown(msg), "pb: own packing does not unpack");
        free(once);
        return msg;
    }
    uint8_t *twice = s_pack(again, &len2);
    FUZZ_CHECK(len1 == len2 && (len1 == 0 || memcmp(once, twice, len1) == 0),
               "pb: round trip changed the message");
    free(twice);
    protobuf_c_message_free_unpacked(again, NULL);
    free(once);
    return msg;
}

static void
s_field(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, void (*fn)(const char *))
{
    const void *values = NULL;
    size_t n = 0;
    if (!s_values(msg, f, &values, &n)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            const char *s = ((const char *const *) values)[i];
            if (s != NULL) {
                fn(s);
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessage *sub = ((const ProtobufCMessage *const *) values)[i];
            if (sub != NULL) {
                fuzz_pb_each_string(sub, fn);
            }
        }
    }
}

void
fuzz_pb_each_string(const ProtobufCMessage *msg, void (*fn)(const char *s))
{
    for (unsigned i = 0; i < msg->descriptor->n_fields; i++) {
        s_field(msg, &msg->descriptor->fields[i], fn);
    }
}

void
fuzz_pb_check_string(const char *s)
{
    cmn_uuid_t uuid;
    if (cmn_uuid_from_str(s, &uuid) == CMN_OK) {
        char back[CMN_UUID_STR_LEN + 1];
        cmn_uuid_to_str(&uuid, back);
        FUZZ_CHECK(strlen(back) == CMN_UUID_STR_LEN, "pb: uuid does not format back");
    }
    cmn_ep_t ep;
    if (cmn_ep_parse(s, &ep) == CMN_OK) {
        char uri[128];
        cmn_ep_format(&ep, uri, sizeof uri);
        cmn_ep_t again;
        FUZZ_CHECK(cmn_ep_parse(uri, &again) == CMN_OK && again.is_secure == ep.is_secure &&
                           again.port == ep.port && strcmp(again.host, ep.host) == 0,
                   "pb: endpoint does not format back to itself");
    }
    char esc[160];
    FUZZ_CHECK(memchr(cmn_log_escape(esc, sizeof esc, s), 0, sizeof esc) != NULL,
               "pb: escaped string not terminated");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cmn_log_init("fuzz", CMN_LOG_ERR); /* the parties check warns on every refusal */
    return 0;
}

cmn_caller_t
fuzz_pb_caller(size_t i)
{
    static const char *const names[FUZZ_PB_N_CALLERS] = {"gateway", "dots",   "cms-2",
                                                         "ams",     "obtctl", "stranger"};
    cmn_caller_t c;
    memset(&c, 0, sizeof c);
    (void) snprintf(c.name, sizeof c.name, "%s", names[i % FUZZ_PB_N_CALLERS]);
    c.party = cmn_party_of_name(c.name);
    return c;
}
