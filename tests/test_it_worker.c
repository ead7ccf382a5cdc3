/*
 * test_it_worker.c - a real tix-worker process, driven by this test acting
 * as the broker (harness/fake_broker.h) over a real redis-server:
 * registration, liveness, jobs and bad input. test_it_worker_limits.c has
 * Redis trouble, capacity, stopping and configuration.
 *
 * Each test starts its own worker and stops it with SIGTERM, expecting exit
 * status 0 (which, in a sanitizer build, also means no leak).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <czmq.h>

#include "fake_broker.h"
#include "harness.h"
#include "tix_codec.h"
#include "tix_util.h"

/* ---- Registration and liveness ------------------------------------------- */

static void
test_ready_carries_worker_id_capacity_and_heartbeat_interval(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_bind(f); /* the worker started by hand, to read the very first READY */
    const char *argv[] = {"tix-worker", NULL};
    char env_backend[96], env_events[96], env_redis[96];
    snprintf(env_backend, sizeof env_backend, "TIX_BACKEND=%.63s", f->backend);
    snprintf(env_events, sizeof env_events, "TIX_EVENTS_IN=%.63s", f->events_in);
    snprintf(env_redis, sizeof env_redis, "TIX_REDIS_URL=%.63s", f->redis->url);
    const char *env[] = {
        env_backend, env_events, env_redis, "TIX_WORKER_CAPACITY=7", "TIX_WORKER_ID=from-env", "TIX_HEARTBEAT_MS=250",
        NULL};
    assert_true(th_proc_start(&f->proc, argv, env));
    Tix__Worker__V1__Ready *ready = (Tix__Worker__V1__Ready *) fake_broker_expect(f, TIX_WP_READY, FAKE_BROKER_WAIT_MS);
    assert_non_null(ready);
    assert_string_equal(ready->worker_id, "from-env");
    assert_int_equal(ready->capacity, 7);
    assert_int_equal(ready->heartbeat_ms, 250);
    tix__worker__v1__ready__free_unpacked(ready, NULL);
    assert_true(fake_broker_wait_redis_ok(f, true, FAKE_BROKER_WAIT_MS));
    fake_broker_stop(f);
}

static void
test_heartbeats_flow_with_redis_status_and_in_flight(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    int beats = 0;
    int64_t start = tix_now_ms();
    while (tix_now_ms() - start < 6 * FAKE_BROKER_HB_MS) {
        Tix__Worker__V1__Heartbeat *hb =
            (Tix__Worker__V1__Heartbeat *) fake_broker_expect(f, TIX_WP_HEARTBEAT, 2 * FAKE_BROKER_HB_MS);
        assert_non_null(hb);
        assert_true(hb->redis_ok);
        assert_int_equal(hb->in_flight, 0);
        tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
        beats++;
    }
    assert_true(beats >= 4 && beats <= 8); /* every FAKE_BROKER_HB_MS, not a flood */
    assert_int_equal(f->readies, 1);       /* our heartbeats kept it registered */
    fake_broker_stop(f);
}

static void
test_silent_broker_gets_ready_again_from_a_new_connection(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    zframe_t *first = zframe_dup(f->rid);
    f->heartbeats = false; /* the broker "dies" */
    int64_t start = tix_now_ms();
    ProtobufCMessage *ready = fake_broker_expect(f, TIX_WP_READY, 10 * FAKE_BROKER_HB_MS);
    int64_t took = tix_now_ms() - start;
    assert_non_null(ready);
    protobuf_c_message_free_unpacked(ready, NULL);
    assert_true(took >= 2 * FAKE_BROKER_HB_MS && took <= 6 * FAKE_BROKER_HB_MS); /* after 3 silent intervals */
    assert_false(zframe_eq(first, f->rid));                                      /* a new DEALER */
    zframe_destroy(&first);
    f->heartbeats = true;
    fake_broker_open_sale(f, "after-silence", 1); /* and it serves on the new connection */
    fake_broker_stop(f);
}

static void
test_disconnect_makes_worker_register_again(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    fake_broker_send(f, TIX_WP_DISCONNECT, NULL);
    ProtobufCMessage *ready = fake_broker_expect(f, TIX_WP_READY, FAKE_BROKER_WAIT_MS);
    assert_non_null(ready);
    protobuf_c_message_free_unpacked(ready, NULL);
    assert_int_equal(f->readies, 2);
    fake_broker_stop_with(f, SIGINT); /* Ctrl-C stops it as cleanly as SIGTERM */
}

