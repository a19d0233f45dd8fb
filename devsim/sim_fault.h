/* sim_fault.h — fault injection for tests: the --faults SPEC (docs/internals.md) */
#ifndef SIM_FAULT_H
#define SIM_FAULT_H

#include <stddef.h>

#include "cmn_err.h"
#include "sim_device.h"

/* Parses SPEC, comma-separated IDX:KIND[:PATH] with KIND bad-cbor, silent, error,
 * error-maint, bad-coap, bad-hint, mute-first, drop-doc, damage-acl, refuse-dtls:N, stop:N:M:P,
 * stop-doc:N:M:P,
 * seed-recipientid:HEX or absent
 * (answers nothing at all, from the start), and sets fault/fault_path of devs[IDX] (n devices);
 * IDX:mfg:KIND sets the kind of its manufacturer certificate instead (sim_mfg.h). An empty or NULL
 * spec sets nothing. CMN_EINVAL (with a message on stderr) on a bad entry, an index out of range or
 * a path too long; devs may then be partly set. CMN_ENOMEM. */
cmn_err_t sim_fault_parse(const char *spec, sim_device_t *devs, size_t n);

#endif
