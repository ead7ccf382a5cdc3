/*
 * redis_fixture.c - a redis-server as a cmocka fixture (see
 * redis_fixture.h).
 */
#include "redis_fixture.h"

#include <signal.h>
#include <stdlib.h>

#include "harness.h"

int
redis_fixture_setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    th_redis_t *redis = calloc(1, sizeof *redis);
    if (!redis || !th_redis_start(redis)) {
        free(redis);
        return -1;
    }
    *state = redis;
    return 0;
}

int
redis_fixture_teardown(void **state)
{
    th_redis_t *redis = *state;
    if (redis)
        th_redis_stop(redis);
    free(redis);
    return 0;
}
