/*
 * persister_flush.h - the persister's bottom layer, its outbound path:
 * writing what the buffer holds to the sink, storing the cursors that
 * moved, and the backoff after a failed sink call. persister.c (the loop,
 * the drain) and persister_catchup.c (the order-log reads) call it; it
 * calls nothing above it, and reaches the rest of the loop only through
 * the shared state (a failed call sets retry_at_ms, which every layer
 * waits for; a sink that answers again brings the next catch-up forward).
 *
 * Every function takes the loop's state (persister_state.h) and must be
 * called from the thread that owns it.
 */
#ifndef PERSISTER_FLUSH_H
#define PERSISTER_FLUSH_H

#include <stdbool.h>

#include "persister_state.h"
#include "tix_err.h"

/* Writes everything held, in chunks of batch_max, until done or a sink
 * call fails (then backed off); books DONE and CONFLICT answers as written
 * and drops them from the buffer. True when nothing is held any more. */
bool persister_flush_all(persister_t *self);
/* Stores every cursor that moved since it was last stored (a failure is
 * backed off, and the cursors are stored again by a later call). */
void persister_flush_cursors(persister_t *self);

/* Records a failed sink call (what: "write", "ping", ...) and schedules the
 * retry (capped exponential backoff with jitter). */
void persister_flush_sink_failed(persister_t *self, tix_err err, const char *what);
/* Records a sink call that succeeded (ends a backoff). */
void persister_flush_sink_ok(persister_t *self);

#endif
