/*
 * test_persister_jsonl.c - the persister's jsonl sink on its own: canonical
 * extended JSON lines, and its exactly-once rule across restarts, torn
 * appends, tampered files and a second process. No servers needed.
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
#include "persister_jsonl.h"
#include "persister_order.h"
#include "persister_unit.h"
#include "tix_log.h"
#include "tix_util.h"

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
        persister_unit_order(&orders[i], sale, from + i, persister_unit_id((uint64_t) (100 + from + i), 0));
    assert_int_equal(persister_sink_write(sink, orders, (size_t) n, status), TIX_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(status[i], PERSISTER_WRITE_DONE);
        persister_order_clear(&orders[i]);
    }
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
    assert_int_equal(persister_unit_lines(s_path, NULL), 14);
    assert_true(s_size(s_path) > size);
    persister_sink_destroy(&sink);
}

static void
test_jsonl_restart_after_a_kill_before_the_cursor_was_stored_appends_nothing_twice(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    s_write(sink, "s1", 1, 21);
    persister_cursor_t c = {"s1", persister_unit_id(105, 0)};
    assert_int_equal(persister_sink_store_cursors(sink, &c, 1), TIX_OK);
    s_write(sink, "s1", 21, 31); /* appended and fsync'd, cursor never stored: then "SIGKILL" */
    persister_sink_destroy(&sink);
    sink = s_jsonl_open();
    assert_non_null(sink);
    persister_log_id_t cursor;
    assert_int_equal(persister_sink_load_cursor(sink, "s1", &cursor), TIX_OK);
    assert_int_equal(cursor.ms, 105);
    s_write(sink, "s1", 1, 41); /* what catch-up would do: the whole log again */
    assert_int_equal(persister_unit_lines(s_path, NULL), 40);
    for (int i = 1; i <= 40; i++) {
        char id[32];
        snprintf(id, sizeof id, "\"_id\" : \"s1:%d\"", i);
        assert_int_equal(persister_unit_lines(s_path, id), 1);
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
    assert_int_equal(persister_unit_lines(s_path, NULL), 5);
    s_write(sink, "s1", 1, 8);
    assert_int_equal(persister_unit_lines(s_path, NULL), 7);
    assert_int_equal(persister_unit_lines(s_path, "\"s1:6\""), 1);
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
    assert_int_equal(persister_unit_lines(s_path, NULL), 7);
}

static void
test_jsonl_lines_of_one_sale_written_before_another_sales_cursor_was_stored_are_not_rewritten(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    s_write(sink, "a", 1, 11);  /* a's lines first in the file ... */
    s_write(sink, "b", 11, 21); /* ... then b's */
    persister_cursor_t c = {"b", persister_unit_id(120, 0)};
    assert_int_equal(persister_sink_store_cursors(sink, &c, 1), TIX_OK); /* only b's cursor moves */
    s_write(sink, "b", 21, 26);
    persister_sink_destroy(&sink);
    sink = s_jsonl_open();
    s_write(sink, "a", 1, 11);
    s_write(sink, "b", 11, 26);
    assert_int_equal(persister_unit_lines(s_path, NULL), 25);
    c = (persister_cursor_t){"a", persister_unit_id(110, 0)};
    assert_int_equal(persister_sink_store_cursors(sink, &c, 1), TIX_OK);
    persister_sink_destroy(&sink);
    char cursors[450];
    snprintf(cursors, sizeof cursors, "%s.cursors", s_path);
    assert_int_equal(persister_unit_lines(cursors, "sale a 110-0"), 1);
    assert_int_equal(persister_unit_lines(cursors, "sale b 120-0"), 1);
    assert_int_equal(persister_unit_lines(cursors, "tix-persister-cursors 1"), 1);
}

static void
test_jsonl_refuses_to_start_on_a_file_shorter_than_its_cursors_or_corrupt_inside(void **state)
{
    (void) state;
    persister_sink_t *sink = s_jsonl_open();
    s_write(sink, "s1", 1, 5);
    persister_cursor_t c = {"s1", persister_unit_id(104, 0)};
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
