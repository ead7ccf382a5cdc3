/*
 * test_metrics.c - the Prometheus text writer (common/tix_metrics.h) and the
 * broker's answer counting (broker_metrics.h): the text of every kind of
 * family, with labels that need escaping, passes `promtool check metrics`
 * with nothing to report; histogram buckets are cumulative and end at
 * +Inf; Purchase outcomes and sales are read from the packed messages;
 * HOST:PORT values are checked and port 0 listens on a free port; the
 * persister's lag is the orders it holds plus those announced and unread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker_metrics.h"
#include "harness.h"
#include "persister.h"
#include "persister_http.h"
#include "persister_jsonl.h"
#include "scrape.h"
#include "tix_http.h"
#include "tix_metrics.h"
#include "tix_procstat.h"

static void
test_text_of_every_kind_passes_promtool(void **state)
{
    (void) state;
    tix_metrics_t w;
    tix_metrics_init(&w);
    tix_metrics_family(&w, "tix_things_total", "counter", "Things, with a \\ and a\nnewline in the help.");
    tix_label_t l[] = {{"method", "Purchase"}, {"code", "say \"hi\"\\\n"}};
    tix_metrics_u64(&w, "tix_things_total", l, 2, 42);
    tix_metrics_family(&w, "tix_level", "gauge", "A level.");
    tix_metrics_f64(&w, "tix_level", NULL, 0, 0.25);
    tix_hist_t h = {0};
    tix_hist_observe(&h, 0.00001);
    tix_hist_observe(&h, 0.003);
    tix_hist_observe(&h, 99);
    tix_metrics_family(&w, "tix_wait_seconds", "histogram", "Waits.");
    tix_label_t m[] = {{"method", "GetSale"}};
    tix_metrics_hist(&w, "tix_wait_seconds", m, 1, &h);
    tix_procstat_write(&w);
    assert_true(th_promtool_clean(w.data));
    /* Escaped as the format asks. */
    assert_non_null(strstr(w.data, "tix_things_total{method=\"Purchase\",code=\"say \\\"hi\\\"\\\\\\n\"} 42\n"));
    assert_non_null(strstr(w.data, "# HELP tix_things_total Things, with a \\\\ and a\\nnewline in the help.\n"));
    /* Cumulative buckets, +Inf holding every observation. */
    assert_int_equal(th_metric(w.data, "tix_wait_seconds_bucket{method=\"GetSale\",le=\"5e-05\"}"), 1);
    assert_int_equal(th_metric(w.data, "tix_wait_seconds_bucket{method=\"GetSale\",le=\"0.005\"}"), 2);
    assert_int_equal(th_metric(w.data, "tix_wait_seconds_bucket{method=\"GetSale\",le=\"10\"}"), 2);
    assert_int_equal(th_metric(w.data, "tix_wait_seconds_bucket{method=\"GetSale\",le=\"+Inf\"}"), 3);
    assert_int_equal(th_metric(w.data, "tix_wait_seconds_count{method=\"GetSale\"}"), 3);
    assert_true(th_metric(w.data, "tix_wait_seconds_sum{method=\"GetSale\"}") > 99);
    assert_true(th_metric(w.data, "process_resident_memory_bytes") > 0);
    assert_true(th_metric(w.data, "process_open_fds") > 0);
    assert_true(th_metric(w.data, "process_start_time_seconds") > 1e9);
    tix_metrics_free(&w);
}

/* A packed PurchaseReply / PurchaseRequest, as a worker or client sends it. */
static size_t
s_reply(uint8_t *buf, Tix__V1__PurchaseReply__Outcome outcome, uint32_t remaining)
{
    Tix__V1__PurchaseReply r = TIX__V1__PURCHASE_REPLY__INIT;
    r.outcome = outcome;
    r.order_id = "s:x:1";
    r.remaining = remaining;
    return tix__v1__purchase_reply__pack(&r, buf);
}

static size_t
s_request(uint8_t *buf, const char *sale)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = (char *) sale;
    r.user_id = "u1";
    r.request_id = "r1";
    return tix__v1__purchase_request__pack(&r, buf);
}

static void
test_broker_counts_outcomes_and_sales_from_the_wire(void **state)
{
    (void) state;
    broker_metrics_t *m = calloc(1, sizeof *m);
    const tix_method_t *purchase = tix_method_get(TIX_METHOD_PURCHASE);
    uint8_t rep[128], req[128];
    size_t rq = s_request(req, "sale-a");
    size_t n = s_reply(rep, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, 9);
    broker_metrics_answer(m, purchase, TIX__V1__CODE__OK, rep, n, req, rq, tix_metrics_now_ns());
    broker_metrics_answer(m, purchase, TIX__V1__CODE__OK, rep, n, req, rq, tix_metrics_now_ns());
    n = s_reply(rep, TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT, 0);
    broker_metrics_answer(m, purchase, TIX__V1__CODE__OK, rep, n, req, rq, 0);
    broker_metrics_answer(m, purchase, TIX__V1__CODE__RESOURCE_EXHAUSTED, NULL, 0, req, rq, 0);
    broker_metrics_answer(m, NULL, TIX__V1__CODE__INVALID_ARGUMENT, NULL, 0, NULL, 0, 0);
    assert_int_equal(m->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED], 2);
    assert_int_equal(m->outcomes[TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT], 1);
    assert_int_equal(m->calls[TIX_METHOD_PURCHASE][TIX__V1__CODE__OK], 3);
    assert_int_equal(m->calls[TIX_METHOD_PURCHASE][TIX__V1__CODE__RESOURCE_EXHAUSTED], 1);
    assert_int_equal(m->calls[TIX_METHOD_COUNT][TIX__V1__CODE__INVALID_ARGUMENT], 1);
    assert_string_equal(broker_metrics_method_name(TIX_METHOD_COUNT), "unknown");
    assert_string_equal(broker_metrics_method_name(TIX_METHOD_PURCHASE), "Purchase");
    assert_int_equal(m->duration[TIX_METHOD_PURCHASE].count, 2);
    assert_string_equal(m->sales[0].sale_id, "sale-a");
    assert_int_equal(m->sales[0].sold, 2);
    assert_int_equal(m->sales[0].remaining, 0);
    free(m);
}

