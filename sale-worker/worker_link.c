/*
 * worker_link.c - everything the worker sends: TXW1 messages to each
 * broker's backend (READY, HEARTBEAT, DISCONNECT, REPLY), order events to
 * every broker's event intake, and the job records that end with a REPLY.
 */
#include "worker_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tix_log.h"
#include "tix_util.h"

/* ---- Sockets -------------------------------------------------------------- */

static zsock_t *
s_dealer_new(const worker_broker_t *b)
{
    const worker_config_t *config = &b->worker->config;
    zsock_t *s = zsock_new(ZMQ_DEALER);
    if (!s)
        return NULL;
    /* Room for every credit granted plus heartbeats, both ways: a ROUTER
     * silently drops what does not fit. */
    int hwm = 2 * (int) config->capacity + 1000;
    zsock_set_sndhwm(s, hwm);
    zsock_set_rcvhwm(s, hwm);
    zsock_set_sndtimeo(s, 0); /* the loop never blocks on a send */
    zsock_set_rcvtimeo(s, 0);
    zsock_set_linger(s, 0);                             /* a silent broker's queue is not worth waiting for */
    zsock_set_maxmsgsize(s, 2 * TIX_MAX_MESSAGE_BYTES); /* a Job wraps one client body */
    /* ZMTP heartbeats: libzmq drops a connection whose broker stopped
     * answering with its socket still open (a hung or SIGSTOPped process),
     * rather than queueing into it until the kernel gives up. */
    int silent_ms = WORKER_LINK_ZMQ_MISSES * (int) config->heartbeat_ms;
    zsock_set_heartbeat_ivl(s, (int) config->heartbeat_ms);
    zsock_set_heartbeat_timeout(s, silent_ms);
    zsock_set_heartbeat_ttl(s, silent_ms);
    if (config->curve && !tix_curve_client_apply(config->curve, s)) {
        tix_error("cannot set the CURVE keys\tsocket=backend err=\"%s\"", zmq_strerror(errno));
        zsock_destroy(&s);
        return NULL;
    }
    if (zsock_connect(s, "%s", b->endpoint) != 0) {
        tix_error("cannot connect the backend endpoint\tendpoint=%s reason=\"%s\"", b->endpoint, zmq_strerror(errno));
        zsock_destroy(&s);
    }
    return s;
}

/* One PUB connected to every broker's intake: PUB sends each event to all
 * of them, and each broker forwards it to its own subscribers. */
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
    const char *cursor = self->config.events_in;
    char endpoint[TIX_ENDPOINT_MAX_BYTES];
    while (tix_endpoints_next(&cursor, endpoint, sizeof endpoint)) {
        if (zsock_connect(s, "%s", endpoint) != 0) {
            tix_error("cannot connect the event intake endpoint\tendpoint=%s reason=\"%s\"", endpoint,
                      zmq_strerror(errno));
            zsock_destroy(&s);
            return NULL;
        }
    }
    return s;
}

bool
worker_link_open(worker_t *self)
{
    const char *cursor = self->config.backend;
    char endpoint[TIX_ENDPOINT_MAX_BYTES];
    while (self->nbrokers < WORKER_BROKERS_MAX && tix_endpoints_next(&cursor, endpoint, sizeof endpoint)) {
        worker_broker_t *b = &self->brokers[self->nbrokers++];
        b->worker = self;
        memcpy(b->endpoint, endpoint, sizeof endpoint);
        b->dealer = s_dealer_new(b);
        if (!b->dealer)
            return false;
    }
    self->pub = self->nbrokers > 0 ? s_pub_new(self) : NULL;
    return self->pub != NULL;
}

bool
worker_link_redial(worker_broker_t *b)
{
    zsock_destroy(&b->dealer);
    b->dealer = s_dealer_new(b);
    return b->dealer != NULL;
}

void
worker_link_close(worker_t *self)
{
    for (size_t i = 0; i < self->nbrokers; i++) {
        if (self->brokers[i].dealer)
            zsock_set_linger(self->brokers[i].dealer, WORKER_LINGER_MS);
        zsock_destroy(&self->brokers[i].dealer);
    }
    if (self->pub)
        zsock_set_linger(self->pub, WORKER_LINGER_MS);
    zsock_destroy(&self->pub);
}

/* ---- To the broker -------------------------------------------------------- */

void
worker_link_send(worker_broker_t *b, tix_wp_command command, const ProtobufCMessage *body)
{
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, command, body);
    if (!b->dealer || zmsg_send(&msg, b->dealer) != 0) {
        b->worker->stats.unsent++;
        tix_debug("broker socket refused a message\tcommand=%s", tix_wp_command_name(command));
    }
    zmsg_destroy(&msg);
}

/* Sends REPLY{job_id, code, message, retry_after_ms, body}; body may be NULL. */
static void
s_reply(worker_broker_t *b, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms,
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
    worker_t *self = b->worker;
    if (body) {
        size_t size = protobuf_c_message_get_packed_size(body);
        if (size > self->body_cap) {
            self->body_buf = xrealloc(self->body_buf, size);
            self->body_cap = size;
        }
        reply.body.len = protobuf_c_message_pack(body, self->body_buf);
        reply.body.data = self->body_buf;
    }
    worker_link_send(b, TIX_WP_REPLY, &reply.base);
}

void
worker_link_answer(worker_broker_t *b, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms)
{
    tix_debug("job answered at once\tjob_id=%llu code=%s reason=\"%s\"", (unsigned long long) job_id,
              tix_code_name(code), message ? message : "");
    s_reply(b, job_id, code, message, retry_after_ms, NULL);
}

void
worker_link_sale_changed(worker_t *self, const char *sale_id, int64_t created_at_ms, uint64_t version)
{
    Tix__Worker__V1__SaleChanged notice = TIX__WORKER__V1__SALE_CHANGED__INIT;
    notice.sale_id = (char *) sale_id;
    notice.created_at_ms = created_at_ms;
    notice.version = version;
    /* Every DEALER, whatever its session's state: a broker that does not
     * know this worker still caches sales. */
    for (size_t i = 0; i < self->nbrokers; i++)
        worker_link_send(&self->brokers[i], TIX_WP_SALE_CHANGED, &notice.base);
    self->stats.notices++;
}

/* ---- Jobs ----------------------------------------------------------------- */

worker_job_t *
worker_link_job_new(worker_broker_t *b, uint64_t job_id, const tix_method_t *method, ProtobufCMessage *request)
{
    worker_t *self = b->worker;
    worker_job_t *job = self->spare_jobs;
    if (job)
        self->spare_jobs = job->next;
    else
        job = xcalloc(1, sizeof *job);
    job->worker = self;
    job->job_id = job_id;
    job->broker = b;
    job->session = b->session;
    job->method = method;
    job->request = request;
    job->next = NULL;
    self->jobs_in_flight++;
    b->session_jobs++;
    return job;
}

void
worker_link_job_reply(worker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                      const ProtobufCMessage *body)
{
    worker_t *self = job->worker;
    self->jobs_in_flight--;
    if (job->session == job->broker->session) {
        job->broker->session_jobs--;
        s_reply(job->broker, job->job_id, code, message, retry_after_ms, body);
    } else {
        /* Its broker has re-registered this worker since: it answered or
         * re-dispatched the job already and would drop this reply. Other
         * brokers never knew the job. */
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
