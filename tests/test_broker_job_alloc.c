/*
 * test_broker_job_alloc.c - a Purchase the broker forwards to a worker
 * costs its thread almost no heap allocation (issue 18): JOB_CALLS
 * purchases, JOB_ROUND at a time, after a warm-up, through a broker
 * in-process and a fake worker that answers each JOB PURCHASED, with every
 * malloc, calloc and realloc made on the broker's thread meanwhile counted.
 *
 * Only the broker's steps are counted (harness/alloc_count.h): the client's
 * sends and reads and the fake worker's happen between them. What a call
 * costs the broker: receiving it, its job's copy of the call, the JOB sent
 * to the worker, the REPLY received, the answer sent to the client.
 * Measured: 27.0 allocations per call before (zframe copies of the call
 * in the job, czmq message objects for each JOB sent and REPLY received,
 * the REPLY unpacked on the heap), 3.0 after: libzmq's own copy of the
 * JOB's body frame (longer than its 33-byte inline messages), and the fair
 * queue's record of the client's flow with its hash entry, made when a call
 * finds its client's queue empty (broker_fairq.c): with credit free at the
 * worker, as here, every call does.
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

#define JOB_CALLS 4000   /* forwarded calls counted */
#define JOB_WARMUP 1000  /* forwarded first, not counted */
#define JOB_ROUND 50     /* calls in flight at once (the fake worker's capacity) */
#define JOB_PER_CALL 3.1 /* the bound: the three above, and slack for the broker tick's */

/* One broker_step with this thread's allocations counted. */
static void
s_counted_step(broker_t *b, int timeout_ms)
{
    th_alloc_counting = 1;
    broker_step(b, timeout_ms);
    th_alloc_counting = 0;
}

static void
s_send_purchase(zsock_t *client, uint64_t call_id)
{
    char user[32];
    snprintf(user, sizeof user, "u%llu", (unsigned long long) call_id);
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s2";
    r.user_id = user;
    r.request_id = "";
    th_inproc_call(client, "tix.v1.TicketService/Purchase", call_id, 5000, &r.base);
}

/* The fake worker answers every JOB waiting for it PURCHASED, with stock
 * left (so that the sold-out edge has nothing to do); returns how many. */
static int
s_worker_answers(zsock_t *w)
{
    int answered = 0;
    while (zsock_events(w) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv(w);
        tix_frame_t v[3];
        size_t n = tix_frames_view(msg, 0, v, 3);
        tix_wp_command cmd;
        ProtobufCMessage *body = NULL;
        assert_int_equal(tix_wp_decode(v, n, &cmd, &body), TIX_OK);
        zmsg_destroy(&msg);
        if (cmd == TIX_WP_JOB) {
            Tix__V1__PurchaseReply reply = TIX__V1__PURCHASE_REPLY__INIT;
            reply.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED;
            reply.order_id = "s2:1";
            reply.remaining = 1000000;
            th_inproc_worker_reply_msg(w, ((Tix__Worker__V1__Job *) body)->job_id, &reply.base);
            answered++;
        }
        if (body)
            protobuf_c_message_free_unpacked(body, NULL);
    }
    return answered;
}

/* Sends count Purchases from call_id on, JOB_ROUND at a time; the broker
 * forwards them and answers the client in counted steps. */
static void
s_forward(th_inproc_t *f, zsock_t *w, uint64_t call_id, int count)
{
    for (int done = 0; done < count; done += JOB_ROUND) {
        for (int i = 0; i < JOB_ROUND; i++)
            s_send_purchase(f->client, call_id + (uint64_t) (done + i));
        int64_t deadline = tix_now_ms() + 5000;
        for (int got = 0; got < JOB_ROUND;) {
            assert_true(tix_now_ms() < deadline);
            s_counted_step(f->broker, 5);
            s_worker_answers(w);
            while (got < JOB_ROUND && (zsock_events(f->client) & ZMQ_POLLIN)) {
                zmsg_t *answer = zmsg_recv(f->client);
                assert_non_null(answer);
                zmsg_destroy(&answer);
                got++;
            }
        }
    }
}

static void
test_forwarded_calls_make_almost_no_heap_allocation(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, JOB_ROUND, true, TH_INPROC_QUIET_MS);
    s_forward(f, w, 1000000, JOB_WARMUP);
    uint64_t replies = broker_stats(f->broker)->replied;
    th_allocs = 0;
    s_forward(f, w, 2000000, JOB_CALLS);
    assert_int_equal(broker_stats(f->broker)->replied - replies, JOB_CALLS);
    double per_call = (double) th_allocs / JOB_CALLS;
    printf("forwarded calls: %d, heap allocations on the broker's thread meanwhile: %llu (%.2f per call)\n", JOB_CALLS,
           (unsigned long long) th_allocs, per_call);
    assert_true(per_call <= JOB_PER_CALL);
    zsock_destroy(&w);
}

/* The default fixture's queue of 4 is too short for a round. */
static int
s_setup(void **state)
{
    th_inproc_t *f = xcalloc(1, sizeof *f);
    f->broker = th_inproc_broker(JOB_ROUND * 2, BROKER_LIMIT_RATE_PER_S, BROKER_LIMIT_BURST);
    f->client = zsock_new_dealer(broker_frontend_endpoint(f->broker));
    *state = f;
    return 0;
}

int
main(void)
{
    th_alloc_count_init();
    th_inproc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forwarded_calls_make_almost_no_heap_allocation, s_setup,
                                        th_inproc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
