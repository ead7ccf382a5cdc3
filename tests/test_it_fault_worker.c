/*
 * test_it_fault_worker.c - a sale worker frozen (SIGSTOP) in the middle of a
 * rush, on real parts: redis-server, tix-broker, two tix-worker processes,
 * tix-persister (jsonl sink), libtix.
 *
 * The frozen worker holds calls and stops heartbeating. The broker must
 * declare it lost after 3 missed heartbeats (3 x 200 ms here) and re-send
 * its calls to the other worker; the clients must not notice beyond a
 * delay (they never resend on silence in this test). When the worker
 * thaws (SIGCONT) it finishes what it held, but the broker has forgotten
 * it: those late replies are dropped, the worker registers again and takes
 * new work. (A worker SIGKILLed mid-rush is test_it_purchase's.)
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
#include "tix.h"
#include "tix_util.h"

/* The fault tests' world (tf_world_setup), but worker 0, the one frozen,
 * logs at debug level: its log shows the replies it drops after
 * registering again. */
static int
s_setup(void **state)
{
    tf_world_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    *state = w;
    if (!th_stack_start(&w->stack, 0, NULL) || !tf_worker_start(&w->stack, 0, "debug") ||
        !tf_worker_start(&w->stack, 1, "info"))
        return -1;
    w->stack.nworkers = 2;
    if (!tf_persister_start_jsonl(&w->persister, &w->stack, w->jsonl, sizeof w->jsonl))
        return -1;
    return th_wait_serving(w->stack.frontend, 10000) ? 0 : -1;
}

typedef struct {
    const th_stack_t *stack;
    int64_t stopped_at; /* elapsed ms at SIGSTOP, -1 before */
    int64_t lost_at;    /* elapsed ms when the broker's log showed the loss */
    int64_t resumed_at; /* elapsed ms at SIGCONT */
    int answered_at_stop;
} s_freeze_t;

/* 800 ms into the rush: SIGSTOP worker 0; once the broker has logged it
 * lost (heartbeat expiry): SIGCONT. */
static void
s_freeze_worker(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_freeze_t *f = arg;
    const th_stack_t *s = f->stack;
    if (f->stopped_at < 0 && elapsed_ms >= 800) {
        kill(s->workers[0].pid, SIGSTOP);
        f->stopped_at = elapsed_ms;
        f->answered_at_stop = progress->answered;
        fprintf(stderr, "SIGSTOP worker 0 at %lld ms, %d answered\n", (long long) elapsed_ms, progress->answered);
    } else if (f->stopped_at >= 0 && f->resumed_at < 0 &&
               tf_log_count(s->broker.log, "worker=w0 reason=heartbeat expired") > 0) {
        f->lost_at = elapsed_ms;
        kill(s->workers[0].pid, SIGCONT);
        f->resumed_at = elapsed_ms;
        fprintf(stderr, "broker lost worker 0 %lld ms after SIGSTOP; SIGCONT\n",
                (long long) (elapsed_ms - f->stopped_at));
    }
}

static bool
s_w0_registered_twice(void *arg)
{
    const th_stack_t *s = arg;
    return tf_log_count(s->broker.log, "msg=\"worker ready\" worker=w0 ") >= 2;
}

