/* cmn_err.c — error names and descriptions */
#include "cmn_err.h"

#include <errno.h>
#include <string.h>

static const struct {
    const char *name;
    const char *text;
} s_errs[CMN_ERR_COUNT] = {
        [CMN_OK] = {"OK", "success"},
        [CMN_EINVAL] = {"EINVAL", "invalid argument or malformed input"},
        [CMN_ENOMEM] = {"ENOMEM", "out of memory"},
        [CMN_ENOTFOUND] = {"ENOTFOUND", "not found"},
        [CMN_EEXIST] = {"EEXIST", "already exists"},
        [CMN_ESTATE] = {"ESTATE", "not allowed in the current state"},
        [CMN_EPROTO] = {"EPROTO", "protocol error: unparsable or unknown message"},
        [CMN_ETIMEDOUT] = {"ETIMEDOUT", "timed out"},
        [CMN_ENOSPC] = {"ENOSPC", "store is full"},
        [CMN_ECRYPTO] = {"ECRYPTO", "cryptographic failure (handshake, key or certificate)"},
        [CMN_EIO] = {"EIO", "transport failure"},
        [CMN_ESTORE] = {"ESTORE", "store failure"},
        [CMN_EDEVICE] = {"EDEVICE", "the device answered with an error code"},
        [CMN_EPERM] = {"EPERM", "not permitted for this caller"},
};

const char *
cmn_strerror(cmn_err_t err)
{
    if (err == CMN_ESYS) {
        return "system error (on the peer)";
    }
    if (err & CMN_ESYS) {
        return strerror((int) (err & ~CMN_ESYS));
    }
    if ((unsigned) err < CMN_ERR_COUNT) {
        return s_errs[err].text;
    }
    return "unknown error";
}

const char *
cmn_errname(cmn_err_t err)
{
    if (err & CMN_ESYS) {
        return "ESYS";
    }
    if ((unsigned) err < CMN_ERR_COUNT) {
        return s_errs[err].name;
    }
    return "EUNKNOWN";
}

cmn_err_t
cmn_err_from_errno(int errnum)
{
    if (errnum == ENOMEM) {
        return CMN_ENOMEM;
    }
    if (errnum == ENOENT) {
        return CMN_ENOTFOUND;
    }
    if (errnum == EEXIST) {
        return CMN_EEXIST;
    }
    if (errnum == ETIMEDOUT) {
        return CMN_ETIMEDOUT;
    }
    return (cmn_err_t) (CMN_ESYS | (unsigned) errnum);
}
