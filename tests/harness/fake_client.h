/*
 * fake_client.h - a scripted fake broker for the libtix and CLI tests: what
 * a client talks to.
 *
 * A ROUTER bound on tcp://127.0.0.1:* that records every call it receives
 * (frames as seen on the wire, decoded with the codec) and answers it as a
 * per-test script says: at once, never, after N retryable answers, with junk
 * first, and so on. Either run it in a zactor (fake_client_new: for blocking calls,
 * which need someone else to answer) or drive a bare ROUTER from the test
 * thread (fake_client_router_new / fake_client_router_recv: for the async interface, which
 * interleaves deterministically).
 *
 * Threading: the script runs in the actor; the call record is
 * shared under a mutex.
 */
#ifndef TIX_FAKE_CLIENT_H
#define TIX_FAKE_CLIENT_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <czmq.h>

#include "tix_priv.h"
#include "tix_util.h"

#define FAKE_CLIENT_MAX_CALLS 512
#define FAKE_CLIENT_BODY_MAX 1024
#define FAKE_CLIENT_ANSWER_AT_MS 1795946400123LL /* 2026-11-29T10:00:00.123Z */

/* One call as the broker saw it. */
typedef struct {
    size_t nframes;       /* frames after the routing id */
    bool delimiter_empty; /* the first of them is the empty delimiter */
    char signature[8];    /* the next one, as text */
    tix_code code;        /* tix_call_decode's verdict */
    char method[64];      /* full method name, when known */
    uint64_t call_id;
    uint32_t timeout_ms;
    uint8_t body[FAKE_CLIENT_BODY_MAX];
    size_t body_size;
    int64_t at_ms; /* tix_now_ms() when it arrived */
} fake_client_call_t;

typedef struct fake_client fake_client_t;
/* Answers (or not) the index-th call received; runs in the actor thread. */
typedef void(fake_client_script_fn)(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                                    size_t index);

struct fake_client {
    zactor_t *actor;
    char endpoint[128]; /* where the ROUTER is bound */
    fake_client_script_fn *script;
    tix_code retry_code;     /* fake_client_script_retry: answer this code ... */
    uint32_t retry_after_ms; /* ... with this retry_after_ms ... */
    size_t retries;          /* ... to the first `retries` calls (SIZE_MAX: all) */
    bool answer_second;      /* fake_client_script_hold_first: also answer the second call */
    fake_client_call_t held; /* a call kept unanswered (actor thread only) */
    zframe_t *held_rid;
    pthread_mutex_t lock; /* guards calls and ncalls */
    fake_client_call_t calls[FAKE_CLIENT_MAX_CALLS];
    size_t ncalls;
};

/* Records the frames after the routing id. */
void fake_client_record(zmsg_t *msg, fake_client_call_t *call);

/* Sends [rid][empty][TIX1][ReplyHeader][body] to rid. */
void fake_client_reply(zsock_t *router, zframe_t *rid, uint64_t call_id, tix_code code, uint32_t retry_after_ms,
                       const ProtobufCMessage *body);

/* Sends an OK reply to call_id whose body is FAKE_CLIENT_GARBAGE_SIZE
 * bytes of 0xff: no message of the protocol decodes from them. */
#define FAKE_CLIENT_GARBAGE_SIZE 3
void fake_client_reply_garbage(zsock_t *router, zframe_t *rid, uint64_t call_id);

/* Answers call OK with a reply that echoes its request: Purchase gets
 * PURCHASED with order_id "SALE:USER", GetSale/CreateSale a Sale of that
 * id, GetOrder that order, Health SERVING. */
void fake_client_answer(zsock_t *router, zframe_t *rid, const fake_client_call_t *call);

/* Sends one of the malformed replies below (0 <= which < FAKE_CLIENT_NJUNK), built
 * around call_id: none of them may reach the caller. */
#define FAKE_CLIENT_NJUNK 5
void fake_client_send_junk(zsock_t *router, zframe_t *rid, uint64_t call_id, int which);

/* ---- Scripts ---------------------------------------------------------------- */

void fake_client_script_answer(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                               size_t index);

void fake_client_script_silent(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                               size_t index);

