/*
 * test_client_callmap.c - libtix's table of async calls in flight.
 *
 * The async interface finds each reply's method here, so a lost or wrong
 * entry would unpack a reply with the wrong type. Checked against a plain
 * array as the reference, under the access pattern tix-rush makes
 * (consecutive ids, answered out of order) and under random churn that
 * exercises backward-shift deletion across wrapped probe chains.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tix_callmap.h"
#include "tix_util.h"
#include "xorshift.h"

static uint64_t s_seed = 0x9E3779B97F4A7C15ULL; /* xorshift_next\'s state */

static void
test_callmap_gives_back_each_method_once(void **state)
{
    (void) state;
    enum { N = 100000 };
    const uint64_t base = 1ULL << 40;
    tix_callmap_t *map = tix_callmap_new();
    for (uint64_t i = 0; i < N; i++)
        tix_callmap_put(map, base + i, (uint8_t) (i % 5));
    assert_int_equal(tix_callmap_size(map), N);
    /* Take them back in a shuffled order. */
    uint64_t *order = xmalloc(N * sizeof *order);
    for (uint64_t i = 0; i < N; i++)
        order[i] = i;
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = (size_t) (xorshift_next(&s_seed) % (i + 1));
        uint64_t t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (size_t k = 0; k < N; k++) {
        uint8_t method = 0xff;
        assert_true(tix_callmap_take(map, base + order[k], &method));
        assert_int_equal(method, order[k] % 5);
        assert_false(tix_callmap_take(map, base + order[k], &method));
    }
    assert_int_equal(tix_callmap_size(map), 0);
    free(order);
    tix_callmap_destroy(&map);
    tix_callmap_destroy(&map);
    assert_null(map);
}

static void
test_callmap_matches_reference_under_random_churn(void **state)
{
    (void) state;
    /* Ids from a small window collide in the table's home slots, so probe
     * chains form, wrap around the end and get broken by deletions. */
    enum { WINDOW = 4096, STEPS = 400000 };
    const uint64_t base = 77;
    int *ref = xmalloc(WINDOW * sizeof *ref); /* -1 absent, else method */
    for (size_t i = 0; i < WINDOW; i++)
        ref[i] = -1;
    tix_callmap_t *map = tix_callmap_new();
    size_t size = 0;
    for (size_t step = 0; step < STEPS; step++) {
        size_t i = (size_t) (xorshift_next(&s_seed) % WINDOW);
        uint8_t method = 0xff;
        if (ref[i] < 0 && xorshift_next(&s_seed) % 3 != 0) {
            ref[i] = (int) (xorshift_next(&s_seed) % 5);
            tix_callmap_put(map, base + i, (uint8_t) ref[i]);
            size++;
        } else {
            bool had = ref[i] >= 0;
            assert_int_equal(tix_callmap_take(map, base + i, &method), had);
            if (had) {
                assert_int_equal(method, ref[i]);
                ref[i] = -1;
                size--;
            }
        }
        assert_int_equal(tix_callmap_size(map), size);
    }
    for (size_t i = 0; i < WINDOW; i++) {
        uint8_t method;
        assert_int_equal(tix_callmap_take(map, base + i, &method), ref[i] >= 0);
    }
    assert_int_equal(tix_callmap_size(map), 0);
    free(ref);
    tix_callmap_destroy(&map);
}

static void
test_callmap_never_holds_call_id_zero(void **state)
{
    (void) state;
    tix_callmap_t *map = tix_callmap_new();
    uint8_t method;
    assert_false(tix_callmap_take(map, 0, &method));
    tix_callmap_put(map, 1, 3);
    assert_false(tix_callmap_take(map, 0, &method));
    assert_true(tix_callmap_take(map, 1, &method));
    assert_int_equal(method, 3);
    tix_callmap_destroy(&map);
    tix_callmap_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callmap_gives_back_each_method_once),
        cmocka_unit_test(test_callmap_matches_reference_under_random_churn),
        cmocka_unit_test(test_callmap_never_holds_call_id_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
