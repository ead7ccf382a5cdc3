/*
 * broker_http.h - the broker's HTTP endpoint (--http, tix_http.h): its
 * /metrics text and its /readyz answer. Ready: not draining, and at least
 * one sale worker connected whose Redis works (as Health's SERVING).
 *
 * Used by broker.c (open, close) and main.c. The endpoint runs in the
 * broker's loop (broker_step polls it). Threading: the loop thread only.
 */
#ifndef BROKER_HTTP_H
#define BROKER_HTTP_H

#include <stddef.h>

#include "broker_state.h"

/* Starts the endpoint when config.http is set. TIX_ERR_IO with the reason
 * in why when it cannot listen. */
tix_err broker_http_open(broker_t *self, char *why, size_t why_size);
/* Stops it (NULL-safe). */
void broker_http_close(broker_t *self);

#endif
