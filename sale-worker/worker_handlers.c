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

#include "tix_codec.h"
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
    [WORKER_STORE_ORDER_CANCELLED] = TIX__V1__PURCHASE_REPLY__OUTCOME__ORDER_CANCELLED,
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
s_sale_fill(Tix__V1__Sale *sale, const worker_store_result_t *r, const char *sale_id)
{
    sale->sale_id = (char *) sale_id;
    sale->total = r->total;
    sale->remaining = r->remaining;
    sale->opens_at_ms = r->opens_at_ms;
    sale->closes_at_ms = r->closes_at_ms;
    sale->state = s_sale_state(r);
}

static void
s_sale_reply(worker_job_t *job, const worker_store_result_t *r, const char *sale_id)
{
    Tix__V1__Sale sale = TIX__V1__SALE__INIT;
    s_sale_fill(&sale, r, sale_id);
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

/* ---- CloseSale -------------------------------------------------------------- */

static void
s_close_sale_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__V1__CloseSaleRequest *req = (const Tix__V1__CloseSaleRequest *) job->request;
    if (s_answer_common(job, r, req->sale_id))
        return;
    if (r->status != WORKER_STORE_CLOSED) {
        s_unexpected(job);
        return;
    }
    if (!r->is_new) {
        s_sale_reply(job, r, req->sale_id); /* closed already: nothing changed */
        return;
    }
    /* Every broker told before the answer: whoever acts on it finds them
     * so. */
    Tix__V1__Sale sale = TIX__V1__SALE__INIT;
    s_sale_fill(&sale, r, req->sale_id);
    worker_link_reply_after_notice(job, req->sale_id, r->created_at_ms, r->version, &sale.base);
}

static tix_err
s_close_sale(worker_job_t *job)
{
    const Tix__V1__CloseSaleRequest *req = (const Tix__V1__CloseSaleRequest *) job->request;
    return worker_store_close(job->worker->store, req->sale_id, s_close_sale_done, job);
}

/* ---- GetOrder ------------------------------------------------------------- */

/* The order in r for the GetOrder and CancelOrder callbacks: false when
 * the job has been answered already (a common failure, no order, a status
 * other than want). what names the missing thing in NOT_FOUND's message;
 * order borrows r's strings and the request's ids. */
static bool
s_order_from(worker_job_t *job, const worker_store_result_t *r, char *sale_id, char *user_id, worker_store_status want,
             const char *what, Tix__V1__Order *order)
{
    char why[TIX_MESSAGE_MAX_BYTES];
    if (s_answer_common(job, r, sale_id))
        return false;
    if (r->status == WORKER_STORE_NO_ORDER) {
        /* Not the user id: messages may end up in logs. */
        snprintf(why, sizeof why, "user_id: the user holds no %s sale '%s'", what, sale_id);
        worker_link_job_reply(job, TIX__V1__CODE__NOT_FOUND, why, 0, NULL);
        return false;
    }
    if (r->status != want) {
        s_unexpected(job);
        return false;
    }
    order->order_id = (char *) r->order_id;
    order->sale_id = sale_id;
    order->user_id = user_id;
    order->request_id = (char *) r->request_id;
    order->purchased_at_ms = r->purchased_at_ms;
    return true;
}

static void
s_get_order_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__V1__GetOrderRequest *req = (const Tix__V1__GetOrderRequest *) job->request;
    Tix__V1__Order order = TIX__V1__ORDER__INIT;
    if (s_order_from(job, r, req->sale_id, req->user_id, WORKER_STORE_FOUND, "ticket for", &order))
        worker_link_job_reply(job, TIX__V1__CODE__OK, NULL, 0, &order.base);
}

static tix_err
s_get_order(worker_job_t *job)
{
    const Tix__V1__GetOrderRequest *req = (const Tix__V1__GetOrderRequest *) job->request;
    return worker_store_get_order(job->worker->store, req->sale_id, req->user_id, s_get_order_done, job);
}

/* ---- CancelOrder ------------------------------------------------------------ */

static void
s_cancel_order_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__V1__CancelOrderRequest *req = (const Tix__V1__CancelOrderRequest *) job->request;
    Tix__V1__Order order = TIX__V1__ORDER__INIT;
    if (!s_order_from(job, r, req->sale_id, req->user_id, WORKER_STORE_CANCELLED, "order of", &order))
        return;
    order.cancelled_at_ms = r->cancelled_at_ms;
    order.cancel_reason = (char *) r->reason;
    if (!r->is_new) {
        worker_link_job_reply(job, TIX__V1__CODE__OK, NULL, 0, &order.base); /* cancelled already */
        return;
    }
    /* The hint for the persister, and every broker told (their edges may
     * answer SOLD_OUT no longer) before the caller hears. */
    worker_link_publish(job->worker, &order, r->log_id);
    worker_link_reply_after_notice(job, req->sale_id, r->created_at_ms, r->version, &order.base);
}

static tix_err
s_cancel_order(worker_job_t *job)
{
    const Tix__V1__CancelOrderRequest *req = (const Tix__V1__CancelOrderRequest *) job->request;
    return worker_store_cancel(job->worker->store, req->sale_id, req->user_id, req->reason, s_cancel_order_done, job);
}

/* ---- ListSales and ListOrders: pages ---------------------------------------- */

/* A page's reply stays this far under the message limit: the entries that
 * do not fit are left to the next page (its token is the last one sent). */
#define PAGE_BYTES_MAX (TIX_MAX_MESSAGE_BYTES - 1024)

/* How many of the n packed sizes fit in a page (at least one). */
static size_t
s_page_fit(const size_t *sizes, size_t n)
{
    size_t used = 0, i = 0;
    for (; i < n; i++) {
        used += sizes[i] + 4; /* tag and length */
        if (used > PAGE_BYTES_MAX && i > 0)
            break;
    }
    return i;
}

