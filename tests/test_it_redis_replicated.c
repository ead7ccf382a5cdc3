/*
 * test_it_redis_replicated.c - tix on a replicated Redis, on real parts:
 * three redis-server nodes (one primary, two replicas), three Sentinels,
 * tix-broker, two tix-worker processes on the redis-sentinel:// URL with
 * the replication gate (TIX_REDIS_MIN_REPLICAS), libtix.
 *
 *  - The primary SIGKILLed mid-rush and its directory deleted (the machine
 *    is gone): Sentinel promotes a replica, the workers follow it without
 *    restarting, every order a client got as PURCHASED is on the new
 *    primary, exactly total are sold, nobody twice.
 *  - The lost write: both replicas cut off mid-rush, then the primary
 *    killed: with the gate no PURCHASED is acknowledged while no replica
 *    confirms, and none is missing after the failover; without the gate
 *    (TIX_REDIS_MIN_REPLICAS=0) the same test loses acknowledged orders.
 *  - A replica restarted and a Sentinel killed mid-rush: every answer OK.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fault.h"
#include "harness.h"
#include "rush.h"
#include "sentinel.h"
#include "tix.h"
#include "tix_util.h"

static th_repl_t s_repl;
static th_stack_t s_stack;

/* The replicated Redis, a broker and two workers gated at min_replicas. */
static int
s_start(int min_replicas)
{
    if (!th_repl_start(&s_repl) || !th_stack_start(&s_stack, 0, NULL))
        return -1;
    for (int i = 0; i < 2; i++) {
        if (!th_repl_worker_start(&s_stack, i, &s_repl, min_replicas))
            return -1;
    }
    return th_wait_serving(s_stack.frontend, 15000) ? 0 : -1;
}

static int
s_setup_gated(void **state)
{
    (void) state;
    return s_start(1);
}

static int
s_setup_ungated(void **state)
{
    (void) state;
    return s_start(0);
}

static int
s_teardown(void **state)
{
    (void) state;
    fprintf(stderr, "logs: %s (kept with TIX_TEST_KEEP=1)\n", th_tmpdir());
    th_stack_stop(&s_stack);
    th_repl_stop(&s_repl);
    return 0;
}

/* Users a client saw PURCHASED whose order the primary's log lacks (or
 * holds for someone else: a promoted replica that lost orders hands their
 * ticket numbers out again). */
static int
s_missing(const char *sale, const tf_rush_result_t *r, const tf_sale_facts_t *f)
{
    int missing = 0;
    for (int i = 0; i < r->users; i++) {
        char user[96];
        th_rush_user(user, sizeof user, sale, i);
        const char *holder = r->order_of[i] ? zhashx_lookup(f->user_of, r->order_of[i]) : NULL;
        if (r->order_of[i] && (!holder || strcmp(holder, user) != 0))
            missing++;
    }
    return missing;
}

