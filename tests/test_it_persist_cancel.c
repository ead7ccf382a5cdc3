/*
 * test_it_persist_cancel.c - cancellations reach the sink exactly once, on
 * the order's document: a real redis-server whose order log gets 250
 * purchase and 50 cancel entries by XADD (as the worker's Lua writes them),
 * events from this test's XPUB (some dropped on purpose, one forged), the
 * persister library in this process, restarted between the purchases and
 * the cancels, and a real MongoDB-wire server (TIX_TEST_MONGO_URI, else a
 * FerretDB of its own; skipped without either) or the jsonl sink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mongoc/mongoc.h>

#include "cancel_log.h"
#include "ferretdb.h"
#include "persister_jsonl.h"
#include "persister_mongo.h"
#include "tix_util.h"

#define PURCHASES 250
#define CANCELS 50
#define BATCH_MAX 50 /* FerretDB stalls on a replayed bulk of 100 (docs/PERSISTENCE.md) */

/* ---- The sink under test ------------------------------------------------- */

typedef struct {
    cancel_log_t *log; /* borrowed: the test's orders and world */
    const char *kind;  /* "mongodb" or "jsonl" */
    char uri[256], db[64], path[300];
    mongoc_client_t *client;
    mongoc_collection_t *orders, *cursors;
} s_sink_t;

static persister_sink_t *
s_sink_open(s_sink_t *s)
{
    char why[256];
    persister_sink_t *sink = strcmp(s->kind, "jsonl") == 0
                                 ? persister_jsonl_new(s->path, why, sizeof why)
                                 : persister_mongo_new(s->uri, s->db, PERSISTER_W_MAJORITY, 5000, why, sizeof why);
    if (!sink)
        fail_msg("sink: %s", why);
    return sink;
}

/* What the sink holds: documents (jsonl: purchase lines), cancelled ones
 * (jsonl: cancel lines), each checked against the log's orders. */
typedef struct {
    int docs, cancelled, twice, wrong;
} s_held_t;

static bool
s_doc_matches(const bson_t *doc, const cancel_log_order_t *o, bool cancel_line)
{
    bson_iter_t it;
    bool ok = bson_iter_init_find(&it, doc, "user_id") && strcmp(bson_iter_utf8(&it, NULL), o->user_id) == 0 &&
              bson_iter_init_find(&it, doc, "request_id") && strcmp(bson_iter_utf8(&it, NULL), o->request_id) == 0 &&
              bson_iter_init_find(&it, doc, "purchased_at") && bson_iter_date_time(&it) == o->purchased_at_ms;
    /* MongoDB: the purchase's log_id, whichever of the two writes came
     * first; jsonl: a purchase line has it, a cancel line does not. */
    if (!cancel_line)
        ok = ok && bson_iter_init_find(&it, doc, "log_id") && strcmp(bson_iter_utf8(&it, NULL), o->log_id) == 0;
    if (!bson_iter_init_find(&it, doc, "cancelled_at"))
        return ok && !cancel_line;
    return ok && o->cancel_log_id[0] && bson_iter_date_time(&it) == o->cancelled_at_ms &&
           bson_iter_init_find(&it, doc, "cancel_reason") && strcmp(bson_iter_utf8(&it, NULL), o->reason) == 0 &&
           bson_iter_init_find(&it, doc, "cancel_log_id") && strcmp(bson_iter_utf8(&it, NULL), o->cancel_log_id) == 0;
}

/* One document (a MongoDB one, or a jsonl line) into held; seen counts
 * each _id (jsonl: per kind of line). */
static void
s_take(const s_sink_t *s, const bson_t *doc, bool jsonl, zhashx_t *seen, s_held_t *held)
{
    bson_iter_t it;
    bool cancelled = bson_iter_init_find(&it, doc, "cancelled_at");
    const char *id = bson_iter_init_find(&it, doc, "_id") ? bson_iter_utf8(&it, NULL) : "";
    char key[128];
    snprintf(key, sizeof key, "%s%s", id, jsonl && cancelled ? " cancelled" : "");
    held->twice += zhashx_lookup(seen, key) != NULL;
    zhashx_update(seen, key, (void *) 1);
    const cancel_log_order_t *o = cancel_log_find(s->log, id);
    bool cancel_line = jsonl && cancelled;
    if (!o || !s_doc_matches(doc, o, cancel_line) || (!jsonl && cancelled != (o->cancel_log_id[0] != 0)))
        held->wrong++;
    held->docs += !cancel_line;
    held->cancelled += cancelled;
}

