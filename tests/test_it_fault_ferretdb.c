/*
 * test_it_fault_ferretdb.c - tix-persister against a real MongoDB-wire
 * server that the test kills, stops and restarts: FerretDB (SQLite) through
 * deploy/ferretdb.sh, with real redis-server, broker and two workers.
 *   - FerretDB SIGKILLed mid-flush and restarted on the same state
 *     directory: no order lost, none twice, and the stored cursor is never
 *     ahead of the orders the server holds (checked every POLL_MS);
 *   - FerretDB down for 10 s during a rush: the rush does not notice, the
 *     persister backs off, the backlog drains after the restart;
 *   - the unique index is there after start-up, and replaying the whole log
 *     (cursor removed) leaves the collection byte for byte unchanged;
 *   - an order the server can never store (a 17 MiB user id put in the
 *     order log) is logged once with its id, counted, and does not stop the
 *     orders behind it or hold the cursor back.
 * Reported as SKIPPED, never passed, when Go (to build FerretDB) is absent
 * (TIX_TEST_MONGO_URI is not used: these tests kill their server).
 *
 * The persister runs with --batch-max 50: FerretDB 1.24 keeps one SQLite
 * connection per matched upsert of an update command until the command
 * ends, from a pool of 100, so a replayed bulk of 100 or more stalls it for
 * good (docs/PERSISTENCE.md). The test polls every POLL_MS, not every
 * 10 ms: each poll is a few queries on the server under test.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mongoc/mongoc.h>

#include "fault.h"
#include "ferretdb.h"
#include "harness.h"
#include "persister_proc.h"
#include "tix.h"
#include "tix_util.h"

#define DB "tix_fault"
#define POLL_MS 150    /* between two looks at the server */
#define BATCH_MAX "50" /* below FerretDB's 100 connections per database */

static th_stack_t s_stack;
static th_ferretdb_t s_ferret;
static th_proc_t s_persister;
static mongoc_client_t *s_client;
static int s_cursor_ahead; /* polls that saw the cursor ahead of the orders */

static int
s_setup(void **state)
{
    (void) state;
    char why[160];
    if (!th_ferretdb_available(why, sizeof why))
        return 0; /* each test skips itself */
    static int serial;
    char name[32];
    snprintf(name, sizeof name, "ferretdb-%d", ++serial);
    if (!th_ferretdb_start(&s_ferret, name))
        return -1;
    if (!th_stack_start(&s_stack, 2, NULL)) {
        th_ferretdb_stop(&s_ferret, "TERM");
        return -1;
    }
    char uri[sizeof s_ferret.uri + 64];
    /* Keep trying while the server restarts instead of a 5 s cooldown. */
    snprintf(uri, sizeof uri, "%s?serverSelectionTryOnce=false&serverSelectionTimeoutMS=1000", s_ferret.uri);
    s_client = mongoc_client_new(uri);
    s_cursor_ahead = 0;
    memset(&s_persister, 0, sizeof s_persister);
    return s_client ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    if (!s_client)
        return 0; /* skipped: nothing was started */
    fprintf(stderr, "logs: %s (kept with TIX_TEST_KEEP=1)\n", th_tmpdir());
    th_proc_stop(&s_persister, SIGTERM, 15000);
    mongoc_client_destroy(s_client);
    s_client = NULL;
    th_ferretdb_stop(&s_ferret, "TERM");
    th_stack_stop(&s_stack);
    return 0;
}

static void
s_skip_without_ferretdb(void)
{
    char why[160];
    if (!th_ferretdb_available(why, sizeof why)) {
        fprintf(stderr, "no real MongoDB-wire server to test against: %s\n", why);
        skip();
    }
}

static void
s_persister_start(const char *name)
{
    const char *args[] = {"--events-out",
                          s_stack.events_out,
                          "--redis-url",
                          s_stack.redis.url,
                          "--mongo-uri",
                          s_ferret.uri,
                          "--database",
                          DB,
                          "--catchup-ms",
                          "300",
                          "--batch-max",
                          BATCH_MAX,
                          NULL};
    persister_proc_start(&s_persister, name, args, NULL);
}

static mongoc_collection_t *
s_coll(const char *name)
{
    return mongoc_client_get_collection(s_client, DB, name);
}

