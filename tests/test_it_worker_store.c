/*
 * test_it_worker_store.c - the tix Redis library (sale-worker/tix.lua) and
 * the store that calls it (worker_store.h), against a real redis-server:
 * creating, reading, buying, and data found lost. The library's loading and
 * the connection are in test_it_worker_store_link.c.
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

/* ---- Create and read ------------------------------------------------------ */

static void
test_create_returns_sale_and_second_create_is_already_exists(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_res_t res;
    int64_t now = tix_wall_ms();
    store_driver_create(st, "create-1", 10, now - 1000, now + 3600000, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_CREATED);
    assert_int_equal(res.total, 10);
    assert_int_equal(res.remaining, 10);
    assert_int_equal(res.opens_at_ms, now - 1000);
    assert_int_equal(res.closes_at_ms, now + 3600000);
    assert_true(res.now_ms >= now - 5000 && res.now_ms <= now + 5000); /* Redis's clock, same machine */

    /* A live sale is never reset: buy one, then try to create it again. */
    store_driver_buy(st, "create-1", "u1", "r1", &res);
    assert_int_equal(res.status, WORKER_STORE_PURCHASED);
    store_driver_create(st, "create-1", 99, 0, 0, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_ALREADY_EXISTS);
    store_driver_get_sale(st, "create-1", &res);
    assert_int_equal(res.total, 10);
    assert_int_equal(res.remaining, 9);
    assert_int_equal(store_driver_redis_cmd(redis, "SISMEMBER tix:sales create-1"), 1);
    worker_store_destroy(&st);
    assert_null(st);
}

static void
test_get_sale_and_get_order_of_unknown_sale_are_no_sale(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_res_t res;
    store_driver_get_sale(st, "nowhere", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    store_driver_get_order(st, "nowhere", "u1", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    store_driver_buy(st, "nowhere", "u1", "", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    assert_int_equal(store_driver_redis_cmd(redis, "EXISTS tix:{nowhere}:stock"), 0); /* a miss writes nothing */
    worker_store_destroy(&st);
}

static void
test_get_order_finds_the_order_or_says_no_order(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_res_t bought, res;
    store_driver_create_open_sale(st, "orders", 3);
    store_driver_buy(st, "orders", "alice", "req-a", &bought);
    store_driver_get_order(st, "orders", "alice", &res);
    assert_int_equal(res.status, WORKER_STORE_FOUND);
    assert_string_equal(res.order_id, bought.order_id);
    assert_string_equal(res.request_id, "req-a");
    assert_string_equal(res.log_id, bought.log_id);
    assert_int_equal(res.purchased_at_ms, bought.purchased_at_ms);
    store_driver_get_order(st, "orders", "bob", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_ORDER);
    worker_store_destroy(&st);
}

/* ---- Buying --------------------------------------------------------------- */

static void
test_buy_until_sold_out_sells_exactly_total(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "five", 5);
    bool seen[6] = {false};
    for (int i = 0; i < 8; i++) {
        char user[16];
        snprintf(user, sizeof user, "user-%d", i);
        store_driver_res_t res;
        store_driver_buy(st, "five", user, "", &res);
        assert_int_equal(res.err, TIX_OK);
        if (i < 5) {
            assert_int_equal(res.status, WORKER_STORE_PURCHASED);
            assert_true(res.is_new);
            assert_int_equal(res.remaining, 4 - i);
            long seq = th_order_seq(res.order_id, "five");
            assert_true(seq >= 1 && seq <= 5 && !seen[seq]);
            seen[seq] = true;
            assert_true(res.purchased_at_ms > 0 && res.log_id[0]);
        } else {
            assert_int_equal(res.status, WORKER_STORE_SOLD_OUT);
            assert_int_equal(res.remaining, 0);
            assert_string_equal(res.order_id, "");
        }
    }
    assert_int_equal(store_driver_redis_cmd(redis, "GET tix:{five}:stock"), 0);
    assert_int_equal(store_driver_redis_cmd(redis, "HLEN tix:{five}:buyers"), 5);
    assert_int_equal(store_driver_redis_cmd(redis, "XLEN tix:{five}:log"), 5);
    store_driver_res_t sale;
    store_driver_get_sale(st, "five", &sale);
    assert_int_equal(sale.remaining, 0);
    worker_store_destroy(&st);
}

static void
test_buy_twice_same_request_returns_same_order(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "twice", 3);
    store_driver_res_t first, again;
    store_driver_buy(st, "twice", "carol", "req-1", &first);
    assert_int_equal(first.status, WORKER_STORE_PURCHASED);
    assert_true(first.is_new);
    store_driver_buy(st, "twice", "carol", "req-1", &again);
    assert_int_equal(again.status, WORKER_STORE_PURCHASED);
    assert_false(again.is_new);
    assert_string_equal(again.order_id, first.order_id);
    assert_string_equal(again.log_id, first.log_id);
    assert_int_equal(again.purchased_at_ms, first.purchased_at_ms);
    assert_int_equal(again.remaining, 2); /* one ticket sold, not two */
    assert_int_equal(store_driver_redis_cmd(redis, "XLEN tix:{twice}:log"), 1);
    worker_store_destroy(&st);
}

static void
test_buy_twice_with_empty_request_id_returns_same_order(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "empty-req", 3);
    store_driver_res_t first, again;
    store_driver_buy(st, "empty-req", "dave", "", &first);
    store_driver_buy(st, "empty-req", "dave", "", &again);
    assert_int_equal(again.status, WORKER_STORE_PURCHASED);
    assert_false(again.is_new);
    assert_string_equal(again.order_id, first.order_id);
    worker_store_destroy(&st);
}

