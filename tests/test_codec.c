/*
 * test_codec.c - the TIX1 codec, field validation and the method table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tix_codec.h"

/* Packs m into a static buffer and returns a view of it. */
static tix_frame_t
s_pack(const ProtobufCMessage *m, uint8_t *buf)
{
    size_t n = protobuf_c_message_pack(m, buf);
    return (tix_frame_t){buf, n};
}

static uint8_t s_hdr_buf[8192], s_body_buf[8192];

/* Frames of a well-formed Purchase call with the given ids. */
static size_t
s_purchase_frames(tix_frame_t *f, const char *sale, const char *user, const char *req)
{
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = "tix.v1.TicketService/Purchase";
    h.call_id = 42;
    h.timeout_ms = 250;
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = (char *) sale;
    r.user_id = (char *) user;
    r.request_id = (char *) req;
    f[0] = (tix_frame_t){(const uint8_t *) "TIX1", 4};
    f[1] = s_pack(&h.base, s_hdr_buf);
    f[2] = s_pack(&r.base, s_body_buf);
    return 3;
}

static void
test_decode_valid_purchase_call(void **state)
{
    (void) state;
    tix_frame_t f[3];
    tix_call_t call;
    tix_call_decode(f, s_purchase_frames(f, "s1", "alice", "r-1"), &call);
    assert_int_equal(call.code, TIX__V1__CODE__OK);
    assert_int_equal(call.call_id, 42);
    assert_int_equal(call.timeout_ms, 250);
    assert_int_equal(call.method->id, TIX_METHOD_PURCHASE);
    const Tix__V1__PurchaseRequest *r = (const Tix__V1__PurchaseRequest *) call.request;
    assert_string_equal(r->sale_id, "s1");
    assert_string_equal(r->user_id, "alice");
    assert_string_equal(r->request_id, "r-1");
    tix_call_clear(&call);
}

static void
test_wrong_signature_is_invalid_argument_with_call_id_zero(void **state)
{
    (void) state;
    tix_frame_t f[3];
    s_purchase_frames(f, "s1", "alice", "");
    f[0] = (tix_frame_t){(const uint8_t *) "TIX2", 4};
    tix_call_t call;
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_int_equal(call.call_id, 0);
    assert_non_null(strstr(call.message, "signature"));
    assert_null(call.request);
}

