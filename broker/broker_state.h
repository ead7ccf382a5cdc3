/*
 * broker_state.h - the state of one broker, which every module of broker/
 * reads and changes: its sockets, tables, counters and the call being
 * handled. Below every module that includes it; not for other directories
 * (tests and fuzz harnesses look inside, to check the tables).
 *
 * Threading: the broker's loop thread only.
 */
#ifndef BROKER_STATE_H
#define BROKER_STATE_H

#include <czmq.h>

#include "broker_config.h"
#include "broker_edge.h"
#include "broker_jobs.h"
#include "broker_limit.h"
#include "broker_metrics.h"
#include "broker_park.h"
#include "broker_stats.h"
#include "broker_workers.h"
#include "broker_zap.h"
#include "tix_codec.h"
#include "tix_http.h"

#define BROKER_CALL_FRAMES 6          /* received per call: routing id, delimiter, TIX1, header, body, one more */
#define BROKER_BACKEND_FRAMES 4       /* a worker message's: routing id, TXW1, command, body */
#define BROKER_CALL_ARENA_BYTES 8192u /* a call's header and request unpacked (tix_arena.h) */

typedef struct broker broker_t;

/* A call from the frontend, as received: views of its first frames (the
 * routing id first), which live until the next call is received. */
typedef struct {
    tix_frame_t frame[BROKER_CALL_FRAMES]; /* borrowed views; the first min(nframes, BROKER_CALL_FRAMES) */
    size_t nframes;                        /* frames received, which may be more than viewed */
    const char *user_id;                   /* ZAP User-Id (CURVE key), NULL when CURVE is off */
} broker_call_in_t;

struct broker {
    broker_config_t config;
    zsock_t *frontend;   /* ROUTER, clients */
    zsock_t *backend;    /* ROUTER, workers */
    zsock_t *events_in;  /* XSUB, worker PUBs */
    zsock_t *events_out; /* XPUB, subscribers */
    broker_workers_t *workers;
    broker_jobs_t *jobs;
    broker_edge_t *edge;                           /* sold-out sales answered here */
    broker_limit_t *limit;                         /* per-user token buckets */
    broker_limit_t *client_limit;                  /* per-client token buckets (every method) */
    broker_zap_t *zap;                             /* ZAP handler; NULL when CURVE is off */
    broker_park_t *park;                           /* answers waiting for room in a client's pipe */
    zhashx_t *subscribers;                         /* descriptor -> subscriptions held (broker_events.c) */
    zmq_msg_t call_msgs[BROKER_CALL_FRAMES];       /* the frontend call's frames, reused (broker_frontend.c) */
    tix_arena_t call_arena;                        /* its header and request, unpacked without the heap */
    char call_key[TIX_CURVE_KEY_TXT_BYTES];        /* CURVE key of the call being handled, or "" */
    uint64_t call_flow;                            /* its client's flow key (broker_fairq.h) */
    const tix_method_t *call_method;               /* its method, or NULL (not decoded, or no call) */
    tix_frame_t call_body;                         /* its packed request (borrowed while it is handled) */
    uint8_t *wire_buf;                             /* each message to a worker packed here (reused) */
    size_t wire_cap;                               /* its size */
    zmq_msg_t backend_msgs[BROKER_BACKEND_FRAMES]; /* a worker message's frames, reused (broker_backend.c) */
    int64_t call_ns;                               /* when it came in (tix_metrics_now_ns) */
    broker_metrics_t metrics;                      /* answers, for /metrics (broker_metrics.h) */
    tix_http_t *http;                              /* --http; NULL when off (broker_http.h) */
    broker_stats_t stats;
    int64_t next_tick_ms;  /* next run of timers */
    int64_t rate_since_ms; /* start of the current throughput window */
    uint64_t rate_replied; /* stats.replied at rate_since_ms */
    double replies_per_ms; /* smoothed worker throughput, for retry_after_ms */
    bool draining;         /* no new work accepted */
};

#endif
