/*
 * test_worker_store.c - the tix Redis library (sale-worker/tix.lua) and the
 * store that calls it (worker_store.h), against a real redis-server.
 *
 * The store is driven here the way the worker drives it: its descriptor in
 * a zmq_poll, its timers from worker_store_timeout_ms. Every wait is a poll
 * with a deadline.
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
#include "tix_util.h"
#include "worker_store.h"

/* A result, copied out of the callback (its strings are borrowed there). */
typedef struct {
    int done; /* callbacks received */
    tix_err err;
    worker_store_status status;
    uint32_t total, remaining;
    int64_t opens_at_ms, closes_at_ms, now_ms, purchased_at_ms, wait_ms;
    bool is_new;
    char order_id[160], request_id[80], log_id[64], detail[256];
} s_res_t;

static th_redis_t s_redis; /* shared by the tests that do not stop it */

static void
s_capture(void *arg, const worker_store_result_t *r)
{
    s_res_t *res = arg;
    res->done++;
    res->err = r->err;
    res->status = r->status;
    res->total = r->total;
    res->remaining = r->remaining;
    res->opens_at_ms = r->opens_at_ms;
    res->closes_at_ms = r->closes_at_ms;
    res->now_ms = r->now_ms;
    res->purchased_at_ms = r->purchased_at_ms;
    res->wait_ms = r->wait_ms;
    res->is_new = r->is_new;
    snprintf(res->order_id, sizeof res->order_id, "%s", r->order_id);
    snprintf(res->request_id, sizeof res->request_id, "%s", r->request_id);
    snprintf(res->log_id, sizeof res->log_id, "%s", r->log_id);
    snprintf(res->detail, sizeof res->detail, "%s", r->detail);
}

/* One turn of the loop the worker runs: poll, handle, timers. */
static void
s_pump(worker_store_t *st, int max_ms)
{
    int wait = worker_store_timeout_ms(st);
    if (wait < 0 || wait > max_ms)
        wait = max_ms;
    zmq_pollitem_t item;
    if (worker_store_pollitem(st, &item)) {
        if (zmq_poll(&item, 1, wait) > 0)
            worker_store_handle(st, item.revents);
    } else {
        zmq_poll(NULL, 0, wait); /* nothing to watch: wait for the store's timer */
    }
    worker_store_tick(st);
}

static bool
s_wait_done(worker_store_t *st, const int *done, int want, int timeout_ms)
{
    int64_t end = tix_now_ms() + timeout_ms;
    while (*done < want && tix_now_ms() < end)
        s_pump(st, 50);
    return *done >= want;
}

static bool
s_wait_ok(worker_store_t *st, bool want, int timeout_ms)
{
    int64_t end = tix_now_ms() + timeout_ms;
    while (worker_store_ok(st) != want && tix_now_ms() < end)
        s_pump(st, 50);
    return worker_store_ok(st) == want;
}

static worker_store_t *
s_store_for(const th_redis_t *r, const worker_store_opts_t *opts)
{
    tix_redis_url_t url;
    char why[200];
    assert_int_equal(tix_redis_url_parse(r->url, &url, why, sizeof why), TIX_OK);
    worker_store_t *st = worker_store_new(&url, opts);
    assert_non_null(st);
    assert_true(s_wait_ok(st, true, 5000));
    return st;
}

/* ---- Synchronous wrappers: issue one call, wait for its callback ---------- */

static void
s_create(worker_store_t *st, const char *sale, uint32_t total, int64_t opens, int64_t closes, s_res_t *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(worker_store_create(st, sale, total, opens, closes, s_capture, res), TIX_OK);
    assert_true(s_wait_done(st, &res->done, 1, 5000));
}

static void
s_buy(worker_store_t *st, const char *sale, const char *user, const char *request_id, s_res_t *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(worker_store_buy(st, sale, user, request_id, s_capture, res), TIX_OK);
    assert_true(s_wait_done(st, &res->done, 1, 5000));
}

