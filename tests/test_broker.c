/*
 * test_broker.c - the broker in-process, driven step by step, with raw
 * sockets as clients and as fake workers: admission, credit, queue bound,
 * deadlines, heartbeats, a worker's death, bad input, and the event proxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker.h"
#include "broker_state.h"
#include "tix_codec.h"
#include "tix_util.h"

typedef struct {
    broker_t *broker;
    zsock_t *client;
} fixture_t;

static broker_t *
s_broker_new_limited(uint32_t queue_limit, double user_rate, uint32_t user_burst)
{
    broker_config_t c;
    broker_config_defaults(&c);
    c.frontend = "tcp://127.0.0.1:*";
    c.backend = "tcp://127.0.0.1:*";
    c.events_in = "tcp://127.0.0.1:*";
    c.events_out = "tcp://127.0.0.1:*";
    c.queue_limit = queue_limit;
    c.drain_ms = 200;
    c.user_rate_per_s = user_rate;
    c.user_burst = user_burst;
    broker_t *b = broker_new(&c);
    assert_non_null(b);
    return b;
}

static broker_t *
s_broker_new(uint32_t queue_limit)
{
    return s_broker_new_limited(queue_limit, BROKER_LIMIT_RATE_PER_S, BROKER_LIMIT_BURST);
}

static int
s_setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof *f);
    f->broker = s_broker_new(4);
    f->client = zsock_new_dealer(broker_frontend_endpoint(f->broker));
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    zsock_destroy(&f->client);
    broker_destroy(&f->broker);
    free(f);
    return 0;
}

/* Steps the broker until sock has a message or timeout_ms passes. */
static bool
s_pump(broker_t *b, zsock_t *sock, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < deadline) {
        if (zsock_events(sock) & ZMQ_POLLIN)
            return true;
        broker_step(b, 5);
    }
    return zsock_events(sock) & ZMQ_POLLIN;
}

static void
s_send_call(zsock_t *client, const char *method, uint64_t call_id, uint32_t timeout_ms, const ProtobufCMessage *body)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, NULL, 0);
    tix_call_append(msg, method, call_id, timeout_ms, body);
    assert_int_equal(zmsg_send(&msg, client), 0);
}

static void
s_send_purchase(zsock_t *client, uint64_t call_id, uint32_t timeout_ms, const char *user)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s1";
    r.user_id = (char *) user;
    s_send_call(client, "tix.v1.TicketService/Purchase", call_id, timeout_ms, &r.base);
}

/* Receives a reply on a DEALER client; returns its header (caller frees) and
 * copies the body into body (if not NULL). */
static Tix__V1__ReplyHeader *
s_recv_reply(broker_t *b, zsock_t *client, zframe_t **body)
{
    assert_true(s_pump(b, client, 3000));
    zmsg_t *msg = zmsg_recv(client);
    assert_non_null(msg);
    zframe_t *delim = zmsg_pop(msg);
    assert_int_equal(zframe_size(delim), 0);
    zframe_destroy(&delim);
    tix_frame_t v[3];
    size_t n = tix_frames_view(msg, 0, v, 3);
    Tix__V1__ReplyHeader *h;
    tix_frame_t bv;
    assert_int_equal(tix_reply_decode(v, n, &h, &bv), TIX_OK);
    if (body)
        *body = zframe_new(bv.data, bv.size);
    zmsg_destroy(&msg);
    return h;
}

static void
s_expect_code(broker_t *b, zsock_t *client, uint64_t call_id, tix_code code)
{
    Tix__V1__ReplyHeader *h = s_recv_reply(b, client, NULL);
    assert_int_equal(h->call_id, call_id);
    assert_int_equal(h->code, code);
    tix__v1__reply_header__free_unpacked(h, NULL);
}

static Tix__V1__HealthCheckResponse__ServingStatus
s_health(broker_t *b, zsock_t *client)
{
    Tix__V1__HealthCheckRequest r = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
    s_send_call(client, "tix.v1.Health/Check", 5, 0, &r.base);
    zframe_t *body;
    Tix__V1__ReplyHeader *h = s_recv_reply(b, client, &body);
    assert_int_equal(h->code, TIX__V1__CODE__OK);
    tix__v1__reply_header__free_unpacked(h, NULL);
    Tix__V1__HealthCheckResponse *resp =
        tix__v1__health_check_response__unpack(NULL, zframe_size(body), zframe_data(body));
    assert_non_null(resp);
    Tix__V1__HealthCheckResponse__ServingStatus status = resp->status;
    tix__v1__health_check_response__free_unpacked(resp, NULL);
    zframe_destroy(&body);
    return status;
}

