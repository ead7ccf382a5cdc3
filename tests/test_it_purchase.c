/*
 * test_it_purchase.c - the purchase path end to end, on real parts:
 * redis-server, tix-broker, two tix-worker processes, libtix.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "harness.h"
#include "stack_fixture.h"
#include "rush.h"
#include "tix.h"
#include "tix_util.h"

static void
s_create_sale(tix_client_t *c, const char *sale, uint32_t total, int64_t opens, int64_t closes)
{
    tix_result_t r;
    assert_int_equal(tix_create_sale(c, sale, total, opens, closes, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    const Tix__V1__Sale *s = (const Tix__V1__Sale *) r.reply;
    assert_string_equal(s->sale_id, sale);
    assert_int_equal(s->total, total);
    assert_int_equal(s->remaining, total);
    tix_result_clear(&r);
}

/* No order_id twice among the winners. */
static void
s_assert_orders_distinct(const th_rush_t *r)
{
    zhashx_t *seen = zhashx_new();
    for (int i = 0; i < r->users; i++) {
        if (r->order_of[i])
            assert_int_equal(zhashx_insert(seen, r->order_of[i], (void *) 1), 0);
    }
    assert_int_equal(zhashx_size(seen), (size_t) r->purchased);
    zhashx_destroy(&seen);
}

static void
s_assert_sale(tix_client_t *c, const char *sale, uint32_t remaining, Tix__V1__Sale__State state)
{
    tix_result_t r;
    assert_int_equal(tix_get_sale(c, sale, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    const Tix__V1__Sale *s = (const Tix__V1__Sale *) r.reply;
    assert_int_equal(s->remaining, remaining);
    assert_int_equal(s->state, state);
    tix_result_clear(&r);
}

static void
test_rush_of_20000_users_sells_exactly_200(void **state)
{
    th_stack_t *stack = *state;
    tix_client_t *c = tix_client_new(stack->frontend);
    s_create_sale(c, "rush20k", 200, 0, 0);
    th_rush_t r;
    assert_true(th_rush(stack->frontend, "rush20k", 20000, 4000, &r, NULL, NULL));
    fprintf(stderr, "rush: purchased=%d sold_out=%d other=%d retries=%d\n", r.purchased, r.sold_out, r.other,
            r.retries);
    assert_int_equal(r.purchased, 200);
    assert_int_equal(r.sold_out, 19800);
    assert_int_equal(r.other, 0);
    s_assert_orders_distinct(&r);
    s_assert_sale(c, "rush20k", 0, TIX__V1__SALE__STATE__SOLD_OUT);
    assert_int_equal(th_redis_int(&stack->redis, "XLEN tix:{rush20k}:log"), 200);
    assert_int_equal(th_redis_int(&stack->redis, "HLEN tix:{rush20k}:buyers"), 200);
    assert_int_equal(th_redis_int(&stack->redis, "GET tix:{rush20k}:stock"), 0);
    th_rush_free(&r);
    tix_client_destroy(&c);
}

/* Sends n Purchases for one user at once, with request_id "req-0" for all
 * (same_request) or "req-i" for the i-th. */
static void
s_concurrent_same_user(tix_client_t *c, const char *sale, const char *user, int n, bool same_request, int *purchased,
                       int *already, char *order_id, size_t order_size)
{
    *purchased = *already = 0;
    order_id[0] = '\0';
    for (int i = 0; i < n; i++) {
        char req[32];
        snprintf(req, sizeof req, "req-%d", same_request ? 0 : i);
        Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
        // cppcheck-suppress unreadVariable ; read through the message's base, which libtix packs
        r.sale_id = (char *) sale;
        // cppcheck-suppress unreadVariable ; read through the message's base, which libtix packs
        r.user_id = (char *) user;
        // cppcheck-suppress unreadVariable ; read through &r.base
        r.request_id = req;
        uint64_t id;
        assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &r.base, 5000, &id), TIX_OK);
    }
    for (int i = 0; i < n; i++) {
        tix_result_t r;
        assert_int_equal(tix_client_recv(c, 5000, &r), TIX_OK);
        assert_int_equal(r.code, TIX__V1__CODE__OK);
        const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r.reply;
        if (p->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED)
            (*purchased)++;
        else if (p->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED)
            (*already)++;
        else
            fail_msg("unexpected outcome %d", p->outcome);
        /* Every reply names the one order. */
        assert_true(p->order_id[0] != '\0');
        if (!order_id[0])
            snprintf(order_id, order_size, "%s", p->order_id);
        assert_string_equal(p->order_id, order_id);
        tix_result_clear(&r);
    }
}

