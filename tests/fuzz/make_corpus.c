/*
 * make_corpus.c - writes the fuzzers' seed corpus: for each target, valid
 * messages of every kind it reads and each bad-input case of PROTOCOL.md
 * section 2, in the framing of fuzz_targets.h.
 *
 * Usage: fuzz_make_corpus DIR   (tests/fuzz/corpus; writes DIR/<target>/<name>)
 * Built with the harnesses (-DTIX_FUZZ=ON); the corpus it wrote is committed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tix_codec.h"

#define IN_MAX_BYTES 65536
#define PURCHASE "tix.v1.TicketService/Purchase"
#define JOB1 0x100000000ull /* the broker's first job id: sequence 1, slot 0 */
#define JOB2 0x200000001ull /* the next, allocated while the first is live */
#define JOB3 0x300000001ull /* after JOB2 was freed */

typedef struct {
    uint8_t buf[IN_MAX_BYTES];
    size_t len;
} in_t;

static const char *s_root;

/* ---- Framing (fuzz_targets.h) ------------------------------------------------ */

static void
s_head(in_t *in, unsigned op, unsigned nframes)
{
    in->buf[in->len++] = (uint8_t) (op << 4 | nframes);
}

static void
s_frame(in_t *in, const void *data, size_t size)
{
    in->buf[in->len++] = (uint8_t) (size >> 8);
    in->buf[in->len++] = (uint8_t) size;
    memcpy(in->buf + in->len, data, size);
    in->len += size;
}

static void
s_str(in_t *in, const char *s)
{
    s_frame(in, s, strlen(s));
}

static void
s_msg(in_t *in, const ProtobufCMessage *m)
{
    uint8_t buf[8192];
    s_frame(in, buf, m ? protobuf_c_message_pack(m, buf) : 0);
}

/* As s_msg, every '~' of the packed message made a NUL byte: protobuf-c
 * cannot pack a string holding one. */
static void
s_msg_nul(in_t *in, const ProtobufCMessage *m)
{
    uint8_t buf[8192];
    size_t n = protobuf_c_message_pack(m, buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = buf[i] == '~' ? 0 : buf[i];
    s_frame(in, buf, n);
}

static void
s_save(const char *target, const char *name, in_t *in)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", s_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", s_root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(in->buf, 1, in->len, f) != in->len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    in->len = 0;
}

/* ---- Messages ------------------------------------------------------------------ */

static Tix__V1__PurchaseRequest s_purchase = TIX__V1__PURCHASE_REQUEST__INIT;
static Tix__V1__GetSaleRequest s_get_sale = TIX__V1__GET_SALE_REQUEST__INIT;
static Tix__V1__GetOrderRequest s_get_order = TIX__V1__GET_ORDER_REQUEST__INIT;
static Tix__V1__CreateSaleRequest s_create = TIX__V1__CREATE_SALE_REQUEST__INIT;
static Tix__V1__HealthCheckRequest s_health = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
static Tix__Worker__V1__SaleBuyersRequest s_buyers_req = TIX__WORKER__V1__SALE_BUYERS_REQUEST__INIT;

static const struct {
    const char *name;
    const char *method;
    const ProtobufCMessage *body;
} s_calls[] = {
    {"purchase", PURCHASE, &s_purchase.base},
    {"get_sale", "tix.v1.TicketService/GetSale", &s_get_sale.base},
    {"get_order", "tix.v1.TicketService/GetOrder", &s_get_order.base},
    {"create_sale", "tix.v1.AdminService/CreateSale", &s_create.base},
    {"health_check", "tix.v1.Health/Check", &s_health.base},
    {"sale_buyers", "tix.worker.v1.Internal/SaleBuyers", &s_buyers_req.base},
};

static void
s_init_messages(void)
{
    s_purchase.sale_id = "s1";
    s_purchase.user_id = "alice";
    s_purchase.request_id = "r-1";
    s_get_sale.sale_id = "s1";
    s_get_order.sale_id = "s1";
    s_get_order.user_id = "alice";
    s_create.sale_id = "s1";
    s_create.total = 100;
    s_create.closes_at_ms = 4102444800000;
    s_health.service = "tix.v1.TicketService";
    s_buyers_req.sale_id = "s1";
    s_buyers_req.cursor = "0";
}

