/*
 * test_persister.c - the persister's modules one by one: log ids, the
 * bounded buffer, per-sale cursors, configuration, the Redis URL, events,
 * and the jsonl sink's exactly-once rule across restarts, torn appends and
 * tampered files. No servers needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "persister_batch.h"
#include "persister_config.h"
#include "persister_jsonl.h"
#include "persister_log.h"
#include "persister_order.h"
#include "persister_sales.h"
#include "tix_log.h"
#include "tix_util.h"

static persister_log_id_t
s_id(uint64_t ms, uint64_t seq)
{
    return (persister_log_id_t){ms, seq};
}

static void
s_order(persister_order_t *o, const char *sale, int i, persister_log_id_t id)
{
    char order_id[64], user[64], req[32];
    snprintf(order_id, sizeof order_id, "%s:%d", sale, i);
    snprintf(user, sizeof user, "user-%d \"quoted\" é", i);
    snprintf(req, sizeof req, "req-%d", i);
    persister_order_init(o, order_id, sale, user, req, 1764400000000LL + i, id);
}

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
    assert_true(persister_log_id_cmp(s_id(9, 0), s_id(10, 0)) < 0); /* numeric, not text order */
    char text[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(s_id(UINT64_MAX, UINT64_MAX), text, sizeof text);
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
    persister_log_id_t id = s_id(7, 7);
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
        s_order(&o, "s", i, s_id(1, (uint64_t) i));
        assert_int_equal(persister_batch_add(b, &o, 100 + i), PERSISTER_BATCH_ADDED);
        assert_null(o.order_id); /* moved in */
    }
    assert_int_equal(persister_batch_since_ms(b), 101);
    s_order(&o, "s", 2, s_id(1, 2));
    assert_int_equal(persister_batch_add(b, &o, 200), PERSISTER_BATCH_DUPLICATE);
    persister_order_clear(&o);
    s_order(&o, "s", 4, s_id(1, 4));
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
        s_order(&o, "s", i, s_id(1, (uint64_t) i));
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
    s_order(&o, "s", 1, s_id(1, 1));
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
    persister_sales_mark_written(t, s, s_id(5, 0));
    persister_sales_mark_written(t, s, s_id(7, 0));
    persister_sales_mark_written(t, s, s_id(7, 0));
    assert_int_equal(persister_sales_written_count(t), 2);
    assert_true(persister_sales_is_written(s, s_id(7, 0)));
    assert_false(persister_sales_is_written(s, s_id(6, 0)));
    persister_sales_advance(t, s, s_id(6, 0));
    assert_true(persister_sales_is_written(s, s_id(6, 0))); /* at or below the cursor */
    assert_true(persister_sales_is_written(s, s_id(5, 0)));
    assert_true(persister_sales_is_written(s, s_id(7, 0)));
    assert_int_equal(persister_sales_written_count(t), 1);
    persister_sales_advance(t, s, s_id(2, 0)); /* never backwards */
    assert_int_equal(s->cursor.ms, 6);
    persister_sales_forget_written(t);
    assert_false(persister_sales_is_written(s, s_id(7, 0)));
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
        s_order(&o, "s", i, s_id(10, (uint64_t) i));
        assert_true(persister_sales_claim(t, s, &o));
        assert_null(o.order_id); /* moved in */
    }
    s_order(&o, "s", 4, s_id(10, 4));
    assert_false(persister_sales_claim(t, s, &o)); /* the bound */
    persister_order_clear(&o);
    persister_order_t *c = persister_sales_claim_take(t, s, s_id(10, 2));
    assert_string_equal(c->order_id, "s:2");
    persister_order_clear(c);
    free(c);
    assert_null(persister_sales_claim_take(t, s, s_id(10, 2)));
    /* Read from 10-1 (exclusive) to the end: 10-3 has no entry; 10-1 was
     * read before, unchecked. */
    int absent = 0;
    assert_int_equal(
        persister_sales_claims_settle(t, s, s_id(10, 1), s_id(UINT64_MAX, UINT64_MAX), s_count_absent, &absent), 1);
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
    persister_sales_advance(t, a, s_id(5, 0));
    persister_sales_mark_written(t, a, s_id(6, 0));
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
    Tix__V1__Order o = TIX__V1__ORDER__INIT;
    o.order_id = "s1:1";
    o.sale_id = "s1";
    o.user_id = "u";
    o.request_id = "r";
    o.purchased_at_ms = 5;
    Tix__V1__OrderEvent ev = TIX__V1__ORDER_EVENT__INIT;
    ev.order = &o;
    ev.log_id = "10-1";
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

/* ---- The jsonl sink ------------------------------------------------------ */

static char s_path[400];

static persister_sink_t *
s_jsonl_open(void)
{
    char why[400];
    persister_sink_t *sink = persister_jsonl_new(s_path, why, sizeof why);
    if (!sink)
        fprintf(stderr, "jsonl: %s\n", why);
    return sink;
}

