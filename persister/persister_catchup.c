/*
 * persister_catchup.c - reading the order logs after each sale's cursor,
 * writing what they hold, checking event claims against them, moving the
 * cursors, and keeping the catch-up set to the sales that can still sell.
 *
 * Why the cursor is safe: it moves to the id of the last entry of a page
 * only after every entry of that page is durable - either remembered as
 * written (the sink said DONE or CONFLICT) or just written by a flush that
 * left nothing held. Entries are read in log order, so everything up to
 * the cursor is durable.
 *
 * Why retiring is safe: a sale leaves the set only when Redis said it can
 * take no more orders *before* a read found nothing beyond its cursor, and
 * that cursor is stored. Whatever is appended later (a returned ticket, a
 * sale created again) is seen by an event for it or by the sweep, which
 * compares the log's last id with the cursor, and brings the sale back.
 */
#include "persister_catchup.h"

#include <stdlib.h>
#include <string.h>

#include "persister_flush.h"
#include "tix_log.h"
#include "tix_util.h"

#define MISMATCH_LOG_EVERY_MS 1000 /* claims that disagree: one line per this, at most */
#define SWEEP_CHUNK 1000           /* retired sales per pipelined round trip */

typedef enum {
    CATCHUP_DONE,        /* the sale's log is read to its end */
    CATCHUP_MORE,        /* the page budget ran out; more to read */
    CATCHUP_SINK_FAILED, /* a sink call failed (backoff set) */
    CATCHUP_LOG_FAILED,  /* Redis could not be read (logged) */
} catchup_result;

static const persister_log_id_t s_log_end = {UINT64_MAX, UINT64_MAX};

/* ---- Which sales ---------------------------------------------------------- */

static void
s_on_sale(const char *sale_id, void *arg)
{
    persister_t *self = arg;
    if (persister_sales_find(self->sales, sale_id))
        return;
    tix_debug("new sale\tsale=%s", sale_id);
    persister_catchup_hint(self, persister_sales_get(self->sales, sale_id));
}

/* Adds the sales created since the last look: SCARD is O(1), and only a
 * changed count (or force) costs a walk of tix:sales. False when Redis
 * could not be read. */
static bool
s_discover(persister_t *self, bool force)
{
    long long card;
    self->unknown_sale = false;
    if (persister_log_sales_count(self->log, &card) != TIX_OK)
        return false;
    if (!force && card == self->sales_card)
        return true;
    if (persister_log_sales(self->log, s_on_sale, self) != TIX_OK)
        return false;
    self->sales_card = card; /* counted before the walk: a sale added during it shows next time */
    return true;
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
        persister_flush_sink_failed(self, err, "load cursor");
        return false;
    }
    sale->cursor_known = true;
    persister_sales_advance(self->sales, sale, cursor);
    sale->saved = cursor;
    return true;
}

/* ---- Claims: what events said, against what the log says ----------------- */

static bool
s_mismatch_log_due(persister_t *self)
{
    int64_t now = tix_now_ms();
    self->stats.mismatched++;
    if (now < self->next_mismatch_log_ms)
        return false;
    self->next_mismatch_log_ms = now + MISMATCH_LOG_EVERY_MS;
    return true;
}

/* A claim for a log id the log does not have: nothing is written from it. */
static void
s_on_absent(const persister_order_t *claim, void *arg)
{
    persister_t *self = arg;
    char id[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(claim->log_id, id, sizeof id);
    if (s_mismatch_log_due(self))
        tix_error("order event names no order of the order log; nothing written from it\tsale=%s log_id=%s "
                  "mismatched=%llu",
                  claim->sale_id, id, (unsigned long long) self->stats.mismatched);
}

/* Checks the event claim (if any) for a log entry; the entry is written as
 * the log has it either way. */
static void
s_check_claim(persister_t *self, persister_sale_t *sale, const persister_order_t *entry)
{
    persister_order_t *claim = persister_sales_claim_take(self->sales, sale, entry->log_id);
    if (!claim)
        return;
    const char *differs = strcmp(claim->order_id, entry->order_id) != 0       ? "order_id"
                          : strcmp(claim->user_id, entry->user_id) != 0       ? "user_id"
                          : strcmp(claim->request_id, entry->request_id) != 0 ? "request_id"
                          : claim->purchased_at_ms != entry->purchased_at_ms  ? "purchased_at_ms"
                          : claim->cancelled_at_ms != entry->cancelled_at_ms  ? "cancelled_at_ms"
                          : persister_order_is_cancel(entry) && strcmp(claim->cancel_reason, entry->cancel_reason) != 0
                              ? "cancel_reason"
                              : NULL;
    if (differs && s_mismatch_log_due(self)) {
        char id[PERSISTER_LOG_ID_MAX_BYTES];
        persister_log_id_format(entry->log_id, id, sizeof id);
        /* The claim's strings came from whoever published: not logged. */
        tix_error("order event disagrees with the order log; the log's order is written\tsale=%s log_id=%s "
                  "field=%s order_id=%s mismatched=%llu",
                  sale->sale_id, id, differs, entry->order_id, (unsigned long long) self->stats.mismatched);
    }
    persister_order_clear(claim);
    free(claim);
}

/* ---- Reading one sale's log ---------------------------------------------- */

/* Offers a page of log entries to the buffer (taking their strings or
 * clearing them). False when one did not fit: the page cannot count as
 * written then. */
static bool
s_take_page(persister_t *self, persister_sale_t *sale, size_t n)
{
    int64_t now = tix_now_ms();
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        s_check_claim(self, sale, &self->page[i]);
        persister_batch_add_result r = persister_sales_is_written(sale, self->page[i].log_id)
                                           ? PERSISTER_BATCH_DUPLICATE
                                           : persister_batch_add(self->batch, &self->page[i], now);
        self->stats.from_log += r == PERSISTER_BATCH_ADDED;
        all = all && r != PERSISTER_BATCH_FULL;
        persister_order_clear(&self->page[i]);
    }
    return all;
}

