/*
 * rush_tally.h - what the users of a rush were answered.
 *
 * The rush engine (rush_run) reports every final answer and every retried
 * one here; the checks (rush_check) and the report (rush_report) read the
 * counts. Per-user state is two bits (answered; holds an order), so a rush
 * of a million users costs 250 KB; order ids are kept as 64-bit
 * fingerprints in an open-addressing set (16 bytes per order at most half
 * full) to prove that no order went to two users.
 *
 * Threading: none; owned by the rush's one thread.
 * Errors: none; out of memory aborts.
 */
#ifndef RUSH_TALLY_H
#define RUSH_TALLY_H

#include <stdbool.h>
#include <stdint.h>

#include "tix_priv.h"

#define RUSH_OUTCOMES 6 /* PurchaseReply.Outcome values 0..5 */
#define RUSH_CODES 17   /* Code values 0..16 */

/* Counters, read by the checks and the report. */
typedef struct {
    uint64_t users;                   /* users of the rush */
    uint64_t answered;                /* users with a final answer (any) */
    uint64_t outcomes[RUSH_OUTCOMES]; /* final OK answers by outcome */
    uint64_t errors[RUSH_CODES];      /* final answers with code != OK, by code */
    uint64_t client_timeouts;         /* of errors[DEADLINE_EXCEEDED]: no answer came at all */
    uint64_t retries[RUSH_CODES];     /* answers retried (UNAVAILABLE, RESOURCE_EXHAUSTED) */
    uint64_t calls;                   /* calls sent, retries included */
    uint64_t resent_silent;           /* calls resent because no answer came in time */
    uint64_t malformed;               /* replies libtix could not read at all */
    uint64_t duplicate_answers;       /* a second final answer for one user */
    uint64_t users_with_two_orders;   /* a user named in two order-carrying answers */
    uint64_t shared_orders;           /* an order_id given to a second user */
    uint64_t available;               /* tickets left when the rush started */
    uint64_t expected_purchases;      /* min(available, users) */
    int64_t sellout_us;               /* from the start to the PURCHASED answer that sold the last
                                         ticket (purchases reached available); -1: not sold out */
} rush_counts_t;

typedef struct rush_tally rush_tally_t;

/* A tally for users users of a sale with available tickets left at the
 * start. The caller owns it. Never NULL. */
rush_tally_t *rush_tally_new(uint32_t users, uint32_t available);
/* NULL-safe, idempotent, sets *self to NULL. */
void rush_tally_destroy(rush_tally_t **self);

/* Records the final answer of user (< users) at elapsed_us from the start:
 * code, and with code OK the reply (borrowed; NULL is read as an empty
 * reply). client_timeout: no answer came (code is then DEADLINE_EXCEEDED). */
void rush_tally_final(rush_tally_t *self, uint32_t user, tix_code code, const Tix__V1__PurchaseReply *reply,
                      bool client_timeout, int64_t elapsed_us);
/* Records an answer that will be retried (code UNAVAILABLE or
 * RESOURCE_EXHAUSTED). */
void rush_tally_retry(rush_tally_t *self, tix_code code);
/* Records a call resent after silence (its broker may be gone). */
void rush_tally_resent(rush_tally_t *self);
/* Records a call sent. */
void rush_tally_call(rush_tally_t *self);
/* Records a reply that could not be read at all (no call to charge it to). */
void rush_tally_malformed(rush_tally_t *self);

const rush_counts_t *rush_tally_counts(const rush_tally_t *self);
/* True when user already has a final answer. */
bool rush_tally_answered(const rush_tally_t *self, uint32_t user);

/* 64-bit fingerprint of an order id (exposed for the tests). Never 0. */
uint64_t rush_tally_fingerprint(const char *s);

#endif
