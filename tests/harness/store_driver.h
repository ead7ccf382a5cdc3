/*
 * store_driver.h - drives the worker's Redis store (worker_store.h) from a
 * test the way the worker does: its descriptor in a zmq_poll, its timers
 * from worker_store_timeout_ms. Every wait is a poll with a deadline;
 * failures are cmocka assertions. Single-threaded.
 */
#ifndef TIX_STORE_DRIVER_H
#define TIX_STORE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "worker_store.h"

/* A result, copied out of the callback (its strings are borrowed there). */
typedef struct {
    int done; /* callbacks received */
    tix_err err;
    worker_store_status status;
    uint32_t total, remaining;
    int64_t opens_at_ms, closes_at_ms, now_ms, purchased_at_ms, wait_ms;
    bool is_new;
    char order_id[160], request_id[80], log_id[64], detail[256];
} store_driver_res_t;

/* A worker_store callback: copies the result into arg (a
 * store_driver_res_t) and counts it in done. */
void store_driver_capture(void *arg, const worker_store_result_t *r);
/* One turn of the loop the worker runs: poll, handle, timers. */
void store_driver_pump(worker_store_t *st, int max_ms);
/* Pumps until *done reaches want; false on timeout. */
bool store_driver_wait_done(worker_store_t *st, const int *done, int want, int timeout_ms);
/* Pumps until worker_store_ok(st) == want; false on timeout. */
bool store_driver_wait_ok(worker_store_t *st, bool want, int timeout_ms);
/* A store over r (opts may be NULL), connected; the caller destroys it. */
worker_store_t *store_driver_new(const th_redis_t *r, const worker_store_opts_t *opts);

/* Synchronous wrappers: issue one call, wait for its callback into res. */
void store_driver_create(worker_store_t *st, const char *sale, uint32_t total, int64_t opens, int64_t closes,
                         store_driver_res_t *res);
void store_driver_buy(worker_store_t *st, const char *sale, const char *user, const char *request_id,
                      store_driver_res_t *res);
void store_driver_get_sale(worker_store_t *st, const char *sale, store_driver_res_t *res);
void store_driver_get_order(worker_store_t *st, const char *sale, const char *user, store_driver_res_t *res);
/* Creates an open sale; asserts CREATED. */
void store_driver_create_open_sale(worker_store_t *st, const char *sale, uint32_t total);

/* Runs a command on a side connection; returns its integer reply (a string
 * reply read as a number) or -1. */
long long store_driver_redis_cmd(const th_redis_t *r, const char *fmt, ...);
/* Function libraries loaded in r. */
size_t store_driver_libraries(const th_redis_t *r);

#endif
