/* cmn_status.c — the one map between cmn_err_t and obt.Status */
#include "cmn_err.h"
#include "obt/common.pb-c.h"

/* One line per code: adding a cmn_err_t without its obt.Status (or the reverse, with
 * the same number) fails here, or in the count check below. */
#define S_SAME(code)                                                                               \
    _Static_assert((int) CMN_##code == (int) OBT__STATUS__STATUS_##code,                           \
                   "cmn_err_t and obt.Status differ for " #code)
S_SAME(OK);
S_SAME(EINVAL);
S_SAME(ENOMEM);
S_SAME(ENOTFOUND);
S_SAME(EEXIST);
S_SAME(ESTATE);
S_SAME(EPROTO);
S_SAME(ETIMEDOUT);
S_SAME(ENOSPC);
S_SAME(ECRYPTO);
S_SAME(EIO);
S_SAME(ESTORE);
S_SAME(EDEVICE);
S_SAME(EPERM);
_Static_assert(CMN_ERR_COUNT == 14,
               "a cmn_err_t was added: give it an S_SAME line and an "
               "obt.Status of the same number");
_Static_assert((int) OBT__STATUS__STATUS_ESYS >= (int) CMN_ERR_COUNT,
               "STATUS_ESYS must not collide with a cmn_err_t");

int
cmn_status_from_err(cmn_err_t err)
{
    if (err & CMN_ESYS) {
        return OBT__STATUS__STATUS_ESYS;
    }
    return (unsigned) err < CMN_ERR_COUNT ? (int) err : OBT__STATUS__STATUS_EIO;
}

cmn_err_t
cmn_err_from_status(int status)
{
    if (status == OBT__STATUS__STATUS_ESYS) {
        return CMN_ESYS;
    }
    return status >= 0 && status < CMN_ERR_COUNT ? (cmn_err_t) status : CMN_EPROTO;
}
