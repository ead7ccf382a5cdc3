/*
 * test_broker_limits.c - the broker in-process, driven step by step: the
 * per-client rate limit on every method, a full queue shared between
 * clients, and what the event feed accepts from subscribers and passes on
 * to workers. (test_broker.c covers the rest of the broker.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker.h"
#include "broker_events.h"
#include "broker_state.h"
#include "inproc.h"
#include "tix_codec.h"
#include "tix_util.h"

static broker_t *
s_broker_new(uint32_t queue_limit, double client_rate, uint32_t client_burst)
{
    broker_config_t c = th_inproc_config(queue_limit);
    c.client_rate_per_s = client_rate;
    c.client_burst = client_burst;
    return th_inproc_broker_new(&c);
}

static void
s_send_get_sale(zsock_t *client, uint64_t call_id)
{
    Tix__V1__GetSaleRequest r = TIX__V1__GET_SALE_REQUEST__INIT;
    r.sale_id = "s1";
    th_inproc_call(client, "tix.v1.TicketService/GetSale", call_id, 5000, &r.base);
}

/* th_inproc_expect, and the reply's message holds needle (when not NULL). */
static void
s_expect(broker_t *b, zsock_t *client, uint64_t call_id, tix_code code, const char *needle)
{
    Tix__V1__ReplyHeader *h = th_inproc_reply(b, client, NULL);
    assert_int_equal(h->call_id, call_id);
    assert_int_equal(h->code, code);
    if (needle)
        assert_non_null(strstr(h->message, needle));
    tix__v1__reply_header__free_unpacked(h, NULL);
}

static void
test_the_client_rate_limit_covers_every_method_and_each_client_alone(void **state)
{
    (void) state;
    broker_t *b = s_broker_new(100, 1.0, 3); /* 1 call/s per client, 3 at once */
    zsock_t *greedy = zsock_new_dealer(broker_frontend_endpoint(b));
    zsock_t *calm = zsock_new_dealer(broker_frontend_endpoint(b));
    Tix__V1__HealthCheckRequest health = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
    for (uint64_t id = 1; id <= 3; id++)
        th_inproc_call(greedy, "tix.v1.Health/Check", id, 5000, &health.base);
    s_send_get_sale(greedy, 4); /* no user_id: only the client's bucket sees it */
    for (uint64_t id = 1; id <= 3; id++)
        s_expect(b, greedy, id, TIX__V1__CODE__OK, NULL);
    s_expect(b, greedy, 4, TIX__V1__CODE__RESOURCE_EXHAUSTED, "from this client");
    /* Another client has a bucket of its own. */
    th_inproc_call(calm, "tix.v1.Health/Check", 5, 5000, &health.base);
    s_expect(b, calm, 5, TIX__V1__CODE__OK, NULL);
    assert_int_equal(broker_stats(b)->rate_limited, 1);
    zsock_destroy(&calm);
    zsock_destroy(&greedy);
    broker_destroy(&b);
}

static void
test_a_full_queue_refuses_the_client_holding_most_not_a_newcomer(void **state)
{
    (void) state;
    broker_t *b = s_broker_new(4, 0, 1);
    zsock_t *w = th_inproc_worker(b, 1, true, TH_INPROC_QUIET_MS);
    zsock_t *flood = zsock_new_dealer(broker_frontend_endpoint(b));
    zsock_t *calm = zsock_new_dealer(broker_frontend_endpoint(b));
    /* 1 at the worker, 4 queued: the queue is full of the flood's calls. */
    for (uint64_t id = 1; id <= 5; id++)
        s_send_get_sale(flood, id);
    for (int i = 0; i < 200 && broker_jobs_queued(b->jobs) < 4; i++)
        broker_step(b, 5);
    assert_int_equal(broker_jobs_queued(b->jobs), 4);
    /* The flood's own next call is refused... */
    s_send_get_sale(flood, 6);
    s_expect(b, flood, 6, TIX__V1__CODE__RESOURCE_EXHAUSTED, "queue full");
    /* ...and a newcomer's call takes the place of the flood's newest. */
    s_send_get_sale(calm, 100);
    s_expect(b, flood, 5, TIX__V1__CODE__RESOURCE_EXHAUSTED, "share");
    assert_int_equal(broker_jobs_queued_of(b->jobs, b->call_flow), 1);
    assert_int_equal(broker_stats(b)->fair_refused, 1);
    zsock_destroy(&calm);
    zsock_destroy(&flood);
    zsock_destroy(&w);
    broker_destroy(&b);
}

