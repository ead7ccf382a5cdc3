/*
 * test_it_buy_many_twin.c - tix_buy_many decides each purchase of a batch
 * in Lua against a running state (one read of the sale, one stock write);
 * this proves it equivalent to tix_buy called once per purchase, on a real
 * redis-server. Twin sales see the same randomized history: batches with
 * duplicates, retries, second requests, cancelled requests, sell-outs in
 * the middle, closes and sales not yet open, each batch as one
 * tix_buy_many on one twin and as tix_buy after tix_buy on the other.
 * Every answer and, at the end of each history, every key must agree
 * (order numbers included; only times and log entry ids differ).
 *
 * Also: a failed XADD in the middle of a batch (the log's ids exhausted)
 * leaves the orders before it written in full and answers it and every
 * later purchase with the error, having written nothing for them.
 *
 * TIX_TEST_SEED=<n> replays one run (the seed is printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"
#include "redis_fixture.h"
#include "store_driver.h"

enum { S_MAX_BATCH = 40, S_MAX_USERS = 10, S_HISTORIES = 120 };

static uint64_t s_rng;

/* Answers seen, by status: every rule of tix_buy must have been met. */
static const char *const s_statuses[] = {"PURCHASED",     "ALREADY_PURCHASED", "ORDER_CANCELLED",
                                         "SALE_NOT_OPEN", "SALE_CLOSED",       "SOLD_OUT"};
enum { S_NSTATUSES = sizeof s_statuses / sizeof s_statuses[0] };
static long s_seen[S_NSTATUSES], s_new_orders, s_answers;

static unsigned
s_rand(unsigned below)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (unsigned) (s_rng % below);
}

/* The five keys of sale, as tix_buy takes them. */
typedef struct {
    char k[5][96];
} s_keys_t;

static void
s_keys(const char *sale, s_keys_t *k)
{
    static const char *const names[5] = {"sale", "stock", "buyers", "log", "cancels"};
    for (int i = 0; i < 5; i++)
        snprintf(k->k[i], sizeof k->k[i], "tix:{%s}:%s", sale, names[i]);
}

/* FCALL fn with the first nkeys of sale's keys, then sale, then args. */
static redisReply *
s_fcall(redisContext *c, const char *fn, const char *sale, int nkeys, int nargs, const char *const *args)
{
    s_keys_t k;
    s_keys(sale, &k);
    if (strcmp(fn, "tix_create") == 0) /* its fifth key: the set of sales */
        snprintf(k.k[4], sizeof k.k[4], "tix:sales");
    const char *argv[8 + 2 + 2 * S_MAX_BATCH + 2];
    char nk[4];
    snprintf(nk, sizeof nk, "%d", nkeys);
    int argc = 0;
    argv[argc++] = "FCALL";
    argv[argc++] = fn;
    argv[argc++] = nk;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = k.k[i];
    argv[argc++] = sale;
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    assert_non_null(r);
    return r;
}

/* The JSON string field key of a flat object written by tix.lua, or "". */
static void
s_json_str(const char *json, const char *key, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    snprintf(out, len, "%.*s", (int) (e ? e - p : 0), p);
}

/* a (from sale sa) and b (from sale sb) are the same tix_buy answer. */
static void
s_assert_same_answer(const redisReply *a, const redisReply *b, const char *sa, const char *sb)
{
    assert_int_equal(a->type, REDIS_REPLY_ARRAY);
    assert_int_equal(b->type, REDIS_REPLY_ARRAY);
    assert_int_equal(a->elements, b->elements);
    assert_string_equal(a->element[0]->str, b->element[0]->str);
    if (a->elements >= 2)
        assert_int_equal(a->element[1]->integer, b->element[1]->integer); /* remaining */
    if (a->elements == 6) { /* PURCHASED, ALREADY_PURCHASED, ORDER_CANCELLED */
        long seq = th_order_seq(a->element[2]->str, sa);
        assert_true(seq > 0);
        assert_int_equal(seq, th_order_seq(b->element[2]->str, sb));
        assert_int_equal(a->element[5]->integer, b->element[5]->integer); /* is_new */
    }
    if (strcmp(a->element[0]->str, "SALE_NOT_OPEN") == 0)
        assert_true(a->element[2]->integer > 0 && b->element[2]->integer > 0);
    for (int i = 0; i < S_NSTATUSES; i++)
        s_seen[i] += strcmp(a->element[0]->str, s_statuses[i]) == 0;
    s_new_orders += a->elements == 6 && a->element[5]->integer == 1;
    s_answers++;
}