static void
s_get_sale(worker_store_t *st, const char *sale, s_res_t *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(worker_store_get_sale(st, sale, s_capture, res), TIX_OK);
    assert_true(s_wait_done(st, &res->done, 1, 5000));
}

static void
s_get_order(worker_store_t *st, const char *sale, const char *user, s_res_t *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(worker_store_get_order(st, sale, user, s_capture, res), TIX_OK);
    assert_true(s_wait_done(st, &res->done, 1, 5000));
}

/* Runs a command on a side connection; returns its integer reply or -1. */
static long long
s_redis_cmd(const th_redis_t *r, const char *fmt, ...)
{
    redisContext *c = th_redis_connect(r);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply && reply->type == REDIS_REPLY_STRING)
        v = atoll(reply->str);
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
    return v;
}

/* Function libraries loaded in r. */
static size_t
s_libraries(const th_redis_t *r)
{
    redisContext *c = th_redis_connect(r);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "FUNCTION LIST");
    assert_true(reply && reply->type == REDIS_REPLY_ARRAY);
    size_t n = reply->elements;
    freeReplyObject(reply);
    redisFree(c);
    return n;
}

static void
s_create_open_sale(worker_store_t *st, const char *sale, uint32_t total)
{
    s_res_t res;
    s_create(st, sale, total, 0, 0, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_CREATED);
}

/* ---- Create and read ------------------------------------------------------ */

static void
test_create_returns_sale_and_second_create_is_already_exists(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_res_t res;
    int64_t now = tix_wall_ms();
    s_create(st, "create-1", 10, now - 1000, now + 3600000, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_CREATED);
    assert_int_equal(res.total, 10);
    assert_int_equal(res.remaining, 10);
    assert_int_equal(res.opens_at_ms, now - 1000);
    assert_int_equal(res.closes_at_ms, now + 3600000);
    assert_true(res.now_ms >= now - 5000 && res.now_ms <= now + 5000); /* Redis's clock, same machine */

    /* A live sale is never reset: buy one, then try to create it again. */
    s_buy(st, "create-1", "u1", "r1", &res);
    assert_int_equal(res.status, WORKER_STORE_PURCHASED);
    s_create(st, "create-1", 99, 0, 0, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_ALREADY_EXISTS);
    s_get_sale(st, "create-1", &res);
    assert_int_equal(res.total, 10);
    assert_int_equal(res.remaining, 9);
    assert_int_equal(s_redis_cmd(&s_redis, "SISMEMBER tix:sales create-1"), 1);
    worker_store_destroy(&st);
    assert_null(st);
}

