/*
 * broker_frontend.c - calls from clients: envelope, decoding, admission
 * (admin allow-list, rate limits, the queue's bound) and the method handler
 * table.
 */
#include "broker_frontend.h"

#include <stdio.h>
#include <string.h>

#include "broker_dispatch.h"
#include "broker_reply.h"
#include "broker_soldout.h"
#include "tix_log.h"
#include "tix_util.h"

typedef void(broker_handler_fn)(broker_t *self, const broker_call_in_t *in, tix_call_t *call);

/* Health.Check: answered here. SERVING while some live worker has Redis. */
static void
s_on_health(broker_t *self, const broker_call_in_t *in, tix_call_t *call)
{
    const Tix__V1__HealthCheckRequest *req = (const Tix__V1__HealthCheckRequest *) call->request;
    static const char *const known[] = {"", "tix.v1.TicketService", "tix.v1.AdminService", "tix.v1.Health"};
    Tix__V1__HealthCheckResponse resp = TIX__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    for (size_t i = 0; i < TIX_ARRAY_LEN(known); i++) {
        if (strcmp(req->service, known[i]) == 0) {
            bool serving = !self->draining && broker_workers_any_serving(self->workers);
            resp.status = serving ? TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                  : TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
        }
    }
    uint8_t buf[16];
    size_t size = tix__v1__health_check_response__pack(&resp, buf);
    tix_status_t status = {call->call_id, TIX__V1__CODE__OK, NULL, 0};
    broker_reply_send(self, &in->frame[0], &status, buf, size);
}

/* The retry_after_ms to suggest with RESOURCE_EXHAUSTED right now. */
static uint32_t
s_retry_after_ms(const broker_t *self)
{
    /* Time for the workers to drain what is queued, at their recent pace;
     * before any pace is measured, assume a modest 5,000 calls/s. */
    double rate = self->replies_per_ms > 0.1 ? self->replies_per_ms : 5.0;
    double ms = (double) broker_jobs_queued(self->jobs) / rate;
    if (ms < 20)
        ms = 20;
    if (ms > 1000)
        ms = 1000;
    return (uint32_t) ms;
}

/* The queue is full: a client holding less than its share of it (the
 * limit over the clients waiting) takes the place of the newest call of the
 * client holding most, which is refused as if it had come last. False when
 * this client already holds its share. */
static bool
s_make_room(broker_t *self)
{
    broker_job_t *victim = broker_jobs_steal(self->jobs, self->call_flow);
    if (!victim)
        return false;
    self->stats.exhausted++;
    self->stats.fair_refused++;
    broker_reply_answer(self, victim, TIX__V1__CODE__RESOURCE_EXHAUSTED,
                        "broker: queue full, this client holds more than its share of it; retry later",
                        s_retry_after_ms(self), NULL, 0);
    return true;
}

/* Every method served by workers: answered at the sold-out edge when it can
 * be (broker_soldout.h), else admission, then the queue. */
static void
s_on_forward(broker_t *self, const broker_call_in_t *in, tix_call_t *call)
{
    const tix_frame_t *client = &in->frame[0];
    if (broker_soldout_answer(self, client, call))
        return;
    if (self->draining) {
        self->stats.unavailable++;
        broker_reply_status(self, client, call->call_id, TIX__V1__CODE__UNAVAILABLE, "broker: shutting down",
                            BROKER_NO_WORKER_RETRY_MS);
        return;
    }
    if (broker_workers_count(self->workers) == 0) {
        self->stats.unavailable++;
        broker_reply_status(self, client, call->call_id, TIX__V1__CODE__UNAVAILABLE, "broker: no sale worker connected",
                            BROKER_NO_WORKER_RETRY_MS);
        return;
    }
    if (broker_jobs_queued(self->jobs) >= self->config.queue_limit && !s_make_room(self)) {
        self->stats.exhausted++;
        broker_reply_status(self, client, call->call_id, TIX__V1__CODE__RESOURCE_EXHAUSTED,
                            "broker: queue full, retry later", s_retry_after_ms(self));
        return;
    }
    uint32_t timeout = call->timeout_ms ? call->timeout_ms : self->config.default_timeout_ms;
    if (timeout > self->config.max_timeout_ms)
        timeout = self->config.max_timeout_ms;
    broker_job_t *job = broker_jobs_alloc(self->jobs);
    /* The frames are the receive's, reused for the next call: the job
     * keeps copies, in its slot's bytes. */
    broker_jobs_set_call(job, client, &call->body);
    job->method = call->method;
    job->call_id = call->call_id;
    job->received_ns = self->call_ns;
    job->deadline_ms = tix_now_ms() + timeout;
    tix_curve_key_short(self->call_key, job->client_key);
    job->flow = self->call_flow;
    broker_jobs_push_back(self->jobs, job);
    broker_dispatch(self);
}

