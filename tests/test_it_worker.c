/*
 * test_it_worker.c - a real tix-worker process, driven by this test acting
 * as the broker: a ROUTER bound where the worker's DEALER connects (TXW1,
 * docs/WORKER-PROTOCOL.md) and a SUB bound where its PUB connects (order
 * events), over a real redis-server.
 *
 * Each test starts its own worker and stops it with SIGTERM, expecting exit
 * status 0 (which, in a sanitizer build, also means no leak). While waiting,
 * the fake broker heartbeats the worker as a broker would.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <czmq.h>

#include "harness.h"
#include "tix_codec.h"
#include "tix_util.h"

#define HB_MS 200 /* the worker's heartbeat in these tests */
#define CAPACITY 8
#define WAIT_MS 5000 /* generous: sanitizer builds are slow */

typedef struct {
    zsock_t *router; /* the backend: the worker connects here */
    zsock_t *sub;    /* the event intake: the worker publishes here */
    char backend[64], events_in[64];
    th_redis_t *redis; /* borrowed */
    th_proc_t proc;    /* the worker */
    zframe_t *rid;     /* the worker's routing id, from its last READY */
    bool heartbeats;   /* heartbeat the worker while waiting */
    int64_t next_hb_ms;
    uint64_t next_job_id;
    int readies; /* READYs seen */
} s_fake_t;

static th_redis_t s_redis;
static s_fake_t s_fake; /* static: a failed test's teardown must reach it */

/* ---- The fake broker ------------------------------------------------------ */

static void
s_send(s_fake_t *f, tix_wp_command command, const ProtobufCMessage *body)
{
    assert_non_null(f->rid);
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, zframe_data(f->rid), zframe_size(f->rid));
    tix_wp_append(msg, command, body);
    assert_int_equal(zmsg_send(&msg, f->router), 0);
}

/* Sends raw frames after the routing id (for garbage). */
static void
s_send_raw(s_fake_t *f, int nframes, ...)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, zframe_data(f->rid), zframe_size(f->rid));
    va_list ap;
    va_start(ap, nframes);
    for (int i = 0; i < nframes; i++) {
        const char *data = va_arg(ap, const char *);
        size_t size = va_arg(ap, size_t);
        zmsg_addmem(msg, data, size);
    }
    va_end(ap);
    assert_int_equal(zmsg_send(&msg, f->router), 0);
}

/* Once per wait-loop turn. A bound SUB sends its subscription to a newly
 * connected PUB only when its owner next calls into it (libzmq processes
 * the attach lazily), and a PUB drops what nobody subscribed to: touch the
 * SUB so that events are not lost before the test looks for them. */
static void
s_heartbeat_if_due(s_fake_t *f)
{
    if (f->sub)
        zsock_events(f->sub);
    if (!f->heartbeats || !f->rid || tix_now_ms() < f->next_hb_ms)
        return;
    Tix__Worker__V1__Heartbeat hb = TIX__WORKER__V1__HEARTBEAT__INIT;
    s_send(f, TIX_WP_HEARTBEAT, &hb.base);
    f->next_hb_ms = tix_now_ms() + HB_MS / 2;
}

/* Waits up to timeout_ms for the next well-formed worker message; returns
 * its command (body owned by the caller) or -1. Remembers READY's id. */
static int
s_next(s_fake_t *f, int timeout_ms, ProtobufCMessage **body)
{
    int64_t end = tix_now_ms() + timeout_ms;
    *body = NULL;
    while (tix_now_ms() < end) {
        s_heartbeat_if_due(f);
        zmq_pollitem_t item = {zsock_resolve(f->router), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, HB_MS / 4) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv(f->router);
        zframe_t *rid = zmsg_pop(msg);
        tix_frame_t frames[3];
        size_t n = tix_frames_view(msg, 0, frames, 3);
        tix_wp_command command;
        tix_err err = tix_wp_decode(frames, n, &command, body);
        zmsg_destroy(&msg);
        assert_int_equal(err, TIX_OK); /* the worker never sends garbage */
        if (command == TIX_WP_READY) {
            zframe_destroy(&f->rid);
            f->rid = rid;
            f->readies++;
        } else {
            zframe_destroy(&rid);
        }
        return (int) command;
    }
    return -1;
}

/* Waits for a message with this command, skipping others; NULL on timeout. */
static ProtobufCMessage *
s_expect(s_fake_t *f, tix_wp_command want, int timeout_ms)
{
    int64_t end = tix_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = end - tix_now_ms();
        if (left <= 0)
            return NULL;
        ProtobufCMessage *body;
        int command = s_next(f, (int) left, &body);
        if (command == (int) want)
            return body;
        if (body)
            protobuf_c_message_free_unpacked(body, NULL);
        if (command < 0)
            return NULL;
    }
}

