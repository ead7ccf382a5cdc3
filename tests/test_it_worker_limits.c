/*
 * test_it_worker_limits.c - a real tix-worker driven by a fake broker
 * (harness/fake_broker.h): Redis down or frozen, jobs beyond capacity,
 * SIGTERM with jobs in flight, and bad configuration.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <czmq.h>

#include "fake_broker.h"
#include "harness.h"
#include "tix_codec.h"
#include "tix_util.h"

/* ---- Redis trouble, capacity, stopping ------------------------------------- */

static void
test_redis_down_answers_unavailable_at_once_and_heartbeats_say_so(void **state)
{
    fake_broker_t *f = *state;
    th_redis_t r;
    assert_true(th_redis_start(&r));

    fake_broker_start(f, &r);
    fake_broker_open_sale(f, "it-down", 5);
    th_redis_stop(&r);
    assert_true(fake_broker_wait_redis_ok(f, false, FAKE_BROKER_WAIT_MS));
    int64_t start = tix_now_ms();
    Tix__Worker__V1__JobReply *reply = fake_broker_reply(f, fake_broker_purchase_job(f, "it-down", "hank", "", 5000));
    assert_true(tix_now_ms() - start < 1000); /* fail fast, no waiting for Redis */
    assert_int_equal(reply->code, TIX__V1__CODE__UNAVAILABLE);
    assert_true(reply->retry_after_ms > 0);
    tix__worker__v1__job_reply__free_unpacked(reply, NULL);
    assert_true(th_redis_restart(&r));
    assert_true(fake_broker_wait_redis_ok(f, true, FAKE_BROKER_WAIT_MS));
    Tix__V1__PurchaseReply *p = fake_broker_purchase(f, "it-down", "hank", "", NULL);
    assert_int_equal(p->outcome, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
    tix__v1__purchase_reply__free_unpacked(p, NULL);
    fake_broker_stop(f);
    th_redis_stop(&r);
}

/* Freezes Redis so that jobs stay in flight. */
static void
s_freeze(th_redis_t *r, bool frozen)
{
    assert_int_equal(kill(r->pid, frozen ? SIGSTOP : SIGCONT), 0);
}

static void
test_jobs_beyond_capacity_are_refused_and_in_flight_is_reported(void **state)
{
    fake_broker_t *f = *state;
    th_redis_t r;
    assert_true(th_redis_start(&r));

    fake_broker_start(f, &r);
    fake_broker_open_sale(f, "it-cap", 100);
    s_freeze(&r, true);
    for (int i = 0; i < FAKE_BROKER_CAPACITY; i++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", i);
        fake_broker_purchase_job(f, "it-cap", user, "", 5000);
    }
    Tix__Worker__V1__Heartbeat *hb = NULL;
    do {
        if (hb)
            tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
        hb = (Tix__Worker__V1__Heartbeat *) fake_broker_expect(f, TIX_WP_HEARTBEAT, FAKE_BROKER_WAIT_MS);
        assert_non_null(hb);
    } while (hb->in_flight < FAKE_BROKER_CAPACITY);
    assert_int_equal(hb->in_flight, FAKE_BROKER_CAPACITY);
    tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
    uint64_t over = fake_broker_purchase_job(f, "it-cap", "one-too-many", "", 5000);
    fake_broker_expect_code(fake_broker_reply(f, over), TIX__V1__CODE__RESOURCE_EXHAUSTED, NULL);
    s_freeze(&r, false);
    for (int i = 0; i < FAKE_BROKER_CAPACITY; i++) {
        Tix__Worker__V1__JobReply *reply =
            (Tix__Worker__V1__JobReply *) fake_broker_expect(f, TIX_WP_REPLY, FAKE_BROKER_WAIT_MS);
        assert_non_null(reply);
        assert_int_equal(reply->code, TIX__V1__CODE__OK);
        tix__worker__v1__job_reply__free_unpacked(reply, NULL);
    }
    assert_int_equal(th_redis_int(&r, "GET tix:{it-cap}:stock"), 100 - FAKE_BROKER_CAPACITY);
    fake_broker_stop(f);
    th_redis_stop(&r);
}

static void
test_sigterm_answers_jobs_in_flight_and_exits_zero_within_2s(void **state)
{
    fake_broker_t *f = *state;
    th_redis_t r;
    assert_true(th_redis_start(&r));

    fake_broker_start(f, &r);
    fake_broker_open_sale(f, "it-term", 100);
    s_freeze(&r, true); /* in-flight calls cannot finish: the drain is bounded */
    for (int i = 0; i < FAKE_BROKER_CAPACITY; i++) {
        char user[16];
        snprintf(user, sizeof user, "t%d", i);
        fake_broker_purchase_job(f, "it-term", user, "", 5000);
    }
    Tix__Worker__V1__Heartbeat *hb = NULL;
    do {
        if (hb)
            tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
        hb = (Tix__Worker__V1__Heartbeat *) fake_broker_expect(f, TIX_WP_HEARTBEAT, FAKE_BROKER_WAIT_MS);
        assert_non_null(hb);
    } while (hb->in_flight < FAKE_BROKER_CAPACITY);
    tix__worker__v1__heartbeat__free_unpacked(hb, NULL);
    int64_t start = tix_now_ms();
    int status = th_proc_stop(&f->proc, SIGTERM, 2000);
    assert_true(tix_now_ms() - start <= 2000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Every job got an answer: none is silently lost. */
    bool answered[FAKE_BROKER_CAPACITY + 2] = {false};
    for (int i = 0; i < FAKE_BROKER_CAPACITY; i++) {
        Tix__Worker__V1__JobReply *reply =
            (Tix__Worker__V1__JobReply *) fake_broker_expect(f, TIX_WP_REPLY, FAKE_BROKER_WAIT_MS);
        assert_non_null(reply);
        assert_true(reply->job_id >= 2 && reply->job_id <= FAKE_BROKER_CAPACITY + 1 && !answered[reply->job_id]);
        answered[reply->job_id] = true;
        assert_int_equal(reply->code, TIX__V1__CODE__UNAVAILABLE);
        tix__worker__v1__job_reply__free_unpacked(reply, NULL);
    }
    s_freeze(&r, false);
    fake_broker_stop(f);
    th_redis_stop(&r);
}

/* ---- Configuration --------------------------------------------------------- */

/* Runs tix-worker with args expecting a quick exit; returns its exit code
 * and the number of lines it wrote. */
static int
s_run_bad(const char *const argv[], const char *const env[], int *lines)
{
    th_proc_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "bad-config-%d", th_free_port());
    assert_true(th_proc_start(&p, argv, env));
    int status = th_proc_stop(&p, 0, 3000); /* signal 0: just wait for the exit */
    FILE *log = fopen(p.log, "r");
    assert_non_null(log);
    *lines = 0;
    for (int c; (c = fgetc(log)) != EOF;)
        *lines += c == '\n';
    fclose(log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_help_and_bad_configuration(void **state)
{
    (void) state;
    char out[8192];
    const char *help[] = {"tix-worker", "--help", NULL};
    assert_int_equal(th_run(help, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "--redis-url"));
    assert_non_null(strstr(out, "TIX_WORKER_CAPACITY"));
    assert_non_null(strstr(out, "TIX_HEARTBEAT_MS"));

    int lines;
    const char *bad_url[] = {"tix-worker", "--redis-url", "http://x:1", NULL};
    assert_int_not_equal(s_run_bad(bad_url, NULL, &lines), 0);
    assert_int_equal(lines, 1);
    const char *bad_cap[] = {"tix-worker", "--capacity", "0", NULL};
    assert_int_not_equal(s_run_bad(bad_cap, NULL, &lines), 0);
    assert_int_equal(lines, 1);
    const char *none[] = {"tix-worker", NULL};
    const char *bad_env[] = {"TIX_HEARTBEAT_MS=10", NULL};
    assert_int_not_equal(s_run_bad(none, bad_env, &lines), 0);
    assert_int_equal(lines, 1);
    const char *bad_level[] = {"tix-worker", "--log-level", "loud", NULL};
    assert_int_not_equal(s_run_bad(bad_level, NULL, &lines), 0);
    assert_int_equal(lines, 1);
    const char *bad_endpoint[] = {"tix-worker", "--backend", "nonsense", NULL};
    assert_int_not_equal(s_run_bad(bad_endpoint, NULL, &lines), 0);
    assert_int_equal(lines, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_redis_down_answers_unavailable_at_once_and_heartbeats_say_so,
                                        fake_broker_setup, fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_jobs_beyond_capacity_are_refused_and_in_flight_is_reported,
                                        fake_broker_setup, fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_answers_jobs_in_flight_and_exits_zero_within_2s, fake_broker_setup,
                                        fake_broker_teardown),
        cmocka_unit_test_setup_teardown(test_help_and_bad_configuration, fake_broker_setup, fake_broker_teardown),
    };
    return cmocka_run_group_tests(tests, fake_broker_group_setup, fake_broker_group_teardown);
}
