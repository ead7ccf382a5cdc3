/*
 * test_it_worker_store_batch.c - batched buys (tix_buy_many, and the store's
 * batching in worker_store_batch.c) against a real redis-server: each buy
 * of a batch answered exactly as tix_buy alone would answer it, a lone buy
 * sent at once, the buys of one sale waiting while its calls are in flight,
 * a batch whose connection is lost, and the replication gate over a batch
 * (a primary with two replicas).
 *
 * The store is driven the way the worker drives it (harness/store_driver.h):
 * buys made before one loop turn ends go out together.
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
#include "sentinel.h"
#include "store_driver.h"
#include "tix_util.h"
#include "worker_store.h"

/* Calls of command cmd Redis has run (INFO commandstats). */
static long
s_calls(const th_redis_t *redis, const char *cmd)
{
    redisContext *c = th_redis_connect(redis);
    assert_non_null(c);
    redisReply *info = redisCommand(c, "INFO commandstats");
    assert_non_null(info);
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", cmd);
    const char *p = strstr(info->str, key);
    long calls = p ? atol(p + strlen(key)) : 0;
    freeReplyObject(info);
    redisFree(c);
    return calls;
}

static long
s_fcalls(const th_redis_t *redis)
{
    return s_calls(redis, "fcall");
}

typedef struct {
    const char *user, *request_id;
} s_buy_t;

/* Buys list[0..n) of sale in one loop turn (one batch) into res. */
static void
s_buy_batch(worker_store_t *st, const char *sale, const s_buy_t *list, int n, store_driver_res_t *res)
{
    worker_store_batch_stats_t before, after;
    worker_store_batch_stats(st, &before);
    for (int i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        assert_int_equal(worker_store_buy(st, sale, list[i].user, list[i].request_id, store_driver_capture, &res[i]),
                         TIX_OK);
    }
    for (int i = 0; i < n; i++)
        assert_true(store_driver_wait_done(st, &res[i].done, 1, 10000));
    worker_store_batch_stats(st, &after);
    assert_int_equal(after.calls - before.calls, 1); /* one FCALL for all of them */
    assert_int_equal(after.buys - before.buys, n);
}

/* The same buys, one tix_buy each, waiting for each answer. */
static void
s_buy_one_by_one(worker_store_t *st, const char *sale, const s_buy_t *list, int n, store_driver_res_t *res)
{
    for (int i = 0; i < n; i++)
        store_driver_buy(st, sale, list[i].user, list[i].request_id, &res[i]);
}

/* a and b answer alike, sale names aside: outcome, remaining, is_new, the
 * order's number, and which earlier answer's order it is. */
static void
s_assert_alike(const store_driver_res_t *a, const store_driver_res_t *b, int n, const char *sa, const char *sb)
{
    for (int i = 0; i < n; i++) {
        fprintf(stderr, "  %d: %d/%d remaining %u/%u order %s / %s\n", i, a[i].status, b[i].status, a[i].remaining,
                b[i].remaining, a[i].order_id, b[i].order_id);
        assert_int_equal(a[i].err, TIX_OK);
        assert_int_equal(b[i].err, TIX_OK);
        assert_int_equal(a[i].status, b[i].status);
        assert_int_equal(a[i].remaining, b[i].remaining);
        assert_int_equal(a[i].is_new, b[i].is_new);
        assert_int_equal(a[i].order_id[0] != '\0', b[i].order_id[0] != '\0');
        if (a[i].order_id[0]) {
            assert_int_equal(th_order_seq(a[i].order_id, sa), th_order_seq(b[i].order_id, sb));
            assert_true(a[i].purchased_at_ms > 0 && a[i].log_id[0]);
        }
        for (int j = 0; j < i; j++)
            assert_int_equal(strcmp(a[i].order_id, a[j].order_id) == 0, strcmp(b[i].order_id, b[j].order_id) == 0);
    }
}

