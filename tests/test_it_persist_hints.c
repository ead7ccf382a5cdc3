/*
 * test_it_persist_hints.c - events are hints and the catch-up follows the
 * live sales, end to end: a real redis-server, tix-broker, a tix-worker and
 * tix-persister (jsonl sink) as its own process.
 *
 * - An OrderEvent forged on the broker's event intake, before the real
 *   purchase, writes nothing: the file gets the order as the log has it,
 *   and the forgery is counted and logged. So does an event that names a
 *   real log entry with someone else's order.
 * - Thousands of sold-out and closed sales leave the catch-up set: the
 *   order-log reads (INFO commandstats) follow the live sales only, and a
 *   retired sale that gets a new order (through an event, or silently,
 *   seen by the sweep) is written.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>

#include "events.h"
#include "fault.h"
#include "harness.h"
#include "persist_fixture.h"
#include "persister_proc.h"
#include "tix.h"
#include "tix.pb-c.h"
#include "tix_util.h"

#define WAIT_MS 15000
#define ENDED_SALES 2000 /* half sold out (one order each), half closed (none) */

/* ---- Helpers ------------------------------------------------------------- */

/* Starts tix-persister on the fixture's jsonl sink, reading events from
 * events_out, with --catchup-ms catchup_ms; returns once it is healthy. */
static void
s_persister_start(persist_fixture_t *fx, th_proc_t *p, const char *events_out, const char *catchup_ms)
{
    persist_fixture_start(fx, p, "persister", events_out, NULL, "--catchup-ms", catchup_ms, NULL);
    persister_proc_wait_healthy(p, fx->health, WAIT_MS);
}

/* Lines of the file holding needle. */
static int
s_lines_with(const persist_fixture_t *fx, const char *needle)
{
    return tf_log_count(fx->path, needle);
}

/* Polls until the file holds at least n lines with needle. */
static bool
s_wait_lines_with(const persist_fixture_t *fx, const char *needle, int n, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (s_lines_with(fx, needle) < n && tix_now_ms() < deadline)
        usleep(20000); /* a poll interval: the condition is the file's lines */
    return s_lines_with(fx, needle) >= n;
}

/* The id of the n-th order of sale's current incarnation, as tix_buy makes
 * it: <sale>:<created_at_ms in base 36>:<n> (docs/REDIS.md). */
static const char *
s_order_id(const persist_fixture_t *fx, const char *sale, int n)
{
    static char out[4][128];
    static int next;
    char *id = out[next++ % 4];
    char cmd[128];
    snprintf(cmd, sizeof cmd, "HGET tix:{%s}:sale created_at_ms", sale);
    redisContext *c = th_redis_connect(&fx->stack.redis);
    redisReply *r = redisCommand(c, cmd);
    assert_true(r && r->type == REDIS_REPLY_STRING);
    unsigned long long created = strtoull(r->str, NULL, 10);
    freeReplyObject(r);
    redisFree(c);
    char inc[16], *p = inc + sizeof inc - 1;
    *p = '\0';
    do
        *--p = "0123456789abcdefghijklmnopqrstuvwxyz"[created % 36];
    while ((created /= 36) > 0);
    snprintf(id, sizeof out[0], "%s:%s:%d", sale, p, n);
    return id;
}

