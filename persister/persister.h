/*
 * persister.h - tix-persister's loop: order events in, batches out to a
 * sink, and a catch-up from the Redis order logs so that nothing the event
 * feed drops is ever lost (docs/PERSISTENCE.md).
 *
 *   SUB order.*  -> hints: "sale S has news" (and what the event claims,
 *                   to check); every batch_ms the sales with news have
 *                   their log read after the cursor -> buffer (bounded,
 *                   no duplicates) -> sink write, <= batch_max per write
 *   every catchup_ms (and at start): look for new sales, read the log of
 *   every live sale after its cursor, write what is not written yet,
 *   store the cursors, retire sales that can sell no more and are fully
 *   written, and check a slice of the retired ones for news
 *
 * Orders are written only as the order log has them: an event is never
 * written, only checked against the entry it names.
 *
 * A failed sink call puts every write on hold for a capped exponential
 * backoff with jitter; the buffer keeps what it holds, and no more of the
 * log is read until it has room. Orders are only ever removed from the
 * buffer when the sink says DONE or CONFLICT.
 *
 * Threading: a persister_t and its socket belong to the thread that made
 * it; every call must come from that thread.
 */
#ifndef PERSISTER_H
#define PERSISTER_H

#include <stdbool.h>
#include <stdint.h>

#include "persister_config.h"
#include "persister_sink.h"
#include "persister_stats.h"
#include "tix_err.h"

typedef struct persister persister_t;

/* Connects the event subscription and prepares the order-log reader; takes
 * the sink (*sink is set NULL, also on failure). NULL (logged) when the
 * subscription cannot be set up or the Redis URL does not parse. config is
 * copied; its strings must outlive the persister. */
persister_t *persister_new(const persister_config_t *config, persister_sink_t **sink);
/* Starts --http (config.http; nothing when unset). false, after printing
 * "tix-persister: --http: reason" on stderr, when it cannot listen. */
bool persister_open_http(persister_t *self);
/* NULL-safe; sets *self NULL. Does not flush: call persister_drain first. */
void persister_destroy(persister_t **self);

/* One loop iteration: waits up to max_wait_ms for events or the next
 * timer, then does what is due (flush, catch-up, health file).
 * TIX_ERR_INTERRUPTED when a signal interrupted the wait. */
tix_err persister_step(persister_t *self, int max_wait_ms);
/* Loops persister_step until tix_stopping(). */
void persister_run(persister_t *self);
/* For a clean stop: takes the events already received, writes everything
 * held (retrying within timeout_ms), advances and stores the cursors. TIX_OK
 * when nothing held was left unwritten. */
tix_err persister_drain(persister_t *self, int timeout_ms);

const persister_stats_t *persister_stats(const persister_t *self);
/* True while the event subscription is connected to a feed. */
bool persister_subscribed(const persister_t *self);
/* Sales in the catch-up set. */
size_t persister_live_sales(const persister_t *self);
/* Orders held, not yet written. */
size_t persister_held(const persister_t *self);
/* The sink, for logs (borrowed). */
const persister_sink_t *persister_sink(const persister_t *self);

#endif
