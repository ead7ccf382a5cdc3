/*
 * fuzz_broker.c - the broker's message handlers, broker_frontend_recv and
 * broker_backend_recv, driven by a fuzz input as a conversation.
 *
 * One broker serves the whole process, bound to inproc endpoints, with three
 * real peers so that what it sends has somewhere to go and can be checked: a
 * client DEALER "C" on the frontend, and worker DEALERs "W" and "Y" on the
 * backend. Messages to any other routing id are unroutable and dropped at
 * once (the broker's ROUTERs are mandatory with a 0 send timeout), so nothing
 * blocks. Each input starts from the same state: afterwards the job table,
 * the worker table and the sold-out edge are replaced by empty ones, the
 * counters are zeroed and the peers' queues are read.
 *
 * fuzz_broker_backend reads the high nibble of each message head as an
 * operation (modulo 5):
 *   0  a worker message [rid][TXW1][command][body] to broker_backend_recv
 *   1  a client message [rid][empty][TIX1][CallHeader][body] to
 *      broker_frontend_recv (so that workers have jobs to answer)
 *   2  an hour passes: every worker's heartbeat expires (broker_backend_tick,
 *      then broker_dispatch, as the broker's timer does)
 *   3  broker_drain (drain_ms 0: what workers hold is answered at once)
 *   4  worker "Y" disconnects: the broker's sends to it fail from now on
 * fuzz_broker_frontend sends every message to broker_frontend_recv, after
 * worker "W" registered with capacity 2 (the queue limit is 4).
 *
 * Checked after every input: each call received is answered once (C got it,
 * or it was unroutable) or still held; each job is queued or at a
 * registered worker; each worker's in_flight counts its jobs; everything C,
 * W and Y received decodes, and every reply's message is valid UTF-8.
 */
#include "fuzz_targets.h"

#include <string.h>

#include "broker.h"
#include "broker_backend.h"
#include "broker_dispatch.h"
#include "broker_frontend.h"
#include "broker_state.h"
#include "tix_util.h"

#define FX_FRONTEND "inproc://fuzz-broker-frontend"
#define FX_BACKEND "inproc://fuzz-broker-backend"
#define FX_CLIENT "C"
#define FX_WORKER "W"
#define FX_PEER "Y"
#define FX_QUEUE_LIMIT 4
#define FX_WORKER_CAPACITY 2
#define FX_WAIT_MS 2000    /* fixture set-up steps; never reached when healthy */
#define FX_HOUR_MS 3600000 /* OP_TIME_PASSES */

enum { OP_BACKEND, OP_FRONTEND, OP_TIME_PASSES, OP_DRAIN, OP_PEER_GONE, OP_COUNT };

static struct {
    broker_t *broker;
    zsock_t *client; /* DEALER "C" on the frontend: receives replies */
    zsock_t *worker; /* DEALER "W" on the backend: receives jobs */
    zsock_t *peer;   /* DEALER "Y" on the backend; NULL once it left */
    uint64_t calls;  /* frontend messages with a routing id, this input */
} s_fx;

/* ---- Fixture ---------------------------------------------------------------- */

static bool
s_readable(zsock_t *sock, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
    return zmq_poll(&item, 1, timeout_ms) == 1;
}

/* A DEALER with routing id `id`, connected to router at endpoint; NULL
 * unless its probe came through the ROUTER under that id. */
static zsock_t *
s_peer_try(const char *endpoint, const char *id, zsock_t *router)
{
    zsock_t *s = zsock_new(ZMQ_DEALER);
    FUZZ_CHECK(s != NULL, "fixture: a peer socket");
    zsock_set_identity(s, id);
    zsock_set_rcvhwm(s, 0);
    zsock_set_rcvtimeo(s, 0);
    zsock_set_sndtimeo(s, 0);
    zsock_set_linger(s, 0);
    FUZZ_CHECK(zsock_connect(s, "%s", endpoint) == 0, "fixture: a peer connects");
    FUZZ_CHECK(zstr_send(s, "probe") == 0, "fixture: a peer sends its probe");
    bool known = false;
    while (!known && s_readable(router, 20)) {
        zmsg_t *probe = zmsg_recv(router);
        known = probe && zframe_streq(zmsg_first(probe), id);
        zmsg_destroy(&probe);
    }
    if (!known)
        zsock_destroy(&s);
    return s;
}

/* A peer the broker knows by id (retried, in case the ROUTER has not
 * attached it within the probe's wait). */
static zsock_t *
s_peer_new(const char *endpoint, const char *id, zsock_t *router)
{
    int64_t until = tix_now_ms() + FX_WAIT_MS;
    zsock_t *s;
    while ((s = s_peer_try(endpoint, id, router)) == NULL)
        FUZZ_CHECK(tix_now_ms() < until, "fixture: a peer becomes known to the broker");
    return s;
}