/* [TIX1][CallHeader][body] with the header's fields. */
static void
s_call_frames(in_t *in, const char *method, uint64_t call_id, const ProtobufCMessage *body)
{
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = (char *) method;
    h.call_id = call_id;
    h.timeout_ms = 5000;
    s_str(in, TIX_SIGNATURE);
    s_msg(in, &h.base);
    s_msg(in, body);
}

/* A client call as the broker's ROUTER hands it over (op 1 in broker_backend). */
static void
s_client_call(in_t *in, unsigned op, const char *method, uint64_t call_id, const ProtobufCMessage *body)
{
    s_head(in, op, 5);
    s_str(in, "C");
    s_str(in, "");
    s_call_frames(in, method, call_id, body);
}

/* A call as fuzz_call_decode (bare) or fuzz_broker_frontend (enveloped) reads it. */
static void
s_any_call(in_t *in, bool envelope, const char *method, uint64_t call_id, const ProtobufCMessage *body)
{
    if (envelope) {
        s_client_call(in, 0, method, call_id, body);
        return;
    }
    s_head(in, 0, 3);
    s_call_frames(in, method, call_id, body);
}

/* The head of a message of n frames after the envelope, and the envelope. */
static void
s_envelope(in_t *in, bool envelope, unsigned n)
{
    s_head(in, 0, n + (envelope ? 2 : 0));
    if (envelope) {
        s_str(in, "C");
        s_str(in, "");
    }
}

/* A worker message [rid][TXW1][command][body] (rid NULL: none, as a worker receives it). */
static void
s_wp(in_t *in, unsigned op, const char *rid, const char *command, const ProtobufCMessage *body)
{
    s_head(in, op, rid ? 4 : 3);
    if (rid)
        s_str(in, rid);
    s_str(in, TIX_WORKER_SIGNATURE);
    s_str(in, command);
    s_msg(in, body);
}

static void
s_ready(in_t *in, const char *rid, uint32_t capacity)
{
    Tix__Worker__V1__Ready r = TIX__WORKER__V1__READY__INIT;
    r.worker_id = "w1";
    r.capacity = capacity;
    r.redis_ok = true;
    r.heartbeat_ms = 1000;
    s_wp(in, 0, rid, "READY", &r.base);
}

static void
s_job_reply(in_t *in, const char *rid, uint64_t job_id, tix_code code, const ProtobufCMessage *body)
{
    uint8_t buf[4096];
    Tix__Worker__V1__JobReply r = TIX__WORKER__V1__JOB_REPLY__INIT;
    r.job_id = job_id;
    r.code = code;
    r.message = code == TIX__V1__CODE__OK ? "" : "redis unavailable";
    r.body.data = buf;
    r.body.len = body ? protobuf_c_message_pack(body, buf) : 0;
    s_wp(in, 0, rid, "REPLY", &r.base);
}

/* ---- Calls: fuzz_call_decode and fuzz_broker_frontend ------------------------- */

