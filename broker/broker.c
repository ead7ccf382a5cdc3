/*
 * broker.c - lifecycle, the poll loop, timers and the event proxy.
 */
#include "broker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "broker_backend.h"
#include "broker_dispatch.h"
#include "broker_events.h"
#include "broker_frontend.h"
#include "broker_http.h"
#include "broker_soldout.h"
#include "broker_reply.h"
#include "broker_state.h"
#include "tix_log.h"
#include "tix_util.h"

#define BROKER_TICK_MS 25 /* timer resolution: deadlines, heartbeats */
#define BROKER_BATCH 256  /* messages handled per socket per wakeup */
#define BROKER_HWM 200000 /* messages; calls in flight are bounded elsewhere */
/* Calls waiting in the frontend's receive pipe, per client connection. Kept
 * small so that a burst far past capacity waits in the clients' send queues
 * and the kernel, not in the broker's memory (200,000 calls at once would
 * otherwise sit here as ~100 MB of messages). Each client has its own pipe,
 * so one client's burst does not delay another's calls. */
#define BROKER_FRONTEND_RCVHWM 1000
/* Answers waiting in the frontend's send pipe, per client connection: what
 * a client that stops reading can make the broker hold (about 1 MB). A
 * client that reads keeps its pipe near empty: answers go on to the
 * kernel's socket buffers. libzmq learns of the pipe's reads in batches of
 * half the mark, so a burst of answers to one reading client (e.g. queued
 * Purchases answered at once at the sold-out edge) fits only up to about
 * half of it: 2,500 here. Beyond the mark, answers to that client are
 * dropped and counted `unroutable` (ROUTER_MANDATORY, no wait); libtix's
 * blocking calls resend a call left unanswered. */
#define BROKER_FRONTEND_SNDHWM 5000

