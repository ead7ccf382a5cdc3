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
    [WORKER_STORE_OP_CREATE] = "tix_create",     [WORKER_STORE_OP_BUY] = "tix_buy",
    [WORKER_STORE_OP_GET_SALE] = "tix_get_sale", [WORKER_STORE_OP_GET_ORDER] = "tix_get_order",
    [WORKER_STORE_OP_BUYERS] = "tix_buyers",     [WORKER_STORE_OP_BUY_MANY] = "tix_buy_many",
};

const char *
worker_store_reply_op_name(worker_store_op op)
{
    return op < WORKER_STORE_OP_COUNT ? s_op_names[op] : "?";
}

/* Each status the library answers, the calls that may answer it and the
 * number of elements that come with it. */
#define BUYERS_PAGE 0 /* elements: BUYERS_HEAD + 4 per buyer */
#define BUYERS_HEAD 6
#define BUYER_FIELDS 4

static const struct {
    const char *name;
    worker_store_status status;
    unsigned ops;    /* bit per worker_store_op */
    size_t elements; /* including the status itself */
} s_statuses[] = {
    {"CREATED", WORKER_STORE_CREATED, 1u << WORKER_STORE_OP_CREATE, 6},
    {"ALREADY_EXISTS", WORKER_STORE_ALREADY_EXISTS, 1u << WORKER_STORE_OP_CREATE, 1},
    {"FOUND", WORKER_STORE_FOUND, 1u << WORKER_STORE_OP_GET_SALE, 6},
    {"FOUND", WORKER_STORE_FOUND, 1u << WORKER_STORE_OP_GET_ORDER, 5},
    {"FOUND", WORKER_STORE_FOUND, 1u << WORKER_STORE_OP_BUYERS, BUYERS_PAGE},
    {"NO_ORDER", WORKER_STORE_NO_ORDER, 1u << WORKER_STORE_OP_GET_ORDER, 1},
    {"PURCHASED", WORKER_STORE_PURCHASED, 1u << WORKER_STORE_OP_BUY, 6},
    {"ALREADY_PURCHASED", WORKER_STORE_ALREADY_PURCHASED, 1u << WORKER_STORE_OP_BUY, 6},
    {"SALE_NOT_OPEN", WORKER_STORE_SALE_NOT_OPEN, 1u << WORKER_STORE_OP_BUY, 3},
    {"SALE_CLOSED", WORKER_STORE_SALE_CLOSED, 1u << WORKER_STORE_OP_BUY, 2},
    {"SOLD_OUT", WORKER_STORE_SOLD_OUT, 1u << WORKER_STORE_OP_BUY, 2},
    {"NO_SALE", WORKER_STORE_NO_SALE, ~0u, 1},
    {"DATA_LOSS", WORKER_STORE_DATA_LOSS, ~0u, 2},
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

/* {status, remaining, closes_at_ms, created_at_ms, now_ms, cursor,
 *  (user, order, request, at)*} */
static bool
s_parse_buyers(const redisReply *r, worker_store_result_t *out)
{
    out->cursor = s_str(r, 5);
    if (!out->cursor || !s_u32(r, 1, &out->remaining) || !s_int(r, 2, &out->closes_at_ms) ||
        !s_int(r, 3, &out->created_at_ms) || !s_int(r, 4, &out->now_ms))
        return false;
    out->nbuyers = (r->elements - BUYERS_HEAD) / BUYER_FIELDS;
    for (size_t i = 0; i < out->nbuyers; i++) {
        size_t at = BUYERS_HEAD + i * BUYER_FIELDS;
        int64_t when;
        if (!s_str(r, at) || !s_str(r, at + 1) || !s_str(r, at + 2) || !s_int(r, at + 3, &when))
            return false;
    }
    out->page = r;
    return true;
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
    s_int(r, at + 3, &buyer->purchased_at_ms);
}

/* The fields that come with status; false when they are malformed. */
static bool
s_parse_fields(worker_store_op op, const redisReply *r, worker_store_result_t *out)
{
    switch (out->status) {
    case WORKER_STORE_CREATED: return s_parse_sale(r, out);
    case WORKER_STORE_FOUND:
        if (op == WORKER_STORE_OP_BUYERS)
            return s_parse_buyers(r, out);
        return op == WORKER_STORE_OP_GET_SALE ? s_parse_sale(r, out) : s_parse_order(r, out);
    case WORKER_STORE_PURCHASED:
    case WORKER_STORE_ALREADY_PURCHASED: return s_parse_purchase(r, out);
    case WORKER_STORE_SALE_NOT_OPEN: return s_u32(r, 1, &out->remaining) && s_int(r, 2, &out->wait_ms);
    case WORKER_STORE_SALE_CLOSED:
    case WORKER_STORE_SOLD_OUT: return s_u32(r, 1, &out->remaining);
    case WORKER_STORE_DATA_LOSS: return (out->detail = s_str(r, 1)) != NULL;
    case WORKER_STORE_NO_SALE:
    case WORKER_STORE_NO_ORDER:
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
        size_t want = s_statuses[i].elements;
        bool fits = want == BUYERS_PAGE ? r->elements >= BUYERS_HEAD && (r->elements - BUYERS_HEAD) % BUYER_FIELDS == 0
                                        : want == r->elements;
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
    out->detail = out->order_id = out->request_id = out->log_id = out->cursor = "";
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
    out->order_id = out->request_id = out->log_id = out->cursor = "";
    static const char *const unexpected[WORKER_STORE_OP_COUNT] = {
        [WORKER_STORE_OP_CREATE] = "unexpected reply from tix_create",
        [WORKER_STORE_OP_BUY] = "unexpected reply from tix_buy",
        [WORKER_STORE_OP_GET_SALE] = "unexpected reply from tix_get_sale",
        [WORKER_STORE_OP_GET_ORDER] = "unexpected reply from tix_get_order",
        [WORKER_STORE_OP_BUYERS] = "unexpected reply from tix_buyers",
        [WORKER_STORE_OP_BUY_MANY] = "unexpected reply from tix_buy_many",
    };
    out->err = TIX_ERR_REDIS;
    out->detail = op < WORKER_STORE_OP_COUNT ? unexpected[op] : "unexpected reply";
}