static void
test_one_user_50_concurrent_purchases_get_exactly_one_order(void **state)
{
    th_stack_t *stack = *state;
    tix_client_t *c = tix_client_new(stack->frontend);
    s_create_sale(c, "single", 10, 0, 0);
    zsock_t *sub = zsock_new_sub(stack->events_out, "order.single");
    assert_true(events_join(sub, stack->frontend, 5000));
    int purchased, already;
    char order[128];
    s_concurrent_same_user(c, "single", "carol", 50, false, &purchased, &already, order, sizeof order);
    assert_int_equal(purchased, 1);
    assert_int_equal(already, 49);
    /* Same request_id 50 times: all PURCHASED, one order. */
    char order2[128];
    s_concurrent_same_user(c, "single", "dave", 50, true, &purchased, &already, order2, sizeof order2);
    assert_int_equal(purchased, 50);
    assert_int_equal(already, 0);
    assert_string_not_equal(order, order2);
    assert_int_equal(th_redis_int(&stack->redis, "XLEN tix:{single}:log"), 2);
    s_assert_sale(c, "single", 8, TIX__V1__SALE__STATE__OPEN);
    /* One OrderEvent per order, not per reply. */
    int events = 0;
    zpoller_t *poller = zpoller_new(sub, NULL);
    while (zpoller_wait(poller, 500) == sub) {
        zmsg_t *msg = zmsg_recv(sub);
        char *topic = zmsg_popstr(msg);
        if (strcmp(topic, EVENTS_PROBE_TOPIC) == 0) { /* a late probe from events_join */
            zstr_free(&topic);
            zmsg_destroy(&msg);
            continue;
        }
        assert_string_equal(topic, "order.single");
        zframe_t *f = zmsg_pop(msg);
        Tix__V1__OrderEvent *ev = tix__v1__order_event__unpack(NULL, zframe_size(f), zframe_data(f));
        assert_non_null(ev);
        assert_true(strcmp(ev->order->order_id, order) == 0 || strcmp(ev->order->order_id, order2) == 0);
        assert_true(ev->log_id[0] != '\0');
        assert_true(ev->worker_id[0] != '\0');
        tix__v1__order_event__free_unpacked(ev, NULL);
        zframe_destroy(&f);
        zstr_free(&topic);
        zmsg_destroy(&msg);
        events++;
    }
    assert_int_equal(events, 2);
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    tix_client_destroy(&c);
}

static void
s_buy(tix_client_t *c, const char *sale, const char *user, const char *req, tix_code code,
      Tix__V1__PurchaseReply__Outcome outcome, char *order_out, size_t order_size)
{
    tix_result_t r;
    assert_int_equal(tix_purchase(c, sale, user, req, 5000, &r), TIX_OK);
    assert_int_equal(r.code, code);
    if (code == TIX__V1__CODE__OK) {
        const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r.reply;
        assert_int_equal(p->outcome, outcome);
        if (order_out)
            snprintf(order_out, order_size, "%s", p->order_id);
    }
    tix_result_clear(&r);
}

