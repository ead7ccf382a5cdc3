/*
 * test_rush_tally.c - tix-rush's answer counts and its invariant checks.
 *
 * The checks are what make a rush PASS or FAIL, so each one is shown to
 * fail on the fault it exists for: an oversold or undersold sale, one order
 * given to two users, a user answered twice, an error answer, a client-side
 * timeout, a wrong remaining stock; and to pass on a correct run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rush_check.h"
#include "rush_tally.h"

static Tix__V1__PurchaseReply
s_reply(int outcome, const char *order_id)
{
    Tix__V1__PurchaseReply r = TIX__V1__PURCHASE_REPLY__INIT;
    r.outcome = outcome;
    r.order_id = (char *) (order_id ? order_id : "");
    return r;
}

/* users users, the first `sold` PURCHASED with order "s:<i+1>", the rest
 * SOLD_OUT; the last PURCHASED at time 1000 * sold. */
static rush_tally_t *
s_correct_run(uint32_t users, uint32_t available)
{
    rush_tally_t *t = rush_tally_new(users, available);
    for (uint32_t u = 0; u < users; u++) {
        char order[32];
        snprintf(order, sizeof order, "s:%u", u + 1);
        Tix__V1__PurchaseReply r = u < available ? s_reply(TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, order)
                                                 : s_reply(TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT, NULL);
        rush_tally_call(t);
        rush_tally_final(t, u, TIX__V1__CODE__OK, &r, false, 1000 * (int64_t) (u + 1));
    }
    return t;
}

static const rush_check_t *
s_find(const rush_checks_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->items[i].name, name) == 0)
            return &c->items[i];
    }
    fail_msg("no check %s", name);
    return NULL;
}

static void
test_tally_correct_rush_passes_every_check(void **state)
{
    (void) state;
    rush_tally_t *t = s_correct_run(1000, 200);
    const rush_counts_t *c = rush_tally_counts(t);
    assert_int_equal(c->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED], 200);
    assert_int_equal(c->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT], 800);
    assert_int_equal(c->sellout_us, 200 * 1000); /* the 200th purchase sold the last ticket */
    assert_true(rush_tally_answered(t, 999));
    rush_sale_t before = {200, 200, TIX__V1__SALE__STATE__OPEN, -1},
                after = {200, 0, TIX__V1__SALE__STATE__SOLD_OUT, -1};
    rush_checks_t checks;
    rush_check_all(c, &before, &after, NULL, &checks);
    for (size_t i = 0; i < checks.n; i++)
        if (!checks.items[i].pass)
            fail_msg("%s: %s", checks.items[i].name, checks.items[i].detail);
    assert_true(checks.pass);
    rush_tally_destroy(&t);
    rush_tally_destroy(&t);
}

static void
test_tally_fewer_users_than_tickets_never_sells_out(void **state)
{
    (void) state;
    rush_tally_t *t = s_correct_run(50, 200);
    const rush_counts_t *c = rush_tally_counts(t);
    assert_int_equal(c->expected_purchases, 50);
    assert_int_equal(c->sellout_us, -1);
    rush_sale_t before = {200, 200, TIX__V1__SALE__STATE__OPEN, -1}, after = {200, 150, TIX__V1__SALE__STATE__OPEN, -1};
    rush_checks_t checks;
    rush_check_all(c, &before, &after, NULL, &checks);
    assert_true(checks.pass);
    after.remaining = 149; /* one more sold than we were told */
    rush_check_all(c, &before, &after, NULL, &checks);
    assert_false(s_find(&checks, "sale_remaining")->pass);
    assert_false(checks.pass);
    rush_tally_destroy(&t);
}

static void
test_tally_oversold_fails_purchased_exact(void **state)
{
    (void) state;
    rush_tally_t *t = s_correct_run(1000, 201); /* the service sold 201 of 200 */
    rush_sale_t before = {200, 200, TIX__V1__SALE__STATE__OPEN, -1},
                after = {200, 0, TIX__V1__SALE__STATE__SOLD_OUT, -1};
    rush_counts_t c = *rush_tally_counts(t);
    c.available = 200;
    c.expected_purchases = 200;
    rush_checks_t checks;
    rush_check_all(&c, &before, &after, NULL, &checks);
    assert_false(s_find(&checks, "purchased_exact")->pass);
    assert_false(checks.pass);
    rush_tally_destroy(&t);
}

/* 50 orders cancelled while the rush ran (the order log's cancel entries
 * after minus before) and sold again: 250 PURCHASED of 200 is no
 * oversell; 251 is. */
