/*
 * broker_fairq.h - the flows of the broker's wait queue: one per client,
 * taken in turn.
 *
 * A flow is the queue of one client's calls waiting for worker credit; the
 * broker's own jobs (loading a sold-out sale) are flow 0. Flows that hold
 * calls form a ring, and dispatch takes one call from each in turn, so a
 * client with thousands of calls waiting delays another's next call by at
 * most one call per other waiting client, not by its whole backlog.
 *
 * This module keeps the flows (key -> flow, the ring, whose turn it is);
 * broker_jobs.c links the jobs of each flow through their slots.
 *
 * Ownership: the table owns its flows; a flow lives from broker_fairq_flow
 * until broker_fairq_drop (its queue must then be empty).
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_FAIRQ_H
#define BROKER_FAIRQ_H

#include <stddef.h>
#include <stdint.h>

typedef struct broker_fairq broker_fairq_t;

typedef struct broker_flow {
    uint64_t key;                    /* broker_fairq_key of the client; 0 = the broker's own */
    uint32_t head, tail;             /* its queued jobs (slot numbers), oldest first */
    uint32_t queued;                 /* jobs in its queue */
    struct broker_flow *prev, *next; /* the ring of flows that hold jobs */
} broker_flow_t;

broker_fairq_t *broker_fairq_new(void);
/* Frees the table and every flow. NULL-safe; sets *self to NULL. */
void broker_fairq_destroy(broker_fairq_t **self);

/* A client's flow key: a seeded hash of its identity (routing id, or CURVE
 * key), never 0. The seed is per table, so a client cannot pick an
 * identity that shares another's flow. */
uint64_t broker_fairq_key(const broker_fairq_t *self, const void *id, size_t len);

/* key's flow; a new one (empty, last in turn, with head/tail to be set by
 * the caller) when key has none. */
broker_flow_t *broker_fairq_flow(broker_fairq_t *self, uint64_t key);
/* key's flow, or NULL when it has none. */
broker_flow_t *broker_fairq_find(const broker_fairq_t *self, uint64_t key);
/* Removes and frees an emptied flow; the turn passes to the next. */
void broker_fairq_drop(broker_fairq_t *self, broker_flow_t *flow);

/* The flow whose turn it is, and the turn passes on; NULL when none. */
broker_flow_t *broker_fairq_next(broker_fairq_t *self);
/* The client flow (not flow 0) with the most jobs queued, or NULL. */
broker_flow_t *broker_fairq_longest(const broker_fairq_t *self);
/* Flows that hold jobs. */
size_t broker_fairq_count(const broker_fairq_t *self);

#endif
