/*
 * broker_stats.h - the broker's counters (broker_stats), for logs and
 * tests. Every module of the broker counts into the one broker_stats_t its
 * broker holds (broker_state.h).
 */
#ifndef BROKER_STATS_H
#define BROKER_STATS_H

#include <stdint.h>

typedef struct {
    uint64_t calls;                 /* calls received on the frontend */
    uint64_t invalid;               /* calls answered INVALID_ARGUMENT/UNIMPLEMENTED */
    uint64_t forwarded;             /* jobs sent to workers (including re-dispatches) */
    uint64_t redispatched;          /* jobs re-sent after their worker died */
    uint64_t replied;               /* replies sent to clients */
    uint64_t unroutable;            /* replies dropped: client gone or not reading */
    uint64_t exhausted;             /* RESOURCE_EXHAUSTED answers */
    uint64_t fair_refused;          /* ... of which: queued calls refused to make room for a client under its share */
    uint64_t expired;               /* DEADLINE_EXCEEDED answers */
    uint64_t unavailable;           /* UNAVAILABLE answers */
    uint64_t worker_garbage;        /* malformed backend messages dropped */
    uint64_t stale_replies;         /* worker replies for unknown jobs dropped */
    uint64_t workers_lost;          /* workers declared dead */
    uint64_t events;                /* order events proxied */
    uint64_t edge_answers;          /* Purchases answered at the edge (sold out) */
    uint64_t edge_pages;            /* SaleBuyers pages requested from workers */
    uint64_t edge_evicted;          /* sold-out sales evicted from a full edge (least recently used) */
    uint64_t edge_dropped;          /* edge entries dropped: Redis's answers showed the sale changed */
    uint64_t edge_notices;          /* SALE_CHANGED notices from workers (a close or cancel) */
    uint64_t rate_limited;          /* calls refused by the per-user or per-client rate limit */
    uint64_t subscriptions_refused; /* event-feed subscriptions not applied */
    uint64_t subscribers_cut;       /* event-feed connections ended for them */
} broker_stats_t;

#endif
