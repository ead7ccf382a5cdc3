/*
 * cancel_log.h - order logs with cancellations, for the persister's cancel
 * tests (tests/test_it_persist_cancel.c, test_it_persist_wire_cancel.c),
 * on a wire_world (wire_world.h): purchase and cancel entries appended to
 * tix:{S}:log with XADD exactly as the sale worker's Lua appends them
 * (docs/REDIS.md), and their OrderEvents published on the world's XPUB.
 * No worker needed.
 *
 * A cancel entry: kind "cancel", the order's order_id, sale_id, user_id,
 * request_id, purchased_at_ms, then cancelled_at_ms and cancel_reason; its
 * own entry id.
 *
 * As cmocka fixtures: register cancel_log_setup / cancel_log_teardown for
 * each test of a wire_world group (wire_world_group_setup); the test's
 * *state is then a cancel_log_t. Failures are cmocka assertions; call from
 * a cmocka test. Single-threaded.
 */
#ifndef TIX_CANCEL_LOG_H
#define TIX_CANCEL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferretdb.h"
#include "persister.h"
#include "wire_world.h"

#define CANCEL_LOG_ORDERS_MAX 250
#define CANCEL_LOG_PURCHASED_AT 1764400000000LL
#define CANCEL_LOG_CANCELLED_AT 1764400500000LL

typedef struct {
    char order_id[80];
    char user_id[80];
    char request_id[32];
    char reason[48];
    char log_id[48];        /* the purchase entry's */
    char cancel_log_id[48]; /* the cancel entry's; "" until cancelled */
    int64_t purchased_at_ms;
    int64_t cancelled_at_ms;
} cancel_log_order_t;

typedef struct {
    wire_world_t *world;  /* borrowed: the group's */
    th_ferretdb_t ferret; /* one a test may start; stopped by the teardown */
    cancel_log_order_t orders[CANCEL_LOG_ORDERS_MAX];
} cancel_log_t;

/* Per test: an empty Redis (wire_world_setup), then *state becomes a new
 * cancel_log_t on the group's world; the teardown stops its FerretDB if
 * one was started, frees it, and gives the group's world back. */
int cancel_log_setup(void **state);
int cancel_log_teardown(void **state);

/* Purchase entries for orders[from..to) of sale (the order ids are
 * "<sale>:1:<i+1>", as a worker issues them); the sale in tix:sales. */
void cancel_log_buy(cancel_log_t *l, const char *sale, int from, int to);
/* Cancel entries for orders[from..to) (bought before). */
void cancel_log_cancel(cancel_log_t *l, const char *sale, int from, int to);
/* Publishes the event of o's purchase (cancel false) or cancel (true),
 * naming log_id. */
void cancel_log_event(cancel_log_t *l, const char *sale, const cancel_log_order_t *o, bool cancel, const char *log_id);
/* The order of l whose id is order_id, or NULL. */
const cancel_log_order_t *cancel_log_find(const cancel_log_t *l, const char *order_id);
/* A persister on sink (taken) with the world's Redis and event feed;
 * the caller destroys it. */
persister_t *cancel_log_persister_new(cancel_log_t *l, persister_sink_t *sink, size_t batch_max);

#endif
