/*
 * test_it_soldout.c - sold out at the edge (DESIGN.md guarantee 7): once a
 * sale is sold out the broker answers Purchase itself, exactly, and Redis
 * sees no Purchase for it (only the edge's check, one read a second at
 * most). Counted with INFO commandstats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault.h"
#include "harness.h"
#include "stack_fixture.h"
#include "rush.h"
#include "tix.h"
#include "tix_util.h"

static long long
s_fcalls(const th_stack_t *stack)
{
    return th_redis_calls(&stack->redis, "fcall") + th_redis_calls(&stack->redis, "fcall_ro");
}

/* A Purchase answered OK, whatever remains; its outcome. */
static Tix__V1__PurchaseReply__Outcome
s_buy_any(tix_client_t *c, const char *sale, const char *user, const char *req, char *order, size_t order_size,
          uint32_t *remaining)
{
    tix_result_t r;
    assert_int_equal(tix_purchase(c, sale, user, req, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r.reply;
    Tix__V1__PurchaseReply__Outcome outcome = p->outcome;
    if (order)
        snprintf(order, order_size, "%s", p->order_id);
    if (remaining)
        *remaining = p->remaining;
    tix_result_clear(&r);
    return outcome;
}

/* A Purchase of a sold-out sale: asserts nothing remains. */
static Tix__V1__PurchaseReply__Outcome
s_buy(tix_client_t *c, const char *sale, const char *user, const char *req, char *order, size_t order_size)
{
    uint32_t remaining;
    Tix__V1__PurchaseReply__Outcome outcome = s_buy_any(c, sale, user, req, order, order_size, &remaining);
    assert_int_equal(remaining, 0);
    return outcome;
}

/* Waits until a Purchase by a new user costs Redis nothing. */
static void
s_wait_edge_ready(const th_stack_t *stack, tix_client_t *c, const char *sale)
{
    for (int i = 0; i < 200; i++) {
        long long before = s_fcalls(stack);
        char user[32];
        snprintf(user, sizeof user, "probe-%d", i);
        assert_int_equal(s_buy(c, sale, user, "", NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
        if (s_fcalls(stack) == before)
            return;
        usleep(10000);
    }
    fail_msg("the broker never answered the sold-out sale by itself");
}

/* Sells out `sale` (tickets) to `users`, waits for the edge, then runs the
 * same rush again and checks it is answered exactly without Redis. */
static void
s_check_edge(const th_stack_t *stack, const char *sale, int tickets, int users)
{
    tix_client_t *c = tix_client_new(stack->frontend);
    tix_result_t r;
    assert_int_equal(tix_create_sale(c, sale, (uint32_t) tickets, 0, 0, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    tix_result_clear(&r);

    th_rush_t first;
    assert_true(th_rush(stack->frontend, sale, users, 2000, &first, NULL, NULL));
    assert_int_equal(first.purchased, tickets);
    assert_int_equal(first.sold_out, users - tickets);
    s_wait_edge_ready(stack, c, sale);

    /* The same users again (same request_ids): the buyers get their own
     * orders back, everyone else SOLD_OUT, and Redis sees no Purchase: only
     * the edge's check that the sale's version still holds, one read a
     * second at most (BROKER_EDGE_CHECK_MS) while the edge answers. */
    long long fcalls = th_redis_calls(&stack->redis, "fcall"), reads = th_redis_calls(&stack->redis, "fcall_ro");
    int64_t t0 = tix_now_ms();
    th_rush_t again;
    assert_true(th_rush(stack->frontend, sale, users, 2000, &again, NULL, NULL));
    long long checks = th_redis_calls(&stack->redis, "fcall_ro") - reads;
    assert_int_equal(th_redis_calls(&stack->redis, "fcall"), fcalls);
    assert_true(checks <= 1 + (tix_now_ms() - t0) / 1000);
    fcalls = s_fcalls(stack);
    assert_int_equal(again.purchased, tickets);
    assert_int_equal(again.sold_out, users - tickets);
    assert_int_equal(again.other, 0);
    for (int i = 0; i < users; i++) {
        if (first.order_of[i])
            assert_string_equal(first.order_of[i], again.order_of[i]);
        else
            assert_null(again.order_of[i]);
    }

    /* A buyer with a new request_id: ALREADY_PURCHASED, their order. */
    int buyer = 0;
    while (!first.order_of[buyer])
        buyer++;
    char user[96], order[128];
    th_rush_user(user, sizeof user, sale, buyer);
    assert_int_equal(s_buy(c, sale, user, "another-request", order, sizeof order),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED);
    assert_string_equal(order, first.order_of[buyer]);
    assert_true(s_fcalls(stack) <= fcalls + 1); /* a check may fall due */

    /* What Redis holds is what the edge said. */
    assert_int_equal(tix_get_order(c, sale, user, 5000, &r), TIX_OK);
    assert_string_equal(((Tix__V1__Order *) r.reply)->order_id, first.order_of[buyer]);
    tix_result_clear(&r);
    th_rush_free(&first);
    th_rush_free(&again);
    tix_client_destroy(&c);
}

static void
test_sold_out_sale_is_answered_at_the_edge_exactly_without_redis(void **state)
{
    th_stack_t *stack = *state;
    s_check_edge(stack, "edge", 200, 20000);
    assert_int_equal(th_redis_int(&stack->redis, "XLEN tix:{edge}:log"), 200);
}

/* 1,500 buyers: Redis keeps them in a real hash table, so HSCAN answers
 * in many pages. */
static void
test_edge_loads_a_large_sale_page_by_page(void **state)
{
    th_stack_t *stack = *state;
    s_check_edge(stack, "edge-big", 1500, 3000);
}

static void
test_open_sale_still_goes_to_redis(void **state)
{
    th_stack_t *stack = *state;
    assert_true(tf_create_sale(stack->frontend, "open", 1000));
    tix_client_t *c = tix_client_new(stack->frontend);
    tix_result_t r;
    long long before = th_redis_calls(&stack->redis, "fcall");
    assert_int_equal(tix_purchase(c, "open", "zed", "", 5000, &r), TIX_OK);
    assert_int_equal(((Tix__V1__PurchaseReply *) r.reply)->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    tix_result_clear(&r);
    assert_int_equal(th_redis_calls(&stack->redis, "fcall"), before + 1);
    tix_client_destroy(&c);
}

/* Issue 12 item 2: a sold-out sale at the edge, then a Redis that lost
 * its data and the sale created again with 5 tickets. The edge must not
 * keep answering SOLD_OUT, nor hand a buyer their old order: Purchases go to
 * Redis again and answer as it says. */
static void
test_edge_forgets_a_sale_created_again_after_redis_lost_its_data(void **state)
{
    th_stack_t *stack = *state;
    assert_true(tf_create_sale(stack->frontend, "reborn", 2));
    tix_client_t *c = tix_client_new(stack->frontend);
    tix_result_t r;
    char old_order[128];
    assert_int_equal(s_buy_any(c, "reborn", "first", "r-1", old_order, sizeof old_order, NULL),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_int_equal(s_buy_any(c, "reborn", "second", "", NULL, 0, NULL), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    s_wait_edge_ready(stack, c, "reborn");

    int64_t flushed_at = tix_wall_ms();
    assert_int_equal(th_redis_int(&stack->redis, "FLUSHALL"), -1); /* a status reply, not an integer */
    assert_int_equal(th_redis_int(&stack->redis, "EXISTS tix:{reborn}:sale"), 0);
    assert_int_equal(tix_create_sale(c, "reborn", 5, 0, 0, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_int_equal(((Tix__V1__Sale *) r.reply)->remaining, 5);
    tix_result_clear(&r);

    /* The old buyer, same request: Redis sells them a ticket of the new sale. */
    long long fcalls = s_fcalls(stack);
    uint32_t remaining;
    char order[128];
    assert_int_equal(s_buy_any(c, "reborn", "first", "r-1", order, sizeof order, &remaining),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_int_equal(remaining, 4);
    assert_true(s_fcalls(stack) > fcalls);
    /* The first ticket of the new incarnation: an id no order ever had. */
    assert_int_equal(th_order_seq(order, "reborn"), 1);
    assert_int_equal(th_order_seq(old_order, "reborn"), 1);
    assert_string_not_equal(order, old_order);
    assert_int_equal(tix_get_order(c, "reborn", "first", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_string_equal(((Tix__V1__Order *) r.reply)->order_id, order);
    assert_true(((Tix__V1__Order *) r.reply)->purchased_at_ms >= flushed_at - 1000); /* not the old order */
    tix_result_clear(&r);
    assert_int_equal(s_buy_any(c, "reborn", "newcomer", "", NULL, 0, &remaining),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_int_equal(remaining, 3);
    assert_int_equal(tix_get_sale(c, "reborn", 5000, &r), TIX_OK);
    assert_int_equal(((Tix__V1__Sale *) r.reply)->state, TIX__V1__SALE__STATE__OPEN);
    assert_int_equal(((Tix__V1__Sale *) r.reply)->remaining, 3);
    tix_result_clear(&r);
    tix_client_destroy(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sold_out_sale_is_answered_at_the_edge_exactly_without_redis),
        cmocka_unit_test(test_edge_loads_a_large_sale_page_by_page),
        cmocka_unit_test(test_open_sale_still_goes_to_redis),
        cmocka_unit_test(test_edge_forgets_a_sale_created_again_after_redis_lost_its_data),
    };
    return cmocka_run_group_tests(tests, stack_fixture_setup, stack_fixture_teardown);
}