static void
test_missing_and_extra_frames_are_invalid_argument_keeping_call_id(void **state)
{
    (void) state;
    tix_frame_t f[4];
    s_purchase_frames(f, "s1", "alice", "");
    tix_call_t call;
    tix_call_decode(f, 2, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_int_equal(call.call_id, 42);
    assert_non_null(strstr(call.message, "frames"));
    f[3] = f[2];
    tix_call_decode(f, 4, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_non_null(strstr(call.message, "got 4"));
    tix_call_decode(f, 0, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    tix_call_decode(f, 1, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_int_equal(call.call_id, 0);
}

static void
test_garbage_header_is_invalid_argument_with_call_id_zero(void **state)
{
    (void) state;
    tix_frame_t f[3];
    s_purchase_frames(f, "s1", "alice", "");
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    f[1] = (tix_frame_t){garbage, sizeof garbage};
    tix_call_t call;
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_int_equal(call.call_id, 0);
    assert_non_null(strstr(call.message, "header"));
}

static void
test_garbage_body_is_invalid_argument_naming_the_body(void **state)
{
    (void) state;
    tix_frame_t f[3];
    s_purchase_frames(f, "s1", "alice", "");
    static const uint8_t garbage[] = {0x0a, 0x7f, 0x01};
    f[2] = (tix_frame_t){garbage, sizeof garbage};
    tix_call_t call;
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_int_equal(call.call_id, 42);
    assert_non_null(strstr(call.message, "body"));
}

static void
test_unknown_method_is_unimplemented(void **state)
{
    (void) state;
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = "tix.v1.TicketService/Refund";
    h.call_id = 7;
    tix_frame_t f[3] = {{(const uint8_t *) "TIX1", 4}, s_pack(&h.base, s_hdr_buf), {NULL, 0}};
    tix_call_t call;
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__UNIMPLEMENTED);
    assert_int_equal(call.call_id, 7);
}

static void
test_empty_body_is_a_valid_empty_message(void **state)
{
    (void) state;
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = "tix.v1.Health/Check";
    tix_frame_t f[3] = {{(const uint8_t *) "TIX1", 4}, s_pack(&h.base, s_hdr_buf), {NULL, 0}};
    tix_call_t call;
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__OK);
    assert_int_equal(call.method->id, TIX_METHOD_HEALTH_CHECK);
    tix_call_clear(&call);
}

static void
s_expect_invalid_field(const char *sale, const char *user, const char *req, const char *field)
{
    tix_frame_t f[3];
    tix_call_t call;
    tix_call_decode(f, s_purchase_frames(f, sale, user, req), &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_true(strncmp(call.message, field, strlen(field)) == 0);
    assert_null(call.request);
}

static void
test_bad_ids_are_invalid_argument_naming_the_field(void **state)
{
    (void) state;
    char long_sale[66], long_user[130], long_req[66];
    memset(long_sale, 'a', 65), long_sale[65] = '\0';
    memset(long_user, 'u', 129), long_user[129] = '\0';
    memset(long_req, 'r', 65), long_req[65] = '\0';
    s_expect_invalid_field("", "alice", "", "sale_id");
    s_expect_invalid_field(long_sale, "alice", "", "sale_id");
    s_expect_invalid_field("sale/1", "alice", "", "sale_id");
    s_expect_invalid_field("s1", "", "", "user_id");
    s_expect_invalid_field("s1", long_user, "", "user_id");
    s_expect_invalid_field("s1", "al\x01ice", "", "user_id");
    s_expect_invalid_field("s1", "al\x7fice", "", "user_id");
    s_expect_invalid_field("s1", "al\xc2\x85ice", "", "user_id"); /* C1 control, NEL */
    s_expect_invalid_field("s1", "\xff\xfe", "", "user_id");      /* not UTF-8 */
    s_expect_invalid_field("s1", "alice", long_req, "request_id");
}

static void
test_limits_are_inclusive(void **state)
{
    (void) state;
    char sale[65], user[129], req[65];
    memset(sale, 'a', 64), sale[64] = '\0';
    memset(user, 'u', 128), user[128] = '\0';
    memset(req, 'r', 64), req[64] = '\0';
    tix_frame_t f[3];
    tix_call_t call;
    tix_call_decode(f, s_purchase_frames(f, sale, user, req), &call);
    assert_int_equal(call.code, TIX__V1__CODE__OK);
    tix_call_clear(&call);
    tix_call_decode(f, s_purchase_frames(f, "A-z.0_9", "Zoë 🎟", ""), &call);
    assert_int_equal(call.code, TIX__V1__CODE__OK);
    tix_call_clear(&call);
}

static void
test_metadata_over_limits_is_invalid_argument(void **state)
{
    (void) state;
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = "tix.v1.Health/Check";
    Tix__V1__CallHeader__MetadataEntry entries[17], *ptrs[17];
    char keys[17][8];
    for (int i = 0; i < 17; i++) {
        tix__v1__call_header__metadata_entry__init(&entries[i]);
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        entries[i].key = keys[i];
        entries[i].value = "v";
        ptrs[i] = &entries[i];
    }
    h.metadata = ptrs;
    h.n_metadata = 17;
    tix_frame_t f[3] = {{(const uint8_t *) "TIX1", 4}, s_pack(&h.base, s_hdr_buf), {NULL, 0}};
    tix_call_t call;
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_non_null(strstr(call.message, "metadata"));

    static char big[4100];
    memset(big, 'x', sizeof big - 1);
    entries[0].value = big;
    h.n_metadata = 1;
    f[1] = s_pack(&h.base, s_hdr_buf);
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_non_null(strstr(call.message, "metadata"));

    h.n_metadata = 16;
    entries[0].value = "v";
    f[1] = s_pack(&h.base, s_hdr_buf);
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__OK);
    tix_call_clear(&call);
}

static void
test_create_sale_limits(void **state)
{
    (void) state;
    const tix_method_t *m = tix_method_get(TIX_METHOD_CREATE_SALE);
    Tix__V1__CreateSaleRequest r = TIX__V1__CREATE_SALE_REQUEST__INIT;
    char why[200];
    r.sale_id = "s1";
    r.total = 0;
    assert_false(m->validate(&r.base, why, sizeof why));
    assert_non_null(strstr(why, "total"));
    r.total = 10000001;
    assert_false(m->validate(&r.base, why, sizeof why));
    r.total = 10000000;
    assert_true(m->validate(&r.base, why, sizeof why));
    r.opens_at_ms = 2000;
    r.closes_at_ms = 1000;
    assert_false(m->validate(&r.base, why, sizeof why));
    assert_non_null(strstr(why, "closes_at_ms"));
    r.opens_at_ms = -1;
    r.closes_at_ms = 0;
    assert_false(m->validate(&r.base, why, sizeof why));
}

/* The table and protobuf-c's generated service descriptors must agree:
 * every rpc is dispatchable, with the same input and output types; the
 * Internal service is reachable by workers only. */
static void
test_method_table_matches_service_descriptors(void **state)
{
    (void) state;
    const ProtobufCServiceDescriptor *services[] = {&tix__v1__ticket_service__descriptor,
                                                    &tix__v1__admin_service__descriptor, &tix__v1__health__descriptor,
                                                    &tix__worker__v1__internal__descriptor};
    size_t seen = 0;
    for (size_t s = 0; s < 4; s++) {
        bool internal = services[s] == &tix__worker__v1__internal__descriptor;
        for (unsigned i = 0; i < services[s]->n_methods; i++) {
            const ProtobufCMethodDescriptor *md = &services[s]->methods[i];
            char name[128];
            snprintf(name, sizeof name, "%s/%s", services[s]->name, md->name);
            const tix_method_t *m = tix_method_find_internal(name, strlen(name));
            assert_non_null(m);
            assert_int_equal(m->internal, internal);
            if (internal)
                assert_null(tix_method_find(name, strlen(name)));
            else
                assert_ptr_equal(tix_method_find(name, strlen(name)), m);
            assert_ptr_equal(m->input, md->input);
            assert_ptr_equal(m->output, md->output);
            assert_ptr_equal(tix_method_get(m->id), m);
            seen++;
        }
    }
    assert_int_equal(seen, TIX_METHOD_COUNT);
}

static void
test_clients_cannot_call_internal_methods(void **state)
{
    (void) state;
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = "tix.worker.v1.Internal/SaleBuyers";
    h.call_id = 8;
    tix_frame_t f[3] = {{(const uint8_t *) "TIX1", 4}, s_pack(&h.base, s_hdr_buf), {NULL, 0}};
    tix_call_t call;
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__UNIMPLEMENTED);
}

static void
test_reply_round_trip(void **state)
{
    (void) state;
    zmsg_t *msg = zmsg_new();
    tix_status_t st = {99, TIX__V1__CODE__RESOURCE_EXHAUSTED, "queue full", 120};
    tix_reply_append(msg, &st, "xyz", 3);
    tix_frame_t v[4];
    size_t n = tix_frames_view(msg, 0, v, 4);
    Tix__V1__ReplyHeader *h;
    tix_frame_t body;
    assert_int_equal(tix_reply_decode(v, n, &h, &body), TIX_OK);
    assert_int_equal(h->call_id, 99);
    assert_int_equal(h->code, TIX__V1__CODE__RESOURCE_EXHAUSTED);
    assert_string_equal(h->message, "queue full");
    assert_int_equal(h->retry_after_ms, 120);
    assert_int_equal(body.size, 3);
    tix__v1__reply_header__free_unpacked(h, NULL);
    assert_int_equal(tix_reply_decode(v, 2, &h, &body), TIX_ERR_PROTOCOL);
    zmsg_destroy(&msg);
}

static void
test_worker_protocol_round_trip_and_garbage(void **state)
{
    (void) state;
    Tix__Worker__V1__Ready ready = TIX__WORKER__V1__READY__INIT;
    ready.worker_id = "w1";
    ready.capacity = 64;
    zmsg_t *msg = zmsg_new();
    tix_wp_append(msg, TIX_WP_READY, &ready.base);
    tix_frame_t v[3];
    size_t n = tix_frames_view(msg, 0, v, 3);
    tix_wp_command cmd;
    ProtobufCMessage *body;
    assert_int_equal(tix_wp_decode(v, n, &cmd, &body), TIX_OK);
    assert_int_equal(cmd, TIX_WP_READY);
    assert_int_equal(((Tix__Worker__V1__Ready *) body)->capacity, 64);
    protobuf_c_message_free_unpacked(body, NULL);
    v[1] = (tix_frame_t){(const uint8_t *) "BOGUS", 5};
    assert_int_equal(tix_wp_decode(v, n, &cmd, &body), TIX_ERR_PROTOCOL);
    assert_null(body);
    v[1] = (tix_frame_t){(const uint8_t *) "DISCONNECT", 10}; /* must have an empty body */
    assert_int_equal(tix_wp_decode(v, n, &cmd, &body), TIX_ERR_PROTOCOL);
    zmsg_destroy(&msg);
}

/* ---- NUL bytes inside strings (protobuf-c would cut them off) ------------- */

/* Appends a varint to buf at *pos. */
static void
s_put_varint(uint8_t *buf, size_t *pos, uint64_t v)
{
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        buf[(*pos)++] = (uint8_t) (b | (v ? 0x80 : 0));
    } while (v);
}