static void
test_worker_frozen_mid_rush_its_calls_go_to_another_worker_and_it_comes_back(void **state)
{
    tf_world_t *w = *state;
    const char *sale = "frozen";
    assert_true(tf_create_sale(w->stack.frontend, sale, 4000));
    s_freeze_t freeze = {.stack = &w->stack, .stopped_at = -1, .lost_at = -1, .resumed_at = -1};
    /* 8,000 users over ~3.2 s; no resend on silence: the broker alone
     * must answer every call the frozen worker held. */
    tf_rush_opts_t o = {.frontend = w->stack.frontend,
                        .sale = sale,
                        .users = 8000,
                        .window = 2000,
                        .rate = 2500,
                        .call_timeout_ms = 10000,
                        .on_tick = s_freeze_worker,
                        .arg = &freeze};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_true(freeze.resumed_at >= 0);
    /* Heartbeat expiry: 3 x 200 ms after the worker's last message (which
     * may come a little before the SIGSTOP on a busy machine), seen by the
     * broker within its tick. */
    assert_in_range(freeze.lost_at - freeze.stopped_at, 1, 1500);

    /* It registers again by itself and serves again. */
    int64_t took = tf_wait(s_w0_registered_twice, &w->stack, 5000);
    fprintf(stderr, "worker 0 registered again %lld ms after the rush\n", (long long) took);
    assert_true(took >= 0);
    assert_true(tf_wait_health(w->stack.frontend, TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING, 5000) >= 0);
    long redispatched = tf_log_sum(w->stack.broker.log, "worker=w0 reason=heartbeat expired", "in_flight");
    int dropped_at_worker = tf_log_count(w->stack.workers[0].log, "reply dropped: its broker session ended");
    int jobs_before = tf_log_count(w->stack.workers[0].log, "msg=\"job started\"");
    fprintf(stderr,
            "frozen worker: calls held at loss (re-dispatched or answered UNAVAILABLE)=%ld, "
            "replies it dropped itself after registering again=%d, jobs started so far=%d\n",
            redispatched, dropped_at_worker, jobs_before);
    assert_true(redispatched > 0); /* the test froze a worker that held calls */

    /* Exact retries: the same users and request ids again get the same
     * orders (winners) and SOLD_OUT (the others). */
    tf_rush_result_t again;
    tf_rush_opts_t o2 = {.frontend = w->stack.frontend, .sale = sale, .users = 8000, .window = 2000};
    assert_true(tf_rush(&o2, &again));
    assert_int_equal(tf_rush_mismatches(&r, &again), 0);

    /* The thawed worker takes new work. */
    assert_true(tf_create_sale(w->stack.frontend, "after-thaw", 2000));
    tf_rush_result_t after;
    tf_rush_opts_t o3 = {.frontend = w->stack.frontend, .sale = "after-thaw", .users = 2000, .window = 500};
    assert_true(tf_rush(&o3, &after));
    int jobs_after = tf_log_count(w->stack.workers[0].log, "msg=\"job started\"");
    fprintf(stderr, "frozen worker: jobs started after thaw rush=%d\n", jobs_after - jobs_before);
    assert_true(jobs_after > jobs_before);
    assert_int_equal(after.purchased, 2000);

    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&w->stack.redis, sale, &f));
    int bad = tf_check_invariants(sale, &f, 4000, &r);
    assert_true(tf_wait_persisted(w->jsonl, sale, f.log_len, 15000) >= 0);
    assert_int_equal(th_proc_stop(&w->persister, SIGTERM, 15000), 0);
    bad += tf_check_persisted(w->jsonl, sale, &f);
    assert_int_equal(bad, 0);
    assert_int_equal(r.resent_silent, 0);
    /* Registered once after thawing: a READY answered to each late
     * message's DISCONNECT would reset the new session, and re-dispatch
     * (or answer UNAVAILABLE) the calls it holds, again and again. */
    int readies = tf_log_count(w->stack.broker.log, "msg=\"worker ready\" worker=w0 ");
    int resets = tf_log_count(w->stack.broker.log, "worker=w0 reason=re-registered");
    fprintf(stderr,
            "frozen worker: registrations=%d (expected 2: start, thaw), sessions reset by a further READY=%d "
            "holding %ld calls\n",
            readies, resets, tf_log_sum(w->stack.broker.log, "worker=w0 reason=re-registered", "in_flight"));
    tf_sale_facts_free(&f);
    tf_rush_free(&after);
    tf_rush_free(&again);
    tf_rush_free(&r);
    assert_int_equal(resets, 0);
    assert_int_equal(readies, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_frozen_mid_rush_its_calls_go_to_another_worker_and_it_comes_back),
    };
    return cmocka_run_group_tests(tests, s_setup, tf_world_teardown);
}
