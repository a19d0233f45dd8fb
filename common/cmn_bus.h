/* cmn_bus.h — ZeroMQ links with CURVE on every socket: ROUTER servers, DEALER
 * clients, one packed protobuf message per frame, replies matched by corr_id */
#ifndef CMN_BUS_H
#define CMN_BUS_H

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "cmn_err.h"

/* Key layout made by `obtctl keys --dir DIR` (and cmn_bus_keys_create):
 *   DIR/public/<name>.cert         public certificate of each party (0644)
 *   DIR/secret/<name>.cert_secret  its secret certificate (0600)
 * A daemon loads its own secret certificate and accepts any client whose public
 * certificate is in DIR/public. A client loads its own secret certificate and the
 * server's public one. No socket is ever created without CURVE.
 *
 * Who is calling comes from the connection, never from a message: the ROUTER learns
 * the client's CURVE public key from the handshake (ZAP User-Id) and finds which file
 * of DIR/public holds it. The file's name is the caller's name; the part before the
 * first '-' is its party: "dots", "dots-2" (a second instance) are DOTS, "obtctl",
 * "obtctl-alice" the operator. docs/security.md lists what each party may call. */

/* The parties, as bits so that a dispatch row lists the parties it allows. */
typedef enum {
    CMN_PARTY_NONE = 0,
    CMN_PARTY_GATEWAY = 1u << 0,
    CMN_PARTY_DOTS = 1u << 1,
    CMN_PARTY_CMS = 1u << 2,
    CMN_PARTY_AMS = 1u << 3,
    CMN_PARTY_OPERATOR = 1u << 4, /* obtctl */
} cmn_party_t;
#define CMN_PARTY_SERVICES (CMN_PARTY_DOTS | CMN_PARTY_CMS | CMN_PARTY_AMS)
#define CMN_PARTY_ANY      (CMN_PARTY_GATEWAY | CMN_PARTY_SERVICES | CMN_PARTY_OPERATOR)

#define CMN_CALLER_NAME_MAX 64
/* An authenticated caller. */
typedef struct {
    cmn_party_t party;              /* CMN_PARTY_NONE: a key whose file name names no party */
    char name[CMN_CALLER_NAME_MAX]; /* its key's name: "dots", "cms-2", "obtctl" */
} cmn_caller_t;

/* The party a key name stands for ("dots-2" -> CMN_PARTY_DOTS), CMN_PARTY_NONE if none. */
cmn_party_t cmn_party_of_name(const char *name);
/* "gateway", "dots", "cms", "ams", "operator"; "unknown" for anything else. */
const char *cmn_party_name(cmn_party_t party);
/* Writes "dots, cms" for a set of parties into out ("nobody" for none). */
void cmn_party_list(unsigned parties, char *out, size_t len);

/* protobuf-c string fields are `char *`; messages we build only borrow constant
 * strings, which this makes explicit without a qualifier-dropping cast. */
#define CMN_PB_STR(s) ((char *) (uintptr_t) (s))

/* The key names `obtctl keys` creates: "gateway", "dots", "cms", "ams", "obtctl". */
extern const char *const CMN_BUS_PARTIES[];
extern const size_t CMN_BUS_PARTY_COUNT;

/* Creates key pairs for every party in dir (public/ and secret/). Existing keys are
 * kept unless force. Returns CMN_EEXIST if keys exist and !force. */
cmn_err_t cmn_bus_keys_create(const char *dir, bool force);
/* A key name a second key of a party may take: PARTY-SUFFIX, the suffix of 1 to 31
 * letters, digits, '.', '_', '-' ("gateway-gw-b", "dots-2", "obtctl-alice"). */
bool cmn_bus_key_name_ok(const char *name);
/* One more key pair, name (cmn_bus_key_name_ok), in dir made by cmn_bus_keys_create:
 * CMN_EINVAL for a bad name, CMN_ENOTFOUND without dir/secret, CMN_EEXIST if it exists
 * and !force. */
cmn_err_t cmn_bus_key_add(const char *dir, const char *name, bool force);
/* True if dir/public/<name>.cert exists. */
bool cmn_bus_key_exists(const char *dir, const char *name);

typedef struct cmn_bus_server cmn_bus_server_t;
typedef struct cmn_bus_client cmn_bus_client_t;

/* Binds a ROUTER at endpoint ("tcp://127.0.0.1:7001", "ipc:///tmp/x/dots.sock"; or
 * a list, cmn_zep.h: the first endpoint of it that is free, "tcp://127.0.0.1:7420-7427")
 * as CURVE server `name` with keys from keys_dir, and starts zauth allowing the
 * certificates in keys_dir/public. NULL on failure (*ret_err says why: CMN_ENOTFOUND
 * for a missing key file, CMN_EIO for a bind failure: none of the list was free). */
cmn_bus_server_t *cmn_bus_server_new(const char *endpoint,
                                     const char *keys_dir,
                                     const char *name,
                                     cmn_err_t *ret_err);
