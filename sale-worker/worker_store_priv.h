/*
 * worker_store_priv.h - what the worker_store_*.c files share.
 *
 * Not for the worker loop: it sees worker_store.h only. Single-threaded.
 */
#ifndef WORKER_STORE_PRIV_H
#define WORKER_STORE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "worker_store.h"
#include "worker_store_arena.h"

/* The library's functions, one per kind of call. */
typedef enum {
    WORKER_STORE_OP_CREATE,    /* tix_create */
    WORKER_STORE_OP_BUY,       /* tix_buy */
    WORKER_STORE_OP_GET_SALE,  /* tix_get_sale */
    WORKER_STORE_OP_GET_ORDER, /* tix_get_order */
    WORKER_STORE_OP_BUYERS,    /* tix_buyers */
    WORKER_STORE_OP_CLOSE,     /* tix_close */
    WORKER_STORE_OP_CANCEL,    /* tix_cancel */
    WORKER_STORE_OP_SALES,     /* tix_list_sales */
    WORKER_STORE_OP_ORDERS,    /* tix_list_orders */
    WORKER_STORE_OP_BUY_MANY,  /* tix_buy_many: worker_store_batch.c's */
    WORKER_STORE_OP_COUNT
} worker_store_op;

/* The function's name as registered in tix.lua. */
const char *worker_store_reply_op_name(worker_store_op op);

/* Fills *out from reply, the answer to op (NULL: the connection was lost
 * before it came). Strings in *out are borrowed from reply. Never fails:
 * problems are in out->err and out->detail. */
void worker_store_reply_parse(worker_store_op op, const redisReply *reply, worker_store_result_t *out);

/* True when reply is Redis's answer to FCALL of a function it does not
 * have (FUNCTION FLUSH, or a Redis that restarted without its data). */
bool worker_store_reply_function_missing(const redisReply *reply);

/* True when reply says this node cannot take writes as the primary now
 * (READONLY: a replica; NOREPLICAS: no replica in reach; MASTERDOWN): with
 * Sentinel, the primary is asked for again. */
bool worker_store_reply_wrong_primary(const redisReply *reply);

/* A deep copy of r (freeReplyObject frees it): a write's reply is kept
 * until the replication gate lets it out. Never NULL (aborts on OOM). */
redisReply *worker_store_reply_dup(const redisReply *r);

/* Sends the FCALL/FCALL_RO argv as a call of op (worker_store.c); what
 * worker_store_calls.c builds each call with. */
tix_err worker_store_call(worker_store_t *self, worker_store_op op, int argc, const char *const argv[],
                          worker_store_fn *fn, void *arg);

/* The sale's keys, hash-tagged so that they share one cluster slot. */
typedef struct {
    char sale[96];    /* tix:{S}:sale */
    char stock[96];   /* tix:{S}:stock */
    char buyers[96];  /* tix:{S}:buyers */
    char log[96];     /* tix:{S}:log */
    char cancels[96]; /* tix:{S}:cancels */
} worker_store_keys_t;

/* Fills k for sale_id (at most 64 bytes: PROTOCOL.md). */
void worker_store_keys(const char *sale_id, worker_store_keys_t *k);

/* ---- Batched buys (worker_store_batch.c) ----------------------------------- */

typedef struct worker_store_batches worker_store_batches_t;

/* The store's batching state (NULL until the first buy); worker_store.c
 * keeps the pointer, worker_store_batch.c what it points to. */
worker_store_batches_t **worker_store_batches(worker_store_t *self);
/* What the store tells the batching layer, registered by it with its
 * first buy: flush at the end of every loop turn (worker_store_pollitem:
 * send what waits, as worker_store_buy describes), drop when the store is
 * destroyed, after the connection is gone (complete every buy still waiting
 * with TIX_ERR_UNAVAILABLE and free the state). Hooks rather than calls, so
 * that the store stays the bottom layer of its calls (tests/check_layers.py). */