static void
test_tally_cancels_during_the_rush_are_accounted_for(void **state)
{
    (void) state;
    rush_tally_t *t = s_correct_run(1000, 250);
    rush_counts_t c = *rush_tally_counts(t);
    c.available = 200;
    c.expected_purchases = 200;
    rush_sale_t before = {200, 200, TIX__V1__SALE__STATE__OPEN, 7},
                after = {200, 0, TIX__V1__SALE__STATE__SOLD_OUT, 57};
    rush_checks_t checks;
    rush_check_all(&c, &before, &after, NULL, &checks);
    for (size_t i = 0; i < checks.n; i++)
        if (!checks.items[i].pass)
            fail_msg("%s: %s", checks.items[i].name, checks.items[i].detail);
    after.cancels = 56; /* one cancel fewer: 250 sold would be one too many */
    rush_check_all(&c, &before, &after, NULL, &checks);
    assert_false(s_find(&checks, "purchased_exact")->pass);
    assert_false(checks.pass);
    rush_tally_destroy(&t);
}

static void
test_tally_shared_order_and_double_answer_fail_one_per_user(void **state)
{
    (void) state;
    rush_tally_t *t = rush_tally_new(3, 2);
    Tix__V1__PurchaseReply a = s_reply(TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, "s:1");
    rush_tally_final(t, 0, TIX__V1__CODE__OK, &a, false, 1);
    rush_tally_final(t, 1, TIX__V1__CODE__OK, &a, false, 2); /* the same order for another user */
    rush_tally_final(t, 1, TIX__V1__CODE__OK, &a, false, 3); /* and that user answered twice */
    const rush_counts_t *c = rush_tally_counts(t);
    assert_int_equal(c->shared_orders, 1);
    assert_int_equal(c->duplicate_answers, 1);
    assert_int_equal(c->answered, 2);
    rush_sale_t before = {2, 2, TIX__V1__SALE__STATE__OPEN, -1};
    rush_checks_t checks;
    rush_check_all(c, &before, NULL, "UNAVAILABLE", &checks);
    assert_false(s_find(&checks, "one_per_user")->pass);
    assert_false(s_find(&checks, "all_answered")->pass); /* user 2 never answered */
    assert_false(s_find(&checks, "sale_remaining")->pass);
    rush_tally_destroy(&t);
}

static void
test_tally_errors_and_client_timeouts_fail_their_checks(void **state)
{
    (void) state;
    rush_tally_t *t = rush_tally_new(3, 0);
    Tix__V1__PurchaseReply so = s_reply(TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT, NULL);
    rush_tally_final(t, 0, TIX__V1__CODE__OK, &so, false, 1);
    rush_tally_final(t, 1, TIX__V1__CODE__DEADLINE_EXCEEDED, NULL, true, 2);
    rush_tally_final(t, 2, TIX__V1__CODE__RESOURCE_EXHAUSTED, NULL, false, 3);
    rush_tally_retry(t, TIX__V1__CODE__RESOURCE_EXHAUSTED);
    rush_tally_malformed(t);
    const rush_counts_t *c = rush_tally_counts(t);
    assert_int_equal(c->errors[TIX__V1__CODE__DEADLINE_EXCEEDED], 1);
    assert_int_equal(c->errors[TIX__V1__CODE__RESOURCE_EXHAUSTED], 1);
    assert_int_equal(c->retries[TIX__V1__CODE__RESOURCE_EXHAUSTED], 1);
    assert_int_equal(c->client_timeouts, 1);
    rush_sale_t before = {5, 0, TIX__V1__SALE__STATE__SOLD_OUT, -1}, after = before;
    rush_checks_t checks;
    rush_check_all(c, &before, &after, NULL, &checks);
    assert_false(s_find(&checks, "all_answered")->pass);
    assert_false(s_find(&checks, "no_errors")->pass);
    assert_true(s_find(&checks, "purchased_exact")->pass); /* 0 of 0 */
    assert_true(s_find(&checks, "sale_remaining")->pass);
    rush_tally_destroy(&t);
}

static void
test_tally_order_set_grows_past_its_expected_size(void **state)
{
    (void) state;
    enum { USERS = 100000 };
    rush_tally_t *t = rush_tally_new(USERS, 10); /* sized for 10 orders */
    for (uint32_t u = 0; u < USERS; u++) {
        char order[32];
        snprintf(order, sizeof order, "big:%u", u);
        Tix__V1__PurchaseReply r = s_reply(TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, order);
        rush_tally_final(t, u, TIX__V1__CODE__OK, &r, false, u);
    }
    assert_int_equal(rush_tally_counts(t)->shared_orders, 0);
    assert_int_equal(rush_tally_counts(t)->sellout_us, 9); /* the 10th sold the 10 available */
    assert_int_not_equal(rush_tally_fingerprint(""), 0);
    assert_int_not_equal(rush_tally_fingerprint("a"), rush_tally_fingerprint("b"));
    rush_tally_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tally_correct_rush_passes_every_check),
        cmocka_unit_test(test_tally_fewer_users_than_tickets_never_sells_out),
        cmocka_unit_test(test_tally_oversold_fails_purchased_exact),
        cmocka_unit_test(test_tally_cancels_during_the_rush_are_accounted_for),
        cmocka_unit_test(test_tally_shared_order_and_double_answer_fail_one_per_user),
        cmocka_unit_test(test_tally_errors_and_client_timeouts_fail_their_checks),
        cmocka_unit_test(test_tally_order_set_grows_past_its_expected_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
