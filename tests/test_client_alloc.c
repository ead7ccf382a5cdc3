/*
 * test_client_alloc.c - libtix's asynchronous calls on the caller's thread
 * (issue 18): what a Purchase sent with tix_client_send and its sold-out
 * answer read with tix_client_recv_packed (or tix_client_recv) cost in heap
 * allocations, counted over a burst after a warm-up.
 *
 * The broker is the test thread's fake ROUTER (harness/fake_client.h); its
 * work and the checks of each answer happen outside the counted stretches,
 * which are the libtix calls alone (harness/alloc_count.h). What may remain
 * on a send is libzmq's: zmq_send copies a frame of more than 33 bytes
 * (ZMQ_MAX_VSM_SIZE) into a block of its own, and a Purchase's CallHeader,
 * with its method name, is one; and now and then its own bookkeeping, such
 * as a new chunk of ALLOC_PIPE_CHUNK messages when the outgoing pipe
 * outgrows the one it keeps spare (a few per burst under ASan, whose slower
 * I/O thread lets the pipe grow: 16,400-byte blocks among them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "fake_client.h"
#include "tix.h"
#include "tix_priv.h"

#define ALLOC_CALLS 10000    /* calls counted */
#define ALLOC_WARMUP 1000    /* made first, not counted */
#define ALLOC_ROUND 100      /* calls in flight at once */
#define ALLOC_MAX_VSM 33     /* libzmq 4.3's ZMQ_MAX_VSM_SIZE on 64-bit: larger frames are copied to the heap */
#define WAIT_MS 5000         /* failure bound for anything that should be prompt */
#define ALLOC_PIPE_CHUNK 256 /* libzmq's message_pipe_granularity: messages per pipe chunk */
#define ALLOC_FRAMES 4       /* a call's frames, each one message in the pipe */
/* Most a burst's sends may allocate: libzmq's header copy per call, and a
 * pipe chunk per ALLOC_PIPE_CHUNK messages queued. */
#define ALLOC_SEND_MAX (ALLOC_CALLS + ALLOC_CALLS * ALLOC_FRAMES / ALLOC_PIPE_CHUNK)

typedef struct {
    fake_client_pair_t pair;
    uint64_t sends, reads; /* allocations counted in each */
} s_world_t;

static int
s_setup(void **state)
{
    static s_world_t w;
    memset(&w, 0, sizeof w);
    *state = &w;
    return fake_client_pair_open(&w.pair) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    s_world_t *w = *state;
    fake_client_pair_close(&w->pair);
    return 0;
}

/* Sends n Purchases of distinct users, counting tix_client_send alone. */
static void
s_send_round(s_world_t *w, uint64_t *ids, int first, int n)
{
    for (int i = 0; i < n; i++) {
        char user[32], request_id[32];
        snprintf(user, sizeof user, "user-%06d", first + i);
        snprintf(request_id, sizeof request_id, "r-%06d", first + i);
        Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
        req.sale_id = "bench-d1", req.user_id = user, req.request_id = request_id;
        uint64_t before = th_allocs;
        th_alloc_counting = 1;
        tix_err err = tix_client_send(w->pair.client, TIX_CALL_PURCHASE, &req.base, 5000, &ids[i]);
        th_alloc_counting = 0;
        w->sends += th_allocs - before;
        assert_int_equal(err, TIX_OK);
    }
}

/* The fake broker answers n calls SOLD_OUT, in order. */
static void
s_answer_round(s_world_t *w, const uint64_t *ids, int n)
{
    Tix__V1__PurchaseReply sold_out = TIX__V1__PURCHASE_REPLY__INIT;
    sold_out.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    for (int i = 0; i < n; i++) {
        zframe_t *rid;
        fake_client_call_t call;
        assert_true(fake_client_router_recv(w->pair.router, WAIT_MS, &rid, &call));
        assert_int_equal(call.call_id, ids[i]);
        fake_client_reply(w->pair.router, rid, call.call_id, TIX__V1__CODE__OK, 0, &sold_out.base);
        zframe_destroy(&rid);
    }
}

