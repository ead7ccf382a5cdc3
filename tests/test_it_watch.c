/*
 * test_it_watch.c - `tix sale watch` against a real stack (redis-server,
 * tix-broker, two tix-workers, stack_fixture) while a rush sells the sale
 * out: the watch ends by itself at SOLD_OUT, and its JSON lines show
 * remaining going down to 0. A watch of a sale that stays open ends on
 * SIGINT with 130; a sale that does not exist ends it with NOT_FOUND's 5.
 * The stack runs with TIX_LOG_FORMAT=json: every line the broker and the
 * workers wrote must parse as JSON (Python's json module reads them).
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

#include "fault.h"
#include "harness.h"
#include "stack_fixture.h"
#include "tix.h"

#define TICKETS 300
#define USERS 1000
#define LINE_MAX_BYTES 512

/* The watch's output (stdout and stderr share its log) holds needle. */
typedef struct {
    const char *log;
    const char *needle;
} s_seen_t;

static bool
s_seen(void *arg)
{
    const s_seen_t *s = arg;
    return tf_log_count(s->log, s->needle) > 0;
}

/* A JSON number member "key":N of line, or -1. */
static long
s_member(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* Every line of each file through json.loads; false when one does not parse. */
static bool
s_all_json(const char *const files[], int n)
{
    char cmd[4096];
    int used = snprintf(cmd, sizeof cmd,
                        "python3 -c 'import json, sys\n"
                        "for f in sys.argv[1:]:\n"
                        "    lines = [json.loads(l) for l in open(f, encoding=\"utf-8\")]\n"
                        "    assert lines and all({\"ts\", \"level\", \"comp\", \"msg\"} <= set(o) for o in lines), f\n"
                        "    print(f, len(lines), \"JSON lines\", file=sys.stderr)'");
    for (int i = 0; i < n; i++)
        used += snprintf(cmd + used, sizeof cmd - (size_t) used, " %s", files[i]);
    return system(cmd) == 0;
}

static void
test_watch_follows_a_rush_down_to_sold_out_and_ends_by_itself(void **state)
{
    th_stack_t *stack = *state;
    const char *sale = "watched";
    assert_true(tf_create_sale(stack->frontend, sale, TICKETS));
    th_proc_t watch = {.name = "tix-sale-watch"};
    const char *argv[] = {"tix",   "--frontend", stack->frontend, "--json", "sale",
                          "watch", sale,         "--interval-ms", "50",     NULL};
    assert_true(th_proc_start(&watch, argv, NULL));
    s_seen_t first = {watch.log, "\"remaining\":300"};
    assert_true(tf_wait(s_seen, &first, 10000) >= 0);

    /* 500 arrivals a second: the 300 tickets take 0.6 s, many polls. */
    tf_rush_opts_t o = {.frontend = stack->frontend, .sale = sale, .users = USERS, .window = 200, .rate = 500};
    tf_rush_result_t r;
    assert_true(tf_rush(&o, &r));
    tf_rush_print(sale, &r);
    assert_int_equal(r.purchased, TICKETS);
    assert_int_equal(r.sold_out, USERS - TICKETS);
    tf_rush_free(&r);

    int status = th_proc_stop(&watch, 0, 10000); /* signal 0: only waits for it to end */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    FILE *f = fopen(watch.log, "r");
    assert_non_null(f);
    char line[LINE_MAX_BYTES], last[LINE_MAX_BYTES] = "";
    long prev = TICKETS + 1, between = 0, lines = 0, fastest = 0;
    while (fgets(line, sizeof line, f)) {
        assert_int_equal(line[0], '{'); /* nothing else: no error line */
        long remaining = s_member(line, "remaining"), sold = s_member(line, "sold");
        assert_true(remaining >= 0 && remaining <= prev);
        assert_int_equal(sold + remaining, TICKETS);
        between += remaining > 0 && remaining < TICKETS;
        long per_s = s_member(line, "sales_per_s");
        fastest = per_s > fastest ? per_s : fastest;
        prev = remaining, lines++;
        snprintf(last, sizeof last, "%s", line);
    }
    fclose(f);
    fprintf(stderr, "watch: %ld lines, %ld while selling, fastest %ld sales/s; last: %s", lines, between, fastest,
            last);
    assert_int_equal(prev, 0);
    assert_non_null(strstr(last, "\"state\":\"SOLD_OUT\""));
    assert_true(between > 0);
    assert_true(fastest > 0);
    const char *files[] = {watch.log, stack->broker.log, stack->workers[0].log, stack->workers[1].log};
    assert_true(s_all_json(files + 1, 3));
}

static void
test_watch_ends_on_sigint_with_130_and_on_an_unknown_sale_with_5(void **state)
{
    th_stack_t *stack = *state;
    assert_true(tf_create_sale(stack->frontend, "stays-open", 10));
    th_proc_t watch = {.name = "tix-sale-watch-open"};
    const char *argv[] = {"tix", "--frontend", stack->frontend, "sale", "watch", "stays-open", "--interval-ms",
                          "50",  NULL};
    assert_true(th_proc_start(&watch, argv, NULL));
    s_seen_t line = {watch.log, "SALE sale=stays-open state=OPEN sold=0 remaining=10 total=10 sales_per_s=0.0\n"};
    assert_true(tf_wait(s_seen, &line, 10000) >= 0);
    int status = th_proc_stop(&watch, SIGINT, 5000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);

    char out[1024];
    const char *nope[] = {"tix", "--frontend", stack->frontend, "sale", "watch", "nope", NULL};
    assert_int_equal(th_run(nope, NULL, out, sizeof out), 5);
    assert_string_equal(out, "");
}

static int
s_setup(void **state)
{
    setenv("TIX_LOG_FORMAT", "json", 1); /* the stack's processes inherit it */
    return stack_fixture_setup(state);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_follows_a_rush_down_to_sold_out_and_ends_by_itself),
        cmocka_unit_test(test_watch_ends_on_sigint_with_130_and_on_an_unknown_sale_with_5),
    };
    return cmocka_run_group_tests(tests, s_setup, stack_fixture_teardown);
}
