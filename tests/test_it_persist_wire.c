/*
 * test_it_persist_wire.c - what the persister sends MongoDB, at the wire
 * level: the real persister library (in this process), a real redis-server
 * holding the order logs, events from this test's XPUB, and python3-mockupdb
 * (tests/mockupdb/mock_mongo.py) recording every command. The failures are
 * in test_it_persist_wire_faults.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mockupdb.h"
#include "persister.h"
#include "tix_util.h"
#include "wire_world.h"

/* ---- Tests --------------------------------------------------------------- */

/* The write commands on orders: unordered, majority, upserts keyed by _id. */
typedef struct {
    int commands;
    int statements;
    int bad; /* statements or commands that are not what they should be */
    char wc[16];
} s_shape_t;

static bool
s_statement_ok(bson_iter_t *st)
{
    bson_iter_t it, q;
    bson_t doc;
    uint32_t len;
    const uint8_t *data;
    if (!BSON_ITER_HOLDS_DOCUMENT(st))
        return false;
    bson_iter_document(st, &len, &data);
    if (!bson_init_static(&doc, data, len))
        return false;
    const char *id = mu_str(&doc, "q._id"), *sale = mu_str(&doc, "q.sale_id"), *user = mu_str(&doc, "q.user_id");
    bool ok = id && sale && user && strncmp(id, sale, strlen(sale)) == 0 && id[strlen(sale)] == ':';
    ok = ok && bson_iter_init_find(&it, &doc, "upsert") && bson_iter_as_bool(&it);
    ok = ok && mu_str(&doc, "u.$setOnInsert.request_id") && mu_str(&doc, "u.$setOnInsert.log_id");
    ok = ok && bson_iter_init(&q, &doc) && bson_iter_find_descendant(&q, "u.$setOnInsert.purchased_at", &it) &&
         BSON_ITER_HOLDS_DATE_TIME(&it) && bson_iter_date_time(&it) > 1700000000000LL;
    ok = ok && bson_iter_init(&q, &doc) && bson_iter_find_descendant(&q, "u.$setOnInsert.persisted_at", &it) &&
         BSON_ITER_HOLDS_DATE_TIME(&it);
    ok = ok && !(bson_iter_init(&q, &doc) && bson_iter_find_descendant(&q, "u.$set", &it));
    return ok;
}

static void
s_shape(const bson_t *line, void *arg)
{
    s_shape_t *shape = arg;
    bson_iter_t it, st;
    if (!mu_is(line, "update", "orders"))
        return;
    shape->commands++;
    if (!bson_iter_init(&it, line) || !bson_iter_find_descendant(&it, "doc.ordered", &st) || bson_iter_as_bool(&st))
        shape->bad++;
    bson_iter_init(&it, line);
    if (bson_iter_find_descendant(&it, "doc.writeConcern.w", &st)) {
        if (BSON_ITER_HOLDS_UTF8(&st))
            snprintf(shape->wc, sizeof shape->wc, "%s", bson_iter_utf8(&st, NULL));
        else
            snprintf(shape->wc, sizeof shape->wc, "%d", (int) bson_iter_as_int64(&st));
    }
    bson_iter_init(&it, line);
    if (!bson_iter_find_descendant(&it, "doc.updates", &st) || !bson_iter_recurse(&st, &it)) {
        shape->bad++;
        return;
    }
    while (bson_iter_next(&it)) {
        shape->statements++;
        shape->bad += !s_statement_ok(&it);
    }
}

static void
test_orders_are_sent_as_unordered_bulk_upserts_keyed_by_order_id_with_write_concern_majority(void **state)
{
    wire_world_t *w = *state;
    wire_world_order_t orders[40];
    wire_world_seen_t seen = {0};
    persister_stats_t stats;
    mu_t m;
    wire_world_scenario(w, &m, "shape", 40, NULL, NULL, &seen, &stats, orders);
    wire_world_assert_each_once(&seen, orders, 40, -1);
    assert_int_equal(stats.written, 40);
    assert_int_equal(stats.write_failures, 0);
    s_shape_t shape = {0};
    mu_each(&m, s_shape, &shape);
    assert_true(shape.commands >= 1);
    assert_int_equal(shape.statements, 40); /* events wrote them all; the catch-up found nothing to rewrite */
    assert_int_equal(shape.bad, 0);
    assert_string_equal(shape.wc, "majority");
    wire_world_seen_free(&seen);
}

/* The createIndexes command: unique (sale_id, user_id), majority, first. */
typedef struct {
    int index_seq, first_write_seq;
    bool key_ok, unique, majority;
} s_index_t;