/* ---- a fake worker ---- */

static zsock_t *
s_worker_new_hb(broker_t *b, uint32_t capacity, bool redis_ok, uint32_t heartbeat_ms)
{
    zsock_t *w = zsock_new_dealer(broker_backend_endpoint(b));
    Tix__Worker__V1__Ready ready = TIX__WORKER__V1__READY__INIT;
    ready.worker_id = "fake";
    ready.capacity = capacity;
    ready.redis_ok = redis_ok;
    ready.heartbeat_ms = heartbeat_ms;
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, TIX_WP_READY, &ready.base);
    zmsg_send(&msg, w);
    size_t before = broker_workers_count(b->workers);
    for (int i = 0; i < 200 && broker_workers_count(b->workers) == before; i++)
        broker_step(b, 5);
    assert_int_equal(broker_workers_count(b->workers), before + 1);
    return w;
}

/* A fake worker that never heartbeats, with a liveness long enough for the
 * test's duration. */
static zsock_t *
s_worker_new(broker_t *b, uint32_t capacity, bool redis_ok)
{
    return s_worker_new_hb(b, capacity, redis_ok, 10000);
}

/* Receives the next message for a fake worker, skipping heartbeats;
 * returns its command and body (caller frees). */
static tix_wp_command
s_worker_recv(broker_t *b, zsock_t *w, ProtobufCMessage **body)
{
    for (;;) {
        assert_true(s_pump(b, w, 3000));
        zmsg_t *msg = zmsg_recv(w);
        tix_frame_t v[3];
        size_t n = tix_frames_view(msg, 0, v, 3);
        tix_wp_command cmd;
        assert_int_equal(tix_wp_decode(v, n, &cmd, body), TIX_OK);
        zmsg_destroy(&msg);
        if (cmd != TIX_WP_HEARTBEAT)
            return cmd;
        protobuf_c_message_free_unpacked(*body, NULL);
    }
}

static Tix__Worker__V1__Job *
s_worker_recv_job(broker_t *b, zsock_t *w)
{
    ProtobufCMessage *body;
    assert_int_equal(s_worker_recv(b, w, &body), TIX_WP_JOB);
    return (Tix__Worker__V1__Job *) body;
}

static void
s_worker_reply(zsock_t *w, uint64_t job_id, tix_code code, const char *body)
{
    Tix__Worker__V1__JobReply r = TIX__WORKER__V1__JOB_REPLY__INIT;
    r.job_id = job_id;
    r.code = code;
    r.body.data = (uint8_t *) body;
    r.body.len = body ? strlen(body) : 0;
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, TIX_WP_REPLY, &r.base);
    zmsg_send(&msg, w);
}

static void
s_worker_heartbeat(zsock_t *w, bool redis_ok)
{
    Tix__Worker__V1__Heartbeat hb = TIX__WORKER__V1__HEARTBEAT__INIT;
    hb.redis_ok = redis_ok;
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, TIX_WP_HEARTBEAT, &hb.base);
    zmsg_send(&msg, w);
}

/* ---- tests ---- */