/* Kills node i for good: SIGKILL, reaped, its directory removed. */
static void
s_lose_node(int i)
{
    char cmd[400];
    kill(s_repl.nodes[i].pid, SIGKILL);
    th_redis_stop(&s_repl.nodes[i]);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_repl.nodes[i].dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- The primary lost mid-rush ----------------------------------------------- */

typedef struct {
    int64_t killed_at; /* elapsed ms at SIGKILL, -1 before */
    int at_answered;   /* kill once this many users are answered */
} s_kill_t;

static void
s_kill_primary(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_kill_t *k = arg;
    if (k->killed_at >= 0 || progress->answered < k->at_answered)
        return;
    s_lose_node(0);
    k->killed_at = elapsed_ms;
    fprintf(stderr, "SIGKILL primary at %lld ms (%d answered, %d purchased); its directory deleted\n",
            (long long) elapsed_ms, progress->answered, progress->purchased);
}

static void
test_primary_lost_mid_rush_sentinel_promotes_and_no_acknowledged_order_is_lost(void **state)
{
    (void) state;
    const char *sale = "repl-failover";
    const long long total = 200;
    char jsonl[300];
    th_proc_t persister = {0};
    snprintf(jsonl, sizeof jsonl, "%s/orders-failover.jsonl", th_tmpdir());
    assert_true(th_repl_persister_start(&persister, &s_stack, &s_repl, 1, jsonl));
    assert_true(tf_create_sale(s_stack.frontend, sale, (uint32_t) total));
    s_kill_t k = {.killed_at = -1, .at_answered = 100};
    tf_rush_opts_t o = {.frontend = s_stack.frontend,
                        .sale = sale,
                        .users = 20000,
                        .window = 500,
                        .rate = 4000,
                        .silence_ms = 3000,
                        .on_tick = s_kill_primary,
                        .arg = &k};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_true(k.killed_at >= 0);
    int p = th_repl_wait_primary(&s_repl, 0, 1, 30000);
    assert_true(p > 0);
    fprintf(stderr, "new primary: node %d (port %d)\n", p, s_repl.nodes[p].port);
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&s_repl.nodes[p], sale, &f));
    int missing = s_missing(sale, &r, &f);
    fprintf(stderr, "acknowledged orders missing from the new primary: %d\n", missing);
    assert_int_equal(missing, 0);
    assert_int_equal(tf_check_invariants(sale, &f, total, &r), 0);
    assert_int_equal(f.log_len, total); /* exactly total sold */
    assert_int_equal(r.purchased, total);
    /* The workers followed without restarting. */
    assert_true(th_proc_alive(&s_stack.workers[0]) && th_proc_alive(&s_stack.workers[1]));
    /* The persister too, and holds exactly the new primary's orders. */
    assert_true(tf_wait_persisted(jsonl, sale, f.log_len, 15000) >= 0);
    assert_int_equal(th_proc_stop(&persister, SIGTERM, 15000), 0);
    assert_int_equal(tf_check_persisted(jsonl, sale, &f), 0);
    tf_sale_facts_free(&f);
    tf_rush_free(&r);
}

/* ---- The lost write: both replicas cut off, then the primary lost ------------- */

typedef struct {
    int64_t cut_at;    /* elapsed ms when the replicas were cut off, -1 before */
    int64_t killed_at; /* elapsed ms at SIGKILL of the primary, -1 before */
    int purchased_at_cut;
    int purchased_at_kill;
} s_cut_t;

/* The primary refuses its replicas: they cannot PSYNC again (ACL), and
 * the links they have are killed. Their data stops where it is.
 *
 * A killed link tells the primary at once that no replica is there, and
 * min-replicas-to-write then refuses writes (NOREPLICAS). A partition
 * does not: the links stay up and the primary takes writes for up to
 * min-replicas-max-lag seconds before it notices. The test models that
 * window, stretched over the whole cut, by turning min-replicas-to-write
 * off on the primary first: what is left between an acknowledged write
 * and its loss is the gate alone. */
static void
s_cut_replicas(void)
{
    redisContext *c = th_redis_connect(&s_repl.nodes[0]);
    assert_non_null(c);
    redisReply *m = redisCommand(c, "CONFIG SET min-replicas-to-write 0");
    assert_true(m && m->type == REDIS_REPLY_STATUS);
    freeReplyObject(m);
    redisReply *a = redisCommand(c, "ACL SETUSER default -psync -sync");
    assert_true(a && a->type == REDIS_REPLY_STATUS);
    freeReplyObject(a);
    redisReply *k = redisCommand(c, "CLIENT KILL TYPE replica");
    assert_true(k && k->type == REDIS_REPLY_INTEGER && k->integer == 2);
    freeReplyObject(k);
    redisFree(c);
}

static void
s_cut_then_kill(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_cut_t *c = arg;
    if (c->cut_at < 0 && progress->answered >= 500) {
        s_cut_replicas();
        c->cut_at = elapsed_ms;
        c->purchased_at_cut = progress->purchased;
        fprintf(stderr, "replicas cut off at %lld ms (%d purchased)\n", (long long) elapsed_ms, progress->purchased);
    } else if (c->cut_at >= 0 && c->killed_at < 0 && elapsed_ms - c->cut_at >= 3000) {
        c->purchased_at_kill = progress->purchased;
        s_lose_node(0);
        c->killed_at = elapsed_ms;
        fprintf(stderr, "SIGKILL primary at %lld ms (%d purchased, %d while the replicas were cut off)\n",
                (long long) elapsed_ms, progress->purchased, progress->purchased - c->purchased_at_cut);
    }
}

