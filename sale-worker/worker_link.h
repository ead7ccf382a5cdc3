/*
 * worker_link.h - the worker's outbound path, its bottom layer: one DEALER
 * per broker backend (TIX_BACKEND is a list) and one PUB connected to
 * every broker's event intake, every message sent on them, and the job
 * records, because a job ends with its REPLY on the DEALER it came from.
 *
 * Used by worker.c (sockets, READY/HEARTBEAT/DISCONNECT), worker_jobs.c
 * (answers before a job has a record; taking a record) and
 * worker_handlers.c (replies, order events). Calls nothing above it. No
 * send blocks: what a socket refuses is counted in the worker's stats.
 * Single-threaded, like the loop.
 */
#ifndef WORKER_LINK_H
#define WORKER_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "tix_codec.h"
#include "worker_state.h"

/* ---- Sockets ------------------------------------------------------------- */

/* ZMTP heartbeat intervals (config.heartbeat_ms) without a sign of life
 * after which libzmq drops a broker connection. */
#define WORKER_LINK_ZMQ_MISSES 3

/* Fills self->brokers from config.backend (one per item, at most
 * WORKER_BROKERS_MAX), creates their DEALERs and the PUB, and starts
 * connecting them (nothing waits). False after logging why; what was
 * opened is closed by worker_link_close. */
bool worker_link_open(worker_t *self);
/* Replaces b's DEALER: a new routing id and a clean connection. False after
 * logging why (b then has no DEALER; its sends are counted unsent). */
bool worker_link_redial(worker_broker_t *b);
/* Lets queued messages leave for up to WORKER_LINGER_MS, then closes every
 * socket. Idempotent. */
void worker_link_close(worker_t *self);

/* ---- To the broker -------------------------------------------------------- */

/* Sends [TXW1][command][body] on b's DEALER; body may be NULL. */
void worker_link_send(worker_broker_t *b, tix_wp_command command, const ProtobufCMessage *body);
/* Answers a job that never got a record: REPLY{job_id, code, message,
 * retry_after_ms} with an empty body. message may be NULL. */
void worker_link_answer(worker_broker_t *b, uint64_t job_id, tix_code code, const char *message,
                        uint32_t retry_after_ms);

/* ---- Jobs ----------------------------------------------------------------- */

/* Where the next job's request is to be unpacked: the arena of the record
 * worker_link_job_new hands out next (emptied now). A request unpacked
 * there and not given to worker_link_job_new is freed with it. */
ProtobufCAllocator *worker_link_job_allocator(worker_t *self);
/* A record for a JOB of b's current session, counted in flight; it takes
 * request (owned, unpacked with worker_link_job_allocator's allocator just
 * before). Returned to the pool by worker_link_job_reply. */
worker_job_t *worker_link_job_new(worker_broker_t *b, uint64_t job_id, const tix_method_t *method,
                                  ProtobufCMessage *request);
/* Answers job on its broker's DEALER - unless its session ended: then the reply is dropped and
 * counted - and recycles it. The one way a job with a record ends. message
 * and body may be NULL. */
void worker_link_job_reply(worker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                           const ProtobufCMessage *body);
/* Frees the spare records (at destroy, when none is in flight). */
void worker_link_jobs_free(worker_t *self);

/* ---- SALE_CHANGED: a change every broker hears of before the caller ------- */

/* Tells every broker that sale_id changed (SALE_CHANGED{sale_id,
 * created_at_ms, version, notice_id} on each DEALER), then answers job with
 * code OK and body (packed now, held) once every broker heard from lately
 * (not lost) has echoed the notice - so that a broker's sold-out edge has
 * forgotten the sale before the caller can act on the answer - or after
 * WORKER_NOTICE_WAIT_MS (a broker that misses it has its own bound: the
 * edge's checks). */
void worker_link_reply_after_notice(worker_job_t *job, const char *sale_id, int64_t created_at_ms, uint64_t version,
                                    const ProtobufCMessage *body);
/* Broker b echoed notice notice_id. */
void worker_link_notice_seen(worker_broker_t *b, uint64_t notice_id);
/* Answers the held replies whose wait ended by now; returns the ms until
 * the next one ends, or -1 when none is held. */
int64_t worker_link_notices_tick(worker_t *self, int64_t now);
/* When the oldest held reply's wait ends (tix_now_ms clock), INT64_MAX
 * when none is held. */
int64_t worker_link_notices_due(const worker_t *self);

/* ---- Order events --------------------------------------------------------- */

/* Publishes [order.<sale_id>][OrderEvent] for a new order on the PUB (to
 * every broker's intake; the persister takes duplicates in its stride). */
void worker_link_publish(worker_t *self, const Tix__V1__Order *order, const char *log_id);

#endif