/* Bad calls (PROTOCOL.md section 2): framing, header, body, method, metadata. */
static void
s_bad_calls(bool envelope, const char *target)
{
    in_t in = {{0}, 0};
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    Tix__V1__CallHeader__MetadataEntry pairs[17], *ptrs[17];
    static char big[5000];
    memset(big, 'm', sizeof big - 1);
    s_envelope(&in, envelope, 3), s_str(&in, "TIX2"), s_msg(&in, NULL), s_msg(&in, NULL);
    s_save(target, "bad_signature", &in);
    s_envelope(&in, envelope, 3), s_str(&in, "TIX"), s_msg(&in, NULL), s_msg(&in, NULL);
    s_save(target, "short_signature", &in);
    s_envelope(&in, envelope, 0), s_save(target, "no_frames", &in);
    s_envelope(&in, envelope, 1), s_str(&in, TIX_SIGNATURE), s_save(target, "signature_only", &in);
    h.method = PURCHASE, h.call_id = 7;
    s_envelope(&in, envelope, 2), s_str(&in, TIX_SIGNATURE), s_msg(&in, &h.base), s_save(target, "missing_body", &in);
    s_envelope(&in, envelope, 4), s_call_frames(&in, PURCHASE, 8, &s_purchase.base), s_str(&in, "x");
    s_save(target, "extra_frame", &in);
    s_envelope(&in, envelope, 3), s_str(&in, TIX_SIGNATURE), s_str(&in, "\xff\xff\xff"), s_msg(&in, NULL);
    s_save(target, "bad_header", &in);
    s_envelope(&in, envelope, 3), s_call_frames(&in, PURCHASE, 9, NULL), s_save(target, "empty_body", &in);
    s_envelope(&in, envelope, 3), s_str(&in, TIX_SIGNATURE), s_msg(&in, &h.base), s_str(&in, "\x0a\xff");
    s_save(target, "bad_body", &in);
    s_envelope(&in, envelope, 3), s_call_frames(&in, "tix.v1.TicketService/Refund", 10, NULL);
    s_save(target, "unknown_method", &in);
    for (int i = 0; i < 17; i++) {
        tix__v1__call_header__metadata_entry__init(&pairs[i]);
        pairs[i].key = "k", pairs[i].value = "v", ptrs[i] = &pairs[i];
    }
    h.metadata = ptrs, h.n_metadata = 17;
    s_envelope(&in, envelope, 3), s_str(&in, TIX_SIGNATURE), s_msg(&in, &h.base), s_msg(&in, &s_purchase.base);
    s_save(target, "metadata_17_pairs", &in);
    pairs[0].value = big, h.n_metadata = 1;
    s_envelope(&in, envelope, 3), s_str(&in, TIX_SIGNATURE), s_msg(&in, &h.base), s_msg(&in, &s_purchase.base);
    s_save(target, "metadata_too_large", &in);
    if (envelope) {
        s_head(&in, 0, 4), s_str(&in, "C"), s_call_frames(&in, PURCHASE, 11, &s_purchase.base);
        s_save(target, "no_delimiter", &in);
        s_head(&in, 0, 5), s_str(&in, "C"), s_str(&in, "x"), s_call_frames(&in, PURCHASE, 12, &s_purchase.base);
        s_save(target, "nonempty_delimiter", &in);
    }
}

/* Calls whose fields break PROTOCOL.md's limits. */
static void
s_invalid_fields(bool envelope, const char *target)
{
    in_t in = {{0}, 0};
    static char long_id[200];
    memset(long_id, 'u', sizeof long_id - 1);
    const char *const users[] = {"a\x01z", "\xc3\x28", long_id, ""};
    const char *const names[] = {"user_control", "user_bad_utf8", "user_too_long", "user_empty"};
    for (size_t i = 0; i < 4; i++) {
        Tix__V1__PurchaseRequest p = s_purchase;
        p.user_id = (char *) users[i];
        s_any_call(&in, envelope, PURCHASE, 20 + i, &p.base);
        s_save(target, names[i], &in);
    }
    Tix__V1__PurchaseRequest p = s_purchase;
    p.sale_id = "s 1/x";
    Tix__V1__CreateSaleRequest c = s_create;
    c.total = 0;
    Tix__V1__CreateSaleRequest c2 = s_create;
    c2.opens_at_ms = 2000, c2.closes_at_ms = 1000;
    const struct {
        const char *name, *method;
        const ProtobufCMessage *body;
    } bad[] = {{"sale_id_bad_chars", PURCHASE, &p.base},
               {"create_total_zero", "tix.v1.AdminService/CreateSale", &c.base},
               {"create_closes_before_opens", "tix.v1.AdminService/CreateSale", &c2.base}};
    for (size_t i = 0; i < 3; i++) {
        s_any_call(&in, envelope, bad[i].method, 30 + i, bad[i].body);
        s_save(target, bad[i].name, &in);
    }
}

/* Strings with a NUL inside ('~' below): refused, never cut short. */
static void
s_nul_fields(bool envelope, const char *target)
{
    in_t in = {{0}, 0};
    Tix__V1__PurchaseRequest p = s_purchase;
    p.user_id = "alice~mallory";
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = PURCHASE, h.call_id = 40;
    s_envelope(&in, envelope, 3), s_str(&in, TIX_SIGNATURE), s_msg(&in, &h.base), s_msg_nul(&in, &p.base);
    s_save(target, "nul_in_user_id", &in);
    p = s_purchase, p.sale_id = "x~{junk}";
    s_envelope(&in, envelope, 3), s_str(&in, TIX_SIGNATURE), s_msg(&in, &h.base), s_msg_nul(&in, &p.base);
    s_save(target, "nul_in_sale_id", &in);
    h.method = PURCHASE "~junk";
    s_envelope(&in, envelope, 3), s_str(&in, TIX_SIGNATURE), s_msg_nul(&in, &h.base), s_msg(&in, &s_purchase.base);
    s_save(target, "nul_in_method", &in);
    Tix__V1__CallHeader__MetadataEntry pair = TIX__V1__CALL_HEADER__METADATA_ENTRY__INIT, *ptr = &pair;
    pair.key = "k~x", pair.value = "v~x";
    h.method = PURCHASE, h.metadata = &ptr, h.n_metadata = 1;
    s_envelope(&in, envelope, 3), s_str(&in, TIX_SIGNATURE), s_msg_nul(&in, &h.base), s_msg(&in, &s_purchase.base);
    s_save(target, "nul_in_metadata", &in);
}