static void
s_fixture(void)
{
    if (s_fx.broker)
        return;
    broker_config_t c;
    broker_config_defaults(&c);
    c.frontend = FX_FRONTEND;
    c.backend = FX_BACKEND;
    c.events_in = "inproc://fuzz-broker-events-in";
    c.events_out = "inproc://fuzz-broker-events-out";
    c.queue_limit = FX_QUEUE_LIMIT;
    c.drain_ms = 0;
    s_fx.broker = broker_new(&c);
    FUZZ_CHECK(s_fx.broker != NULL, "fixture: the broker binds its inproc endpoints");
    /* "Y" comes back under its old routing id after OP_PEER_GONE: let the
     * new connection take it over at once, rather than be ignored while
     * the ROUTER finishes with the old one (an ignored pipe is never read,
     * so its closed socket is never reaped: they pile up to ZMQ_MAX_SOCKETS). */
    zsock_set_router_handover(s_fx.broker->backend, 1);
    s_fx.client = s_peer_new(FX_FRONTEND, FX_CLIENT, s_fx.broker->frontend);
    s_fx.worker = s_peer_new(FX_BACKEND, FX_WORKER, s_fx.broker->backend);
    s_fx.peer = s_peer_new(FX_BACKEND, FX_PEER, s_fx.broker->backend);
}

void
fuzz_broker_fixture_free(void)
{
    zsock_destroy(&s_fx.peer);
    zsock_destroy(&s_fx.worker);
    zsock_destroy(&s_fx.client);
    broker_destroy(&s_fx.broker);
}

/* Worker "Y" leaves; returns once the backend ROUTER has dropped its pipe
 * (a send to Y fails), so that what follows does not depend on timing. */
static void
s_peer_gone(void)
{
    if (!s_fx.peer)
        return;
    zsock_destroy(&s_fx.peer);
    zsock_t *backend = s_fx.broker->backend;
    int64_t until = tix_now_ms() + FX_WAIT_MS;
    for (;;) {
        (void) zsock_events(backend); /* lets the ROUTER process the pipe's end */
        zmsg_t *probe = zmsg_new();
        zmsg_addstr(probe, FX_PEER);
        zmsg_addstr(probe, "probe");
        if (zmsg_send(&probe, backend) != 0) {
            zmsg_destroy(&probe);
            return;
        }
        FUZZ_CHECK(tix_now_ms() < until, "fixture: the broker notices a worker that left");
        zclock_sleep(1);
    }
}

/* Back to the state every input starts from. */
static void
s_reset(void)
{
    broker_t *b = s_fx.broker;
    broker_jobs_destroy(&b->jobs);
    b->jobs = broker_jobs_new();
    broker_workers_destroy(&b->workers);
    b->workers = broker_workers_new();
    broker_edge_destroy(&b->edge);
    b->edge = broker_edge_new(BROKER_EDGE_MAX_SALES, BROKER_EDGE_MAX_BUYERS);
    memset(&b->stats, 0, sizeof b->stats);
    b->draining = false;
    b->rate_since_ms = 0;
    b->rate_replied = 0;
    b->replies_per_ms = 0;
    s_fx.calls = 0;
    if (!s_fx.peer)
        s_fx.peer = s_peer_new(FX_BACKEND, FX_PEER, b->backend);
}

/* ---- Checks ------------------------------------------------------------------ */

/* Reads what C received, each a well-formed reply; returns how many. */
static uint64_t
s_read_client(void)
{
    uint64_t n = 0;
    zmsg_t *msg;
    while ((msg = zmsg_recv(s_fx.client)) != NULL) {
        tix_frame_t views[4], body;
        Tix__V1__ReplyHeader *h = NULL;
        size_t nf = tix_frames_view(msg, 0, views, 4);
        FUZZ_CHECK(nf == 4 && views[0].size == 0, "a reply is [empty][TIX1][ReplyHeader][body]");
        FUZZ_CHECK(tix_reply_decode(views + 1, 3, &h, &body) == TIX_OK, "a reply decodes");
        fuzz_check_status(h->code, h->message);
        tix__v1__reply_header__free_unpacked(h, NULL);
        zmsg_destroy(&msg);
        n++;
    }
    return n;
}

