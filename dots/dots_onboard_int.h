/* dots_onboard_int.h — what the engine's files share (not public): the job and
 * engine structures, the counted calls to the gateway and the services, and the three
 * parts of the engine:
 *   dots_onboard.c  job records, the state machine, replies, scheduling, operator API
 *   dots_steps.c    each step's request to the device and the checks of its answers
 *   dots_peers.c    registration of DOTS's /oic/d, the /oic/d checks of CMS and AMS */
#ifndef DOTS_ONBOARD_INT_H
#define DOTS_ONBOARD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_bus.h"
#include "cmn_live.h"
#include "cmn_psk.h"
#include "dots_onboard.h"
#include "dots_otm.h"
#include "dots_partition.h"
#include "dots_store.h"
#include "obt/gateway.pb-c.h"

typedef struct dots_job dots_job_t;

struct dots_job {
    dots_dev_t dev;                /* the record */
    dots_secret_t secret;          /* its secrets (loaded when needed) */
    bool is_secret_dirty;          /* secret changed since it was stored: the next store
                                      writes it (only then: a seal per step is waste) */
    dots_engine_t *eng;            /* back pointer */
    uint64_t gen;                  /* bumps on every send: stale replies are ignored */
    bool is_running;               /* counted in in_flight */
    bool use_psk;                  /* secure steps over the owner-PSK session (resume) */
    bool is_doc_resume;            /* the next resume goes over the DOC, not the PSK */
    bool is_doc_resumed;           /* the step in flight is such a resume (SET_RFPRO: a
                                      refusal then means the device left RFOTM already) */
    bool needs_resume;             /* resume once CMS and AMS are known */
    char old_uuid[37];             /* set for the re-keying store after SET_DEVICEUUID */
    char why[256];                 /* reason of the pending EV_ERROR */
    char pin[CMN_RDP_PIN_LEN + 1]; /* Random PIN, from SubmitPin until the DOC request is sent */
    bool has_pin;                  /* pin given, EV_PIN not raised yet */
    bool is_waiting;               /* held back by a missing peer (dev.error says which) */
    bool is_gw_failure;            /* failed because the gateway itself did not answer */
    int gw_retries;                /* automatic retries after such failures (at most 2) */
    int svc_resends;               /* hand-overs sent again to another instance (D98) */
    uint64_t sent_boot_id;         /* its gateway's boot id when the step was sent */
    uint64_t sent_mono_ms;         /* and the time it was sent (monotonic) */
    bool is_gw_suspect;            /* its gateway left the step unanswered: the heartbeats
                                      say whether it is away (cmn_gw_verdict) */
    uint32_t suspect_ticket;       /* of that verdict */
    int suspect_event;             /* the failure if the gateway is alive (EV_TIMEOUT, ...) */
    char suspect_why[256];         /* and its reason */
    bool is_suspect_own_call;      /* the unanswered call was DOTS's own (not CMS's, AMS's) */
    bool is_gw_cut;                /* its step was cut by its gateway's absence: it waits
                                      for the gateway (is_waiting), then goes on */
    int stored_state;              /* state of the last committed record, -1 = none yet */
};

/* The peers DOTS heartbeats: every gateway (cmn_gws_t), CMS and AMS. */
typedef enum { DOTS_PEER_GW = 0, DOTS_PEER_CMS, DOTS_PEER_AMS, DOTS_PEER_COUNT } dots_peer_t;

typedef struct {
    dots_engine_t *eng;
    dots_peer_t peer;
    cmn_gw_t *gw;    /* DOTS_PEER_GW: which gateway */
    bool has_missed; /* a CMS/AMS with several instances: the last beat went unanswered */
} dots_beat_ctx_t;

