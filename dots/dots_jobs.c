/* dots_jobs.c — a table of jobs keyed by a device uuid and their calls in flight */
#include "dots_jobs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dots_jobs {
    dots_job_head_t **items;
    size_t n;
    size_t n_calls;    /* calls in flight: their contexts point here */
    bool is_destroyed; /* freed by the last call's callback */
};

struct dots_jobs_call {
    dots_jobs_t *jobs;
    char uuid[37];
    uint64_t gen;
};

dots_jobs_t *
dots_jobs_new(void)
{
    return calloc(1, sizeof(dots_jobs_t));
}

void
dots_jobs_destroy(dots_jobs_t **self_p)
{
    if (self_p == NULL || *self_p == NULL) {
        return;
    }
    dots_jobs_t *self = *self_p;
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
dots_jobs_count(const dots_jobs_t *self)
{
    return self->n;
}

void *
dots_jobs_at(const dots_jobs_t *self, size_t i)
{
    return i < self->n ? self->items[i] : NULL;
}

void *
dots_jobs_find(const dots_jobs_t *self, const char *uuid)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->items[i]->uuid, uuid) == 0) {
            return self->items[i];
        }
    }
    return NULL;
}

void *
dots_jobs_add(dots_jobs_t *self, const char *uuid, size_t size)
{
    dots_job_head_t **grown = realloc(self->items, (self->n + 1) * sizeof *grown);
    if (grown == NULL) {
        return NULL;
    }
    self->items = grown;
    dots_job_head_t *job = size >= sizeof *job ? calloc(1, size) : NULL;
    if (job == NULL) {
        return NULL;
    }
    (void) snprintf(job->uuid, sizeof job->uuid, "%s", uuid);
    self->items[self->n++] = job;
    return job;
}

void
dots_jobs_remove(dots_jobs_t *self, void *job)
{
    for (size_t i = 0; i < self->n; i++) {
        if (self->items[i] == job) {
            self->items[i] = self->items[--self->n];
            free(job);
            return;
        }
    }
}

dots_jobs_call_t *
dots_jobs_call(dots_jobs_t *self, void *job)
{
    dots_job_head_t *head = job;
    dots_jobs_call_t *c = malloc(sizeof *c);
    if (c) {
        c->jobs = self;
        (void) snprintf(c->uuid, sizeof c->uuid, "%s", head->uuid);
        c->gen = ++head->gen;
        self->n_calls++;
    }
    return c;
}

void
dots_jobs_call_cancel(dots_jobs_call_t *call)
{
    call->jobs->n_calls--;
    free(call);
}

void *
dots_jobs_returned(dots_jobs_call_t *call)
{
    dots_jobs_t *self = call->jobs;
    self->n_calls--;
    dots_job_head_t *job = NULL;
    if (self->is_destroyed) {
        if (self->n_calls == 0) {
            free(self);
        }
    } else {
        job = dots_jobs_find(self, call->uuid);
        job = job && job->gen == call->gen ? job : NULL;
    }
    free(call);
    return job;
}
