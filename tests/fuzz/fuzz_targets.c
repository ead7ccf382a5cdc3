/*
 * fuzz_targets.c - the framing of fuzz inputs, the target table, and the
 * pure decoders: TIX1 calls and replies (broker and libtix), the TXW1 worker
 * protocol, the persister's OrderEvent intake, and the worker's reading of
 * Redis replies.
 */
#include "fuzz_targets.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bson/bson.h>
#include <hiredis/hiredis.h>

#include "persister_batch.h"
#include "persister_sales.h"
#include "tix_client_int.h"
#include "tix_log.h"
#include "tix_util.h"
#include "worker_store_priv.h"

#define FUZZ_EVENT_BUFFER 4 /* orders the persister holds in fuzz_order_event: small, to reach FULL */

/* ---- Framing ---------------------------------------------------------------- */

void
fuzz_reader_init(fuzz_reader_t *r, const uint8_t *data, size_t size)
{
    r->data = data;
    r->size = size;
    r->pos = 0;
}

/* The next frame, cut to what is left; empty once the input is used up. */
static tix_frame_t
s_next_frame(fuzz_reader_t *r)
{
    static const uint8_t empty[1];
    tix_frame_t f = {empty, 0};
    if (r->size - r->pos < 2) {
        r->pos = r->size;
        return f;
    }
    size_t len = ((size_t) r->data[r->pos] << 8) | r->data[r->pos + 1];
    r->pos += 2;
    if (len > r->size - r->pos)
        len = r->size - r->pos;
    f.data = r->data + r->pos;
    f.size = len;
    r->pos += len;
    return f;
}

bool
fuzz_next_message(fuzz_reader_t *r, fuzz_message_t *m)
{
    if (r->pos >= r->size)
        return false;
    uint8_t head = r->data[r->pos++];
    m->op = head >> 4;
    m->nframes = head & 0x0f;
    for (size_t i = 0; i < m->nframes; i++)
        m->frames[i] = s_next_frame(r);
    return true;
}

zmsg_t *
fuzz_message_zmsg(const fuzz_message_t *m, size_t first)
{
    zmsg_t *msg = zmsg_new();
    for (size_t i = first; i < m->nframes; i++)
        zmsg_addmem(msg, m->frames[i].data, m->frames[i].size);
    return msg;
}

bool
fuzz_resp_small(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        uint64_t n = 0;
        if (data[i] != '*')
            continue;
        for (size_t k = i + 1; k < size && data[k] >= '0' && data[k] <= '9' && n <= FUZZ_RESP_MAX_ELEMENTS; k++)
            n = n * 10 + (uint64_t) (data[k] - '0');
        if (n > FUZZ_RESP_MAX_ELEMENTS)
            return false;
    }
    return true;
}

/* ---- Checks ----------------------------------------------------------------- */

void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "fuzz: invariant broken at %s:%d: %s\n", file, line, what);
    abort();
}

void
fuzz_check_status(uint32_t code, const char *message)
{
    FUZZ_CHECK(protobuf_c_enum_descriptor_get_value(&tix__v1__code__descriptor, (int) code) != NULL,
               "a status carries a known Code");
    FUZZ_CHECK(message != NULL, "a status has a message string");
    FUZZ_CHECK(tix_utf8_valid((const uint8_t *) message, strlen(message), true),
               "a status message is valid UTF-8 (a proto3 string: strict decoders refuse the whole reply)");
}

