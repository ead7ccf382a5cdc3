/*
 * test_it_rush.c - the built tix-rush binary against a real stack:
 * redis-server (AOF, fsync always), tix-broker, two tix-workers.
 *
 * tix-rush is run as a user runs it (th_run, --json) and its JSON object is
 * checked, and then Redis itself: a rush of 20,000 users sells exactly 200
 * tickets; fewer users than tickets buy one each; a rush on a sold-out sale
 * sells nothing; its checks fail (exit 1) when the answers do not add up;
 * a bad flag exits 2 with one line on stderr; no broker exits 3.
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
#include <unistd.h>

#include <cmocka.h>

#include "admin_call.h"
#include "fault.h"
#include "harness.h"
#include "stack_fixture.h"
#include "tix.h"
#include "tix_util.h"

#define OUT_BYTES 16384

/* The number after "key": in json, searching from after `within` when set
 * (e.g. within "\"sale_after\":"). Fails the test when absent. */
static long long
s_json_int(const char *json, const char *within, const char *key)
{
    const char *from = json;
    if (within) {
        from = strstr(json, within);
        if (!from)
            fail_msg("no %s in %s", within, json);
    }
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(from, pattern);
    if (!p)
        fail_msg("no %s in %s", pattern, json);
    return strtoll(p + strlen(pattern), NULL, 10);
}

/* Runs tix-rush on the stack with extra arguments (NULL-terminated);
 * returns its exit status, its stdout in out. */
