/*
 * stack_fixture.h - a whole tix stack (th_stack_start: redis-server, broker,
 * two workers) as a cmocka fixture: *state becomes the th_stack_t, stopped
 * and freed by the teardown, which also says where the logs are.
 */
#ifndef TIX_STACK_FIXTURE_H
#define TIX_STACK_FIXTURE_H

int stack_fixture_setup(void **state);
int stack_fixture_teardown(void **state);

#endif
