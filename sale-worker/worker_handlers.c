/*
 * worker_handlers.c - one handler per method (a row in s_handlers): start
 * the Redis call, and turn its result into the method's reply.
 *
 * Business outcomes (sold out, already purchased, not open) are code OK
 * with the outcome in the reply; codes are for the call (PROTOCOL.md).
 */
#include "worker_handlers.h"

#include <stdio.h>
#include <string.h>

#include "tix_util.h"
#include "worker_link.h"

/* Answers the results every method shares; false when the method's own
 * reply is needed. */
static bool
s_answer_common(worker_job_t *job, const worker_store_result_t *r, const char *sale_id)
{
    char why[TIX_MESSAGE_MAX_BYTES];
    if (r->err == TIX_ERR_UNAVAILABLE) {
        snprintf(why, sizeof why, "redis unavailable: %.150s", r->detail);
        worker_link_job_reply(job, TIX__V1__CODE__UNAVAILABLE, why, WORKER_UNAVAILABLE_RETRY_MS, NULL);
    } else if (r->err != TIX_OK) {
        snprintf(why, sizeof why, "redis: %.150s", r->detail);
        worker_link_job_reply(job, TIX__V1__CODE__INTERNAL, why, 0, NULL);
    } else if (r->status == WORKER_STORE_NO_SALE) {
        snprintf(why, sizeof why, "sale_id: no sale '%s'", sale_id);
        worker_link_job_reply(job, TIX__V1__CODE__NOT_FOUND, why, 0, NULL);
    } else if (r->status == WORKER_STORE_DATA_LOSS) {
        snprintf(why, sizeof why, "sale '%s': %.100s", sale_id, r->detail);
        worker_link_job_reply(job, TIX__V1__CODE__DATA_LOSS, why, 0, NULL);
    } else {
        return false;
    }
    return true;
}

static void
s_unexpected(worker_job_t *job)
{
    worker_link_job_reply(job, TIX__V1__CODE__INTERNAL, "unexpected answer from redis", 0, NULL);
}

/* ---- Purchase ------------------------------------------------------------- */

static const Tix__V1__PurchaseReply__Outcome s_outcomes[] = {
    [WORKER_STORE_PURCHASED] = TIX__V1__PURCHASE_REPLY__OUTCOME__PURCHASED,
    [WORKER_STORE_ALREADY_PURCHASED] = TIX__V1__PURCHASE_REPLY__OUTCOME__ALREADY_PURCHASED,
    [WORKER_STORE_SOLD_OUT] = TIX__V1__PURCHASE_REPLY__OUTCOME__SOLD_OUT,
    [WORKER_STORE_SALE_NOT_OPEN] = TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_NOT_OPEN,
    [WORKER_STORE_SALE_CLOSED] = TIX__V1__PURCHASE_REPLY__OUTCOME__SALE_CLOSED,
};

static void
s_purchase_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__V1__PurchaseRequest *req = (const Tix__V1__PurchaseRequest *) job->request;
    if (s_answer_common(job, r, req->sale_id))
        return;
    if ((size_t) r->status >= TIX_ARRAY_LEN(s_outcomes) || s_outcomes[r->status] == 0) {
        s_unexpected(job);
        return;
    }
    Tix__V1__PurchaseReply reply = TIX__V1__PURCHASE_REPLY__INIT;
    reply.outcome = s_outcomes[r->status];
    reply.order_id = (char *) r->order_id;
    reply.purchased_at_ms = r->purchased_at_ms;
    reply.remaining = r->remaining;
    uint32_t retry_after_ms = 0;
    if (r->status == WORKER_STORE_SALE_NOT_OPEN)
        retry_after_ms = r->wait_ms < 1 ? 1 : r->wait_ms > UINT32_MAX ? UINT32_MAX : (uint32_t) r->wait_ms;
    if (r->status == WORKER_STORE_PURCHASED && r->is_new) {
        Tix__V1__Order order = TIX__V1__ORDER__INIT;
        order.order_id = (char *) r->order_id;
        order.sale_id = req->sale_id;
        order.user_id = req->user_id;
        order.request_id = req->request_id;
        order.purchased_at_ms = r->purchased_at_ms;
        worker_link_publish(job->worker, &order, r->log_id);
    }
    worker_link_job_reply(job, TIX__V1__CODE__OK, NULL, retry_after_ms, &reply.base);
}

