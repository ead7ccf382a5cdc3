/*
 * test_broker_edge.c - sold out at the edge, in the broker in-process: a
 * sold-out sale's buyers are loaded once through a worker, then Purchase is
 * answered by the broker exactly as Redis would (the close judged by
 * Redis's clock), until an answer from Redis shows the sale changed.
 * (test_broker_tables.c covers the edge's table alone.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker.h"
#include "broker_state.h"
#include "inproc.h"
#include "tix_codec.h"
#include "tix_util.h"

static void
s_send_purchase_req(zsock_t *client, uint64_t call_id, const char *user, const char *req)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s1";
    r.user_id = (char *) user;
    r.request_id = (char *) req;
    th_inproc_call(client, "tix.v1.TicketService/Purchase", call_id, 5000, &r.base);
}

static Tix__V1__PurchaseReply *
s_recv_purchase(broker_t *b, zsock_t *client, uint64_t call_id)
{
    zframe_t *body;
    Tix__V1__ReplyHeader *h = th_inproc_reply(b, client, &body);
    assert_int_equal(h->call_id, call_id);
    assert_int_equal(h->code, TIX__V1__CODE__OK);
    tix__v1__reply_header__free_unpacked(h, NULL);
    Tix__V1__PurchaseReply *p = tix__v1__purchase_reply__unpack(NULL, zframe_size(body), zframe_data(body));
    zframe_destroy(&body);
    assert_non_null(p);
    return p;
}

static void
test_sold_out_sale_is_loaded_once_then_answered_by_the_broker(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    /* A Purchase whose answer says no ticket is left. */
    s_send_purchase_req(f->client, 1, "late", "");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    Tix__V1__PurchaseReply sold_out = TIX__V1__PURCHASE_REPLY__INIT;
    sold_out.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    th_inproc_worker_reply_msg(w, job->job_id, &sold_out.base);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    Tix__V1__PurchaseReply *p = s_recv_purchase(f->broker, f->client, 1);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    tix__v1__purchase_reply__free_unpacked(p, NULL);

    /* The broker asks the worker for the buyers; calls queue meanwhile. */
    Tix__Worker__V1__Job *load = th_inproc_job(f->broker, w);
    assert_string_equal(load->method, "tix.worker.v1.Internal/SaleBuyers");
    s_send_purchase_req(f->client, 2, "winner", "r-9");
    s_send_purchase_req(f->client, 3, "winner", "other");
    s_send_purchase_req(f->client, 4, "nobody", "");
    for (int i = 0; i < 10; i++)
        broker_step(f->broker, 5);
    assert_int_equal(broker_jobs_queued(f->broker->jobs), 3);

    Tix__Worker__V1__Buyer buyer = TIX__WORKER__V1__BUYER__INIT, *buyers[] = {&buyer};
    buyer.user_id = "winner";
    buyer.order_id = "s1:7";
    buyer.request_id = "r-9";
    buyer.purchased_at_ms = 1234;
    Tix__Worker__V1__BuyersPage page = TIX__WORKER__V1__BUYERS_PAGE__INIT;
    page.sale_id = "s1";
    page.cursor = "0";
    page.buyers = buyers;
    page.n_buyers = 1;
    page.created_at_ms = 1000;
    page.now_ms = tix_wall_ms();
    th_inproc_worker_reply_msg(w, load->job_id, &page.base);
    protobuf_c_message_free_unpacked(&load->base, NULL);

    /* The queued calls are answered without the worker, exactly. */
    p = s_recv_purchase(f->broker, f->client, 2);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_string_equal(p->order_id, "s1:7");
    assert_int_equal(p->purchased_at_ms, 1234);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    p = s_recv_purchase(f->broker, f->client, 3);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED);
    assert_string_equal(p->order_id, "s1:7");
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    p = s_recv_purchase(f->broker, f->client, 4);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    /* And so are new ones; the worker sees nothing more. */
    s_send_purchase_req(f->client, 5, "someone", "");
    p = s_recv_purchase(f->broker, f->client, 5);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    assert_false(zsock_events(w) & ZMQ_POLLIN);
    assert_int_equal(broker_stats(f->broker)->edge_answers, 4);
    assert_int_equal(broker_stats(f->broker)->edge_pages, 1);
    zsock_destroy(&w);
}

/* Sells out s1 at the fake worker w and loads its one buyer ("winner",
 * s1:7, request r-9) with a page read at Redis time redis_now_ms, the sale
 * closing at closes_at_ms; returns once the edge serves s1. */
static void
s_edge_ready(th_inproc_t *f, zsock_t *w, int64_t redis_now_ms, int64_t closes_at_ms)
{
    s_send_purchase_req(f->client, 100, "late", "");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    Tix__V1__PurchaseReply sold_out = TIX__V1__PURCHASE_REPLY__INIT;
    sold_out.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    th_inproc_worker_reply_msg(w, job->job_id, &sold_out.base);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    tix__v1__purchase_reply__free_unpacked(s_recv_purchase(f->broker, f->client, 100), NULL);
    th_inproc_edge_load(f, w, redis_now_ms - 1000, redis_now_ms, closes_at_ms);
}

