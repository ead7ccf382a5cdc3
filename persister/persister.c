/*
 * persister.c - the top layer: lifecycle, the poll loop, events, the drain
 * and the health file. Reading the order logs is persister_catchup.c's,
 * writing to the sink persister_flush.c's.
 */
#include "persister.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "persister_catchup.h"
#include "persister_flush.h"
#include "persister_http.h"
#include "persister_state.h"
#include "tix_codec.h"
#include "tix_log.h"
#include "tix_util.h"

#define TOPIC_MAX_BYTES (sizeof "order." + TIX_SALE_ID_MAX_BYTES)
#define EVENT_WARN_EVERY_MS 10000

/* Watches the SUB's connections (the health file needs one), through a
 * PAIR polled in the same loop: no thread. */
static bool
s_monitor_new(persister_t *self)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://persister-monitor-%p", (void *) self);
    if (zmq_socket_monitor(zsock_resolve(self->sub), endpoint, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) != 0) {
        tix_error("cannot monitor the event subscription\terr=\"%s\"", zmq_strerror(zmq_errno()));
        return false;
    }
    self->monitor = zsock_new(ZMQ_PAIR);
    return zsock_connect(self->monitor, "%s", endpoint) == 0;
}

/* One monitor event: [u16 event, u32 value][endpoint]. */
static void
s_on_monitor(persister_t *self)
{
    zframe_t *head = zframe_recv(self->monitor);
    char *endpoint = zsock_rcvmore(self->monitor) ? zstr_recv(self->monitor) : NULL;
    uint16_t event = 0;
    if (head && zframe_size(head) >= 2)
        memcpy(&event, zframe_data(head), sizeof event);
    if (event == ZMQ_EVENT_CONNECTED) {
        if (self->connected++ == 0) {
            tix_info("subscribed to the event feed\tendpoint=%s", endpoint ? endpoint : "?");
            self->next_health_ms = tix_now_ms(); /* say so now, not in a second */
        }
    } else if (event == ZMQ_EVENT_DISCONNECTED && self->connected > 0) {
        if (--self->connected == 0)
            tix_warn("event feed disconnected; reconnecting, and the catch-up covers the gap\tendpoint=%s",
                     endpoint ? endpoint : "?");
    }
    zstr_free(&endpoint);
    zframe_destroy(&head);
}

