/*
 * tix_client_int.h - libtix internals shared by its source files.
 *
 * Not installed, not for callers. tix_client.c owns the socket, the wire
 * (sending a call, reading one reply) and the asynchronous interface;
 * tix_call.c builds the blocking call with its retries on top of the wire
 * functions declared here. Threading: as tix.h (one thread per client).
 */
#ifndef TIX_CLIENT_INT_H
#define TIX_CLIENT_INT_H

#include <zmq.h>

#include "tix.h"
#include "tix_callmap.h"

#define TIX_REPLY_PARTS 4      /* [empty][TIX1][ReplyHeader][body] */
#define TIX_UNTIL_FOREVER (-1) /* an until_ms that never comes */
#define TIX_UNTIL_NOW 0        /* an until_ms already past: do not wait */

struct tix_client {
    void *ctx;              /* own libzmq context: no process-wide state to share */
    void *sock;             /* the DEALER, connected to every endpoint */
    uint64_t next_call_id;  /* monotonic; 0 is never handed out */
    tix_callmap_t *pending; /* async calls in flight: call_id -> method */
};

/* One reply read off the socket; lives on the reader's stack. */
typedef struct {
    zmq_msg_t parts[TIX_REPLY_PARTS]; /* the frames, kept so body can view them */
    size_t nparts;                    /* parts[] initialised (to close) */
    Tix__V1__ReplyHeader *header;     /* owned, decoded from parts[2] */
    tix_frame_t body;                 /* views parts[3] */
} tix_client_reply_t;

/* The next call_id (never 0). */
uint64_t tix_client_next_id(tix_client_t *self);

/* A new message [empty][TIX1][CallHeader][body] for one call of method.
 * The body is packed from request, or, when packed is not NULL, is a copy of
 * that already-packed frame (so a retry resends the very same bytes). The
 * caller owns the message. */
zmsg_t *tix_client_call_msg(const tix_method_t *method, uint64_t call_id, uint32_t timeout_ms,
                            const ProtobufCMessage *request, zframe_t *packed);

/* Sends msg (borrowed; not consumed). When the socket cannot take it now
 * (no broker connected under ZMQ_IMMEDIATE, or the high-water mark) waits for
 * room until until_ms (monotonic; TIX_UNTIL_NOW: not at all).
 * TIX_ERR_UNAVAILABLE when there was no room by then with TIX_UNTIL_NOW,
 * TIX_ERR_TIMEOUT with a real until_ms; TIX_ERR_INTERRUPTED; TIX_ERR_IO. */
tix_err tix_client_send_msg(tix_client_t *self, zmsg_t *msg, int64_t until_ms);

/* Reads one well-formed reply into *reply, waiting until until_ms
 * (monotonic, or TIX_UNTIL_FOREVER). TIX_ERR_TIMEOUT when none came;
 * TIX_ERR_PROTOCOL when a malformed message was read and dropped (*reply is
 * then empty); TIX_ERR_INTERRUPTED; TIX_ERR_IO. On TIX_OK release *reply with
 * tix_client_reply_release. */
tix_err tix_client_read(tix_client_t *self, int64_t until_ms, tix_client_reply_t *reply);
void tix_client_reply_release(tix_client_reply_t *reply);

/* Fills result from a reply of method: status fields always, and when the
 * code is OK the body unpacked as the method's output (owned by result).
 * TIX_ERR_PROTOCOL when that body does not unpack (result->code is then
 * INTERNAL and result->reply NULL). */
tix_err tix_client_result_fill(tix_result_t *result, const tix_method_t *method, const tix_client_reply_t *reply);

/* TIX_OK when request can be sent as a call of method: it is of the method's
 * input type and its packed size fits the broker's ZMQ_MAXMSGSIZE (a larger
 * frame would make the broker drop our connection, and every call on it).
 * Otherwise TIX_ERR_INVALID with the reason in result. */
tix_err tix_client_check_request(const tix_method_t *method, const ProtobufCMessage *request, tix_result_t *result);

#endif
