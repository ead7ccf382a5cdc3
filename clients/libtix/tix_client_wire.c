/*
 * tix_client_wire.c - one call out, one reply in, on the client's DEALER.
 *
 * Both directions are non-blocking first and wait with zmq_poll only when
 * they must: tix-rush sends and receives tens of thousands of calls through
 * here, and most of the time a message is already queued.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "tix_client_int.h"
#include "tix_log.h"
#include "tix_util.h"

/* A packed CallHeader without metadata: a method name of tix_methods.c's
 * table and two varints. */
#define WIRE_CALL_HEADER_MAX_BYTES 256

/* Waits until the socket has events or until_ms passes. Checks the stop
 * flag first, since a signal that landed before zmq_poll would not
 * interrupt it. Monitor events wake it too: inside a blocking call, once
 * every broker has refused the handshake, TIX_ERR_UNAVAILABLE. */
static tix_err
s_wait(tix_client_t *self, short events, int64_t until_ms)
{
    zmq_pollitem_t items[2] = {{self->sock, 0, events, 0}, {tix_client_watch_handle(self), 0, ZMQ_POLLIN, 0}};
    int nitems = items[1].socket ? (int) TIX_ARRAY_LEN(items) : 1; /* the monitor: when watched */
    for (;;) {
        if (tix_stopping())
            return TIX_ERR_INTERRUPTED;
        if (self->in_call && tix_client_watch_refused(self))
            return TIX_ERR_UNAVAILABLE;
        if (nitems > 1 && !self->in_call)
            tix_client_watch_drain(self); /* keep the queue short */
        long timeout = -1;
        if (until_ms != TIX_UNTIL_FOREVER) {
            int64_t left = until_ms - tix_now_ms();
            if (left <= 0)
                return TIX_ERR_TIMEOUT;
            timeout = (long) left;
        }
        int rc = zmq_poll(items, nitems, timeout);
        if (rc > 0 && (items[0].revents & events))
            return TIX_OK;
        if (rc < 0 && zmq_errno() != EINTR) {
            tix_error("libtix: zmq_poll failed\terr=\"%s\"", zmq_strerror(zmq_errno()));
            return TIX_ERR_IO;
        }
    }
}

/* One non-blocking try. libzmq queues a multipart message atomically: once
 * the first frame is accepted the rest are too, so only the first frame can
 * meet EAGAIN. zmq_send copies each frame (into the message itself up to 33
 * bytes), so the frames may live on the stack. */
static tix_err
s_send_once(tix_client_t *self, const tix_frame_t *frames, size_t nframes)
{
    for (size_t i = 0; i < nframes; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < nframes ? ZMQ_SNDMORE : 0);
        if (zmq_send(self->sock, frames[i].data, frames[i].size, flags) >= 0)
            continue;
        int err = zmq_errno();
        if (i == 0 && (err == EAGAIN || err == EINTR))
            return TIX_ERR_UNAVAILABLE;
        tix_error("libtix: send failed\terr=\"%s\"", zmq_strerror(err));
        return TIX_ERR_IO;
    }
    return TIX_OK;
}

tix_err
tix_client_wire_send(tix_client_t *self, const tix_method_t *method, uint64_t call_id, uint32_t timeout_ms,
                     const void *body, size_t body_size, int64_t until_ms)
{
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = (char *) method->name;
    h.call_id = call_id;
    h.timeout_ms = timeout_ms;
    uint8_t header[WIRE_CALL_HEADER_MAX_BYTES];
    if (tix__v1__call_header__get_packed_size(&h) > sizeof header)
        return TIX_ERR_INVALID; /* no method of tix_methods.c has so long a name */
    tix_frame_t frames[] = {
        {NULL, 0}, /* the DEALER's empty delimiter */
        {(const uint8_t *) TIX_SIGNATURE, sizeof TIX_SIGNATURE - 1},
        {header, tix__v1__call_header__pack(&h, header)},
        {body, body ? body_size : 0},
    };
    for (;;) {
        tix_err err = s_send_once(self, frames, TIX_ARRAY_LEN(frames));
        if (err != TIX_ERR_UNAVAILABLE || until_ms == TIX_UNTIL_NOW)
            return err;
        err = s_wait(self, ZMQ_POLLOUT, until_ms);
        if (err != TIX_OK)
            return err;
    }
}

