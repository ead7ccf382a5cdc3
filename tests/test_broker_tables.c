/*
 * test_broker_tables.c - the broker's worker table and job table/queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "broker_edge.h"
#include "broker_jobs.h"
#include "broker_limit.h"
#include "broker_workers.h"

static void
test_next_free_is_round_robin_and_respects_credit(void **state)
{
    (void) state;
    broker_workers_t *t = broker_workers_new();
    broker_worker_t *a = broker_workers_add(t, "A", 1, "a", 2, 1000, true, 0);
    broker_worker_t *b = broker_workers_add(t, "B", 1, "b", 1, 1000, true, 0);
    int picks_a = 0, picks_b = 0;
    broker_worker_t *w;
    while ((w = broker_workers_next_free(t)) != NULL) {
        w->in_flight++;
        if (w == a)
            picks_a++;
        else
            picks_b++;
    }
    assert_int_equal(picks_a, 2);
    assert_int_equal(picks_b, 1);
    assert_int_equal(broker_workers_free_credit(t), 0);
    b->in_flight--;
    assert_ptr_equal(broker_workers_next_free(t), b);
    broker_workers_destroy(&t);
    assert_null(t);
    broker_workers_destroy(&t); /* idempotent */
}

static void
test_find_remove_and_liveness(void **state)
{
    (void) state;
    broker_workers_t *t = broker_workers_new();
    broker_worker_t *a = broker_workers_add(t, "\0\1\2\3\4", 5, "a", 1, 100, false, 1000);
    assert_int_equal(a->expires_at_ms, 1000 + BROKER_LIVENESS * 100);
    assert_ptr_equal(broker_workers_find(t, "\0\1\2\3\4", 5), a);
    assert_null(broker_workers_find(t, "\0\1\2\3", 4));
    assert_false(broker_workers_any_serving(t));
    a->redis_ok = true;
    assert_true(broker_workers_any_serving(t));
    broker_worker_touch(a, 5000);
    assert_int_equal(a->expires_at_ms, 5300);
    broker_workers_remove(t, &a);
    assert_null(a);
    assert_int_equal(broker_workers_count(t), 0);
    assert_null(broker_workers_next_free(t));
    broker_workers_destroy(&t);
}

static void
test_jobs_queue_is_fifo_with_front_insertion(void **state)
{
    (void) state;
    broker_jobs_t *q = broker_jobs_new();
    broker_job_t *j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = broker_jobs_alloc(q);
        j[i]->call_id = (uint64_t) i;
        broker_jobs_push_back(q, j[i]);
    }
    broker_job_t *first = broker_jobs_pop(q);
    assert_ptr_equal(first, j[0]);
    broker_jobs_push_front(q, first);
    assert_int_equal(broker_jobs_queued(q), 3);
    assert_ptr_equal(broker_jobs_pop(q), j[0]);
    assert_ptr_equal(broker_jobs_pop(q), j[1]);
    assert_ptr_equal(broker_jobs_pop(q), j[2]);
    assert_null(broker_jobs_pop(q));
    assert_int_equal(broker_jobs_live(q), 3);
    for (int i = 0; i < 3; i++)
        broker_jobs_free(q, j[i]);
    assert_int_equal(broker_jobs_live(q), 0);
    broker_jobs_destroy(&q);
}

static broker_job_t *
s_push(broker_jobs_t *q, uint64_t flow, uint64_t call_id)
{
    broker_job_t *j = broker_jobs_alloc(q);
    j->flow = flow;
    j->call_id = call_id;
    broker_jobs_push_back(q, j);
    return j;
}

static void
test_jobs_of_different_clients_are_taken_in_turn(void **state)
{
    (void) state;
    broker_jobs_t *q = broker_jobs_new();
    /* A flood of 100 from client 7 first, then 2 calls of client 9. */
    for (uint64_t i = 0; i < 100; i++)
        s_push(q, 7, 700 + i);
    s_push(q, 9, 900);
    s_push(q, 9, 901);
    assert_int_equal(broker_jobs_queued_of(q, 7), 100);
    assert_int_equal(broker_jobs_queued_of(q, 9), 2);
    /* Client 9 waits for one of 7's calls each, not for all 100. */
    uint64_t expect[] = {700, 900, 701, 901, 702, 703};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        broker_job_t *j = broker_jobs_pop(q);
        assert_int_equal(j->call_id, expect[i]);
        broker_jobs_free(q, j);
    }
    assert_int_equal(broker_jobs_queued_of(q, 9), 0);
    broker_jobs_destroy(&q);
}

