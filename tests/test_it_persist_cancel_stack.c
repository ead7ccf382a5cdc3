/*
 * test_it_persist_cancel_stack.c - cancellations from a real stack reach the
 * jsonl sink exactly once: redis-server, a broker, two sale workers (their
 * Lua writes the cancel entries, their events announce them), tix-persister
 * as a process, SIGKILLed between the purchases and the cancels. 200
 * tickets sold, 50 orders cancelled through CancelOrder, 50 more users buy
 * the tickets given back: 250 orders, 50 cancellations, each once, and no
 * event found to disagree with the log.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <bson/bson.h>
#include <czmq.h>

#include "fault.h"
#include "harness.h"
#include "persist_fixture.h"
#include "persister_proc.h"
#include "tix.h"
#include "tix.pb-c.h"

#define TICKETS 200
#define CANCELS 50

/* Starts tix-persister on fx's jsonl sink and waits until it is healthy. */
static void
s_persister_start(persist_fixture_t *fx, th_proc_t *p, const char *name)
{
    persist_fixture_start(fx, p, name, fx->stack.events_out, NULL, NULL);
    persister_proc_wait_healthy(p, fx->health, 10000);
}

static void
s_buy(tix_client_t *c, int from, int to)
{
    for (int i = from; i < to; i++) {
        char user[32];
        tix_result_t r;
        snprintf(user, sizeof user, "u%d", i);
        assert_int_equal(tix_purchase(c, "pc", user, user, 5000, &r), TIX_RC_OK);
        assert_int_equal(r.code, TIX_STATUS_OK);
        assert_int_equal(((const Tix__V1__PurchaseReply *) r.reply)->outcome,
                         TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED);
        tix_result_clear(&r);
    }
}

static void
s_cancel(tix_client_t *c, int from, int to)
{
    for (int i = from; i < to; i++) {
        char user[32];
        Tix__V1__CancelOrderRequest req = TIX__V1__CANCEL_ORDER_REQUEST__INIT;
        tix_result_t r;
        snprintf(user, sizeof user, "u%d", i);
        req.sale_id = "pc";
        req.user_id = user;
        req.reason = "payment failed";
        assert_int_equal(tix_client_call(c, TIX_CALL_CANCEL_ORDER, &req, 5000, &r), TIX_RC_OK);
        assert_int_equal(r.code, TIX_STATUS_OK);
        assert_true(((const Tix__V1__Order *) r.reply)->cancelled_at_ms > 0);
        tix_result_clear(&r);
    }
}

/* The file's lines: purchase lines and cancel lines, each _id counted
 * once per kind; every cancel line names a user u0..u49 and its reason. */
static void
s_read(const char *path, int *orders, int *cancels, int *twice, int *wrong)
{
    zhashx_t *seen = zhashx_new();
    FILE *f = fopen(path, "r");
    char line[4096];
    *orders = *cancels = *twice = *wrong = 0;
    while (f && fgets(line, sizeof line, f)) {
        bson_t doc;
        bson_error_t error;
        bson_iter_t it;
        assert_true(bson_init_from_json(&doc, line, -1, &error));
        bool cancel = bson_iter_init_find(&it, &doc, "cancelled_at");
        char key[160];
        assert_true(bson_iter_init_find(&it, &doc, "_id"));
        snprintf(key, sizeof key, "%s%s", bson_iter_utf8(&it, NULL), cancel ? " cancelled" : "");
        *twice += zhashx_lookup(seen, key) != NULL;
        zhashx_update(seen, key, (void *) 1);
        if (cancel) {
            int u = -1;
            (*cancels)++;
            bson_iter_init_find(&it, &doc, "user_id");
            sscanf(bson_iter_utf8(&it, NULL), "u%d", &u);
            *wrong += u < 0 || u >= CANCELS || !bson_iter_init_find(&it, &doc, "cancel_reason") ||
                      strcmp(bson_iter_utf8(&it, NULL), "payment failed") != 0;
        } else {
            (*orders)++;
        }
        bson_destroy(&doc);
    }
    if (f)
        fclose(f);
    /* Every cancel line's order has its purchase line. */
    for (void *v = zhashx_first(seen); v; v = zhashx_next(seen)) {
        const char *k = zhashx_cursor(seen);
        const char *space = strchr(k, ' ');
        if (space) {
            char id[160];
            snprintf(id, sizeof id, "%.*s", (int) (space - k), k);
            *wrong += zhashx_lookup(seen, id) == NULL;
        }
    }
    zhashx_destroy(&seen);
}

static void
test_a_real_stack_s_cancellations_reach_the_jsonl_sink_once_across_a_kill(void **state)
{
    persist_fixture_t *fx = *state;
    assert_true(tf_create_sale(fx->stack.frontend, "pc", TICKETS));
    tix_client_t *c = tix_client_new(fx->stack.frontend);
    th_proc_t p;
    s_persister_start(fx, &p, "persister-cancel");
    s_buy(c, 0, TICKETS);
    assert_int_equal(persister_proc_wait_lines(fx->path, TICKETS, 20000), TICKETS);
    th_proc_stop(&p, SIGKILL, 1000);
    s_cancel(c, 0, CANCELS);
    s_persister_start(fx, &p, "persister-cancel-2");
    s_buy(c, TICKETS, TICKETS + CANCELS);
    tix_client_destroy(&c);
    int want = TICKETS + CANCELS + CANCELS;
    assert_int_equal(persister_proc_wait_lines(fx->path, want, 20000), want);
    persister_proc_stop(&p);
    int orders, cancels, twice, wrong;
    s_read(fx->path, &orders, &cancels, &twice, &wrong);
    long mismatched = tf_log_last(p.log, "persister stopped", "mismatched");
    fprintf(stderr, "jsonl: orders=%d cancels=%d twice=%d wrong=%d; stop line mismatched=%ld cancels=%ld\n", orders,
            cancels, twice, wrong, mismatched, tf_log_last(p.log, "persister stopped", "cancels"));
    assert_int_equal(orders, TICKETS + CANCELS);
    assert_int_equal(cancels, CANCELS);
    assert_int_equal(twice, 0);
    assert_int_equal(wrong, 0);
    assert_int_equal(mismatched, 0);
    /* The fault tests' check agrees: one line per order, one per cancel. */
    tf_sale_facts_t facts;
    assert_true(tf_sale_facts(&fx->stack.redis, "pc", &facts));
    assert_int_equal(facts.cancels, CANCELS);
    assert_int_equal(tf_check_persisted(fx->path, "pc", &facts), 0);
    tf_sale_facts_free(&facts);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_real_stack_s_cancellations_reach_the_jsonl_sink_once_across_a_kill,
                                        persist_fixture_setup, persist_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
