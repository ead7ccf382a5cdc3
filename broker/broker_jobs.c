/*
 * broker_jobs.c - slots in fixed-size chunks (pointers stay stable as the
 * table grows), a free list, and per flow an intrusive doubly-linked FIFO
 * through slot numbers (the flows themselves: broker_fairq.c).
 * job_id = (sequence << 32) | slot, so a stale id never matches a reused
 * slot.
 */
#include "broker_jobs.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "tix_util.h"

#define CHUNK_JOBS 1024
#define NONE UINT32_MAX
/* A slot keeps its bytes for the next call up to this size: a typical
 * call fits many times over, and a flood of big calls (up to
 * --max-message-bytes each) leaves no memory behind in the queue's slots. */
#define BROKER_JOB_BYTES_KEPT 1024

struct broker_jobs {
    broker_job_t **chunks; /* each CHUNK_JOBS slots */
    size_t nchunks;
    uint32_t *free_slots; /* stack of free slot numbers */
    size_t nfree;
    broker_fairq_t *fairq; /* the flows with queued jobs */
    size_t queued;
    size_t live;
    uint32_t sequence; /* upper half of the next job_id */
};

static broker_job_t *
s_slot(broker_jobs_t *self, uint32_t slot)
{
    return &self->chunks[slot / CHUNK_JOBS][slot % CHUNK_JOBS];
}

static uint32_t
s_slot_of(const broker_job_t *job)
{
    return (uint32_t) (job->job_id & 0xffffffffu);
}

static void
s_grow(broker_jobs_t *self)
{
    size_t n = self->nchunks;
    self->chunks = xrealloc(self->chunks, (n + 1) * sizeof *self->chunks);
    self->chunks[n] = xcalloc(CHUNK_JOBS, sizeof(broker_job_t));
    self->nchunks = n + 1;
    self->free_slots = xrealloc(self->free_slots, self->nchunks * CHUNK_JOBS * sizeof(uint32_t));
    /* Push in reverse so that low slots are used first. */
    for (uint32_t i = CHUNK_JOBS; i-- > 0;)
        self->free_slots[self->nfree++] = (uint32_t) (n * CHUNK_JOBS + i);
}

broker_jobs_t *
broker_jobs_new(void)
{
    broker_jobs_t *self = xcalloc(1, sizeof *self);
    self->fairq = broker_fairq_new();
    return self;
}

void
broker_jobs_destroy(broker_jobs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_jobs_t *self = *self_p;
    for (size_t c = 0; c < self->nchunks; c++) {
        for (size_t i = 0; i < CHUNK_JOBS; i++)
            free(self->chunks[c][i].bytes);
        free(self->chunks[c]);
    }
    free(self->chunks);
    free(self->free_slots);
    broker_fairq_destroy(&self->fairq);
    free(self);
    *self_p = NULL;
}

broker_job_t *
broker_jobs_alloc(broker_jobs_t *self)
{
    if (self->nfree == 0)
        s_grow(self);
    uint32_t slot = self->free_slots[--self->nfree];
    broker_job_t *job = s_slot(self, slot);
    uint8_t *bytes = job->bytes; /* the slot keeps them (broker_jobs.h) */
    size_t cap = job->bytes_cap;
    memset(job, 0, sizeof *job);
    job->bytes = bytes;
    job->bytes_cap = cap;
    if (++self->sequence == 0)
        self->sequence = 1; /* keep job_id != 0 */
    job->job_id = ((uint64_t) self->sequence << 32) | slot;
    job->prev = job->next = NONE;
    self->live++;
    return job;
}

/* job's bytes, grown to hold size. */
static uint8_t *
s_bytes(broker_job_t *job, size_t size)
{
    if (size > job->bytes_cap) {
        job->bytes = xrealloc(job->bytes, size);
        job->bytes_cap = size;
    }
    return job->bytes;
}

void
broker_jobs_set_call(broker_job_t *job, const tix_frame_t *client, const tix_frame_t *body)
{
    uint8_t *b = s_bytes(job, client->size + body->size + 1); /* + 1: a client's data is never NULL */
    memcpy(b, client->data, client->size);
    if (body->size)
        memcpy(b + client->size, body->data, body->size);
    job->client = (tix_frame_t){b, client->size};
    job->body = (tix_frame_t){b + client->size, body->size};
}

void
broker_jobs_set_internal(broker_job_t *job, const ProtobufCMessage *m)
{
    size_t size = protobuf_c_message_get_packed_size(m);
    uint8_t *b = s_bytes(job, size + 1);
    job->client = (tix_frame_t){NULL, 0};
    job->body = (tix_frame_t){b, protobuf_c_message_pack(m, b)};
}

broker_job_t *
broker_jobs_find(broker_jobs_t *self, uint64_t job_id)
{
    uint32_t slot = (uint32_t) (job_id & 0xffffffffu);
    if (job_id == 0 || slot / CHUNK_JOBS >= self->nchunks)
        return NULL;
    broker_job_t *job = s_slot(self, slot);
    return job->job_id == job_id ? job : NULL;
}

static void
s_unlink(broker_jobs_t *self, broker_job_t *job)
{
    if (!job->queued)
        return;
    broker_flow_t *flow = broker_fairq_find(self->fairq, job->flow);
    if (job->prev != NONE)
        s_slot(self, job->prev)->next = job->next;
    else
        flow->head = job->next;
    if (job->next != NONE)
        s_slot(self, job->next)->prev = job->prev;
    else
        flow->tail = job->prev;
    job->prev = job->next = NONE;
    job->queued = false;
    self->queued--;
    if (--flow->queued == 0)
        broker_fairq_drop(self->fairq, flow);
}

