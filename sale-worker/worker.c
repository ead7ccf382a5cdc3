/*
 * worker.c - the worker loop, the top layer: the broker session (READY,
 * heartbeats, liveness, DISCONNECT), the ingress of broker messages, Redis's
 * descriptor and timers in one zmq_poll, and the orderly stop. JOBs go down
 * to worker_jobs.c; everything sent goes through worker_link.c.
 */
#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tix_health.h"
#include "tix_log.h"
#include "tix_util.h"
#include "worker_jobs.h"
#include "worker_link.h"
#include "worker_state.h"

/* ---- The broker session --------------------------------------------------- */

/* (Re)registers: a new session, all credits granted again. */
static void
s_send_ready(worker_t *self)
{
    Tix__Worker__V1__Ready ready = TIX__WORKER__V1__READY__INIT;
    ready.worker_id = (char *) self->config.worker_id;
    ready.capacity = self->config.capacity;
    ready.redis_ok = worker_state_redis_ok(self);
    ready.heartbeat_ms = self->config.heartbeat_ms;
    self->session++;
    self->session_jobs = 0;
    worker_link_send(self, TIX_WP_READY, &ready.base);
    self->redis_ok_told = ready.redis_ok;
    int64_t now = tix_now_ms();
    self->next_heartbeat_ms = now + self->config.heartbeat_ms;
    self->broker_expiry_ms = now + (int64_t) WORKER_LIVENESS * self->config.heartbeat_ms;
}

static void
s_send_heartbeat(worker_t *self)
{
    Tix__Worker__V1__Heartbeat hb = TIX__WORKER__V1__HEARTBEAT__INIT;
    hb.redis_ok = worker_state_redis_ok(self);
    hb.in_flight = self->jobs_in_flight;
    worker_link_send(self, TIX_WP_HEARTBEAT, &hb.base);
    self->redis_ok_told = hb.redis_ok;
    self->next_heartbeat_ms = tix_now_ms() + self->config.heartbeat_ms;
}

/* The broker has been silent for WORKER_LIVENESS intervals: it may have
 * restarted or the connection may be half-dead. A new DEALER gets a new
 * routing id and a clean connection. */
static tix_err
s_reconnect_broker(worker_t *self)
{
    if (!self->broker_lost)
        tix_warn("broker silent; reconnecting\tendpoint=%s silent_ms=%d", self->config.backend,
                 WORKER_LIVENESS * (int) self->config.heartbeat_ms);
    else
        tix_debug("broker still silent; reconnecting\tendpoint=%s", self->config.backend);
    self->broker_lost = true;
    if (!worker_link_redial(self))
        return TIX_ERR_IO;
    s_send_ready(self);
    return TIX_OK;
}

static void
s_on_heartbeat(worker_t *self, const ProtobufCMessage *body)
{
    (void) self;
    (void) body; /* liveness only, counted by the caller */
}

static void
s_on_job(worker_t *self, const ProtobufCMessage *body)
{
    worker_jobs_accept(self, (const Tix__Worker__V1__Job *) body, tix_now_ms());
}

static void
s_on_disconnect(worker_t *self, const ProtobufCMessage *body)
{
    (void) body;
    if (self->draining)
        return; /* we said we are leaving; the broker has let us go */
    /* Each message the broker got from us before our READY earns its own
     * DISCONNECT; answering each with READY would reset the new session,
     * and re-dispatch its jobs, again and again. One such READY per
     * heartbeat interval: if it was lost, the next heartbeat's DISCONNECT
     * brings another. */
    int64_t now = tix_now_ms();
    if (self->rejoined_at_ms && now - self->rejoined_at_ms < (int64_t) self->config.heartbeat_ms) {
        tix_debug("DISCONNECT answers a message sent before our READY; ignored");
        return;
    }
    self->rejoined_at_ms = now;
    tix_info("broker does not know this worker; registering again\tendpoint=%s", self->config.backend);
    s_send_ready(self);
}

/* What the broker may send; NULL rows (READY, REPLY) are protocol violations. */
static void (*const s_commands[TIX_WP_COUNT])(worker_t *, const ProtobufCMessage *) = {
    [TIX_WP_HEARTBEAT] = s_on_heartbeat,
    [TIX_WP_JOB] = s_on_job,
    [TIX_WP_DISCONNECT] = s_on_disconnect,
};

static void
s_on_message(worker_t *self, zmsg_t *msg)
{
    tix_frame_t frames[3];
    size_t n = tix_frames_view(msg, 0, frames, TIX_ARRAY_LEN(frames));
    tix_wp_command command;
    ProtobufCMessage *body = NULL;
    if (tix_wp_decode(frames, n, &command, &body) != TIX_OK || !s_commands[command]) {
        self->stats.garbage++;
        tix_debug("dropped a malformed broker message\tframes=%zu dropped=%llu", n,
                  (unsigned long long) self->stats.garbage);
        if (body)
            protobuf_c_message_free_unpacked(body, NULL);
        return;
    }
    self->broker_expiry_ms = tix_now_ms() + (int64_t) WORKER_LIVENESS * self->config.heartbeat_ms;
    if (self->broker_lost) {
        tix_info("broker heard again\tendpoint=%s", self->config.backend);
        self->broker_lost = false;
    }
    s_commands[command](self, body);
    if (body)
        protobuf_c_message_free_unpacked(body, NULL);
}