static int64_t
s_count(const char *sale)
{
    mongoc_collection_t *c = s_coll("orders");
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "sale_id", sale);
    bson_error_t error;
    int64_t n = mongoc_collection_count_documents(c, &filter, NULL, NULL, NULL, &error);
    bson_destroy(&filter);
    mongoc_collection_destroy(c);
    return n;
}

/* The sale's stored cursor into buf ("" when none or unreadable). */
static void
s_cursor(const char *sale, char *buf, size_t size)
{
    mongoc_collection_t *c = s_coll("cursors");
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", sale);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, NULL, NULL);
    const bson_t *doc;
    bson_iter_t it;
    buf[0] = '\0';
    if (mongoc_cursor_next(cur, &doc) && bson_iter_init_find(&it, doc, "log_id") && BSON_ITER_HOLDS_UTF8(&it))
        snprintf(buf, size, "%s", bson_iter_utf8(&it, NULL));
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(c);
}

/* Every _id of the sale's orders, as a set. NULL when the server does not
 * answer. */
static zhashx_t *
s_ids(const char *sale)
{
    mongoc_collection_t *c = s_coll("orders");
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "sale_id", sale);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, NULL, NULL);
    zhashx_t *ids = zhashx_new();
    const bson_t *doc;
    bson_iter_t it;
    bson_error_t error;
    while (mongoc_cursor_next(cur, &doc)) {
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_UTF8(&it))
            zhashx_insert(ids, bson_iter_utf8(&it, NULL), (void *) 1);
    }
    if (mongoc_cursor_error(cur, &error))
        zhashx_destroy(&ids);
    mongoc_cursor_destroy(cur);
    bson_destroy(&filter);
    mongoc_collection_destroy(c);
    return ids;
}

/* Log entries of sale up to the stored cursor whose order the server does
 * not hold: a cursor ahead of the data (-1 when the server does not
 * answer). The cursor is read first, the orders after. */
static int
s_missing_behind_cursor(const char *sale)
{
    char cursor[64];
    s_cursor(sale, cursor, sizeof cursor);
    if (!cursor[0])
        return 0;
    zhashx_t *ids = s_ids(sale);
    if (!ids)
        return -1;
    redisContext *c = th_redis_connect(&s_stack.redis);
    redisReply *r = redisCommand(c, "XRANGE tix:{%s}:log - %s", sale, cursor);
    int missing = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *f = r->element[i]->element[1];
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (strcmp(f->element[k]->str, "order_id") == 0 && !zhashx_lookup(ids, f->element[k + 1]->str))
                missing++;
        }
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    zhashx_destroy(&ids);
    return missing;
}

/* For on_tick callbacks (every ~10 ms): true once per POLL_MS. */
static bool
s_poll_due(int64_t *last_ms)
{
    int64_t now = tix_now_ms();
    if (now - *last_ms < POLL_MS)
        return false;
    *last_ms = now;
    return true;
}

typedef struct {
    const char *sale;
    long long expected;
    char last[64]; /* the log's last id */
} s_done_t;

/* Every order of the log is in the server and the cursor is at the log's
 * end; meanwhile, the cursor is never ahead of the orders. */
static bool
s_all_stored(void *arg)
{
    s_done_t *d = arg;
    if (s_missing_behind_cursor(d->sale) > 0)
        s_cursor_ahead++;
    char cursor[64];
    s_cursor(d->sale, cursor, sizeof cursor);
    return s_count(d->sale) == d->expected && strcmp(cursor, d->last) == 0;
}

/* After a rush on sale: every order of the log in the server exactly once,
 * none it does not know, the cursor at the end. */
