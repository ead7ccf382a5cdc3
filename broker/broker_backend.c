/*
 * broker_backend.c - the worker side: the TXW1 command table and heartbeats.
 */
#include "broker_backend.h"

#include "broker_dispatch.h"
#include "broker_reply.h"
#include "broker_soldout.h"
#include "tix_log.h"
#include "tix_util.h"

#define BROKER_MAX_CAPACITY 65536

typedef void(backend_handler_fn)(broker_t *self, zframe_t *rid, broker_worker_t *worker, ProtobufCMessage *body);

static void
s_on_ready(broker_t *self, zframe_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    const Tix__Worker__V1__Ready *ready = (const Tix__Worker__V1__Ready *) body;
    if (w)
        broker_dispatch_lost(self, &w, "re-registered");
    if (zframe_size(rid) == 0 || zframe_size(rid) > BROKER_ROUTING_ID_MAX || ready->capacity == 0) {
        self->stats.worker_garbage++;
        return;
    }
    uint32_t capacity = ready->capacity > BROKER_MAX_CAPACITY ? BROKER_MAX_CAPACITY : ready->capacity;
    uint32_t hb = ready->heartbeat_ms;
    if (hb < 10 || hb > 60000)
        hb = 1000;
    w = broker_workers_add(self->workers, zframe_data(rid), zframe_size(rid),
                           ready->worker_id[0] ? ready->worker_id : "(unnamed)", capacity, hb, ready->redis_ok,
                           tix_now_ms());
    tix_info("worker ready\tworker=%s capacity=%u heartbeat_ms=%u redis_ok=%d workers=%zu", w->worker_id, capacity, hb,
             ready->redis_ok, broker_workers_count(self->workers));
    broker_dispatch(self);
}

static void
s_disconnect(broker_t *self, zframe_t *rid)
{
    broker_dispatch_send(self, zframe_data(rid), zframe_size(rid), TIX_WP_DISCONNECT, NULL);
}

static void
s_on_heartbeat(broker_t *self, zframe_t *rid, broker_worker_t *w, ProtobufCMessage *body)
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
s_on_reply(broker_t *self, zframe_t *rid, broker_worker_t *w, ProtobufCMessage *body)
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
    if (job->client)
        broker_soldout_on_reply(self, job, code, r->body.data, r->body.len);
    broker_reply_answer(self, job, code, r->message, r->retry_after_ms, r->body.data, r->body.len);
    s_forget_if_left(self, &w);
    broker_dispatch(self);
}

/* The worker is stopping: it takes no new jobs and answers those it holds
 * (or dies, and then they are handled as for any dead worker). */
static void
s_on_leaving(broker_t *self, zframe_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    (void) rid, (void) body;
    if (!w)
        return;
    w->leaving = true;
    s_forget_if_left(self, &w);
}

static void
s_on_unexpected(broker_t *self, zframe_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    (void) rid, (void) w, (void) body;
    self->stats.worker_garbage++; /* JOB travels broker -> worker only */
}

/* A worker changed a sale (CloseSale, CancelOrder) and tells every broker
 * before it answers: whatever the edge caches of it is stale. Taken from
 * any worker connection, registered or not (the backend is the workers'
 * side; under CURVE only keys the broker accepts reach it). */
static void
s_on_sale_changed(broker_t *self, zframe_t *rid, broker_worker_t *w, ProtobufCMessage *body)
{
    (void) rid, (void) w;
    const Tix__Worker__V1__SaleChanged *notice = (const Tix__Worker__V1__SaleChanged *) body;
    broker_soldout_sale_changed(self, notice->sale_id, notice->created_at_ms, notice->version);
}

static backend_handler_fn *const s_handlers[TIX_WP_COUNT] = {
    [TIX_WP_READY] = s_on_ready, [TIX_WP_HEARTBEAT] = s_on_heartbeat, [TIX_WP_JOB] = s_on_unexpected,
    [TIX_WP_REPLY] = s_on_reply, [TIX_WP_DISCONNECT] = s_on_leaving,  [TIX_WP_SALE_CHANGED] = s_on_sale_changed,
};

void
broker_backend_recv(broker_t *self, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    zframe_t *rid = zmsg_pop(msg);
    tix_frame_t views[3];
    size_t n = tix_frames_view(msg, 0, views, TIX_ARRAY_LEN(views));
    tix_wp_command command;
    ProtobufCMessage *body = NULL;
    if (!rid || n > TIX_ARRAY_LEN(views) || tix_wp_decode(views, n, &command, &body) != TIX_OK) {
        self->stats.worker_garbage++;
        tix_debug("malformed worker message dropped\tframes=%zu", n);
        goto out;
    }
    broker_worker_t *w = broker_workers_find(self->workers, zframe_data(rid), zframe_size(rid));
    if (w)
        broker_worker_touch(w, tix_now_ms());
    s_handlers[command](self, rid, w, body);
out:
    if (body)
        protobuf_c_message_free_unpacked(body, NULL);
    zframe_destroy(&rid);
    zmsg_destroy(msg_p);
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
