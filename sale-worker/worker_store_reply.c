/*
 * worker_store_reply.c - turns the tix library's replies into
 * worker_store_result_t. The shapes are documented at the top of tix.lua;
 * anything else is TIX_ERR_REDIS, never a guess.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tix_util.h"
#include "worker_store_priv.h"

static const char *const s_op_names[WORKER_STORE_OP_COUNT] = {
    [WORKER_STORE_OP_CREATE] = "tix_create",      [WORKER_STORE_OP_BUY] = "tix_buy",
    [WORKER_STORE_OP_GET_SALE] = "tix_get_sale",  [WORKER_STORE_OP_GET_ORDER] = "tix_get_order",
    [WORKER_STORE_OP_BUYERS] = "tix_buyers",      [WORKER_STORE_OP_CLOSE] = "tix_close",
    [WORKER_STORE_OP_CANCEL] = "tix_cancel",      [WORKER_STORE_OP_SALES] = "tix_list_sales",
    [WORKER_STORE_OP_ORDERS] = "tix_list_orders", [WORKER_STORE_OP_BUY_MANY] = "tix_buy_many",
};

const char *
worker_store_reply_op_name(worker_store_op op)
{
    return op < WORKER_STORE_OP_COUNT ? s_op_names[op] : "?";
}

const char *
worker_store_function_name(size_t i)
{
    return worker_store_reply_op_name((worker_store_op) i);
}

const char *
worker_store_call_status_name(worker_store_call_status s)
{
    static const char *const names[WORKER_STORE_CALL_STATUSES] = {"ok", "unavailable", "error"};
    return (unsigned) s < WORKER_STORE_CALL_STATUSES ? names[s] : "?";
}

/* Each status the library answers, the calls that may answer it and the
 * number of elements that come with it: `head` (including the status
 * itself), plus `each` per entry for a page. */
#define BUYERS_HEAD 7
#define BUYER_FIELDS 5
#define SALES_HEAD 3
#define SALE_FIELDS 5
#define ORDERS_HEAD 2
#define ORDER_FIELDS 7
#define OP(o) (1u << WORKER_STORE_OP_##o)

static const struct {
    const char *name;
    worker_store_status status;
    unsigned ops; /* bit per worker_store_op */
    size_t head;  /* elements, including the status itself */
    size_t each;  /* 0, or the elements of each entry after head */
} s_statuses[] = {
    {"CREATED", WORKER_STORE_CREATED, OP(CREATE), 6, 0},
    {"ALREADY_EXISTS", WORKER_STORE_ALREADY_EXISTS, OP(CREATE), 1, 0},
    {"FOUND", WORKER_STORE_FOUND, OP(GET_SALE), 6, 0},
    {"FOUND", WORKER_STORE_FOUND, OP(GET_ORDER), 5, 0},
    {"FOUND", WORKER_STORE_FOUND, OP(BUYERS), BUYERS_HEAD, BUYER_FIELDS},
    {"FOUND", WORKER_STORE_FOUND, OP(SALES), SALES_HEAD, SALE_FIELDS},
    {"FOUND", WORKER_STORE_FOUND, OP(ORDERS), ORDERS_HEAD, ORDER_FIELDS},
    {"NO_ORDER", WORKER_STORE_NO_ORDER, OP(GET_ORDER) | OP(CANCEL), 1, 0},
    {"PURCHASED", WORKER_STORE_PURCHASED, OP(BUY), 6, 0},
    {"ALREADY_PURCHASED", WORKER_STORE_ALREADY_PURCHASED, OP(BUY), 6, 0},
    {"ORDER_CANCELLED", WORKER_STORE_ORDER_CANCELLED, OP(BUY), 6, 0},
    {"SALE_NOT_OPEN", WORKER_STORE_SALE_NOT_OPEN, OP(BUY), 3, 0},
    {"SALE_CLOSED", WORKER_STORE_SALE_CLOSED, OP(BUY), 2, 0},
    {"SOLD_OUT", WORKER_STORE_SOLD_OUT, OP(BUY), 2, 0},
    {"CLOSED", WORKER_STORE_CLOSED, OP(CLOSE), 9, 0},
    {"CANCELLED", WORKER_STORE_CANCELLED, OP(CANCEL), 10, 0},
    {"BAD_TOKEN", WORKER_STORE_BAD_TOKEN, OP(ORDERS), 1, 0},
    {"NO_SALE", WORKER_STORE_NO_SALE, ~0u, 1, 0},
    {"DATA_LOSS", WORKER_STORE_DATA_LOSS, ~0u, 2, 0},
};

