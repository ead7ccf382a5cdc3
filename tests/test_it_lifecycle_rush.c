/*
 * test_it_lifecycle_rush.c - CloseSale and CancelOrder in the middle of a
 * rush, on real parts: redis-server, two tix-broker processes, two
 * tix-worker processes serving both, clients spread over both brokers.
 *
 * - A sale closed mid-rush sells nothing after the close (every order's
 *   purchased_at_ms is before the close's closes_at_ms, Redis's clock), and
 *   its buyers keep their orders.
 * - A 20,000-user rush on 200 tickets in which 50 buyers' orders are
 *   cancelled while the users keep trying: 200 live orders, 50 cancelled,
 *   no order id twice, no user with two live orders, every retry exact;
 *   tix-persister (jsonl sink) holds the 250 orders and the 50
 *   cancellations, each once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin_call.h"
#include "fault.h"
#include "harness.h"
#include "multi.h"
#include "tix_util.h"

#define RUSH_USERS 20000
#define RUSH_TICKETS 200
#define CANCELS 50

static th_multi_t s_m;

static int
s_setup(void **state)
{
    (void) state;
    return th_multi_start(&s_m, 2, 2) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    fprintf(stderr, "logs in %s\n", th_tmpdir());
    th_multi_stop(&s_m);
    return 0;
}

static tf_rush_opts_t
s_opts(const char *sale, void (*on_tick)(const tf_rush_result_t *, int64_t, void *), void *arg, int rate)
{
    tf_rush_opts_t o = {0};
    o.frontend = s_m.frontends;
    o.sale = sale;
    o.users = RUSH_USERS;
    o.window = 1000;
    o.rate = rate;
    o.silence_ms = 2000;
    o.on_tick = on_tick;
    o.arg = arg;
    return o;
}

/* ---- Close mid-rush ----------------------------------------------------------- */

typedef struct {
    int at_answered;       /* close when this many users are answered */
    int64_t closes_at_ms;  /* from the CloseSale answer; 0 until then */
    int answered_at_close; /* users answered when the close answer came */
} s_close_t;

static void
s_close_tick(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    (void) elapsed_ms;
    s_close_t *c = arg;
    if (c->closes_at_ms || progress->answered < c->at_answered)
        return;
    Tix__V1__CloseSaleRequest req = TIX__V1__CLOSE_SALE_REQUEST__INIT;
    req.sale_id = "closing";
    tix_code code;
    ProtobufCMessage *reply;
    assert_true(th_admin_call(s_m.broker[1].frontend, TIX_METHOD_CLOSE_SALE, &req, 5000, &code, &reply));
    assert_int_equal(code, TIX__V1__CODE__OK);
    const Tix__V1__Sale *sale = (const Tix__V1__Sale *) reply;
    assert_int_equal(sale->state, TIX__V1__SALE__STATE__CLOSED);
    c->closes_at_ms = sale->closes_at_ms;
    c->answered_at_close = progress->answered;
    protobuf_c_message_free_unpacked(reply, NULL);
}