static void
s_calls_corpus(bool envelope, const char *target)
{
    in_t in = {{0}, 0};
    for (size_t i = 0; i < sizeof s_calls / sizeof s_calls[0]; i++) {
        s_any_call(&in, envelope, s_calls[i].method, i + 1, s_calls[i].body);
        s_save(target, s_calls[i].name, &in);
    }
    for (int i = 0; i < 8; i++) /* more than capacity 2 + queue 4: RESOURCE_EXHAUSTED */
        s_any_call(&in, envelope, PURCHASE, 100 + i, &s_purchase.base);
    s_save(target, "burst", &in);
    s_bad_calls(envelope, target);
    s_invalid_fields(envelope, target);
    s_nul_fields(envelope, target);
}

/* ---- Replies: fuzz_reply_decode ------------------------------------------------ */

static void
s_reply(in_t *in, tix_code code, const char *message, const ProtobufCMessage *body)
{
    Tix__V1__ReplyHeader h = TIX__V1__REPLY_HEADER__INIT;
    h.call_id = 42;
    h.code = code;
    h.message = (char *) message;
    h.retry_after_ms = code == TIX__V1__CODE__UNAVAILABLE ? 500 : 0;
    s_head(in, 0, 3);
    s_str(in, TIX_SIGNATURE);
    s_msg(in, &h.base);
    s_msg(in, body);
}

static void
s_replies_corpus(void)
{
    in_t in = {{0}, 0};
    Tix__V1__PurchaseReply pr = TIX__V1__PURCHASE_REPLY__INIT;
    pr.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, pr.order_id = "o-1", pr.remaining = 9;
    pr.purchased_at_ms = 1700000000000;
    Tix__V1__Sale sale = TIX__V1__SALE__INIT;
    sale.sale_id = "s1", sale.total = 100, sale.remaining = 9, sale.state = TIX__V1__SALE__STATE__OPEN;
    Tix__V1__Order order = TIX__V1__ORDER__INIT;
    order.order_id = "o-1", order.sale_id = "s1", order.user_id = "alice", order.request_id = "r-1";
    Tix__V1__HealthCheckResponse hc = TIX__V1__HEALTH_CHECK_RESPONSE__INIT;
    hc.status = TIX__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    s_reply(&in, TIX__V1__CODE__OK, "", &pr.base), s_save("reply_decode", "purchase_ok", &in);
    s_reply(&in, TIX__V1__CODE__OK, "", &sale.base), s_save("reply_decode", "sale_ok", &in);
    s_reply(&in, TIX__V1__CODE__OK, "", &order.base), s_save("reply_decode", "order_ok", &in);
    s_reply(&in, TIX__V1__CODE__OK, "", &hc.base), s_save("reply_decode", "health_ok", &in);
    s_reply(&in, TIX__V1__CODE__UNAVAILABLE, "broker: no sale worker connected", NULL);
    s_save("reply_decode", "unavailable", &in);
    static char long_msg[400];
    for (size_t i = 0; i + 2 < sizeof long_msg; i += 2)
        memcpy(long_msg + i, "\xc3\xa9", 2); /* e-acute: a cut could split it */
    s_reply(&in, TIX__V1__CODE__INVALID_ARGUMENT, long_msg, NULL), s_save("reply_decode", "long_message", &in);
    s_head(&in, 0, 3), s_str(&in, "TIX0"), s_msg(&in, NULL), s_msg(&in, NULL), s_save("reply_decode", "bad_sig", &in);
    s_head(&in, 0, 2), s_str(&in, TIX_SIGNATURE), s_msg(&in, NULL), s_save("reply_decode", "two_frames", &in);
    s_head(&in, 0, 3), s_str(&in, TIX_SIGNATURE), s_str(&in, "\x08\x80"), s_msg(&in, NULL);
    s_save("reply_decode", "bad_header", &in);
    Tix__V1__ReplyHeader ok = TIX__V1__REPLY_HEADER__INIT;
    s_head(&in, 0, 3), s_str(&in, TIX_SIGNATURE), s_msg(&in, &ok.base), s_str(&in, "\xff");
    s_save("reply_decode", "ok_bad_body", &in);
}

