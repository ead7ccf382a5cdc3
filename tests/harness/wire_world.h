/*
 * wire_world.h - the world around an in-process persister, for the
 * wire-level tests (tests/test_it_persist_wire*.c): a real redis-server
 * holding order logs written as the sale worker's Lua writes them, an
 * event feed (this process's XPUB), a persister built from the library,
 * and readers of what tests/mockupdb/mock_mongo.py recorded (mockupdb.h).
 *
 * As cmocka fixtures: wire_world_group_setup makes *state a wire_world_t
 * (freed by wire_world_group_teardown); register wire_world_setup for each
 * test. Failures are cmocka assertions; call from a cmocka test.
 * Single-threaded.
 */
#ifndef TIX_WIRE_WORLD_H
#define TIX_WIRE_WORLD_H

#include <stddef.h>

#include <czmq.h>

#include "harness.h"
#include "mockupdb.h"
#include "persister.h"

#define WIRE_WORLD_RUN_TIMEOUT_MS 20000

typedef struct {
    th_redis_t redis; /* the order logs */
    zsock_t *xpub;    /* the event feed the persister subscribes to */
    char events[64];  /* its endpoint */
} wire_world_t;

/* One order as wire_world_sell wrote it. */
typedef struct {
    char order_id[80];
    char user_id[80];
    char log_id[48];
} wire_world_order_t;

/* What the mock saw of a sale (wire_world_seen_read). */
typedef struct {
    const char *sale;
    zhashx_t *inserted;   /* order _id -> times inserted into the store */
    int inserts;          /* documents inserted into orders */
    int order_writes;     /* update commands on orders */
    int faults;           /* commands that met a scripted fault */
    char cursor[48];      /* the last acknowledged cursor of sale */
    zhashx_t *statements; /* order _id -> upsert statements sent */
} wire_world_seen_t;

/* Group fixtures: redis-server and the XPUB, up for the whole group. */
int wire_world_group_setup(void **state);
int wire_world_group_teardown(void **state);
/* Per test: an empty Redis (a persister catches up every sale it finds,
 * and the counts are per test). */
int wire_world_setup(void **state);

/* Sells n orders of sale as the sale worker's Lua does: the sale in
 * tix:sales, one stream entry per order, numbered from first + 1; fills
 * orders[0..n-1]. */
void wire_world_sell(wire_world_t *w, const char *sale, int first, int n, wire_world_order_t *orders);
/* Publishes the OrderEvents of orders[from..to-1] on the feed. */
void wire_world_publish(wire_world_t *w, const char *sale, const wire_world_order_t *orders, int from, int to);
/* A persister on w's Redis and feed with *sink (taken: *sink becomes
 * NULL), fast catch-up, batches and backoff; the caller destroys it. */
persister_t *wire_world_persister_on(wire_world_t *w, persister_sink_t **sink, int write_w, size_t buffer_max,
                                     size_t batch_max);
/* The same with the MongoDB sink at uri. */
persister_t *wire_world_persister_new(wire_world_t *w, const char *uri, int write_w, size_t buffer_max,
                                      size_t batch_max);
/* Steps p until its subscription reached the feed. */
void wire_world_wait_subscribed(wire_world_t *w, persister_t *p);

/* Reads what the mock m recorded about sale into seen (its maps are
 * replaced; free with wire_world_seen_free). */
void wire_world_seen_read(const mu_t *m, const char *sale, wire_world_seen_t *seen);
void wire_world_seen_free(wire_world_seen_t *seen);
/* The count of id in a map of seen (0 when absent). */
int wire_world_times(zhashx_t *h, const char *id);
/* Steps p until n orders are settled, nothing is held and the mock holds
 * the sale's cursor at last_log_id; fills seen. */
void wire_world_run_until_persisted(persister_t *p, const mu_t *m, const char *sale, int n, const char *last_log_id,
                                    wire_world_seen_t *seen);
/* Every order inserted exactly once into the mock's store, but orders[skip]
 * (none when skip < 0). */
void wire_world_assert_each_once(const wire_world_seen_t *seen, const wire_world_order_t *orders, int n, int skip);
/* Sells n orders of sale with the mock following script (its URI with
 * uri_opts); events for all of them are published. Fills seen, stats and
 * orders. */
void wire_world_scenario(wire_world_t *w, mu_t *m, const char *sale, int n, const char *script, const char *uri_opts,
                         wire_world_seen_t *seen, persister_stats_t *stats, wire_world_order_t *orders);

#endif
