/*
 * broker_limit.h - per-user rate limiting at the broker (token buckets).
 *
 * A user id (or, under CURVE, a client key) that sends far more calls than
 * a person could is answered RESOURCE_EXHAUSTED with retry_after_ms, at the
 * broker, without costing anyone else a worker or a Redis call.
 *
 * Memory is fixed: buckets live in a table of `slots` entries indexed by a
 * seeded hash of the key, so a 200,000-user rush allocates nothing. Two
 * keys that share a slot share a bucket; with the defaults (2^18 slots,
 * burst 100) an ordinary user would have to share a slot with a flooder to
 * notice, and the seed is random per process so a flooder cannot aim.
 *
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_LIMIT_H
#define BROKER_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define BROKER_LIMIT_RATE_PER_S 10 /* default refill: calls per second per user */
#define BROKER_LIMIT_BURST 100     /* default bucket size: calls at once */
#define BROKER_LIMIT_SLOTS (1u << 18)
#define BROKER_LIMIT_CLIENT_BURST 1000       /* default per-client bucket, when a client rate is set */
#define BROKER_LIMIT_CLIENT_SLOTS (1u << 12) /* clients are far fewer than users */

typedef struct broker_limit broker_limit_t;

/* rate_per_s == 0 disables limiting (broker_limit_take always allows).
 * slots is rounded up to a power of two. */
broker_limit_t *broker_limit_new(double rate_per_s, uint32_t burst, uint32_t slots);
/* NULL-safe, idempotent; sets *self to NULL. */
void broker_limit_destroy(broker_limit_t **self);

/* Takes one token from key's bucket at now_ms (monotonic). Returns 0 when
 * the call may go on, else the milliseconds until a token will be there. */
uint32_t broker_limit_take(broker_limit_t *self, const void *key, size_t len, int64_t now_ms);

#endif