void cmn_bus_server_destroy(cmn_bus_server_t **self_p);
/* The endpoint bound (one of the list given). Borrowed. */
const char *cmn_bus_server_endpoint(const cmn_bus_server_t *self);
/* The socket, for a zpoller. Borrowed. */
zsock_t *cmn_bus_server_sock(cmn_bus_server_t *self);

/* Receives one request without blocking. *ret_peer is the routing id (owned,
 * zframe_destroy it); *ret_caller who sent it (from the CURVE key of the
 * connection); *ret_data is malloc'd (free it with cmn_bus_free: it may hold a
 * secret). The received frame is wiped. CMN_ENOTFOUND when nothing waits;
 * CMN_EPROTO for a message that is not [id][payload]. */
cmn_err_t cmn_bus_server_recv(cmn_bus_server_t *self,
                              zframe_t **ret_peer,
                              cmn_caller_t *ret_caller,
                              uint8_t **ret_data,
                              size_t *ret_len);
/* Wipes and frees a buffer received from the bus (NULL is fine). */
void cmn_bus_free(uint8_t *data, size_t len);
/* Packs msg and sends it to peer (borrowed). Every buffer a packed message passes
 * through on its way out is wiped when ZeroMQ is done with it. */
cmn_err_t
cmn_bus_server_send_pb(cmn_bus_server_t *self, zframe_t *peer, const ProtobufCMessage *msg);

/* Connects a DEALER to endpoint as CURVE client `name` toward server
 * `server_name`, keys from keys_dir. NULL on failure. endpoint may list several
 * instances of the server, "EP,EP,...": the DEALER connects to each and ZeroMQ sends
 * each request to the next connected one (ZMQ_IMMEDIATE: none waits for one that is
 * away); the replies come back on the same socket (calls match them by corr_id). */
cmn_bus_client_t *cmn_bus_client_new(const char *endpoint,
                                     const char *keys_dir,
                                     const char *name,
                                     const char *server_name,
                                     cmn_err_t *ret_err);
/* The same, with ZMQ_IMMEDIATE even for one endpoint: a send fails with EAGAIN (poll
 * for ZMQ_POLLOUT) until the connection and its handshake are done, so a caller can
 * tell an endpoint nobody serves (obtctl toward several DOTS instances). */
cmn_bus_client_t *cmn_bus_client_new_immediate(const char *endpoint,
                                               const char *keys_dir,
                                               const char *name,
                                               const char *server_name,
                                               cmn_err_t *ret_err);
void cmn_bus_client_destroy(cmn_bus_client_t **self_p);
zsock_t *cmn_bus_client_sock(cmn_bus_client_t *self);

/* Packs and sends msg (non-blocking; CMN_EIO if the queue is full). */
cmn_err_t cmn_bus_client_send_pb(cmn_bus_client_t *self, const ProtobufCMessage *msg);
/* Receives one reply without blocking (CMN_ENOTFOUND when none). *ret_data malloc'd
 * (cmn_bus_free); the received frame is wiped. */
cmn_err_t cmn_bus_client_recv(cmn_bus_client_t *self, uint8_t **ret_data, size_t *ret_len);

/* Synchronous call for command-line tools: sends msg and waits up to timeout_ms
 * for the reply with the same corr_id (others are dropped). CMN_ETIMEDOUT if none. */
cmn_err_t cmn_bus_client_call(cmn_bus_client_t *self,
                              const ProtobufCMessage *msg,
                              uint64_t corr_id,
                              int timeout_ms,
                              uint8_t **ret_data,
                              size_t *ret_len);

/* The check of every dispatch row: CMN_OK if caller's party is in parties; else
 * CMN_EPERM, error says who may send request, and a warning names the caller.
 * daemon ("obt-gateway") and request ("derive_owner_psk") are for the text. */
cmn_err_t cmn_bus_allow(const char *daemon,
                        const char *request,
                        unsigned parties,
                        const cmn_caller_t *caller,
                        char *error,
                        size_t error_len);

/* A process-unique, increasing correlation id (never 0). */
uint64_t cmn_bus_next_corr_id(void);

/* Reads field 1 (corr_id, varint) of a packed Request/Reply without unpacking it;
 * 0 if absent or malformed. */
uint64_t cmn_bus_peek_corr_id(const uint8_t *data, size_t len);

/* ---- hold: persist before act (cmn_commit.h) ----
 * While the bus is held, every message this process sends through a server, a client,
 * a pending call or a PUB is packed and queued instead of sent; cmn_bus_release sends
 * them in order (is_sent true: the writes they follow are durable) or drops them,
 * wiping each buffer (false: the writes were lost). A send that fails at release
 * (a full queue) is dropped as a non-blocking send would be: the call's deadline
 * expires. One hold per process (daemons are single-threaded). */
void cmn_bus_hold(void);
bool cmn_bus_is_held(void);
/* Ends the hold; returns how many messages were sent. */
size_t cmn_bus_release(bool is_sent);

