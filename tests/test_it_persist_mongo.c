/*
 * test_it_persist_mongo.c - tix-persister with its MongoDB sink, end to end:
 * a real redis-server, tix-broker, two tix-workers, a 20,000-user rush for
 * 200 tickets, and MongoDB played by python3-mockupdb (recording every
 * command). test_it_persist_real_mongo.c does the same against a real one.
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

#include "harness.h"
#include "persist_fixture.h"
#include "persister_proc.h"
#include "mockupdb.h"
#include "rush.h"
#include "tix.h"
#include "tix_util.h"

#define TICKETS 200
#define USERS 20000
#define WAIT_MS 20000
#define MAX_WRITE_COMMANDS 20

/* ---- With mockupdb ------------------------------------------------------- */

typedef struct {
    int order_writes; /* write commands on orders */
    int all_writes;   /* insert/update/delete on any collection */
    int statements;   /* upsert statements on orders */
} s_writes_t;

static void
s_count_writes(const bson_t *line, void *arg)
{
    s_writes_t *w = arg;
    bson_iter_t it, st;
    if (mu_is(line, "update", NULL) || mu_is(line, "insert", NULL) || mu_is(line, "delete", NULL))
        w->all_writes++;
    if (!mu_is(line, "update", "orders"))
        return;
    w->order_writes++;
    if (bson_iter_init(&it, line) && bson_iter_find_descendant(&it, "doc.updates", &st) &&
        bson_iter_recurse(&st, &it)) {
        while (bson_iter_next(&it))
            w->statements++;
    }
}

static void
test_rush_of_200_orders_reaches_mongodb_in_at_most_20_write_commands(void **state)
{
    persist_fixture_t *fx = *state;
    mu_t m;
    char uri[128], last[64], cursor[64] = "";
    th_proc_t p;
    th_rush_t r;
    assert_true(mu_start(&m, NULL));
    mu_uri(&m, NULL, uri, sizeof uri);
    persist_fixture_start(fx, &p, "persister-mongo", fx->stack.events_out, uri, (char *) NULL);
    assert_true(persist_fixture_health_rewritten(fx, 0, WAIT_MS)); /* subscribed, and MongoDB answers */
    persist_fixture_rush(fx, "mrush", TICKETS, USERS, 4000, &r, NULL, NULL);
    persister_proc_last_log_id(&fx->stack.redis, "mrush", last, sizeof last);
    int64_t deadline = tix_now_ms() + WAIT_MS;
    while (strcmp(cursor, last) != 0 && tix_now_ms() < deadline) {
        usleep(50000);
        mu_cursor(&m, "mrush", cursor, sizeof cursor);
    }
    assert_string_equal(cursor, last);
    persister_proc_stop(&p);
    mu_stop(&m);

    zhashx_t *ids = zhashx_new();
    assert_int_equal(mu_inserted(&m, "orders", ids), TICKETS);
    for (int i = 0; i < r.users; i++) {
        if (r.order_of[i])
            assert_int_equal((uintptr_t) zhashx_lookup(ids, r.order_of[i]), 1);
    }
    zhashx_destroy(&ids);
    s_writes_t w = {0};
    mu_each(&m, s_count_writes, &w);
    fprintf(stderr, "200-order rush: %d write commands on orders (%d upserts), %d write commands in all\n",
            w.order_writes, w.statements, w.all_writes);
    assert_true(w.order_writes <= MAX_WRITE_COMMANDS);
    assert_true(w.all_writes <= MAX_WRITE_COMMANDS);
    assert_int_equal(w.statements, TICKETS); /* no order sent twice */
    th_rush_free(&r);
}

static void
test_health_file_goes_stale_while_mongodb_is_down_and_fresh_again_when_it_answers(void **state)
{
    persist_fixture_t *fx = *state;
    mu_t m;
    char uri[128];
    th_proc_t p;
    assert_true(mu_start(&m, NULL));
    mu_uri(&m, NULL, uri, sizeof uri);
    persist_fixture_start(fx, &p, "persister-health", fx->stack.events_out, uri, "--backoff-max-ms", "500",
                          (char *) NULL);
    assert_true(persist_fixture_health_rewritten(fx, 0, WAIT_MS));
    assert_true(
        persist_fixture_health_rewritten(fx, persist_fixture_health_mtime(fx), 3000)); /* rewritten every second */
    mu_stop(&m);
    /* Stale: no rewrite for 2.5 s (the first catch-up after the stop sees it). */
    int64_t deadline = tix_now_ms() + 10000, changed = tix_now_ms(), mtime = persist_fixture_health_mtime(fx);
    while (tix_now_ms() - changed < 2500 && tix_now_ms() < deadline) {
        usleep(50000);
        if (persist_fixture_health_mtime(fx) != mtime) {
            mtime = persist_fixture_health_mtime(fx);
            changed = tix_now_ms();
        }
    }
    assert_true(tix_now_ms() - changed >= 2500);
    assert_true(th_proc_alive(&p)); /* it keeps running */
    assert_true(mu_start_on(&m, NULL));
    assert_true(persist_fixture_health_rewritten(fx, mtime, WAIT_MS));
    persister_proc_stop(&p);
    mu_stop(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rush_of_200_orders_reaches_mongodb_in_at_most_20_write_commands,
                                        persist_fixture_setup, persist_fixture_teardown),
        cmocka_unit_test_setup_teardown(
            test_health_file_goes_stale_while_mongodb_is_down_and_fresh_again_when_it_answers, persist_fixture_setup,
            persist_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