/* Appends a length-delimited field (a string, bytes or a message). */
static void
s_put_bytes(uint8_t *buf, size_t *pos, unsigned field, const void *data, size_t len)
{
    s_put_varint(buf, pos, (uint64_t) field << 3 | 2);
    s_put_varint(buf, pos, len);
    memcpy(buf + *pos, data, len);
    *pos += len;
}

/* A value each string field of the requests accepts. */
static const char *
s_valid_value(const char *field)
{
    if (strcmp(field, "user_id") == 0)
        return "alice";
    if (strcmp(field, "cursor") == 0)
        return "0";
    if (strcmp(field, "request_id") == 0)
        return "r-1";
    if (strcmp(field, "service") == 0)
        return "tix";
    return "s1"; /* sale_id */
}

/* A valid body of d with, when poison names a string field, that field's
 * valid value followed by "\0mallory". Returns its size. */
static size_t
s_body_with_nul(const ProtobufCMessageDescriptor *d, const char *poison, uint8_t *buf)
{
    size_t pos = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            char value[64];
            const char *v = s_valid_value(f->name);
            size_t len = strlen(v);
            memcpy(value, v, len);
            if (poison && strcmp(poison, f->name) == 0) {
                memcpy(value + len, "\0mallory", 8);
                len += 8;
            }
            s_put_bytes(buf, &pos, f->id, value, len);
        } else if (strcmp(f->name, "total") == 0) {
            s_put_varint(buf, &pos, (uint64_t) f->id << 3);
            s_put_varint(buf, &pos, 5);
        }
    }
    return pos;
}

