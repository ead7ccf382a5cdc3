/*
 * broker_edge.h - sold out at the edge (DESIGN.md guarantee 7).
 *
 * Once a sale is sold out its answers never change again: a user who holds
 * a ticket gets their order back (PURCHASED for the same request_id, else
 * ALREADY_PURCHASED), everyone else SOLD_OUT (SALE_CLOSED after the close).
 * The broker learns a sale is sold out from a Purchase reply with remaining
 * 0, loads the sale's buyers once through a worker (the internal SaleBuyers
 * method, page by page), and from then on answers Purchase for that sale
 * itself - exactly as tix_buy would, without a worker or Redis.
 *
 * This module is the table of such sales; the broker drives the loading.
 * Bounded: at most max_sales sales and max_buyers buyers per sale (a sale
 * with more buyers is simply not served at the edge).
 *
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
#define BROKER_EDGE_RETRY_MS 1000 /* after a failed load, wait this long before the next */

typedef struct broker_edge broker_edge_t;

broker_edge_t *broker_edge_new(size_t max_sales, size_t max_buyers);
/* NULL-safe, idempotent; sets *self to NULL. */
void broker_edge_destroy(broker_edge_t **self);

/* A Purchase reply said sale_id has no stock left. True when the caller
 * should start loading its buyers (first page, cursor "0"): the sale is new
 * here, or its last load failed long enough ago. */
bool broker_edge_sold_out(broker_edge_t *self, const char *sale_id, int64_t now_ms);
/* Adds one loaded page. Returns true when more pages follow (load the next
 * from page->cursor), false when the sale is now ready or was abandoned. */
bool broker_edge_add_page(broker_edge_t *self, const Tix__Worker__V1__BuyersPage *page, int64_t now_ms);
/* A page could not be loaded: forget what was loaded; retry later. */
void broker_edge_failed(broker_edge_t *self, const char *sale_id, int64_t now_ms);

/* When sale_id is ready, fills reply as tix_buy would for req at wall-clock
 * now_wall_ms and returns true; strings in reply are borrowed from the
 * table. False: the caller sends the call to a worker. */
bool broker_edge_answer(broker_edge_t *self, const Tix__V1__PurchaseRequest *req, int64_t now_wall_ms,
                        Tix__V1__PurchaseReply *reply);

/* Sales ready at the edge, for logs and tests. */
size_t broker_edge_ready_count(const broker_edge_t *self);

#endif
