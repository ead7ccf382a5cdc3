/*
 * broker_park.c - answers that found a client's send pipe full, held until
 * the client reads again (see broker_park.h).
 */
#include "broker_park.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tix_util.h"

#define PARK_FRAMES_MAX 8 /* a reply has 5: routing id, empty, TIX1, header, body */

/* One parked answer in one allocation: its frames' sizes, then their bytes.
 * (Kept as a czmq message, a five-frame answer costs ~2.5 KB of heap; packed,
 * its own size plus ~40 bytes.) */
typedef struct {
    size_t nframes;
    uint32_t size[PARK_FRAMES_MAX];
    byte data[];
} s_answer_t;

/* The answers held for one client, oldest first. */
typedef struct {
    zlist_t *answers; /* s_answer_t *, owned */
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
    s_answer_t *a;
    while ((a = zlist_pop(c->answers)) != NULL)
        free(a);
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

/* Sends the frames: 0 when they went out, else -1 with errno (EAGAIN: the
 * pipe is full; EHOSTUNREACH: no such client). A ROUTER with
 * ZMQ_ROUTER_MANDATORY refuses at the first frame, the routing id, or
 * takes the whole message, so a refusal leaves nothing half sent. */
static int
s_send(void *sock, const tix_frame_t *frames, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
        if (zmq_send(sock, frames[i].data, frames[i].size, flags) < 0) {
            assert(i == 0);
            return -1;
        }
    }
    return 0;
}

/* The frames packed into one allocation; NULL when there are too many. */
static s_answer_t *
s_pack(const tix_frame_t *frames, size_t n)
{
    size_t total = 0;
    if (n == 0 || n > PARK_FRAMES_MAX)
        return NULL;
    for (size_t i = 0; i < n; i++)
        total += frames[i].size;
    s_answer_t *a = xmalloc(sizeof *a + total);
    a->nframes = n;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        a->size[i] = (uint32_t) frames[i].size;
        if (frames[i].size)
            memcpy(a->data + at, frames[i].data, frames[i].size);
        at += frames[i].size;
    }
    return a;
}

/* s_send for a packed answer. */
static int
s_send_packed(void *sock, const s_answer_t *a)
{
    size_t at = 0;
    for (size_t i = 0; i < a->nframes; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < a->nframes ? ZMQ_SNDMORE : 0);
        if (zmq_send(sock, a->data + at, a->size[i], flags) < 0) {
            assert(i == 0);
            return -1;
        }
        at += a->size[i];
    }
    return 0;
}

/* The hash key of a routing id, in hex. */
static void
s_key(const tix_frame_t *id, char *key, size_t key_size)
{
    size_t at = 0;
    for (size_t i = 0; i < id->size && at + 3 <= key_size; i++, at += 2)
        snprintf(key + at, 3, "%02x", id->data[i]);
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
    free(zlist_pop(biggest->answers));
    self->size--;
    (*dropped)++;
}

int
broker_park_send(broker_park_t *p, void *sock, const tix_frame_t *frames, size_t nframes, uint64_t *dropped)
{
    /* The usual case, nothing parked: no key, no lookup on the hot path. */
    char key[2 * 255 + 1] = "";
    s_client_t *c = NULL;
    if (p->size > 0) {
        s_key(&frames[0], key, sizeof key);
        c = zhashx_lookup(p->clients, key);
    }
    if (!c) {
        if (s_send(sock, frames, nframes) == 0)
            return 1;
        if (errno != EAGAIN) { /* the client left: its answer has nowhere to go */
            (*dropped)++;
            return 0;
        }
        if (!key[0])
            s_key(&frames[0], key, sizeof key);
        c = xcalloc(1, sizeof *c);
        c->answers = zlist_new();
        zhashx_insert(p->clients, key, c);
    }
    s_answer_t *a = zlist_size(c->answers) < BROKER_PARK_PER_CLIENT ? s_pack(frames, nframes) : NULL;
    if (!a) { /* past the client's share (or not a reply's shape) */
        (*dropped)++;
        return 0;
    }
    if (p->size >= BROKER_PARK_MAX)
        s_drop_from_biggest(p, dropped);
    zlist_append(c->answers, a);
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
    s_answer_t *a;
    while ((a = zlist_first(c->answers)) != NULL) {
        if (s_send_packed(sock, a) != 0) {
            gone = errno != EAGAIN; /* EHOSTUNREACH: the client left */
            break;
        }
        free(zlist_pop(c->answers));
        self->size--;
        sent++;
    }
    if (gone) { /* the entry's destructor frees what is left */
        size_t n = zlist_size(c->answers);
        *dropped += n;
        self->size -= n;
    }
    *done = gone || a == NULL;
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
