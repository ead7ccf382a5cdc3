/*
 * test_cli_lifecycle.c - the tix CLI's sale-lifecycle commands (sale close,
 * sale list, order cancel, sale orders, and buy's ORDER_CANCELLED), run as
 * a process against a scripted fake broker (harness/fake_client.h) that
 * pages its listings: usage errors, readable and JSON output, every page
 * followed, exit codes. The end-to-end runs are in tests/clients/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "fake_client.h"
#include "tix.h"
#include "tix_util.h"

#define OUT_MAX 16384
#define SALES 5        /* sales the fake lists */
#define LOG_ENTRIES 7  /* entries of sale "big"'s order log; entry 2 a cancellation */
#define DEFAULT_PAGE 2 /* the fake's page size when asked for 0 */

/* ---- The fake's answers ------------------------------------------------------ */

/* Page [from, from + size) of n entries; next is "" after the last. */
static size_t
s_page(const char *token, uint32_t page_size, size_t n, size_t *from, char *next, size_t next_size)
{
    size_t size = page_size ? page_size : DEFAULT_PAGE;
    *from = token[0] ? (size_t) strtoul(token + 1, NULL, 10) : 0;
    size_t to = *from + size < n ? *from + size : n;
    next[0] = '\0';
    if (to < n)
        snprintf(next, next_size, "p%zu", to);
    return to - *from;
}

static void
s_list_sales(zsock_t *router, zframe_t *rid, const fake_client_call_t *call, const Tix__V1__ListSalesRequest *req)
{
    Tix__V1__Sale sales[SALES], *ptrs[SALES];
    char ids[SALES][16], next[32];
    size_t from, n = s_page(req->page_token, req->page_size, SALES, &from, next, sizeof next);
    for (size_t i = 0; i < n; i++) {
        tix__v1__sale__init(&sales[i]);
        snprintf(ids[i], sizeof ids[i], "s%zu", from + i);
        sales[i].sale_id = ids[i];
        sales[i].total = 10;
        sales[i].state = from + i == 0 ? TIX__V1__SALE__STATE__CLOSED : TIX__V1__SALE__STATE__OPEN;
        ptrs[i] = &sales[i];
    }
    Tix__V1__ListSalesReply reply = TIX__V1__LIST_SALES_REPLY__INIT;
    reply.n_sales = n;
    reply.sales = ptrs;
    reply.next_page_token = next;
    fake_client_reply(router, rid, call->call_id, TIX__V1__CODE__OK, 0, (const ProtobufCMessage *) &reply);
}

static void
s_list_orders(zsock_t *router, zframe_t *rid, const fake_client_call_t *call, const Tix__V1__ListOrdersRequest *req)
{
    Tix__V1__Order orders[LOG_ENTRIES], *ptrs[LOG_ENTRIES];
    char ids[LOG_ENTRIES][32], users[LOG_ENTRIES][16], next[32];
    size_t from, n = s_page(req->page_token, req->page_size, LOG_ENTRIES, &from, next, sizeof next);
    if (strcmp(req->sale_id, "loop") == 0) /* a broken server: the same token again and again */
        snprintf(next, sizeof next, "p0");
    for (size_t i = 0; i < n; i++) {
        size_t e = from + i, order = e == 2 ? 0 : e; /* entry 2 cancels order 0 */
        tix__v1__order__init(&orders[i]);
        snprintf(ids[i], sizeof ids[i], "%s:1:%zu", req->sale_id, order);
        snprintf(users[i], sizeof users[i], "u%zu", order);
        orders[i].order_id = ids[i];
        orders[i].sale_id = req->sale_id;
        orders[i].user_id = users[i];
        orders[i].purchased_at_ms = FAKE_CLIENT_ANSWER_AT_MS;
        if (e == 2) {
            orders[i].cancelled_at_ms = FAKE_CLIENT_ANSWER_AT_MS + 1000;
            orders[i].cancel_reason = "payment failed";
        }
        ptrs[i] = &orders[i];
    }
    Tix__V1__ListOrdersReply reply = TIX__V1__LIST_ORDERS_REPLY__INIT;
    reply.n_orders = n;
    reply.orders = ptrs;
    reply.next_page_token = next;
    fake_client_reply(router, rid, call->call_id, TIX__V1__CODE__OK, 0, (const ProtobufCMessage *) &reply);
}

