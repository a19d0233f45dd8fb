/* cmn_jobs.c — a table of jobs keyed by a device uuid and their calls in flight */
#include "cmn_jobs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmn_jobs {
    cmn_job_head_t **items;
    size_t n;
    size_t n_calls;    /* calls in flight: their contexts point here */
    bool is_destroyed; /* freed by the last call's callback */
};

struct cmn_jobs_call {
    cmn_jobs_t *jobs;
    char uuid[37];
    uint64_t gen;
};

cmn_jobs_t *
cmn_jobs_new(void)
{
    return calloc(1, sizeof(cmn_jobs_t));
}

void
cmn_jobs_destroy(cmn_jobs_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    cmn_jobs_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free(self->items[i]);
    }
    free(self->items);
    self->items = NULL;
    self->n = 0;
    if (self->n_calls > 0) {
        self->is_destroyed = true; /* the calls' callbacks still hold it */
    } else {
        free(self);
    }
    *self_p = NULL;
}

size_t
cmn_jobs_count(const cmn_jobs_t *self)
{
    return self->n;
}

void *
cmn_jobs_at(const cmn_jobs_t *self, size_t i)
{
    return i < self->n ? self->items[i] : NULL;
}

void *
cmn_jobs_find(const cmn_jobs_t *self, const char *uuid)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->items[i]->uuid, uuid) == 0) {
            return self->items[i];
        }
    }
    return NULL;
}

void *
cmn_jobs_add(cmn_jobs_t *self, const char *uuid, size_t size)
{
    cmn_job_head_t **grown = realloc(self->items, (self->n + 1) * sizeof *grown);
    if (grown == NULL) {
        return NULL;
    }
    self->items = grown;
    cmn_job_head_t *job = size >= sizeof *job ? calloc(1, size) : NULL;
    if (job == NULL) {
        return NULL;
    }
    (void) snprintf(job->uuid, sizeof job->uuid, "%s", uuid);
    self->items[self->n++] = job;
    return job;
}

void
cmn_jobs_remove(cmn_jobs_t *self, void *job)
{
    for (size_t i = 0; i < self->n; i++) {
        if (self->items[i] == job) {
            self->items[i] = self->items[--self->n];
            free(job);
            return;
        }
    }
}

cmn_jobs_call_t *
cmn_jobs_call(cmn_jobs_t *self, void *job)
{
    cmn_job_head_t *head = job;
    cmn_jobs_call_t *c = malloc(sizeof *c);
    if (c) {
        c->jobs = self;
        (void) snprintf(c->uuid, sizeof c->uuid, "%s", head->uuid);
        c->gen = ++head->gen;
        self->n_calls++;
    }
    return c;
}

void
cmn_jobs_call_cancel(cmn_jobs_call_t *call)
{
    call->jobs->n_calls--;
    free(call);
}

void *
cmn_jobs_returned(cmn_jobs_call_t *call)
{
    cmn_jobs_t *self = call->jobs;
    self->n_calls--;
    cmn_job_head_t *job = NULL;
    if (self->is_destroyed) {
        if (self->n_calls == 0) {
            free(self);
        }
    } else {
        job = cmn_jobs_find(self, call->uuid);
        job = job && job->gen == call->gen ? job : NULL;
    }
    free(call);
    return job;
}
