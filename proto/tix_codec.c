/*
 * tix_codec.c - TIX1 call/reply framing and the worker-protocol framing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tix_codec.h"
#include "tix_util.h"

/* Frame f holds exactly the signature sig (a string literal, no NUL). */
#define S_IS_SIGNATURE(f, sig) ((f).size == sizeof(sig) - 1 && memcmp((f).data, (sig), sizeof(sig) - 1) == 0)

size_t
tix_frames_view(zmsg_t *msg, size_t first, tix_frame_t *views, size_t max)
{
    size_t i = 0, n = 0;
    for (zframe_t *f = zmsg_first(msg); f; f = zmsg_next(msg), i++) {
        if (i < first)
            continue;
        if (n < max) {
            views[n].data = zframe_data(f);
            views[n].size = zframe_size(f);
        }
        n++;
    }
    return n;
}

zframe_t *
tix_frame_pack(const ProtobufCMessage *m)
{
    if (!m)
        return zframe_new_empty();
    size_t size = protobuf_c_message_get_packed_size(m);
    zframe_t *frame = zframe_new(NULL, size);
    protobuf_c_message_pack(m, zframe_data(frame));
    return frame;
}

static void
s_append_packed(zmsg_t *msg, const ProtobufCMessage *m)
{
    zframe_t *frame = tix_frame_pack(m);
    zmsg_append(msg, &frame);
}

const char *
tix_code_name(tix_code code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&tix__v1__code__descriptor, code);
    return v ? v->name : "CODE_OUT_OF_RANGE";
}

/* ---- Calls ---------------------------------------------------------------- */

static void s_call_fail(tix_call_t *call, tix_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
s_call_fail(tix_call_t *call, tix_code code, const char *fmt, ...)
{
    call->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof call->message, fmt, ap);
    va_end(ap);
    call->message[tix_utf8_prefix_len(call->message, sizeof call->message - 1)] = '\0'; /* a cut %s */
}

static bool
s_metadata_ok(const Tix__V1__CallHeader *h, tix_call_t *call)
{
    if (h->n_metadata > TIX_METADATA_MAX_PAIRS) {
        s_call_fail(call, TIX__V1__CODE__INVALID_ARGUMENT, "metadata: at most %d pairs, got %zu",
                    TIX_METADATA_MAX_PAIRS, h->n_metadata);
        return false;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < h->n_metadata; i++)
        bytes += strlen(h->metadata[i]->key) + strlen(h->metadata[i]->value);
    if (bytes > TIX_METADATA_MAX_BYTES) {
        s_call_fail(call, TIX__V1__CODE__INVALID_ARGUMENT, "metadata: at most %d bytes in all, got %zu",
                    TIX_METADATA_MAX_BYTES, bytes);
        return false;
    }
    return true;
}

/* Reads the header; returns it (owned) or NULL with call->code set. */
static Tix__V1__CallHeader *
s_header_decode(const tix_frame_t *frame, tix_call_t *call)
{
    Tix__V1__CallHeader *h = tix__v1__call_header__unpack(call->alloc, frame->size, frame->data);
    if (!h) {
        s_call_fail(call, TIX__V1__CODE__INVALID_ARGUMENT, "header: not a valid CallHeader");
        return NULL;
    }
    call->call_id = h->call_id;
    call->timeout_ms = h->timeout_ms;
    return h;
}

static tix_code s_request_decode(const tix_method_t *method, ProtobufCAllocator *alloc, const uint8_t *body,
                                 size_t size, ProtobufCMessage **request, char *why, size_t why_size);

void
tix_call_decode(const tix_frame_t *frames, size_t nframes, tix_call_t *call)
{
    tix_call_decode_with(frames, nframes, call, NULL);
}

