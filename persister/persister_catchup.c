/*
 * persister_catchup.c - reading the order logs after each sale's cursor,
 * writing what events did not bring, and moving the cursors.
 *
 * Why the cursor is safe: it moves to the id of the last entry of a page
 * only after every entry of that page is durable - either remembered as
 * written (the sink said DONE or CONFLICT) or just written by a flush that
 * left nothing held. Entries are read in log order, so everything up to
 * the cursor is durable.
 */
#include <stdlib.h>

#include "persister_priv.h"
#include "tix_log.h"
#include "tix_util.h"

typedef enum {
    CATCHUP_DONE,        /* the sale's log is read to its end */
    CATCHUP_MORE,        /* the page budget ran out; more to read */
    CATCHUP_SINK_FAILED, /* a sink call failed (backoff set) */
    CATCHUP_LOG_FAILED,  /* Redis could not be read (logged) */
} catchup_result;

static void
s_on_sale(const char *sale_id, void *arg)
{
    persister_t *self = arg;
    if (!persister_sales_find(self->sales, sale_id))
        tix_debug("new sale\tsale=%s", sale_id);
    persister_sales_get(self->sales, sale_id);
}

/* Loads the sale's stored cursor the first time the sale is seen. */
static bool
s_load_cursor(persister_t *self, persister_sale_t *sale)
{
    if (sale->cursor_known)
        return true;
    persister_log_id_t cursor;
    tix_err err = persister_sink_load_cursor(self->sink, sale->sale_id, &cursor);
    if (err != TIX_OK) {
        persister_on_sink_error(self, err, "load cursor");
        return false;
    }
    sale->cursor_known = true;
    persister_sale_advance(self->sales, sale, cursor);
    sale->saved = cursor;
    return true;
}

/* Offers a page of log entries to the buffer (taking their strings or
 * clearing them). False when one did not fit: the page cannot count as
 * written then. */
static bool
s_take_page(persister_t *self, persister_sale_t *sale, size_t n)
{
    int64_t now = tix_now_ms();
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        persister_batch_add_result r = persister_sale_is_written(sale, self->page[i].log_id)
                                           ? PERSISTER_BATCH_DUPLICATE
                                           : persister_batch_add(self->batch, &self->page[i], now);
        self->stats.from_log += r == PERSISTER_BATCH_ADDED;
        all = all && r != PERSISTER_BATCH_FULL;
        persister_order_clear(&self->page[i]);
    }
    return all;
}

static catchup_result
s_catchup_sale(persister_t *self, persister_sale_t *sale, int *budget)
{
    if (!s_load_cursor(self, sale))
        return CATCHUP_SINK_FAILED;
    for (;;) {
        /* Only pages with entries count: a quiet sale costs one XRANGE and
         * must not use up the turn of the sales after it. */
        if (*budget <= 0)
            return CATCHUP_MORE;
        /* A page must fit in the buffer whole, or the cursor could not
         * pass it. */
        if (persister_batch_room(self->batch) < self->config.batch_max && !persister_flush_all(self))
            return CATCHUP_SINK_FAILED;
        size_t n, malformed, max = self->config.batch_max;
        persister_log_id_t last;
        if (persister_log_read(self->log, sale->sale_id, sale->cursor, max, self->page, &n, &last, &malformed) !=
            TIX_OK)
            return CATCHUP_LOG_FAILED;
        self->stats.log_malformed += malformed;
        if (persister_log_id_cmp(last, sale->cursor) == 0)
            return CATCHUP_DONE;
        (*budget)--;
        bool whole = s_take_page(self, sale, n);
        if (!persister_flush_all(self))
            return CATCHUP_SINK_FAILED;
        if (!whole)
            continue; /* cannot happen (room was made); read the page again */
        persister_sale_advance(self->sales, sale, last);
        self->stats.cursors_advanced++;
        if (n + malformed < max)
            return CATCHUP_DONE;
    }
}

/* The sales, as an array (the table must not change while it is walked,
 * and a flush may look sales up). Caller frees. */
static persister_sale_t **
s_snapshot(persister_t *self, size_t *n)
{
    *n = persister_sales_count(self->sales);
    persister_sale_t **all = xcalloc(*n ? *n : 1, sizeof *all);
    size_t i = 0;
    for (persister_sale_t *s = persister_sales_first(self->sales); s && i < *n; s = persister_sales_next(self->sales))
        all[i++] = s;
    *n = i;
    return all;
}

void
persister_catchup_pass(persister_t *self)
{
    int64_t now = tix_now_ms();
    self->next_catchup_ms = now + self->config.catchup_ms;
    tix_err err = persister_sink_ping(self->sink);
    if (err != TIX_OK) {
        persister_on_sink_error(self, err, "ping");
        return;
    }
    /* A server that answers ping may still refuse writes: only a write
     * (or nothing to write) ends a backoff. */
    if (!persister_flush_all(self))
        return;
    persister_on_sink_ok(self);
    uint64_t found = self->stats.from_log;
    if (persister_log_sales(self->log, s_on_sale, self) != TIX_OK)
        return; /* Redis is away: events still flow; try again next interval */
    size_t n;
    persister_sale_t **sales = s_snapshot(self, &n);
    int budget = PERSISTER_CATCHUP_PAGES;
    catchup_result r = CATCHUP_DONE;
    for (size_t i = 0; i < n && (r == CATCHUP_DONE || r == CATCHUP_MORE); i++)
        r = s_catchup_sale(self, sales[i], &budget);
    free(sales);
    if (r != CATCHUP_SINK_FAILED)
        persister_cursors_store(self);
    if (r == CATCHUP_MORE)
        self->next_catchup_ms = now; /* continue right after the next look at events */
    else if (r == CATCHUP_DONE)
        self->stats.catchups++;
    if (self->stats.from_log > found)
        tix_info("caught up from the order log\torders=%llu", (unsigned long long) (self->stats.from_log - found));
}

void
persister_cursors_store(persister_t *self)
{
    size_t n;
    persister_sale_t **sales = s_snapshot(self, &n);
    persister_cursor_t *cursors = xcalloc(n ? n : 1, sizeof *cursors);
    persister_sale_t **moved = xcalloc(n ? n : 1, sizeof *moved);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (sales[i]->cursor_known && persister_log_id_cmp(sales[i]->cursor, sales[i]->saved) != 0) {
            cursors[k] = (persister_cursor_t){sales[i]->sale_id, sales[i]->cursor};
            moved[k++] = sales[i];
        }
    }
    tix_err err = persister_sink_store_cursors(self->sink, cursors, k);
    if (err != TIX_OK) {
        persister_on_sink_error(self, err, "store cursors");
    } else {
        for (size_t i = 0; i < k; i++)
            moved[i]->saved = moved[i]->cursor;
        self->stats.cursor_stores += k > 0;
    }
    free(moved);
    free(cursors);
    free(sales);
}
