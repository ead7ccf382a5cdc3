/*
 * worker_store.h - the sale worker's Redis side: the tix Function library
 * (sale-worker/tix.lua) called over one hiredis async connection.
 *
 * Used by the worker loop (worker.c) and by tests. One connection carries
 * many FCALLs at once (pipelined; Redis answers them in order). The store
 * does no waiting of its own: the caller's poll loop polls the descriptor
 * that worker_store_pollitem describes and hands its events to
 * worker_store_handle, and calls worker_store_tick when worker_store_timeout_ms
 * says so (reconnect with capped backoff, connect and stall timeouts).
 *
 * On every (re)connect: AUTH and SELECT as the URL says, CONFIG GET of
 * appendonly, appendfsync and maxmemory-policy, then FUNCTION LOAD REPLACE
 * of the library; only then is the store "ok". A Redis that is not durable
 * (not yes/always/noeviction, or CONFIG GET refused) is refused for good:
 * the store stops connecting and worker_store_refusal says why; with
 * allow_unsafe it is used, with a warning logged on every connect. When an FCALL answers
 * that the function is missing (FUNCTION FLUSH, a Redis restarted without
 * its data) the library is loaded again and that call retried once.
 *
 * With a redis-sentinel:// URL every (re)connect first asks the Sentinels
 * where the primary is (blocking, WORKER_STORE_SENTINEL_TIMEOUT_MS per
 * Sentinel) and checks ROLE there; an answer READONLY, NOREPLICAS or
 * MASTERDOWN drops the connection, so the next connect asks again. A lost
 * primary is a lost connection; a demoted one is a READONLY (or Sentinel
 * kills its clients); a partitioned one answers NOREPLICAS: these three
 * cover a failover without a Sentinel subscription.
 *
 * The replication gate (opts.min_replicas = N > 0): the replies of writes
 * (tix_create, tix_buy, tix_close, tix_cancel: every outcome) are held until a WAIT N sent after
 * them on the same connection answers; worker_store_pollitem sends one
 * WAIT behind all the writes of a loop turn, one WAIT in flight at a time.
 * A WAIT that reports fewer than N (timeout opts.wait_ms) completes the
 * held calls with TIX_ERR_UNAVAILABLE: the write may exist on the primary
 * alone, and a retry with the same request_id finds it and waits again.
 * At connect the primary must have min-replicas-to-write >= 1 and
 * min-replicas-max-lag 1..WORKER_STORE_MAX_LAG_S (refused otherwise).
 *
 * Batched buys: worker_store_buy only queues the buy; worker_store_pollitem
 * (the end of the loop turn) sends the buys waiting for one sale as one
 * FCALL tix_buy_many, each answered on its own (worker_store_batch.c). A
 * sale with fewer than WORKER_STORE_BATCH_FLIGHTS buy calls in flight
 * sends at once; one with that many waits for an answer, so that what
 * arrives meanwhile goes together.
 *
 * Calls: a call that returns TIX_OK gets exactly one callback, later, from
 * worker_store_handle, worker_store_tick, worker_store_pollitem (a buy that
 * could not be sent) or worker_store_destroy - never from inside the call
 * itself. The result and its strings are borrowed: they live
 * until the callback returns. A call pending when the connection is lost
 * completes with TIX_ERR_UNAVAILABLE: it may or may not have run in Redis.
 * A callback must not destroy the store.
 *
 * Threading: one thread (the worker loop's). The process must ignore SIGPIPE
 * (tix_signals_install does): hiredis writes with write(2).
 */
#ifndef WORKER_STORE_H
#define WORKER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "tix_err.h"
#include "tix_metrics.h"
#include "tix_redis_url.h"

#define WORKER_STORE_CONNECT_TIMEOUT_MS 2000 /* TCP connect + AUTH/SELECT/LOAD */
#define WORKER_STORE_STALL_MS 5000           /* oldest call unanswered this long: reconnect */
#define WORKER_STORE_BACKOFF_MIN_MS 100      /* first reconnect delay */
#define WORKER_STORE_BACKOFF_MAX_MS 2000     /* reconnect delay cap */
#define WORKER_STORE_WAIT_MS 1000            /* the gate's WAIT timeout */
#define WORKER_STORE_SENTINEL_TIMEOUT_MS 500 /* per Sentinel, to connect and answer */
#define WORKER_STORE_MAX_LAG_S 10            /* min-replicas-max-lag the gate accepts */
#define WORKER_STORE_BATCH_MAX 128           /* buys in one FCALL tix_buy_many */
#define WORKER_STORE_BATCH_FLIGHTS 2         /* a sale's buy calls in flight before buys wait */