static int
s_rush(const th_stack_t *stack, char *out, const char *const extra[])
{
    const char *argv[32] = {"tix-rush", "--frontend", stack->frontend, "--json"};
    int n = 4;
    for (int i = 0; extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int status = th_run(argv, NULL, out, OUT_BYTES);
    fprintf(stderr, "tix-rush exit %d: %s", status, out);
    return status;
}

static void
s_assert_all_checks_pass(const char *json)
{
    assert_non_null(strstr(json, "\"checks\":["));
    assert_null(strstr(json, "\"pass\":false"));
    assert_non_null(strstr(json, "\"pass\":true}\n")); /* the overall verdict closes the object */
}

static void
test_rush_20000_users_200_tickets_sells_exactly_200(void **state)
{
    th_stack_t *stack = *state;
    char out[OUT_BYTES];
    const char *const args[] = {"--sale", "it-rush-20k", "--users", "20000", "--tickets", "200", NULL};
    assert_int_equal(s_rush(stack, out, args), 0);
    assert_int_equal(s_json_int(out, NULL, "PURCHASED"), 200);
    assert_int_equal(s_json_int(out, NULL, "SOLD_OUT"), 19800);
    assert_int_equal(s_json_int(out, NULL, "answered"), 20000);
    assert_int_equal(s_json_int(out, NULL, "unanswered"), 0);
    assert_int_equal(s_json_int(out, "\"sale_after\":", "remaining"), 0);
    assert_non_null(strstr(out, "\"state\":\"SOLD_OUT\""));
    assert_null(strstr(out, "\"sellout_ms\":null"));
    assert_true(s_json_int(out, "\"latency_us\":", "count") == 20000);
    assert_true(s_json_int(out, "\"latency_us\":", "p99") <= s_json_int(out, "\"latency_us\":", "max"));
    s_assert_all_checks_pass(out);
    /* Redis agrees: 200 orders logged, 200 buyers, no stock. */
    assert_int_equal(th_redis_int(&stack->redis, "XLEN tix:{it-rush-20k}:log"), 200);
    assert_int_equal(th_redis_int(&stack->redis, "HLEN tix:{it-rush-20k}:buyers"), 200);
    assert_int_equal(th_redis_int(&stack->redis, "GET tix:{it-rush-20k}:stock"), 0);
}

static void
test_rush_fewer_users_than_tickets_each_buys_one(void **state)
{
    th_stack_t *stack = *state;
    char out[OUT_BYTES];
    const char *const args[] = {"--sale",        "it-rush-few", "--users",     "150", "--tickets", "1000",
                                "--connections", "3",           "--in-flight", "40",  NULL};
    assert_int_equal(s_rush(stack, out, args), 0);
    assert_int_equal(s_json_int(out, NULL, "PURCHASED"), 150);
    assert_int_equal(s_json_int(out, NULL, "SOLD_OUT"), 0);
    assert_int_equal(s_json_int(out, "\"sale_after\":", "remaining"), 850);
    assert_non_null(strstr(out, "\"sellout_ms\":null"));
    s_assert_all_checks_pass(out);
    assert_int_equal(th_redis_int(&stack->redis, "HLEN tix:{it-rush-few}:buyers"), 150);
}

static void
test_rush_open_loop_at_a_fixed_rate(void **state)
{
    th_stack_t *stack = *state;
    char out[OUT_BYTES];
    const char *const args[] = {"--sale", "it-rush-open", "--users", "1000", "--tickets",
                                "100",    "--rate",       "4000",    NULL};
    assert_int_equal(s_rush(stack, out, args), 0);
    assert_non_null(strstr(out, "\"mode\":\"open\""));
    assert_int_equal(s_json_int(out, NULL, "PURCHASED"), 100);
    /* 1000 arrivals at 4000/s take at least 0.25 s. */
    assert_true(s_json_int(out, NULL, "wall_ms") >= 249);
    s_assert_all_checks_pass(out);
}

static void
test_rush_on_sold_out_sale_sells_nothing(void **state)
{
    th_stack_t *stack = *state;
    char out[OUT_BYTES];
    const char *const first[] = {"--sale", "it-rush-gone", "--users", "300", "--tickets", "20", NULL};
    assert_int_equal(s_rush(stack, out, first), 0);
    const char *const again[] = {"--sale", "it-rush-gone", "--no-create", "--users", "3000", NULL};
    assert_int_equal(s_rush(stack, out, again), 0);
    assert_int_equal(s_json_int(out, NULL, "PURCHASED"), 0);
    assert_int_equal(s_json_int(out, NULL, "SOLD_OUT"), 3000);
    assert_int_equal(s_json_int(out, "\"sale_before\":", "remaining"), 0);
    s_assert_all_checks_pass(out);
    assert_int_equal(th_redis_int(&stack->redis, "HLEN tix:{it-rush-gone}:buyers"), 20);
}

/* FCALL_RO calls Redis has run (INFO commandstats). */
static long long
s_fcall_ro(const th_stack_t *stack)
{
    redisContext *c = th_redis_connect(&stack->redis);
    redisReply *r = c ? redisCommand(c, "INFO commandstats") : NULL;
    const char *at = r ? strstr(r->str, "cmdstat_fcall_ro:calls=") : NULL;
    long long n = at ? atoll(at + strlen("cmdstat_fcall_ro:calls=")) : 0;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return n;
}

typedef struct {
    const th_stack_t *stack;
    long long reads_before; /* FCALL_RO calls before tix-rush started */
    int cancelled;
} s_cancel_run_t;

/* Once tix-rush has read the sale (GetSale and ListOrders: two FCALL_RO),
 * cancels every buyer of it-rush-cx. */
static void *
s_cancel_buyers(void *arg)
{
    s_cancel_run_t *run = arg;
    int64_t until = tix_now_ms() + 20000;
    while (s_fcall_ro(run->stack) < run->reads_before + 2 && tix_now_ms() < until)
        usleep(1000);
    redisContext *c = th_redis_connect(&run->stack->redis);
    redisReply *keys = c ? redisCommand(c, "HKEYS tix:{it-rush-cx}:buyers") : NULL;
    for (size_t i = 0; keys && i < keys->elements; i++) {
        Tix__V1__CancelOrderRequest req = TIX__V1__CANCEL_ORDER_REQUEST__INIT;
        req.sale_id = "it-rush-cx";
        req.user_id = keys->element[i]->str;
        tix_code code;
        ProtobufCMessage *reply = NULL;
        if (th_admin_call(run->stack->frontend, TIX_METHOD_CANCEL_ORDER, &req, 5000, &code, &reply) &&
            code == TIX__V1__CODE__OK)
            run->cancelled++;
        if (reply)
            protobuf_c_message_free_unpacked(reply, NULL);
    }
    if (keys)
        freeReplyObject(keys);
    if (c)
        redisFree(c);
    return NULL;
}

/* A sold-out sale whose 30 orders are all cancelled while tix-rush runs:
 * the tickets sell again, and the checks count the cancels in (the order
 * log's cancel entries after minus before) instead of failing on 30
 * PURCHASED of 0 available. */
static void
test_rush_accounts_for_orders_cancelled_while_it_runs(void **state)
{
    th_stack_t *stack = *state;
    char out[OUT_BYTES];
    const char *const first[] = {"--sale", "it-rush-cx", "--users", "30", "--tickets", "30", NULL};
    assert_int_equal(s_rush(stack, out, first), 0);
    s_cancel_run_t run = {stack, s_fcall_ro(stack), 0};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_cancel_buyers, &run), 0);
    const char *const again[] = {"--sale", "it-rush-cx", "--no-create", "--users", "3000", "--rate", "3000", NULL};
    int status = s_rush(stack, out, again);
    pthread_join(thread, NULL);
    assert_int_equal(run.cancelled, 30);
    assert_int_equal(status, 0);
    assert_int_equal(s_json_int(out, "\"sale_before\":", "remaining"), 0);
    assert_int_equal(s_json_int(out, "\"sale_before\":", "cancels"), 0);
    assert_int_equal(s_json_int(out, "\"sale_after\":", "cancels"), 30);
    long long bought = s_json_int(out, NULL, "PURCHASED");
    assert_true(bought > 0 && bought <= 30);
    s_assert_all_checks_pass(out);
    assert_int_equal(th_redis_int(&stack->redis, "HLEN tix:{it-rush-cx}:buyers"), bought);
}