static broker_handler_fn *const s_handlers[TIX_METHOD_COUNT] = {
    [TIX_METHOD_PURCHASE] = s_on_forward,    [TIX_METHOD_GET_SALE] = s_on_forward,
    [TIX_METHOD_GET_ORDER] = s_on_forward,   [TIX_METHOD_CREATE_SALE] = s_on_forward,
    [TIX_METHOD_HEALTH_CHECK] = s_on_health, [TIX_METHOD_CLOSE_SALE] = s_on_forward,
    [TIX_METHOD_LIST_SALES] = s_on_forward,  [TIX_METHOD_CANCEL_ORDER] = s_on_forward,
    [TIX_METHOD_LIST_ORDERS] = s_on_forward,
};

/* AdminService under CURVE: only keys on the admin allow-list. True (after
 * answering PERMISSION_DENIED) when the call must go no further. */
static bool
s_admin_denied(broker_t *self, const tix_frame_t *client, const tix_call_t *call)
{
    if (!self->zap || !call->method->admin || broker_zap_curve_is_admin(self->config.curve, self->call_key))
        return false;
    char key[TIX_CURVE_KEY_SHOWN + 1];
    tix_curve_key_short(self->call_key, key);
    tix_debug("admin call refused\tmethod=%s key=%s", call->method->name, key);
    broker_reply_status(self, client, call->call_id, TIX__V1__CODE__PERMISSION_DENIED,
                        "admin: this client's CURVE key is not on the broker's admin allow-list (--curve-admins)", 0);
    return true;
}

/* The client's CURVE public key (ZAP User-Id) into self->call_key ("" when
 * CURVE is off), and the client's flow key: its CURVE key when CURVE is on
 * (one share per key, however many connections), else its connection's
 * routing id. */
static void
s_identify(broker_t *self, const broker_call_in_t *in)
{
    self->call_key[0] = '\0';
    if (self->zap)
        snprintf(self->call_key, sizeof self->call_key, "%s", in->user_id ? in->user_id : "");
    if (self->call_key[0])
        self->call_flow = broker_jobs_flow_key(self->jobs, self->call_key, strlen(self->call_key));
    else
        self->call_flow = broker_jobs_flow_key(self->jobs, in->frame[0].data, in->frame[0].size);
}

/* The user a call is made for, when its request names one (a user_id
 * field): the rate limit's key. */
static const char *
s_rate_key(const tix_call_t *call)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(call->method->input, "user_id");
    if (!field || field->type != PROTOBUF_C_TYPE_STRING || !call->request)
        return NULL;
    return *(const char *const *) ((const char *) call->request + field->offset);
}

/* True (after answering RESOURCE_EXHAUSTED) when the call's client is over
 * its rate (every method), or the call's user over theirs (methods naming
 * a user_id): far more calls than a client or a person makes. */
static bool
s_rate_limited(broker_t *self, const tix_frame_t *client, const tix_call_t *call)
{
    int64_t now = tix_now_ms();
    const char *why = "rate limit: too many calls from this client, retry later";
    uint32_t wait_ms = broker_limit_take(self->client_limit, &self->call_flow, sizeof self->call_flow, now);
    const char *key = s_rate_key(call);
    if (wait_ms == 0 && key) {
        why = "rate limit: too many calls for this user_id, retry later";
        wait_ms = broker_limit_take(self->limit, key, strlen(key), now);
    }
    if (wait_ms == 0)
        return false;
    self->stats.rate_limited++;
    self->stats.exhausted++;
    broker_reply_status(self, client, call->call_id, TIX__V1__CODE__RESOURCE_EXHAUSTED, why, wait_ms);
    return true;
}

/* Decodes the call after its envelope: [empty][TIX1][CallHeader][body],
 * its header and request unpacked in the broker's arena. */
