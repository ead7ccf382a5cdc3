/*
 * test_it_worker_store_link.c - the worker's store (worker_store.h) and its
 * link to a real redis-server: the library reloaded after FUNCTION FLUSH,
 * calls in flight at once, Redis down, stopped, stalled, and the URL's
 * credentials and database.
 *
 * The store is driven the way the worker drives it (harness/store_driver.h).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "redis_fixture.h"
#include "store_driver.h"
#include "tix_util.h"
#include "worker_store.h"

/* ---- The library and the connection -------------------------------------- */

static void
test_function_flush_then_buy_reloads_library_and_succeeds(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "flushed", 3);
    store_driver_redis_cmd(redis, "FUNCTION FLUSH");
    assert_int_equal(store_driver_libraries(redis), 0);
    /* Several calls meet the missing function at once: all succeed. */
    store_driver_res_t res[3] = {{0}};
    const char *users[3] = {"nina", "oscar", "paul"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(worker_store_buy(st, "flushed", users[i], "", store_driver_capture, &res[i]), TIX_OK);
    for (int i = 0; i < 3; i++) {
        assert_true(store_driver_wait_done(st, &res[i].done, 1, 5000));
        assert_int_equal(res[i].err, TIX_OK);
        assert_int_equal(res[i].status, WORKER_STORE_PURCHASED);
    }
    assert_int_equal(store_driver_libraries(redis), 1);
    worker_store_destroy(&st);
}

static void
test_many_buys_go_in_full_batches_at_once_and_never_oversell(void **state)
{
    th_redis_t *redis = *state;
    enum { CALLS = 300, TOTAL = 100 };
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "rush", TOTAL);
    store_driver_res_t *res = xcalloc(CALLS, sizeof *res);
    for (int i = 0; i < CALLS; i++) {
        char user[16];
        snprintf(user, sizeof user, "rusher-%d", i);
        assert_int_equal(worker_store_buy(st, "rush", user, "", store_driver_capture, &res[i]), TIX_OK);
    }
    /* Queued until the loop turn ends; then, with nothing of the sale in
     * flight, they go at once, in full batches: two calls of 128 before a
     * single reply was read, the last 44 with the answer to the first. */
    assert_int_equal(worker_store_in_flight(st), 0);
    zmq_pollitem_t item;
    assert_true(worker_store_pollitem(st, &item));
    assert_int_equal(worker_store_in_flight(st), 2);
    worker_store_batch_stats_t bs;
    worker_store_batch_stats(st, &bs);
    assert_int_equal(bs.calls, 2);
    assert_int_equal(bs.buys, 2 * WORKER_STORE_BATCH_MAX);
    int purchased = 0, sold_out = 0;
    bool seen[TOTAL + 1] = {false};
    for (int i = 0; i < CALLS; i++) {
        assert_true(store_driver_wait_done(st, &res[i].done, 1, 10000));
        assert_int_equal(res[i].err, TIX_OK);
        if (res[i].status == WORKER_STORE_PURCHASED) {
            long seq = th_order_seq(res[i].order_id, "rush");
            assert_true(seq >= 1 && seq <= TOTAL && !seen[seq]);
            seen[seq] = true;
            purchased++;
        } else {
            assert_int_equal(res[i].status, WORKER_STORE_SOLD_OUT);
            sold_out++;
        }
    }
    assert_int_equal(purchased, TOTAL);
    assert_int_equal(sold_out, CALLS - TOTAL);
    assert_int_equal(worker_store_in_flight(st), 0);
    worker_store_batch_stats(st, &bs);
    assert_int_equal(bs.calls, 3);
    assert_int_equal(bs.buys, CALLS);
    assert_int_equal(bs.max, WORKER_STORE_BATCH_MAX);
    assert_int_equal(bs.sizes[7], 2);
    assert_int_equal(bs.sizes[5], 1); /* 44: 32-63 */
    free(res);
    worker_store_destroy(&st);
}

static void
test_calls_when_down_fail_at_once_and_never_call_back(void **state)
{
    (void) state;
    tix_redis_url_t url;
    char why[200];
    char text[64];
    snprintf(text, sizeof text, "redis://127.0.0.1:%d", th_free_port()); /* nobody listens */
    assert_int_equal(tix_redis_url_parse(text, &url, why, sizeof why), TIX_OK);
    worker_store_t *st = worker_store_new(&url, NULL);
    store_driver_res_t res = {0};
    for (int i = 0; i < 5; i++)
        store_driver_pump(st, 50);
    assert_false(worker_store_ok(st));
    assert_int_equal(worker_store_buy(st, "x", "u", "", store_driver_capture, &res), TIX_ERR_UNAVAILABLE);
    assert_int_equal(worker_store_get_sale(st, "x", store_driver_capture, &res), TIX_ERR_UNAVAILABLE);
    worker_store_destroy(&st);
    assert_int_equal(res.done, 0);
}

