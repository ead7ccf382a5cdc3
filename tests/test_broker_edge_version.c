/*
 * test_broker_edge_version.c - the sold-out edge's table (broker_edge.h)
 * as a cache of one (incarnation, version) of a sale: cancelled requests
 * answer ORDER_CANCELLED, a load whose pages disagree on the version is
 * discarded, a notice drops the entry and the load under way, and checks
 * are due only for answering entries and drop an entry whose version ended.
 * No clock is read: every now_ms is passed in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker_edge.h"
#include "tix_codec.h"

#define REDIS_T0 1700000000000LL

/* A page of sale "s" at version: buyer u1 (request r1) and, when
 * with_cancel, the cancelled request (u0, r0) of order s:1. */
typedef struct {
    Tix__Worker__V1__BuyersPage page;
    Tix__Worker__V1__Buyer b[2];
    Tix__Worker__V1__Buyer *p[2];
} s_page_t;

static void
s_page(s_page_t *pg, uint64_t version, const char *cursor, bool with_cancel)
{
    tix__worker__v1__buyers_page__init(&pg->page);
    for (int i = 0; i < 2; i++) {
        tix__worker__v1__buyer__init(&pg->b[i]);
        pg->p[i] = &pg->b[i];
    }
    pg->b[0].user_id = "u1", pg->b[0].order_id = "s:2", pg->b[0].request_id = "r1";
    pg->b[0].purchased_at_ms = REDIS_T0 - 10;
    pg->b[1].user_id = "u0", pg->b[1].order_id = "s:1", pg->b[1].request_id = "r0";
    pg->b[1].purchased_at_ms = REDIS_T0 - 20;
    pg->b[1].cancelled_at_ms = REDIS_T0 - 5;
    pg->page.sale_id = "s";
    pg->page.cursor = (char *) cursor;
    pg->page.created_at_ms = REDIS_T0 - 60000;
    pg->page.now_ms = REDIS_T0;
    pg->page.version = version;
    pg->page.buyers = pg->p;
    pg->page.n_buyers = with_cancel ? 2 : 1;
}

static int
s_outcome(broker_edge_t *e, const char *user, const char *req, int64_t now, const char **order)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s";
    r.user_id = (char *) user;
    r.request_id = (char *) req;
    Tix__V1__PurchaseReply reply = TIX__V1__PURCHASE_REPLY__INIT;
    if (!broker_edge_answer(e, &r, now, &reply))
        return -1; /* not answered at the edge */
    if (order)
        *order = reply.order_id;
    return reply.outcome;
}

static void
s_load(broker_edge_t *e, uint64_t version, int64_t now)
{
    uint64_t load = broker_edge_sold_out(e, "s", now);
    assert_true(load != 0);
    s_page_t pg;
    s_page(&pg, version, "0", true);
    assert_false(broker_edge_add_page(e, load, &pg.page, now));
    assert_int_equal(broker_edge_ready_count(e), 1);
}