static void
s_decode(broker_t *self, const broker_call_in_t *in, tix_call_t *call)
{
    if (in->nframes < 2 || in->frame[1].size != 0) {
        call->call_id = 0;
        call->method = NULL;
        call->request = NULL;
        call->alloc = NULL;
        call->code = TIX__V1__CODE__INVALID_ARGUMENT;
        snprintf(call->message, sizeof call->message, "frames: expected an empty delimiter before TIX1");
        return;
    }
    /* More frames than views: decode what fits (for the call_id), then
     * report the true count. */
    size_t n = in->nframes - 2, viewed = BROKER_CALL_FRAMES - 2;
    tix_arena_reset(&self->call_arena);
    tix_call_decode_with(&in->frame[2], n < viewed ? n : viewed, call, &self->call_arena.allocator);
    if (n > viewed) {
        call->code = TIX__V1__CODE__INVALID_ARGUMENT;
        snprintf(call->message, sizeof call->message, "frames: expected 3 after the delimiter, got %zu", n);
    }
}

/* Handles one call: identity, decoding, admission, its method's handler. */
static void
s_handle(broker_t *self, const broker_call_in_t *in)
{
    self->stats.calls++;
    self->call_ns = tix_metrics_now_ns();
    s_identify(self, in);
    tix_call_t call;
    s_decode(self, in, &call);
    /* What the answer sent from here counts (broker_reply.c, /metrics). */
    self->call_method = call.method;
    self->call_body = call.body;
    if (call.code != TIX__V1__CODE__OK) {
        self->stats.invalid++;
        broker_reply_status(self, &in->frame[0], call.call_id, call.code, call.message, 0);
    } else if (!s_admin_denied(self, &in->frame[0], &call) && !s_rate_limited(self, &in->frame[0], &call)) {
        s_handlers[call.method->id](self, in, &call);
    }
    self->call_method = NULL; /* answers sent from here on answer jobs */
    self->call_body = (tix_frame_t){NULL, 0};
    tix_call_clear(&call);
}

/* Receives one call's frames into self->call_msgs (frames past
 * BROKER_CALL_FRAMES are received and only counted) and views them in *in.
 * False when none is waiting. */
static bool
s_recv(broker_t *self, void *sock, broker_call_in_t *in)
{
    zmq_msg_t *m = self->call_msgs;
    if (zmq_msg_recv(&m[0], sock, ZMQ_DONTWAIT) < 0)
        return false;
    size_t n = 1;
    zmq_msg_t extra, *last = &m[0];
    zmq_msg_init(&extra);
    while (zmq_msg_more(last)) { /* the rest of a message is there with its first frame */
        last = n < BROKER_CALL_FRAMES ? &m[n] : &extra;
        if (zmq_msg_recv(last, sock, ZMQ_DONTWAIT) < 0)
            break;
        n++;
    }
    zmq_msg_close(&extra);
    in->nframes = n;
    for (size_t i = 0; i < n && i < BROKER_CALL_FRAMES; i++) {
        in->frame[i].data = zmq_msg_data(&m[i]);
        in->frame[i].size = zmq_msg_size(&m[i]);
    }
    /* The ZAP User-Id, from the routing id or else the first frame after
     * it (libzmq attaches it to the frames that came over the wire). */
    in->user_id = NULL;
    if (self->zap) {
        in->user_id = zmq_msg_gets(&m[0], "User-Id");
        if (!in->user_id && n > 1)
            in->user_id = zmq_msg_gets(&m[1], "User-Id");
    }
    return true;
}

size_t
broker_frontend_drain(broker_t *self, size_t max)
{
    void *sock = zsock_resolve(self->frontend);
    broker_call_in_t in;
    size_t handled = 0;
    while (handled < max && s_recv(self, sock, &in)) {
        s_handle(self, &in);
        handled++;
    }
    return handled;
}

void
broker_frontend_recv(broker_t *self, zmsg_t **msg_p)
{
    broker_call_in_t in;
    in.nframes = tix_frames_view(*msg_p, 0, in.frame, BROKER_CALL_FRAMES);
    in.user_id = NULL;
    for (zframe_t *f = zmsg_first(*msg_p); self->zap && f && !in.user_id; f = zmsg_next(*msg_p))
        in.user_id = zframe_meta(f, "User-Id"); /* the routing id's, else the first frame's that has one */
    if (in.nframes > 0)                         /* ROUTER always prepends a routing id; be safe anyway */
        s_handle(self, &in);
    zmsg_destroy(msg_p);
}
