/*
 * broker_backend.h - messages from sale workers (docs/WORKER-PROTOCOL.md):
 * READY, HEARTBEAT, REPLY and DISCONNECT, each by its handler; and the
 * heartbeats the broker owes its workers. A reply goes out through
 * broker_reply.h after the sold-out edge has seen it (broker_soldout.h).
 *
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_BACKEND_H
#define BROKER_BACKEND_H

#include "broker_state.h"

/* Handles up to max messages waiting on the backend ROUTER, read into
 * self->backend_msgs (reused: no heap allocation per message); returns how
 * many it handled. */
size_t broker_backend_drain(broker_t *self, size_t max);
/* Handles one message from the backend ROUTER given as a zmsg (the
 * fuzzer's way in); takes *msg. */
void broker_backend_recv(broker_t *self, zmsg_t **msg);
/* Heartbeats workers that are due and buries those that went silent. */
void broker_backend_tick(broker_t *self, int64_t now_ms);

#endif
