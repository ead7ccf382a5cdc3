/*
 * worker_link.c - everything the worker sends: TXW1 messages to each
 * broker's backend (READY, HEARTBEAT, DISCONNECT, REPLY), order events to
 * every broker's event intake, and the job records that end with a REPLY.
 */
#include "worker_link.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
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

/* Packs m into *buf, grown to fit and kept (*cap its size); returns the
 * packed size (0 for NULL). */
static size_t
s_pack_into(uint8_t **buf, size_t *cap, const ProtobufCMessage *m)
{
    if (!m)
        return 0;
    size_t size = protobuf_c_message_get_packed_size(m);
    if (size > *cap) {
        *buf = xrealloc(*buf, size);
        *cap = size;
    }
    return protobuf_c_message_pack(m, *buf);
}

/* Packs m into the worker's wire buffer. Not the reply-body buffer: a
 * REPLY carries that one's bytes. */
static size_t
s_pack_wire(worker_t *self, const ProtobufCMessage *m)
{
    return s_pack_into(&self->wire_buf, &self->wire_cap, m);
}

/* Sends frames[0..n) as one message without blocking, straight from the
 * caller's bytes (no zmsg, no frame objects). False when the socket
 * refused it: libzmq then takes none of it (a multipart message goes out
 * whole or not at all), as with zmsg_send. */
static bool
s_send_frames(zsock_t *sock, const tix_frame_t *frames, size_t n)
{
    void *raw = zsock_resolve(sock);
    for (size_t i = 0; i < n; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
        if (zmq_send(raw, frames[i].data, frames[i].size, flags) < 0)
            return false;
    }
    return true;
}

void
worker_link_send(worker_broker_t *b, tix_wp_command command, const ProtobufCMessage *body)
{
    size_t size = s_pack_wire(b->worker, body);
    const char *name = tix_wp_command_name(command);
    const tix_frame_t frames[3] = {
        {(const uint8_t *) TIX_WORKER_SIGNATURE, sizeof TIX_WORKER_SIGNATURE - 1},
        {(const uint8_t *) name, strlen(name)},
        {b->worker->wire_buf, size},
    };
    if (!b->dealer || !s_send_frames(b->dealer, frames, 3)) {
        b->worker->stats.unsent++;
        tix_debug("broker socket refused a message\tcommand=%s", name);
    }
}

/* Sends REPLY{job_id, code, message, retry_after_ms, body}: body packed
 * (data/size), or NULL/0. */
static void
s_reply_packed(worker_broker_t *b, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms,
               const uint8_t *data, size_t size)
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
    reply.body.data = (uint8_t *) data;
    reply.body.len = size;
    worker_link_send(b, TIX_WP_REPLY, &reply.base);
}

/* Packs body into the worker's reply buffer; returns its size (0 for NULL). */
static size_t
s_pack(worker_t *self, const ProtobufCMessage *body)
{
    return s_pack_into(&self->body_buf, &self->body_cap, body);
}

static void
s_reply(worker_broker_t *b, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms,
        const ProtobufCMessage *body)
{
    size_t size = s_pack(b->worker, body);
    s_reply_packed(b, job_id, code, message, retry_after_ms, body ? b->worker->body_buf : NULL, size);
}

void
worker_link_answer(worker_broker_t *b, uint64_t job_id, tix_code code, const char *message, uint32_t retry_after_ms)
{
    tix_debug("job answered at once\tjob_id=%llu code=%s reason=\"%s\"", (unsigned long long) job_id,
              tix_code_name(code), message ? message : "");
    s_reply(b, job_id, code, message, retry_after_ms, NULL);
}

/* ---- Jobs ----------------------------------------------------------------- */

ProtobufCAllocator *
worker_link_job_allocator(worker_t *self)
{
    worker_job_t *job = self->spare_jobs;
    if (!job) {
        job = xcalloc(1, sizeof *job);
        self->spare_jobs = job;
    }
    /* Its last request was freed with it: what was carved is forgotten. */
    tix_arena_init(&job->arena, job->request_buf, sizeof job->request_buf);
    return &job->arena.allocator;
}

