/*
 * test_rush_hist.c - tix-rush's latency histogram.
 *
 * The report's percentiles come from here, so they are checked against the
 * exact nearest-rank percentile of the same samples (sorted in the test) on
 * known distributions: every one within 1%. Also: the bucket arithmetic
 * covers the whole uint64 range without gaps, merge equals recording
 * everything in one histogram, and min/max/mean are exact.
 * (No libm here: the distributions are drawn with arithmetic only.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rush_hist.h"
#include "tix_util.h"
#include "xorshift.h"

static uint64_t s_seed = 0x9E3779B97F4A7C15ULL; /* xorshift_next\'s state */

/* Uniform in (0, 1]. */
static double
s_unit(void)
{
    return ((double) (xorshift_next(&s_seed) >> 11) + 1.0) / 9007199254740992.0;
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static double
s_abs(double x)
{
    return x < 0 ? -x : x;
}

/* Natural logarithm for x > 0: x = m * 2^e with m in [1, 2), then
 * ln m = 2 atanh((m - 1) / (m + 1)) by its series (|t| <= 1/3 converges in
 * a few terms). Accurate to ~1e-12, which is all a test distribution needs. */
static double
s_ln(double x)
{
    int e = 0;
    while (x >= 2.0)
        x /= 2.0, e++;
    while (x < 1.0)
        x *= 2.0, e--;
    double t = (x - 1.0) / (x + 1.0), t2 = t * t, term = t, sum = 0.0;
    for (int k = 1; k < 40; k += 2, term *= t2)
        sum += term / k;
    return 2.0 * sum + e * 0.69314718055994530942;
}

/* The nearest-rank percentile of sorted[0..n). */
static uint64_t
s_exact(const uint64_t *sorted, size_t n, double p)
{
    double r = p / 100.0 * (double) n;
    size_t rank = (size_t) r;
    if ((double) rank < r)
        rank++;
    if (rank < 1)
        rank = 1;
    return sorted[(rank > n ? n : rank) - 1];
}

typedef uint64_t s_gen_fn(void);

static uint64_t
s_uniform(void)
{
    return 1 + xorshift_next(&s_seed) % 1000000; /* 1 us .. 1 s */
}

static uint64_t
s_exponential(void)
{
    return (uint64_t) (-s_ln(s_unit()) * 2000.0); /* mean 2 ms, long tail */
}

static uint64_t
s_log_uniform(void)
{
    /* Spread evenly over six orders of magnitude: every octave of the
     * histogram's log range gets samples. */
    unsigned k = (unsigned) (xorshift_next(&s_seed) % 24);
    return ((uint64_t) 1 << k) + xorshift_next(&s_seed) % ((uint64_t) 1 << k);
}

static uint64_t
s_pareto(void)
{
    return (uint64_t) (100.0 / s_unit()); /* alpha 1: the heaviest tail we can draw */
}

static uint64_t
s_normal(void)
{
    /* Irwin-Hall: twelve uniforms add up to nearly a normal (mean 6, sd 1). */
    double sum = 0;
    for (int i = 0; i < 12; i++)
        sum += s_unit();
    return (uint64_t) (5000.0 + 800.0 * (sum - 6.0));
}

static uint64_t
s_bimodal(void)
{
    /* A fast path and a slow path (queued behind admission control). */
    return xorshift_next(&s_seed) % 10 ? 200 + xorshift_next(&s_seed) % 300 : 150000 + xorshift_next(&s_seed) % 50000;
}

/* Records n samples of gen and checks p50..p99.99 and max against the exact
 * values, within 1%. */
static void
s_check_distribution(s_gen_fn *gen, size_t n)
{
    uint64_t *v = xmalloc(n * sizeof *v);
    rush_hist_t *h = rush_hist_new();
    for (size_t i = 0; i < n; i++) {
        v[i] = gen();
        rush_hist_record(h, v[i]);
    }
    qsort(v, n, sizeof *v, s_cmp_u64);
    static const double ps[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double exact = (double) s_exact(v, n, ps[i]);
        double got = (double) rush_hist_percentile(h, ps[i]);
        if (s_abs(got - exact) > 0.01 * exact + 0.5)
            fail_msg("p%g: histogram %.0f, exact %.0f", ps[i], got, exact);
    }
    assert_int_equal(rush_hist_max(h), v[n - 1]);
    assert_int_equal(rush_hist_percentile(h, 100), v[n - 1]);
    assert_int_equal(rush_hist_min(h), v[0]);
    assert_int_equal(rush_hist_count(h), n);
    rush_hist_destroy(&h);
    free(v);
}

static void
test_hist_percentiles_within_1_percent_uniform(void **state)
{
    (void) state;
    s_check_distribution(s_uniform, 200000);
}

static void
test_hist_percentiles_within_1_percent_exponential(void **state)
{
    (void) state;
    s_check_distribution(s_exponential, 200000);
}

static void
test_hist_percentiles_within_1_percent_log_uniform(void **state)
{
    (void) state;
    s_check_distribution(s_log_uniform, 200000);
}

static void
test_hist_percentiles_within_1_percent_pareto(void **state)
{
    (void) state;
    s_check_distribution(s_pareto, 200000);
}

static void
test_hist_percentiles_within_1_percent_normal(void **state)
{
    (void) state;
    s_check_distribution(s_normal, 200000);
}

static void
test_hist_percentiles_within_1_percent_bimodal(void **state)
{
    (void) state;
    s_check_distribution(s_bimodal, 100000);
}

static void
test_hist_small_values_are_exact(void **state)
{
    (void) state;
    rush_hist_t *h = rush_hist_new();
    for (uint64_t v = 1; v <= 100; v++)
        rush_hist_record(h, v);
    assert_int_equal(rush_hist_percentile(h, 50), 50);
    assert_int_equal(rush_hist_percentile(h, 99), 99);
    assert_int_equal(rush_hist_percentile(h, 1), 1);
    assert_int_equal(rush_hist_percentile(h, 0.001), 1);
    assert_true(s_abs(rush_hist_mean(h) - 50.5) < 1e-9);
    rush_hist_destroy(&h);
}

static void
test_hist_buckets_tile_the_whole_range(void **state)
{
    (void) state;
    unsigned last = rush_hist_bucket_of(UINT64_MAX);
    assert_int_equal(last, RUSH_HIST_BUCKETS - 1);
    assert_int_equal(rush_hist_bucket_high(last), UINT64_MAX);
    assert_int_equal(rush_hist_bucket_low(0), 0);
    for (unsigned b = 0; b < RUSH_HIST_BUCKETS; b++) {
        uint64_t lo = rush_hist_bucket_low(b), hi = rush_hist_bucket_high(b);
        assert_true(lo <= hi);
        assert_int_equal(rush_hist_bucket_of(lo), b);
        assert_int_equal(rush_hist_bucket_of(hi), b);
        if (b + 1 < RUSH_HIST_BUCKETS)
            assert_int_equal(rush_hist_bucket_low(b + 1), hi + 1); /* no gap, no overlap */
        /* Never wider than 1/128 of the values it holds. */
        assert_true((double) (hi - lo) <= (double) lo / 128.0 + 0.5);
    }
}

static void
test_hist_merge_equals_recording_everything_once(void **state)
{
    (void) state;
    rush_hist_t *a = rush_hist_new(), *b = rush_hist_new(), *all = rush_hist_new();
    for (int i = 0; i < 50000; i++) {
        uint64_t v = s_pareto();
        rush_hist_record(i % 3 ? a : b, v);
        rush_hist_record(all, v);
    }
    rush_hist_t *empty = rush_hist_new();
    rush_hist_merge(a, empty); /* merging nothing changes nothing */
    rush_hist_merge(a, b);
    assert_int_equal(rush_hist_count(a), rush_hist_count(all));
    assert_int_equal(rush_hist_max(a), rush_hist_max(all));
    assert_int_equal(rush_hist_min(a), rush_hist_min(all));
    for (double p = 1; p <= 100; p += 0.5)
        assert_int_equal(rush_hist_percentile(a, p), rush_hist_percentile(all, p));
    rush_hist_merge(empty, all); /* into an empty one: min comes from src */
    assert_int_equal(rush_hist_min(empty), rush_hist_min(all));
    rush_hist_destroy(&a);
    rush_hist_destroy(&b);
    rush_hist_destroy(&all);
    rush_hist_destroy(&empty);
}

static void
test_hist_max_is_exact_even_for_huge_values(void **state)
{
    (void) state;
    rush_hist_t *h = rush_hist_new();
    assert_int_equal(rush_hist_max(h), 0);
    assert_int_equal(rush_hist_percentile(h, 99), 0);
    rush_hist_record(h, 123456789012345ULL);
    rush_hist_record(h, 7);
    rush_hist_record(h, UINT64_MAX);
    assert_int_equal(rush_hist_max(h), UINT64_MAX);
    assert_int_equal(rush_hist_min(h), 7);
    assert_int_equal(rush_hist_percentile(h, 100), UINT64_MAX);
    assert_int_equal(rush_hist_percentile(h, 10), 7);
    rush_hist_reset(h);
    assert_int_equal(rush_hist_count(h), 0);
    assert_int_equal(rush_hist_max(h), 0);
    rush_hist_destroy(&h);
    rush_hist_destroy(&h); /* idempotent */
    rush_hist_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_percentiles_within_1_percent_uniform),
        cmocka_unit_test(test_hist_percentiles_within_1_percent_exponential),
        cmocka_unit_test(test_hist_percentiles_within_1_percent_log_uniform),
        cmocka_unit_test(test_hist_percentiles_within_1_percent_pareto),
        cmocka_unit_test(test_hist_percentiles_within_1_percent_normal),
        cmocka_unit_test(test_hist_percentiles_within_1_percent_bimodal),
        cmocka_unit_test(test_hist_small_values_are_exact),
        cmocka_unit_test(test_hist_buckets_tile_the_whole_range),
        cmocka_unit_test(test_hist_merge_equals_recording_everything_once),
        cmocka_unit_test(test_hist_max_is_exact_even_for_huge_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