/* Settles the claims of (after, upto]: the log was read through there. */
static void
s_settle(persister_t *self, persister_sale_t *sale, persister_log_id_t after, persister_log_id_t upto)
{
    self->stats.events_known += persister_sales_claims_settle(self->sales, sale, after, upto, s_on_absent, self);
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
        persister_log_id_t last, from = sale->cursor;
        if (persister_log_read(self->log, sale->sale_id, from, max, self->page, &n, &last, &malformed) != TIX_OK)
            return CATCHUP_LOG_FAILED;
        self->stats.log_malformed += malformed;
        if (persister_log_id_cmp(last, from) == 0) {
            s_settle(self, sale, from, s_log_end); /* claims beyond the log's end name no order */
            return CATCHUP_DONE;
        }
        (*budget)--;
        bool whole = s_take_page(self, sale, n);
        if (!persister_flush_all(self))
            return CATCHUP_SINK_FAILED;
        if (!whole)
            continue; /* cannot happen (room was made); read the page again */
        persister_sales_advance(self->sales, sale, last);
        self->stats.cursors_advanced++;
        bool end = n + malformed < max;
        s_settle(self, sale, from, end ? s_log_end : last);
        if (end)
            return CATCHUP_DONE;
    }
}

/* ---- Events' news: read the sales they named ----------------------------- */

void
persister_catchup_hint(persister_t *self, persister_sale_t *sale)
{
    sale->dirty = true;
    if (self->hints_since_ms == 0)
        self->hints_since_ms = tix_now_ms();
}

void
persister_catchup_hints(persister_t *self)
{
    self->hints_since_ms = 0;
    if (self->unknown_sale && tix_now_ms() >= self->next_discover_ms) {
        self->next_discover_ms = tix_now_ms() + PERSISTER_DISCOVER_MIN_MS;
        s_discover(self, false);
    }
    size_t n = persister_sales_live_count(self->sales);
    persister_sale_t **sales = xcalloc(n ? n : 1, sizeof *sales);
    n = persister_sales_live(self->sales, sales);
    int budget = PERSISTER_CATCHUP_PAGES;
    catchup_result r = CATCHUP_DONE;
    for (size_t i = 0; i < n && r == CATCHUP_DONE; i++) {
        if (!sales[i]->dirty)
            continue;
        r = s_catchup_sale(self, sales[i], &budget);
        sales[i]->dirty = r != CATCHUP_DONE;
    }
    free(sales);
    /* More to read: again soon. A failure waits for the backoff (sink) or
     * the next catch-up (Redis), which reads every live sale anyway. */
    if (r == CATCHUP_MORE || r == CATCHUP_SINK_FAILED)
        self->hints_since_ms = tix_now_ms();
}

/* ---- The catch-up pass --------------------------------------------------- */

/* Checks a slice of the retired sales, so that all of them are checked
 * about once per sweep_ms: one whose log ends beyond its cursor has news
 * (an order after it sold out or closed) and goes back into the set. */