static void
s_check_exactly_once(const char *sale, const tf_rush_result_t *r, int timeout_ms)
{
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&s_stack.redis, sale, &f));
    assert_int_equal(tf_check_invariants(sale, &f, f.total, r), 0);
    s_done_t d = {sale, f.log_len, ""};
    persister_proc_last_log_id(&s_stack.redis, sale, d.last, sizeof d.last);
    int64_t took = tf_wait_every(s_all_stored, &d, timeout_ms, POLL_MS);
    fprintf(stderr, "every order stored %lld ms after the rush; cursor ahead seen %d times\n", (long long) took,
            s_cursor_ahead);
    assert_true(took >= 0);
    zhashx_t *ids = s_ids(sale);
    assert_non_null(ids);
    int unknown = 0;
    for (void *v = zhashx_first(ids); v; v = zhashx_next(ids))
        unknown += zhashx_lookup(f.user_of, zhashx_cursor(ids)) == NULL;
    assert_int_equal((long long) zhashx_size(ids), f.log_len);
    assert_int_equal((long long) s_count(sale), f.log_len); /* _id is unique: distinct == documents */
    assert_int_equal(unknown, 0);
    assert_int_equal(s_cursor_ahead, 0);
    zhashx_destroy(&ids);
    tf_sale_facts_free(&f);
}

/* ---- SIGKILL mid-flush -------------------------------------------------- */

typedef struct {
    const char *sale;
    bool killed;
    int64_t stored_at_kill;
    int64_t polled_ms;
} s_kill_t;

static void
s_kill_mid_flush(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_kill_t *k = arg;
    (void) elapsed_ms;
    if (!s_poll_due(&k->polled_ms))
        return;
    if (s_missing_behind_cursor(k->sale) > 0)
        s_cursor_ahead++;
    if (k->killed || progress->purchased < 150)
        return;
    k->stored_at_kill = s_count(k->sale);
    th_ferretdb_stop(&s_ferret, "KILL");
    k->killed = true;
    assert_true(th_ferretdb_restart(&s_ferret));
}

static void
test_ferretdb_killed_mid_flush_and_restarted_no_order_lost_none_twice_cursor_never_ahead(void **state)
{
    (void) state;
    s_skip_without_ferretdb();
    const char *sale = "fdb-kill";
    s_persister_start("persister-kill");
    assert_true(tf_create_sale(s_stack.frontend, sale, 400));
    s_kill_t k = {sale, false, 0, 0};
    tf_rush_opts_t o = {.frontend = s_stack.frontend,
                        .sale = sale,
                        .users = 400,
                        .window = 100,
                        .rate = 200,
                        .on_tick = s_kill_mid_flush,
                        .arg = &k};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    fprintf(stderr, "ferretdb SIGKILLed with %lld of the orders stored, restarted on the same state directory\n",
            (long long) k.stored_at_kill);
    assert_true(k.killed);
    assert_true(k.stored_at_kill > 0 && k.stored_at_kill < 400); /* mid-flush, not before or after */
    s_check_exactly_once(sale, &r, 30000);
    tf_rush_free(&r);
}

/* ---- Down for 10 s ------------------------------------------------------ */

typedef struct {
    int64_t down_at, up_at;
    pthread_t stopper, starter; /* the rush loop never waits for them */
    bool restarted;
} s_outage_t;

static void *
s_stop_thread(void *arg)
{
    (void) arg;
    th_ferretdb_stop(&s_ferret, "TERM");
    return NULL;
}

static void *
s_restart_thread(void *arg)
{
    s_outage_t *o = arg;
    o->restarted = th_ferretdb_restart(&s_ferret);
    return NULL;
}

static void
s_outage(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_outage_t *o = arg;
    if (!o->down_at && progress->purchased >= 50) {
        assert_int_equal(pthread_create(&o->stopper, NULL, s_stop_thread, NULL), 0);
        o->down_at = elapsed_ms;
    } else if (o->down_at && !o->up_at && elapsed_ms - o->down_at >= 10000) {
        pthread_join(o->stopper, NULL); /* long stopped: a TERM takes well under 10 s */
        assert_int_equal(pthread_create(&o->starter, NULL, s_restart_thread, o), 0);
        o->up_at = elapsed_ms;
    }
}