static void
test_health_serving_only_with_a_worker_that_has_redis(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(s_health(f->broker, f->client), TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    zsock_t *w = s_worker_new(f->broker, 4, false);
    assert_int_equal(s_health(f->broker, f->client), TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    s_worker_heartbeat(w, true);
    for (int i = 0; i < 20; i++)
        broker_step(f->broker, 5);
    assert_int_equal(s_health(f->broker, f->client), TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    zsock_destroy(&w);
}

static void
test_purchase_without_workers_is_unavailable_with_retry_after(void **state)
{
    fixture_t *f = *state;
    s_send_purchase(f->client, 11, 1000, "alice");
    Tix__V1__ReplyHeader *h = s_recv_reply(f->broker, f->client, NULL);
    assert_int_equal(h->call_id, 11);
    assert_int_equal(h->code, TIX__V1__CODE__UNAVAILABLE);
    assert_true(h->retry_after_ms > 0);
    tix__v1__reply_header__free_unpacked(h, NULL);
}

static void
test_call_is_forwarded_and_reply_routed_back_unchanged(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 2, true);
    s_send_purchase(f->client, 77, 2000, "alice");
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    assert_string_equal(job->method, "tix.v1.TicketService/Purchase");
    assert_true(job->budget_ms > 0 && job->budget_ms <= 2000);
    Tix__V1__PurchaseRequest *req = tix__v1__purchase_request__unpack(NULL, job->body.len, job->body.data);
    assert_string_equal(req->user_id, "alice");
    tix__v1__purchase_request__free_unpacked(req, NULL);
    s_worker_reply(w, job->job_id, TIX__V1__CODE__OK, "reply-bytes");
    protobuf_c_message_free_unpacked(&job->base, NULL);
    zframe_t *body;
    Tix__V1__ReplyHeader *h = s_recv_reply(f->broker, f->client, &body);
    assert_int_equal(h->call_id, 77);
    assert_int_equal(h->code, TIX__V1__CODE__OK);
    assert_true(zframe_streq(body, "reply-bytes"));
    zframe_destroy(&body);
    tix__v1__reply_header__free_unpacked(h, NULL);
    zsock_destroy(&w);
}

static void
test_credit_bounds_calls_at_a_worker_and_queue_bound_gives_resource_exhausted(void **state)
{
    fixture_t *f = *state; /* queue_limit 4 */
    zsock_t *w = s_worker_new(f->broker, 1, true);
    for (uint64_t id = 1; id <= 6; id++)
        s_send_purchase(f->client, id, 5000, "u");
    /* 1 at the worker, 4 queued, the 6th refused. */
    Tix__V1__ReplyHeader *h = s_recv_reply(f->broker, f->client, NULL);
    assert_int_equal(h->call_id, 6);
    assert_int_equal(h->code, TIX__V1__CODE__RESOURCE_EXHAUSTED);
    assert_true(h->retry_after_ms > 0);
    tix__v1__reply_header__free_unpacked(h, NULL);
    assert_int_equal(broker_jobs_queued(f->broker->jobs), 4);
    /* Each reply frees the credit for exactly one more job, in FIFO order. */
    for (uint64_t id = 1; id <= 5; id++) {
        Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
        assert_false(zsock_events(w) & ZMQ_POLLIN); /* no second job before a reply */
        s_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
        protobuf_c_message_free_unpacked(&job->base, NULL);
        s_expect_code(f->broker, f->client, id, TIX__V1__CODE__OK);
    }
    zsock_destroy(&w);
}

static void
test_queued_call_past_its_deadline_is_deadline_exceeded_but_started_call_is_not(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 1, true);
    s_send_purchase(f->client, 1, 100, "started");
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    s_send_purchase(f->client, 2, 100, "queued");
    s_expect_code(f->broker, f->client, 2, TIX__V1__CODE__DEADLINE_EXCEEDED);
    /* The started call's deadline has passed too, but it reports its truth. */
    s_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    s_expect_code(f->broker, f->client, 1, TIX__V1__CODE__OK);
    zsock_destroy(&w);
}

static void
test_huge_timeout_is_clamped(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 1, true);
    s_send_purchase(f->client, 1, UINT32_MAX, "alice");
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    assert_true(job->budget_ms <= BROKER_MAX_TIMEOUT_MS);
    s_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    s_expect_code(f->broker, f->client, 1, TIX__V1__CODE__OK);
    zsock_destroy(&w);
}

static void
test_dead_worker_purchase_is_redispatched_and_create_sale_answered_unavailable(void **state)
{
    fixture_t *f = *state;
    zsock_t *dying = s_worker_new_hb(f->broker, 2, true, 50);
    s_send_purchase(f->client, 1, 5000, "alice");
    Tix__V1__CreateSaleRequest cs = TIX__V1__CREATE_SALE_REQUEST__INIT;
    cs.sale_id = "s1";
    cs.total = 10;
    s_send_call(f->client, "tix.v1.AdminService/CreateSale", 2, 5000, &cs.base);
    Tix__Worker__V1__Job *j1 = s_worker_recv_job(f->broker, dying);
    Tix__Worker__V1__Job *j2 = s_worker_recv_job(f->broker, dying);
    protobuf_c_message_free_unpacked(&j2->base, NULL);
    zsock_t *healthy = s_worker_new(f->broker, 2, true);
    /* The dying worker goes silent: heartbeats stop, the broker buries it
     * after 3 x 50 ms, answers CreateSale and re-sends the Purchase. */
    zsock_destroy(&dying);
    Tix__V1__ReplyHeader *h = s_recv_reply(f->broker, f->client, NULL);
    assert_int_equal(h->call_id, 2);
    assert_int_equal(h->code, TIX__V1__CODE__UNAVAILABLE);
    assert_true(h->retry_after_ms > 0);
    tix__v1__reply_header__free_unpacked(h, NULL);
    Tix__Worker__V1__Job *again = s_worker_recv_job(f->broker, healthy);
    assert_int_equal(again->body.len, j1->body.len);
    assert_memory_equal(again->body.data, j1->body.data, j1->body.len);
    s_worker_reply(healthy, again->job_id, TIX__V1__CODE__OK, NULL);
    s_expect_code(f->broker, f->client, 1, TIX__V1__CODE__OK);
    assert_int_equal(broker_stats(f->broker)->workers_lost, 1);
    assert_int_equal(broker_stats(f->broker)->redispatched, 1);
    protobuf_c_message_free_unpacked(&again->base, NULL);
    protobuf_c_message_free_unpacked(&j1->base, NULL);
    zsock_destroy(&healthy);
}

