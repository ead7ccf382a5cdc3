/*
 * test_it_lifecycle.c - the life of a sale in the tix Redis library
 * (sale-worker/tix.lua) through the worker's store, against a real
 * redis-server: CancelOrder's rules (retries, a second cancel, unknown
 * orders, buying again, ids unique forever), CloseSale, ListSales paging
 * while sales are created, ListOrders paging, and check_counts with
 * cancels in the log.
 *
 * The store is driven the way the worker drives it (harness/store_driver.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "redis_fixture.h"
#include "store_driver.h"
#include "tix_util.h"
#include "worker_store.h"

/* ---- Calls and what they found ---------------------------------------------- */

#define PAGE_MAX 64

/* A result with the lifecycle's fields, copied out of the callback. */
typedef struct {
    store_driver_res_t base;
    bool sales; /* a list_sales page (else list_orders) */
    uint64_t version;
    int64_t cancelled_at_ms, created_at_ms;
    char reason[300], cursor[80];
    size_t n;
    char ids[PAGE_MAX][80]; /* list_sales: sale ids; list_orders: order ids */
    int64_t cancelled[PAGE_MAX];
    uint32_t remaining[PAGE_MAX];
} s_res_t;

static void
s_capture(void *arg, const worker_store_result_t *r)
{
    s_res_t *res = arg;
    store_driver_capture(&res->base, r);
    res->version = r->version;
    res->cancelled_at_ms = r->cancelled_at_ms;
    res->created_at_ms = r->created_at_ms;
    snprintf(res->reason, sizeof res->reason, "%s", r->reason);
    snprintf(res->cursor, sizeof res->cursor, "%s", r->cursor);
    res->n = r->status == WORKER_STORE_FOUND ? r->nbuyers : 0;
    assert_true(res->n <= PAGE_MAX);
    for (size_t i = 0; i < res->n; i++) {
        if (res->sales) {
            worker_store_sale_t s;
            worker_store_reply_sale_at(r, i, &s);
            snprintf(res->ids[i], sizeof res->ids[i], "%s", s.sale_id);
            res->remaining[i] = s.remaining;
        } else {
            worker_store_order_t o;
            worker_store_reply_order_at(r, i, &o);
            snprintf(res->ids[i], sizeof res->ids[i], "%s", o.order_id);
            res->cancelled[i] = o.cancelled_at_ms;
        }
    }
}

static void
s_wait(worker_store_t *st, s_res_t *res, tix_err sent)
{
    assert_int_equal(sent, TIX_OK);
    assert_true(store_driver_wait_done(st, &res->base.done, 1, 5000));
    assert_int_equal(res->base.err, TIX_OK);
}

static void
s_cancel(worker_store_t *st, const char *sale, const char *user, const char *reason, s_res_t *res)
{
    memset(res, 0, sizeof *res);
    s_wait(st, res, worker_store_cancel(st, sale, user, reason, s_capture, res));
}

static void
s_close(worker_store_t *st, const char *sale, s_res_t *res)
{
    memset(res, 0, sizeof *res);
    s_wait(st, res, worker_store_close(st, sale, s_capture, res));
}

static void
s_list_sales(worker_store_t *st, uint32_t n, const char *token, s_res_t *res)
{
    memset(res, 0, sizeof *res);
    res->sales = true;
    s_wait(st, res, worker_store_list_sales(st, n, token, s_capture, res));
}

static void
s_list_orders(worker_store_t *st, const char *sale, uint32_t n, const char *token, s_res_t *res)
{
    memset(res, 0, sizeof *res);
    s_wait(st, res, worker_store_list_orders(st, sale, n, token, s_capture, res));
}

/* Buys and asserts the outcome; returns the order id in order. */
static void
s_buy(worker_store_t *st, const char *sale, const char *user, const char *req, worker_store_status want,
      char order[160])
{
    store_driver_res_t res;
    store_driver_buy(st, sale, user, req, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, want);
    if (order)
        memcpy(order, res.order_id, sizeof res.order_id);
}

static uint32_t
s_remaining(worker_store_t *st, const char *sale)
{
    store_driver_res_t res;
    store_driver_get_sale(st, sale, &res);
    assert_int_equal(res.status, WORKER_STORE_FOUND);
    return res.remaining;
}

/* ---- CancelOrder --------------------------------------------------------------- */

