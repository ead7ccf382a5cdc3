/*
 * test_it_worker_health.c - tix-worker's --health-file: rewritten every
 * second while the worker is registered and Redis works, left to age
 * otherwise, so that a liveness probe reading its age tells the truth.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "tix_util.h"

/* The Unix ms stored in the file, or 0 when it is missing. */
static long long
s_read_stamp(const char *path)
{
    FILE *f = fopen(path, "r");
    long long v = 0;
    if (f) {
        if (fscanf(f, "%lld", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* Waits up to timeout_ms for the stamp to move past `after`. */
static long long
s_wait_stamp_after(const char *path, long long after, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    long long v;
    while ((v = s_read_stamp(path)) <= after && tix_now_ms() < deadline)
        usleep(20000);
    return v;
}

static void
test_health_file_is_fresh_while_healthy_and_ages_without_redis(void **state)
{
    (void) state;
    th_stack_t s;
    assert_true(th_stack_start(&s, 0, NULL));
    char path[300], env[320];
    snprintf(path, sizeof path, "%s/worker.health", th_tmpdir());
    snprintf(env, sizeof env, "TIX_HEALTH_FILE=%s", path);
    const char *argv[] = {"tix-worker",  "--backend", s.backend,        "--events-in", s.events_in,
                          "--redis-url", s.redis.url, "--heartbeat-ms", "200",         NULL};
    const char *envp[] = {env, NULL};
    th_proc_t w = {.name = "tix-worker-health"};
    assert_true(th_proc_start(&w, argv, envp));

    long long first = s_wait_stamp_after(path, 0, 5000);
    assert_true(first > 0);
    assert_true(llabs(first - tix_wall_ms()) < 5000);
    long long second = s_wait_stamp_after(path, first, 3000);
    assert_true(second > first); /* rewritten, not written once */

    /* Redis gone: the worker is not healthy, the file ages. */
    th_redis_stop(&s.redis);
    /* Waits for the worker to notice: the stamp then stays still 2.5 s. */
    int64_t deadline = tix_now_ms() + 10000;
    long long frozen = s_read_stamp(path), next;
    while ((next = s_wait_stamp_after(path, frozen, 2500)) != frozen) {
        assert_true(tix_now_ms() < deadline);
        frozen = next;
    }

    assert_int_equal(th_proc_stop(&w, SIGTERM, 3000), 0);
    th_stack_stop(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_file_is_fresh_while_healthy_and_ages_without_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
