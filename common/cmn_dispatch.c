/* cmn_dispatch.c — one lookup and one parties check for every dispatch table */
#include "cmn_dispatch.h"

#include <stdio.h>

const cmn_dispatch_row_t *
cmn_dispatch_find(const void *rows, size_t n, size_t row_size, int body)
{
    const unsigned char *p = rows;
    for (size_t i = 0; i < n; i++, p += row_size) {
        const cmn_dispatch_row_t *head = (const cmn_dispatch_row_t *) (const void *) p;
        if (head->body == body) {
            return head;
        }
    }
    return NULL;
}

cmn_err_t
cmn_dispatch_check(const char *daemon,
                   const void *rows,
                   size_t n,
                   size_t row_size,
                   int body,
                   const cmn_caller_t *caller,
                   char *error,
                   size_t error_len,
                   const cmn_dispatch_row_t **ret_row)
{
    const cmn_dispatch_row_t *row = cmn_dispatch_find(rows, n, row_size, body);
    if (row == NULL) {
        (void) snprintf(error, error_len, "unknown or missing request body");
        return CMN_EPROTO;
    }
    cmn_err_t err = cmn_bus_allow(daemon, row->name, row->parties, caller, error, error_len);
    if (err == CMN_OK) {
        *ret_row = row;
    }
    return err;
}