static void
test_cancel_gives_the_ticket_back_and_every_rule_holds(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "c1", 2);
    char o1[160], o2[160], o3[160], o4[160];
    s_buy(st, "c1", "u1", "r1", WORKER_STORE_PURCHASED, o1);
    s_buy(st, "c1", "u2", "r2", WORKER_STORE_PURCHASED, o2);
    s_buy(st, "c1", "u3", "r3", WORKER_STORE_SOLD_OUT, NULL);

    s_res_t c;
    s_cancel(st, "c1", "u1", "payment failed", &c);
    assert_int_equal(c.base.status, WORKER_STORE_CANCELLED);
    assert_true(c.base.is_new);
    assert_string_equal(c.base.order_id, o1);
    assert_string_equal(c.base.request_id, "r1");
    assert_string_equal(c.reason, "payment failed");
    assert_true(c.cancelled_at_ms >= c.base.purchased_at_ms && c.cancelled_at_ms > 0);
    assert_int_equal(c.version, 1);
    assert_int_equal(s_remaining(st, "c1"), 1);

    /* Twice is once: the same cancelled order, nothing changed. */
    s_res_t again;
    s_cancel(st, "c1", "u1", "other reason", &again);
    assert_int_equal(again.base.status, WORKER_STORE_CANCELLED);
    assert_false(again.base.is_new);
    assert_string_equal(again.base.order_id, o1);
    assert_string_equal(again.reason, "payment failed");
    assert_int_equal(again.cancelled_at_ms, c.cancelled_at_ms);
    assert_int_equal(again.version, 1);
    assert_int_equal(s_remaining(st, "c1"), 1);

    /* A retry of the cancelled request never buys: ORDER_CANCELLED, its order. */
    char got[160];
    s_buy(st, "c1", "u1", "r1", WORKER_STORE_ORDER_CANCELLED, got);
    assert_string_equal(got, o1);
    assert_int_equal(s_remaining(st, "c1"), 1);

    /* Unknown: a user who never bought, and a sale that does not exist. */
    s_cancel(st, "c1", "nobody", "", &c);
    assert_int_equal(c.base.status, WORKER_STORE_NO_ORDER);
    s_cancel(st, "nowhere", "u1", "", &c);
    assert_int_equal(c.base.status, WORKER_STORE_NO_SALE);

    /* The ticket given back goes to the next buyer, under a new id. */
    s_buy(st, "c1", "u3", "r3", WORKER_STORE_PURCHASED, o3);
    assert_string_not_equal(o3, o1);
    assert_string_not_equal(o3, o2);
    s_buy(st, "c1", "u4", "r4", WORKER_STORE_SOLD_OUT, NULL);

    /* u1 buys again with a new request_id once a ticket is back: a new id;
     * the old request still answers its cancelled order. */
    s_cancel(st, "c1", "u3", "", &c);
    assert_int_equal(c.version, 2);
    s_buy(st, "c1", "u1", "r1-again", WORKER_STORE_PURCHASED, o4);
    assert_string_not_equal(o4, o1);
    assert_string_not_equal(o4, o2);
    assert_string_not_equal(o4, o3);
    s_buy(st, "c1", "u1", "r1", WORKER_STORE_ORDER_CANCELLED, got);
    assert_string_equal(got, o1);
    s_buy(st, "c1", "u1", "r1-again", WORKER_STORE_PURCHASED, got);
    assert_string_equal(got, o4);
    /* A second cancel after buying again cancels the live order. */
    s_cancel(st, "c1", "u1", "", &c);
    assert_true(c.base.is_new);
    assert_string_equal(c.base.order_id, o4);

    /* Live = total - stock = buyers; the log holds every sale and cancel. */
    assert_int_equal(th_redis_int(redis, "HLEN tix:{c1}:buyers"), 1);
    assert_int_equal(th_redis_int(redis, "XLEN tix:{c1}:log"), 4 + 3);
    assert_int_equal(th_redis_int(redis, "HGET tix:{c1}:sale cancelled"), 3);
    worker_store_destroy(&st);
}

/* An empty request_id is one request id like any other: once the order a
 * user bought without one is cancelled, a Purchase without one answers the
 * cancelled order; a non-empty request_id buys again. */
static void
test_empty_request_id_retry_after_cancel_is_order_cancelled(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "c-empty", 5);
    char o1[160], got[160];
    s_buy(st, "c-empty", "u1", "", WORKER_STORE_PURCHASED, o1);
    s_res_t c;
    s_cancel(st, "c-empty", "u1", "", &c);
    assert_int_equal(c.base.status, WORKER_STORE_CANCELLED);
    s_buy(st, "c-empty", "u1", "", WORKER_STORE_ORDER_CANCELLED, got);
    assert_string_equal(got, o1);
    s_buy(st, "c-empty", "u1", "fresh", WORKER_STORE_PURCHASED, got);
    assert_string_not_equal(got, o1);
    worker_store_destroy(&st);
}

