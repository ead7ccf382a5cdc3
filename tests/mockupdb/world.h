/*
 * world.h - the world around an in-process persister, for the wire-level
 * tests (tests/test_it_persist_wire*.c): a real redis-server holding order
 * logs written as the sale worker's Lua writes them, an event feed (this
 * process's XPUB), a persister built from the library, and readers of what
 * tests/mockupdb/mock_mongo.py recorded.
 *
 * Header-only (static inline); include after <setjmp.h>, <stdarg.h>,
 * <stddef.h> and <cmocka.h>. Register s_setup for each test and
 * s_group_setup / s_group_teardown for the group. Single-threaded.
 */
#ifndef TIX_TEST_WORLD_H
#define TIX_TEST_WORLD_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <czmq.h>

#include "harness.h"
#include "mockupdb.h"
#include "persister.h"
#include "persister_mongo.h"
#include "tix_codec.h"
#include "tix_log.h"
#include "tix_util.h"

#define RUN_TIMEOUT_MS 20000

typedef struct {
    char order_id[80];
    char user_id[80];
    char log_id[48];
} s_order_t;

static th_redis_t s_redis;
static zsock_t *s_xpub; /* the event feed the persister subscribes to */
static char s_events[64];

/* ---- The world around the persister ------------------------------------ */

/* Sells n orders of sale as the sale worker's Lua does: the sale in
 * tix:sales, one stream entry per order. */
static inline void
s_sell(const char *sale, int first, int n, s_order_t *orders)
{
    redisContext *c = th_redis_connect(&s_redis);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "SADD tix:sales %s", sale);
    freeReplyObject(r);
    for (int i = 0; i < n; i++) {
        s_order_t *o = &orders[i];
        snprintf(o->order_id, sizeof o->order_id, "%s:%d", sale, first + i + 1);
        snprintf(o->user_id, sizeof o->user_id, "%s-u%d", sale, first + i + 1);
        r = redisCommand(c,
                         "XADD tix:{%s}:log * order_id %s sale_id %s user_id %s request_id req-%d "
                         "purchased_at_ms 1764400000%03d",
                         sale, o->order_id, sale, o->user_id, first + i + 1, i % 1000);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        snprintf(o->log_id, sizeof o->log_id, "%s", r->str);
        freeReplyObject(r);
    }
    redisFree(c);
}

static inline void
s_publish(const char *sale, const s_order_t *orders, int from, int to)
{
    char topic[96];
    snprintf(topic, sizeof topic, "order.%s", sale);
    for (int i = from; i < to; i++) {
        Tix__V1__Order o = TIX__V1__ORDER__INIT;
        o.order_id = (char *) orders[i].order_id;
        o.sale_id = (char *) sale;
        o.user_id = (char *) orders[i].user_id;
        o.request_id = "";
        o.purchased_at_ms = 1764400000000;
        Tix__V1__OrderEvent ev = TIX__V1__ORDER_EVENT__INIT;
        ev.order = &o;
        ev.log_id = (char *) orders[i].log_id;
        ev.worker_id = "test";
        zmsg_t *msg = zmsg_new();
        zmsg_addstr(msg, topic);
        zframe_t *body = tix_frame_pack(&ev.base);
        zmsg_append(msg, &body);
        assert_int_equal(zmsg_send(&msg, s_xpub), 0);
    }
}

static inline persister_t *
s_persister_new(const char *uri, int write_w, size_t buffer_max, size_t batch_max)
{
    persister_config_t c;
    persister_config_defaults(&c);
    c.mongo_uri = uri;
    c.redis_url = s_redis.url;
    c.events_out = s_events;
    c.write_w = write_w;
    c.catchup_ms = 200;
    c.batch_ms = 5;
    c.backoff_max_ms = 400;
    c.buffer_max = buffer_max;
    c.batch_max = batch_max;
    char why[256];
    persister_sink_t *sink = persister_mongo_new(uri, "tix", c.write_w, c.wtimeout_ms, why, sizeof why);
    assert_non_null(sink);
    persister_t *p = persister_new(&c, &sink);
    assert_non_null(p);
    assert_null(sink);
    return p;
}