static void
s_held(s_sink_t *s, s_held_t *held)
{
    memset(held, 0, sizeof *held);
    zhashx_t *seen = zhashx_new();
    if (strcmp(s->kind, "jsonl") == 0) {
        FILE *f = fopen(s->path, "r");
        char line[4096];
        while (f && fgets(line, sizeof line, f)) {
            bson_t doc;
            bson_error_t error;
            assert_true(bson_init_from_json(&doc, line, -1, &error));
            s_take(s, &doc, true, seen, held);
            bson_destroy(&doc);
        }
        if (f)
            fclose(f);
    } else {
        bson_t all = BSON_INITIALIZER;
        mongoc_cursor_t *c = mongoc_collection_find_with_opts(s->orders, &all, NULL, NULL);
        const bson_t *doc;
        while (mongoc_cursor_next(c, &doc))
            s_take(s, doc, false, seen, held);
        mongoc_cursor_destroy(c);
        bson_destroy(&all);
    }
    zhashx_destroy(&seen);
}

/* Steps p until the sink holds docs documents, cancelled of them
 * cancelled, nothing is held, and (when mismatched >= 0) that many events
 * were found wrong. */
static void
s_run_until(persister_t *p, s_sink_t *s, int docs, int cancelled, int mismatched)
{
    int64_t deadline = tix_now_ms() + WIRE_WORLD_RUN_TIMEOUT_MS;
    s_held_t held = {0};
    while (tix_now_ms() < deadline) {
        persister_step(p, 20);
        if (persister_held(p) > 0 || (mismatched >= 0 && persister_stats(p)->mismatched < (uint64_t) mismatched))
            continue;
        s_held(s, &held);
        if (held.docs >= docs && held.cancelled >= cancelled)
            break;
    }
    fprintf(stderr, "%s: docs=%d cancelled=%d twice=%d wrong=%d written=%llu cancels=%llu mismatched=%llu\n", s->kind,
            held.docs, held.cancelled, held.twice, held.wrong, (unsigned long long) persister_stats(p)->written,
            (unsigned long long) persister_stats(p)->cancels, (unsigned long long) persister_stats(p)->mismatched);
    assert_int_equal(held.docs, docs);
    assert_int_equal(held.cancelled, cancelled);
    assert_int_equal(held.twice, 0);
    assert_int_equal(held.wrong, 0);
}

/* ---- The scenario -------------------------------------------------------- */

static void
s_cancel_scenario(s_sink_t *s)
{
    const char *sale = "cx";
    cancel_log_t *l = s->log;
    cancel_log_order_t *orders = l->orders;
    /* The persister down: 100 purchases and the cancels of 10 of them, so
     * that both kinds come in one page and one write. */
    cancel_log_buy(l, sale, 0, 100);
    cancel_log_cancel(l, sale, 0, 10);
    persister_t *p = cancel_log_persister_new(s->log, s_sink_open(s), BATCH_MAX);
    wire_world_wait_subscribed(s->log->world, p);
    s_run_until(p, s, 100, 10, -1);
    /* 150 more purchases, the event of every other one dropped. */
    cancel_log_buy(l, sale, 100, PURCHASES);
    for (int i = 100; i < PURCHASES; i += 2)
        cancel_log_event(l, sale, &orders[i], false, orders[i].log_id);
    s_run_until(p, s, PURCHASES, 10, 0);
    /* 20 cancels, half of their events dropped; then the persister dies
     * (no drain), and 20 more cancels come with no event at all. */
    cancel_log_cancel(l, sale, 10, 30);
    for (int i = 10; i < 30; i += 2)
        cancel_log_event(l, sale, &orders[i], true, orders[i].cancel_log_id);
    s_run_until(p, s, PURCHASES, 30, 0);
    persister_destroy(&p);
    cancel_log_cancel(l, sale, 30, CANCELS);
    p = cancel_log_persister_new(s->log, s_sink_open(s), BATCH_MAX);
    wire_world_wait_subscribed(s->log->world, p);
    /* A forged cancel of a live order, naming an entry the log does not
     * have: nothing is written from it, and it is counted. */
    cancel_log_order_t forged = orders[200];
    forged.cancelled_at_ms = CANCEL_LOG_CANCELLED_AT;
    snprintf(forged.reason, sizeof forged.reason, "forged");
    cancel_log_event(l, sale, &forged, true, "99999999999999-0");
    s_run_until(p, s, PURCHASES, CANCELS, 1);
    assert_int_equal(persister_drain(p, 5000), TIX_OK);
    assert_int_equal(persister_stats(p)->mismatched, 1);
    persister_destroy(&p);
}