static void
test_ferretdb_down_for_10_s_during_a_rush_persister_backs_off_rush_unaffected_backlog_drains(void **state)
{
    (void) state;
    s_skip_without_ferretdb();
    const char *sale = "fdb-down";
    s_persister_start("persister-down");
    assert_true(tf_create_sale(s_stack.frontend, sale, 700));
    s_outage_t out = {0};
    tf_rush_opts_t o = {.frontend = s_stack.frontend,
                        .sale = sale,
                        .users = 700,
                        .window = 100,
                        .rate = 50,
                        .on_tick = s_outage,
                        .arg = &out};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    if (out.up_at)
        pthread_join(out.starter, NULL);
    tf_rush_print(sale, &r);
    fprintf(stderr, "ferretdb down from %lld ms to %lld ms of the rush; longest wait for an answer %lld ms\n",
            (long long) out.down_at, (long long) out.up_at, (long long) r.longest_silence_ms);
    assert_true(out.down_at > 0 && out.up_at - out.down_at >= 10000);
    assert_true(out.restarted);
    /* Purchases never wait for the database: no gap near the outage. */
    assert_true(r.longest_silence_ms < 5000);
    assert_int_equal(r.purchased, 700);
    assert_int_equal(r.other, 0);
    s_check_exactly_once(sale, &r, 30000);
    assert_int_equal(th_proc_stop(&s_persister, SIGTERM, 15000), 0);
    int outages = tf_log_count(s_persister.log, "sink not answering");
    int failures = tf_log_count(s_persister.log, "msg=\"mongodb ");
    fprintf(stderr, "persister: outages logged %d, failed mongodb calls logged %d, back %d\n", outages, failures,
            tf_log_count(s_persister.log, "sink answering again"));
    assert_int_equal(outages, 1);
    assert_true(tf_log_count(s_persister.log, "sink answering again") >= 1);
    /* Backoff: doubling from 50 ms to 5 s makes ~10 attempts in 10 s; a
     * persister without it would fail thousands of times. */
    assert_true(failures > 0 && failures <= 40);
    tf_rush_free(&r);
}

/* ---- Unique index and a replayed batch --------------------------------- */

/* The whole collection as canonical extended JSON, in _id order. */
static char *
s_snapshot(void)
{
    mongoc_collection_t *c = s_coll("orders");
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, sort;
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, "_id", 1);
    bson_append_document_end(&opts, &sort);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, &filter, &opts, NULL);
    bson_string_t *all = bson_string_new("");
    const bson_t *doc;
    while (mongoc_cursor_next(cur, &doc)) {
        char *json = bson_as_canonical_extended_json(doc, NULL);
        bson_string_append(all, json);
        bson_string_append(all, "\n");
        bson_free(json);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    bson_destroy(&filter);
    mongoc_collection_destroy(c);
    return bson_string_free(all, false);
}

static bool
s_unique_index(void *arg)
{
    (void) arg;
    mongoc_collection_t *c = s_coll("orders");
    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(c, NULL);
    const bson_t *doc;
    bool found = false;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "name") && BSON_ITER_HOLDS_UTF8(&it) &&
            strcmp(bson_iter_utf8(&it, NULL), "sale_id_1_user_id_1") == 0)
            found = bson_iter_init_find(&it, doc, "unique") && bson_iter_as_bool(&it);
    }
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(c);
    return found;
}

static void
test_ferretdb_unique_index_after_start_up_and_a_replayed_log_leaves_the_collection_unchanged(void **state)
{
    (void) state;
    s_skip_without_ferretdb();
    const char *sale = "fdb-replay";
    s_persister_start("persister-replay-1");
    assert_true(tf_wait_every(s_unique_index, NULL, 10000, POLL_MS) >= 0); /* before any order */
    assert_true(tf_create_sale(s_stack.frontend, sale, 200));
    tf_rush_opts_t o = {.frontend = s_stack.frontend, .sale = sale, .users = 400, .window = 100};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    s_check_exactly_once(sale, &r, 20000);
    assert_int_equal(th_proc_stop(&s_persister, SIGTERM, 15000), 0);
    char *before = s_snapshot();

    /* Without its cursor the persister reads the whole log again and
     * writes every order a second time. */
    mongoc_collection_t *cursors = s_coll("cursors");
    bson_t all = BSON_INITIALIZER;
    bson_error_t error;
    assert_true(mongoc_collection_delete_many(cursors, &all, NULL, NULL, &error));
    mongoc_collection_destroy(cursors);
    s_persister_start("persister-replay-2");
    s_check_exactly_once(sale, &r, 20000);
    assert_int_equal(th_proc_stop(&s_persister, SIGTERM, 15000), 0);
    long rewritten = tf_log_last(s_persister.log, "persister stopped", "written");
    char *after = s_snapshot();
    fprintf(stderr, "replay: %ld orders written again; collection %zu bytes before, %zu after\n", rewritten,
            strlen(before), strlen(after));
    assert_int_equal(rewritten, 200);
    assert_true(s_unique_index(NULL));
    assert_string_equal(after, before);
    bson_free(after);
    bson_free(before);
    tf_rush_free(&r);
}