static tix_err
s_purchase(worker_job_t *job)
{
    const Tix__V1__PurchaseRequest *req = (const Tix__V1__PurchaseRequest *) job->request;
    return worker_store_buy(job->worker->store, req->sale_id, req->user_id, req->request_id, s_purchase_done, job);
}

/* ---- GetSale and CreateSale: both answer a Sale ---------------------------- */

/* The state at Redis's now; the order of the tests is PROTOCOL.md's. */
static Tix__V1__Sale__State
s_sale_state(const worker_store_result_t *r)
{
    if (r->now_ms < r->opens_at_ms)
        return TIX__V1__SALE__STATE__SCHEDULED;
    if (r->closes_at_ms != 0 && r->now_ms >= r->closes_at_ms)
        return TIX__V1__SALE__STATE__CLOSED;
    if (r->remaining == 0)
        return TIX__V1__SALE__STATE__SOLD_OUT;
    return TIX__V1__SALE__STATE__OPEN;
}

static void
s_sale_reply(worker_job_t *job, const worker_store_result_t *r, const char *sale_id)
{
    Tix__V1__Sale sale = TIX__V1__SALE__INIT;
    sale.sale_id = (char *) sale_id;
    sale.total = r->total;
    sale.remaining = r->remaining;
    sale.opens_at_ms = r->opens_at_ms;
    sale.closes_at_ms = r->closes_at_ms;
    sale.state = s_sale_state(r);
    worker_link_job_reply(job, TIX__V1__CODE__OK, NULL, 0, &sale.base);
}

static void
s_get_sale_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__V1__GetSaleRequest *req = (const Tix__V1__GetSaleRequest *) job->request;
    if (s_answer_common(job, r, req->sale_id))
        return;
    if (r->status != WORKER_STORE_FOUND) {
        s_unexpected(job);
        return;
    }
    s_sale_reply(job, r, req->sale_id);
}

static tix_err
s_get_sale(worker_job_t *job)
{
    const Tix__V1__GetSaleRequest *req = (const Tix__V1__GetSaleRequest *) job->request;
    return worker_store_get_sale(job->worker->store, req->sale_id, s_get_sale_done, job);
}

static void
s_create_sale_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__V1__CreateSaleRequest *req = (const Tix__V1__CreateSaleRequest *) job->request;
    char why[TIX_MESSAGE_MAX_BYTES];
    if (s_answer_common(job, r, req->sale_id))
        return;
    if (r->status == WORKER_STORE_ALREADY_EXISTS) {
        snprintf(why, sizeof why, "sale_id: sale '%s' already exists", req->sale_id);
        worker_link_job_reply(job, TIX__V1__CODE__ALREADY_EXISTS, why, 0, NULL);
    } else if (r->status == WORKER_STORE_CREATED) {
        s_sale_reply(job, r, req->sale_id);
    } else {
        s_unexpected(job);
    }
}

static tix_err
s_create_sale(worker_job_t *job)
{
    const Tix__V1__CreateSaleRequest *req = (const Tix__V1__CreateSaleRequest *) job->request;
    return worker_store_create(job->worker->store, req->sale_id, req->total, req->opens_at_ms, req->closes_at_ms,
                               s_create_sale_done, job);
}

/* ---- GetOrder ------------------------------------------------------------- */