static void
test_rush_exits_1_when_answers_do_not_add_up(void **state)
{
    th_stack_t *stack = *state;
    /* One of the rush's users already bought, under the very request_id the
     * rush will send ("r0"): the service rightly answers PURCHASED again, so
     * the rush sees one PURCHASED more than the tickets it found left. */
    assert_true(tf_create_sale(stack->frontend, "it-rush-pre", 10));
    tix_client_t *c = tix_client_new(stack->frontend);
    tix_result_t r;
    assert_int_equal(tix_purchase(c, "it-rush-pre", "pre-0", "r0", 5000, &r), TIX_OK);
    assert_int_equal(r.code, TIX__V1__CODE__OK);
    tix_result_clear(&r);
    tix_client_destroy(&c);
    char out[OUT_BYTES];
    const char *const args[] = {"--sale", "it-rush-pre", "--no-create", "--user-prefix", "pre-", "--users", "50", NULL};
    assert_int_equal(s_rush(stack, out, args), 1);
    assert_int_equal(s_json_int(out, NULL, "PURCHASED"), 10);
    assert_non_null(strstr(out, "{\"name\":\"purchased_exact\",\"pass\":false"));
    assert_non_null(strstr(out, "\"pass\":false}\n"));
}

static size_t
s_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void
test_rush_bad_flag_exits_2_with_one_line(void **state)
{
    (void) state;
    char err[4096];
    const char *const unknown[] = {"tix-rush", "--bogus", NULL};
    assert_int_equal(th_run_stderr(unknown, err, sizeof err), 2);
    assert_int_equal(s_lines(err), 1);
    assert_non_null(strstr(err, "--bogus"));
    const char *const zero[] = {"tix-rush", "--users", "0", NULL};
    assert_int_equal(th_run_stderr(zero, err, sizeof err), 2);
    assert_int_equal(s_lines(err), 1);
    assert_non_null(strstr(err, "--users"));
    const char *const orphan[] = {"tix-rush", "--no-create", NULL};
    assert_int_equal(th_run_stderr(orphan, err, sizeof err), 2);
    assert_int_equal(s_lines(err), 1);
    assert_non_null(strstr(err, "--sale"));
    const char *const sale[] = {"tix-rush", "--sale", "no spaces allowed", NULL};
    assert_int_equal(th_run_stderr(sale, err, sizeof err), 2);
    assert_int_equal(s_lines(err), 1);
}

static void
test_rush_without_broker_exits_3(void **state)
{
    (void) state;
    char frontend[64], err[4096];
    snprintf(frontend, sizeof frontend, "tcp://127.0.0.1:%d", th_free_port());
    const char *const argv[] = {"tix-rush", "--frontend", frontend, "--timeout-ms", "300", "--users", "10", NULL};
    assert_int_equal(th_run_stderr(argv, err, sizeof err), 3);
    assert_non_null(strstr(err, "tix-rush: "));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rush_20000_users_200_tickets_sells_exactly_200),
        cmocka_unit_test(test_rush_fewer_users_than_tickets_each_buys_one),
        cmocka_unit_test(test_rush_open_loop_at_a_fixed_rate),
        cmocka_unit_test(test_rush_on_sold_out_sale_sells_nothing),
        cmocka_unit_test(test_rush_accounts_for_orders_cancelled_while_it_runs),
        cmocka_unit_test(test_rush_exits_1_when_answers_do_not_add_up),
        cmocka_unit_test(test_rush_bad_flag_exits_2_with_one_line),
        cmocka_unit_test(test_rush_without_broker_exits_3),
    };
    return cmocka_run_group_tests(tests, stack_fixture_setup, stack_fixture_teardown);
}
