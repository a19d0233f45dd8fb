/* dots_events.c — job transitions published on DOTS's PUB socket */
#include "dots_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmn_bus.h"
#include "cmn_log.h"
#include "cmn_time.h"
#include "obt/dots.pb-c.h"

struct dots_events {
    cmn_bus_pub_t *pub; /* XPUB, CURVE server */
};

dots_events_t *
dots_events_new(const char *endpoint, const char *keys_dir, cmn_err_t *ret_err)
{
    dots_events_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        *ret_err = CMN_ENOMEM;
        return NULL;
    }
    self->pub = cmn_bus_pub_new(endpoint, keys_dir, "dots", ret_err);
    if (self->pub == NULL) {
        dots_events_destroy(&self);
    }
    return self;
}

void
dots_events_destroy(dots_events_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_bus_pub_destroy(&(*self_p)->pub);
    free(*self_p);
    *self_p = NULL;
}

zsock_t *
dots_events_sock(dots_events_t *self)
{
    return cmn_bus_pub_sock(self->pub);
}

void
dots_events_on_readable(dots_events_t *self)
{
    cmn_bus_pub_on_readable(self->pub);
}

/* One event under "job/<first_uuid>", and under "uuid/<uuid>" when the uuid changed:
 * a subscriber to either uuid of the device gets it once. */
static void
s_publish(dots_events_t *self,
          const dots_dev_t *dev,
          uint64_t seq,
          const char *job,
          const char *from,
          const char *to,
          const char *error)
{
    Obt__Dots__JobEvent ev = OBT__DOTS__JOB_EVENT__INIT;
    char topic[48];
    ev.uuid = CMN_PB_STR(dev->uuid);
    ev.first_uuid = CMN_PB_STR(dev->first_uuid[0] ? dev->first_uuid : dev->uuid);
    ev.job = CMN_PB_STR(job);
    ev.from = CMN_PB_STR(from);
    ev.to = CMN_PB_STR(to);
    ev.error = CMN_PB_STR(error ? error : "");
    ev.time_ms = cmn_time_wall_ms();
    ev.seq = seq;
    (void) snprintf(topic, sizeof topic, "job/%s", ev.first_uuid);
    cmn_err_t err = cmn_bus_pub_send(self->pub, topic, &ev.base);
    if (err == CMN_OK && strcmp(ev.uuid, ev.first_uuid) != 0) {
        (void) snprintf(topic, sizeof topic, "uuid/%s", ev.uuid);
        err = cmn_bus_pub_send(self->pub, topic, &ev.base);
    }
    if (err != CMN_OK) {
        cmn_log_info("DOTS-EVENT", "dev=%s %s %s -> %s not published: %s", dev->uuid, job, from, to,
                     cmn_strerror(err));
    }
}

/* The step an event tells of: which job, from and to which state, its error. */
typedef struct {
    const char *job, *from, *to, *error;
} s_step_t;

/* dots_events_put and its lazy twin: the record through put, then the event. */
static cmn_err_t
s_put_then_publish(dots_events_t *self,
                   dots_store_t *store,
                   dots_dev_t *dev,
                   const dots_secret_t *secret,
                   const char *old_uuid,
                   bool is_lazy,
                   const s_step_t *step)
{
    bool is_transition = strcmp(step->from, step->to) != 0;
    if (is_transition) {
        dev->event_seq++;
    }
    cmn_err_t err = is_lazy ? dots_store_put_lazy(store, dev)
                            : dots_store_put(store, dev, secret, old_uuid);
    if (err != CMN_OK && is_transition) {
        dev->event_seq--;
    }
    if (err == CMN_OK && is_transition && self) {
        s_publish(self, dev, dev->event_seq, step->job, step->from, step->to, step->error);
    }
    return err;
}

cmn_err_t
dots_events_put(dots_events_t *self,
                dots_store_t *store,
                dots_dev_t *dev,
                const dots_secret_t *secret,
                const char *old_uuid,
                const char *job,
                const char *from,
                const char *to,
                const char *error)
{
    const s_step_t step = {job, from, to, error};
    return s_put_then_publish(self, store, dev, secret, old_uuid, false, &step);
}

cmn_err_t
dots_events_put_lazy(dots_events_t *self,
                     dots_store_t *store,
                     dots_dev_t *dev,
                     const char *job,
                     const char *from,
                     const char *to,
                     const char *error)
{
    const s_step_t step = {job, from, to, error};
    return s_put_then_publish(self, store, dev, NULL, NULL, true, &step);
}

void
dots_events_publish_last(dots_events_t *self,
                         const dots_dev_t *dev,
                         const char *job,
                         const char *from,
                         const char *to)
{
    if (self) {
        s_publish(self, dev, dev->event_seq + 1, job, from, to, "");
    }
}