static void
test_close_mid_rush_sells_nothing_after_the_close_and_buyers_keep_their_orders(void **state)
{
    (void) state;
    assert_true(tf_create_sale(s_m.frontends, "closing", 15000));
    s_close_t c = {.at_answered = 4000};
    tf_rush_opts_t o = s_opts("closing", s_close_tick, &c, 8000);
    tf_rush_result_t first;
    assert_true(tf_rush(&o, &first));
    tf_rush_print("close mid-rush", &first);
    assert_true(c.closes_at_ms > 0);
    fprintf(stderr, "closed at %lld with %d users answered: %d purchased, %d SALE_CLOSED\n", (long long) c.closes_at_ms,
            c.answered_at_close, first.purchased, first.closed);
    assert_true(first.purchased >= c.at_answered / 2 && first.purchased < 15000);
    assert_true(first.closed > 0);
    /* Nothing sold after the close: every order the clients saw, and the
     * log's last, were made no later than it by Redis's clock. (A buy in
     * the close's own millisecond, after it, is SALE_CLOSED: now >=
     * closes_at_ms. One in that millisecond before it carries the same
     * time.) */
    int late = 0, same_ms = 0;
    for (int i = 0; i < RUSH_USERS; i++) {
        late += first.order_of[i] && first.purchased_at_ms[i] > c.closes_at_ms;
        same_ms += first.order_of[i] && first.purchased_at_ms[i] == c.closes_at_ms;
    }
    fprintf(stderr, "orders in the close's own millisecond (before it): %d\n", same_ms);
    assert_int_equal(late, 0);
    redisContext *ctx = th_redis_connect(&s_m.redis);
    redisReply *last = redisCommand(ctx, "XREVRANGE tix:{closing}:log + - COUNT 1");
    assert_true(last && last->elements == 1);
    const redisReply *f = last->element[0]->element[1];
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
        if (strcmp(f->element[k]->str, "purchased_at_ms") == 0)
            assert_true(atoll(f->element[k + 1]->str) <= c.closes_at_ms);
    }
    freeReplyObject(last);
    redisFree(ctx);

    tf_sale_facts_t facts;
    assert_true(tf_sale_facts(&s_m.redis, "closing", &facts));
    assert_int_equal(tf_check_invariants("closing", &facts, 15000, &first), 0);
    tf_sale_facts_free(&facts);

    /* Everyone again, same request ids: buyers get their orders back, the
     * rest SALE_CLOSED. */
    o = s_opts("closing", NULL, NULL, 0);
    tf_rush_result_t again;
    assert_true(tf_rush(&o, &again));
    tf_rush_print("after the close", &again);
    assert_int_equal(tf_rush_mismatches(&first, &again), 0);
    assert_int_equal(again.purchased, first.purchased);
    assert_int_equal(again.closed, RUSH_USERS - first.purchased);
    tf_rush_free(&first);
    tf_rush_free(&again);
}

/* ---- Cancels mid-rush ------------------------------------------------------------ */

typedef struct {
    char users[CANCELS][96];
    char orders[CANCELS][128];
    int done;
    atomic_bool finished;
} s_cancels_t;

static bool
s_cancelled_already(const s_cancels_t *c, const char *user)
{
    for (int i = 0; i < c->done; i++) {
        if (strcmp(c->users[i], user) == 0)
            return true;
    }
    return false;
}

/* Cancels CANCELS buyers of sale "giveback" while the rush runs, through
 * both brokers in turn: the buyers as Redis lists them, oldest first. */
static void *
s_canceller(void *arg)
{
    s_cancels_t *c = arg;
    redisContext *ctx = th_redis_connect(&s_m.redis);
    for (int spins = 0; c->done < CANCELS && spins < 20000 && ctx; spins++) {
        redisReply *keys = redisCommand(ctx, "HKEYS tix:{giveback}:buyers");
        for (size_t k = 0; keys && k < keys->elements && c->done < CANCELS; k++) {
            const char *user = keys->element[k]->str;
            if (s_cancelled_already(c, user))
                continue;
            Tix__V1__CancelOrderRequest req = TIX__V1__CANCEL_ORDER_REQUEST__INIT;
            req.sale_id = "giveback";
            req.user_id = (char *) user;
            req.reason = "payment failed";
            tix_code code;
            ProtobufCMessage *reply = NULL;
            if (!th_admin_call(s_m.broker[c->done % 2].frontend, TIX_METHOD_CANCEL_ORDER, &req, 5000, &code, &reply) ||
                code != TIX__V1__CODE__OK) {
                fprintf(stderr, "cancel %s failed\n", user);
                continue;
            }
            snprintf(c->users[c->done], sizeof c->users[c->done], "%s", user);
            snprintf(c->orders[c->done], sizeof c->orders[c->done], "%s", ((Tix__V1__Order *) reply)->order_id);
            c->done++;
            protobuf_c_message_free_unpacked(reply, NULL);
        }
        if (keys)
            freeReplyObject(keys);
        if (c->done < CANCELS)
            usleep(2000);
    }
    if (ctx)
        redisFree(ctx);
    atomic_store(&c->finished, true);
    return NULL;
}

/* tix-persister on both brokers' feeds, for one test (its state). */
typedef struct {
    th_proc_t proc;
    char path[300]; /* its jsonl sink */
} s_persister_t;

