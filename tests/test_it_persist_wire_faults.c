/*
 * test_it_persist_wire_faults.c - how the persister survives MongoDB
 * failures, at the wire level (python3-mockupdb failing on script: a dropped
 * connection, a lost reply, a writeConcernError, NotWritablePrimary, a reply
 * slower than the socket timeout, duplicate keys, a server that is not
 * there yet, writes refused for a while). Every order ends up in the store
 * exactly once, and memory stays bounded.
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

/* A scripted failure on the first bulk write of orders: the persister
 * backs off, retries, and every order ends up in the store exactly once. */
static void
s_failure_once(wire_world_t *w, const char *sale, const char *action, const char *uri_opts)
{
    char script[256];
    snprintf(script, sizeof script,
             "{\"faults\": [{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 1, "
             "\"action\": \"%s\"}]}",
             action);
    wire_world_order_t orders[50];
    wire_world_seen_t seen = {0};
    persister_stats_t stats;
    mu_t m;
    wire_world_scenario(w, &m, sale, 50, script, uri_opts, &seen, &stats, orders);
    assert_int_equal(seen.faults, 1);
    assert_true(stats.write_failures >= 1);
    assert_true(seen.order_writes >= 2); /* the failed bulk and its retry */
    wire_world_assert_each_once(&seen, orders, 50, -1);
    assert_int_equal(stats.written, 50);
    assert_int_equal(stats.conflicts, 0);
    wire_world_seen_free(&seen);
}

static void
test_dropped_connection_is_retried_and_every_order_written_once(void **state)
{
    wire_world_t *w = *state;
    s_failure_once(w, "dropped", "drop", NULL);
}

static void
test_reply_lost_after_the_write_applied_is_retried_without_a_second_copy(void **state)
{
    wire_world_t *w = *state;
    s_failure_once(w, "lostreply", "apply_drop", NULL);
}

static void
test_write_concern_error_is_retried_and_every_order_written_once(void **state)
{
    wire_world_t *w = *state;
    s_failure_once(w, "wce", "wce", NULL);
}

static void
test_not_writable_primary_is_retried_and_every_order_written_once(void **state)
{
    wire_world_t *w = *state;
    s_failure_once(w, "notprimary", "not_primary", NULL);
}

static void
test_reply_slower_than_the_socket_timeout_is_retried_and_every_order_written_once(void **state)
{
    wire_world_t *w = *state;
    s_failure_once(w, "slow", "slow:1200", "?socketTimeoutMS=300");
}

static void
test_duplicate_key_on_id_from_a_concurrent_writer_is_retried_and_matches(void **state)
{
    wire_world_t *w = *state;
    s_failure_once(w, "dupid", "dup_id", NULL);
}

static void
test_duplicate_key_on_sale_and_user_is_a_conflict_not_retried_and_the_rest_is_written(void **state)
{
    wire_world_t *w = *state;
    /* Another order already holds user 7's ticket for this sale (Redis lost
     * the first one and sold them a second): MongoDB's unique index says no. */
    const char *script = "{\"seed\": {\"tix.orders\": [{\"_id\": \"conflict:other\", \"sale_id\": \"conflict\", "
                         "\"user_id\": \"conflict-u7\"}]}}";
    wire_world_order_t orders[30];
    wire_world_seen_t seen = {0};
    persister_stats_t stats;
    mu_t m;
    wire_world_scenario(w, &m, "conflict", 30, script, NULL, &seen, &stats, orders);
    assert_int_equal(stats.conflicts, 1);
    assert_int_equal(stats.written, 29);
    wire_world_assert_each_once(&seen, orders, 30, 6);
    assert_int_equal(wire_world_times(seen.inserted, "conflict:7"), 0);
    /* Refused for good: sent once, never retried, and the cursor passed it. */
    assert_int_equal(wire_world_times(seen.statements, "conflict:7"), 1);
    assert_string_equal(seen.cursor, orders[29].log_id);
    wire_world_seen_free(&seen);
}

