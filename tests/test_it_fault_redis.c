/*
 * test_it_fault_redis.c - Redis lost under tix, on real parts: redis-server
 * (AOF, appendfsync always), tix-broker, two tix-worker processes,
 * tix-persister (jsonl sink), libtix.
 *
 *  - Redis SIGKILLed in the middle of a rush and started again on the same
 *    port and directory: it replays its AOF; workers reconnect by themselves
 *    and load the function library again; the sale is neither lost nor
 *    reset, nothing is oversold, every buyer's retry gets their order.
 *  - Redis down for 5 s: calls are answered UNAVAILABLE with
 *    retry_after_ms, Health says NOT_SERVING; once Redis is back Health
 *    says SERVING and purchases go through, including one a client kept
 *    retrying through the whole outage.
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

#define SERVING TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING

/* GetSale through tix: total and remaining as the service sees them. */
static void
s_get_sale(tf_world_t *w, const char *sale, uint32_t *total, uint32_t *remaining)
{
    tix_client_t *c = tix_client_new(w->stack.frontend);
    tix_result_t r;
    assert_int_equal(tix_get_sale(c, sale, 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    *total = ((const Tix__V1__Sale *) r.reply)->total;
    *remaining = ((const Tix__V1__Sale *) r.reply)->remaining;
    tix_result_clear(&r);
    tix_client_destroy(&c);
}

/* The invariants, persisted orders included (the persister is stopped
 * with SIGTERM first, so that nothing more can be appended). */
static void
s_check_all(tf_world_t *w, const char *sale, long long total, const tf_rush_result_t *r)
{
    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&w->stack.redis, sale, &f));
    int bad = tf_check_invariants(sale, &f, total, r);
    int64_t took = tf_wait_persisted(w->jsonl, sale, f.log_len, 15000);
    fprintf(stderr, "%s: every order in the jsonl file %lld ms after the check began\n", sale, (long long) took);
    assert_true(took >= 0);
    assert_int_equal(th_proc_stop(&w->persister, SIGTERM, 15000), 0);
    bad += tf_check_persisted(w->jsonl, sale, &f);
    assert_int_equal(bad, 0);
    tf_sale_facts_free(&f);
}

/* ---- Redis killed and restarted mid-rush -------------------------------------- */

typedef struct {
    tf_world_t *w;     /* borrowed: the test's world */
    int64_t killed_at; /* elapsed ms at SIGKILL, -1 before */
    int64_t down_ms;   /* SIGKILL to PING answered by the new redis-server (AOF replayed) */
    int answered_at_kill;
    long long log_at_kill;
} s_redis_kill_t;

static void
s_kill_redis(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    s_redis_kill_t *k = arg;
    tf_world_t *w = k->w;
    if (k->killed_at >= 0 || progress->answered < progress->users * 2 / 5)
        return;
    k->log_at_kill = th_redis_int(&w->stack.redis, "XLEN tix:{%s}:log", "aof");
    int64_t t0 = tix_now_ms();
    kill(w->stack.redis.pid, SIGKILL);
    th_redis_stop(&w->stack.redis); /* reaps it */
    assert_true(th_redis_restart(&w->stack.redis));
    k->down_ms = tix_now_ms() - t0;
    k->killed_at = elapsed_ms;
    k->answered_at_kill = progress->answered;
    fprintf(stderr, "SIGKILL redis at %lld ms (%d answered, %lld orders in the log); back after %lld ms\n",
            (long long) elapsed_ms, progress->answered, k->log_at_kill, (long long) k->down_ms);
}

static long
s_function_loads(tf_world_t *w)
{
    redisContext *c = th_redis_connect(&w->stack.redis);
    assert_non_null(c);
    redisReply *info = redisCommand(c, "INFO commandstats");
    assert_non_null(info);
    const char *p = strstr(info->str, "cmdstat_function|load:calls=");
    long calls = p ? atol(p + strlen("cmdstat_function|load:calls=")) : 0;
    freeReplyObject(info);
    redisFree(c);
    return calls;
}

