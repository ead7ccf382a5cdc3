/*
 * persister_sales.h - what the persister knows per sale: the cursor, and
 * which orders beyond it are already written.
 *
 * The cursor of a sale is a log id such that every entry of the sale's
 * order log up to it is durably in the sink. It only moves when a
 * catch-up has read the log up to a point and everything read was written
 * (persister.c); the sink stores it (persister_sink) so a restart resumes
 * from it. `written` remembers the log ids beyond the cursor that this
 * process has written (mostly from events), so that a catch-up does not
 * write them a second time. It is an optimisation, never needed for
 * correctness (sink writes are idempotent), so it may be forgotten
 * whenever it grows too large.
 *
 * Ownership: the table owns its sales; persister_sale_t pointers are
 * borrowed and valid until the table is destroyed. Single-threaded.
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
    zhashx_t *written;         /* "<ms>-<seq>" -> 1: written, beyond cursor */
} persister_sale_t;

typedef struct persister_sales persister_sales_t;

persister_sales_t *persister_sales_new(void);
/* NULL-safe; sets *self NULL. */
void persister_sales_destroy(persister_sales_t **self);

/* The sale, or NULL when unknown. */
persister_sale_t *persister_sales_find(persister_sales_t *self, const char *sale_id);
/* The sale, added (cursor unknown) when new. sale_id must be valid. */
persister_sale_t *persister_sales_get(persister_sales_t *self, const char *sale_id);
size_t persister_sales_count(const persister_sales_t *self);
/* Iteration in no particular order; do not add sales while iterating. */
persister_sale_t *persister_sales_first(persister_sales_t *self);
persister_sale_t *persister_sales_next(persister_sales_t *self);

/* True when the entry id of this sale is known to be durable. */
bool persister_sale_is_written(const persister_sale_t *sale, persister_log_id_t id);
/* Records that id was durably written (ignored at or below the cursor). */
void persister_sale_mark_written(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id);
/* Moves the cursor forward to id (never back) and forgets the written ids
 * it now covers. */
void persister_sale_advance(persister_sales_t *self, persister_sale_t *sale, persister_log_id_t id);

/* Written ids remembered over all sales. */
size_t persister_sales_written_count(const persister_sales_t *self);
/* Forgets every remembered written id (a catch-up then rewrites them,
 * idempotently). */
void persister_sales_forget_written(persister_sales_t *self);

#endif
