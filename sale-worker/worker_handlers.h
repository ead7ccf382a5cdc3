/*
 * worker_handlers.h - one handler per method: start the Redis call, and
 * turn its result into the method's reply (worker_link_job_reply) and, for
 * a new order, its event (worker_link_publish).
 *
 * Used by worker_jobs.c. Calls down only: worker_store.h and
 * worker_link.h. Single-threaded, like the loop.
 */
#ifndef WORKER_HANDLERS_H
#define WORKER_HANDLERS_H

#include "tix_codec.h"
#include "tix_err.h"
#include "worker_state.h"

/* Starts job's method: sends its Redis call, whose callback replies to the
 * job. TIX_ERR_UNAVAILABLE when the call could not be sent (the job has not
 * been replied to then). */
typedef tix_err (*worker_handlers_fn)(worker_job_t *job);

/* The handler of a method, or NULL when workers do not serve it (Health). */
worker_handlers_fn worker_handlers_get(tix_method_id id);

#endif
