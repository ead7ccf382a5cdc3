/*
 * test_it_fault_persister.c - the persister SIGKILLed during a rush, three
 * times, and started again each time on the same jsonl file, on real parts:
 * redis-server, tix-broker, two tix-worker processes, tix-persister (jsonl
 * sink), libtix.
 *
 * A killed persister loses what it held in memory and the events sent while
 * it was down; it may have appended orders whose cursor it never stored.
 * After the rush every sold order must be in the file exactly once: the
 * restarted persister catches up from the order log after its stored
 * cursor and recognises the lines already in the file. The sale itself
 * must not notice (the persister is off the hot path).
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
#include "tix.h"
#include "tix_util.h"

static long
s_lines(tf_world_t *w, const char *sale)
{
    tf_jsonl_counts_t n;
    return tf_jsonl_count(w->jsonl, sale, NULL, &n) ? n.lines : -1;
}

/* Kill when 15 %, 45 % and 75 % of the tickets are sold; restart at 30 %
 * and 60 %; the last restart comes after the rush. */
typedef struct {
    tf_world_t *w; /* borrowed: the test's world */
    const char *sale;
    int total; /* tickets */
    int step;  /* next entry of the schedule */
    int kills;
} s_schedule_t;

static void
s_kill_persister(const tf_rush_result_t *progress, int64_t elapsed_ms, void *arg)
{
    static const int percent[] = {15, 30, 45, 60, 75};
    s_schedule_t *s = arg;
    tf_world_t *w = s->w;
    if (s->step >= (int) TIX_ARRAY_LEN(percent) || progress->purchased * 100 < s->total * percent[s->step])
        return;
    if (s->step % 2 == 0) {
        th_proc_stop(&w->persister, SIGKILL, 1000);
        s->kills++;
        fprintf(stderr, "SIGKILL persister at %lld ms (%d sold); %ld lines in the file\n", (long long) elapsed_ms,
                progress->purchased, s_lines(w, s->sale));
    } else {
        assert_true(tf_persister_start(&w->persister, &w->stack, w->jsonl));
        fprintf(stderr, "persister started again at %lld ms (%d sold)\n", (long long) elapsed_ms, progress->purchased);
    }
    s->step++;
}

static void
test_persister_killed_three_times_during_a_rush_every_order_persisted_exactly_once(void **state)
{
    tf_world_t *w = *state;
    const char *sale = "persist-kill";
    tix_client_t *c = tix_client_new(w->stack.frontend);
    tix_result_t res;
    assert_int_equal(tix_create_sale(c, sale, 6000, 0, 0, 5000, &res), TIX_OK);
    assert_int_equal(res.code, TIX__V1__CODE__OK);
    tix_result_clear(&res);
    tix_client_destroy(&c);

    s_schedule_t sched = {.w = w, .sale = sale, .total = 6000};
    tf_rush_opts_t o = {.frontend = w->stack.frontend,
                        .sale = sale,
                        .users = 12000,
                        .window = 2000,
                        .rate = 4000,
                        .call_timeout_ms = 10000,
                        .on_tick = s_kill_persister,
                        .arg = &sched};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_int_equal(sched.kills, 3);
    long lines_while_down = s_lines(w, sale);
    assert_true(tf_persister_start(&w->persister, &w->stack, w->jsonl));

    tf_sale_facts_t f;
    assert_true(tf_sale_facts(&w->stack.redis, sale, &f));
    int bad = tf_check_invariants(sale, &f, 6000, &r);
    int64_t took = tf_wait_persisted(w->jsonl, sale, f.log_len, 20000);
    fprintf(stderr, "after the rush: %ld of %lld orders in the file; all of them %lld ms after the last start\n",
            lines_while_down, f.log_len, (long long) took);
    assert_true(took >= 0);
    assert_int_equal(th_proc_stop(&w->persister, SIGTERM, 15000), 0);
    bad += tf_check_persisted(w->jsonl, sale, &f);
    fprintf(stderr,
            "persister starts=%d, lines recognised at start (sum of lines_beyond_cursors)=%ld, "
            "written by the last one=%ld, caught up from the log by it=%ld\n",
            tf_log_count(w->persister.log, "msg=\"persister started\""),
            tf_log_sum(w->persister.log, "jsonl sink ready", "lines_beyond_cursors"),
            tf_log_last(w->persister.log, "persister stopped", "written"),
            tf_log_last(w->persister.log, "persister stopped", "from_log"));
    assert_int_equal(bad, 0);
    tf_sale_facts_free(&f);
    tf_rush_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_persister_killed_three_times_during_a_rush_every_order_persisted_exactly_once),
    };
    return cmocka_run_group_tests(tests, tf_world_setup, tf_world_teardown);
}
