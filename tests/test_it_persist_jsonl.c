/*
 * test_it_persist_jsonl.c - nothing lost, nothing twice, end to end with the
 * jsonl sink: a real redis-server, tix-broker, two tix-workers, a 20,000-user
 * rush for 200 tickets, and tix-persister as its own process - running,
 * absent, SIGKILLed mid-rush, or fed only half of the events.
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

#include <bson/bson.h>
#include <cmocka.h>

#include "fault.h"
#include "harness.h"
#include "persister_order.h"
#include "persist_fixture.h"
#include "persister_proc.h"
#include "rush.h"
#include "tix.h"
#include "tix_util.h"

#define TICKETS 200
#define USERS 20000
#define WAIT_MS 15000

/* ---- Helpers ------------------------------------------------------------- */

static void
s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

/* Polls until the cursor file points at the sale's last log entry: every
 * order of the sale is durable in the file. */
static void
s_wait_cursor(persist_fixture_t *fx, const char *sale)
{
    char last[64], want[128], cursors[420], text[4096];
    persister_proc_last_log_id(&fx->stack.redis, sale, last, sizeof last);
    snprintf(want, sizeof want, "sale %s %s\n", sale, last);
    snprintf(cursors, sizeof cursors, "%s.cursors", fx->path);
    int64_t deadline = tix_now_ms() + WAIT_MS;
    while (tix_now_ms() < deadline) {
        FILE *f = fopen(cursors, "r");
        size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
        text[got] = '\0';
        if (f)
            fclose(f);
        if (strstr(text, want))
            return;
        usleep(20000);
    }
    fail_msg("the cursor of %s never reached %s", sale, last);
}

/* One line: a whole order document of sale, for a winner, not seen before. */
static void
s_check_line(const char *line, const char *sale, zhashx_t *winners, zhashx_t *seen)
{
    bson_t doc;
    bson_error_t error;
    bson_iter_t it;
    persister_log_id_t log_id;
    assert_true(bson_init_from_json(&doc, line, -1, &error));
    assert_true(bson_iter_init_find(&it, &doc, "_id") && BSON_ITER_HOLDS_UTF8(&it));
    const char *id = bson_iter_utf8(&it, NULL);
    assert_int_equal(zhashx_insert(seen, id, (void *) 1), 0); /* no _id twice */
    const char *user = zhashx_lookup(winners, id);
    assert_non_null(user); /* a real winner's order */
    assert_true(bson_iter_init_find(&it, &doc, "user_id"));
    assert_string_equal(bson_iter_utf8(&it, NULL), user);
    assert_true(bson_iter_init_find(&it, &doc, "sale_id"));
    assert_string_equal(bson_iter_utf8(&it, NULL), sale);
    assert_true(bson_iter_init_find(&it, &doc, "request_id") && BSON_ITER_HOLDS_UTF8(&it));
    assert_true(bson_iter_init_find(&it, &doc, "purchased_at") && BSON_ITER_HOLDS_DATE_TIME(&it));
    assert_true(bson_iter_date_time(&it) > 1700000000000LL);
    assert_true(bson_iter_init_find(&it, &doc, "persisted_at") && BSON_ITER_HOLDS_DATE_TIME(&it));
    assert_true(bson_iter_init_find(&it, &doc, "log_id") && BSON_ITER_HOLDS_UTF8(&it));
    assert_true(persister_log_id_parse(bson_iter_utf8(&it, NULL), &log_id));
    bson_destroy(&doc);
}

/* The file holds exactly the rush's winners, once each, as whole order
 * documents of sale; and the cursor file points at the log's last entry. */
