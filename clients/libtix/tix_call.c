/*
 * tix_call.c - the blocking call, its retries, and the typed conveniences.
 *
 * One call is a series of attempts under one deadline. The request is
 * packed once and every attempt sends the same bytes (so a Purchase keeps
 * its request_id and a retry is exact, PROTOCOL.md "Purchase"), each under a
 * fresh call_id and with timeout_ms = the time left.
 *
 * An attempt ends in one of three ways:
 *  - a final answer (any code but UNAVAILABLE and RESOURCE_EXHAUSTED):
 *    returned as is;
 *  - UNAVAILABLE or RESOURCE_EXHAUSTED: wait retry_after_ms (or a capped
 *    exponential backoff when the broker gave none) plus 0-50% jitter, so
 *    that a crowd told "come back in 100 ms" does not come back in step,
 *    then resend; when the wait cannot end before the deadline the answer is
 *    returned as it is, at once;
 *  - silence: a retry-safe call is resent after TIX_RETRY_SILENCE_MS,
 *    doubling each time (a broker that restarted has forgotten the call);
 *    any other call just waits for its deadline.
 *
 * Replies are matched by call_id. One to a call_id outside this call (an
 * earlier call that timed out, say) is dropped. One to an earlier attempt of
 * this call is an answer to the very same request, so a final one is taken
 * (it can only come for a retry-safe method, resent on silence); a retryable
 * one is dropped, since a later attempt is already under way.
 */
#include <stdio.h>
#include <string.h>

#include "tix_client_int.h"
#include "tix_log.h"
#include "tix_util.h"

typedef enum {
    S_FINAL,  /* the call's answer is in the result */
    S_RETRY,  /* the latest attempt was answered UNAVAILABLE/RESOURCE_EXHAUSTED */
    S_SILENT, /* nothing of ours came before the wait ended */
} s_event;

typedef struct {
    const tix_method_t *method;
    zframe_t *body;      /* the request, packed once, resent as is */
    int64_t deadline_ms; /* monotonic */
    uint64_t first_id;   /* this call's attempts have ids first_id..last_id */
    uint64_t last_id;    /* the latest attempt */
    unsigned backoffs;   /* retries made without a retry_after_ms */
    int64_t silence_ms;  /* resend a retry-safe call after this much silence */
} s_call_t;

static bool
s_retryable(tix_code code)
{
    return code == TIX__V1__CODE__UNAVAILABLE || code == TIX__V1__CODE__RESOURCE_EXHAUSTED;
}

/* Sends one attempt, waiting for room on the socket until the deadline. */
static tix_err
s_attempt(tix_client_t *self, s_call_t *c, tix_result_t *result)
{
    int64_t left = c->deadline_ms - tix_now_ms();
    if (left <= 0)
        return TIX_ERR_TIMEOUT;
    uint64_t id = tix_client_next_id(self);
    if (c->first_id == 0)
        c->first_id = id;
    c->last_id = id;
    tix_err err = tix_client_wire_send(self, c->method, id, (uint32_t) left, zframe_data(c->body), zframe_size(c->body),
                                       c->deadline_ms);
    if (err == TIX_OK)
        result->attempts++;
    return err;
}

/* Moves a reply's answer into result, keeping result->attempts. */
static void
s_result_take(tix_result_t *result, tix_result_t *got)
{
    unsigned attempts = result->attempts;
    tix_result_clear(result);
    *result = *got;
    result->attempts = attempts;
    memset(got, 0, sizeof *got);
}

/* Waits until until_ms for a reply that belongs to this call, dropping the
 * rest (see the top of this file), and says what came in *event. */
