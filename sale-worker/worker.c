/*
 * worker.c - the worker loop, the top layer: one session per broker (READY,
 * heartbeats, liveness, DISCONNECT, each broker on its own), the ingress of
 * broker messages, every DEALER, Redis's descriptor and timers in one
 * zmq_poll, and the orderly stop. JOBs go down
 * to worker_jobs.c; everything sent goes through worker_link.c.
 */
#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix_arena.h"
#include "tix_health.h"
#include "tix_http.h"
#include "tix_log.h"
#include "tix_util.h"
#include "worker_http.h"
#include "worker_jobs.h"
#include "worker_link.h"
#include "worker_state.h"

/* ---- The broker sessions -------------------------------------------------- */

/* (Re)registers with b: a new session, all its credits granted again. */
static void
s_send_ready(worker_broker_t *b)
{
    worker_t *self = b->worker;
    Tix__Worker__V1__Ready ready = TIX__WORKER__V1__READY__INIT;
    ready.worker_id = (char *) self->config.worker_id;
    ready.capacity = self->config.capacity;
    ready.redis_ok = worker_state_redis_ok(self);
    ready.heartbeat_ms = self->config.heartbeat_ms;
    b->session = ++self->sessions;
    b->session_jobs = 0;
    worker_link_send(b, TIX_WP_READY, &ready.base);
    b->redis_ok_told = ready.redis_ok;
    int64_t now = tix_now_ms();
    b->next_heartbeat_ms = now + self->config.heartbeat_ms;
    b->broker_expiry_ms = now + (int64_t) WORKER_LIVENESS * self->config.heartbeat_ms;
}

static void
s_send_heartbeat(worker_broker_t *b)
{
    const worker_t *self = b->worker;
    Tix__Worker__V1__Heartbeat hb = TIX__WORKER__V1__HEARTBEAT__INIT;
    hb.redis_ok = worker_state_redis_ok(self);
    hb.in_flight = b->session_jobs;
    worker_link_send(b, TIX_WP_HEARTBEAT, &hb.base);
    b->redis_ok_told = hb.redis_ok;
    b->next_heartbeat_ms = tix_now_ms() + self->config.heartbeat_ms;
}

/* Broker b has been silent for WORKER_LIVENESS intervals: it may have
 * restarted, hung, or the connection may be half-dead. A new DEALER gets a
 * new routing id and a clean connection. The other brokers' sessions go on. */
static tix_err
s_reconnect_broker(worker_broker_t *b)
{
    if (!b->lost)
        tix_warn("broker silent; reconnecting\tendpoint=%s silent_ms=%d", b->endpoint,
                 WORKER_LIVENESS * (int) b->worker->config.heartbeat_ms);
    else
        tix_debug("broker still silent; reconnecting\tendpoint=%s", b->endpoint);
    b->lost = true;
    if (!worker_link_redial(b))
        return TIX_ERR_IO;
    s_send_ready(b);
    return TIX_OK;
}

static void
s_on_heartbeat(worker_broker_t *b, const ProtobufCMessage *body)
{
    (void) b;
    (void) body; /* liveness only, counted by the caller */
}

static void
s_on_job(worker_broker_t *b, const ProtobufCMessage *body)
{
    worker_jobs_accept(b, (const Tix__Worker__V1__Job *) body, tix_now_ms());
}

/* The broker's echo of our SALE_CHANGED: it has dropped what it cached. */
static void
s_on_sale_changed(worker_broker_t *b, const ProtobufCMessage *body)
{
    worker_link_notice_seen(b, ((const Tix__Worker__V1__SaleChanged *) body)->notice_id);
}

static void
s_on_disconnect(worker_broker_t *b, const ProtobufCMessage *body)
{
    (void) body;
    if (b->worker->draining)
        return; /* we said we are leaving; the broker has let us go */
    /* Each message the broker got from us before our READY earns its own
     * DISCONNECT; answering each with READY would reset the new session,
     * and re-dispatch its jobs, again and again. One such READY per
     * heartbeat interval: if it was lost, the next heartbeat's DISCONNECT
     * brings another. */
    int64_t now = tix_now_ms();
    if (b->rejoined_at_ms && now - b->rejoined_at_ms < (int64_t) b->worker->config.heartbeat_ms) {
        tix_debug("DISCONNECT answers a message sent before our READY; ignored\tendpoint=%s", b->endpoint);
        return;
    }
    b->rejoined_at_ms = now;
    tix_info("broker does not know this worker; registering again\tendpoint=%s", b->endpoint);
    s_send_ready(b);
}