worker_job_t *
worker_link_job_new(worker_broker_t *b, uint64_t job_id, const tix_method_t *method, ProtobufCMessage *request)
{
    worker_t *self = b->worker;
    worker_job_t *job = self->spare_jobs;
    assert(job && (const uint8_t *) request >= job->request_buf &&
           (const uint8_t *) request < job->request_buf + sizeof job->request_buf); /* worker_link_job_allocator's */
    self->spare_jobs = job->next;
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

/* Ends job with its REPLY (body packed: data/size, or NULL/0). */
static void
s_job_reply_packed(worker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms, const uint8_t *data,
                   size_t size)
{
    worker_t *self = job->worker;
    self->jobs_in_flight--;
    if (job->session == job->broker->session) {
        job->broker->session_jobs--;
        s_reply_packed(job->broker, job->job_id, code, message, retry_after_ms, data, size);
    } else {
        /* Its broker has re-registered this worker since: it answered or
         * re-dispatched the job already and would drop this reply. Other
         * brokers never knew the job. */
        self->stats.stale++;
        tix_debug("reply dropped: its broker session ended\tjob_id=%llu", (unsigned long long) job->job_id);
    }
    protobuf_c_message_free_unpacked(job->request, &job->arena.allocator);
    job->request = NULL;
    job->next = self->spare_jobs;
    self->spare_jobs = job;
}

void
worker_link_job_reply(worker_job_t *job, tix_code code, const char *message, uint32_t retry_after_ms,
                      const ProtobufCMessage *body)
{
    size_t size = s_pack(job->worker, body);
    s_job_reply_packed(job, code, message, retry_after_ms, body ? job->worker->body_buf : NULL, size);
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

/* ---- SALE_CHANGED ----------------------------------------------------------- */

/* A reply held until the brokers echo the notice sent before it. */
struct worker_notice {
    uint64_t id;
    uint32_t awaiting; /* bit i: broker i's echo is awaited */
    int64_t deadline_ms;
    worker_job_t *job;
    size_t size;
    worker_notice_t *next;
    uint8_t body[]; /* the packed reply */
};

void
worker_link_reply_after_notice(worker_job_t *job, const char *sale_id, int64_t created_at_ms, uint64_t version,
                               const ProtobufCMessage *body)
{
    worker_t *self = job->worker;
    Tix__Worker__V1__SaleChanged notice = TIX__WORKER__V1__SALE_CHANGED__INIT;
    notice.sale_id = (char *) sale_id;
    notice.created_at_ms = created_at_ms;
    notice.version = version;
    notice.notice_id = ++self->notice_seq;
    /* Every DEALER, whatever its session's state: a broker that does not
     * know this worker still caches sales. The echo is awaited from those
     * heard from lately only: a silent one would only make us wait. */
    uint32_t awaiting = 0;
    for (size_t i = 0; i < self->nbrokers; i++) {
        worker_link_send(&self->brokers[i], TIX_WP_SALE_CHANGED, &notice.base);
        if (self->brokers[i].dealer && !self->brokers[i].lost)
            awaiting |= 1u << i;
    }
    self->stats.notices++;
    size_t size = s_pack(self, body);
    if (!awaiting) {
        s_job_reply_packed(job, TIX__V1__CODE__OK, NULL, 0, self->body_buf, size);
        return;
    }
    worker_notice_t *n = xmalloc(sizeof *n + size);
    *n = (worker_notice_t){.id = notice.notice_id, .awaiting = awaiting, .job = job, .size = size};
    n->deadline_ms = tix_now_ms() + WORKER_NOTICE_WAIT_MS;
    memcpy(n->body, self->body_buf, size);
    if (self->notices_tail)
        self->notices_tail->next = n;
    else
        self->notices = n;
    self->notices_tail = n;
}

/* Answers and frees the held reply after prev (NULL: the first). */
static void
s_notice_done(worker_t *self, worker_notice_t *prev, worker_notice_t *n)
{
    if (prev)
        prev->next = n->next;
    else
        self->notices = n->next;
    if (self->notices_tail == n)
        self->notices_tail = prev;
    s_job_reply_packed(n->job, TIX__V1__CODE__OK, NULL, 0, n->body, n->size);
    free(n);
}

void
worker_link_notice_seen(worker_broker_t *b, uint64_t notice_id)
{
    worker_t *self = b->worker;
    uint32_t bit = 1u << (size_t) (b - self->brokers);
    for (worker_notice_t *prev = NULL, *n = self->notices; n; prev = n, n = n->next) {
        if (n->id != notice_id)
            continue;
        n->awaiting &= ~bit;
        if (!n->awaiting)
            s_notice_done(self, prev, n);
        return;
    }
}

int64_t
worker_link_notices_tick(worker_t *self, int64_t now)
{
    /* All wait the same time: the oldest ends first. */
    while (self->notices && now >= self->notices->deadline_ms) {
        self->stats.notice_waits++;
        tix_debug("a broker did not echo SALE_CHANGED in time; answering\tnotice_id=%llu awaiting=0x%x",
                  (unsigned long long) self->notices->id, self->notices->awaiting);
        s_notice_done(self, NULL, self->notices);
    }
    return self->notices ? self->notices->deadline_ms - now : -1;
}

int64_t
worker_link_notices_due(const worker_t *self)
{
    return self->notices ? self->notices->deadline_ms : INT64_MAX;
}

/* ---- Order events --------------------------------------------------------- */

void
worker_link_publish(worker_t *self, const Tix__V1__Order *order, const char *log_id)
{
    Tix__V1__OrderEvent event = TIX__V1__ORDER_EVENT__INIT;
    event.order = (Tix__V1__Order *) order;
    event.log_id = (char *) log_id;
    event.worker_id = (char *) self->config.worker_id;
    char topic[80]; /* "order." and a sale_id of at most 64 bytes (PROTOCOL.md) */
    int len = snprintf(topic, sizeof topic, "order.%s", order->sale_id);
    size_t size = s_pack_wire(self, &event.base);
    const tix_frame_t frames[2] = {
        {(const uint8_t *) topic, len > 0 && (size_t) len < sizeof topic ? (size_t) len : sizeof topic - 1},
        {self->wire_buf, size},
    };
    if (s_send_frames(self->pub, frames, 2))
        self->stats.events++;
    else
        self->stats.events_unsent++;
}
