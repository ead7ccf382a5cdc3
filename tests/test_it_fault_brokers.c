/*
 * test_it_fault_brokers.c - two brokers active/active, on real parts:
 * redis-server, two tix-broker processes, two tix-worker processes each
 * serving both brokers (TIX_BACKEND and TIX_EVENTS_IN as lists), a
 * tix-persister subscribed to both feeds, and clients whose TIX_FRONTEND
 * lists both brokers.
 *
 * A broker that dies (SIGKILL) or hangs (SIGSTOP: its sockets stay open)
 * takes the calls it held with it. Clients notice by silence (tf_rush and
 * tix-rush resend after 1 s, libtix blocking calls after
 * TIX_RETRY_SILENCE_MS), the same request with the same request_id, and
 * the resend reaches the other broker: their DEALER drops the dead or
 * silent one (ZMTP heartbeats). Workers keep serving the other broker all
 * along, each broker being its own session, and register again with the
 * lost one when it comes back, without a restart of their own.
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
#include "multi.h"
#include "rush.h"
#include "tix.h"
#include "tix_util.h"

#define RUSH_USERS 20000
#define RUSH_TICKETS 200

static th_multi_t s_m;
static th_proc_t s_persister;
static char s_jsonl[300];

static int
s_setup(void **state)
{
    (void) state;
    if (!th_multi_start(&s_m, 2, 2))
        return -1;
    snprintf(s_jsonl, sizeof s_jsonl, "%s/orders-%d.jsonl", th_tmpdir(), s_m.redis.port);
    return th_multi_persister_start(&s_m, &s_persister, s_jsonl) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    fprintf(stderr, "logs in %s\n", th_tmpdir());
    th_proc_stop(&s_persister, SIGTERM, 15000);
    th_multi_stop(&s_m);
    return 0;
}

static unsigned s_attempts; /* sends the last s_buy made */

/* One Purchase through client c; its outcome, or -1 on an error. */
static int
s_buy(tix_client_t *c, const char *sale, const char *user, const char *req, uint32_t timeout_ms, char *order,
      size_t order_size)
{
    tix_result_t r;
    tix_err err = tix_purchase(c, sale, user, req, timeout_ms, &r);
    s_attempts = r.attempts;
    int outcome = -1;
    if (err == TIX_OK && r.code == TIX__V1__CODE__OK) {
        const Tix__V1__PurchaseReply *p = (const Tix__V1__PurchaseReply *) r.reply;
        outcome = p->outcome;
        if (order)
            snprintf(order, order_size, "%s", p->order_id);
    } else {
        fprintf(stderr, "purchase %s: %s (%s: %s)\n", user, tix_strerror(err), tix_code_name(r.code), r.message);
    }
    tix_result_clear(&r);
    return outcome;
}

/* Every invariant of a finished rush on sale, and the persister's file:
 * every order exactly once although both brokers forwarded every event. */
static void
s_check_sale_and_persisted(const char *sale, long long total, const tf_rush_result_t *r)
{
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&s_m.redis, sale, &f));
    int bad = tf_check_invariants(sale, &f, total, r);
    assert_true(tf_wait_persisted(s_jsonl, sale, f.log_len, 15000) >= 0);
    assert_int_equal(th_proc_stop(&s_persister, SIGTERM, 15000), 0);
    bad += tf_check_persisted(s_jsonl, sale, &f);
    tf_sale_facts_free(&f);
    assert_int_equal(bad, 0);
}

/* ---- SIGKILL one broker mid-rush ------------------------------------------- */

typedef struct {
    int victim;
    int at_answered; /* kill when this many users are answered */
    int64_t killed_at;
} s_kill_t;

static void
s_kill_tick(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_kill_t *k = arg;
    if (k->killed_at < 0 && progress->answered >= k->at_answered) {
        th_proc_stop(&s_m.broker[k->victim].proc, SIGKILL, 1000);
        k->killed_at = elapsed_ms;
        fprintf(stderr, "SIGKILL broker %d at %lld ms (%d answered, %d purchased)\n", k->victim, (long long) elapsed_ms,
                progress->answered, progress->purchased);
    }
}

