/*
 * tix_callmap.h - call_id -> method of the asynchronous calls in flight.
 *
 * Internal to libtix. A reply carries only its call_id; to unpack its body
 * the client must know which method the call was, so tix_client_send records
 * each call here and tix_client_recv takes it out again. tix-rush keeps tens
 * of thousands of calls in flight, so this is an open-addressing hash table
 * (linear probing, backward-shift deletion: no tombstones) that grows to the
 * largest number of calls ever in flight and allocates nothing per call.
 *
 * call_id 0 marks an empty slot: clients never use it.
 * Threading: none; owned by one tix_client_t.
 */
#ifndef TIX_CALLMAP_H
#define TIX_CALLMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tix_callmap tix_callmap_t;

/* A new, empty map. Never NULL (out of memory aborts). */
tix_callmap_t *tix_callmap_new(void);
/* Frees the map. NULL-safe, idempotent, sets *self to NULL. */
void tix_callmap_destroy(tix_callmap_t **self);

/* Records call_id (non-zero, not already present) with its method id. */
void tix_callmap_put(tix_callmap_t *self, uint64_t call_id, uint8_t method);
/* Removes call_id; returns true and its method in *method when it was there. */
bool tix_callmap_take(tix_callmap_t *self, uint64_t call_id, uint8_t *method);
/* Number of calls recorded. */
size_t tix_callmap_size(const tix_callmap_t *self);

#endif