static void
test_leaving_worker_gets_no_new_jobs_and_its_answers_still_count(void **state)
{
    fixture_t *f = *state;
    zsock_t *leaving = s_worker_new(f->broker, 4, true);
    s_send_purchase(f->client, 1, 5000, "held");
    Tix__Worker__V1__Job *held = s_worker_recv_job(f->broker, leaving);
    zsock_send(leaving, "ssb", "TXW1", "DISCONNECT", NULL, (size_t) 0);
    zsock_t *other = s_worker_new(f->broker, 4, true);
    /* New calls go to the other worker only. */
    s_send_purchase(f->client, 2, 5000, "new");
    Tix__Worker__V1__Job *fresh = s_worker_recv_job(f->broker, other);
    assert_false(zsock_events(leaving) & ZMQ_POLLIN);
    s_worker_reply(other, fresh->job_id, TIX__V1__CODE__OK, NULL);
    s_expect_code(f->broker, f->client, 2, TIX__V1__CODE__OK);
    /* The leaving worker's answer is delivered, then it is forgotten. */
    assert_int_equal(broker_workers_count(f->broker->workers), 2);
    s_worker_reply(leaving, held->job_id, TIX__V1__CODE__OK, NULL);
    s_expect_code(f->broker, f->client, 1, TIX__V1__CODE__OK);
    assert_int_equal(broker_workers_count(f->broker->workers), 1);
    assert_int_equal(broker_stats(f->broker)->workers_lost, 0);
    protobuf_c_message_free_unpacked(&held->base, NULL);
    protobuf_c_message_free_unpacked(&fresh->base, NULL);
    zsock_destroy(&other);
    zsock_destroy(&leaving);
}

static void
s_worker_reply_msg(zsock_t *w, uint64_t job_id, const ProtobufCMessage *body)
{
    uint8_t buf[4096];
    size_t n = protobuf_c_message_pack(body, buf);
    Tix__Worker__V1__JobReply r = TIX__WORKER__V1__JOB_REPLY__INIT;
    r.job_id = job_id;
    r.code = TIX__V1__CODE__OK;
    r.body.data = buf;
    r.body.len = n;
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, TIX_WP_REPLY, &r.base);
    zmsg_send(&msg, w);
}

static void
s_send_purchase_req(zsock_t *client, uint64_t call_id, const char *user, const char *req)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s1";
    r.user_id = (char *) user;
    r.request_id = (char *) req;
    s_send_call(client, "tix.v1.TicketService/Purchase", call_id, 5000, &r.base);
}

static Tix__V1__PurchaseReply *
s_recv_purchase(broker_t *b, zsock_t *client, uint64_t call_id)
{
    zframe_t *body;
    Tix__V1__ReplyHeader *h = s_recv_reply(b, client, &body);
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
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 1, true);
    /* A Purchase whose answer says no ticket is left. */
    s_send_purchase_req(f->client, 1, "late", "");
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    Tix__V1__PurchaseReply sold_out = TIX__V1__PURCHASE_REPLY__INIT;
    sold_out.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    s_worker_reply_msg(w, job->job_id, &sold_out.base);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    Tix__V1__PurchaseReply *p = s_recv_purchase(f->broker, f->client, 1);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    tix__v1__purchase_reply__free_unpacked(p, NULL);

    /* The broker asks the worker for the buyers; calls queue meanwhile. */
    Tix__Worker__V1__Job *load = s_worker_recv_job(f->broker, w);
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
    s_worker_reply_msg(w, load->job_id, &page.base);
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
s_edge_ready(fixture_t *f, zsock_t *w, int64_t redis_now_ms, int64_t closes_at_ms)
{
    s_send_purchase_req(f->client, 100, "late", "");
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    Tix__V1__PurchaseReply sold_out = TIX__V1__PURCHASE_REPLY__INIT;
    sold_out.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    s_worker_reply_msg(w, job->job_id, &sold_out.base);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    tix__v1__purchase_reply__free_unpacked(s_recv_purchase(f->broker, f->client, 100), NULL);
    Tix__Worker__V1__Job *load = s_worker_recv_job(f->broker, w);
    Tix__Worker__V1__Buyer buyer = TIX__WORKER__V1__BUYER__INIT, *buyers[] = {&buyer};
    buyer.user_id = "winner", buyer.order_id = "s1:7", buyer.request_id = "r-9";
    Tix__Worker__V1__BuyersPage page = TIX__WORKER__V1__BUYERS_PAGE__INIT;
    page.sale_id = "s1", page.cursor = "0", page.buyers = buyers, page.n_buyers = 1;
    page.created_at_ms = redis_now_ms - 1000, page.now_ms = redis_now_ms, page.closes_at_ms = closes_at_ms;
    s_worker_reply_msg(w, load->job_id, &page.base);
    protobuf_c_message_free_unpacked(&load->base, NULL);
    int64_t deadline = tix_now_ms() + 3000;
    while (broker_edge_ready_count(f->broker->edge) == 0 && tix_now_ms() < deadline)
        broker_step(f->broker, 5);
    assert_int_equal(broker_edge_ready_count(f->broker->edge), 1);
}

