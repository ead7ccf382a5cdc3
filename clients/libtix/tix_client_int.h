/*
 * tix_client_int.h - libtix internals shared by its source files.
 *
 * Not installed, not for callers. Layers, top down (each calls only the
 * ones below it): tix_call.c, the blocking call with its retries;
 * tix_client.c, the lifecycle, results and the asynchronous interface;
 * tix_client_wire.c, one call out and one reply in; tix_client_watch.c,
 * what became of each connection (the socket monitor).
 * Threading: as tix.h (one thread per client).
 */
#ifndef TIX_CLIENT_INT_H
#define TIX_CLIENT_INT_H

#include <zmq.h>

#include "tix_priv.h"
#include "tix_callmap.h"

#define TIX_REPLY_PARTS 4      /* [empty][TIX1][ReplyHeader][body] */
#define TIX_UNTIL_FOREVER (-1) /* an until_ms that never comes */
#define TIX_UNTIL_NOW 0        /* an until_ms already past: do not wait */
/* A reply's header is unpacked into this much of the reader's stack: a
 * ReplyHeader with its longest message fits (a bigger one spills to the
 * heap, see tix_arena.h). */
#define TIX_REPLY_ARENA_BYTES 512

#define TIX_WATCH_PEERS 16           /* connections whose fate is remembered */
#define TIX_WATCH_ENDPOINT_BYTES 128 /* an endpoint as monitor events name it */
#define TIX_WATCH_DROPS_FINAL 3      /* handshakes hung up in a row that count as a refusal */

/* What became of one connection (tix_client_watch.c). */
typedef enum {
    TIX_PEER_CONNECTING = 1, /* TCP up, handshake under way */
    TIX_PEER_LIVE,           /* handshake succeeded */
    TIX_PEER_GONE,           /* was up, disconnected (libzmq reconnects) */
    TIX_PEER_REFUSED,        /* ZAP denied our key: value is its status (400); final */
    TIX_PEER_MISMATCH,       /* another security mechanism: value is the protocol error; final */
    TIX_PEER_FAILED,         /* the peer dropped the handshake: value is errno (libzmq retries) */
} tix_peer_state;

typedef struct {
    char endpoint[TIX_WATCH_ENDPOINT_BYTES];
    tix_peer_state state;
    uint32_t value;
    unsigned drops; /* handshakes the peer hung up on since the last success */
} tix_peer_t;

typedef struct {
    void *mon; /* PAIR receiving the DEALER's monitor events; NULL: not watched */
    tix_peer_t peers[TIX_WATCH_PEERS];
    size_t npeers;
    size_t next_evict; /* when all slots are taken */
    int nendpoints;    /* connected to */
    bool curve;        /* this client uses CURVE (for the wording) */
} tix_watch_t;

struct tix_client {
    void *ctx;              /* own libzmq context: no process-wide state to share */
    void *sock;             /* the DEALER, connected to every endpoint */
    uint64_t next_call_id;  /* monotonic; 0 is never handed out */
    tix_callmap_t *pending; /* async calls in flight: call_id -> method */
    char *endpoints;        /* as connected, for messages */
    tix_watch_t watch;
    bool in_call;   /* inside tix_client_call: a refused handshake ends its waits */
    zmq_msg_t held; /* the last tix_client_recv_packed body, viewed by its caller */
    bool holding;   /* held is initialised (to close) */
};

/* One reply read off the socket; lives on the reader's stack, and is not
 * copied (arena points into it). */
typedef struct {
    zmq_msg_t parts[TIX_REPLY_PARTS]; /* the frames, kept so body can view them */
    size_t nparts;                    /* parts[] initialised (to close) */
    Tix__V1__ReplyHeader *header;     /* owned, decoded from parts[2] into arena */
    tix_frame_t body;                 /* views parts[3] */
    tix_arena_t arena;                /* header's memory: no heap per reply */
    _Alignas(16) uint8_t arena_buf[TIX_REPLY_ARENA_BYTES];
} tix_client_reply_t;

/* ---- tix_client.c ---- */

/* The next call_id (never 0). */
uint64_t tix_client_next_id(tix_client_t *self);

