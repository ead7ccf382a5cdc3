/*
 * worker.c - the worker loop: the broker link (READY, heartbeats, liveness,
 * DISCONNECT), Redis's descriptor and timers in one zmq_poll, order events,
 * and the orderly stop.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tix_health.h"
#include "tix_log.h"
#include "tix_util.h"
#include "worker_priv.h"

/* ---- Sockets -------------------------------------------------------------- */

static zsock_t *
s_dealer_new(const worker_t *self)
{
    zsock_t *s = zsock_new(ZMQ_DEALER);
    if (!s)
        return NULL;
    /* Room for every credit granted plus heartbeats, both ways: a ROUTER
     * silently drops what does not fit. */
    int hwm = 2 * (int) self->config.capacity + 1000;
    zsock_set_sndhwm(s, hwm);
    zsock_set_rcvhwm(s, hwm);
    zsock_set_sndtimeo(s, 0); /* the loop never blocks on a send */
    zsock_set_rcvtimeo(s, 0);
    zsock_set_linger(s, 0);                             /* a silent broker's queue is not worth waiting for */
    zsock_set_maxmsgsize(s, 2 * TIX_MAX_MESSAGE_BYTES); /* a Job wraps one client body */
    if (self->config.curve && !tix_curve_client_apply(self->config.curve, s)) {
        tix_error("cannot set the CURVE keys\tsocket=backend err=\"%s\"", zmq_strerror(errno));
        zsock_destroy(&s);
        return NULL;
    }
    if (zsock_connect(s, "%s", self->config.backend) != 0) {
        tix_error("cannot connect the backend endpoint\tendpoint=%s reason=\"%s\"", self->config.backend,
                  zmq_strerror(errno));
        zsock_destroy(&s);
    }
    return s;
}

static zsock_t *
s_pub_new(const worker_t *self)
{
    zsock_t *s = zsock_new(ZMQ_PUB);
    if (!s)
        return NULL;
    zsock_set_sndhwm(s, 10000); /* beyond that events drop; the persister reads the log */
    zsock_set_linger(s, 0);
    if (self->config.curve && !tix_curve_client_apply(self->config.curve, s)) {
        tix_error("cannot set the CURVE keys\tsocket=events-in err=\"%s\"", zmq_strerror(errno));
        zsock_destroy(&s);
        return NULL;
    }
    if (zsock_connect(s, "%s", self->config.events_in) != 0) {
        tix_error("cannot connect the event intake endpoint\tendpoint=%s reason=\"%s\"", self->config.events_in,
                  zmq_strerror(errno));
        zsock_destroy(&s);
    }
    return s;
}

/* Sends [TXW1][command][body] without blocking. */
static void
s_send(worker_t *self, tix_wp_command command, const ProtobufCMessage *body)
{
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, command, body);
    if (zmsg_send(&msg, self->dealer) != 0) {
        self->stats.unsent++;
        tix_debug("broker socket refused a message\tcommand=%s", tix_wp_command_name(command));
    }
    zmsg_destroy(&msg);
}

bool
worker_redis_ok(const worker_t *self)
{
    return !self->draining && worker_store_ok(self->store);
}

void
worker_reply_send(worker_t *self, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms,
                  const ProtobufCMessage *body)
{
    Tix__Worker__V1__JobReply reply = TIX__WORKER__V1__JOB_REPLY__INIT;
    reply.job_id = job_id;
    reply.code = code;
    /* Redis error texts pass through here: send a valid UTF-8 prefix. */
    char text[TIX_MESSAGE_MAX_BYTES];
    const char *m = message ? message : "";
    size_t len = tix_utf8_prefix_len(m, sizeof text - 1);
    memcpy(text, m, len);
    text[len] = '\0';
    reply.message = text;
    reply.retry_after_ms = retry_after_ms;
    if (body) {
        size_t size = protobuf_c_message_get_packed_size(body);
        if (size > self->body_cap) {
            self->body_buf = xrealloc(self->body_buf, size);
            self->body_cap = size;
        }
        reply.body.len = protobuf_c_message_pack(body, self->body_buf);
        reply.body.data = self->body_buf;
    }
    s_send(self, TIX_WP_REPLY, &reply.base);
}