/* Sends a JOB; returns its job_id. body may be NULL (empty). */
static uint64_t
s_job(s_fake_t *f, const char *method, uint32_t budget_ms, const ProtobufCMessage *body)
{
    uint8_t buf[4096];
    Tix__Worker__V1__Job job = TIX__WORKER__V1__JOB__INIT;
    job.job_id = ++f->next_job_id;
    job.method = (char *) method;
    job.budget_ms = budget_ms;
    job.client = "test";
    if (body) {
        assert_true(protobuf_c_message_get_packed_size(body) <= sizeof buf);
        job.body.len = protobuf_c_message_pack(body, buf);
        job.body.data = buf;
    }
    s_send(f, TIX_WP_JOB, &job.base);
    return job.job_id;
}

/* Waits for the REPLY to job_id (other replies are a failure). */
static Tix__Worker__V1__JobReply *
s_reply(s_fake_t *f, uint64_t job_id)
{
    Tix__Worker__V1__JobReply *r = (Tix__Worker__V1__JobReply *) s_expect(f, TIX_WP_REPLY, WAIT_MS);
    assert_non_null(r);
    assert_int_equal(r->job_id, job_id);
    return r;
}

static Tix__Worker__V1__JobReply *
s_call(s_fake_t *f, const char *method, const ProtobufCMessage *body)
{
    return s_reply(f, s_job(f, method, 5000, body));
}

/* Waits until a HEARTBEAT says redis_ok == want. */
static bool
s_wait_redis_ok(s_fake_t *f, bool want, int timeout_ms)
{
    int64_t end = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < end) {
        Tix__Worker__V1__Heartbeat *hb =
            (Tix__Worker__V1__Heartbeat *) s_expect(f, TIX_WP_HEARTBEAT, (int) (end - tix_now_ms()));
        if (!hb)
            return false;
        bool ok = hb->redis_ok;
        protobuf_c_message_free_unpacked(&hb->base, NULL);
        if (ok == want)
            return true;
    }
    return false;
}

