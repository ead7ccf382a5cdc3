/*
 * cancels.h - order logs with cancellations, for the persister's cancel
 * tests (tests/test_it_persist_cancel.c, test_it_persist_wire_cancel.c):
 * purchase and cancel entries appended to tix:{S}:log with XADD exactly as
 * the sale worker's Lua appends them (docs/REDIS.md), and their OrderEvents
 * published on world.h's XPUB. No worker needed.
 *
 * A cancel entry: kind "cancel", the order's order_id, sale_id, user_id,
 * request_id, purchased_at_ms, then cancelled_at_ms and cancel_reason; its
 * own entry id.
 *
 * Header-only (static inline); include after mockupdb/world.h.
 * Single-threaded.
 */
#ifndef TIX_TEST_CANCELS_H
#define TIX_TEST_CANCELS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "world.h"

typedef struct {
    char order_id[80];
    char user_id[80];
    char request_id[32];
    char reason[48];
    char log_id[48];        /* the purchase entry's */
    char cancel_log_id[48]; /* the cancel entry's; "" until cancelled */
    int64_t purchased_at_ms;
    int64_t cancelled_at_ms;
} c_order_t;

#define C_PURCHASED_AT 1764400000000LL
#define C_CANCELLED_AT 1764400500000LL

static inline void
c_xadd(redisContext *c, const char *sale, const char *const *argv, size_t argc, char *id, size_t id_size)
{
    const char *args[24];
    char key[96];
    snprintf(key, sizeof key, "tix:{%s}:log", sale);
    args[0] = "XADD";
    args[1] = key;
    args[2] = "*";
    for (size_t i = 0; i < argc; i++)
        args[3 + i] = argv[i];
    redisReply *r = redisCommandArgv(c, (int) argc + 3, args, NULL);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    snprintf(id, id_size, "%s", r->str);
    freeReplyObject(r);
}

/* Purchase entries for orders[from..to) of sale (the order ids are
 * "<sale>:1:<i+1>", as a worker issues them). */
static inline void
c_buy(const char *sale, c_order_t *orders, int from, int to)
{
    redisContext *c = th_redis_connect(&s_redis);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SADD tix:sales %s", sale));
    for (int i = from; i < to; i++) {
        c_order_t *o = &orders[i];
        memset(o, 0, sizeof *o);
        snprintf(o->order_id, sizeof o->order_id, "%s:1:%d", sale, i + 1);
        snprintf(o->user_id, sizeof o->user_id, "user-%d", i + 1);
        snprintf(o->request_id, sizeof o->request_id, "req-%d", i + 1);
        o->purchased_at_ms = C_PURCHASED_AT + i;
        char at[24];
        snprintf(at, sizeof at, "%lld", (long long) o->purchased_at_ms);
        const char *argv[] = {"order_id",   o->order_id,   "sale_id",         sale, "user_id", o->user_id,
                              "request_id", o->request_id, "purchased_at_ms", at};
        c_xadd(c, sale, argv, TIX_ARRAY_LEN(argv), o->log_id, sizeof o->log_id);
    }
    redisFree(c);
}

/* Cancel entries for orders[from..to) (bought before). */
static inline void
c_cancel(const char *sale, c_order_t *orders, int from, int to)
{
    redisContext *c = th_redis_connect(&s_redis);
    assert_non_null(c);
    for (int i = from; i < to; i++) {
        c_order_t *o = &orders[i];
        o->cancelled_at_ms = C_CANCELLED_AT + i;
        snprintf(o->reason, sizeof o->reason, "payment failed (%d)", i + 1);
        char at[24], cancelled[24];
        snprintf(at, sizeof at, "%lld", (long long) o->purchased_at_ms);
        snprintf(cancelled, sizeof cancelled, "%lld", (long long) o->cancelled_at_ms);
        const char *argv[] = {"kind",
                              "cancel",
                              "order_id",
                              o->order_id,
                              "sale_id",
                              sale,
                              "user_id",
                              o->user_id,
                              "request_id",
                              o->request_id,
                              "purchased_at_ms",
                              at,
                              "cancelled_at_ms",
                              cancelled,
                              "cancel_reason",
                              o->reason};
        c_xadd(c, sale, argv, TIX_ARRAY_LEN(argv), o->cancel_log_id, sizeof o->cancel_log_id);
    }
    redisFree(c);
}

/* Publishes the event of o's purchase (cancel false) or cancel (true),
 * naming log_id. */
static inline void
c_event(const char *sale, const c_order_t *o, bool cancel, const char *log_id)
{
    char topic[96];
    snprintf(topic, sizeof topic, "order.%s", sale);
    Tix__V1__Order order = TIX__V1__ORDER__INIT;
    order.order_id = (char *) o->order_id;
    order.sale_id = (char *) sale;
    order.user_id = (char *) o->user_id;
    order.request_id = (char *) o->request_id;
    order.purchased_at_ms = o->purchased_at_ms;
    if (cancel) {
        order.cancelled_at_ms = o->cancelled_at_ms;
        order.cancel_reason = (char *) o->reason;
    }
    Tix__V1__OrderEvent ev = TIX__V1__ORDER_EVENT__INIT;
    ev.order = &order;
    ev.log_id = (char *) log_id;
    ev.worker_id = "test";
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, topic);
    zframe_t *body = tix_frame_pack(&ev.base);
    zmsg_append(msg, &body);
    assert_int_equal(zmsg_send(&msg, s_xpub), 0);
}

/* A persister on sink with the world's Redis and event feed. */
static inline persister_t *
c_persister_new(persister_sink_t *sink, size_t batch_max)
{
    persister_config_t c;
    persister_config_defaults(&c);
    c.redis_url = s_redis.url;
    c.events_out = s_events;
    c.catchup_ms = 200;
    c.batch_ms = 5;
    c.backoff_max_ms = 400;
    c.batch_max = batch_max;
    assert_non_null(sink);
    persister_t *p = persister_new(&c, &sink);
    assert_non_null(p);
    return p;
}

#endif