static tix_err
s_await(tix_client_t *self, s_call_t *c, int64_t until_ms, tix_result_t *result, s_event *event)
{
    for (;;) {
        tix_client_reply_t reply;
        tix_err err = tix_client_wire_read(self, until_ms, &reply);
        if (err == TIX_ERR_TIMEOUT) {
            *event = S_SILENT;
            return TIX_OK;
        }
        if (err == TIX_OK) {
            uint64_t id = reply.header->call_id;
            bool retry = s_retryable(reply.header->code);
            bool ours = id >= c->first_id && id <= c->last_id && (!retry || id == c->last_id);
            tix_result_t got = {0};
            if (ours)
                err = tix_client_result_fill(&got, c->method, &reply);
            else
                tix_debug("libtix: stale or superseded reply dropped\tcall_id=%llu", (unsigned long long) id);
            tix_client_wire_reply_release(&reply);
            if (ours && err == TIX_OK) {
                s_result_take(result, &got);
                *event = retry ? S_RETRY : S_FINAL;
                return TIX_OK;
            }
            tix_result_clear(&got);
        } else if (err != TIX_ERR_PROTOCOL) {
            return err; /* interrupted or a socket error */
        }
        /* Dropped; a stream of junk must not hold us past until_ms. */
        if (tix_now_ms() >= until_ms) {
            *event = S_SILENT;
            return TIX_OK;
        }
    }
}

static int64_t
s_backoff_ms(unsigned n)
{
    int64_t ms = (int64_t) TIX_RETRY_BACKOFF_MIN_MS << (n < 16 ? n : 16);
    return ms < TIX_RETRY_BACKOFF_MAX_MS ? ms : TIX_RETRY_BACKOFF_MAX_MS;
}

/* After UNAVAILABLE/RESOURCE_EXHAUSTED: waits before the next attempt, still
 * taking a final answer to an earlier attempt. *event is S_FINAL when the
 * call is over (such an answer came, or no retry fits before the deadline:
 * the retryable answer in result stands); S_RETRY to resend. */
static tix_err
s_backoff(tix_client_t *self, s_call_t *c, tix_result_t *result, s_event *event)
{
    int64_t now = tix_now_ms();
    int64_t after = result->retry_after_ms;
    *event = S_FINAL;
    if (now + after >= c->deadline_ms)
        return TIX_OK;
    int64_t base = after ? after : s_backoff_ms(c->backoffs++);
    int64_t until = now + base + tix_rand_below((uint32_t) (base / 2 + 1));
    if (until > c->deadline_ms)
        until = c->deadline_ms;
    tix_err err = s_await(self, c, until, result, event);
    if (err != TIX_OK || *event == S_FINAL)
        return err;
    *event = tix_now_ms() < c->deadline_ms ? S_RETRY : S_FINAL;
    return TIX_OK;
}

static tix_err
s_call_run(tix_client_t *self, s_call_t *c, tix_result_t *result)
{
    for (;;) {
        tix_err err = s_attempt(self, c, result);
        if (err != TIX_OK)
            return err;
        int64_t until = c->deadline_ms;
        if (c->method->retry_safe && tix_now_ms() + c->silence_ms < until)
            until = tix_now_ms() + c->silence_ms;
        s_event event;
        err = s_await(self, c, until, result, &event);
        if (err != TIX_OK || event == S_FINAL)
            return err;
        if (event == S_SILENT) {
            if (tix_now_ms() >= c->deadline_ms)
                return TIX_ERR_TIMEOUT;
            c->silence_ms *= 2;
            tix_debug("libtix: broker silent, resending\tmethod=%s attempts=%u", c->method->name, result->attempts);
            continue;
        }
        err = s_backoff(self, c, result, &event);
        if (err != TIX_OK || event == S_FINAL)
            return err;
    }
}

/* Leaves a result that says why no answer came. When no broker is
 * connected, the watch says why (refused, or unreachable) rather than a
 * bare timeout. */
static void
s_result_fail(tix_client_t *self, tix_result_t *result, tix_err err, uint32_t timeout_ms, uint64_t call_id)
{
    unsigned attempts = result->attempts;
    tix_result_clear(result);
    result->attempts = attempts;
    result->call_id = call_id;
    if ((err == TIX_ERR_TIMEOUT || err == TIX_ERR_UNAVAILABLE) && tix_client_watch_explain(self, result))
        return;
    if (err == TIX_ERR_TIMEOUT) {
        result->code = TIX__V1__CODE__DEADLINE_EXCEEDED;
        snprintf(result->message, sizeof result->message, "no answer within %u ms (attempts: %u)", timeout_ms,
                 attempts);
    } else if (err == TIX_ERR_INTERRUPTED) {
        result->code = TIX__V1__CODE__CANCELLED;
        snprintf(result->message, sizeof result->message, "interrupted");
    } else {
        result->code = TIX__V1__CODE__UNKNOWN;
        snprintf(result->message, sizeof result->message, "%s", tix_strerror(err));
    }
}

