/*
 * persister_order.c - orders and the one document layout.
 */
#include "persister_order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tix_codec.h"
#include "tix_util.h"

void
persister_order_init(persister_order_t *o, const char *order_id, const char *sale_id, const char *user_id,
                     const char *request_id, int64_t purchased_at_ms, persister_log_id_t log_id)
{
    o->order_id = xstrdup(order_id);
    o->sale_id = xstrdup(sale_id);
    o->user_id = xstrdup(user_id);
    o->request_id = xstrdup(request_id);
    o->purchased_at_ms = purchased_at_ms;
    o->log_id = log_id;
    o->cancelled_at_ms = 0;
    o->cancel_reason = NULL;
    o->key = NULL;
    o->dup_id_errors = 0;
}

void
persister_order_set_cancel(persister_order_t *o, int64_t cancelled_at_ms, const char *reason)
{
    size_t size = strlen(o->order_id) + sizeof PERSISTER_ORDER_CANCEL_SUFFIX;
    free(o->cancel_reason);
    free(o->key);
    o->cancelled_at_ms = cancelled_at_ms;
    o->cancel_reason = xstrdup(reason ? reason : "");
    o->key = xmalloc(size);
    snprintf(o->key, size, "%s" PERSISTER_ORDER_CANCEL_SUFFIX, o->order_id);
}

const char *
persister_order_key(const persister_order_t *o)
{
    return o->key ? o->key : o->order_id;
}

void
persister_order_clear(persister_order_t *o)
{
    if (!o)
        return;
    free(o->order_id);
    free(o->sale_id);
    free(o->user_id);
    free(o->request_id);
    free(o->cancel_reason);
    free(o->key);
    memset(o, 0, sizeof *o);
}

bool
persister_order_from_event(const Tix__V1__OrderEvent *event, const char *topic, persister_order_t *o, char *why,
                           size_t why_size)
{
    static const char prefix[] = "order.";
    const Tix__V1__Order *order = event->order;
    persister_log_id_t log_id;
    if (!order || !order->order_id[0] || !order->user_id[0]) {
        snprintf(why, why_size, "event without an order, an order_id or a user_id");
        return false;
    }
    if (!tix_valid_sale_id(order->sale_id)) {
        snprintf(why, why_size, "event with an invalid sale_id");
        return false;
    }
    /* Both sinks write UTF-8 (BSON, Extended JSON): an order they cannot
     * render would be retried forever. The log in Redis stays the truth. */
    if (!tix_valid_user_id(order->user_id) || !tix_valid_request_id(order->request_id) ||
        !tix_utf8_valid((const uint8_t *) order->order_id, strlen(order->order_id), false)) {
        snprintf(why, why_size, "event with an order_id, user_id or request_id that is not valid UTF-8 within limits");
        return false;
    }
    /* The topic names the sale: a mismatch means a publisher bug, and the
     * order would be filed under the wrong cursor. */
    if (strncmp(topic, prefix, sizeof prefix - 1) != 0 || strcmp(topic + sizeof prefix - 1, order->sale_id) != 0) {
        snprintf(why, why_size, "event topic does not match its sale_id");
        return false;
    }
    if (!persister_log_id_parse(event->log_id, &log_id)) {
        snprintf(why, why_size, "event with an unparsable log_id");
        return false;
    }
    if (order->cancelled_at_ms < 0 ||
        !tix_utf8_valid((const uint8_t *) order->cancel_reason, strlen(order->cancel_reason), false)) {
        snprintf(why, why_size, "event with a negative cancelled_at_ms or a cancel_reason that is not valid UTF-8");
        return false;
    }
    persister_order_init(o, order->order_id, order->sale_id, order->user_id, order->request_id, order->purchased_at_ms,
                         log_id);
    if (order->cancelled_at_ms > 0)
        persister_order_set_cancel(o, order->cancelled_at_ms, order->cancel_reason);
    return true;
}

void
persister_order_append_identity(const persister_order_t *o, bson_t *doc)
{
    BSON_APPEND_UTF8(doc, "_id", o->order_id);
    BSON_APPEND_UTF8(doc, "sale_id", o->sale_id);
    BSON_APPEND_UTF8(doc, "user_id", o->user_id);
}

void
persister_order_append_details(const persister_order_t *o, int64_t persisted_at_ms, bson_t *doc)
{
    char log_id[PERSISTER_LOG_ID_MAX_BYTES];
    persister_log_id_format(o->log_id, log_id, sizeof log_id);
    BSON_APPEND_UTF8(doc, "request_id", o->request_id);
    BSON_APPEND_DATE_TIME(doc, "purchased_at", o->purchased_at_ms);
    if (!persister_order_is_cancel(o))
        BSON_APPEND_UTF8(doc, "log_id", log_id);
    BSON_APPEND_DATE_TIME(doc, "persisted_at", persisted_at_ms);
}

void
persister_order_append_cancel(const persister_order_t *o, bson_t *doc)
{
    char log_id[PERSISTER_LOG_ID_MAX_BYTES];
    if (!persister_order_is_cancel(o))
        return;
    persister_log_id_format(o->log_id, log_id, sizeof log_id);
    BSON_APPEND_DATE_TIME(doc, "cancelled_at", o->cancelled_at_ms);
    BSON_APPEND_UTF8(doc, "cancel_reason", o->cancel_reason);
    BSON_APPEND_UTF8(doc, "cancel_log_id", log_id);
}

void
persister_order_append_bson(const persister_order_t *o, int64_t persisted_at_ms, bson_t *doc)
{
    persister_order_append_identity(o, doc);
    persister_order_append_details(o, persisted_at_ms, doc);
    persister_order_append_cancel(o, doc);
}