/* Starts the fake broker and a worker; waits for READY and a working Redis. */
static void
s_start(s_fake_t *f, th_redis_t *redis)
{
    memset(f, 0, sizeof *f);
    f->redis = redis;
    f->heartbeats = true;
    snprintf(f->backend, sizeof f->backend, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(f->events_in, sizeof f->events_in, "tcp://127.0.0.1:%d", th_free_port());
    f->router = zsock_new(ZMQ_ROUTER);
    f->sub = zsock_new(ZMQ_SUB);
    assert_true(f->router && f->sub);
    assert_int_not_equal(zsock_bind(f->router, "%s", f->backend), -1);
    zsock_set_subscribe(f->sub, "order.");
    assert_int_not_equal(zsock_bind(f->sub, "%s", f->events_in), -1);
    char hb[16], cap[16];
    snprintf(hb, sizeof hb, "%d", HB_MS);
    snprintf(cap, sizeof cap, "%d", CAPACITY);
    const char *argv[] = {"tix-worker", "--backend",      f->backend, "--events-in",
                          f->events_in, "--redis-url",    redis->url, "--worker-id",
                          "wtest",      "--heartbeat-ms", hb,         "--capacity",
                          cap,          "--log-level",    "debug",    NULL};
    assert_true(th_proc_start(&f->proc, argv, NULL));
    ProtobufCMessage *ready = s_expect(f, TIX_WP_READY, WAIT_MS);
    assert_non_null(ready);
    protobuf_c_message_free_unpacked(ready, NULL);
    assert_true(s_wait_redis_ok(f, true, WAIT_MS));
}

/* Sends sig (SIGTERM or SIGINT); the worker must exit 0 within 2 s. */
static void
s_stop_with(s_fake_t *f, int sig)
{
    if (f->proc.pid > 0) {
        int status = th_proc_stop(&f->proc, sig, 2000);
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            print_error("worker exit status %d; its log: %s\n", status, f->proc.log);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    zframe_destroy(&f->rid);
    zsock_destroy(&f->router);
    zsock_destroy(&f->sub);
}

static void
s_stop(s_fake_t *f)
{
    s_stop_with(f, SIGTERM);
}

/* After every test, also a failed one: nothing left running or open. */
static int
s_cleanup(void **state)
{
    (void) state;
    if (s_fake.proc.pid > 0)
        th_proc_stop(&s_fake.proc, SIGKILL, 2000);
    zframe_destroy(&s_fake.rid);
    zsock_destroy(&s_fake.router);
    zsock_destroy(&s_fake.sub);
    return 0;
}

/* Waits for one order event; returns it (owned) and its topic. */
static Tix__V1__OrderEvent *
s_event(s_fake_t *f, int timeout_ms, char *topic, size_t topic_size)
{
    int64_t end = tix_now_ms() + timeout_ms;
    while (tix_now_ms() < end) {
        s_heartbeat_if_due(f);
        zmq_pollitem_t item = {zsock_resolve(f->sub), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, HB_MS / 4) <= 0)
            continue;
        zmsg_t *msg = zmsg_recv(f->sub);
        assert_int_equal(zmsg_size(msg), 2);
        zframe_t *t = zmsg_first(msg), *b = zmsg_next(msg);
        snprintf(topic, topic_size, "%.*s", (int) zframe_size(t), (const char *) zframe_data(t));
        Tix__V1__OrderEvent *e = tix__v1__order_event__unpack(NULL, zframe_size(b), zframe_data(b));
        zmsg_destroy(&msg);
        assert_non_null(e);
        return e;
    }
    return NULL;
}

/* ---- Requests ------------------------------------------------------------- */

static Tix__Worker__V1__JobReply *
s_create_sale(s_fake_t *f, const char *sale_id, uint32_t total, int64_t opens_at_ms, int64_t closes_at_ms)
{
    Tix__V1__CreateSaleRequest req = TIX__V1__CREATE_SALE_REQUEST__INIT;
    req.sale_id = (char *) sale_id;
    req.total = total;
    req.opens_at_ms = opens_at_ms;
    req.closes_at_ms = closes_at_ms;
    return s_call(f, "tix.v1.AdminService/CreateSale", &req.base);
}

static uint64_t
s_purchase_job(s_fake_t *f, const char *sale_id, const char *user_id, const char *request_id, uint32_t budget_ms)
{
    Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
    req.sale_id = (char *) sale_id;
    req.user_id = (char *) user_id;
    req.request_id = (char *) request_id;
    return s_job(f, "tix.v1.TicketService/Purchase", budget_ms, &req.base);
}

/* A purchase answered OK; returns the PurchaseReply (owned). */
static Tix__V1__PurchaseReply *
s_purchase(s_fake_t *f, const char *sale_id, const char *user_id, const char *request_id, uint32_t *retry_after_ms)
{
    Tix__Worker__V1__JobReply *r = s_reply(f, s_purchase_job(f, sale_id, user_id, request_id, 5000));
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    Tix__V1__PurchaseReply *p = tix__v1__purchase_reply__unpack(NULL, r->body.len, r->body.data);
    assert_non_null(p);
    if (retry_after_ms)
        *retry_after_ms = r->retry_after_ms;
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    return p;
}

static void
s_open_sale(s_fake_t *f, const char *sale_id, uint32_t total)
{
    Tix__Worker__V1__JobReply *r = s_create_sale(f, sale_id, total, 0, 0);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
}

static void
s_expect_code(Tix__Worker__V1__JobReply *r, tix_code code, const char *message_prefix)
{
    if (r->code != code)
        print_error("got %s: %s\n", tix_code_name(r->code), r->message);
    assert_int_equal(r->code, code);
    if (message_prefix)
        assert_true(strncmp(r->message, message_prefix, strlen(message_prefix)) == 0);
    assert_int_equal(r->body.len, 0);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
}

/* ---- Registration and liveness ------------------------------------------- */

static void
test_ready_carries_worker_id_capacity_and_heartbeat_interval(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    memset(f, 0, sizeof *f);
    /* Started by hand to read the very first READY. */
    f->heartbeats = true;
    snprintf(f->backend, sizeof f->backend, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(f->events_in, sizeof f->events_in, "tcp://127.0.0.1:%d", th_free_port());
    f->router = zsock_new(ZMQ_ROUTER);
    f->sub = zsock_new(ZMQ_SUB);
    assert_int_not_equal(zsock_bind(f->router, "%s", f->backend), -1);
    assert_int_not_equal(zsock_bind(f->sub, "%s", f->events_in), -1);
    const char *argv[] = {"tix-worker", NULL};
    char env_backend[96], env_events[96], env_redis[96];
    snprintf(env_backend, sizeof env_backend, "TIX_BACKEND=%.63s", f->backend);
    snprintf(env_events, sizeof env_events, "TIX_EVENTS_IN=%.63s", f->events_in);
    snprintf(env_redis, sizeof env_redis, "TIX_REDIS_URL=%.63s", s_redis.url);
    const char *env[] = {
        env_backend, env_events, env_redis, "TIX_WORKER_CAPACITY=7", "TIX_WORKER_ID=from-env", "TIX_HEARTBEAT_MS=250",
        NULL};
    assert_true(th_proc_start(&f->proc, argv, env));
    Tix__Worker__V1__Ready *ready = (Tix__Worker__V1__Ready *) s_expect(f, TIX_WP_READY, WAIT_MS);
    assert_non_null(ready);
    assert_string_equal(ready->worker_id, "from-env");
    assert_int_equal(ready->capacity, 7);
    assert_int_equal(ready->heartbeat_ms, 250);
    tix__worker__v1__ready__free_unpacked(ready, NULL);
    assert_true(s_wait_redis_ok(f, true, WAIT_MS));
    s_stop(f);
}

static void
test_heartbeats_flow_with_redis_status_and_in_flight(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    int beats = 0;
    int64_t start = tix_now_ms();
    while (tix_now_ms() - start < 6 * HB_MS) {
        Tix__Worker__V1__Heartbeat *hb = (Tix__Worker__V1__Heartbeat *) s_expect(f, TIX_WP_HEARTBEAT, 2 * HB_MS);
        assert_non_null(hb);
        assert_true(hb->redis_ok);
        assert_int_equal(hb->in_flight, 0);
        tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
        beats++;
    }
    assert_true(beats >= 4 && beats <= 8); /* every HB_MS, not a flood */
    assert_int_equal(f->readies, 1);       /* our heartbeats kept it registered */
    s_stop(f);
}

static void
test_silent_broker_gets_ready_again_from_a_new_connection(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    zframe_t *first = zframe_dup(f->rid);
    f->heartbeats = false; /* the broker "dies" */
    int64_t start = tix_now_ms();
    ProtobufCMessage *ready = s_expect(f, TIX_WP_READY, 10 * HB_MS);
    int64_t took = tix_now_ms() - start;
    assert_non_null(ready);
    protobuf_c_message_free_unpacked(ready, NULL);
    assert_true(took >= 2 * HB_MS && took <= 6 * HB_MS); /* after 3 silent intervals */
    assert_false(zframe_eq(first, f->rid));              /* a new DEALER */
    zframe_destroy(&first);
    f->heartbeats = true;
    s_open_sale(f, "after-silence", 1); /* and it serves on the new connection */
    s_stop(f);
}

static void
test_disconnect_makes_worker_register_again(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    s_send(f, TIX_WP_DISCONNECT, NULL);
    ProtobufCMessage *ready = s_expect(f, TIX_WP_READY, WAIT_MS);
    assert_non_null(ready);
    protobuf_c_message_free_unpacked(ready, NULL);
    assert_int_equal(f->readies, 2);
    s_stop_with(f, SIGINT); /* Ctrl-C stops it as cleanly as SIGTERM */
}

/* ---- Jobs ----------------------------------------------------------------- */

static void
test_purchase_job_gets_reply_and_publishes_order_event(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    Tix__Worker__V1__JobReply *r = s_create_sale(f, "it-buy", 3, 0, 0);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    Tix__V1__Sale *sale = tix__v1__sale__unpack(NULL, r->body.len, r->body.data);
    assert_non_null(sale);
    assert_string_equal(sale->sale_id, "it-buy");
    assert_int_equal(sale->total, 3);
    assert_int_equal(sale->remaining, 3);
    assert_int_equal(sale->state, TIX__V1__SALE__STATE__OPEN);
    tix__v1__sale__free_unpacked(sale, NULL);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);

    uint32_t retry_after_ms;
    Tix__V1__PurchaseReply *p = s_purchase(f, "it-buy", "alice", "req-1", &retry_after_ms);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_int_equal(th_order_seq(p->order_id, "it-buy"), 1);
    assert_int_equal(p->remaining, 2);
    assert_true(p->purchased_at_ms > 0);
    assert_int_equal(retry_after_ms, 0);

    char topic[80];
    Tix__V1__OrderEvent *e = s_event(f, WAIT_MS, topic, sizeof topic);
    assert_non_null(e);
    assert_string_equal(topic, "order.it-buy");
    assert_non_null(e->order);
    assert_string_equal(e->order->order_id, p->order_id);
    assert_string_equal(e->order->sale_id, "it-buy");
    assert_string_equal(e->order->user_id, "alice");
    assert_string_equal(e->order->request_id, "req-1");
    assert_int_equal(e->order->purchased_at_ms, p->purchased_at_ms);
    assert_string_equal(e->worker_id, "wtest");
    /* log_id is the order's entry in the sale's stream. */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "XRANGE tix:{it-buy}:log %s %s", e->log_id, e->log_id);
    redisContext *c = th_redis_connect(&s_redis);
    redisReply *x = redisCommand(c, cmd);
    assert_true(x && x->type == REDIS_REPLY_ARRAY && x->elements == 1);
    freeReplyObject(x);
    redisFree(c);
    tix__v1__order_event__free_unpacked(e, NULL);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    s_stop(f);
}

