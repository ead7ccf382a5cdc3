/*
 * broker_events.h - the order-event feed: events from workers (XSUB) out to
 * subscribers (XPUB), and what subscribers may ask for (broker_events.c
 * says why it is bounded so).
 *
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_EVENTS_H
#define BROKER_EVENTS_H

#include "broker_state.h"

/* The longest subscription the event feed's XPUB takes (ZMQ_MAXMSGSIZE):
 * the subscribe byte, `order.` and a sale id, with room for the SUBSCRIBE
 * command form of newer peers. */
#define BROKER_EVENTS_SUB_MAX_BYTES 128
#define BROKER_EVENTS_SUBS_MAX 64 /* subscriptions one subscriber connection may hold */

/* After binding: the table of subscribers, and `order.` asked of workers. */
void broker_events_init(broker_t *self);
/* Frees the table of subscribers. NULL-safe (self->subscribers), idempotent. */
void broker_events_destroy(broker_t *self);
/* Passes one event from a worker on to the subscribers that want it. */
void broker_events_from_workers(broker_t *self);
/* Applies, refuses or cuts off one (un)subscription from a subscriber. */
void broker_events_from_subscribers(broker_t *self);

#endif
