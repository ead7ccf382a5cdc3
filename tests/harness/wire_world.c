/*
 * wire_world.c - the world around an in-process persister for the
 * wire-level tests; see wire_world.h.
 */
#include "wire_world.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "events.h"
#include "persister_mongo.h"
#include "tix.pb-c.h"
#include "tix_log.h"
#include "tix_util.h"

/* ---- The world around the persister ------------------------------------ */

void
wire_world_sell(wire_world_t *w, const char *sale, int first, int n, wire_world_order_t *orders)
{
    redisContext *c = th_redis_connect(&w->redis);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "SADD tix:sales %s", sale);
    freeReplyObject(r);
    for (int i = 0; i < n; i++) {
        wire_world_order_t *o = &orders[i];
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

void
wire_world_publish(wire_world_t *w, const char *sale, const wire_world_order_t *orders, int from, int to)
{
    for (int i = from; i < to; i++) {
        Tix__V1__Order o = TIX__V1__ORDER__INIT;
        o.order_id = (char *) orders[i].order_id;
        o.sale_id = (char *) sale;
        o.user_id = (char *) orders[i].user_id;
        o.request_id = "";
        o.purchased_at_ms = 1764400000000;
        assert_true(events_publish(w->xpub, &o, orders[i].log_id, "test"));
    }
}

persister_t *
wire_world_persister_on(wire_world_t *w, persister_sink_t **sink, int write_w, size_t buffer_max, size_t batch_max)
{
    persister_config_t c;
    persister_config_defaults(&c);
    c.redis_url = w->redis.url;
    c.events_out = w->events;
    c.write_w = write_w;
    c.catchup_ms = 200;
    c.batch_ms = 5;
    c.backoff_max_ms = 400;
    c.buffer_max = buffer_max;
    c.batch_max = batch_max;
    assert_non_null(*sink);
    persister_t *p = persister_new(&c, sink);
    assert_non_null(p);
    assert_null(*sink);
    return p;
}

persister_t *
wire_world_persister_new(wire_world_t *w, const char *uri, int write_w, size_t buffer_max, size_t batch_max)
{
    char why[256];
    persister_sink_t *sink = persister_mongo_new(uri, "tix", write_w, PERSISTER_WTIMEOUT_MS, why, sizeof why);
    if (!sink)
        fail_msg("sink: %s", why);
    return wire_world_persister_on(w, &sink, write_w, buffer_max, batch_max);
}

void
wire_world_wait_subscribed(wire_world_t *w, persister_t *p)
{
    int64_t deadline = tix_now_ms() + 5000;
    while (tix_now_ms() < deadline) {
        persister_step(p, 10);
        zpoller_t *poller = zpoller_new(w->xpub, NULL);
        bool got = zpoller_wait(poller, 0) == w->xpub;
        zpoller_destroy(&poller);
        if (got) {
            zframe_t *sub = zframe_recv(w->xpub);
            bool subscribe = zframe_size(sub) > 0 && zframe_data(sub)[0] == 1;
            zframe_destroy(&sub);
            if (subscribe)
                return;
        }
    }
    fail_msg("the persister did not subscribe");
}

/* ---- What the mock saw --------------------------------------------------- */

static void
s_count_statements(const bson_t *line, wire_world_seen_t *seen)
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

static void
s_collect(const bson_t *line, void *arg)
{
    wire_world_seen_t *seen = arg;
    if (mu_str(line, "fault"))
        seen->faults++;
    if (mu_is(line, "update", "orders")) {
        seen->order_writes++;
        s_count_statements(line, seen);
    }
}

void
wire_world_seen_read(const mu_t *m, const char *sale, wire_world_seen_t *seen)
{
    wire_world_seen_free(seen);
    memset(seen, 0, sizeof *seen);
    seen->sale = sale;
    seen->inserted = zhashx_new();
    seen->statements = zhashx_new();
    mu_each(m, s_collect, seen);
    seen->inserts = mu_inserted(m, "orders", seen->inserted);
    mu_cursor(m, sale, seen->cursor, sizeof seen->cursor);
}

void
wire_world_seen_free(wire_world_seen_t *seen)
{
    zhashx_destroy(&seen->inserted);
    zhashx_destroy(&seen->statements);
}

int
wire_world_times(zhashx_t *h, const char *id)
{
    return (int) (uintptr_t) zhashx_lookup(h, id);
}

void
wire_world_run_until_persisted(persister_t *p, const mu_t *m, const char *sale, int n, const char *last_log_id,
                               wire_world_seen_t *seen)
{
    int64_t deadline = tix_now_ms() + WIRE_WORLD_RUN_TIMEOUT_MS;
    while (tix_now_ms() < deadline) {
        persister_step(p, 20);
        const persister_stats_t *s = persister_stats(p);
        if (s->written + s->conflicts < (uint64_t) n || persister_held(p) > 0)
            continue;
        wire_world_seen_read(m, sale, seen);
        if (strcmp(seen->cursor, last_log_id) == 0)
            return;
    }
    wire_world_seen_read(m, sale, seen);
    fail_msg("not persisted in time: written=%llu held=%zu cursor='%s' (want %s)",
             (unsigned long long) persister_stats(p)->written, persister_held(p), seen->cursor, last_log_id);
}

void
wire_world_assert_each_once(const wire_world_seen_t *seen, const wire_world_order_t *orders, int n, int skip)
{
    for (int i = 0; i < n; i++) {
        if (i != skip)
            assert_int_equal(wire_world_times(seen->inserted, orders[i].order_id), 1);
    }
    assert_int_equal(zhashx_size(seen->inserted), (size_t) (skip >= 0 ? n - 1 : n));
    assert_int_equal(seen->inserts, skip >= 0 ? n - 1 : n);
}

void
wire_world_scenario(wire_world_t *w, mu_t *m, const char *sale, int n, const char *script, const char *uri_opts,
                    wire_world_seen_t *seen, persister_stats_t *stats, wire_world_order_t *orders)
{
    char uri[160];
    assert_true(mu_start(m, script));
    mu_uri(m, uri_opts, uri, sizeof uri);
    persister_t *p = wire_world_persister_new(w, uri, PERSISTER_W_MAJORITY, 50000, 500);
    wire_world_wait_subscribed(w, p);
    wire_world_sell(w, sale, 0, n, orders);
    wire_world_publish(w, sale, orders, 0, n);
    wire_world_run_until_persisted(p, m, sale, n, orders[n - 1].log_id, seen);
    *stats = *persister_stats(p);
    assert_int_equal(persister_drain(p, 1000), TIX_OK);
    persister_destroy(&p);
    mu_stop(m);
}

/* ---- Fixtures ------------------------------------------------------------ */

int
wire_world_group_setup(void **state)
{
    wire_world_t *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    *state = w;
    tix_log_set_level_name(getenv("TIX_LOG_LEVEL") ? getenv("TIX_LOG_LEVEL") : "error");
    if (!th_redis_start(&w->redis))
        return -1;
    snprintf(w->events, sizeof w->events, "tcp://127.0.0.1:%d", th_free_port());
    w->xpub = zsock_new(ZMQ_XPUB);
    zsock_set_xpub_verbose(w->xpub, 1);
    return zsock_bind(w->xpub, "%s", w->events) >= 0 ? 0 : -1;
}

int
wire_world_setup(void **state)
{
    wire_world_t *w = *state;
    redisContext *c = th_redis_connect(&w->redis);
    redisReply *r = c ? redisCommand(c, "FLUSHALL") : NULL;
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return ok ? 0 : -1;
}

int
wire_world_group_teardown(void **state)
{
    wire_world_t *w = *state;
    if (w) {
        zsock_destroy(&w->xpub);
        th_redis_stop(&w->redis);
    }
    free(w);
    *state = NULL;
    persister_mongo_cleanup();
    return 0;
}