static void
test_mongodb_down_at_start_keeps_running_and_writes_once_it_answers(void **state)
{
    wire_world_t *w = *state;
    wire_world_order_t orders[20];
    wire_world_seen_t seen = {0};
    mu_t m = {.port = th_free_port()};
    char uri[160];
    mu_uri(&m, NULL, uri, sizeof uri);
    persister_t *p = wire_world_persister_new(w, uri, PERSISTER_W_MAJORITY, 50000, 500);
    wire_world_wait_subscribed(w, p);
    wire_world_sell(w, "late", 0, 20, orders);
    wire_world_publish(w, "late", orders, 0, 20);
    int64_t deadline = tix_now_ms() + 5000;
    while (persister_stats(p)->write_failures < 3 && tix_now_ms() < deadline)
        persister_step(p, 20);
    assert_true(persister_stats(p)->write_failures >= 3); /* tried, backed off, tried again */
    assert_int_equal(persister_stats(p)->written, 0);
    assert_true(mu_start_on(&m, NULL));
    wire_world_run_until_persisted(p, &m, "late", 20, orders[19].log_id, &seen);
    wire_world_assert_each_once(&seen, orders, 20, -1);
    persister_destroy(&p);
    mu_stop(&m);
    wire_world_seen_free(&seen);
}

static void
test_buffer_stays_bounded_while_writes_fail_and_every_order_is_written_from_the_log(void **state)
{
    wire_world_t *w = *state;
    const char *script = "{\"faults\": [{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 1, \"action\": "
                         "\"not_primary\"}, {\"name\": \"update\", \"coll\": \"orders\", \"nth\": 2, \"action\": "
                         "\"not_primary\"}, {\"name\": \"update\", \"coll\": \"orders\", \"nth\": 3, \"action\": "
                         "\"not_primary\"}]}";
    wire_world_order_t orders[60];
    wire_world_seen_t seen = {0};
    mu_t m;
    char uri[160];
    assert_true(mu_start(&m, script));
    mu_uri(&m, NULL, uri, sizeof uri);
    persister_t *p = wire_world_persister_new(w, uri, PERSISTER_W_MAJORITY, 10, 5);
    wire_world_wait_subscribed(w, p);
    wire_world_sell(w, "bounded", 0, 60, orders);
    wire_world_publish(w, "bounded", orders, 0, 60);
    size_t most = 0;
    int64_t deadline = tix_now_ms() + WIRE_WORLD_RUN_TIMEOUT_MS;
    while (tix_now_ms() < deadline) {
        persister_step(p, 20);
        most = persister_held(p) > most ? persister_held(p) : most;
        wire_world_seen_read(&m, "bounded", &seen);
        if (strcmp(seen.cursor, orders[59].log_id) == 0 && persister_held(p) == 0)
            break;
    }
    const persister_stats_t *s = persister_stats(p);
    assert_true(most <= 10);
    assert_true(s->from_log >= 60); /* events are hints: every order was read from the log */
    assert_int_equal(s->written, 60);
    assert_int_equal(seen.faults, 3);
    wire_world_assert_each_once(&seen, orders, 60, -1);
    persister_destroy(&p);
    mu_stop(&m);
    wire_world_seen_free(&seen);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_dropped_connection_is_retried_and_every_order_written_once, wire_world_setup),
        cmocka_unit_test_setup(test_reply_lost_after_the_write_applied_is_retried_without_a_second_copy,
                               wire_world_setup),
        cmocka_unit_test_setup(test_write_concern_error_is_retried_and_every_order_written_once, wire_world_setup),
        cmocka_unit_test_setup(test_not_writable_primary_is_retried_and_every_order_written_once, wire_world_setup),
        cmocka_unit_test_setup(test_reply_slower_than_the_socket_timeout_is_retried_and_every_order_written_once,
                               wire_world_setup),
        cmocka_unit_test_setup(test_duplicate_key_on_id_from_a_concurrent_writer_is_retried_and_matches,
                               wire_world_setup),
        cmocka_unit_test_setup(test_duplicate_key_on_sale_and_user_is_a_conflict_not_retried_and_the_rest_is_written,
                               wire_world_setup),
        cmocka_unit_test_setup(test_mongodb_down_at_start_keeps_running_and_writes_once_it_answers, wire_world_setup),
        cmocka_unit_test_setup(test_buffer_stays_bounded_while_writes_fail_and_every_order_is_written_from_the_log,
                               wire_world_setup),
    };
    return cmocka_run_group_tests(tests, wire_world_group_setup, wire_world_group_teardown);
}