/* ---- Jobs ----------------------------------------------------------------- */

static void
test_purchase_job_gets_reply_and_publishes_order_event(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    Tix__Worker__V1__JobReply *r = fake_broker_create_sale(f, "it-buy", 3, 0, 0);
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
    Tix__V1__PurchaseReply *p = fake_broker_purchase(f, "it-buy", "alice", "req-1", &retry_after_ms);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_int_equal(th_order_seq(p->order_id, "it-buy"), 1);
    assert_int_equal(p->remaining, 2);
    assert_true(p->purchased_at_ms > 0);
    assert_int_equal(retry_after_ms, 0);

    char topic[80];
    Tix__V1__OrderEvent *e = fake_broker_event(f, FAKE_BROKER_WAIT_MS, topic, sizeof topic);
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
    redisContext *c = th_redis_connect(f->redis);
    redisReply *x = redisCommand(c, cmd);
    assert_true(x && x->type == REDIS_REPLY_ARRAY && x->elements == 1);
    freeReplyObject(x);
    redisFree(c);
    tix__v1__order_event__free_unpacked(e, NULL);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    fake_broker_stop(f);
}

static void
test_purchase_retry_gets_same_order_and_publishes_no_second_event(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    fake_broker_open_sale(f, "it-retry", 2);
    Tix__V1__PurchaseReply *p1 = fake_broker_purchase(f, "it-retry", "bob", "req-b", NULL);
    char topic[80];
    Tix__V1__OrderEvent *e = fake_broker_event(f, FAKE_BROKER_WAIT_MS, topic, sizeof topic);
    assert_non_null(e);
    tix__v1__order_event__free_unpacked(e, NULL);
    Tix__V1__PurchaseReply *p2 = fake_broker_purchase(f, "it-retry", "bob", "req-b", NULL);
    assert_int_equal(p2->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_string_equal(p2->order_id, p1->order_id);
    assert_int_equal(p2->purchased_at_ms, p1->purchased_at_ms);
    Tix__V1__PurchaseReply *p3 = fake_broker_purchase(f, "it-retry", "bob", "req-other", NULL);
    assert_int_equal(p3->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED);
    assert_string_equal(p3->order_id, p1->order_id);
    assert_null(fake_broker_event(f, 3 * FAKE_BROKER_HB_MS, topic, sizeof topic)); /* one order, one event */
    tix__v1__purchase_reply__free_unpacked(p1, NULL);
    tix__v1__purchase_reply__free_unpacked(p2, NULL);
    tix__v1__purchase_reply__free_unpacked(p3, NULL);
    fake_broker_stop(f);
}

static void
test_sold_out_is_an_outcome_with_code_ok(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    fake_broker_open_sale(f, "it-one", 1);
    Tix__V1__PurchaseReply *p = fake_broker_purchase(f, "it-one", "carol", "", NULL);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_int_equal(p->remaining, 0);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    p = fake_broker_purchase(f, "it-one", "dave", "", NULL);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
    assert_string_equal(p->order_id, "");
    assert_int_equal(p->remaining, 0);
    tix__v1__purchase_reply__free_unpacked(p, NULL);

    Tix__V1__GetSaleRequest gs = TIX__V1__GET_SALE_REQUEST__INIT;
    gs.sale_id = "it-one";
    Tix__Worker__V1__JobReply *r = fake_broker_call(f, "tix.v1.TicketService/GetSale", &gs.base);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    Tix__V1__Sale *sale = tix__v1__sale__unpack(NULL, r->body.len, r->body.data);
    assert_int_equal(sale->state, TIX__V1__SALE__STATE__SOLD_OUT);
    assert_int_equal(sale->remaining, 0);
    tix__v1__sale__free_unpacked(sale, NULL);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    fake_broker_stop(f);
}

static void
test_sale_not_open_sets_retry_after_to_time_until_open(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    Tix__Worker__V1__JobReply *r = fake_broker_create_sale(f, "it-later", 5, tix_wall_ms() + 30000, 0);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    Tix__V1__Sale *sale = tix__v1__sale__unpack(NULL, r->body.len, r->body.data);
    assert_int_equal(sale->state, TIX__V1__SALE__STATE__SCHEDULED);
    tix__v1__sale__free_unpacked(sale, NULL);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    uint32_t retry_after_ms;
    Tix__V1__PurchaseReply *p = fake_broker_purchase(f, "it-later", "erin", "", &retry_after_ms);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_NOT_OPEN);
    assert_true(retry_after_ms > 20000 && retry_after_ms <= 30000);
    assert_int_equal(p->remaining, 5);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    fake_broker_stop(f);
}