static void
test_one_broker_killed_mid_rush_every_user_answered_exactly_200_sold_resends_exact_persisted_once(void **state)
{
    (void) state;
    const char *sale = "kill2";
    assert_true(tf_create_sale(s_m.frontends, sale, RUSH_TICKETS));
    /* Early, while tickets are still being bought: calls in flight at the
     * victim include purchases that ran and whose answer dies with it. */
    s_kill_t k = {.victim = 0, .at_answered = 100, .killed_at = -1};
    tf_rush_opts_t o = {.frontend = s_m.frontends,
                        .sale = sale,
                        .users = RUSH_USERS,
                        .window = 1000,
                        .rate = 4000, /* 5 s: the 200 tickets go in the first ~50 ms at most */
                        .call_timeout_ms = 15000,
                        .silence_ms = 1000,
                        .on_tick = s_kill_tick,
                        .arg = &k};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_true(k.killed_at >= 0);
    assert_int_equal(r.answered, RUSH_USERS);
    assert_int_equal(r.other, 0);
    assert_int_equal(r.purchased, RUSH_TICKETS);
    assert_int_equal(r.sold_out, RUSH_USERS - RUSH_TICKETS);
    /* Whether the victim held a call at the kill depends on timing (at 4
     * calls/ms, answered in well under 1 ms, it often holds none): the
     * resends are reported, not required. test_tix_rush_survives_... and
     * the blocking-call test below prove the resend itself. */
    fprintf(stderr, "calls resent after the kill: %d\n", r.resent_silent);

    /* Every request again, same request_id, through the survivor: the
     * same order for each buyer (a resend that ran twice would differ). */
    tf_rush_result_t again;
    tf_rush_opts_t oa = {.frontend = s_m.broker[1].frontend, .sale = sale, .users = RUSH_USERS, .window = 2000};
    assert_true(tf_rush(&oa, &again));
    assert_int_equal(tf_rush_mismatches(&r, &again), 0);
    tf_rush_free(&again);
    s_check_sale_and_persisted(sale, RUSH_TICKETS, &r);
    tf_rush_free(&r);
}

/* ---- tix-rush through a broker kill ---------------------------------------- */

typedef struct {
    char out[16384];
    int status;
} s_rush_run_t;

static void *
s_rush_thread(void *arg)
{
    s_rush_run_t *run = arg;
    const char *argv[] = {"tix-rush", "--frontend", s_m.frontends, "--json",       "--sale", "tixrush2", "--users",
                          "20000",    "--tickets",  "200",         "--timeout-ms", "20000",  NULL};
    run->status = th_run(argv, NULL, run->out, sizeof run->out);
    return NULL;
}

static void
test_tix_rush_survives_a_broker_killed_mid_rush(void **state)
{
    (void) state;
    s_rush_run_t run = {.status = -1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_rush_thread, &run), 0);
    /* Kill broker 1 once purchases are under way. */
    int64_t until = tix_now_ms() + 30000;
    while (th_redis_int(&s_m.redis, "XLEN tix:{tixrush2}:log") < 40 && tix_now_ms() < until)
        zclock_sleep(5);
    th_proc_stop(&s_m.broker[1].proc, SIGKILL, 1000);
    pthread_join(t, NULL);
    fprintf(stderr, "tix-rush exit %d: %s", run.status, run.out);
    assert_int_equal(run.status, 0);
    assert_non_null(strstr(run.out, "\"PURCHASED\":200"));
    assert_non_null(strstr(run.out, "\"unanswered\":0"));
    assert_null(strstr(run.out, "\"pass\":false"));
    assert_null(strstr(run.out, "\"resent_silent\":0,")); /* the kill was felt */
    assert_int_equal(th_redis_int(&s_m.redis, "HLEN tix:{tixrush2}:buyers"), 200);
}

/* ---- SIGSTOP one broker mid-rush ------------------------------------------- */

typedef struct {
    int at_answered;
    int64_t stopped_at;
} s_stop_t;

static void
s_stop_tick(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_stop_t *st = arg;
    if (st->stopped_at < 0 && progress->answered >= st->at_answered) {
        kill(s_m.broker[0].proc.pid, SIGSTOP);
        st->stopped_at = elapsed_ms;
        fprintf(stderr, "SIGSTOP broker 0 at %lld ms (%d answered)\n", (long long) elapsed_ms, progress->answered);
    }
}

