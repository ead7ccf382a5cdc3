/*
 * stack_fixture.c - a tix stack as a cmocka fixture (see stack_fixture.h).
 */
#include "stack_fixture.h"

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

int
stack_fixture_setup(void **state)
{
    th_stack_t *stack = calloc(1, sizeof *stack);
    if (!stack)
        return -1;
    *state = stack;
    return th_stack_start(stack, 2, NULL) ? 0 : -1;
}

int
stack_fixture_teardown(void **state)
{
    th_stack_t *stack = *state;
    fprintf(stderr, "logs: %s (kept with TIX_TEST_KEEP=1)\n", th_tmpdir());
    if (stack)
        th_stack_stop(stack);
    free(stack);
    return 0;
}
