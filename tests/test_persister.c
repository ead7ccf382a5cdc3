/*
 * test_persister.c - the persister's modules one by one: log ids, the
 * bounded buffer, per-sale cursors, configuration, the Redis URL and
 * events. The jsonl sink is test_persister_jsonl.c's. No servers needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "persister_batch.h"
#include "persister_config.h"
#include "persister_log.h"
#include "persister_order.h"
#include "persister_sales.h"
#include "persister_unit.h"
#include "tix_log.h"
#include "tix_util.h"

/* ---- Log ids ------------------------------------------------------------- */

static void
test_log_ids_parse_compare_and_format_as_stream_ids(void **state)
{
    (void) state;
    persister_log_id_t a, b;
    assert_true(persister_log_id_parse("1764400000000-0", &a));
    assert_true(persister_log_id_parse("1764400000000-12", &b));
    assert_true(persister_log_id_cmp(a, b) < 0);
    assert_true(persister_log_id_cmp(b, a) > 0);
    assert_int_equal(persister_log_id_cmp(a, a), 0);
    assert_true(persister_log_id_cmp(persister_unit_id(9, 0), persister_unit_id(10, 0)) <
                0); /* numeric, not text order */
    char text[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(persister_unit_id(UINT64_MAX, UINT64_MAX), text, sizeof text);
    assert_string_equal(text, "18446744073709551615-18446744073709551615");
    assert_true(persister_log_id_parse(text, &a));
    assert_int_equal(a.ms, UINT64_MAX);
}

static void
test_log_id_parse_rejects_anything_but_ms_dash_seq(void **state)
{
    (void) state;
    const char *bad[] = {
        "", "12", "12-", "-3", "a-1", "1-b", "1-2-3", " 1-2", "1-2 ", "+1-2", "18446744073709551616-0", NULL};
    persister_log_id_t id = persister_unit_id(7, 7);
    for (int i = 0; bad[i]; i++) {
        assert_false(persister_log_id_parse(bad[i], &id));
        assert_int_equal(id.ms, 7);
    }
    assert_false(persister_log_id_parse(NULL, &id));
}

/* ---- The buffer ---------------------------------------------------------- */

static void
test_buffer_refuses_a_held_order_id_and_sheds_when_full(void **state)
{
    (void) state;
    persister_batch_t *b = persister_batch_new(3);
    persister_order_t o;
    for (int i = 1; i <= 3; i++) {
        persister_unit_order(&o, "s", i, persister_unit_id(1, (uint64_t) i));
        assert_int_equal(persister_batch_add(b, &o, 100 + i), PERSISTER_BATCH_ADDED);
        assert_null(o.order_id); /* moved in */
    }
    assert_int_equal(persister_batch_since_ms(b), 101);
    persister_unit_order(&o, "s", 2, persister_unit_id(1, 2));
    assert_int_equal(persister_batch_add(b, &o, 200), PERSISTER_BATCH_DUPLICATE);
    persister_order_clear(&o);
    persister_unit_order(&o, "s", 4, persister_unit_id(1, 4));
    assert_int_equal(persister_batch_add(b, &o, 200), PERSISTER_BATCH_FULL);
    assert_non_null(o.order_id); /* still the caller's */
    persister_order_clear(&o);
    assert_int_equal(persister_batch_size(b), 3);
    assert_int_equal(persister_batch_room(b), 0);
    persister_batch_destroy(&b);
    assert_null(b);
    persister_batch_destroy(&b);
}

static void
test_buffer_removes_done_orders_and_keeps_the_rest_in_order(void **state)
{
    (void) state;
    persister_batch_t *b = persister_batch_new(10);
    persister_order_t o;
    for (int i = 1; i <= 5; i++) {
        persister_unit_order(&o, "s", i, persister_unit_id(1, (uint64_t) i));
        persister_batch_add(b, &o, 50);
    }
    bool done[4] = {true, false, true, false};
    persister_batch_remove(b, 4, done);
    assert_int_equal(persister_batch_size(b), 3);
    persister_order_t *held = persister_batch_orders(b);
    assert_string_equal(held[0].order_id, "s:2");
    assert_string_equal(held[1].order_id, "s:4");
    assert_string_equal(held[2].order_id, "s:5");
    assert_int_equal(persister_batch_since_ms(b), 50); /* what failed keeps its age */
    persister_unit_order(&o, "s", 1, persister_unit_id(1, 1));
    assert_int_equal(persister_batch_add(b, &o, 60), PERSISTER_BATCH_ADDED); /* s:1 is no longer held */
    bool all[4] = {true, true, true, true};
    persister_batch_remove(b, 4, all);
    assert_int_equal(persister_batch_size(b), 0);
    assert_int_equal(persister_batch_since_ms(b), 0);
    persister_batch_destroy(&b);
}

/* ---- Sales --------------------------------------------------------------- */

static void
test_advancing_a_cursor_forgets_the_written_ids_it_covers(void **state)
{
    (void) state;
    persister_sales_t *t = persister_sales_new(10);
    persister_sale_t *s = persister_sales_get(t, "s1");
    assert_ptr_equal(persister_sales_get(t, "s1"), s);
    assert_false(s->cursor_known);
    persister_sales_mark_written(t, s, persister_unit_id(5, 0));
    persister_sales_mark_written(t, s, persister_unit_id(7, 0));
    persister_sales_mark_written(t, s, persister_unit_id(7, 0));
    assert_int_equal(persister_sales_written_count(t), 2);
    assert_true(persister_sales_is_written(s, persister_unit_id(7, 0)));
    assert_false(persister_sales_is_written(s, persister_unit_id(6, 0)));
    persister_sales_advance(t, s, persister_unit_id(6, 0));
    assert_true(persister_sales_is_written(s, persister_unit_id(6, 0))); /* at or below the cursor */
    assert_true(persister_sales_is_written(s, persister_unit_id(5, 0)));
    assert_true(persister_sales_is_written(s, persister_unit_id(7, 0)));
    assert_int_equal(persister_sales_written_count(t), 1);
    persister_sales_advance(t, s, persister_unit_id(2, 0)); /* never backwards */
    assert_int_equal(s->cursor.ms, 6);
    persister_sales_forget_written(t);
    assert_false(persister_sales_is_written(s, persister_unit_id(7, 0)));
    assert_int_equal(persister_sales_count(t), 1);
    persister_sales_destroy(&t);
}

static void
s_count_absent(const persister_order_t *claim, void *arg)
{
    (void) claim;
    (*(int *) arg)++;
}

static void
test_claims_are_taken_by_their_entry_and_settled_absent_only_past_where_the_read_began(void **state)
{
    (void) state;
    persister_sales_t *t = persister_sales_new(3);
    persister_sale_t *s = persister_sales_get(t, "s");
    persister_order_t o;
    for (int i = 1; i <= 3; i++) {
        persister_unit_order(&o, "s", i, persister_unit_id(10, (uint64_t) i));
        assert_true(persister_sales_claim(t, s, &o));
        assert_null(o.order_id); /* moved in */
    }
    persister_unit_order(&o, "s", 4, persister_unit_id(10, 4));
    assert_false(persister_sales_claim(t, s, &o)); /* the bound */
    persister_order_clear(&o);
    persister_order_t *c = persister_sales_claim_take(t, s, persister_unit_id(10, 2));
    assert_string_equal(c->order_id, "s:2");
    persister_order_clear(c);
    free(c);
    assert_null(persister_sales_claim_take(t, s, persister_unit_id(10, 2)));
    /* Read from 10-1 (exclusive) to the end: 10-3 has no entry; 10-1 was
     * read before, unchecked. */
    int absent = 0;
    assert_int_equal(persister_sales_claims_settle(t, s, persister_unit_id(10, 1),
                                                   persister_unit_id(UINT64_MAX, UINT64_MAX), s_count_absent, &absent),
                     1);
    assert_int_equal(absent, 1);
    assert_int_equal(persister_sales_claims_count(s), 0);
    persister_sales_destroy(&t);
}

static void
test_a_retired_sale_leaves_the_live_set_keeps_its_cursor_and_comes_back(void **state)
{
    (void) state;
    persister_sales_t *t = persister_sales_new(10);
    persister_sale_t *a = persister_sales_get(t, "a"), *b = persister_sales_get(t, "b"), *out[4];
    persister_sales_advance(t, a, persister_unit_id(5, 0));
    persister_sales_mark_written(t, a, persister_unit_id(6, 0));
    assert_int_equal(persister_sales_live_count(t), 2);
    persister_sales_retire(t, a);
    assert_int_equal(persister_sales_live_count(t), 1);
    assert_int_equal(persister_sales_live(t, out), 1);
    assert_ptr_equal(out[0], b);
    assert_int_equal(persister_sales_written_count(t), 0);
    assert_int_equal(a->cursor.ms, 5);
    assert_int_equal(persister_sales_retired_next(t, out, 4), 1);
    assert_ptr_equal(out[0], a);
    persister_sales_revive(t, a);
    assert_true(a->live && a->dirty);
    assert_int_equal(persister_sales_live_count(t), 2);
    assert_int_equal(persister_sales_retired_next(t, out, 4), 0);
    persister_sales_destroy(&t);
}

/* ---- Configuration ------------------------------------------------------- */

static tix_err
s_parse(persister_config_t *c, const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[] = {"tix-persister", (char *) a1, (char *) a2, (char *) a3, (char *) a4, NULL};
    int argc = 1;
    while (argv[argc])
        argc++;
    bool help;
    persister_config_defaults(c);
    return persister_config_parse(c, argc, argv, &help);
}

static void
test_config_sink_is_mongodb_when_a_uri_is_set_and_an_error_without_any_sink(void **state)
{
    (void) state;
    persister_config_t c;
    unsetenv("TIX_MONGO_URI");
    unsetenv("TIX_SINK");
    assert_int_equal(s_parse(&c, NULL, NULL, NULL, NULL), TIX_ERR_CONFIG);
    setenv("TIX_MONGO_URI", "mongodb://db.example:27017", 1);
    assert_int_equal(s_parse(&c, NULL, NULL, NULL, NULL), TIX_OK);
    assert_int_equal(c.sink, PERSISTER_SINK_MONGODB);
    assert_string_equal(c.mongo_uri, "mongodb://db.example:27017");
    assert_int_equal(c.write_w, PERSISTER_W_MAJORITY);
    assert_int_equal(c.batch_max, 500);
    assert_int_equal(c.batch_ms, 20);
    assert_int_equal(c.catchup_ms, 1000);
    assert_string_equal(c.database, "tix");
    /* A flag wins over its variable; jsonl needs no URI. */
    setenv("TIX_SINK", "mongodb", 1);
    assert_int_equal(s_parse(&c, "--sink", "jsonl:/tmp/orders.jsonl", NULL, NULL), TIX_OK);
    assert_int_equal(c.sink, PERSISTER_SINK_JSONL);
    assert_string_equal(c.jsonl_path, "/tmp/orders.jsonl");
    unsetenv("TIX_MONGO_URI");
    assert_int_equal(s_parse(&c, NULL, NULL, NULL, NULL), TIX_ERR_CONFIG); /* TIX_SINK=mongodb, no URI */
    unsetenv("TIX_SINK");
}

static void
test_config_rejects_unacknowledged_writes_and_bad_values(void **state)
{
    (void) state;
    persister_config_t c;
    setenv("TIX_MONGO_URI", "mongodb://localhost", 1);
    assert_int_equal(s_parse(&c, "--write-concern", "0", NULL, NULL), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "--write-concern", "majorty", NULL, NULL), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "--write-concern", "3", NULL, NULL), TIX_OK);
    assert_int_equal(c.write_w, 3);
    assert_int_equal(s_parse(&c, "--sink", "jsonl:", NULL, NULL), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "--sink", "postgres", NULL, NULL), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "--database", "a.b", NULL, NULL), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "--batch-max", "600", "--buffer-max", "500"), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "--batch-max", "0", NULL, NULL), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "--log-level", "loud", NULL, NULL), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "extra", NULL, NULL, NULL), TIX_ERR_CONFIG);
    assert_int_equal(s_parse(&c, "--health-file", "/tmp/h", "--batch-ms", "0"), TIX_OK);
    assert_string_equal(c.health_file, "/tmp/h");
    assert_int_equal(c.batch_ms, 0);
    unsetenv("TIX_MONGO_URI");
    tix_log_set_level_name("error");
}