struct dots_engine {
    const dots_config_t *cfg;
    dots_store_t *store;
    dots_events_t *events; /* job transitions published (borrowed, may be NULL) */
    bool has_gw_failures;  /* some job failed because its gateway did not answer */
    bool has_gw_suspects;  /* some job waits for its gateway's verdict (is_gw_suspect) */
    dots_identity_t id;
    cmn_gws_t *gws; /* the gateways, their calls and heartbeats (borrowed) */
    cmn_calls_t *cms, *ams;
    dots_otm_policy_t otm_policy; /* --otm-policy */
    dots_partition_t partition;   /* --partition: the devices this DOTS takes */
    bool is_part_of_store;        /* --parts: the store holds other parts' records too:
                                     only this instance's parts' are loaded */
    uint64_t part_mask;           /* --parts: the parts this instance serves (bit K of
                                     partition.g; partition.k is the first) */
    int loading_part;             /* dots_engine_add_part: the part being loaded (-1) */
    zhashx_t *vod_parts;          /* --parts: VOD uuid -> its Bridge's part uuid (owned
                                     strings; dots_engine_expect_vods), or NULL */
    dots_job_t **jobs;
    size_t n_jobs, cap;
    size_t in_flight;
    char cms_uuid[37], ams_uuid[37]; /* their /oic/d is read through the first gateway */
    bool cms_ok, ams_ok;             /* their /oic/d rt and di were checked */
    bool cms_recheck, ams_recheck;   /* checked, to read again (the first gateway restarted) */
    int checks_pending;
    uint64_t next_check_ms;
    cmn_live_t live[DOTS_PEER_COUNT];          /* heartbeats: CMS, AMS (gateways: in gws) */
    dots_beat_ctx_t beat_ctx[DOTS_PEER_COUNT]; /* their calls' contexts (live with the engine) */
    bool is_multi[2]; /* --cms, --ams name several instances ([0] CMS, [1] AMS): D93, D98 */
    dots_beat_ctx_t gw_beat_ctx[CMN_GWS_MAX]; /* the gateways' */
    bool has_waiting;                         /* some job is marked waiting for a peer */
    uint64_t not_ready_since_ms;              /* monotonic; 0 = every peer ready */
    size_t n_calls;                           /* calls in flight: their contexts point here */
    bool is_destroyed; /* freed by the last call's callback (cmn_calls_destroy runs them) */
    struct dots_rediscover *rediscover; /* dots_recover.c's discovery in flight, or NULL */
    /* What spares the tick a walk of every job at every pass (cost linear in N, not
     * N squared: docs/performance.md "10 000 devices"): */
    bool has_attention;       /* some job may have needs_resume or has_pin set */
    size_t queued_from;       /* jobs[0 .. queued_from) hold no QUEUED job */
    uint64_t queued_gen;      /* bumped whenever queued_from goes back to 0 */
    uint64_t recover_scan_ms; /* wall clock of the next walk of dots_recover_tick */
    zhashx_t *by_uuid;        /* dots_index.c: uuid or first_uuid -> job, NULL = walk */
};

/* ------------------------------------------------------------------ dots_index.c */

/* Indexes a job appended to the list under its uuid and first_uuid. */
void dots_index_add(dots_engine_t *self, dots_job_t *job);
/* Indexes the whole list again, in order (made if missing): after a removal or reorder. */
void dots_index_rebuild(dots_engine_t *self);
/* job's uuid changed from old_uuid (SET_DEVICEUUID). */
void dots_index_rekeyed(dots_engine_t *self, dots_job_t *job, const char *old_uuid);
/* The first job in the list whose uuid or first_uuid is uuid, or NULL. */
dots_job_t *dots_index_find(const dots_engine_t *self, const char *uuid);
void dots_index_destroy(dots_engine_t *self);

/* A job entered QUEUED or the job list changed: the next start walk begins at 0. */
void dots_engine_requeue(dots_engine_t *self);
/* A job has needs_resume or has_pin set: the next tick looks at every job. */
void dots_engine_attention(dots_engine_t *self);
/* The job re-enters its state at the next tick (needs_resume, with the attention the
 * tick needs to see it: never set needs_resume alone). */
void dots_job_set_resume(dots_job_t *job);

typedef struct {
    dots_engine_t *eng; /* outlives the job: a callback may run after the jobs are freed */
    dots_job_t *job;
    uint64_t gen;
} dots_call_ctx_t;

/* ------------------------------------------------------------------ dots_onboard.c */

/* The calls to the gateway of job's device (dev.gateway; "" = the first listed), or
 * NULL with why ("its gateway "x" is not in --gateway") when DOTS does not know it. */
cmn_calls_t *dots_job_gw(const dots_job_t *job, char *why, size_t why_len);

/* Sends msg through to with the given timeout and counts the call: the engine stays
 * allocated until the callback of its last call has run. */
cmn_err_t dots_call(dots_engine_t *self,
                    cmn_calls_t *to,
                    const ProtobufCMessage *msg,
                    uint64_t corr_id,
                    uint32_t timeout_ms,
                    cmn_call_fn *fn,
                    void *arg);
/* First thing in every callback of dots_call: false if the engine has been destroyed
 * (it is freed with its last call); the callback then frees only its own context. */
bool dots_call_returned(dots_engine_t *self);
/* A context for a call of job's current step (bumps job->gen); malloc'd, NULL on
 * failure. */
dots_call_ctx_t *dots_call_ctx(dots_job_t *job);
/* Callbacks of a step's call to the gateway, and to CMS or AMS (hand-over). */
void dots_job_on_gw_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len);
void dots_job_on_svc_reply(void *arg, cmn_err_t err, const uint8_t *data, size_t len);

/* Raises event on job (the state machine, then a follow-up EV_ERROR if an action
 * failed), and persists the record (and its secret if with_secret). */
void dots_job_raise(dots_job_t *job, int event);
cmn_err_t dots_job_store(dots_job_t *job, bool with_secret);
/* True if job (FAILED) holds the owner PSK and failed in a step it can re-enter over
 * it (SET_RFPRO and later). */
