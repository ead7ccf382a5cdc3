/*
 * test_client_packed.c - libtix's allocation-free paths (issue 18) keep
 * what the wire and tix.h promise: tix_client_recv_packed's view of a
 * body, its failures and drops; a request too big for the send's stack
 * buffer; a reply header too big for the reader's arena. Against the test
 * thread's fake ROUTER (harness/fake_client.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_client.h"
#include "tix.h"
#include "tix_priv.h"

#define WAIT_MS 5000   /* failure bound for anything that should be prompt */
#define LONG_BYTES 100 /* a user id that makes the reply body bigger than libzmq's 33-byte inline frames */

typedef fake_client_pair_t s_world_t; /* fake_client_pair_setup's */

static uint64_t
s_send(s_world_t *w, const char *user)
{
    Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
    req.sale_id = "s1", req.user_id = (char *) user, req.request_id = "";
    uint64_t id = 0;
    assert_int_equal(tix_client_send(w->client, TIX_CALL_PURCHASE, &req.base, 0, &id), TIX_OK);
    return id;
}

/* s_send, and the call taken at the router, which answers it to *rid
 * (the caller destroys it). */
static uint64_t
s_send_taken(s_world_t *w, const char *user, zframe_t **rid)
{
    uint64_t id = s_send(w, user);
    fake_client_call_t call;
    assert_true(fake_client_router_recv(w->router, WAIT_MS, rid, &call));
    return id;
}

/* The order id in a packed PurchaseReply, into out. */
static void
s_order_id(const void *body, size_t size, char *out, size_t out_size)
{
    Tix__V1__PurchaseReply *p = tix__v1__purchase_reply__unpack(NULL, size, body);
    assert_non_null(p);
    snprintf(out, out_size, "%s", p->order_id);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
}

static void
test_packed_body_is_viewed_until_the_next_receive(void **state)
{
    s_world_t *w = *state;
    char long_user[LONG_BYTES + 1], want[LONG_BYTES + 8], got[LONG_BYTES + 8];
    memset(long_user, 'x', LONG_BYTES);
    long_user[LONG_BYTES] = '\0';
    uint64_t a = s_send(w, "alice"), b = s_send(w, long_user);
    for (int i = 0; i < 2; i++) {
        zframe_t *rid;
        fake_client_call_t call;
        assert_true(fake_client_router_recv(w->router, WAIT_MS, &rid, &call));
        fake_client_answer(w->router, rid, &call);
        zframe_destroy(&rid);
    }
    tix_result_t r;
    const void *body;
    size_t size;
    assert_int_equal(tix_client_recv_packed(w->client, WAIT_MS, &r, &body, &size), TIX_OK);
    assert_int_equal(r.call_id, a);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_null(r.reply);
    s_send(w, "carol"); /* a send leaves the view alone */
    s_order_id(body, size, got, sizeof got);
    assert_string_equal(got, "s1:alice");
    assert_int_equal(tix_client_recv_packed(w->client, WAIT_MS, &r, &body, &size), TIX_OK);
    assert_int_equal(r.call_id, b);
    assert_true(size > 33); /* a frame libzmq keeps outside the message: moved, still viewed */
    s_order_id(body, size, got, sizeof got);
    snprintf(want, sizeof want, "s1:%s", long_user);
    assert_string_equal(got, want);
    tix_result_clear(&r); /* safe: no reply to free */
    assert_int_equal(tix_client_in_flight(w->client), 1);
}

static void
test_packed_failure_has_status_and_no_body(void **state)
{
    s_world_t *w = *state;
    zframe_t *rid;
    uint64_t id = s_send_taken(w, "alice", &rid);
    fake_client_reply(w->router, rid, id, TIX__V1__CODE__UNAVAILABLE, 250, NULL);
    zframe_destroy(&rid);
    tix_result_t r;
    const void *body = &r;
    size_t size = 1;
    assert_int_equal(tix_client_recv_packed(w->client, WAIT_MS, &r, &body, &size), TIX_OK);
    assert_int_equal(r.call_id, id);
    assert_int_equal(r.code, TIX__V1__CODE__UNAVAILABLE);
    assert_int_equal(r.retry_after_ms, 250);
    assert_string_equal(r.message, "scripted failure");
    assert_null(body);
    assert_int_equal(size, 0);
    assert_int_equal(tix_client_in_flight(w->client), 0);
}

/* Junk is TIX_RC_PROTOCOL with no call; an unknown call's reply is dropped;
 * a body that does not unpack is the caller's to find (its bytes come
 * as they are, the call is answered). */
