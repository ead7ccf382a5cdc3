/*
 * broker_backend.c - the worker side: the TXW1 command table and heartbeats.
 */
#include "broker_backend.h"

#include "broker_dispatch.h"
#include "broker_reply.h"
#include "broker_soldout.h"
#include "tix_arena.h"
#include "tix_log.h"
#include "tix_util.h"

#define BROKER_MAX_CAPACITY 65536

typedef void(backend_handler_fn)(broker_t *self, const tix_frame_t *rid, broker_worker_t *worker,
                                 ProtobufCMessage *body);

static void
s_on_ready(broker_t *self, const tix_frame_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    const Tix__Worker__V1__Ready *ready = (const Tix__Worker__V1__Ready *) body;
    if (w)
        broker_dispatch_lost(self, &w, "re-registered");
    if (rid->size == 0 || rid->size > BROKER_ROUTING_ID_MAX || ready->capacity == 0) {
        self->stats.worker_garbage++;
        return;
    }
    uint32_t capacity = ready->capacity > BROKER_MAX_CAPACITY ? BROKER_MAX_CAPACITY : ready->capacity;
    uint32_t hb = ready->heartbeat_ms;
    if (hb < 10 || hb > 60000)
        hb = 1000;
    w = broker_workers_add(self->workers, rid->data, rid->size, ready->worker_id[0] ? ready->worker_id : "(unnamed)",
                           capacity, hb, ready->redis_ok, tix_now_ms());
    tix_info("worker ready\tworker=%s capacity=%u heartbeat_ms=%u redis_ok=%d workers=%zu", w->worker_id, capacity, hb,
             ready->redis_ok, broker_workers_count(self->workers));
    broker_dispatch(self);
}

static void
s_disconnect(broker_t *self, const tix_frame_t *rid)
{
    broker_dispatch_send(self, rid->data, rid->size, TIX_WP_DISCONNECT, NULL);
}

static void
s_on_heartbeat(broker_t *self, const tix_frame_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    const Tix__Worker__V1__Heartbeat *hb = (const Tix__Worker__V1__Heartbeat *) body;
    if (!w) {
        s_disconnect(self, rid); /* we buried it, or restarted: it must re-register */
        return;
    }
    if (w->redis_ok != hb->redis_ok)
        tix_info("worker redis status\tworker=%s redis_ok=%d", w->worker_id, hb->redis_ok);
    w->redis_ok = hb->redis_ok;
}

/* A worker that has answered everything it held after saying it is leaving
 * is forgotten: nothing of it is lost. */
static void
s_forget_if_left(broker_t *self, broker_worker_t **w)
{
    if ((*w)->leaving && (*w)->in_flight == 0) {
        tix_info("worker left\tworker=%s workers=%zu", (*w)->worker_id, broker_workers_count(self->workers) - 1);
        broker_workers_remove(self->workers, w);
    }
}

static void
s_on_reply(broker_t *self, const tix_frame_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    const Tix__Worker__V1__JobReply *r = (const Tix__Worker__V1__JobReply *) body;
    (void) rid;
    if (!w) {
        /* No DISCONNECT here: after a broker restart a worker may hold
         * hundreds of calls, and one DISCONNECT per stale reply would make
         * it re-register hundreds of times. Its next HEARTBEAT earns one. */
        self->stats.stale_replies++;
        return;
    }
    broker_job_t *job = broker_jobs_find(self->jobs, r->job_id);
    if (!job || job->worker != w) {
        self->stats.stale_replies++;
        return;
    }
    w->in_flight--;
    tix_code code = r->code;
    if (!protobuf_c_enum_descriptor_get_value(&tix__v1__code__descriptor, (int) code))
        code = TIX__V1__CODE__INTERNAL; /* a worker bug must not reach clients as garbage */
    if (job->client.data)
        broker_soldout_on_reply(self, job, code, r->body.data, r->body.len);
    broker_reply_answer(self, job, code, r->message, r->retry_after_ms, r->body.data, r->body.len);
    s_forget_if_left(self, &w);
    broker_dispatch(self);
}

/* The worker is stopping: it takes no new jobs and answers those it holds
 * (or dies, and then they are handled as for any dead worker). */
static void
s_on_leaving(broker_t *self, const tix_frame_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    (void) rid, (void) body;
    if (!w)
        return;
    w->leaving = true;
    s_forget_if_left(self, &w);
}

static void
s_on_unexpected(broker_t *self, const tix_frame_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    (void) rid, (void) w, (void) body;
    self->stats.worker_garbage++; /* JOB travels broker -> worker only */
}

/* A worker changed a sale (CloseSale, CancelOrder) and tells every broker
 * before it answers: whatever the edge caches of it is stale. Taken from
 * any worker connection, registered or not (the backend is the workers'
 * side; under CURVE only keys the broker accepts reach it), and echoed back
 * once dropped: the worker answers its caller after the echoes. */
static void
s_on_sale_changed(broker_t *self, const tix_frame_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    (void) w;
    const Tix__Worker__V1__SaleChanged *notice = (const Tix__Worker__V1__SaleChanged *) body;
    broker_soldout_sale_changed(self, notice->sale_id, notice->created_at_ms, notice->version);
    broker_dispatch_send(self, rid->data, rid->size, TIX_WP_SALE_CHANGED, body);
}