static void
test_get_sale_and_get_order_of_unknown_sale_are_no_sale(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_res_t res;
    s_get_sale(st, "nowhere", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    s_get_order(st, "nowhere", "u1", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    s_buy(st, "nowhere", "u1", "", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    assert_int_equal(s_redis_cmd(&s_redis, "EXISTS tix:{nowhere}:stock"), 0); /* a miss writes nothing */
    worker_store_destroy(&st);
}

static void
test_get_order_finds_the_order_or_says_no_order(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_res_t bought, res;
    s_create_open_sale(st, "orders", 3);
    s_buy(st, "orders", "alice", "req-a", &bought);
    s_get_order(st, "orders", "alice", &res);
    assert_int_equal(res.status, WORKER_STORE_FOUND);
    assert_string_equal(res.order_id, bought.order_id);
    assert_string_equal(res.request_id, "req-a");
    assert_string_equal(res.log_id, bought.log_id);
    assert_int_equal(res.purchased_at_ms, bought.purchased_at_ms);
    s_get_order(st, "orders", "bob", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_ORDER);
    worker_store_destroy(&st);
}

/* ---- Buying --------------------------------------------------------------- */

static void
test_buy_until_sold_out_sells_exactly_total(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "five", 5);
    bool seen[6] = {false};
    for (int i = 0; i < 8; i++) {
        char user[16];
        snprintf(user, sizeof user, "user-%d", i);
        s_res_t res;
        s_buy(st, "five", user, "", &res);
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
    assert_int_equal(s_redis_cmd(&s_redis, "GET tix:{five}:stock"), 0);
    assert_int_equal(s_redis_cmd(&s_redis, "HLEN tix:{five}:buyers"), 5);
    assert_int_equal(s_redis_cmd(&s_redis, "XLEN tix:{five}:log"), 5);
    s_res_t sale;
    s_get_sale(st, "five", &sale);
    assert_int_equal(sale.remaining, 0);
    worker_store_destroy(&st);
}

static void
test_buy_twice_same_request_returns_same_order(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "twice", 3);
    s_res_t first, again;
    s_buy(st, "twice", "carol", "req-1", &first);
    assert_int_equal(first.status, WORKER_STORE_PURCHASED);
    assert_true(first.is_new);
    s_buy(st, "twice", "carol", "req-1", &again);
    assert_int_equal(again.status, WORKER_STORE_PURCHASED);
    assert_false(again.is_new);
    assert_string_equal(again.order_id, first.order_id);
    assert_string_equal(again.log_id, first.log_id);
    assert_int_equal(again.purchased_at_ms, first.purchased_at_ms);
    assert_int_equal(again.remaining, 2); /* one ticket sold, not two */
    assert_int_equal(s_redis_cmd(&s_redis, "XLEN tix:{twice}:log"), 1);
    worker_store_destroy(&st);
}

static void
test_buy_twice_with_empty_request_id_returns_same_order(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "empty-req", 3);
    s_res_t first, again;
    s_buy(st, "empty-req", "dave", "", &first);
    s_buy(st, "empty-req", "dave", "", &again);
    assert_int_equal(again.status, WORKER_STORE_PURCHASED);
    assert_false(again.is_new);
    assert_string_equal(again.order_id, first.order_id);
    worker_store_destroy(&st);
}

static void
test_buy_with_other_request_is_already_purchased_naming_first_order(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "other-req", 3);
    s_res_t first, other;
    s_buy(st, "other-req", "erin", "req-1", &first);
    s_buy(st, "other-req", "erin", "req-2", &other);
    assert_int_equal(other.status, WORKER_STORE_ALREADY_PURCHASED);
    assert_string_equal(other.order_id, first.order_id);
    assert_int_equal(other.purchased_at_ms, first.purchased_at_ms);
    assert_int_equal(other.remaining, 2);
    worker_store_destroy(&st);
}

static void
test_buyer_retry_after_sold_out_and_close_still_gets_order(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "one", 1);
    s_res_t first, res;
    s_buy(st, "one", "frank", "r", &first);
    s_buy(st, "one", "grace", "r", &res);
    assert_int_equal(res.status, WORKER_STORE_SOLD_OUT);
    s_buy(st, "one", "frank", "r", &res);
    assert_int_equal(res.status, WORKER_STORE_PURCHASED);
    assert_string_equal(res.order_id, first.order_id);
    /* Close it (as if closes_at passed): the retry still gets the order. */
    s_redis_cmd(&s_redis, "HSET tix:{one}:sale closes_at_ms 1");
    s_buy(st, "one", "frank", "r", &res);
    assert_int_equal(res.status, WORKER_STORE_PURCHASED);
    assert_string_equal(res.order_id, first.order_id);
    worker_store_destroy(&st);
}

static void
test_buy_before_open_is_sale_not_open_with_time_to_wait(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_res_t res;
    s_create(st, "later", 4, tix_wall_ms() + 60000, 0, &res);
    assert_int_equal(res.status, WORKER_STORE_CREATED);
    s_buy(st, "later", "henry", "", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_SALE_NOT_OPEN);
    assert_true(res.wait_ms > 50000 && res.wait_ms <= 60000);
    assert_int_equal(res.remaining, 4);
    assert_int_equal(s_redis_cmd(&s_redis, "GET tix:{later}:stock"), 4);
    worker_store_destroy(&st);
}