/* Issue 12 item 11: with the broker's clock 60 s ahead of Redis's (the
 * page's time is 60 s behind the broker's wall clock) and the sale closing
 * 30 s after Redis's now, the edge says SOLD_OUT, as Redis would. */
static void
test_edge_closes_by_redis_clock_when_the_broker_clock_is_ahead(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 1, true);
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
s_worker_answers(fixture_t *f, zsock_t *w, tix_code code, const ProtobufCMessage *body, uint64_t call_id)
{
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    if (body)
        s_worker_reply_msg(w, job->job_id, body);
    else
        s_worker_reply(w, job->job_id, code, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    s_expect_code(f->broker, f->client, call_id, code);
}

/* Issue 12 item 2: CreateSale succeeding for a sale, and NOT_FOUND from a
 * worker for it, drop its edge entry: the next Purchase goes to Redis. */
static void
test_edge_entry_is_dropped_when_redis_shows_the_sale_changed(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 1, true);
    s_edge_ready(f, w, tix_wall_ms(), 0);
    Tix__V1__CreateSaleRequest create = TIX__V1__CREATE_SALE_REQUEST__INIT;
    create.sale_id = "s1", create.total = 5;
    s_send_call(f->client, "tix.v1.AdminService/CreateSale", 1, 5000, &create.base);
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
    s_send_call(f->client, "tix.v1.TicketService/GetSale", 3, 5000, &get.base);
    s_worker_answers(f, w, TIX__V1__CODE__NOT_FOUND, NULL, 3);
    assert_int_equal(broker_edge_ready_count(f->broker->edge), 0);
    s_send_purchase_req(f->client, 4, "winner", "r-9");
    s_worker_answers(f, w, TIX__V1__CODE__NOT_FOUND, NULL, 4);
    assert_int_equal(broker_stats(f->broker)->edge_dropped, 2);

    /* GetSale showing stock drops it too. */
    s_edge_ready(f, w, tix_wall_ms(), 0);
    s_send_call(f->client, "tix.v1.TicketService/GetSale", 5, 5000, &get.base);
    sale.remaining = 3;
    s_worker_answers(f, w, TIX__V1__CODE__OK, &sale.base, 5);
    assert_int_equal(broker_edge_ready_count(f->broker->edge), 0);
    assert_int_equal(broker_stats(f->broker)->edge_dropped, 3);

    /* And so does a buyers load that finds no sale. */
    s_send_purchase_req(f->client, 6, "late", "");
    Tix__V1__PurchaseReply sold_out = TIX__V1__PURCHASE_REPLY__INIT;
    sold_out.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    s_worker_answers(f, w, TIX__V1__CODE__OK, &sold_out.base, 6);
    Tix__Worker__V1__Job *load = s_worker_recv_job(f->broker, w);
    s_worker_reply(w, load->job_id, TIX__V1__CODE__NOT_FOUND, NULL);
    protobuf_c_message_free_unpacked(&load->base, NULL);
    int64_t deadline = tix_now_ms() + 3000;
    while (broker_stats(f->broker)->edge_dropped < 4 && tix_now_ms() < deadline)
        broker_step(f->broker, 5);
    assert_int_equal(broker_stats(f->broker)->edge_dropped, 4);
    zsock_destroy(&w);
}