static void
test_each_buy_of_a_batch_is_answered_as_tix_buy_alone_would(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    /* Duplicates, a retry, a second request of the same user, the empty
     * request id twice, and a sale that sells out in the middle. */
    static const s_buy_t list[] = {
        {"ann", "r1"}, {"ann", "r1"}, {"ann", "r2"}, {"bob", ""},  {"bob", ""},  {"cat", "c"},
        {"dan", "d"},  {"eve", "e"},  {"ann", "r1"}, {"cat", "x"}, {"fay", "f"},
    };
    enum { N = sizeof list / sizeof list[0] };
    store_driver_res_t batch[N], alone[N];
    store_driver_create_open_sale(st, "many", 4);
    store_driver_create_open_sale(st, "lone", 4);
    s_buy_batch(st, "many", list, N, batch);
    s_buy_one_by_one(st, "lone", list, N, alone);
    s_assert_alike(batch, alone, N, "many", "lone");
    assert_int_equal(batch[0].status, WORKER_STORE_PURCHASED);
    assert_true(batch[0].is_new);
    assert_int_equal(batch[1].status, WORKER_STORE_PURCHASED); /* the retry: same order */
    assert_false(batch[1].is_new);
    assert_int_equal(batch[2].status, WORKER_STORE_ALREADY_PURCHASED);
    assert_int_equal(batch[7].status, WORKER_STORE_SOLD_OUT);  /* eve: after dan took the last */
    assert_int_equal(batch[8].status, WORKER_STORE_PURCHASED); /* ann's retry after the sell-out */
    assert_int_equal(batch[9].status, WORKER_STORE_ALREADY_PURCHASED);
    assert_int_equal(store_driver_redis_cmd(redis, "XLEN tix:{many}:log"), 4);
    assert_int_equal(store_driver_redis_cmd(redis, "HLEN tix:{many}:buyers"), 4);
    assert_int_equal(store_driver_redis_cmd(redis, "GET tix:{many}:stock"), 0);
    worker_store_destroy(&st);
}

/* A cancelled request in a batch is ORDER_CANCELLED, as tix_buy answers it
 * (the batch carries the sale's cancels key); a new request of that user
 * buys again, with the next order number. */
static void
test_a_batch_answers_a_cancelled_request_order_cancelled(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "undo", 5);
    store_driver_res_t first, cancel = {0};
    store_driver_buy(st, "undo", "ann", "r1", &first);
    assert_int_equal(first.status, WORKER_STORE_PURCHASED);
    assert_int_equal(worker_store_cancel(st, "undo", "ann", "why", store_driver_capture, &cancel), TIX_OK);
    assert_true(store_driver_wait_done(st, &cancel.done, 1, 5000));
    assert_int_equal(cancel.err, TIX_OK);
    static const s_buy_t list[] = {{"ann", "r1"}, {"ann", "r2"}, {"ann", "r1"}, {"bob", "b"}};
    store_driver_res_t res[4];
    s_buy_batch(st, "undo", list, 4, res);
    assert_int_equal(res[0].status, WORKER_STORE_ORDER_CANCELLED);
    assert_string_equal(res[0].order_id, first.order_id);
    assert_int_equal(res[1].status, WORKER_STORE_PURCHASED);
    assert_true(res[1].is_new);
    assert_int_equal(th_order_seq(res[1].order_id, "undo"), 2);
    assert_int_equal(res[2].status, WORKER_STORE_ORDER_CANCELLED);
    assert_int_equal(th_order_seq(res[3].order_id, "undo"), 3);
    worker_store_destroy(&st);
}

static bool
s_closed(worker_store_t *st, const char *sale)
{
    store_driver_res_t res;
    store_driver_get_sale(st, sale, &res);
    return res.now_ms >= res.closes_at_ms;
}

static void
test_batches_of_a_sale_not_open_closed_or_missing(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    int64_t now = tix_wall_ms();
    store_driver_res_t res[3], one;
    static const s_buy_t list[] = {{"gil", "g"}, {"hal", "h"}, {"gil", "g"}};
    store_driver_create(st, "soon", 5, now + 3600000, 0, &one);
    s_buy_batch(st, "soon", list, 3, res);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[i].status, WORKER_STORE_SALE_NOT_OPEN);
        assert_int_equal(res[i].remaining, 5);
        assert_true(res[i].wait_ms > 3500000);
    }
    /* Closes 300 ms from now: gil buys before, then a batch after the
     * close holds gil's retry (still his order) and a newcomer. */
    store_driver_create(st, "ending", 5, 0, now + 300, &one);
    store_driver_buy(st, "ending", "gil", "g", &one);
    assert_int_equal(one.status, WORKER_STORE_PURCHASED);
    int64_t deadline = tix_now_ms() + 10000;
    while (!s_closed(st, "ending") && tix_now_ms() < deadline)
        store_driver_pump(st, 10);
    assert_true(s_closed(st, "ending"));
    s_buy_batch(st, "ending", list, 3, res);
    assert_int_equal(res[0].status, WORKER_STORE_PURCHASED);
    assert_string_equal(res[0].order_id, one.order_id);
    assert_int_equal(res[1].status, WORKER_STORE_SALE_CLOSED);
    assert_int_equal(res[1].remaining, 4);
    assert_int_equal(res[2].status, WORKER_STORE_PURCHASED);
    s_buy_batch(st, "no-such-sale", list, 3, res);
    for (int i = 0; i < 3; i++)
        assert_int_equal(res[i].status, WORKER_STORE_NO_SALE);
    worker_store_destroy(&st);
}