typedef struct worker_store worker_store_t;

/* The library's functions (tix_create, tix_buy, ...) and how their calls
 * ended: for /metrics (tix_redis_calls_total{function,status}). */
#define WORKER_STORE_FUNCTIONS 10
typedef enum {
    WORKER_STORE_CALL_OK,          /* Redis answered (any outcome of the function) */
    WORKER_STORE_CALL_UNAVAILABLE, /* TIX_ERR_UNAVAILABLE: not sent, lost, stalled or a transient error */
    WORKER_STORE_CALL_ERROR,       /* TIX_ERR_REDIS: another error, or a reply the library never gives */
    WORKER_STORE_CALL_STATUSES
} worker_store_call_status;

typedef struct {
    uint64_t calls[WORKER_STORE_FUNCTIONS][WORKER_STORE_CALL_STATUSES]; /* completed calls */
    tix_hist_t duration; /* send to completion, every call that was sent (gate's WAIT included) */
} worker_store_metrics_t;

/* ---- Configuration -------------------------------------------------------- */

/* Tuning; a zero field takes its default. */
typedef struct {
    int connect_timeout_ms; /* WORKER_STORE_CONNECT_TIMEOUT_MS */
    int stall_ms;           /* WORKER_STORE_STALL_MS */
    bool allow_unsafe;      /* use a Redis that is not durable (warns) */
    int min_replicas;       /* the replication gate: 0 = off (no WAIT) */
    int wait_ms;            /* WORKER_STORE_WAIT_MS */
} worker_store_opts_t;

/* ---- Results -------------------------------------------------------------- */

typedef enum {
    WORKER_STORE_FOUND,             /* get_sale, get_order: here it is */
    WORKER_STORE_CREATED,           /* create: the sale now exists */
    WORKER_STORE_ALREADY_EXISTS,    /* create: the sale existed; untouched */
    WORKER_STORE_NO_SALE,           /* any call: the sale does not exist */
    WORKER_STORE_NO_ORDER,          /* get_order: the user holds no ticket */
    WORKER_STORE_PURCHASED,         /* buy: this request holds a ticket */
    WORKER_STORE_ALREADY_PURCHASED, /* buy: held under another request_id */
    WORKER_STORE_SOLD_OUT,          /* buy */
    WORKER_STORE_SALE_NOT_OPEN,     /* buy: wait_ms until it opens */
    WORKER_STORE_SALE_CLOSED,       /* buy */
    WORKER_STORE_DATA_LOSS,         /* the sale's keys disagree; detail says how */
    WORKER_STORE_ORDER_CANCELLED,   /* buy: this request's order was cancelled */
    WORKER_STORE_CLOSED,            /* close: the sale is closed (changed: by this call) */
    WORKER_STORE_CANCELLED,         /* cancel: the user's order is cancelled (is_new: by this call) */
    WORKER_STORE_BAD_TOKEN,         /* list_orders: page_token is not a log entry id */
} worker_store_status;

/* What a call found. Strings are borrowed (valid during the callback) and
 * never NULL ("" when not part of the answer). */