static void
test_purchase_retry_gets_same_order_and_publishes_no_second_event(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    s_open_sale(f, "it-retry", 2);
    Tix__V1__PurchaseReply *p1 = s_purchase(f, "it-retry", "bob", "req-b", NULL);
    char topic[80];
    Tix__V1__OrderEvent *e = s_event(f, WAIT_MS, topic, sizeof topic);
    assert_non_null(e);
    tix__v1__order_event__free_unpacked(e, NULL);
    Tix__V1__PurchaseReply *p2 = s_purchase(f, "it-retry", "bob", "req-b", NULL);
    assert_int_equal(p2->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_string_equal(p2->order_id, p1->order_id);
    assert_int_equal(p2->purchased_at_ms, p1->purchased_at_ms);
    Tix__V1__PurchaseReply *p3 = s_purchase(f, "it-retry", "bob", "req-other", NULL);
    assert_int_equal(p3->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED);
    assert_string_equal(p3->order_id, p1->order_id);
    assert_null(s_event(f, 3 * HB_MS, topic, sizeof topic)); /* one order, one event */
    tix__v1__purchase_reply__free_unpacked(p1, NULL);
    tix__v1__purchase_reply__free_unpacked(p2, NULL);
    tix__v1__purchase_reply__free_unpacked(p3, NULL);
    s_stop(f);
}

static void
test_sold_out_is_an_outcome_with_code_ok(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    s_open_sale(f, "it-one", 1);
    Tix__V1__PurchaseReply *p = s_purchase(f, "it-one", "carol", "", NULL);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_int_equal(p->remaining, 0);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    p = s_purchase(f, "it-one", "dave", "", NULL);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    assert_string_equal(p->order_id, "");
    assert_int_equal(p->remaining, 0);
    tix__v1__purchase_reply__free_unpacked(p, NULL);

    Tix__V1__GetSaleRequest gs = TIX__V1__GET_SALE_REQUEST__INIT;
    gs.sale_id = "it-one";
    Tix__Worker__V1__JobReply *r = s_call(f, "tix.v1.TicketService/GetSale", &gs.base);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    Tix__V1__Sale *sale = tix__v1__sale__unpack(NULL, r->body.len, r->body.data);
    assert_int_equal(sale->state, TIX__V1__SALE__STATE__SOLD_OUT);
    assert_int_equal(sale->remaining, 0);
    tix__v1__sale__free_unpacked(sale, NULL);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    s_stop(f);
}

static void
test_sale_not_open_sets_retry_after_to_time_until_open(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    Tix__Worker__V1__JobReply *r = s_create_sale(f, "it-later", 5, tix_wall_ms() + 30000, 0);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    Tix__V1__Sale *sale = tix__v1__sale__unpack(NULL, r->body.len, r->body.data);
    assert_int_equal(sale->state, TIX__V1__SALE__STATE__SCHEDULED);
    tix__v1__sale__free_unpacked(sale, NULL);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    uint32_t retry_after_ms;
    Tix__V1__PurchaseReply *p = s_purchase(f, "it-later", "erin", "", &retry_after_ms);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_NOT_OPEN);
    assert_true(retry_after_ms > 20000 && retry_after_ms <= 30000);
    assert_int_equal(p->remaining, 5);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    s_stop(f);
}

