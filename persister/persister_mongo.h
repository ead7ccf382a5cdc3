/*
 * persister_mongo.h - the MongoDB sink (libmongoc, one single-threaded
 * client): orders as unordered bulk upserts keyed by _id = order id into
 * collection `orders`, under a unique index on (sale_id, user_id) created
 * at first contact; per-sale cursors in collection `cursors`
 * ({_id: sale_id, log_id, updated_at}); every write with the configured
 * write concern (w "majority" by default, with a wtimeout, and j: true).
 *
 * Idempotence: each order is `update({_id, sale_id, user_id},
 * {$setOnInsert: {request_id, purchased_at, log_id, persisted_at}},
 * upsert)`. Writing an order that is there matches it and changes nothing,
 * so a retry after any failure (also one where the server applied the
 * write but the reply was lost) never makes a second copy.
 *
 * Outcomes per order (see persister_sink.h and docs/PERSISTENCE.md):
 *   - the command failed (network, timeout, NotWritablePrimary, ...), or a
 *     writeConcernError came back: every order RETRY;
 *   - duplicate key on (sale_id, user_id): a *different* order id already
 *     holds this user's ticket for the sale (the same order would have
 *     matched its own _id). Retrying cannot succeed: CONFLICT, logged as
 *     an error (it means the Redis state that issued the second order had
 *     lost the first one);
 *   - duplicate key on _id: a concurrent upsert of the same order (two
 *     persisters) or an order id that already names another user's order.
 *     RETRY, and after PERSISTER_MONGO_DUP_ID_LIMIT consecutive times,
 *     CONFLICT (logged as an error);
 *   - a write error the server may not repeat (shutting down, stepping
 *     down, interrupted, write conflict, ...): RETRY (logged);
 *   - any other write error, and a document over MongoDB's 16 MiB limit
 *     (never sent): REFUSED, logged once as an error with the order id;
 *     the order stays in the order log.
 *
 * Timeouts the URI does not set get defaults: connectTimeoutMS and
 * serverSelectionTimeoutMS 2000, socketTimeoutMS wtimeout + 5000.
 * libmongoc's own log lines are routed through tix_log.
 * Threading: the sink and its client belong to the thread that made it.
 */
#ifndef PERSISTER_MONGO_H
#define PERSISTER_MONGO_H

#include <stddef.h>

#include "persister_sink.h"

#define PERSISTER_MONGO_INDEX_NAME "sale_id_1_user_id_1"
#define PERSISTER_MONGO_DUP_ID_LIMIT 3

/* A sink for uri / database. write_w is PERSISTER_W_MAJORITY or >= 1.
 * Nothing is contacted yet. NULL, with a reason, when the URI does not
 * parse. */
persister_sink_t *persister_mongo_new(const char *uri, const char *database, int write_w, int wtimeout_ms, char *why,
                                      size_t why_size);

/* Releases libmongoc's process-wide state; call once, last, from main. */
void persister_mongo_cleanup(void);

#endif
