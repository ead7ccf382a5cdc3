/*
 * rush_flight.c - slot table, call map, retry heap and ready ring.
 *
 * Everything is sized from the capacity at creation, so a rush's memory
 * does not grow with its number of users or its retries.
 */
#include "rush_flight.h"

#include <assert.h>
#include <stdlib.h>

#include "tix_util.h"

#define CONN_SHIFT 58 /* call ids stay far below 2^52; the connection lives above */

struct rush_flight {
    rush_slot_t *slots; /* capacity slots */
    uint32_t capacity;  /* slots */
    uint32_t *free;     /* stack of free slot indices */
    uint32_t nfree;     /* entries in free */
    uint32_t *ring;     /* ready slots, FIFO */
    uint32_t head, len; /* ring front and length */
    uint32_t *heap;     /* WAITING slots, min-heap on due_us */
    uint32_t nheap;     /* entries in heap */
    uint64_t *keys;     /* call map: key (0 = empty) ... */
    uint32_t *vals;     /* ... -> slot index */
    unsigned map_bits;  /* log2 of the map's size; at most half full */
};

rush_flight_t *
rush_flight_new(uint32_t capacity)
{
    assert(capacity >= 1);
    rush_flight_t *self = xcalloc(1, sizeof *self);
    self->capacity = capacity;
    self->slots = xcalloc(capacity, sizeof *self->slots);
    self->free = xmalloc(capacity * sizeof *self->free);
    self->ring = xmalloc(capacity * sizeof *self->ring);
    self->heap = xmalloc(capacity * sizeof *self->heap);
    for (uint32_t i = 0; i < capacity; i++)
        self->free[i] = capacity - 1 - i; /* slot 0 first: the low slots stay warm in cache */
    self->nfree = capacity;
    self->map_bits = 4;
    while (((uint64_t) 1 << self->map_bits) < 2 * (uint64_t) capacity)
        self->map_bits++;
    self->keys = xcalloc((size_t) 1 << self->map_bits, sizeof *self->keys);
    self->vals = xcalloc((size_t) 1 << self->map_bits, sizeof *self->vals);
    return self;
}

void
rush_flight_destroy(rush_flight_t **self)
{
    if (!self || !*self)
        return;
    rush_flight_t *f = *self;
    free(f->slots);
    free(f->free);
    free(f->ring);
    free(f->heap);
    free(f->keys);
    free(f->vals);
    free(f);
    *self = NULL;
}

uint32_t
rush_flight_capacity(const rush_flight_t *self)
{
    return self->capacity;
}

uint32_t
rush_flight_used(const rush_flight_t *self)
{
    return self->capacity - self->nfree;
}

rush_slot_t *
rush_flight_slot(rush_flight_t *self, uint32_t i)
{
    assert(i < self->capacity);
    return &self->slots[i];
}

/* ---- Ready ring ------------------------------------------------------------ */

static void
s_ring_push(rush_flight_t *self, uint32_t i)
{
    assert(self->len < self->capacity);
    self->ring[(self->head + self->len) % self->capacity] = i;
    self->len++;
    self->slots[i].state = RUSH_SLOT_READY;
}

bool
rush_flight_start(rush_flight_t *self, uint32_t user, int64_t t0_us)
{
    if (self->nfree == 0)
        return false;
    uint32_t i = self->free[--self->nfree];
    self->slots[i] = (rush_slot_t){.t0_us = t0_us, .user = user};
    s_ring_push(self, i);
    return true;
}

void
rush_flight_finish(rush_flight_t *self, uint32_t i)
{
    assert(self->slots[i].state != RUSH_SLOT_FREE);
    self->slots[i].state = RUSH_SLOT_FREE;
    self->slots[i].call_id = 0;
    self->free[self->nfree++] = i;
}

int64_t
rush_flight_ready_peek(const rush_flight_t *self)
{
    return self->len ? (int64_t) self->ring[self->head] : -1;
}

uint32_t
rush_flight_ready_pop(rush_flight_t *self)
{
    assert(self->len > 0);
    uint32_t i = self->ring[self->head];
    self->head = (self->head + 1) % self->capacity;
    self->len--;
    return i;
}

/* ---- Call map -------------------------------------------------------------- */

