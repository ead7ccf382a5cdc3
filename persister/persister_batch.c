/*
 * persister_batch.c - a vector of orders plus a set of their ids.
 *
 * Removal compacts the vector in one pass: writes take the head in chunks
 * of at most --batch-max, so the cost is linear in what is held.
 */
#include "persister_batch.h"

#include <assert.h>
#include <string.h>

#include <czmq.h>

#include "tix_util.h"

struct persister_batch {
    persister_order_t *orders; /* held orders, oldest first */
    size_t count;              /* orders held */
    size_t cap;                /* allocated entries */
    size_t max;                /* the bound */
    zhashx_t *ids;             /* persister_order_key -> (void *) 1, for every held order */
    int64_t since_ms;          /* arrival of the oldest held order; 0 = empty */
};

persister_batch_t *
persister_batch_new(size_t max_orders)
{
    assert(max_orders >= 1);
    persister_batch_t *self = xcalloc(1, sizeof *self);
    self->max = max_orders;
    self->ids = zhashx_new();
    return self;
}

void
persister_batch_destroy(persister_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    persister_batch_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        persister_order_clear(&self->orders[i]);
    free(self->orders);
    zhashx_destroy(&self->ids);
    free(self);
    *self_p = NULL;
}

persister_batch_add_result
persister_batch_add(persister_batch_t *self, persister_order_t *order, int64_t now_ms)
{
    if (zhashx_lookup(self->ids, persister_order_key(order)))
        return PERSISTER_BATCH_DUPLICATE;
    if (self->count >= self->max)
        return PERSISTER_BATCH_FULL;
    if (self->count == self->cap) {
        /* Grow geometrically, never past the bound. */
        size_t cap = self->cap ? self->cap * 2 : 64;
        if (cap > self->max)
            cap = self->max;
        self->orders = xrealloc(self->orders, cap * sizeof *self->orders);
        self->cap = cap;
    }
    if (self->count == 0)
        self->since_ms = now_ms > 0 ? now_ms : 1;
    zhashx_insert(self->ids, persister_order_key(order), (void *) 1);
    self->orders[self->count++] = *order;
    memset(order, 0, sizeof *order);
    return PERSISTER_BATCH_ADDED;
}

size_t
persister_batch_size(const persister_batch_t *self)
{
    return self->count;
}

size_t
persister_batch_room(const persister_batch_t *self)
{
    return self->max - self->count;
}

int64_t
persister_batch_since_ms(const persister_batch_t *self)
{
    return self->count ? self->since_ms : 0;
}

persister_order_t *
persister_batch_orders(persister_batch_t *self)
{
    return self->orders;
}

void
persister_batch_remove(persister_batch_t *self, size_t n, const bool *done)
{
    assert(n <= self->count);
    size_t kept = 0;
    for (size_t i = 0; i < self->count; i++) {
        if (i < n && done[i]) {
            zhashx_delete(self->ids, persister_order_key(&self->orders[i]));
            persister_order_clear(&self->orders[i]);
            continue;
        }
        self->orders[kept++] = self->orders[i];
    }
    self->count = kept;
    /* What is left waited at least as long as the batch did: keep its age,
     * so that a failed write is retried on the backoff, not after another
     * batch interval. */
    if (kept == 0)
        self->since_ms = 0;
}
