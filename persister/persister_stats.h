/*
 * persister_stats.h - the persister's counters, for logs and tests: bumped
 * by every layer of the loop (persister.c, persister_catchup.c,
 * persister_flush.c), read through persister_stats().
 */
#ifndef PERSISTER_STATS_H
#define PERSISTER_STATS_H

#include <stdint.h>

/* Counters, for logs and tests. */
typedef struct {
    uint64_t events;            /* order events received */
    uint64_t events_bad;        /* events that could not be decoded (dropped, logged) */
    uint64_t events_known;      /* events for orders already read from the log (not checked) */
    uint64_t shed;              /* event claims not kept (memory bound): not checked, the log still has the order */
    uint64_t mismatched;        /* events that disagree with the order log, or name no order of it (logged) */
    uint64_t from_log;          /* orders read from the log and not yet written */
    uint64_t log_malformed;     /* log entries that are not orders (skipped, logged) */
    uint64_t written;           /* orders the sink confirmed (DONE), cancel entries included */
    uint64_t cancels;           /* of those, cancel entries (a cancellation recorded on its order) */
    uint64_t conflicts;         /* orders the sink refused for good (CONFLICT) */
    uint64_t refused;           /* orders the server refused for good (REFUSED: too large, invalid, ...) */
    uint64_t write_calls;       /* sink write calls */
    uint64_t write_failures;    /* sink calls that failed and were backed off */
    uint64_t sink_write_errors; /* ... of which: order writes (the rest: cursor loads and stores, pings) */
    uint64_t catchups;          /* catch-up passes completed */
    uint64_t cursor_stores;     /* successful cursor stores */
    uint64_t cursors_advanced;  /* cursor moves (sales x passes) */
    uint64_t retired;           /* sales taken out of the catch-up set */
    uint64_t revived;           /* retired sales put back by the sweep */
    uint64_t swept;             /* retired sales checked by the sweep */
} persister_stats_t;

#endif