/* A key of the wrong type (here the log: the count check's XLEN fails) is
 * found while the batch reads, before it writes anything: the call fails,
 * and each of its buys answers that error. (A failure while writing, an
 * XADD, is per purchase: test_it_buy_many_twin.) */
static void
test_a_broken_key_fails_each_buy_of_the_batch_and_writes_nothing(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "broken", 5);
    store_driver_create_open_sale(st, "fine", 5);
    store_driver_redis_cmd(redis, "DEL tix:{broken}:log");
    store_driver_redis_cmd(redis, "SET tix:{broken}:log x");
    static const s_buy_t list[] = {{"ivy", "i"}, {"jon", "j"}};
    store_driver_res_t res[2];
    s_buy_batch(st, "broken", list, 2, res);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(res[i].err, TIX_ERR_REDIS);
        assert_non_null(strstr(res[i].detail, "WRONGTYPE"));
    }
    assert_int_equal(store_driver_redis_cmd(redis, "GET tix:{broken}:stock"), 5);
    assert_int_equal(store_driver_redis_cmd(redis, "HLEN tix:{broken}:buyers"), 0);
    redisContext *c = th_redis_connect(redis);
    redisReply *r = redisCommand(c, "FCALL tix_buy_many 4 tix:{fine}:sale tix:{fine}:stock tix:{fine}:buyers "
                                    "tix:{fine}:log fine 2 kim k");
    assert_int_equal(r->type, REDIS_REPLY_ERROR); /* n says 2, one pair given */
    freeReplyObject(r);
    redisFree(c);
    worker_store_destroy(&st);
}

static void
test_a_lone_buy_goes_at_once_and_later_ones_wait_for_the_sales_calls(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "alone", 100);
    store_driver_create_open_sale(st, "other", 100);
    long fcalls = s_fcalls(redis);
    enum { FLIGHTS = WORKER_STORE_BATCH_FLIGHTS };
    store_driver_res_t first[FLIGHTS] = {0}, more[3] = {0}, other = {0};
    zmq_pollitem_t item;
    /* One buy per loop turn: each goes at the end of its turn, alone,
     * until the sale has FLIGHTS calls in flight. */
    for (int i = 0; i < FLIGHTS; i++) {
        char user[16];
        snprintf(user, sizeof user, "first-%d", i);
        assert_int_equal(worker_store_buy(st, "alone", user, "l", store_driver_capture, &first[i]), TIX_OK);
        assert_true(worker_store_pollitem(st, &item)); /* the end of the loop turn */
        assert_int_equal(worker_store_in_flight(st), (size_t) i + 1);
    }
    /* The next turn's buys of that sale wait for an answer; another
     * sale's buy goes at once. */
    for (int i = 0; i < 3; i++) {
        char user[16];
        snprintf(user, sizeof user, "more-%d", i);
        assert_int_equal(worker_store_buy(st, "alone", user, "m", store_driver_capture, &more[i]), TIX_OK);
    }
    assert_int_equal(worker_store_buy(st, "other", "lee", "l", store_driver_capture, &other), TIX_OK);
    assert_true(worker_store_pollitem(st, &item));
    assert_int_equal(worker_store_in_flight(st), FLIGHTS + 1);
    /* The first buy is answered without any further buy being made. */
    assert_true(store_driver_wait_done(st, &first[0].done, 1, 10000));
    assert_int_equal(first[0].status, WORKER_STORE_PURCHASED);
    for (int i = 0; i < 3; i++) {
        assert_true(store_driver_wait_done(st, &more[i].done, 1, 10000));
        assert_int_equal(more[i].status, WORKER_STORE_PURCHASED);
    }
    assert_true(store_driver_wait_done(st, &other.done, 1, 10000));
    worker_store_batch_stats_t bs;
    worker_store_batch_stats(st, &bs);
    assert_int_equal(bs.calls, FLIGHTS + 2); /* FLIGHTS alone, other, then the 3 together */
    assert_int_equal(bs.buys, FLIGHTS + 4);
    assert_int_equal(bs.sizes[0], FLIGHTS + 1);
    assert_int_equal(bs.sizes[1], 1); /* 2-3 */
    assert_int_equal(s_fcalls(redis) - fcalls, FLIGHTS + 2);
    worker_store_destroy(&st);
}

/* The connection lost with a batch in flight and more waiting: every buy
 * is answered unavailable (none as purchased), and retries are exact. */
