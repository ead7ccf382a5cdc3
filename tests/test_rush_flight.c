/*
 * test_rush_flight.c - tix-rush's table of users in progress.
 *
 * A lost slot would leave a user unanswered forever; a wrong map hit would
 * charge an answer to the wrong user. Checked: capacity bounds the users in
 * progress; replies find their slot under random churn (against a plain
 * array as the reference), including equal call ids on two connections;
 * retries come due in time order; the ready ring is FIFO.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rush_flight.h"
#include "tix_util.h"
#include "xorshift.h"

static uint64_t s_seed = 0x2545F4914F6CDD1DULL; /* xorshift_next\'s state */

static void
test_flight_capacity_bounds_users_in_progress(void **state)
{
    (void) state;
    rush_flight_t *f = rush_flight_new(3);
    assert_true(rush_flight_start(f, 10, 0));
    assert_true(rush_flight_start(f, 11, 0));
    assert_true(rush_flight_start(f, 12, 0));
    assert_false(rush_flight_start(f, 13, 0));
    assert_int_equal(rush_flight_used(f), 3);
    /* FIFO: the first started is the first to send. */
    assert_int_equal(rush_flight_slot(f, (uint32_t) rush_flight_ready_peek(f))->user, 10);
    rush_flight_sent(f, 0, 100);
    assert_int_equal(rush_flight_slot(f, (uint32_t) rush_flight_ready_peek(f))->user, 11);
    uint32_t i = rush_flight_ready_pop(f);
    rush_flight_finish(f, i);
    assert_int_equal(rush_flight_used(f), 2);
    assert_true(rush_flight_start(f, 13, 0));
    rush_flight_destroy(&f);
    rush_flight_destroy(&f);
}

static void
test_flight_same_call_id_on_two_connections_are_two_calls(void **state)
{
    (void) state;
    rush_flight_t *f = rush_flight_new(4);
    rush_flight_start(f, 1, 0);
    rush_flight_start(f, 2, 0);
    rush_flight_sent(f, 0, 77);
    rush_flight_sent(f, 1, 77);
    int64_t b = rush_flight_take(f, 1, 77), a = rush_flight_take(f, 0, 77);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(rush_flight_slot(f, (uint32_t) a)->user, 1);
    assert_int_equal(rush_flight_slot(f, (uint32_t) b)->user, 2);
    assert_int_equal(rush_flight_take(f, 0, 77), -1);
    assert_int_equal(rush_flight_take(f, 0, 0), -1);
    rush_flight_destroy(&f);
}

/* Random churn: start, send, answer out of order, sometimes retry. Every
 * user is answered exactly once. */
static void
test_flight_every_user_answered_once_under_churn(void **state)
{
    (void) state;
    enum { CAP = 512, USERS = 200000 };
    rush_flight_t *f = rush_flight_new(CAP);
    uint8_t *done = xcalloc(USERS, 1);
    uint64_t out[CAP];  /* reference: call ids out */
    uint8_t conns[CAP]; /* ... and their connection */
    size_t nout = 0;
    uint32_t next = 0, answered = 0;
    uint64_t call_id = 1ULL << 40;
    int64_t now = 0;
    while (answered < USERS) {
        while (next < USERS && rush_flight_start(f, next, now))
            next++;
        rush_flight_promote(f, now);
        while (rush_flight_ready_peek(f) >= 0) {
            conns[nout] = (uint8_t) (xorshift_next(&s_seed) % 4);
            out[nout] = call_id++;
            rush_flight_sent(f, conns[nout], out[nout]);
            nout++;
        }
        size_t k = (size_t) (xorshift_next(&s_seed) % nout); /* an answer, in any order */
        int64_t i = rush_flight_take(f, conns[k], out[k]);
        assert_true(i >= 0);
        out[k] = out[nout - 1], conns[k] = conns[nout - 1], nout--;
        rush_slot_t *s = rush_flight_slot(f, (uint32_t) i);
        if (xorshift_next(&s_seed) % 8 == 0) {
            rush_flight_defer(f, (uint32_t) i, now + (int64_t) (xorshift_next(&s_seed) % 50));
        } else {
            assert_int_equal(done[s->user], 0);
            done[s->user] = 1;
            answered++;
            rush_flight_finish(f, (uint32_t) i);
        }
        now++;
        if (nout == 0 && rush_flight_next_due(f) != INT64_MAX)
            now = rush_flight_next_due(f); /* nothing out: jump to the next retry */
    }
    assert_int_equal(rush_flight_used(f), 0);
    free(done);
    rush_flight_destroy(&f);
}

static void
test_flight_retries_come_due_in_time_order(void **state)
{
    (void) state;
    rush_flight_t *f = rush_flight_new(64);
    for (uint32_t u = 0; u < 64; u++) {
        rush_flight_start(f, u, 0);
        rush_flight_sent(f, 0, 1000 + u);
    }
    for (uint32_t u = 0; u < 64; u++) {
        int64_t i = rush_flight_take(f, 0, 1000 + u);
        rush_flight_defer(f, (uint32_t) i, (int64_t) ((u * 37) % 64) * 10); /* a permutation of due times */
    }
    assert_int_equal(rush_flight_next_due(f), 0);
    assert_int_equal(rush_flight_promote(f, -1), 0);
    int64_t last = -1;
    for (int64_t now = 0; now < 640; now += 10) {
        assert_int_equal(rush_flight_promote(f, now), 1);
        uint32_t i = rush_flight_ready_pop(f);
        assert_true(rush_flight_slot(f, i)->due_us > last);
        last = rush_flight_slot(f, i)->due_us;
        rush_flight_finish(f, i);
    }
    assert_int_equal(rush_flight_next_due(f), INT64_MAX);
    rush_flight_destroy(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flight_capacity_bounds_users_in_progress),
        cmocka_unit_test(test_flight_same_call_id_on_two_connections_are_two_calls),
        cmocka_unit_test(test_flight_every_user_answered_once_under_churn),
        cmocka_unit_test(test_flight_retries_come_due_in_time_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