typedef void worker_store_batch_hook_fn(worker_store_t *self);
void worker_store_batch_hooks(worker_store_t *self, worker_store_batch_hook_fn *flush,
                              worker_store_batch_hook_fn *drop);

/* ---- The store itself (worker_store.c, worker_store_connect.c) ------------ */

/* Where the connection stands. */
typedef enum {
    WORKER_STORE_DOWN,       /* no connection; the next attempt is due at deadline_ms */
    WORKER_STORE_CONNECTING, /* connecting, AUTH/SELECT/FUNCTION LOAD under way until deadline_ms */
    WORKER_STORE_READY,      /* the library is loaded: calls go out */
} worker_store_state;

struct worker_store {
    tix_redis_url_t url;                      /* where and how to connect */
    int connect_timeout_ms;                   /* connect + AUTH/SELECT/LOAD must finish in this */
    int stall_ms;                             /* the oldest call may wait this long */
    redisAsyncContext *ac;                    /* NULL while down */
    bool want_read;                           /* hiredis asked to be told when readable */
    bool want_write;                          /* ... and when writable */
    worker_store_state state;                 /* see worker_store_state */
    bool announced;                           /* "redis connected" was logged; loss will be */
    int64_t deadline_ms;                      /* DOWN: next attempt; CONNECTING: give up */
    int backoff_ms;                           /* delay before the next attempt */
    uint64_t loads;                           /* FUNCTION LOADs sent on this connection */
    struct worker_store_pending *head, *tail; /* calls in flight, oldest first */
    size_t in_flight;                         /* length of that list */
    struct worker_store_pending *spare;       /* completed calls, kept for reuse */
    bool destroying;                          /* no reconnect: worker_store_destroy runs */
    bool allow_unsafe;                        /* a Redis that may lose acknowledged writes is used anyway */
    int min_replicas;                         /* the gate: replicas a WAIT must report (0 = no gate) */
    int wait_ms;                              /* the WAIT's timeout */
    unsigned unwaited;                        /* writes sent since the last WAIT went out */
    bool wait_out;                            /* a WAIT is in flight (one at a time) */
    char refusal[640];                        /* set when Redis was refused for good (not durable) */
    char drop_reason[160];                    /* why the store itself dropped the connection */
    char last_problem[160];                   /* the last connect failure logged at warn */
    worker_store_metrics_t metrics;
    worker_store_arena_t *arena; /* every reply read on ac is built in it */

    /* Buys waiting per sale (worker_store_batch.c), and its hooks. */
    worker_store_batches_t *batches;
    worker_store_batch_hook_fn *batch_flush;
    worker_store_batch_hook_fn *batch_drop;
};

/* ---- Connecting (worker_store_connect.c) ----------------------------------- */

/* hiredis's cleanup hook for a context going away (worker_store.c's: it
 * completes the calls in flight, then falls back to down). */
typedef void worker_store_gone_fn(void *self);

/* With Sentinel, resolves the primary first; then connects, hooks the
 * context to the poll loop's flags (gone: its cleanup hook) and pipelines
 * AUTH/SELECT, the node's checks and FUNCTION LOAD, giving up at
 * connect_timeout_ms. A failure to start is logged and retried later. */
void worker_store_connect(worker_store_t *self, worker_store_gone_fn *gone);

/* Sends FUNCTION LOAD REPLACE of the tix library (again, after "function
 * not found"); counts it in self->loads. */
void worker_store_connect_send_load(worker_store_t *self);

/* Drops the connection on the store's own initiative, reason logged by the
 * cleanup hook. Safe inside a hiredis callback; nothing when down. */
void worker_store_connect_drop(worker_store_t *self, const char *reason);

/* Logs a connect failure at warn once, the same again at debug. */
void worker_store_connect_note_problem(worker_store_t *self, const char *reason);

/* Down; the next attempt after the backoff (with jitter), which doubles. */
void worker_store_connect_schedule_retry(worker_store_t *self);

#endif
