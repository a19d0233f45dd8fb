/* sim_fault.c — parsing of the --faults SPEC */
#include "sim_fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cmn_err_t
sim_fault_parse(const char *spec, sim_device_t *devs, size_t n)
{
    char *copy = strdup(spec ? spec : "");
    char *save = NULL;
    cmn_err_t err = copy ? CMN_OK : CMN_ENOMEM;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item && err == CMN_OK;
         item = strtok_r(NULL, ",", &save)) {
        char *kind = strchr(item, ':');
        char *end = NULL;
        long idx = strtol(item, &end, 10);
        if (kind == NULL || end != kind || idx < 0 || (size_t) idx >= n) {
            (void) fprintf(stderr, "error: --faults: bad entry \"%s\" (IDX:KIND[:PATH])\n", item);
            err = CMN_EINVAL;
            break;
        }
        kind++;
        char *path = strchr(kind, ':');
        if (path) {
            *path++ = '\0';
        }
        sim_device_t *d = &devs[idx];
        if (strcmp(kind, "bad-cbor") == 0) {
            d->fault = SIM_FAULT_BAD_CBOR;
        } else if (strcmp(kind, "silent") == 0) {
            d->fault = SIM_FAULT_SILENT;
        } else if (strcmp(kind, "error") == 0) {
            d->fault = SIM_FAULT_ERROR;
        } else if (strcmp(kind, "bad-coap") == 0) {
            d->fault = SIM_FAULT_BAD_COAP;
        } else if (strcmp(kind, "bad-hint") == 0) {
            d->fault = SIM_FAULT_BAD_HINT;
        } else if (strcmp(kind, "mute-first") == 0) {
            d->fault = SIM_FAULT_MUTE_FIRST;
        } else {
            (void) fprintf(stderr, "error: --faults: unknown kind \"%s\"\n", kind);
            err = CMN_EINVAL;
            break;
        }
        int w = snprintf(d->fault_path, sizeof d->fault_path, "%s", path ? path : "");
        if (w < 0 || (size_t) w >= sizeof d->fault_path) {
            (void) fprintf(stderr, "error: --faults: path too long (max %zu): \"%s\"\n",
                           sizeof d->fault_path - 1, path);
            err = CMN_EINVAL;
            break;
        }
    }
    free(copy);
    return err;
}
