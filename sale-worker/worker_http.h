/*
 * worker_http.h - the worker's HTTP endpoint (--http, tix_http.h): its
 * /metrics text and its /readyz answer. Ready: Redis connected with the
 * library loaded, and not stopping. The brokers are not part of it: a
 * worker serves whichever brokers it reaches, and one broker restarting
 * must not make every worker unready (the broker's own /readyz reports
 * that it has no worker).
 *
 * Used by worker.c. Threading: the worker's loop thread only.
 */
#ifndef WORKER_HTTP_H
#define WORKER_HTTP_H

#include <stddef.h>

#include "worker_state.h"

/* Starts the endpoint when config.http is set. TIX_ERR_IO with the reason
 * in why when it cannot listen. */
tix_err worker_http_open(worker_t *self, char *why, size_t why_size);
/* Stops it (NULL-safe). */
void worker_http_close(worker_t *self);

#endif
