/*
 * broker_dispatch.c - credit-based dispatch to workers, and what happens to
 * the calls of a worker that died.
 */
#include "broker_dispatch.h"

#include "broker_reply.h"
#include "tix_log.h"
#include "tix_util.h"

#define BROKER_LOST_RETRY_MS 100
/* A re-dispatched call may already have run at the dead worker, so the
 * next worker must not refuse it for lack of time: it gets at least this
 * budget, and reports the true outcome. */
#define BROKER_REDISPATCH_MIN_BUDGET_MS 1000

bool
broker_dispatch_send(broker_t *self, const uint8_t *rid, size_t rid_size, tix_wp_command command,
                     const ProtobufCMessage *body)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addmem(msg, rid, rid_size);
    tix_wp_append(msg, command, body);
    if (zmsg_send(&msg, self->backend) != 0) {
        zmsg_destroy(&msg);
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
    j.body.data = zframe_data(job->body);
    j.body.len = zframe_size(job->body);
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
