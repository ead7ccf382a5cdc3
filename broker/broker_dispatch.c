/*
 * broker_dispatch.c - credit-based dispatch to workers, and what happens to
 * the calls of a worker that died.
 */
#include "broker_dispatch.h"

#include <string.h>

#include "broker_reply.h"
#include "tix_log.h"
#include "tix_util.h"

#define BROKER_LOST_RETRY_MS 100
/* A re-dispatched call may already have run at the dead worker, so the
 * next worker must not refuse it for lack of time: it gets at least this
 * budget, and reports the true outcome. */
#define BROKER_REDISPATCH_MIN_BUDGET_MS 1000

/* Packs body into the broker's reused wire buffer; its size (0 for NULL). */
static size_t
s_pack_wire(broker_t *self, const ProtobufCMessage *body)
{
    if (!body)
        return 0;
    size_t size = protobuf_c_message_get_packed_size(body);
    if (size > self->wire_cap) {
        self->wire_buf = xrealloc(self->wire_buf, size);
        self->wire_cap = size;
    }
    return protobuf_c_message_pack(body, self->wire_buf);
}

bool
broker_dispatch_send(broker_t *self, const uint8_t *rid, size_t rid_size, tix_wp_command command,
                     const ProtobufCMessage *body)
{
    /* Straight from these bytes with zmq_send, as tix_wp_append would
     * frame them: no czmq message or frame objects per job. A ROUTER takes
     * a message whole or drops it whole, as zmsg_send did. */
    size_t size = s_pack_wire(self, body);
    const char *name = tix_wp_command_name(command);
    const tix_frame_t frames[4] = {
        {rid, rid_size},
        {(const uint8_t *) TIX_WORKER_SIGNATURE, sizeof TIX_WORKER_SIGNATURE - 1},
        {(const uint8_t *) name, strlen(name)},
        {self->wire_buf, size},
    };
    void *raw = zsock_resolve(self->backend);
    for (size_t i = 0; i < TIX_ARRAY_LEN(frames); i++) {
        if (zmq_send(raw, frames[i].data, frames[i].size, i + 1 < TIX_ARRAY_LEN(frames) ? ZMQ_SNDMORE : 0) < 0)
            return false;
    }
    return true;
}

static void
s_on_orphan(broker_job_t *job, void *arg)
{
    broker_t *self = arg;
    job->worker = NULL;
    if (job->method->retry_safe && job->dispatches < 2 && !self->draining) {
        self->stats.redispatched++;
        broker_jobs_push_front(self->jobs, job);
        return;
    }
    self->stats.unavailable++;
    broker_reply_answer(self, job, TIX__V1__CODE__UNAVAILABLE,
                        "broker: the worker holding this call was lost; its outcome is unknown, retry it unchanged",
                        BROKER_LOST_RETRY_MS, NULL, 0);
}

void
broker_dispatch_lost(broker_t *self, broker_worker_t **worker, const char *why)
{
    broker_worker_t *w = *worker;
    tix_warn("worker lost\tworker=%s reason=%s in_flight=%u", w->worker_id, why, w->in_flight);
    self->stats.workers_lost++;
    w->leaving = true; /* while its jobs are answered, nothing may pick it */
    broker_jobs_each_of(self->jobs, w, s_on_orphan, self);
    broker_workers_remove(self->workers, worker);
}

static bool
s_send_job(broker_t *self, broker_worker_t *w, broker_job_t *job, int64_t now)
{
    int64_t budget = job->deadline_ms - now;
    if (job->dispatches > 0 && budget < BROKER_REDISPATCH_MIN_BUDGET_MS)
        budget = BROKER_REDISPATCH_MIN_BUDGET_MS;
    Tix__Worker__V1__Job j = TIX__WORKER__V1__JOB__INIT;
    j.job_id = job->job_id;
    j.method = (char *) job->method->name;
    j.budget_ms = (uint32_t) budget;
    j.client = job->client_key;
    j.body.data = (uint8_t *) job->body.data;
    j.body.len = job->body.size;
    return broker_dispatch_send(self, w->rid, w->rid_size, TIX_WP_JOB, &j.base);
}

void
broker_dispatch(broker_t *self)
{
    while (broker_jobs_queued(self->jobs) > 0) {
        broker_worker_t *w = broker_workers_next_free(self->workers);
        if (!w)
            return;
        broker_job_t *job = broker_jobs_pop(self->jobs);
        int64_t now = tix_now_ms();
        if (job->deadline_ms <= now && job->dispatches == 0) {
            self->stats.expired++;
            broker_reply_answer(self, job, TIX__V1__CODE__DEADLINE_EXCEEDED,
                                "deadline: passed while waiting for a worker", 0, NULL, 0);
            continue;
        }
        if (!s_send_job(self, w, job, now)) {
            broker_jobs_push_front(self->jobs, job);
            broker_dispatch_lost(self, &w, "unreachable");
            continue;
        }
        job->worker = w;
        job->dispatches++;
        w->in_flight++;
        self->stats.forwarded++;
    }
}
