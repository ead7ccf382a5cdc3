/*
 * test_broker.c - the broker in-process (tests/harness/inproc.h), with raw
 * sockets as clients and as fake workers: admission, credit, queue bound,
 * deadlines, heartbeats, a worker's death, bad input, and the event proxy.
 * (test_broker_edge.c: sold out at the edge; test_broker_limits.c: rate
 * limits, the fair queue and the event feed's bounds.)
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
s_send_purchase(zsock_t *client, uint64_t call_id, uint32_t timeout_ms, const char *user)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = "s1";
    r.user_id = (char *) user;
    th_inproc_call(client, "tix.v1.TicketService/Purchase", call_id, timeout_ms, &r.base);
}

static Tix__V1__HealthCheckResponse__ServingStatus
s_health(broker_t *b, zsock_t *client)
{
    Tix__V1__HealthCheckRequest r = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
    th_inproc_call(client, "tix.v1.Health/Check", 5, 0, &r.base);
    zframe_t *body;
    Tix__V1__ReplyHeader *h = th_inproc_reply(b, client, &body);
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
    th_inproc_t *f = *state;
    assert_int_equal(s_health(f->broker, f->client), TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    zsock_t *w = th_inproc_worker(f->broker, 4, false, TH_INPROC_QUIET_MS);
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
    th_inproc_t *f = *state;
    s_send_purchase(f->client, 11, 1000, "alice");
    Tix__V1__ReplyHeader *h = th_inproc_reply(f->broker, f->client, NULL);
    assert_int_equal(h->call_id, 11);
    assert_int_equal(h->code, TIX__V1__CODE__UNAVAILABLE);
    assert_true(h->retry_after_ms > 0);
    tix__v1__reply_header__free_unpacked(h, NULL);
}

static void
test_call_is_forwarded_and_reply_routed_back_unchanged(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 2, true, TH_INPROC_QUIET_MS);
    s_send_purchase(f->client, 77, 2000, "alice");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    assert_string_equal(job->method, "tix.v1.TicketService/Purchase");
    assert_true(job->budget_ms > 0 && job->budget_ms <= 2000);
    Tix__V1__PurchaseRequest *req = tix__v1__purchase_request__unpack(NULL, job->body.len, job->body.data);
    assert_string_equal(req->user_id, "alice");
    tix__v1__purchase_request__free_unpacked(req, NULL);
    th_inproc_worker_reply(w, job->job_id, TIX__V1__CODE__OK, "reply-bytes");
    protobuf_c_message_free_unpacked(&job->base, NULL);
    zframe_t *body;
    Tix__V1__ReplyHeader *h = th_inproc_reply(f->broker, f->client, &body);
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
    th_inproc_t *f = *state; /* queue_limit 4 */
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    for (uint64_t id = 1; id <= 6; id++)
        s_send_purchase(f->client, id, 5000, "u");
    /* 1 at the worker, 4 queued, the 6th refused. */
    Tix__V1__ReplyHeader *h = th_inproc_reply(f->broker, f->client, NULL);
    assert_int_equal(h->call_id, 6);
    assert_int_equal(h->code, TIX__V1__CODE__RESOURCE_EXHAUSTED);
    assert_true(h->retry_after_ms > 0);
    tix__v1__reply_header__free_unpacked(h, NULL);
    assert_int_equal(broker_jobs_queued(f->broker->jobs), 4);
    /* Each reply frees the credit for exactly one more job, in FIFO order. */
    for (uint64_t id = 1; id <= 5; id++) {
        Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
        assert_false(zsock_events(w) & ZMQ_POLLIN); /* no second job before a reply */
        th_inproc_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
        protobuf_c_message_free_unpacked(&job->base, NULL);
        th_inproc_expect(f->broker, f->client, id, TIX__V1__CODE__OK);
    }
    zsock_destroy(&w);
}

static void
test_queued_call_past_its_deadline_is_deadline_exceeded_but_started_call_is_not(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    s_send_purchase(f->client, 1, 100, "started");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    s_send_purchase(f->client, 2, 100, "queued");
    th_inproc_expect(f->broker, f->client, 2, TIX__V1__CODE__DEADLINE_EXCEEDED);
    /* The started call's deadline has passed too, but it reports its truth. */
    th_inproc_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    th_inproc_expect(f->broker, f->client, 1, TIX__V1__CODE__OK);
    zsock_destroy(&w);
}

