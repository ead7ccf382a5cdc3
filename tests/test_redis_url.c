/*
 * test_worker_url.c - TIX_REDIS_URL parsing (tix_redis_url_parse):
 * redis://[[user]:password@]host[:port][/db] and
 * redis-sentinel://[[user]:password@]host[:port][,...]/MASTER_NAME. No Redis needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "worker_store.h"

static tix_redis_url_t
s_parse_ok(const char *text)
{
    tix_redis_url_t url;
    char why[200] = "";
    tix_err err = tix_redis_url_parse(text, &url, why, sizeof why);
    if (err != TIX_OK)
        print_error("unexpected failure for %s: %s\n", text, why);
    assert_int_equal(err, TIX_OK);
    return url;
}

/* Parses text expecting failure; returns the reason (static buffer). */
static const char *
s_parse_fails(const char *text)
{
    static char why[200];
    tix_redis_url_t url;
    memset(why, 0, sizeof why);
    assert_int_equal(tix_redis_url_parse(text, &url, why, sizeof why), TIX_ERR_CONFIG);
    assert_true(strlen(why) > 0);
    assert_null(strchr(why, '\n')); /* one line */
    assert_string_equal(url.password, "");
    return why;
}

static void
test_plain_host_and_port(void **state)
{
    (void) state;
    tix_redis_url_t url = s_parse_ok("redis://127.0.0.1:6380");
    assert_string_equal(url.host, "127.0.0.1");
    assert_int_equal(url.port, 6380);
    assert_string_equal(url.user, "");
    assert_string_equal(url.password, "");
    assert_int_equal(url.db, 0);
}

static void
test_port_defaults_to_6379_and_trailing_slash_is_db_0(void **state)
{
    (void) state;
    tix_redis_url_t url = s_parse_ok("redis://redis.internal/");
    assert_string_equal(url.host, "redis.internal");
    assert_int_equal(url.port, 6379);
    assert_int_equal(url.db, 0);
}

static void
test_password_only_user_and_password_and_db(void **state)
{
    (void) state;
    tix_redis_url_t url = s_parse_ok("redis://:hunter2@h:1/5");
    assert_string_equal(url.user, "");
    assert_string_equal(url.password, "hunter2");
    assert_int_equal(url.db, 5);
    url = s_parse_ok("redis://tix:p%40ss:w@rd@h:2");
    assert_string_equal(url.user, "tix");
    assert_string_equal(url.password, "p@ss:w@rd"); /* the last '@' ends the credentials */
    assert_string_equal(url.host, "h");
    assert_int_equal(url.port, 2);
}

static void
test_ipv6_in_brackets(void **state)
{
    (void) state;
    tix_redis_url_t url = s_parse_ok("redis://[::1]:7000/2");
    assert_string_equal(url.host, "::1");
    assert_int_equal(url.port, 7000);
    assert_int_equal(url.db, 2);
    url = s_parse_ok("redis://[fe80::1]");
    assert_int_equal(url.port, 6379);
}

static void
test_malformed_urls_are_refused_with_a_reason(void **state)
{
    (void) state;
    assert_non_null(strstr(s_parse_fails("http://h:1"), "redis://"));
    assert_non_null(strstr(s_parse_fails("rediss://h:1"), "TLS"));
    assert_non_null(strstr(s_parse_fails("redis://"), "host"));
    assert_non_null(strstr(s_parse_fails("redis://:6379"), "host"));
    assert_non_null(strstr(s_parse_fails("redis://h:0"), "port"));
    assert_non_null(strstr(s_parse_fails("redis://h:65536"), "port"));
    assert_non_null(strstr(s_parse_fails("redis://h:63x"), "port"));
    assert_non_null(strstr(s_parse_fails("redis://h:1/x"), "database"));
    assert_non_null(strstr(s_parse_fails("redis://h:1/-1"), "database"));
    assert_non_null(strstr(s_parse_fails("redis://h:1?db=2"), "query"));
    assert_non_null(strstr(s_parse_fails("redis://user@h:1"), "password"));
    assert_non_null(strstr(s_parse_fails("redis://user:@h:1"), "password"));
    assert_non_null(strstr(s_parse_fails("redis://u:p%4@h:1"), "password"));
    assert_non_null(strstr(s_parse_fails("redis://[::1:1"), "IPv6"));
    assert_non_null(strstr(s_parse_fails("redis://ho st:1"), "host"));
}

static void
test_reasons_never_repeat_the_password(void **state)
{
    (void) state;
    assert_null(strstr(s_parse_fails("redis://u:topsecret@h:99999"), "topsecret"));
    assert_null(strstr(s_parse_fails("redis://u:topsecret@:1"), "topsecret"));
}

static void
test_sentinel_url_lists_sentinels_and_master_name(void **state)
{
    (void) state;
    tix_redis_url_t url = s_parse_ok("redis-sentinel://:s%40cret@10.0.0.1:26380,sentinel-b,[::1]:26381/tix-primary");
    assert_true(tix_redis_url_is_sentinel(&url));
    assert_string_equal(url.master_name, "tix-primary");
    assert_int_equal(url.nsentinels, 3);
    assert_string_equal(url.sentinels[0].host, "10.0.0.1");
    assert_int_equal(url.sentinels[0].port, 26380);
    assert_string_equal(url.sentinels[1].host, "sentinel-b");
    assert_int_equal(url.sentinels[1].port, TIX_REDIS_SENTINEL_PORT);
    assert_string_equal(url.sentinels[2].host, "::1");
    assert_int_equal(url.sentinels[2].port, 26381);
    assert_string_equal(url.password, "s@cret");
    assert_string_equal(url.host, ""); /* the primary: asked of the Sentinels */
    assert_int_equal(url.port, 0);
    assert_int_equal(url.db, 0);
    tix_redis_url_t plain = s_parse_ok("redis://127.0.0.1:6380");
    assert_false(tix_redis_url_is_sentinel(&plain));
}

static void
test_malformed_sentinel_urls_are_refused(void **state)
{
    (void) state;
    assert_non_null(strstr(s_parse_fails("redis-sentinel://127.0.0.1:26379"), "master name"));
    assert_non_null(strstr(s_parse_fails("redis-sentinel://127.0.0.1:26379/"), "master name"));
    assert_non_null(strstr(s_parse_fails("redis-sentinel://127.0.0.1:26379/a b"), "master name"));
    assert_non_null(strstr(s_parse_fails("redis-sentinel://a:1,,b:2/m"), "host is empty"));
    assert_non_null(strstr(s_parse_fails("redis-sentinel://a:1,/m"), "host is empty"));
    assert_non_null(strstr(s_parse_fails("redis-sentinel:///m"), "host is empty"));
    assert_non_null(strstr(s_parse_fails("redis-sentinel://a:99999/m"), "port"));
    assert_non_null(strstr(s_parse_fails("redis-sentinel://:pw@a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9/m"), "sentinels"));
    assert_null(strstr(s_parse_fails("redis-sentinel://:topsecret@a:1,b:x/m"), "topsecret"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_host_and_port),
        cmocka_unit_test(test_port_defaults_to_6379_and_trailing_slash_is_db_0),
        cmocka_unit_test(test_password_only_user_and_password_and_db),
        cmocka_unit_test(test_ipv6_in_brackets),
        cmocka_unit_test(test_malformed_urls_are_refused_with_a_reason),
        cmocka_unit_test(test_reasons_never_repeat_the_password),
        cmocka_unit_test(test_sentinel_url_lists_sentinels_and_master_name),
        cmocka_unit_test(test_malformed_sentinel_urls_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
