/*
 * broker_reply.c - replies to clients, and answers to jobs: the one place
 * where the broker's answers leave, so the one place they are counted
 * (broker_metrics.h).
 */
#include "broker_reply.h"

/* Sends the answer to a call of method (NULL: not decoded), counting it;
 * request: its packed body, received_ns: when it came. */
static void
s_send(broker_t *self, const tix_frame_t *client, const tix_status_t *status, const void *body, size_t body_size,
       const tix_method_t *method, const tix_frame_t *request, int64_t received_ns)
{
    broker_metrics_answer(&self->metrics, method, status->code, body, body_size, request->data, request->size,
                          received_ns);
    /* Every frame from the stack or the caller: a reply costs the broker no
     * heap allocation (libzmq copies frames of up to 33 bytes into the
     * message itself; a SOLD_OUT answer's are all that small). */
    uint8_t header[TIX_REPLY_HEADER_MAX_BYTES];
    tix_frame_t frames[5] = {
        *client,
        {NULL, 0},
        {(const uint8_t *) TIX_SIGNATURE, sizeof TIX_SIGNATURE - 1},
        {header, tix_reply_header_pack(status, header)},
        {body, body ? body_size : 0},
    };
    /* A full pipe parks the answer until the client reads (broker_park.h);
     * a client that left, or one past the park's bounds, loses it
     * (unroutable); other clients are unaffected either way. */
    self->stats.replied +=
        broker_park_send(self->park, zsock_resolve(self->frontend), frames, 5, &self->stats.unroutable);
}

void
broker_reply_send(broker_t *self, const tix_frame_t *client, const tix_status_t *status, const void *body,
                  size_t body_size)
{
    s_send(self, client, status, body, body_size, self->call_method, &self->call_body, self->call_ns);
}

void
broker_reply_status(broker_t *self, const tix_frame_t *client, uint64_t call_id, tix_code code, const char *message,
                    uint32_t retry_after_ms)
{
    tix_status_t status = {call_id, code, message, retry_after_ms};
    broker_reply_send(self, client, &status, NULL, 0);
}

void
broker_reply_answer(broker_t *self, broker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                    const void *body, size_t body_size)
{
    if (!job->client.data) { /* an internal job: the broker asked, not a client */
        if (job->on_done)
            job->on_done(job, code, body, body_size, job->on_done_arg);
        else
            broker_jobs_free(self->jobs, job);
        return;
    }
    tix_status_t status = {job->call_id, code, message, retry_after_ms};
    s_send(self, &job->client, &status, body, body_size, job->method, &job->body, job->received_ns);
    broker_jobs_free(self->jobs, job);
}