/* Reads every frame of one message without waiting, keeping the first
 * TIX_REPLY_PARTS in reply->parts and counting all of them in *total.
 * TIX_ERR_TIMEOUT when nothing was queued. */
static tix_err
s_read_parts(tix_client_t *self, tix_client_reply_t *reply, size_t *total)
{
    *total = 0;
    for (;;) {
        zmq_msg_t extra;
        zmq_msg_t *m = reply->nparts < TIX_REPLY_PARTS ? &reply->parts[reply->nparts] : &extra;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, self->sock, ZMQ_DONTWAIT) < 0) {
            int err = zmq_errno();
            zmq_msg_close(m);
            if (*total == 0 && (err == EAGAIN || err == EINTR))
                return TIX_ERR_TIMEOUT;
            tix_error("libtix: receive failed\terr=\"%s\"", zmq_strerror(err));
            return TIX_ERR_IO;
        }
        bool more = zmq_msg_more(m);
        if (m == &extra)
            zmq_msg_close(m);
        else
            reply->nparts++;
        (*total)++;
        if (!more)
            return TIX_OK;
    }
}

static tix_frame_t
s_view(zmq_msg_t *m)
{
    return (tix_frame_t){zmq_msg_data(m), zmq_msg_size(m)};
}

/* Reads and decodes one queued message without waiting. */
static tix_err
s_read_once(tix_client_t *self, tix_client_reply_t *reply)
{
    tix_client_wire_drop_held(self);
    memset(reply, 0, offsetof(tix_client_reply_t, arena)); /* not the arena's buffer: no need */
    tix_arena_init(&reply->arena, reply->arena_buf, sizeof reply->arena_buf);
    size_t total;
    tix_err err = s_read_parts(self, reply, &total);
    if (err != TIX_OK) {
        tix_client_wire_reply_release(reply);
        return err;
    }
    if (total == TIX_REPLY_PARTS && zmq_msg_size(&reply->parts[0]) == 0) {
        tix_frame_t views[TIX_REPLY_PARTS - 1];
        for (size_t i = 1; i < TIX_REPLY_PARTS; i++)
            views[i - 1] = s_view(&reply->parts[i]);
        if (tix_reply_decode_with(views, TIX_REPLY_PARTS - 1, &reply->header, &reply->body, &reply->arena.allocator) ==
            TIX_OK)
            return TIX_OK;
    }
    /* A broker never sends this; say so once per message, and carry on. */
    tix_warn("libtix: malformed reply dropped\tframes=%zu", total);
    tix_client_wire_reply_release(reply);
    return TIX_ERR_PROTOCOL;
}

tix_err
tix_client_wire_read(tix_client_t *self, int64_t until_ms, tix_client_reply_t *reply)
{
    for (;;) {
        tix_err err = s_read_once(self, reply);
        if (err != TIX_ERR_TIMEOUT)
            return err;
        err = s_wait(self, ZMQ_POLLIN, until_ms);
        if (err != TIX_OK)
            return err;
    }
}

void
tix_client_wire_reply_release(tix_client_reply_t *reply)
{
    if (reply->header) /* returns to the heap what spilled out of the arena */
        tix__v1__reply_header__free_unpacked(reply->header, &reply->arena.allocator);
    reply->header = NULL;
    for (size_t i = 0; i < reply->nparts; i++)
        zmq_msg_close(&reply->parts[i]);
    reply->nparts = 0;
    reply->body = (tix_frame_t){NULL, 0};
}

tix_frame_t
tix_client_wire_hold_body(tix_client_t *self, tix_client_reply_t *reply)
{
    tix_client_wire_drop_held(self);
    if (reply->nparts < TIX_REPLY_PARTS)
        return (tix_frame_t){NULL, 0};
    zmq_msg_init(&self->held);
    zmq_msg_move(&self->held, &reply->parts[TIX_REPLY_PARTS - 1]); /* parts[3] is left empty, still to close */
    self->holding = true;
    reply->body = (tix_frame_t){NULL, 0};
    return s_view(&self->held); /* a small frame's bytes live inside the zmq_msg_t: view it where it is now */
}

void
tix_client_wire_drop_held(tix_client_t *self)
{
    if (self->holding)
        zmq_msg_close(&self->held);
    self->holding = false;
}