bool dots_job_can_resume(const dots_job_t *job);
/* Such a job re-enters its failed step over the owner PSK at the next tick. */
void dots_job_resume(dots_job_t *job);
/* The job of a device, current or first uuid; NULL if unknown. */
dots_job_t *dots_engine_job(const dots_engine_t *self, const char *uuid);

/* gw answers with another boot id: the steps of its jobs sent to the instance that
 * died (before the new one started) will not be answered; each is cut now (it goes on
 * as after its gateway came back) rather than at its step deadline. */
void dots_engine_gw_restarted(dots_engine_t *self, cmn_gw_t *gw);

/* ------------------------------------------------------------------ dots_recover.c */

/* Schedules an automatic retry of job (FAILED, approved) in delay_ms, if it has
 * attempts left (--recover-attempts); false (and none scheduled) otherwise. The caller
 * persists the record. */
bool dots_recover_arm(dots_job_t *job, uint32_t delay_ms);
/* The wait before an automatic retry of job: short at first, doubling with each
 * retry that met a device not ready yet (its DOC still open: 4.01), at most
 * --recover-delay-ms. */
uint32_t dots_recover_backoff(const dots_job_t *job);
/* job is a record a discovery just added: the records of the same device under an
 * earlier uuid (same endpoint, or named by a GET that met the new uuid) are marked
 * superseded; if one of them was being recovered, job takes over its approval and is
 * queued (true: the caller does not approve it again). */
bool dots_recover_on_new(dots_engine_t *self, dots_job_t *job);
/* --parts: the records a device that reset may descend from (recovering FAILED ones),
 * gathered once per discovery into *ret (malloc'd, the caller frees; NULL when none).
 * Their count. */
size_t dots_recover_candidates(const dots_engine_t *self, dots_job_t ***ret);
/* The part uuid of the candidate that shares an endpoint with eps (a device that reset
 * answers there under a new uuid: it stays in this instance's part); NULL if none. */
const char *dots_recover_lineage(dots_job_t *const *cands,
                                 size_t n_cands,
                                 const char *const *eps,
                                 size_t n_eps);
/* Starts the retries that are due: a job queued again from GET_DOXM, or a unicast
 * discovery of the endpoints of superseded ones whose new uuid DOTS does not know. */
void dots_recover_tick(dots_engine_t *self);
/* The engine goes: a rediscovery's late answer touches nothing of it. */
void dots_recover_detach(dots_engine_t *self);

/* ------------------------------------------------------------------ dots_steps.c */

/* Sends the request of job's current state (clause 5.3.1 steps 3-12, hand-over).
 * On failure, job->why may say why. */
cmn_err_t dots_step_send(dots_job_t *job);
/* Asks the gateway to close the job's DOC; nobody waits for the answer. */
void dots_step_close_doc(dots_job_t *job);
/* GET_DOXM's answer: the device is the one expected and unowned, and an OTM that
 * both the device and the policy accept is chosen (job->dev.oxmsel). On failure the
 * reason is in job->why. */
cmn_err_t dots_step_check_doxm(dots_job_t *job, const uint8_t *p, size_t len);
/* The reason of a failed gateway request, in why or reply->error (a refused Random
 * PIN handshake is a wrong PIN). */
const char *
dots_step_doc_error(const dots_job_t *job, const Obt__Gw__Reply *reply, char *why, size_t why_len);

/* ------------------------------------------------------------------ dots_peers.c */

/* At most once a second, while anything is missing: registers DOTS's /oic/d with
 * every gateway (the same uuid, name and rt on each), and checks that CMS and AMS answer and that
 * their /oic/d has their rt and di (clause 5.3.1 step 11). */
void dots_peers_check(dots_engine_t *self);
/* CMS (is_cms) or AMS restarted or came back: the hand-overs waiting for its answer are
 * sent again once the peers are ready (the service joins them to the jobs it resumed;
 * the older calls' late replies are stale by their generation). */
void dots_engine_resend_handovers(dots_engine_t *self, bool is_cms);
/* Does --cms (is_cms) or --ams list several instances (EP,EP,...)? */
bool dots_peer_is_multi(const dots_engine_t *self, bool is_cms);

/* Starts the heartbeats (--heartbeat-ms); called once by dots_engine_new. */
void dots_peers_init(dots_engine_t *self);
/* Every --heartbeat-ms, a health request to every gateway, CMS and AMS. A peer that stops
 * answering is no longer ready; one that answers again or restarted is checked again
 * (a gateway: DOTS registers its /oic/d there again; the first gateway: CMS and AMS are
 * checked again, as their /oic/d moved with it). Each change is logged once, at notice. */
void dots_peers_heartbeat(dots_engine_t *self);
/* True if jobs may run: CMS and AMS answer and are checked. Otherwise writes why to why
 * ("waiting for CMS: not answering since 10:01:02 UTC"). Each job also needs its own
 * gateway (cmn_gw_ready). */
bool dots_peers_ready(const dots_engine_t *self, char *why, size_t why_len);

#endif
