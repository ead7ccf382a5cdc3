/*
 * tix.h - libtix, the C client library for tix (PROTOCOL.md).
 *
 * Backend services, the tix CLI, tix-rush and the tests call tix through
 * this library. One tix_client_t owns one ZeroMQ DEALER socket connected to
 * one or more brokers (ZeroMQ spreads calls over them). With several, a
 * broker that dies or stops answering (ZMTP heartbeats) leaves the
 * round-robin, and a call resent after silence goes to another broker.
 *
 * Two interfaces:
 *  - blocking: tix_client_call waits for the answer, retrying UNAVAILABLE and
 *    RESOURCE_EXHAUSTED (honouring retry_after_ms, with jitter) until its
 *    timeout; the request bytes - and so its request_id - are resent
 *    unchanged, so a retried Purchase is exact.
 *  - asynchronous: tix_client_send / tix_client_recv keep many calls in
 *    flight on the one socket; replies come back in any order, matched by
 *    call_id. No retries: the caller decides. A caller that must ride
 *    through a broker's loss forgets a call unanswered for
 *    TIX_RETRY_SILENCE_MS (tix_client_forget) and sends the same request
 *    again, as tix-rush does: the resend reaches a live broker.
 * Do not mix the two on one client while async calls are in flight.
 *
 * Threading: a client is used by one thread at a time (ZeroMQ sockets never
 * cross threads). Different clients may live in different threads.
 *
 * Errors: functions return an int, one of TIX_RC_*. TIX_RC_OK (0) means an
 * answer arrived, whatever its code; the protocol outcome is in tix_result_t,
 * its code one of TIX_STATUS_* (the gRPC codes of PROTOCOL.md).
 *
 * This header is the installed interface: it needs nothing but the C
 * standard library. Replies are protobuf-c messages of tix.proto (opaque
 * here: a caller that reads their fields compiles tix.proto with protoc-c).
 * The libtix library is built shared (libtix.so, only tix_ symbols
 * exported) and static; see clients/README.md.
 */
#ifndef TIX_H
#define TIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Return values of the functions below (the same numbers as libtix's
 * internal error codes; tix_priv.h checks that they agree). */
#define TIX_RC_OK 0          /* an answer arrived (see tix_result_t.code) */
#define TIX_RC_INVALID 1     /* bad argument, or request of the wrong type */
#define TIX_RC_TIMEOUT 3     /* no answer within the timeout */
#define TIX_RC_UNAVAILABLE 4 /* cannot send now, or every broker refused us */
#define TIX_RC_PROTOCOL 5    /* a malformed reply was received and dropped */
#define TIX_RC_IO 6          /* the socket refused the message */
#define TIX_RC_INTERRUPTED 8 /* SIGINT/SIGTERM arrived */

/* tix_result_t.code: the call's status (tix.proto's Code). */
#define TIX_STATUS_OK 0
#define TIX_STATUS_CANCELLED 1
#define TIX_STATUS_UNKNOWN 2
#define TIX_STATUS_INVALID_ARGUMENT 3
#define TIX_STATUS_DEADLINE_EXCEEDED 4
#define TIX_STATUS_NOT_FOUND 5
#define TIX_STATUS_ALREADY_EXISTS 6
#define TIX_STATUS_PERMISSION_DENIED 7
#define TIX_STATUS_RESOURCE_EXHAUSTED 8
#define TIX_STATUS_FAILED_PRECONDITION 9
#define TIX_STATUS_ABORTED 10
#define TIX_STATUS_OUT_OF_RANGE 11
#define TIX_STATUS_UNIMPLEMENTED 12
#define TIX_STATUS_INTERNAL 13
#define TIX_STATUS_UNAVAILABLE 14
#define TIX_STATUS_DATA_LOSS 15
#define TIX_STATUS_UNAUTHENTICATED 16

/* Methods for tix_client_call / tix_client_send (PROTOCOL.md). */
#define TIX_CALL_PURCHASE 0
#define TIX_CALL_GET_SALE 1
#define TIX_CALL_GET_ORDER 2
#define TIX_CALL_CREATE_SALE 3
#define TIX_CALL_HEALTH_CHECK 4
#define TIX_CALL_CLOSE_SALE 5
#define TIX_CALL_LIST_SALES 6
#define TIX_CALL_CANCEL_ORDER 7
#define TIX_CALL_LIST_ORDERS 8