static void
s_purchase(const persist_fixture_t *fx, const char *sale, const char *user, const char *order_id)
{
    tix_client_t *c = tix_client_new(fx->stack.frontend);
    tix_result_t r;
    assert_int_equal(tix_purchase(c, sale, user, "req-1", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    const Tix__V1__PurchaseReply *reply = (const Tix__V1__PurchaseReply *) r.reply;
    assert_int_equal(reply->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_string_equal(reply->order_id, order_id);
    tix_result_clear(&r);
    tix_client_destroy(&c);
}

/* Sends an OrderEvent made up by the test on pub. */
static void
s_forge(zsock_t *pub, const char *sale, const char *order_id, const char *user, const char *log_id)
{
    Tix__V1__Order o = TIX__V1__ORDER__INIT;
    o.order_id = (char *) order_id;
    o.sale_id = (char *) sale;
    o.user_id = (char *) user;
    o.request_id = "forged";
    o.purchased_at_ms = tix_wall_ms();
    assert_true(events_publish(pub, &o, log_id, "mallory"));
}

/* ---- Forged events --------------------------------------------------------- */

static void
test_event_forged_on_the_intake_before_the_purchase_writes_nothing_and_the_log_order_is_written(void **state)
{
    persist_fixture_t *fx = *state;
    th_proc_t p;
    assert_true(tf_create_sale(fx->stack.frontend, "forge", 5));
    s_persister_start(fx, &p, fx->stack.events_out, "300");
    /* mallory publishes on the broker's event intake, as any process that
     * reaches it can: S:1 for herself, and S:2 for bob, before anyone
     * bought. Again until the persister has seen one (subscriptions
     * travel upstream asynchronously). */
    zsock_t *pub = zsock_new_pub(NULL);
    assert_int_equal(zsock_connect(pub, "%s", fx->stack.events_in), 0);
    char log_id[48];
    snprintf(log_id, sizeof log_id, "%lld-0", (long long) tix_wall_ms());
    int64_t deadline = tix_now_ms() + WAIT_MS;
    while (tf_log_count(p.log, "order event") == 0 && s_lines_with(fx, "\"forge:") == 0 && tix_now_ms() < deadline) {
        s_forge(pub, "forge", s_order_id(fx, "forge", 1), "mallory", log_id);
        s_forge(pub, "forge", s_order_id(fx, "forge", 2), "bob", "1-1");
        usleep(50000);
    }
    s_purchase(fx, "forge", "alice", s_order_id(fx, "forge", 1));
    assert_true(s_wait_lines_with(fx, "\"alice\"", 1, WAIT_MS));
    persister_proc_stop(&p);
    zsock_destroy(&pub);
    char line[256];
    snprintf(line, sizeof line, "\"_id\" : \"%s\", \"sale_id\" : \"forge\", \"user_id\" : \"alice\"",
             s_order_id(fx, "forge", 1));
    assert_int_equal(s_lines_with(fx, line), 1);
    assert_int_equal(s_lines_with(fx, "mallory"), 0);
    assert_int_equal(s_lines_with(fx, s_order_id(fx, "forge", 2)), 0); /* not in the log: not written */
    long mismatched = tf_log_last(p.log, "persister stopped", "mismatched");
    fprintf(stderr, "forged on the intake: mismatched=%ld\n", mismatched);
    assert_true(mismatched >= 2);
    assert_true(tf_log_count(p.log, "order event names no order of the order log") >= 1);
}

static void
test_event_naming_a_real_log_entry_with_another_order_is_counted_and_the_log_order_is_written(void **state)
{
    persist_fixture_t *fx = *state;
    th_proc_t p;
    char feed[64];
    snprintf(feed, sizeof feed, "tcp://127.0.0.1:%d", th_free_port());
    /* The persister hears only us; the sale exists before it starts, and it
     * catches up only at start (and at stop), so the event is what makes it
     * read the log. */
    zsock_t *xpub = zsock_new(ZMQ_XPUB);
    assert_true(zsock_bind(xpub, "%s", feed) >= 0);
    zsock_set_rcvtimeo(xpub, WAIT_MS);
    assert_true(tf_create_sale(fx->stack.frontend, "swap", 5));
    s_persister_start(fx, &p, feed, "3600000");
    zframe_t *subscribe = zframe_recv(xpub);
    assert_true(subscribe && zframe_size(subscribe) > 0 && zframe_data(subscribe)[0] == 1);
    zframe_destroy(&subscribe);
    s_purchase(fx, "swap", "alice", s_order_id(fx, "swap", 1));
    char log_id[48];
    persister_proc_last_log_id(&fx->stack.redis, "swap", log_id, sizeof log_id);
    s_forge(xpub, "swap", s_order_id(fx, "swap", 1), "mallory", log_id); /* alice's entry, mallory's name */
    assert_true(s_wait_lines_with(fx, "\"alice\"", 1, WAIT_MS));
    persister_proc_stop(&p);
    zsock_destroy(&xpub);
    char line[256];
    snprintf(line, sizeof line, "\"_id\" : \"%s\", \"sale_id\" : \"swap\", \"user_id\" : \"alice\"",
             s_order_id(fx, "swap", 1));
    assert_int_equal(s_lines_with(fx, line), 1);
    assert_int_equal(s_lines_with(fx, "mallory"), 0);
    assert_int_equal(tf_log_last(p.log, "persister stopped", "mismatched"), 1);
    assert_int_equal(tf_log_count(p.log, "order event disagrees with the order log"), 1);
}

/* ---- Sales that can sell no more --------------------------------------- */

/* Runs a command on Redis and checks that it answered an array starting
 * with status. */
static void
s_fcall(redisContext *c, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements > 0);
    assert_string_equal(r->element[0]->str, status);
    freeReplyObject(r);
}

/* Creates ENDED_SALES sales straight in Redis, pipelined: even ones sold
 * out with their one order, odd ones closed (closes_at_ms 1) without any;
 * then `live` open ones of 100 tickets with one order each. */
static void
s_create_many(const persist_fixture_t *fx, int live)
{
    redisContext *c = th_redis_connect(&fx->stack.redis);
    int sent = 0;
    for (int i = 0; i < ENDED_SALES + live; i++) {
        char sale[32];
        bool ended = i < ENDED_SALES, closed = ended && i % 2 == 1;
        snprintf(sale, sizeof sale, "%s-%d", ended ? "ended" : "live", i);
        redisAppendCommand(
            c, "FCALL tix_create 5 tix:{%s}:sale tix:{%s}:stock tix:{%s}:buyers tix:{%s}:log tix:sales %s %s 0 %s",
            sale, sale, sale, sale, sale, ended ? "1" : "100", closed ? "1" : "0");
        sent++;
        if (!closed) {
            redisAppendCommand(c, "FCALL tix_buy 4 tix:{%s}:sale tix:{%s}:stock tix:{%s}:buyers tix:{%s}:log %s u-%d r",
                               sale, sale, sale, sale, sale, i);
            sent++;
        }
    }
    for (int i = 0; i < sent; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(c, (void **) &r), REDIS_OK);
        assert_true(r->type == REDIS_REPLY_ARRAY && r->element[0]->type == REDIS_REPLY_STRING);
        assert_true(strcmp(r->element[0]->str, "CREATED") == 0 || strcmp(r->element[0]->str, "PURCHASED") == 0);
        freeReplyObject(r);
    }
    redisFree(c);
}

static bool
s_wait_live(const th_proc_t *p, long live, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    while (tf_log_last(p->log, "catch-up set", "live") != live && tix_now_ms() < deadline)
        usleep(50000);
    return tf_log_last(p->log, "catch-up set", "live") == live;
}

/* Gives a retired sale one more ticket (as a cancelled order returning its
 * stock would) or reopens it. */
static void
s_more_stock(redisContext *c, const char *sale)
{
    redisReply *r = redisCommand(c, "HINCRBY tix:{%s}:sale total 1", sale);
    freeReplyObject(r);
    r = redisCommand(c, "INCR tix:{%s}:stock", sale);
    freeReplyObject(r);
}

static void
test_sold_out_and_closed_sales_leave_the_catch_up_and_come_back_with_news(void **state)
{
    persist_fixture_t *fx = *state;
    th_proc_t p;
    const int live = 2, window_ms = 3000, catchup_ms = 200;
    s_create_many(fx, live);
    setenv("TIX_SWEEP_MS", "2000", 1); /* as a variable: a persister without the flag still starts */
    s_persister_start(fx, &p, fx->stack.events_out, "200");
    unsetenv("TIX_SWEEP_MS");
    assert_true(s_wait_lines_with(fx, "\"_id\"", ENDED_SALES / 2 + live, WAIT_MS));
    bool shrank = s_wait_live(&p, live, WAIT_MS);

    /* The cost of the catch-up now: the live sales, not all of them. */
    redisContext *c = th_redis_connect(&fx->stack.redis);
    redisReply *r = redisCommand(c, "CONFIG RESETSTAT");
    freeReplyObject(r);
    usleep(window_ms * 1000); /* a measuring window, not a wait for a condition */
    long long xrange = th_redis_calls(&fx->stack.redis, "xrange"),
              xrevrange = th_redis_calls(&fx->stack.redis, "xrevrange"),
              fcall_ro = th_redis_calls(&fx->stack.redis, "fcall_ro");
    fprintf(stderr, "%d sales ended, %d live, in %d ms: XRANGE=%lld XREVRANGE (sweep)=%lld FCALL_RO=%lld\n",
            ENDED_SALES, live, window_ms, xrange, xrevrange, fcall_ro);
    assert_true(shrank);
    /* One read per live sale per pass, plus slack for a pass in progress. */
    assert_true(xrange <= (long long) live * (window_ms / catchup_ms + 5));
    assert_true(xrevrange <= ENDED_SALES * 2); /* the sweep: about every ended sale per 2 s */

    /* Back with news: by an event, and silently (the sweep sees it). */
    s_more_stock(c, "ended-0");
    s_purchase(fx, "ended-0", "alice", s_order_id(fx, "ended-0", 2));
    char quoted[160];
    snprintf(quoted, sizeof quoted, "\"%s\"", s_order_id(fx, "ended-0", 2));
    assert_true(s_wait_lines_with(fx, quoted, 1, WAIT_MS));
    s_more_stock(c, "ended-2");
    s_fcall(c, "PURCHASED",
            "FCALL tix_buy 4 tix:{ended-2}:sale tix:{ended-2}:stock tix:{ended-2}:buyers "
            "tix:{ended-2}:log ended-2 bob r");
    redisReply *h = redisCommand(c, "HSET tix:{ended-1}:sale closes_at_ms 0");
    freeReplyObject(h);
    s_fcall(c, "PURCHASED",
            "FCALL tix_buy 4 tix:{ended-1}:sale tix:{ended-1}:stock tix:{ended-1}:buyers "
            "tix:{ended-1}:log ended-1 carol r");
    redisFree(c);
    snprintf(quoted, sizeof quoted, "\"%s\"", s_order_id(fx, "ended-2", 2));
    assert_true(s_wait_lines_with(fx, quoted, 1, WAIT_MS));
    snprintf(quoted, sizeof quoted, "\"%s\"", s_order_id(fx, "ended-1", 1));
    assert_true(s_wait_lines_with(fx, quoted, 1, WAIT_MS));
    persister_proc_stop(&p);
    assert_int_equal(s_lines_with(fx, "\"_id\""), ENDED_SALES / 2 + live + 3);
    assert_true(tf_log_count(p.log, "retired sale named by an event") >= 1);
    assert_true(tf_log_count(p.log, "retired sale has new orders") >= 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_event_forged_on_the_intake_before_the_purchase_writes_nothing_and_the_log_order_is_written,
            persist_fixture_setup_1, persist_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_event_naming_a_real_log_entry_with_another_order_is_counted_and_the_log_order_is_written,
            persist_fixture_setup_1, persist_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sold_out_and_closed_sales_leave_the_catch_up_and_come_back_with_news,
                                        persist_fixture_setup_1, persist_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
