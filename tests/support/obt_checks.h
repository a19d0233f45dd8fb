/* obt_checks.h — shared checks of the integration tests: a device's SVRs (from
 * ocf-devsim --dump) against what the suite says it did */
#ifndef OBT_CHECKS_H
#define OBT_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmn_seal.h"
#include "cmn_svr.h"
#include "obt_support.h"

typedef struct {
    char dots[37], cms[37], ams[37]; /* service UUIDs (obtctl --json health) */
    char sd[37];                     /* the domain UUID */
} obt_ids_t;

/* Reads the services' UUIDs from `obtctl --json health`. 0 on success. */
int obt_ids(const obt_suite_t *s, obt_ids_t *ret);

/* Checks one dumped device (one JSON object) is onboarded as the issue requires:
 * RFNOP, owned, devowneruuid = DOTS, doxm/pstat rowner = DOTS, cred rowner = CMS,
 * acl2 rowner = AMS, no anon-clear/auth-crypt ACE over an SVR, sdi uuid = domain,
 * an owner credential whose key equals the one in DOTS's store (dots_store_dir), and
 * nothing else in cred and acl2 but what DOTS, CMS and AMS placed (and the simulator's
 * factory ACL as AMS leaves it): an attacker's credential or ACE is reported.
 * On failure writes the reason to why and returns false. */
bool obt_check_onboarded(const char *dev_json,
                         const obt_ids_t *ids,
                         const char *dots_store_dir,
                         char *why,
                         size_t why_len);

/* The KEK of a suite's DOTS store: DIR/keys/secret/dots.kek beside DIR/dots-store (the
 * layout of obt_suite_start and the demo), or NULL. Destroy with cmn_seal_destroy. */
cmn_seal_t *obt_dots_kek(const char *dots_store_dir);

/* The owner PSK DOTS stored for device uuid, as hex (33 bytes), or "" if none (the
 * store is opened with obt_dots_kek). */
void obt_dots_owner_psk_hex(const char *dots_store_dir, const char *uuid, char out[33]);

/* Whether a store still holds anything of device uuid (read while the daemon is
 * stopped or running: LMDB readers do not block). DOTS: a device record (current
 * uuid or alias), a secret or an alias; CMS/AMS (cmn_svc): a record or a PSK. */
bool obt_dots_store_has(const char *dots_store_dir, const char *uuid);
bool obt_svc_store_has(const char *svc_store_dir, const char *uuid);

/* `obtctl discover --window-ms 500` (which must report expected unowned devices),
 * then `obtctl approve --all`. 0 on success; otherwise -1 and *ret_out (caller frees,
 * may be NULL) holds what discover printed. */
int obt_discover_approve(const obt_suite_t *s, int expected, char **ret_out);

/* A device of a devsim run, as onboarding left it: its uuid and its coaps:// endpoint. */
typedef struct {
    char uuid[40];
    char coaps[128];
} obt_dev_ep_t;

/* Onboards the n devices of sim (whose folder is dir/devices): obt_discover_approve,
 * then `obtctl onboard --all --wait-s wait_s`, and learns ret[i] of device index i
 * (its deviceuuid from the dump, its coaps:// from sim's DEVICE line). 0, or -1 with
 * what failed in why (the logs are dumped when onboard fails). */
int obt_onboard_devices(const obt_suite_t *s,
                        const obt_proc_t *sim,
                        const char *dir,
                        int n,
                        int wait_s,
                        obt_dev_ep_t *ret,
                        char *why,
                        size_t why_len);

/* Kill -9 inside a job: runs `obtctl args` in a child; when sim stops itself at the
 * daemon's request (a devsim IDX:stop fault), kills daemon which ("cms", "ams", "dots",
 * "gateway") with SIGKILL, resumes sim (SIGCONT), ends the child, starts the daemon
 * again and waits for token in its log. 0, or -1 with the reason in why. */
int obt_kill9_inside(obt_suite_t *s,
                     obt_proc_t *sim,
                     const char *which,
                     const char *const *args,
                     const char *token,
                     int timeout_ms,
                     char *why,
                     size_t why_len);

/* DOTS's record of device uuid (`obtctl --json show UUID`), malloc'd; NULL if show
 * failed. */
char *obt_show(const obt_suite_t *s, const char *uuid);

/* Starts ocf-devsim with count devices in dir/devices (faults may be NULL). */
int obt_devsim_start(obt_proc_t *p, const char *dir, int count, const char *faults);
/* The same with extra ocf-devsim flags (NULL-terminated, at most 8; may be NULL). */
int obt_devsim_start_with(
        obt_proc_t *p, const char *dir, int count, const char *faults, const char *const *extra);

/* The value of key (" uuid=", " coap=") on the DEVICE line of device idx in a
 * running devsim's log, up to the next space. 0 when found and it fits cap. */
int obt_devsim_field(const obt_proc_t *sim, int idx, const char *key, char *out, size_t cap);

/* A UDP socket bound to port 5683 (SO_REUSEADDR, as devsim's) in the IPv4 OCF group
 * 224.0.1.187 on lo: what a rogue responder of a test listens on. -1 on failure. */
int obt_ocf_group_socket(void);

/* True if needle occurs in buf[0..n). */
bool obt_mem_contains(const void *buf, size_t n, const char *needle);

/* The key (32 hex digits) of the credential for subject on a dumped device (one JSON
 * object of ocf-devsim --dump) into hex; false if it has none. */