/* Runs the lost-write rush; returns the acknowledged orders missing from
 * the primary Sentinel promoted. */
static int
s_lost_write_rush(const char *sale, s_cut_t *c, tf_rush_result_t *r)
{
    const long long total = 8000;
    assert_true(tf_create_sale(s_stack.frontend, sale, (uint32_t) total));
    *c = (s_cut_t){.cut_at = -1, .killed_at = -1};
    tf_rush_opts_t o = {.frontend = s_stack.frontend,
                        .sale = sale,
                        .users = 6000,
                        .window = 200,
                        .rate = 1000,
                        .silence_ms = 3000,
                        .on_tick = s_cut_then_kill,
                        .arg = c};
    assert_true(tf_rush(&o, r));
    tf_rush_print(sale, r);
    assert_true(c->killed_at >= 0);
    int p = th_repl_wait_primary(&s_repl, 0, 1, 30000);
    assert_true(p > 0);
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&s_repl.nodes[p], sale, &f));
    int missing = s_missing(sale, r, &f);
    fprintf(stderr, "%s: acknowledged orders missing from the new primary (node %d): %d of %d\n", sale, p, missing,
            r->purchased);
    tf_sale_facts_free(&f);
    return missing;
}

static void
test_replicas_cut_off_no_purchase_acknowledged_and_none_lost_after_failover(void **state)
{
    (void) state;
    s_cut_t c;
    tf_rush_result_t r;
    int missing = s_lost_write_rush("repl-cut-gated", &c, &r);
    assert_int_equal(missing, 0);
    /* While no replica confirmed, nothing was acknowledged: the purchases
     * of that window are the ones the gate let out just before the cut. */
    fprintf(stderr, "PURCHASED acknowledged while cut off: %d\n", c.purchased_at_kill - c.purchased_at_cut);
    assert_true(c.purchased_at_kill - c.purchased_at_cut < 200); /* at most the calls in flight at the cut */
    assert_true(r.codes[TIX__V1__CODE__UNAVAILABLE] > 0);
    assert_int_equal(r.retried_without_delay, 0);
    tf_rush_free(&r);
}

static void
test_without_the_gate_the_same_cut_loses_acknowledged_orders(void **state)
{
    (void) state;
    s_cut_t c;
    tf_rush_result_t r;
    int missing = s_lost_write_rush("repl-cut-ungated", &c, &r);
    /* What the gate is for: these buyers were told PURCHASED and the
     * promoted replica never heard of their orders. */
    assert_true(missing > 0);
    tf_rush_free(&r);
}

/* ---- The persister writes nothing a failover takes back ----------------------- */

/* Buys for n users "<sale>-lost-N" straight on node i, as a writer with
 * no gate would: their orders are in the log, no event is published. */
static void
s_buy_direct(int i, const char *sale, int n)
{
    redisContext *c = th_redis_connect(&s_repl.nodes[i]);
    assert_non_null(c);
    for (int u = 0; u < n; u++) {
        char user[96], req[32];
        snprintf(user, sizeof user, "%s-lost-%d", sale, u);
        snprintf(req, sizeof req, "lost-%d", u);
        redisReply *r =
            redisCommand(c, "FCALL tix_buy 4 tix:{%s}:sale tix:{%s}:stock tix:{%s}:buyers tix:{%s}:log %s %s %s", sale,
                         sale, sale, sale, sale, user, req);
        assert_true(r && r->type == REDIS_REPLY_ARRAY);
        freeReplyObject(r);
    }
    redisFree(c);
}

typedef struct {
    const th_proc_t *persister;
    const char *jsonl;
} s_catchup_t;

/* The persister's catch-up has met the orders on the primary alone: it
 * refused them (too few replicas) or wrote them. */
static bool
s_catchup_met_them(void *arg)
{
    const s_catchup_t *c = arg;
    return tf_log_count(c->persister->log, "replicas hold the log read") > 0 || tf_log_count(c->jsonl, "-lost-") > 0;
}

