/* dots_events.h — every transition of a device's jobs (onboarding, bridge, reset and
 * repair), published on DOTS's PUB socket once the record that holds it is committed
 * (obt.dots.JobEvent; docs/internals.md "Events") */
#ifndef DOTS_EVENTS_H
#define DOTS_EVENTS_H

#include <czmq.h>

#include "cmn_err.h"
#include "dots_store.h"

typedef struct dots_events dots_events_t;

/* Binds the PUB at endpoint (CURVE server "dots", clients from keys_dir/public). NULL on
 * failure, *ret_err says why (as cmn_bus_pub_new). */
dots_events_t *dots_events_new(const char *endpoint, const char *keys_dir, cmn_err_t *ret_err);
void dots_events_destroy(dots_events_t **self_p);
/* The socket, for the service's poller; call dots_events_on_readable when readable. */
zsock_t *dots_events_sock(dots_events_t *self);
/* Confirms new subscriptions. */
void dots_events_on_readable(dots_events_t *self);

/* Commits dev with dots_store_put(store, dev, secret, old_uuid) and, when the commit
 * records a transition of job ("onboard", "bridge", "maint") from state name `from`
 * ("" = no record before) to `to` (different names), publishes it after the commit:
 * dev->event_seq is incremented and committed with the record (restored if the commit
 * fails). error goes in the event (the job's error, "" if none). self may be NULL (the
 * seq still moves; nothing is published). What dots_store_put returns. */
cmn_err_t dots_events_put(dots_events_t *self,
                          dots_store_t *store,
                          dots_dev_t *dev,
                          const dots_secret_t *secret,
                          const char *old_uuid,
                          const char *job,
                          const char *from,
                          const char *to,
                          const char *error);

/* The same with dots_store_put_lazy: the event leaves at once, the record is stored
 * with a later commit (a kill -9 may lose it; the seq of a lost record is given
 * again after the restart). For the steps whose record a restart does not need. */
cmn_err_t dots_events_put_lazy(dots_events_t *self,
                               dots_store_t *store,
                               dots_dev_t *dev,
                               const char *job,
                               const char *from,
                               const char *to,
                               const char *error);

/* Publishes a transition that has no record left to commit (the device was forgotten):
 * seq = dev->event_seq + 1. self may be NULL. */
void dots_events_publish_last(dots_events_t *self,
                              const dots_dev_t *dev,
                              const char *job,
                              const char *from,
                              const char *to);

#endif
