/* dots_maint.h — reset (offboarding) and repair (SRESET) of owned devices: one
 * persisted job per device, next to (not inside) its onboarding job (docs/reset.md) */
#ifndef DOTS_MAINT_H
#define DOTS_MAINT_H

#include <stdbool.h>

#include "cmn_bus.h"
#include "cmn_fsm.h"
#include "dots_config.h"
#include "dots_onboard.h"
#include "dots_store.h"

/* Stored in the device record (dots_dev_t.maint) before each step's request. */
typedef enum {
    MAINT_NONE = 0,      /* no reset or repair */
    MAINT_RESETTING,     /* POST pstat dos.s=0 over the owner-PSK session */
    MAINT_RESET_PROBE,   /* that failed: GET doxm over coap:// (did it reset already?) */
    MAINT_FORGET_CMS,    /* cms ForgetDevice */
    MAINT_FORGET_AMS,    /* ams ForgetDevice, then our records are deleted */
    MAINT_FORGOTTEN,     /* never stored: the records are gone */
    MAINT_RESET_PENDING, /* the device was not reset (error kept); records kept */
    MAINT_SRESET,        /* POST pstat dos.s=4 */
    MAINT_REPAIR_PSTAT,  /* POST pstat rowneruuid = DOTS */
    MAINT_REPAIR_DOXM,   /* POST doxm rowneruuid = DOTS */
    MAINT_REPAIR_CMS,    /* cms RepairDevice */
    MAINT_REPAIR_AMS,    /* ams RepairDevice */
    MAINT_REPAIR_RFPRO,  /* POST pstat dos.s=2 */
    MAINT_REPAIR_RFNOP,  /* POST pstat dos.s=3, then MAINT_NONE */
    MAINT_REPAIR_FAILED, /* a repair step failed (error kept) */
    /* Appended: state values are persisted in records. */
    MAINT_RESET_VODS, /* a Bridge: its VODs are reset first (each its own reset job) */
    MAINT_STATE_COUNT
} dots_maint_state_t;

typedef enum {
    MEV_RESET = 0,  /* operator: reset */
    MEV_FORGET,     /* operator: reset --forget */
    MEV_REPAIR,     /* operator: repair */
    MEV_OK,         /* the step succeeded */
    MEV_FAIL,       /* it failed (reason in the job) */
    MEV_RESUME,     /* send the recorded step again (restart, retry) */
    MEV_RESET_VODS, /* operator: reset of a Bridge that has VODs */
    MEV_COUNT
} dots_maint_event_t;

extern const char *const DOTS_MAINT_STATE_NAMES[MAINT_STATE_COUNT];
extern const char *const DOTS_MAINT_EVENT_NAMES[MEV_COUNT];
extern const cmn_fsm_t DOTS_MAINT_FSM;

typedef struct dots_maint dots_maint_t;

/* Called once when an operator's reset or repair ends: err CMN_OK (dev is the record
 * after a repair, NULL after a reset: the device is forgotten), or the error with a
 * message. Borrowed pointers, valid during the call. */
typedef void(dots_maint_done_fn)(void *arg,
                                 cmn_err_t err,
                                 const char *error,
                                 const dots_dev_t *dev);

/* Borrows everything. Jobs found unfinished in the records are resumed by the first
 * dots_maint_tick(). */
dots_maint_t *dots_maint_new(const dots_config_t *cfg,
                             dots_store_t *store,
                             const dots_identity_t *id,
                             dots_engine_t *engine,
                             cmn_gws_t *gws,
                             cmn_calls_t *cms,
                             cmn_calls_t *ams);
void dots_maint_destroy(dots_maint_t **self_p);

/* Resumes interrupted jobs and retries the CMS/AMS steps that could not be sent. */
void dots_maint_tick(dots_maint_t *self);

/* Starts a reset (forget: skip the device, drop the records) or a repair of uuid
 * (current or first). fn is called when it ends (not when this returns an error).
 * The reset of a Bridge resets its VODs first (a reset job each; those that cannot be
 * reset keep their records, RESET_PENDING), then the Bridge: a Bridge platform resets
 * and disconnects its VODs when the Bridge is reset, so they could not be reached
 * after it (docs/reset.md).
 * CMN_ENOTFOUND: unknown device; CMN_ESTATE: not owned (reset without forget,
 * repair), onboarding or another reset/repair in progress (message in error). */
cmn_err_t dots_maint_reset(dots_maint_t *self,
                           const char *uuid,
                           bool forget,
                           dots_maint_done_fn *fn,
                           void *arg,
                           char *error,
                           size_t error_len);
/* `obtctl forget`: drops the records (DOTS, CMS, AMS: the reset --forget path, which
 * asks the device nothing) of a device that is not owned by this domain any more: one
 * never owned (DISCOVERED, APPROVED, FAILED before the owner credential), or one whose
 * record is superseded (it reset and answers under a new uuid). CMN_ENOTFOUND: unknown;
 * CMN_ESTATE (reason in error): RFNOP or holding our owner credential (reset first),
 * onboarding, reset or repair in progress. */
cmn_err_t dots_maint_forget(dots_maint_t *self,
                            const char *uuid,
                            dots_maint_done_fn *fn,
                            void *arg,
                            char *error,
                            size_t error_len);
cmn_err_t dots_maint_repair(dots_maint_t *self,
                            const char *uuid,
                            dots_maint_done_fn *fn,
                            void *arg,
                            char *error,
                            size_t error_len);

#endif
