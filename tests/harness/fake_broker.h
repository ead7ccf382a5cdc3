/*
 * fake_broker.h - a test playing the broker for one real tix-worker: a
 * ROUTER bound where the worker's DEALER connects (TXW1,
 * docs/WORKER-PROTOCOL.md) and a SUB bound where its PUB connects (order
 * events). While a test waits, the fake heartbeats the worker as a broker
 * would. Failures are cmocka assertions; single-threaded.
 */
#ifndef TIX_FAKE_BROKER_H
#define TIX_FAKE_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "harness.h"
#include "tix_codec.h"

#define FAKE_BROKER_HB_MS 200    /* the worker's heartbeat under a fake broker */
#define FAKE_BROKER_CAPACITY 8   /* the worker's --capacity */
#define FAKE_BROKER_WAIT_MS 5000 /* generous: sanitizer builds are slow */

typedef struct {
    zsock_t *router; /* the backend: the worker connects here */
    zsock_t *sub;    /* the event intake: the worker publishes here */
    char backend[64], events_in[64];
    th_redis_t *redis; /* borrowed */
    th_proc_t proc;    /* the worker */
    zframe_t *rid;     /* the worker's routing id, from its last READY */
    bool heartbeats;   /* heartbeat the worker while waiting */
    int64_t next_hb_ms;
    uint64_t next_job_id;
    int readies; /* READYs seen */
} fake_broker_t;

/* A zeroed fake (caller destroys). */
fake_broker_t *fake_broker_new(void);
/* Kills a worker still running, closes the sockets, frees; NULL-safe. */
void fake_broker_destroy(fake_broker_t **fp);

/* Binds the ROUTER and the SUB on free loopback ports; starts no worker. */
void fake_broker_bind(fake_broker_t *f);
/* Binds, starts tix-worker over redis (borrowed) and waits for its READY and
 * a heartbeat saying Redis works. */
void fake_broker_start(fake_broker_t *f, th_redis_t *redis);
/* Sends sig (SIGTERM or SIGINT); the worker must exit 0 within 2 s. */
void fake_broker_stop_with(fake_broker_t *f, int sig);
void fake_broker_stop(fake_broker_t *f);

/* Sends one command to the worker; body may be NULL. */
void fake_broker_send(fake_broker_t *f, tix_wp_command command, const ProtobufCMessage *body);
/* Sends nframes raw frames (pairs of const char *, size_t) after the routing id. */
void fake_broker_send_raw(fake_broker_t *f, int nframes, ...);
/* Heartbeats if one is due; touches the SUB so its subscription reaches a
 * newly connected PUB (libzmq attaches lazily). Once per wait-loop turn. */
void fake_broker_heartbeat_if_due(fake_broker_t *f);
/* Waits up to timeout_ms for the next well-formed worker message; returns
 * its command (body owned by the caller) or -1. Remembers READY's id. */
int fake_broker_next(fake_broker_t *f, int timeout_ms, ProtobufCMessage **body);
/* Waits for a message with this command, skipping others; NULL on timeout. */
ProtobufCMessage *fake_broker_expect(fake_broker_t *f, tix_wp_command want, int timeout_ms);
/* Waits until a HEARTBEAT says redis_ok == want. */
bool fake_broker_wait_redis_ok(fake_broker_t *f, bool want, int timeout_ms);
/* Waits for one order event; returns it (owned) and its topic, or NULL. */
Tix__V1__OrderEvent *fake_broker_event(fake_broker_t *f, int timeout_ms, char *topic, size_t topic_size);

/* Sends a JOB; returns its job_id. body may be NULL (empty). */
uint64_t fake_broker_job(fake_broker_t *f, const char *method, uint32_t budget_ms, const ProtobufCMessage *body);
/* A JOB whose body is raw bytes. */
uint64_t fake_broker_job_raw(fake_broker_t *f, const char *method, const void *body, size_t len);
/* Waits for the REPLY to job_id (another reply is a failure); owned. */
Tix__Worker__V1__JobReply *fake_broker_reply(fake_broker_t *f, uint64_t job_id);
/* A job with a 5 s budget and its reply. */
Tix__Worker__V1__JobReply *fake_broker_call(fake_broker_t *f, const char *method, const ProtobufCMessage *body);

Tix__Worker__V1__JobReply *fake_broker_create_sale(fake_broker_t *f, const char *sale_id, uint32_t total,
                                                   int64_t opens_at_ms, int64_t closes_at_ms);
uint64_t fake_broker_purchase_job(fake_broker_t *f, const char *sale_id, const char *user_id, const char *request_id,
                                  uint32_t budget_ms);
/* A purchase answered OK; returns the PurchaseReply (owned). */
Tix__V1__PurchaseReply *fake_broker_purchase(fake_broker_t *f, const char *sale_id, const char *user_id,
                                             const char *request_id, uint32_t *retry_after_ms);
/* Creates an open sale; asserts OK. */
void fake_broker_open_sale(fake_broker_t *f, const char *sale_id, uint32_t total);
/* Asserts r's code and message prefix (NULL: any) and an empty body; frees r. */
void fake_broker_expect_code(Tix__Worker__V1__JobReply *r, tix_code code, const char *message_prefix);

/* cmocka fixtures. The group's state is a redis-server shared by its tests
 * (SIGPIPE ignored, czmq's signal handler off); each test's state is a
 * fake_broker_t whose redis is that server, destroyed after the test, also
 * a failed one. */
int fake_broker_group_setup(void **state);
int fake_broker_group_teardown(void **state);
int fake_broker_setup(void **state);
int fake_broker_teardown(void **state);

#endif