/* fb->retry_code with fb->retry_after_ms to the first fb->retries calls. */
void fake_client_script_retry(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                              size_t index);

void fake_client_script_ignore_first(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                                     size_t index);

/* Keeps the first call; when the second comes, answers the first and, with
 * fb->answer_second, then the second. */
void fake_client_script_hold_first(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                                   size_t index);

/* Before the answer: every malformed reply, an OK reply whose body does not
 * decode, and well-formed OK replies to call ids before and after this one. */
void fake_client_script_junk_first(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                                   size_t index);

/* ---- The CLI tests' script: answers chosen by the request's ids -------------- */

/* Answers a Purchase by its ids: sale "nope" is unknown, "busy" overloaded,
 * "silent" never answered; users "sold", "again", "early", "late" get those
 * outcomes; anyone else buys ticket 17. */
void fake_client_cli_purchase(zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                              const Tix__V1__PurchaseRequest *req);

/* CreateSale echoes its request (sale "dup" exists); GetSale knows every
 * sale but "nope". */
void fake_client_cli_sale(zsock_t *router, zframe_t *rid, const fake_client_call_t *call, const ProtobufCMessage *req);

void fake_client_cli_health(zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                            const Tix__V1__HealthCheckRequest *req);

void fake_client_script_cli(fake_client_t *fb, zsock_t *router, zframe_t *rid, const fake_client_call_t *call,
                            size_t index);

/* ---- The actor ---------------------------------------------------------------- */

void fake_client_serve_one(fake_client_t *fb, zsock_t *router);

/* A ROUTER on tcp://127.0.0.1:* that queues without limit, so that tests
 * with thousands of calls in flight lose none (a ROUTER drops at its HWM). */
zsock_t *fake_client_router_new(char *endpoint, size_t size);

void fake_client_actor(zsock_t *pipe, void *arg);

/* A bare ROUTER (fake_client_router_new) and a tix client connected to it:
 * the world of a test of the async interface, driven from the test thread. */
typedef struct {
    zsock_t *router;
    tix_client_t *client;
} fake_client_pair_t;

/* Binds p's router and connects its client: false if the client cannot
 * be made. fake_client_pair_close destroys both. */
bool fake_client_pair_open(fake_client_pair_t *p);
void fake_client_pair_close(fake_client_pair_t *p);
/* cmocka setup and teardown of one fake_client_pair_t in *state (a static:
 * one test at a time); the setup fails the test when open does. */
int fake_client_pair_setup(void **state);
int fake_client_pair_teardown(void **state);

/* Starts a fake broker running script; its endpoint is fb->endpoint. Set
 * the script's parameters (retry_code, ...) through configure before the
 * actor starts: pass a function, or NULL. */
fake_client_t *fake_client_new(fake_client_script_fn *script, void (*configure)(fake_client_t *fb));

void fake_client_destroy(fake_client_t **fb);

size_t fake_client_ncalls(fake_client_t *fb);

/* A copy of the index-th call received. */
fake_client_call_t fake_client_call(fake_client_t *fb, size_t index);

/* Test-thread ROUTER: receives one call within timeout_ms into *call and
 * its routing id into *rid (caller destroys). False on timeout. */
bool fake_client_router_recv(zsock_t *router, int timeout_ms, zframe_t **rid, fake_client_call_t *call);

/* For a client test's main: czmq leaves signals to the test, and libtix
 * logs at TIX_LOG_LEVEL (default "error"). */
void fake_client_quiet(void);

/* ---- The CLI tests' fixture ------------------------------------------------ */

/* The fake broker of a test that runs the built tix (tests/test_cli*.c)
 * and the --frontend flag that reaches it. */
typedef struct {
    fake_client_t *fb;
    char frontend_flag[160];
} fake_client_cli_t;

/* Starts a fake broker with script into the fixture in *state (a static:
 * one group at a time). -1, and a line on stderr, when tix is not built. */
int fake_client_cli_setup(void **state, fake_client_script_fn *script);
/* cmocka teardown of fake_client_cli_setup's fixture. */
int fake_client_cli_teardown(void **state);

#endif