static void
test_huge_timeout_is_clamped(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    s_send_purchase(f->client, 1, UINT32_MAX, "alice");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    assert_true(job->budget_ms <= BROKER_MAX_TIMEOUT_MS);
    th_inproc_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    th_inproc_expect(f->broker, f->client, 1, TIX__V1__CODE__OK);
    zsock_destroy(&w);
}

static void
test_dead_worker_purchase_is_redispatched_and_create_sale_answered_unavailable(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *dying = th_inproc_worker(f->broker, 2, true, 50);
    s_send_purchase(f->client, 1, 5000, "alice");
    Tix__V1__CreateSaleRequest cs = TIX__V1__CREATE_SALE_REQUEST__INIT;
    cs.sale_id = "s1";
    cs.total = 10;
    th_inproc_call(f->client, "tix.v1.AdminService/CreateSale", 2, 5000, &cs.base);
    Tix__Worker__V1__Job *j1 = th_inproc_job(f->broker, dying);
    Tix__Worker__V1__Job *j2 = th_inproc_job(f->broker, dying);
    protobuf_c_message_free_unpacked(&j2->base, NULL);
    zsock_t *healthy = th_inproc_worker(f->broker, 2, true, TH_INPROC_QUIET_MS);
    /* The dying worker goes silent: heartbeats stop, the broker buries it
     * after 3 x 50 ms, answers CreateSale and re-sends the Purchase. */
    zsock_destroy(&dying);
    Tix__V1__ReplyHeader *h = th_inproc_reply(f->broker, f->client, NULL);
    assert_int_equal(h->call_id, 2);
    assert_int_equal(h->code, TIX__V1__CODE__UNAVAILABLE);
    assert_true(h->retry_after_ms > 0);
    tix__v1__reply_header__free_unpacked(h, NULL);
    Tix__Worker__V1__Job *again = th_inproc_job(f->broker, healthy);
    assert_int_equal(again->body.len, j1->body.len);
    assert_memory_equal(again->body.data, j1->body.data, j1->body.len);
    th_inproc_worker_reply(healthy, again->job_id, TIX__V1__CODE__OK, NULL);
    th_inproc_expect(f->broker, f->client, 1, TIX__V1__CODE__OK);
    assert_int_equal(broker_stats(f->broker)->workers_lost, 1);
    assert_int_equal(broker_stats(f->broker)->redispatched, 1);
    protobuf_c_message_free_unpacked(&again->base, NULL);
    protobuf_c_message_free_unpacked(&j1->base, NULL);
    zsock_destroy(&healthy);
}

static void
test_leaving_worker_gets_no_new_jobs_and_its_answers_still_count(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *leaving = th_inproc_worker(f->broker, 4, true, TH_INPROC_QUIET_MS);
    s_send_purchase(f->client, 1, 5000, "held");
    Tix__Worker__V1__Job *held = th_inproc_job(f->broker, leaving);
    zsock_send(leaving, "ssb", "TXW1", "DISCONNECT", NULL, (size_t) 0);
    zsock_t *other = th_inproc_worker(f->broker, 4, true, TH_INPROC_QUIET_MS);
    /* New calls go to the other worker only. */
    s_send_purchase(f->client, 2, 5000, "new");
    Tix__Worker__V1__Job *fresh = th_inproc_job(f->broker, other);
    assert_false(zsock_events(leaving) & ZMQ_POLLIN);
    th_inproc_worker_reply(other, fresh->job_id, TIX__V1__CODE__OK, NULL);
    th_inproc_expect(f->broker, f->client, 2, TIX__V1__CODE__OK);
    /* The leaving worker's answer is delivered, then it is forgotten. */
    assert_int_equal(broker_workers_count(f->broker->workers), 2);
    th_inproc_worker_reply(leaving, held->job_id, TIX__V1__CODE__OK, NULL);
    th_inproc_expect(f->broker, f->client, 1, TIX__V1__CODE__OK);
    assert_int_equal(broker_workers_count(f->broker->workers), 1);
    assert_int_equal(broker_stats(f->broker)->workers_lost, 0);
    protobuf_c_message_free_unpacked(&held->base, NULL);
    protobuf_c_message_free_unpacked(&fresh->base, NULL);
    zsock_destroy(&other);
    zsock_destroy(&leaving);
}