static void
test_buy_after_close_is_sale_closed(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_res_t res;
    int64_t now = tix_wall_ms();
    s_create(st, "closed", 4, now - 20000, now - 10000, &res);
    s_buy(st, "closed", "ivan", "", &res);
    assert_int_equal(res.status, WORKER_STORE_SALE_CLOSED);
    assert_int_equal(res.remaining, 4);
    assert_int_equal(s_redis_cmd(&s_redis, "HLEN tix:{closed}:buyers"), 0);
    worker_store_destroy(&st);
}

/* ---- Lost data ------------------------------------------------------------- */

static void
test_buy_after_sale_keys_deleted_is_no_sale_not_sold_out(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "wiped", 2);
    s_res_t res;
    s_buy(st, "wiped", "judy", "", &res);
    s_buy(st, "wiped", "ken", "", &res);
    assert_int_equal(res.remaining, 0);
    /* What a Redis that lost its data looks like for this sale. */
    s_redis_cmd(&s_redis, "DEL tix:{wiped}:sale tix:{wiped}:stock tix:{wiped}:buyers tix:{wiped}:log");
    s_buy(st, "wiped", "leo", "", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    s_buy(st, "wiped", "judy", "", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    s_get_sale(st, "wiped", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE);
    worker_store_destroy(&st);
}

static void
test_sale_without_stock_key_is_data_loss_and_blocks_recreate(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "half", 2);
    s_redis_cmd(&s_redis, "DEL tix:{half}:stock");
    s_res_t res;
    s_buy(st, "half", "mia", "", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    assert_non_null(strstr(res.detail, "stock"));
    s_get_sale(st, "half", &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    /* The other way round: a stock left behind without its sale. */
    s_redis_cmd(&s_redis, "DEL tix:{half}:sale");
    s_redis_cmd(&s_redis, "SET tix:{half}:stock 1");
    s_create(st, "half", 2, 0, 0, &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    worker_store_destroy(&st);
}

/* Issue 12 item 1: a sale whose buyers hash or log went missing sells
 * nothing more - before, a deleted buyers hash let a buyer buy again. */
static void
test_buy_when_buyers_or_log_disagree_with_stock_is_data_loss(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "nobuyers", 3);
    s_res_t res;
    s_buy(st, "nobuyers", "A", "r-1", &res);
    assert_int_equal(th_order_seq(res.order_id, "nobuyers"), 1);
    s_redis_cmd(&s_redis, "DEL tix:{nobuyers}:buyers");
    s_buy(st, "nobuyers", "A", "r-2", &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS); /* not nobuyers:2 */
    assert_non_null(strstr(res.detail, "0 buyers and 1 log entries"));
    s_buy(st, "nobuyers", "B", "", &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    assert_int_equal(s_redis_cmd(&s_redis, "GET tix:{nobuyers}:stock"), 2); /* nothing sold */
    assert_int_equal(s_redis_cmd(&s_redis, "XLEN tix:{nobuyers}:log"), 1);

    s_create_open_sale(st, "nolog", 3);
    s_buy(st, "nolog", "A", "r-1", &res);
    s_redis_cmd(&s_redis, "DEL tix:{nolog}:log");
    s_buy(st, "nolog", "B", "", &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    s_buy(st, "nolog", "A", "r-1", &res); /* not even the held order: the sale is unsound */
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    worker_store_destroy(&st);
}

/* Issue 12 item 1: CreateSale over a deleted sale hash and stock whose
 * buyers or log are left is refused - it would reissue held order ids. */
static void
test_create_over_left_buyers_or_log_is_data_loss(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "debris", 2);
    s_res_t res;
    s_buy(st, "debris", "A", "", &res);
    assert_int_equal(th_order_seq(res.order_id, "debris"), 1);
    s_redis_cmd(&s_redis, "DEL tix:{debris}:sale tix:{debris}:stock");
    s_create(st, "debris", 2, 0, 0, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    assert_non_null(strstr(res.detail, "buyers hash or order log"));
    s_redis_cmd(&s_redis, "DEL tix:{debris}:buyers"); /* the log alone is enough */
    s_create(st, "debris", 2, 0, 0, &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    assert_int_equal(s_redis_cmd(&s_redis, "EXISTS tix:{debris}:sale"), 0);
    s_buy(st, "debris", "B", "", &res);
    assert_int_equal(res.status, WORKER_STORE_NO_SALE); /* nobody got debris:1 again */
    /* With every key gone the id is free again. */
    s_redis_cmd(&s_redis, "DEL tix:{debris}:log");
    s_create(st, "debris", 2, 0, 0, &res);
    assert_int_equal(res.status, WORKER_STORE_CREATED);
    worker_store_destroy(&st);
}

/* ---- The library and the connection -------------------------------------- */

static void
test_function_flush_then_buy_reloads_library_and_succeeds(void **state)
{
    (void) state;
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "flushed", 3);
    s_redis_cmd(&s_redis, "FUNCTION FLUSH");
    assert_int_equal(s_libraries(&s_redis), 0);
    /* Several calls meet the missing function at once: all succeed. */
    s_res_t res[3] = {{0}};
    const char *users[3] = {"nina", "oscar", "paul"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(worker_store_buy(st, "flushed", users[i], "", s_capture, &res[i]), TIX_OK);
    for (int i = 0; i < 3; i++) {
        assert_true(s_wait_done(st, &res[i].done, 1, 5000));
        assert_int_equal(res[i].err, TIX_OK);
        assert_int_equal(res[i].status, WORKER_STORE_PURCHASED);
    }
    assert_int_equal(s_libraries(&s_redis), 1);
    worker_store_destroy(&st);
}

static void
test_many_calls_are_in_flight_at_once_and_never_oversell(void **state)
{
    (void) state;
    enum { CALLS = 300, TOTAL = 100 };
    worker_store_t *st = s_store_for(&s_redis, NULL);
    s_create_open_sale(st, "rush", TOTAL);
    s_res_t *res = xcalloc(CALLS, sizeof *res);
    for (int i = 0; i < CALLS; i++) {
        char user[16];
        snprintf(user, sizeof user, "rusher-%d", i);
        assert_int_equal(worker_store_buy(st, "rush", user, "", s_capture, &res[i]), TIX_OK);
    }
    /* All sent before a single reply was read: pipelined, not one by one. */
    assert_int_equal(worker_store_in_flight(st), CALLS);
    int purchased = 0, sold_out = 0;
    bool seen[TOTAL + 1] = {false};
    for (int i = 0; i < CALLS; i++) {
        assert_true(s_wait_done(st, &res[i].done, 1, 10000));
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
    s_res_t res = {0};
    for (int i = 0; i < 5; i++)
        s_pump(st, 50);
    assert_false(worker_store_ok(st));
    assert_int_equal(worker_store_buy(st, "x", "u", "", s_capture, &res), TIX_ERR_UNAVAILABLE);
    assert_int_equal(worker_store_get_sale(st, "x", s_capture, &res), TIX_ERR_UNAVAILABLE);
    worker_store_destroy(&st);
    assert_int_equal(res.done, 0);
}

static void
test_redis_stopped_fails_pending_calls_then_reconnects_after_restart(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r));
    worker_store_t *st = s_store_for(&r, NULL);
    s_create_open_sale(st, "phoenix", 10);
    s_res_t first;
    s_buy(st, "phoenix", "quinn", "req-q", &first);
    assert_int_equal(first.status, WORKER_STORE_PURCHASED);

    /* Calls queued but not yet written when Redis goes away. */
    s_res_t pending[4] = {{0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(worker_store_buy(st, "phoenix", "rita", "", s_capture, &pending[i]), TIX_OK);
    th_redis_stop(&r);
    for (int i = 0; i < 4; i++) {
        assert_true(s_wait_done(st, &pending[i].done, 1, 5000));
        assert_int_equal(pending[i].done, 1);
        assert_int_equal(pending[i].err, TIX_ERR_UNAVAILABLE);
    }
    assert_false(worker_store_ok(st));
    s_res_t refused = {0};
    assert_int_equal(worker_store_buy(st, "phoenix", "rita", "", s_capture, &refused), TIX_ERR_UNAVAILABLE);

    /* Back, with its AOF: the store reconnects by itself, data intact. */
    assert_true(th_redis_restart(&r));
    assert_true(s_wait_ok(st, true, 2 * WORKER_STORE_BACKOFF_MAX_MS + 3000));
    s_res_t again;
    s_buy(st, "phoenix", "quinn", "req-q", &again);
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
    worker_store_t *st = s_store_for(&r, &opts);
    s_create_open_sale(st, "frozen", 5);
    kill(r.pid, SIGSTOP);
    s_res_t res = {0};
    int64_t start = tix_now_ms();
    assert_int_equal(worker_store_buy(st, "frozen", "sam", "", s_capture, &res), TIX_OK);
    assert_true(s_wait_done(st, &res.done, 1, 3000));
    int64_t took = tix_now_ms() - start;
    assert_int_equal(res.err, TIX_ERR_UNAVAILABLE);
    assert_true(took >= 250 && took < 2000);
    assert_false(worker_store_ok(st));
    kill(r.pid, SIGCONT);
    assert_true(s_wait_ok(st, true, 2 * WORKER_STORE_BACKOFF_MAX_MS + 3000));
    s_buy(st, "frozen", "sam", "", &res);
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
    s_redis_cmd(&r, "ACL SETUSER tixw on >s3cr@t ~* &* +@all");
    char text[128];
    snprintf(text, sizeof text, "redis://tixw:s3cr%%40t@127.0.0.1:%d/3", r.port);
    tix_redis_url_t url;
    char why[200];
    assert_int_equal(tix_redis_url_parse(text, &url, why, sizeof why), TIX_OK);
    assert_string_equal(url.password, "s3cr@t");
    worker_store_t *st = worker_store_new(&url, NULL);
    assert_true(s_wait_ok(st, true, 5000));
    s_create_open_sale(st, "in-db3", 1);
    assert_int_equal(s_redis_cmd(&r, "EXISTS tix:{in-db3}:sale"), 0); /* not in db 0 */
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
    assert_false(s_wait_ok(st, true, 700));
    worker_store_destroy(&st);

    /* Nor does a user that may not load the library: no calls without it. */
    s_redis_cmd(&r, "ACL SETUSER noload on >pw ~* &* +@all -function");
    snprintf(text, sizeof text, "redis://noload:pw@127.0.0.1:%d", r.port);
    assert_int_equal(tix_redis_url_parse(text, &url, why, sizeof why), TIX_OK);
    st = worker_store_new(&url, NULL);
    assert_false(s_wait_ok(st, true, 700));
    worker_store_destroy(&st);
    th_redis_stop(&r);
}

static int
s_setup(void **state)
{
    (void) state;
    signal(SIGPIPE, SIG_IGN); /* as tix_signals_install does in the worker */
    return th_redis_start(&s_redis) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    th_redis_stop(&s_redis);
    return 0;
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
        cmocka_unit_test(test_function_flush_then_buy_reloads_library_and_succeeds),
        cmocka_unit_test(test_many_calls_are_in_flight_at_once_and_never_oversell),
        cmocka_unit_test(test_calls_when_down_fail_at_once_and_never_call_back),
        cmocka_unit_test(test_redis_stopped_fails_pending_calls_then_reconnects_after_restart),
        cmocka_unit_test(test_stalled_redis_fails_calls_after_stall_timeout_then_recovers),
        cmocka_unit_test(test_url_credentials_and_database_are_used_and_refusals_keep_store_down),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
