/*
 * persister_priv.h - the loop's state, shared by persister.c (events,
 * flushes, backoff, health, lifecycle) and persister_catchup.c (the
 * order-log catch-up and cursors). Not for other modules.
 */
#ifndef PERSISTER_PRIV_H
#define PERSISTER_PRIV_H

#include <czmq.h>

#include "persister.h"
#include "persister_batch.h"
#include "persister_log.h"
#include "persister_sales.h"

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
};

/* Writes everything held, in chunks of batch_max, until done or a sink
 * call fails (then backed off). True when nothing is held any more. */
bool persister_flush_all(persister_t *self);
/* Records a failed sink call and schedules the retry (capped exponential
 * backoff with jitter). */
void persister_on_sink_error(persister_t *self, tix_err err, const char *what);
/* Records a sink call that succeeded (ends a backoff). */
void persister_on_sink_ok(persister_t *self);

/* Marks the sale as having news in its log, for the next hint read. */
void persister_hint(persister_t *self, persister_sale_t *sale);
/* Reads the logs of the live sales events marked (bounded: it asks to be
 * called again when there is more); the cursors are stored by the pass. */
void persister_hints_read(persister_t *self);
/* Adds sales created since the last look at tix:sales (all of it when
 * force). False when Redis could not be read. */
bool persister_discover(persister_t *self, bool force);

/* One catch-up pass over every live sale (bounded: it asks to be called again
 * at once when there is more to read), then stores moved cursors. */
void persister_catchup_pass(persister_t *self);
/* Stores every cursor that moved since it was last stored. */
void persister_cursors_store(persister_t *self);

#endif
