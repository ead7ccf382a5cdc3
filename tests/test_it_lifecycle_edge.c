/*
 * test_it_lifecycle_edge.c - CancelOrder and CloseSale against the brokers'
 * sold-out edge (DESIGN.md guarantee 7: a cancelled order or a closed sale
 * is seen at the edge at once), on real parts: redis-server, two
 * tix-broker processes and two tix-worker processes serving both.
 *
 * The edge of both brokers answers a sold-out sale (no FCALL reaches Redis
 * for a new user's Purchase, through either broker); then a CancelOrder or
 * CloseSale through one broker, and at once a Purchase through the other:
 * it must see the change. The workers' SALE_CHANGED notice makes it so.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin_call.h"
#include "harness.h"
#include "multi.h"
#include "tix.h"
#include "tix_util.h"

static th_multi_t s_m;
static tix_client_t *s_c[2]; /* one client per broker */

static int
s_setup(void **state)
{
    (void) state;
    if (!th_multi_start(&s_m, 2, 2))
        return -1;
    for (int i = 0; i < 2; i++)
        s_c[i] = tix_client_new(s_m.broker[i].frontend);
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    fprintf(stderr, "logs in %s\n", th_tmpdir());
    for (int i = 0; i < 2; i++)
        tix_client_destroy(&s_c[i]);
    th_multi_stop(&s_m);
    return 0;
}

/* FCALLs Redis has run so far (INFO commandstats). */
static long long
s_fcalls(void)
{
    redisContext *c = th_redis_connect(&s_m.redis);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "INFO commandstats");
    assert_non_null(r);
    long long calls = 0;
    const char *names[] = {"cmdstat_fcall:calls=", "cmdstat_fcall_ro:calls="};
    for (int i = 0; i < 2; i++) {
        const char *at = strstr(r->str, names[i]);
        calls += at ? atoll(at + strlen(names[i])) : 0;
    }
    freeReplyObject(r);
    redisFree(c);
    return calls;
}

