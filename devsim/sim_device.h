/* sim_device.h — one virtual OCF device: its SVRs, state machine and access rules
 * (OCF-NOTES 3 and 5). Transport-free: sim_coap.c feeds it requests. */
#ifndef SIM_DEVICE_H
#define SIM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_psk.h"
#include "cmn_svr.h"

typedef enum { SIM_GET = 1, SIM_POST = 2, SIM_PUT = 3, SIM_DELETE = 4 } sim_method_t;

typedef enum {
    SIM_FAULT_NONE = 0,
    SIM_FAULT_BAD_CBOR,    /* answer requests on path with malformed CBOR */
    SIM_FAULT_SILENT,      /* stop answering once path was requested */
    SIM_FAULT_ERROR,       /* answer 4.00 to POSTs on path */
    SIM_FAULT_BAD_COAP,    /* also send a malformed datagram to multicast requests */
    SIM_FAULT_BAD_HINT,    /* Random PIN: another UUID in the PSK identity hint */
    SIM_FAULT_MUTE_FIRST,  /* ignore the first multicast GET /oic/sec/doxm */
    SIM_FAULT_DROP_DOC,    /* close the DOC (DTLS close_notify) at a request on path */
    SIM_FAULT_STOP_MAINT,  /* SIGSTOP itself once, at a request on path in a maintenance */
    SIM_FAULT_STOP_NTH,    /* SIGSTOP itself once, at the Nth METHOD on path outside the DOC
                              (stop) or over it (stop-doc) */
    SIM_FAULT_ERROR_MAINT, /* answer 4.00 to POSTs on path in a maintenance (RFPRO from RFNOP) */
    SIM_FAULT_REFUSE_DTLS  /* refuse the first N DTLS handshakes out of RFOTM (a stack still
                              dropping its DOC session when the next peer comes) */
} sim_fault_t;

/* A role the peer asserted (/oic/sec/roles, checked against the trust anchors). */
typedef struct {
    char role[64];      /* e.g. "oic.role.owner" */
    char authority[64]; /* "" when none */
} sim_role_t;

/* The roles one DTLS peer asserted (POST /oic/sec/roles): kept with its session and
 * gone with it ([IL]: role entries are bound to the (D)TLS peer session, OCF-NOTES 3.7). */
#define SIM_MAX_ROLES 4
typedef struct {
    sim_role_t roles[SIM_MAX_ROLES]; /* what the ACL evaluator sees (peer->roles) */
    int64_t credids[SIM_MAX_ROLES];  /* the entry's credid (assigned by the device) */
    char *pems[SIM_MAX_ROLES];       /* its role certificate chain (PEM, malloc'd) */
    size_t n;
} sim_roles_t;

/* Frees the certificates of roles and empties it. */
void sim_roles_clear(sim_roles_t *roles);

/* Who is asking. */
typedef struct {
    bool is_secure;          /* over DTLS */
    bool is_doc;             /* over the Device Ownership Connection */
    bool has_peer;           /* peer UUID known (PSK identity) */
    cmn_uuid_t peer;         /* the peer's UUID */
    void *ssl;               /* SSL * of the session (owner-PSK derivation), NULL for coap:// */
    const sim_role_t *roles; /* roles asserted by the peer (borrowed), n_roles of them */
    size_t n_roles;
    sim_roles_t *asserted; /* its session's roles (/oic/sec/roles writes them), NULL = none */
    const void *ff00;      /* cmn_ff00_t * of a Just Works DOC over 0xFF00 (then ssl is NULL) */
} sim_peer_t;

/* Application resources (--rt): bits of sim_device_t.app_rts. */
#define SIM_APP_LIGHT   0x1u /* /light oic.r.switch.binary */
#define SIM_APP_TEMP    0x2u /* /temp oic.r.temperature */
#define SIM_DEFAULT_ICV "ocf.2.5.0"

