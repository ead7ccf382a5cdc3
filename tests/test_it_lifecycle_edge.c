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

/* FCALLs (fcall_ro too unless writes_only) Redis has run so far (INFO
 * commandstats). */
static long long
s_calls(bool writes_only)
{
    redisContext *c = th_redis_connect(&s_m.redis);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "INFO commandstats");
    assert_non_null(r);
    long long calls = 0;
    const char *names[] = {"cmdstat_fcall:calls=", "cmdstat_fcall_ro:calls="};
    for (int i = 0; i < (writes_only ? 1 : 2); i++) {
        const char *at = strstr(r->str, names[i]);
        calls += at ? atoll(at + strlen(names[i])) : 0;
    }
    freeReplyObject(r);
    redisFree(c);
    return calls;
}

static long long
s_fcalls(void)
{
    return s_calls(false);
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
    assert_true(th_admin_call(s_m.broker[b].frontend, TIX_METHOD_CANCEL_ORDER, &req, 5000, &code, &reply));
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
     * without a Purchase reaching Redis (an edge check, a read, may). */
    s_wait_edge(0, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    s_wait_edge(1, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    long long fcalls = s_calls(true);
    for (int b = 0; b < 2; b++) {
        assert_int_equal(s_buy(b, sale, "buyer-0", "r", got, sizeof got),
                         TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED);
        assert_string_equal(got, order[0]);
        assert_int_equal(s_buy(b, sale, "buyer-8", "r", got, sizeof got), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
        assert_string_equal(got, order[8]);
    }
    assert_int_equal(s_calls(true), fcalls);
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
    assert_true(th_admin_call(s_m.broker[0].frontend, TIX_METHOD_CLOSE_SALE, &req, 5000, &code, &reply));
    assert_int_equal(code, TIX__V1__CODE__OK);
    assert_int_equal(((Tix__V1__Sale *) reply)->state, TIX__V1__SALE__STATE__CLOSED);
    protobuf_c_message_free_unpacked(reply, NULL);
    assert_int_equal(s_buy(1, sale, "late", "", NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);
    assert_int_equal(s_buy(1, sale, "only", "r", got, sizeof got), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_string_equal(got, order);
    /* And the edge, loaded again, agrees. */
    s_wait_edge(0, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);
    s_wait_edge(1, sale, TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);

    /* Closing again changes nothing and tells no broker: both edges keep
     * answering without a Purchase reaching Redis. */
    assert_true(th_admin_call(s_m.broker[0].frontend, TIX_METHOD_CLOSE_SALE, &req, 5000, &code, &reply));
    assert_int_equal(code, TIX__V1__CODE__OK);
    protobuf_c_message_free_unpacked(reply, NULL);
    long long writes = s_calls(true);
    for (int b = 0; b < 2; b++)
        assert_int_equal(s_buy(b, sale, "later", "", NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);
    assert_int_equal(s_calls(true), writes);
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

/* ListOrders through a broker: pages of up to 1,000 entries trimmed to the
 * 64 KiB message limit, every entry exactly once in log order, cancels with
 * their reason; a token that is no log id is INVALID_ARGUMENT. ListSales
 * shows each sale with its state. */
static void
test_list_orders_and_list_sales_through_a_broker(void **state)
{
    (void) state;
    const char *sale = "lx";
    enum { N = 300 };
    s_create(sale, N);
    char user[32], reason[257];
    memset(reason, 'x', 256);
    reason[256] = '\0';
    for (int i = 0; i < N; i++) {
        snprintf(user, sizeof user, "u%03d", i);
        assert_int_equal(s_buy(i % 2, sale, user, "r", NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
        Tix__V1__CancelOrderRequest req = TIX__V1__CANCEL_ORDER_REQUEST__INIT;
        req.sale_id = (char *) sale;
        req.user_id = user;
        req.reason = reason;
        tix_code code;
        ProtobufCMessage *reply;
        assert_true(th_admin_call(s_m.broker[0].frontend, TIX_METHOD_CANCEL_ORDER, &req, 5000, &code, &reply));
        assert_int_equal(code, TIX__V1__CODE__OK);
        protobuf_c_message_free_unpacked(reply, NULL);
    }
    char token[128] = "";
    int pages = 0, purchases = 0, cancels = 0;
    do {
        Tix__V1__ListOrdersRequest req = TIX__V1__LIST_ORDERS_REQUEST__INIT;
        req.sale_id = (char *) sale;
        req.page_size = 1000;
        req.page_token = token;
        tix_code code;
        ProtobufCMessage *reply;
        assert_true(th_admin_call(s_m.broker[1].frontend, TIX_METHOD_LIST_ORDERS, &req, 5000, &code, &reply));
        assert_int_equal(code, TIX__V1__CODE__OK);
        const Tix__V1__ListOrdersReply *page = (const Tix__V1__ListOrdersReply *) reply;
        assert_true(page->n_orders > 0 && page->n_orders < 2 * N);
        for (size_t i = 0; i < page->n_orders; i++) {
            const Tix__V1__Order *o = page->orders[i];
            assert_string_equal(o->sale_id, sale);
            if (o->cancelled_at_ms) {
                assert_string_equal(o->cancel_reason, reason);
                cancels++;
            } else {
                purchases++;
            }
        }
        snprintf(token, sizeof token, "%s", page->next_page_token);
        protobuf_c_message_free_unpacked(reply, NULL);
        pages++;
    } while (token[0] && pages < 10);
    fprintf(stderr, "ListOrders: %d entries of ~300 bytes in %d pages\n", purchases + cancels, pages);
    assert_int_equal(purchases, N);
    assert_int_equal(cancels, N);
    assert_true(pages >= 2); /* 600 x ~300 bytes do not fit one 64 KiB message */

    Tix__V1__ListOrdersRequest bad = TIX__V1__LIST_ORDERS_REQUEST__INIT;
    bad.sale_id = (char *) sale;
    bad.page_token = "not-a-log-id";
    tix_code code;
    ProtobufCMessage *reply;
    assert_true(th_admin_call(s_m.broker[0].frontend, TIX_METHOD_LIST_ORDERS, &bad, 5000, &code, &reply));
    assert_int_equal(code, TIX__V1__CODE__INVALID_ARGUMENT);

    Tix__V1__ListSalesRequest list = TIX__V1__LIST_SALES_REQUEST__INIT;
    list.page_token = "lw"; /* from after "lw": "lx" first */
    list.page_size = 1;
    assert_true(th_admin_call(s_m.broker[0].frontend, TIX_METHOD_LIST_SALES, &list, 5000, &code, &reply));
    assert_int_equal(code, TIX__V1__CODE__OK);
    const Tix__V1__ListSalesReply *sales = (const Tix__V1__ListSalesReply *) reply;
    assert_int_equal(sales->n_sales, 1);
    assert_string_equal(sales->sales[0]->sale_id, sale);
    assert_int_equal(sales->sales[0]->remaining, N);
    assert_int_equal(sales->sales[0]->state, TIX__V1__SALE__STATE__OPEN);
    assert_string_equal(sales->next_page_token, sale);
    protobuf_c_message_free_unpacked(reply, NULL);
}

/* A broker that does not echo the notice (stopped: its socket stays open)
 * delays a CancelOrder's answer by WORKER_NOTICE_WAIT_MS (200) at most,
 * never more; the broker that answers still echoes in time. */
static void
test_a_broker_that_does_not_echo_the_notice_delays_the_answer_a_bounded_time(void **state)
{
    (void) state;
    const char *sale = "cw";
    s_create(sale, 2);
    assert_int_equal(s_buy(0, sale, "a", "r", NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_int_equal(s_buy(0, sale, "b", "r", NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    char order[128];
    int64_t t0 = tix_now_ms();
    s_cancel(0, sale, "a", order, sizeof order);
    int64_t both = tix_now_ms() - t0;
    assert_int_equal(kill(s_m.broker[1].proc.pid, SIGSTOP), 0);
    t0 = tix_now_ms();
    s_cancel(0, sale, "b", order, sizeof order);
    int64_t one = tix_now_ms() - t0;
    assert_int_equal(kill(s_m.broker[1].proc.pid, SIGCONT), 0);
    fprintf(stderr, "CancelOrder answered in %lld ms with both brokers echoing, %lld ms with one stopped\n",
            (long long) both, (long long) one);
    assert_true(one >= 150 && one < 2000);
    assert_true(th_wait_serving(s_m.broker[1].frontend, 10000));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_on_sold_out_sale_lets_the_next_buyer_in_through_every_broker),
        cmocka_unit_test(test_close_of_a_sold_out_sale_is_seen_at_every_broker_at_once),
        cmocka_unit_test(test_a_change_no_notice_told_is_seen_at_the_edge_within_the_check_period),
        cmocka_unit_test(test_list_orders_and_list_sales_through_a_broker),
        cmocka_unit_test(test_a_broker_that_does_not_echo_the_notice_delays_the_answer_a_bounded_time),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
