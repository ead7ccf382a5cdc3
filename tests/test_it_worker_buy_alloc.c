/*
 * test_it_worker_buy_alloc.c - the worker's store buys in batches without
 * allocating per purchase: ALLOC_BATCHES batches of ALLOC_BATCH buys of one
 * sale (FCALL tix_buy_many), after a warm-up, against a real redis-server,
 * with every malloc, calloc and realloc of this thread counted from the
 * buys' queuing to their last answer (harness/alloc_count.h).
 *
 * The store runs on this thread (harness/store_driver.h), as in the worker;
 * Redis is another process. Measured: 12.1 allocations per purchase before
 * the reply arena (worker_store_arena.h; hiredis's reader: one calloc per
 * reply object and one malloc per string), 0.05 after: ~3 per call, none
 * per purchase (hiredis's callback record per command, and now and then
 * its buffers' growth).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "harness.h"
#include "redis_fixture.h"
#include "store_driver.h"
#include "worker_store.h"

#define ALLOC_BATCH 64    /* buys per batch: one tix_buy_many each */
#define ALLOC_BATCHES 40  /* batches counted */
#define ALLOC_WARMUP 4    /* batches first, not counted */
#define ALLOC_PER_BUY 0.1 /* the bound: a few allocations per call, none per buy */

/* One batch of fresh users' buys, answered; counted when count is set. */
static void
s_batch(worker_store_t *st, int round, int count)
{
    static store_driver_res_t res[ALLOC_BATCH];
    static char users[ALLOC_BATCH][32];
    for (int i = 0; i < ALLOC_BATCH; i++) {
        snprintf(users[i], sizeof users[i], "u%d-%d", round, i);
        memset(&res[i], 0, sizeof res[i]);
    }
    th_alloc_counting = count;
    for (int i = 0; i < ALLOC_BATCH; i++)
        assert_int_equal(worker_store_buy(st, "alloc", users[i], "", store_driver_capture, &res[i]), TIX_OK);
    bool done = store_driver_wait_done(st, &res[ALLOC_BATCH - 1].done, 1, 10000);
    th_alloc_counting = 0;
    assert_true(done);
    for (int i = 0; i < ALLOC_BATCH; i++) {
        assert_int_equal(res[i].done, 1);
        assert_int_equal(res[i].err, TIX_OK);
        assert_int_equal(res[i].status, WORKER_STORE_PURCHASED);
        assert_true(res[i].order_id[0] != '\0');
    }
}

static void
test_batched_buys_allocate_nothing_per_purchase(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "alloc", 1000000);
    for (int r = 0; r < ALLOC_WARMUP; r++)
        s_batch(st, r, 0);
    worker_store_batch_stats_t before, after;
    worker_store_batch_stats(st, &before);
    uint64_t allocs = th_allocs;
    for (int r = ALLOC_WARMUP; r < ALLOC_WARMUP + ALLOC_BATCHES; r++)
        s_batch(st, r, 1);
    allocs = th_allocs - allocs;
    worker_store_batch_stats(st, &after);
    assert_int_equal(after.calls - before.calls, ALLOC_BATCHES); /* one FCALL per batch */
    double per_buy = (double) allocs / (ALLOC_BATCH * ALLOC_BATCHES);
    fprintf(stderr, "%llu allocations for %d purchases in %d calls: %.3f per purchase\n", (unsigned long long) allocs,
            ALLOC_BATCH * ALLOC_BATCHES, ALLOC_BATCHES, per_buy);
    assert_true(per_buy <= ALLOC_PER_BUY);
    worker_store_destroy(&st);
}

int
main(void)
{
    th_alloc_count_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_buys_allocate_nothing_per_purchase),
    };
    return cmocka_run_group_tests(tests, redis_fixture_setup, redis_fixture_teardown);
}