static void
test_steal_takes_the_newest_call_of_the_client_holding_most(void **state)
{
    (void) state;
    broker_jobs_t *q = broker_jobs_new();
    for (uint64_t i = 0; i < 4; i++)
        s_push(q, 7, 700 + i);
    s_push(q, 8, 800);
    s_push(q, 0, 1); /* the broker's own job is never taken */
    /* Client 9 holds nothing: 7's newest makes room. */
    broker_job_t *victim = broker_jobs_steal(q, 9);
    assert_non_null(victim);
    assert_int_equal(victim->call_id, 703);
    assert_false(victim->queued);
    broker_jobs_free(q, victim);
    /* Client 7 itself, or one holding nearly as much, gets nothing. */
    assert_null(broker_jobs_steal(q, 7));
    s_push(q, 9, 900);
    s_push(q, 9, 901);
    assert_null(broker_jobs_steal(q, 9)); /* 2 vs 3: 9 has its share */
    assert_int_equal(broker_jobs_queued(q), 7);
    broker_jobs_destroy(&q);
}

static void
test_stale_job_id_never_matches_a_reused_slot(void **state)
{
    (void) state;
    broker_jobs_t *q = broker_jobs_new();
    broker_job_t *a = broker_jobs_alloc(q);
    uint64_t old_id = a->job_id;
    assert_ptr_equal(broker_jobs_find(q, old_id), a);
    broker_jobs_free(q, a);
    broker_job_t *b = broker_jobs_alloc(q); /* same slot */
    assert_ptr_equal(b, a);
    assert_true(b->job_id != old_id);
    assert_null(broker_jobs_find(q, old_id));
    assert_null(broker_jobs_find(q, 0));
    assert_null(broker_jobs_find(q, 0xffffffffffffffffULL));
    broker_jobs_free(q, b);
    broker_jobs_destroy(&q);
}

static void
test_pointers_stay_valid_as_the_table_grows(void **state)
{
    (void) state;
    broker_jobs_t *q = broker_jobs_new();
    broker_job_t *first = broker_jobs_alloc(q);
    first->call_id = 4242;
    broker_job_t *all[5000];
    for (int i = 0; i < 5000; i++)
        all[i] = broker_jobs_alloc(q);
    assert_int_equal(first->call_id, 4242);
    assert_ptr_equal(broker_jobs_find(q, first->job_id), first);
    for (int i = 0; i < 5000; i++)
        broker_jobs_free(q, all[i]);
    broker_jobs_free(q, first);
    broker_jobs_destroy(&q);
}

static int s_expired_calls[8];
static int s_nexpired;

static void
s_on_expired(broker_job_t *job, void *arg)
{
    broker_jobs_t *q = arg;
    s_expired_calls[s_nexpired++] = (int) job->call_id;
    broker_jobs_free(q, job);
}

static void
test_expire_takes_only_jobs_past_their_deadline(void **state)
{
    (void) state;
    broker_jobs_t *q = broker_jobs_new();
    int64_t deadlines[] = {100, 300, 50, 200};
    for (int i = 0; i < 4; i++) {
        broker_job_t *j = broker_jobs_alloc(q);
        j->call_id = (uint64_t) i;
        j->deadline_ms = deadlines[i];
        broker_jobs_push_back(q, j);
    }
    s_nexpired = 0;
    assert_int_equal(broker_jobs_expire(q, 150, s_on_expired, q), 2);
    assert_int_equal(s_expired_calls[0], 0);
    assert_int_equal(s_expired_calls[1], 2);
    assert_int_equal(broker_jobs_queued(q), 2);
    assert_int_equal(broker_jobs_pop(q)->call_id, 1);
    assert_int_equal(broker_jobs_pop(q)->call_id, 3);
    broker_jobs_destroy(&q); /* frees what is left */
}

#define REDIS_T0 1700000000000LL /* Redis's clock on every page s_page makes */

/* A one-page BuyersPage for sale with the given buyers (user i bought
 * order "S:i" under request "r-i"), read at Redis time REDIS_T0; the sale
 * closes closes_in_ms after that (0 = never). */
