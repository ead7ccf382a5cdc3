/*
 * broker_workers.c - a dense array of workers; lookups scan it. Worker pools
 * are small (tens), so a scan of routing ids beats a hash on every count
 * that matters here, and keeps the module obvious.
 */
#include "broker_workers.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix_util.h"

struct broker_workers {
    broker_worker_t **items; /* dense; order is irrelevant */
    size_t count;
    size_t alloc;
    size_t cursor; /* round-robin position for next_free */
};

broker_workers_t *
broker_workers_new(void)
{
    return xcalloc(1, sizeof(broker_workers_t));
}

void
broker_workers_destroy(broker_workers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_workers_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free(self->items[i]);
    free(self->items);
    free(self);
    *self_p = NULL;
}

broker_worker_t *
broker_workers_find(broker_workers_t *self, const void *rid, size_t rid_size)
{
    for (size_t i = 0; i < self->count; i++) {
        broker_worker_t *w = self->items[i];
        if (w->rid_size == rid_size && memcmp(w->rid, rid, rid_size) == 0)
            return w;
    }
    return NULL;
}

broker_worker_t *
broker_workers_add(broker_workers_t *self, const void *rid, size_t rid_size, const char *worker_id, uint32_t capacity,
                   uint32_t heartbeat_ms, bool redis_ok, int64_t now_ms)
{
    assert(rid_size >= 1 && rid_size <= BROKER_ROUTING_ID_MAX);
    assert(!broker_workers_find(self, rid, rid_size));
    broker_worker_t *w = xcalloc(1, sizeof *w);
    memcpy(w->rid, rid, rid_size);
    w->rid_size = rid_size;
    snprintf(w->worker_id, sizeof w->worker_id, "%s", worker_id);
    w->capacity = capacity;
    w->heartbeat_ms = heartbeat_ms;
    w->redis_ok = redis_ok;
    w->heartbeat_at_ms = now_ms + heartbeat_ms;
    broker_worker_touch(w, now_ms);
    if (self->count == self->alloc) {
        self->alloc = self->alloc ? self->alloc * 2 : 8;
        self->items = xrealloc(self->items, self->alloc * sizeof *self->items);
    }
    self->items[self->count++] = w;
    return w;
}

void
broker_workers_remove(broker_workers_t *self, broker_worker_t **worker_p)
{
    broker_worker_t *w = *worker_p;
    for (size_t i = 0; i < self->count; i++) {
        if (self->items[i] == w) {
            self->items[i] = self->items[--self->count];
            break;
        }
    }
    free(w);
    *worker_p = NULL;
}

void
broker_worker_touch(broker_worker_t *worker, int64_t now_ms)
{
    worker->expires_at_ms = now_ms + (int64_t) BROKER_LIVENESS * worker->heartbeat_ms;
}

broker_worker_t *
broker_workers_next_free(broker_workers_t *self)
{
    /* While some worker has Redis, calls wait for one that has: a worker
     * without Redis would only answer UNAVAILABLE. With none, fail fast. */
    bool any_redis = broker_workers_any_serving(self);
    for (size_t n = 0; n < self->count; n++) {
        size_t i = (self->cursor + n) % self->count;
        broker_worker_t *w = self->items[i];
        if (!w->leaving && w->in_flight < w->capacity && (w->redis_ok || !any_redis)) {
            self->cursor = i + 1;
            return w;
        }
    }
    return NULL;
}

size_t
broker_workers_count(const broker_workers_t *self)
{
    return self->count;
}

broker_worker_t *
broker_workers_at(broker_workers_t *self, size_t i)
{
    assert(i < self->count);
    return self->items[i];
}

bool
broker_workers_any_serving(const broker_workers_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        if (self->items[i]->redis_ok && !self->items[i]->leaving)
            return true;
    }
    return false;
}

uint64_t
broker_workers_free_credit(const broker_workers_t *self)
{
    uint64_t credit = 0;
    for (size_t i = 0; i < self->count; i++) {
        if (!self->items[i]->leaving)
            credit += self->items[i]->capacity - self->items[i]->in_flight;
    }
    return credit;
}
