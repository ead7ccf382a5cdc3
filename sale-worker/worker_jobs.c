/*
 * worker_jobs.c - a JOB from its arrival to the start of its handler: the
 * checks made before any Redis call (defence in depth: the broker validated
 * already); what cannot run is answered at once.
 */
#include "worker_jobs.h"

#include <stdio.h>
#include <string.h>

#include "tix_log.h"
#include "tix_util.h"
#include "worker_handlers.h"
#include "worker_link.h"

/* The method named in the job, or NULL after answering UNIMPLEMENTED. */
static const tix_method_t *
s_method(worker_broker_t *b, const Tix__Worker__V1__Job *msg)
{
    char why[TIX_MESSAGE_MAX_BYTES];
    size_t len = strlen(msg->method);
    const tix_method_t *method = tix_method_find_internal(msg->method, len);
    if (!method) {
        bool printable = tix_utf8_valid((const uint8_t *) msg->method, len, false);
        snprintf(why, sizeof why, "method: unknown method '%.100s'", printable ? msg->method : "(not printable)");
        worker_link_answer(b, msg->job_id, TIX__V1__CODE__UNIMPLEMENTED, why, 0);
        return NULL;
    }
    if (!worker_handlers_get(method->id)) {
        snprintf(why, sizeof why, "method: %s is answered by the broker, not by workers", method->name);
        worker_link_answer(b, msg->job_id, TIX__V1__CODE__UNIMPLEMENTED, why, 0);
        return NULL;
    }
    return method;
}

/* The decoded, validated body (owned), or NULL after answering
 * INVALID_ARGUMENT naming the field. */
static ProtobufCMessage *
s_request(worker_broker_t *b, const Tix__Worker__V1__Job *msg, const tix_method_t *method, ProtobufCAllocator *alloc)
{
    char why[TIX_MESSAGE_MAX_BYTES];
    ProtobufCMessage *request;
    tix_code code = tix_request_decode_with(method, msg->body.data, msg->body.len, &request, why, sizeof why, alloc);
    if (code != TIX__V1__CODE__OK)
        worker_link_answer(b, msg->job_id, code, why, 0);
    return request;
}

/* False after answering a job that cannot run now. */
static bool
s_can_run(worker_broker_t *b, const Tix__Worker__V1__Job *msg)
{
    const worker_t *self = b->worker;
    if (self->draining) {
        worker_link_answer(b, msg->job_id, TIX__V1__CODE__UNAVAILABLE, "worker is stopping",
                           WORKER_UNAVAILABLE_RETRY_MS);
        return false;
    }
    if (b->session_jobs >= self->config.capacity) {
        /* The broker overran the credits it was granted: a broker bug, but
         * memory stays bounded and the caller may retry. */
        tix_warn("broker exceeded this worker's capacity\tendpoint=%s capacity=%u job_id=%llu", b->endpoint,
                 self->config.capacity, (unsigned long long) msg->job_id);
        worker_link_answer(b, msg->job_id, TIX__V1__CODE__RESOURCE_EXHAUSTED, "worker is at capacity",
                           WORKER_UNAVAILABLE_RETRY_MS);
        return false;
    }
    return true;
}

void
worker_jobs_accept(worker_broker_t *b, const Tix__Worker__V1__Job *msg, int64_t received_ms)
{
    worker_t *self = b->worker;
    self->stats.jobs++;
    const tix_method_t *method = s_method(b, msg);
    if (!method || !s_can_run(b, msg))
        return;
    /* Unpacked in the record the job will have: no heap allocation. */
    ProtobufCAllocator *alloc = worker_link_job_allocator(self);
    ProtobufCMessage *request = s_request(b, msg, method, alloc);
    if (!request)
        return;
    if (!worker_state_redis_ok(self)) {
        protobuf_c_message_free_unpacked(request, alloc);
        worker_link_answer(b, msg->job_id, TIX__V1__CODE__UNAVAILABLE, "redis unavailable",
                           WORKER_UNAVAILABLE_RETRY_MS);
        return;
    }
    /* The last moment before Redis: budget 0 means the deadline has passed. */
    if ((int64_t) msg->budget_ms <= tix_now_ms() - received_ms) {
        protobuf_c_message_free_unpacked(request, alloc);
        worker_link_answer(b, msg->job_id, TIX__V1__CODE__DEADLINE_EXCEEDED, "deadline passed before the job started",
                           0);
        return;
    }
    worker_job_t *job = worker_link_job_new(b, msg->job_id, method, request);
    tix_debug("job started\tjob_id=%llu method=%s client=%s", (unsigned long long) job->job_id, method->name,
              tix_utf8_valid((const uint8_t *) msg->client, strlen(msg->client), false) ? msg->client : "?");
    if (worker_handlers_get(method->id)(job) != TIX_OK)
        worker_link_job_reply(job, TIX__V1__CODE__UNAVAILABLE, "redis unavailable", WORKER_UNAVAILABLE_RETRY_MS, NULL);
}