bool obt_dump_cred_hex(const char *dev_json, const char *subject, char hex[33]);
/* A device as onboarding left it, for a test that talks to it as the services do. */
typedef struct {
    char uuid[40];                               /* its deviceuuid */
    char coap[128];                              /* coap://H:P */
    char coaps[128];                             /* coaps://H:P */
    char dots_key[33], cms_key[33], ams_key[33]; /* the services' PSKs for it (hex) */
} obt_dev_t;

/* Fills dev from dev_json (device idx's object of ocf-devsim --dump), the DEVICE line of
 * the running devsim's log (the endpoints) and the credentials it holds for ids' DOTS,
 * CMS and AMS. 0, or -1 with what is missing in why. */
int obt_dev_learn(const char *dev_json,
                  const obt_proc_t *sim,
                  int idx,
                  const obt_ids_t *ids,
                  obt_dev_t *dev,
                  char *why,
                  size_t why_len);
/* One CoAP request with the obt_coap tool to base (a device's "coaps://H:P" or
 * "coap://H:P") + path: over DTLS PSK as identity id with the 16-byte key key_hex (32
 * hex digits) when id is not NULL, else plain CoAP. What obt_coap printed ("CODE HEX")
 * goes to out (cap bytes). Returns the code as class*100+detail (205, 403), or -1 when
 * no answer came (the handshake failed: an unknown identity or a wrong key). */
int obt_coap_as(const char *base,
                const char *id,
                const char *key_hex,
                const char *method,
                const char *path,
                const uint8_t *payload,
                size_t len,
                char *out,
                size_t cap);
/* One request of obt_coap_cert (payload may be NULL when len is 0). */
typedef struct {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    const char *path;   /* "/light", "/oic/sec/roles?credid=1" */
    const uint8_t *payload;
    size_t len;
} obt_coap_req_t;

/* The n requests, in order, in ONE certificate session (obt_coap --cert) to the device
 * at coaps ("coaps://H:P"): the client presents the chain in cert_path (leaf first)
 * with the private key in key_path, as another device with its identity certificate
 * does. ret_codes[i] gets the code of request i (205, 403), -1 when it got no answer
 * (a failed handshake: all -1). What obt_coap printed goes to out (cap bytes). Returns
 * the number of requests answered. */
int obt_coap_cert(const char *coaps,
                  const char *cert_path,
                  const char *key_path,
                  const obt_coap_req_t *reqs,
                  size_t n,
                  int *ret_codes,
                  char *out,
                  size_t cap);

/* The publicdata (hex, cap bytes) of the first credtype-8 entry of credusage usage
 * ("oic.sec.cred.cert", "oic.sec.cred.rolecert") on a dumped device; false if none. */
bool obt_dump_cert_hex(const char *dev_json, const char *usage, char *hex, size_t cap);

/* A dumped device's identity certificate for a client session as that device: writes
 * its oic.sec.cred.cert chain (leaf first) to chain_path and the path of its private
 * key (its csr-key.pem in its folder) to key_path (cap bytes). 0, or -1 if it has no
 * identity certificate. */
int obt_dev_cert_files(const char *dev_json, const char *chain_path, char *key_path, size_t cap);

/* The cut of a kill -9 test: daemon which ("cms" or "ams") of s is killed (SIGKILL)
 * while sim is stopped at one of its requests (a stop fault), sim goes on (SIGCONT),
 * the daemon starts again and must resume its job (SVC-JOB-RESUME within 20 s) and end
 * it (more than done_before SVC-JOB-DONE lines, the count before the kill, within 30 s).
 * 0, or -1 with what did not happen in why. */
int obt_kill9_resume(
        obt_suite_t *s, const char *which, obt_proc_t *sim, int done_before, char *why, size_t len);

/* How many devices of dir/devices are in RFNOP (`ocf-devsim --dump`); *ret_total (if
 * not NULL) receives how many devices the dump listed (at most max). */
size_t obt_devsim_count_rfnop(const char *dir, size_t max, size_t *ret_total);

/* The ownership transfers one device of `ocf-devsim --dump` (obj) went through over its
 * life in the test (its doxm went from owned=false to owned=true; a reset keeps the
 * count); -1 if obj has no count. */
int obt_devsim_transfers(const char *obj);

/* True if interface iface carries the IPv6 address addr ("fe80::1"): the veth pairs of
 * scripts/netns.sh. */
bool obt_iface_has_addr6(const char *iface, const char *addr);

/* Runs `ocf-devsim --dump` on dir/devices; returns the objects (caller frees each). */
size_t obt_devsim_dump(const char *dir, char **objs, size_t max);
/* POST pstat {dos.s: s} to the device at coaps over DOTS's session (its uuid and hex
 * key): 0, or -1 if the device did not answer 2.04. */
int obt_set_dos(const char *coaps, const char *dots_id, const char *dots_key, int s);
/* What the CMS's pairwise credential does, for a test's client: a PSK credential for
 * subject (key_hex: 32 hex digits) on dev, POSTed over CMS's session (ids->cms) in RFPRO
 * (DOTS's session moves the device there and back to RFNOP). 0, or -1. */
int obt_give_psk_cred(const obt_ids_t *ids,
                      const obt_dev_t *dev,
                      const char *subject,
                      const char *key_hex);

/* POSTs cred (one entry) to the device's /oic/sec/cred over CMS's session in RFPRO
 * (DOTS's session moves it there and back to RFNOP): the POST's code (204, 400), or -1
 * when a step got no answer or pstat was refused. */
int obt_post_cred(const obt_ids_t *ids, const obt_dev_t *dev, const cmn_cred_t *cred);

#endif
