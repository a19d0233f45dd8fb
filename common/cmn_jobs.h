/* cmn_jobs.h — a table of jobs keyed by a device uuid, and the calls in flight for
 * them: shared by DOTS's reset/repair and bridge jobs and by the hand-over and repair
 * jobs of CMS and AMS (cmn_svc_job.c). Every job struct starts with a cmn_job_head_t.
 *
 * A call's callback may run after the table's owner has stopped (cmn_calls_destroy
 * runs every pending callback after the owner is gone): the table then stays
 * allocated until its last call has returned, and that callback only learns that
 * its job is gone. */
#ifndef CMN_JOBS_H
#define CMN_JOBS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char uuid[37]; /* the device record's key */
    uint64_t gen;  /* bumps with every call: a reply to an older call is stale */
} cmn_job_head_t;

typedef struct cmn_jobs cmn_jobs_t;
typedef struct cmn_jobs_call cmn_jobs_call_t;

cmn_jobs_t *cmn_jobs_new(void);
/* Frees every job; the table itself is freed now, or by its last call's callback. */
void cmn_jobs_destroy(cmn_jobs_t **self_p);

size_t cmn_jobs_count(const cmn_jobs_t *self);
/* Job i (0 .. count-1), in no particular order. */
void *cmn_jobs_at(const cmn_jobs_t *self, size_t i);
/* The job of uuid, or NULL. */
void *cmn_jobs_find(const cmn_jobs_t *self, const char *uuid);
/* A new zeroed job of size bytes (a struct that starts with a cmn_job_head_t) for
 * uuid, in the table; NULL if out of memory. */
void *cmn_jobs_add(cmn_jobs_t *self, const char *uuid, size_t size);
/* Takes job out of the table and frees it. */
void cmn_jobs_remove(cmn_jobs_t *self, void *job);

/* The context of one call made for job (its argument to cmn_calls_send): bumps the
 * job's gen and counts the call. NULL if out of memory. */
cmn_jobs_call_t *cmn_jobs_call(cmn_jobs_t *self, void *job);
/* The call could not be sent: uncounts and frees its context. */
void cmn_jobs_call_cancel(cmn_jobs_call_t *call);
/* First thing in the call's callback: frees the context and returns the job, or NULL
 * if the job has ended or made a newer call, or if the table was destroyed (it is
 * freed with its last call). */
void *cmn_jobs_returned(cmn_jobs_call_t *call);

#endif
