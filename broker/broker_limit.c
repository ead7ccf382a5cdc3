/*
 * broker_limit.c - token buckets in a flat array; 8 bytes a slot.
 */
#include "broker_limit.h"

#include <math.h>
#include <stdlib.h>

#include "tix_util.h"

typedef struct {
    float tokens; /* tokens left at `at` */
    uint32_t at;  /* ms since the table's epoch; 0 = never used */
} bucket_t;

struct broker_limit {
    bucket_t *buckets;
    uint32_t mask; /* slots - 1 */
    double per_ms; /* refill rate; 0 = limiting off */
    float burst;
    uint64_t seed;
    int64_t epoch_ms; /* bucket times count from here */
};

broker_limit_t *
broker_limit_new(double rate_per_s, uint32_t burst, uint32_t slots)
{
    broker_limit_t *self = xcalloc(1, sizeof *self);
    uint32_t n = 1;
    while (n < slots && n < (1u << 30))
        n <<= 1;
    self->mask = n - 1;
    self->per_ms = rate_per_s > 0 ? rate_per_s / 1000.0 : 0;
    self->burst = (float) (burst ? burst : 1);
    self->seed = ((uint64_t) tix_rand_below(UINT32_MAX) << 32) | tix_rand_below(UINT32_MAX);
    self->epoch_ms = tix_now_ms() - 1; /* so that `at` is never 0 once used */
    if (self->per_ms > 0)
        self->buckets = xcalloc(n, sizeof(bucket_t));
    return self;
}

void
broker_limit_destroy(broker_limit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_limit_t *self = *self_p;
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

/* FNV-1a, seeded: cheap, and a flooder cannot choose keys that collide. */
static uint64_t
s_hash(uint64_t seed, const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

uint32_t
broker_limit_take(broker_limit_t *self, const void *key, size_t len, int64_t now_ms)
{
    if (self->per_ms <= 0)
        return 0;
    bucket_t *b = &self->buckets[s_hash(self->seed, key, len) & self->mask];
    uint32_t now = (uint32_t) (now_ms - self->epoch_ms);
    float tokens = self->burst;
    if (b->at != 0) {
        /* Unsigned difference: correct across the 49-day wrap of `at`. */
        double refill = (double) (uint32_t) (now - b->at) * self->per_ms;
        tokens = (float) fmin((double) self->burst, (double) b->tokens + refill);
    }
    b->at = now;
    if (tokens >= 1.0f) {
        b->tokens = tokens - 1.0f;
        return 0;
    }
    b->tokens = tokens;
    double wait = ceil((1.0 - (double) tokens) / self->per_ms);
    return wait < 1 ? 1 : (uint32_t) wait;
}
