/*
 * persister_state.h - the loop's state, shared by its three layers:
 * persister.c (lifecycle, the poll loop, events, health), below it
 * persister_catchup.c (reading the order logs), and at the bottom
 * persister_flush.c (sink writes, cursor stores, backoff). A header only,
 * below all three, so that each can include it and includes still run one
 * way. Not for other modules.
 */
#ifndef PERSISTER_STATE_H
#define PERSISTER_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "persister_batch.h"
#include "persister_config.h"
#include "persister_log.h"
#include "persister_sales.h"
#include "persister_sink.h"
#include "persister_stats.h"
#include "tix_http.h"

/* The same declaration as persister.h's (C11 allows repeating it). */
typedef struct persister persister_t;

#define PERSISTER_CATCHUP_PAGES 20     /* log pages read per catch-up step, then events get a turn */
#define PERSISTER_EVENTS_PER_WAKE 1000 /* events taken per wakeup, then timers get a turn */
#define PERSISTER_HEALTH_MS 1000       /* health file rewrite interval */
#define PERSISTER_WRITTEN_MIN 100000   /* written-id memory kept at least this large */
#define PERSISTER_DISCOVER_MIN_MS 100  /* events for unknown sales: a look at tix:sales at most this often */

struct persister {
    persister_config_t config; /* copied; strings borrowed */
    persister_sink_t *sink;    /* owned */
    persister_log_t *log;      /* owned */
    zsock_t *sub;              /* SUB to the broker's event feed */
    zsock_t *monitor;          /* PAIR: the SUB's connect/disconnect events */
    int connected;             /* event-feed endpoints connected now */
    persister_sales_t *sales;  /* per-sale cursors and written ids */
    persister_batch_t *batch;  /* orders held, not yet written */
    persister_stats_t stats;
    persister_order_t *page;        /* catch-up page, batch_max entries */
    persister_write_status *status; /* per-order sink answers, batch_max entries */
    bool *done;                     /* per-order removal flags, batch_max entries */
    int64_t next_catchup_ms;        /* monotonic: next catch-up pass */
    int64_t retry_at_ms;            /* monotonic: no sink call before this */
    int backoff_ms;                 /* current backoff step; 0 = the sink answers */
    int64_t down_since_ms;          /* when the sink stopped answering */
    int64_t next_health_ms;         /* monotonic: next health file rewrite */
    int64_t next_event_warn_ms;     /* rate limit: bad events, shedding */
    int64_t hints_since_ms;         /* monotonic: oldest unread event hint; 0 = none */
    bool unknown_sale;              /* an event named a sale not in the table */
    int64_t next_discover_ms;       /* monotonic: rate limit for unknown_sale */
    long long sales_card;           /* SCARD tix:sales at the last walk of it; -1 = never walked */
    int64_t next_mismatch_log_ms;   /* rate limit: claims that disagree with the log */
    tix_http_t *http;               /* --http; NULL when off (persister_http.h) */
};

#endif