/* Error codes (the reply's first word) that mean "not now": the command did
 * not run and may be sent again later, maybe to another Redis. */
static const char *const s_transient[] = {"LOADING",    "BUSY",     "MISCONF",     "OOM",        "READONLY",
                                          "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "NOAUTH"};

bool
worker_store_reply_wrong_primary(const redisReply *reply)
{
    static const char *const words[] = {"READONLY ", "NOREPLICAS ", "MASTERDOWN "};
    if (!reply || reply->type != REDIS_REPLY_ERROR || !reply->str)
        return false;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strncmp(reply->str, words[i], strlen(words[i])) == 0)
            return true;
    }
    return false;
}

redisReply *
worker_store_reply_dup(const redisReply *r)
{
    redisReply *c = xcalloc(1, sizeof *c);
    c->type = r->type;
    c->integer = r->integer;
    if (r->type == REDIS_REPLY_ARRAY) {
        c->elements = r->elements;
        c->element = r->elements ? xcalloc(r->elements, sizeof *c->element) : NULL;
        for (size_t i = 0; i < r->elements; i++)
            c->element[i] = worker_store_reply_dup(r->element[i]);
    } else if (r->str) {
        c->len = r->len;
        c->str = xmalloc((size_t) r->len + 1);
        memcpy(c->str, r->str, (size_t) r->len);
        c->str[r->len] = '\0';
    }
    return c;
}

bool
worker_store_reply_function_missing(const redisReply *reply)
{
    static const char missing[] = "ERR Function not found";
    return reply && reply->type == REDIS_REPLY_ERROR && reply->str &&
           strncmp(reply->str, missing, sizeof missing - 1) == 0;
}

static void
s_error_reply(const redisReply *reply, worker_store_result_t *out)
{
    const char *text = reply->str ? reply->str : "";
    size_t word = strcspn(text, " ");
    out->err = TIX_ERR_REDIS;
    out->detail = text;
    for (size_t i = 0; i < sizeof s_transient / sizeof s_transient[0]; i++) {
        if (strlen(s_transient[i]) == word && strncmp(text, s_transient[i], word) == 0)
            out->err = TIX_ERR_UNAVAILABLE;
    }
}

/* Element i as text: bulk or status strings only. */
static const char *
s_str(const redisReply *r, size_t i)
{
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS)
        return NULL;
    return e->str;
}

/* Element i as an integer: a Redis integer, or a string holding one (the
 * library hands back hash values as Redis stored them). */
