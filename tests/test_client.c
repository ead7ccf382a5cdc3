/*
 * test_client.c - libtix on the wire: frames, the asynchronous interface,
 * endpoints, request checks. Runs against the scripted fake broker of
 * harness/fake_client.h; the blocking call's retries are in test_client_retry.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "fake_client.h"
#include "tix.h"
#include "tix_curve.h"
#include "tix_log.h"
#include "tix_util.h"

#define WAIT_MS 5000 /* failure bound for anything that should be prompt */

static Tix__V1__PurchaseRequest
s_purchase(const char *sale, const char *user, const char *request_id)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = (char *) sale;
    r.user_id = (char *) user;
    r.request_id = (char *) request_id;
    return r;
}

static void
test_call_frames_are_delimiter_signature_header_body(void **state)
{
    (void) state;
    char ep[128];
    zsock_t *router = fake_client_router_new(ep, sizeof ep);
    tix_client_t *c = tix_client_new(ep);
    assert_non_null(c);
    Tix__V1__PurchaseRequest req = s_purchase("s1", "alice", "r-1");
    uint64_t id = 0;
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &req.base, 1234, &id), TIX_OK);
    assert_int_not_equal(id, 0);

    zframe_t *rid;
    fake_client_call_t call;
    assert_true(fake_client_router_recv(router, WAIT_MS, &rid, &call));
    assert_int_equal(call.nframes, 4); /* [empty][TIX1][CallHeader][body] */
    assert_true(call.delimiter_empty);
    assert_string_equal(call.signature, "TIX1");
    assert_int_equal(call.code, TIX__V1__CODE__OK);
    assert_string_equal(call.method, "tix.v1.TicketService/Purchase");
    assert_int_equal(call.call_id, id);
    assert_int_equal(call.timeout_ms, 1234);
    Tix__V1__PurchaseRequest *body = tix__v1__purchase_request__unpack(NULL, call.body_size, call.body);
    assert_non_null(body);
    assert_string_equal(body->sale_id, "s1");
    assert_string_equal(body->user_id, "alice");
    assert_string_equal(body->request_id, "r-1");
    tix__v1__purchase_request__free_unpacked(body, NULL);

    fake_client_answer(router, rid, &call);
    tix_result_t r;
    assert_int_equal(tix_client_recv(c, WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.call_id, id);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_ptr_equal(((ProtobufCMessage *) r.reply)->descriptor, &tix__v1__purchase_reply__descriptor);
    assert_string_equal(((Tix__V1__PurchaseReply *) r.reply)->order_id, "s1:alice");
    tix_result_clear(&r);
    assert_null(r.reply);
    zframe_destroy(&rid);
    tix_client_destroy(&c);
    tix_client_destroy(&c); /* idempotent */
    assert_null(c);
    zsock_destroy(&router);
}

/* Cycles three methods so that each reply must be unpacked with its own
 * call's output type. */
static tix_method_id
s_method_of(size_t i)
{
    static const tix_method_id m[] = {TIX_METHOD_PURCHASE, TIX_METHOD_GET_SALE, TIX_METHOD_HEALTH_CHECK};
    return m[i % 3];
}

static void
s_send_nth(tix_client_t *c, size_t i, uint64_t *id)
{
    char name[32];
    snprintf(name, sizeof name, "u%zu", i);
    Tix__V1__PurchaseRequest p = s_purchase("s1", name, "");
    Tix__V1__GetSaleRequest g = TIX__V1__GET_SALE_REQUEST__INIT;
    // cppcheck-suppress unreadVariable ; read through the message's base, which libtix packs
    g.sale_id = name;
    Tix__V1__HealthCheckRequest h = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
    const ProtobufCMessage *req[] = {&p.base, &g.base, &h.base};
    assert_int_equal(tix_client_send(c, s_method_of(i), req[i % 3], 0, id), TIX_OK);
}

