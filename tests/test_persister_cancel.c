/*
 * test_persister_cancel.c - cancel entries in the persister's modules: an
 * entry apart from its purchase in the buffer, cancel events checked like
 * purchase ones, the document's cancel fields, and the jsonl sink's cancel
 * line written once across restarts. No servers needed (the end-to-end
 * tests are test_it_persist_cancel and test_it_persist_wire_cancel).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "persister_batch.h"
#include "persister_jsonl.h"
#include "persister_order.h"
#include "persister_unit.h"
#include "tix_util.h"

static char s_path[400];

static void
s_purchase(persister_order_t *o, int i)
{
    char order_id[32], user[32];
    snprintf(order_id, sizeof order_id, "s1:1:%d", i);
    snprintf(user, sizeof user, "u%d", i);
    persister_order_init(o, order_id, "s1", user, "r", 1764400000000LL + i, (persister_log_id_t){(uint64_t) i, 0});
}

/* The cancel entry of order i, at log id (1000 + i)-0. */
static void
s_cancel(persister_order_t *o, int i)
{
    s_purchase(o, i);
    o->log_id = (persister_log_id_t){1000 + (uint64_t) i, 0};
    persister_order_set_cancel(o, 1764400500000LL + i, "payment failed");
}

static void
test_a_cancel_entry_is_held_apart_from_its_purchase_and_once(void **state)
{
    (void) state;
    persister_batch_t *b = persister_batch_new(10);
    persister_order_t o;
    s_purchase(&o, 1);
    assert_int_equal(persister_batch_add(b, &o, 1), PERSISTER_BATCH_ADDED);
    s_cancel(&o, 1);
    assert_string_equal(persister_order_key(&o), "s1:1:1 cancelled");
    assert_int_equal(persister_batch_add(b, &o, 1), PERSISTER_BATCH_ADDED);
    s_cancel(&o, 1);
    assert_int_equal(persister_batch_add(b, &o, 1), PERSISTER_BATCH_DUPLICATE);
    persister_order_clear(&o);
    assert_int_equal(persister_batch_size(b), 2);
    bool done[2] = {true, false}; /* the purchase written, the cancel not yet */
    persister_batch_remove(b, 2, done);
    s_cancel(&o, 1);
    assert_int_equal(persister_batch_add(b, &o, 1), PERSISTER_BATCH_DUPLICATE);
    persister_order_clear(&o);
    persister_batch_destroy(&b);
}

static void
test_a_cancel_event_carries_its_fields_and_a_bad_one_is_refused(void **state)
{
    (void) state;
    Tix__V1__Order o;
    Tix__V1__OrderEvent ev;
    persister_unit_event(&ev, &o, "s1:1:1");
    o.cancelled_at_ms = 9;
    o.cancel_reason = "late payment";
    persister_order_t out;
    char why[128];
    assert_true(persister_order_from_event(&ev, "order.s1", &out, why, sizeof why));
    assert_true(persister_order_is_cancel(&out));
    assert_int_equal(out.cancelled_at_ms, 9);
    assert_string_equal(out.cancel_reason, "late payment");
    persister_order_clear(&out);
    o.cancel_reason = "bad\x01reason";
    assert_false(persister_order_from_event(&ev, "order.s1", &out, why, sizeof why));
    o.cancel_reason = "";
    o.cancelled_at_ms = -1;
    assert_false(persister_order_from_event(&ev, "order.s1", &out, why, sizeof why));
    o.cancelled_at_ms = 0; /* a purchase event */
    assert_true(persister_order_from_event(&ev, "order.s1", &out, why, sizeof why));
    assert_false(persister_order_is_cancel(&out));
    assert_null(out.cancel_reason);
    persister_order_clear(&out);
}

static void
s_keys(const bson_t *doc, char *buf, size_t size)
{
    bson_iter_t it;
    size_t used = 0;
    buf[0] = '\0';
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it) && used < size)
        used += (size_t) snprintf(buf + used, size - used, "%s%s", used ? " " : "", bson_iter_key(&it));
}

