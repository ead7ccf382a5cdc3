/*
 * rush_check.h - the invariants a rush proves, from its answers and the
 * sale as GetSale shows it before and after.
 *
 *  - all_answered:    every user has a final answer from the service (a
 *                     client-side timeout or an interrupted run fails it);
 *  - no_errors:       no final answer is an error code (UNAVAILABLE and
 *                     RESOURCE_EXHAUSTED count only when retries ran out);
 *  - purchased_exact: PURCHASED == min(available, users), where available
 *                     is the sale's remaining stock before the rush (never
 *                     oversold, never undersold); with orders cancelled
 *                     meanwhile (the order log's cancel entries after minus
 *                     before), min(available, users) <= PURCHASED <=
 *                     available + cancelled: live = sold - cancelled never
 *                     exceeds what was available;
 *  - one_per_user:    no order_id named for two users, no user named in two
 *                     orders, no user answered twice;
 *  - sale_remaining:  GetSale after the rush shows available + cancelled -
 *                     PURCHASED left (0 and SOLD_OUT when users >=
 *                     available + cancelled).
 * The last check assumes nobody else buys from the sale during the rush.
 *
 * Used by main.c; read by rush_report. Threading: none. Errors: none.
 */
#ifndef RUSH_CHECK_H
#define RUSH_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "rush_sale.h"
#include "rush_tally.h"

#define RUSH_CHECKS_MAX 8
#define RUSH_CHECK_DETAIL_BYTES 160

typedef struct {
    const char *name;                     /* e.g. "purchased_exact" (static) */
    bool pass;                            /* the invariant held */
    char detail[RUSH_CHECK_DETAIL_BYTES]; /* what was measured, one line */
} rush_check_t;

typedef struct {
    rush_check_t items[RUSH_CHECKS_MAX]; /* in the order above */
    size_t n;                            /* items filled */
    bool pass;                           /* every item passed */
} rush_checks_t;

/* Evaluates the checks from counts, the sale before the rush and after it
 * (after NULL: GetSale failed, which fails sale_remaining with why_after). */
void rush_check_all(const rush_counts_t *counts, const rush_sale_t *before, const rush_sale_t *after,
                    const char *why_after, rush_checks_t *out);

#endif
