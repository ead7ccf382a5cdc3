/*
 * worker_jobs.c - a JOB from arrival to REPLY: the checks made before any
 * Redis call (defence in depth: the broker validated already), the job
 * records (recycled), and the answer.
 */
#include <stdio.h>
#include <string.h>

#include "tix_log.h"
#include "tix_util.h"
#include "worker_priv.h"

/* Answers a job that never got a record. */
static void
s_answer(worker_t *self, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms)
{
    tix_debug("job answered at once\tjob_id=%llu code=%s reason=\"%s\"", (unsigned long long) job_id,
              tix_code_name(code), message);
    worker_reply_send(self, job_id, code, message, retry_after_ms, NULL);
}

static worker_job_t *
s_job_new(worker_t *self, const Tix__Worker__V1__Job *msg, const tix_method_t *method, ProtobufCMessage *request)
{
    worker_job_t *job = self->spare_jobs;
    if (job)
        self->spare_jobs = job->next;
    else
        job = xcalloc(1, sizeof *job);
    job->worker = self;
    job->job_id = msg->job_id;
    job->session = self->session;
    job->method = method;
    job->request = request;
    job->next = NULL;
    self->jobs_in_flight++;
    self->session_jobs++;
    return job;
}

void
worker_job_finish(worker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                  const ProtobufCMessage *body)
{
    worker_t *self = job->worker;
    self->jobs_in_flight--;
    if (job->session == self->session) {
        self->session_jobs--;
        worker_reply_send(self, job->job_id, code, message, retry_after_ms, body);
    } else {
        /* The broker has re-registered this worker since: it answered or
         * re-dispatched the job already and would drop this reply. */
        self->stats.stale++;
        tix_debug("reply dropped: its broker session ended\tjob_id=%llu", (unsigned long long) job->job_id);
    }
    protobuf_c_message_free_unpacked(job->request, NULL);
    job->request = NULL;
    job->next = self->spare_jobs;
    self->spare_jobs = job;
}

void
worker_jobs_free(worker_t *self)
{
    while (self->spare_jobs) {
        worker_job_t *job = self->spare_jobs;
        self->spare_jobs = job->next;
        free(job);
    }
}

/* The method named in the job, or NULL after answering UNIMPLEMENTED. */
static const tix_method_t *
s_method(worker_t *self, const Tix__Worker__V1__Job *msg)
{
    char why[TIX_MESSAGE_MAX_BYTES];
    size_t len = strlen(msg->method);
    const tix_method_t *method = tix_method_find_internal(msg->method, len);
    if (!method) {
        bool printable = tix_utf8_valid((const uint8_t *) msg->method, len, false);
        snprintf(why, sizeof why, "method: unknown method '%.100s'", printable ? msg->method : "(not printable)");
        s_answer(self, msg->job_id, TIX__V1__CODE__UNIMPLEMENTED, why, 0);
        return NULL;
    }
    if (!worker_handler_get(method->id)) {
        snprintf(why, sizeof why, "method: %s is answered by the broker, not by workers", method->name);
        s_answer(self, msg->job_id, TIX__V1__CODE__UNIMPLEMENTED, why, 0);
        return NULL;
    }
    return method;
}

/* The decoded, validated body (owned), or NULL after answering
 * INVALID_ARGUMENT naming the field. */
static ProtobufCMessage *
s_request(worker_t *self, const Tix__Worker__V1__Job *msg, const tix_method_t *method)
{
    char why[TIX_MESSAGE_MAX_BYTES];
    ProtobufCMessage *request;
    tix_code code = tix_request_decode(method, msg->body.data, msg->body.len, &request, why, sizeof why);
    if (code != TIX__V1__CODE__OK)
        s_answer(self, msg->job_id, code, why, 0);
    return request;
}

/* False after answering a job that cannot run now. */
static bool
s_can_run(worker_t *self, const Tix__Worker__V1__Job *msg)
{
    if (self->draining) {
        s_answer(self, msg->job_id, TIX__V1__CODE__UNAVAILABLE, "worker is stopping", WORKER_UNAVAILABLE_RETRY_MS);
        return false;
    }
    if (self->session_jobs >= self->config.capacity) {
        /* The broker overran the credits it was granted: a broker bug, but
         * memory stays bounded and the caller may retry. */
        tix_warn("broker exceeded this worker's capacity\tcapacity=%u job_id=%llu", self->config.capacity,
                 (unsigned long long) msg->job_id);
        s_answer(self, msg->job_id, TIX__V1__CODE__RESOURCE_EXHAUSTED, "worker is at capacity",
                 WORKER_UNAVAILABLE_RETRY_MS);
        return false;
    }
    return true;
}

void
worker_jobs_accept(worker_t *self, const Tix__Worker__V1__Job *msg, int64_t received_ms)
{
    self->stats.jobs++;
    const tix_method_t *method = s_method(self, msg);
    if (!method || !s_can_run(self, msg))
        return;
    ProtobufCMessage *request = s_request(self, msg, method);
    if (!request)
        return;
    if (!worker_redis_ok(self)) {
        protobuf_c_message_free_unpacked(request, NULL);
        s_answer(self, msg->job_id, TIX__V1__CODE__UNAVAILABLE, "redis unavailable", WORKER_UNAVAILABLE_RETRY_MS);
        return;
    }
    /* The last moment before Redis: budget 0 means the deadline has passed. */
    if ((int64_t) msg->budget_ms <= tix_now_ms() - received_ms) {
        protobuf_c_message_free_unpacked(request, NULL);
        s_answer(self, msg->job_id, TIX__V1__CODE__DEADLINE_EXCEEDED, "deadline passed before the job started", 0);
        return;
    }
    worker_job_t *job = s_job_new(self, msg, method, request);
    tix_debug("job started\tjob_id=%llu method=%s client=%s", (unsigned long long) job->job_id, method->name,
              tix_utf8_valid((const uint8_t *) msg->client, strlen(msg->client), false) ? msg->client : "?");
    if (worker_handler_get(method->id)(job) != TIX_OK)
        worker_job_finish(job, TIX__V1__CODE__UNAVAILABLE, "redis unavailable", WORKER_UNAVAILABLE_RETRY_MS, NULL);
}
