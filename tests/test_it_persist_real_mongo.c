/*
 * test_it_persist_real_mongo.c - tix-persister against a real MongoDB, end to
 * end (real redis-server, broker, two workers, a 20,000-user rush for 200
 * tickets). Runs against the MongoDB that TIX_TEST_MONGO_URI names (a
 * replica set for w:majority to mean what it says; a standalone mongod works
 * too), else against a FerretDB of its own (deploy/ferretdb.sh), in a
 * database of its own that it drops afterwards. Every document is read back
 * with libmongoc and compared, field by field, with its order-log entry.
 * Reported as SKIPPED, never as passed, when neither a MongoDB nor Go (to
 * build FerretDB) is available.
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

#include <cmocka.h>
#include <mongoc/mongoc.h>

#include "ferretdb.h"
#include "harness.h"
#include "persist_fixture.h"
#include "persister_proc.h"
#include "rush.h"
#include "tix.h"
#include "tix_util.h"

#define TICKETS 200
#define USERS 20000
#define WAIT_MS 20000

static th_ferretdb_t s_ferret;

/* ---- With a real MongoDB ------------------------------------------------- */

typedef struct {
    mongoc_client_t *client;
    mongoc_collection_t *orders, *cursors;
    mongoc_database_t *db;
} s_real_t;

static int64_t
s_real_count(s_real_t *x, const char *sale)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "sale_id", sale);
    bson_error_t error;
    int64_t n = mongoc_collection_count_documents(x->orders, &filter, NULL, NULL, NULL, &error);
    bson_destroy(&filter);
    return n;
}

static bool
s_real_cursor_is(s_real_t *x, const char *sale, const char *log_id)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, "_id", sale);
    mongoc_cursor_t *c = mongoc_collection_find_with_opts(x->cursors, &filter, NULL, NULL);
    const bson_t *doc;
    bson_iter_t it;
    bool is = mongoc_cursor_next(c, &doc) && bson_iter_init_find(&it, doc, "log_id") && BSON_ITER_HOLDS_UTF8(&it) &&
              strcmp(bson_iter_utf8(&it, NULL), log_id) == 0;
    mongoc_cursor_destroy(c);
    bson_destroy(&filter);
    return is;
}

static bool
s_real_unique_index(s_real_t *x)
{
    mongoc_cursor_t *c = mongoc_collection_find_indexes_with_opts(x->orders, NULL);
    const bson_t *doc;
    bool found = false;
    while (mongoc_cursor_next(c, &doc)) {
        bson_iter_t it;
        const char *name = bson_iter_init_find(&it, doc, "name") ? bson_iter_utf8(&it, NULL) : "";
        if (strcmp(name, "sale_id_1_user_id_1") == 0)
            found = bson_iter_init_find(&it, doc, "unique") && bson_iter_as_bool(&it);
    }
    mongoc_cursor_destroy(c);
    return found;
}

static void
s_real_wait(s_real_t *x, const char *sale, const char *last)
{
    int64_t deadline = tix_now_ms() + WAIT_MS;
    while (tix_now_ms() < deadline && !(s_real_count(x, sale) == TICKETS && s_real_cursor_is(x, sale, last)))
        usleep(100000);
    assert_int_equal(s_real_count(x, sale), TICKETS);
    assert_true(s_real_cursor_is(x, sale, last));
}

static const char *
s_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        if (strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    }
    return "";
}

static const char *
s_doc_utf8(const bson_t *doc, const char *name)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, doc, name) && BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "(none)";
}

/* Every document of the collection equals its log entry, field by field;
 * the collection holds exactly the log's orders. */
