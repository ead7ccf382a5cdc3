/*
 * worker.h - the sale worker: executes the broker's jobs against Redis.
 *
 * Used by tix-worker's main.c (and tests). One worker_t owns one DEALER
 * connected to the broker's backend (the TXW1 protocol of
 * docs/WORKER-PROTOCOL.md), one PUB connected to the broker's event intake
 * (OrderEvent for every new order, PROTOCOL.md section 4) and one Redis
 * connection (worker_store.h). Jobs run concurrently: each is one FCALL in
 * flight, answered from its callback, up to `capacity` at a time.
 *
 * Deadlines: Job.budget_ms is the time that was left when the broker sent
 * the job. The worker checks it just before sending the Redis command; a
 * budget of 0 means the deadline has already passed (the broker sends at
 * least 1 for a live call) and the job is answered DEADLINE_EXCEEDED without
 * touching Redis. Once a command is sent the true outcome is always replied.
 *
 * Threading: one thread runs worker_run; sockets never leave it. Signals:
 * the caller installs tix_signals_install() and calls zsys_handler_set(NULL)
 * before worker_new, so that SIGINT/SIGTERM reach tix_stopping() rather than
 * czmq.
 */
#ifndef WORKER_H
#define WORKER_H

#include <stdint.h>

#include "tix_curve.h"
#include "tix_err.h"
#include "worker_store.h"

#define WORKER_DEFAULT_BACKEND "tcp://127.0.0.1:5556"
#define WORKER_DEFAULT_EVENTS_IN "tcp://127.0.0.1:5557"
#define WORKER_DEFAULT_CAPACITY 256
#define WORKER_CAPACITY_MAX 65536
#define WORKER_DEFAULT_HEARTBEAT_MS 1000
#define WORKER_HEARTBEAT_MIN_MS 50
#define WORKER_HEARTBEAT_MAX_MS 60000
#define WORKER_LIVENESS 3               /* silent heartbeat intervals before the broker counts as gone */
#define WORKER_UNAVAILABLE_RETRY_MS 500 /* retry_after_ms with UNAVAILABLE */
#define WORKER_DRAIN_MS 1500            /* on stop: wait this long for calls in flight (+ linger: exit within 2 s) */
#define WORKER_ID_MAX_BYTES 128

typedef struct worker worker_t;

typedef struct {
    const char *backend;             /* broker backend endpoint (DEALER connects); borrowed */
    const char *events_in;           /* broker event intake endpoint (PUB connects); borrowed */
    const char *worker_id;           /* 1..WORKER_ID_MAX_BYTES, no control characters; borrowed */
    uint32_t capacity;               /* jobs in flight granted to the broker: 1..WORKER_CAPACITY_MAX */
    uint32_t heartbeat_ms;           /* WORKER_HEARTBEAT_MIN_MS..WORKER_HEARTBEAT_MAX_MS */
    tix_redis_url_t redis;           /* copied */
    worker_store_opts_t store_opts;  /* zeros = defaults */
    const char *health_file;         /* rewritten every second while healthy, or NULL; borrowed */
    const tix_curve_client_t *curve; /* CURVE keys for both broker sockets, or NULL (plain); borrowed */
} worker_config_t;

/* Creates the sockets and starts connecting (nothing waits here). Returns
 * NULL after logging the reason when an endpoint or value is invalid. The
 * strings in config must outlive the worker. The caller owns the worker. */
worker_t *worker_new(const worker_config_t *config);

/* Sends READY, then serves jobs until tix_stopping(). Then it takes no new
 * jobs (they are answered UNAVAILABLE), waits up to WORKER_DRAIN_MS for the
 * calls in flight to reply, and returns TIX_OK. TIX_ERR_IO when polling
 * fails for good; TIX_ERR_CONFIG (after logging one line) when its Redis is
 * not durable (worker_store.h) and store_opts.allow_unsafe is not set. */
tix_err worker_run(worker_t *self);

/* Completes what is still pending as UNAVAILABLE, lets queued replies go out
 * (bounded linger), closes everything and frees the worker. NULL-safe,
 * idempotent, sets *self_p to NULL. */
void worker_destroy(worker_t **self_p);

#endif
