/*
 * persister_sink.h - where orders go: an interface with two
 * implementations, MongoDB (persister_mongo, production) and an
 * Extended-JSON-lines file (persister_jsonl, machines without MongoDB).
 *
 * A sink promises two things, whatever happens to the process:
 *   - write is idempotent: writing an order that is already there leaves
 *     one copy, never two, also across restarts;
 *   - an order reported DONE is durable (MongoDB: acknowledged with the
 *     configured write concern; jsonl: fsync'd), and a stored cursor is
 *     durable when store_cursors returns TIX_OK.
 * The persister builds "nothing lost, nothing twice" on these two promises
 * and on the Redis order log (docs/PERSISTENCE.md).
 *
 * Errors are logged once, by the sink that met them. Ownership: the sink
 * borrows orders and cursors for the length of a call. Single-threaded.
 */
#ifndef PERSISTER_SINK_H
#define PERSISTER_SINK_H

#include <stddef.h>

#include "persister_order.h"
#include "tix_err.h"

typedef enum {
    PERSISTER_WRITE_DONE,     /* durably written now, or already there */
    PERSISTER_WRITE_CONFLICT, /* refused for good: another order holds this user's ticket or this order id (logged) */
    PERSISTER_WRITE_RETRY,    /* not known to be written: try again later */
    PERSISTER_WRITE_REFUSED,  /* refused for good: the server will never store it as it is (logged with its id) */
} persister_write_status;

/* One sale's cursor, as stored. */
typedef struct {
    const char *sale_id;       /* borrowed */
    persister_log_id_t log_id; /* every log entry <= log_id is durable */
} persister_cursor_t;

/* The operations of an implementation (self is its private state). */
typedef struct {
    const char *kind; /* "mongodb" or "jsonl" */
    tix_err (*ping)(void *self);
    tix_err (*write)(void *self, persister_order_t *orders, size_t n, persister_write_status *status);
    tix_err (*load_cursor)(void *self, const char *sale_id, persister_log_id_t *log_id);
    tix_err (*store_cursors)(void *self, const persister_cursor_t *cursors, size_t n);
    void (*destroy)(void *self);
} persister_sink_ops_t;

typedef struct persister_sink persister_sink_t;

/* Wraps an implementation; the sink owns impl (ops->destroy frees it).
 * where ("mongodb://host/db", "jsonl:/path") is copied, for logs. */
persister_sink_t *persister_sink_new(const persister_sink_ops_t *ops, void *impl, const char *where);
/* NULL-safe; sets *self NULL. */
void persister_sink_destroy(persister_sink_t **self);

/* Writes orders[0..n) (distinct order ids) and sets status[i] for each.
 * TIX_OK when none is RETRY; otherwise the error that left some unwritten
 * (TIX_ERR_UNAVAILABLE, TIX_ERR_TIMEOUT, TIX_ERR_IO, ...). The sink may
 * update orders[i].dup_id_errors; nothing else is changed. */
tix_err persister_sink_write(persister_sink_t *self, persister_order_t *orders, size_t n,
                             persister_write_status *status);
/* Checks that the sink answers (MongoDB: the unique index exists and the
 * server answers ping; jsonl: appends are possible). */
tix_err persister_sink_ping(persister_sink_t *self);
/* The stored cursor of sale_id, {0, 0} when it has none. */
tix_err persister_sink_load_cursor(persister_sink_t *self, const char *sale_id, persister_log_id_t *log_id);
/* Stores cursors[0..n) durably, all or (on error) possibly only some. */
tix_err persister_sink_store_cursors(persister_sink_t *self, const persister_cursor_t *cursors, size_t n);

const char *persister_sink_kind(const persister_sink_t *self);
/* A human-readable location without credentials. Borrowed. */
const char *persister_sink_where(const persister_sink_t *self);

#endif
