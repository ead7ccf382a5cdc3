/*
 * test_it_fault_flood.c - one client or subscriber trying to exhaust or
 * starve a real tix-broker (with redis-server and a tix-worker):
 *  - a subscription flood on the event feed (huge topics, then many small
 *    ones) leaves the broker under 64 MB and the workers where they were,
 *    and a valid `order.` subscriber still receives events;
 *  - 50 connections that send Health calls and never read leave the broker
 *    under 128 MB, and another client is still answered promptly;
 *  - a GetSale flood from one client, at the queue's limit, costs another
 *    client none of its 20 Purchases.
 * Memory is the broker's VmRSS, sampled throughout each flood.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "fault.h"
#include "harness.h"
#include "tix.h"
#include "tix_codec.h"
#include "tix_util.h"

#define SUB_FLOOD_TOPICS 300
#define SUB_FLOOD_TOPIC_BYTES (60 * 1024)
#define SUB_SMALL_TOPICS 2000
#define SUB_RSS_LIMIT_KB (64 * 1024)
#define SILENT_CLIENTS 50
#define SILENT_CALLS 160000 /* Health calls each silent client sends */
#define SILENT_RSS_LIMIT_KB (128 * 1024)
/* Under AddressSanitizer every allocation carries redzones and the broker's
 * RSS grows with it: measured on one machine, 88 MB for the broker before
 * the allocation-free frontend and the metrics (normal build 83 MB), 131-138
 * MB after (normal build 92 MB). The bound that judges the broker is the
 * normal build's; under ASan it is half as much again, which still fails by
 * far without the pipe and park bounds (610 MB in the normal build). */
#define SILENT_RSS_LIMIT_ASAN_KB (192 * 1024)
#define FAIR_QUEUE_LIMIT "200"
#define FAIR_FLOOD_IN_FLIGHT 2000
#define FAIR_PURCHASES 20

static th_stack_t s_stack;

static int
s_teardown(void **state)
{
    (void) state;
    th_stack_stop(&s_stack);
    /* The broker's counters, as it logged them on its way out. */
    char line[2048];
    FILE *f = fopen(s_stack.broker.log, "r");
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "broker stopped"))
            fputs(line, stderr);
    if (f)
        fclose(f);
    return 0;
}

/* ---- Probes ------------------------------------------------------------------- */

/* Health on a raw DEALER: true when answered within timeout_ms. */
static bool
s_health_answered(zsock_t *d, uint64_t call_id, int timeout_ms)
{
    Tix__V1__HealthCheckRequest r = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, NULL, 0);
    tix_call_append(msg, "tix.v1.Health/Check", call_id, 0, &r.base);
    if (zmsg_send(&msg, d) != 0)
        return false;
    zpoller_t *p = zpoller_new(d, NULL);
    bool got = zpoller_wait(p, timeout_ms) != NULL;
    zpoller_destroy(&p);
    if (got) {
        zmsg_t *reply = zmsg_recv(d);
        zmsg_destroy(&reply);
    }
    return got;
}

/* ---- 5: the event feed -------------------------------------------------------- */

/* A raw subscriber that floods subscriptions and never reconnects (so that
 * it floods once, whatever the broker does with the connection). */
static zsock_t *
s_flooder_new(void)
{
    zsock_t *x = zsock_new(ZMQ_XSUB);
    zsock_set_reconnect_ivl(x, -1);
    zsock_set_sndhwm(x, 0);
    assert_int_equal(zsock_connect(x, "%s", s_stack.events_out), 0);
    return x;
}

static void
s_subscribe_raw(zsock_t *x, const void *topic, size_t size)
{
    zframe_t *f = zframe_new(NULL, size + 1);
    uint8_t *d = zframe_data(f);
    d[0] = 1;
    memcpy(d + 1, topic, size);
    assert_int_equal(zframe_send(&f, x, 0), 0);
}

/* Purchases one ticket of sale for user and waits for its order event on
 * sub (subscribed to `order.`). */
static bool
s_event_arrives(zsock_t *sub, const char *sale, const char *user)
{
    tix_client_t *c = tix_client_new(s_stack.frontend);
    tix_result_t r;
    tix_err err = tix_purchase(c, sale, user, user, 5000, &r);
    bool ok = err == TIX_OK && r.code == TIX__V1__CODE__OK;
    tix_result_clear(&r);
    tix_client_destroy(&c);
    if (!ok)
        return false;
    zpoller_t *p = zpoller_new(sub, NULL);
    bool got = false;
    while (!got && zpoller_wait(p, 5000)) {
        char *topic = zstr_recv(sub);
        got = topic && strcmp(topic, "order.") > 0 && strstr(topic, sale) != NULL;
        zstr_free(&topic);
        zsock_flush(sub);
    }
    zpoller_destroy(&p);
    return got;
}

