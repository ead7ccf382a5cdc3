/*
 * persister_batch.h - the orders the persister holds but has not written
 * yet: a bounded buffer without duplicates.
 *
 * Orders enter from the reads of the order log (persister_catchup.c);
 * persister_flush.c writes them to the sink in chunks and removes the ones
 * that are done. The bound keeps memory flat when the sink is away for
 * minutes: a full buffer refuses new orders (PERSISTER_BATCH_FULL), which
 * is safe because every order is also in the Redis order log and the next
 * catch-up finds whatever was refused. An order id already held is refused
 * as a duplicate (a cancel entry counts apart from its purchase:
 * persister_order_key) (a page read again after a failed write holds the same
 * entries).
 *
 * Ownership: the buffer owns the orders it holds. Single-threaded.
 */
#ifndef PERSISTER_BATCH_H
#define PERSISTER_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persister_order.h"

typedef struct persister_batch persister_batch_t;

typedef enum {
    PERSISTER_BATCH_ADDED,     /* the order was taken (moved in) */
    PERSISTER_BATCH_DUPLICATE, /* an order with this id is already held */
    PERSISTER_BATCH_FULL,      /* the buffer is at its bound */
} persister_batch_add_result;

/* A buffer holding at most max_orders (>= 1). */
persister_batch_t *persister_batch_new(size_t max_orders);
/* Frees the buffer and every order it holds. NULL-safe; sets *self NULL. */
void persister_batch_destroy(persister_batch_t **self);

/* Offers *order. On ADDED the buffer owns its strings and *order is zeroed;
 * otherwise *order is untouched and still the caller's. now_ms (monotonic)
 * dates the order when it is the first one held. */
persister_batch_add_result persister_batch_add(persister_batch_t *self, persister_order_t *order, int64_t now_ms);

size_t persister_batch_size(const persister_batch_t *self);
/* Orders that can still be added before FULL. */
size_t persister_batch_room(const persister_batch_t *self);
/* When (monotonic ms) the oldest held order arrived into an empty buffer;
 * 0 when the buffer is empty. */
int64_t persister_batch_since_ms(const persister_batch_t *self);

/* The held orders, oldest first, in one array of persister_batch_size()
 * entries (borrowed; valid until the next add or remove). */
persister_order_t *persister_batch_orders(persister_batch_t *self);
/* Removes (and frees) the first n held orders whose done[i] is true and
 * keeps the others in order. */
void persister_batch_remove(persister_batch_t *self, size_t n, const bool *done);

#endif
