/*
 * test_it_fault_mongo.c - MongoDB refusing and losing writes during a rush,
 * on real parts: redis-server, tix-broker, two tix-worker processes,
 * tix-persister with its MongoDB sink, libtix; MongoDB is python3-mockupdb
 * (tests/mockupdb/mock_mongo.py), scripted to fail six of the persister's
 * bulk writes of orders while the sale goes on: three NotWritablePrimary
 * refusals, a writeConcernError after applying, a reply lost after
 * applying, and a connection dropped before applying. (The mock counts
 * "nth" per fault entry, skipping the commands an earlier entry fired on,
 * so with nth 1..6 they land on the 1st, 3rd, ... 11th write.) The sale
 * must not notice; afterwards every sold order must be in the store
 * exactly once.
 * (test_it_persist_wire_faults covers each failure alone, with a fake order
 * log; this is the same with real workers selling.)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fault.h"
#include "harness.h"
#include "stack_fixture.h"
#include "mockupdb.h"
#include "tix.h"
#include "tix_util.h"

#define FAULTS 6
/* python3-mockupdb stores a few hundred upserts a second: a small sale keeps
 * the test short. */
#define TICKETS 600

typedef struct {
    const mu_t *mock;
    long expected;
} s_inserted_t;

static bool
s_all_inserted(void *arg)
{
    s_inserted_t *x = arg;
    zhashx_t *ids = zhashx_new();
    mu_inserted(x->mock, "orders", ids);
    bool all = (long) zhashx_size(ids) >= x->expected;
    zhashx_destroy(&ids);
    return all;
}

typedef struct {
    int faults;       /* commands the mock failed on purpose */
    int order_writes; /* update commands on orders, failed ones included */
} s_writes_t;

static void
s_count_writes(const bson_t *line, void *arg)
{
    s_writes_t *w = arg;
    if (!mu_is(line, "update", "orders"))
        return;
    w->order_writes++;
    w->faults += mu_str(line, "fault") != NULL;
}

static void
test_mongodb_refusing_and_losing_writes_during_a_rush_every_order_stored_exactly_once(void **state)
{
    th_stack_t *stack = *state;
    const char *sale = "mongo-faults";
    static const char script[] =
        "{\"faults\": ["
        "{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 1, \"action\": \"not_primary\"},"
        "{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 2, \"action\": \"not_primary\"},"
        "{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 3, \"action\": \"not_primary\"},"
        "{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 4, \"action\": \"wce\"},"
        "{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 5, \"action\": \"apply_drop\"},"
        "{\"name\": \"update\", \"coll\": \"orders\", \"nth\": 6, \"action\": \"drop\"}]}";
    mu_t mock;
    char uri[128];
    assert_true(mu_start(&mock, script));
    mu_uri(&mock, NULL, uri, sizeof uri);
    th_proc_t persister = {.name = "tix-persister-mongo"};
    const char *argv[] = {
        "tix-persister", "--events-out", stack->events_out, "--redis-url", stack->redis.url, "--mongo-uri", uri, NULL};
    assert_true(th_proc_start(&persister, argv, NULL));

    assert_true(tf_create_sale(stack->frontend, sale, TICKETS));
    /* Every user buys, 200 a second for 3 s: orders keep coming while the
     * persister fails and backs off. */
    tf_rush_opts_t o = {.frontend = stack->frontend, .sale = sale, .users = TICKETS, .window = 500, .rate = 200};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);

    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&stack->redis, sale, &f));
    int bad = tf_check_invariants(sale, &f, TICKETS, &r);
    s_inserted_t want = {&mock, f.log_len};
    int64_t took = tf_wait(s_all_inserted, &want, 30000);
    fprintf(stderr, "every order in the store %lld ms after the rush\n", (long long) took);
    assert_true(took >= 0);
    assert_int_equal(th_proc_stop(&persister, SIGTERM, 15000), 0);
    mu_stop(&mock);

    zhashx_t *ids = zhashx_new();
    int inserts = mu_inserted(&mock, "orders", ids);
    int twice = 0, unknown = 0;
    for (void *n = zhashx_first(ids); n; n = zhashx_next(ids)) {
        twice += (uintptr_t) n != 1;
        unknown += zhashx_lookup(f.user_of, zhashx_cursor(ids)) == NULL;
    }
    s_writes_t w = {0};
    mu_each(&mock, s_count_writes, &w);
    fprintf(stderr,
            "mongodb: %d write commands on orders, %d failed on purpose; inserts=%d distinct=%zu twice=%d "
            "not_in_log=%d log=%lld; persister: %s\n",
            w.order_writes, w.faults, inserts, zhashx_size(ids), twice, unknown, f.log_len,
            tf_log_count(persister.log, "persister stopped") ? "stopped cleanly" : "no stop line");
    fprintf(stderr, "persister: write failures logged=%d, stop line written=%ld conflicts=%ld\n",
            tf_log_count(persister.log, "level=warn"), tf_log_last(persister.log, "persister stopped", "written"),
            tf_log_last(persister.log, "persister stopped", "conflicts"));
    assert_int_equal(w.faults, FAULTS);
    assert_int_equal(inserts, f.log_len);
    assert_int_equal((long long) zhashx_size(ids), f.log_len);
    assert_int_equal(twice, 0);
    assert_int_equal(unknown, 0);
    assert_int_equal(bad, 0);
    zhashx_destroy(&ids);
    tf_sale_facts_free(&f);
    tf_rush_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mongodb_refusing_and_losing_writes_during_a_rush_every_order_stored_exactly_once),
    };
    return cmocka_run_group_tests(tests, stack_fixture_setup, stack_fixture_teardown);
}
