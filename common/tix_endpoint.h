/*
 * tix_endpoint.h - the syntax of a ZeroMQ endpoint list, checked when a
 * binary starts, so that a flag such as --frontend bogus is refused in one
 * line naming the flag, before any socket exists.
 *
 * Pure parsing: no libzmq, no I/O. Thread-safe (no state). What it accepts,
 * item by item of a comma-separated list (blanks around items allowed):
 *   tcp://HOST:PORT    HOST a name, an IPv4 address or [IPv6]; PORT 1..65535
 *                      (binding: HOST may be * and PORT may be *)
 *   ipc://PATH         PATH not empty
 *   inproc://NAME      NAME not empty
 * A binding list may prefix an item with @ (bind) or > (connect) as czmq's
 * zsock_attach allows. Whether the address can be bound or reached is for
 * libzmq to say later.
 */
#ifndef TIX_ENDPOINT_H
#define TIX_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "tix_err.h"

#define TIX_ENDPOINT_MAX_BYTES 256 /* one item of a list, with its NUL */

/* TIX_OK, or TIX_ERR_CONFIG with one line in why: the item at fault and the
 * expected form, e.g. "'bogus' is not an endpoint (expected tcp://HOST:PORT,
 * ipc://PATH or inproc://NAME)". bind: the list is bound (see above). */
tix_err tix_endpoints_check(const char *list, bool bind, char *why, size_t why_size);

/* Walks a list: copies the item at *cursor, blanks trimmed, into item
 * (item_size bytes with the NUL) and moves *cursor past it and its comma.
 * False at the end of the list, or when the item is empty or does not fit
 * (a list that passed tix_endpoints_check has neither). Usage:
 *   const char *p = list; char e[256]; while (tix_endpoints_next(&p, e, sizeof e)) ... */
bool tix_endpoints_next(const char **cursor, char *item, size_t item_size);
/* Items in a list (commas + 1; 0 for NULL or ""). */
size_t tix_endpoints_count(const char *list);

#endif
