/*
 * broker_events.c - the order-event feed: events from workers (XSUB) out to
 * subscribers (XPUB), and what subscribers may ask for.
 *
 * libzmq keeps every subscription a peer sends in a trie, one node per
 * byte, and a proxy would pass each one on to every worker's PUB too: 300
 * subscriptions of 60 KB once cost the broker a gigabyte. So:
 *  - the XPUB's ZMQ_MAXMSGSIZE is BROKER_EVENTS_SUB_MAX_BYTES: a longer
 *    subscription drops the subscriber's connection before it is stored;
 *  - the XPUB runs in manual mode (ZMQ_XPUB_MANUAL): the broker applies
 *    `order.` and `order.<valid sale id>` only, at most
 *    BROKER_EVENTS_SUBS_MAX per connection, and cuts off a connection that
 *    sends anything else (shutdown(2) of its descriptor, which libzmq gives
 *    with every message as ZMQ_SRCFD): libzmq then forgets all it stored;
 *  - nothing goes upstream: the XSUB subscribes to `order.` once, so the
 *    workers' PUBs hold one subscription whatever subscribers do.
 */
#include "broker_events.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "tix_log.h"
#include "tix_util.h"

#define EVENTS_PREFIX "order."
#define EVENTS_PREFIX_LEN (sizeof EVENTS_PREFIX - 1)
#define EVENTS_PEER_MAX 64 /* "ip:port" of a connection */

/* What one subscriber connection has subscribed to. Keyed by descriptor;
 * peer tells a descriptor that libzmq closed and reused for a new
 * connection from the one we counted. */
typedef struct {
    char peer[EVENTS_PEER_MAX];
    uint32_t subs;
    bool cut; /* cut off already: what it still had in flight is not logged again */
} s_subscriber_t;

static void
s_subscriber_free(void **item)
{
    free(*item);
    *item = NULL;
}

void
broker_events_init(broker_t *self)
{
    self->subscribers = zhashx_new();
    zhashx_set_destructor(self->subscribers, s_subscriber_free);
    /* Everything workers publish that subscribers may want, asked for once. */
    zsock_send(self->events_in, "b", "\x01" EVENTS_PREFIX, EVENTS_PREFIX_LEN + 1);
}

void
broker_events_destroy(broker_t *self)
{
    zhashx_destroy(&self->subscribers);
}

void
broker_events_from_workers(broker_t *self)
{
    zmsg_t *msg = zmsg_recv(self->events_in);
    if (!msg)
        return;
    self->stats.events++;
    if (zmsg_send(&msg, self->events_out) != 0)
        zmsg_destroy(&msg); /* a subscriber's pipe is full: PUB/SUB may drop */
}

/* The peer's "ip" and "ip:port" and the local port of the connection on fd;
 * false when it is not a TCP/IP connection (or no longer open). */
static bool
s_addresses(int fd, char ip[INET6_ADDRSTRLEN], char peer[EVENTS_PEER_MAX], unsigned *local_port)
{
    struct sockaddr_storage ss, local;
    socklen_t len = sizeof ss, local_len = sizeof local;
    if (getpeername(fd, (struct sockaddr *) &ss, &len) != 0 ||
        getsockname(fd, (struct sockaddr *) &local, &local_len) != 0)
        return false;
    unsigned port;
    if (ss.ss_family == AF_INET && local.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *) &ss)->sin_addr, ip, INET6_ADDRSTRLEN);
        port = ntohs(((const struct sockaddr_in *) &ss)->sin_port);
        *local_port = ntohs(((const struct sockaddr_in *) &local)->sin_port);
    } else if (ss.ss_family == AF_INET6 && local.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) &ss)->sin6_addr, ip, INET6_ADDRSTRLEN);
        port = ntohs(((const struct sockaddr_in6 *) &ss)->sin6_port);
        *local_port = ntohs(((const struct sockaddr_in6 *) &local)->sin6_port);
    } else {
        return false;
    }
    snprintf(peer, EVENTS_PEER_MAX, "%s:%u", ip, port);
    return true;
}