/* What a broker may send; NULL rows (READY, REPLY) are protocol violations. */
static void (*const s_commands[TIX_WP_COUNT])(worker_broker_t *, const ProtobufCMessage *) = {
    [TIX_WP_HEARTBEAT] = s_on_heartbeat,
    [TIX_WP_JOB] = s_on_job,
    [TIX_WP_DISCONNECT] = s_on_disconnect,
    [TIX_WP_SALE_CHANGED] = s_on_sale_changed,
};

/* A JOB's envelope is read into this much stack (tix_arena.h): a Job
 * wraps a small request; a bigger one spills to the heap. The request
 * itself is unpacked again for the job, which keeps it. */
#define S_ENVELOPE_ARENA_BYTES 1024

static void
s_on_message(worker_broker_t *b, const tix_frame_t *frames, size_t n)
{
    worker_t *self = b->worker;
    _Alignas(16) uint8_t buf[S_ENVELOPE_ARENA_BYTES];
    tix_arena_t arena;
    tix_arena_init(&arena, buf, sizeof buf);
    tix_wp_command command;
    ProtobufCMessage *body = NULL;
    if (tix_wp_decode_in(frames, n, &command, &body, &arena.allocator) != TIX_OK || !s_commands[command]) {
        self->stats.garbage++;
        tix_debug("dropped a malformed broker message\tendpoint=%s frames=%zu dropped=%llu", b->endpoint, n,
                  (unsigned long long) self->stats.garbage);
        if (body)
            protobuf_c_message_free_unpacked(body, &arena.allocator);
        return;
    }
    b->broker_expiry_ms = tix_now_ms() + (int64_t) WORKER_LIVENESS * self->config.heartbeat_ms;
    if (b->lost) {
        tix_info("broker heard again\tendpoint=%s", b->endpoint);
        b->lost = false;
    }
    s_commands[command](b, body);
    if (body)
        protobuf_c_message_free_unpacked(body, &arena.allocator);
}

/* Reads one message from b's DEALER into parts (its first 3 frames; the
 * rest are read and dropped) and frames (views of them); returns its frame
 * count, 0 when nothing waits. zmq_msg rather than zmsg: no heap objects
 * per frame. The caller closes parts[0..min(n, 3)). */
static size_t
s_recv_parts(worker_broker_t *b, zmq_msg_t parts[3], tix_frame_t frames[3])
{
    void *raw = zsock_resolve(b->dealer);
    size_t n = 0;
    for (bool more = true; more; n++) {
        zmq_msg_t spare;
        zmq_msg_t *m = n < 3 ? &parts[n] : &spare;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m); /* none waits (a message's frames come together) */
            return n;
        }
        more = zmq_msg_more(m);
        if (m == &spare) {
            zmq_msg_close(m);
            continue;
        }
        frames[n].data = zmq_msg_data(m);
        frames[n].size = zmq_msg_size(m);
    }
    return n;
}

static void
s_recv_broker(worker_broker_t *b)
{
    for (int i = 0; i < WORKER_RECV_BATCH && b->dealer; i++) {
        zmq_msg_t parts[3];
        tix_frame_t frames[3];
        size_t n = s_recv_parts(b, parts, frames);
        if (n == 0)
            break;
        s_on_message(b, frames, n);
        for (size_t f = 0; f < n && f < 3; f++)
            zmq_msg_close(&parts[f]);
    }
}

/* ---- The loop ------------------------------------------------------------- */

/* b's heartbeat and liveness. A Redis change is told at once: the broker's
 * Health uses it. */
static tix_err
s_broker_timers(worker_broker_t *b, int64_t now)
{
    const worker_t *self = b->worker;
    if (now >= b->next_heartbeat_ms || worker_state_redis_ok(self) != b->redis_ok_told)
        s_send_heartbeat(b);
    if (!self->draining && now >= b->broker_expiry_ms)
        return s_reconnect_broker(b);
    return TIX_OK;
}

