/*
 * tix_arena.h - a protobuf-c allocator over a caller's buffer, so that
 * unpacking a small message on a hot path costs no heap allocation.
 *
 * Allocations are carved from the buffer and never freed one by one; the
 * owner resets the arena (tix_arena_reset) once nothing unpacked with it
 * is in use. What does not fit in what is left of the buffer comes from the
 * heap and goes back to it when protobuf-c frees it, so a large message
 * unpacks exactly as it would without the arena.
 *
 * Below tix_codec in proto/; knows no service. Not thread-safe: one arena
 * per thread.
 */
#ifndef TIX_ARENA_H
#define TIX_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

typedef struct {
    ProtobufCAllocator allocator; /* hand &arena->allocator to protobuf-c */
    uint8_t *buf;                 /* borrowed from the owner */
    size_t size;                  /* bytes in buf */
    size_t used;                  /* bytes carved since the last reset */
} tix_arena_t;

/* An empty arena over buf[0..size) (borrowed; it must outlive the arena). */
void tix_arena_init(tix_arena_t *arena, void *buf, size_t size);
/* Forgets every allocation carved from the buffer: nothing unpacked with
 * the arena may be used afterwards (heap allocations were freed already by
 * protobuf-c's free_unpacked). */
void tix_arena_reset(tix_arena_t *arena);

#endif
