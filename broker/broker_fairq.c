/*
 * broker_fairq.c - flows in a hash table (key -> flow) and a circular
 * doubly-linked ring with a cursor, `turn`.
 */
#include "broker_fairq.h"

#include <stdlib.h>

#include <czmq.h>

#include "tix_util.h"

struct broker_fairq {
    zhashx_t *flows;     /* key (as a pointer-sized integer) -> broker_flow_t */
    broker_flow_t *turn; /* the flow dispatch takes from next; NULL when none */
    uint64_t seed;
};

/* zhashx takes no NULL key: flow 0 is kept as 1, which no client key is. */
static void *
s_hkey(uint64_t key)
{
    return (void *) (uintptr_t) (key ? key : 1);
}

static size_t
s_key_hash(const void *key)
{
    return (size_t) ((uint64_t) (uintptr_t) key * 0x9E3779B97F4A7C15ULL);
}

static int
s_key_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) a, y = (uintptr_t) b;
    return x < y ? -1 : x > y;
}

static void
s_flow_free(void **item)
{
    free(*item);
    *item = NULL;
}

broker_fairq_t *
broker_fairq_new(void)
{
    broker_fairq_t *self = xcalloc(1, sizeof *self);
    self->flows = zhashx_new();
    zhashx_set_key_hasher(self->flows, s_key_hash);
    zhashx_set_key_comparator(self->flows, s_key_cmp);
    zhashx_set_key_duplicator(self->flows, NULL);
    zhashx_set_key_destructor(self->flows, NULL);
    zhashx_set_destructor(self->flows, s_flow_free);
    self->seed = ((uint64_t) tix_rand_below(UINT32_MAX) << 32) | tix_rand_below(UINT32_MAX);
    return self;
}

void
broker_fairq_destroy(broker_fairq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_fairq_t *self = *self_p;
    zhashx_destroy(&self->flows);
    free(self);
    *self_p = NULL;
}

uint64_t
broker_fairq_key(const broker_fairq_t *self, const void *id, size_t len)
{
    /* FNV-1a, seeded, folded: cheap for a routing id of a few bytes. */
    const uint8_t *p = id;
    uint64_t h = 0xcbf29ce484222325ULL ^ self->seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 29;
    return h > 1 ? h : h + 2; /* 0 is the broker's flow, 1 its key in the table */
}

broker_flow_t *
broker_fairq_find(const broker_fairq_t *self, uint64_t key)
{
    return zhashx_lookup(self->flows, s_hkey(key));
}

broker_flow_t *
broker_fairq_flow(broker_fairq_t *self, uint64_t key)
{
    broker_flow_t *flow = broker_fairq_find(self, key);
    if (flow)
        return flow;
    flow = xcalloc(1, sizeof *flow);
    flow->key = key;
    zhashx_insert(self->flows, s_hkey(key), flow);
    if (!self->turn) {
        flow->prev = flow->next = flow;
        self->turn = flow;
    } else { /* just before the turn: last in this round */
        flow->next = self->turn;
        flow->prev = self->turn->prev;
        flow->prev->next = flow;
        self->turn->prev = flow;
    }
    return flow;
}

void
broker_fairq_drop(broker_fairq_t *self, broker_flow_t *flow)
{
    if (flow->next == flow) {
        self->turn = NULL;
    } else {
        flow->prev->next = flow->next;
        flow->next->prev = flow->prev;
        if (self->turn == flow)
            self->turn = flow->next;
    }
    zhashx_delete(self->flows, s_hkey(flow->key)); /* frees it */
}

broker_flow_t *
broker_fairq_next(broker_fairq_t *self)
{
    broker_flow_t *flow = self->turn;
    if (flow)
        self->turn = flow->next;
    return flow;
}

broker_flow_t *
broker_fairq_longest(const broker_fairq_t *self)
{
    broker_flow_t *longest = NULL, *flow = self->turn;
    for (size_t i = 0, n = zhashx_size(self->flows); i < n; i++, flow = flow->next) {
        if (flow->key != 0 && (!longest || flow->queued > longest->queued))
            longest = flow;
    }
    return longest;
}

size_t
broker_fairq_count(const broker_fairq_t *self)
{
    return zhashx_size(self->flows);
}
