/*
 * persister_log.h - the persister's read-only view of the order logs in
 * Redis (docs/REDIS.md): the set of sales `tix:sales`, and per sale S the
 * stream `tix:{S}:log`, one entry per sold order with fields order_id,
 * sale_id, user_id, request_id, purchased_at_ms (the entry id is the
 * order's log id), and one per cancelled order with kind "cancel", the
 * order's fields, cancelled_at_ms and cancel_reason.
 *
 * The sale workers write these atomically with every purchase, on a Redis
 * with appendfsync always: the log is the source of truth the persister
 * catches up from. This module only reads it, in bounded pages, through
 * one synchronous hiredis connection with connect and command timeouts
 * (the persister is off the hot path; a slow Redis delays catch-up only).
 * The connection is made lazily and remade after any I/O error.
 *
 * With a redis-sentinel:// URL each connect first asks the Sentinels for
 * the primary (tix_sentinel.h) and checks ROLE master there. With
 * min_replicas N > 0, persister_log_read follows its XRANGE with WAIT N on
 * the same connection (WAIT covers the offset as of the connection's
 * previous command, the read included) and hands out nothing unless N
 * replicas hold what it read: an order written to MongoDB is never one a
 * failover can take back, and the cursor never runs ahead of the log of
 * the replica Sentinel promotes (the most advanced one it can reach).
 *
 * Errors are logged here, rate-limited, and returned as TIX_ERR_UNAVAILABLE
 * (cannot reach Redis) or TIX_ERR_REDIS (Redis answered an error).
 * Single-threaded.
 */
#ifndef PERSISTER_LOG_H
#define PERSISTER_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "persister_order.h"
#include "tix_err.h"
#include "tix_redis_url.h"

typedef struct persister_log persister_log_t;

/* A reader for the Redis at url (not connected yet). NULL, with a reason,
 * when the URL does not parse. timeout_ms bounds connect and each command. */
persister_log_t *persister_log_new(const char *url, int timeout_ms, int min_replicas, char *why, size_t why_size);
/* NULL-safe; sets *self NULL. */
void persister_log_destroy(persister_log_t **self);
/* True while the connection is up (it drops on an I/O error and is made
 * again by the next command). */
bool persister_log_connected(const persister_log_t *self);

/* Calls each(sale_id, arg) for every member of tix:sales that is a valid
 * sale id (others are logged and skipped). */
tix_err persister_log_sales(persister_log_t *self, void (*each)(const char *sale_id, void *arg), void *arg);

/* The number of members of tix:sales (SCARD, O(1)): a cheap way to see
 * that a sale was created without listing them all. */
tix_err persister_log_sales_count(persister_log_t *self, long long *count);

/* Whether the sale can take no more orders, as its Redis answers now
 * (FCALL_RO tix_get_sale, on Redis's clock): sold out, closed, or gone.
 * *ended is false when the sale may still sell or the answer is anything
 * else (the library not loaded, DATA_LOSS, ...): keep reading it then. */
tix_err persister_log_sale_ended(persister_log_t *self, const char *sale_id, bool *ended);

/* The id of the last entry of each sale's log (XREVRANGE ... COUNT 1, one
 * pipelined round trip for all n): last[i] is {0, 0} for an empty log.
 * Used to see that a retired sale has news without reading its log. */
tix_err persister_log_last_ids(persister_log_t *self, const char *const *sale_ids, size_t n, persister_log_id_t *last);

/* Reads at most max entries of sale_id's log after `after` (exclusive),
 * oldest first. Fills out[0..*n) with the well-formed ones (the caller
 * owns and clears them) and sets *last to the id of the last entry read,
 * well-formed or not, so that a malformed entry (logged, counted in
 * *malformed) does not stop the cursor forever. *last is `after` and *n 0
 * when nothing follows, and on any error (TIX_ERR_UNAVAILABLE also when
 * fewer than min_replicas replicas confirmed what was read). */
tix_err persister_log_read(persister_log_t *self, const char *sale_id, persister_log_id_t after, size_t max,
                           persister_order_t *out, size_t *n, persister_log_id_t *last, size_t *malformed);

#endif
