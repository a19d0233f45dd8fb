/* sim_svr.h — internal: the resource handlers of a simulated device (sim_svr_*.c),
 * called by sim_device_handle() after the access check. Not used outside devsim. */
#ifndef SIM_SVR_H
#define SIM_SVR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_acl.h"
#include "sim_device.h"

/* CoAP response codes as class*100+detail. */
#define SIM_CODE_CONTENT      205
#define SIM_CODE_CHANGED      204
#define SIM_CODE_DELETED      202
#define SIM_CODE_BAD_REQUEST  400
#define SIM_CODE_UNAUTHORIZED 401
#define SIM_CODE_FORBIDDEN    403
#define SIM_CODE_NOT_FOUND    404
#define SIM_CODE_BAD_METHOD   405
#define SIM_CODE_INTERNAL     500
#define SIM_CODE_DROP_DOC     (-1) /* no answer: close the DTLS session (fault drop-doc) */

/* POST handlers: validate the whole payload first (a rejected POST changes nothing),
 * then apply it to dev. They return the CoAP code (204 on success). */
int sim_svr_post_doxm(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len);
int sim_svr_post_pstat(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len);
int sim_svr_post_cred(sim_device_t *dev, const sim_peer_t *peer, const uint8_t *p, size_t len);
int sim_svr_post_acl2(sim_device_t *dev, const uint8_t *p, size_t len);
int sim_svr_post_sdi(sim_device_t *dev, const uint8_t *p, size_t len);

/* DELETE /oic/sec/acl2?aceid=N (no query: every ACE). */
int sim_svr_delete_acl2(sim_device_t *dev, const char *query);
/* DELETE /oic/sec/cred?credid=N removes that credential (4.04 if unknown, 4.00 for a
 * malformed id or another filter); without a query, every credential but the owner's.
 * 4.03 in RFNOP. Who may ask is checked before (OCF-NOTES 5.3). */
int sim_svr_delete_cred(sim_device_t *dev, const char *query);

/* GET payloads (malloc'd CBOR in *ret). The cred GET never carries private data. */
cmn_err_t sim_svr_get_cred(const sim_device_t *dev, uint8_t **ret, size_t *len);
cmn_err_t sim_svr_get_d(const sim_device_t *dev, uint8_t **ret, size_t *len);
/* A Bridge's oic.r.vodlist: every VOD of the process whose Bridge is dev. */
cmn_err_t sim_svr_get_vodlist(const sim_device_t *dev, uint8_t **ret, size_t *len);

/* /oic/sec/crl (sim_svr_crl.c): GET answers the held CRL (4.04 before any); POST
 * (RFPRO or SRESET only) stores a CRL whose signature verifies with one of the
 * device's CA certificates (trust anchors, or the CA above its identity certificate),
 * whose nextUpdate has not passed and whose number is not lower than the held one's;
 * else 4.00 with the reason logged (SIM-CRL-REFUSED) and nothing changed. */
int sim_svr_get_crl(const sim_device_t *dev, uint8_t **ret, size_t *len);
int sim_svr_post_crl(sim_device_t *dev, const uint8_t *p, size_t len);

/* /oic/sec/roles (sim_svr_roles.c, OCF-NOTES 3.7), served with --certs, to any secured
 * peer: the roles are those of the asking session (peer->asserted). POST {"roles":
 * [entries]} asserts role certificates: each is verified (sim_role_verify) and
 * kept (an identical one again is not added; the device assigns the credid), 2.04;
 * any refused entry refuses the POST (4.00, nothing kept, SIM-ROLE-REFUSED with the
 * reason). GET lists the session's entries; DELETE ?credid=N removes one (4.04 if
 * unknown), no query every one (2.02). */
int sim_svr_roles(const sim_device_t *dev,
                  const sim_peer_t *peer,
                  sim_method_t method,
                  const char *query,
                  const uint8_t *p,
                  size_t len,
                  uint8_t **ret,
                  size_t *ret_len);

/* What dev knows about the resource at path (sim_acl.h); false if dev does not serve it. */
bool sim_device_res_info(const sim_device_t *dev, const char *path, sim_res_info_t *ret);

/* Copies the value of key (matched case-insensitively) in an URI query "k1=v1&k2=v2"
 * into out (cap bytes, NUL terminated). false if the key is absent or the value does not fit. */
bool sim_svr_query_value(const char *query, const char *key, char *out, size_t cap);

#endif