void
broker_jobs_free(broker_jobs_t *self, broker_job_t *job)
{
    assert(job->job_id != 0);
    s_unlink(self, job);
    job->client = job->body = (tix_frame_t){NULL, 0};
    if (job->bytes_cap > BROKER_JOB_BYTES_KEPT) { /* a big call's bytes are not kept */
        free(job->bytes);
        job->bytes = NULL;
        job->bytes_cap = 0;
    }
    uint32_t slot = s_slot_of(job);
    job->job_id = 0;
    job->worker = NULL;
    self->free_slots[self->nfree++] = slot;
    self->live--;
}

uint64_t
broker_jobs_flow_key(const broker_jobs_t *self, const void *id, size_t len)
{
    return broker_fairq_key(self->fairq, id, len);
}

/* job's flow, made when it has none (with an empty FIFO). */
static broker_flow_t *
s_flow_of(broker_jobs_t *self, broker_job_t *job)
{
    broker_flow_t *flow = broker_fairq_flow(self->fairq, job->flow);
    if (flow->queued == 0)
        flow->head = flow->tail = NONE;
    flow->queued++;
    job->queued = true;
    self->queued++;
    return flow;
}

void
broker_jobs_push_back(broker_jobs_t *self, broker_job_t *job)
{
    assert(!job->queued && !job->worker);
    uint32_t slot = s_slot_of(job);
    broker_flow_t *flow = s_flow_of(self, job);
    job->prev = flow->tail;
    job->next = NONE;
    if (flow->tail != NONE)
        s_slot(self, flow->tail)->next = slot;
    else
        flow->head = slot;
    flow->tail = slot;
}

void
broker_jobs_push_front(broker_jobs_t *self, broker_job_t *job)
{
    assert(!job->queued && !job->worker);
    uint32_t slot = s_slot_of(job);
    broker_flow_t *flow = s_flow_of(self, job);
    job->prev = NONE;
    job->next = flow->head;
    if (flow->head != NONE)
        s_slot(self, flow->head)->prev = slot;
    else
        flow->tail = slot;
    flow->head = slot;
}

broker_job_t *
broker_jobs_pop(broker_jobs_t *self)
{
    broker_flow_t *flow = broker_fairq_next(self->fairq);
    if (!flow)
        return NULL;
    broker_job_t *job = s_slot(self, flow->head);
    s_unlink(self, job);
    return job;
}

size_t
broker_jobs_queued_of(const broker_jobs_t *self, uint64_t flow)
{
    const broker_flow_t *f = broker_fairq_find(self->fairq, flow);
    return f ? f->queued : 0;
}

broker_job_t *
broker_jobs_steal(broker_jobs_t *self, uint64_t flow)
{
    broker_flow_t *longest = broker_fairq_longest(self->fairq);
    if (!longest || longest->queued < broker_jobs_queued_of(self, flow) + 2)
        return NULL;
    broker_job_t *job = s_slot(self, longest->tail);
    s_unlink(self, job);
    return job;
}

size_t
broker_jobs_queued(const broker_jobs_t *self)
{
    return self->queued;
}

size_t
broker_jobs_live(const broker_jobs_t *self)
{
    return self->live;
}

/* The ids of every queued job, flow by flow: a snapshot that stays right
 * while callbacks answer, queue and free jobs (and so make and drop flows).
 * Caller frees. */
static uint64_t *
s_snapshot(broker_jobs_t *self, size_t *n)
{
    uint64_t *ids = xcalloc(self->queued ? self->queued : 1, sizeof *ids);
    *n = 0;
    for (size_t f = 0, flows = broker_fairq_count(self->fairq); f < flows; f++) {
        const broker_flow_t *flow = broker_fairq_next(self->fairq); /* a full round: the turn ends where it was */
        for (uint32_t slot = flow->head; slot != NONE; slot = s_slot(self, slot)->next)
            ids[(*n)++] = s_slot(self, slot)->job_id;
    }
    return ids;
}

size_t
broker_jobs_expire(broker_jobs_t *self, int64_t now_ms, void (*fn)(broker_job_t *job, void *arg), void *arg)
{
    size_t expired = 0, n;
    if (self->queued == 0)
        return 0; /* every tick: no snapshot to allocate when nothing waits */
    uint64_t *ids = s_snapshot(self, &n);
    for (size_t i = 0; i < n; i++) {
        broker_job_t *job = broker_jobs_find(self, ids[i]);
        if (job && job->queued && job->deadline_ms <= now_ms) {
            s_unlink(self, job);
            fn(job, arg);
            expired++;
        }
    }
    free(ids);
    return expired;
}

size_t
broker_jobs_sweep(broker_jobs_t *self, bool (*fn)(broker_job_t *job, void *arg), void *arg)
{
    size_t taken = 0, n;
    uint64_t *ids = s_snapshot(self, &n);
    for (size_t i = 0; i < n; i++) {
        broker_job_t *job = broker_jobs_find(self, ids[i]);
        if (job && job->queued && fn(job, arg))
            taken++;
    }
    free(ids);
    return taken;
}

void
broker_jobs_each_of(broker_jobs_t *self, const broker_worker_t *worker, void (*fn)(broker_job_t *job, void *arg),
                    void *arg)
{
    for (size_t c = 0; c < self->nchunks; c++) {
        for (size_t i = 0; i < CHUNK_JOBS; i++) {
            broker_job_t *job = &self->chunks[c][i];
            if (job->job_id != 0 && job->worker == worker)
                fn(job, arg);
        }
    }
}
