/*
 * tix_client_watch.c - what became of the client's connections, from the
 * DEALER's libzmq monitor.
 *
 * Without it, a key the broker refused, a client speaking another
 * mechanism (plain against CURVE, or the reverse) and a broker that is down
 * all look the same: silence until the deadline. libzmq knows better and
 * says so on a monitor socket: the broker's ZAP handler denies with a
 * status (400), which reaches the client as an ERROR command and the event
 * HANDSHAKE_FAILED_AUTH; a mechanism mismatch is HANDSHAKE_FAILED_PROTOCOL.
 * Either verdict stands until a handshake with that endpoint succeeds (a
 * refusal ends the connection for good; after a mismatch libzmq may try
 * again, to be refused again), so once every endpoint has refused us no
 * answer can come, and the blocking call says so at once.
 *
 * A mismatch is not always seen as one: the broker hangs up as soon as it
 * reads our greeting, and the reset can destroy its own greeting before we
 * read it (HANDSHAKE_FAILED_NO_DETAIL, EPIPE or ECONNRESET). A broker that
 * hangs up on TIX_WATCH_DROPS_FINAL handshakes in a row, with none
 * succeeding, is taken to refuse us too (a plain client against CURVE, a
 * CURVE client with the wrong server key, or against a plain broker).
 *
 * Connections are told apart by the endpoint string of their events (one
 * per connection, the same across its events); a handful are remembered.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tix_client_int.h"
#include "tix_log.h"

#define WATCH_ENDPOINT "inproc://tix.monitor" /* in the client's own context */
#define WATCH_EVENTS                                                                                                   \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |  \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

bool
tix_client_watch_start(tix_client_t *self, int nendpoints, bool curve)
{
    tix_watch_t *w = &self->watch;
    w->nendpoints = nendpoints;
    w->curve = curve;
    if (zmq_socket_monitor(self->sock, WATCH_ENDPOINT, WATCH_EVENTS) != 0)
        return false;
    w->mon = zmq_socket(self->ctx, ZMQ_PAIR);
    int linger = 0;
    return w->mon && zmq_setsockopt(w->mon, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
           zmq_connect(w->mon, WATCH_ENDPOINT) == 0;
}

void
tix_client_watch_stop(tix_client_t *self)
{
    if (self->watch.mon)
        zmq_close(self->watch.mon);
    self->watch.mon = NULL;
}

/* The remembered connection with this endpoint; a new one (reusing the
 * oldest slot when all are taken). */
static tix_peer_t *
s_peer(tix_watch_t *w, const char *endpoint)
{
    for (size_t i = 0; i < w->npeers; i++) {
        if (strcmp(w->peers[i].endpoint, endpoint) == 0)
            return &w->peers[i];
    }
    tix_peer_t *p = &w->peers[w->npeers < TIX_WATCH_PEERS ? w->npeers++ : w->next_evict++ % TIX_WATCH_PEERS];
    memset(p, 0, sizeof *p);
    snprintf(p->endpoint, sizeof p->endpoint, "%s", endpoint);
    return p;
}

static void
s_on_event(tix_watch_t *w, uint16_t event, uint32_t value, const char *endpoint)
{
    tix_peer_t *p = s_peer(w, endpoint);
    bool ended = p->state == TIX_PEER_REFUSED || p->state == TIX_PEER_MISMATCH;
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        p->state = TIX_PEER_LIVE;
        p->drops = 0;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: p->state = TIX_PEER_REFUSED; break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: p->state = TIX_PEER_MISMATCH; break;
    /* A refusal stands until a handshake succeeds: the retries libzmq may
     * make in between (after a mismatch the broker may hang up first) are
     * refused again. */
    case ZMQ_EVENT_CONNECTED:
        if (!ended)
            p->state = TIX_PEER_CONNECTING;
        return;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        p->drops++;
        if (!ended)
            p->state = TIX_PEER_FAILED;
        break;
    case ZMQ_EVENT_DISCONNECTED:
        /* Follows every failed handshake too: keep what it failed of. */
        if (p->state == TIX_PEER_LIVE || p->state == TIX_PEER_CONNECTING)
            p->state = TIX_PEER_GONE;
        return;
    default: return;
    }
    p->value = value;
    if (p->state == TIX_PEER_REFUSED || p->state == TIX_PEER_MISMATCH)
        tix_debug("libtix: handshake refused\tendpoint=%s event=0x%x value=%u", endpoint, event, value);
}

/* Reads one event without waiting: [uint16 event][uint32 value], then the
 * endpoint. False when none is queued. */
static bool
s_read_event(void *mon, uint16_t *event, uint32_t *value, char *endpoint, size_t size)
{
    zmq_msg_t head, addr;
    zmq_msg_init(&head);
    if (zmq_msg_recv(&head, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&head);
        return false;
    }
    bool ok = zmq_msg_size(&head) == sizeof *event + sizeof *value && zmq_msg_more(&head);
    if (ok) {
        memcpy(event, zmq_msg_data(&head), sizeof *event);
        memcpy(value, (const char *) zmq_msg_data(&head) + sizeof *event, sizeof *value);
    }
    zmq_msg_close(&head);
    zmq_msg_init(&addr);
    if (zmq_msg_recv(&addr, mon, ZMQ_DONTWAIT) >= 0 && ok) {
        size_t n = zmq_msg_size(&addr) < size ? zmq_msg_size(&addr) : size - 1;
        memcpy(endpoint, zmq_msg_data(&addr), n);
        endpoint[n] = '\0';
    } else {
        ok = false;
    }
    zmq_msg_close(&addr);
    if (!ok)
        *event = 0; /* not understood: ignored */
    return true;
}

