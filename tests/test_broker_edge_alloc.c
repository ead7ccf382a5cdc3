/*
 * test_broker_edge_alloc.c - a sold-out Purchase answered at the edge costs
 * the broker no heap allocation (issue 18): 10,000 edge answers, after a
 * warm-up, with the broker in-process, and every malloc, calloc and realloc
 * made on the broker's thread meanwhile counted.
 *
 * The count (harness/alloc_count.h): only allocations made on this thread
 * while th_alloc_counting is set: the broker steps on the test's thread,
 * and the clients' sends and reads happen outside the counted steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "broker.h"
#include "broker_state.h"
#include "inproc.h"
#include "tix_codec.h"
#include "tix_util.h"

#define ALLOC_ANSWERS 10000 /* edge answers counted */
#define ALLOC_WARMUP 2000   /* answered first, not counted */
#define ALLOC_ROUND 50      /* calls in flight at once */

/* The edge's checks of s1 seen meanwhile, and what their rounds allocated. */
static uint64_t s_checks, s_check_allocs;

/* One broker_step with this thread's allocations counted. */
static void
s_counted_step(broker_t *b, int timeout_ms)
{
    th_alloc_counting = 1;
    broker_step(b, timeout_ms);
    th_alloc_counting = 0;
}

/* True when the worker got a job (the edge's check of the sale against
 * Redis, once every BROKER_EDGE_CHECK_MS while it answers), which is left
 * unanswered: with one in flight, the entry answers on. */
static bool
s_check_seen(zsock_t *w)
{
    if (!(zsock_events(w) & ZMQ_POLLIN))
        return false;
    zmsg_t *job = zmsg_recv(w);
    zmsg_destroy(&job);
    return true;
}

static void
s_send_purchase(zsock_t *client, uint64_t call_id, const char *user)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s1";
    r.user_id = (char *) user;
    r.request_id = "";
    th_inproc_call(client, "tix.v1.TicketService/Purchase", call_id, 5000, &r.base);
}

/* Sells s1 out at the fake worker w and loads its one buyer; returns once
 * the edge serves s1. */
static void
s_edge_ready(th_inproc_t *f, zsock_t *w)
{
    s_send_purchase(f->client, 1, "late");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    Tix__V1__PurchaseReply sold_out = TIX__V1__PURCHASE_REPLY__INIT;
    sold_out.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    th_inproc_worker_reply_msg(w, job->job_id, &sold_out.base);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    th_inproc_expect(f->broker, f->client, 1, TIX__V1__CODE__OK);
    th_inproc_edge_load(f, w, tix_wall_ms() - 1000, tix_wall_ms(), 0);
}

/* Reads one reply on the client, which must be call_id answered OK with a
 * SOLD_OUT body. */
static void
s_expect_sold_out(zsock_t *client, uint64_t call_id)
{
    zmsg_t *msg = zmsg_recv(client);
    assert_non_null(msg);
    tix_frame_t v[4];
    assert_int_equal(tix_frames_view(msg, 0, v, 4), 4);
    assert_int_equal(v[0].size, 0);
    Tix__V1__ReplyHeader *h;
    tix_frame_t body;
    assert_int_equal(tix_reply_decode(v + 1, 3, &h, &body), TIX_OK);
    assert_int_equal(h->call_id, call_id);
    assert_int_equal(h->code, TIX__V1__CODE__OK);
    tix__v1__reply_header__free_unpacked(h, NULL);
    Tix__V1__PurchaseReply *p = tix__v1__purchase_reply__unpack(NULL, body.size, body.data);
    assert_non_null(p);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    zmsg_destroy(&msg);
}

/* Sends `count` Purchases of distinct users from call_id on, ALLOC_ROUND at
 * a time, and has the broker answer them in counted steps. A burst that
 * outlasts BROKER_EDGE_CHECK_MS (under ASan, or on a loaded machine) meets
 * a check of the sale, which allocates: the round in which the worker sees
 * it, and the one before (the check may be made a step before it is sent),
 * are counted apart. */
static void
s_burst(th_inproc_t *f, zsock_t *w, uint64_t call_id, int count)
{
    uint64_t prev_round = 0;
    for (int done = 0; done < count; done += ALLOC_ROUND) {
        for (int i = 0; i < ALLOC_ROUND; i++) {
            char user[32];
            snprintf(user, sizeof user, "u%llu", (unsigned long long) (call_id + (uint64_t) (done + i)));
            s_send_purchase(f->client, call_id + (uint64_t) (done + i), user);
        }
        uint64_t before = th_allocs;
        bool check = false;
        int64_t deadline = tix_now_ms() + 3000;
        for (int got = 0; got < ALLOC_ROUND;) {
            assert_true(tix_now_ms() < deadline);
            s_counted_step(f->broker, 5);
            check |= s_check_seen(w);
            while (got < ALLOC_ROUND && (zsock_events(f->client) & ZMQ_POLLIN)) {
                s_expect_sold_out(f->client, call_id + (uint64_t) (done + got));
                got++;
            }
        }
        uint64_t round = th_allocs - before;
        if (check) {
            s_checks++;
            s_check_allocs += round + prev_round;
            th_allocs = before - prev_round;
        }
        prev_round = check ? 0 : round;
    }
}

static void
test_edge_answers_make_no_heap_allocation(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    s_edge_ready(f, w);
    s_burst(f, w, 1000000, ALLOC_WARMUP);
    uint64_t answers = broker_stats(f->broker)->edge_answers;
    th_allocs = s_checks = s_check_allocs = 0;
    s_burst(f, w, 2000000, ALLOC_ANSWERS);
    assert_int_equal(broker_stats(f->broker)->edge_answers - answers, ALLOC_ANSWERS);
    printf("edge answers: %d, heap allocations on the broker's thread meanwhile: %llu (%.3f per answer)\n",
           ALLOC_ANSWERS, (unsigned long long) th_allocs, (double) th_allocs / ALLOC_ANSWERS);
    printf("edge checks seen meanwhile: %llu (their rounds: %llu allocations, not counted above)\n",
           (unsigned long long) s_checks, (unsigned long long) s_check_allocs);
    assert_int_equal(th_allocs, 0);
    zsock_destroy(&w);
}

int
main(void)
{
    th_alloc_count_init();
    zsys_init();
    zsys_set_linger(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_edge_answers_make_no_heap_allocation, th_inproc_setup, th_inproc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
