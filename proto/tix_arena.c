/*
 * tix_arena.c - a bump allocator over a caller's buffer, with the heap
 * behind it (see tix_arena.h).
 */
#include "tix_arena.h"

#include <stdlib.h>

#define ARENA_ALIGN 16 /* what malloc guarantees on x86-64, for any field type */

static void *
s_alloc(void *data, size_t size)
{
    tix_arena_t *a = data;
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
    if (rounded < size || rounded > a->size - a->used)
        return malloc(size); /* past the buffer: the heap, freed by s_free */
    void *p = a->buf + a->used;
    a->used += rounded;
    return p;
}

static void
s_free(void *data, void *ptr)
{
    tix_arena_t *a = data;
    const uint8_t *p = ptr;
    if (p && (p < a->buf || p >= a->buf + a->size))
        free(ptr); /* one of s_alloc's heap allocations */
}

void
tix_arena_init(tix_arena_t *arena, void *buf, size_t size)
{
    arena->allocator.alloc = s_alloc;
    arena->allocator.free = s_free;
    arena->allocator.allocator_data = arena;
    arena->buf = buf;
    arena->size = size;
    arena->used = 0;
}

void
tix_arena_reset(tix_arena_t *arena)
{
    arena->used = 0;
}