static void
test_a_flooding_user_is_refused_without_slowing_anyone_else(void **state)
{
    fixture_t *f = *state;
    broker_destroy(&f->broker);
    zsock_destroy(&f->client);
    f->broker = s_broker_new_limited(100, 1.0, 3); /* 1 call/s, 3 at once */
    f->client = zsock_new_dealer(broker_frontend_endpoint(f->broker));
    zsock_t *w = s_worker_new(f->broker, 10, true);
    for (uint64_t id = 1; id <= 5; id++)
        s_send_purchase(f->client, id, 5000, "greedy");
    s_send_purchase(f->client, 6, 5000, "calm");
    /* Calls 4 and 5 are refused at once, with the wait for a token. */
    for (int i = 0; i < 2; i++) {
        Tix__V1__ReplyHeader *h = s_recv_reply(f->broker, f->client, NULL);
        assert_true(h->call_id == 4 || h->call_id == 5);
        assert_int_equal(h->code, TIX__V1__CODE__RESOURCE_EXHAUSTED);
        assert_true(h->retry_after_ms > 0 && h->retry_after_ms <= 1000);
        assert_non_null(strstr(h->message, "rate limit"));
        tix__v1__reply_header__free_unpacked(h, NULL);
    }
    /* The other four reach the worker: three of greedy's and calm's. */
    for (int i = 0; i < 4; i++) {
        Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
        s_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
        protobuf_c_message_free_unpacked(&job->base, NULL);
    }
    bool seen[7] = {false};
    for (int i = 0; i < 4; i++) {
        Tix__V1__ReplyHeader *h = s_recv_reply(f->broker, f->client, NULL);
        assert_int_equal(h->code, TIX__V1__CODE__OK);
        seen[h->call_id] = true;
        tix__v1__reply_header__free_unpacked(h, NULL);
    }
    assert_true(seen[1] && seen[2] && seen[3] && seen[6]);
    assert_int_equal(broker_stats(f->broker)->rate_limited, 2);
    zsock_destroy(&w);
}

static void
test_calls_go_to_workers_whose_redis_works_while_there_is_one(void **state)
{
    fixture_t *f = *state;
    zsock_t *without = s_worker_new(f->broker, 4, false);
    zsock_t *with = s_worker_new(f->broker, 4, true);
    for (uint64_t id = 1; id <= 3; id++)
        s_send_purchase(f->client, id, 5000, "u");
    for (int i = 0; i < 3; i++) {
        Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, with);
        s_worker_reply(with, job->job_id, TIX__V1__CODE__OK, NULL);
        protobuf_c_message_free_unpacked(&job->base, NULL);
    }
    for (uint64_t id = 1; id <= 3; id++)
        s_expect_code(f->broker, f->client, id, TIX__V1__CODE__OK);
    assert_false(zsock_events(without) & ZMQ_POLLIN);
    zsock_destroy(&with);
    zsock_destroy(&without);
}

static void
test_worker_garbage_and_stale_replies_are_dropped_and_counted(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 1, true);
    zstr_send(w, "garbage");
    zsock_send(w, "sss", "TXW1", "REPLY", "\xff\xff\xff");
    zsock_send(w, "sss", "TXW1", "JOB", "");
    s_worker_reply(w, 123456789, TIX__V1__CODE__OK, NULL); /* no such job */
    for (int i = 0; i < 20; i++)
        broker_step(f->broker, 5);
    assert_int_equal(broker_stats(f->broker)->worker_garbage, 3);
    assert_int_equal(broker_stats(f->broker)->stale_replies, 1);
    /* Still serving everyone. */
    s_send_purchase(f->client, 9, 2000, "bob");
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    s_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    s_expect_code(f->broker, f->client, 9, TIX__V1__CODE__OK);
    zsock_destroy(&w);
}

static void
test_stale_replies_from_an_unknown_worker_earn_one_disconnect_per_heartbeat(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = zsock_new_dealer(broker_backend_endpoint(f->broker));
    for (uint64_t i = 1; i <= 50; i++) /* e.g. calls it held before a broker restart */
        s_worker_reply(w, i, TIX__V1__CODE__OK, NULL);
    s_worker_heartbeat(w, true);
    ProtobufCMessage *body;
    assert_int_equal(s_worker_recv(f->broker, w, &body), TIX_WP_DISCONNECT);
    for (int i = 0; i < 20; i++)
        broker_step(f->broker, 5);
    assert_false(zsock_events(w) & ZMQ_POLLIN); /* one, not 51 */
    assert_int_equal(broker_stats(f->broker)->stale_replies, 50);
    zsock_destroy(&w);
}