static uint64_t
s_key(uint8_t conn, uint64_t call_id)
{
    return call_id ^ ((uint64_t) conn << CONN_SHIFT);
}

/* Fibonacci hashing: call ids of one connection are consecutive. */
static size_t
s_home(const rush_flight_t *self, uint64_t key)
{
    return (size_t) ((key * 0x9E3779B97F4A7C15ULL) >> (64 - self->map_bits));
}

void
rush_flight_sent(rush_flight_t *self, uint8_t conn, uint64_t call_id)
{
    assert(call_id != 0);
    uint32_t i = rush_flight_ready_pop(self);
    rush_slot_t *s = &self->slots[i];
    s->call_id = call_id;
    s->conn = conn;
    s->state = RUSH_SLOT_SENT;
    s->attempts++;
    size_t mask = ((size_t) 1 << self->map_bits) - 1;
    uint64_t key = s_key(conn, call_id);
    size_t j = s_home(self, key);
    while (self->keys[j] != 0)
        j = (j + 1) & mask;
    self->keys[j] = key;
    self->vals[j] = i;
}

/* Empties map slot j, shifting back later entries of the same probe run so
 * that lookups need no tombstones. */
static void
s_map_remove_at(rush_flight_t *self, size_t j)
{
    size_t mask = ((size_t) 1 << self->map_bits) - 1;
    for (size_t k = j;;) {
        k = (k + 1) & mask;
        if (self->keys[k] == 0)
            break;
        size_t home = s_home(self, self->keys[k]);
        /* The entry at k may move to j unless its home lies in (j, k]. */
        bool stays = j <= k ? (j < home && home <= k) : (j < home || home <= k);
        if (stays)
            continue;
        self->keys[j] = self->keys[k];
        self->vals[j] = self->vals[k];
        j = k;
    }
    self->keys[j] = 0;
}

int64_t
rush_flight_take(rush_flight_t *self, uint8_t conn, uint64_t call_id)
{
    if (call_id == 0)
        return -1;
    size_t mask = ((size_t) 1 << self->map_bits) - 1;
    uint64_t key = s_key(conn, call_id);
    for (size_t j = s_home(self, key); self->keys[j] != 0; j = (j + 1) & mask) {
        if (self->keys[j] == key) {
            uint32_t i = self->vals[j];
            s_map_remove_at(self, j);
            self->slots[i].call_id = 0;
            return i;
        }
    }
    return -1;
}

/* ---- Retry heap ------------------------------------------------------------ */

static bool
s_earlier(const rush_flight_t *self, uint32_t a, uint32_t b)
{
    return self->slots[self->heap[a]].due_us < self->slots[self->heap[b]].due_us;
}

static void
s_swap(rush_flight_t *self, uint32_t a, uint32_t b)
{
    uint32_t t = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = t;
}

void
rush_flight_defer(rush_flight_t *self, uint32_t i, int64_t due_us)
{
    assert(self->nheap < self->capacity);
    self->slots[i].due_us = due_us;
    self->slots[i].state = RUSH_SLOT_WAITING;
    uint32_t n = self->nheap++;
    self->heap[n] = i;
    while (n > 0 && s_earlier(self, n, (n - 1) / 2)) {
        s_swap(self, n, (n - 1) / 2);
        n = (n - 1) / 2;
    }
}

static uint32_t
s_heap_pop(rush_flight_t *self)
{
    uint32_t top = self->heap[0];
    self->heap[0] = self->heap[--self->nheap];
    for (uint32_t n = 0;;) {
        uint32_t l = 2 * n + 1, r = l + 1, m = n;
        if (l < self->nheap && s_earlier(self, l, m))
            m = l;
        if (r < self->nheap && s_earlier(self, r, m))
            m = r;
        if (m == n)
            break;
        s_swap(self, n, m);
        n = m;
    }
    return top;
}

uint32_t
rush_flight_promote(rush_flight_t *self, int64_t now_us)
{
    uint32_t moved = 0;
    while (self->nheap > 0 && self->slots[self->heap[0]].due_us <= now_us) {
        s_ring_push(self, s_heap_pop(self));
        moved++;
    }
    return moved;
}

int64_t
rush_flight_next_due(const rush_flight_t *self)
{
    return self->nheap ? self->slots[self->heap[0]].due_us : INT64_MAX;
}