static void
s_list_sales_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    if (s_answer_common(job, r, ""))
        return;
    if (r->status != WORKER_STORE_FOUND) {
        s_unexpected(job);
        return;
    }
    size_t n = r->nbuyers;
    Tix__V1__Sale *sales = xcalloc(n ? n : 1, sizeof *sales);
    Tix__V1__Sale **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
    size_t *sizes = xcalloc(n ? n : 1, sizeof *sizes);
    for (size_t i = 0; i < n; i++) {
        worker_store_sale_t item;
        worker_store_reply_sale_at(r, i, &item);
        worker_store_result_t at = *r; /* the state, judged as GetSale does */
        at.total = item.total, at.remaining = item.remaining;
        at.opens_at_ms = item.opens_at_ms, at.closes_at_ms = item.closes_at_ms;
        tix__v1__sale__init(&sales[i]);
        sales[i].sale_id = (char *) item.sale_id;
        sales[i].total = item.total;
        sales[i].remaining = item.remaining;
        sales[i].opens_at_ms = item.opens_at_ms;
        sales[i].closes_at_ms = item.closes_at_ms;
        sales[i].state = s_sale_state(&at);
        ptrs[i] = &sales[i];
        sizes[i] = protobuf_c_message_get_packed_size(&sales[i].base);
    }
    Tix__V1__ListSalesReply reply = TIX__V1__LIST_SALES_REPLY__INIT;
    reply.n_sales = s_page_fit(sizes, n);
    reply.sales = ptrs;
    reply.next_page_token = reply.n_sales < n ? sales[reply.n_sales - 1].sale_id : (char *) r->cursor;
    worker_link_job_reply(job, TIX__V1__CODE__OK, NULL, 0, &reply.base);
    free(sizes);
    free(ptrs);
    free(sales);
}

static tix_err
s_list_sales(worker_job_t *job)
{
    const Tix__V1__ListSalesRequest *req = (const Tix__V1__ListSalesRequest *) job->request;
    return worker_store_list_sales(job->worker->store, req->page_size, req->page_token, s_list_sales_done, job);
}

static void
s_list_orders_done(void *arg, const worker_store_result_t *r)
{
    worker_job_t *job = arg;
    const Tix__V1__ListOrdersRequest *req = (const Tix__V1__ListOrdersRequest *) job->request;
    if (s_answer_common(job, r, req->sale_id))
        return;
    if (r->status == WORKER_STORE_BAD_TOKEN) {
        worker_link_job_reply(job, TIX__V1__CODE__INVALID_ARGUMENT,
                              "page_token: must be a next_page_token from an earlier reply", 0, NULL);
        return;
    }
    if (r->status != WORKER_STORE_FOUND) {
        s_unexpected(job);
        return;
    }
    size_t n = r->nbuyers;
    Tix__V1__Order *orders = xcalloc(n ? n : 1, sizeof *orders);
    Tix__V1__Order **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
    const char **log_ids = xcalloc(n ? n : 1, sizeof *log_ids);
    size_t *sizes = xcalloc(n ? n : 1, sizeof *sizes);
    for (size_t i = 0; i < n; i++) {
        worker_store_order_t item;
        worker_store_reply_order_at(r, i, &item);
        tix__v1__order__init(&orders[i]);
        orders[i].order_id = (char *) item.order_id;
        orders[i].sale_id = req->sale_id;
        orders[i].user_id = (char *) item.user_id;
        orders[i].request_id = (char *) item.request_id;
        orders[i].purchased_at_ms = item.purchased_at_ms;
        orders[i].cancelled_at_ms = item.cancelled_at_ms;
        orders[i].cancel_reason = (char *) item.reason;
        log_ids[i] = item.log_id;
        ptrs[i] = &orders[i];
        sizes[i] = protobuf_c_message_get_packed_size(&orders[i].base);
    }
    Tix__V1__ListOrdersReply reply = TIX__V1__LIST_ORDERS_REPLY__INIT;
    reply.n_orders = s_page_fit(sizes, n);
    reply.orders = ptrs;
    reply.next_page_token = (char *) (reply.n_orders < n ? log_ids[reply.n_orders - 1] : r->cursor);
    worker_link_job_reply(job, TIX__V1__CODE__OK, NULL, 0, &reply.base);
    free(sizes);
    free(log_ids);
    free(ptrs);
    free(orders);
}

static tix_err
s_list_orders(worker_job_t *job)
{
    const Tix__V1__ListOrdersRequest *req = (const Tix__V1__ListOrdersRequest *) job->request;
    return worker_store_list_orders(job->worker->store, req->sale_id, req->page_size, req->page_token,
                                    s_list_orders_done, job);
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
        buyers[i].cancelled_at_ms = b.cancelled_at_ms;
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
    page.version = r->version;
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
    [TIX_METHOD_PURCHASE] = s_purchase,         [TIX_METHOD_GET_SALE] = s_get_sale,
    [TIX_METHOD_GET_ORDER] = s_get_order,       [TIX_METHOD_CREATE_SALE] = s_create_sale,
    [TIX_METHOD_SALE_BUYERS] = s_sale_buyers,   [TIX_METHOD_CLOSE_SALE] = s_close_sale,
    [TIX_METHOD_CANCEL_ORDER] = s_cancel_order, [TIX_METHOD_LIST_SALES] = s_list_sales,
    [TIX_METHOD_LIST_ORDERS] = s_list_orders,
};

worker_handlers_fn
worker_handlers_get(tix_method_id id)
{
    return id < TIX_METHOD_COUNT ? s_handlers[id] : NULL;
}
