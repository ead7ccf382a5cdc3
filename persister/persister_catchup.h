/*
 * persister_catchup.h - the persister's middle layer: reading the order
 * logs after each sale's cursor, checking event claims against them, and
 * keeping the catch-up set to the sales that can still sell. persister.c
 * (the loop) calls it; it writes what it reads and stores cursors through
 * persister_flush.h, the layer below.
 *
 * Every function takes the loop's state (persister_state.h) and must be
 * called from the thread that owns it.
 */
#ifndef PERSISTER_CATCHUP_H
#define PERSISTER_CATCHUP_H

#include "persister_sales.h"
#include "persister_state.h"

/* Marks the sale as having news in its log, for the next hints read. */
void persister_catchup_hint(persister_t *self, persister_sale_t *sale);
/* Reads the logs of the live sales marked by hints, and looks for new
 * sales when an event named an unknown one (bounded: it asks to be called
 * again when there is more); the cursors are stored by the pass. */
void persister_catchup_hints(persister_t *self);
/* One catch-up pass over every live sale (bounded: it asks to be called again
 * at once when there is more to read), then stores moved cursors, retires
 * sales that can sell no more and sweeps a slice of the retired ones. */
void persister_catchup_pass(persister_t *self);

#endif