/* ---- Worker protocol: fuzz_worker_protocol and fuzz_broker_backend ------------- */

static void
s_wp_corpus(void)
{
    in_t in = {{0}, 0};
    Tix__Worker__V1__Heartbeat hb = TIX__WORKER__V1__HEARTBEAT__INIT;
    hb.redis_ok = true, hb.in_flight = 3;
    Tix__Worker__V1__Job job = TIX__WORKER__V1__JOB__INIT;
    uint8_t body[256];
    job.job_id = JOB1, job.method = PURCHASE, job.budget_ms = 1000, job.client = "C";
    job.body.data = body, job.body.len = protobuf_c_message_pack(&s_purchase.base, body);
    s_ready(&in, NULL, 4), s_save("worker_protocol", "ready", &in);
    s_wp(&in, 0, NULL, "HEARTBEAT", &hb.base), s_save("worker_protocol", "heartbeat", &in);
    s_wp(&in, 0, NULL, "JOB", &job.base), s_save("worker_protocol", "job", &in);
    s_job_reply(&in, NULL, JOB1, TIX__V1__CODE__OK, NULL), s_save("worker_protocol", "reply", &in);
    s_wp(&in, 0, NULL, "DISCONNECT", NULL), s_save("worker_protocol", "disconnect", &in);
    s_head(&in, 0, 3), s_str(&in, TIX_WORKER_SIGNATURE), s_str(&in, "DISCONNECT"), s_str(&in, "x");
    s_save("worker_protocol", "disconnect_with_body", &in);
    s_head(&in, 0, 3), s_str(&in, "TXW2"), s_str(&in, "READY"), s_msg(&in, NULL),
        s_save("worker_protocol", "bad_sig", &in);
    s_wp(&in, 0, NULL, "BOGUS", NULL), s_save("worker_protocol", "unknown_command", &in);
    static const uint8_t truncated[] = {0x12, 0x05, 'a', 'b'}; /* a 5-byte field with 2 bytes */
    s_head(&in, 0, 3), s_str(&in, TIX_WORKER_SIGNATURE), s_str(&in, "JOB"), s_frame(&in, truncated, sizeof truncated);
    s_save("worker_protocol", "truncated_body", &in);
    job.method = PURCHASE "~junk";
    s_head(&in, 0, 3), s_str(&in, TIX_WORKER_SIGNATURE), s_str(&in, "JOB"), s_msg_nul(&in, &job.base);
    s_save("worker_protocol", "job_nul_in_method", &in);
    Tix__V1__PurchaseRequest p = s_purchase;
    p.user_id = "alice~mallory";
    job.method = PURCHASE, job.body.len = protobuf_c_message_pack(&p.base, body);
    for (size_t i = 0; i < job.body.len; i++)
        body[i] = body[i] == '~' ? 0 : body[i];
    s_wp(&in, 0, NULL, "JOB", &job.base), s_save("worker_protocol", "job_nul_in_user_id", &in);
    s_wp(&in, 0, NULL, "JOB", &job.base), s_save("worker_job", "nul_in_user_id", &in);
}

