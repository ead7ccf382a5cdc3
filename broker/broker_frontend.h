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

/* Receives and handles up to max calls waiting on the frontend ROUTER;
 * returns how many. Each call's frames are received into zmq_msg_t the
 * broker reuses, and its header and request unpacked in the broker's arena:
 * a call answered at the sold-out edge costs no heap allocation. */
size_t broker_frontend_drain(broker_t *self, size_t max);
/* Handles one call already received as a czmq message (frame 0 the
 * routing id), as broker_frontend_drain would; takes *msg. For harnesses
 * that feed the broker messages (tests/fuzz). */
void broker_frontend_recv(broker_t *self, zmsg_t **msg);

#endif
