/*
 * inproc.h - the broker in-process for unit tests (test_broker*.c), driven
 * step by step (broker_step) from the test's thread, with raw DEALER
 * sockets as its clients and as fake sale workers.
 *
 * th_inproc_setup/th_inproc_teardown are cmocka fixtures: *state is a
 * th_inproc_t. Every wait here is on a condition, bounded by a 3 s
 * deadline; a wait that runs out fails the test. Single-threaded.
 */
#ifndef TIX_HARNESS_INPROC_H
#define TIX_HARNESS_INPROC_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "broker.h"
#include "tix_codec.h"

#define TH_INPROC_QUIET_MS 10000 /* a worker heartbeat interval no test outlives */

typedef struct {
    broker_t *broker; /* bound to tcp://127.0.0.1:* */
    zsock_t *client;  /* a DEALER connected to its frontend */
} th_inproc_t;

/* main's first call in these tests: czmq set up, sockets closed without
 * lingering. */
void th_inproc_init(void);
/* A test on the fixtures below: T(name) in a tests[] list. */
#define TH_INPROC_TEST(name) cmocka_unit_test_setup_teardown(name, th_inproc_setup, th_inproc_teardown)

/* The configuration those brokers start from: defaults, loopback ports on
 * free ports, the given queue bound, drain_ms 200. */
broker_config_t th_inproc_config(uint32_t queue_limit);
/* A broker on c (loopback ports); never NULL. */
broker_t *th_inproc_broker_new(const broker_config_t *c);
/* A broker on loopback ports with the given queue bound and per-user rate
 * (drain_ms 200); never NULL. */
broker_t *th_inproc_broker(uint32_t queue_limit, double user_rate, uint32_t user_burst);
/* cmocka setup: a broker with a queue of 4 and the default rate limits, and
 * one client. Teardown frees both. */
int th_inproc_setup(void **state);
int th_inproc_teardown(void **state);

/* Steps the broker until sock has a message or timeout_ms passes. */
bool th_inproc_pump(broker_t *b, zsock_t *sock, int timeout_ms);

/* Sends a TIX1 call on a DEALER client. */
void th_inproc_call(zsock_t *client, const char *method, uint64_t call_id, uint32_t timeout_ms,
                    const ProtobufCMessage *body);
/* Receives a reply on a DEALER client; returns its header (caller frees)
 * and copies the body into *body when body is not NULL. */
Tix__V1__ReplyHeader *th_inproc_reply(broker_t *b, zsock_t *client, zframe_t **body);
/* Receives a reply and checks its call_id and code. */
void th_inproc_expect(broker_t *b, zsock_t *client, uint64_t call_id, tix_code code);

/* A fake worker, registered (READY) with the broker before it returns. */
zsock_t *th_inproc_worker(broker_t *b, uint32_t capacity, bool redis_ok, uint32_t heartbeat_ms);
/* The next message to a fake worker, heartbeats skipped: its command, and
 * its body (caller frees). */
tix_wp_command th_inproc_worker_recv(broker_t *b, zsock_t *w, ProtobufCMessage **body);
/* The next message, which must be a JOB (caller frees). */
Tix__Worker__V1__Job *th_inproc_job(broker_t *b, zsock_t *w);
/* REPLY to job_id with code and body bytes (a string, or NULL). */
void th_inproc_worker_reply(zsock_t *w, uint64_t job_id, tix_code code, const char *body);
/* REPLY OK to job_id with body packed. */
void th_inproc_worker_reply_msg(zsock_t *w, uint64_t job_id, const ProtobufCMessage *body);
/* Answers the SaleBuyers job the broker sends w next with sale s1's one
 * buyer ("winner", order s1:7, request r-9), the page read at created_at_ms
 * and now_ms, the sale closing at closes_at_ms (0: never); returns once f's
 * edge serves one sale, and fails the test if it does not within 3 s. */
void th_inproc_edge_load(th_inproc_t *f, zsock_t *w, int64_t created_at_ms, int64_t now_ms, int64_t closes_at_ms);

#endif