/* True when port is one the feed listens on: the bound endpoints' ports. */
static bool
s_feed_port(const broker_t *self, unsigned port)
{
    char ends[512];
    snprintf(ends, sizeof ends, "%s,%s", self->config.events_out, zsock_endpoint(self->events_out));
    for (char *save = NULL, *e = strtok_r(ends, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        const char *colon = strrchr(e, ':');
        if (colon && (unsigned) atoi(colon + 1) == port)
            return true;
    }
    return false;
}

/* The record of the subscriber connection a subscription came on, or NULL
 * when it cannot be told for sure: libzmq's own unsubscriptions for a
 * subscriber that left carry no descriptor, and a descriptor libzmq closed
 * meanwhile may already belong to another connection (the peer's address
 * and the listening port must match what libzmq saw). */
static s_subscriber_t *
s_subscriber_of(broker_t *self, zframe_t *frame, int *fd)
{
    const char *fd_txt = zframe_meta(frame, "__fd");
    const char *seen_ip = zframe_meta(frame, "Peer-Address");
    char ip[INET6_ADDRSTRLEN], peer[EVENTS_PEER_MAX];
    unsigned local_port;
    *fd = fd_txt ? atoi(fd_txt) : -1;
    if (*fd < 0 || !seen_ip || !s_addresses(*fd, ip, peer, &local_port) || strcmp(ip, seen_ip) != 0 ||
        !s_feed_port(self, local_port))
        return NULL;
    s_subscriber_t *s = zhashx_lookup(self->subscribers, fd_txt);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        zhashx_insert(self->subscribers, fd_txt, s);
    }
    if (strcmp(s->peer, peer) != 0) { /* a new connection on a reused descriptor */
        snprintf(s->peer, sizeof s->peer, "%s", peer);
        s->subs = 0;
        s->cut = false;
    }
    return s;
}

/* True for `order.` and `order.<valid sale id>`. */
static bool
s_topic_valid(const uint8_t *topic, size_t size)
{
    if (size < EVENTS_PREFIX_LEN || memcmp(topic, EVENTS_PREFIX, EVENTS_PREFIX_LEN) != 0)
        return false;
    size_t id_len = size - EVENTS_PREFIX_LEN;
    if (id_len == 0)
        return true;
    char id[TIX_SALE_ID_MAX_BYTES + 1];
    if (id_len > TIX_SALE_ID_MAX_BYTES || memchr(topic + EVENTS_PREFIX_LEN, '\0', id_len))
        return false;
    memcpy(id, topic + EVENTS_PREFIX_LEN, id_len);
    id[id_len] = '\0';
    return tix_valid_sale_id(id);
}

/* Ends the subscriber's connection: libzmq sees it close and drops all it
 * kept for it. SHUT_RD only: the descriptor stays libzmq's to close, and
 * nothing is written to a half-closed socket (no SIGPIPE). */
static void
s_cut_off(broker_t *self, int fd, s_subscriber_t *s, const char *why)
{
    self->stats.subscriptions_refused++;
    if (!s->cut) {
        self->stats.subscribers_cut++;
        tix_warn("subscriber cut off\treason=\"%s\" peer=%s", why, s->peer);
    }
    s->cut = true;
    shutdown(fd, SHUT_RD);
}

void
broker_events_from_subscribers(broker_t *self)
{
    zframe_t *frame = zframe_recv(self->events_out);
    if (!frame)
        return;
    const uint8_t *data = zframe_data(frame);
    size_t size = zframe_size(frame);
    int fd;
    s_subscriber_t *s = s_subscriber_of(self, frame, &fd);
    bool subscribe = size > 0 && data[0] == 1, valid = size > 0 && data[0] <= 1 && s_topic_valid(data + 1, size - 1);
    void *xpub = zsock_resolve(self->events_out);
    if (!valid) {
        if (s) /* else: libzmq forgetting what a cut-off subscriber sent */
            s_cut_off(self, fd, s, "not order. or order.<sale id>");
    } else if (subscribe && s && s->subs >= BROKER_EVENTS_SUBS_MAX) {
        s_cut_off(self, fd, s, "too many subscriptions");
    } else if (subscribe) {
        if (s)
            s->subs++;
        zmq_setsockopt(xpub, ZMQ_SUBSCRIBE, data + 1, size - 1);
    } else {
        if (s && s->subs > 0)
            s->subs--;
        zmq_setsockopt(xpub, ZMQ_UNSUBSCRIBE, data + 1, size - 1);
    }
    zframe_destroy(&frame);
}
