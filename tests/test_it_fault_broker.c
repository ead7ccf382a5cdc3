/*
 * test_it_fault_broker.c - the broker killed (SIGKILL) in the middle of a
 * rush and a new one started on the same ports, on real parts:
 * redis-server, tix-broker, two tix-worker processes, tix-persister (jsonl
 * sink), libtix.
 *
 * The calls the dead broker held are gone with it. Nobody tells the
 * clients or the workers: they must notice the silence by themselves and
 * reconnect - workers after 3 missed heartbeats, clients by resending a
 * call unanswered for a while, unchanged (same request_id), so that a
 * Purchase that did run before the kill gets its order back and one that
 * did not runs once. Two kinds of client run through the restart:
 *  - blocking libtix calls (tix_purchase) from 16 threads, one client each,
 *    which resend on silence by themselves (TIX_RETRY_SILENCE_MS);
 *  - one asynchronous libtix client with calls in flight (tf_rush), which
 *    resends after 1 s of silence, as any async caller must: libtix's async
 *    interface does not resend (tix.h), and th_rush, which does not either,
 *    would report the lost calls as unanswered.
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

#include "fault.h"
#include "harness.h"
#include "rush.h"
#include "tix.h"
#include "tix_util.h"

#define BLOCKING_THREADS 16
#define BLOCKING_USERS_PER_THREAD 200
#define BLOCKING_PERIOD_MS 15 /* one call per thread every 15 ms: ~1,070 calls/s in all, ~3 s */

/* ---- Blocking clients ------------------------------------------------------ */

typedef struct {
    tix_err err;   /* what tix_purchase returned */
    tix_code code; /* the final answer's code */
    int outcome;   /* PurchaseReply.outcome when OK */
    unsigned attempts;
    char order[128];
} s_answer_t;

typedef struct {
    tf_world_t *w; /* borrowed: the test's world */
    const char *sale;
    int first, count;    /* users first .. first+count-1 */
    s_answer_t *answers; /* indexed by user */
} s_thread_t;

static void *
s_blocking_buyer(void *arg)
{
    s_thread_t *t = arg;
    tf_world_t *w = t->w;
    tix_client_t *c = tix_client_new(w->stack.frontend);
    int64_t start = tix_now_ms();
    for (int i = 0; i < t->count; i++) {
        int u = t->first + i;
        char user[96], req[32];
        th_rush_user(user, sizeof user, t->sale, u);
        snprintf(req, sizeof req, "req-%d", u);
        /* Paced, so that calls are in flight when the broker dies. */
        int64_t slot = start + (int64_t) i * BLOCKING_PERIOD_MS;
        if (tix_now_ms() < slot)
            zclock_sleep((int) (slot - tix_now_ms()));
        tix_result_t r;
        s_answer_t *a = &t->answers[u];
        a->err = tix_purchase(c, t->sale, user, req, 20000, &r);
        a->code = r.code;
        a->attempts = r.attempts;
        if (r.code == TIX__V1__CODE__OK) {
            const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r.reply;
            a->outcome = p->outcome;
            snprintf(a->order, sizeof a->order, "%s", p->order_id);
        }
        tix_result_clear(&r);
    }
    tix_client_destroy(&c);
    return NULL;
}

/* The blocking clients' answers in tf_rush's terms (final answers only:
 * the retries inside tix_purchase are counted as attempts). */
static void
s_blocking_result(const s_answer_t *answers, int users, tf_rush_result_t *r, int *resent_calls)
{
    memset(r, 0, sizeof *r);
    r->users = users;
    r->order_of = xcalloc((size_t) users, sizeof(char *));
    *resent_calls = 0;
    for (int u = 0; u < users; u++) {
        const s_answer_t *a = &answers[u];
        r->sends += (int) a->attempts;
        *resent_calls += a->attempts > 1;
        if (a->err != TIX_OK) {
            fprintf(stderr, "blocking user %d: %s (%s)\n", u, tix_strerror(a->err), tix_code_name(a->code));
            r->other++;
            continue;
        }
        r->answered++;
        r->codes[(unsigned) a->code < TF_CODES ? (int) a->code : TF_CODES]++;
        if (a->code == TIX__V1__CODE__OK && a->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED) {
            r->purchased++;
            r->order_of[u] = xstrdup(a->order);
        } else if (a->code == TIX__V1__CODE__OK && a->outcome == TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT) {
            r->sold_out++;
        } else {
            r->other++;
        }
    }
}

/* ---- The kill -------------------------------------------------------------- */

typedef struct {
    tf_world_t *w;        /* borrowed: the test's world */
    int down_ms;          /* how long the broker stays dead */
    int64_t killed_at;    /* elapsed ms at SIGKILL, -1 before */
    int64_t killed_wall;  /* tix_wall_ms() at SIGKILL */
    int64_t restarted_at; /* elapsed ms when the new broker was started, -1 before */
    int64_t answer_after; /* elapsed ms of the first answer after the restart, -1 before */
    int answered_at_kill;
} s_kill_t;

