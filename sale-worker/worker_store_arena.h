/*
 * worker_store_arena.h - hiredis's replies built in chunks the store keeps,
 * so that reading a reply costs no heap allocation once the chunks exist.
 *
 * hiredis's default reader callocs one redisReply per element and mallocs
 * each string: ~13 allocations per buy of a tix_buy_many reply. An
 * arena attached to a reader (worker_store_arena_attach) takes over its
 * create/free functions: every object of a reply is carved from the
 * arena's chunks, and the whole arena is reset when hiredis frees the
 * reply's root (worker_store_arena.c says why that is safe). Replies
 * parsed by such a reader must be freed by hiredis only, never with
 * freeReplyObject; a reply kept beyond its callback must be deep-copied
 * (worker_store_reply_dup). Aborts on out-of-memory, like xmalloc.
 *
 * The bottom of the store's layers: knows hiredis's reader, nothing of
 * the store. Single-threaded; one arena per reader at a time.
 */
#ifndef WORKER_STORE_ARENA_H
#define WORKER_STORE_ARENA_H

#include <stddef.h>

#include <hiredis/read.h>

#define WORKER_STORE_ARENA_CHUNK ((size_t) 64 * 1024)    /* bytes per chunk (one bigger object: its own size) */
#define WORKER_STORE_ARENA_KEEP ((size_t) 4 * 64 * 1024) /* chunk bytes kept after a reply; more go back */

typedef struct worker_store_arena worker_store_arena_t;

/* An empty arena (its first chunk comes with the first reply). Never NULL. */
worker_store_arena_t *worker_store_arena_new(void);
/* Frees the arena and its chunks. Every reader it was attached to must be
 * freed first (redisReaderFree/redisAsyncFree hand a half-read reply back
 * through the arena). NULL-safe; sets *self_p to NULL. */
void worker_store_arena_destroy(worker_store_arena_t **self_p);
/* From now on reader builds its replies in self (reader->fn and
 * reader->privdata). Attach to a new reader before it reads anything. */
void worker_store_arena_attach(worker_store_arena_t *self, redisReader *reader);
/* Bytes held in chunks now (at most WORKER_STORE_ARENA_KEEP between
 * replies, unless one object alone is bigger). */
size_t worker_store_arena_bytes(const worker_store_arena_t *self);

#endif
