/*
 * test_client_retry.c - the blocking call: deadlines, retries, resends,
 * stale and malformed replies, signals. Each test scripts the fake broker
 * of harness/fake_client.h from a zactor, since the call blocks this thread.
 *
 * Times are measured only as lower bounds the code promises (it waited at
 * least retry_after_ms) and as generous failure bounds; none is a benchmark.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_client.h"
#include "tix.h"
#include "tix_log.h"
#include "tix_util.h"

#define WAIT_MS 10000 /* timeout for calls that should succeed */
#define SLACK_MS 400  /* failure bound on top of a deadline: scheduling, sanitizers */

/* Every attempt carried the very same request bytes under a new call_id. */
static void
s_assert_same_request_new_ids(fake_client_t *fb, size_t n)
{
    assert_int_equal(fake_client_ncalls(fb), n);
    fake_client_call_t first = fake_client_call(fb, 0);
    for (size_t i = 1; i < n; i++) {
        fake_client_call_t c = fake_client_call(fb, i);
        assert_int_equal(c.body_size, first.body_size);
        assert_memory_equal(c.body, first.body, first.body_size);
        assert_true(c.call_id > fake_client_call(fb, i - 1).call_id);
    }
}

static void
s_exhausted_twice_100ms(fake_client_t *fb)
{
    fb->retry_code = TIX__V1__CODE__RESOURCE_EXHAUSTED;
    fb->retry_after_ms = 100;
    fb->retries = 2;
}

