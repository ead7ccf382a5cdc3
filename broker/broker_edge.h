/*
 * broker_edge.h - sold out at the edge (DESIGN.md guarantee 7).
 *
 * The invariant: an entry is a cache of one (incarnation, version) of a
 * sale - its created_at_ms and its version, which every CloseSale and
 * CancelOrder that changes the sale bumps - and answers only while that
 * version holds in Redis. While it holds, the sale's answers do not change:
 * a user who holds a ticket gets their order back (PURCHASED for the same
 * request_id, else ALREADY_PURCHASED), a retry of a cancelled request its
 * cancelled order (ORDER_CANCELLED), everyone else SOLD_OUT (SALE_CLOSED
 * after the close, which the version fixes). Purchases cannot change it:
 * the sale has no stock to sell. The broker learns a sale is sold out from
 * a Purchase reply with remaining 0, loads its buyers and cancelled
 * requests once through a worker (the internal SaleBuyers method, page by
 * page), and from then on answers Purchase for that sale itself - exactly
 * as tix_buy would, without a worker or Redis.
 *
 * How an entry stops answering when its version ends:
 * - at once, on the worker's SALE_CHANGED notice, which a worker sends to
 *   every broker it is connected to before it answers the CloseSale or
 *   CancelOrder that changed the sale (broker_edge_drop); a load under way
 *   is discarded with the entry (its pages no longer match a load);
 * - on a bound, for a broker the notice missed (a worker not connected to
 *   it): every BROKER_EDGE_CHECK_MS while an entry answers, the broker reads
 *   the sale's first page again (broker_edge_checks_due) and drops the
 *   entry when its incarnation, version or stock changed
 *   (broker_edge_checked);
 * - whenever an answer from Redis shows the sale changed - CreateSale
 *   succeeded for that id, a worker answered NOT_FOUND or DATA_LOSS for it,
 *   GetSale saw stock again.
 * A load whose pages disagree on the incarnation or the version, or whose
 * sale is not sold out, is dropped too. The close is decided by Redis's
 * clock: each page carries Redis's time, and the entry keeps the offset
 * between it and the broker's monotonic clock.
 *
 * This module is the table of such sales; the broker drives the loading.
 * Bounded: at most max_sales sales (a new one evicts the least recently
 * used, counted) and max_buyers buyers per sale (a sale with more buyers
 * is not served at the edge until it is dropped or evicted).
 *
 * Every now_ms here is the broker's monotonic clock (tix_now_ms).
 * Ownership: the table copies everything it stores. Threading: the
 * broker's loop thread only.
 */
#ifndef BROKER_EDGE_H
#define BROKER_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tix_codec.h"

#define BROKER_EDGE_MAX_SALES 1024
#define BROKER_EDGE_MAX_BUYERS 200000
#define BROKER_EDGE_RETRY_MS 1000      /* after a failed load, wait this long before the next */
#define BROKER_EDGE_CHECK_MS 1000      /* an answering entry is checked against Redis this often */
#define BROKER_EDGE_CANCEL_KEY_MAX 256 /* user_id LF request_id, within PROTOCOL.md's limits */

typedef struct broker_edge broker_edge_t;

broker_edge_t *broker_edge_new(size_t max_sales, size_t max_buyers);
/* NULL-safe, idempotent; sets *self to NULL. */
void broker_edge_destroy(broker_edge_t **self);

/* A Purchase reply said sale_id has no stock left. Returns the number of a
 * load the caller should start (first page, cursor "0"; pass the number
 * back with each page), or 0 when none is due: the sale is loading or ready
 * here, or resting after a failed load. A new sale in a full table evicts
 * the least recently used one. */
uint64_t broker_edge_sold_out(broker_edge_t *self, const char *sale_id, int64_t now_ms);
/* Adds one page of load `load`. Returns true when more pages follow (load
 * the next from page->cursor), false when the sale is now ready, was given
 * up or dropped, or the page is stale (another load's). */
bool broker_edge_add_page(broker_edge_t *self, uint64_t load, const Tix__Worker__V1__BuyersPage *page, int64_t now_ms);
/* A page of load `load` could not be loaded: forget what was loaded; retry
 * later. Nothing happens when that load is no longer current. */
void broker_edge_failed(broker_edge_t *self, const char *sale_id, uint64_t load, int64_t now_ms);
/* Forgets sale_id, whatever its state: Redis's answers show the sale is not
 * (or no longer) what the entry caches. True when there was an entry. The
 * next Purchase reply with remaining 0 loads it afresh. */
bool broker_edge_drop(broker_edge_t *self, const char *sale_id);

/* When sale_id is ready, fills reply as tix_buy would for req at monotonic
 * now_ms (the close judged by Redis's clock) and returns true; strings in
 * reply are borrowed from the table. False: a worker answers the call. */
bool broker_edge_answer(broker_edge_t *self, const Tix__V1__PurchaseRequest *req, int64_t now_ms,
                        Tix__V1__PurchaseReply *reply);

/* Checks: for each ready entry that answered a call since its last check
 * and was last confirmed BROKER_EDGE_CHECK_MS ago or more, with no check
 * in flight, calls fn(arg, sale_id, check): the caller reads the sale's
 * first page and hands it to broker_edge_checked with `check`. Returns the
 * number of checks started. */
typedef void(broker_edge_check_fn)(void *arg, const char *sale_id, uint64_t check);
size_t broker_edge_checks_due(broker_edge_t *self, int64_t now_ms, broker_edge_check_fn *fn, void *arg);
/* The answer to check `check` of sale_id: page (NULL when none came) still
 * shows the entry's incarnation and version, sold out: the entry is
 * confirmed (true). Otherwise it is dropped (false). A check that is no
 * longer current changes nothing (true). */
bool broker_edge_checked(broker_edge_t *self, const char *sale_id, uint64_t check,
                         const Tix__Worker__V1__BuyersPage *page, int64_t now_ms);

/* Sales ready at the edge, for logs and tests. */
size_t broker_edge_ready_count(const broker_edge_t *self);
/* Sales evicted to make room, and entries dropped by broker_edge_drop or a
 * page that disagreed, since the table was made. */
uint64_t broker_edge_evicted(const broker_edge_t *self);
uint64_t broker_edge_dropped(const broker_edge_t *self);

#endif
