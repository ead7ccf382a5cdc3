/*
 * broker_soldout.h - sold out at the edge, driven: what the broker learns
 * from the replies passing through, and Purchase answered at the frontend
 * once a sale is ready in the edge's table (broker_edge.h). The one place
 * of the broker that knows Purchase. Loads go to workers as internal jobs
 * whose answers come back through their completion hook (broker_jobs.h):
 * nothing calls up into this module for them.
 *
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_SOLDOUT_H
#define BROKER_SOLDOUT_H

#include <stdbool.h>

#include "broker_state.h"

/* A worker answered job (a client's call) with code and body: notice a
 * sold-out sale (Purchase, remaining 0; its load is queued, for the caller
 * to dispatch), or drop the sale's edge entry when the answer shows Redis
 * holds another sale than the one cached there (CreateSale OK, NOT_FOUND,
 * DATA_LOSS, GetSale with stock). */
void broker_soldout_on_reply(broker_t *self, const broker_job_t *job, tix_code code, const void *body,
                             size_t body_size);
/* A worker's SALE_CHANGED notice: sale_id was closed or had an order
 * cancelled (now at version, incarnation created_at_ms): the edge forgets
 * it at once, and a load under way is discarded. */
void broker_soldout_sale_changed(broker_t *self, const char *sale_id, int64_t created_at_ms, uint64_t version);
/* Timers: queues the checks of answering entries that are due
 * (broker_edge_checks_due), as internal jobs for the caller to dispatch. */
void broker_soldout_tick(broker_t *self, int64_t now);
/* Answers a valid call from client (its routing id, borrowed) at the edge
 * when it is a Purchase whose sale is ready there; false when a worker must
 * answer it. No heap allocation. */
bool broker_soldout_answer(broker_t *self, const tix_frame_t *client, const tix_call_t *call);

#endif