static bool
s_int(const redisReply *r, size_t i, int64_t *out)
{
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_INTEGER) {
        *out = e->integer;
        return true;
    }
    if (e->type != REDIS_REPLY_STRING || e->len == 0)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(e->str, &end, 10);
    if (errno || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool
s_u32(const redisReply *r, size_t i, uint32_t *out)
{
    int64_t v;
    if (!s_int(r, i, &v) || v < 0 || v > UINT32_MAX)
        return false;
    *out = (uint32_t) v;
    return true;
}

/* {status, total, remaining, opens_at_ms, closes_at_ms, now_ms} */
static bool
s_parse_sale(const redisReply *r, worker_store_result_t *out)
{
    return s_u32(r, 1, &out->total) && s_u32(r, 2, &out->remaining) && s_int(r, 3, &out->opens_at_ms) &&
           s_int(r, 4, &out->closes_at_ms) && s_int(r, 5, &out->now_ms);
}

/* {status, order_id, request_id, purchased_at_ms, log_id} */
static bool
s_parse_order(const redisReply *r, worker_store_result_t *out)
{
    out->order_id = s_str(r, 1);
    out->request_id = s_str(r, 2);
    out->log_id = s_str(r, 4);
    return out->order_id && out->request_id && out->log_id && s_int(r, 3, &out->purchased_at_ms);
}

/* {status, remaining, order_id, purchased_at_ms, log_id, is_new} */
static bool
s_parse_purchase(const redisReply *r, worker_store_result_t *out)
{
    int64_t is_new;
    out->order_id = s_str(r, 2);
    out->log_id = s_str(r, 4);
    if (!out->order_id || !out->log_id || !s_u32(r, 1, &out->remaining) || !s_int(r, 3, &out->purchased_at_ms) ||
        !s_int(r, 5, &is_new))
        return false;
    out->is_new = is_new != 0;
    return true;
}

static bool
s_u64(const redisReply *r, size_t i, uint64_t *out)
{
    int64_t v;
    if (!s_int(r, i, &v) || v < 0)
        return false;
    *out = (uint64_t) v;
    return true;
}

/* {status, total, remaining, opens_at_ms, closes_at_ms, now_ms, version,
 *  created_at_ms, changed} */
static bool
s_parse_close(const redisReply *r, worker_store_result_t *out)
{
    int64_t changed;
    if (!s_parse_sale(r, out) || !s_u64(r, 6, &out->version) || !s_int(r, 7, &out->created_at_ms) ||
        !s_int(r, 8, &changed))
        return false;
    out->is_new = changed != 0;
    return true;
}

/* {status, order_id, request_id, purchased_at_ms, cancelled_at_ms, reason,
 *  log_id, version, created_at_ms, is_new} */
static bool
s_parse_cancel(const redisReply *r, worker_store_result_t *out)
{
    int64_t is_new;
    out->order_id = s_str(r, 1);
    out->request_id = s_str(r, 2);
    out->reason = s_str(r, 5);
    out->log_id = s_str(r, 6);
    if (!out->order_id || !out->request_id || !out->reason || !out->log_id || !s_int(r, 3, &out->purchased_at_ms) ||
        !s_int(r, 4, &out->cancelled_at_ms) || !s_u64(r, 7, &out->version) || !s_int(r, 8, &out->created_at_ms) ||
        !s_int(r, 9, &is_new))
        return false;
    out->is_new = is_new != 0;
    return true;
}

/* Each entry of a page: `strs` string fields then `ints` integers, in the
 * order of the mask (bit set = integer). */
static bool
s_page_ok(const redisReply *r, size_t head, size_t each, unsigned int_mask)
{
    for (size_t at = head; at + each <= r->elements; at += each) {
        for (size_t f = 0; f < each; f++) {
            int64_t v;
            bool ok = (int_mask >> f) & 1u ? s_int(r, at + f, &v) : s_str(r, at + f) != NULL;
            if (!ok)
                return false;
        }
    }
    return true;
}

/* {status, remaining, closes_at_ms, created_at_ms, now_ms, cursor, version,
 *  (user, order, request, purchased_at, cancelled_at)*} */
static bool
s_parse_buyers(const redisReply *r, worker_store_result_t *out)
{
    out->cursor = s_str(r, 5);
    if (!out->cursor || !s_u32(r, 1, &out->remaining) || !s_int(r, 2, &out->closes_at_ms) ||
        !s_int(r, 3, &out->created_at_ms) || !s_int(r, 4, &out->now_ms) || !s_u64(r, 6, &out->version) ||
        !s_page_ok(r, BUYERS_HEAD, BUYER_FIELDS, 0x18u))
        return false;
    out->nbuyers = (r->elements - BUYERS_HEAD) / BUYER_FIELDS;
    out->page = r;
    return true;
}

/* {status, now_ms, next_token, (sale_id, total, remaining, opens, closes)*} */
static bool
s_parse_sales(const redisReply *r, worker_store_result_t *out)
{
    out->cursor = s_str(r, 2);
    if (!out->cursor || !s_int(r, 1, &out->now_ms) || !s_page_ok(r, SALES_HEAD, SALE_FIELDS, 0x1eu))
        return false;
    for (size_t at = SALES_HEAD; at < r->elements; at += SALE_FIELDS) {
        uint32_t v;
        if (!s_u32(r, at + 1, &v) || !s_u32(r, at + 2, &v))
            return false;
    }
    out->nbuyers = (r->elements - SALES_HEAD) / SALE_FIELDS;
    out->page = r;
    return true;
}

/* {status, next_token, (log_id, order, user, request, purchased_at,
 *  cancelled_at, reason)*} */
static bool
s_parse_orders(const redisReply *r, worker_store_result_t *out)
{
    out->cursor = s_str(r, 1);
    if (!out->cursor || !s_page_ok(r, ORDERS_HEAD, ORDER_FIELDS, 0x30u))
        return false;
    out->nbuyers = (r->elements - ORDERS_HEAD) / ORDER_FIELDS;
    out->page = r;
    return true;
}

static int64_t
s_int_at(const redisReply *r, size_t i)
{
    int64_t v = 0;
    s_int(r, i, &v);
    return v;
}

void
worker_store_reply_buyer_at(const worker_store_result_t *result, size_t i, worker_store_buyer_t *buyer)
{
    const redisReply *r = result->page;
    assert(r && i < result->nbuyers);
    size_t at = BUYERS_HEAD + i * BUYER_FIELDS;
    buyer->user_id = s_str(r, at);
    buyer->order_id = s_str(r, at + 1);
    buyer->request_id = s_str(r, at + 2);
    buyer->purchased_at_ms = s_int_at(r, at + 3);
    buyer->cancelled_at_ms = s_int_at(r, at + 4);
}

void
worker_store_reply_sale_at(const worker_store_result_t *result, size_t i, worker_store_sale_t *sale)
{
    const redisReply *r = result->page;
    assert(r && i < result->nbuyers);
    size_t at = SALES_HEAD + i * SALE_FIELDS;
    sale->sale_id = s_str(r, at);
    sale->total = (uint32_t) s_int_at(r, at + 1);
    sale->remaining = (uint32_t) s_int_at(r, at + 2);
    sale->opens_at_ms = s_int_at(r, at + 3);
    sale->closes_at_ms = s_int_at(r, at + 4);
}

void
worker_store_reply_order_at(const worker_store_result_t *result, size_t i, worker_store_order_t *order)
{
    const redisReply *r = result->page;
    assert(r && i < result->nbuyers);
    size_t at = ORDERS_HEAD + i * ORDER_FIELDS;
    order->log_id = s_str(r, at);
    order->order_id = s_str(r, at + 1);
    order->user_id = s_str(r, at + 2);
    order->request_id = s_str(r, at + 3);
    order->purchased_at_ms = s_int_at(r, at + 4);
    order->cancelled_at_ms = s_int_at(r, at + 5);
    order->reason = s_str(r, at + 6);
}

/* The fields that come with status; false when they are malformed. */
static bool
s_parse_fields(worker_store_op op, const redisReply *r, worker_store_result_t *out)
{
    switch (out->status) {
    case WORKER_STORE_CREATED: return s_parse_sale(r, out);
    case WORKER_STORE_FOUND:
        switch (op) {
        case WORKER_STORE_OP_BUYERS: return s_parse_buyers(r, out);
        case WORKER_STORE_OP_SALES: return s_parse_sales(r, out);
        case WORKER_STORE_OP_ORDERS: return s_parse_orders(r, out);
        case WORKER_STORE_OP_GET_SALE: return s_parse_sale(r, out);
        default: return s_parse_order(r, out);
        }
    case WORKER_STORE_PURCHASED:
    case WORKER_STORE_ALREADY_PURCHASED:
    case WORKER_STORE_ORDER_CANCELLED: return s_parse_purchase(r, out);
    case WORKER_STORE_CLOSED: return s_parse_close(r, out);
    case WORKER_STORE_CANCELLED: return s_parse_cancel(r, out);
    case WORKER_STORE_SALE_NOT_OPEN: return s_u32(r, 1, &out->remaining) && s_int(r, 2, &out->wait_ms);
    case WORKER_STORE_SALE_CLOSED:
    case WORKER_STORE_SOLD_OUT: return s_u32(r, 1, &out->remaining);
    case WORKER_STORE_DATA_LOSS: return (out->detail = s_str(r, 1)) != NULL;
    case WORKER_STORE_NO_SALE:
    case WORKER_STORE_NO_ORDER:
    case WORKER_STORE_BAD_TOKEN:
    case WORKER_STORE_ALREADY_EXISTS: return true;
    }
    return false;
}

/* Finds the status for (op, status text, element count); false when no
 * row fits: a reply the library never gives to op. */
static bool
s_status_find(worker_store_op op, const redisReply *r, worker_store_status *status)
{
    const redisReply *first = r->element[0];
    if (first->type != REDIS_REPLY_STRING && first->type != REDIS_REPLY_STATUS)
        return false;
    for (size_t i = 0; i < sizeof s_statuses / sizeof s_statuses[0]; i++) {
        size_t head = s_statuses[i].head, each = s_statuses[i].each;
        bool fits = each ? r->elements >= head && (r->elements - head) % each == 0 : r->elements == head;
        if ((s_statuses[i].ops & (1u << op)) && fits && strcmp(s_statuses[i].name, first->str) == 0) {
            *status = s_statuses[i].status;
            return true;
        }
    }
    return false;
}

void
worker_store_reply_parse(worker_store_op op, const redisReply *reply, worker_store_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->detail = out->order_id = out->request_id = out->log_id = out->cursor = out->reason = "";
    if (!reply) {
        out->err = TIX_ERR_UNAVAILABLE;
        out->detail = "connection to redis lost before the answer came";
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        s_error_reply(reply, out);
        return;
    }
    if (op == WORKER_STORE_OP_BUY_MANY && reply->type == REDIS_REPLY_ARRAY) {
        out->page = reply; /* one tix_buy answer per element: worker_store_batch.c reads them */
        out->nanswers = reply->elements;
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && s_status_find(op, reply, &out->status) &&
        s_parse_fields(op, reply, out))
        return;
    /* Leave no half-filled fields behind. */
    memset(out, 0, sizeof *out);
    out->order_id = out->request_id = out->log_id = out->cursor = out->reason = "";
    static const char *const unexpected[WORKER_STORE_OP_COUNT] = {
        [WORKER_STORE_OP_CREATE] = "unexpected reply from tix_create",
        [WORKER_STORE_OP_BUY] = "unexpected reply from tix_buy",
        [WORKER_STORE_OP_GET_SALE] = "unexpected reply from tix_get_sale",
        [WORKER_STORE_OP_GET_ORDER] = "unexpected reply from tix_get_order",
        [WORKER_STORE_OP_BUYERS] = "unexpected reply from tix_buyers",
        [WORKER_STORE_OP_CLOSE] = "unexpected reply from tix_close",
        [WORKER_STORE_OP_CANCEL] = "unexpected reply from tix_cancel",
        [WORKER_STORE_OP_SALES] = "unexpected reply from tix_list_sales",
        [WORKER_STORE_OP_ORDERS] = "unexpected reply from tix_list_orders",
        [WORKER_STORE_OP_BUY_MANY] = "unexpected reply from tix_buy_many",
    };
    out->err = TIX_ERR_REDIS;
    out->detail = op < WORKER_STORE_OP_COUNT ? unexpected[op] : "unexpected reply";
}