#define TIX_RESULT_MESSAGE_BYTES 200 /* room for a reply's message */

#define TIX_DEFAULT_FRONTEND "tcp://127.0.0.1:5555"
#define TIX_DEFAULT_TIMEOUT_MS 5000
/* Blocking-call retry pacing (see tix_client_call). */
#define TIX_RETRY_SILENCE_MS 1000     /* first resend of a retry-safe call after this much silence; doubles */
#define TIX_RETRY_BACKOFF_MIN_MS 25   /* backoff when a retryable answer has no retry_after_ms; doubles */
#define TIX_RETRY_BACKOFF_MAX_MS 1000 /* ... up to this */
#define TIX_CLIENT_HWM 100000         /* calls the socket queues each way (ZMQ_SNDHWM/RCVHWM) */
/* ZMTP heartbeats on the client's connections: a broker silent this long
 * (hung, stopped, unreachable) loses its connection; libzmq redials it.
 * libzmq answers pings in its I/O thread, so a busy broker still answers.
 * The timeout (plus one interval) stays below TIX_RETRY_SILENCE_MS: by the
 * time a call to a silent broker is resent, that broker has left the
 * DEALER's round-robin, and the resend goes to another. */
#define TIX_CLIENT_HEARTBEAT_MS 200
#define TIX_CLIENT_HEARTBEAT_TIMEOUT_MS 600

typedef struct tix_client tix_client_t;

/* The answer to one call. */
typedef struct {
    uint64_t call_id;
    int code;                               /* call status: TIX_STATUS_* */
    char message[TIX_RESULT_MESSAGE_BYTES]; /* reason when code != OK */
    uint32_t retry_after_ms;
    void *reply;       /* owned; the method's reply (a ProtobufCMessage) when code == OK, else NULL */
    unsigned attempts; /* sends made (blocking calls) */
} tix_result_t;

/* Connects a new client to endpoints: a comma-separated list such as
 * "tcp://10.0.0.1:5555,tcp://10.0.0.2:5555"; NULL means $TIX_FRONTEND, or
 * TIX_DEFAULT_FRONTEND when that is unset; then, when TIX_CURVE_SECRET and
 * TIX_CURVE_SERVER_KEY are set, over CURVE with those certificate paths, as
 * tix_client_new_curve (one without the other is an error). Returns NULL (and logs the reason)
 * when an endpoint is malformed. The caller owns the client.
 * Connecting is asynchronous. With one endpoint, calls made before the
 * broker is up are queued and delivered when it comes up; with several,
 * calls go only to brokers connected at the time (ZMQ_IMMEDIATE). */
tix_client_t *tix_client_new(const char *endpoints);
/* As tix_client_new, over CURVE: secret_cert_path is this client's
 * certificate (NAME or NAME_secret as written by `tix keygen`; the secret
 * file must not be readable by group or others) and server_cert_path the
 * broker's public certificate. Both NULL (or empty): the same as
 * tix_client_new. Returns NULL (and logs the reason, never a secret key)
 * when only one is given or a key does not load. A client whose key the
 * broker does not list is refused at the handshake: its blocking calls end
 * at once with UNAUTHENTICATED (see tix_client_call); asynchronous calls get
 * no answer. A refusal stands for the client's life: after the key is
 * listed, make a new client. */
tix_client_t *tix_client_new_curve(const char *endpoints, const char *secret_cert_path, const char *server_cert_path);
/* Closes the socket (pending calls are dropped) and frees the client.
 * NULL-safe, idempotent, sets *self to NULL. */
void tix_client_destroy(tix_client_t **self);

/* Blocking call of method with request (borrowed) within timeout_ms
 * (0 = TIX_DEFAULT_TIMEOUT_MS). On TIX_RC_OK, result holds the final answer;
 * free it with tix_result_clear. TIX_RC_TIMEOUT when no answer came in time:
 * result->code is then DEADLINE_EXCEEDED, or UNAVAILABLE ("no broker
 * answered at ENDPOINTS: could not connect", ...) when no broker was
 * connected at the end. TIX_RC_UNAVAILABLE, at once, when every endpoint
 * refused the handshake: result->code UNAUTHENTICATED, and the message
 * says why ("the broker refused this key", or that it requires CURVE, or
 * does not use it). TIX_RC_INTERRUPTED when
 * SIGINT/SIGTERM arrived (see tix_stopping); TIX_RC_INVALID when request is
 * not of the method's input type. Calls of retry-safe methods are also
 * resent when a broker stays silent (e.g. it restarted).
 * result is filled on every return (code CANCELLED when interrupted,
 * INVALID_ARGUMENT when invalid), so tix_result_clear is always safe. When
 * the broker keeps answering UNAVAILABLE or RESOURCE_EXHAUSTED and its
 * retry_after_ms no longer fits before the deadline, that answer is returned
 * at once with TIX_RC_OK. A request packing to more than 64 KiB
 * is TIX_RC_INVALID (the broker's socket would drop the connection). */
