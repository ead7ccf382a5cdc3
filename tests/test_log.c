/*
 * test_log.c - tix_log's two formats: key=value by default, and
 * TIX_LOG_FORMAT=json, where every line must parse as one JSON object
 * (checked by Python's json module, not by us) with the message and the
 * caller's pairs as fields, escaped whatever bytes they hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "tix_log.h"

#define OUT_MAX 16384

/* Runs log_some with stderr sent to a file; returns what was written. */
static void
s_capture(void (*log_some)(void), char *out, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "%s/log.txt", th_tmpdir());
    fflush(stderr);
    int saved = dup(2);
    assert_non_null(freopen(path, "w", stderr));
    log_some();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Each line of text through json.loads, printed back with sorted keys and
 * without "ts" (checked for shape instead); out gets one line per line. */
static void
s_python_reads(const char *text, char *out, size_t size)
{
    char in[300], cmd[1024];
    snprintf(in, sizeof in, "%s/lines.txt", th_tmpdir());
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json, re, sys\n"
             "for line in open(sys.argv[1], encoding=\"utf-8\"):\n"
             "    o = json.loads(line)\n"
             "    assert re.fullmatch(r\"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\", o.pop(\"ts\")), line\n"
             "    print(json.dumps(o, sort_keys=True))' %s",
             in);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
}

static void
s_log_kv(void)
{
    tix_info("plain \"message\"\tkey=value n=42");
}

static void
test_key_value_is_the_default(void **state)
{
    (void) state;
    char out[OUT_MAX];
    s_capture(s_log_kv, out, sizeof out);
    assert_memory_equal(out, "ts=", 3);
    assert_non_null(strstr(out, " level=info comp=testlog msg=\"plain 'message'\" key=value n=42\n"));
    assert_false(tix_log_set_format_name("xml"));
    assert_false(tix_log_set_format_name(""));
    s_capture(s_log_kv, out, sizeof out);
    assert_memory_equal(out, "ts=", 3); /* a refused name changes nothing */
}

static void
s_log_json(void)
{
    tix_info("plain message\tkey=value n=42");
    tix_warn("quote \" backslash \\ newline \n tab \t"); /* the tab starts the pairs */
    tix_error("controls \x01 \x1f \x7f and \r\tk=\x02"); /* \r in the message, \x02 in a value */
    tix_info("bad utf-8 \xff\xfe overlong \xc0\xaf surrogate \xed\xa0\x80 good \xc3\xa9 \xe2\x82\xac cut \xe2\x82");
    tix_info("quoted\treason=\"no \"route\" here\" code=UNAVAILABLE empty=\"\" last=\"x y\"");
    tix_info("reserved\tmsg=m level=l ts=t comp=c lonely k=v");
    char big[1000];
    memset(big, '\x01', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    tix_info("big %s\tv=%s", big, big);
}

static void
test_json_lines_parse_and_keep_every_byte_escaped(void **state)
{
    (void) state;
    char out[OUT_MAX], back[OUT_MAX];
    assert_true(tix_log_set_format_name("json"));
    s_capture(s_log_json, out, sizeof out);
    assert_true(tix_log_set_format_name("kv"));
    s_python_reads(out, back, sizeof back);
    char *line = strtok(back, "\n");
    assert_string_equal(line, "{\"comp\": \"testlog\", \"key\": \"value\", \"level\": \"info\", \"msg\": \"plain "
                              "message\", \"n\": \"42\"}");
    line = strtok(NULL, "\n");
    assert_string_equal(line, "{\"comp\": \"testlog\", \"level\": \"warn\", \"msg\": \"quote \\\" backslash \\\\ "
                              "newline \\n tab \"}");
    line = strtok(NULL, "\n");
    assert_string_equal(line, "{\"comp\": \"testlog\", \"k\": \"\\u0002\", \"level\": \"error\", \"msg\": "
                              "\"controls \\u0001 \\u001f \\u007f and \\r\"}");
    line = strtok(NULL, "\n");
    assert_string_equal(line, "{\"comp\": \"testlog\", \"level\": \"info\", \"msg\": \"bad utf-8 \\ufffd\\ufffd "
                              "overlong \\ufffd\\ufffd surrogate \\ufffd\\ufffd\\ufffd good \\u00e9 \\u20ac cut "
                              "\\ufffd\\ufffd\"}");
    line = strtok(NULL, "\n");
    assert_string_equal(line, "{\"code\": \"UNAVAILABLE\", \"comp\": \"testlog\", \"empty\": \"\", \"last\": \"x y\", "
                              "\"level\": \"info\", \"msg\": \"quoted\", \"reason\": \"no \\\"route\\\" here\"}");
    line = strtok(NULL, "\n");
    assert_string_equal(line, "{\"comp\": \"testlog\", \"field_comp\": \"c\", \"field_level\": \"l\", \"field_msg\": "
                              "\"m\", \"field_ts\": \"t\", \"k\": \"v\", \"level\": \"info\", \"lonely\": \"\", "
                              "\"msg\": \"reserved\"}");
    line = strtok(NULL, "\n");
    assert_non_null(line); /* the big line parsed; its text is cut at 1 KiB, as in key=value */
    assert_non_null(strstr(line, "\"msg\": \"big \\u0001\\u0001"));
    assert_null(strtok(NULL, "\n"));
}

int
main(void)
{
    tix_log_init("testlog");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_value_is_the_default),
        cmocka_unit_test(test_json_lines_parse_and_keep_every_byte_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