static void
test_get_order_and_get_sale_answer_or_say_not_found(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    fake_broker_open_sale(f, "it-orders", 2);
    Tix__V1__PurchaseReply *p = fake_broker_purchase(f, "it-orders", "frank", "rq", NULL);
    Tix__V1__GetOrderRequest go = TIX__V1__GET_ORDER_REQUEST__INIT;
    go.sale_id = "it-orders";
    go.user_id = "frank";
    Tix__Worker__V1__JobReply *r = fake_broker_call(f, "tix.v1.TicketService/GetOrder", &go.base);
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
    fake_broker_expect_code(fake_broker_call(f, "tix.v1.TicketService/GetOrder", &go.base), TIX__V1__CODE__NOT_FOUND,
                            "user_id:");
    go.sale_id = "it-no-such-sale";
    fake_broker_expect_code(fake_broker_call(f, "tix.v1.TicketService/GetOrder", &go.base), TIX__V1__CODE__NOT_FOUND,
                            "sale_id:");
    Tix__V1__GetSaleRequest gs = TIX__V1__GET_SALE_REQUEST__INIT;
    gs.sale_id = "it-no-such-sale";
    fake_broker_expect_code(fake_broker_call(f, "tix.v1.TicketService/GetSale", &gs.base), TIX__V1__CODE__NOT_FOUND,
                            "sale_id:");
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_purchase_job(f, "it-no-such-sale", "u", "", 5000)),
                            TIX__V1__CODE__NOT_FOUND, "sale_id:");
    fake_broker_stop(f);
}

static void
test_create_sale_twice_is_already_exists(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    fake_broker_open_sale(f, "it-twice", 2);
    fake_broker_expect_code(fake_broker_create_sale(f, "it-twice", 50, 0, 0), TIX__V1__CODE__ALREADY_EXISTS,
                            "sale_id:");
    fake_broker_stop(f);
}

/* ---- Bad input ------------------------------------------------------------ */

static void
test_garbage_from_broker_is_dropped_and_worker_keeps_serving(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    uint8_t ready[64];
    Tix__Worker__V1__Ready r = TIX__WORKER__V1__READY__INIT;
    r.worker_id = "imposter";
    size_t ready_len = protobuf_c_message_pack(&r.base, ready);
    fake_broker_send_raw(f, 1, "junk", (size_t) 4);
    fake_broker_send_raw(f, 1, "", (size_t) 0);
    fake_broker_send_raw(f, 3, "TXW2", (size_t) 4, "HEARTBEAT", (size_t) 9, "", (size_t) 0);
    fake_broker_send_raw(f, 3, "TXW1", (size_t) 4, "BOGUS", (size_t) 5, "", (size_t) 0);
    fake_broker_send_raw(f, 3, "TXW1", (size_t) 4, "JOB", (size_t) 3, "\xff\xff\xff\xff", (size_t) 4);
    static const char nul_method[] = "\x08\x01\x12\x1e"
                                     "tix.v1.TicketService/GetSale\0x";
    fake_broker_send_raw(f, 3, "TXW1", (size_t) 4, "JOB", (size_t) 3, nul_method, sizeof nul_method - 1);
    fake_broker_send_raw(f, 3, "TXW1", (size_t) 4, "READY", (size_t) 5, (const char *) ready, ready_len);
    fake_broker_send_raw(f, 3, "TXW1", (size_t) 4, "REPLY", (size_t) 5, "", (size_t) 0);
    fake_broker_send_raw(f, 3, "TXW1", (size_t) 4, "DISCONNECT", (size_t) 10, "x", (size_t) 1);
    fake_broker_send_raw(f, 4, "TXW1", (size_t) 4, "HEARTBEAT", (size_t) 9, "", (size_t) 0, "", (size_t) 0);
    fake_broker_send_raw(f, 2, "TXW1", (size_t) 4, "HEARTBEAT", (size_t) 9);
    /* None of it is answered, and the worker still serves. */
    fake_broker_open_sale(f, "it-garbage", 1);
    assert_true(th_proc_alive(&f->proc));
    assert_int_equal(f->readies, 1); /* garbage DISCONNECT/READY changed nothing */
    fake_broker_stop(f);
}