static void
s_get_order_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__V1__GetOrderRequest *req = (const Tix__V1__GetOrderRequest *) job->request;
    char why[TIX_MESSAGE_MAX_BYTES];
    if (s_answer_common(job, r, req->sale_id))
        return;
    if (r->status == WORKER_STORE_NO_ORDER) {
        /* Not the user id: messages may end up in logs. */
        snprintf(why, sizeof why, "user_id: the user holds no ticket for sale '%s'", req->sale_id);
        worker_link_job_reply(job, TIX__V1__CODE__NOT_FOUND, why, 0, NULL);
        return;
    }
    if (r->status != WORKER_STORE_FOUND) {
        s_unexpected(job);
        return;
    }
    Tix__V1__Order order = TIX__V1__ORDER__INIT;
    order.order_id = (char *) r->order_id;
    order.sale_id = req->sale_id;
    order.user_id = req->user_id;
    order.request_id = (char *) r->request_id;
    order.purchased_at_ms = r->purchased_at_ms;
    worker_link_job_reply(job, TIX__V1__CODE__OK, NULL, 0, &order.base);
}

static tix_err
s_get_order(worker_job_t *job)
{
    const Tix__V1__GetOrderRequest *req = (const Tix__V1__GetOrderRequest *) job->request;
    return worker_store_get_order(job->worker->store, req->sale_id, req->user_id, s_get_order_done, job);
}

/* ---- The table ------------------------------------------------------------ */

/* Health.Check has no row: the broker answers it (PROTOCOL.md section 3). */
/* ---- SaleBuyers (internal: the broker's sold-out edge) --------------------- */

static void
s_sale_buyers_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__Worker__V1__SaleBuyersRequest *req = (const Tix__Worker__V1__SaleBuyersRequest *) job->request;
    if (s_answer_common(job, r, req->sale_id))
        return;
    if (r->status != WORKER_STORE_FOUND) {
        s_unexpected(job);
        return;
    }
    /* A page holds at most ~100 buyers: stack arrays, no allocation. */
    Tix__Worker__V1__Buyer buyers[128], *ptrs[128];
    size_t n = r->nbuyers < TIX_ARRAY_LEN(buyers) ? r->nbuyers : TIX_ARRAY_LEN(buyers);
    for (size_t i = 0; i < n; i++) {
        worker_store_buyer_t b;
        worker_store_reply_buyer_at(r, i, &b);
        tix__worker__v1__buyer__init(&buyers[i]);
        buyers[i].user_id = (char *) b.user_id;
        buyers[i].order_id = (char *) b.order_id;
        buyers[i].request_id = (char *) b.request_id;
        buyers[i].purchased_at_ms = b.purchased_at_ms;
        ptrs[i] = &buyers[i];
    }
    if (n < r->nbuyers) { /* never with COUNT 100; refuse rather than truncate */
        worker_link_job_reply(job, TIX__V1__CODE__INTERNAL, "tix_buyers: page too large", 0, NULL);
        return;
    }
    Tix__Worker__V1__BuyersPage page = TIX__WORKER__V1__BUYERS_PAGE__INIT;
    page.sale_id = req->sale_id;
    page.remaining = r->remaining;
    page.closes_at_ms = r->closes_at_ms;
    page.created_at_ms = r->created_at_ms;
    page.now_ms = r->now_ms;
    page.buyers = ptrs;
    page.n_buyers = n;
    page.cursor = (char *) r->cursor;
    worker_link_job_reply(job, TIX__V1__CODE__OK, NULL, 0, &page.base);
}

static tix_err
s_sale_buyers(worker_job_t *job)
{
    const Tix__Worker__V1__SaleBuyersRequest *req = (const Tix__Worker__V1__SaleBuyersRequest *) job->request;
    return worker_store_buyers(job->worker->store, req->sale_id, req->cursor, s_sale_buyers_done, job);
}

static const worker_handlers_fn s_handlers[TIX_METHOD_COUNT] = {
    [TIX_METHOD_PURCHASE] = s_purchase,       [TIX_METHOD_GET_SALE] = s_get_sale,
    [TIX_METHOD_GET_ORDER] = s_get_order,     [TIX_METHOD_CREATE_SALE] = s_create_sale,
    [TIX_METHOD_SALE_BUYERS] = s_sale_buyers,
};

worker_handlers_fn
worker_handlers_get(tix_method_id id)
{
    return id < TIX_METHOD_COUNT ? s_handlers[id] : NULL;
}