static zsock_t *
s_bind(broker_t *self, int type, const char *endpoints, broker_zap_domain_t domain)
{
    const char *what = broker_zap_domain_name(domain);
    uint32_t max_message_bytes = self->config.max_message_bytes;
    zsock_t *sock = zsock_new(type);
    if (!sock)
        return NULL;
    if (self->config.curve && !tix_curve_server_apply(broker_zap_curve_pair(self->config.curve), what, sock)) {
        tix_error("cannot make a CURVE server\tsocket=%s err=\"%s\"", what, zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
        return NULL;
    }
    bool frontend = type == ZMQ_ROUTER && strcmp(what, "frontend") == 0;
    /* The XPUB only receives subscriptions: BROKER_EVENTS_SUB_MAX_BYTES. */
    zsock_set_maxmsgsize(sock, (int) (type == ZMQ_XPUB ? BROKER_EVENTS_SUB_MAX_BYTES : max_message_bytes));
    zsock_set_sndhwm(sock, frontend ? BROKER_FRONTEND_SNDHWM : BROKER_HWM);
    zsock_set_rcvhwm(sock, frontend ? BROKER_FRONTEND_RCVHWM : BROKER_HWM);
    zsock_set_linger(sock, 0);
    if (type == ZMQ_ROUTER) {
        /* Report unroutable replies (client gone) instead of dropping them
         * silently, and never block the loop on one slow client. */
        zsock_set_router_mandatory(sock, 1);
        zsock_set_sndtimeo(sock, 0);
    }
    if (type == ZMQ_XPUB) {
        zsock_set_sndtimeo(sock, 0);
        zsock_set_xpub_manual(sock, 1); /* broker_events.c applies subscriptions */
    }
    if (zsock_attach(sock, endpoints, true) != 0) {
        tix_error("--%s: cannot bind '%s': %s", what, endpoints, zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
    }
    return sock;
}

broker_t *
broker_new(const broker_config_t *config)
{
    broker_t *self = xcalloc(1, sizeof *self);
    self->config = *config;
    /* The ZAP handler first: a handshake may start as soon as a socket binds. */
    if (config->curve && !(self->zap = broker_zap_new(config->curve))) {
        broker_destroy(&self);
        return NULL;
    }
    self->frontend = s_bind(self, ZMQ_ROUTER, config->frontend, BROKER_ZAP_FRONTEND);
    self->backend = s_bind(self, ZMQ_ROUTER, config->backend, BROKER_ZAP_BACKEND);
    self->events_in = s_bind(self, ZMQ_XSUB, config->events_in, BROKER_ZAP_EVENTS_IN);
    self->events_out = s_bind(self, ZMQ_XPUB, config->events_out, BROKER_ZAP_EVENTS_OUT);
    if (!self->frontend || !self->backend || !self->events_in || !self->events_out) {
        broker_destroy(&self);
        return NULL;
    }
    broker_events_init(self);
    self->park = broker_park_new();
    tix_arena_init(&self->call_arena, xmalloc(BROKER_CALL_ARENA_BYTES), BROKER_CALL_ARENA_BYTES);
    for (size_t i = 0; i < BROKER_CALL_FRAMES; i++)
        zmq_msg_init(&self->call_msgs[i]);
    for (size_t i = 0; i < BROKER_BACKEND_FRAMES; i++)
        zmq_msg_init(&self->backend_msgs[i]);
    self->workers = broker_workers_new();
    self->jobs = broker_jobs_new();
    self->edge = broker_edge_new(BROKER_EDGE_MAX_SALES, BROKER_EDGE_MAX_BUYERS);
    self->limit = broker_limit_new(config->user_rate_per_s, config->user_burst, BROKER_LIMIT_SLOTS);
    self->client_limit = broker_limit_new(config->client_rate_per_s, config->client_burst, BROKER_LIMIT_CLIENT_SLOTS);
    self->next_tick_ms = tix_now_ms() + BROKER_TICK_MS;
    char key[TIX_CURVE_KEY_SHOWN + 1] = "off";
    if (config->curve)
        tix_curve_key_short(broker_zap_curve_pair(config->curve)->public_txt, key);
    tix_info("broker listening\tfrontend=%s backend=%s events_in=%s events_out=%s queue_limit=%u curve=%s",
             broker_frontend_endpoint(self), broker_backend_endpoint(self), config->events_in, config->events_out,
             config->queue_limit, key);
    return self;
}

void
broker_destroy(broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    broker_http_close(self);
    broker_jobs_destroy(&self->jobs);
    broker_edge_destroy(&self->edge);
    broker_limit_destroy(&self->limit);
    broker_limit_destroy(&self->client_limit);
    broker_workers_destroy(&self->workers);
    broker_events_destroy(self);
    broker_park_destroy(&self->park);
    if (self->call_arena.buf) {
        for (size_t i = 0; i < BROKER_CALL_FRAMES; i++)
            zmq_msg_close(&self->call_msgs[i]);
        for (size_t i = 0; i < BROKER_BACKEND_FRAMES; i++)
            zmq_msg_close(&self->backend_msgs[i]);
        free(self->call_arena.buf);
    }
    free(self->wire_buf);
    zsock_destroy(&self->events_out);
    zsock_destroy(&self->events_in);
    zsock_destroy(&self->backend);
    zsock_destroy(&self->frontend);
    broker_zap_destroy(&self->zap);
    free(self);
    *self_p = NULL;
}

bool
broker_open_http(broker_t *self)
{
    char why[300];
    if (broker_http_open(self, why, sizeof why) == TIX_OK) {
        if (self->http)
            tix_info("http listening\taddress=%s port=%d", self->config.http, tix_http_port(self->http));
        return true;
    }
    fprintf(stderr, "tix-broker: --http: %s\n", why);
    return false;
}

const broker_stats_t *
broker_stats(const broker_t *self)
{
    return &self->stats;
}

const char *
broker_frontend_endpoint(const broker_t *self)
{
    return zsock_endpoint(self->frontend);
}

const char *
broker_backend_endpoint(const broker_t *self)
{
    return zsock_endpoint(self->backend);
}

static void
s_on_deadline(broker_job_t *job, void *arg)
{
    broker_t *self = arg;
    if (job->dispatches > 0) {
        /* It may have run at a worker that died: DEADLINE_EXCEEDED would
         * claim it did not. */
        self->stats.unavailable++;
        broker_reply_answer(self, job, TIX__V1__CODE__UNAVAILABLE,
                            "broker: the worker holding this call was lost; its outcome is unknown, retry it unchanged",
                            BROKER_NO_WORKER_RETRY_MS, NULL, 0);
        return;
    }
    self->stats.expired++;
    broker_reply_answer(self, job, TIX__V1__CODE__DEADLINE_EXCEEDED, "deadline: passed while waiting for a worker", 0,
                        NULL, 0);
}

static void
s_tick(broker_t *self, int64_t now)
{
    broker_jobs_expire(self->jobs, now, s_on_deadline, self);
    broker_backend_tick(self, now);
    broker_soldout_tick(self, now);
    broker_dispatch(self);
    self->next_tick_ms = now + BROKER_TICK_MS;
}

/* Handles up to BROKER_BATCH messages waiting on sock. */
static void
s_drain_socket(broker_t *self, zsock_t *sock)
{
    if (sock == self->frontend) { /* the hot path: zmq_msg_t reused, no czmq message */
        broker_frontend_drain(self, BROKER_BATCH);
        return;
    }
    if (sock == self->backend) { /* the same for the workers' replies */
        broker_backend_drain(self, BROKER_BATCH);
        return;
    }
    for (int i = 0; i < BROKER_BATCH && (zsock_events(sock) & ZMQ_POLLIN); i++) {
        if (sock == self->events_in) {
            broker_events_from_workers(self);
            continue;
        }
        if (sock == self->events_out) {
            broker_events_from_subscribers(self);
            continue;
        }
    }
}

tix_err
broker_step(broker_t *self, int timeout_ms)
{
    int64_t now = tix_now_ms();
    int64_t until_tick = self->next_tick_ms - now;
    if (until_tick < timeout_ms)
        timeout_ms = until_tick < 0 ? 0 : (int) until_tick;
    if (broker_park_size(self->park) > 0 && timeout_ms > BROKER_PARK_RETRY_MS)
        timeout_ms = BROKER_PARK_RETRY_MS; /* parked answers: try their pipes again soon */
    long http_ms = tix_http_timeout_ms(self->http);
    if (http_ms >= 0 && http_ms < timeout_ms)
        timeout_ms = (int) http_ms;
    zmq_pollitem_t items[] = {
        {zsock_resolve(self->backend), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(self->frontend), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(self->events_in), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(self->events_out), 0, ZMQ_POLLIN, 0},
        {self->zap ? broker_zap_handle(self->zap) : NULL, 0, ZMQ_POLLIN, 0},
        {NULL, -1, 0, 0},
    };
    int nitems = 4;
    int zap_i = self->zap ? nitems++ : -1; /* the ZAP handler's, when CURVE is on */
    int http_i = tix_http_pollitem(self->http, &items[nitems]) ? nitems++ : -1; /* --http's */
    int rc = zmq_poll(items, nitems, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? TIX_ERR_INTERRUPTED : TIX_ERR_IO;
    /* Handshakes wait for these answers: give them first. */
    if (zap_i >= 0 && (items[zap_i].revents & ZMQ_POLLIN))
        broker_zap_recv(self->zap, tix_now_ms());
    /* Backend first, whatever the poll saw (s_drain_socket asks the socket):
     * replies free credit for the calls that follow, and a worker's
     * SALE_CHANGED notice that came before a call must be handled first. */
    s_drain_socket(self, self->backend);
    if (items[1].revents & ZMQ_POLLIN)
        s_drain_socket(self, self->frontend);
    if (items[2].revents & ZMQ_POLLIN)
        s_drain_socket(self, self->events_in);
    if (items[3].revents & ZMQ_POLLIN)
        s_drain_socket(self, self->events_out);
    self->stats.replied += broker_park_flush(self->park, zsock_resolve(self->frontend), &self->stats.unroutable);
    /* Scrapes and probes, also when only their timeout passed: served from
     * this loop, so a stuck loop fails its probe. */
    if (http_i >= 0)
        tix_http_run(self->http, items[http_i].revents);
    now = tix_now_ms();
    if (now >= self->next_tick_ms)
        s_tick(self, now);
    return TIX_OK;
}

void
broker_run(broker_t *self)
{
    while (!tix_stopping()) {
        tix_err err = broker_step(self, 1000);
        if (err != TIX_OK && err != TIX_ERR_INTERRUPTED) {
            tix_error("poll failed\terr=\"%s\"", zmq_strerror(zmq_errno()));
            break;
        }
    }
}

static void
s_unavailable(broker_job_t *job, void *arg)
{
    broker_t *self = arg;
    self->stats.unavailable++;
    if (job->worker)
        job->worker->in_flight--;
    broker_reply_answer(self, job, TIX__V1__CODE__UNAVAILABLE, "broker: shutting down", BROKER_NO_WORKER_RETRY_MS, NULL,
                        0);
}

void
broker_drain(broker_t *self)
{
    self->draining = true;
    broker_job_t *job;
    while ((job = broker_jobs_pop(self->jobs)) != NULL)
        s_unavailable(job, self);
    int64_t deadline = tix_now_ms() + self->config.drain_ms;
    while (broker_jobs_live(self->jobs) > 0 && tix_now_ms() < deadline)
        broker_step(self, 50);
    /* Whatever workers did not answer in time is answered now. */
    for (size_t i = 0; i < broker_workers_count(self->workers); i++)
        broker_jobs_each_of(self->jobs, broker_workers_at(self->workers, i), s_unavailable, self);
    /* Answers still parked go out while their clients read, within the drain time. */
    deadline = tix_now_ms() + self->config.drain_ms;
    while (broker_park_size(self->park) > 0 && tix_now_ms() < deadline)
        broker_step(self, BROKER_PARK_RETRY_MS);
    const broker_stats_t *s = &self->stats;
    tix_info(
        "broker stopped\tcalls=%llu replied=%llu forwarded=%llu unroutable=%llu exhausted=%llu expired=%llu "
        "unavailable=%llu invalid=%llu workers_lost=%llu redispatched=%llu stale_replies=%llu events=%llu "
        "edge_answers=%llu edge_evicted=%llu edge_dropped=%llu edge_notices=%llu rate_limited=%llu fair_refused=%llu "
        "curve_denied=%llu subscriptions_refused=%llu subscribers_cut=%llu",
        (unsigned long long) s->calls, (unsigned long long) s->replied, (unsigned long long) s->forwarded,
        (unsigned long long) s->unroutable, (unsigned long long) s->exhausted, (unsigned long long) s->expired,
        (unsigned long long) s->unavailable, (unsigned long long) s->invalid, (unsigned long long) s->workers_lost,
        (unsigned long long) s->redispatched, (unsigned long long) s->stale_replies, (unsigned long long) s->events,
        (unsigned long long) s->edge_answers, (unsigned long long) s->edge_evicted,
        (unsigned long long) s->edge_dropped, (unsigned long long) s->edge_notices,
        (unsigned long long) s->rate_limited, (unsigned long long) s->fair_refused,
        (unsigned long long) (self->zap ? broker_zap_denied(self->zap) : 0),
        (unsigned long long) s->subscriptions_refused, (unsigned long long) s->subscribers_cut);
}