static void
test_redis_killed_mid_rush_and_restarted_with_its_aof_loses_no_sale_and_oversells_nothing(void **state)
{
    tf_world_t *w = *state;
    const char *sale = "aof";
    assert_true(tf_create_sale(w->stack.frontend, sale, 5000));
    s_redis_kill_t k = {.w = w, .killed_at = -1};
    /* 10,000 users over ~2.5 s; nobody resends on silence: every call the
     * workers held when Redis died must be answered (UNAVAILABLE, retried). */
    tf_rush_opts_t o = {.frontend = w->stack.frontend,
                        .sale = sale,
                        .users = 10000,
                        .window = 2000,
                        .rate = 4000,
                        .call_timeout_ms = 10000,
                        .on_tick = s_kill_redis,
                        .arg = &k};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_true(k.killed_at >= 0);
    assert_int_equal(r.resent_silent, 0);

    /* Both workers saw the connection go, came back, and loaded the library
     * into the new redis-server. */
    for (int i = 0; i < 2; i++) {
        int lost = tf_log_count(w->stack.workers[i].log, "redis connection lost");
        int connected = tf_log_count(w->stack.workers[i].log, "redis connected");
        fprintf(stderr, "worker %d: 'redis connection lost'=%d 'redis connected'=%d 'redis unavailable'=%d\n", i, lost,
                connected, tf_log_count(w->stack.workers[i].log, "redis unavailable"));
        assert_true(lost >= 1);
        assert_true(connected >= 2);
    }
    long loads = s_function_loads(w);
    fprintf(stderr, "new redis-server: FUNCTION LOAD calls=%ld\n", loads);
    assert_true(loads >= 2);

    /* Not lost, not reset: the same total, remaining consistent with the log. */
    uint32_t total, remaining;
    s_get_sale(w, sale, &total, &remaining);
    long long log_len = th_redis_int(&w->stack.redis, "XLEN tix:{%s}:log", sale);
    fprintf(stderr, "GetSale after: total=%u remaining=%u log=%lld\n", total, remaining, log_len);
    assert_int_equal(total, 5000);
    assert_int_equal((long long) total - remaining, log_len);
    assert_true(log_len >= k.log_at_kill); /* nothing acknowledged before the kill was forgotten */

    /* Every buyer's retry gets their order; the others SOLD_OUT. */
    tf_rush_result_t again;
    tf_rush_opts_t o2 = {.frontend = w->stack.frontend, .sale = sale, .users = 10000, .window = 2000};
    assert_true(tf_rush(&o2, &again));
    assert_int_equal(tf_rush_mismatches(&r, &again), 0);
    s_check_all(w, sale, 5000, &r);
    tf_rush_free(&again);
    tf_rush_free(&r);
}

/* ---- Redis down for 5 s ------------------------------------------------------------ */

typedef struct {
    tf_world_t *w; /* borrowed: the test's world */
    const char *sale;
    int user;
    tix_err err;
    tix_code code;
    int outcome;
    unsigned attempts;
    char order[128];
} s_patient_t;

/* One buyer who keeps retrying (libtix's blocking call) for 20 s. */
static void *
s_patient_buyer(void *arg)
{
    s_patient_t *p = arg;
    tf_world_t *w = p->w;
    tix_client_t *c = tix_client_new(w->stack.frontend);
    char user[96], req[32];
    th_rush_user(user, sizeof user, p->sale, p->user);
    snprintf(req, sizeof req, "req-%d", p->user);
    tix_result_t r;
    p->err = tix_purchase(c, p->sale, user, req, 20000, &r);
    p->code = r.code;
    p->attempts = r.attempts;
    if (r.code == TIX__V1__CODE__OK) {
        p->outcome = ((const Tix__V1__PurchaseReply *) r.reply)->outcome;
        snprintf(p->order, sizeof p->order, "%s", ((const Tix__V1__PurchaseReply *) r.reply)->order_id);
    }
    tix_result_clear(&r);
    tix_client_destroy(&c);
    return NULL;
}

typedef struct {
    int probes, unavailable, with_retry_after, other;
    unsigned min_retry_after, max_retry_after;
} s_probes_t;

/* A new user's Purchase with a 600 ms timeout: libtix retries once after
 * retry_after_ms (500 ms from a worker) and then returns the answer. */