/* A quarter of the way through the rush, with ~1,000 calls in flight:
 * SIGKILL the broker; down_ms later, start a new one on the same ports. */
static void
s_kill_broker(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_kill_t *k = arg;
    tf_world_t *w = k->w;
    if (k->killed_at < 0 && progress->answered >= progress->users / 4) {
        k->killed_wall = tix_wall_ms();
        th_proc_stop(&w->stack.broker, SIGKILL, 1000);
        k->killed_at = elapsed_ms;
        k->answered_at_kill = progress->answered;
        fprintf(stderr, "SIGKILL broker at %lld ms (%d answered)\n", (long long) elapsed_ms, progress->answered);
    }
    if (k->killed_at >= 0 && k->restarted_at < 0 && elapsed_ms - k->killed_at >= k->down_ms) {
        char name[32];
        snprintf(name, sizeof name, "tix-broker-new-%d", w->stack.redis.port); /* one log per test */
        assert_true(tf_broker_restart(&w->stack, name));
        k->restarted_at = elapsed_ms;
        fprintf(stderr, "new broker started %lld ms after the kill\n", (long long) (elapsed_ms - k->killed_at));
    } else if (k->restarted_at >= 0 && k->answer_after < 0 && progress->answered > k->answered_at_kill) {
        k->answer_after = elapsed_ms;
    }
}

/* Users whose call was resent after silence and whose order was made
 * before the kill: their first answer died with the broker, and the resend
 * got that very order back. */
static int
s_lost_answers_recovered(const tf_rush_result_t *r, int64_t killed_wall)
{
    int n = 0;
    for (int u = 0; u < r->users; u++)
        n += r->resent_silent_of[u] && r->order_of[u] && r->purchased_at_ms[u] <= killed_wall;
    return n;
}

static bool
s_both_workers_back(void *arg)
{
    const tf_world_t *w = arg;
    return tf_log_count(w->stack.broker.log, "msg=\"worker ready\" worker=w0 ") >= 1 &&
           tf_log_count(w->stack.broker.log, "msg=\"worker ready\" worker=w1 ") >= 1;
}

static void
s_check_sale(tf_world_t *w, const char *sale, long long total, const tf_rush_result_t *r, int *bad)
{
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&w->stack.redis, sale, &f));
    *bad += tf_check_invariants(sale, &f, total, r);
    assert_true(tf_wait_persisted(w->jsonl, sale, f.log_len, 15000) >= 0);
    tf_sale_facts_free(&f);
}

static void
s_check_persisted(tf_world_t *w, const char *sale, int *bad)
{
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&w->stack.redis, sale, &f));
    *bad += tf_check_persisted(w->jsonl, sale, &f);
    tf_sale_facts_free(&f);
}