static void
s_check_file(persist_fixture_t *fx, const char *sale, const th_rush_t *rush)
{
    zhashx_t *winners = zhashx_new(), *seen = zhashx_new();
    zhashx_set_destructor(winners, s_free_item);
    for (int i = 0; i < rush->users; i++) {
        if (rush->order_of[i]) {
            char *user = xmalloc(96);
            th_rush_user(user, 96, sale, i);
            zhashx_insert(winners, rush->order_of[i], user);
        }
    }
    FILE *f = fopen(fx->path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    for (; getline(&line, &cap, f) > 0; n++)
        s_check_line(line, sale, winners, seen);
    free(line);
    fclose(f);
    assert_int_equal(n, TICKETS);
    assert_int_equal(zhashx_size(seen), zhashx_size(winners));
    zhashx_destroy(&seen);
    zhashx_destroy(&winners);
    s_wait_cursor(fx, sale); /* already there: the persister stopped after storing it */
}

/* The rush of these tests, 4,000 calls in flight. */
static void
s_rush(persist_fixture_t *fx, const char *sale, th_rush_t *r, void (*on_answer)(int, void *), void *arg)
{
    persist_fixture_rush(fx, sale, TICKETS, USERS, 4000, r, on_answer, arg);
}

/* ---- Tests --------------------------------------------------------------- */

static void
test_a_persister_running_through_the_rush_writes_200_lines_once_each(void **state)
{
    persist_fixture_t *fx = *state;
    th_proc_t p;
    th_rush_t r;
    persist_fixture_start(fx, &p, "persister-a", fx->stack.events_out, NULL, NULL);
    persister_proc_wait_healthy(&p, fx->health, WAIT_MS);
    s_rush(fx, "rush-a", &r, NULL, NULL);
    assert_int_equal(persister_proc_wait_lines(fx->path, TICKETS, WAIT_MS), TICKETS);
    persister_proc_stop(&p);
    s_check_file(fx, "rush-a", &r);
    long events = tf_log_last(p.log, "persister stopped", "events");
    long from_log = tf_log_last(p.log, "persister stopped", "from_log");
    fprintf(stderr, "(a) events=%ld from_log=%ld\n", events, from_log);
    assert_true(events > 0);                   /* the event path did the work ... */
    assert_true(events + from_log >= TICKETS); /* ... and the log covered any gap */
    th_rush_free(&r);
}

static void
test_b_persister_absent_during_the_rush_and_started_after_writes_all_200(void **state)
{
    persist_fixture_t *fx = *state;
    th_proc_t p;
    th_rush_t r;
    s_rush(fx, "rush-b", &r, NULL, NULL);
    persist_fixture_start(fx, &p, "persister-b", fx->stack.events_out, NULL, NULL);
    assert_int_equal(persister_proc_wait_lines(fx->path, TICKETS, WAIT_MS), TICKETS);
    persister_proc_stop(&p);
    s_check_file(fx, "rush-b", &r);
    assert_int_equal(tf_log_last(p.log, "persister stopped", "events"), 0);
    assert_int_equal(tf_log_last(p.log, "persister stopped", "from_log"), TICKETS);
    th_rush_free(&r);
}

typedef struct {
    th_proc_t *p;
    const char *path; /* the jsonl sink */
    bool killed;
} s_kill_t;

/* SIGKILL as soon as the persister has appended something. */
static void
s_kill_after_first_append(int answered, void *arg)
{
    s_kill_t *k = arg;
    struct stat st;
    (void) answered;
    if (!k->killed && stat(k->path, &st) == 0 && st.st_size > 0) {
        th_proc_stop(k->p, SIGKILL, 1000);
        k->killed = true;
    }
}

static void
test_c_persister_killed_mid_rush_and_restarted_writes_all_200_none_twice(void **state)
{
    persist_fixture_t *fx = *state;
    th_proc_t p, p2;
    th_rush_t r;
    /* One order per append (each fsync'd), so that the kill lands between
     * appends; no catch-up while it runs (only at start), so no cursor is
     * stored and every line appended before the kill is beyond its cursor. */
    persist_fixture_start(fx, &p, "persister-c1", fx->stack.events_out, NULL, "--batch-max", "1", "--catchup-ms",
                          "3600000", NULL);
    persister_proc_wait_healthy(&p, fx->health, WAIT_MS);
    s_kill_t k = {&p, fx->path, false};
    /* A small window: answers (and so our look at the file) start early. */
    persist_fixture_rush(fx, "rush-c", TICKETS, USERS, 100, &r, s_kill_after_first_append, &k);
    assert_true(k.killed);
    int at_kill = persister_proc_count_lines(fx->path);
    fprintf(stderr, "(c) killed with %d of %d lines appended\n", at_kill, TICKETS);
    assert_true(at_kill > 0 && at_kill < TICKETS); /* mid-sale: some appended, not all */
    unlink(fx->health);
    persist_fixture_start(fx, &p2, "persister-c2", fx->stack.events_out, NULL, NULL);
    s_wait_cursor(fx, "rush-c");
    persister_proc_stop(&p2);
    s_check_file(fx, "rush-c", &r);
    /* The restart recognised every line the killed one had appended. */
    assert_int_equal(tf_log_last(p2.log, "jsonl sink ready", "lines_beyond_cursors"), at_kill);
    assert_int_equal(tf_log_last(p2.log, "persister stopped", "from_log"), TICKETS);
    th_rush_free(&r);
}

typedef struct {
    zsock_t *sub; /* from the broker */
    zsock_t *pub; /* to the persister */
    int seen, forwarded;
} s_forwarder_t;

/* Passes every other event on, drops the rest. */
static void
s_pump(s_forwarder_t *f, int wait_ms)
{
    zpoller_t *poller = zpoller_new(f->sub, NULL);
    while (zpoller_wait(poller, wait_ms) == f->sub) {
        zmsg_t *msg = zmsg_recv(f->sub);
        if (f->seen++ % 2 == 0) {
            assert_int_equal(zmsg_send(&msg, f->pub), 0);
            f->forwarded++;
        }
        zmsg_destroy(&msg);
        wait_ms = 0;
    }
    zpoller_destroy(&poller);
}

static void
s_pump_on_answer(int answered, void *arg)
{
    (void) answered;
    s_pump(arg, 0);
}

static void
test_d_events_dropped_on_purpose_are_caught_up_from_the_log_while_running(void **state)
{
    persist_fixture_t *fx = *state;
    th_proc_t p;
    th_rush_t r;
    char feed[64];
    snprintf(feed, sizeof feed, "tcp://127.0.0.1:%d", th_free_port());
    s_forwarder_t f = {zsock_new_sub(fx->stack.events_out, "order."), zsock_new(ZMQ_XPUB), 0, 0};
    assert_true(zsock_bind(f.pub, "%s", feed) >= 0);
    zsock_set_rcvtimeo(f.pub, WAIT_MS);
    persist_fixture_start(fx, &p, "persister-d", feed, NULL, NULL);
    zframe_t *subscribe = zframe_recv(f.pub); /* the persister's subscription reached us */
    assert_true(subscribe && zframe_size(subscribe) > 0 && zframe_data(subscribe)[0] == 1);
    zframe_destroy(&subscribe);
    /* Events flow only once our subscription has reached the workers
     * (through the broker): buy as the rush's first users, one at a time,
     * until an event comes through. The rush then retries those purchases
     * with the same request ids and gets the same orders. */
    persist_fixture_create_sale(fx, "rush-d", TICKETS);
    tix_client_t *c = tix_client_new(fx->stack.frontend);
    for (int i = 0; f.seen == 0 && i < 50; i++) {
        char user[96], req[32];
        th_rush_user(user, sizeof user, "rush-d", i);
        snprintf(req, sizeof req, "req-%d", i);
        tix_result_t res;
        assert_int_equal(tix_purchase(c, "rush-d", user, req, 5000, &res), TIX_OK);
        assert_int_equal(res.code, TIX__V1__CODE__OK);
        tix_result_clear(&res);
        s_pump(&f, 200);
    }
    tix_client_destroy(&c);
    assert_true(f.seen > 0);
    s_rush(fx, "rush-d", &r, s_pump_on_answer, &f);
    while (f.seen < TICKETS) {
        int before = f.seen;
        s_pump(&f, 2000);
        if (f.seen == before)
            break;
    }
    fprintf(stderr, "(d) events seen=%d forwarded=%d dropped=%d\n", f.seen, f.forwarded, TICKETS - f.forwarded);
    assert_true(TICKETS - f.forwarded >= TICKETS / 2);
    assert_int_equal(persister_proc_wait_lines(fx->path, TICKETS, WAIT_MS), TICKETS);
    persister_proc_stop(&p);
    s_check_file(fx, "rush-d", &r);
    /* Every forwarded event arrived; the catch-up found at least every
     * dropped one (and sometimes forwarded ones it got to first). */
    assert_int_equal(tf_log_last(p.log, "persister stopped", "events"), f.forwarded);
    assert_true(tf_log_last(p.log, "persister stopped", "from_log") >= TICKETS - f.forwarded);
    zsock_destroy(&f.sub);
    zsock_destroy(&f.pub);
    th_rush_free(&r);
}

static void
test_sigterm_flushes_the_orders_it_holds_stores_the_cursor_and_exits_0(void **state)
{
    persist_fixture_t *fx = *state;
    th_proc_t p;
    th_rush_t r;
    /* Nothing leaves the buffer on its own: a batch waits a minute, and the
     * catch-up runs only at start. */
    persist_fixture_start(fx, &p, "persister-term", fx->stack.events_out, NULL, "--batch-ms", "60000", "--catchup-ms",
                          "3600000", NULL);
    persister_proc_wait_healthy(&p, fx->health, WAIT_MS);
    s_rush(fx, "rush-term", &r, NULL, NULL);
    assert_int_equal(persister_proc_count_lines(fx->path), 0); /* all held */
    persister_proc_stop(&p);
    assert_int_equal(persister_proc_count_lines(fx->path), TICKETS);
    s_check_file(fx, "rush-term", &r);
    th_rush_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_persister_running_through_the_rush_writes_200_lines_once_each,
                                        persist_fixture_setup, persist_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_b_persister_absent_during_the_rush_and_started_after_writes_all_200,
                                        persist_fixture_setup, persist_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_c_persister_killed_mid_rush_and_restarted_writes_all_200_none_twice,
                                        persist_fixture_setup, persist_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_d_events_dropped_on_purpose_are_caught_up_from_the_log_while_running,
                                        persist_fixture_setup, persist_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_flushes_the_orders_it_holds_stores_the_cursor_and_exits_0,
                                        persist_fixture_setup, persist_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
