/*
 * cancel_log.c - order logs with cancellations on a wire_world; see
 * cancel_log.h.
 */
#include "cancel_log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "tix.pb-c.h"
#include "tix_util.h"

/* XADDs field/value pairs argv[0..argc) to sale's log; the entry id into
 * id. */
static void
s_xadd(redisContext *c, const char *sale, const char *const *argv, size_t argc, char *id, size_t id_size)
{
    const char *args[24];
    char key[96];
    assert_true(argc + 3 <= TIX_ARRAY_LEN(args));
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

void
cancel_log_buy(cancel_log_t *l, const char *sale, int from, int to)
{
    assert_true(from >= 0 && to <= CANCEL_LOG_ORDERS_MAX);
    redisContext *c = th_redis_connect(&l->world->redis);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SADD tix:sales %s", sale));
    for (int i = from; i < to; i++) {
        cancel_log_order_t *o = &l->orders[i];
        memset(o, 0, sizeof *o);
        snprintf(o->order_id, sizeof o->order_id, "%s:1:%d", sale, i + 1);
        snprintf(o->user_id, sizeof o->user_id, "user-%d", i + 1);
        snprintf(o->request_id, sizeof o->request_id, "req-%d", i + 1);
        o->purchased_at_ms = CANCEL_LOG_PURCHASED_AT + i;
        char at[24];
        snprintf(at, sizeof at, "%lld", (long long) o->purchased_at_ms);
        const char *argv[] = {"order_id",   o->order_id,   "sale_id",         sale, "user_id", o->user_id,
                              "request_id", o->request_id, "purchased_at_ms", at};
        s_xadd(c, sale, argv, TIX_ARRAY_LEN(argv), o->log_id, sizeof o->log_id);
    }
    redisFree(c);
}

void
cancel_log_cancel(cancel_log_t *l, const char *sale, int from, int to)
{
    assert_true(from >= 0 && to <= CANCEL_LOG_ORDERS_MAX);
    redisContext *c = th_redis_connect(&l->world->redis);
    assert_non_null(c);
    for (int i = from; i < to; i++) {
        cancel_log_order_t *o = &l->orders[i];
        o->cancelled_at_ms = CANCEL_LOG_CANCELLED_AT + i;
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
        s_xadd(c, sale, argv, TIX_ARRAY_LEN(argv), o->cancel_log_id, sizeof o->cancel_log_id);
    }
    redisFree(c);
}

void
cancel_log_event(cancel_log_t *l, const char *sale, const cancel_log_order_t *o, bool cancel, const char *log_id)
{
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
    assert_true(events_publish(l->world->xpub, &order, log_id, "test"));
}

const cancel_log_order_t *
cancel_log_find(const cancel_log_t *l, const char *order_id)
{
    for (int i = 0; i < CANCEL_LOG_ORDERS_MAX; i++) {
        if (l->orders[i].order_id[0] && strcmp(l->orders[i].order_id, order_id) == 0)
            return &l->orders[i];
    }
    return NULL;
}

persister_t *
cancel_log_persister_new(cancel_log_t *l, persister_sink_t *sink, size_t batch_max)
{
    assert_non_null(sink);
    return wire_world_persister_on(l->world, &sink, PERSISTER_W_MAJORITY, PERSISTER_BUFFER_MAX, batch_max);
}

int
cancel_log_setup(void **state)
{
    if (wire_world_setup(state) != 0)
        return -1;
    cancel_log_t *l = calloc(1, sizeof *l);
    if (!l)
        return -1;
    l->world = *state;
    *state = l;
    return 0;
}

int
cancel_log_teardown(void **state)
{
    cancel_log_t *l = *state;
    if (!l)
        return 0;
    th_ferretdb_stop(&l->ferret, "TERM");
    *state = l->world;
    free(l);
    return 0;
}
