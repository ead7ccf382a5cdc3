/*
 * persister_order.h - one sold order as the persister holds it; its log id
 * (persister_log_id.h) orders it within its sale.
 *
 * An order comes from one of two places: an OrderEvent on the broker's
 * event feed, or an entry of the sale's order log (the Redis Stream
 * tix:{S}:log, read by persister_log). Both carry the same fields; the
 * log id ("<ms>-<seq>", the stream entry id) is the order's position in
 * its sale's log and is what the durable per-sale cursor counts in.
 *
 * The MongoDB document of an order (collection `orders`, see
 * docs/PERSISTENCE.md) is built here once, for every sink:
 *   _id (= order_id), sale_id, user_id, request_id, purchased_at (date),
 *   log_id (string), persisted_at (date)
 *
 * Ownership: a persister_order_t owns its strings; persister_order_clear
 * frees them. Thread-safe: no shared state.
 */
#ifndef PERSISTER_ORDER_H
#define PERSISTER_ORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <bson/bson.h>

#include "persister_log_id.h"
#include "tix.pb-c.h"

typedef struct {
    char *order_id;          /* owned; the document's _id */
    char *sale_id;           /* owned */
    char *user_id;           /* owned */
    char *request_id;        /* owned; may be "" */
    int64_t purchased_at_ms; /* Unix ms, Redis's clock */
    persister_log_id_t log_id;
    int dup_id_errors; /* consecutive duplicate-key errors on _id (persister_mongo) */
} persister_order_t;

/* Fills o with copies of the strings (none may be NULL). o is overwritten,
 * not cleared first. */
void persister_order_init(persister_order_t *o, const char *order_id, const char *sale_id, const char *user_id,
                          const char *request_id, int64_t purchased_at_ms, persister_log_id_t log_id);
/* Frees o's strings and zeroes it. NULL-safe, idempotent. */
void persister_order_clear(persister_order_t *o);

/* Fills o from an event received on topic (NUL-terminated). False, with a
 * reason in why, when the event lacks an order, its sale id is not a valid
 * sale id or does not match the topic, or its log id does not parse. */
bool persister_order_from_event(const Tix__V1__OrderEvent *event, const char *topic, persister_order_t *o, char *why,
                                size_t why_size);

/* The document is its identity (what a MongoDB upsert matches on) followed
 * by its details (what an upsert sets on insert only). Each appends to doc,
 * an initialized bson_t owned by the caller. */
void persister_order_append_identity(const persister_order_t *o, bson_t *doc); /* _id, sale_id, user_id */
void persister_order_append_details(const persister_order_t *o, int64_t persisted_at_ms, bson_t *doc);
/* The whole document: identity then details. */
void persister_order_append_bson(const persister_order_t *o, int64_t persisted_at_ms, bson_t *doc);

#endif
