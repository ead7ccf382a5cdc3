/*
 * worker_priv.h - the worker's insides, shared by worker.c (loop, broker
 * link, events), worker_jobs.c (job intake and replies) and
 * worker_handlers.c (one handler per method).
 *
 * Not a public interface: main.c and tests use worker.h. Single-threaded,
 * like the loop.
 */
#ifndef WORKER_PRIV_H
#define WORKER_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "tix_codec.h"
#include "worker.h"
#include "worker_store.h"

#define WORKER_RECV_BATCH 64            /* broker messages read per loop turn, so Redis gets its turn */
#define WORKER_POLL_MAX_MS 100          /* longest poll: bounds how late a signal is seen */
#define WORKER_LINGER_MS 500            /* on close: time for queued replies and events to leave */
#define WORKER_UNAVAILABLE_RETRY_MS 500 /* retry_after_ms with UNAVAILABLE */

typedef struct worker_job worker_job_t;

/* One job between its JOB and its REPLY. */
struct worker_job {
    worker_t *worker;           /* owner */
    uint64_t job_id;            /* echoed in the REPLY */
    uint64_t session;           /* broker session (READY) it arrived in */
    const tix_method_t *method; /* what to run */
    ProtobufCMessage *request;  /* owned: the decoded, validated body */
    worker_job_t *next;         /* spare-list link */
};

struct worker {
    worker_config_t config;    /* copied; its strings are borrowed */
    zsock_t *dealer;           /* to the broker backend; replaced when the broker goes silent */
    zsock_t *pub;              /* to the broker event intake */
    worker_store_t *store;     /* Redis */
    uint64_t session;          /* bumped by every READY: older jobs' replies are stale */
    uint32_t session_jobs;     /* this session's jobs in flight: the broker's used credits */
    uint32_t jobs_in_flight;   /* all sessions' jobs waiting for Redis */
    int64_t next_heartbeat_ms; /* when the next HEARTBEAT is due */
    int64_t broker_expiry_ms;  /* the broker counts as gone after this */
    int64_t rejoined_at_ms;    /* when a DISCONNECT was last answered with READY */
    bool redis_ok_told;        /* redis_ok as last told to the broker */
    bool broker_lost;          /* the broker went silent and has not spoken since */
    bool draining;             /* stopping: no new jobs */
    bool started;              /* worker_run ran: there are stats to log */
    int64_t health_at_ms;      /* last rewrite of config.health_file */
    worker_job_t *spare_jobs;  /* finished jobs, kept for reuse */
    uint8_t *body_buf;         /* reply bodies are packed here (reused) */
    size_t body_cap;           /* its size */
    struct {
        uint64_t jobs;          /* JOBs received */
        uint64_t garbage;       /* broker messages dropped as protocol violations */
        uint64_t stale;         /* replies dropped: their session had ended */
        uint64_t unsent;        /* replies or heartbeats the socket refused */
        uint64_t events;        /* OrderEvents published */
        uint64_t events_unsent; /* OrderEvents the PUB socket refused */
    } stats;
};

/* ---- worker.c ------------------------------------------------------------ */

/* Sends REPLY{job_id, code, message, retry_after_ms, body} to the broker.
 * body may be NULL (empty). Never blocks: a refused reply is counted. */
void worker_reply_send(worker_t *self, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms,
                       const ProtobufCMessage *body);
/* Publishes [order.<sale_id>][OrderEvent] for a new order. Never blocks. */
void worker_order_publish(worker_t *self, const Tix__V1__Order *order, const char *log_id);
/* True when jobs can reach Redis: connected and not stopping. */
bool worker_redis_ok(const worker_t *self);

/* ---- worker_jobs.c ------------------------------------------------------- */

/* Takes one JOB (borrowed): checks it, then starts its handler or answers
 * at once (UNIMPLEMENTED, INVALID_ARGUMENT, UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED). received_ms: when it came off the socket. */
void worker_jobs_accept(worker_t *self, const Tix__Worker__V1__Job *msg, int64_t received_ms);
/* Answers job (unless its session ended: then the reply is dropped and
 * counted) and recycles it. message may be NULL; body may be NULL. */
void worker_job_finish(worker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                       const ProtobufCMessage *body);
/* Frees the spare jobs (at destroy). */
void worker_jobs_free(worker_t *self);

/* ---- worker_handlers.c --------------------------------------------------- */

/* Starts job's method: sends its Redis call, whose callback finishes the job.
 * TIX_ERR_UNAVAILABLE when the call could not be sent (the job is not
 * finished then). */
typedef tix_err (*worker_handler_fn)(worker_job_t *job);

/* The handler of a method, or NULL when workers do not serve it (Health). */
worker_handler_fn worker_handler_get(tix_method_id id);

#endif
