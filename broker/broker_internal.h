/*
 * broker_internal.h - what broker.c, broker_frontend.c and broker_backend.c
 * share. Not for other modules.
 */
#ifndef BROKER_INTERNAL_H
#define BROKER_INTERNAL_H

#include <czmq.h>

#include "broker.h"
#include "broker_edge.h"
#include "broker_jobs.h"
#include "broker_limit.h"
#include "broker_workers.h"
#include "broker_zap.h"
#include "tix_codec.h"

/* The longest subscription the event feed's XPUB takes (ZMQ_MAXMSGSIZE):
 * the subscribe byte, `order.` and a sale id, with room for the SUBSCRIBE
 * command form of newer peers. */
#define BROKER_EVENTS_SUB_MAX_BYTES 128
#define BROKER_EVENTS_SUBS_MAX 64 /* subscriptions one subscriber connection may hold */

struct broker {
    broker_config_t config;
    zsock_t *frontend;   /* ROUTER, clients */
    zsock_t *backend;    /* ROUTER, workers */
    zsock_t *events_in;  /* XSUB, worker PUBs */
    zsock_t *events_out; /* XPUB, subscribers */
    broker_workers_t *workers;
    broker_jobs_t *jobs;
    broker_edge_t *edge;                    /* sold-out sales answered here */
    broker_limit_t *limit;                  /* per-user token buckets */
    broker_limit_t *client_limit;           /* per-client token buckets (every method) */
    broker_zap_t *zap;                      /* ZAP handler; NULL when CURVE is off */
    zhashx_t *subscribers;                  /* descriptor -> subscriptions held (broker_events.c) */
    char call_key[TIX_CURVE_KEY_TXT_BYTES]; /* CURVE key of the call being handled, or "" */
    uint64_t call_flow;                     /* its client's flow key (broker_fairq.h) */
    broker_stats_t stats;
    int64_t next_tick_ms;  /* next run of timers */
    int64_t rate_since_ms; /* start of the current throughput window */
    uint64_t rate_replied; /* stats.replied at rate_since_ms */
    double replies_per_ms; /* smoothed worker throughput, for retry_after_ms */
    bool draining;         /* no new work accepted */
};

/* Frontend (broker_frontend.c) */
void broker_frontend_recv(broker_t *self, zmsg_t **msg);
/* Answers a job's client and frees the job. body may be NULL. */
void broker_answer(broker_t *self, broker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                   const void *body, size_t body_size);
/* Sends [rid][empty][TIX1][ReplyHeader][body] to a client; counts drops. */
void broker_send_reply(broker_t *self, zframe_t *client, const tix_status_t *status, const void *body,
                       size_t body_size);

/* Backend (broker_backend.c) */
void broker_backend_recv(broker_t *self, zmsg_t **msg);
/* Sends queued jobs to workers with free credit. */
void broker_dispatch(broker_t *self);
/* Heartbeats workers that are due and buries those that went silent. */
void broker_backend_tick(broker_t *self, int64_t now_ms);
/* Answers (or requeues) every job a worker held, then removes the worker. */
void broker_worker_lost(broker_t *self, broker_worker_t **worker, const char *why);
/* The retry_after_ms to suggest with RESOURCE_EXHAUSTED right now. */
uint32_t broker_retry_after_ms(const broker_t *self);

/* Event feed (broker_events.c) */
/* After binding: the table of subscribers, and `order.` asked of workers. */
void broker_events_init(broker_t *self);
void broker_events_destroy(broker_t *self);
/* Passes one event from a worker on to the subscribers that want it. */
void broker_events_from_workers(broker_t *self);
/* Applies, refuses or cuts off one (un)subscription from a subscriber. */
void broker_events_from_subscribers(broker_t *self);

/* Sold out at the edge (broker_soldout.c) */
/* A worker answered job (a client's call) with code and body: notice a
 * sold-out sale (Purchase, remaining 0), or drop the sale's edge entry when
 * the answer shows Redis holds another sale than the one cached there
 * (CreateSale OK, NOT_FOUND, DATA_LOSS, GetSale with stock). */
void broker_soldout_on_reply(broker_t *self, const broker_job_t *job, tix_code code, const void *body,
                             size_t body_size);
/* The answer to an internal SaleBuyers job; frees the job. */
void broker_soldout_on_answer(broker_t *self, broker_job_t *job, tix_code code, const void *body, size_t body_size);
/* Answers a valid Purchase call at the edge when its sale is ready there
 * (takes *client); false when a worker must answer it. */
bool broker_soldout_answer(broker_t *self, zframe_t **client, const tix_call_t *call);

#endif
