/*
 * xorshift.h - the unit tests' pseudo-random numbers: xorshift64* over a
 * state the caller owns and seeds with a fixed non-zero value, so that a
 * failure reproduces.
 */
#ifndef TIX_XORSHIFT_H
#define TIX_XORSHIFT_H

#include <stdint.h>

/* Advances *state; returns the next number of its sequence. */
uint64_t xorshift_next(uint64_t *state);

#endif
