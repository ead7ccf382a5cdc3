/*
 * broker_park.c - answers that found a client's send pipe full, held until
 * the client reads again (see broker_park.h).
 */
#include "broker_park.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>

#include "tix_util.h"

/* The answers held for one client, oldest first. */
typedef struct {
    zlist_t *answers; /* zmsg_t *, owned */
} s_client_t;

struct broker_park {
    zhashx_t *clients; /* routing id in hex -> s_client_t *, only clients with answers held */
    size_t size;       /* answers held in all */
};

static void
s_client_destroy(void **item)
{
    s_client_t *c = *item;
    if (!c)
        return;
    zmsg_t *msg;
    while ((msg = zlist_pop(c->answers)) != NULL)
        zmsg_destroy(&msg);
    zlist_destroy(&c->answers);
    free(c);
    *item = NULL;
}

broker_park_t *
broker_park_new(void)
{
    broker_park_t *self = xcalloc(1, sizeof *self);
    self->clients = zhashx_new();
    assert(self->clients);
    zhashx_set_destructor(self->clients, s_client_destroy);
    return self;
}

void
broker_park_destroy(broker_park_t **p)
{
    if (!p || !*p)
        return;
    zhashx_destroy(&(*p)->clients);
    free(*p);
    *p = NULL;
}

size_t
broker_park_size(const broker_park_t *p)
{
    return p->size;
}

/* Sends msg without taking it: 0 when it went out, else -1 with errno
 * (EAGAIN: the pipe is full; EHOSTUNREACH: no such client). A ROUTER with
 * ZMQ_ROUTER_MANDATORY refuses at the first frame, the routing id, or
 * takes the whole message, so a refusal leaves nothing half sent. */
static int
s_send(void *sock, zmsg_t *msg)
{
    size_t n = zmsg_size(msg), i = 0;
    for (zframe_t *f = zmsg_first(msg); f; f = zmsg_next(msg)) {
        int flags = ZMQ_DONTWAIT | (++i < n ? ZMQ_SNDMORE : 0);
        if (zmq_send(sock, zframe_data(f), zframe_size(f), flags) < 0) {
            assert(i == 1);
            return -1;
        }
    }
    return 0;
}

/* The hash key of msg's routing id (frame 0), in hex. */
static void
s_key(zmsg_t *msg, char *key, size_t key_size)
{
    zframe_t *id = zmsg_first(msg);
    const byte *data = zframe_data(id);
    size_t n = zframe_size(id), at = 0;
    for (size_t i = 0; i < n && at + 3 <= key_size; i++, at += 2)
        snprintf(key + at, 3, "%02x", data[i]);
    key[at] = '\0';
}

/* Drops the oldest answer of the client holding most, to make room. */
static void
s_drop_from_biggest(broker_park_t *self, uint64_t *dropped)
{
    s_client_t *biggest = NULL;
    for (s_client_t *c = zhashx_first(self->clients); c; c = zhashx_next(self->clients))
        if (!biggest || zlist_size(c->answers) > zlist_size(biggest->answers))
            biggest = c;
    if (!biggest)
        return;
    zmsg_t *old = zlist_pop(biggest->answers);
    zmsg_destroy(&old);
    self->size--;
    (*dropped)++;
}

int
broker_park_send(broker_park_t *p, void *sock, zmsg_t **msg, uint64_t *dropped)
{
    char key[2 * 255 + 1];
    s_key(*msg, key, sizeof key);
    s_client_t *c = zhashx_lookup(p->clients, key);
    if (!c) {
        if (s_send(sock, *msg) == 0) {
            zmsg_destroy(msg);
            return 1;
        }
        if (errno != EAGAIN) { /* the client left: its answer has nowhere to go */
            zmsg_destroy(msg);
            (*dropped)++;
            return 0;
        }
        c = xcalloc(1, sizeof *c);
        c->answers = zlist_new();
        zhashx_insert(p->clients, key, c);
    }
    if (zlist_size(c->answers) >= BROKER_PARK_PER_CLIENT) {
        zmsg_destroy(msg);
        (*dropped)++;
        return 0;
    }
    if (p->size >= BROKER_PARK_MAX)
        s_drop_from_biggest(p, dropped);
    zlist_append(c->answers, *msg);
    *msg = NULL;
    p->size++;
    return 0;
}

/* Sends one client's answers, oldest first, until its pipe is full.
 * Returns the number sent; true in *done when none is left. */
static size_t
s_flush_client(broker_park_t *self, s_client_t *c, void *sock, uint64_t *dropped, bool *done)
{
    size_t sent = 0;
    bool gone = false;
    zmsg_t *msg;
    while ((msg = zlist_first(c->answers)) != NULL) {
        if (s_send(sock, msg) != 0) {
            gone = errno != EAGAIN; /* EHOSTUNREACH: the client left */
            break;
        }
        zlist_pop(c->answers);
        zmsg_destroy(&msg);
        self->size--;
        sent++;
    }
    if (gone) { /* the entry's destructor frees what is left */
        size_t n = zlist_size(c->answers);
        *dropped += n;
        self->size -= n;
    }
    *done = gone || msg == NULL;
    return sent;
}

size_t
broker_park_flush(broker_park_t *p, void *sock, uint64_t *dropped)
{
    if (p->size == 0)
        return 0;
    size_t sent = 0;
    zlist_t *emptied = zlist_new();
    for (s_client_t *c = zhashx_first(p->clients); c; c = zhashx_next(p->clients)) {
        bool done;
        sent += s_flush_client(p, c, sock, dropped, &done);
        if (done)
            zlist_append(emptied, (void *) zhashx_cursor(p->clients));
    }
    /* Keys are copied first: deleting an entry frees its key. */
    char key[2 * 255 + 1];
    const char *k;
    while ((k = zlist_pop(emptied)) != NULL) {
        snprintf(key, sizeof key, "%s", k);
        zhashx_delete(p->clients, key);
    }
    zlist_destroy(&emptied);
    return sent;
}