/* Checks that result answers the i-th call. */
static void
s_check_nth(const tix_result_t *r, size_t i)
{
    char name[32], order[40];
    snprintf(name, sizeof name, "u%zu", i);
    snprintf(order, sizeof order, "s1:%s", name);
    assert_int_equal(r->code, TIX__V1__CODE__OK);
    assert_ptr_equal(((ProtobufCMessage *) r->reply)->descriptor, tix_method_get(s_method_of(i))->output);
    if (s_method_of(i) == TIX_METHOD_PURCHASE)
        assert_string_equal(((Tix__V1__PurchaseReply *) r->reply)->order_id, order);
    else if (s_method_of(i) == TIX_METHOD_GET_SALE)
        assert_string_equal(((Tix__V1__Sale *) r->reply)->sale_id, name);
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static void
test_async_replies_matched_by_call_id_out_of_order(void **state)
{
    (void) state;
    enum { N = 10000 };
    char ep[128];
    zsock_t *router = fake_client_router_new(ep, sizeof ep);
    tix_client_t *c = tix_client_new(ep);
    uint64_t *ids = xcalloc(N, sizeof *ids);
    for (size_t i = 0; i < N; i++)
        s_send_nth(c, i, &ids[i]);
    assert_int_equal(tix_client_in_flight(c), N);
    for (size_t i = 1; i < N; i++)
        assert_true(ids[i] > ids[i - 1]); /* monotonic */

    /* Receive all N calls, then answer them in a shuffled order. */
    zframe_t **rids = xcalloc(N, sizeof *rids);
    fake_client_call_t *calls = xcalloc(N, sizeof *calls);
    for (size_t i = 0; i < N; i++)
        assert_true(fake_client_router_recv(router, WAIT_MS, &rids[i], &calls[i]));
    uint32_t seed = 12345;
    for (size_t i = N - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        size_t j = (seed >> 8) % (i + 1);
        fake_client_call_t tc = calls[i];
        calls[i] = calls[j], calls[j] = tc;
        zframe_t *tr = rids[i];
        rids[i] = rids[j], rids[j] = tr;
    }
    assert_int_not_equal(calls[0].call_id, ids[0]);
    for (size_t i = 0; i < N; i++)
        fake_client_answer(router, rids[i], &calls[i]);

    bool *seen = xcalloc(N, sizeof *seen);
    for (size_t k = 0; k < N; k++) {
        tix_result_t r;
        assert_int_equal(tix_client_recv(c, WAIT_MS, &r), TIX_OK);
        uint64_t *hit = bsearch(&r.call_id, ids, N, sizeof *ids, s_cmp_u64);
        assert_non_null(hit);
        size_t i = (size_t) (hit - ids);
        assert_false(seen[i]);
        seen[i] = true;
        s_check_nth(&r, i);
        tix_result_clear(&r);
    }
    assert_int_equal(tix_client_in_flight(c), 0);
    for (size_t i = 0; i < N; i++)
        zframe_destroy(&rids[i]);
    free(seen), free(calls), free(rids), free(ids);
    tix_client_destroy(&c);
    zsock_destroy(&router);
}

static void
test_async_reply_to_unknown_or_forgotten_call_is_dropped(void **state)
{
    (void) state;
    char ep[128];
    zsock_t *router = fake_client_router_new(ep, sizeof ep);
    tix_client_t *c = tix_client_new(ep);
    Tix__V1__PurchaseRequest req = s_purchase("s1", "alice", "");
    uint64_t a, b;
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &req.base, 0, &a), TIX_OK);
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &req.base, 0, &b), TIX_OK);
    assert_true(tix_client_forget(c, b));
    assert_false(tix_client_forget(c, b));
    assert_int_equal(tix_client_in_flight(c), 1);

    zframe_t *rid_a, *rid_b;
    fake_client_call_t call_a, call_b;
    assert_true(fake_client_router_recv(router, WAIT_MS, &rid_a, &call_a));
    assert_true(fake_client_router_recv(router, WAIT_MS, &rid_b, &call_b));
    fake_client_call_t unknown = call_a;
    unknown.call_id = a + 12345;
    fake_client_answer(router, rid_a, &unknown); /* never sent */
    fake_client_answer(router, rid_b, &call_b);  /* forgotten */
    fake_client_answer(router, rid_a, &call_a);

    tix_result_t r;
    assert_int_equal(tix_client_recv(c, WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.call_id, a);
    tix_result_clear(&r);
    assert_int_equal(tix_client_recv(c, 0, &r), TIX_ERR_TIMEOUT);
    assert_int_equal(tix_client_in_flight(c), 0);
    zframe_destroy(&rid_a), zframe_destroy(&rid_b);
    tix_client_destroy(&c);
    zsock_destroy(&router);
}

