/*
 * worker_jobs.h - job intake: a JOB from the broker up to the start of its
 * method's handler, with the checks made before any Redis call (defence in
 * depth: the broker validated already).
 *
 * Used by worker.c's ingress (and the worker fuzz target). Below it:
 * worker_handlers.h starts the method, worker_link.h answers what cannot
 * run. Single-threaded, like the loop.
 */
#ifndef WORKER_JOBS_H
#define WORKER_JOBS_H

#include <stdint.h>

#include "tix_codec.h"
#include "worker_state.h"

/* Takes one JOB (borrowed) that came from broker b: checks it, then starts its handler or answers
 * at once (UNIMPLEMENTED, INVALID_ARGUMENT, UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED). received_ms: when it came off the socket. */
void worker_jobs_accept(worker_broker_t *b, const Tix__Worker__V1__Job *msg, int64_t received_ms);

#endif
