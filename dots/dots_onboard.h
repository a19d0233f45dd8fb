/* dots_onboard.h — the DOTS engine: every device's job record and the onboarding
 * state machine (clause 5.3.1 steps 3-12 for Just Works, then hand-over to CMS and
 * AMS), driven by replies from the gateway and the services */
#ifndef DOTS_ONBOARD_H
#define DOTS_ONBOARD_H

#include <stdbool.h>
#include <stddef.h>

#include "cmn_bus.h"
#include "cmn_fsm.h"
#include "cmn_gws.h"
#include "dots_config.h"
#include "dots_events.h"
#include "dots_store.h"

typedef enum {
    JOB_DISCOVERED = 0,
    JOB_APPROVED,
    JOB_QUEUED,
    JOB_GET_DOXM,
    JOB_SET_OXMSEL,
    JOB_DOC_OM,
    JOB_SET_DEVOWNER,
    JOB_SET_DEVICEUUID,
    JOB_SET_DOXM_ROWNER,
    JOB_SET_ACL_ROWNER,
    JOB_SET_PSTAT_ROWNER,
    JOB_DERIVE_PSK,
    JOB_OWNER_CRED,
    JOB_SERVICE_CREDS,
    JOB_SDI,
    JOB_SET_OWNED,
    JOB_SET_RFPRO,
    JOB_CLOSE_DOC,
    JOB_HANDOVER_CMS,
    JOB_HANDOVER_AMS,
    JOB_RFNOP,
    JOB_FAILED,
    /* Appended: state values are persisted in job records. */
    JOB_WAIT_PIN, /* Random PIN selected: waiting for the operator to type the PIN */
    JOB_STATE_COUNT
} dots_job_state_t;

typedef enum {
    EV_APPROVE = 0,  /* operator (or policy) approved */
    EV_ONBOARD,      /* operator asked to onboard */
    EV_START,        /* a slot is free: begin */
    EV_OK,           /* the step's request succeeded */
    EV_ERROR,        /* it failed (reason in the job) */
    EV_TIMEOUT,      /* no answer before the step's deadline */
    EV_DEVICE_ERROR, /* the device answered with an error code or invalid content */
    EV_RESUME,       /* re-enter the recorded step over an owner-PSK session */
    EV_NEED_PIN,     /* the selected OTM waits for the device's PIN (Random PIN) */
    EV_PIN,          /* the operator gave the PIN */
    EV_COUNT
} dots_job_event_t;

extern const char *const DOTS_JOB_STATE_NAMES[JOB_STATE_COUNT];
extern const char *const DOTS_JOB_EVENT_NAMES[EV_COUNT];
/* The job state machine (tests walk it). */
extern const cmn_fsm_t DOTS_JOB_FSM;

typedef struct dots_engine dots_engine_t;

/* Takes the identity and store (borrowed), the events publisher (borrowed, may be
 * NULL: nothing is published), the gateways (borrowed: every request toward a device
 * goes to its record's gateway) and the CMS and AMS clients (borrowed). Loads every record;
 * jobs interrupted before SET_RFPRO are failed (their DOC closed), later ones are
 * resumed. part >= 0 with cfg->parts > 1: this instance serves part `part` of the
 * store's devices (--parts, dots_active_part): only the records of that part are
 * loaded, discovery records only its devices; -1: every device (or --partition). */
dots_engine_t *dots_engine_new(const dots_config_t *cfg,
                               dots_store_t *store,
                               const dots_identity_t *id,
                               dots_events_t *events,
                               cmn_gws_t *gws,
                               cmn_calls_t *cms,
                               cmn_calls_t *ams,
                               int part);
/* Frees the jobs; the jobs' stored states are left as they are (they resume after a
 * restart). Calls still pending in the cmn_calls keep the engine allocated until
 * their callbacks have run (cmn_calls_destroy runs them, after this): those callbacks
 * only free their own context; a pending discovery is answered with CMN_EIO. */
void dots_engine_destroy(dots_engine_t **self_p);

/* Periodic work: service registration, CMS/AMS identity checks, scheduling. */
void dots_engine_tick(dots_engine_t *self);

/* The outcome of one discovery (docs/discovery.md "Limits", "Conflicts"). */
typedef struct {
    unsigned found;            /* unowned devices that answered */
    unsigned added;            /* of which new to DOTS */
    unsigned conflicts;        /* uuids claimed by several sources */
    unsigned dropped;          /* replies (gateway) and devices (DOTS) left out by a limit */
    unsigned other_partition;  /* devices of another DOTS group's part (--partition) */
    const char *const *limits; /* one line per limit hit, borrowed for the call */
    size_t n_limits;
} dots_discover_result_t;

/* res is valid for the call, and only when err is CMN_OK. */
typedef void(dots_discover_fn)(void *arg,
                               cmn_err_t err,
                               const char *error,
                               const dots_discover_result_t *res);
/* What to discover (borrowed strings; empty lists and 0 = the gateway's defaults). */
typedef struct {
    unsigned window_ms; /* per round */
    unsigned rounds;
    char **endpoints; /* unicast coap:// endpoints */
    size_t n_endpoints;
    char **interfaces;
    size_t n_interfaces;
    char **scopes; /* "link", "realm", "site", "ipv4", in order of preference */
    size_t n_scopes;
} dots_discover_opts_t;