static void
test_async_malformed_replies_are_dropped_and_client_keeps_working(void **state)
{
    (void) state;
    char ep[128];
    zsock_t *router = fake_client_router_new(ep, sizeof ep);
    tix_client_t *c = tix_client_new(ep);
    Tix__V1__PurchaseRequest req = s_purchase("s1", "alice", "");
    uint64_t id;
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &req.base, 0, &id), TIX_OK);
    zframe_t *rid;
    fake_client_call_t call;
    assert_true(fake_client_router_recv(router, WAIT_MS, &rid, &call));
    for (int i = 0; i < FAKE_CLIENT_NJUNK; i++)
        fake_client_send_junk(router, rid, id, i);
    fake_client_answer(router, rid, &call);

    tix_result_t r;
    for (int i = 0; i < FAKE_CLIENT_NJUNK; i++) {
        assert_int_equal(tix_client_recv(c, WAIT_MS, &r), TIX_ERR_PROTOCOL);
        assert_int_equal(r.call_id, 0);
        assert_null(r.reply);
    }
    assert_int_equal(tix_client_recv(c, WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.call_id, id);
    assert_string_equal(((Tix__V1__PurchaseReply *) r.reply)->order_id, "s1:alice");
    tix_result_clear(&r);
    zframe_destroy(&rid);
    tix_client_destroy(&c);
    zsock_destroy(&router);
}

static void
test_async_undecodable_body_is_reported_for_its_call(void **state)
{
    (void) state;
    char ep[128];
    zsock_t *router = fake_client_router_new(ep, sizeof ep);
    tix_client_t *c = tix_client_new(ep);
    Tix__V1__PurchaseRequest req = s_purchase("s1", "alice", "");
    uint64_t id;
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &req.base, 0, &id), TIX_OK);
    zframe_t *rid;
    fake_client_call_t call;
    assert_true(fake_client_router_recv(router, WAIT_MS, &rid, &call));
    fake_client_reply_garbage(router, rid, id);

    tix_result_t r;
    assert_int_equal(tix_client_recv(c, WAIT_MS, &r), TIX_ERR_PROTOCOL);
    assert_int_equal(r.call_id, id);
    assert_int_equal(r.code, TIX__V1__CODE__INTERNAL);
    assert_null(r.reply);
    assert_int_equal(tix_client_in_flight(c), 0);
    tix_result_clear(&r);
    zframe_destroy(&rid);
    tix_client_destroy(&c);
    zsock_destroy(&router);
}

/* One endpoint: a call made before the broker is up is queued and
 * delivered when it comes up (no ZMQ_IMMEDIATE; see tix_client.c). */
static void
test_async_send_queues_before_broker_is_up(void **state)
{
    (void) state;
    char ep[128];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", th_free_port());
    tix_client_t *c = tix_client_new(ep);
    Tix__V1__PurchaseRequest req = s_purchase("s1", "alice", "");
    uint64_t id;
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &req.base, 0, &id), TIX_OK);

    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_linger(router, 0);
    assert_true(zsock_bind(router, "%s", ep) >= 0);
    zframe_t *rid;
    fake_client_call_t call;
    assert_true(fake_client_router_recv(router, WAIT_MS, &rid, &call));
    assert_int_equal(call.call_id, id);
    fake_client_answer(router, rid, &call);
    tix_result_t r;
    assert_int_equal(tix_client_recv(c, WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.call_id, id);
    tix_result_clear(&r);
    zframe_destroy(&rid);
    tix_client_destroy(&c);
    zsock_destroy(&router);
}

static void
test_two_endpoints_both_receive_calls(void **state)
{
    (void) state;
    fake_client_t *one = fake_client_new(fake_client_script_answer, NULL),
                  *two = fake_client_new(fake_client_script_answer, NULL);
    char list[300];
    snprintf(list, sizeof list, "%s, %s", one->endpoint, two->endpoint); /* blanks are allowed */
    tix_client_t *c = tix_client_new(list);
    assert_non_null(c);
    /* ZeroMQ round-robins over the connected brokers; both get calls once
     * both connections are up. */
    for (int i = 0; i < 200 && (fake_client_ncalls(one) == 0 || fake_client_ncalls(two) == 0); i++) {
        tix_result_t r;
        assert_int_equal(tix_health_check(c, "", WAIT_MS, &r), TIX_OK);
        assert_int_equal(r.code, TIX__V1__CODE__OK);
        tix_result_clear(&r);
    }
    assert_true(fake_client_ncalls(one) > 0);
    assert_true(fake_client_ncalls(two) > 0);
    tix_client_destroy(&c);
    fake_client_destroy(&one), fake_client_destroy(&two);
}

