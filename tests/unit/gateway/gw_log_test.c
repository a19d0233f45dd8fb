/* gw_log_test.c — libcoap's PDU dumps reach our log without their payload */
#include <criterion/criterion.h>
#include <string.h>

#include "gw_log.h"

/* What libcoap 4.3.1's coap_show_pdu prints for a CBOR POST (one message per line). */
#define HEADER "v:1 t:CON c:POST i:6c1e {0a1b} [ Uri-Path:oic, Uri-Path:sec, Uri-Path:cred ]"

Test(gw_log, a_binary_payload_keeps_its_header_and_length_only)
{
    char out[256];
    cr_assert(gw_log_redact(HEADER " :: binary data length 61\n", out, sizeof out));
    cr_assert_str_eq(out, HEADER " :: binary data length 61");
    cr_assert_not(gw_log_redact("<<bf6563726564739fbf64>>\n", out, sizeof out), "the hex");
    cr_assert_not(gw_log_redact("<<. e c r e d s . >>\n", out, sizeof out), "the characters");
    cr_assert_not(gw_log_redact("  <<0011>>", out, sizeof out));
}

Test(gw_log, a_text_payload_is_withheld)
{
    char out[256];
    cr_assert(gw_log_redact(HEADER " :: '{\"pin\":\"12345678\"}'\n", out, sizeof out));
    cr_assert_str_eq(out, HEADER " :: payload withheld");
    cr_assert(gw_log_redact(HEADER " :: data length 9 (data suppressed)\n", out, sizeof out));
    cr_assert_str_eq(out, HEADER " :: payload withheld");
}

Test(gw_log, other_lines_pass_and_blank_ones_are_dropped)
{
    char out[256];
    cr_assert(gw_log_redact("***[::1]:5684 <-> [::1]:40002 DTLS: session connected\n", out,
                            sizeof out));
    cr_assert_str_eq(out, "***[::1]:5684 <-> [::1]:40002 DTLS: session connected");
    cr_assert(gw_log_redact(HEADER "\n", out, sizeof out));
    cr_assert_str_eq(out, HEADER);
    cr_assert_not(gw_log_redact("\n", out, sizeof out));
    cr_assert_not(gw_log_redact(" :: 00112233", out, sizeof out));
}