typedef struct sim_device {
    int idx;                         /* index in the process */
    char dir[512];                   /* its folder */
    cmn_doxm_t doxm;                 /* /oic/sec/doxm */
    cmn_pstat_t pstat;               /* /oic/sec/pstat */
    cmn_creds_t creds;               /* /oic/sec/cred (keys included) */
    cmn_acl_t acl;                   /* /oic/sec/acl2 */
    cmn_sdi_t sdi;                   /* /oic/sec/sdi */
    cmn_uuid_t piid;                 /* /oic/d piid */
    bool light;                      /* /a/light and /light value */
    unsigned app_rts;                /* SIM_APP_* served (--rt) */
    char icv[32];                    /* /oic/d icv (--icv), "" = SIM_DEFAULT_ICV */
    int64_t oxms[CMN_DOXM_MAX_OXMS]; /* factory OTMs */
    size_t n_oxms;
    bool doc_open;                   /* a DOC exists */
    bool has_pin;                    /* Random PIN: a PIN is shown (oxmsel 1 selected) */
    char pin[CMN_RDP_PIN_LEN + 1];   /* that PIN (never persisted) */
    bool is_legacy_hint;             /* Random PIN: hint = UUID only (older releases) */
    int mfg_kind;                    /* certificate OTM: sim_mfg_kind_t of its leaf */
    bool is_mfg_cn_fixed;            /* its CN names a uuid of its own (--mfg-cn-fixed) */
    const struct sim_mfg_ca *mfg_ca; /* certificate OTM: the CA that issues it (borrowed) */
    uint64_t reset_at_ms;            /* monotonic time of a pending reset, 0 = none */
    int reset_delay_ms;              /* delay after a dos.s=0 request */
    int doc_idle_ms;                 /* DOC idle timeout (--doc-idle-ms) */
    uint64_t doc_last_ms;            /* monotonic time of the DOC's last request */
    sim_fault_t fault;               /* injected fault */
    char fault_path[64];             /* its path ("" = every path) */
    bool is_silenced;                /* SIM_FAULT_SILENT triggered */
    bool was_muted;                  /* SIM_FAULT_MUTE_FIRST triggered */
    bool in_maint;                   /* in RFPRO entered from RFNOP (a maintenance) */
    int stop_nth;                    /* SIM_FAULT_STOP_NTH: N */
    sim_method_t stop_method;        /* SIM_FAULT_STOP_NTH: METHOD */
    int stop_seen;                   /* SIM_FAULT_STOP_NTH: such requests so far */
    bool stop_in_doc;                /* SIM_FAULT_STOP_NTH: counts requests over the DOC
                                        (stop-doc), not those outside it (stop) */
    int refuse_left;                 /* SIM_FAULT_REFUSE_DTLS: handshakes still to refuse */
    bool is_stuck_owned;             /* fault owned-rfotm (tests): no reset by itself in RFOTM */
    uint32_t n_transfers;      /* ownership transfers done (doxm owned false -> true in a DOC);
                                  persisted, kept by a reset: over the device's life (tests) */
    char address[200];         /* unicast addresses, comma list (fe80::1%veth0 with its zone) */
    uint16_t udp_port;         /* coap:// port */
    uint16_t dtls_port;        /* coaps:// port */
    void *net;                 /* transport state (sim_coap.c) */
    bool is_bridge;            /* a Bridge: /oic/d rt oic.d.bridge, serves oic.r.vodlist */
    int bridge_idx;            /* a VOD: index of its Bridge (persisted), -1 = not a VOD */
    struct sim_device *bridge; /* a VOD: its Bridge (set by sim_world), NULL otherwise */
    struct sim_device *all;    /* every device of the process (a Bridge lists its VODs) */
    size_t n_all;
    bool has_certs;     /* sct has credtype 8 (--certs) */
    bool has_csr;       /* and /oic/sec/csr (not with --certs IDX:nocsr) */
    bool is_csr_bad_cn; /* its CSR names another uuid (--certs IDX:badcn, tests) */
    bool has_ssm;       /* sct has credtypes 128 and 256 (--ssm) */
    cmn_crl_t crl;      /* /oic/sec/crl (with --certs): der_len 0 = none pushed yet */
    bool is_dirty;      /* state changed since its file was last written (sim_store) */
    void *tls_cache;    /* decoded identity key and chain (sim_csr.c), NULL = none yet */
} sim_device_t;

