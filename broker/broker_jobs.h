/*
 * broker_jobs.h - the calls the broker holds: queued or at a worker.
 *
 * Every call forwarded to workers becomes a job with a broker-unique job_id.
 * A job is either queued (waiting for worker credit, bounded by the caller)
 * or assigned to a worker. The wait queue is fair between clients: each
 * client (job->flow) has its own FIFO, and broker_jobs_pop takes from them
 * in turn (broker_fairq.h). Jobs live in stable slots (chunks never move),
 * so pointers stay valid until broker_jobs_free; lookups by job_id are O(1)
 * and reject stale ids.
 *
 * Ownership: a job's client routing id and body are copies in bytes its
 * slot owns and keeps when the slot is reused, up to 1 KiB (no heap
 * allocation per call once a slot's bytes have grown to a call's size;
 * a bigger call's bytes go back to the heap when its job ends): job->client and
 * job->body view them until broker_jobs_free, and the bytes go with
 * broker_jobs_destroy.
 * Threading: used only by the broker's loop thread.
 */
#ifndef BROKER_JOBS_H
#define BROKER_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "broker_fairq.h"
#include "broker_workers.h"
#include "tix_codec.h"
#include "tix_curve.h"

typedef struct broker_jobs broker_jobs_t;

typedef struct broker_job broker_job_t;

/* Takes the answer to an internal job (one the broker itself asked, with no
 * client), and the job: it frees it (broker_jobs_free). Called on the way
 * out (broker_reply.h), wherever the answer comes from: a worker, a
 * deadline, a lost worker, shutdown. */
typedef void(broker_job_done_fn)(broker_job_t *job, tix_code code, const void *body, size_t body_size, void *arg);

struct broker_job {
    uint64_t job_id;             /* 0 while the slot is free */
    tix_frame_t client;          /* client routing id (in bytes); data NULL for an internal job */
    broker_job_done_fn *on_done; /* an internal job's completion hook */
    void *on_done_arg;           /* passed to on_done */
    tix_frame_t body;            /* request body as received (in bytes) */
    uint8_t *bytes;              /* the slot's: client then body; kept across reuse */
    size_t bytes_cap;            /* its size */
    const tix_method_t *method;
    uint64_t call_id;                         /* the client's, echoed in the reply */
    int64_t deadline_ms;                      /* monotonic; work not started by then is not started */
    broker_worker_t *worker;                  /* assigned worker, or NULL while queued */
    uint32_t dispatches;                      /* times sent to a worker */
    char client_key[TIX_CURVE_KEY_SHOWN + 1]; /* first chars of the client's CURVE key (Job.client), or "" */
    uint64_t flow;                            /* whose queue it waits in (broker_fairq_key); 0 = the broker's */
    uint32_t prev, next;                      /* links in its flow's queue (slot numbers) */
    int64_t received_ns;                      /* when its call came in (tix_metrics_now_ns); 0 for internal jobs */
    bool queued;
};

broker_jobs_t *broker_jobs_new(void);
/* Frees every job (and its frames) and the table. NULL-safe; sets *self NULL. */
void broker_jobs_destroy(broker_jobs_t **self);

/* A new, zeroed job with a fresh job_id; neither queued nor assigned. */
broker_job_t *broker_jobs_alloc(broker_jobs_t *self);
/* Copies a client's call into job's bytes: its routing id and its body. */
void broker_jobs_set_call(broker_job_t *job, const tix_frame_t *client, const tix_frame_t *body);
/* Packs m into job's bytes as the body of an internal job (no client). */
void broker_jobs_set_internal(broker_job_t *job, const ProtobufCMessage *m);
/* The live job with this id, or NULL (unknown, answered, or stale). */
broker_job_t *broker_jobs_find(broker_jobs_t *self, uint64_t job_id);
/* Unqueues the job if needed and frees its slot (its bytes stay for the next). */
void broker_jobs_free(broker_jobs_t *self, broker_job_t *job);

/* The flow key of a client identity (broker_fairq_key). */
uint64_t broker_jobs_flow_key(const broker_jobs_t *self, const void *id, size_t len);
/* The wait queue: push to the back or the front of job->flow's FIFO. */
void broker_jobs_push_back(broker_jobs_t *self, broker_job_t *job);
void broker_jobs_push_front(broker_jobs_t *self, broker_job_t *job);
/* Removes and returns the oldest queued job of the flow whose turn it is
 * (the turn then passes on), or NULL when none is queued. */
broker_job_t *broker_jobs_pop(broker_jobs_t *self);
size_t broker_jobs_queued(const broker_jobs_t *self);
/* Jobs queued in flow's FIFO. */
size_t broker_jobs_queued_of(const broker_jobs_t *self, uint64_t flow);
/* Makes room for one more job of flow in a full queue: when another client
 * flow holds at least two jobs more than flow does, unqueues and returns the
 * newest job of the one holding most (for the caller to refuse); else NULL,
 * and flow already has its share. */
broker_job_t *broker_jobs_steal(broker_jobs_t *self, uint64_t flow);
/* Jobs allocated (queued + assigned). */
size_t broker_jobs_live(const broker_jobs_t *self);

/* Calls fn for every queued job whose deadline is at or before now_ms, after
 * unqueueing it; fn answers and frees it (and may queue or free others).
 * Returns the number expired. */
size_t broker_jobs_expire(broker_jobs_t *self, int64_t now_ms, void (*fn)(broker_job_t *job, void *arg), void *arg);
/* Calls fn for every job queued when it is called (each flow's oldest
 * first); fn returns true when it took the job (answered and freed it),
 * false to leave it queued. Returns the number taken. */
size_t broker_jobs_sweep(broker_jobs_t *self, bool (*fn)(broker_job_t *job, void *arg), void *arg);
/* Calls fn for every job assigned to worker (fn may free or requeue it). */
void broker_jobs_each_of(broker_jobs_t *self, const broker_worker_t *worker, void (*fn)(broker_job_t *job, void *arg),
                         void *arg);

#endif