/* Reads n answers, counting the receive alone; packed: with
 * tix_client_recv_packed, else tix_client_recv. */
static void
s_read_round(s_world_t *w, const uint64_t *ids, int n, bool packed)
{
    for (int i = 0; i < n; i++) {
        tix_result_t r;
        const void *body = NULL;
        size_t size = 0;
        uint64_t before = th_allocs;
        th_alloc_counting = 1;
        int rc = packed ? tix_client_recv_packed(w->pair.client, WAIT_MS, &r, &body, &size)
                        : tix_client_recv(w->pair.client, WAIT_MS, &r);
        th_alloc_counting = 0;
        w->reads += th_allocs - before;
        assert_int_equal(rc, TIX_OK);
        assert_int_equal(r.call_id, ids[i]);
        assert_int_equal(r.code, TIX__V1__CODE__OK);
        Tix__V1__PurchaseReply *p = packed ? tix__v1__purchase_reply__unpack(NULL, size, body) : r.reply;
        assert_non_null(p);
        assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
        if (packed)
            tix__v1__purchase_reply__free_unpacked(p, NULL);
        tix_result_clear(&r);
    }
}

/* count calls from user first on, ALLOC_ROUND at a time. */
static void
s_burst(s_world_t *w, int first, int count, bool packed)
{
    uint64_t ids[ALLOC_ROUND];
    for (int done = 0; done < count; done += ALLOC_ROUND) {
        s_send_round(w, ids, first + done, ALLOC_ROUND);
        s_answer_round(w, ids, ALLOC_ROUND);
        s_read_round(w, ids, ALLOC_ROUND, packed);
    }
    assert_int_equal(tix_client_in_flight(w->pair.client), 0);
}

/* The bytes of the largest frame a Purchase of the burst sends: its
 * CallHeader (the body is smaller). */
static size_t
s_header_bytes(void)
{
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = (char *) tix_method_get(TIX_METHOD_PURCHASE)->name;
    h.call_id = UINT64_C(1) << 52; /* a client's call ids: a random start below 2^51, counting up */
    h.timeout_ms = 5000;
    return tix__v1__call_header__get_packed_size(&h);
}

static void
s_report(const char *what, const s_world_t *w)
{
    printf("%s: %d calls, heap allocations on the caller's thread: send %llu (%.3f per call), receive %llu (%.3f "
           "per answer)\n",
           what, ALLOC_CALLS, (unsigned long long) w->sends, (double) w->sends / ALLOC_CALLS,
           (unsigned long long) w->reads, (double) w->reads / ALLOC_CALLS);
}

static void
test_async_purchase_and_packed_answer_allocate_nothing_in_libtix(void **state)
{
    s_world_t *w = *state;
    s_burst(w, 0, ALLOC_WARMUP, true);
    w->sends = w->reads = 0;
    s_burst(w, ALLOC_WARMUP, ALLOC_CALLS, true);
    s_report("tix_client_send + tix_client_recv_packed", w);
    /* libzmq's copy of the CallHeader frame and its pipe chunks, at most;
     * nothing of libtix's (before issue 18: 11 per call, 2 per answer). */
    assert_true(s_header_bytes() > ALLOC_MAX_VSM);
    assert_true(w->sends <= ALLOC_SEND_MAX);
    assert_int_equal(w->reads, 0);
}

static void
test_async_answer_costs_only_the_reply_it_hands_over(void **state)
{
    s_world_t *w = *state;
    s_burst(w, 0, ALLOC_WARMUP, false);
    w->sends = w->reads = 0;
    s_burst(w, ALLOC_WARMUP, ALLOC_CALLS, false);
    s_report("tix_client_send + tix_client_recv", w);
    /* result->reply is the caller's, on the heap (tix_result_clear frees
     * it): one allocation for a sold-out PurchaseReply; the header none. */
    assert_true(w->sends <= ALLOC_SEND_MAX);
    assert_true(w->reads <= ALLOC_CALLS);
}

int
main(void)
{
    th_alloc_count_init();
    fake_client_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_async_purchase_and_packed_answer_allocate_nothing_in_libtix, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_async_answer_costs_only_the_reply_it_hands_over, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