/* Writes orders i in [from, to) of sale, log ids (100+i)-0; all must be DONE. */
static void
s_write(persister_sink_t *sink, const char *sale, int from, int to)
{
    persister_order_t orders[64];
    persister_write_status status[64];
    int n = to - from;
    assert_true(n > 0 && n <= 64);
    for (int i = 0; i < n; i++)
        s_order(&orders[i], sale, from + i, s_id((uint64_t) (100 + from + i), 0));
    assert_int_equal(persister_sink_write(sink, orders, (size_t) n, status), TIX_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(status[i], PERSISTER_WRITE_DONE);
        persister_order_clear(&orders[i]);
    }
}

static int
s_lines(const char *path, const char *containing)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += !containing || strstr(line, containing) != NULL;
    if (f)
        fclose(f);
    return n;
}

static long
s_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long) st.st_size : -1;
}

static int
s_jsonl_setup(void **state)
{
    (void) state;
    static int serial;
    snprintf(s_path, sizeof s_path, "%s/orders-%d.jsonl", th_tmpdir(), ++serial);
    return 0;
}

static void
test_jsonl_lines_are_canonical_extended_json_documents_with_every_field(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    assert_non_null(sink);
    assert_string_equal(persister_sink_kind(sink), "jsonl");
    assert_non_null(strstr(persister_sink_where(sink), "jsonl:/"));
    s_write(sink, "s1", 1, 3);
    persister_sink_destroy(&sink);
    FILE *f = fopen(s_path, "r");
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        bson_t doc;
        bson_error_t error;
        bson_iter_t it;
        assert_true(bson_init_from_json(&doc, line, -1, &error));
        const char *keys[] = {"_id", "sale_id", "user_id", "request_id", "purchased_at", "log_id", "persisted_at"};
        bson_iter_init(&it, &doc);
        for (size_t k = 0; k < TIX_ARRAY_LEN(keys); k++) {
            assert_true(bson_iter_next(&it));
            assert_string_equal(bson_iter_key(&it), keys[k]);
        }
        assert_false(bson_iter_next(&it));
        assert_true(bson_iter_init_find(&it, &doc, "purchased_at") && BSON_ITER_HOLDS_DATE_TIME(&it));
        assert_int_equal(bson_iter_date_time(&it), 1764400000000LL + 1 + n);
        assert_true(bson_iter_init_find(&it, &doc, "user_id"));
        char user[64];
        snprintf(user, sizeof user, "user-%d \"quoted\" é", 1 + n);
        assert_string_equal(bson_iter_utf8(&it, NULL), user);
        /* Canonical form: dates as {"$date": {"$numberLong": "..."}}. */
        char want[96];
        snprintf(want, sizeof want, "{ \"$date\" : { \"$numberLong\" : \"%lld\" } }", 1764400000000LL + 1 + n);
        assert_non_null(strstr(line, want));
        bson_destroy(&doc);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 2);
}

static void
test_jsonl_writing_an_order_already_in_the_file_appends_nothing(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    s_write(sink, "s1", 1, 11);
    long size = s_size(s_path);
    s_write(sink, "s1", 5, 15); /* 5..10 are there: only 11..14 are new */
    assert_int_equal(s_lines(s_path, NULL), 14);
    assert_true(s_size(s_path) > size);
    persister_sink_destroy(&sink);
}

static void
test_jsonl_restart_after_a_kill_before_the_cursor_was_stored_appends_nothing_twice(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    s_write(sink, "s1", 1, 21);
    persister_cursor_t c = {"s1", s_id(105, 0)};
    assert_int_equal(persister_sink_store_cursors(sink, &c, 1), TIX_OK);
    s_write(sink, "s1", 21, 31); /* appended and fsync'd, cursor never stored: then "SIGKILL" */
    persister_sink_destroy(&sink);
    sink = s_jsonl_open();
    assert_non_null(sink);
    persister_log_id_t cursor;
    assert_int_equal(persister_sink_load_cursor(sink, "s1", &cursor), TIX_OK);
    assert_int_equal(cursor.ms, 105);
    s_write(sink, "s1", 1, 41); /* what catch-up would do: the whole log again */
    assert_int_equal(s_lines(s_path, NULL), 40);
    for (int i = 1; i <= 40; i++) {
        char id[32];
        snprintf(id, sizeof id, "\"_id\" : \"s1:%d\"", i);
        assert_int_equal(s_lines(s_path, id), 1);
    }
    persister_sink_destroy(&sink);
}

