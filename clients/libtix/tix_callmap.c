/*
 * tix_callmap.c - open-addressing hash table of calls in flight.
 */
#include "tix_callmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "tix_util.h"

#define CALLMAP_MIN_BITS 6 /* 64 slots to start with */

typedef struct {
    uint64_t call_id; /* 0 = empty slot */
    uint8_t method;   /* tix_method_id of the call */
} s_slot_t;

struct tix_callmap {
    s_slot_t *slots; /* 1 << bits slots, at most half of them used */
    unsigned bits;   /* log2 of the slot count */
    size_t size;     /* slots in use */
};

/* Fibonacci hashing: call ids are consecutive, and the multiply spreads
 * consecutive keys evenly over the high bits we keep. */
static size_t
s_home(const tix_callmap_t *self, uint64_t call_id)
{
    return (size_t) ((call_id * 0x9E3779B97F4A7C15ULL) >> (64 - self->bits));
}

static size_t
s_mask(const tix_callmap_t *self)
{
    return ((size_t) 1 << self->bits) - 1;
}

tix_callmap_t *
tix_callmap_new(void)
{
    tix_callmap_t *self = xcalloc(1, sizeof *self);
    self->bits = CALLMAP_MIN_BITS;
    self->slots = xcalloc((size_t) 1 << self->bits, sizeof *self->slots);
    return self;
}

void
tix_callmap_destroy(tix_callmap_t **self)
{
    if (!self || !*self)
        return;
    free((*self)->slots);
    free(*self);
    *self = NULL;
}

static void
s_insert(tix_callmap_t *self, uint64_t call_id, uint8_t method)
{
    size_t mask = s_mask(self);
    size_t i = s_home(self, call_id);
    while (self->slots[i].call_id != 0) {
        assert(self->slots[i].call_id != call_id); /* call ids are never reused */
        i = (i + 1) & mask;
    }
    self->slots[i].call_id = call_id;
    self->slots[i].method = method;
    self->size++;
}

/* Doubles the table; called when it would pass half full, which keeps
 * linear-probing chains short. */
static void
s_grow(tix_callmap_t *self)
{
    s_slot_t *old = self->slots;
    size_t old_count = (size_t) 1 << self->bits;
    self->bits++;
    self->slots = xcalloc((size_t) 1 << self->bits, sizeof *self->slots);
    self->size = 0;
    for (size_t i = 0; i < old_count; i++) {
        if (old[i].call_id != 0)
            s_insert(self, old[i].call_id, old[i].method);
    }
    free(old);
}

void
tix_callmap_put(tix_callmap_t *self, uint64_t call_id, uint8_t method)
{
    assert(call_id != 0);
    if ((self->size + 1) * 2 > ((size_t) 1 << self->bits))
        s_grow(self);
    s_insert(self, call_id, method);
}

/* Closes the gap at slot i by shifting back the entries after it that may
 * live there, so lookups never need tombstones. */
static void
s_remove_at(tix_callmap_t *self, size_t i)
{
    size_t mask = s_mask(self);
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (self->slots[j].call_id == 0)
            break;
        size_t k = s_home(self, self->slots[j].call_id);
        /* The entry at j stays when its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        self->slots[i] = self->slots[j];
        i = j;
    }
    self->slots[i].call_id = 0;
    self->size--;
}

bool
tix_callmap_take(tix_callmap_t *self, uint64_t call_id, uint8_t *method)
{
    if (call_id == 0)
        return false;
    size_t mask = s_mask(self);
    for (size_t i = s_home(self, call_id); self->slots[i].call_id != 0; i = (i + 1) & mask) {
        if (self->slots[i].call_id == call_id) {
            *method = self->slots[i].method;
            s_remove_at(self, i);
            return true;
        }
    }
    return false;
}

size_t
tix_callmap_size(const tix_callmap_t *self)
{
    return self->size;
}
