/*
 * worker_store_priv.h - what worker_store.c and worker_store_reply.c share.
 *
 * Not for the worker loop: it sees worker_store.h only. Single-threaded.
 */
#ifndef WORKER_STORE_PRIV_H
#define WORKER_STORE_PRIV_H

#include <stdbool.h>

#include <hiredis/hiredis.h>

#include "worker_store.h"

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

#endif
