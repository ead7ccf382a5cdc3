/*
 * rush_hist.h - an HDR-style log-linear histogram of latencies.
 *
 * tix-rush records one latency per user (hundreds of thousands to millions
 * of them) and reports p50/p90/p99/p99.9/max. Keeping every sample and
 * sorting would cost memory in proportion to the run; this histogram has a
 * fixed size (RUSH_HIST_BUCKETS counters, ~58 KiB) whatever the count.
 *
 * Layout (HdrHistogram's idea, with 2^RUSH_HIST_SUB_BITS sub-buckets): values
 * below 2^RUSH_HIST_SUB_BITS have a bucket each (exact); above, every power
 * of two [2^m, 2^(m+1)) is cut into 2^(RUSH_HIST_SUB_BITS-1) equal buckets.
 * A bucket is thus at most 1/2^(RUSH_HIST_SUB_BITS-1) = 0.78% of its values
 * wide, and a percentile reported as the bucket's midpoint is within 0.4%
 * of the exact sample (clamped to the exact min and max, which are kept).
 *
 * Values are unsigned 64-bit integers in whatever unit the caller uses
 * (tix-rush: microseconds). The whole uint64 range is covered.
 * Threading: none; a histogram belongs to one thread (merge to combine).
 * Errors: none; out of memory aborts (xmalloc).
 */
#ifndef RUSH_HIST_H
#define RUSH_HIST_H

#include <stdint.h>

#define RUSH_HIST_SUB_BITS 8                            /* 256 exact values, then 128 buckets per octave */
#define RUSH_HIST_HALF (1u << (RUSH_HIST_SUB_BITS - 1)) /* buckets per octave above the exact range */
#define RUSH_HIST_BUCKETS ((1u << RUSH_HIST_SUB_BITS) + (64 - RUSH_HIST_SUB_BITS) * RUSH_HIST_HALF)

typedef struct rush_hist rush_hist_t;

/* A new, empty histogram; the caller owns it. Never NULL. */
rush_hist_t *rush_hist_new(void);
/* Frees the histogram. NULL-safe, idempotent, sets *self to NULL. */
void rush_hist_destroy(rush_hist_t **self);

/* Records one value. O(1), no allocation. */
void rush_hist_record(rush_hist_t *self, uint64_t value);
/* Adds every count of src (borrowed) into self. */
void rush_hist_merge(rush_hist_t *self, const rush_hist_t *src);
/* Forgets every value. */
void rush_hist_reset(rush_hist_t *self);

/* Number of values recorded. */
uint64_t rush_hist_count(const rush_hist_t *self);
/* Smallest and largest values recorded, exact (0 when empty). */
uint64_t rush_hist_min(const rush_hist_t *self);
uint64_t rush_hist_max(const rush_hist_t *self);
/* Arithmetic mean of the values (exact sum / count; 0 when empty). */
double rush_hist_mean(const rush_hist_t *self);
/* The value at percentile p (0 < p <= 100): the smallest recorded value v
 * such that at least p% of the values are <= v, as its bucket's midpoint
 * clamped to [min, max]; p >= 100 is max. 0 when empty. */
uint64_t rush_hist_percentile(const rush_hist_t *self, double p);

/* Bucket arithmetic, exposed for the tests: the bucket of a value, and the
 * lowest and highest value a bucket holds. */
unsigned rush_hist_bucket_of(uint64_t value);
uint64_t rush_hist_bucket_low(unsigned bucket);
uint64_t rush_hist_bucket_high(unsigned bucket);

#endif