static void
test_redis_url_parses_credentials_port_and_db_and_refuses_typos(void **state)
{
    (void) state;
    tix_redis_url_t u;
    char why[200];
    assert_int_equal(tix_redis_url_parse("redis://127.0.0.1:6390", &u, why, sizeof why), TIX_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 0);
    assert_int_equal(tix_redis_url_parse("redis://app:p%40ss@cache:7000/3", &u, why, sizeof why), TIX_OK);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.host, "cache");
    assert_int_equal(u.db, 3);
    assert_int_equal(tix_redis_url_parse("redis://:secret@[::1]", &u, why, sizeof why), TIX_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.password, "secret");
    const char *bad[] = {"http://x",       "redis://",       "redis://h:0", "redis://h:99999", "redis://h/x",
                         "redis://h?db=1", "redis://user@h", "redis://:@h", "redis://h o",     NULL};
    for (int i = 0; bad[i]; i++) {
        assert_int_equal(tix_redis_url_parse(bad[i], &u, why, sizeof why), TIX_ERR_CONFIG);
        assert_null(strstr(why, "secret"));
    }
}

static void
test_event_is_refused_when_its_topic_names_another_sale_or_its_log_id_is_bad(void **state)
{
    (void) state;
    Tix__V1__Order o;
    Tix__V1__OrderEvent ev;
    persister_unit_event(&ev, &o, "s1:1");
    persister_order_t out;
    char why[128];
    assert_true(persister_order_from_event(&ev, "order.s1", &out, why, sizeof why));
    assert_string_equal(out.order_id, "s1:1");
    assert_int_equal(out.log_id.ms, 10);
    assert_int_equal(out.log_id.seq, 1);
    persister_order_clear(&out);
    assert_false(persister_order_from_event(&ev, "order.s2", &out, why, sizeof why));
    assert_false(persister_order_from_event(&ev, "order.s1x", &out, why, sizeof why));
    ev.log_id = "ten";
    assert_false(persister_order_from_event(&ev, "order.s1", &out, why, sizeof why));
    ev.log_id = "10-1";
    o.sale_id = "bad sale";
    assert_false(persister_order_from_event(&ev, "order.bad sale", &out, why, sizeof why));
    ev.order = NULL;
    assert_false(persister_order_from_event(&ev, "order.s1", &out, why, sizeof why));
}

int
main(void)
{
    tix_log_set_level_name("error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_ids_parse_compare_and_format_as_stream_ids),
        cmocka_unit_test(test_log_id_parse_rejects_anything_but_ms_dash_seq),
        cmocka_unit_test(test_buffer_refuses_a_held_order_id_and_sheds_when_full),
        cmocka_unit_test(test_buffer_removes_done_orders_and_keeps_the_rest_in_order),
        cmocka_unit_test(test_advancing_a_cursor_forgets_the_written_ids_it_covers),
        cmocka_unit_test(test_claims_are_taken_by_their_entry_and_settled_absent_only_past_where_the_read_began),
        cmocka_unit_test(test_a_retired_sale_leaves_the_live_set_keeps_its_cursor_and_comes_back),
        cmocka_unit_test(test_config_sink_is_mongodb_when_a_uri_is_set_and_an_error_without_any_sink),
        cmocka_unit_test(test_config_rejects_unacknowledged_writes_and_bad_values),
        cmocka_unit_test(test_redis_url_parses_credentials_port_and_db_and_refuses_typos),
        cmocka_unit_test(test_event_is_refused_when_its_topic_names_another_sale_or_its_log_id_is_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