/* The whole scenario, the broker staying dead for down_ms. */
static void
s_broker_restart_scenario(tf_world_t *w, int down_ms)
{
    const char *async_sale = "restart-a", *block_sale = "restart-b";
    const int block_users = BLOCKING_THREADS * BLOCKING_USERS_PER_THREAD, async_users = 20000;
    assert_true(tf_create_sale(w->stack.frontend, async_sale, async_users / 2));
    assert_true(tf_create_sale(w->stack.frontend, block_sale, block_users / 2));

    s_answer_t *answers = xcalloc((size_t) block_users, sizeof *answers);
    pthread_t threads[BLOCKING_THREADS];
    s_thread_t targs[BLOCKING_THREADS];
    for (int i = 0; i < BLOCKING_THREADS; i++) {
        targs[i] = (s_thread_t){w, block_sale, i * BLOCKING_USERS_PER_THREAD, BLOCKING_USERS_PER_THREAD, answers};
        assert_int_equal(pthread_create(&threads[i], NULL, s_blocking_buyer, &targs[i]), 0);
    }
    /* Worker logs are per test executable: count what this scenario adds. */
    int silent0[2], again0[2];
    for (int i = 0; i < 2; i++) {
        silent0[i] = tf_log_count(w->stack.workers[i].log, "broker silent");
        again0[i] = tf_log_count(w->stack.workers[i].log, "registering again");
    }
    s_kill_t kill = {.w = w, .down_ms = down_ms, .killed_at = -1, .restarted_at = -1, .answer_after = -1};
    /* Closed loop, 1,000 calls in flight: the kill catches many of them
     * at the broker or at a worker. */
    tf_rush_opts_t o = {.frontend = w->stack.frontend,
                        .sale = async_sale,
                        .users = async_users,
                        .window = 1000,
                        .call_timeout_ms = 10000,
                        .silence_ms = 1000,
                        .on_tick = s_kill_broker,
                        .arg = &kill};
    tf_rush_result_t ra;
    bool rush_ok = tf_rush(&o, &ra);
    for (int i = 0; i < BLOCKING_THREADS; i++)
        pthread_join(threads[i], NULL);
    assert_true(rush_ok);
    tf_rush_print(async_sale, &ra);
    fprintf(stderr,
            "async client: first answer %lld ms after the kill; %d users resent after silence, %d of them "
            "bought before the kill and got that order back\n",
            (long long) (kill.answer_after - kill.killed_at), ra.resent_silent,
            s_lost_answers_recovered(&ra, kill.killed_wall));
    tf_rush_result_t rb;
    int resent_calls;
    s_blocking_result(answers, block_users, &rb, &resent_calls);
    tf_rush_print(block_sale, &rb);
    fprintf(stderr, "blocking clients: calls that needed more than one attempt=%d\n", resent_calls);
    assert_true(kill.killed_at >= 0);
    /* The kill was felt: calls in flight at the broker were lost and resent
     * after silence, or (when they were still queued in the client's
     * socket) reached the new broker before its workers and were retried
     * after UNAVAILABLE. Either way every user got a final answer above. */
    assert_true(ra.resent_silent + ra.retried > 0);
    assert_true(kill.answer_after >= 0);

    /* Workers came back to the new broker by themselves. */
    int64_t took = tf_wait(s_both_workers_back, w, 5000);
    assert_true(took >= 0);
    fprintf(stderr, "workers: 'broker silent' lines w0=%d w1=%d, 'registering again' w0=%d w1=%d\n",
            tf_log_count(w->stack.workers[0].log, "broker silent") - silent0[0],
            tf_log_count(w->stack.workers[1].log, "broker silent") - silent0[1],
            tf_log_count(w->stack.workers[0].log, "registering again") - again0[0],
            tf_log_count(w->stack.workers[1].log, "registering again") - again0[1]);

    /* Exact retries after the restart: the same users and request ids
     * again get the same orders, and the others SOLD_OUT. */
    tf_rush_result_t again_a, again_b;
    tf_rush_opts_t oa = {.frontend = w->stack.frontend, .sale = async_sale, .users = async_users, .window = 2000};
    tf_rush_opts_t ob = {.frontend = w->stack.frontend, .sale = block_sale, .users = block_users, .window = 2000};
    assert_true(tf_rush(&oa, &again_a));
    assert_true(tf_rush(&ob, &again_b));
    int mismatches = tf_rush_mismatches(&ra, &again_a) + tf_rush_mismatches(&rb, &again_b);
    fprintf(stderr, "exact retries: users whose order changed=%d\n", mismatches);

    int bad = 0;
    s_check_sale(w, async_sale, async_users / 2, &ra, &bad);
    s_check_sale(w, block_sale, block_users / 2, &rb, &bad);
    assert_int_equal(th_proc_stop(&w->persister, SIGTERM, 15000), 0);
    s_check_persisted(w, async_sale, &bad);
    s_check_persisted(w, block_sale, &bad);
    assert_int_equal(bad, 0);
    assert_int_equal(mismatches, 0);
    /* Each worker registered once with the new broker: a READY answered
     * to each DISCONNECT (one per message the new broker got from the
     * worker's old session) would reset the session again and again. */
    int readies_w0 = tf_log_count(w->stack.broker.log, "msg=\"worker ready\" worker=w0 ");
    int readies_w1 = tf_log_count(w->stack.broker.log, "msg=\"worker ready\" worker=w1 ");
    fprintf(stderr, "new broker: registrations w0=%d w1=%d (expected 1 each), sessions reset=%d\n", readies_w0,
            readies_w1, tf_log_count(w->stack.broker.log, "reason=re-registered"));
    tf_rush_free(&again_a);
    tf_rush_free(&again_b);
    tf_rush_free(&ra);
    tf_rush_free(&rb);
    free(answers);
    assert_int_equal(readies_w0, 1);
    assert_int_equal(readies_w1, 1);
}

static void
test_broker_killed_mid_rush_and_restarted_at_once_clients_and_workers_reconnect_retries_stay_exact(void **state)
{
    tf_world_t *w = *state;
    s_broker_restart_scenario(w, 0);
}

/* Long enough for queued worker heartbeats, short of the workers' own
 * 3 x 200 ms silence limit. */
static void
test_broker_killed_mid_rush_and_restarted_after_400ms_clients_and_workers_reconnect_retries_stay_exact(void **state)
{
    tf_world_t *w = *state;
    s_broker_restart_scenario(w, 400);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_broker_killed_mid_rush_and_restarted_at_once_clients_and_workers_reconnect_retries_stay_exact,
            tf_world_setup, tf_world_teardown),
        cmocka_unit_test_setup_teardown(
            test_broker_killed_mid_rush_and_restarted_after_400ms_clients_and_workers_reconnect_retries_stay_exact,
            tf_world_setup, tf_world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
