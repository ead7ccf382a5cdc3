/*
 * worker_link.c - everything the worker sends: TXW1 messages to the
 * broker's backend (READY, HEARTBEAT, DISCONNECT, REPLY), order events to
 * its event intake, and the job records that end with a REPLY.
 */
#include "worker_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tix_log.h"
#include "tix_util.h"

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

bool
worker_link_open(worker_t *self)
{
    self->dealer = s_dealer_new(self);
    self->pub = self->dealer ? s_pub_new(self) : NULL;
    return self->pub != NULL;
}

bool
worker_link_redial(worker_t *self)
{
    zsock_destroy(&self->dealer);
    self->dealer = s_dealer_new(self);
    return self->dealer != NULL;
}

void
worker_link_close(worker_t *self)
{
    if (self->dealer)
        zsock_set_linger(self->dealer, WORKER_LINGER_MS);
    if (self->pub)
        zsock_set_linger(self->pub, WORKER_LINGER_MS);
    zsock_destroy(&self->dealer);
    zsock_destroy(&self->pub);
}

/* ---- To the broker -------------------------------------------------------- */

void
worker_link_send(worker_t *self, tix_wp_command command, const ProtobufCMessage *body)
{
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, command, body);
    if (zmsg_send(&msg, self->dealer) != 0) {
        self->stats.unsent++;
        tix_debug("broker socket refused a message\tcommand=%s", tix_wp_command_name(command));
    }
    zmsg_destroy(&msg);
}

/* Sends REPLY{job_id, code, message, retry_after_ms, body}; body may be NULL. */
static void
s_reply(worker_t *self, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms,
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
    worker_link_send(self, TIX_WP_REPLY, &reply.base);
}

void
worker_link_answer(worker_t *self, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms)
{
    tix_debug("job answered at once\tjob_id=%llu code=%s reason=\"%s\"", (unsigned long long) job_id,
              tix_code_name(code), message ? message : "");
    s_reply(self, job_id, code, message, retry_after_ms, NULL);
}

/* ---- Jobs ----------------------------------------------------------------- */

worker_job_t *
worker_link_job_new(worker_t *self, uint64_t job_id, const tix_method_t *method, ProtobufCMessage *request)
{
    worker_job_t *job = self->spare_jobs;
    if (job)
        self->spare_jobs = job->next;
    else
        job = xcalloc(1, sizeof *job);
    job->worker = self;
    job->job_id = job_id;
    job->session = self->session;
    job->method = method;
    job->request = request;
    job->next = NULL;
    self->jobs_in_flight++;
    self->session_jobs++;
    return job;
}

void
worker_link_job_reply(worker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                      const ProtobufCMessage *body)
{
    worker_t *self = job->worker;
    self->jobs_in_flight--;
    if (job->session == self->session) {
        self->session_jobs--;
        s_reply(self, job->job_id, code, message, retry_after_ms, body);
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
worker_link_jobs_free(worker_t *self)
{
    while (self->spare_jobs) {
        worker_job_t *job = self->spare_jobs;
        self->spare_jobs = job->next;
        free(job);
    }
}

/* ---- Order events --------------------------------------------------------- */

void
worker_link_publish(worker_t *self, const Tix__V1__Order *order, const char *log_id)
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