static void
s_close_or_cancel(zsock_t *router, zframe_t *rid, const fake_client_call_t *call, const ProtobufCMessage *req)
{
    Tix__V1__Sale s = TIX__V1__SALE__INIT;
    Tix__V1__Order o = TIX__V1__ORDER__INIT;
    const ProtobufCMessage *out = (const ProtobufCMessage *) &s;
    char order_id[200];
    if (req->descriptor == &tix__v1__close_sale_request__descriptor) {
        s.sale_id = ((const Tix__V1__CloseSaleRequest *) req)->sale_id;
        s.total = 200;
        s.remaining = 12;
        s.state = TIX__V1__SALE__STATE__CLOSED;
    } else {
        const Tix__V1__CancelOrderRequest *c = (const Tix__V1__CancelOrderRequest *) req;
        snprintf(order_id, sizeof order_id, "%s:1:4", c->sale_id);
        o.order_id = order_id;
        o.sale_id = c->sale_id;
        o.user_id = c->user_id;
        o.request_id = "r-4";
        o.purchased_at_ms = FAKE_CLIENT_ANSWER_AT_MS;
        o.cancelled_at_ms = FAKE_CLIENT_ANSWER_AT_MS + 1000;
        o.cancel_reason = c->reason;
        out = (const ProtobufCMessage *) &o;
    }
    const char *sale = ((const Tix__V1__CloseSaleRequest *) req)->sale_id; /* field 1 of both */
    bool found = strcmp(sale, "nope") != 0;
    fake_client_reply(router, rid, call->call_id, found ? TIX__V1__CODE__OK : TIX__V1__CODE__NOT_FOUND, 0,
                      found ? out : NULL);
}

static void
s_script(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call, size_t index)
{
    const tix_method_t *m = tix_method_find(call->method, strlen(call->method));
    ProtobufCMessage *req = protobuf_c_message_unpack(m->input, NULL, call->body_size, call->body);
    const Tix__V1__PurchaseRequest *buy = (const Tix__V1__PurchaseRequest *) req;
    if (m->id == TIX_METHOD_LIST_SALES) {
        s_list_sales(router, rid, call, (const Tix__V1__ListSalesRequest *) req);
    } else if (m->id == TIX_METHOD_LIST_ORDERS) {
        s_list_orders(router, rid, call, (const Tix__V1__ListOrdersRequest *) req);
    } else if (m->id == TIX_METHOD_CLOSE_SALE || m->id == TIX_METHOD_CANCEL_ORDER) {
        s_close_or_cancel(router, rid, call, req);
    } else if (m->id == TIX_METHOD_PURCHASE && strcmp(buy->user_id, "refunded") == 0) {
        Tix__V1__PurchaseReply p = TIX__V1__PURCHASE_REPLY__INIT;
        p.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED;
        p.order_id = "s1:1:4";
        p.purchased_at_ms = FAKE_CLIENT_ANSWER_AT_MS;
        fake_client_reply(router, rid, call->call_id, TIX__V1__CODE__OK, 0, (const ProtobufCMessage *) &p);
    } else {
        fake_client_script_cli(fb, router, rid, call, index);
    }
    protobuf_c_message_free_unpacked(req, NULL);
}

/* ---- Running tix ---------------------------------------------------------- */

/* Runs the built tix with argv (argv[0] "tix"); fills out and err. */
static int
s_run(const char *const argv[], char *out, char *err)
{
    return th_run_both(argv, NULL, out, OUT_MAX, err, OUT_MAX);
}

/* The calls of method made since call index from, and the page size the
 * last of them asked for. */
static int
s_calls(const fake_client_cli_t *cli, size_t from, const char *method, uint32_t *page_size)
{
    int n = 0;
    for (size_t i = from; i < fake_client_ncalls(cli->fb); i++) {
        fake_client_call_t c = fake_client_call(cli->fb, i);
        if (strcmp(c.method, method) != 0)
            continue;
        n++;
        if (strstr(method, "ListSales")) {
            Tix__V1__ListSalesRequest *r = tix__v1__list_sales_request__unpack(NULL, c.body_size, c.body);
            assert_non_null(r);
            *page_size = r->page_size;
            tix__v1__list_sales_request__free_unpacked(r, NULL);
        } else {
            Tix__V1__ListOrdersRequest *r = tix__v1__list_orders_request__unpack(NULL, c.body_size, c.body);
            assert_non_null(r);
            *page_size = r->page_size;
            tix__v1__list_orders_request__free_unpacked(r, NULL);
        }
    }
    return n;
}

/* ---- Tests ------------------------------------------------------------------ */