/* Drops from roles every role whose certificate the CRL dev holds revokes (its leaf's
 * issuer and serial listed): a role stops counting as soon as a CRL revokes it, not
 * only at its next assertion (docs/decisions.md D81). Returns how many it dropped. */
size_t sim_roles_drop_revoked(const sim_device_t *dev, sim_roles_t *roles);

/* The doxm sct of dev: PSK, plus certificates (--certs) and SSM contexts (--ssm). */
uint32_t sim_device_sct(const sim_device_t *dev);

/* Puts dev in its factory state (RFOTM, a fresh random deviceuuid from the DRBG,
 * factory ACL, no creds, empty sdi). Frees previous dynamic state. */
cmn_err_t sim_device_factory_reset(sim_device_t *dev);

/* Frees dynamic state (wiping keys). */
void sim_device_free(sim_device_t *dev);

/* Handles one request. Returns the CoAP response code as class*100+detail (205,
 * 204, 400, ...), 0 for "do not answer", or SIM_CODE_DROP_DOC for "close this DTLS
 * session without answering" (fault drop-doc). *ret_body (malloc'd, may be NULL) is
 * the CBOR payload; *ret_changed tells whether persistent state changed. */
int sim_device_handle(sim_device_t *dev,
                      const sim_peer_t *peer,
                      sim_method_t method,
                      const char *path,
                      const char *query,
                      const uint8_t *payload,
                      size_t len,
                      uint8_t **ret_body,
                      size_t *ret_len,
                      bool *ret_changed);

/* Finds the key of a credtype-1 cred whose subject is uuid (16 bytes). Borrowed. */
const cmn_cred_t *sim_device_find_psk(const sim_device_t *dev, const uint8_t uuid[16]);

/* Called when the DOC closes: in RFOTM the device resets itself (OCF-NOTES 5.2). */
void sim_device_doc_closed(sim_device_t *dev);
/* Drops a DOC idle for longer than doc_idle_ms (the OBT died): the device, still in
 * RFOTM, resets as when the DOC closes. true if it did. */
bool sim_device_doc_expire(sim_device_t *dev, uint64_t now);
/* At start: a device stored in RFOTM that is not pristine (owned, an owner, credentials:
 * an ownership transfer cut short) resets to a fresh unowned state, as [IL] does when
 * the DOC is gone. true if it did. */
bool sim_device_boot_check(sim_device_t *dev);

/* Called when a DOC handshake fails (wrong PIN, refused hint): the device forgets
 * its PIN and stays in RFOTM, same UUID, ready for a new oxmsel POST (new PIN). */
void sim_device_doc_failed(sim_device_t *dev);

/* True if a multicast GET /oic/sec/doxm with this query gets an answer (CR2640):
 * query "owned=FALSE" (key owned/Owned, value any case) or none, only in RFOTM with
 * no DOC; "owned=TRUE" matches owned devices; anything else gets no answer. */
bool sim_device_mcast_doxm_matches(const sim_device_t *dev, const char *query);

/* OCF Bridging: an unowned VOD whose Bridge is unowned is not on the network. It answers
 * nothing (multicast or unicast) until its Bridge is owned (docs/bridges.md). */
bool sim_device_is_hidden(const sim_device_t *dev);

/* Valid dos.s transitions (OCF-NOTES 5.1). */
bool sim_device_transition_allowed(int64_t from, int64_t to);

#define SIM_MAX_ADDRS 4

/* Splits dev->address into out (each with its %zone, if any); returns the count. */
size_t sim_device_addrs(const sim_device_t *dev, char out[][64], size_t max);

/* Formats "coap://ADDR:PORT" / "coaps://..." for one address (brackets for IPv6); the
 * zone is dropped unless with_zone (peers have their own interface names). */
void sim_device_ep(
        const char *addr, bool secure, uint16_t port, bool with_zone, char *out, size_t out_len);

/* The SIM_APP_* bit of application resource type rt, 0 if the simulator has none. */
unsigned sim_device_app_bit(const char *rt);

/* /oic/res payload (filtered by query "rt=..."); malloc'd. eps list every address. */
cmn_err_t sim_device_res(const sim_device_t *dev, const char *query, uint8_t **ret, size_t *len);

#endif
