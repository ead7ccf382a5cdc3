/*
 * broker_workers.h - the broker's table of live sale workers.
 *
 * Tracks each worker registered with READY: its routing id, credit
 * (capacity - in_flight), heartbeat schedule and Redis status, and picks the
 * next worker with free credit round-robin. Knows nothing of sockets or jobs.
 *
 * Ownership: the table owns its workers; broker_workers_remove frees one.
 * Pointers returned stay valid until that worker is removed.
 * Threading: used only by the broker's loop thread.
 */
#ifndef BROKER_WORKERS_H
#define BROKER_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BROKER_LIVENESS 3 /* missed heartbeat intervals before a worker is dead */
#define BROKER_ROUTING_ID_MAX 255

typedef struct broker_workers broker_workers_t;

typedef struct broker_worker {
    uint8_t rid[BROKER_ROUTING_ID_MAX]; /* ZeroMQ routing id of its DEALER */
    size_t rid_size;
    char worker_id[64];      /* from READY, for logs */
    uint32_t capacity;       /* credits granted by READY */
    uint32_t in_flight;      /* jobs assigned and not answered */
    uint32_t heartbeat_ms;   /* its interval; we heartbeat it at the same pace */
    int64_t expires_at_ms;   /* dead when silent past this (monotonic) */
    int64_t heartbeat_at_ms; /* when we owe it the next HEARTBEAT */
    bool redis_ok;           /* its Redis connection works */
    bool leaving;            /* said DISCONNECT: no new jobs, answers what it holds */
} broker_worker_t;

broker_workers_t *broker_workers_new(void);
/* Frees the table and every worker in it. NULL-safe; sets *self to NULL. */
void broker_workers_destroy(broker_workers_t **self);

/* The worker with this routing id, or NULL. */
broker_worker_t *broker_workers_find(broker_workers_t *self, const void *rid, size_t rid_size);
/* Registers a new worker (the caller has removed any previous one with the
 * same routing id). rid_size must be 1..BROKER_ROUTING_ID_MAX. */
broker_worker_t *broker_workers_add(broker_workers_t *self, const void *rid, size_t rid_size, const char *worker_id,
                                    uint32_t capacity, uint32_t heartbeat_ms, bool redis_ok, int64_t now_ms);
/* Removes and frees *worker; sets *worker to NULL. */
void broker_workers_remove(broker_workers_t *self, broker_worker_t **worker);

/* Records a sign of life at now_ms. */
void broker_worker_touch(broker_worker_t *worker, int64_t now_ms);

/* The next worker with free credit, round-robin, preferring (while there is
 * one) a worker whose Redis works; NULL when all are full. */
broker_worker_t *broker_workers_next_free(broker_workers_t *self);
/* Number of registered workers, and the i-th (0 <= i < count) for iteration;
 * removal during iteration moves the last worker into the removed slot. */
size_t broker_workers_count(const broker_workers_t *self);
broker_worker_t *broker_workers_at(broker_workers_t *self, size_t i);
/* True when at least one worker reports a working Redis connection. */
bool broker_workers_any_serving(const broker_workers_t *self);
/* Free credit summed over all workers. */
uint64_t broker_workers_free_credit(const broker_workers_t *self);

#endif
