/*
 * test_it_cli_lifecycle.c - the tix CLI's sale-lifecycle commands end to
 * end: the built tix against a real stack (redis-server, broker, two sale
 * workers). A sale of 3 tickets sells out; an order is cancelled and its
 * ticket bought by the next user; the cancelled request's retry answers
 * ORDER_CANCELLED; the order log streams page by page with the cancel in
 * it; the sale is listed, closed (twice), and refuses buyers after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define OUT_MAX 16384

static th_stack_t s_stack;
static char s_frontend[100];

/* Runs tix --frontend=... args...; returns the exit status, out filled. */
static int
s_tix(char *out, const char *first, ...)
{
    const char *argv[16] = {"tix", s_frontend, first};
    int n = 3;
    va_list ap;
    va_start(ap, first);
    for (const char *a = va_arg(ap, const char *); a && n < 15; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return th_run(argv, NULL, out, OUT_MAX);
}

static void
test_cli_closes_lists_cancels_and_exports_a_sale_on_a_real_stack(void **state)
{
    (void) state;
    char out[OUT_MAX], order1[64] = "";
    assert_int_equal(s_tix(out, "sale", "create", "life", "--tickets", "3", (char *) NULL), 0);
    assert_int_equal(s_tix(out, "buy", "life", "u1", "--request-id", "r1", (char *) NULL), 0);
    sscanf(out, "PURCHASED order=%63s", order1);
    assert_int_equal(s_tix(out, "buy", "life", "u2", (char *) NULL), 0);
    assert_int_equal(s_tix(out, "buy", "life", "u3", (char *) NULL), 0);
    assert_int_equal(s_tix(out, "buy", "life", "u4", (char *) NULL), 3); /* sold out */

    /* u1's ticket goes back: the next buyer gets it, u1's retry does not. */
    assert_int_equal(s_tix(out, "order", "cancel", "life", "u1", "--reason", "payment failed", (char *) NULL), 0);
    assert_memory_equal(out, "CANCELLED order=", 16);
    assert_non_null(strstr(out, order1));
    assert_non_null(strstr(out, " reason=\"payment failed\"\n"));
    assert_int_equal(s_tix(out, "order", "cancel", "life", "u1", (char *) NULL), 0); /* twice is once */
    assert_non_null(strstr(out, "reason=\"payment failed\""));
    assert_int_equal(s_tix(out, "buy", "life", "u1", "--request-id", "r1", (char *) NULL), 9);
    assert_memory_equal(out, "ORDER_CANCELLED ", 16);
    assert_int_equal(s_tix(out, "buy", "life", "u4", (char *) NULL), 0);
    assert_int_equal(s_tix(out, "order", "cancel", "life", "nobody", (char *) NULL), 5);

    /* The log, two entries a page: 4 purchases, 1 cancel, in log order. */
    assert_int_equal(s_tix(out, "sale", "orders", "life", "--page-size", "2", (char *) NULL), 0);
    assert_int_equal(th_count(out, "ORDER order=life:"), 4);
    assert_int_equal(th_count(out, "CANCEL order="), 1);
    assert_true(strstr(out, "CANCEL ") > strstr(out, "user=u3"));
    assert_true(strstr(out, "CANCEL ") < strstr(out, "user=u4"));
    assert_int_equal(s_tix(out, "--json", "sale", "orders", "life", (char *) NULL), 0);
    assert_int_equal(th_count(out, "{\"code\":\"OK\""), 5);
    assert_int_equal(th_count(out, "\"cancel_reason\":\"payment failed\""), 1);

    /* Listed with its state, one page of one at a time. */
    assert_int_equal(s_tix(out, "sale", "create", "other", "--tickets", "5", (char *) NULL), 0);
    assert_int_equal(s_tix(out, "sale", "list", "--page-size", "1", (char *) NULL), 0);
    assert_int_equal(th_count(out, "SALE sale="), 2);
    assert_non_null(strstr(out, "SALE sale=life state=SOLD_OUT total=3 remaining=0 "));
    assert_non_null(strstr(out, "SALE sale=other state=OPEN total=5 remaining=5 "));

    /* Closed now, twice alike; buyers are refused after, u1 keeps nothing. */
    assert_int_equal(s_tix(out, "sale", "close", "other", (char *) NULL), 0);
    assert_memory_equal(out, "CLOSED sale=other state=CLOSED ", 31);
    assert_int_equal(s_tix(out, "sale", "close", "other", (char *) NULL), 0);
    assert_int_equal(s_tix(out, "buy", "other", "u9", (char *) NULL), 7);
    assert_memory_equal(out, "SALE_CLOSED", 11);
    assert_int_equal(s_tix(out, "sale", "close", "nope", (char *) NULL), 5);
}

static int
s_setup(void **state)
{
    (void) state;
    if (!th_stack_start(&s_stack, 2, NULL))
        return -1;
    snprintf(s_frontend, sizeof s_frontend, "--frontend=%s", s_stack.frontend);
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    th_stack_stop(&s_stack);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_closes_lists_cancels_and_exports_a_sale_on_a_real_stack),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