static void
s_index(const bson_t *line, void *arg)
{
    s_index_t *x = arg;
    bson_iter_t it, f;
    int seq = bson_iter_init_find(&it, line, "seq") ? (int) bson_iter_as_int64(&it) : 0;
    if (mu_is(line, "update", "orders") && !x->first_write_seq)
        x->first_write_seq = seq;
    if (!mu_is(line, "createIndexes", "orders"))
        return;
    x->index_seq = seq;
    bson_iter_init(&it, line);
    if (bson_iter_find_descendant(&it, "doc.indexes.0.key", &f) && bson_iter_recurse(&f, &it)) {
        x->key_ok = bson_iter_next(&it) && strcmp(bson_iter_key(&it), "sale_id") == 0 && bson_iter_as_int64(&it) == 1 &&
                    bson_iter_next(&it) && strcmp(bson_iter_key(&it), "user_id") == 0 && bson_iter_as_int64(&it) == 1 &&
                    !bson_iter_next(&it);
    }
    bson_iter_init(&it, line);
    x->unique = bson_iter_find_descendant(&it, "doc.indexes.0.unique", &f) && bson_iter_as_bool(&f);
    const char *w = mu_str(line, "doc.writeConcern.w");
    x->majority = w && strcmp(w, "majority") == 0;
}

static void
test_unique_index_on_sale_id_and_user_id_is_created_before_the_first_order(void **state)
{
    wire_world_t *w = *state;
    wire_world_order_t orders[5];
    wire_world_seen_t seen = {0};
    persister_stats_t stats;
    mu_t m;
    wire_world_scenario(w, &m, "indexed", 5, NULL, NULL, &seen, &stats, orders);
    s_index_t x = {0};
    mu_each(&m, s_index, &x);
    assert_true(x.index_seq > 0);
    assert_true(x.key_ok);
    assert_true(x.unique);
    assert_true(x.majority);
    assert_true(x.first_write_seq > x.index_seq);
    assert_int_equal(mu_count(&m, "createIndexes", NULL), 1); /* once, not per write */
    wire_world_seen_free(&seen);
}

static void
test_integer_write_concern_is_sent_as_a_number_of_nodes(void **state)
{
    wire_world_t *w = *state;
    wire_world_order_t orders[3];
    mu_t m;
    char uri[160];
    wire_world_seen_t seen = {0};
    assert_true(mu_start(&m, NULL));
    mu_uri(&m, NULL, uri, sizeof uri);
    persister_t *p = wire_world_persister_new(w, uri, 2, 50000, 500);
    wire_world_sell(w, "wtwo", 0, 3, orders);
    wire_world_run_until_persisted(p, &m, "wtwo", 3, orders[2].log_id, &seen);
    persister_destroy(&p);
    mu_stop(&m);
    s_shape_t shape = {0};
    mu_each(&m, s_shape, &shape);
    assert_string_equal(shape.wc, "2");
    assert_int_equal(shape.bad, 0);
    wire_world_seen_free(&seen);
}

static void
test_restart_resumes_after_the_stored_cursor_without_rewriting(void **state)
{
    wire_world_t *w = *state;
    wire_world_order_t orders[30];
    mu_t m;
    char uri[160];
    wire_world_seen_t seen = {0};
    assert_true(mu_start(&m, NULL));
    mu_uri(&m, NULL, uri, sizeof uri);
    persister_t *p = wire_world_persister_new(w, uri, PERSISTER_W_MAJORITY, 50000, 500);
    wire_world_sell(w, "resume", 0, 20, orders);
    wire_world_run_until_persisted(p, &m, "resume", 20, orders[19].log_id, &seen);
    persister_destroy(&p); /* as after a crash: nothing flushed on the way out */
    int writes_before = seen.order_writes;
    /* Ten more orders while no persister runs; a new one writes just those. */
    wire_world_sell(w, "resume", 20, 10, orders + 20);
    p = wire_world_persister_new(w, uri, PERSISTER_W_MAJORITY, 50000, 500);
    int64_t deadline = tix_now_ms() + WIRE_WORLD_RUN_TIMEOUT_MS;
    while (persister_stats(p)->written < 10 && tix_now_ms() < deadline)
        persister_step(p, 20);
    assert_int_equal(persister_stats(p)->written, 10);
    assert_int_equal(persister_stats(p)->from_log, 10);
    persister_destroy(&p);
    mu_stop(&m);
    wire_world_seen_read(&m, "resume", &seen);
    assert_true(mu_count(&m, "find", "cursors") >= 2); /* each start read the stored cursor */
    assert_int_equal(seen.order_writes, writes_before + 1);
    wire_world_assert_each_once(&seen, orders, 30, -1);
    for (int i = 0; i < 30; i++)
        assert_int_equal(wire_world_times(seen.statements, orders[i].order_id), 1); /* none sent twice */
    wire_world_seen_free(&seen);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(
            test_orders_are_sent_as_unordered_bulk_upserts_keyed_by_order_id_with_write_concern_majority,
            wire_world_setup),
        cmocka_unit_test_setup(test_unique_index_on_sale_id_and_user_id_is_created_before_the_first_order,
                               wire_world_setup),
        cmocka_unit_test_setup(test_integer_write_concern_is_sent_as_a_number_of_nodes, wire_world_setup),
        cmocka_unit_test_setup(test_restart_resumes_after_the_stored_cursor_without_rewriting, wire_world_setup),
    };
    return cmocka_run_group_tests(tests, wire_world_group_setup, wire_world_group_teardown);
}