/* Fills result from a reply of method: status fields always, and when the
 * code is OK the body unpacked as the method's output (owned by result).
 * TIX_ERR_PROTOCOL when that body does not unpack (result->code is then
 * INTERNAL and result->reply NULL). */
tix_err tix_client_result_fill(tix_result_t *result, const tix_method_t *method, const tix_client_reply_t *reply);
/* Fills result's status fields (call_id, code, message, retry_after_ms) from
 * a reply's header; result->reply is set to NULL. */
void tix_client_result_status(tix_result_t *result, const Tix__V1__ReplyHeader *header);

/* The method a caller's TIX_CALL_* names; NULL when it names none. */
const tix_method_t *tix_client_method(int method);
/* TIX_OK when request can be sent as a call of method: it is of the method's
 * input type and its packed size fits the broker's ZMQ_MAXMSGSIZE (a larger
 * frame would make the broker drop our connection, and every call on it).
 * Otherwise (or when method is NULL) TIX_ERR_INVALID with the reason in
 * result. */
tix_err tix_client_check_request(const tix_method_t *method, const ProtobufCMessage *request, tix_result_t *result,
                                 size_t *packed_size);

/* ---- tix_client_wire.c ---- */

/* Sends one call of method, [empty][TIX1][CallHeader][body], the body
 * already packed (borrowed: a retry resends the very same bytes). The
 * frames go out from the caller's and this function's stack (no heap
 * allocation here; libzmq copies a frame over 33 bytes into its own). When
 * the socket cannot take it now (no broker connected under ZMQ_IMMEDIATE,
 * or the high-water mark) waits for room until until_ms (monotonic;
 * TIX_UNTIL_NOW: not at all). TIX_ERR_UNAVAILABLE when there was no room by
 * then with TIX_UNTIL_NOW, TIX_ERR_TIMEOUT with a real until_ms;
 * TIX_ERR_INTERRUPTED; TIX_ERR_IO. */
tix_err tix_client_wire_send(tix_client_t *self, const tix_method_t *method, uint64_t call_id, uint32_t timeout_ms,
                             const void *body, size_t body_size, int64_t until_ms);

/* Reads one well-formed reply into *reply, waiting until until_ms
 * (monotonic, or TIX_UNTIL_FOREVER). TIX_ERR_TIMEOUT when none came;
 * TIX_ERR_PROTOCOL when a malformed message was read and dropped (*reply is
 * then empty); TIX_ERR_INTERRUPTED; TIX_ERR_IO. On TIX_OK release *reply with
 * tix_client_wire_reply_release. */
tix_err tix_client_wire_read(tix_client_t *self, int64_t until_ms, tix_client_reply_t *reply);
void tix_client_wire_reply_release(tix_client_reply_t *reply);
/* Moves reply's body frame into self, where it stays until the next read
 * or the client's end, and returns a view of it there: the caller may use
 * the view after releasing the reply. */
tix_frame_t tix_client_wire_hold_body(tix_client_t *self, tix_client_reply_t *reply);
/* Closes the frame held for the last tix_client_wire_hold_body, if any. */
void tix_client_wire_drop_held(tix_client_t *self);

/* ---- tix_client_watch.c ---- */

/* Starts watching self's DEALER (before it connects). false when libzmq
 * refuses the monitor. */
bool tix_client_watch_start(tix_client_t *self, int nendpoints, bool curve);
/* Closes the monitor's socket (before the DEALER and the context go). */
void tix_client_watch_stop(tix_client_t *self);
/* The monitor socket's handle, for zmq_poll (NULL when not watched). */
void *tix_client_watch_handle(tix_client_t *self);
/* Reads the queued events into the connection table. */
void tix_client_watch_drain(tix_client_t *self);
/* True when no call can ever be answered: every endpoint refused our key
 * or our mechanism, and none is connected. Drains first. */
bool tix_client_watch_refused(tix_client_t *self);
/* When no broker is connected, says why in result (code UNAUTHENTICATED
 * when one refused us, UNAVAILABLE otherwise, with the endpoints) and
 * returns true; false (result untouched) when one is. Drains first. */
bool tix_client_watch_explain(tix_client_t *self, tix_result_t *result);

#endif
