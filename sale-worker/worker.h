/*
 * worker.h - the sale worker: executes the broker's jobs against Redis.
 *
 * Used by tix-worker's main.c (and tests). One worker_t owns one DEALER per
 * broker backend in config.backend, a comma-separated list (the TXW1
 * protocol of docs/WORKER-PROTOCOL.md), one PUB connected to every broker's
 * event intake in config.events_in (OrderEvent for every new order,
 * PROTOCOL.md section 4) and one Redis connection (worker_store.h). Each
 * broker has its own session: its own READY, credits (`capacity` each),
 * heartbeats and liveness, so a broker that dies, hangs or restarts costs
 * only its own jobs while the others are served on. A job's REPLY goes
 * back on the DEALER it came from. Jobs run concurrently: each is one FCALL
 * in flight, answered from its callback, except Purchases, which the store
 * batches per sale (worker_store.h: several in one FCALL, each answered on
 * its own).
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

#include <stdbool.h>

#include "tix_err.h"
#include "worker_config.h"

#define WORKER_LIVENESS 3    /* silent heartbeat intervals before the broker counts as gone */
#define WORKER_DRAIN_MS 1500 /* on stop: wait this long for calls in flight (+ linger: exit within 2 s) */

typedef struct worker worker_t;

/* Creates the sockets and starts connecting (nothing waits here). Returns
 * NULL after logging the reason when a value is invalid (worker_config_check)
 * or an endpoint cannot be connected. The strings in config must outlive the
 * worker. The caller owns the worker. */
worker_t *worker_new(const worker_config_t *config);

/* Starts --http (config.http; nothing when unset). false, after printing
 * "tix-worker: --http: reason" on stderr, when it cannot listen. */
bool worker_open_http(worker_t *self);

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
