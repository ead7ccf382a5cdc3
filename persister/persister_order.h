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
 * A log entry is a purchase or, with kind "cancel", the cancellation of
 * an order bought earlier in the same log: it carries that order's fields
 * plus cancelled_at_ms and cancel_reason, and has its own log id. Both are
 * a persister_order_t; cancelled_at_ms > 0 tells them apart.
 *
 * The MongoDB document of an order (collection `orders`, see
 * docs/PERSISTENCE.md) is built here once, for every sink:
 *   _id (= order_id), sale_id, user_id, request_id, purchased_at (date),
 *   log_id (string), persisted_at (date)
 * and, once cancelled: cancelled_at (date), cancel_reason, cancel_log_id
 * (the cancel entry's log id).
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
    char *order_id;            /* owned; the document's _id */
    char *sale_id;             /* owned */
    char *user_id;             /* owned */
    char *request_id;          /* owned; may be "" */
    int64_t purchased_at_ms;   /* Unix ms, Redis's clock */
    persister_log_id_t log_id; /* this entry's: the purchase's, or the cancel's */
    int64_t cancelled_at_ms;   /* 0: a purchase entry; else a cancel entry */
    char *cancel_reason;       /* owned; NULL for a purchase entry */
    char *key;                 /* owned; a cancel entry's key (persister_order_key) */
    int dup_id_errors;         /* consecutive duplicate-key errors on _id (persister_mongo) */
} persister_order_t;

/* Fills o with copies of the strings (none may be NULL). o is overwritten,
 * not cleared first. */
void persister_order_init(persister_order_t *o, const char *order_id, const char *sale_id, const char *user_id,
                          const char *request_id, int64_t purchased_at_ms, persister_log_id_t log_id);
/* Makes o (initialized) the cancel entry of its order: cancelled_at_ms > 0,
 * reason copied (NULL is ""). */
void persister_order_set_cancel(persister_order_t *o, int64_t cancelled_at_ms, const char *reason);
static inline bool
persister_order_is_cancel(const persister_order_t *o)
{
    return o->cancelled_at_ms > 0;
}
/* What tells held or written entries apart (borrowed from o): the order id
 * for a purchase, "<order_id> cancelled" for a cancel, since both name the
 * same order. */
const char *persister_order_key(const persister_order_t *o);
#define PERSISTER_ORDER_CANCEL_SUFFIX " cancelled"

/* Frees o's strings and zeroes it. NULL-safe, idempotent. */
void persister_order_clear(persister_order_t *o);

/* Fills o from an event received on topic (NUL-terminated). False, with a
 * reason in why, when the event lacks an order, its sale id is not a valid
 * sale id or does not match the topic, or its log id does not parse. */
bool persister_order_from_event(const Tix__V1__OrderEvent *event, const char *topic, persister_order_t *o, char *why,
                                size_t why_size);

/* The document is its identity (what a MongoDB upsert matches on) followed
 * by its details (what an upsert sets on insert only) and, for a cancel
 * entry, its cancel fields (what a cancel's upsert always sets). A cancel
 * entry's details lack log_id: the purchase's entry id is not in it. Each
 * appends to doc, an initialized bson_t owned by the caller. */
void persister_order_append_identity(const persister_order_t *o, bson_t *doc); /* _id, sale_id, user_id */
void persister_order_append_details(const persister_order_t *o, int64_t persisted_at_ms, bson_t *doc);
/* cancelled_at, cancel_reason, cancel_log_id; nothing for a purchase. */
void persister_order_append_cancel(const persister_order_t *o, bson_t *doc);
/* The whole document: identity, details, cancel fields. */
void persister_order_append_bson(const persister_order_t *o, int64_t persisted_at_ms, bson_t *doc);

#endif