static void
s_recv_broker(worker_t *self)
{
    for (int i = 0; i < WORKER_RECV_BATCH; i++) {
        zmsg_t *msg = zmsg_recv(self->dealer);
        if (!msg)
            break;
        s_on_message(self, msg);
        zmsg_destroy(&msg);
    }
}

/* ---- The loop ------------------------------------------------------------- */

static tix_err
s_timers(worker_t *self)
{
    int64_t now = tix_now_ms();
    if (now >= self->next_heartbeat_ms || worker_state_redis_ok(self) != self->redis_ok_told)
        s_send_heartbeat(self); /* a Redis change is told at once: the broker's Health uses it */
    if (!self->draining && now >= self->broker_expiry_ms)
        return s_reconnect_broker(self);
    /* Healthy: the broker answers us and Redis works. */
    bool healthy = !self->draining && !self->broker_lost && worker_state_redis_ok(self);
    tix_health_tick(self->config.health_file, healthy, &self->health_at_ms);
    return TIX_OK;
}

static long
s_poll_timeout(const worker_t *self)
{
    int64_t now = tix_now_ms();
    int64_t due = self->next_heartbeat_ms;
    if (!self->draining && self->broker_expiry_ms < due)
        due = self->broker_expiry_ms;
    int store = worker_store_timeout_ms(self->store);
    if (store >= 0 && now + store < due)
        due = now + store;
    int64_t wait = due - now;
    return wait < 0 ? 0 : wait > WORKER_POLL_MAX_MS ? WORKER_POLL_MAX_MS : (long) wait;
}

static tix_err
s_poll_once(worker_t *self)
{
    zmq_pollitem_t items[2] = {{zsock_resolve(self->dealer), 0, ZMQ_POLLIN, 0}, {NULL, -1, 0, 0}};
    int n = worker_store_pollitem(self->store, &items[1]) ? (int) TIX_ARRAY_LEN(items) : 1;
    if (zmq_poll(items, n, s_poll_timeout(self)) < 0) {
        if (errno == EINTR)
            return TIX_OK; /* a signal: the caller looks at tix_stopping() */
        tix_error("poll failed\treason=\"%s\"", zmq_strerror(errno));
        return TIX_ERR_IO;
    }
    if (n == 2 && items[1].revents)
        worker_store_handle(self->store, items[1].revents);
    if (items[0].revents & ZMQ_POLLIN)
        s_recv_broker(self);
    worker_store_tick(self->store);
    if (worker_store_refusal(self->store)) {
        tix_error("%s", worker_store_refusal(self->store));
        return TIX_ERR_CONFIG;
    }
    return s_timers(self);
}

/* Stop: refuse new jobs, let the calls in flight answer, within bounds. */
static void
s_drain(worker_t *self)
{
    self->draining = true;
    tix_info("stopping\tin_flight=%u", self->jobs_in_flight);
    s_send_heartbeat(self); /* redis_ok=false from now on */
    /* Leaving: the broker sends no more jobs and waits for our answers. */
    worker_link_send(self, TIX_WP_DISCONNECT, NULL);
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
    tix_info("worker started\tworker_id=%s backend=%s events_in=%s capacity=%u heartbeat_ms=%u", self->config.worker_id,
             self->config.backend, self->config.events_in, self->config.capacity, self->config.heartbeat_ms);
    self->started = true;
    s_send_ready(self);
    tix_err err = TIX_OK;
    while (err == TIX_OK && !tix_stopping())
        err = s_poll_once(self);
    if (err == TIX_OK)
        s_drain(self);
    else if (err == TIX_ERR_CONFIG)
        worker_link_send(self, TIX_WP_DISCONNECT, NULL); /* none in flight: no job runs without a ready Redis */
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

void
worker_destroy(worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    worker_t *self = *self_p;
    self->draining = true;
    /* First, while the DEALER is open: pending calls answer UNAVAILABLE. */
    worker_store_destroy(&self->store);
    assert(self->jobs_in_flight == 0);
    worker_link_close(self);
    if (self->started)
        tix_info("worker stopped\tjobs=%llu events=%llu events_unsent=%llu garbage=%llu stale=%llu unsent=%llu",
                 (unsigned long long) self->stats.jobs, (unsigned long long) self->stats.events,
                 (unsigned long long) self->stats.events_unsent, (unsigned long long) self->stats.garbage,
                 (unsigned long long) self->stats.stale, (unsigned long long) self->stats.unsent);
    worker_link_jobs_free(self);
    free(self->body_buf);
    free(self);
    *self_p = NULL;
}
