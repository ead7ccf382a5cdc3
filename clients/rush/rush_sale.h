/*
 * rush_sale.h - the sale a rush runs against: create it, read it.
 *
 * main.c creates the sale (unless --no-create), reads it before the rush to
 * learn how many tickets are left, and after the rush for the checks.
 * These are blocking libtix calls, made before the first and after the last
 * asynchronous call on the client (tix.h: never mix the two while async calls
 * are in flight). Threading: the caller's thread, the client's only user.
 */
#ifndef RUSH_SALE_H
#define RUSH_SALE_H

#include <stddef.h>
#include <stdint.h>

#include "tix_priv.h"

#define RUSH_WHY_MAX_BYTES 256

/* A sale as GetSale answered it. */
typedef struct {
    uint32_t total;     /* tickets of the sale */
    uint32_t remaining; /* tickets left */
    int state;          /* Tix__V1__Sale__State */
    int64_t cancels;    /* cancel entries in the sale's order log (ListOrders); -1 = unknown */
} rush_sale_t;

/* Creates sale_id with total tickets, open now and never closing.
 * TIX_OK when created; otherwise why holds one line (the broker's code and
 * message, ALREADY_EXISTS included): TIX_ERR_UNAVAILABLE when no answer came
 * (no broker), TIX_ERR_INVALID for any other refusal. */
tix_err rush_sale_create(tix_client_t *client, const char *sale_id, uint32_t total, uint32_t timeout_ms,
                         rush_sale_t *sale, char *why, size_t why_size);
/* Reads sale_id into *sale. Errors as rush_sale_create (NOT_FOUND is
 * TIX_ERR_INVALID). */
tix_err rush_sale_get(tix_client_t *client, const char *sale_id, uint32_t timeout_ms, rush_sale_t *sale, char *why,
                      size_t why_size);
/* Counts the cancel entries of sale_id's order log into sale->cancels,
 * paging ListOrders (one call per 1,000 entries); -1 when it cannot be
 * read (a service without ListOrders), which the checks take as "no
 * cancels known". */
void rush_sale_count_cancels(tix_client_t *client, const char *sale_id, uint32_t timeout_ms, rush_sale_t *sale);
/* The name of a Sale.State ("SOLD_OUT"), "STATE_UNSPECIFIED" when unknown. */
const char *rush_sale_state_name(int state);

#endif