/* Packs m into a new buffer (caller frees) and sets *size. */
static uint8_t *
s_pack(const ProtobufCMessage *m, size_t *size)
{
    *size = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(*size + 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/* The round trips below compare known fields only: protobuf-c keeps unknown
 * fields, and re-encodes an overlong field number 0 (80 00) as a tag (00)
 * that it then refuses itself - a quirk of the library, not of tix. */
static unsigned
s_unknown_hide(ProtobufCMessage *m)
{
    unsigned n = m->n_unknown_fields;
    m->n_unknown_fields = 0;
    return n;
}

/* True when a (its unknown fields hidden) and b pack to the same bytes. */
static bool
s_same_packed(ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t na, nb;
    unsigned hidden = s_unknown_hide(a);
    uint8_t *pa = s_pack(a, &na), *pb = s_pack(b, &nb);
    a->n_unknown_fields = hidden;
    bool same = na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return same;
}

/* ---- fuzz_call_decode --------------------------------------------------------- */

/* A decoded call, encoded again as a client would, decodes to the same call. */
static void
s_call_roundtrip(tix_call_t *call)
{
    zmsg_t *msg = zmsg_new();
    unsigned hidden = s_unknown_hide(call->request);
    tix_call_append(msg, call->method->name, call->call_id, call->timeout_ms, call->request);
    call->request->n_unknown_fields = hidden;
    tix_frame_t views[3];
    size_t n = tix_frames_view(msg, 0, views, 3);
    tix_call_t again;
    tix_call_decode(views, n, &again);
    FUZZ_CHECK(again.code == TIX__V1__CODE__OK, "a call encoded from a valid call is valid");
    FUZZ_CHECK(again.call_id == call->call_id && again.timeout_ms == call->timeout_ms && again.method == call->method,
               "a call survives a round trip");
    FUZZ_CHECK(s_same_packed(call->request, again.request), "a request survives a round trip");
    tix_call_clear(&again);
    zmsg_destroy(&msg);
}

static void
s_call_one(const fuzz_message_t *m)
{
    tix_call_t call;
    tix_call_decode(m->frames, m->nframes, &call);
    FUZZ_CHECK(memchr(call.message, '\0', sizeof call.message) != NULL, "the call's message is terminated");
    fuzz_check_status(call.code, call.message);
    FUZZ_CHECK((call.code == TIX__V1__CODE__OK) == (call.request != NULL), "a request exactly when the code is OK");
    if (call.code == TIX__V1__CODE__UNIMPLEMENTED)
        FUZZ_CHECK(call.method == NULL, "UNIMPLEMENTED names no method");
    if (call.code == TIX__V1__CODE__OK) {
        FUZZ_CHECK(call.method && !call.method->internal, "an OK call names a public method");
        FUZZ_CHECK(
            !tix_wire_has_nul(&tix__v1__call_header__descriptor, m->frames[1].data, m->frames[1].size, NULL, 0) &&
                !tix_wire_has_nul(call.method->input, call.body.data, call.body.size, NULL, 0),
            "an OK call holds no string that protobuf-c cut at a NUL byte");
        FUZZ_CHECK(call.message[0] == '\0', "an OK call has no message");
        s_call_roundtrip(&call);
    }
    tix_call_clear(&call);
    FUZZ_CHECK(call.request == NULL, "tix_call_clear releases the request");
}

int
fuzz_call_decode(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_message_t m;
    fuzz_reader_init(&r, data, size);
    while (fuzz_next_message(&r, &m))
        s_call_one(&m);
    return 0;
}

/* ---- fuzz_reply_decode -------------------------------------------------------- */

/* libtix's reading of one decoded reply as the answer to each method. */
static void
s_reply_fill_each(const Tix__V1__ReplyHeader *h, tix_frame_t body)
{
    tix_client_reply_t reply;
    memset(&reply, 0, sizeof reply);
    reply.header = (Tix__V1__ReplyHeader *) h;
    reply.body = body;
    bool valid = tix_utf8_valid((const uint8_t *) h->message, strlen(h->message), true);
    for (int id = 0; id < TIX_METHOD_COUNT; id++) {
        tix_result_t res;
        memset(&res, 0, sizeof res);
        tix_err err = tix_client_result_fill(&res, tix_method_get((tix_method_id) id), &reply);
        FUZZ_CHECK(memchr(res.message, '\0', sizeof res.message) != NULL, "a result's message is terminated");
        FUZZ_CHECK(!valid || tix_utf8_valid((const uint8_t *) res.message, strlen(res.message), true),
                   "libtix keeps a valid UTF-8 message valid when it shortens it");
        FUZZ_CHECK((err == TIX_OK) == (h->code != TIX__V1__CODE__OK || res.reply != NULL),
                   "an OK result carries its reply");
        tix_result_clear(&res);
    }
}

/* A decoded reply, encoded again as the broker would, decodes the same. */
static void
s_reply_roundtrip(const Tix__V1__ReplyHeader *h, tix_frame_t body)
{
    tix_status_t status = {h->call_id, h->code, h->message, h->retry_after_ms};
    zmsg_t *msg = zmsg_new();
    tix_reply_append(msg, &status, body.data, body.size);
    tix_frame_t views[3], body2;
    size_t n = tix_frames_view(msg, 0, views, 3);
    Tix__V1__ReplyHeader *again = NULL;
    FUZZ_CHECK(tix_reply_decode(views, n, &again, &body2) == TIX_OK, "an encoded reply decodes");
    FUZZ_CHECK(again->call_id == h->call_id && again->code == h->code && again->retry_after_ms == h->retry_after_ms,
               "a reply header survives a round trip");
    /* The encoder may shorten a message (to valid UTF-8, to a bound), never
     * change it; a short valid one goes as it is. */
    size_t len = strlen(h->message), sent = strlen(again->message);
    FUZZ_CHECK(sent <= len && memcmp(again->message, h->message, sent) == 0, "a reply message is sent as a prefix");
    if (len < TIX_MESSAGE_MAX_BYTES - 1 && tix_utf8_valid((const uint8_t *) h->message, len, true))
        FUZZ_CHECK(sent == len, "a short valid reply message is sent whole");
    FUZZ_CHECK(body2.size == body.size && (body.size == 0 || memcmp(body2.data, body.data, body.size) == 0),
               "a reply body survives a round trip");
    tix__v1__reply_header__free_unpacked(again, NULL);
    zmsg_destroy(&msg);
}

static void
s_reply_one(const fuzz_message_t *m)
{
    Tix__V1__ReplyHeader *h = NULL;
    tix_frame_t body = {NULL, 0};
    tix_err err = tix_reply_decode(m->frames, m->nframes, &h, &body);
    FUZZ_CHECK((err == TIX_OK) == (h != NULL), "a header exactly when the reply decodes");
    if (!h)
        return;
    FUZZ_CHECK(body.data == m->frames[2].data && body.size == m->frames[2].size, "the body views frame 2");
    s_reply_fill_each(h, body);
    s_reply_roundtrip(h, body);
    tix__v1__reply_header__free_unpacked(h, NULL);
}

int
fuzz_reply_decode(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_message_t m;
    fuzz_reader_init(&r, data, size);
    while (fuzz_next_message(&r, &m))
        s_reply_one(&m);
    return 0;
}

/* ---- fuzz_worker_protocol ----------------------------------------------------- */

/* What each side does with a body next: the worker unpacks and validates a
 * JOB's request; the broker and its edge unpack a REPLY's body. */
static void
s_wp_body_use(tix_wp_command command, const ProtobufCMessage *body)
{
    if (command == TIX_WP_JOB) {
        const Tix__Worker__V1__Job *job = (const Tix__Worker__V1__Job *) body;
        const tix_method_t *method = tix_method_find_internal(job->method, strlen(job->method));
        if (!method)
            return;
        ProtobufCMessage *req;
        char why[TIX_MESSAGE_MAX_BYTES];
        tix_code code = tix_request_decode(method, job->body.data, job->body.len, &req, why, sizeof why);
        FUZZ_CHECK((code == TIX__V1__CODE__OK) == (req != NULL), "a request exactly when the code is OK");
        if (code != TIX__V1__CODE__OK)
            FUZZ_CHECK(memchr(why, '\0', sizeof why) && why[0], "a refused request says why");
        if (req)
            protobuf_c_message_free_unpacked(req, NULL);
    } else if (command == TIX_WP_REPLY) {
        const Tix__Worker__V1__JobReply *reply = (const Tix__Worker__V1__JobReply *) body;
        for (int id = 0; id < TIX_METHOD_COUNT; id++) {
            const ProtobufCMessageDescriptor *out = tix_method_get((tix_method_id) id)->output;
            ProtobufCMessage *m = protobuf_c_message_unpack(out, NULL, reply->body.len, reply->body.data);
            if (m)
                protobuf_c_message_free_unpacked(m, NULL);
        }
    }
}

static void
s_wp_one(const fuzz_message_t *m)
{
    tix_wp_command command;
    ProtobufCMessage *body = NULL;
    if (tix_wp_decode(m->frames, m->nframes, &command, &body) != TIX_OK) {
        FUZZ_CHECK(body == NULL, "a refused message leaves no body");
        return;
    }
    FUZZ_CHECK(command < TIX_WP_COUNT, "a known command");
    FUZZ_CHECK(!body || !tix_wire_has_nul(body->descriptor, m->frames[2].data, m->frames[2].size, NULL, 0),
               "a decoded worker message holds no string cut at a NUL byte");
    FUZZ_CHECK((body == NULL) == (command == TIX_WP_DISCONNECT), "a body exactly when the command has one");
    s_wp_body_use(command, body);
    zmsg_t *msg = zmsg_new();
    unsigned hidden = body ? s_unknown_hide(body) : 0;
    tix_wp_append(msg, command, body);
    if (body)
        body->n_unknown_fields = hidden;
    tix_frame_t views[3];
    size_t n = tix_frames_view(msg, 0, views, 3);
    tix_wp_command again;
    ProtobufCMessage *body2 = NULL;
    FUZZ_CHECK(tix_wp_decode(views, n, &again, &body2) == TIX_OK && again == command,
               "a worker message survives a round trip");
    FUZZ_CHECK(!body || s_same_packed(body, body2), "a worker message body survives a round trip");
    if (body2)
        protobuf_c_message_free_unpacked(body2, NULL);
    if (body)
        protobuf_c_message_free_unpacked(body, NULL);
    zmsg_destroy(&msg);
}

int
fuzz_worker_protocol(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_message_t m;
    fuzz_reader_init(&r, data, size);
    while (fuzz_next_message(&r, &m))
        s_wp_one(&m);
    return 0;
}

/* ---- fuzz_order_event --------------------------------------------------------- */

/* What the persister accepts it must be able to write: both sinks render
 * the order as BSON with UTF-8 strings (jsonl as canonical Extended JSON). */
static void
s_order_check_writable(const persister_order_t *o)
{
    bson_t doc = BSON_INITIALIZER;
    persister_order_append_bson(o, 0, &doc);
    size_t len = 0;
    char *json = bson_as_canonical_extended_json(&doc, &len);
    FUZZ_CHECK(json != NULL, "an order the persister accepts from an event can be written by its sinks "
                             "(else it is retried forever and holds the sink in backoff)");
    bson_free(json);
    bson_destroy(&doc);
}

/* The sink answered DONE for everything held (persister_flush.c's s_book). */
static void
s_events_flush(persister_sales_t *sales, persister_batch_t *batch)
{
    size_t n = persister_batch_size(batch);
    bool done[FUZZ_EVENT_BUFFER];
    persister_order_t *orders = persister_batch_orders(batch);
    for (size_t i = 0; i < n; i++) {
        done[i] = true;
        persister_sales_mark_written(sales, persister_sales_get(sales, orders[i].sale_id), orders[i].log_id);
    }
    persister_batch_remove(batch, n, done);
    FUZZ_CHECK(persister_batch_size(batch) == 0, "a flush that wrote everything leaves nothing held");
}

static void
s_claim_absent(const persister_order_t *claim, void *arg)
{
    (void) arg;
    FUZZ_CHECK(claim->order_id && claim->sale_id && claim->user_id, "a settled claim is whole");
}

/* As persister.c's s_recv_one and s_on_event (static) file one event as a
 * claim. op 1: then the log read finds that entry and the sink writes
 * everything held; op 2: then the read moves the sale's cursor to this
 * order's log id and settles the claims it passed. */
static void
s_event_one(const fuzz_message_t *m, persister_sales_t *sales, persister_batch_t *batch)
{
    char topic[sizeof "order." + TIX_SALE_ID_MAX_BYTES], why[128];
    if (m->nframes != 2 || m->frames[0].size >= sizeof topic)
        return; /* dropped as malformed before decoding */
    memcpy(topic, m->frames[0].data, m->frames[0].size);
    topic[m->frames[0].size] = '\0';
    Tix__V1__OrderEvent *event = tix__v1__order_event__unpack(NULL, m->frames[1].size, m->frames[1].data);
    if (!event)
        return;
    persister_order_t order;
    bool ok = persister_order_from_event(event, topic, &order, why, sizeof why);
    tix__v1__order_event__free_unpacked(event, NULL);
    if (!ok) {
        FUZZ_CHECK(memchr(why, '\0', sizeof why) && why[0], "a refused event says why");
        return;
    }
    s_order_check_writable(&order);
    persister_log_id_t log_id = order.log_id;
    persister_sale_t *sale = persister_sales_get(sales, order.sale_id);
    if (persister_sales_is_written(sale, order.log_id) || !persister_sales_claim(sales, sale, &order))
        persister_order_clear(&order);
    if (m->op == 1) {
        /* The log has the order as claimed: the read takes the claim and
         * the entry is buffered and written. */
        persister_order_t *claim = persister_sales_claim_take(sales, sale, log_id);
        if (claim && persister_batch_add(batch, claim, 1) != PERSISTER_BATCH_ADDED)
            persister_order_clear(claim);
        free(claim);
        s_events_flush(sales, batch);
    }
    if (m->op == 2) {
        /* The log was read through this id: every claim up to it settled. */
        persister_log_id_t before = sale->cursor;
        persister_sales_advance(sales, sale, log_id);
        persister_sales_claims_settle(sales, sale, before, log_id, s_claim_absent, NULL);
    }
}

int
fuzz_order_event(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_message_t m;
    persister_sales_t *sales = persister_sales_new(FUZZ_EVENT_BUFFER);
    persister_batch_t *batch = persister_batch_new(FUZZ_EVENT_BUFFER);
    fuzz_reader_init(&r, data, size);
    while (fuzz_next_message(&r, &m))
        s_event_one(&m, sales, batch);
    persister_batch_destroy(&batch);
    persister_sales_destroy(&sales);
    return 0;
}

/* ---- fuzz_store_reply ----------------------------------------------------------- */

static void
s_store_check(worker_store_op op, const worker_store_result_t *out)
{
    FUZZ_CHECK(out->err == TIX_OK || out->err == TIX_ERR_UNAVAILABLE || out->err == TIX_ERR_REDIS,
               "a store result is OK, UNAVAILABLE or REDIS");
    FUZZ_CHECK(out->detail && out->order_id && out->request_id && out->log_id && out->cursor,
               "a store result's strings are never NULL");
    if (out->err != TIX_OK || out->status != WORKER_STORE_FOUND || op != WORKER_STORE_OP_BUYERS)
        return;
    for (size_t i = 0; i < out->nbuyers; i++) {
        worker_store_buyer_t b;
        worker_store_reply_buyer_at(out, i, &b);
        FUZZ_CHECK(b.user_id && b.order_id && b.request_id, "a buyer's strings are never NULL");
    }
}

/* Every reply in frame 0, as the answer to each of the library's functions
 * (and, with no frame, a connection lost before the answer). */
static void
s_store_one(const fuzz_message_t *m)
{
    worker_store_result_t out;
    if (m->nframes == 0) {
        worker_store_reply_parse(WORKER_STORE_OP_BUY, NULL, &out);
        s_store_check(WORKER_STORE_OP_BUY, &out);
        return;
    }
    if (!fuzz_resp_small(m->frames[0].data, m->frames[0].size))
        return;
    redisReader *reader = redisReaderCreate();
    redisReaderFeed(reader, (const char *) m->frames[0].data, m->frames[0].size);
    void *reply = NULL;
    while (redisReaderGetReply(reader, &reply) == REDIS_OK && reply) {
        for (int op = 0; op < WORKER_STORE_OP_COUNT; op++) {
            worker_store_reply_parse((worker_store_op) op, reply, &out);
            s_store_check((worker_store_op) op, &out);
        }
        FUZZ_CHECK(!worker_store_reply_function_missing(reply) || ((redisReply *) reply)->type == REDIS_REPLY_ERROR,
                   "only an error reply says a function is missing");
        freeReplyObject(reply);
        reply = NULL;
    }
    redisReaderFree(reader);
}

int
fuzz_store_reply(const uint8_t *data, size_t size)
{
    fuzz_reader_t r;
    fuzz_message_t m;
    fuzz_reader_init(&r, data, size);
    while (fuzz_next_message(&r, &m))
        s_store_one(&m);
    return 0;
}

/* ---- Table and lifecycle ------------------------------------------------------- */

static const fuzz_target_t s_targets[] = {
    {"call_decode", fuzz_call_decode},         {"reply_decode", fuzz_reply_decode},
    {"worker_protocol", fuzz_worker_protocol}, {"order_event", fuzz_order_event},
    {"store_reply", fuzz_store_reply},         {"broker_frontend", fuzz_broker_frontend},
    {"broker_backend", fuzz_broker_backend},   {"worker_job", fuzz_worker_job},
};

const fuzz_target_t *
fuzz_target_find(const char *name)
{
    for (size_t i = 0; i < TIX_ARRAY_LEN(s_targets); i++) {
        if (strcmp(s_targets[i].name, name) == 0)
            return &s_targets[i];
    }
    return NULL;
}

size_t
fuzz_target_count(void)
{
    return TIX_ARRAY_LEN(s_targets);
}

const fuzz_target_t *
fuzz_target_at(size_t i)
{
    return i < TIX_ARRAY_LEN(s_targets) ? &s_targets[i] : NULL;
}

void
fuzz_targets_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    const char *level = getenv("TIX_LOG_LEVEL");
    if (!level || !tix_log_set_level_name(level))
        tix_log_set_level_name("error");
    tix_log_init("fuzz");
    zsys_handler_set(NULL); /* SIGINT stays libFuzzer's (and cmocka's) */
    signal(SIGPIPE, SIG_IGN);
    /* czmq registers its exit handler here; ours, registered after it, runs
     * before it: no socket is left dangling when the process exits. */
    zsys_init();
    atexit(fuzz_targets_shutdown);
}

void
fuzz_targets_shutdown(void)
{
    fuzz_worker_fixture_free();
    fuzz_broker_fixture_free();
}
