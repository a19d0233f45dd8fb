/* cmn_err.h — the error codes every module returns, and their names */
#ifndef CMN_ERR_H
#define CMN_ERR_H

/* One error space for the suite (the nng_err model). Foreign codes are mapped
 * once, at the boundary: LMDB in cmn_kv, errno as CMN_ESYS | errno, ZeroMQ -1 as
 * CMN_EIO, libcoap's 1-is-success booleans in the gateway. */
typedef enum {
    CMN_OK = 0,
    CMN_EINVAL,    /* bad argument or malformed input */
    CMN_ENOMEM,    /* allocation failed */
    CMN_ENOTFOUND, /* expected "not found" */
    CMN_EEXIST,    /* already exists */
    CMN_ESTATE,    /* not allowed in the current state */
    CMN_EPROTO,    /* peer sent something we cannot parse or do not know */
    CMN_ETIMEDOUT, /* deadline passed */
    CMN_ENOSPC,    /* store full */
    CMN_ECRYPTO,   /* handshake, key derivation or certificate failure */
    CMN_EIO,       /* transport failure (ZeroMQ, sockets) */
    CMN_ESTORE,    /* LMDB failure other than the above */
    CMN_EDEVICE,   /* the device answered with a CoAP error code */
    CMN_EPERM,     /* the authenticated caller may not make this request */
    CMN_ERR_COUNT,
    CMN_ESYS = 0x10000000 /* | errno */
} cmn_err_t;

/* Returns a static, human-readable description of err (also for CMN_ESYS|errno). */
const char *cmn_strerror(cmn_err_t err);

/* Returns the stable upper-case name of err ("ENOTFOUND"), for logs and JSON. */
const char *cmn_errname(cmn_err_t err);

/* Maps errno to a cmn_err_t (ENOMEM -> CMN_ENOMEM, others -> CMN_ESYS | errno). */
cmn_err_t cmn_err_from_errno(int errnum);

/* obt.Status on the wire (proto/obt/common.proto) and cmn_err_t are one list: codes
 * below CMN_ERR_COUNT have the same number in both (checked at compile time in
 * cmn_status.c, and by a unit test that walks both enums), CMN_ESYS|errno travels as
 * STATUS_ESYS. The only two places that convert between them. */
int cmn_status_from_err(cmn_err_t err);
/* A status from a peer: unknown numbers read as CMN_EPROTO, STATUS_ESYS as CMN_ESYS. */
cmn_err_t cmn_err_from_status(int status);

#endif