static void
test_nul_in_any_request_string_is_invalid_argument_naming_it(void **state)
{
    (void) state;
    int checked = 0;
    for (int id = 0; id < TIX_METHOD_COUNT; id++) {
        const tix_method_t *m = tix_method_get((tix_method_id) id);
        uint8_t body[256];
        char why[TIX_MESSAGE_MAX_BYTES];
        ProtobufCMessage *req;
        size_t n = s_body_with_nul(m->input, NULL, body);
        assert_int_equal(tix_request_decode(m, body, n, &req, why, sizeof why), TIX__V1__CODE__OK);
        protobuf_c_message_free_unpacked(req, NULL);
        for (unsigned i = 0; i < m->input->n_fields; i++) {
            const ProtobufCFieldDescriptor *f = &m->input->fields[i];
            if (f->type != PROTOBUF_C_TYPE_STRING)
                continue;
            n = s_body_with_nul(m->input, f->name, body);
            char expect[128];
            snprintf(expect, sizeof expect, "%s: must not contain NUL bytes", f->name);
            assert_int_equal(tix_request_decode(m, body, n, &req, why, sizeof why), TIX__V1__CODE__INVALID_ARGUMENT);
            assert_null(req);
            assert_string_equal(why, expect);
            if (!m->internal) { /* the same through the broker's decoder */
                Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
                h.method = (char *) m->name;
                h.call_id = 7;
                tix_frame_t fr[3] = {{(const uint8_t *) "TIX1", 4}, s_pack(&h.base, s_hdr_buf), {body, n}};
                tix_call_t call;
                tix_call_decode(fr, 3, &call);
                assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
                assert_int_equal(call.call_id, 7);
                assert_string_equal(call.message, expect);
                assert_null(call.request);
            }
            checked++;
        }
    }
    /* Purchase 3, GetSale 1, GetOrder 2, CreateSale 1, Health 1, CloseSale 1,
     * ListSales 1, CancelOrder 3, ListOrders 2, SaleBuyers 2 */
    assert_int_equal(checked, 17);
}

