/*
 * tix_codec.h - TIX1 frames <-> protobuf messages; the one header of proto/.
 *
 * The one module that knows the wire layout of PROTOCOL.md and of the
 * internal broker<->worker protocol (docs/WORKER-PROTOCOL.md). Used by the
 * broker, the workers, libtix and the fuzz harnesses. Knows no service.
 *
 * Frames are passed as tix_frame_t views so that decoders take bytes from
 * anywhere (czmq messages, raw zmq_msg_t, a fuzzer) and never copy them.
 * It includes the layers below it, which callers reach through it: the
 * method table and field rules (tix_methods.h), the wire-byte NUL check
 * (tix_wire.h) and the unpacking arena (tix_arena.h).
 *
 * Ownership: decoders return protobuf-c messages owned by the caller, freed
 * with protobuf_c_message_free_unpacked (or tix_call_clear for a tix_call_t).
 * Encoders append new frames to a caller-owned zmsg_t.
 * Thread-safe: no mutable state.
 */
#ifndef TIX_CODEC_H
#define TIX_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "tix.pb-c.h"
#include "tix_arena.h"
#include "tix_err.h"
#include "tix_methods.h"
#include "tix_wire.h"
#include "tix_worker.pb-c.h"

#define TIX_SIGNATURE "TIX1"        /* frame 1 of every call and reply */
#define TIX_WORKER_SIGNATURE "TXW1" /* frame 0 of every backend message */
#define TIX_MAX_MESSAGE_BYTES 65536 /* default socket ZMQ_MAXMSGSIZE */
#define TIX_METADATA_MAX_PAIRS 16
#define TIX_METADATA_MAX_BYTES 4096
#define TIX_MESSAGE_MAX_BYTES 200 /* room for a ReplyHeader.message */

typedef Tix__V1__Code tix_code;

/* A borrowed view of one frame. */
typedef struct {
    const uint8_t *data;
    size_t size;
} tix_frame_t;

/* ---- Calls (client -> broker -> worker) --------------------------------- */

/* Unpacks a request body of method and checks it: no string holds a NUL
 * byte, then the method's field rules. TIX__V1__CODE__OK with *request owned
 * by the caller, or INVALID_ARGUMENT with *request NULL and "field: reason"
 * in why. The broker (tix_call_decode) and the workers both decode with it. */
tix_code tix_request_decode(const tix_method_t *method, const uint8_t *body, size_t size, ProtobufCMessage **request,
                            char *why, size_t why_size);
/* The same, *request unpacked with alloc (NULL: the heap); free it with
 * protobuf_c_message_free_unpacked(*request, alloc). */
tix_code tix_request_decode_with(const tix_method_t *method, const uint8_t *body, size_t size,
                                 ProtobufCMessage **request, char *why, size_t why_size, ProtobufCAllocator *alloc);

/* A decoded call. When code != OK the call is to be answered with code and
 * message (call_id is 0 if the header could not be read) and request is NULL. */
typedef struct {
    uint64_t call_id;
    uint32_t timeout_ms;
    const tix_method_t *method; /* NULL unless the method was found */
    ProtobufCMessage *request;  /* owned; NULL unless code == OK */
    ProtobufCAllocator *alloc;  /* what request was unpacked with; NULL: the heap */
    tix_frame_t body;           /* borrowed view of the body frame */
    tix_code code;
    char message[TIX_MESSAGE_MAX_BYTES];
} tix_call_t;

/* Decodes frames [TIX1][CallHeader][body] (the envelope already stripped)
 * into call, validating signature, frame count, header, metadata limits,
 * method and body fields. Never fails to fill call: errors are in call->code.
 * Release with tix_call_clear. */
void tix_call_decode(const tix_frame_t *frames, size_t nframes, tix_call_t *call);
/* tix_call_decode with the header and request unpacked with alloc (e.g. a
 * tix_arena_t's, so that a call costs no heap allocation); NULL: the heap.
 * The request lives until tix_call_clear and as long as alloc's memory. */
void tix_call_decode_with(const tix_frame_t *frames, size_t nframes, tix_call_t *call, ProtobufCAllocator *alloc);
void tix_call_clear(tix_call_t *call);

/* Appends [TIX1][CallHeader][body] to msg. body may be NULL (empty frame). */
void tix_call_append(zmsg_t *msg, const char *method, uint64_t call_id, uint32_t timeout_ms,
                     const ProtobufCMessage *body);

