/* sim_dump.h — JSON view of persisted simulated devices (ocf-devsim --dump) */
#ifndef SIM_DUMP_H
#define SIM_DUMP_H

#include <stdio.h>

#include "cmn_err.h"

/* Prints a JSON array with one object per DIR/dev-* folder (docs/internals.md). */
cmn_err_t sim_dump_dir(const char *dir, FILE *out);

#endif
