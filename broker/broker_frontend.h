/*
 * broker_frontend.h - calls from clients (TIX1 over the frontend ROUTER):
 * the envelope and decoding, admission (the admin allow-list under CURVE,
 * per-client and per-user rates, the queue's bound, shared fairly between
 * clients), Health answered here, and every other method queued for the
 * workers (broker_dispatch.h) unless the sold-out edge answers it
 * (broker_soldout.h). Replies go out through broker_reply.h.
 *
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_FRONTEND_H
#define BROKER_FRONTEND_H

#include "broker_state.h"

/* Handles one call from the frontend ROUTER; takes *msg. */
void broker_frontend_recv(broker_t *self, zmsg_t **msg);

#endif
