/*
 * worker_state.h - the worker's state, shared by its layers: worker.c (the
 * loop and the broker session), worker_jobs.c (job intake),
 * worker_handlers.c (one handler per method) and worker_link.c (everything
 * sent: messages to the broker, replies, order events; the job records).
 *
 * Data only: this header sits below every layer, so that each can read the
 * state without including the one above it. Not a public interface: main.c
 * uses worker.h. Single-threaded, like the loop.
 */
#ifndef WORKER_STATE_H
#define WORKER_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "tix_arena.h"
#include "tix_codec.h"
#include "tix_endpoint.h"
#include "tix_http.h"
#include "worker_config.h"
#include "worker_store.h"

#define WORKER_RECV_BATCH 64            /* broker messages read per loop turn, so Redis gets its turn */
#define WORKER_POLL_MAX_MS 100          /* longest poll: bounds how late a signal is seen */
#define WORKER_LINGER_MS 500            /* on close: time for queued replies and events to leave */
#define WORKER_UNAVAILABLE_RETRY_MS 500 /* retry_after_ms with UNAVAILABLE */
#define WORKER_NOTICE_WAIT_MS 200       /* longest wait for the brokers' echoes of a SALE_CHANGED */
#define WORKER_JOB_REQUEST_BYTES 512    /* a job's request is unpacked in this much of its record */

typedef struct worker worker_t;
typedef struct worker_job worker_job_t;
typedef struct worker_broker worker_broker_t;
typedef struct worker_notice worker_notice_t;

/* One job between its JOB and its REPLY (worker_link.h hands them out). */
struct worker_job {
    worker_t *worker;           /* owner */
    worker_broker_t *broker;    /* the broker it came from: its REPLY goes back there */
    uint64_t job_id;            /* echoed in the REPLY */
    uint64_t session;           /* that broker's session (READY) it arrived in */
    const tix_method_t *method; /* what to run */
    ProtobufCMessage *request;  /* owned: the decoded, validated body, unpacked in arena */
    worker_job_t *next;         /* spare-list link */
    tix_arena_t arena;          /* over request_buf; what does not fit is the heap's */
    _Alignas(16) uint8_t request_buf[WORKER_JOB_REQUEST_BYTES];
};

/* The session with one broker: each broker grants and counts its own
 * credits, hears its own heartbeats and may restart on its own, so none of
 * this is shared between brokers. */
struct worker_broker {
    worker_t *worker;                      /* owner */
    char endpoint[TIX_ENDPOINT_MAX_BYTES]; /* its backend */
    zsock_t *dealer;                       /* to that backend; replaced when the broker goes silent */
    uint64_t session;                      /* set by every READY: older jobs' replies are stale */
    uint32_t session_jobs;                 /* this session's jobs in flight: the broker's used credits */
    int64_t next_heartbeat_ms;             /* when the next HEARTBEAT is due */
    int64_t broker_expiry_ms;              /* the broker counts as gone after this */
    int64_t rejoined_at_ms;                /* when a DISCONNECT was last answered with READY */
    bool redis_ok_told;                    /* redis_ok as last told to this broker */
    bool lost;                             /* the broker went silent and has not spoken since */
};

struct worker {
    worker_config_t config;                      /* copied; its strings are borrowed */
    worker_broker_t brokers[WORKER_BROKERS_MAX]; /* one per config.backend item */
    size_t nbrokers;                             /* 1..WORKER_BROKERS_MAX */
    zsock_t *pub;                                /* connected to every broker's event intake */
    worker_store_t *store;                       /* Redis */
    tix_http_t *http;                            /* --http; NULL when off (worker_http.h) */
    uint64_t sessions;                           /* READYs sent, all brokers: the next session number */
    uint32_t jobs_in_flight;                     /* all brokers' and sessions' jobs waiting for Redis */
    bool draining;                               /* stopping: no new jobs */
    bool started;                                /* worker_run ran: there are stats to log */
    int64_t health_at_ms;                        /* last rewrite of config.health_file */
    worker_job_t *spare_jobs;                    /* finished jobs, kept for reuse */
    worker_notice_t *notices;                    /* replies held for the brokers' echoes, oldest first */
    worker_notice_t *notices_tail;               /* where the next one is appended */
    uint64_t notice_seq;                         /* the last notice_id handed out */
    uint8_t *body_buf;                           /* reply bodies are packed here (reused) */
    size_t body_cap;                             /* its size */
    uint8_t *wire_buf;                           /* each outgoing message's body is packed here (reused) */
    size_t wire_cap;                             /* its size */
    struct {
        uint64_t jobs;          /* JOBs received */
        uint64_t garbage;       /* broker messages dropped as protocol violations */
        uint64_t stale;         /* replies dropped: their session had ended */
        uint64_t unsent;        /* replies or heartbeats the socket refused */
        uint64_t events;        /* OrderEvents published */
        uint64_t events_unsent; /* OrderEvents the PUB socket refused */
        uint64_t notices;       /* SALE_CHANGED rounds sent (one per close or cancel that changed a sale) */
        uint64_t notice_waits;  /* of those, answered at WORKER_NOTICE_WAIT_MS with an echo missing */
    } stats;
};

/* True when jobs can reach Redis: connected and not stopping. */
static inline bool
worker_state_redis_ok(const worker_t *self)
{
    return !self->draining && worker_store_ok(self->store);
}

#endif