static void
test_jsonl_torn_last_line_is_cut_at_start_and_that_order_written_once(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    s_write(sink, "s1", 1, 6);
    persister_sink_destroy(&sink);
    FILE *f = fopen(s_path, "a");
    fputs("{ \"_id\" : \"s1:6\", \"sale_id\" : \"s1\", \"user_id\" : \"us", f); /* a crash mid-append */
    fclose(f);
    sink = s_jsonl_open();
    assert_non_null(sink);
    assert_int_equal(s_lines(s_path, NULL), 5);
    s_write(sink, "s1", 1, 8);
    assert_int_equal(s_lines(s_path, NULL), 7);
    assert_int_equal(s_lines(s_path, "\"s1:6\""), 1);
    persister_sink_destroy(&sink);
    /* Zeros where an unsynced append was (a power loss), then a complete
     * but garbled last line: both are cut, nothing else. */
    long size = s_size(s_path);
    f = fopen(s_path, "a");
    fwrite("\0\0\0\0", 1, 4, f);
    fclose(f);
    sink = s_jsonl_open();
    assert_non_null(sink);
    persister_sink_destroy(&sink);
    assert_int_equal(s_size(s_path), size);
    f = fopen(s_path, "a");
    fputs("garbage\n", f);
    fclose(f);
    sink = s_jsonl_open();
    assert_non_null(sink);
    persister_sink_destroy(&sink);
    assert_int_equal(s_size(s_path), size);
    assert_int_equal(s_lines(s_path, NULL), 7);
}

static void
test_jsonl_lines_of_one_sale_written_before_another_sales_cursor_was_stored_are_not_rewritten(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    s_write(sink, "a", 1, 11);  /* a's lines first in the file ... */
    s_write(sink, "b", 11, 21); /* ... then b's */
    persister_cursor_t c = {"b", s_id(120, 0)};
    assert_int_equal(persister_sink_store_cursors(sink, &c, 1), TIX_OK); /* only b's cursor moves */
    s_write(sink, "b", 21, 26);
    persister_sink_destroy(&sink);
    sink = s_jsonl_open();
    s_write(sink, "a", 1, 11);
    s_write(sink, "b", 11, 26);
    assert_int_equal(s_lines(s_path, NULL), 25);
    c = (persister_cursor_t){"a", s_id(110, 0)};
    assert_int_equal(persister_sink_store_cursors(sink, &c, 1), TIX_OK);
    persister_sink_destroy(&sink);
    char cursors[450];
    snprintf(cursors, sizeof cursors, "%s.cursors", s_path);
    assert_int_equal(s_lines(cursors, "sale a 110-0"), 1);
    assert_int_equal(s_lines(cursors, "sale b 120-0"), 1);
    assert_int_equal(s_lines(cursors, "tix-persister-cursors 1"), 1);
}

static void
test_jsonl_refuses_to_start_on_a_file_shorter_than_its_cursors_or_corrupt_inside(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    s_write(sink, "s1", 1, 5);
    persister_cursor_t c = {"s1", s_id(104, 0)};
    assert_int_equal(persister_sink_store_cursors(sink, &c, 1), TIX_OK);
    persister_sink_destroy(&sink);
    long size = s_size(s_path);
    assert_int_equal(truncate(s_path, size / 2), 0);
    char why[400];
    assert_null(persister_jsonl_new(s_path, why, sizeof why));
    assert_non_null(strstr(why, "truncated or replaced"));
    /* A garbled line with good lines after it is not a torn append. */
    char other[420];
    snprintf(other, sizeof other, "%s.2", s_path);
    FILE *f = fopen(other, "w");
    fputs("not json\n{ \"_id\" : \"s1:1\", \"sale_id\" : \"s1\", \"log_id\" : \"1-0\" }\n", f);
    fclose(f);
    assert_null(persister_jsonl_new(other, why, sizeof why));
    assert_non_null(strstr(why, "more follow"));
}

static void
test_jsonl_second_process_on_the_same_file_is_refused(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    assert_non_null(sink);
    char why[400];
    assert_null(persister_jsonl_new(s_path, why, sizeof why));
    assert_non_null(strstr(why, "in use"));
    persister_sink_destroy(&sink);
    sink = s_jsonl_open();
    assert_non_null(sink);
    persister_sink_destroy(&sink);
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
        cmocka_unit_test_setup(test_jsonl_lines_are_canonical_extended_json_documents_with_every_field, s_jsonl_setup),
        cmocka_unit_test_setup(test_jsonl_writing_an_order_already_in_the_file_appends_nothing, s_jsonl_setup),
        cmocka_unit_test_setup(test_jsonl_restart_after_a_kill_before_the_cursor_was_stored_appends_nothing_twice,
                               s_jsonl_setup),
        cmocka_unit_test_setup(test_jsonl_torn_last_line_is_cut_at_start_and_that_order_written_once, s_jsonl_setup),
        cmocka_unit_test_setup(
            test_jsonl_lines_of_one_sale_written_before_another_sales_cursor_was_stored_are_not_rewritten,
            s_jsonl_setup),
        cmocka_unit_test_setup(test_jsonl_refuses_to_start_on_a_file_shorter_than_its_cursors_or_corrupt_inside,
                               s_jsonl_setup),
        cmocka_unit_test_setup(test_jsonl_second_process_on_the_same_file_is_refused, s_jsonl_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
