/*
 * xorshift.c - xorshift64* (see xorshift.h).
 */
#include "xorshift.h"

uint64_t
xorshift_next(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1DULL;
}