static void
test_connection_lost_mid_batch_answers_each_unavailable_and_retries_are_exact(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "cut", 3);
    enum { N = 6 };
    store_driver_res_t res[N] = {0}, again[N];
    s_buy_t list[N];
    char users[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(users[i], sizeof users[i], "cut-%d", i);
        list[i] = (s_buy_t){users[i], "q"};
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(worker_store_buy(st, "cut", list[i].user, "q", store_driver_capture, &res[i]), TIX_OK);
    zmq_pollitem_t item;
    assert_true(worker_store_pollitem(st, &item)); /* the batch is written to the socket */
    assert_int_equal(worker_store_in_flight(st), 1);
    /* Kill the connection from Redis's side before its answer is read. */
    assert_true(store_driver_redis_cmd(redis, "CLIENT KILL TYPE normal SKIPME yes") >= 1);
    for (int i = 0; i < N; i++) {
        assert_true(store_driver_wait_done(st, &res[i].done, 1, 10000));
        assert_int_equal(res[i].err, TIX_ERR_UNAVAILABLE);
    }
    assert_true(store_driver_wait_ok(st, true, 10000));
    s_buy_one_by_one(st, "cut", list, N, again);
    int purchased = 0;
    for (int i = 0; i < N; i++)
        purchased += again[i].status == WORKER_STORE_PURCHASED;
    assert_int_equal(purchased, 3);
    assert_int_equal(store_driver_redis_cmd(redis, "XLEN tix:{cut}:log"), 3);
    worker_store_destroy(&st);
}

/* The replication gate: one WAIT after a batch covers all its writes; a
 * WAIT that finds too few replicas answers every buy of the batch
 * unavailable (none PURCHASED), and their retries find the orders. */
static void
test_the_gate_waits_once_per_batch_and_a_short_wait_fails_each_buy(void **state)
{
    (void) state;
    th_repl_t r;
    assert_true(th_repl_start_nodes(&r));
    worker_store_opts_t opts = {.min_replicas = 1, .wait_ms = 300};
    worker_store_t *st = store_driver_new(&r.nodes[0], &opts);
    store_driver_create_open_sale(st, "gated", 10);
    static const s_buy_t five[] = {{"u1", "a"}, {"u2", "a"}, {"u3", "a"}, {"u1", "a"}, {"u4", "a"}};
    static const s_buy_t three[] = {{"u5", "b"}, {"u6", "b"}, {"u7", "b"}};
    store_driver_res_t res[5];
    long waits = s_calls(&r.nodes[0], "wait");
    s_buy_batch(st, "gated", five, 5, res);
    for (int i = 0; i < 5; i++)
        assert_int_equal(res[i].status, WORKER_STORE_PURCHASED);
    assert_int_equal(s_calls(&r.nodes[0], "wait") - waits, 1);
    /* Replicas frozen: connected, confirming nothing. */
    kill(r.nodes[1].pid, SIGSTOP);
    kill(r.nodes[2].pid, SIGSTOP);
    s_buy_batch(st, "gated", three, 3, res);
    kill(r.nodes[1].pid, SIGCONT);
    kill(r.nodes[2].pid, SIGCONT);
    for (int i = 0; i < 3; i++) {
        fprintf(stderr, "  gated %d: err=%d %s\n", i, res[i].err, res[i].detail);
        assert_int_equal(res[i].err, TIX_ERR_UNAVAILABLE);
        assert_non_null(strstr(res[i].detail, "replicas confirmed"));
    }
    /* They ran on the primary; the retries find them and are confirmed. */
    s_buy_one_by_one(st, "gated", three, 3, res);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[i].err, TIX_OK);
        assert_int_equal(res[i].status, WORKER_STORE_PURCHASED);
        assert_false(res[i].is_new);
    }
    worker_store_destroy(&st);
    th_repl_stop(&r);
}

/* Buys waiting when the store is destroyed are answered, once each. */
static void
test_destroy_answers_buys_still_waiting(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_res_t res[2] = {0};
    assert_int_equal(worker_store_buy(st, "gone", "u1", "", store_driver_capture, &res[0]), TIX_OK);
    assert_int_equal(worker_store_buy(st, "gone", "u2", "", store_driver_capture, &res[1]), TIX_OK);
    worker_store_destroy(&st);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(res[i].done, 1);
        assert_int_equal(res[i].err, TIX_ERR_UNAVAILABLE);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_buy_of_a_batch_is_answered_as_tix_buy_alone_would),
        cmocka_unit_test(test_batches_of_a_sale_not_open_closed_or_missing),
        cmocka_unit_test(test_a_batch_answers_a_cancelled_request_order_cancelled),
        cmocka_unit_test(test_a_broken_key_fails_each_buy_of_the_batch_and_writes_nothing),
        cmocka_unit_test(test_a_lone_buy_goes_at_once_and_later_ones_wait_for_the_sales_calls),
        cmocka_unit_test(test_connection_lost_mid_batch_answers_each_unavailable_and_retries_are_exact),
        cmocka_unit_test(test_destroy_answers_buys_still_waiting),
        cmocka_unit_test(test_the_gate_waits_once_per_batch_and_a_short_wait_fails_each_buy),
    };
    return cmocka_run_group_tests(tests, redis_fixture_setup, redis_fixture_teardown);
}
