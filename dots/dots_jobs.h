/* dots_jobs.h — a table of jobs keyed by a device uuid, and the calls in flight for
 * them: shared by the reset/repair jobs (dots_maint.c) and the bridge jobs
 * (dots_bridge.c). Every job struct starts with a dots_job_head_t.
 *
 * A call's callback may run after the table's owner has stopped (cmn_calls_destroy
 * runs every pending callback after the owner is gone): the table then stays
 * allocated until its last call has returned, and that callback only learns that
 * its job is gone. */
#ifndef DOTS_JOBS_H
#define DOTS_JOBS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char uuid[37]; /* the device record's key */
    uint64_t gen;  /* bumps with every call: a reply to an older call is stale */
} dots_job_head_t;

typedef struct dots_jobs dots_jobs_t;
typedef struct dots_jobs_call dots_jobs_call_t;

dots_jobs_t *dots_jobs_new(void);
/* Frees every job; the table itself is freed now, or by its last call's callback. */
void dots_jobs_destroy(dots_jobs_t **self_p);

size_t dots_jobs_count(const dots_jobs_t *self);
/* Job i (0 .. count-1), in no particular order. */
void *dots_jobs_at(const dots_jobs_t *self, size_t i);
/* The job of uuid, or NULL. */
void *dots_jobs_find(const dots_jobs_t *self, const char *uuid);
/* A new zeroed job of size bytes (a struct that starts with a dots_job_head_t) for
 * uuid, in the table; NULL if out of memory. */
void *dots_jobs_add(dots_jobs_t *self, const char *uuid, size_t size);
/* Takes job out of the table and frees it. */
void dots_jobs_remove(dots_jobs_t *self, void *job);

/* The context of one call made for job (its argument to cmn_calls_send): bumps the
 * job's gen and counts the call. NULL if out of memory. */
dots_jobs_call_t *dots_jobs_call(dots_jobs_t *self, void *job);
/* The call could not be sent: uncounts and frees its context. */
void dots_jobs_call_cancel(dots_jobs_call_t *call);
/* First thing in the call's callback: frees the context and returns the job, or NULL
 * if the job has ended or made a newer call, or if the table was destroyed (it is
 * freed with its last call). */
void *dots_jobs_returned(dots_jobs_call_t *call);

#endif
