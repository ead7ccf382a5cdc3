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

#include "mockupdb/world.h"

/* A scripted failure on the first bulk write of orders: the persister
 * backs off, retries, and every order ends up in the store exactly once. */
static void
s_failure_once(const char *sale, const char *action, const char *uri_opts)
{
    char script[256];
    snprintf(script, sizeof script,
             "{\"faults\": [{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 1, "
             "\"action\": \"%s\"}]}",
             action);
    s_order_t orders[50];
    s_seen_t seen = {0};
    persister_stats_t stats;
    mu_t m;
    s_scenario(&m, sale, 50, script, uri_opts, &seen, &stats, orders);
    assert_int_equal(seen.faults, 1);
    assert_true(stats.write_failures >= 1);
    assert_true(seen.order_writes >= 2); /* the failed bulk and its retry */
    s_assert_each_once(&seen, orders, 50, -1);
    assert_int_equal(stats.written, 50);
    assert_int_equal(stats.conflicts, 0);
    s_seen_free(&seen);
}

static void
test_dropped_connection_is_retried_and_every_order_written_once(void **state)
{
    (void) state;
    s_failure_once("dropped", "drop", NULL);
}

static void
test_reply_lost_after_the_write_applied_is_retried_without_a_second_copy(void **state)
{
    (void) state;
    s_failure_once("lostreply", "apply_drop", NULL);
}

static void
test_write_concern_error_is_retried_and_every_order_written_once(void **state)
{
    (void) state;
    s_failure_once("wce", "wce", NULL);
}

static void
test_not_writable_primary_is_retried_and_every_order_written_once(void **state)
{
    (void) state;
    s_failure_once("notprimary", "not_primary", NULL);
}

static void
test_reply_slower_than_the_socket_timeout_is_retried_and_every_order_written_once(void **state)
{
    (void) state;
    s_failure_once("slow", "slow:1200", "?socketTimeoutMS=300");
}

static void
test_duplicate_key_on_id_from_a_concurrent_writer_is_retried_and_matches(void **state)
{
    (void) state;
    s_failure_once("dupid", "dup_id", NULL);
}

static void
test_duplicate_key_on_sale_and_user_is_a_conflict_not_retried_and_the_rest_is_written(void **state)
{
    (void) state;
    /* Another order already holds user 7's ticket for this sale (Redis lost
     * the first one and sold them a second): MongoDB's unique index says no. */
    const char *script = "{\"seed\": {\"tix.orders\": [{\"_id\": \"conflict:other\", \"sale_id\": \"conflict\", "
                         "\"user_id\": \"conflict-u7\"}]}}";
    s_order_t orders[30];
    s_seen_t seen = {0};
    persister_stats_t stats;
    mu_t m;
    s_scenario(&m, "conflict", 30, script, NULL, &seen, &stats, orders);
    assert_int_equal(stats.conflicts, 1);
    assert_int_equal(stats.written, 29);
    s_assert_each_once(&seen, orders, 30, 6);
    assert_int_equal(s_times(seen.inserted, "conflict:7"), 0);
    /* Refused for good: sent once, never retried, and the cursor passed it. */
    assert_int_equal(s_times(seen.statements, "conflict:7"), 1);
    assert_string_equal(seen.cursor, orders[29].log_id);
    s_seen_free(&seen);
}

static void
test_mongodb_down_at_start_keeps_running_and_writes_once_it_answers(void **state)
{
    (void) state;
    s_order_t orders[20];
    s_seen_t seen = {0};
    mu_t m = {.port = th_free_port()};
    char uri[160];
    mu_uri(&m, NULL, uri, sizeof uri);
    persister_t *p = s_persister_new(uri, PERSISTER_W_MAJORITY, 50000, 500);
    s_wait_subscribed(p);
    s_sell("late", 0, 20, orders);
    s_publish("late", orders, 0, 20);
    int64_t deadline = tix_now_ms() + 5000;
    while (persister_stats(p)->write_failures < 3 && tix_now_ms() < deadline)
        persister_step(p, 20);
    assert_true(persister_stats(p)->write_failures >= 3); /* tried, backed off, tried again */
    assert_int_equal(persister_stats(p)->written, 0);
    assert_true(mu_start_on(&m, NULL));
    s_run_until_persisted(p, &m, "late", 20, orders[19].log_id, &seen);
    s_assert_each_once(&seen, orders, 20, -1);
    persister_destroy(&p);
    mu_stop(&m);
    s_seen_free(&seen);
}

static void
test_buffer_stays_bounded_while_writes_fail_and_every_order_is_written_from_the_log(void **state)
{
    (void) state;
    const char *script = "{\"faults\": [{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 1, \"action\": "
                         "\"not_primary\"}, {\"name\": \"update\", \"coll\": \"orders\", \"nth\": 2, \"action\": "
                         "\"not_primary\"}, {\"name\": \"update\", \"coll\": \"orders\", \"nth\": 3, \"action\": "
                         "\"not_primary\"}]}";
    s_order_t orders[60];
    s_seen_t seen = {0};
    mu_t m;
    char uri[160];
    assert_true(mu_start(&m, script));
    mu_uri(&m, NULL, uri, sizeof uri);
    persister_t *p = s_persister_new(uri, PERSISTER_W_MAJORITY, 10, 5);
    s_wait_subscribed(p);
    s_sell("bounded", 0, 60, orders);
    s_publish("bounded", orders, 0, 60);
    size_t most = 0;
    int64_t deadline = tix_now_ms() + RUN_TIMEOUT_MS;
    while (tix_now_ms() < deadline) {
        persister_step(p, 20);
        most = persister_held(p) > most ? persister_held(p) : most;
        s_seen_read(&m, "bounded", &seen);
        if (strcmp(seen.cursor, orders[59].log_id) == 0 && persister_held(p) == 0)
            break;
    }
    const persister_stats_t *s = persister_stats(p);
    assert_true(most <= 10);
    assert_true(s->from_log >= 60); /* events are hints: every order was read from the log */
    assert_int_equal(s->written, 60);
    assert_int_equal(seen.faults, 3);
    s_assert_each_once(&seen, orders, 60, -1);
    persister_destroy(&p);
    mu_stop(&m);
    s_seen_free(&seen);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_dropped_connection_is_retried_and_every_order_written_once, s_setup),
        cmocka_unit_test_setup(test_reply_lost_after_the_write_applied_is_retried_without_a_second_copy, s_setup),
        cmocka_unit_test_setup(test_write_concern_error_is_retried_and_every_order_written_once, s_setup),
        cmocka_unit_test_setup(test_not_writable_primary_is_retried_and_every_order_written_once, s_setup),
        cmocka_unit_test_setup(test_reply_slower_than_the_socket_timeout_is_retried_and_every_order_written_once,
                               s_setup),
        cmocka_unit_test_setup(test_duplicate_key_on_id_from_a_concurrent_writer_is_retried_and_matches, s_setup),
        cmocka_unit_test_setup(test_duplicate_key_on_sale_and_user_is_a_conflict_not_retried_and_the_rest_is_written,
                               s_setup),
        cmocka_unit_test_setup(test_mongodb_down_at_start_keeps_running_and_writes_once_it_answers, s_setup),
        cmocka_unit_test_setup(test_buffer_stays_bounded_while_writes_fail_and_every_order_is_written_from_the_log,
                               s_setup),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
