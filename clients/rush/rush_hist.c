/*
 * rush_hist.c - log-linear histogram (see rush_hist.h for the layout).
 */
#include "rush_hist.h"

#include <stdlib.h>
#include <string.h>

#include "tix_util.h"

#define EXACT_LIMIT (1u << RUSH_HIST_SUB_BITS) /* values below this have a bucket each */

struct rush_hist {
    uint64_t counts[RUSH_HIST_BUCKETS]; /* values per bucket */
    uint64_t count;                     /* values recorded */
    uint64_t min, max;                  /* exact extremes (valid when count > 0) */
    double sum;                         /* for the mean; a double cannot overflow */
};

rush_hist_t *
rush_hist_new(void)
{
    rush_hist_t *self = xcalloc(1, sizeof *self);
    return self;
}

void
rush_hist_destroy(rush_hist_t **self)
{
    if (!self || !*self)
        return;
    free(*self);
    *self = NULL;
}

unsigned
rush_hist_bucket_of(uint64_t value)
{
    if (value < EXACT_LIMIT)
        return (unsigned) value;
    unsigned msb = 63u - (unsigned) __builtin_clzll(value); /* >= RUSH_HIST_SUB_BITS */
    unsigned shift = msb - (RUSH_HIST_SUB_BITS - 1);
    unsigned sub = (unsigned) (value >> shift); /* in [HALF, 2 * HALF) */
    return EXACT_LIMIT + (msb - RUSH_HIST_SUB_BITS) * RUSH_HIST_HALF + (sub - RUSH_HIST_HALF);
}

uint64_t
rush_hist_bucket_low(unsigned bucket)
{
    if (bucket < EXACT_LIMIT)
        return bucket;
    unsigned k = bucket - EXACT_LIMIT;
    unsigned msb = RUSH_HIST_SUB_BITS + k / RUSH_HIST_HALF;
    uint64_t sub = RUSH_HIST_HALF + k % RUSH_HIST_HALF;
    return sub << (msb - (RUSH_HIST_SUB_BITS - 1));
}

uint64_t
rush_hist_bucket_high(unsigned bucket)
{
    if (bucket < EXACT_LIMIT)
        return bucket;
    unsigned msb = RUSH_HIST_SUB_BITS + (bucket - EXACT_LIMIT) / RUSH_HIST_HALF;
    uint64_t width = (uint64_t) 1 << (msb - (RUSH_HIST_SUB_BITS - 1));
    return rush_hist_bucket_low(bucket) + (width - 1); /* the last bucket ends at UINT64_MAX */
}

void
rush_hist_record(rush_hist_t *self, uint64_t value)
{
    self->counts[rush_hist_bucket_of(value)]++;
    if (self->count == 0 || value < self->min)
        self->min = value;
    if (self->count == 0 || value > self->max)
        self->max = value;
    self->count++;
    self->sum += (double) value;
}

void
rush_hist_merge(rush_hist_t *self, const rush_hist_t *src)
{
    if (src->count == 0)
        return;
    for (unsigned i = 0; i < RUSH_HIST_BUCKETS; i++)
        self->counts[i] += src->counts[i];
    if (self->count == 0 || src->min < self->min)
        self->min = src->min;
    if (self->count == 0 || src->max > self->max)
        self->max = src->max;
    self->count += src->count;
    self->sum += src->sum;
}

void
rush_hist_reset(rush_hist_t *self)
{
    memset(self, 0, sizeof *self);
}

uint64_t
rush_hist_count(const rush_hist_t *self)
{
    return self->count;
}

uint64_t
rush_hist_min(const rush_hist_t *self)
{
    return self->count ? self->min : 0;
}

uint64_t
rush_hist_max(const rush_hist_t *self)
{
    return self->count ? self->max : 0;
}

double
rush_hist_mean(const rush_hist_t *self)
{
    return self->count ? self->sum / (double) self->count : 0.0;
}

/* The midpoint of a bucket, kept inside the exact extremes: the first and
 * last buckets hold min and max, which we know exactly. */
static uint64_t
s_representative(const rush_hist_t *self, unsigned bucket)
{
    uint64_t low = rush_hist_bucket_low(bucket), high = rush_hist_bucket_high(bucket);
    uint64_t mid = low + (high - low) / 2;
    if (mid < self->min)
        mid = self->min;
    if (mid > self->max)
        mid = self->max;
    return mid;
}

uint64_t
rush_hist_percentile(const rush_hist_t *self, double p)
{
    if (self->count == 0)
        return 0;
    if (p >= 100.0)
        return self->max;
    /* rank = ceil(p% of count), at least 1: the nearest-rank definition. */
    double exact = p / 100.0 * (double) self->count;
    uint64_t rank = (uint64_t) exact;
    if ((double) rank < exact)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < RUSH_HIST_BUCKETS; i++) {
        seen += self->counts[i];
        if (seen >= rank)
            return s_representative(self, i);
    }
    return self->max; /* unreachable: the counts add up to count */
}