/* A CallHeader: method (with a tail when given), one metadata pair. */
static tix_frame_t
s_header_with_nul(const char *method, size_t method_len, const char *key, size_t key_len, const char *value,
                  size_t value_len)
{
    uint8_t entry[64];
    size_t pos = 0, epos = 0;
    s_put_bytes(s_hdr_buf, &pos, 1, method, method_len);
    s_put_varint(s_hdr_buf, &pos, 2 << 3);
    s_put_varint(s_hdr_buf, &pos, 99);
    s_put_bytes(entry, &epos, 1, key, key_len);
    s_put_bytes(entry, &epos, 2, value, value_len);
    s_put_bytes(s_hdr_buf, &pos, 4, entry, epos);
    return (tix_frame_t){s_hdr_buf, pos};
}

static void
s_expect_header_refused(tix_frame_t header, const char *expect)
{
    tix_frame_t f[3] = {{(const uint8_t *) "TIX1", 4}, header, {NULL, 0}};
    tix_call_t call;
    tix_call_decode(f, 3, &call);
    assert_int_equal(call.code, TIX__V1__CODE__INVALID_ARGUMENT);
    assert_int_equal(call.call_id, 99);
    assert_string_equal(call.message, expect);
    assert_null(call.request);
}

static void
test_nul_in_method_or_metadata_is_invalid_argument_naming_it(void **state)
{
    (void) state;
    static const char method[] = "tix.v1.Health/Check\0junk";
    size_t mlen = sizeof method - 1, good = strlen(method);
    tix_frame_t f[3] = {{(const uint8_t *) "TIX1", 4}, s_header_with_nul(method, good, "k", 1, "v", 1), {NULL, 0}};
    tix_call_t call;
    tix_call_decode(f, 3, &call); /* sanity: without the tails it is a valid call */
    assert_int_equal(call.code, TIX__V1__CODE__OK);
    tix_call_clear(&call);
    s_expect_header_refused(s_header_with_nul(method, mlen, "k", 1, "v", 1), "method: must not contain NUL bytes");
    s_expect_header_refused(s_header_with_nul(method, good, "k\0x", 3, "v", 1),
                            "metadata.key: must not contain NUL bytes");
    s_expect_header_refused(s_header_with_nul(method, good, "k", 1, "v\0x", 3),
                            "metadata.value: must not contain NUL bytes");
}