static void
test_get_order_and_get_sale_answer_or_say_not_found(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    s_open_sale(f, "it-orders", 2);
    Tix__V1__PurchaseReply *p = s_purchase(f, "it-orders", "frank", "rq", NULL);
    Tix__V1__GetOrderRequest go = TIX__V1__GET_ORDER_REQUEST__INIT;
    go.sale_id = "it-orders";
    go.user_id = "frank";
    Tix__Worker__V1__JobReply *r = s_call(f, "tix.v1.TicketService/GetOrder", &go.base);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    Tix__V1__Order *o = tix__v1__order__unpack(NULL, r->body.len, r->body.data);
    assert_string_equal(o->order_id, p->order_id);
    assert_string_equal(o->sale_id, "it-orders");
    assert_string_equal(o->user_id, "frank");
    assert_string_equal(o->request_id, "rq");
    assert_int_equal(o->purchased_at_ms, p->purchased_at_ms);
    tix__v1__order__free_unpacked(o, NULL);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    tix__v1__purchase_reply__free_unpacked(p, NULL);

    go.user_id = "nobody";
    s_expect_code(s_call(f, "tix.v1.TicketService/GetOrder", &go.base), TIX__V1__CODE__NOT_FOUND, "user_id:");
    go.sale_id = "it-no-such-sale";
    s_expect_code(s_call(f, "tix.v1.TicketService/GetOrder", &go.base), TIX__V1__CODE__NOT_FOUND, "sale_id:");
    Tix__V1__GetSaleRequest gs = TIX__V1__GET_SALE_REQUEST__INIT;
    gs.sale_id = "it-no-such-sale";
    s_expect_code(s_call(f, "tix.v1.TicketService/GetSale", &gs.base), TIX__V1__CODE__NOT_FOUND, "sale_id:");
    s_expect_code(s_reply(f, s_purchase_job(f, "it-no-such-sale", "u", "", 5000)), TIX__V1__CODE__NOT_FOUND,
                  "sale_id:");
    s_stop(f);
}

static void
test_create_sale_twice_is_already_exists(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    s_open_sale(f, "it-twice", 2);
    s_expect_code(s_create_sale(f, "it-twice", 50, 0, 0), TIX__V1__CODE__ALREADY_EXISTS, "sale_id:");
    s_stop(f);
}

/* ---- Bad input ------------------------------------------------------------ */