void
worker_order_publish(worker_t *self, const Tix__V1__Order *order, const char *log_id)
{
    Tix__V1__OrderEvent event = TIX__V1__ORDER_EVENT__INIT;
    event.order = (Tix__V1__Order *) order;
    event.log_id = (char *) log_id;
    event.worker_id = (char *) self->config.worker_id;
    zmsg_t *msg = zmsg_new();
    zmsg_addstrf(msg, "order.%s", order->sale_id);
    zframe_t *frame = tix_frame_pack(&event.base);
    zmsg_append(msg, &frame);
    if (zmsg_send(&msg, self->pub) == 0)
        self->stats.events++;
    else
        self->stats.events_unsent++;
    zmsg_destroy(&msg);
}

/* ---- The broker link ------------------------------------------------------ */

/* (Re)registers: a new session, all credits granted again. */
static void
s_send_ready(worker_t *self)
{
    Tix__Worker__V1__Ready ready = TIX__WORKER__V1__READY__INIT;
    ready.worker_id = (char *) self->config.worker_id;
    ready.capacity = self->config.capacity;
    ready.redis_ok = worker_redis_ok(self);
    ready.heartbeat_ms = self->config.heartbeat_ms;
    self->session++;
    self->session_jobs = 0;
    s_send(self, TIX_WP_READY, &ready.base);
    self->redis_ok_told = ready.redis_ok;
    int64_t now = tix_now_ms();
    self->next_heartbeat_ms = now + self->config.heartbeat_ms;
    self->broker_expiry_ms = now + (int64_t) WORKER_LIVENESS * self->config.heartbeat_ms;
}

static void
s_send_heartbeat(worker_t *self)
{
    Tix__Worker__V1__Heartbeat hb = TIX__WORKER__V1__HEARTBEAT__INIT;
    hb.redis_ok = worker_redis_ok(self);
    hb.in_flight = self->jobs_in_flight;
    s_send(self, TIX_WP_HEARTBEAT, &hb.base);
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
    zsock_destroy(&self->dealer);
    self->dealer = s_dealer_new(self);
    if (!self->dealer)
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
    size_t n = tix_frames_view(msg, 0, frames, 3);
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
    if (now >= self->next_heartbeat_ms || worker_redis_ok(self) != self->redis_ok_told)
        s_send_heartbeat(self); /* a Redis change is told at once: the broker's Health uses it */
    if (!self->draining && now >= self->broker_expiry_ms)
        return s_reconnect_broker(self);
    /* Healthy: the broker answers us and Redis works. */
    bool healthy = !self->draining && !self->broker_lost && worker_redis_ok(self);
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
    int n = worker_store_pollitem(self->store, &items[1]) ? 2 : 1;
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
    s_send(self, TIX_WP_DISCONNECT, NULL);
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
        s_send(self, TIX_WP_DISCONNECT, NULL); /* none in flight: no job runs without a ready Redis */
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
    self->dealer = s_dealer_new(self);
    self->pub = self->dealer ? s_pub_new(self) : NULL;
    if (!self->pub) {
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
    if (self->dealer)
        zsock_set_linger(self->dealer, WORKER_LINGER_MS);
    if (self->pub)
        zsock_set_linger(self->pub, WORKER_LINGER_MS);
    zsock_destroy(&self->dealer);
    zsock_destroy(&self->pub);
    if (self->started)
        tix_info("worker stopped\tjobs=%llu events=%llu events_unsent=%llu garbage=%llu stale=%llu unsent=%llu",
                 (unsigned long long) self->stats.jobs, (unsigned long long) self->stats.events,
                 (unsigned long long) self->stats.events_unsent, (unsigned long long) self->stats.garbage,
                 (unsigned long long) self->stats.stale, (unsigned long long) self->stats.unsent);
    worker_jobs_free(self);
    free(self->body_buf);
    free(self);
    *self_p = NULL;
}