static void
test_a_subscription_flood_leaves_the_broker_small_and_the_feed_working(void **state)
{
    (void) state;
    assert_true(th_stack_start(&s_stack, 1, NULL));
    assert_true(tf_create_sale(s_stack.frontend, "flood", 100));
    zsock_t *sub = zsock_new_sub(s_stack.events_out, "order.");
    assert_true(events_join(sub, s_stack.frontend, 10000)); /* its subscription is in force */
    assert_true(s_event_arrives(sub, "flood", "before"));
    long worker_before = tf_rss_kb(s_stack.workers[0].pid);
    long peak = tf_rss_kb(s_stack.broker.pid);
    fprintf(stderr, "broker VmRSS before: %ld KiB, worker %ld KiB\n", peak, worker_before);

    /* 300 topics of 60 KB on one connection. */
    zsock_t *x = s_flooder_new();
    uint8_t *junk = xcalloc(1, SUB_FLOOD_TOPIC_BYTES);
    for (int i = 0; i < SUB_FLOOD_TOPICS; i++) {
        memset(junk, 'a' + i % 26, SUB_FLOOD_TOPIC_BYTES);
        snprintf((char *) junk, 16, "%d", i); /* distinct topics */
        s_subscribe_raw(x, junk, SUB_FLOOD_TOPIC_BYTES);
    }
    free(junk);
    tf_wait_idle(s_stack.broker.pid, &peak, 60000);
    fprintf(stderr, "broker VmRSS peak after %d x %d B topics: %ld KiB\n", SUB_FLOOD_TOPICS, SUB_FLOOD_TOPIC_BYTES,
            peak);
    zsock_destroy(&x);

    /* 2,000 small distinct topics on one connection: valid ones (past the
     * bound per subscriber), then junk. */
    for (int junk_topics = 0; junk_topics < 2; junk_topics++) {
        x = s_flooder_new();
        for (int i = 0; i < SUB_SMALL_TOPICS; i++) {
            char topic[80];
            int n = snprintf(topic, sizeof topic, junk_topics ? "junk-%d-%050d" : "order.sale-%d-%040d", i, i);
            s_subscribe_raw(x, topic, (size_t) n);
        }
        tf_wait_idle(s_stack.broker.pid, &peak, 60000);
        zsock_destroy(&x);
    }
    fprintf(stderr, "broker VmRSS peak after 2 x %d small topics: %ld KiB\n", SUB_SMALL_TOPICS, peak);
    assert_true(tf_log_count(s_stack.broker.log, "reason=\"too many subscriptions\"") >= 1);
    assert_true(tf_log_count(s_stack.broker.log, "reason=\"not order. or order.<sale id>\"") >= 1);

    long worker_after = tf_rss_kb(s_stack.workers[0].pid);
    fprintf(stderr, "worker VmRSS after: %ld KiB (+%ld)\n", worker_after, worker_after - worker_before);
    assert_true(peak < SUB_RSS_LIMIT_KB);
    /* Nothing of the flood reached the worker's PUB. */
    assert_true(worker_after - worker_before < 8 * 1024);
    /* A valid subscriber still gets its events. */
    assert_true(s_event_arrives(sub, "flood", "after"));
    zsock_destroy(&sub);
}

/* ---- 6: clients that never read ----------------------------------------------- */

/* A client that sends and never reads: its own buffers as small as they go,
 * so that the broker's answers pile up on the broker's side. */
static zsock_t *
s_silent_new(void)
{
    zsock_t *d = zsock_new(ZMQ_DEALER);
    zsock_set_rcvhwm(d, 1);
    zsock_set_rcvbuf(d, 4096);
    zsock_set_sndhwm(d, 0);
    assert_int_equal(zsock_connect(d, "%s", s_stack.frontend), 0);
    return d;
}

static void
test_clients_that_never_read_leave_the_broker_bounded_and_others_served(void **state)
{
    (void) state;
    assert_true(th_stack_start(&s_stack, 1, NULL));
    long peak = tf_rss_kb(s_stack.broker.pid);
    fprintf(stderr, "broker VmRSS before: %ld KiB\n", peak);
    zsock_t *silent[SILENT_CLIENTS];
    for (int i = 0; i < SILENT_CLIENTS; i++)
        silent[i] = s_silent_new();
    /* The same Health call, packed once. */
    Tix__V1__HealthCheckRequest r = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
    zmsg_t *call = zmsg_new();
    zmsg_addmem(call, NULL, 0);
    tix_call_append(call, "tix.v1.Health/Check", 1, 0, &r.base);
    for (int k = 0; k < SILENT_CALLS; k += 100) {
        for (int i = 0; i < SILENT_CLIENTS; i++) {
            for (int j = 0; j < 100; j++) {
                zmsg_t *m = zmsg_dup(call);
                assert_int_equal(zmsg_send(&m, silent[i]), 0);
            }
        }
        if (k % 4000 == 0) {
            long rss = tf_rss_kb(s_stack.broker.pid);
            peak = rss > peak ? rss : peak;
        }
    }
    zmsg_destroy(&call);
    tf_wait_idle(s_stack.broker.pid, &peak, 120000);
    fprintf(stderr, "broker VmRSS peak with %d clients x %d unread Health calls: %ld KiB\n", SILENT_CLIENTS,
            SILENT_CALLS, peak);
    /* Another client is answered at once. */
    zsock_t *other = zsock_new_dealer(s_stack.frontend);
    int64_t t0 = tix_now_ms();
    assert_true(s_health_answered(other, 7, 1000));
    fprintf(stderr, "another client's Health answered in %lld ms\n", (long long) (tix_now_ms() - t0));
    zsock_destroy(&other);
    for (int i = 0; i < SILENT_CLIENTS; i++)
        zsock_destroy(&silent[i]);
    assert_true(peak < (tf_under_asan() ? SILENT_RSS_LIMIT_ASAN_KB : SILENT_RSS_LIMIT_KB));
}