static void
test_blocking_call_retries_resource_exhausted_with_same_request_bytes(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_retry, s_exhausted_twice_100ms);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    assert_int_equal(tix_purchase(c, "s1", "alice", "r-42", WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_int_equal(r.attempts, 3);
    assert_string_equal(((Tix__V1__PurchaseReply *) r.reply)->order_id, "s1:alice");
    s_assert_same_request_new_ids(fb, 3);
    assert_int_equal(r.call_id, fake_client_call(fb, 2).call_id);
    for (size_t i = 1; i < 3; i++)
        assert_true(fake_client_call(fb, i).at_ms - fake_client_call(fb, i - 1).at_ms >= 100);
    Tix__V1__PurchaseRequest *req =
        tix__v1__purchase_request__unpack(NULL, fake_client_call(fb, 2).body_size, fake_client_call(fb, 2).body);
    assert_string_equal(req->request_id, "r-42"); /* the idempotency key travels unchanged */
    tix__v1__purchase_request__free_unpacked(req, NULL);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
s_unavailable_once_150ms(fake_client_t *fb)
{
    fb->retry_code = TIX__V1__CODE__UNAVAILABLE;
    fb->retry_after_ms = 150;
    fb->retries = 1;
}

static void
test_blocking_call_retries_unavailable_honouring_retry_after(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_retry, s_unavailable_once_150ms);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    int64_t start = tix_now_ms();
    assert_int_equal(tix_get_order(c, "s1", "alice", WAIT_MS, &r), TIX_OK);
    assert_true(tix_now_ms() - start >= 150);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_int_equal(r.attempts, 2);
    s_assert_same_request_new_ids(fb, 2);
    assert_true(fake_client_call(fb, 1).at_ms - fake_client_call(fb, 0).at_ms >= 150);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
s_exhausted_thrice_no_hint(fake_client_t *fb)
{
    fb->retry_code = TIX__V1__CODE__RESOURCE_EXHAUSTED;
    fb->retry_after_ms = 0;
    fb->retries = 3;
}

static void
test_blocking_call_backs_off_exponentially_without_retry_after(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_retry, s_exhausted_thrice_no_hint);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    assert_int_equal(tix_purchase(c, "s1", "alice", NULL, WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_int_equal(r.attempts, 4);
    s_assert_same_request_new_ids(fb, 4);
    for (size_t i = 1; i < 4; i++)
        assert_true(fake_client_call(fb, i).at_ms - fake_client_call(fb, i - 1).at_ms >= TIX_RETRY_BACKOFF_MIN_MS
                                                                                             << (i - 1));
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
test_blocking_call_gives_up_at_deadline_with_timeout(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_silent, NULL);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    int64_t start = tix_now_ms();
    assert_int_equal(tix_create_sale(c, "s1", 10, 0, 0, 300, &r), TIX_ERR_TIMEOUT);
    int64_t elapsed = tix_now_ms() - start;
    assert_true(elapsed >= 300);
    assert_true(elapsed < 300 + SLACK_MS);
    assert_int_equal(r.code, TIX__V1__CODE__DEADLINE_EXCEEDED);
    assert_null(r.reply);
    assert_int_equal(r.attempts, 1);
    /* The broker was told how long the caller would wait. */
    assert_true(fake_client_call(fb, 0).timeout_ms <= 300 && fake_client_call(fb, 0).timeout_ms > 0);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
s_exhausted_always_10s(fake_client_t *fb)
{
    fb->retry_code = TIX__V1__CODE__RESOURCE_EXHAUSTED;
    fb->retry_after_ms = 10000;
    fb->retries = SIZE_MAX;
}

static void
test_blocking_call_returns_retryable_answer_when_retry_after_passes_deadline(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_retry, s_exhausted_always_10s);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    int64_t start = tix_now_ms();
    assert_int_equal(tix_purchase(c, "s1", "alice", NULL, 3000, &r), TIX_OK);
    assert_true(tix_now_ms() - start < 2000); /* did not sit out a wait that could not end in time */
    assert_int_equal(r.code, TIX__V1__CODE__RESOURCE_EXHAUSTED);
    assert_int_equal(r.retry_after_ms, 10000);
    assert_int_equal(r.attempts, 1);
    assert_null(r.reply);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
s_exhausted_always_100ms(fake_client_t *fb)
{
    fb->retry_code = TIX__V1__CODE__RESOURCE_EXHAUSTED;
    fb->retry_after_ms = 100;
    fb->retries = SIZE_MAX;
}

static void
test_blocking_call_never_retries_past_the_deadline(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_retry, s_exhausted_always_100ms);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    int64_t start = tix_now_ms();
    assert_int_equal(tix_purchase(c, "s1", "alice", NULL, 800, &r), TIX_OK);
    assert_true(tix_now_ms() - start < 800 + SLACK_MS);
    assert_int_equal(r.code, TIX__V1__CODE__RESOURCE_EXHAUSTED);
    assert_true(r.attempts >= 2);
    size_t n = fake_client_ncalls(fb);
    assert_int_equal(n, r.attempts);
    assert_true(fake_client_call(fb, n - 1).at_ms <= start + 800 + 50);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
test_blocking_call_ignores_stale_replies_to_other_call_ids(void **state)
{
    (void) state;
    /* The junk script also answers call_id - 1 and call_id + 1000 with
     * well-formed OK replies before the real answer. */
    fake_client_t *fb = fake_client_new(fake_client_script_junk_first, NULL);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    assert_int_equal(tix_get_sale(c, "s1", WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.call_id, fake_client_call(fb, 0).call_id);
    assert_string_equal(((Tix__V1__Sale *) r.reply)->sale_id, "s1");
    assert_int_equal(r.attempts, 1);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
s_answer_both(fake_client_t *fb)
{
    fb->answer_second = true;
}

static void
test_reply_to_a_timed_out_call_is_not_taken_by_the_next(void **state)
{
    (void) state;
    /* The broker answers the first call only when the second arrives, just
     * before answering the second. Both are Sales: only the call_id tells. */
    fake_client_t *fb = fake_client_new(fake_client_script_hold_first, s_answer_both);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    assert_int_equal(tix_get_sale(c, "old", 200, &r), TIX_ERR_TIMEOUT);
    tix_result_clear(&r);
    assert_int_equal(tix_get_sale(c, "new", WAIT_MS, &r), TIX_OK);
    assert_string_equal(((Tix__V1__Sale *) r.reply)->sale_id, "new");
    assert_int_equal(r.call_id, fake_client_call(fb, 1).call_id);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
test_blocking_call_drops_malformed_replies_and_keeps_working(void **state)
{
    (void) state;
    /* Wrong signature, 2 frames, garbage header, 5 frames, no delimiter, an
     * undecodable body under the right call_id: then the answer. */
    fake_client_t *fb = fake_client_new(fake_client_script_junk_first, NULL);
    tix_client_t *c = tix_client_new(fb->endpoint);
    for (int i = 0; i < 2; i++) {
        tix_result_t r;
        assert_int_equal(tix_purchase(c, "s1", "alice", NULL, WAIT_MS, &r), TIX_OK);
        assert_int_equal(r.code, TIX__V1__CODE__OK);
        assert_string_equal(((Tix__V1__PurchaseReply *) r.reply)->order_id, "s1:alice");
        assert_int_equal(r.attempts, 1);
        tix_result_clear(&r);
    }
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
test_silent_broker_triggers_resend_for_purchase(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_ignore_first, NULL);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    assert_int_equal(tix_purchase(c, "s1", "alice", "r-1", WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_int_equal(r.attempts, 2);
    s_assert_same_request_new_ids(fb, 2);
    assert_true(fake_client_call(fb, 1).at_ms - fake_client_call(fb, 0).at_ms >= TIX_RETRY_SILENCE_MS - 100);
    /* The resend says how much time is left, not the original timeout. */
    assert_true(fake_client_call(fb, 1).timeout_ms < fake_client_call(fb, 0).timeout_ms);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
test_silent_broker_gets_no_resend_for_create_sale(void **state)
{
    (void) state;
    fake_client_t *fb = fake_client_new(fake_client_script_silent, NULL);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    /* Long enough for a Purchase to have been resent twice. */
    int timeout = TIX_RETRY_SILENCE_MS * 3 + 500;
    assert_int_equal(tix_create_sale(c, "s1", 10, 0, 0, (uint32_t) timeout, &r), TIX_ERR_TIMEOUT);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(fake_client_ncalls(fb), 1);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

static void
test_final_reply_to_an_earlier_attempt_is_accepted(void **state)
{
    (void) state;
    /* The first attempt is answered only after the silence resend, and the
     * resend never is: the first attempt's answer is the call's answer (the
     * same request bytes, so the same answer). */
    fake_client_t *fb = fake_client_new(fake_client_script_hold_first, NULL);
    tix_client_t *c = tix_client_new(fb->endpoint);
    tix_result_t r;
    assert_int_equal(tix_purchase(c, "s1", "alice", "r-1", WAIT_MS, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(r.call_id, fake_client_call(fb, 0).call_id);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

typedef struct {
    pthread_t main_thread; /* the one in the blocking call */
    fake_client_t *fb;     /* its broker */
    int returned;          /* set (atomically) once the call is back */
} s_interrupt_t;

/* Once the call has reached the broker (the main thread waits for its
 * answer), SIGINT to the main thread; again every 50 ms until the call is
 * back, should one land just before its poll. */
static void *
s_interrupt_when_waiting(void *arg)
{
    s_interrupt_t *x = arg;
    int64_t deadline = tix_now_ms() + 10000;
    while (fake_client_ncalls(x->fb) == 0 && tix_now_ms() < deadline)
        usleep(1000); /* a poll interval: the condition is the call arriving */
    while (!__atomic_load_n(&x->returned, __ATOMIC_ACQUIRE) && tix_now_ms() < deadline) {
        pthread_kill(x->main_thread, SIGINT);
        usleep(50000); /* a resend interval, not a settling delay */
    }
    return NULL;
}

/* Last in the list: tix_stopping() stays true for the rest of the process. */
static void
test_signal_interrupts_a_blocking_call(void **state)
{
    (void) state;
    tix_signals_install();
    fake_client_t *fb = fake_client_new(fake_client_script_silent, NULL);
    tix_client_t *c = tix_client_new(fb->endpoint);
    s_interrupt_t x = {pthread_self(), fb, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_interrupt_when_waiting, &x), 0);
    tix_result_t r;
    int64_t start = tix_now_ms();
    tix_err err = tix_get_sale(c, "s1", 30000, &r);
    __atomic_store_n(&x.returned, 1, __ATOMIC_RELEASE);
    assert_int_equal(err, TIX_ERR_INTERRUPTED);
    assert_true(tix_now_ms() - start < 10000);
    assert_int_equal(r.code, TIX__V1__CODE__CANCELLED);
    assert_true(tix_stopping());
    pthread_join(t, NULL);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    fake_client_destroy(&fb);
}

int
main(void)
{
    fake_client_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocking_call_retries_resource_exhausted_with_same_request_bytes),
        cmocka_unit_test(test_blocking_call_retries_unavailable_honouring_retry_after),
        cmocka_unit_test(test_blocking_call_backs_off_exponentially_without_retry_after),
        cmocka_unit_test(test_blocking_call_gives_up_at_deadline_with_timeout),
        cmocka_unit_test(test_blocking_call_returns_retryable_answer_when_retry_after_passes_deadline),
        cmocka_unit_test(test_blocking_call_never_retries_past_the_deadline),
        cmocka_unit_test(test_blocking_call_ignores_stale_replies_to_other_call_ids),
        cmocka_unit_test(test_reply_to_a_timed_out_call_is_not_taken_by_the_next),
        cmocka_unit_test(test_blocking_call_drops_malformed_replies_and_keeps_working),
        cmocka_unit_test(test_silent_broker_triggers_resend_for_purchase),
        cmocka_unit_test(test_silent_broker_gets_no_resend_for_create_sale),
        cmocka_unit_test(test_final_reply_to_an_earlier_attempt_is_accepted),
        cmocka_unit_test(test_signal_interrupts_a_blocking_call), /* keep last */
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