static void
test_bad_endpoint_gives_null(void **state)
{
    (void) state;
    const char *bad[] = {
        "bogus://x", "tcp://127.0.0.1", "", "tcp://127.0.0.1:5555,,tcp://127.0.0.1:5556", "tcp://127.0.0.1:5555,",
        "   "};
    for (size_t i = 0; i < TIX_ARRAY_LEN(bad); i++) {
        tix_client_t *c = tix_client_new(bad[i]);
        if (c)
            fail_msg("endpoint list '%s' was accepted", bad[i]);
    }
    setenv("TIX_FRONTEND", "nonsense", 1);
    assert_null(tix_client_new(NULL));
    unsetenv("TIX_FRONTEND");
    /* CURVE from the environment needs both keys (test_libtix_curve: both). */
    setenv("TIX_CURVE_SECRET", "/nonexistent/client_secret", 1);
    assert_null(tix_client_new(NULL));
    unsetenv("TIX_CURVE_SECRET");
    setenv("TIX_CURVE_SERVER_KEY", "/nonexistent/broker", 1);
    assert_null(tix_client_new(NULL));
    unsetenv("TIX_CURVE_SERVER_KEY");
    tix_client_t *c = tix_client_new(NULL); /* TIX_DEFAULT_FRONTEND; connects lazily */
    assert_non_null(c);
    tix_client_destroy(&c);
    tix_client_destroy(NULL);
}

static void
test_frontend_env_is_used_when_endpoints_is_null(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_answer, NULL);
    setenv("TIX_FRONTEND", fb->endpoint, 1);
    tix_client_t *c = tix_client_new(NULL);
    unsetenv("TIX_FRONTEND");
    tix_result_t r;
    assert_int_equal(tix_get_sale(c, "s1", WAIT_MS, &r), TIX_OK);
    assert_string_equal(((Tix__V1__Sale *) r.reply)->sale_id, "s1");
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
test_request_of_wrong_type_or_too_big_is_invalid_and_not_sent(void **state)
{
    (void) state;
    char ep[128];
    zsock_t *router = fake_client_router_new(ep, sizeof ep);
    tix_client_t *c = tix_client_new(ep);
    Tix__V1__GetSaleRequest wrong = TIX__V1__GET_SALE_REQUEST__INIT;
    // cppcheck-suppress unreadVariable ; read through the message's base, which libtix packs
    wrong.sale_id = "s1";
    tix_result_t r;
    assert_int_equal(tix_client_call(c, TIX_METHOD_PURCHASE, &wrong.base, 1000, &r), TIX_ERR_INVALID);
    assert_int_equal(r.code, TIX__V1__CODE__INVALID_ARGUMENT);
    tix_result_clear(&r);
    assert_int_equal(tix_client_call(c, TIX_METHOD_PURCHASE, NULL, 1000, &r), TIX_ERR_INVALID);
    tix_result_clear(&r);
    uint64_t id;
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &wrong.base, 0, &id), TIX_ERR_INVALID);
    /* tix.h takes the method as an int: only its TIX_CALL_* are methods
     * (SALE_BUYERS is the broker's own). */
    const int not_methods[] = {-1, TIX_METHOD_SALE_BUYERS, TIX_METHOD_COUNT, 99};
    for (size_t i = 0; i < sizeof not_methods / sizeof *not_methods; i++) {
        assert_int_equal(tix_client_call(c, not_methods[i], &wrong.base, 1000, &r), TIX_ERR_INVALID);
        assert_int_equal(r.code, TIX__V1__CODE__INVALID_ARGUMENT);
        tix_result_clear(&r);
        assert_int_equal(tix_client_send(c, not_methods[i], &wrong.base, 0, &id), TIX_ERR_INVALID);
    }

    char *huge = xcalloc(1, TIX_MAX_MESSAGE_BYTES + 2);
    memset(huge, 'a', TIX_MAX_MESSAGE_BYTES + 1);
    assert_int_equal(tix_purchase(c, "s1", huge, NULL, 1000, &r), TIX_ERR_INVALID);
    tix_result_clear(&r);
    Tix__V1__PurchaseRequest big = s_purchase("s1", huge, "");
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &big.base, 0, &id), TIX_ERR_INVALID);
    free(huge);
    assert_int_equal(tix_client_in_flight(c), 0);

    /* The next call is the first the broker sees. */
    Tix__V1__PurchaseRequest ok = s_purchase("s1", "alice", "");
    assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &ok.base, 0, &id), TIX_OK);
    zframe_t *rid;
    fake_client_call_t call;
    assert_true(fake_client_router_recv(router, WAIT_MS, &rid, &call));
    assert_int_equal(call.call_id, id);
    zframe_destroy(&rid);
    tix_client_destroy(&c);
    zsock_destroy(&router);
}