static void
test_packed_drops_junk_and_unknown_calls_and_hands_over_any_body(void **state)
{
    s_world_t *w = *state;
    zframe_t *rid;
    uint64_t id = s_send_taken(w, "alice", &rid);
    for (int i = 0; i < FAKE_CLIENT_NJUNK; i++)
        fake_client_send_junk(w->router, rid, id, i);
    fake_client_reply(w->router, rid, id + 999, TIX__V1__CODE__OK, 0, NULL); /* never sent */
    fake_client_reply_garbage(w->router, rid, id);
    zframe_destroy(&rid);

    tix_result_t r;
    const void *body;
    size_t size;
    for (int i = 0; i < FAKE_CLIENT_NJUNK; i++) {
        assert_int_equal(tix_client_recv_packed(w->client, WAIT_MS, &r, &body, &size), TIX_ERR_PROTOCOL);
        assert_int_equal(r.call_id, 0);
        assert_null(body);
    }
    assert_int_equal(tix_client_recv_packed(w->client, WAIT_MS, &r, &body, &size), TIX_OK);
    assert_int_equal(r.call_id, id);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    static const uint8_t garbage[FAKE_CLIENT_GARBAGE_SIZE] = {0xff, 0xff, 0xff};
    assert_int_equal(size, sizeof garbage);
    assert_memory_equal(body, garbage, sizeof garbage);
    assert_int_equal(tix_client_in_flight(w->client), 0);
    assert_int_equal(tix_client_recv_packed(w->client, 0, &r, &body, &size), TIX_ERR_TIMEOUT);
}

/* A request over the send's stack buffer (1 KiB) goes out whole, and the
 * blocking call, which sends from its own packed copy, still works. */
static void
test_big_request_is_sent_whole(void **state)
{
    s_world_t *w = *state;
    size_t n = 3000;
    char *user = malloc(n + 1);
    memset(user, 'u', n);
    user[n] = '\0';
    Tix__V1__PurchaseRequest req = TIX__V1__PURCHASE_REQUEST__INIT;
    req.sale_id = "s1", req.user_id = user, req.request_id = "r-1";
    uint64_t id;
    assert_int_equal(tix_client_send(w->client, TIX_CALL_PURCHASE, &req.base, 0, &id), TIX_OK);
    zmsg_t *msg = zmsg_recv(w->router);
    assert_non_null(msg);
    assert_int_equal(zmsg_size(msg), 5); /* [rid][empty][TIX1][CallHeader][body] */
    zframe_t *body = zmsg_last(msg);
    Tix__V1__PurchaseRequest *got = tix__v1__purchase_request__unpack(NULL, zframe_size(body), zframe_data(body));
    assert_non_null(got);
    assert_string_equal(got->user_id, user);
    assert_string_equal(got->request_id, "r-1");
    tix__v1__purchase_request__free_unpacked(got, NULL);
    zmsg_destroy(&msg);
    free(user);
}

/* A header whose message is longer than the reader's arena holds spills to
 * the heap (LeakSanitizer checks it goes back) and reads as before: the
 * message cut to TIX_RESULT_MESSAGE_BYTES. */
static void
test_reply_header_bigger_than_the_arena_is_read(void **state)
{
    s_world_t *w = *state;
    zframe_t *rid;
    uint64_t id = s_send_taken(w, "alice", &rid);
    char text[2000];
    memset(text, 'm', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    Tix__V1__ReplyHeader h = TIX__V1__REPLY_HEADER__INIT;
    h.call_id = id, h.code = TIX__V1__CODE__RESOURCE_EXHAUSTED, h.message = text;
    zframe_t *header = tix_frame_pack(&h.base);
    zmsg_t *m = zmsg_new();
    zmsg_addmem(m, zframe_data(rid), zframe_size(rid));
    zmsg_addmem(m, NULL, 0);
    zmsg_addstr(m, TIX_SIGNATURE);
    zmsg_addmem(m, zframe_data(header), zframe_size(header));
    zmsg_addmem(m, NULL, 0);
    zmsg_send(&m, w->router);
    zframe_destroy(&header);
    zframe_destroy(&rid);
    tix_result_t r;
    assert_int_equal(tix_client_recv(w->client, WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.call_id, id);
    assert_int_equal(r.code, TIX__V1__CODE__RESOURCE_EXHAUSTED);
    assert_int_equal(strlen(r.message), TIX_RESULT_MESSAGE_BYTES - 1);
    tix_result_clear(&r);
}

int
main(void)
{
    fake_client_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_packed_body_is_viewed_until_the_next_receive, fake_client_pair_setup,
                                        fake_client_pair_teardown),
        cmocka_unit_test_setup_teardown(test_packed_failure_has_status_and_no_body, fake_client_pair_setup,
                                        fake_client_pair_teardown),
        cmocka_unit_test_setup_teardown(test_packed_drops_junk_and_unknown_calls_and_hands_over_any_body,
                                        fake_client_pair_setup, fake_client_pair_teardown),
        cmocka_unit_test_setup_teardown(test_big_request_is_sent_whole, fake_client_pair_setup,
                                        fake_client_pair_teardown),
        cmocka_unit_test_setup_teardown(test_reply_header_bigger_than_the_arena_is_read, fake_client_pair_setup,
                                        fake_client_pair_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