/* Steps the persister until its subscription reached our XPUB. */
static inline void
s_wait_subscribed(persister_t *p)
{
    int64_t deadline = tix_now_ms() + 5000;
    while (tix_now_ms() < deadline) {
        persister_step(p, 10);
        zpoller_t *poller = zpoller_new(s_xpub, NULL);
        bool got = zpoller_wait(poller, 0) == s_xpub;
        zpoller_destroy(&poller);
        if (got) {
            zframe_t *sub = zframe_recv(s_xpub);
            bool subscribe = zframe_size(sub) > 0 && zframe_data(sub)[0] == 1;
            zframe_destroy(&sub);
            if (subscribe)
                return;
        }
    }
    fail_msg("the persister did not subscribe");
}

/* ---- What the mock saw --------------------------------------------------- */

typedef struct {
    const char *sale;
    zhashx_t *inserted;   /* order _id -> times inserted into the store */
    int inserts;          /* documents inserted into orders */
    int order_writes;     /* update commands on orders */
    int faults;           /* commands that met a scripted fault */
    char cursor[48];      /* the last acknowledged cursor of sale */
    zhashx_t *statements; /* order _id -> upsert statements sent */
} s_seen_t;

static inline void
s_count_statements(const bson_t *line, s_seen_t *seen)
{
    bson_iter_t it, st;
    if (!bson_iter_init(&it, line) || !bson_iter_find_descendant(&it, "doc.updates", &st) ||
        !bson_iter_recurse(&st, &it))
        return;
    while (bson_iter_next(&it)) {
        bson_iter_t q;
        if (bson_iter_recurse(&it, &q) && bson_iter_find_descendant(&q, "q._id", &st) && BSON_ITER_HOLDS_UTF8(&st)) {
            const char *id = bson_iter_utf8(&st, NULL);
            zhashx_update(seen->statements, id, (void *) ((uintptr_t) zhashx_lookup(seen->statements, id) + 1));
        }
    }
}

static inline void
s_count_inserted(const bson_t *line, s_seen_t *seen)
{
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, line, "inserted") || !bson_iter_recurse(&it, &arr))
        return;
    while (bson_iter_next(&arr)) {
        bson_iter_t id;
        if (bson_iter_recurse(&arr, &id) && bson_iter_find(&id, "_id") && BSON_ITER_HOLDS_UTF8(&id)) {
            const char *key = bson_iter_utf8(&id, NULL);
            zhashx_update(seen->inserted, key, (void *) ((uintptr_t) zhashx_lookup(seen->inserted, key) + 1));
            seen->inserts++;
        }
    }
}

static inline void
s_collect(const bson_t *line, void *arg)
{
    s_seen_t *seen = arg;
    bson_iter_t it;
    if (mu_str(line, "fault"))
        seen->faults++;
    if (mu_is(line, "update", "orders")) {
        seen->order_writes++;
        s_count_statements(line, seen);
        s_count_inserted(line, seen);
    }
    bool acked = bson_iter_init_find(&it, line, "reply") && BSON_ITER_HOLDS_DOCUMENT(&it) && !mu_str(line, "fault");
    if (mu_is(line, "update", "cursors") && acked) {
        for (int i = 0;; i++) {
            char path[64];
            snprintf(path, sizeof path, "doc.updates.%d.q._id", i);
            const char *sale = mu_str(line, path);
            if (!sale)
                break;
            snprintf(path, sizeof path, "doc.updates.%d.u.$set.log_id", i);
            if (strcmp(sale, seen->sale) == 0 && mu_str(line, path))
                snprintf(seen->cursor, sizeof seen->cursor, "%s", mu_str(line, path));
        }
    }
}

static inline void
s_seen_read(const mu_t *m, const char *sale, s_seen_t *seen)
{
    zhashx_destroy(&seen->inserted);
    zhashx_destroy(&seen->statements);
    memset(seen, 0, sizeof *seen);
    seen->sale = sale;
    seen->inserted = zhashx_new();
    seen->statements = zhashx_new();
    mu_each(m, s_collect, seen);
}