static tix_err
s_timers(worker_t *self)
{
    int64_t now = tix_now_ms();
    bool heard = false;
    for (size_t i = 0; i < self->nbrokers; i++) {
        tix_err err = s_broker_timers(&self->brokers[i], now);
        if (err != TIX_OK)
            return err;
        heard |= !self->brokers[i].lost;
    }
    /* Healthy: a broker answers us and Redis works. One broker gone does
     * not make the worker unhealthy: it serves the others. */
    bool healthy = !self->draining && heard && worker_state_redis_ok(self);
    tix_health_tick(self->config.health_file, healthy, &self->health_at_ms);
    worker_link_notices_tick(self, now);
    return TIX_OK;
}

static long
s_poll_timeout(const worker_t *self)
{
    int64_t now = tix_now_ms();
    int64_t due = now + WORKER_POLL_MAX_MS;
    for (size_t i = 0; i < self->nbrokers; i++) {
        const worker_broker_t *b = &self->brokers[i];
        if (b->next_heartbeat_ms < due)
            due = b->next_heartbeat_ms;
        if (!self->draining && b->broker_expiry_ms < due)
            due = b->broker_expiry_ms;
    }
    long http = tix_http_timeout_ms(self->http);
    if (http >= 0 && now + http < due)
        due = now + http;
    int store = worker_store_timeout_ms(self->store);
    if (store >= 0 && now + store < due)
        due = now + store;
    int64_t held = worker_link_notices_due(self);
    if (held < due)
        due = held;
    int64_t wait = due - now;
    return wait < 0 ? 0 : wait > WORKER_POLL_MAX_MS ? WORKER_POLL_MAX_MS : (long) wait;
}

/* Polls every broker's DEALER, Redis's descriptor and --http's. */
static tix_err
s_poll_once(worker_t *self)
{
    zmq_pollitem_t items[WORKER_BROKERS_MAX + 2];
    size_t nb = self->nbrokers;
    for (size_t i = 0; i < nb; i++)
        items[i] = (zmq_pollitem_t){self->brokers[i].dealer ? zsock_resolve(self->brokers[i].dealer) : NULL, -1,
                                    ZMQ_POLLIN, 0};
    items[nb] = (zmq_pollitem_t){NULL, -1, 0, 0};
    int n = worker_store_pollitem(self->store, &items[nb]) ? (int) nb + 1 : (int) nb;
    int http_i = tix_http_pollitem(self->http, &items[n]) ? n++ : -1;
    if (zmq_poll(items, n, s_poll_timeout(self)) < 0) {
        if (errno == EINTR)
            return TIX_OK; /* a signal: the caller looks at tix_stopping() */
        tix_error("poll failed\treason=\"%s\"", zmq_strerror(errno));
        return TIX_ERR_IO;
    }
    if (n > (int) nb && nb != (size_t) http_i && items[nb].revents)
        worker_store_handle(self->store, items[nb].revents);
    if (http_i >= 0) /* scrapes and probes, from this loop: a stuck loop fails them */
        tix_http_run(self->http, items[http_i].revents);
    for (size_t i = 0; i < nb; i++) {
        if (items[i].revents & ZMQ_POLLIN)
            s_recv_broker(&self->brokers[i]);
    }
    worker_store_tick(self->store);
    if (worker_store_refusal(self->store)) {
        tix_error("%s", worker_store_refusal(self->store));
        return TIX_ERR_CONFIG;
    }
    return s_timers(self);
}

/* Tells every broker: a heartbeat (when heartbeat) and DISCONNECT. */
static void
s_leave_all(worker_t *self, bool heartbeat)
{
    for (size_t i = 0; i < self->nbrokers; i++) {
        if (heartbeat)
            s_send_heartbeat(&self->brokers[i]); /* redis_ok=false from now on */
        worker_link_send(&self->brokers[i], TIX_WP_DISCONNECT, NULL);
    }
}