static void
test_a_flooding_user_is_refused_without_slowing_anyone_else(void **state)
{
    th_inproc_t *f = *state;
    broker_destroy(&f->broker);
    zsock_destroy(&f->client);
    f->broker = th_inproc_broker(100, 1.0, 3); /* 1 call/s, 3 at once */
    f->client = zsock_new_dealer(broker_frontend_endpoint(f->broker));
    zsock_t *w = th_inproc_worker(f->broker, 10, true, TH_INPROC_QUIET_MS);
    for (uint64_t id = 1; id <= 5; id++)
        s_send_purchase(f->client, id, 5000, "greedy");
    s_send_purchase(f->client, 6, 5000, "calm");
    /* Calls 4 and 5 are refused at once, with the wait for a token. */
    for (int i = 0; i < 2; i++) {
        Tix__V1__ReplyHeader *h = th_inproc_reply(f->broker, f->client, NULL);
        assert_true(h->call_id == 4 || h->call_id == 5);
        assert_int_equal(h->code, TIX__V1__CODE__RESOURCE_EXHAUSTED);
        assert_true(h->retry_after_ms > 0 && h->retry_after_ms <= 1000);
        assert_non_null(strstr(h->message, "rate limit"));
        tix__v1__reply_header__free_unpacked(h, NULL);
    }
    /* The other four reach the worker: three of greedy's and calm's. */
    for (int i = 0; i < 4; i++) {
        Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
        th_inproc_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
        protobuf_c_message_free_unpacked(&job->base, NULL);
    }
    bool seen[7] = {false};
    for (int i = 0; i < 4; i++) {
        Tix__V1__ReplyHeader *h = th_inproc_reply(f->broker, f->client, NULL);
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
    th_inproc_t *f = *state;
    zsock_t *without = th_inproc_worker(f->broker, 4, false, TH_INPROC_QUIET_MS);
    zsock_t *with = th_inproc_worker(f->broker, 4, true, TH_INPROC_QUIET_MS);
    for (uint64_t id = 1; id <= 3; id++)
        s_send_purchase(f->client, id, 5000, "u");
    for (int i = 0; i < 3; i++) {
        Tix__Worker__V1__Job *job = th_inproc_job(f->broker, with);
        th_inproc_worker_reply(with, job->job_id, TIX__V1__CODE__OK, NULL);
        protobuf_c_message_free_unpacked(&job->base, NULL);
    }
    for (uint64_t id = 1; id <= 3; id++)
        th_inproc_expect(f->broker, f->client, id, TIX__V1__CODE__OK);
    assert_false(zsock_events(without) & ZMQ_POLLIN);
    zsock_destroy(&with);
    zsock_destroy(&without);
}

static void
test_worker_garbage_and_stale_replies_are_dropped_and_counted(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    zstr_send(w, "garbage");
    zsock_send(w, "sss", "TXW1", "REPLY", "\xff\xff\xff");
    zsock_send(w, "sss", "TXW1", "JOB", "");
    th_inproc_worker_reply(w, 123456789, TIX__V1__CODE__OK, NULL); /* no such job */
    for (int i = 0; i < 20; i++)
        broker_step(f->broker, 5);
    assert_int_equal(broker_stats(f->broker)->worker_garbage, 3);
    assert_int_equal(broker_stats(f->broker)->stale_replies, 1);
    /* Still serving everyone. */
    s_send_purchase(f->client, 9, 2000, "bob");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    th_inproc_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    th_inproc_expect(f->broker, f->client, 9, TIX__V1__CODE__OK);
    zsock_destroy(&w);
}

static void
test_stale_replies_from_an_unknown_worker_earn_one_disconnect_per_heartbeat(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = zsock_new_dealer(broker_backend_endpoint(f->broker));
    for (uint64_t i = 1; i <= 50; i++) /* e.g. calls it held before a broker restart */
        th_inproc_worker_reply(w, i, TIX__V1__CODE__OK, NULL);
    s_worker_heartbeat(w, true);
    ProtobufCMessage *body;
    assert_int_equal(th_inproc_worker_recv(f->broker, w, &body), TIX_WP_DISCONNECT);
    for (int i = 0; i < 20; i++)
        broker_step(f->broker, 5);
    assert_false(zsock_events(w) & ZMQ_POLLIN); /* one, not 51 */
    assert_int_equal(broker_stats(f->broker)->stale_replies, 50);
    zsock_destroy(&w);
}

static void
test_unknown_worker_heartbeat_gets_disconnect(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *w = zsock_new_dealer(broker_backend_endpoint(f->broker));
    s_worker_heartbeat(w, true);
    ProtobufCMessage *body;
    assert_int_equal(th_inproc_worker_recv(f->broker, w, &body), TIX_WP_DISCONNECT);
    assert_null(body);
    zsock_destroy(&w);
}

/* Sends raw frames (after the delimiter) and expects code and call_id. */
static void
s_expect_bad(th_inproc_t *f, zmsg_t *msg, tix_code code, uint64_t call_id, const char *needle)
{
    assert_int_equal(zmsg_send(&msg, f->client), 0);
    Tix__V1__ReplyHeader *h = th_inproc_reply(f->broker, f->client, NULL);
    assert_int_equal(h->code, code);
    assert_int_equal(h->call_id, call_id);
    assert_non_null(strstr(h->message, needle));
    tix__v1__reply_header__free_unpacked(h, NULL);
}

static void
test_bad_input_gets_clear_errors_and_disturbs_no_one(void **state)
{
    th_inproc_t *f = *state;
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
    th_inproc_t *f = *state;
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
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    zsock_t *leaver = zsock_new_dealer(broker_frontend_endpoint(f->broker));
    s_send_purchase(leaver, 1, 2000, "leaver");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    zsock_destroy(&leaver);
    for (int i = 0; i < 20; i++)
        broker_step(f->broker, 5);
    th_inproc_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    for (int i = 0; i < 40 && broker_stats(f->broker)->unroutable == 0; i++)
        broker_step(f->broker, 5);
    assert_int_equal(broker_stats(f->broker)->unroutable, 1);
    /* Others are unaffected. */
    s_send_purchase(f->client, 2, 2000, "stayer");
    job = th_inproc_job(f->broker, w);
    th_inproc_worker_reply(w, job->job_id, TIX__V1__CODE__OK, NULL);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    th_inproc_expect(f->broker, f->client, 2, TIX__V1__CODE__OK);
    zsock_destroy(&w);
}

static void
test_order_events_are_proxied_to_subscribers(void **state)
{
    th_inproc_t *f = *state;
    zsock_t *sub = zsock_new_sub(zsock_endpoint(f->broker->events_out), "order.");
    zsock_t *pub = zsock_new_pub(NULL);
    zsock_connect(pub, "%s", zsock_endpoint(f->broker->events_in));
    /* PUB/SUB joins are asynchronous: publish until one arrives. */
    bool got = false;
    for (int i = 0; i < 200 && !got; i++) {
        zsock_send(pub, "ss", "order.s1", "event");
        zsock_send(pub, "ss", "other.s1", "ignored");
        got = th_inproc_pump(f->broker, sub, 10);
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
    th_inproc_t *f = *state;
    zsock_t *w = th_inproc_worker(f->broker, 1, true, TH_INPROC_QUIET_MS);
    s_send_purchase(f->client, 1, 5000, "held");
    s_send_purchase(f->client, 2, 5000, "queued");
    Tix__Worker__V1__Job *job = th_inproc_job(f->broker, w);
    protobuf_c_message_free_unpacked(&job->base, NULL);
    broker_drain(f->broker); /* the worker never answers: drain_ms 200 */
    th_inproc_expect(f->broker, f->client, 2, TIX__V1__CODE__UNAVAILABLE);
    th_inproc_expect(f->broker, f->client, 1, TIX__V1__CODE__UNAVAILABLE);
    assert_int_equal(broker_jobs_live(f->broker->jobs), 0);
    zsock_destroy(&w);
}

int
main(void)
{
    th_inproc_init();
#define T TH_INPROC_TEST
    const struct CMUnitTest tests[] = {
        T(test_health_serving_only_with_a_worker_that_has_redis),
        T(test_purchase_without_workers_is_unavailable_with_retry_after),
        T(test_call_is_forwarded_and_reply_routed_back_unchanged),
        T(test_credit_bounds_calls_at_a_worker_and_queue_bound_gives_resource_exhausted),
        T(test_queued_call_past_its_deadline_is_deadline_exceeded_but_started_call_is_not),
        T(test_huge_timeout_is_clamped),
        T(test_dead_worker_purchase_is_redispatched_and_create_sale_answered_unavailable),
        T(test_leaving_worker_gets_no_new_jobs_and_its_answers_still_count),
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