static void
test_garbage_from_broker_is_dropped_and_worker_keeps_serving(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    uint8_t ready[64];
    Tix__Worker__V1__Ready r = TIX__WORKER__V1__READY__INIT;
    r.worker_id = "imposter";
    size_t ready_len = protobuf_c_message_pack(&r.base, ready);
    s_send_raw(f, 1, "junk", (size_t) 4);
    s_send_raw(f, 1, "", (size_t) 0);
    s_send_raw(f, 3, "TXW2", (size_t) 4, "HEARTBEAT", (size_t) 9, "", (size_t) 0);
    s_send_raw(f, 3, "TXW1", (size_t) 4, "BOGUS", (size_t) 5, "", (size_t) 0);
    s_send_raw(f, 3, "TXW1", (size_t) 4, "JOB", (size_t) 3, "\xff\xff\xff\xff", (size_t) 4);
    static const char nul_method[] = "\x08\x01\x12\x1e"
                                     "tix.v1.TicketService/GetSale\0x";
    s_send_raw(f, 3, "TXW1", (size_t) 4, "JOB", (size_t) 3, nul_method, sizeof nul_method - 1);
    s_send_raw(f, 3, "TXW1", (size_t) 4, "READY", (size_t) 5, (const char *) ready, ready_len);
    s_send_raw(f, 3, "TXW1", (size_t) 4, "REPLY", (size_t) 5, "", (size_t) 0);
    s_send_raw(f, 3, "TXW1", (size_t) 4, "DISCONNECT", (size_t) 10, "x", (size_t) 1);
    s_send_raw(f, 4, "TXW1", (size_t) 4, "HEARTBEAT", (size_t) 9, "", (size_t) 0, "", (size_t) 0);
    s_send_raw(f, 2, "TXW1", (size_t) 4, "HEARTBEAT", (size_t) 9);
    /* None of it is answered, and the worker still serves. */
    s_open_sale(f, "it-garbage", 1);
    assert_true(th_proc_alive(&f->proc));
    assert_int_equal(f->readies, 1); /* garbage DISCONNECT/READY changed nothing */
    s_stop(f);
}

/* A JOB whose body is raw bytes. */
static uint64_t
s_job_raw(s_fake_t *f, const char *method, const void *body, size_t len)
{
    Tix__Worker__V1__Job job = TIX__WORKER__V1__JOB__INIT;
    job.job_id = ++f->next_job_id;
    job.method = (char *) method;
    job.budget_ms = 5000;
    job.body.data = (uint8_t *) body;
    job.body.len = len;
    s_send(f, TIX_WP_JOB, &job.base);
    return job.job_id;
}

static void
test_invalid_job_body_is_invalid_argument_naming_the_field(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    const char *purchase = "tix.v1.TicketService/Purchase";
    s_expect_code(s_reply(f, s_purchase_job(f, "bad sale!", "u", "", 5000)), TIX__V1__CODE__INVALID_ARGUMENT,
                  "sale_id:");
    s_expect_code(s_reply(f, s_purchase_job(f, "ok-sale", "", "", 5000)), TIX__V1__CODE__INVALID_ARGUMENT, "user_id:");
    s_expect_code(s_reply(f, s_purchase_job(f, "ok-sale", "u\x01", "", 5000)), TIX__V1__CODE__INVALID_ARGUMENT,
                  "user_id:");
    char long_req[80];
    memset(long_req, 'r', sizeof long_req - 1);
    long_req[sizeof long_req - 1] = '\0';
    s_expect_code(s_reply(f, s_purchase_job(f, "ok-sale", "u", long_req, 5000)), TIX__V1__CODE__INVALID_ARGUMENT,
                  "request_id:");
    s_expect_code(s_reply(f, s_job_raw(f, purchase, "\xff\xff\xff", 3)), TIX__V1__CODE__INVALID_ARGUMENT, "body:");
    /* The worker checks for NUL bytes itself too: "alice\0mallory" is not alice. */
    static const char nul_user[] = "\x0a\x07"
                                   "ok-sale"
                                   "\x12\x0d"
                                   "alice\0mallory";
    s_expect_code(s_reply(f, s_job_raw(f, purchase, nul_user, sizeof nul_user - 1)), TIX__V1__CODE__INVALID_ARGUMENT,
                  "user_id: must not contain NUL bytes");
    s_expect_code(s_create_sale(f, "it-zero", 0, 0, 0), TIX__V1__CODE__INVALID_ARGUMENT, "total:");
    s_stop(f);
}

static void
test_unknown_method_and_health_check_are_unimplemented(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    s_expect_code(s_reply(f, s_job_raw(f, "tix.v1.TicketService/Refund", "", 0)), TIX__V1__CODE__UNIMPLEMENTED,
                  "method:");
    s_expect_code(s_reply(f, s_job_raw(f, "tix.v1.Health/Check", "", 0)), TIX__V1__CODE__UNIMPLEMENTED, "method:");
    s_stop(f);
}

