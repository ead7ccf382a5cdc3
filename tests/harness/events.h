/*
 * events.h - order events seen by a test's SUB socket, and made up by a
 * test on its own PUB/XPUB (events_publish).
 *
 * A SUB's subscription reaches the publisher some time after connect
 * (PUB/SUB joins are asynchronous), and a PUB drops what nobody has
 * subscribed to yet. events_join waits for the join as a condition instead
 * of sleeping: it buys probe tickets until one's event comes back.
 */
#ifndef TIX_EVENTS_H
#define TIX_EVENTS_H

#include <stdbool.h>

#include <czmq.h>

#include "tix.pb-c.h"

/* The probe sale's topic; a caller counting events skips it. */
#define EVENTS_PROBE_SALE "events-probe"
#define EVENTS_PROBE_TOPIC "order." EVENTS_PROBE_SALE

/* Subscribes sub to EVENTS_PROBE_TOPIC and, through the broker at frontend,
 * creates the probe sale (once per stack) and buys from it until an event
 * on that topic arrives, up to timeout_ms. Then sub's own subscriptions,
 * made before the call, are in force at the publisher too (a SUB sends its
 * subscriptions in order). Returns false on timeout. Call it before
 * anything the caller wants to see is published: other messages received
 * meanwhile are dropped. Probe events may still arrive after the return. */
bool events_join(zsock_t *sub, const char *frontend, int timeout_ms);

/* Sends an OrderEvent of order (topic "order.<sale_id>") naming log_id and
 * worker_id on pub, as a sale worker publishes one. False when the send
 * fails. */
bool events_publish(zsock_t *pub, const Tix__V1__Order *order, const char *log_id, const char *worker_id);

#endif