typedef struct {
    tix_err err;        /* TIX_OK: status and fields below are valid.
                           TIX_ERR_UNAVAILABLE: not connected, connection
                           lost or stalled, or a transient Redis error
                           (LOADING, BUSY, OOM, MISCONF, READONLY, ...).
                           TIX_ERR_REDIS: another error reply, or a reply
                           the library never gives. */
    const char *detail; /* one-line reason when err != TIX_OK or DATA_LOSS */
    worker_store_status status;
    uint32_t total;          /* create, get_sale */
    uint32_t remaining;      /* create, get_sale, and every buy outcome */
    int64_t opens_at_ms;     /* create, get_sale */
    int64_t closes_at_ms;    /* create, get_sale; 0 = never */
    int64_t now_ms;          /* create, get_sale, buyers: Redis's clock */
    int64_t created_at_ms;   /* buyers, close, cancel: when this incarnation of the sale was created (0 = unknown) */
    uint64_t version;        /* buyers, close, cancel: the sale's version (bumped by close and cancel) */
    const char *order_id;    /* buy PURCHASED/ALREADY_PURCHASED/ORDER_CANCELLED, get_order, cancel */
    const char *request_id;  /* get_order, cancel */
    const char *log_id;      /* the order's entry id in tix:{S}:log (cancel: the cancel entry's) */
    int64_t purchased_at_ms; /* with order_id */
    int64_t cancelled_at_ms; /* cancel */
    const char *reason;      /* cancel: cancel_reason */
    bool is_new;             /* buy PURCHASED: sold by this very call; cancel, close: changed by it */
    int64_t wait_ms;         /* buy SALE_NOT_OPEN: ms until it opens */
    const char *cursor;      /* buyers: the next page's cursor, "0" when done;
                                list_sales, list_orders: the next page's token, "" when done */
    size_t nbuyers;          /* buyers, list_sales, list_orders: entries on this page */
    const void *page;        /* read with worker_store_reply_buyer_at, _sale_at, _order_at */
    size_t nanswers;         /* (internal: a batch's answers on page) */
} worker_store_result_t;

/* One buyer of a sale, or (cancelled_at_ms != 0) one cancelled request;
 * strings borrowed like the result's. */
typedef struct {
    const char *user_id;
    const char *order_id;
    const char *request_id;
    int64_t purchased_at_ms;
    int64_t cancelled_at_ms;
} worker_store_buyer_t;

/* One sale of a list_sales page (its state at the result's now_ms). */
typedef struct {
    const char *sale_id;
    uint32_t total;
    uint32_t remaining;
    int64_t opens_at_ms;
    int64_t closes_at_ms;
} worker_store_sale_t;

/* One entry of a sale's order log (list_orders): a purchase, or a cancel
 * (cancelled_at_ms != 0). */
typedef struct {
    const char *log_id;
    const char *order_id;
    const char *user_id;
    const char *request_id;
    int64_t purchased_at_ms;
    int64_t cancelled_at_ms;
    const char *reason;
} worker_store_order_t;

/* The i-th entry (i < result->nbuyers) of a page (worker_store_reply.c
 * reads the page, as it parsed it): of buyers, of sales, of orders. */
void worker_store_reply_buyer_at(const worker_store_result_t *result, size_t i, worker_store_buyer_t *buyer);
void worker_store_reply_sale_at(const worker_store_result_t *result, size_t i, worker_store_sale_t *sale);
void worker_store_reply_order_at(const worker_store_result_t *result, size_t i, worker_store_order_t *order);

typedef void(worker_store_fn)(void *arg, const worker_store_result_t *result);

/* ---- Lifecycle ------------------------------------------------------------ */

/* A store for url (copied); starts connecting at once, without waiting.
 * opts may be NULL. The caller owns the store. */
worker_store_t *worker_store_new(const tix_redis_url_t *url, const worker_store_opts_t *opts);
/* Closes the connection, completes pending calls with TIX_ERR_UNAVAILABLE
 * (their callbacks run inside), frees the store. NULL-safe, idempotent,
 * sets *self_p to NULL. */
void worker_store_destroy(worker_store_t **self_p);

/* True while connected with the library loaded: calls can be made. */
bool worker_store_ok(const worker_store_t *self);
/* Why Redis was refused for good (one line naming --redis-url), or NULL. */
const char *worker_store_refusal(const worker_store_t *self);
/* Calls sent and not yet completed. */
size_t worker_store_in_flight(const worker_store_t *self);
/* Its counters (live; read at scrape time). */
const worker_store_metrics_t *worker_store_metrics(const worker_store_t *self);
/* The name of function i (< WORKER_STORE_FUNCTIONS), e.g. "tix_buy". */
const char *worker_store_function_name(size_t i);
/* The label of status s: "ok", "unavailable" or "error". */
const char *worker_store_call_status_name(worker_store_call_status s);

/* ---- Poll-loop integration ------------------------------------------------ */