static void
test_budget_zero_is_deadline_exceeded_without_touching_redis(void **state)
{
    (void) state;
    s_fake_t *f = &s_fake;
    s_start(f, &s_redis);
    s_open_sale(f, "it-late", 3);
    s_expect_code(s_reply(f, s_purchase_job(f, "it-late", "gina", "", 0)), TIX__V1__CODE__DEADLINE_EXCEEDED, NULL);
    assert_int_equal(th_redis_int(&s_redis, "GET tix:{it-late}:stock"), 3);
    assert_int_equal(th_redis_int(&s_redis, "HLEN tix:{it-late}:buyers"), 0);
    /* A budget of 1 ms is still live. */
    Tix__Worker__V1__JobReply *r = s_reply(f, s_purchase_job(f, "it-late", "gina", "", 1));
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    s_stop(f);
}

/* ---- Redis trouble, capacity, stopping ------------------------------------- */

static void
test_redis_down_answers_unavailable_at_once_and_heartbeats_say_so(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r));
    s_fake_t *f = &s_fake;
    s_start(f, &r);
    s_open_sale(f, "it-down", 5);
    th_redis_stop(&r);
    assert_true(s_wait_redis_ok(f, false, WAIT_MS));
    int64_t start = tix_now_ms();
    Tix__Worker__V1__JobReply *reply = s_reply(f, s_purchase_job(f, "it-down", "hank", "", 5000));
    assert_true(tix_now_ms() - start < 1000); /* fail fast, no waiting for Redis */
    assert_int_equal(reply->code, TIX__V1__CODE__UNAVAILABLE);
    assert_true(reply->retry_after_ms > 0);
    tix__worker__v1__job_reply__free_unpacked(reply, NULL);
    assert_true(th_redis_restart(&r));
    assert_true(s_wait_redis_ok(f, true, WAIT_MS));
    Tix__V1__PurchaseReply *p = s_purchase(f, "it-down", "hank", "", NULL);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    s_stop(f);
    th_redis_stop(&r);
}

/* Freezes Redis so that jobs stay in flight. */
static void
s_freeze(th_redis_t *r, bool frozen)
{
    assert_int_equal(kill(r->pid, frozen ? SIGSTOP : SIGCONT), 0);
}

static void
test_jobs_beyond_capacity_are_refused_and_in_flight_is_reported(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r));
    s_fake_t *f = &s_fake;
    s_start(f, &r);
    s_open_sale(f, "it-cap", 100);
    s_freeze(&r, true);
    for (int i = 0; i < CAPACITY; i++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", i);
        s_purchase_job(f, "it-cap", user, "", 5000);
    }
    Tix__Worker__V1__Heartbeat *hb = NULL;
    do {
        if (hb)
            tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
        hb = (Tix__Worker__V1__Heartbeat *) s_expect(f, TIX_WP_HEARTBEAT, WAIT_MS);
        assert_non_null(hb);
    } while (hb->in_flight < CAPACITY);
    assert_int_equal(hb->in_flight, CAPACITY);
    tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
    uint64_t over = s_purchase_job(f, "it-cap", "one-too-many", "", 5000);
    s_expect_code(s_reply(f, over), TIX__V1__CODE__RESOURCE_EXHAUSTED, NULL);
    s_freeze(&r, false);
    for (int i = 0; i < CAPACITY; i++) {
        Tix__Worker__V1__JobReply *reply = (Tix__Worker__V1__JobReply *) s_expect(f, TIX_WP_REPLY, WAIT_MS);
        assert_non_null(reply);
        assert_int_equal(reply->code, TIX__V1__CODE__OK);
        tix__worker__v1__job_reply__free_unpacked(reply, NULL);
    }
    assert_int_equal(th_redis_int(&r, "GET tix:{it-cap}:stock"), 100 - CAPACITY);
    s_stop(f);
    th_redis_stop(&r);
}

static void
test_sigterm_answers_jobs_in_flight_and_exits_zero_within_2s(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r));
    s_fake_t *f = &s_fake;
    s_start(f, &r);
    s_open_sale(f, "it-term", 100);
    s_freeze(&r, true); /* in-flight calls cannot finish: the drain is bounded */
    for (int i = 0; i < CAPACITY; i++) {
        char user[16];
        snprintf(user, sizeof user, "t%d", i);
        s_purchase_job(f, "it-term", user, "", 5000);
    }
    Tix__Worker__V1__Heartbeat *hb = NULL;
    do {
        if (hb)
            tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
        hb = (Tix__Worker__V1__Heartbeat *) s_expect(f, TIX_WP_HEARTBEAT, WAIT_MS);
        assert_non_null(hb);
    } while (hb->in_flight < CAPACITY);
    tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
    int64_t start = tix_now_ms();
    int status = th_proc_stop(&f->proc, SIGTERM, 2000);
    assert_true(tix_now_ms() - start <= 2000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Every job got an answer: none is silently lost. */
    bool answered[CAPACITY + 2] = {false};
    for (int i = 0; i < CAPACITY; i++) {
        Tix__Worker__V1__JobReply *reply = (Tix__Worker__V1__JobReply *) s_expect(f, TIX_WP_REPLY, WAIT_MS);
        assert_non_null(reply);
        assert_true(reply->job_id >= 2 && reply->job_id <= CAPACITY + 1 && !answered[reply->job_id]);
        answered[reply->job_id] = true;
        assert_int_equal(reply->code, TIX__V1__CODE__UNAVAILABLE);
        tix__worker__v1__job_reply__free_unpacked(reply, NULL);
    }
    s_freeze(&r, false);
    s_stop(f);
    th_redis_stop(&r);
}