static void
test_persister_never_writes_an_order_the_failover_takes_back(void **state)
{
    (void) state;
    const char *sale = "repl-persist";
    char jsonl[300];
    th_proc_t persister = {0};
    snprintf(jsonl, sizeof jsonl, "%s/orders-repl.jsonl", th_tmpdir());
    assert_true(th_repl_persister_start(&persister, &s_stack, &s_repl, 1, jsonl));
    assert_true(tf_create_sale(s_stack.frontend, sale, 1000));
    tf_rush_opts_t o = {.frontend = s_stack.frontend, .sale = sale, .users = 100, .window = 100};
    tf_rush_result_t first;
    assert_true(tf_rush(&o, &first));
    assert_true(tf_wait_persisted(jsonl, sale, 100, 15000) >= 0);
    /* Orders on the primary alone: the persister's catch-up finds them in
     * the log and must not write them. */
    s_cut_replicas();
    s_buy_direct(0, sale, 50);
    s_catchup_t met = {&persister, jsonl};
    assert_true(tf_wait(s_catchup_met_them, &met, 15000) >= 0);
    s_lose_node(0);
    int p = th_repl_wait_primary(&s_repl, 0, 1, 30000);
    assert_true(p > 0);
    /* More buyers on the new primary: the persister follows it too. */
    o.users = 300;
    tf_rush_result_t all;
    assert_true(tf_rush(&o, &all));
    for (int u = 0; u < first.users; u++) /* the first buyers kept their orders */
        assert_string_equal(first.order_of[u], all.order_of[u]);
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&s_repl.nodes[p], sale, &f));
    assert_int_equal(f.log_len, 300);
    assert_true(tf_wait_persisted(jsonl, sale, f.log_len, 15000) >= 0);
    assert_int_equal(th_proc_stop(&persister, SIGTERM, 15000), 0);
    assert_int_equal(tf_check_persisted(jsonl, sale, &f), 0); /* exactly the new primary's orders */
    assert_int_equal(tf_log_count(jsonl, "-lost-"), 0);
    tf_sale_facts_free(&f);
    tf_rush_free(&all);
    tf_rush_free(&first);
}

/* ---- A replica restarted, a Sentinel killed: no effect on answers -------------- */

typedef struct {
    int step; /* 0: nothing yet; 1: replica killed; 2: restarted; 3: sentinel killed */
} s_churn_t;

static void
s_churn(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_churn_t *c = arg;
    (void) elapsed_ms;
    if (c->step == 0 && progress->answered >= 2000) {
        kill(s_repl.nodes[1].pid, SIGKILL);
        th_redis_stop(&s_repl.nodes[1]);
        c->step = 1;
    } else if (c->step == 1 && progress->answered >= 4000) {
        assert_true(th_repl_node_start(&s_repl, 1, s_repl.nodes[0].port));
        c->step = 2;
    } else if (c->step == 2 && progress->answered >= 6000) {
        kill(s_repl.sentinels[0].pid, SIGKILL);
        th_redis_stop(&s_repl.sentinels[0]);
        c->step = 3;
    }
}

static void
test_replica_restarted_and_sentinel_killed_mid_rush_change_no_answer(void **state)
{
    (void) state;
    const char *sale = "repl-churn";
    const long long total = 8000;
    assert_true(tf_create_sale(s_stack.frontend, sale, (uint32_t) total));
    s_churn_t c = {0};
    tf_rush_opts_t o = {.frontend = s_stack.frontend,
                        .sale = sale,
                        .users = 10000,
                        .window = 200,
                        .rate = 2000,
                        .silence_ms = 3000,
                        .on_tick = s_churn,
                        .arg = &c};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_int_equal(c.step, 3);
    assert_int_equal(r.codes[TIX__V1__CODE__OK], r.users); /* every answer OK, first time */
    assert_int_equal(r.purchased, total);
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&s_repl.nodes[0], sale, &f));
    assert_int_equal(tf_check_invariants(sale, &f, total, &r), 0);
    tf_sale_facts_free(&f);
    tf_rush_free(&r);
}

/* ---- Which WAIT covers which write (redis-server 7.0) ------------------------- */

static long long
s_int_reply(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, cmd);
    assert_true(r && (r->type == REDIS_REPLY_INTEGER || r->type == REDIS_REPLY_STATUS));
    long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return v;
}

/* Why the gate sends its WAIT on the connection of the writes: a WAIT
 * covers the replication offset as of its own connection's previous
 * command. Replicas stopped (SIGSTOP: connected, acknowledging nothing),
 * a write on A: a WAIT on B, whose previous command came before the write,
 * answers at once that the replicas have it; a WAIT on A does not. */