static void
test_typed_conveniences_send_their_method_and_fields(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_answer, NULL);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    assert_int_equal(tix_purchase(c, "s1", "bob", NULL, WAIT_MS, &r), TIX_OK);
    tix_result_clear(&r);
    assert_int_equal(tix_get_sale(c, "s2", WAIT_MS, &r), TIX_OK);
    tix_result_clear(&r);
    assert_int_equal(tix_get_order(c, "s3", "carol", WAIT_MS, &r), TIX_OK);
    assert_string_equal(((Tix__V1__Order *) r.reply)->order_id, "s3:carol");
    tix_result_clear(&r);
    assert_int_equal(tix_create_sale(c, "s4", 200, 1000, 2000, WAIT_MS, &r), TIX_OK);
    assert_ptr_equal(((ProtobufCMessage *) r.reply)->descriptor, &tix__v1__sale__descriptor);
    tix_result_clear(&r);
    assert_int_equal(tix_health_check(c, NULL, WAIT_MS, &r), TIX_OK);
    assert_int_equal(((Tix__V1__HealthCheckResponse *) r.reply)->status,
                     TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    tix_result_clear(&r);

    static const char *const names[] = {"tix.v1.TicketService/Purchase", "tix.v1.TicketService/GetSale",
                                        "tix.v1.TicketService/GetOrder", "tix.v1.AdminService/CreateSale",
                                        "tix.v1.Health/Check"};
    assert_int_equal(fake_client_ncalls(fb), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(fake_client_call(fb, i).method, names[i]);
    fake_client_call_t create = fake_client_call(fb, 3);
    Tix__V1__CreateSaleRequest *cs = tix__v1__create_sale_request__unpack(NULL, create.body_size, create.body);
    assert_non_null(cs);
    assert_string_equal(cs->sale_id, "s4");
    assert_int_equal(cs->total, 200);
    assert_int_equal(cs->opens_at_ms, 1000);
    assert_int_equal(cs->closes_at_ms, 2000);
    tix__v1__create_sale_request__free_unpacked(cs, NULL);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

/* A CURVE client against a plain broker: the handshake cannot succeed, and
 * the blocking call says so at once instead of waiting out its deadline. */
static void
test_curve_client_against_a_plain_broker_is_told_at_once(void **state)
{
    (void) state;
    char why[256], pub[TIX_CURVE_KEY_TXT_BYTES], secret[512];
    assert_int_equal(tix_curve_keygen(th_tmpdir(), "plain-peer", pub, why, sizeof why), TIX_OK);
    snprintf(secret, sizeof secret, "%s/plain-peer", th_tmpdir());
    fake_client_t *fb = fake_client_new(fake_client_script_answer, NULL);
    tix_client_t *c = tix_client_new_curve(fb->endpoint, secret, secret);
    assert_non_null(c);
    tix_result_t r;
    int64_t start = tix_now_ms();
    assert_int_equal(tix_health_check(c, "", 5000, &r), TIX_ERR_UNAVAILABLE);
    int64_t ms = tix_now_ms() - start;
    print_message("CURVE client, plain broker: %s after %lld ms\n", r.message, (long long) ms);
    assert_true(ms < 1000);
    assert_int_equal(r.code, TIX__V1__CODE__UNAUTHENTICATED);
    assert_true(strstr(r.message, "does not use CURVE") != NULL || strstr(r.message, "--curve-server-key") != NULL);
    assert_int_equal(fake_client_ncalls(fb), 0);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

int
main(void)
{
    fake_client_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_frames_are_delimiter_signature_header_body),
        cmocka_unit_test(test_curve_client_against_a_plain_broker_is_told_at_once),
        cmocka_unit_test(test_async_replies_matched_by_call_id_out_of_order),
        cmocka_unit_test(test_async_reply_to_unknown_or_forgotten_call_is_dropped),
        cmocka_unit_test(test_async_malformed_replies_are_dropped_and_client_keeps_working),
        cmocka_unit_test(test_async_undecodable_body_is_reported_for_its_call),
        cmocka_unit_test(test_async_send_queues_before_broker_is_up),
        cmocka_unit_test(test_two_endpoints_both_receive_calls),
        cmocka_unit_test(test_bad_endpoint_gives_null),
        cmocka_unit_test(test_frontend_env_is_used_when_endpoints_is_null),
        cmocka_unit_test(test_request_of_wrong_type_or_too_big_is_invalid_and_not_sent),
        cmocka_unit_test(test_typed_conveniences_send_their_method_and_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
