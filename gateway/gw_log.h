/* gw_log.h — libcoap's log into ours, with no payload: PDU dumps are cut to their
 * header (method, token, options with the uri, code) and the payload's size */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "cmn_log.h"

/* Routes libcoap's log and its PDU dumps (coap_show_pdu, which would otherwise print
 * to stdout, payload included) through gw_log_redact into cmn_log at debug level.
 * libcoap logs at LOG_DEBUG only when level is CMN_LOG_DEBUG. Call after
 * coap_startup(). */
void gw_log_coap_init(cmn_log_level_t level);

/* One libcoap message as it may be logged: in (a line of libcoap's log or of a PDU
 * dump) is copied to out (len bytes) without anything after " :: " (the payload, as
 * hex or text) except libcoap's "binary data length N"; a withheld payload is shown
 * as " :: payload withheld". Trailing newlines are dropped. Returns false when
 * nothing of the line may be logged: the lines libcoap prints after a binary payload's
 * header ("<<hex>>", "<<characters>>"), blank lines. */
bool gw_log_redact(const char *in, char *out, size_t len);

#endif