void
tix_client_watch_drain(tix_client_t *self)
{
    tix_watch_t *w = &self->watch;
    uint16_t event;
    uint32_t value;
    char endpoint[TIX_WATCH_ENDPOINT_BYTES];
    while (w->mon && s_read_event(w->mon, &event, &value, endpoint, sizeof endpoint)) {
        if (event)
            s_on_event(w, event, value, endpoint);
    }
}

void *
tix_client_watch_handle(tix_client_t *self)
{
    return self->watch.mon;
}

/* Connections in state, and whether any is live. */
static size_t
s_count(const tix_watch_t *w, tix_peer_state state, const tix_peer_t **last)
{
    size_t n = 0;
    for (size_t i = 0; i < w->npeers; i++) {
        if (w->peers[i].state == state) {
            n++;
            *last = &w->peers[i];
        }
    }
    return n;
}

static bool
s_ended(const tix_peer_t *p)
{
    return p->state == TIX_PEER_REFUSED || p->state == TIX_PEER_MISMATCH ||
           (p->state == TIX_PEER_FAILED && p->drops >= TIX_WATCH_DROPS_FINAL);
}

/* Connections that refused us; *last is one of them. */
static size_t
s_count_ended(const tix_watch_t *w, const tix_peer_t **last)
{
    size_t n = 0;
    for (size_t i = 0; i < w->npeers; i++) {
        if (s_ended(&w->peers[i])) {
            n++;
            *last = &w->peers[i];
        }
    }
    return n;
}

bool
tix_client_watch_refused(tix_client_t *self)
{
    tix_client_watch_drain(self);
    const tix_watch_t *w = &self->watch;
    const tix_peer_t *p;
    size_t ended = s_count_ended(w, &p);
    return ended > 0 && ended >= (size_t) w->nendpoints && s_count(w, TIX_PEER_LIVE, &p) == 0;
}

/* Says why a refused or mismatched connection ended. */
static void
s_explain_ended(const tix_watch_t *w, const tix_peer_t *p, tix_result_t *result)
{
    result->code = TIX__V1__CODE__UNAUTHENTICATED;
    if (p->state == TIX_PEER_REFUSED)
        snprintf(result->message, sizeof result->message,
                 "the broker refused this key (%.64s answered %u: not on its allow-list)", p->endpoint, p->value);
    else if (p->state == TIX_PEER_FAILED && w->curve)
        snprintf(result->message, sizeof result->message,
                 "the broker at %.64s hung up on %u handshakes: is --curve-server-key its public key, and does it "
                 "use CURVE?",
                 p->endpoint, p->drops);
    else if (p->state == TIX_PEER_FAILED)
        snprintf(result->message, sizeof result->message,
                 "the broker at %.64s hung up on %u handshakes: it likely requires CURVE (set --curve-secret and "
                 "--curve-server-key)",
                 p->endpoint, p->drops);
    else if (w->curve)
        snprintf(result->message, sizeof result->message,
                 "the broker at %.64s does not use CURVE (handshake failed: mechanism mismatch)", p->endpoint);
    else
        snprintf(result->message, sizeof result->message,
                 "the broker at %.64s requires CURVE (mechanism mismatch): set --curve-secret and --curve-server-key",
                 p->endpoint);
}

bool
tix_client_watch_explain(tix_client_t *self, tix_result_t *result)
{
    tix_client_watch_drain(self);
    const tix_watch_t *w = &self->watch;
    const tix_peer_t *p = NULL;
    if (!w->mon || s_count(w, TIX_PEER_LIVE, &p) > 0)
        return false; /* connected: a plain timeout */
    if (s_count_ended(w, &p) > 0) {
        s_explain_ended(w, p, result);
        return true;
    }
    result->code = TIX__V1__CODE__UNAVAILABLE;
    if (s_count(w, TIX_PEER_FAILED, &p) > 0)
        snprintf(result->message, sizeof result->message, "no broker answered at %.64s: the handshake failed (%.40s)%s",
                 self->endpoints, zmq_strerror((int) p->value),
                 w->curve ? "; is --curve-server-key the broker's key?" : "");
    else if (s_count(w, TIX_PEER_CONNECTING, &p) > 0)
        snprintf(result->message, sizeof result->message,
                 "no broker answered at %.96s: connected, but no ZeroMQ handshake completed", self->endpoints);
    else if (s_count(w, TIX_PEER_GONE, &p) > 0)
        snprintf(result->message, sizeof result->message, "no broker answered at %.96s: the connection was lost",
                 self->endpoints);
    else
        snprintf(result->message, sizeof result->message, "no broker answered at %.96s: could not connect",
                 self->endpoints);
    return true;
}