static void
test_buy_with_other_request_is_already_purchased_naming_first_order(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "other-req", 3);
    store_driver_res_t first, other;
    store_driver_buy(st, "other-req", "erin", "req-1", &first);
    store_driver_buy(st, "other-req", "erin", "req-2", &other);
    assert_int_equal(other.status, WORKER_STORE_ALREADY_PURCHASED);
    assert_string_equal(other.order_id, first.order_id);
    assert_int_equal(other.purchased_at_ms, first.purchased_at_ms);
    assert_int_equal(other.remaining, 2);
    worker_store_destroy(&st);
}

static void
test_buyer_retry_after_sold_out_and_close_still_gets_order(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "one", 1);
    store_driver_res_t first, res;
    store_driver_buy(st, "one", "frank", "r", &first);
    store_driver_buy(st, "one", "grace", "r", &res);
    assert_int_equal(res.status, WORKER_STORE_SOLD_OUT);
    store_driver_buy(st, "one", "frank", "r", &res);
    assert_int_equal(res.status, WORKER_STORE_PURCHASED);
    assert_string_equal(res.order_id, first.order_id);
    /* Close it (as if closes_at passed): the retry still gets the order. */
    store_driver_redis_cmd(redis, "HSET tix:{one}:sale closes_at_ms 1");
    store_driver_buy(st, "one", "frank", "r", &res);
    assert_int_equal(res.status, WORKER_STORE_PURCHASED);
    assert_string_equal(res.order_id, first.order_id);
    worker_store_destroy(&st);
}

static void
test_buy_before_open_is_sale_not_open_with_time_to_wait(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_res_t res;
    store_driver_create(st, "later", 4, tix_wall_ms() + 60000, 0, &res);
    assert_int_equal(res.status, WORKER_STORE_CREATED);
    store_driver_buy(st, "later", "henry", "", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_SALE_NOT_OPEN);
    assert_true(res.wait_ms > 50000 && res.wait_ms <= 60000);
    assert_int_equal(res.remaining, 4);
    assert_int_equal(store_driver_redis_cmd(redis, "GET tix:{later}:stock"), 4);
    worker_store_destroy(&st);
}

static void
test_buy_after_close_is_sale_closed(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_res_t res;
    int64_t now = tix_wall_ms();
    store_driver_create(st, "closed", 4, now - 20000, now - 10000, &res);
    store_driver_buy(st, "closed", "ivan", "", &res);
    assert_int_equal(res.status, WORKER_STORE_SALE_CLOSED);
    assert_int_equal(res.remaining, 4);
    assert_int_equal(store_driver_redis_cmd(redis, "HLEN tix:{closed}:buyers"), 0);
    worker_store_destroy(&st);
}

/* ---- Lost data ------------------------------------------------------------- */