/* The whole log again (MongoDB: the cursors removed; jsonl: a restart on
 * the stored cursors): the purchases' replay leaves every cancel as it is. */
static void
s_replay(s_sink_t *s)
{
    if (strcmp(s->kind, "jsonl") != 0) {
        bson_error_t error;
        assert_true(mongoc_collection_drop_with_opts(s->cursors, NULL, &error));
    }
    persister_t *p = cancel_log_persister_new(s->log, s_sink_open(s), BATCH_MAX);
    wire_world_wait_subscribed(s->log->world, p);
    int64_t deadline = tix_now_ms() + WIRE_WORLD_RUN_TIMEOUT_MS;
    while (persister_stats(p)->catchups < 2 && tix_now_ms() < deadline)
        persister_step(p, 20);
    assert_int_equal(persister_drain(p, 5000), TIX_OK);
    fprintf(stderr, "%s replay: written=%llu cancels=%llu\n", s->kind, (unsigned long long) persister_stats(p)->written,
            (unsigned long long) persister_stats(p)->cancels);
    if (strcmp(s->kind, "jsonl") != 0)
        assert_int_equal(persister_stats(p)->written, PURCHASES + CANCELS);
    persister_destroy(&p);
    s_held_t held;
    s_held(s, &held);
    assert_int_equal(held.docs, PURCHASES);
    assert_int_equal(held.cancelled, CANCELS);
    assert_int_equal(held.twice, 0);
    assert_int_equal(held.wrong, 0);
}

static void
test_jsonl_records_50_cancels_of_250_orders_once_across_a_restart_and_dropped_events(void **state)
{
    static int serial;
    s_sink_t s = {.log = *state, .kind = "jsonl"};
    snprintf(s.path, sizeof s.path, "%s/cancel-%d.jsonl", th_tmpdir(), ++serial);
    s_cancel_scenario(&s);
    s_replay(&s);
}

static void
test_real_mongodb_records_50_cancels_of_250_orders_once_across_a_restart_and_a_replay(void **state)
{
    char why[160];
    s_sink_t s = {.log = *state, .kind = "mongodb"};
    if (!th_mongo_uri_or_ferretdb(&s.log->ferret, s.uri, sizeof s.uri, why, sizeof why)) {
        fprintf(stderr, "no real MongoDB-wire server to test against: %s\n", why);
        skip();
    }
    snprintf(s.db, sizeof s.db, "tix_cancel_%d_%lld", (int) getpid(), (long long) tix_wall_ms());
    s.client = mongoc_client_new(s.uri);
    assert_non_null(s.client);
    s.orders = mongoc_client_get_collection(s.client, s.db, "orders");
    s.cursors = mongoc_client_get_collection(s.client, s.db, "cursors");
    s_cancel_scenario(&s);
    s_replay(&s);
    mongoc_database_t *db = mongoc_client_get_database(s.client, s.db);
    bson_error_t error;
    mongoc_database_drop_with_opts(db, NULL, &error);
    mongoc_database_destroy(db);
    mongoc_collection_destroy(s.cursors);
    mongoc_collection_destroy(s.orders);
    mongoc_client_destroy(s.client);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_jsonl_records_50_cancels_of_250_orders_once_across_a_restart_and_dropped_events, cancel_log_setup,
            cancel_log_teardown),
        cmocka_unit_test_setup_teardown(
            test_real_mongodb_records_50_cancels_of_250_orders_once_across_a_restart_and_a_replay, cancel_log_setup,
            cancel_log_teardown),
    };
    return cmocka_run_group_tests(tests, wire_world_group_setup, wire_world_group_teardown);
}