int tix_client_call(tix_client_t *self, int method, const void *request, uint32_t timeout_ms, tix_result_t *result);

/* Asynchronous send: queues one call and returns at once with its call_id.
 * timeout_ms is sent as the call's deadline (0 = the server default).
 * TIX_RC_IO when the socket refuses the message. TIX_RC_UNAVAILABLE when
 * it cannot be queued right now (TIX_CLIENT_HWM calls already queued, or no
 * broker connected when there are several endpoints): receive replies, or
 * wait for ZMQ_POLLOUT on tix_client_socket, and send again. TIX_RC_INVALID
 * as for tix_client_call. */
int tix_client_send(tix_client_t *self, int method, const void *request, uint32_t timeout_ms, uint64_t *call_id);
/* Asynchronous receive: waits up to wait_ms (-1 = forever, 0 = poll) for one
 * reply and fills result (free with tix_result_clear). TIX_RC_TIMEOUT when
 * none came; TIX_RC_PROTOCOL when a malformed reply was received and dropped;
 * TIX_RC_INTERRUPTED on a signal.
 * A reply whose call_id is not in flight (forgotten, or a duplicate) is
 * dropped and the wait goes on. TIX_RC_PROTOCOL leaves result->call_id 0
 * when the reply could not be read at all; when only its body was bad it
 * names the call, which is then no longer in flight (result->code INTERNAL).
 * result is filled or zeroed on every return. */
int tix_client_recv(tix_client_t *self, int wait_ms, tix_result_t *result);
/* As tix_client_recv, but the reply's body is left packed for the caller
 * to read (a program on a hot path unpacks it with its own allocator, or
 * reads one field): result->reply stays NULL and, when result->code is
 * TIX_STATUS_OK, *body and *body_size view the method's reply as packed
 * protobuf (tix.proto); otherwise they are NULL and 0. The view stays valid
 * until the next receive on self (tix_client_recv, tix_client_recv_packed,
 * tix_client_call and its conveniences) or tix_client_destroy. A reply
 * costs no heap allocation here: its header is read on the stack and its
 * body stays in the frame libzmq received. Whether the body is well-formed
 * is the caller's to find out: TIX_RC_PROTOCOL only when the reply could
 * not be read at all (result->call_id 0). */
int tix_client_recv_packed(tix_client_t *self, int wait_ms, tix_result_t *result, const void **body, size_t *body_size);
/* The client's libzmq socket handle, for zmq_poll in the caller's loop. */
void *tix_client_socket(tix_client_t *self);
/* Abandons an async call (e.g. the caller's own deadline passed): a reply
 * that comes for it later is dropped. Returns true when it was in flight. */
bool tix_client_forget(tix_client_t *self, uint64_t call_id);
/* Async calls sent and neither received nor forgotten. */
size_t tix_client_in_flight(const tix_client_t *self);

/* Frees result->reply and clears the result. NULL-safe. */
void tix_result_clear(tix_result_t *result);

/* Blocking conveniences over tix_client_call; same contract. request_id may
 * be NULL (empty). */
int tix_purchase(tix_client_t *self, const char *sale_id, const char *user_id, const char *request_id,
                 uint32_t timeout_ms, tix_result_t *result);
int tix_get_sale(tix_client_t *self, const char *sale_id, uint32_t timeout_ms, tix_result_t *result);
int tix_get_order(tix_client_t *self, const char *sale_id, const char *user_id, uint32_t timeout_ms,
                  tix_result_t *result);
int tix_create_sale(tix_client_t *self, const char *sale_id, uint32_t total, int64_t opens_at_ms, int64_t closes_at_ms,
                    uint32_t timeout_ms, tix_result_t *result);
int tix_health_check(tix_client_t *self, const char *service, uint32_t timeout_ms, tix_result_t *result);

#endif