static void
test_redis_stopped_fails_pending_calls_then_reconnects_after_restart(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r));
    worker_store_t *st = store_driver_new(&r, NULL);
    store_driver_create_open_sale(st, "phoenix", 10);
    store_driver_res_t first;
    store_driver_buy(st, "phoenix", "quinn", "req-q", &first);
    assert_int_equal(first.status, WORKER_STORE_PURCHASED);

    /* Calls queued but not yet written when Redis goes away. */
    store_driver_res_t pending[4] = {{0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(worker_store_buy(st, "phoenix", "rita", "", store_driver_capture, &pending[i]), TIX_OK);
    th_redis_stop(&r);
    for (int i = 0; i < 4; i++) {
        assert_true(store_driver_wait_done(st, &pending[i].done, 1, 5000));
        assert_int_equal(pending[i].done, 1);
        assert_int_equal(pending[i].err, TIX_ERR_UNAVAILABLE);
    }
    assert_false(worker_store_ok(st));
    store_driver_res_t refused = {0};
    assert_int_equal(worker_store_buy(st, "phoenix", "rita", "", store_driver_capture, &refused), TIX_ERR_UNAVAILABLE);

    /* Back, with its AOF: the store reconnects by itself, data intact. */
    assert_true(th_redis_restart(&r));
    assert_true(store_driver_wait_ok(st, true, 2 * WORKER_STORE_BACKOFF_MAX_MS + 3000));
    store_driver_res_t again;
    store_driver_buy(st, "phoenix", "quinn", "req-q", &again);
    assert_int_equal(again.status, WORKER_STORE_PURCHASED);
    assert_string_equal(again.order_id, first.order_id);
    worker_store_destroy(&st);
    assert_int_equal(refused.done, 0);
    th_redis_stop(&r);
}

static void
test_stalled_redis_fails_calls_after_stall_timeout_then_recovers(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r));
    worker_store_opts_t opts = {.stall_ms = 300, .connect_timeout_ms = 300};
    worker_store_t *st = store_driver_new(&r, &opts);
    store_driver_create_open_sale(st, "frozen", 5);
    kill(r.pid, SIGSTOP);
    store_driver_res_t res = {0};
    int64_t start = tix_now_ms();
    assert_int_equal(worker_store_buy(st, "frozen", "sam", "", store_driver_capture, &res), TIX_OK);
    assert_true(store_driver_wait_done(st, &res.done, 1, 3000));
    int64_t took = tix_now_ms() - start;
    assert_int_equal(res.err, TIX_ERR_UNAVAILABLE);
    assert_true(took >= 250 && took < 2000);
    assert_false(worker_store_ok(st));
    kill(r.pid, SIGCONT);
    assert_true(store_driver_wait_ok(st, true, 2 * WORKER_STORE_BACKOFF_MAX_MS + 3000));
    store_driver_buy(st, "frozen", "sam", "", &res);
    assert_int_equal(res.err, TIX_OK);
    /* The stalled call may have run after all: a retry tells the truth. */
    assert_int_equal(res.status, WORKER_STORE_PURCHASED);
    worker_store_destroy(&st);
    th_redis_stop(&r);
}

static void
test_url_credentials_and_database_are_used_and_refusals_keep_store_down(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r));
    store_driver_redis_cmd(&r, "ACL SETUSER tixw on >s3cr@t ~* &* +@all");
    char text[128];
    snprintf(text, sizeof text, "redis://tixw:s3cr%%40t@127.0.0.1:%d/3", r.port);
    tix_redis_url_t url;
    char why[200];
    assert_int_equal(tix_redis_url_parse(text, &url, why, sizeof why), TIX_OK);
    assert_string_equal(url.password, "s3cr@t");
    worker_store_t *st = worker_store_new(&url, NULL);
    assert_true(store_driver_wait_ok(st, true, 5000));
    store_driver_create_open_sale(st, "in-db3", 1);
    assert_int_equal(store_driver_redis_cmd(&r, "EXISTS tix:{in-db3}:sale"), 0); /* not in db 0 */
    redisContext *c = th_redis_connect(&r);
    redisReply *reply = redisCommand(c, "SELECT 3");
    freeReplyObject(reply);
    reply = redisCommand(c, "EXISTS tix:{in-db3}:sale");
    assert_int_equal(reply->integer, 1);
    freeReplyObject(reply);
    redisFree(c);
    worker_store_destroy(&st);

    /* A wrong password never makes the store ok. */
    snprintf(text, sizeof text, "redis://tixw:wrong@127.0.0.1:%d", r.port);
    assert_int_equal(tix_redis_url_parse(text, &url, why, sizeof why), TIX_OK);
    st = worker_store_new(&url, NULL);
    assert_false(store_driver_wait_ok(st, true, 700));
    worker_store_destroy(&st);

    /* Nor does a user that may not load the library: no calls without it. */
    store_driver_redis_cmd(&r, "ACL SETUSER noload on >pw ~* &* +@all -function");
    snprintf(text, sizeof text, "redis://noload:pw@127.0.0.1:%d", r.port);
    assert_int_equal(tix_redis_url_parse(text, &url, why, sizeof why), TIX_OK);
    st = worker_store_new(&url, NULL);
    assert_false(store_driver_wait_ok(st, true, 700));
    worker_store_destroy(&st);
    th_redis_stop(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_function_flush_then_buy_reloads_library_and_succeeds),
        cmocka_unit_test(test_many_buys_go_in_full_batches_at_once_and_never_oversell),
        cmocka_unit_test(test_calls_when_down_fail_at_once_and_never_call_back),
        cmocka_unit_test(test_redis_stopped_fails_pending_calls_then_reconnects_after_restart),
        cmocka_unit_test(test_stalled_redis_fails_calls_after_stall_timeout_then_recovers),
        cmocka_unit_test(test_url_credentials_and_database_are_used_and_refusals_keep_store_down),
    };
    return cmocka_run_group_tests(tests, redis_fixture_setup, redis_fixture_teardown);
}
