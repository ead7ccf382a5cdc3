/*
 * test_it_fault_batch.c - faults while workers hold batched buys (one FCALL
 * tix_buy_many for the buys of a sale waiting together), on real parts:
 * redis-server (AOF, appendfsync always), tix-broker, two tix-worker
 * processes, tix-persister (jsonl sink), libtix.
 *
 * Redis is frozen (SIGSTOP) mid-rush for a moment, so that the workers'
 * buys pile up behind the call in flight: a worker then holds a batch sent
 * and more waiting. Then:
 *  - that worker is SIGKILLed (and Redis thawed): what it sent may have run
 *    unanswered; the clients' retries must get exactly their orders;
 *  - or Redis is SIGKILLed and started again from its AOF: no order
 *    acknowledged before is lost, the retries are exact.
 * Either way nothing is oversold and the log, the buyers and the
 * persister's file agree. At the end the surviving workers are stopped:
 * their exit log line shows that buys did go out in batches.
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
#include "tix_util.h"

#define FREEZE_MS 300 /* Redis frozen this long: buys pile up in the workers */

typedef struct {
    tf_world_t *w;
    bool kill_redis;   /* else: kill worker 0 */
    int64_t frozen_at; /* elapsed ms at SIGSTOP, -1 before */
    int64_t struck_at; /* elapsed ms at the kill, -1 before */
    int acked_at_kill; /* PURCHASED answers the clients held then */
} s_fault_t;

static void
s_strike(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_fault_t *f = arg;
    th_stack_t *s = &f->w->stack;
    if (f->frozen_at < 0 && progress->answered >= progress->users / 4) {
        kill(s->redis.pid, SIGSTOP);
        f->frozen_at = elapsed_ms;
        fprintf(stderr, "SIGSTOP redis at %lld ms, %d answered\n", (long long) elapsed_ms, progress->answered);
        return;
    }
    if (f->frozen_at < 0 || f->struck_at >= 0 || elapsed_ms < f->frozen_at + FREEZE_MS)
        return;
    f->struck_at = elapsed_ms;
    f->acked_at_kill = progress->purchased;
    if (f->kill_redis) {
        kill(s->redis.pid, SIGKILL);
        th_redis_stop(&s->redis); /* reaps it */
        assert_true(th_redis_restart(&s->redis));
        fprintf(stderr, "SIGKILL redis (frozen) at %lld ms with %d purchases acknowledged; restarted from its AOF\n",
                (long long) elapsed_ms, f->acked_at_kill);
    } else {
        th_proc_stop(&s->workers[0], SIGKILL, 1000);
        kill(s->redis.pid, SIGCONT);
        fprintf(stderr, "SIGKILL worker 0 at %lld ms, redis thawed\n", (long long) elapsed_ms);
    }
}

/* Stops worker i (SIGTERM) and returns the largest batch its exit line
 * reports. */
static long
s_stop_worker_batch_max(th_stack_t *s, int i)
{
    assert_int_equal(th_proc_stop(&s->workers[i], SIGTERM, 5000), 0);
    long calls = tf_log_last(s->workers[i].log, "buy batches", "calls");
    long buys = tf_log_last(s->workers[i].log, "buy batches", "buys");
    long max = tf_log_last(s->workers[i].log, "buy batches", "max");
    fprintf(stderr, "worker %d: buy calls=%ld buys=%ld largest batch=%ld\n", i, calls, buys, max);
    return max;
}

static void
s_rush_through_fault(tf_world_t *w, const char *sale, bool kill_redis)
{
    enum { USERS = 8000, TOTAL = 4000 };
    assert_true(tf_create_sale(w->stack.frontend, sale, TOTAL));
    s_fault_t f = {.w = w, .kill_redis = kill_redis, .frozen_at = -1, .struck_at = -1};
    tf_rush_opts_t o = {.frontend = w->stack.frontend,
                        .sale = sale,
                        .users = USERS,
                        .window = 2000,
                        .call_timeout_ms = 10000,
                        .on_tick = s_strike,
                        .arg = &f};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_true(f.struck_at >= 0);
    if (!kill_redis) {
        long held = tf_log_sum(w->stack.broker.log, "worker=w0 reason=", "in_flight");
        fprintf(stderr, "calls worker 0 held when the broker lost it: %ld\n", held);
        assert_true(held > 1);
    }

    /* Exact retries: the same users and request ids get the same orders
     * (every one acknowledged before the fault among them), the others
     * SOLD_OUT. */
    tf_rush_result_t again;
    tf_rush_opts_t o2 = {.frontend = w->stack.frontend, .sale = sale, .users = USERS, .window = 2000};
    assert_true(tf_rush(&o2, &again));
    assert_int_equal(tf_rush_mismatches(&r, &again), 0);
    assert_int_equal(r.purchased, TOTAL);

    tf_sale_facts_t facts;
    assert_true(tf_sale_facts(&w->stack.redis, sale, &facts));
    int bad = tf_check_invariants(sale, &facts, TOTAL, &r);
    assert_true(tf_wait_persisted(w->jsonl, sale, facts.log_len, 15000) >= 0);
    assert_int_equal(th_proc_stop(&w->persister, SIGTERM, 15000), 0);
    bad += tf_check_persisted(w->jsonl, sale, &facts);
    assert_int_equal(bad, 0);
    tf_sale_facts_free(&facts);
    tf_rush_free(&again);
    tf_rush_free(&r);

    long max = s_stop_worker_batch_max(&w->stack, 1);
    if (kill_redis) {
        long max0 = s_stop_worker_batch_max(&w->stack, 0);
        max = max0 > max ? max0 : max;
    }
    assert_true(max > 1);
}

static void
test_worker_killed_holding_a_batch_retries_exact_no_oversell(void **state)
{
    s_rush_through_fault(*state, "held", false);
}

static void
test_redis_killed_mid_batch_and_restarted_loses_no_acknowledged_order(void **state)
{
    s_rush_through_fault(*state, "aofbatch", true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_worker_killed_holding_a_batch_retries_exact_no_oversell, tf_world_setup,
                                        tf_world_teardown),
        cmocka_unit_test_setup_teardown(test_redis_killed_mid_batch_and_restarted_loses_no_acknowledged_order,
                                        tf_world_setup, tf_world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
