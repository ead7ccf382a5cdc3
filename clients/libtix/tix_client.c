/*
 * tix_client.c - client lifecycle, the asynchronous interface, results.
 *
 * Socket choices (PROTOCOL.md section 2):
 *  - ZMQ_MAXMSGSIZE 64 KiB, as the broker: a bigger reply is refused.
 *  - ZMQ_SNDHWM/RCVHWM TIX_CLIENT_HWM, so tens of thousands of async calls
 *    can be in flight without the socket refusing them.
 *  - ZMQ_LINGER 0: destroying a client drops its pending calls at once
 *    rather than blocking the caller on a broker that may be gone.
 *  - ZMTP heartbeats (ZMQ_HEARTBEAT_IVL/TIMEOUT/TTL): a broker that stops
 *    answering with its socket still open (hung, SIGSTOPped, a dead
 *    network path) loses its connection within
 *    TIX_CLIENT_HEARTBEAT_TIMEOUT_MS, so that with several endpoints its
 *    pipe leaves the round-robin and resends go to the live brokers.
 *  - ZMQ_IMMEDIATE only with two or more endpoints. There it keeps calls
 *    off brokers that are down (they would otherwise sit in a dead pipe
 *    until their deadline) and ZeroMQ spreads them over the live ones. With
 *    one endpoint there is nowhere else to go: queueing to a broker that is
 *    still starting (or restarting) delivers the call the moment it comes
 *    up, whereas IMMEDIATE would refuse every send until the TCP handshake
 *    completes, failing async sends made right after tix_client_new.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix_client_int.h"
#include "tix_curve.h"
#include "tix_log.h"
#include "tix_util.h"

#define ENDPOINT_MAX_BYTES 512
#define SEND_STACK_BYTES 1024 /* a request packing to more is packed on the heap */

static int
s_count_endpoints(const char *list)
{
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

static bool
s_configure(void *sock, int nendpoints)
{
    int hwm = TIX_CLIENT_HWM, linger = 0, immediate = nendpoints > 1;
    int hb_ivl = TIX_CLIENT_HEARTBEAT_MS, hb_timeout = TIX_CLIENT_HEARTBEAT_TIMEOUT_MS;
    int64_t maxmsg = TIX_MAX_MESSAGE_BYTES;
    return zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) == 0 &&
           zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout) == 0 &&
           zmq_setsockopt(sock, ZMQ_HEARTBEAT_TTL, &hb_timeout, sizeof hb_timeout) == 0 &&
           zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) == 0 &&
           zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm) == 0 &&
           zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
           zmq_setsockopt(sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate) == 0 &&
           zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) == 0;
}

/* Connects sock to each endpoint of a comma-separated list (blanks around
 * the commas are allowed, empty items are not). */
static bool
s_connect_all(void *sock, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        while (len && isspace((unsigned char) *p))
            p++, len--;
        while (len && isspace((unsigned char) p[len - 1]))
            len--;
        char endpoint[ENDPOINT_MAX_BYTES];
        if (len == 0 || len >= sizeof endpoint) {
            tix_error("libtix: bad endpoint list: empty or overlong item\tendpoints=\"%.200s\"", list);
            return false;
        }
        memcpy(endpoint, p, len);
        endpoint[len] = '\0';
        if (zmq_connect(sock, endpoint) != 0) {
            tix_error("libtix: cannot connect\tendpoint=\"%s\" err=\"%s\"", endpoint, zmq_strerror(zmq_errno()));
            return false;
        }
        if (!comma)
            return true;
        p = comma + 1;
    }
}

static tix_client_t *
s_client_new(const char *endpoints, const tix_curve_client_t *curve)
{
    if (!endpoints) {
        const char *env = getenv("TIX_FRONTEND");
        endpoints = env && *env ? env : TIX_DEFAULT_FRONTEND;
    }
    tix_client_t *self = xcalloc(1, sizeof *self);
    self->pending = tix_callmap_new();
    /* A random start makes call ids from different clients easy to tell
     * apart in broker logs; 0 is never used. */
    self->next_call_id = 1 + ((uint64_t) tix_rand_below(1u << 31) << 20);
    self->ctx = zmq_ctx_new();
    if (self->ctx)
        self->sock = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!self->sock || !s_configure(self->sock, s_count_endpoints(endpoints)) ||
        (curve && !tix_curve_client_apply(curve, self->sock))) {
        tix_error("libtix: cannot create socket\terr=\"%s\"", zmq_strerror(zmq_errno()));
        goto out_destroy;
    }
    self->endpoints = xstrdup(endpoints);
    if (!tix_client_watch_start(self, s_count_endpoints(endpoints), curve != NULL)) {
        tix_error("libtix: cannot monitor the socket\terr=\"%s\"", zmq_strerror(zmq_errno()));
        goto out_destroy;
    }
    if (!s_connect_all(self->sock, endpoints))
        goto out_destroy;
    return self;
