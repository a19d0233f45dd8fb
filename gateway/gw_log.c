/* gw_log.c — libcoap's log into ours, with no payload */
#include "gw_log.h"

#include <coap3/coap.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define PAYLOAD_MARK  " :: "
#define BINARY_LENGTH "binary data length "
#define DUMP_LINE     "<<" /* libcoap 4.3: a binary payload's hex, then its characters */

bool
gw_log_redact(const char *in, char *out, size_t len)
{
    const char *first = in + strspn(in, " \t");
    if (strncmp(first, DUMP_LINE, strlen(DUMP_LINE)) == 0) {
        return false;
    }
    const char *mark = strstr(in, PAYLOAD_MARK);
    size_t keep = mark ? (size_t) (mark - in) : strlen(in);
    while (keep > 0 && (in[keep - 1] == '\n' || in[keep - 1] == '\r')) {
        keep--;
    }
    for (size_t i = 0; i < keep && isspace((unsigned char) in[i]); i++) {
        if (i + 1 == keep) {
            keep = 0; /* blanks only */
        }
    }
    if (keep == 0) {
        return false; /* a payload's hex or text on a line of its own */
    }
    if (mark == NULL) {
        (void) snprintf(out, len, "%.*s", (int) keep, in);
        return true;
    }
    const char *rest = mark + strlen(PAYLOAD_MARK);
    if (strncmp(rest, BINARY_LENGTH, strlen(BINARY_LENGTH)) == 0) {
        size_t digits = strspn(rest + strlen(BINARY_LENGTH), "0123456789");
        (void) snprintf(out, len, "%.*s%s%.*s", (int) keep, in, PAYLOAD_MARK,
                        (int) (strlen(BINARY_LENGTH) + digits), rest);
    } else {
        (void) snprintf(out, len, "%.*s%spayload withheld", (int) keep, in, PAYLOAD_MARK);
    }
    return true;
}

static void
s_coap_log(coap_log_t level, const char *message)
{
    char line[1024];
    (void) level;
    if (gw_log_redact(message, line, sizeof line)) {
        cmn_log_debug("COAP", "%s", line);
    }
}

void
gw_log_coap_init(cmn_log_level_t level)
{
    coap_set_log_handler(s_coap_log);
    coap_set_show_pdu_output(0); /* through s_coap_log, never straight to stdout */
    coap_set_log_level(level == CMN_LOG_DEBUG ? LOG_DEBUG : LOG_WARNING);
}