static void
s_page(Tix__Worker__V1__BuyersPage *page, Tix__Worker__V1__Buyer *b, Tix__Worker__V1__Buyer **ptrs, size_t n,
       const char *sale, const char *cursor, int64_t closes_in_ms)
{
    int64_t closes_at_ms = closes_in_ms;
    static char users[8][32], orders[8][96], reqs[8][32];
    tix__worker__v1__buyers_page__init(page);
    for (size_t i = 0; i < n; i++) {
        tix__worker__v1__buyer__init(&b[i]);
        snprintf(users[i], sizeof users[i], "u%zu", i);
        snprintf(orders[i], sizeof orders[i], "%s:%zu", sale, i + 1);
        snprintf(reqs[i], sizeof reqs[i], "r-%zu", i);
        b[i].user_id = users[i];
        b[i].order_id = orders[i];
        b[i].request_id = reqs[i];
        b[i].purchased_at_ms = 1000 + (int64_t) i;
        ptrs[i] = &b[i];
    }
    page->sale_id = (char *) sale;
    page->cursor = (char *) cursor;
    page->closes_at_ms = closes_at_ms ? REDIS_T0 + closes_at_ms : 0;
    page->created_at_ms = REDIS_T0 - 60000;
    page->now_ms = REDIS_T0;
    page->buyers = ptrs;
    page->n_buyers = n;
}

static Tix__V1__PurchaseReply__Outcome
s_edge_outcome(broker_edge_t *e, const char *sale, const char *user, const char *req, int64_t now, bool *answered,
               const char **order)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = (char *) sale;
    r.user_id = (char *) user;
    r.request_id = (char *) req;
    Tix__V1__PurchaseReply reply = TIX__V1__PURCHASE_REPLY__INIT;
    *answered = broker_edge_answer(e, &r, now, &reply);
    if (order)
        *order = reply.order_id;
    return reply.outcome;
}