static void
test_buy_after_sale_keys_deleted_is_no_sale_not_sold_out(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "wiped", 2);
    store_driver_res_t res;
    store_driver_buy(st, "wiped", "judy", "", &res);
    store_driver_buy(st, "wiped", "ken", "", &res);
    assert_int_equal(res.remaining, 0);
    /* What a Redis that lost its data looks like for this sale. */
    store_driver_redis_cmd(redis, "DEL tix:{wiped}:sale tix:{wiped}:stock tix:{wiped}:buyers tix:{wiped}:log");
    store_driver_buy(st, "wiped", "leo", "", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    store_driver_buy(st, "wiped", "judy", "", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    store_driver_get_sale(st, "wiped", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    worker_store_destroy(&st);
}

static void
test_sale_without_stock_key_is_data_loss_and_blocks_recreate(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "half", 2);
    store_driver_redis_cmd(redis, "DEL tix:{half}:stock");
    store_driver_res_t res;
    store_driver_buy(st, "half", "mia", "", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    assert_non_null(strstr(res.detail, "stock"));
    store_driver_get_sale(st, "half", &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    /* The other way round: a stock left behind without its sale. */
    store_driver_redis_cmd(redis, "DEL tix:{half}:sale");
    store_driver_redis_cmd(redis, "SET tix:{half}:stock 1");
    store_driver_create(st, "half", 2, 0, 0, &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    worker_store_destroy(&st);
}

/* Issue 12 item 1: a sale whose buyers hash or log went missing sells
 * nothing more - before, a deleted buyers hash let a buyer buy again. */
static void
test_buy_when_buyers_or_log_disagree_with_stock_is_data_loss(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "nobuyers", 3);
    store_driver_res_t res;
    store_driver_buy(st, "nobuyers", "A", "r-1", &res);
    assert_int_equal(th_order_seq(res.order_id, "nobuyers"), 1);
    store_driver_redis_cmd(redis, "DEL tix:{nobuyers}:buyers");
    store_driver_buy(st, "nobuyers", "A", "r-2", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS); /* not nobuyers:2 */
    assert_non_null(strstr(res.detail, "0 buyers and 1 log entries"));
    store_driver_buy(st, "nobuyers", "B", "", &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    assert_int_equal(store_driver_redis_cmd(redis, "GET tix:{nobuyers}:stock"), 2); /* nothing sold */
    assert_int_equal(store_driver_redis_cmd(redis, "XLEN tix:{nobuyers}:log"), 1);

    store_driver_create_open_sale(st, "nolog", 3);
    store_driver_buy(st, "nolog", "A", "r-1", &res);
    store_driver_redis_cmd(redis, "DEL tix:{nolog}:log");
    store_driver_buy(st, "nolog", "B", "", &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    store_driver_buy(st, "nolog", "A", "r-1", &res); /* not even the held order: the sale is unsound */
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    worker_store_destroy(&st);
}

/* Issue 12 item 1: CreateSale over a deleted sale hash and stock whose
 * buyers or log are left is refused - it would reissue held order ids. */
static void
test_create_over_left_buyers_or_log_is_data_loss(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "debris", 2);
    store_driver_res_t res;
    store_driver_buy(st, "debris", "A", "", &res);
    assert_int_equal(th_order_seq(res.order_id, "debris"), 1);
    store_driver_redis_cmd(redis, "DEL tix:{debris}:sale tix:{debris}:stock");
    store_driver_create(st, "debris", 2, 0, 0, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    assert_non_null(strstr(res.detail, "buyers hash or order log"));
    store_driver_redis_cmd(redis, "DEL tix:{debris}:buyers"); /* the log alone is enough */
    store_driver_create(st, "debris", 2, 0, 0, &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    assert_int_equal(store_driver_redis_cmd(redis, "EXISTS tix:{debris}:sale"), 0);
    store_driver_buy(st, "debris", "B", "", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE); /* nobody got debris:1 again */
    /* With every key gone the id is free again. */
    store_driver_redis_cmd(redis, "DEL tix:{debris}:log");
    store_driver_create(st, "debris", 2, 0, 0, &res);
    assert_int_equal(res.status, WORKER_STORE_CREATED);
    worker_store_destroy(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_returns_sale_and_second_create_is_already_exists),
        cmocka_unit_test(test_get_sale_and_get_order_of_unknown_sale_are_no_sale),
        cmocka_unit_test(test_get_order_finds_the_order_or_says_no_order),
        cmocka_unit_test(test_buy_until_sold_out_sells_exactly_total),
        cmocka_unit_test(test_buy_twice_same_request_returns_same_order),
        cmocka_unit_test(test_buy_twice_with_empty_request_id_returns_same_order),
        cmocka_unit_test(test_buy_with_other_request_is_already_purchased_naming_first_order),
        cmocka_unit_test(test_buyer_retry_after_sold_out_and_close_still_gets_order),
        cmocka_unit_test(test_buy_before_open_is_sale_not_open_with_time_to_wait),
        cmocka_unit_test(test_buy_after_close_is_sale_closed),
        cmocka_unit_test(test_buy_after_sale_keys_deleted_is_no_sale_not_sold_out),
        cmocka_unit_test(test_sale_without_stock_key_is_data_loss_and_blocks_recreate),
        cmocka_unit_test(test_buy_when_buyers_or_log_disagree_with_stock_is_data_loss),
        cmocka_unit_test(test_create_over_left_buyers_or_log_is_data_loss),
    };
    return cmocka_run_group_tests(tests, redis_fixture_setup, redis_fixture_teardown);
}
