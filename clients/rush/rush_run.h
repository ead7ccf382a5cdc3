/*
 * rush_run.h - the rush engine: many users, one Purchase each, on libtix's
 * asynchronous interface.
 *
 * One thread drives cfg->connections libtix clients (one DEALER each) in one
 * zmq_poll. Closed loop: up to cfg->in_flight users in progress at once, a
 * new one starting as soon as one is answered. Open loop (cfg->rate > 0):
 * user i arrives at start + i/rate and its latency counts from then, so a
 * slow server cannot hide its queueing (no coordinated omission); in_flight
 * still bounds the users in progress, and thus memory.
 *
 * A user answered UNAVAILABLE or RESOURCE_EXHAUSTED is sent again, with the
 * same request_id, after retry_after_ms (or a doubling backoff from
 * TIX_RETRY_BACKOFF_MIN_MS when the broker gave none) plus 0-50% jitter;
 * when that wait would end past the user's deadline (cfg->timeout_ms from its
 * start) the answer is final. Every call carries the time its user has left
 * as timeout_ms. A call unanswered for TIX_RETRY_SILENCE_MS (doubling
 * with each attempt) is forgotten and sent again, the same request, on the
 * next connection: its broker may have died or hung, and each connection's
 * DEALER sends only to brokers it still hears (ZMTP heartbeats), so the
 * resend reaches a live one. A Purchase resent with its request_id is
 * exact: it gets the order of the first, if that one ran. A call still
 * unanswered RUSH_GRACE_MS after its user's
 * deadline (the broker reports work it started even past the deadline) is
 * forgotten and the user's final answer is a client-side
 * DEADLINE_EXCEEDED. So every user ends with exactly one final answer.
 *
 * User i is "<cfg->user_prefix><i>" with request_id "r<i>", formatted into
 * a reused buffer (no allocation per call on our side).
 *
 * Threading: one thread; the clients never leave it.
 * Errors: tix_err as documented per function.
 */
#ifndef RUSH_RUN_H
#define RUSH_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "rush_config.h"
#include "rush_hist.h"
#include "rush_tally.h"
#include "tix_priv.h"

#define RUSH_GRACE_MS 1000   /* wait this long past a user's deadline for the broker's own answer */
#define RUSH_SWEEP_MS 100    /* how often calls past their deadline are looked for */
#define RUSH_PROGRESS_MS 250 /* how often the progress callback runs */
#define RUSH_RECV_BATCH 1024 /* replies read per connection before sending again */

typedef struct rush_run rush_run_t;

/* Called every RUSH_PROGRESS_MS during the rush, from the rush's thread.
 * in_progress: users started and not yet answered. */
typedef void rush_progress_fn(const rush_counts_t *counts, uint32_t in_progress, int64_t elapsed_us, void *arg);

/* Creates cfg->connections clients on cfg->frontend and waits (up to
 * cfg->timeout_ms) until each has a Health answer, so that connections are
 * up before the start. cfg is borrowed and must outlive the run. Returns
 * NULL with one line in why when an endpoint is malformed or a broker does
 * not answer. */
rush_run_t *rush_run_new(const rush_config_t *cfg, char *why, size_t why_size);
/* Closes the clients. NULL-safe, idempotent, sets *self to NULL. */
void rush_run_destroy(rush_run_t **self);

/* Client 0, for the blocking calls made before and after the rush. */
tix_client_t *rush_run_client(rush_run_t *self);

/* Runs the rush of cfg->users users to the end, recording every answer in
 * tally and every user's latency (microseconds, start to final answer) in
 * hist (both borrowed). progress may be NULL. TIX_OK when every user has a
 * final answer; TIX_ERR_INTERRUPTED on SIGINT/SIGTERM (see
 * tix_signals_install); TIX_ERR_IO when a socket failed. */
tix_err rush_run_go(rush_run_t *self, rush_tally_t *tally, rush_hist_t *hist, rush_progress_fn *progress, void *arg);

/* Microseconds from the first send to the last final answer. */
int64_t rush_run_wall_us(const rush_run_t *self);
/* Users started and not yet answered (0 after a complete run). */
uint32_t rush_run_in_progress(const rush_run_t *self);

#endif