/* Stop: refuse new jobs, let the calls in flight answer, within bounds. */
static void
s_drain(worker_t *self)
{
    self->draining = true;
    tix_info("stopping\tin_flight=%u", self->jobs_in_flight);
    /* Leaving: the brokers send no more jobs and wait for our answers. */
    s_leave_all(self, true);
    int64_t deadline = tix_now_ms() + WORKER_DRAIN_MS;
    while (self->jobs_in_flight > 0 && tix_now_ms() < deadline) {
        if (s_poll_once(self) != TIX_OK)
            break;
    }
    if (self->jobs_in_flight > 0)
        tix_warn("calls still in flight at stop; answering them UNAVAILABLE\tin_flight=%u", self->jobs_in_flight);
}

tix_err
worker_run(worker_t *self)
{
    tix_info("worker started\tworker_id=%s backend=%s brokers=%zu events_in=%s capacity=%u heartbeat_ms=%u",
             self->config.worker_id, self->config.backend, self->nbrokers, self->config.events_in,
             self->config.capacity, self->config.heartbeat_ms);
    self->started = true;
    for (size_t i = 0; i < self->nbrokers; i++)
        s_send_ready(&self->brokers[i]);
    tix_err err = TIX_OK;
    while (err == TIX_OK && !tix_stopping())
        err = s_poll_once(self);
    if (err == TIX_OK)
        s_drain(self);
    else if (err == TIX_ERR_CONFIG)
        s_leave_all(self, false); /* none in flight: no job runs without a ready Redis */
    return err;
}

/* ---- Lifecycle ------------------------------------------------------------ */

worker_t *
worker_new(const worker_config_t *config)
{
    char why[256];
    if (worker_config_check(config, why, sizeof why) != TIX_OK) {
        tix_error("%s", why);
        return NULL;
    }
    worker_t *self = xcalloc(1, sizeof *self);
    self->config = *config;
    if (!worker_link_open(self)) {
        worker_destroy(&self);
        return NULL;
    }
    self->store = worker_store_new(&config->redis, &config->store_opts);
    return self;
}

bool
worker_open_http(worker_t *self)
{
    char why[300];
    if (worker_http_open(self, why, sizeof why) != TIX_OK) {
        fprintf(stderr, "tix-worker: --http: %s\n", why);
        return false;
    }
    if (self->http)
        tix_info("http listening\taddress=%s port=%d", self->config.http, tix_http_port(self->http));
    return true;
}

/* The sizes of the buy batches sent (bench/run.sh reads this line). */
static void
s_log_batches(worker_t *self)
{
    worker_store_batch_stats_t b;
    worker_store_batch_stats(self->store, &b);
    const uint64_t *z = b.sizes;
    tix_info(
        "buy batches	calls=%llu buys=%llu mean=%.2f max=%u sizes=1:%llu,2-3:%llu,4-7:%llu,8-15:%llu,16-31:%llu,"
        "32-63:%llu,64-127:%llu,128:%llu",
        (unsigned long long) b.calls, (unsigned long long) b.buys, b.calls ? (double) b.buys / (double) b.calls : 0.0,
        b.max, (unsigned long long) z[0], (unsigned long long) z[1], (unsigned long long) z[2],
        (unsigned long long) z[3], (unsigned long long) z[4], (unsigned long long) z[5], (unsigned long long) z[6],
        (unsigned long long) z[7]);
}

void
worker_destroy(worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    worker_t *self = *self_p;
    self->draining = true;
    if (self->started)
        s_log_batches(self);
    worker_http_close(self);
    /* First, while the DEALER is open: pending calls answer UNAVAILABLE,
     * replies held for the brokers' echoes go out now. */
    worker_store_destroy(&self->store);
    worker_link_notices_tick(self, INT64_MAX);
    assert(self->jobs_in_flight == 0);
    worker_link_close(self);
    if (self->started)
        tix_info("worker stopped\tjobs=%llu events=%llu events_unsent=%llu garbage=%llu stale=%llu unsent=%llu "
                 "notices=%llu notice_waits=%llu",
                 (unsigned long long) self->stats.jobs, (unsigned long long) self->stats.events,
                 (unsigned long long) self->stats.events_unsent, (unsigned long long) self->stats.garbage,
                 (unsigned long long) self->stats.stale, (unsigned long long) self->stats.unsent,
                 (unsigned long long) self->stats.notices, (unsigned long long) self->stats.notice_waits);
    worker_link_jobs_free(self);
    free(self->body_buf);
    free(self->wire_buf);
    free(self);
    *self_p = NULL;
}