/* Reads what a worker peer received: TXW1 messages a worker accepts. */
static void
s_read_worker(zsock_t *sock)
{
    zmsg_t *msg;
    while (sock && (msg = zmsg_recv(sock)) != NULL) {
        tix_frame_t views[3];
        size_t n = tix_frames_view(msg, 0, views, 3);
        tix_wp_command command;
        ProtobufCMessage *body = NULL;
        FUZZ_CHECK(n == 3 && tix_wp_decode(views, n, &command, &body) == TIX_OK, "what a worker receives decodes");
        FUZZ_CHECK(command == TIX_WP_JOB || command == TIX_WP_HEARTBEAT || command == TIX_WP_DISCONNECT,
                   "the broker sends workers JOB, HEARTBEAT or DISCONNECT");
        if (body)
            protobuf_c_message_free_unpacked(body, NULL);
        zmsg_destroy(&msg);
    }
}

typedef struct {
    uint64_t jobs;        /* jobs seen */
    uint64_t client_jobs; /* of which a client waits for */
} s_tally_t;

static void
s_tally(broker_job_t *job, void *arg)
{
    s_tally_t *t = arg;
    FUZZ_CHECK(job->worker || job->queued, "a job without a worker is queued");
    t->jobs++;
    if (job->client.data)
        t->client_jobs++;
}

/* Every call answered once or held; every job queued or at a live worker. */
static void
s_check_books(uint64_t answered)
{
    broker_t *b = s_fx.broker;
    s_tally_t held = {0, 0};
    broker_jobs_each_of(b->jobs, NULL, s_tally, &held);
    FUZZ_CHECK(held.jobs == broker_jobs_queued(b->jobs), "the queue holds every job without a worker");
    for (size_t i = 0; i < broker_workers_count(b->workers); i++) {
        broker_worker_t *w = broker_workers_at(b->workers, i);
        s_tally_t mine = {0, 0};
        broker_jobs_each_of(b->jobs, w, s_tally, &mine);
        FUZZ_CHECK(mine.jobs == w->in_flight, "a worker's in_flight counts the jobs it holds");
        held.jobs += mine.jobs;
        held.client_jobs += mine.client_jobs;
    }
    FUZZ_CHECK(held.jobs == broker_jobs_live(b->jobs), "every job is queued or at a registered worker");
    FUZZ_CHECK(b->stats.replied == answered, "every reply the broker counts as sent reaches the client");
    FUZZ_CHECK(s_fx.calls == b->stats.replied + b->stats.unroutable + held.client_jobs,
               "every call is answered exactly once, or still held");
}

static void
s_finish(void)
{
    s_read_worker(s_fx.worker);
    s_read_worker(s_fx.peer);
    s_check_books(s_read_client());
    s_reset();
}

/* ---- Conversation ------------------------------------------------------------ */

static void
s_frontend(const fuzz_message_t *m)
{
    zmsg_t *msg = fuzz_message_zmsg(m, 0);
    if (m->nframes > 0)
        s_fx.calls++; /* a ROUTER always gives a routing id: those are calls */
    broker_frontend_recv(s_fx.broker, &msg);
    FUZZ_CHECK(msg == NULL, "the frontend handler takes the message");
}

static void
s_backend(const fuzz_message_t *m)
{
    zmsg_t *msg = fuzz_message_zmsg(m, 0);
    broker_backend_recv(s_fx.broker, &msg);
    FUZZ_CHECK(msg == NULL, "the backend handler takes the message");
}

/* Registers worker rid as a worker would: READY with capacity. */
static void
s_ready(const char *rid, uint32_t capacity)
{
    Tix__Worker__V1__Ready ready = TIX__WORKER__V1__READY__INIT;
    ready.worker_id = "fuzz-worker";
    ready.capacity = capacity;
    ready.redis_ok = true;
    ready.heartbeat_ms = 1000;
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, rid);
    tix_wp_append(msg, TIX_WP_READY, &ready.base);
    broker_backend_recv(s_fx.broker, &msg);
}

static void
s_backend_op(const fuzz_message_t *m)
{
    switch (m->op % OP_COUNT) {
    case OP_BACKEND: s_backend(m); break;
    case OP_FRONTEND: s_frontend(m); break;
    case OP_TIME_PASSES:
        broker_backend_tick(s_fx.broker, tix_now_ms() + FX_HOUR_MS);
        broker_dispatch(s_fx.broker);
        break;
    case OP_DRAIN: broker_drain(s_fx.broker); break;
    case OP_PEER_GONE: s_peer_gone(); break;
    }
}

int
fuzz_broker_frontend(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_message_t m;
    s_fixture();
    s_ready(FX_WORKER, FX_WORKER_CAPACITY);
    fuzz_reader_init(&r, data, size);
    while (fuzz_next_message(&r, &m))
        s_frontend(&m);
    s_finish();
    return 0;
}

int
fuzz_broker_backend(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_message_t m;
    s_fixture();
    fuzz_reader_init(&r, data, size);
    while (fuzz_next_message(&r, &m))
        s_backend_op(&m);
    s_finish();
    return 0;
}