/* One batch: tix_buy_many on sale m, tix_buy one by one on sale s. */
static void
s_batch(redisContext *c, const char *m, const char *s, int nusers)
{
    static const char *const requests[] = {"", "r1", "r2", "r3"};
    int n = 1 + (int) s_rand(S_MAX_BATCH);
    char users[S_MAX_BATCH][16];
    const char *args[1 + 2 * S_MAX_BATCH];
    char count[8];
    snprintf(count, sizeof count, "%d", n);
    args[0] = count;
    for (int i = 0; i < n; i++) {
        snprintf(users[i], sizeof users[i], "u%u", s_rand((unsigned) nusers));
        args[1 + 2 * i] = users[i];
        args[2 + 2 * i] = requests[s_rand(4)];
    }
    redisReply *many = s_fcall(c, "tix_buy_many", m, 5, 1 + 2 * n, args);
    assert_int_equal(many->type, REDIS_REPLY_ARRAY);
    assert_int_equal(many->elements, (size_t) n);
    for (int i = 0; i < n; i++) {
        redisReply *one = s_fcall(c, "tix_buy", s, 5, 2, &args[1 + 2 * i]);
        s_assert_same_answer(many->element[i], one, m, s);
        freeReplyObject(one);
    }
    freeReplyObject(many);
}

/* The same step on both twins, answered alike. */
static void
s_both(redisContext *c, const char *fn, const char *m, const char *s, int nargs, const char *const *args)
{
    redisReply *a = s_fcall(c, fn, m, strcmp(fn, "tix_close") == 0 ? 2 : 5, nargs, args);
    redisReply *b = s_fcall(c, fn, s, strcmp(fn, "tix_close") == 0 ? 2 : 5, nargs, args);
    assert_int_equal(a->type, REDIS_REPLY_ARRAY);
    assert_int_equal(b->type, REDIS_REPLY_ARRAY);
    assert_string_equal(a->element[0]->str, b->element[0]->str);
    freeReplyObject(a);
    freeReplyObject(b);
}