static backend_handler_fn *const s_handlers[TIX_WP_COUNT] = {
    [TIX_WP_READY] = s_on_ready, [TIX_WP_HEARTBEAT] = s_on_heartbeat, [TIX_WP_JOB] = s_on_unexpected,
    [TIX_WP_REPLY] = s_on_reply, [TIX_WP_DISCONNECT] = s_on_leaving,  [TIX_WP_SALE_CHANGED] = s_on_sale_changed,
};

/* A worker message's envelope is unpacked into this much stack: a REPLY
 * wraps its answer's body; a bigger one spills to the heap (tix_arena.h). */
#define BROKER_BACKEND_ARENA_BYTES 1024

/* Handles one worker message: frames[0] its routing id, then [TXW1]
 * [command][body]; the views are borrowed for the call. */
static void
s_handle(broker_t *self, const tix_frame_t *frames, size_t n)
{
    _Alignas(16) uint8_t buf[BROKER_BACKEND_ARENA_BYTES];
    tix_arena_t arena;
    tix_arena_init(&arena, buf, sizeof buf);
    tix_wp_command command;
    ProtobufCMessage *body = NULL;
    /* Too many frames (n counts them all; frames holds the first few) is
     * malformed too: checked before the decode looks at any. */
    if (n < 1 || n > BROKER_BACKEND_FRAMES ||
        tix_wp_decode_in(&frames[1], n - 1, &command, &body, &arena.allocator) != TIX_OK) {
        self->stats.worker_garbage++;
        tix_debug("malformed worker message dropped\tframes=%zu", n ? n - 1 : 0);
    } else {
        const tix_frame_t *rid = &frames[0];
        broker_worker_t *w = broker_workers_find(self->workers, rid->data, rid->size);
        if (w)
            broker_worker_touch(w, tix_now_ms());
        s_handlers[command](self, rid, w, body);
    }
    if (body)
        protobuf_c_message_free_unpacked(body, &arena.allocator);
}

void
broker_backend_recv(broker_t *self, zmsg_t **msg_p)
{
    tix_frame_t frames[BROKER_BACKEND_FRAMES];
    size_t n = tix_frames_view(*msg_p, 0, frames, TIX_ARRAY_LEN(frames)); /* all of them counted */
    s_handle(self, frames, n);
    zmsg_destroy(msg_p);
}

/* Receives one worker message's frames into self->backend_msgs (frames
 * past BROKER_BACKEND_FRAMES are received and only counted) and views
 * them; its frame count, 0 when none is waiting. */
static size_t
s_recv(broker_t *self, void *sock, tix_frame_t *frames)
{
    zmq_msg_t *m = self->backend_msgs;
    if (zmq_msg_recv(&m[0], sock, ZMQ_DONTWAIT) < 0)
        return 0;
    size_t n = 1;
    zmq_msg_t extra, *last = &m[0];
    zmq_msg_init(&extra);
    while (zmq_msg_more(last)) { /* the rest of a message is there with its first frame */
        last = n < BROKER_BACKEND_FRAMES ? &m[n] : &extra;
        if (zmq_msg_recv(last, sock, ZMQ_DONTWAIT) < 0)
            break;
        n++;
    }
    zmq_msg_close(&extra);
    for (size_t i = 0; i < n && i < BROKER_BACKEND_FRAMES; i++)
        frames[i] = (tix_frame_t){zmq_msg_data(&m[i]), zmq_msg_size(&m[i])};
    return n;
}

size_t
broker_backend_drain(broker_t *self, size_t max)
{
    void *sock = zsock_resolve(self->backend);
    tix_frame_t frames[BROKER_BACKEND_FRAMES];
    size_t handled = 0, n;
    while (handled < max && (n = s_recv(self, sock, frames)) > 0) {
        s_handle(self, frames, n);
        handled++;
    }
    return handled;
}

static void
s_update_rate(broker_t *self, int64_t now)
{
    int64_t span = now - self->rate_since_ms;
    if (span < 1000)
        return;
    double rate = (double) (self->stats.replied - self->rate_replied) / (double) span;
    self->replies_per_ms = self->replies_per_ms * 0.5 + rate * 0.5;
    self->rate_since_ms = now;
    self->rate_replied = self->stats.replied;
}

void
broker_backend_tick(broker_t *self, int64_t now)
{
    static const Tix__Worker__V1__Heartbeat beat = TIX__WORKER__V1__HEARTBEAT__INIT;
    for (size_t i = 0; i < broker_workers_count(self->workers);) {
        broker_worker_t *w = broker_workers_at(self->workers, i);
        if (now >= w->expires_at_ms) {
            broker_dispatch_lost(self, &w, "heartbeat expired");
            continue; /* the last worker moved into slot i */
        }
        if (now >= w->heartbeat_at_ms) {
            broker_dispatch_send(self, w->rid, w->rid_size, TIX_WP_HEARTBEAT, &beat.base);
            w->heartbeat_at_ms = now + w->heartbeat_ms;
        }
        i++;
    }
    s_update_rate(self, now);
}
