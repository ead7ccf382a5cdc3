/*
 * persister_http.h - the persister's HTTP endpoint (--http, tix_http.h):
 * its /metrics text and its /readyz answer. Ready: the sink answers (no
 * backoff under way) and the order logs' Redis answered the last catch-up
 * pass.
 *
 * tix_persist_lag_orders is what the persister knows exists in the order
 * logs and is not yet durable in the sink: the orders it holds (read from
 * the logs, or taken from events, not yet confirmed by the sink) plus the
 * event claims of orders not yet read from the logs. An order no event
 * announced is counted once the next catch-up pass reads it (catchup_ms).
 *
 * Used by persister.c. Threading: the persister's loop thread only.
 */
#ifndef PERSISTER_HTTP_H
#define PERSISTER_HTTP_H

#include <stddef.h>

#include "persister_state.h"

/* Starts the endpoint when config.http is set. TIX_ERR_IO with the reason
 * in why when it cannot listen. */
tix_err persister_http_open(persister_t *self, char *why, size_t why_size);
/* Stops it (NULL-safe). */
void persister_http_close(persister_t *self);
/* The lag as defined above. */
uint64_t persister_http_lag(const persister_t *self);

#endif