/* ---- the event feed ---- */

/* Publishes on pub until sub receives something (joins are asynchronous);
 * returns the topic received (caller frees) or NULL. */
static char *
s_publish_until_received(broker_t *b, zsock_t *pub, zsock_t *sub, const char *topic)
{
    for (int i = 0; i < 200; i++) {
        zsock_send(pub, "ss", topic, "event");
        if (th_inproc_pump(b, sub, 10)) {
            char *got, *body;
            zsock_recv(sub, "ss", &got, &body);
            zstr_free(&body);
            return got;
        }
    }
    return NULL;
}

static void
test_the_feed_applies_order_subscriptions_and_passes_none_upstream(void **state)
{
    (void) state;
    broker_t *b = s_broker_new(100, 0, 1);
    /* A worker's side as an XPUB: it sees what the broker asks for. */
    zsock_t *worker = zsock_new(ZMQ_XPUB);
    zsock_set_xpub_verbose(worker, 1);
    assert_int_equal(zsock_connect(worker, "%s", zsock_endpoint(b->events_in)), 0);
    assert_true(th_inproc_pump(b, worker, 3000));
    char *asked = zstr_recv(worker);
    assert_string_equal(asked, "\x01order.");
    zstr_free(&asked);
    /* A subscriber of one sale gets that sale's events only. */
    zsock_t *sub = zsock_new_sub(zsock_endpoint(b->events_out), "order.s2");
    char *got = s_publish_until_received(b, worker, sub, "order.s2");
    assert_non_null(got);
    assert_string_equal(got, "order.s2");
    zstr_free(&got);
    zsock_send(worker, "ss", "order.s3", "event");
    for (int i = 0; i < 20; i++)
        broker_step(b, 5);
    assert_false(zsock_events(sub) & ZMQ_POLLIN);
    /* Junk and too many subscriptions: refused, the sender cut off, and
     * nothing of it reaches the worker's side. */
    zsock_t *junk = zsock_new(ZMQ_SUB), *many = zsock_new(ZMQ_SUB);
    zsock_set_reconnect_ivl(junk, -1);
    zsock_set_reconnect_ivl(many, -1);
    zsock_set_subscribe(junk, "junk");
    assert_int_equal(zsock_connect(junk, "%s", zsock_endpoint(b->events_out)), 0);
    assert_int_equal(zsock_connect(many, "%s", zsock_endpoint(b->events_out)), 0);
    for (int i = 0; i <= BROKER_EVENTS_SUBS_MAX; i++) {
        char topic[32];
        snprintf(topic, sizeof topic, "order.s-%d", i);
        zsock_set_subscribe(many, topic);
    }
    for (int i = 0; i < 400 && broker_stats(b)->subscribers_cut < 2; i++)
        broker_step(b, 5);
    assert_int_equal(broker_stats(b)->subscribers_cut, 2);
    assert_false(zsock_events(worker) & ZMQ_POLLIN);
    /* The valid subscriber is still served. */
    got = s_publish_until_received(b, worker, sub, "order.s2");
    assert_non_null(got);
    zstr_free(&got);
    zsock_destroy(&many);
    zsock_destroy(&junk);
    zsock_destroy(&sub);
    zsock_destroy(&worker);
    broker_destroy(&b);
}

int
main(void)
{
    th_inproc_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_client_rate_limit_covers_every_method_and_each_client_alone),
        cmocka_unit_test(test_a_full_queue_refuses_the_client_holding_most_not_a_newcomer),
        cmocka_unit_test(test_the_feed_applies_order_subscriptions_and_passes_none_upstream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