void
tix_call_decode_with(const tix_frame_t *frames, size_t nframes, tix_call_t *call, ProtobufCAllocator *alloc)
{
    /* Only what a call's answer may read is cleared: message is written
     * whenever code is not OK. */
    call->call_id = 0;
    call->timeout_ms = 0;
    call->method = NULL;
    call->request = NULL;
    call->alloc = alloc;
    call->body.data = NULL;
    call->body.size = 0;
    call->code = TIX__V1__CODE__OK;
    call->message[0] = '\0';

    if (nframes < 1 || !S_IS_SIGNATURE(frames[0], TIX_SIGNATURE)) {
        s_call_fail(call, TIX__V1__CODE__INVALID_ARGUMENT, "signature: expected TIX1 after the empty delimiter");
        return;
    }
    /* Read the header whenever it is there, so that even a call with the
     * wrong frame count is answered under its own call_id. */
    Tix__V1__CallHeader *h = nframes >= 2 ? s_header_decode(&frames[1], call) : NULL;
    if (nframes != 3) {
        s_call_fail(call, TIX__V1__CODE__INVALID_ARGUMENT,
                    "frames: expected 3 after the delimiter (TIX1, header, body), got %zu", nframes);
        goto out_free_header;
    }
    if (!h)
        return;
    call->body = frames[2];
    char field[TIX_MESSAGE_MAX_BYTES];
    if (tix_wire_has_nul(&tix__v1__call_header__descriptor, frames[1].data, frames[1].size, field, sizeof field)) {
        /* Before the method lookup: "Purchase\0junk" must not pass as Purchase. */
        s_call_fail(call, TIX__V1__CODE__INVALID_ARGUMENT, "%s: must not contain NUL bytes", field);
        goto out_free_header;
    }
    size_t mlen = strlen(h->method);
    call->method = tix_method_find(h->method, mlen);
    if (!call->method) {
        s_call_fail(call, TIX__V1__CODE__UNIMPLEMENTED, "method: unknown method '%.100s'",
                    tix_utf8_valid((const uint8_t *) h->method, mlen, false) ? h->method : "(not printable)");
        goto out_free_header;
    }
    if (!s_metadata_ok(h, call))
        goto out_free_header;
    char why[TIX_MESSAGE_MAX_BYTES];
    tix_code code =
        s_request_decode(call->method, alloc, frames[2].data, frames[2].size, &call->request, why, sizeof why);
    if (code != TIX__V1__CODE__OK)
        s_call_fail(call, code, "%s", why);
out_free_header:
    tix__v1__call_header__free_unpacked(h, alloc);
}

tix_code
tix_request_decode(const tix_method_t *method, const uint8_t *body, size_t size, ProtobufCMessage **request, char *why,
                   size_t why_size)
{
    return s_request_decode(method, NULL, body, size, request, why, why_size);
}

tix_code
tix_request_decode_with(const tix_method_t *method, const uint8_t *body, size_t size, ProtobufCMessage **request,
                        char *why, size_t why_size, ProtobufCAllocator *alloc)
{
    return s_request_decode(method, alloc, body, size, request, why, why_size);
}

static tix_code
s_request_decode(const tix_method_t *method, ProtobufCAllocator *alloc, const uint8_t *body, size_t size,
                 ProtobufCMessage **request, char *why, size_t why_size)
{
    char field[TIX_MESSAGE_MAX_BYTES];
    *request = protobuf_c_message_unpack(method->input, alloc, size, body);
    if (!*request) {
        snprintf(why, why_size, "body: not a valid %s", method->input->name);
        return TIX__V1__CODE__INVALID_ARGUMENT;
    }
    /* First: the validators below see strings cut at their first NUL. */
    if (tix_wire_has_nul(method->input, body, size, field, sizeof field))
        snprintf(why, why_size, "%s: must not contain NUL bytes", field);
    else if (method->validate(*request, why, why_size))
        return TIX__V1__CODE__OK;
    protobuf_c_message_free_unpacked(*request, alloc);
    *request = NULL;
    return TIX__V1__CODE__INVALID_ARGUMENT;
}

void
tix_call_clear(tix_call_t *call)
{
    if (call->request)
        protobuf_c_message_free_unpacked(call->request, call->alloc);
    call->request = NULL;
}

static void
s_call_header_append(zmsg_t *msg, const char *method, uint64_t call_id, uint32_t timeout_ms)
{
    Tix__V1__CallHeader h = TIX__V1__CALL_HEADER__INIT;
    h.method = (char *) method;
    h.call_id = call_id;
    h.timeout_ms = timeout_ms;
    zmsg_addstr(msg, TIX_SIGNATURE);
    s_append_packed(msg, &h.base);
}

void
tix_call_append(zmsg_t *msg, const char *method, uint64_t call_id, uint32_t timeout_ms, const ProtobufCMessage *body)
{
    s_call_header_append(msg, method, call_id, timeout_ms);
    s_append_packed(msg, body);
}

void
tix_call_append_packed(zmsg_t *msg, const char *method, uint64_t call_id, uint32_t timeout_ms, const void *body,
                       size_t body_size)
{
    s_call_header_append(msg, method, call_id, timeout_ms);
    zmsg_addmem(msg, body, body ? body_size : 0);
}

/* ---- Replies -------------------------------------------------------------- */

/* Appends [TIX1][ReplyHeader]: the message cut to a valid UTF-8 prefix
 * within TIX_MESSAGE_MAX_BYTES (proto3 strings must be UTF-8; a strict
 * client would refuse the whole reply otherwise). */
size_t
tix_reply_header_pack(const tix_status_t *status, uint8_t buf[TIX_REPLY_HEADER_MAX_BYTES])
{
    char text[TIX_MESSAGE_MAX_BYTES];
    const char *m = status->message ? status->message : "";
    size_t len = tix_utf8_prefix_len(m, sizeof text - 1);
    memcpy(text, m, len);
    text[len] = '\0';
    Tix__V1__ReplyHeader h = TIX__V1__REPLY_HEADER__INIT;
    h.call_id = status->call_id;
    h.code = status->code;
    h.message = text;
    h.retry_after_ms = status->retry_after_ms;
    /* message < 200 bytes, three varints of at most 10: the bound holds. */
    return tix__v1__reply_header__pack(&h, buf);
}

