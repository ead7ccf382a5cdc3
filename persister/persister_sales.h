/*
 * persister_sales.h - what the persister knows per sale: the cursor, which
 * orders beyond it are already written, what events claimed about orders
 * not read yet, and whether the sale is still in the catch-up set.
 *
 * The cursor of a sale is a log id such that every entry of the sale's
 * order log up to it is durably in the sink. It only moves when a read of
 * the log has reached a point and everything read was written
 * (persister_catchup.c); the sink stores it (persister_sink) so a restart
 * resumes from it. `written` remembers the log ids beyond the cursor that
 * this process has written, so that a later read does not write them a
 * second time. It is an optimisation, never needed for correctness (sink
 * writes are idempotent), so it may be forgotten whenever it grows too
 * large.
 *
 * Events are hints, never orders: an event makes its sale `dirty` (the log
 * has news) and leaves a *claim* (the order it announced, keyed by log id)
 * that the read of the log checks against the entry of that id.
 *
 * The table splits its sales in two: *live* ones, read every catch-up, and
 * *retired* ones (log fully persisted, the sale can take no more orders),
 * which cost nothing but a slow check of their log's last id and come back
 * (persister_sales_revive) when that check or an event says there is news.
 * A retired sale keeps only its id and cursor.
 *
 * Ownership: the table owns its sales and their claims; persister_sale_t
 * pointers are borrowed and valid until the table is destroyed.
 * Single-threaded.
 */
#ifndef PERSISTER_SALES_H
#define PERSISTER_SALES_H

#include <stdbool.h>
#include <stddef.h>

#include <czmq.h>

#include "persister_order.h"
#include "tix_codec.h"

typedef struct {
    char sale_id[TIX_SALE_ID_MAX_BYTES + 1];
    bool cursor_known;         /* loaded from the sink (else cursor is 0-0) */
    persister_log_id_t cursor; /* every log entry <= cursor is durable */
    persister_log_id_t saved;  /* the cursor as last stored in the sink */
    bool live;                 /* in the catch-up set (else retired) */
    bool dirty;                /* an event said the log has news beyond the cursor */
    bool busy;                 /* the last read of the log found entries */
    zhashx_t *written;         /* "<ms>-<seq>" -> 1: written, beyond cursor; NULL = none */
    zhashx_t *claims;          /* "<ms>-<seq>" -> persister_order_t *: event claims; NULL = none */
    void *handle;              /* its node in the live or the retired list */
} persister_sale_t;

typedef struct persister_sales persister_sales_t;

/* A table that keeps at most claims_max claims over all sales. */
persister_sales_t *persister_sales_new(size_t claims_max);
/* NULL-safe; sets *self NULL. */
void persister_sales_destroy(persister_sales_t **self);

/* The sale, or NULL when unknown. */
persister_sale_t *persister_sales_find(persister_sales_t *self, const char *sale_id);
/* The sale, added (live, cursor unknown) when new. sale_id must be valid. */
persister_sale_t *persister_sales_get(persister_sales_t *self, const char *sale_id);
size_t persister_sales_count(const persister_sales_t *self);
size_t persister_sales_live_count(const persister_sales_t *self);
/* The live sales into out (room for persister_sales_live_count entries);
 * returns how many. */
size_t persister_sales_live(persister_sales_t *self, persister_sale_t **out);
/* Up to max retired sales, oldest checked first, into out; they become
 * the most recently checked (a round robin over calls). Returns how many. */
size_t persister_sales_retired_next(persister_sales_t *self, persister_sale_t **out, size_t max);
/* Takes a live sale out of the catch-up set: its written ids and claims
 * are dropped. Only for a sale read to its end with its cursor stored. */
void persister_sales_retire(persister_sales_t *self, persister_sale_t *sale);
/* Puts a retired sale back into the catch-up set, dirty. No-op when live. */
void persister_sales_revive(persister_sales_t *self, persister_sale_t *sale);

/* True when the entry id of this sale is known to be durable. */
bool persister_sales_is_written(const persister_sale_t *sale, persister_log_id_t id);
/* Records that id was durably written (ignored at or below the cursor). */
void persister_sales_mark_written(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id);
/* Moves the cursor forward to id (never back) and forgets the written ids
 * it now covers. */
void persister_sales_advance(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id);

/* Written ids remembered over all sales. */
size_t persister_sales_written_count(const persister_sales_t *self);
/* Forgets every remembered written id (a catch-up then rewrites them,
 * idempotently). */
void persister_sales_forget_written(persister_sales_t *self);

/* Keeps *claim (moved in: *claim is zeroed) as what an event said about
 * its log id. False, with *claim untouched, when the table holds
 * claims_max claims or one for that log id already. */
bool persister_sales_claim(persister_sales_t *self, persister_sale_t *sale, persister_order_t *claim);
/* The claim for id, removed from the table (the caller clears and frees
 * it), or NULL. */
persister_order_t *persister_sales_claim_take(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id);
/* Removes every claim with a log id <= upto: absent(claim, arg) is called
 * for each one above `after` (the log was read from `after` through
 * `upto` and has no entry of that id); the ones at or below `after` were
 * never checked (their entry had been read before the event came) and are
 * dropped. Returns how many were dropped unchecked. */
size_t persister_sales_claims_settle(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t after,
                                     persister_log_id_t upto, void (*absent)(const persister_order_t *, void *),
                                     void *arg);
size_t persister_sales_claims_count(const persister_sale_t *sale);

#endif