persister_t *
persister_new(const persister_config_t *config, persister_sink_t **sink)
{
    char why[256];
    persister_t *self = xcalloc(1, sizeof *self);
    self->config = *config;
    self->sink = *sink;
    *sink = NULL;
    self->sales = persister_sales_new(config->buffer_max);
    self->batch = persister_batch_new(config->buffer_max);
    self->page = xcalloc(config->batch_max, sizeof *self->page);
    self->status = xcalloc(config->batch_max, sizeof *self->status);
    self->done = xcalloc(config->batch_max, sizeof *self->done);
    self->log = persister_log_new(config->redis_url, config->redis_timeout_ms, config->min_replicas, why, sizeof why);
    if (!self->log) {
        tix_error("bad redis url\treason=\"%s\"", why);
        goto fail;
    }
    self->sub = zsock_new(ZMQ_SUB);
    zsock_set_rcvhwm(self->sub, config->events_hwm);
    zsock_set_maxmsgsize(self->sub, TIX_MAX_MESSAGE_BYTES);
    zsock_set_linger(self->sub, 0);
    zsock_set_subscribe(self->sub, "order.");
    if (config->curve && !tix_curve_client_apply(config->curve, self->sub)) {
        tix_error("cannot set the CURVE keys\tsocket=events-out err=\"%s\"", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (!s_monitor_new(self)) /* before connecting, or the first connect goes unseen */
        goto fail;
    if (zsock_attach(self->sub, config->events_out, false) != 0) {
        tix_error("cannot connect to the event feed\tendpoint=%s err=\"%s\"", config->events_out,
                  zmq_strerror(zmq_errno()));
        goto fail;
    }
    int64_t now = tix_now_ms();
    self->next_catchup_ms = self->next_health_ms = now;
    self->sales_card = -1;
    tix_info("persister started\tevents_out=%s sink=%s batch_max=%zu batch_ms=%d catchup_ms=%d buffer_max=%zu",
             config->events_out, persister_sink_where(self->sink), config->batch_max, config->batch_ms,
             config->catchup_ms, config->buffer_max);
    return self;
fail:
    persister_destroy(&self);
    return NULL;
}

void
persister_destroy(persister_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    persister_t *self = *self_p;
    persister_http_close(self);
    if (self->sub && self->monitor)
        zmq_socket_monitor(zsock_resolve(self->sub), NULL, 0);
    zsock_destroy(&self->monitor);
    zsock_destroy(&self->sub);
    persister_log_destroy(&self->log);
    persister_batch_destroy(&self->batch);
    persister_sales_destroy(&self->sales);
    persister_sink_destroy(&self->sink);
    free(self->page);
    free(self->status);
    free(self->done);
    free(self);
    *self_p = NULL;
}

/* ---- Events ------------------------------------------------------------- */

static void
s_event_warn(persister_t *self, const char *what)
{
    int64_t now = tix_now_ms();
    if (now < self->next_event_warn_ms)
        return;
    self->next_event_warn_ms = now + EVENT_WARN_EVERY_MS;
    tix_warn("%s\tevents=%llu bad=%llu shed=%llu held=%zu", what, (unsigned long long) self->stats.events,
             (unsigned long long) self->stats.events_bad, (unsigned long long) self->stats.shed,
             persister_batch_size(self->batch));
}

/* An event is a hint that its sale's log has news, and a claim to check
 * against the log entry it names; it is never written itself (anyone who
 * reaches the event intake can publish one). */
static void
s_on_hint(persister_t *self, persister_order_t *order)
{
    persister_sale_t *sale = persister_sales_find(self->sales, order->sale_id);
    if (!sale) {
        self->unknown_sale = true; /* a new sale, or a made-up one: tix:sales says which */
        if (self->hints_since_ms == 0)
            self->hints_since_ms = tix_now_ms();
        return;
    }
    if (persister_sales_is_written(sale, order->log_id)) {
        self->stats.events_known++;
        return;
    }
    if (!sale->live) {
        tix_info("retired sale named by an event; back in the catch-up\tsale=%s", sale->sale_id);
        persister_sales_revive(self->sales, sale);
    }
    persister_catchup_hint(self, sale);
    if (!persister_sales_claim(self->sales, sale, order)) {
        self->stats.shed++;
        s_event_warn(self, "event claim not kept (one for its log id is held, or too many): the log has the order");
    }
}

/* Decodes and files one event: topic and body are its two frames. */
static void
s_on_event(persister_t *self, const char *topic, const uint8_t *body, size_t body_size)
{
    char why[128];
    persister_order_t order;
    self->stats.events++;
    Tix__V1__OrderEvent *event = tix__v1__order_event__unpack(NULL, body_size, body);
    bool decoded = event != NULL;
    bool ok = decoded && persister_order_from_event(event, topic, &order, why, sizeof why);
    if (decoded)
        tix__v1__order_event__free_unpacked(event, NULL);
    if (!ok) {
        self->stats.events_bad++;
        s_event_warn(self, decoded ? why : "undecodable order event dropped");
        return;
    }
    s_on_hint(self, &order);
    persister_order_clear(&order);
}

/* Reads one whole message without blocking; false when none is waiting. */
static bool
s_recv_one(persister_t *self, void *handle)
{
    zmq_msg_t frames[2], part;
    size_t nframes = 0, total = 0;
    int flags = ZMQ_DONTWAIT; /* the first frame; the rest of a message is there at once */
    for (bool more = true; more; flags = 0) {
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, handle, flags) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        total++;
        if (nframes < TIX_ARRAY_LEN(frames)) {
            zmq_msg_init(&frames[nframes]);
            zmq_msg_move(&frames[nframes++], &part);
        }
        zmq_msg_close(&part);
    }
    if (total == 0)
        return false;
    char topic[TOPIC_MAX_BYTES];
    size_t tsize = zmq_msg_size(&frames[0]);
    if (total != 2 || tsize >= sizeof topic) {
        self->stats.events++;
        self->stats.events_bad++;
        s_event_warn(self, "malformed order event dropped");
    } else {
        memcpy(topic, zmq_msg_data(&frames[0]), tsize);
        topic[tsize] = '\0';
        s_on_event(self, topic, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]));
    }
    for (size_t i = 0; i < nframes; i++)
        zmq_msg_close(&frames[i]);
    return true;
}