out_destroy:
    tix_client_destroy(&self);
    return NULL;
}

tix_client_t *
tix_client_new(const char *endpoints)
{
    if (endpoints)
        return s_client_new(endpoints, NULL);
    /* Configured by the environment alone, CURVE included (tix.h). */
    return tix_client_new_curve(NULL, getenv("TIX_CURVE_SECRET"), getenv("TIX_CURVE_SERVER_KEY"));
}

tix_client_t *
tix_client_new_curve(const char *endpoints, const char *secret_cert_path, const char *server_cert_path)
{
    tix_curve_client_t keys;
    const tix_curve_client_t *use;
    char why[512];
    if (tix_curve_client_config(secret_cert_path, server_cert_path, &keys, &use, why, sizeof why) != TIX_OK) {
        tix_error("libtix: %s", why);
        return NULL;
    }
    tix_client_t *self = s_client_new(endpoints, use);
    memset(&keys, 0, sizeof keys); /* libzmq keeps its own copy */
    return self;
}

void
tix_client_destroy(tix_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tix_client_t *self = *self_p;
    tix_client_watch_stop(self);
    tix_client_wire_drop_held(self);
    if (self->sock) {
        int linger = 0;
        zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(self->sock);
    }
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    tix_callmap_destroy(&self->pending);
    free(self->endpoints);
    free(self);
    *self_p = NULL;
}

void *
tix_client_socket(tix_client_t *self)
{
    return self->sock;
}

uint64_t
tix_client_next_id(tix_client_t *self)
{
    if (self->next_call_id == 0) /* wrapped: 0 means "unknown call" */
        self->next_call_id = 1;
    return self->next_call_id++;
}

size_t
tix_client_in_flight(const tix_client_t *self)
{
    return tix_callmap_size(self->pending);
}

bool
tix_client_forget(tix_client_t *self, uint64_t call_id)
{
    uint8_t method;
    return tix_callmap_take(self->pending, call_id, &method);
}

/* ---- Results -------------------------------------------------------------- */

/* Copies a broker's reason, cutting at a UTF-8 character boundary so that a
 * long message stays valid text (the CLI prints it into JSON). */