static void
test_nul_in_a_worker_protocol_string_is_a_protocol_error(void **state)
{
    (void) state;
    static const char method[] = "tix.v1.TicketService/GetSale\0junk";
    uint8_t job[2][128];
    size_t len[2] = {0, 0};
    for (int tail = 0; tail < 2; tail++) {
        s_put_varint(job[tail], &len[tail], 1 << 3); /* job_id 5 */
        s_put_varint(job[tail], &len[tail], 5);
        s_put_bytes(job[tail], &len[tail], 2, method, tail ? sizeof method - 1 : strlen(method));
    }
    tix_frame_t v[3] = {{(const uint8_t *) "TXW1", 4}, {(const uint8_t *) "JOB", 3}, {job[1], len[1]}};
    tix_wp_command cmd;
    ProtobufCMessage *body;
    assert_int_equal(tix_wp_decode(v, 3, &cmd, &body), TIX_ERR_PROTOCOL);
    assert_null(body);
    v[2] = (tix_frame_t){job[0], len[0]};
    assert_int_equal(tix_wp_decode(v, 3, &cmd, &body), TIX_OK);
    assert_string_equal(((Tix__Worker__V1__Job *) body)->method, "tix.v1.TicketService/GetSale");
    protobuf_c_message_free_unpacked(body, NULL);
}

static void
test_wire_scan_ignores_bytes_and_unknown_fields_and_survives_garbage(void **state)
{
    (void) state;
    uint8_t buf[64];
    size_t pos = 0;
    s_put_bytes(buf, &pos, 4, "a\0b", 3);  /* Job.body: bytes, may hold NUL */
    s_put_bytes(buf, &pos, 99, "a\0b", 3); /* unknown field */
    char field[32] = "x";
    assert_false(tix_wire_has_nul(&tix__worker__v1__job__descriptor, buf, pos, field, sizeof field));
    assert_string_equal(field, "");
    for (size_t cut = 0; cut < pos; cut++) /* truncated: no answer, no overread (ASan) */
        assert_false(tix_wire_has_nul(&tix__worker__v1__job__descriptor, buf, cut, field, sizeof field));
    static const uint8_t overlong[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_false(tix_wire_has_nul(&tix__v1__call_header__descriptor, overlong, sizeof overlong, field, sizeof field));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_valid_purchase_call),
        cmocka_unit_test(test_wrong_signature_is_invalid_argument_with_call_id_zero),
        cmocka_unit_test(test_missing_and_extra_frames_are_invalid_argument_keeping_call_id),
        cmocka_unit_test(test_garbage_header_is_invalid_argument_with_call_id_zero),
        cmocka_unit_test(test_garbage_body_is_invalid_argument_naming_the_body),
        cmocka_unit_test(test_unknown_method_is_unimplemented),
        cmocka_unit_test(test_empty_body_is_a_valid_empty_message),
        cmocka_unit_test(test_bad_ids_are_invalid_argument_naming_the_field),
        cmocka_unit_test(test_limits_are_inclusive),
        cmocka_unit_test(test_metadata_over_limits_is_invalid_argument),
        cmocka_unit_test(test_create_sale_limits),
        cmocka_unit_test(test_method_table_matches_service_descriptors),
        cmocka_unit_test(test_clients_cannot_call_internal_methods),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_worker_protocol_round_trip_and_garbage),
        cmocka_unit_test(test_nul_in_any_request_string_is_invalid_argument_naming_it),
        cmocka_unit_test(test_nul_in_method_or_metadata_is_invalid_argument_naming_it),
        cmocka_unit_test(test_nul_in_a_worker_protocol_string_is_a_protocol_error),
        cmocka_unit_test(test_wire_scan_ignores_bytes_and_unknown_fields_and_survives_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