int
tix_client_call(tix_client_t *self, int method, const void *request, uint32_t timeout_ms, tix_result_t *result)
{
    assert(self && result);
    memset(result, 0, sizeof *result);
    const tix_method_t *m = tix_client_method(method);
    size_t size;
    tix_err err = tix_client_check_request(m, request, result, &size);
    if (err != TIX_OK)
        return err;
    if (timeout_ms == 0)
        timeout_ms = TIX_DEFAULT_TIMEOUT_MS;
    s_call_t c = {
        .method = m,
        .body = tix_frame_pack(request),
        .deadline_ms = tix_now_ms() + timeout_ms,
        .silence_ms = TIX_RETRY_SILENCE_MS,
    };
    self->in_call = true;
    err = s_call_run(self, &c, result);
    self->in_call = false;
    if (err != TIX_OK)
        s_result_fail(self, result, err, timeout_ms, c.last_id);
    zframe_destroy(&c.body);
    return err;
}

/* ---- Typed conveniences ------------------------------------------------------ */

/* tix.h lets callers pass NULL for an empty string field. */
static char *
s_str(const char *s)
{
    return (char *) (s ? s : "");
}

int
tix_purchase(tix_client_t *self, const char *sale_id, const char *user_id, const char *request_id, uint32_t timeout_ms,
             tix_result_t *result)
{
    Tix__V1__PurchaseRequest r = TIX__V1__PURCHASE_REQUEST__INIT;
    r.sale_id = s_str(sale_id);
    r.user_id = s_str(user_id);
    r.request_id = s_str(request_id);
    return tix_client_call(self, TIX_METHOD_PURCHASE, &r.base, timeout_ms, result);
}

int
tix_get_sale(tix_client_t *self, const char *sale_id, uint32_t timeout_ms, tix_result_t *result)
{
    Tix__V1__GetSaleRequest r = TIX__V1__GET_SALE_REQUEST__INIT;
    r.sale_id = s_str(sale_id);
    return tix_client_call(self, TIX_METHOD_GET_SALE, &r.base, timeout_ms, result);
}

int
tix_get_order(tix_client_t *self, const char *sale_id, const char *user_id, uint32_t timeout_ms, tix_result_t *result)
{
    Tix__V1__GetOrderRequest r = TIX__V1__GET_ORDER_REQUEST__INIT;
    r.sale_id = s_str(sale_id);
    r.user_id = s_str(user_id);
    return tix_client_call(self, TIX_METHOD_GET_ORDER, &r.base, timeout_ms, result);
}

int
tix_create_sale(tix_client_t *self, const char *sale_id, uint32_t total, int64_t opens_at_ms, int64_t closes_at_ms,
                uint32_t timeout_ms, tix_result_t *result)
{
    Tix__V1__CreateSaleRequest r = TIX__V1__CREATE_SALE_REQUEST__INIT;
    r.sale_id = s_str(sale_id);
    r.total = total;
    r.opens_at_ms = opens_at_ms;
    r.closes_at_ms = closes_at_ms;
    return tix_client_call(self, TIX_METHOD_CREATE_SALE, &r.base, timeout_ms, result);
}

int
tix_health_check(tix_client_t *self, const char *service, uint32_t timeout_ms, tix_result_t *result)
{
    Tix__V1__HealthCheckRequest r = TIX__V1__HEALTH_CHECK_REQUEST__INIT;
    r.service = s_str(service);
    return tix_client_call(self, TIX_METHOD_HEALTH_CHECK, &r.base, timeout_ms, result);
}