static long long
s_int(redisContext *c, const char *fmt, const char *sale)
{
    redisReply *r = redisCommand(c, fmt, sale);
    assert_non_null(r);
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : r->str ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

/* Stock, counts, buyers, cancelled requests and the log of m and s agree. */
static void
s_assert_same_keys(redisContext *c, const char *m, const char *s, int nusers)
{
    static const char *const ints[] = {"GET tix:{%s}:stock",         "HLEN tix:{%s}:buyers",
                                       "XLEN tix:{%s}:log",          "HGET tix:{%s}:sale cancelled",
                                       "HGET tix:{%s}:sale version", "HLEN tix:{%s}:cancels"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        assert_int_equal(s_int(c, ints[i], m), s_int(c, ints[i], s));
    for (int u = 0; u < nusers; u++) {
        redisReply *a = redisCommand(c, "HGET tix:{%s}:buyers u%d", m, u);
        redisReply *b = redisCommand(c, "HGET tix:{%s}:buyers u%d", s, u);
        assert_int_equal(a->type, b->type);
        char oa[160], ob[160], ra[16], rb[16];
        s_json_str(a->str, "order_id", oa, sizeof oa);
        s_json_str(b->str, "order_id", ob, sizeof ob);
        s_json_str(a->str, "request_id", ra, sizeof ra);
        s_json_str(b->str, "request_id", rb, sizeof rb);
        assert_int_equal(th_order_seq(oa, m), th_order_seq(ob, s));
        assert_string_equal(ra, rb);
        freeReplyObject(a);
        freeReplyObject(b);
    }
    redisReply *a = redisCommand(c, "XRANGE tix:{%s}:log - +", m);
    redisReply *b = redisCommand(c, "XRANGE tix:{%s}:log - +", s);
    assert_int_equal(a->elements, b->elements);
    for (size_t i = 0; i < a->elements; i++) {
        const redisReply *fa = a->element[i]->element[1], *fb = b->element[i]->element[1];
        assert_int_equal(fa->elements, fb->elements);
        for (size_t f = 0; f + 1 < fa->elements; f += 2) {
            assert_string_equal(fa->element[f]->str, fb->element[f]->str);
            const char *field = fa->element[f]->str, *va = fa->element[f + 1]->str, *vb = fb->element[f + 1]->str;
            if (strcmp(field, "order_id") == 0)
                assert_int_equal(th_order_seq(va, m), th_order_seq(vb, s));
            else if (strcmp(field, "user_id") == 0 || strcmp(field, "request_id") == 0 || strcmp(field, "kind") == 0)
                assert_string_equal(va, vb);
        }
    }
    freeReplyObject(a);
    freeReplyObject(b);
}

/* One history on a fresh pair of twins. */
static void
s_history(redisContext *c, int h)
{
    char m[32], s[32], total[8], opens[24];
    snprintf(m, sizeof m, "m%d", h);
    snprintf(s, sizeof s, "s%d", h);
    snprintf(total, sizeof total, "%u", 1 + s_rand(12));
    /* One history in ten: a sale that opens in an hour. */
    snprintf(opens, sizeof opens, "%lld", s_rand(10) == 0 ? (long long) time(NULL) * 1000 + 3600000 : 0LL);
    const char *create[] = {total, opens, "0"};
    s_both(c, "tix_create", m, s, 3, create);
    int nusers = 2 + (int) s_rand(S_MAX_USERS - 1);
    int steps = 1 + (int) s_rand(6);
    for (int step = 0; step < steps; step++) {
        if (s_rand(3) == 0) { /* a cancel, sometimes of a user with no order */
            char user[16];
            snprintf(user, sizeof user, "u%u", s_rand((unsigned) nusers));
            const char *cancel[] = {user, "changed my mind"};
            s_both(c, "tix_cancel", m, s, 2, cancel);
        }
        if (s_rand(20) == 0)
            s_both(c, "tix_close", m, s, 0, NULL);
        s_batch(c, m, s, nusers);
    }
    s_assert_same_keys(c, m, s, nusers);
}

static void
test_batches_answer_and_write_as_tix_buy_one_by_one(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL); /* loads the library */
    const char *env = getenv("TIX_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t) time(NULL);
    fprintf(stderr, "TIX_TEST_SEED=%llu\n", (unsigned long long) seed);
    s_rng = seed * 2654435761u + 1;
    redisContext *c = th_redis_connect(redis);
    assert_non_null(c);
    for (int h = 0; h < S_HISTORIES; h++)
        s_history(c, h);
    fprintf(stderr, "%ld answers, %ld new orders:", s_answers, s_new_orders);
    for (int i = 0; i < S_NSTATUSES; i++)
        fprintf(stderr, " %s %ld", s_statuses[i], s_seen[i]);
    fprintf(stderr, "\n");
    for (int i = 0; i < S_NSTATUSES; i++)
        assert_true(s_seen[i] > 0);
    redisFree(c);
    worker_store_destroy(&st);
}

/* The log's ids are one short of exhausted (a fake earlier order, its
 * buyer and stock made to agree): the batch's first new order takes the
 * last id, the second new order's XADD fails. */
static void
test_a_failed_xadd_ends_the_batch_after_the_orders_before_it(void **state)
{
    th_redis_t *redis = *state;
    worker_store_t *st = store_driver_new(redis, NULL);
    store_driver_create_open_sale(st, "full", 5);
    redisContext *c = th_redis_connect(redis);
    freeReplyObject(redisCommand(c, "XADD tix:{full}:log 18446744073709551615-18446744073709551614 order_id "
                                    "full:0:1 sale_id full user_id old request_id o purchased_at_ms 1"));
    freeReplyObject(redisCommand(c, "HSET tix:{full}:buyers old %s",
                                 "{\"order_id\":\"full:0:1\",\"request_id\":\"o\",\"purchased_at_ms\":\"1\","
                                 "\"log_id\":\"18446744073709551615-18446744073709551614\"}"));
    freeReplyObject(redisCommand(c, "DECR tix:{full}:stock"));
    const char *args[] = {"4", "old", "o", "new1", "a", "new2", "b", "old", "o"};
    redisReply *r = s_fcall(c, "tix_buy_many", "full", 5, 9, args);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 4);
    assert_string_equal(r->element[0]->element[0]->str, "PURCHASED"); /* old's retry */
    assert_string_equal(r->element[1]->element[0]->str, "PURCHASED"); /* the last id */
    assert_int_equal(r->element[1]->element[5]->integer, 1);
    for (int i = 2; i < 4; i++) {
        assert_int_equal(r->element[i]->type, REDIS_REPLY_ERROR);
        assert_non_null(strstr(r->element[i]->str, "ERR"));
    }
    freeReplyObject(r);
    /* new1's order written in full, nothing of new2's: the counts agree,
     * so the sale still answers (no DATA_LOSS). */
    assert_int_equal(s_int(c, "GET tix:{%s}:stock", "full"), 3);
    assert_int_equal(s_int(c, "HLEN tix:{%s}:buyers", "full"), 2);
    assert_int_equal(s_int(c, "XLEN tix:{%s}:log", "full"), 2);
    const char *retry[] = {"new1", "a"};
    r = s_fcall(c, "tix_buy", "full", 5, 2, retry);
    assert_string_equal(r->element[0]->str, "PURCHASED");
    assert_int_equal(th_order_seq(r->element[2]->str, "full"), 2);
    freeReplyObject(r);
    /* Through the worker's store: the failed buy is an error, retry-safe. */
    store_driver_res_t res;
    store_driver_buy(st, "full", "new2", "b", &res);
    assert_int_not_equal(res.err, TIX_OK);
    redisFree(c);
    worker_store_destroy(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_answer_and_write_as_tix_buy_one_by_one),
        cmocka_unit_test(test_a_failed_xadd_ends_the_batch_after_the_orders_before_it),
    };
    return cmocka_run_group_tests(tests, redis_fixture_setup, redis_fixture_teardown);
}