static void
test_edge_answers_as_tix_buy_would_once_loaded(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(4, 100);
    bool answered;
    const char *order;
    s_edge_outcome(e, "s", "u0", "r-0", 0, &answered, NULL);
    assert_false(answered); /* unknown sale: workers answer */
    uint64_t load = broker_edge_sold_out(e, "s", 0);
    assert_true(load != 0);
    assert_int_equal(broker_edge_sold_out(e, "s", 0), 0); /* one load at a time */
    Tix__Worker__V1__BuyersPage page;
    Tix__Worker__V1__Buyer b[8], *p[8];
    s_page(&page, b, p, 2, "s", "17", 5000);
    assert_true(broker_edge_add_page(e, load, &page, 0)); /* more to come */
    s_edge_outcome(e, "s", "u0", "r-0", 0, &answered, NULL);
    assert_false(answered); /* still loading */
    s_page(&page, b, p, 3, "s", "0", 5000);
    assert_false(broker_edge_add_page(e, load, &page, 0));
    assert_int_equal(broker_edge_ready_count(e), 1);

    assert_int_equal(s_edge_outcome(e, "s", "u1", "r-1", 100, &answered, &order),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_true(answered);
    assert_string_equal(order, "s:2");
    assert_int_equal(s_edge_outcome(e, "s", "u1", "other", 100, &answered, &order),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED);
    assert_string_equal(order, "s:2");
    assert_int_equal(s_edge_outcome(e, "s", "nobody", "", 100, &answered, NULL),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    /* After the close: buyers still get their order, others SALE_CLOSED. */
    assert_int_equal(s_edge_outcome(e, "s", "nobody", "", 5000, &answered, NULL),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);
    assert_int_equal(s_edge_outcome(e, "s", "u2", "r-2", 5000, &answered, NULL),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    broker_edge_destroy(&e);
    assert_null(e);
}

static void
test_edge_is_bounded_and_retries_failed_loads_later(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(1, 2);
    uint64_t load = broker_edge_sold_out(e, "a", 0);
    assert_true(load != 0);
    Tix__Worker__V1__BuyersPage page;
    Tix__Worker__V1__Buyer b[8], *p[8];
    s_page(&page, b, p, 3, "a", "0", 0); /* 3 > max_buyers 2 */
    assert_false(broker_edge_add_page(e, load, &page, 0));
    assert_int_equal(broker_edge_ready_count(e), 0);
    assert_int_equal(broker_edge_sold_out(e, "a", 1000000), 0); /* too big: not retried */
    broker_edge_destroy(&e);

    e = broker_edge_new(4, 100);
    load = broker_edge_sold_out(e, "a", 0);
    broker_edge_failed(e, "a", load, 0);
    assert_int_equal(broker_edge_sold_out(e, "a", BROKER_EDGE_RETRY_MS - 1), 0);
    load = broker_edge_sold_out(e, "a", BROKER_EDGE_RETRY_MS);
    assert_true(load != 0);
    s_page(&page, b, p, 1, "a", "0", 0);
    page.now_ms = 0; /* an older worker's page, without Redis's time: not trusted */
    assert_false(broker_edge_add_page(e, load, &page, 0));
    assert_int_equal(broker_edge_ready_count(e), 0);
    assert_int_equal(broker_edge_sold_out(e, "a", BROKER_EDGE_RETRY_MS - 1), 0); /* resting */
    broker_edge_destroy(&e);
}

/* Loads sale as one page of n buyers (at monotonic now_ms); asserts it is
 * ready. */
static void
s_edge_load(broker_edge_t *e, const char *sale, size_t n, int64_t closes_in_ms, int64_t now_ms)
{
    uint64_t load = broker_edge_sold_out(e, sale, now_ms);
    assert_true(load != 0);
    Tix__Worker__V1__BuyersPage page;
    Tix__Worker__V1__Buyer b[8], *p[8];
    s_page(&page, b, p, n, sale, "0", closes_in_ms);
    assert_false(broker_edge_add_page(e, load, &page, now_ms));
    bool answered;
    s_edge_outcome(e, sale, "nobody", "", now_ms, &answered, NULL);
    assert_true(answered);
}

/* Issue 12 item 7: past max_sales the least recently used sale makes room
 * (counted), instead of the new one being refused. */
static void
test_edge_full_evicts_the_least_recently_used_sale(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(BROKER_EDGE_MAX_SALES, 100);
    char sale[32];
    bool answered;
    for (int i = 0; i < BROKER_EDGE_MAX_SALES; i++) {
        snprintf(sale, sizeof sale, "s%d", i);
        s_edge_load(e, sale, 1, 0, 0);
    }
    assert_int_equal(broker_edge_evicted(e), 0);
    s_edge_outcome(e, "s0", "nobody", "", 0, &answered, NULL); /* s0 is used: s1 is now the oldest */
    for (int i = BROKER_EDGE_MAX_SALES; i < BROKER_EDGE_MAX_SALES + 6; i++) {
        snprintf(sale, sizeof sale, "s%d", i);
        s_edge_load(e, sale, 1, 0, 0); /* every new sale is served at once */
    }
    assert_int_equal(broker_edge_evicted(e), 6);
    assert_int_equal(broker_edge_ready_count(e), BROKER_EDGE_MAX_SALES);
    s_edge_outcome(e, "s0", "u0", "r-0", 0, &answered, NULL);
    assert_true(answered);
    for (int i = 1; i <= 6; i++) {
        snprintf(sale, sizeof sale, "s%d", i);
        s_edge_outcome(e, sale, "u0", "r-0", 0, &answered, NULL);
        assert_false(answered); /* evicted: its workers answer it again */
    }
    s_edge_outcome(e, "s7", "u0", "r-0", 0, &answered, NULL);
    assert_true(answered);
    /* An evicted sale comes back with its next sold-out reply. */
    s_edge_load(e, "s1", 1, 0, 0);
    assert_int_equal(broker_edge_evicted(e), 7);
    broker_edge_destroy(&e);
}

/* Issue 12 item 11: the close is judged by Redis's clock (the page's time
 * plus the broker's monotonic time since), never by the broker's own
 * wall clock, which may be minutes off. */
static void
test_edge_closes_by_redis_clock(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(4, 100);
    /* Loaded at monotonic 7,000; Redis said REDIS_T0 then; closes 30 s later. */
    s_edge_load(e, "s", 1, 30000, 7000);
    assert_int_equal(s_edge_outcome(e, "s", "late", "", 7000 + 29999, &(bool){0}, NULL),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    assert_int_equal(s_edge_outcome(e, "s", "late", "", 7000 + 30000, &(bool){0}, NULL),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED);
    broker_edge_destroy(&e);
}

/* Issue 12 item 2: an entry is one incarnation of a sale. Dropped, it
 * answers nothing; pages of an older load are ignored; a load whose pages
 * disagree on the incarnation, or whose sale has stock, is dropped. */
static void
test_edge_entry_is_tied_to_one_incarnation(void **state)
{
    (void) state;
    broker_edge_t *e = broker_edge_new(4, 100);
    bool answered;
    s_edge_load(e, "s", 2, 0, 0);
    assert_true(broker_edge_drop(e, "s"));
    assert_false(broker_edge_drop(e, "s"));
    assert_int_equal(broker_edge_dropped(e), 1);
    assert_int_equal(broker_edge_ready_count(e), 0);
    s_edge_outcome(e, "s", "u0", "r-0", 0, &answered, NULL);
    assert_false(answered);

    /* A load outlived by a drop and a new load: its pages are stale. */
    Tix__Worker__V1__BuyersPage page;
    Tix__Worker__V1__Buyer b[8], *p[8];
    uint64_t old = broker_edge_sold_out(e, "s", 0);
    broker_edge_drop(e, "s");
    uint64_t load = broker_edge_sold_out(e, "s", 0);
    assert_true(load != old);
    s_page(&page, b, p, 2, "s", "0", 0);
    assert_false(broker_edge_add_page(e, old, &page, 0));
    s_edge_outcome(e, "s", "u0", "r-0", 0, &answered, NULL);
    assert_false(answered);
    broker_edge_failed(e, "s", old, 0); /* the old load's failure changes nothing */
    assert_false(broker_edge_add_page(e, load, &page, 0));
    assert_int_equal(broker_edge_ready_count(e), 1);

    /* The sale created again between two pages of one load. */
    broker_edge_drop(e, "s");
    load = broker_edge_sold_out(e, "s", 0);
    s_page(&page, b, p, 2, "s", "17", 0);
    assert_true(broker_edge_add_page(e, load, &page, 0));
    s_page(&page, b, p, 1, "s", "0", 0);
    page.created_at_ms += 5;
    assert_false(broker_edge_add_page(e, load, &page, 0));
    assert_int_equal(broker_edge_ready_count(e), 0);
    /* Dropped, not banned: the next sold-out reply loads it again. */
    load = broker_edge_sold_out(e, "s", 0);
    assert_true(load != 0);

    /* A sale with stock (created again, or stock grew): dropped too. */
    s_page(&page, b, p, 1, "s", "0", 0);
    page.remaining = 5;
    assert_false(broker_edge_add_page(e, load, &page, 0));
    assert_int_equal(broker_edge_dropped(e), 5);
    assert_true(broker_edge_sold_out(e, "s", 0) != 0);
    broker_edge_destroy(&e);
}

static void
test_limit_allows_a_burst_then_refuses_with_the_wait_until_a_token(void **state)
{
    (void) state;
    broker_limit_t *l = broker_limit_new(2.0, 3, 1024); /* 2/s, burst 3 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(broker_limit_take(l, "greedy", 6, 1000), 0);
    uint32_t wait = broker_limit_take(l, "greedy", 6, 1000);
    assert_true(wait > 0 && wait <= 500);                       /* one token per 500 ms */
    assert_int_equal(broker_limit_take(l, "calm", 4, 1000), 0); /* others unaffected */
    assert_true(broker_limit_take(l, "greedy", 6, 1000 + 250) > 0);
    assert_int_equal(broker_limit_take(l, "greedy", 6, 1000 + 501), 0); /* refilled */
    /* Long idle: the bucket is full again, not fuller. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(broker_limit_take(l, "greedy", 6, 100000), 0);
    assert_true(broker_limit_take(l, "greedy", 6, 100000) > 0);
    broker_limit_destroy(&l);
    assert_null(l);
}

static void
test_limit_rate_zero_never_limits(void **state)
{
    (void) state;
    broker_limit_t *l = broker_limit_new(0, 1, 16);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(broker_limit_take(l, "anyone", 6, 5), 0);
    broker_limit_destroy(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_free_is_round_robin_and_respects_credit),
        cmocka_unit_test(test_find_remove_and_liveness),
        cmocka_unit_test(test_jobs_queue_is_fifo_with_front_insertion),
        cmocka_unit_test(test_jobs_of_different_clients_are_taken_in_turn),
        cmocka_unit_test(test_steal_takes_the_newest_call_of_the_client_holding_most),
        cmocka_unit_test(test_stale_job_id_never_matches_a_reused_slot),
        cmocka_unit_test(test_pointers_stay_valid_as_the_table_grows),
        cmocka_unit_test(test_expire_takes_only_jobs_past_their_deadline),
        cmocka_unit_test(test_edge_answers_as_tix_buy_would_once_loaded),
        cmocka_unit_test(test_edge_is_bounded_and_retries_failed_loads_later),
        cmocka_unit_test(test_edge_full_evicts_the_least_recently_used_sale),
        cmocka_unit_test(test_edge_closes_by_redis_clock),
        cmocka_unit_test(test_edge_entry_is_tied_to_one_incarnation),
        cmocka_unit_test(test_limit_allows_a_burst_then_refuses_with_the_wait_until_a_token),
        cmocka_unit_test(test_limit_rate_zero_never_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