static void
s_copy_message(char *dest, size_t size, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((unsigned char) src[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(dest, src ? src : "", len);
    dest[len] = '\0';
}

void
tix_client_result_status(tix_result_t *result, const Tix__V1__ReplyHeader *h)
{
    result->call_id = h->call_id;
    result->code = h->code;
    result->retry_after_ms = h->retry_after_ms;
    s_copy_message(result->message, sizeof result->message, h->message);
    result->reply = NULL;
}

tix_err
tix_client_result_fill(tix_result_t *result, const tix_method_t *method, const tix_client_reply_t *reply)
{
    const Tix__V1__ReplyHeader *h = reply->header;
    tix_client_result_status(result, h);
    if (h->code != TIX__V1__CODE__OK)
        return TIX_OK;
    result->reply = protobuf_c_message_unpack(method->output, NULL, reply->body.size, reply->body.data);
    if (!result->reply) {
        result->code = TIX__V1__CODE__INTERNAL;
        snprintf(result->message, sizeof result->message, "reply body: not a valid %s", method->output->name);
        tix_warn("libtix: undecodable reply body dropped\tcall_id=%llu method=%s", (unsigned long long) h->call_id,
                 method->name);
        return TIX_ERR_PROTOCOL;
    }
    return TIX_OK;
}

const tix_method_t *
tix_client_method(int method)
{
    /* Every public method; the internal ones after them stay the broker's. */
    return method >= TIX_CALL_PURCHASE && method <= TIX_CALL_LIST_ORDERS ? tix_method_get((tix_method_id) method)
                                                                         : NULL;
}

tix_err
tix_client_check_request(const tix_method_t *method, const ProtobufCMessage *request, tix_result_t *result,
                         size_t *packed_size)
{
    if (!method) {
        result->code = TIX__V1__CODE__INVALID_ARGUMENT;
        snprintf(result->message, sizeof result->message, "method: not one of tix.h's TIX_CALL_*");
        return TIX_ERR_INVALID;
    }
    if (!request || request->descriptor != method->input) {
        result->code = TIX__V1__CODE__INVALID_ARGUMENT;
        snprintf(result->message, sizeof result->message, "request: %s needs a %s", method->name, method->input->name);
        return TIX_ERR_INVALID;
    }
    size_t size = protobuf_c_message_get_packed_size(request);
    if (size > TIX_MAX_MESSAGE_BYTES) {
        result->code = TIX__V1__CODE__INVALID_ARGUMENT;
        snprintf(result->message, sizeof result->message, "request: %zu bytes packed, at most %d", size,
                 TIX_MAX_MESSAGE_BYTES);
        return TIX_ERR_INVALID;
    }
    *packed_size = size;
    return TIX_OK;
}

void
tix_result_clear(tix_result_t *result)
{
    if (!result)
        return;
    if (result->reply)
        protobuf_c_message_free_unpacked(result->reply, NULL);
    memset(result, 0, sizeof *result);
}

/* ---- Asynchronous interface ------------------------------------------------ */

int
tix_client_send(tix_client_t *self, int method, const void *request, uint32_t timeout_ms, uint64_t *call_id)
{
    assert(self && call_id);
    const tix_method_t *m = tix_client_method(method);
    tix_result_t why = {0};
    size_t size = 0;
    tix_err err = tix_client_check_request(m, request, &why, &size);
    if (err != TIX_OK) {
        tix_warn("libtix: call refused\treason=\"%s\"", why.message);
        return err;
    }
    /* Packed on the stack: a call costs libtix no heap allocation. */
    uint8_t stack[SEND_STACK_BYTES];
    uint8_t *body = size <= sizeof stack ? stack : xmalloc(size);
    size = protobuf_c_message_pack(request, body);
    uint64_t id = tix_client_next_id(self);
    err = tix_client_wire_send(self, m, id, timeout_ms, body, size, TIX_UNTIL_NOW);
    if (body != stack)
        free(body);
    if (err != TIX_OK)
        return err;
    tix_callmap_put(self->pending, id, (uint8_t) method);
    *call_id = id;
    return TIX_OK;
}

/* Reads the next reply to a call in flight, dropping the rest; its method in
 * *method. */
static tix_err
s_recv_reply(tix_client_t *self, int wait_ms, tix_client_reply_t *reply, uint8_t *method)
{
    /* A poll (wait_ms 0, tix-rush's every read) needs no clock. */
    int64_t until = wait_ms < 0 ? TIX_UNTIL_FOREVER : wait_ms == 0 ? TIX_UNTIL_NOW : tix_now_ms() + wait_ms;
    for (;;) {
        tix_err err = tix_client_wire_read(self, until, reply);
        if (err != TIX_OK)
            return err;
        if (tix_callmap_take(self->pending, reply->header->call_id, method))
            return TIX_OK;
        /* A forgotten call, or a duplicate: nobody waits for it. */
        tix_debug("libtix: reply to an unknown call dropped\tcall_id=%llu",
                  (unsigned long long) reply->header->call_id);
        tix_client_wire_reply_release(reply);
        if (until != TIX_UNTIL_FOREVER && tix_now_ms() >= until)
            return TIX_ERR_TIMEOUT; /* a stream of them must not hold us */
    }
}

int
tix_client_recv(tix_client_t *self, int wait_ms, tix_result_t *result)
{
    assert(self && result);
    memset(result, 0, sizeof *result);
    tix_client_reply_t reply;
    uint8_t method;
    tix_err err = s_recv_reply(self, wait_ms, &reply, &method);
    if (err != TIX_OK)
        return err;
    err = tix_client_result_fill(result, tix_method_get((tix_method_id) method), &reply);
    tix_client_wire_reply_release(&reply);
    return err;
}

int
tix_client_recv_packed(tix_client_t *self, int wait_ms, tix_result_t *result, const void **body, size_t *body_size)
{
    assert(self && result && body && body_size);
    memset(result, 0, sizeof *result);
    *body = NULL;
    *body_size = 0;
    tix_client_reply_t reply;
    uint8_t method;
    tix_err err = s_recv_reply(self, wait_ms, &reply, &method);
    if (err != TIX_OK)
        return err;
    tix_client_result_status(result, reply.header);
    if (result->code == TIX__V1__CODE__OK) {
        tix_frame_t view = tix_client_wire_hold_body(self, &reply);
        *body = view.data;
        *body_size = view.size;
    }
    tix_client_wire_reply_release(&reply);
    return TIX_OK;
}