/* ---- 8: fairness between clients ---------------------------------------------- */

static void
s_send_get_sale(zsock_t *d, uint64_t call_id, const char *sale)
{
    Tix__V1__GetSaleRequest r = TIX__V1__GET_SALE_REQUEST__INIT;
    r.sale_id = (char *) sale;
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, NULL, 0);
    tix_call_append(msg, "tix.v1.TicketService/GetSale", call_id, 10000, &r.base);
    zmsg_send(&msg, d);
}

/* Reads the flooder's answers and sends one more GetSale for each, keeping
 * FAIR_FLOOD_IN_FLIGHT in flight. Returns the answers read. */
static int
s_flood_turn(zsock_t *d, uint64_t *next_id)
{
    int read = 0;
    while (zsock_events(d) & ZMQ_POLLIN) {
        zmsg_t *m = zmsg_recv(d);
        zmsg_destroy(&m);
        s_send_get_sale(d, (*next_id)++, "fair");
        read++;
    }
    return read;
}

static void
test_a_get_sale_flood_from_one_client_costs_another_none_of_its_purchases(void **state)
{
    (void) state;
    const char *args[] = {"--queue-limit", FAIR_QUEUE_LIMIT, NULL};
    assert_true(th_stack_start(&s_stack, 1, args));
    assert_true(tf_create_sale(s_stack.frontend, "fair", 1000));
    zsock_t *flood = zsock_new_dealer(s_stack.frontend);
    zsock_set_sndhwm(flood, 0);
    uint64_t next_id = 1;
    for (int i = 0; i < FAIR_FLOOD_IN_FLIGHT; i++)
        s_send_get_sale(flood, next_id++, "fair");
    /* Wait until the flood has filled the broker's queue: refusals come back. */
    int answered = 0;
    for (int64_t until = tix_now_ms() + 5000; answered < FAIR_FLOOD_IN_FLIGHT && tix_now_ms() < until;) {
        zclock_sleep(1);
        answered += s_flood_turn(flood, &next_id);
    }
    tix_client_t *c = tix_client_new(s_stack.frontend);
    /* The async interface never retries: a refusal shows as such. */
    uint64_t ids[FAIR_PURCHASES];
    for (int i = 0; i < FAIR_PURCHASES; i++) {
        char user[32];
        snprintf(user, sizeof user, "calm-%d", i);
        Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
        r.sale_id = "fair";
        r.user_id = user;
        r.request_id = user;
        assert_int_equal(tix_client_send(c, TIX_METHOD_PURCHASE, &r.base, 10000, &ids[i]), TIX_OK);
    }
    int ok = 0, refused = 0, other = 0;
    for (int64_t until = tix_now_ms() + 20000; ok + refused + other < FAIR_PURCHASES && tix_now_ms() < until;) {
        s_flood_turn(flood, &next_id);
        tix_result_t res;
        if (tix_client_recv(c, 1, &res) != TIX_OK)
            continue;
        if (res.code == TIX__V1__CODE__OK)
            ok++;
        else if (res.code == TIX__V1__CODE__RESOURCE_EXHAUSTED)
            refused++;
        else
            other++;
        tix_result_clear(&res);
    }
    fprintf(stderr, "the calm client's %d Purchases under a GetSale flood: %d OK, %d refused, %d other\n",
            FAIR_PURCHASES, ok, refused, other);
    tix_client_destroy(&c);
    zsock_destroy(&flood);
    assert_int_equal(refused, 0);
    assert_int_equal(ok, FAIR_PURCHASES);
}

int
main(void)
{
    tf_small_asan_quarantine(); /* RSS measures the broker, not the sanitizer */
    zsys_init();
    zsys_set_linger(0);
    /* CMOCKA_TEST_FILTER=test_clients* runs one of them. */
    if (getenv("CMOCKA_TEST_FILTER"))
        cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_a_subscription_flood_leaves_the_broker_small_and_the_feed_working, s_teardown),
        cmocka_unit_test_teardown(test_clients_that_never_read_leave_the_broker_bounded_and_others_served, s_teardown),
        cmocka_unit_test_teardown(test_a_get_sale_flood_from_one_client_costs_another_none_of_its_purchases,
                                  s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    th_cleanup_all();
    return rc;
}