/* A sale hash written before `seq` existed numbers from total - stock; a
 * cancel must not let that number be handed out again. */
static void
test_ids_stay_unique_for_a_sale_without_seq(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "c-old", 3);
    char o1[160], o2[160], o3[160];
    s_buy(st, "c-old", "u1", "", WORKER_STORE_PURCHASED, o1);
    s_buy(st, "c-old", "u2", "", WORKER_STORE_PURCHASED, o2);
    assert_int_equal(th_redis_int(redis, "HDEL tix:{c-old}:sale seq"), 1); /* as an older tix wrote it */
    s_res_t c;
    s_cancel(st, "c-old", "u2", "", &c);
    assert_int_equal(c.base.status, WORKER_STORE_CANCELLED);
    s_buy(st, "c-old", "u3", "", WORKER_STORE_PURCHASED, o3);
    assert_string_not_equal(o3, o2);
    assert_string_not_equal(o3, o1);
    worker_store_destroy(&st);
}

/* check_counts still catches a deleted buyer or log entry with cancels in
 * the log (XLEN = live + 2 x cancelled). */
static void
test_check_counts_with_cancels_still_catches_lost_keys(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "cc1", 5);
    store_driver_create_open_sale(st, "cc2", 5);
    const char *sales[] = {"cc1", "cc2"};
    for (int s = 0; s < 2; s++) {
        s_buy(st, sales[s], "u1", "", WORKER_STORE_PURCHASED, NULL);
        s_buy(st, sales[s], "u2", "", WORKER_STORE_PURCHASED, NULL);
        s_res_t c;
        s_cancel(st, sales[s], "u1", "", &c);
        s_buy(st, sales[s], "u3", "", WORKER_STORE_PURCHASED, NULL); /* the counts agree */
    }
    assert_int_equal(th_redis_int(redis, "HDEL tix:{cc1}:buyers u2"), 1);
    store_driver_res_t res;
    store_driver_buy(st, "cc1", "u9", "", &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    s_res_t c;
    s_cancel(st, "cc1", "u3", "", &c);
    assert_int_equal(c.base.status, WORKER_STORE_DATA_LOSS);

    redisContext *ctx = th_redis_connect(redis);
    redisReply *first = redisCommand(ctx, "XRANGE tix:{cc2}:log - + COUNT 1");
    assert_true(first && first->elements == 1);
    redisReply *del = redisCommand(ctx, "XDEL tix:{cc2}:log %s", first->element[0]->element[0]->str);
    assert_int_equal(del->integer, 1);
    freeReplyObject(del);
    freeReplyObject(first);
    redisFree(ctx);
    store_driver_buy(st, "cc2", "u9", "", &res);
    assert_int_equal(res.status, WORKER_STORE_DATA_LOSS);
    worker_store_destroy(&st);
}

/* ---- CloseSale ------------------------------------------------------------------ */

static void
test_close_is_idempotent_and_buyers_keep_their_orders(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    int64_t later = tix_wall_ms() + 3600000;
    store_driver_res_t res;
    store_driver_create(st, "cl1", 10, 0, later, &res);
    char o1[160], got[160];
    s_buy(st, "cl1", "u1", "r1", WORKER_STORE_PURCHASED, o1);

    s_res_t c, again;
    s_close(st, "cl1", &c);
    assert_int_equal(c.base.status, WORKER_STORE_CLOSED);
    assert_true(c.base.is_new);
    assert_true(c.base.closes_at_ms > 0 && c.base.closes_at_ms <= c.base.now_ms);
    assert_int_equal(c.base.remaining, 9);
    assert_int_equal(c.version, 1);
    s_close(st, "cl1", &again);
    assert_false(again.base.is_new);
    assert_int_equal(again.base.closes_at_ms, c.base.closes_at_ms);
    assert_int_equal(again.version, 1);

    s_buy(st, "cl1", "u2", "r2", WORKER_STORE_SALE_CLOSED, NULL);
    s_buy(st, "cl1", "u1", "r1", WORKER_STORE_PURCHASED, got);
    assert_string_equal(got, o1);

    /* A sale that closed on its own keeps its earlier close. */
    int64_t now = tix_wall_ms();
    store_driver_create(st, "cl2", 10, 0, now - 1000, &res);
    s_close(st, "cl2", &c);
    assert_false(c.base.is_new);
    assert_int_equal(c.base.closes_at_ms, now - 1000);

    s_close(st, "nowhere", &c);
    assert_int_equal(c.base.status, WORKER_STORE_NO_SALE);
    worker_store_destroy(&st);
}

/* ---- ListSales and ListOrders ------------------------------------------------------ */

#define LIST_SALES 40

