/*
 * store_driver.c - the worker's store driven from a test (see
 * store_driver.h).
 */
#include "store_driver.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <czmq.h>

#include "tix_util.h"

void
store_driver_capture(void *arg, const worker_store_result_t *r)
{
    store_driver_res_t *res = arg;
    res->done++;
    res->err = r->err;
    res->status = r->status;
    res->total = r->total;
    res->remaining = r->remaining;
    res->opens_at_ms = r->opens_at_ms;
    res->closes_at_ms = r->closes_at_ms;
    res->now_ms = r->now_ms;
    res->purchased_at_ms = r->purchased_at_ms;
    res->wait_ms = r->wait_ms;
    res->is_new = r->is_new;
    snprintf(res->order_id, sizeof res->order_id, "%s", r->order_id);
    snprintf(res->request_id, sizeof res->request_id, "%s", r->request_id);
    snprintf(res->log_id, sizeof res->log_id, "%s", r->log_id);
    snprintf(res->detail, sizeof res->detail, "%s", r->detail);
}

void
store_driver_pump(worker_store_t *st, int max_ms)
{
    int wait = worker_store_timeout_ms(st);
    if (wait < 0 || wait > max_ms)
        wait = max_ms;
    zmq_pollitem_t item;
    if (worker_store_pollitem(st, &item)) {
        if (zmq_poll(&item, 1, wait) > 0)
            worker_store_handle(st, item.revents);
    } else {
        zmq_poll(NULL, 0, wait); /* nothing to watch: wait for the store's timer */
    }
    worker_store_tick(st);
}

bool
store_driver_wait_done(worker_store_t *st, const int *done, int want, int timeout_ms)
{
    int64_t end = tix_now_ms() + timeout_ms;
    while (*done < want && tix_now_ms() < end)
        store_driver_pump(st, 50);
    return *done >= want;
}

bool
store_driver_wait_ok(worker_store_t *st, bool want, int timeout_ms)
{
    int64_t end = tix_now_ms() + timeout_ms;
    while (worker_store_ok(st) != want && tix_now_ms() < end)
        store_driver_pump(st, 50);
    return worker_store_ok(st) == want;
}

worker_store_t *
store_driver_new(const th_redis_t *r, const worker_store_opts_t *opts)
{
    tix_redis_url_t url;
    char why[200];
    assert_int_equal(tix_redis_url_parse(r->url, &url, why, sizeof why), TIX_OK);
    worker_store_t *st = worker_store_new(&url, opts);
    assert_non_null(st);
    assert_true(store_driver_wait_ok(st, true, 5000));
    return st;
}

void
store_driver_create(worker_store_t *st, const char *sale, uint32_t total, int64_t opens, int64_t closes,
                    store_driver_res_t *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(worker_store_create(st, sale, total, opens, closes, store_driver_capture, res), TIX_OK);
    assert_true(store_driver_wait_done(st, &res->done, 1, 5000));
}

void
store_driver_buy(worker_store_t *st, const char *sale, const char *user, const char *request_id,
                 store_driver_res_t *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(worker_store_buy(st, sale, user, request_id, store_driver_capture, res), TIX_OK);
    assert_true(store_driver_wait_done(st, &res->done, 1, 5000));
}

void
store_driver_get_sale(worker_store_t *st, const char *sale, store_driver_res_t *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(worker_store_get_sale(st, sale, store_driver_capture, res), TIX_OK);
    assert_true(store_driver_wait_done(st, &res->done, 1, 5000));
}

void
store_driver_get_order(worker_store_t *st, const char *sale, const char *user, store_driver_res_t *res)
{
    memset(res, 0, sizeof *res);
    assert_int_equal(worker_store_get_order(st, sale, user, store_driver_capture, res), TIX_OK);
    assert_true(store_driver_wait_done(st, &res->done, 1, 5000));
}

long long
store_driver_redis_cmd(const th_redis_t *r, const char *fmt, ...)
{
    redisContext *c = th_redis_connect(r);
    assert_non_null(c);
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply && reply->type == REDIS_REPLY_STRING)
        v = atoll(reply->str);
    if (reply)
        freeReplyObject(reply);
    redisFree(c);
    return v;
}

size_t
store_driver_libraries(const th_redis_t *r)
{
    redisContext *c = th_redis_connect(r);
    assert_non_null(c);
    redisReply *reply = redisCommand(c, "FUNCTION LIST");
    assert_true(reply && reply->type == REDIS_REPLY_ARRAY);
    size_t n = reply->elements;
    freeReplyObject(reply);
    redisFree(c);
    return n;
}

void
store_driver_create_open_sale(worker_store_t *st, const char *sale, uint32_t total)
{
    store_driver_res_t res;
    store_driver_create(st, sale, total, 0, 0, &res);
    assert_int_equal(res.err, TIX_OK);
    assert_int_equal(res.status, WORKER_STORE_CREATED);
}