static void
test_lifecycle_usage_errors_exit_2_before_any_call(void **state)
{
    const fake_client_cli_t *cli = *state;
    static const char *const cases[][10] = {
        {"tix", "sale", "close", NULL},
        {"tix", "sale", "close", "a", "b", NULL},
        {"tix", "sale", "list", "extra", NULL},
        {"tix", "sale", "list", "--page-size", "0", NULL},
        {"tix", "sale", "list", "--page-size", "1001", NULL},
        {"tix", "sale", "orders", NULL},
        {"tix", "sale", "orders", "bad sale", NULL},
        {"tix", "order", "cancel", "s1", NULL},
        {"tix", "order", "cancel", "s1", "u", "--reason", "tab\there", NULL},
        {"tix", "buy", "s1", "u", "--reason", "x", NULL}, /* --reason is cancel's own */
        {"tix", "sale", "get", "s1", "--page-size", "5", NULL},
    };
    size_t before = fake_client_ncalls(cli->fb);
    for (size_t i = 0; i < TIX_ARRAY_LEN(cases); i++) {
        char out[OUT_MAX], err[OUT_MAX];
        const char *argv[12] = {cases[i][0], cli->frontend_flag};
        for (int k = 1; k < 10 && cases[i][k - 1]; k++)
            argv[k + 1] = cases[i][k];
        int rc = s_run(argv, out, err);
        if (rc != 2)
            fail_msg("case %zu (%s %s): exit %d, want 2; stderr: %s", i, cases[i][1], cases[i][2], rc, err);
        assert_string_equal(out, "");
        assert_memory_equal(err, "tix: ", 5);
    }
    assert_int_equal(fake_client_ncalls(cli->fb), before);
    char out[OUT_MAX], err[OUT_MAX];
    for (const char *const *cmd = (const char *const[]){"close", "list", "orders", NULL}; *cmd; cmd++) {
        const char *help[] = {"tix", "sale", *cmd, "--help", NULL};
        assert_int_equal(s_run(help, out, err), 0);
        assert_non_null(strstr(out, "usage: tix [options] sale"));
        assert_true(strcmp(*cmd, "close") == 0 || strstr(out, "--page-size"));
    }
    const char *help[] = {"tix", "order", "cancel", "--help", NULL};
    assert_int_equal(s_run(help, out, err), 0);
    assert_non_null(strstr(out, "--reason"));
    assert_non_null(strstr(out, "  9  "));
}

static void
test_sale_close_prints_the_closed_sale_and_not_found_exits_5(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX], err[OUT_MAX];
    const char *argv[] = {"tix", cli->frontend_flag, "sale", "close", "s1", NULL};
    assert_int_equal(s_run(argv, out, err), 0);
    assert_string_equal(out, "CLOSED sale=s1 state=CLOSED total=200 remaining=12 opens_at=- closes_at=-\n");
    const char *json[] = {"tix", cli->frontend_flag, "--json", "sale", "close", "s1", NULL};
    assert_int_equal(s_run(json, out, err), 0);
    assert_string_equal(out, "{\"code\":\"OK\",\"sale_id\":\"s1\",\"state\":\"CLOSED\",\"total\":200,\"remaining\":12,"
                             "\"opens_at_ms\":0,\"closes_at_ms\":0}\n");
    const char *nope[] = {"tix", cli->frontend_flag, "sale", "close", "nope", NULL};
    assert_int_equal(s_run(nope, out, err), 5);
    assert_non_null(strstr(err, "(NOT_FOUND)"));
}

static void
test_sale_list_follows_every_page_one_line_or_object_per_sale(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX], err[OUT_MAX];
    uint32_t page = 99;
    size_t before = fake_client_ncalls(cli->fb);
    const char *argv[] = {"tix", cli->frontend_flag, "sale", "list", NULL};
    assert_int_equal(s_run(argv, out, err), 0);
    assert_int_equal(s_calls(cli, before, "tix.v1.AdminService/ListSales", &page), 3); /* 2 + 2 + 1 */
    assert_int_equal(page, 0);
    assert_int_equal(th_count(out, "SALE sale=s"), SALES);
    assert_non_null(strstr(out, "SALE sale=s0 state=CLOSED "));
    assert_non_null(strstr(out, "SALE sale=s4 state=OPEN "));
    before = fake_client_ncalls(cli->fb);
    const char *json[] = {"tix", cli->frontend_flag, "--json", "sale", "list", "--page-size", "4", NULL};
    assert_int_equal(s_run(json, out, err), 0);
    assert_int_equal(s_calls(cli, before, "tix.v1.AdminService/ListSales", &page), 2);
    assert_int_equal(page, 4);
    assert_int_equal(th_count(out, "{\"code\":\"OK\",\"sale_id\":\"s"), SALES);
    assert_int_equal(th_count(out, "}\n"), SALES);
}