static void
s_real_equal_to_log(s_real_t *x, const th_redis_t *redis, const char *sale)
{
    redisContext *c = th_redis_connect(redis);
    redisReply *log = redisCommand(c, "XRANGE tix:{%s}:log - +", sale);
    assert_true(log && log->type == REDIS_REPLY_ARRAY);
    assert_int_equal(log->elements, TICKETS);
    bson_t all = BSON_INITIALIZER;
    bson_error_t error;
    assert_int_equal(mongoc_collection_count_documents(x->orders, &all, NULL, NULL, NULL, &error), TICKETS);
    for (size_t i = 0; i < log->elements; i++) {
        const redisReply *e = log->element[i], *f = e->element[1];
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "_id", s_field(f, "order_id"));
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(x->orders, &filter, NULL, NULL);
        const bson_t *doc;
        assert_true(mongoc_cursor_next(cur, &doc));
        bson_iter_t it;
        assert_string_equal(s_doc_utf8(doc, "sale_id"), sale);
        assert_string_equal(s_doc_utf8(doc, "user_id"), s_field(f, "user_id"));
        assert_string_equal(s_doc_utf8(doc, "request_id"), s_field(f, "request_id"));
        assert_string_equal(s_doc_utf8(doc, "log_id"), e->element[0]->str);
        assert_true(bson_iter_init_find(&it, doc, "purchased_at") && BSON_ITER_HOLDS_DATE_TIME(&it));
        assert_int_equal(bson_iter_date_time(&it), strtoll(s_field(f, "purchased_at_ms"), NULL, 10));
        assert_true(bson_iter_init_find(&it, doc, "persisted_at") && BSON_ITER_HOLDS_DATE_TIME(&it));
        int fields = 0;
        assert_true(bson_iter_init(&it, doc));
        while (bson_iter_next(&it))
            fields++;
        assert_int_equal(fields, 7); /* _id sale_id user_id request_id purchased_at log_id persisted_at */
        assert_false(mongoc_cursor_next(cur, &doc));
        mongoc_cursor_destroy(cur);
        bson_destroy(&filter);
    }
    freeReplyObject(log);
    redisFree(c);
}

static void
test_real_mongodb_gets_every_order_of_a_rush_exactly_once_across_a_kill(void **state)
{
    persist_fixture_t *fx = *state;
    char uri[256], why[160], db[64], last[64];
    if (!th_mongo_uri_or_ferretdb(&s_ferret, uri, sizeof uri, why, sizeof why)) {
        fprintf(stderr, "no real MongoDB-wire server to test against: %s\n", why);
        skip();
    }
    fprintf(stderr, "server: %s%s\n", uri, s_ferret.running ? " (FerretDB, deploy/ferretdb.sh)" : "");
    snprintf(db, sizeof db, "tix_test_%d_%lld", (int) getpid(), (long long) tix_wall_ms());
    mongoc_init();
    s_real_t x = {mongoc_client_new(uri), NULL, NULL, NULL};
    assert_non_null(x.client);
    x.db = mongoc_client_get_database(x.client, db);
    x.orders = mongoc_client_get_collection(x.client, db, "orders");
    x.cursors = mongoc_client_get_collection(x.client, db, "cursors");
    th_proc_t p, p2;
    th_rush_t r;
    persist_fixture_start(fx, &p, "persister-real", fx->stack.events_out, uri, "--database", db, (char *) NULL);
    assert_true(persist_fixture_health_rewritten(fx, 0, WAIT_MS));
    assert_true(s_real_unique_index(&x));
    persist_fixture_rush(fx, "real", TICKETS, USERS, 4000, &r, NULL, NULL);
    persister_proc_last_log_id(&fx->stack.redis, "real", last, sizeof last);
    s_real_wait(&x, "real", last);
    /* Killed and started again: the whole log is there, nothing is added. */
    th_proc_stop(&p, SIGKILL, 1000);
    persist_fixture_start(fx, &p2, "persister-real-2", fx->stack.events_out, uri, "--database", db, (char *) NULL);
    assert_true(persist_fixture_health_rewritten(fx, persist_fixture_health_mtime(fx), WAIT_MS));
    s_real_wait(&x, "real", last);
    persister_proc_stop(&p2);
    s_real_equal_to_log(&x, &fx->stack.redis, "real");
    for (int i = 0; i < r.users; i++) {
        if (!r.order_of[i])
            continue;
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "_id", r.order_of[i]);
        bson_error_t error;
        assert_int_equal(mongoc_collection_count_documents(x.orders, &filter, NULL, NULL, NULL, &error), 1);
        bson_destroy(&filter);
    }
    bson_error_t error;
    mongoc_database_drop_with_opts(x.db, NULL, &error);
    mongoc_collection_destroy(x.cursors);
    mongoc_collection_destroy(x.orders);
    mongoc_database_destroy(x.db);
    mongoc_client_destroy(x.client);
    mongoc_cleanup();
    th_rush_free(&r);
}

/* The stack only where the test will run: it skips itself when it has
 * neither a MongoDB nor Go to build FerretDB. */
static int
s_setup(void **state)
{
    char why[160];
    if (!getenv("TIX_TEST_MONGO_URI") && !th_ferretdb_available(why, sizeof why))
        return persist_fixture_setup_idle(state);
    return persist_fixture_setup(state);
}

static int
s_teardown(void **state)
{
    th_ferretdb_stop(&s_ferret, "TERM");
    return persist_fixture_teardown(state);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_real_mongodb_gets_every_order_of_a_rush_exactly_once_across_a_kill,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