static void
test_a_wait_covers_its_own_connections_writes_not_another_ones(void **state)
{
    (void) state;
    th_repl_t r;
    assert_true(th_repl_start_nodes(&r));
    redisContext *a = th_redis_connect(&r.nodes[0]), *b = th_redis_connect(&r.nodes[0]);
    assert_true(a && b);
    assert_int_equal(s_int_reply(b, "WAIT 2 5000"), 2);
    kill(r.nodes[1].pid, SIGSTOP);
    kill(r.nodes[2].pid, SIGSTOP);
    s_int_reply(a, "SET k v");
    long long other = s_int_reply(b, "WAIT 1 300");
    long long same = s_int_reply(a, "WAIT 1 300");
    s_int_reply(b, "PING");
    long long other_after = s_int_reply(b, "WAIT 1 300");
    fprintf(stderr, "WAIT on another connection: %lld; on the writer's: %lld; on another after a later PING: %lld\n",
            other, same, other_after);
    kill(r.nodes[1].pid, SIGCONT);
    kill(r.nodes[2].pid, SIGCONT);
    assert_int_equal(other, 2); /* claims a write no replica has */
    assert_int_equal(same, 0);
    assert_int_equal(other_after, 0);
    redisFree(a);
    redisFree(b);
    th_repl_stop(&r);
}

/* ---- The gate needs a primary configured for it ------------------------------ */

static bool
s_exited(void *arg)
{
    return !th_proc_alive(arg);
}

/* A gated worker on r: its log once it ended by itself (15 s). */
static void
s_gated_worker_refused(const th_redis_t *r, const char *want)
{
    th_proc_t w = {0};
    char backend[64], events[64];
    snprintf(backend, sizeof backend, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(events, sizeof events, "tcp://127.0.0.1:%d", th_free_port());
    snprintf(w.name, sizeof w.name, "tix-worker-gate-%d", r->port);
    const char *argv[] = {"tix-worker", "--redis-url",          r->url, "--backend", backend, "--events-in",
                          events,       "--redis-min-replicas", "1",    NULL};
    assert_true(th_proc_start(&w, argv, NULL));
    assert_true(tf_wait(s_exited, &w, 15000) >= 0);
    assert_int_equal(tf_log_count(w.log, want), 1);
    assert_int_equal(tf_log_count(w.log, "redis connected"), 0);
}

static void
test_gated_worker_refuses_a_primary_without_min_replicas_to_write(void **state)
{
    (void) state;
    th_redis_t r;
    assert_true(th_redis_start(&r)); /* durable, min-replicas-to-write 0 */
    s_gated_worker_refused(&r, "min-replicas-to-write is 0, need >= 1 with --redis-min-replicas 1");
    redisContext *c = th_redis_connect(&r);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "CONFIG SET min-replicas-to-write 1"));
    freeReplyObject(redisCommand(c, "CONFIG SET min-replicas-max-lag 60"));
    redisFree(c);
    s_gated_worker_refused(&r, "min-replicas-max-lag is 60, need 1..10");
    th_redis_stop(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_wait_covers_its_own_connections_writes_not_another_ones),
        cmocka_unit_test(test_gated_worker_refuses_a_primary_without_min_replicas_to_write),
        cmocka_unit_test_setup_teardown(test_primary_lost_mid_rush_sentinel_promotes_and_no_acknowledged_order_is_lost,
                                        s_setup_gated, s_teardown),
        cmocka_unit_test_setup_teardown(test_replicas_cut_off_no_purchase_acknowledged_and_none_lost_after_failover,
                                        s_setup_gated, s_teardown),
        cmocka_unit_test_setup_teardown(test_without_the_gate_the_same_cut_loses_acknowledged_orders, s_setup_ungated,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_persister_never_writes_an_order_the_failover_takes_back, s_setup_gated,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_replica_restarted_and_sentinel_killed_mid_rush_change_no_answer,
                                        s_setup_gated, s_teardown),
    };
    if (getenv("TIX_TEST_FILTER")) /* e.g. "*persister*": one test while working on it */
        cmocka_set_test_filter(getenv("TIX_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