/* Issue 12 item 11: with the broker's clock 60 s ahead of Redis's (the
 * page's time is 60 s behind the broker's wall clock) and the sale closing
 * 30 s after Redis's now, the edge says SOLD_OUT, as Redis would. */
static void
test_edge_closes_by_redis_clock_when_the_broker_clock_is_ahead(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    int64_t redis_now = tix_wall_ms() - 60000;
    s_edge_ready(f, w, redis_now, redis_now + 30000);
    s_send_purchase_req(f->client, 1, "nobody", "");
    Tix__V1__PurchaseReply *p = s_recv_purchase(f->broker, f->client, 1);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    assert_int_equal(broker_stats(f->broker)->edge_answers, 1);
    zsock_destroy(&w);
}

/* Answers the next job at w with code and body (may be NULL); the client's
 * call call_id gets code back. */
static void
s_worker_answers(th_inproc_t *f, zsock_t *w, tix_code code, const ProtobufCMessage *body, uint64_t call_id)
{
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    if (body)
        th_inproc_worker_reply_msg(w, job->job_id, body);
    else
        th_inproc_worker_reply(w, job->job_id, code, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    th_inproc_expect(f->broker, f->client, call_id, code);
}

/* Issue 12 item 2: CreateSale succeeding for a sale, and NOT_FOUND from a
 * worker for it, drop its edge entry: the next Purchase goes to Redis. */
static void
test_edge_entry_is_dropped_when_redis_shows_the_sale_changed(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    s_edge_ready(f, w, tix_wall_ms(), 0);
    Tix__V1__CreateSaleRequest create = TIX__V1__CREATE_SALE_REQUEST__INIT;
    create.sale_id = "s1", create.total = 5;
    th_inproc_call(f->client, "tix.v1.AdminService/CreateSale", 1, 5000, &create.base);
    Tix__V1__Sale sale = TIX__V1__SALE__INIT;
    sale.sale_id = "s1", sale.total = 5, sale.remaining = 5, sale.state = TIX__V1__SALE__STATE__OPEN;
    s_worker_answers(f, w, TIX__V1__CODE__OK, &sale.base, 1);
    assert_int_equal(broker_edge_ready_count(f->broker->edge), 0);
    s_send_purchase_req(f->client, 2, "winner", "r-9"); /* not the old order: Redis answers */
    Tix__V1__PurchaseReply bought = TIX__V1__PURCHASE_REPLY__INIT;
    bought.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, bought.order_id = "s1:1", bought.remaining = 4;
    s_worker_answers(f, w, TIX__V1__CODE__OK, &bought.base, 2);

    s_edge_ready(f, w, tix_wall_ms(), 0);
    Tix__V1__GetSaleRequest get = TIX__V1__GET_SALE_REQUEST__INIT;
    get.sale_id = "s1";
    th_inproc_call(f->client, "tix.v1.TicketService/GetSale", 3, 5000, &get.base);
    s_worker_answers(f, w, TIX__V1__CODE__NOT_FOUND, NULL, 3);
    assert_int_equal(broker_edge_ready_count(f->broker->edge), 0);
    s_send_purchase_req(f->client, 4, "winner", "r-9");
    s_worker_answers(f, w, TIX__V1__CODE__NOT_FOUND, NULL, 4);
    assert_int_equal(broker_stats(f->broker)->edge_dropped, 2);

    /* GetSale showing stock drops it too. */
    s_edge_ready(f, w, tix_wall_ms(), 0);
    th_inproc_call(f->client, "tix.v1.TicketService/GetSale", 5, 5000, &get.base);
    sale.remaining = 3;
    s_worker_answers(f, w, TIX__V1__CODE__OK, &sale.base, 5);
    assert_int_equal(broker_edge_ready_count(f->broker->edge), 0);
    assert_int_equal(broker_stats(f->broker)->edge_dropped, 3);

    /* And so does a buyers load that finds no sale. */
    s_send_purchase_req(f->client, 6, "late", "");
    Tix__V1__PurchaseReply sold_out = TIX__V1__PURCHASE_REPLY__INIT;
    sold_out.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    s_worker_answers(f, w, TIX__V1__CODE__OK, &sold_out.base, 6);
    Tix__Worker__V1__Job *load = th_inproc_job(f->broker, w);
    th_inproc_worker_reply(w, load->job_id, TIX__V1__CODE__NOT_FOUND, NULL);
    protobuf_c_message_free_unpacked(&load->base, NULL);
    int64_t deadline = tix_now_ms() + 3000;
    while (broker_stats(f->broker)->edge_dropped < 4 && tix_now_ms() < deadline)
        broker_step(f->broker, 5);
    assert_int_equal(broker_stats(f->broker)->edge_dropped, 4);
    zsock_destroy(&w);
}

int
main(void)
{
    th_inproc_init();
#define T TH_INPROC_TEST
    const struct CMUnitTest tests[] = {
        T(test_sold_out_sale_is_loaded_once_then_answered_by_the_broker),
        T(test_edge_closes_by_redis_clock_when_the_broker_clock_is_ahead),
        T(test_edge_entry_is_dropped_when_redis_shows_the_sale_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