/* ---- pending calls: asynchronous request/reply over one client ---- */

typedef struct cmn_calls cmn_calls_t;

/* Called exactly once per call: with err=CMN_OK and the packed reply (valid only
 * during the call), or err=CMN_ETIMEDOUT / CMN_EIO and data=NULL. */
typedef void(cmn_call_fn)(void *arg, cmn_err_t err, const uint8_t *data, size_t len);

/* Tracks calls made over client (borrowed; must outlive the table). */
cmn_calls_t *cmn_calls_new(cmn_bus_client_t *client);
/* Fails every pending call with CMN_EIO (callbacks run), then frees. */
void cmn_calls_destroy(cmn_calls_t **self_p);

/* Sends msg (whose corr_id field must equal corr_id) and registers fn.
 * CMN_EINVAL for corr_id 0 (nothing is sent). */
cmn_err_t cmn_calls_send(cmn_calls_t *self,
                         const ProtobufCMessage *msg,
                         uint64_t corr_id,
                         uint32_t timeout_ms,
                         cmn_call_fn *fn,
                         void *arg);
/* Receives every waiting reply and dispatches it; unknown corr_ids are dropped. */
void cmn_calls_on_readable(cmn_calls_t *self);
/* Fails calls whose deadline passed; returns ms until the next deadline (-1 none),
 * at most INT_MAX. */
int cmn_calls_expire(cmn_calls_t *self);
size_t cmn_calls_pending(const cmn_calls_t *self);
/* The client the calls go through (borrowed), for a poller. */
cmn_bus_client_t *cmn_calls_client(cmn_calls_t *self);

/* ---- events: one PUB per daemon, SUB clients ----
 * A daemon publishes [topic][one packed protobuf message] on an XPUB bound as CURVE
 * server (zauth allows only DIR/public, as for the ROUTER). It confirms every
 * subscription by publishing [the subscribed prefix][an empty frame]: a subscriber
 * that has received the confirmation of its prefix knows that no later event under it
 * can be missed (ZeroMQ's slow joiner). Empty frames are never events. */

typedef struct cmn_bus_pub cmn_bus_pub_t;
typedef struct cmn_bus_sub cmn_bus_sub_t;

/* The events endpoint that goes with a ROUTER endpoint: tcp://H:P -> tcp://H:(P+10),
 * ipc://PATH and inproc://NAME -> the same + ".events". CMN_EINVAL for anything else
 * or a port above 65525, CMN_ENOSPC if ret_ep (len bytes) is too small. */
cmn_err_t cmn_bus_pub_endpoint(const char *router_ep, char *ret_ep, size_t len);

/* Binds the PUB at endpoint as CURVE server `name` (keys as cmn_bus_server_new; the
 * zauth actor is shared with the process's other servers, which must use the same
 * keys_dir: else CMN_EINVAL). NULL on failure, *ret_err says why. */
cmn_bus_pub_t *
cmn_bus_pub_new(const char *endpoint, const char *keys_dir, const char *name, cmn_err_t *ret_err);
void cmn_bus_pub_destroy(cmn_bus_pub_t **self_p);
/* The socket, for a poller: readable when subscriptions wait to be confirmed. */
zsock_t *cmn_bus_pub_sock(cmn_bus_pub_t *self);
/* Publishes [topic][packed msg] without blocking (a subscriber whose queue is full
 * misses it; seq numbers in the messages let it notice). */
cmn_err_t cmn_bus_pub_send(cmn_bus_pub_t *self, const char *topic, const ProtobufCMessage *msg);
/* Confirms every subscription that has arrived. Call it when the socket is readable. */
void cmn_bus_pub_on_readable(cmn_bus_pub_t *self);

/* Connects a SUB to endpoint as CURVE client `name` toward server `server_name`,
 * keys from keys_dir. Subscribed to nothing yet. NULL on failure. */
cmn_bus_sub_t *cmn_bus_sub_new(const char *endpoint,
                               const char *keys_dir,
                               const char *name,
                               const char *server_name,
                               cmn_err_t *ret_err);
void cmn_bus_sub_destroy(cmn_bus_sub_t **self_p);
zsock_t *cmn_bus_sub_sock(cmn_bus_sub_t *self);
/* Subscribes to topics starting with prefix (at most 64 prefixes: CMN_ENOSPC). */
cmn_err_t cmn_bus_sub_subscribe(cmn_bus_sub_t *self, const char *prefix);
/* True once the publisher has confirmed every subscription (see above). */
bool cmn_bus_sub_is_live(const cmn_bus_sub_t *self);
/* Receives one message without blocking, consuming confirmations on the way.
 * *ret_topic and *ret_data are malloc'd. CMN_ENOTFOUND when none waits; CMN_EPROTO
 * for a message that is not [topic][body]. */
cmn_err_t
cmn_bus_sub_recv(cmn_bus_sub_t *self, char **ret_topic, uint8_t **ret_data, size_t *ret_len);

#endif
