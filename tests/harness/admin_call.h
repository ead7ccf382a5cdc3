/*
 * admin_call.h - one call of any method through a broker, on a raw DEALER
 * (the wire as PROTOCOL.md describes it), for the tests of methods that
 * libtix does not wrap: CloseSale, CancelOrder, ListSales, ListOrders.
 * Single-threaded; each call opens and closes its own socket.
 */
#ifndef TIX_HARNESS_ADMIN_CALL_H
#define TIX_HARNESS_ADMIN_CALL_H

#include <stdbool.h>

#include "tix_codec.h"
#include "tix_methods.h"

/* Calls method with request through the broker at frontend and waits up
 * to timeout_ms. On true, *code is the answer's code and *reply (owned:
 * protobuf_c_message_free_unpacked) the reply when code is OK, else NULL.
 * False when no answer came or it could not be read. */
bool th_admin_call(const char *frontend, tix_method_id method, const ProtobufCMessage *request, int timeout_ms,
                   tix_code *code, ProtobufCMessage **reply);

#endif