static void
test_order_cancel_prints_the_cancelled_order_and_buy_order_cancelled_exits_9(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX], err[OUT_MAX];
    const char *argv[] = {"tix",   cli->frontend_flag, "order",          "cancel", "s1",
                          "alice", "--reason",         "payment failed", NULL};
    assert_int_equal(s_run(argv, out, err), 0);
    assert_string_equal(out, "CANCELLED order=s1:1:4 sale=s1 user=alice request_id=r-4 at=2026-11-29T10:00:00.123Z "
                             "cancelled_at=2026-11-29T10:00:01.123Z reason=\"payment failed\"\n");
    const char *json[] = {"tix", cli->frontend_flag, "--json", "order", "cancel", "s1", "alice", NULL};
    assert_int_equal(s_run(json, out, err), 0);
    assert_string_equal(out, "{\"code\":\"OK\",\"order_id\":\"s1:1:4\",\"sale_id\":\"s1\",\"user_id\":\"alice\","
                             "\"request_id\":\"r-4\",\"purchased_at_ms\":1795946400123,\"cancelled_at_ms\":"
                             "1795946401123,\"cancel_reason\":\"\"}\n");
    const char *nope[] = {"tix", cli->frontend_flag, "order", "cancel", "nope", "alice", NULL};
    assert_int_equal(s_run(nope, out, err), 5);
    const char *buy[] = {"tix", cli->frontend_flag, "buy", "s1", "refunded", "--request-id", "r-4", NULL};
    assert_int_equal(s_run(buy, out, err), 9);
    assert_memory_equal(out, "ORDER_CANCELLED order=s1:1:4 ", 29);
}

static void
test_sale_orders_streams_the_log_page_by_page_with_cancellations(void **state)
{
    const fake_client_cli_t *cli = *state;
    char out[OUT_MAX], err[OUT_MAX];
    uint32_t page = 99;
    size_t before = fake_client_ncalls(cli->fb);
    const char *argv[] = {"tix", cli->frontend_flag, "sale", "orders", "big", "--page-size", "3", NULL};
    assert_int_equal(s_run(argv, out, err), 0);
    assert_int_equal(s_calls(cli, before, "tix.v1.AdminService/ListOrders", &page), 3); /* 3 + 3 + 1 */
    assert_int_equal(page, 3);
    assert_int_equal(th_count(out, "ORDER order=big:1:"), LOG_ENTRIES - 1);
    assert_int_equal(th_count(out, "CANCEL order=big:1:0 sale=big user=u0 at=2026-11-29T10:00:00.123Z "
                                   "cancelled_at=2026-11-29T10:00:01.123Z reason=\"payment failed\"\n"),
                     1);
    /* Log order kept: the cancel is the third line. */
    const char *third = strchr(strchr(out, '\n') + 1, '\n') + 1;
    assert_memory_equal(third, "CANCEL ", 7);
    const char *json[] = {"tix", cli->frontend_flag, "--json", "sale", "orders", "big", NULL};
    assert_int_equal(s_run(json, out, err), 0);
    assert_int_equal(th_count(out, "\"cancelled_at_ms\":0,\"cancel_reason\":\"\"}\n"), LOG_ENTRIES - 1);
    assert_int_equal(th_count(out, "\"cancelled_at_ms\":1795946401123,\"cancel_reason\":\"payment failed\"}\n"), 1);
    /* A server that hands out the same token again is not followed forever. */
    const char *loop[] = {"tix", cli->frontend_flag, "sale", "orders", "loop", "--page-size", "3", NULL};
    assert_int_equal(s_run(loop, out, err), 1);
    assert_non_null(strstr(err, "same page token"));
}

static int
s_setup(void **state)
{
    return fake_client_cli_setup(state, s_script);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_usage_errors_exit_2_before_any_call),
        cmocka_unit_test(test_sale_close_prints_the_closed_sale_and_not_found_exits_5),
        cmocka_unit_test(test_sale_list_follows_every_page_one_line_or_object_per_sale),
        cmocka_unit_test(test_order_cancel_prints_the_cancelled_order_and_buy_order_cancelled_exits_9),
        cmocka_unit_test(test_sale_orders_streams_the_log_page_by_page_with_cancellations),
    };
    return cmocka_run_group_tests(tests, s_setup, fake_client_cli_teardown);
}