static void
test_one_broker_stopped_mid_rush_clients_and_workers_move_within_2s_and_it_rejoins_after_sigcont(void **state)
{
    (void) state;
    const char *sale = "stop2";
    assert_true(tf_create_sale(s_m.frontends, sale, 2 * RUSH_TICKETS));
    /* A client connected to both before the stop, for probes during it. */
    tix_client_t *probe = tix_client_new(s_m.frontends);
    assert_true(th_client_wait_serving(probe, 5000));

    s_stop_t st = {.at_answered = 2000, .stopped_at = -1};
    tf_rush_opts_t o = {.frontend = s_m.frontends,
                        .sale = sale,
                        .users = 10000,
                        .window = 500,
                        .rate = 4000,
                        .call_timeout_ms = 15000,
                        .silence_ms = 1000,
                        .on_tick = s_stop_tick,
                        .arg = &st};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_true(st.stopped_at >= 0);
    assert_true(r.elapsed_ms - st.stopped_at > TIX_CLIENT_HEARTBEAT_TIMEOUT_MS + 500);
    assert_int_equal(r.answered, 10000);
    assert_int_equal(r.other, 0);
    assert_int_equal(r.purchased, 2 * RUSH_TICKETS);
    /* Answers never stopped coming for 2 s: the other broker and its
     * workers carried the rush while the stopped one held its calls. */
    fprintf(stderr, "longest gap between answers: %lld ms\n", (long long) r.longest_silence_ms);
    assert_true(r.longest_silence_ms < 2000);

    /* Still stopped, and more than the client's ZMTP heartbeat timeout
     * later: its DEALER has dropped the stopped broker, so every call goes
     * to the live one at the first send (without heartbeats, every other
     * call would sit at the stopped broker until a resend). */
    for (int i = 0; i < 10; i++) {
        char user[32], req[32];
        snprintf(user, sizeof user, "probe-%d", i);
        snprintf(req, sizeof req, "probe-req-%d", i);
        int64_t t0 = tix_now_ms();
        assert_int_equal(s_buy(probe, sale, user, req, 10000, NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT);
        int64_t took = tix_now_ms() - t0;
        fprintf(stderr, "probe %d during the stop: %lld ms, %u attempts\n", i, (long long) took, s_attempts);
        assert_true(took < 2000);
        assert_int_equal(s_attempts, 1);
    }
    tix_client_destroy(&probe);
    tf_rush_free(&r);

    /* SIGCONT: the broker comes back, its workers register again (they
     * were never restarted) and it takes calls of its own. */
    pid_t w0 = s_m.workers[0].pid, w1 = s_m.workers[1].pid;
    kill(s_m.broker[0].proc.pid, SIGCONT);
    int64_t t0 = tix_now_ms();
    assert_true(th_wait_serving(s_m.broker[0].frontend, 10000));
    fprintf(stderr, "stopped broker serving again %lld ms after SIGCONT\n", (long long) (tix_now_ms() - t0));
    tix_client_t *only0 = tix_client_new(s_m.broker[0].frontend);
    char order[128];
    assert_true(tf_create_sale(s_m.broker[0].frontend, "stop2-after", 5));
    assert_int_equal(s_buy(only0, "stop2-after", "after-user", "after-req", 5000, order, sizeof order),
                     TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    tix_client_destroy(&only0);
    assert_true(w0 == s_m.workers[0].pid && th_proc_alive(&s_m.workers[0]));
    assert_true(w1 == s_m.workers[1].pid && th_proc_alive(&s_m.workers[1]));
}

/* ---- Blocking calls when their broker stops answering ---------------------- */

static void
test_blocking_calls_whose_broker_stops_answering_are_resent_to_the_other_within_2s(void **state)
{
    (void) state;
    assert_true(tf_create_sale(s_m.frontends, "block2", 100));
    tix_client_t *c = tix_client_new(s_m.frontends);
    assert_true(th_client_wait_serving(c, 5000));
    kill(s_m.broker[0].proc.pid, SIGSTOP);
    /* The client's DEALER alternates between the brokers until its ZMTP
     * heartbeat drops the stopped one: one of the first two calls goes
     * there, gets no answer, and is resent - same bytes, same request_id -
     * after TIX_RETRY_SILENCE_MS, by when the stopped broker has left the
     * round-robin: the resend goes to the other. */
    enum { CALLS = 6 };
    char orders[CALLS][128];
    unsigned resent = 0;
    for (int i = 0; i < CALLS; i++) {
        char user[32], req[32];
        snprintf(user, sizeof user, "block-%d", i);
        snprintf(req, sizeof req, "block-req-%d", i);
        int64_t t0 = tix_now_ms();
        assert_int_equal(s_buy(c, "block2", user, req, 10000, orders[i], sizeof orders[i]),
                         TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
        int64_t took = tix_now_ms() - t0;
        fprintf(stderr, "blocking call %d with broker 0 stopped: %lld ms, %u attempts\n", i, (long long) took,
                s_attempts);
        assert_true(took < 2000);
        resent += s_attempts > 1;
    }
    /* Whether a call was resent depends on whether the client's heartbeat
     * dropped the stopped broker before the first call (a slow, loaded
     * machine: yes). What must hold either way is asserted above: every
     * call answered within 2 s, PURCHASED. Resending itself is proved by
     * the SIGKILL tests of this file. */
    fprintf(stderr, "calls resent to the other broker: %u of %d\n", resent, CALLS);
    kill(s_m.broker[0].proc.pid, SIGCONT);
    /* What the stopped broker held runs after SIGCONT, and exactly: the
     * same requests again get the same orders, and there are 6 buyers. */
    assert_true(th_wait_serving(s_m.broker[0].frontend, 10000));
    for (int i = 0; i < CALLS; i++) {
        char user[32], req[32], again[128];
        snprintf(user, sizeof user, "block-%d", i);
        snprintf(req, sizeof req, "block-req-%d", i);
        assert_int_equal(s_buy(c, "block2", user, req, 10000, again, sizeof again),
                         TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
        assert_string_equal(orders[i], again);
    }
    tix_client_destroy(&c);
    assert_int_equal(th_redis_int(&s_m.redis, "HLEN tix:{block2}:buyers"), CALLS);
}

/* ---- A killed broker restarted --------------------------------------------- */

static bool
s_both_registered_with_0(void *arg)
{
    (void) arg;
    return tf_log_count(s_m.broker[0].proc.log, "msg=\"worker ready\" worker=w0 ") >= 1 &&
           tf_log_count(s_m.broker[0].proc.log, "msg=\"worker ready\" worker=w1 ") >= 1;
}

static void
test_killed_broker_restarted_workers_register_again_without_restarting(void **state)
{
    (void) state;
    pid_t w0 = s_m.workers[0].pid, w1 = s_m.workers[1].pid;
    th_proc_stop(&s_m.broker[0].proc, SIGKILL, 1000);
    /* Meanwhile the other broker serves. */
    assert_true(tf_create_sale(s_m.broker[1].frontend, "restart2", 10));
    tix_client_t *c1 = tix_client_new(s_m.broker[1].frontend);
    assert_int_equal(s_buy(c1, "restart2", "u1", "r1", 5000, NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    tix_client_destroy(&c1);

    assert_true(th_multi_broker_start(&s_m, 0));
    int64_t t0 = tix_now_ms();
    assert_true(th_wait_serving(s_m.broker[0].frontend, 10000));
    fprintf(stderr, "restarted broker serving %lld ms after its start\n", (long long) (tix_now_ms() - t0));
    /* Both workers register with the new process (SERVING needs one). */
    int64_t took = tf_wait(s_both_registered_with_0, NULL, 5000);
    fprintf(stderr, "both workers registered %lld ms after SERVING\n", (long long) took);
    assert_true(took >= 0);
    tix_client_t *c0 = tix_client_new(s_m.broker[0].frontend);
    assert_int_equal(s_buy(c0, "restart2", "u2", "r2", 5000, NULL, 0), TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    tix_client_destroy(&c0);
    assert_true(w0 == s_m.workers[0].pid && th_proc_alive(&s_m.workers[0]));
    assert_true(w1 == s_m.workers[1].pid && th_proc_alive(&s_m.workers[1]));
}

/* ---- The sold-out edge on both brokers ------------------------------------- */

static void
test_sold_out_sale_answered_by_both_brokers_gives_identical_answers_to_the_same_users(void **state)
{
    (void) state;
    const char *sale = "edge2";
    const int users = 2000;
    assert_true(tf_create_sale(s_m.frontends, sale, 100));
    /* Sold out through broker 0 alone. */
    tf_rush_result_t first, via0, via1;
    tf_rush_opts_t o = {.frontend = s_m.broker[0].frontend, .sale = sale, .users = users, .window = 500};
    assert_true(tf_rush(&o, &first));
    assert_int_equal(first.purchased, 100);
    /* The same users again through each broker: each learns the sale is
     * sold out on its own and answers every user as the first run did. */
    o.frontend = s_m.broker[1].frontend;
    assert_true(tf_rush(&o, &via1));
    o.frontend = s_m.broker[0].frontend;
    assert_true(tf_rush(&o, &via0));
    assert_int_equal(tf_rush_mismatches(&first, &via1), 0);
    assert_int_equal(tf_rush_mismatches(&first, &via0), 0);
    assert_int_equal(via1.purchased, 100);
    assert_int_equal(via1.sold_out, users - 100);
    assert_int_equal(via0.sold_out, users - 100);
    tf_rush_free(&first);
    tf_rush_free(&via0);
    tf_rush_free(&via1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_one_broker_killed_mid_rush_every_user_answered_exactly_200_sold_resends_exact_persisted_once, s_setup,
            s_teardown),
        cmocka_unit_test_setup_teardown(test_tix_rush_survives_a_broker_killed_mid_rush, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(
            test_one_broker_stopped_mid_rush_clients_and_workers_move_within_2s_and_it_rejoins_after_sigcont, s_setup,
            s_teardown),
        cmocka_unit_test_setup_teardown(
            test_blocking_calls_whose_broker_stops_answering_are_resent_to_the_other_within_2s, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_killed_broker_restarted_workers_register_again_without_restarting, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(
            test_sold_out_sale_answered_by_both_brokers_gives_identical_answers_to_the_same_users, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
