/*
 * broker.h - tix-broker: the client frontend, the worker backend and the
 * order-event proxy, in one single-threaded loop.
 *
 * Clients (DEALER/REQ) call the ROUTER frontend with TIX1 calls; the broker
 * validates each call, answers Health itself, and hands the rest to sale
 * workers on the ROUTER backend (docs/WORKER-PROTOCOL.md) by credit,
 * round-robin. Calls wait in a bounded FIFO while every worker is full;
 * beyond the bound they are answered RESOURCE_EXHAUSTED with retry_after_ms.
 * Deadlines are honoured for calls not yet started. Order events from
 * workers (XSUB) are proxied to subscribers (XPUB).
 *
 * The broker never talks to Redis or MongoDB.
 *
 * Threading: a broker_t and its sockets belong to the thread that created
 * it; broker_run/broker_step must be called from that thread.
 */
#ifndef BROKER_H
#define BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker_config.h"
#include "broker_stats.h"
#include "tix_err.h"

typedef struct broker broker_t;

/* Binds every endpoint (as CURVE servers, with the ZAP handler, when
 * config->curve is set; it must then outlive the broker). Returns NULL (after logging the reason) when one
 * cannot be bound. config is copied; its strings are borrowed and must
 * outlive the broker. */
broker_t *broker_new(const broker_config_t *config);
/* Closes the sockets (pending work is dropped, not answered: call
 * broker_drain first for a clean stop). NULL-safe; sets *self to NULL. */
void broker_destroy(broker_t **self);

/* Starts --http (config.http; nothing when unset). false, after printing
 * "tix-broker: --http: reason" on stderr, when it cannot listen. */
bool broker_open_http(broker_t *self);

/* One loop iteration: waits up to timeout_ms for traffic, handles what came,
 * runs due timers (heartbeats, expiry, deadlines). TIX_ERR_INTERRUPTED when
 * a signal interrupted the wait. */
tix_err broker_step(broker_t *self, int timeout_ms);
/* Loops broker_step until tix_stopping(). */
void broker_run(broker_t *self);
/* Stops taking new work: queued calls are answered UNAVAILABLE, calls at
 * workers get up to drain_ms to be answered (then UNAVAILABLE). */
void broker_drain(broker_t *self);

const broker_stats_t *broker_stats(const broker_t *self);
/* The first endpoint the frontend is bound to (resolved, for tests that
 * bind tcp://127.0.0.1:*). Borrowed. */
const char *broker_frontend_endpoint(const broker_t *self);
const char *broker_backend_endpoint(const broker_t *self);

#endif