static void
s_probe(tix_client_t *c, const char *sale, int user, s_probes_t *p)
{
    char name[96], req[32];
    th_rush_user(name, sizeof name, sale, user);
    snprintf(req, sizeof req, "req-%d", user);
    tix_result_t r;
    tix_err err = tix_purchase(c, sale, name, req, 600, &r);
    p->probes++;
    if (err == TIX_OK && r.code == TIX__V1__CODE__UNAVAILABLE) {
        p->unavailable++;
        p->with_retry_after += r.retry_after_ms > 0;
        if (!p->min_retry_after || r.retry_after_ms < p->min_retry_after)
            p->min_retry_after = r.retry_after_ms;
        if (r.retry_after_ms > p->max_retry_after)
            p->max_retry_after = r.retry_after_ms;
    } else {
        fprintf(stderr, "probe user %d: %s %s: %s\n", user, tix_strerror(err), tix_code_name(r.code), r.message);
        p->other++;
    }
    tix_result_clear(&r);
}

static void
test_redis_down_5s_unavailable_with_retry_after_not_serving_then_recovery(void **state)
{
    tf_world_t *w = *state;
    const char *sale = "outage";
    const int before = 10, patient = 10, first_probe = 11;
    assert_true(tf_create_sale(w->stack.frontend, sale, 200));
    tf_rush_opts_t o = {.frontend = w->stack.frontend, .sale = sale, .users = before, .window = before};
    tf_rush_result_t early;
    assert_true(tf_rush(&o, &early));
    assert_int_equal(early.purchased, before);

    int64_t t0 = tix_now_ms();
    th_redis_stop(&w->stack.redis);
    int64_t not_serving = tf_wait_health(w->stack.frontend, NOT_SERVING, 3000);
    fprintf(stderr, "redis stopped; Health NOT_SERVING after %lld ms\n", (long long) not_serving);
    assert_true(not_serving >= 0);

    s_patient_t p = {.w = w, .sale = sale, .user = patient};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_patient_buyer, &p), 0);
    tix_client_t *c = tix_client_new(w->stack.frontend);
    s_probes_t probes = {0};
    int next_user = first_probe;
    while (tix_now_ms() - t0 < 5000)
        s_probe(c, sale, next_user++, &probes);
    bool still_not_serving = tf_wait_health(w->stack.frontend, NOT_SERVING, 0) >= 0;
    fprintf(stderr, "during 5 s without redis: probes=%d UNAVAILABLE=%d with retry_after_ms=%d (%u..%u ms) other=%d\n",
            probes.probes, probes.unavailable, probes.with_retry_after, probes.min_retry_after, probes.max_retry_after,
            probes.other);
    assert_true(probes.probes >= 5);
    assert_int_equal(probes.unavailable, probes.probes);
    assert_int_equal(probes.with_retry_after, probes.probes);
    assert_true(still_not_serving);

    assert_true(th_redis_restart(&w->stack.redis));
    int64_t serving = tf_wait_health(w->stack.frontend, SERVING, 10000);
    fprintf(stderr, "redis back (%lld ms down); Health SERVING %lld ms after it answered PING\n",
            (long long) (tix_now_ms() - t0), (long long) serving);
    assert_true(serving >= 0);
    pthread_join(thread, NULL);
    fprintf(stderr, "patient buyer: %s %s outcome=%d attempts=%u\n", tix_strerror(p.err), tix_code_name(p.code),
            p.outcome, p.attempts);
    assert_int_equal(p.err, TIX_OK);
    assert_int_equal(p.code, TIX__V1__CODE__OK);
    assert_int_equal(p.outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    assert_true(p.attempts > 1);

    /* Everyone again, same request ids: the early buyers and the patient
     * one get their orders, the probes (refused during the outage) buy now. */
    tf_rush_opts_t o2 = {.frontend = w->stack.frontend, .sale = sale, .users = next_user, .window = 500};
    tf_rush_result_t all;
    assert_true(tf_rush(&o2, &all));
    tf_rush_print(sale, &all);
    assert_int_equal(all.purchased, next_user);
    for (int u = 0; u < before; u++)
        assert_string_equal(all.order_of[u], early.order_of[u]);
    assert_string_equal(all.order_of[patient], p.order);
    uint32_t total, remaining;
    s_get_sale(w, sale, &total, &remaining);
    assert_int_equal(total, 200);
    s_check_all(w, sale, 200, &all);
    tix_client_destroy(&c);
    tf_rush_free(&all);
    tf_rush_free(&early);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_redis_killed_mid_rush_and_restarted_with_its_aof_loses_no_sale_and_oversells_nothing, tf_world_setup,
            tf_world_teardown),
        cmocka_unit_test_setup_teardown(test_redis_down_5s_unavailable_with_retry_after_not_serving_then_recovery,
                                        tf_world_setup, tf_world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