static void
s_sweep(persister_t *self)
{
    size_t retired = persister_sales_count(self->sales) - persister_sales_live_count(self->sales);
    if (retired == 0)
        return;
    size_t k = (retired * (size_t) self->config.catchup_ms + (size_t) self->config.sweep_ms - 1) /
               (size_t) self->config.sweep_ms;
    k = k < SWEEP_CHUNK ? k : SWEEP_CHUNK;
    persister_sale_t *sales[SWEEP_CHUNK];
    const char *ids[SWEEP_CHUNK];
    persister_log_id_t last[SWEEP_CHUNK];
    size_t n = persister_sales_retired_next(self->sales, sales, k);
    for (size_t i = 0; i < n; i++)
        ids[i] = sales[i]->sale_id;
    if (persister_log_last_ids(self->log, ids, n, last) != TIX_OK)
        return;
    self->stats.swept += n;
    for (size_t i = 0; i < n; i++) {
        if (persister_log_id_cmp(last[i], sales[i]->cursor) > 0) {
            tix_info("retired sale has new orders; back in the catch-up\tsale=%s", sales[i]->sale_id);
            self->stats.revived++;
            persister_sales_revive(self->sales, sales[i]);
            persister_catchup_hint(self, sales[i]);
        }
    }
}

/* Reads every live sale; ended[i] says whether sales[i] may retire. A sale
 * that read nothing last time is asked first whether it can still sell:
 * asked before the read, so that an answer "ended" and a read that finds
 * nothing prove its log complete. */
static catchup_result
s_read_live(persister_t *self, persister_sale_t **sales, size_t n, bool *ended)
{
    int budget = PERSISTER_CATCHUP_PAGES;
    catchup_result r = CATCHUP_DONE;
    for (size_t i = 0; i < n && (r == CATCHUP_DONE || r == CATCHUP_MORE); i++) {
        persister_sale_t *s = sales[i];
        bool quiet = !s->busy;
        if (quiet && persister_log_sale_ended(self->log, s->sale_id, &ended[i]) != TIX_OK)
            return CATCHUP_LOG_FAILED;
        int before = budget;
        r = s_catchup_sale(self, s, &budget);
        s->busy = budget != before;
        if (r == CATCHUP_DONE)
            s->dirty = false;
        ended[i] = ended[i] && quiet && !s->busy && r == CATCHUP_DONE && persister_sales_claims_count(s) == 0;
    }
    return r;
}

/* Retires the ended sales whose cursor is stored. */
static void
s_retire(persister_t *self, persister_sale_t **sales, size_t n, const bool *ended)
{
    for (size_t i = 0; i < n; i++) {
        persister_sale_t *s = sales[i];
        if (ended[i] && s->live && !s->dirty && s->cursor_known && persister_log_id_cmp(s->cursor, s->saved) == 0) {
            tix_debug("sale sold out or closed and persisted; out of the catch-up\tsale=%s", s->sale_id);
            persister_sales_retire(self->sales, s);
            self->stats.retired++;
        }
    }
}

void
persister_catchup_pass(persister_t *self)
{
    int64_t now = tix_now_ms();
    self->next_catchup_ms = now + self->config.catchup_ms;
    tix_err err = persister_sink_ping(self->sink);
    if (err != TIX_OK) {
        persister_flush_sink_failed(self, err, "ping");
        return;
    }
    /* A server that answers ping may still refuse writes: only a write
     * (or nothing to write) ends a backoff. */
    if (!persister_flush_all(self))
        return;
    persister_flush_sink_ok(self);
    uint64_t found = self->stats.from_log;
    size_t live_before = persister_sales_live_count(self->sales);
    if (!s_discover(self, self->sales_card < 0))
        return; /* Redis is away: events still flow; try again next interval */
    size_t n = persister_sales_live_count(self->sales);
    persister_sale_t **sales = xcalloc(n ? n : 1, sizeof *sales);
    bool *ended = xcalloc(n ? n : 1, sizeof *ended);
    n = persister_sales_live(self->sales, sales);
    catchup_result r = s_read_live(self, sales, n, ended);
    if (r != CATCHUP_SINK_FAILED)
        persister_flush_cursors(self);
    s_retire(self, sales, n, ended);
    free(ended);
    free(sales);
    if (r == CATCHUP_MORE) {
        self->next_catchup_ms = now; /* continue right after the next look at events */
    } else if (r == CATCHUP_DONE) {
        self->stats.catchups++;
        s_sweep(self);
    }
    if (self->stats.from_log > found)
        tix_info("caught up from the order log\torders=%llu", (unsigned long long) (self->stats.from_log - found));
    if (persister_sales_live_count(self->sales) != live_before)
        tix_info("catch-up set\tlive=%zu retired=%zu", persister_sales_live_count(self->sales),
                 persister_sales_count(self->sales) - persister_sales_live_count(self->sales));
}