static void
test_broker_keeps_the_most_recently_answered_sales(void **state)
{
    (void) state;
    broker_metrics_t *m = calloc(1, sizeof *m);
    const tix_method_t *purchase = tix_method_get(TIX_METHOD_PURCHASE);
    uint8_t rep[128], req[128];
    size_t n = s_reply(rep, TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, 1);
    char sale[32];
    for (int i = 0; i < BROKER_METRICS_SALES + 10; i++) {
        snprintf(sale, sizeof sale, "s%d", i);
        size_t rq = s_request(req, sale);
        broker_metrics_answer(m, purchase, TIX__V1__CODE__OK, rep, n, req, rq, 0);
        if (i == 0)
            continue;
        /* s0 is answered after every other sale: always recent. */
        snprintf(sale, sizeof sale, "s0");
        rq = s_request(req, sale);
        broker_metrics_answer(m, purchase, TIX__V1__CODE__OK, rep, n, req, rq, 0);
    }
    int kept = 0, s0 = 0, s1 = 0, last = 0;
    for (int i = 0; i < BROKER_METRICS_SALES; i++) {
        kept += m->sales[i].sale_id[0] != '\0';
        s0 += strcmp(m->sales[i].sale_id, "s0") == 0;
        s1 += strcmp(m->sales[i].sale_id, "s1") == 0;
        last += strcmp(m->sales[i].sale_id, "s73") == 0;
    }
    assert_int_equal(kept, BROKER_METRICS_SALES);
    assert_int_equal(s0, 1);   /* answered all along: never replaced */
    assert_int_equal(s1, 0);   /* among the least recently answered: replaced */
    assert_int_equal(last, 1); /* the newest is in */
    free(m);
}

static void
test_http_addresses(void **state)
{
    (void) state;
    char why[256];
    const char *good[] = {"127.0.0.1:0", "[::1]:9100", "localhost:80", "0.0.0.0:65535"};
    const char *bad[] = {"no-port", ":80", "host:", "h:70000", "h:-1", "h:80x", "[]:80"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(tix_http_check(good[i], why, sizeof why), TIX_OK);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(tix_http_check(bad[i], why, sizeof why), TIX_ERR_CONFIG);
    /* Port 0: a free port, reported. */
    tix_http_t *http = tix_http_new("127.0.0.1:0", NULL, NULL, NULL, why, sizeof why);
    assert_non_null(http);
    assert_true(tix_http_port(http) > 0);
    zmq_pollitem_t item;
    assert_true(tix_http_pollitem(http, &item));
    assert_true(item.fd >= 0);
    assert_false(tix_http_pollitem(NULL, &item));
    tix_http_run(NULL, ZMQ_POLLIN);
    tix_http_run(http, 0); /* neither readable nor due: nothing to do */
    tix_http_destroy(&http);
    assert_null(http);
}

static void
s_order(persister_order_t *o, int i)
{
    char order_id[32], user[32];
    snprintf(order_id, sizeof order_id, "s:x:%d", i);
    snprintf(user, sizeof user, "u%d", i);
    persister_order_init(o, order_id, "s", user, "r", 1764400000000LL + i, (persister_log_id_t){10, (uint64_t) i});
}

static void
test_persister_lag_is_held_plus_announced_unread(void **state)
{
    (void) state;
    persister_config_t c;
    persister_config_defaults(&c);
    char path[300], why[256];
    snprintf(path, sizeof path, "%s/lag.jsonl", th_tmpdir());
    persister_sink_t *sink = persister_jsonl_new(path, why, sizeof why);
    assert_non_null(sink);
    persister_t *p = persister_new(&c, &sink); /* nothing connects until its loop runs */
    assert_non_null(p);
    assert_int_equal(persister_http_lag(p), 0);
    persister_order_t o;
    for (int i = 1; i <= 2; i++) { /* read from the log, not yet written */
        s_order(&o, i);
        assert_int_equal(persister_batch_add(p->batch, &o, 1), PERSISTER_BATCH_ADDED);
    }
    persister_sale_t *sale = persister_sales_get(p->sales, "s");
    for (int i = 3; i <= 5; i++) { /* announced by events, not yet read */
        s_order(&o, i);
        assert_true(persister_sales_claim(p->sales, sale, &o));
    }
    assert_int_equal(persister_http_lag(p), 5);
    persister_destroy(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_of_every_kind_passes_promtool),
        cmocka_unit_test(test_broker_counts_outcomes_and_sales_from_the_wire),
        cmocka_unit_test(test_broker_keeps_the_most_recently_answered_sales),
        cmocka_unit_test(test_http_addresses),
        cmocka_unit_test(test_persister_lag_is_held_plus_announced_unread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