/* Asks every gateway to discover at once; fn is called once with the outcome, when all
 * have answered (CMN_OK if one did: a failed gateway is a line of res->limits). Results
 * merge, in --gateway order, into the known devices by UUID: endpoints updated (this
 * discovery's first, then the ones known before), never a second record, never a
 * state change; a new record names the gateway that found it, and a device recorded
 * on one gateway keeps it when another reports it too. */
cmn_err_t dots_engine_discover(dots_engine_t *self,
                               const dots_discover_opts_t *opts,
                               dots_discover_fn *fn,
                               void *arg);

/* Approve / onboard: uuids (current or first) or all. *ret_count receives how many
 * were accepted; reasons for the others go to skipped (caller frees each string and
 * the array). onboard: otm is the operator's OTM policy for these jobs ("rdp,jw",
 * NULL or "" = --otm-policy; CMN_EINVAL if it does not parse, reason in error). A
 * named device that failed before its DOC opened (e.g. a wrong PIN) is queued again. */
cmn_err_t dots_engine_approve(dots_engine_t *self,
                              char **uuids,
                              size_t n,
                              bool all,
                              size_t *ret_count,
                              char ***ret_skipped,
                              size_t *ret_n_skipped);
/* Approves one device whose uuid several sources claimed, keeping only the claim of
 * endpoint (its source or one of its eps; docs/discovery.md "Conflicts"). CMN_ENOTFOUND
 * for an unknown device or an endpoint of no claim, CMN_ESTATE when the device holds
 * no conflict or is not awaiting approval; the reason goes to error. */
cmn_err_t dots_engine_approve_endpoint(
        dots_engine_t *self, const char *uuid, const char *endpoint, char *error, size_t error_len);
cmn_err_t dots_engine_onboard(dots_engine_t *self,
                              char **uuids,
                              size_t n,
                              bool all,
                              const char *otm,
                              char *error,
                              size_t error_len,
                              size_t *ret_count,
                              char ***ret_skipped,
                              size_t *ret_n_skipped);

/* The operator's Random PIN for a job in WAIT_PIN: the job continues with the DOC (the
 * gateway computes the PPSK) at once, or once CMS and AMS are verified after a start. The PIN is
 * kept in memory only until the DOC request is sent, then wiped; never stored or logged.
 * CMN_ENOTFOUND (unknown device), CMN_ESTATE (not waiting for a PIN), CMN_EINVAL (not 8 digits);
 * reason in error. */
cmn_err_t dots_engine_pin(
        dots_engine_t *self, const char *uuid, const char *pin, char *error, size_t error_len);

/* Devices, in discovery order; NULL past the end. Borrowed. */
const dots_dev_t *dots_engine_device(const dots_engine_t *self, size_t idx);
const dots_dev_t *dots_engine_find(const dots_engine_t *self, const char *uuid);
/* --parts: this instance serves part `part` too (dots_active adopted it): its records
 * are loaded and restarted as dots_engine_new does (those interrupted before SET_RFPRO
 * failed and retried by themselves, later ones resumed), and discovery records its
 * devices from now on. CMN_EINVAL without --parts or when it is served already; else
 * the store's error (the records read until then are served). */
cmn_err_t dots_engine_add_part(dots_engine_t *self, int part);

/* --parts: whether nothing of part `part` is under way (every record idle: discovered,
 * approved, RFNOP or FAILED with no retry armed; no reset, repair or Bridge job; no call
 * of the engine in flight), so that it may go to another instance (D103). */
bool dots_engine_part_is_quiet(const dots_engine_t *self, int part);
/* Forgets the records of part `part` (memory only: the store keeps them for the instance
 * that takes the part) and records none of its devices from now on. */
void dots_engine_drop_part(dots_engine_t *self, int part);

/* --parts: the VODs Bridge lists (bridge->vods) are recorded by this instance's
 * discoveries whatever their own part, as devices of the Bridge's part (their records'
 * part_uuid is the Bridge's): a Bridge's VODs follow it (D101). Kept until the engine
 * goes (at most DOTS_MAX_VODS per Bridge). Nothing without --parts. */
void dots_engine_expect_vods(dots_engine_t *self, const dots_dev_t *bridge);

/* Whether device uuid, found or not, is of another DOTS group's part (--partition);
 * why says whose. */
bool dots_engine_other_part(const dots_engine_t *self, const char *uuid, char *why, size_t why_len);
size_t dots_engine_in_flight(const dots_engine_t *self);

/* For the reset/repair jobs (dots_maint.c). The live record of a device, current or
 * first uuid (mutable: the caller persists what it changes), NULL if unknown. */
dots_dev_t *dots_engine_record(dots_engine_t *self, const char *uuid);
/* True while an onboarding job holds the device (a step in flight). */
bool dots_engine_is_busy(const dots_engine_t *self, const char *uuid);
/* Drops a device from memory once its records are deleted. */
void dots_engine_remove(dots_engine_t *self, const char *uuid);
/* Where the first gateway serves DOTS's /oic/d ("" until registered). */
const char *dots_engine_d_endpoint(const dots_engine_t *self);
/* The gateways given to dots_engine_new (borrowed). */
cmn_gws_t *dots_engine_gws(const dots_engine_t *self);
/* The events publisher given to dots_engine_new (maint and bridge jobs publish on it
 * too). Borrowed, may be NULL. */
dots_events_t *dots_engine_events(const dots_engine_t *self);

#endif