static void
s_recv_events(persister_t *self, size_t max)
{
    void *handle = zsock_resolve(self->sub);
    for (size_t i = 0; i < max && s_recv_one(self, handle); i++)
        ;
}

/* ---- The loop ----------------------------------------------------------- */

static void
s_health(persister_t *self, int64_t now)
{
    self->next_health_ms = now + PERSISTER_HEALTH_MS;
    if (self->backoff_ms != 0 || self->connected == 0)
        return; /* the sink is not answering or the feed is not connected: let the file go stale */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", self->config.health_file);
    FILE *f = fopen(tmp, "we");
    bool ok = f != NULL;
    if (f) {
        fprintf(f, "ok sink=%s held=%zu written=%llu\n", persister_sink_kind(self->sink),
                persister_batch_size(self->batch), (unsigned long long) self->stats.written);
        ok = fclose(f) == 0 && rename(tmp, self->config.health_file) == 0;
    }
    if (!ok)
        tix_warn("cannot write the health file\tpath=%s err=\"%s\"", self->config.health_file, strerror(errno));
}

static bool
s_flush_due(const persister_t *self, int64_t now)
{
    size_t held = persister_batch_size(self->batch);
    if (held == 0 || now < self->retry_at_ms)
        return false;
    return held >= self->config.batch_max || now >= persister_batch_since_ms(self->batch) + self->config.batch_ms;
}

/* When the event hints are to be read (monotonic ms); INT64_MAX if none. */
static int64_t
s_hints_at(const persister_t *self)
{
    if (self->hints_since_ms == 0)
        return INT64_MAX;
    int64_t at = self->hints_since_ms + self->config.batch_ms;
    return at > self->retry_at_ms ? at : self->retry_at_ms;
}

static bool
s_hints_due(const persister_t *self, int64_t now)
{
    return now >= s_hints_at(self);
}

/* Milliseconds until the earliest timer, at most max_wait_ms. */
static int
s_wait_ms(const persister_t *self, int64_t now, int max_wait_ms)
{
    int64_t at = now + max_wait_ms;
    int64_t catchup = self->next_catchup_ms > self->retry_at_ms ? self->next_catchup_ms : self->retry_at_ms;
    at = catchup < at ? catchup : at;
    if (persister_batch_size(self->batch) > 0) {
        int64_t flush = persister_batch_size(self->batch) >= self->config.batch_max
                            ? now
                            : persister_batch_since_ms(self->batch) + self->config.batch_ms;
        flush = flush > self->retry_at_ms ? flush : self->retry_at_ms;
        at = flush < at ? flush : at;
    }
    if (self->config.health_file && self->next_health_ms < at)
        at = self->next_health_ms;
    at = s_hints_at(self) < at ? s_hints_at(self) : at;
    return at > now ? (int) (at - now) : 0;
}