/* A Purchase through broker b; its outcome (order id into order). */
static int
s_buy(int b, const char *sale, const char *user, const char *req, char *order, size_t size)
{
    tix_result_t r;
    assert_int_equal(tix_purchase(s_c[b], sale, user, req, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r.reply;
    int outcome = p->outcome;
    if (order)
        snprintf(order, size, "%s", p->order_id);
    tix_result_clear(&r);
    return outcome;
}

static void
s_cancel(int b, const char *sale, const char *user, char *order, size_t size)
{
    Tix__V1__CancelOrderRequest req = TIX__V1__CANCEL_ORDER_REQUEST__INIT;
    req.sale_id = (char *) sale;
    req.user_id = (char *) user;
    req.reason = "payment failed";
    tix_code code;
    ProtobufCMessage *reply;
    assert_true(th_admin_call(s_m.broker[b].frontend, TIX_METHOD_CANCEL_ORDER, &req.base, 5000, &code, &reply));
    assert_int_equal(code, TIX__V1__CODE__OK);
    const Tix__V1__Order *o = (const Tix__V1__Order *) reply;
    assert_true(o->cancelled_at_ms > 0);
    assert_string_equal(o->cancel_reason, "payment failed");
    snprintf(order, size, "%s", o->order_id);
    protobuf_c_message_free_unpacked(reply, NULL);
}

/* Waits until broker b answers a new user's Purchase of sale without Redis. */
static void
s_wait_edge(int b, const char *sale, int expect)
{
    for (int i = 0; i < 300; i++) {
        long long before = s_fcalls();
        char user[48];
        snprintf(user, sizeof user, "probe-%d-%d", b, i);
        assert_int_equal(s_buy(b, sale, user, "", NULL, 0), expect);
        if (s_fcalls() == before)
            return;
        usleep(10000);
    }
    fail_msg("broker %d never answered sale %s at its edge", b, sale);
}

static void
s_create(const char *sale, uint32_t total)
{
    tix_result_t r;
    assert_int_equal(tix_create_sale(s_c[0], sale, total, 0, 0, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    tix_result_clear(&r);
}

#define ROUNDS 6
#define BROKER_EDGE_CHECK_MS_FOR_TEST 1000 /* broker_edge.h's BROKER_EDGE_CHECK_MS */

/* Each round: a sold-out sale at the edge of both brokers, one order
 * cancelled through broker a, and right after the answer a new buyer
 * through broker 1 - a gets the ticket. A retry of the cancelled request
 * then answers ORDER_CANCELLED through either broker, also once the edge
 * is loaded again (with the cancelled requests). */
static void
test_cancel_on_sold_out_sale_lets_the_next_buyer_in_through_every_broker(void **state)
{
    (void) state;
    const char *sale = "cx";
    s_create(sale, 3);
    char order[ROUNDS + 3][128], user[48], got[128];
    for (int i = 0; i < 3; i++) {
        snprintf(user, sizeof user, "buyer-%d", i);
        assert_int_equal(s_buy(i % 2, sale, user, "r", order[i], sizeof order[i]),
                         TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    }
    for (int round = 0; round < ROUNDS; round++) {
        int a = round % 2, other = 1 - a;
        s_wait_edge(0, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
        s_wait_edge(1, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
        /* Cancel the oldest live order: buyer `round`. */
        snprintf(user, sizeof user, "buyer-%d", round);
        s_cancel(a, sale, user, got, sizeof got);
        assert_string_equal(got, order[round]);
        char next[48];
        snprintf(next, sizeof next, "buyer-%d", round + 3);
        int outcome = s_buy(other, sale, next, "r", order[round + 3], sizeof order[round + 3]);
        if (outcome != TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED)
            fail_msg("round %d: cancelled through broker %d, the next buyer through broker %d got outcome %d", round, a,
                     other, outcome);
        for (int k = 0; k <= round + 2; k++)
            assert_string_not_equal(order[round + 3], order[k]); /* never an id given before */
        /* The cancelled request's retry, through both brokers. */
        for (int b = 0; b < 2; b++) {
            assert_int_equal(s_buy(b, sale, user, "r", got, sizeof got),
                             TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED);
            assert_string_equal(got, order[round]);
        }
    }
    /* The edge loaded with cancelled requests answers their retries exactly,
     * without Redis. */
    s_wait_edge(0, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    s_wait_edge(1, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    long long fcalls = s_fcalls();
    for (int b = 0; b < 2; b++) {
        assert_int_equal(s_buy(b, sale, "buyer-0", "r", got, sizeof got),
                         TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED);
        assert_string_equal(got, order[0]);
        assert_int_equal(s_buy(b, sale, "buyer-8", "r", got, sizeof got), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
        assert_string_equal(got, order[8]);
    }
    assert_int_equal(s_fcalls(), fcalls);
    assert_int_equal(th_redis_int(&s_m.redis, "HLEN tix:{cx}:buyers"), 3);
    assert_int_equal(th_redis_int(&s_m.redis, "XLEN tix:{cx}:log"), 3 + 2 * ROUNDS);
}

/* A sold-out sale at both edges, closed through one broker: a new user
 * through the other gets SALE_CLOSED at once, and a buyer their order. */
static void
test_close_of_a_sold_out_sale_is_seen_at_every_broker_at_once(void **state)
{
    (void) state;
    const char *sale = "cz";
    s_create(sale, 1);
    char order[128], got[128];
    assert_int_equal(s_buy(0, sale, "only", "r", order, sizeof order), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    s_wait_edge(0, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    s_wait_edge(1, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    Tix__V1__CloseSaleRequest req = TIX__V1__CLOSE_SALE_REQUEST__INIT;
    req.sale_id = (char *) sale;
    tix_code code;
    ProtobufCMessage *reply;
    assert_true(th_admin_call(s_m.broker[0].frontend, TIX_METHOD_CLOSE_SALE, &req.base, 5000, &code, &reply));
    assert_int_equal(code, TIX__V1__CODE__OK);
    assert_int_equal(((Tix__V1__Sale *) reply)->state, TIX__V1__SALE__STATE__CLOSED);
    protobuf_c_message_free_unpacked(reply, NULL);
    assert_int_equal(s_buy(1, sale, "late", "", NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);
    assert_int_equal(s_buy(1, sale, "only", "r", got, sizeof got), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_string_equal(got, order);
    /* And the edge, loaded again, agrees. */
    s_wait_edge(0, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);
    s_wait_edge(1, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);
}

/* A notice can be lost (a broker the worker is not connected to): here a
 * cancel made in Redis behind the workers' back sends none at all. Every
 * broker's edge still lets the next buyer in within its check period. */
static void
test_a_change_no_notice_told_is_seen_at_the_edge_within_the_check_period(void **state)
{
    (void) state;
    for (int b = 0; b < 2; b++) {
        char sale[16];
        snprintf(sale, sizeof sale, "cq%d", b);
        s_create(sale, 1);
        assert_int_equal(s_buy(0, sale, "first", "r", NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
        s_wait_edge(0, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
        s_wait_edge(1, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
        assert_int_equal(th_redis_int(&s_m.redis,
                                      "FCALL tix_cancel 5 tix:{%s}:sale tix:{%s}:stock tix:{%s}:buyers tix:{%s}:log "
                                      "tix:{%s}:cancels %s first behind-the-back",
                                      sale, sale, sale, sale, sale, sale),
                         -1); /* an array reply */
        assert_int_equal(th_redis_int(&s_m.redis, "GET tix:{%s}:stock", sale), 1);
        int64_t t0 = tix_now_ms();
        int outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
        for (int i = 0; outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT && tix_now_ms() - t0 < 5000; i++) {
            char user[32];
            snprintf(user, sizeof user, "next-%d", i);
            outcome = s_buy(b, sale, user, "", NULL, 0);
            if (outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT)
                usleep(20000);
        }
        int64_t took = tix_now_ms() - t0;
        fprintf(stderr, "broker %d: the change seen at the edge after %lld ms\n", b, (long long) took);
        assert_int_equal(outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
        assert_true(took < 3 * BROKER_EDGE_CHECK_MS_FOR_TEST);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_on_sold_out_sale_lets_the_next_buyer_in_through_every_broker),
        cmocka_unit_test(test_close_of_a_sold_out_sale_is_seen_at_every_broker_at_once),
        cmocka_unit_test(test_a_change_no_notice_told_is_seen_at_the_edge_within_the_check_period),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