static inline void
s_seen_free(s_seen_t *seen)
{
    zhashx_destroy(&seen->inserted);
    zhashx_destroy(&seen->statements);
}

static inline int
s_times(zhashx_t *h, const char *id)
{
    return (int) (uintptr_t) zhashx_lookup(h, id);
}

/* Steps p until n orders are settled, nothing is held and the mock holds
 * the sale's cursor at last_log_id; fills seen. */
static inline void
s_run_until_persisted(persister_t *p, const mu_t *m, const char *sale, int n, const char *last_log_id, s_seen_t *seen)
{
    int64_t deadline = tix_now_ms() + RUN_TIMEOUT_MS;
    while (tix_now_ms() < deadline) {
        persister_step(p, 20);
        const persister_stats_t *s = persister_stats(p);
        if (s->written + s->conflicts < (uint64_t) n || persister_held(p) > 0)
            continue;
        s_seen_read(m, sale, seen);
        if (strcmp(seen->cursor, last_log_id) == 0)
            return;
    }
    s_seen_read(m, sale, seen);
    fail_msg("not persisted in time: written=%llu held=%zu cursor='%s' (want %s)",
             (unsigned long long) persister_stats(p)->written, persister_held(p), seen->cursor, last_log_id);
}

/* Every order inserted exactly once into the mock's store. */
static inline void
s_assert_each_once(const s_seen_t *seen, const s_order_t *orders, int n, int skip)
{
    for (int i = 0; i < n; i++) {
        if (i != skip)
            assert_int_equal(s_times(seen->inserted, orders[i].order_id), 1);
    }
    assert_int_equal(zhashx_size(seen->inserted), (size_t) (skip >= 0 ? n - 1 : n));
    assert_int_equal(seen->inserts, skip >= 0 ? n - 1 : n);
}

/* Sells n orders of sale with the mock following script; events for all
 * of them are published. Fills seen and stats. */
static inline void
s_scenario(mu_t *m, const char *sale, int n, const char *script, const char *uri_opts, s_seen_t *seen,
           persister_stats_t *stats, s_order_t *orders)
{
    char uri[160];
    assert_true(mu_start(m, script));
    mu_uri(m, uri_opts, uri, sizeof uri);
    persister_t *p = s_persister_new(uri, PERSISTER_W_MAJORITY, 50000, 500);
    s_wait_subscribed(p);
    s_sell(sale, 0, n, orders);
    s_publish(sale, orders, 0, n);
    s_run_until_persisted(p, m, sale, n, orders[n - 1].log_id, seen);
    *stats = *persister_stats(p);
    assert_int_equal(persister_drain(p, 1000), TIX_OK);
    persister_destroy(&p);
    mu_stop(m);
}

static inline int
s_group_setup(void **state)
{
    (void) state;
    tix_log_set_level_name(getenv("TIX_LOG_LEVEL") ? getenv("TIX_LOG_LEVEL") : "error");
    if (!th_redis_start(&s_redis))
        return -1;
    snprintf(s_events, sizeof s_events, "tcp://127.0.0.1:%d", th_free_port());
    s_xpub = zsock_new(ZMQ_XPUB);
    zsock_set_xpub_verbose(s_xpub, 1);
    return zsock_bind(s_xpub, "%s", s_events) >= 0 ? 0 : -1;
}

/* Each test starts from an empty Redis: a persister catches up every sale
 * it finds, and the counts below are per test. */
static inline int
s_setup(void **state)
{
    (void) state;
    redisContext *c = th_redis_connect(&s_redis);
    redisReply *r = c ? redisCommand(c, "FLUSHALL") : NULL;
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return ok ? 0 : -1;
}

static inline int
s_group_teardown(void **state)
{
    (void) state;
    zsock_destroy(&s_xpub);
    th_redis_stop(&s_redis);
    persister_mongo_cleanup();
    return 0;
}

#endif
