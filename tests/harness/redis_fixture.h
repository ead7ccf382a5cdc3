/*
 * redis_fixture.h - a redis-server (th_redis_start) as a cmocka fixture:
 * *state becomes the th_redis_t, stopped and freed by the teardown. The
 * setup also ignores SIGPIPE, as the services do.
 */
#ifndef TIX_REDIS_FIXTURE_H
#define TIX_REDIS_FIXTURE_H

int redis_fixture_setup(void **state);
int redis_fixture_teardown(void **state);

#endif