static void
s_backend_corpus(void)
{
    in_t in = {{0}, 0};
    Tix__V1__PurchaseReply sold = TIX__V1__PURCHASE_REPLY__INIT;
    sold.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT;
    Tix__V1__PurchaseReply bought = TIX__V1__PURCHASE_REPLY__INIT;
    bought.outcome = TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED, bought.order_id = "o-1", bought.remaining = 4;
    Tix__Worker__V1__Buyer buyer = TIX__WORKER__V1__BUYER__INIT, *buyers[] = {&buyer};
    buyer.user_id = "alice", buyer.order_id = "o-1", buyer.request_id = "r-1", buyer.purchased_at_ms = 1700000000000;
    Tix__Worker__V1__BuyersPage page = TIX__WORKER__V1__BUYERS_PAGE__INIT;
    page.sale_id = "s1", page.buyers = buyers, page.n_buyers = 1, page.cursor = "0";
    page.created_at_ms = 1699999940000, page.now_ms = 1700000000000;
    Tix__V1__PurchaseRequest bob = s_purchase;
    bob.user_id = "bob";
    Tix__Worker__V1__Heartbeat hb = TIX__WORKER__V1__HEARTBEAT__INIT;

    s_ready(&in, "W", 2), s_wp(&in, 0, "W", "HEARTBEAT", &hb.base), s_save("broker_backend", "ready_heartbeat", &in);
    s_ready(&in, "W", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_job_reply(&in, "W", JOB1, TIX__V1__CODE__OK, &bought.base), s_save("broker_backend", "purchase_reply", &in);
    s_ready(&in, "W", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_job_reply(&in, "W", JOB1, TIX__V1__CODE__OK, &sold.base), s_job_reply(&in, "W", JOB2, 0, &page.base);
    s_client_call(&in, 1, PURCHASE, 2, &s_purchase.base), s_client_call(&in, 1, PURCHASE, 3, &bob.base);
    s_save("broker_backend", "sold_out_edge", &in);
    /* CreateSale and NOT_FOUND drop the sale from the edge. */
    Tix__V1__Sale fresh = TIX__V1__SALE__INIT;
    fresh.sale_id = "s1", fresh.total = 5, fresh.remaining = 5;
    s_ready(&in, "W", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_job_reply(&in, "W", JOB1, TIX__V1__CODE__OK, &sold.base), s_job_reply(&in, "W", JOB2, 0, &page.base);
    s_client_call(&in, 1, "tix.v1.AdminService/CreateSale", 2, &s_create.base);
    s_job_reply(&in, "W", JOB3, TIX__V1__CODE__OK, &fresh.base), s_client_call(&in, 1, PURCHASE, 3, &bob.base);
    s_job_reply(&in, "W", 0x400000001ull, TIX__V1__CODE__NOT_FOUND, NULL),
        s_save("broker_backend", "edge_dropped", &in);
    page.cursor = "17";
    s_ready(&in, "W", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_job_reply(&in, "W", JOB1, TIX__V1__CODE__OK, &sold.base), s_job_reply(&in, "W", JOB2, 0, &page.base);
    page.cursor = "0", page.buyers = NULL, page.n_buyers = 0;
    s_job_reply(&in, "W", JOB3, 0, &page.base), s_client_call(&in, 1, PURCHASE, 2, &bob.base);
    s_save("broker_backend", "sold_out_two_pages", &in);
    s_ready(&in, "W", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_job_reply(&in, "W", JOB1, TIX__V1__CODE__OK, &sold.base);
    s_job_reply(&in, "W", JOB2, TIX__V1__CODE__UNAVAILABLE, NULL), s_save("broker_backend", "edge_load_fails", &in);
    s_ready(&in, "W", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_client_call(&in, 1, "tix.v1.AdminService/CreateSale", 2, &s_create.base), s_head(&in, 2, 0);
    s_ready(&in, "W", 2), s_head(&in, 2, 0), s_save("broker_backend", "worker_expires_twice", &in);
    s_ready(&in, "W", 1), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_client_call(&in, 1, PURCHASE, 2, &bob.base), s_head(&in, 3, 0);
    s_client_call(&in, 1, PURCHASE, 3, &bob.base), s_save("broker_backend", "drain", &in);
    s_ready(&in, "Y", 1), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base), s_head(&in, 4, 0);
    s_ready(&in, "W", 1), s_client_call(&in, 1, PURCHASE, 2, &bob.base), s_save("broker_backend", "peer_gone", &in);
    s_ready(&in, "W", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_wp(&in, 0, "W", "DISCONNECT", NULL), s_client_call(&in, 1, PURCHASE, 2, &bob.base);
    s_job_reply(&in, "W", JOB1, TIX__V1__CODE__OK, &bought.base), s_save("broker_backend", "worker_leaves", &in);
    s_ready(&in, "W", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base), s_ready(&in, "W", 2);
    s_save("broker_backend", "re_register", &in);
    s_ready(&in, "X", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base),
        s_save("broker_backend", "unreachable", &in);
    /* The worker loading a sold-out sale's buyers leaves, or comes back. */
    s_ready(&in, "Y", 2), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_job_reply(&in, "Y", JOB1, TIX__V1__CODE__OK, &sold.base), s_client_call(&in, 1, PURCHASE, 2, &bob.base);
    s_head(&in, 4, 0), s_job_reply(&in, "Y", JOB2, 0, &page.base), s_save("broker_backend", "edge_loader_leaves", &in);
    s_ready(&in, "W", 3), s_client_call(&in, 1, PURCHASE, 1, &s_purchase.base);
    s_job_reply(&in, "W", JOB1, TIX__V1__CODE__OK, &sold.base), s_ready(&in, "W", 3), s_ready(&in, "W", 3);
    s_save("broker_backend", "edge_loader_re_registers", &in);
    s_wp(&in, 0, "Q", "HEARTBEAT", &hb.base), s_job_reply(&in, "Q", JOB1, 0, NULL), s_ready(&in, "", 2);
    s_ready(&in, "W", 0), s_wp(&in, 0, "W", "JOB", NULL), s_head(&in, 0, 0), s_save("broker_backend", "garbage", &in);
}

/* ---- Worker jobs and Redis replies: fuzz_worker_job, fuzz_store_reply ---------- */

static const struct {
    const char *name;
    size_t call; /* index in s_calls */
    const char *resp;
} s_answers[] = {
    {"purchased", 0, "*6\r\n$9\r\nPURCHASED\r\n:9\r\n$3\r\no-1\r\n:1700000000000\r\n$15\r\n1700000000000-0\r\n:1\r\n"},
    {"already_purchased", 0, "*6\r\n$17\r\nALREADY_PURCHASED\r\n:9\r\n$3\r\no-1\r\n:17\r\n$3\r\n1-0\r\n:0\r\n"},
    {"sold_out", 0, "*2\r\n$8\r\nSOLD_OUT\r\n:0\r\n"},
    {"sale_closed", 0, "*2\r\n$11\r\nSALE_CLOSED\r\n:3\r\n"},
    {"sale_not_open", 0, "*3\r\n$13\r\nSALE_NOT_OPEN\r\n:10\r\n:2500\r\n"},
    {"no_sale", 0, "*1\r\n$7\r\nNO_SALE\r\n"},
    {"data_loss", 0, "*2\r\n$9\r\nDATA_LOSS\r\n$34\r\nstock key exists without its sale\r\n"},
    {"get_sale_found", 1, "*6\r\n$5\r\nFOUND\r\n$3\r\n100\r\n:9\r\n$1\r\n0\r\n$1\r\n0\r\n:1700000000000\r\n"},
    {"get_order_found", 2, "*5\r\n$5\r\nFOUND\r\n$3\r\no-1\r\n$3\r\nr-1\r\n$2\r\n17\r\n$3\r\n1-0\r\n"},
    {"get_order_none", 2, "*1\r\n$8\r\nNO_ORDER\r\n"},
    {"created", 3, "*6\r\n$7\r\nCREATED\r\n:100\r\n:100\r\n:0\r\n:0\r\n:1700000000000\r\n"},
    {"already_exists", 3, "*1\r\n$14\r\nALREADY_EXISTS\r\n"},
    {"buyers_page", 5,
     "*10\r\n$5\r\nFOUND\r\n:0\r\n:0\r\n$13\r\n1699999940000\r\n:1700000000000\r\n$1\r\n0\r\n$5\r\nalice\r\n$3\r\no-"
     "1\r\n$3\r\nr-1\r\n$2\r\n17\r\n"},
    {"error_transient", 0, "-BUSY Redis is busy running a script\r\n"},
    {"error_other", 1, "-ERR wrong number of arguments\r\n"},
    {"function_missing", 0, "-ERR Function not found\r\n"},
    {"unexpected_type", 2, ":5\r\n"},
    {"protocol_error", 3, "?\r\n"},
};

static void
s_job_msg(in_t *in, unsigned op, size_t call, uint32_t budget_ms, const char *resp)
{
    uint8_t body[1024];
    Tix__Worker__V1__Job job = TIX__WORKER__V1__JOB__INIT;
    job.job_id = 7, job.method = (char *) s_calls[call].method, job.budget_ms = budget_ms, job.client = "C";
    job.body.data = body, job.body.len = protobuf_c_message_pack(s_calls[call].body, body);
    s_head(in, op, resp ? 4 : 3);
    s_str(in, TIX_WORKER_SIGNATURE);
    s_str(in, "JOB");
    s_msg(in, &job.base);
    if (resp)
        s_str(in, resp);
}

static void
s_worker_corpus(void)
{
    in_t in = {{0}, 0};
    size_t n = sizeof s_answers / sizeof s_answers[0];
    for (size_t i = 0; i < n; i++) {
        s_job_msg(&in, 0, s_answers[i].call, 1000, s_answers[i].resp), s_save("worker_job", s_answers[i].name, &in);
        s_head(&in, 0, 1), s_str(&in, s_answers[i].resp), s_save("store_reply", s_answers[i].name, &in);
    }
    s_head(&in, 0, 0), s_save("store_reply", "connection_lost", &in);
    s_job_msg(&in, 0, 0, 1000, NULL), s_save("worker_job", "no_answer", &in);
    s_job_msg(&in, 0, 4, 1000, NULL), s_save("worker_job", "health_is_the_brokers", &in);
    s_job_msg(&in, 0, 0, 0, NULL), s_save("worker_job", "budget_spent", &in);
    s_job_msg(&in, 1, 0, 1000, NULL), s_save("worker_job", "stopping", &in);
    for (size_t i = 0; i < n; i++)
        s_job_msg(&in, 0, s_answers[i].call, 1000, s_answers[i].resp);
    s_save("worker_job", "all_answers", &in);
    s_wp(&in, 0, NULL, "HEARTBEAT", NULL), s_wp(&in, 0, NULL, "DISCONNECT", NULL), s_ready(&in, NULL, 2);
    s_save("worker_job", "not_jobs", &in);
}

/* ---- Order events: fuzz_order_event ---------------------------------------------- */

static void
s_event(in_t *in, unsigned op, const char *topic, const char *order_id, const char *log_id)
{
    Tix__V1__Order order = TIX__V1__ORDER__INIT;
    order.order_id = (char *) order_id, order.sale_id = "s1", order.user_id = "alice", order.request_id = "r-1";
    order.purchased_at_ms = 1700000000000;
    Tix__V1__OrderEvent e = TIX__V1__ORDER_EVENT__INIT;
    e.order = order_id ? &order : NULL, e.log_id = (char *) log_id, e.worker_id = "w1";
    s_head(in, op, 2);
    s_str(in, topic);
    s_msg(in, &e.base);
}

static void
s_events_corpus(void)
{
    in_t in = {{0}, 0};
    s_event(&in, 0, "order.s1", "o-1", "1700000000000-0"), s_save("order_event", "valid", &in);
    s_event(&in, 0, "order.s2", "o-1", "1-0"), s_save("order_event", "topic_mismatch", &in);
    s_event(&in, 0, "order.s1", "o-1", "1700000000000"), s_save("order_event", "bad_log_id", &in);
    s_event(&in, 0, "order.s1", NULL, "1-0"), s_save("order_event", "no_order", &in);
    s_head(&in, 0, 3), s_str(&in, "order.s1"), s_msg(&in, NULL), s_msg(&in, NULL),
        s_save("order_event", "3_frames", &in);
    s_head(&in, 0, 2), s_str(&in, "order.s1"), s_str(&in, "\xff"), s_save("order_event", "undecodable", &in);
    s_event(&in, 0, "order.s1", "o-1", "1-0"), s_event(&in, 0, "order.s1", "o-1", "1-0");
    s_event(&in, 1, "order.s1", "o-2", "1-1"), s_event(&in, 0, "order.s1", "o-2", "1-1");
    s_event(&in, 2, "order.s1", "o-3", "5-0"), s_event(&in, 0, "order.s1", "o-4", "4-0");
    s_save("order_event", "duplicates_flush_advance", &in);
    for (int i = 0; i < 6; i++) /* more than the buffer holds */
        s_event(&in, 0, "order.s1", (const char *[]){"a", "b", "c", "d", "e", "f"}[i], "9-9");
    s_save("order_event", "buffer_full", &in);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR  (writes DIR/<target>/<seed>)\n", argv[0]);
        return 2;
    }
    s_root = argv[1];
    if (mkdir(s_root, 0755) != 0 && errno != EEXIST) {
        perror(s_root);
        return 1;
    }
    s_init_messages();
    s_calls_corpus(false, "call_decode");
    s_calls_corpus(true, "broker_frontend");
    s_replies_corpus();
    s_wp_corpus();
    s_backend_corpus();
    s_worker_corpus();
    s_events_corpus();
    return 0;
}