static void
test_list_sales_lists_every_sale_once_while_sales_are_created(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    char id[32];
    for (int i = 0; i < LIST_SALES; i++) {
        snprintf(id, sizeof id, "ls-%03d", i * 2); /* even numbers; odd ones come while listing */
        store_driver_create_open_sale(st, id, 1);
    }
    s_buy(st, "ls-000", "u", "", WORKER_STORE_PURCHASED, NULL);
    int seen[2 * LIST_SALES + 10] = {0}, pages = 0, created = 0;
    char token[80] = "";
    do {
        s_res_t page;
        s_list_sales(st, 7, token, &page);
        assert_int_equal(page.base.status, WORKER_STORE_FOUND);
        assert_true(page.n <= 7);
        for (size_t i = 0; i < page.n; i++) {
            int n;
            if (sscanf(page.ids[i], "ls-%d", &n) != 1)
                continue; /* another test's sale */
            seen[n]++;
            if (n == 0)
                assert_int_equal(page.remaining[i], 0);
        }
        snprintf(token, sizeof token, "%s", page.cursor);
        /* Between pages: one sale before the cursor, one after. */
        snprintf(id, sizeof id, "ls-%03d", 2 * created + 1);
        store_driver_create_open_sale(st, id, 1);
        created++;
        pages++;
    } while (token[0] && pages < 100);
    assert_true(pages >= LIST_SALES / 7);
    for (int i = 0; i < 2 * LIST_SALES; i += 2)
        assert_int_equal(seen[i], 1); /* every sale there from the start: exactly once */
    for (int i = 1; i < 2 * LIST_SALES + 10; i += 2)
        assert_true(seen[i] <= 1); /* those created meanwhile: at most once */
    worker_store_destroy(&st);
}

/* Sales created before the sorted set existed are in tix:sales only: the
 * first page copies them over. */
static void
test_list_sales_finds_sales_known_only_to_the_old_set(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "old-sale", 3);
    assert_int_equal(th_redis_int(redis, "ZREM {tix:sales}:ids old-sale"), 1);
    bool found = false;
    char token[80] = "";
    do {
        s_res_t page;
        s_list_sales(st, 50, token, &page);
        for (size_t i = 0; i < page.n; i++)
            found = found || strcmp(page.ids[i], "old-sale") == 0;
        snprintf(token, sizeof token, "%s", page.cursor);
    } while (token[0]);
    assert_true(found);
    worker_store_destroy(&st);
}

static void
test_list_orders_pages_the_log_with_cancels(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "lo", 10);
    char user[16];
    for (int i = 0; i < 5; i++) {
        snprintf(user, sizeof user, "u%d", i);
        s_buy(st, "lo", user, "", WORKER_STORE_PURCHASED, NULL);
    }
    s_res_t c;
    s_cancel(st, "lo", "u1", "r1", &c);
    s_cancel(st, "lo", "u3", "r3", &c);
    int entries = 0, cancels = 0, pages = 0;
    char token[80] = "";
    do {
        s_res_t page;
        s_list_orders(st, "lo", 3, token, &page);
        assert_int_equal(page.base.status, WORKER_STORE_FOUND);
        for (size_t i = 0; i < page.n; i++) {
            entries++;
            cancels += page.cancelled[i] != 0;
        }
        snprintf(token, sizeof token, "%s", page.cursor);
        pages++;
    } while (token[0] && pages < 10);
    assert_int_equal(entries, 7);
    assert_int_equal(cancels, 2);
    assert_int_equal(pages, 3);

    s_res_t bad;
    s_list_orders(st, "lo", 3, "not-an-id", &bad);
    assert_int_equal(bad.base.status, WORKER_STORE_BAD_TOKEN);
    s_list_orders(st, "nowhere", 3, "", &bad);
    assert_int_equal(bad.base.status, WORKER_STORE_NO_SALE);
    worker_store_destroy(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_gives_the_ticket_back_and_every_rule_holds),
        cmocka_unit_test(test_empty_request_id_retry_after_cancel_is_order_cancelled),
        cmocka_unit_test(test_ids_stay_unique_for_a_sale_without_seq),
        cmocka_unit_test(test_check_counts_with_cancels_still_catches_lost_keys),
        cmocka_unit_test(test_close_is_idempotent_and_buyers_keep_their_orders),
        cmocka_unit_test(test_list_sales_lists_every_sale_once_while_sales_are_created),
        cmocka_unit_test(test_list_sales_finds_sales_known_only_to_the_old_set),
        cmocka_unit_test(test_list_orders_pages_the_log_with_cancels),
    };
    return cmocka_run_group_tests(tests, redis_fixture_setup, redis_fixture_teardown);
}