static void
test_a_cancel_document_has_the_cancel_fields_and_no_log_id_of_its_own(void **state)
{
    (void) state;
    persister_order_t o;
    char keys[300];
    bson_t doc = BSON_INITIALIZER, cancel = BSON_INITIALIZER;
    s_purchase(&o, 1);
    persister_order_append_cancel(&o, &cancel);
    assert_true(bson_empty(&cancel));
    persister_order_clear(&o);
    s_cancel(&o, 1);
    persister_order_append_bson(&o, 7, &doc);
    s_keys(&doc, keys, sizeof keys);
    assert_string_equal(keys, "_id sale_id user_id request_id purchased_at persisted_at cancelled_at cancel_reason "
                              "cancel_log_id");
    bson_iter_t it;
    assert_true(bson_iter_init_find(&it, &doc, "cancelled_at") && BSON_ITER_HOLDS_DATE_TIME(&it));
    assert_int_equal(bson_iter_date_time(&it), 1764400500001LL);
    assert_true(bson_iter_init_find(&it, &doc, "cancel_log_id"));
    assert_string_equal(bson_iter_utf8(&it, NULL), "1001-0");
    bson_destroy(&doc);
    bson_destroy(&cancel);
    persister_order_clear(&o);
}

/* Writes purchases [from, to) and the cancels of [cfrom, cto). */
static void
s_write(persister_sink_t *sink, int from, int to, int cfrom, int cto)
{
    persister_order_t orders[64];
    persister_write_status status[64];
    size_t n = 0;
    for (int i = from; i < to; i++)
        s_purchase(&orders[n++], i);
    for (int i = cfrom; i < cto; i++)
        s_cancel(&orders[n++], i);
    assert_int_equal(persister_sink_write(sink, orders, n, status), TIX_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(status[i], PERSISTER_WRITE_DONE);
        persister_order_clear(&orders[i]);
    }
}

static void
test_jsonl_a_cancel_is_one_more_line_written_once_across_a_restart(void **state)
{
    (void) state;
    char why[400];
    snprintf(s_path, sizeof s_path, "%s/cancel-unit.jsonl", th_tmpdir());
    persister_sink_t *sink = persister_jsonl_new(s_path, why, sizeof why);
    assert_non_null(sink);
    s_write(sink, 1, 11, 1, 4);
    s_write(sink, 5, 11, 2, 4); /* held already: nothing appended */
    assert_int_equal(persister_unit_lines(s_path, NULL), 13);
    persister_cursor_t c = {"s1", {5, 0}}; /* below every cancel's log id */
    assert_int_equal(persister_sink_store_cursors(sink, &c, 1), TIX_OK);
    persister_sink_destroy(&sink);
    /* Restarted: the cancel lines beyond the cursor are recognised. */
    sink = persister_jsonl_new(s_path, why, sizeof why);
    assert_non_null(sink);
    s_write(sink, 1, 11, 1, 6);
    persister_sink_destroy(&sink);
    assert_int_equal(persister_unit_lines(s_path, NULL), 15);
    assert_int_equal(persister_unit_lines(s_path, "\"cancelled_at\""), 5);
    assert_int_equal(persister_unit_lines(s_path, "\"_id\" : \"s1:1:3\", "), 2);
    assert_int_equal(persister_unit_lines(s_path, "\"cancel_log_id\" : \"1003-0\""), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_cancel_entry_is_held_apart_from_its_purchase_and_once),
        cmocka_unit_test(test_a_cancel_event_carries_its_fields_and_a_bad_one_is_refused),
        cmocka_unit_test(test_a_cancel_document_has_the_cancel_fields_and_no_log_id_of_its_own),
        cmocka_unit_test(test_jsonl_a_cancel_is_one_more_line_written_once_across_a_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
