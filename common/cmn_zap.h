/* cmn_zap.h — the process's ZAP handler for CURVE: allows the public keys of one
 * folder, logs the keys it refuses */
#ifndef CMN_ZAP_H
#define CMN_ZAP_H

#include <czmq.h>

/* A zactor function speaking zauth's command protocol for what cmn_bus uses:
 * zactor_new(cmn_zap_actor, NULL), then "CURVE" DIR (answered by a signal: 0 ok, -1
 * the ZAP endpoint of the process is taken), then "$TERM" (zactor_destroy).
 * It binds inproc://zeromq.zap.01 and answers every ZAP request: 200 with User-Id = the
 * client's public key (Z85) when DIR holds a certificate with that key (DIR is read
 * again when it changes), 400 otherwise. Each refusal is logged at warning level with
 * msgid SEC-ZAP-DENIED, the key, the peer address and DIR (rate-limited: one line a
 * second at most, then how many were not logged), so a client whose key the daemon
 * does not know is visible in the daemon's log, not only as a client timeout. */
void cmn_zap_actor(zsock_t *pipe, void *args);

#endif