static int
s_persister_setup(void **state)
{
    s_persister_t *p = calloc(1, sizeof *p);
    *state = p;
    if (!p)
        return -1;
    snprintf(p->path, sizeof p->path, "%s/orders-giveback.jsonl", th_tmpdir());
    return th_multi_persister_start(&s_m, &p->proc, p->path) ? 0 : -1;
}

static int
s_persister_teardown(void **state)
{
    s_persister_t *p = *state;
    if (p)
        th_proc_stop(&p->proc, SIGTERM, 15000);
    free(p);
    *state = NULL;
    return 0;
}

static int
s_user_index(const char *user)
{
    const char *at = strrchr(user, '-');
    return at ? atoi(at + 1) : -1;
}

static void
test_rush_with_50_cancels_ends_with_200_live_orders_and_every_retry_exact(void **state)
{
    const s_persister_t *persister = *state;
    assert_true(tf_create_sale(s_m.frontends, "giveback", RUSH_TICKETS));
    s_cancels_t *c = calloc(1, sizeof *c);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_canceller, c), 0);
    /* The users keep trying (same request ids: a SOLD_OUT answer holds
     * nothing) until the cancels are over and the sale is sold out again. */
    int rounds = 0;
    long long remaining;
    do {
        tf_rush_opts_t o = s_opts("giveback", NULL, NULL, rounds == 0 ? 10000 : 0);
        tf_rush_result_t r;
        assert_true(tf_rush(&o, &r));
        tf_rush_print("rush", &r);
        assert_int_equal(r.other, 0);
        tf_rush_free(&r);
        remaining = th_redis_int(&s_m.redis, "GET tix:{giveback}:stock");
        rounds++;
    } while ((!atomic_load(&c->finished) || remaining > 0) && rounds < 30);
    pthread_join(thread, NULL);
    fprintf(stderr, "rounds=%d cancels=%d remaining=%lld\n", rounds, c->done, remaining);
    assert_int_equal(c->done, CANCELS);
    assert_int_equal(remaining, 0);

    /* Every retry exact: the live buyers PURCHASED with their order, the
     * cancelled ORDER_CANCELLED with theirs, everyone else SOLD_OUT. */
    tf_rush_opts_t o = s_opts("giveback", NULL, NULL, 0);
    tf_rush_result_t final;
    assert_true(tf_rush(&o, &final));
    tf_rush_print("retries", &final);
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&s_m.redis, "giveback", &f));
    assert_int_equal(tf_check_invariants("giveback", &f, RUSH_TICKETS, &final), 0);
    assert_int_equal(f.buyers, RUSH_TICKETS);
    assert_int_equal(f.cancels, CANCELS);
    assert_int_equal(f.purchases, RUSH_TICKETS + CANCELS);
    assert_int_equal(f.distinct_orders, RUSH_TICKETS + CANCELS);
    assert_int_equal(f.users_two_live, 0);
    assert_int_equal(final.purchased, RUSH_TICKETS);
    assert_int_equal(final.cancelled, CANCELS);
    for (int i = 0; i < CANCELS; i++) {
        int u = s_user_index(c->users[i]);
        assert_true(u >= 0 && u < RUSH_USERS);
        assert_non_null(final.cancelled_order_of[u]);
        assert_string_equal(final.cancelled_order_of[u], c->orders[i]);
        assert_null(final.order_of[u]);
    }
    /* The persister: every purchase and every cancel entry, each once. */
    int64_t took = tf_wait_persisted(persister->path, "giveback", f.log_len, 20000);
    fprintf(stderr, "persisted %lld log entries in %lld ms\n", f.log_len, (long long) took);
    assert_true(took >= 0);
    assert_int_equal(tf_check_persisted(persister->path, "giveback", &f), 0);
    tf_sale_facts_free(&f);
    tf_rush_free(&final);
    free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_mid_rush_sells_nothing_after_the_close_and_buyers_keep_their_orders),
        cmocka_unit_test_setup_teardown(test_rush_with_50_cancels_ends_with_200_live_orders_and_every_retry_exact,
                                        s_persister_setup, s_persister_teardown),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
