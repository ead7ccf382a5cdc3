/*
 * broker_park.h - answers that found a client's send pipe full, held until
 * the client reads again.
 *
 * The frontend's send pipe to each client is bounded (BROKER_FRONTEND_SNDHWM
 * in broker.c), and libzmq learns of a pipe's reads only in batches of half
 * that mark: a client that reads, but has thousands of answers due at once
 * (a rush with its calls all in flight, answered at the sold-out edge), can
 * find the pipe full for a moment. Dropping those answers would leave an
 * honest client waiting for a deadline; so they wait here, per client, in
 * order, and go out as soon as the pipe takes them again (broker_step
 * retries every millisecond while anything is parked).
 *
 * What a client that never reads can make the broker hold stays bounded:
 * at most BROKER_PARK_PER_CLIENT answers per client and BROKER_PARK_MAX in
 * all; when the park is full, the oldest answer of the client holding most
 * gives way (counted as dropped). A client that left (EHOSTUNREACH) has its
 * answers dropped at once.
 *
 * Used by broker_reply.c only; single-threaded (the broker's loop).
 */
#ifndef BROKER_PARK_H
#define BROKER_PARK_H

#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "tix_codec.h"

#define BROKER_PARK_PER_CLIENT 20000 /* answers held for one client */
#define BROKER_PARK_MAX 50000        /* answers held in all (packed: a Health answer ~100 bytes) */
#define BROKER_PARK_RETRY_MS 1       /* how soon a loop with answers parked tries again */

typedef struct broker_park broker_park_t;

/* An empty park; never NULL (allocation failure aborts). */
broker_park_t *broker_park_new(void);
/* Frees the park and every answer still in it; NULL-safe, sets *p = NULL. */
void broker_park_destroy(broker_park_t **p);

/* Sends the answer frames[0..nframes) (frame 0: the client's routing id)
 * on the ROUTER sock, or parks a copy of it behind that client's earlier
 * answers when its pipe is full or it has answers parked already (answers
 * to one client keep their order). frames are borrowed: sending copies
 * nothing to the heap that libzmq does not (frames up to its inline size,
 * 33 bytes, are copied into the message itself). Returns 1 when the answer
 * went out, 0 when it was parked; *dropped counts answers given up (the
 * client left, or the park's bounds). */
int broker_park_send(broker_park_t *p, void *sock, const tix_frame_t *frames, size_t nframes, uint64_t *dropped);
/* Sends parked answers while their clients' pipes take them. Returns the
 * number sent; *dropped counts those whose client left. */
size_t broker_park_flush(broker_park_t *p, void *sock, uint64_t *dropped);
/* Answers parked now. */
size_t broker_park_size(const broker_park_t *p);

#endif