static void
s_reply_header_append(zmsg_t *msg, const tix_status_t *status)
{
    uint8_t buf[TIX_REPLY_HEADER_MAX_BYTES];
    size_t size = tix_reply_header_pack(status, buf);
    zmsg_addstr(msg, TIX_SIGNATURE);
    zmsg_addmem(msg, buf, size);
}

void
tix_reply_append(zmsg_t *msg, const tix_status_t *status, const void *body, size_t body_size)
{
    s_reply_header_append(msg, status);
    zmsg_addmem(msg, body, body ? body_size : 0);
}

void
tix_reply_append_msg(zmsg_t *msg, const tix_status_t *status, const ProtobufCMessage *body)
{
    s_reply_header_append(msg, status);
    s_append_packed(msg, body);
}

tix_err
tix_reply_decode(const tix_frame_t *frames, size_t nframes, Tix__V1__ReplyHeader **header, tix_frame_t *body)
{
    return tix_reply_decode_with(frames, nframes, header, body, NULL);
}

tix_err
tix_reply_decode_with(const tix_frame_t *frames, size_t nframes, Tix__V1__ReplyHeader **header, tix_frame_t *body,
                      ProtobufCAllocator *alloc)
{
    *header = NULL;
    if (nframes != 3 || !S_IS_SIGNATURE(frames[0], TIX_SIGNATURE))
        return TIX_ERR_PROTOCOL;
    *header = tix__v1__reply_header__unpack(alloc, frames[1].size, frames[1].data);
    if (!*header)
        return TIX_ERR_PROTOCOL;
    *body = frames[2];
    return TIX_OK;
}

/* ---- Worker protocol ------------------------------------------------------ */

static const struct {
    const char *name;
    const ProtobufCMessageDescriptor *body; /* NULL: no body */
} s_wp[TIX_WP_COUNT] = {
    [TIX_WP_READY] = {"READY", &tix__worker__v1__ready__descriptor},
    [TIX_WP_HEARTBEAT] = {"HEARTBEAT", &tix__worker__v1__heartbeat__descriptor},
    [TIX_WP_JOB] = {"JOB", &tix__worker__v1__job__descriptor},
    [TIX_WP_REPLY] = {"REPLY", &tix__worker__v1__job_reply__descriptor},
    [TIX_WP_DISCONNECT] = {"DISCONNECT", NULL},
    [TIX_WP_SALE_CHANGED] = {"SALE_CHANGED", &tix__worker__v1__sale_changed__descriptor},
};

const char *
tix_wp_command_name(tix_wp_command command)
{
    return command < TIX_WP_COUNT ? s_wp[command].name : "?";
}

tix_err
tix_wp_decode(const tix_frame_t *frames, size_t nframes, tix_wp_command *command, ProtobufCMessage **body)
{
    return tix_wp_decode_in(frames, nframes, command, body, NULL);
}

tix_err
tix_wp_decode_in(const tix_frame_t *frames, size_t nframes, tix_wp_command *command, ProtobufCMessage **body,
                 ProtobufCAllocator *alloc)
{
    *body = NULL;
    if (nframes != 3 || !S_IS_SIGNATURE(frames[0], TIX_WORKER_SIGNATURE))
        return TIX_ERR_PROTOCOL;
    for (int c = 0; c < TIX_WP_COUNT; c++) {
        if (strlen(s_wp[c].name) != frames[1].size || memcmp(s_wp[c].name, frames[1].data, frames[1].size) != 0)
            continue;
        *command = (tix_wp_command) c;
        if (!s_wp[c].body)
            return frames[2].size == 0 ? TIX_OK : TIX_ERR_PROTOCOL;
        *body = protobuf_c_message_unpack(s_wp[c].body, alloc, frames[2].size, frames[2].data);
        /* No tix string holds a NUL: one here would be cut (a method name
         * with a tail would pass as the method). */
        if (*body && tix_wire_has_nul(s_wp[c].body, frames[2].data, frames[2].size, NULL, 0)) {
            protobuf_c_message_free_unpacked(*body, alloc);
            *body = NULL;
        }
        return *body ? TIX_OK : TIX_ERR_PROTOCOL;
    }
    return TIX_ERR_PROTOCOL;
}

void
tix_wp_append(zmsg_t *msg, tix_wp_command command, const ProtobufCMessage *body)
{
    assert(command < TIX_WP_COUNT);
    assert((body == NULL) == (s_wp[command].body == NULL));
    zmsg_addstr(msg, TIX_WORKER_SIGNATURE);
    zmsg_addstr(msg, s_wp[command].name);
    s_append_packed(msg, body);
}