static void
test_unknown_worker_heartbeat_gets_disconnect(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = zsock_new_dealer(broker_backend_endpoint(f->broker));
    s_worker_heartbeat(w, true);
    ProtobufCMessage *body;
    assert_int_equal(s_worker_recv(f->broker, w, &body), TIX_WP_DISCONNECT);
    assert_null(body);
    zsock_destroy(&w);
}

/* Sends raw frames (after the delimiter) and expects code and call_id. */
static void
s_expect_bad(fixture_t *f, zmsg_t *msg, tix_code code, uint64_t call_id, const char *needle)
{
    assert_int_equal(zmsg_send(&msg, f->client), 0);
    Tix__V1__ReplyHeader *h = s_recv_reply(f->broker, f->client, NULL);
    assert_int_equal(h->code, code);
    assert_int_equal(h->call_id, call_id);
    assert_non_null(strstr(h->message, needle));
    tix__v1__reply_header__free_unpacked(h, NULL);
}

static void
test_bad_input_gets_clear_errors_and_disturbs_no_one(void **state)
{
    fixture_t *f = *state;
    zmsg_t *m;
    m = zmsg_new(), zmsg_addmem(m, NULL, 0), zmsg_addstr(m, "TIX9"), zmsg_addstr(m, ""), zmsg_addstr(m, "");
    s_expect_bad(f, m, TIX__V1__CODE__INVALID_ARGUMENT, 0, "signature");
    m = zmsg_new(), zmsg_addstr(m, "TIX1"), zmsg_addstr(m, ""), zmsg_addstr(m, "");
    s_expect_bad(f, m, TIX__V1__CODE__INVALID_ARGUMENT, 0, "delimiter");
    m = zmsg_new(), zmsg_addmem(m, NULL, 0);
    s_expect_bad(f, m, TIX__V1__CODE__INVALID_ARGUMENT, 0, "signature");
    m = zmsg_new(), zmsg_addmem(m, NULL, 0), zmsg_addstr(m, "TIX1"), zmsg_addstr(m, "\xff\xff\xff\xff"),
    zmsg_addstr(m, "");
    s_expect_bad(f, m, TIX__V1__CODE__INVALID_ARGUMENT, 0, "header");
    /* Extra frames: answered under the call's own id. */
    m = zmsg_new(), zmsg_addmem(m, NULL, 0);
    tix_call_append(m, "tix.v1.Health/Check", 31, 0, NULL);
    zmsg_addstr(m, "extra"), zmsg_addstr(m, "extra");
    s_expect_bad(f, m, TIX__V1__CODE__INVALID_ARGUMENT, 31, "got 5");
    m = zmsg_new(), zmsg_addmem(m, NULL, 0);
    tix_call_append(m, "tix.v1.Nope/Nothing", 32, 0, NULL);
    s_expect_bad(f, m, TIX__V1__CODE__UNIMPLEMENTED, 32, "method");
    m = zmsg_new(), zmsg_addmem(m, NULL, 0);
    tix_call_append(m, "tix.v1.TicketService/Purchase", 33, 0, NULL);
    zframe_t *body = zmsg_last(m);
    zframe_reset(body, "\x0a\x05sa", 4); /* truncated string */
    s_expect_bad(f, m, TIX__V1__CODE__INVALID_ARGUMENT, 33, "body");
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s1";
    r.user_id = "bad\nuser";
    m = zmsg_new(), zmsg_addmem(m, NULL, 0);
    tix_call_append(m, "tix.v1.TicketService/Purchase", 34, 0, &r.base);
    s_expect_bad(f, m, TIX__V1__CODE__INVALID_ARGUMENT, 34, "user_id");
    assert_int_equal(broker_stats(f->broker)->invalid, 8);
    /* The broker still answers good calls. */
    assert_int_equal(s_health(f->broker, f->client), TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
}

static void
test_oversized_message_is_refused_by_the_socket(void **state)
{
    fixture_t *f = *state;
    zmsg_t *m = zmsg_new();
    zmsg_addmem(m, NULL, 0);
    zmsg_addstr(m, "TIX1");
    zmsg_addstr(m, "");
    zframe_t *big = zframe_new(NULL, TIX_MAX_MESSAGE_BYTES + 1);
    memset(zframe_data(big), 'x', zframe_size(big));
    zmsg_append(m, &big);
    zmsg_send(&m, f->client);
    for (int i = 0; i < 20; i++)
        broker_step(f->broker, 5);
    assert_int_equal(broker_stats(f->broker)->calls, 0);
    /* The connection was dropped by libzmq; a new client is served. */
    zsock_t *other = zsock_new_dealer(broker_frontend_endpoint(f->broker));
    assert_int_equal(s_health(f->broker, other), TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    zsock_destroy(&other);
}

static void
test_client_gone_before_its_reply_is_counted_unroutable(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 1, true);
    zsock_t *leaver = zsock_new_dealer(broker_frontend_endpoint(f->broker));
    s_send_purchase(leaver, 1, 2000, "leaver");
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    zsock_destroy(&leaver);
    for (int i = 0; i < 20; i++)
        broker_step(f->broker, 5);
    s_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    for (int i = 0; i < 40 && broker_stats(f->broker)->unroutable == 0; i++)
        broker_step(f->broker, 5);
    assert_int_equal(broker_stats(f->broker)->unroutable, 1);
    /* Others are unaffected. */
    s_send_purchase(f->client, 2, 2000, "stayer");
    job = s_worker_recv_job(f->broker, w);
    s_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    s_expect_code(f->broker, f->client, 2, TIX__V1__CODE__OK);
    zsock_destroy(&w);
}

static void
test_order_events_are_proxied_to_subscribers(void **state)
{
    fixture_t *f = *state;
    zsock_t *sub = zsock_new_sub(zsock_endpoint(f->broker->events_out), "order.");
    zsock_t *pub = zsock_new_pub(NULL);
    zsock_connect(pub, "%s", zsock_endpoint(f->broker->events_in));
    /* PUB/SUB joins are asynchronous: publish until one arrives. */
    bool got = false;
    for (int i = 0; i < 200 && !got; i++) {
        zsock_send(pub, "ss", "order.s1", "event");
        zsock_send(pub, "ss", "other.s1", "ignored");
        got = s_pump(f->broker, sub, 10);
    }
    assert_true(got);
    char *topic, *body;
    zsock_recv(sub, "ss", &topic, &body);
    assert_string_equal(topic, "order.s1");
    assert_string_equal(body, "event");
    zstr_free(&topic);
    zstr_free(&body);
    zsock_destroy(&pub);
    zsock_destroy(&sub);
}

static void
test_drain_answers_queued_and_held_calls(void **state)
{
    fixture_t *f = *state;
    zsock_t *w = s_worker_new(f->broker, 1, true);
    s_send_purchase(f->client, 1, 5000, "held");
    s_send_purchase(f->client, 2, 5000, "queued");
    Tix__Worker__V1__Job *job = s_worker_recv_job(f->broker, w);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    broker_drain(f->broker); /* the worker never answers: drain_ms 200 */
    s_expect_code(f->broker, f->client, 2, TIX__V1__CODE__UNAVAILABLE);
    s_expect_code(f->broker, f->client, 1, TIX__V1__CODE__UNAVAILABLE);
    assert_int_equal(broker_jobs_live(f->broker->jobs), 0);
    zsock_destroy(&w);
}

int
main(void)
{
    zsys_init();
    zsys_set_linger(0);
#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_health_serving_only_with_a_worker_that_has_redis),
        T(test_purchase_without_workers_is_unavailable_with_retry_after),
        T(test_call_is_forwarded_and_reply_routed_back_unchanged),
        T(test_credit_bounds_calls_at_a_worker_and_queue_bound_gives_resource_exhausted),
        T(test_queued_call_past_its_deadline_is_deadline_exceeded_but_started_call_is_not),
        T(test_huge_timeout_is_clamped),
        T(test_dead_worker_purchase_is_redispatched_and_create_sale_answered_unavailable),
        T(test_leaving_worker_gets_no_new_jobs_and_its_answers_still_count),
        T(test_sold_out_sale_is_loaded_once_then_answered_by_the_broker),
        T(test_edge_closes_by_redis_clock_when_the_broker_clock_is_ahead),
        T(test_edge_entry_is_dropped_when_redis_shows_the_sale_changed),
        T(test_a_flooding_user_is_refused_without_slowing_anyone_else),
        T(test_calls_go_to_workers_whose_redis_works_while_there_is_one),
        T(test_worker_garbage_and_stale_replies_are_dropped_and_counted),
        T(test_unknown_worker_heartbeat_gets_disconnect),
        T(test_stale_replies_from_an_unknown_worker_earn_one_disconnect_per_heartbeat),
        T(test_bad_input_gets_clear_errors_and_disturbs_no_one),
        T(test_oversized_message_is_refused_by_the_socket),
        T(test_client_gone_before_its_reply_is_counted_unroutable),
        T(test_order_events_are_proxied_to_subscribers),
        T(test_drain_answers_queued_and_held_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