tix_err
persister_step(persister_t *self, int max_wait_ms)
{
    int64_t now = tix_now_ms();
    zmq_pollitem_t items[] = {{zsock_resolve(self->sub), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve(self->monitor), 0, ZMQ_POLLIN, 0},
                              {NULL, -1, 0, 0}};
    int nitems = tix_http_pollitem(self->http, &items[2]) ? 3 : 2; /* --http's last */
    int wait_ms = s_wait_ms(self, now, max_wait_ms);
    long http_ms = tix_http_timeout_ms(self->http);
    if (http_ms >= 0 && http_ms < wait_ms)
        wait_ms = (int) http_ms;
    int rc = zmq_poll(items, nitems, wait_ms);
    if (rc < 0)
        return errno == EINTR ? TIX_ERR_INTERRUPTED : TIX_ERR_IO;
    if (items[1].revents & ZMQ_POLLIN)
        s_on_monitor(self);
    if (items[0].revents & ZMQ_POLLIN)
        s_recv_events(self, PERSISTER_EVENTS_PER_WAKE);
    now = tix_now_ms();
    if (s_flush_due(self, now))
        persister_flush_all(self);
    if (s_hints_due(self, now))
        persister_catchup_hints(self);
    if (now >= self->next_catchup_ms && now >= self->retry_at_ms)
        persister_catchup_pass(self);
    if (self->config.health_file && now >= self->next_health_ms)
        s_health(self, now);
    if (nitems == 3) /* scrapes and probes, from this loop: a stuck loop fails them */
        tix_http_run(self->http, items[2].revents);
    return TIX_OK;
}

void
persister_run(persister_t *self)
{
    while (!tix_stopping())
        persister_step(self, 1000);
}

tix_err
persister_drain(persister_t *self, int timeout_ms)
{
    int64_t deadline = tix_now_ms() + timeout_ms;
    s_recv_events(self, persister_batch_room(self->batch));
    self->retry_at_ms = 0; /* one prompt attempt, then the backoff */
    for (int64_t now = tix_now_ms(); persister_batch_size(self->batch) > 0 && now < deadline; now = tix_now_ms()) {
        int64_t until = self->retry_at_ms < deadline ? self->retry_at_ms : deadline;
        if (until > now)
            usleep((useconds_t) ((until - now) * 1000)); /* the backoff, within the drain time */
        persister_flush_all(self);
    }
    if (persister_batch_size(self->batch) == 0 && self->backoff_ms == 0)
        persister_catchup_pass(self); /* moves and stores the cursors past what was just written */
    else
        persister_flush_cursors(self);
    size_t held = persister_batch_size(self->batch);
    const persister_stats_t *s = &self->stats;
    tix_info("persister stopped\tsink=%s written=%llu cancels=%llu conflicts=%llu refused=%llu events=%llu "
             "mismatched=%llu from_log=%llu shed=%llu write_calls=%llu unwritten=%zu live=%zu retired=%zu",
             persister_sink_where(self->sink), (unsigned long long) s->written, (unsigned long long) s->cancels,
             (unsigned long long) s->conflicts, (unsigned long long) s->refused, (unsigned long long) s->events,
             (unsigned long long) s->mismatched, (unsigned long long) s->from_log, (unsigned long long) s->shed,
             (unsigned long long) s->write_calls, held, persister_sales_live_count(self->sales),
             persister_sales_count(self->sales) - persister_sales_live_count(self->sales));
    if (held > 0)
        tix_warn("orders left unwritten at stop; the order log keeps them for the next start\tunwritten=%zu", held);
    return held == 0 ? TIX_OK : TIX_ERR_UNAVAILABLE;
}

bool
persister_open_http(persister_t *self)
{
    char why[300];
    if (persister_http_open(self, why, sizeof why) != TIX_OK) {
        fprintf(stderr, "tix-persister: --http: %s\n", why);
        return false;
    }
    if (self->http)
        tix_info("http listening\taddress=%s port=%d", self->config.http, tix_http_port(self->http));
    return true;
}

const persister_stats_t *
persister_stats(const persister_t *self)
{
    return &self->stats;
}

bool
persister_subscribed(const persister_t *self)
{
    return self->connected > 0;
}

size_t
persister_live_sales(const persister_t *self)
{
    return persister_sales_live_count(self->sales);
}

size_t
persister_held(const persister_t *self)
{
    return persister_batch_size(self->batch);
}

const persister_sink_t *
persister_sink(const persister_t *self)
{
    return self->sink;
}
