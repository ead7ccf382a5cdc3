/*
 * rush_flight.h - the users in progress: slots, calls out, retry timers.
 *
 * A rush has at most --in-flight users in progress at once; each holds one
 * slot from the moment it starts to its final answer, across retries. The
 * engine (rush_run) finds a slot three ways, each O(1) or O(log n) and
 * allocation-free after rush_flight_new (memory is fixed by the capacity):
 *  - by (connection, call_id) when a reply comes: an open-addressing map
 *    (linear probing, backward-shift deletion);
 *  - by due time when it waits to retry: a binary min-heap;
 *  - in FIFO order when it is ready to send: a ring.
 *
 * Threading: none; owned by the rush's one thread.
 * Errors: none; misuse (a full ring, an unknown slot) is an assert.
 */
#ifndef RUSH_FLIGHT_H
#define RUSH_FLIGHT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RUSH_SLOT_FREE,    /* not in use */
    RUSH_SLOT_READY,   /* in the ready ring, to be sent */
    RUSH_SLOT_SENT,    /* a call is out (bound in the map) */
    RUSH_SLOT_WAITING, /* in the retry heap until due_us */
} rush_slot_state;

typedef struct {
    uint64_t call_id;  /* the call out (SENT), else 0 */
    int64_t t0_us;     /* the user's start: first send, or scheduled arrival (open loop) */
    int64_t due_us;    /* WAITING: when to send again; SENT: when silence means resend */
    uint32_t user;     /* the user's index */
    uint16_t attempts; /* calls sent for this user */
    uint8_t conn;      /* connection of the call out */
    uint8_t state;     /* rush_slot_state */
} rush_slot_t;

typedef struct rush_flight rush_flight_t;

/* A table of capacity slots (>= 1). The caller owns it. Never NULL. */
rush_flight_t *rush_flight_new(uint32_t capacity);
/* NULL-safe, idempotent, sets *self to NULL. */
void rush_flight_destroy(rush_flight_t **self);

uint32_t rush_flight_capacity(const rush_flight_t *self);
/* Slots in use (any state but FREE). */
uint32_t rush_flight_used(const rush_flight_t *self);
/* The slot at index i (< capacity), for reading and changing its fields. */
rush_slot_t *rush_flight_slot(rush_flight_t *self, uint32_t i);

/* Takes a free slot for user starting at t0_us and puts it at the back of
 * the ready ring. Returns false when every slot is in use. */
bool rush_flight_start(rush_flight_t *self, uint32_t user, int64_t t0_us);
/* Frees slot i (the user is done). It must not be in the map, heap or ring
 * (SENT slots: take or unbind first). */
void rush_flight_finish(rush_flight_t *self, uint32_t i);

/* The slot at the front of the ready ring, without removing it; -1 if none. */
int64_t rush_flight_ready_peek(const rush_flight_t *self);
/* Records that the front slot was sent as call_id on conn: removes it from
 * the ring and binds it in the map (state SENT). */
void rush_flight_sent(rush_flight_t *self, uint8_t conn, uint64_t call_id);
/* Removes the front slot from the ring without sending it (it is done). */
uint32_t rush_flight_ready_pop(rush_flight_t *self);

/* Finds and unbinds the slot of call_id on conn; -1 when none (state is
 * left SENT: the caller decides what comes next). */
int64_t rush_flight_take(rush_flight_t *self, uint8_t conn, uint64_t call_id);
/* Puts slot i (just taken) in the retry heap until due_us (state WAITING). */
void rush_flight_defer(rush_flight_t *self, uint32_t i, int64_t due_us);
/* Moves every WAITING slot due at now_us to the back of the ready ring;
 * returns how many moved. */
uint32_t rush_flight_promote(rush_flight_t *self, int64_t now_us);
/* The earliest due_us in the retry heap, or INT64_MAX. */
int64_t rush_flight_next_due(const rush_flight_t *self);

#endif