/* Fills item with the Redis descriptor and the events hiredis waits for;
 * false (item untouched) while there is no connection. The descriptor
 * changes across reconnects: ask before every poll. With the gate on it
 * first sends the WAIT for the writes made since the last one. */
bool worker_store_pollitem(worker_store_t *self, zmq_pollitem_t *item);
/* Handles revents from polling that item (reads, writes, runs callbacks). */
void worker_store_handle(worker_store_t *self, short revents);
/* Milliseconds until worker_store_tick is due (0 = now), or -1 for never. */
int worker_store_timeout_ms(const worker_store_t *self);
/* Runs timers: reconnects when due, gives up on a connect or a call that
 * takes too long (pending calls then complete as unavailable). */
void worker_store_tick(worker_store_t *self);

/* ---- Calls ---------------------------------------------------------------- */
/* Each returns TIX_OK when the call was sent (fn will be called once, later),
 * or TIX_ERR_UNAVAILABLE when the store is not ok (fn is never called).
 * String arguments are copied; they must be valid per PROTOCOL.md (checked
 * by the caller; misuse is an assert). */

/* tix_create: a new sale of total tickets; opens/closes 0 = no bound. */
tix_err worker_store_create(worker_store_t *self, const char *sale_id, uint32_t total, int64_t opens_at_ms,
                            int64_t closes_at_ms, worker_store_fn *fn, void *arg);
/* tix_buy: one ticket for user_id under request_id ("" allowed). Queued
 * until worker_store_pollitem, then sent with the other buys of the sale
 * that wait (tix_buy alone, tix_buy_many for several); the result is
 * exactly tix_buy's for this buy. */
tix_err worker_store_buy(worker_store_t *self, const char *sale_id, const char *user_id, const char *request_id,
                         worker_store_fn *fn, void *arg);

/* What the buys' calls carried, since the store was made. */
typedef struct {
    uint64_t calls;    /* FCALLs of tix_buy or tix_buy_many */
    uint64_t buys;     /* buys they carried */
    uint32_t max;      /* the largest batch */
    uint64_t sizes[8]; /* calls by buys carried: 1, 2-3, 4-7, ..., 64-127, 128 */
} worker_store_batch_stats_t;

void worker_store_batch_stats(worker_store_t *self, worker_store_batch_stats_t *out);
/* tix_get_sale (read-only: FCALL_RO). */
tix_err worker_store_get_sale(worker_store_t *self, const char *sale_id, worker_store_fn *fn, void *arg);
/* tix_buyers (read-only): one page of a sale's buyers from cursor ("" or
 * "0" to start); FOUND carries remaining, closes_at_ms, created_at_ms,
 * now_ms, cursor and nbuyers. */
tix_err worker_store_buyers(worker_store_t *self, const char *sale_id, const char *cursor, worker_store_fn *fn,
                            void *arg);
/* tix_get_order (read-only: FCALL_RO). */
tix_err worker_store_get_order(worker_store_t *self, const char *sale_id, const char *user_id, worker_store_fn *fn,
                               void *arg);
/* tix_close: closes the sale now (idempotent); CLOSED carries the sale as
 * get_sale does, plus version, created_at_ms and is_new (changed). */
tix_err worker_store_close(worker_store_t *self, const char *sale_id, worker_store_fn *fn, void *arg);
/* tix_cancel: gives user_id's order back; CANCELLED (is_new: by this call)
 * or NO_ORDER. */
tix_err worker_store_cancel(worker_store_t *self, const char *sale_id, const char *user_id, const char *reason,
                            worker_store_fn *fn, void *arg);
/* tix_list_sales: up to page_size (0 = 100) sales after token ("" = from
 * the first), in id order; FOUND carries now_ms, cursor and nbuyers. */
tix_err worker_store_list_sales(worker_store_t *self, uint32_t page_size, const char *token, worker_store_fn *fn,
                                void *arg);
/* tix_list_orders (read-only): up to page_size (0 = 100) log entries after
 * token ("" = from the start); FOUND, NO_SALE or BAD_TOKEN. */
tix_err worker_store_list_orders(worker_store_t *self, const char *sale_id, uint32_t page_size, const char *token,
                                 worker_store_fn *fn, void *arg);

#endif
