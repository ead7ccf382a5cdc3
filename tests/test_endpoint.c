/*
 * test_endpoint.c - walking an endpoint list (tix_endpoints_next), as the
 * worker does to open one broker session per TIX_BACKEND item.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tix_endpoint.h"

static void
test_a_list_is_walked_item_by_item_with_blanks_trimmed(void **state)
{
    (void) state;
    const char *list = "tcp://a:1, tcp://b:2 ,ipc:///tmp/c";
    const char *p = list;
    char item[TIX_ENDPOINT_MAX_BYTES];
    assert_true(tix_endpoints_next(&p, item, sizeof item));
    assert_string_equal(item, "tcp://a:1");
    assert_true(tix_endpoints_next(&p, item, sizeof item));
    assert_string_equal(item, "tcp://b:2");
    assert_true(tix_endpoints_next(&p, item, sizeof item));
    assert_string_equal(item, "ipc:///tmp/c");
    assert_false(tix_endpoints_next(&p, item, sizeof item));
    assert_int_equal(tix_endpoints_count(list), 3);
    assert_int_equal(tix_endpoints_count("tcp://a:1"), 1);
    assert_int_equal(tix_endpoints_count(""), 0);
    assert_int_equal(tix_endpoints_count(NULL), 0);
}

static void
test_an_empty_or_overlong_item_stops_the_walk(void **state)
{
    (void) state;
    const char *p = "tcp://a:1,,tcp://b:2";
    char item[16];
    assert_true(tix_endpoints_next(&p, item, sizeof item));
    assert_false(tix_endpoints_next(&p, item, sizeof item)); /* the empty item */
    p = "tcp://a-very-long-host-name:5555";
    assert_false(tix_endpoints_next(&p, item, sizeof item));
    const char *none = NULL;
    assert_false(tix_endpoints_next(&none, item, sizeof item));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_list_is_walked_item_by_item_with_blanks_trimmed),
        cmocka_unit_test(test_an_empty_or_overlong_item_stops_the_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
