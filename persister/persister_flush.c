/*
 * persister_flush.c - the outbound path: held orders written to the sink in
 * chunks of batch_max, moved cursors stored, and the backoff that holds
 * every sink call after one failed.
 */
#include "persister_flush.h"

#include <string.h>

#include "tix_log.h"
#include "tix_util.h"

/* ---- Backoff ------------------------------------------------------------ */

void
persister_flush_sink_failed(persister_t *self, tix_err err, const char *what)
{
    int64_t now = tix_now_ms();
    const persister_config_t *c = &self->config;
    self->stats.write_failures++;
    self->stats.sink_write_errors += strcmp(what, "write") == 0;
    if (self->backoff_ms == 0) {
        self->down_since_ms = now;
        tix_warn("sink not answering; holding orders and retrying with backoff\tsink=%s what=%s err=\"%s\" held=%zu",
                 persister_sink_where(self->sink), what, tix_strerror(err), persister_batch_size(self->batch));
    }
    self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : c->backoff_min_ms;
    if (self->backoff_ms > c->backoff_max_ms)
        self->backoff_ms = c->backoff_max_ms;
    /* Equal jitter: half fixed, half random, so that many persisters (or
     * one after many failures) do not retry in lockstep. */
    int half = self->backoff_ms / 2;
    self->retry_at_ms = now + half + (int) tix_rand_below((uint32_t) (self->backoff_ms - half) + 1);
}

void
persister_flush_sink_ok(persister_t *self)
{
    if (self->backoff_ms == 0)
        return;
    int64_t now = tix_now_ms();
    tix_info("sink answering again\tsink=%s down_ms=%lld held=%zu", persister_sink_where(self->sink),
             (long long) (now - self->down_since_ms), persister_batch_size(self->batch));
    self->backoff_ms = 0;
    self->retry_at_ms = 0;
    /* Events may have been shed meanwhile: the log has them. */
    self->next_catchup_ms = now;
}

/* ---- Writing ------------------------------------------------------------ */

/* Books the sink's answers for the first n held orders and drops the done
 * ones from the buffer. */
static void
s_book(persister_t *self, size_t n)
{
    persister_order_t *orders = persister_batch_orders(self->batch);
    for (size_t i = 0; i < n; i++) {
        self->done[i] = self->status[i] != PERSISTER_WRITE_RETRY;
        if (!self->done[i])
            continue;
        if (self->status[i] == PERSISTER_WRITE_CONFLICT)
            self->stats.conflicts++;
        else if (self->status[i] == PERSISTER_WRITE_REFUSED)
            self->stats.refused++;
        else {
            self->stats.written++;
            self->stats.cancels += persister_order_is_cancel(&orders[i]);
        }
        /* A conflict or refusal is settled too (logged and counted, and
         * still in the order log): it must not hold the cursor back, nor
         * be retried forever. */
        persister_sale_t *sale = persister_sales_get(self->sales, orders[i].sale_id);
        persister_sales_mark_written(self->sales, sale, orders[i].log_id);
    }
    persister_batch_remove(self->batch, n, self->done);
}

bool
persister_flush_all(persister_t *self)
{
    while (persister_batch_size(self->batch) > 0) {
        if (tix_now_ms() < self->retry_at_ms)
            return false;
        size_t n = persister_batch_size(self->batch);
        if (n > self->config.batch_max)
            n = self->config.batch_max;
        self->stats.write_calls++;
        tix_err err = persister_sink_write(self->sink, persister_batch_orders(self->batch), n, self->status);
        s_book(self, n);
        if (err != TIX_OK) {
            persister_flush_sink_failed(self, err, "write");
            return false;
        }
        persister_flush_sink_ok(self);
    }
    /* Remembered ids only save rewrites; past a bound, forget them. */
    size_t bound =
        self->config.buffer_max * 4 > PERSISTER_WRITTEN_MIN ? self->config.buffer_max * 4 : PERSISTER_WRITTEN_MIN;
    if (persister_sales_written_count(self->sales) > bound) {
        tix_info("forgetting written order ids (the order log is not being caught up)\tcount=%zu",
                 persister_sales_written_count(self->sales));
        persister_sales_forget_written(self->sales);
    }
    return true;
}

/* ---- Cursors ------------------------------------------------------------ */

void
persister_flush_cursors(persister_t *self)
{
    size_t n = persister_sales_live_count(self->sales);
    persister_sale_t **sales = xcalloc(n ? n : 1, sizeof *sales);
    n = persister_sales_live(self->sales, sales);
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
        persister_flush_sink_failed(self, err, "store cursors");
    } else {
        for (size_t i = 0; i < k; i++)
            moved[i]->saved = moved[i]->cursor;
        self->stats.cursor_stores += k > 0;
    }
    free(moved);
    free(cursors);
    free(sales);
}