/* Same, with the body already packed (NULL/0: an empty frame), so that a
 * client resends the very same bytes when it retries. */
void tix_call_append_packed(zmsg_t *msg, const char *method, uint64_t call_id, uint32_t timeout_ms, const void *body,
                            size_t body_size);

/* ---- Replies ----------------------------------------------------------- */

typedef struct {
    uint64_t call_id;
    tix_code code;
    const char *message; /* borrowed; NULL = empty */
    uint32_t retry_after_ms;
} tix_status_t;

#define TIX_REPLY_HEADER_MAX_BYTES 256 /* a packed ReplyHeader: TIX_MESSAGE_MAX_BYTES and three varints */

/* Packs the ReplyHeader of status into buf (the message cut as
 * tix_reply_append cuts it); returns its size. No allocation. */
size_t tix_reply_header_pack(const tix_status_t *status, uint8_t buf[TIX_REPLY_HEADER_MAX_BYTES]);
/* Appends [TIX1][ReplyHeader][body] to msg. body/body_size may be NULL/0. */
void tix_reply_append(zmsg_t *msg, const tix_status_t *status, const void *body, size_t body_size);
/* Same, packing body from a message (NULL for an empty frame). */
void tix_reply_append_msg(zmsg_t *msg, const tix_status_t *status, const ProtobufCMessage *body);

/* Decodes reply frames [TIX1][ReplyHeader][body]. On TIX_OK *header is owned
 * by the caller and *body views frames[2]. TIX_ERR_PROTOCOL otherwise. */
tix_err tix_reply_decode(const tix_frame_t *frames, size_t nframes, Tix__V1__ReplyHeader **header, tix_frame_t *body);
/* tix_reply_decode with the header unpacked with alloc (e.g. a tix_arena_t's,
 * so that reading a reply costs no heap allocation); NULL: the heap. Free
 * *header with tix__v1__reply_header__free_unpacked(*header, alloc). */
tix_err tix_reply_decode_with(const tix_frame_t *frames, size_t nframes, Tix__V1__ReplyHeader **header,
                              tix_frame_t *body, ProtobufCAllocator *alloc);

/* ---- Worker protocol (broker <-> tix-worker) ----------------------------- */

typedef enum {
    TIX_WP_READY,        /* Tix__Worker__V1__Ready */
    TIX_WP_HEARTBEAT,    /* Tix__Worker__V1__Heartbeat */
    TIX_WP_JOB,          /* Tix__Worker__V1__Job */
    TIX_WP_REPLY,        /* Tix__Worker__V1__JobReply */
    TIX_WP_DISCONNECT,   /* no body */
    TIX_WP_SALE_CHANGED, /* Tix__Worker__V1__SaleChanged (worker -> broker) */
    TIX_WP_COUNT
} tix_wp_command;

/* Decodes [TXW1][command][body] (routing id stripped). On TIX_OK *body is
 * owned by the caller (NULL for DISCONNECT). TIX_ERR_PROTOCOL otherwise,
 * also when a string in the body holds a NUL byte (tix_wire_has_nul). */
tix_err tix_wp_decode(const tix_frame_t *frames, size_t nframes, tix_wp_command *command, ProtobufCMessage **body);
/* The same, *body unpacked with alloc (NULL: the heap); free it with
 * protobuf_c_message_free_unpacked(*body, alloc). */
tix_err tix_wp_decode_in(const tix_frame_t *frames, size_t nframes, tix_wp_command *command, ProtobufCMessage **body,
                         ProtobufCAllocator *alloc);
/* Appends [TXW1][command][body] to msg; body NULL for DISCONNECT. */
void tix_wp_append(zmsg_t *msg, tix_wp_command command, const ProtobufCMessage *body);
const char *tix_wp_command_name(tix_wp_command command);

/* ---- Helpers ----------------------------------------------------------- */

/* Fills views[0..max) from the frames of msg starting at frame `first`;
 * returns the number of frames from `first` on (which may exceed max). */
size_t tix_frames_view(zmsg_t *msg, size_t first, tix_frame_t *views, size_t max);
/* Packs m into a new frame (caller owns it). */
zframe_t *tix_frame_pack(const ProtobufCMessage *m);
/* gRPC name of a code, e.g. "RESOURCE_EXHAUSTED". */
const char *tix_code_name(tix_code code);

#endif