/* ---- A write the server refuses for good -------------------------------- */

static void
test_ferretdb_refusing_an_order_for_good_logged_once_counted_and_the_rest_stored(void **state)
{
    (void) state;
    s_skip_without_ferretdb();
    const char *sale = "fdb-refuse";
    assert_true(tf_create_sale(s_stack.frontend, sale, 50));
    s_persister_start("persister-refuse");
    tf_rush_opts_t o = {.frontend = s_stack.frontend, .sale = sale, .users = 50, .window = 50};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    assert_int_equal(r.purchased, 50);
    /* Then, after the sale is over (a worker would see a log its buyers
     * do not match), an entry no server stores (17 MiB > the 16 MiB
     * document limit) and a normal one behind it. */
    size_t big = 17u << 20;
    char *user = malloc(big + 1);
    assert_non_null(user);
    memset(user, 'u', big);
    user[big] = '\0';
    redisContext *c = th_redis_connect(&s_stack.redis);
    redisReply *x = redisCommand(c,
                                 "XADD tix:{%s}:log * order_id big-order-1 sale_id %s user_id %s request_id r "
                                 "purchased_at_ms 1700000000000",
                                 sale, sale, user);
    assert_true(x && x->type == REDIS_REPLY_STRING);
    freeReplyObject(x);
    x = redisCommand(c,
                     "XADD tix:{%s}:log * order_id after-big-1 sale_id %s user_id after-big request_id r2 "
                     "purchased_at_ms 1700000000001",
                     sale, sale);
    assert_true(x && x->type == REDIS_REPLY_STRING);
    freeReplyObject(x);
    redisFree(c);
    free(user);
    s_done_t d = {sale, 51, ""};
    persister_proc_last_log_id(&s_stack.redis, sale, d.last, sizeof d.last);
    int64_t took = tf_wait_every(s_all_stored, &d, 20000, POLL_MS); /* the cursor passes the refused order */
    fprintf(stderr, "the 50 orders and the one behind the refused one stored, cursor at the end, in %lld ms\n",
            (long long) took);
    assert_true(took >= 0);
    /* The stored cursor is past it: no later pass or restart reads it
     * again, so it is never retried. */
    assert_int_equal(th_proc_stop(&s_persister, SIGTERM, 15000), 0);
    int logged = tf_log_count(s_persister.log, "order=big-order-1");
    long refused = tf_log_last(s_persister.log, "persister stopped", "refused");
    fprintf(stderr, "refused order: logged %d times, refused=%ld\n", logged, refused);
    assert_int_equal(logged, 1);
    assert_int_equal(tf_log_count(s_persister.log, "level=error"), 1);
    assert_int_equal(refused, 1);
    assert_int_equal(s_count(sale), 51);
    tf_rush_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_ferretdb_killed_mid_flush_and_restarted_no_order_lost_none_twice_cursor_never_ahead, s_setup,
            s_teardown),
        cmocka_unit_test_setup_teardown(
            test_ferretdb_down_for_10_s_during_a_rush_persister_backs_off_rush_unaffected_backlog_drains, s_setup,
            s_teardown),
        cmocka_unit_test_setup_teardown(
            test_ferretdb_unique_index_after_start_up_and_a_replayed_log_leaves_the_collection_unchanged, s_setup,
            s_teardown),
        cmocka_unit_test_setup_teardown(
            test_ferretdb_refusing_an_order_for_good_logged_once_counted_and_the_rest_stored, s_setup, s_teardown),
    };
    /* Once per process: libmongoc cannot be initialised again after its
     * cleanup (its handshake data stays freed). */
    mongoc_init();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    mongoc_cleanup();
    return failed;
}