static void
test_retry_with_same_request_id_gets_same_order_and_new_one_already_purchased(void **state)
{
    th_stack_t *stack = *state;
    tix_client_t *c = tix_client_new(stack->frontend);
    s_create_sale(c, "retry", 5, 0, 0);
    char first[128], again[128], other[128];
    s_buy(c, "retry", "erin", "r1", TIX__V1__CODE__OK, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, first,
          sizeof first);
    s_buy(c, "retry", "erin", "r1", TIX__V1__CODE__OK, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, again,
          sizeof again);
    assert_string_equal(first, again);
    s_buy(c, "retry", "erin", "r2", TIX__V1__CODE__OK, TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED, other,
          sizeof other);
    assert_string_equal(first, other);
    /* Empty request_id: a retry by the same user is the same purchase. */
    s_buy(c, "retry", "frank", "", TIX__V1__CODE__OK, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, first, sizeof first);
    s_buy(c, "retry", "frank", "", TIX__V1__CODE__OK, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, again, sizeof again);
    assert_string_equal(first, again);
    /* GetOrder finds it; a user without a ticket is NOT_FOUND. */
    tix_result_t r;
    assert_int_equal(tix_get_order(c, "retry", "erin", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    const Tix__V1__Order *o = (const Tix__V1__Order *) r.reply;
    assert_string_equal(o->user_id, "erin");
    assert_string_equal(o->request_id, "r1");
    assert_string_equal(o->sale_id, "retry");
    assert_true(o->purchased_at_ms > 1700000000000LL);
    tix_result_clear(&r);
    assert_int_equal(tix_get_order(c, "retry", "nobody", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__NOT_FOUND);
    tix_result_clear(&r);
    assert_int_equal(th_redis_int(&stack->redis, "XLEN tix:{retry}:log"), 2);
    tix_client_destroy(&c);
}

static void
test_create_twice_already_exists_and_unknown_sale_not_found(void **state)
{
    th_stack_t *stack = *state;
    tix_client_t *c = tix_client_new(stack->frontend);
    s_create_sale(c, "twice", 3, 0, 0);
    s_buy(c, "twice", "gina", "", TIX__V1__CODE__OK, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, NULL, 0);
    tix_result_t r;
    assert_int_equal(tix_create_sale(c, "twice", 100, 0, 0, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__ALREADY_EXISTS);
    tix_result_clear(&r);
    s_assert_sale(c, "twice", 2, TIX__V1__SALE__STATE__OPEN); /* not reset */
    s_buy(c, "no-such-sale", "gina", "", TIX__V1__CODE__NOT_FOUND, 0, NULL, 0);
    assert_int_equal(tix_get_sale(c, "no-such-sale", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__NOT_FOUND);
    tix_result_clear(&r);
    assert_int_equal(tix_get_order(c, "no-such-sale", "gina", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__NOT_FOUND);
    tix_result_clear(&r);
    tix_client_destroy(&c);
}

static void
test_lost_redis_data_is_not_found_not_sold_out(void **state)
{
    th_stack_t *stack = *state;
    tix_client_t *c = tix_client_new(stack->frontend);
    s_create_sale(c, "wiped", 3, 0, 0);
    th_redis_int(&stack->redis, "DEL tix:{wiped}:sale tix:{wiped}:stock");
    s_buy(c, "wiped", "hank", "", TIX__V1__CODE__NOT_FOUND, 0, NULL, 0);
    tix_client_destroy(&c);
}

static void
test_before_opening_sale_not_open_and_after_closing_sale_closed(void **state)
{
    th_stack_t *stack = *state;
    tix_client_t *c = tix_client_new(stack->frontend);
    int64_t now = tix_wall_ms();
    s_create_sale(c, "later", 5, now + 3600 * 1000, 0);
    tix_result_t r;
    assert_int_equal(tix_purchase(c, "later", "ivy", "", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_int_equal(((Tix__V1__PurchaseReply *) r.reply)->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_NOT_OPEN);
    assert_true(r.retry_after_ms > 0);
    tix_result_clear(&r);
    s_assert_sale(c, "later", 5, TIX__V1__SALE__STATE__SCHEDULED);
    s_create_sale(c, "over", 5, 1, now - 1000);
    s_buy(c, "over", "ivy", "", TIX__V1__CODE__OK, TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED, NULL, 0);
    s_assert_sale(c, "over", 5, TIX__V1__SALE__STATE__CLOSED);
    tix_client_destroy(&c);
}

static void
s_kill_worker_at(int answered, void *arg)
{
    th_stack_t *stack = arg;
    if (answered == 1500) {
        fprintf(stderr, "killing worker 0 with SIGKILL after %d answers\n", answered);
        th_proc_stop(&stack->workers[0], SIGKILL, 1000);
    }
}

static void
test_worker_killed_mid_rush_no_oversell_and_every_call_answered(void **state)
{
    th_stack_t *stack = *state;
    tix_client_t *c = tix_client_new(stack->frontend);
    s_create_sale(c, "killed", 3000, 0, 0);
    th_rush_t r;
    assert_true(th_rush(stack->frontend, "killed", 6000, 1000, &r, s_kill_worker_at, stack));
    fprintf(stderr, "kill rush: purchased=%d sold_out=%d other=%d retries=%d\n", r.purchased, r.sold_out, r.other,
            r.retries);
    /* Every user got a final answer; retries were exact. */
    assert_int_equal(r.purchased + r.sold_out, 6000);
    assert_int_equal(r.other, 0);
    assert_int_equal(r.purchased, 3000);
    s_assert_orders_distinct(&r);
    assert_int_equal(th_redis_int(&stack->redis, "XLEN tix:{killed}:log"), 3000);
    assert_int_equal(th_redis_int(&stack->redis, "HLEN tix:{killed}:buyers"), 3000);
    th_rush_free(&r);
    assert_true(th_stack_start_worker(stack, 0));
    tix_client_destroy(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rush_of_20000_users_sells_exactly_200),
        cmocka_unit_test(test_one_user_50_concurrent_purchases_get_exactly_one_order),
        cmocka_unit_test(test_retry_with_same_request_id_gets_same_order_and_new_one_already_purchased),
        cmocka_unit_test(test_create_twice_already_exists_and_unknown_sale_not_found),
        cmocka_unit_test(test_lost_redis_data_is_not_found_not_sold_out),
        cmocka_unit_test(test_before_opening_sale_not_open_and_after_closing_sale_closed),
        cmocka_unit_test(test_worker_killed_mid_rush_no_oversell_and_every_call_answered),
    };
    return cmocka_run_group_tests(tests, stack_fixture_setup, stack_fixture_teardown);
}