static void
test_invalid_job_body_is_invalid_argument_naming_the_field(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    const char *purchase = "tix.v1.TicketService/Purchase";
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_purchase_job(f, "bad sale!", "u", "", 5000)),
                            TIX__V1__CODE__INVALID_ARGUMENT, "sale_id:");
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_purchase_job(f, "ok-sale", "", "", 5000)),
                            TIX__V1__CODE__INVALID_ARGUMENT, "user_id:");
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_purchase_job(f, "ok-sale", "u\x01", "", 5000)),
                            TIX__V1__CODE__INVALID_ARGUMENT, "user_id:");
    char long_req[80];
    memset(long_req, 'r', sizeof long_req - 1);
    long_req[sizeof long_req - 1] = '\0';
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_purchase_job(f, "ok-sale", "u", long_req, 5000)),
                            TIX__V1__CODE__INVALID_ARGUMENT, "request_id:");
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_job_raw(f, purchase, "\xff\xff\xff", 3)),
                            TIX__V1__CODE__INVALID_ARGUMENT, "body:");
    /* The worker checks for NUL bytes itself too: "alice\0mallory" is not alice. */
    static const char nul_user[] = "\x0a\x07"
                                   "ok-sale"
                                   "\x12\x0d"
                                   "alice\0mallory";
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_job_raw(f, purchase, nul_user, sizeof nul_user - 1)),
                            TIX__V1__CODE__INVALID_ARGUMENT, "user_id: must not contain NUL bytes");
    fake_broker_expect_code(fake_broker_create_sale(f, "it-zero", 0, 0, 0), TIX__V1__CODE__INVALID_ARGUMENT, "total:");
    fake_broker_stop(f);
}

static void
test_unknown_method_and_health_check_are_unimplemented(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_job_raw(f, "tix.v1.TicketService/Refund", "", 0)),
                            TIX__V1__CODE__UNIMPLEMENTED, "method:");
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_job_raw(f, "tix.v1.Health/Check", "", 0)),
                            TIX__V1__CODE__UNIMPLEMENTED, "method:");
    fake_broker_stop(f);
}

static void
test_budget_zero_is_deadline_exceeded_without_touching_redis(void **state)
{
    fake_broker_t *f = *state;
    fake_broker_start(f, f->redis);
    fake_broker_open_sale(f, "it-late", 3);
    fake_broker_expect_code(fake_broker_reply(f, fake_broker_purchase_job(f, "it-late", "gina", "", 0)),
                            TIX__V1__CODE__DEADLINE_EXCEEDED, NULL);
    assert_int_equal(th_redis_int(f->redis, "GET tix:{it-late}:stock"), 3);
    assert_int_equal(th_redis_int(f->redis, "HLEN tix:{it-late}:buyers"), 0);
    /* A budget of 1 ms is still live. */
    Tix__Worker__V1__JobReply *r = fake_broker_reply(f, fake_broker_purchase_job(f, "it-late", "gina", "", 1));
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    tix__worker__v1__job_reply__free_unpacked(r, NULL);
    fake_broker_stop(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_carries_worker_id_capacity_and_heartbeat_interval, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeats_flow_with_redis_status_and_in_flight, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_silent_broker_gets_ready_again_from_a_new_connection, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_makes_worker_register_again, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_purchase_job_gets_reply_and_publishes_order_event, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_purchase_retry_gets_same_order_and_publishes_no_second_event,
                                        fake_broker_setup, fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_sold_out_is_an_outcome_with_code_ok, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_sale_not_open_sets_retry_after_to_time_until_open, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_get_order_and_get_sale_answer_or_say_not_found, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_create_sale_twice_is_already_exists, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_from_broker_is_dropped_and_worker_keeps_serving, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_job_body_is_invalid_argument_naming_the_field, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_method_and_health_check_are_unimplemented, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_budget_zero_is_deadline_exceeded_without_touching_redis, fake_broker_setup,
                                        fake_broker_teardown),
    };
    return cmocka_run_group_tests(tests, fake_broker_group_setup, fake_broker_group_teardown);
}