static void
test_edge_answers_a_cancelled_request_order_cancelled_before_the_buyer(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(4, 100);
    s_load(e, 1, 0);
    const char *order = NULL;
    assert_int_equal(s_outcome(e, "u0", "r0", 0, &order), TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED);
    assert_string_equal(order, "s:1");
    assert_int_equal(s_outcome(e, "u0", "other", 0, NULL), TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    assert_int_equal(s_outcome(e, "u1", "r1", 0, &order), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_string_equal(order, "s:2");
    broker_edge_destroy(&e);
}

static void
test_edge_discards_a_load_whose_pages_disagree_on_the_version(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(4, 100);
    uint64_t load = broker_edge_sold_out(e, "s", 0);
    s_page_t pg;
    s_page(&pg, 3, "17", false);
    assert_true(broker_edge_add_page(e, load, &pg.page, 0));
    s_page(&pg, 4, "0", false); /* a cancel or close came between the pages */
    assert_false(broker_edge_add_page(e, load, &pg.page, 0));
    assert_int_equal(broker_edge_ready_count(e), 0);
    assert_int_equal(broker_edge_dropped(e), 1);
    assert_int_equal(s_outcome(e, "nobody", "", 0, NULL), -1);
    broker_edge_destroy(&e);
}

static void
test_edge_notice_drops_the_entry_and_the_load_under_way(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(4, 100);
    s_load(e, 1, 0);
    assert_true(broker_edge_drop(e, "s"));
    assert_int_equal(s_outcome(e, "nobody", "", 0, NULL), -1);
    uint64_t load = broker_edge_sold_out(e, "s", 0);
    assert_true(broker_edge_drop(e, "s")); /* overtaken while loading */
    s_page_t pg;
    s_page(&pg, 2, "0", false);
    assert_false(broker_edge_add_page(e, load, &pg.page, 0)); /* a stale page */
    assert_int_equal(broker_edge_ready_count(e), 0);
    broker_edge_destroy(&e);
}

typedef struct {
    int calls;
    uint64_t check;
} s_due_t;

static void
s_on_due(void *arg, const char *sale_id, uint64_t check)
{
    s_due_t *d = arg;
    assert_string_equal(sale_id, "s");
    d->calls++;
    d->check = check;
}

static void
test_edge_checks_answering_entries_and_drops_one_whose_version_ended(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(4, 100);
    s_load(e, 5, 0);
    s_due_t d = {0};
    /* Not answered since loaded: nothing to check. */
    assert_int_equal(broker_edge_checks_due(e, 10 * BROKER_EDGE_CHECK_MS, s_on_due, &d), 0);
    s_outcome(e, "nobody", "", 10 * BROKER_EDGE_CHECK_MS, NULL);
    assert_int_equal(broker_edge_checks_due(e, 10 * BROKER_EDGE_CHECK_MS, s_on_due, &d), 1);
    assert_int_equal(d.calls, 1);
    assert_int_equal(broker_edge_checks_due(e, 20 * BROKER_EDGE_CHECK_MS, s_on_due, &d), 0); /* one in flight */

    /* Redis still holds version 5, sold out: confirmed, due again a period later. */
    s_page_t pg;
    s_page(&pg, 5, "0", false);
    int64_t t = 10 * BROKER_EDGE_CHECK_MS + 3;
    assert_true(broker_edge_checked(e, "s", d.check, &pg.page, t));
    s_outcome(e, "nobody", "", t, NULL);
    assert_int_equal(broker_edge_checks_due(e, t + BROKER_EDGE_CHECK_MS - 1, s_on_due, &d), 0);
    assert_int_equal(broker_edge_checks_due(e, t + BROKER_EDGE_CHECK_MS, s_on_due, &d), 1);

    /* A cancel the broker was never told of: version 6. Dropped. */
    s_page(&pg, 6, "0", false);
    assert_false(broker_edge_checked(e, "s", d.check, &pg.page, t + BROKER_EDGE_CHECK_MS));
    assert_int_equal(s_outcome(e, "nobody", "", t + BROKER_EDGE_CHECK_MS, NULL), -1);

    /* Stock again (a version-less edit) drops it too. */
    s_load(e, 6, 0);
    s_outcome(e, "nobody", "", BROKER_EDGE_CHECK_MS, NULL);
    assert_int_equal(broker_edge_checks_due(e, BROKER_EDGE_CHECK_MS, s_on_due, &d), 1);
    s_page(&pg, 6, "0", false);
    pg.page.remaining = 1;
    assert_false(broker_edge_checked(e, "s", d.check, &pg.page, BROKER_EDGE_CHECK_MS));
    assert_int_equal(broker_edge_ready_count(e), 0);
    broker_edge_destroy(&e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_answers_a_cancelled_request_order_cancelled_before_the_buyer),
        cmocka_unit_test(test_edge_discards_a_load_whose_pages_disagree_on_the_version),
        cmocka_unit_test(test_edge_notice_drops_the_entry_and_the_load_under_way),
        cmocka_unit_test(test_edge_checks_answering_entries_and_drops_one_whose_version_ended),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
