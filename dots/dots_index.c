/* dots_index.c — the engine's jobs found by uuid without a walk of the list.
 *
 * A lookup answers what a walk of the list in order would: the first job whose uuid
 * or first_uuid is the one asked. Each key (a uuid or a first_uuid) maps to that first
 * job; a job appended cannot come before one already indexed, so it only fills keys
 * still free. What can change which job comes first (a removal, a reorder, a re-keyed
 * record whose old key no longer matches) rebuilds the index: rare, once per event, not
 * once per reply. Without an index (no memory) every lookup walks the list. */
#include <czmq.h>
#include <string.h>

#include "dots_onboard_int.h"

static bool
s_matches(const dots_job_t *job, const char *uuid)
{
    return strcmp(job->dev.uuid, uuid) == 0 || strcmp(job->dev.first_uuid, uuid) == 0;
}

static void
s_put(zhashx_t *index, const char *key, dots_job_t *job)
{
    if (key[0] != '\0') {
        (void) zhashx_insert(index, key, job); /* a key taken stays with the earlier job */
    }
}

void
dots_index_add(dots_engine_t *self, dots_job_t *job)
{
    if (self->by_uuid == NULL) {
        return;
    }
    s_put(self->by_uuid, job->dev.uuid, job);
    s_put(self->by_uuid, job->dev.first_uuid, job);
}

void
dots_index_rebuild(dots_engine_t *self)
{
    if (self->by_uuid == NULL) {
        self->by_uuid = zhashx_new();
    }
    if (self->by_uuid == NULL) {
        return;
    }
    zhashx_purge(self->by_uuid);
    for (size_t i = 0; i < self->n_jobs; i++) {
        dots_index_add(self, self->jobs[i]);
    }
}

void
dots_index_rekeyed(dots_engine_t *self, dots_job_t *job, const char *old_uuid)
{
    if (self->by_uuid == NULL) {
        return;
    }
    bool is_old_stale = zhashx_lookup(self->by_uuid, old_uuid) == job && !s_matches(job, old_uuid);
    dots_job_t *holder = zhashx_lookup(self->by_uuid, job->dev.uuid);
    if (is_old_stale || (holder != NULL && holder != job)) {
        dots_index_rebuild(self); /* which job comes first for these keys: from the list */
    } else {
        s_put(self->by_uuid, job->dev.uuid, job);
    }
}

dots_job_t *
dots_index_find(const dots_engine_t *self, const char *uuid)
{
    if (uuid == NULL) {
        return NULL;
    }
    dots_job_t *job = self->by_uuid ? zhashx_lookup(self->by_uuid, uuid) : NULL;
    if (job != NULL && s_matches(job, uuid)) {
        return job;
    }
    if (self->by_uuid != NULL && job == NULL) {
        return NULL; /* every job is indexed under both its keys */
    }
    for (size_t i = 0; i < self->n_jobs; i++) {
        if (s_matches(self->jobs[i], uuid)) {
            return self->jobs[i];
        }
    }
    return NULL;
}

void
dots_index_destroy(dots_engine_t *self)
{
    zhashx_destroy(&self->by_uuid);
}