/* ---- Configuration --------------------------------------------------------- */

/* Runs tix-worker with args expecting a quick exit; returns its exit code
 * and the number of lines it wrote. */
static int
s_run_bad(const char *const argv[], const char *const env[], int *lines)
{
    th_proc_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "bad-config-%d", th_free_port());
    assert_true(th_proc_start(&p, argv, env));
    int status = th_proc_stop(&p, 0, 3000); /* signal 0: just wait for the exit */
    FILE *log = fopen(p.log, "r");
    assert_non_null(log);
    *lines = 0;
    for (int c; (c = fgetc(log)) != EOF;)
        *lines += c == '\n';
    fclose(log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_help_and_bad_configuration(void **state)
{
    (void) state;
    char out[8192];
    const char *help[] = {"tix-worker", "--help", NULL};
    assert_int_equal(th_run(help, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "--redis-url"));
    assert_non_null(strstr(out, "TIX_WORKER_CAPACITY"));
    assert_non_null(strstr(out, "TIX_HEARTBEAT_MS"));

    int lines;
    const char *bad_url[] = {"tix-worker", "--redis-url", "http://x:1", NULL};
    assert_int_not_equal(s_run_bad(bad_url, NULL, &lines), 0);
    assert_int_equal(lines, 1);
    const char *bad_cap[] = {"tix-worker", "--capacity", "0", NULL};
    assert_int_not_equal(s_run_bad(bad_cap, NULL, &lines), 0);
    assert_int_equal(lines, 1);
    const char *none[] = {"tix-worker", NULL};
    const char *bad_env[] = {"TIX_HEARTBEAT_MS=10", NULL};
    assert_int_not_equal(s_run_bad(none, bad_env, &lines), 0);
    assert_int_equal(lines, 1);
    const char *bad_level[] = {"tix-worker", "--log-level", "loud", NULL};
    assert_int_not_equal(s_run_bad(bad_level, NULL, &lines), 0);
    assert_int_equal(lines, 1);
    const char *bad_endpoint[] = {"tix-worker", "--backend", "nonsense", NULL};
    assert_int_not_equal(s_run_bad(bad_endpoint, NULL, &lines), 0);
    assert_int_equal(lines, 1);
}

static int
s_setup(void **state)
{
    (void) state;
    zsys_handler_set(NULL);
    signal(SIGPIPE, SIG_IGN);
    return th_redis_start(&s_redis) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    th_redis_stop(&s_redis);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ready_carries_worker_id_capacity_and_heartbeat_interval, s_cleanup),
        cmocka_unit_test_teardown(test_heartbeats_flow_with_redis_status_and_in_flight, s_cleanup),
        cmocka_unit_test_teardown(test_silent_broker_gets_ready_again_from_a_new_connection, s_cleanup),
        cmocka_unit_test_teardown(test_disconnect_makes_worker_register_again, s_cleanup),
        cmocka_unit_test_teardown(test_purchase_job_gets_reply_and_publishes_order_event, s_cleanup),
        cmocka_unit_test_teardown(test_purchase_retry_gets_same_order_and_publishes_no_second_event, s_cleanup),
        cmocka_unit_test_teardown(test_sold_out_is_an_outcome_with_code_ok, s_cleanup),
        cmocka_unit_test_teardown(test_sale_not_open_sets_retry_after_to_time_until_open, s_cleanup),
        cmocka_unit_test_teardown(test_get_order_and_get_sale_answer_or_say_not_found, s_cleanup),
        cmocka_unit_test_teardown(test_create_sale_twice_is_already_exists, s_cleanup),
        cmocka_unit_test_teardown(test_garbage_from_broker_is_dropped_and_worker_keeps_serving, s_cleanup),
        cmocka_unit_test_teardown(test_invalid_job_body_is_invalid_argument_naming_the_field, s_cleanup),
        cmocka_unit_test_teardown(test_unknown_method_and_health_check_are_unimplemented, s_cleanup),
        cmocka_unit_test_teardown(test_budget_zero_is_deadline_exceeded_without_touching_redis, s_cleanup),
        cmocka_unit_test_teardown(test_redis_down_answers_unavailable_at_once_and_heartbeats_say_so, s_cleanup),
        cmocka_unit_test_teardown(test_jobs_beyond_capacity_are_refused_and_in_flight_is_reported, s_cleanup),
        cmocka_unit_test_teardown(test_sigterm_answers_jobs_in_flight_and_exits_zero_within_2s, s_cleanup),
        cmocka_unit_test_teardown(test_help_and_bad_configuration, s_cleanup),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
